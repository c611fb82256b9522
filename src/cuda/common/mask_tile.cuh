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

// The n lowest bits set (n clamped to 0..32).
__device__ __forceinline__ uint32_t low_bits(int n) {
  return n <= 0 ? 0u : 0xffffffffu >> (32 - min(n, 32));
}

// Element-wise mask for tiles the window cuts: key n of a row is visible
// iff it lies in the row's visible range (attn/mask.h). Hidden scores
// become `hidden` (the raw value whose scaled score is -inf). The ranges
// are recomputed here rather than kept in registers: only boundary tiles
// pay for them. pack_shift: rows are packed (token x 2^pack_shift + head,
// wgmma/work_tiles.cuh "GQA packing"), a row's query position is
// row >> pack_shift.
template <class T, bool PREFIX_BITS = false>
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
      if constexpr (!PREFIX_BITS || T::kMask == kMaskLocal) {
#pragma unroll
        for (int nt = 0; nt < T::kSTiles; ++nt)
#pragma unroll
          for (int j = 0; j < 2; ++j) {
            const int n = n0 + nt * 8 + (lane & 3) * 2 + j;
            if (n < r.lo || n >= r.hi) s[mt][nt][2 * half + j] = hidden;
          }
      } else {
        // PREFIX_BITS, no left bound (keys start at 0): the visible
        // elements are a prefix of the thread's (nt, j) in key order
        // (fa_accumulator_prefix). Element i = 2 nt + j is tested against
        // bit i of a mask of that many low bits (32 elements a mask):
        // ptxas turns runs of constant bit tests of one register into R2P
        // (7 predicates an instruction) instead of one ISETP per element.
        // The wgmma family only: in the mma family's kernels it moved
        // their spills (d64 causal 80 -> 4..152 bytes).
        const int count = fa_accumulator_prefix(r.hi - (n0 + (lane & 3) * 2));
#pragma unroll
        for (int chunk = 0; chunk * 32 < 2 * T::kSTiles; ++chunk) {
          const uint32_t keep = low_bits(count - 32 * chunk);
#pragma unroll
          for (int i = 0; i < 32 && chunk * 32 + i < 2 * T::kSTiles; ++i)
            if (!(keep & (1u << i))) s[mt][(chunk * 32 + i) / 2][2 * half + i % 2] = hidden;
        }
      }
    }
}

}  // namespace fa
