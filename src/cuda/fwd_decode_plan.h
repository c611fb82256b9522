/*
 * fwd_decode_plan.h - what the decode family's host code (C) and kernel
 * (CUDA) must agree on: the tile sizes, the split plan's workspace layout.
 * Internal.
 */
#ifndef FA_CUDA_FWD_DECODE_PLAN_H
#define FA_CUDA_FWD_DECODE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "attn/portable.h"
#include "fa_args.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FA_DECODE_ROWS 16 /* packed query rows (query row x group member) per block */
#define FA_DECODE_STEP 16 /* keys per warp step; key tiles start at multiples of it */
#define FA_DECODE_WARPS 4

/* Row tiles per (sequence, KV head) a launch covers: enough for
 * max_seqlen_q x heads_per_kv packed rows, or, when the call is split and
 * this launch takes the short sequences, for short_rows of them. */
FA_RULE int64_t fa_decode_row_tiles(const fa_fwd_args *a) {
  int64_t rows = (int64_t)a->seqlen_q * a->heads_per_kv;
  if (a->seq_filter == FA_SEQ_SHORT && rows > a->short_rows) rows = a->short_rows;
  return (rows + FA_DECODE_ROWS - 1) / FA_DECODE_ROWS;
}

/*
 * The workspace of a split call (splits > 1), in bytes from its start:
 *   lse parts: fp32 [splits][num_heads_q][total_q]     at lse_offset (0)
 *   o parts:   fp32 [splits][total_q][num_heads_q][head_dim], 256-byte aligned
 * total_q: the rows of q (dense: batch * max_seqlen_q). The layout is
 * fa_combine's, so combine.cu merges it as is.
 */
typedef struct fa_decode_workspace {
  int64_t lse_offset, lse_part_stride, lse_head_stride;
  int64_t o_offset, o_part_stride, o_row_stride, o_head_stride;
  int64_t bytes; /* 0 when splits == 1 */
} fa_decode_workspace;

FA_RULE fa_decode_workspace fa_decode_workspace_layout(const fa_fwd_args *a, int32_t splits) {
  fa_decode_workspace w;
  const int64_t rows = a->total_q, heads = a->num_heads_q, d = a->head_dim;
  w.lse_offset = 0;
  w.lse_head_stride = rows;
  w.lse_part_stride = heads * rows;
  w.o_offset = (splits * heads * rows * 4 + 255) / 256 * 256;
  w.o_head_stride = d;
  w.o_row_stride = heads * d;
  w.o_part_stride = rows * heads * d;
  w.bytes = splits > 1 ? w.o_offset + splits * rows * heads * d * 4 : 0;
  return w;
}

#ifdef __cplusplus
}
#endif

#endif /* FA_CUDA_FWD_DECODE_PLAN_H */
