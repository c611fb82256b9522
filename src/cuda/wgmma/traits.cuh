// wgmma/traits.cuh - the Hopper forward family's compile-time shape:
// FwdWgmmaTraits (tiles, stages, switches, the shared-memory layout and the
// register budgets, checked against gen/spec.py by the generated units'
// static_asserts), the named barriers and the mbarriers' places.
// A part of fwd_wgmma.cuh (which includes them all, in order); design note
// src/cuda/fwd_wgmma.md.
#pragma once

#include <stdint.h>

#include "attn/tile_order.h"
#include "cuda/common/mask_tile.cuh"
#include "fa_args.h"

namespace fa {

// OVERLAP, TURNS: the scheduling switches of fwd_wgmma.md "Switches"
// (gen/spec.py WGMMA_TILES overlap=/pingpong=; off by default, and then
// the kernel is the first version's, unchanged). SMEM_EPILOGUE: O
// through shared memory (fwd_wgmma.md "Epilogue through shared memory").
// CONSUMERS: consumer warpgroups of 64 query rows each (2, or 3 for FA3's
// 192-row d64 tile; with 3 the ping-pong turns go round, 0 1 2 0 ...).
// Q_BUFFERS: Q tiles in shared memory (2: the next work tile's Q loads
// while this one runs; 1: after its last S = Q K^T, fwd_wgmma.md "Two Q
// buffers"). RESCALE: how the running max moves (RescaleRule).
//
// RescaleRule (gen/spec.py lazy_rescale): exactly, with every tile's max;
// or lazily, only by more than FA_RESCALE_SLACK (attn/softmax.h
// fa_softmax_rescale_lazy), so O's rescale is skipped on most key tiles.
// The lazy rule is decided per row, or first by one vote per warp (when no
// row of the warp moves, the common case, the step is the kept subtrahend
// alone). Which is faster depends on the tile: fwd_wgmma.md "Eighteenth
// session". The speculative rule is the warp's vote taken after the
// exponentials instead of before: they run against the kept maxima, and a
// warp whose check fails (a tile's weights sum past 2^FA_RESCALE_SLACK)
// computes them again by the rule per row (online_softmax_speculative).
enum RescaleRule : int { kRescaleExact = 0, kRescaleLazyRow = 1, kRescaleLazyWarp = 2, kRescaleLazySpeculative = 3 };

// What the consumers take turns over (named barriers, 0 1 0 1 ... across
// the block's work tiles): nothing; the issue of their GEMMs (ping-pong,
// FA3's), so that one's softmax runs under the other's GEMMs; or the
// exponentials of their softmax (cuDNN's d64/d128 kernels: ncu, twenty-second
// session), so that the two never contend for the MUFU pipe and drift half
// a tile apart. Both need the overlapped loop.
enum TurnRule : int { kTurnsNone = 0, kTurnsGemm = 1, kTurnsSoftmax = 2 };

// Bytes of one entry of a block's work-tile list (list_block_tiles).
constexpr int kListEntryBytes = 32;
// After the list's length (16 bytes): the producer's next work tile
// (produce's prepare), three 16-byte words.
constexpr int kNextTileBytes = 48;

template <int HEAD_DIM, int BLOCK_N, int STAGES, typename ElemT, int MASK, bool OVERLAP = false, int TURNS = kTurnsNone,
          bool PERSISTENT = false, bool SMEM_EPILOGUE = false, int CONSUMERS = 2, int Q_BUFFERS = 1,
          int RESCALE = kRescaleExact, bool O_IN_Q = false, bool FIRST_SOFTMAX_TURN = false, int ROW_BLOCKS = 1,
          int LIST_MAX = FA_TILE_LIST_MAX, bool Q_EVICT_FIRST = false, bool O_EVICT_FIRST = false>
struct FwdWgmmaTraits {
  using Elem = ElemT;
  static constexpr int kHeadDim = HEAD_DIM;
  static constexpr int kConsumers = CONSUMERS;           // consumer warpgroups
  static_assert(CONSUMERS == 2 || CONSUMERS == 3, "two or three consumer warpgroups");
  // Row blocks a consumer owns (tile field row_blocks): 1, or 2 (rows
  // 64 c .. and 64 (kConsumers + c) ..; consume_row_pairs): the turns then
  // go round twice per key tile (fwd_wgmma.md "Two row blocks a consumer").
  static constexpr int kRowBlocks = ROW_BLOCKS;
  static_assert(ROW_BLOCKS == 1 || ROW_BLOCKS == 2, "one or two row blocks a consumer");
  static constexpr int kBlockM = 64 * kConsumers * kRowBlocks;  // 64 query rows per consumer and row block
  static constexpr int kBlockN = BLOCK_N;
  static constexpr int kStages = STAGES;
  static constexpr int kThreads = 128 * (1 + kConsumers);
  static constexpr int kMask = MASK;
  // Intra-warpgroup overlap: S(n) = Q K(n)^T and O += P(n-1) V(n-1) issued
  // together; the softmax of S(n) runs while P(n-1) V(n-1) is in flight.
  static constexpr bool kOverlap = OVERLAP;
  // Turns (TurnRule): kPingPong, the consumers take turns issuing their
  // GEMMs, so one's softmax runs under the others' GEMMs; kSoftmaxTurns,
  // turns over the softmax's exponentials instead.
  static constexpr bool kPingPong = TURNS == kTurnsGemm;
  static constexpr bool kSoftmaxTurns = TURNS == kTurnsSoftmax;
  // P packed with the exponentials, inside the turn (online_softmax_deferred)
  static constexpr bool kPackInTurn = kSoftmaxTurns;
  // The overlapped loop's epilogue starts under its last P V (row_ends:
  // sums, 1 / sum, LSE before the wait). With softmax turns (the kernels
  // with the speculative rule, d32-d128) 1-2% less time at d64 s512 causal
  // (measured there); with GEMM turns 1-2.6% more on the three-consumer
  // kernels and -0.7..+1.6% at d128 (then on GEMM turns), so not with
  // those. fwd_wgmma.md "Epilogue".
  static constexpr bool kRowEndsUnderPV = kSoftmaxTurns && kOverlap;
  // A work tile's first P V of a row block writes O (scale-d 0,
  // pv_gemm_issue's fresh) instead of adding to a zeroed O, and skips the
  // first key tile's rescale (alpha 0 there): every loop but the serial one
  // without softmax turns (its online_softmax scales O itself) and the row
  // pairs (d64 none: level to 0.5% slower from s2048, measured).
  static constexpr bool kFreshO = (kOverlap || kSoftmaxTurns) && ROW_BLOCKS == 1;
  // ... and O is left unset before it, not zeroed (a tile without keys
  // clears it after its loop, unless its epilogue stores zeros without it;
  // a split tile's pieces all hold key tiles, so merge_split_tile never
  // reads an unset O). Only in the overlapped loop with softmax turns and
  // one row block: where O is zeroed, ptxas drops those registers over the
  // first key tile (zeros can be made again); unset, they stay live, and
  // the row pairs' kernels spilled (d64: 288 bytes), the serial loop's too
  // (d256: 416 bytes), and the GEMM turns' serialized their wgmma (C7515).
  // fwd_wgmma.md "The first P V".
  static constexpr bool kOUnset = kOverlap && kSoftmaxTurns && ROW_BLOCKS == 1;
  static constexpr bool kTurns = TURNS != kTurnsNone;
  // Persistent grid: at most one block per SM, each taking work tiles
  // blockIdx.x, + gridDim.x, ...; its producer loads the next tile's Q and
  // K/V while the consumers finish the last one (host side only: the
  // kernel always loops over its tiles).
  static constexpr bool kPersistent = PERSISTENT;

  // Shared memory: panels of kPanelCols columns, rows of kRowBytes bytes
  // swizzled as wide as a row (TMA box {kPanelCols, rows}); 64 columns where
  // the head dim allows it (the widest swizzle), 32 otherwise (FA3's choice
  // for d96). The head dim is padded to whole panels (d80: 96).
  static constexpr int kPanelCols = HEAD_DIM % 64 == 0 ? 64 : 32;
  static constexpr int kRowBytes = kPanelCols * 2;
  static constexpr int kHeadDimPadded = (HEAD_DIM + kPanelCols - 1) / kPanelCols * kPanelCols;
  static constexpr int kPanels = kHeadDimPadded / kPanelCols;
  // setmaxnreg: the block starts at 65536 / threads registers per thread
  // (in multiples of 8: 168 for 384 threads, 128 for 512); the producer
  // gives some back, the consumers take them. Two consumers: 24 + 2 x 240
  // = 3 x 168; with more than two panels per tile (d80/d96: three of 32
  // columns; d192, d256) the producer's loops spilled at 24 (d256's tile
  // loop; the paged box loop at d80/d96): 32 + 2 x 232 <= 3 x 168. Three
  // consumers (d64): FA3's 32 + 3 x 160 = 4 x 128.
  static constexpr int kEntryRegs = 65536 / kThreads / 8 * 8;
  static constexpr int kProducerRegs = kConsumers == 3 ? 32 : kPanels > 2 ? 32 : 24;
  static constexpr int kConsumerRegs = kConsumers == 3 ? 160 : kPanels > 2 ? 232 : 240;
  static_assert(kProducerRegs + kConsumerRegs * kConsumers <= kEntryRegs * (1 + kConsumers),
                "setmaxnreg beyond the block's registers");

  // The last round shared by keys (merge_split_tile): walks of single tiles
  // (not the causal kernels: their walks end in the tail), up to 128
  // columns of O (at d192/d256 the merge's path spilled 64-184 bytes: O
  // alone holds 96-128 of the consumers' 232 registers). fwd_wgmma_family.c
  // asks for workspace by the same rule. Not with two row blocks a consumer
  // (the merge keeps one block a thread; both blocks': built, not run,
  // bench/experiments/wgmma-row-pairs-split.patch).
  static constexpr bool kSplitMerge = kHeadDimPadded <= 128 && MASK != kMaskCausal && ROW_BLOCKS == 1;
  // GQA packing (a KV head's query heads in one tile's rows): kernels whose
  // walks are causal-shaped (causal; local, of which the one-sided windows)
  // from 65 up to 128 columns: at d256 local its arithmetic spilled 8 bytes
  // of the consumers', and d64/d32 causal ran 1.4-3.8% slower with the
  // shifts in their code, unpacked calls included (forty-third session).
  // fwd_wgmma_family.c packs by the same rule.
  static constexpr bool kPackGqa = kHeadDimPadded > 64 && kHeadDimPadded <= 128 && MASK != kMaskNone;

  static constexpr int kQBytes = kPanels * kBlockM * kRowBytes;  // one Q tile
  static constexpr int kQBuffers = Q_BUFFERS;
  static_assert(Q_BUFFERS == 1 || Q_BUFFERS == 2, "one or two Q tiles");
  // Q tiles consumed, counted modulo 2 x kQBuffers: the buffer and its
  // mbarrier parity (the consumers keep it in kQCountBits low bits).
  static constexpr int kQCountBits = Q_BUFFERS == 1 ? 1 : 2;
  static constexpr int kKVBytes = kPanels * kBlockN * kRowBytes;  // one K or V stage
  static constexpr int kBarriers = 2 * kQBuffers + 4 * kStages;  // Q full, Q empty (each Q tile); full K, V; empty K, V
  // After the barriers: the block's list of work tiles (kListEntryBytes each) and
  // its length (attn/tile_order.h). The order's varlen tables live in the
  // K/V ring while the list is built, before the first load.
  static constexpr int kListOffset = (kQBuffers * kQBytes + 2 * kStages * kKVBytes + 8 * kBarriers + 15) / 16 * 16;
  static_assert(2 * kStages * kKVBytes >= FA_TILE_TABLE_BYTES, "the tile order's tables fit in the K/V ring");
  // Epilogue through shared memory (switch smem_epilogue; store_tile_smem):
  // a staging area after everything else, 64 rows per consumer, never
  // aliased (the producer may already be loading the next work tile's Q
  // and K/V). Rows of kOStageCols columns of O's accumulator (the padded
  // head dim) plus 16 bytes of padding (an odd number of 16-byte chunks per
  // row: stmatrix without bank conflicts), in passes: the whole width
  // where it fits (d192's 128 x 128 one-stage kernels: 192 in one pass),
  // else 128 where they divide it, else 64, else 32, the widest that fits
  // in what the rest leaves (d192's 128 x 96 kernels, d256: 17.9 KB left
  // after the tiles and a list of 512 entries, 128 rows of 64 + 16 bytes
  // need 18 KB: 32; with TMA stores 64; d256 with 56 entries: 128).
  // With 64-column panels O leaves by TMA stores (kTmaStore,
  // store_tile_tma): the staging rows are then TMA's 128-byte-swizzled
  // panels (no padding; the swizzle keeps stmatrix free of bank conflicts),
  // 1024-aligned, 64, 128 or 192 columns per pass.
  // Entries of the block's list of work tiles (tile field list_max): fewer
  // than FA_TILE_LIST_MAX leave room for a wider staging area (d256: 128
  // columns a pass, not 64, with 56 entries); the host launches whole waves
  // of more blocks where a list would overflow (fa_tile_grid).
  static constexpr int kListMax = LIST_MAX;
  // Tile fields q_evict_first, o_evict_first: Q's loads and O's TMA stores
  // marked first for eviction from L2 (each byte is read or written once),
  // so that they push out fewer of the K/V lines the other query tiles of
  // a head read again (fwd_wgmma.md "L2 eviction hints").
  static constexpr bool kQEvictFirst = Q_EVICT_FIRST;
  static constexpr bool kOEvictFirst = O_EVICT_FIRST;
  static_assert(LIST_MAX >= 16 && LIST_MAX <= FA_TILE_LIST_MAX, "list_max: 16 .. FA_TILE_LIST_MAX entries");
  static constexpr int kSmemBytesNoStage =
      1024 /* alignment slack */ + kListOffset + kListEntryBytes * kListMax + 16 + kNextTileBytes;
  static constexpr bool kSmemEpilogue = SMEM_EPILOGUE;
  // The d64 128 x 192 long-key kernels: their 96 S registers leave no room
  // for what the others take below (each spilled 24 bytes with it).
  static constexpr bool kNoRegisterRoom = kHeadDimPadded == 64 && BLOCK_N > 128;
  // TMA stores of O (not where there is no room: the main loop also grew 2.3%).
  static constexpr bool kTmaStore = SMEM_EPILOGUE && kPanelCols == 64 && !kNoRegisterRoom;
  // Work tiles take their sequence's place from the tile list (shared
  // memory) rather than from cu_seqlens (where there is no room, the
  // consumer's tile loop spilled).
  static constexpr bool kListedPlace = !kNoRegisterRoom;
  // O staged in the warp's own rows of its work tile's Q buffer (tile field
  // stage_o_in_q; TMA stores and two Q tiles): the whole width in one pass,
  // no staging area, and no wait between passes for the earlier stores'
  // reads (d128 stages 64 columns at a time beside two Q tiles: the second
  // pass waited ~350 cycles for the first's). Q goes back to the producer
  // once those stores have read it, at the next work tile's first S (one
  // arrival per consumer warp): with one Q tile that would wait for itself.
  static constexpr bool kOStageInQ = O_IN_Q;
  // The first key tile's exponentials of each work tile in turns (tile
  // switch first_softmax_turn; GEMM turns): the consumers reach that softmax
  // at once after their first S, so without a turn their exponentials
  // contend for the MUFU and the tensor pipe idles under all of them
  // (~1,800 cycles a d128 s512 work tile, fwd_wgmma.md "Where it stands");
  // consumer c waits for consumer c - 1's, which staggers them as the
  // steady state does. Later key tiles keep no such turn.
  static constexpr bool kFirstSoftmaxTurn = FIRST_SOFTMAX_TURN;
  static_assert(!FIRST_SOFTMAX_TURN || TURNS == kTurnsGemm, "first_softmax_turn: GEMM turns (pingpong=True)");
  static_assert(!O_IN_Q || (kTmaStore && Q_BUFFERS == 2 && OVERLAP),
                "stage_o_in_q: TMA stores (64-column panels), two Q tiles and the overlapped loop (which releases Q)");
  static_assert(ROW_BLOCKS == 1 || (MASK != kMaskLocal && OVERLAP && TURNS == kTurnsSoftmax && CONSUMERS == 2 &&
                                    SMEM_EPILOGUE && !O_IN_Q && RESCALE == kRescaleLazySpeculative),
                "row_blocks 2: mask none or causal, the overlapped loop with softmax turns and the speculative "
                "rule, two consumers, the epilogue through shared memory (not in Q)");
  static constexpr int kOStageOffset =  // from the aligned base of shared memory
      kTmaStore ? (kSmemBytesNoStage - 1024 + 1023) / 1024 * 1024 : kSmemBytesNoStage - 1024;
  static constexpr int kOStageLeft = 232448 - 1024 - kOStageOffset;
  static constexpr int kOStagePad = kTmaStore ? 0 : 16;
  static constexpr int kOStageCols =
      kOStageInQ ? kHeadDimPadded
      : kBlockM * (kHeadDimPadded * 2 + kOStagePad) <= kOStageLeft
          ? kHeadDimPadded
      : kHeadDimPadded % 128 == 0 && kBlockM * (128 * 2 + kOStagePad) <= kOStageLeft
          ? 128
          : (kBlockM * (64 * 2 + kOStagePad) <= kOStageLeft ? 64 : 32);
  static constexpr int kOPasses = kHeadDimPadded / kOStageCols;
  static constexpr int kOStageRowBytes = kOStageCols * 2 + kOStagePad;
  static constexpr int kOStageBytes = SMEM_EPILOGUE && !kOStageInQ ? kBlockM * kOStageRowBytes : 0;
  static constexpr int kSmemBytes = kOStageInQ ? kSmemBytesNoStage : 1024 + kOStageOffset + kOStageBytes;
  // Bytes from one 64-column panel of a warp's staged rows to the next: in
  // the Q buffer a whole panel of the tile, in the staging area the warp's
  // 16 rows (2 KB).
  static constexpr int kOPanelStride = kOStageInQ ? kBlockM * kRowBytes : 16 * 128;

  // The mask and softmax helpers (common/mask_tile.cuh, mma_tile.cuh) see
  // one warp's slice of the warpgroup tile: one m16 tile of rows, whose
  // accumulator registers are laid out as mma.sync's (common/wgmma.cuh).
  static constexpr int kMTiles = 1;
  static constexpr int kSTiles = BLOCK_N / 8;
  static constexpr int kOTiles = kHeadDimPadded / 8;  // O's accumulator (N of O += P V)
  static constexpr int kRescale = RESCALE;            // RescaleRule
  static_assert(RESCALE >= kRescaleExact && RESCALE <= kRescaleLazySpeculative, "a RescaleRule");
  // The speculative rule recomputes P when its check fails: P must be the
  // turn's output (packed there), not S's registers
  static_assert(RESCALE != kRescaleLazySpeculative || (TURNS == kTurnsSoftmax && OVERLAP),
                "lazy_rescale='speculative': softmax turns in the overlapped loop (P packed in the turn)");
  static constexpr int kStoreTiles = HEAD_DIM / 8;     // the columns stored
  static constexpr int kQKSteps = HEAD_DIM / 16;       // padded columns are not multiplied
  static constexpr int kStepsPerPanel = kPanelCols / 16;
  static constexpr int kPVSteps = BLOCK_N / 16;
  // Key tiles whose right half no row of a consumer sees (the diagonal
  // tile of a causal work tile for its first consumer, a sequence's last
  // tile with at most half a tile of keys) multiply their left half only,
  // in a second copy of the serial loop's body (HalfKeys: the same traits
  // at half the key tile; fwd_wgmma.md "Half key tiles"). Where half a
  // tile is a wgmma_ss instantiation; not for mask none, whose dense rows
  // never take it.
  static constexpr bool kHalfKeyTiles = !OVERLAP && MASK != kMaskNone && (BLOCK_N == 128 || BLOCK_N == 192);
  using HalfKeys = FwdWgmmaTraits<HEAD_DIM, BLOCK_N / 2, STAGES, ElemT, MASK, OVERLAP, TURNS, PERSISTENT, SMEM_EPILOGUE,
                                  CONSUMERS, Q_BUFFERS, RESCALE, O_IN_Q, FIRST_SOFTMAX_TURN, ROW_BLOCKS, LIST_MAX,
                                  Q_EVICT_FIRST, O_EVICT_FIRST>;

  static_assert(HEAD_DIM % 16 == 0 && HEAD_DIM >= 32 && HEAD_DIM <= 256, "head dim: a multiple of 16 in 32..256");
  static_assert(kHeadDimPadded % 32 == 0 && (kHeadDimPadded <= 128 || kHeadDimPadded % 64 == 0),
                "O += P V: N is a wgmma_rs_bt instantiation (32, 64, 96, 128, 192, 256)");
  static_assert(BLOCK_N % 16 == 0 && BLOCK_N >= 16 && BLOCK_N <= 256, "block_n: multiple of 16 in 16..256");
  static_assert(BLOCK_N == 64 || BLOCK_N == 96 || BLOCK_N == 128 || BLOCK_N == 176 || BLOCK_N == 192,
                "block_n: a wgmma_ss instantiation");
  static_assert(kSmemBytes <= 232448, "more shared memory than an sm_90 block may have");
  static_assert(sizeof(Elem) == 2, "16-bit storage");
  static_assert(TURNS != kTurnsGemm || OVERLAP, "GEMM turns are built on the overlapped loop");
  static_assert(TURNS >= kTurnsNone && TURNS <= kTurnsSoftmax, "a TurnRule");
  static_assert(!SMEM_EPILOGUE || (kOStageCols % 16 == 0 && kOPasses * kOStageCols == kOTiles * 8),
                "smem_epilogue: the passes cover O's accumulator, an even number of n8 tiles each (stmatrix pairs)");
  static_assert(!SMEM_EPILOGUE || kSmemBytes <= 232448,
                "smem_epilogue: the O staging area does not fit beside the Q and K/V tiles (fewer stages, or off)");
  static_assert(kSmemBytesNoStage % 16 == 0, "the O staging area at the end must be 16-byte aligned");
  static_assert(!kTmaStore || kOStageCols % 64 == 0, "TMA stores: whole 64-column panels per pass");
};

// Rows of one K/V TMA box: a whole key tile, or in a paged cache with
// pages smaller than a tile, one page (the host's map and the producer's
// box loop both use it).
template <class T>
__host__ __device__ __forceinline__ int kv_box_rows(bool paged, int page_size) {
  return paged && page_size < T::kBlockN ? page_size : T::kBlockN;
}

// Pages smaller than a key tile: four threads issue the boxes
// (load_tiles_split).
template <class T>
__host__ __device__ __forceinline__ bool split_issue(const fa_fwd_args &a) {
  return a.block_table != nullptr && a.page_size < T::kBlockN;
}

// Named barriers (0 is __syncthreads). kBarTurn0 + c: consumer c's turn to
// issue its GEMMs (ping-pong only).
enum WgmmaNamedBarrier {
  kBarConsumers = 1,
  kBarTurn0 = 2,
  kBarTurn1 = 3,
  kBarTurn2 = 4,
  // kFirstSoftmaxTurn: consumer c arrives on kBarFirstSoftmax0 + c after its
  // first exponentials, consumer c + 1 waits on it before its own
  kBarFirstSoftmax0 = 5,
  kBarFirstSoftmax1 = 6
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// The mbarriers after the tiles: Q full and Q empty of each Q tile, then
// per stage full K, full V, empty K, empty V (8 bytes each).
template <class T>
struct WgmmaBarriers {
  uint32_t base;
  static constexpr int kQ = 2 * T::kQBuffers;  // the Q barriers before the ring's
  __device__ __forceinline__ uint32_t q(int qb) const { return base + 8 * qb; }
  __device__ __forceinline__ uint32_t q_empty(int qb) const { return base + 8 * (T::kQBuffers + qb); }
  __device__ __forceinline__ uint32_t k_full(int s) const { return base + 8 * (kQ + s); }
  __device__ __forceinline__ uint32_t v_full(int s) const { return base + 8 * (kQ + T::kStages + s); }
  __device__ __forceinline__ uint32_t k_empty(int s) const { return base + 8 * (kQ + 2 * T::kStages + s); }
  __device__ __forceinline__ uint32_t v_empty(int s) const { return base + 8 * (kQ + 3 * T::kStages + s); }
};

// The n-th fill of a ring of N buffers, each guarded by its own mbarriers:
// the buffer, and the parity of the barriers' phase for that fill.
template <int N>
__device__ __forceinline__ int ring_buffer(unsigned n) {
  return (int)(n % N);
}
template <int N>
__device__ __forceinline__ uint32_t ring_fill_parity(unsigned n) {
  return (n / N) & 1u;
}

// The n-th Q tile a block loads (counted over its work tiles).
template <class T>
__device__ __forceinline__ int q_buffer(unsigned n) { return ring_buffer<T::kQBuffers>(n); }
template <class T>
__device__ __forceinline__ uint32_t q_parity(unsigned n) { return ring_fill_parity<T::kQBuffers>(n); }

#endif  // __CUDA_ARCH__ >= 900

}  // namespace fa
