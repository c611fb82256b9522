// Whether one SM's K/V stream has a ceiling of its own: the decode kernel
// reads ~31-32 GB/s per block at every fill and ring depth measured
// (forty-first session: b12 x 4k, 96 blocks on 96 SMs, 2, 3 or 5 stages;
// b32 x 8k, 256 blocks on 132 SMs, 4.2 TB/s), while cuDNN's cp.async
// kernel pulls its grid's bytes through all 132 SMs.
//
//   nvcc -O3 -std=c++17 -Isrc -gencode arch=compute_90a,code=sm_90a bench/sm_rate_probe.cu -o build/sm_rate_probe
//   build/sm_rate_probe
//
// Each block streams one unit, a (sequence, KV head) of 4096 keys x 256
// bytes of K and of V (d128 bf16, 8 KV heads: block u is head u % 8 of
// sequence u / 8), 4 warps, warp w taking steps w, w + 4, ... of 16 keys,
// through its own ring of STAGES slots (K and V of one step: 8 KiB),
// reading one word of each landed step. Layouts: bhsd (a unit's rows
// contiguous, 2 MiB) and bshd (the decode bench's cache: a unit's rows
// 8 x 256 bytes apart, the 8 heads of a key side by side). Loads:
//   tma:      two boxes of {64 columns, 16 rows} for K and two for V per
//             step, 128-byte swizzle, completing on the slot's mbarrier
//             (the decode kernel's tile copies, decode/loads.cuh)
//   cp.async: 16 bytes a lane, 16 copies a lane per step, one group per
//             step, cp.async.wait_group STAGES - 1 (the sm_80 load path)
// Grids of 32, 64, 96 and 128 blocks at one block an SM (shared memory
// forces it), and 256 at two an SM. Prints total and per-block GB/s
// (bytes over the median of 30 launches, modes interleaved).
#include <cuda.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>
#include <stdint.h>
#include <stdio.h>

#include <algorithm>
#include <vector>

#include "cuda/ptx.cuh"
#include "probe_maps.h"

namespace {
using namespace fa;
constexpr int kWarps = 4, kKeys = 4096, kRowBytes = 256, kRowsPerStep = 16, kHeads = 8;
constexpr int kStepBytes = 2 * kRowsPerStep * kRowBytes;  // K and V of one step
constexpr int kSteps = kKeys / kRowsPerStep;
constexpr long long kUnitBytes = (long long)kKeys * kRowBytes;  // of K (and of V)
constexpr int kMaxUnits = 256;

struct Maps {
  CUtensorMap k, v;
};

template <int STAGES, bool TMA, bool BSHD>
__global__ void __launch_bounds__(kWarps * 32) stream_kernel(const __grid_constant__ Maps maps, const char *k,
                                                             const char *v, uint32_t *sink) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(1024) unsigned char smem[];
  __shared__ __align__(8) unsigned long long bar_mem[kWarps * STAGES];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const uint32_t ring = ((smem_u32(smem) + 1023) & ~1023u) + warp * STAGES * kStepBytes;
  const uint32_t bars = smem_u32(bar_mem) + warp * STAGES * 8;
  if (TMA && lane == 0) {
    for (int s = 0; s < STAGES; ++s) mbar_init(bars + s * 8, 1);
    fence_mbar_init();
  }
  __syncwarp();
  const int unit = blockIdx.x, b = unit / kHeads, h = unit % kHeads;
  const int my_steps = (kSteps - warp + kWarps - 1) / kWarps;
  auto issue = [&](int i) {
    const int step = warp + i * kWarps;
    const uint32_t slot = ring + (i % STAGES) * kStepBytes;
    if (TMA) {
      if (lane != 0 || i >= my_steps) return;
      const uint32_t bar = bars + (i % STAGES) * 8;
      fence_proxy_async_shared();  // the warp's reads of the slot before the copies overwrite it
      mbar_arrive_expect_tx(bar, kStepBytes);
      for (int p = 0; p < 2; ++p) {  // map {128, keys, heads, sequences}, strides by layout
        tma_load_4d(slot + p * 2048, &maps.k, bar, 64 * p, step * kRowsPerStep, h, b);
        tma_load_4d(slot + 4096 + p * 2048, &maps.v, bar, 64 * p, step * kRowsPerStep, h, b);
      }
    } else {
      if (i < my_steps) {
        for (int c = 0; c < 8; ++c) {  // 4 KiB of K, then of V: 256 chunks of 16 bytes each
          const int off = (c * 32 + lane) * 16, r = off / kRowBytes, col = off % kRowBytes;
          const long long key = (long long)b * kKeys + step * kRowsPerStep + r;
          const long long src = BSHD ? (key * kHeads + h) * kRowBytes + col
                                     : ((long long)(b * kHeads + h) * kKeys + step * kRowsPerStep + r) * kRowBytes + col;
          cp_async_16(slot + off, k + src, true);
          cp_async_16(slot + 4096 + off, v + src, true);
        }
      }
      cp_async_commit();  // an empty group past the warp's steps keeps the count
    }
  };
  for (int i = 0; i < STAGES - 1; ++i) issue(i);
  uint32_t acc = 0;
  for (int i = 0; i < my_steps; ++i) {
    issue(i + STAGES - 1);
    if (TMA) {
      mbar_wait(bars + (i % STAGES) * 8, (uint32_t)(i / STAGES) & 1u);
    } else {
      cp_async_wait<STAGES - 1>();
      __syncwarp();
    }
    acc ^= ld_shared_4(ring + (i % STAGES) * kStepBytes + lane * 4);
    __syncwarp();
  }
  if (acc == 0x12345678u) sink[blockIdx.x] = acc;  // keeps the reads
#endif
}

// The decode maps' settings over {128 columns, keys, heads, sequences}:
// [b, s, h, d] or [b, h, s, d] strides, box {64, 16}.
void encode(CUtensorMap *m, const void *base, bool bshd) {
  const cuuint64_t e = 2, D = 128, S = kKeys, H = kHeads, B = kMaxUnits / kHeads;
  const cuuint64_t dims[4] = {D, S, H, B};
  const cuuint64_t bshd_strides[3] = {H * D * e, D * e, S * H * D * e}, bhsd_strides[3] = {D * e, S * D * e, H * S * D * e};
  const cuuint32_t box[4] = {64, kRowsPerStep, 1, 1};
  probe_encode_bf16(m, base, dims, bshd ? bshd_strides : bhsd_strides, box);
}

struct Variant {
  const char *name;
  const void *kernel;
  int stages, grid, smem;
  bool bshd;
};

template <int STAGES, bool TMA, bool BSHD>
Variant variant(const char *name, int grid, int blocks_per_sm) {
  const int ring = 1024 + kWarps * STAGES * kStepBytes;
  const int smem = std::max(ring, blocks_per_sm == 1 ? 200 * 1024 : 100 * 1024);  // one or two an SM
  // the attribute is the kernel's, not the launch's: its largest use
  if (cudaError_t e = cudaFuncSetAttribute(stream_kernel<STAGES, TMA, BSHD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          200 * 1024);
      e != cudaSuccess) {
    fprintf(stderr, "%s, %d stages, %d bytes of shared memory: %s\n", name, STAGES, smem, cudaGetErrorString(e));
    exit(1);
  }
  return {name, reinterpret_cast<const void *>(stream_kernel<STAGES, TMA, BSHD>), STAGES, grid, smem, BSHD};
}
}  // namespace

int main() {
  const size_t bytes = (size_t)kMaxUnits * kUnitBytes;
  char *k = nullptr, *v = nullptr;
  uint32_t *sink = nullptr;
  if (cudaMalloc(&k, bytes) != cudaSuccess || cudaMalloc(&v, bytes) != cudaSuccess ||
      cudaMalloc(&sink, kMaxUnits * 4) != cudaSuccess) {
    fprintf(stderr, "cudaMalloc failed\n");
    return 1;
  }
  cudaMemset(k, 0, bytes);
  cudaMemset(v, 0, bytes);
  Maps maps[2];  // bhsd, bshd
  for (int l = 0; l < 2; ++l) encode(&maps[l].k, k, l == 1), encode(&maps[l].v, v, l == 1);
  std::vector<Variant> vs;
  for (int grid : {32, 64, 96, 128}) {
    vs.push_back(variant<2, true, false>("tma bhsd", grid, 1));
    vs.push_back(variant<2, true, true>("tma bshd", grid, 1));
    vs.push_back(variant<3, true, false>("tma bhsd", grid, 1));
    vs.push_back(variant<3, true, true>("tma bshd", grid, 1));
    vs.push_back(variant<2, false, false>("cp.async bhsd", grid, 1));
    vs.push_back(variant<2, false, true>("cp.async bshd", grid, 1));
  }
  vs.push_back(variant<2, true, false>("tma bhsd", 256, 2));
  vs.push_back(variant<2, true, true>("tma bshd", 256, 2));
  vs.push_back(variant<2, false, false>("cp.async bhsd", 256, 2));
  vs.push_back(variant<2, false, true>("cp.async bshd", 256, 2));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<std::vector<float>> ms(vs.size());
  for (int rep = 0; rep < 33; ++rep)
    for (size_t i = 0; i < vs.size(); ++i) {
      void *params[] = {&maps[vs[i].bshd], &k, &v, &sink};
      cudaEventRecord(e0);
      if (cudaError_t e = cudaLaunchKernel(vs[i].kernel, dim3(vs[i].grid), dim3(kWarps * 32), params, vs[i].smem, 0);
          e != cudaSuccess) {
        fprintf(stderr, "%s, %d stages, grid %d, %d bytes: %s\n", vs[i].name, vs[i].stages, vs[i].grid, vs[i].smem,
                cudaGetErrorString(e));
        return 1;
      }
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float t = 0.f;
      cudaEventElapsedTime(&t, e0, e1);
      if (rep >= 3) ms[i].push_back(t);
    }
  if (cudaError_t err = cudaGetLastError(); err != cudaSuccess) {
    fprintf(stderr, "launch failed: %s\n", cudaGetErrorString(err));
    return 1;
  }
  printf("one unit = 2 x %lld KiB (K and V), 4 warps a block, median of 30 launches\n", kUnitBytes / 1024);
  printf("%-14s %6s %5s %9s %10s %12s\n", "loads", "stages", "grid", "ms", "GB/s", "GB/s/block");
  for (size_t i = 0; i < vs.size(); ++i) {
    std::sort(ms[i].begin(), ms[i].end());
    const double med = ms[i][ms[i].size() / 2], total = 2.0 * kUnitBytes * vs[i].grid;
    printf("%-14s %6d %5d %9.4f %10.0f %12.1f\n", vs[i].name, vs[i].stages, vs[i].grid, med, total / (med * 1e-3) / 1e9,
           total / vs[i].grid / (med * 1e-3) / 1e9);
  }
  return 0;
}
