// The read ceiling of the GPU for a decode-like stream, and whether it is
// reached by a one-wave grid with an equal share per block (what the decode
// kernel launches) or only when blocks claim chunks as they go.
//
//   nvcc -O3 -std=c++17 -Isrc -gencode arch=compute_90a,code=sm_90a bench/read_ceiling.cu -o build/read_ceiling
//   build/read_ceiling [MiB=512]
//
// Each block has 4 warps; each warp streams 8 KB steps through its own ring
// of 3 slots with cp.async.bulk (lane 0 issues, an mbarrier per slot), like
// the decode kernel's K+V steps, and touches each landed step once.
//   static:  grid = 2 blocks per SM, each block an equal contiguous slice.
//   dynamic: same grid; blocks claim CHUNK-byte chunks from a counter.
// Per block: SM id and the time its last warp finished (globaltimer), so the
// static mode shows which SMs finish early. Prints GB/s (median of 15).
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

#include "cuda/ptx.cuh"

namespace {
using namespace fa;
constexpr int kWarps = 4, kStages = 3, kStep = 8192;

__device__ __forceinline__ unsigned long long now() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// One warp streams [begin, end) in kStep pieces; returns a checksum word.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ uint32_t stream_warp(const char *src, long long begin, long long end, uint32_t ring, uint32_t bars,
                                uint32_t &phase_bits, int lane) {
  const int steps = (int)((end - begin) / kStep);
  uint32_t acc = 0;
  for (int i = 0; i < kStages - 1 && i < steps; ++i)
    if (lane == 0) {
      mbar_arrive_expect_tx(bars + i * 8, kStep);
      cp_async_bulk(ring + i * kStep, src + begin + (long long)i * kStep, kStep, bars + i * 8);
    }
  for (int i = 0; i < steps; ++i) {
    const int ahead = i + kStages - 1, s = i % kStages;
    __syncwarp();
    if (lane == 0 && ahead < steps) {
      const int sa = ahead % kStages;
      mbar_arrive_expect_tx(bars + sa * 8, kStep);
      cp_async_bulk(ring + sa * kStep, src + begin + (long long)ahead * kStep, kStep, bars + sa * 8);
    }
    mbar_wait(bars + s * 8, (phase_bits >> s) & 1u);
    phase_bits ^= 1u << s;
    acc ^= ld_shared_4(ring + s * kStep + lane * 4);
  }
  return acc;
}
#endif

struct Probe {
  unsigned long long *end_ns;
  unsigned *smid;
};

__global__ void __launch_bounds__(kWarps * 32) read_kernel(const char *src, long long bytes, long long chunk,
                                                           unsigned *counter, uint32_t *sink, Probe p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(1024) unsigned char smem[];
  __shared__ long long claimed;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const uint32_t ring = smem_u32(smem) + warp * kStages * kStep;
  __shared__ __align__(8) unsigned long long bar_mem[kWarps * kStages];
  const uint32_t bars = smem_u32(bar_mem) + warp * kStages * 8;
  if (lane == 0)
    for (int s = 0; s < kStages; ++s) mbar_init(bars + s * 8, 1);
  fence_mbar_init();
  __syncwarp();
  uint32_t phase_bits = 0, acc = 0;
  if (counter == nullptr) {  // static: one equal slice per block, a quarter per warp
    const long long per_warp = bytes / gridDim.x / kWarps / kStep * kStep, b0 = per_warp * kWarps * blockIdx.x;
    acc = stream_warp(src, b0 + warp * per_warp, b0 + (warp + 1) * per_warp, ring, bars, phase_bits, lane);
  } else {
    for (;;) {
      __syncthreads();
      if (threadIdx.x == 0) claimed = (long long)atomicAdd(counter, 1u) * chunk;
      __syncthreads();
      const long long c0 = claimed;
      if (c0 >= bytes) break;
      const long long per_warp = chunk / kWarps;
      acc ^= stream_warp(src, c0 + warp * per_warp, c0 + (warp + 1) * per_warp, ring, bars, phase_bits, lane);
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned id;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
    p.end_ns[blockIdx.x] = now();
    p.smid[blockIdx.x] = id;
  }
  if (acc == 0x12345678u) sink[blockIdx.x] = acc;  // keeps the loads
#endif
}
}  // namespace

int main(int argc, char **argv) {
  const long long mib = argc > 1 ? atoll(argv[1]) : 512;
  const long long bytes = mib << 20;
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  char *src;
  unsigned *counter;
  uint32_t *sink;
  cudaMalloc(&src, bytes);
  cudaMemset(src, 1, bytes);
  cudaMalloc(&counter, 4);
  cudaMalloc(&sink, 4096 * 4);
  Probe p;
  cudaMalloc(&p.end_ns, 4096 * 8);
  cudaMalloc(&p.smid, 4096 * 4);
  const int smem = kWarps * kStages * kStep;
  cudaFuncSetAttribute(read_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  int per_sm = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, read_kernel, kWarps * 32, smem);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  printf("device SMs %d, blocks per SM by occupancy %d, %lld MiB read per run\n", sms, per_sm, mib);
  struct Mode {
    const char *name;
    int blocks_per_sm;
    long long chunk;  // 0: static
  } modes[] = {{"static 2/SM", 2, 0}, {"dynamic 2/SM, 1 MiB chunks", 2, 1 << 20},
               {"dynamic 2/SM, 256 KiB chunks", 2, 256 << 10}, {"dynamic 2/SM, 128 KiB chunks", 2, 128 << 10},
               {"static 1/SM", 1, 0}, {"static 3/SM", 3, 0}};
  for (const Mode &m : modes) {
    if (m.blocks_per_sm > per_sm) continue;
    const int grid = sms * m.blocks_per_sm;
    std::vector<float> ms;
    for (int r = 0; r < 16; ++r) {
      cudaMemsetAsync(counter, 0, 4);
      cudaEventRecord(e0);
      read_kernel<<<grid, kWarps * 32, smem>>>(src, bytes, m.chunk, m.chunk ? counter : nullptr, sink, p);
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float t;
      cudaEventElapsedTime(&t, e0, e1);
      if (r > 0) ms.push_back(t);
    }
    if (cudaGetLastError() != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) break;
    std::sort(ms.begin(), ms.end());
    const float med = ms[ms.size() / 2];
    const long long read = m.chunk ? bytes : bytes / grid / kWarps / kStep * kStep * kWarps * grid;
    // The last run's block end times, grouped by SM: the earliest and latest
    // SM (mean of its blocks) relative to the last.
    std::vector<unsigned long long> end(grid);
    std::vector<unsigned> smid(grid);
    cudaMemcpy(end.data(), p.end_ns, grid * 8, cudaMemcpyDeviceToHost);
    cudaMemcpy(smid.data(), p.smid, grid * 4, cudaMemcpyDeviceToHost);
    std::vector<double> sm_end(sms, 0);
    std::vector<int> sm_n(sms, 0);
    for (int b = 0; b < grid; ++b) {
      sm_end[smid[b]] += (double)end[b];
      sm_n[smid[b]]++;
    }
    std::vector<double> ends;
    for (int s = 0; s < sms; ++s)
      if (sm_n[s]) ends.push_back(sm_end[s] / sm_n[s]);
    std::sort(ends.begin(), ends.end());
    const double last = ends.back();
    printf("%-32s grid %4d: %.3f ms, %.0f GB/s; SM mean end before the last SM's: p0 %.1f us, p10 %.1f, p50 %.1f\n",
           m.name, grid, med, read / (med * 1e-3) / 1e9, (last - ends[0]) / 1e3, (last - ends[ends.size() / 10]) / 1e3,
           (last - ends[ends.size() / 2]) / 1e3);
  }
  const cudaError_t e = cudaDeviceSynchronize();
  printf("status: %s\n", cudaGetErrorString(e));
  return e != cudaSuccess;
}
