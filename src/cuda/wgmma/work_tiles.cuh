// wgmma/work_tiles.cuh - the walk: which work tiles a block computes and in
// which order (attn/tile_order.h), listed in shared memory before the roles
// split, each tile located from its list entry, and its key tiles planned.
// A part of fwd_wgmma.cuh.
#pragma once

#include <stdint.h>

#include "attn/mask.h"
#include "attn/sequence.h"
#include "attn/tile_order.h"
#include "cuda/common/mask_tile.cuh"
#include "cuda/ptx.cuh"
#include "cuda/wgmma/traits.cuh"
#include "cuda/wgmma_trace.cuh"
#include "fa_args.h"

namespace fa {

// A work tile is 128 query rows of one (sequence, head): the grid's block
// index in the first version, one of several per block with the persistent
// grid. The producer and the consumers derive the same values from the
// tile index, so they agree on which tiles run and how many key tiles each
// visits without talking.
struct WgmmaTile {
  int b, head, m0;
  fa_seq seq;
  bool run;       // the tile has query rows and its sequence is this launch's
  uint32_t keys;  // a piece of a split tile: its key tiles [keys & 0xFFFF, keys >> 16) of the tile's; 0: all
};

// GQA packing (fa_fwd_args.pack_gqa_shift = s = log2 G, planned by the
// family): a work tile's rows are (token, head) pairs of one KV head's G
// query heads, row = token x G + head, so one tile reads the KV head's
// K/V for all G heads and a sequence's last row tile holds G times the
// tokens (fwd_wgmma.md "Next steps" item 5). t.head is then the KV head
// and t.m0 the tile's first packed row (a multiple of G); with s = 0 the
// same arithmetic is the tile of one query head (t.head).
// The shift a kernel of traits T applies: 0 where it never packs
// (FwdWgmmaTraits::kPackGqa), so that code folds away there.
template <class T>
__host__ __device__ __forceinline__ int pack_shift(const fa_fwd_args &a) { return T::kPackGqa ? a.pack_gqa_shift : 0; }

// A sequence's rows in the tiles' units (packed: tokens x G).
template <class T>
__host__ __device__ __forceinline__ int packed_rows(const fa_fwd_args &a, int len_q) { return len_q << pack_shift<T>(a); }

// The query head of the tile's row r (rows r and r + 8 share it: G divides 8).
template <class T>
__device__ __forceinline__ int tile_row_head(const fa_fwd_args &a, const WgmmaTile &t, int r) {
  const int s = pack_shift<T>(a);
  return (t.head << s) + (r & ((1 << s) - 1));
}

// The KV head of the tile's rows.
template <class T>
__device__ __forceinline__ int tile_kv_head(const fa_fwd_args &a, const WgmmaTile &t) {
  return (t.head << pack_shift<T>(a)) / a.heads_per_kv;
}

// The Q and O maps' coordinates {first head, row} of a work tile's row r
// (the heads maps, encode_heads_map: a box of G heads x rows).
struct MapCoords {
  int x, y;
};
__device__ __forceinline__ MapCoords q_coords(const WgmmaTile &t, int r, int s) {
  return MapCoords{t.head << s, (int)t.seq.q_start + ((t.m0 + r) >> s)};
}

// The walk of a call as if its sequences were all of seqlen_q (the dense
// call's, and the varlen call's before its tables): m_tiles query tiles
// each. The host builds it too (launch_fwd_wgmma: the dense call's tail).
template <class T>
__host__ __device__ __forceinline__ fa_tile_order dense_order(const fa_fwd_args &a) {
  const int m_tiles = (packed_rows<T>(a, a.seqlen_q) + T::kBlockM - 1) / T::kBlockM;
  const uint32_t heads = (uint32_t)(pack_shift<T>(a) > 0 ? a.num_heads_k : a.num_heads_q);
  // causal-shaped: a tile's keys grow with its index (window bounded on one side)
  const int zigzag = (window_left_of<T::kMask>(a) < 0) != (window_right_of<T::kMask>(a) < 0);
  return fa_tile_order_dense(m_tiles, a.batch, heads, zigzag);
}

// A unit's K/V per query tile, as if its keys were its query rows (the
// tail's order, attn/tile_order.h).
template <class T>
__host__ __device__ __forceinline__ uint32_t order_tile_kv_bytes(const fa_fwd_args &a) {
  static_assert(sizeof(typename T::Elem) == 2, "fa_tile_kv_bytes counts 16-bit K and V");
  return fa_tile_kv_bytes((uint32_t)(T::kBlockM >> pack_shift<T>(a)), T::kHeadDim);
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// The walk's tail of single tiles (attn/tile_order.h): the size
// fa_tile_order_tail would choose, its FA_TILE_TAIL_CHOICES candidates
// scored on the lanes of each warp (every warp alike, so no barrier; one
// thread looping over them costs microseconds of integer divisions).
// counted: the ranks' counts from the varlen tables' pass (rank_sequence),
// or null (no tables: counted here from the dense shape).
__device__ __forceinline__ void choose_tail(fa_tile_order *order, uint32_t lane, const fa_tile_tail_counts *counted) {
  static_assert(FA_TILE_TAIL_CHOICES <= 256, "a candidate's index fits the key's low byte");
  if (!order->zigzag) return;  // before the warp's reduction: a constant for masks none and causal
  const fa_tile_tail_span span =
      counted != nullptr ? fa_tile_tail_span_counted(order, counted, gridDim.x) : fa_tile_tail_span_of(order, gridDim.x);
  uint32_t best = ~0u;  // score << 8 | candidate: the lowest score, then the fewest units
  uint32_t units;
  for (uint32_t c = lane; fa_tile_tail_choice(&span, c, &units); c += 32)
    best = min(best, fa_tile_tail_score(order, &span, units, gridDim.x) << 8 | c);
  best = __reduce_min_sync(0xffffffffu, best);
  if (best != ~0u) fa_tile_order_set_tail(order, &span, span.fewest + (best & 0xFFu));
}

// Key tiles a slot of the walk's steps visits (plan_tile), -1 for a slot
// without a tile to run.
template <class T>
__device__ __forceinline__ int slot_key_tiles(const fa_fwd_args &a, const fa_tile_order &order, uint32_t slot) {
  const fa_tile_pos pos = fa_tile_position(&order, slot);
  if (pos.m_block < 0) return -1;
  const fa_seq seq = fa_locate_sequence(&a, pos.b);
  const int m0 = pos.m_block * T::kBlockM;
  if (m0 >= packed_rows<T>(a, seq.len_q) || !fa_seq_selected(&a, &seq)) return -1;
  const int s = pack_shift<T>(a);
  const fa_tile_plan p = fa_plan_key_tiles(m0 >> s, T::kBlockM >> s, seq.len_q, seq.len_k, window_left_of<T::kMask>(a),
                                           window_right_of<T::kMask>(a), T::kBlockN);
  return p.n_block_max - p.n_block_min;
}

// The last round shared by keys (attn/tile_order.h), where the call planned
// it (workspace for the partials, sized for a grid of sm_count blocks), the
// walk is of single tiles and the last round's tiles all visit the same
// number of key tiles: every thread checks some of them. Uniform over the
// block (a block-wide barrier inside).
template <class T>
__device__ __forceinline__ fa_tile_split plan_split(const fa_fwd_args &a, const fa_tile_order &order, int tid) {
  const fa_tile_split none = {0, 0, 0, 0};
  if (!T::kSplitMerge || !a.split_last_round || order.zigzag || gridDim.x > (unsigned)a.sm_count ||
      order.count % gridDim.x == 0)
    return none;
  const uint32_t first = order.count - order.count % gridDim.x;
  const int n = slot_key_tiles<T>(a, order, first);
  bool same = true;
  for (uint32_t i = first + (uint32_t)tid; i < order.count; i += T::kThreads)
    same = same && slot_key_tiles<T>(a, order, i) == n;
  if (!__syncthreads_and(same) || n <= 0) return none;
  return fa_tile_split_of(&order, gridDim.x, (uint32_t)n);
}

// Sequence b's rank and its ranks' slots (fa_tile_seq_rank_end) into the
// tables, from q_tiles padded with zeros to `padded` entries, 8 a load (one
// pass of 16-byte loads: the two loops of 2-byte loads it replaces took
// ~4,000 cycles at batch 32, ninety-sixth session). The same pass counts
// the tail's ranks (fa_tile_tail_count): the last sequence with tiles
// writes them to *counts, so the tail's choice needs no bisections over
// the ranks (two dependent shared loads a step).
__device__ __forceinline__ void rank_sequence(const uint16_t *q_tiles, int padded, uint32_t heads, int zigzag,
                                              int b, uint16_t *by_rank, uint32_t *ranks_end,
                                              fa_tile_tail_counts *counts) {
  const uint32_t q_b = q_tiles[b];
  int32_t rank = 0;
  uint32_t slots = 0, with_tiles = 0, same = 0;
  for (int i0 = 0; i0 < padded; i0 += 8) {
    const uint4 w = *reinterpret_cast<const uint4 *>(q_tiles + i0);
    const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const uint32_t q_i = words[e / 2] >> (16 * (e & 1)) & 0xFFFFu;
      fa_tile_rank_count(q_i, i0 + e, q_b, b, heads, zigzag, &rank, &slots);
      fa_tile_tail_count(q_i, q_b, &with_tiles, &same);
    }
  }
  by_rank[rank] = (uint16_t)b;
  ranks_end[rank] = slots;
  // the padding's zeros count as sequences without tiles: same is exact where q_b > 0
  if (q_b != 0 && (uint32_t)rank + 1u == with_tiles) *counts = fa_tile_tail_counts{with_tiles, q_b, same};
}

// The block's work tiles, listed by all its threads before the roles split
// (attn/tile_order.h: longest sequences first, a head's query tiles
// adjacent, zigzag under causal-shaped masks and then a tail of single
// tiles, snake rounds over the grid; varlen calls within the cap from
// tables of the sequences' lengths built here too). The producer (24
// registers) and the consumers then only read entry k (kListEntryBytes):
// {b, head, m_block, 0} and the sequence's place
// {q_start, k_start, len_q, len_k}, located here for every entry at once,
// so that a work tile's start and epilogue read shared memory instead of
// waiting for cu_seqlens / seqused_k loads. tables: generic pointer to the
// K/V ring (free until the first load); list: shared address of the list,
// its length after T::kListMax entries. Uniform over the block (kernel
// args).
template <class T>
__device__ __forceinline__ void list_block_tiles(const fa_fwd_args &a, unsigned char *tables, uint32_t list,
                                                 int tid) {
  fa_tile_order order = dense_order<T>(a);
  const int m_tiles = order.m_tiles;
  const uint32_t heads = order.heads;
  const int zigzag = order.zigzag;
  fa_tile_tail_counts *counts = nullptr;  // the varlen tables' counts of the ranks (rank_sequence)
  if (fa_tile_tables_fit(a.cu_seqlens_q != nullptr, a.batch, m_tiles)) {
    uint16_t *q_tiles = reinterpret_cast<uint16_t *>(tables);
    uint16_t *by_rank = reinterpret_cast<uint16_t *>(tables + 2 * FA_TILE_TABLE_MAX_BATCH);
    uint32_t *ranks_end = reinterpret_cast<uint32_t *>(tables + 4 * FA_TILE_TABLE_MAX_BATCH);
    counts = reinterpret_cast<fa_tile_tail_counts *>(tables + 8 * FA_TILE_TABLE_MAX_BATCH);
    if (tid == 0) *counts = fa_tile_tail_counts{0, 0, 0};  // no sequence with tiles: nobody writes them
    // q_tiles padded with zeros to a multiple of 8 entries (FA_TILE_TABLE_MAX_BATCH is one): a
    // sequence of no tiles ranks after every other and has no slots, so the pass below reads the
    // table 8 entries a load without a tail
    const int padded = (a.batch + 7) & ~7;
    for (int b = tid; b < padded; b += T::kThreads) {
      uint16_t n = 0;
      if (b < a.batch) {
        const fa_seq seq = fa_locate_sequence(&a, b);
        const int q = (packed_rows<T>(a, seq.len_q) + T::kBlockM - 1) / T::kBlockM;
        n = (uint16_t)(fa_seq_selected(&a, &seq) ? min(q, m_tiles) : 0);  // 0: the pair's other launch
      }
      q_tiles[b] = n;
    }
    __syncthreads();
    trace_block_point(2);
    for (int b = tid; b < a.batch; b += T::kThreads)
      rank_sequence(q_tiles, padded, heads, zigzag, b, by_rank, ranks_end, counts);
    __syncthreads();
    trace_block_point(3);
    order = fa_tile_order_tables(m_tiles, a.batch, heads, zigzag, q_tiles, by_rank, ranks_end);
  }
  order.tile_kv_bytes = order_tile_kv_bytes<T>(a);
  if (a.walk_tail.known)
    fa_tile_order_apply_tail(&order, &a.walk_tail);  // dense: the host's choice (launch_fwd_wgmma)
  else
    choose_tail(&order, tid & 31, counts);
  const fa_tile_split split = plan_split<T>(a, order, tid);
  trace_block_point_after(4, split.tiles ^ order.tail_tiles);
  const uint32_t full = split.tiles != 0 ? split.first / gridDim.x : 0u;  // rounds before the shared one
  const uint32_t tiles = split.tiles != 0 ? full + fa_split_block_pieces(&split, blockIdx.x)
                                          : fa_block_tiles(&order, blockIdx.x, gridDim.x);
  const uint32_t pairs = fa_block_pair_steps(&order, blockIdx.x, gridDim.x);
  for (uint32_t k = (uint32_t)tid; k < tiles; k += T::kThreads) {
    fa_tile_pos pos;
    uint32_t keys = 0;  // WgmmaTile::keys
    if (split.tiles != 0 && k >= full) {
      const fa_split_piece piece = fa_split_block_piece(&split, blockIdx.x, k - full);
      pos = fa_tile_position(&order, split.first + piece.tile);
      if (piece.count > 1) keys = piece.lo | piece.hi << 16;
    } else {
      pos = fa_block_tile(&order, blockIdx.x, gridDim.x, pairs, k);  // may be an empty slot
    }
    if (k == 0) trace_block_point_after(5, (uint32_t)(pos.b ^ pos.head ^ pos.m_block));
    fa_seq seq = {0, 0, 0, 0};
    if (T::kListedPlace && pos.m_block >= 0) seq = fa_locate_sequence(&a, pos.b);
    if (k == 0) trace_block_point_after(6, (uint32_t)(seq.q_start ^ seq.k_start) ^ (uint32_t)(seq.len_q ^ seq.len_k));
    // q_start and k_start come from int32 cu_seqlens (or are 0): 32 bits hold them
    st_shared_16(list + kListEntryBytes * k, (uint32_t)pos.b, (uint32_t)pos.head, (uint32_t)pos.m_block, keys);
    st_shared_16(list + kListEntryBytes * k + 16, (uint32_t)seq.q_start, (uint32_t)seq.k_start, (uint32_t)seq.len_q,
                 (uint32_t)seq.len_k);
  }
  // After the entries: their count, and the split for merge_split_tile
  // ({first piece entry, n}, {R, G'}; R 0: none) and its broadcast word.
  if (tid == 0)
    st_shared_16(list + kListEntryBytes * T::kListMax, tiles, full | split.n << 16,
                 split.tiles | split.blocks << 16, 0u);
  // The tables' stores before TMA writes the ring, and thread 0's barrier
  // inits before the copy engine completes bytes on them (HOPPER.md 2.8:
  // the CUDA guide's TMA example orders init, proxy fence, barrier, copy).
  fence_proxy_async_shared();
  trace_block_point(7);
}

// Entry k of the block's tile list, its sequence as list_block_tiles found it.
template <class T>
__device__ __forceinline__ WgmmaTile locate_tile(const fa_fwd_args &a, uint32_t list, unsigned k) {
  const uint4 e = ld_shared_16(list + kListEntryBytes * k);
  WgmmaTile t;
  t.b = (int)e.x;
  t.head = (int)e.y;
  t.m0 = (int)e.z * T::kBlockM;
  if constexpr (T::kListedPlace) {
    const uint4 place = ld_shared_16(list + kListEntryBytes * k + 16);
    t.seq.q_start = place.x;
    t.seq.k_start = place.y;
    t.seq.len_q = (int32_t)place.z;
    t.seq.len_k = (int32_t)place.w;
  } else {
    t.seq = fa_locate_sequence(&a, t.b);
  }
  t.run = (int)e.z >= 0 && t.m0 < packed_rows<T>(a, t.seq.len_q) && fa_seq_selected(&a, &t.seq);
  t.keys = T::kSplitMerge ? e.w : 0u;  // a constant where the kernel never splits
  return t;
}

#endif  // __CUDA_ARCH__ >= 900
template <class T>
__device__ __forceinline__ fa_tile_plan plan_tile(const fa_fwd_args &a, const WgmmaTile &t) {
  const int s = pack_shift<T>(a);
  fa_tile_plan p = fa_plan_key_tiles(t.m0 >> s, T::kBlockM >> s, t.seq.len_q, t.seq.len_k, window_left_of<T::kMask>(a),
                                     window_right_of<T::kMask>(a), T::kBlockN);
  if (T::kSplitMerge && t.keys != 0) {  // a piece: its share of the tile's key tiles (list_block_tiles)
    p.n_block_max = p.n_block_min + (int)(t.keys >> 16);
    p.n_block_min += (int)(t.keys & 0xFFFFu);
  }
  return p;
}

}  // namespace fa
