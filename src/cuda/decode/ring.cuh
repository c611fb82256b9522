// decode/ring.cuh - a warp's stream of key steps through its own ring
// (KvRing: cp.async groups, or mbarriers with tile copies), and the two
// loops that consume it: packed rows as M (attend_rows) or keys as M
// (attend_keys_as_m). A part of fwd_decode.cuh.
#pragma once

#include <math.h>
#include <stdint.h>

#include "attn/mask.h"
#include "attn/sequence.h"
#include "attn/softmax.h"
#include "cuda/common/mma_tile.cuh"
#include "cuda/decode/loads.cuh"
#include "cuda/decode/tile_steps.cuh"
#include "cuda/decode/traits.cuh"
#include "cuda/decode_trace.cuh"
#include "cuda/ptx.cuh"
#include "fa_args.h"

namespace fa {

// A warp's ring of STAGES K/V slots: step i lives in slot i % STAGES.
// issue() fills a slot; wait() returns once step i has landed and is visible
// to every lane. sm_90: bulk copies (TILES: TMA boxes, swizzled tiles) on
// per-slot mbarriers (phase = use count of the slot, mod 2); sm_80:
// cp.async groups (one per step, committed even when empty so that every
// thread counts the same groups).
template <class T, bool TILES>
struct KvRing {
  uint32_t ring, bars;
  const CUtensorMap *tm_k, *tm_v;  // TILES only
  static constexpr int kKBytes = TILES ? T::kTileBytes : T::kStepBytes;
  __device__ __forceinline__ uint32_t slot(int i) const { return ring + (i % T::kStages) * 2 * kKBytes; }
  __device__ __forceinline__ uint32_t v_slot(int i) const { return slot(i) + kKBytes; }
  // known: the caller has the tile's coordinates, at (TILES; else they are found here).
  __device__ __forceinline__ void issue(int i, bool load, const fa_fwd_args &a, int b, const fa_seq &seq, int kv_head,
                                        int n0, int lane, bool known = false, fa_kv_coords at = {0, 0}) const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (load) {
      if constexpr (TILES)
        load_kv_tile_tma<T>(slot(i), v_slot(i), bars + (i % T::kStages) * 8, a, tm_k, tm_v, b, seq, kv_head, n0, lane,
                            known, at);
      else
        load_kv_step_bulk<T>(slot(i), v_slot(i), bars + (i % T::kStages) * 8, a, b, seq, kv_head, n0, lane);
    }
#else
    if (load) load_kv_step<T>(slot(i), v_slot(i), a, b, seq, kv_head, n0, lane);
    cp_async_commit();
#endif
  }
  // valid: keys of the step inside the sequence (TILES: V rows past them are zeroed).
  __device__ __forceinline__ void wait(int i, int valid, int lane) const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    mbar_wait(bars + (i % T::kStages) * 8, (uint32_t)(i / T::kStages) & 1u);
    if constexpr (TILES)
      if (valid < T::kStepKeys) {
        __syncwarp();
        zero_v_tail<T>(v_slot(i), valid, lane);
      }
#else
    cp_async_wait<T::kStages - 1>();
#endif
    __syncwarp();
  }
};

// One warp's share of the split's key tiles (step i: tile t_begin + warp +
// 4 i), after loading the block's Q (rows r0 .. rows_total - 1): the ring's
// copies and waits; q_frags() once Q has landed, step(slot_k, slot_v, n0)
// on each tile (attend_rows, attend_keys_as_m).
template <class T, bool TILES, class QFrags, class Step>
__device__ __forceinline__ void stream_keys(const KvRing<T, TILES> &kv, const fa_fwd_args &a, int b, const fa_seq &seq,
                                            int kv_head, int r0, int rows_total, int t_begin, int my_steps, int warp,
                                            int lane, uint32_t sq, const DecodeTracer &tr, QFrags &&q_frags,
                                            Step &&step) {
  // Paged tile copies: lane j holds the table entry (and row in the page)
  // of this warp's issue 32 k + j, read a batch of 32 issues ahead, so that
  // no issue waits for a table read; the issuing lane takes its entry with
  // a shuffle. next_coords is called once per issue, in order, by every lane.
  auto key_of = [&](int i) { return (t_begin + warp + i * T::kWarps) * T::kStepKeys; };
  const bool paged_tiles = TILES && a.block_table != nullptr;
  const int32_t *table_row = paged_tiles ? a.block_table + (int64_t)b * a.block_table_stride : nullptr;
  auto read_entry = [&](int i, int &page, int &row) {
    page = 0, row = 0;
    if (paged_tiles && i < my_steps) {
      const int n0 = key_of(i), col = n0 / a.page_size;
      page = table_row[col], row = n0 - col * a.page_size;
    }
  };
  int page_now, row_now, page_next, row_next;
  read_entry(lane, page_now, row_now);
  read_entry(32 + lane, page_next, row_next);
  auto next_coords = [&](int i) {
    const int page = __shfl_sync(0xffffffffu, page_now, i & 31), row = __shfl_sync(0xffffffffu, row_now, i & 31);
    if ((i & 31) == 31) {
      page_now = page_next, row_now = row_next;
      read_entry(i + 33 + lane, page_next, row_next);
    }
    return fa_kv_coords{fa_kv_page_in_pool(&a, page), row};
  };

  // Q for every warp, then each warp's first STAGES - 1 tiles. The tile
  // copies' slots may hold this warp's generic writes (a piece's merge,
  // zeroed rows), and lane 0 initialized the slots' barriers: one proxy
  // fence before the first copies (without it the copy engine may complete
  // bytes on a barrier it does not see initialized: HOPPER.md 2.8); in the
  // loop, one where the refilled slot's step zeroed its V tail.
  load_q_rows<T>(sq, a, b, seq, kv_head, r0, rows_total);
  cp_async_commit();
  if constexpr (TILES) fence_slot_writes();
#pragma unroll
  for (int i = 0; i < T::kStages - 1; ++i) {
    const fa_kv_coords at = paged_tiles ? next_coords(i) : fa_kv_coords{0, 0};
    kv.issue(i, i < my_steps, a, b, seq, kv_head, key_of(i), lane, paged_tiles, at);
  }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cp_async_wait<0>();  // the Q group is this thread's only cp.async group
#else
  cp_async_wait<T::kStages - 1>();
#endif
  __syncthreads();  // Q landed for everyone
  tr.mark(kDtQ);
  q_frags();

  unsigned wait_cycles = 0;  // the trace's (decode_trace.cuh); 0 and gone in the library
  for (int i = 0; i < my_steps; ++i) {
    // Refill the slot freed by step i - 1 with step i + STAGES - 1.
    const int ahead = i + T::kStages - 1;
    const fa_kv_coords at = paged_tiles ? next_coords(ahead) : fa_kv_coords{0, 0};
    if (TILES && i > 0 && seq.len_k - key_of(i - 1) < T::kStepKeys) fence_slot_writes();  // zero_v_tail's
    kv.issue(ahead, ahead < my_steps, a, b, seq, kv_head, key_of(ahead), lane, paged_tiles, at);
    const int n0 = key_of(i);
    const unsigned wait_start = tr.now();
    kv.wait(i, seq.len_k - n0, lane);
    if (i > 0) wait_cycles += tr.now() - wait_start;  // after the first tile's mark
    if (i == 0) tr.warp_mark(kDtFirstTile, warp, lane);
    step(kv.slot(i), kv.v_slot(i), n0);
    __syncwarp();  // every lane is done with the slot before it is refilled
  }
  cp_async_wait<0>();
  tr.warp_mark(kDtLoopEnd, warp, lane);
  tr.steps(warp, lane, my_steps);
  tr.waited(warp, lane, wait_cycles);
}

// The step with the block's 16 packed rows as M: S = Q K^T, mask, online
// softmax into o, row_max, row_sum (rows 8-15 skipped where none is real),
// O += P V.
template <class T, bool SOFTCAP, bool TILES>
__device__ __forceinline__ void attend_rows(const KvRing<T, TILES> &kv, const fa_fwd_args &a, int b, const fa_seq &seq,
                                            int kv_head, int r0, int rows_total, const fa_tile_plan &plan, int64_t diag,
                                            int t_begin, int my_steps, uint32_t sq, int warp, int lane,
                                            float (&o)[1][T::kOTiles][4], float (&row_max)[1][2],
                                            float (&row_sum)[1][2], const DecodeTracer &tr) {
  const float c = a.score_log2_scale;
  const bool positive_scale = c > 0.f;
  // Whether rows 8-15 of the block's 16 hold a real row: not for one query
  // of a GQA group of at most 8, the decode rows; their softmax is skipped
  // (their weights 0, their O never stored).
  const bool upper_rows = r0 + 8 < rows_total;
  const float hidden = positive_scale ? -INFINITY : INFINITY;
  uint32_t qf[T::kQKSteps][1][4];
  stream_keys<T, TILES>(kv, a, b, seq, kv_head, r0, rows_total, t_begin, my_steps, warp, lane, sq, tr,
                        [&] { load_q_fragments<T>(qf, sq, lane); },
                        [&](uint32_t sk, uint32_t sv, int n0) {
                          float s[1][T::kSTiles][4];
#pragma unroll
                          for (int nt = 0; nt < T::kSTiles; ++nt)
#pragma unroll
                            for (int j = 0; j < 4; ++j) s[0][nt][j] = 0.f;
                          if constexpr (TILES)
                            qk_gemm_swizzled<T>(s, qf, sk, lane);
                          else
                            qk_gemm_qregs<T>(s, qf, sk, lane);
                          if (SOFTCAP) apply_softcap<T>(s, a.softcap, a.softcap_inner_scale);
                          if (fa_tile_needs_mask(&plan, n0, T::kStepKeys))
                            mask_packed<T>(s, a, n0, r0, diag, seq.len_k, lane, hidden);
                          if (upper_rows)
                            online_softmax<T>(s, o, row_max, row_sum, c, positive_scale);
                          else
                            online_softmax<T, 1>(s, o, row_max, row_sum, c, positive_scale);
                          if constexpr (TILES)
                            pv_gemm_swizzled<T>(o, s, sv, lane);
                          else
                            pv_gemm<T>(o, s, sv, lane);
                        });
}

// The step with the keys as M (kKeysAsMRows rows at most, tile copies):
// S^T = K Q^T, mask, online softmax into ot, row_max, row_sum (rows 2t,
// 2t + 1 of lane l), O^T += V^T P^T.
template <class T, bool SOFTCAP>
__device__ __forceinline__ void attend_keys_as_m(const KvRing<T, true> &kv, const fa_fwd_args &a, int b,
                                                 const fa_seq &seq, int kv_head, int r0, int rows_total,
                                                 const fa_tile_plan &plan, int64_t diag, int t_begin, int my_steps,
                                                 uint32_t sq, int warp, int lane, float (&ot)[T::kOTiles / 2][4],
                                                 float (&row_max)[2], float (&row_sum)[2], const DecodeTracer &tr) {
  const float c = a.score_log2_scale;
  const bool positive_scale = c > 0.f;
  const float hidden = positive_scale ? -INFINITY : INFINITY;
  uint32_t qb[T::kQKSteps][2];
  stream_keys<T, true>(kv, a, b, seq, kv_head, r0, rows_total, t_begin, my_steps, warp, lane, sq, tr,
                       [&] { load_q_b_fragments<T>(qb, sq, lane); },
                       [&](uint32_t sk, uint32_t sv, int n0) {
                         float st[4] = {0.f, 0.f, 0.f, 0.f};
                         qk_keys_as_m<T>(st, qb, sk, lane);
                         if (SOFTCAP)
#pragma unroll
                           for (int e = 0; e < 4; ++e) st[e] = fa_softcap(st[e], a.softcap, a.softcap_inner_scale);
                         if (fa_tile_needs_mask(&plan, n0, T::kStepKeys))
                           mask_keys_as_m<T>(st, a, n0, r0, diag, seq.len_k, lane, hidden);
                         softmax_keys_as_m<T>(st, ot, row_max, row_sum, c, positive_scale);
                         pv_keys_as_m<T>(ot, st, sv, lane);
                       });
}

}  // namespace fa
