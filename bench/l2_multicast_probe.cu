// Whether the wgmma family's K/V stream is bound by what L2 can deliver to
// each SM, and what a 2-CTA cluster with TMA multicast of K/V (FA3's
// cluster for 16-bit d >= 128 full rows, HOPPER.md "Clusters are
// optional") would give. Seventy-third session: d256's one-stage short
// kernel showed the same key tile time (~6,000 cycles, 128 KB of K and V,
// ~21 B/cycle/SM) whether K was given back and refilled a panel at a time
// or whole (bench/experiments/wgmma-k-panel-barriers.patch), and its
// long-key kernel at 720 TF/s moves the same ~21 B/cycle/SM.
//
//   nvcc -O3 -std=c++17 -Isrc -gencode arch=compute_90a,code=sm_90a bench/l2_multicast_probe.cu -o build/l2_multicast_probe
//   build/l2_multicast_probe
//
// K and V as the grid's rows have them ([b, s, h, d] bf16, 16k tokens of
// h heads), the work as the kernel walks it: a work tile is 128 query rows
// of one (sequence, head) and reads all of that sequence's K and V (mask
// none) in key tiles of 128 rows, through a ring of slots of one K or V
// tile each (TMA boxes {64 columns, 128 rows}, 128-byte swizzle), one
// producer thread and one consumer warp a block, one block an SM (the
// shared memory forces it). Tiles go to blocks round robin, neighbouring
// blocks on neighbouring query tiles of a head (L2 reuse as in the kernel).
// Per slot the consumer waits for it, reads one word of each panel into a
// checksum, spins `work` cycles (the GEMMs it stands for), and gives the
// slot back. Modes:
//   single     132 blocks, each loading its tile's K/V alone
//   multicast  66 clusters of 2 (query tiles 2i and 2i + 1 of a head: the
//              same keys); each block issues half of every slot's panels
//              with .multicast::cluster to both, each slot's full barrier
//              expects the whole slot, its empty barrier waits for both
//              blocks' consumers (one of them arriving remotely)
//   (work 0) single on a half and a quarter of the SMs: whether an SM's
//              rate is the chip's L2 shared out (it rises with fewer
//              blocks, and multicast relieves it) or the SM's own intake
//              (it stays, and multicast cannot help: each block still
//              receives every byte of its tiles)
// Prints the delivered bytes (what lands in shared memory, the same in
// every mode) per second and per SM cycle, and the checksum (equal in all
// modes when each block got its tiles' data).
// Seventy-fourth session (H100, bench/results-h100-2026-12-05-s74-multicast.md):
// alone 26-37 B/cycle/SM on 132 SMs (23-26 under the spun work), 38-86 on
// 66 or 32; multicast 0.39-0.80x of alone: [multicast] closed.
#include <cuda.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>
#include <stdint.h>
#include <stdio.h>

#include <algorithm>
#include <vector>

#include "cuda/common/wgmma.cuh"  // mbar_arrive
#include "cuda/ptx.cuh"
#include "probe_maps.h"

namespace {
using namespace fa;
constexpr int kTokens = 16384, kKeyTile = 128, kQTile = 128;

__device__ __forceinline__ uint32_t cluster_rank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
__device__ __forceinline__ void cluster_sync() {
  // not .aligned: the producer's warp reaches it diverged
  asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;\n" ::: "memory");
}
// TMA load of one box into the same offset of every block in `mask`,
// completing on the barrier at `bar`'s offset in each of them.
__device__ __forceinline__ void tma_load_4d_multicast(uint32_t dst, const void *map, uint32_t bar, int c0, int c1,
                                                      int c2, int c3, uint16_t mask) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster"
      " [%0], [%1, {%3, %4, %5, %6}], [%2], %7;\n" ::"r"(dst),
      "l"(map), "r"(bar), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "h"(mask)
      : "memory");
}
// Arrive on the barrier at `bar`'s offset in block `rank` of the cluster.
__device__ __forceinline__ void mbar_arrive_cluster(uint32_t bar, uint32_t rank) {
  asm volatile(
      "{\n.reg .b32 remote;\nmapa.shared::cluster.u32 remote, %0, %1;\n"
      "mbarrier.arrive.release.cluster.shared::cluster.b64 _, [remote];\n}\n" ::"r"(bar),
      "r"(rank)
      : "memory");
}

struct Maps {
  CUtensorMap k, v;
};

// D: head dim (panels of 64 columns); SLOTS: K or V tiles in the ring.
template <int D, int SLOTS, bool MULTICAST>
__global__ void __launch_bounds__(64, 1)
    stream_kernel(const __grid_constant__ Maps maps, int heads, int seqlen, int work, unsigned *checksum) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int kPanels = D / 64, kPanelBytes = kKeyTile * 128, kSlotBytes = kPanels * kPanelBytes;
  extern __shared__ __align__(1024) unsigned char smem[];
  __shared__ __align__(8) unsigned long long bar_mem[2 * SLOTS];
  const uint32_t ring = (smem_u32(smem) + 1023) & ~1023u;
  const uint32_t full = smem_u32(bar_mem), empty = full + 8 * SLOTS;
  const uint32_t rank = MULTICAST ? cluster_rank() : 0;
  const int tid = (int)threadIdx.x;
  if (tid == 0) {
    for (int s = 0; s < SLOTS; ++s) {
      mbar_init(full + 8 * s, 1);
      mbar_init(empty + 8 * s, MULTICAST ? 2 : 1);  // each block's consumer
    }
    fence_mbar_init();
  }
  if (MULTICAST)
    cluster_sync();  // the peer's barriers exist before anything lands in or arrives at them
  else
    __syncthreads();
  // work tiles: (sequence, head, query tile), query tiles innermost
  const int q_tiles = seqlen / kQTile, key_tiles = seqlen / kKeyTile, tiles = kTokens / seqlen * heads * q_tiles;
  const int stride = MULTICAST ? (int)gridDim.x / 2 : (int)gridDim.x;
  const int first = MULTICAST ? (int)blockIdx.x / 2 : (int)blockIdx.x;
  const int units = MULTICAST ? tiles / 2 : tiles;  // pairs of query tiles with multicast
  if (tid == 0) {  // the producer
    unsigned fill = 0;
    for (int u = first; u < units; u += stride) {
      const int t = MULTICAST ? 2 * u : u, bh = t / q_tiles, b = bh / heads, h = bh % heads;
      for (int n = 0; n < key_tiles; ++n)
        for (int kv = 0; kv < 2; ++kv, ++fill) {
          const int s = (int)(fill % SLOTS);
          mbar_wait_sleep(empty + 8 * s, ((fill / SLOTS) & 1u) ^ 1u);
          mbar_arrive_expect_tx(full + 8 * s, kSlotBytes);  // the whole slot, from both blocks' issues
          const CUtensorMap *map = kv ? &maps.v : &maps.k;
          const uint32_t dst = ring + s * kSlotBytes;
          if (MULTICAST) {
#pragma unroll
            for (int p = rank * kPanels / 2; p < (int)(rank + 1) * kPanels / 2; ++p)
              tma_load_4d_multicast(dst + p * kPanelBytes, map, full + 8 * s, 64 * p, n * kKeyTile, h, b, 0x3);
          } else {
#pragma unroll
            for (int p = 0; p < kPanels; ++p)
              tma_load_4d(dst + p * kPanelBytes, map, full + 8 * s, 64 * p, n * kKeyTile, h, b);
          }
        }
    }
  } else if (tid >= 32) {  // the consumer warp
    const int lane = tid - 32;
    unsigned fill = 0, acc = 0;
    for (int u = first; u < units; u += stride)
      for (int n = 0; n < key_tiles; ++n)
        for (int kv = 0; kv < 2; ++kv, ++fill) {
          const int s = (int)(fill % SLOTS);
          mbar_wait(full + 8 * s, (fill / SLOTS) & 1u);
          if (lane < kPanels) acc += ld_shared_4(ring + s * kSlotBytes + lane * kPanelBytes) * (unsigned)(lane + 1);
          if (work > 0) {
            const long long t0 = clock64();
            while (clock64() - t0 < work) {
            }
          }
          __syncwarp();
          if (lane == 0) {
            if (MULTICAST) {
              mbar_arrive_cluster(empty + 8 * s, 0);
              mbar_arrive_cluster(empty + 8 * s, 1);
            } else {
              mbar_arrive(empty + 8 * s);
            }
          }
        }
    if (lane < kPanels) atomicAdd(checksum, acc);
  }
  if (MULTICAST) cluster_sync();  // no block leaves while its peer may still arrive on its barriers
#endif
}

__global__ void fill_kernel(uint16_t *x, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    x[i] = (uint16_t)((i * 2654435761u + seed) >> 7);
}

void encode(CUtensorMap *m, const void *base, int d, int heads, int seqlen) {
  const cuuint64_t e = 2, D = d, S = seqlen, H = heads, B = kTokens / seqlen;
  const cuuint64_t dims[4] = {D, S, H, B};
  const cuuint64_t strides[3] = {H * D * e, D * e, S * H * D * e};  // [b, s, h, d]
  const cuuint32_t box[4] = {64, kKeyTile, 1, 1};
  probe_encode_bf16(m, base, dims, strides, box);
}

struct Row {
  int d, heads, seqlen, work;
};

// The launch: one block an SM; with multicast as many clusters of two as
// can be resident at once (a GPC with an odd number of free SMs leaves one
// out), `*blocks` set to the grid.
template <int D, int SLOTS, bool MULTICAST>
cudaLaunchConfig_t config(int sms, int *blocks, cudaLaunchAttribute *attr) {
  // sms: the blocks to use at most (an even number)
  auto kernel = stream_kernel<D, SLOTS, MULTICAST>;
  const int smem = 1024 + SLOTS * D * kKeyTile * 2;
  cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(sms / 2 * 2);
  cfg.blockDim = dim3(64);
  cfg.dynamicSmemBytes = smem;
  attr->id = cudaLaunchAttributeClusterDimension;
  attr->val.clusterDim.x = MULTICAST ? 2 : 1;
  attr->val.clusterDim.y = 1;
  attr->val.clusterDim.z = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  if (MULTICAST) {
    int clusters = 0;
    if (cudaOccupancyMaxActiveClusters(&clusters, kernel, &cfg) != cudaSuccess || clusters < 1) {
      fprintf(stderr, "cudaOccupancyMaxActiveClusters failed\n");
      exit(1);
    }
    cfg.gridDim = dim3(2 * std::min(clusters, sms / 2));
  }
  *blocks = (int)cfg.gridDim.x;
  return cfg;
}

template <int D, int SLOTS, bool MULTICAST>
float run(const Maps &maps, const Row &r, unsigned *checksum, int sms, cudaEvent_t e0, cudaEvent_t e1, int *blocks) {
  auto kernel = stream_kernel<D, SLOTS, MULTICAST>;
  cudaLaunchAttribute attr;
  cudaLaunchConfig_t cfg = config<D, SLOTS, MULTICAST>(sms, blocks, &attr);
  cudaEventRecord(e0);
  cudaError_t err = cudaLaunchKernelEx(&cfg, kernel, maps, r.heads, r.seqlen, r.work, checksum);
  cudaEventRecord(e1);
  cudaEventSynchronize(e1);
  if (err != cudaSuccess || (err = cudaGetLastError()) != cudaSuccess) {
    fprintf(stderr, "launch (d%d, %d slots, %s): %s\n", D, SLOTS, MULTICAST ? "multicast" : "single",
            cudaGetErrorString(err));
    exit(1);
  }
  float ms = 0.f;
  cudaEventElapsedTime(&ms, e0, e1);
  return ms;
}

template <int D, int SLOTS>
void row(const Row &r, int sms, double clock_ghz, bool sweep) {
  const size_t n = (size_t)kTokens * r.heads * D;
  uint16_t *k = nullptr, *v = nullptr;
  unsigned *checksum = nullptr;
  if (cudaMalloc(&k, n * 2) != cudaSuccess || cudaMalloc(&v, n * 2) != cudaSuccess ||
      cudaMalloc(&checksum, 8) != cudaSuccess) {
    fprintf(stderr, "cudaMalloc failed\n");
    exit(1);
  }
  fill_kernel<<<1024, 256>>>(k, n, 1);
  fill_kernel<<<1024, 256>>>(v, n, 2);
  Maps maps;
  encode(&maps.k, k, D, r.heads, r.seqlen);
  encode(&maps.v, v, D, r.heads, r.seqlen);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  // Sides: alone and multicast on every SM; with `sweep`, alone on a half
  // and a quarter of them too: a rate per SM that rises with fewer blocks
  // is the chip's L2 (which multicast relieves), one that stays is each
  // SM's own intake (which it does not: every block still receives every
  // byte of its tiles).
  struct Side {
    bool multicast;
    int cap;
  };
  const int even = sms / 2 * 2;
  const Side all[4] = {{false, even}, {true, even}, {false, even / 4 * 2}, {false, even / 8 * 2}};
  const int sides = sweep ? 4 : 2;
  std::vector<float> ms[4];
  unsigned sums[4] = {0, 0, 0, 0};
  int blocks[4] = {0, 0, 0, 0};
  for (int rep = 0; rep < 23; ++rep)
    for (int m = 0; m < sides; ++m) {  // interleaved
      cudaMemset(checksum, 0, 8);
      const float t = all[m].multicast ? run<D, SLOTS, true>(maps, r, checksum, all[m].cap, e0, e1, &blocks[m])
                                       : run<D, SLOTS, false>(maps, r, checksum, all[m].cap, e0, e1, &blocks[m]);
      if (rep >= 3) ms[m].push_back(t);
      cudaMemcpy(&sums[m], checksum, 4, cudaMemcpyDeviceToHost);
    }
  // bytes landing in shared memory: every work tile reads its sequence's K and V whole
  const double delivered = (double)(kTokens / r.seqlen) * r.heads * (r.seqlen / kQTile) * 2.0 * r.seqlen * D * 2;
  for (int m = 0; m < sides; ++m) {
    std::sort(ms[m].begin(), ms[m].end());
    const double med = ms[m][ms[m].size() / 2];
    printf("d%-4d h%-3d s%-6d slots %d work %5d  %-9s %3d blocks %8.4f ms %7.2f TB/s %6.1f B/cycle/SM  checksum %08x\n",
           D, r.heads, r.seqlen, SLOTS, r.work, all[m].multicast ? "multicast" : "single", blocks[m], med,
           delivered / (med * 1e-3) / 1e12, delivered / blocks[m] / (med * 1e-3 * clock_ghz * 1e9), sums[m]);
  }
  cudaFree(k);
  cudaFree(v);
  cudaFree(checksum);
}
}  // namespace

int main() {
  int dev = 0, sms = 0, clock_khz = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev);
  const double ghz = clock_khz / 1e6;
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, dev);
  printf("%s, %d SMs, B/cycle/SM at the %.2f GHz boost clock; median of 20 launches, modes interleaved\n", prop.name,
         sms, ghz);
  for (int work : {0, 2000, 3000}) {
    const bool sweep = work == 0;  // the blocks sweep on the pure stream only
    row<256, 2>({256, 8, 512, work}, sms, ghz, sweep);  // d256 s512: the short kernel's one stage of K and V
    row<256, 3>({256, 8, 512, work}, sms, ghz, sweep);
    row<256, 3>({256, 8, 2048, work}, sms, ghz, sweep);
    row<128, 4>({128, 16, 512, work / 2}, sms, ghz, sweep);  // d128: two stages of K and V
    row<128, 4>({128, 16, 2048, work / 2}, sms, ghz, sweep);
  }
  return 0;
}
