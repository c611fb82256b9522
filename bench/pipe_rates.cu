// pipe_rates.cu - cycles per warp instruction of MUFU.EX2, F2FP (the bf16x2
// pack), both interleaved, FFMA, and (fifty-fourth session, built, not run
// yet) FMNMX, FSEL and MUFU.EX2 interleaved with FMNMX: the softmax's row
// extremes and the diagonal mask before the turn (fwd_wgmma.md "Next
// steps" 00000 assumes FMNMX and FSEL at half the FFMA rate), with 1 and 2 warps per SM
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
  const float bound = in[8192 + threadIdx.x % 32];     // unknown to the compiler: no folding
  const unsigned keep = __float_as_uint(in[8224 + threadIdx.x % 32]);
  for (int i = 0; i < 8; ++i) x[i] = in[threadIdx.x * 8 + i];
  __syncthreads();
  long long t0 = clock64();
  for (int it = 0; it < iters; ++it) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      if (MODE == 0 || MODE == 2) { float y; asm volatile("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x[i])); x[i] = y; }
      if (MODE == 1 || MODE == 2) { unsigned r; asm volatile("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(x[i]), "f"(x[(i+1)&7])); acc += r; }
      if (MODE == 3) { float y; asm volatile("fma.rn.f32 %0, %1, %1, %1;" : "=f"(y) : "f"(x[i])); x[i] = y; }
      if (MODE == 4 || MODE == 6) { float y; asm volatile("max.f32 %0, %1, %2;" : "=f"(y) : "f"(x[i]), "f"(bound)); x[i] = y; }
      if (MODE == 5 && i == 0)  // one setp and 8 selp a step (the kernel's mask: one R2P for 7 FSEL)
        asm volatile("{ .reg .pred q; setp.ne.u32 q, %8, 0;\n"
                     " selp.f32 %0, %0, %9, q; selp.f32 %1, %9, %1, q; selp.f32 %2, %2, %9, q; selp.f32 %3, %9, %3, q;\n"
                     " selp.f32 %4, %4, %9, q; selp.f32 %5, %9, %5, q; selp.f32 %6, %6, %9, q; selp.f32 %7, %9, %7, q; }"
                     : "+f"(x[0]), "+f"(x[1]), "+f"(x[2]), "+f"(x[3]), "+f"(x[4]), "+f"(x[5]), "+f"(x[6]), "+f"(x[7])
                     : "r"(keep), "f"(bound));
      if (MODE == 6) { float y; asm volatile("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x[(i + 4) & 7])); x[(i + 4) & 7] = y; }
    }
  }
  long long t1 = clock64();
  float s = 0; for (int i = 0; i < 8; ++i) s += x[i];
  out[threadIdx.x] = acc + (unsigned)s;
  if (threadIdx.x % 32 == 0) cyc[threadIdx.x / 32] = t1 - t0;
}
int main() {
  float *in; unsigned *out; long long *cyc, h[32];
  cudaMalloc(&in, (8192 + 64) * 4); cudaMemset(in, 0, (8192 + 64) * 4); cudaMalloc(&out, 4096); cudaMalloc(&cyc, 32 * 8);
  const int iters = 4096;
  const char *names[] = {"ex2 (MUFU)", "cvt.rn.bf16x2.f32 (F2FP)", "ex2 + cvt interleaved", "fma",
                         "max.f32 (FMNMX)", "setp + selp.f32 (FSEL)", "ex2 + max interleaved"};
  for (int warps : {4, 8}) for (int mode = 0; mode < 7; ++mode) {
    for (int rep = 0; rep < 2; ++rep) {
      if (mode == 0) k<0><<<1, 32 * warps>>>(in, out, cyc, iters);
      if (mode == 1) k<1><<<1, 32 * warps>>>(in, out, cyc, iters);
      if (mode == 2) k<2><<<1, 32 * warps>>>(in, out, cyc, iters);
      if (mode == 3) k<3><<<1, 32 * warps>>>(in, out, cyc, iters);
      if (mode == 4) k<4><<<1, 32 * warps>>>(in, out, cyc, iters);
      if (mode == 5) k<5><<<1, 32 * warps>>>(in, out, cyc, iters);
      if (mode == 6) k<6><<<1, 32 * warps>>>(in, out, cyc, iters);
    }
    cudaMemcpy(h, cyc, 8 * warps, cudaMemcpyDeviceToHost);
    printf("%d warps/SM (%d per SMSP), %-26s: %.2f cycles per loop step of 8 (per warp), %.2f per instruction\n", warps, warps / 4, names[mode], (double)h[0] / iters, (double)h[0] / iters / (mode == 2 || mode == 6 ? 16 : 8));
  }
  return 0;
}
