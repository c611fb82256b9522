/*
 * combine.h - merging partial attention results (split-KV partials,
 * fa_combine): one job description for the CUDA kernel (combine.cu) and
 * the CPU loop (combine.c). The per-row rule is attn/softmax.h's
 * fa_merge_parts / fa_merge_weight; which rows, and where their parts are,
 * is fa_combine_locate's, below. Plain C. Internal.
 */
#ifndef FA_CUDA_COMBINE_H
#define FA_CUDA_COMBINE_H

#include <stdint.h>

#include "attn/portable.h"
#include "flashattn.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Rows to merge: (sequence b, row i, head h) for b < batch, i <
 * rows_per_batch (varlen: i < the sequence's length from cu_seqlens_q,
 * clamped to [0, total_q)), h < num_heads. Partial row index R = q_start(b)
 * + i (varlen) or b * rows_per_batch + i (dense, plain with batch = 1).
 *   o_parts[p * o_part_stride + R * o_row_stride + h * o_head_stride + d]
 *   lse_parts[p * lse_part_stride + h * lse_part_head_stride + R]
 * Output row: out + b * out_batch_stride + (q_start(b) + i) * out_row_stride
 * + h * out_head_stride; lse + b * lse_batch_stride + h * lse_head_stride +
 * q_start(b) + i (q_start = 0 in dense mode).
 * Optional fields (0 keeps the rules above) describe the decode family's
 * split layouts (fwd_decode_plan.h): seq_part_rows > 0 puts the partials
 * by sequence, R = b * seq_part_rows + i (i < seq_part_rows), and
 * skip_long skips every sequence longer than rows_per_batch whole instead
 * of cutting it there: the short half of a pair computed no parts for it
 * (its partner writes those rows). piece_units (splits by length) puts
 * them by piece instead: row (b, i, h) is packed row p = i x heads_per_kv +
 * h % heads_per_kv of unit U = (b x KV heads + h / heads_per_kv) x
 * unit_row_tiles + p / FA_COMBINE_UNIT_ROWS, whose entry piece_units[2U..2U+1] = {first slot,
 * parts} is read once the parts are complete; part j is at
 *   o_parts[((first + j) * piece_rows + p % FA_COMBINE_UNIT_ROWS) * head_dim + d]
 *   lse_parts[(first + j) * piece_rows + p % FA_COMBINE_UNIT_ROWS]
 * and a unit of one part is skipped (its kernel wrote the output itself).
 */
/* Packed rows of one decode unit: the decode family's FA_DECODE_ROWS
 * (cuda/decode/pieces.cuh asserts they agree; this header stays free of the
 * family's plan). */
#define FA_COMBINE_UNIT_ROWS 16

typedef struct fa_combine_job {
  const float *o_parts;
  int64_t o_part_stride, o_row_stride, o_head_stride;
  const float *lse_parts;
  int64_t lse_part_stride, lse_part_head_stride;
  int32_t num_parts, num_heads, head_dim;
  const float *sinks; /* [num_heads] or NULL */
  void *out;
  fa_dtype out_dtype; /* fp16, bf16 or fp32 */
  int64_t out_batch_stride, out_row_stride, out_head_stride;
  float *lse; /* or NULL */
  int64_t lse_batch_stride, lse_head_stride;
  int32_t batch;
  int64_t rows_per_batch;
  const int32_t *cu_seqlens_q; /* NULL: dense / plain */
  int64_t total_q;
  int64_t seq_part_rows; /* optional: partial rows by sequence (above) */
  int32_t skip_long;     /* optional, varlen: skip sequences longer than rows_per_batch */
  const int32_t *piece_units; /* optional: partials by piece (above) */
  int32_t piece_rows, heads_per_kv, unit_row_tiles;
  /* optional, GPU only: a warp per (row, head, 32 columns) instead of per
   * (row, head) (combine.cu). For small jobs with many parts a row (the
   * decode family's uniform splits, and its partials by piece of at most 32
   * sequences); same results. */
  int32_t by_columns;
} fa_combine_job;

/* Sequence b of a job: its first q/out row, the rows to merge (0: none)
 * and the partial row of its row 0. */
typedef struct fa_combine_seq {
  int64_t q_start, rows, part_row0;
} fa_combine_seq;

FA_RULE fa_combine_seq fa_combine_locate(const fa_combine_job *j, int32_t b) {
  fa_combine_seq s;
  s.q_start = 0;
  s.rows = j->rows_per_batch;
  if (j->cu_seqlens_q != NULL) {
    s.q_start = fa_clamp64(j->cu_seqlens_q[b], 0, j->total_q);
    const int64_t len = fa_clamp64(j->cu_seqlens_q[b + 1], s.q_start, j->total_q) - s.q_start;
    if (len < s.rows) s.rows = len;
    if (j->skip_long && len > j->rows_per_batch) s.rows = 0;
  }
  if (j->seq_part_rows > 0) {
    s.part_row0 = (int64_t)b * j->seq_part_rows;
    if (s.rows > j->seq_part_rows) s.rows = j->seq_part_rows;
  } else {
    s.part_row0 = j->cu_seqlens_q != NULL ? s.q_start : (int64_t)b * j->rows_per_batch;
  }
  return s;
}

/* Where row (b, i, h) of a job's partials is: its first part's o row and
 * LSE, the strides from part to part, and the parts (0: nothing to merge).
 * By piece, the units table is read here: after the parts are complete. */
typedef struct fa_combine_parts {
  int64_t o_row, lse_row, o_part_stride, lse_part_stride;
  int32_t n;
} fa_combine_parts;

FA_RULE fa_combine_parts fa_combine_parts_of(const fa_combine_job *j, const fa_combine_seq *s, int32_t b, int64_t i,
                                             int32_t h) {
  fa_combine_parts r;
  if (j->piece_units == NULL) {
    const int64_t row = s->part_row0 + i;
    r.o_row = row * j->o_row_stride + h * j->o_head_stride;
    r.lse_row = h * j->lse_part_head_stride + row;
    r.o_part_stride = j->o_part_stride, r.lse_part_stride = j->lse_part_stride;
    r.n = j->num_parts;
    return r;
  }
  const int32_t g = j->heads_per_kv;
  const int64_t packed = i * g + h % g;
  const int64_t unit = ((int64_t)b * (j->num_heads / g) + h / g) * j->unit_row_tiles + packed / FA_COMBINE_UNIT_ROWS;
  const int64_t at = (int64_t)j->piece_units[2 * unit] * j->piece_rows + packed % FA_COMBINE_UNIT_ROWS;
  r.n = j->piece_units[2 * unit + 1];
  if (r.n <= 1) r.n = 0; /* the kernel wrote this row */
  r.o_row = at * j->head_dim;
  r.lse_row = at;
  r.o_part_stride = (int64_t)j->piece_rows * j->head_dim;
  r.lse_part_stride = j->piece_rows;
  return r;
}

/* Asynchronous on stream; returns a cudaError_t (0 = success). */
int fa_cuda_combine(const fa_combine_job *job, fa_stream_t stream);
/* The same, launched as a programmatic dependent of the kernel before it
 * on the stream (sm_90 only: that kernel calls griddepcontrol.
 * launch_dependents when its blocks are done with their main loop). */
int fa_cuda_combine_dependent(const fa_combine_job *job, fa_stream_t stream);
/* Synchronous, host memory. */
void fa_cpu_combine(const fa_combine_job *job);

#ifdef __cplusplus
}
#endif

#endif /* FA_CUDA_COMBINE_H */
