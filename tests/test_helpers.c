/*
 * test_helpers.c - the mask helpers of flashattn.h ("padding masks, packed
 * ids"): fa_unpad_info, fa_unpad_rows, fa_pad_rows,
 * fa_seqlens_from_position_ids and fa_copy_to_host, against the simple
 * reference implementations written below (straight from the header's
 * definitions and transformers' _get_unpad_data, index_first_axis,
 * pad_input and _prepare_from_posids).
 *
 * Every case runs twice: "<case>_cpu" on the CPU backend and "<case>_cuda"
 * on the CUDA backend; without a CUDA device the _cuda cases skip with the
 * reason. Outputs are poisoned first and compared whole, guard elements
 * after the documented extent included, so a write outside the contract
 * fails the case. Results come back through fa_copy_to_host.
 *
 *   test_helpers [FILTER]  run the cases whose name contains FILTER
 *                          (e.g. "cuda", "cpu", "position_ids")
 *   FA_TEST_SEED=N         reproduce a run (the seed is printed first)
 */
#include <ctype.h>
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

#include "flashattn.h"
#include "reference.h"
#include "test_util.h"

/* ------------------------------------------------------------ case state */

typedef struct hcase {
  fa_backend backend;
  const tu_device *device;
  uint64_t seed;
  fa_stream_t stream; /* CUDA: a non-blocking stream of `keep` */
  tu_pool pool;       /* one scenario's buffers */
  tu_pool keep;       /* the whole case's (the stream) */
} hcase;

#define GUARD 16          /* poisoned elements after every output */
#define POISON_BYTE 0x5A  /* fill of outputs before a call */
#define SLACK 64          /* spare bytes after buffers for misaligned views */
#define TIME_MIN_TOKENS 100000 /* CUDA cases this large also print their time */
#define TIME_MIN_ELEMS (INT64_C(1) << 24) /* same for row copies (elements) */

static int is_cuda(const hcase *hc) { return hc->backend == FA_BACKEND_CUDA; }

/* The case's state; a CUDA case without a device skips here. */
static hcase *begin(void **state) {
  hcase *hc = (hcase *)*state;
  if (is_cuda(hc)) {
    const char *why = NULL;
    if (!hc->device->present) {
      print_message("skipped: no CUDA device: %s\n", hc->device->reason);
      skip();
    }
    hc->stream = tu_pool_stream(&hc->keep, &why);
    if (hc->stream == NULL)
      fail_msg("cudaStreamCreate: %s", why);
  }
  return hc;
}

/* Frees a scenario's buffers (the stream stays). */
static void end_scenario(hcase *hc) { tu_pool_release(&hc->pool); }

/* ------------------------------------------------------------ memory of either backend */

static void *host_mem(hcase *hc, size_t bytes) {
  void *p = tu_pool_host(&hc->pool, bytes);
  if (p == NULL)
    fail_msg("host allocation of %zu bytes failed (or the test pool is full)", bytes);
  return p;
}

/* Backend memory: host on the CPU backend, device on the CUDA backend;
 * 16-byte aligned either way. */
static void *backend_mem(hcase *hc, size_t bytes) {
  void *p;
  if (!is_cuda(hc)) {
    p = host_mem(hc, bytes);
  } else {
    const char *why = NULL;
    p = tu_pool_device(&hc->pool, bytes, &why);
    if (p == NULL)
      fail_msg("cudaMalloc of %zu bytes: %s", bytes, why ? why : "?");
  }
  assert_int_equal((uintptr_t)p % 16, 0);
  return p;
}

/* Host -> backend, finished when it returns (ordered on the case's stream). */
static void put(hcase *hc, void *dst, const void *src, size_t bytes) {
  cudaError_t e;
  if (!is_cuda(hc)) {
    memcpy(dst, src, bytes);
    return;
  }
  e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, (cudaStream_t)hc->stream);
  if (e == cudaSuccess)
    e = cudaStreamSynchronize((cudaStream_t)hc->stream);
  if (e != cudaSuccess)
    fail_msg("upload of %zu bytes: %s", bytes, cudaGetErrorString(e));
}

/* Backend -> host through the API under test (waits for the stream). */
static void get(hcase *hc, void *dst, const void *src, size_t bytes) {
  fa_message msg;
  const fa_status st = fa_copy_to_host(hc->backend, dst, src, bytes, hc->stream, &msg);
  if (st != FA_OK)
    fail_msg("fa_copy_to_host of %zu bytes: %s", bytes, msg.text);
  assert_string_equal(msg.text, "");
}

/* Backend buffer of `bytes`, every byte POISON_BYTE. */
static void *poisoned_mem(hcase *hc, size_t bytes) {
  void *d = backend_mem(hc, bytes);
  void *h = host_mem(hc, bytes);
  memset(h, POISON_BYTE, bytes);
  put(hc, d, h, bytes);
  return d;
}

/* Backend copy of a host array. */
static void *uploaded(hcase *hc, const void *src, size_t bytes) {
  void *d = backend_mem(hc, bytes + SLACK);
  put(hc, d, src, bytes);
  return d;
}

static void expect_ok(fa_status st, const fa_message *msg, const char *what) {
  if (st != FA_OK)
    fail_msg("%s: %s", what, msg->text);
  if (msg->text[0] != '\0')
    fail_msg("%s: FA_OK but the message is \"%s\"", what, msg->text);
}

/* got[0..n) == want[0..n), then `guard` elements of poison. */
static void expect_i32(const int32_t *got, const int32_t *want, int64_t n, int64_t guard,
                       const char *what, const char *scenario) {
  int64_t i;
  int32_t poison;
  memset(&poison, POISON_BYTE, sizeof poison);
  for (i = 0; i < n; ++i)
    if (got[i] != want[i])
      fail_msg("%s: %s[%lld] = %d, expected %d", scenario, what, (long long)i, got[i], want[i]);
  for (i = n; i < n + guard; ++i)
    if (got[i] != poison)
      fail_msg("%s: %s[%lld], past the end (%lld), was written", scenario, what, (long long)i,
               (long long)n);
}

static void expect_i64(const int64_t *got, const int64_t *want, int64_t n, int64_t guard,
                       const char *what, const char *scenario) {
  int64_t i, poison;
  memset(&poison, POISON_BYTE, sizeof poison);
  for (i = 0; i < n; ++i)
    if (got[i] != want[i])
      fail_msg("%s: %s[%lld] = %lld, expected %lld", scenario, what, (long long)i,
               (long long)got[i], (long long)want[i]);
  for (i = n; i < n + guard; ++i)
    if (got[i] != poison)
      fail_msg("%s: %s[%lld], past the end (%lld), was written", scenario, what, (long long)i,
               (long long)n);
}

/* CUDA: prints the time per call of fn(params) over a few back-to-back
 * calls on the case's stream (information for the log, not a check). */
typedef fa_status (*helper_call)(const void *params, fa_message *msg);

static void report_time(hcase *hc, helper_call fn, const void *params, const char *what) {
  enum { REPS = 10 };
  cudaEvent_t t0 = NULL, t1 = NULL;
  float ms = 0.f;
  fa_message msg;
  int r, ok;
  if (!is_cuda(hc))
    return;
  ok = cudaEventCreate(&t0) == cudaSuccess && cudaEventCreate(&t1) == cudaSuccess &&
       cudaEventRecord(t0, (cudaStream_t)hc->stream) == cudaSuccess;
  for (r = 0; ok && r < REPS; ++r)
    ok = fn(params, &msg) == FA_OK;
  ok = ok && cudaEventRecord(t1, (cudaStream_t)hc->stream) == cudaSuccess &&
       cudaEventSynchronize(t1) == cudaSuccess && cudaEventElapsedTime(&ms, t0, t1) == cudaSuccess;
  if (ok)
    print_message("  %s: %.1f us per call\n", what, 1000.0 * ms / REPS);
  if (t0)
    (void)cudaEventDestroy(t0);
  if (t1)
    (void)cudaEventDestroy(t1);
}

static fa_status call_unpad_info(const void *p, fa_message *m) {
  return fa_unpad_info((const fa_unpad_info_params *)p, m);
}
static fa_status call_position_ids(const void *p, fa_message *m) {
  return fa_seqlens_from_position_ids((const fa_position_ids_params *)p, m);
}
static fa_status call_unpad_rows(const void *p, fa_message *m) {
  return fa_unpad_rows((const fa_rows_params *)p, m);
}
static fa_status call_pad_rows(const void *p, fa_message *m) {
  return fa_pad_rows((const fa_rows_params *)p, m);
}

/* ------------------------------------------------------------ masks */

typedef enum mask_kind {
  MASK_RIGHT_PAD, /* row b keeps its first len_b tokens (row 0 full) */
  MASK_LEFT_PAD,  /* row b keeps its last len_b tokens (row 0 full) */
  MASK_HOLES,     /* each token kept with probability 0.6 */
  MASK_EMPTY_ROWS,/* holes, and every other row (from 1) keeps nothing */
  MASK_ALL_KEPT,
  MASK_ALL_MASKED
} mask_kind;

/* keep[b * seqlen + s] in {0, 1}. */
static void make_mask(mask_kind kind, int batch, int seqlen, tu_rng *rng, int64_t *keep) {
  int b, s;
  for (b = 0; b < batch; ++b) {
    const int len = b == 0 ? seqlen : tu_rng_int(rng, 0, seqlen);
    for (s = 0; s < seqlen; ++s) {
      int k = 0;
      switch (kind) {
        case MASK_RIGHT_PAD: k = s < len; break;
        case MASK_LEFT_PAD: k = s >= seqlen - len; break;
        case MASK_HOLES: k = tu_rng_uniform(rng) < 0.6; break;
        case MASK_EMPTY_ROWS: k = (b % 2 == 0) && tu_rng_uniform(rng) < 0.6; break;
        case MASK_ALL_KEPT: k = 1; break;
        case MASK_ALL_MASKED: k = 0; break;
      }
      keep[(int64_t)b * seqlen + s] = k;
    }
  }
}

static size_t int_size(fa_int_dtype dtype) {
  return dtype == FA_INT_BOOL ? 1 : (dtype == FA_INT32 ? 4 : 8);
}

/* Host buffer of n elements of dtype. mask = 1: a 1 becomes some nonzero
 * value (upper bits only, negative, ...: "nonzero = keep"); mask = 0:
 * values stored as they are (position ids). */
static void *encode_ints(hcase *hc, const int64_t *v, int64_t n, fa_int_dtype dtype, int mask,
                         tu_rng *rng) {
  static const int32_t nz32[] = {1, -1, 2, 0x10000, INT32_MIN};
  static const int64_t nz64[] = {1, -1, INT64_C(1) << 32, INT64_C(1) << 40, INT64_MIN};
  void *buf = host_mem(hc, (size_t)n * int_size(dtype) + 1);
  int64_t i;
  for (i = 0; i < n; ++i) {
    const int pick = mask ? tu_rng_int(rng, 0, 4) : 0;
    if (dtype == FA_INT_BOOL)
      ((uint8_t *)buf)[i] = (uint8_t)(v[i] ? (mask ? tu_rng_int(rng, 1, 255) : v[i]) : 0);
    else if (dtype == FA_INT32)
      ((int32_t *)buf)[i] = v[i] && mask ? nz32[pick] : (int32_t)v[i];
    else
      ((int64_t *)buf)[i] = v[i] && mask ? nz64[pick] : v[i];
  }
  return buf;
}

static const char *int_dtype_name(fa_int_dtype dtype) {
  return dtype == FA_INT_BOOL ? "bool" : (dtype == FA_INT32 ? "int32" : "int64");
}

/* ------------------------------------------------------------ reference implementations */

/* transformers' _get_unpad_data: indices of kept tokens (flat, in order;
 * -1 after them, as the header documents), cu_seqlens, max_seqlen. */
static void ref_unpad_info(const int64_t *keep, int batch, int seqlen, int64_t *indices,
                           int32_t *cu_seqlens, int32_t *max_seqlen) {
  const int64_t n = (int64_t)batch * seqlen;
  int64_t i, total = 0;
  int b;
  *max_seqlen = 0;
  cu_seqlens[0] = 0;
  for (b = 0; b < batch; ++b) {
    int32_t len = 0;
    for (i = (int64_t)b * seqlen; i < (int64_t)(b + 1) * seqlen; ++i)
      if (keep[i]) {
        indices[total++] = i;
        ++len;
      }
    cu_seqlens[b + 1] = (int32_t)total;
    if (len > *max_seqlen)
      *max_seqlen = len;
  }
  for (i = total; i < n; ++i)
    indices[i] = -1;
}

/* _prepare_from_posids: a sequence starts at token 0 and at every 0 id;
 * cu_seqlens [total + 1], entries past the last sequence = total. */
static int32_t ref_position_ids(const int64_t *ids, int64_t total, int32_t *cu_seqlens,
                                int32_t *max_seqlen) {
  int32_t n = 0;
  int64_t i;
  *max_seqlen = 0;
  for (i = 0; i < total; ++i)
    if (i == 0 || ids[i] == 0)
      cu_seqlens[n++] = (int32_t)i;
  for (i = n; i <= total; ++i)
    cu_seqlens[i] = (int32_t)total;
  for (i = 0; i < n; ++i)
    if (cu_seqlens[i + 1] - cu_seqlens[i] > *max_seqlen)
      *max_seqlen = cu_seqlens[i + 1] - cu_seqlens[i];
  return n;
}

/* index_first_axis: dst[i] = src[indices[i]], i < count; row_elems 16-bit
 * elements per row, strides in elements. */
static void ref_gather(const uint16_t *src, int64_t src_stride, uint16_t *dst, int64_t dst_stride,
                       int64_t row_elems, const int64_t *indices, int64_t count) {
  int64_t i;
  for (i = 0; i < count; ++i)
    memcpy(dst + i * dst_stride, src + indices[i] * src_stride, (size_t)row_elems * 2);
}

/* pad_input: every padded row zero, then dst[indices[i]] = src[i]. */
static void ref_scatter(const uint16_t *src, int64_t src_stride, uint16_t *dst, int64_t dst_stride,
                        int64_t row_elems, const int64_t *indices, int64_t count,
                        int64_t padded_rows) {
  int64_t i;
  for (i = 0; i < padded_rows; ++i)
    memset(dst + i * dst_stride, 0, (size_t)row_elems * 2);
  for (i = 0; i < count; ++i)
    memcpy(dst + indices[i] * dst_stride, src + i * src_stride, (size_t)row_elems * 2);
}

/* ------------------------------------------------------------ fa_unpad_info */

typedef struct unpad_scenario {
  const char *what;
  mask_kind kind;
  int batch, seqlen;
} unpad_scenario;

static const unpad_scenario k_unpad_scenarios[] = {
    {"right padding", MASK_RIGHT_PAD, 4, 13},
    {"left padding", MASK_LEFT_PAD, 5, 17},
    {"holes in the mask", MASK_HOLES, 3, 40},
    {"all-masked rows (length 0)", MASK_EMPTY_ROWS, 5, 9},
    {"everything masked (total 0)", MASK_ALL_MASKED, 2, 5},
    {"batch of one", MASK_ALL_KEPT, 1, 9},
    {"seqlen 1", MASK_HOLES, 7, 1},
    {"batch 1500: more rows than one scan step", MASK_HOLES, 1500, 33},
    {"two rows of 70001 tokens, left padding", MASK_LEFT_PAD, 2, 70001},
    {"batch 3000, seqlen 3, right padding", MASK_RIGHT_PAD, 3000, 3},
    {"batch 64, seqlen 8192, right padding", MASK_RIGHT_PAD, 64, 8192},
};
#define N_UNPAD_SCENARIOS (sizeof k_unpad_scenarios / sizeof k_unpad_scenarios[0])

static void run_unpad_info(hcase *hc, const unpad_scenario *sc, fa_int_dtype dtype, tu_rng *rng,
                           int null_stream) {
  const int64_t n = (int64_t)sc->batch * sc->seqlen;
  int64_t *keep = (int64_t *)host_mem(hc, (size_t)n * 8);
  int64_t *want_idx = (int64_t *)host_mem(hc, (size_t)n * 8);
  int32_t *want_cu = (int32_t *)host_mem(hc, (size_t)(sc->batch + 1) * 4);
  int64_t *got_idx = (int64_t *)host_mem(hc, (size_t)(n + GUARD) * 8);
  int32_t *got_cu = (int32_t *)host_mem(hc, (size_t)(sc->batch + 1 + GUARD) * 4);
  int32_t got_max[1 + GUARD], want_max;
  fa_unpad_info_params p;
  fa_message msg;
  char what[256];
  const fa_stream_t case_stream = hc->stream;

  snprintf(what, sizeof what, "%s, %s mask, batch %d, seqlen %d%s", sc->what,
           int_dtype_name(dtype), sc->batch, sc->seqlen, null_stream ? ", default stream" : "");
  make_mask(sc->kind, sc->batch, sc->seqlen, rng, keep);
  ref_unpad_info(keep, sc->batch, sc->seqlen, want_idx, want_cu, &want_max);

  p = fa_unpad_info_params_default();
  p.backend = hc->backend;
  p.attention_mask =
      uploaded(hc, encode_ints(hc, keep, n, dtype, 1, rng), (size_t)n * int_size(dtype));
  p.mask_dtype = dtype;
  p.batch = sc->batch;
  p.seqlen = sc->seqlen;
  p.indices = (int64_t *)poisoned_mem(hc, (size_t)(n + GUARD) * 8);
  p.cu_seqlens = (int32_t *)poisoned_mem(hc, (size_t)(sc->batch + 1 + GUARD) * 4);
  p.max_seqlen = (int32_t *)poisoned_mem(hc, (1 + GUARD) * 4);
  if (null_stream)
    hc->stream = NULL; /* the call, and the copies back, on the legacy default stream */
  p.stream = hc->stream;
  expect_ok(fa_unpad_info(&p, &msg), &msg, what);

  get(hc, got_idx, p.indices, (size_t)(n + GUARD) * 8);
  get(hc, got_cu, p.cu_seqlens, (size_t)(sc->batch + 1 + GUARD) * 4);
  get(hc, got_max, p.max_seqlen, sizeof got_max);
  hc->stream = case_stream;
  expect_i32(got_cu, want_cu, sc->batch + 1, GUARD, "cu_seqlens", what);
  expect_i32(got_max, &want_max, 1, GUARD, "max_seqlen", what);
  expect_i64(got_idx, want_idx, n, GUARD, "indices", what);
  if (n >= TIME_MIN_TOKENS && dtype == FA_INT64 && !null_stream)
    report_time(hc, call_unpad_info, &p, what);
}

static void test_unpad_info(void **state) {
  hcase *hc = begin(state);
  tu_rng rng = tu_rng_make(hc->seed);
  static const fa_int_dtype dtypes[] = {FA_INT_BOOL, FA_INT32, FA_INT64};
  size_t k, d;
  for (k = 0; k < N_UNPAD_SCENARIOS; ++k)
    for (d = 0; d < 3; ++d) {
      run_unpad_info(hc, &k_unpad_scenarios[k], dtypes[d], &rng, 0);
      end_scenario(hc);
    }
  /* The legacy default stream (NULL) works too. */
  run_unpad_info(hc, &k_unpad_scenarios[2], FA_INT64, &rng, 1);
  end_scenario(hc);
  print_message("%zu mask scenarios x bool/int32/int64 match the reference\n", N_UNPAD_SCENARIOS);
}

/* ------------------------------------------------------------ fa_seqlens_from_position_ids */

typedef enum ids_kind {
  IDS_ONE_SEQUENCE, /* 0 .. total-1 */
  IDS_RANDOM,       /* sequences of random length in [1, max_len] */
  IDS_ALL_STARTS,   /* every token a sequence of length 1 */
  IDS_FEW_NON_STARTS, /* every token a start except `param` random ones */
  IDS_CONTINUATION, /* token 0 has id 5: it still starts a sequence */
  IDS_GARBAGE       /* random nonzero ids (negative too) with zeros sprinkled in */
} ids_kind;

typedef struct ids_scenario {
  const char *what;
  ids_kind kind;
  int64_t total;
  int param; /* IDS_RANDOM: longest length; IDS_FEW_NON_STARTS: how many */
} ids_scenario;

/* The GPU works in tiles of 16384 tokens (one block: <= 1 tile); tile
 * counts live in the last num_tiles entries of cu_seqlens, which the
 * scatter reaches when fewer than num_tiles tokens are non-starts: 49157
 * tokens are 4 tiles, so 3 non-starts just fit and 2 take the fallback. */
static const ids_scenario k_ids_scenarios[] = {
    {"one sequence", IDS_ONE_SEQUENCE, 57, 0},
    {"many sequences", IDS_RANDOM, 500, 40},
    {"length-1 sequences", IDS_ALL_STARTS, 100, 0},
    {"one token", IDS_ONE_SEQUENCE, 1, 0},
    {"first token continues a sequence (id 5)", IDS_CONTINUATION, 40, 0},
    {"only zeros matter (negative and large ids)", IDS_GARBAGE, 300, 0},
    {"exactly one tile (16384 tokens)", IDS_RANDOM, 16384, 700},
    {"one tile and a token (16385)", IDS_RANDOM, 16385, 700},
    {"100000 tokens, lengths up to 3000", IDS_RANDOM, 100000, 3000},
    {"one sequence of 100000 tokens", IDS_ONE_SEQUENCE, 100000, 0},
    {"70000 length-1 sequences", IDS_ALL_STARTS, 70000, 0},
    {"3 non-starts in 49157 tokens (tile offsets just fit)", IDS_FEW_NON_STARTS, 49157, 3},
    {"2 non-starts in 49157 tokens (single-block fallback)", IDS_FEW_NON_STARTS, 49157, 2},
    {"300000 tokens, lengths up to 40", IDS_RANDOM, 300000, 40},
    {"2^20 tokens, lengths up to 4096", IDS_RANDOM, 1 << 20, 4096},
    {"2^20 length-1 sequences (single-block fallback)", IDS_ALL_STARTS, 1 << 20, 0},
};
#define N_IDS_SCENARIOS (sizeof k_ids_scenarios / sizeof k_ids_scenarios[0])

static void make_ids(const ids_scenario *sc, tu_rng *rng, int64_t *ids) {
  int64_t i, next = 0, start = 0;
  int placed;
  switch (sc->kind) {
    case IDS_ONE_SEQUENCE:
      for (i = 0; i < sc->total; ++i) ids[i] = i;
      break;
    case IDS_RANDOM: /* the id is the position within the sequence */
      for (i = 0; i < sc->total; ++i) {
        if (i == next) {
          start = i;
          next = i + tu_rng_int(rng, 1, sc->param);
        }
        ids[i] = i - start;
      }
      break;
    case IDS_ALL_STARTS:
      for (i = 0; i < sc->total; ++i) ids[i] = 0;
      break;
    case IDS_FEW_NON_STARTS:
      for (i = 0; i < sc->total; ++i) ids[i] = 0;
      for (placed = 0; placed < sc->param;) {
        const int64_t at = tu_rng_int(rng, 1, (int)sc->total - 1);
        if (ids[at] == 0) {
          ids[at] = 1;
          ++placed;
        }
      }
      break;
    case IDS_CONTINUATION:
      for (i = 0; i < sc->total; ++i) ids[i] = i < 7 ? 5 + i : (i - 7) % 11;
      break;
    case IDS_GARBAGE:
      for (i = 0; i < sc->total; ++i) {
        const int r = tu_rng_int(rng, 0, 9);
        ids[i] = r == 0 ? 0 : (r < 5 ? -tu_rng_int(rng, 1, 1000000) : tu_rng_int(rng, 1, 1000000));
      }
      ids[0] = 123; /* token 0 starts a sequence whatever its id */
      break;
  }
}

static void run_position_ids(hcase *hc, const ids_scenario *sc, fa_int_dtype dtype, tu_rng *rng) {
  const int64_t total = sc->total;
  int64_t *ids = (int64_t *)host_mem(hc, (size_t)total * 8);
  int32_t *want_cu = (int32_t *)host_mem(hc, (size_t)(total + 1) * 4);
  int32_t *got_cu = (int32_t *)host_mem(hc, (size_t)(total + 1 + GUARD) * 4);
  int32_t want_n, want_max, got_n[1 + GUARD], got_max[1 + GUARD];
  fa_position_ids_params p;
  fa_message msg;
  char what[256];

  snprintf(what, sizeof what, "%s, %s, total %lld", sc->what, int_dtype_name(dtype),
           (long long)total);
  make_ids(sc, rng, ids);
  want_n = ref_position_ids(ids, total, want_cu, &want_max);

  p = fa_position_ids_params_default();
  p.backend = hc->backend;
  p.position_ids = uploaded(hc, encode_ints(hc, ids, total, dtype, 0, rng),
                            (size_t)total * int_size(dtype));
  p.dtype = dtype;
  p.total = total;
  p.cu_seqlens = (int32_t *)poisoned_mem(hc, (size_t)(total + 1 + GUARD) * 4);
  p.num_seqs = (int32_t *)poisoned_mem(hc, sizeof got_n);
  p.max_seqlen = (int32_t *)poisoned_mem(hc, sizeof got_max);
  p.stream = hc->stream;
  expect_ok(fa_seqlens_from_position_ids(&p, &msg), &msg, what);

  get(hc, got_cu, p.cu_seqlens, (size_t)(total + 1 + GUARD) * 4);
  get(hc, got_n, p.num_seqs, sizeof got_n);
  get(hc, got_max, p.max_seqlen, sizeof got_max);
  expect_i32(got_n, &want_n, 1, GUARD, "num_seqs", what);
  expect_i32(got_max, &want_max, 1, GUARD, "max_seqlen", what);
  expect_i32(got_cu, want_cu, total + 1, GUARD, "cu_seqlens", what);
  if (total >= TIME_MIN_TOKENS)
    report_time(hc, call_position_ids, &p, what);
}

static void test_position_ids(void **state) {
  hcase *hc = begin(state);
  tu_rng rng = tu_rng_make(hc->seed);
  size_t k;
  int d;
  for (k = 0; k < N_IDS_SCENARIOS; ++k)
    for (d = 0; d < 2; ++d) {
      run_position_ids(hc, &k_ids_scenarios[k], d == 0 ? FA_INT32 : FA_INT64, &rng);
      end_scenario(hc);
    }
  print_message("%zu position-id scenarios x int32/int64 match the reference\n", N_IDS_SCENARIOS);
}

/* ------------------------------------------------------------ fa_unpad_rows, fa_pad_rows */

typedef struct rows_scenario {
  const char *what;
  int64_t row_elems;
  int64_t padded_stride; /* row stride of the padded side (0 = packed) */
  int64_t packed_stride; /* row stride of the packed side (0 = packed) */
  fa_dtype dtype;
  mask_kind kind;
  int batch, seqlen;
} rows_scenario;

static const rows_scenario k_rows_scenarios[] = {
    {"8-element rows, packed", 8, 0, 0, FA_DTYPE_BF16, MASK_HOLES, 3, 11},
    {"strided rows (24 of 40 / 32)", 24, 40, 32, FA_DTYPE_FP16, MASK_LEFT_PAD, 4, 10},
    {"192-element rows, packed side strided", 192, 0, 200, FA_DTYPE_BF16, MASK_RIGHT_PAD, 2, 16},
    {"rows of 513 vectors (more than a block's threads)", 4104, 4112, 0, FA_DTYPE_BF16,
     MASK_HOLES, 2, 5},
    {"nothing kept (count 0)", 64, 72, 64, FA_DTYPE_FP16, MASK_ALL_MASKED, 2, 6},
    {"batch of one, all kept", 16, 0, 0, FA_DTYPE_BF16, MASK_ALL_KEPT, 1, 7},
    {"2700 short rows (many blocks)", 8, 16, 8, FA_DTYPE_BF16, MASK_HOLES, 300, 9},
    {"all-masked rows between kept ones", 32, 48, 40, FA_DTYPE_FP16, MASK_EMPTY_ROWS, 5, 7},
    {"8 x 1024 rows of 16 heads x 128, right padding", 2048, 0, 0, FA_DTYPE_BF16, MASK_RIGHT_PAD,
     8, 1024},
};
#define N_ROWS_SCENARIOS (sizeof k_rows_scenarios / sizeof k_rows_scenarios[0])

typedef struct rows_setup {
  int64_t padded_rows, count;
  int64_t padded_stride, packed_stride;
  int64_t *indices_host;
  void *indices_dev, *count_dev;
} rows_setup;

static rows_setup make_rows_setup(hcase *hc, const rows_scenario *sc, tu_rng *rng) {
  rows_setup r;
  const int64_t n = (int64_t)sc->batch * sc->seqlen;
  int64_t *keep = (int64_t *)host_mem(hc, (size_t)n * 8);
  int32_t *cu = (int32_t *)host_mem(hc, (size_t)(sc->batch + 1) * 4);
  int32_t max_len;
  r.padded_rows = n;
  r.padded_stride = sc->padded_stride ? sc->padded_stride : sc->row_elems;
  r.packed_stride = sc->packed_stride ? sc->packed_stride : sc->row_elems;
  r.indices_host = (int64_t *)host_mem(hc, (size_t)n * 8);
  make_mask(sc->kind, sc->batch, sc->seqlen, rng, keep);
  ref_unpad_info(keep, sc->batch, sc->seqlen, r.indices_host, cu, &max_len);
  r.count = cu[sc->batch];
  r.indices_dev = uploaded(hc, r.indices_host, (size_t)n * 8);
  /* count where the library leaves it: the last entry of cu_seqlens */
  r.count_dev = (int32_t *)uploaded(hc, cu, (size_t)(sc->batch + 1) * 4) + sc->batch;
  return r;
}

static fa_rows_params rows_params(const hcase *hc, const rows_scenario *sc, const rows_setup *r) {
  fa_rows_params p;
  p = fa_rows_params_default();
  p.backend = hc->backend;
  p.dtype = sc->dtype;
  p.row_elems = sc->row_elems;
  p.indices = (const int64_t *)r->indices_dev;
  p.count = (const int32_t *)r->count_dev;
  p.padded_rows = r->padded_rows;
  p.stream = hc->stream;
  return p;
}

/* Random 16-bit patterns (any bits: the copies must be exact). */
static uint16_t *random_rows(hcase *hc, size_t elems, tu_rng *rng) {
  uint16_t *h = (uint16_t *)host_mem(hc, elems * 2);
  size_t i;
  for (i = 0; i < elems; ++i)
    h[i] = (uint16_t)tu_rng_next(rng);
  return h;
}

static void expect_same_rows(const uint16_t *got, const uint16_t *want, size_t elems,
                             int64_t stride, const char *what) {
  size_t i;
  for (i = 0; i < elems; ++i)
    if (got[i] != want[i])
      fail_msg("%s: element %zu (row %lld, column %lld) is 0x%04x, expected 0x%04x", what, i,
               (long long)(i / (size_t)stride), (long long)(i % (size_t)stride), got[i], want[i]);
}

/* Gather, then scatter, each checked whole (gaps, rows past count and
 * GUARD rows after the buffer keep their poison; pad rows are zero);
 * then a gather -> scatter round trip queued back to back on one stream. */
static void run_rows(hcase *hc, const rows_scenario *sc, tu_rng *rng) {
  const rows_setup r = make_rows_setup(hc, sc, rng);
  const size_t padded_elems = (size_t)((r.padded_rows + GUARD) * r.padded_stride);
  const size_t packed_elems = (size_t)((r.padded_rows + GUARD) * r.packed_stride);
  uint16_t *padded = random_rows(hc, padded_elems, rng);
  uint16_t *packed = random_rows(hc, packed_elems, rng);
  uint16_t *want = (uint16_t *)host_mem(hc, (padded_elems > packed_elems ? padded_elems : packed_elems) * 2);
  uint16_t *got = (uint16_t *)host_mem(hc, (padded_elems > packed_elems ? padded_elems : packed_elems) * 2);
  void *padded_dev = uploaded(hc, padded, padded_elems * 2);
  void *packed_dev = uploaded(hc, packed, packed_elems * 2);
  void *out_dev;
  fa_rows_params p = rows_params(hc, sc, &r);
  fa_message msg;
  char what[256];

  /* unpad: packed[i] = padded[indices[i]] */
  snprintf(what, sizeof what, "fa_unpad_rows, %s, %lld of %lld rows", sc->what,
           (long long)r.count, (long long)r.padded_rows);
  out_dev = poisoned_mem(hc, packed_elems * 2);
  p.src = padded_dev;
  p.src_row_stride = sc->padded_stride;
  p.dst = out_dev;
  p.dst_row_stride = sc->packed_stride;
  expect_ok(fa_unpad_rows(&p, &msg), &msg, what);
  memset(want, POISON_BYTE, packed_elems * 2);
  ref_gather(padded, r.padded_stride, want, r.packed_stride, sc->row_elems, r.indices_host,
             r.count);
  get(hc, got, out_dev, packed_elems * 2);
  expect_same_rows(got, want, packed_elems, r.packed_stride, what);
  if (r.padded_rows * sc->row_elems >= TIME_MIN_ELEMS)
    report_time(hc, call_unpad_rows, &p, what);

  /* pad: padded[indices[i]] = packed[i], other rows zero */
  snprintf(what, sizeof what, "fa_pad_rows, %s, %lld of %lld rows", sc->what,
           (long long)r.count, (long long)r.padded_rows);
  out_dev = poisoned_mem(hc, padded_elems * 2);
  p.src = packed_dev;
  p.src_row_stride = sc->packed_stride;
  p.dst = out_dev;
  p.dst_row_stride = sc->padded_stride;
  expect_ok(fa_pad_rows(&p, &msg), &msg, what);
  memset(want, POISON_BYTE, padded_elems * 2);
  ref_scatter(packed, r.packed_stride, want, r.padded_stride, sc->row_elems, r.indices_host,
              r.count, r.padded_rows);
  get(hc, got, out_dev, padded_elems * 2);
  expect_same_rows(got, want, padded_elems, r.padded_stride, what);
  if (r.padded_rows * sc->row_elems >= TIME_MIN_ELEMS)
    report_time(hc, call_pad_rows, &p, what);

  /* round trip, no wait in between: pad(unpad(x)) = x on kept rows, 0 elsewhere */
  snprintf(what, sizeof what, "unpad -> pad round trip, %s", sc->what);
  {
    void *mid = poisoned_mem(hc, packed_elems * 2);
    void *back = poisoned_mem(hc, padded_elems * 2);
    int64_t i;
    p.src = padded_dev;
    p.src_row_stride = sc->padded_stride;
    p.dst = mid;
    p.dst_row_stride = sc->packed_stride;
    expect_ok(fa_unpad_rows(&p, &msg), &msg, what);
    p.src = mid;
    p.src_row_stride = sc->packed_stride;
    p.dst = back;
    p.dst_row_stride = sc->padded_stride;
    expect_ok(fa_pad_rows(&p, &msg), &msg, what);
    memset(want, POISON_BYTE, padded_elems * 2);
    for (i = 0; i < r.padded_rows; ++i)
      memset(want + i * r.padded_stride, 0, (size_t)sc->row_elems * 2);
    for (i = 0; i < r.count; ++i)
      memcpy(want + r.indices_host[i] * r.padded_stride, padded + r.indices_host[i] * r.padded_stride,
             (size_t)sc->row_elems * 2);
    get(hc, got, back, padded_elems * 2);
    expect_same_rows(got, want, padded_elems, r.padded_stride, what);
  }
}

static void test_rows(void **state) {
  hcase *hc = begin(state);
  tu_rng rng = tu_rng_make(hc->seed);
  size_t k;
  for (k = 0; k < N_ROWS_SCENARIOS; ++k) {
    run_rows(hc, &k_rows_scenarios[k], &rng);
    end_scenario(hc);
  }
  print_message("%zu row layouts: gather, scatter and round trip exact\n", N_ROWS_SCENARIOS);
}

/*
 * Wrong device-resident count / indices. The CPU backend reads them and
 * rejects the call (FA_ERR_INVALID_SEQLENS, nothing written); the CUDA
 * kernels cannot report, so they clamp: count into [0, padded_rows], and
 * a row whose index is outside [0, padded_rows) is skipped. Either way
 * nothing outside the buffers is written.
 */
static void test_rows_bad_contents(void **state) {
  hcase *hc = begin(state);
  enum { ROWS = 6, ELEMS = 16 };
  const int64_t idx_host[ROWS] = {3, -5, 0, ROWS + 2, 5, 1};
  const int32_t counts[3] = {ROWS + 40, -3, 4};
  tu_rng rng = tu_rng_make(hc->seed);
  const size_t elems = (size_t)(ROWS + GUARD) * ELEMS;
  uint16_t *src = random_rows(hc, elems, &rng);
  uint16_t *want = (uint16_t *)host_mem(hc, elems * 2);
  uint16_t *got = (uint16_t *)host_mem(hc, elems * 2);
  void *src_dev = uploaded(hc, src, elems * 2);
  void *idx_dev = uploaded(hc, idx_host, sizeof idx_host);
  int c, pad, i;
  for (c = 0; c < 3; ++c)
    for (pad = 0; pad < 2; ++pad) {
      fa_rows_params p;
      fa_message msg;
      fa_status st;
      char what[160];
      /* valid (clamped) count, and the rows it covers */
      const int eff = counts[c] < 0 ? 0 : (counts[c] > ROWS ? ROWS : counts[c]);
      p = fa_rows_params_default();
      p.backend = hc->backend;
      p.dtype = FA_DTYPE_BF16;
      p.row_elems = ELEMS;
      p.src = src_dev;
      p.dst = poisoned_mem(hc, elems * 2);
      p.indices = (const int64_t *)idx_dev;
      p.count = (const int32_t *)uploaded(hc, &counts[c], sizeof counts[c]);
      p.padded_rows = ROWS;
      p.stream = hc->stream;
      snprintf(what, sizeof what, "%s with count %d and indices {3, -5, 0, 8, 5, 1}",
               pad ? "fa_pad_rows" : "fa_unpad_rows", counts[c]);
      st = pad ? fa_pad_rows(&p, &msg) : fa_unpad_rows(&p, &msg);
      memset(want, POISON_BYTE, elems * 2);
      if (!is_cuda(hc)) {
        if (st != FA_ERR_INVALID_SEQLENS)
          fail_msg("%s: got %s, expected FA_ERR_INVALID_SEQLENS (%s)", what, fa_status_string(st),
                   msg.text);
        if (strstr(msg.text, counts[c] < 0 || counts[c] > ROWS ? "count" : "indices") == NULL)
          fail_msg("%s: the message does not name the field: %s", what, msg.text);
      } else {
        expect_ok(st, &msg, what);
        if (pad)
          for (i = 0; i < ROWS; ++i)
            memset(want + i * ELEMS, 0, ELEMS * 2);
        for (i = 0; i < eff; ++i) {
          if (idx_host[i] < 0 || idx_host[i] >= ROWS)
            continue;
          if (pad)
            memcpy(want + idx_host[i] * ELEMS, src + i * ELEMS, ELEMS * 2);
          else
            memcpy(want + i * ELEMS, src + idx_host[i] * ELEMS, ELEMS * 2);
        }
      }
      get(hc, got, p.dst, elems * 2);
      expect_same_rows(got, want, elems, ELEMS, what);
    }
  print_message(is_cuda(hc) ? "bad count/indices clamped, nothing written out of bounds\n"
                            : "bad count/indices rejected, nothing written\n");
}

/* ------------------------------------------------------------ unpad -> fa_fwd -> pad */

#define PIPE_HQ 4
#define PIPE_HK 2
#define PIPE_D 64
#define PIPE_BATCH 3
#define PIPE_TOL 1e-2 /* bf16, as test_fwd's TOL_BF16 */

/*
 * A padded batch (left padding, right padding, holes) through the whole
 * transformers path, causal, GQA 4/2, bf16: unpad_info on the mask, unpad
 * q/k/v (packed buffers start as NaN), fa_fwd on the packed rows with the
 * bounds the header recommends (total = batch * seqlen, max_seqlen =
 * seqlen), pad the output. Each kept token's output is compared with
 * per-row attention over its own sequence (reference.h); pad rows must be
 * exactly zero. The CUDA case runs the helpers and fa_fwd on the GPU.
 */
static void test_pipeline(void **state) {
  hcase *hc = begin(state);
  const int seqlen = is_cuda(hc) ? 150 : 37;
  const int64_t n = (int64_t)PIPE_BATCH * seqlen;
  const int64_t wq = PIPE_HQ * PIPE_D, wk = PIPE_HK * PIPE_D; /* row widths */
  const fa_dtype dtype = FA_DTYPE_BF16;
  tu_rng rng = tu_rng_make(hc->seed);
  int64_t *keep = (int64_t *)host_mem(hc, (size_t)n * 8);
  int64_t *idx = (int64_t *)host_mem(hc, (size_t)n * 8);
  int32_t cu[PIPE_BATCH + 1], max_len, dev_max = -1;
  uint16_t *q = (uint16_t *)host_mem(hc, (size_t)(n * wq) * 2);
  uint16_t *k = (uint16_t *)host_mem(hc, (size_t)(n * wk) * 2);
  uint16_t *v = (uint16_t *)host_mem(hc, (size_t)(n * wk) * 2);
  uint16_t *qp = (uint16_t *)host_mem(hc, (size_t)(n * wq) * 2); /* reference packing */
  uint16_t *kp = (uint16_t *)host_mem(hc, (size_t)(n * wk) * 2);
  uint16_t *vp = (uint16_t *)host_mem(hc, (size_t)(n * wk) * 2);
  uint16_t *out = (uint16_t *)host_mem(hc, (size_t)(n * wq) * 2);
  void *d_q, *d_k, *d_v, *d_qp, *d_kp, *d_vp, *d_outp, *d_out, *d_mask;
  int64_t *d_idx;
  int32_t *d_cu, *d_max;
  fa_unpad_info_params ui;
  fa_rows_params rp;
  fa_fwd_params fp;
  fa_message msg;
  fa_status st;
  double err2 = 0.0, ref2 = 0.0, rel;
  int64_t i, s;
  int b, h, d, pad_rows = 0;

  /* row 0: left padding; row 1: right padding; row 2: holes */
  for (b = 0; b < PIPE_BATCH; ++b)
    for (s = 0; s < seqlen; ++s)
      keep[b * seqlen + s] = b == 0 ? s >= seqlen / 3 : (b == 1 ? s < seqlen / 2 + 1 : tu_rng_uniform(&rng) < 0.7);
  ref_unpad_info(keep, PIPE_BATCH, seqlen, idx, cu, &max_len);
  tu_fill_random(q, (size_t)(n * wq), dtype, 1.0, &rng);
  tu_fill_random(k, (size_t)(n * wk), dtype, 1.0, &rng);
  tu_fill_random(v, (size_t)(n * wk), dtype, 1.0, &rng);
  for (i = 0; i < cu[PIPE_BATCH]; ++i) {
    memcpy(qp + i * wq, q + idx[i] * wq, (size_t)wq * 2);
    memcpy(kp + i * wk, k + idx[i] * wk, (size_t)wk * 2);
    memcpy(vp + i * wk, v + idx[i] * wk, (size_t)wk * 2);
  }

  d_mask = uploaded(hc, keep, (size_t)n * 8); /* int64, as transformers' attention_mask */
  d_q = uploaded(hc, q, (size_t)(n * wq) * 2);
  d_k = uploaded(hc, k, (size_t)(n * wk) * 2);
  d_v = uploaded(hc, v, (size_t)(n * wk) * 2);
  tu_poison16(out, (size_t)(n * wq)); /* NaN: rows a step must not read */
  d_qp = uploaded(hc, out, (size_t)(n * wq) * 2);
  d_outp = uploaded(hc, out, (size_t)(n * wq) * 2);
  d_kp = uploaded(hc, out, (size_t)(n * wk) * 2);
  d_vp = uploaded(hc, out, (size_t)(n * wk) * 2);
  d_out = uploaded(hc, out, (size_t)(n * wq) * 2);
  d_idx = (int64_t *)backend_mem(hc, (size_t)n * 8);
  d_cu = (int32_t *)backend_mem(hc, sizeof cu);
  d_max = (int32_t *)backend_mem(hc, 4);

  ui = fa_unpad_info_params_default();
  ui.backend = hc->backend;
  ui.attention_mask = d_mask;
  ui.mask_dtype = FA_INT64;
  ui.batch = PIPE_BATCH;
  ui.seqlen = seqlen;
  ui.indices = d_idx;
  ui.cu_seqlens = d_cu;
  ui.max_seqlen = d_max;
  ui.stream = hc->stream;
  expect_ok(fa_unpad_info(&ui, &msg), &msg, "pipeline: fa_unpad_info");

  rp = fa_rows_params_default();
  rp.backend = hc->backend;
  rp.dtype = dtype;
  rp.indices = d_idx;
  rp.count = d_cu + PIPE_BATCH;
  rp.padded_rows = n;
  rp.stream = hc->stream;
  rp.row_elems = wq, rp.src = d_q, rp.dst = d_qp;
  expect_ok(fa_unpad_rows(&rp, &msg), &msg, "pipeline: fa_unpad_rows q");
  rp.row_elems = wk, rp.src = d_k, rp.dst = d_kp;
  expect_ok(fa_unpad_rows(&rp, &msg), &msg, "pipeline: fa_unpad_rows k");
  rp.src = d_v, rp.dst = d_vp;
  expect_ok(fa_unpad_rows(&rp, &msg), &msg, "pipeline: fa_unpad_rows v");

  fp = fa_fwd_params_default();
  fp.backend = hc->backend;
  fp.dtype = dtype;
  fp.batch = PIPE_BATCH;
  fp.num_heads_q = PIPE_HQ;
  fp.num_heads_k = PIPE_HK;
  fp.head_dim = PIPE_D;
  fp.cu_seqlens_q = d_cu;
  fp.cu_seqlens_k = d_cu;
  fp.total_q = n; /* the header's bounds: no value comes back to the host */
  fp.total_k = n;
  fp.max_seqlen_q = seqlen;
  fp.max_seqlen_k = seqlen;
  fp.q = d_qp, fp.k = d_kp, fp.v = d_vp, fp.out = d_outp;
  fp.window_left = -1, fp.window_right = 0; /* causal */
  fp.stream = hc->stream;
  st = fa_fwd(&fp, &msg);
  if (st == FA_ERR_UNSUPPORTED_DEVICE) {
    print_message("skipped: fa_fwd has no kernel for this device: %s\n", msg.text);
    skip();
  }
  expect_ok(st, &msg, "pipeline: fa_fwd");

  rp.row_elems = wq, rp.src = d_outp, rp.dst = d_out;
  expect_ok(fa_pad_rows(&rp, &msg), &msg, "pipeline: fa_pad_rows out");
  get(hc, out, d_out, (size_t)(n * wq) * 2);
  get(hc, &dev_max, d_max, 4);
  assert_int_equal(dev_max, max_len);

  for (b = 0; b < PIPE_BATCH; ++b) {
    const int64_t len = cu[b + 1] - cu[b];
    for (i = 0; i < len; ++i)
      for (h = 0; h < PIPE_HQ; ++h) {
        double want[PIPE_D], lse;
        const uint16_t *row = out + idx[cu[b] + i] * wq + h * PIPE_D;
        ref_attention_row(qp, kp, vp, dtype, cu[b], cu[b], len, len, PIPE_HQ, PIPE_HK, PIPE_D, h, i,
                          -1, 0, 1.0 / sqrt((double)PIPE_D), 0.0, NULL, want, &lse);
        for (d = 0; d < PIPE_D; ++d) {
          const double g = tu_half_to_double(row[d], dtype);
          if (isnan(g))
            fail_msg("pipeline: NaN in sequence %d, token %lld, head %d", b, (long long)i, h);
          err2 += (g - want[d]) * (g - want[d]);
          ref2 += want[d] * want[d];
        }
      }
  }
  for (i = 0; i < n; ++i)
    if (!keep[i]) {
      for (d = 0; d < wq; ++d)
        if (out[i * wq + d] != 0)
          fail_msg("pipeline: padded row %lld, element %d is 0x%04x, expected 0", (long long)i, d,
                   out[i * wq + d]);
      ++pad_rows;
    }
  rel = sqrt(err2 / ref2);
  print_message("pipeline: %d tokens kept of %lld, %d pad rows zero, rel. error %.2e (tol %.0e)\n",
                cu[PIPE_BATCH], (long long)n, pad_rows, rel, PIPE_TOL);
  if (!(rel <= PIPE_TOL))
    fail_msg("pipeline: relative error %.3e > %.0e", rel, PIPE_TOL);
}

/* ------------------------------------------------------------ bad input */

/* Whether `field` appears in text as a whole identifier. */
static int names_word(const char *text, const char *field) {
  const size_t n = strlen(field);
  const char *at = text;
  while ((at = strstr(at, field)) != NULL) {
    const int before = at != text && (at[-1] == '_' || isalnum((unsigned char)at[-1]));
    const int after = at[n] == '_' || isalnum((unsigned char)at[n]);
    if (!before && !after)
      return 1;
    at += 1;
  }
  return 0;
}

/* fields: "a|b": one of them must be named. */
static int names_any(const char *text, const char *fields) {
  char buf[256];
  char *tok, *next;
  snprintf(buf, sizeof buf, "%s", fields);
  for (tok = buf; tok != NULL; tok = next) {
    next = strchr(tok, '|');
    if (next)
      *next++ = '\0';
    if (names_word(text, tok))
      return 1;
  }
  return 0;
}

/* The outputs a rejected call must leave alone. */
typedef struct watched {
  const void *ptr; /* backend memory */
  size_t bytes;
} watched;

#define MAX_WATCHED 4

typedef struct bad_ctx {
  hcase *hc;
  watched w[MAX_WATCHED];
  int n;
  int calls;
} bad_ctx;

static void watch(bad_ctx *c, const void *ptr, size_t bytes) {
  void *h;
  assert_true(c->n < MAX_WATCHED);
  h = host_mem(c->hc, bytes);
  memset(h, POISON_BYTE, bytes);
  put(c->hc, (void *)ptr, h, bytes);
  c->w[c->n].ptr = ptr;
  c->w[c->n].bytes = bytes;
  ++c->n;
}

static void expect_untouched(bad_ctx *c, const char *what) {
  int i;
  size_t j;
  for (i = 0; i < c->n; ++i) {
    unsigned char *h = (unsigned char *)malloc(c->w[i].bytes);
    assert_non_null(h);
    {
      fa_message msg;
      const fa_status st = fa_copy_to_host(c->hc->backend, h, c->w[i].ptr, c->w[i].bytes,
                                           c->hc->stream, &msg);
      if (st != FA_OK) {
        free(h);
        fail_msg("%s: reading back the outputs: %s", what, msg.text);
      }
    }
    for (j = 0; j < c->w[i].bytes; ++j)
      if (h[j] != POISON_BYTE) {
        free(h);
        fail_msg("%s: the call failed but wrote output %d at byte %zu", what, i, j);
      }
    free(h);
  }
}

static void expect_status(bad_ctx *c, fa_status got, fa_status want, const fa_message *msg,
                          const char *fields, const char *what) {
  ++c->calls;
  if (got != want)
    fail_msg("%s: got %s, expected %s (message: \"%s\")", what, fa_status_string(got),
             fa_status_string(want), msg->text);
  if (strncmp(msg->text, fa_status_string(want), strlen(fa_status_string(want))) != 0)
    fail_msg("%s: the message does not start with %s: \"%s\"", what, fa_status_string(want),
             msg->text);
  if (fields != NULL && !names_any(msg->text, fields))
    fail_msg("%s: the message does not name %s: \"%s\"", what, fields, msg->text);
  expect_untouched(c, what);
}

/* A host buffer to pass where the CUDA backend needs device memory. */
static void *host_view(hcase *hc, size_t bytes) {
  void *p = host_mem(hc, bytes + SLACK);
  memset(p, 0, bytes + SLACK);
  return p;
}

static void test_unpad_info_bad(void **state) {
  hcase *hc = begin(state);
  enum { B = 2, S = 4, N = B * S };
  const int64_t keep[N] = {1, 1, 0, 0, 1, 1, 1, 0};
  const int32_t keep32[N] = {1, 1, 0, 0, 1, 1, 1, 0};
  const uint8_t keep8[N] = {1, 1, 0, 0, 1, 1, 1, 0};
  bad_ctx c;
  fa_unpad_info_params base, p;
  fa_message msg;
  char *mask32, *mask64, *mask8, *idx, *cu, *mx;
  memset(&c, 0, sizeof c);
  c.hc = hc;
  mask32 = (char *)uploaded(hc, keep32, sizeof keep32);
  mask64 = (char *)uploaded(hc, keep, sizeof keep);
  mask8 = (char *)backend_mem(hc, N + SLACK);
  put(hc, mask8 + 1, keep8, N); /* bool masks have no alignment: an odd address works */
  idx = (char *)backend_mem(hc, N * 8 + SLACK);
  cu = (char *)backend_mem(hc, (B + 1) * 4 + SLACK);
  mx = (char *)backend_mem(hc, 4 + SLACK);
  watch(&c, idx, N * 8 + SLACK);
  watch(&c, cu, (B + 1) * 4 + SLACK);
  watch(&c, mx, 4 + SLACK);

  base = fa_unpad_info_params_default();
  base.backend = hc->backend;
  base.attention_mask = mask32;
  base.mask_dtype = FA_INT32;
  base.batch = B;
  base.seqlen = S;
  base.indices = (int64_t *)idx;
  base.cu_seqlens = (int32_t *)cu;
  base.max_seqlen = (int32_t *)mx;
  base.stream = hc->stream;

#define UNPAD_BAD(mutation, want, fields, what)                          \
  do {                                                                   \
    p = base;                                                            \
    mutation;                                                            \
    expect_status(&c, fa_unpad_info(&p, &msg), want, &msg, fields, what); \
  } while (0)

  expect_status(&c, fa_unpad_info(NULL, &msg), FA_ERR_NULL_POINTER, &msg, "params", "params NULL");
  assert_int_equal(fa_unpad_info(NULL, NULL), FA_ERR_NULL_POINTER); /* no message: fine */
  UNPAD_BAD(p.backend = (fa_backend)0, FA_ERR_INVALID_BACKEND, "backend", "backend 0");
  UNPAD_BAD(p.backend = (fa_backend)3, FA_ERR_INVALID_BACKEND, "backend", "backend 3");
  UNPAD_BAD(p.mask_dtype = (fa_int_dtype)0, FA_ERR_UNSUPPORTED_DTYPE, "mask_dtype", "mask_dtype 0");
  UNPAD_BAD(p.mask_dtype = (fa_int_dtype)4, FA_ERR_UNSUPPORTED_DTYPE, "mask_dtype", "mask_dtype 4");
  UNPAD_BAD(p.batch = 0, FA_ERR_INVALID_SHAPE, "batch", "batch 0");
  UNPAD_BAD(p.batch = -3, FA_ERR_INVALID_SHAPE, "batch", "batch -3");
  UNPAD_BAD(p.seqlen = 0, FA_ERR_INVALID_SHAPE, "seqlen", "seqlen 0");
  UNPAD_BAD(p.seqlen = -1, FA_ERR_INVALID_SHAPE, "seqlen", "seqlen -1");
  UNPAD_BAD((p.batch = 65536, p.seqlen = 32768), FA_ERR_INVALID_SHAPE, "batch|seqlen",
            "batch * seqlen = 2^31");
  UNPAD_BAD((p.batch = INT32_MAX, p.seqlen = INT32_MAX), FA_ERR_INVALID_SHAPE, "batch|seqlen",
            "batch * seqlen = (2^31 - 1)^2");
  UNPAD_BAD(p.attention_mask = NULL, FA_ERR_NULL_POINTER, "attention_mask", "attention_mask NULL");
  UNPAD_BAD(p.indices = NULL, FA_ERR_NULL_POINTER, "indices", "indices NULL");
  UNPAD_BAD(p.cu_seqlens = NULL, FA_ERR_NULL_POINTER, "cu_seqlens", "cu_seqlens NULL");
  UNPAD_BAD(p.max_seqlen = NULL, FA_ERR_NULL_POINTER, "max_seqlen", "max_seqlen NULL");
  UNPAD_BAD(p.attention_mask = mask32 + 2, FA_ERR_MISALIGNED, "attention_mask", "int32 mask at +2");
  UNPAD_BAD((p.attention_mask = mask64 + 4, p.mask_dtype = FA_INT64), FA_ERR_MISALIGNED,
            "attention_mask", "int64 mask at +4");
  UNPAD_BAD(p.indices = (int64_t *)(idx + 4), FA_ERR_MISALIGNED, "indices", "indices at +4");
  UNPAD_BAD(p.cu_seqlens = (int32_t *)(cu + 2), FA_ERR_MISALIGNED, "cu_seqlens", "cu_seqlens at +2");
  UNPAD_BAD(p.max_seqlen = (int32_t *)(mx + 1), FA_ERR_MISALIGNED, "max_seqlen", "max_seqlen at +1");
  if (is_cuda(hc)) {
    UNPAD_BAD(p.attention_mask = host_view(hc, sizeof keep32), FA_ERR_INVALID_POINTER,
              "attention_mask", "host attention_mask");
    UNPAD_BAD(p.indices = (int64_t *)host_view(hc, N * 8), FA_ERR_INVALID_POINTER, "indices",
              "host indices");
    UNPAD_BAD(p.cu_seqlens = (int32_t *)host_view(hc, (B + 1) * 4), FA_ERR_INVALID_POINTER,
              "cu_seqlens", "host cu_seqlens");
    UNPAD_BAD(p.max_seqlen = (int32_t *)host_view(hc, 4), FA_ERR_INVALID_POINTER, "max_seqlen",
              "host max_seqlen");
  }
#undef UNPAD_BAD

  /* Last (it writes): a valid call clears the message; bool mask at an odd address. */
  p = base;
  p.attention_mask = mask8 + 1;
  p.mask_dtype = FA_INT_BOOL;
  strcpy(msg.text, "stale");
  expect_ok(fa_unpad_info(&p, &msg), &msg, "bool mask at an odd address");
  {
    int32_t got_cu[B + 1], got_max;
    int64_t got_idx[N];
    const int32_t want_cu[B + 1] = {0, 2, 5};
    const int64_t want_idx[N] = {0, 1, 4, 5, 6, -1, -1, -1};
    get(hc, got_cu, cu, sizeof got_cu);
    get(hc, &got_max, mx, 4);
    get(hc, got_idx, idx, sizeof got_idx);
    expect_i32(got_cu, want_cu, B + 1, 0, "cu_seqlens", "bool mask at an odd address");
    assert_int_equal(got_max, 3);
    expect_i64(got_idx, want_idx, N, 0, "indices", "bool mask at an odd address");
  }
  print_message("%d rejected calls: right status, field named, nothing written\n", c.calls);
}

typedef fa_status (*rows_fn)(const fa_rows_params *, fa_message *);

static void test_rows_bad(void **state) {
  hcase *hc = begin(state);
  enum { ROWS = 4, ELEMS = 16 };
  const int64_t idx_host[ROWS] = {0, 2, 3, 1};
  const int32_t count_host = 3;
  const int32_t bad_counts[2] = {ROWS + 1, -1};
  const int64_t bad_idx[2][ROWS] = {{0, ROWS, 3, 1}, {-1, 2, 3, 1}};
  const rows_fn fns[2] = {fa_unpad_rows, fa_pad_rows};
  const char *fn_names[2] = {"fa_unpad_rows", "fa_pad_rows"};
  bad_ctx c;
  char *src, *dst, *idx, *cnt;
  int f, j;
  memset(&c, 0, sizeof c);
  c.hc = hc;
  src = (char *)backend_mem(hc, ROWS * ELEMS * 2 + SLACK);
  dst = (char *)backend_mem(hc, ROWS * ELEMS * 2 + SLACK);
  idx = (char *)uploaded(hc, idx_host, sizeof idx_host);
  cnt = (char *)uploaded(hc, &count_host, sizeof count_host);
  watch(&c, dst, ROWS * ELEMS * 2 + SLACK);

  for (f = 0; f < 2; ++f) {
    fa_rows_params base, p;
    fa_message msg;
    char what[160];
    base = fa_rows_params_default();
    base.backend = hc->backend;
    base.dtype = FA_DTYPE_FP16;
    base.row_elems = ELEMS;
    base.src = src;
    base.dst = dst;
    base.indices = (const int64_t *)idx;
    base.count = (const int32_t *)cnt;
    base.padded_rows = ROWS;
    base.stream = hc->stream;

#define ROWS_BAD(mutation, want, fields, text)                                 \
  do {                                                                         \
    p = base;                                                                  \
    mutation;                                                                  \
    snprintf(what, sizeof what, "%s: %s", fn_names[f], text);                  \
    expect_status(&c, fns[f](&p, &msg), want, &msg, fields, what);             \
  } while (0)

    snprintf(what, sizeof what, "%s: params NULL", fn_names[f]);
    expect_status(&c, fns[f](NULL, &msg), FA_ERR_NULL_POINTER, &msg, "params", what);
    ROWS_BAD(p.backend = (fa_backend)0, FA_ERR_INVALID_BACKEND, "backend", "backend 0");
    ROWS_BAD(p.dtype = (fa_dtype)0, FA_ERR_UNSUPPORTED_DTYPE, "dtype", "dtype 0");
    ROWS_BAD(p.dtype = (fa_dtype)3, FA_ERR_UNSUPPORTED_DTYPE, "dtype", "dtype 3");
    ROWS_BAD(p.row_elems = 0, FA_ERR_INVALID_SHAPE, "row_elems", "row_elems 0");
    ROWS_BAD(p.row_elems = 4, FA_ERR_INVALID_SHAPE, "row_elems", "row_elems 4");
    ROWS_BAD(p.row_elems = 12, FA_ERR_INVALID_SHAPE, "row_elems", "row_elems 12");
    ROWS_BAD(p.row_elems = -8, FA_ERR_INVALID_SHAPE, "row_elems", "row_elems -8");
    ROWS_BAD(p.padded_rows = 0, FA_ERR_INVALID_SHAPE, "padded_rows", "padded_rows 0");
    ROWS_BAD(p.padded_rows = -1, FA_ERR_INVALID_SHAPE, "padded_rows", "padded_rows -1");
    ROWS_BAD(p.padded_rows = INT64_C(1) << 31, FA_ERR_INVALID_SHAPE, "padded_rows", "padded_rows 2^31");
    ROWS_BAD(p.src = NULL, FA_ERR_NULL_POINTER, "src", "src NULL");
    ROWS_BAD(p.dst = NULL, FA_ERR_NULL_POINTER, "dst", "dst NULL");
    ROWS_BAD(p.indices = NULL, FA_ERR_NULL_POINTER, "indices", "indices NULL");
    ROWS_BAD(p.count = NULL, FA_ERR_NULL_POINTER, "count", "count NULL");
    ROWS_BAD(p.src_row_stride = 8, FA_ERR_INVALID_STRIDE, "src_row_stride", "src_row_stride < row_elems");
    ROWS_BAD(p.src_row_stride = -16, FA_ERR_INVALID_STRIDE, "src_row_stride", "src_row_stride -16");
    ROWS_BAD(p.src_row_stride = 20, FA_ERR_INVALID_STRIDE, "src_row_stride", "src_row_stride 20");
    ROWS_BAD(p.dst_row_stride = 8, FA_ERR_INVALID_STRIDE, "dst_row_stride", "dst_row_stride < row_elems");
    ROWS_BAD(p.dst_row_stride = -16, FA_ERR_INVALID_STRIDE, "dst_row_stride", "dst_row_stride -16");
    ROWS_BAD(p.dst_row_stride = 36, FA_ERR_INVALID_STRIDE, "dst_row_stride", "dst_row_stride 36");
    ROWS_BAD((p.src_row_stride = INT64_C(1) << 58, p.padded_rows = 64), FA_ERR_OVERFLOW,
             "src_row_stride|src", "src spans past 2^60");
    ROWS_BAD((p.dst_row_stride = INT64_C(1) << 58, p.padded_rows = 64), FA_ERR_OVERFLOW,
             "dst_row_stride|dst", "dst spans past 2^60");
    ROWS_BAD(p.src = src + 8, FA_ERR_MISALIGNED, "src", "src at +8");
    ROWS_BAD(p.dst = dst + 2, FA_ERR_MISALIGNED, "dst", "dst at +2");
    ROWS_BAD(p.indices = (const int64_t *)(idx + 4), FA_ERR_MISALIGNED, "indices", "indices at +4");
    ROWS_BAD(p.count = (const int32_t *)(cnt + 2), FA_ERR_MISALIGNED, "count", "count at +2");
    if (is_cuda(hc)) {
      ROWS_BAD(p.src = host_view(hc, ROWS * ELEMS * 2), FA_ERR_INVALID_POINTER, "src", "host src");
      ROWS_BAD(p.dst = host_view(hc, ROWS * ELEMS * 2), FA_ERR_INVALID_POINTER, "dst", "host dst");
      ROWS_BAD(p.indices = (const int64_t *)host_view(hc, sizeof idx_host), FA_ERR_INVALID_POINTER,
               "indices", "host indices");
      ROWS_BAD(p.count = (const int32_t *)host_view(hc, 4), FA_ERR_INVALID_POINTER, "count",
               "host count");
    } else {
      /* Host-readable contents are checked (the CUDA kernels clamp instead:
       * test_rows_bad_contents). */
      for (j = 0; j < 2; ++j) {
        ROWS_BAD(p.count = &bad_counts[j], FA_ERR_INVALID_SEQLENS, "count", "count out of range");
        ROWS_BAD(p.indices = bad_idx[j], FA_ERR_INVALID_SEQLENS, "indices", "index out of range");
      }
    }
#undef ROWS_BAD
  }
  print_message("%d rejected calls: right status, field named, nothing written\n", c.calls);
}

static void test_position_ids_bad(void **state) {
  hcase *hc = begin(state);
  enum { T = 6 };
  const int32_t ids32[T] = {0, 1, 2, 0, 1, 0};
  const int64_t ids64[T] = {0, 1, 2, 0, 1, 0};
  bad_ctx c;
  fa_position_ids_params base, p;
  fa_message msg;
  char *p32, *p64, *cu, *ns, *mx;
  memset(&c, 0, sizeof c);
  c.hc = hc;
  p32 = (char *)uploaded(hc, ids32, sizeof ids32);
  p64 = (char *)uploaded(hc, ids64, sizeof ids64);
  cu = (char *)backend_mem(hc, (T + 1) * 4 + SLACK);
  ns = (char *)backend_mem(hc, 4 + SLACK);
  mx = (char *)backend_mem(hc, 4 + SLACK);
  watch(&c, cu, (T + 1) * 4 + SLACK);
  watch(&c, ns, 4 + SLACK);
  watch(&c, mx, 4 + SLACK);
  base = fa_position_ids_params_default();
  base.backend = hc->backend;
  base.position_ids = p32;
  base.dtype = FA_INT32;
  base.total = T;
  base.cu_seqlens = (int32_t *)cu;
  base.num_seqs = (int32_t *)ns;
  base.max_seqlen = (int32_t *)mx;
  base.stream = hc->stream;

#define IDS_BAD(mutation, want, fields, what)                                            \
  do {                                                                                   \
    p = base;                                                                            \
    mutation;                                                                            \
    expect_status(&c, fa_seqlens_from_position_ids(&p, &msg), want, &msg, fields, what); \
  } while (0)

  expect_status(&c, fa_seqlens_from_position_ids(NULL, &msg), FA_ERR_NULL_POINTER, &msg, "params",
                "params NULL");
  IDS_BAD(p.backend = (fa_backend)7, FA_ERR_INVALID_BACKEND, "backend", "backend 7");
  IDS_BAD(p.dtype = FA_INT_BOOL, FA_ERR_UNSUPPORTED_DTYPE, "dtype", "bool position ids");
  IDS_BAD(p.dtype = (fa_int_dtype)0, FA_ERR_UNSUPPORTED_DTYPE, "dtype", "dtype 0");
  IDS_BAD(p.dtype = (fa_int_dtype)4, FA_ERR_UNSUPPORTED_DTYPE, "dtype", "dtype 4");
  IDS_BAD(p.total = 0, FA_ERR_INVALID_SHAPE, "total", "total 0");
  IDS_BAD(p.total = -1, FA_ERR_INVALID_SHAPE, "total", "total -1");
  IDS_BAD(p.total = INT64_C(1) << 31, FA_ERR_INVALID_SHAPE, "total", "total 2^31");
  IDS_BAD(p.position_ids = NULL, FA_ERR_NULL_POINTER, "position_ids", "position_ids NULL");
  IDS_BAD(p.cu_seqlens = NULL, FA_ERR_NULL_POINTER, "cu_seqlens", "cu_seqlens NULL");
  IDS_BAD(p.num_seqs = NULL, FA_ERR_NULL_POINTER, "num_seqs", "num_seqs NULL");
  IDS_BAD(p.max_seqlen = NULL, FA_ERR_NULL_POINTER, "max_seqlen", "max_seqlen NULL");
  IDS_BAD(p.position_ids = p32 + 2, FA_ERR_MISALIGNED, "position_ids", "int32 ids at +2");
  IDS_BAD((p.position_ids = p64 + 4, p.dtype = FA_INT64), FA_ERR_MISALIGNED, "position_ids",
          "int64 ids at +4");
  IDS_BAD(p.cu_seqlens = (int32_t *)(cu + 2), FA_ERR_MISALIGNED, "cu_seqlens", "cu_seqlens at +2");
  IDS_BAD(p.num_seqs = (int32_t *)(ns + 1), FA_ERR_MISALIGNED, "num_seqs", "num_seqs at +1");
  IDS_BAD(p.max_seqlen = (int32_t *)(mx + 3), FA_ERR_MISALIGNED, "max_seqlen", "max_seqlen at +3");
  if (is_cuda(hc)) {
    IDS_BAD(p.position_ids = host_view(hc, sizeof ids32), FA_ERR_INVALID_POINTER, "position_ids",
            "host position_ids");
    IDS_BAD(p.cu_seqlens = (int32_t *)host_view(hc, (T + 1) * 4), FA_ERR_INVALID_POINTER,
            "cu_seqlens", "host cu_seqlens");
    IDS_BAD(p.num_seqs = (int32_t *)host_view(hc, 4), FA_ERR_INVALID_POINTER, "num_seqs",
            "host num_seqs");
    IDS_BAD(p.max_seqlen = (int32_t *)host_view(hc, 4), FA_ERR_INVALID_POINTER, "max_seqlen",
            "host max_seqlen");
  }
#undef IDS_BAD
  print_message("%d rejected calls: right status, field named, nothing written\n", c.calls);
}

static void test_copy_to_host_bad(void **state) {
  hcase *hc = begin(state);
  const int32_t values[4] = {7, -1, 3, 9};
  unsigned char host[16 + SLACK], want[16 + SLACK];
  void *dev = uploaded(hc, values, sizeof values);
  fa_message msg;
  fa_status st;
  memset(host, POISON_BYTE, sizeof host);
  memset(want, POISON_BYTE, sizeof want);

#define COPY_BAD(call, status, fields, what)                                             \
  do {                                                                                   \
    st = call;                                                                           \
    if (st != status)                                                                    \
      fail_msg("%s: got %s, expected %s (%s)", what, fa_status_string(st),               \
               fa_status_string(status), msg.text);                                      \
    if (!names_any(msg.text, fields))                                                    \
      fail_msg("%s: the message does not name %s: \"%s\"", what, fields, msg.text);      \
    if (memcmp(host, want, sizeof host) != 0)                                            \
      fail_msg("%s: the call failed but wrote host_dst", what);                          \
  } while (0)

  COPY_BAD(fa_copy_to_host((fa_backend)0, host, dev, 16, hc->stream, &msg), FA_ERR_INVALID_BACKEND,
           "backend", "backend 0");
  COPY_BAD(fa_copy_to_host(hc->backend, NULL, dev, 16, hc->stream, &msg), FA_ERR_NULL_POINTER,
           "host_dst", "host_dst NULL");
  COPY_BAD(fa_copy_to_host(hc->backend, host, NULL, 16, hc->stream, &msg), FA_ERR_NULL_POINTER,
           "src", "src NULL");
  if (is_cuda(hc)) {
    void *other = backend_mem(hc, 16);
    COPY_BAD(fa_copy_to_host(hc->backend, host, values, 16, hc->stream, &msg),
             FA_ERR_INVALID_POINTER, "src", "host src on the CUDA backend");
    COPY_BAD(fa_copy_to_host(hc->backend, other, dev, 16, hc->stream, &msg),
             FA_ERR_INVALID_POINTER, "host_dst", "device host_dst");
  }
#undef COPY_BAD
  /* Zero bytes is a valid (empty) copy; then a real one. */
  expect_ok(fa_copy_to_host(hc->backend, host, dev, 0, hc->stream, &msg), &msg, "0 bytes");
  assert_memory_equal(host, want, sizeof host);
  expect_ok(fa_copy_to_host(hc->backend, host + 4, dev, 16, hc->stream, &msg), &msg, "16 bytes");
  assert_memory_equal(host + 4, values, 16);
  assert_memory_equal(host, want, 4);
  assert_memory_equal(host + 20, want + 20, sizeof host - 20);
}

/*
 * Without a device, the CUDA backend answers FA_ERR_NO_DEVICE, after the
 * checks that need no device (those keep their own status), and writes
 * nothing. Runs only where no device is present (the _cuda cases cover the
 * backend on a GPU).
 */
static void test_cuda_backend_without_device(void **state) {
  hcase *hc = (hcase *)*state;
  int64_t idx[4];
  int32_t cu[5], one[2];
  const int32_t ids[4] = {0, 1, 0, 1};
  const int32_t count = 2;
  uint16_t src[64], dst[64], dst0[64];
  fa_unpad_info_params up;
  fa_rows_params rp;
  fa_position_ids_params pp;
  fa_message msg;
  if (hc->device->present) {
    print_message("skipped: a CUDA device is present; the _cuda cases test that backend\n");
    skip();
  }
  memset(idx, POISON_BYTE, sizeof idx);
  memset(cu, POISON_BYTE, sizeof cu);
  memset(one, POISON_BYTE, sizeof one);
  memset(src, 0, sizeof src);
  memset(dst, POISON_BYTE, sizeof dst);
  memcpy(dst0, dst, sizeof dst);

  up = fa_unpad_info_params_default();
  up.backend = FA_BACKEND_CUDA;
  up.attention_mask = ids;
  up.mask_dtype = FA_INT32;
  up.batch = 2, up.seqlen = 2;
  up.indices = idx, up.cu_seqlens = cu, up.max_seqlen = one;
  assert_int_equal(fa_unpad_info(&up, &msg), FA_ERR_NO_DEVICE);
  assert_true(names_word(msg.text, "FA_BACKEND_CPU"));
  up.seqlen = 0;
  assert_int_equal(fa_unpad_info(&up, &msg), FA_ERR_INVALID_SHAPE);

  rp = fa_rows_params_default();
  rp.backend = FA_BACKEND_CUDA;
  rp.dtype = FA_DTYPE_BF16;
  rp.row_elems = 16;
  rp.src = src, rp.dst = dst;
  rp.indices = idx, rp.count = &count, rp.padded_rows = 4;
  assert_int_equal(fa_unpad_rows(&rp, &msg), FA_ERR_NO_DEVICE);
  assert_int_equal(fa_pad_rows(&rp, &msg), FA_ERR_NO_DEVICE);
  rp.row_elems = 12;
  assert_int_equal(fa_pad_rows(&rp, &msg), FA_ERR_INVALID_SHAPE);

  pp = fa_position_ids_params_default();
  pp.backend = FA_BACKEND_CUDA;
  pp.position_ids = ids, pp.dtype = FA_INT32, pp.total = 4;
  pp.cu_seqlens = cu, pp.num_seqs = one, pp.max_seqlen = one + 1;
  assert_int_equal(fa_seqlens_from_position_ids(&pp, &msg), FA_ERR_NO_DEVICE);
  pp.dtype = FA_INT_BOOL;
  assert_int_equal(fa_seqlens_from_position_ids(&pp, &msg), FA_ERR_UNSUPPORTED_DTYPE);

  assert_int_equal(fa_copy_to_host(FA_BACKEND_CUDA, one, ids, 4, NULL, &msg), FA_ERR_NO_DEVICE);
  assert_int_equal(fa_copy_to_host(FA_BACKEND_CUDA, NULL, ids, 4, NULL, &msg), FA_ERR_NULL_POINTER);

  {
    int64_t idx0[4];
    int32_t cu0[5], one0[2];
    memset(idx0, POISON_BYTE, sizeof idx0);
    memset(cu0, POISON_BYTE, sizeof cu0);
    memset(one0, POISON_BYTE, sizeof one0);
    assert_memory_equal(idx, idx0, sizeof idx);
    assert_memory_equal(cu, cu0, sizeof cu);
    assert_memory_equal(one, one0, sizeof one);
    assert_memory_equal(dst, dst0, sizeof dst);
  }
  print_message("no CUDA device (%s): FA_ERR_NO_DEVICE after the device-free checks\n",
                hc->device->reason);
}

/* ------------------------------------------------------------ main */

typedef struct case_def {
  const char *name;
  CMUnitTestFunction fn;
  int backends; /* 1: CPU and CUDA variants; 0: one variant, no suffix */
} case_def;

static const case_def k_cases[] = {
    {"unpad_info", test_unpad_info, 1},
    {"position_ids", test_position_ids, 1},
    {"rows", test_rows, 1},
    {"rows_bad_contents", test_rows_bad_contents, 1},
    {"pipeline", test_pipeline, 1},
    {"unpad_info_bad", test_unpad_info_bad, 1},
    {"rows_bad", test_rows_bad, 1},
    {"position_ids_bad", test_position_ids_bad, 1},
    {"copy_to_host_bad", test_copy_to_host_bad, 1},
    {"cuda_backend_without_device", test_cuda_backend_without_device, 0},
};
#define N_CASE_DEFS (sizeof k_cases / sizeof k_cases[0])
#define MAX_TESTS (2 * N_CASE_DEFS)

static int setup_case(void **state) {
  hcase *hc = (hcase *)*state;
  tu_pool_init(&hc->pool);
  tu_pool_init(&hc->keep);
  hc->stream = NULL;
  return 0;
}

static int teardown_case(void **state) {
  hcase *hc = (hcase *)*state;
  tu_pool_release(&hc->pool);
  tu_pool_release(&hc->keep);
  return 0;
}

int main(int argc, char **argv) {
  const char *filter = argc > 1 ? argv[1] : NULL;
  int from_env = 0, rc;
  const uint64_t seed = tu_seed_from_env(&from_env);
  static hcase states[MAX_TESTS];
  static char names[MAX_TESTS][64];
  struct CMUnitTest tests[MAX_TESTS];
  tu_device device;
  size_t i, n = 0;
  int b;

  printf("test_helpers: seed %llu (%s); reproduce with FA_TEST_SEED=%llu\n",
         (unsigned long long)seed, from_env ? "from FA_TEST_SEED" : "fresh",
         (unsigned long long)seed);
  if (tu_cuda_device(&device))
    printf("test_helpers: CUDA device %s, compute capability %d.%d\n", device.name,
           device.cc_major, device.cc_minor);
  else
    printf("test_helpers: no CUDA device (%s): CUDA cases skip\n", device.reason);
  fflush(stdout);

  for (i = 0; i < N_CASE_DEFS; ++i)
    for (b = 0; b < (k_cases[i].backends ? 2 : 1); ++b) {
      hcase *hc = &states[n];
      if (k_cases[i].backends)
        snprintf(names[n], sizeof names[n], "%s_%s", k_cases[i].name, b == 0 ? "cpu" : "cuda");
      else
        snprintf(names[n], sizeof names[n], "%s", k_cases[i].name);
      if (filter != NULL && strstr(names[n], filter) == NULL)
        continue;
      memset(hc, 0, sizeof *hc);
      hc->backend = b == 0 && k_cases[i].backends ? FA_BACKEND_CPU : FA_BACKEND_CUDA;
      hc->device = &device;
      hc->seed = seed ^ tu_hash_string(names[n]); /* filtering does not change a case's data */
      tests[n].name = names[n];
      tests[n].test_func = k_cases[i].fn;
      tests[n].setup_func = setup_case;
      tests[n].teardown_func = teardown_case;
      tests[n].initial_state = hc;
      ++n;
    }
  if (n == 0) {
    printf("test_helpers: no test matches '%s'\n", filter ? filter : "");
    return 1;
  }
  rc = _cmocka_run_group_tests("helpers", tests, n, NULL, NULL);
  return rc != 0;
}
