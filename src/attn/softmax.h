/*
 * attn/softmax.h - the arithmetic every family shares: the softcap
 * transform, one step of the online softmax, and the epilogue's policy for
 * sinks, LSE, empty rows and NaN. Families own their register layouts and
 * reductions; the numbers they compute per row come from here.
 *
 * Everything is in base 2: a score t in the softmax's units is a natural
 * logit times log2(e). Running state per query row: `max` (largest t seen,
 * -inf before any visible key) and `sum` (sum of 2^(t - max)).
 */
#ifndef FA_ATTN_SOFTMAX_H
#define FA_ATTN_SOFTMAX_H

#include "attn/portable.h"

/* softcap * tanh(dot * inner) for inner = scale / softcap.
 * On the GPU: tanh(y) = 1 - 2 / (1 + 2^(2y log2 e)), one MUFU.EX2 and a
 * fast divide, ~1e-7 absolute (tanh.approx's 2^-11 relative error would
 * cost fp16 its accuracy at large caps). That form cancels for small |y|
 * (at softcap 1e10 every score would become 0), so below |y| = 1/8 the odd
 * Taylor polynomial to y^7 takes over (error < 2e-9 relative there).
 * On the CPU: tanhf. */
FA_RULE float fa_softcap(float dot, float cap, float inner) {
  const float y = dot * inner;
#if defined(__CUDA_ARCH__)
  const float y2 = y * y;
  const float small = y * (1.f - y2 * (1.f / 3.f - y2 * (2.f / 15.f - y2 * (17.f / 315.f))));
  const float large = 1.f - fa_fast_div(2.f, 1.f + fa_exp2(y * (2.f * FA_LOG2E_F)));
  return cap * (fabsf(y) < 0.125f ? small : large);
#else
  return cap * tanhf(y);
#endif
}

/* The online-softmax step for one row after a tile whose largest score
 * (base 2) is tile_max: the new running max, what to subtract from the
 * tile's scores, and alpha, the factor for the old sum and accumulators.
 * A row that has seen only hidden keys keeps max -inf and subtracts 0, so
 * 2^(-inf - -inf) never makes a NaN. fmaxf ignores a NaN tile_max (a NaN
 * row still turns NaN through its sum). */
typedef struct fa_softmax_step {
  float max, sub, alpha;
} fa_softmax_step;

FA_RULE fa_softmax_step fa_softmax_rescale(float old_max, float tile_max) {
  fa_softmax_step st;
  st.max = fmaxf(old_max, tile_max);
  st.sub = st.max == -INFINITY ? 0.f : st.max;
  st.alpha = fa_exp2(old_max - st.sub);
  return st;
}

/* The lazy step (the wgmma family): the running max moves only when the
 * tile's max exceeds it by more than FA_RESCALE_SLACK, so after a row's
 * first tiles most tiles leave its max, sum and accumulators alone (alpha
 * 1, and the family skips multiplying O) while their weights reach up to
 * 2^FA_RESCALE_SLACK. The result is the same up to rounding: sum and
 * accumulators always share the reference max, which the epilogue uses.
 * The cost is 2^FA_RESCALE_SLACK less headroom in the fp32 sum and
 * accumulators (FlashAttention 4's conditional rescaling, same slack).
 * Written with selects: the condition differs between rows. */
#define FA_RESCALE_SLACK 8.f
FA_RULE fa_softmax_step fa_softmax_rescale_lazy(float old_max, float tile_max) {
  const fa_softmax_step exact = fa_softmax_rescale(old_max, tile_max);
  const int keep = tile_max <= old_max + FA_RESCALE_SLACK; /* false for a NaN tile_max: exact keeps old_max */
  fa_softmax_step st;
  st.max = keep ? old_max : exact.max;
  st.sub = keep ? (old_max == -INFINITY ? 0.f : old_max) : exact.sub;
  st.alpha = keep ? 1.f : exact.alpha;
  return st;
}

/* Weight of one score: 2^(round(s * c) - sub). Rounding s * c first, exactly
 * as the max was rounded, gives the max element exactly 2^0 at any
 * magnitude (a fused s * c - sub keeps s * c unrounded, and near |max| =
 * 1e30 its rounding error alone overflows exp2: found by test_stress.c). */
FA_RULE float fa_softmax_weight(float s, float c, float neg_sub) { return fa_exp2(fa_mul_add_rounded(s, c, neg_sub)); }

/* The same weight with s * c unrounded, one fused multiply-add: safe where
 * |sub| < FA_FUSED_WEIGHT_LIMIT, since the max element's weight is then
 * 2^e with e the rounding error of s * c, |e| <= 2^-24 |sub| <= 2^-8. A
 * family takes it only when every row it decides for is below the limit
 * (the wgmma family, per warp: fwd_wgmma.md "Softmax latency"). */
#define FA_FUSED_WEIGHT_LIMIT 0x1p16f
FA_RULE int fa_softmax_fused_ok(float sub) { return fabsf(sub) < FA_FUSED_WEIGHT_LIMIT; }
FA_RULE float fa_softmax_weight_fused(float s, float c, float neg_sub) { return fa_exp2(fmaf(s, c, neg_sub)); }

/*
 * The end of a row: its softmax denominator with the sink, then the factor
 * for its accumulated output and its LSE (natural log of the denominator).
 *   - The sink (base 2; -inf without sinks) joins the denominator once, as
 *     a logit without value row.
 *   - A row that saw no key (sum 0) gets out = 0 and lse = -inf, or
 *     lse = sink when there is one; never NaN.
 *   - A NaN row (NaN in its inputs) keeps NaN in out and lse.
 * fa_row_lse is separate so that a family computes it only where it stores
 * it (log2f is not free).
 */
typedef struct fa_row_total {
  float max;     /* max(row max, sink) */
  float sum;     /* denominator relative to 2^max, sink included */
  float o_scale; /* 2^(row max - max): rescales the accumulated output */
} fa_row_total;

FA_RULE fa_row_total fa_row_with_sink(float row_max, float row_sum, float sink_log2) {
  fa_row_total t;
  t.max = fmaxf(row_max, sink_log2);
  t.sum = row_sum;
  t.o_scale = 1.f;
  if (t.max != -INFINITY && sink_log2 != -INFINITY) {
    t.o_scale = fa_exp2(row_max - t.max);
    t.sum = t.sum * t.o_scale + fa_exp2(sink_log2 - t.max);
  }
  return t;
}

/* Multiply the accumulated output by this: 0 for rows that saw nothing.
 * A nonzero sum is at least 1 (the element at the reference max, or the
 * sink, weighs 2^0; the lazy step's reference is never above the true max)
 * and far below 2^126: the fast divide and log2 are exact enough there, and
 * the precise ones cost about 100 instructions per warp and work tile in
 * the wgmma family's epilogue (ncu, twenty-second session). A NaN sum stays
 * NaN through both. */
FA_RULE float fa_row_out_scale(fa_row_total t) { return t.sum == 0.f ? 0.f : fa_fast_div(t.o_scale, t.sum); }

FA_RULE float fa_row_lse(fa_row_total t) {
  return t.max == -INFINITY && t.sum == 0.f ? -INFINITY : (t.max + fa_log2(t.sum)) * FA_LN2_F;
}

/*
 * Merging partial results over disjoint key sets (split-KV, fa_combine).
 * Part p has a normalized output o_p and lse l_p (natural log, -inf =
 * empty). In base 2 with L_p = l_p log2(e): M = max(L_p, sink), S =
 * sum_p 2^(L_p - M) + 2^(sink - M), lse = (M + log2 S) ln 2, and part p's
 * weight is 2^(L_p - M) / S. Empty parts are skipped (their o_p is never
 * read); a NaN l_p makes lse and every weight NaN. The caller sums the
 * parts in index order.
 */
typedef struct fa_merge {
  float max;     /* M, base 2 (-inf: nothing to merge) */
  float inv_sum; /* 1 / S, 0 when there is nothing */
  float lse;     /* natural log */
} fa_merge;

/* Part p's term of S (0 for an empty part), given M. */
FA_RULE float fa_merge_term(float l, float max) {
  return l != -INFINITY ? fa_exp2(fa_mul_add_rounded(l, FA_LOG2E_F, -max)) : 0.f;
}

/* The merge once M (max, sinks included), whether a part was NaN, and, if
 * neither NaN nor empty, S without the sink (the terms summed in part order)
 * are known. Shared by fa_merge_parts and the GPU's lane-parallel merge
 * (cuda/combine.cu), which find M and S their own ways. */
FA_RULE int fa_merge_nan_or_empty(int nan, float max, fa_merge *m) {
  if (nan) { /* a NaN part makes the row NaN, even with nothing else to merge */
    m->max = m->inv_sum = m->lse = NAN;
    return 1;
  }
  m->max = max;
  if (max == -INFINITY) {
    m->inv_sum = 0.f;
    m->lse = -INFINITY;
    return 1;
  }
  return 0;
}
FA_RULE void fa_merge_finish(float sum, float sink_log2, fa_merge *m) {
  if (sink_log2 != -INFINITY) sum += fa_exp2(sink_log2 - m->max);
  m->inv_sum = 1.f / sum;
  m->lse = (m->max + log2f(sum)) * FA_LN2_F;
}

/* lse[p * stride], p < n: the parts' natural-log LSEs. */
FA_RULE fa_merge fa_merge_parts(const float *lse, int64_t stride, int32_t n, float sink_log2) {
  fa_merge m;
  float max = sink_log2, sum = 0.f;
  int nan = 0;
  for (int32_t p = 0; p < n; ++p) {
    const float l = lse[p * stride];
    nan |= l != l;
    if (l != -INFINITY) max = fmaxf(max, l * FA_LOG2E_F);
  }
  if (fa_merge_nan_or_empty(nan, max, &m)) return m;
  for (int32_t p = 0; p < n; ++p) sum += fa_merge_term(lse[p * stride], max);
  fa_merge_finish(sum, sink_log2, &m);
  return m;
}

/* Weight of a part with natural-log lse l (0 for an empty part, which the
 * caller skips). */
FA_RULE float fa_merge_weight(const fa_merge *m, float l) {
  return fa_exp2(fa_mul_add_rounded(l, FA_LOG2E_F, -m->max)) * m->inv_sum;
}

#endif /* FA_ATTN_SOFTMAX_H */
