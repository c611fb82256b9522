/*
 * test_fwd.c - forward correctness: one CMocka test case per generated
 * kernel (generated/test_cases.inc), checked against the double-precision
 * reference (reference.c) over a set of shapes; plus checks of the
 * reference itself, the fp16/bf16 converters and, on a GPU, 64-bit offsets.
 *
 *   test_fwd [FILTER]    run the cases whose name contains FILTER
 *   FA_TEST_SEED=N       reproduce a run (the seed is printed first)
 *
 * Every case: finds its kernel by name through the public table, fills
 * fresh random inputs (everything the kernel must not read is NaN), poisons
 * out and lse, runs fa_fwd_with_kernel, and checks every element: relative
 * Frobenius error overall and per row, exact zeros and -inf for rows that
 * see no key, and that everything outside the rows it owns kept its poison.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "attn/tile_order.h"
#include "flashattn.h"
#include "fp_convert.h"
#include "reference.h"
#include "test_util.h"

/* ------------------------------------------------------------ tolerances */

/*
 * The kernel and the reference read the same, exactly representable
 * inputs, so the error comes from (1) rounding out to the storage type:
 * at most 2^-8 relative for bf16 (8-bit significand) and 2^-11 for fp16,
 * about a third of that RMS; (2) fp32 accumulation, ~1e-6; (3) on GPUs,
 * the softmax weights P rounded to the storage type for the tensor-core
 * P V product, an error of the same order as (1). Expected relative
 * Frobenius errors are therefore ~1.5e-3 (bf16) and ~2e-4 (fp16): the
 * bounds below leave a 5-10x margin, while real bugs (a key missed or seen
 * twice, a wrong rescale, a wrong head) give errors of 1e-1 and more.
 * Single rows are noisier (few elements): they get ROW_TOL_FACTOR more.
 */
#define TOL_BF16 1e-2
#define TOL_FP16 2e-3
#define ROW_TOL_FACTOR 4.0
/* Per-row errors are relative to max(|row|, ROW_NORM_FLOOR * sqrt(head_dim)):
 * outputs are averages of N(0,1) values, far above this floor. */
#define ROW_NORM_FLOOR 1e-4
/* LSE is computed in fp32 from fp32 scores: errors ~1e-6 relative; GPU
 * exp2/log2 approximations add a few ulps. */
#define LSE_ABS_TOL 1e-3
#define LSE_REL_TOL 1e-4

/* ------------------------------------------------------------ cases */

typedef struct fwd_case {
  const char *name;
  const char *group;
  const char *family;
  fa_backend backend;
  int arch;
  const char *arch_name;
  int head_dim;
  fa_dtype dtype;
  fa_mask mask;
} fwd_case;

static const fwd_case k_cases[] = {
#define FA_FWD_CASE(name, group, family, backend, arch, arch_name, head_dim, dtype, mask) \
  {#name, group, family, backend, arch, arch_name, head_dim, dtype, mask},
#include "../generated/test_cases.inc"
#undef FA_FWD_CASE
};
#define N_CASES (sizeof k_cases / sizeof k_cases[0])

/* What CMocka hands to each test: the case, its seed, the device, and a
 * pool freed by the teardown even when an assertion jumps out. */
typedef struct case_state {
  const fwd_case *c;
  uint64_t seed;
  const tu_device *device;
  tu_pool pool; /* one problem's buffers, released after each problem */
  tu_pool keep; /* what lives for the whole case (the stream) */
} case_state;

/* ------------------------------------------------------------ scenarios */

#define MAX_BATCH 8

typedef enum layout_kind {
  LAYOUT_PACKED,   /* strides 0 in params (library fills in packed) */
  LAYOUT_PADDED,   /* explicit strides with gaps between heads and rows */
  LAYOUT_FUSED_QKV /* q, k, v are views of one [rows, hq + 2 hk, d] buffer */
} layout_kind;

typedef struct scenario {
  const char *what;
  int dense;
  int batch;
  int heads_q, heads_k;
  int lq[MAX_BATCH];     /* query rows per sequence (dense: lq[0] for all) */
  int lk[MAX_BATCH];     /* key rows stored per sequence (dense: lk[0]) */
  int use_seqused;
  int used_k[MAX_BATCH]; /* keys used per sequence when use_seqused */
  int pad_q, pad_k;      /* varlen: rows after the last sequence */
  int max_slack;         /* varlen: max_seqlen_q/k larger than needed */
  layout_kind layout;
  double scale_mul;      /* scale = scale_mul / sqrt(d); 0: pass 0 (default) */
  float softcap;
  int sinks;             /* 0: none; 1: random; 2: random, head 0 dominant */
  int lse;
  int gpu_only;
} scenario;

/* Lengths grow by GPU_GROW on the GPU (0 and 1 stay: they are edge cases),
 * by SPLIT_GROW in the wgmma split pass (test_fwd_case). */
#define GPU_GROW 3
#define SPLIT_GROW 7
#define SPLIT_GROW_WIDE 10 /* 2991 rows: 17 key tiles of 176 */
#define SPLIT_SCENARIO 7 /* "varlen, one long sequence, ...": 300 rows, 2094 grown */

static const scenario k_scenarios[] = {
    {"varlen, mixed lengths incl. 0 and 1, GQA 4/2, lse, padded totals, max_seqlen slack",
     0, 6, 4, 2, {0, 1, 67, 130, 5, 200}, {0, 1, 67, 130, 5, 200}, 0, {0},
     7, 5, 3, LAYOUT_PACKED, 0, 0.f, 0, 1, 0},
    {"varlen, Lq > Lk and Lq < Lk, Lk = 0, padded strides, lse",
     0, 5, 3, 3, {50, 3, 129, 1, 20}, {17, 90, 64, 0, 20}, 0, {0},
     2, 9, 0, LAYOUT_PADDED, 0, 0.f, 0, 1, 0},
    {"varlen, MQA 6/1, softcap 8 on scores of std 4.8, sinks, lse",
     0, 2, 6, 1, {33, 100}, {150, 100}, 0, {0},
     0, 0, 0, LAYOUT_PACKED, 4.8, 8.f, 1, 1, 0},
    {"dense, GQA 4/2, Lq < Lk, seqused_k (full, partial, 0), lse",
     1, 3, 4, 2, {77}, {93}, 1, {93, 41, 0},
     0, 0, 0, LAYOUT_PACKED, 0, 0.f, 0, 1, 0},
    {"dense, padded strides, Lq > Lk, negative scale, no lse",
     1, 2, 2, 2, {65}, {31}, 0, {0},
     0, 0, 0, LAYOUT_PADDED, -1.0, 0.f, 0, 0, 0},
    {"varlen, fused qkv views, GQA 4/2, negative scale, sinks (one dominant), no lse",
     0, 3, 4, 2, {40, 90, 1}, {40, 90, 1}, 0, {0},
     0, 0, 0, LAYOUT_FUSED_QKV, -0.7, 0.f, 2, 0, 0},
    {"varlen KV cache: seqused_k (partial, full, 0), decode rows, GQA 8/2, sinks, lse",
     0, 4, 8, 2, {4, 1, 3, 2}, {64, 128, 32, 16}, 1, {20, 128, 0, 16},
     0, 6, 0, LAYOUT_PADDED, 0, 0.f, 1, 1, 0},
    {"varlen, one long sequence, many tiles, peaky softmax (scale 3/sqrt(d)), lse",
     0, 1, 2, 1, {300}, {300}, 0, {0},
     0, 0, 0, LAYOUT_PACKED, 3.0, 0.f, 0, 1, 0},
    {"dense fused qkv, MQA 4/1, softcap 2.5, sinks, lse",
     1, 2, 4, 1, {70}, {70}, 0, {0},
     0, 0, 0, LAYOUT_FUSED_QKV, 0, 2.5f, 1, 1, 0},
    /* On the GPU (x3): 4 query tiles x 16 heads x 8 sequences = 512 work
     * tiles, many empty: more than an H100/H200 has SMs, so a persistent
     * grid's blocks each take several tiles (cuda/wgmma/work_tiles.cuh;
     * causal ones in pairs). */
    {"GPU: more work tiles than SMs, short and empty tiles, GQA 16/4, lse",
     0, 8, 16, 4, {1, 60, 130, 7, 90, 45, 110, 25}, {1, 75, 130, 7, 60, 45, 140, 25}, 0, {0},
     3, 0, 2, LAYOUT_PACKED, 0, 0.f, 0, 1, 1},
    /* On the GPU: 3 query tiles (odd: a causal pair's middle tile has no
     * partner) x 8 heads x 8 sequences = 192 work tiles, MHA. */
    {"GPU: more work tiles than SMs, 3 query tiles per head, MHA 8/8, sinks, lse",
     0, 8, 8, 8, {120, 3, 77, 0, 100, 64, 119, 1}, {120, 50, 77, 9, 100, 30, 119, 1}, 0, {0},
     0, 2, 2, LAYOUT_PACKED, 0, 0.f, 1, 1, 1},
    /* wgmma packs a KV head's 8 query heads into a tile's rows (causal). */
    {"varlen, MQA 8/1, lengths around the packed tiles' tokens (16 a tile at block_m 128), sinks, lse",
     0, 4, 8, 1, {16, 17, 40, 3}, {16, 60, 40, 3}, 0, {0},
     0, 0, 0, LAYOUT_PACKED, 0, 0.f, 1, 1, 0},
    {"varlen decode rows over longer keys: Lq 1..4, GQA 8/2, lse, sinks",
     0, 4, 8, 2, {1, 2, 4, 1}, {50, 300, 17, 0}, 0, {0},
     0, 3, 2, LAYOUT_PADDED, 0, 0.f, 1, 1, 0},
    {"GPU: long sequences, Lq < Lk",
     0, 2, 1, 1, {370, 111}, {370, 667}, 0, {0},
     0, 0, 0, LAYOUT_PACKED, 0, 0.f, 0, 1, 1},
};
#define N_SCENARIOS (sizeof k_scenarios / sizeof k_scenarios[0])

typedef struct window {
  int left, right;
} window;

/* Local kernels: asymmetric and degenerate windows. */
static const window k_local_windows[] = {{5, 0}, {0, 7}, {17, 3}, {-1, 9},
                                         {12, -1}, {0, 0}, {70, 70}};
#define N_LOCAL_WINDOWS (sizeof k_local_windows / sizeof k_local_windows[0])

/* A scenario made concrete for one run. */
typedef struct problem {
  const scenario *sc;
  window win;
  int64_t lq[MAX_BATCH], lk[MAX_BATCH], used[MAX_BATCH];
  int64_t max_lq, max_lk;
  /* > 0: through a context claiming this many SMs, with num_splits
   * split_num (2, or 0: the default) and the workspace it asks for: the
   * wgmma family's persistent grid then ends on a partial round that it
   * shares out by keys (split tiles, merged). */
  int split_sms, split_num;
} problem;

static int64_t grow(int64_t len, int factor) {
  return len <= 1 ? len : len * factor - (factor - 1);
}

static problem make_problem(const scenario *sc, window win, int factor) {
  problem p;
  int b;
  memset(&p, 0, sizeof p);
  p.sc = sc;
  p.win = win;
  for (b = 0; b < sc->batch; ++b) {
    const int i = sc->dense ? 0 : b;
    p.lq[b] = grow(sc->lq[i], factor);
    p.lk[b] = grow(sc->lk[i], factor);
    p.used[b] = sc->use_seqused ? grow(sc->used_k[b], factor) : p.lk[b];
    if (p.lq[b] > p.max_lq) p.max_lq = p.lq[b];
    if (p.lk[b] > p.max_lk) p.max_lk = p.lk[b];
  }
  return p;
}

/* ------------------------------------------------------------ tensors */

/* One of q, k, v, out: where its elements are, in the test's own terms. */
typedef struct tensor {
  uint16_t *host;        /* element (0, 0, 0) */
  int64_t bs, rs, hs;    /* actual strides (elements) */
  int64_t pbs, prs, phs; /* the strides passed in params (0 = packed) */
  int heads;
  int64_t offset;        /* of host from its buffer's start */
} tensor;

static int64_t tensor_index(const tensor *t, int64_t b, int64_t row, int64_t h) {
  return b * t->bs + row * t->rs + h * t->hs;
}

/* A host buffer of 16-bit elements and its device mirror. */
typedef struct buffer16 {
  uint16_t *host;
  void *dev;
  size_t n;
} buffer16;

/* Geometry of one run: sequences, totals, layouts. */
typedef struct geometry {
  int d, hq, hk, batch;
  int32_t cu_q[MAX_BATCH + 1], cu_k[MAX_BATCH + 1], seqused[MAX_BATCH];
  int64_t total_q, total_k; /* varlen rows; dense: rows per sequence */
  int64_t batches;          /* dense: batch; varlen: 1 */
  int64_t lse_len;
} geometry;

static geometry make_geometry(const fwd_case *c, const problem *p) {
  geometry g;
  int b;
  memset(&g, 0, sizeof g);
  g.d = c->head_dim;
  g.hq = p->sc->heads_q;
  g.hk = p->sc->heads_k;
  g.batch = p->sc->batch;
  for (b = 0; b < g.batch; ++b) {
    g.cu_q[b + 1] = g.cu_q[b] + (int32_t)p->lq[b];
    g.cu_k[b + 1] = g.cu_k[b] + (int32_t)p->lk[b];
    g.seqused[b] = (int32_t)p->used[b];
  }
  if (p->sc->dense) {
    g.total_q = p->lq[0];
    g.total_k = p->lk[0];
    g.batches = g.batch;
    g.lse_len = (int64_t)g.batch * g.hq * g.total_q;
  } else {
    g.total_q = g.cu_q[g.batch] + p->sc->pad_q;
    g.total_k = g.cu_k[g.batch] + p->sc->pad_k;
    g.batches = 1;
    g.lse_len = (int64_t)g.hq * g.total_q;
  }
  return g;
}

/* Elements spanned by a tensor of (batches, rows, heads, d). */
static size_t tensor_span(const tensor *t, int64_t batches, int64_t rows, int d) {
  if (batches == 0 || rows == 0)
    return 0;
  return (size_t)(t->offset + (batches - 1) * t->bs + (rows - 1) * t->rs +
                  (t->heads - 1) * t->hs + d);
}

/* Strides of a separate tensor of `heads` heads and `rows` rows per batch. */
static tensor separate_layout(layout_kind kind, int heads, int64_t rows, int d) {
  tensor t;
  memset(&t, 0, sizeof t);
  t.heads = heads;
  if (kind == LAYOUT_PADDED) {
    t.hs = d + 8;
    t.rs = heads * t.hs + 16;
    t.bs = rows * t.rs + 24;
    t.phs = t.hs, t.prs = t.rs, t.pbs = t.bs;
  } else {
    t.hs = d;
    t.rs = (int64_t)heads * d;
    t.bs = rows * t.rs;
  }
  return t;
}

/* ------------------------------------------------------------ inputs */

/* Random values in the rows a sequence owns (keys: the used ones); every
 * other element of the buffer stays NaN, so reading it shows in out. */
static void fill_q_rows(const tensor *t, const geometry *g, const problem *p,
                        fa_dtype dtype, tu_rng *rng) {
  int b, h;
  int64_t i;
  for (b = 0; b < g->batch; ++b)
    for (i = 0; i < p->lq[b]; ++i)
      for (h = 0; h < t->heads; ++h) {
        const int64_t bb = p->sc->dense ? b : 0, row = p->sc->dense ? i : g->cu_q[b] + i;
        tu_fill_random(t->host + tensor_index(t, bb, row, h), (size_t)g->d, dtype, 1.0, rng);
      }
}

static void fill_kv_rows(const tensor *t, const geometry *g, const problem *p,
                         fa_dtype dtype, tu_rng *rng) {
  int b, h;
  int64_t j;
  for (b = 0; b < g->batch; ++b)
    for (j = 0; j < p->used[b]; ++j)
      for (h = 0; h < t->heads; ++h) {
        const int64_t bb = p->sc->dense ? b : 0, row = p->sc->dense ? j : g->cu_k[b] + j;
        tu_fill_random(t->host + tensor_index(t, bb, row, h), (size_t)g->d, dtype, 1.0, rng);
      }
}

/* Packed double copies in the reference's layout. */
static void gather(double *dst, const tensor *t, const geometry *g, const problem *p,
                   int keys, fa_dtype dtype) {
  int b, h, d;
  int64_t i, n = 0;
  for (b = 0; b < g->batch; ++b) {
    const int64_t len = keys ? p->used[b] : p->lq[b];
    const int64_t start = p->sc->dense ? 0 : (keys ? g->cu_k[b] : g->cu_q[b]);
    for (i = 0; i < len; ++i)
      for (h = 0; h < t->heads; ++h) {
        const uint16_t *src =
            t->host + tensor_index(t, p->sc->dense ? b : 0, start + i, h);
        for (d = 0; d < g->d; ++d)
          dst[n++] = tu_half_to_double(src[d], dtype);
      }
  }
}

/* ------------------------------------------------------------ one run */

typedef struct run_stats {
  double worst_out, worst_row, worst_lse;
  int runs;
  int declined; /* shapes outside the kernel's family (FA_ERR_UNSUPPORTED): not run */
} run_stats;

typedef struct run_buffers {
  buffer16 qkv, k, v, out; /* qkv holds q (or all three when fused) */
  float *lse;
  void *lse_dev;
  float *sinks;
  void *sinks_dev, *cu_q_dev, *cu_k_dev, *seqused_dev;
  tensor tq, tk, tv, tout;
} run_buffers;

static void *host_alloc(case_state *s, size_t bytes) {
  void *ptr = tu_pool_host(&s->pool, bytes);
  if (ptr == NULL)
    fail_msg("out of host memory (%zu bytes)", bytes);
  return ptr;
}

static void *device_copy(case_state *s, const void *host, size_t bytes) {
  const char *why = NULL;
  void *dev = tu_pool_device(&s->pool, bytes, &why);
  if (dev == NULL)
    fail_msg("cudaMalloc(%zu): %s", bytes, why);
  if (bytes > 0 && tu_to_device(dev, host, bytes, &why) != 0)
    fail_msg("cudaMemcpy to device: %s", why);
  return dev;
}

static buffer16 new_buffer16(case_state *s, size_t n) {
  buffer16 b;
  b.n = n;
  b.host = (uint16_t *)host_alloc(s, (n ? n : 1) * sizeof(uint16_t));
  b.dev = NULL;
  tu_poison16(b.host, n);
  return b;
}

/* Lay out q, k, v, out and allocate them, NaN everywhere. */
static void make_tensors(case_state *s, const geometry *g, const problem *p,
                         run_buffers *rb) {
  const layout_kind kind = p->sc->layout;
  if (kind == LAYOUT_FUSED_QKV) {
    /* One buffer [rows, hq + 2 hk, d] (self-attention: same rows). */
    const int64_t width = (int64_t)(g->hq + 2 * g->hk) * g->d;
    tensor t;
    size_t n;
    memset(&t, 0, sizeof t);
    t.hs = g->d;
    t.rs = width;
    t.bs = g->total_q * width;
    t.pbs = p->sc->dense ? t.bs : 0, t.prs = t.rs, t.phs = t.hs;
    rb->tq = rb->tk = rb->tv = t;
    rb->tq.heads = g->hq;
    rb->tk.heads = rb->tv.heads = g->hk;
    rb->tk.offset = (int64_t)g->hq * g->d;
    rb->tv.offset = (int64_t)(g->hq + g->hk) * g->d;
    n = g->total_q > 0 ? (size_t)(g->batches * g->total_q * width) : 0;
    rb->qkv = new_buffer16(s, n);
    rb->k.n = rb->v.n = 0;
  } else {
    rb->tq = separate_layout(kind, g->hq, g->total_q, g->d);
    rb->tk = separate_layout(kind, g->hk, g->total_k, g->d);
    rb->tv = separate_layout(kind, g->hk, g->total_k, g->d);
    rb->qkv = new_buffer16(s, tensor_span(&rb->tq, g->batches, g->total_q, g->d));
    rb->k = new_buffer16(s, tensor_span(&rb->tk, g->batches, g->total_k, g->d));
    rb->v = new_buffer16(s, tensor_span(&rb->tv, g->batches, g->total_k, g->d));
  }
  /* out: padded unless the inputs are packed, so gaps are checked too. */
  rb->tout = separate_layout(kind == LAYOUT_PACKED ? LAYOUT_PACKED : LAYOUT_PADDED, g->hq,
                             g->total_q, g->d);
  rb->out = new_buffer16(s, tensor_span(&rb->tout, g->batches, g->total_q, g->d));

  rb->tq.host = rb->qkv.host + rb->tq.offset;
  if (kind == LAYOUT_FUSED_QKV) {
    rb->tk.host = rb->qkv.host + rb->tk.offset;
    rb->tv.host = rb->qkv.host + rb->tv.offset;
  } else {
    rb->tk.host = rb->k.host;
    rb->tv.host = rb->v.host;
  }
  rb->tout.host = rb->out.host;
}

static void make_sinks(case_state *s, const geometry *g, const problem *p, run_buffers *rb,
                       tu_rng *rng) {
  int h;
  rb->sinks = NULL;
  if (!p->sc->sinks)
    return;
  rb->sinks = (float *)host_alloc(s, (size_t)g->hq * sizeof(float));
  for (h = 0; h < g->hq; ++h)
    rb->sinks[h] = (float)(4.0 * tu_rng_uniform(rng) - 1.0);
  if (p->sc->sinks == 2)
    rb->sinks[0] = 5.0f; /* dominates the denominator: small outputs */
}

/* Mirror everything on the device (CUDA backend). */
static void upload(case_state *s, const geometry *g, const problem *p, run_buffers *rb) {
  rb->qkv.dev = device_copy(s, rb->qkv.host, rb->qkv.n * 2);
  if (p->sc->layout != LAYOUT_FUSED_QKV) {
    rb->k.dev = device_copy(s, rb->k.host, rb->k.n * 2);
    rb->v.dev = device_copy(s, rb->v.host, rb->v.n * 2);
  }
  rb->out.dev = device_copy(s, rb->out.host, rb->out.n * 2);
  rb->lse_dev = rb->lse ? device_copy(s, rb->lse, (size_t)g->lse_len * sizeof(float)) : NULL;
  rb->sinks_dev = rb->sinks ? device_copy(s, rb->sinks, (size_t)g->hq * sizeof(float)) : NULL;
  rb->cu_q_dev = device_copy(s, g->cu_q, sizeof g->cu_q);
  rb->cu_k_dev = device_copy(s, g->cu_k, sizeof g->cu_k);
  rb->seqused_dev = device_copy(s, g->seqused, sizeof g->seqused);
}

static void *dev_or_host(int cuda, void *dev, void *host) { return cuda ? dev : host; }

static fa_fwd_params make_params(const fwd_case *c, const geometry *g, const problem *p,
                                 const run_buffers *rb, fa_stream_t stream) {
  const int cuda = c->backend == FA_BACKEND_CUDA;
  const scenario *sc = p->sc;
  fa_fwd_params prm = fa_fwd_params_default();
  uint16_t *base_host = rb->qkv.host;
  char *base_dev = (char *)rb->qkv.dev;
  prm.backend = c->backend;
  prm.dtype = c->dtype;
  prm.batch = g->batch;
  prm.num_heads_q = g->hq;
  prm.num_heads_k = g->hk;
  prm.head_dim = g->d;
  if (sc->dense) {
    prm.max_seqlen_q = (int32_t)p->lq[0];
    prm.max_seqlen_k = (int32_t)p->lk[0];
  } else {
    prm.cu_seqlens_q = (const int32_t *)dev_or_host(cuda, rb->cu_q_dev, (void *)g->cu_q);
    prm.cu_seqlens_k = (const int32_t *)dev_or_host(cuda, rb->cu_k_dev, (void *)g->cu_k);
    prm.total_q = g->total_q;
    prm.total_k = g->total_k;
    prm.max_seqlen_q = (int32_t)(p->max_lq + sc->max_slack);
    prm.max_seqlen_k = (int32_t)(p->max_lk + sc->max_slack);
  }
  if (sc->use_seqused)
    prm.seqused_k = (const int32_t *)dev_or_host(cuda, rb->seqused_dev, (void *)g->seqused);
  prm.q = cuda ? (void *)(base_dev + rb->tq.offset * 2) : (void *)rb->tq.host;
  if (sc->layout == LAYOUT_FUSED_QKV) {
    prm.k = cuda ? (void *)(base_dev + rb->tk.offset * 2) : (void *)(base_host + rb->tk.offset);
    prm.v = cuda ? (void *)(base_dev + rb->tv.offset * 2) : (void *)(base_host + rb->tv.offset);
  } else {
    prm.k = dev_or_host(cuda, rb->k.dev, rb->k.host);
    prm.v = dev_or_host(cuda, rb->v.dev, rb->v.host);
  }
  prm.out = dev_or_host(cuda, rb->out.dev, rb->out.host);
  prm.q_batch_stride = rb->tq.pbs, prm.q_row_stride = rb->tq.prs, prm.q_head_stride = rb->tq.phs;
  prm.k_batch_stride = rb->tk.pbs, prm.k_row_stride = rb->tk.prs, prm.k_head_stride = rb->tk.phs;
  prm.v_batch_stride = rb->tv.pbs, prm.v_row_stride = rb->tv.prs, prm.v_head_stride = rb->tv.phs;
  prm.out_batch_stride = rb->tout.pbs, prm.out_row_stride = rb->tout.prs;
  prm.out_head_stride = rb->tout.phs;
  if (!sc->dense) /* varlen: batch strides must stay 0 */
    prm.q_batch_stride = prm.k_batch_stride = prm.v_batch_stride = prm.out_batch_stride = 0;
  prm.scale = sc->scale_mul != 0 ? (float)(sc->scale_mul / sqrt((double)g->d)) : 0.f;
  prm.softcap = sc->softcap;
  prm.window_left = p->win.left;
  prm.window_right = p->win.right;
  prm.sinks = (const float *)dev_or_host(cuda, rb->sinks_dev, rb->sinks);
  prm.lse = (float *)dev_or_host(cuda, rb->lse_dev, rb->lse);
  prm.stream = stream;
  return prm;
}

static void describe(char *buf, size_t len, const fwd_case *c, const problem *p) {
  char split[64] = "";
  if (p->split_sms > 0)
    snprintf(split, sizeof split, ", %d SMs, num_splits %d", p->split_sms, p->split_num);
  snprintf(buf, len, "%s: [%s] window (%d, %d)%s", c->name, p->sc->what, p->win.left,
           p->win.right, split);
}

/* Compare out and lse with the reference; everything else must be poison. */
static void check_results(case_state *s, const geometry *g, const problem *p,
                          const run_buffers *rb, const double *ref_out, const double *ref_lse,
                          const int64_t *visible, run_stats *stats) {
  const fwd_case *c = s->c;
  const double tol = c->dtype == FA_DTYPE_BF16 ? TOL_BF16 : TOL_FP16;
  const double row_floor = ROW_NORM_FLOOR * sqrt((double)g->d);
  unsigned char *owned_out = (unsigned char *)host_alloc(s, rb->out.n ? rb->out.n : 1);
  unsigned char *owned_lse = (unsigned char *)host_alloc(s, (size_t)(g->lse_len ? g->lse_len : 1));
  double err2 = 0.0, norm2 = 0.0;
  int64_t row = 0, i;
  size_t e;
  int b, h, d;
  char what[512];
  describe(what, sizeof what, c, p);
  memset(owned_out, 0, rb->out.n ? rb->out.n : 1);
  memset(owned_lse, 0, (size_t)(g->lse_len ? g->lse_len : 1));

  for (b = 0; b < g->batch; ++b)
    for (i = 0; i < p->lq[b]; ++i, ++row)
      for (h = 0; h < g->hq; ++h) {
        const int64_t orow = p->sc->dense ? i : g->cu_q[b] + i;
        const int64_t at = tensor_index(&rb->tout, p->sc->dense ? b : 0, orow, h);
        const double *want = ref_out + (row * g->hq + h) * g->d;
        const int64_t nvis = visible[row * g->hq + h];
        double rerr2 = 0.0, rnorm2 = 0.0;
        for (d = 0; d < g->d; ++d) {
          const uint16_t bits = rb->out.host[at + d];
          const double got = tu_half_to_double(bits, c->dtype);
          owned_out[at + d] = 1;
          if (!isfinite(got))
            fail_msg("%s: out[seq %d, row %lld, head %d, dim %d] = 0x%04x (not finite%s), "
                     "expected %g", what, b, (long long)i, h, d, bits,
                     bits == TU_POISON16 ? ": never written" : "", want[d]);
          if (nvis == 0 && got != 0.0)
            fail_msg("%s: row %lld of seq %d, head %d sees no key, out[dim %d] = %g, "
                     "expected exactly 0", what, (long long)i, b, h, d, got);
          rerr2 += (got - want[d]) * (got - want[d]);
          rnorm2 += want[d] * want[d];
        }
        err2 += rerr2;
        norm2 += rnorm2;
        {
          const double denom = sqrt(rnorm2) > row_floor ? sqrt(rnorm2) : row_floor;
          const double rel = sqrt(rerr2) / denom;
          if (rel > stats->worst_row)
            stats->worst_row = rel;
          if (rel > ROW_TOL_FACTOR * tol)
            fail_msg("%s: row %lld of seq %d (Lq %lld, Lk %lld), head %d: relative error "
                     "%.3g > %.3g (%lld keys seen)", what, (long long)i, b,
                     (long long)p->lq[b], (long long)p->used[b], h, rel, ROW_TOL_FACTOR * tol,
                     (long long)nvis);
        }
        if (rb->lse) {
          const int64_t li = p->sc->dense
                                 ? ((int64_t)b * g->hq + h) * g->total_q + i
                                 : (int64_t)h * g->total_q + g->cu_q[b] + i;
          const double got = rb->lse[li];
          const double want_lse = ref_lse[row * g->hq + h];
          owned_lse[li] = 1;
          if (isinf(want_lse) && want_lse < 0) {
            if (!(isinf(got) && got < 0))
              fail_msg("%s: lse[seq %d, row %lld, head %d] = %g, expected -inf (no key)", what,
                       b, (long long)i, h, got);
          } else {
            const double err = fabs(got - want_lse);
            const double lim = LSE_ABS_TOL + LSE_REL_TOL * fabs(want_lse);
            if (!(err <= lim))
              fail_msg("%s: lse[seq %d, row %lld, head %d] = %.9g, expected %.9g (|err| %.3g > %.3g)",
                       what, b, (long long)i, h, got, want_lse, err, lim);
            if (err > stats->worst_lse)
              stats->worst_lse = err;
          }
        }
      }

  {
    const double rel = norm2 > 0 ? sqrt(err2 / norm2) : sqrt(err2);
    if (rel > stats->worst_out)
      stats->worst_out = rel;
    if (rel > tol)
      fail_msg("%s: relative Frobenius error of out %.3g > %.3g", what, rel, tol);
  }
  for (e = 0; e < rb->out.n; ++e)
    if (!owned_out[e] && !tu_is_poison16(rb->out.host[e]))
      fail_msg("%s: out element %zu (outside every sequence row/head) was written: 0x%04x",
               what, e, rb->out.host[e]);
  if (rb->lse)
    for (e = 0; e < (size_t)g->lse_len; ++e)
      if (!owned_lse[e] && !tu_is_poison32(rb->lse[e]))
        fail_msg("%s: lse element %zu (row outside every sequence) was written: %g", what, e,
                 rb->lse[e]);
}

/* One problem on one kernel: build, run, compare. */
/*
 * CUDA: the same call again on the same inputs, into outputs poisoned
 * again, gives the same bits (out, gaps included, and lse): no race, no
 * order-dependent reduction, no read of what the first run left behind.
 */
static void check_rerun_identical(case_state *s, const geometry *g, const run_buffers *rb,
                                  const fa_fwd_params *prm, size_t kernel, fa_stream_t stream,
                                  const char *what) {
  const size_t out_bytes = rb->out.n * 2, lse_bytes = rb->lse ? (size_t)g->lse_len * sizeof(float) : 0;
  uint16_t *out2 = (uint16_t *)host_alloc(s, out_bytes + 2);
  float *lse2 = (float *)host_alloc(s, lse_bytes + 4);
  const char *why = NULL;
  fa_message msg;
  fa_status st;
  tu_poison16(out2, rb->out.n);
  tu_poison32(lse2, lse_bytes / 4);
  if (tu_to_device(rb->out.dev, out2, out_bytes, &why) != 0 ||
      (lse_bytes && tu_to_device(rb->lse_dev, lse2, lse_bytes, &why) != 0))
    fail_msg("%s: re-poisoning the outputs: %s", what, why);
  st = fa_fwd_with_kernel(prm, kernel, &msg);
  if (st != FA_OK)
    fail_msg("%s: second run: fa_fwd_with_kernel returned %s: %s", what, fa_status_string(st), msg.text);
  if (tu_stream_sync(stream, &why) != 0 || tu_to_host(out2, rb->out.dev, out_bytes, &why) != 0 ||
      (lse_bytes && tu_to_host(lse2, rb->lse_dev, lse_bytes, &why) != 0))
    fail_msg("%s: second run: %s", what, why);
  if (memcmp(out2, rb->out.host, out_bytes) != 0) {
    size_t e = 0, diffs = 0, first = 0;
    for (e = 0; e < rb->out.n; ++e)
      if (out2[e] != rb->out.host[e] && diffs++ == 0)
        first = e;
    fail_msg("%s: a second run on the same inputs wrote different bits to out: %zu of %zu elements, "
             "the first at %zu: 0x%04x (%g), then 0x%04x (%g)",
             what, diffs, rb->out.n, first, rb->out.host[first], tu_half_to_double(rb->out.host[first], prm->dtype),
             out2[first], tu_half_to_double(out2[first], prm->dtype));
  }
  if (lse_bytes && memcmp(lse2, rb->lse, lse_bytes) != 0)
    fail_msg("%s: a second run on the same inputs wrote different bits to lse", what);
}

static void run_problem(case_state *s, size_t kernel, const problem *p, tu_rng *rng,
                        fa_stream_t stream, run_stats *stats) {
  const fwd_case *c = s->c;
  const int cuda = c->backend == FA_BACKEND_CUDA;
  const geometry g = make_geometry(c, p);
  run_buffers rb;
  fa_fwd_params prm;
  fa_message msg;
  fa_status st;
  int64_t rows_q = 0, rows_k = 0;
  double *q_ref, *k_ref, *v_ref, *out_ref, *lse_ref, *sinks_ref = NULL;
  int64_t *visible;
  ref_problem rp;
  char what[512];
  int b, h;
  const char *why = NULL;

  memset(&rb, 0, sizeof rb);
  describe(what, sizeof what, c, p);
  make_tensors(s, &g, p, &rb);
  fill_q_rows(&rb.tq, &g, p, c->dtype, rng);
  fill_kv_rows(&rb.tk, &g, p, c->dtype, rng);
  fill_kv_rows(&rb.tv, &g, p, c->dtype, rng);
  make_sinks(s, &g, p, &rb, rng);
  if (p->sc->lse) {
    rb.lse = (float *)host_alloc(s, (size_t)(g.lse_len ? g.lse_len : 1) * sizeof(float));
    tu_poison32(rb.lse, (size_t)g.lse_len);
  }
  if (cuda)
    upload(s, &g, p, &rb);

  prm = make_params(c, &g, p, &rb, stream);
  fa_context claimed;
  if (p->split_sms > 0) {
    size_t bytes = 0;
    if (fa_context_init(&claimed, FA_BACKEND_CUDA, 0, &msg) != FA_OK)
      fail_msg("%s: fa_context_init: %s", what, msg.text);
    claimed.sm_count = p->split_sms;
    prm.context = &claimed;
    prm.num_splits = p->split_num;
    if (fa_fwd_workspace_size_with_kernel(&prm, kernel, &bytes, &msg) != FA_OK)
      fail_msg("%s: fa_fwd_workspace_size_with_kernel: %s", what, msg.text);
    if (bytes == 0) /* the shape is chosen so that it splits (test_dispatch: when a call may) */
      fail_msg("%s: num_splits %d asked for no workspace: the split would not run", what, p->split_num);
    prm.workspace = tu_pool_device(&s->pool, bytes, &why);
    if (prm.workspace == NULL)
      fail_msg("%s: workspace of %zu bytes: %s", what, bytes, why);
    prm.workspace_bytes = bytes;
  }
  st = fa_fwd_with_kernel(&prm, kernel, &msg);
  if (st == FA_ERR_UNSUPPORTED) {
    /* A family's own limit (the decode family: at most 64 packed query
     * rows per sequence over a contiguous cache): not this kernel's shape.
     * tests/test_decode.c covers that family's shapes. */
    stats->declined++;
    tu_pool_release(&s->pool);
    return;
  }
  if (st != FA_OK)
    fail_msg("%s: fa_fwd_with_kernel returned %s: %s", what, fa_status_string(st), msg.text);
  if (cuda) {
    if (tu_stream_sync(stream, &why) != 0)
      fail_msg("%s: cudaStreamSynchronize: %s", what, why);
    if (tu_to_host(rb.out.host, rb.out.dev, rb.out.n * 2, &why) != 0 ||
        (rb.lse && tu_to_host(rb.lse, rb.lse_dev, (size_t)g.lse_len * sizeof(float), &why) != 0))
      fail_msg("%s: copy back: %s", what, why);
    check_rerun_identical(s, &g, &rb, &prm, kernel, stream, what);
  }

  for (b = 0; b < g.batch; ++b) {
    rows_q += p->lq[b];
    rows_k += p->used[b];
  }
  q_ref = (double *)host_alloc(s, (size_t)(rows_q * g.hq * g.d + 1) * sizeof(double));
  k_ref = (double *)host_alloc(s, (size_t)(rows_k * g.hk * g.d + 1) * sizeof(double));
  v_ref = (double *)host_alloc(s, (size_t)(rows_k * g.hk * g.d + 1) * sizeof(double));
  out_ref = (double *)host_alloc(s, (size_t)(rows_q * g.hq * g.d + 1) * sizeof(double));
  lse_ref = (double *)host_alloc(s, (size_t)(rows_q * g.hq + 1) * sizeof(double));
  visible = (int64_t *)host_alloc(s, (size_t)(rows_q * g.hq + 1) * sizeof(int64_t));
  gather(q_ref, &rb.tq, &g, p, 0, c->dtype);
  gather(k_ref, &rb.tk, &g, p, 1, c->dtype);
  gather(v_ref, &rb.tv, &g, p, 1, c->dtype);
  if (rb.sinks) {
    sinks_ref = (double *)host_alloc(s, (size_t)g.hq * sizeof(double));
    for (h = 0; h < g.hq; ++h)
      sinks_ref[h] = rb.sinks[h];
  }

  memset(&rp, 0, sizeof rp);
  rp.batch = g.batch;
  rp.heads_q = g.hq;
  rp.heads_k = g.hk;
  rp.head_dim = g.d;
  rp.seqlen_q = p->lq;
  rp.seqlen_k = p->used;
  rp.q = q_ref;
  rp.k = k_ref;
  rp.v = v_ref;
  rp.window_left = p->win.left;
  rp.window_right = p->win.right;
  rp.scale = prm.scale != 0.f ? (double)prm.scale : 1.0 / sqrt((double)g.d);
  rp.softcap = p->sc->softcap;
  rp.sinks = sinks_ref;
  ref_attention(&rp, out_ref, lse_ref, visible);

  check_results(s, &g, p, &rb, out_ref, lse_ref, visible, stats);
  stats->runs++;
  tu_pool_release(&s->pool);
}

/* ------------------------------------------------------------ the test case */

static size_t find_kernel(const fwd_case *c) {
  const size_t n = fa_kernel_count();
  size_t i;
  for (i = 0; i < n; ++i) {
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    assert_int_equal(fa_kernel_info_get(i, &info), FA_OK);
    if (strcmp(info.name, c->name) != 0)
      continue;
    if (info.backend != c->backend || info.arch != c->arch || info.head_dim != c->head_dim ||
        info.dtype != c->dtype || info.mask != c->mask || strcmp(info.family, c->family) != 0 ||
        strcmp(info.arch_name, c->arch_name) != 0)
      fail_msg("kernel table entry %zu (%s) disagrees with test_cases.inc: family %s/%s, backend %d/%d, "
               "arch %s/%s, head_dim %d/%d, dtype %d/%d, mask %d/%d",
               i, info.name, info.family, c->family, info.backend, c->backend, info.arch_name,
               c->arch_name, info.head_dim, c->head_dim, info.dtype, c->dtype, info.mask, c->mask);
    return i;
  }
  fail_msg("kernel %s is in generated/test_cases.inc but not in the library's table", c->name);
  return n;
}

static window mask_window(fa_mask mask, size_t k) {
  window w = {-1, -1};
  if (mask == FA_MASK_CAUSAL)
    w.right = 0;
  else if (mask == FA_MASK_LOCAL)
    w = k_local_windows[k % N_LOCAL_WINDOWS];
  return w;
}

static void test_fwd_case(void **state) {
  case_state *s = (case_state *)*state;
  const fwd_case *c = s->c;
  const int cuda = c->backend == FA_BACKEND_CUDA;
  const size_t kernel = find_kernel(c);
  tu_rng rng = tu_rng_make(s->seed);
  fa_stream_t stream = NULL;
  run_stats stats;
  size_t k, w;
  memset(&stats, 0, sizeof stats);

  if (cuda) {
    char why[512];
    const char *err = NULL;
    if (!tu_arch_runs_on(c->arch_name, c->arch, s->device, why, sizeof why)) {
      print_message("skipped %s: %s\n", c->name, why);
      skip();
    }
    stream = tu_pool_stream(&s->keep, &err);
    if (stream == NULL)
      fail_msg("cudaStreamCreate: %s", err);
  }

  for (k = 0; k < N_SCENARIOS; ++k) {
    const scenario *sc = &k_scenarios[k];
    if (sc->gpu_only && !cuda)
      continue;
    {
      const problem p = make_problem(sc, mask_window(c->mask, k), cuda ? GPU_GROW : 1);
      run_problem(s, kernel, &p, &rng, stream, &stats);
    }
  }
  /* Local kernels: the most varied scenario (0) and the decode-rows one
   * (which every family takes) under every window, then none and causal. */
  if (c->mask == FA_MASK_LOCAL) {
    const window none = {-1, -1}, causal = {-1, 0};
    const scenario *varied[2] = {&k_scenarios[0], &k_scenarios[N_SCENARIOS - 2]};
    problem p;
    int v;
    for (v = 0; v < 2; ++v)
      for (w = 0; w < N_LOCAL_WINDOWS; ++w) {
        p = make_problem(varied[v], k_local_windows[w], cuda ? GPU_GROW : 1);
        run_problem(s, kernel, &p, &rng, stream, &stats);
      }
    for (v = 0; v < 2; ++v) {
      p = make_problem(v ? varied[1] : &k_scenarios[1], none, cuda ? GPU_GROW : 1);
      run_problem(s, kernel, &p, &rng, stream, &stats);
      p = make_problem(v ? varied[1] : &k_scenarios[1], causal, cuda ? GPU_GROW : 1);
      run_problem(s, kernel, &p, &rng, stream, &stats);
    }
  }
  /* wgmma up to d128, not causal (a causal walk ends in its tail instead;
   * d192/d256 do not split): the one long sequence grown to 2094 rows (17
   * tiles of 128 keys, FA_TILE_SPLIT_MIN_KEY_TILES or more; 2991 for
   * 176-key tiles) through 5 and 9
   * SMs, so that the last round is partial and its tiles are split (in 2
   * pieces, and on 9 SMs one in 3) and merged; each run twice, bitwise (the
   * merge's order). num_splits 2 on 5 SMs, 0 (the default) on 9. */
  if (cuda && strcmp(c->family, "wgmma") == 0 && c->mask != FA_MASK_CAUSAL && c->head_dim <= 128) {
    const window unbounded = {-1, -1}; /* local kernels too: a window bounded on one side walks in pairs */
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    if (fa_kernel_info_get(kernel, &info) != FA_OK)
      fail_msg("%s: fa_kernel_info_get(%zu) failed", c->name, kernel);
    /* Two row blocks a consumer (block_m = 128 x consumers: d32/d64 none,
     * and their causal _k4096, which this block skips anyway): no split
     * (fwd_wgmma_family.c split_bytes asks for no workspace; its merge
     * measured slower, fwd_wgmma.md "Two row blocks a consumer") */
    const int row_pairs = info.threads > 128 && info.block_m == 128 * (info.threads / 128 - 1);
    if (row_pairs) {
      print_message("%-40s split cases not run: two row blocks a consumer do not split the last round\n", c->name);
    } else {
      /* 176-key tiles (the long-key kernels) need 2816 keys or more */
      problem p =
          make_problem(&k_scenarios[SPLIT_SCENARIO], unbounded, info.block_n > 128 ? SPLIT_GROW_WIDE : SPLIT_GROW);
      p.split_sms = 5, p.split_num = 2;
      run_problem(s, kernel, &p, &rng, stream, &stats);
      p.split_sms = 9, p.split_num = 0; /* the default splits too */
      run_problem(s, kernel, &p, &rng, stream, &stats);
    }
  }
  print_message("%-40s %2d shapes, worst error: out %.2e (tol %.0e), row %.2e, lse abs %.2e%s\n",
                c->name, stats.runs, stats.worst_out,
                c->dtype == FA_DTYPE_BF16 ? TOL_BF16 : TOL_FP16, stats.worst_row,
                stats.worst_lse, stats.declined ? " (some shapes declined by the family)" : "");
  if (stats.runs < 2)
    fail_msg("%s: only %d shapes ran (%d declined by its family)", c->name, stats.runs, stats.declined);
}

/* ------------------------------------------------------------ 64-bit offsets (GPU) */

/*
 * K/V in one fused buffer of more than 2^31 elements, the second sequence
 * starting past element 2^31; out with a row stride that puts the second
 * sequence's rows past 2^31 too. seqused_k keeps the work small; only the
 * rows the kernel may touch are uploaded and compared.
 */
#define BIG_D 128
#define BIG_HQ 2
#define BIG_KV_WIDTH (2 * BIG_D) /* k and v heads of one row, hk = 1 */
#define BIG_OUT_ROW_STRIDE (INT64_C(1) << 27)

static void *big_alloc_or_skip(case_state *s, size_t bytes, const char *what) {
  const char *why = NULL;
  void *p = tu_pool_device(&s->pool, bytes, &why);
  if (p == NULL) {
    print_message("skipped: cannot allocate %s (%zu bytes): %s\n", what, bytes, why);
    skip();
  }
  return p;
}

static void upload_or_fail(void *dst, const void *src, size_t bytes) {
  const char *why = NULL;
  if (tu_to_device(dst, src, bytes, &why) != 0)
    fail_msg("cudaMemcpy to device: %s", why);
}

static void test_fwd_cuda_64bit_offsets(void **state) {
  case_state *s = (case_state *)*state;
  const fa_dtype dtype = FA_DTYPE_BF16;
  const int64_t total_k = ((INT64_C(1) << 31) / BIG_KV_WIDTH) + 4096;
  const int32_t lq[2] = {8, 16}, used[2] = {100, 300};
  const int32_t total_q = lq[0] + lq[1];
  const int64_t row_elems = BIG_HQ * BIG_D;
  int32_t cu_q[3] = {0, 0, 0}, cu_k[3] = {0, 0, 0}, seqused[2] = {used[0], used[1]};
  tu_rng rng = tu_rng_make(s->seed);
  uint16_t *kv_rows, *q, *out_rows;
  float *lse;
  char *kv_dev, *out_dev;
  void *q_dev, *lse_dev, *cu_q_dev, *cu_k_dev, *seqused_dev;
  fa_stream_t stream;
  fa_fwd_params prm;
  fa_message msg;
  fa_status st;
  const char *why = NULL;
  int64_t seq_k0[2];
  int b, i, h, d;

  if (!s->device->present) {
    print_message("skipped: no CUDA device: %s\n", s->device->reason);
    skip();
  }
  cu_q[1] = lq[0];
  cu_q[2] = total_q;
  cu_k[1] = (int32_t)(total_k - used[1]);
  cu_k[2] = (int32_t)total_k;
  seq_k0[0] = 0;
  seq_k0[1] = cu_k[1];

  kv_dev = (char *)big_alloc_or_skip(s, (size_t)(total_k * BIG_KV_WIDTH) * 2, "K/V");
  out_dev = (char *)big_alloc_or_skip(s, (size_t)(total_q * BIG_OUT_ROW_STRIDE) * 2, "out");
  stream = tu_pool_stream(&s->pool, &why);
  if (stream == NULL)
    fail_msg("cudaStreamCreate: %s", why);

  /* Inputs: the used K/V rows of both sequences, q packed. */
  kv_rows = (uint16_t *)host_alloc(s, (size_t)(used[0] + used[1]) * BIG_KV_WIDTH * 2);
  tu_fill_random(kv_rows, (size_t)(used[0] + used[1]) * BIG_KV_WIDTH, dtype, 1.0, &rng);
  upload_or_fail(kv_dev, kv_rows, (size_t)used[0] * BIG_KV_WIDTH * 2);
  upload_or_fail(kv_dev + (size_t)(seq_k0[1] * BIG_KV_WIDTH) * 2,
                 kv_rows + (size_t)used[0] * BIG_KV_WIDTH, (size_t)used[1] * BIG_KV_WIDTH * 2);
  q = (uint16_t *)host_alloc(s, (size_t)(total_q * row_elems) * 2);
  tu_fill_random(q, (size_t)(total_q * row_elems), dtype, 1.0, &rng);
  q_dev = device_copy(s, q, (size_t)(total_q * row_elems) * 2);

  /* Outputs: each out row and the row_elems after it, poisoned. */
  out_rows = (uint16_t *)host_alloc(s, (size_t)(total_q * 2 * row_elems) * 2);
  tu_poison16(out_rows, (size_t)(total_q * 2 * row_elems));
  for (i = 0; i < total_q; ++i)
    upload_or_fail(out_dev + (size_t)(i * BIG_OUT_ROW_STRIDE) * 2, out_rows + i * 2 * row_elems,
                   (size_t)(2 * row_elems) * 2);
  lse = (float *)host_alloc(s, (size_t)(BIG_HQ * total_q) * sizeof(float));
  tu_poison32(lse, (size_t)(BIG_HQ * total_q));
  lse_dev = device_copy(s, lse, (size_t)(BIG_HQ * total_q) * sizeof(float));
  cu_q_dev = device_copy(s, cu_q, sizeof cu_q);
  cu_k_dev = device_copy(s, cu_k, sizeof cu_k);
  seqused_dev = device_copy(s, seqused, sizeof seqused);

  prm = fa_fwd_params_default();
  prm.backend = FA_BACKEND_CUDA;
  prm.dtype = dtype;
  prm.batch = 2;
  prm.num_heads_q = BIG_HQ;
  prm.num_heads_k = 1;
  prm.head_dim = BIG_D;
  prm.cu_seqlens_q = (const int32_t *)cu_q_dev;
  prm.cu_seqlens_k = (const int32_t *)cu_k_dev;
  prm.seqused_k = (const int32_t *)seqused_dev;
  prm.total_q = total_q;
  prm.total_k = total_k;
  prm.max_seqlen_q = lq[1];
  prm.max_seqlen_k = cu_k[1]; /* the first sequence's capacity */
  prm.q = q_dev;
  prm.k = kv_dev;
  prm.v = kv_dev + BIG_D * 2;
  prm.k_row_stride = prm.v_row_stride = BIG_KV_WIDTH;
  prm.out = out_dev;
  prm.out_row_stride = BIG_OUT_ROW_STRIDE;
  prm.window_left = -1;
  prm.window_right = 0; /* causal, bottom-right aligned: Lk > Lq */
  prm.lse = (float *)lse_dev;
  prm.stream = stream;

  st = fa_fwd(&prm, &msg);
  if (st == FA_ERR_UNSUPPORTED_DEVICE) {
    print_message("skipped: %s\n", msg.text);
    skip();
  }
  if (st != FA_OK)
    fail_msg("fa_fwd: %s: %s", fa_status_string(st), msg.text);
  if (tu_stream_sync(stream, &why) != 0)
    fail_msg("cudaStreamSynchronize: %s", why);
  for (i = 0; i < total_q; ++i)
    if (tu_to_host(out_rows + i * 2 * row_elems, out_dev + (size_t)(i * BIG_OUT_ROW_STRIDE) * 2,
                   (size_t)(2 * row_elems) * 2, &why) != 0)
      fail_msg("copy back: %s", why);
  if (tu_to_host(lse, lse_dev, (size_t)(BIG_HQ * total_q) * sizeof(float), &why) != 0)
    fail_msg("copy back: %s", why);

  {
    /* Reference on the gathered rows (k and v interleaved in kv_rows). */
    const size_t nq = (size_t)(total_q * row_elems), nk = (size_t)(used[0] + used[1]) * BIG_D;
    double *qr = (double *)host_alloc(s, nq * sizeof(double));
    double *kr = (double *)host_alloc(s, nk * sizeof(double));
    double *vr = (double *)host_alloc(s, nk * sizeof(double));
    double *outr = (double *)host_alloc(s, nq * sizeof(double));
    double *lser = (double *)host_alloc(s, (size_t)(total_q * BIG_HQ) * sizeof(double));
    double *got = (double *)host_alloc(s, nq * sizeof(double));
    const int64_t lq64[2] = {lq[0], lq[1]}, lk64[2] = {used[0], used[1]};
    ref_problem rp;
    size_t e;
    double rel;
    for (e = 0; e < nq; ++e)
      qr[e] = tu_half_to_double(q[e], dtype);
    for (e = 0; e < (size_t)(used[0] + used[1]); ++e)
      for (d = 0; d < BIG_D; ++d) {
        kr[e * BIG_D + d] = tu_half_to_double(kv_rows[e * BIG_KV_WIDTH + d], dtype);
        vr[e * BIG_D + d] = tu_half_to_double(kv_rows[e * BIG_KV_WIDTH + BIG_D + d], dtype);
      }
    memset(&rp, 0, sizeof rp);
    rp.batch = 2;
    rp.heads_q = BIG_HQ;
    rp.heads_k = 1;
    rp.head_dim = BIG_D;
    rp.seqlen_q = lq64;
    rp.seqlen_k = lk64;
    rp.q = qr;
    rp.k = kr;
    rp.v = vr;
    rp.window_left = -1;
    rp.window_right = 0;
    rp.scale = 1.0 / sqrt((double)BIG_D);
    ref_attention(&rp, outr, lser, NULL);

    for (i = 0; i < total_q; ++i) {
      for (e = 0; e < (size_t)row_elems; ++e) {
        got[i * row_elems + (int64_t)e] = tu_half_to_double(out_rows[i * 2 * row_elems + (int64_t)e], dtype);
        if (!isfinite(got[i * row_elems + (int64_t)e]))
          fail_msg("out row %d element %zu not finite (0x%04x)", i, e,
                   out_rows[i * 2 * row_elems + (int64_t)e]);
      }
      for (e = (size_t)row_elems; e < (size_t)(2 * row_elems); ++e)
        if (!tu_is_poison16(out_rows[i * 2 * row_elems + (int64_t)e]))
          fail_msg("out row %d: element %zu past the row was written", i, e);
    }
    rel = tu_rel_frobenius(got, outr, nq);
    if (rel > TOL_BF16)
      fail_msg("64-bit offsets: relative Frobenius error %.3g > %.3g", rel, TOL_BF16);
    for (b = 0; b < 2; ++b)
      for (i = 0; i < lq[b]; ++i)
        for (h = 0; h < BIG_HQ; ++h) {
          const double want = lser[(cu_q[b] + i) * BIG_HQ + h];
          const double have = lse[h * total_q + cu_q[b] + i];
          if (!(fabs(have - want) <= LSE_ABS_TOL + LSE_REL_TOL * fabs(want)))
            fail_msg("lse[seq %d, row %d, head %d] = %g, expected %g", b, i, h, have, want);
        }
    print_message("64-bit offsets: K/V buffer %lld elements, out span %lld elements, rel err %.2e\n",
                  (long long)(total_k * BIG_KV_WIDTH), (long long)(total_q * BIG_OUT_ROW_STRIDE), rel);
  }
}

/* ------------------------------------------------------------ the walk head by head
 *
 * The wgmma family runs work tiles head by head (a head's query tiles on
 * adjacent blocks at once) in two places (attn/tile_order.h): the whole walk
 * where every sequence has the same n <= FA_TILE_TAIL_BY_HEAD_MAX_N query
 * tiles and n divides two rounds (fa_tile_walk_by_head; at d256 its rest
 * after the lead is head by head too), and otherwise the tail after the causal
 * pairs where its heads have at most FA_TILE_TAIL_BY_HEAD_MAX_N tiles and its
 * K/V reach FA_TILE_TAIL_BY_HEAD_MIN_BYTES. Only problems of tens of MB take
 * either, larger than the scenarios above. Two batches of d256 causal bf16,
 * 8 heads: 16 sequences of 512 (the bench grid's d256 s512 causal row at
 * half its batch: the whole walk head by head where 4 divides twice the SM
 * count),
 * and 8 of 1024 before 8 of 512 (pairs for the long ones, the short ones'
 * tail head by head). Each case checks that the host-side rules pick that
 * order for the device's SM count, then compares two rows of every work
 * tile (its first and last) against the double reference, the lse of those
 * rows, and a second run bitwise.
 */
#define TAIL_D_MAX 256
#define TAIL_H 8
#define TAIL_B 16
#define TAIL_S_MAX 1024
#define TAIL_BLOCK_M 128 /* the d64 and d256 causal kernels' work tile below 4096 keys (gen/spec.py) */

/* The walk the kernel takes for these lengths on sm_count blocks (its
 * list_block_tiles, for a batch that fills every block). */
static fa_tile_order tail_case_order(const int *lens, int nb, int head_dim, int sm_count, uint16_t *q_tiles,
                                     uint16_t *by_rank, uint32_t *ranks_end) {
  int m_tiles = 0;
  for (int b = 0; b < nb; ++b) {
    q_tiles[b] = (uint16_t)((lens[b] + TAIL_BLOCK_M - 1) / TAIL_BLOCK_M);
    if (q_tiles[b] > m_tiles) m_tiles = q_tiles[b];
  }
  for (int b = 0; b < nb; ++b) {
    uint32_t slots;
    const int32_t r = fa_tile_seq_rank_end(q_tiles, nb, TAIL_H, 1, b, &slots);
    by_rank[r] = (uint16_t)b;
    ranks_end[r] = slots;
  }
  fa_tile_order o = fa_tile_order_tables(m_tiles, nb, TAIL_H, 1, q_tiles, by_rank, ranks_end);
  o.tile_kv_bytes = fa_tile_kv_bytes(TAIL_BLOCK_M, (uint32_t)head_dim); /* as the kernel sets it (no GQA packing) */
  fa_tile_order_tail(&o, (uint32_t)sm_count);
  return o;
}

/* whole: the case meant for the whole walk head by head (else the tail
 * after pairs). Returns after skip() where the device or dispatch does not
 * run it. */
static void run_walk_by_head_case(void **state, const int *lens, int head_dim, int whole) {
  case_state *s = (case_state *)*state;
  const fa_dtype dtype = FA_DTYPE_BF16;
  int32_t cu[TAIL_B + 1];
  cu[0] = 0;
  for (int b = 0; b < TAIL_B; ++b) cu[b + 1] = cu[b] + lens[b];
  const int64_t rows = cu[TAIL_B], n = (int64_t)rows * TAIL_H * head_dim;
  const size_t bytes = (size_t)n * 2;
  tu_rng rng = tu_rng_make(s->seed);
  uint16_t *q, *k, *v, *out, *again;
  float *lse;
  void *q_dev, *k_dev, *v_dev, *out_dev, *lse_dev, *cu_dev;
  fa_context ctx;
  fa_kernel_info info = FA_KERNEL_INFO_INIT;
  fa_fwd_params prm;
  fa_message msg;
  fa_fwd_dispatch_info choice = FA_FWD_DISPATCH_INFO_INIT;
  fa_status st;
  const char *why = NULL;
  double err2 = 0, ref2 = 0, lse_err = 0;
  double ref_out[TAIL_D_MAX];
  int checked = 0;

  if (!s->device->present) {
    print_message("skipped: no CUDA device: %s\n", s->device->reason);
    skip();
  }
  prm = fa_fwd_params_default();
  prm.backend = FA_BACKEND_CUDA;
  prm.dtype = dtype;
  prm.batch = TAIL_B;
  prm.num_heads_q = prm.num_heads_k = TAIL_H;
  prm.head_dim = head_dim;
  prm.total_q = prm.total_k = rows;
  prm.max_seqlen_q = prm.max_seqlen_k = 0;
  for (int b = 0; b < TAIL_B; ++b)
    if (lens[b] > prm.max_seqlen_q) prm.max_seqlen_q = prm.max_seqlen_k = lens[b];
  prm.window_left = -1;
  prm.window_right = 0; /* causal */
  if (fa_context_init(&ctx, FA_BACKEND_CUDA, FA_CURRENT_DEVICE, &msg) != FA_OK) fail_msg("fa_context_init: %s", msg.text);

  q = (uint16_t *)host_alloc(s, bytes);
  k = (uint16_t *)host_alloc(s, bytes);
  v = (uint16_t *)host_alloc(s, bytes);
  out = (uint16_t *)host_alloc(s, bytes);
  again = (uint16_t *)host_alloc(s, bytes);
  lse = (float *)host_alloc(s, (size_t)rows * TAIL_H * sizeof(float));
  tu_fill_random(q, (size_t)n, dtype, 1.0, &rng);
  tu_fill_random(k, (size_t)n, dtype, 1.0, &rng);
  tu_fill_random(v, (size_t)n, dtype, 1.0, &rng);
  tu_poison16(out, (size_t)n);
  tu_poison32(lse, (size_t)rows * TAIL_H);
  q_dev = device_copy(s, q, bytes);
  k_dev = device_copy(s, k, bytes);
  v_dev = device_copy(s, v, bytes);
  out_dev = device_copy(s, out, bytes);
  lse_dev = device_copy(s, lse, (size_t)rows * TAIL_H * sizeof(float));
  cu_dev = device_copy(s, cu, sizeof cu);
  prm.cu_seqlens_q = prm.cu_seqlens_k = (const int32_t *)cu_dev;
  prm.q = q_dev;
  prm.k = k_dev;
  prm.v = v_dev;
  prm.out = out_dev;
  prm.lse = (float *)lse_dev;
  prm.context = &ctx;
  prm.stream = tu_pool_stream(&s->pool, &why);
  if (prm.stream == NULL) fail_msg("cudaStreamCreate: %s", why);
  /* Mixed lengths run as a pair (dispatch.c): the decode family takes the
   * sequences of at most short_seqlen_q rows, none here. */
  st = fa_fwd_query_dispatch(&prm, &choice, &msg);
  if (st == FA_ERR_UNSUPPORTED_DEVICE) {
    print_message("skipped: %s\n", msg.text);
    skip();
  }
  if (st != FA_OK) fail_msg("fa_fwd_query_dispatch: %s: %s", fa_status_string(st), msg.text);
  for (int c = 0; c < choice.num_kernels; ++c) {
    if (fa_kernel_info_get(choice.kernel_index[c], &info) != FA_OK)
      fail_msg("fa_kernel_info_get(%zu) failed", choice.kernel_index[c]);
    if (strcmp(info.family, "wgmma") == 0) break;
  }
  if (strcmp(info.family, "wgmma") != 0) {
    print_message("skipped: dispatch chose %s on this device; the walk head by head is the wgmma family's\n",
                  info.name);
    skip();
  }
  if (choice.workspace_bytes > 0) { /* the pair's decode kernel may split (it gets no sequence here) */
    prm.workspace = tu_pool_device(&s->pool, choice.workspace_bytes, &why);
    if (prm.workspace == NULL) fail_msg("cudaMalloc(%zu): %s", choice.workspace_bytes, why);
    prm.workspace_bytes = choice.workspace_bytes;
  }
  for (int b = 0; b < TAIL_B; ++b)
    if (lens[b] <= choice.short_seqlen_q)
      fail_msg("sequence %d (%d rows) goes to the pair's short kernel: the walk checked below assumes all in %s", b,
               lens[b], info.name);
  {
    uint16_t q_tiles[TAIL_B], by_rank[TAIL_B];
    uint32_t ranks_end[TAIL_B];
    const fa_tile_order o = tail_case_order(lens, TAIL_B, head_dim, ctx.sm_count, q_tiles, by_rank, ranks_end);
    const int whole_here = whole && 2 * ctx.sm_count % ((lens[0] + TAIL_BLOCK_M - 1) / TAIL_BLOCK_M) == 0;
    if (whole_here && (o.count != 0 || (o.tail_lead_units == 0 && !o.tail_by_head)))
      fail_msg("on %d SMs the walk keeps %u slots of pairs, then %u units (a lead of %u): not the whole walk head by "
               "head",
               ctx.sm_count, o.count, o.tail_units, o.tail_lead_units);
    if (!whole && (o.count == 0 || !o.tail_by_head))
      fail_msg("on %d SMs the walk has %u slots of pairs and a tail of %u units %s: this case no longer covers the "
               "pairs' tail head by head",
               ctx.sm_count, o.count, o.tail_units, o.tail_by_head ? "head by head" : "level by level");
    print_message("%s on %d SMs: %u slots of pairs, then %u units of %u tiles: a lead of %u head by head, the rest %s\n",
                  info.name, ctx.sm_count, o.count, o.tail_units, o.tail_n, o.tail_lead_units,
                  o.tail_by_head ? "head by head" : "level by level");
  }

  for (int run = 0; run < 2; ++run) {
    st = fa_fwd(&prm, &msg);
    if (st != FA_OK) fail_msg("fa_fwd: %s: %s", fa_status_string(st), msg.text);
    if (tu_stream_sync(prm.stream, &why) != 0) fail_msg("cudaStreamSynchronize: %s", why);
    if (tu_to_host(run == 0 ? out : again, out_dev, bytes, &why) != 0) fail_msg("copy back: %s", why);
  }
  if (memcmp(out, again, bytes) != 0) fail_msg("%s: a second run on the same inputs differs", info.name);
  if (tu_to_host(lse, lse_dev, (size_t)rows * TAIL_H * sizeof(float), &why) != 0) fail_msg("copy back: %s", why);

  /* The first and last row of every work tile (sequence, head, query tile). */
  for (int b = 0; b < TAIL_B; ++b)
    for (int h = 0; h < TAIL_H; ++h)
      for (int r = 0; r < lens[b]; r += TAIL_BLOCK_M)
        for (int end = 0; end < 2; ++end) {
          const int64_t i = r + (end ? TAIL_BLOCK_M - 1 : 0), row = cu[b] + i;
          double ref_lse;
          ref_attention_row(q, k, v, dtype, cu[b], cu[b], lens[b], lens[b], TAIL_H, TAIL_H, head_dim, h, i, -1, 0,
                            1.0 / sqrt((double)head_dim), 0.0, NULL, ref_out, &ref_lse);
          for (int c = 0; c < head_dim; ++c) {
            const double got = tu_half_to_double(out[(row * TAIL_H + h) * head_dim + c], dtype);
            if (!isfinite(got)) fail_msg("out[seq %d, row %lld, head %d, %d] not finite", b, (long long)i, h, c);
            err2 += (got - ref_out[c]) * (got - ref_out[c]);
            ref2 += ref_out[c] * ref_out[c];
          }
          {
            const double have = lse[(int64_t)h * rows + row];
            if (!(fabs(have - ref_lse) <= LSE_ABS_TOL + LSE_REL_TOL * fabs(ref_lse)))
              fail_msg("lse[seq %d, row %lld, head %d] = %g, expected %g", b, (long long)i, h, have, ref_lse);
            if (fabs(have - ref_lse) > lse_err) lse_err = fabs(have - ref_lse);
          }
          ++checked;
        }
  {
    const double rel = sqrt(err2 / ref2);
    if (!(rel <= TOL_BF16)) fail_msg("%s: relative Frobenius error %.3g > %.3g", info.name, rel, TOL_BF16);
    print_message("%s: %d rows checked, rel err %.2e, lse max abs %.1e; rerun bitwise identical\n", info.name, checked,
                  rel, lse_err);
  }
}

static void test_fwd_cuda_wgmma_walk_by_head(void **state) {
  int lens[TAIL_B];
  for (int b = 0; b < TAIL_B; ++b) lens[b] = TAIL_S_MAX / 2;
  run_walk_by_head_case(state, lens, 256, 1);
}

/* 8 query tiles a sequence: a lead head by head, the rest level by level
 * (the tail's rule takes at most FA_TILE_TAIL_BY_HEAD_MAX_N tiles head by
 * head). */
static void test_fwd_cuda_wgmma_walk_by_head_level_rest(void **state) {
  int lens[TAIL_B];
  for (int b = 0; b < TAIL_B; ++b) lens[b] = TAIL_S_MAX;
  run_walk_by_head_case(state, lens, 256, 1);
}

static void test_fwd_cuda_wgmma_tail_by_head(void **state) {
  int lens[TAIL_B];
  for (int b = 0; b < TAIL_B; ++b) lens[b] = b < TAIL_B / 2 ? TAIL_S_MAX : TAIL_S_MAX / 2;
  run_walk_by_head_case(state, lens, 256, 0);
}

/* ------------------------------------------------------------ fp16 / bf16 converters */

static float conv_decode(uint16_t bits, fa_dtype dtype) {
  return dtype == FA_DTYPE_BF16 ? fa_bf16_to_float(bits) : fa_fp16_to_float(bits);
}

static uint16_t conv_encode(float x, fa_dtype dtype) {
  return dtype == FA_DTYPE_BF16 ? fa_float_to_bf16(x) : fa_float_to_fp16(x);
}

/* Independent round-to-nearest-even: binary search among the positive
 * finite encodings (monotonic in their bits), ties to the even encoding,
 * overflow where IEEE puts it (half an ulp past the largest finite). */
static uint16_t slow_encode(double x, fa_dtype dtype) {
  const uint16_t inf = dtype == FA_DTYPE_BF16 ? 0x7f80 : 0x7c00;
  const uint16_t sign = signbit(x) ? 0x8000 : 0;
  const double ax = fabs(x);
  const double max_finite = tu_half_to_double((uint16_t)(inf - 1), dtype);
  const double ulp_top = max_finite - tu_half_to_double((uint16_t)(inf - 2), dtype);
  uint16_t lo = 0, hi = (uint16_t)(inf - 1);
  double dlo, dhi;
  if (isnan(x))
    return 0x7fff;
  if (ax >= max_finite + ulp_top / 2)
    return (uint16_t)(sign | inf);
  if (ax >= max_finite)
    return (uint16_t)(sign | (inf - 1));
  while (hi - lo > 1) { /* value(lo) <= ax < value(hi) */
    const uint16_t mid = (uint16_t)((lo + hi) / 2);
    if (tu_half_to_double(mid, dtype) <= ax)
      lo = mid;
    else
      hi = mid;
  }
  dlo = ax - tu_half_to_double(lo, dtype);
  dhi = tu_half_to_double(hi, dtype) - ax;
  if (dlo < dhi || (dlo == dhi && (lo & 1) == 0))
    return (uint16_t)(sign | lo);
  return (uint16_t)(sign | hi);
}

static void check_encode(float x, fa_dtype dtype) {
  const uint16_t got = conv_encode(x, dtype), want = slow_encode(x, dtype);
  if (isnan(x)) {
    if (!isnan(tu_half_to_double(got, dtype)))
      fail_msg("%s: encode(NaN) = 0x%04x is not NaN", fa_dtype_name(dtype), got);
    return;
  }
  if (got != want)
    fail_msg("%s: encode(%.9g = 0x%08x) = 0x%04x, expected 0x%04x", fa_dtype_name(dtype), x,
             fa_float_bits(x), got, want);
}

static void test_fp_decode_exhaustive(void **state) {
  const fa_dtype dtypes[2] = {FA_DTYPE_FP16, FA_DTYPE_BF16};
  int t;
  uint32_t bits;
  (void)state;
  for (t = 0; t < 2; ++t)
    for (bits = 0; bits <= 0xffff; ++bits) {
      const float got = conv_decode((uint16_t)bits, dtypes[t]);
      const double want = tu_half_to_double((uint16_t)bits, dtypes[t]);
      if (isnan(want) ? !isnan(got) : ((double)got != want || !signbit(got) != !signbit(want)))
        fail_msg("%s: decode(0x%04x) = %.9g, expected %.9g", fa_dtype_name(dtypes[t]), bits,
                 got, want);
    }
}

static void test_fp_encode(void **state) {
  const fa_dtype dtypes[2] = {FA_DTYPE_FP16, FA_DTYPE_BF16};
  case_state *s = (case_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  const float specials[] = {0.f, -0.f, INFINITY, -INFINITY, NAN, -NAN, 3.4028235e38f,
                            1.4e-45f, 1.17549435e-38f, 65504.f, 65519.99f, 65520.f,
                            65536.f, 6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f,
                            2.9802326e-08f, 1.f, 1.0009766f, 1.0004883f, 1.0014648f};
  int t;
  size_t i;
  uint32_t bits;
  for (t = 0; t < 2; ++t) {
    const fa_dtype dt = dtypes[t];
    const uint16_t inf = dt == FA_DTYPE_BF16 ? 0x7f80 : 0x7c00;
    for (i = 0; i < sizeof specials / sizeof specials[0]; ++i) {
      check_encode(specials[i], dt);
      check_encode(-specials[i], dt);
    }
    /* Every value round-trips; every midpoint and its float neighbours
     * round as RNE says (this covers all ties, subnormals, overflow). */
    for (bits = 0; bits < inf; ++bits) {
      const float v = conv_decode((uint16_t)bits, dt);
      const float next = bits + 1 < inf ? conv_decode((uint16_t)(bits + 1), dt)
                                        : (float)(2.0 * v - conv_decode((uint16_t)(bits - 1), dt));
      const float mid = (float)(((double)v + (double)next) / 2);
      check_encode(v, dt);
      check_encode(-v, dt);
      check_encode(mid, dt);
      check_encode(nextafterf(mid, 0.f), dt);
      check_encode(nextafterf(mid, INFINITY), dt);
      check_encode(-mid, dt);
    }
    /* Random floats over the whole range, bit patterns included. */
    for (i = 0; i < 200000; ++i) {
      const uint32_t r = (uint32_t)tu_rng_next(&rng);
      check_encode(fa_bits_float(r), dt);
      check_encode((float)(tu_rng_normal(&rng) * 1000.0), dt);
    }
  }
}

/* ------------------------------------------------------------ the reference itself */

/* q = 0 makes every score 0: each row averages the values it sees, and
 * lse = log(keys seen + exp(sink)). A closed form for the reference. */
static void check_reference_closed_form(const double *sink) {
  enum { LQ = 6, LK = 9, D = 4 };
  const int64_t lq = LQ, lk = LK;
  double q[LQ * D], k[LK * D], v[LK * D], out[LQ * D], lse[LQ];
  int64_t vis[LQ], i, j;
  ref_problem rp;
  int d;
  for (j = 0; j < LK * D; ++j) {
    k[j] = (double)(j % 7) - 3.0;
    v[j] = (double)j;
  }
  memset(q, 0, sizeof q);
  memset(&rp, 0, sizeof rp);
  rp.batch = rp.heads_q = rp.heads_k = 1;
  rp.head_dim = D;
  rp.seqlen_q = &lq;
  rp.seqlen_k = &lk;
  rp.q = q, rp.k = k, rp.v = v;
  rp.window_left = 2, rp.window_right = 1; /* row i sees keys i+1 .. i+4 */
  rp.scale = 0.5;
  rp.sinks = sink;
  ref_attention(&rp, out, lse, vis);
  for (i = 0; i < LQ; ++i) {
    const int64_t lo = i + 1, hi = i + 4 < LK - 1 ? i + 4 : LK - 1;
    const double denom = (double)(hi - lo + 1) + (sink ? exp(*sink) : 0.0);
    assert_int_equal(vis[i], hi - lo + 1);
    assert_true(fabs(lse[i] - log(denom)) < 1e-12);
    for (d = 0; d < D; ++d) {
      double want = 0.0;
      for (j = lo; j <= hi; ++j)
        want += v[j * D + d];
      want /= denom;
      assert_true(fabs(out[i * D + d] - want) < 1e-12 * (1.0 + fabs(want)));
    }
  }
}

/* ref_attention_row (used by the demo on big problems) agrees with
 * ref_attention on a varlen GQA problem with window, softcap and sinks. */
static void check_reference_rows(tu_rng *rng) {
  enum { B = 2, HQ = 4, HK = 2, D = 16, TQ = 12, TK = 13 };
  const int64_t lq[B] = {5, 7}, lk[B] = {9, 4}, q0[B] = {0, 5}, k0[B] = {0, 9};
  const float sinks[HQ] = {0.5f, -1.f, 2.f, 0.f};
  uint16_t hq[TQ * HQ * D], hk[TK * HK * D], hv[TK * HK * D];
  double q[TQ * HQ * D], k[TK * HK * D], v[TK * HK * D], out[TQ * HQ * D], lse[TQ * HQ];
  double sinks_d[HQ], row[D], row_lse;
  ref_problem rp;
  int b, h, d, e;
  int64_t i;
  tu_fill_random(hq, TQ * HQ * D, FA_DTYPE_BF16, 1.0, rng);
  tu_fill_random(hk, TK * HK * D, FA_DTYPE_BF16, 1.0, rng);
  tu_fill_random(hv, TK * HK * D, FA_DTYPE_BF16, 1.0, rng);
  for (e = 0; e < TQ * HQ * D; ++e)
    q[e] = tu_half_to_double(hq[e], FA_DTYPE_BF16);
  for (e = 0; e < TK * HK * D; ++e) {
    k[e] = tu_half_to_double(hk[e], FA_DTYPE_BF16);
    v[e] = tu_half_to_double(hv[e], FA_DTYPE_BF16);
  }
  for (h = 0; h < HQ; ++h)
    sinks_d[h] = sinks[h];
  memset(&rp, 0, sizeof rp);
  rp.batch = B, rp.heads_q = HQ, rp.heads_k = HK, rp.head_dim = D;
  rp.seqlen_q = lq, rp.seqlen_k = lk;
  rp.q = q, rp.k = k, rp.v = v;
  rp.window_left = 3, rp.window_right = 2;
  rp.scale = 0.7, rp.softcap = 5.0, rp.sinks = sinks_d;
  ref_attention(&rp, out, lse, NULL);
  for (b = 0; b < B; ++b)
    for (i = 0; i < lq[b]; ++i)
      for (h = 0; h < HQ; ++h) {
        const int64_t r = q0[b] + i;
        ref_attention_row(hq, hk, hv, FA_DTYPE_BF16, q0[b], k0[b], lq[b], lk[b], HQ, HK, D, h, i,
                          3, 2, 0.7, 5.0, &sinks[h], row, &row_lse);
        assert_true(fabs(row_lse - lse[r * HQ + h]) < 1e-12);
        for (d = 0; d < D; ++d)
          assert_true(fabs(row[d] - out[(r * HQ + h) * D + d]) < 1e-12);
      }
}

static void test_reference_self_check(void **state) {
  case_state *s = (case_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  const double sink = 1.25;
  check_reference_closed_form(NULL);
  check_reference_closed_form(&sink);
  check_reference_rows(&rng);
}

/* ------------------------------------------------------------ main */

static int setup_case(void **state) {
  case_state *s = (case_state *)*state;
  tu_pool_init(&s->pool);
  tu_pool_init(&s->keep);
  return 0;
}

static int teardown_case(void **state) {
  case_state *s = (case_state *)*state;
  tu_pool_release(&s->pool);
  tu_pool_release(&s->keep);
  return 0;
}

typedef struct extra_test {
  const char *name, *group;
  CMUnitTestFunction fn;
} extra_test;

static const extra_test k_extra_tests[] = {
    {"reference_self_check", "reference", test_reference_self_check},
    {"fp_decode_exhaustive", "fp_convert", test_fp_decode_exhaustive},
    {"fp_encode_rne", "fp_convert", test_fp_encode},
    {"fwd_cuda_64bit_offsets", "fwd_cuda_64bit", test_fwd_cuda_64bit_offsets},
    {"fwd_cuda_wgmma_tail_whole_walk", "fwd_cuda_wgmma_tail", test_fwd_cuda_wgmma_walk_by_head},
    {"fwd_cuda_wgmma_tail_whole_walk_n8", "fwd_cuda_wgmma_tail", test_fwd_cuda_wgmma_walk_by_head_level_rest},
    {"fwd_cuda_wgmma_tail_by_head", "fwd_cuda_wgmma_tail", test_fwd_cuda_wgmma_tail_by_head},
};
#define N_EXTRA (sizeof k_extra_tests / sizeof k_extra_tests[0])
#define N_TESTS (N_CASES + N_EXTRA)

static int matches(const char *name, const char *filter) {
  return filter == NULL || strstr(name, filter) != NULL;
}

int main(int argc, char **argv) {
  const int list = argc > 1 && strcmp(argv[1], "--list") == 0;
  const char *filter = argc > 1 && !list ? argv[1] : NULL;
  int from_env = 0, failed = 0;
  const uint64_t seed = tu_seed_from_env(&from_env);
  tu_device device;
  case_state *states = (case_state *)calloc(N_TESTS, sizeof *states);
  struct CMUnitTest *tests = (struct CMUnitTest *)calloc(N_TESTS, sizeof *tests);
  const char *groups[N_TESTS];
  const char *names[N_TESTS];
  size_t n_groups = 0, i, g;

  if (states == NULL || tests == NULL) {
    fprintf(stderr, "test_fwd: out of memory\n");
    free(tests);
    free(states);
    return 2;
  }
  /* "--list": every test's name, one a line, nothing run (device_run.sh's
   * parallel suite splits them into parts and checks that the parts ran
   * each exactly once). */
  if (list) {
    for (i = 0; i < N_TESTS; ++i)
      printf("%s\n", i < N_CASES ? k_cases[i].name : k_extra_tests[i - N_CASES].name);
    free(tests);
    free(states);
    return 0;
  }
  printf("test_fwd: seed %llu (%s); reproduce with FA_TEST_SEED=%llu\n",
         (unsigned long long)seed, from_env ? "from FA_TEST_SEED" : "fresh",
         (unsigned long long)seed);
  if (tu_cuda_device(&device))
    printf("test_fwd: CUDA device %s, compute capability %d.%d\n", device.name,
           device.cc_major, device.cc_minor);
  else
    printf("test_fwd: no CUDA device (%s): CUDA cases skip\n", device.reason);
  fflush(stdout);

  /* Each case's seed mixes in its name: filtering does not change data. */
  for (i = 0; i < N_TESTS; ++i) {
    names[i] = i < N_CASES ? k_cases[i].name : k_extra_tests[i - N_CASES].name;
    groups[i] = i < N_CASES ? k_cases[i].group : k_extra_tests[i - N_CASES].group;
    states[i].c = i < N_CASES ? &k_cases[i] : NULL;
    states[i].seed = seed ^ tu_hash_string(names[i]);
    states[i].device = &device;
  }

  /* One CMocka group per distinct group string, in order of appearance. */
  for (i = 0; i < N_TESTS; ++i) {
    size_t j, n = 0;
    for (j = 0; j < i; ++j)
      if (strcmp(groups[j], groups[i]) == 0)
        break;
    if (j < i)
      continue; /* group already run */
    for (j = i; j < N_TESTS; ++j) {
      if (strcmp(groups[j], groups[i]) != 0 || !matches(names[j], filter))
        continue;
      tests[n].name = names[j];
      tests[n].test_func = j < N_CASES ? test_fwd_case : k_extra_tests[j - N_CASES].fn;
      tests[n].setup_func = setup_case;
      tests[n].teardown_func = teardown_case;
      tests[n].initial_state = &states[j];
      ++n;
    }
    if (n > 0) {
      failed += _cmocka_run_group_tests(groups[i], tests, n, NULL, NULL);
      ++n_groups;
    }
  }
  g = n_groups;
  if (g == 0)
    printf("test_fwd: no test matches '%s'\n", filter ? filter : "");
  free(tests);
  free(states);
  return failed != 0 || g == 0;
}
