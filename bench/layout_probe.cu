// Whether the K/V layout alone explains why our decode reads [b, s, h, d]
// caches 0.5-3% slower than [b, h, s, d] ones (cuDNN's two layouts time
// the same): a stream with the decode kernel's shape and no attention.
//
//   nvcc -O3 -std=c++17 -Isrc -gencode arch=compute_90a,code=sm_90a bench/layout_probe.cu -o build/layout_probe
//   build/layout_probe [B]
//
// B sequences (default 32: the b32 x 8k bench row; 48 fills d64's 3 blocks
// an SM, 384 of 396 slots, and runs d128 in 1.5 waves) of S = 8192 keys,
// H = 8 KV heads, head dim 64 and 128, bf16, K and V. Every block has 4 warps; each
// warp streams its steps (w, w + 4, ...) through its own ring of TMA boxes
// (K and V of 16 key rows a step, one mbarrier per slot), as the decode
// kernel's tile copies (decode/loads.cuh) do, and reads one word of each
// landed step.
// The decode kernel without a plan's depth and blocks an SM: d128 2 stages,
// 2 blocks an SM; d64 3 stages, 3 blocks. Modes, each grid B x H blocks:
//   bshd per head:  block (b, h) reads head h's keys; box {64, 16 keys}
//                   (16 rows of D x 2 bytes, H x D x 2 bytes apart)
//   bhsd per head:  the same over [b, h, s, d] (16 contiguous rows)
//   bshd all heads: block (b, part) reads keys part x S/H .. of every head;
//                   box {64, 8 heads, 2 keys}: the same bytes a step, in
//                   address order
//   bshd cluster N: bshd per head, the blocks of N heads of a sequence one
//                   cluster (co-scheduled on a GPC, nothing shared)
//   ... + lockstep: and a cluster barrier every 8 steps (arrive, then wait
//                   8 steps later), so the heads' blocks stay within ~8
//                   steps of each other
//   bhsd cluster 2: the control (a cluster's effect without the layout's)
// Prints each mode's GB/s (K + V bytes over the median of 30 launches),
// the modes interleaved launch by launch.
#include <cuda.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

#include "cuda/ptx.cuh"
#include "probe_maps.h"

namespace {
using namespace fa;
constexpr int kWarps = 4, kS = 8192, kH = 8, kRowsPerStep = 16;
int g_batch = 32;  // B, from the command line (host only)

enum Mode {
  kBshdPerHead,
  kBhsdPerHead,
  kBshdAllHeads,
  kBshdCluster2,
  kBshdCluster4,
  kBshdCluster4Lockstep,
  kBhsdCluster2,
  kModes
};
const char *const kModeName[kModes] = {"bshd per head",  "bhsd per head",  "bshd all heads",
                                       "bshd cluster 2", "bshd cluster 4", "bshd cluster 4 + lockstep",
                                       "bhsd cluster 2"};
const int kModeCluster[kModes] = {1, 1, 1, 2, 4, 4, 2};

__device__ __forceinline__ void cluster_arrive() { asm volatile("barrier.cluster.arrive.relaxed;\n" ::: "memory"); }
__device__ __forceinline__ void cluster_wait() { asm volatile("barrier.cluster.wait;\n" ::: "memory"); }

struct Maps {
  CUtensorMap k, v;
};

// One warp's steps: K and V boxes of step i (panels of 64 columns each)
// into ring slot i % STAGES.
template <int D, int STAGES>
__global__ void __launch_bounds__(kWarps * 32) stream_kernel(const __grid_constant__ Maps maps, int mode,
                                                             uint32_t *sink) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int kPanels = D / 64, kBoxBytes = kRowsPerStep * 128, kStepBytes = 2 * kPanels * kBoxBytes;
  constexpr int kSteps = kS / kRowsPerStep;  // per block: S keys of one head, or S / H keys of every head
  extern __shared__ __align__(1024) unsigned char smem[];
  __shared__ __align__(8) unsigned long long bar_mem[kWarps * STAGES];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const uint32_t ring = ((smem_u32(smem) + 1023) & ~1023u) + warp * STAGES * kStepBytes;
  const uint32_t bars = smem_u32(bar_mem) + warp * STAGES * 8;
  if (lane == 0) {
    for (int s = 0; s < STAGES; ++s) mbar_init(bars + s * 8, 1);
    fence_mbar_init();
  }
  __syncwarp();
  const int b = blockIdx.x / kH, h = blockIdx.x % kH;
  const int my_steps = (kSteps - warp + kWarps - 1) / kWarps;
  auto issue = [&](int i) {
    if (lane != 0 || i >= my_steps) return;
    const int step = warp + i * kWarps;
    const uint32_t slot = ring + (i % STAGES) * kStepBytes, bar = bars + (i % STAGES) * 8;
    fence_proxy_async_shared();  // the warp's reads of the slot before the copies overwrite it
    mbar_arrive_expect_tx(bar, kStepBytes);
    for (int p = 0; p < kPanels; ++p) {
      const uint32_t k_dst = slot + p * kBoxBytes, v_dst = slot + (kPanels + p) * kBoxBytes;
      if (mode == kBshdAllHeads) {  // map {D, H, S, B}, box {64, H, 2}
        const int key = h * (kS / kH) + step * (kRowsPerStep / kH);
        tma_load_4d(k_dst, &maps.k, bar, 64 * p, 0, key, b);
        tma_load_4d(v_dst, &maps.v, bar, 64 * p, 0, key, b);
      } else {  // map {D, S, H, B} (strides by layout), box {64, 16}
        tma_load_4d(k_dst, &maps.k, bar, 64 * p, step * kRowsPerStep, h, b);
        tma_load_4d(v_dst, &maps.v, bar, 64 * p, step * kRowsPerStep, h, b);
      }
    }
  };
  for (int i = 0; i < STAGES - 1; ++i) issue(i);
  uint32_t acc = 0;
  const bool lockstep = mode == kBshdCluster4Lockstep;
  for (int i = 0; i < my_steps; ++i) {
    if (lockstep && i % 8 == 0) {
      if (i > 0) cluster_wait();
      cluster_arrive();
    }
    issue(i + STAGES - 1);
    mbar_wait(bars + (i % STAGES) * 8, (uint32_t)(i / STAGES) & 1u);
    acc ^= ld_shared_4(ring + (i % STAGES) * kStepBytes + lane * 4);
    __syncwarp();
  }
  if (lockstep) cluster_wait();
  if (acc == 0x12345678u) sink[blockIdx.x] = acc;  // keeps the reads
#endif
}

Maps maps_for(Mode mode, int d, const void *k, const void *v) {
  const cuuint64_t e = 2, D = d, S = kS, H = kH, B = g_batch;
  Maps m;
  for (int t = 0; t < 2; ++t) {
    CUtensorMap *map = t == 0 ? &m.k : &m.v;
    const void *base = t == 0 ? k : v;
    if (mode == kBshdPerHead) {
      probe_encode_bf16(map, base, {D, S, H, B}, {H * D * e, D * e, S * H * D * e}, {64, kRowsPerStep, 1, 1});
    } else if (mode != kBshdAllHeads && mode != kBhsdPerHead && mode != kBhsdCluster2) {
      probe_encode_bf16(map, base, {D, S, H, B}, {H * D * e, D * e, S * H * D * e}, {64, kRowsPerStep, 1, 1});
    } else if (mode == kBhsdPerHead || mode == kBhsdCluster2) {
      probe_encode_bf16(map, base, {D, S, H, B}, {D * e, S * D * e, H * S * D * e}, {64, kRowsPerStep, 1, 1});
    } else {
      probe_encode_bf16(map, base, {D, H, S, B}, {D * e, H * D * e, S * H * D * e}, {64, kH, kRowsPerStep / kH, 1});
    }
  }
  return m;
}

// The grid of every mode, in clusters of the mode's size (1: none).
cudaLaunchConfig_t launch_config(Mode mode, int smem, cudaLaunchAttribute *cluster) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(g_batch * kH);
  cfg.blockDim = dim3(kWarps * 32);
  cfg.dynamicSmemBytes = smem;
  cluster->id = cudaLaunchAttributeClusterDimension;
  cluster->val.clusterDim.x = kModeCluster[mode];
  cluster->val.clusterDim.y = cluster->val.clusterDim.z = 1;
  cfg.attrs = cluster;
  cfg.numAttrs = 1;
  return cfg;
}

template <int D, int STAGES, int BLOCKS_PER_SM>
void run(const void *k, const void *v, uint32_t *sink, int sms) {
  auto kernel = stream_kernel<D, STAGES>;
  // What the decode kernel's shared memory allows (its blocks an SM), at
  // least the ring and its alignment.
  const int ring = 1024 + kWarps * STAGES * 2 * (D / 64) * kRowsPerStep * 128;
  const int smem = std::max(ring, 227 * 1024 / BLOCKS_PER_SM - 2048);
  cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  int per_sm = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kWarps * 32, smem);
  const double bytes = 2.0 * g_batch * kS * kH * D * 2;
  Maps maps[kModes];
  for (int m = 0; m < kModes; ++m) maps[m] = maps_for((Mode)m, D, k, v);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<float> ms[kModes];
  for (int rep = 0; rep < 33; ++rep)
    for (int m = 0; m < kModes; ++m) {
      cudaLaunchAttribute attr;
      const cudaLaunchConfig_t cfg = launch_config((Mode)m, smem, &attr);
      cudaEventRecord(e0);
      cudaLaunchKernelEx(&cfg, kernel, maps[m], m, sink);
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float t = 0.f;
      cudaEventElapsedTime(&t, e0, e1);
      if (rep >= 3) ms[m].push_back(t);
    }
  if (cudaError_t err = cudaGetLastError(); err != cudaSuccess) {
    fprintf(stderr, "launch failed: %s\n", cudaGetErrorString(err));
    exit(1);
  }
  printf("d%d, %d stages, %d blocks an SM (%d SMs), grid %d, %.0f MiB of K + V:\n", D, STAGES, per_sm, sms, g_batch * kH,
         bytes / (1 << 20));
  for (int m = 0; m < kModes; ++m) {
    std::sort(ms[m].begin(), ms[m].end());
    const float med = ms[m][ms[m].size() / 2];
    printf("  %-26s %.4f ms  %5.0f GB/s", kModeName[m], med, bytes / (med * 1e-3) / 1e9);
    if (kModeCluster[m] > 1) {  // whether every block of the grid is resident at once
      cudaLaunchAttribute attr;
      const cudaLaunchConfig_t cfg = launch_config((Mode)m, smem, &attr);
      int clusters = 0;
      cudaOccupancyMaxActiveClusters(&clusters, kernel, &cfg);
      printf("  (%d clusters resident, grid %d)", clusters, g_batch * kH / kModeCluster[m]);
    }
    printf("\n");
  }
}
}  // namespace

int main(int argc, char **argv) {
  if (argc > 1) g_batch = atoi(argv[1]);
  if (g_batch < 1 || g_batch > 256) {
    fprintf(stderr, "usage: layout_probe [sequences, 1..256]\n");
    return 2;
  }
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  const size_t bytes = (size_t)g_batch * kS * kH * 128 * 2;  // one tensor at d128 (d64 uses half)
  void *k = nullptr, *v = nullptr;
  uint32_t *sink = nullptr;
  if (cudaMalloc(&k, bytes) != cudaSuccess || cudaMalloc(&v, bytes) != cudaSuccess ||
      cudaMalloc(&sink, g_batch * kH * 4) != cudaSuccess) {
    fprintf(stderr, "cudaMalloc failed\n");
    return 1;
  }
  cudaMemset(k, 0, bytes);
  cudaMemset(v, 0, bytes);
  run<128, 2, 2>(k, v, sink, sms);
  run<64, 3, 3>(k, v, sink, sms);
  return 0;
}
