/*
 * fwd_cpu.h - the portable CPU forward kernel. Every generated CPU kernel
 * (generated/cpu/fwd_cpu_*.c) is a one-line wrapper that calls fa_cpu_fwd() with
 * constant head_dim, dtype, mask and block_n, so the compiler specializes
 * this one body: loop bounds become constants, the dtype and mask branches
 * fold away.
 *
 * Design note
 * -----------
 * The algorithm is the FlashAttention forward recurrence, as on the GPU,
 * and the rules come from the same headers as every CUDA family
 * (src/attn/): where a sequence lives (sequence.h), the mask rule and the
 * key tiles a block of rows visits (mask.h), the softcap transform, the
 * online-softmax step and the epilogue's sink/LSE/empty-row/NaN policy
 * (softmax.h). Keys are visited in tiles of block_n; each query row keeps a
 * running max m, a running denominator l and an fp32 accumulator o; a tile
 * raises m, rescales l and o by 2^(m_old - m_new), and adds its own terms.
 * Scores are rounded to the softmax's base-2 units (t = round(q.k * c))
 * before the max and the exponent, as the CUDA kernels do.
 *
 * Work unit: one sequence, one query head, one block of up to BM query rows.
 * Per key tile, each K row and then each V row is converted to fp32 once
 * and used by all BM rows, so the conversion cost is amortized and the hot
 * loops (8-way split dot product, axpy) run on fp32 arrays the compiler can
 * vectorize.
 *
 * Masks: the keys a row sees form one interval [lo, hi) whose ends grow
 * with the row index. A block visits only the tiles of the union of its
 * rows' intervals (fa_plan_key_tiles) and each row only its own part of a
 * tile: no -inf is ever stored in a score, so masking cannot produce NaN.
 *
 * Sinks join the denominator once, at the end of the row (fa_row_with_sink),
 * exactly as on the GPU.
 *
 * Memory: no heap, no globals. All scratch is on the stack in fixed arrays
 * sized for head_dim up to FA_CPU_MAX_HEAD_DIM (512): BM (chosen by the
 * generator, gen/spec.py cpu_tile) is such that the query block and its
 * accumulators fit in 1024 floats each and its score tile in 512 (BM = 8 up
 * to head_dim 128, 4 at 256, 2 at 512, with block_n 64): about 13.5 KiB of
 * stack in all (measured with -fstack-usage, gcc and clang). Larger blocks
 * gained nothing measurable.
 *
 * Bounds: in varlen mode, every row range taken from cu_seqlens (and
 * seqused_k) is clamped to [0, total) (fa_locate_sequence), and key rows of
 * a paged cache are found through fa_kv_row_offset (page ids clamped to the
 * pool), so even wrong offsets cannot make it read or write outside the
 * tensors (validation rejects them anyway). Split-KV does not apply: the
 * CPU computes each row in one pass, whatever num_splits says.
 */
#ifndef FA_CPU_FWD_CPU_H
#define FA_CPU_FWD_CPU_H

#include <math.h>
#include <stdint.h>

#include "attn/mask.h"
#include "attn/sequence.h"
#include "attn/softmax.h"
#include "fa_args.h"
#include "fp_convert.h"

/* Largest head dim the stack buffers can hold. */
#define FA_CPU_MAX_HEAD_DIM 512
/* Floats in the query block and in the accumulator block (each). */
#define FA_CPU_BLOCK_FLOATS 1024
/* Floats in the score tile (BM rows x block_n keys). */
#define FA_CPU_SCORE_FLOATS 512
/* Upper bound of BM, the query rows per block. */
#define FA_CPU_MAX_BLOCK_M 32


/* A sequence (fa_locate_sequence) and how many of its query rows are
 * computed: min(len_q, seqlen_q), as the GPU grid covers max_seqlen_q. */
typedef struct fa_cpu_seq {
  fa_seq s;
  int64_t rows;
} fa_cpu_seq;

/* Per-call constants, resolved once. */
typedef struct fa_cpu_ctx {
  const fa_fwd_args *a;
  int32_t window_left, window_right; /* -1 = unbounded */
  float c;         /* raw score -> base-2 softmax units (score_log2_scale) */
  float softcap;   /* 0 = off */
  float cap_inner; /* scale / softcap: fa_softcap's argument factor */
  int block_n;     /* keys per tile (<= FA_CPU_SCORE_FLOATS) */
  int block_m;     /* query rows per block (BM) */
} fa_cpu_ctx;

static inline fa_cpu_seq fa_cpu_sequence(const fa_fwd_args *a, int32_t b) {
  fa_cpu_seq cs;
  cs.s = fa_locate_sequence(a, b);
  cs.rows = cs.s.len_q < a->seqlen_q ? cs.s.len_q : (a->seqlen_q > 0 ? a->seqlen_q : 0);
  return cs;
}

/* dst[d] = float(src[d]) * mul. The dtype test sits outside the loop. */
static inline void fa_cpu_load_row(float *dst, const uint16_t *src, int n,
                                   fa_dtype dtype, float mul) {
  int d;
  if (dtype == FA_DTYPE_BF16) {
    for (d = 0; d < n; ++d)
      dst[d] = fa_bf16_to_float(src[d]) * mul;
  } else {
    for (d = 0; d < n; ++d)
      dst[d] = fa_fp16_to_float(src[d]) * mul;
  }
}

/* dst[d] = round(src[d] * mul) in the storage dtype. */
static inline void fa_cpu_store_row(uint16_t *dst, const float *src, int n,
                                    fa_dtype dtype, float mul) {
  int d;
  if (dtype == FA_DTYPE_BF16) {
    for (d = 0; d < n; ++d)
      dst[d] = fa_float_to_bf16(src[d] * mul);
  } else {
    for (d = 0; d < n; ++d)
      dst[d] = fa_float_to_fp16(src[d] * mul);
  }
}

/* Dot product with 8 independent partial sums: breaks the add latency
 * chain and lets the compiler vectorize without -ffast-math. */
static inline float fa_cpu_dot(const float *x, const float *y, int n) {
  float s[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  float tail = 0.f;
  int d = 0, t;
  for (; d + 8 <= n; d += 8)
    for (t = 0; t < 8; ++t)
      s[t] += x[d + t] * y[d + t];
  for (; d < n; ++d)
    tail += x[d] * y[d];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + tail;
}

static inline void fa_cpu_axpy(float *y, float alpha, const float *x, int n) {
  int d;
  for (d = 0; d < n; ++d)
    y[d] += alpha * x[d];
}

static inline void fa_cpu_zero(float *y, int n) {
  int d;
  for (d = 0; d < n; ++d)
    y[d] = 0.f;
}

static inline void fa_cpu_scale(float *y, float alpha, int n) {
  int d;
  for (d = 0; d < n; ++d)
    y[d] *= alpha;
}

static inline const uint16_t *fa_cpu_elem(const void *base, int64_t batch_stride,
                                          int64_t row_stride, int64_t head_stride,
                                          int32_t b, int64_t row, int32_t h) {
  return (const uint16_t *)base + (int64_t)b * batch_stride + row * row_stride +
         (int64_t)h * head_stride;
}

/* Online-softmax running state of one block of query rows. */
typedef struct fa_cpu_rows {
  int n;                              /* rows in the block */
  int32_t lo[FA_CPU_MAX_BLOCK_M];     /* first visible key, per row */
  int32_t hi[FA_CPU_MAX_BLOCK_M];     /* one past the last visible key */
  float max[FA_CPU_MAX_BLOCK_M];      /* running max, base 2 (may be -inf) */
  float sum[FA_CPU_MAX_BLOCK_M];      /* running denominator */
} fa_cpu_rows;

/* Raise a row's running max to cover t[0..n) (attn/softmax.h's step) and
 * turn t into exp2 weights in place; rescale the row's sum and accumulator
 * (length head_dim). A NaN score never raises the max but makes the sum
 * NaN, so the row ends NaN. */
static inline void fa_cpu_softmax_update(fa_cpu_rows *st, int r, float *t, int n,
                                         float *acc, int head_dim) {
  float tile_max = -INFINITY, sum = 0.f;
  fa_softmax_step step;
  int j;
  for (j = 0; j < n; ++j)
    tile_max = t[j] > tile_max ? t[j] : tile_max;
  step = fa_softmax_rescale(st->max[r], tile_max);
  for (j = 0; j < n; ++j) {
    t[j] = fa_exp2(t[j] - step.sub);
    sum += t[j];
  }
  if (step.alpha != 1.f)
    fa_cpu_scale(acc, step.alpha, head_dim);
  st->sum[r] = st->sum[r] * step.alpha + sum;
  st->max[r] = step.max;
}

/* One block of query rows [m0, m0 + rows) of sequence b, query head h. */
static inline void fa_cpu_fwd_block(const fa_cpu_ctx *c, int head_dim, fa_dtype dtype,
                                    int32_t b, int32_t h, const fa_cpu_seq *cs,
                                    int64_t m0) {
  const fa_fwd_args *a = c->a;
  const fa_seq *s = &cs->s;
  const int32_t hk = h / a->heads_per_kv;
  const int bn = c->block_n;
  const int64_t diag = (int64_t)s->len_k - s->len_q;
  const float sink = a->sinks != NULL ? a->sinks[h] * FA_LOG2E_F : -INFINITY;
  float qf[FA_CPU_BLOCK_FLOATS];  /* query rows, fp32 */
  float acc[FA_CPU_BLOCK_FLOATS]; /* output accumulators */
  float kv[FA_CPU_MAX_HEAD_DIM];  /* one K or V row, fp32 */
  float p[FA_CPU_SCORE_FLOATS];   /* scores, then weights: [row][key in tile] */
  fa_cpu_rows st;
  fa_tile_plan plan;
  int64_t n0;
  int r;

  st.n = (int)(cs->rows - m0 < c->block_m ? cs->rows - m0 : c->block_m);

  /* Load the query rows and find each row's key interval. */
  for (r = 0; r < st.n; ++r) {
    const int64_t i = m0 + r;
    const fa_key_range keys = fa_visible_keys(i + diag, c->window_left, c->window_right, s->len_k);
    fa_cpu_load_row(qf + r * head_dim,
                    fa_cpu_elem(a->q, a->q_batch_stride, a->q_row_stride,
                                a->q_head_stride, b, s->q_start + i, h),
                    head_dim, dtype, 1.f);
    fa_cpu_zero(acc + r * head_dim, head_dim);
    st.lo[r] = keys.lo;
    st.hi[r] = keys.hi;
    st.max[r] = -INFINITY;
    st.sum[r] = 0.f;
  }

  /* Only the tiles that some row of the block sees (attn/mask.h). */
  plan = fa_plan_key_tiles((int32_t)m0, c->block_m, s->len_q, s->len_k, c->window_left,
                           c->window_right, bn);
  for (n0 = (int64_t)plan.n_block_min * bn; n0 < (int64_t)plan.n_block_max * bn; n0 += bn) {
    const int nk = (int)(s->len_k - n0 < bn ? s->len_k - n0 : bn);
    int ja[FA_CPU_MAX_BLOCK_M], jb[FA_CPU_MAX_BLOCK_M]; /* row's keys in tile */
    int j;
    for (r = 0; r < st.n; ++r) {
      ja[r] = (int)fa_clamp64(st.lo[r] - n0, 0, nk);
      jb[r] = (int)fa_clamp64(st.hi[r] - n0, ja[r], nk);
    }

    /* Scores: each K row converted once, used by every row that sees it. */
    for (j = 0; j < nk; ++j) {
      fa_cpu_load_row(kv,
                      (const uint16_t *)a->k +
                          fa_kv_row_offset(a, b, s, (int32_t)(n0 + j), a->k_batch_stride, a->k_row_stride) +
                          (int64_t)hk * a->k_head_stride,
                      head_dim, dtype, 1.f);
      for (r = 0; r < st.n; ++r)
        if (j >= ja[r] && j < jb[r])
          p[r * bn + j] = fa_cpu_dot(qf + r * head_dim, kv, head_dim);
    }

    /* Softcap, base-2 units, then the online-softmax update, row by row. */
    for (r = 0; r < st.n; ++r) {
      float *t = p + r * bn + ja[r];
      const int n = jb[r] - ja[r];
      if (n == 0)
        continue;
      for (j = 0; j < n; ++j) {
        const float score = c->softcap > 0.f ? fa_softcap(t[j], c->softcap, c->cap_inner) : t[j];
        t[j] = score * c->c; /* rounded here, as on the GPU */
      }
      fa_cpu_softmax_update(&st, r, t, n, acc + r * head_dim, head_dim);
    }

    /* o += P V: each V row converted once. */
    for (j = 0; j < nk; ++j) {
      fa_cpu_load_row(kv,
                      (const uint16_t *)a->v +
                          fa_kv_row_offset(a, b, s, (int32_t)(n0 + j), a->v_batch_stride, a->v_row_stride) +
                          (int64_t)hk * a->v_head_stride,
                      head_dim, dtype, 1.f);
      for (r = 0; r < st.n; ++r)
        if (j >= ja[r] && j < jb[r])
          fa_cpu_axpy(acc + r * head_dim, p[r * bn + j], kv, head_dim);
    }
  }

  /* Sinks, normalization, out and lse (attn/softmax.h's policy). */
  for (r = 0; r < st.n; ++r) {
    const int64_t i = m0 + r;
    const fa_row_total total = fa_row_with_sink(st.max[r], st.sum[r], sink);
    fa_cpu_store_row((uint16_t *)fa_cpu_elem(a->out, a->out_batch_stride,
                                             a->out_row_stride, a->out_head_stride,
                                             b, s->q_start + i, h),
                     acc + r * head_dim, head_dim, dtype, fa_row_out_scale(total));
    if (a->lse != NULL)
      a->lse[(int64_t)b * a->lse_batch_stride + (int64_t)h * a->lse_head_stride +
             s->q_start + i] = fa_row_lse(total);
  }
}

/*
 * The forward pass over every sequence, head and query block. head_dim,
 * dtype, mask and block_n are compile-time constants in the generated
 * wrappers. The window of args is used only by FA_MASK_LOCAL; NONE and
 * CAUSAL imply (-1, -1) and (-1, 0).
 */
static inline void fa_cpu_fwd(const fa_fwd_args *args, int head_dim, fa_dtype dtype,
                              fa_mask mask, int block_m, int block_n) {
  fa_cpu_ctx c;
  int32_t b, h;
  /* Outside what the stack buffers hold: refuse rather than overflow (the
   * generated wrappers also check this at compile time). */
  if (head_dim <= 0 || head_dim > FA_CPU_MAX_HEAD_DIM || block_n <= 0 || block_m <= 0 ||
      block_m > FA_CPU_MAX_BLOCK_M || block_m * head_dim > FA_CPU_BLOCK_FLOATS ||
      block_m * block_n > FA_CPU_SCORE_FLOATS || args->heads_per_kv <= 0)
    return;

  c.a = args;
  c.window_left = mask == FA_MASK_LOCAL ? args->window_left : -1;
  c.window_right = mask == FA_MASK_NONE ? -1
                   : mask == FA_MASK_CAUSAL ? 0
                                            : args->window_right;
  c.c = args->score_log2_scale;
  c.softcap = args->softcap;
  c.cap_inner = args->softcap_inner_scale;
  c.block_n = block_n;
  c.block_m = block_m;

  for (b = 0; b < args->batch; ++b) {
    const fa_cpu_seq s = fa_cpu_sequence(args, b);
    for (h = 0; h < args->num_heads_q; ++h) {
      int64_t m0;
      for (m0 = 0; m0 < s.rows; m0 += c.block_m)
        fa_cpu_fwd_block(&c, head_dim, dtype, b, h, &s, m0);
    }
  }
}

#endif /* FA_CPU_FWD_CPU_H */
