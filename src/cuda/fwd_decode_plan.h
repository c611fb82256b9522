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

/* Query rows per sequence a launch computes (Q): max_seqlen_q, or, when it
 * takes the short sequences of a pair, the most a short one has
 * (short_rows / heads_per_kv: fa_seq_selected's bound, short_seqlen_q). */
FA_RULE int64_t fa_decode_seq_rows(const fa_fwd_args *a) {
  int64_t q = a->seqlen_q;
  if (a->seq_filter == FA_SEQ_SHORT && a->heads_per_kv > 0 && q > a->short_rows / a->heads_per_kv)
    q = a->short_rows / a->heads_per_kv;
  return q;
}

/*
 * The workspace of a split call (splits > 1), in bytes from its start:
 *   lse parts: fp32 [splits][num_heads_q][rows]     at lse_offset (0)
 *   o parts:   fp32 [splits][rows][num_heads_q][head_dim], 256-byte aligned
 * The strides are fa_combine's, so combine.cu merges it as is. Rows by
 * sequence: query row qi of sequence b is row b * Q + qi (Q:
 * fa_decode_seq_rows), rows = batch x Q, so the long sequences of a pair
 * (the partner's) and the rows of prefill chunks cost nothing. Where
 * batch x Q is not below total_q (sequences about Q long, dense calls), the
 * rows of q instead: q_start(b) + qi (varlen) or b * seqlen_q + qi (dense),
 * rows = total_q. Either way no more than the rows of q.
 */
typedef struct fa_decode_workspace {
  int64_t rows;     /* per split */
  int64_t seq_rows; /* rows by sequence: Q; 0 when by q row */
  int64_t lse_offset, lse_part_stride, lse_head_stride;
  int64_t o_offset, o_part_stride, o_row_stride, o_head_stride;
  int64_t bytes; /* 0 when splits == 1 */
} fa_decode_workspace;

/* The layout for `batch` sequences of at most `seq_rows` query rows in a
 * call of `total_q` rows (fa_decode_workspace_layout; the bound of
 * fa_fwd_workspace_size_max evaluates it at its own values). */
FA_RULE fa_decode_workspace fa_decode_workspace_shape(int64_t batch, int64_t seq_rows, int64_t total_q, int64_t heads,
                                                      int64_t d, int32_t splits) {
  fa_decode_workspace w;
  const int by_seq = batch * seq_rows < total_q;
  const int64_t rows = by_seq ? batch * seq_rows : total_q;
  w.rows = rows;
  w.seq_rows = by_seq ? seq_rows : 0;
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

FA_RULE fa_decode_workspace fa_decode_workspace_layout(const fa_fwd_args *a, int32_t splits) {
  return fa_decode_workspace_shape(a->batch, fa_decode_seq_rows(a), a->total_q, a->num_heads_q, a->head_dim, splits);
}

/* The partial row of query row qi of sequence b (whose first q row is
 * q_start), or -1 where the layout has none: qi >= Q, which only a call
 * whose max_seqlen_q understates a length reaches (rows past max_seqlen_q
 * are not computed), or no rows at all (Q = 0). */
FA_RULE int64_t fa_decode_part_row(const fa_decode_workspace *w, const fa_fwd_args *a, int32_t b, int64_t q_start,
                                   int32_t qi) {
  int64_t r;
  if (w->seq_rows > 0)
    r = qi < w->seq_rows ? (int64_t)b * w->seq_rows + qi : -1;
  else
    r = a->cu_seqlens_q != NULL ? q_start + qi : (int64_t)b * a->seqlen_q + qi;
  return r < w->rows ? r : -1;
}

#ifdef __cplusplus
}
#endif

#endif /* FA_CUDA_FWD_DECODE_PLAN_H */
