/* minimal.c - the README's example, compiled by `ninja` so that it stays
 * true: causal GQA attention on device pointers the caller owns. */
#include <stdio.h>

#include <cuda_runtime_api.h>

#include <flashattn.h>

/* q: [total_q, 32, 128], k/v: [total_k, 8, 128], bf16, device pointers;
   cu_q/cu_k: int32 device arrays of batch+1 prefix sums. */
fa_status attend(const void *q, const void *k, const void *v, void *out, const int *cu_q, const int *cu_k, int batch,
                 long total_q, long total_k, int max_q, int max_k, cudaStream_t stream) {
  fa_fwd_params p = fa_fwd_params_default(); /* CUDA, bf16, no mask */
  p.batch = batch;
  p.num_heads_q = 32, p.num_heads_k = 8, p.head_dim = 128;
  p.cu_seqlens_q = cu_q, p.cu_seqlens_k = cu_k;
  p.total_q = total_q, p.total_k = total_k;
  p.max_seqlen_q = max_q, p.max_seqlen_k = max_k; /* host values: no sync */
  p.q = q, p.k = k, p.v = v, p.out = out;          /* packed strides (0) */
  p.window_left = -1, p.window_right = 0;          /* causal */
  p.stream = stream;
  fa_message msg;
  fa_status st = fa_fwd(&p, &msg); /* asynchronous on stream */
  if (st != FA_OK) fprintf(stderr, "%s\n", msg.text);
  return st;
}

int main(void) {
  /* Without buffers the call is rejected before anything runs: show it. */
  const fa_status st = attend(NULL, NULL, NULL, NULL, NULL, NULL, 1, 0, 0, 0, 0, NULL);
  return st == FA_ERR_NULL_POINTER ? 0 : 1;
}
