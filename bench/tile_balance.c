/*
 * tile_balance.c - how evenly the wgmma family's persistent grid shares the
 * BENCH.md grid's work tiles (CPU only: the walk of attn/tile_order.h, as
 * list_block_tiles lists it on 132 blocks). Cost of a work tile: its key
 * tiles plus 0.4 (the epilogue); prints, per bench row, the busiest block
 * over the average now, and the same if the walk's last two rounds of
 * causal pairs were split into single tiles placed longest first on the
 * least loaded block (a bound for that change: src/cuda/fwd_wgmma.md,
 * "Next steps"). Tile shapes as gen/spec.py has them (twenty-fourth
 * session).
 *
 *   ninja build/tile_balance && build/tile_balance
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "attn/tile_order.h"

enum { kGrid = 132, kMaxSingles = 8 * kGrid };

static double tile_cost(int causal, int m, int s, int bm, int bn) {
  const int keys = causal && (m + 1) * bm < s ? (m + 1) * bm : s;
  return ceil((double)keys / bn) + 0.4;
}

static int by_cost_desc(const void *x, const void *y) {
  const double a = *(const double *)x, b = *(const double *)y;
  return (a < b) - (a > b);
}

static void row(const char *name, int batch, int heads, int s, int causal, int bm, int bn) {
  const int m_tiles = (s + bm - 1) / bm;
  const fa_tile_order o = fa_tile_order_dense(m_tiles, batch, (uint32_t)heads, causal);
  const uint32_t steps = fa_tile_steps(&o), per = fa_tile_step_tiles(&o);
  /* the last two rounds (the partial one and the one before), if any */
  const uint32_t cut = steps / kGrid >= 1 ? (steps / kGrid - 1) * kGrid : 0;
  static double singles[kMaxSingles];
  double now[kGrid] = {0}, split[kGrid] = {0}, total = 0;
  int n_singles = 0;
  for (uint32_t b = 0; b < kGrid; ++b) {
    const uint32_t n = fa_block_steps(steps, b, kGrid);
    for (uint32_t k = 0; k < n; ++k) {
      const uint32_t step = fa_round_step(k, b, kGrid);
      for (uint32_t i = 0; i < per; ++i) {
        const uint32_t slot = step * per + i;
        if (slot >= o.count) continue;
        const fa_tile_pos p = fa_tile_position(&o, slot);
        if (p.m_block < 0) continue;
        const double c = tile_cost(causal, p.m_block, s, bm, bn);
        now[b] += c;
        total += c;
        if (causal && step >= cut && n_singles < kMaxSingles)
          singles[n_singles++] = c;
        else
          split[b] += c;
      }
    }
  }
  qsort(singles, (size_t)n_singles, sizeof singles[0], by_cost_desc);
  for (int i = 0; i < n_singles; ++i) { /* longest first onto the least loaded block */
    int least = 0;
    for (int b = 1; b < kGrid; ++b)
      if (split[b] < split[least]) least = b;
    split[least] += singles[i];
  }
  double most_now = 0, most_split = 0;
  for (int b = 0; b < kGrid; ++b) {
    most_now = fmax(most_now, now[b]);
    most_split = fmax(most_split, split[b]);
  }
  const double avg = total / kGrid;
  printf("%-28s %5u steps, %6.2f rounds: busiest / average %.3f", name, steps, (double)steps / kGrid, most_now / avg);
  if (causal) printf(", last two rounds as single tiles %.3f", most_split / avg);
  printf("\n");
}

int main(void) {
  char name[64];
  for (int s = 512; s <= 16384; s *= 2) {
    const int batch = 16384 / s;
    /* d64: mask none 192 x 128; causal 128 x 128 below 2048 keys, 192 x 128 from 2048 */
    snprintf(name, sizeof name, "d64 s%d full", s);
    row(name, batch, 32, s, 0, 192, 128);
    snprintf(name, sizeof name, "d64 s%d causal", s);
    row(name, batch, 32, s, 1, s < 2048 ? 128 : 192, 128);
    /* d128: 128 x 128; mask none 128 x 176 from 8192 keys */
    snprintf(name, sizeof name, "d128 s%d full", s);
    row(name, batch, 16, s, 0, 128, s < 8192 ? 128 : 176);
    snprintf(name, sizeof name, "d128 s%d causal", s);
    row(name, batch, 16, s, 1, 128, 128);
    /* d256: 128 x 64 */
    snprintf(name, sizeof name, "d256 s%d full", s);
    row(name, batch, 8, s, 0, 128, 64);
    snprintf(name, sizeof name, "d256 s%d causal", s);
    row(name, batch, 8, s, 1, 128, 64);
  }
  return 0;
}
