// pdl_writer.cu - see pdl_writer.h. The early trigger is what makes the
// test sensitive: without it a programmatic dependent starts only once
// every block of this kernel has exited, when its writes are done.
#include <cuda_runtime.h>
#include <stdint.h>

#include "pdl_writer.h"

namespace {

__device__ __forceinline__ uint64_t global_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void late_copy(uint16_t *dst, const uint16_t *src, size_t n, uint64_t spin_ns) {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  const uint64_t t0 = global_ns();
  while (global_ns() - t0 < spin_ns) {
  }
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    dst[i] = src[i];
}

}  // namespace

extern "C" int pdl_writer_launch(uint16_t *dst, const uint16_t *src, size_t n, unsigned spin_us, void *stream) {
  void *params[] = {&dst, &src, &n, nullptr};
  uint64_t spin_ns = (uint64_t)spin_us * 1000u;
  params[3] = &spin_ns;
  // 16 blocks: most SMs stay free for the dependent's blocks to start on.
  return (int)cudaLaunchKernel(reinterpret_cast<const void *>(late_copy), dim3(16), dim3(256), params, 0,
                               (cudaStream_t)stream);
}
