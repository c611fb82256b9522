// wgmma/gemm_softmax.cuh - a consumer's steps on one key tile: S = Q K^T
// and O += P V as wgmma, P packed from S's accumulator, the online softmax
// under its rescale rules, the consumers' turns, O's clear and rescale, and
// V's rows past the keys zeroed. A part of fwd_wgmma.cuh.
#pragma once

#include <math.h>
#include <stdint.h>

#include "attn/softmax.h"
#include "cuda/common/quad.cuh"
#include "cuda/common/wgmma.cuh"
#include "cuda/ptx.cuh"
#include "cuda/wgmma/traits.cuh"
#include "cuda/wgmma_trace.cuh"

namespace fa {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// S = Q K^T for this warpgroup's 64 rows: both operands K-major in shared
// memory, one wgmma per k16 step, the first one overwriting S.
// qk_gemm_issue only issues and commits the group (the overlapped loop
// waits for it later); qk_gemm_wgmma also waits for it.
// KEYS < kBlockN: S over the tile's first KEYS keys only.
template <class T, int KEYS = T::kBlockN>
__device__ __forceinline__ void qk_gemm_issue(float (&s)[KEYS / 8][4], uint32_t sq_wg, uint32_t sk_stage) {
  static_assert(KEYS % 16 == 0 && KEYS <= T::kBlockN, "qk_gemm_issue: S over whole 16-key steps of the tile");
  wgmma_fence();
  constexpr int R = T::kRowBytes;
  // Each step's descriptor is the first one plus a constant (its address
  // field is byte offset >> 4 and no step carries out of it): one add per
  // step, where building each from its address took four instructions
  // and, at d256, vector registers in the main loop (fwd_wgmma.md).
  const uint64_t da0 = smem_desc_swizzled<R>(sq_wg, 16, 8 * R);
  const uint64_t db0 = smem_desc_swizzled<R>(sk_stage, 16, 8 * R);
#pragma unroll
  for (int kk = 0; kk < T::kQKSteps; ++kk) {
    const uint32_t k_off = (kk % T::kStepsPerPanel) * 32;  // 16 elements = 32 bytes inside a row
    const int panel = kk / T::kStepsPerPanel;
    const uint64_t da = da0 + ((panel * T::kBlockM * R + k_off) >> 4);
    const uint64_t db = db0 + ((panel * T::kBlockN * R + k_off) >> 4);
    wgmma_ss<KEYS, typename T::Elem>(s, da, db, kk > 0 ? 1 : 0);
  }
  wgmma_commit();
}

template <class T, int KEYS = T::kBlockN>
__device__ __forceinline__ void qk_gemm_wgmma(float (&s)[KEYS / 8][4], uint32_t sq_wg, uint32_t sk_stage) {
  qk_gemm_issue<T, KEYS>(s, sq_wg, sk_stage);
  wgmma_wait<0>();
  wgmma_reg_fence(s);
}

// P (16-bit) from the softmax weights left in S: k16 step kk of P V takes
// key columns 16 kk .. 16 kk + 15, i.e. S's n8 tiles 2 kk and 2 kk + 1, whose
// accumulator registers are exactly the A fragment (HOPPER.md 2.3).
template <class T>
__device__ __forceinline__ void pack_p(uint32_t (&p)[T::kPVSteps][4], const float (&s)[T::kSTiles][4]) {
#pragma unroll
  for (int kk = 0; kk < T::kPVSteps; ++kk) {
    p[kk][0] = pack2<typename T::Elem>(s[2 * kk][0], s[2 * kk][1]);
    p[kk][1] = pack2<typename T::Elem>(s[2 * kk][2], s[2 * kk][3]);
    p[kk][2] = pack2<typename T::Elem>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
    p[kk][3] = pack2<typename T::Elem>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
  }
}

// O += P V: V as TMA stored it (keys x head dim, MN-major B operand).
// pv_gemm_issue only issues and commits; pv_gemm_wgmma also waits. KEYS:
// the tile's first KEYS keys only (P is 0 on the others). fresh: the work
// tile's first P V of these rows, O = P V (the first k step's scale-d 0):
// O holds nothing yet, so it need not be zeroed before the tile (kOUnset)
// nor scaled by the first key tile's alpha (0; kFreshO).
template <class T, int KEYS = T::kBlockN>
__device__ __forceinline__ void pv_gemm_issue(float (&o)[T::kOTiles][4], const uint32_t (&p)[KEYS / 16][4],
                                              uint32_t sv_stage, bool fresh = false) {
  wgmma_fence();
  constexpr int R = T::kRowBytes;
  const uint64_t db0 = smem_desc_swizzled<R>(sv_stage, T::kBlockN * R, 8 * R);  // + a constant per step
#pragma unroll
  for (int kk = 0; kk < KEYS / 16; ++kk) {
    const uint64_t db = db0 + ((kk * 16 * R) >> 4);
    wgmma_rs_bt<T::kHeadDimPadded, typename T::Elem>(o, p[kk], db, kk == 0 && fresh ? 0 : 1);
  }
  wgmma_commit();
}

template <class T, int KEYS = T::kBlockN>
__device__ __forceinline__ void pv_gemm_wgmma(float (&o)[T::kOTiles][4], const uint32_t (&p)[KEYS / 16][4],
                                        uint32_t sv_stage, bool fresh = false) {
  pv_gemm_issue<T, KEYS>(o, p, sv_stage, fresh);
  wgmma_wait<0>();
  wgmma_reg_fence(o);
}

// The largest (positive scale) or smallest score of one of this thread's
// two rows in S, as a pairwise tree: depth log2(kSTiles) + 1 instead of a
// chain of kSTiles + 1 dependent FMNMX (fwd_wgmma.md "Softmax latency").
template <class T, bool LARGEST>
__device__ __forceinline__ float row_extreme(const float (&s)[T::kSTiles][4], int half) {
  const auto pick = [](float x, float y) { return LARGEST ? fmaxf(x, y) : fminf(x, y); };
  float v[T::kSTiles];
#pragma unroll
  for (int nt = 0; nt < T::kSTiles; ++nt) v[nt] = pick(s[nt][2 * half], s[nt][2 * half + 1]);
#pragma unroll
  for (int stride = 1; stride < T::kSTiles; stride *= 2)
#pragma unroll
    for (int i = 0; i + stride < T::kSTiles; i += 2 * stride) v[i] = pick(v[i], v[i + stride]);
  return v[0];
}

// The weights of both rows, sums in element order per row (as before the
// rows were interleaved: the same sums); FUSED: s c unrounded
// (attn/softmax.h fa_softmax_weight_fused, one FFMA). With PACK, P (16-bit)
// too, each k16 step once its two n8 tiles are done (pack_p's layout): in
// the same block as the exponentials, so that the conversions can issue in
// the slots the MUFU leaves free.
template <class T, bool FUSED, bool PACK>
__device__ __forceinline__ void softmax_weights(float (&s)[T::kSTiles][4], float (&row_sum)[2], float c,
                                                const float (&neg_sub)[2], uint32_t (&p)[T::kPVSteps][4]) {
#pragma unroll
  for (int nt = 0; nt < T::kSTiles; ++nt) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int half = e >> 1;
      const float w = FUSED ? fa_softmax_weight_fused(s[nt][e], c, neg_sub[half])
                            : fa_softmax_weight(s[nt][e], c, neg_sub[half]);
      s[nt][e] = w;
      row_sum[half] += w;
    }
    if constexpr (PACK) {
      if (nt & 1) {
        const int kk = nt / 2;
        p[kk][0] = pack2<typename T::Elem>(s[nt - 1][0], s[nt - 1][1]);
        p[kk][1] = pack2<typename T::Elem>(s[nt - 1][2], s[nt - 1][3]);
        p[kk][2] = pack2<typename T::Elem>(s[nt][0], s[nt][1]);
        p[kk][3] = pack2<typename T::Elem>(s[nt][2], s[nt][3]);
      }
    }
  }
}

// softmax_weights packing P, on a copy of S (the speculative rule computes
// them again from S when its check fails), with the sums of this key
// tile's weights apart (tile_sum, per row and thread): the rule's check,
// which costs the turn nothing beyond them (a tree of the exponents' maxima
// beside the exponentials lengthened it by 180-240 cycles: fwd_wgmma.md
// "Where it stands", fifty-seventh session).
template <class T, bool FUSED>
__device__ __forceinline__ void softmax_weights_checked(const float (&s)[T::kSTiles][4], float (&tile_sum)[2], float c,
                                                        const float (&neg_sub)[2], uint32_t (&p)[T::kPVSteps][4]) {
  float w[T::kSTiles][4];
#pragma unroll
  for (int nt = 0; nt < T::kSTiles; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) w[nt][e] = s[nt][e];
  tile_sum[0] = tile_sum[1] = 0.f;
  softmax_weights<T, FUSED, true>(w, tile_sum, c, neg_sub, p);
}

// Turns (TurnRule; fwd_wgmma.md "Ping-pong turns across work tiles"):
// consumer c waits for its turn (to issue GEMMs, or to compute its
// exponentials), then hands the turn to the next consumer, c + 1 round the
// kConsumers. Barrier ids as immediates (a register holding them
// spilled); c is warp-uniform (a shuffle), so these branches do not
// diverge.
template <class T>
__device__ __forceinline__ void turn_wait(int c) {
  if constexpr (T::kTurns) {
    if (c == 0)
      named_bar_sync(kBarTurn0, 256);
    else if (T::kConsumers == 2 || c == 1)
      named_bar_sync(kBarTurn1, 256);
    else
      named_bar_sync(kBarTurn2, 256);
  }
}
template <class T>
__device__ __forceinline__ void turn_pass(int c) {
  if constexpr (T::kTurns) {
    if (c == T::kConsumers - 1)
      named_bar_arrive(kBarTurn0, 256);
    else if (c == 0)
      named_bar_arrive(kBarTurn1, 256);
    else
      named_bar_arrive(kBarTurn2, 256);
  }
}
// The GEMM issues' turns (ping-pong).
template <class T>
__device__ __forceinline__ void turn_begin(int c) {
  if constexpr (T::kPingPong) turn_wait<T>(c);
}
template <class T>
__device__ __forceinline__ void turn_end(int c) {
  if constexpr (T::kPingPong) turn_pass<T>(c);
}

// The speculative lazy rule (kRescaleLazySpeculative; softmax turns, P
// packed in the turn, not a work tile's first key tile): the turn computes
// the weights against the kept maxima at once, without the rows' extremes
// before it. After the turn one vote: where every row of the warp had seen
// keys before and no thread's sum of a row's weights in this key tile
// passes 2^FA_RESCALE_SLACK (so no weight does), these are the lazy rule's
// weights, bit for bit, and the running sums take the tile's sums.
// Otherwise (a row's max may move, a row's first keys, NaN) the warp
// computes them again by the rule per row from S, which the turn left
// intact: rare after a row's first key tile, and outside the turn.
template <class T>
__device__ __forceinline__ void online_softmax_speculative(float (&s)[1][T::kSTiles][4], float (&row_max)[1][2],
                                                           float (&row_sum)[1][2], float (&alpha)[2], float c,
                                                           bool positive_scale, int consumer,
                                                           uint32_t (&p)[T::kPVSteps][4], Tracer &tr) {
  float kept_neg_sub[2];
  bool kept_moderate = true, seen = true;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    seen = seen && row_max[0][half] != -INFINITY;
    kept_neg_sub[half] = -row_max[0][half];
    kept_moderate = kept_moderate && fa_softmax_fused_ok(row_max[0][half]);
  }
  // a row without keys so far takes the rule (its max is -inf: nothing kept)
  const bool warp_seen = __all_sync(0xffffffffu, seen);
  float tile_sum[2];
  tr.mark(kTrRowMax);
  wgmma_wait<0>();  // the P V before: it reads p
  wgmma_reg_fence(p);
  tr.mark(kTrTurnAsk);
  turn_wait<T>(consumer);
  tr.mark(kTrTurnGot);
  if (warp_seen) {
    if (__all_sync(0xffffffffu, kept_moderate))
      softmax_weights_checked<T, true>(s[0], tile_sum, c, kept_neg_sub, p);
    else
      softmax_weights_checked<T, false>(s[0], tile_sum, c, kept_neg_sub, p);
  }
  turn_pass<T>(consumer);
  tr.mark(kTrTurnDone);
  constexpr float kCeiling = 0x1p8f;  // 2^FA_RESCALE_SLACK
  static_assert(FA_RESCALE_SLACK == 8.f, "kCeiling is 2^FA_RESCALE_SLACK");
  if (warp_seen && __all_sync(0xffffffffu, tile_sum[0] <= kCeiling && tile_sum[1] <= kCeiling)) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      alpha[half] = 1.f;
      row_sum[0][half] += tile_sum[half];
    }
  } else {
    float ext[2];
    ext[0] = positive_scale ? quad_max(row_extreme<T, true>(s[0], 0)) : quad_min(row_extreme<T, false>(s[0], 0));
    ext[1] = positive_scale ? quad_max(row_extreme<T, true>(s[0], 1)) : quad_min(row_extreme<T, false>(s[0], 1));
    float neg_sub[2];
    bool moderate = true;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const fa_softmax_step st = fa_softmax_rescale_lazy(row_max[0][half], __fmul_rn(ext[half], c));
      alpha[half] = st.max == row_max[0][half] ? 1.f : st.alpha;
      row_max[0][half] = st.max;
      neg_sub[half] = -st.sub;
      moderate = moderate && fa_softmax_fused_ok(st.sub);
    }
    if (__all_sync(0xffffffffu, moderate))
      softmax_weights_checked<T, true>(s[0], tile_sum, c, neg_sub, p);
    else
      softmax_weights_checked<T, false>(s[0], tile_sum, c, neg_sub, p);
#pragma unroll
    for (int half = 0; half < 2; ++half) row_sum[0][half] = row_sum[0][half] * alpha[half] + tile_sum[half];
  }
}

// online_softmax (common/mma_tile.cuh) with the rescale of O left out: the
// overlapped loop computes the softmax of S(n) while P(n-1) V(n-1) is still
// accumulating into O, so O's factor comes back in alpha and rescale_o
// applies it after the wait. The same rules per row (attn/softmax.h); for
// latency (one warp per scheduler runs it, and its length decides whether
// the other consumer's GEMMs cover it) both rows go together, the extremes
// as trees, and the weights fused where the scores allow it (the whole warp
// decides, so the branch never diverges). With a lazy RescaleRule the max moves
// only by more than FA_RESCALE_SLACK, and alpha is exactly
// 1 where it did not move, so that rescale_o skips the multiply on most
// tiles. With softmax turns (kTurnsSoftmax) the exponentials alone are the
// turn: the row maxima come before it, under the other consumer's; and P is
// packed in the turn too (T::kPackInTurn): the previous P V, which reads p,
// is waited for before the turn (wgmma_wait<0>; it was issued before this S
// was waited for, so it is mostly done). With the speculative rule every
// key tile but a work tile's first goes to online_softmax_speculative (the
// first has no kept maxima: the rule per row).
// kWaitPV false: no wait before the turn (consume_row_pairs' first key
// tile: no P V is in flight, and during A's turn B's S, issued with A's,
// runs on).
template <class T, bool FIRST = false, bool kWaitPV = true>
__device__ __forceinline__ void online_softmax_deferred(float (&s)[1][T::kSTiles][4], float (&row_max)[1][2],
                                                        float (&row_sum)[1][2], float (&alpha)[2], float c,
                                                        bool positive_scale, int consumer,
                                                        uint32_t (&p)[T::kPVSteps][4], Tracer &tr) {
  if constexpr (T::kRescale == kRescaleLazySpeculative && !FIRST) {
    online_softmax_speculative<T>(s, row_max, row_sum, alpha, c, positive_scale, consumer, p, tr);
    return;
  }
  float ext[2];
  if (positive_scale) {
    ext[0] = row_extreme<T, true>(s[0], 0);
    ext[1] = row_extreme<T, true>(s[0], 1);
    ext[0] = quad_max(ext[0]);
    ext[1] = quad_max(ext[1]);
  } else {
    ext[0] = row_extreme<T, false>(s[0], 0);
    ext[1] = row_extreme<T, false>(s[0], 1);
    ext[0] = quad_min(ext[0]);
    ext[1] = quad_min(ext[1]);
  }
  tr.mark(kTrRowExtremes);
  float neg_sub[2];
  bool moderate = true;
  // kRescaleLazyWarp, the common case after a row's first tiles: no row of the
  // warp moves its max, so the step is the subtrahend alone (no fmax, no
  // 2^(old - new), no sum rescale); the same numbers as the rule per row.
  // The kept subtrahends come from the old maxima alone, so they are
  // computed before the vote, off the scores' dependent chain.
  bool warp_keeps = false;
  float kept_neg_sub[2];
  bool kept_moderate = true;
  if constexpr (T::kRescale == kRescaleLazyWarp) {
    bool keep = true;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const float sub = row_max[0][half] == -INFINITY ? 0.f : row_max[0][half];
      kept_neg_sub[half] = -sub;
      kept_moderate = kept_moderate && fa_softmax_fused_ok(sub);
      keep = keep && __fmul_rn(ext[half], c) <= row_max[0][half] + FA_RESCALE_SLACK;
    }
    warp_keeps = __all_sync(0xffffffffu, keep);
  }
  if (warp_keeps) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      alpha[half] = 1.f;
      neg_sub[half] = kept_neg_sub[half];
    }
    moderate = kept_moderate;
  } else {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const float tile_max = __fmul_rn(ext[half], c);
      const fa_softmax_step st = T::kRescale != kRescaleExact ? fa_softmax_rescale_lazy(row_max[0][half], tile_max)
                                                 : fa_softmax_rescale(row_max[0][half], tile_max);
      alpha[half] = st.max == row_max[0][half] ? 1.f : st.alpha;
      row_max[0][half] = st.max;
      row_sum[0][half] *= alpha[half];
      neg_sub[half] = -st.sub;
      moderate = moderate && fa_softmax_fused_ok(st.sub);
    }
  }
  if constexpr (T::kPackInTurn) {
    tr.mark(kTrRowMax);
    if constexpr (kWaitPV) wgmma_wait<0>();  // the P V before: it reads p
    wgmma_reg_fence(p);
  }
  tr.mark(kTrTurnAsk);
  if constexpr (T::kSoftmaxTurns) turn_wait<T>(consumer);
  // One arrival and one wait per barrier and work tile with keys: consumer
  // c cannot arrive for the next tile before consumer c + 1 has waited for
  // this one (c's next first S needs the last consumer's last P V turn,
  // which follows c + 1's wait). (d256's consumer index is not a shuffle,
  // so ptxas cannot see it to be warp-uniform: the barriers' branches take
  // one here.)
  const int turn_consumer =
      T::kFirstSoftmaxTurn && FIRST && T::kHeadDimPadded >= 256 ? __shfl_sync(0xffffffffu, consumer, 0) : consumer;
  if constexpr (T::kFirstSoftmaxTurn && FIRST) {
    if (turn_consumer == 1)
      named_bar_sync(kBarFirstSoftmax0, 256);
    else if (T::kConsumers == 3 && turn_consumer == 2)
      named_bar_sync(kBarFirstSoftmax1, 256);
  }
  tr.mark(kTrTurnGot);
  if (__all_sync(0xffffffffu, moderate))
    softmax_weights<T, true, T::kPackInTurn>(s[0], row_sum[0], c, neg_sub, p);
  else
    softmax_weights<T, false, T::kPackInTurn>(s[0], row_sum[0], c, neg_sub, p);
  if constexpr (T::kSoftmaxTurns) turn_pass<T>(consumer);
  if constexpr (T::kFirstSoftmaxTurn && FIRST) {
    if (turn_consumer == 0)
      named_bar_arrive(kBarFirstSoftmax0, 256);
    else if (T::kConsumers == 3 && turn_consumer == 1)
      named_bar_arrive(kBarFirstSoftmax1, 256);
  }
  tr.mark(kTrTurnDone);
}

// O = 0: before a work tile's key tiles where O is not kOUnset (without
// kFreshO the first P V adds to it; with it, zeros still let ptxas drop
// O's registers over the first key tile), or after the loop of a tile
// without keys, whose epilogue stores O as it is.
template <class T>
__device__ __forceinline__ void clear_o(float (&o)[T::kOTiles][4]) {
#pragma unroll
  for (int dt = 0; dt < T::kOTiles; ++dt)
#pragma unroll
    for (int j = 0; j < 4; ++j) o[dt][j] = 0.f;
}

// O *= alpha, skipped when no row of the warp needs it (every alpha 1:
// their maxima did not move, the common case after the first key tiles).
template <class T>
__device__ __forceinline__ void rescale_o(float (&o)[T::kOTiles][4], const float (&alpha)[2]) {
  if (!__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) return;
#pragma unroll
  for (int dt = 0; dt < T::kOTiles; ++dt)
#pragma unroll
    for (int j = 0; j < 4; ++j) o[dt][j] *= alpha[j >> 1];
}

// Zero V rows [first_row, block_n) of a stage (keys past the sequence: they
// may be the next sequence's rows or anything else, NaN included, and P = 0
// times NaN is NaN). A row is kRowBytes contiguous bytes in each panel, so
// the swizzle does not matter. Both consumers share the work, then make the
// stores visible to wgmma (async proxy) and wait for each other.
template <class T>
__device__ __forceinline__ void zero_v_tail(uint32_t sv_stage, int first_row, int ctid) {
  const int rows = T::kBlockN - first_row;
  constexpr int kChunks = T::kRowBytes / 16;  // 16-byte chunks per row
  const int chunks = rows * T::kPanels * kChunks;
  for (int i = ctid; i < chunks; i += 128 * T::kConsumers) {
    const int p = i / (rows * kChunks);
    const int r = first_row + (i / kChunks) % rows;
    st_shared_zero_16(sv_stage + p * T::kBlockN * T::kRowBytes + r * T::kRowBytes + (i % kChunks) * 16);
  }
  fence_proxy_async_shared();
  named_bar_sync(kBarConsumers, 128 * T::kConsumers);
}

// The same stores as zero_v_tail, indexed panel by panel (shifts, not
// divisions by a run-time row count: fewer registers, which the
// overlapped loop is short of).
template <class T>
__device__ __forceinline__ void zero_v_tail_by_panel(uint32_t sv_stage, int first_row, int ctid) {
  constexpr int kShift = T::kRowBytes == 128 ? 3 : 2;  // log2 of the 16-byte chunks per row
  const int chunks = (T::kBlockN - first_row) << kShift;  // 16-byte chunks per panel
#pragma unroll
  for (int p = 0; p < T::kPanels; ++p)
    for (int i = ctid; i < chunks; i += 128 * T::kConsumers)
      st_shared_zero_16(sv_stage + p * T::kBlockN * T::kRowBytes + (first_row + (i >> kShift)) * T::kRowBytes +
                        (i & ((1 << kShift) - 1)) * 16);
  fence_proxy_async_shared();
  named_bar_sync(kBarConsumers, 128 * T::kConsumers);
}

#endif  // __CUDA_ARCH__ >= 900

}  // namespace fa
