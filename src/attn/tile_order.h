/*
 * attn/tile_order.h - which work tiles (128 query rows of one sequence and
 * head) a thread block of a persistent grid takes, and in which order. The
 * wgmma family's kernel follows it (fwd_wgmma.cuh); the rule is plain C so
 * that tests/test_dispatch.c can check on the CPU that every tile is
 * visited exactly once for any grid. Internal.
 *
 * Work tiles are numbered bh * m_tiles + m (bh: batch x heads index, m:
 * query tile). Two orders:
 *  - plain: tile index i is (bh = i / m_tiles, m = m_tiles - 1 - i % m_tiles),
 *    a head's query tiles adjacent and last first (prefill_block.cuh's
 *    map); block b takes b, b + grid, b + 2 grid, ...
 *  - paired (a persistent grid over causal-shaped tiles, whose cost grows
 *    with m): indices 2u and 2u + 1 are query tiles M-1-p and p of head
 *    bh, u = bh x ceil(M/2) + p its p-th pair, and block b takes the pairs
 *    b, b + grid, ...: a pair costs M + 1 key tiles under a causal mask, so
 *    a static stride balances. With M odd, the middle tile's partner (index
 *    2u + 1 of a head's last pair) does not exist: that pair costs half,
 *    and when ceil(M/2) divides the grid the same blocks get every such
 *    pair (M = 3, 3 heads, 2 blocks: 12 against 6 key tiles). Pairing the
 *    middle tiles of two heads fixes that, but its index arithmetic made
 *    the d256 producer spill (fwd_wgmma.md, "Next").
 */
#ifndef FA_ATTN_TILE_ORDER_H
#define FA_ATTN_TILE_ORDER_H

#include <stdint.h>

#include "attn/portable.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fa_tile_order {
  uint32_t count;  /* tile indices to walk (paired: 2 per pair) */
  int32_t m_tiles; /* query tiles per (sequence, head) */
  int32_t paired;
} fa_tile_order;

typedef struct fa_tile_pos {
  int32_t bh, m_block;
  int32_t exists; /* 0: the missing partner of an odd middle tile */
} fa_tile_pos;

/* heads: batch x num_heads_q; grid: blocks launched; causal_shaped: the
 * window is bounded on one side only. Paired only when persistent (fewer
 * blocks than tiles): one block per tile keeps the plain order, which the
 * hardware's block scheduler balances by itself. */
FA_RULE fa_tile_order fa_make_tile_order(int32_t m_tiles, uint32_t heads, uint32_t grid, int causal_shaped) {
  fa_tile_order o;
  const uint32_t tiles = (uint32_t)m_tiles * heads;
  o.m_tiles = m_tiles;
  o.paired = causal_shaped && grid < tiles;
  o.count = o.paired ? 2u * (uint32_t)((m_tiles + 1) / 2) * heads : tiles;
  return o;
}

FA_RULE uint32_t fa_first_tile(const fa_tile_order *o, uint32_t block) {
  return o->paired ? 2u * block : block;
}

FA_RULE uint32_t fa_next_tile(const fa_tile_order *o, uint32_t tile, uint32_t grid) {
  if (!o->paired) return tile + grid;
  return (tile & 1u) ? tile + 2u * grid - 1u : tile + 1u;
}

FA_RULE fa_tile_pos fa_tile_position(const fa_tile_order *o, uint32_t tile) {
  fa_tile_pos t;
  if (o->paired) {
    const uint32_t pairs = (uint32_t)(o->m_tiles + 1) / 2u, u = tile / 2u, p = u % pairs;
    const int32_t heavy = o->m_tiles - 1 - (int32_t)p;
    t.bh = (int32_t)(u / pairs);
    t.m_block = (tile & 1u) ? (int32_t)p : heavy;
    t.exists = !((tile & 1u) && (int32_t)p == heavy);
  } else {
    t.bh = (int32_t)(tile / (uint32_t)o->m_tiles);
    t.m_block = o->m_tiles - 1 - (int32_t)(tile % (uint32_t)o->m_tiles);
    t.exists = 1;
  }
  return t;
}

#ifdef __cplusplus
}
#endif

#endif /* FA_ATTN_TILE_ORDER_H */
