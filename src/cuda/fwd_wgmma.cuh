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
#pragma once

#include <cuda.h>          // CUtensorMap and its enums (types only: nothing links libcuda)
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled_v12000
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "attn/mask.h"
#include "attn/sequence.h"
#include "attn/softmax.h"
#include "attn/tile_order.h"
#include "cuda/common/launch.cuh"
#include "cuda/common/mask_tile.cuh"
#include "cuda/common/mma_tile.cuh"
#include "cuda/common/quad.cuh"
#include "cuda/common/tensor_map.cuh"
#include "cuda/common/wgmma.cuh"
#include "cuda/ptx.cuh"
#include "cuda/wgmma_trace.cuh"
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

// ------------------------------------------------------------ producer

// The K/V stage of the j-th key tile a block loads (counted over all its
// work tiles).
template <class T>
__device__ __forceinline__ int ring_slot(unsigned j) { return ring_buffer<T::kStages>(j); }
template <class T>
__device__ __forceinline__ uint32_t ring_parity(unsigned j) { return ring_fill_parity<T::kStages>(j); }

// A key tile's first key in a paged cache as (table column, row in the
// page), carried from tile to tile: the box loop then needs no division by
// the run-time page size (an integer division per box, 16 per tile at
// pages of 16, cost the paged chunk 1.5x: fwd_wgmma.md "Paged K/V").
struct PageCursor {
  int col, row;
};

__device__ __forceinline__ PageCursor page_cursor(const fa_fwd_args &a, int key) {
  if (a.block_table == nullptr) return {0, 0};
  const int col = key / a.page_size;
  return {col, key - col * a.page_size};
}

// The cursor kBlockN keys further, given the column after the tile's
// boxes (load_kv_tile's result): pages of at most kBlockN rows hold whole
// tiles' worth of columns, so that column starts the next tile; larger
// pages (multiples of kBlockN) step kBlockN rows inside the page.
template <class T>
__device__ __forceinline__ PageCursor next_tile(int page_size, PageCursor at, int col_end) {
  if (page_size <= T::kBlockN) return {col_end, 0};
  at.row += T::kBlockN;
  if (at.row == page_size) at = {at.col + 1, 0};
  return at;
}

// What the producer's box loop needs of a paged cache, read from the
// kernel's arguments once per work tile: the TMA issues in the loop are
// asm with memory clobbers, after which every field of `a` was loaded
// again (3 dependent loads in front of each page's table read: the page-16
// producer's stalls, ncu 2026-11-30).
struct PageTable {
  const int *row;  // the sequence's block table row
  int last_page;   // num_pages - 1: entries are clamped into the pool
  int page_size;
};

__device__ __forceinline__ PageTable page_table(const fa_fwd_args &a, int b) {
  if (a.block_table == nullptr) return {nullptr, 0, 0};
  // Entries are int32: a pool bound past INT32_MAX clamps nothing more.
  const int last_page = (int)(a.num_pages - 1 < INT32_MAX ? a.num_pages - 1 : INT32_MAX);
  return {a.block_table + (int64_t)b * a.block_table_stride, last_page, a.page_size};
}

// Where key tile n's rows come from. Contiguous K/V: one box of kBlockN
// rows per panel at {column, k_row + n * kBlockN, head, kv_batch} (rows are
// the sequence's offset (varlen) plus the tile's; the batch coordinate is
// the batch index only in dense mode). Paged (PAGED): boxes of box_rows =
// min(page_size, kBlockN) rows, each inside one page, at {column, j %
// page_size, head, page of j}: one box per panel when pages hold whole
// tiles, kBlockN / page_size boxes (8-row aligned: the swizzle atom) in
// consecutive table columns when tiles hold whole pages (the host declines
// other page sizes). The entries are read after the stage wait, as L1 hits,
// each a box ahead of its use (PREFETCH_NEXT: K's call prefetches the next
// tile's line; the result is the column after the boxes, for next_tile;
// reading the first entry before the wait, to overlap it, measured no
// better and spilled at d80/d96: fwd_wgmma.md). A box past the sequence's keys reads page 0 (its
// rows are masked, its V rows zeroed; table columns past the sequence are
// never read).
template <class T, bool PAGED, bool PREFETCH_NEXT>
__device__ __forceinline__ int load_kv_tile(uint32_t dst, const CUtensorMap *tm, uint32_t bar, const PageTable &pt,
                                             int len_k, int k_row, int kv_head, int kv_batch, int n, PageCursor at) {
  if constexpr (!PAGED) {
#pragma unroll
    for (int p = 0; p < T::kPanels; ++p)
      tma_load_4d(dst + p * T::kBlockN * T::kRowBytes, tm, bar, T::kPanelCols * p, k_row + n * T::kBlockN, kv_head,
                  kv_batch);
  } else {
    const int box_rows = kv_box_rows<T>(true, pt.page_size);
    const int key0 = n * T::kBlockN;
    int col = at.col;
    int entry = key0 < len_k ? pt.row[col] : 0;
    for (int r = 0; r < T::kBlockN; r += box_rows, ++col) {
      const int page = key0 + r < len_k ? min(max(entry, 0), pt.last_page) : 0;
      // The next box's entry, read before this box's issues: its latency
      // hides behind them instead of preceding the next box's.
      const int r_next = r + box_rows;
      entry = r_next < T::kBlockN && key0 + r_next < len_k ? pt.row[col + 1] : 0;
#pragma unroll
      for (int p = 0; p < T::kPanels; ++p)
        tma_load_4d(dst + (p * T::kBlockN + r) * T::kRowBytes, tm, bar, T::kPanelCols * p, at.row, kv_head, page);
    }
    // The next tile's entries into L1: its reads after its stage wait then
    // hit L1 instead of making an L2 round trip in front of its TMA issue
    // (a tile's entries, at most kBlockN / 8 ints, share one 128-byte line
    // when the row is aligned).
    if (PREFETCH_NEXT && (n + 1) * T::kBlockN < len_k)
      prefetch_l1(pt.row + next_tile<T>(pt.page_size, at, col).col);
    return col;
  }
  return 0;
}

// Q of one work tile (128 rows, one box per panel) into Q tile qb.
// q_x, q_y: the map's second and third coordinates, {first head, row}
// (q_coords).
template <class T>
__device__ __forceinline__ void load_q(const CUtensorMap *tm_q, const WgmmaBarriers<T> &bar, uint32_t sq, int qb,
                                       int q_x, int q_y, int q_batch) {
  const uint32_t dst = sq + qb * T::kQBytes;
  mbar_arrive_expect_tx(bar.q(qb), T::kQBytes);
#pragma unroll
  for (int p = 0; p < T::kPanels; ++p)
    tma_load_4d<T::kQEvictFirst>(dst + p * T::kBlockM * T::kRowBytes, tm_q, bar.q(qb), T::kPanelCols * p, q_x, q_y,
                                 q_batch);
}


// Key tiles of the block's first work tile that issue_first_tile loads:
// as many as the ring holds (the producer's first issues wait for no
// stage), at most the tile's.
template <class T>
__device__ __forceinline__ int first_issued_key_tiles(int n_block_min, int n_block_max) {
  return min(T::kStages, n_block_max - n_block_min);
}

// K and V of each key tile of one work tile, each into the next ring stage
// once both consumers released it; j0: the ring position of its first key
// tile. `ahead` runs once, after the loads of the tile's second key tile
// (its first, where it has one): the producer prepares its next work tile
// there (produce), where it would otherwise wait for a stage.
// first_resident: the tile's first K and V are the ones the work tile
// before ended on, still in their one-stage slots (produce's
// kv_resident): their full barriers get a plain arrival, no copy.
template <class T, bool PAGED, class Ahead>
__device__ __forceinline__ void load_kv_tiles(const fa_fwd_args &a, const CUtensorMap *tm_k, const CUtensorMap *tm_v,
                                              const WgmmaBarriers<T> &bar, uint32_t sk, uint32_t sv, int b, int len_k,
                                              int k_row, int kv_head, int kv_batch, int n_block_min, int n_block_max,
                                              bool first_resident, unsigned j0, Tracer &tr, Ahead &&ahead,
                                              bool first_issued = false) {
  // paged: one division per work tile (not read unpaged: the arguments
  // come through a generic pointer, a load on the way to the first K)
  PageCursor at = PAGED ? page_cursor(a, n_block_min * T::kBlockN) : PageCursor{0, 0};
  const PageTable pt = PAGED ? page_table(a, b) : PageTable{nullptr, 0, 0};
  const int n_ahead = min(n_block_min + 1, n_block_max - 1);
  for (int n = n_block_min; n < n_block_max; ++n) {
    const unsigned j = j0 + (unsigned)(n - n_block_min);
    const int s = ring_slot<T>(j);
    const uint32_t phase = ring_parity<T>(j);
    // The slot is released even where it is kept: the consumers are then
    // done with the tile before, and the full barrier's phases stay paired.
    const bool resident = !PAGED && T::kStages == 1 && first_resident && n == n_block_min;
    // Issued by issue_first_tile, before the list, into fresh slots: no
    // wait, not even a fresh barrier's pass. The consumers may already have
    // used and released such a slot; a wait for parity 1 after that release
    // waits for the slot's second release, which needs this producer's next
    // fill: the hang of the first runs (ninety-ninth session; found by
    // reading in the hundredth). (Not resident: k == 0 has no tile before.)
    const bool issued = !PAGED && first_issued && n < n_block_min + first_issued_key_tiles<T>(n_block_min, n_block_max);
    if (!issued) mbar_wait_sleep(bar.k_empty(s), phase ^ 1u);  // a fresh barrier passes parity 1 at once
    tr.mark(kTrProdK, j);
    int col_end = 0;
    if (resident) {
      mbar_arrive(bar.k_full(s));
    } else if (!issued) {
      mbar_arrive_expect_tx(bar.k_full(s), T::kKVBytes);  // full box bytes, even past the tensor's end
      col_end = load_kv_tile<T, PAGED, true>(sk + s * T::kKVBytes, tm_k, bar.k_full(s), pt, len_k, k_row, kv_head,
                                             kv_batch, n, at);
    }
    if (!issued) mbar_wait_sleep(bar.v_empty(s), phase ^ 1u);
    tr.mark(kTrProdV, j);
    if (resident) {
      mbar_arrive(bar.v_full(s));
    } else if (!issued) {
      mbar_arrive_expect_tx(bar.v_full(s), T::kKVBytes);
      load_kv_tile<T, PAGED, false>(sv + s * T::kKVBytes, tm_v, bar.v_full(s), pt, len_k, k_row, kv_head, kv_batch,
                                    n, at);
    }
    if constexpr (PAGED) at = next_tile<T>(pt.page_size, at, col_end);
    if (n == n_ahead) ahead();
  }
}

// Paged K/V with pages smaller than a key tile (kBlockN / page_size boxes
// per panel): four issuers, one elected lane (leader) of each producer
// warp, warps 0 and 1 issuing the even and the odd boxes of K, warps 2 and
// 3 of V (the full barriers expect two arrivals, each announcing its
// boxes' bytes). The whole warp walks the loop and reads the entries.
// One thread issuing every box (16 per K or V tile at pages of 16 and
// d128, each after its table entry) was the limit of the chunked prefill
// over such pages (0.69x of a contiguous cache; fwd_wgmma.md "Paged K/V").
template <class T>
__device__ __forceinline__ void load_tiles_split(const fa_fwd_args &a, const CUtensorMap *tm, uint32_t stages,
                                                 const WgmmaBarriers<T> &bar, int b, int len_k, int kv_head,
                                                 int n_block_min, int n_block_max, unsigned j0, int issuer,
                                                 bool leader) {
  const int half = issuer & 1;
  const PageTable pt = page_table(a, b);
  const int *table = pt.row, last_page = pt.last_page, page_size = pt.page_size;
  // Pages divide the key tile here (the host declines other sizes), so key
  // tile n starts at table column n x tile_cols, row 0 of its page.
  const int tile_cols = T::kBlockN / page_size;  // boxes per panel and key tile (>= 2)
  const uint32_t bytes = (uint32_t)((tile_cols - half + 1) / 2 * page_size * T::kRowBytes * T::kPanels);
  for (int n = n_block_min; n < n_block_max; ++n) {
    const unsigned j = j0 + (unsigned)(n - n_block_min);
    const int s = ring_slot<T>(j);
    const uint32_t full = issuer >= 2 ? bar.v_full(s) : bar.k_full(s);
    mbar_wait_sleep(issuer >= 2 ? bar.v_empty(s) : bar.k_empty(s), ring_parity<T>(j) ^ 1u);
    if (leader) mbar_arrive_expect_tx(full, bytes);
    const uint32_t dst = stages + s * T::kKVBytes;
    const int key0 = n * T::kBlockN;
    int col = n * tile_cols + half;
    int entry = key0 + half * page_size < len_k ? table[col] : 0;
    for (int r = half * page_size; r < T::kBlockN; r += 2 * page_size, col += 2) {
      const int page = key0 + r < len_k ? min(max(entry, 0), last_page) : 0;
      const int r_next = r + 2 * page_size;  // the next box's entry, read ahead of this box's issues
      entry = r_next < T::kBlockN && key0 + r_next < len_k ? table[col + 2] : 0;
      if (leader)
#pragma unroll
        for (int p = 0; p < T::kPanels; ++p)
          tma_load_4d(dst + (p * T::kBlockN + r) * T::kRowBytes, tm, full, T::kPanelCols * p, 0, kv_head, page);
    }
    if (leader && key0 + T::kBlockN < len_k) prefetch_l1(table + (n + 1) * tile_cols + half);  // the next tile's entries
  }
}

// ------------------------------------------------------------ consumer stages

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

// ------------------------------------------------------------ work tiles

// A work tile is 128 query rows of one (sequence, head): the grid's block
// index in the first version, one of several per block with the persistent
// grid. The producer and the consumers derive the same values from the
// tile index, so they agree on which tiles run and how many key tiles each
// visits without talking.
struct WgmmaTile {
  int b, head, m0;
  fa_seq seq;
  bool run;       // the tile has query rows and its sequence is this launch's
  uint32_t keys;  // a piece of a split tile: its key tiles [keys & 0xFFFF, keys >> 16) of the tile's; 0: all
};

// GQA packing (fa_fwd_args.pack_gqa_shift = s = log2 G, planned by the
// family): a work tile's rows are (token, head) pairs of one KV head's G
// query heads, row = token x G + head, so one tile reads the KV head's
// K/V for all G heads and a sequence's last row tile holds G times the
// tokens (fwd_wgmma.md "Next steps" item 5). t.head is then the KV head
// and t.m0 the tile's first packed row (a multiple of G); with s = 0 the
// same arithmetic is the tile of one query head (t.head).
// The shift a kernel of traits T applies: 0 where it never packs
// (FwdWgmmaTraits::kPackGqa), so that code folds away there.
template <class T>
__host__ __device__ __forceinline__ int pack_shift(const fa_fwd_args &a) { return T::kPackGqa ? a.pack_gqa_shift : 0; }

// A sequence's rows in the tiles' units (packed: tokens x G).
template <class T>
__host__ __device__ __forceinline__ int packed_rows(const fa_fwd_args &a, int len_q) { return len_q << pack_shift<T>(a); }

// The query head of the tile's row r (rows r and r + 8 share it: G divides 8).
template <class T>
__device__ __forceinline__ int tile_row_head(const fa_fwd_args &a, const WgmmaTile &t, int r) {
  const int s = pack_shift<T>(a);
  return (t.head << s) + (r & ((1 << s) - 1));
}

// The KV head of the tile's rows.
template <class T>
__device__ __forceinline__ int tile_kv_head(const fa_fwd_args &a, const WgmmaTile &t) {
  return (t.head << pack_shift<T>(a)) / a.heads_per_kv;
}

// The Q and O maps' coordinates {first head, row} of a work tile's row r
// (the heads maps, encode_heads_map: a box of G heads x rows).
struct MapCoords {
  int x, y;
};
__device__ __forceinline__ MapCoords q_coords(const WgmmaTile &t, int r, int s) {
  return MapCoords{t.head << s, (int)t.seq.q_start + ((t.m0 + r) >> s)};
}

// The walk of a call as if its sequences were all of seqlen_q (the dense
// call's, and the varlen call's before its tables): m_tiles query tiles
// each. The host builds it too (launch_fwd_wgmma: the dense call's tail).
template <class T>
__host__ __device__ __forceinline__ fa_tile_order dense_order(const fa_fwd_args &a) {
  const int m_tiles = (packed_rows<T>(a, a.seqlen_q) + T::kBlockM - 1) / T::kBlockM;
  const uint32_t heads = (uint32_t)(pack_shift<T>(a) > 0 ? a.num_heads_k : a.num_heads_q);
  // causal-shaped: a tile's keys grow with its index (window bounded on one side)
  const int zigzag = (window_left_of<T::kMask>(a) < 0) != (window_right_of<T::kMask>(a) < 0);
  return fa_tile_order_dense(m_tiles, a.batch, heads, zigzag);
}

// A unit's K/V per query tile, as if its keys were its query rows (the
// tail's order, attn/tile_order.h).
template <class T>
__host__ __device__ __forceinline__ uint32_t order_tile_kv_bytes(const fa_fwd_args &a) {
  static_assert(sizeof(typename T::Elem) == 2, "fa_tile_kv_bytes counts 16-bit K and V");
  return fa_tile_kv_bytes((uint32_t)(T::kBlockM >> pack_shift<T>(a)), T::kHeadDim);
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// The walk's tail of single tiles (attn/tile_order.h): the size
// fa_tile_order_tail would choose, its FA_TILE_TAIL_CHOICES candidates
// scored on the lanes of each warp (every warp alike, so no barrier; one
// thread looping over them costs microseconds of integer divisions).
// counted: the ranks' counts from the varlen tables' pass (rank_sequence),
// or null (no tables: counted here from the dense shape).
__device__ __forceinline__ void choose_tail(fa_tile_order *order, uint32_t lane, const fa_tile_tail_counts *counted) {
  static_assert(FA_TILE_TAIL_CHOICES <= 256, "a candidate's index fits the key's low byte");
  if (!order->zigzag) return;  // before the warp's reduction: a constant for masks none and causal
  const fa_tile_tail_span span =
      counted != nullptr ? fa_tile_tail_span_counted(order, counted, gridDim.x) : fa_tile_tail_span_of(order, gridDim.x);
  uint32_t best = ~0u;  // score << 8 | candidate: the lowest score, then the fewest units
  uint32_t units;
  for (uint32_t c = lane; fa_tile_tail_choice(&span, c, &units); c += 32)
    best = min(best, fa_tile_tail_score(order, &span, units, gridDim.x) << 8 | c);
  best = __reduce_min_sync(0xffffffffu, best);
  if (best != ~0u) fa_tile_order_set_tail(order, &span, span.fewest + (best & 0xFFu));
}

// Key tiles a slot of the walk's steps visits (plan_tile), -1 for a slot
// without a tile to run.
template <class T>
__device__ __forceinline__ int slot_key_tiles(const fa_fwd_args &a, const fa_tile_order &order, uint32_t slot) {
  const fa_tile_pos pos = fa_tile_position(&order, slot);
  if (pos.m_block < 0) return -1;
  const fa_seq seq = fa_locate_sequence(&a, pos.b);
  const int m0 = pos.m_block * T::kBlockM;
  if (m0 >= packed_rows<T>(a, seq.len_q) || !fa_seq_selected(&a, &seq)) return -1;
  const int s = pack_shift<T>(a);
  const fa_tile_plan p = fa_plan_key_tiles(m0 >> s, T::kBlockM >> s, seq.len_q, seq.len_k, window_left_of<T::kMask>(a),
                                           window_right_of<T::kMask>(a), T::kBlockN);
  return p.n_block_max - p.n_block_min;
}

// The last round shared by keys (attn/tile_order.h), where the call planned
// it (workspace for the partials, sized for a grid of sm_count blocks), the
// walk is of single tiles and the last round's tiles all visit the same
// number of key tiles: every thread checks some of them. Uniform over the
// block (a block-wide barrier inside).
template <class T>
__device__ __forceinline__ fa_tile_split plan_split(const fa_fwd_args &a, const fa_tile_order &order, int tid) {
  const fa_tile_split none = {0, 0, 0, 0};
  if (!T::kSplitMerge || !a.split_last_round || order.zigzag || gridDim.x > (unsigned)a.sm_count ||
      order.count % gridDim.x == 0)
    return none;
  const uint32_t first = order.count - order.count % gridDim.x;
  const int n = slot_key_tiles<T>(a, order, first);
  bool same = true;
  for (uint32_t i = first + (uint32_t)tid; i < order.count; i += T::kThreads)
    same = same && slot_key_tiles<T>(a, order, i) == n;
  if (!__syncthreads_and(same) || n <= 0) return none;
  return fa_tile_split_of(&order, gridDim.x, (uint32_t)n);
}

// Sequence b's rank and its ranks' slots (fa_tile_seq_rank_end) into the
// tables, from q_tiles padded with zeros to `padded` entries, 8 a load (one
// pass of 16-byte loads: the two loops of 2-byte loads it replaces took
// ~4,000 cycles at batch 32, ninety-sixth session). The same pass counts
// the tail's ranks (fa_tile_tail_count): the last sequence with tiles
// writes them to *counts, so the tail's choice needs no bisections over
// the ranks (two dependent shared loads a step).
__device__ __forceinline__ void rank_sequence(const uint16_t *q_tiles, int padded, uint32_t heads, int zigzag,
                                              int b, uint16_t *by_rank, uint32_t *ranks_end,
                                              fa_tile_tail_counts *counts) {
  const uint32_t q_b = q_tiles[b];
  int32_t rank = 0;
  uint32_t slots = 0, with_tiles = 0, same = 0;
  for (int i0 = 0; i0 < padded; i0 += 8) {
    const uint4 w = *reinterpret_cast<const uint4 *>(q_tiles + i0);
    const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const uint32_t q_i = words[e / 2] >> (16 * (e & 1)) & 0xFFFFu;
      fa_tile_rank_count(q_i, i0 + e, q_b, b, heads, zigzag, &rank, &slots);
      fa_tile_tail_count(q_i, q_b, &with_tiles, &same);
    }
  }
  by_rank[rank] = (uint16_t)b;
  ranks_end[rank] = slots;
  // the padding's zeros count as sequences without tiles: same is exact where q_b > 0
  if (q_b != 0 && (uint32_t)rank + 1u == with_tiles) *counts = fa_tile_tail_counts{with_tiles, q_b, same};
}

// The block's work tiles, listed by all its threads before the roles split
// (attn/tile_order.h: longest sequences first, a head's query tiles
// adjacent, zigzag under causal-shaped masks and then a tail of single
// tiles, snake rounds over the grid; varlen calls within the cap from
// tables of the sequences' lengths built here too). The producer (24
// registers) and the consumers then only read entry k (kListEntryBytes):
// {b, head, m_block, 0} and the sequence's place
// {q_start, k_start, len_q, len_k}, located here for every entry at once,
// so that a work tile's start and epilogue read shared memory instead of
// waiting for cu_seqlens / seqused_k loads. tables: generic pointer to the
// K/V ring (free until the first load); list: shared address of the list,
// its length after T::kListMax entries. Uniform over the block (kernel
// args).
template <class T>
__device__ __forceinline__ void list_block_tiles(const fa_fwd_args &a, unsigned char *tables, uint32_t list,
                                                 int tid) {
  fa_tile_order order = dense_order<T>(a);
  const int m_tiles = order.m_tiles;
  const uint32_t heads = order.heads;
  const int zigzag = order.zigzag;
  fa_tile_tail_counts *counts = nullptr;  // the varlen tables' counts of the ranks (rank_sequence)
  if (fa_tile_tables_fit(a.cu_seqlens_q != nullptr, a.batch, m_tiles)) {
    uint16_t *q_tiles = reinterpret_cast<uint16_t *>(tables);
    uint16_t *by_rank = reinterpret_cast<uint16_t *>(tables + 2 * FA_TILE_TABLE_MAX_BATCH);
    uint32_t *ranks_end = reinterpret_cast<uint32_t *>(tables + 4 * FA_TILE_TABLE_MAX_BATCH);
    counts = reinterpret_cast<fa_tile_tail_counts *>(tables + 8 * FA_TILE_TABLE_MAX_BATCH);
    if (tid == 0) *counts = fa_tile_tail_counts{0, 0, 0};  // no sequence with tiles: nobody writes them
    // q_tiles padded with zeros to a multiple of 8 entries (FA_TILE_TABLE_MAX_BATCH is one): a
    // sequence of no tiles ranks after every other and has no slots, so the pass below reads the
    // table 8 entries a load without a tail
    const int padded = (a.batch + 7) & ~7;
    for (int b = tid; b < padded; b += T::kThreads) {
      uint16_t n = 0;
      if (b < a.batch) {
        const fa_seq seq = fa_locate_sequence(&a, b);
        const int q = (packed_rows<T>(a, seq.len_q) + T::kBlockM - 1) / T::kBlockM;
        n = (uint16_t)(fa_seq_selected(&a, &seq) ? min(q, m_tiles) : 0);  // 0: the pair's other launch
      }
      q_tiles[b] = n;
    }
    __syncthreads();
    trace_block_point(2);
    for (int b = tid; b < a.batch; b += T::kThreads)
      rank_sequence(q_tiles, padded, heads, zigzag, b, by_rank, ranks_end, counts);
    __syncthreads();
    trace_block_point(3);
    order = fa_tile_order_tables(m_tiles, a.batch, heads, zigzag, q_tiles, by_rank, ranks_end);
  }
  order.tile_kv_bytes = order_tile_kv_bytes<T>(a);
  if (a.walk_tail.known)
    fa_tile_order_apply_tail(&order, &a.walk_tail);  // dense: the host's choice (launch_fwd_wgmma)
  else
    choose_tail(&order, tid & 31, counts);
  const fa_tile_split split = plan_split<T>(a, order, tid);
  trace_block_point_after(4, split.tiles ^ order.tail_tiles);
  const uint32_t full = split.tiles != 0 ? split.first / gridDim.x : 0u;  // rounds before the shared one
  const uint32_t tiles = split.tiles != 0 ? full + fa_split_block_pieces(&split, blockIdx.x)
                                          : fa_block_tiles(&order, blockIdx.x, gridDim.x);
  const uint32_t pairs = fa_block_pair_steps(&order, blockIdx.x, gridDim.x);
  for (uint32_t k = (uint32_t)tid; k < tiles; k += T::kThreads) {
    fa_tile_pos pos;
    uint32_t keys = 0;  // WgmmaTile::keys
    if (split.tiles != 0 && k >= full) {
      const fa_split_piece piece = fa_split_block_piece(&split, blockIdx.x, k - full);
      pos = fa_tile_position(&order, split.first + piece.tile);
      if (piece.count > 1) keys = piece.lo | piece.hi << 16;
    } else {
      pos = fa_block_tile(&order, blockIdx.x, gridDim.x, pairs, k);  // may be an empty slot
    }
    if (k == 0) trace_block_point_after(5, (uint32_t)(pos.b ^ pos.head ^ pos.m_block));
    fa_seq seq = {0, 0, 0, 0};
    if (T::kListedPlace && pos.m_block >= 0) seq = fa_locate_sequence(&a, pos.b);
    if (k == 0) trace_block_point_after(6, (uint32_t)(seq.q_start ^ seq.k_start) ^ (uint32_t)(seq.len_q ^ seq.len_k));
    // q_start and k_start come from int32 cu_seqlens (or are 0): 32 bits hold them
    st_shared_16(list + kListEntryBytes * k, (uint32_t)pos.b, (uint32_t)pos.head, (uint32_t)pos.m_block, keys);
    st_shared_16(list + kListEntryBytes * k + 16, (uint32_t)seq.q_start, (uint32_t)seq.k_start, (uint32_t)seq.len_q,
                 (uint32_t)seq.len_k);
  }
  // After the entries: their count, and the split for merge_split_tile
  // ({first piece entry, n}, {R, G'}; R 0: none) and its broadcast word.
  if (tid == 0)
    st_shared_16(list + kListEntryBytes * T::kListMax, tiles, full | split.n << 16,
                 split.tiles | split.blocks << 16, 0u);
  // The tables' stores before TMA writes the ring, and thread 0's barrier
  // inits before the copy engine completes bytes on them (HOPPER.md 2.8:
  // the CUDA guide's TMA example orders init, proxy fence, barrier, copy).
  fence_proxy_async_shared();
  trace_block_point(7);
}

// Entry k of the block's tile list, its sequence as list_block_tiles found it.
template <class T>
__device__ __forceinline__ WgmmaTile locate_tile(const fa_fwd_args &a, uint32_t list, unsigned k) {
  const uint4 e = ld_shared_16(list + kListEntryBytes * k);
  WgmmaTile t;
  t.b = (int)e.x;
  t.head = (int)e.y;
  t.m0 = (int)e.z * T::kBlockM;
  if constexpr (T::kListedPlace) {
    const uint4 place = ld_shared_16(list + kListEntryBytes * k + 16);
    t.seq.q_start = place.x;
    t.seq.k_start = place.y;
    t.seq.len_q = (int32_t)place.z;
    t.seq.len_k = (int32_t)place.w;
  } else {
    t.seq = fa_locate_sequence(&a, t.b);
  }
  t.run = (int)e.z >= 0 && t.m0 < packed_rows<T>(a, t.seq.len_q) && fa_seq_selected(&a, &t.seq);
  t.keys = T::kSplitMerge ? e.w : 0u;  // a constant where the kernel never splits
  return t;
}

#endif  // __CUDA_ARCH__ >= 900
template <class T>
__device__ __forceinline__ fa_tile_plan plan_tile(const fa_fwd_args &a, const WgmmaTile &t) {
  const int s = pack_shift<T>(a);
  fa_tile_plan p = fa_plan_key_tiles(t.m0 >> s, T::kBlockM >> s, t.seq.len_q, t.seq.len_k, window_left_of<T::kMask>(a),
                                     window_right_of<T::kMask>(a), T::kBlockN);
  if (T::kSplitMerge && t.keys != 0) {  // a piece: its share of the tile's key tiles (list_block_tiles)
    p.n_block_max = p.n_block_min + (int)(t.keys >> 16);
    p.n_block_min += (int)(t.keys & 0xFFFFu);
  }
  return p;
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// ------------------------------------------------------------ producer role

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

// ------------------------------------------------------------ consumer role

// The rows' totals (attn/softmax.h: sinks, empty rows, NaN rows) from
// the quad's sums: each quad of lanes holds one row's columns.
template <class T>
__device__ __forceinline__ void row_totals(const fa_fwd_args &a, const WgmmaTile &t, const float (&row_max)[1][2],
                                           const float (&row_sum)[1][2], int warp_row0, int lane,
                                           fa_row_total (&total)[2]) {
  // The thread's two rows (lane / 4 and + 8 of the warp's) have one head.
  const int head = tile_row_head<T>(a, t, warp_row0 + (lane >> 2));
  const float sink = a.sinks != nullptr ? a.sinks[head] * kLog2e : -INFINITY;
#pragma unroll
  for (int half = 0; half < 2; ++half)
    total[half] = fa_row_with_sink(row_max[0][half], quad_sum(row_sum[0][half]), sink);
}

// The rows' LSE (rows < len_q), from each quad's first lane.
template <class T>
__device__ __forceinline__ void store_lse(const fa_fwd_args &a, const WgmmaTile &t, const fa_row_total (&total)[2],
                                          int warp_row0, int lane) {
  if (a.lse == nullptr || (lane & 3) != 0) return;
  const int s = pack_shift<T>(a), head = tile_row_head<T>(a, t, warp_row0 + (lane >> 2));
  float *lse = a.lse + t.b * a.lse_batch_stride + head * a.lse_head_stride + t.seq.q_start + (t.m0 >> s);
  const int rows_left = packed_rows<T>(a, t.seq.len_q) - t.m0;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = warp_row0 + (lane >> 2) + half * 8;
    if (r < rows_left) lse[r >> s] = fa_row_lse(total[half]);
  }
}

// What the rows' end needs but O (kRowEndsUnderPV: run under the last P
// V, which reads nothing of it): the factors 1 / sum, and the LSE stored.
template <class T>
__device__ __forceinline__ void row_ends(const fa_fwd_args &a, const WgmmaTile &t, const float (&row_max)[1][2],
                                         const float (&row_sum)[1][2], int warp_row0, int lane, float (&inv)[2],
                                         Tracer &tr) {
  fa_row_total total[2];
  row_totals<T>(a, t, row_max, row_sum, warp_row0, lane, total);
  tr.mark(kTrRowSums);
#pragma unroll
  for (int half = 0; half < 2; ++half) inv[half] = fa_row_out_scale(total[half]);
  store_lse<T>(a, t, total, warp_row0, lane);
}

// The rows' end, the first step of every epilogue: O scaled by 1 / sum, and
// the LSE stored, unless row_ends did that already (`ends_done`; `ends`:
// its factors).
// Both rows' sums, then the scaling, then the LSE stores: with a row's
// store between them the two rows' shuffle and divide chains ran one after
// the other (a branch per row).
template <class T>
__device__ __forceinline__ void finish_rows(const fa_fwd_args &a, const WgmmaTile &t, float (&o)[T::kOTiles][4],
                                            const float (&row_max)[1][2], const float (&row_sum)[1][2],
                                            int warp_row0, int lane, const float (&ends)[2], bool ends_done,
                                            Tracer *tr = nullptr) {
  fa_row_total total[2];
  float inv[2];
  if (ends_done) {
    inv[0] = ends[0], inv[1] = ends[1];
  } else {
    row_totals<T>(a, t, row_max, row_sum, warp_row0, lane, total);
    if (tr != nullptr) tr->mark(kTrRowSums);
#pragma unroll
    for (int half = 0; half < 2; ++half) inv[half] = fa_row_out_scale(total[half]);
  }
#pragma unroll
  for (int dt = 0; dt < T::kOTiles; ++dt)
#pragma unroll
    for (int j = 0; j < 4; ++j) o[dt][j] *= inv[j >> 1];
  if (!ends_done) {
    if (tr != nullptr) tr->mark(kTrRowsScaled);
    store_lse<T>(a, t, total, warp_row0, lane);
  }
}

// The work tile's O at its row `row` (packed: the sequence's row
// (t.m0 + row) >> s, head tile_row_head).
template <class T>
__device__ __forceinline__ typename T::Elem *tile_out_row(const fa_fwd_args &a, const WgmmaTile &t, int row) {
  return static_cast<typename T::Elem *>(a.out) + t.b * a.out_batch_stride +
         (t.seq.q_start + ((t.m0 + row) >> pack_shift<T>(a))) * a.out_row_stride +
         tile_row_head<T>(a, t, row) * a.out_head_stride;
}

// Epilogue of one work tile: finish_rows, then O straight from registers
// (4-byte stores; a quad covers 16 contiguous bytes of a row).
template <class T>
__device__ __forceinline__ void store_tile(const fa_fwd_args &a, const WgmmaTile &t, float (&o)[T::kOTiles][4],
                                           const float (&row_max)[1][2], const float (&row_sum)[1][2], int warp_row0,
                                           int lane, const float (&ends)[2], bool ends_done) {
  using Elem = typename T::Elem;
  finish_rows<T>(a, t, o, row_max, row_sum, warp_row0, lane, ends, ends_done);
  const int rows_left = packed_rows<T>(a, t.seq.len_q) - t.m0;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = warp_row0 + (lane >> 2) + half * 8;
    if (r < rows_left) {
      Elem *row = tile_out_row<T>(a, t, r) + (lane & 3) * 2;
#pragma unroll
      for (int dt = 0; dt < T::kStoreTiles; ++dt)  // not the padded columns
        *reinterpret_cast<uint32_t *>(row + dt * 8) = pack2<Elem>(o[dt][2 * half], o[dt][2 * half + 1]);
    }
  }
}

// O's n8 tiles dt and dt + 1 (a thread's fragments of the warp's 16 rows),
// rounded to 16 bits, as one stmatrix x4 at this lane's address `addr`.
template <class T>
__device__ __forceinline__ void stmatrix_o_tiles(const float (&o)[T::kOTiles][4], int dt, uint32_t addr) {
  using Elem = typename T::Elem;
  const uint32_t r[4] = {pack2<Elem>(o[dt][0], o[dt][1]), pack2<Elem>(o[dt][2], o[dt][3]),
                         pack2<Elem>(o[dt + 1][0], o[dt + 1][1]), pack2<Elem>(o[dt + 1][2], o[dt + 1][3])};
  stmatrix_x4(addr, r);
}

// Epilogue through shared memory (switch smem_epilogue; fwd_wgmma.md):
// finish_rows, then per pass of kOStageCols columns each warp stages its own
// 16 rows in the staging area `so` (rows of kOStageRowBytes) with stmatrix
// and copies them out with 16-byte loads and stores, consecutive lanes on
// consecutive 16-byte chunks of a row; rows past the sequence (r >= len_q -
// m0: the next sequence's, in varlen) are never written. A warp reads only
// the rows it wrote, so __syncwarp orders the two (no barrier over the
// warpgroup); the one before each pass's stmatrix waits until the warp's
// previous copy-out (previous pass or work tile) has read its rows.
template <class T>
__device__ __forceinline__ void store_tile_smem(const fa_fwd_args &a, const WgmmaTile &t, float (&o)[T::kOTiles][4],
                                                const float (&row_max)[1][2], const float (&row_sum)[1][2],
                                                int warp_row0, int lane, uint32_t so, const float (&ends)[2],
                                                bool ends_done, int row_block = 0) {
  constexpr int kRow = T::kOStageRowBytes;
  constexpr int kTilesPerPass = T::kOStageCols / 8;  // n8 tiles (16-byte chunks of a row) per pass
  finish_rows<T>(a, t, o, row_max, row_sum, warp_row0, lane, ends, ends_done);
  // The thread's place read again (a volatile read of %tid.x): otherwise
  // the staging addresses below, which depend only on the thread, are
  // hoisted out of the work-tile loop and kept live across it (d256
  // causal/local spilled 12 bytes).
  const unsigned tid = thread_index_x();
  // the warp's first row in the tile (warps 4.. are the consumers'; a
  // second row block 64 kConsumers rows further)
  const unsigned wrow0 = ((tid >> 5) - 4) * 16 + row_block * 64 * T::kConsumers;
  const unsigned ln = tid & 31;                  // lane
  const uint32_t so_w = so + wrow0 * kRow;
  // stmatrix: lanes 8j..8j+7 address rows i = lane % 8 of matrix j: j & 1
  // the row half (+8), j >> 1 the n8 tile of the pair (+16 bytes).
  const uint32_t st_addr = so_w + ((ln & 7) + ((ln >> 3) & 1) * 8) * kRow + (ln >> 4) * 16;
  const int rows_left = packed_rows<T>(a, t.seq.len_q) - t.m0 - (int)wrow0;  // of this warp's rows
#pragma unroll
  for (int pass = 0; pass < T::kOPasses; ++pass) {
    __syncwarp();  // the warp's previous copy-out has read its staging rows
#pragma unroll
    for (int u = 0; u < kTilesPerPass / 2; ++u) {
      stmatrix_o_tiles<T>(o, pass * kTilesPerPass + 2 * u, st_addr + u * 32);
    }
    __syncwarp();  // the warp's 16 rows staged
    // Chunk i = 32 it + lane of the pass: row i / kTilesPerPass, chunk
    // i % kTilesPerPass (consecutive lanes, consecutive chunks of a row).
    // All loads first (the staging rows are all valid), then the stores of
    // the rows < len_q; a chunk past the head dim (an accumulator wider
    // than the head dim) is not stored.
    constexpr int kIters = 16 * kTilesPerPass / 32;
    constexpr bool kWhole = 32 % kTilesPerPass == 0;  // the same chunk in every iteration
    const auto row_of = [&](int it) -> unsigned {
      return kWhole ? ln / kTilesPerPass + it * (32 / kTilesPerPass) : (32u * it + ln) / kTilesPerPass;
    };
    const auto chunk_of = [&](int it) -> unsigned {  // in the pass
      return kWhole ? ln % kTilesPerPass : (32u * it + ln) % kTilesPerPass;
    };
    uint4 v[kIters];
#pragma unroll
    for (int it = 0; it < kIters; ++it) v[it] = ld_shared_16(so_w + row_of(it) * kRow + chunk_of(it) * 16);
#pragma unroll
    for (int it = 0; it < kIters; ++it) {
      const unsigned r = row_of(it), k = pass * kTilesPerPass + chunk_of(it);
      if ((int)r < rows_left && k < T::kStoreTiles)
        st_global_16(tile_out_row<T>(a, t, (int)(wrow0 + r)) + k * 8, v[it]);
    }
  }
}

// O of a warp's 16 rows (rows_left of them in the sequence) as zeros, 16
// bytes a lane: a work tile without keys, where O has no Q tile to be staged
// in (kOStageInQ; store_tile from registers spilled at d64's 160 registers).
template <class T>
__device__ __forceinline__ void store_zero_rows(const fa_fwd_args &a, const WgmmaTile &t, unsigned wrow0,
                                                int rows_left, unsigned ln) {
  for (unsigned i = ln; i < 16u * T::kStoreTiles; i += 32u) {
    const int r = (int)(i / T::kStoreTiles), k = (int)(i % T::kStoreTiles);
    if (r < rows_left)
      st_global_16(tile_out_row<T>(a, t, (int)wrow0 + r) + k * 8, make_uint4(0u, 0u, 0u, 0u));
  }
}

// Epilogue by TMA stores (kTmaStore: 64-column panels): finish_rows, then
// per pass of kOStageCols columns each warp stages its own 16 rows as
// 64-column panels in TMA's 128-byte swizzle (16 rows x 128 bytes, 2 KB,
// 16-byte chunk c of row r at (c ^ r % 8) x 16) and lane 0 stores each
// panel with one cp.async.bulk.tensor. The map's bounds drop the rows past
// a dense sequence and the columns past the head dim. In a varlen call a
// warp whose rows cross the sequence's end copies its rows out itself (the
// rows after the end are the next sequence's). Before the warp writes its
// staging rows again, lane 0 waits until its stores have read them; with
// kOStageInQ the rows are the warp's own in its work tile's Q buffer (`so`
// is that buffer), one pass, and that wait is release_staged_q's.
template <class T>
__device__ __forceinline__ void store_tile_tma(const fa_fwd_args &a, const WgmmaTile &t, float (&o)[T::kOTiles][4],
                                               const float (&row_max)[1][2], const float (&row_sum)[1][2],
                                               int warp_row0, int lane, uint32_t so, const CUtensorMap *tm_o,
                                               bool any_keys, const float (&ends)[2], bool ends_done, Tracer &tr,
                                               int row_block = 0) {
  using Elem = typename T::Elem;
  constexpr int kPanelsPerPass = T::kOStageCols / 64;
  constexpr int kTilesPerPass = T::kOStageCols / 8;  // n8 tiles (16-byte chunks of a row) per pass
  finish_rows<T>(a, t, o, row_max, row_sum, warp_row0, lane, ends, ends_done, &tr);
  tr.mark(kTrRowsDone);
  const unsigned tid = thread_index_x();  // read again: see store_tile_smem
  const unsigned wrow0 = ((tid >> 5) - 4) * 16 + row_block * 64 * T::kConsumers;  // as in store_tile_smem
  const unsigned ln = tid & 31;
  const uint32_t so_w = T::kOStageInQ ? so + wrow0 * T::kRowBytes : so + (wrow0 / 16) * kPanelsPerPass * 2048;
  // stmatrix: lanes 8j..8j+7 address rows r = lane % 8 (+8 for j & 1) of
  // matrix j, chunk 2u + j / 2 of the panel, swizzled: (2u + j / 2) ^ (r % 8)
  // = ((j / 2) ^ (r % 8)) ^ 2u, so pair u's address is this one XOR (u << 5).
  const uint32_t st_addr = so_w + ((ln & 7) + ((ln >> 3) & 1) * 8) * 128 + ((((ln >> 4) ^ ln) & 7) << 4);
  const int rows_left = packed_rows<T>(a, t.seq.len_q) - t.m0 - (int)wrow0;  // of this warp's rows
  const bool dense = a.cu_seqlens_q == nullptr;
  if (T::kOStageInQ && !any_keys) {  // no Q tile to stage in; rows that see no key are 0
    store_zero_rows<T>(a, t, wrow0, rows_left, ln);
    return;
  }
  // From lane 0 by a shuffle, so ptxas knows the branch below to be
  // warp-uniform: a branch it must treat as divergent, with __syncwarp and
  // the elected issue inside, moved the main loop's ring arithmetic out of
  // the uniform datapath (1810 -> 1861 instructions at d64, 32 R2UR).
  const bool by_tma = __shfl_sync(0xffffffffu, (int)(dense || rows_left >= 16), 0) != 0;
  // The lane that issues and waits (bulk groups are per thread): elected,
  // so ptxas knows one converged warp takes the branch (lane == 0 made the
  // surrounding tile loop divergent: its uniform-register code moved to
  // vector registers and every row ran 2-13% slower, sixteenth session).
  const bool issuer = elect_one();
#pragma unroll
  for (int pass = 0; pass < T::kOPasses; ++pass) {
    if constexpr (!T::kOStageInQ) {
      // the warp's earlier stores have read its staging rows (two row
      // blocks: all but the newest, the other block's, whose rows differ)
      if constexpr (T::kRowBlocks == 2) {
        if (issuer) bulk_wait_read_but_one();
      } else if (issuer) {
        bulk_wait_read();
      }
    }
    __syncwarp();
    tr.mark(kTrPassStaging, pass);
#pragma unroll
    for (int q = 0; q < kPanelsPerPass; ++q)
#pragma unroll
      for (int u = 0; u < 4; ++u) {  // stmatrix_o_tiles written out: the call here
        // reallocated d128's epilogue registers (same instructions), untimed
        const int dt = pass * kTilesPerPass + q * 8 + 2 * u;
        const uint32_t r[4] = {pack2<Elem>(o[dt][0], o[dt][1]), pack2<Elem>(o[dt][2], o[dt][3]),
                               pack2<Elem>(o[dt + 1][0], o[dt + 1][1]), pack2<Elem>(o[dt + 1][2], o[dt + 1][3])};
        stmatrix_x4((st_addr + q * T::kOPanelStride) ^ (u << 5), r);
      }
    if (by_tma) {
      fence_proxy_async_shared();  // the stmatrix writes before the async proxy reads them
      __syncwarp();
      if (issuer) {
        const MapCoords oc = q_coords(t, (int)wrow0, pack_shift<T>(a));  // the O map is Q's kind
#pragma unroll
        for (int q = 0; q < kPanelsPerPass; ++q)
          tma_store_4d<T::kOEvictFirst>(tm_o, so_w + q * T::kOPanelStride, pass * T::kOStageCols + q * 64, oc.x,
                                        oc.y, dense ? t.b : 0);
        bulk_commit_group();
      }
      tr.mark(kTrPassStored, pass);
    } else {
      __syncwarp();
      // Chunk i = 32 it + lane of the pass: row i / kTilesPerPass, chunk
      // k = i % kTilesPerPass (panel k / 8, chunk k % 8 in it); loads first,
      // then the stores of the rows < len_q.
      constexpr int kIters = 16 * kTilesPerPass / 32;
      uint4 v[kIters];
#pragma unroll
      for (int it = 0; it < kIters; ++it) {
        const unsigned rr = (32u * it + ln) / kTilesPerPass, k = (32u * it + ln) % kTilesPerPass;
        v[it] = ld_shared_16(so_w + (k / 8) * T::kOPanelStride + rr * 128 + (((k % 8) ^ (rr & 7)) << 4));
      }
#pragma unroll
      for (int it = 0; it < kIters; ++it) {
        const unsigned rr = (32u * it + ln) / kTilesPerPass, k = pass * kTilesPerPass + (32u * it + ln) % kTilesPerPass;
        if ((int)rr < rows_left && k < T::kStoreTiles)
          st_global_16(tile_out_row<T>(a, t, (int)(wrow0 + rr)) + k * 8, v[it]);
      }
      // Q rows written and read by the generic proxy: ordered before the
      // producer's next TMA load into them, which release_staged_q's elected
      // lane allows; the warp barrier orders every lane's reads before that
      // lane's arrive (elect.sync converges the warp but is not a fence)
      if constexpr (T::kOStageInQ) {
        fence_proxy_async_shared();
        __syncwarp();
      }
    }
  }
}

// Both row blocks of a consume_row_pairs consumer (TMA stores, one pass:
// d64): store_tile_tma's steps once for the two blocks (one wait for the
// staging rows, one proxy fence, one warp barrier, one bulk group) where
// it ran them per block, with the rows' ends done (row_ends: `inv_a`,
// `inv_b`; `ends_done`). false, with nothing stored, for a work tile
// without keys (`ends_done` false) and where a warp's block B rows cross a
// varlen sequence's end (store_tile_tma copies those rows itself): the
// caller stores per block, and the warp's earlier stores have read all
// its staging rows (store_tile_tma waits for all but the newest group,
// which this function's group for both blocks would be).
template <class T>
__device__ __forceinline__ bool store_pair_tma(const fa_fwd_args &a, const WgmmaTile &t, float (&oa)[T::kOTiles][4],
                                               float (&ob)[T::kOTiles][4], const float (&inv_a)[2],
                                               const float (&inv_b)[2], bool ends_done, uint32_t so,
                                               const CUtensorMap *tm_o, Tracer &tr) {
  static_assert(T::kTmaStore && !T::kOStageInQ && T::kOPasses == 1 && T::kRowBlocks == 2, "store_pair_tma");
  constexpr int kPanels = T::kOStageCols / 64;
  const unsigned tid = thread_index_x();  // read again: see store_tile_smem
  const unsigned ln = tid & 31;
  const unsigned wrow_a = ((tid >> 5) - 4) * 16, wrow_b = wrow_a + 64 * T::kConsumers;
  // block B's rows end last: where they may go by TMA, A's may too
  const int rows_left_b = packed_rows<T>(a, t.seq.len_q) - t.m0 - (int)wrow_b;
  const bool dense = a.cu_seqlens_q == nullptr;
  const bool by_tma = __shfl_sync(0xffffffffu, (int)(dense || rows_left_b >= 16), 0) != 0;  // warp-uniform
  const bool issuer = elect_one();
  if (issuer) bulk_wait_read();  // the warp's earlier stores have read both blocks' staging rows
  __syncwarp();
  if (!by_tma || !ends_done) return false;
#pragma unroll
  for (int dt = 0; dt < T::kOTiles; ++dt)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      oa[dt][j] *= inv_a[j >> 1];
      ob[dt][j] *= inv_b[j >> 1];
    }
  tr.mark(kTrRowsDone);
  // as store_tile_tma's stmatrix addresses
  const uint32_t lane_off = ((ln & 7) + ((ln >> 3) & 1) * 8) * 128 + ((((ln >> 4) ^ ln) & 7) << 4);
  const uint32_t so_a = so + (wrow_a / 16) * kPanels * 2048, so_b = so + (wrow_b / 16) * kPanels * 2048;
#pragma unroll
  for (int q = 0; q < kPanels; ++q)
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      stmatrix_o_tiles<T>(oa, q * 8 + 2 * u, (so_a + lane_off + q * T::kOPanelStride) ^ (u << 5));
      stmatrix_o_tiles<T>(ob, q * 8 + 2 * u, (so_b + lane_off + q * T::kOPanelStride) ^ (u << 5));
    }
  fence_proxy_async_shared();  // the stmatrix writes before the async proxy reads them
  __syncwarp();
  if (issuer) {
    const MapCoords ca = q_coords(t, (int)wrow_a, pack_shift<T>(a)), cb = q_coords(t, (int)wrow_b, pack_shift<T>(a));
    const int batch = dense ? t.b : 0;
#pragma unroll
    for (int q = 0; q < kPanels; ++q) {
      tma_store_4d<T::kOEvictFirst>(tm_o, so_a + q * T::kOPanelStride, q * 64, ca.x, ca.y, batch);
      tma_store_4d<T::kOEvictFirst>(tm_o, so_b + q * T::kOPanelStride, q * 64, cb.x, cb.y, batch);
    }
    bulk_commit_group();
  }
  tr.mark(kTrPassStored, 0);
  return true;
}

// kOStageInQ: the warp's stores of a work tile's O have read its rows of
// that tile's Q buffer `qb`; the buffer goes back to the producer once every
// consumer warp has said so (q_empty counts warps). Called at the next work
// tile's first S, where the warp waits anyway.
template <class T>
__device__ __forceinline__ void release_staged_q(const WgmmaBarriers<T> &bar, int qb) {
  if (elect_one()) {  // the lane that committed the stores (store_tile_tma)
    bulk_wait_read();
    mbar_arrive(bar.q_empty(qb));
  }
}

// The work tile's epilogue: from registers, or through shared memory.
// `ends`: row_ends' factors where it ran under the last P V (`ends_done`).
template <class T>
__device__ __forceinline__ void store_o(const fa_fwd_args &a, const WgmmaTile &t, float (&o)[T::kOTiles][4],
                                        const float (&row_max)[1][2], const float (&row_sum)[1][2], int warp_row0,
                                        int lane, uint32_t so, const CUtensorMap *tm_o, bool any_keys,
                                        const float (&ends)[2], bool ends_done, Tracer &tr, int row_block = 0) {
  if constexpr (T::kTmaStore)
    store_tile_tma<T>(a, t, o, row_max, row_sum, warp_row0, lane, so, tm_o, any_keys, ends, ends_done, tr, row_block);
  else if constexpr (T::kSmemEpilogue)
    store_tile_smem<T>(a, t, o, row_max, row_sum, warp_row0, lane, so, ends, ends_done, row_block);
  else
    store_tile<T>(a, t, o, row_max, row_sum, warp_row0, lane, ends, ends_done);
}

// exp2(m - m_all) for a part of row max m in a merge whose max is m_all; a
// part without keys (-inf) weighs 0.
__device__ __forceinline__ float part_weight(float m, float m_all) { return m == -INFINITY ? 0.f : fa_exp2(m - m_all); }

// A piece of a split tile (WgmmaTile::keys, attn/tile_order.h "the last
// round shared by keys") after its key tiles: every consumer thread stores
// its O fragment and its rows' maxima and sums (fp32, not yet normalized)
// into the piece's slot of the workspace, then one thread counts the piece
// in the tile's counter; the piece that completes the count merges all of
// them into its registers and returns true (the caller's epilogue stores
// the tile), the others false. The merge reads every part back in piece
// order, without FMA contraction: the bits do not depend on which piece
// finished last.
template <class T>
__device__ __forceinline__ bool merge_split_tile(const fa_fwd_args &a, uint32_t list, unsigned k,
                                                 float (&o)[T::kOTiles][4], float (&row_max)[1][2],
                                                 float (&row_sum)[1][2], int ctid) {
  constexpr int kThreadsC = 128 * T::kConsumers;
  constexpr int kSlot = kThreadsC * (T::kOTiles + 1);  // float4 per slot: [fragment float4][thread]
  const uint32_t tail = list + kListEntryBytes * T::kListMax;
  const uint4 sp = ld_shared_16(tail);  // {count, first piece entry | n << 16, R | G' << 16, broadcast}
  fa_tile_split split;
  split.first = 0;
  split.n = sp.y >> 16;
  split.tiles = sp.z & 0xFFFFu;
  split.blocks = sp.z >> 16;
  const fa_split_piece piece = fa_split_block_piece(&split, blockIdx.x, k - (sp.y & 0xFFFFu));
  unsigned *counters = static_cast<unsigned *>(a.workspace);
  float4 *slots = reinterpret_cast<float4 *>(static_cast<char *>(a.workspace) + fa_split_counter_bytes(a.sm_count));
  float4 *mine = slots + (size_t)piece.slot * kSlot + ctid;
#pragma unroll
  for (int dt = 0; dt < T::kOTiles; ++dt) __stcg(mine + dt * kThreadsC, make_float4(o[dt][0], o[dt][1], o[dt][2], o[dt][3]));
  __stcg(mine + T::kOTiles * kThreadsC, make_float4(row_max[0][0], row_max[0][1], row_sum[0][0], row_sum[0][1]));
  __threadfence();  // this thread's partial, device-wide, before the count
  named_bar_sync(kBarConsumers, kThreadsC);
  if (ctid == 0) {
    const unsigned done = atomicAdd(counters + piece.tile, 1u);
    __threadfence();  // the other pieces' partials (fenced before their counts) before the reads below
    st_shared_4(tail + 12, done + 1u == piece.count ? 1u : 0u);
  }
  named_bar_sync(kBarConsumers, kThreadsC);
  if (ld_shared_4(tail + 12) == 0) return false;
  __threadfence();
  // Every part from the workspace, this piece's own included, in piece
  // order: the same operations whoever is last. Folding its registers in
  // at its place would save one read of its own slot, but a last piece
  // that is not the first needs the parts before it merged first, in a
  // second fragment (the first version of this merge did that and spilled
  // at d256).
  const float4 *part = slots + (size_t)(piece.slot - piece.index) * kSlot + ctid;  // the tile's slots are adjacent
  {
    const float4 s = __ldcg(part + T::kOTiles * kThreadsC);
    row_max[0][0] = s.x, row_max[0][1] = s.y, row_sum[0][0] = s.z, row_sum[0][1] = s.w;
#pragma unroll
    for (int dt = 0; dt < T::kOTiles; ++dt) {
      const float4 v = __ldcg(part + dt * kThreadsC);
      o[dt][0] = v.x, o[dt][1] = v.y, o[dt][2] = v.z, o[dt][3] = v.w;
    }
  }
  for (unsigned q = 1; q < piece.count; ++q) {
    part += kSlot;
    const float4 s = __ldcg(part + T::kOTiles * kThreadsC);
    const float pm[2] = {s.x, s.y}, pl[2] = {s.z, s.w};
    float wa[2], wb[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float m = fmaxf(row_max[0][h], pm[h]);
      wa[h] = part_weight(row_max[0][h], m);
      wb[h] = part_weight(pm[h], m);
      row_sum[0][h] = __fadd_rn(__fmul_rn(row_sum[0][h], wa[h]), __fmul_rn(pl[h], wb[h]));
      row_max[0][h] = m;
    }
#pragma unroll
    for (int dt = 0; dt < T::kOTiles; ++dt) {
      const float4 v = __ldcg(part + dt * kThreadsC);
      const float pv[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) o[dt][j] = __fadd_rn(__fmul_rn(o[dt][j], wa[j >> 1]), __fmul_rn(pv[j], wb[j >> 1]));
    }
  }
  return true;
}

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
