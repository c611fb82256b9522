// mufu_under_wgmma.cu - does another warpgroup's wgmma slow a softmax turn?
//
// The d64 kernel's softmax turn (64 FFMA, 64 MUFU.EX2, 64 FADD, 32 F2FP a
// thread) was traced at 816 cycles while the other consumer masks and
// 1,141-1,290 while that consumer's GEMMs run (fwd_wgmma.md "Where it
// stands", fifty-ninth session). This probe separates the cause: warpgroup 0
// times a loop of one instruction kind (warp w on sub-partition w % 4) while
// warpgroup 1, on the same four sub-partitions, is idle or issues wgmma
// groups back to back: the S GEMM of a d64 key tile (4 x m64n128k16, A and B
// in shared memory) or its P V (8 x m64n64k16, A from registers), or both in
// turn. Operands are zeros (the tensor pipe's timing does not depend on
// them). One block per SM on every SM (the chip as busy as in the kernel);
// cycles are clock64, so clock changes under load do not move them.
//
// Reading: cycles per warp instruction of warpgroup 0 in each state (MUFU.EX2
// alone is ~8.3 with nothing beside it: pipe_rates.cu), and the wgmma groups'
// cycles with warpgroup 0 idle and busy.
//
// What it showed on the H200 (sixtieth session, 2026-12-04,
// bench/results-h200-2026-12-04-s60-mufu-under-wgmma.txt; fwd_wgmma.md
// "Where it stands"): the turn's work 9.88 cycles a weight alone,
// 13.3-13.5 beside d64's P V whether P comes from registers or shared
// memory; the P V group 451 cycles alone, 798 beside a dense FFMA loop.
// That run's "S" rows timed one wgmma a group, not four (scale-d 0 on every
// k step let ptxas drop three; scale-d is kk > 0 since): re-run before
// reading S, and the O^T rows (added after that run) are new.
//   nvcc -O3 -std=c++17 -Isrc -gencode arch=compute_90a,code=sm_90a -o build/mufu_under_wgmma bench/mufu_under_wgmma.cu && build/mufu_under_wgmma
#include <cstdio>
#include <cstdlib>

#include "cuda/common/wgmma.cuh"

enum Alu { kAluIdle, kAluEx2, kAluFfma, kAluTurn, kAluTurnNoSum };
enum Gemm { kGemmIdle, kGemmS, kGemmPV, kGemmBoth, kGemmPVss, kGemmBothSs, kGemmPV72, kGemmPVt, kGemmBothT };

// The device pass only: the wgmma wrappers exist for sm_90a (common/wgmma.cuh).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define PROBE_DEVICE 1
#endif

struct Result {
  long long alu_cycles, alu_instrs;   // warpgroup 0, warp 0
  long long gemm_cycles, gemm_groups; // warpgroup 1, warp 4
};

#ifdef PROBE_DEVICE
// One wgmma group, waited for: the fence, the issues, commit, wait.
template <int N, class Issue>
__device__ __forceinline__ void wgmma_group(float (&acc)[N][4], Issue issue) {
  fa::wgmma_fence();
  issue();
  fa::wgmma_commit();
  fa::wgmma_wait<0>();
  fa::wgmma_reg_fence(acc);
}

// d64's S: 4 x m64n128k16, Q and K in shared memory.
__device__ __forceinline__ void s_group(float (&s)[16][4], uint64_t da, uint64_t db) {
  wgmma_group(s, [&] {
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) fa::wgmma_ss<128, __nv_bfloat16>(s, da + (kk * 32 >> 4), db + (kk * 32 >> 4), kk > 0);
  });
}

// d64's P V: 8 x m64n64k16, P from registers, V in shared memory.
__device__ __forceinline__ void pv_group(float (&o)[8][4], const uint32_t (&p)[8][4], uint64_t dv) {
  wgmma_group(o, [&] {
#pragma unroll
    for (int kk = 0; kk < 8; ++kk) fa::wgmma_rs_bt<64, __nv_bfloat16>(o, p[kk], dv + (kk * 2048 >> 4), 1);
  });
}

// P V with P from shared memory (SS, both K-major: the operand reads of the RS form gone).
__device__ __forceinline__ void pv_ss_group(float (&o)[8][4], uint64_t dp, uint64_t dv) {
  wgmma_group(o, [&] {
#pragma unroll
    for (int kk = 0; kk < 8; ++kk)
      fa::wgmma_ss<64, __nv_bfloat16>(o, dp + ((kk / 4) * 8192 + (kk % 4) * 32 >> 4), dv + (kk * 32 >> 4), 1);
  });
}

// P V at N = 72: d64's P V with a ninth n8 tile (V's column of ones would
// give the rows' sums of P in the accumulator, off the softmax turn).
__device__ __forceinline__ void pv72_group(float (&o)[9][4], const uint32_t (&p)[8][4], uint64_t dv) {
  wgmma_group(o, [&] {
#pragma unroll
    for (int kk = 0; kk < 8; ++kk)
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %41, 0;\n"
                   "wgmma.mma_async.sync.aligned.m64n72k16.f32.bf16.bf16 {" FA_WGMMA_REGS64 ", %32, %33, %34, %35}"
                   ", {%36, %37, %38, %39}, %40, p, 1, 1, 1;\n}\n"
                   : FA_WGMMA_OPS64(o), FA_WGMMA_T1(o, 8)
                   : "r"(p[kk][0]), "r"(p[kk][1]), "r"(p[kk][2]), "r"(p[kk][3]), "l"(dv + (kk * 2048 >> 4)), "r"(1));
  });
}

// Both consumers' P V as one n128 GEMM, O^T = V^T P^T (fwd_wgmma.md "Next
// steps" 0000000 (a)(v)): M = the head dim 64, N = 128 rows, K = 128 keys;
// A = V as stored (keys x d, read transposed: imm-trans-a 1), B = P^T from
// shared memory K-major (P as rows x keys, two 64-key panels).
__device__ __forceinline__ void pvt_group(float (&ot)[16][4], uint64_t dv, uint64_t dp) {
  wgmma_group(ot, [&] {
#pragma unroll
    for (int kk = 0; kk < 8; ++kk)
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                   "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" FA_WGMMA_REGS128 "}"
                   ", %64, %65, p, 1, 1, 1, 0;\n}\n"
                   : FA_WGMMA_OPS128(ot)
                   : "l"(dv + (kk * 2048 >> 4)), "l"(dp + ((kk / 4) * 16384 + (kk % 4) * 32 >> 4)), "r"(1));
  });
}

// True in every thread of warpgroup 1 if any of its threads passes true: the
// loop's exit must be the same for the four warps, or a warp issues a wgmma
// (.sync.aligned) the others do not (an illegal instruction).
__device__ __forceinline__ bool warpgroup1_any(int v) {
  unsigned r;
  asm volatile("{\n.reg .pred p, q;\nsetp.ne.u32 p, %1, 0;\nbar.red.or.pred q, 1, 128, p;\nselp.u32 %0, 1, 0, q;\n}"
               : "=r"(r) : "r"(v) : "memory");
  return r != 0;
}

// The ALU loop: `iters` rounds of 8 independent chains; returns instructions a warp issued of the timed kind.
template <int ALU>
__device__ long long alu_loop(float (&x)[8], unsigned &acc, int iters) {
  const float scale = 1.4426950f, m = x[7] * 0.5f;
  float sum = 0.f;
  for (int it = 0; it < iters; ++it) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      if (ALU == kAluEx2) {
        float y;
        asm volatile("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x[i]));
        x[i] = y;
      }
      if (ALU == kAluFfma) {
        float y;
        asm volatile("fma.rn.f32 %0, %1, %1, %1;" : "=f"(y) : "f"(x[i]));
        x[i] = y;
      }
      if (ALU == kAluTurn || ALU == kAluTurnNoSum) {  // the softmax turn a weight: FFMA, MUFU.EX2, FADD; one F2FP a pair
        float y, e;
        asm volatile("fma.rn.f32 %0, %1, %2, %3;" : "=f"(y) : "f"(x[i]), "f"(scale), "f"(-m));
        asm volatile("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(y));
        if (ALU == kAluTurn) sum += e;
        x[i] = e;
        if (i & 1) {
          unsigned r;
          asm volatile("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(x[i]), "f"(x[i - 1]));
          acc += r;
        }
      }
    }
  }
  x[0] += sum;
  return (long long)iters * 8;  // MUFU.EX2 (or FFMA) a warp
}

#endif

template <int ALU, int GEMM>
__global__ void __launch_bounds__(256, 1) probe(float *sink, Result *res, int iters) {
#ifdef PROBE_DEVICE
  __shared__ __align__(1024) __nv_bfloat16 tiles[(64 + 128 + 128) * 64];  // Q 64 x 64, K 128 x 64, V 128 x 64
  __shared__ volatile int done;
  for (int i = threadIdx.x; i < (64 + 128 + 128) * 64; i += blockDim.x) tiles[i] = __float2bfloat16(0.f);
  if (threadIdx.x == 0) done = 0;
  fa::fence_proxy_async_shared();
  __syncthreads();
  const uint32_t base = fa::smem_u32(tiles);
  const int warp = threadIdx.x / 32;
  if (warp < 4) {  // warpgroup 0: the ALU loop
    float x[8];
    unsigned acc = 0;
    for (int i = 0; i < 8; ++i) x[i] = 0.001f * (threadIdx.x + i);
    const long long t0 = clock64();
    long long n = 0;
    if (ALU != kAluIdle) n = alu_loop<ALU>(x, acc, iters);
    else
      while (clock64() - t0 < 2000000) {}
    const long long t1 = clock64();
    __syncwarp();
    if (threadIdx.x == 0) {
      done = 1;
      if (blockIdx.x == 0) { res->alu_cycles = t1 - t0; res->alu_instrs = n; }
    }
    float s = 0;
    for (int i = 0; i < 8; ++i) s += x[i];
    if (s == 12345.f) sink[threadIdx.x] = s + acc;  // never: keeps the loop
  } else {  // warpgroup 1: wgmma groups until warpgroup 0 is done
    float s[16][4], o[8][4], o72[9][4];
    uint32_t p[8][4];
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 4; ++j) s[i][j] = 0.f;
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 4; ++j) { o[i][j] = 0.f; p[i][j] = 0u; }
    for (int i = 0; i < 9; ++i)
      for (int j = 0; j < 4; ++j) o72[i][j] = 0.f;
    const uint64_t dv72 = fa::smem_desc_swizzled<128>(base, 8192, 1024);  // two panels inside the tiles
    // O^T's operands: V (128 keys x 64, MN-major for A) and P (128 rows x 128 keys, two K-major panels)
    const uint64_t dvt = fa::smem_desc_swizzled<128>(base + 192 * 128, 128 * 128, 1024);
    const uint64_t dpt = fa::smem_desc_swizzled<128>(base + 64 * 128, 16, 1024);
    float ot[16][4];
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 4; ++j) ot[i][j] = 0.f;
    const uint64_t dq = fa::smem_desc_swizzled<128>(base, 16, 1024);
    const uint64_t dk = fa::smem_desc_swizzled<128>(base + 64 * 128, 16, 1024);
    const uint64_t dv = fa::smem_desc_swizzled<128>(base + 192 * 128, 128 * 128, 1024);
    long long groups = 0;
    const long long t0 = clock64();
    if (GEMM != kGemmIdle) {
      while (!warpgroup1_any(done)) {
        if (GEMM == kGemmS || GEMM == kGemmBoth) { s_group(s, dq, dk); ++groups; }
        if (GEMM == kGemmPV || GEMM == kGemmBoth) { pv_group(o, p, dv); ++groups; }
        if (GEMM == kGemmPV72) { pv72_group(o72, p, dv72); ++groups; }
        if (GEMM == kGemmBothT) { s_group(s, dq, dk); ++groups; }
        if (GEMM == kGemmPVt || GEMM == kGemmBothT) { pvt_group(ot, dvt, dpt); ++groups; }
        if (GEMM == kGemmBothSs) { s_group(s, dq, dk); ++groups; }
        if (GEMM == kGemmPVss || GEMM == kGemmBothSs) { pv_ss_group(o, dk, dq); ++groups; }
      }
    }
    const long long t1 = clock64();
    if (threadIdx.x == 128 && blockIdx.x == 0) { res->gemm_cycles = t1 - t0; res->gemm_groups = groups; }
    float z = 0;
    for (int i = 0; i < 16; ++i) z += s[i][0];
    for (int i = 0; i < 8; ++i) z += o[i][1];
    for (int i = 0; i < 9; ++i) z += o72[i][2];
    for (int i = 0; i < 16; ++i) z += ot[i][3];
    if (z == 12345.f) sink[threadIdx.x] = z;
  }
#endif
}

template <int ALU, int GEMM>
static void run(const char *alu, const char *gemm, float *sink, Result *dres, int sms) {
  Result r[2];
  for (int rep = 0; rep < 2; ++rep) {  // the first launch warms up
    probe<ALU, GEMM><<<sms, 256>>>(sink, dres, 2048);
    const cudaError_t e = cudaMemcpy(&r[rep], dres, sizeof(Result), cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) { printf("%s / %s: CUDA error: %s\n", alu, gemm, cudaGetErrorString(e)); exit(1); }
  }
  const Result &x = r[1];
  printf("%-22s %-24s", alu, gemm);
  if (x.alu_instrs) printf(" %7.2f cycles a warp instruction", (double)x.alu_cycles / x.alu_instrs);
  else printf(" %37s", "");
  if (x.gemm_groups) printf("   %7.1f cycles a wgmma group (%lld groups)", (double)x.gemm_cycles / x.gemm_groups, x.gemm_groups);
  printf("\n");
}

int main() {
  float *sink;
  Result *dres;
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  cudaMalloc(&sink, 1024 * 4);
  cudaMalloc(&dres, sizeof(Result));
  printf("%s, %d SMs, one block of 256 threads each\n", prop.name, sms);
  printf("warpgroup 0 (timed loop)  warpgroup 1\n");
  run<kAluIdle, kGemmS>("idle", "S (4 x n128, SS)", sink, dres, sms);
  run<kAluIdle, kGemmPV>("idle", "P V (8 x n64, RS)", sink, dres, sms);
  run<kAluIdle, kGemmBoth>("idle", "S, P V in turn", sink, dres, sms);
  run<kAluEx2, kGemmIdle>("MUFU.EX2", "idle", sink, dres, sms);
  run<kAluEx2, kGemmS>("MUFU.EX2", "S (4 x n128, SS)", sink, dres, sms);
  run<kAluEx2, kGemmPV>("MUFU.EX2", "P V (8 x n64, RS)", sink, dres, sms);
  run<kAluEx2, kGemmBoth>("MUFU.EX2", "S, P V in turn", sink, dres, sms);
  run<kAluIdle, kGemmPVss>("idle", "P V (8 x n64, SS)", sink, dres, sms);
  run<kAluEx2, kGemmPVss>("MUFU.EX2", "P V (8 x n64, SS)", sink, dres, sms);
  run<kAluFfma, kGemmIdle>("FFMA", "idle", sink, dres, sms);
  run<kAluFfma, kGemmS>("FFMA", "S (4 x n128, SS)", sink, dres, sms);
  run<kAluFfma, kGemmPV>("FFMA", "P V (8 x n64, RS)", sink, dres, sms);
  run<kAluTurn, kGemmIdle>("turn (per MUFU.EX2)", "idle", sink, dres, sms);
  run<kAluTurn, kGemmS>("turn (per MUFU.EX2)", "S (4 x n128, SS)", sink, dres, sms);
  run<kAluTurn, kGemmPV>("turn (per MUFU.EX2)", "P V (8 x n64, RS)", sink, dres, sms);
  run<kAluTurn, kGemmBoth>("turn (per MUFU.EX2)", "S, P V in turn", sink, dres, sms);
  run<kAluTurn, kGemmPVss>("turn (per MUFU.EX2)", "P V (8 x n64, SS)", sink, dres, sms);
  run<kAluIdle, kGemmBothSs>("idle", "S, P V (SS) in turn", sink, dres, sms);
  run<kAluTurn, kGemmBothSs>("turn (per MUFU.EX2)", "S, P V (SS) in turn", sink, dres, sms);
  run<kAluFfma, kGemmPVss>("FFMA", "P V (8 x n64, SS)", sink, dres, sms);
  run<kAluIdle, kGemmPV72>("idle", "P V (8 x n72, RS)", sink, dres, sms);
  run<kAluTurnNoSum, kGemmIdle>("turn without the sum", "idle", sink, dres, sms);
  run<kAluTurnNoSum, kGemmPV>("turn without the sum", "P V (8 x n64, RS)", sink, dres, sms);
  run<kAluTurnNoSum, kGemmPV72>("turn without the sum", "P V (8 x n72, RS)", sink, dres, sms);
  run<kAluTurn, kGemmPV72>("turn (per MUFU.EX2)", "P V (8 x n72, RS)", sink, dres, sms);
  run<kAluIdle, kGemmPVt>("idle", "O^T (8 x n128, SS, tA)", sink, dres, sms);
  run<kAluIdle, kGemmBothT>("idle", "S, O^T in turn", sink, dres, sms);
  run<kAluTurn, kGemmPVt>("turn (per MUFU.EX2)", "O^T (8 x n128, SS, tA)", sink, dres, sms);
  run<kAluTurn, kGemmBothT>("turn (per MUFU.EX2)", "S, O^T in turn", sink, dres, sms);
  const cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) { printf("CUDA error: %s\n", cudaGetErrorString(e)); return 1; }
  return 0;
}
