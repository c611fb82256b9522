// fwd_decode.cuh - forward attention over a KV cache for decoding (family
// decode): few query rows per sequence, many keys, contiguous or paged K/V
// of any page size, GQA packing, split-KV. mma.sync m16n8k16, sm_80 and
// later. Design note: fwd_decode.md beside this file.
//
// One thread block computes, for one (sequence, KV head, split, row tile),
// the 16 "packed" query rows (query row i, group member g) -> row i * G + g,
// G = num_heads_q / num_heads_k: the query heads that share the KV head, so
// each K/V byte is read once for all of them. Its 4 warps stream the
// split's key tiles (16 keys each) in turn, each through its own cp.async
// ring of STAGES tiles (no block barrier in the main loop), and each keeps
// its own online-softmax state and O accumulator:
//   load Q tile (16 packed rows), Q fragments -> registers (every warp)
//   per warp, for its tiles t = w, w + 4, ...:
//     issue K/V(t + STAGES - 1) (per-row page lookup, or one per tile when
//       page_size is a multiple of 16; sm_90: TMA boxes from lane 0 where
//       head_dim % 64 == 0, their page entries read 32 issues ahead, one per
//       lane; else one bulk copy per row; both complete on the slot's
//       mbarrier; sm_80: cp.async);
//     wait K/V(t)
//     S = Q K^T (16 x 16), softcap, mask (boundary tiles only), online
//       softmax, O += P V                        (cuda/common/mma_tile.cuh)
//   merge the 4 warps' (max, sum, O) through shared memory
//   one split: sinks, normalize, write O and LSE (attn/softmax.h's policy)
//   several: write the normalized partial O and its LSE (fp32) to the
//     workspace, by (sequence, query row) (fwd_decode_plan.h); combine.cu
//     merges them (sinks join there, once), on sm_90 launched as this
//     grid's programmatic dependent.
#pragma once

#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "attn/mask.h"
#include "attn/sequence.h"
#include "attn/softmax.h"
#include "cuda/combine.h"
#include "cuda/common/launch.cuh"
#include "cuda/common/mma_tile.cuh"
#include "cuda/common/tensor_map.cuh"
#include "cuda/decode_trace.cuh"
#include "cuda/fwd_decode_plan.h"
#include "cuda/ptx.cuh"
#include "fa_args.h"

namespace fa {

template <int HEAD_DIM, int STAGES, typename ElemT>
struct DecodeTraits {
  using Elem = ElemT;
  static constexpr int kHeadDim = HEAD_DIM;
  static constexpr int kHeadDimPadded = (HEAD_DIM + 15) / 16 * 16;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kRows = FA_DECODE_ROWS;       // packed query rows per block: one m16 tile
  static constexpr int kStepKeys = FA_DECODE_STEP;   // keys per warp step
  static constexpr int kStages = STAGES;
  // The mma_tile.cuh tile shape.
  static constexpr int kMTiles = 1;
  static constexpr int kSTiles = kStepKeys / 8;
  static constexpr int kOTiles = kHeadDimPadded / 8;
  static constexpr int kQKSteps = kHeadDimPadded / 16;
  static constexpr int kPVSteps = kStepKeys / 16;
  // Rows padded by 16 bytes, as in fwd_mma.cuh: conflict-free ldmatrix.
  static constexpr int kRowElems = kHeadDimPadded + 8;
  static constexpr int kRowBytes = kRowElems * 2;
  static constexpr int kChunksPerRow = kHeadDimPadded / 8;  // 16-byte chunks
  static constexpr int kQBytes = kRows * kRowBytes;
  static constexpr int kStepBytes = kStepKeys * kRowBytes;    // one K or V tile
  static constexpr int kWarpRingBytes = kStages * 2 * kStepBytes;
  static constexpr int kRingBytes = kWarps * kWarpRingBytes;
  // After the main loop each warp's O (fp32), max and sum, in the ring or
  // after it. O's rows are padded by 4 floats: the warp's float2 stores (8
  // rows x 4 lanes) then hit every bank twice, the fewest passes, where
  // unpadded rows put 8 rows on the same 8 banks (4x the passes).
  static constexpr int kMergeRowFloats = kHeadDimPadded + 4;
  static constexpr int kMergeBytes = kWarps * kRows * (kMergeRowFloats + 2) * 4;
  static constexpr int kRingOrMergeBytes = kRingBytes > kMergeBytes ? kRingBytes : kMergeBytes;
  // sm_90: one mbarrier per warp and ring slot (the bulk copies complete on it).
  static constexpr int kBarBytes = kWarps * kStages * 8;
  // What this ring needs; a kernel given more (NoneTraits: the plan
  // kernels' deeper ring) puts the merge after it (kMergeApart below).
  static constexpr int kLayoutBytes = kQBytes + kRingOrMergeBytes + kBarBytes;
  static constexpr int kSmemBytes = kLayoutBytes;
  // sm_90 tile copies (head dims that are multiples of 64; "Tile copies" in
  // fwd_decode.md): a K or V tile is kPanels panels of 16 rows x 64 columns
  // in TMA's 128-byte swizzle, unpadded, 1024-byte aligned. That ring lies
  // inside the padded ring's space (alignment slack included), so the
  // shared memory is the same for both paths.
  static constexpr bool kTileCopies = HEAD_DIM % 64 == 0;
  static constexpr int kPanels = HEAD_DIM / 64;
  static constexpr int kPanelBytes = kStepKeys * 128;
  static constexpr int kTileBytes = kPanels * kPanelBytes;  // one K or V tile
  static constexpr int kTileWarpRingBytes = kStages * 2 * kTileBytes;
  static_assert(!kTileCopies || 1024 + kWarps * kTileWarpRingBytes <= kRingOrMergeBytes,
                "the tile ring and its alignment fit in the padded ring's space");
  static_assert(kStepKeys == 16, "one m16n8k16 P V step per key tile; two n8 score tiles");

  static_assert(kChunksPerRow <= 32, "a warp loads at least one row per pass");
  static_assert(STAGES >= 2, "at least double buffering");
  static_assert(sizeof(Elem) == 2, "16-bit storage");
};

__host__ __device__ constexpr fa_dtype dtype_of(const __half *) { return FA_DTYPE_FP16; }
__host__ __device__ constexpr fa_dtype dtype_of(const __nv_bfloat16 *) { return FA_DTYPE_BF16; }

// ------------------------------------------------------------ loads

// K and V tile t (keys n0 .. n0 + 15) into this warp's ring slot. Rows past
// the sequence's keys are zero-filled, never read: unused cache rows and
// the tail of the last page may hold anything (NaN included). Each lane
// owns one 16-byte chunk of a row; a pass covers 32 / chunks rows.
template <class T>
__device__ __forceinline__ void load_kv_step(uint32_t sk, uint32_t sv, const fa_fwd_args &a, int b, const fa_seq &seq,
                                             int kv_head, int n0, int lane) {
  using Elem = typename T::Elem;
  constexpr int kRowsPerPass = 32 / T::kChunksPerRow;
  constexpr int kPasses = (T::kStepKeys + kRowsPerPass - 1) / kRowsPerPass;
  const int prow = lane / T::kChunksPerRow;
  const int col = (lane % T::kChunksPerRow) * 8;
  if (prow >= kRowsPerPass) return;
  const Elem *k = static_cast<const Elem *>(a.k) + kv_head * a.k_head_stride + col;
  const Elem *v = static_cast<const Elem *>(a.v) + kv_head * a.v_head_stride + col;
  // One page per tile when pages are whole tiles (tiles start at multiples
  // of 16): a single table read per step instead of one per row.
  const bool tile_in_one_page = a.block_table == nullptr || a.page_size % T::kStepKeys == 0;
  fa_kv_coords base = {0, 0};
  if (tile_in_one_page && n0 < seq.len_k) base = fa_kv_row_coords(&a, b, &seq, n0);
#pragma unroll
  for (int p = 0; p < kPasses; ++p) {
    const int r = p * kRowsPerPass + prow;
    if (T::kStepKeys % kRowsPerPass != 0 && r >= T::kStepKeys) break;
    const int n = n0 + r;
    const bool valid = n < seq.len_k && col < T::kHeadDim;
    fa_kv_coords c = base;
    c.row += r;
    if (!tile_in_one_page && valid) c = fa_kv_row_coords(&a, b, &seq, n);
    const uint32_t off = r * T::kRowBytes + col * 2;
    cp_async_16(sk + off, valid ? static_cast<const void *>(k + c.outer * a.k_batch_stride + c.row * a.k_row_stride) : a.k,
                valid);
    cp_async_16(sv + off, valid ? static_cast<const void *>(v + c.outer * a.v_batch_stride + c.row * a.v_row_stride) : a.v,
                valid);
  }
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
// sm_90: the same tile through the bulk-copy engine: lane 2r + {0, 1} copies
// row r of K or V (head_dim * 2 bytes, one instruction) and the copies
// complete on the slot's mbarrier, which lane 0 arms with the byte count.
// Rows past the sequence's keys, and the padding columns of head dims that
// are not multiples of 16, are zeroed with ordinary stores (never read from
// the cache); the proxy fence orders those stores before later bulk writes
// into the same slot.
template <class T>
__device__ __forceinline__ void load_kv_step_bulk(uint32_t sk, uint32_t sv, uint32_t bar, const fa_fwd_args &a, int b,
                                                  const fa_seq &seq, int kv_head, int n0, int lane) {
  using Elem = typename T::Elem;
  constexpr uint32_t kCopyBytes = T::kHeadDim * 2;
  const int valid_rows = max(0, min(T::kStepKeys, seq.len_k - n0));
  fence_proxy_async_shared();
  __syncwarp();
  if (lane == 0) mbar_arrive_expect_tx(bar, (uint32_t)valid_rows * kCopyBytes * 2);
  __syncwarp();
  const int r = lane >> 1;
  const bool is_v = (lane & 1) != 0;
  const uint32_t dst = (is_v ? sv : sk) + r * T::kRowBytes;
  if (r < valid_rows) {
    const bool tile_in_one_page = a.block_table == nullptr || a.page_size % T::kStepKeys == 0;
    fa_kv_coords c;
    if (tile_in_one_page) {
      c = fa_kv_row_coords(&a, b, &seq, n0);
      c.row += r;
    } else {
      c = fa_kv_row_coords(&a, b, &seq, n0 + r);
    }
    const Elem *src = is_v ? static_cast<const Elem *>(a.v) + kv_head * a.v_head_stride + c.outer * a.v_batch_stride +
                                 c.row * a.v_row_stride
                           : static_cast<const Elem *>(a.k) + kv_head * a.k_head_stride + c.outer * a.k_batch_stride +
                                 c.row * a.k_row_stride;
    cp_async_bulk(dst, src, kCopyBytes, bar);
    if (T::kHeadDim != T::kHeadDimPadded)
      for (int c16 = T::kHeadDim / 8; c16 < T::kChunksPerRow; ++c16) st_shared_zero_16(dst + c16 * 16);
  } else if (r < T::kStepKeys) {
    for (int c16 = 0; c16 < T::kChunksPerRow; ++c16) st_shared_zero_16(dst + c16 * 16);
  }
}

// sm_90, head dims that are multiples of 64, contiguous caches and pages
// that hold whole tiles: the same K and V tile as 2 x kPanels TMA boxes
// (16 rows x 64 columns each) issued by lane 0, instead of 32 row copies
// (the per-lane bulk copy compiles to a 32-iteration loop over lanes: its
// operands must be uniform). Rows past the sequence's keys come in too
// (the next rows of the cache, zeros past the tensor); zero_v_tail clears
// the V ones after the wait, and the mask replaces their scores. The
// caller fences where this warp wrote the slot with generic stores
// (zeroed rows, a piece's merge) before the copies overwrite it
// (stream_keys); the slot's reads (ldmatrix) are done before the
// __syncwarp. The operands are warp-uniform (the warp index comes from a
// shuffle): UTMALDG takes them from uniform registers, without the
// per-lane loop the compiler builds around operands it cannot prove
// uniform (ncu, forty-first session: that loop and the fence were 30% of
// a step's stall samples where the kernel is compute-bound).
template <class T>
__device__ __forceinline__ void load_kv_tile_tma(uint32_t sk, uint32_t sv, uint32_t bar, const fa_fwd_args &a,
                                                 const CUtensorMap *tm_k, const CUtensorMap *tm_v, int b,
                                                 const fa_seq &seq, int kv_head, int n0, int lane,
                                                 bool known, fa_kv_coords at) {
  const fa_kv_coords c = known ? at : fa_kv_row_coords(&a, b, &seq, n0);
  // The map's outer dimension: pages (paged), sequences (dense), none (varlen).
  const int outer_any = a.block_table == nullptr && a.cu_seqlens_k != nullptr ? 0 : (int)c.outer;
  // Lane 0's values, which the compiler then knows to be the warp's.
  const int row = __shfl_sync(0xffffffffu, (int)c.row, 0), outer = __shfl_sync(0xffffffffu, outer_any, 0);
  const uint32_t full = __shfl_sync(0xffffffffu, bar, 0);
  if (lane == 0) {
    mbar_arrive_expect_tx(full, 2 * T::kTileBytes);
#pragma unroll
    for (int p = 0; p < T::kPanels; ++p) {
      tma_load_4d(sk + p * T::kPanelBytes, tm_k, full, 64 * p, row, kv_head, outer);
      tma_load_4d(sv + p * T::kPanelBytes, tm_v, full, 64 * p, row, kv_head, outer);
    }
  }
}
#endif

// This warp's generic writes to its ring (zeroed rows, a merge) before
// later tile copies into it (sm_90; the tile copies exist only there).
__device__ __forceinline__ void fence_slot_writes() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  fence_proxy_async_shared();
#endif
}

// Byte offset of 16-byte chunk `chunk` of row `row` in a swizzled tile
// (128-byte swizzle: chunk ^ row % 8 within a 128-byte panel row).
template <class T>
__device__ __forceinline__ uint32_t swizzled_offset(int row, int chunk) {
  return (chunk >> 3) * T::kPanelBytes + row * 128 + (((chunk & 7) ^ (row & 7)) << 4);
}

// Zero V rows `valid`..15 of a swizzled tile (whole panel rows).
template <class T>
__device__ __forceinline__ void zero_v_tail(uint32_t sv, int valid, int lane) {
  constexpr int kChunks = T::kPanels * 8;  // 16-byte chunks per row; 0 where tiles are not copied
  if constexpr (kChunks > 0)
    for (int e = lane; e < (T::kStepKeys - valid) * kChunks; e += 32) {
      const int r = valid + e / kChunks, rest = e % kChunks;
      st_shared_zero_16(sv + (rest >> 3) * T::kPanelBytes + r * 128 + (rest & 7) * 16);
    }
}

// qk_gemm_qregs and pv_gemm (common/mma_tile.cuh) over swizzled K and V
// tiles: the same fragments, other addresses (8 rows of one chunk hit 8
// different bank groups, as the padding does for the padded tiles).
template <class T>
__device__ __forceinline__ void qk_gemm_swizzled(float (&s)[1][T::kSTiles][4],
                                                 const uint32_t (&qf)[T::kQKSteps][1][4], uint32_t sk, int lane) {
  const int row = (lane & 7) + ((lane >> 4) << 3), half = (lane >> 3) & 1;
#pragma unroll
  for (int kk = 0; kk < T::kQKSteps; ++kk) {
    uint32_t b[4];
    ldmatrix_x4(b, sk + swizzled_offset<T>(row, kk * 2 + half));
    mma_16816_pair<typename T::Elem>(s[0][0], s[0][1], qf[kk][0], b);
  }
}

template <class T>
__device__ __forceinline__ void pv_gemm_swizzled(float (&o)[1][T::kOTiles][4], const float (&p)[1][T::kSTiles][4],
                                                 uint32_t sv, int lane) {
  const int row = (lane & 7) + ((lane >> 3) & 1) * 8, half = lane >> 4;
  uint32_t a[4];
  a[0] = pack2<typename T::Elem>(p[0][0][0], p[0][0][1]);
  a[1] = pack2<typename T::Elem>(p[0][0][2], p[0][0][3]);
  a[2] = pack2<typename T::Elem>(p[0][1][0], p[0][1][1]);
  a[3] = pack2<typename T::Elem>(p[0][1][2], p[0][1][3]);
#pragma unroll
  for (int dp = 0; dp < T::kOTiles / 2; ++dp) {
    uint32_t b[4];
    ldmatrix_x4_trans(b, sv + swizzled_offset<T>(row, dp * 2 + half));
    mma_16816_pair<typename T::Elem>(o[0][2 * dp], o[0][2 * dp + 1], a, b);
  }
}

// The block's 16 packed query rows; rows past the sequence's and padding
// columns are zero.
template <class T>
__device__ __forceinline__ void load_q_rows(uint32_t sq, const fa_fwd_args &a, int b, const fa_seq &seq, int kv_head,
                                            int r0, int rows_total) {
  using Elem = typename T::Elem;
  const int g_count = a.heads_per_kv;
  for (int i = threadIdx.x; i < T::kRows * T::kChunksPerRow; i += T::kThreads) {
    const int r = i / T::kChunksPerRow, col = (i % T::kChunksPerRow) * 8;
    const int pr = r0 + r;
    const bool valid = pr < rows_total && col < T::kHeadDim;
    const int qi = pr / g_count, head = kv_head * g_count + pr % g_count;
    const Elem *src = static_cast<const Elem *>(a.q) + b * a.q_batch_stride + (seq.q_start + qi) * a.q_row_stride +
                      head * a.q_head_stride + col;
    cp_async_16(sq + r * T::kRowBytes + col * 2, valid ? static_cast<const void *>(src) : a.q, valid);
  }
}

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

// ------------------------------------------------------------ the ring

// A warp's ring of STAGES K/V slots: step i lives in slot i % STAGES.
// issue() fills a slot; wait() returns once step i has landed and is visible
// to every lane. sm_90: bulk copies (TILES: TMA boxes, swizzled tiles) on
// per-slot mbarriers (phase = use count of the slot, mod 2); sm_80:
// cp.async groups (one per step, committed even when empty so that every
// thread counts the same groups).
template <class T, bool TILES>
struct KvRing {
  uint32_t ring, bars;
  const CUtensorMap *tm_k, *tm_v;  // TILES only
  static constexpr int kKBytes = TILES ? T::kTileBytes : T::kStepBytes;
  __device__ __forceinline__ uint32_t slot(int i) const { return ring + (i % T::kStages) * 2 * kKBytes; }
  __device__ __forceinline__ uint32_t v_slot(int i) const { return slot(i) + kKBytes; }
  // known: the caller has the tile's coordinates, at (TILES; else they are found here).
  __device__ __forceinline__ void issue(int i, bool load, const fa_fwd_args &a, int b, const fa_seq &seq, int kv_head,
                                        int n0, int lane, bool known = false, fa_kv_coords at = {0, 0}) const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (load) {
      if constexpr (TILES)
        load_kv_tile_tma<T>(slot(i), v_slot(i), bars + (i % T::kStages) * 8, a, tm_k, tm_v, b, seq, kv_head, n0, lane,
                            known, at);
      else
        load_kv_step_bulk<T>(slot(i), v_slot(i), bars + (i % T::kStages) * 8, a, b, seq, kv_head, n0, lane);
    }
#else
    if (load) load_kv_step<T>(slot(i), v_slot(i), a, b, seq, kv_head, n0, lane);
    cp_async_commit();
#endif
  }
  // valid: keys of the step inside the sequence (TILES: V rows past them are zeroed).
  __device__ __forceinline__ void wait(int i, int valid, int lane) const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    mbar_wait(bars + (i % T::kStages) * 8, (uint32_t)(i / T::kStages) & 1u);
    if constexpr (TILES)
      if (valid < T::kStepKeys) {
        __syncwarp();
        zero_v_tail<T>(v_slot(i), valid, lane);
      }
#else
    cp_async_wait<T::kStages - 1>();
#endif
    __syncwarp();
  }
};

// One warp's share of the split's key tiles (step i: tile t_begin + warp +
// 4 i), after loading the block's Q (rows r0 .. rows_total - 1): the ring's
// copies and waits; q_frags() once Q has landed, step(slot_k, slot_v, n0)
// on each tile (attend_rows, attend_keys_as_m).
template <class T, bool TILES, class QFrags, class Step>
__device__ __forceinline__ void stream_keys(const KvRing<T, TILES> &kv, const fa_fwd_args &a, int b, const fa_seq &seq,
                                            int kv_head, int r0, int rows_total, int t_begin, int my_steps, int warp,
                                            int lane, uint32_t sq, const DecodeTracer &tr, QFrags &&q_frags,
                                            Step &&step) {
  // Paged tile copies: lane j holds the table entry (and row in the page)
  // of this warp's issue 32 k + j, read a batch of 32 issues ahead, so that
  // no issue waits for a table read; the issuing lane takes its entry with
  // a shuffle. next_coords is called once per issue, in order, by every lane.
  auto key_of = [&](int i) { return (t_begin + warp + i * T::kWarps) * T::kStepKeys; };
  const bool paged_tiles = TILES && a.block_table != nullptr;
  const int32_t *table_row = paged_tiles ? a.block_table + (int64_t)b * a.block_table_stride : nullptr;
  auto read_entry = [&](int i, int &page, int &row) {
    page = 0, row = 0;
    if (paged_tiles && i < my_steps) {
      const int n0 = key_of(i), col = n0 / a.page_size;
      page = table_row[col], row = n0 - col * a.page_size;
    }
  };
  int page_now, row_now, page_next, row_next;
  read_entry(lane, page_now, row_now);
  read_entry(32 + lane, page_next, row_next);
  auto next_coords = [&](int i) {
    const int page = __shfl_sync(0xffffffffu, page_now, i & 31), row = __shfl_sync(0xffffffffu, row_now, i & 31);
    if ((i & 31) == 31) {
      page_now = page_next, row_now = row_next;
      read_entry(i + 33 + lane, page_next, row_next);
    }
    return fa_kv_coords{fa_kv_page_in_pool(&a, page), row};
  };

  // Q for every warp, then each warp's first STAGES - 1 tiles. The tile
  // copies' slots may hold this warp's generic writes (a piece's merge,
  // zeroed rows), and lane 0 initialized the slots' barriers: one proxy
  // fence before the first copies (without it the copy engine may complete
  // bytes on a barrier it does not see initialized: HOPPER.md 2.8); in the
  // loop, one where the refilled slot's step zeroed its V tail.
  load_q_rows<T>(sq, a, b, seq, kv_head, r0, rows_total);
  cp_async_commit();
  if constexpr (TILES) fence_slot_writes();
#pragma unroll
  for (int i = 0; i < T::kStages - 1; ++i) {
    const fa_kv_coords at = paged_tiles ? next_coords(i) : fa_kv_coords{0, 0};
    kv.issue(i, i < my_steps, a, b, seq, kv_head, key_of(i), lane, paged_tiles, at);
  }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cp_async_wait<0>();  // the Q group is this thread's only cp.async group
#else
  cp_async_wait<T::kStages - 1>();
#endif
  __syncthreads();  // Q landed for everyone
  tr.mark(kDtQ);
  q_frags();

  unsigned wait_cycles = 0;  // the trace's (decode_trace.cuh); 0 and gone in the library
  for (int i = 0; i < my_steps; ++i) {
    // Refill the slot freed by step i - 1 with step i + STAGES - 1.
    const int ahead = i + T::kStages - 1;
    const fa_kv_coords at = paged_tiles ? next_coords(ahead) : fa_kv_coords{0, 0};
    if (TILES && i > 0 && seq.len_k - key_of(i - 1) < T::kStepKeys) fence_slot_writes();  // zero_v_tail's
    kv.issue(ahead, ahead < my_steps, a, b, seq, kv_head, key_of(ahead), lane, paged_tiles, at);
    const int n0 = key_of(i);
    const unsigned wait_start = tr.now();
    kv.wait(i, seq.len_k - n0, lane);
    if (i > 0) wait_cycles += tr.now() - wait_start;  // after the first tile's mark
    if (i == 0) tr.warp_mark(kDtFirstTile, warp, lane);
    step(kv.slot(i), kv.v_slot(i), n0);
    __syncwarp();  // every lane is done with the slot before it is refilled
  }
  cp_async_wait<0>();
  tr.warp_mark(kDtLoopEnd, warp, lane);
  tr.steps(warp, lane, my_steps);
  tr.waited(warp, lane, wait_cycles);
}

// The step with the block's 16 packed rows as M: S = Q K^T, mask, online
// softmax into o, row_max, row_sum (rows 8-15 skipped where none is real),
// O += P V.
template <class T, bool SOFTCAP, bool TILES>
__device__ __forceinline__ void attend_rows(const KvRing<T, TILES> &kv, const fa_fwd_args &a, int b, const fa_seq &seq,
                                            int kv_head, int r0, int rows_total, const fa_tile_plan &plan, int64_t diag,
                                            int t_begin, int my_steps, uint32_t sq, int warp, int lane,
                                            float (&o)[1][T::kOTiles][4], float (&row_max)[1][2],
                                            float (&row_sum)[1][2], const DecodeTracer &tr) {
  const float c = a.score_log2_scale;
  const bool positive_scale = c > 0.f;
  // Whether rows 8-15 of the block's 16 hold a real row: not for one query
  // of a GQA group of at most 8, the decode rows; their softmax is skipped
  // (their weights 0, their O never stored).
  const bool upper_rows = r0 + 8 < rows_total;
  const float hidden = positive_scale ? -INFINITY : INFINITY;
  uint32_t qf[T::kQKSteps][1][4];
  stream_keys<T, TILES>(kv, a, b, seq, kv_head, r0, rows_total, t_begin, my_steps, warp, lane, sq, tr,
                        [&] { load_q_fragments<T>(qf, sq, lane); },
                        [&](uint32_t sk, uint32_t sv, int n0) {
                          float s[1][T::kSTiles][4];
#pragma unroll
                          for (int nt = 0; nt < T::kSTiles; ++nt)
#pragma unroll
                            for (int j = 0; j < 4; ++j) s[0][nt][j] = 0.f;
                          if constexpr (TILES)
                            qk_gemm_swizzled<T>(s, qf, sk, lane);
                          else
                            qk_gemm_qregs<T>(s, qf, sk, lane);
                          if (SOFTCAP) apply_softcap<T>(s, a.softcap, a.softcap_inner_scale);
                          if (fa_tile_needs_mask(&plan, n0, T::kStepKeys))
                            mask_packed<T>(s, a, n0, r0, diag, seq.len_k, lane, hidden);
                          if (upper_rows)
                            online_softmax<T>(s, o, row_max, row_sum, c, positive_scale);
                          else
                            online_softmax<T, 1>(s, o, row_max, row_sum, c, positive_scale);
                          if constexpr (TILES)
                            pv_gemm_swizzled<T>(o, s, sv, lane);
                          else
                            pv_gemm<T>(o, s, sv, lane);
                        });
}

// The step with the keys as M (kKeysAsMRows rows at most, tile copies):
// S^T = K Q^T, mask, online softmax into ot, row_max, row_sum (rows 2t,
// 2t + 1 of lane l), O^T += V^T P^T.
template <class T, bool SOFTCAP>
__device__ __forceinline__ void attend_keys_as_m(const KvRing<T, true> &kv, const fa_fwd_args &a, int b,
                                                 const fa_seq &seq, int kv_head, int r0, int rows_total,
                                                 const fa_tile_plan &plan, int64_t diag, int t_begin, int my_steps,
                                                 uint32_t sq, int warp, int lane, float (&ot)[T::kOTiles / 2][4],
                                                 float (&row_max)[2], float (&row_sum)[2], const DecodeTracer &tr) {
  const float c = a.score_log2_scale;
  const bool positive_scale = c > 0.f;
  const float hidden = positive_scale ? -INFINITY : INFINITY;
  uint32_t qb[T::kQKSteps][2];
  stream_keys<T, true>(kv, a, b, seq, kv_head, r0, rows_total, t_begin, my_steps, warp, lane, sq, tr,
                       [&] { load_q_b_fragments<T>(qb, sq, lane); },
                       [&](uint32_t sk, uint32_t sv, int n0) {
                         float st[4] = {0.f, 0.f, 0.f, 0.f};
                         qk_keys_as_m<T>(st, qb, sk, lane);
                         if (SOFTCAP)
#pragma unroll
                           for (int e = 0; e < 4; ++e) st[e] = fa_softcap(st[e], a.softcap, a.softcap_inner_scale);
                         if (fa_tile_needs_mask(&plan, n0, T::kStepKeys))
                           mask_keys_as_m<T>(st, a, n0, r0, diag, seq.len_k, lane, hidden);
                         softmax_keys_as_m<T>(st, ot, row_max, row_sum, c, positive_scale);
                         pv_keys_as_m<T>(ot, st, sv, lane);
                       });
}

// ------------------------------------------------------------ splits by length

// The combine finds a unit's packed row by its own copy of the unit size.
static_assert(FA_COMBINE_UNIT_ROWS == FA_DECODE_ROWS, "combine.h and fwd_decode_plan.h disagree on a unit's rows");

// A block's piece of a launch: sequence b, KV head, row tile mt, and split
// `split` of the sequence's `splits`; with several, its partials go to
// workspace slot `slot0 + split` (fwd_decode_plan.h "Splits by length").
struct DecodePiece {
  int b, kv_head, mt, split, splits, slot0;
};

// Block i's piece, the r-th of sequence b's (r = i minus the pieces placed
// before b): splits innermost, then row tiles, then KV heads; its partial
// slots start at slot_base, the sequence's first. 32-bit divisions.
__device__ __forceinline__ DecodePiece piece_of_sequence(int b, int r, int32_t splits, int32_t row_tiles,
                                                         int32_t slot_base) {
  DecodePiece pc;
  pc.b = b;
  pc.splits = splits;
  pc.split = r % splits;
  r /= splits;  // the unit within the sequence: kv_head x row tiles + mt
  pc.slot0 = slot_base + r * splits;
  pc.mt = r % row_tiles;
  pc.kv_head = r / row_tiles;
  return pc;
}

// The plan's tables in the ring's shared memory (free until the ring's
// first load): per sequence its rows and keys (fa_seq), row tiles, key
// tiles and split count; per place in the order its sequence, the end of its pieces and
// its first partial slot (the sort's exchange buffer before them); then
// the warps' partial sums.
constexpr int kPlanTableBytes = FA_DECODE_PLAN_MAX_BATCH * ((int)sizeof(fa_seq) + 6 * 4) + 8 * 8;

// The sum of v over the threads before this one (tid order), and over the
// block: warp scans, then the warps' totals.
template <class T>
__device__ __forceinline__ int64_t block_exclusive_scan(int64_t v, int64_t *warp_sums, int64_t &block_total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int64_t incl = v;
#pragma unroll
  for (int d = 1; d < 32; d *= 2) {
    const int64_t up = __shfl_up_sync(0xffffffffu, incl, d);
    if (lane >= d) incl += up;
  }
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  int64_t before = 0;
  block_total = 0;
#pragma unroll
  for (int w = 0; w < T::kWarps; ++w) {
    if (w < warp) before += warp_sums[w];
    block_total += warp_sums[w];
  }
  __syncthreads();  // warp_sums reusable
  return before + incl - v;
}

// Sorts the block's keys descending: element i = j x kThreads + tid is
// thread tid's v[j], n = kRounds x kThreads elements (a power of two). A
// bitonic network (fa_decode_sort_keeps_larger), unrolled, so that each
// stage's partner is known at compile time: at a distance of kThreads or
// more in the same thread, from 32 up through shared memory (`exchange`,
// n keys), below 32 in the warp. 28 stages for 128 keys, 45 for 512.
template <class T, int kRounds>
__device__ __forceinline__ void block_sort_descending(uint64_t (&v)[kRounds], uint64_t *exchange) {
  constexpr int kLogN = kRounds == 1 ? 7 : kRounds == 2 ? 8 : 9;
  static_assert((kRounds * T::kThreads) == (1 << kLogN), "128 threads, 1, 2 or 4 keys each");
  const int tid = threadIdx.x;
#pragma unroll
  for (int lk = 1; lk <= kLogN; ++lk) {
#pragma unroll
    for (int ld = lk - 1; ld >= 0; --ld) {
      const int k = 1 << lk, d = 1 << ld;
      uint64_t other[kRounds];
      if (d >= T::kThreads) {
#pragma unroll
        for (int j = 0; j < kRounds; ++j) other[j] = v[j ^ (d / T::kThreads)];
      } else if (d >= 32) {
#pragma unroll
        for (int j = 0; j < kRounds; ++j) exchange[j * T::kThreads + tid] = v[j];
        __syncthreads();
#pragma unroll
        for (int j = 0; j < kRounds; ++j) other[j] = exchange[(j * T::kThreads + tid) ^ d];
        __syncthreads();  // read before the next stage writes
      } else {
#pragma unroll
        for (int j = 0; j < kRounds; ++j) other[j] = __shfl_xor_sync(0xffffffffu, v[j], d);
      }
#pragma unroll
      for (int j = 0; j < kRounds; ++j)
        if ((other[j] > v[j]) == (bool)fa_decode_sort_keeps_larger(j * T::kThreads + tid, d, k)) v[j] = other[j];
    }
  }
}

// The plan's tables in shared memory (kPlanTableBytes at `tables`).
struct PlanTables {
  fa_seq *seqs;                                       // by sequence
  int32_t *row_tiles, *key_tiles, *split_counts;      // by sequence
  int32_t *order, *ends, *slot_base;                  // by place: its sequence, pieces' end, first slot
  int64_t *warp_sums;
};

__device__ __forceinline__ PlanTables plan_tables(unsigned char *tables) {
  PlanTables t;
  t.seqs = reinterpret_cast<fa_seq *>(tables);
  t.row_tiles = reinterpret_cast<int32_t *>(t.seqs + FA_DECODE_PLAN_MAX_BATCH);
  t.key_tiles = t.row_tiles + FA_DECODE_PLAN_MAX_BATCH;
  t.split_counts = t.key_tiles + FA_DECODE_PLAN_MAX_BATCH;
  t.order = t.split_counts + FA_DECODE_PLAN_MAX_BATCH;
  t.ends = t.order + FA_DECODE_PLAN_MAX_BATCH;
  t.slot_base = t.ends + FA_DECODE_PLAN_MAX_BATCH;
  t.warp_sums = reinterpret_cast<int64_t *>(t.slot_base + FA_DECODE_PLAN_MAX_BATCH);
  return t;
}

// Splits by length: every thread reads up to FA_DECODE_PLAN_MAX_BATCH /
// kThreads sequences' places (sequence j x kThreads + tid: a round's loads
// in flight together, the rounds one after another, since each round's
// arithmetic uses its loads first), the block sums their work, each thread decides its
// sequences' split counts and order keys, the block sorts the keys
// (longest piece first: fa_decode_order_key), then numbers the pieces and
// partial slots in that order (one scan of both: pieces in the low 32
// bits, slots in the high). Ends with the tables published (a barrier).
// kRounds: sequences a thread plans (1, 2 or 4), the fewest that cover
// the batch: the plan's loops and sort unroll to what the launch needs.
template <class T, int kRounds>
__device__ __forceinline__ void plan_by_length(const fa_fwd_args &a, int m_tiles, const PlanTables &t) {
  // The sort's keys, over ends and slot_base (written only after it).
  uint64_t *exchange = reinterpret_cast<uint64_t *>(t.ends);
  static_assert(sizeof(fa_seq) % 8 == 0, "the exchange buffer is 8-byte aligned");
  const int batch = a.batch, heads_k = a.num_heads_k;
  int64_t work = 0;
  int32_t rt[kRounds], kt[kRounds];
#pragma unroll
  for (int j = 0; j < kRounds; ++j) {
    const int b = j * T::kThreads + (int)threadIdx.x;
    rt[j] = kt[j] = 0;
    if (b < batch) {
      const fa_seq s = fa_locate_sequence(&a, b);
      rt[j] = (int32_t)fa_decode_seq_row_tiles(&a, &s, m_tiles);
      kt[j] = rt[j] > 0 ? (int32_t)fa_decode_seq_key_tiles(&a, &s) : 0;
      t.seqs[b] = s;
      t.row_tiles[b] = rt[j];
      t.key_tiles[b] = kt[j];
      work += (int64_t)rt[j] * heads_k * kt[j];
    }
  }
  int64_t total;
  block_exclusive_scan<T>(work, t.warp_sums, total);
  uint64_t key[kRounds];
#pragma unroll
  for (int j = 0; j < kRounds; ++j) {
    const int b = j * T::kThreads + (int)threadIdx.x;
    key[j] = 0;  // pads sort last
    if (b < batch) {
      const int32_t s = fa_decode_length_splits(kt[j], total, a.split_slots, a.splits);
      t.split_counts[b] = s;
      key[j] = fa_decode_order_key(fa_decode_piece_tiles(kt[j], rt[j], s), b);
    }
  }
  block_sort_descending<T, kRounds>(key, exchange);
#pragma unroll
  for (int j = 0; j < kRounds; ++j) {
    const int at = j * T::kThreads + (int)threadIdx.x;
    if (at < batch) t.order[at] = (int32_t)~(uint32_t)key[j];
  }
  __syncthreads();  // order and split_counts published; the exchange buffer is free
  int64_t carry = 0;
#pragma unroll
  for (int j = 0; j < kRounds; ++j) {
    const int at = j * T::kThreads + (int)threadIdx.x;  // a place in the order
    int64_t both = 0;  // pieces | partial slots << 32
    if (at < batch) {
      const int b = t.order[at];
      const int64_t units = (int64_t)t.row_tiles[b] * heads_k;
      const int32_t s = t.split_counts[b];
      both = units * s + (s > 1 ? units * s << 32 : 0);
    }
    int64_t round_total;
    const int64_t before = carry + block_exclusive_scan<T>(both, t.warp_sums, round_total);
    if (at < batch) {
      t.ends[at] = (int32_t)((before + both) & 0xffffffff);
      t.slot_base[at] = (int32_t)(before >> 32);
    }
    carry += round_total;
  }
  __syncthreads();
}

// Piece i of a planned launch: a binary search over the pieces' ends.
// False past the launch's pieces (the grid is sized for the most).
__device__ __forceinline__ bool piece_at(const PlanTables &t, int batch, int i, DecodePiece &pc, fa_seq &seq) {
  int lo = 0, hi = batch;  // the first place whose pieces end after piece i
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (t.ends[mid] > i)
      hi = mid;
    else
      lo = mid + 1;
  }
  if (lo >= batch) return false;
  const int b = t.order[lo];
  pc = piece_of_sequence(b, i - (lo > 0 ? t.ends[lo - 1] : 0), t.split_counts[b], t.row_tiles[b], t.slot_base[lo]);
  seq = t.seqs[b];
  return true;
}

// The plan in each block (plan_by_length), block blockIdx.x taking piece
// blockIdx.x.
template <class T, int kRounds>
__device__ bool find_piece_by_length(const fa_fwd_args &a, int m_tiles, unsigned char *tables, DecodePiece &pc,
                                     fa_seq &seq) {
  const PlanTables t = plan_tables(tables);
  plan_by_length<T, kRounds>(a, m_tiles, t);
  // < units + slots <= INT32_MAX (decode_supports)
  const bool found = piece_at(t, a.batch, (int)blockIdx.x, pc, seq);
  __syncthreads();  // every thread has read the tables before the ring is loaded
  return found;
}

constexpr int kWarpPlanMaxBatch = FA_DECODE_WARP_PLAN_MAX_BATCH;  // the plan in a warp: a lane per sequence

// Splits by length for at most 32 sequences: each warp plans the whole
// launch on its own, lane b for sequence b (its place, split count and
// key), the sort and the scans in shuffles: no shared memory, no barrier,
// and a few hundred instructions where the block's plan runs a 128-key
// network through shared memory. Same pieces, order and slots as
// find_piece_by_length, whose 64-bit keys fit 32 bits here: piece tiles
// above 5 bits of inverted lane (test_decode runs both plans); only the
// blocks that hold them differ where the pieces are equal and leave slots
// spare (fa_decode_block_piece).
template <class T>
__device__ bool find_piece_in_warp(const fa_fwd_args &a, int m_tiles, DecodePiece &pc, fa_seq &seq) {
  constexpr unsigned kAll = 0xffffffffu;
  const int lane = threadIdx.x & 31, batch = a.batch, heads_k = a.num_heads_k;
  fa_seq mine = {0, 0, 0, 0};
  int32_t rt = 0, kt = 0;
  if (lane < batch) {
    mine = fa_locate_sequence(&a, lane);
    rt = (int32_t)fa_decode_seq_row_tiles(&a, &mine, m_tiles);
    kt = rt > 0 ? (int32_t)fa_decode_seq_key_tiles(&a, &mine) : 0;
  }
  int64_t total = (int64_t)rt * heads_k * kt;
#pragma unroll
  for (int d = 1; d < 32; d *= 2) total += __shfl_xor_sync(kAll, total, d);
  decode_plan_mark(kDpSum, (unsigned)total);  // the trace's (decode_trace.cuh); nothing in the library
  // fa_decode_order_key's order in 32 bits: piece tiles above, 31 - lane
  // below (tiles past 2^27 - 1, caches near 2^31 keys, tie).
  int32_t splits = 1;
  uint32_t key = 0;  // pads sort last
  if (lane < batch) {
    splits = fa_decode_length_splits(kt, total, a.split_slots, a.splits);
    key = (uint32_t)min(fa_decode_piece_tiles(kt, rt, splits), (1 << 27) - 1) << 5 | (31u - lane);
  }
  decode_plan_mark(kDpSplits, key);
  // The network up to the first run that holds the batch (it sorts
  // descending); stages past it only reorder the pads.
#pragma unroll
  for (int k = 2; k <= 32; k *= 2) {
    if (k / 2 >= batch) break;
#pragma unroll
    for (int d = k / 2; d >= 1; d /= 2) {
      const uint32_t other = __shfl_xor_sync(kAll, key, d);
      if ((other > key) == (bool)fa_decode_sort_keeps_larger(lane, d, k)) key = other;
    }
  }
  decode_plan_mark(kDpSorted, key);
  // Place `lane` of the order: its sequence, pieces and partial slots.
  const bool placed = lane < batch;
  const int b_at = placed ? 31 - (int)(key & 31) : 0;
  const int32_t rt_at = __shfl_sync(kAll, rt, b_at), s_at = __shfl_sync(kAll, splits, b_at);
  const int64_t pieces = placed ? (int64_t)rt_at * heads_k * s_at : 0;
  const int64_t both = pieces + (s_at > 1 ? pieces << 32 : 0);  // pieces | partial slots << 32
  int64_t incl = both;
#pragma unroll
  for (int d = 1; d < 32; d *= 2) {
    const int64_t up = __shfl_up_sync(kAll, incl, d);
    if (lane >= d) incl += up;
  }
  const int32_t end = (int32_t)(incl & 0xffffffff), slot_base = (int32_t)((incl - both) >> 32);
  decode_plan_mark(kDpScanned, (unsigned)end);
  // Pieces of one size (equal caches) leave the first wave's spare slots
  // spread over its second half (fa_decode_block_piece); unequal ones keep
  // piece i at block i. Lane 0 holds the largest piece after the sort.
  const uint32_t tiles_at = key >> 5, largest = __shfl_sync(kAll, tiles_at, 0);
  const bool equal = __all_sync(kAll, !placed || tiles_at == 0 || tiles_at == largest);
  const int32_t pieces_total = __shfl_sync(kAll, end, 31);
  const int32_t slots = a.split_slots;
  const int i = fa_decode_block_piece((int)blockIdx.x, pieces_total, slots, equal ? slots / 2 : slots);
  if (i < 0) return false;  // the block's own: uniform
  const unsigned past = __ballot_sync(kAll, placed && end > i);  // places whose pieces end after block i
  const int lo = past != 0 ? __ffs(past) - 1 : 0;
  const int32_t prev_end = __shfl_sync(kAll, end, lo > 0 ? lo - 1 : 0);
  const int b = __shfl_sync(kAll, b_at, lo);
  const int32_t slot0 = __shfl_sync(kAll, slot_base, lo), s_b = __shfl_sync(kAll, splits, b),
                rt_b = __shfl_sync(kAll, rt, b);
  seq.q_start = __shfl_sync(kAll, mine.q_start, b);
  seq.k_start = __shfl_sync(kAll, mine.k_start, b);
  seq.len_q = __shfl_sync(kAll, mine.len_q, b);
  seq.len_k = __shfl_sync(kAll, mine.len_k, b);
  if (past == 0) return false;
  pc = piece_of_sequence(b, i - (lo > 0 ? prev_end : 0), s_b, rt_b, slot0);
  return true;
}

// Where a launch's pieces come from: the grid (no plan: splits x units),
// or splits by length planned in each warp (at most 32 sequences) or by
// the block, one, two or four sequences a thread (up to
// FA_DECODE_PLAN_MAX_BATCH). Each plan has a kernel of its own, so that a
// kernel holds one plan's code: with the block's three unrolled forms
// inlined in the kernel without a plan, every block of a small launch
// started and ended 2-3 us later (b1/b8), and with the three in one kernel
// the first blocks of a GPC to finish stalled ~20-25 us in the merge and
// epilogue of a launch of more than one wave, where the warp's plan (small
// code) does not (fwd_decode.md "A kernel per plan"). Out of line (a call)
// the 512-sequence launch lost 7-12%.
// kTickets: the pieces planned once, before the launch, by the tickets
// kernel (fwd_decode_tickets_kernel), each block reading its own
// (fwd_decode.md "Tickets").
enum class DecodePlan { kNone, kInWarp, kInBlock1, kInBlock2, kInBlock4, kTickets };

// Sequences a thread of the block's plan (T::kThreads of them a round).
__host__ __device__ constexpr int decode_plan_rounds(DecodePlan plan) {
  return plan == DecodePlan::kInBlock1 ? 1 : plan == DecodePlan::kInBlock2 ? 2 : 4;
}

// The block's plan for `batch` sequences: the fewest rounds that cover it.
template <class T>
DecodePlan decode_block_plan_of(int batch) {
  if (batch <= T::kThreads) return DecodePlan::kInBlock1;
  return batch <= 2 * T::kThreads ? DecodePlan::kInBlock2 : DecodePlan::kInBlock4;
}

// The plan of a launch of `batch` sequences split by length (split_slots >
// 0) over `units` units. Beyond the warp's plan, a launch whose units fit
// the block slots (one wave) plans once in the tickets kernel: with the
// block's plan every block planned at its start and the launch took
// 1.3-2.6% longer (H100, 48-64 sequences of 1..32k keys, GQA 32/4).
// A launch of more than one wave keeps the block's plan, each later block
// planning at its slot's turnover under the others' streaming: there the
// tickets' serial plan cost 0.2-1.7% (fwd_decode.md "Tickets").
template <class T>
DecodePlan decode_plan_of(int64_t split_slots, int batch, int64_t units) {
  static_assert(FA_DECODE_PLAN_MAX_BATCH == 4 * T::kThreads, "up to 4 rounds of sequences");
  if (split_slots <= 0) return DecodePlan::kNone;
  if (batch <= kWarpPlanMaxBatch) return DecodePlan::kInWarp;
  if (units <= split_slots) return DecodePlan::kTickets;
  return decode_block_plan_of<T>(batch);
}

// ------------------------------------------------------------ tickets

// The pieces' workspace of a launch over every unit (fwd_decode_plan.h).
__device__ __forceinline__ fa_decode_pieces launch_pieces(const fa_fwd_args &a, int m_tiles) {
  return fa_decode_pieces_layout(&a, (int64_t)a.batch * a.num_heads_k * m_tiles);
}

// A unit's entry for the combine, {first slot, splits}, from its split 0.
__device__ __forceinline__ void write_unit_entry(const fa_fwd_args &a, int m_tiles, const DecodePiece &pc) {
  int32_t *entry = reinterpret_cast<int32_t *>(static_cast<char *>(a.workspace) + launch_pieces(a, m_tiles).units_offset) +
                   2 * (((int64_t)pc.b * a.num_heads_k + pc.kv_head) * m_tiles + pc.mt);
  entry[0] = pc.slot0, entry[1] = pc.splits;
}

__device__ __forceinline__ fa_decode_ticket *launch_tickets(const fa_fwd_args &a, int m_tiles) {
  return reinterpret_cast<fa_decode_ticket *>(static_cast<char *>(a.workspace) + launch_pieces(a, m_tiles).tickets_offset);
}

static_assert(sizeof(fa_decode_ticket) == FA_DECODE_TICKET_BYTES, "fwd_decode_plan.h's ticket size");

// Block blockIdx.x's piece from its ticket (independent loads, one latency).
__device__ __forceinline__ bool read_ticket(const fa_fwd_args &a, int m_tiles, DecodePiece &pc, fa_seq &seq) {
  const fa_decode_ticket tk = launch_tickets(a, m_tiles)[blockIdx.x];
  if (tk.splits == 0) return false;
  pc.b = tk.b, pc.kv_head = tk.kv_head, pc.mt = tk.mt, pc.split = tk.split, pc.splits = tk.splits, pc.slot0 = tk.slot0;
  seq = tk.seq;
  return true;
}

// Tickets a block of the tickets kernel writes. Every block plans the whole
// launch (the same tables) and fills its range of tickets: the plan's time
// is paid once, in parallel, however many blocks the launch has.
constexpr int kTicketsPerPlanBlock = 1024;

// The tickets kernel: plans a by-length launch once (plan_by_length) and
// writes each of its `blocks` blocks' piece, and each unit's entry for the
// combine, into the workspace; the decode kernel (DecodePlan::kTickets),
// launched after it as its programmatic dependent, reads them after
// griddep_wait. Shared memory: kPlanTableBytes.
template <class T, int kRounds>
__global__ void __launch_bounds__(T::kThreads)
    fwd_decode_tickets_kernel(const __grid_constant__ fa_fwd_args a, int m_tiles, int blocks) {
  extern __shared__ __align__(16) unsigned char smem[];
  griddep_wait();               // a programmatic dependent, like the decode kernel
  griddep_launch_dependents();  // the decode grid may start: it waits for this grid's writes
  const PlanTables t = plan_tables(smem);
  plan_by_length<T, kRounds>(a, m_tiles, t);
  fa_decode_ticket *tickets = launch_tickets(a, m_tiles);
  const int first = (int)blockIdx.x * kTicketsPerPlanBlock, last = min(blocks, first + kTicketsPerPlanBlock);
  for (int i = first + (int)threadIdx.x; i < last; i += T::kThreads) {
    DecodePiece pc = {0, 0, 0, 0, 0, 0};
    fa_decode_ticket tk = {{0, 0, 0, 0}, 0, 0, 0, 0, 0, 0};
    if (piece_at(t, a.batch, i, pc, tk.seq)) {
      tk.b = pc.b, tk.kv_head = pc.kv_head, tk.mt = pc.mt, tk.split = pc.split, tk.splits = pc.splits;
      tk.slot0 = pc.slot0;
      if (pc.split == 0) write_unit_entry(a, m_tiles, pc);
    }
    tickets[i] = tk;
  }
}

// Host side: the tickets kernel of a launch of `blocks` decode blocks.
template <class T>
cudaError_t launch_decode_tickets(const fa_fwd_args *args, int m_tiles, long long blocks, cudaStream_t stream) {
  const void *kernel;
  switch (decode_block_plan_of<T>(args->batch)) {
    case DecodePlan::kInBlock1: kernel = reinterpret_cast<const void *>(fwd_decode_tickets_kernel<T, 1>); break;
    case DecodePlan::kInBlock2: kernel = reinterpret_cast<const void *>(fwd_decode_tickets_kernel<T, 2>); break;
    default: kernel = reinterpret_cast<const void *>(fwd_decode_tickets_kernel<T, 4>); break;
  }
  int m_tiles_arg = m_tiles, blocks_arg = (int)blocks;
  void *params[] = {const_cast<fa_fwd_args *>(args), &m_tiles_arg, &blocks_arg};
  const unsigned grid = (unsigned)((blocks + kTicketsPerPlanBlock - 1) / kTicketsPerPlanBlock);
  static_assert(kPlanTableBytes <= 48 * 1024, "the tickets kernel's tables need no opt-in");
  return launch_kernel(kernel, dim3(grid), dim3(T::kThreads), kPlanTableBytes, stream, params,
                       T::kArch >= 90 && args->programmatic != 0);
}

// ------------------------------------------------------------ the kernel

// A warp's O (unscaled), max and sum into the merge arrays ([warp][row]):
// the rows layout (rows lane / 4 and + 8; row_sum partial over the quad).
template <class T>
__device__ __forceinline__ void merge_rows(float *merge_o, float *merge_max, float *merge_sum, int warp, int lane,
                                           const float (&o)[1][T::kOTiles][4], const float (&row_max)[1][2],
                                           const float (&row_sum)[1][2]) {
  const float sum_a = quad_sum(row_sum[0][0]), sum_b = quad_sum(row_sum[0][1]);
  const int ra = lane >> 2, rb = ra + 8;
  if ((lane & 3) == 0) {
    merge_max[warp * T::kRows + ra] = row_max[0][0], merge_sum[warp * T::kRows + ra] = sum_a;
    merge_max[warp * T::kRows + rb] = row_max[0][1], merge_sum[warp * T::kRows + rb] = sum_b;
  }
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float *dst = merge_o + (warp * T::kRows + ra + half * 8) * T::kMergeRowFloats + (lane & 3) * 2;
#pragma unroll
    for (int dt = 0; dt < T::kOTiles; ++dt)
      *reinterpret_cast<float2 *>(dst + dt * 8) = make_float2(o[0][dt][2 * half], o[0][dt][2 * half + 1]);
  }
}

// The same from the keys-as-M layout (rows 2t, 2t + 1; row_sum partial over
// the 8 lanes of equal t). Rows 8-15 stay unwritten: the epilogue stops at
// the block's rows, at most kKeysAsMRows. For a store, the 8 g of 4 rows
// 264 floats apart (kMergeRowFloats 132 at d128) hit 32 banks.
template <class T>
__device__ __forceinline__ void merge_keys_as_m(float *merge_o, float *merge_max, float *merge_sum, int warp, int lane,
                                                const float (&ot)[T::kOTiles / 2][4], const float (&row_max)[2],
                                                const float (&row_sum)[2]) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    float sum = row_sum[j];
#pragma unroll
    for (int x = 4; x < 32; x <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, x);
    const int r = 2 * t + j;
    if (g == 0) merge_max[warp * T::kRows + r] = row_max[j], merge_sum[warp * T::kRows + r] = sum;
    float *dst = merge_o + (warp * T::kRows + r) * T::kMergeRowFloats + g;
#pragma unroll
    for (int m = 0; m < T::kOTiles / 2; ++m) dst[16 * m] = ot[m][j], dst[16 * m + 8] = ot[m][2 + j];
  }
}

// SOFTCAP: a compile-time variant, as in fwd_mma.cuh. PLAN: none, or
// splits by length (fa_fwd_args.split_slots > 0) and which plan finds the
// block's piece; only those instantiations carry a plan's code and the
// partial layout by piece. tile_copies (set by the host where
// load_kv_tile_tma applies; ignored below sm_90): K/V by TMA boxes through
// tm_k and tm_v. KEYS_AS_M: the host's promise (launch_fwd_decode) that
// tile copies apply and every block's rows fit the keys-as-M step: the
// kernel then holds that loop alone ("One loop a kernel" in
// fwd_decode.md).
template <class T, bool SOFTCAP, DecodePlan PLAN, bool KEYS_AS_M = false>
__global__ void __launch_bounds__(T::kThreads)
    fwd_decode_kernel(const __grid_constant__ fa_fwd_args a, int m_tiles, const __grid_constant__ CUtensorMap tm_k,
                      const __grid_constant__ CUtensorMap tm_v, int tile_copies) {
  using Elem = typename T::Elem;
  extern __shared__ __align__(16) unsigned char smem[];
  const DecodeTracer tr;  // empty unless FA_DECODE_TRACE_BLOCKS (decode_trace.cuh)
  // The warp index through a shuffle: the compiler then knows it (and the
  // ring addresses and keys derived from it) to be warp-uniform.
  const int lane = threadIdx.x & 31, warp = __shfl_sync(0xffffffffu, (int)(threadIdx.x >> 5), 0);
  const uint32_t sq = smem_u32(smem);
  const uint32_t bars = sq + T::kQBytes + T::kRingOrMergeBytes + warp * T::kStages * 8;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (lane == 0) {
    for (int st = 0; st < T::kStages; ++st) mbar_init(bars + st * 8, 1);
    fence_mbar_init();
  }
  __syncwarp();
  const bool tiles = T::kTileCopies && tile_copies != 0;
  // Launched as a programmatic dependent (args.programmatic): nothing
  // above touched memory; from here on the kernel before has completed.
  griddep_wait();
#else
  const bool tiles = false;
#endif

  // Block -> (sequence, KV head, row tile, split); splits innermost. By
  // length, each sequence its own split count (find_piece_by_length), and
  // each unit's split 0 records where its parts are for the combine.
  DecodePiece pc;
  fa_seq seq;
  constexpr bool kByLength = PLAN != DecodePlan::kNone;
  if constexpr (PLAN == DecodePlan::kTickets) {
    if (!read_ticket(a, m_tiles, pc, seq)) {  // the tickets kernel wrote the units table too
      tr.mark(kDtExit);
      return;
    }
  } else if constexpr (kByLength) {
    static_assert(kPlanTableBytes <= T::kRingOrMergeBytes, "the plan's tables fit the ring");
    bool found;
    if constexpr (PLAN == DecodePlan::kInWarp)
      found = find_piece_in_warp<T>(a, m_tiles, pc, seq);
    else
      found = find_piece_by_length<T, decode_plan_rounds(PLAN)>(a, m_tiles, smem + T::kQBytes, pc, seq);
    if (!found) {
      tr.mark(kDtExit);
      return;
    }
    if (pc.split == 0 && threadIdx.x == 0) write_unit_entry(a, m_tiles, pc);
  } else {
    int64_t idx = blockIdx.x;
    pc.splits = a.splits;
    pc.slot0 = 0;
    pc.split = (int)(idx % pc.splits);
    idx /= pc.splits;
    pc.mt = (int)(idx % m_tiles);
    idx /= m_tiles;
    pc.kv_head = (int)(idx % a.num_heads_k);
    pc.b = (int)(idx / a.num_heads_k);
    seq = fa_locate_sequence(&a, pc.b);
  }
  const int b = pc.b, kv_head = pc.kv_head, mt = pc.mt, split = pc.split, splits = pc.splits;
  tr.piece(b, kv_head, mt, split, splits);
  const int g_count = a.heads_per_kv;
  // KEYS_AS_M: one row tile (r0 = 0) of at most kKeysAsMRows rows; a
  // sequence longer than the call's max_seqlen_q computes no row past it.
  const int rows_total = KEYS_AS_M ? min(seq.len_q * g_count, kKeysAsMRows) : seq.len_q * g_count;
  const int r0 = mt * T::kRows;
  if (r0 >= rows_total || !fa_seq_selected(&a, &seq)) {
    tr.mark(kDtExit);
    return;
  }
  const int64_t diag = (int64_t)seq.len_k - seq.len_q;

  // Keys the block's rows see: their union (visited) and intersection
  // (tiles inside it need no mask); then this split's share of the tiles.
  const int qi_first = r0 / g_count, qi_last = (min(r0 + T::kRows, rows_total) - 1) / g_count;
  const fa_key_range first = fa_visible_keys(qi_first + diag, a.window_left, a.window_right, seq.len_k);
  const fa_key_range last = fa_visible_keys(qi_last + diag, a.window_left, a.window_right, seq.len_k);
  const fa_tile_plan plan = {first.lo / T::kStepKeys,
                             last.hi > first.lo ? (last.hi + T::kStepKeys - 1) / T::kStepKeys : first.lo / T::kStepKeys,
                             last.lo, first.hi};
  const int n_tiles = plan.n_block_max - plan.n_block_min;
  const int per_split = (n_tiles + splits - 1) / splits;
  const int t_begin = plan.n_block_min + min(split * per_split, n_tiles);
  const int t_end = plan.n_block_min + min((split + 1) * per_split, n_tiles);
  const int my_steps = t_end - t_begin > warp ? (t_end - t_begin - warp + T::kWarps - 1) / T::kWarps : 0;

  // ---- the main loop, then the warps' merge: each warp's O (unscaled),
  // max and sum per row through shared memory, weighed by exp2(max - block
  // max) in the epilogue. Where the shared memory holds the merge apart
  // from the ring, each warp writes at its own loop end (no barrier before
  // it: the slowest warp's write is all that follows the last loop end);
  // otherwise after every warp is done with its ring. Split launches: the
  // combine, launched as this grid's programmatic dependent, may start once
  // every block is past its main loop (it waits for this grid's writes
  // before reading them).
  constexpr bool kMergeApart = T::kLayoutBytes + T::kMergeBytes <= T::kSmemBytes;
  float *merge_o = reinterpret_cast<float *>(smem + (kMergeApart ? T::kLayoutBytes : T::kQBytes));  // [warp][row][kMergeRowFloats]
  float *merge_max = merge_o + T::kWarps * T::kRows * T::kMergeRowFloats;  // [warp][row]
  float *merge_sum = merge_max + T::kWarps * T::kRows;
  bool merged = false;
  static_assert(!KEYS_AS_M || T::kTileCopies, "keys as M reads tile copies");
  if constexpr (T::kTileCopies) {
    if (KEYS_AS_M || (tiles && rows_total - r0 <= kKeysAsMRows)) {  // block-uniform
      const uint32_t ring = ((sq + T::kQBytes + 1023) & ~1023u) + warp * T::kTileWarpRingBytes;
      const KvRing<T, true> kv = {ring, bars, &tm_k, &tm_v};
      float ot[T::kOTiles / 2][4];
#pragma unroll
      for (int m = 0; m < T::kOTiles / 2; ++m)
#pragma unroll
        for (int e = 0; e < 4; ++e) ot[m][e] = 0.f;
      float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
      attend_keys_as_m<T, SOFTCAP>(kv, a, b, seq, kv_head, r0, rows_total, plan, diag, t_begin, my_steps, sq, warp, lane,
                                   ot, row_max, row_sum, tr);
      if (a.splits > 1) griddep_launch_dependents();
      if constexpr (!kMergeApart) __syncthreads();  // every warp is done with its ring
      merge_keys_as_m<T>(merge_o, merge_max, merge_sum, warp, lane, ot, row_max, row_sum);
      merged = true;
    }
  }
  if (!KEYS_AS_M && !merged) {
    float o[1][T::kOTiles][4];
    float row_max[1][2] = {{-INFINITY, -INFINITY}}, row_sum[1][2] = {{0.f, 0.f}};
#pragma unroll
    for (int dt = 0; dt < T::kOTiles; ++dt)
#pragma unroll
      for (int j = 0; j < 4; ++j) o[0][dt][j] = 0.f;
    if (T::kTileCopies && tiles) {
      const uint32_t ring = ((sq + T::kQBytes + 1023) & ~1023u) + warp * T::kTileWarpRingBytes;
      const KvRing<T, true> kv = {ring, bars, &tm_k, &tm_v};
      attend_rows<T, SOFTCAP, true>(kv, a, b, seq, kv_head, r0, rows_total, plan, diag, t_begin, my_steps, sq, warp, lane,
                                    o, row_max, row_sum, tr);
    } else {
      const KvRing<T, false> kv = {sq + T::kQBytes + warp * T::kWarpRingBytes, bars, nullptr, nullptr};
      attend_rows<T, SOFTCAP, false>(kv, a, b, seq, kv_head, r0, rows_total, plan, diag, t_begin, my_steps, sq, warp,
                                     lane, o, row_max, row_sum, tr);
    }
    if (a.splits > 1) griddep_launch_dependents();
    if constexpr (!kMergeApart) __syncthreads();  // every warp is done with its ring
    merge_rows<T>(merge_o, merge_max, merge_sum, warp, lane, o, row_max, row_sum);
  }
  __syncthreads();
  tr.mark(kDtMerged);

  // ---- epilogue: 4 consecutive head-dim elements per thread and pass.
  const float sink_scale = kLog2e;
  const fa_decode_workspace ws = fa_decode_workspace_layout(&a, a.splits);
  const fa_decode_pieces wp = kByLength ? fa_decode_pieces_layout(&a, 0) : fa_decode_pieces{};
  constexpr int kQuads = T::kRows * T::kHeadDimPadded / 4;
  for (int e = threadIdx.x; e < kQuads; e += T::kThreads) {
    const int r = e / (T::kHeadDimPadded / 4), col = (e % (T::kHeadDimPadded / 4)) * 4;
    const int pr = r0 + r;
    if (pr >= rows_total || col >= T::kHeadDim) continue;
    float m = -INFINITY;
#pragma unroll
    for (int w = 0; w < T::kWarps; ++w) m = fmaxf(m, merge_max[w * T::kRows + r]);
    const float m_use = m == -INFINITY ? 0.f : m;
    float sum = 0.f, acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
    for (int w = 0; w < T::kWarps; ++w) {
      const float f = fa_exp2(merge_max[w * T::kRows + r] - m_use);
      sum += merge_sum[w * T::kRows + r] * f;
      // Rounded products, then the adds (no FMA contraction): the same bits
      // as scaling each warp's O before the sum.
      const float4 v = *reinterpret_cast<const float4 *>(merge_o + (w * T::kRows + r) * T::kMergeRowFloats + col);
      acc[0] += __fmul_rn(v.x, f), acc[1] += __fmul_rn(v.y, f), acc[2] += __fmul_rn(v.z, f),
          acc[3] += __fmul_rn(v.w, f);
    }
    const int qi = pr / g_count, head = kv_head * g_count + pr % g_count;
    if (splits == 1) {
      const float sink = a.sinks != nullptr ? a.sinks[head] * sink_scale : -INFINITY;
      const fa_row_total total = fa_row_with_sink(m, sum, sink);
      const float scale = fa_row_out_scale(total);
      Elem *out = static_cast<Elem *>(a.out) + b * a.out_batch_stride + (seq.q_start + qi) * a.out_row_stride +
                  head * a.out_head_stride + col;
      uint2 bits;
      bits.x = pack2<Elem>(acc[0] * scale, acc[1] * scale);
      bits.y = pack2<Elem>(acc[2] * scale, acc[3] * scale);
      *reinterpret_cast<uint2 *>(out) = bits;
      if (a.lse != nullptr && col == 0)
        a.lse[b * a.lse_batch_stride + head * a.lse_head_stride + seq.q_start + qi] = fa_row_lse(total);
    } else {
      // A normalized partial and its LSE (no sink: the combine adds it once).
      const fa_row_total total = fa_row_with_sink(m, sum, -INFINITY);
      const float scale = fa_row_out_scale(total);
      char *base = static_cast<char *>(a.workspace);
      float *o_part, *lse_part;
      if constexpr (kByLength) {  // slot slot0 + split, the unit's packed row r
        if (r >= wp.piece_rows || qi >= fa_decode_seq_rows(&a)) continue;
        const int64_t at = (int64_t)(pc.slot0 + split) * wp.piece_rows + r;
        o_part = reinterpret_cast<float *>(base + wp.o_offset) + at * a.head_dim + col;
        lse_part = reinterpret_cast<float *>(base + wp.lse_offset) + at;
      } else {
        const int64_t row = fa_decode_part_row(&ws, &a, b, seq.q_start, qi);
        if (row < 0) continue;
        o_part = reinterpret_cast<float *>(base + ws.o_offset) + split * ws.o_part_stride + row * ws.o_row_stride +
                 head * ws.o_head_stride + col;
        lse_part = reinterpret_cast<float *>(base + ws.lse_offset) + split * ws.lse_part_stride +
                   head * ws.lse_head_stride + row;
      }
      *reinterpret_cast<float4 *>(o_part) = make_float4(acc[0] * scale, acc[1] * scale, acc[2] * scale, acc[3] * scale);
      if (col == 0) *lse_part = fa_row_lse(total);
    }
  }
  tr.mark(kDtExit);
}

// Host side: whether the sm_90 tile copies apply (load_kv_tile_tma), and
// their K and V maps: head dims that are multiples of 64, a contiguous
// cache or pages holding whole 16-key tiles, rows and pages addressable by
// TMA's 32-bit coordinates, and the driver's encoder (sm_90 and later). The
// maps are {head_dim, rows, heads, outer}: outer is the page (paged: rows
// = page_size), the sequence (dense: rows = kv_capacity) or one (varlen:
// rows = total_k). Returns 0 (the row copies) where any of it fails; an
// sm_80 build of the kernel ignores the flag.
// L2 fetch size of the K/V maps' misses: 128 bytes, one panel row. At 256
// (the prefill maps' setting) the SMs read 1.25x the K/V bytes from L2 and
// DRAM ran at 84% of peak against cuDNN's 94%; 128 or none: +3.5-8.4% on
// every contiguous and paged tile-copy row (fwd_decode.md, 2026-11-30).
constexpr CUtensorMapL2promotion kDecodeL2Promotion = CU_TENSOR_MAP_L2_PROMOTION_L2_128B;

template <class T>
int encode_decode_tile_maps(const fa_fwd_args *a, CUtensorMap *tm_k, CUtensorMap *tm_v) {
  if (!T::kTileCopies || a->tensor_map_encode == nullptr) return 0;
  if (a->block_table != nullptr && a->page_size % T::kStepKeys != 0) return 0;
  int64_t rows, outer;
  kv_map_extents(a, &rows, &outer);
  if (rows <= 0 || rows > INT32_MAX || outer > INT32_MAX) return 0;
  const auto encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(a->tensor_map_encode);
  const CUtensorMapDataType type = TmaElemType<typename T::Elem>::value;
  if (encode_rows_map(tm_k, encode, type, a->k, T::kHeadDim, rows, a->num_heads_k, outer, a->k_row_stride,
                      a->k_head_stride, a->k_batch_stride, T::kStepKeys, 64, kDecodeL2Promotion) != CUDA_SUCCESS ||
      encode_rows_map(tm_v, encode, type, a->v, T::kHeadDim, rows, a->num_heads_k, outer, a->v_row_stride,
                      a->v_head_stride, a->v_batch_stride, T::kStepKeys, 64, kDecodeL2Promotion) != CUDA_SUCCESS)
    return 0;
  return 1;
}

// The plan kernels run T's ring; the kernel without a plan runs TNone's (its
// own depth in the same shared memory: gen/spec.py `stages_plan_none`).
template <class T, class TNone, bool SOFTCAP, bool KEYS_AS_M>
const void *decode_kernel_for(DecodePlan plan) {
  switch (plan) {
    case DecodePlan::kInWarp:
      return reinterpret_cast<const void *>(fwd_decode_kernel<T, SOFTCAP, DecodePlan::kInWarp, KEYS_AS_M>);
    case DecodePlan::kInBlock1:
      return reinterpret_cast<const void *>(fwd_decode_kernel<T, SOFTCAP, DecodePlan::kInBlock1, KEYS_AS_M>);
    case DecodePlan::kInBlock2:
      return reinterpret_cast<const void *>(fwd_decode_kernel<T, SOFTCAP, DecodePlan::kInBlock2, KEYS_AS_M>);
    case DecodePlan::kInBlock4:
      return reinterpret_cast<const void *>(fwd_decode_kernel<T, SOFTCAP, DecodePlan::kInBlock4, KEYS_AS_M>);
    case DecodePlan::kTickets:
      return reinterpret_cast<const void *>(fwd_decode_kernel<T, SOFTCAP, DecodePlan::kTickets, KEYS_AS_M>);
    default: return reinterpret_cast<const void *>(fwd_decode_kernel<TNone, SOFTCAP, DecodePlan::kNone, KEYS_AS_M>);
  }
}

// The kernel of a launch: its plan, softcap, and on sm_90 with tile copies
// whether every block's rows fit the keys-as-M step (keys_as_m: a kernel
// with that loop alone, less than half the code, whose first blocks wait
// less on instruction fetch).
template <class T, class TNone>
const void *decode_kernel_of(DecodePlan plan, bool softcap, bool keys_as_m) {
  if constexpr (T::kTileCopies && T::kArch >= 90) {
    if (keys_as_m)
      return softcap ? decode_kernel_for<T, TNone, true, true>(plan) : decode_kernel_for<T, TNone, false, true>(plan);
  }
  return softcap ? decode_kernel_for<T, TNone, true, false>(plan) : decode_kernel_for<T, TNone, false, false>(plan);
}

// Host side: the decode kernel, then (several splits) the combine. Returns a
// cudaError_t. The split count (a->splits) and the workspace come planned
// and checked by the family (fwd_decode_family.c).
template <class T, class TNone>
int launch_fwd_decode(const fa_fwd_args *args, cudaStream_t stream) {
  static_assert(TNone::kSmemBytes == T::kSmemBytes && TNone::kThreads == T::kThreads &&
                    TNone::kHeadDim == T::kHeadDim && TNone::kStepKeys == T::kStepKeys && TNone::kArch == T::kArch,
                "the plan-none kernel differs from the others only in its ring's depth");
  const long long m_tiles = fa_decode_row_tiles(args);
  const long long units = m_tiles * args->num_heads_k * args->batch;
  // <= INT32_MAX: supports(); by length, room for the most pieces (fwd_decode_plan.h)
  const long long blocks = args->split_slots > 0 ? units + args->split_slots : units * args->splits;
  if (units == 0) return cudaSuccess;
  // Splits by length in kernels of their own (DecodePlan), so the launches
  // that do not use them run the code (and registers) they had before the
  // plan existed.
  const DecodePlan plan = decode_plan_of<T>(args->split_slots, args->batch, units);
  alignas(64) CUtensorMap tm_k, tm_v;
  int tile_copies = encode_decode_tile_maps<T>(args, &tm_k, &tm_v);
  // Every block keys as M: tile copies, and a sequence's rows (Q x heads
  // per KV head, m_tiles then 1) fit the step's N.
  const bool keys_as_m = tile_copies != 0 && fa_decode_seq_rows(args) * args->heads_per_kv <= kKeysAsMRows;
  const void *kernel = decode_kernel_of<T, TNone>(plan, args->softcap > 0.f, keys_as_m);
  // A plan capped below the blocks an SM that T's shared memory allows asks
  // for more (fa_fwd_args.split_block_smem), so that the launch holds them.
  const int smem = plan != DecodePlan::kNone && args->split_block_smem > T::kSmemBytes ? args->split_block_smem
                                                                                      : T::kSmemBytes;
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (e != cudaSuccess) return e;
  }
  int m_tiles_arg = (int)m_tiles;
  if (plan == DecodePlan::kTickets) {
    const cudaError_t e = launch_decode_tickets<T>(args, m_tiles_arg, blocks, stream);
    if (e != cudaSuccess) return e;
  }
  void *params[] = {const_cast<fa_fwd_args *>(args), &m_tiles_arg, &tm_k, &tm_v, &tile_copies};
  cudaError_t e = launch_kernel(kernel, dim3((unsigned)blocks), dim3(T::kThreads), smem, stream, params,
                                T::kArch >= 90 && args->programmatic != 0);
  if (e != cudaSuccess || args->splits == 1) return e;
  fa_combine_job job = {};
  const fa_decode_workspace ws = fa_decode_workspace_layout(args, args->splits);
  job.o_parts = reinterpret_cast<const float *>(static_cast<const char *>(args->workspace) + ws.o_offset);
  job.o_part_stride = ws.o_part_stride, job.o_row_stride = ws.o_row_stride, job.o_head_stride = ws.o_head_stride;
  job.lse_parts = reinterpret_cast<const float *>(static_cast<const char *>(args->workspace) + ws.lse_offset);
  job.lse_part_stride = ws.lse_part_stride, job.lse_part_head_stride = ws.lse_head_stride;
  job.num_parts = args->splits, job.num_heads = args->num_heads_q, job.head_dim = args->head_dim;
  job.sinks = args->sinks;
  job.out = args->out;
  job.out_dtype = dtype_of(static_cast<const typename T::Elem *>(nullptr));
  job.out_batch_stride = args->out_batch_stride, job.out_row_stride = args->out_row_stride;
  job.out_head_stride = args->out_head_stride;
  job.lse = args->lse, job.lse_batch_stride = args->lse_batch_stride, job.lse_head_stride = args->lse_head_stride;
  job.batch = args->batch;
  job.rows_per_batch = fa_decode_seq_rows(args);
  job.cu_seqlens_q = args->cu_seqlens_q, job.total_q = args->total_q;
  job.seq_part_rows = ws.seq_rows;
  job.skip_long = args->seq_filter == FA_SEQ_SHORT; /* the partner writes the long ones */
  job.by_columns = 1;  /* a small job, splits parts a row (combine.cu); by piece: below */
  if (args->split_slots > 0) {  // by length: the parts by piece (fwd_decode_plan.h), found through the units table
    const fa_decode_pieces wp = fa_decode_pieces_layout(args, units);
    const char *base = static_cast<const char *>(args->workspace);
    job.o_parts = reinterpret_cast<const float *>(base + wp.o_offset);
    job.lse_parts = reinterpret_cast<const float *>(base + wp.lse_offset);
    job.piece_units = reinterpret_cast<const int32_t *>(base + wp.units_offset);
    job.piece_rows = (int32_t)wp.piece_rows, job.heads_per_kv = args->heads_per_kv, job.unit_row_tiles = (int32_t)m_tiles;
    job.seq_part_rows = 0;
    // By columns where the warp's plan's batch leaves few rows, the long
    // caches in many parts; by rows beyond, where most rows have one part
    // and are skipped (combine.cu's top). A pair's short launch keeps rows
    // too: its rows_per_batch is the pair's bound (64 / heads_per_kv), so
    // most of its items are rows the sequence lacks (4 decode + 1 chunk of
    // 512: 1.2-2.0% more time by columns, H100).
    job.by_columns = args->batch <= FA_DECODE_WARP_PLAN_MAX_BATCH && args->seq_filter != FA_SEQ_SHORT;
  }
  return T::kArch >= 90 ? fa_cuda_combine_dependent(&job, (fa_stream_t)stream)
                        : fa_cuda_combine(&job, (fa_stream_t)stream);
}

}  // namespace fa
