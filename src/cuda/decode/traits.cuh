// decode/traits.cuh - the decode family's compile-time shape: DecodeTraits
// (a block's packed query rows, the key step, the ring's stages, the
// shared-memory layout of the Q tile, the warps' rings and their merge),
// checked against gen/spec.py by the generated units' static_asserts.
// A part of fwd_decode.cuh (which includes them all, in order); design
// note src/cuda/fwd_decode.md.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "cuda/fwd_decode_plan.h"
#include "fa_args.h"

namespace fa {

template <int HEAD_DIM, int STAGES, typename ElemT>
struct DecodeTraits {
  using Elem = ElemT;
  static constexpr int kHeadDim = HEAD_DIM;
  static constexpr int kHeadDimPadded = (HEAD_DIM + 15) / 16 * 16;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kRows = FA_DECODE_ROWS;       // packed query rows per block: one m16 tile
  static constexpr int kStepKeys = FA_DECODE_STEP;   // keys per warp step
  static constexpr int kStages = STAGES;
  // The mma_tile.cuh tile shape.
  static constexpr int kMTiles = 1;
  static constexpr int kSTiles = kStepKeys / 8;
  static constexpr int kOTiles = kHeadDimPadded / 8;
  static constexpr int kQKSteps = kHeadDimPadded / 16;
  static constexpr int kPVSteps = kStepKeys / 16;
  // Rows padded by 16 bytes, as in fwd_mma.cuh: conflict-free ldmatrix.
  static constexpr int kRowElems = kHeadDimPadded + 8;
  static constexpr int kRowBytes = kRowElems * 2;
  static constexpr int kChunksPerRow = kHeadDimPadded / 8;  // 16-byte chunks
  static constexpr int kQBytes = kRows * kRowBytes;
  static constexpr int kStepBytes = kStepKeys * kRowBytes;    // one K or V tile
  static constexpr int kWarpRingBytes = kStages * 2 * kStepBytes;
  static constexpr int kRingBytes = kWarps * kWarpRingBytes;
  // After the main loop each warp's O (fp32), max and sum, in the ring or
  // after it. O's rows are padded by 4 floats: the warp's float2 stores (8
  // rows x 4 lanes) then hit every bank twice, the fewest passes, where
  // unpadded rows put 8 rows on the same 8 banks (4x the passes).
  static constexpr int kMergeRowFloats = kHeadDimPadded + 4;
  static constexpr int kMergeBytes = kWarps * kRows * (kMergeRowFloats + 2) * 4;
  static constexpr int kRingOrMergeBytes = kRingBytes > kMergeBytes ? kRingBytes : kMergeBytes;
  // sm_90: one mbarrier per warp and ring slot (the bulk copies complete on it).
  static constexpr int kBarBytes = kWarps * kStages * 8;
  // What this ring needs; a kernel given more (NoneTraits: the plan
  // kernels' deeper ring) puts the merge after it (kMergeApart below).
  static constexpr int kLayoutBytes = kQBytes + kRingOrMergeBytes + kBarBytes;
  static constexpr int kSmemBytes = kLayoutBytes;
  // sm_90 tile copies (head dims that are multiples of 64; "Tile copies" in
  // fwd_decode.md): a K or V tile is kPanels panels of 16 rows x 64 columns
  // in TMA's 128-byte swizzle, unpadded, 1024-byte aligned. That ring lies
  // inside the padded ring's space (alignment slack included), so the
  // shared memory is the same for both paths.
  static constexpr bool kTileCopies = HEAD_DIM % 64 == 0;
  static constexpr int kPanels = HEAD_DIM / 64;
  static constexpr int kPanelBytes = kStepKeys * 128;
  static constexpr int kTileBytes = kPanels * kPanelBytes;  // one K or V tile
  static constexpr int kTileWarpRingBytes = kStages * 2 * kTileBytes;
  static_assert(!kTileCopies || 1024 + kWarps * kTileWarpRingBytes <= kRingOrMergeBytes,
                "the tile ring and its alignment fit in the padded ring's space");
  static_assert(kStepKeys == 16, "one m16n8k16 P V step per key tile; two n8 score tiles");

  static_assert(kChunksPerRow <= 32, "a warp loads at least one row per pass");
  static_assert(STAGES >= 2, "at least double buffering");
  static_assert(sizeof(Elem) == 2, "16-bit storage");
};

__host__ __device__ constexpr fa_dtype dtype_of(const __half *) { return FA_DTYPE_FP16; }
__host__ __device__ constexpr fa_dtype dtype_of(const __nv_bfloat16 *) { return FA_DTYPE_BF16; }

}  // namespace fa
