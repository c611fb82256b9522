/*
 * test_decode.c - attention over KV caches: paged (any page size) and
 * contiguous caches, append, split-KV and the public combine, GQA packing,
 * against the double-precision reference (tests/reference.c) on gathered
 * K/V. One case per kernel of the decode family (on a GPU), per "local"
 * mma and wgmma kernel (on a GPU; wgmma declines the page sizes its TMA
 * boxes cannot tile) and per "local" CPU kernel (everywhere), each run over
 * every scenario below; plus
 * batch invariance with num_splits = 1, a CUDA-graph replay with new
 * lengths and tables, a cache pool over 2^31 elements, fa_combine, and bad
 * input; and the combine job of the split layout (partials by sequence,
 * the long sequences of a pair skipped), on the CPU and the GPU.
 *
 *   test_decode [FILTER]    run the cases whose name contains FILTER
 *   FA_TEST_SEED=N          reproduce a run (the seed is printed first)
 *
 * Every run poisons what the call must not touch with NaN: out rows outside
 * the sequences, lse entries, every cache row no sequence uses (unused
 * pages, the tail of each last page, table columns past the last page hold
 * garbage ids), and checks that the result is finite and exact where it must
 * be, that the cache changed exactly where the append wrote, and nothing else.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cuda_runtime_api.h>

#include "cuda/combine.h"
#include "flashattn.h"
#include "reference.h"
#include "test_util.h"

#define TOL_BF16 1e-2
#define TOL_FP16 2e-3
#define LSE_ABS_TOL 1e-3
#define LSE_REL_TOL 1e-4
#define MAX_B 400
#define GARBAGE_PAGE 0x7fff0000 /* in unused table columns */

/* ------------------------------------------------------------ cases */

typedef struct dcase {
  const char *name, *family, *arch_name;
  fa_backend backend;
  int arch, head_dim;
  fa_dtype dtype;
  fa_mask mask;
} dcase;

static const dcase k_all[] = {
#define FA_FWD_CASE(name, group, family, backend, arch, arch_name, head_dim, dtype, mask) \
  {#name, family, arch_name, backend, arch, head_dim, dtype, mask},
#include "../generated/test_cases.inc"
#undef FA_FWD_CASE
};

/* ------------------------------------------------------------ scenarios */

typedef struct scenario {
  const char *what;
  int batch, hq, hk;
  int lq[MAX_B];    /* query rows (= appended rows when appending) */
  int cache[MAX_B]; /* cache length before the call (seqused_k) */
  int page_size;    /* 0: contiguous varlen cache (cu_seqlens_k regions) */
  int append;
  int num_splits;
  int wl, wr;
  float softcap;
  int sinks, lse;
  int shuffle;      /* pages in random order */
  int share_prefix; /* sequence 1's first page is sequence 0's */
  int dense_q;      /* paged, or with dense_k: q dense [batch, lq[0], ...] (every lq equal) */
  int table_cols;   /* paged: table columns (0 = what the lengths need + 1) */
  int64_t pool_pages; /* paged: pages in the pool (0 = what the lengths need + 5) */
  int sm_count;       /* CUDA: through a context claiming this many SMs (0: the device's own, no context) */
  int dense_k;        /* contiguous, with dense_q: a dense cache [batch][cache + 4][hk][d], no seqused_k and no
                         cu_seqlens_k (every cache equal, no append) */
} scenario;

static const scenario k_scenarios[] = {
    {"decode, page 16, GQA 4/1 (packed rows), lse", 4, 8, 2, {1, 1, 1, 1}, {100, 33, 1, 64},
     16, 0, 0, -1, -1, 0.f, 0, 1, 1, 0, 0, 0, 0, 0, 0},
    {"page 1, shuffled, lengths 0 and 1, causal", 4, 4, 4, {1, 1, 1, 1}, {0, 1, 47, 5},
     1, 0, 0, -1, 0, 0.f, 0, 1, 1, 0, 0, 0, 0, 0, 0},
    {"page 3, GQA 3, spec decode 4 queries, causal, sinks", 3, 6, 2, {4, 4, 4}, {30, 31, 29},
     3, 0, 0, -1, 0, 0.f, 1, 1, 1, 0, 1, 0, 0, 0, 0},
    {"page 7, GQA 5, window starting mid-page, softcap", 2, 5, 1, {2, 3}, {60, 41},
     7, 0, 0, 11, 0, 20.f, 0, 1, 1, 0, 0, 0, 0, 0, 0},
    {"page 17, GQA 7, append crossing a page boundary", 3, 7, 1, {3, 1, 5}, {16, 33, 0},
     17, 1, 0, -1, 0, 0.f, 0, 1, 1, 0, 0, 0, 0, 0, 0},
    {"page 16, append exactly filling a page, shared prefix page", 2, 4, 2, {4, 2}, {28, 30},
     16, 1, 0, -1, 0, 0.f, 1, 1, 1, 1, 0, 0, 0, 0, 0},
    {"page 100, splits 7, sinks, lse", 2, 8, 2, {1, 2}, {700, 150},
     100, 0, 7, -1, 0, 0.f, 1, 1, 1, 0, 0, 0, 0, 0, 0},
    {"page 256 (larger than the sequences), splits 64 (> key blocks)", 3, 4, 1, {1, 1, 1}, {200, 17, 255},
     256, 0, 64, -1, -1, 0.f, 1, 1, 0, 0, 0, 0, 0, 0, 0},
    {"page 2, exact multiples and +-1, splits 2", 3, 2, 2, {1, 1, 1}, {64, 63, 65},
     2, 0, 2, -1, 0, 0.f, 0, 1, 1, 0, 0, 0, 0, 0, 0},
    {"contiguous varlen cache, append, causal, splits 3", 3, 8, 2, {2, 1, 3}, {90, 0, 41},
     0, 1, 3, -1, 0, 0.f, 0, 1, 0, 0, 0, 0, 0, 0, 0},
    {"contiguous, MQA 16/1 (two row tiles), window", 2, 16, 1, {2, 2}, {300, 129},
     0, 0, 0, 50, 0, 0.f, 0, 1, 0, 0, 0, 0, 0, 0, 0},
    {"page 16, chunked prefill 40 queries over a cache, causal", 2, 4, 2, {40, 9}, {64, 200},
     16, 0, 0, -1, 0, 0.f, 0, 1, 1, 0, 0, 0, 0, 0, 0},
    {"page 16, two 40-row chunks over long caches, splits 4 (partials by sequence), causal", 2, 4, 2, {40, 40},
     {1100, 1500}, 16, 0, 4, -1, 0, 0.f, 0, 1, 1, 0, 0, 0, 0, 0, 0},
    /* 10 x 2 units fill a context of 8 SMs (d64-d256: 8-24 block slots),
     * and a 17000-key cache makes the launch split by length
     * (fwd_decode_plan.h): that sequence in pieces, the others whole, one
     * of them empty */
    {"page 64, GQA 4/2, 10 sequences on 8 SMs, one 17000-key cache among short ones: splits by length, sinks", 10, 4,
     2, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {17000, 5, 300, 1, 40, 999, 0, 64, 128, 2000}, 64, 0, 0, -1, 0, 0.f, 1, 1, 1,
     0, 0, 0, 0, 8, 0},
    /* 24 x 2 units on a context of 2 SMs (4-6 block slots): with one
     * split the kernel without a plan runs a grid of many waves, each slot
     * taking blocks of empty caches, caches shorter than a tile and windows
     * that start mid-cache in turn */
    {"contiguous, GQA 8/2, 24 sequences on 2 SMs, window 200, causal: many waves", 24, 8, 2,
     {1, 2, 1, 3, 1, 1, 2, 1, 1, 1, 3, 1, 1, 2, 1, 1, 1, 1, 2, 1, 1, 3, 1, 1},
     {0, 1, 15, 16, 17, 300, 999, 40, 64, 65, 128, 250, 511, 512, 513, 7, 0, 33, 777, 1000, 90, 200, 201, 5}, 0, 0, 1,
     200, 0, 0.f, 0, 1, 0, 0, 0, 0, 0, 2, 0},
};
#define N_SCENARIOS (sizeof k_scenarios / sizeof k_scenarios[0])

/* Splits by length over many sequences: 200 (the plan's two-round form,
 * 256 keys sorted) and 400 (four rounds, 512 keys: every stage of
 * cuda/decode/pieces.cuh's block_sort_descending, in the warp, through shared
 * memory, between a thread's rounds). Caches of 0..60 keys, many equal
 * (ties keep sequence order), and two of 17000+ keys a third into the
 * batch and near its end: the long ones split and run first. On 8 SMs the
 * units exceed the block slots and each block plans (the block's plan at
 * two and four rounds, again at each slot's turnover); on a context
 * claiming 512 SMs they fit one wave and the tickets kernel plans
 * (fwd_decode.md "Tickets"). The 200 with softcap (no other by-length
 * case has it). */
static scenario many_sequences(int batch, int sm_count) {
  scenario sc;
  memset(&sc, 0, sizeof sc);
  if (sm_count <= 8)  /* units above the slots: each block plans */
    sc.what = batch > 256 ? "page 16, GQA 4/1, 400 sequences on 8 SMs, two 17000+ key caches among short ones"
                          : "page 16, GQA 4/1, 200 sequences on 8 SMs, two 17000+ key caches among short ones, softcap";
  else  /* one wave: the tickets kernel plans (fwd_decode.md "Tickets") */
    sc.what = batch > 256 ? "page 16, GQA 4/1, 400 sequences on 512 SMs (one wave), two 17000+ key caches"
                          : "page 16, GQA 4/1, 200 sequences on 512 SMs (one wave), two 17000+ key caches, softcap";
  sc.batch = batch, sc.hq = 4, sc.hk = 1;
  for (int b = 0; b < sc.batch; ++b) sc.lq[b] = 1, sc.cache[b] = (b * 37) % 61;
  sc.cache[batch / 3] = 17000, sc.cache[batch - 9] = 17500;
  sc.page_size = 16, sc.wl = -1, sc.wr = 0, sc.sinks = 1, sc.lse = 1, sc.shuffle = 1;
  sc.softcap = batch > 256 ? 0.f : 30.f; /* the by-length kernel's softcap instantiation too */
  sc.sm_count = sm_count;
  return sc;
}

/* Splits by length where the host splits too (a few sequences, the
 * longest of 16384+ keys: fwd_decode_family.c, test_dispatch checks the
 * rule): 6 sequences (the plan in each warp) and 40 (the block's plan), on
 * the device's own SMs, caches from 0 to 20000 keys. */
static scenario host_split_sequences(int batch) {
  scenario sc;
  memset(&sc, 0, sizeof sc);
  sc.what = batch <= 32 ? "page 16, GQA 4/1, 6 sequences, caches 0..20000: the host splits, by length (in warp)"
                        : "contiguous, GQA 4/1, 40 sequences, caches 0..18000: the host splits, by length (in block)";
  sc.batch = batch, sc.hq = 4, sc.hk = 1;
  for (int b = 0; b < sc.batch; ++b) sc.lq[b] = 1, sc.cache[b] = (b * 211) % 997;
  sc.cache[0] = 17000, sc.cache[batch / 2] = batch <= 32 ? 20000 : 18000, sc.cache[batch - 1] = 0;
  sc.page_size = batch <= 32 ? 16 : 0, sc.wl = -1, sc.wr = 0, sc.sinks = 1, sc.lse = 1, sc.shuffle = batch <= 32;
  return sc;
}

/* `batch` equal caches of `keys` keys, one query each, GQA 4/1, causal,
 * with LSE, on a context of 8 SMs (16-24 block slots). */
static scenario equal_caches(const char *what, int batch, int keys) {
  scenario sc;
  memset(&sc, 0, sizeof sc);
  sc.what = what;
  sc.batch = batch, sc.hq = 4, sc.hk = 1;
  for (int b = 0; b < sc.batch; ++b) sc.lq[b] = 1, sc.cache[b] = keys;
  sc.wl = -1, sc.wr = 0, sc.lse = 1;
  sc.sm_count = 8;
  return sc;
}

/* Equal caches whose pieces leave first-wave slots spare: 7 sequences of
 * 17000 keys on 8 SMs (16 or 24 slots: 2 or 3 pieces each, 14 or 21 in
 * all). The plan in warps spreads the spare blocks over the second half of
 * the wave (fa_decode_block_piece): pieces past the first spare block sit
 * one or more blocks later than their index. */
static scenario equal_spread_sequences(void) {
  scenario sc = equal_caches("page 16, GQA 4/1, 7 sequences of 17000 keys on 8 SMs: spare slots spread", 7, 17000);
  sc.page_size = 16, sc.shuffle = 1;
  return sc;
}

/* Equal caches whose units fill one wave of 2 blocks an SM (16 on 8 SMs):
 * where shared memory allows 3 an SM (d64), the plan takes 2 and its
 * blocks ask for more shared memory (fwd_decode_family.c
 * plan_blocks_per_sm); 16 pieces, one a sequence. */
static scenario two_an_sm_sequences(void) {
  return equal_caches("contiguous, GQA 4/1, 16 sequences of 17000 keys on 8 SMs: the plan at 2 blocks an SM", 16,
                      17000);
}

/* A dense call (q and cache dense, no seqused_k): every cache holds
 * seqlen_k keys and the host knows it, so the family splits uniformly, not
 * by length (fwd_decode_family.c caches_known_equal), though the caches
 * reach 16384 keys: 3 sequences of 17000 keys on 8 SMs. */
static scenario dense_cache_sequences(void) {
  scenario sc = equal_caches(
      "dense q and cache (no seqused_k), GQA 4/1, 3 sequences of 17000 keys on 8 SMs: a uniform split", 3, 17000);
  sc.sinks = 1;
  sc.dense_q = 1, sc.dense_k = 1;
  return sc;
}

/* ------------------------------------------------------------ one problem */

typedef struct problem {
  const scenario *sc;
  int d;
  fa_dtype dtype;
  int64_t keys[MAX_B]; /* keys attended: cache + appended */
  int32_t cu_q[MAX_B + 1], cu_k[MAX_B + 1], seqused[MAX_B];
  int64_t total_q;
  /* cache: paged pool [num_pages][ps][hk][d], or contiguous [total_k][hk][d] */
  int paged, ps, max_pages, bt_stride;
  int64_t num_pages, cache_rows, total_k;
  int32_t *table;
  uint16_t *k, *v, *k0, *v0;  /* after / before the call (host) */
  uint16_t *q, *k_new, *v_new;
  uint16_t *out;
  float *lse, *sinks;
  size_t n_cache, n_q, n_new, n_out, n_lse;
} problem;

static int64_t kv_row(const problem *p, int b, int64_t j) {
  if (!p->paged) return p->cu_k[b] + j;
  return (int64_t)p->table[b * p->bt_stride + j / p->ps] * p->ps + j % p->ps;
}

static void *xalloc(tu_pool *pool, size_t bytes) {
  void *ptr = tu_pool_host(pool, bytes ? bytes : 1);
  if (ptr == NULL) fail_msg("out of host memory (%zu bytes)", bytes);
  return ptr;
}

/* Lay out and fill one problem (host memory). Each sequence's data (cache,
 * queries, new rows) comes from its own generator, so that sequence 0 gets
 * the same numbers whatever else is in the batch (batch invariance). */
static void build(problem *p, const scenario *sc, int d, fa_dtype dtype, tu_rng *rng, tu_pool *pool) {
  const int hk = sc->hk, hq = sc->hq;
  const uint64_t base = tu_rng_next(rng);
  tu_rng seq_rng[MAX_B];
  for (int b = 0; b < MAX_B; ++b) seq_rng[b] = tu_rng_make(base + 0x9e3779b97f4a7c15ull * (uint64_t)(b + 1));
  tu_rng page_rng = tu_rng_make(base ^ 0x5bd1e995u);
  memset(p, 0, sizeof *p);
  p->sc = sc, p->d = d, p->dtype = dtype;
  p->paged = sc->page_size > 0;
  p->ps = sc->page_size;
  for (int b = 0; b < sc->batch; ++b) {
    p->keys[b] = sc->cache[b] + (sc->append ? sc->lq[b] : 0);
    p->seqused[b] = sc->cache[b];
    p->cu_q[b + 1] = p->cu_q[b] + sc->lq[b];
  }
  p->total_q = p->cu_q[sc->batch] + 3; /* padding rows: must stay untouched */
  if (p->paged) {
    int64_t need = 0;
    for (int b = 0; b < sc->batch; ++b) {
      const int pages = (int)((p->keys[b] + p->ps - 1) / p->ps);
      if (pages > p->max_pages) p->max_pages = pages;
      need += pages;
    }
    if (p->max_pages == 0) p->max_pages = 1;
    p->max_pages += 1; /* a column no sequence uses */
    p->num_pages = need + 5; /* pages no sequence uses */
    /* A fixed geometry (CUDA-graph replays keep the captured one). */
    if (sc->table_cols) {
      if (sc->table_cols < p->max_pages - 1) fail_msg("%s: table_cols %d < %d pages", sc->what, sc->table_cols, p->max_pages - 1);
      p->max_pages = sc->table_cols;
    }
    if (sc->pool_pages) {
      if (sc->pool_pages < need) fail_msg("%s: pool_pages %lld < %lld", sc->what, (long long)sc->pool_pages, (long long)need);
      p->num_pages = sc->pool_pages;
    }
    p->bt_stride = p->max_pages + 2;
    p->table = (int32_t *)xalloc(pool, (size_t)sc->batch * p->bt_stride * 4);
    for (int i = 0; i < sc->batch * p->bt_stride; ++i) p->table[i] = GARBAGE_PAGE - i;
    /* Page ids in order or shuffled; sequence 1 may start with sequence 0's first page. */
    int32_t *ids = (int32_t *)xalloc(pool, (size_t)p->num_pages * 4);
    for (int64_t i = 0; i < p->num_pages; ++i) ids[i] = (int32_t)i;
    if (sc->shuffle)
      for (int64_t i = p->num_pages - 1; i > 0; --i) {
        const int64_t j = (int64_t)(tu_rng_next(&page_rng) % (uint64_t)(i + 1));
        const int32_t t = ids[i];
        ids[i] = ids[j], ids[j] = t;
      }
    int64_t next = 0;
    for (int b = 0; b < sc->batch; ++b)
      for (int64_t c = 0; c < (p->keys[b] + p->ps - 1) / p->ps; ++c)
        p->table[b * p->bt_stride + c] = (b == 1 && c == 0 && sc->share_prefix) ? p->table[0] : ids[next++];
    p->cache_rows = p->num_pages * p->ps;
  } else {
    for (int b = 0; b < sc->batch; ++b) p->cu_k[b + 1] = p->cu_k[b] + (int32_t)p->keys[b] + 4; /* 4 spare rows */
    p->total_k = p->cu_k[sc->batch];
    p->cache_rows = p->total_k;
  }
  p->n_cache = (size_t)(p->cache_rows * hk * d);
  p->k = (uint16_t *)xalloc(pool, p->n_cache * 2);
  p->v = (uint16_t *)xalloc(pool, p->n_cache * 2);
  tu_poison16(p->k, p->n_cache);
  tu_poison16(p->v, p->n_cache);
  /* The cache rows before the call: shared pages get sequence 0's data. */
  for (int b = 0; b < sc->batch; ++b)
    for (int64_t j = 0; j < sc->cache[b]; ++j) {
      if (b == 1 && sc->share_prefix && j < p->ps) continue;
      const int64_t r = kv_row(p, b, j);
      tu_fill_random(p->k + r * hk * d, (size_t)hk * d, dtype, 1.0, &seq_rng[b]);
      tu_fill_random(p->v + r * hk * d, (size_t)hk * d, dtype, 1.0, &seq_rng[b]);
    }
  p->k0 = (uint16_t *)xalloc(pool, p->n_cache * 2);
  p->v0 = (uint16_t *)xalloc(pool, p->n_cache * 2);
  memcpy(p->k0, p->k, p->n_cache * 2);
  memcpy(p->v0, p->v, p->n_cache * 2);
  p->n_q = (size_t)(p->total_q * hq * d);
  p->q = (uint16_t *)xalloc(pool, p->n_q * 2);
  tu_poison16(p->q, p->n_q);
  for (int b = 0; b < sc->batch; ++b)
    tu_fill_random(p->q + (size_t)p->cu_q[b] * hq * d, (size_t)sc->lq[b] * hq * d, dtype, 1.0, &seq_rng[b]);
  p->n_new = (size_t)(p->total_q * hk * d);
  if (sc->append) {
    p->k_new = (uint16_t *)xalloc(pool, p->n_new * 2);
    p->v_new = (uint16_t *)xalloc(pool, p->n_new * 2);
    tu_poison16(p->k_new, p->n_new);
    tu_poison16(p->v_new, p->n_new);
    for (int b = 0; b < sc->batch; ++b) {
      const size_t at = (size_t)p->cu_q[b] * hk * d, n = (size_t)sc->lq[b] * hk * d;
      tu_fill_random(p->k_new + at, n, dtype, 1.0, &seq_rng[b]);
      tu_fill_random(p->v_new + at, n, dtype, 1.0, &seq_rng[b]);
    }
  }
  p->n_out = p->n_q;
  p->out = (uint16_t *)xalloc(pool, p->n_out * 2);
  tu_poison16(p->out, p->n_out);
  p->n_lse = (size_t)(hq * p->total_q);
  p->lse = (float *)xalloc(pool, p->n_lse * 4);
  tu_poison32(p->lse, p->n_lse);
  p->sinks = (float *)xalloc(pool, (size_t)hq * 4);
  tu_rng sink_rng = tu_rng_make(base ^ 0xa5a5a5a5u);
  for (int h = 0; h < hq; ++h) p->sinks[h] = (float)(3.0 * tu_rng_uniform(&sink_rng) - 1.0);
}

/* Device (or host) pointers of a problem's buffers. */
typedef struct placed {
  void *k, *v, *q, *k_new, *v_new, *out, *lse, *sinks, *table, *cu_q, *cu_k, *seqused, *workspace;
} placed;

static void *to_dev(tu_pool *pool, const void *host, size_t bytes) {
  const char *why = NULL;
  void *dev = tu_pool_device(pool, bytes ? bytes : 16, &why);
  if (dev == NULL) fail_msg("cudaMalloc(%zu): %s", bytes, why);
  if (host != NULL && bytes > 0 && tu_to_device(dev, host, bytes, &why) != 0) fail_msg("cudaMemcpy: %s", why);
  return dev;
}

static placed place(const problem *p, int cuda, tu_pool *pool) {
  placed d;
  memset(&d, 0, sizeof d);
  if (!cuda) {
    d.k = p->k, d.v = p->v, d.q = p->q, d.k_new = p->k_new, d.v_new = p->v_new, d.out = p->out, d.lse = p->lse;
    d.sinks = p->sinks, d.table = p->table, d.cu_q = (void *)p->cu_q, d.cu_k = (void *)p->cu_k;
    d.seqused = (void *)p->seqused;
    return d;
  }
  d.k = to_dev(pool, p->k, p->n_cache * 2);
  d.v = to_dev(pool, p->v, p->n_cache * 2);
  d.q = to_dev(pool, p->q, p->n_q * 2);
  if (p->k_new) d.k_new = to_dev(pool, p->k_new, p->n_new * 2), d.v_new = to_dev(pool, p->v_new, p->n_new * 2);
  d.out = to_dev(pool, p->out, p->n_out * 2);
  d.lse = to_dev(pool, p->lse, p->n_lse * 4);
  d.sinks = to_dev(pool, p->sinks, (size_t)p->sc->hq * 4);
  if (p->table) d.table = to_dev(pool, p->table, (size_t)p->sc->batch * p->bt_stride * 4);
  d.cu_q = to_dev(pool, p->cu_q, sizeof p->cu_q);
  d.cu_k = to_dev(pool, p->cu_k, sizeof p->cu_k);
  d.seqused = to_dev(pool, p->seqused, sizeof p->seqused);
  return d;
}

static fa_fwd_params params_of(const problem *p, const placed *d, fa_backend backend, int num_splits,
                               fa_stream_t stream) {
  const scenario *sc = p->sc;
  fa_fwd_params prm = fa_fwd_params_default();
  prm.backend = backend;
  prm.dtype = p->dtype;
  prm.batch = sc->batch;
  prm.num_heads_q = sc->hq;
  prm.num_heads_k = sc->hk;
  prm.head_dim = p->d;
  int max_lq = 0;
  int64_t max_keys = 0;
  for (int b = 0; b < sc->batch; ++b) {
    if (sc->lq[b] > max_lq) max_lq = sc->lq[b];
    if (p->keys[b] > max_keys) max_keys = p->keys[b];
  }
  if (sc->dense_q) {
    prm.max_seqlen_q = sc->lq[0];
  } else {
    prm.cu_seqlens_q = (const int32_t *)d->cu_q;
    prm.total_q = p->total_q;
    prm.max_seqlen_q = max_lq;
  }
  prm.q = d->q;
  prm.k = d->k;
  prm.v = d->v;
  prm.out = d->out;
  prm.seqused_k = sc->dense_k ? NULL : (const int32_t *)d->seqused;
  if (sc->dense_k) {
    /* The varlen regions are equal (cache + 4 spare rows): a dense cache. */
    prm.k_batch_stride = prm.v_batch_stride = (int64_t)(p->cu_k[1] - p->cu_k[0]) * sc->hk * p->d;
    prm.max_seqlen_k = (int32_t)p->keys[0];
  } else if (p->paged) {
    prm.block_table = (const int32_t *)d->table;
    prm.block_table_stride = p->bt_stride;
    prm.max_pages_per_seq = p->max_pages;
    prm.page_size = p->ps;
    prm.num_pages = p->num_pages;
    prm.max_seqlen_k = (int32_t)max_keys;
  } else {
    /* Contiguous: varlen regions; the dense-q scenario still uses them. */
    prm.cu_seqlens_k = (const int32_t *)d->cu_k;
    prm.total_k = p->total_k;
    int64_t cap = 0;
    for (int b = 0; b < sc->batch; ++b)
      if (p->cu_k[b + 1] - p->cu_k[b] > cap) cap = p->cu_k[b + 1] - p->cu_k[b];
    prm.max_seqlen_k = (int32_t)cap;
  }
  if (sc->append) prm.k_new = d->k_new, prm.v_new = d->v_new;
  prm.window_left = sc->wl;
  prm.window_right = sc->wr;
  prm.softcap = sc->softcap;
  prm.sinks = sc->sinks ? (const float *)d->sinks : NULL;
  prm.lse = sc->lse ? (float *)d->lse : NULL;
  prm.num_splits = num_splits;
  prm.stream = stream;
  return prm;
}

/* The keys of sequence b after the call, gathered in order (double). */
static void gather_keys(const problem *p, int b, const uint16_t *cache, const uint16_t *fresh, double *dst) {
  const int hk = p->sc->hk, d = p->d;
  for (int64_t j = 0; j < p->keys[b]; ++j)
    for (int e = 0; e < hk * d; ++e) {
      const uint16_t bits = j < p->sc->cache[b] ? cache[kv_row(p, b, j) * hk * d + e]
                                                : fresh[(p->cu_q[b] + j - p->sc->cache[b]) * hk * d + e];
      dst[j * hk * d + e] = tu_half_to_double(bits, p->dtype);
    }
}

/* Where row r (counted over the packed query rows) of head h has its lse:
 * varlen [heads][total_q], dense [batch][heads][seqlen_q]. */
static int64_t lse_index(const problem *p, int64_t r, int h) {
  if (!p->sc->dense_q) return (int64_t)h * p->total_q + r;
  const int64_t lq = p->sc->lq[0], b = r / lq;
  return (b * p->sc->hq + h) * lq + r % lq;
}

typedef struct stats {
  double worst_out, worst_lse;
  int runs, split_runs; /* split_runs: pairs whose decode part split (fa_fwd_query_dispatch) */
  int declined;         /* wgmma: page sizes its TMA boxes cannot tile (FA_ERR_UNSUPPORTED, with the reason) */
} stats;

/* Compare out / lse / cache with the reference; everything else untouched. */
static void check(const problem *p, const char *what, stats *st, tu_pool *pool) {
  const scenario *sc = p->sc;
  const int hq = sc->hq, hk = sc->hk, d = p->d;
  int64_t rows_q = 0, rows_k = 0;
  for (int b = 0; b < sc->batch; ++b) rows_q += sc->lq[b], rows_k += p->keys[b];
  double *qr = (double *)xalloc(pool, (size_t)(rows_q * hq * d + 1) * 8);
  double *kr = (double *)xalloc(pool, (size_t)(rows_k * hk * d + 1) * 8);
  double *vr = (double *)xalloc(pool, (size_t)(rows_k * hk * d + 1) * 8);
  double *outr = (double *)xalloc(pool, (size_t)(rows_q * hq * d + 1) * 8);
  double *lser = (double *)xalloc(pool, (size_t)(rows_q * hq + 1) * 8);
  int64_t *vis = (int64_t *)xalloc(pool, (size_t)(rows_q * hq + 1) * 8);
  double sinks[64];
  int64_t lq64[MAX_B], lk64[MAX_B], koff = 0;
  for (int b = 0; b < sc->batch; ++b) {
    lq64[b] = sc->lq[b], lk64[b] = p->keys[b];
    gather_keys(p, b, p->k0, p->k_new, kr + koff * hk * d);
    gather_keys(p, b, p->v0, p->v_new, vr + koff * hk * d);
    koff += p->keys[b];
  }
  for (size_t i = 0; i < (size_t)(rows_q * hq * d); ++i) qr[i] = tu_half_to_double(p->q[i], p->dtype);
  for (int h = 0; h < hq; ++h) sinks[h] = p->sinks[h];
  ref_problem rp;
  memset(&rp, 0, sizeof rp);
  rp.batch = sc->batch, rp.heads_q = hq, rp.heads_k = hk, rp.head_dim = d;
  rp.seqlen_q = lq64, rp.seqlen_k = lk64, rp.q = qr, rp.k = kr, rp.v = vr;
  rp.window_left = sc->wl, rp.window_right = sc->wr;
  rp.scale = 1.0 / sqrt((double)d);
  rp.softcap = sc->softcap;
  rp.sinks = sc->sinks ? sinks : NULL;
  ref_attention(&rp, outr, lser, vis);

  const double tol = p->dtype == FA_DTYPE_BF16 ? TOL_BF16 : TOL_FP16;
  double err2 = 0, norm2 = 0;
  unsigned char *owned = (unsigned char *)xalloc(pool, p->n_out);
  unsigned char *lse_owned = (unsigned char *)xalloc(pool, p->n_lse);
  memset(owned, 0, p->n_out);
  memset(lse_owned, 0, p->n_lse);
  for (int64_t r = 0; r < rows_q; ++r)
    for (int h = 0; h < hq; ++h) {
      const int64_t at = (r * hq + h) * d; /* q rows are packed from 0 */
      for (int e = 0; e < d; ++e) {
        const double got = tu_half_to_double(p->out[at + e], p->dtype), want = outr[at + e];
        owned[at + e] = 1;
        if (!isfinite(got))
          fail_msg("%s: out[row %lld, head %d, dim %d] = 0x%04x is not finite", what, (long long)r, h, e,
                   p->out[at + e]);
        if (vis[r * hq + h] == 0 && got != 0.0)
          fail_msg("%s: row %lld head %d sees no key but out = %g", what, (long long)r, h, got);
        err2 += (got - want) * (got - want), norm2 += want * want;
      }
      if (sc->lse) {
        const double got = p->lse[lse_index(p, r, h)], want = lser[r * hq + h];
        lse_owned[lse_index(p, r, h)] = 1;
        if (isinf(want) ? !(isinf(got) && got < 0) : !(fabs(got - want) <= LSE_ABS_TOL + LSE_REL_TOL * fabs(want)))
          fail_msg("%s: lse[head %d, row %lld] = %.9g, expected %.9g", what, h, (long long)r, got, want);
        if (!isinf(want) && fabs(got - want) > st->worst_lse) st->worst_lse = fabs(got - want);
      }
    }
  const double rel = norm2 > 0 ? sqrt(err2 / norm2) : sqrt(err2);
  if (rel > tol) fail_msg("%s: relative Frobenius error %.3g > %.3g", what, rel, tol);
  if (rel > st->worst_out) st->worst_out = rel;
  for (size_t e = 0; e < p->n_out; ++e)
    if (!owned[e] && !tu_is_poison16(p->out[e])) fail_msg("%s: out element %zu (a padding row) was written", what, e);
  for (size_t e = 0; e < p->n_lse; ++e)
    if (!lse_owned[e] && !tu_is_poison32(p->lse[e])) fail_msg("%s: lse element %zu (no row's) was written", what, e);
  /* The cache: appended rows where they belong, every other row as it was. */
  for (int b = 0; b < sc->batch && sc->append; ++b)
    for (int i = 0; i < sc->lq[b]; ++i) {
      const int64_t r = kv_row(p, b, sc->cache[b] + i);
      const int64_t src = (int64_t)(p->cu_q[b] + i) * hk * d;
      if (memcmp(p->k + r * hk * d, p->k_new + src, (size_t)hk * d * 2) != 0 ||
          memcmp(p->v + r * hk * d, p->v_new + src, (size_t)hk * d * 2) != 0)
        fail_msg("%s: appended row %d of sequence %d is not at cache position %d", what, i, b, sc->cache[b] + i);
      memcpy(p->k0 + r * hk * d, p->k_new + src, (size_t)hk * d * 2); /* expected after the call */
      memcpy(p->v0 + r * hk * d, p->v_new + src, (size_t)hk * d * 2);
    }
  if (memcmp(p->k, p->k0, p->n_cache * 2) != 0 || memcmp(p->v, p->v0, p->n_cache * 2) != 0)
    fail_msg("%s: the call changed cache rows it does not own", what);
  st->runs++;
}

/* ------------------------------------------------------------ the cases */

typedef struct cstate {
  const dcase *c;
  uint64_t seed;
  tu_device device;
} cstate;

static size_t kernel_index(const char *name) {
  for (size_t i = 0; i < fa_kernel_count(); ++i) {
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    if (fa_kernel_info_get(i, &info) == FA_OK && strcmp(info.name, name) == 0) return i;
  }
  fail_msg("kernel %s is not in the table", name);
  return 0;
}

static void skip_without_device(const cstate *s) {
  char why[512];
  if (s->c->backend == FA_BACKEND_CUDA && !tu_arch_runs_on(s->c->arch_name, s->c->arch, &s->device, why, sizeof why)) {
    print_message("skipped %s: %s\n", s->c->name, why);
    skip();
  }
}

/* A scenario with sm_count: the call goes through a context of the
 * current device claiming that many SMs (a smaller GPU, for the splits'
 * rules; the library reads the context and trusts it). *ctx must outlive
 * the call. */
static void claim_sm_count(fa_fwd_params *prm, fa_context *ctx, const scenario *sc) {
  if (sc->sm_count <= 0) return;
  fa_message msg;
  if (fa_context_init(ctx, FA_BACKEND_CUDA, FA_CURRENT_DEVICE, &msg) != FA_OK)
    fail_msg("%s: fa_context_init: %s", sc->what, msg.text);
  ctx->sm_count = sc->sm_count;
  prm->context = ctx;
}

/* Run one scenario with one split setting: build, place, call, copy back,
 * check. must_split: the decode family must also split this call (by
 * length, or uniformly where the host knows the caches are equal: its
 * plan's split count above 1 where the units fill the SMs). */
static void run_checked(const cstate *s, size_t kernel, const scenario *sc, int num_splits, int must_split, tu_rng *rng,
                        stats *st) {
  const int cuda = s->c->backend == FA_BACKEND_CUDA;
  tu_pool pool;
  problem p;
  char what[400];
  fa_message msg;
  const char *why = NULL;
  tu_pool_init(&pool);
  build(&p, sc, s->c->head_dim, s->c->dtype, rng, &pool);
  placed d = place(&p, cuda, &pool);
  fa_stream_t stream = cuda ? tu_pool_stream(&pool, &why) : NULL;
  if (cuda && stream == NULL) fail_msg("cudaStreamCreate: %s", why);
  fa_fwd_params prm = params_of(&p, &d, s->c->backend, num_splits, stream);
  fa_context ctx;
  if (cuda) claim_sm_count(&prm, &ctx, sc);
  snprintf(what, sizeof what, "%s [%s] num_splits %d", s->c->name, sc->what, num_splits);
  size_t ws = 0;
  /* A declined page size first: then fa_fwd_workspace_size's own choice
   * (mma, in a build that has it) does not matter to this case. */
  if (kernel != SIZE_MAX && strcmp(s->c->family, "wgmma") == 0 &&
      fa_fwd_workspace_size_with_kernel(&prm, kernel, &ws, &msg) == FA_ERR_UNSUPPORTED) {
    st->declined++; /* a page size the wgmma family leaves to mma */
    tu_pool_release(&pool);
    return;
  }
  if (fa_fwd_workspace_size(&prm, &ws, &msg) != FA_OK) fail_msg("%s: fa_fwd_workspace_size: %s", what, msg.text);
  if (kernel != SIZE_MAX) {
    /* A forced kernel runs alone: where fa_fwd would pair it (prompt
     * chunks next to decode rows), the decode kernel then computes every
     * sequence and may need more than fa_fwd_workspace_size says. */
    size_t alone = 0;
    if (fa_fwd_workspace_size_with_kernel(&prm, kernel, &alone, &msg) != FA_OK)
      fail_msg("%s: fa_fwd_workspace_size_with_kernel: %s", what, msg.text);
    ws = alone;
  }
  if (kernel == SIZE_MAX && cuda) {
    /* A mixed batch: the query names both kernels of the pair, and the
     * worst case over bounds that hold this call covers it. */
    fa_fwd_dispatch_info di = FA_FWD_DISPATCH_INFO_INIT;
    fa_kernel_info k0 = FA_KERNEL_INFO_INIT, k1 = FA_KERNEL_INFO_INIT;
    if (fa_fwd_query_dispatch(&prm, &di, &msg) != FA_OK) fail_msg("%s: fa_fwd_query_dispatch: %s", what, msg.text);
    if (di.num_kernels != 2 || fa_kernel_info_get(di.kernel_index[0], &k0) != FA_OK ||
        fa_kernel_info_get(di.kernel_index[1], &k1) != FA_OK || strcmp(k0.family, "decode") != 0 ||
        strcmp(k1.family, "decode") == 0 || di.short_rows <= 0 || di.workspace_bytes != ws)
      fail_msg("%s: fa_fwd_query_dispatch: %d kernels, short_rows %d, workspace %zu (size query %zu)", what,
               di.num_kernels, di.short_rows, di.workspace_bytes, ws);
    st->split_runs += di.splits[0] > 1;
    fa_fwd_workspace_bounds b = fa_fwd_workspace_bounds_default();
    size_t worst = 0;
    b.backend = prm.backend, b.dtype = prm.dtype;
    b.num_heads_q = prm.num_heads_q, b.num_heads_k = prm.num_heads_k, b.head_dim = prm.head_dim;
    b.max_batch = prm.batch + 3, b.max_total_q = prm.total_q + 100;
    b.max_seqlen_q = prm.max_seqlen_q, b.max_seqlen_k = prm.max_seqlen_k + 1000;
    if (fa_fwd_workspace_size_max(&b, &worst, &msg) != FA_OK)
      fail_msg("%s: fa_fwd_workspace_size_max: %s", what, msg.text);
    if (ws > worst) fail_msg("%s: the call needs %zu bytes of workspace, the worst case says %zu", what, ws, worst);
  }
  if (ws > 0) {
    prm.workspace = cuda ? to_dev(&pool, NULL, ws) : xalloc(&pool, ws + 256);
    prm.workspace = (void *)(((uintptr_t)prm.workspace + 255) & ~(uintptr_t)255);
    prm.workspace_bytes = ws;
  }
  if (must_split && cuda && strcmp(s->c->family, "decode") == 0 && num_splits == 0) {
    /* With the workspace attached (the plan needs it). Units fill the SMs
     * (the host's count alone would be 1): a count above 1 is the plan by
     * length. */
    fa_fwd_dispatch_info di = FA_FWD_DISPATCH_INFO_INIT;
    if (fa_fwd_query_dispatch(&prm, &di, &msg) != FA_OK) fail_msg("%s: fa_fwd_query_dispatch: %s", what, msg.text);
    /* (what dispatch would choose: another arch's decode kernel, forced
     * here, plans by the same host rule) */
    if (di.kernel_index[0] == kernel && di.splits[0] <= 1)
      fail_msg("%s: not split (%d splits)", what, di.splits[0]);
  }
  /* kernel SIZE_MAX: let dispatch choose (a mixed batch runs as a pair). */
  const fa_status stt = kernel == SIZE_MAX ? fa_fwd(&prm, &msg) : fa_fwd_with_kernel(&prm, kernel, &msg);
  if (stt != FA_OK) fail_msg("%s: %s: %s", what, kernel == SIZE_MAX ? "fa_fwd" : "fa_fwd_with_kernel", msg.text);
  if (cuda) {
    if (tu_stream_sync(stream, &why) != 0) fail_msg("%s: %s", what, why);
    if (tu_to_host(p.out, d.out, p.n_out * 2, &why) || tu_to_host(p.lse, d.lse, p.n_lse * 4, &why) ||
        tu_to_host(p.k, d.k, p.n_cache * 2, &why) || tu_to_host(p.v, d.v, p.n_cache * 2, &why))
      fail_msg("%s: copy back: %s", what, why);
  }
  check(&p, what, st, &pool);
  tu_pool_release(&pool);
}

static void run_one(const cstate *s, size_t kernel, const scenario *sc, int num_splits, tu_rng *rng, stats *st) {
  run_checked(s, kernel, sc, num_splits, 0, rng, st);
}

static void test_decode_case(void **state) {
  const cstate *s = (const cstate *)*state;
  const size_t kernel = kernel_index(s->c->name);
  tu_rng rng = tu_rng_make(s->seed);
  stats st;
  memset(&st, 0, sizeof st);
  skip_without_device(s);
  for (size_t k = 0; k < N_SCENARIOS; ++k) {
    const scenario *sc = &k_scenarios[k];
    run_one(s, kernel, sc, sc->num_splits, &rng, &st);
    /* Every scenario also without splitting and with a forced count. */
    run_one(s, kernel, sc, 1, &rng, &st);
    if (k % 3 == 0) run_one(s, kernel, sc, 5, &rng, &st);
  }
  /* The plan by length is the CUDA decode kernel's (the CPU backend has no
   * splits to order): the many-sequence and host-split batches on the GPU
   * only. */
  if (s->c->backend == FA_BACKEND_CUDA) {
    for (int batch = 200; batch <= MAX_B; batch += 200)
      for (int sms = 8; sms <= 512; sms *= 64) {
        const scenario many = many_sequences(batch, sms);
        run_checked(s, kernel, &many, 0, 1, &rng, &st);
      }
    for (int batch = 6; batch <= 40; batch += 34) {
      const scenario few = host_split_sequences(batch);
      run_checked(s, kernel, &few, 0, 1, &rng, &st);
    }
    const scenario equal = equal_spread_sequences();
    run_checked(s, kernel, &equal, 0, 1, &rng, &st);
    const scenario two = two_an_sm_sequences();
    run_one(s, kernel, &two, 0, &rng, &st);
  }
  /* A dense call: the CPU backend too; on the GPU it must split (the
   * uniform count; test_dispatch checks that it is not by length). */
  const scenario dense = dense_cache_sequences();
  run_checked(s, kernel, &dense, 0, 1, &rng, &st);
  run_one(s, kernel, &dense, 1, &rng, &st);
  print_message("%-36s %2d runs (%d declined), worst error: out %.2e, lse abs %.2e\n", s->c->name, st.runs,
                st.declined, st.worst_out, st.worst_lse);
  if (st.runs == 0) fail_msg("%s: every scenario was declined", s->c->name);
}

/* ------------------------------------------------------------ batch invariance */

/* num_splits = 1: a sequence's bits do not depend on the other sequences
 * (their number, lengths, pages). Sequence 0 alone, then with company. */
static void test_batch_invariance(void **state) {
  const cstate *s = (const cstate *)*state;
  const int cuda = s->c->backend == FA_BACKEND_CUDA;
  const size_t kernel = kernel_index(s->c->name);
  skip_without_device(s);
  scenario alone = {"alone", 1, 8, 2, {1}, {3000}, 16, 0, 1, -1, 0, 0.f, 1, 1, 1, 0, 0, 0, 0, 0, 0};
  scenario crowd = {"crowd", 4, 8, 2, {1, 1, 1, 1}, {3000, 17, 9000, 1}, 16, 0, 1, -1, 0, 0.f, 1, 1, 1, 0, 0, 0, 0, 0,
                    0};
  uint16_t *first = NULL;
  for (int pass = 0; pass < 2; ++pass) {
    tu_rng rng = tu_rng_make(s->seed); /* the same data for sequence 0 in both */
    tu_pool pool;
    problem p;
    fa_message msg;
    const char *why = NULL;
    tu_pool_init(&pool);
    build(&p, pass ? &crowd : &alone, s->c->head_dim, s->c->dtype, &rng, &pool);
    placed d = place(&p, cuda, &pool);
    fa_stream_t stream = cuda ? tu_pool_stream(&pool, &why) : NULL;
    fa_fwd_params prm = params_of(&p, &d, s->c->backend, 1, stream);
    if (fa_fwd_with_kernel(&prm, kernel, &msg) != FA_OK) fail_msg("%s", msg.text);
    if (cuda && (tu_stream_sync(stream, &why) || tu_to_host(p.out, d.out, p.n_out * 2, &why)))
      fail_msg("%s", why);
    const size_t row = (size_t)8 * s->c->head_dim;
    if (pass == 0) {
      first = (uint16_t *)malloc(row * 2);
      memcpy(first, p.out, row * 2);
    } else if (memcmp(first, p.out, row * 2) != 0) {
      free(first);
      tu_pool_release(&pool);
      fail_msg("%s: sequence 0's output changed when other sequences joined the batch (num_splits 1)", s->c->name);
    }
    tu_pool_release(&pool);
  }
  free(first);
}

/* ------------------------------------------------------------ dispatch of a mixed batch */

/* A continuous batch through fa_fwd: decoding sequences and a prefill
 * chunk over a paged cache (the decode family takes the short sequences,
 * the mma family the long one, in one call), then the same over a
 * contiguous cache; every row against the reference. */
static void test_mixed_batch(void **state) {
  const cstate *s = (const cstate *)*state;
  static const scenario mixed[] = {
      {"mixed: 3 decoding + a 90-row chunk, page 16, causal", 4, 8, 2, {1, 1, 90, 1}, {700, 33, 300, 5},
       16, 0, 0, -1, 0, 0.f, 1, 1, 1, 0, 0, 0, 0, 0, 0},
      {"mixed: 2 decoding + a 70-row chunk, page 5, append, window", 3, 4, 4, {1, 70, 2}, {100, 200, 9},
       5, 1, 0, 64, 0, 0.f, 0, 1, 1, 0, 0, 0, 0, 0, 0},
      {"mixed: contiguous cache, 3 decoding + a 100-row chunk, causal", 4, 8, 2, {1, 100, 1, 1}, {64, 150, 3, 999},
       0, 0, 0, -1, 0, 0.f, 0, 1, 0, 0, 0, 0, 0, 0, 0},
      /* Split decode parts next to long sequences: partials by (sequence,
       * query row), 16 rows a sequence at GQA 4 (fwd_decode_plan.h). */
      {"mixed splits: 8 decoding (1-4 rows, one over no key) + a 150-row chunk mid-batch, page 16, splits 4", 9, 8,
       2, {1, 2, 1, 4, 1, 3, 150, 1, 1}, {1100, 900, 1300, 1024, 17, 1200, 200, 1000, 0},
       16, 0, 4, -1, 0, 0.f, 1, 1, 1, 0, 0, 0, 0, 0, 0},
      {"mixed splits: 5 decoding + a 70-row chunk, MHA (total_q below batch x 64), contiguous, splits 3, window", 6, 4,
       4, {1, 1, 70, 2, 1, 1}, {900, 40, 100, 1000, 800, 777}, 0, 0, 3, 300, 0, 0.f, 1, 1, 0, 0, 0, 0, 0, 0, 0},
      {"mixed splits: 3 decoding + chunks of 30 and 80 rows, page 5, append, splits 6, softcap", 5, 8, 2,
       {30, 1, 80, 2, 1}, {100, 1600, 50, 1555, 1700}, 5, 1, 6, -1, 0, 30.f, 1, 1, 1, 0, 0, 0, 0, 0, 0},
  };
  tu_rng rng = tu_rng_make(s->seed);
  stats st;
  memset(&st, 0, sizeof st);
  skip_without_device(s);
  for (size_t k = 0; k < sizeof mixed / sizeof mixed[0]; ++k)
    run_one(s, SIZE_MAX, &mixed[k], mixed[k].num_splits, &rng, &st);
  print_message("%-36s %2d runs through fa_fwd (%d with split decode parts), worst error: out %.2e\n", s->c->name,
                st.runs, st.split_runs, st.worst_out);
}

/* ------------------------------------------------------------ CUDA graphs */

/* Copy a problem's inputs (and its poisoned outputs) into buffers placed
 * for another problem of the same geometry. */
static void refill(const problem *p, const placed *d) {
  const char *why = NULL;
  if (tu_to_device(d->k, p->k, p->n_cache * 2, &why) || tu_to_device(d->v, p->v, p->n_cache * 2, &why) ||
      tu_to_device(d->q, p->q, p->n_q * 2, &why) || tu_to_device(d->out, p->out, p->n_out * 2, &why) ||
      tu_to_device(d->lse, p->lse, p->n_lse * 4, &why) ||
      tu_to_device(d->sinks, p->sinks, (size_t)p->sc->hq * 4, &why) ||
      tu_to_device(d->table, p->table, (size_t)p->sc->batch * p->bt_stride * 4, &why) ||
      tu_to_device(d->seqused, p->seqused, sizeof p->seqused, &why) ||
      (p->k_new && (tu_to_device(d->k_new, p->k_new, p->n_new * 2, &why) ||
                    tu_to_device(d->v_new, p->v_new, p->n_new * 2, &why))))
    fail_msg("refill: %s", why);
}

static void fetch(problem *p, const placed *d, fa_stream_t stream, const char *what) {
  const char *why = NULL;
  if (tu_stream_sync(stream, &why) || tu_to_host(p->out, d->out, p->n_out * 2, &why) ||
      tu_to_host(p->lse, d->lse, p->n_lse * 4, &why) || tu_to_host(p->k, d->k, p->n_cache * 2, &why) ||
      tu_to_host(p->v, d->v, p->n_cache * 2, &why))
    fail_msg("%s: %s", what, why);
}

/* Capture steps[0] into a CUDA graph once (a split cap of 8, max_seqlen_k
 * the table's capacity; through a context claiming steps[0].sm_count SMs
 * where set), then replay it for every step with that step's cache
 * lengths, block tables, queries and cache contents written into the same
 * buffers; every replay against the reference. Returns the workspace. */
static size_t replay_steps(const cstate *s, size_t kernel, const scenario *steps, size_t n, tu_rng *rng,
                           stats *st) {
  tu_pool pool;
  tu_pool_init(&pool);
  problem first;
  fa_message msg;
  const char *why = NULL;
  build(&first, &steps[0], s->c->head_dim, s->c->dtype, rng, &pool);
  placed d = place(&first, 1, &pool);
  fa_stream_t stream = tu_pool_stream(&pool, &why);
  if (stream == NULL) fail_msg("cudaStreamCreate: %s", why);
  fa_fwd_params prm = params_of(&first, &d, s->c->backend, 8, stream);
  prm.max_seqlen_k = first.max_pages * first.ps; /* a bound for every replay */
  fa_context ctx;
  claim_sm_count(&prm, &ctx, &steps[0]);
  size_t ws = 0;
  if (fa_fwd_workspace_size(&prm, &ws, &msg) != FA_OK) fail_msg("fa_fwd_workspace_size: %s", msg.text);
  if (ws) prm.workspace = to_dev(&pool, NULL, ws), prm.workspace_bytes = ws;

  cudaGraph_t graph = NULL;
  cudaGraphExec_t exec = NULL;
  cudaError_t err = cudaStreamBeginCapture((cudaStream_t)stream, cudaStreamCaptureModeThreadLocal);
  if (err != cudaSuccess) fail_msg("cudaStreamBeginCapture: %s", cudaGetErrorString(err));
  const fa_status call = fa_fwd_with_kernel(&prm, kernel, &msg);
  err = cudaStreamEndCapture((cudaStream_t)stream, &graph);
  if (call != FA_OK) fail_msg("%s: fa_fwd_with_kernel under capture: %s", s->c->name, msg.text);
  if (err != cudaSuccess) fail_msg("cudaStreamEndCapture: %s", cudaGetErrorString(err));
  err = cudaGraphInstantiate(&exec, graph, 0);
  if (err != cudaSuccess) fail_msg("cudaGraphInstantiate: %s", cudaGetErrorString(err));
  for (size_t k = 0; k < n; ++k) {
    problem next;
    problem *p = &first;
    if (k > 0) {
      build(&next, &steps[k], s->c->head_dim, s->c->dtype, rng, &pool);
      if (next.n_cache != first.n_cache || next.bt_stride != first.bt_stride || next.total_q != first.total_q)
        fail_msg("graph test: step %zu does not keep the captured geometry", k);
      refill(&next, &d);
      p = &next;
    }
    if ((err = cudaGraphLaunch(exec, (cudaStream_t)stream)) != cudaSuccess)
      fail_msg("cudaGraphLaunch: %s", cudaGetErrorString(err));
    char what[300];
    snprintf(what, sizeof what, "%s [%s]", s->c->name, steps[k].what);
    fetch(p, &d, stream, what);
    check(p, what, st, &pool);
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  tu_pool_release(&pool);
  return ws;
}

/* What a server does: capture one decoding step (append + attention) into
 * a CUDA graph once, then replay it with new cache lengths and tables. The
 * second graph splits by length (fwd_decode_plan.h: its units fill a
 * context of 8 SMs and the table holds 19200 keys): the long cache moves,
 * a second one appears, then none is long, all in one captured launch. */
static void test_graph_replay(void **state) {
  const cstate *s = (const cstate *)*state;
  skip_without_device(s);
  const size_t kernel = kernel_index(s->c->name);
  static const scenario steps[] = {
      {"graph capture: caches 1000/17/640/1", 4, 8, 2, {1, 1, 1, 1}, {1000, 17, 640, 1},
       16, 1, 8, -1, 0, 0.f, 1, 1, 1, 0, 0, 80, 300, 0, 0},
      {"graph replay: new lengths 3/1200/0/500 and tables", 4, 8, 2, {1, 1, 1, 1}, {3, 1200, 0, 500},
       16, 1, 8, -1, 0, 0.f, 1, 1, 1, 0, 0, 80, 300, 0, 0},
      {"graph replay: every sequence at 1279 (the table's capacity - 1)", 4, 8, 2, {1, 1, 1, 1},
       {1279, 1279, 0, 7}, 16, 1, 8, -1, 0, 0.f, 1, 1, 1, 0, 0, 80, 300, 0, 0},
  };
  static const scenario by_length[] = {
      {"graph capture on 8 SMs, by length: one cache of 17000 among short ones", 10, 4, 2,
       {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {17000, 5, 300, 1, 40, 999, 0, 64, 128, 2000}, 64, 1, 8, -1, 0, 0.f, 1, 1, 1, 0,
       0, 300, 700, 8, 0},
      {"graph replay on 8 SMs, by length: caches of 16500 and 18000, the first long one gone", 10, 4, 2,
       {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {3, 16500, 7, 0, 90, 200, 1, 64, 600, 18000}, 64, 1, 8, -1, 0, 0.f, 1, 1, 1, 0,
       0, 300, 700, 8, 0},
      {"graph replay on 8 SMs, by length: every cache short", 10, 4, 2, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
       {100, 5, 300, 1, 40, 999, 0, 64, 128, 200}, 64, 1, 8, -1, 0, 0.f, 1, 1, 1, 0, 0, 300, 700, 8, 0},
  };
  tu_rng rng = tu_rng_make(s->seed);
  stats st;
  memset(&st, 0, sizeof st);
  const size_t ws = replay_steps(s, kernel, steps, sizeof steps / sizeof steps[0], &rng, &st);
  const size_t ws_by_length = replay_steps(s, kernel, by_length, sizeof by_length / sizeof by_length[0], &rng, &st);
  print_message("%-36s captured twice, %d replays checked (workspace %zu B; by length %zu B)\n", s->c->name, st.runs,
                ws, ws_by_length);
}

/* ------------------------------------------------------------ 64-bit offsets */

/* A page pool of more than 2^31 elements per K and V, the sequences' pages
 * at its far end: page offsets need 64 bits. The small problem is built on
 * the host as usual and placed `base` pages into a large device pool. */
static void test_large_pool(void **state) {
  const cstate *s = (const cstate *)*state;
  skip_without_device(s);
  const size_t kernel = kernel_index(s->c->name);
  static const scenario sc = {"pool over 2^31 elements, pages at its end, append", 2, 8, 2, {1, 3}, {500, 130},
                              64, 1, 0, -1, 0, 0.f, 1, 1, 1, 0, 0, 0, 0, 0, 0};
  tu_rng rng = tu_rng_make(s->seed);
  tu_pool pool;
  tu_pool_init(&pool);
  problem p;
  fa_message msg;
  const char *why = NULL;
  stats st;
  memset(&st, 0, sizeof st);
  build(&p, &sc, s->c->head_dim, s->c->dtype, &rng, &pool);
  placed d = place(&p, 1, &pool);
  const int64_t page_elems = (int64_t)p.ps * sc.hk * p.d;
  const int64_t base = (((int64_t)1 << 31) + page_elems - 1) / page_elems + 1;
  const size_t big_bytes = (size_t)((base + p.num_pages) * page_elems * 2);
  void *big_k = tu_pool_device(&pool, big_bytes, &why), *big_v = big_k ? tu_pool_device(&pool, big_bytes, &why) : NULL;
  if (big_k == NULL || big_v == NULL) {
    print_message("skipped %s: two pools of %.1f GB do not fit: %s\n", s->c->name, big_bytes / 1e9, why);
    tu_pool_release(&pool);
    skip();
  }
  char *const k_at = (char *)big_k + base * page_elems * 2, *const v_at = (char *)big_v + base * page_elems * 2;
  int32_t *shifted = (int32_t *)xalloc(&pool, (size_t)sc.batch * p.bt_stride * 4);
  for (int i = 0; i < sc.batch * p.bt_stride; ++i) shifted[i] = p.table[i] + (int32_t)base;
  if (tu_to_device(k_at, p.k, p.n_cache * 2, &why) || tu_to_device(v_at, p.v, p.n_cache * 2, &why) ||
      tu_to_device(d.table, shifted, (size_t)sc.batch * p.bt_stride * 4, &why))
    fail_msg("%s", why);
  fa_stream_t stream = tu_pool_stream(&pool, &why);
  fa_fwd_params prm = params_of(&p, &d, s->c->backend, 0, stream);
  prm.k = big_k, prm.v = big_v, prm.num_pages = base + p.num_pages;
  size_t ws = 0;
  if (fa_fwd_workspace_size(&prm, &ws, &msg) != FA_OK) fail_msg("fa_fwd_workspace_size: %s", msg.text);
  if (ws) prm.workspace = to_dev(&pool, NULL, ws), prm.workspace_bytes = ws;
  if (fa_fwd_with_kernel(&prm, kernel, &msg) != FA_OK) fail_msg("%s: %s", s->c->name, msg.text);
  d.k = k_at, d.v = v_at; /* read back the region the sequences own */
  char what[300];
  snprintf(what, sizeof what, "%s [%s]", s->c->name, sc.what);
  fetch(&p, &d, stream, what);
  check(&p, what, &st, &pool);
  print_message("%-36s pages at element offset %.3g (> 2^31) read and appended correctly\n", s->c->name,
                (double)(base * page_elems));
  tu_pool_release(&pool);
}

/* ------------------------------------------------------------ the split layout's combine job */

/* The decode family's combine job (cuda/combine.h) over partials by
 * sequence, as a pair's short part leaves them: 5 sequences of 1, 3, 0, 40
 * and 2 query rows, Q = 4, so the 40-row one has no partials and is
 * skipped whole (the partner kernel writes it). Against the same partials
 * at their q rows (seq_part_rows 0), a double-precision merge, and the out
 * and lse entries of the long sequence and the padding rows, which must
 * stay as they were. Partial rows no sequence owns hold NaN (never read).
 * CPU: both layouts bit-identical. CUDA: fa_cuda_combine against the CPU. */
/* 37 parts (more than the 32 whose loads a lane issues at once: a second,
 * partial batch) and 144 columns (four 32-column warps and a half-empty
 * fifth). */
enum { CJ_B = 5, CJ_Q = 4, CJ_H = 2, CJ_D = 144, CJ_P = 37, CJ_TOTAL = 48 };
static const int32_t cj_cu[CJ_B + 1] = {0, 1, 4, 4, 44, 46};

/* By piece (splits by length, fwd_decode_plan.h): the 2 heads share one KV
 * head (a unit per sequence: Q x 2 = 8 packed rows, one row tile), unit b's
 * parts in slots [CJ_P b, CJ_P (b + 1)); unit CJ_SPLIT_ONE says it has one
 * part (its kernel wrote the rows): the combine must leave them. */
enum { CJ_G = 2, CJ_PIECE_ROWS = CJ_Q * CJ_G, CJ_SPLIT_ONE = 1 };

typedef struct cj_data {
  float by_seq_o[CJ_P * CJ_B * CJ_Q * CJ_H * CJ_D], by_seq_lse[CJ_P * CJ_H * CJ_B * CJ_Q];
  float by_q_o[CJ_P * CJ_TOTAL * CJ_H * CJ_D], by_q_lse[CJ_P * CJ_H * CJ_TOTAL];
  float by_piece_o[CJ_B * CJ_P * CJ_PIECE_ROWS * CJ_D], by_piece_lse[CJ_B * CJ_P * CJ_PIECE_ROWS];
  int32_t piece_units[2 * CJ_B];
  float sinks[CJ_H];
} cj_data;

static int cj_len(int b) { return cj_cu[b + 1] - cj_cu[b]; }

static void cj_fill(cj_data *x, uint64_t seed) {
  tu_rng rng = tu_rng_make(seed);
  tu_poison32(x->by_seq_o, sizeof x->by_seq_o / 4);
  tu_poison32(x->by_seq_lse, sizeof x->by_seq_lse / 4);
  tu_poison32(x->by_q_o, sizeof x->by_q_o / 4);
  tu_poison32(x->by_q_lse, sizeof x->by_q_lse / 4);
  tu_poison32(x->by_piece_o, sizeof x->by_piece_o / 4);
  tu_poison32(x->by_piece_lse, sizeof x->by_piece_lse / 4);
  for (int b = 0; b < CJ_B; ++b) x->piece_units[2 * b] = CJ_P * b, x->piece_units[2 * b + 1] = CJ_P;
  x->piece_units[2 * CJ_SPLIT_ONE + 1] = 1;
  for (int h = 0; h < CJ_H; ++h) x->sinks[h] = (float)(2.0 * tu_rng_uniform(&rng) - 1.0);
  for (int b = 0; b < CJ_B; ++b)
    for (int i = 0; i < cj_len(b) && cj_len(b) <= CJ_Q; ++i)
      for (int p = 0; p < CJ_P; ++p)
        for (int h = 0; h < CJ_H; ++h) {
          const int64_t rs = b * CJ_Q + i, rq = cj_cu[b] + i;
          /* Empty parts (lse -inf): part 1 of sequence 0; every part of sequence 4's row 1;
           * parts 7, 12, ..., 32 and the last of sequence 1 (within and across the GPU's chunks). */
          const int empty = (b == 0 && p == 1) || (b == 4 && i == 1) || (b == 1 && (p % 5 == 2 || p == CJ_P - 1));
          const float l = empty ? -INFINITY : (float)(6.0 * tu_rng_uniform(&rng) - 3.0);
          const int64_t piece = (int64_t)(CJ_P * b + p) * CJ_PIECE_ROWS + i * CJ_G + h; /* packed row i G + h */
          x->by_seq_lse[(p * CJ_H + h) * CJ_B * CJ_Q + rs] = l;
          x->by_q_lse[(p * CJ_H + h) * CJ_TOTAL + rq] = l;
          x->by_piece_lse[piece] = l;
          for (int e = 0; e < CJ_D; ++e) {
            const float v = empty ? NAN : (float)tu_rng_normal(&rng);
            x->by_seq_o[((p * CJ_B * CJ_Q + rs) * CJ_H + h) * CJ_D + e] = v;
            x->by_q_o[((p * CJ_TOTAL + rq) * CJ_H + h) * CJ_D + e] = v;
            x->by_piece_o[piece * CJ_D + e] = v;
          }
        }
}

/* Layouts of the same partials: by q row, by sequence, by piece. */
enum { CJ_BY_Q, CJ_BY_SEQ, CJ_BY_PIECE };
static const char *const cj_layout_name[3] = {"partials by q row", "partials by sequence", "partials by piece"};

/* The job over o/lse parts of `rows` rows (by sequence when by_seq); by
 * piece where units is given (its table). */
static fa_combine_job cj_job(const float *o, const float *lse, int by_seq, const float *sinks, float *out,
                             float *out_lse, const int32_t *cu, const int32_t *units) {
  const int64_t rows = by_seq ? CJ_B * CJ_Q : CJ_TOTAL;
  fa_combine_job j;
  memset(&j, 0, sizeof j);
  j.o_parts = o, j.o_part_stride = rows * CJ_H * CJ_D, j.o_row_stride = CJ_H * CJ_D, j.o_head_stride = CJ_D;
  j.lse_parts = lse, j.lse_part_stride = CJ_H * rows, j.lse_part_head_stride = rows;
  j.num_parts = CJ_P, j.num_heads = CJ_H, j.head_dim = CJ_D;
  j.sinks = sinks;
  j.out = out, j.out_dtype = FA_DTYPE_FP32, j.out_row_stride = CJ_H * CJ_D, j.out_head_stride = CJ_D;
  j.lse = out_lse, j.lse_head_stride = CJ_TOTAL;
  j.batch = CJ_B, j.rows_per_batch = CJ_Q, j.cu_seqlens_q = cu, j.total_q = CJ_TOTAL;
  j.seq_part_rows = by_seq ? CJ_Q : 0;
  j.skip_long = 1;
  if (units != NULL) {
    j.piece_units = units, j.piece_rows = CJ_PIECE_ROWS, j.heads_per_kv = CJ_G, j.unit_row_tiles = 1;
    j.seq_part_rows = 0;
  }
  return j;
}

/* The partials of one layout, and its units table (by piece; else NULL). */
static void cj_layout(const cj_data *x, int layout, const float **o, const float **lse, const int32_t **units,
                      size_t *o_bytes, size_t *lse_bytes) {
  *units = layout == CJ_BY_PIECE ? x->piece_units : NULL;
  *o = layout == CJ_BY_Q ? x->by_q_o : layout == CJ_BY_SEQ ? x->by_seq_o : x->by_piece_o;
  *lse = layout == CJ_BY_Q ? x->by_q_lse : layout == CJ_BY_SEQ ? x->by_seq_lse : x->by_piece_lse;
  *o_bytes = layout == CJ_BY_Q ? sizeof x->by_q_o : layout == CJ_BY_SEQ ? sizeof x->by_seq_o : sizeof x->by_piece_o;
  *lse_bytes =
      layout == CJ_BY_Q ? sizeof x->by_q_lse : layout == CJ_BY_SEQ ? sizeof x->by_seq_lse : sizeof x->by_piece_lse;
}

/* out/lse against the double merge where a short sequence owns the row
 * (and, with skip_b >= 0, is not sequence skip_b), bit-for-bit untouched
 * (poison) elsewhere. */
static void cj_check(const cj_data *x, const float *out, const float *lse, double tol, const char *what, int skip_b) {
  for (int64_t r = 0; r < CJ_TOTAL; ++r) {
    int b = 0;
    while (b < CJ_B && r >= cj_cu[b + 1]) ++b;
    const int owned = b < CJ_B && cj_len(b) <= CJ_Q && b != skip_b;
    for (int h = 0; h < CJ_H; ++h) {
      const float *o_at = out + (r * CJ_H + h) * CJ_D;
      if (!owned) {
        for (int e = 0; e < CJ_D; ++e)
          if (!tu_is_poison32(o_at[e]))
            fail_msg("%s: out row %lld (no short sequence's) was written", what, (long long)r);
        if (!tu_is_poison32(lse[h * CJ_TOTAL + r])) fail_msg("%s: lse row %lld was written", what, (long long)r);
        continue;
      }
      double m = x->sinks[h], sum = 0.0;
      for (int p = 0; p < CJ_P; ++p) m = fmax(m, x->by_q_lse[(p * CJ_H + h) * CJ_TOTAL + r]);
      for (int p = 0; p < CJ_P; ++p) sum += exp(x->by_q_lse[(p * CJ_H + h) * CJ_TOTAL + r] - m);
      sum += exp(x->sinks[h] - m);
      const double want_lse = m + log(sum);
      if (!(fabs(lse[h * CJ_TOTAL + r] - want_lse) <= tol * (1.0 + fabs(want_lse))))
        fail_msg("%s: lse[head %d, row %lld] = %.9g, expected %.9g", what, h, (long long)r, lse[h * CJ_TOTAL + r],
                 want_lse);
      for (int e = 0; e < CJ_D; ++e) {
        double want = 0.0;
        for (int p = 0; p < CJ_P; ++p) {
          const double l = x->by_q_lse[(p * CJ_H + h) * CJ_TOTAL + r];
          if (l != -INFINITY) want += exp(l - want_lse) * x->by_q_o[((p * CJ_TOTAL + r) * CJ_H + h) * CJ_D + e];
        }
        if (!(fabs(o_at[e] - want) <= tol * (1.0 + fabs(want))))
          fail_msg("%s: out[row %lld, head %d, dim %d] = %.9g, expected %.9g", what, (long long)r, h, e, o_at[e], want);
      }
    }
  }
}

static void test_combine_job_cpu(void **state) {
  const uint64_t seed = *(const uint64_t *)*state;
  tu_pool pool;
  tu_pool_init(&pool);
  cj_data *x = (cj_data *)xalloc(&pool, sizeof *x);
  float *out[3], *lse[3];
  cj_fill(x, seed);
  for (int layout = 0; layout < 3; ++layout) {
    out[layout] = (float *)xalloc(&pool, CJ_TOTAL * CJ_H * CJ_D * 4);
    lse[layout] = (float *)xalloc(&pool, CJ_H * CJ_TOTAL * 4);
    tu_poison32(out[layout], CJ_TOTAL * CJ_H * CJ_D);
    tu_poison32(lse[layout], CJ_H * CJ_TOTAL);
    const float *o, *l;
    const int32_t *units;
    size_t o_bytes, l_bytes;
    cj_layout(x, layout, &o, &l, &units, &o_bytes, &l_bytes);
    const fa_combine_job j = cj_job(o, l, layout == CJ_BY_SEQ, x->sinks, out[layout], lse[layout], cj_cu, units);
    fa_cpu_combine(&j);
    char what[80];
    snprintf(what, sizeof what, "CPU, %s", cj_layout_name[layout]);
    cj_check(x, out[layout], lse[layout], 1e-5, what, layout == CJ_BY_PIECE ? CJ_SPLIT_ONE : -1);
  }
  if (memcmp(out[0], out[1], CJ_TOTAL * CJ_H * CJ_D * 4) != 0 || memcmp(lse[0], lse[1], CJ_H * CJ_TOTAL * 4) != 0)
    fail_msg("%s", "the two layouts of the same partials merge to different bits");
  /* by piece: the same bits on every row it merges */
  for (int64_t r = 0; r < CJ_TOTAL; ++r)
    if ((r < cj_cu[CJ_SPLIT_ONE] || r >= cj_cu[CJ_SPLIT_ONE + 1]) &&
        (memcmp(out[0] + r * CJ_H * CJ_D, out[2] + r * CJ_H * CJ_D, CJ_H * CJ_D * 4) != 0 ||
         memcmp(&lse[0][r], &lse[2][r], 4) != 0 || memcmp(&lse[0][CJ_TOTAL + r], &lse[2][CJ_TOTAL + r], 4) != 0))
      fail_msg("partials by piece merge row %lld to other bits than by q row", (long long)r);
  tu_pool_release(&pool);
}

static void test_combine_job_cuda(void **state) {
  const uint64_t seed = *(const uint64_t *)*state;
  tu_device device;
  if (!tu_cuda_device(&device)) {
    print_message("skipped combine_job_cuda: %s\n", device.reason);
    skip();
  }
  tu_pool pool;
  tu_pool_init(&pool);
  const char *why = NULL;
  cj_data *x = (cj_data *)xalloc(&pool, sizeof *x);
  cj_fill(x, seed);
  fa_stream_t stream = tu_pool_stream(&pool, &why);
  if (stream == NULL) fail_msg("cudaStreamCreate: %s", why);
  float *out = (float *)xalloc(&pool, CJ_TOTAL * CJ_H * CJ_D * 4), *lse = (float *)xalloc(&pool, CJ_H * CJ_TOTAL * 4);
  void *cu = to_dev(&pool, cj_cu, sizeof cj_cu), *sinks = to_dev(&pool, x->sinks, sizeof x->sinks);
  /* Each layout by rows and by columns (combine.cu's two warp layouts; by
   * piece always by rows): both against the double merge, and the second
   * bit-identical to the first. */
  float *first_out = (float *)xalloc(&pool, CJ_TOTAL * CJ_H * CJ_D * 4);
  float *first_lse = (float *)xalloc(&pool, CJ_H * CJ_TOTAL * 4);
  for (int run = 0; run < 6; ++run) {
    const int layout = run / 2, by_columns = run % 2;
    tu_poison32(out, CJ_TOTAL * CJ_H * CJ_D);
    tu_poison32(lse, CJ_H * CJ_TOTAL);
    const float *ho, *hl;
    const int32_t *hu;
    size_t o_bytes, l_bytes;
    cj_layout(x, layout, &ho, &hl, &hu, &o_bytes, &l_bytes);
    void *o = to_dev(&pool, ho, o_bytes), *l = to_dev(&pool, hl, l_bytes);
    void *units = hu != NULL ? to_dev(&pool, hu, sizeof x->piece_units) : NULL;
    void *d_out = to_dev(&pool, out, CJ_TOTAL * CJ_H * CJ_D * 4), *d_lse = to_dev(&pool, lse, CJ_H * CJ_TOTAL * 4);
    fa_combine_job j = cj_job((const float *)o, (const float *)l, layout == CJ_BY_SEQ, (const float *)sinks,
                              (float *)d_out, (float *)d_lse, (const int32_t *)cu, (const int32_t *)units);
    j.by_columns = by_columns;
    const int err = fa_cuda_combine(&j, stream);
    if (err != 0) fail_msg("fa_cuda_combine: %s", cudaGetErrorString((cudaError_t)err));
    if (tu_stream_sync(stream, &why) || tu_to_host(out, d_out, CJ_TOTAL * CJ_H * CJ_D * 4, &why) ||
        tu_to_host(lse, d_lse, CJ_H * CJ_TOTAL * 4, &why))
      fail_msg("combine_job_cuda: %s", why);
    char what[80];
    snprintf(what, sizeof what, "CUDA, %s, %s", cj_layout_name[layout], by_columns ? "by columns" : "by rows");
    cj_check(x, out, lse, 1e-5, what, layout == CJ_BY_PIECE ? CJ_SPLIT_ONE : -1);
    if (!by_columns) {
      memcpy(first_out, out, CJ_TOTAL * CJ_H * CJ_D * 4);
      memcpy(first_lse, lse, CJ_H * CJ_TOTAL * 4);
    } else if (memcmp(first_out, out, CJ_TOTAL * CJ_H * CJ_D * 4) != 0 ||
               memcmp(first_lse, lse, CJ_H * CJ_TOTAL * 4) != 0) {
      fail_msg("combine_job_cuda, %s: by columns and by rows differ in their bits", cj_layout_name[layout]);
    }
  }
  tu_pool_release(&pool);
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv) {
  const int list = argc > 1 && strcmp(argv[1], "--list") == 0;
  const char *filter = argc > 1 && !list ? argv[1] : NULL;
  int from_env = 0;
  const uint64_t seed = tu_seed_from_env(&from_env);
  tu_device device;
  tu_cuda_device(&device);
  printf("test_decode: seed 0x%llx%s; %s\n", (unsigned long long)seed, from_env ? " (FA_TEST_SEED)" : "",
         device.present ? device.name : device.reason);
  const size_t n_all = sizeof k_all / sizeof k_all[0];
  struct CMUnitTest *tests = (struct CMUnitTest *)calloc(5 * n_all + 2, sizeof *tests);
  cstate *states = (cstate *)calloc(n_all, sizeof *states);
  char **names = (char **)calloc(5 * n_all + 2, sizeof *names);
  size_t n = 0;
  for (size_t i = 0; i < n_all; ++i) {
    const dcase *c = &k_all[i];
    /* Every kernel that reads caches: decode, the local (any-window) kernels
     * of mma (paged variant), of wgmma and of the CPU. */
    const int decode = strcmp(c->family, "decode") == 0;
    const int local = c->mask == FA_MASK_LOCAL && (strcmp(c->family, "cpu") == 0 || strcmp(c->family, "mma") == 0);
    /* wgmma's local kernels: the cache scenarios (decode_) only; it declines
     * the page sizes TMA boxes cannot tile. */
    const int wgmma = c->mask == FA_MASK_LOCAL && strcmp(c->family, "wgmma") == 0;
    if (!decode && !local && !wgmma) continue;
    states[i].c = c;
    states[i].seed = seed ^ tu_hash_string(c->name);
    states[i].device = device;
    for (int t = 0; t < 5; ++t) {
      static const char *const prefix[5] = {"decode_", "invariance_", "mixed_", "graph_", "large_pool_"};
      static void (*const run[5])(void **) = {test_decode_case, test_batch_invariance, test_mixed_batch,
                                              test_graph_replay, test_large_pool};
      const int cuda = c->backend == FA_BACKEND_CUDA;
      /* The dispatch test once per (backend, head dim, dtype): on a decode kernel's case. */
      if (t == 2 && !decode && strcmp(c->family, "cpu") != 0) continue;
      if (t == 3 && !cuda) continue; /* graphs: CUDA only */
      if (wgmma && t != 0) continue;
      /* 2 x 8.6 GB of pools: one head dim and dtype per family and arch. */
      if (t == 4 && !(cuda && c->head_dim == 128 && c->dtype == FA_DTYPE_BF16)) continue;
      char *name = (char *)malloc(strlen(c->name) + 32);
      sprintf(name, "%s%s", prefix[t], c->name);
      if (filter != NULL && strstr(name, filter) == NULL) {
        free(name);
        continue;
      }
      names[n] = name;
      tests[n].name = name;
      tests[n].test_func = run[t];
      tests[n].initial_state = &states[i];
      ++n;
    }
  }
  /* The split layout's combine job, once per backend. */
  static const char *const cj_names[2] = {"combine_job_cpu", "combine_job_cuda"};
  static void (*const cj_run[2])(void **) = {test_combine_job_cpu, test_combine_job_cuda};
  uint64_t cj_seed = seed ^ tu_hash_string("combine_job");
  for (int t = 0; t < 2; ++t) {
    if (filter != NULL && strstr(cj_names[t], filter) == NULL) continue;
    names[n] = (char *)malloc(strlen(cj_names[t]) + 1);
    strcpy(names[n], cj_names[t]);
    tests[n].name = names[n];
    tests[n].test_func = cj_run[t];
    tests[n].initial_state = &cj_seed;
    ++n;
  }
  /* "--list": the case names, one a line, nothing run (device_run.sh's
   * parallel suite checks that its filters cover every case). */
  int failed = 0;
  if (list)
    for (size_t i = 0; i < n; ++i) printf("%s\n", names[i]);
  else
    failed = _cmocka_run_group_tests("decode", tests, n, NULL, NULL);
  for (size_t i = 0; i < n; ++i) free(names[i]);
  free(names);
  free(tests);
  free(states);
  return failed;
}
