/*
 * attn/mask.h - the mask rule (SPEC.md), stated once for every family, and
 * the key tiles a block of query rows has to visit.
 *
 * Query row i of a sequence with Lq queries and Lk keys sits at key
 * position pos = i + Lk - Lq (bottom-right alignment) and sees key j iff
 *   (window_left  < 0 || j >= pos - window_left) &&
 *   (window_right < 0 || j <= pos + window_right).
 * Causal is (-1, 0), no mask (-1, -1). The visible keys of a row form one
 * interval whose ends never decrease with i; the tests hold every kernel to
 * the same rule through the double-precision reference (tests/reference.c).
 */
#ifndef FA_ATTN_MASK_H
#define FA_ATTN_MASK_H

#include "attn/portable.h"

/* Keys [lo, hi) of a row at key position pos; empty when hi <= lo. */
typedef struct fa_key_range {
  int32_t lo, hi;
} fa_key_range;

FA_RULE fa_key_range fa_visible_keys(int64_t pos, int32_t window_left, int32_t window_right, int32_t len_k) {
  fa_key_range r;
  r.lo = 0;
  r.hi = len_k;
  if (window_left >= 0) r.lo = (int32_t)fa_clamp64(pos - window_left, 0, len_k);
  if (window_right >= 0) r.hi = (int32_t)fa_clamp64(pos + window_right + 1, 0, len_k);
  return r;
}

/*
 * The key tiles (of block_n keys, aligned to block_n) that the query rows
 * [m0, m0 + block_m) of a sequence visit: the union of their visible
 * ranges, [n_block_min, n_block_max). Keys in [unmasked_lo, unmasked_hi)
 * are visible to every row of the block (rows past len_q included), so a
 * tile inside that interval needs no element-wise mask; tiles outside the
 * union are skipped entirely.
 */
typedef struct fa_tile_plan {
  int32_t n_block_min, n_block_max;
  int32_t unmasked_lo, unmasked_hi;
} fa_tile_plan;

FA_RULE fa_tile_plan fa_plan_key_tiles(int32_t m0, int32_t block_m, int32_t len_q, int32_t len_k,
                                       int32_t window_left, int32_t window_right, int32_t block_n) {
  const int64_t diag = (int64_t)len_k - len_q; /* key position of query row 0 */
  const int32_t last_row = (m0 + block_m < len_q ? m0 + block_m : len_q) - 1;
  const fa_key_range first = fa_visible_keys(m0 + diag, window_left, window_right, len_k);
  const fa_key_range last = fa_visible_keys(last_row + diag, window_left, window_right, len_k);
  const fa_key_range end = fa_visible_keys(m0 + block_m - 1 + diag, window_left, window_right, len_k);
  fa_tile_plan p;
  p.unmasked_lo = end.lo;
  p.unmasked_hi = first.hi;
  p.n_block_min = first.lo / block_n;
  p.n_block_max = last.hi > first.lo ? (last.hi + block_n - 1) / block_n : p.n_block_min;
  return p;
}

/*
 * A thread of an mma m16n8 or wgmma m64nN accumulator holds columns
 * 8 nt + j (j in {0, 1}) of each row, relative to its first column. Of
 * those, the ones below `keys` (the visible keys counted from that first
 * column) are a prefix in key order: element i = 2 nt + j is visible iff
 * i < fa_accumulator_prefix(keys). The kernels test bit i of a mask of
 * that many low bits (src/cuda/common/mask_tile.cuh).
 */
FA_RULE int32_t fa_accumulator_prefix(int32_t keys) {
  const int32_t k = keys > 0 ? keys : 0;
  const int32_t rest = k & 7;
  return (k >> 3) * 2 + (rest < 2 ? rest : 2);
}

/* Whether the key tile starting at n0 needs the element-wise mask. */
FA_RULE int fa_tile_needs_mask(const fa_tile_plan *p, int32_t n0, int32_t block_n) {
  return n0 < p->unmasked_lo || n0 + block_n > p->unmasked_hi;
}

#endif /* FA_ATTN_MASK_H */
