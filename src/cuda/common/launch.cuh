// common/launch.cuh - host side: a kernel launch in stream order, or as a
// programmatic dependent of the kernel before it on the stream (PDL,
// sm_90): the grid may then start once every block of that kernel has
// called griddep_launch_dependents() or exited, and the kernel itself must
// call griddep_wait() (cuda/ptx.cuh) before it touches memory that kernel
// may write or read. Through cudaLaunchKernelExC, not <<<>>>: the stub
// would need a C++ runtime guard (build.ninja).
#pragma once

#include <cuda_runtime.h>

namespace fa {

inline cudaError_t launch_kernel(const void *kernel, dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t stream,
                                 void **params, bool programmatic) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem_bytes;
  config.stream = stream;
  cudaLaunchAttribute attribute;
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  config.numAttrs = programmatic ? 1 : 0;
  return cudaLaunchKernelExC(&config, kernel, params);
}

}  // namespace fa
