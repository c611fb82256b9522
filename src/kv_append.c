/*
 * kv_append.c - the append step on the CPU backend: the same positions as
 * the CUDA kernel (kv_append.cu), from the same rules (attn/sequence.h).
 */
#include <string.h>

#include "attn/sequence.h"
#include "cuda/kv_append.h"

void fa_cpu_append_kv(const fa_fwd_args *a) {
  const size_t row_bytes = (size_t)a->head_dim * 2u;
  for (int32_t b = 0; b < a->batch; ++b) {
    const fa_seq seq = fa_locate_sequence(a, b);
    const int64_t first = fa_clamp64(a->seqused_k[b], 0, seq.len_k);
    for (int32_t i = 0; i < seq.len_q && first + i < seq.len_k; ++i) {
      const fa_kv_coords c = fa_kv_row_coords(a, b, &seq, (int32_t)(first + i));
      for (int32_t h = 0; h < a->num_heads_k; ++h) {
        /* The cache is the caller's writable memory (flashattn.h: an append writes k and v). */
        uint16_t *k = (uint16_t *)a->k + c.outer * a->k_batch_stride + c.row * a->k_row_stride + h * a->k_head_stride;
        uint16_t *v = (uint16_t *)a->v + c.outer * a->v_batch_stride + c.row * a->v_row_stride + h * a->v_head_stride;
        const uint16_t *kn = (const uint16_t *)a->k_new + b * a->k_new_batch_stride +
                             (seq.q_start + i) * a->k_new_row_stride + h * a->k_new_head_stride;
        const uint16_t *vn = (const uint16_t *)a->v_new + b * a->v_new_batch_stride +
                             (seq.q_start + i) * a->v_new_row_stride + h * a->v_new_head_stride;
        memcpy(k, kn, row_bytes);
        memcpy(v, vn, row_bytes);
      }
    }
  }
}
