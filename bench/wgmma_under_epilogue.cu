// wgmma_under_epilogue.cu - does an epilogue's shared-memory traffic hold
// back a wgmma issued before it?
//
// The sixty-first session issued the next work tile's first S (4 x
// m64n128k16, SS) right after a work tile's last P V and waited for it after
// the epilogue (bench/experiments/wgmma-next-s4.patch). Traced, that S
// completed ~2,550 cycles after its issue, for a GEMM of ~400
// (bench/results-h200-2026-12-04-s61-early-first-s-ab.md). This probe times
// the same order in isolation: one warpgroup a block (one block per SM)
// issues [a P V group (8 x m64n64k16, RS),] an S group, then runs one
// epilogue step, then waits for the S group; cycles from the S issue to the
// end of that wait, and the epilogue step's own cycles, for each step:
//   none        nothing between the issue and the wait
//   sts         each thread stores 64 bytes of O into a staging area (STS.128)
//   stmatrix    the same bytes by stmatrix .x4 (the kernel's staging)
//   +fence      then fence.proxy.async.shared::cta
//   +bar        then a named barrier over the warpgroup
//   +bulk       then one lane stores the 8 KB by cp.async.bulk (global <-
//               shared, a bulk group) and commits it
// Beside the timed warpgroup (the second of the block), optionally:
//   other       a third warpgroup issuing the other consumer's GEMMs back
//               to back (P V, then S, each waited for)
//   loads       one thread of the first warpgroup streaming 16 KB bulk
//               loads (global -> shared, on mbarriers) into two buffers of
//               their own, as the producer streams K and V
// Operands are zeros; cycles are clock64 on the timed warpgroup's first
// thread, medians of the iterations of block 0.
//
// What it showed on the H200 (sixty-first session, 2026-12-04,
// bench/results-h200-2026-12-04-s61-wgmma-under-epilogue.txt): no. The S
// group takes 310 cycles from issue to ready with nothing after it and
// 312-319 with the staging, the fence and the barrier after it; with the
// bulk store too, 390. After a P V group (issued first, retired by
// wait_group 1) 493-496, 564 with the bulk store. The fence
// (fence.proxy.async: MEMBAR.ALL.CTA + FENCE.VIEW.ASYNC.S in SASS) costs
// ~190 cycles after stmatrix. So what held the kernel's early S ~2,500
// cycles is not its own epilogue's shared-memory traffic. Sixty-second
// session (384 threads a block, bench/results-h200-2026-12-04-s62-wgmma-under-epilogue.txt):
// beside the other consumer's GEMMs the S after a P V takes 491 cycles
// (541 with the whole epilogue step), beside the bulk loads 492 (592),
// beside both 488 (725): none of them, nor all of them together, holds an
// S back ~2,500 cycles.
//   nvcc -O3 -std=c++17 -Isrc -gencode arch=compute_90a,code=sm_90a -o build/wgmma_under_epilogue bench/wgmma_under_epilogue.cu && build/wgmma_under_epilogue
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cuda/common/wgmma.cuh"

enum Step { kNone, kSts, kStmatrix, kStmatrixFence, kStmatrixFenceBar, kStmatrixFenceBarBulk };

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define PROBE_DEVICE 1
#endif

constexpr int kIters = 64;
// Shared memory: Q 8 KB, K 16 KB, V 16 KB, O's staging 8 KB, the loads'
// two 16 KB buffers, their two mbarriers, a stop flag.
constexpr int kSmemBytes = 1024 + (64 + 128 + 128 + 64) * 128 + 2 * 16384 + 64;


#ifdef PROBE_DEVICE
__device__ __forceinline__ void s_issue(float (&s)[16][4], uint64_t da, uint64_t db) {
  fa::wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) fa::wgmma_ss<128, __nv_bfloat16>(s, da + (kk * 32 >> 4), db + (kk * 32 >> 4), kk > 0);
  fa::wgmma_commit();
}
__device__ __forceinline__ void pv_issue(float (&o)[8][4], const uint32_t (&p)[8][4], uint64_t dv) {
  fa::wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 8; ++kk) fa::wgmma_rs_bt<64, __nv_bfloat16>(o, p[kk], dv + (kk * 2048 >> 4), 1);
  fa::wgmma_commit();
}

template <int STEP>
__device__ __forceinline__ void epilogue_step(uint32_t stage, const float (&o)[8][4], __nv_bfloat16 *out) {
  const int t = threadIdx.x;
  if constexpr (STEP == kSts) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t a = stage + ((t * 4 + j) * 16 ^ ((t & 7) << 4));
      asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(a), "r"(__float_as_uint(o[2 * j][0])),
                   "r"(__float_as_uint(o[2 * j][1])), "r"(__float_as_uint(o[2 * j + 1][0])),
                   "r"(__float_as_uint(o[2 * j + 1][1]))
                   : "memory");
    }
  } else if constexpr (STEP >= kStmatrix) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {  // warp w's 16 rows, 16-column groups j
      const uint32_t r[4] = {__float_as_uint(o[2 * j][0]), __float_as_uint(o[2 * j][1]),
                             __float_as_uint(o[2 * j + 1][0]), __float_as_uint(o[2 * j + 1][1])};
      const int row = (t / 32) * 16 + (t & 15);
      fa::stmatrix_x4(stage + row * 128 + (((j * 2 + (t & 16) / 16) ^ (row & 7)) << 4), r);
    }
  }
  if constexpr (STEP >= kStmatrixFence) fa::fence_proxy_async_shared();
  if constexpr (STEP >= kStmatrixFenceBar) fa::named_bar_sync(1, 128);
  if constexpr (STEP >= kStmatrixFenceBarBulk) {
    if (t == 0) {
      asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], 8192;\n" ::"l"(out + blockIdx.x * 4096),
                   "r"(stage)
                   : "memory");
      fa::bulk_commit_group();
    }
  }
}

// The block's first warpgroup with LOADS: one thread streams 16 KB bulk
// loads into two buffers until the timed warpgroup is done.
__device__ void stream_loads(uint32_t buf, uint32_t bars, const __nv_bfloat16 *src, volatile int *stop) {
  unsigned n = 0;
  for (; !*stop; ++n) {
    const uint32_t b = n & 1, bar = bars + 8 * b;
    if (n >= 2) fa::mbar_wait(bar, ((n >> 1) - 1) & 1);  // the buffer's load before has landed
    fa::mbar_arrive_expect_tx(bar, 16384);
    fa::cp_async_bulk(buf + b * 16384, src + ((blockIdx.x * 8 + (n & 7)) * 8192), 16384, bar);
  }
  for (unsigned m = n >= 2 ? n - 2 : 0; m < n; ++m)  // the loads in flight land before the block exits
    fa::mbar_wait(bars + 8 * (m & 1), (m >> 1) & 1);
}

// S, O and P of one warpgroup at zero (the operands' values do not move the timing).
__device__ __forceinline__ void zero_operands(float (&s)[16][4], float (&o)[8][4], uint32_t (&p)[8][4]) {
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 4; ++j) s[i][j] = 0.f;
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j) { o[i][j] = 0.f; p[i][j] = 0u; }
}

// The other consumer: P V, then S, each waited for, until the timed
// warpgroup is done (the exit decided over the warpgroup: wgmma is .aligned).
__device__ void other_gemms(uint64_t dq, uint64_t dk, uint64_t dv, volatile int *stop) {
  float s[16][4], o[8][4];
  uint32_t p[8][4];
  zero_operands(s, o, p);
  for (;;) {
    unsigned r;
    asm volatile("{\n.reg .pred p, q;\nsetp.ne.u32 p, %1, 0;\nbar.red.or.pred q, 2, 128, p;\nselp.u32 %0, 1, 0, q;\n}"
                 : "=r"(r) : "r"(*stop) : "memory");
    if (r) break;
    pv_issue(o, p, dv);
    fa::wgmma_wait<0>();
    fa::wgmma_reg_fence(o);
    s_issue(s, dq, dk);
    fa::wgmma_wait<0>();
    fa::wgmma_reg_fence(s);
  }
  float z = 0;
  for (int i = 0; i < 16; ++i) z += s[i][0];
  for (int i = 0; i < 8; ++i) z += o[i][1];
  if (z == 12345.f) asm volatile("trap;");
}

// PV: a P V group issued before the S group (the patch's order; wait<1>
// before the epilogue step retires it). OTHER, LOADS: what runs beside.
template <int STEP, bool PV, bool OTHER, bool LOADS>
__global__ void __launch_bounds__(384, 1) probe(__nv_bfloat16 *out, const __nv_bfloat16 *src, long long *res) {
  extern __shared__ unsigned char smem_raw[];
  const uint32_t base = (fa::smem_u32(smem_raw) + 1023) & ~1023u;  // Q, K, V, staging, load buffers
  const uint32_t buf = base + 384 * 128, bars = buf + 2 * 16384;
  volatile int *stop = reinterpret_cast<volatile int *>(smem_raw + (bars + 16 - fa::smem_u32(smem_raw)));
  for (int i = threadIdx.x; i < 384 * 128 / 16; i += blockDim.x)
    asm volatile("st.shared.v4.b32 [%0], {%1, %1, %1, %1};\n" ::"r"(base + 16 * i), "r"(0) : "memory");
  if (threadIdx.x == 0) {
    fa::mbar_init(bars, 1);
    fa::mbar_init(bars + 8, 1);
    fa::fence_mbar_init();
    *stop = 0;
  }
  fa::fence_proxy_async_shared();
  __syncthreads();
  const uint64_t dq = fa::smem_desc_swizzled<128>(base, 16, 1024);
  const uint64_t dk = fa::smem_desc_swizzled<128>(base + 64 * 128, 16, 1024);
  const uint64_t dv = fa::smem_desc_swizzled<128>(base + 192 * 128, 128 * 128, 1024);
  const uint32_t stage = base + 320 * 128;
  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    if (LOADS && threadIdx.x == 0) stream_loads(buf, bars, src, stop);
    return;
  }
  if (wg == 2) {
    if (OTHER) other_gemms(dq, dk, dv, stop);
    return;
  }
  float s[16][4], o[8][4];
  uint32_t p[8][4];
  zero_operands(s, o, p);
  for (int it = 0; it < kIters; ++it) {
    if constexpr (PV) pv_issue(o, p, dv);
    const long long t0 = clock64();
    s_issue(s, dq, dk);
    if constexpr (PV) {
      fa::wgmma_wait<1>();
      fa::wgmma_reg_fence(o);
    }
    const long long t1 = clock64();
    epilogue_step<STEP>(stage, o, out);
    const long long t2 = clock64();
    fa::wgmma_wait<0>();
    fa::wgmma_reg_fence(s);
    const long long t3 = clock64();
    if (STEP == kStmatrixFenceBarBulk && threadIdx.x == 128) fa::bulk_wait_read();
    fa::named_bar_sync(1, 128);
    if (threadIdx.x == 128 && blockIdx.x == 0) {
      res[3 * it] = t3 - t0;  // S issue to its wait's end
      res[3 * it + 1] = t2 - t1;  // the epilogue step
      res[3 * it + 2] = t1 - t0;  // the issue (and the P V's wait)
    }
  }
  if (threadIdx.x == 128) *stop = 1;
  float z = 0;
  for (int i = 0; i < 16; ++i) z += s[i][0];
  for (int i = 0; i < 8; ++i) z += o[i][1];
  if (z == 12345.f) out[threadIdx.x] = __float2bfloat16(z);
}
#else
template <int STEP, bool PV, bool OTHER, bool LOADS>
__global__ void probe(__nv_bfloat16 *, const __nv_bfloat16 *, long long *) {}
#endif

template <int STEP, bool PV, bool OTHER = false, bool LOADS = false>
static void run(const char *name, __nv_bfloat16 *out, const __nv_bfloat16 *src, long long *dres, int sms) {
  std::vector<long long> r(3 * kIters);
  cudaFuncSetAttribute(probe<STEP, PV, OTHER, LOADS>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
  for (int rep = 0; rep < 2; ++rep) {  // the first launch warms up
    probe<STEP, PV, OTHER, LOADS><<<sms, 384, kSmemBytes>>>(out, src, dres);
    const cudaError_t e = cudaMemcpy(r.data(), dres, r.size() * sizeof(long long), cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) { printf("%s: CUDA error: %s\n", name, cudaGetErrorString(e)); exit(1); }
  }
  long long med[3];
  for (int k = 0; k < 3; ++k) {
    std::vector<long long> v;
    for (int it = 1; it < kIters; ++it) v.push_back(r[3 * it + k]);
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    med[k] = v[v.size() / 2];
  }
  printf("%-28s %-5s %-13s S issue -> ready %6lld   step %6lld   issue%s %6lld\n", name, PV ? "P V" : "",
         OTHER && LOADS ? "other, loads" : OTHER ? "other" : LOADS ? "loads" : "", med[0], med[1],
         PV ? " + P V wait" : "", med[2]);
}

int main() {
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  __nv_bfloat16 *out, *src;
  long long *dres;
  cudaMalloc(&out, (size_t)sms * 8192 + 4096);
  cudaMalloc(&src, (size_t)sms * 8 * 16384);
  cudaMemset(src, 0, (size_t)sms * 8 * 16384);
  cudaMalloc(&dres, 3 * kIters * sizeof(long long));
  printf("%s, %d SMs, one block of 384 threads each; medians of %d iterations, cycles\n", prop.name, sms, kIters - 1);
  run<kNone, false>("none", out, src, dres, sms);
  run<kSts, false>("sts", out, src, dres, sms);
  run<kStmatrix, false>("stmatrix", out, src, dres, sms);
  run<kStmatrixFence, false>("stmatrix +fence", out, src, dres, sms);
  run<kStmatrixFenceBar, false>("stmatrix +fence +bar", out, src, dres, sms);
  run<kStmatrixFenceBarBulk, false>("stmatrix +fence +bar +bulk", out, src, dres, sms);
  run<kNone, true>("none", out, src, dres, sms);
  run<kStmatrix, true>("stmatrix", out, src, dres, sms);
  run<kStmatrixFence, true>("stmatrix +fence", out, src, dres, sms);
  run<kStmatrixFenceBarBulk, true>("stmatrix +fence +bar +bulk", out, src, dres, sms);
  // beside the other consumer's GEMMs and the producer's loads
  run<kNone, true, true, false>("none", out, src, dres, sms);
  run<kStmatrixFenceBarBulk, true, true, false>("stmatrix +fence +bar +bulk", out, src, dres, sms);
  run<kNone, true, false, true>("none", out, src, dres, sms);
  run<kStmatrixFenceBarBulk, true, false, true>("stmatrix +fence +bar +bulk", out, src, dres, sms);
  run<kNone, true, true, true>("none", out, src, dres, sms);
  run<kStmatrixFenceBarBulk, true, true, true>("stmatrix +fence +bar +bulk", out, src, dres, sms);
  const cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) { printf("CUDA error: %s\n", cudaGetErrorString(e)); return 1; }
  return 0;
}
