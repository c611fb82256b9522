// wgmma/epilogue.cuh - a work tile's end on the consumers: the rows' totals
// (sinks, empty rows), the LSE, O normalized and stored (from registers,
// through shared memory, or by TMA), and the merge of a tile whose keys
// were split over blocks. A part of fwd_wgmma.cuh.
#pragma once

#include <cuda.h>  // CUtensorMap (types only)
#include <math.h>
#include <stdint.h>

#include "attn/softmax.h"
#include "attn/tile_order.h"
#include "cuda/common/mma_tile.cuh"
#include "cuda/common/quad.cuh"
#include "cuda/common/wgmma.cuh"
#include "cuda/ptx.cuh"
#include "cuda/wgmma/traits.cuh"
#include "cuda/wgmma/work_tiles.cuh"
#include "cuda/wgmma_trace.cuh"
#include "fa_args.h"

namespace fa {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// The rows' totals (attn/softmax.h: sinks, empty rows, NaN rows) from
// the quad's sums: each quad of lanes holds one row's columns.
template <class T>
__device__ __forceinline__ void row_totals(const fa_fwd_args &a, const WgmmaTile &t, const float (&row_max)[1][2],
                                           const float (&row_sum)[1][2], int warp_row0, int lane,
                                           fa_row_total (&total)[2]) {
  // The thread's two rows (lane / 4 and + 8 of the warp's) have one head.
  const int head = tile_row_head<T>(a, t, warp_row0 + (lane >> 2));
  const float sink = a.sinks != nullptr ? a.sinks[head] * kLog2e : -INFINITY;
#pragma unroll
  for (int half = 0; half < 2; ++half)
    total[half] = fa_row_with_sink(row_max[0][half], quad_sum(row_sum[0][half]), sink);
}

// The rows' LSE (rows < len_q), from each quad's first lane.
template <class T>
__device__ __forceinline__ void store_lse(const fa_fwd_args &a, const WgmmaTile &t, const fa_row_total (&total)[2],
                                          int warp_row0, int lane) {
  if (a.lse == nullptr || (lane & 3) != 0) return;
  const int s = pack_shift<T>(a), head = tile_row_head<T>(a, t, warp_row0 + (lane >> 2));
  float *lse = a.lse + t.b * a.lse_batch_stride + head * a.lse_head_stride + t.seq.q_start + (t.m0 >> s);
  const int rows_left = packed_rows<T>(a, t.seq.len_q) - t.m0;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = warp_row0 + (lane >> 2) + half * 8;
    if (r < rows_left) lse[r >> s] = fa_row_lse(total[half]);
  }
}

// What the rows' end needs but O (kRowEndsUnderPV: run under the last P
// V, which reads nothing of it): the factors 1 / sum, and the LSE stored.
template <class T>
__device__ __forceinline__ void row_ends(const fa_fwd_args &a, const WgmmaTile &t, const float (&row_max)[1][2],
                                         const float (&row_sum)[1][2], int warp_row0, int lane, float (&inv)[2],
                                         Tracer &tr) {
  fa_row_total total[2];
  row_totals<T>(a, t, row_max, row_sum, warp_row0, lane, total);
  tr.mark(kTrRowSums);
#pragma unroll
  for (int half = 0; half < 2; ++half) inv[half] = fa_row_out_scale(total[half]);
  store_lse<T>(a, t, total, warp_row0, lane);
}

// The rows' end, the first step of every epilogue: O scaled by 1 / sum, and
// the LSE stored, unless row_ends did that already (`ends_done`; `ends`:
// its factors).
// Both rows' sums, then the scaling, then the LSE stores: with a row's
// store between them the two rows' shuffle and divide chains ran one after
// the other (a branch per row).
template <class T>
__device__ __forceinline__ void finish_rows(const fa_fwd_args &a, const WgmmaTile &t, float (&o)[T::kOTiles][4],
                                            const float (&row_max)[1][2], const float (&row_sum)[1][2],
                                            int warp_row0, int lane, const float (&ends)[2], bool ends_done,
                                            Tracer *tr = nullptr) {
  fa_row_total total[2];
  float inv[2];
  if (ends_done) {
    inv[0] = ends[0], inv[1] = ends[1];
  } else {
    row_totals<T>(a, t, row_max, row_sum, warp_row0, lane, total);
    if (tr != nullptr) tr->mark(kTrRowSums);
#pragma unroll
    for (int half = 0; half < 2; ++half) inv[half] = fa_row_out_scale(total[half]);
  }
#pragma unroll
  for (int dt = 0; dt < T::kOTiles; ++dt)
#pragma unroll
    for (int j = 0; j < 4; ++j) o[dt][j] *= inv[j >> 1];
  if (!ends_done) {
    if (tr != nullptr) tr->mark(kTrRowsScaled);
    store_lse<T>(a, t, total, warp_row0, lane);
  }
}

// The work tile's O at its row `row` (packed: the sequence's row
// (t.m0 + row) >> s, head tile_row_head).
template <class T>
__device__ __forceinline__ typename T::Elem *tile_out_row(const fa_fwd_args &a, const WgmmaTile &t, int row) {
  return static_cast<typename T::Elem *>(a.out) + t.b * a.out_batch_stride +
         (t.seq.q_start + ((t.m0 + row) >> pack_shift<T>(a))) * a.out_row_stride +
         tile_row_head<T>(a, t, row) * a.out_head_stride;
}

// Epilogue of one work tile: finish_rows, then O straight from registers
// (4-byte stores; a quad covers 16 contiguous bytes of a row).
template <class T>
__device__ __forceinline__ void store_tile(const fa_fwd_args &a, const WgmmaTile &t, float (&o)[T::kOTiles][4],
                                           const float (&row_max)[1][2], const float (&row_sum)[1][2], int warp_row0,
                                           int lane, const float (&ends)[2], bool ends_done) {
  using Elem = typename T::Elem;
  finish_rows<T>(a, t, o, row_max, row_sum, warp_row0, lane, ends, ends_done);
  const int rows_left = packed_rows<T>(a, t.seq.len_q) - t.m0;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = warp_row0 + (lane >> 2) + half * 8;
    if (r < rows_left) {
      Elem *row = tile_out_row<T>(a, t, r) + (lane & 3) * 2;
#pragma unroll
      for (int dt = 0; dt < T::kStoreTiles; ++dt)  // not the padded columns
        *reinterpret_cast<uint32_t *>(row + dt * 8) = pack2<Elem>(o[dt][2 * half], o[dt][2 * half + 1]);
    }
  }
}

// O's n8 tiles dt and dt + 1 (a thread's fragments of the warp's 16 rows),
// rounded to 16 bits, as one stmatrix x4 at this lane's address `addr`.
template <class T>
__device__ __forceinline__ void stmatrix_o_tiles(const float (&o)[T::kOTiles][4], int dt, uint32_t addr) {
  using Elem = typename T::Elem;
  const uint32_t r[4] = {pack2<Elem>(o[dt][0], o[dt][1]), pack2<Elem>(o[dt][2], o[dt][3]),
                         pack2<Elem>(o[dt + 1][0], o[dt + 1][1]), pack2<Elem>(o[dt + 1][2], o[dt + 1][3])};
  stmatrix_x4(addr, r);
}

// Epilogue through shared memory (switch smem_epilogue; fwd_wgmma.md):
// finish_rows, then per pass of kOStageCols columns each warp stages its own
// 16 rows in the staging area `so` (rows of kOStageRowBytes) with stmatrix
// and copies them out with 16-byte loads and stores, consecutive lanes on
// consecutive 16-byte chunks of a row; rows past the sequence (r >= len_q -
// m0: the next sequence's, in varlen) are never written. A warp reads only
// the rows it wrote, so __syncwarp orders the two (no barrier over the
// warpgroup); the one before each pass's stmatrix waits until the warp's
// previous copy-out (previous pass or work tile) has read its rows.
template <class T>
__device__ __forceinline__ void store_tile_smem(const fa_fwd_args &a, const WgmmaTile &t, float (&o)[T::kOTiles][4],
                                                const float (&row_max)[1][2], const float (&row_sum)[1][2],
                                                int warp_row0, int lane, uint32_t so, const float (&ends)[2],
                                                bool ends_done, int row_block = 0) {
  constexpr int kRow = T::kOStageRowBytes;
  constexpr int kTilesPerPass = T::kOStageCols / 8;  // n8 tiles (16-byte chunks of a row) per pass
  finish_rows<T>(a, t, o, row_max, row_sum, warp_row0, lane, ends, ends_done);
  // The thread's place read again (a volatile read of %tid.x): otherwise
  // the staging addresses below, which depend only on the thread, are
  // hoisted out of the work-tile loop and kept live across it (d256
  // causal/local spilled 12 bytes).
  const unsigned tid = thread_index_x();
  // the warp's first row in the tile (warps 4.. are the consumers'; a
  // second row block 64 kConsumers rows further)
  const unsigned wrow0 = ((tid >> 5) - 4) * 16 + row_block * 64 * T::kConsumers;
  const unsigned ln = tid & 31;                  // lane
  const uint32_t so_w = so + wrow0 * kRow;
  // stmatrix: lanes 8j..8j+7 address rows i = lane % 8 of matrix j: j & 1
  // the row half (+8), j >> 1 the n8 tile of the pair (+16 bytes).
  const uint32_t st_addr = so_w + ((ln & 7) + ((ln >> 3) & 1) * 8) * kRow + (ln >> 4) * 16;
  const int rows_left = packed_rows<T>(a, t.seq.len_q) - t.m0 - (int)wrow0;  // of this warp's rows
#pragma unroll
  for (int pass = 0; pass < T::kOPasses; ++pass) {
    __syncwarp();  // the warp's previous copy-out has read its staging rows
#pragma unroll
    for (int u = 0; u < kTilesPerPass / 2; ++u) {
      stmatrix_o_tiles<T>(o, pass * kTilesPerPass + 2 * u, st_addr + u * 32);
    }
    __syncwarp();  // the warp's 16 rows staged
    // Chunk i = 32 it + lane of the pass: row i / kTilesPerPass, chunk
    // i % kTilesPerPass (consecutive lanes, consecutive chunks of a row).
    // All loads first (the staging rows are all valid), then the stores of
    // the rows < len_q; a chunk past the head dim (an accumulator wider
    // than the head dim) is not stored.
    constexpr int kIters = 16 * kTilesPerPass / 32;
    constexpr bool kWhole = 32 % kTilesPerPass == 0;  // the same chunk in every iteration
    const auto row_of = [&](int it) -> unsigned {
      return kWhole ? ln / kTilesPerPass + it * (32 / kTilesPerPass) : (32u * it + ln) / kTilesPerPass;
    };
    const auto chunk_of = [&](int it) -> unsigned {  // in the pass
      return kWhole ? ln % kTilesPerPass : (32u * it + ln) % kTilesPerPass;
    };
    uint4 v[kIters];
#pragma unroll
    for (int it = 0; it < kIters; ++it) v[it] = ld_shared_16(so_w + row_of(it) * kRow + chunk_of(it) * 16);
#pragma unroll
    for (int it = 0; it < kIters; ++it) {
      const unsigned r = row_of(it), k = pass * kTilesPerPass + chunk_of(it);
      if ((int)r < rows_left && k < T::kStoreTiles)
        st_global_16(tile_out_row<T>(a, t, (int)(wrow0 + r)) + k * 8, v[it]);
    }
  }
}

// O of a warp's 16 rows (rows_left of them in the sequence) as zeros, 16
// bytes a lane: a work tile without keys, where O has no Q tile to be staged
// in (kOStageInQ; store_tile from registers spilled at d64's 160 registers).
template <class T>
__device__ __forceinline__ void store_zero_rows(const fa_fwd_args &a, const WgmmaTile &t, unsigned wrow0,
                                                int rows_left, unsigned ln) {
  for (unsigned i = ln; i < 16u * T::kStoreTiles; i += 32u) {
    const int r = (int)(i / T::kStoreTiles), k = (int)(i % T::kStoreTiles);
    if (r < rows_left)
      st_global_16(tile_out_row<T>(a, t, (int)wrow0 + r) + k * 8, make_uint4(0u, 0u, 0u, 0u));
  }
}

// Epilogue by TMA stores (kTmaStore: 64-column panels): finish_rows, then
// per pass of kOStageCols columns each warp stages its own 16 rows as
// 64-column panels in TMA's 128-byte swizzle (16 rows x 128 bytes, 2 KB,
// 16-byte chunk c of row r at (c ^ r % 8) x 16) and lane 0 stores each
// panel with one cp.async.bulk.tensor. The map's bounds drop the rows past
// a dense sequence and the columns past the head dim. In a varlen call a
// warp whose rows cross the sequence's end copies its rows out itself (the
// rows after the end are the next sequence's). Before the warp writes its
// staging rows again, lane 0 waits until its stores have read them; with
// kOStageInQ the rows are the warp's own in its work tile's Q buffer (`so`
// is that buffer), one pass, and that wait is release_staged_q's.
template <class T>
__device__ __forceinline__ void store_tile_tma(const fa_fwd_args &a, const WgmmaTile &t, float (&o)[T::kOTiles][4],
                                               const float (&row_max)[1][2], const float (&row_sum)[1][2],
                                               int warp_row0, int lane, uint32_t so, const CUtensorMap *tm_o,
                                               bool any_keys, const float (&ends)[2], bool ends_done, Tracer &tr,
                                               int row_block = 0) {
  using Elem = typename T::Elem;
  constexpr int kPanelsPerPass = T::kOStageCols / 64;
  constexpr int kTilesPerPass = T::kOStageCols / 8;  // n8 tiles (16-byte chunks of a row) per pass
  finish_rows<T>(a, t, o, row_max, row_sum, warp_row0, lane, ends, ends_done, &tr);
  tr.mark(kTrRowsDone);
  const unsigned tid = thread_index_x();  // read again: see store_tile_smem
  const unsigned wrow0 = ((tid >> 5) - 4) * 16 + row_block * 64 * T::kConsumers;  // as in store_tile_smem
  const unsigned ln = tid & 31;
  const uint32_t so_w = T::kOStageInQ ? so + wrow0 * T::kRowBytes : so + (wrow0 / 16) * kPanelsPerPass * 2048;
  // stmatrix: lanes 8j..8j+7 address rows r = lane % 8 (+8 for j & 1) of
  // matrix j, chunk 2u + j / 2 of the panel, swizzled: (2u + j / 2) ^ (r % 8)
  // = ((j / 2) ^ (r % 8)) ^ 2u, so pair u's address is this one XOR (u << 5).
  const uint32_t st_addr = so_w + ((ln & 7) + ((ln >> 3) & 1) * 8) * 128 + ((((ln >> 4) ^ ln) & 7) << 4);
  const int rows_left = packed_rows<T>(a, t.seq.len_q) - t.m0 - (int)wrow0;  // of this warp's rows
  const bool dense = a.cu_seqlens_q == nullptr;
  if (T::kOStageInQ && !any_keys) {  // no Q tile to stage in; rows that see no key are 0
    store_zero_rows<T>(a, t, wrow0, rows_left, ln);
    return;
  }
  // From lane 0 by a shuffle, so ptxas knows the branch below to be
  // warp-uniform: a branch it must treat as divergent, with __syncwarp and
  // the elected issue inside, moved the main loop's ring arithmetic out of
  // the uniform datapath (1810 -> 1861 instructions at d64, 32 R2UR).
  const bool by_tma = __shfl_sync(0xffffffffu, (int)(dense || rows_left >= 16), 0) != 0;
  // The lane that issues and waits (bulk groups are per thread): elected,
  // so ptxas knows one converged warp takes the branch (lane == 0 made the
  // surrounding tile loop divergent: its uniform-register code moved to
  // vector registers and every row ran 2-13% slower, sixteenth session).
  const bool issuer = elect_one();
#pragma unroll
  for (int pass = 0; pass < T::kOPasses; ++pass) {
    if constexpr (!T::kOStageInQ) {
      // the warp's earlier stores have read its staging rows (two row
      // blocks: all but the newest, the other block's, whose rows differ)
      if constexpr (T::kRowBlocks == 2) {
        if (issuer) bulk_wait_read_but_one();
      } else if (issuer) {
        bulk_wait_read();
      }
    }
    __syncwarp();
    tr.mark(kTrPassStaging, pass);
#pragma unroll
    for (int q = 0; q < kPanelsPerPass; ++q)
#pragma unroll
      for (int u = 0; u < 4; ++u) {  // stmatrix_o_tiles written out: the call here
        // reallocated d128's epilogue registers (same instructions), untimed
        const int dt = pass * kTilesPerPass + q * 8 + 2 * u;
        const uint32_t r[4] = {pack2<Elem>(o[dt][0], o[dt][1]), pack2<Elem>(o[dt][2], o[dt][3]),
                               pack2<Elem>(o[dt + 1][0], o[dt + 1][1]), pack2<Elem>(o[dt + 1][2], o[dt + 1][3])};
        stmatrix_x4((st_addr + q * T::kOPanelStride) ^ (u << 5), r);
      }
    if (by_tma) {
      fence_proxy_async_shared();  // the stmatrix writes before the async proxy reads them
      __syncwarp();
      if (issuer) {
        const MapCoords oc = q_coords(t, (int)wrow0, pack_shift<T>(a));  // the O map is Q's kind
#pragma unroll
        for (int q = 0; q < kPanelsPerPass; ++q)
          tma_store_4d<T::kOEvictFirst>(tm_o, so_w + q * T::kOPanelStride, pass * T::kOStageCols + q * 64, oc.x,
                                        oc.y, dense ? t.b : 0);
        bulk_commit_group();
      }
      tr.mark(kTrPassStored, pass);
    } else {
      __syncwarp();
      // Chunk i = 32 it + lane of the pass: row i / kTilesPerPass, chunk
      // k = i % kTilesPerPass (panel k / 8, chunk k % 8 in it); loads first,
      // then the stores of the rows < len_q.
      constexpr int kIters = 16 * kTilesPerPass / 32;
      uint4 v[kIters];
#pragma unroll
      for (int it = 0; it < kIters; ++it) {
        const unsigned rr = (32u * it + ln) / kTilesPerPass, k = (32u * it + ln) % kTilesPerPass;
        v[it] = ld_shared_16(so_w + (k / 8) * T::kOPanelStride + rr * 128 + (((k % 8) ^ (rr & 7)) << 4));
      }
#pragma unroll
      for (int it = 0; it < kIters; ++it) {
        const unsigned rr = (32u * it + ln) / kTilesPerPass, k = pass * kTilesPerPass + (32u * it + ln) % kTilesPerPass;
        if ((int)rr < rows_left && k < T::kStoreTiles)
          st_global_16(tile_out_row<T>(a, t, (int)(wrow0 + rr)) + k * 8, v[it]);
      }
      // Q rows written and read by the generic proxy: ordered before the
      // producer's next TMA load into them, which release_staged_q's elected
      // lane allows; the warp barrier orders every lane's reads before that
      // lane's arrive (elect.sync converges the warp but is not a fence)
      if constexpr (T::kOStageInQ) {
        fence_proxy_async_shared();
        __syncwarp();
      }
    }
  }
}

// Both row blocks of a consume_row_pairs consumer (TMA stores, one pass:
// d64): store_tile_tma's steps once for the two blocks (one wait for the
// staging rows, one proxy fence, one warp barrier, one bulk group) where
// it ran them per block, with the rows' ends done (row_ends: `inv_a`,
// `inv_b`; `ends_done`). false, with nothing stored, for a work tile
// without keys (`ends_done` false) and where a warp's block B rows cross a
// varlen sequence's end (store_tile_tma copies those rows itself): the
// caller stores per block, and the warp's earlier stores have read all
// its staging rows (store_tile_tma waits for all but the newest group,
// which this function's group for both blocks would be).
template <class T>
__device__ __forceinline__ bool store_pair_tma(const fa_fwd_args &a, const WgmmaTile &t, float (&oa)[T::kOTiles][4],
                                               float (&ob)[T::kOTiles][4], const float (&inv_a)[2],
                                               const float (&inv_b)[2], bool ends_done, uint32_t so,
                                               const CUtensorMap *tm_o, Tracer &tr) {
  static_assert(T::kTmaStore && !T::kOStageInQ && T::kOPasses == 1 && T::kRowBlocks == 2, "store_pair_tma");
  constexpr int kPanels = T::kOStageCols / 64;
  const unsigned tid = thread_index_x();  // read again: see store_tile_smem
  const unsigned ln = tid & 31;
  const unsigned wrow_a = ((tid >> 5) - 4) * 16, wrow_b = wrow_a + 64 * T::kConsumers;
  // block B's rows end last: where they may go by TMA, A's may too
  const int rows_left_b = packed_rows<T>(a, t.seq.len_q) - t.m0 - (int)wrow_b;
  const bool dense = a.cu_seqlens_q == nullptr;
  const bool by_tma = __shfl_sync(0xffffffffu, (int)(dense || rows_left_b >= 16), 0) != 0;  // warp-uniform
  const bool issuer = elect_one();
  if (issuer) bulk_wait_read();  // the warp's earlier stores have read both blocks' staging rows
  __syncwarp();
  if (!by_tma || !ends_done) return false;
#pragma unroll
  for (int dt = 0; dt < T::kOTiles; ++dt)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      oa[dt][j] *= inv_a[j >> 1];
      ob[dt][j] *= inv_b[j >> 1];
    }
  tr.mark(kTrRowsDone);
  // as store_tile_tma's stmatrix addresses
  const uint32_t lane_off = ((ln & 7) + ((ln >> 3) & 1) * 8) * 128 + ((((ln >> 4) ^ ln) & 7) << 4);
  const uint32_t so_a = so + (wrow_a / 16) * kPanels * 2048, so_b = so + (wrow_b / 16) * kPanels * 2048;
#pragma unroll
  for (int q = 0; q < kPanels; ++q)
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      stmatrix_o_tiles<T>(oa, q * 8 + 2 * u, (so_a + lane_off + q * T::kOPanelStride) ^ (u << 5));
      stmatrix_o_tiles<T>(ob, q * 8 + 2 * u, (so_b + lane_off + q * T::kOPanelStride) ^ (u << 5));
    }
  fence_proxy_async_shared();  // the stmatrix writes before the async proxy reads them
  __syncwarp();
  if (issuer) {
    const MapCoords ca = q_coords(t, (int)wrow_a, pack_shift<T>(a)), cb = q_coords(t, (int)wrow_b, pack_shift<T>(a));
    const int batch = dense ? t.b : 0;
#pragma unroll
    for (int q = 0; q < kPanels; ++q) {
      tma_store_4d<T::kOEvictFirst>(tm_o, so_a + q * T::kOPanelStride, q * 64, ca.x, ca.y, batch);
      tma_store_4d<T::kOEvictFirst>(tm_o, so_b + q * T::kOPanelStride, q * 64, cb.x, cb.y, batch);
    }
    bulk_commit_group();
  }
  tr.mark(kTrPassStored, 0);
  return true;
}

// kOStageInQ: the warp's stores of a work tile's O have read its rows of
// that tile's Q buffer `qb`; the buffer goes back to the producer once every
// consumer warp has said so (q_empty counts warps). Called at the next work
// tile's first S, where the warp waits anyway.
template <class T>
__device__ __forceinline__ void release_staged_q(const WgmmaBarriers<T> &bar, int qb) {
  if (elect_one()) {  // the lane that committed the stores (store_tile_tma)
    bulk_wait_read();
    mbar_arrive(bar.q_empty(qb));
  }
}

// The work tile's epilogue: from registers, or through shared memory.
// `ends`: row_ends' factors where it ran under the last P V (`ends_done`).
template <class T>
__device__ __forceinline__ void store_o(const fa_fwd_args &a, const WgmmaTile &t, float (&o)[T::kOTiles][4],
                                        const float (&row_max)[1][2], const float (&row_sum)[1][2], int warp_row0,
                                        int lane, uint32_t so, const CUtensorMap *tm_o, bool any_keys,
                                        const float (&ends)[2], bool ends_done, Tracer &tr, int row_block = 0) {
  if constexpr (T::kTmaStore)
    store_tile_tma<T>(a, t, o, row_max, row_sum, warp_row0, lane, so, tm_o, any_keys, ends, ends_done, tr, row_block);
  else if constexpr (T::kSmemEpilogue)
    store_tile_smem<T>(a, t, o, row_max, row_sum, warp_row0, lane, so, ends, ends_done, row_block);
  else
    store_tile<T>(a, t, o, row_max, row_sum, warp_row0, lane, ends, ends_done);
}

// exp2(m - m_all) for a part of row max m in a merge whose max is m_all; a
// part without keys (-inf) weighs 0.
__device__ __forceinline__ float part_weight(float m, float m_all) { return m == -INFINITY ? 0.f : fa_exp2(m - m_all); }

// A piece of a split tile (WgmmaTile::keys, attn/tile_order.h "the last
// round shared by keys") after its key tiles: every consumer thread stores
// its O fragment and its rows' maxima and sums (fp32, not yet normalized)
// into the piece's slot of the workspace, then one thread counts the piece
// in the tile's counter; the piece that completes the count merges all of
// them into its registers and returns true (the caller's epilogue stores
// the tile), the others false. The merge reads every part back in piece
// order, without FMA contraction: the bits do not depend on which piece
// finished last.
template <class T>
__device__ __forceinline__ bool merge_split_tile(const fa_fwd_args &a, uint32_t list, unsigned k,
                                                 float (&o)[T::kOTiles][4], float (&row_max)[1][2],
                                                 float (&row_sum)[1][2], int ctid) {
  constexpr int kThreadsC = 128 * T::kConsumers;
  constexpr int kSlot = kThreadsC * (T::kOTiles + 1);  // float4 per slot: [fragment float4][thread]
  const uint32_t tail = list + kListEntryBytes * T::kListMax;
  const uint4 sp = ld_shared_16(tail);  // {count, first piece entry | n << 16, R | G' << 16, broadcast}
  fa_tile_split split;
  split.first = 0;
  split.n = sp.y >> 16;
  split.tiles = sp.z & 0xFFFFu;
  split.blocks = sp.z >> 16;
  const fa_split_piece piece = fa_split_block_piece(&split, blockIdx.x, k - (sp.y & 0xFFFFu));
  unsigned *counters = static_cast<unsigned *>(a.workspace);
  float4 *slots = reinterpret_cast<float4 *>(static_cast<char *>(a.workspace) + fa_split_counter_bytes(a.sm_count));
  float4 *mine = slots + (size_t)piece.slot * kSlot + ctid;
#pragma unroll
  for (int dt = 0; dt < T::kOTiles; ++dt) __stcg(mine + dt * kThreadsC, make_float4(o[dt][0], o[dt][1], o[dt][2], o[dt][3]));
  __stcg(mine + T::kOTiles * kThreadsC, make_float4(row_max[0][0], row_max[0][1], row_sum[0][0], row_sum[0][1]));
  __threadfence();  // this thread's partial, device-wide, before the count
  named_bar_sync(kBarConsumers, kThreadsC);
  if (ctid == 0) {
    const unsigned done = atomicAdd(counters + piece.tile, 1u);
    __threadfence();  // the other pieces' partials (fenced before their counts) before the reads below
    st_shared_4(tail + 12, done + 1u == piece.count ? 1u : 0u);
  }
  named_bar_sync(kBarConsumers, kThreadsC);
  if (ld_shared_4(tail + 12) == 0) return false;
  __threadfence();
  // Every part from the workspace, this piece's own included, in piece
  // order: the same operations whoever is last. Folding its registers in
  // at its place would save one read of its own slot, but a last piece
  // that is not the first needs the parts before it merged first, in a
  // second fragment (the first version of this merge did that and spilled
  // at d256).
  const float4 *part = slots + (size_t)(piece.slot - piece.index) * kSlot + ctid;  // the tile's slots are adjacent
  {
    const float4 s = __ldcg(part + T::kOTiles * kThreadsC);
    row_max[0][0] = s.x, row_max[0][1] = s.y, row_sum[0][0] = s.z, row_sum[0][1] = s.w;
#pragma unroll
    for (int dt = 0; dt < T::kOTiles; ++dt) {
      const float4 v = __ldcg(part + dt * kThreadsC);
      o[dt][0] = v.x, o[dt][1] = v.y, o[dt][2] = v.z, o[dt][3] = v.w;
    }
  }
  for (unsigned q = 1; q < piece.count; ++q) {
    part += kSlot;
    const float4 s = __ldcg(part + T::kOTiles * kThreadsC);
    const float pm[2] = {s.x, s.y}, pl[2] = {s.z, s.w};
    float wa[2], wb[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float m = fmaxf(row_max[0][h], pm[h]);
      wa[h] = part_weight(row_max[0][h], m);
      wb[h] = part_weight(pm[h], m);
      row_sum[0][h] = __fadd_rn(__fmul_rn(row_sum[0][h], wa[h]), __fmul_rn(pl[h], wb[h]));
      row_max[0][h] = m;
    }
#pragma unroll
    for (int dt = 0; dt < T::kOTiles; ++dt) {
      const float4 v = __ldcg(part + dt * kThreadsC);
      const float pv[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) o[dt][j] = __fadd_rn(__fmul_rn(o[dt][j], wa[j >> 1]), __fmul_rn(pv[j], wb[j >> 1]));
    }
  }
  return true;
}

#endif  // __CUDA_ARCH__ >= 900

}  // namespace fa
