/*
 * kv_append.h - writing a call's new K/V rows into its cache (paged or
 * contiguous), before attention reads them. Internal.
 */
#ifndef FA_CUDA_KV_APPEND_H
#define FA_CUDA_KV_APPEND_H

#include "fa_args.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Row i of sequence b's k_new / v_new goes to cache position
 * clamp(seqused_k[b]) + i, through the block table when there is one; rows
 * past what the sequence can hold are dropped (the host rejects them where
 * it can see the lengths). CUDA: asynchronous, returns a cudaError_t. */
int fa_cuda_append_kv(const fa_fwd_args *args, fa_stream_t stream);
void fa_cpu_append_kv(const fa_fwd_args *args);

#ifdef __cplusplus
}
#endif

#endif /* FA_CUDA_KV_APPEND_H */
