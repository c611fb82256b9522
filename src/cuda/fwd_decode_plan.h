/*
 * fwd_decode_plan.h - what the decode family's host code (C) and kernel
 * (CUDA) must agree on: the tile sizes, the split plan's workspace layout.
 * Internal.
 */
#ifndef FA_CUDA_FWD_DECODE_PLAN_H
#define FA_CUDA_FWD_DECODE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "attn/mask.h"
#include "attn/portable.h"
#include "attn/sequence.h"
#include "fa_args.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FA_DECODE_ROWS 16 /* packed query rows (query row x group member) per block */
#define FA_DECODE_STEP 16 /* keys per warp step; key tiles start at multiples of it */
#define FA_DECODE_WARPS 4
/* A split gives each warp at least this many 16-key steps. */
#define FA_DECODE_MIN_STEPS_PER_WARP 4
#define FA_DECODE_MIN_SPLIT_TILES (FA_DECODE_WARPS * FA_DECODE_MIN_STEPS_PER_WARP)
/* Splits by length (fa_decode_length_splits): the most sequences a launch
 * plans on the device (its tables live in the block's shared memory). */
#define FA_DECODE_PLAN_MAX_BATCH 512
/* Up to this many sequences the plan runs in one warp (a lane each:
 * cuda/decode/pieces.cuh DecodePlan::kInWarp), whose blocks start as fast as
 * those without a plan; beyond it the block plans (2-3 us a block more). */
#define FA_DECODE_WARP_PLAN_MAX_BATCH 32

/* Row tiles per (sequence, KV head) a launch covers: enough for
 * max_seqlen_q x heads_per_kv packed rows, or, when the call is split and
 * this launch takes the short sequences, for short_rows of them. */
FA_RULE int64_t fa_decode_row_tiles(const fa_fwd_args *a) {
  int64_t rows = (int64_t)a->seqlen_q * a->heads_per_kv;
  if (a->seq_filter == FA_SEQ_SHORT && rows > a->short_rows) rows = a->short_rows;
  return (rows + FA_DECODE_ROWS - 1) / FA_DECODE_ROWS;
}

/* Query rows per sequence a launch computes (Q): max_seqlen_q, or, when it
 * takes the short sequences of a pair, the most a short one has
 * (short_rows / heads_per_kv: fa_seq_selected's bound, short_seqlen_q). */
FA_RULE int64_t fa_decode_seq_rows(const fa_fwd_args *a) {
  int64_t q = a->seqlen_q;
  if (a->seq_filter == FA_SEQ_SHORT && a->heads_per_kv > 0 && q > a->short_rows / a->heads_per_kv)
    q = a->short_rows / a->heads_per_kv;
  return q;
}

/*
 * The workspace of a split call (splits > 1), in bytes from its start:
 *   lse parts: fp32 [splits][num_heads_q][rows]     at lse_offset (0)
 *   o parts:   fp32 [splits][rows][num_heads_q][head_dim], 256-byte aligned
 * The strides are fa_combine's, so combine.cu merges it as is. Rows by
 * sequence: query row qi of sequence b is row b * Q + qi (Q:
 * fa_decode_seq_rows), rows = batch x Q, so the long sequences of a pair
 * (the partner's) and the rows of prefill chunks cost nothing. Where
 * batch x Q is not below total_q (sequences about Q long, dense calls), the
 * rows of q instead: q_start(b) + qi (varlen) or b * seqlen_q + qi (dense),
 * rows = total_q. Either way no more than the rows of q.
 */
typedef struct fa_decode_workspace {
  int64_t rows;     /* per split */
  int64_t seq_rows; /* rows by sequence: Q; 0 when by q row */
  int64_t lse_offset, lse_part_stride, lse_head_stride;
  int64_t o_offset, o_part_stride, o_row_stride, o_head_stride;
  int64_t bytes; /* 0 when splits == 1 */
} fa_decode_workspace;

/* The layout for `batch` sequences of at most `seq_rows` query rows in a
 * call of `total_q` rows (fa_decode_workspace_layout; the bound of
 * fa_fwd_workspace_size_max evaluates it at its own values). */
FA_RULE fa_decode_workspace fa_decode_workspace_shape(int64_t batch, int64_t seq_rows, int64_t total_q, int64_t heads,
                                                      int64_t d, int32_t splits) {
  fa_decode_workspace w;
  const int by_seq = batch * seq_rows < total_q;
  const int64_t rows = by_seq ? batch * seq_rows : total_q;
  w.rows = rows;
  w.seq_rows = by_seq ? seq_rows : 0;
  w.lse_offset = 0;
  w.lse_head_stride = rows;
  w.lse_part_stride = heads * rows;
  w.o_offset = (splits * heads * rows * 4 + 255) / 256 * 256;
  w.o_head_stride = d;
  w.o_row_stride = heads * d;
  w.o_part_stride = rows * heads * d;
  w.bytes = splits > 1 ? w.o_offset + splits * rows * heads * d * 4 : 0;
  return w;
}

FA_RULE fa_decode_workspace fa_decode_workspace_layout(const fa_fwd_args *a, int32_t splits) {
  return fa_decode_workspace_shape(a->batch, fa_decode_seq_rows(a), a->total_q, a->num_heads_q, a->head_dim, splits);
}

/* The partial row of query row qi of sequence b (whose first q row is
 * q_start), or -1 where the layout has none: qi >= Q, which only a call
 * whose max_seqlen_q understates a length reaches (rows past max_seqlen_q
 * are not computed), or no rows at all (Q = 0). */
FA_RULE int64_t fa_decode_part_row(const fa_decode_workspace *w, const fa_fwd_args *a, int32_t b, int64_t q_start,
                                   int32_t qi) {
  int64_t r;
  if (w->seq_rows > 0)
    r = qi < w->seq_rows ? (int64_t)b * w->seq_rows + qi : -1;
  else
    r = a->cu_seqlens_q != NULL ? q_start + qi : (int64_t)b * a->seqlen_q + qi;
  return r < w->rows ? r : -1;
}

/*
 * Splits by length (fwd_decode.md "Splits by length"): with split_slots > 0
 * each sequence takes its own split count, decided on the device from the
 * lengths of every sequence of the launch, so that a few long caches among
 * short ones are cut into pieces of about one block slot's share of the
 * work and no unsplit sequence streams on alone after the rest (the host
 * knows only the longest length). Sequence b has rt(b) row tiles (those
 * with rows, 0 when this launch does not compute it) and tiles(b) key
 * tiles (fa_decode_seq_key_tiles); each of its units (KV heads x row
 * tiles) takes s(b) = tiles(b) x slots / total splits, total being the sum
 * of tiles over every unit, rounded down, clamped to [1, cap] and to
 * FA_DECODE_MIN_SPLIT_TILES key tiles a split. For equal lengths this is
 * the host's one-wave count (b1 x 128k: 33; b8 x 32k: 4; b32 x 8k: 1).
 * Pieces (unit, split) are numbered sequence by sequence, KV head, row
 * tile, split innermost, one block each: fewer than units + slots of them
 * (split units take at most their share of the slots, whose sum is at
 * most the slots; units of one split add 1 each, and they are fewer than
 * all units unless none splits), so the last block of a units + slots
 * grid never has a piece (test_dispatch checks it). A unit of one split
 * writes its output itself; only split units write partials, at most
 * `slots` pieces in all (s(b) <= its units' share), which is all the
 * workspace holds:
 *   o:     fp32 [slots][piece_rows][head_dim]   at o_offset (0)
 *   lse:   fp32 [slots][piece_rows]             at lse_offset, 256-aligned
 *   units: int32 [units][2] = {first slot, s}   at units_offset, 256-aligned
 *   tickets: fa_decode_ticket [units + slots]   at tickets_offset, 256-aligned
 * piece_rows = min(FA_DECODE_ROWS, Q x heads_per_kv): a unit's packed rows.
 * The units table (unit (b x num_heads_k + kv_head) x m_tiles + row tile,
 * written by each unit's split 0) tells the combine where a unit's parts
 * are and how many (1: none, the output is written). The tickets, one per
 * block of the launch, hold each block's piece where a plan kernel ran
 * before the decode kernel (fwd_decode.md "Tickets": one-wave launches of
 * more than 32 sequences, whose blocks would otherwise each plan at their
 * start).
 */
typedef struct fa_decode_pieces {
  int64_t piece_rows, slots, units;
  int64_t o_offset, lse_offset, units_offset, tickets_offset;
  int64_t bytes;
} fa_decode_pieces;

/* Block i's piece, planned once by the tickets kernel: its sequence's place
 * (seq), and (b, kv_head, mt, split, splits, slot0) as DecodePiece; splits
 * 0 for a block without a piece. 48 bytes: three 16-byte loads. */
typedef struct fa_decode_ticket {
  fa_seq seq;
  int32_t b, kv_head, mt, split, splits, slot0;
} fa_decode_ticket;
#define FA_DECODE_TICKET_BYTES 48

FA_RULE fa_decode_pieces fa_decode_pieces_shape(int64_t units, int64_t slots, int64_t seq_rows, int64_t heads_per_kv,
                                                int64_t d) {
  fa_decode_pieces w;
  const int64_t packed = seq_rows * heads_per_kv;
  w.piece_rows = packed < FA_DECODE_ROWS ? packed : FA_DECODE_ROWS;
  w.slots = slots;
  w.units = units;
  w.o_offset = 0;
  w.lse_offset = (slots * w.piece_rows * d * 4 + 255) / 256 * 256;
  w.units_offset = w.lse_offset + (slots * w.piece_rows * 4 + 255) / 256 * 256;
  w.tickets_offset = w.units_offset + (units * 8 + 255) / 256 * 256;
  w.bytes = (w.tickets_offset + (units + slots) * FA_DECODE_TICKET_BYTES + 255) / 256 * 256;
  return w;
}

FA_RULE fa_decode_pieces fa_decode_pieces_layout(const fa_fwd_args *a, int64_t units) {
  return fa_decode_pieces_shape(units, a->split_slots, fa_decode_seq_rows(a), a->heads_per_kv, a->head_dim);
}

FA_RULE int32_t fa_decode_length_splits(int64_t tiles, int64_t total, int64_t slots, int32_t cap) {
  if (tiles <= 0 || total <= 0) return 1;
  const int64_t share = tiles * slots;
  /* 32-bit division where both fit (every launch but the largest): each
   * block of the launch plans every sequence, and the 64-bit one is a
   * long subroutine. */
  int64_t s = ((uint64_t)share | (uint64_t)total) >> 32 == 0 ? (int64_t)((uint32_t)share / (uint32_t)total)
                                                               : share / total;
  if (s > tiles / FA_DECODE_MIN_SPLIT_TILES) s = tiles / FA_DECODE_MIN_SPLIT_TILES;
  if (s > cap) s = cap;
  return s < 1 ? 1 : (int32_t)s;
}

/* The piece of block `block` in a by-length launch of `pieces` pieces on
 * `slots` block slots, or -1 for none. By default piece i is block i and
 * the blocks past the pieces are empty. Where the pieces leave some of the
 * first wave's slots spare, the caller may spread those empty blocks
 * evenly over the first wave's blocks [lo, slots) instead (lo = slots: no
 * spreading): with 8 empty blocks at the end of the first wave, equal
 * caches (b8 x 32k) ran ~1.2% slower than with those spread over the second
 * half, or with a grid of just the pieces (fwd_decode.md "Spare slots
 * spread"). The block scheduler's placement is not documented: this is
 * measured, not derived. Every piece has exactly one block (test_dispatch). */
FA_RULE int32_t fa_decode_block_piece(int64_t block, int64_t pieces, int64_t slots, int64_t lo) {
  const int64_t spare = slots - pieces, span = slots - lo;
  /* 32-bit products and divisions below (slots < 2^15): every block plans */
  if (spare <= 0 || spare > span || slots >= 32768) return block < pieces ? (int32_t)block : -1;
  if (block >= slots) return -1;
  if (block < lo) return (int32_t)block;
  const int32_t j = (int32_t)(block - lo), e = (int32_t)spare, n = (int32_t)span;
  const int32_t before = j * e / n; /* empty blocks in [lo, block) */
  if ((j + 1) * e / n > before) return -1;
  return (int32_t)block - before;
}

/* Longest first: the launch's pieces are numbered sequence by sequence in
 * order of their pieces' key tiles (a piece of sequence b has about
 * tiles(b) / s(b)), longest first, ties in sequence order, so that the
 * block scheduler, which starts blocks in index order as slots free, runs
 * the longest pieces first and the short ones fill in behind them (list
 * scheduling, longest processing time first). The order is that of the
 * sequences' keys, descending: the pieces' key tiles above, the sequence
 * index inverted below (so keys are distinct and, of equal pieces, the
 * lower index comes first). Keys are never 0: a sort pads with 0. */
FA_RULE uint64_t fa_decode_order_key(int32_t piece_tiles, int32_t b) {
  return (uint64_t)(uint32_t)piece_tiles << 32 | (uint32_t)~(uint32_t)b;
}

/* Whether sequence j comes before sequence b. */
FA_RULE int fa_decode_runs_before(int32_t piece_tiles_j, int32_t j, int32_t piece_tiles_b, int32_t b) {
  return fa_decode_order_key(piece_tiles_j, j) > fa_decode_order_key(piece_tiles_b, b);
}

/* The kernel sorts the keys with a bitonic network (descending) over n, a
 * power of two: at stage (k, d), element i meets element i ^ d and keeps
 * the larger key where this holds, the smaller otherwise. */
FA_RULE int fa_decode_sort_keeps_larger(int32_t i, int32_t d, int32_t k) {
  return ((i & d) == 0) == ((i & k) == 0);
}

/* The key tiles of one of sequence b's pieces, the order's key: its key
 * tiles over its split count, rounded up (0 for a sequence without rows).
 * A sequence's key tiles fit 32 bits (lengths are int32), so does the
 * division. */
FA_RULE int32_t fa_decode_piece_tiles(int64_t key_tiles, int64_t row_tiles, int32_t splits) {
  if (row_tiles <= 0 || key_tiles <= 0) return 0;
  return ((int32_t)key_tiles + splits - 1) / splits;
}

/* Key tiles (FA_DECODE_STEP keys) the rows of sequence s see: the union of
 * its first and last query row's visible keys. */
FA_RULE int64_t fa_decode_seq_key_tiles(const fa_fwd_args *a, const fa_seq *s) {
  if (s->len_q <= 0) return 0;
  const int64_t diag = (int64_t)s->len_k - s->len_q;
  const fa_key_range first = fa_visible_keys(diag, a->window_left, a->window_right, s->len_k);
  const fa_key_range last = fa_visible_keys(s->len_q - 1 + diag, a->window_left, a->window_right, s->len_k);
  if (last.hi <= first.lo) return 0;
  return (last.hi + FA_DECODE_STEP - 1) / FA_DECODE_STEP - first.lo / FA_DECODE_STEP;
}

/* Row tiles of sequence s this launch computes (at most m_tiles, the
 * launch's per sequence; 0 when it leaves s to a pair's other launch). */
FA_RULE int64_t fa_decode_seq_row_tiles(const fa_fwd_args *a, const fa_seq *s, int64_t m_tiles) {
  if (!fa_seq_selected(a, s)) return 0;
  const int64_t rt = ((int64_t)s->len_q * a->heads_per_kv + FA_DECODE_ROWS - 1) / FA_DECODE_ROWS;
  return rt < m_tiles ? rt : m_tiles;
}

#ifdef __cplusplus
}
#endif

#endif /* FA_CUDA_FWD_DECODE_PLAN_H */
