// combine.cu - the merge of partial attention results on the GPU, in one of
// two warp layouts (combine_kernel's template; the job's by_columns picks):
// - by columns, for small jobs whose rows each merge many parts (the decode
//   family's uniform splits: at most ~100 partial rows, 33 parts a row at
//   b1 x 128k): a warp per (row, head, 32 columns), lane c owning column c
//   of the 32. Right after the wait for the partials each lane issues the
//   o loads of the first 32 parts at once, then reads the LSEs (lane p:
//   part p) and merges them, so a row costs about one load latency;
//   the same for partials by piece of at most 32 sequences (the warp's
//   plan: few rows, the long caches in many parts: 1 x 128k + 7 x 1k 2.5%
//   less time than by rows), except a pair's short launch, whose rows per
//   sequence are the pair's bound and mostly empty;
// - by rows, for fa_combine and partials by piece of more sequences: a
//   warp per (row, head), lane owning 4 consecutive columns per 128; the
//   parts' o rows are prefetched into L1 before the LSE merge and 8 parts'
//   loads are in flight at once. By piece most rows of a large batch have a
//   single part and are skipped: by columns, four times the warps each paid
//   that check (504 x 1k + 8 x 16k 6% slower). A large fa_combine of few parts keeps
//   more bytes in flight this way (by columns: 127 registers, 4 blocks an
//   SM, one 4-byte load a part and lane).
// Either way the sums run in part index order: the same bits.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "attn/softmax.h"
#include "cuda/combine.h"
#include "cuda/common/launch.cuh"
#include "cuda/ptx.cuh"

namespace {

constexpr int kWarps = 4;

__device__ __forceinline__ void store1(void *out, fa_dtype dtype, int64_t at, float v) {
  if (dtype == FA_DTYPE_FP32)
    static_cast<float *>(out)[at] = v;
  else if (dtype == FA_DTYPE_BF16)
    static_cast<__nv_bfloat16 *>(out)[at] = __float2bfloat16_rn(v);
  else
    static_cast<__half *>(out)[at] = __float2half_rn(v);
}

__device__ __forceinline__ void store4(void *out, fa_dtype dtype, int64_t at, const float (&v)[4]) {
  if (dtype == FA_DTYPE_FP32) {
    *reinterpret_cast<float4 *>(static_cast<float *>(out) + at) = make_float4(v[0], v[1], v[2], v[3]);
  } else if (dtype == FA_DTYPE_BF16) {
    __nv_bfloat162 lo = __floats2bfloat162_rn(v[0], v[1]), hi = __floats2bfloat162_rn(v[2], v[3]);
    uint2 bits;
    bits.x = *reinterpret_cast<uint32_t *>(&lo);
    bits.y = *reinterpret_cast<uint32_t *>(&hi);
    *reinterpret_cast<uint2 *>(static_cast<__nv_bfloat16 *>(out) + at) = bits;
  } else {
    __half2 lo = __floats2half2_rn(v[0], v[1]), hi = __floats2half2_rn(v[2], v[3]);
    uint2 bits;
    bits.x = *reinterpret_cast<uint32_t *>(&lo);
    bits.y = *reinterpret_cast<uint32_t *>(&hi);
    *reinterpret_cast<uint2 *>(static_cast<__half *>(out) + at) = bits;
  }
}

constexpr unsigned kFull = 0xffffffffu;
constexpr int kLoadsAhead = 8;  // by rows: parts whose o a lane loads before it adds them

// Part p0 + lane's LSE (natural log; -inf past the last part).
__device__ __forceinline__ float lane_part_lse(const float *lse_row, int64_t stride, int n, int p0, int lane) {
  return p0 + lane < n ? lse_row[(int64_t)(p0 + lane) * stride] : -INFINITY;
}

// fa_merge_parts (attn/softmax.h) by a warp: each lane reads one part's LSE
// per 32 parts, so the loads overlap instead of forming a chain. The same
// bits: the max is order-free, and the sum is still taken in part order
// (shuffled to every lane); adding 0 for an empty part changes nothing.
__device__ fa_merge merge_parts_warp(const float *lse_row, int64_t stride, int n, float sink_log2, int lane) {
  float max = sink_log2;
  bool nan = false;
  for (int p0 = 0; p0 < n; p0 += 32) {
    const float l = lane_part_lse(lse_row, stride, n, p0, lane);
    nan |= l != l;
    if (l != -INFINITY) max = fmaxf(max, l * FA_LOG2E_F);
  }
#pragma unroll
  for (int x = 16; x > 0; x >>= 1) max = fmaxf(max, __shfl_xor_sync(kFull, max, x));
  fa_merge m;
  if (fa_merge_nan_or_empty(__any_sync(kFull, nan), max, &m)) return m;
  float sum = 0.f;
  for (int p0 = 0; p0 < n; p0 += 32) {
    const float e = fa_merge_term(lane_part_lse(lse_row, stride, n, p0, lane), max);
    const int count = min(32, n - p0);
    for (int q = 0; q < count; ++q) sum += __shfl_sync(kFull, e, q);
  }
  fa_merge_finish(sum, sink_log2, &m);
  return m;
}

// By rows: sum over parts of w_p * o_p for the 4 elements at d, in part order (as the
// sequential loop did), with kLoadsAhead parts' loads in flight at a time.
// An empty part's o is never read.
__device__ void merge_o(const float *o_row, int64_t part_stride, const float *lse_row, int64_t lse_stride, int n,
                        const fa_merge &m, int d, int lane, float (&acc)[4]) {
  for (int p0 = 0; p0 < n; p0 += 32) {
    const float l = lane_part_lse(lse_row, lse_stride, n, p0, lane);
    const bool live = l != -INFINITY;
    const float w = live ? fa_merge_weight(&m, l) : 0.f;
    const unsigned live_mask = __ballot_sync(kFull, live);
    const int count = min(32, n - p0);
    for (int q0 = 0; q0 < count; q0 += kLoadsAhead) {
      float4 v[kLoadsAhead];
#pragma unroll
      for (int u = 0; u < kLoadsAhead; ++u) {
        const int q = q0 + u;
        v[u] = q < count && (live_mask >> q & 1u)
                   ? *reinterpret_cast<const float4 *>(o_row + (int64_t)(p0 + q) * part_stride + d)
                   : make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll
      for (int u = 0; u < kLoadsAhead; ++u) {
        const int q = q0 + u;
        const float wq = __shfl_sync(kFull, w, q & 31);
        if (q < count && (live_mask >> q & 1u))
          acc[0] += wq * v[u].x, acc[1] += wq * v[u].y, acc[2] += wq * v[u].z, acc[3] += wq * v[u].w;
      }
    }
  }
}

// The lane's o elements of the first kPrefetchParts parts into L1, issued
// before the LSEs are read and merged: by the time merge_o loads them they
// are L1 hits (an empty part's row is prefetched too; it is never read).
constexpr int kPrefetchParts = 64;
__device__ __forceinline__ void prefetch_o(const float *o_row, int64_t part_stride, int n, int head_dim, int lane) {
  for (int d = lane * 4; d < head_dim; d += 128)
    for (int p = 0; p < n && p < kPrefetchParts; ++p) fa::prefetch_l1(o_row + (int64_t)p * part_stride + d);
}

// By columns: parts p0 .. p0 + 31 (those below n) of column d: o loads issued at once,
// before anything waits for them. An empty part's value is loaded too (its
// slot lies inside the partials) but never added (merge_o_column).
__device__ __forceinline__ void load_part_batch(const float *o_row, int64_t part_stride, int n, int p0, int d,
                                                float (&v)[32]) {
#pragma unroll
  for (int q = 0; q < 32; ++q) v[q] = p0 + q < n ? o_row[(int64_t)(p0 + q) * part_stride + d] : 0.f;
}

// sum over parts of w_p * o_p for column d, in part order (as the
// sequential loop did); `first` holds parts 0..31, loaded before the merge.
// An empty part is never added (0 x NaN would be NaN).
__device__ float merge_o_column(const float *o_row, int64_t part_stride, const float *lse_row, int64_t lse_stride,
                                int n, const fa_merge &m, int d, int lane, const float (&first)[32]) {
  float acc = 0.f;
  for (int p0 = 0; p0 < n; p0 += 32) {
    const float l = lane_part_lse(lse_row, lse_stride, n, p0, lane);
    const bool live = l != -INFINITY;
    const float w = live ? fa_merge_weight(&m, l) : 0.f;
    const unsigned live_mask = __ballot_sync(kFull, live);
    float v[32];
    if (p0 == 0) {
#pragma unroll
      for (int q = 0; q < 32; ++q) v[q] = first[q];
    } else {
      load_part_batch(o_row, part_stride, n, p0, d, v);
    }
#pragma unroll
    for (int q = 0; q < 32; ++q) {
      const float wq = __shfl_sync(kFull, w, q);
      if (live_mask >> q & 1u) acc += wq * v[q];
    }
  }
  return acc;
}

constexpr int kWarpCols = 32;  // head-dim columns per warp: one per lane

template <bool kByColumns>
__global__ void __launch_bounds__(kWarps * 32) combine_kernel(const __grid_constant__ fa_combine_job j) {
  const int lane = threadIdx.x & 31;
  const int groups = kByColumns ? (j.head_dim + kWarpCols - 1) / kWarpCols : 1;  // warps per (row, head)
  const int64_t items = (int64_t)j.batch * j.rows_per_batch * j.num_heads * groups;
  // The loop bound is the same for the 32 lanes of a warp (warp-wide
  // shuffles below), and so is every `continue`.
  for (int64_t item = (int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5); item < items;
       item += (int64_t)gridDim.x * kWarps) {
    const int g = kByColumns ? (int)(item % groups) : 0;
    const int64_t row_head = kByColumns ? item / groups : item;
    const int h = (int)(row_head % j.num_heads);
    const int64_t row = row_head / j.num_heads;
    const int b = (int)(row / j.rows_per_batch);
    const int64_t i = row % j.rows_per_batch;
    // The call's inputs first (cu_seqlens_q, sinks: written before the
    // decode grid started); then wait, when launched as that grid's
    // dependent, until its partials are complete and visible (at once on
    // later items).
    const fa_combine_seq s = fa_combine_locate(&j, b);
    const float sink = j.sinks != nullptr ? j.sinks[h] * FA_LOG2E_F : -INFINITY;
    fa::griddep_wait();
    if (i >= s.rows) continue;
    const fa_combine_parts at = fa_combine_parts_of(&j, &s, b, i, h);  // by piece: written by the grid before
    const int n = at.n;
    if (n == 0) continue;
    const float *lse_row = j.lse_parts + at.lse_row;
    const float *o_row = j.o_parts + at.o_row;
    const int64_t out_row = (int64_t)b * j.out_batch_stride + (s.q_start + i) * j.out_row_stride + h * j.out_head_stride;
    fa_merge m;
    if constexpr (kByColumns) {
      const int d = g * kWarpCols + lane;
      const bool in_row = d < j.head_dim;
      float first[32];
      load_part_batch(o_row, at.o_part_stride, n, 0, in_row ? d : 0, first);
      m = merge_parts_warp(lse_row, at.lse_part_stride, n, sink, lane);
      const float acc = merge_o_column(o_row, at.o_part_stride, lse_row, at.lse_part_stride, n, m, in_row ? d : 0,
                                       lane, first);
      if (in_row) store1(j.out, j.out_dtype, out_row + d, acc);
    } else {
      prefetch_o(o_row, at.o_part_stride, n, j.head_dim, lane);
      m = merge_parts_warp(lse_row, at.lse_part_stride, n, sink, lane);
      for (int d0 = 0; d0 < j.head_dim; d0 += 128) {
        const int d = d0 + lane * 4;
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        merge_o(o_row, at.o_part_stride, lse_row, at.lse_part_stride, n, m, d < j.head_dim ? d : 0, lane, acc);
        if (d < j.head_dim) store4(j.out, j.out_dtype, out_row + d, acc);
      }
    }
    if (j.lse != nullptr && g == 0 && lane == 0)
      j.lse[(int64_t)b * j.lse_batch_stride + h * j.lse_head_stride + s.q_start + i] = m.lse;
  }
}

}  // namespace

// programmatic: launched as a programmatic dependent of the kernel before
// it on the stream (sm_90; that kernel calls griddep_launch_dependents), so
// that its launch overlaps that kernel's last blocks; griddep_wait() keeps
// the order of the data.
static int launch_combine(const fa_combine_job *job, fa_stream_t stream, bool programmatic) {
  const bool by_columns = job->by_columns != 0;  // see the top
  const int64_t items = (int64_t)job->batch * job->rows_per_batch * job->num_heads *
                        (by_columns ? (job->head_dim + kWarpCols - 1) / kWarpCols : 1);
  if (items == 0) return cudaSuccess;
  const int64_t blocks = (items + kWarps - 1) / kWarps;
  const unsigned grid = (unsigned)(blocks < (1 << 20) ? blocks : (1 << 20));  // grid-stride beyond
  void *params[] = {const_cast<fa_combine_job *>(job)};
  const void *kernel = by_columns ? reinterpret_cast<const void *>(combine_kernel<true>)
                                  : reinterpret_cast<const void *>(combine_kernel<false>);
  return fa::launch_kernel(kernel, dim3(grid), dim3(kWarps * 32), 0, (cudaStream_t)stream, params, programmatic);
}

extern "C" int fa_cuda_combine(const fa_combine_job *job, fa_stream_t stream) {
  return launch_combine(job, stream, false);
}

int fa_cuda_combine_dependent(const fa_combine_job *job, fa_stream_t stream) {
  return launch_combine(job, stream, true);
}
