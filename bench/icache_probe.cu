// icache_probe.cu - what running code for the first time costs an SM
// (ninety-seventh session). The wgmma preamble (fwd_wgmma.md "The
// preamble") runs ~1,000 straight-line SASS instructions once per block and
// takes 5-10x the cycles their count and latencies suggest: is it the
// instruction fetch of cold code? Each kernel times, on thread 0 of every
// block (384 threads, 12 warps all running the same code, as the wgmma
// kernels; and 128 threads, one warp a sub-partition), kInsts IMADs on 8 independent registers (hot, they issue about
// one a cycle a warp):
//   straight  kInsts instructions in a row (kInsts x 16 bytes of code)
//   looped    the same count as 32 passes over a body of kInsts / 32
// Each is launched three times: the first launch after the module load,
// again at once, and again after 256 MiB written (L2 cold, as bench.py and
// ab_prefill time). Prints the median and max over the blocks of cycles a
// block, and cycles per instruction.
//   nvcc -O3 -gencode arch=compute_90a,code=sm_90a -o icache_probe bench/icache_probe.cu && ./icache_probe
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

constexpr int kInsts = 2048;  // 32 KB of straight-line code
constexpr int kThreads = 384;

__device__ __forceinline__ unsigned clk() {
  unsigned t;
  asm volatile("mov.u32 %0, %%clock;" : "=r"(t));
  return t;
}

// r = r * s + r: operands known only at run time, so ptxas cannot fold a run of them
#define STEP(r, s) asm volatile("mad.lo.u32 %0, %0, %1, %0;" : "+r"(r) : "r"(s))
#define STEP8 STEP(x0, x1); STEP(x1, x2); STEP(x2, x3); STEP(x3, x4); STEP(x4, x5); STEP(x5, x6); STEP(x6, x7); STEP(x7, x0)

template <int N>
__device__ __forceinline__ void steps(uint32_t &x0, uint32_t &x1, uint32_t &x2, uint32_t &x3, uint32_t &x4,
                                      uint32_t &x5, uint32_t &x6, uint32_t &x7) {
#pragma unroll
  for (int i = 0; i < N / 8; ++i) {
    STEP8;
  }
}

// MODE 0: straight, 1: looped
template <int MODE>
__global__ void __launch_bounds__(kThreads, 1) probe(unsigned *cycles, uint32_t *sink, int passes) {
  uint32_t x0 = threadIdx.x, x1 = x0 + 1, x2 = x0 + 2, x3 = x0 + 3, x4 = x0 + 4, x5 = x0 + 5, x6 = x0 + 6,
           x7 = x0 + 7;
  __syncthreads();
  const unsigned t0 = clk();
  if constexpr (MODE == 0) {
    steps<kInsts>(x0, x1, x2, x3, x4, x5, x6, x7);
  } else {
    for (int p = 0; p < passes; ++p) steps<kInsts / 32>(x0, x1, x2, x3, x4, x5, x6, x7);
  }
  const unsigned t1 = clk();
  if (threadIdx.x == 0) cycles[blockIdx.x] = t1 - t0;
  sink[blockIdx.x * blockDim.x + threadIdx.x] = x0 ^ x1 ^ x2 ^ x3 ^ x4 ^ x5 ^ x6 ^ x7;
}

__global__ void flush(uint4 *p, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    p[i] = make_uint4((uint32_t)i, 0, 0, 0);
}

template <int MODE>
static void run(const char *name, int blocks, int threads, unsigned *d_cycles, uint32_t *d_sink, uint4 *d_flush,
                size_t n_flush) {
  const char *when[3] = {"first launch", "again at once", "after 256 MiB written"};
  for (int k = 0; k < 3; ++k) {
    if (k == 2) flush<<<1024, 256>>>(d_flush, n_flush);
    probe<MODE><<<blocks, threads>>>(d_cycles, d_sink, 32);
    cudaDeviceSynchronize();
    std::vector<unsigned> c(blocks);
    cudaMemcpy(c.data(), d_cycles, blocks * sizeof(unsigned), cudaMemcpyDeviceToHost);
    std::sort(c.begin(), c.end());
    printf("%-9s %3d threads  %-22s median %6u max %6u cycles a block, %.2f a warp instruction\n", name, threads, when[k], c[blocks / 2],
           c[blocks - 1], (double)c[blocks / 2] / kInsts);
  }
}

int main() {
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  unsigned *d_cycles;
  uint32_t *d_sink;
  uint4 *d_flush;
  const size_t n_flush = (256u << 20) / sizeof(uint4);
  cudaMalloc(&d_cycles, sms * sizeof(unsigned));
  cudaMalloc(&d_sink, (size_t)sms * kThreads * sizeof(uint32_t));
  cudaMalloc(&d_flush, n_flush * sizeof(uint4));
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  printf("%s, %d SMs, %d blocks, %d IMADs (8 chains) a thread\n", prop.name, sms, sms, kInsts);
  // 384 threads: 12 warps, 3 an SM sub-partition (as the wgmma kernels); 128: one warp a sub-partition.
  // Each configuration is its own module's first launch only once: the 128-thread runs come second.
  run<0>("straight", sms, kThreads, d_cycles, d_sink, d_flush, n_flush);
  run<1>("looped", sms, kThreads, d_cycles, d_sink, d_flush, n_flush);
  run<0>("straight", sms, 128, d_cycles, d_sink, d_flush, n_flush);
  run<1>("looped", sms, 128, d_cycles, d_sink, d_flush, n_flush);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    printf("CUDA error: %s\n", cudaGetErrorString(e));
    return 1;
  }
  return 0;
}
