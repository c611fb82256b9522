// common/wgmma.cuh - the sm_90a primitives of the Hopper families, one named
// inline wrapper per PTX instruction (STYLE.md): warpgroup MMA (wgmma), its
// shared-memory matrix descriptor, TMA tensor loads, setmaxnreg and named
// barriers. Facts and sources: shared/notes/HOPPER.md sections 2.2-2.9
// (verified on an H200 by its probe; tests/wgmma_probe.cu re-checks them).
//
// Compile only for -gencode arch=compute_90a,code=sm_90a: wgmma and
// setmaxnreg do not exist on plain sm_90. Everything here is defined for the
// device pass only (callers guard their kernel bodies the same way).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "cuda/ptx.cuh"

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

namespace fa {

// ------------------------------------------------------------ descriptors

// 64-bit shared-memory matrix descriptor of a swizzled operand (PTX ISA
// 9.7.15.5.1.2): bits 0-13 start address >> 4, 16-29 leading byte offset
// >> 4, 32-45 stride byte offset >> 4, 62-63 layout (1 = 128B swizzle,
// 2 = 64B, 3 = 32B). Base offset 0: every tile starts on a 1024-byte
// boundary. Operands are panels of ROW_BYTES-byte rows (ROW_BYTES / 2
// columns; the swizzle is as wide as a row):
//   K-major (Q and K in S = Q K^T): lbo unused (16), sbo = 8 rows; k16 step
//     kk starts at tile + (kk / steps per panel) * panel bytes + (kk % steps
//     per panel) * 32.
//   MN-major (V in O += P V, tnspB = 1): lbo = the stride of the panels
//     (rows x ROW_BYTES), sbo = 8 keys; k16 step kk starts at tile + kk x 16 rows.
template <int ROW_BYTES>
__device__ __forceinline__ uint64_t smem_desc_swizzled(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  static_assert(ROW_BYTES == 128 || ROW_BYTES == 64 || ROW_BYTES == 32, "wgmma swizzles rows of 128, 64 or 32 bytes");
  constexpr uint64_t layout = ROW_BYTES == 128 ? 1 : ROW_BYTES == 64 ? 2 : 3;
  return (uint64_t)((addr & 0x3FFFFu) >> 4) | ((uint64_t)(lbo >> 4) << 16) | ((uint64_t)(sbo >> 4) << 32) |
         (layout << 62);
}

// ------------------------------------------------------------ wgmma ordering

// Before the first wgmma of a group, and whenever ordinary instructions
// wrote registers (accumulators, A fragments) that a wgmma reads.
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
// Close the group of wgmmas issued since the last commit.
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
// Wait until at most N committed groups of this warpgroup are in flight.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// An empty asm on every accumulator register: the compiler may not move
// register traffic across it into the asynchronous window of a wgmma
// (HOPPER.md 2.2; without it ptxas may serialize the wgmmas, C7517/C7519).
template <int N>
__device__ __forceinline__ void wgmma_reg_fence(float (&d)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) asm volatile("" : "+f"(d[i][j])::"memory");
}
// The same on A fragments in registers (RS wgmma), after the wait_group
// that retires the wgmma reading them: it orders the compiler's own writes
// of the array after that wait. It does not keep the registers reserved:
// the asm is empty, so in the PTX that ptxas allocates the wgmma is their
// last reader, and ptxas gave another array's values those very registers
// while the wgmma could still read them (fifty-fourth session,
// bench/experiments/wgmma-p-next.patch). Write new values into an A
// fragment's registers only after the wait_group that retires its reader.
template <int N>
__device__ __forceinline__ void wgmma_reg_fence(uint32_t (&a)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) asm volatile("" : "+r"(a[i][j])::"memory");
}

// ------------------------------------------------------------ wgmma

// The accumulator of m64nNk16 (f32), thread t of the warpgroup, w = warp
// within the warpgroup, g = lane / 4, q = lane % 4: d[i / 4][i % 4] holds
//   row 16 w + g + 8 ((i >> 1) & 1), column 8 (i >> 2) + 2 q + (i & 1),
// the mma.sync m16n8 layout repeated over N / 8 column tiles (d[nt][0..3]).
// scale_d = 0: D = A B (the first k step); 1: D += A B.

// D(64 x N) (+)= A(64 x 16) B(16 x N); A and B in shared memory, both
// K-major (descriptors above).
template <int N, typename Elem>
__device__ __forceinline__ void wgmma_ss(float (&d)[N / 8][4], uint64_t desc_a, uint64_t desc_b, int scale_d);

// D(64 x N) (+)= A(64 x 16) B(16 x N); A in registers (the mma.m16n8k16 A
// fragment: a[0] = (row g, k 2q..2q+1), a[1] = (row g + 8, same k),
// a[2] = (row g, k 8 + 2q..), a[3] = (row g + 8, k 8 + 2q..)), B in shared
// memory MN-major (tnspB = 1: V as stored, keys x head dim).
template <int N, typename Elem>
__device__ __forceinline__ void wgmma_rs_bt(float (&d)[N / 8][4], const uint32_t (&a)[4], uint64_t desc_b,
                                            int scale_d);

// The accumulator operands of an m64nN tile: its N / 2 f32 registers per
// thread, d[N / 8][4]. FA_WGMMA_REGS##N lists them for the instruction
// ("%0, ..., %(N/2 - 1)", 8 at a time), FA_WGMMA_OPS##N(d) binds them
// ("+f"(d[0][0]), ...; n8 tile t is d[t]), for N = 32, 64, 96, 128, 176,
// 192, 256 (the instantiations below).
#define FA_WGMMA_R0 "%0, %1, %2, %3, %4, %5, %6, %7"
#define FA_WGMMA_R1 "%8, %9, %10, %11, %12, %13, %14, %15"
#define FA_WGMMA_R2 "%16, %17, %18, %19, %20, %21, %22, %23"
#define FA_WGMMA_R3 "%24, %25, %26, %27, %28, %29, %30, %31"
#define FA_WGMMA_R4 "%32, %33, %34, %35, %36, %37, %38, %39"
#define FA_WGMMA_R5 "%40, %41, %42, %43, %44, %45, %46, %47"
#define FA_WGMMA_R6 "%48, %49, %50, %51, %52, %53, %54, %55"
#define FA_WGMMA_R7 "%56, %57, %58, %59, %60, %61, %62, %63"
#define FA_WGMMA_R8 "%64, %65, %66, %67, %68, %69, %70, %71"
#define FA_WGMMA_R9 "%72, %73, %74, %75, %76, %77, %78, %79"
#define FA_WGMMA_R10 "%80, %81, %82, %83, %84, %85, %86, %87"
#define FA_WGMMA_R11 "%88, %89, %90, %91, %92, %93, %94, %95"
#define FA_WGMMA_R12 "%96, %97, %98, %99, %100, %101, %102, %103"
#define FA_WGMMA_R13 "%104, %105, %106, %107, %108, %109, %110, %111"
#define FA_WGMMA_R14 "%112, %113, %114, %115, %116, %117, %118, %119"
#define FA_WGMMA_R15 "%120, %121, %122, %123, %124, %125, %126, %127"
#define FA_WGMMA_REGS32 FA_WGMMA_R0 ", " FA_WGMMA_R1
#define FA_WGMMA_REGS64 FA_WGMMA_REGS32 ", " FA_WGMMA_R2 ", " FA_WGMMA_R3
#define FA_WGMMA_REGS96 FA_WGMMA_REGS64 ", " FA_WGMMA_R4 ", " FA_WGMMA_R5
#define FA_WGMMA_REGS128 FA_WGMMA_REGS96 ", " FA_WGMMA_R6 ", " FA_WGMMA_R7
#define FA_WGMMA_REGS176 FA_WGMMA_REGS128 ", " FA_WGMMA_R8 ", " FA_WGMMA_R9 ", " FA_WGMMA_R10
#define FA_WGMMA_REGS192 FA_WGMMA_REGS176 ", " FA_WGMMA_R11
#define FA_WGMMA_REGS256 FA_WGMMA_REGS192 ", " FA_WGMMA_R12 ", " FA_WGMMA_R13 ", " FA_WGMMA_R14 ", " FA_WGMMA_R15

#define FA_WGMMA_T1(d, t) "+f"(d[t][0]), "+f"(d[t][1]), "+f"(d[t][2]), "+f"(d[t][3])
#define FA_WGMMA_T2(d, t) FA_WGMMA_T1(d, t), FA_WGMMA_T1(d, t + 1)
#define FA_WGMMA_T4(d, t) FA_WGMMA_T2(d, t), FA_WGMMA_T2(d, t + 2)
#define FA_WGMMA_OPS32(d) FA_WGMMA_T4(d, 0)
#define FA_WGMMA_OPS64(d) FA_WGMMA_OPS32(d), FA_WGMMA_T4(d, 4)
#define FA_WGMMA_OPS96(d) FA_WGMMA_OPS64(d), FA_WGMMA_T4(d, 8)
#define FA_WGMMA_OPS128(d) FA_WGMMA_OPS96(d), FA_WGMMA_T4(d, 12)
#define FA_WGMMA_OPS176(d) FA_WGMMA_OPS128(d), FA_WGMMA_T4(d, 16), FA_WGMMA_T2(d, 20)
#define FA_WGMMA_OPS192(d) FA_WGMMA_OPS176(d), FA_WGMMA_T2(d, 22)
#define FA_WGMMA_OPS256(d) FA_WGMMA_OPS192(d), FA_WGMMA_T4(d, 24), FA_WGMMA_T4(d, 28)

#define FA_WGMMA_SS_DEF(N, ELEM, TY, IA, IB, IS)                                                         \
  template <>                                                                                          \
  __device__ __forceinline__ void wgmma_ss<N, ELEM>(float (&d)[N / 8][4], uint64_t desc_a, uint64_t desc_b, \
                                                    int scale_d) {                                     \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" IS ", 0;\n"                                      \
                 "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TY "." TY " {" FA_WGMMA_REGS##N "}"   \
                 ", %" IA ", %" IB ", p, 1, 1, 0, 0;\n}\n"                                            \
                 : FA_WGMMA_OPS##N(d)                                                                  \
                 : "l"(desc_a), "l"(desc_b), "r"(scale_d));                                            \
  }

#define FA_WGMMA_RS_DEF(N, ELEM, TY, A0, A1, A2, A3, IB, IS)                                             \
  template <>                                                                                          \
  __device__ __forceinline__ void wgmma_rs_bt<N, ELEM>(float (&d)[N / 8][4], const uint32_t (&a)[4],   \
                                                       uint64_t desc_b, int scale_d) {                 \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" IS ", 0;\n"                                      \
                 "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TY "." TY " {" FA_WGMMA_REGS##N "}"   \
                 ", {%" A0 ", %" A1 ", %" A2 ", %" A3 "}, %" IB ", p, 1, 1, 1;\n}\n"                     \
                 : FA_WGMMA_OPS##N(d)                                                                  \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(scale_d));             \
  }

// Operand numbers: the N / 2 accumulators first, then the inputs. S = Q K^T
// takes N = block_n, O += P V N = the head dim (padded to whole panels).
FA_WGMMA_SS_DEF(32, __nv_bfloat16, "bf16", "16", "17", "18")
FA_WGMMA_SS_DEF(32, __half, "f16", "16", "17", "18")
FA_WGMMA_SS_DEF(64, __nv_bfloat16, "bf16", "32", "33", "34")
FA_WGMMA_SS_DEF(64, __half, "f16", "32", "33", "34")
FA_WGMMA_SS_DEF(96, __nv_bfloat16, "bf16", "48", "49", "50")
FA_WGMMA_SS_DEF(96, __half, "f16", "48", "49", "50")
FA_WGMMA_SS_DEF(128, __nv_bfloat16, "bf16", "64", "65", "66")
FA_WGMMA_SS_DEF(128, __half, "f16", "64", "65", "66")
FA_WGMMA_SS_DEF(176, __nv_bfloat16, "bf16", "88", "89", "90")
FA_WGMMA_SS_DEF(176, __half, "f16", "88", "89", "90")
FA_WGMMA_SS_DEF(192, __nv_bfloat16, "bf16", "96", "97", "98")
FA_WGMMA_SS_DEF(192, __half, "f16", "96", "97", "98")
FA_WGMMA_SS_DEF(256, __nv_bfloat16, "bf16", "128", "129", "130")
FA_WGMMA_SS_DEF(256, __half, "f16", "128", "129", "130")
FA_WGMMA_RS_DEF(32, __nv_bfloat16, "bf16", "16", "17", "18", "19", "20", "21")
FA_WGMMA_RS_DEF(32, __half, "f16", "16", "17", "18", "19", "20", "21")
FA_WGMMA_RS_DEF(64, __nv_bfloat16, "bf16", "32", "33", "34", "35", "36", "37")
FA_WGMMA_RS_DEF(64, __half, "f16", "32", "33", "34", "35", "36", "37")
FA_WGMMA_RS_DEF(96, __nv_bfloat16, "bf16", "48", "49", "50", "51", "52", "53")
FA_WGMMA_RS_DEF(96, __half, "f16", "48", "49", "50", "51", "52", "53")
FA_WGMMA_RS_DEF(128, __nv_bfloat16, "bf16", "64", "65", "66", "67", "68", "69")
FA_WGMMA_RS_DEF(128, __half, "f16", "64", "65", "66", "67", "68", "69")
FA_WGMMA_RS_DEF(192, __nv_bfloat16, "bf16", "96", "97", "98", "99", "100", "101")
FA_WGMMA_RS_DEF(192, __half, "f16", "96", "97", "98", "99", "100", "101")
FA_WGMMA_RS_DEF(256, __nv_bfloat16, "bf16", "128", "129", "130", "131", "132", "133")
FA_WGMMA_RS_DEF(256, __half, "f16", "128", "129", "130", "131", "132", "133")

#undef FA_WGMMA_SS_DEF
#undef FA_WGMMA_RS_DEF

// ------------------------------------------------------------ barriers, registers

// One arrival on an mbarrier (no transaction bytes).
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

// Named barrier `id` (1..15; 0 is __syncthreads) over `threads` threads
// (a multiple of 32): wait for all of them.
__device__ __forceinline__ void named_bar_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
// Arrive on named barrier `id` without waiting (the producer side of a
// turn: the waiting side uses named_bar_sync with the same count).
__device__ __forceinline__ void named_bar_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// Give registers back to the pool / take them (all 4 warps of a warpgroup
// execute it; REGS is a multiple of 8 in 24..256).
template <int REGS>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(REGS));
}
template <int REGS>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(REGS));
}

}  // namespace fa

#endif  // __CUDA_ARCH__ >= 900
