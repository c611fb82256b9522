/*
 * attn/sequence.h - where sequence b of a call lives and how long it is,
 * and where its key/value rows are (contiguous or paged), for every family.
 * Varlen offsets, cache lengths and page ids come from device memory that
 * the host cannot check without a sync, so they are clamped (offsets to
 * [0, total), lengths to what the sequence can hold, page ids to the pool):
 * a wrong prefix sum or table can never make a kernel read or write out of
 * bounds.
 */
#ifndef FA_ATTN_SEQUENCE_H
#define FA_ATTN_SEQUENCE_H

#include "attn/portable.h"
#include "fa_args.h"

typedef struct fa_seq {
  int64_t q_start; /* first q/out row of the sequence (varlen); 0 in dense mode */
  int64_t k_start; /* first k/v row */
  int32_t len_q;   /* query rows: Lq of the mask alignment */
  int32_t len_k;   /* keys used (seqused_k applied): Lk of the mask alignment */
} fa_seq;

FA_RULE fa_seq fa_locate_sequence(const fa_fwd_args *a, int32_t b) {
  /* Every load first, then the arithmetic: on the GPU the five loads are
   * then in flight together (one latency, not three: each null check is a
   * branch the compiler will not move a load across), and a kernel does
   * this at the start of every work tile. */
  const int32_t *cu_q = a->cu_seqlens_q, *cu_k = a->cu_seqlens_k, *used = a->seqused_k;
  const int64_t q0 = cu_q != NULL ? cu_q[b] : 0, q1 = cu_q != NULL ? cu_q[b + 1] : 0;
  const int64_t k0 = cu_k != NULL ? cu_k[b] : 0, k1 = cu_k != NULL ? cu_k[b + 1] : 0;
  const int64_t used_k = used != NULL ? used[b] : 0;
  fa_seq s;
  if (cu_q != NULL) {
    s.q_start = fa_clamp64(q0, 0, a->total_q);
    s.len_q = (int32_t)(fa_clamp64(q1, s.q_start, a->total_q) - s.q_start);
  } else {
    s.q_start = 0;
    s.len_q = a->seqlen_q;
  }
  if (cu_k != NULL) {
    s.k_start = fa_clamp64(k0, 0, a->total_k);
    s.len_k = (int32_t)(fa_clamp64(k1, s.k_start, a->total_k) - s.k_start);
  } else {
    s.k_start = 0;
    s.len_k = a->kv_capacity;
  }
  /* seqused_k: the keys used (with an append: the cache length before it,
   * plus this call's rows), never more than the sequence can hold. */
  if (used != NULL) s.len_k = (int32_t)fa_clamp64(used_k + (s.len_q & -a->append), 0, s.len_k);
  return s;
}

/* Whether this launch computes sequence s: a call may be split between a
 * kernel for short sequences and one for long ones (dispatch.h), each
 * skipping the other's. */
FA_RULE int fa_seq_selected(const fa_fwd_args *a, const fa_seq *s) {
  if (a->seq_filter == FA_SEQ_ALL) return 1;
  const int is_short = (int64_t)s->len_q * a->heads_per_kv <= a->short_rows;
  return is_short == (a->seq_filter == FA_SEQ_SHORT);
}

/* Where key/value row j (0 <= j < len_k) of sequence b lives: `outer` is
 * the batch index (dense), the page id (paged) or 0 (varlen), `row` the row
 * inside it. With a block table the page id is clamped into the pool, so a
 * bad table entry can never address outside it. The element offset in a K
 * or V tensor is outer * batch_stride + row * row_stride (+ head offset). */
typedef struct fa_kv_coords {
  int64_t outer, row;
} fa_kv_coords;

/* A block table entry as a page id inside the pool (the clamp above); for
 * kernels that read the entry ahead and place it later. */
FA_RULE int64_t fa_kv_page_in_pool(const fa_fwd_args *a, int64_t entry) { return fa_clamp64(entry, 0, a->num_pages - 1); }

FA_RULE fa_kv_coords fa_kv_row_coords(const fa_fwd_args *a, int32_t b, const fa_seq *s, int32_t j) {
  fa_kv_coords c;
  if (a->block_table != NULL) {
    const int32_t col = j / a->page_size;
    c.outer = fa_kv_page_in_pool(a, a->block_table[(int64_t)b * a->block_table_stride + col]);
    c.row = j - col * a->page_size;
  } else {
    c.outer = b;
    c.row = s->k_start + j;
  }
  return c;
}

FA_RULE int64_t fa_kv_row_offset(const fa_fwd_args *a, int32_t b, const fa_seq *s, int32_t j, int64_t batch_stride,
                                 int64_t row_stride) {
  const fa_kv_coords c = fa_kv_row_coords(a, b, s, j);
  return c.outer * batch_stride + c.row * row_stride;
}

#endif /* FA_ATTN_SEQUENCE_H */
