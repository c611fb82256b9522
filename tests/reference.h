/*
 * reference.h - naive double-precision attention, written from the
 * definitions in SPEC.md and flashattn.h (not from any kernel), to check
 * the kernels against. No CMocka dependency (uses test_util's decoder).
 *
 * Layout (chosen for simplicity, not the library's): the sequences are
 * stored back to back, packed:
 *   q, out [sum(seqlen_q)][heads_q][head_dim]
 *   k, v   [sum(seqlen_k)][heads_k][head_dim]
 *   lse    [sum(seqlen_q)][heads_q]
 * where seqlen_k[b] counts only the keys the sequence uses (seqused_k).
 */
#ifndef FA_TEST_REFERENCE_H
#define FA_TEST_REFERENCE_H

#include <stdint.h>

#include "flashattn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ref_problem {
  int batch;
  int heads_q;
  int heads_k; /* divides heads_q */
  int head_dim;
  const int64_t *seqlen_q; /* [batch] */
  const int64_t *seqlen_k; /* [batch]: keys used */
  const double *q, *k, *v;
  int window_left;   /* -1 = unbounded */
  int window_right;  /* -1 = unbounded */
  double scale;      /* already resolved (0 is not special here) */
  double softcap;    /* 0 = off */
  const double *sinks; /* [heads_q] or NULL */
} ref_problem;

/* Whether query row i (of lq) sees key j (of lk): bottom-right aligned. */
int ref_key_visible(int64_t i, int64_t j, int64_t lq, int64_t lk, int window_left,
                    int window_right);

/* out and lse as described above; visible (may be NULL) receives the number
 * of keys each (row, head) sees, laid out like lse. Rows that see no key get
 * zeros and lse = -inf, or lse = sink when sinks are given. */
void ref_attention(const ref_problem *p, double *out, double *lse, int64_t *visible);

/* One (query row i, head h) of one sequence, straight from packed 16-bit
 * host buffers (for sampled checks of problems too big to convert whole):
 *   q    [.., heads_q, head_dim], the sequence's rows from q_start
 *   k, v [.., heads_k, head_dim], the sequence's keys from k_start (lk used)
 * sink: the head's sink logit or NULL. out: head_dim values; *lse as above. */
void ref_attention_row(const uint16_t *q, const uint16_t *k, const uint16_t *v, fa_dtype dtype,
                       int64_t q_start, int64_t k_start, int64_t lq, int64_t lk, int heads_q,
                       int heads_k, int head_dim, int h, int64_t i, int window_left,
                       int window_right, double scale, double softcap, const float *sink,
                       double *out, double *lse);

#ifdef __cplusplus
}
#endif

#endif /* FA_TEST_REFERENCE_H */
