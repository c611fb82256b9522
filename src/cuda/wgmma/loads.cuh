// wgmma/loads.cuh - the producer's loads: the K/V ring's stages and
// phases, a paged cache's cursor, and the TMA issues of a work tile's Q and
// K/V tiles (by one thread, or by four where pages are smaller than a key
// tile). A part of fwd_wgmma.cuh.
#pragma once

#include <cuda.h>  // CUtensorMap (types only: nothing links libcuda)
#include <stdint.h>

#include "cuda/common/wgmma.cuh"
#include "cuda/ptx.cuh"
#include "cuda/wgmma/traits.cuh"
#include "cuda/wgmma_trace.cuh"
#include "fa_args.h"

namespace fa {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// The K/V stage of the j-th key tile a block loads (counted over all its
// work tiles).
template <class T>
__device__ __forceinline__ int ring_slot(unsigned j) { return ring_buffer<T::kStages>(j); }
template <class T>
__device__ __forceinline__ uint32_t ring_parity(unsigned j) { return ring_fill_parity<T::kStages>(j); }

// A key tile's first key in a paged cache as (table column, row in the
// page), carried from tile to tile: the box loop then needs no division by
// the run-time page size (an integer division per box, 16 per tile at
// pages of 16, cost the paged chunk 1.5x: fwd_wgmma.md "Paged K/V").
struct PageCursor {
  int col, row;
};

__device__ __forceinline__ PageCursor page_cursor(const fa_fwd_args &a, int key) {
  if (a.block_table == nullptr) return {0, 0};
  const int col = key / a.page_size;
  return {col, key - col * a.page_size};
}

// The cursor kBlockN keys further, given the column after the tile's
// boxes (load_kv_tile's result): pages of at most kBlockN rows hold whole
// tiles' worth of columns, so that column starts the next tile; larger
// pages (multiples of kBlockN) step kBlockN rows inside the page.
template <class T>
__device__ __forceinline__ PageCursor next_tile(int page_size, PageCursor at, int col_end) {
  if (page_size <= T::kBlockN) return {col_end, 0};
  at.row += T::kBlockN;
  if (at.row == page_size) at = {at.col + 1, 0};
  return at;
}

// What the producer's box loop needs of a paged cache, read from the
// kernel's arguments once per work tile: the TMA issues in the loop are
// asm with memory clobbers, after which every field of `a` was loaded
// again (3 dependent loads in front of each page's table read: the page-16
// producer's stalls, ncu 2026-11-30).
struct PageTable {
  const int *row;  // the sequence's block table row
  int last_page;   // num_pages - 1: entries are clamped into the pool
  int page_size;
};

__device__ __forceinline__ PageTable page_table(const fa_fwd_args &a, int b) {
  if (a.block_table == nullptr) return {nullptr, 0, 0};
  // Entries are int32: a pool bound past INT32_MAX clamps nothing more.
  const int last_page = (int)(a.num_pages - 1 < INT32_MAX ? a.num_pages - 1 : INT32_MAX);
  return {a.block_table + (int64_t)b * a.block_table_stride, last_page, a.page_size};
}

// Where key tile n's rows come from. Contiguous K/V: one box of kBlockN
// rows per panel at {column, k_row + n * kBlockN, head, kv_batch} (rows are
// the sequence's offset (varlen) plus the tile's; the batch coordinate is
// the batch index only in dense mode). Paged (PAGED): boxes of box_rows =
// min(page_size, kBlockN) rows, each inside one page, at {column, j %
// page_size, head, page of j}: one box per panel when pages hold whole
// tiles, kBlockN / page_size boxes (8-row aligned: the swizzle atom) in
// consecutive table columns when tiles hold whole pages (the host declines
// other page sizes). The entries are read after the stage wait, as L1 hits,
// each a box ahead of its use (PREFETCH_NEXT: K's call prefetches the next
// tile's line; the result is the column after the boxes, for next_tile;
// reading the first entry before the wait, to overlap it, measured no
// better and spilled at d80/d96: fwd_wgmma.md). A box past the sequence's keys reads page 0 (its
// rows are masked, its V rows zeroed; table columns past the sequence are
// never read).
template <class T, bool PAGED, bool PREFETCH_NEXT>
__device__ __forceinline__ int load_kv_tile(uint32_t dst, const CUtensorMap *tm, uint32_t bar, const PageTable &pt,
                                             int len_k, int k_row, int kv_head, int kv_batch, int n, PageCursor at) {
  if constexpr (!PAGED) {
#pragma unroll
    for (int p = 0; p < T::kPanels; ++p)
      tma_load_4d(dst + p * T::kBlockN * T::kRowBytes, tm, bar, T::kPanelCols * p, k_row + n * T::kBlockN, kv_head,
                  kv_batch);
  } else {
    const int box_rows = kv_box_rows<T>(true, pt.page_size);
    const int key0 = n * T::kBlockN;
    int col = at.col;
    int entry = key0 < len_k ? pt.row[col] : 0;
    for (int r = 0; r < T::kBlockN; r += box_rows, ++col) {
      const int page = key0 + r < len_k ? min(max(entry, 0), pt.last_page) : 0;
      // The next box's entry, read before this box's issues: its latency
      // hides behind them instead of preceding the next box's.
      const int r_next = r + box_rows;
      entry = r_next < T::kBlockN && key0 + r_next < len_k ? pt.row[col + 1] : 0;
#pragma unroll
      for (int p = 0; p < T::kPanels; ++p)
        tma_load_4d(dst + (p * T::kBlockN + r) * T::kRowBytes, tm, bar, T::kPanelCols * p, at.row, kv_head, page);
    }
    // The next tile's entries into L1: its reads after its stage wait then
    // hit L1 instead of making an L2 round trip in front of its TMA issue
    // (a tile's entries, at most kBlockN / 8 ints, share one 128-byte line
    // when the row is aligned).
    if (PREFETCH_NEXT && (n + 1) * T::kBlockN < len_k)
      prefetch_l1(pt.row + next_tile<T>(pt.page_size, at, col).col);
    return col;
  }
  return 0;
}

// Q of one work tile (128 rows, one box per panel) into Q tile qb.
// q_x, q_y: the map's second and third coordinates, {first head, row}
// (q_coords).
template <class T>
__device__ __forceinline__ void load_q(const CUtensorMap *tm_q, const WgmmaBarriers<T> &bar, uint32_t sq, int qb,
                                       int q_x, int q_y, int q_batch) {
  const uint32_t dst = sq + qb * T::kQBytes;
  mbar_arrive_expect_tx(bar.q(qb), T::kQBytes);
#pragma unroll
  for (int p = 0; p < T::kPanels; ++p)
    tma_load_4d<T::kQEvictFirst>(dst + p * T::kBlockM * T::kRowBytes, tm_q, bar.q(qb), T::kPanelCols * p, q_x, q_y,
                                 q_batch);
}


// Key tiles of the block's first work tile that issue_first_tile loads:
// as many as the ring holds (the producer's first issues wait for no
// stage), at most the tile's.
template <class T>
__device__ __forceinline__ int first_issued_key_tiles(int n_block_min, int n_block_max) {
  return min(T::kStages, n_block_max - n_block_min);
}

// K and V of each key tile of one work tile, each into the next ring stage
// once both consumers released it; j0: the ring position of its first key
// tile. `ahead` runs once, after the loads of the tile's second key tile
// (its first, where it has one): the producer prepares its next work tile
// there (produce), where it would otherwise wait for a stage.
// first_resident: the tile's first K and V are the ones the work tile
// before ended on, still in their one-stage slots (produce's
// kv_resident): their full barriers get a plain arrival, no copy.
template <class T, bool PAGED, class Ahead>
__device__ __forceinline__ void load_kv_tiles(const fa_fwd_args &a, const CUtensorMap *tm_k, const CUtensorMap *tm_v,
                                              const WgmmaBarriers<T> &bar, uint32_t sk, uint32_t sv, int b, int len_k,
                                              int k_row, int kv_head, int kv_batch, int n_block_min, int n_block_max,
                                              bool first_resident, unsigned j0, Tracer &tr, Ahead &&ahead,
                                              bool first_issued = false) {
  // paged: one division per work tile (not read unpaged: the arguments
  // come through a generic pointer, a load on the way to the first K)
  PageCursor at = PAGED ? page_cursor(a, n_block_min * T::kBlockN) : PageCursor{0, 0};
  const PageTable pt = PAGED ? page_table(a, b) : PageTable{nullptr, 0, 0};
  const int n_ahead = min(n_block_min + 1, n_block_max - 1);
  for (int n = n_block_min; n < n_block_max; ++n) {
    const unsigned j = j0 + (unsigned)(n - n_block_min);
    const int s = ring_slot<T>(j);
    const uint32_t phase = ring_parity<T>(j);
    // The slot is released even where it is kept: the consumers are then
    // done with the tile before, and the full barrier's phases stay paired.
    const bool resident = !PAGED && T::kStages == 1 && first_resident && n == n_block_min;
    // Issued by issue_first_tile, before the list, into fresh slots: no
    // wait, not even a fresh barrier's pass. The consumers may already have
    // used and released such a slot; a wait for parity 1 after that release
    // waits for the slot's second release, which needs this producer's next
    // fill: the hang of the first runs (ninety-ninth session; found by
    // reading in the hundredth). (Not resident: k == 0 has no tile before.)
    const bool issued = !PAGED && first_issued && n < n_block_min + first_issued_key_tiles<T>(n_block_min, n_block_max);
    if (!issued) mbar_wait_sleep(bar.k_empty(s), phase ^ 1u);  // a fresh barrier passes parity 1 at once
    tr.mark(kTrProdK, j);
    int col_end = 0;
    if (resident) {
      mbar_arrive(bar.k_full(s));
    } else if (!issued) {
      mbar_arrive_expect_tx(bar.k_full(s), T::kKVBytes);  // full box bytes, even past the tensor's end
      col_end = load_kv_tile<T, PAGED, true>(sk + s * T::kKVBytes, tm_k, bar.k_full(s), pt, len_k, k_row, kv_head,
                                             kv_batch, n, at);
    }
    if (!issued) mbar_wait_sleep(bar.v_empty(s), phase ^ 1u);
    tr.mark(kTrProdV, j);
    if (resident) {
      mbar_arrive(bar.v_full(s));
    } else if (!issued) {
      mbar_arrive_expect_tx(bar.v_full(s), T::kKVBytes);
      load_kv_tile<T, PAGED, false>(sv + s * T::kKVBytes, tm_v, bar.v_full(s), pt, len_k, k_row, kv_head, kv_batch,
                                    n, at);
    }
    if constexpr (PAGED) at = next_tile<T>(pt.page_size, at, col_end);
    if (n == n_ahead) ahead();
  }
}

// Paged K/V with pages smaller than a key tile (kBlockN / page_size boxes
// per panel): four issuers, one elected lane (leader) of each producer
// warp, warps 0 and 1 issuing the even and the odd boxes of K, warps 2 and
// 3 of V (the full barriers expect two arrivals, each announcing its
// boxes' bytes). The whole warp walks the loop and reads the entries.
// One thread issuing every box (16 per K or V tile at pages of 16 and
// d128, each after its table entry) was the limit of the chunked prefill
// over such pages (0.69x of a contiguous cache; fwd_wgmma.md "Paged K/V").
template <class T>
__device__ __forceinline__ void load_tiles_split(const fa_fwd_args &a, const CUtensorMap *tm, uint32_t stages,
                                                 const WgmmaBarriers<T> &bar, int b, int len_k, int kv_head,
                                                 int n_block_min, int n_block_max, unsigned j0, int issuer,
                                                 bool leader) {
  const int half = issuer & 1;
  const PageTable pt = page_table(a, b);
  const int *table = pt.row, last_page = pt.last_page, page_size = pt.page_size;
  // Pages divide the key tile here (the host declines other sizes), so key
  // tile n starts at table column n x tile_cols, row 0 of its page.
  const int tile_cols = T::kBlockN / page_size;  // boxes per panel and key tile (>= 2)
  const uint32_t bytes = (uint32_t)((tile_cols - half + 1) / 2 * page_size * T::kRowBytes * T::kPanels);
  for (int n = n_block_min; n < n_block_max; ++n) {
    const unsigned j = j0 + (unsigned)(n - n_block_min);
    const int s = ring_slot<T>(j);
    const uint32_t full = issuer >= 2 ? bar.v_full(s) : bar.k_full(s);
    mbar_wait_sleep(issuer >= 2 ? bar.v_empty(s) : bar.k_empty(s), ring_parity<T>(j) ^ 1u);
    if (leader) mbar_arrive_expect_tx(full, bytes);
    const uint32_t dst = stages + s * T::kKVBytes;
    const int key0 = n * T::kBlockN;
    int col = n * tile_cols + half;
    int entry = key0 + half * page_size < len_k ? table[col] : 0;
    for (int r = half * page_size; r < T::kBlockN; r += 2 * page_size, col += 2) {
      const int page = key0 + r < len_k ? min(max(entry, 0), last_page) : 0;
      const int r_next = r + 2 * page_size;  // the next box's entry, read ahead of this box's issues
      entry = r_next < T::kBlockN && key0 + r_next < len_k ? table[col + 2] : 0;
      if (leader)
#pragma unroll
        for (int p = 0; p < T::kPanels; ++p)
          tma_load_4d(dst + (p * T::kBlockN + r) * T::kRowBytes, tm, full, T::kPanelCols * p, 0, kv_head, page);
    }
    if (leader && key0 + T::kBlockN < len_k) prefetch_l1(table + (n + 1) * tile_cols + half);  // the next tile's entries
  }
}

#endif  // __CUDA_ARCH__ >= 900

}  // namespace fa
