// helpers.cu - the mask-helper kernels of the transformers path (unpad
// info, row gather/scatter, position ids -> cu_seqlens), CUDA backend.
//
// Plain CUDA C: no CUTLASS, Thrust or CUB, no allocation, no sync, no
// global state. Scratch space, where a step needs any, is the output
// itself (the counts of a prefix sum are written where the sums go). Every
// value that lives on the device (counts, indices) is clamped before it is
// used as an address: a wrong value can drop rows but never reach outside
// the buffers whose sizes the host checked.
//
// Kernels are launched with cudaLaunchKernel (see build.ninja: the <<<>>>
// stub would pull in a C++ runtime guard), through a typed wrapper so that
// every argument is converted to the kernel's exact parameter type.
#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda/helpers.h"

namespace {

constexpr unsigned kFullMask = 0xffffffffu;

// ---------------------------------------------------------------- launching

template <typename T>
struct NoDeduce {
  using type = T;
};

// Launches kernel(args...) with each argument converted to the parameter's
// type first: cudaLaunchKernel reads sizeof(parameter) bytes behind each
// pointer, so a mismatched argument type would silently pass garbage.
template <typename... Params>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream,
                   typename NoDeduce<Params>::type... args) {
  void *ptrs[] = {const_cast<void *>(static_cast<const void *>(&args))...};
  return cudaLaunchKernel(reinterpret_cast<const void *>(kernel), grid, block, ptrs, 0, stream);
}

long long ceil_div(long long a, long long b) { return (a + b - 1) / b; }

// A 1-D block of 32 * k threads, k >= 1, at most max_threads, about `work`
// threads wanted: short rows do not get 256 mostly idle threads.
unsigned block_threads(long long work, unsigned max_threads) {
  const long long rounded = ceil_div(work < 1 ? 1 : work, 32) * 32;
  return rounded > (long long)max_threads ? max_threads : (unsigned)rounded;
}

// ---------------------------------------------------------------- block primitives
//
// For 1-D blocks whose size is a multiple of 32 (at most 1024). Every
// thread of the block must call them (they contain barriers), and each ends
// with a barrier so that back-to-back calls may reuse the shared buffer.

__device__ int warp_inclusive_sum(int x) {
  const int lane = threadIdx.x & 31;
  for (int offset = 1; offset < 32; offset <<= 1) {
    const int y = __shfl_up_sync(kFullMask, x, offset);
    if (lane >= offset) x += y;
  }
  return x;
}

// Exclusive prefix sum of v over the block; *total gets the block's sum.
__device__ int block_exclusive_sum(int v, int *total) {
  __shared__ int warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, num_warps = blockDim.x >> 5;
  const int inclusive = warp_inclusive_sum(v);
  if (lane == 31) warp_sums[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    const int s = lane < num_warps ? warp_sums[lane] : 0;
    warp_sums[lane] = warp_inclusive_sum(s);  // each lane rewrites only its own entry
  }
  __syncthreads();
  const int before = warp > 0 ? warp_sums[warp - 1] : 0;
  *total = warp_sums[num_warps - 1];
  __syncthreads();
  return before + inclusive - v;
}

struct SumOp {
  __device__ int operator()(int a, int b) const { return a + b; }
};
struct MaxOp {
  __device__ int operator()(int a, int b) const { return a > b ? a : b; }
};

// Reduction over the block; the result is returned to every thread.
template <typename Op>
__device__ int block_reduce(int v, Op op, int identity) {
  __shared__ int warp_vals[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, num_warps = blockDim.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(kFullMask, v, offset));
  if (lane == 0) warp_vals[warp] = v;
  __syncthreads();
  v = lane < num_warps ? warp_vals[lane] : identity;  // every warp reduces the warp results
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(kFullMask, v, offset));
  __syncthreads();
  return v;
}

// ---------------------------------------------------------------- unpad info
//
// Three kernels, all on the caller's stream:
//   1. unpad_count: one block per row counts its kept tokens (block
//      reduction) into cu_seqlens[b + 1];
//   2. unpad_scan: one block turns those counts into prefix sums in place,
//      1024 rows per step with a running carry (any batch), and writes
//      cu_seqlens[0] = 0 and max_seqlen;
//   3. unpad_index: one block per row ranks its kept tokens (block scan of
//      per-thread counts over kUnpadItems consecutive tokens per thread) and
//      writes their flat positions from cu_seqlens[b]; it also writes -1 to
//      every slot of its row's range of `indices` that is >= total (kept
//      ranks are all < total, so no slot is written twice).

constexpr int kUnpadItems = 8;  // consecutive tokens per thread in unpad_index

template <typename T>
__global__ void __launch_bounds__(256) unpad_count_kernel(const T *mask, int seqlen, int32_t *cu_seqlens) {
  const long long b = blockIdx.x;
  const T *row = mask + b * seqlen;
  int kept = 0;
  for (long long s = threadIdx.x; s < seqlen; s += blockDim.x) kept += row[s] != T(0);
  kept = block_reduce(kept, SumOp(), 0);
  if (threadIdx.x == 0) cu_seqlens[b + 1] = kept;
}

__global__ void __launch_bounds__(1024) unpad_scan_kernel(int batch, int32_t *cu_seqlens, int32_t *max_seqlen) {
  int carry = 0, longest = 0;
  for (long long base = 0; base < batch; base += blockDim.x) {
    const long long b = base + threadIdx.x;
    const int kept = b < batch ? cu_seqlens[b + 1] : 0;
    longest = kept > longest ? kept : longest;
    int step_total = 0;
    const int before = block_exclusive_sum(kept, &step_total);
    if (b < batch) cu_seqlens[b + 1] = carry + before + kept;  // the same thread read this entry
    carry += step_total;
  }
  longest = block_reduce(longest, MaxOp(), 0);
  if (threadIdx.x == 0) {
    cu_seqlens[0] = 0;
    *max_seqlen = longest;
  }
}

template <typename T>
__global__ void __launch_bounds__(256)
    unpad_index_kernel(const T *mask, int batch, int seqlen, const int32_t *cu_seqlens, int64_t *indices) {
  const long long row0 = (long long)blockIdx.x * seqlen;
  const long long n = (long long)batch * seqlen;  // entries of indices
  const long long total = cu_seqlens[batch];
  long long rank = cu_seqlens[blockIdx.x];
  for (long long base = 0; base < seqlen; base += (long long)blockDim.x * kUnpadItems) {
    const long long first = base + (long long)threadIdx.x * kUnpadItems;
    unsigned keep = 0;
#pragma unroll
    for (int j = 0; j < kUnpadItems; ++j) {
      const long long s = first + j;
      if (s < seqlen) {
        if (mask[row0 + s] != T(0)) keep |= 1u << j;
        if (row0 + s >= total) indices[row0 + s] = -1;
      }
    }
    int step_total = 0;
    long long r = rank + block_exclusive_sum(__popc(keep), &step_total);
    for (int j = 0; j < kUnpadItems; ++j)
      if ((keep & (1u << j)) && r < n) indices[r++] = row0 + first + j;  // r < n unless the mask changes
    rank += step_total;
  }
}

template <typename T>
cudaError_t unpad_info(const T *mask, int batch, int seqlen, int64_t *indices, int32_t *cu_seqlens, int32_t *max_seqlen,
                       cudaStream_t stream) {
  cudaError_t e = launch(unpad_count_kernel<T>, dim3((unsigned)batch), dim3(block_threads(seqlen, 256)), stream, mask,
                         seqlen, cu_seqlens);
  if (e != cudaSuccess) return e;
  e = launch(unpad_scan_kernel, dim3(1), dim3(1024), stream, batch, cu_seqlens, max_seqlen);
  if (e != cudaSuccess) return e;
  return launch(unpad_index_kernel<T>, dim3((unsigned)batch), dim3(block_threads(ceil_div(seqlen, kUnpadItems), 256)),
                stream, mask, batch, seqlen, (const int32_t *)cu_seqlens, indices);
}

// ---------------------------------------------------------------- rows
//
// A row is row_vecs 16-byte vectors. Blocks of 256 threads are laid out as
// (threads per row) x (rows per block): the threads per row are the power
// of two >= row_vecs, capped at 256, so short rows (a few heads) still fill
// the block, and long rows loop. The grid is sized from the host bound
// (padded_rows); each thread reads *count on the device and rows past it
// return at once. Indices outside [0, padded_rows) are skipped.

constexpr unsigned kRowThreads = 256;

dim3 row_block(long long row_vecs) {
  unsigned per_row = 1;
  while (per_row < row_vecs && per_row < kRowThreads) per_row <<= 1;
  return dim3(per_row, kRowThreads / per_row);
}

__device__ long long clamped_count(const int32_t *count, long long padded_rows) {
  const long long n = *count;
  return n < 0 ? 0 : (n > padded_rows ? padded_rows : n);
}

// dst[i] = src[indices[i]] for i < *count.
__global__ void __launch_bounds__(kRowThreads)
    gather_rows_kernel(const uint4 *src, long long src_stride, uint4 *dst, long long dst_stride, long long row_vecs,
                       const int64_t *indices, const int32_t *count, long long padded_rows) {
  const long long i = (long long)blockIdx.x * blockDim.y + threadIdx.y;
  if (i >= clamped_count(count, padded_rows)) return;
  const long long from = indices[i];
  if (from < 0 || from >= padded_rows) return;
  const uint4 *s = src + from * src_stride;
  uint4 *d = dst + i * dst_stride;
  for (long long v = threadIdx.x; v < row_vecs; v += blockDim.x) d[v] = s[v];
}

// Every one of the `rows` rows of dst (row_vecs vectors each) set to zero.
__global__ void __launch_bounds__(kRowThreads)
    zero_rows_kernel(uint4 *dst, long long dst_stride, long long row_vecs, long long rows) {
  const long long r = (long long)blockIdx.x * blockDim.y + threadIdx.y;
  if (r >= rows) return;
  uint4 *d = dst + r * dst_stride;
  for (long long v = threadIdx.x; v < row_vecs; v += blockDim.x) d[v] = make_uint4(0u, 0u, 0u, 0u);
}

// dst[indices[i]] = src[i] for i < *count.
__global__ void __launch_bounds__(kRowThreads)
    scatter_rows_kernel(const uint4 *src, long long src_stride, uint4 *dst, long long dst_stride, long long row_vecs,
                        const int64_t *indices, const int32_t *count, long long padded_rows) {
  const long long i = (long long)blockIdx.x * blockDim.y + threadIdx.y;
  if (i >= clamped_count(count, padded_rows)) return;
  const long long to = indices[i];
  if (to < 0 || to >= padded_rows) return;
  const uint4 *s = src + i * src_stride;
  uint4 *d = dst + to * dst_stride;
  for (long long v = threadIdx.x; v < row_vecs; v += blockDim.x) d[v] = s[v];
}

// ---------------------------------------------------------------- position ids
//
// A token starts a sequence when it is token 0 or its position id is 0;
// cu_seqlens[rank of a start] = its position. The rank of a start is the
// number of starts before it: a prefix sum over the tokens.
//
// Design (no sync, no scratch beyond the outputs, total up to 2^31 - 1):
// tiles of kPosTile = 1024 threads x 16 consecutive tokens. Each thread
// keeps its 16 start flags as a bit mask; one block scan of the per-thread
// counts gives every start its rank within the tile.
//   - total <= one tile (16384 tokens, the common case of one packed batch):
//     a single block does it all (pos_single), then pos_finish.
//   - larger totals: pos_count (a block per tile: the tile's number of
//     starts), pos_scan (one block: tile offsets, looping over any number of
//     tiles), pos_scatter (a block per tile: ranks = tile offset + rank in
//     the tile), pos_finish. Two reads of position_ids spread over all
//     SMs and 4 launches: an estimated ~10 us at 1M tokens (not measured
//     yet), where one block streaming 1M ids through one SM would need
//     ~100 us.
// The tile counts/offsets live in the last num_tiles entries of cu_seqlens
// ([total + 1 - num_tiles, total]): ranks are < num_seqs, so pos_scatter
// never overwrites an offset another block still has to read, unless
// num_seqs > total + 1 - num_tiles (almost every token a sequence of its
// own). pos_scatter detects that case from num_seqs and then lets its first
// block do the whole scatter tile after tile (correct, slower, and only for
// that degenerate input).
// pos_finish: cu_seqlens[j] = total for num_seqs <= j <= total, and
// max_seqlen = max(cu_seqlens[j + 1] - cu_seqlens[j]) by a block reduction
// and one atomicMax per block (max_seqlen is set to 0 by the kernel before).

constexpr int kPosItems = 16;  // bits of one thread's start mask
constexpr int kPosThreads = 1024;
constexpr long long kPosTile = (long long)kPosThreads * kPosItems;
constexpr int kFinishThreads = 256;

template <typename T>
__device__ unsigned start_bits(const T *pos, long long first, long long total) {
  unsigned bits = 0;
#pragma unroll
  for (int j = 0; j < kPosItems; ++j) {
    const long long i = first + j;
    if (i < total && (i == 0 || pos[i] == T(0))) bits |= 1u << j;
  }
  return bits;
}

// Writes the starts of the tile beginning at tile_first to
// cu_seqlens[rank_base + rank in tile]; returns the tile's number of starts
// (to every thread).
template <typename T>
__device__ int scatter_tile_starts(const T *pos, long long tile_first, long long total, int rank_base,
                                   int32_t *cu_seqlens) {
  const long long first = tile_first + (long long)threadIdx.x * kPosItems;
  unsigned bits = start_bits(pos, first, total);
  int tile_starts = 0;
  int rank = rank_base + block_exclusive_sum(__popc(bits), &tile_starts);
  while (bits != 0) {
    const int j = __ffs(bits) - 1;
    bits &= bits - 1;
    if (rank <= total) cu_seqlens[rank++] = (int32_t)(first + j);  // holds unless the ids change meanwhile
  }
  return tile_starts;
}

// The whole scatter in one block, tile after tile; returns num_seqs.
template <typename T>
__device__ int scatter_all_starts(const T *pos, long long total, int32_t *cu_seqlens) {
  int num_seqs = 0;
  for (long long tile_first = 0; tile_first < total; tile_first += (long long)blockDim.x * kPosItems)
    num_seqs += scatter_tile_starts(pos, tile_first, total, num_seqs, cu_seqlens);
  return num_seqs;
}

template <typename T>
__global__ void __launch_bounds__(kPosThreads)
    pos_single_kernel(const T *pos, int total, int32_t *cu_seqlens, int32_t *num_seqs, int32_t *max_seqlen) {
  const int n = scatter_all_starts(pos, total, cu_seqlens);
  if (threadIdx.x == 0) {
    *num_seqs = n;
    *max_seqlen = 0;
  }
}

template <typename T>
__global__ void __launch_bounds__(kPosThreads) pos_count_kernel(const T *pos, int total, int32_t *tile_counts) {
  const long long first = (long long)blockIdx.x * blockDim.x * kPosItems + (long long)threadIdx.x * kPosItems;
  const int starts = block_reduce(__popc(start_bits(pos, first, total)), SumOp(), 0);
  if (threadIdx.x == 0) tile_counts[blockIdx.x] = starts;
}

// Tile counts -> tile offsets (exclusive prefix sums) in place; num_seqs.
__global__ void __launch_bounds__(1024)
    pos_scan_kernel(int num_tiles, int32_t *tiles, int32_t *num_seqs, int32_t *max_seqlen) {
  int carry = 0;
  for (long long base = 0; base < num_tiles; base += blockDim.x) {
    const long long t = base + threadIdx.x;
    const int starts = t < num_tiles ? tiles[t] : 0;
    int step_total = 0;
    const int before = block_exclusive_sum(starts, &step_total);
    if (t < num_tiles) tiles[t] = carry + before;  // the same thread read this entry
    carry += step_total;
  }
  if (threadIdx.x == 0) {
    *num_seqs = carry;
    *max_seqlen = 0;
  }
}

template <typename T>
__global__ void __launch_bounds__(kPosThreads)
    pos_scatter_kernel(const T *pos, int total, int num_tiles, int32_t *cu_seqlens, const int32_t *num_seqs) {
  const long long tiles_at = (long long)total + 1 - num_tiles;
  if (*num_seqs > tiles_at) {  // the ranks reach the tile offsets: see the design note
    if (blockIdx.x == 0) scatter_all_starts(pos, total, cu_seqlens);
    return;
  }
  const int offset = cu_seqlens[tiles_at + blockIdx.x];
  scatter_tile_starts(pos, (long long)blockIdx.x * blockDim.x * kPosItems, total, offset, cu_seqlens);
}

__global__ void __launch_bounds__(kFinishThreads)
    pos_finish_kernel(int total, int32_t *cu_seqlens, const int32_t *num_seqs, int32_t *max_seqlen) {
  const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  long long n = *num_seqs;
  n = n < 1 ? 1 : (n > total ? total : n);  // computed on the device: in range, clamped all the same
  int len = 0;
  if (j <= total) {
    if (j >= n)
      cu_seqlens[j] = total;  // only entries >= n are written here, only entries < n read
    else
      len = (j + 1 < n ? cu_seqlens[j + 1] : total) - cu_seqlens[j];
  }
  len = block_reduce(len, MaxOp(), 0);
  if (threadIdx.x == 0 && len > 0) atomicMax(max_seqlen, len);
}

template <typename T>
cudaError_t seqlens_from_position_ids(const T *pos, int total, int32_t *cu_seqlens, int32_t *num_seqs,
                                      int32_t *max_seqlen, cudaStream_t stream) {
  const long long num_tiles = ceil_div(total, kPosTile);
  cudaError_t e;
  if (num_tiles == 1) {
    e = launch(pos_single_kernel<T>, dim3(1), dim3(kPosThreads), stream, pos, total, cu_seqlens, num_seqs, max_seqlen);
  } else {
    int32_t *tiles = cu_seqlens + (total + 1 - num_tiles);
    e = launch(pos_count_kernel<T>, dim3((unsigned)num_tiles), dim3(kPosThreads), stream, pos, total, tiles);
    if (e == cudaSuccess)
      e = launch(pos_scan_kernel, dim3(1), dim3(1024), stream, (int)num_tiles, tiles, num_seqs, max_seqlen);
    if (e == cudaSuccess)
      e = launch(pos_scatter_kernel<T>, dim3((unsigned)num_tiles), dim3(kPosThreads), stream, pos, total,
                 (int)num_tiles, cu_seqlens, (const int32_t *)num_seqs);
  }
  if (e != cudaSuccess) return e;
  return launch(pos_finish_kernel, dim3((unsigned)ceil_div((long long)total + 1, kFinishThreads)), dim3(kFinishThreads),
                stream, total, cu_seqlens, (const int32_t *)num_seqs, max_seqlen);
}

}  // namespace

// ---------------------------------------------------------------- launchers (C)

extern "C" int fa_cuda_unpad_info(const void *mask, fa_int_dtype mask_dtype, int32_t batch, int32_t seqlen,
                                  int64_t *indices, int32_t *cu_seqlens, int32_t *max_seqlen, fa_stream_t stream) {
  const cudaStream_t s = (cudaStream_t)stream;
  switch (mask_dtype) {
    case FA_INT_BOOL:
      return unpad_info(static_cast<const uint8_t *>(mask), batch, seqlen, indices, cu_seqlens, max_seqlen, s);
    case FA_INT32:
      return unpad_info(static_cast<const int32_t *>(mask), batch, seqlen, indices, cu_seqlens, max_seqlen, s);
    case FA_INT64:
      return unpad_info(static_cast<const int64_t *>(mask), batch, seqlen, indices, cu_seqlens, max_seqlen, s);
  }
  return cudaErrorInvalidValue;  // unreachable: the caller checked the enum
}

extern "C" int fa_cuda_gather_rows(const void *src, int64_t src_stride, void *dst, int64_t dst_stride,
                                   int64_t row_elems, const int64_t *indices, const int32_t *count, int64_t padded_rows,
                                   fa_stream_t stream) {
  const long long row_vecs = row_elems / 8;  // 8 16-bit elements per 16-byte vector
  const dim3 block = row_block(row_vecs);
  return launch(gather_rows_kernel, dim3((unsigned)ceil_div(padded_rows, block.y)), block, (cudaStream_t)stream,
                static_cast<const uint4 *>(src), (long long)(src_stride / 8), static_cast<uint4 *>(dst),
                (long long)(dst_stride / 8), row_vecs, indices, count, (long long)padded_rows);
}

extern "C" int fa_cuda_scatter_rows(const void *src, int64_t src_stride, void *dst, int64_t dst_stride,
                                    int64_t row_elems, const int64_t *indices, const int32_t *count,
                                    int64_t padded_rows, fa_stream_t stream) {
  const long long row_vecs = row_elems / 8;
  const dim3 block = row_block(row_vecs);
  const dim3 grid((unsigned)ceil_div(padded_rows, block.y));
  // Zero first, then scatter, in stream order: each kept row is written
  // twice, but no inverse map (padded row -> packed row) is needed.
  const cudaError_t e = launch(zero_rows_kernel, grid, block, (cudaStream_t)stream, static_cast<uint4 *>(dst),
                               (long long)(dst_stride / 8), row_vecs, (long long)padded_rows);
  if (e != cudaSuccess) return e;
  return launch(scatter_rows_kernel, grid, block, (cudaStream_t)stream, static_cast<const uint4 *>(src),
                (long long)(src_stride / 8), static_cast<uint4 *>(dst), (long long)(dst_stride / 8), row_vecs, indices,
                count, (long long)padded_rows);
}

extern "C" int fa_cuda_seqlens_from_position_ids(const void *position_ids, int is_int64, int32_t total,
                                                 int32_t *cu_seqlens, int32_t *num_seqs, int32_t *max_seqlen,
                                                 fa_stream_t stream) {
  const cudaStream_t s = (cudaStream_t)stream;
  if (is_int64)
    return seqlens_from_position_ids(static_cast<const int64_t *>(position_ids), total, cu_seqlens, num_seqs,
                                     max_seqlen, s);
  return seqlens_from_position_ids(static_cast<const int32_t *>(position_ids), total, cu_seqlens, num_seqs, max_seqlen,
                                   s);
}
