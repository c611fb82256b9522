/*
 * attn/tile_order.h - which work tiles (128 query rows of one sequence and
 * head) a thread block takes, and in which order. The wgmma family's kernel
 * follows it (cuda/wgmma/work_tiles.cuh): before its roles split, each block
 * lists its tiles in shared memory with these rules, so its producer thread
 * (24 registers) only reads the list. Plain C, so that tests/test_dispatch.c
 * can check on the CPU that every tile is visited exactly once for any grid
 * and that the blocks' work is balanced. Internal.
 *
 * The walk: sequences by their number of query tiles n, most first (then
 * by index); within a sequence its heads in turn; within a head its query
 * tiles last first (n-1, n-2, ..., 0). It is cut into steps of one tile,
 * or, where the cost of a tile grows with its index (a causal-shaped mask:
 * bounded on one side), of two: tiles n-1-p and p of one head (FA3's
 * pairing; p first where n is at most FA_TILE_SHORT_FIRST_MAX_N), and
 * with n odd the middle tiles of two heads after all the sequence's pairs
 * (a lone one last when the heads are odd: that step has an empty slot),
 * so that every step of a sequence costs about n + 1 key tiles. Block b
 * of a grid of G takes step b of each round of G steps, the rounds
 * alternately forwards and backwards ("snake": round k's b-th step is
 * k G + b for k even, k G + G-1-b for k odd). Steps come longest
 * sequence first, so a round's steps cost about the same, and the snake
 * evens out what is left. A head's tiles are adjacent in the walk, so the
 * blocks running at one time share the K/V of few heads (L2).
 *
 * The tail: with steps of two, a grid of G blocks ends on a partial round
 * (7.76 rounds: some blocks run 8 pairs, the others 7 and wait). So the
 * walk's last (sequence, head) units, all with the same number n of query
 * tiles and at least 3/4 of a round of work, are taken out of the steps of
 * two and appended as single tiles, most keys first (tile n-1 of each tail
 * unit, then n-2, ...), one per step, in the same snake rounds; of the
 * tail sizes tried (up to 3 rounds: the tail's order shares K/V less), the
 * one whose steps before it end nearest before a round's end. Sorted pieces dealt in snake order from equal loads even
 * out the blocks' sums (bench/tile_balance.c on the BENCH.md grid: the
 * busiest block 1.031-1.056x the average before, 1.000-1.017x with the
 * tail; H200, twenty-fifth session: causal rows 1-7% faster). Short heads
 * whose tail K/V outgrow L2 take the tail head by head instead
 * (FA_TILE_TAIL_BY_HEAD_MIN_BYTES).
 *
 * Dense calls (and varlen calls beyond the tables' cap) take every
 * sequence as M query tiles in batch order (the kernel skips tiles past a
 * shorter one). Varlen calls within the cap use two tables built from
 * cu_seqlens on the device: each sequence's query tiles and the ranking;
 * then a packed batch of unequal sequences balances (bench.py's packed GQA
 * row: the busiest block 17% above the average before, 3% now;
 * tests/test_dispatch.c test_tile_order_varlen).
 */
#ifndef FA_ATTN_TILE_ORDER_H
#define FA_ATTN_TILE_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "attn/portable.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Cap of the varlen tables: 2 + 2 + 4 bytes per sequence, and 16 bytes
 * of the tail's counts (fa_tile_tail_counts). */
#define FA_TILE_TABLE_MAX_BATCH 512
#define FA_TILE_TABLE_BYTES (8 * FA_TILE_TABLE_MAX_BATCH + 16)

/* The tail of single tiles holds at least 3 and at most 12 quarters of a
 * round (a round: 2 G tiles on G blocks), and its size is chosen among up
 * to this many unit counts from there (bench/tile_balance.c compared the
 * choices). At most: a tail of all the units (64 units of 43 tiles at d64
 * s8192 causal) balances best on paper, but its order, level by level over
 * every unit, streams every head's K/V at once: the long causal rows ran
 * 2-9% slower (H200, bench.py, twenty-fifth session). */
#define FA_TILE_TAIL_QUARTER_ROUNDS 3u
#define FA_TILE_TAIL_MAX_QUARTER_ROUNDS 12u
#define FA_TILE_TAIL_CHOICES 64u

/* Heads of at most this many query tiles take each pair short tile first
 * (p, then n-1-p). Big first, the short tile re-reads K/V the long one read
 * first, one long tile of every block's traffic earlier: at d256 s512
 * causal (H100) 241 MB of DRAM reads against the 201 MB of Q, K and V
 * (cuDNN's count), 212 MB short first, where the rows are bound by DRAM
 * (~70% of its peak). Short first measured (H100, seventy-seventh session,
 * two calls of 3 and 4 rounds): s512 causal d256 +6%, d128 +1.2..3.1%,
 * d64 level; from 1024 keys (n 8 and more) d128 causal 2.3-3.4% slower at
 * s1024 and 0-2% at the longer rows, which are bound by the tensor cores. */
#define FA_TILE_SHORT_FIRST_MAX_N 4u

/* The tail head by head (each unit's tiles in turn, n-1 first) instead of
 * level by level: where its heads have at most FA_TILE_TAIL_BY_HEAD_MAX_N
 * tiles and its units' K/V come to at least FA_TILE_TAIL_BY_HEAD_MIN_BYTES.
 * Level by level, every level re-reads the K/V of every tail unit, and
 * where those outgrow what L2 keeps (both lent GPUs: 50 MB) the re-reads
 * miss; head by head, a unit's tiles run at once. Measured (H100,
 * seventy-eighth session, 6 rounds, s512 causal, tails of 50-58 units):
 * d256 (30.4 MB) 3.6-4.6% less time, DRAM reads 211.7 -> 203.8 MB against
 * cuDNN's 201.4; d192 (22.0 MB) 1.0-1.3% less; d64 and d128 (13.1 MB)
 * 0.5-1.5% more. At n 8 (s1024 causal) d192 and d256 ran 0.6-1.9% slower
 * head by head, whatever the bytes: its tail ends 1.76 rounds in, and the
 * blocks without a second tail tile keep an uneven first one (tile_balance:
 * the busiest block at d256 s1024 1.031x the average, 1.004x level by
 * level). At n 4 both are at the key-tile floor. */
#define FA_TILE_TAIL_BY_HEAD_MAX_N 4u
#define FA_TILE_TAIL_BY_HEAD_MIN_BYTES (16u << 20)

/* The whole walk head by head (fa_tile_walk_by_head): no pairs, every step
 * a single tile, a head's n tiles on n adjacent blocks of a round, all
 * starting on its first key tile, so the blocks ask L2 for the same K/V
 * lines at about the same time. With n dividing the grid the snake's next
 * round gives each block the level that complements its last, so two
 * rounds cost every block n + 1 key tiles, as a pair does (tile_balance:
 * the busiest block as before on the grid's s512 rows). Where tiles carry
 * at least this much K/V (d192 and d256 at 128 rows). Measured (H100,
 * eightieth session, 6 rounds against pairs with the by-head tail,
 * bench/results-h100-2026-12-06-s80-walk-by-head.md): s512 causal d256
 * 4.6-4.7% less time, d192 2.9%; the rest level. ncu at d256 s512 causal:
 * the L2's read sectors from the SMs fall where blocks read the same K/V
 * together (the mask-none row, whose 4 tiles of a head run side by side,
 * reads half its visits' bytes). d64 and d128 keep the pairs: head by
 * head for whole pairs of rounds, then the level-by-level tail that keeps
 * their balance (1.009), read level at s512 causal (same file, section 5;
 * bench/experiments/wgmma-walk-by-head-lead.patch). */
#define FA_TILE_WALK_BY_HEAD_MIN_TILE_BYTES (96u << 10)
/* Up to 8 query tiles (s1024 causal at d192 and d256): beyond the tail's
 * 4, a lead of whole pairs of rounds head by head, then the level-by-level
 * tail, which keeps the balance (tile_balance: 1.004 / 1.008, as with
 * pairs). n need only divide two rounds (a pair of rounds then still
 * complements). Measured (H100, eighty-first session, 6 rounds against
 * n <= 4, bench/results-h100-2026-12-06-s81.md): d256 s1024 causal
 * 3.3% / 2.2% less time (bf16 / fp16), d192 level, the rest level. */
#define FA_TILE_WALK_BY_HEAD_MAX_N 8u

/* Tiles a block may list (32 bytes each in shared memory: the tile and its
 * sequence's place, src/cuda/wgmma/work_tiles.cuh): the most, and the default
 * of the wgmma family's tile field list_max (a kernel may list fewer, to give
 * the room to its O staging area). */
#define FA_TILE_LIST_MAX 512

typedef struct fa_tile_order {
  uint32_t count;              /* slots walked in steps: tiles, and the empty second slot of a lone middle tile */
  int32_t m_tiles;             /* dense-shaped: every sequence's query tiles */
  int32_t batch;
  uint32_t heads;              /* num_heads_q */
  int32_t zigzag;              /* steps of two tiles: n-1-p and p (or p first), or two heads' middle tiles */
  const uint16_t *q_tiles;     /* varlen tables (NULL: dense-shaped): query tiles of sequence b */
  const uint16_t *seq_by_rank; /* the sequences, most query tiles first */
  const uint32_t *ranks_end;   /* slots of the sequences of rank 0..r */
  /* the tail (fa_tile_order_tail): units (rank * heads + head) from tail_unit0 on, tail_n query tiles each */
  uint32_t tail_tiles;         /* 0: no tail */
  uint32_t tail_unit0;
  uint32_t tail_units;
  uint32_t tail_n;
  int32_t tail_by_head;   /* the tail's order after its lead (fa_tile_tail_by_head) */
  uint32_t tail_lead_units; /* the tail's first units, head by head in whole pairs of rounds (the whole walk
                               head by head, fa_tile_walk_by_head); 0: none */
  uint32_t tile_kv_bytes; /* bytes of K and V a unit reads per query tile (its keys); 0: unknown */
} fa_tile_order;

typedef struct fa_tile_pos {
  int32_t b, head, m_block; /* m_block -1: an empty slot */
} fa_tile_pos;

/* Slots of a sequence of n query tiles: one per tile, and one more when
 * steps are pairs and both n and the heads are odd (the lone middle tile). */
FA_RULE uint32_t fa_tile_slots(uint32_t n, uint32_t heads, int zigzag) {
  return n * heads + (zigzag && (n & 1u) && (heads & 1u) ? 1u : 0u);
}

/* Whether a call's walk uses the varlen tables. */
FA_RULE int fa_tile_tables_fit(int varlen, int32_t batch, int32_t m_tiles) {
  return varlen && batch <= FA_TILE_TABLE_MAX_BATCH && m_tiles <= 0xFFFF;
}

/* Every sequence M query tiles, in batch order. */
FA_RULE fa_tile_order fa_tile_order_dense(int32_t m_tiles, int32_t batch, uint32_t heads, int zigzag) {
  fa_tile_order o;
  o.count = fa_tile_slots((uint32_t)m_tiles, heads, zigzag) * (uint32_t)batch;
  o.m_tiles = m_tiles;
  o.batch = batch;
  o.heads = heads;
  o.zigzag = zigzag;
  o.q_tiles = 0;
  o.seq_by_rank = 0;
  o.ranks_end = 0;
  o.tail_tiles = 0;
  o.tail_unit0 = (uint32_t)batch * heads;
  o.tail_units = 0;
  o.tail_n = 0;
  o.tail_by_head = 0;
  o.tail_lead_units = 0;
  o.tile_kv_bytes = 0;
  return o;
}

/* ---- the varlen tables, one entry per call (the kernel's threads share them out) */

/* Whether sequence i (q_i query tiles) ranks before sequence b (q_b) when
 * sequences are sorted by query tiles, most first, then by index. */
FA_RULE int fa_tile_ranks_before(uint32_t q_i, int32_t i, uint32_t q_b, int32_t b) {
  return q_i > q_b || (q_i == q_b && i < b);
}

/* One sequence of the tables' pass (fa_tile_seq_rank_end): sequence i
 * against sequence b, counted into b's rank and its ranks' slots. */
FA_RULE void fa_tile_rank_count(uint32_t q_i, int32_t i, uint32_t q_b, int32_t b, uint32_t heads, int zigzag,
                                int32_t *rank, uint32_t *slots) {
  const int before = fa_tile_ranks_before(q_i, i, q_b, b);
  *rank += before;
  *slots += before || i == b ? fa_tile_slots(q_i, heads, zigzag) : 0u;
}

/* The rank of sequence b (a permutation of 0..batch-1: seq_by_rank's
 * inverse), and in *slots the slots of the sequences of ranks 0 to its own
 * (ranks_end at that rank), in one pass over q_tiles[]. The kernel runs
 * the same count over 8 entries a load (list_block_tiles). */
FA_RULE int32_t fa_tile_seq_rank_end(const uint16_t *q_tiles, int32_t batch, uint32_t heads, int zigzag, int32_t b,
                                     uint32_t *slots) {
  int32_t rank = 0;
  *slots = 0;
  for (int32_t i = 0; i < batch; ++i) fa_tile_rank_count(q_tiles[i], i, q_tiles[b], b, heads, zigzag, &rank, slots);
  return rank;
}

FA_RULE fa_tile_order fa_tile_order_tables(int32_t m_tiles, int32_t batch, uint32_t heads, int zigzag,
                                           const uint16_t *q_tiles, const uint16_t *seq_by_rank,
                                           const uint32_t *ranks_end) {
  fa_tile_order o = fa_tile_order_dense(m_tiles, batch, heads, zigzag);
  o.count = batch > 0 ? ranks_end[batch - 1] : 0u;
  o.q_tiles = q_tiles;
  o.seq_by_rank = seq_by_rank;
  o.ranks_end = ranks_end;
  return o;
}

/* Query tiles of the sequence of rank r. */
FA_RULE uint32_t fa_tile_rank_tiles(const fa_tile_order *o, int32_t r) {
  return o->q_tiles == 0 ? (uint32_t)o->m_tiles : o->q_tiles[o->seq_by_rank[r]];
}

/* The first rank in [lo, hi) whose sequence has fewer than n query tiles
 * (hi if none): ranks run from most tiles to fewest. */
FA_RULE int32_t fa_tile_rank_below(const fa_tile_order *o, int32_t lo, int32_t hi, uint32_t n) {
  while (lo < hi) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (fa_tile_rank_tiles(o, mid) < n)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* Where a tail can be: the `ranks` sequences that have tiles, the last
 * one's n, the units with n tiles, and the fewest and most units the tail
 * takes (FA_TILE_TAIL_QUARTER_ROUNDS, FA_TILE_TAIL_MAX_QUARTER_ROUNDS, at
 * most the units with n tiles); fewest 0 when there is no tail (steps of
 * one, nothing to run). */
typedef struct fa_tile_tail_span {
  uint32_t ranks, n, with_n, fewest, most;
  uint32_t lead; /* the whole walk head by head: its lead units (fa_tile_walk_lead) */
} fa_tile_tail_span;

/* tile_kv_bytes of work tiles whose keys are key_rows rows (a tile's query
 * rows, over its GQA packing) of 16-bit K and V at head_dim. */
FA_RULE uint32_t fa_tile_kv_bytes(uint32_t key_rows, uint32_t head_dim) { return key_rows * head_dim * 2u * 2u; }

/* Whether `units` units of n tiles read at least the by-head bound of K/V. */
FA_RULE int fa_tile_units_reach_by_head_bytes(uint32_t n, uint32_t units, uint32_t tile_kv_bytes) {
  return (uint64_t)units * n * tile_kv_bytes >= FA_TILE_TAIL_BY_HEAD_MIN_BYTES;
}

/* Whether a tail of `units` units of n tiles runs head by head. */
FA_RULE int fa_tile_tail_by_head(uint32_t n, uint32_t units, uint32_t tile_kv_bytes) {
  return n <= FA_TILE_TAIL_BY_HEAD_MAX_N && fa_tile_units_reach_by_head_bytes(n, units, tile_kv_bytes);
}

/* Whether the whole walk runs head by head, as one tail of every unit
 * (fa_tile_walk_by_head): the ranks with tiles all have the same n, from 2
 * to FA_TILE_WALK_BY_HEAD_MAX_N, n divides two rounds (2 x grid tiles), the
 * tiles reach FA_TILE_WALK_BY_HEAD_MIN_TILE_BYTES and the units' K/V the
 * by-head tail's bound. */
FA_RULE int fa_tile_walk_by_head(const fa_tile_order *o, uint32_t ranks, uint32_t n, uint32_t with_n,
                                 uint32_t grid) {
  return n >= 2u && n <= FA_TILE_WALK_BY_HEAD_MAX_N && 2u * grid % n == 0 &&
         o->tile_kv_bytes >= FA_TILE_WALK_BY_HEAD_MIN_TILE_BYTES && with_n == ranks * o->heads &&
         fa_tile_units_reach_by_head_bytes(n, with_n, o->tile_kv_bytes);
}

/* Its lead: the most units, in whole pairs of rounds (2 x grid / n units
 * each), that leave at least `rest` units (the tail's fewest) after them. */
FA_RULE uint32_t fa_tile_walk_lead(uint32_t n, uint32_t with_n, uint32_t rest, uint32_t grid) {
  const uint32_t step = 2u * grid / n;
  return with_n > rest ? (with_n - rest) / step * step : 0u;
}

/* The ranks a tail can take from, counted: the sequences with tiles, the
 * last one's n, and the sequences with n tiles. */
typedef struct fa_tile_tail_counts {
  uint32_t ranks, n, seqs_with_n;
} fa_tile_tail_counts;

/* Sequence i counted into a pass over q_tiles[] on behalf of sequence b
 * (q_b tiles): the sequences with tiles, and those with q_b tiles. Sequence
 * b is the last with tiles when q_b > 0 and its rank is the first count
 * less one; its counts are then the tail's (the kernel's rank_sequence
 * counts them in its rank pass). */
FA_RULE void fa_tile_tail_count(uint32_t q_i, uint32_t q_b, uint32_t *with_tiles, uint32_t *same) {
  *with_tiles += q_i != 0u;
  *same += q_i == q_b;
}

/* The counts by bisection over the ranks (ranks run from most tiles to fewest). */
FA_RULE fa_tile_tail_counts fa_tile_tail_counts_of(const fa_tile_order *o) {
  fa_tile_tail_counts c = {0, 0, 0};
  c.ranks = (uint32_t)fa_tile_rank_below(o, 0, o->batch, 1u);
  if (c.ranks == 0) return c;
  c.n = fa_tile_rank_tiles(o, (int32_t)c.ranks - 1);
  c.seqs_with_n = c.ranks - (uint32_t)fa_tile_rank_below(o, 0, (int32_t)c.ranks, c.n + 1u);
  return c;
}

FA_RULE fa_tile_tail_span fa_tile_tail_span_counted(const fa_tile_order *o, const fa_tile_tail_counts *c,
                                                    uint32_t grid) {
  fa_tile_tail_span t = {0, 0, 0, 0, 0, 0};
  if (!o->zigzag || o->batch <= 0 || grid == 0 || c->ranks == 0) return t;
  t.ranks = c->ranks;
  t.n = c->n;
  t.with_n = c->seqs_with_n * o->heads;
  const uint32_t wanted = (FA_TILE_TAIL_QUARTER_ROUNDS * 2u * grid / 4u + t.n - 1u) / t.n;
  const uint32_t most = (FA_TILE_TAIL_MAX_QUARTER_ROUNDS * 2u * grid / 4u) / t.n;
  t.fewest = wanted < t.with_n ? wanted : t.with_n;
  t.most = most < t.with_n ? (most > t.fewest ? most : t.fewest) : t.with_n;
  if (fa_tile_walk_by_head(o, t.ranks, t.n, t.with_n, grid)) { /* the whole walk is the tail */
    t.lead = fa_tile_walk_lead(t.n, t.with_n, t.fewest, grid);
    t.fewest = t.most = t.with_n;
  }
  return t;
}

FA_RULE fa_tile_tail_span fa_tile_tail_span_of(const fa_tile_order *o, uint32_t grid) {
  fa_tile_tail_counts c = {0, 0, 0};
  if (o->zigzag && o->batch > 0 && grid != 0) c = fa_tile_tail_counts_of(o);
  return fa_tile_tail_span_counted(o, &c, grid);
}

/* Slots of the steps when the tail holds the last `units` units. */
FA_RULE uint32_t fa_tile_slots_before_tail(const fa_tile_order *o, const fa_tile_tail_span *t, uint32_t units) {
  const uint32_t unit0 = t->ranks * o->heads - units, cut_rank = unit0 / o->heads;
  uint32_t before = 0; /* slots of the ranks before the cut */
  if (cut_rank > 0)
    before = o->q_tiles == 0 ? cut_rank * fa_tile_slots(t->n, o->heads, 1) : o->ranks_end[cut_rank - 1u];
  return before + fa_tile_slots(t->n, unit0 % o->heads, 1);
}

/* How bad a tail of `units` units is: the blocks without a step of two in
 * the last round before it (0: the steps end with a round, so every block
 * starts the tail with the same work; a few: they take the tail's first,
 * largest tiles, about a step's work; a partial round of few steps would
 * instead leave a few blocks a step ahead that a short tail cannot make
 * up). */
FA_RULE uint32_t fa_tile_tail_score(const fa_tile_order *o, const fa_tile_tail_span *t, uint32_t units,
                                    uint32_t grid) {
  const uint32_t past = (fa_tile_slots_before_tail(o, t, units) / 2u) % grid; /* steps past the last whole round */
  return past == 0u ? 0u : grid - past;
}

/* Move the last `units` units into the tail. The steps keep the units
 * before them; the sequence the cut falls in keeps its first heads there. */
FA_RULE void fa_tile_order_set_tail(fa_tile_order *o, const fa_tile_tail_span *t, uint32_t units) {
  o->count = fa_tile_slots_before_tail(o, t, units);
  o->tail_tiles = units * t->n;
  o->tail_unit0 = t->ranks * o->heads - units;
  o->tail_units = units;
  o->tail_n = t->n;
  o->tail_lead_units = units == t->with_n ? t->lead : 0u;
  o->tail_by_head = fa_tile_tail_by_head(t->n, units - o->tail_lead_units, o->tile_kv_bytes);
}

/* The tail an order holds (fa_tile_order_set_tail's fields), to carry from
 * the host to a kernel: dense calls know every input of fa_tile_order_tail
 * on the host, so their blocks need not choose it
 * (cuda/wgmma/work_tiles.cuh list_block_tiles). known 0: the kernel
 * chooses. */
typedef struct fa_tile_tail {
  uint32_t count, tiles, unit0, units, n, lead_units;
  int32_t by_head, known;
} fa_tile_tail;

FA_RULE fa_tile_tail fa_tile_tail_of(const fa_tile_order *o) {
  fa_tile_tail t;
  t.count = o->count;
  t.tiles = o->tail_tiles;
  t.unit0 = o->tail_unit0;
  t.units = o->tail_units;
  t.n = o->tail_n;
  t.lead_units = o->tail_lead_units;
  t.by_head = o->tail_by_head;
  t.known = 1;
  return t;
}

FA_RULE void fa_tile_order_apply_tail(fa_tile_order *o, const fa_tile_tail *t) {
  o->count = t->count;
  o->tail_tiles = t->tiles;
  o->tail_unit0 = t->unit0;
  o->tail_units = t->units;
  o->tail_n = t->n;
  o->tail_lead_units = t->lead_units;
  o->tail_by_head = t->by_head;
}

/* Candidate c of the tail's sizes, and whether it exists. */
FA_RULE int fa_tile_tail_choice(const fa_tile_tail_span *t, uint32_t c, uint32_t *units) {
  *units = t->fewest + c;
  return t->fewest > 0 && c < FA_TILE_TAIL_CHOICES && *units <= t->most;
}

/* The tail (steps of two only): the last units with n query tiles, n the
 * last sequence's, from 3/4 of a round to 3 rounds (or all the units with
 * n tiles), of up to FA_TILE_TAIL_CHOICES sizes the first with the lowest
 * score.
 * The kernel scores the sizes on the lanes of a warp
 * (cuda/wgmma/work_tiles.cuh choose_tail) and must pick the same. */
FA_RULE void fa_tile_order_tail(fa_tile_order *o, uint32_t grid) {
  const fa_tile_tail_span t = fa_tile_tail_span_of(o, grid);
  uint32_t best = ~0u, best_units = 0, units;
  for (uint32_t c = 0; fa_tile_tail_choice(&t, c, &units); ++c) {
    const uint32_t score = fa_tile_tail_score(o, &t, units, grid);
    if (score < best) best = score, best_units = units;
  }
  if (best_units > 0) fa_tile_order_set_tail(o, &t, best_units);
}

/* ---- the walk */

/* Heads of the sequence of rank r in the steps: all, but the first ones
 * where the tail's cut falls in it. */
FA_RULE uint32_t fa_tile_step_heads(const fa_tile_order *o, uint32_t r) {
  return r == o->tail_unit0 / o->heads ? o->tail_unit0 % o->heads : o->heads;
}

/* Slot `slot` of the steps: its sequence, head and query tile. */
FA_RULE fa_tile_pos fa_tile_position(const fa_tile_order *o, uint32_t slot) {
  fa_tile_pos p;
  uint32_t j, n, r;
  if (o->q_tiles == 0) {
    const uint32_t per_seq = fa_tile_slots((uint32_t)o->m_tiles, o->heads, o->zigzag);
    r = slot / per_seq;
    p.b = (int32_t)r;
    j = slot % per_seq;
    n = (uint32_t)o->m_tiles;
  } else { /* bisection: the first rank whose end is past the slot */
    int32_t lo = 0, hi = o->batch - 1;
    while (lo < hi) {
      const int32_t mid = (lo + hi) / 2;
      if (o->ranks_end[mid] > slot)
        hi = mid;
      else
        lo = mid + 1;
    }
    j = slot - (lo > 0 ? o->ranks_end[lo - 1] : 0u);
    r = (uint32_t)lo;
    p.b = (int32_t)o->seq_by_rank[lo];
    n = o->q_tiles[p.b];
  }
  if (!o->zigzag) { /* head j / n, its tiles last first */
    p.head = (int32_t)(j / n);
    p.m_block = (int32_t)(n - 1u - j % n);
  } else {
    const uint32_t heads = fa_tile_step_heads(o, r);
    const uint32_t pairs = n / 2u, step = j / 2u, second = j & 1u;
    if (step < heads * pairs) { /* head's pair p: tiles n-1-p, p (short heads: p, n-1-p) */
      const uint32_t pair = step % pairs, short_first = n <= FA_TILE_SHORT_FIRST_MAX_N;
      p.head = (int32_t)(step / pairs);
      p.m_block = (int32_t)(second != short_first ? pair : n - 1u - pair);
    } else { /* n odd: the middle tiles of heads 2s and 2s+1 */
      p.head = (int32_t)(2u * (step - heads * pairs) + second);
      p.m_block = (uint32_t)p.head < heads ? (int32_t)pairs : -1;
    }
  }
  return p;
}

/* Tile i of the tail: first its lead, head by head (unit i/n, level
 * n-1-i%n); then the rest level by level (level n-1-j/units, unit j %
 * units, j counted from the lead's end), or head by head as the lead
 * (fa_tile_tail_by_head). */
FA_RULE fa_tile_pos fa_tile_tail_position(const fa_tile_order *o, uint32_t i) {
  const uint32_t lead_tiles = o->tail_lead_units * o->tail_n;
  const int by_head = i < lead_tiles || o->tail_by_head;
  const uint32_t j = i < lead_tiles ? i : i - lead_tiles, units = o->tail_units - o->tail_lead_units;
  const uint32_t unit0 = o->tail_unit0 + (i < lead_tiles ? 0u : o->tail_lead_units);
  const uint32_t unit = unit0 + (by_head ? j / o->tail_n : j % units), r = unit / o->heads;
  fa_tile_pos p;
  p.b = o->q_tiles == 0 ? (int32_t)r : (int32_t)o->seq_by_rank[r];
  p.head = (int32_t)(unit % o->heads);
  p.m_block = (int32_t)(o->tail_n - 1u - (by_head ? j % o->tail_n : j / units));
  return p;
}

/* Tiles per step of the walk's steps; its steps of two (or one), and all
 * its steps (the tail's single tiles after them). */
FA_RULE uint32_t fa_tile_step_tiles(const fa_tile_order *o) { return o->zigzag ? 2u : 1u; }
FA_RULE uint32_t fa_tile_pair_steps(const fa_tile_order *o) {
  return (o->count + fa_tile_step_tiles(o) - 1u) / fa_tile_step_tiles(o);
}
FA_RULE uint32_t fa_tile_steps(const fa_tile_order *o) { return fa_tile_pair_steps(o) + o->tail_tiles; }

/* The step block `block` takes in round `k` (snake order). */
FA_RULE uint32_t fa_round_step(uint32_t k, uint32_t block, uint32_t grid) {
  return k * grid + ((k & 1u) ? grid - 1u - block : block);
}

/* How many steps block `block` takes: one per round whose step exists. */
FA_RULE uint32_t fa_block_steps(uint32_t steps, uint32_t block, uint32_t grid) {
  const uint32_t rounds = steps / grid, rest = steps % grid;
  return rounds + (((rounds & 1u) ? grid - 1u - block : block) < rest ? 1u : 0u);
}

/* The steps of two (or one) block `block` of `grid` takes: its first steps,
 * as round steps are increasing. */
FA_RULE uint32_t fa_block_pair_steps(const fa_tile_order *o, uint32_t block, uint32_t grid) {
  return fa_block_steps(fa_tile_pair_steps(o), block, grid);
}

/* The tiles that block lists: its steps' tiles, then its tail tiles. */
FA_RULE uint32_t fa_block_tiles(const fa_tile_order *o, uint32_t block, uint32_t grid) {
  const uint32_t pairs = fa_block_pair_steps(o, block, grid);
  return pairs * fa_tile_step_tiles(o) + fa_block_steps(fa_tile_steps(o), block, grid) - pairs;
}

/* Entry e of that list (pairs: fa_block_pair_steps); m_block -1 for an
 * empty slot. */
FA_RULE fa_tile_pos fa_block_tile(const fa_tile_order *o, uint32_t block, uint32_t grid, uint32_t pairs,
                                  uint32_t e) {
  const uint32_t per_step = fa_tile_step_tiles(o);
  if (e >= pairs * per_step)
    return fa_tile_tail_position(o, fa_round_step(pairs + e - pairs * per_step, block, grid) - fa_tile_pair_steps(o));
  const uint32_t slot = fa_round_step(e / per_step, block, grid) * per_step + e % per_step;
  if (slot < o->count) return fa_tile_position(o, slot);
  fa_tile_pos past = {0, 0, -1};
  return past;
}

/* ---- the last round shared by keys (walks of single tiles)
 *
 * A walk of single tiles (no causal pairs) whose tiles all cost the same
 * ends on a partial round: 2048 tiles on 132 blocks leave 68 blocks a 16th
 * tile while 64 wait, so the busiest block runs 1.031x the average (d128's
 * full bench rows: 128 SMs run them as fast as 132, bench/grid_rounds.sh).
 * Instead the last round's R tiles, each of n key tiles, are dealt out by
 * keys: flattened as key tile x of tile i = i n + x, block b of the first
 * min(G, 2R) takes [b L / G', (b + 1) L / G'), L = R n, so each block runs
 * about L / G' key tiles and a tile spans at most 3 blocks (each range
 * holds at least n / 2). A tile cut between blocks is a split tile: its
 * pieces store fp32 partials and the last to finish merges them
 * (cuda/wgmma/epilogue.cuh, merge_split_tile). Only where it pays: tiles of
 * at least FA_TILE_SPLIT_MIN_KEY_TILES key tiles (H200, twenty-sixth
 * session: d128 full s1024, n = 8, ran 2.6-5% slower split, s4096-s16384
 * 2.3-3.1% faster), and a last round that costs at least
 * 1/FA_TILE_SPLIT_MIN_GAIN of the whole: its idle blocks over the grid,
 * (G - R) / G, against the rounds, F + 1 (d64 s8192, 0.7%, gained
 * nothing). */
#define FA_TILE_SPLIT_MIN_KEY_TILES 16u
#define FA_TILE_SPLIT_MIN_GAIN 64u

typedef struct fa_tile_split {
  uint32_t first;  /* the walk's step (slot) where the shared round starts */
  uint32_t tiles;  /* R, the tiles it shares; 0: no split */
  uint32_t n;      /* key tiles of each */
  uint32_t blocks; /* G': the blocks that take a share */
} fa_tile_split;

/* The split of a walk of single tiles whose last round's tiles all have n
 * key tiles (the caller checks that), on a grid of `grid` blocks. */
FA_RULE fa_tile_split fa_tile_split_of(const fa_tile_order *o, uint32_t grid, uint32_t n) {
  fa_tile_split s = {0, 0, 0, 0};
  if (o->zigzag || o->tail_tiles != 0 || grid == 0 || grid > 0xFFFFu || n < FA_TILE_SPLIT_MIN_KEY_TILES ||
      n > 0xFFFFu)
    return s;
  const uint32_t rest = o->count % grid, rounds = o->count / grid;
  if (rest == 0 || (uint64_t)(grid - rest) * FA_TILE_SPLIT_MIN_GAIN < (uint64_t)grid * (rounds + 1u)) return s;
  s.first = o->count - rest;
  s.tiles = rest;
  s.n = n;
  s.blocks = 2u * rest < grid ? 2u * rest : grid;
  return s;
}

/* The first key tile of block b's share (b <= blocks). */
FA_RULE uint64_t fa_split_start(const fa_tile_split *s, uint32_t block) {
  return (uint64_t)block * s->tiles * s->n / s->blocks;
}

/* The block whose share holds flattened key tile x. */
FA_RULE uint32_t fa_split_block_of(const fa_tile_split *s, uint64_t x) {
  const uint64_t keys = (uint64_t)s->tiles * s->n;
  return (uint32_t)(((x + 1u) * s->blocks + keys - 1u) / keys) - 1u;
}

/* Pieces (parts of tiles) in block b's share. */
FA_RULE uint32_t fa_split_block_pieces(const fa_tile_split *s, uint32_t block) {
  if (s->tiles == 0 || block >= s->blocks) return 0;
  const uint64_t lo = fa_split_start(s, block), hi = fa_split_start(s, block + 1u);
  return hi > lo ? (uint32_t)((hi - 1u) / s->n - lo / s->n + 1u) : 0u;
}

/* Piece j of block b's share: tile i of the shared round, its key tiles
 * [lo, hi) (relative to the tile's first), its index among the tile's
 * pieces and their count (1: a whole tile), and its partial's slot (b + i:
 * distinct, as both grow along the pieces). */
typedef struct fa_split_piece {
  uint32_t tile, lo, hi, index, count, slot;
} fa_split_piece;

FA_RULE fa_split_piece fa_split_block_piece(const fa_tile_split *s, uint32_t block, uint32_t j) {
  const uint64_t lo = fa_split_start(s, block), hi = fa_split_start(s, block + 1u), n = s->n;
  fa_split_piece p;
  p.tile = (uint32_t)(lo / n) + j;
  const uint64_t t0 = (uint64_t)p.tile * n, t1 = t0 + n;
  p.lo = (uint32_t)((lo > t0 ? lo : t0) - t0);
  p.hi = (uint32_t)((hi < t1 ? hi : t1) - t0);
  const uint32_t first = fa_split_block_of(s, t0), last = fa_split_block_of(s, t1 - 1u);
  p.index = block - first;
  p.count = last - first + 1u;
  p.slot = block + p.tile;
  return p;
}

/* The workspace of a split on a grid of at most sm_count blocks: R < G
 * counters (one per shared tile, zeroed before each launch), then R + G' <
 * 2 G slots of partials, each a consumer thread's O fragment and its rows'
 * maxima and sums: (head_dim_padded / 8 + 1) float4 for each of the
 * block_m x 2 consumer threads (cuda/wgmma/epilogue.cuh, merge_split_tile). */
FA_RULE size_t fa_split_counter_bytes(int32_t sm_count) {
  return ((size_t)4 * (size_t)(sm_count > 0 ? sm_count : 0) + 255u) & ~(size_t)255u;
}
FA_RULE size_t fa_split_slot_bytes(int32_t block_m, int32_t head_dim_padded) {
  return (size_t)block_m * 2u * ((size_t)head_dim_padded / 8u + 1u) * 16u;
}
FA_RULE size_t fa_split_workspace_bytes(int32_t sm_count, int32_t block_m, int32_t head_dim_padded) {
  if (sm_count <= 0) return 0;
  return fa_split_counter_bytes(sm_count) + 2u * (size_t)sm_count * fa_split_slot_bytes(block_m, head_dim_padded);
}

/* Blocks to launch for `tiles` tiles (dense-shaped: an upper bound of the
 * walk): one per tile, or a persistent grid of one per SM. Where a block's
 * list of list_max entries (at least 5) could overflow (a block lists at
 * most tiles / grid + 3), whole waves of sm_count blocks, the fewest that
 * keep every list within it (at most one block a tile): a wave of a few
 * blocks would run their whole lists after the first wave, doubling the
 * time. */
FA_RULE uint32_t fa_tile_grid(uint32_t tiles, int persistent, int32_t sm_count, uint32_t list_max) {
  if (!persistent || sm_count <= 0 || tiles <= (uint32_t)sm_count) return tiles;
  const uint32_t for_list = (tiles + list_max - 5) / (list_max - 4);
  if (for_list <= (uint32_t)sm_count) return (uint32_t)sm_count;
  const uint32_t waves = (for_list + (uint32_t)sm_count - 1) / (uint32_t)sm_count;
  return waves * (uint32_t)sm_count < tiles ? waves * (uint32_t)sm_count : tiles;
}

#ifdef __cplusplus
}
#endif

#endif /* FA_ATTN_TILE_ORDER_H */
