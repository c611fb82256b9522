// common/quad.cuh - reductions over the 4 lanes of a quad. In the
// accumulator layouts of mma.sync (m16n8) and wgmma (m64nN) the 4 lanes of
// a quad hold the columns of the same rows, so a row max or row sum over a
// thread's registers ends with these two shuffles.
#pragma once

namespace fa {

__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}

__device__ __forceinline__ float quad_min(float x) {
  x = fminf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fminf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}

__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

}  // namespace fa
