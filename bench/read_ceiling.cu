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
//   dynamic: same grid; blocks claim CHUNK-byte chunks from a counter
//            (each chunk restarts the warps' rings: a bubble per chunk).
//   guided:  same grid; each warp streams a static slice of a fraction F of
//            the equal share, then claims CHUNK-byte tail chunks from a
//            counter, one claim ahead, its ring kept full across chunk
//            boundaries (no bubble): what a decode kernel that balances its
//            one wave's ends could do at best (fwd_decode.md [one-wave-ends]).
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

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
// One warp streams its slice [s0, s1) in kStep pieces, then (guided, a
// counter given) tail chunks of `chunk` bytes at tail0 + k * chunk (k from
// the counter; lane 0 claims the next one as it starts the current, so the
// claim's latency is hidden), until a claim lands past `bytes`. Steps are
// issued in order, kStages - 1 ahead of the one waited for, whichever chunk
// they belong to. Returns a checksum word.
__device__ uint32_t stream_warp(const char *src, long long s0, long long s1, long long tail0, long long bytes,
                                  long long chunk, unsigned *counter, uint32_t ring, uint32_t bars,
                                  uint32_t &phase_bits, int lane) {
  long long at = s0, end = s1, next = 0;
  bool done = false;
  if (counter != nullptr && lane == 0) next = tail0 + (long long)atomicAdd(counter, 1u) * chunk;
  auto has_step = [&]() -> bool {  // warp-uniform; moves to the claimed chunk where this one ends
    if (done) return false;
    if (at >= end) {
      if (counter == nullptr) {
        done = true;
        return false;
      }
      const long long c = __shfl_sync(0xffffffffu, next, 0);
      if (c >= bytes) {
        done = true;
        return false;
      }
      at = c, end = c + chunk < bytes ? c + chunk : bytes;
      if (lane == 0) next = tail0 + (long long)atomicAdd(counter, 1u) * chunk;
    }
    return true;
  };
  uint32_t acc = 0;
  int issued = 0, consumed = 0;
  auto issue = [&]() {
    const int sa = issued % kStages;
    if (lane == 0) {
      mbar_arrive_expect_tx(bars + sa * 8, kStep);
      cp_async_bulk(ring + sa * kStep, src + at, kStep, bars + sa * 8);
    }
    at += kStep, ++issued;
  };
  while (issued < kStages - 1 && has_step()) issue();
  while (consumed < issued) {
    __syncwarp();
    if (has_step()) issue();
    const int s = consumed % kStages;
    mbar_wait(bars + s * 8, (phase_bits >> s) & 1u);
    phase_bits ^= 1u << s;
    acc ^= ld_shared_4(ring + s * kStep + lane * 4);
    ++consumed;
  }
  return acc;
}
#endif

struct Probe {
  unsigned long long *end_ns;
  unsigned *smid;
};

__global__ void __launch_bounds__(kWarps * 32) read_kernel(const char *src, long long bytes, long long chunk,
                                                           unsigned *counter, uint32_t *sink, Probe p,
                                                           float static_share) {
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
  if (static_share >= 0.f) {  // guided: a static slice per warp, then claimed tail chunks
    const long long warps = (long long)gridDim.x * kWarps;
    const long long per_warp = (long long)(static_share * (double)bytes) / warps / kStep * kStep;
    const long long w0 = per_warp * (blockIdx.x * kWarps + warp);
    acc = stream_warp(src, w0, w0 + per_warp, per_warp * warps, bytes, chunk, counter, ring, bars, phase_bits, lane);
  } else if (counter == nullptr) {  // static: one equal slice per block, a quarter per warp
    const long long per_warp = bytes / gridDim.x / kWarps / kStep * kStep, b0 = per_warp * kWarps * blockIdx.x;
    acc = stream_warp(src, b0 + warp * per_warp, b0 + (warp + 1) * per_warp, 0, 0, 0, nullptr, ring, bars, phase_bits,
                      lane);
  } else {
    for (;;) {
      __syncthreads();
      if (threadIdx.x == 0) claimed = (long long)atomicAdd(counter, 1u) * chunk;
      __syncthreads();
      const long long c0 = claimed;
      if (c0 >= bytes) break;
      const long long per_warp = chunk / kWarps;
      acc ^= stream_warp(src, c0 + warp * per_warp, c0 + (warp + 1) * per_warp, 0, 0, 0, nullptr, ring, bars,
                         phase_bits, lane);
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
    long long chunk;     // 0: static
    float static_share;  // guided: the static fraction of each warp's equal share; < 0: not guided
  } modes[] = {{"static 2/SM", 2, 0, -1.f},
               {"dynamic 2/SM, 1 MiB chunks", 2, 1 << 20, -1.f},
               {"dynamic 2/SM, 256 KiB chunks", 2, 256 << 10, -1.f},
               {"guided 2/SM, F 0, 64 KiB", 2, 64 << 10, 0.f},
               {"guided 2/SM, F 0.6, 64 KiB", 2, 64 << 10, 0.6f},
               {"guided 2/SM, F 0.75, 64 KiB", 2, 64 << 10, 0.75f},
               {"guided 2/SM, F 0.75, 256 KiB", 2, 256 << 10, 0.75f},
               {"guided 2/SM, F 0.9, 32 KiB", 2, 32 << 10, 0.9f},
               {"static 1/SM", 1, 0, -1.f},
               {"static 3/SM", 3, 0, -1.f}};
  for (const Mode &m : modes) {
    if (m.blocks_per_sm > per_sm) continue;
    const int grid = sms * m.blocks_per_sm;
    std::vector<float> ms;
    for (int r = 0; r < 16; ++r) {
      cudaMemsetAsync(counter, 0, 4);
      cudaEventRecord(e0);
      read_kernel<<<grid, kWarps * 32, smem>>>(src, bytes, m.chunk, m.chunk ? counter : nullptr, sink, p,
                                                m.static_share);
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float t;
      cudaEventElapsedTime(&t, e0, e1);
      if (r > 0) ms.push_back(t);
    }
    if (cudaGetLastError() != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) break;
    std::sort(ms.begin(), ms.end());
    const float med = ms[ms.size() / 2];
    const long long read = m.chunk ? bytes : bytes / grid / kWarps / kStep * kStep * kWarps * grid;  // guided: all
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
