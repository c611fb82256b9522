// pipe_rates.cu - cycles per warp instruction of MUFU.EX2, F2FP (the bf16x2
// pack), both interleaved, and FFMA, with 1 and 2 warps per SM
// sub-partition (one block on one SM; clock64 around a loop of 8
// independent chains). What it showed on the H200 (2026-12-01,
// fwd_wgmma.md "Twenty-third session"): MUFU.EX2 8.3 cycles a warp
// instruction (16.0 with two warps sharing the unit: one MUFU per
// sub-partition), F2FP 2.2 (not on the MUFU), FFMA 1.4.
//   nvcc -O3 -gencode arch=compute_90a,code=sm_90a -o pipe_rates bench/pipe_rates.cu && ./pipe_rates
#include <cstdio>
#include <cuda_bf16.h>
template <int MODE>
__global__ void k(float *in, unsigned *out, long long *cyc, int iters) {
  float x[8]; unsigned acc = 0;
  for (int i = 0; i < 8; ++i) x[i] = in[threadIdx.x * 8 + i];
  __syncthreads();
  long long t0 = clock64();
  for (int it = 0; it < iters; ++it) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      if (MODE == 0 || MODE == 2) { float y; asm volatile("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x[i])); x[i] = y; }
      if (MODE == 1 || MODE == 2) { unsigned r; asm volatile("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(x[i]), "f"(x[(i+1)&7])); acc += r; }
      if (MODE == 3) { float y; asm volatile("fma.rn.f32 %0, %1, %1, %1;" : "=f"(y) : "f"(x[i])); x[i] = y; }
    }
  }
  long long t1 = clock64();
  float s = 0; for (int i = 0; i < 8; ++i) s += x[i];
  out[threadIdx.x] = acc + (unsigned)s;
  if (threadIdx.x % 32 == 0) cyc[threadIdx.x / 32] = t1 - t0;
}
int main() {
  float *in; unsigned *out; long long *cyc, h[32];
  cudaMalloc(&in, 1024 * 8 * 4); cudaMemset(in, 0, 1024 * 32); cudaMalloc(&out, 4096); cudaMalloc(&cyc, 32 * 8);
  const int iters = 4096;
  const char *names[] = {"ex2 (MUFU)", "cvt.rn.bf16x2.f32 (F2FP)", "ex2 + cvt interleaved", "fma"};
  for (int warps : {4, 8}) for (int mode = 0; mode < 4; ++mode) {
    for (int rep = 0; rep < 2; ++rep) {
      if (mode == 0) k<0><<<1, 32 * warps>>>(in, out, cyc, iters);
      if (mode == 1) k<1><<<1, 32 * warps>>>(in, out, cyc, iters);
      if (mode == 2) k<2><<<1, 32 * warps>>>(in, out, cyc, iters);
      if (mode == 3) k<3><<<1, 32 * warps>>>(in, out, cyc, iters);
    }
    cudaMemcpy(h, cyc, 8 * warps, cudaMemcpyDeviceToHost);
    printf("%d warps/SM (%d per SMSP), %-26s: %.2f cycles per loop step of 8 (per warp), %.2f per instruction\n", warps, warps / 4, names[mode], (double)h[0] / iters, (double)h[0] / iters / (mode == 2 ? 16 : 8));
  }
  return 0;
}
