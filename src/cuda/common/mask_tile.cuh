// common/mask_tile.cuh - the mask modes of the generated kernels and the
// element-wise mask on a tile of scores in the accumulator layout that
// mma.sync m16n8 and wgmma m64nN share (a thread holds rows lane/4 and
// lane/4 + 8 of each 16-row slice, columns 2 * (lane % 4) + {0, 1} of each
// n8 tile), for the mma and wgmma families; the rule itself is
// attn/mask.h's. The wgmma family also keeps the causal mask as bits
// (PrefixKeep) to apply it later, inside its softmax turn.
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

// The prefix form of the causal/none mask (no left bound: keys start at
// 0): the visible elements of a thread's row are a prefix of its (nt, j)
// in key order (fa_accumulator_prefix), kept as bits, bit i of word w =
// element 32 w + i = 2 nt + j. Testing constant bits of one register,
// ptxas emits R2P (7 predicates an instruction) instead of one ISETP per
// element. The wgmma family only: in the mma family's kernels it moved
// their spills (d64 causal 80 -> 4..152 bytes).
template <class T>
struct PrefixKeep {
  static constexpr int kWords = (2 * T::kSTiles + 31) / 32;
  uint32_t bits[T::kMTiles][2][kWords];
};

// The prefix count of a thread's row: its first `count` elements (in
// (nt, j) order) are the visible ones.
__device__ __forceinline__ int prefix_count(const fa_key_range &r, int n0, int lane) {
  return fa_accumulator_prefix(r.hi - (n0 + (lane & 3) * 2));
}

// Row `half` of m-tile mt: which of its elements a row sees.
template <class T>
__device__ __forceinline__ void prefix_keep_row(PrefixKeep<T> &keep, int mt, int half, const fa_key_range &r, int n0,
                                                int lane) {
  const int count = prefix_count(r, n0, lane);
#pragma unroll
  for (int w = 0; w < PrefixKeep<T>::kWords; ++w) keep.bits[mt][half][w] = low_bits(count - 32 * w);
}

// Elements 32 w .. 32 w + 31 of one row (`half`) of an m-tile's scores:
// those whose bit in `bits` is clear become `hidden`.
template <class T>
__device__ __forceinline__ void hide_by_bits(float (&s)[T::kSTiles][4], uint32_t bits, int w, int half, float hidden) {
#pragma unroll
  for (int i = 0; i < 32 && w * 32 + i < 2 * T::kSTiles; ++i)
    if (!(bits & (1u << i))) s[(w * 32 + i) / 2][2 * half + i % 2] = hidden;
}

// Hidden scores of one row (`half`) of an m-tile's scores become `hidden`.
template <class T>
__device__ __forceinline__ void apply_keep_row(float (&s)[T::kSTiles][4], const PrefixKeep<T> &keep, int mt, int half,
                                               float hidden) {
#pragma unroll
  for (int w = 0; w < PrefixKeep<T>::kWords; ++w) hide_by_bits<T>(s, keep.bits[mt][half][w], w, half, hidden);
}

// The visible keys of a thread's row (`half`) of m-tile mt, for the
// window (wl, wr). pack_shift: rows are packed (token x 2^pack_shift +
// head, fwd_wgmma.cuh "GQA packing"), a row's query position is row >>
// pack_shift.
__device__ __forceinline__ fa_key_range thread_row_keys(int mt, int half, int row0, int64_t diag, int wl, int wr,
                                                        int len_k, int lane, int pack_shift) {
  return fa_visible_keys(((row0 + mt * 16 + (lane >> 2) + half * 8) >> pack_shift) + diag, wl, wr, len_k);
}

// The prefix bits of every row of the thread (causal or none).
template <class T>
__device__ __forceinline__ PrefixKeep<T> prefix_keep(const fa_fwd_args &a, int n0, int row0, int64_t diag, int len_k,
                                                     int lane, int pack_shift = 0) {
  static_assert(T::kMask != kMaskLocal, "the prefix form: no left bound");
  const int wl = window_left_of<T::kMask>(a), wr = window_right_of<T::kMask>(a);
  PrefixKeep<T> keep;
#pragma unroll
  for (int mt = 0; mt < T::kMTiles; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half)
      prefix_keep_row<T>(keep, mt, half, thread_row_keys(mt, half, row0, diag, wl, wr, len_k, lane, pack_shift), n0,
                         lane);
  return keep;
}

// Element-wise mask for tiles the window cuts: key n of a row is visible
// iff it lies in the row's visible range (attn/mask.h). Hidden scores
// become `hidden` (the raw value whose scaled score is -inf). The ranges
// are recomputed here rather than kept in registers: only boundary tiles
// pay for them. PREFIX_BITS: the prefix form (PrefixKeep) where there is
// no left bound.
template <class T, bool PREFIX_BITS = false>
__device__ __forceinline__ void apply_mask(float (&s)[T::kMTiles][T::kSTiles][4], const fa_fwd_args &a, int n0,
                                           int row0, int64_t diag, int len_k, int lane, float hidden,
                                           int pack_shift = 0) {
  const int wl = window_left_of<T::kMask>(a), wr = window_right_of<T::kMask>(a);
#pragma unroll
  for (int mt = 0; mt < T::kMTiles; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const fa_key_range r = thread_row_keys(mt, half, row0, diag, wl, wr, len_k, lane, pack_shift);
      if constexpr (!PREFIX_BITS || T::kMask == kMaskLocal) {
#pragma unroll
        for (int nt = 0; nt < T::kSTiles; ++nt)
#pragma unroll
          for (int j = 0; j < 2; ++j) {
            const int n = n0 + nt * 8 + (lane & 3) * 2 + j;
            if (n < r.lo || n >= r.hi) s[mt][nt][2 * half + j] = hidden;
          }
      } else {
        const int count = prefix_count(r, n0, lane);
#pragma unroll
        for (int w = 0; w * 32 < 2 * T::kSTiles; ++w) hide_by_bits<T>(s[mt], low_bits(count - 32 * w), w, half, hidden);
      }
    }
}

}  // namespace fa
