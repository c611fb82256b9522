// trace_wgmma.cu - the event timeline of one wgmma kernel on one problem
// (src/cuda/wgmma_trace.cuh; run by bench/trace_wgmma.sh, read by
// bench/trace_wgmma.py). This file includes one generated kernel with the
// trace compiled in and is linked before libflashattn.a, so the archive's
// copy of that kernel is never pulled in and the call launches this one.
//
//   trace_wgmma BATCH SEQLEN HEAD_DIM causal|full [fp16]
//
// Varlen call (cu_seqlens 0, s, 2s, ...), as bench.py's varlen call and
// ab_prefill.c pass the grid (TRACE_DENSE=1: the dense call on the same
// memory), run on the traced kernel (fa_fwd_with_kernel) whichever
// dispatch would pick; heads = 2048 / head dim; random inputs. Prints the
// kernel's name, then one line per record: block, role (0 producer, 1 + c
// consumer c), SM clock, event, argument; then "# span block role start
// end sm" per role of every block (global timer, ns; the SM it ran on;
// roles that do not exist are left out); then "# points block" and the
// global timer at each of the kernel's FA_WGMMA_TRACE_POINTS points (entry to
// tile list built, wgmma_trace.cuh), then the SM clock at each; with
// TRACE_L2_FLUSH=2 "# flush first_end last_end" (below). The last of 4
// calls is the one recorded.
#ifndef FA_TRACE_KERNEL
#error "build with -DFA_TRACE_KERNEL='\"cuda/<generated wgmma kernel>.cu\"' (bench/trace_wgmma.sh)"
#endif
#ifndef FA_WGMMA_TRACE_CAP
#define FA_WGMMA_TRACE_CAP 4096
#endif
#define FA_WGMMA_TRACE_BLOCKS 4
#include FA_TRACE_KERNEL

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <string>
#include <vector>

#include "flashattn.h"
#define FA_TRACE_TOOL "trace_wgmma"
#include "trace_util.h"

// TRACE_L2_FLUSH=2: the flush written by this kernel instead of
// cudaMemsetAsync (as do_bench's cache.zero_(): a kernel before ours, so
// that our programmatic launch may start under its last blocks), each
// block's end (global timer, after its stores are issued) folded into the
// first and the last; printed as "# flush first_end last_end" and read by
// trace_wgmma.py against our blocks' entries and griddep waits.
// TRACE_FLUSH_EVENT=1: an event recorded between the flush and our call,
// as do_bench records its start event there.
__device__ unsigned long long trace_flush_first_end = ~0ull, trace_flush_last_end;
__global__ void trace_flush_fill(uint4 *dst, unsigned value) {
  dst[(size_t)blockIdx.x * blockDim.x + threadIdx.x] = make_uint4(value, value, value, value);
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    atomicMin(&trace_flush_first_end, t);
    atomicMax(&trace_flush_last_end, t);
  }
}

// The table index of the kernel FA_TRACE_KERNEL names ("cuda/<name>.cu").
static size_t traced_kernel_index() {
  std::string name = FA_TRACE_KERNEL;
  name = name.substr(name.rfind('/') + 1);
  name = name.substr(0, name.size() - 3);
  const size_t n = fa_kernel_count();
  for (size_t i = 0; i < n; ++i) {
    fa_kernel_info k;
    memset(&k, 0, sizeof k);
    k.struct_size = sizeof k;
    if (fa_kernel_info_get(i, &k) == FA_OK && name == k.name) return i;
  }
  die("traced kernel", "not in the table (a small spec without it?)");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) die("usage", "trace_wgmma BATCH SEQLEN HEAD_DIM causal|full [fp16]");
  const int b = atoi(argv[1]), s = atoi(argv[2]), d = atoi(argv[3]);
  const int causal = strcmp(argv[4], "causal") == 0, bf16 = !(argc > 5 && strcmp(argv[5], "fp16") == 0);
  const int h = 2048 / d;
  const size_t elems = (size_t)b * s * h * d;
  void *q, *k, *v, *out;
  int32_t *cu;
  check(cudaMalloc(&q, elems * 2), "cudaMalloc");
  check(cudaMalloc(&k, elems * 2), "cudaMalloc");
  check(cudaMalloc(&v, elems * 2), "cudaMalloc");
  check(cudaMalloc(&out, elems * 2), "cudaMalloc");
  check(cudaMalloc((void **)&cu, sizeof(int32_t) * (size_t)(b + 1)), "cudaMalloc");
  std::vector<uint16_t> host(elems);
  uint64_t state = 1;
  for (void *dst : {q, k, v}) {
    fill(host, bf16, &state);
    check(cudaMemcpy(dst, host.data(), elems * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
  }
  std::vector<int32_t> cu_host((size_t)b + 1);
  for (int i = 0; i <= b; ++i) cu_host[(size_t)i] = i * s;
  check(cudaMemcpy(cu, cu_host.data(), sizeof(int32_t) * cu_host.size(), cudaMemcpyHostToDevice), "cudaMemcpy");

  fa_fwd_params p = fa_fwd_params_default();
  p.backend = FA_BACKEND_CUDA;
  p.dtype = bf16 ? FA_DTYPE_BF16 : FA_DTYPE_FP16;
  p.batch = b;
  p.num_heads_q = p.num_heads_k = h;
  p.head_dim = d;
  p.max_seqlen_q = p.max_seqlen_k = s;
  // TRACE_DENSE=1: the same memory as a dense call (batch x seqlen, no
  // cu_seqlens): no varlen tables in the preamble
  if (getenv("TRACE_DENSE") == NULL || atoi(getenv("TRACE_DENSE")) == 0) {
    p.cu_seqlens_q = p.cu_seqlens_k = cu;
    p.total_q = p.total_k = (int64_t)b * s;
  }
  p.q = q, p.k = k, p.v = v, p.out = out;
  p.window_left = -1;
  p.window_right = causal ? 0 : -1;
  // The traced kernel runs whatever dispatch would pick (fa_fwd_with_kernel
  // by its table name), so a long-key kernel can be traced on short keys.
  const size_t index = traced_kernel_index();
  fa_kernel_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  if (fa_kernel_info_get(index, &info) != FA_OK) die("fa_kernel_info_get", "failed");
  fa_message msg;
  // The workspace the kernel asks for, as a runtime gives it (the wgmma
  // family's pool counter or split partials); TRACE_NO_WORKSPACE=1: none.
  size_t ws_bytes = 0;
  if (getenv("TRACE_NO_WORKSPACE") == NULL && fa_fwd_workspace_size_with_kernel(&p, index, &ws_bytes, &msg) != FA_OK)
    die("fa_fwd_workspace_size_with_kernel", msg.text);
  if (ws_bytes > 0) {
    check(cudaMalloc(&p.workspace, ws_bytes), "cudaMalloc");
    p.workspace_bytes = ws_bytes;
  }
  // TRACE_L2_FLUSH=1: 256 MiB written before the recorded call, so its
  // loads start from a cold L2 as bench.py's timings (triton do_bench) do
  // (=2: by a kernel, trace_flush_fill above).
  void *flush = NULL;
  const size_t flush_bytes = (size_t)256 << 20;
  const int flush_mode = getenv("TRACE_L2_FLUSH") != NULL ? atoi(getenv("TRACE_L2_FLUSH")) : 0;
  if (flush_mode != 0) check(cudaMalloc(&flush, flush_bytes), "cudaMalloc");
  cudaEvent_t between;
  check(cudaEventCreate(&between), "cudaEventCreate");
  const bool event_between = getenv("TRACE_FLUSH_EVENT") != NULL && atoi(getenv("TRACE_FLUSH_EVENT")) != 0;
  for (int r = 0; r < 4; ++r) {
    if (r == 3 && flush_mode == 1) check(cudaMemsetAsync(flush, r, flush_bytes, 0), "cudaMemsetAsync");
    if (r == 3 && flush_mode == 2) {
      trace_flush_fill<<<(unsigned)(flush_bytes / 16 / 256), 256>>>(static_cast<uint4 *>(flush), 0x03030303u);
      check(cudaGetLastError(), "trace_flush_fill");
    }
    if (r == 3 && event_between) check(cudaEventRecord(between, 0), "cudaEventRecord");
    if (fa_fwd_with_kernel(&p, index, &msg) != FA_OK) die("fa_fwd_with_kernel", msg.text);
  }
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  cudaEventDestroy(between);

  constexpr int kRows = 4 * FA_WGMMA_TRACE_BLOCKS;
  unsigned counts[kRows];
  std::vector<uint2> records((size_t)kRows * FA_WGMMA_TRACE_CAP);
  check(cudaMemcpyFromSymbol(counts, fa::wgmma_trace_counts, sizeof counts), "cudaMemcpyFromSymbol");
  check(cudaMemcpyFromSymbol(records.data(), fa::wgmma_trace_records, records.size() * sizeof(uint2)),
        "cudaMemcpyFromSymbol");
  printf("# kernel %s (traced: %s) b%d s%d d%d %s %s %s\n", info.name, FA_TRACE_KERNEL, b, s, d,
         causal ? "causal" : "full", bf16 ? "bf16" : "fp16", p.cu_seqlens_q != NULL ? "varlen" : "dense");
  for (int row = 0; row < kRows; ++row)
    for (unsigned i = 0; i < counts[row] && i < FA_WGMMA_TRACE_CAP; ++i) {
      const uint2 r = records[(size_t)row * FA_WGMMA_TRACE_CAP + i];
      printf("%d %d %u %u %u\n", row / 4, row % 4, r.x, r.y & 0xffu, r.y >> 8);
    }
  int blocks = 0;
  check(cudaDeviceGetAttribute(&blocks, cudaDevAttrMultiProcessorCount, 0), "cudaDeviceGetAttribute");
  if (blocks > FA_WGMMA_TRACE_SPAN_BLOCKS) blocks = FA_WGMMA_TRACE_SPAN_BLOCKS;  // the persistent grid: one block an SM
  std::vector<unsigned long long> spans((size_t)4 * FA_WGMMA_TRACE_SPAN_BLOCKS * 3);
  check(cudaMemcpyFromSymbol(spans.data(), fa::wgmma_trace_spans, spans.size() * sizeof(unsigned long long)),
        "cudaMemcpyFromSymbol");
  for (int row = 0; row < 4 * blocks; ++row)
    if (spans[3 * row] != 0)
      printf("# span %d %d %llu %llu %llu\n", row / 4, row % 4, spans[3 * row], spans[3 * row + 1], spans[3 * row + 2]);
  constexpr int kPoints = 2 * FA_WGMMA_TRACE_POINTS;
  std::vector<unsigned long long> points((size_t)FA_WGMMA_TRACE_SPAN_BLOCKS * kPoints);
  check(cudaMemcpyFromSymbol(points.data(), fa::wgmma_trace_points, points.size() * sizeof(unsigned long long)),
        "cudaMemcpyFromSymbol");
  for (int blk = 0; blk < blocks; ++blk) {
    const unsigned long long *pt = &points[(size_t)blk * kPoints];
    if (pt[0] == 0) continue;
    printf("# points %d", blk);
    for (int i = 0; i < kPoints; ++i) printf(" %llu", pt[i]);
    printf("\n");
  }
  if (flush_mode == 2) {
    unsigned long long first_end = 0, last_end = 0;
    check(cudaMemcpyFromSymbol(&first_end, trace_flush_first_end, sizeof first_end), "cudaMemcpyFromSymbol");
    check(cudaMemcpyFromSymbol(&last_end, trace_flush_last_end, sizeof last_end), "cudaMemcpyFromSymbol");
    printf("# flush %llu %llu%s\n", first_end, last_end, event_between ? " event" : "");
  }
  cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(out), cudaFree(cu), cudaFree(p.workspace), cudaFree(flush);
  return 0;
}
