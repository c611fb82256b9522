// combine.cu - the merge of partial attention results on the GPU: one warp
// per (row, head); each lane owns 4 consecutive elements of the head dim per
// 128-element chunk (16-byte loads of the fp32 partials). The parts are
// visited in index order, so the result's bits do not depend on anything
// but the parts. Used by the decode family's split-KV path and fa_combine.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "attn/softmax.h"
#include "cuda/combine.h"
#include "cuda/ptx.cuh"

namespace {

constexpr int kWarps = 4;

__device__ __forceinline__ void store4(void *out, fa_dtype dtype, int64_t at, const float (&v)[4]) {
  if (dtype == FA_DTYPE_FP32) {
    *reinterpret_cast<float4 *>(static_cast<float *>(out) + at) = make_float4(v[0], v[1], v[2], v[3]);
  } else if (dtype == FA_DTYPE_BF16) {
    __nv_bfloat162 lo = __floats2bfloat162_rn(v[0], v[1]), hi = __floats2bfloat162_rn(v[2], v[3]);
    uint2 bits;
    bits.x = *reinterpret_cast<uint32_t *>(&lo);
    bits.y = *reinterpret_cast<uint32_t *>(&hi);
    *reinterpret_cast<uint2 *>(static_cast<__nv_bfloat16 *>(out) + at) = bits;
  } else {
    __half2 lo = __floats2half2_rn(v[0], v[1]), hi = __floats2half2_rn(v[2], v[3]);
    uint2 bits;
    bits.x = *reinterpret_cast<uint32_t *>(&lo);
    bits.y = *reinterpret_cast<uint32_t *>(&hi);
    *reinterpret_cast<uint2 *>(static_cast<__half *>(out) + at) = bits;
  }
}

__global__ void __launch_bounds__(kWarps * 32) combine_kernel(const __grid_constant__ fa_combine_job j) {
  fa::griddep_wait();  // launched as a dependent (decode's splits): the partials are complete and visible
  const int lane = threadIdx.x & 31;
  const int64_t items = (int64_t)j.batch * j.rows_per_batch * j.num_heads;
  for (int64_t item = (int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5); item < items;
       item += (int64_t)gridDim.x * kWarps) {
    const int h = (int)(item % j.num_heads);
    const int64_t row = item / j.num_heads;
    const int b = (int)(row / j.rows_per_batch);
    const int64_t i = row % j.rows_per_batch;
    const fa_combine_seq s = fa_combine_locate(&j, b);
    if (i >= s.rows) continue;
    const int64_t q_start = s.q_start, r = s.part_row0 + i;
    const float *lse_row = j.lse_parts + h * j.lse_part_head_stride + r;
    const float sink = j.sinks != nullptr ? j.sinks[h] * FA_LOG2E_F : -INFINITY;
    const fa_merge m = fa_merge_parts(lse_row, j.lse_part_stride, j.num_parts, sink);
    const int64_t out_row = (int64_t)b * j.out_batch_stride + (q_start + i) * j.out_row_stride + h * j.out_head_stride;
    const float *o_row = j.o_parts + r * j.o_row_stride + h * j.o_head_stride;
    for (int d = lane * 4; d < j.head_dim; d += 128) {
      float acc[4] = {0.f, 0.f, 0.f, 0.f};
      for (int p = 0; p < j.num_parts; ++p) {
        const float l = lse_row[p * j.lse_part_stride];
        if (l == -INFINITY) continue;  // an empty part: its o is never read
        const float w = fa_merge_weight(&m, l);
        const float4 v = *reinterpret_cast<const float4 *>(o_row + p * j.o_part_stride + d);
        acc[0] += w * v.x, acc[1] += w * v.y, acc[2] += w * v.z, acc[3] += w * v.w;
      }
      store4(j.out, j.out_dtype, out_row + d, acc);
    }
    if (j.lse != nullptr && lane == 0)
      j.lse[(int64_t)b * j.lse_batch_stride + h * j.lse_head_stride + q_start + i] = m.lse;
  }
}

}  // namespace

// programmatic: launched as a programmatic dependent of the kernel before
// it on the stream (sm_90; that kernel calls griddep_launch_dependents), so
// that its launch overlaps that kernel's last blocks; griddep_wait() keeps
// the order of the data.
static int launch_combine(const fa_combine_job *job, fa_stream_t stream, bool programmatic) {
  const int64_t items = (int64_t)job->batch * job->rows_per_batch * job->num_heads;
  if (items == 0) return cudaSuccess;
  const int64_t blocks = (items + kWarps - 1) / kWarps;
  const unsigned grid = (unsigned)(blocks < (1 << 20) ? blocks : (1 << 20));  // grid-stride beyond
  // cudaLaunchKernelExC, not <<<>>>: the stub would need a C++ runtime guard (build.ninja).
  void *params[] = {const_cast<fa_combine_job *>(job)};
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(grid);
  config.blockDim = dim3(kWarps * 32);
  config.stream = (cudaStream_t)stream;
  cudaLaunchAttribute attribute;
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  config.numAttrs = programmatic ? 1 : 0;
  return cudaLaunchKernelExC(&config, reinterpret_cast<const void *>(combine_kernel), params);
}

extern "C" int fa_cuda_combine(const fa_combine_job *job, fa_stream_t stream) {
  return launch_combine(job, stream, false);
}

int fa_cuda_combine_dependent(const fa_combine_job *job, fa_stream_t stream) {
  return launch_combine(job, stream, true);
}
