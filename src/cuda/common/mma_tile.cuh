// common/mma_tile.cuh - warp-level tile products and the online softmax on
// mma.sync m16n8k16 register layouts, shared by the families built on
// mma.sync (mma: prefill; decode: KV-cache decoding). Moved out of
// fwd_mma.cuh unchanged.
//
// The helpers are templates on a tile shape T that provides:
//   Elem            __half or __nv_bfloat16
//   kMTiles         m16 tiles of query rows per warp
//   kSTiles         n8 tiles of scores per m16 tile (keys per step / 8)
//   kOTiles         n8 tiles of O per m16 tile (head dim rounded to 16, / 8)
//   kQKSteps        k16 steps of Q K^T (head dim rounded to 16, / 16)
//   kPVSteps        k16 steps of P V (keys per step / 16)
//   kRowBytes       the pitch of a Q/K/V row in shared memory (bytes)
// Register layouts are those of mma.m16n8k16 (PTX ISA "Matrix fragments for
// mma.m16n8k16"): a thread holds rows lane/4 and lane/4 + 8 of each m16
// tile, columns 2 * (lane % 4) + {0, 1} of each n8 tile.
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>

#include "attn/softmax.h"
#include "cuda/common/quad.cuh"
#include "cuda/ptx.cuh"

namespace fa {

constexpr float kLog2e = FA_LOG2E_F;

// ------------------------------------------------------------ warp GEMMs

// Two n8 tiles side by side: b holds the B fragments of both (an x4 ldmatrix).
template <typename Elem>
__device__ __forceinline__ void mma_16816_pair(float (&c0)[4], float (&c1)[4], const uint32_t (&a)[4],
                                               const uint32_t (&b)[4]) {
  mma_16816<Elem>(c0, a, b[0], b[1]);
  mma_16816<Elem>(c1, a, b[2], b[3]);
}

// S[m][n] = sum_d Q[m][d] K[n][d] over this warp's rows. A fragments from Q
// (ldmatrix), B fragments from K rows (ldmatrix, no transpose: K is already
// "column-major" for B = K^T). ldmatrix row addresses: A matrices
// (rows 0-7|8-15) x (k 0-7|8-15); B matrices (n 0-7, k 0-7), (n 0-7, k 8-15),
// (n 8-15, k 0-7), (n 8-15, k 8-15).
template <class T>
__device__ __forceinline__ uint32_t q_frag_offset(int lane) {
  return (lane & 15) * T::kRowBytes + (lane >> 4) * 16;
}

template <class T>
__device__ __forceinline__ uint32_t k_frag_offset(int lane) {
  return ((lane & 7) + ((lane >> 4) << 3)) * T::kRowBytes + ((lane >> 3) & 1) * 16;
}

// The A fragments of k16 step kk for every m16 tile of the warp.
template <class T>
__device__ __forceinline__ void load_q_step(uint32_t (&a)[T::kMTiles][4], uint32_t sq_warp, uint32_t a_off, int kk) {
#pragma unroll
  for (int mt = 0; mt < T::kMTiles; ++mt) ldmatrix_x4(a[mt], sq_warp + mt * 16 * T::kRowBytes + a_off + kk * 32);
}

// S += A(kk) K(kk)^T over the whole key tile.
template <class T>
__device__ __forceinline__ void qk_step(float (&s)[T::kMTiles][T::kSTiles][4], const uint32_t (&a)[T::kMTiles][4],
                                        uint32_t sk, uint32_t b_off, int kk) {
#pragma unroll
  for (int np = 0; np < T::kSTiles / 2; ++np) {
    uint32_t b[4];
    ldmatrix_x4(b, sk + np * 16 * T::kRowBytes + b_off + kk * 32);
#pragma unroll
    for (int mt = 0; mt < T::kMTiles; ++mt)
      mma_16816_pair<typename T::Elem>(s[mt][2 * np], s[mt][2 * np + 1], a[mt], b);
  }
}

// Q read from shared memory at every key tile.
template <class T>
__device__ __forceinline__ void qk_gemm(float (&s)[T::kMTiles][T::kSTiles][4], uint32_t sq_warp, uint32_t sk,
                                        int lane) {
  const uint32_t a_off = q_frag_offset<T>(lane), b_off = k_frag_offset<T>(lane);
#pragma unroll
  for (int kk = 0; kk < T::kQKSteps; ++kk) {
    uint32_t a[T::kMTiles][4];
    load_q_step<T>(a, sq_warp, a_off, kk);
    qk_step<T>(s, a, sk, b_off, kk);
  }
}

// Q_IN_REGS: the warp's Q fragments for every k16 step, loaded once.
template <class T>
__device__ __forceinline__ void load_q_fragments(uint32_t (&qf)[T::kQKSteps][T::kMTiles][4], uint32_t sq_warp,
                                                 int lane) {
  const uint32_t a_off = q_frag_offset<T>(lane);
#pragma unroll
  for (int kk = 0; kk < T::kQKSteps; ++kk) load_q_step<T>(qf[kk], sq_warp, a_off, kk);
}

template <class T>
__device__ __forceinline__ void qk_gemm_qregs(float (&s)[T::kMTiles][T::kSTiles][4],
                                              const uint32_t (&qf)[T::kQKSteps][T::kMTiles][4], uint32_t sk,
                                              int lane) {
  const uint32_t b_off = k_frag_offset<T>(lane);
#pragma unroll
  for (int kk = 0; kk < T::kQKSteps; ++kk) qk_step<T>(s, qf[kk], sk, b_off, kk);
}

// O[m][d] += sum_n P[m][n] V[n][d]. P comes from the S accumulators (the C
// layout of one k16 step is exactly the A layout), V through ldmatrix.trans.
template <class T>
__device__ __forceinline__ void pv_gemm(float (&o)[T::kMTiles][T::kOTiles][4],
                                        const float (&p)[T::kMTiles][T::kSTiles][4], uint32_t sv, int lane) {
  // Matrices (keys 0-7, d 0-7), (keys 8-15, d 0-7), (keys 0-7, d 8-15), (keys 8-15, d 8-15).
  const uint32_t v_off = ((lane & 7) + ((lane >> 3) & 1) * 8) * T::kRowBytes + (lane >> 4) * 16;
#pragma unroll
  for (int kk = 0; kk < T::kPVSteps; ++kk) {
    uint32_t a[T::kMTiles][4];
#pragma unroll
    for (int mt = 0; mt < T::kMTiles; ++mt) {
      a[mt][0] = pack2<typename T::Elem>(p[mt][2 * kk][0], p[mt][2 * kk][1]);
      a[mt][1] = pack2<typename T::Elem>(p[mt][2 * kk][2], p[mt][2 * kk][3]);
      a[mt][2] = pack2<typename T::Elem>(p[mt][2 * kk + 1][0], p[mt][2 * kk + 1][1]);
      a[mt][3] = pack2<typename T::Elem>(p[mt][2 * kk + 1][2], p[mt][2 * kk + 1][3]);
    }
#pragma unroll
    for (int dp = 0; dp < T::kOTiles / 2; ++dp) {
      uint32_t b[4];
      ldmatrix_x4_trans(b, sv + kk * 16 * T::kRowBytes + v_off + dp * 32);
#pragma unroll
      for (int mt = 0; mt < T::kMTiles; ++mt)
        mma_16816_pair<typename T::Elem>(o[mt][2 * dp], o[mt][2 * dp + 1], a[mt], b);
    }
  }
}

// ------------------------------------------------------------ score transforms

// softcap (attn/softmax.h) on every raw score of the tile.
template <class T>
__device__ __forceinline__ void apply_softcap(float (&s)[T::kMTiles][T::kSTiles][4], float cap, float inner) {
#pragma unroll
  for (int mt = 0; mt < T::kMTiles; ++mt)
#pragma unroll
    for (int nt = 0; nt < T::kSTiles; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) s[mt][nt][c] = fa_softcap(s[mt][nt][c], cap, inner);
}

// ------------------------------------------------------------ online softmax

// Fold one tile of raw scores into the running max / sum of each row and
// rescale O (the step itself: attn/softmax.h); leaves p = 2^(s * c - max)
// in s. Row max is tracked in the scaled base-2 domain; for a negative
// scale the largest scaled score comes from the smallest raw one, hence the
// min branch (uniform per block). Linear max/sum chains, not trees: ncu
// showed 45% of cycles stalled on fixed-latency dependencies at d64, but a
// tree measured -4..+3%, i.e. noise (fwd_mma.md).
// HALVES: the row halves of each m tile to compute (rows 0-7, 8-15); with 1
// the second half's weights are 0 and its max, sum and O stay as they were:
// for a caller whose second half holds no real row (the decode kernel's
// 16 packed rows when one query of a GQA group of at most 8 fills them).
template <class T, int HALVES = 2>
__device__ __forceinline__ void online_softmax(float (&s)[T::kMTiles][T::kSTiles][4],
                                               float (&o)[T::kMTiles][T::kOTiles][4],
                                               float (&row_max)[T::kMTiles][2], float (&row_sum)[T::kMTiles][2],
                                               float c, bool positive_scale) {
#pragma unroll
  for (int mt = 0; mt < T::kMTiles; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      if (half >= HALVES) {
#pragma unroll
        for (int nt = 0; nt < T::kSTiles; ++nt) s[mt][nt][2 * half] = s[mt][nt][2 * half + 1] = 0.f;
        continue;
      }
      float ext = s[mt][0][2 * half];
      if (positive_scale) {
#pragma unroll
        for (int nt = 0; nt < T::kSTiles; ++nt)
          ext = fmaxf(ext, fmaxf(s[mt][nt][2 * half], s[mt][nt][2 * half + 1]));
        ext = quad_max(ext);
      } else {
#pragma unroll
        for (int nt = 0; nt < T::kSTiles; ++nt)
          ext = fminf(ext, fminf(s[mt][nt][2 * half], s[mt][nt][2 * half + 1]));
        ext = quad_min(ext);
      }
      const fa_softmax_step st = fa_softmax_rescale(row_max[mt][half], __fmul_rn(ext, c));
      row_max[mt][half] = st.max;
      row_sum[mt][half] *= st.alpha;
#pragma unroll
      for (int dt = 0; dt < T::kOTiles; ++dt) {
        o[mt][dt][2 * half] *= st.alpha;
        o[mt][dt][2 * half + 1] *= st.alpha;
      }
      const float neg_sub = -st.sub;
#pragma unroll
      for (int nt = 0; nt < T::kSTiles; ++nt)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const float p = fa_softmax_weight(s[mt][nt][2 * half + j], c, neg_sub);
          s[mt][nt][2 * half + j] = p;
          row_sum[mt][half] += p;
        }
    }
}

}  // namespace fa
