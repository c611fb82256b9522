// fwd_mma.cuh - forward attention on mma.sync m16n8k16 (FlashAttention-2
// scheme), for sm_80 and later. Design note: fwd_mma.md beside this file.
//
// One thread block computes block_m query rows of one (sequence, head):
//   load Q tile                                    (cp.async, once)
//   for each key tile the mask does not hide:
//     S = Q K^T                  (ldmatrix + mma, fp32 accumulators)
//     softcap, mask              (run-time branches, uniform per block)
//     online softmax             (running max / sum per row, rescale O)
//     O += P V                   (P packed to fp16/bf16 straight from S)
//   O /= sum, write O and LSE                      (through shared memory)
// K and V each have one shared-memory buffer; V(n) loads while S = Q K(n)^T
// runs, K(n+1) loads while the softmax and O += P V(n) run.
//
// The family-independent rules (where a sequence lives, the mask rule and
// the key tiles to visit, the softmax step, softcap, and the epilogue's
// LSE/sink/empty-row policy) come from src/attn/; this file owns the
// register layouts, the tile loads and the tensor-core products.
#pragma once

#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "attn/mask.h"
#include "attn/sequence.h"
#include "attn/softmax.h"
#include "cuda/common/mask_tile.cuh"
#include "cuda/common/mma_tile.cuh"
#include "cuda/common/prefill_block.cuh"
#include "cuda/ptx.cuh"
#include "fa_args.h"

namespace fa {

template <int HEAD_DIM, int BLOCK_M, int BLOCK_N, int WARPS, bool Q_IN_REGS, typename ElemT, int MASK,
          bool K_AFTER_SOFTMAX = false>
struct FwdMmaTraits {
  using Elem = ElemT;
  static constexpr int kHeadDim = HEAD_DIM;
  static constexpr int kHeadDimPadded = (HEAD_DIM + 15) / 16 * 16;  // mma k-steps of 16
  static constexpr int kBlockM = BLOCK_M;
  static constexpr int kBlockN = BLOCK_N;
  static constexpr int kWarps = WARPS;
  static constexpr int kThreads = WARPS * 32;
  static constexpr int kMask = MASK;
  // Keep the warp's Q fragments in registers (loaded once) instead of
  // re-reading Q from shared memory for every key tile: less ldmatrix
  // traffic, 16 * head_dim / 32 more registers per m16 tile.
  static constexpr bool kQInRegs = Q_IN_REGS;
  // Issue the next K tile's loads after the softmax rather than right after
  // the barrier that frees its buffer: a scheduling choice, measured per
  // tile (gen/spec.py k_after_softmax; fwd_mma.md).
  static constexpr bool kKAfterSoftmax = K_AFTER_SOFTMAX;

  static constexpr int kWarpRows = BLOCK_M / WARPS;  // each warp owns contiguous query rows
  static constexpr int kMTiles = kWarpRows / 16;     // m16 tiles per warp
  static constexpr int kSTiles = BLOCK_N / 8;        // n8 tiles of S per m16 tile
  static constexpr int kOTiles = kHeadDimPadded / 8; // n8 tiles of O per m16 tile
  static constexpr int kQKSteps = kHeadDimPadded / 16;
  static constexpr int kPVSteps = BLOCK_N / 16;

  // Shared-memory rows are padded by 16 bytes: a row pitch of 4 (mod 8)
  // words puts the 8 rows an ldmatrix phase reads in 8 distinct bank quads,
  // for any head dim (no swizzle needed, so odd head dims like 80 just work).
  static constexpr int kRowElems = kHeadDimPadded + 8;
  static constexpr int kRowBytes = kRowElems * 2;
  static constexpr int kChunksPerRow = kHeadDimPadded / 8;  // 16-byte chunks
  static constexpr int kQBytes = BLOCK_M * kRowBytes;
  static constexpr int kKVBytes = BLOCK_N * kRowBytes;
  static constexpr int kSmemBytes = kQBytes + 2 * kKVBytes;
  // Paged caches add two slots of staged (page, row) entries (load_tile_paged).
  static constexpr int kPageRowsBytes = 2 * BLOCK_N * 8;
  static constexpr int kSmemBytesPaged = kSmemBytes + kPageRowsBytes;

  static_assert(HEAD_DIM % 8 == 0 && HEAD_DIM >= 8 && HEAD_DIM <= 256, "head dim: multiple of 8 in 8..256");
  static_assert(BLOCK_M % WARPS == 0 && kWarpRows % 16 == 0, "each warp owns whole m16 tiles");
  static_assert(BLOCK_N % 16 == 0, "block_n: multiple of 16");
  static_assert(BLOCK_N <= WARPS * 32, "one thread stages each key row's page (stage_page_rows_begin)");
  static_assert(sizeof(Elem) == 2, "16-bit storage");
};

// ------------------------------------------------------------ tile loads

// Copy `ROWS` rows of the head-dim-padded tile into shared memory with
// cp.async; rows >= valid_rows and padding columns are zero-filled, so
// padded K/V rows contribute 0 (not NaN) to the products.
// Each thread owns one 16-byte column chunk and walks down the rows with one
// 64-bit pointer step: per-chunk addresses would otherwise be hoisted out of
// the main loop as 64-bit registers and spill.
template <class T, int ROWS>
__device__ __forceinline__ void load_tile(uint32_t smem, const typename T::Elem *src, int64_t row_stride,
                                          int valid_rows, const void *any_valid_address) {
  constexpr int kRowsPerPass = T::kThreads / T::kChunksPerRow;
  constexpr int kPasses = (ROWS + kRowsPerPass - 1) / kRowsPerPass;
  const int row = (int)threadIdx.x / T::kChunksPerRow;
  const int col = ((int)threadIdx.x % T::kChunksPerRow) * 8;
  if (row >= kRowsPerPass) return;  // when the chunks per row do not divide the threads
  const bool col_valid = col < T::kHeadDim;
  const typename T::Elem *g = src + row * row_stride + col;
  const int64_t step = kRowsPerPass * row_stride;
  uint32_t dst = smem + row * T::kRowBytes + col * 2;
#pragma unroll
  for (int p = 0; p < kPasses; ++p) {
    const int r = row + p * kRowsPerPass;
    if (ROWS % kRowsPerPass == 0 || r < ROWS) {
      const bool valid = col_valid && r < valid_rows;
      cp_async_16(dst, valid ? static_cast<const void *>(g) : any_valid_address, valid);
    }
    g += step;
    dst += kRowsPerPass * T::kRowBytes;
  }
}

// Paged caches: the (page, row in page) of each key row of a tile, staged
// in shared memory once per tile so that the K and V loads of the tile
// read them there instead of walking the block table serially (4 dependent
// table reads per load at page 16 left a chunked prefill at 0.6x). Two
// slots of BLOCK_N entries (tiles alternate); entry r is written by thread
// r, whose table read is issued before a matrix product and stored after
// it (stage_page_rows_begin / _end), so its latency hides behind the
// product. Rows past the sequence's keys, or past the table, get (0, 0):
// their loads are zero-filled anyway.
template <class T>
__device__ __forceinline__ int2 stage_page_rows_begin(const fa_fwd_args &a, int b, int len_k, int n0) {
  const int n = n0 + (int)threadIdx.x;
  int2 e = make_int2(0, 0);
  if (threadIdx.x < T::kBlockN && n < len_k) {
    const int col = n / a.page_size;
    if (col < a.max_pages_per_seq) {
      e.x = (int)fa_kv_page_in_pool(&a, a.block_table[(int64_t)b * a.block_table_stride + col]);
      e.y = n - col * a.page_size;
    }
  }
  return e;
}

template <class T>
__device__ __forceinline__ void stage_page_rows_end(uint32_t slot, int2 e) {
  if (threadIdx.x < T::kBlockN) st_shared_8(slot + threadIdx.x * 8, (uint32_t)e.x, (uint32_t)e.y);
}

// A K or V tile from a paged cache: rows n0 .. n0 + BLOCK_N - 1 of the
// sequence, their (page, row) staged at `rows` (above). Rows >= valid_rows
// are zero-filled, never read. Pages that are whole tiles (page_size a
// multiple of BLOCK_N; tiles start at multiples of BLOCK_N) hold the tile
// in one run of rows: load_tile from its first row, as for a contiguous
// cache. Otherwise each thread walks its rows, one staged entry per row.
template <class T>
__device__ __forceinline__ void load_tile_paged(uint32_t smem, const typename T::Elem *head_base, int64_t page_stride,
                                                int64_t row_stride, int page_size, uint32_t rows, int valid_rows,
                                                const void *any_valid_address) {
  if (page_size % T::kBlockN == 0) {
    const uint2 e = ld_shared_8(rows);
    load_tile<T, T::kBlockN>(smem, head_base + (int64_t)(int)e.x * page_stride + (int64_t)(int)e.y * row_stride,
                             row_stride, valid_rows, any_valid_address);
    return;
  }
  constexpr int kRowsPerPass = T::kThreads / T::kChunksPerRow;
  constexpr int kPasses = (T::kBlockN + kRowsPerPass - 1) / kRowsPerPass;
  const int row = (int)threadIdx.x / T::kChunksPerRow;
  const int col = ((int)threadIdx.x % T::kChunksPerRow) * 8;
  if (row >= kRowsPerPass) return;
  const bool col_valid = col < T::kHeadDim;
  uint32_t dst = smem + row * T::kRowBytes + col * 2;
#pragma unroll
  for (int p = 0; p < kPasses; ++p) {
    const int r = row + p * kRowsPerPass;
    if (T::kBlockN % kRowsPerPass == 0 || r < T::kBlockN) {
      const bool valid = col_valid && r < valid_rows;
      const uint2 e = ld_shared_8(rows + r * 8);
      const void *src = head_base + (int64_t)(int)e.x * page_stride + (int64_t)(int)e.y * row_stride + col;
      cp_async_16(dst, valid ? src : any_valid_address, valid);
    }
    dst += kRowsPerPass * T::kRowBytes;
  }
}

// ------------------------------------------------------------ the kernel

// SOFTCAP, PAGED: compile-time variants (launch_fwd_mma picks one from the
// call): softcap code in the main loop changed the register allocation of
// the 255-register tiles even when a run-time branch skipped it (d64: -4%),
// and a paged cache changes the K/V loads.
template <class T, bool SOFTCAP, bool PAGED>
__global__ void __launch_bounds__(T::kThreads, 1) fwd_mma_kernel(const __grid_constant__ fa_fwd_args a) {
  using Elem = typename T::Elem;
  extern __shared__ __align__(16) unsigned char smem[];
  const uint32_t sq = smem_u32(smem);
  const uint32_t sk = sq + T::kQBytes;
  const uint32_t sv = sk + T::kKVBytes;
  const uint32_t page_rows = sv + T::kKVBytes;  // PAGED: [2][BLOCK_N] (page, row)
  const auto page_rows_of = [&](int nb) { return page_rows + (nb & 1) * T::kBlockN * 8; };

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;

  const PrefillBlock blk = prefill_block(blockIdx.x, a.seqlen_q, T::kBlockM, a.num_heads_q);
  const int b = blk.b, head = blk.head, m_block = blk.m_block;

  const fa_seq seq = fa_locate_sequence(&a, b);
  const int m0 = m_block * T::kBlockM;
  if (m0 >= seq.len_q || !fa_seq_selected(&a, &seq)) return;
  const int kv_head = head / a.heads_per_kv;
  const int64_t diag = (int64_t)seq.len_k - seq.len_q;  // key position of query row 0

  const Elem *q = static_cast<const Elem *>(a.q) + b * a.q_batch_stride + (seq.q_start + m0) * a.q_row_stride +
                  head * a.q_head_stride;
  // K/V of the sequence's head: at its first row, or (paged) at the head's
  // offset in the pool.
  const Elem *k = PAGED ? static_cast<const Elem *>(a.k) + kv_head * a.k_head_stride
                        : static_cast<const Elem *>(a.k) + b * a.k_batch_stride + seq.k_start * a.k_row_stride +
                              kv_head * a.k_head_stride;
  const Elem *v = PAGED ? static_cast<const Elem *>(a.v) + kv_head * a.v_head_stride
                        : static_cast<const Elem *>(a.v) + b * a.v_batch_stride + seq.k_start * a.v_row_stride +
                              kv_head * a.v_head_stride;

  // Key tiles to visit (attn/mask.h): the union of the visible ranges of
  // the block's rows; tiles inside every row's range need no element mask.
  const fa_tile_plan plan = fa_plan_key_tiles(m0, T::kBlockM, seq.len_q, seq.len_k, window_left_of<T::kMask>(a),
                                              window_right_of<T::kMask>(a), T::kBlockN);
  const int n_block_min = plan.n_block_min;
  const int n_block_max = plan.n_block_max;

  const int warp_row0 = warp * T::kWarpRows;

  const float c = a.score_log2_scale;
  const bool positive_scale = c > 0.f;
  const float hidden = positive_scale ? -INFINITY : INFINITY;

  float o[T::kMTiles][T::kOTiles][4];
  float row_max[T::kMTiles][2], row_sum[T::kMTiles][2];
#pragma unroll
  for (int mt = 0; mt < T::kMTiles; ++mt) {
#pragma unroll
    for (int dt = 0; dt < T::kOTiles; ++dt)
#pragma unroll
      for (int j = 0; j < 4; ++j) o[mt][dt][j] = 0.f;
    row_max[mt][0] = row_max[mt][1] = -INFINITY;
    row_sum[mt][0] = row_sum[mt][1] = 0.f;
  }

  const uint32_t sq_warp = sq + warp_row0 * T::kRowBytes;
  if (n_block_min < n_block_max) {
    load_tile<T, T::kBlockM>(sq, q, a.q_row_stride, seq.len_q - m0, a.q);
    if constexpr (PAGED) {
      stage_page_rows_end<T>(page_rows_of(n_block_min),
                             stage_page_rows_begin<T>(a, b, seq.len_k, n_block_min * T::kBlockN));
      __syncthreads();
      load_tile_paged<T>(sk, k, a.k_batch_stride, a.k_row_stride, a.page_size, page_rows_of(n_block_min),
                         seq.len_k - n_block_min * T::kBlockN, a.k);
    } else
      load_tile<T, T::kBlockN>(sk, k + (int64_t)n_block_min * T::kBlockN * a.k_row_stride, a.k_row_stride,
                               seq.len_k - n_block_min * T::kBlockN, a.k);
    cp_async_commit();
  }

  uint32_t qf[T::kQInRegs ? T::kQKSteps : 1][T::kMTiles][4];  // Q_IN_REGS only
  for (int nb = n_block_min; nb < n_block_max; ++nb) {
    const int n0 = nb * T::kBlockN;
    float s[T::kMTiles][T::kSTiles][4];
#pragma unroll
    for (int mt = 0; mt < T::kMTiles; ++mt)
#pragma unroll
      for (int nt = 0; nt < T::kSTiles; ++nt)
#pragma unroll
        for (int j = 0; j < 4; ++j) s[mt][nt][j] = 0.f;

    cp_async_wait<0>();  // K(nb) (and Q) landed
    __syncthreads();     // ... for every thread; everyone is done reading V(nb-1)
    if constexpr (PAGED)
      load_tile_paged<T>(sv, v, a.v_batch_stride, a.v_row_stride, a.page_size, page_rows_of(nb), seq.len_k - n0, a.v);
    else
      load_tile<T, T::kBlockN>(sv, v + (int64_t)n0 * a.v_row_stride, a.v_row_stride, seq.len_k - n0, a.v);
    cp_async_commit();
    // PAGED: the next tile's (page, row) entries, read now, stored after the
    // product (the other slot: its last reader, V(nb - 1), was issued before
    // the barrier above), visible to K(nb + 1) after the barrier below.
    int2 next_rows;
    if constexpr (PAGED) next_rows = stage_page_rows_begin<T>(a, b, seq.len_k, n0 + T::kBlockN);
    if constexpr (T::kQInRegs) {
      if (nb == n_block_min) load_q_fragments<T>(qf, sq_warp, lane);  // Q landed with K(n_block_min)
      qk_gemm_qregs<T>(s, qf, sk, lane);
    } else {
      qk_gemm<T>(s, sq_warp, sk, lane);
    }
    if constexpr (PAGED) stage_page_rows_end<T>(page_rows_of(nb + 1), next_rows);
    cp_async_wait<0>();  // V(nb) landed
    __syncthreads();     // every thread is done reading K(nb): its buffer is free
    const auto load_next_k = [&]() {
      if (nb + 1 < n_block_max) {
        if constexpr (PAGED)
          load_tile_paged<T>(sk, k, a.k_batch_stride, a.k_row_stride, a.page_size, page_rows_of(nb + 1),
                             seq.len_k - n0 - T::kBlockN, a.k);
        else
          load_tile<T, T::kBlockN>(sk, k + (int64_t)(n0 + T::kBlockN) * a.k_row_stride, a.k_row_stride,
                                   seq.len_k - n0 - T::kBlockN, a.k);
        cp_async_commit();
      }
    };
    if constexpr (!T::kKAfterSoftmax) load_next_k();

    if (SOFTCAP) apply_softcap<T>(s, a.softcap, a.softcap_inner_scale);
    if (fa_tile_needs_mask(&plan, n0, T::kBlockN))
      apply_mask<T>(s, a, n0, m0 + warp_row0, diag, seq.len_k, lane, hidden);
    online_softmax<T>(s, o, row_max, row_sum, c, positive_scale);
    if constexpr (T::kKAfterSoftmax) load_next_k();
    pv_gemm<T>(o, s, sv, lane);
  }

  // ---- epilogue: normalize, LSE, write O through this warp's Q rows.
  const float sink = a.sinks != nullptr ? a.sinks[head] * kLog2e : -INFINITY;
  float *lse = a.lse == nullptr ? nullptr
                                : a.lse + b * a.lse_batch_stride + head * a.lse_head_stride + seq.q_start + m0;
#pragma unroll
  for (int mt = 0; mt < T::kMTiles; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      // Sinks, empty rows, NaN rows: attn/softmax.h's policy.
      const fa_row_total total = fa_row_with_sink(row_max[mt][half], quad_sum(row_sum[mt][half]), sink);
      const float inv = fa_row_out_scale(total);
#pragma unroll
      for (int dt = 0; dt < T::kOTiles; ++dt) {
        o[mt][dt][2 * half] *= inv;
        o[mt][dt][2 * half + 1] *= inv;
      }
      const int r = warp_row0 + mt * 16 + (lane >> 2) + half * 8;
      if (lse != nullptr && (lane & 3) == 0 && m0 + r < seq.len_q) lse[r] = fa_row_lse(total);
    }

  // Each warp reads only its own Q rows, so it may overwrite them without a
  // block barrier (all cp.async groups have completed by now).
#pragma unroll
  for (int mt = 0; mt < T::kMTiles; ++mt)
#pragma unroll
    for (int dt = 0; dt < T::kOTiles; ++dt)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int r = mt * 16 + (lane >> 2) + half * 8;
        const int col = dt * 8 + (lane & 3) * 2;
        st_shared_4(sq_warp + r * T::kRowBytes + col * 2,
                    pack2<Elem>(o[mt][dt][2 * half], o[mt][dt][2 * half + 1]));
      }
  __syncwarp();
  Elem *out = static_cast<Elem *>(a.out) + b * a.out_batch_stride +
              (seq.q_start + m0 + warp_row0) * a.out_row_stride + head * a.out_head_stride;
  const int rows_left = seq.len_q - m0 - warp_row0;
  constexpr int kChunks = T::kWarpRows * T::kChunksPerRow;
#pragma unroll
  for (int it = 0; it < (kChunks + 31) / 32; ++it) {
    const int i = lane + it * 32;
    const int r = i / T::kChunksPerRow;
    const int col = (i % T::kChunksPerRow) * 8;
    if (i < kChunks && r < rows_left && col < T::kHeadDim) {
      const uint4 val = ld_shared_16(sq_warp + r * T::kRowBytes + col * 2);
      *reinterpret_cast<uint4 *>(out + r * a.out_row_stride + col) = val;
    }
  }
}

// Host side: launch one specialization. Returns a cudaError_t.
template <class T>
int launch_fwd_mma(const fa_fwd_args *args, cudaStream_t stream) {
  const long long m_blocks = (args->seqlen_q + T::kBlockM - 1) / T::kBlockM;
  const long long blocks = m_blocks * args->num_heads_q * args->batch;  // <= INT32_MAX, checked by the caller
  if (blocks == 0) return cudaSuccess;
  const bool softcap = args->softcap > 0.f, paged = args->block_table != nullptr;
  const void *kernel = softcap ? (paged ? reinterpret_cast<const void *>(fwd_mma_kernel<T, true, true>)
                                        : reinterpret_cast<const void *>(fwd_mma_kernel<T, true, false>))
                               : (paged ? reinterpret_cast<const void *>(fwd_mma_kernel<T, false, true>)
                                        : reinterpret_cast<const void *>(fwd_mma_kernel<T, false, false>));
  const int smem = paged ? T::kSmemBytesPaged : T::kSmemBytes;
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (e != cudaSuccess) return e;
  }
  void *params[] = {const_cast<fa_fwd_args *>(args)};
  return cudaLaunchKernel(kernel, dim3((unsigned)blocks), dim3(T::kThreads), params, smem, stream);
}

}  // namespace fa
