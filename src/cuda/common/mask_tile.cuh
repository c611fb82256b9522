// common/mask_tile.cuh - the mask modes of the generated kernels and the
// element-wise mask on a tile of scores in the accumulator layout that
// mma.sync m16n8 and wgmma m64nN share (a thread holds rows lane/4 and
// lane/4 + 8 of each 16-row slice, columns 2 * (lane % 4) + {0, 1} of each
// n8 tile). Moved out of fwd_mma.cuh unchanged, for the mma and wgmma
// families; the rule itself is attn/mask.h's.
#pragma once

#include <stdint.h>

#include "attn/mask.h"
#include "fa_args.h"

namespace fa {

enum MaskKind { kMaskNone = 0, kMaskCausal = 1, kMaskLocal = 2 };

// The window a mask mode computes: causal and none are constants, so their
// bounds fold away at compile time; local reads the call's window. Host
// code (a launch choosing its grid) asks too.
template <int MASK>
__host__ __device__ __forceinline__ int window_left_of(const fa_fwd_args &a) {
  return MASK == kMaskLocal ? a.window_left : -1;
}

template <int MASK>
__host__ __device__ __forceinline__ int window_right_of(const fa_fwd_args &a) {
  return MASK == kMaskLocal ? a.window_right : (MASK == kMaskCausal ? 0 : -1);
}

// Element-wise mask for tiles the window cuts: key n of a row is visible
// iff it lies in the row's visible range (attn/mask.h). Hidden scores
// become `hidden` (the raw value whose scaled score is -inf). The ranges
// are recomputed here rather than kept in registers: only boundary tiles
// pay for them. pack_shift: rows are packed (token x 2^pack_shift + head,
// fwd_wgmma.cuh "GQA packing"), a row's query position is row >> pack_shift.
template <class T>
__device__ __forceinline__ void apply_mask(float (&s)[T::kMTiles][T::kSTiles][4], const fa_fwd_args &a, int n0,
                                           int row0, int64_t diag, int len_k, int lane, float hidden,
                                           int pack_shift = 0) {
  const int wl = window_left_of<T::kMask>(a), wr = window_right_of<T::kMask>(a);
#pragma unroll
  for (int mt = 0; mt < T::kMTiles; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const fa_key_range r =
          fa_visible_keys(((row0 + mt * 16 + (lane >> 2) + half * 8) >> pack_shift) + diag, wl, wr, len_k);
#pragma unroll
      for (int nt = 0; nt < T::kSTiles; ++nt)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const int n = n0 + nt * 8 + (lane & 3) * 2 + j;
          if (n < r.lo || n >= r.hi) s[mt][nt][2 * half + j] = hidden;
        }
    }
}

}  // namespace fa
