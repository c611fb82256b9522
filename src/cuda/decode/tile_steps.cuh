// decode/tile_steps.cuh - a warp's steps on one key tile beyond
// common/mma_tile.cuh's: the mask of a boundary tile over packed rows, and
// the keys-as-M step (S^T = K Q^T, O^T += V^T P^T) with its mask and
// online softmax. A part of fwd_decode.cuh.
#pragma once

#include <math.h>
#include <stdint.h>

#include "attn/mask.h"
#include "attn/softmax.h"
#include "cuda/decode/loads.cuh"
#include "cuda/decode/traits.cuh"
#include "cuda/ptx.cuh"
#include "fa_args.h"

namespace fa {

// ------------------------------------------------------------ mask

// Element-wise mask of a boundary tile: packed row r is query row r / G,
// at key position r / G + diag (attn/mask.h's rule).
template <class T>
__device__ __forceinline__ void mask_packed(float (&s)[1][T::kSTiles][4], const fa_fwd_args &a, int n0, int r0,
                                            int64_t diag, int len_k, int lane, float hidden) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int qi = (r0 + (lane >> 2) + half * 8) / a.heads_per_kv;
    const fa_key_range vis = fa_visible_keys(qi + diag, a.window_left, a.window_right, len_k);
#pragma unroll
    for (int nt = 0; nt < T::kSTiles; ++nt)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int n = n0 + nt * 8 + (lane & 3) * 2 + j;
        if (n < vis.lo || n >= vis.hi) s[0][nt][2 * half + j] = hidden;
      }
  }
}

// ------------------------------------------------------------ keys as M
// Where a block's real rows fit in 8 (one query of a GQA group of at most
// 8: the decode rows) and K/V come as swizzled tiles, a step runs its
// MMAs with the keys as M: S^T = K Q^T (A = the K tile, B = Q^T, rows
// 0-7) and O^T += V^T P^T (A = V^T by ldmatrix.trans of the V tile, B =
// P^T: S^T's C fragments transposed 8x8 by movmatrix). An m16n8k16 then
// covers 16 keys x 8 rows where the other way it covers 16 rows (at most
// 8 real) x 8 keys: half the HMMAs a step, O in half the registers.
// Lane l (g = l/4, t = l%4) holds S^T for keys g, g + 8 of the step and
// rows 2t, 2t + 1 (st[2h + j]: key g + 8h, row 2t + j), and O^T for
// head-dim elements 16m + g + 8h of the same rows (ot[m][2h + j]).
constexpr int kKeysAsMRows = 8;

// Q^T's B fragments of every k16 step (rows 0-7 of the block's Q): a
// ldmatrix x4 covers two steps (matrices: d chunks 4p .. 4p + 3).
template <class T>
__device__ __forceinline__ void load_q_b_fragments(uint32_t (&qb)[T::kQKSteps][2], uint32_t sq, int lane) {
#pragma unroll
  for (int p = 0; p < T::kQKSteps / 2; ++p) {
    uint32_t r[4];
    ldmatrix_x4(r, sq + (lane & 7) * T::kRowBytes + (4 * p + (lane >> 3)) * 16);
    qb[2 * p][0] = r[0], qb[2 * p][1] = r[1], qb[2 * p + 1][0] = r[2], qb[2 * p + 1][1] = r[3];
  }
}

// S^T = K Q^T over a swizzled K tile, in two accumulator chains (even and
// odd k16 steps) summed at the end.
template <class T>
__device__ __forceinline__ void qk_keys_as_m(float (&st)[4], const uint32_t (&qb)[T::kQKSteps][2], uint32_t sk,
                                             int lane) {
  static_assert(T::kQKSteps % 2 == 0, "k16 steps in pairs");
  const int row = lane & 15, half = lane >> 4;  // matrices: keys 0-7 | 8-15, then the chunk's second half
  float odd[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
  for (int kk = 0; kk < T::kQKSteps; ++kk) {
    uint32_t a[4];
    ldmatrix_x4(a, sk + swizzled_offset<T>(row, kk * 2 + half));
    mma_16816<typename T::Elem>(kk % 2 == 0 ? st : odd, a, qb[kk][0], qb[kk][1]);
  }
#pragma unroll
  for (int e = 0; e < 4; ++e) st[e] += odd[e];
}

// O^T += V^T P^T over a swizzled V tile; p holds S^T's weights.
template <class T>
__device__ __forceinline__ void pv_keys_as_m(float (&ot)[T::kOTiles / 2][4], const float (&p)[4], uint32_t sv,
                                             int lane) {
  using Elem = typename T::Elem;
  const uint32_t b0 = movmatrix_trans(pack2<Elem>(p[0], p[1]));  // P^T keys 0-7
  const uint32_t b1 = movmatrix_trans(pack2<Elem>(p[2], p[3]));  // keys 8-15
  // Matrices: (keys 0-7, d 0-7), (keys 0-7, d 8-15), (keys 8-15, d 0-7), (keys 8-15, d 8-15) of each d16 tile.
  const int row = (lane & 7) + (lane >> 4) * 8, half = (lane >> 3) & 1;
#pragma unroll
  for (int m = 0; m < T::kOTiles / 2; ++m) {
    uint32_t a[4];
    ldmatrix_x4_trans(a, sv + swizzled_offset<T>(row, 2 * m + half));
    mma_16816<Elem>(ot[m], a, b0, b1);
  }
}

// mask_packed for S^T: row 2t + j is query row (r0 + 2t + j) / G.
template <class T>
__device__ __forceinline__ void mask_keys_as_m(float (&st)[4], const fa_fwd_args &a, int n0, int r0, int64_t diag,
                                               int len_k, int lane, float hidden) {
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const int qi = (r0 + 2 * (lane & 3) + j) / a.heads_per_kv;
    const fa_key_range vis = fa_visible_keys(qi + diag, a.window_left, a.window_right, len_k);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int n = n0 + (lane >> 2) + 8 * h;
      if (n < vis.lo || n >= vis.hi) st[2 * h + j] = hidden;
    }
  }
}

// The online softmax (common/mma_tile.cuh's step) on S^T: a row's scores
// lie down a column, across the 8 lanes of equal t (xor 4, 8, 16).
// row_sum stays this lane's partial sum over its keys until the merge.
template <class T>
__device__ __forceinline__ void softmax_keys_as_m(float (&st)[4], float (&ot)[T::kOTiles / 2][4], float (&row_max)[2],
                                                  float (&row_sum)[2], float c, bool positive_scale) {
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    float ext = positive_scale ? fmaxf(st[j], st[2 + j]) : fminf(st[j], st[2 + j]);
#pragma unroll
    for (int x = 4; x < 32; x <<= 1) {
      const float other = __shfl_xor_sync(0xffffffffu, ext, x);
      ext = positive_scale ? fmaxf(ext, other) : fminf(ext, other);
    }
    const fa_softmax_step step = fa_softmax_rescale(row_max[j], __fmul_rn(ext, c));
    row_max[j] = step.max;
    row_sum[j] *= step.alpha;
#pragma unroll
    for (int m = 0; m < T::kOTiles / 2; ++m) ot[m][j] *= step.alpha, ot[m][2 + j] *= step.alpha;
    const float neg_sub = -step.sub;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float p = fa_softmax_weight(st[2 * h + j], c, neg_sub);
      st[2 * h + j] = p;
      row_sum[j] += p;
    }
  }
}

}  // namespace fa
