// wgmma/consumer.cuh - the consumer role (warpgroups 1, 2 (, 3)): each
// listed work tile's loop over its key tiles, with one row block a consumer
// (consume) or two (consume_row_pairs), then its epilogue. A part of
// fwd_wgmma.cuh.
#pragma once

#include <cuda.h>  // CUtensorMap (types only)
#include <math.h>
#include <stdint.h>

#include "attn/mask.h"
#include "attn/tile_order.h"
#include "cuda/common/mask_tile.cuh"
#include "cuda/common/mma_tile.cuh"
#include "cuda/common/wgmma.cuh"
#include "cuda/ptx.cuh"
#include "cuda/wgmma/epilogue.cuh"
#include "cuda/wgmma/gemm_softmax.cuh"
#include "cuda/wgmma/loads.cuh"
#include "cuda/wgmma/traits.cuh"
#include "cuda/wgmma/work_tiles.cuh"
#include "cuda/wgmma_trace.cuh"
#include "fa_args.h"

namespace fa {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// One past the last key that any of a consumer's 64 rows (from row0 of
// its work tile) sees: the visible range's end of its last row, as the
// ends never decrease with the row (attn/mask.h). Rows past the sequence
// count as its rows (their end is at least the last real row's).
template <class T>
__device__ __forceinline__ int consumer_key_end(const fa_fwd_args &a, int row0, int64_t diag, int len_k) {
  return fa_visible_keys(((row0 + 63) >> pack_shift<T>(a)) + diag, window_left_of<T::kMask>(a),
                         window_right_of<T::kMask>(a), len_k)
      .hi;
}

// The consumer role with two row blocks (kRowBlocks 2; fwd_wgmma.md "Two
// row blocks a consumer"): consumer c owns rows A = 64 c .. 64 c + 63 and
// B = 64 (kConsumers + c) .. of each work tile, one S accumulator and an O
// and P for each block. Per key tile: S(A) issued with P(A) V of the key
// tile before, its softmax in a turn; then S(B) into the same registers
// (P(A) is packed by then) with P(B) V, its softmax in a turn. The turns go
// 0A, 1A, 0B, 1B: between a consumer's two turns runs the other's, which
// covers the next S's latency and its mask. Causal: block A's rows may see
// one key tile fewer than B's (the diagonal); A's steps stop there for both
// consumers at once (A's rows are the same 128 for both), so the turns stay
// paired; A's last P V then reads an earlier V stage than B's.
template <class T>
__device__ __forceinline__ void consume_row_pairs(const fa_fwd_args &a, const CUtensorMap &tm_o,
                                                  const WgmmaBarriers<T> &bar, uint32_t sq, uint32_t sk, uint32_t sv,
                                                  uint32_t list, int tid, int wg) {
  static_assert(T::kRowBlocks == 2 && T::kHeadDimPadded < 256, "consume_row_pairs: two row blocks");
  const int lane = tid & 31;
  setmaxnreg_inc<T::kConsumerRegs>();
  const int c = __shfl_sync(0xffffffffu, wg - 1, 0);  // warp-uniform (consume)
  const int ctid = tid - 128;
  constexpr int kBlockRows = 64 * T::kConsumers;  // a row block over the consumers
  const int warp_row0 = 64 * c + 16 * ((tid / 32) & 3);  // this warp's first row of block A (B: + kBlockRows)
  const uint32_t sq_c = sq + 64 * c * T::kRowBytes;
  const float cs = a.score_log2_scale;
  const bool positive_scale = cs > 0.f;
  const float hidden = positive_scale ? -INFINITY : INFINITY;
  constexpr unsigned kQCountMask = (1u << T::kQCountBits) - 1u;
  unsigned consumed = 0;  // as consume's: key tiles << kQCountBits | Q tiles mod 2 x kQBuffers
  const unsigned tile_count = ld_shared_4(list + kListEntryBytes * T::kListMax);
  Tracer tr(1 + c, (ctid & 127) == 0);
  for (unsigned tile = 0; tile < tile_count; ++tile) {
    const WgmmaTile t = locate_tile<T>(a, list, tile);
    if (!t.run) continue;  // uniform over the block, as in the producer
    tr.mark(kTrTile, tile);
    const fa_tile_plan plan = plan_tile<T>(a, t);
    const int n_block_min = plan.n_block_min, n_block_max = plan.n_block_max;
    const bool any_keys = n_block_min < n_block_max;
    const int m0 = t.m0;
    const int len_k = t.seq.len_k;
    const int64_t diag = (int64_t)len_k - t.seq.len_q;
    float oa[1][T::kOTiles][4], ob[1][T::kOTiles][4];
    float max_a[1][2] = {{-INFINITY, -INFINITY}}, sum_a[1][2] = {{0.f, 0.f}};
    float max_b[1][2] = {{-INFINITY, -INFINITY}}, sum_b[1][2] = {{0.f, 0.f}};
    clear_o<T>(oa[0]);  // zeroed and accumulated into: no kFreshO with two row blocks
    clear_o<T>(ob[0]);
    float inv_a[2] = {0.f, 0.f}, inv_b[2] = {0.f, 0.f};
    bool ends_done = false;
    // block A's key tiles end: the tile's unless A's last row sees fewer
    // (causal); at least one, so that A's rows always take their first step
    int n_max_a = n_block_max;
    if constexpr (T::kMask == kMaskCausal) {
      const int end_a = consumer_key_end<T>(a, m0 + 64, diag, len_k);  // rows 64..127 of the tile: A's last
      n_max_a = max(n_block_min + 1, min(n_block_max, (end_a + T::kBlockN - 1) / T::kBlockN));
    }
    const unsigned j_base = consumed >> T::kQCountBits;
    const unsigned q_count = consumed & kQCountMask;
    const int qb = q_buffer<T>(q_count);
    const uint32_t sq_a = sq_c + qb * T::kQBytes, sq_b = sq_a + kBlockRows * T::kRowBytes;
    if (any_keys) mbar_wait(bar.q(qb), q_parity<T>(q_count));
    tr.mark(kTrQReady);
    if (any_keys) {
      if (c == 0 && consumed == 0) named_bar_arrive(kBarTurn0, 256);  // the block's first turn
      float sc[1][T::kSTiles][4];
      uint32_t pa[T::kPVSteps][4], pb[T::kPVSteps][4];
      float alpha_a[2], alpha_b[2];
      // The first key tile: S of A and of B issued together (no O is live
      // yet, so S(B) takes registers of its own), A's softmax and turn
      // while S(B) runs, then B's
      const auto first_softmax = [&](float (&s_acc)[1][T::kSTiles][4], int row0, float (&row_max)[1][2],
                                     float (&row_sum)[1][2], float (&alpha)[2], uint32_t (&p)[T::kPVSteps][4]) {
        const int n0 = n_block_min * T::kBlockN;
        if (a.softcap > 0.f) apply_softcap<T>(s_acc, a.softcap, a.softcap_inner_scale);
        if (fa_tile_needs_mask(&plan, n0, T::kBlockN))
          apply_mask<T, true>(s_acc, a, n0, m0 + row0, diag, len_k, lane, hidden, pack_shift<T>(a));
        // no P V in flight: A's turn runs while S(B) does, B's after its wait
        online_softmax_deferred<T, true, false>(s_acc, row_max, row_sum, alpha, cs, positive_scale, c, p, tr);
      };
      {
        const int s = ring_slot<T>(j_base);
        float sc_b[1][T::kSTiles][4];
        mbar_wait(bar.k_full(s), ring_parity<T>(j_base));
        wgmma_reg_fence(sc[0]);
        qk_gemm_issue<T>(sc[0], sq_a, sk + s * T::kKVBytes);
        qk_gemm_issue<T>(sc_b[0], sq_b, sk + s * T::kKVBytes);
        tr.mark(kTrSIssued, 0);
        wgmma_wait<1>();  // S(A)
        wgmma_reg_fence(sc[0]);
        tr.mark(kTrSReady, 0);
        first_softmax(sc, warp_row0, max_a, sum_a, alpha_a, pa);
        wgmma_wait<0>();  // S(B)
        wgmma_reg_fence(sc_b[0]);
        tr.mark(kTrSReady, 0);
        if (ctid % 128 == 0) mbar_arrive(bar.k_empty(s));  // both S of K(first) done
        first_softmax(sc_b, warp_row0 + kBlockRows, max_b, sum_b, alpha_b, pb);
      }
      // Key tile n > first, one row block: S(n) of the block with P(n-1) V
      // of the block, as consume's loop step; the key tile's first step
      // gives V(n-2) back and waits for V(n-1) and K(n), block B's gives
      // K(n) back
      const auto step = [&](int n, uint32_t sq_rows, int row0, float (&o)[1][T::kOTiles][4], float (&row_max)[1][2],
                            float (&row_sum)[1][2], float (&alpha)[2], uint32_t (&p)[T::kPVSteps][4], bool block_b,
                            bool first) {
        const unsigned jj = j_base + (unsigned)(n - n_block_min);
        const int s = ring_slot<T>(jj), sp = ring_slot<T>(jj - 1);
        const int n0 = n * T::kBlockN;
        const uint32_t sv_prev = sv + sp * T::kKVBytes;
        wgmma_wait<0>();  // P(n-2) V(n-2) of this block (done inside the softmax before: nothing in flight)
        wgmma_reg_fence(o[0]);
        wgmma_reg_fence(p);
        wgmma_reg_fence(sc[0]);
        if (first) {
          tr.mark(kTrLoopTop, n - n_block_min);
          // P(n-2) V(n-2) of both blocks done (each waited in its softmax;
          // a block A that skips key tile n skipped n - 1 too)
          if (n >= n_block_min + 2 && ctid % 128 == 0) mbar_arrive(bar.v_empty(ring_slot<T>(jj - 2)));
          mbar_wait(bar.v_full(sp), ring_parity<T>(jj - 1));
          tr.mark(kTrVReady, n - n_block_min);
          if (n0 > len_k) zero_v_tail_by_panel<T>(sv_prev, len_k - (n0 - T::kBlockN), ctid);
          mbar_wait(bar.k_full(s), ring_parity<T>(jj));
          tr.mark(kTrKReady, n - n_block_min);
        }
        qk_gemm_issue<T>(sc[0], sq_rows, sk + s * T::kKVBytes);
        tr.mark(kTrSIssued, n - n_block_min);
        rescale_o<T>(o[0], alpha);
        pv_gemm_issue<T>(o[0], p, sv_prev);
        tr.mark(kTrPVIssued, n - 1 - n_block_min);
        wgmma_wait<1>();  // S(n) of the block ready; its P V may still run
        wgmma_reg_fence(sc[0]);
        tr.mark(kTrSReady, n - n_block_min);
        if (block_b && ctid % 128 == 0) mbar_arrive(bar.k_empty(s));
        if (a.softcap > 0.f) apply_softcap<T>(sc, a.softcap, a.softcap_inner_scale);
        if (fa_tile_needs_mask(&plan, n0, T::kBlockN))
          apply_mask<T, true>(sc, a, n0, m0 + row0, diag, len_k, lane, hidden, pack_shift<T>(a));
        tr.mark(kTrMasked, n - n_block_min);
        online_softmax_deferred<T>(sc, row_max, row_sum, alpha, cs, positive_scale, c, p, tr);
      };
      for (int n = n_block_min + 1; n < n_block_max; ++n) {
        const bool a_runs = n < n_max_a;  // the same for both consumers: the turns stay paired
        if (a_runs) step(n, sq_a, warp_row0, oa, max_a, sum_a, alpha_a, pa, false, true);
        step(n, sq_b, warp_row0 + kBlockRows, ob, max_b, sum_b, alpha_b, pb, true, !a_runs);
      }
      {  // the last key tiles' P V (A's may be one before B's), the rows' ends under them
        const unsigned jj = j_base + (unsigned)(n_block_max - 1 - n_block_min);
        const int s = ring_slot<T>(jj);
        const int n0 = (n_block_max - 1) * T::kBlockN;
        const uint32_t sv_stage = sv + s * T::kKVBytes;
        const uint32_t sv_stage_a = sv + ring_slot<T>(j_base + (unsigned)(n_max_a - 1 - n_block_min)) * T::kKVBytes;
        // V(last - 1) goes back here where A's last P V is B's, else after
        // A's last P V (it reads that stage)
        const bool a_to_last = n_max_a == n_block_max;
        if (ctid % 128 == 0) mbar_arrive(bar.q_empty(qb));  // every S is done
        wgmma_wait<0>();
        wgmma_reg_fence(oa[0]);
        wgmma_reg_fence(ob[0]);
        wgmma_reg_fence(pa);
        wgmma_reg_fence(pb);
        wgmma_reg_fence(sc[0]);
        tr.mark(kTrLoopTop, n_block_max - n_block_min);  // as a loop step's: the P V before done
        if (a_to_last && n_block_max - 1 > n_block_min && ctid % 128 == 0)
          mbar_arrive(bar.v_empty(ring_slot<T>(jj - 1)));
        rescale_o<T>(oa[0], alpha_a);
        rescale_o<T>(ob[0], alpha_b);
        mbar_wait(bar.v_full(s), ring_parity<T>(jj));
        tr.mark(kTrVReady, n_block_max - 1 - n_block_min);
        if (n0 + T::kBlockN > len_k) zero_v_tail_by_panel<T>(sv_stage, len_k - n0, ctid);  // uniform over the block
        pv_gemm_issue<T>(oa[0], pa, sv_stage_a);
        pv_gemm_issue<T>(ob[0], pb, sv_stage);
        tr.mark(kTrPVIssued, n_block_max - 1 - n_block_min);
        const WgmmaTile tl = locate_tile<T>(a, list, tile);
        row_ends<T>(a, tl, max_a, sum_a, warp_row0, lane, inv_a, tr);
        row_ends<T>(a, tl, max_b, sum_b, warp_row0 + kBlockRows, lane, inv_b, tr);
        ends_done = true;
        wgmma_wait<0>();
        wgmma_reg_fence(oa[0]);
        wgmma_reg_fence(ob[0]);
        wgmma_reg_fence(pa);
        wgmma_reg_fence(pb);
        tr.mark(kTrLastPV);
        if (ctid % 128 == 0) {
          if (!a_to_last && n_block_max - 1 > n_block_min) mbar_arrive(bar.v_empty(ring_slot<T>(jj - 1)));
          mbar_arrive(bar.v_empty(s));
        }
      }
      consumed = ((j_base + (unsigned)(n_block_max - n_block_min)) << T::kQCountBits) | ((q_count + 1u) & kQCountMask);
    }
    // the tile found again from the list (the loop runs at the register limit, as in consume)
    const WgmmaTile te = locate_tile<T>(a, list, tile);
    tr.mark(kTrTileLocated);
    const uint32_t so = sq + T::kOStageOffset;
    bool stored = false;
    if constexpr (T::kTmaStore && T::kOPasses == 1)
      stored = store_pair_tma<T>(a, te, oa[0], ob[0], inv_a, inv_b, ends_done, so, &tm_o, tr);
    if (!stored) {
      store_o<T>(a, te, oa[0], max_a, sum_a, warp_row0, lane, so, &tm_o, any_keys, inv_a, ends_done, tr, 0);
      store_o<T>(a, te, ob[0], max_b, sum_b, warp_row0 + kBlockRows, lane, so, &tm_o, any_keys, inv_b, ends_done, tr,
                 1);
    }
    tr.mark(kTrStored);
  }
  tr.finish();
  if constexpr (T::kTmaStore)
    if (elect_one()) bulk_wait_read();
}

// The consumer role (warpgroups 1 .. kConsumers; rows 64 c .. 64 c + 63 of
// each work tile): the block's work tiles in list order, each its Q wait,
// its key tiles (the overlapped loop, or the first version) and its
// epilogue.
template <class T>
__device__ __forceinline__ void consume(const fa_fwd_args &a, const CUtensorMap &tm_o, const WgmmaBarriers<T> &bar,
                                        uint32_t sq, uint32_t sk, uint32_t sv, uint32_t list, int tid, int wg) {
  const int lane = tid & 31;
  setmaxnreg_inc<T::kConsumerRegs>();
  // Consumer index (rows 64 c .. 64 c + 63 of the tile), from lane 0 by a
  // shuffle, so ptxas knows it to be warp-uniform: the turns' branches on it
  // are then not divergent, and the main loop loses its WARPSYNCs and R2UR
  // moves (d128 1952 -> 1932 instructions, d64 1822 -> 1810; fwd_wgmma.md
  // "Per-consumer key tiles"). Not at d256: the values derived from c can
  // no longer be rematerialized from %tid.x there and spilled 4-16 bytes.
  const int c = T::kHeadDimPadded < 256 ? __shfl_sync(0xffffffffu, wg - 1, 0) : wg - 1;
  const int ctid = tid - 128;                  // 0 .. 128 x kConsumers - 1 over the consumers
  const int warp_row0 = 64 * c + 16 * ((tid / 32) & 3);  // this warp's first row in the tile
  const uint32_t sq_c = sq + 64 * c * T::kRowBytes;  // this consumer's rows of every Q panel (Q tile 0)

  const float cs = a.score_log2_scale;
  const bool positive_scale = cs > 0.f;
  const float hidden = positive_scale ? -INFINITY : INFINITY;

  // Key tiles consumed so far (the ring position), shifted left by
  // kQCountBits, plus the Q tiles consumed modulo 2 x kQBuffers (buffer and
  // parity): one register across the tile loop, which runs at the register
  // limit.
  constexpr unsigned kQCountMask = (1u << T::kQCountBits) - 1u;
  unsigned consumed = 0;
  const unsigned tile_count = ld_shared_4(list + kListEntryBytes * T::kListMax);
  Tracer tr(1 + c, (ctid & 127) == 0);  // empty unless FA_WGMMA_TRACE_CAP (wgmma_trace.cuh)
  for (unsigned tile = 0; tile < tile_count; ++tile) {
    const WgmmaTile t = locate_tile<T>(a, list, tile);
    if (!t.run) continue;  // uniform over the block, as in the producer
    tr.mark(kTrTile, tile);
    const fa_tile_plan plan = plan_tile<T>(a, t);
    const int n_block_min = plan.n_block_min, n_block_max = plan.n_block_max;
    const bool any_keys = n_block_min < n_block_max;
    const int m0 = t.m0;
    const int len_k = t.seq.len_k;
    const int64_t diag = (int64_t)len_k - t.seq.len_q;  // key position of query row 0

    float o[1][T::kOTiles][4];  // kOUnset: written by the first P V (fresh)
    float row_max[1][2] = {{-INFINITY, -INFINITY}}, row_sum[1][2] = {{0.f, 0.f}};
    if constexpr (!T::kOUnset) clear_o<T>(o[0]);
    // The epilogue's factors 1 / sum: the overlapped loop computes them
    // under its last P V where kRowEndsUnderPV (set there, not live across
    // the key tiles)
    float inv[2] = {0.f, 0.f};
    bool ends_done = false;

    const unsigned j_base = consumed >> T::kQCountBits;
    const unsigned q_count = consumed & kQCountMask;
    const int qb = q_buffer<T>(q_count);
    const uint32_t sq_wg = sq_c + qb * T::kQBytes;
    if (any_keys) mbar_wait(bar.q(qb), q_parity<T>(q_count));
    tr.mark(kTrQReady);
    if constexpr (T::kOverlap) {
      // ---- overlapped loop (fwd_wgmma.md "Switches"; HOPPER.md 2.9's order):
      // per tile n, S(n) = Q K(n)^T and O += P(n-1) V(n-1) are issued as two
      // groups; wait_group 1 (S(n) ready, P V still running); mask and softmax
      // of S(n) under the P V; then (at the top of the next iteration)
      // wait_group 0, P(n) = 16-bit S(n), and O *= alpha(n) between the two
      // issues, under S(n+1). The first tile has no P V to overlap, the last
      // P V no softmax to hide.
      // Ping-pong: every issue is a turn, consumer 0, 1, 0, 1, ... (with
      // three: 0, 1, 2, 0, ...) over the whole block, across work tiles
      // (named barriers kBarTurn0 + c, 256 threads: the previous consumer's
      // arrive + this one's sync), so one consumer's softmax runs under the
      // others' GEMMs. Consumer 0 arrives on its own barrier once, before its
      // first tile with keys (nothing consumed yet: no register for it);
      // after that each sync pairs with one arrive of the previous consumer,
      // which cannot arrive again before this one's turn, so no generation
      // takes two arrivals from one consumer (restarting the turns per work
      // tile did: a deadlock, fwd_wgmma.md "Ping-pong turns across work
      // tiles"). The last consumer's last arrive is never waited for, which
      // is harmless at exit (turn_begin, turn_end).
      if (any_keys) {
        if constexpr (T::kTurns)
          if (c == 0 && consumed == 0) named_bar_arrive(kBarTurn0, 256);  // the block's first turn
        float sc[1][T::kSTiles][4];
        uint32_t p[T::kPVSteps][4];
        float alpha[2];
        {  // first key tile: its S and softmax, nothing to overlap
          const int n0 = n_block_min * T::kBlockN;
          const int s = ring_slot<T>(j_base);
          mbar_wait(bar.k_full(s), ring_parity<T>(j_base));
          turn_begin<T>(c);
          qk_gemm_issue<T>(sc[0], sq_wg, sk + s * T::kKVBytes);
          turn_end<T>(c);
          tr.mark(kTrSIssued, 0);
          // the previous work tile's Q (the other buffer), once its O stores
          // have read it (kOStageInQ; consumed == 0: there is none)
          if constexpr (T::kOStageInQ)
            if (consumed != 0) release_staged_q<T>(bar, qb ^ 1);
          wgmma_wait<0>();
          wgmma_reg_fence(sc[0]);
          tr.mark(kTrSReady, 0);
          if (ctid % 128 == 0) mbar_arrive(bar.k_empty(s));
          if (a.softcap > 0.f) apply_softcap<T>(sc, a.softcap, a.softcap_inner_scale);
          if (fa_tile_needs_mask(&plan, n0, T::kBlockN))
            apply_mask<T, true>(sc, a, n0, m0 + warp_row0, diag, len_k, lane, hidden, pack_shift<T>(a));
          online_softmax_deferred<T, true>(sc, row_max, row_sum, alpha, cs, positive_scale, c, p, tr);
        }
        // Iteration n starts with the wait for P(n-2) V(n-2) and ends with the
        // softmax of S(n): the loop's back edge keeps ptxas from hoisting that
        // wait (WARPGROUP.DEPBAR) above the softmax, which it does within a
        // basic block (fwd_wgmma.md "Switches", SASS).
        for (int n = n_block_min + 1; n < n_block_max; ++n) {
          const unsigned jj = j_base + (unsigned)(n - n_block_min);  // this key tile's ring position
          const int s = ring_slot<T>(jj), sp = ring_slot<T>(jj - 1);
          const int n0 = n * T::kBlockN;
          const uint32_t sv_prev = sv + sp * T::kKVBytes;
          wgmma_wait<0>();  // P(n-2) V(n-2) (nothing in flight at the first iteration)
          wgmma_reg_fence(o[0]);
          wgmma_reg_fence(p);  // P(n-2) was live until here: the P V read it from registers
          wgmma_reg_fence(sc[0]);
          tr.mark(kTrLoopTop, n - n_block_min);
          if (n >= n_block_min + 2 && ctid % 128 == 0) mbar_arrive(bar.v_empty(ring_slot<T>(jj - 2)));
          if constexpr (!T::kPackInTurn) pack_p<T>(p, sc[0]);  // P(n-1), before S(n) overwrites sc
          mbar_wait(bar.v_full(sp), ring_parity<T>(jj - 1));
          tr.mark(kTrVReady, n - n_block_min);
          // V(n-1) past the keys (only the last tile can be; uniform over the
          // block, and outside the turn: it waits for every consumer)
          if (n0 > len_k) zero_v_tail_by_panel<T>(sv_prev, len_k - (n0 - T::kBlockN), ctid);
          mbar_wait(bar.k_full(s), ring_parity<T>(jj));
          tr.mark(kTrKReady, n - n_block_min);
          turn_begin<T>(c);
          qk_gemm_issue<T>(sc[0], sq_wg, sk + s * T::kKVBytes);
          // O *= alpha(n-1) while S(n) runs: nothing in flight holds O now,
          // and the P V that reads it is issued next (FA3's order). The
          // first P V writes O instead (a NaN row's P is NaN: so is O)
          tr.mark(kTrSIssued, n - n_block_min);
          const bool fresh = n - 1 == n_block_min;
          if (!fresh) rescale_o<T>(o[0], alpha);
          pv_gemm_issue<T>(o[0], p, sv_prev, fresh);
          turn_end<T>(c);
          tr.mark(kTrPVIssued, n - 1 - n_block_min);
          wgmma_wait<1>();  // S(n) is ready; P(n-1) V(n-1) may still run
          wgmma_reg_fence(sc[0]);
          tr.mark(kTrSReady, n - n_block_min);
          if (ctid % 128 == 0) mbar_arrive(bar.k_empty(s));
          if (a.softcap > 0.f) apply_softcap<T>(sc, a.softcap, a.softcap_inner_scale);
          if (fa_tile_needs_mask(&plan, n0, T::kBlockN))
            apply_mask<T, true>(sc, a, n0, m0 + warp_row0, diag, len_k, lane, hidden, pack_shift<T>(a));
          tr.mark(kTrMasked, n - n_block_min);
          online_softmax_deferred<T>(sc, row_max, row_sum, alpha, cs, positive_scale, c, p, tr);  // O untouched
        }
        {  // the last key tile's P V; every S is done: Q goes back to the producer
          const unsigned jj = j_base + (unsigned)(n_block_max - 1 - n_block_min);
          const int s = ring_slot<T>(jj);
          const int n0 = (n_block_max - 1) * T::kBlockN;
          const uint32_t sv_stage = sv + s * T::kKVBytes;
          if constexpr (!T::kOStageInQ)
            if (ctid % 128 == 0) mbar_arrive(bar.q_empty(qb));
          wgmma_wait<0>();  // P V of the key tile before (if any)
          wgmma_reg_fence(o[0]);
          wgmma_reg_fence(p);
          wgmma_reg_fence(sc[0]);
          const bool fresh = n_block_max - 1 == n_block_min;  // one key tile: its P V is the first
          if (n_block_max - 1 > n_block_min && ctid % 128 == 0) mbar_arrive(bar.v_empty(ring_slot<T>(jj - 1)));
          if (!fresh) rescale_o<T>(o[0], alpha);
          if constexpr (!T::kPackInTurn) pack_p<T>(p, sc[0]);
          mbar_wait(bar.v_full(s), ring_parity<T>(jj));
          if (n0 + T::kBlockN > len_k) zero_v_tail_by_panel<T>(sv_stage, len_k - n0, ctid);  // uniform over the block
#ifdef FA_TEST_SLOW_CONSUMER1_NS
          // tests/wgmma_turns.cu: consumer 1 late for its last turn, so that
          // consumer 0 runs ahead into the next work tile
          if (c == 1)
            for (const uint64_t t0 = globaltimer_ns(); globaltimer_ns() - t0 < (FA_TEST_SLOW_CONSUMER1_NS);) {
            }
#endif
          turn_begin<T>(c);
          pv_gemm_issue<T>(o[0], p, sv_stage, fresh);
          turn_end<T>(c);
          tr.mark(kTrPVIssued, n_block_max - 1 - n_block_min);
          // The rows' ends under the last P V (kRowEndsUnderPV; a split
          // tile's piece merges its sums first: after the wait)
          if constexpr (T::kRowEndsUnderPV) {
            const WgmmaTile tl = locate_tile<T>(a, list, tile);
            tr.mark(kTrTileLocated);
            if (!T::kSplitMerge || tl.keys == 0) {
              row_ends<T>(a, tl, row_max, row_sum, warp_row0, lane, inv, tr);
              ends_done = true;
              tr.mark(kTrRowsScaled);
            }
          }
          wgmma_wait<0>();
          wgmma_reg_fence(o[0]);
          wgmma_reg_fence(p);
          tr.mark(kTrLastPV);
          if (ctid % 128 == 0) mbar_arrive(bar.v_empty(s));
        }
      }
    } else {
      // ---- the serial loop: each product waited for before the next step.
      // With softmax turns (cuDNN's loop; d256 below 1024 keys at 128 x 128,
      // where S 64 + O 128 registers fit and the overlapped loop's S + P + O
      // spill) the consumers' exponentials alternate, so one consumer's
      // GEMMs run while the other computes its weights.
      if constexpr (T::kSoftmaxTurns)
        if (any_keys && c == 0 && consumed == 0) named_bar_arrive(kBarTurn0, 256);  // the block's first turn
      // One key tile; TS: the traits of the keys multiplied (T, or
      // T::HalfKeys for the tile's left half: its S, mask and softmax over
      // those keys only, a second copy of the body).
      const auto key_tile = [&](auto keys_traits, int n) {
        using TS = decltype(keys_traits);
        const unsigned jj = j_base + (unsigned)(n - n_block_min);
        const int s = ring_slot<T>(jj);
        const uint32_t phase = ring_parity<T>(jj);
        const int n0 = n * T::kBlockN;

        float sc[1][TS::kSTiles][4];
        mbar_wait(bar.k_full(s), phase);
        tr.mark(kTrKReady, n - n_block_min);
        tr.mark(kTrSIssued, n - n_block_min);
        qk_gemm_wgmma<T, TS::kBlockN>(sc[0], sq_wg, sk + s * T::kKVBytes);
        tr.mark(kTrSReady, n - n_block_min);
        if (ctid % 128 == 0) {
          mbar_arrive(bar.k_empty(s));  // this warpgroup is done with K(n)
          if (n == n_block_max - 1) mbar_arrive(bar.q_empty(qb));  // and, after the last S, with Q
        }

        if (a.softcap > 0.f) apply_softcap<TS>(sc, a.softcap, a.softcap_inner_scale);
        if (fa_tile_needs_mask(&plan, n0, TS::kBlockN))
          apply_mask<TS, true>(sc, a, n0, m0 + warp_row0, diag, len_k, lane, hidden, pack_shift<T>(a));
        uint32_t p[TS::kPVSteps][4];
        const bool fresh = T::kFreshO && n == n_block_min;  // the first P V writes O
        if constexpr (T::kSoftmaxTurns) {
          float alpha[2];
          online_softmax_deferred<TS>(sc, row_max, row_sum, alpha, cs, positive_scale, c, p, tr);
          if (!fresh) rescale_o<T>(o[0], alpha);  // P was packed in the turn (kPackInTurn)
        } else {
          online_softmax<TS>(sc, o, row_max, row_sum, cs, positive_scale);
          pack_p<TS>(p, sc[0]);
        }

        mbar_wait(bar.v_full(s), phase);
        tr.mark(kTrVReady, n - n_block_min);
        const uint32_t sv_stage = sv + s * T::kKVBytes;
        if (n0 + T::kBlockN > len_k) zero_v_tail<T>(sv_stage, len_k - n0, ctid);  // uniform over the block
        tr.mark(kTrPVIssued, n - n_block_min);
        pv_gemm_wgmma<T, TS::kBlockN>(o[0], p, sv_stage, fresh);
        if (ctid % 128 == 0) mbar_arrive(bar.v_empty(s));
      };
      // one past this consumer's last visible key: a tile whose right half
      // starts there or later is multiplied at half width (only ever the
      // last tile; uniform over the warpgroup). Where that tile's V tail is
      // zeroed (zero_v_tail: a barrier of both consumers, which must reach
      // it from the same copy of the body: synccheck, sixty-first session)
      // every consumer goes by the last consumer's end, so that all take
      // the same copy.
      const bool v_tail = n_block_max * T::kBlockN > len_k;
      const int key_end =
          T::kHalfKeyTiles ? consumer_key_end<T>(a, m0 + 64 * (v_tail ? T::kConsumers - 1 : c), diag, len_k) : 0;
      for (int n = n_block_min; n < n_block_max; ++n) {
        if constexpr (T::kHalfKeyTiles) {
          if (n * T::kBlockN + T::kBlockN / 2 >= key_end) {
            key_tile(typename T::HalfKeys{}, n);
            continue;
          }
        }
        key_tile(T{}, n);
      }
      if (any_keys) tr.mark(kTrLastPV);
    }
    if (any_keys)
      consumed = ((j_base + (unsigned)(n_block_max - n_block_min)) << T::kQCountBits) | ((q_count + 1u) & kQCountMask);
    else if constexpr (T::kOUnset && !(T::kTmaStore && T::kOStageInQ))
      clear_o<T>(o[0]);  // (staged in Q, store_tile_tma stores such a tile's rows as zeros without O)
    // O staging area (smem_epilogue): at the end, or this tile's Q buffer,
    // found again from `consumed` (the Q tiles now counted one further):
    // qb kept live across the loop moved the loop's ring arithmetic out of
    // the uniform datapath (d64 causal: 36 uniform instructions to vector
    // ones, 6% slower)
    const uint32_t so = T::kOStageInQ ? sq + q_buffer<T>((consumed & kQCountMask) + 2u * T::kQBuffers - 1u) * T::kQBytes
                                      : sq + T::kOStageOffset;
    // The overlapped loop runs at the register limit: the tile's sequence
    // and head are found again from the tile index rather than kept live
    // across the loop (ptxas spilled them otherwise).
    if constexpr (T::kOverlap) {
      const WgmmaTile te = locate_tile<T>(a, list, tile);
      if constexpr (T::kSplitMerge)
        if (te.keys != 0 && !merge_split_tile<T>(a, list, tile, o[0], row_max, row_sum, ctid)) continue;
      if constexpr (!T::kRowEndsUnderPV) tr.mark(kTrTileLocated);
      store_o<T>(a, te, o[0], row_max, row_sum, warp_row0, lane, so, &tm_o, any_keys, inv, ends_done, tr);
    } else {
      if constexpr (T::kSplitMerge)
        if (t.keys != 0 && !merge_split_tile<T>(a, list, tile, o[0], row_max, row_sum, ctid)) continue;
      store_o<T>(a, t, o[0], row_max, row_sum, warp_row0, lane, so, &tm_o, any_keys, inv, false, tr);
    }
    tr.mark(kTrStored);
  }
  tr.finish();
  // The last TMA stores must have read the staging rows before the block's
  // shared memory goes.
  if constexpr (T::kTmaStore)
    if (elect_one()) bulk_wait_read();  // lane 0, as in store_tile_tma
}

#endif  // __CUDA_ARCH__ >= 900

}  // namespace fa
