// wgmma/producer.cuh - the producer role (warpgroup 0): the first work
// tile's loads issued before the list where the walk allows it, then each
// listed tile's Q and K/V through the ring (K/V kept where the next tile
// reads the same). A part of fwd_wgmma.cuh.
#pragma once

#include <cuda.h>  // CUtensorMap (types only)
#include <stdint.h>

#include "attn/mask.h"
#include "attn/sequence.h"
#include "attn/tile_order.h"
#include "cuda/ptx.cuh"
#include "cuda/wgmma/loads.cuh"
#include "cuda/wgmma/traits.cuh"
#include "cuda/wgmma/work_tiles.cuh"
#include "cuda/wgmma_trace.cuh"
#include "fa_args.h"

namespace fa {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// Whether the block issues its first work tile's Q and first K and V before
// listing its tiles (issue_first_tile): a persistent call without varlen
// tables whose walk's tail the host chose (dense calls, launch_fwd_wgmma),
// without a paged cache and without the last round's key split. Its entry
// 0 then follows from the kernel parameters (and seqused_k) alone. Uniform
// over the grid.
template <class T>
__device__ __forceinline__ bool early_first_tile(const fa_fwd_args &a) {
  return T::kPersistent && a.walk_tail.known && a.cu_seqlens_q == nullptr && a.block_table == nullptr &&
         !a.split_last_round;
}

// The block's first work tile as list_block_tiles lists it (entry 0),
// where early_first_tile holds: its Q into Q tile 0 and its first K and V
// tiles into the ring's stages (first_issued_key_tiles), as the producer's
// first issues would be on fresh barriers (load_q, load_kv_tiles), so that
// they are in flight while the block lists its tiles. The producer skips
// those issues and their slots' empty waits (produce's first_issued) where
// its first tile with keys is entry 0, which is when this issued them. One
// thread, after griddep_wait and the barriers' init.
template <class T>
__device__ __forceinline__ void issue_first_tile(const fa_fwd_args &a, const CUtensorMap *tm_q,
                                                 const CUtensorMap *tm_k, const CUtensorMap *tm_v,
                                                 const WgmmaBarriers<T> &bar, uint32_t sq, uint32_t sk, uint32_t sv) {
  fa_tile_order order = dense_order<T>(a);
  order.tile_kv_bytes = order_tile_kv_bytes<T>(a);
  fa_tile_order_apply_tail(&order, &a.walk_tail);
  if (fa_block_tiles(&order, blockIdx.x, gridDim.x) == 0) return;
  const fa_tile_pos pos =
      fa_block_tile(&order, blockIdx.x, gridDim.x, fa_block_pair_steps(&order, blockIdx.x, gridDim.x), 0);
  WgmmaTile t;
  t.b = pos.b;
  t.head = pos.head;
  t.m0 = pos.m_block * T::kBlockM;
  t.seq = fa_locate_sequence(&a, pos.b);
  t.run = pos.m_block >= 0 && t.m0 < packed_rows<T>(a, t.seq.len_q) && fa_seq_selected(&a, &t.seq);
  t.keys = 0;
  if (!t.run) return;
  const fa_tile_plan plan = plan_tile<T>(a, t);
  if (plan.n_block_min >= plan.n_block_max) return;
  const MapCoords qc = q_coords(t, 0, pack_shift<T>(a));
  load_q<T>(tm_q, bar, sq, 0, qc.x, qc.y, t.b);
  const int kv_head = tile_kv_head<T>(a, t), kv_batch = a.cu_seqlens_k != nullptr ? 0 : t.b;
  const int k_row = (int)t.seq.k_start;
  const PageTable none = {nullptr, 0, 0};
  const int n_end = plan.n_block_min + first_issued_key_tiles<T>(plan.n_block_min, plan.n_block_max);
  for (int n = plan.n_block_min, s = 0; n < n_end; ++n, ++s) {  // ring stages 0, 1, ..: fresh, nothing to wait for
    mbar_arrive_expect_tx(bar.k_full(s), T::kKVBytes);
    load_kv_tile<T, false, true>(sk + s * T::kKVBytes, tm_k, bar.k_full(s), none, t.seq.len_k, k_row, kv_head, kv_batch,
                                 n, PageCursor{0, 0});
    mbar_arrive_expect_tx(bar.v_full(s), T::kKVBytes);
    load_kv_tile<T, false, false>(sv + s * T::kKVBytes, tm_v, bar.v_full(s), none, t.seq.len_k, k_row, kv_head,
                                  kv_batch, n, PageCursor{0, 0});
  }
}

// Whether the work tile about to be prepared starts on the K and V tile
// the one being loaded ends on (same sequence, KV head and key tile), so
// that with one stage both are still in their slots: a causal pair's short
// tile 0 ends on key tile 0, where its long tile starts (at d256 s512
// causal 128 KB of the 1.5 MB a head loads). `next` holds the tile being
// loaded where `current`: {.., .., .., b}, {.., kv_head, .., ..},
// {n_block_min, n_block_max, paged, kv_resident}.
template <class T>
__device__ __forceinline__ uint32_t kv_resident(uint32_t next, bool current, uint32_t b, uint32_t kv_head,
                                                int n_block_min) {
  if constexpr (T::kStages != 1) {
    return 0u;
  } else {
    if (!current) return 0u;
    return ld_shared_4(next + 12) == b && ld_shared_4(next + 20) == kv_head &&
                   ld_shared_4(next + 36) == (uint32_t)n_block_min + 1u
               ? 1u
               : 0u;
  }
}

// One thread, every work tile of the block in turn: Q once the consumers
// released the Q tile it goes into (q_empty), then K and V of every visited
// key tile into the ring. Each work tile is prepared one ahead, during the
// loads of the tile before (load_kv_tiles' `ahead`): its place, plan and
// load coordinates go to shared memory after the list's length, and with
// two Q tiles its Q is issued there too. So one tile's last K/V loads are
// followed at once by the next tile's first, and its Q is in flight a tile
// early. (Loaded after the tile before's last V, behind the list and
// argument reads, Q had landed ~130 cycles after the consumers wanted it
// at d128 s512: median; mean 490 of a 15,000-cycle work tile; d128 s512
// full takes 3-3.5% less time this way: fwd_wgmma.md "Producer".)
template <class T>
__device__ __forceinline__ void produce(const fa_fwd_args &a, const CUtensorMap *tm_q, const CUtensorMap *tm_k,
                                        const CUtensorMap *tm_v, const WgmmaBarriers<T> &bar, uint32_t sq,
                                        uint32_t sk, uint32_t sv, uint32_t list, bool first_issued) {
  unsigned q_loads = 0, j = 0;  // Q tiles and key tiles loaded so far (barrier parities)
  const unsigned tile_count = ld_shared_4(list + kListEntryBytes * T::kListMax);
  // The next work tile: {q_x, q_y, q_batch, b} (load_q), {k_row, kv_head,
  // kv_batch, len_k}, {n_block_min, n_block_max, paged, 0}
  const uint32_t next = list + kListEntryBytes * T::kListMax + 16;
  Tracer tr(0, true);  // empty unless FA_WGMMA_TRACE_CAP (wgmma_trace.cuh)
  const auto issue_q = [&](int q_x, int q_y, int q_batch) {
    const int qb = q_buffer<T>(q_loads);
    mbar_wait_sleep(bar.q_empty(qb), q_parity<T>(q_loads) ^ 1u);  // a fresh barrier passes parity 1 at once
    ++q_loads;
    load_q<T>(tm_q, bar, sq, qb, q_x, q_y, q_batch);
  };
  // first_issued: where the first tile with keys is entry 0, its Q and its
  // first K and V tiles were issued before the list (issue_first_tile).
  first_issued = first_issued && tile_count > 0;
  // The first work tile from k on that visits keys (the consumers skip the
  // others alike and need no Q for them), prepared; its index, or
  // tile_count where none is left. current: a work tile is being loaded
  // (its place still in `next`).
  const auto prepare = [&](const fa_fwd_args &args, unsigned k, bool current) -> unsigned {
    for (; k < tile_count; ++k) {
      const WgmmaTile t = locate_tile<T>(args, list, k);
      if (!t.run) continue;
      const fa_tile_plan plan = plan_tile<T>(args, t);
      if (plan.n_block_min >= plan.n_block_max) continue;
      const bool paged = args.block_table != nullptr;
      if (paged && plan.n_block_min * T::kBlockN < t.seq.len_k)  // its first tile's entries
        prefetch_l1(args.block_table + (int64_t)t.b * args.block_table_stride +
                    plan.n_block_min * T::kBlockN / args.page_size);
      // the shift from the constant bank (the kernel's `a`), not through
      // args' pointer: one more generic load spilled the 24-register producer
      const MapCoords qc = q_coords(t, 0, pack_shift<T>(a));
      const int q_batch = args.cu_seqlens_q == nullptr ? t.b : 0;
      const int k_row = paged ? 0 : (int)t.seq.k_start;
      const int kv_batch = paged || args.cu_seqlens_k != nullptr ? 0 : t.b;
      const uint32_t kv_head = (uint32_t)tile_kv_head<T>(args, t);
      // Read before `next` is overwritten: the tile being loaded, if any.
      const uint32_t resident = kv_resident<T>(next, current && !paged, (uint32_t)t.b, kv_head, plan.n_block_min);
      st_shared_16(next, (uint32_t)qc.x, (uint32_t)qc.y, (uint32_t)q_batch, (uint32_t)t.b);
      st_shared_16(next + 16, (uint32_t)k_row, kv_head, (uint32_t)kv_batch, (uint32_t)t.seq.len_k);
      st_shared_16(next + 32, (uint32_t)plan.n_block_min, (uint32_t)plan.n_block_max, paged ? 1u : 0u, resident);
      if constexpr (T::kQBuffers == 2) {
        if (first_issued && k == 0)
          ++q_loads;
        else
          issue_q(qc.x, qc.y, q_batch);
      }
      return k;
    }
    return tile_count;
  };
  // The first tile's arguments from the constant bank: at the kernel's
  // start the generic loads below put ~1,500 cycles between the consumers'
  // first tile and its Q issue; from the constant bank ~530
  // (bench/trace_wgmma.sh, d64 s512 causal, twenty-fourth session). Not
  // beyond two panels: d256's producer spilled 32 bytes with both copies.
  unsigned k;
  if constexpr (T::kPanels <= 2) {
    k = prepare(a, 0, false);
  } else {
    const fa_fwd_args *pa = &a;
    asm volatile("" : "+l"(pa));
    k = prepare(*pa, 0, false);
  }
  if (T::kQBuffers == 2 && k < tile_count) tr.mark(kTrProdQ, q_loads - 1);
  while (k < tile_count) {
    // The arguments read through a pointer the compiler cannot keep:
    // otherwise it hoists their sign extensions out of the loop and spills
    // them (the producer has 24 registers).
    const fa_fwd_args *pa = &a;
    asm volatile("" : "+l"(pa));
    const uint4 q = ld_shared_16(next), kv = ld_shared_16(next + 16), nb = ld_shared_16(next + 32);
    if constexpr (T::kQBuffers == 1) {  // its Q tile is free only now
      if (first_issued && k == 0)
        ++q_loads;
      else
        issue_q((int)q.x, (int)q.y, (int)q.z);
      tr.mark(kTrProdQ, q_loads - 1);
    }
    unsigned k_next = tile_count;
    // The Q mark after prepare returns, not at the issue: there it spilled
    // the traced producer (24 registers)
    const auto ahead = [&] {
      k_next = prepare(*pa, k + 1, true);
      if (T::kQBuffers == 2 && k_next < tile_count) tr.mark(kTrProdQ, q_loads - 1);
    };
    if (nb.z != 0)
      load_kv_tiles<T, true>(*pa, tm_k, tm_v, bar, sk, sv, (int)q.w, (int)kv.w, (int)kv.x, (int)kv.y, (int)kv.z,
                             (int)nb.x, (int)nb.y, false, j, tr, ahead);
    else
      load_kv_tiles<T, false>(*pa, tm_k, tm_v, bar, sk, sv, (int)q.w, (int)kv.w, (int)kv.x, (int)kv.y, (int)kv.z,
                              (int)nb.x, (int)nb.y, nb.w != 0u, j, tr, ahead, first_issued && k == 0);
    j += nb.y - nb.x;
    k = k_next;
  }
  tr.finish();
}

// The same work-tile loop for the four issuers of split_issue (issuer 0
// loads Q too), run by each producer warp whole with one elected lane
// issuing: the issuer index comes from a shuffle, so the compiler knows it
// (and all that follows from it) to be the same over the warp and keeps
// the copies' operands in uniform registers. With lane 0 alone running
// it, every TMA issue became a loop over lanes and the 24-register
// producer spilled. A loop of its own rather than a branch in produce's:
// it spilled with both in one loop.
template <class T>
__device__ __forceinline__ void produce_split(const fa_fwd_args &a, const CUtensorMap *tm_q, const CUtensorMap *tm_kv,
                                              const WgmmaBarriers<T> &bar, uint32_t sq, uint32_t stages,
                                              uint32_t list, int issuer) {
  const bool leader = elect_one();
  unsigned q_loads = 0, j = 0;
  for (unsigned k = 0; k < ld_shared_4(list + kListEntryBytes * T::kListMax); ++k) {  // the count read again too
    // The arguments straight from the constant bank (as operands): read
    // through a pointer, as produce does, their values took registers and
    // the loop spilled.
    const WgmmaTile t = locate_tile<T>(a, list, k);
    if (!t.run) continue;
    const fa_tile_plan plan = plan_tile<T>(a, t);
    if (plan.n_block_min >= plan.n_block_max) continue;
    if (issuer == 0) {
      const int qb = q_buffer<T>(q_loads);
      mbar_wait_sleep(bar.q_empty(qb), q_parity<T>(q_loads) ^ 1u);
      ++q_loads;
      if (leader) {
        const MapCoords qc = q_coords(t, 0, pack_shift<T>(a));
        load_q<T>(tm_q, bar, sq, qb, qc.x, qc.y, a.cu_seqlens_q == nullptr ? t.b : 0);
      }
    }
    load_tiles_split<T>(a, tm_kv, stages, bar, t.b, t.seq.len_k, tile_kv_head<T>(a, t), plan.n_block_min,
                        plan.n_block_max, j, issuer, leader);
    j += (unsigned)(plan.n_block_max - plan.n_block_min);
  }
}

#endif  // __CUDA_ARCH__ >= 900

}  // namespace fa
