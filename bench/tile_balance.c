/*
 * tile_balance.c - how evenly the wgmma family's persistent grid shares the
 * BENCH.md grid's work tiles (CPU only: the walk of attn/tile_order.h, as
 * list_block_tiles lists it on 132 blocks). Cost of a work tile: its key
 * tiles plus 0.4 (the epilogue); prints, per bench row, the busiest block
 * over the average with the steps alone and, causal, with the walk's tail
 * of single tiles as the kernel chooses it (fa_tile_order_tail), beside a
 * reference: the last two rounds of steps split into single tiles, each
 * placed longest first on the least loaded block (src/cuda/fwd_wgmma.md,
 * "Twenty-fifth session"); without a mask, beside it, the figure with the
 * last round shared out by keys as num_splits 0 or > 1 has it (fa_tile_split,
 * twenty-sixth session). The model knows no L2 and no clocks: a tail that
 * balances best here can lose on the GPU (a tail of every unit did), and
 * the key split gained about half of what it predicts. Tile shapes as
 * gen/spec.py has them (twenty-fifth session). Each row starts with the
 * floor of whole key tiles (key_tile_floor): no walk of these tiles does
 * better.
 *
 *   ninja build/tile_balance && build/tile_balance
 *
 * With --blocks CAUSAL HEADS BATCH SEQLEN BLOCK_M BLOCK_N HEAD_DIM: each block's
 * list as the kernel walks it (with the tail where causal), one line a
 * block: "block tiles key_tiles"; `trace_wgmma.py --lists` groups a
 * trace's block ends by it (blocks with equal work, seventy-second and
 * seventy-third sessions).
 *
 * With --resident and the same arguments: how many work tiles start on the
 * K/V tile their block's tile before ended on (same batch, head and key
 * tile), which the one-stage kernels keep in shared memory instead of
 * loading again (fwd_wgmma.cuh kv_resident, seventy-ninth session), against
 * all key-tile visits. Keys as the causal walk visits them with seqlen_q ==
 * seqlen_k (tile m: key tiles 0 .. last key of its rows).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/tile_order.h"

enum { kGrid = 132, kMaxSingles = 8 * kGrid };

static double tile_key_tiles(int causal, int m, int s, int bm, int bn) {
  const int keys = causal && (m + 1) * bm < s ? (m + 1) * bm : s;
  return ceil((double)keys / bn);
}

static double tile_cost(int causal, int m, int s, int bm, int bn) { return tile_key_tiles(causal, m, s, bm, bn) + 0.4; }

static int by_cost_desc(const void *x, const void *y) {
  const double a = *(const double *)x, b = *(const double *)y;
  return (a < b) - (a > b);
}

/* Block b's work tiles under walk o (returned) and their key tiles. */
static int block_work(const fa_tile_order *o, uint32_t b, int causal, int s, int bm, int bn, double *key_tiles) {
  const uint32_t n = fa_block_tiles(o, b, kGrid), pairs = fa_block_pair_steps(o, b, kGrid);
  int tiles = 0;
  *key_tiles = 0;
  for (uint32_t e = 0; e < n; ++e) {
    const fa_tile_pos p = fa_block_tile(o, b, kGrid, pairs, e);
    if (p.m_block < 0) continue;
    ++tiles;
    *key_tiles += tile_key_tiles(causal, p.m_block, s, bm, bn);
  }
  return tiles;
}

/* Cost of every block of the grid under walk o (tile_cost summed); returns the busiest over the average. */
static double busiest(const fa_tile_order *o, int causal, int s, int bm, int bn) {
  double load[kGrid] = {0}, total = 0, most = 0;
  for (uint32_t b = 0; b < kGrid; ++b) {
    double key_tiles;
    const int tiles = block_work(o, b, causal, s, bm, bn, &key_tiles);
    load[b] = key_tiles + 0.4 * tiles;
    total += load[b];
    most = fmax(most, load[b]);
  }
  return most / (total / kGrid);
}

/* The reference for a tail: the walk's last two rounds of steps as single
 * tiles, each longest first onto the least loaded block. */
static double longest_first_reference(const fa_tile_order *o, int s, int bm, int bn) {
  const uint32_t steps = fa_tile_steps(o), per = fa_tile_step_tiles(o);
  const uint32_t cut = steps / kGrid >= 1 ? (steps / kGrid - 1) * kGrid : 0;
  static double singles[kMaxSingles];
  double load[kGrid] = {0}, total = 0, most = 0;
  int n_singles = 0;
  for (uint32_t b = 0; b < kGrid; ++b) {
    const uint32_t n = fa_block_steps(steps, b, kGrid);
    for (uint32_t k = 0; k < n; ++k) {
      const uint32_t step = fa_round_step(k, b, kGrid);
      for (uint32_t i = 0; i < per; ++i) {
        const uint32_t slot = step * per + i;
        if (slot >= o->count) continue;
        const fa_tile_pos p = fa_tile_position(o, slot);
        if (p.m_block < 0) continue;
        const double c = tile_cost(1, p.m_block, s, bm, bn);
        total += c;
        if (step >= cut && n_singles < kMaxSingles)
          singles[n_singles++] = c;
        else
          load[b] += c;
      }
    }
  }
  qsort(singles, (size_t)n_singles, sizeof singles[0], by_cost_desc);
  for (int i = 0; i < n_singles; ++i) {
    int least = 0;
    for (int b = 1; b < kGrid; ++b)
      if (load[b] < load[least]) least = b;
    load[least] += singles[i];
  }
  for (int b = 0; b < kGrid; ++b) most = fmax(most, load[b]);
  return most / (total / kGrid);
}

/* Full rows (steps of one tile, every tile n key tiles): the busiest block
 * over the average when the last partial round's tiles are shared out by
 * keys as the kernel does it with num_splits 0 or > 1 (attn/tile_order.h,
 * fa_tile_split_of: 16+ key tiles, an idle share of 1/64 or more; the
 * pieces of fa_split_block_piece). A piece of a split tile costs its key
 * tiles + 0.4 (its fp32 partial instead of the epilogue) and, as the worst
 * case, every such block also merges once (+0.4: reading the parts back,
 * then the epilogue). Where the rule declines, or the head dim is above
 * 128 (no split there: FwdWgmmaTraits::kSplitMerge), the plain walk's
 * figure. */
static double shared_last_round(const fa_tile_order *o, int s, int bm, int bn, int d) {
  const uint32_t n = (uint32_t)ceil((double)s / bn);
  const double whole = n + 0.4, avg = (double)o->count * whole / kGrid;
  const fa_tile_split sp = fa_tile_split_of(o, kGrid, n);
  if (sp.tiles == 0 || d > 128) return busiest(o, 0, s, bm, bn);
  double most = 0;
  for (uint32_t b = 0; b < kGrid; ++b) {
    double load = (double)(sp.first / kGrid) * whole;
    int merges = 0;
    for (uint32_t j = 0; j < fa_split_block_pieces(&sp, b); ++j) {
      const fa_split_piece pc = fa_split_block_piece(&sp, b, j);
      load += (double)(pc.hi - pc.lo) + 0.4;
      merges |= pc.count > 1;
    }
    most = fmax(most, load + 0.4 * merges);
  }
  return most / avg;
}

/* The floor of whole key tiles: the call's key tiles over the grid, rounded
 * up, over their average (whatever the walk, some block holds that many;
 * the epilogue's 0.4 left out). d256 s512 causal: 2,560 on 132 blocks, 20
 * over 19.39 (fifty-second session). */
static double key_tile_floor(int causal, int m_tiles, int batch, int heads, int s, int bm, int bn) {
  double keys = 0;
  for (int m = 0; m < m_tiles; ++m) keys += tile_key_tiles(causal, m, s, bm, bn);
  keys *= (double)batch * heads;
  return ceil(keys / kGrid) / (keys / kGrid);
}

static void row(const char *name, int d, int batch, int heads, int s, int causal, int bm, int bn) {
  const int m_tiles = (s + bm - 1) / bm;
  const fa_tile_order steps_only = fa_tile_order_dense(m_tiles, batch, (uint32_t)heads, causal);
  fa_tile_order tail = steps_only;
  tail.tile_kv_bytes = fa_tile_kv_bytes((uint32_t)bm, (uint32_t)d); /* as the kernel sets it */
  fa_tile_order_tail(&tail, kGrid);
  printf("%-20s key-tile floor %.3f, %6.2f rounds of steps: busiest / average %.3f", name,
         key_tile_floor(causal, m_tiles, batch, heads, s, bm, bn), (double)fa_tile_steps(&steps_only) / kGrid,
         busiest(&steps_only, causal, s, bm, bn));
  if (!causal) printf(", last round shared by keys %.3f", shared_last_round(&steps_only, s, bm, bn, d));
  if (causal)
    printf(", with the tail %.3f (%u units of %u tiles, %u of them a lead head by head%s; last two rounds longest "
           "first: %.3f)",
           busiest(&tail, causal, s, bm, bn), tail.tail_units, tail.tail_n, tail.tail_lead_units,
           tail.tail_by_head ? ", the rest head by head" : "",
           longest_first_reference(&steps_only, s, bm, bn));
  printf("\n");
}

/* --blocks: every block's work tiles and key tiles under the kernel's walk
 * (head_dim: the tail's order, fa_tile_tail_by_head). */
/* The walk as the kernel lists it on kGrid blocks (with the tail where
 * causal). */
static fa_tile_order kernel_walk(int causal, int heads, int batch, int s, int bm, int head_dim) {
  const int m_tiles = (s + bm - 1) / bm;
  fa_tile_order o = fa_tile_order_dense(m_tiles, batch, (uint32_t)heads, causal);
  o.tile_kv_bytes = fa_tile_kv_bytes((uint32_t)bm, (uint32_t)head_dim);
  if (causal) fa_tile_order_tail(&o, kGrid);
  return o;
}

static int print_blocks(int causal, int heads, int batch, int s, int bm, int bn, int head_dim) {
  const fa_tile_order o = kernel_walk(causal, heads, batch, s, bm, head_dim);
  for (uint32_t b = 0; b < kGrid; ++b) {
    double key_tiles;
    const int tiles = block_work(&o, b, causal, s, bm, bn, &key_tiles);
    printf("%u %d %.0f\n", b, tiles, key_tiles);
  }
  return 0;
}

/* --resident: work tiles whose first K/V tile is the one the block's tile
 * before ended on. */
static int print_resident(int causal, int heads, int batch, int s, int bm, int bn, int head_dim) {
  const fa_tile_order o = kernel_walk(causal, heads, batch, s, bm, head_dim);
  long visits = 0, resident = 0;
  for (uint32_t b = 0; b < kGrid; ++b) {
    const uint32_t n = fa_block_tiles(&o, b, kGrid), pairs = fa_block_pair_steps(&o, b, kGrid);
    int64_t last = -1; /* (batch, head, key tile) of the tile before's last key tile */
    for (uint32_t e = 0; e < n; ++e) {
      const fa_tile_pos p = fa_block_tile(&o, b, kGrid, pairs, e);
      if (p.m_block < 0) continue;
      const int key_tiles = (int)tile_key_tiles(causal, p.m_block, s, bm, bn);
      const int64_t place = ((int64_t)p.b * heads + p.head) * 65536;
      visits += key_tiles;
      resident += last == place; /* every walk here starts a tile at key tile 0 */
      last = place + key_tiles - 1;
    }
  }
  printf("%ld of %ld key-tile visits start on the K/V tile before (%.1f%%)\n", resident, visits,
         visits ? 100.0 * (double)resident / (double)visits : 0.0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 9 && strcmp(argv[1], "--resident") == 0)
    return print_resident(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]),
                          atoi(argv[8]));
  if (argc == 9 && strcmp(argv[1], "--blocks") == 0)
    return print_blocks(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]),
                        atoi(argv[8]));
  if (argc != 1) {
    fprintf(stderr, "usage: tile_balance [--blocks|--resident CAUSAL HEADS BATCH SEQLEN BLOCK_M BLOCK_N HEAD_DIM]\n");
    return 2;
  }
  char name[64];
  for (int s = 512; s <= 16384; s *= 2) {
    const int batch = 16384 / s;
    /* d64: mask none 192 x 128; causal 128 x 128 below 2048 keys, 192 x 128 from 2048 */
    snprintf(name, sizeof name, "d64 s%d full", s);
    row(name, 64, batch, 32, s, 0, 192, 128);
    snprintf(name, sizeof name, "d64 s%d causal", s);
    row(name, 64, batch, 32, s, 1, s < 2048 ? 128 : 192, 128);
    /* d128: 128 x 128; mask none 128 x 176 from 8192 keys */
    snprintf(name, sizeof name, "d128 s%d full", s);
    row(name, 128, batch, 16, s, 0, 128, s < 8192 ? 128 : 176);
    snprintf(name, sizeof name, "d128 s%d causal", s);
    row(name, 128, batch, 16, s, 1, 128, 128);
    /* d256: 128 x 128 below 1024 keys (fifty-first session), 128 x 64 from 1024 */
    snprintf(name, sizeof name, "d256 s%d full", s);
    row(name, 256, batch, 8, s, 0, 128, s < 1024 ? 128 : 64);
    snprintf(name, sizeof name, "d256 s%d causal", s);
    row(name, 256, batch, 8, s, 1, 128, s < 1024 ? 128 : 64);
  }
  return 0;
}
