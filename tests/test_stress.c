/*
 * test_stress.c - numerical stress, non-finite inputs, determinism and
 * concurrency, on the CPU backend always and on the CUDA backend when a
 * device is present (each CUDA case skips, with the reason, otherwise).
 * CUDA calls go through fa_fwd, so the kernel is the one the table picks
 * for the device.
 *
 *   test_stress [FILTER]    run the tests whose name contains FILTER
 *   test_stress -FILTER     run all but those (sanitized CI: -long_rows)
 *   FA_TEST_SEED=N          reproduce a run (the seed is printed first)
 *
 * Two CMocka groups, stress_cpu and stress_cuda, each with these cases
 * (named CASE_cpu, CASE_cuda; tests/RELIABILITY.md says what each promises):
 *   dominant_key, all_equal_scores, large_random_scores
 *                            scores near the fp16/bf16 and fp32 limits,
 *                            scale 1.0; exact expectations and the double
 *                            reference (reference.h)
 *   rising_scores            each key tile's scores above the last's by
 *                            more than the lazy rule's slack (d32-d192;
 *                            on the GPU also 8320 keys at d128 and 2100
 *                            at d192: the long-key kernels)
 *   long_rows_128k           131072 keys
 *   lse_consistency          out = sum_j exp(s_j - lse) v_j with the kernel's lse
 *   nonfinite_inputs         the NaN / +-inf policy, containment bitwise
 *   extreme_scale_softcap    regression: rejected, or finite
 *   determinism              bitwise identical out and lse across runs,
 *                            batch composition, strides, lse on/off,
 *                            streams and concurrent unrelated work
 *   concurrency              16 threads calling fa_fwd at once with
 *                            different shapes (CUDA: each on its stream),
 *                            each checking its results
 *   hostile_default_strides  regression (UB under UBSan); CPU only
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "flashattn.h"
#include "reference.h"
#include "test_util.h"

#define LOG2E 1.4426950408889634

/* ------------------------------------------------------------ state */

/* Host allocations of a test: many, released at teardown (or back to a
 * mark), so CMocka's longjmp out of a failing test leaks nothing. */
typedef struct arena {
  void **ptrs;
  size_t n, cap;
} arena;

typedef struct stress_state {
  fa_backend backend;
  const tu_device *device;
  uint64_t seed;
  arena host;   /* host buffers */
  tu_pool keep; /* device buffers and streams of the whole test */
  tu_pool tmp;  /* device buffers of one run */
  fa_stream_t stream;
} stress_state;

static int cuda(const stress_state *s) { return s->backend == FA_BACKEND_CUDA; }

/* CUDA tests skip without a device; every test gets a stream on CUDA. */
static void need_backend(stress_state *s) {
  if (cuda(s)) {
    const char *why = NULL;
    if (!s->device->present) {
      print_message("skipped: no CUDA device: %s\n", s->device->reason);
      skip();
    }
    s->stream = tu_pool_stream(&s->keep, &why);
    if (s->stream == NULL)
      fail_msg("cudaStreamCreate: %s", why);
  }
}

static void *keep_alloc(stress_state *s, size_t bytes) {
  arena *a = &s->host;
  void *p;
  if (a->n == a->cap) {
    void **grown = (void **)realloc(a->ptrs, (a->cap = a->cap ? 2 * a->cap : 64) * sizeof *grown);
    if (grown == NULL)
      fail_msg("%s", "out of host memory");
    a->ptrs = grown;
  }
  p = malloc(bytes ? bytes : 1);
  if (p == NULL)
    fail_msg("out of host memory (%zu bytes)", bytes);
  a->ptrs[a->n++] = p;
  return p;
}

static size_t arena_mark(const stress_state *s) { return s->host.n; }

static void arena_release(stress_state *s, size_t mark) {
  while (s->host.n > mark)
    free(s->host.ptrs[--s->host.n]);
}

/* ------------------------------------------------------------ problems */

#define MAXB 4

/* A varlen problem, packed: q, out [tq, hq, d]; k, v [tk, hk, d]; lse [hq, tq]. */
typedef struct sproblem {
  fa_dtype dtype;
  int d, hq, hk, batch;
  int64_t lq[MAXB], lk[MAXB], tq, tk;
  int32_t cu_q[MAXB + 1], cu_k[MAXB + 1];
  uint16_t *q, *k, *v;
  float *sinks; /* [hq] or NULL */
  float scale;  /* 0: 1/sqrt(d) */
  float softcap;
  int wl, wr;
} sproblem;

typedef struct sresult {
  uint16_t *out; /* [tq, hq, d] */
  float *lse;    /* [hq, tq] or NULL */
} sresult;

static void sp_init(stress_state *s, sproblem *p, fa_dtype dtype, int d, int hq, int hk, int batch,
                    const int64_t *lq, const int64_t *lk) {
  int b;
  memset(p, 0, sizeof *p);
  p->dtype = dtype, p->d = d, p->hq = hq, p->hk = hk, p->batch = batch;
  p->wl = p->wr = -1;
  for (b = 0; b < batch; ++b) {
    p->lq[b] = lq[b], p->lk[b] = lk[b];
    p->cu_q[b + 1] = p->cu_q[b] + (int32_t)lq[b];
    p->cu_k[b + 1] = p->cu_k[b] + (int32_t)lk[b];
  }
  p->tq = p->cu_q[batch];
  p->tk = p->cu_k[batch];
  p->q = (uint16_t *)keep_alloc(s, (size_t)(p->tq * hq * d + 1) * 2);
  p->k = (uint16_t *)keep_alloc(s, (size_t)(p->tk * hk * d + 1) * 2);
  p->v = (uint16_t *)keep_alloc(s, (size_t)(p->tk * hk * d + 1) * 2);
}

static uint16_t *qrow(const sproblem *p, int64_t row, int h) { return p->q + (row * p->hq + h) * p->d; }
static uint16_t *krow(const sproblem *p, int64_t row, int g) { return p->k + (row * p->hk + g) * p->d; }
static uint16_t *vrow(const sproblem *p, int64_t row, int g) { return p->v + (row * p->hk + g) * p->d; }

static void sp_fill(sproblem *p, double sq, double sk, double sv, tu_rng *rng) {
  tu_fill_random(p->q, (size_t)(p->tq * p->hq * p->d), p->dtype, sq, rng);
  tu_fill_random(p->k, (size_t)(p->tk * p->hk * p->d), p->dtype, sk, rng);
  tu_fill_random(p->v, (size_t)(p->tk * p->hk * p->d), p->dtype, sv, rng);
}

static double sp_scale(const sproblem *p) { return p->scale != 0.f ? (double)p->scale : 1.0 / sqrt((double)p->d); }

/* ------------------------------------------------------------ running */

typedef struct run_opts {
  int padded;        /* strided layout with gaps instead of packed */
  int no_lse;        /* lse = NULL */
  fa_stream_t stream;/* CUDA: overrides the test's stream (use_stream set) */
  int use_stream;
  int sm_count;      /* CUDA: > 0: a context that claims this many SMs (the grid's size) */
} run_opts;

static const run_opts k_default_opts = {0, 0, NULL, 0, 0};

/* Copies a packed [rows, heads, d] tensor into a strided one and back. */
static void to_strided(uint16_t *dst, const uint16_t *src, int64_t rows, int heads, int d, int64_t rs, int64_t hs) {
  int64_t r;
  int h;
  for (r = 0; r < rows; ++r)
    for (h = 0; h < heads; ++h)
      memcpy(dst + r * rs + h * hs, src + (r * heads + h) * d, (size_t)d * 2);
}

static void from_strided(uint16_t *dst, const uint16_t *src, int64_t rows, int heads, int d, int64_t rs,
                         int64_t hs) {
  int64_t r;
  int h;
  for (r = 0; r < rows; ++r)
    for (h = 0; h < heads; ++h)
      memcpy(dst + (r * heads + h) * d, src + r * rs + h * hs, (size_t)d * 2);
}

static void *dev_copy(stress_state *s, const void *host, size_t bytes) {
  const char *why = NULL;
  void *dev = tu_pool_device(&s->tmp, bytes ? bytes : 1, &why);
  if (dev == NULL)
    fail_msg("cudaMalloc(%zu): %s", bytes, why);
  if (bytes && tu_to_device(dev, host, bytes, &why) != 0)
    fail_msg("cudaMemcpy: %s", why);
  return dev;
}

/* Runs p through fa_fwd on the test's backend; r receives out and lse
 * (fresh buffers from the keep pool). Returns fa_fwd's status (msg, if not
 * NULL, its message); CUDA errors after the call fail the test. */
static fa_status run_status(stress_state *s, const sproblem *p, const run_opts *o, sresult *r, fa_message *msg_out) {
  const int d = p->d;
  const int64_t hs_q = o->padded ? d + 8 : d, rs_q = o->padded ? p->hq * hs_q + 16 : (int64_t)p->hq * d;
  const int64_t hs_k = o->padded ? d + 8 : d, rs_k = o->padded ? p->hk * hs_k + 24 : (int64_t)p->hk * d;
  const size_t nq = (size_t)(p->tq * rs_q + 1), nk = (size_t)(p->tk * rs_k + 1);
  const size_t nlse = (size_t)(p->hq * p->tq + 1);
  uint16_t *q = p->q, *k = p->k, *v = p->v, *out;
  float *lse = NULL;
  fa_fwd_params prm = fa_fwd_params_default();
  fa_context ctx;
  fa_message msg;
  fa_status st;
  const char *why = NULL;
  fa_stream_t stream = o->use_stream ? o->stream : s->stream;

  size_t mark;
  r->out = (uint16_t *)keep_alloc(s, (size_t)(p->tq * p->hq * d + 1) * 2);
  r->lse = o->no_lse ? NULL : (float *)keep_alloc(s, nlse * sizeof(float));
  mark = arena_mark(s);
  out = (uint16_t *)keep_alloc(s, nq * 2);
  tu_poison16(out, nq);
  if (!o->no_lse) {
    lse = (float *)keep_alloc(s, nlse * sizeof(float));
    tu_poison32(lse, nlse);
  }
  if (o->padded) {
    q = (uint16_t *)keep_alloc(s, nq * 2);
    k = (uint16_t *)keep_alloc(s, nk * 2);
    v = (uint16_t *)keep_alloc(s, nk * 2);
    tu_poison16(q, nq), tu_poison16(k, nk), tu_poison16(v, nk);
    to_strided(q, p->q, p->tq, p->hq, d, rs_q, hs_q);
    to_strided(k, p->k, p->tk, p->hk, d, rs_k, hs_k);
    to_strided(v, p->v, p->tk, p->hk, d, rs_k, hs_k);
    prm.q_row_stride = prm.out_row_stride = rs_q;
    prm.q_head_stride = prm.out_head_stride = hs_q;
    prm.k_row_stride = prm.v_row_stride = rs_k;
    prm.k_head_stride = prm.v_head_stride = hs_k;
  }
  prm.backend = s->backend;
  prm.dtype = p->dtype;
  prm.batch = p->batch;
  prm.num_heads_q = p->hq;
  prm.num_heads_k = p->hk;
  prm.head_dim = d;
  prm.total_q = p->tq;
  prm.total_k = p->tk;
  {
    int b;
    for (b = 0; b < p->batch; ++b) {
      if (p->lq[b] > prm.max_seqlen_q)
        prm.max_seqlen_q = (int32_t)p->lq[b];
      if (p->lk[b] > prm.max_seqlen_k)
        prm.max_seqlen_k = (int32_t)p->lk[b];
    }
  }
  prm.scale = p->scale;
  prm.softcap = p->softcap;
  prm.window_left = p->wl;
  prm.window_right = p->wr;
  if (cuda(s)) {
    prm.q = dev_copy(s, q, nq * 2);
    prm.k = dev_copy(s, k, nk * 2);
    prm.v = dev_copy(s, v, nk * 2);
    prm.out = dev_copy(s, out, nq * 2);
    prm.lse = lse ? (float *)dev_copy(s, lse, nlse * sizeof(float)) : NULL;
    prm.sinks = p->sinks ? (const float *)dev_copy(s, p->sinks, (size_t)p->hq * sizeof(float)) : NULL;
    prm.cu_seqlens_q = (const int32_t *)dev_copy(s, p->cu_q, sizeof p->cu_q);
    prm.cu_seqlens_k = (const int32_t *)dev_copy(s, p->cu_k, sizeof p->cu_k);
    prm.stream = stream;
    if (o->sm_count > 0) {
      if (fa_context_init(&ctx, FA_BACKEND_CUDA, FA_CURRENT_DEVICE, &msg) != FA_OK)
        fail_msg("fa_context_init: %s", msg.text);
      ctx.sm_count = o->sm_count;
      prm.context = &ctx;
    }
  } else {
    prm.q = q, prm.k = k, prm.v = v, prm.out = out, prm.lse = lse, prm.sinks = p->sinks;
    prm.cu_seqlens_q = p->cu_q;
    prm.cu_seqlens_k = p->cu_k;
  }
  st = fa_fwd(&prm, &msg);
  if (msg_out != NULL)
    *msg_out = msg;
  if (st != FA_OK) {
    tu_pool_release(&s->tmp);
    arena_release(s, mark);
    return st;
  }
  if (cuda(s)) {
    if (tu_stream_sync(stream, &why) != 0)
      fail_msg("cudaStreamSynchronize: %s", why);
    if (tu_to_host(out, prm.out, nq * 2, &why) != 0 ||
        (lse && tu_to_host(lse, prm.lse, nlse * sizeof(float), &why) != 0))
      fail_msg("copy back: %s", why);
  }
  if (o->padded)
    from_strided(r->out, out, p->tq, p->hq, d, rs_q, hs_q);
  else
    memcpy(r->out, out, (size_t)(p->tq * p->hq * d) * 2);
  if (lse)
    memcpy(r->lse, lse, (size_t)(p->hq * p->tq) * sizeof(float));
  tu_pool_release(&s->tmp);
  arena_release(s, mark);
  return FA_OK;
}

/* run_status, failing the test on any error. */
static void run(stress_state *s, const sproblem *p, const run_opts *o, sresult *r) {
  fa_message msg;
  const fa_status st = run_status(s, p, o, r, &msg);
  if (st != FA_OK)
    fail_msg("fa_fwd: %s: %s", fa_status_string(st), msg.text);
}

/* ------------------------------------------------------------ checking */

typedef struct check_stats {
  double worst_rel; /* worst |err| / (max |v| seen) over finite elements */
  double worst_lse; /* worst |err| / (1 + |lse|) */
  int64_t rows, nonfinite_rows;
} check_stats;

/* Per-row comparison with the double reference (reference.h), which follows
 * IEEE arithmetic through the definition: where it gives NaN the kernel must
 * give NaN, where it gives +-inf the kernel must give a non-finite value
 * (same sign if infinite), where it is finite the kernel must be within
 * tolerance, element by element. The tolerance: 4 unit roundoffs of the
 * storage type times max |v| (rounding of out, and of P on GPUs: at most
 * 2 together, doubled for margin), plus the fp32 error of the scores,
 * bounded per row by E = (d + 8) * 1.2e-7 * |scale| * max_j sum_e |q_e k_je|
 * (nats), which moves each weight by a factor exp(+-2E). Real bugs (a key
 * missed or seen twice, a wrong head) give errors of order max |v|. */
static void check_ref(stress_state *s, const sproblem *p, const sresult *r, const char *what,
                      check_stats *cs) {
  const int d = p->d;
  const double scale = sp_scale(p);
  const double ulp = p->dtype == FA_DTYPE_BF16 ? 1.0 / 128 : 1.0 / 1024;
  const size_t nq = (size_t)(p->tq * p->hq * d), nk = (size_t)(p->tk * p->hk * d);
  /* The whole problem in double, through ref_attention (one decode each). */
  const size_t mark = arena_mark(s);
  double *qd = (double *)keep_alloc(s, sizeof(double) * (nq + 1)), *kd = (double *)keep_alloc(s, sizeof(double) * (nk + 1));
  double *vd = (double *)keep_alloc(s, sizeof(double) * (nk + 1)), *od = (double *)keep_alloc(s, sizeof(double) * (nq + 1));
  double *ld = (double *)keep_alloc(s, sizeof(double) * (size_t)(p->tq * p->hq + 1));
  double sinks_d[64];
  ref_problem rp;
  int b, h, e;
  int64_t i, j;
  size_t n;
  if (p->hq > 64)
    fail_msg("%s", "check_ref: at most 64 query heads");
  for (n = 0; n < nq; ++n)
    qd[n] = tu_half_to_double(p->q[n], p->dtype);
  for (n = 0; n < nk; ++n) {
    kd[n] = tu_half_to_double(p->k[n], p->dtype);
    vd[n] = tu_half_to_double(p->v[n], p->dtype);
  }
  for (h = 0; h < p->hq && p->sinks; ++h)
    sinks_d[h] = p->sinks[h];
  memset(&rp, 0, sizeof rp);
  rp.batch = p->batch, rp.heads_q = p->hq, rp.heads_k = p->hk, rp.head_dim = d;
  rp.seqlen_q = p->lq, rp.seqlen_k = p->lk;
  rp.q = qd, rp.k = kd, rp.v = vd;
  rp.window_left = p->wl, rp.window_right = p->wr;
  rp.scale = scale, rp.softcap = p->softcap;
  rp.sinks = p->sinks ? sinks_d : NULL;
  ref_attention(&rp, od, ld, NULL);
  for (b = 0; b < p->batch; ++b)
    for (i = 0; i < p->lq[b]; ++i)
      for (h = 0; h < p->hq; ++h) {
        const int64_t row = p->cu_q[b] + i;
        const int g = h / (p->hq / p->hk);
        const uint16_t *got = r->out + (row * p->hq + h) * d;
        double *ref = od + (row * p->hq + h) * d, lse_ref = ld[row * p->hq + h];
        double vmax = 0.0, mag_max = 0.0, err_s, tol, lse_tol;
        int nonfinite = 0, nan_score = 0;
        for (j = 0; j < p->lk[b]; ++j) {
          const double *qr = qd + (row * p->hq + h) * d;
          const double *kr = kd + ((p->cu_k[b] + j) * p->hk + g) * d, *vr = vd + ((p->cu_k[b] + j) * p->hk + g) * d;
          double mag = 0.0, dot = 0.0;
          if (!ref_key_visible(i, j, p->lq[b], p->lk[b], p->wl, p->wr))
            continue;
          for (e = 0; e < d; ++e) {
            const double qe = qr[e], ke = kr[e], ve = vr[e];
            dot += qe * ke;
            if (isfinite(qe * ke))
              mag += fabs(qe * ke);
            if (isfinite(ve) && fabs(ve) > vmax)
              vmax = fabs(ve);
          }
          if (isnan(dot))
            nan_score = 1;
          if (mag > mag_max)
            mag_max = mag;
        }
        /* IEEE through the definition: a NaN score makes the row NaN (as
         * the reference does since 99fa0c2; kept here so the policy test
         * does not depend on it). */
        if (nan_score) {
          for (e = 0; e < d; ++e)
            ref[e] = NAN;
          lse_ref = NAN;
        }
        err_s = (double)(d + 8) * 1.2e-7 * fabs(scale) * mag_max;
        tol = vmax * (2.0 * ulp + 4.0 * err_s + 1e-5) + 1e-6;
        lse_tol = 1e-3 + 1e-4 * fabs(lse_ref) + 2.0 * err_s;
        for (e = 0; e < d; ++e) {
          const double g_e = tu_half_to_double(got[e], p->dtype), want = ref[e];
          if (isnan(want)) {
            if (!isnan(g_e))
              fail_msg("%s: seq %d row %lld head %d out[%d] = %g, reference NaN", what, b, (long long)i, h, e, g_e);
            nonfinite = 1;
          } else if (isinf(want)) {
            if (isfinite(g_e) || (isinf(g_e) && (g_e > 0) != (want > 0)))
              fail_msg("%s: seq %d row %lld head %d out[%d] = %g, reference %g", what, b, (long long)i, h, e, g_e,
                       want);
            nonfinite = 1;
          } else {
            const double err = fabs(g_e - want);
            if (!(err <= tol))
              fail_msg("%s: seq %d row %lld head %d out[%d] = %.9g, reference %.9g (|err| %.3g > tol %.3g; "
                       "max|v| %.3g, score err bound %.3g)",
                       what, b, (long long)i, h, e, g_e, want, err, tol, vmax, err_s);
            if (vmax > 0 && err / vmax > cs->worst_rel)
              cs->worst_rel = err / vmax;
          }
        }
        if (r->lse != NULL) {
          const double got_lse = r->lse[(int64_t)h * p->tq + row];
          if (isnan(lse_ref)) {
            if (!isnan(got_lse))
              fail_msg("%s: seq %d row %lld head %d lse = %g, reference NaN", what, b, (long long)i, h, got_lse);
          } else if (isinf(lse_ref)) {
            if (got_lse != lse_ref)
              fail_msg("%s: seq %d row %lld head %d lse = %g, reference %g", what, b, (long long)i, h, got_lse,
                       lse_ref);
          } else {
            if (!(fabs(got_lse - lse_ref) <= lse_tol))
              fail_msg("%s: seq %d row %lld head %d lse = %.9g, reference %.9g (tol %.3g)", what, b, (long long)i, h,
                       got_lse, lse_ref, lse_tol);
            if (fabs(got_lse - lse_ref) / (1.0 + fabs(lse_ref)) > cs->worst_lse)
              cs->worst_lse = fabs(got_lse - lse_ref) / (1.0 + fabs(lse_ref));
          }
        }
        cs->rows++;
        cs->nonfinite_rows += nonfinite;
      }
  arena_release(s, mark);
}

/* Everything outside `affected` (row, head) pairs is bitwise equal. */
typedef int (*affected_fn)(const sproblem *p, int b, int64_t i, int h, int e, const void *ctx);

static void check_unaffected_equal(const sproblem *p, const sresult *clean, const sresult *dirty, affected_fn fn,
                                   const void *ctx, const char *what, int64_t *n_affected) {
  int b, h, e;
  int64_t i;
  *n_affected = 0;
  for (b = 0; b < p->batch; ++b)
    for (i = 0; i < p->lq[b]; ++i)
      for (h = 0; h < p->hq; ++h) {
        const int64_t row = p->cu_q[b] + i, at = (row * p->hq + h) * p->d;
        int row_affected = 0;
        for (e = 0; e < p->d; ++e) {
          if (fn(p, b, i, h, e, ctx)) {
            row_affected = 1;
            continue;
          }
          if (clean->out[at + e] != dirty->out[at + e])
            fail_msg("%s: seq %d row %lld head %d out[%d] changed (0x%04x -> 0x%04x) though it reads no "
                     "non-finite input",
                     what, b, (long long)i, h, e, clean->out[at + e], dirty->out[at + e]);
        }
        *n_affected += row_affected;
        if (clean->lse != NULL && !fn(p, b, i, h, -1, ctx) &&
            memcmp(&clean->lse[(int64_t)h * p->tq + row], &dirty->lse[(int64_t)h * p->tq + row], 4) != 0)
          fail_msg("%s: seq %d row %lld head %d lse changed (%g -> %g) though it reads no non-finite input", what, b,
                   (long long)i, h, clean->lse[(int64_t)h * p->tq + row], dirty->lse[(int64_t)h * p->tq + row]);
      }
}

static void print_stats(const stress_state *s, const char *what, const check_stats *cs) {
  print_message("%-5s %-58s %6lld rows (%lld non-finite by policy), worst |err|/max|v| %.2e, lse |err|/(1+|lse|) %.2e\n",
                cuda(s) ? "cuda" : "cpu", what, (long long)cs->rows, (long long)cs->nonfinite_rows, cs->worst_rel,
                cs->worst_lse);
}

/* ------------------------------------------------------------ large magnitudes */

static const fa_dtype k_dtypes[2] = {FA_DTYPE_BF16, FA_DTYPE_FP16};

/* Scores near the limits, computed exactly: q = M * a with a_e in
 * {+-2, +-3, +-4}, keys N * b with b_e in [-4, 4], and the dominant key of
 * sequence b at position pos[b] equal to N * 3a. Its score beats every other
 * by at least M N |scale| 4 d (3 a_e^2 - 4 |a_e| >= 4): the softmax is
 * one-hot, so out = v[pos] (to 1 ulp) and lse = its score (relative 1e-6).
 * M, N powers of two: fp16 q up to 2^15, k up to 1.5 * 2^15 (near 65504),
 * scores ~6e10; bf16 q, k ~2^52, scores ~2e33 (near the fp32 limit). */
static void dominant_case(stress_state *s, fa_dtype dt, int d, double scale, int mag_log2, tu_rng *rng,
                          check_stats *cs) {
  static const int64_t lq[3] = {3, 1, 4}, lk[3] = {300, 5, 129};
  const int64_t pos[3] = {0, 4, 77};
  const double M = ldexp(1.0, mag_log2), N = ldexp(1.0, dt == FA_DTYPE_FP16 ? mag_log2 - 1 : mag_log2);
  sproblem p;
  sresult r;
  int b, h, e;
  int64_t i, j;
  char what[160];
  sp_init(s, &p, dt, d, 2, 1, 3, lq, lk);
  p.scale = (float)scale;
  snprintf(what, sizeof what, "dominant key, %s d%d, |q| %.0e, |k| %.0e, scale %g", fa_dtype_name(dt), d, 4 * M,
           12 * N, scale);
  tu_fill_random(p.v, (size_t)(p.tk * p.d), dt, 1.0, rng);
  for (b = 0; b < 3; ++b) {
    int a[512];
    for (e = 0; e < d; ++e)
      a[e] = (2 + (int)(tu_rng_next(rng) % 3)) * ((tu_rng_next(rng) & 1) ? 1 : -1);
    for (i = 0; i < lq[b]; ++i)
      for (h = 0; h < 2; ++h)
        for (e = 0; e < d; ++e)
          qrow(&p, p.cu_q[b] + i, h)[e] = tu_double_to_half(M * a[e], dt);
    for (j = 0; j < lk[b]; ++j)
      for (e = 0; e < d; ++e)
        krow(&p, p.cu_k[b] + j, 0)[e] =
            tu_double_to_half(N * (j == pos[b] ? 3 * a[e] : (int)(tu_rng_next(rng) % 9) - 4), dt);
  }
  run(s, &p, &k_default_opts, &r);
  for (b = 0; b < 3; ++b)
    for (i = 0; i < lq[b]; ++i)
      for (h = 0; h < 2; ++h) {
        const int64_t row = p.cu_q[b] + i;
        const uint16_t *vd = vrow(&p, p.cu_k[b] + pos[b], 0);
        double s_dom = 0.0, got_lse;
        for (e = 0; e < d; ++e) {
          const double want = tu_half_to_double(vd[e], dt);
          const double got = tu_half_to_double(r.out[(row * 2 + h) * d + e], dt);
          const double ulp = fabs(want) * (dt == FA_DTYPE_BF16 ? 1.0 / 128 : 1.0 / 1024);
          if (!(fabs(got - want) <= ulp))
            fail_msg("%s: seq %d row %lld head %d out[%d] = %.9g, expected v[dominant] = %.9g", what, b, (long long)i,
                     h, e, got, want);
          s_dom += tu_half_to_double(qrow(&p, row, h)[e], dt) * tu_half_to_double(krow(&p, p.cu_k[b] + pos[b], 0)[e], dt);
        }
        s_dom *= sp_scale(&p);
        got_lse = r.lse[(int64_t)h * p.tq + row];
        if (!(fabs(got_lse - s_dom) <= 1e-6 * fabs(s_dom) + 1e-3))
          fail_msg("%s: seq %d row %lld head %d lse = %.9g, expected the dominant score %.9g", what, b, (long long)i, h,
                   got_lse, s_dom);
      }
  check_ref(s, &p, &r, what, cs);
  print_stats(s, what, cs);
}

static void test_dominant_key(void **state) {
  stress_state *s = (stress_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  int t;
  need_backend(s);
  for (t = 0; t < 2; ++t) {
    const fa_dtype dt = k_dtypes[t];
    check_stats cs;
    memset(&cs, 0, sizeof cs);
    dominant_case(s, dt, 64, 0.0, 0, &rng, &cs); /* small: gap 4 d / 8 = 32 nats */
    memset(&cs, 0, sizeof cs);
    dominant_case(s, dt, 128, 1.0, dt == FA_DTYPE_FP16 ? 13 : 52, &rng, &cs);
    memset(&cs, 0, sizeof cs);
    dominant_case(s, dt, 64, 0.0, dt == FA_DTYPE_FP16 ? 13 : 52, &rng, &cs);
  }
}

/* All keys equal: every score is the same (bitwise, in any kernel), so
 * out = mean of the visible v and lse = score + ln(keys seen). Magnitudes
 * as above (score ~6e10 fp16, ~1e33 bf16), scale 1.0, and q = 0. */
static void test_all_equal_scores(void **state) {
  stress_state *s = (stress_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  static const int64_t lq[2] = {5, 3}, lk[2] = {200, 2};
  int t, zero_q;
  need_backend(s);
  for (t = 0; t < 2; ++t)
    for (zero_q = 0; zero_q < 2; ++zero_q) {
      const fa_dtype dt = k_dtypes[t];
      const double M = zero_q ? 0.0 : ldexp(1.0, dt == FA_DTYPE_FP16 ? 13 : 52);
      sproblem p;
      sresult r;
      check_stats cs;
      int b, h, e;
      int64_t i, j;
      char what[160];
      memset(&cs, 0, sizeof cs);
      sp_init(s, &p, dt, 64, 2, 2, 2, lq, lk);
      p.scale = 1.0f;
      p.wl = -1, p.wr = 0; /* causal: rows see 196..200 keys of 200; 0, 1, 2 of 2 */
      snprintf(what, sizeof what, "all-equal scores, %s, |q| %.0e, scale 1, causal", fa_dtype_name(dt), 4 * M);
      tu_fill_random(p.v, (size_t)(p.tk * 2 * 64), dt, 1.0, &rng);
      for (b = 0; b < 2; ++b) {
        for (i = 0; i < lq[b]; ++i)
          for (h = 0; h < 2; ++h)
            for (e = 0; e < 64; ++e)
              qrow(&p, p.cu_q[b] + i, h)[e] = tu_double_to_half(M * (e % 3 == 0 ? 4 : -2), dt);
        for (j = 0; j < lk[b]; ++j)
          for (h = 0; h < 2; ++h)
            for (e = 0; e < 64; ++e)
              krow(&p, p.cu_k[b] + j, h)[e] = tu_double_to_half(ldexp(1.0, dt == FA_DTYPE_FP16 ? 12 : 52) * (e % 2 ? 3 : -1), dt);
      }
      run(s, &p, &k_default_opts, &r);
      for (b = 0; b < 2; ++b)
        for (i = 0; i < lq[b]; ++i)
          for (h = 0; h < 2; ++h) {
            const int64_t row = p.cu_q[b] + i, seen = i + lk[b] - lq[b] + 1;
            double score = 0.0, got_lse;
            if (seen <= 0) { /* sees no key */
              for (e = 0; e < 64; ++e)
                if (r.out[(row * 2 + h) * 64 + e] & 0x7fff)
                  fail_msg("%s: seq %d row %lld sees no key but out[%d] is not 0", what, b, (long long)i, e);
              if (!(isinf(r.lse[(int64_t)h * p.tq + row]) && r.lse[(int64_t)h * p.tq + row] < 0))
                fail_msg("%s: seq %d row %lld sees no key but lse = %g", what, b, (long long)i,
                         r.lse[(int64_t)h * p.tq + row]);
              continue;
            }
            for (e = 0; e < 64; ++e) {
              double mean = 0.0, got = tu_half_to_double(r.out[(row * 2 + h) * 64 + e], dt);
              for (j = 0; j < seen; ++j)
                mean += tu_half_to_double(vrow(&p, p.cu_k[b] + j, h)[e], dt);
              mean /= (double)seen;
              if (!(fabs(got - mean) <= (dt == FA_DTYPE_BF16 ? 1.0 / 128 : 1.0 / 1024) * 4.0 + 1e-5))
                fail_msg("%s: seq %d row %lld head %d out[%d] = %.9g, expected the mean %.9g of %lld values", what, b,
                         (long long)i, h, e, got, mean, (long long)seen);
              score += tu_half_to_double(qrow(&p, row, h)[e], dt) * tu_half_to_double(krow(&p, p.cu_k[b], h)[e], dt);
            }
            got_lse = r.lse[(int64_t)h * p.tq + row];
            if (!(fabs(got_lse - (score + log((double)seen))) <= 1e-6 * fabs(score) + 1e-4))
              fail_msg("%s: seq %d row %lld head %d lse = %.9g, expected score + ln(%lld) = %.9g", what, b,
                       (long long)i, h, got_lse, (long long)seen, score + log((double)seen));
          }
      check_ref(s, &p, &r, what, &cs);
      print_stats(s, what, &cs);
    }
}

/* Random q, k with scale 1.0 and score standard deviations of 40 and 400
 * (peaky softmax, fp32 score errors matter): the reference comparison
 * accounts for them (see check_ref). GQA 4/2, varlen, sinks, lse. */
static void test_large_random_scores(void **state) {
  stress_state *s = (stress_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  static const int64_t lq[3] = {17, 1, 40}, lk[3] = {33, 64, 40};
  static const double stds[2] = {40.0, 400.0};
  int t, k, h;
  need_backend(s);
  for (t = 0; t < 2; ++t)
    for (k = 0; k < 2; ++k) {
      const fa_dtype dt = k_dtypes[t];
      const int d = 128;
      const double sigma = sqrt(stds[k] / sqrt((double)d)); /* std(q.k) = sigma^2 sqrt(d) */
      sproblem p;
      sresult r;
      check_stats cs;
      float sinks[4];
      char what[160];
      memset(&cs, 0, sizeof cs);
      sp_init(s, &p, dt, d, 4, 2, 3, lq, lk);
      p.scale = 1.0f;
      for (h = 0; h < 4; ++h)
        sinks[h] = (float)(stds[k] * (tu_rng_uniform(&rng) - 0.5));
      p.sinks = sinks;
      snprintf(what, sizeof what, "random scores, std %.0f, %s d%d, scale 1, sinks", stds[k], fa_dtype_name(dt), d);
      sp_fill(&p, sigma, sigma, 1.0, &rng);
      run(s, &p, &k_default_opts, &r);
      check_ref(s, &p, &r, what, &cs);
      print_stats(s, what, &cs);
    }
}

/* Scores that rise from key tile to key tile: keys scaled by
 * 1 + (j mod 1024) / 64, so with unit q and k each 128-key tile's largest
 * score passes the last tile's by about 7 nats (a weight of ~2^10, past the
 * lazy rule's 2^8), and every 1024th key falls back (the tiles after it
 * keep their maxima). Unmasked and causal, with a second sequence whose rows
 * see more keys than they have rows, at every head dim whose GPU kernels
 * take the speculative lazy rule (cuda/wgmma/gemm_softmax.cuh
 * online_softmax_speculative: most key tiles fail its check and take the
 * rule per row again; the other tests' random scores rarely do; d192's
 * rows below 1024 / 2048 keys run its serial kernel, whose lazy rule per
 * warp rescales on them); on the GPU also 8320 keys at d128 and 2100 at
 * d192, long-key kernels with the rule. */
static void rising_scores_case(stress_state *s, tu_rng *rng, fa_dtype dt, int d, int causal, int batch,
                               const int64_t *lq, const int64_t *lk) {
  sproblem p;
  sresult r;
  check_stats cs;
  char what[160];
  int b, e;
  int64_t j;
  memset(&cs, 0, sizeof cs);
  sp_init(s, &p, dt, d, 2, 1, batch, lq, lk);
  sp_fill(&p, 1.0, 1.0, 1.0, rng);
  for (b = 0; b < batch; ++b)
    for (j = 0; j < lk[b]; ++j) {
      uint16_t *kr = krow(&p, p.cu_k[b] + j, 0);
      for (e = 0; e < d; ++e)
        kr[e] = tu_double_to_half(tu_half_to_double(kr[e], dt) * (1.0 + (double)(j % 1024) / 64), dt);
    }
  if (causal) p.wl = -1, p.wr = 0;
  snprintf(what, sizeof what, "rising scores over key tiles, %s d%d, %lld keys, %s", fa_dtype_name(dt), d,
           (long long)lk[batch - 1], causal ? "causal" : "no mask");
  run(s, &p, &k_default_opts, &r);
  check_ref(s, &p, &r, what, &cs);
  print_stats(s, what, &cs);
}

static void test_rising_scores(void **state) {
  stress_state *s = (stress_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  static const int dims[5] = {32, 64, 96, 128, 192};
  static const int64_t lq[2] = {600, 200}, lk[2] = {600, 700}, long_q = 64, long_k = 8320, long_k192 = 2100;
  int t, di, causal;
  need_backend(s);
  for (t = 0; t < 2; ++t) {
    for (di = 0; di < 5; ++di)
      for (causal = 0; causal < 2; ++causal) rising_scores_case(s, &rng, k_dtypes[t], dims[di], causal, 2, lq, lk);
    if (cuda(s)) {
      /* the long-key kernels: d128 none from 8192 keys, d192 from 2048 */
      rising_scores_case(s, &rng, k_dtypes[t], 128, 0, 1, &long_q, &long_k);
      for (causal = 0; causal < 2; ++causal) rising_scores_case(s, &rng, k_dtypes[t], 192, causal, 1, &long_q, &long_k192);
    }
  }
}

/* ------------------------------------------------------------ long rows */

/* 128k keys: a few query rows (CPU: one head; CUDA: more rows and heads),
 * random, then with a sink and a window, then one dominant key at 100000
 * and all-equal keys (denominator exactly 131072). */
static void test_long_rows(void **state) {
  stress_state *s = (stress_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  const int64_t lk = 131072;
  const int64_t lq = cuda(s) ? 16 : 3;
  const int heads = cuda(s) ? 2 : 1;
  const int d = 64;
  int t, variant;
  need_backend(s);
  for (t = 0; t < 2; ++t) {
    const fa_dtype dt = k_dtypes[t];
    sproblem p;
    uint16_t *q0, *k0;
    sp_init(s, &p, dt, d, heads, 1, 1, &lq, &lk);
    sp_fill(&p, 1.0, 1.0, 1.0, &rng); /* once per dtype (filling 2 x 8M values is the slow part) */
    q0 = (uint16_t *)keep_alloc(s, (size_t)(lq * heads * d) * 2);
    k0 = (uint16_t *)keep_alloc(s, (size_t)(lk * d) * 2);
    memcpy(q0, p.q, (size_t)(lq * heads * d) * 2);
    memcpy(k0, p.k, (size_t)(lk * d) * 2);
    for (variant = 0; variant < 4; ++variant) {
      sresult r;
      check_stats cs;
      float sinks[2] = {3.0f, -1.0f};
      char what[160];
      int64_t i, j;
      int h, e;
      memset(&cs, 0, sizeof cs);
      memcpy(p.q, q0, (size_t)(lq * heads * d) * 2);
      memcpy(p.k, k0, (size_t)(lk * d) * 2);
      p.sinks = NULL;
      p.wl = p.wr = -1;
      if (variant == 1) {
        p.sinks = sinks;
        p.wl = 100000, p.wr = 0; /* local: about 100k keys per row */
      }
      if (variant == 2) /* key 100000 dominant: k = 4 q (q shared by all rows) */
        for (i = 0; i < lq; ++i)
          for (h = 0; h < heads; ++h)
            for (e = 0; e < d; ++e) {
              qrow(&p, i, h)[e] = q0[e];
              krow(&p, 100000, 0)[e] = tu_double_to_half(4.0 * tu_half_to_double(q0[e], dt), dt);
            }
      if (variant == 3) /* all keys equal */
        for (j = 1; j < lk; ++j)
          memcpy(krow(&p, j, 0), krow(&p, 0, 0), (size_t)d * 2);
      snprintf(what, sizeof what, "%lld keys, %lld rows x %d heads, %s%s", (long long)lk, (long long)lq, heads,
               fa_dtype_name(dt),
               variant == 0 ? "" : variant == 1 ? ", sink, window (100000, 0)" : variant == 2 ? ", one dominant key"
                                                                                              : ", all keys equal");
      run(s, &p, &k_default_opts, &r);
      check_ref(s, &p, &r, what, &cs);
      print_stats(s, what, &cs);
    }
  }
}

/* ------------------------------------------------------------ LSE consistency */

/* out must equal sum_j exp(s_j - lse) v_j with the kernel's own lse (the
 * sink, having no value, only enters lse), and sum_j exp(s_j - lse)
 * + exp(sink - lse) must be 1: out and lse describe the same softmax. */
static void test_lse_consistency(void **state) {
  stress_state *s = (stress_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  static const int64_t lq[3] = {30, 1, 7}, lk[3] = {45, 90, 7};
  int t, variant;
  need_backend(s);
  for (t = 0; t < 2; ++t)
    for (variant = 0; variant < 3; ++variant) {
      const fa_dtype dt = k_dtypes[t];
      const int d = 96;
      const double ulp = dt == FA_DTYPE_BF16 ? 1.0 / 128 : 1.0 / 1024;
      sproblem p;
      sresult r;
      float sinks[6];
      double worst = 0.0, worst_norm = 0.0;
      int b, h, e;
      int64_t i, j;
      sp_init(s, &p, dt, d, 6, 2, 3, lq, lk);
      sp_fill(&p, 1.0, 1.0, 1.0, &rng);
      for (h = 0; h < 6; ++h)
        sinks[h] = (float)(2.0 * tu_rng_normal(&rng));
      if (variant == 1)
        p.wl = 9, p.wr = 3, p.softcap = 5.0f, p.scale = 0.3f;
      if (variant == 2)
        p.sinks = sinks, p.wl = -1, p.wr = 0, p.scale = -0.2f;
      run(s, &p, &k_default_opts, &r);
      for (b = 0; b < 3; ++b)
        for (i = 0; i < lq[b]; ++i)
          for (h = 0; h < 6; ++h) {
            const int64_t row = p.cu_q[b] + i;
            const int g = h / 3;
            const double lse = r.lse[(int64_t)h * p.tq + row];
            double acc[256], norm = p.sinks ? exp((double)p.sinks[h] - lse) : 0.0, vmax = 0.0;
            int any = 0;
            for (e = 0; e < d; ++e)
              acc[e] = 0.0;
            for (j = 0; j < lk[b]; ++j) {
              double sc = 0.0, w;
              if (!ref_key_visible(i, j, lq[b], lk[b], p.wl, p.wr))
                continue;
              any = 1;
              for (e = 0; e < d; ++e)
                sc += tu_half_to_double(qrow(&p, row, h)[e], dt) * tu_half_to_double(krow(&p, p.cu_k[b] + j, g)[e], dt);
              sc *= sp_scale(&p);
              if (p.softcap > 0.f)
                sc = p.softcap * tanh(sc / p.softcap);
              w = exp(sc - lse);
              norm += w;
              for (e = 0; e < d; ++e) {
                const double ve = tu_half_to_double(vrow(&p, p.cu_k[b] + j, g)[e], dt);
                acc[e] += w * ve;
                if (fabs(ve) > vmax)
                  vmax = fabs(ve);
              }
            }
            if (!any && !p.sinks)
              continue; /* lse -inf: checked by the reference tests */
            if (!(fabs(norm - 1.0) <= 1e-4))
              fail_msg("variant %d, %s: seq %d row %lld head %d: sum_j exp(s_j - lse) = %.9g, not 1", variant,
                       fa_dtype_name(dt), b, (long long)i, h, norm);
            if (fabs(norm - 1.0) > worst_norm)
              worst_norm = fabs(norm - 1.0);
            for (e = 0; e < d; ++e) {
              const double got = tu_half_to_double(r.out[(row * 6 + h) * d + e], dt);
              if (!(fabs(got - acc[e]) <= vmax * (2.0 * ulp + 2e-4) + 1e-6))
                fail_msg("variant %d, %s: seq %d row %lld head %d: out[%d] = %.9g but sum_j exp(s_j - lse) v_j = "
                         "%.9g",
                         variant, fa_dtype_name(dt), b, (long long)i, h, e, got, acc[e]);
              if (vmax > 0 && fabs(got - acc[e]) / vmax > worst)
                worst = fabs(got - acc[e]) / vmax;
            }
          }
      print_message("%-5s lse consistency %-42s |sum exp(s - lse) - 1| <= %.2e, |out - sum exp(s - lse) v| / max|v| "
                    "<= %.2e\n",
                    cuda(s) ? "cuda" : "cpu",
                    variant == 0 ? "(plain)" : variant == 1 ? "(window, softcap, scale 0.3)" : "(causal, sinks, scale -0.2)",
                    worst_norm, worst);
      (void)fa_dtype_name(dt);
    }
}

/* ------------------------------------------------------------ non-finite inputs */

/*
 * Policy (verified here, per backend):
 *  P1 containment: a non-finite input changes only the outputs of the
 *     (row, head) pairs that read it - a q row: that pair; k or v row j of
 *     key/value head g: the rows that see key j, in the query heads of g.
 *     Everything else is bitwise identical to the run without it.
 *  P2 what the affected pairs get is what IEEE arithmetic gives through the
 *     definition (the double reference): a NaN in q or in a visible k row
 *     makes the whole row NaN and lse NaN; a NaN or inf in v[j][e] makes
 *     only out[e] of the rows seeing j non-finite, their other elements
 *     and lse unchanged.
 *  P3 a key whose score is -inf (here -inf in k against a positive q
 *     element) is ignored as if masked; a row whose every key scores -inf
 *     is an empty row: zeros, lse -inf.
 *  P4 a sink of -inf is no sink (bitwise).
 */
typedef struct nf_ctx {
  int kind;    /* 0: q element, 1: k element, 2: v element */
  int b;       /* sequence */
  int64_t row; /* q row within the sequence, or key */
  int head;    /* q head, or kv head */
  int elem;
  int group;   /* heads_q / heads_k */
  int block_m; /* CUDA: query rows per thread block; 0 on the CPU */
} nf_ctx;

/* Query rows per thread block of the CUDA kernels of this head dim and
 * dtype (every architecture shares the tile shape), from the public table. */
static int cuda_block_m(int head_dim, fa_dtype dtype) {
  fa_kernel_info info = FA_KERNEL_INFO_INIT;
  size_t i;
  for (i = 0; i < fa_kernel_count(); ++i)
    if (fa_kernel_info_get(i, &info) == FA_OK && info.backend == FA_BACKEND_CUDA && info.head_dim == head_dim &&
        info.dtype == dtype)
      return info.block_m;
  return 0;
}

/* Whether the query block of row i (CUDA) visits key j: some row of it sees j. */
static int block_visits_key(const sproblem *p, int b, int64_t i, int64_t j, int block_m) {
  const int64_t r0 = i / block_m * block_m, r1 = r0 + block_m < p->lq[b] ? r0 + block_m : p->lq[b];
  int64_t r;
  for (r = r0; r < r1; ++r)
    if (ref_key_visible(r, j, p->lq[b], p->lk[b], p->wl, p->wr))
      return 1;
  return 0;
}

static int nf_affected(const sproblem *p, int b, int64_t i, int h, int e, const void *vctx) {
  const nf_ctx *c = (const nf_ctx *)vctx;
  if (b != c->b)
    return 0;
  if (c->kind == 0)
    return i == c->row && h == c->head;
  if (h / c->group != c->head)
    return 0;
  if (ref_key_visible(i, c->row, p->lq[b], p->lk[b], p->wl, p->wr))
    return c->kind == 1 || e == c->elem; /* v: only that element (e = -1: lse, not affected) */
  /* CUDA only (README, "NaN / inf inputs"): P V runs on whole key tiles, so a
   * non-finite v[j][e] also reaches out[e] of rows of its query block that
   * the mask hides j from (0 x NaN = NaN). k is masked before the softmax. */
  return c->kind == 2 && c->block_m > 0 && e == c->elem && block_visits_key(p, b, i, c->row, c->block_m);
}

/* CUDA, non-finite v: the rows that see the key must have a non-finite
 * out[elem] (the reference cannot judge the rows the tile rule adds). */
static void check_v_rows_nonfinite(const sproblem *p, const sresult *r, const nf_ctx *c, const char *what) {
  int64_t i;
  int h;
  for (i = 0; i < p->lq[c->b]; ++i)
    for (h = 0; h < p->hq; ++h)
      if (h / c->group == c->head && ref_key_visible(i, c->row, p->lq[c->b], p->lk[c->b], p->wl, p->wr)) {
        const double g = tu_half_to_double(r->out[((p->cu_q[c->b] + i) * p->hq + h) * p->d + c->elem], p->dtype);
        if (isfinite(g))
          fail_msg("%s: seq %d row %lld head %d out[%d] = %g is finite though the row reads the non-finite value",
                   what, c->b, (long long)i, h, c->elem, g);
      }
}

static void test_nonfinite_inputs(void **state) {
  stress_state *s = (stress_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  static const int64_t lq[2] = {5, 9}, lk[2] = {7, 12};
  static const float values[3] = {NAN, INFINITY, -INFINITY};
  static const char *const names[3] = {"NaN", "+inf", "-inf"};
  int t, kind, vi;
  need_backend(s);
  for (t = 0; t < 2; ++t) {
    const fa_dtype dt = k_dtypes[t];
    sproblem p;
    sresult clean;
    check_stats cs;
    memset(&cs, 0, sizeof cs);
    sp_init(s, &p, dt, 64, 4, 2, 2, lq, lk);
    sp_fill(&p, 1.0, 1.0, 1.0, &rng);
    p.wl = -1, p.wr = 0; /* causal: "rows that see key j" is a proper subset */
    run(s, &p, &k_default_opts, &clean);
    check_ref(s, &p, &clean, "non-finite: clean run", &cs);

    /* P1, P2: NaN / +inf / -inf in one element of q, k or v. */
    for (kind = 0; kind < 3; ++kind)
      for (vi = 0; vi < 3; ++vi) {
        nf_ctx c;
        sresult dirty;
        uint16_t *at, saved;
        int64_t n_aff;
        char what[160];
        c.kind = kind, c.b = 1, c.row = kind == 0 ? 6 : 4, c.head = kind == 0 ? 3 : 1, c.elem = 11, c.group = 2;
        c.block_m = cuda(s) ? cuda_block_m(p.d, dt) : 0;
        at = (kind == 0 ? qrow(&p, p.cu_q[1] + c.row, c.head) : kind == 1 ? krow(&p, p.cu_k[1] + c.row, c.head)
                                                                           : vrow(&p, p.cu_k[1] + c.row, c.head)) +
             c.elem;
        saved = *at;
        *at = tu_double_to_half(values[vi], dt);
        snprintf(what, sizeof what, "%s in %s, %s", names[vi], kind == 0 ? "q" : kind == 1 ? "k" : "v",
                 fa_dtype_name(dt));
        run(s, &p, &k_default_opts, &dirty);
        check_unaffected_equal(&p, &clean, &dirty, nf_affected, &c, what, &n_aff);
        memset(&cs, 0, sizeof cs);
        if (kind == 2 && c.block_m > 0) {
          check_v_rows_nonfinite(&p, &dirty, &c, what);
          cs.nonfinite_rows = n_aff;
        } else {
          check_ref(s, &p, &dirty, what, &cs);
        }
        if (n_aff == 0 || (vi == 0 && cs.nonfinite_rows == 0))
          fail_msg("%s: the test did not affect any row (%lld, %lld non-finite)", what, (long long)n_aff,
                   (long long)cs.nonfinite_rows);
        print_message("%-5s %-24s %3lld (row, head) pairs read it, %3lld non-finite per the reference; "
                      "all others bitwise unchanged\n",
                      cuda(s) ? "cuda" : "cpu", what, (long long)n_aff, (long long)cs.nonfinite_rows);
        *at = saved;
      }

    /* P3: -inf scores. Key 4 of sequence 1, kv head 0: k = (-inf at e0,
     * 0 elsewhere), every q element 0 of that sequence made positive. */
    {
      sproblem p3 = p;
      sresult r3;
      int64_t i, j;
      int h, e;
      p3.q = (uint16_t *)keep_alloc(s, (size_t)(p.tq * p.hq * p.d) * 2);
      p3.k = (uint16_t *)keep_alloc(s, (size_t)(p.tk * p.hk * p.d) * 2);
      memcpy(p3.q, p.q, (size_t)(p.tq * p.hq * p.d) * 2);
      memcpy(p3.k, p.k, (size_t)(p.tk * p.hk * p.d) * 2);
      for (i = 0; i < p.tq; ++i)
        for (h = 0; h < p.hq; ++h)
          qrow(&p3, i, h)[0] = tu_double_to_half(fabs(tu_half_to_double(qrow(&p3, i, h)[0], dt)), dt);
      for (e = 0; e < p.d; ++e)
        krow(&p3, p.cu_k[1] + 4, 0)[e] = tu_double_to_half(e == 0 ? -INFINITY : 0.0, dt);
      /* Sequence 0: every key of kv head 1 scores -inf. */
      for (j = 0; j < lk[0]; ++j)
        for (e = 0; e < p.d; ++e)
          krow(&p3, p.cu_k[0] + j, 1)[e] = tu_double_to_half(e == 0 ? -INFINITY : 0.0, dt);
      run(s, &p3, &k_default_opts, &r3);
      memset(&cs, 0, sizeof cs);
      check_ref(s, &p3, &r3, "-inf scores (one key; every key of a head)", &cs);
      for (i = 0; i < lq[0]; ++i)
        for (h = 2; h < 4; ++h) {
          for (e = 0; e < p.d; ++e)
            if (r3.out[((p.cu_q[0] + i) * p.hq + h) * p.d + e] & 0x7fff)
              fail_msg("%s: seq 0 row %lld head %d: every key scores -inf but out[%d] = %g", fa_dtype_name(dt),
                       (long long)i, h, e, tu_half_to_double(r3.out[((p.cu_q[0] + i) * p.hq + h) * p.d + e], dt));
          if (!(isinf(r3.lse[(int64_t)h * p.tq + p.cu_q[0] + i]) && r3.lse[(int64_t)h * p.tq + p.cu_q[0] + i] < 0))
            fail_msg("%s: seq 0 row %lld head %d: every key scores -inf but lse = %g", fa_dtype_name(dt), (long long)i,
                     h, r3.lse[(int64_t)h * p.tq + p.cu_q[0] + i]);
        }
      print_message("%-5s %-24s a key scoring -inf is ignored; rows whose every key scores -inf are empty "
                    "(zeros, lse -inf)\n",
                    cuda(s) ? "cuda" : "cpu", fa_dtype_name(dt));
    }

    /* P4: sinks of -inf are no sinks. */
    {
      float sinks[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
      sresult r4;
      p.sinks = sinks;
      run(s, &p, &k_default_opts, &r4);
      p.sinks = NULL;
      if (memcmp(r4.out, clean.out, (size_t)(p.tq * p.hq * p.d) * 2) != 0 ||
          memcmp(r4.lse, clean.lse, (size_t)(p.tq * p.hq) * 4) != 0)
        fail_msg("%s: sinks of -inf changed the result (they must equal no sinks)", fa_dtype_name(dt));
    }
  }
}

/* ------------------------------------------------------------ parameter extremes */

/*
 * Regression (found by tests/fuzz_fwd.c, tests/fuzz_regressions/
 * softcap_flt_max_nan; fixed in 99fa0c2): scale and softcap were only
 * checked to be finite, but the fp32 constants derived from them
 * (scale * log2(e), softcap * log2(e), scale / softcap) overflowed and the
 * kernels produced NaN from finite inputs whose scores are finite (q = 0
 * makes every score 0). Either outcome is acceptable: FA_ERR_INVALID_SCALE /
 * _SOFTCAP for such values (what src/api.c does now: bounds of 1e30), or a
 * finite result equal to the reference.
 */
static void test_extreme_scale_softcap(void **state) {
  stress_state *s = (stress_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  static const int64_t lq = 3, lk = 7;
  static const struct {
    float scale, softcap;
    int zero_q;
    const char *what;
  } k_cases[] = {
      {0.f, 3.4028235e38f, 0, "softcap FLT_MAX"},
      {0.f, 3e38f, 0, "softcap 3e38"},
      {1.f, 1e-40f, 1, "softcap 1e-40 (subnormal), q = 0"},
      {3e38f, 0.f, 1, "scale 3e38, q = 0"},
      {-3.4028235e38f, 0.f, 1, "scale -FLT_MAX, q = 0"},
      {1e30f, 0.f, 1, "scale 1e30, q = 0"},
      {0.f, 1e30f, 0, "softcap 1e30"},
  };
  size_t c;
  int failures = 0;
  need_backend(s);
  for (c = 0; c < sizeof k_cases / sizeof k_cases[0]; ++c) {
    sproblem p;
    sresult r;
    fa_message msg;
    fa_status st;
    int64_t n, bad = 0;
    sp_init(s, &p, FA_DTYPE_BF16, 64, 1, 1, 1, &lq, &lk);
    sp_fill(&p, 1.0, 1.0, 1.0, &rng);
    if (k_cases[c].zero_q)
      memset(p.q, 0, (size_t)(p.tq * p.d) * 2);
    p.scale = k_cases[c].scale;
    p.softcap = k_cases[c].softcap;
    st = run_status(s, &p, &k_default_opts, &r, &msg);
    if (st == FA_ERR_INVALID_SCALE || st == FA_ERR_INVALID_SOFTCAP) {
      print_message("%-5s %-36s rejected: %s\n", cuda(s) ? "cuda" : "cpu", k_cases[c].what, msg.text);
      continue;
    }
    if (st != FA_OK)
      fail_msg("%s: fa_fwd returned %s: %s", k_cases[c].what, fa_status_string(st), msg.text);
    for (n = 0; n < p.tq * p.d; ++n)
      bad += !isfinite(tu_half_to_double(r.out[n], p.dtype));
    for (n = 0; n < p.tq; ++n)
      bad += !isfinite(r.lse[n]);
    print_message("%-5s %-36s accepted: %lld of %lld outputs not finite%s\n", cuda(s) ? "cuda" : "cpu",
                  k_cases[c].what, (long long)bad, (long long)(p.tq * (p.d + 1)), bad ? "  <-- BUG" : "");
    if (bad) {
      ++failures;
      continue;
    }
    {
      check_stats cs;
      memset(&cs, 0, sizeof cs);
      check_ref(s, &p, &r, k_cases[c].what, &cs);
    }
  }
  if (failures)
    fail_msg("%d scale/softcap value(s) accepted but giving NaN from finite inputs: reject them "
             "(FA_ERR_INVALID_SCALE / FA_ERR_INVALID_SOFTCAP) or compute them without overflow",
             failures);
}

/*
 * Regression (found by tests/fuzz_fwd.c, tests/fuzz_regressions/
 * api_default_batch_stride_overflow*; fixed in 99fa0c2): a dense call with
 * a huge or negative row stride and no batch stride: src/api.c computed the
 * default batch stride rows * row_stride before checking the row stride, a
 * signed overflow (undefined behaviour, which only UBSan sees: this test
 * matters in sanitize-test). The call must be rejected with FA_ERR_OVERFLOW
 * or FA_ERR_INVALID_STRIDE.
 */
static void test_hostile_default_strides(void **state) {
  stress_state *s = (stress_state *)*state;
  static const int64_t strides[] = {INT64_C(1) << 62, INT64_MAX - 7, INT64_MIN, -(INT64_C(1) << 61), INT64_C(1) << 59};
  static _Alignas(16) uint16_t buf[8 * 64];
  size_t i;
  int t;
  if (cuda(s)) {
    print_message("skipped: the checks are host-side and the same for both backends (run on the CPU)\n");
    skip();
  }
  for (i = 0; i < sizeof strides / sizeof strides[0]; ++i)
    for (t = 0; t < 4; ++t) {
      fa_fwd_params p = fa_fwd_params_default();
      fa_message msg;
      fa_status st;
      int64_t *row[4] = {&p.q_row_stride, &p.k_row_stride, &p.v_row_stride, &p.out_row_stride};
      p.backend = FA_BACKEND_CPU;
      p.batch = 3, p.num_heads_q = p.num_heads_k = 1, p.head_dim = 64;
      p.max_seqlen_q = p.max_seqlen_k = 4; /* dense: no batch strides given */
      p.q = p.k = p.v = buf, p.out = buf + 4 * 64;
      *row[t] = strides[i];
      st = fa_fwd_query(&p, NULL, &msg);
      if (strides[i] == INT64_C(1) << 59) {
        /* 2^59 itself is allowed; 4 rows of it overflow the 2^60 span. */
        if (st != FA_ERR_OVERFLOW)
          fail_msg("row stride 2^59 of tensor %d: %s (%s), expected FA_ERR_OVERFLOW", t, fa_status_string(st),
                   msg.text);
        continue;
      }
      if (st != FA_ERR_OVERFLOW && st != FA_ERR_INVALID_STRIDE)
        fail_msg("row stride %lld of tensor %d: %s (%s), expected FA_ERR_OVERFLOW or FA_ERR_INVALID_STRIDE",
                 (long long)strides[i], t, fa_status_string(st), msg.text);
    }
}

/* ------------------------------------------------------------ determinism */

static int same_result(const sproblem *p, const sresult *a, const sresult *b, int with_lse) {
  return memcmp(a->out, b->out, (size_t)(p->tq * p->hq * p->d) * 2) == 0 &&
         (!with_lse || memcmp(a->lse, b->lse, (size_t)(p->tq * p->hq) * 4) == 0);
}

/* Sequence `b` of `big` equals sequence 0 of `one`, bitwise. */
static int same_sequence(const sproblem *big, const sresult *rb, int b, const sproblem *one, const sresult *r1) {
  int64_t i;
  int h;
  if (memcmp(rb->out + (int64_t)big->cu_q[b] * big->hq * big->d, r1->out, (size_t)(one->tq * one->hq * one->d) * 2) !=
      0)
    return 0;
  for (h = 0; h < one->hq; ++h)
    for (i = 0; i < one->lq[0]; ++i)
      if (memcmp(&rb->lse[(int64_t)h * big->tq + big->cu_q[b] + i], &r1->lse[(int64_t)h * one->tq + i], 4) != 0)
        return 0;
  return 1;
}

/*
 * What is promised (both backends, one build, one device): the same call
 * with the same inputs gives bitwise identical out and lse
 *  - run after run;
 *  - (CUDA) whatever SM count the context claims, i.e. however the work
 *    tiles are spread over blocks (test_grid_independence);
 *  - whatever the other sequences of the batch are, and wherever the
 *    sequence sits in the packed buffers;
 *  - whatever the strides (packed or padded);
 *  - with or without lse requested;
 *  - (CUDA) on any stream, with or without unrelated work running
 *    concurrently on other streams.
 * What is not: bits across backends, GPU architectures, head-dim or tile
 * configurations, library versions, or kernels (a "local" kernel run with
 * fa_fwd_with_kernel on a causal window may round differently from the
 * "causal" kernel fa_fwd picks; reported, not asserted).
 */
static void test_determinism(void **state) {
  stress_state *s = (stress_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  static const int64_t lq3[3] = {37, 130, 5}, lk3[3] = {50, 130, 300};
  int t, k;
  need_backend(s);
  for (t = 0; t < 2; ++t) {
    const fa_dtype dt = k_dtypes[t];
    sproblem p, one;
    sresult first, again, padded, nolse, alone;
    float sinks[8];
    int h;
    sp_init(s, &p, dt, 128, 8, 2, 3, lq3, lk3);
    sp_fill(&p, 1.0, 1.0, 1.0, &rng);
    for (h = 0; h < 8; ++h)
      sinks[h] = (float)tu_rng_normal(&rng);
    p.sinks = sinks;
    p.wl = 40, p.wr = 0;
    p.softcap = 20.f;
    run(s, &p, &k_default_opts, &first);
    for (k = 0; k < 4; ++k) {
      run(s, &p, &k_default_opts, &again);
      if (!same_result(&p, &first, &again, 1))
        fail_msg("%s: run %d differs from run 0", fa_dtype_name(dt), k + 1);
    }
    {
      run_opts o = k_default_opts;
      o.padded = 1;
      run(s, &p, &o, &padded);
      if (!same_result(&p, &first, &padded, 1))
        fail_msg("%s: padded strides change the bits", fa_dtype_name(dt));
      o = k_default_opts;
      o.no_lse = 1;
      run(s, &p, &o, &nolse);
      if (!same_result(&p, &first, &nolse, 0))
        fail_msg("%s: requesting lse changes out", fa_dtype_name(dt));
    }
    /* Sequence 1 alone, at offset 0 of its own buffers. */
    sp_init(s, &one, dt, 128, 8, 2, 1, &lq3[1], &lk3[1]);
    memcpy(one.q, qrow(&p, p.cu_q[1], 0), (size_t)(one.tq * 8 * 128) * 2);
    memcpy(one.k, krow(&p, p.cu_k[1], 0), (size_t)(one.tk * 2 * 128) * 2);
    memcpy(one.v, vrow(&p, p.cu_k[1], 0), (size_t)(one.tk * 2 * 128) * 2);
    one.sinks = sinks, one.wl = p.wl, one.wr = p.wr, one.softcap = p.softcap;
    run(s, &one, &k_default_opts, &alone);
    if (!same_sequence(&p, &first, 1, &one, &alone))
      fail_msg("%s: a sequence computed alone differs from the same sequence inside a batch", fa_dtype_name(dt));

    if (cuda(s)) {
      /* Default (legacy) stream; another stream while unrelated work runs
       * on a third one. */
      const char *why = NULL;
      fa_stream_t other = tu_pool_stream(&s->keep, &why), busy = tu_pool_stream(&s->keep, &why);
      sproblem noise;
      static const int64_t nlq = 512, nlk = 4096;
      sresult r_default, r_other;
      run_opts o = k_default_opts;
      fa_fwd_params np = fa_fwd_params_default();
      fa_message msg;
      void *nq, *nk, *nout;
      int rep;
      if (other == NULL || busy == NULL)
        fail_msg("cudaStreamCreate: %s", why);
      o.use_stream = 1;
      o.stream = NULL;
      run(s, &p, &o, &r_default);
      if (!same_result(&p, &first, &r_default, 1))
        fail_msg("%s: the default stream changes the bits", fa_dtype_name(dt));
      /* Noise: a long dense problem queued several times on `busy`. */
      sp_init(s, &noise, dt, 128, 16, 16, 1, &nlq, &nlk);
      sp_fill(&noise, 1.0, 1.0, 1.0, &rng);
      nq = tu_pool_device(&s->keep, (size_t)(nlq * 16 * 128) * 2, &why);
      nk = tu_pool_device(&s->keep, (size_t)(nlk * 16 * 128) * 2, &why);
      nout = tu_pool_device(&s->keep, (size_t)(nlq * 16 * 128) * 2, &why);
      if (nq == NULL || nk == NULL || nout == NULL)
        fail_msg("cudaMalloc: %s", why);
      if (tu_to_device(nq, noise.q, (size_t)(nlq * 16 * 128) * 2, &why) != 0 ||
          tu_to_device(nk, noise.k, (size_t)(nlk * 16 * 128) * 2, &why) != 0)
        fail_msg("cudaMemcpy: %s", why);
      np.dtype = dt, np.batch = 1, np.num_heads_q = np.num_heads_k = 16, np.head_dim = 128;
      np.max_seqlen_q = (int32_t)nlq, np.max_seqlen_k = (int32_t)nlk;
      np.q = nq, np.k = nk, np.v = nk, np.out = nout, np.stream = busy;
      for (rep = 0; rep < 8; ++rep)
        if (fa_fwd(&np, &msg) != FA_OK)
          fail_msg("noise fa_fwd: %s", msg.text);
      o.stream = other;
      run(s, &p, &o, &r_other);
      if (tu_stream_sync(busy, &why) != 0)
        fail_msg("sync: %s", why);
      if (!same_result(&p, &first, &r_other, 1))
        fail_msg("%s: another stream with concurrent work changes the bits", fa_dtype_name(dt));
    }

    /* Not promised, reported: the local kernel on the causal window. */
    {
      size_t idx_local = SIZE_MAX, i;
      for (i = 0; i < fa_kernel_count(); ++i) {
        fa_kernel_info info = FA_KERNEL_INFO_INIT;
        if (fa_kernel_info_get(i, &info) == FA_OK && info.backend == s->backend && info.head_dim == 128 &&
            info.dtype == dt && info.mask == FA_MASK_LOCAL && (!cuda(s) || info.arch / 10 == s->device->cc_major))
          idx_local = i;
      }
      if (idx_local != SIZE_MAX && !cuda(s)) {
        /* CPU only here (host pointers): causal problem through both kernels. */
        fa_fwd_params prm = fa_fwd_params_default();
        uint16_t *o1 = (uint16_t *)keep_alloc(s, (size_t)(p.tq * 8 * 128) * 2);
        uint16_t *o2 = (uint16_t *)keep_alloc(s, (size_t)(p.tq * 8 * 128) * 2);
        fa_message msg;
        prm.backend = FA_BACKEND_CPU, prm.dtype = dt, prm.batch = 3, prm.num_heads_q = 8, prm.num_heads_k = 2;
        prm.head_dim = 128, prm.cu_seqlens_q = p.cu_q, prm.cu_seqlens_k = p.cu_k, prm.total_q = p.tq;
        prm.total_k = p.tk, prm.max_seqlen_q = 130, prm.max_seqlen_k = 300, prm.q = p.q, prm.k = p.k, prm.v = p.v;
        prm.window_left = -1, prm.window_right = 0;
        prm.out = o1;
        if (fa_fwd(&prm, &msg) != FA_OK)
          fail_msg("fa_fwd: %s", msg.text);
        prm.out = o2;
        if (fa_fwd_with_kernel(&prm, idx_local, &msg) != FA_OK)
          fail_msg("fa_fwd_with_kernel: %s", msg.text);
        print_message("cpu   %s: causal through the causal kernel and through the local kernel: %s (not promised)\n",
                      fa_dtype_name(dt),
                      memcmp(o1, o2, (size_t)(p.tq * 8 * 128) * 2) == 0 ? "bitwise identical" : "bits differ");
      }
    }
    print_message("%-5s %s: 5 repeated runs, padded strides, lse off, sequence alone vs in a batch%s: bitwise "
                  "identical\n",
                  cuda(s) ? "cuda" : "cpu", fa_dtype_name(dt),
                  cuda(s) ? ", default stream, other stream under concurrent work" : "");
  }
}

/* ------------------------------------------------------------ concurrency */

#define N_THREADS 16
#define THREAD_ITERS 4

typedef struct worker {
  stress_state *s;
  sproblem p;
  sresult baseline;  /* single-threaded result, checked against the reference */
  pthread_barrier_t *barrier;
  int invalid;       /* this worker makes invalid calls and checks their messages */
  /* CUDA: device buffers and a stream, made on the main thread */
  fa_fwd_params prm;
  uint16_t *out_host;
  float *lse_host;
  size_t out_bytes, lse_bytes;
  char error[640];
  int calls;
} worker;

static void *worker_main(void *arg) {
  worker *w = (worker *)arg;
  int it;
  pthread_barrier_wait(w->barrier);
  for (it = 0; it < THREAD_ITERS && w->error[0] == '\0'; ++it) {
    fa_message msg;
    fa_status st;
    if (w->invalid) {
      fa_fwd_params bad = w->prm;
      bad.head_dim = 72;
      st = fa_fwd(&bad, &msg);
      ++w->calls;
      if (st != FA_ERR_UNSUPPORTED_HEAD_DIM || strstr(msg.text, "head_dim 72") == NULL)
        snprintf(w->error, sizeof w->error, "invalid call: %s \"%s\"", fa_status_string(st), msg.text);
      continue;
    }
    memset(w->out_host, 0xFF, w->out_bytes);
    memset(w->lse_host, 0xFF, w->lse_bytes);
    if (w->s->backend == FA_BACKEND_CUDA) { /* poison the device outputs too */
      const char *why = NULL;
      if (tu_to_device(w->prm.out, w->out_host, w->out_bytes, &why) != 0 ||
          tu_to_device(w->prm.lse, w->lse_host, w->lse_bytes, &why) != 0) {
        snprintf(w->error, sizeof w->error, "CUDA: %s", why);
        break;
      }
    }
    st = fa_fwd(&w->prm, &msg);
    ++w->calls;
    if (st != FA_OK) {
      snprintf(w->error, sizeof w->error, "fa_fwd: %s: %s", fa_status_string(st), msg.text);
      break;
    }
    if (w->s->backend == FA_BACKEND_CUDA) {
      const char *why = NULL;
      if (tu_stream_sync(w->prm.stream, &why) != 0 ||
          tu_to_host(w->out_host, w->prm.out, w->out_bytes, &why) != 0 ||
          tu_to_host(w->lse_host, w->prm.lse, w->lse_bytes, &why) != 0) {
        snprintf(w->error, sizeof w->error, "CUDA: %s", why);
        break;
      }
    }
    if (memcmp(w->out_host, w->baseline.out, w->out_bytes) != 0 ||
        memcmp(w->lse_host, w->baseline.lse, w->lse_bytes) != 0)
      snprintf(w->error, sizeof w->error, "iteration %d differs (bitwise) from the single-threaded result", it);
  }
  return NULL;
}

static void test_concurrency(void **state) {
  stress_state *s = (stress_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  worker *w;
  pthread_t tid[N_THREADS];
  pthread_barrier_t barrier;
  int dims[16], n_dims = 0, i;
  size_t k;
  const char *why = NULL;
  need_backend(s);
  w = (worker *)keep_alloc(s, N_THREADS * sizeof *w); /* freed at teardown, even when a check fails */
  memset(w, 0, N_THREADS * sizeof *w);
  for (k = 0; k < fa_kernel_count() && n_dims < 16; ++k) {
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    int j;
    if (fa_kernel_info_get(k, &info) != FA_OK || info.backend != s->backend)
      continue;
    for (j = 0; j < n_dims && dims[j] != info.head_dim; ++j) {
    }
    if (j == n_dims)
      dims[n_dims++] = info.head_dim;
  }
  if (n_dims == 0)
    fail_msg("%s", "no kernel for this backend in the table");
  pthread_barrier_init(&barrier, NULL, N_THREADS);
  /* Shapes, references and single-threaded baselines, on this thread. */
  for (i = 0; i < N_THREADS; ++i) {
    const fa_dtype dt = k_dtypes[i % 2];
    const int d = dims[i % n_dims];
    const int hk = 1 + i % 3, hq = hk * (1 + (i / 3) % 3);
    const int64_t lq[2] = {1 + (i * 7) % 50, (i * 13) % 40}, lk[2] = {1 + (i * 11) % 90, 5 + (i * 3) % 60};
    check_stats cs;
    char what[96];
    memset(&cs, 0, sizeof cs);
    w[i].s = s;
    w[i].barrier = &barrier;
    w[i].invalid = i == N_THREADS - 1;
    sp_init(s, &w[i].p, dt, d, hq, hk, 2, lq, lk);
    sp_fill(&w[i].p, 1.0, 1.0, 1.0, &rng);
    if (i % 4 == 1)
      w[i].p.wl = -1, w[i].p.wr = 0;
    if (i % 4 == 2)
      w[i].p.wl = 5 + i, w[i].p.wr = i % 3;
    run(s, &w[i].p, &k_default_opts, &w[i].baseline);
    snprintf(what, sizeof what, "thread %d baseline (%s d%d, heads %d/%d)", i, fa_dtype_name(dt), d, hq, hk);
    check_ref(s, &w[i].p, &w[i].baseline, what, &cs);
    /* The thread's own call. */
    w[i].out_bytes = (size_t)(w[i].p.tq * hq * d) * 2;
    w[i].lse_bytes = (size_t)(w[i].p.tq * hq) * 4;
    w[i].out_host = (uint16_t *)keep_alloc(s, w[i].out_bytes + 2);
    w[i].lse_host = (float *)keep_alloc(s, w[i].lse_bytes + 4);
    w[i].prm = fa_fwd_params_default();
    w[i].prm.backend = s->backend, w[i].prm.dtype = dt, w[i].prm.batch = 2;
    w[i].prm.num_heads_q = hq, w[i].prm.num_heads_k = hk, w[i].prm.head_dim = d;
    w[i].prm.total_q = w[i].p.tq, w[i].prm.total_k = w[i].p.tk;
    w[i].prm.max_seqlen_q = (int32_t)(lq[0] > lq[1] ? lq[0] : lq[1]);
    w[i].prm.max_seqlen_k = (int32_t)(lk[0] > lk[1] ? lk[0] : lk[1]);
    w[i].prm.window_left = w[i].p.wl, w[i].prm.window_right = w[i].p.wr;
    if (cuda(s)) {
      /* One device allocation per thread, carved (the pool holds 64). */
      const void *src[7] = {w[i].p.q, w[i].p.k, w[i].p.v, w[i].out_host, w[i].lse_host, w[i].p.cu_q, w[i].p.cu_k};
      const size_t bytes[7] = {(size_t)(w[i].p.tq * hq * d) * 2, (size_t)(w[i].p.tk * hk * d) * 2,
                               (size_t)(w[i].p.tk * hk * d) * 2, w[i].out_bytes, w[i].lse_bytes,
                               sizeof w[i].p.cu_q, sizeof w[i].p.cu_k};
      void *dst[7];
      size_t total = 0, off = 0;
      char *base;
      int j;
      for (j = 0; j < 7; ++j)
        total += (bytes[j] + 255) / 256 * 256;
      tu_poison16(w[i].out_host, w[i].out_bytes / 2);
      tu_poison32(w[i].lse_host, w[i].lse_bytes / 4);
      base = (char *)tu_pool_device(&s->keep, total, &why);
      if (base == NULL)
        fail_msg("cudaMalloc: %s", why);
      for (j = 0; j < 7; ++j) {
        dst[j] = base + off;
        off += (bytes[j] + 255) / 256 * 256;
        if (tu_to_device(dst[j], src[j], bytes[j], &why) != 0)
          fail_msg("cudaMemcpy: %s", why);
      }
      w[i].prm.q = dst[0], w[i].prm.k = dst[1], w[i].prm.v = dst[2], w[i].prm.out = dst[3];
      w[i].prm.lse = (float *)dst[4];
      w[i].prm.cu_seqlens_q = (const int32_t *)dst[5], w[i].prm.cu_seqlens_k = (const int32_t *)dst[6];
      w[i].prm.stream = tu_pool_stream(&s->keep, &why);
      if (w[i].prm.stream == NULL)
        fail_msg("cudaStreamCreate: %s", why);
    } else {
      w[i].prm.q = w[i].p.q, w[i].prm.k = w[i].p.k, w[i].prm.v = w[i].p.v;
      w[i].prm.out = w[i].out_host, w[i].prm.lse = w[i].lse_host;
      w[i].prm.cu_seqlens_q = w[i].p.cu_q, w[i].prm.cu_seqlens_k = w[i].p.cu_k;
    }
  }
  for (i = 0; i < N_THREADS; ++i)
    if (pthread_create(&tid[i], NULL, worker_main, &w[i]) != 0)
      fail_msg("%s", "pthread_create failed");
  for (i = 0; i < N_THREADS; ++i)
    pthread_join(tid[i], NULL);
  pthread_barrier_destroy(&barrier);
  {
    int calls = 0;
    for (i = 0; i < N_THREADS; ++i) {
      calls += w[i].calls;
      if (w[i].error[0] != '\0')
        fail_msg("thread %d (%s d%d): %s", i, fa_dtype_name(w[i].p.dtype), w[i].p.d, w[i].error);
    }
    print_message("%-5s %d threads x %d calls of fa_fwd at once (%d calls, 1 thread of invalid calls), %d head dims: "
                  "every result bitwise equal to its single-threaded run, which matches the reference\n",
                  cuda(s) ? "cuda" : "cpu", N_THREADS, THREAD_ITERS, calls, n_dims);
  }
}

/* ------------------------------------------------------------ main */

/* Seconds since *t0 (grid_independence's progress lines). */
static double seconds_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

/*
 * The grid does not change the bits. A persistent family's block lists its
 * work tiles, with each tile's sequence, in shared memory (wgmma: at most
 * its kernel's list_max, FA_TILE_LIST_MAX by default; the host launches
 * whole waves of more blocks where a list would overflow). A context that
 * claims 1 SM puts hundreds of tiles in each block's list (more entries
 * than a block has threads) and takes the overflow path; 7 SMs give an
 * uneven share. Varlen, GQA 8:1, 64 query heads (2048 tiles of 128 rows
 * in the dense-shaped bound), causal and
 * with no mask, the longest key row 2000 or 4500: on sm_90 the wgmma
 * family's 128-row d64 causal and d128 tiles, d64's 256-row tiles of
 * two row blocks a consumer (no mask at any length; causal from 4096
 * keys, the 4500-key cases), and d256's short-key and long-key tiles
 * (whose lists are the shortest where a kernel sets list_max). The
 * device's own SM count runs first; the others must match it bitwise. No
 * workspace, so the 64-row sequence's decode half does not split (a split
 * count follows the SM count, and splits round differently). Each run is
 * checked against the reference elsewhere (test_fwd).
 */
static void test_grid_independence(void **state) {
  static const struct {
    int wr;
    int64_t lk[4];
  } cases[4] = {{0, {1000, 900, 777, 2000}},
                {-1, {1000, 900, 777, 2000}},
                {0, {1000, 900, 777, 4500}},
                {-1, {1000, 900, 777, 4500}}};
  stress_state *s = (stress_state *)*state;
  tu_rng rng = tu_rng_make(s->seed);
  static const int64_t lq[4] = {1000, 333, 777, 64};
  static const int claimed[2] = {1, 7};
  static const int dims[3] = {64, 128, 256};
  int t, di, ci, c;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  need_backend(s);
  if (!cuda(s)) {
    print_message("skipped: the CPU backend has no grid to vary\n");
    skip();
  }
  for (ci = 0; ci < 4; ++ci)
    for (t = 0; t < 2; ++t)
      for (di = 0; di < 3; ++di) {
        const size_t mark = arena_mark(s); /* about 150 MB of host buffers a round (d256: 300) */
        sproblem p;
        sresult all, few;
        sp_init(s, &p, k_dtypes[t], dims[di], 64, 8, 4, lq, cases[ci].lk);
        sp_fill(&p, 1.0, 1.0, 1.0, &rng);
        p.wl = -1, p.wr = cases[ci].wr;
        run(s, &p, &k_default_opts, &all);
        for (c = 0; c < 2; ++c) {
          run_opts o = k_default_opts;
          o.sm_count = claimed[c];
          /* a hang shows as the last line printed */
          print_message("%5.1f s: %s d%d %s, longest key row %lld, %d SM(s) claimed\n", seconds_since(&start),
                        fa_dtype_name(k_dtypes[t]), dims[di], cases[ci].wr == 0 ? "causal" : "no mask",
                        (long long)cases[ci].lk[3], claimed[c]);
          fflush(stdout);
          run(s, &p, &o, &few);
          if (!same_result(&p, &all, &few, 1))
            fail_msg("%s d%d %s, longest key row %lld: a context claiming %d SM(s) changes the bits",
                     fa_dtype_name(k_dtypes[t]), dims[di], cases[ci].wr == 0 ? "causal" : "no mask",
                     (long long)cases[ci].lk[3], claimed[c]);
        }
        arena_release(s, mark);
      }
}

static int setup(void **state) {
  stress_state *s = (stress_state *)*state;
  memset(&s->host, 0, sizeof s->host);
  tu_pool_init(&s->keep);
  tu_pool_init(&s->tmp);
  s->stream = NULL;
  return 0;
}

static int teardown(void **state) {
  stress_state *s = (stress_state *)*state;
  tu_pool_release(&s->tmp);
  tu_pool_release(&s->keep);
  arena_release(s, 0);
  free(s->host.ptrs);
  memset(&s->host, 0, sizeof s->host);
  return 0;
}

typedef struct test_def {
  const char *name;
  CMUnitTestFunction fn;
} test_def;

static const test_def k_tests[] = {
    {"dominant_key", test_dominant_key},
    {"all_equal_scores", test_all_equal_scores},
    {"large_random_scores", test_large_random_scores},
    {"rising_scores", test_rising_scores},
    {"long_rows_128k", test_long_rows},
    {"lse_consistency", test_lse_consistency},
    {"nonfinite_inputs", test_nonfinite_inputs},
    {"extreme_scale_softcap", test_extreme_scale_softcap},
    {"determinism", test_determinism},
    {"grid_independence", test_grid_independence},
    {"concurrency", test_concurrency},
    /* Last: under UBSan (sanitize-test) a regression of the bug it guards
     * against aborts the process; the other tests have run by then. */
    {"hostile_default_strides", test_hostile_default_strides},
};
#define N_DEFS (sizeof k_tests / sizeof k_tests[0])

int main(int argc, char **argv) {
  const char *filter = argc > 1 ? argv[1] : NULL;
  const int exclude = filter != NULL && filter[0] == '-'; /* "-NAME": all but the tests matching NAME */
  int from_env = 0, failed = 0, ran = 0, be;
  const uint64_t seed = tu_seed_from_env(&from_env);
  tu_device device;
  static stress_state states[2][N_DEFS];
  static char names[2][N_DEFS][64];
  printf("test_stress: seed %llu (%s); reproduce with FA_TEST_SEED=%llu\n", (unsigned long long)seed,
         from_env ? "from FA_TEST_SEED" : "fresh", (unsigned long long)seed);
  if (tu_cuda_device(&device))
    printf("test_stress: CUDA device %s, compute capability %d.%d\n", device.name, device.cc_major, device.cc_minor);
  else
    printf("test_stress: no CUDA device (%s): CUDA cases skip\n", device.reason);
  fflush(stdout);
  for (be = 0; be < 2; ++be) {
    struct CMUnitTest tests[N_DEFS];
    size_t i, n = 0;
    const char *tag = be == 0 ? "cpu" : "cuda";
    char group[32];
    for (i = 0; i < N_DEFS; ++i) {
      snprintf(names[be][i], sizeof names[be][i], "%s_%s", k_tests[i].name, tag);
      if (filter != NULL && (strstr(names[be][i], filter + exclude) == NULL) != exclude)
        continue;
      states[be][i].backend = be == 0 ? FA_BACKEND_CPU : FA_BACKEND_CUDA;
      states[be][i].device = &device;
      states[be][i].seed = seed ^ tu_hash_string(names[be][i]);
      tests[n].name = names[be][i];
      tests[n].test_func = k_tests[i].fn;
      tests[n].setup_func = setup;
      tests[n].teardown_func = teardown;
      tests[n].initial_state = &states[be][i];
      ++n;
    }
    if (n == 0)
      continue;
    snprintf(group, sizeof group, "stress_%s", tag);
    failed += _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    ran += (int)n;
  }
  if (ran == 0)
    printf("test_stress: no test matches '%s'\n", filter ? filter : "");
  return failed != 0 || ran == 0;
}
