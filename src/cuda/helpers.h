/*
 * helpers.h - launchers of the mask-helper kernels (cuda/helpers.cu), called
 * by helpers.c after it has validated every argument. Internal.
 *
 * Each launcher enqueues its kernels on `stream` and returns without
 * waiting: a cudaError_t (0 = success) of the first launch that failed.
 * Arguments are trusted here (non-NULL, aligned, device memory, sizes in
 * range); device-resident values (counts, indices) are not, and are
 * clamped by the kernels.
 */
#ifndef FA_CUDA_HELPERS_H
#define FA_CUDA_HELPERS_H

#include <stdint.h>

#include "flashattn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mask [batch, seqlen] of mask_dtype -> indices [batch * seqlen],
 * cu_seqlens [batch + 1], max_seqlen [1]. batch * seqlen < 2^31. */
int fa_cuda_unpad_info(const void *mask, fa_int_dtype mask_dtype, int32_t batch, int32_t seqlen, int64_t *indices,
                       int32_t *cu_seqlens, int32_t *max_seqlen, fa_stream_t stream);

/* Row copies of 16-bit elements; strides and row_elems in elements,
 * multiples of 8; rows 16-byte aligned. padded_rows in [1, 2^31).
 * gather: dst[i] = src[indices[i]] for i < *count.
 * scatter: dst rows zeroed, then dst[indices[i]] = src[i] for i < *count. */
int fa_cuda_gather_rows(const void *src, int64_t src_stride, void *dst, int64_t dst_stride, int64_t row_elems,
                        const int64_t *indices, const int32_t *count, int64_t padded_rows, fa_stream_t stream);
int fa_cuda_scatter_rows(const void *src, int64_t src_stride, void *dst, int64_t dst_stride, int64_t row_elems,
                         const int64_t *indices, const int32_t *count, int64_t padded_rows, fa_stream_t stream);

/* position_ids [total] (int32, or int64 when is_int64) -> cu_seqlens
 * [total + 1], num_seqs [1], max_seqlen [1]. 1 <= total < 2^31. */
int fa_cuda_seqlens_from_position_ids(const void *position_ids, int is_int64, int32_t total, int32_t *cu_seqlens,
                                      int32_t *num_seqs, int32_t *max_seqlen, fa_stream_t stream);

#ifdef __cplusplus
}
#endif

#endif /* FA_CUDA_HELPERS_H */
