// fwd_wgmma.cuh - forward attention for Hopper (sm_90a): TMA loads into a
// ring of shared-memory stages guarded by mbarriers, warpgroup MMA (wgmma),
// a producer warp and two or three consumer warpgroups. Design note:
// fwd_wgmma.md beside this file; the facts it relies on:
// shared/notes/HOPPER.md.
//
// One thread block (384 threads; 512 with three consumers) computes 128
// (192) query rows of one (sequence, head):
//   warpgroup 0 (producer; setmaxnreg 24, 32 beyond two panels; one thread
//   works, or with pages smaller than a key tile one lane of each warp:
//   produce_split):
//     TMA Q (128 rows) once; for each key tile n the mask does not hide:
//       wait empty_k[s] -> TMA K(n) -> sK[s];  wait empty_v[s] -> TMA V(n) -> sV[s]
//   warpgroups 1, 2 (, 3) (consumers, 64 query rows each; setmaxnreg 240 or
//   232, 160 with three):
//     for each key tile n:
//       S = Q K(n)^T        wgmma m64n{block_n}k16, Q and K from shared memory
//       (O *= alpha of the tile before, under this S: FA3's order)
//       release sK[s]; softcap, mask, online softmax in registers (attn/)
//       P = 16-bit S        registers, no shuffles (the accumulator is the A layout)
//       O += P V(n)         wgmma m64n{head_dim}k16, P from registers, V as
//                           stored (MN-major B, no transpose)
//       release sV[s]
//     O /= sum, O through shared memory (or straight from registers) and
//     LSE to global memory
// Three compile-time switches (traits OVERLAP, TURNS, PERSISTENT;
// gen/spec.py WGMMA_TILES; fwd_wgmma.md): intra-warpgroup overlap (the
// softmax of S(n) under P(n-1) V(n-1)), turns between the consumers over
// their GEMM issues (ping-pong; round the three, where there are three) or
// over their exponentials (TurnRule), and a persistent
// grid (a block loops over the work tiles it listed before its roles
// split, longest sequences first: attn/tile_order.h). With all off each
// product is waited for before the next step: the first version. A fourth, on since it was measured
// (fwd_wgmma.md): SMEM_EPILOGUE, O staged in shared memory (stmatrix) and
// stored with 16-byte stores (store_tile_smem). Paged K/V (a block table)
// is a second instantiation of the producer's loads (load_kv_tiles<T, true>).
//
// Tiles are panels of 64 columns (128-byte rows, TMA's 128-byte swizzle)
// or, for head dims that are not multiples of 64, of 32 columns (64-byte
// rows and swizzle), one panel after the other (the layout wgmma's
// descriptors describe; common/wgmma.cuh). A head dim that is not a whole
// number of panels (80) is padded in shared memory: TMA fills the columns
// past the head dim with zeros, S = Q K^T takes only the head dim's k16
// steps, and O's padded columns are computed and dropped. Every tile starts
// on a 1024-byte boundary.
//
// What TMA cannot do is left to the host descriptor (fwd_wgmma_family.c):
// paged K/V, strides of 2^40 bytes or more, rows past 2^31. Boxes that run
// past a sequence read the next sequence's rows (or zeros past the tensor):
// hidden keys are masked (their scores are replaced, never added to), the V
// rows past the sequence's keys are zeroed in shared memory (0 x NaN would
// be NaN), and query rows past the sequence are never stored.
//
// The code is in parts by role, under wgmma/; this file includes them in
// the order below (each part also includes the parts it uses), then
// defines the kernel and its launch:
//   traits.cuh        FwdWgmmaTraits (tiles, switches, shared memory,
//                     registers), the named barriers and mbarriers
//   loads.cuh         the K/V ring and the TMA issues of Q and K/V tiles
//   gemm_softmax.cuh  a consumer's steps on one key tile: the GEMMs, the
//                     online softmax, the turns
//   work_tiles.cuh    the walk: a block's list of work tiles, each located
//   producer.cuh      the producer role
//   epilogue.cuh      a work tile's end: totals, LSE, O's store, the merge
//                     of a tile split by keys
//   consumer.cuh      the consumer role: the loop over a tile's key tiles
#pragma once

#include <cuda.h>          // CUtensorMap and its enums (types only: nothing links libcuda)
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled_v12000
#include <cuda_runtime.h>
#include <stdint.h>

#include "attn/tile_order.h"
#include "cuda/common/launch.cuh"
#include "cuda/common/tensor_map.cuh"
#include "cuda/ptx.cuh"
#include "cuda/wgmma_trace.cuh"
#include "fa_args.h"

// in dependency order (not sorted)
#include "cuda/wgmma/traits.cuh"
#include "cuda/wgmma/loads.cuh"
#include "cuda/wgmma/gemm_softmax.cuh"
#include "cuda/wgmma/work_tiles.cuh"
#include "cuda/wgmma/producer.cuh"
#include "cuda/wgmma/epilogue.cuh"
#include "cuda/wgmma/consumer.cuh"

namespace fa {

// ------------------------------------------------------------ the kernel

template <class T>
__global__ void __launch_bounds__(T::kThreads, 1)
    fwd_wgmma_kernel(const __grid_constant__ fa_fwd_args a, const __grid_constant__ CUtensorMap tm_q,
                     const __grid_constant__ CUtensorMap tm_k, const __grid_constant__ CUtensorMap tm_v,
                     const __grid_constant__ CUtensorMap tm_o) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(1024) unsigned char smem[];
  // The 128-byte swizzle repeats every 1024 bytes of absolute address:
  // align by hand (the attribute alone is not enough, HOPPER.md 2.5).
  const uint32_t sq = (smem_u32(smem) + 1023u) & ~1023u;
  const uint32_t sk = sq + T::kQBuffers * T::kQBytes;
  const uint32_t sv = sk + T::kStages * T::kKVBytes;
  const WgmmaBarriers<T> bar{sv + T::kStages * T::kKVBytes};

  const int tid = (int)threadIdx.x;
  const int wg = tid / 128;
  trace_block_point(0);  // nothing unless FA_WGMMA_TRACE_CAP (wgmma_trace.cuh)

  // Lane 0 of the last warp inits the barriers and, where early_first_tile
  // holds, issues the first tile's loads: it lists no tiles and reads no
  // table entries for batches and lists of up to T::kThreads - 32, while
  // thread 0's warp lists a block's first 32 tiles.
  const int init_tid = T::kThreads - 32;
  if (tid == init_tid) {
    // The maps' descriptors fetched while the tile list is built (kernel
    // parameters: nothing the kernel before writes), not behind it where
    // the first loads and the first TMA store waited for them.
    tma_prefetch_map(&tm_q);
    tma_prefetch_map(&tm_k);
    tma_prefetch_map(&tm_v);
    if (T::kTmaStore) tma_prefetch_map(&tm_o);
    for (int qb = 0; qb < T::kQBuffers; ++qb) {
      mbar_init(bar.q(qb), 1);
      mbar_init(bar.q_empty(qb), T::kConsumers * (T::kOStageInQ ? 4 : 1));  // per consumer warpgroup, or warp
    }
    const uint32_t kv_issuers = split_issue<T>(a) ? 2 : 1;  // arrivals per full barrier
    for (int s = 0; s < T::kStages; ++s) {
      mbar_init(bar.k_full(s), kv_issuers);
      mbar_init(bar.v_full(s), kv_issuers);
      mbar_init(bar.k_empty(s), T::kConsumers);
      mbar_init(bar.v_empty(s), T::kConsumers);
    }
    fence_mbar_init();
    // The inits visible to the copy engine (the async proxy) before this
    // thread's own first TMA (issue_first_tile, before any barrier), as the
    // CUDA guide's TMA example orders them (HOPPER.md 2.8).
    fence_proxy_async_shared();
  }
  // Launched as a programmatic dependent (args.programmatic): nothing
  // above touched memory; from here on the kernel before has completed.
  griddep_wait();
  const bool early = early_first_tile<T>(a);
  if (early && tid == init_tid) issue_first_tile<T>(a, &tm_q, &tm_k, &tm_v, bar, sq, sk, sv);
  trace_block_point(1);
  const uint32_t list = sq + T::kListOffset;
  list_block_tiles<T>(a, smem + (sk - smem_u32(smem)), list, tid);
  __syncthreads();  // every thread sees initialized barriers (a hang otherwise, HOPPER.md 2.8) and the tile list
  trace_block_point(8);

  if (wg == 0) {  // ---- producer
    setmaxnreg_dec<T::kProducerRegs>();
    if (!split_issue<T>(a)) {
      if (tid == 0) produce<T>(a, &tm_q, &tm_k, &tm_v, bar, sq, sk, sv, list, early);
    } else {
      const int issuer = __shfl_sync(0xffffffffu, tid / 32, 0);  // warp-uniform to the compiler
      produce_split<T>(a, &tm_q, issuer < 2 ? &tm_k : &tm_v, bar, sq, issuer < 2 ? sk : sv, list, issuer);
    }
    return;
  }

  if constexpr (T::kRowBlocks == 2)
    consume_row_pairs<T>(a, tm_o, bar, sq, sk, sv, list, tid, wg);  // ---- consumers
  else
    consume<T>(a, tm_o, bar, sq, sk, sv, list, tid, wg);
#endif  // __CUDA_ARCH__ >= 900
}

// ------------------------------------------------------------ host side

// Launch one specialization: encode the Q, K, V maps (host only, no sync,
// no allocation), then the kernel. Returns a cudaError_t.
template <class T>
int launch_fwd_wgmma(const fa_fwd_args *args, cudaStream_t stream) {
  const int s = pack_shift<T>(*args);
  const long long m_blocks = (((long long)args->seqlen_q << s) + T::kBlockM - 1) / T::kBlockM;
  const long long tiles = m_blocks * (s > 0 ? args->num_heads_k : args->num_heads_q) * args->batch;  // <= INT32_MAX, checked by supports()
  if (tiles == 0) return cudaSuccess;
  // Persistent: one block per SM (the shared memory allows no more; more
  // blocks only where a block's tile list would overflow), each looping over
  // its tiles (heaviest rows first, snake rounds: attn/tile_order.h);
  // otherwise one block per tile. The kernel reads which from gridDim.
  const uint32_t blocks = fa_tile_grid((uint32_t)tiles, T::kPersistent, args->sm_count, T::kListMax);
  // Dense calls: the walk's tail chosen here, as list_block_tiles would on
  // this grid (the same rule), so that no block spends ~1,000-3,000 cycles
  // choosing it before its first load (fwd_wgmma.md "The preamble").
  fa_fwd_args launch_args = *args;
  launch_args.walk_tail.known = 0;
  if (T::kPersistent && args->cu_seqlens_q == nullptr) {
    fa_tile_order order = dense_order<T>(*args);
    order.tile_kv_bytes = order_tile_kv_bytes<T>(*args);
    fa_tile_order_tail(&order, blocks);
    launch_args.walk_tail = fa_tile_tail_of(&order);
  }
  if (args->tensor_map_encode == nullptr) return cudaErrorNotSupported;  // supports() declines first
  const auto encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(args->tensor_map_encode);
  const CUtensorMapDataType type = TmaElemType<typename T::Elem>::value;
  const bool dense_q = args->cu_seqlens_q == nullptr;
  const int64_t q_rows = dense_q ? args->seqlen_q : args->total_q, q_batches = dense_q ? args->batch : 1;
  int64_t k_rows, k_batches;
  kv_map_extents(args, &k_rows, &k_batches);  // paged: {page_size, num_pages}; boxes stay inside a page
  const int k_box_rows = kv_box_rows<T>(args->block_table != nullptr, args->page_size);
  alignas(64) CUtensorMap tm_q, tm_k, tm_v, tm_o = {};
  // Q and O through heads maps (q_coords): a box of G heads (1 unpacked)
  // x kBlockM / G rows (Q) or 16 / G rows (O: a warp's rows).
  if (encode_heads_map(&tm_q, encode, type, args->q, T::kHeadDim, q_rows, args->num_heads_q, q_batches,
                       args->q_row_stride, args->q_head_stride, args->q_batch_stride, 1 << s, T::kBlockM >> s,
                       T::kPanelCols) != CUDA_SUCCESS ||
      (T::kTmaStore &&
       encode_heads_map(&tm_o, encode, type, args->out, T::kHeadDim, q_rows, args->num_heads_q, q_batches,
                        args->out_row_stride, args->out_head_stride, args->out_batch_stride, 1 << s, 16 >> s,
                        64) != CUDA_SUCCESS) ||
      encode_rows_map(&tm_k, encode, type, args->k, T::kHeadDim, k_rows, args->num_heads_k, k_batches,
                      args->k_row_stride, args->k_head_stride, args->k_batch_stride, k_box_rows, T::kPanelCols) != CUDA_SUCCESS ||
      encode_rows_map(&tm_v, encode, type, args->v, T::kHeadDim, k_rows, args->num_heads_k, k_batches,
                      args->v_row_stride, args->v_head_stride, args->v_batch_stride, k_box_rows, T::kPanelCols) != CUDA_SUCCESS)
    return cudaErrorInvalidValue;
  const void *kernel = reinterpret_cast<const void *>(fwd_wgmma_kernel<T>);
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes);
  if (e != cudaSuccess) return e;
  // The split's counters (merge_split_tile) start at zero: a memset node,
  // not state kept between calls.
  if (args->split_last_round) {
    const cudaError_t z = cudaMemsetAsync(args->workspace, 0, fa_split_counter_bytes(args->sm_count), stream);
    if (z != cudaSuccess) return z;
  }
  // Programmatic only after a kernel: behind the memset node a graph edge
  // cannot be programmatic (only kernel nodes have such ports), and there
  // is no kernel tail to overlap.
  void *params[] = {&launch_args, &tm_q, &tm_k, &tm_v, &tm_o};
  return launch_kernel(kernel, dim3((unsigned)blocks), dim3(T::kThreads), T::kSmemBytes, stream, params,
                       args->programmatic != 0 && !args->split_last_round);
}

}  // namespace fa
