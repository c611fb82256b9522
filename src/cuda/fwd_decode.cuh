// fwd_decode.cuh - forward attention over a KV cache for decoding (family
// decode): few query rows per sequence, many keys, contiguous or paged K/V
// of any page size, GQA packing, split-KV. mma.sync m16n8k16, sm_80 and
// later. Design note: fwd_decode.md beside this file.
//
// One thread block computes, for one (sequence, KV head, split, row tile),
// the 16 "packed" query rows (query row i, group member g) -> row i * G + g,
// G = num_heads_q / num_heads_k: the query heads that share the KV head, so
// each K/V byte is read once for all of them. Its 4 warps stream the
// split's key tiles (16 keys each) in turn, each through its own cp.async
// ring of STAGES tiles (no block barrier in the main loop), and each keeps
// its own online-softmax state and O accumulator:
//   load Q tile (16 packed rows), Q fragments -> registers (every warp)
//   per warp, for its tiles t = w, w + 4, ...:
//     issue K/V(t + STAGES - 1) (per-row page lookup, or one per tile when
//       page_size is a multiple of 16; sm_90: TMA boxes from lane 0 where
//       head_dim % 64 == 0, their page entries read 32 issues ahead, one per
//       lane; else one bulk copy per row; both complete on the slot's
//       mbarrier; sm_80: cp.async);
//     wait K/V(t)
//     S = Q K^T (16 x 16), softcap, mask (boundary tiles only), online
//       softmax, O += P V                        (cuda/common/mma_tile.cuh)
//   merge the 4 warps' (max, sum, O) through shared memory
//   one split: sinks, normalize, write O and LSE (attn/softmax.h's policy)
//   several: write the normalized partial O and its LSE (fp32) to the
//     workspace, by (sequence, query row) (fwd_decode_plan.h); combine.cu
//     merges them (sinks join there, once), on sm_90 launched as this
//     grid's programmatic dependent.
//
// The code is in parts under decode/; this file includes them in the
// order below (each part also includes the parts it uses), then defines
// the warps' merge, the kernel and its launch:
//   traits.cuh      DecodeTraits: rows, key step, stages, shared memory
//   loads.cuh       a warp's loads of a key step into its ring slot, the
//                   products on swizzled tiles, the Q rows
//   tile_steps.cuh  the boundary mask of packed rows; the keys-as-M step
//   ring.cuh        a warp's ring (KvRing) and the loops over its steps
//   pieces.cuh      which piece a block computes: splits by length, the
//                   plans and tickets (DecodePlan)
#pragma once

#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "attn/mask.h"
#include "attn/sequence.h"
#include "attn/softmax.h"
#include "cuda/combine.h"
#include "cuda/common/launch.cuh"
#include "cuda/common/mma_tile.cuh"
#include "cuda/common/tensor_map.cuh"
#include "cuda/decode_trace.cuh"
#include "cuda/fwd_decode_plan.h"
#include "cuda/ptx.cuh"
#include "fa_args.h"

// in dependency order (not sorted)
#include "cuda/decode/traits.cuh"
#include "cuda/decode/loads.cuh"
#include "cuda/decode/tile_steps.cuh"
#include "cuda/decode/ring.cuh"
#include "cuda/decode/pieces.cuh"

namespace fa {

// ------------------------------------------------------------ the kernel

// A warp's O (unscaled), max and sum into the merge arrays ([warp][row]):
// the rows layout (rows lane / 4 and + 8; row_sum partial over the quad).
template <class T>
__device__ __forceinline__ void merge_rows(float *merge_o, float *merge_max, float *merge_sum, int warp, int lane,
                                           const float (&o)[1][T::kOTiles][4], const float (&row_max)[1][2],
                                           const float (&row_sum)[1][2]) {
  const float sum_a = quad_sum(row_sum[0][0]), sum_b = quad_sum(row_sum[0][1]);
  const int ra = lane >> 2, rb = ra + 8;
  if ((lane & 3) == 0) {
    merge_max[warp * T::kRows + ra] = row_max[0][0], merge_sum[warp * T::kRows + ra] = sum_a;
    merge_max[warp * T::kRows + rb] = row_max[0][1], merge_sum[warp * T::kRows + rb] = sum_b;
  }
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float *dst = merge_o + (warp * T::kRows + ra + half * 8) * T::kMergeRowFloats + (lane & 3) * 2;
#pragma unroll
    for (int dt = 0; dt < T::kOTiles; ++dt)
      *reinterpret_cast<float2 *>(dst + dt * 8) = make_float2(o[0][dt][2 * half], o[0][dt][2 * half + 1]);
  }
}

// The same from the keys-as-M layout (rows 2t, 2t + 1; row_sum partial over
// the 8 lanes of equal t). Rows 8-15 stay unwritten: the epilogue stops at
// the block's rows, at most kKeysAsMRows. For a store, the 8 g of 4 rows
// 264 floats apart (kMergeRowFloats 132 at d128) hit 32 banks.
template <class T>
__device__ __forceinline__ void merge_keys_as_m(float *merge_o, float *merge_max, float *merge_sum, int warp, int lane,
                                                const float (&ot)[T::kOTiles / 2][4], const float (&row_max)[2],
                                                const float (&row_sum)[2]) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    float sum = row_sum[j];
#pragma unroll
    for (int x = 4; x < 32; x <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, x);
    const int r = 2 * t + j;
    if (g == 0) merge_max[warp * T::kRows + r] = row_max[j], merge_sum[warp * T::kRows + r] = sum;
    float *dst = merge_o + (warp * T::kRows + r) * T::kMergeRowFloats + g;
#pragma unroll
    for (int m = 0; m < T::kOTiles / 2; ++m) dst[16 * m] = ot[m][j], dst[16 * m + 8] = ot[m][2 + j];
  }
}

// SOFTCAP: a compile-time variant, as in fwd_mma.cuh. PLAN: none, or
// splits by length (fa_fwd_args.split_slots > 0) and which plan finds the
// block's piece; only those instantiations carry a plan's code and the
// partial layout by piece. tile_copies (set by the host where
// load_kv_tile_tma applies; ignored below sm_90): K/V by TMA boxes through
// tm_k and tm_v. KEYS_AS_M: the host's promise (launch_fwd_decode) that
// tile copies apply and every block's rows fit the keys-as-M step: the
// kernel then holds that loop alone ("One loop a kernel" in
// fwd_decode.md).
template <class T, bool SOFTCAP, DecodePlan PLAN, bool KEYS_AS_M = false>
__global__ void __launch_bounds__(T::kThreads)
    fwd_decode_kernel(const __grid_constant__ fa_fwd_args a, int m_tiles, const __grid_constant__ CUtensorMap tm_k,
                      const __grid_constant__ CUtensorMap tm_v, int tile_copies) {
  using Elem = typename T::Elem;
  extern __shared__ __align__(16) unsigned char smem[];
  const DecodeTracer tr;  // empty unless FA_DECODE_TRACE_BLOCKS (decode_trace.cuh)
  // The warp index through a shuffle: the compiler then knows it (and the
  // ring addresses and keys derived from it) to be warp-uniform.
  const int lane = threadIdx.x & 31, warp = __shfl_sync(0xffffffffu, (int)(threadIdx.x >> 5), 0);
  const uint32_t sq = smem_u32(smem);
  const uint32_t bars = sq + T::kQBytes + T::kRingOrMergeBytes + warp * T::kStages * 8;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (lane == 0) {
    for (int st = 0; st < T::kStages; ++st) mbar_init(bars + st * 8, 1);
    fence_mbar_init();
  }
  __syncwarp();
  const bool tiles = T::kTileCopies && tile_copies != 0;
  // Launched as a programmatic dependent (args.programmatic): nothing
  // above touched memory; from here on the kernel before has completed.
  griddep_wait();
#else
  const bool tiles = false;
#endif

  // Block -> (sequence, KV head, row tile, split); splits innermost. By
  // length, each sequence its own split count (find_piece_by_length), and
  // each unit's split 0 records where its parts are for the combine.
  DecodePiece pc;
  fa_seq seq;
  constexpr bool kByLength = PLAN != DecodePlan::kNone;
  if constexpr (PLAN == DecodePlan::kTickets) {
    if (!read_ticket(a, m_tiles, pc, seq)) {  // the tickets kernel wrote the units table too
      tr.mark(kDtExit);
      return;
    }
  } else if constexpr (kByLength) {
    static_assert(kPlanTableBytes <= T::kRingOrMergeBytes, "the plan's tables fit the ring");
    bool found;
    if constexpr (PLAN == DecodePlan::kInWarp)
      found = find_piece_in_warp<T>(a, m_tiles, pc, seq);
    else
      found = find_piece_by_length<T, decode_plan_rounds(PLAN)>(a, m_tiles, smem + T::kQBytes, pc, seq);
    if (!found) {
      tr.mark(kDtExit);
      return;
    }
    if (pc.split == 0 && threadIdx.x == 0) write_unit_entry(a, m_tiles, pc);
  } else {
    int64_t idx = blockIdx.x;
    pc.splits = a.splits;
    pc.slot0 = 0;
    pc.split = (int)(idx % pc.splits);
    idx /= pc.splits;
    pc.mt = (int)(idx % m_tiles);
    idx /= m_tiles;
    pc.kv_head = (int)(idx % a.num_heads_k);
    pc.b = (int)(idx / a.num_heads_k);
    seq = fa_locate_sequence(&a, pc.b);
  }
  const int b = pc.b, kv_head = pc.kv_head, mt = pc.mt, split = pc.split, splits = pc.splits;
  tr.piece(b, kv_head, mt, split, splits);
  const int g_count = a.heads_per_kv;
  // KEYS_AS_M: one row tile (r0 = 0) of at most kKeysAsMRows rows; a
  // sequence longer than the call's max_seqlen_q computes no row past it.
  const int rows_total = KEYS_AS_M ? min(seq.len_q * g_count, kKeysAsMRows) : seq.len_q * g_count;
  const int r0 = mt * T::kRows;
  if (r0 >= rows_total || !fa_seq_selected(&a, &seq)) {
    tr.mark(kDtExit);
    return;
  }
  const int64_t diag = (int64_t)seq.len_k - seq.len_q;

  // Keys the block's rows see: their union (visited) and intersection
  // (tiles inside it need no mask); then this split's share of the tiles.
  const int qi_first = r0 / g_count, qi_last = (min(r0 + T::kRows, rows_total) - 1) / g_count;
  const fa_key_range first = fa_visible_keys(qi_first + diag, a.window_left, a.window_right, seq.len_k);
  const fa_key_range last = fa_visible_keys(qi_last + diag, a.window_left, a.window_right, seq.len_k);
  const fa_tile_plan plan = {first.lo / T::kStepKeys,
                             last.hi > first.lo ? (last.hi + T::kStepKeys - 1) / T::kStepKeys : first.lo / T::kStepKeys,
                             last.lo, first.hi};
  const int n_tiles = plan.n_block_max - plan.n_block_min;
  const int per_split = (n_tiles + splits - 1) / splits;
  const int t_begin = plan.n_block_min + min(split * per_split, n_tiles);
  const int t_end = plan.n_block_min + min((split + 1) * per_split, n_tiles);
  const int my_steps = t_end - t_begin > warp ? (t_end - t_begin - warp + T::kWarps - 1) / T::kWarps : 0;

  // ---- the main loop, then the warps' merge: each warp's O (unscaled),
  // max and sum per row through shared memory, weighed by exp2(max - block
  // max) in the epilogue. Where the shared memory holds the merge apart
  // from the ring, each warp writes at its own loop end (no barrier before
  // it: the slowest warp's write is all that follows the last loop end);
  // otherwise after every warp is done with its ring. Split launches: the
  // combine, launched as this grid's programmatic dependent, may start once
  // every block is past its main loop (it waits for this grid's writes
  // before reading them).
  constexpr bool kMergeApart = T::kLayoutBytes + T::kMergeBytes <= T::kSmemBytes;
  float *merge_o = reinterpret_cast<float *>(smem + (kMergeApart ? T::kLayoutBytes : T::kQBytes));  // [warp][row][kMergeRowFloats]
  float *merge_max = merge_o + T::kWarps * T::kRows * T::kMergeRowFloats;  // [warp][row]
  float *merge_sum = merge_max + T::kWarps * T::kRows;
  bool merged = false;
  static_assert(!KEYS_AS_M || T::kTileCopies, "keys as M reads tile copies");
  if constexpr (T::kTileCopies) {
    if (KEYS_AS_M || (tiles && rows_total - r0 <= kKeysAsMRows)) {  // block-uniform
      const uint32_t ring = ((sq + T::kQBytes + 1023) & ~1023u) + warp * T::kTileWarpRingBytes;
      const KvRing<T, true> kv = {ring, bars, &tm_k, &tm_v};
      float ot[T::kOTiles / 2][4];
#pragma unroll
      for (int m = 0; m < T::kOTiles / 2; ++m)
#pragma unroll
        for (int e = 0; e < 4; ++e) ot[m][e] = 0.f;
      float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
      attend_keys_as_m<T, SOFTCAP>(kv, a, b, seq, kv_head, r0, rows_total, plan, diag, t_begin, my_steps, sq, warp, lane,
                                   ot, row_max, row_sum, tr);
      if (a.splits > 1) griddep_launch_dependents();
      if constexpr (!kMergeApart) __syncthreads();  // every warp is done with its ring
      merge_keys_as_m<T>(merge_o, merge_max, merge_sum, warp, lane, ot, row_max, row_sum);
      merged = true;
    }
  }
  if (!KEYS_AS_M && !merged) {
    float o[1][T::kOTiles][4];
    float row_max[1][2] = {{-INFINITY, -INFINITY}}, row_sum[1][2] = {{0.f, 0.f}};
#pragma unroll
    for (int dt = 0; dt < T::kOTiles; ++dt)
#pragma unroll
      for (int j = 0; j < 4; ++j) o[0][dt][j] = 0.f;
    if (T::kTileCopies && tiles) {
      const uint32_t ring = ((sq + T::kQBytes + 1023) & ~1023u) + warp * T::kTileWarpRingBytes;
      const KvRing<T, true> kv = {ring, bars, &tm_k, &tm_v};
      attend_rows<T, SOFTCAP, true>(kv, a, b, seq, kv_head, r0, rows_total, plan, diag, t_begin, my_steps, sq, warp, lane,
                                    o, row_max, row_sum, tr);
    } else {
      const KvRing<T, false> kv = {sq + T::kQBytes + warp * T::kWarpRingBytes, bars, nullptr, nullptr};
      attend_rows<T, SOFTCAP, false>(kv, a, b, seq, kv_head, r0, rows_total, plan, diag, t_begin, my_steps, sq, warp,
                                     lane, o, row_max, row_sum, tr);
    }
    if (a.splits > 1) griddep_launch_dependents();
    if constexpr (!kMergeApart) __syncthreads();  // every warp is done with its ring
    merge_rows<T>(merge_o, merge_max, merge_sum, warp, lane, o, row_max, row_sum);
  }
  __syncthreads();
  tr.mark(kDtMerged);

  // ---- epilogue: 4 consecutive head-dim elements per thread and pass.
  const float sink_scale = kLog2e;
  const fa_decode_workspace ws = fa_decode_workspace_layout(&a, a.splits);
  const fa_decode_pieces wp = kByLength ? fa_decode_pieces_layout(&a, 0) : fa_decode_pieces{};
  constexpr int kQuads = T::kRows * T::kHeadDimPadded / 4;
  for (int e = threadIdx.x; e < kQuads; e += T::kThreads) {
    const int r = e / (T::kHeadDimPadded / 4), col = (e % (T::kHeadDimPadded / 4)) * 4;
    const int pr = r0 + r;
    if (pr >= rows_total || col >= T::kHeadDim) continue;
    float m = -INFINITY;
#pragma unroll
    for (int w = 0; w < T::kWarps; ++w) m = fmaxf(m, merge_max[w * T::kRows + r]);
    const float m_use = m == -INFINITY ? 0.f : m;
    float sum = 0.f, acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
    for (int w = 0; w < T::kWarps; ++w) {
      const float f = fa_exp2(merge_max[w * T::kRows + r] - m_use);
      sum += merge_sum[w * T::kRows + r] * f;
      // Rounded products, then the adds (no FMA contraction): the same bits
      // as scaling each warp's O before the sum.
      const float4 v = *reinterpret_cast<const float4 *>(merge_o + (w * T::kRows + r) * T::kMergeRowFloats + col);
      acc[0] += __fmul_rn(v.x, f), acc[1] += __fmul_rn(v.y, f), acc[2] += __fmul_rn(v.z, f),
          acc[3] += __fmul_rn(v.w, f);
    }
    const int qi = pr / g_count, head = kv_head * g_count + pr % g_count;
    if (splits == 1) {
      const float sink = a.sinks != nullptr ? a.sinks[head] * sink_scale : -INFINITY;
      const fa_row_total total = fa_row_with_sink(m, sum, sink);
      const float scale = fa_row_out_scale(total);
      Elem *out = static_cast<Elem *>(a.out) + b * a.out_batch_stride + (seq.q_start + qi) * a.out_row_stride +
                  head * a.out_head_stride + col;
      uint2 bits;
      bits.x = pack2<Elem>(acc[0] * scale, acc[1] * scale);
      bits.y = pack2<Elem>(acc[2] * scale, acc[3] * scale);
      *reinterpret_cast<uint2 *>(out) = bits;
      if (a.lse != nullptr && col == 0)
        a.lse[b * a.lse_batch_stride + head * a.lse_head_stride + seq.q_start + qi] = fa_row_lse(total);
    } else {
      // A normalized partial and its LSE (no sink: the combine adds it once).
      const fa_row_total total = fa_row_with_sink(m, sum, -INFINITY);
      const float scale = fa_row_out_scale(total);
      char *base = static_cast<char *>(a.workspace);
      float *o_part, *lse_part;
      if constexpr (kByLength) {  // slot slot0 + split, the unit's packed row r
        if (r >= wp.piece_rows || qi >= fa_decode_seq_rows(&a)) continue;
        const int64_t at = (int64_t)(pc.slot0 + split) * wp.piece_rows + r;
        o_part = reinterpret_cast<float *>(base + wp.o_offset) + at * a.head_dim + col;
        lse_part = reinterpret_cast<float *>(base + wp.lse_offset) + at;
      } else {
        const int64_t row = fa_decode_part_row(&ws, &a, b, seq.q_start, qi);
        if (row < 0) continue;
        o_part = reinterpret_cast<float *>(base + ws.o_offset) + split * ws.o_part_stride + row * ws.o_row_stride +
                 head * ws.o_head_stride + col;
        lse_part = reinterpret_cast<float *>(base + ws.lse_offset) + split * ws.lse_part_stride +
                   head * ws.lse_head_stride + row;
      }
      *reinterpret_cast<float4 *>(o_part) = make_float4(acc[0] * scale, acc[1] * scale, acc[2] * scale, acc[3] * scale);
      if (col == 0) *lse_part = fa_row_lse(total);
    }
  }
  tr.mark(kDtExit);
}

// Host side: whether the sm_90 tile copies apply (load_kv_tile_tma), and
// their K and V maps: head dims that are multiples of 64, a contiguous
// cache or pages holding whole 16-key tiles, rows and pages addressable by
// TMA's 32-bit coordinates, and the driver's encoder (sm_90 and later). The
// maps are {head_dim, rows, heads, outer}: outer is the page (paged: rows
// = page_size), the sequence (dense: rows = kv_capacity) or one (varlen:
// rows = total_k). Returns 0 (the row copies) where any of it fails; an
// sm_80 build of the kernel ignores the flag.
// L2 fetch size of the K/V maps' misses: 128 bytes, one panel row. At 256
// (the prefill maps' setting) the SMs read 1.25x the K/V bytes from L2 and
// DRAM ran at 84% of peak against cuDNN's 94%; 128 or none: +3.5-8.4% on
// every contiguous and paged tile-copy row (fwd_decode.md, 2026-11-30).
constexpr CUtensorMapL2promotion kDecodeL2Promotion = CU_TENSOR_MAP_L2_PROMOTION_L2_128B;

template <class T>
int encode_decode_tile_maps(const fa_fwd_args *a, CUtensorMap *tm_k, CUtensorMap *tm_v) {
  if (!T::kTileCopies || a->tensor_map_encode == nullptr) return 0;
  if (a->block_table != nullptr && a->page_size % T::kStepKeys != 0) return 0;
  int64_t rows, outer;
  kv_map_extents(a, &rows, &outer);
  if (rows <= 0 || rows > INT32_MAX || outer > INT32_MAX) return 0;
  const auto encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(a->tensor_map_encode);
  const CUtensorMapDataType type = TmaElemType<typename T::Elem>::value;
  if (encode_rows_map(tm_k, encode, type, a->k, T::kHeadDim, rows, a->num_heads_k, outer, a->k_row_stride,
                      a->k_head_stride, a->k_batch_stride, T::kStepKeys, 64, kDecodeL2Promotion) != CUDA_SUCCESS ||
      encode_rows_map(tm_v, encode, type, a->v, T::kHeadDim, rows, a->num_heads_k, outer, a->v_row_stride,
                      a->v_head_stride, a->v_batch_stride, T::kStepKeys, 64, kDecodeL2Promotion) != CUDA_SUCCESS)
    return 0;
  return 1;
}

// The plan kernels run T's ring; the kernel without a plan runs TNone's (its
// own depth in the same shared memory: gen/spec.py `stages_plan_none`).
template <class T, class TNone, bool SOFTCAP, bool KEYS_AS_M>
const void *decode_kernel_for(DecodePlan plan) {
  switch (plan) {
    case DecodePlan::kInWarp:
      return reinterpret_cast<const void *>(fwd_decode_kernel<T, SOFTCAP, DecodePlan::kInWarp, KEYS_AS_M>);
    case DecodePlan::kInBlock1:
      return reinterpret_cast<const void *>(fwd_decode_kernel<T, SOFTCAP, DecodePlan::kInBlock1, KEYS_AS_M>);
    case DecodePlan::kInBlock2:
      return reinterpret_cast<const void *>(fwd_decode_kernel<T, SOFTCAP, DecodePlan::kInBlock2, KEYS_AS_M>);
    case DecodePlan::kInBlock4:
      return reinterpret_cast<const void *>(fwd_decode_kernel<T, SOFTCAP, DecodePlan::kInBlock4, KEYS_AS_M>);
    case DecodePlan::kTickets:
      return reinterpret_cast<const void *>(fwd_decode_kernel<T, SOFTCAP, DecodePlan::kTickets, KEYS_AS_M>);
    default: return reinterpret_cast<const void *>(fwd_decode_kernel<TNone, SOFTCAP, DecodePlan::kNone, KEYS_AS_M>);
  }
}

// The kernel of a launch: its plan, softcap, and on sm_90 with tile copies
// whether every block's rows fit the keys-as-M step (keys_as_m: a kernel
// with that loop alone, less than half the code, whose first blocks wait
// less on instruction fetch).
template <class T, class TNone>
const void *decode_kernel_of(DecodePlan plan, bool softcap, bool keys_as_m) {
  if constexpr (T::kTileCopies && T::kArch >= 90) {
    if (keys_as_m)
      return softcap ? decode_kernel_for<T, TNone, true, true>(plan) : decode_kernel_for<T, TNone, false, true>(plan);
  }
  return softcap ? decode_kernel_for<T, TNone, true, false>(plan) : decode_kernel_for<T, TNone, false, false>(plan);
}

// Host side: the decode kernel, then (several splits) the combine. Returns a
// cudaError_t. The split count (a->splits) and the workspace come planned
// and checked by the family (fwd_decode_family.c).
template <class T, class TNone>
int launch_fwd_decode(const fa_fwd_args *args, cudaStream_t stream) {
  static_assert(TNone::kSmemBytes == T::kSmemBytes && TNone::kThreads == T::kThreads &&
                    TNone::kHeadDim == T::kHeadDim && TNone::kStepKeys == T::kStepKeys && TNone::kArch == T::kArch,
                "the plan-none kernel differs from the others only in its ring's depth");
  const long long m_tiles = fa_decode_row_tiles(args);
  const long long units = m_tiles * args->num_heads_k * args->batch;
  // <= INT32_MAX: supports(); by length, room for the most pieces (fwd_decode_plan.h)
  const long long blocks = args->split_slots > 0 ? units + args->split_slots : units * args->splits;
  if (units == 0) return cudaSuccess;
  // Splits by length in kernels of their own (DecodePlan), so the launches
  // that do not use them run the code (and registers) they had before the
  // plan existed.
  const DecodePlan plan = decode_plan_of<T>(args->split_slots, args->batch, units);
  alignas(64) CUtensorMap tm_k, tm_v;
  int tile_copies = encode_decode_tile_maps<T>(args, &tm_k, &tm_v);
  // Every block keys as M: tile copies, and a sequence's rows (Q x heads
  // per KV head, m_tiles then 1) fit the step's N.
  const bool keys_as_m = tile_copies != 0 && fa_decode_seq_rows(args) * args->heads_per_kv <= kKeysAsMRows;
  const void *kernel = decode_kernel_of<T, TNone>(plan, args->softcap > 0.f, keys_as_m);
  // A plan capped below the blocks an SM that T's shared memory allows asks
  // for more (fa_fwd_args.split_block_smem), so that the launch holds them.
  const int smem = plan != DecodePlan::kNone && args->split_block_smem > T::kSmemBytes ? args->split_block_smem
                                                                                      : T::kSmemBytes;
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (e != cudaSuccess) return e;
  }
  int m_tiles_arg = (int)m_tiles;
  if (plan == DecodePlan::kTickets) {
    const cudaError_t e = launch_decode_tickets<T>(args, m_tiles_arg, blocks, stream);
    if (e != cudaSuccess) return e;
  }
  void *params[] = {const_cast<fa_fwd_args *>(args), &m_tiles_arg, &tm_k, &tm_v, &tile_copies};
  cudaError_t e = launch_kernel(kernel, dim3((unsigned)blocks), dim3(T::kThreads), smem, stream, params,
                                T::kArch >= 90 && args->programmatic != 0);
  if (e != cudaSuccess || args->splits == 1) return e;
  fa_combine_job job = {};
  const fa_decode_workspace ws = fa_decode_workspace_layout(args, args->splits);
  job.o_parts = reinterpret_cast<const float *>(static_cast<const char *>(args->workspace) + ws.o_offset);
  job.o_part_stride = ws.o_part_stride, job.o_row_stride = ws.o_row_stride, job.o_head_stride = ws.o_head_stride;
  job.lse_parts = reinterpret_cast<const float *>(static_cast<const char *>(args->workspace) + ws.lse_offset);
  job.lse_part_stride = ws.lse_part_stride, job.lse_part_head_stride = ws.lse_head_stride;
  job.num_parts = args->splits, job.num_heads = args->num_heads_q, job.head_dim = args->head_dim;
  job.sinks = args->sinks;
  job.out = args->out;
  job.out_dtype = dtype_of(static_cast<const typename T::Elem *>(nullptr));
  job.out_batch_stride = args->out_batch_stride, job.out_row_stride = args->out_row_stride;
  job.out_head_stride = args->out_head_stride;
  job.lse = args->lse, job.lse_batch_stride = args->lse_batch_stride, job.lse_head_stride = args->lse_head_stride;
  job.batch = args->batch;
  job.rows_per_batch = fa_decode_seq_rows(args);
  job.cu_seqlens_q = args->cu_seqlens_q, job.total_q = args->total_q;
  job.seq_part_rows = ws.seq_rows;
  job.skip_long = args->seq_filter == FA_SEQ_SHORT; /* the partner writes the long ones */
  job.by_columns = 1;  /* a small job, splits parts a row (combine.cu); by piece: below */
  if (args->split_slots > 0) {  // by length: the parts by piece (fwd_decode_plan.h), found through the units table
    const fa_decode_pieces wp = fa_decode_pieces_layout(args, units);
    const char *base = static_cast<const char *>(args->workspace);
    job.o_parts = reinterpret_cast<const float *>(base + wp.o_offset);
    job.lse_parts = reinterpret_cast<const float *>(base + wp.lse_offset);
    job.piece_units = reinterpret_cast<const int32_t *>(base + wp.units_offset);
    job.piece_rows = (int32_t)wp.piece_rows, job.heads_per_kv = args->heads_per_kv, job.unit_row_tiles = (int32_t)m_tiles;
    job.seq_part_rows = 0;
    // By columns where the warp's plan's batch leaves few rows, the long
    // caches in many parts; by rows beyond, where most rows have one part
    // and are skipped (combine.cu's top). A pair's short launch keeps rows
    // too: its rows_per_batch is the pair's bound (64 / heads_per_kv), so
    // most of its items are rows the sequence lacks (4 decode + 1 chunk of
    // 512: 1.2-2.0% more time by columns, H100).
    job.by_columns = args->batch <= FA_DECODE_WARP_PLAN_MAX_BATCH && args->seq_filter != FA_SEQ_SHORT;
  }
  return T::kArch >= 90 ? fa_cuda_combine_dependent(&job, (fa_stream_t)stream)
                        : fa_cuda_combine(&job, (fa_stream_t)stream);
}

}  // namespace fa
