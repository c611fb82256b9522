/*
 * attn/tile_order.h - which work tiles (128 query rows of one sequence and
 * head) a thread block takes, and in which order. The wgmma family's kernel
 * follows it (fwd_wgmma.cuh): before its roles split, each block lists its
 * tiles in shared memory with these rules, so its producer thread (24
 * registers) only reads the list. Plain C, so that tests/test_dispatch.c
 * can check on the CPU that every tile is visited exactly once for any grid
 * and that the blocks' work is balanced. Internal.
 *
 * The walk: sequences by their number of query tiles n, most first (then
 * by index); within a sequence its heads in turn; within a head its query
 * tiles last first (n-1, n-2, ..., 0). It is cut into steps of one tile,
 * or, where the cost of a tile grows with its index (a causal-shaped mask:
 * bounded on one side), of two: tiles n-1-p and p of one head (FA3's
 * pairing), and with n odd the middle tiles of two heads after all the
 * sequence's pairs (a lone one last when the heads are odd: that step has
 * an empty slot), so that every step of a sequence costs about n + 1 key
 * tiles. Block b of a grid of G takes step b of each round of G steps, the
 * rounds alternately forwards and backwards ("snake": round k's b-th step
 * is k G + b for k even, k G + G-1-b for k odd). Steps come longest
 * sequence first, so a round's steps cost about the same, and the snake
 * evens out what is left. A head's tiles are adjacent in the walk, so the
 * blocks running at one time share the K/V of few heads (L2).
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

#include <stdint.h>

#include "attn/portable.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Cap of the varlen tables: 2 + 2 + 4 bytes per sequence. */
#define FA_TILE_TABLE_MAX_BATCH 512
#define FA_TILE_TABLE_BYTES (8 * FA_TILE_TABLE_MAX_BATCH)

/* Tiles a block may list (32 bytes each in shared memory: the tile and its
 * sequence's place, src/cuda/fwd_wgmma.cuh). */
#define FA_TILE_LIST_MAX 512

typedef struct fa_tile_order {
  uint32_t count;              /* slots in the walk: tiles, and the empty second slot of a lone middle tile */
  int32_t m_tiles;             /* dense-shaped: every sequence's query tiles */
  int32_t batch;
  uint32_t heads;              /* num_heads_q */
  int32_t zigzag;              /* steps of two tiles: n-1-p and p, or two heads' middle tiles */
  const uint16_t *q_tiles;     /* varlen tables (NULL: dense-shaped): query tiles of sequence b */
  const uint16_t *seq_by_rank; /* the sequences, most query tiles first */
  const uint32_t *ranks_end;   /* slots of the sequences of rank 0..r */
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
  return o;
}

/* ---- the varlen tables, one entry per call (the kernel's threads share them out) */

/* The rank of sequence b when sequences are sorted by query tiles q_tiles[]
 * (most first, then by index): a permutation of 0..batch-1. */
FA_RULE int32_t fa_tile_seq_rank(const uint16_t *q_tiles, int32_t batch, int32_t b) {
  int32_t rank = 0;
  for (int32_t i = 0; i < batch; ++i) rank += q_tiles[i] > q_tiles[b] || (q_tiles[i] == q_tiles[b] && i < b);
  return rank;
}

/* Slots of the sequences of rank 0..r: those with more query tiles than
 * the rank-r one, and those with as many and an index up to its. */
FA_RULE uint32_t fa_tile_ranks_end(const uint16_t *q_tiles, const uint16_t *seq_by_rank, int32_t batch,
                                   uint32_t heads, int zigzag, int32_t r) {
  const int32_t b = seq_by_rank[r];
  uint32_t slots = 0;
  for (int32_t i = 0; i < batch; ++i)
    if (q_tiles[i] > q_tiles[b] || (q_tiles[i] == q_tiles[b] && i <= b)) slots += fa_tile_slots(q_tiles[i], heads, zigzag);
  return slots;
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

/* ---- the walk */

/* Slot `slot` of the walk: its sequence, head and query tile. */
FA_RULE fa_tile_pos fa_tile_position(const fa_tile_order *o, uint32_t slot) {
  fa_tile_pos p;
  uint32_t j, n;
  if (o->q_tiles == 0) {
    const uint32_t per_seq = fa_tile_slots((uint32_t)o->m_tiles, o->heads, o->zigzag);
    p.b = (int32_t)(slot / per_seq);
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
    p.b = (int32_t)o->seq_by_rank[lo];
    n = o->q_tiles[p.b];
  }
  if (!o->zigzag) { /* head j / n, its tiles last first */
    p.head = (int32_t)(j / n);
    p.m_block = (int32_t)(n - 1u - j % n);
  } else {
    const uint32_t pairs = n / 2u, step = j / 2u, second = j & 1u;
    if (step < o->heads * pairs) { /* head's pair p: tiles n-1-p, p */
      const uint32_t pair = step % pairs;
      p.head = (int32_t)(step / pairs);
      p.m_block = (int32_t)(second ? pair : n - 1u - pair);
    } else { /* n odd: the middle tiles of heads 2s and 2s+1 */
      p.head = (int32_t)(2u * (step - o->heads * pairs) + second);
      p.m_block = (uint32_t)p.head < o->heads ? (int32_t)pairs : -1;
    }
  }
  return p;
}

/* Tiles per step, and the steps of the walk. */
FA_RULE uint32_t fa_tile_step_tiles(const fa_tile_order *o) { return o->zigzag ? 2u : 1u; }
FA_RULE uint32_t fa_tile_steps(const fa_tile_order *o) {
  return (o->count + fa_tile_step_tiles(o) - 1u) / fa_tile_step_tiles(o);
}

/* The step block `block` takes in round `k` (snake order). */
FA_RULE uint32_t fa_round_step(uint32_t k, uint32_t block, uint32_t grid) {
  return k * grid + ((k & 1u) ? grid - 1u - block : block);
}

/* How many steps block `block` takes: one per round whose step exists. */
FA_RULE uint32_t fa_block_steps(uint32_t steps, uint32_t block, uint32_t grid) {
  const uint32_t rounds = steps / grid, rest = steps % grid;
  return rounds + (((rounds & 1u) ? grid - 1u - block : block) < rest ? 1u : 0u);
}

/* Blocks to launch for `tiles` tiles (dense-shaped: an upper bound of the
 * walk): one per tile, or a persistent grid of one per SM, more where a
 * block's list could overflow (a block lists at most tiles / grid + 3). */
FA_RULE uint32_t fa_tile_grid(uint32_t tiles, int persistent, int32_t sm_count) {
  if (!persistent || sm_count <= 0 || tiles <= (uint32_t)sm_count) return tiles;
  const uint32_t for_list = (tiles + FA_TILE_LIST_MAX - 5) / (FA_TILE_LIST_MAX - 4);
  return for_list > (uint32_t)sm_count ? for_list : (uint32_t)sm_count;
}

#ifdef __cplusplus
}
#endif

#endif /* FA_ATTN_TILE_ORDER_H */
