/*
 * fwd_cpu.h - the portable CPU forward kernel. Every generated CPU kernel
 * (generated/cpu/fwd_cpu_*.c) is a one-line wrapper that calls fa_cpu_fwd() with
 * constant head_dim, dtype, mask and block_n, so the compiler specializes
 * this one body: loop bounds become constants, the dtype and mask branches
 * fold away.
 *
 * Design note
 * -----------
 * The algorithm is the FlashAttention forward recurrence, as on the GPU:
 * keys are visited in tiles of block_n; each query row keeps a running max
 * m, a running denominator l and an fp32 accumulator o; a tile raises m,
 * rescales l and o by 2^(m_old - m_new), and adds its own terms. Scores are
 * kept in base 2 (log2(e) is folded into the query), as in the CUDA kernels.
 *
 * Work unit: one sequence, one query head, one block of up to BM query rows.
 * Per key tile, each K row and then each V row is converted to fp32 once
 * and used by all BM rows, so the conversion cost is amortized and the hot
 * loops (8-way split dot product, axpy) run on fp32 arrays the compiler can
 * vectorize.
 *
 * Masks: with bottom-right alignment, the keys a row sees form one interval
 * [lo, hi) whose ends grow with the row index. A block therefore visits only
 * the tiles covering the union of its rows' intervals (tiles hidden by the
 * mask are skipped entirely) and each row only its own part of a tile: no
 * -inf is ever stored in a score, so masking cannot produce NaN.
 *
 * Sinks enter as the initial state of the recurrence (m = sink, l = 1,
 * o = 0): a logit with no value row. A row that sees nothing ends with
 * l = 0 (zeros, lse = -inf) or with the sink alone (zeros, lse = sink).
 *
 * Memory: no heap, no globals. All scratch is on the stack in fixed arrays
 * sized for head_dim up to FA_CPU_MAX_HEAD_DIM (512): BM (chosen by the
 * generator, gen/generate.py cpu_block_m) is such that the query block and
 * its accumulators fit in 1024 floats each and its score tile in 512 (BM = 8 up to head_dim 128, 4 at 256, 2 at 512, with
 * block_n 64): about 13.5 KiB of stack in all (measured with
 * -fstack-usage, gcc and clang). Larger blocks gained nothing measurable.
 *
 * Bounds: in varlen mode, every row range taken from cu_seqlens (and
 * seqused_k) is clamped to [0, total), so even wrong offsets cannot make it
 * read or write outside the tensors (validation rejects them anyway).
 */
#ifndef FA_CPU_FWD_CPU_H
#define FA_CPU_FWD_CPU_H

#include <math.h>
#include <stdint.h>

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

#define FA_CPU_LOG2E 1.44269504088896340736f
#define FA_CPU_LN2 0.693147180559945309417f

/* Rows of a sequence, already clamped to the tensors. */
typedef struct fa_cpu_seq {
  int64_t q_row0; /* first q/out row (start_q(b)) */
  int64_t k_row0; /* first k/v row (start_k(b)) */
  int64_t lq;     /* query rows: Lq of the alignment */
  int64_t lk;     /* keys used: Lk of the alignment */
  int64_t rows;   /* query rows computed: min(lq, seqlen_q) */
} fa_cpu_seq;

/* Per-call constants, resolved once. */
typedef struct fa_cpu_ctx {
  const fa_fwd_args *a;
  int32_t window_left, window_right; /* -1 = unbounded */
  float q_mul;   /* applied to q when loaded: scores come out in base 2 */
  float cap_mul; /* softcap: t = cap_mul * tanh(dot); 0 = no softcap */
  int block_n;   /* keys per tile (<= FA_CPU_SCORE_FLOATS) */
  int block_m;   /* query rows per block (BM) */
} fa_cpu_ctx;

static inline int64_t fa_cpu_clamp(int64_t x, int64_t lo, int64_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

static inline fa_cpu_seq fa_cpu_sequence(const fa_fwd_args *a, int32_t b) {
  fa_cpu_seq s;
  if (a->cu_seqlens_q != NULL && a->cu_seqlens_k != NULL) {
    const int64_t q0 = fa_cpu_clamp(a->cu_seqlens_q[b], 0, a->total_q);
    const int64_t q1 = fa_cpu_clamp(a->cu_seqlens_q[b + 1], q0, a->total_q);
    const int64_t k0 = fa_cpu_clamp(a->cu_seqlens_k[b], 0, a->total_k);
    const int64_t k1 = fa_cpu_clamp(a->cu_seqlens_k[b + 1], k0, a->total_k);
    s.q_row0 = q0;
    s.k_row0 = k0;
    s.lq = q1 - q0;
    s.lk = k1 - k0;
  } else {
    s.q_row0 = 0;
    s.k_row0 = 0;
    s.lq = a->seqlen_q > 0 ? a->seqlen_q : 0;
    s.lk = a->seqlen_k > 0 ? a->seqlen_k : 0;
  }
  if (a->seqused_k != NULL)
    s.lk = fa_cpu_clamp(a->seqused_k[b], 0, s.lk);
  s.rows = s.lq < a->seqlen_q ? s.lq : (a->seqlen_q > 0 ? a->seqlen_q : 0);
  return s;
}

/* Keys [*lo, *hi) seen by query row i (bottom-right aligned window). */
static inline void fa_cpu_visible_keys(const fa_cpu_ctx *c, const fa_cpu_seq *s,
                                       int64_t i, int64_t *lo, int64_t *hi) {
  const int64_t pos = i + s->lk - s->lq;
  int64_t l = c->window_left < 0 ? 0 : pos - c->window_left;
  int64_t h = c->window_right < 0 ? s->lk : pos + c->window_right + 1;
  l = fa_cpu_clamp(l, 0, s->lk);
  h = fa_cpu_clamp(h, l, s->lk);
  *lo = l;
  *hi = h;
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
  int64_t lo[FA_CPU_MAX_BLOCK_M];     /* first visible key, per row */
  int64_t hi[FA_CPU_MAX_BLOCK_M];     /* one past the last visible key */
  float max[FA_CPU_MAX_BLOCK_M];      /* running max, base 2 (may be -inf) */
  float sum[FA_CPU_MAX_BLOCK_M];      /* running denominator */
} fa_cpu_rows;

/* Raise a row's running max to cover t[0..n) and turn t into exp2 weights
 * in place; rescale the row's sum and accumulator (length head_dim). */
static inline void fa_cpu_softmax_update(fa_cpu_rows *st, int r, float *t, int n,
                                         float *acc, int head_dim) {
  float tile_max = -INFINITY, m_new, m_use, alpha, sum = 0.f;
  int j;
  for (j = 0; j < n; ++j)
    tile_max = t[j] > tile_max ? t[j] : tile_max;
  m_new = st->max[r] > tile_max ? st->max[r] : tile_max;
  /* All scores -inf (only through overflow): subtract 0, not -inf. */
  m_use = m_new == -INFINITY ? 0.f : m_new;
  alpha = exp2f(st->max[r] - m_use); /* 0 when the old max is -inf */
  for (j = 0; j < n; ++j) {
    t[j] = exp2f(t[j] - m_use);
    sum += t[j];
  }
  if (alpha != 1.f)
    fa_cpu_scale(acc, alpha, head_dim);
  st->sum[r] = st->sum[r] * alpha + sum;
  st->max[r] = m_new;
}

/* One block of query rows [m0, m0 + rows) of sequence b, query head h. */
static inline void fa_cpu_fwd_block(const fa_cpu_ctx *c, int head_dim, fa_dtype dtype,
                                    int32_t b, int32_t h, const fa_cpu_seq *s,
                                    int64_t m0) {
  const fa_fwd_args *a = c->a;
  const int32_t hk = h / a->heads_per_kv;
  const int bn = c->block_n;
  float qf[FA_CPU_BLOCK_FLOATS];  /* query rows, pre-scaled, fp32 */
  float acc[FA_CPU_BLOCK_FLOATS]; /* output accumulators */
  float kv[FA_CPU_MAX_HEAD_DIM];  /* one K or V row, fp32 */
  float p[FA_CPU_SCORE_FLOATS];   /* scores, then weights: [row][key in tile] */
  fa_cpu_rows st;
  int64_t klo = INT64_MAX, khi = 0, n0;
  int r;

  st.n = (int)(s->rows - m0 < c->block_m ? s->rows - m0 : c->block_m);

  /* Load the query rows, find each row's key interval and the block's. */
  for (r = 0; r < st.n; ++r) {
    const int64_t i = m0 + r;
    const float sink = a->sinks != NULL ? a->sinks[h] * FA_CPU_LOG2E : -INFINITY;
    fa_cpu_load_row(qf + r * head_dim,
                    fa_cpu_elem(a->q, a->q_batch_stride, a->q_row_stride,
                                a->q_head_stride, b, s->q_row0 + i, h),
                    head_dim, dtype, c->q_mul);
    fa_cpu_zero(acc + r * head_dim, head_dim);
    fa_cpu_visible_keys(c, s, i, &st.lo[r], &st.hi[r]);
    if (st.lo[r] < st.hi[r]) {
      klo = st.lo[r] < klo ? st.lo[r] : klo;
      khi = st.hi[r] > khi ? st.hi[r] : khi;
    }
    /* The sink is the recurrence's initial state: a logit without value. */
    st.max[r] = sink;
    st.sum[r] = sink == -INFINITY ? 0.f : 1.f;
  }

  /* Only the tiles that some row of the block sees. */
  for (n0 = klo; n0 < khi; n0 += bn) {
    const int nk = (int)(khi - n0 < bn ? khi - n0 : bn);
    int ja[FA_CPU_MAX_BLOCK_M], jb[FA_CPU_MAX_BLOCK_M]; /* row's keys in tile */
    int j;
    for (r = 0; r < st.n; ++r) {
      ja[r] = (int)fa_cpu_clamp(st.lo[r] - n0, 0, nk);
      jb[r] = (int)fa_cpu_clamp(st.hi[r] - n0, ja[r], nk);
    }

    /* Scores: each K row converted once, used by every row that sees it. */
    for (j = 0; j < nk; ++j) {
      fa_cpu_load_row(kv,
                      fa_cpu_elem(a->k, a->k_batch_stride, a->k_row_stride,
                                  a->k_head_stride, b, s->k_row0 + n0 + j, hk),
                      head_dim, dtype, 1.f);
      for (r = 0; r < st.n; ++r)
        if (j >= ja[r] && j < jb[r])
          p[r * bn + j] = fa_cpu_dot(qf + r * head_dim, kv, head_dim);
    }

    /* Softcap, then the online-softmax update, row by row. */
    for (r = 0; r < st.n; ++r) {
      float *t = p + r * bn + ja[r];
      const int n = jb[r] - ja[r];
      if (n == 0)
        continue;
      if (c->cap_mul != 0.f)
        for (j = 0; j < n; ++j)
          t[j] = c->cap_mul * tanhf(t[j]);
      fa_cpu_softmax_update(&st, r, t, n, acc + r * head_dim, head_dim);
    }

    /* o += P V: each V row converted once. */
    for (j = 0; j < nk; ++j) {
      fa_cpu_load_row(kv,
                      fa_cpu_elem(a->v, a->v_batch_stride, a->v_row_stride,
                                  a->v_head_stride, b, s->k_row0 + n0 + j, hk),
                      head_dim, dtype, 1.f);
      for (r = 0; r < st.n; ++r)
        if (j >= ja[r] && j < jb[r])
          fa_cpu_axpy(acc + r * head_dim, p[r * bn + j], kv, head_dim);
    }
  }

  /* Normalize and write out and lse. */
  for (r = 0; r < st.n; ++r) {
    const int64_t i = m0 + r;
    const float l = st.sum[r];
    /* l == 0: the row saw nothing (and no sink): zeros, never 0/0. A NaN l
     * (NaN input) is kept, so the NaN shows in that row only. */
    const float inv = l == 0.f ? 0.f : 1.f / l;
    fa_cpu_store_row((uint16_t *)fa_cpu_elem(a->out, a->out_batch_stride,
                                             a->out_row_stride, a->out_head_stride,
                                             b, s->q_row0 + i, h),
                     acc + r * head_dim, head_dim, dtype, inv);
    if (a->lse != NULL)
      a->lse[(int64_t)b * a->lse_batch_stride + (int64_t)h * a->lse_head_stride +
             s->q_row0 + i] = l == 0.f ? -INFINITY : (st.max[r] + log2f(l)) * FA_CPU_LN2;
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
  if (args->softcap > 0.f) {
    c.q_mul = args->scale / args->softcap;
    c.cap_mul = args->softcap * FA_CPU_LOG2E;
  } else {
    c.q_mul = args->scale * FA_CPU_LOG2E;
    c.cap_mul = 0.f;
  }
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
