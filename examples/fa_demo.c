/*
 * fa_demo.c - the main job: varlen attention on a default problem (or one
 * given by flags), on the GPU when there is one and on the CPU backend
 * otherwise. Prints the kernel that ran, its time, TFLOP/s and its error
 * against the double-precision reference (tests/reference.c).
 *
 *   build/fa_demo [--backend cuda|cpu] [--dtype bf16|fp16] [--head-dim D]
 *                 [--heads-q H] [--heads-k H] [--seqlens 1024,256,...]
 *                 [--seqlens-k ...] [--causal] [--window L,R] [--softcap C]
 *                 [--sinks] [--scale S] [--repeat N] [--check-rows N] [--seed S]
 *                 [--decode] [--queries N] [--page-size P] [--splits N]
 *                 [--kernel NAME]
 *
 * The default problem is the seed's: packed image sequences of a Qwen-VL
 * style vision encoder (head_dim 80, 16 heads, full attention, bf16).
 * On the CPU backend the default lengths are 4x shorter.
 *
 * --decode: the decoding step of a server instead: --queries (default 1)
 * new tokens per sequence, causal, over KV caches of --seqlens-k keys
 * (default 32 sequences of 8192; 8 of 2048 on the CPU), GQA 32/8, head_dim
 * 128 unless given. --page-size P puts the cache in pages of P tokens in a
 * shuffled pool with a block table (0 = contiguous); --splits forces the
 * split-KV count (0 = the library's choice); --kv-heads-first stores a
 * contiguous cache heads first ([heads_k, keys, head_dim], through the
 * strides) instead of keys first. Reports K/V bytes read per second, the
 * figure that bounds decoding.
 * Exit status: 0 when the error is within the dtype's tolerance.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "flashattn.h"
#include "reference.h"
#include "test_util.h"

#define MAX_SEQS 256

typedef struct options {
  fa_backend backend; /* 0 = auto */
  fa_dtype dtype;
  int head_dim, heads_q, heads_k;
  int nseq;
  int lens_q[MAX_SEQS], lens_k[MAX_SEQS];
  int have_lens_k;
  int window_left, window_right;
  float softcap, scale;
  int sinks;
  int repeat;
  int check_rows; /* query rows sampled per sequence for the reference */
  uint64_t seed;
  int decode;     /* --decode: queries per sequence over a KV cache */
  int queries;
  int page_size;  /* 0 = contiguous cache */
  int kv_heads_first; /* --kv-heads-first: K/V as [heads_k, total_k, d] */
  int splits;
  const char *kernel; /* --kernel: force this table entry (fa_fwd_with_kernel) */
} options;

/* Flags the user gave, so that --decode changes only the defaults. */
enum { SET_HEAD_DIM = 1, SET_HEADS = 2, SET_LENS_Q = 4, SET_WINDOW = 8 };

static void usage(void) {
  fprintf(stderr,
          "usage: fa_demo [--backend cuda|cpu] [--dtype bf16|fp16] [--head-dim D] [--heads-q H] [--heads-k H]\n"
          "               [--seqlens a,b,...] [--seqlens-k a,b,...] [--causal] [--window L,R] [--softcap C]\n"
          "               [--sinks] [--scale S] [--repeat N] [--check-rows N] [--seed S]\n"
          "               [--decode] [--queries N] [--page-size P] [--kv-heads-first] [--splits N] [--kernel NAME]\n");
  exit(2);
}

static int parse_list(const char *s, int *out, int max) {
  int n = 0;
  while (*s && n < max) {
    char *end;
    const long v = strtol(s, &end, 10);
    if (end == s || v < 0 || v > (1L << 30)) usage();
    out[n++] = (int)v;
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') usage();
  }
  return n;
}

/* --decode: one decoding step of a server, with the defaults of the
 * benchmark's decode rows (GQA 32/8, head_dim 128) where not given. */
static void apply_decode_defaults(options *o, int set, int on_gpu) {
  if (!(set & SET_HEAD_DIM)) o->head_dim = 128;
  if (!(set & SET_HEADS)) o->heads_q = 32, o->heads_k = 8;
  if (!(set & SET_WINDOW)) o->window_left = -1, o->window_right = 0;
  if (!o->have_lens_k) {
    o->nseq = on_gpu ? 32 : 8;
    for (int b = 0; b < o->nseq; ++b) o->lens_k[b] = on_gpu ? 8192 : 2048;
  } else {
    o->nseq = o->have_lens_k;
  }
  for (int b = 0; b < o->nseq; ++b) o->lens_q[b] = o->queries;
}

static options parse_options(int argc, char **argv, int *set) {
  options o;
  memset(&o, 0, sizeof o);
  o.dtype = FA_DTYPE_BF16;
  o.head_dim = 80;
  o.heads_q = o.heads_k = 16;
  const int default_lens[] = {1024, 256, 2048, 576, 100, 1600};
  o.nseq = 6;
  memcpy(o.lens_q, default_lens, sizeof default_lens);
  o.window_left = o.window_right = -1;
  o.repeat = 20;
  o.check_rows = 32;
  o.seed = 0;
  o.queries = 1;
  *set = 0;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE() (v ? (++i, v) : (usage(), ""))
    if (!strcmp(a, "--backend")) {
      const char *b = TAKE();
      o.backend = !strcmp(b, "cuda") ? FA_BACKEND_CUDA : !strcmp(b, "cpu") ? FA_BACKEND_CPU : (usage(), 0);
    } else if (!strcmp(a, "--dtype")) {
      const char *d = TAKE();
      o.dtype = !strcmp(d, "bf16") ? FA_DTYPE_BF16 : !strcmp(d, "fp16") ? FA_DTYPE_FP16 : (usage(), 0);
    } else if (!strcmp(a, "--head-dim")) o.head_dim = atoi(TAKE()), *set |= SET_HEAD_DIM;
    else if (!strcmp(a, "--heads-q")) o.heads_q = atoi(TAKE()), *set |= SET_HEADS;
    else if (!strcmp(a, "--heads-k")) o.heads_k = atoi(TAKE()), *set |= SET_HEADS;
    else if (!strcmp(a, "--seqlens")) o.nseq = parse_list(TAKE(), o.lens_q, MAX_SEQS), *set |= SET_LENS_Q;
    else if (!strcmp(a, "--seqlens-k")) {
      o.have_lens_k = parse_list(TAKE(), o.lens_k, MAX_SEQS);
    } else if (!strcmp(a, "--causal")) o.window_left = -1, o.window_right = 0, *set |= SET_WINDOW;
    else if (!strcmp(a, "--window")) {
      if (sscanf(TAKE(), "%d,%d", &o.window_left, &o.window_right) != 2) usage();
      *set |= SET_WINDOW;
    } else if (!strcmp(a, "--decode")) o.decode = 1;
    else if (!strcmp(a, "--queries")) o.queries = atoi(TAKE());
    else if (!strcmp(a, "--page-size")) o.page_size = atoi(TAKE());
    else if (!strcmp(a, "--kv-heads-first")) o.kv_heads_first = 1;
    else if (!strcmp(a, "--splits")) o.splits = atoi(TAKE());
    else if (!strcmp(a, "--kernel")) o.kernel = TAKE();
    else if (!strcmp(a, "--softcap")) o.softcap = (float)atof(TAKE());
    else if (!strcmp(a, "--scale")) o.scale = (float)atof(TAKE());
    else if (!strcmp(a, "--sinks")) o.sinks = 1;
    else if (!strcmp(a, "--repeat")) o.repeat = atoi(TAKE());
    else if (!strcmp(a, "--check-rows")) o.check_rows = atoi(TAKE());
    else if (!strcmp(a, "--seed")) o.seed = strtoull(TAKE(), NULL, 0);
    else usage();
#undef TAKE
  }
  if (o.nseq < 1 || o.repeat < 1 || o.heads_q < 1 || o.heads_k < 1 || o.queries < 1 || o.page_size < 0 ||
      o.splits < 0)
    usage();
  if (o.decode && (*set & SET_LENS_Q)) {
    fprintf(stderr, "--decode takes --queries and --seqlens-k, not --seqlens\n");
    exit(2);
  }
  if (o.page_size && !o.decode) {
    fprintf(stderr, "--page-size needs --decode (the cache of a decoding step)\n");
    exit(2);
  }
  if (o.kv_heads_first && (!o.decode || o.page_size)) {
    fprintf(stderr, "--kv-heads-first needs --decode over a contiguous cache (no --page-size)\n");
    exit(2);
  }
  if (!o.decode && o.have_lens_k && o.have_lens_k != o.nseq) {
    fprintf(stderr, "--seqlens-k needs as many lengths as --seqlens\n");
    exit(2);
  }
  if (!o.decode && !o.have_lens_k) memcpy(o.lens_k, o.lens_q, sizeof o.lens_q);
  return o;
}

/* src [total_k, heads, d] -> dst [heads, total_k, d]. */
static void heads_first_copy(uint16_t *dst, const uint16_t *src, int64_t total_k, int heads, int d) {
  for (int64_t t = 0; t < total_k; ++t)
    for (int h = 0; h < heads; ++h)
      memcpy(dst + ((size_t)h * total_k + t) * d, src + ((size_t)t * heads + h) * d, sizeof(uint16_t) * d);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Attention FLOPs of the visible (query, key) pairs: 4 * pairs * heads * head_dim. */
static double visible_flops(const options *o) {
  double pairs = 0;
  for (int b = 0; b < o->nseq; ++b)
    for (int64_t i = 0; i < o->lens_q[b]; ++i)
      for (int64_t j = 0; j < o->lens_k[b]; ++j)
        pairs += ref_key_visible(i, j, o->lens_q[b], o->lens_k[b], o->window_left, o->window_right);
  return 4.0 * pairs * o->heads_q * o->head_dim;
}

/* K/V bytes a call reads: every cached key and value once (GQA packing
 * reads a KV head once for all its query heads). */
static double kv_bytes(const options *o) {
  double keys = 0;
  for (int b = 0; b < o->nseq; ++b) keys += o->lens_k[b];
  return keys * o->heads_k * o->head_dim * 2.0 /* K and V */ * 2.0 /* bytes per element */;
}

/* A paged cache as a server keeps it: a pool of pages in shuffled order,
 * a block table per sequence (unused columns point at a spare page), and
 * NaN in every slot no sequence owns, which a correct kernel never reads. */
typedef struct paged_cache {
  int max_pages;     /* table columns */
  int64_t num_pages; /* pool size */
  int32_t *table;    /* host [nseq][max_pages] */
  int32_t *used;     /* host [nseq]: keys per sequence (seqused_k) */
  uint16_t *k, *v;   /* host [num_pages][page_size][heads_k][head_dim] */
  size_t pool_elems;
} paged_cache;

/* Random inputs for GPU-sized problems (a decode cache is 1 GB): draws from
 * 4096 normal samples, four per random number, instead of one Box-Muller
 * transform per element (tests/test_util.c), which took most of a minute. */
static void fill_random_quick(uint16_t *buf, size_t n, fa_dtype dtype, tu_rng *rng) {
  uint16_t samples[4096];
  tu_fill_random(samples, 4096, dtype, 1.0, rng);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint64_t r = tu_rng_next(rng);
    for (int j = 0; j < 4; ++j) buf[i + j] = samples[(r >> (16 * j)) & 4095];
  }
  for (; i < n; ++i) buf[i] = samples[tu_rng_next(rng) & 4095];
}

static int build_paged_cache(const options *o, const int32_t *cu_k, const uint16_t *hk, const uint16_t *hv,
                             tu_pool *pool, tu_rng *rng, paged_cache *c) {
  const int ps = o->page_size;
  const size_t row = (size_t)o->heads_k * o->head_dim;
  int64_t pages_needed = 0;
  c->max_pages = 1;
  for (int b = 0; b < o->nseq; ++b) {
    const int pages = (o->lens_k[b] + ps - 1) / ps;
    pages_needed += pages;
    if (pages > c->max_pages) c->max_pages = pages;
  }
  c->num_pages = pages_needed + 1; /* + the spare page unused columns point at */
  c->pool_elems = (size_t)c->num_pages * ps * row;
  c->table = tu_pool_host(pool, sizeof(int32_t) * (size_t)o->nseq * c->max_pages);
  c->used = tu_pool_host(pool, sizeof(int32_t) * (size_t)o->nseq);
  c->k = tu_pool_host(pool, c->pool_elems * 2);
  c->v = tu_pool_host(pool, c->pool_elems * 2);
  int32_t *order = tu_pool_host(pool, sizeof(int32_t) * (size_t)c->num_pages);
  if (!c->table || !c->used || !c->k || !c->v || !order) return 1;
  for (int64_t i = 0; i < c->num_pages; ++i) order[i] = (int32_t)i;
  for (int64_t i = c->num_pages - 1; i > 0; --i) { /* Fisher-Yates */
    const int64_t j = tu_rng_int(rng, 0, (int)i);
    const int32_t t = order[i];
    order[i] = order[j], order[j] = t;
  }
  tu_poison16(c->k, c->pool_elems);
  tu_poison16(c->v, c->pool_elems);
  int64_t next = 0;
  for (int b = 0; b < o->nseq; ++b) {
    int32_t *t = c->table + (size_t)b * c->max_pages;
    for (int col = 0; col < c->max_pages; ++col)
      t[col] = col * ps < o->lens_k[b] ? order[next++] : order[c->num_pages - 1];
    for (int j = 0; j < o->lens_k[b]; ++j) {
      const size_t dst = ((size_t)t[j / ps] * ps + j % ps) * row, src = (size_t)(cu_k[b] + j) * row;
      memcpy(c->k + dst, hk + src, row * 2);
      memcpy(c->v + dst, hv + src, row * 2);
    }
    c->used[b] = o->lens_k[b];
  }
  return 0;
}

int main(int argc, char **argv) {
  int set;
  options o = parse_options(argc, argv, &set);
  tu_device dev;
  const int have_gpu = tu_cuda_device(&dev);
  if (o.backend == 0) o.backend = have_gpu ? FA_BACKEND_CUDA : FA_BACKEND_CPU;
  const int on_gpu = o.backend == FA_BACKEND_CUDA;
  if (o.decode)
    apply_decode_defaults(&o, set, on_gpu);
  else if (!on_gpu && !(set & SET_LENS_Q))
    for (int b = 0; b < o.nseq; ++b) o.lens_q[b] /= 4, o.lens_k[b] /= 4;

  int from_env = 0;
  if (o.seed == 0) o.seed = tu_seed_from_env(&from_env);
  tu_rng rng = tu_rng_make(o.seed);

  printf("flashattn %s demo\n", fa_version_string());
  if (on_gpu)
    printf("device: %s (sm_%d%d), CUDA backend\n", dev.name, dev.cc_major, dev.cc_minor);
  else
    printf("device: %s; CPU backend (single thread)\n",
           have_gpu ? "GPU present but not used (--backend cpu)" : "no usable CUDA device");
  if (!have_gpu) printf("  (%s)\n", dev.reason);

  /* Packed varlen layout. */
  int64_t total_q = 0, total_k = 0;
  int max_q = 0, max_k = 0;
  int32_t cu_q[MAX_SEQS + 1], cu_k[MAX_SEQS + 1];
  cu_q[0] = cu_k[0] = 0;
  for (int b = 0; b < o.nseq; ++b) {
    total_q += o.lens_q[b];
    total_k += o.lens_k[b];
    cu_q[b + 1] = (int32_t)total_q;
    cu_k[b + 1] = (int32_t)total_k;
    if (o.lens_q[b] > max_q) max_q = o.lens_q[b];
    if (o.lens_k[b] > max_k) max_k = o.lens_k[b];
  }
  if (o.decode) {
    printf("problem: decode, %d sequences, %d quer%s each over KV caches of", o.nseq, o.queries,
           o.queries == 1 ? "y" : "ies");
    for (int b = 0; b < o.nseq && b < 12; ++b) printf("%s%d", b ? "," : " ", o.lens_k[b]);
    printf("%s keys, %s", o.nseq > 12 ? ",..." : "",
           o.page_size ? "" : o.kv_heads_first ? "contiguous heads first" : "contiguous");
    if (o.page_size) printf("pages of %d (shuffled pool, NaN in unowned slots)", o.page_size);
    printf(", splits %s\n", o.splits ? "forced" : "chosen by the library");
  }
  printf("%s: varlen, %d sequences, q lens", o.decode ? "as a call" : "problem", o.nseq);
  for (int b = 0; b < o.nseq && b < 12; ++b) printf("%s%d", b ? "," : " ", o.lens_q[b]);
  printf("%s; heads %d/%d, head_dim %d, %s, window (%d, %d) = %s, softcap %g, sinks %s, seed 0x%llx\n",
         o.nseq > 12 ? ",..." : "", o.heads_q, o.heads_k, o.head_dim, fa_dtype_name(o.dtype), o.window_left,
         o.window_right, fa_mask_name(fa_mask_from_window(o.window_left, o.window_right)), o.softcap,
         o.sinks ? "yes" : "no", (unsigned long long)o.seed);

  const size_t nq = (size_t)total_q * o.heads_q * o.head_dim, nk = (size_t)total_k * o.heads_k * o.head_dim;
  tu_pool pool;
  tu_pool_init(&pool);
  uint16_t *hq = tu_pool_host(&pool, nq * 2 + 16), *hk = tu_pool_host(&pool, nk * 2 + 16);
  uint16_t *hv = tu_pool_host(&pool, nk * 2 + 16), *hout = tu_pool_host(&pool, nq * 2 + 16);
  float *hlse = tu_pool_host(&pool, (size_t)total_q * o.heads_q * 4 + 16);
  float *hsinks = tu_pool_host(&pool, (size_t)o.heads_q * 4 + 16);
  if (!hq || !hk || !hv || !hout || !hlse || !hsinks) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  fill_random_quick(hq, nq, o.dtype, &rng);
  fill_random_quick(hk, nk, o.dtype, &rng);
  fill_random_quick(hv, nk, o.dtype, &rng);
  for (int h = 0; h < o.heads_q; ++h) hsinks[h] = (float)tu_rng_normal(&rng);
  tu_poison16(hout, nq);
  tu_poison32(hlse, (size_t)total_q * o.heads_q);
  paged_cache cache;
  memset(&cache, 0, sizeof cache);
  if (o.page_size && build_paged_cache(&o, cu_k, hk, hv, &pool, &rng, &cache)) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  /* The cache the call reads: hk / hv (keys first, what the reference
   * reads) or their heads-first copies. */
  const uint16_t *call_k = hk, *call_v = hv;
  if (o.kv_heads_first) {
    uint16_t *tk = tu_pool_host(&pool, nk * 2 + 16), *tv = tu_pool_host(&pool, nk * 2 + 16);
    if (!tk || !tv) {
      fprintf(stderr, "out of host memory\n");
      return 1;
    }
    heads_first_copy(tk, hk, total_k, o.heads_k, o.head_dim);
    heads_first_copy(tv, hv, total_k, o.heads_k, o.head_dim);
    call_k = tk, call_v = tv;
  }

  fa_fwd_params p = fa_fwd_params_default();
  p.backend = o.backend;
  p.dtype = o.dtype;
  p.batch = o.nseq;
  p.num_heads_q = o.heads_q;
  p.num_heads_k = o.heads_k;
  p.head_dim = o.head_dim;
  p.total_q = total_q;
  p.total_k = total_k;
  p.max_seqlen_q = max_q;
  p.max_seqlen_k = max_k;
  p.window_left = o.window_left;
  p.window_right = o.window_right;
  p.softcap = o.softcap;
  p.scale = o.scale;
  p.num_splits = o.splits;
  if (o.kv_heads_first) {
    p.k_head_stride = p.v_head_stride = total_k * o.head_dim;
    p.k_row_stride = p.v_row_stride = o.head_dim;
  }
  if (o.page_size) {
    p.cu_seqlens_k = NULL, p.total_k = 0; /* the table and seqused_k say where the keys are */
    p.block_table_stride = p.max_pages_per_seq = cache.max_pages;
    p.page_size = o.page_size;
    p.num_pages = cache.num_pages;
  }

  const char *why = NULL;
  fa_stream_t stream = NULL;
  if (on_gpu) {
    void *dq = tu_pool_device(&pool, nq * 2, &why), *dk = tu_pool_device(&pool, nk * 2, &why);
    void *dv = tu_pool_device(&pool, nk * 2, &why), *dout = tu_pool_device(&pool, nq * 2, &why);
    void *dlse = tu_pool_device(&pool, (size_t)total_q * o.heads_q * 4, &why);
    void *dsinks = tu_pool_device(&pool, (size_t)o.heads_q * 4, &why);
    void *dcu_q = tu_pool_device(&pool, sizeof cu_q, &why), *dcu_k = tu_pool_device(&pool, sizeof cu_k, &why);
    stream = tu_pool_stream(&pool, &why);
    if (!dq || !dk || !dv || !dout || !dlse || !dsinks || !dcu_q || !dcu_k || !stream ||
        tu_to_device(dq, hq, nq * 2, &why) || tu_to_device(dk, call_k, nk * 2, &why) ||
        tu_to_device(dv, call_v, nk * 2, &why) || tu_to_device(dout, hout, nq * 2, &why) ||
        tu_to_device(dlse, hlse, (size_t)total_q * o.heads_q * 4, &why) ||
        tu_to_device(dsinks, hsinks, (size_t)o.heads_q * 4, &why) || tu_to_device(dcu_q, cu_q, sizeof cu_q, &why) ||
        tu_to_device(dcu_k, cu_k, sizeof cu_k, &why)) {
      fprintf(stderr, "device setup failed: %s\n", why ? why : "?");
      tu_pool_release(&pool);
      return 1;
    }
    p.q = dq, p.k = dk, p.v = dv, p.out = dout, p.lse = dlse, p.sinks = o.sinks ? dsinks : NULL;
    p.cu_seqlens_q = dcu_q, p.cu_seqlens_k = dcu_k, p.stream = stream;
    if (o.page_size) {
      const size_t table_bytes = sizeof(int32_t) * (size_t)o.nseq * cache.max_pages;
      void *dkp = tu_pool_device(&pool, cache.pool_elems * 2, &why);
      void *dvp = tu_pool_device(&pool, cache.pool_elems * 2, &why);
      void *dtable = tu_pool_device(&pool, table_bytes, &why);
      void *dused = tu_pool_device(&pool, sizeof(int32_t) * (size_t)o.nseq, &why);
      if (!dkp || !dvp || !dtable || !dused || tu_to_device(dkp, cache.k, cache.pool_elems * 2, &why) ||
          tu_to_device(dvp, cache.v, cache.pool_elems * 2, &why) ||
          tu_to_device(dtable, cache.table, table_bytes, &why) ||
          tu_to_device(dused, cache.used, sizeof(int32_t) * (size_t)o.nseq, &why)) {
        fprintf(stderr, "device setup failed: %s\n", why ? why : "?");
        tu_pool_release(&pool);
        return 1;
      }
      p.k = dkp, p.v = dvp, p.block_table = dtable, p.seqused_k = dused, p.cu_seqlens_k = NULL;
    }
  } else {
    p.q = hq, p.k = call_k, p.v = call_v, p.out = hout, p.lse = hlse, p.sinks = o.sinks ? hsinks : NULL;
    p.cu_seqlens_q = cu_q, p.cu_seqlens_k = cu_k;
    if (o.page_size)
      p.k = cache.k, p.v = cache.v, p.block_table = cache.table, p.seqused_k = cache.used, p.cu_seqlens_k = NULL;
  }

  fa_message msg;
  fa_status st = FA_OK;
  size_t kernel_index = 0;
  if (o.kernel != NULL) { /* --kernel: that table entry, through fa_fwd_with_kernel */
    const size_t n = fa_kernel_count();
    for (kernel_index = 0; kernel_index < n; ++kernel_index) {
      fa_kernel_info k = FA_KERNEL_INFO_INIT;
      if (fa_kernel_info_get(kernel_index, &k) == FA_OK && !strcmp(k.name, o.kernel)) break;
    }
    if (kernel_index == n) {
      fprintf(stderr, "--kernel %s: no such kernel in the table\n", o.kernel);
      tu_pool_release(&pool);
      return 1;
    }
  } else {
    st = fa_fwd_query(&p, &kernel_index, &msg);
  }
  if (st != FA_OK) {
    fprintf(stderr, "fa_fwd_query: %s\n", msg.text);
    tu_pool_release(&pool);
    return 1;
  }

  /* Split-KV partials go to a workspace the caller owns: ask how much (a
   * forced kernel runs alone, which can need more than fa_fwd's choice). */
  size_t ws_bytes = 0;
  st = o.kernel ? fa_fwd_workspace_size_with_kernel(&p, kernel_index, &ws_bytes, &msg)
                : fa_fwd_workspace_size(&p, &ws_bytes, &msg);
  if (st != FA_OK) {
    fprintf(stderr, "%s: %s\n", o.kernel ? "fa_fwd_workspace_size_with_kernel" : "fa_fwd_workspace_size", msg.text);
    tu_pool_release(&pool);
    return 1;
  }
  if (ws_bytes) {
    /* cudaMalloc is 256-byte aligned; on the host, align by hand. */
    char *ws = on_gpu ? tu_pool_device(&pool, ws_bytes, &why) : tu_pool_host(&pool, ws_bytes + 255);
    if (ws == NULL) {
      fprintf(stderr, "workspace of %zu bytes: %s\n", ws_bytes, why ? why : "out of memory");
      tu_pool_release(&pool);
      return 1;
    }
    p.workspace = on_gpu ? ws : ws + ((256 - (uintptr_t)ws % 256) % 256);
    p.workspace_bytes = ws_bytes;
  }

  fa_kernel_info info = FA_KERNEL_INFO_INIT;
  fa_kernel_info_get(kernel_index, &info);
  printf("kernel: %s (family %s%s%s, priority %d: %s; %d threads, %zu B shared memory)\n", info.name, info.family,
         info.arch_name[0] ? ", " : "", info.arch_name, info.priority, info.description, info.threads,
         info.smem_bytes);
  if (ws_bytes) printf("workspace: %zu bytes (split-KV partials)\n", ws_bytes);

  /* Time: one warm-up call, then `repeat` calls; median of per-call times
   * (CUDA events on the GPU). */
  const int reps = on_gpu ? o.repeat : (o.repeat < 3 ? o.repeat : 3);
  double *times = calloc((size_t)reps, sizeof *times);
  if (times == NULL) return 1;
  if ((st = o.kernel ? fa_fwd_with_kernel(&p, kernel_index, &msg) : fa_fwd(&p, &msg)) != FA_OK) {
    fprintf(stderr, "fa_fwd: %s\n", msg.text);
    return 1;
  }
  for (int r = 0; r < reps; ++r) {
    if (on_gpu) {
      cudaEvent_t e0, e1;
      cudaEventCreate(&e0);
      cudaEventCreate(&e1);
      cudaEventRecord(e0, (cudaStream_t)stream);
      st = o.kernel ? fa_fwd_with_kernel(&p, kernel_index, &msg) : fa_fwd(&p, &msg);
      cudaEventRecord(e1, (cudaStream_t)stream);
      cudaEventSynchronize(e1);
      float ms = 0;
      cudaEventElapsedTime(&ms, e0, e1);
      times[r] = ms;
      cudaEventDestroy(e0);
      cudaEventDestroy(e1);
    } else {
      const double t0 = now_ms();
      st = o.kernel ? fa_fwd_with_kernel(&p, kernel_index, &msg) : fa_fwd(&p, &msg);
      times[r] = now_ms() - t0;
    }
    if (st != FA_OK) {
      fprintf(stderr, "fa_fwd: %s\n", msg.text);
      return 1;
    }
  }
  qsort(times, (size_t)reps, sizeof *times, cmp_double);
  const double ms = times[reps / 2];
  free(times);
  const double flops = visible_flops(&o);
  if (o.decode)
    printf("time: %.3f ms (median of %d), K/V read %.1f MB at %.2f %s/s\n", ms, reps, kv_bytes(&o) / 1e6,
           kv_bytes(&o) / (ms * (on_gpu ? 1e9 : 1e6)), on_gpu ? "TB" : "GB");
  else if (on_gpu)
    printf("time: %.3f ms (median of %d), %.1f TFLOP/s\n", ms, reps, flops / (ms * 1e9));
  else
    printf("time: %.3f ms (median of %d), %.2f GFLOP/s\n", ms, reps, flops / (ms * 1e6));

  if (on_gpu && (tu_to_host(hout, p.out, nq * 2, &why) ||
                 tu_to_host(hlse, p.lse, (size_t)total_q * o.heads_q * 4, &why))) {
    fprintf(stderr, "copy back failed: %s\n", why);
    return 1;
  }

  /* Reference on sampled rows: each sequence's first and last rows and
   * random ones in between, every head. */
  double err2 = 0, ref2 = 0, lse_err = 0;
  long rows_checked = 0, nonfinite = 0;
  const int d = o.head_dim;
  double *ref_out = malloc(sizeof(double) * (size_t)d);
  if (ref_out == NULL) return 1;
  /* Decode problems are wide (32 sequences x 8192 keys): every 4th
   * sequence and the last are enough to catch a layout error. */
  const int seq_step = o.decode && o.nseq > 8 ? 4 : 1;
  for (int b = 0; b < o.nseq; ++b) {
    if (b % seq_step != 0 && b != o.nseq - 1) continue;
    const int lq = o.lens_q[b];
    const int n_rows = lq < o.check_rows ? lq : o.check_rows;
    for (int r = 0; r < n_rows; ++r) {
      const int64_t i = r == 0 ? 0 : r == 1 ? lq - 1 : tu_rng_int(&rng, 0, lq - 1);
      for (int h = 0; h < o.heads_q; ++h) {
        double ref_lse;
        ref_attention_row(hq, hk, hv, o.dtype, cu_q[b], cu_k[b], lq, o.lens_k[b], o.heads_q, o.heads_k, d, h, i,
                          o.window_left, o.window_right, o.scale != 0 ? o.scale : 1.0 / sqrt((double)d), o.softcap,
                          o.sinks ? &hsinks[h] : NULL, ref_out, &ref_lse);
        const uint16_t *got = hout + ((size_t)(cu_q[b] + i) * o.heads_q + h) * d;
        for (int c = 0; c < d; ++c) {
          const double g = tu_half_to_double(got[c], o.dtype);
          if (!isfinite(g)) ++nonfinite;
          err2 += (g - ref_out[c]) * (g - ref_out[c]);
          ref2 += ref_out[c] * ref_out[c];
        }
        const double gl = hlse[(size_t)h * total_q + cu_q[b] + i];
        if (isinf(ref_lse) ? gl != ref_lse : fabs(gl - ref_lse) > lse_err) lse_err = isinf(ref_lse) ? INFINITY : fabs(gl - ref_lse);
        ++rows_checked;
      }
    }
  }
  free(ref_out);
  const double rel = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
  const double tol = o.dtype == FA_DTYPE_BF16 ? 1e-2 : 2e-3;
  const int pass = nonfinite == 0 && rel <= tol && lse_err < 1e-3;
  printf("error vs double reference (%ld sampled (row, head) pairs): rel Frobenius %.2e (tolerance %.0e), "
         "lse max abs %.1e, non-finite %ld: %s\n",
         rows_checked, rel, tol, lse_err, nonfinite, pass ? "PASS" : "FAIL");
  tu_pool_release(&pool);
  return pass ? 0 : 1;
}
