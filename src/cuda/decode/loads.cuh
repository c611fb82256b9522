// decode/loads.cuh - a warp's loads of a key step into its ring slot (rows
// by cp.async, rows by bulk copies, or swizzled TMA tiles on sm_90, a paged
// cache's rows found through its table), the V rows past the keys zeroed,
// the products on swizzled tiles, and the block's Q rows. A part of
// fwd_decode.cuh.
#pragma once

#include <cuda.h>  // CUtensorMap (types only: nothing links libcuda)
#include <stdint.h>

#include "attn/sequence.h"
#include "cuda/common/mma_tile.cuh"
#include "cuda/decode/traits.cuh"
#include "cuda/ptx.cuh"
#include "fa_args.h"

namespace fa {

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

}  // namespace fa
