// mbar_latency.cu - cycles a warp spends in an mbarrier wait whose phase has
// already completed (fifty-fifth session). The d64 short causal trace put
// ~125-150 cycles on each of the loop's V and K waits though both loads had
// landed thousands of cycles before (fwd_wgmma.md "Next steps"): is that
// the wait itself? Modes, each a loop of 256 steps on one warp (and with 8
// warps of the block doing the same, for the shared SYNCS unit):
//   0  clock only (the loop's own cost)
//   1  try_wait loop (mbar_wait's form) on a completed phase
//   2  two try_wait loops, one after the other (the loop's V then K)
//   3  the two try_waits issued together, one branch on both (one latency?)
//   4  test_wait (non-blocking) alone, its predicate folded into a value
// The step's result feeds the next step's barrier address, so the steps are
// a dependent chain and the cycles per step are the latency.
// H200, 2026-12-04 (fifty-fifth session): 49 cycles a try_wait (1 or 8
// warps), two in turn 93, two together 87-89 (they do not overlap), a
// test_wait 50. The trace's 125-150 cycles a wait were mostly its marks;
// probing the loop's waits early (bench/experiments/wgmma-ring-probes.patch)
// was 0.8% slower.
//   nvcc -O3 -gencode arch=compute_90a,code=sm_90a -o mbar_latency bench/mbar_latency.cu && ./mbar_latency
#include <cstdio>
#include <cstdint>

__device__ __forceinline__ unsigned clk() {
  unsigned t;
  asm volatile("mov.u32 %0, %%clock;" : "=r"(t));
  return t;
}

template <int MODE>
__global__ void k(unsigned *cyc, int steps) {
  __shared__ __align__(8) unsigned long long bars[2];
  const uint32_t b0 = (uint32_t)__cvta_generic_to_shared(&bars[0]);
  if (threadIdx.x == 0) {
    for (int i = 0; i < 2; ++i) {
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(b0 + 8 * i) : "memory");
      asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(b0 + 8 * i) : "memory");  // phase 0 done
    }
  }
  __syncthreads();
  uint32_t off = 0;  // always 0, but the compiler cannot know it: each step depends on the last
  const unsigned t0 = clk();
  for (int i = 0; i < steps; ++i) {
    uint32_t r = 0;
    if (MODE == 1 || MODE == 2)
      asm volatile("{\n.reg .pred p;\nW%=:\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], 0;\n@!p bra W%=;\nmov.u32 %0, 0;\n}"
                   : "=r"(r) : "r"(b0 + off) : "memory");
    if (MODE == 2)
      asm volatile("{\n.reg .pred p;\nW%=:\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], 0;\n@!p bra W%=;\nmov.u32 %0, 0;\n}"
                   : "=r"(r) : "r"(b0 + 8 + off + r) : "memory");
    if (MODE == 3)
      asm volatile("{\n.reg .pred p, q;\nW%=:\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], 0;\n"
                   "mbarrier.try_wait.parity.shared::cta.b64 q, [%2], 0;\nand.pred p, p, q;\n@!p bra W%=;\nmov.u32 %0, 0;\n}"
                   : "=r"(r) : "r"(b0 + off), "r"(b0 + 8 + off) : "memory");
    if (MODE == 4)
      asm volatile("{\n.reg .pred p;\nmbarrier.test_wait.parity.shared::cta.b64 p, [%1], 0;\nselp.u32 %0, 0, 8, p;\n}"
                   : "=r"(r) : "r"(b0 + off) : "memory");
    off = (off + r) & 8u;
  }
  const unsigned t1 = clk();
  if (threadIdx.x % 32 == 0) cyc[threadIdx.x / 32] = (t1 - t0) + off;
}

template <int MODE>
static void run(const char *name, unsigned *d, int warps) {
  const int steps = 256;
  unsigned h[8];
  for (int rep = 0; rep < 2; ++rep) k<MODE><<<1, 32 * warps>>>(d, steps);
  cudaMemcpy(h, d, sizeof(unsigned) * warps, cudaMemcpyDeviceToHost);
  double mean = 0;
  for (int w = 0; w < warps; ++w) mean += h[w];
  printf("%d warp(s), %-46s: %6.1f cycles a step\n", warps, name, mean / warps / steps);
}

int main() {
  unsigned *d;
  cudaMalloc(&d, 64);
  for (int warps : {1, 8}) {
    run<0>("clock only", d, warps);
    run<1>("try_wait loop, completed phase", d, warps);
    run<2>("two try_wait loops in turn", d, warps);
    run<3>("two try_waits together, one branch", d, warps);
    run<4>("test_wait, predicate to a value", d, warps);
  }
  const cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) printf("error: %s\n", cudaGetErrorString(e));
  return e != cudaSuccess;
}
