/* reference.c - see reference.h. Plain loops, one query row at a time. */
#include "reference.h"

#include <math.h>
#include <stdlib.h>

#include "test_util.h"

int ref_key_visible(int64_t i, int64_t j, int64_t lq, int64_t lk, int window_left,
                    int window_right) {
  const int64_t pos = i + lk - lq; /* the row's key position */
  if (window_left >= 0 && j < pos - window_left)
    return 0;
  if (window_right >= 0 && j > pos + window_right)
    return 0;
  return 1;
}

static double ref_score(const ref_problem *p, const double *q, const double *k) {
  double dot = 0.0, s;
  int d;
  for (d = 0; d < p->head_dim; ++d)
    dot += q[d] * k[d];
  s = p->scale * dot;
  if (p->softcap > 0.0)
    s = p->softcap * tanh(s / p->softcap);
  return s;
}

/* One (row, head): scores of the visible keys into s[], then a softmax with
 * the max subtracted, the sink joining the denominator only. */
static void ref_row(const ref_problem *p, const double *q, const double *k,
                    const double *v, int64_t lk, int64_t i, int64_t lq, int h,
                    double *s, double *out, double *lse, int64_t *visible) {
  const int hk = h / (p->heads_q / p->heads_k);
  const int64_t kstride = (int64_t)p->heads_k * p->head_dim;
  const double *sink = p->sinks ? &p->sinks[h] : NULL;
  double mx = -INFINITY, denom = 0.0;
  int64_t j, n = 0;
  int d, nan_score = 0;

  for (d = 0; d < p->head_dim; ++d)
    out[d] = 0.0;
  for (j = 0; j < lk; ++j) {
    if (!ref_key_visible(i, j, lq, lk, p->window_left, p->window_right))
      continue;
    s[j] = ref_score(p, q, k + j * kstride + (int64_t)hk * p->head_dim);
    nan_score |= isnan(s[j]);
    if (s[j] > mx)
      mx = s[j];
    ++n;
  }
  if (sink && *sink > mx)
    mx = *sink;
  if (visible)
    *visible = n;
  if (nan_score) { /* a NaN score makes the whole denominator NaN: the row is NaN */
    for (d = 0; d < p->head_dim; ++d)
      out[d] = NAN;
    *lse = NAN;
    return;
  }
  if (mx == -INFINITY) { /* nothing seen, no (finite) sink */
    *lse = -INFINITY;
    return;
  }
  for (j = 0; j < lk; ++j) {
    double w;
    if (!ref_key_visible(i, j, lq, lk, p->window_left, p->window_right))
      continue;
    w = exp(s[j] - mx);
    denom += w;
    for (d = 0; d < p->head_dim; ++d)
      out[d] += w * v[j * kstride + (int64_t)hk * p->head_dim + d];
  }
  if (sink)
    denom += exp(*sink - mx);
  for (d = 0; d < p->head_dim; ++d)
    out[d] /= denom;
  *lse = mx + log(denom);
}

void ref_attention(const ref_problem *p, double *out, double *lse, int64_t *visible) {
  const int64_t qstride = (int64_t)p->heads_q * p->head_dim;
  const int64_t kstride = (int64_t)p->heads_k * p->head_dim;
  int64_t q0 = 0, k0 = 0, max_lk = 1;
  double *scores;
  int b;

  for (b = 0; b < p->batch; ++b)
    if (p->seqlen_k[b] > max_lk)
      max_lk = p->seqlen_k[b];
  scores = (double *)malloc((size_t)max_lk * sizeof *scores);
  if (scores == NULL)
    return; /* the caller's poisoned outputs then fail the comparison */

  for (b = 0; b < p->batch; ++b) {
    const int64_t lq = p->seqlen_q[b], lk = p->seqlen_k[b];
    int64_t i;
    int h;
    for (i = 0; i < lq; ++i)
      for (h = 0; h < p->heads_q; ++h) {
        const int64_t row = q0 + i;
        ref_row(p, p->q + row * qstride + (int64_t)h * p->head_dim, p->k + k0 * kstride,
                p->v + k0 * kstride, lk, i, lq, h, scores,
                out + row * qstride + (int64_t)h * p->head_dim,
                lse + row * p->heads_q + h,
                visible ? visible + row * p->heads_q + h : NULL);
      }
    q0 += lq;
    k0 += lk;
  }
  free(scores);
}

/* Score of key j for ref_attention_row, decoding as it goes. */
static double ref_row_score(const uint16_t *q, const uint16_t *k, fa_dtype dtype, int head_dim,
                            double scale, double softcap) {
  double dot = 0.0, s;
  int d;
  for (d = 0; d < head_dim; ++d)
    dot += tu_half_to_double(q[d], dtype) * tu_half_to_double(k[d], dtype);
  s = scale * dot;
  if (softcap > 0.0)
    s = softcap * tanh(s / softcap);
  return s;
}

void ref_attention_row(const uint16_t *q, const uint16_t *k, const uint16_t *v, fa_dtype dtype,
                       int64_t q_start, int64_t k_start, int64_t lq, int64_t lk, int heads_q,
                       int heads_k, int head_dim, int h, int64_t i, int window_left,
                       int window_right, double scale, double softcap, const float *sink,
                       double *out, double *lse) {
  const int hk = h / (heads_q / heads_k);
  const int64_t kstride = (int64_t)heads_k * head_dim;
  const uint16_t *qrow = q + ((q_start + i) * heads_q + h) * (int64_t)head_dim;
  const uint16_t *kbase = k + k_start * kstride + (int64_t)hk * head_dim;
  const uint16_t *vbase = v + k_start * kstride + (int64_t)hk * head_dim;
  double mx = sink ? (double)*sink : -INFINITY, denom = 0.0;
  int64_t j;
  int d;

  for (d = 0; d < head_dim; ++d)
    out[d] = 0.0;
  /* Two passes (max, then weights): no scratch, scores recomputed. */
  for (j = 0; j < lk; ++j)
    if (ref_key_visible(i, j, lq, lk, window_left, window_right)) {
      const double s = ref_row_score(qrow, kbase + j * kstride, dtype, head_dim, scale, softcap);
      if (isnan(s)) { /* a NaN score makes the whole denominator NaN: the row is NaN */
        for (d = 0; d < head_dim; ++d)
          out[d] = NAN;
        *lse = NAN;
        return;
      }
      if (s > mx)
        mx = s;
    }
  if (mx == -INFINITY) {
    *lse = -INFINITY;
    return;
  }
  for (j = 0; j < lk; ++j)
    if (ref_key_visible(i, j, lq, lk, window_left, window_right)) {
      const double w =
          exp(ref_row_score(qrow, kbase + j * kstride, dtype, head_dim, scale, softcap) - mx);
      denom += w;
      for (d = 0; d < head_dim; ++d)
        out[d] += w * tu_half_to_double(vbase[j * kstride + d], dtype);
    }
  if (sink)
    denom += exp((double)*sink - mx);
  for (d = 0; d < head_dim; ++d)
    out[d] /= denom;
  *lse = mx + log(denom);
}
