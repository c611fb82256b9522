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
 * Two optional fields (0 keeps the rules above) describe the decode
 * family's split layout (fwd_decode_plan.h): seq_part_rows > 0 puts the
 * partials by sequence, R = b * seq_part_rows + i (i < seq_part_rows), and
 * skip_long skips every sequence longer than rows_per_batch whole instead
 * of cutting it there: the short half of a pair computed no parts for it
 * (its partner writes those rows).
 */
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
