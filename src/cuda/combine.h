/*
 * combine.h - merging partial attention results (split-KV partials,
 * fa_combine): one job description for the CUDA kernel (combine.cu) and
 * the CPU loop (combine.c). The per-row rule is attn/softmax.h's
 * fa_merge_parts / fa_merge_weight. Plain C. Internal.
 */
#ifndef FA_CUDA_COMBINE_H
#define FA_CUDA_COMBINE_H

#include <stdint.h>

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
} fa_combine_job;

/* Asynchronous on stream; returns a cudaError_t (0 = success). */
int fa_cuda_combine(const fa_combine_job *job, fa_stream_t stream);
/* Synchronous, host memory. */
void fa_cpu_combine(const fa_combine_job *job);

#ifdef __cplusplus
}
#endif

#endif /* FA_CUDA_COMBINE_H */
