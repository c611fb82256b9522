/*
 * attn/sequence.h - where sequence b of a call lives and how long it is,
 * for every family. Varlen offsets come from device-side cu_seqlens that
 * the host cannot check without a sync, so they are clamped to [0, total):
 * a wrong prefix sum can never make a kernel read or write out of bounds.
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
  fa_seq s;
  if (a->cu_seqlens_q != NULL) {
    s.q_start = fa_clamp64(a->cu_seqlens_q[b], 0, a->total_q);
    s.k_start = fa_clamp64(a->cu_seqlens_k[b], 0, a->total_k);
    s.len_q = (int32_t)(fa_clamp64(a->cu_seqlens_q[b + 1], s.q_start, a->total_q) - s.q_start);
    s.len_k = (int32_t)(fa_clamp64(a->cu_seqlens_k[b + 1], s.k_start, a->total_k) - s.k_start);
  } else {
    s.q_start = 0;
    s.k_start = 0;
    s.len_q = a->seqlen_q;
    s.len_k = a->seqlen_k;
  }
  if (a->seqused_k != NULL) s.len_k = (int32_t)fa_clamp64(a->seqused_k[b], 0, s.len_k);
  return s;
}

#endif /* FA_ATTN_SEQUENCE_H */
