// common/tensor_map.cuh - host side of TMA: the element type enum and the
// 4-D row maps {head_dim, rows, heads, batches} that the wgmma and decode
// families encode at call time through cuTensorMapEncodeTiled (the driver
// entry point in fa_fwd_args; nothing links libcuda).
#pragma once

#include <cuda.h>          // CUtensorMap and its enums (types only)
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled_v12000
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "fa_args.h"

namespace fa {

template <typename Elem>
struct TmaElemType;
template <>
struct TmaElemType<__half> {
  static constexpr CUtensorMapDataType value = CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
};
template <>
struct TmaElemType<__nv_bfloat16> {
  static constexpr CUtensorMapDataType value = CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
};

// A 4-D map of 16-bit elements through the driver's encoder: boxes of 64
// columns take the 128-byte swizzle, of 32 the 64-byte one.
inline CUresult encode_4d(CUtensorMap *map, PFN_cuTensorMapEncodeTiled_v12000 encode, CUtensorMapDataType type,
                          const void *base, const cuuint64_t (&dims)[4], const cuuint64_t (&strides)[3],
                          const cuuint32_t (&box)[4], CUtensorMapL2promotion promotion) {
  const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  return encode(map, type, 4, const_cast<void *>(base), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                box[0] == 64 ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_64B, promotion,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
}

// A 4-D tensor map {head_dim, rows, heads, batches} over a [batches, rows,
// heads, head_dim] tensor with the given element strides, box {box_cols,
// box_rows, 1, 1} (box_cols 64: 128-byte swizzle; 32: 64-byte), columns past
// head_dim read as zeros; `promotion`: the L2 fetch size of a miss. A
// dimension of extent 1 is never stepped along: its stride is replaced by
// the row stride, a value TMA accepts.
inline CUresult encode_rows_map(CUtensorMap *map, PFN_cuTensorMapEncodeTiled_v12000 encode, CUtensorMapDataType type,
                                const void *base, int head_dim, int64_t rows, int64_t heads, int64_t batches,
                                int64_t row_stride, int64_t head_stride, int64_t batch_stride, int box_rows,
                                int box_cols = 64,
                                CUtensorMapL2promotion promotion = CU_TENSOR_MAP_L2_PROMOTION_L2_256B) {
  const cuuint64_t row_bytes = (cuuint64_t)row_stride * 2;
  cuuint64_t dims[4] = {(cuuint64_t)head_dim, (cuuint64_t)(rows > 0 ? rows : 1), (cuuint64_t)(heads > 0 ? heads : 1),
                        (cuuint64_t)(batches > 0 ? batches : 1)};
  cuuint64_t strides[3] = {row_bytes, heads > 1 ? (cuuint64_t)head_stride * 2 : row_bytes,
                           batches > 1 ? (cuuint64_t)batch_stride * 2 : row_bytes};
  const cuuint32_t box[4] = {(cuuint32_t)box_cols, (cuuint32_t)box_rows, 1, 1};
  return encode_4d(map, encode, type, base, dims, strides, box, promotion);
}

// The same tensor as a map {head_dim, heads, rows, batches}, box
// {box_cols, box_heads, box_rows, 1}: a box is box_rows rows of box_heads
// consecutive heads, in shared memory row r x box_heads + h for the box's
// row r and head h (GQA packing, wgmma/work_tiles.cuh; box_heads 1: the rows
// map's box). Extents of 1 get the row stride, as in encode_rows_map.
inline CUresult encode_heads_map(CUtensorMap *map, PFN_cuTensorMapEncodeTiled_v12000 encode, CUtensorMapDataType type,
                                 const void *base, int head_dim, int64_t rows, int64_t heads, int64_t batches,
                                 int64_t row_stride, int64_t head_stride, int64_t batch_stride, int box_heads,
                                 int box_rows, int box_cols = 64) {
  const cuuint64_t row_bytes = (cuuint64_t)row_stride * 2;
  cuuint64_t dims[4] = {(cuuint64_t)head_dim, (cuuint64_t)(heads > 0 ? heads : 1), (cuuint64_t)(rows > 0 ? rows : 1),
                        (cuuint64_t)(batches > 0 ? batches : 1)};
  cuuint64_t strides[3] = {heads > 1 ? (cuuint64_t)head_stride * 2 : row_bytes, row_bytes,
                           batches > 1 ? (cuuint64_t)batch_stride * 2 : row_bytes};
  const cuuint32_t box[4] = {(cuuint32_t)box_cols, (cuuint32_t)box_heads, (cuuint32_t)box_rows, 1};
  return encode_4d(map, encode, type, base, dims, strides, box, CU_TENSOR_MAP_L2_PROMOTION_L2_256B);
}

// Extents {rows, outer} of the K/V maps, matching fa_kv_row_coords'
// (outer, row): paged {page_size, num_pages} (outer = the page), dense
// {kv_capacity, batch} (the sequence), varlen {total_k, 1} (rows of all
// sequences; the outer coordinate is then 0).
inline void kv_map_extents(const fa_fwd_args *a, int64_t *rows, int64_t *outer) {
  if (a->block_table != nullptr) {
    *rows = a->page_size, *outer = a->num_pages;
  } else if (a->cu_seqlens_k != nullptr) {
    *rows = a->total_k, *outer = 1;
  } else {
    *rows = a->kv_capacity, *outer = a->batch;
  }
}

}  // namespace fa
