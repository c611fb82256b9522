/*
 * test_api.c - the API surface and bad input. Every invalid argument class
 * of SPEC.md and fa_status must give its exact status, a message naming the
 * offending field, and leave out and lse byte-for-byte untouched. Runs on
 * the CPU backend (host buffers) so it runs anywhere; the CUDA-only checks
 * assert FA_ERR_NO_DEVICE when no device is present.
 *
 *   test_api [FILTER]    run the tests whose name contains FILTER
 */
#include <ctype.h>
#include <pthread.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flashattn.h"
#include "kernel_name.h"
#include "test_util.h"

/* ------------------------------------------------------------ fixture */

/* A small valid problem: varlen, 2 sequences, GQA 4/2, head_dim 64 (the
 * same buffers hold the dense variant: [2, 5, 4, 64] and [2, 6, 2, 64]). */
#define API_D 64
#define API_HQ 4
#define API_HK 2
#define API_BATCH 2
#define API_TOTAL_Q 10 /* sequences use 3 + 5 rows; 2 rows of padding */
#define API_TOTAL_K 12 /* 4 + 6 rows; 2 of padding */
#define API_DENSE_LQ 5
#define API_DENSE_LK 6
#define API_SPARE 64 /* bytes after each buffer: room for misaligned views */

typedef struct api_fixture {
  uint16_t *q, *k, *v, *out;
  float *lse, *sinks;
  int32_t *cu_q, *cu_k, *seqused;
  size_t out_bytes, lse_bytes;
  size_t kernel_none, kernel_causal; /* fwd_cpu_hdim64_bf16_{none,causal} */
  tu_device device;
  tu_pool pool;
} api_fixture;

static void *alloc16(tu_pool *pool, size_t bytes) {
  /* malloc is 16-byte aligned on every platform we build for; check it. */
  void *p = tu_pool_host(pool, bytes + API_SPARE);
  assert_non_null(p);
  assert_int_equal((uintptr_t)p % 16, 0);
  memset(p, 0, bytes + API_SPARE);
  return p;
}

static size_t kernel_by_name(const char *name) {
  size_t i;
  for (i = 0; i < fa_kernel_count(); ++i) {
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    if (fa_kernel_info_get(i, &info) == FA_OK && strcmp(info.name, name) == 0)
      return i;
  }
  fail_msg("kernel %s not in the table", name);
  return 0;
}

static void poison_outputs(api_fixture *fx) {
  memset(fx->out, 0xFF, fx->out_bytes);
  memset(fx->lse, 0xFF, fx->lse_bytes);
}

static int outputs_untouched(const api_fixture *fx) {
  const unsigned char *o = (const unsigned char *)fx->out;
  const unsigned char *l = (const unsigned char *)fx->lse;
  size_t i;
  for (i = 0; i < fx->out_bytes; ++i)
    if (o[i] != 0xFF)
      return 0;
  for (i = 0; i < fx->lse_bytes; ++i)
    if (l[i] != 0xFF)
      return 0;
  return 1;
}

static int setup(void **state) {
  api_fixture *fx = (api_fixture *)calloc(1, sizeof *fx);
  const size_t nq = (size_t)API_TOTAL_Q * API_HQ * API_D;
  const size_t nk = (size_t)API_TOTAL_K * API_HK * API_D;
  tu_rng rng = tu_rng_make(12345);
  int h;
  if (fx == NULL)
    return -1;
  tu_pool_init(&fx->pool);
  fx->q = (uint16_t *)alloc16(&fx->pool, nq * 2);
  fx->k = (uint16_t *)alloc16(&fx->pool, nk * 2);
  fx->v = (uint16_t *)alloc16(&fx->pool, nk * 2);
  fx->out = (uint16_t *)alloc16(&fx->pool, nq * 2);
  fx->out_bytes = nq * 2;
  fx->lse = (float *)alloc16(&fx->pool, (size_t)API_HQ * API_TOTAL_Q * sizeof(float));
  fx->lse_bytes = (size_t)API_HQ * API_TOTAL_Q * sizeof(float);
  fx->sinks = (float *)alloc16(&fx->pool, API_HQ * sizeof(float));
  fx->cu_q = (int32_t *)alloc16(&fx->pool, (API_BATCH + 1) * sizeof(int32_t));
  fx->cu_k = (int32_t *)alloc16(&fx->pool, (API_BATCH + 1) * sizeof(int32_t));
  fx->seqused = (int32_t *)alloc16(&fx->pool, API_BATCH * sizeof(int32_t));
  tu_fill_random(fx->q, nq, FA_DTYPE_BF16, 1.0, &rng);
  tu_fill_random(fx->k, nk, FA_DTYPE_BF16, 1.0, &rng);
  tu_fill_random(fx->v, nk, FA_DTYPE_BF16, 1.0, &rng);
  for (h = 0; h < API_HQ; ++h)
    fx->sinks[h] = 0.5f * (float)h;
  fx->kernel_none = kernel_by_name("fwd_cpu_hdim64_bf16_none");
  fx->kernel_causal = kernel_by_name("fwd_cpu_hdim64_bf16_causal");
  tu_cuda_device(&fx->device);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  tu_pool_release(&fx->pool);
  free(fx);
  return 0;
}

/* Fresh, valid varlen parameters (CPU backend). Resets the sequence tables. */
static fa_fwd_params varlen_params(api_fixture *fx) {
  fa_fwd_params p = fa_fwd_params_default();
  fx->cu_q[0] = 0, fx->cu_q[1] = 3, fx->cu_q[2] = 8;
  fx->cu_k[0] = 0, fx->cu_k[1] = 4, fx->cu_k[2] = 10;
  fx->seqused[0] = 4, fx->seqused[1] = 5;
  p.backend = FA_BACKEND_CPU;
  p.dtype = FA_DTYPE_BF16;
  p.batch = API_BATCH;
  p.num_heads_q = API_HQ;
  p.num_heads_k = API_HK;
  p.head_dim = API_D;
  p.cu_seqlens_q = fx->cu_q;
  p.cu_seqlens_k = fx->cu_k;
  p.total_q = API_TOTAL_Q;
  p.total_k = API_TOTAL_K;
  p.max_seqlen_q = 5;
  p.max_seqlen_k = 6;
  p.q = fx->q;
  p.k = fx->k;
  p.v = fx->v;
  p.out = fx->out;
  p.lse = fx->lse;
  poison_outputs(fx);
  return p;
}

static fa_fwd_params dense_params(api_fixture *fx) {
  fa_fwd_params p = varlen_params(fx);
  p.cu_seqlens_q = p.cu_seqlens_k = NULL;
  p.total_q = p.total_k = 0;
  p.max_seqlen_q = API_DENSE_LQ;
  p.max_seqlen_k = API_DENSE_LK;
  return p;
}

/* ------------------------------------------------------------ expectations */

/* Whether `field` appears in text as a whole identifier (so "q" does not
 * match inside "seqused_k"). */
static int names_word(const char *text, const char *field) {
  const size_t n = strlen(field);
  const char *at = text;
  while ((at = strstr(at, field)) != NULL) {
    const int before = at == text ? 0 : (at[-1] == '_' || isalnum((unsigned char)at[-1]));
    const int after = at[n] == '_' || isalnum((unsigned char)at[n]);
    if (!before && !after)
      return 1;
    at += 1;
  }
  return 0;
}

/* fields: "a|b|c", any one of which must be named. */
static int names_any(const char *text, const char *fields) {
  char buf[256];
  char *tok, *save = NULL;
  snprintf(buf, sizeof buf, "%s", fields);
  for (tok = buf; tok != NULL; tok = save) {
    save = strchr(tok, '|');
    if (save)
      *save++ = '\0';
    if (names_word(text, tok))
      return 1;
  }
  return 0;
}

static void check_status(const char *call, const char *what, fa_status got, fa_status want,
                         const fa_message *msg, const char *fields, const api_fixture *fx) {
  if (got != want)
    fail_msg("%s: %s: got %s, expected %s (message: \"%s\")", what, call, fa_status_string(got),
             fa_status_string(want), msg->text);
  if (want == FA_OK) {
    if (msg->text[0] != '\0')
      fail_msg("%s: %s succeeded but left message \"%s\"", what, call, msg->text);
    return;
  }
  if (msg->text[0] == '\0')
    fail_msg("%s: %s returned %s with an empty message", what, call, fa_status_string(got));
  if (fields != NULL && !names_any(msg->text, fields))
    fail_msg("%s: %s: message \"%s\" does not name %s", what, call, msg->text, fields);
  if (!outputs_untouched(fx))
    fail_msg("%s: %s failed with %s but wrote to out or lse", what, call, fa_status_string(got));
}

/* For calls made with a NULL message: status and untouched outputs. */
static void check_status_only(const char *call, const char *what, fa_status got, fa_status want,
                              const api_fixture *fx) {
  if (got != want)
    fail_msg("%s: %s: got %s, expected %s", what, call, fa_status_string(got),
             fa_status_string(want));
  if (want != FA_OK && !outputs_untouched(fx))
    fail_msg("%s: %s failed with %s but wrote to out or lse", what, call, fa_status_string(got));
}

/* The call must fail with `want` through fa_fwd and fa_fwd_query (and, if
 * kernel != SIZE_MAX, fa_fwd_with_kernel), naming one of `fields`; a NULL
 * message must be accepted too. */
static void expect_kernel(api_fixture *fx, const fa_fwd_params *p, fa_status want,
                          const char *fields, const char *what, size_t kernel) {
  fa_message msg;
  size_t index = 12345;
  memset(msg.text, 'x', sizeof msg.text); /* must be rewritten */
  msg.text[sizeof msg.text - 1] = '\0';
  check_status("fa_fwd_query", what, fa_fwd_query(p, &index, &msg), want, &msg, fields, fx);
  if (want != FA_OK)
    assert_int_equal(index, 12345); /* not written on failure */
  check_status_only("fa_fwd_query(NULL message)", what, fa_fwd_query(p, NULL, NULL), want, fx);
  if (kernel != SIZE_MAX) {
    memset(msg.text, 'x', sizeof msg.text - 1);
    check_status("fa_fwd_with_kernel", what, fa_fwd_with_kernel(p, kernel, &msg), want, &msg,
                 fields, fx);
  }
  memset(msg.text, 'x', sizeof msg.text - 1);
  check_status("fa_fwd", what, fa_fwd(p, &msg), want, &msg, fields, fx);
  if (want != FA_OK)
    check_status_only("fa_fwd(NULL message)", what, fa_fwd(p, NULL), want, fx);
}

/* Validation failures: fa_fwd_with_kernel (baseline kernel) must agree. */
static void expect(api_fixture *fx, const fa_fwd_params *p, fa_status want, const char *fields,
                   const char *what) {
  expect_kernel(fx, p, want, fields, what, fx->kernel_none);
}

/* ------------------------------------------------------------ positive controls */

static void test_valid_calls(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p = varlen_params(fx);
  size_t index = 0;
  expect(fx, &p, FA_OK, NULL, "valid varlen call");
  assert_false(outputs_untouched(fx)); /* it did compute */
  p = varlen_params(fx);
  assert_int_equal(fa_fwd_query(&p, &index, NULL), FA_OK);
  assert_int_equal(index, fx->kernel_none);
  assert_true(outputs_untouched(fx)); /* a query writes nothing */
  p.window_right = 0;
  assert_int_equal(fa_fwd_query(&p, &index, NULL), FA_OK);
  assert_int_equal(index, fx->kernel_causal);

  p = dense_params(fx);
  expect(fx, &p, FA_OK, NULL, "valid dense call");
  p = varlen_params(fx);
  p.scale = -0.25f;
  p.softcap = 30.f;
  p.sinks = fx->sinks;
  p.seqused_k = fx->seqused;
  expect(fx, &p, FA_OK, NULL, "negative scale, softcap, sinks, seqused_k");
  p = varlen_params(fx);
  p.lse = NULL;
  expect(fx, &p, FA_OK, NULL, "no lse");
}

/* ------------------------------------------------------------ invalid arguments */

static void test_null_pointers(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p;
  fa_message msg;
  poison_outputs(fx);
  check_status("fa_fwd", "params NULL", fa_fwd(NULL, &msg), FA_ERR_NULL_POINTER, &msg, "params", fx);
  check_status("fa_fwd_query", "params NULL", fa_fwd_query(NULL, NULL, &msg), FA_ERR_NULL_POINTER,
               &msg, "params", fx);
  check_status("fa_fwd_with_kernel", "params NULL", fa_fwd_with_kernel(NULL, fx->kernel_none, &msg),
               FA_ERR_NULL_POINTER, &msg, "params", fx);

  p = varlen_params(fx), p.q = NULL;
  expect(fx, &p, FA_ERR_NULL_POINTER, "q", "q NULL");
  p = varlen_params(fx), p.k = NULL;
  expect(fx, &p, FA_ERR_NULL_POINTER, "k", "k NULL");
  p = varlen_params(fx), p.v = NULL;
  expect(fx, &p, FA_ERR_NULL_POINTER, "v", "v NULL");
  p = varlen_params(fx), p.cu_seqlens_q = NULL;
  expect(fx, &p, FA_ERR_NULL_POINTER, "cu_seqlens_q", "cu_seqlens_q NULL, cu_seqlens_k set");
  p = varlen_params(fx), p.cu_seqlens_k = NULL;
  expect(fx, &p, FA_ERR_NULL_POINTER, "cu_seqlens_k", "cu_seqlens_k NULL, cu_seqlens_q set");
  p = varlen_params(fx), p.out = NULL;
  expect(fx, &p, FA_ERR_NULL_POINTER, "out", "out NULL");
}

static void test_bad_shapes(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p;
  p = varlen_params(fx), p.batch = 0;
  expect(fx, &p, FA_ERR_INVALID_SHAPE, "batch", "batch 0");
  p = varlen_params(fx), p.batch = -3;
  expect(fx, &p, FA_ERR_INVALID_SHAPE, "batch", "batch -3");
  p = varlen_params(fx), p.num_heads_q = 0;
  expect(fx, &p, FA_ERR_INVALID_SHAPE, "num_heads_q", "num_heads_q 0");
  p = varlen_params(fx), p.num_heads_k = 0;
  expect(fx, &p, FA_ERR_INVALID_SHAPE, "num_heads_k", "num_heads_k 0");
  p = varlen_params(fx), p.num_heads_q = -4;
  expect(fx, &p, FA_ERR_INVALID_SHAPE, "num_heads_q", "num_heads_q -4");
  p = varlen_params(fx), p.total_q = -1;
  expect(fx, &p, FA_ERR_INVALID_SHAPE, "total_q", "total_q -1");
  p = varlen_params(fx), p.total_k = -1;
  expect(fx, &p, FA_ERR_INVALID_SHAPE, "total_k", "total_k -1");
  p = varlen_params(fx), p.max_seqlen_q = -1;
  expect(fx, &p, FA_ERR_INVALID_SHAPE, "max_seqlen_q", "max_seqlen_q -1");
  p = varlen_params(fx), p.max_seqlen_k = -1;
  expect(fx, &p, FA_ERR_INVALID_SHAPE, "max_seqlen_k", "max_seqlen_k -1");
  p = dense_params(fx), p.max_seqlen_q = -2;
  expect(fx, &p, FA_ERR_INVALID_SHAPE, "max_seqlen_q", "dense seqlen_q -2");
  p = dense_params(fx), p.max_seqlen_k = -2;
  expect(fx, &p, FA_ERR_INVALID_SHAPE, "max_seqlen_k", "dense seqlen_k -2");
}

static void test_heads_not_divisible(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p = varlen_params(fx);
  p.num_heads_k = 3;
  expect(fx, &p, FA_ERR_HEADS_NOT_DIVISIBLE, "num_heads_q|num_heads_k", "heads 4 / 3");
  p = varlen_params(fx);
  p.num_heads_q = 2, p.num_heads_k = 4;
  expect(fx, &p, FA_ERR_HEADS_NOT_DIVISIBLE, "num_heads_q|num_heads_k", "heads 2 / 4");
}

static int head_dim_generated(int32_t head_dim) {
  size_t i;
  for (i = 0; i < fa_kernel_count(); ++i) {
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    if (fa_kernel_info_get(i, &info) == FA_OK && info.head_dim == head_dim)
      return 1;
  }
  return 0;
}

static void test_unsupported_head_dim(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  /* 72 (SigLIP) unless the spec generates it; the first multiple of 8 that
   * is not generated; and values that can never be. */
  int32_t dims[5] = {72, 8, 1000, 0, -64};
  fa_message msg;
  size_t i;
  while (head_dim_generated(dims[1]))
    dims[1] += 8;
  for (i = 0; i < sizeof dims / sizeof dims[0]; ++i) {
    char what[64];
    fa_fwd_params p = varlen_params(fx);
    if (head_dim_generated(dims[i]))
      continue;
    p.head_dim = dims[i];
    snprintf(what, sizeof what, "head_dim %d", dims[i]);
    /* fa_fwd_with_kernel would answer "kernel does not match" instead. */
    expect_kernel(fx, &p, FA_ERR_UNSUPPORTED_HEAD_DIM, "head_dim", what, SIZE_MAX);
    /* The message says what is available. */
    assert_int_equal(fa_fwd(&p, &msg), FA_ERR_UNSUPPORTED_HEAD_DIM);
    {
      fa_kernel_info first = FA_KERNEL_INFO_INIT;
      char dim[16];
      assert_int_equal(fa_kernel_info_get(0, &first), FA_OK);
      snprintf(dim, sizeof dim, "%d", first.head_dim);
      if (!names_word(msg.text, dim))
        fail_msg("%s: message \"%s\" does not list the generated head dims (%s)", what,
                 msg.text, dim);
    }
  }
}

static void test_bad_dtype_and_backend(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  const int bad[] = {0, 3, -1, 255};
  size_t i;
  for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    fa_fwd_params p = varlen_params(fx);
    p.dtype = (fa_dtype)bad[i];
    expect(fx, &p, FA_ERR_UNSUPPORTED_DTYPE, "dtype", "bad dtype");
    p = varlen_params(fx);
    p.backend = (fa_backend)bad[i];
    expect(fx, &p, FA_ERR_INVALID_BACKEND, "backend", "bad backend");
  }
}

static void test_bad_window(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p = varlen_params(fx);
  p.window_left = -2;
  expect(fx, &p, FA_ERR_INVALID_WINDOW, "window_left", "window_left -2");
  p = varlen_params(fx);
  p.window_right = -2;
  expect(fx, &p, FA_ERR_INVALID_WINDOW, "window_right", "window_right -2");
  p = varlen_params(fx);
  p.window_left = INT32_MIN, p.window_right = 0;
  expect(fx, &p, FA_ERR_INVALID_WINDOW, "window_left", "window_left INT32_MIN");
}

static void test_misaligned_pointers(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p;
  /* 16 bytes for q, k, v, out: 2 bytes off (one element) and 8 bytes off. */
  p = varlen_params(fx), p.q = (const char *)fx->q + 2;
  expect(fx, &p, FA_ERR_MISALIGNED, "q", "q + 2 bytes");
  p = varlen_params(fx), p.q = (const char *)fx->q + 8;
  expect(fx, &p, FA_ERR_MISALIGNED, "q", "q + 8 bytes");
  p = varlen_params(fx), p.k = (const char *)fx->k + 2;
  expect(fx, &p, FA_ERR_MISALIGNED, "k", "k + 2 bytes");
  p = varlen_params(fx), p.v = (const char *)fx->v + 2;
  expect(fx, &p, FA_ERR_MISALIGNED, "v", "v + 2 bytes");
  p = varlen_params(fx), p.out = (char *)fx->out + 2;
  expect(fx, &p, FA_ERR_MISALIGNED, "out", "out + 2 bytes");
  /* 4 bytes for lse, sinks, cu_seqlens, seqused_k. */
  p = varlen_params(fx), p.lse = (float *)(void *)((char *)fx->lse + 2);
  expect(fx, &p, FA_ERR_MISALIGNED, "lse", "lse + 2 bytes");
  p = varlen_params(fx), p.sinks = (const float *)(const void *)((const char *)fx->sinks + 2);
  expect(fx, &p, FA_ERR_MISALIGNED, "sinks", "sinks + 2 bytes");
  p = varlen_params(fx), p.cu_seqlens_q = (const int32_t *)(const void *)((const char *)fx->cu_q + 2);
  expect(fx, &p, FA_ERR_MISALIGNED, "cu_seqlens_q", "cu_seqlens_q + 2 bytes");
  p = varlen_params(fx), p.cu_seqlens_k = (const int32_t *)(const void *)((const char *)fx->cu_k + 2);
  expect(fx, &p, FA_ERR_MISALIGNED, "cu_seqlens_k", "cu_seqlens_k + 2 bytes");
  p = varlen_params(fx), p.seqused_k = (const int32_t *)(const void *)((const char *)fx->seqused + 2);
  expect(fx, &p, FA_ERR_MISALIGNED, "seqused_k", "seqused_k + 2 bytes");
}

/* The 12 stride fields, by offset, with their packed values. */
typedef struct stride_field {
  const char *name;
  size_t offset;
  int64_t packed_varlen; /* a valid value in the varlen baseline (0 for batch) */
  int64_t packed_dense;  /* a valid value in the dense baseline */
} stride_field;

#define SF(t, kind, hv, hd) {#t "_" #kind "_stride", offsetof(fa_fwd_params, t##_##kind##_stride), hv, hd}
static const stride_field k_strides[] = {
    SF(q, batch, 0, API_DENSE_LQ * API_HQ * API_D),
    SF(q, row, API_HQ * API_D, API_HQ * API_D),
    SF(q, head, API_D, API_D),
    SF(k, batch, 0, API_DENSE_LK * API_HK * API_D),
    SF(k, row, API_HK * API_D, API_HK * API_D),
    SF(k, head, API_D, API_D),
    SF(v, batch, 0, API_DENSE_LK * API_HK * API_D),
    SF(v, row, API_HK * API_D, API_HK * API_D),
    SF(v, head, API_D, API_D),
    SF(out, batch, 0, API_DENSE_LQ * API_HQ * API_D),
    SF(out, row, API_HQ * API_D, API_HQ * API_D),
    SF(out, head, API_D, API_D),
};
#undef SF

static void set_stride(fa_fwd_params *p, const stride_field *f, int64_t value) {
  memcpy((char *)p + f->offset, &value, sizeof value);
}

static void test_bad_strides(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  size_t i;
  for (i = 0; i < sizeof k_strides / sizeof k_strides[0]; ++i) {
    const stride_field *f = &k_strides[i];
    char what[96];
    fa_fwd_params p = dense_params(fx);
    /* The explicit packed value is valid (control), +4 and -8 are not. */
    set_stride(&p, f, f->packed_dense);
    snprintf(what, sizeof what, "dense %s = packed", f->name);
    expect(fx, &p, FA_OK, NULL, what);
    p = dense_params(fx);
    set_stride(&p, f, f->packed_dense + 4);
    snprintf(what, sizeof what, "dense %s not a multiple of 8", f->name);
    expect(fx, &p, FA_ERR_INVALID_STRIDE, f->name, what);
    p = dense_params(fx);
    set_stride(&p, f, -8);
    snprintf(what, sizeof what, "dense %s negative", f->name);
    expect(fx, &p, FA_ERR_INVALID_STRIDE, f->name, what);
    p = varlen_params(fx);
    if (f->packed_varlen != 0) {
      set_stride(&p, f, f->packed_varlen + 4);
      snprintf(what, sizeof what, "varlen %s not a multiple of 8", f->name);
      expect(fx, &p, FA_ERR_INVALID_STRIDE, f->name, what);
    } else {
      /* varlen has no batch dimension: a batch stride is a mistake. */
      set_stride(&p, f, 64);
      snprintf(what, sizeof what, "varlen with %s set", f->name);
      expect(fx, &p, FA_ERR_INVALID_STRIDE, f->name, what);
    }
  }
}

static void test_bad_scale_and_softcap(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  const float bad_scale[] = {NAN, INFINITY, -INFINITY};
  const float bad_softcap[] = {-1.f, -1e-30f, NAN, INFINITY, -INFINITY};
  size_t i;
  for (i = 0; i < sizeof bad_scale / sizeof bad_scale[0]; ++i) {
    fa_fwd_params p = varlen_params(fx);
    p.scale = bad_scale[i];
    expect(fx, &p, FA_ERR_INVALID_SCALE, "scale", "scale not finite");
  }
  for (i = 0; i < sizeof bad_softcap / sizeof bad_softcap[0]; ++i) {
    fa_fwd_params p = varlen_params(fx);
    p.softcap = bad_softcap[i];
    expect(fx, &p, FA_ERR_INVALID_SOFTCAP, "softcap", "softcap negative or not finite");
  }
}

/* launch_flags: FA_LAUNCH_NO_PDL computes the same call (on the CPU a
 * no-op); a bit the library does not know is rejected, nothing written. */
static void test_launch_flags(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p = varlen_params(fx);
  p.launch_flags = FA_LAUNCH_NO_PDL;
  expect(fx, &p, FA_OK, NULL, "launch_flags FA_LAUNCH_NO_PDL");
  const uint32_t bad[] = {2u, 0x80000000u, FA_LAUNCH_NO_PDL | 4u};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    p = varlen_params(fx);
    p.launch_flags = bad[i];
    expect(fx, &p, FA_ERR_UNSUPPORTED, "launch_flags", "launch_flags with an unknown bit");
  }
}

static void test_overflow(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p;
  /* Offsets that do not fit int64 (or the documented bound): strides,
   * batch strides, totals. */
  p = varlen_params(fx), p.q_row_stride = INT64_MAX & ~(int64_t)7;
  expect(fx, &p, FA_ERR_OVERFLOW, "q_row_stride|q", "q_row_stride near INT64_MAX");
  p = varlen_params(fx), p.k_head_stride = (int64_t)1 << 62;
  expect(fx, &p, FA_ERR_OVERFLOW, "k_head_stride|k", "k_head_stride 2^62");
  p = dense_params(fx), p.v_batch_stride = (int64_t)1 << 61;
  expect(fx, &p, FA_ERR_OVERFLOW, "v_batch_stride|v", "v_batch_stride 2^61");
  p = varlen_params(fx), p.out_row_stride = ((int64_t)1 << 58) + 8;
  p.total_q = (int64_t)1 << 6; /* 64 rows of 2^58 elements: past 2^63 / 2 */
  expect(fx, &p, FA_ERR_OVERFLOW, "out_row_stride|out|total_q", "out rows * stride > 2^63");
  p = varlen_params(fx), p.total_k = INT64_MAX;
  expect(fx, &p, FA_ERR_OVERFLOW, "total_k|k", "total_k INT64_MAX");
  p = varlen_params(fx), p.total_q = INT64_MAX / 2;
  expect(fx, &p, FA_ERR_OVERFLOW, "total_q|q|lse", "total_q INT64_MAX / 2");
}

/* A launch grid over 2^31 blocks: only the CUDA backend has one. */
static void test_grid_overflow(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p = dense_params(fx);
  tu_pool pool;
  const char *why = NULL;
  p.backend = FA_BACKEND_CUDA;
  p.batch = 1 << 20;
  p.num_heads_q = p.num_heads_k = 1 << 10;
  p.max_seqlen_q = p.max_seqlen_k = 1024; /* >= 2^31 blocks for any block_m <= 512 */
  p.lse = NULL;
  if (!fx->device.present) {
    expect_kernel(fx, &p, FA_ERR_NO_DEVICE, NULL, "grid overflow without a device", SIZE_MAX);
    print_message("no CUDA device (%s): checked FA_ERR_NO_DEVICE only\n", fx->device.reason);
    return;
  }
  tu_pool_init(&pool);
  /* Validation looks at the base pointers only: small device buffers do. */
  p.q = tu_pool_device(&pool, 4096, &why);
  p.k = tu_pool_device(&pool, 4096, &why);
  p.v = tu_pool_device(&pool, 4096, &why);
  p.out = tu_pool_device(&pool, 4096, &why);
  if (!p.q || !p.k || !p.v || !p.out) {
    tu_pool_release(&pool);
    fail_msg("cudaMalloc: %s", why);
  }
  {
    fa_message msg;
    const fa_status st = fa_fwd(&p, &msg);
    tu_pool_release(&pool);
    if (st == FA_ERR_UNSUPPORTED_DEVICE)
      return; /* no kernel for this GPU: the grid is never computed */
    if (st != FA_ERR_OVERFLOW || !names_any(msg.text, "batch|num_heads_q|max_seqlen_q"))
      fail_msg("grid over 2^31 blocks: got %s (\"%s\"), expected FA_ERR_OVERFLOW naming the "
               "batch, heads or seqlen", fa_status_string(st), msg.text);
  }
}

static void test_invalid_cu_seqlens(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p;
  p = varlen_params(fx), fx->cu_q[0] = 1;
  expect(fx, &p, FA_ERR_INVALID_SEQLENS, "cu_seqlens_q", "cu_seqlens_q[0] = 1");
  p = varlen_params(fx), fx->cu_q[1] = 9; /* 0, 9, 8: decreasing */
  p.max_seqlen_q = 9;
  expect(fx, &p, FA_ERR_INVALID_SEQLENS, "cu_seqlens_q", "cu_seqlens_q decreasing");
  p = varlen_params(fx), fx->cu_q[2] = API_TOTAL_Q + 1;
  p.max_seqlen_q = 100;
  expect(fx, &p, FA_ERR_INVALID_SEQLENS, "cu_seqlens_q|total_q", "cu_seqlens_q beyond total_q");
  p = varlen_params(fx), p.max_seqlen_q = 4; /* sequence 1 has 5 rows */
  expect(fx, &p, FA_ERR_INVALID_SEQLENS, "cu_seqlens_q|max_seqlen_q",
         "sequence longer than max_seqlen_q");
  p = varlen_params(fx), fx->cu_k[0] = -1;
  expect(fx, &p, FA_ERR_INVALID_SEQLENS, "cu_seqlens_k", "cu_seqlens_k[0] = -1");
  p = varlen_params(fx), fx->cu_k[1] = 11; /* 0, 11, 10 */
  p.max_seqlen_k = 11;
  expect(fx, &p, FA_ERR_INVALID_SEQLENS, "cu_seqlens_k", "cu_seqlens_k decreasing");
  p = varlen_params(fx), fx->cu_k[2] = API_TOTAL_K + 1;
  p.max_seqlen_k = 100;
  expect(fx, &p, FA_ERR_INVALID_SEQLENS, "cu_seqlens_k|total_k", "cu_seqlens_k beyond total_k");
  p = varlen_params(fx), p.max_seqlen_k = 5; /* sequence 1 has 6 keys */
  expect(fx, &p, FA_ERR_INVALID_SEQLENS, "cu_seqlens_k|max_seqlen_k",
         "sequence longer than max_seqlen_k");
}

static void test_invalid_seqused_k(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p;
  p = varlen_params(fx), p.seqused_k = fx->seqused, fx->seqused[0] = 5; /* > 4 keys */
  expect(fx, &p, FA_ERR_INVALID_SEQLENS, "seqused_k", "seqused_k beyond the sequence");
  p = varlen_params(fx), p.seqused_k = fx->seqused, fx->seqused[1] = -1;
  expect(fx, &p, FA_ERR_INVALID_SEQLENS, "seqused_k", "seqused_k negative");
  p = dense_params(fx), p.seqused_k = fx->seqused, fx->seqused[1] = API_DENSE_LK + 1;
  expect(fx, &p, FA_ERR_INVALID_SEQLENS, "seqused_k", "dense seqused_k beyond seqlen_k");
  p = dense_params(fx), p.seqused_k = fx->seqused, fx->seqused[0] = 0;
  expect(fx, &p, FA_OK, NULL, "dense seqused_k 0 (valid)");
}

static size_t first_kernel_where(fa_backend backend, int head_dim, fa_dtype dtype, fa_mask mask) {
  size_t i;
  for (i = 0; i < fa_kernel_count(); ++i) {
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    assert_int_equal(fa_kernel_info_get(i, &info), FA_OK);
    if (info.backend == backend && info.head_dim == head_dim && info.dtype == dtype &&
        info.mask == mask)
      return i;
  }
  return SIZE_MAX;
}

static void test_bad_kernel_choice(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p = varlen_params(fx);
  fa_message msg;
  size_t k;

  poison_outputs(fx);
  check_status("fa_fwd_with_kernel", "index = count",
               fa_fwd_with_kernel(&p, fa_kernel_count(), &msg), FA_ERR_NO_KERNEL, &msg,
               "kernel_index|index", fx);
  check_status("fa_fwd_with_kernel", "index = SIZE_MAX", fa_fwd_with_kernel(&p, SIZE_MAX, &msg),
               FA_ERR_NO_KERNEL, &msg, "kernel_index|index", fx);

  /* Kernels that do not match the call. */
  k = first_kernel_where(FA_BACKEND_CPU, 32, FA_DTYPE_BF16, FA_MASK_NONE);
  assert_true(k != SIZE_MAX);
  check_status("fa_fwd_with_kernel", "kernel of another head_dim", fa_fwd_with_kernel(&p, k, &msg),
               FA_ERR_NO_KERNEL, &msg, "head_dim", fx);
  k = first_kernel_where(FA_BACKEND_CPU, API_D, FA_DTYPE_FP16, FA_MASK_NONE);
  assert_true(k != SIZE_MAX);
  p = varlen_params(fx);
  check_status("fa_fwd_with_kernel", "kernel of another dtype", fa_fwd_with_kernel(&p, k, &msg),
               FA_ERR_NO_KERNEL, &msg, NULL, fx);
  /* A causal kernel cannot compute no mask; a no-mask kernel not causal. */
  check_status("fa_fwd_with_kernel", "causal kernel, window (-1, -1)",
               fa_fwd_with_kernel(&p, fx->kernel_causal, &msg), FA_ERR_NO_KERNEL, &msg, NULL, fx);
  p.window_right = 0;
  check_status("fa_fwd_with_kernel", "no-mask kernel, window (-1, 0)",
               fa_fwd_with_kernel(&p, fx->kernel_none, &msg), FA_ERR_NO_KERNEL, &msg, NULL, fx);
  /* A CUDA kernel for a CPU call. */
  k = first_kernel_where(FA_BACKEND_CUDA, API_D, FA_DTYPE_BF16, FA_MASK_NONE);
  if (k != SIZE_MAX) {
    p = varlen_params(fx);
    check_status("fa_fwd_with_kernel", "CUDA kernel for a CPU call",
                 fa_fwd_with_kernel(&p, k, &msg), FA_ERR_NO_KERNEL, &msg, NULL, fx);
  }
  /* Controls: the matching kernel runs; a local kernel runs any window. */
  p = varlen_params(fx);
  check_status("fa_fwd_with_kernel", "matching kernel", fa_fwd_with_kernel(&p, fx->kernel_none, &msg),
               FA_OK, &msg, NULL, fx);
  k = first_kernel_where(FA_BACKEND_CPU, API_D, FA_DTYPE_BF16, FA_MASK_LOCAL);
  assert_true(k != SIZE_MAX);
  p = varlen_params(fx);
  check_status("fa_fwd_with_kernel", "local kernel, window (-1, -1)", fa_fwd_with_kernel(&p, k, &msg),
               FA_OK, &msg, NULL, fx);

  /* Its workspace query: the same checks, 0 bytes for a CPU kernel, bytes
   * untouched on failure. */
  size_t bytes = 12345;
  p = varlen_params(fx);
  assert_int_equal(fa_fwd_workspace_size_with_kernel(&p, SIZE_MAX, &bytes, &msg), FA_ERR_NO_KERNEL);
  assert_non_null(strstr(msg.text, "kernel_index"));
  assert_int_equal(fa_fwd_workspace_size_with_kernel(&p, fx->kernel_causal, &bytes, &msg), FA_ERR_NO_KERNEL);
  assert_int_equal(fa_fwd_workspace_size_with_kernel(&p, fx->kernel_none, NULL, &msg), FA_ERR_NULL_POINTER);
  assert_int_equal(bytes, 12345);
  assert_int_equal(fa_fwd_workspace_size_with_kernel(&p, fx->kernel_none, &bytes, &msg), FA_OK);
  assert_int_equal(bytes, 0);
}

/* Host pointers on the CUDA backend: FA_ERR_INVALID_POINTER with a
 * device, FA_ERR_NO_DEVICE without one. Either way nothing is written. */
static void test_cuda_backend_host_pointers(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p = varlen_params(fx);
  p.backend = FA_BACKEND_CUDA;
  if (fx->device.present)
    expect_kernel(fx, &p, FA_ERR_INVALID_POINTER, "q|k|v|out|lse|cu_seqlens_q|cu_seqlens_k",
                  "host pointers on the CUDA backend", SIZE_MAX);
  else
    expect_kernel(fx, &p, FA_ERR_NO_DEVICE, NULL, "CUDA backend without a device", SIZE_MAX);
}

/* ------------------------------------------------------------ API surface */

static void test_status_strings(void **state) {
  static const char *const names[] = {
      "FA_OK", "FA_ERR_NULL_POINTER", "FA_ERR_INVALID_SHAPE", "FA_ERR_HEADS_NOT_DIVISIBLE",
      "FA_ERR_INVALID_STRIDE", "FA_ERR_MISALIGNED", "FA_ERR_INVALID_WINDOW",
      "FA_ERR_INVALID_SCALE", "FA_ERR_INVALID_SOFTCAP", "FA_ERR_INVALID_SEQLENS",
      "FA_ERR_OVERFLOW", "FA_ERR_UNSUPPORTED_HEAD_DIM", "FA_ERR_UNSUPPORTED_DTYPE",
      "FA_ERR_UNSUPPORTED_DEVICE", "FA_ERR_NO_KERNEL", "FA_ERR_INVALID_BACKEND",
      "FA_ERR_NO_DEVICE", "FA_ERR_INVALID_POINTER", "FA_ERR_CUDA", "FA_ERR_STRUCT_SIZE",
      "FA_ERR_INVALID_CONTEXT", "FA_ERR_WORKSPACE", "FA_ERR_UNSUPPORTED"};
  int s;
  (void)state;
  assert_int_equal(FA_ERR_UNSUPPORTED + 1, sizeof names / sizeof names[0]);
  for (s = 0; s <= FA_ERR_UNSUPPORTED; ++s)
    assert_string_equal(fa_status_string((fa_status)s), names[s]);
  /* Out-of-range values still get a string. */
  assert_non_null(fa_status_string((fa_status)99));
  assert_true(fa_status_string((fa_status)99)[0] != '\0');
  assert_non_null(fa_status_string((fa_status)-1));
}

static void test_params_default(void **state) {
  const fa_fwd_params p = fa_fwd_params_default();
  (void)state;
  assert_int_equal(p.struct_size, sizeof(fa_fwd_params));
  assert_null(p.context);
  assert_null(p.workspace);
  assert_int_equal(p.workspace_bytes, 0);
  assert_int_equal(fa_unpad_info_params_default().struct_size, sizeof(fa_unpad_info_params));
  assert_int_equal(fa_unpad_info_params_default().mask_dtype, FA_INT_BOOL);
  assert_int_equal(fa_rows_params_default().struct_size, sizeof(fa_rows_params));
  assert_int_equal(fa_rows_params_default().dtype, FA_DTYPE_BF16);
  assert_int_equal(fa_position_ids_params_default().struct_size, sizeof(fa_position_ids_params));
  assert_int_equal(fa_position_ids_params_default().dtype, FA_INT64);
  assert_int_equal(p.backend, FA_BACKEND_CUDA);
  assert_int_equal(p.dtype, FA_DTYPE_BF16);
  assert_int_equal(p.window_left, -1);
  assert_int_equal(p.window_right, -1);
  assert_true(p.scale == 0.f);
  assert_true(p.softcap == 0.f);
  assert_int_equal(p.batch, 0);
  assert_int_equal(p.num_heads_q, 0);
  assert_int_equal(p.num_heads_k, 0);
  assert_int_equal(p.head_dim, 0);
  assert_null(p.cu_seqlens_q);
  assert_null(p.cu_seqlens_k);
  assert_null(p.seqused_k);
  assert_null(p.q);
  assert_null(p.k);
  assert_null(p.v);
  assert_null(p.out);
  assert_null(p.sinks);
  assert_null(p.lse);
  assert_null(p.stream);
  assert_int_equal(p.total_q, 0);
  assert_int_equal(p.total_k, 0);
  assert_int_equal(p.max_seqlen_q, 0);
  assert_int_equal(p.max_seqlen_k, 0);
  assert_int_equal(p.q_batch_stride | p.q_row_stride | p.q_head_stride, 0);
  assert_int_equal(p.k_batch_stride | p.k_row_stride | p.k_head_stride, 0);
  assert_int_equal(p.v_batch_stride | p.v_row_stride | p.v_head_stride, 0);
  assert_int_equal(p.out_batch_stride | p.out_row_stride | p.out_head_stride, 0);
  assert_int_equal(p.launch_flags, 0u); /* programmatic launches where the kernels allow them */
}

static void test_mask_from_window(void **state) {
  (void)state;
  assert_int_equal(fa_mask_from_window(-1, -1), FA_MASK_NONE);
  assert_int_equal(fa_mask_from_window(-1, 0), FA_MASK_CAUSAL);
  assert_int_equal(fa_mask_from_window(0, 0), FA_MASK_LOCAL);
  assert_int_equal(fa_mask_from_window(5, 0), FA_MASK_LOCAL);
  assert_int_equal(fa_mask_from_window(-1, 9), FA_MASK_LOCAL);
  assert_int_equal(fa_mask_from_window(12, -1), FA_MASK_LOCAL);
  assert_int_equal(fa_mask_from_window(0, -1), FA_MASK_LOCAL);
  assert_int_equal(fa_mask_from_window(-2, -1), FA_MASK_LOCAL);
  assert_int_equal(fa_mask_from_window(-1, -2), FA_MASK_LOCAL);
}

static void test_names_and_version(void **state) {
  char expect_version[32];
  (void)state;
  assert_int_equal(fa_version_number(), FA_VERSION_NUMBER);
  snprintf(expect_version, sizeof expect_version, "%d.%d.%d", FA_VERSION_MAJOR, FA_VERSION_MINOR,
           FA_VERSION_PATCH);
  assert_string_equal(fa_version_string(), expect_version);
  assert_string_equal(fa_dtype_name(FA_DTYPE_FP16), "fp16");
  assert_string_equal(fa_dtype_name(FA_DTYPE_BF16), "bf16");
  assert_string_equal(fa_backend_name(FA_BACKEND_CUDA), "cuda");
  assert_string_equal(fa_backend_name(FA_BACKEND_CPU), "cpu");
  assert_string_equal(fa_mask_name(FA_MASK_NONE), "none");
  assert_string_equal(fa_mask_name(FA_MASK_CAUSAL), "causal");
  assert_string_equal(fa_mask_name(FA_MASK_LOCAL), "local");
  assert_non_null(fa_dtype_name((fa_dtype)0));
  assert_non_null(fa_backend_name((fa_backend)0));
  assert_non_null(fa_mask_name((fa_mask)7));
}

/* Every entry: its fields agree with its name (which carries the family
 * and the build target), names are unique, and the CPU backend covers every
 * (head_dim, dtype, mask) the table has. */
static void test_kernel_table(void **state) {
  const size_t n = fa_kernel_count();
  fa_kernel_info *all;
  fa_kernel_info info = FA_KERNEL_INFO_INIT;
  size_t i, j;
  (void)state;
  assert_true(n > 0);
  all = (fa_kernel_info *)calloc(n, sizeof *all);
  assert_non_null(all);
  for (i = 0; i < n; ++i) {
    char expect_name[160];
    fa_kernel_info *k = &all[i];
    k->struct_size = sizeof *k;
    assert_int_equal(fa_kernel_info_get(i, k), FA_OK);
    assert_non_null(k->name);
    assert_non_null(k->family);
    assert_non_null(k->description);
    assert_non_null(k->arch_name);
    assert_true(strlen(k->description) > 10);
    if (k->backend == FA_BACKEND_CPU) {
      snprintf(expect_name, sizeof expect_name, "fwd_%s_hdim%d_%s_%s", k->family, k->head_dim,
               fa_dtype_name(k->dtype), fa_mask_name(k->mask));
      assert_int_equal(k->arch, 0);
      assert_string_equal(k->arch_name, "");
      assert_string_equal(k->family, "cpu");
      assert_int_equal(k->threads, 1);
      assert_int_equal(k->smem_bytes, 0);
    } else {
      char target[16];
      assert_int_equal(k->backend, FA_BACKEND_CUDA);
      assert_true(strncmp(k->arch_name, "sm_", 3) == 0);
      snprintf(expect_name, sizeof expect_name, "fwd_%s_sm%s_hdim%d_%s_%s", k->family, k->arch_name + 3,
               k->head_dim, fa_dtype_name(k->dtype), fa_mask_name(k->mask));
      snprintf(target, sizeof target, "sm_%d", k->arch);
      assert_true(strncmp(k->arch_name, target, strlen(target)) == 0); /* "sm_90a" starts with "sm_90" */
      assert_true(k->arch >= 80);
      assert_true(k->threads > 0 && k->threads % 32 == 0 && k->threads <= 1024);
      assert_true(k->smem_bytes <= 228 * 1024);
    }
    {
      /* A long-key specialization (gen/spec.py long_keys): the name adds
       * "_k<N>" and the description says from which max_seqlen_k. */
      const long base = kernel_name_base_length(k);
      if (base < 0)
        fail_msg("kernel %s: its description does not say from which max_seqlen_k (\"max_seqlen_k >= N\")", k->name);
      if ((size_t)base != strlen(expect_name) || strncmp(k->name, expect_name, (size_t)base) != 0)
        fail_msg("kernel %zu is named %s but its fields say %s", i, k->name, expect_name);
    }
    assert_true(k->head_dim > 0 && k->head_dim % 8 == 0);
    assert_true(k->block_m > 0 && k->block_n > 0);
    for (j = 0; j < i; ++j)
      if (strcmp(all[j].name, k->name) == 0)
        fail_msg("kernel name %s appears twice (%zu and %zu)", k->name, j, i);
  }
  for (i = 0; i < n; ++i)
    if (first_kernel_where(FA_BACKEND_CPU, all[i].head_dim, all[i].dtype, all[i].mask) == SIZE_MAX)
      fail_msg("%s has no CPU counterpart", all[i].name);
  free(all);
  assert_int_equal(fa_kernel_info_get(n, &info), FA_ERR_NO_KERNEL);
  assert_int_equal(fa_kernel_info_get(SIZE_MAX, &info), FA_ERR_NO_KERNEL);
  assert_int_equal(fa_kernel_info_get(0, NULL), FA_ERR_NULL_POINTER);
  info.struct_size = 0;
  assert_int_equal(fa_kernel_info_get(0, &info), FA_ERR_STRUCT_SIZE);
  info.struct_size = sizeof info + 8;
  assert_int_equal(fa_kernel_info_get(0, &info), FA_ERR_STRUCT_SIZE);
}

/* ------------------------------------------------------------ context */

static void test_context_init(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_context ctx;
  fa_message msg;
  memset(&ctx, 0x5A, sizeof ctx);
  check_status("fa_context_init", "CPU backend", fa_context_init(&ctx, FA_BACKEND_CPU, 0, &msg), FA_OK, &msg, NULL,
               fx);
  assert_int_equal(ctx.struct_size, sizeof ctx);
  assert_int_equal(ctx.backend, FA_BACKEND_CPU);
  assert_int_equal(ctx.device, -1);
  assert_int_equal(ctx.arch, 0);
  assert_null(ctx.tensor_map_encode);
  {
    size_t w;
    for (w = 0; w < FA_CONTEXT_RESERVED_WORDS; ++w)
      assert_int_equal(ctx.reserved[w], 0);
  }
  check_status("fa_context_init", "NULL context", fa_context_init(NULL, FA_BACKEND_CPU, 0, &msg),
               FA_ERR_NULL_POINTER, &msg, "context", fx);
  check_status("fa_context_init", "bad backend", fa_context_init(&ctx, (fa_backend)7, 0, &msg),
               FA_ERR_INVALID_BACKEND, &msg, "backend", fx);
  if (!fx->device.present) {
    check_status("fa_context_init", "CUDA without a device",
                 fa_context_init(&ctx, FA_BACKEND_CUDA, FA_CURRENT_DEVICE, &msg), FA_ERR_NO_DEVICE, &msg, NULL, fx);
    print_message("no CUDA device (%s): CUDA contexts checked for FA_ERR_NO_DEVICE only\n", fx->device.reason);
    return;
  }
  check_status("fa_context_init", "current device", fa_context_init(&ctx, FA_BACKEND_CUDA, FA_CURRENT_DEVICE, &msg),
               FA_OK, &msg, NULL, fx);
  assert_int_equal(ctx.backend, FA_BACKEND_CUDA);
  assert_true(ctx.device >= 0);
  assert_int_equal(ctx.arch, fx->device.cc_major * 10 + fx->device.cc_minor);
  assert_true(ctx.sm_count > 0 && ctx.max_smem_per_block >= 48 * 1024 && ctx.smem_per_sm > 0 && ctx.l2_bytes > 0);
  /* The tensor-map encoder exists on every driver of CUDA 12 and later. */
  assert_non_null(ctx.tensor_map_encode);
  check_status("fa_context_init", "device 4096", fa_context_init(&ctx, FA_BACKEND_CUDA, 4096, &msg),
               FA_ERR_NO_DEVICE, &msg, "device", fx);
}

/* A context on the call: same result as without; a context of the wrong
 * backend, an uninitialized one, or one of another device is refused. */
static void test_context_use(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_context cpu, bad;
  fa_message msg;
  fa_fwd_params p = varlen_params(fx);
  uint16_t *first = (uint16_t *)malloc(fx->out_bytes);
  assert_non_null(first);
  assert_int_equal(fa_context_init(&cpu, FA_BACKEND_CPU, 0, &msg), FA_OK);
  assert_int_equal(fa_fwd(&p, &msg), FA_OK);
  memcpy(first, fx->out, fx->out_bytes);
  p = varlen_params(fx);
  p.context = &cpu;
  assert_int_equal(fa_fwd(&p, &msg), FA_OK);
  assert_memory_equal(first, fx->out, fx->out_bytes);
  free(first);

  p = varlen_params(fx);
  bad = cpu;
  bad.struct_size = 0;
  p.context = &bad;
  expect(fx, &p, FA_ERR_INVALID_CONTEXT, "context", "context never initialized");
  p = varlen_params(fx);
  p.backend = FA_BACKEND_CUDA;
  p.context = &cpu;
  expect_kernel(fx, &p, FA_ERR_INVALID_CONTEXT, "backend", "CPU context on a CUDA call", SIZE_MAX);
  if (!fx->device.present) {
    print_message("no CUDA device (%s): a context of another device not checked\n", fx->device.reason);
    return;
  }
  {
    fa_context other;
    assert_int_equal(fa_context_init(&other, FA_BACKEND_CUDA, FA_CURRENT_DEVICE, &msg), FA_OK);
    other.device += 1; /* as if initialized for the next device */
    p = varlen_params(fx);
    p.backend = FA_BACKEND_CUDA;
    p.context = &other;
    expect_kernel(fx, &p, FA_ERR_INVALID_CONTEXT, "device", "context of another device", SIZE_MAX);
    other.device -= 1;
    p.context = &other;
    /* The right context gets as far as the host pointers. */
    expect_kernel(fx, &p, FA_ERR_INVALID_POINTER, NULL, "CUDA context, host pointers", SIZE_MAX);
  }
}

/* One context shared by several threads, each with its own problem. */
#define CTX_THREADS 8
typedef struct ctx_job {
  const fa_context *ctx;
  api_fixture *fx;
  uint16_t *out;
  fa_status st;
} ctx_job;

static void *ctx_worker(void *arg) {
  ctx_job *job = (ctx_job *)arg;
  int r;
  for (r = 0; r < 20 && job->st == FA_OK; ++r) {
    fa_fwd_params p = fa_fwd_params_default();
    fa_message msg;
    p.backend = FA_BACKEND_CPU;
    p.batch = API_BATCH;
    p.num_heads_q = API_HQ;
    p.num_heads_k = API_HK;
    p.head_dim = API_D;
    p.max_seqlen_q = API_DENSE_LQ;
    p.max_seqlen_k = API_DENSE_LK;
    p.q = job->fx->q;
    p.k = job->fx->k;
    p.v = job->fx->v;
    p.out = job->out;
    p.window_right = 0;
    p.context = job->ctx;
    job->st = fa_fwd(&p, &msg);
  }
  return NULL;
}

static void test_context_threads(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  const size_t bytes = (size_t)API_BATCH * API_DENSE_LQ * API_HQ * API_D * 2;
  fa_context ctx;
  fa_message msg;
  pthread_t th[CTX_THREADS];
  ctx_job jobs[CTX_THREADS];
  uint16_t *want = (uint16_t *)malloc(bytes);
  int t;
  assert_non_null(want);
  assert_int_equal(fa_context_init(&ctx, FA_BACKEND_CPU, 0, &msg), FA_OK);
  {
    ctx_job single = {NULL, fx, want, FA_OK};
    ctx_worker(&single);
    assert_int_equal(single.st, FA_OK);
  }
  for (t = 0; t < CTX_THREADS; ++t) {
    jobs[t].ctx = &ctx, jobs[t].fx = fx, jobs[t].st = FA_OK;
    jobs[t].out = (uint16_t *)malloc(bytes);
    assert_non_null(jobs[t].out);
    assert_int_equal(pthread_create(&th[t], NULL, ctx_worker, &jobs[t]), 0);
  }
  for (t = 0; t < CTX_THREADS; ++t) assert_int_equal(pthread_join(th[t], NULL), 0);
  for (t = 0; t < CTX_THREADS; ++t) {
    assert_int_equal(jobs[t].st, FA_OK);
    assert_memory_equal(jobs[t].out, want, bytes);
    free(jobs[t].out);
  }
  free(want);
}

/* ------------------------------------------------------------ workspace */

static void test_workspace(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p = varlen_params(fx);
  fa_message msg;
  size_t bytes = 12345;
  unsigned char *raw = (unsigned char *)malloc(4096 + 512);
  unsigned char *aligned;
  assert_non_null(raw);
  aligned = raw + (256 - (uintptr_t)raw % 256) % 256;
  /* Today's CPU and mma kernels need none. */
  check_status("fa_fwd_workspace_size", "CPU call", fa_fwd_workspace_size(&p, &bytes, &msg), FA_OK, &msg, NULL, fx);
  assert_int_equal(bytes, 0);
  check_status("fa_fwd_workspace_size", "bytes NULL", fa_fwd_workspace_size(&p, NULL, &msg), FA_ERR_NULL_POINTER,
               &msg, "bytes", fx);
  /* The size query validates like fa_fwd. */
  p.head_dim = 72;
  check_status("fa_fwd_workspace_size", "bad head_dim", fa_fwd_workspace_size(&p, &bytes, &msg),
               FA_ERR_UNSUPPORTED_HEAD_DIM, &msg, "head_dim", fx);
  /* NULL with 0 bytes: valid. NULL with bytes, or misaligned: refused. */
  p = varlen_params(fx);
  expect(fx, &p, FA_OK, NULL, "workspace NULL, 0 bytes");
  p = varlen_params(fx);
  p.workspace_bytes = 4096;
  expect(fx, &p, FA_ERR_NULL_POINTER, "workspace", "workspace NULL, 4096 bytes");
  p = varlen_params(fx);
  p.workspace = aligned + 16;
  p.workspace_bytes = 4096;
  expect(fx, &p, FA_ERR_MISALIGNED, "workspace", "workspace 16 bytes past a 256-byte boundary");
  p = varlen_params(fx);
  p.workspace = aligned;
  p.workspace_bytes = 4096;
  expect(fx, &p, FA_OK, NULL, "aligned workspace nobody needs");
  free(raw);
}

/* fa_fwd_query_dispatch: the same choice and status as fa_fwd_query, both
 * kernels of a call (one on the CPU backend, which never pairs), written
 * only on success, for the caller's layout only. */
static void test_query_dispatch(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p = varlen_params(fx);
  fa_fwd_dispatch_info info = FA_FWD_DISPATCH_INFO_INIT, before;
  fa_message msg;
  size_t index = SIZE_MAX;
  check_status("fa_fwd_query_dispatch", "CPU call", fa_fwd_query_dispatch(&p, &info, &msg), FA_OK, &msg, NULL, fx);
  assert_int_equal(fa_fwd_query(&p, &index, NULL), FA_OK);
  assert_int_equal(info.struct_size, sizeof info);
  assert_int_equal(info.num_kernels, 1);
  assert_int_equal(info.kernel_index[0], index);
  assert_int_equal(info.kernel_index[0], fx->kernel_none);
  assert_true(info.kernel_index[1] == SIZE_MAX);
  assert_int_equal(info.short_rows, 0);
  assert_int_equal(info.short_seqlen_q, 0);
  assert_int_equal(info.splits[0], 1);
  assert_int_equal(info.splits[1], 0);
  assert_int_equal(info.workspace_bytes, 0);
  assert_true(outputs_untouched(fx)); /* a query writes nothing */
  p.window_right = 0;
  assert_int_equal(fa_fwd_query_dispatch(&p, &info, NULL), FA_OK);
  assert_int_equal(info.kernel_index[0], fx->kernel_causal);
  /* Failures: the status of fa_fwd_query, the message names the field,
   * *info untouched. */
  p = varlen_params(fx);
  p.head_dim = 72;
  memset(&info, 0x5a, sizeof info);
  info.struct_size = sizeof info;
  before = info;
  check_status("fa_fwd_query_dispatch", "bad head_dim", fa_fwd_query_dispatch(&p, &info, &msg),
               FA_ERR_UNSUPPORTED_HEAD_DIM, &msg, "head_dim", fx);
  assert_memory_equal(&info, &before, sizeof info);
  p = varlen_params(fx);
  p.num_heads_k = 3;
  check_status("fa_fwd_query_dispatch", "heads 4/3", fa_fwd_query_dispatch(&p, &info, &msg),
               fa_fwd_query(&p, NULL, NULL), &msg, "num_heads_q|num_heads_k", fx);
  assert_memory_equal(&info, &before, sizeof info);
  p = varlen_params(fx);
  check_status("fa_fwd_query_dispatch", "info NULL", fa_fwd_query_dispatch(&p, NULL, &msg), FA_ERR_NULL_POINTER,
               &msg, "info", fx);
  check_status("fa_fwd_query_dispatch", "params NULL", fa_fwd_query_dispatch(NULL, &info, &msg),
               FA_ERR_NULL_POINTER, &msg, "params", fx);
  assert_int_equal(fa_fwd_query_dispatch(&p, &info, NULL), FA_OK); /* message optional */
  /* struct_size: 0, unknown, from a newer header. */
  info.struct_size = 0;
  check_status("fa_fwd_query_dispatch", "info struct_size 0", fa_fwd_query_dispatch(&p, &info, &msg),
               FA_ERR_STRUCT_SIZE, &msg, "struct_size", fx);
  assert_non_null(strstr(msg.text, "FA_FWD_DISPATCH_INFO_INIT"));
  info.struct_size = sizeof info + 8;
  assert_int_equal(fa_fwd_query_dispatch(&p, &info, &msg), FA_ERR_STRUCT_SIZE);
  info.struct_size = 12;
  assert_int_equal(fa_fwd_query_dispatch(&p, &info, &msg), FA_ERR_STRUCT_SIZE);
  assert_int_equal(info.struct_size, 12); /* untouched */
  /* A 0.3 fa_fwd_params is accepted here as everywhere. */
  info.struct_size = sizeof info;
  p.struct_size = FA_FWD_PARAMS_SIZE_V0_2;
  assert_int_equal(fa_fwd_query_dispatch(&p, &info, &msg), FA_OK);
  assert_int_equal(info.kernel_index[0], fx->kernel_none);
}

/* fa_fwd_workspace_size_max: validation, struct sizes, and the CPU
 * backend (which needs no workspace). The bound itself is proven against
 * every call within it on the real table in test_dispatch
 * (test_workspace_bound); on a GPU, here too through the public calls. */
static fa_fwd_workspace_bounds cpu_bounds(void) {
  fa_fwd_workspace_bounds b = fa_fwd_workspace_bounds_default();
  b.backend = FA_BACKEND_CPU;
  b.num_heads_q = 32, b.num_heads_k = 8, b.head_dim = 128;
  b.max_batch = 64, b.max_seqlen_q = 512, b.max_total_q = 2048, b.max_seqlen_k = 32768;
  return b;
}

static void test_workspace_size_max(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_workspace_bounds b = fa_fwd_workspace_bounds_default();
  fa_message msg;
  size_t bytes = 12345;
  fa_context ctx;
  assert_int_equal(b.struct_size, sizeof b);
  assert_int_equal(b.struct_size, FA_FWD_WORKSPACE_BOUNDS_SIZE_V0_4);
  assert_int_equal(b.backend, FA_BACKEND_CUDA);
  assert_int_equal(b.dtype, FA_DTYPE_BF16);
  assert_int_equal(b.num_splits, 0);
  assert_null(b.context);
  b = cpu_bounds();
  check_status("fa_fwd_workspace_size_max", "CPU bounds", fa_fwd_workspace_size_max(&b, &bytes, &msg), FA_OK, &msg,
               NULL, fx);
  assert_int_equal(bytes, 0);
  assert_int_equal(fa_context_init(&ctx, FA_BACKEND_CPU, 0, &msg), FA_OK);
  b.context = &ctx;
  bytes = 1;
  assert_int_equal(fa_fwd_workspace_size_max(&b, &bytes, NULL), FA_OK);
  assert_int_equal(bytes, 0);
  /* Rejected bounds: status, the field named, *bytes untouched. */
  {
    static const struct {
      const char *what, *fields;
      fa_status want;
      int field;
      int64_t value;
    } bad[] = {
        {"backend 7", "backend", FA_ERR_INVALID_BACKEND, 0, 7},
        {"dtype fp32", "dtype", FA_ERR_UNSUPPORTED_DTYPE, 1, FA_DTYPE_FP32},
        {"num_heads_q 0", "num_heads_q|num_heads_k", FA_ERR_INVALID_SHAPE, 2, 0},
        {"num_heads_k 3", "num_heads_q|num_heads_k", FA_ERR_HEADS_NOT_DIVISIBLE, 3, 3},
        {"head_dim 72", "head_dim", FA_ERR_UNSUPPORTED_HEAD_DIM, 4, 72},
        {"max_batch 0", "max_batch", FA_ERR_INVALID_SHAPE, 5, 0},
        {"max_seqlen_q -1", "max_seqlen_q", FA_ERR_INVALID_SHAPE, 6, -1},
        {"max_total_q -1", "max_total_q", FA_ERR_INVALID_SHAPE, 7, -1},
        {"max_seqlen_k -1", "max_seqlen_k", FA_ERR_INVALID_SHAPE, 8, -1},
        {"num_splits 257", "num_splits", FA_ERR_INVALID_SHAPE, 9, FA_MAX_SPLITS + 1},
        {"num_splits -1", "num_splits", FA_ERR_INVALID_SHAPE, 9, -1},
        {"max_total_q 2^50", "max_total_q", FA_ERR_OVERFLOW, 7, INT64_C(1) << 50},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
      b = cpu_bounds();
      switch (bad[i].field) {
        case 0: b.backend = (fa_backend)bad[i].value; break;
        case 1: b.dtype = (fa_dtype)bad[i].value; break;
        case 2: b.num_heads_q = (int32_t)bad[i].value; break;
        case 3: b.num_heads_k = (int32_t)bad[i].value; break;
        case 4: b.head_dim = (int32_t)bad[i].value; break;
        case 5: b.max_batch = (int32_t)bad[i].value; break;
        case 6: b.max_seqlen_q = (int32_t)bad[i].value; break;
        case 7: b.max_total_q = bad[i].value; break;
        case 8: b.max_seqlen_k = (int32_t)bad[i].value; break;
        default: b.num_splits = (int32_t)bad[i].value; break;
      }
      bytes = 12345;
      check_status("fa_fwd_workspace_size_max", bad[i].what, fa_fwd_workspace_size_max(&b, &bytes, &msg),
                   bad[i].want, &msg, bad[i].fields, fx);
      assert_int_equal(bytes, 12345);
    }
  }
  b = cpu_bounds();
  check_status("fa_fwd_workspace_size_max", "bytes NULL", fa_fwd_workspace_size_max(&b, NULL, &msg),
               FA_ERR_NULL_POINTER, &msg, "bytes", fx);
  check_status("fa_fwd_workspace_size_max", "bounds NULL", fa_fwd_workspace_size_max(NULL, &bytes, &msg),
               FA_ERR_NULL_POINTER, &msg, "bounds", fx);
  b.struct_size = 0;
  check_status("fa_fwd_workspace_size_max", "struct_size 0", fa_fwd_workspace_size_max(&b, &bytes, &msg),
               FA_ERR_STRUCT_SIZE, &msg, "struct_size", fx);
  b.struct_size = sizeof b + 8;
  assert_int_equal(fa_fwd_workspace_size_max(&b, &bytes, &msg), FA_ERR_STRUCT_SIZE);
  assert_non_null(strstr(msg.text, "newer"));
  /* A context of the other backend. */
  b = cpu_bounds();
  b.backend = FA_BACKEND_CUDA;
  b.context = &ctx;
  assert_int_equal(fa_fwd_workspace_size_max(&b, &bytes, &msg), FA_ERR_INVALID_CONTEXT);
  b.context = NULL;
  if (!fx->device.present)
    check_status("fa_fwd_workspace_size_max", "CUDA without a device", fa_fwd_workspace_size_max(&b, &bytes, &msg),
                 FA_ERR_NO_DEVICE, &msg, NULL, fx);
}

/* ------------------------------------------------------------ structs that grow */

static void test_struct_sizes(void **state) {
  api_fixture *fx = (api_fixture *)*state;
  fa_fwd_params p = varlen_params(fx);
  fa_message msg;
  (void)fx;
  assert_int_equal(offsetof(fa_fwd_params, block_table), FA_FWD_PARAMS_SIZE_V0_2);
  assert_int_equal(sizeof(fa_fwd_params), FA_FWD_PARAMS_SIZE_V0_3);
  assert_int_equal(sizeof(fa_combine_params), FA_COMBINE_PARAMS_SIZE_V0_3);
  assert_int_equal(sizeof(fa_kernel_info), FA_KERNEL_INFO_SIZE_V0_2);
  assert_int_equal(sizeof(fa_fwd_dispatch_info), FA_FWD_DISPATCH_INFO_SIZE_V0_4);
  assert_int_equal(sizeof(fa_fwd_workspace_bounds), FA_FWD_WORKSPACE_BOUNDS_SIZE_V0_4);
  assert_int_equal(sizeof(fa_unpad_info_params), FA_UNPAD_INFO_PARAMS_SIZE_V0_2);
  assert_int_equal(sizeof(fa_rows_params), FA_ROWS_PARAMS_SIZE_V0_2);
  assert_int_equal(sizeof(fa_position_ids_params), FA_POSITION_IDS_PARAMS_SIZE_V0_2);
  p.struct_size = 0;
  expect(fx, &p, FA_ERR_STRUCT_SIZE, "struct_size", "struct_size 0 (a zeroed struct)");
  assert_non_null(strstr((fa_fwd(&p, &msg), msg.text), "_default()"));
  p.struct_size = sizeof p + 8;
  expect(fx, &p, FA_ERR_STRUCT_SIZE, "struct_size", "struct_size from a newer header");
  assert_non_null(strstr((fa_fwd(&p, &msg), msg.text), "newer"));
  p.struct_size = 100;
  expect(fx, &p, FA_ERR_STRUCT_SIZE, "struct_size", "struct_size of no layout");
  p.struct_size = sizeof p;
  assert_int_equal(fa_fwd_workspace_size(&p, NULL, &msg), FA_ERR_NULL_POINTER);
  {
    /* A caller built against the 0.2 header: its struct ends before the 0.3
     * fields, so whatever lies there (here: garbage that would be rejected)
     * is never read, and the call equals a 0.3 call with those defaults. */
    uint16_t *want = (uint16_t *)malloc(fx->out_bytes);
    assert_non_null(want);
    p = varlen_params(fx);
    assert_int_equal(fa_fwd(&p, &msg), FA_OK);
    memcpy(want, fx->out, fx->out_bytes);
    p = varlen_params(fx);
    p.struct_size = FA_FWD_PARAMS_SIZE_V0_2;
    p.block_table = (const int32_t *)(uintptr_t)0x13;
    p.page_size = -7;
    p.k_new = (const void *)(uintptr_t)0x21;
    p.num_splits = -5;
    expect(fx, &p, FA_OK, NULL, "0.2-sized struct with garbage past its end");
    assert_int_equal(fa_fwd(&p, &msg), FA_OK);
    assert_memory_equal(want, fx->out, fx->out_bytes);
    free(want);
    /* The same garbage in a 0.3-sized struct is read, and rejected. */
    p.struct_size = sizeof p;
    assert_int_not_equal(fa_fwd(&p, &msg), FA_OK);
  }
  {
    fa_unpad_info_params u = fa_unpad_info_params_default();
    fa_rows_params r = fa_rows_params_default();
    fa_position_ids_params pi = fa_position_ids_params_default();
    u.struct_size = 0, r.struct_size = sizeof r + 8, pi.struct_size = 3;
    assert_int_equal(fa_unpad_info(&u, &msg), FA_ERR_STRUCT_SIZE);
    assert_non_null(strstr(msg.text, "struct_size"));
    assert_int_equal(fa_unpad_rows(&r, &msg), FA_ERR_STRUCT_SIZE);
    assert_int_equal(fa_pad_rows(&r, &msg), FA_ERR_STRUCT_SIZE);
    assert_int_equal(fa_seqlens_from_position_ids(&pi, &msg), FA_ERR_STRUCT_SIZE);
  }
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv) {
  const char *filter = argc > 1 ? argv[1] : NULL;
  const struct CMUnitTest all[] = {
      cmocka_unit_test(test_valid_calls),
      cmocka_unit_test(test_null_pointers),
      cmocka_unit_test(test_bad_shapes),
      cmocka_unit_test(test_heads_not_divisible),
      cmocka_unit_test(test_unsupported_head_dim),
      cmocka_unit_test(test_bad_dtype_and_backend),
      cmocka_unit_test(test_bad_window),
      cmocka_unit_test(test_misaligned_pointers),
      cmocka_unit_test(test_bad_strides),
      cmocka_unit_test(test_bad_scale_and_softcap),
      cmocka_unit_test(test_launch_flags),
      cmocka_unit_test(test_overflow),
      cmocka_unit_test(test_grid_overflow),
      cmocka_unit_test(test_invalid_cu_seqlens),
      cmocka_unit_test(test_invalid_seqused_k),
      cmocka_unit_test(test_bad_kernel_choice),
      cmocka_unit_test(test_cuda_backend_host_pointers),
      cmocka_unit_test(test_status_strings),
      cmocka_unit_test(test_params_default),
      cmocka_unit_test(test_mask_from_window),
      cmocka_unit_test(test_names_and_version),
      cmocka_unit_test(test_kernel_table),
      cmocka_unit_test(test_context_init),
      cmocka_unit_test(test_context_use),
      cmocka_unit_test(test_context_threads),
      cmocka_unit_test(test_workspace),
      cmocka_unit_test(test_query_dispatch),
      cmocka_unit_test(test_workspace_size_max),
      cmocka_unit_test(test_struct_sizes),
  };
  struct CMUnitTest chosen[sizeof all / sizeof all[0]];
  size_t i, n = 0;
  for (i = 0; i < sizeof all / sizeof all[0]; ++i)
    if (filter == NULL || strstr(all[i].name, filter) != NULL)
      chosen[n++] = all[i];
  if (n == 0) {
    printf("test_api: no test matches '%s'\n", filter);
    return 1;
  }
  return _cmocka_run_group_tests("api", chosen, n, setup, teardown);
}
