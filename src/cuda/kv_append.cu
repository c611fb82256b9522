// kv_append.cu - the append step on the GPU: one block per (sequence, new
// row), its threads copy every head's row in 16-byte chunks. Positions come
// from the same rules as the attention kernels (attn/sequence.h), so what
// the append writes is exactly what the attention then reads.
#include <cuda_runtime.h>

#include "attn/sequence.h"
#include "cuda/kv_append.h"

namespace {

constexpr int kThreads = 128;

__global__ void __launch_bounds__(kThreads) append_kernel(const __grid_constant__ fa_fwd_args a) {
  const int b = (int)(blockIdx.x / (unsigned)a.seqlen_q);
  const int i = (int)(blockIdx.x % (unsigned)a.seqlen_q);
  const fa_seq seq = fa_locate_sequence(&a, b);
  if (i >= seq.len_q) return;
  const int64_t pos = fa_clamp64(a.seqused_k[b], 0, seq.len_k) + i;
  if (pos >= seq.len_k) return;  // past what the sequence can hold
  const fa_kv_coords c = fa_kv_row_coords(&a, b, &seq, (int32_t)pos);
  const int chunks = a.head_dim / 8;
  const uint16_t *kn = static_cast<const uint16_t *>(a.k_new) + b * a.k_new_batch_stride + (seq.q_start + i) * a.k_new_row_stride;
  const uint16_t *vn = static_cast<const uint16_t *>(a.v_new) + b * a.v_new_batch_stride + (seq.q_start + i) * a.v_new_row_stride;
  // The cache is the caller's writable memory (fa_fwd_params documents k and v as written by an append).
  uint16_t *k = const_cast<uint16_t *>(static_cast<const uint16_t *>(a.k)) + c.outer * a.k_batch_stride + c.row * a.k_row_stride;
  uint16_t *v = const_cast<uint16_t *>(static_cast<const uint16_t *>(a.v)) + c.outer * a.v_batch_stride + c.row * a.v_row_stride;
  for (int t = threadIdx.x; t < a.num_heads_k * chunks; t += kThreads) {
    const int h = t / chunks, col = (t % chunks) * 8;
    *reinterpret_cast<uint4 *>(k + h * a.k_head_stride + col) =
        *reinterpret_cast<const uint4 *>(kn + h * a.k_new_head_stride + col);
    *reinterpret_cast<uint4 *>(v + h * a.v_head_stride + col) =
        *reinterpret_cast<const uint4 *>(vn + h * a.v_new_head_stride + col);
  }
}

}  // namespace

extern "C" int fa_cuda_append_kv(const fa_fwd_args *args, fa_stream_t stream) {
  const long long blocks = (long long)args->batch * args->seqlen_q;  // < 2^31: batch, seqlen < 2^31 and checked
  if (blocks == 0) return cudaSuccess;
  void *params[] = {const_cast<fa_fwd_args *>(args)};
  return cudaLaunchKernel(reinterpret_cast<const void *>(append_kernel), dim3((unsigned)blocks), dim3(kThreads), params,
                          0, (cudaStream_t)stream);
}
