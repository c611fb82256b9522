/*
 * fa_args.h - the checked, normalized form of a forward call, shared by the
 * host code (C) and every kernel (CUDA C and C). Internal.
 *
 * fa_fwd() turns the public fa_fwd_params into this once: defaults filled
 * in (packed strides, scale), dense and varlen brought to one addressing
 * scheme, derived constants precomputed. Kernels read nothing else.
 */
#ifndef FA_ARGS_H
#define FA_ARGS_H

#include <stdint.h>

#include "attn/tile_order.h"
#include "flashattn.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Addressing of row i of sequence b, head h, for tensor X in {q, out}:
 *   X + b * X_batch_stride + (start_q(b) + i) * X_row_stride + h * X_head_stride
 * where start_q(b) = cu_seqlens_q[b] in varlen mode and 0 in dense mode
 * (dense mode has X_batch_stride != 0, varlen has 0).
 * lse row: lse + b * lse_batch_stride + h * lse_head_stride + start_q(b) + i.
 * Key/value row j: fa_kv_row_offset (attn/sequence.h): the same scheme with
 * start_k(b), or, with a block table, page * batch_stride (the page stride)
 * + (j % page_size) * row_stride. k_new/v_new rows are addressed like q.
 */
typedef struct fa_fwd_args {
  const void *q, *k, *v;
  void *out;
  float *lse;         /* NULL when not requested */
  const float *sinks; /* NULL when not given */

  const int32_t *cu_seqlens_q; /* NULL in dense mode */
  const int32_t *cu_seqlens_k; /* NULL in dense mode */
  const int32_t *seqused_k;    /* optional */

  int64_t q_batch_stride, q_row_stride, q_head_stride;
  int64_t k_batch_stride, k_row_stride, k_head_stride;
  int64_t v_batch_stride, v_row_stride, v_head_stride;
  int64_t out_batch_stride, out_row_stride, out_head_stride;
  int64_t lse_batch_stride, lse_head_stride;

  int64_t total_q; /* rows of q/out: bound for varlen offsets */
  int64_t total_k; /* rows of k/v */

  int32_t batch;
  int32_t num_heads_q;
  int32_t num_heads_k;
  int32_t head_dim;
  int32_t heads_per_kv; /* num_heads_q / num_heads_k */
  int32_t seqlen_q;     /* dense: length; varlen: max_seqlen_q (grid size) */
  int32_t seqlen_k;     /* dense: length; varlen: max_seqlen_k */

  int32_t window_left;  /* -1 = unbounded */
  int32_t window_right; /* -1 = unbounded */

  float scale;      /* resolved softmax scale */
  float softcap;    /* 0 = off */
  /* Softmax in base 2: p = exp2(t * score_log2_scale - row_max). Without
   * softcap, t is the raw dot product q.k and score_log2_scale is
   * scale * log2(e). With softcap, t is the capped score
   * softcap * tanh(q.k * softcap_inner_scale), already scaled, and
   * score_log2_scale is log2(e). */
  float score_log2_scale;
  float softcap_inner_scale; /* scale / softcap: tanh argument per raw dot product */

  /* The device the call runs on (CPU backend: 0) and the caller's scratch
   * memory (at least what the chosen family's workspace_bytes asked for). */
  int32_t sm_count;
  void *workspace;
  size_t workspace_bytes;

  /* KV cache. kv_capacity: keys a sequence can hold when cu_seqlens_k is
   * NULL (dense: seqlen_k; paged: max_pages_per_seq * page_size). */
  const int32_t *block_table; /* NULL = not paged */
  int64_t block_table_stride;
  int32_t max_pages_per_seq;
  int32_t page_size;
  int64_t num_pages;
  int32_t kv_capacity;
  int32_t append; /* k_new/v_new given: len_k = seqused_k[b] + len_q */
  const void *k_new, *v_new;
  int64_t k_new_batch_stride, k_new_row_stride, k_new_head_stride;
  int64_t v_new_batch_stride, v_new_row_stride, v_new_head_stride;
  int32_t num_splits; /* as requested: 0 = the family decides, 1 = none, n = at most n */
  int32_t splits;     /* as planned by the chosen family (fa_family.plan); 0 before; unused by families that do not split */
  /* decode, as planned: > 0, each sequence's split count is chosen on the
   * device by its length for this many block slots, at most `splits`
   * (fwd_decode_plan.h fa_decode_length_splits); 0, every sequence `splits`. */
  int32_t split_slots;
  /* decode, as planned: where split_slots caps the blocks an SM below what
   * the kernel's shared memory allows, the dynamic shared memory a block
   * asks for so that no more fit (0: the kernel's own). */
  int32_t split_block_smem;
  /* wgmma (prefill): the persistent grid's last partial round shared out by
   * keys, partials in the workspace (attn/tile_order.h, fa_tile_split), as
   * planned: num_splits other than 1 and workspace for it. */
  int32_t split_last_round;
  /* wgmma, as planned: log2 of heads_per_kv where the query heads of a KV
   * head are packed into one work tile's rows (row = token x G + head:
   * cuda/wgmma/work_tiles.cuh "GQA packing"); 0, a tile per query head. */
  int32_t pack_gqa_shift;
  /* wgmma, set at launch for dense calls: the persistent walk's tail as the
   * host chose it on the launch's grid (attn/tile_order.h); known 0: each
   * block chooses it (varlen calls: the lengths live on the device). */
  fa_tile_tail walk_tail;
  /* Which sequences this launch computes (a call split between two kernels,
   * dispatch.h): FA_SEQ_ALL, or only those with at most / more than
   * short_rows packed query rows (len_q x heads_per_kv). */
  int32_t seq_filter;
  int32_t short_rows;
  /* cuTensorMapEncodeTiled (the driver entry point, fa_device_info), or NULL:
   * families that load through TMA (wgmma) encode their tensor maps with it
   * at launch time and decline calls without it. */
  void *tensor_map_encode;
  /* Launch the call's kernels as programmatic dependents of the stream's
   * previous kernel (fa_fwd_params.launch_flags without FA_LAUNCH_NO_PDL):
   * the families that honour it (sm_90 decode and wgmma) wait for that
   * kernel (griddep_wait) before any memory access; others ignore it. */
  int32_t programmatic;
} fa_fwd_args;

enum { FA_SEQ_ALL = 0, FA_SEQ_SHORT = 1, FA_SEQ_LONG = 2 };

/* A kernel of the generated table: CUDA launches asynchronously and returns
 * a cudaError_t (0 = success); CPU computes synchronously and returns 0. */
typedef int (*fa_launch_fn)(const fa_fwd_args *args, fa_stream_t stream);

#ifdef __cplusplus
}
#endif

#endif /* FA_ARGS_H */
