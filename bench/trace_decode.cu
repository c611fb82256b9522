// trace_decode.cu - the per-block timeline of one decode launch
// (src/cuda/decode_trace.cuh; run by bench/trace_decode.sh, read by
// bench/trace_decode.py). This file includes one generated decode kernel
// with the trace compiled in and is linked before libflashattn.a, so the
// archive's copy of that kernel is never pulled in and dispatch launches
// this one.
//
//   trace_decode LENGTHS [NUM_SPLITS]
//
// LENGTHS: cached keys per sequence, a comma list of N or CxN (C sequences
// of N keys), e.g. 131072, 8x32768, 1x131072,7x1024. One query per
// sequence, GQA 32/8, bf16 (fp16 with an _fp16_ kernel), head dim from the
// kernel, the cache contiguous (varlen, as bench_decode.py's rows), random
// inputs. NUM_SPLITS: fa_fwd_params.num_splits (default 0, the heuristic).
// Prints "# ..." lines (kernel, call times), then one line per block of the
// last of 5 calls: block smid b kv_head mt split splits, the block marks
// (entry piece q merged exit), each warp's first tile and loop end, and
// each warp's steps (times in ns from the launch's first entry, -1 where a
// mark was not reached), then the same marks in SM cycles from the block's
// entry (-1 where not reached).
#ifndef FA_TRACE_KERNEL
#error "build with -DFA_TRACE_KERNEL='\"cuda/<generated decode kernel>.cu\"' (bench/trace_decode.sh)"
#endif
#ifndef FA_DECODE_TRACE_BLOCKS
#define FA_DECODE_TRACE_BLOCKS 16384
#endif
#include FA_TRACE_KERNEL

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "flashattn.h"
#define FA_TRACE_TOOL "trace_decode"
#include "trace_util.h"

// "8x32768,1x1024" -> 8 lengths of 32768 and one of 1024.
static std::vector<int32_t> parse_lengths(const char *text) {
  std::vector<int32_t> out;
  const char *s = text;
  while (*s != '\0') {
    char *end;
    long count = 1, n = strtol(s, &end, 10);
    if (*end == 'x') {
      count = n;
      n = strtol(end + 1, &end, 10);
    }
    if (end == s || count < 1 || n < 1 || n > (1L << 30) || (*end != ',' && *end != '\0')) die("LENGTHS", text);
    for (long i = 0; i < count; ++i) out.push_back((int32_t)n);
    s = *end == ',' ? end + 1 : end;
  }
  if (out.empty()) die("LENGTHS", "empty");
  return out;
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage", "trace_decode LENGTHS [NUM_SPLITS]");
  const std::vector<int32_t> lens = parse_lengths(argv[1]);
  const int num_splits = argc > 2 ? atoi(argv[2]) : 0;
  const int bf16 = strstr(FA_TRACE_KERNEL, "_fp16_") == nullptr;
  const char *hd = strstr(FA_TRACE_KERNEL, "hdim");
  const int d = hd != nullptr ? atoi(hd + 4) : 0;
  // TRACE_HEADS=HQ:HK (default 32:8, the bench rows' GQA)
  int hq = 32, hk = 8;
  if (const char *h = getenv("TRACE_HEADS")) {
    if (sscanf(h, "%d:%d", &hq, &hk) != 2 || hq <= 0 || hk <= 0 || hq % hk != 0) die("TRACE_HEADS", "want HQ:HK");
  }
  if (d <= 0) die("FA_TRACE_KERNEL", "no hdim<d> in the name");
  const int b = (int)lens.size();
  int64_t total_k = 0;
  int32_t max_k = 0;
  std::vector<int32_t> cu_q((size_t)b + 1), cu_k((size_t)b + 1);
  for (int i = 0; i < b; ++i) {
    cu_q[(size_t)i] = i, cu_k[(size_t)i] = (int32_t)total_k;
    total_k += lens[(size_t)i];
    max_k = lens[(size_t)i] > max_k ? lens[(size_t)i] : max_k;
  }
  cu_q[(size_t)b] = b, cu_k[(size_t)b] = (int32_t)total_k;
  if (total_k > INT32_MAX) die("LENGTHS", "more than 2^31 - 1 keys in all");

  const size_t q_elems = (size_t)b * hq * d, kv_elems = (size_t)total_k * hk * d;
  void *q, *k, *v, *out, *ws = nullptr;
  int32_t *dcu_q, *dcu_k, *used;
  check(cudaMalloc(&q, q_elems * 2), "cudaMalloc");
  check(cudaMalloc(&out, q_elems * 2), "cudaMalloc");
  check(cudaMalloc(&k, kv_elems * 2), "cudaMalloc");
  check(cudaMalloc(&v, kv_elems * 2), "cudaMalloc");
  check(cudaMalloc((void **)&dcu_q, sizeof(int32_t) * cu_q.size()), "cudaMalloc");
  check(cudaMalloc((void **)&dcu_k, sizeof(int32_t) * cu_k.size()), "cudaMalloc");
  check(cudaMalloc((void **)&used, sizeof(int32_t) * lens.size()), "cudaMalloc");
  uint64_t state = 1;
  {
    std::vector<uint16_t> host(q_elems);
    fill(host, bf16, &state);
    check(cudaMemcpy(q, host.data(), q_elems * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
  }
  for (void *dst : {k, v}) {  // in pieces: the cache may be tens of GB on the host otherwise
    const size_t chunk = (size_t)1 << 26;
    std::vector<uint16_t> host(chunk < kv_elems ? chunk : kv_elems);
    for (size_t at = 0; at < kv_elems; at += host.size()) {
      const size_t n = kv_elems - at < host.size() ? kv_elems - at : host.size();
      fill(host, bf16, &state);
      check(cudaMemcpy(static_cast<uint16_t *>(dst) + at, host.data(), n * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
    }
  }
  check(cudaMemcpy(dcu_q, cu_q.data(), sizeof(int32_t) * cu_q.size(), cudaMemcpyHostToDevice), "cudaMemcpy");
  check(cudaMemcpy(dcu_k, cu_k.data(), sizeof(int32_t) * cu_k.size(), cudaMemcpyHostToDevice), "cudaMemcpy");
  check(cudaMemcpy(used, lens.data(), sizeof(int32_t) * lens.size(), cudaMemcpyHostToDevice), "cudaMemcpy");

  fa_fwd_params p = fa_fwd_params_default();
  p.backend = FA_BACKEND_CUDA;
  p.dtype = bf16 ? FA_DTYPE_BF16 : FA_DTYPE_FP16;
  p.batch = b;
  p.num_heads_q = hq, p.num_heads_k = hk;
  p.head_dim = d;
  p.max_seqlen_q = 1, p.max_seqlen_k = max_k;
  p.cu_seqlens_q = dcu_q, p.total_q = b;
  p.cu_seqlens_k = dcu_k, p.total_k = total_k;
  p.seqused_k = used;
  // TRACE_DENSE=1 (equal lengths only): the same memory as a dense call,
  // q [b, 1, HQ, D] and K/V [b, L, HK, D] packed, no cu_seqlens and no
  // seqused_k: the host knows every length, so no split plan runs (the
  // kernel without a plan; bench_decode.py's " dense" rows).
  if (const char *dense = getenv("TRACE_DENSE"); dense != nullptr && atoi(dense) != 0) {
    for (int i = 0; i < b; ++i)
      if (lens[(size_t)i] != max_k) die("TRACE_DENSE", "needs every length equal");
    p.cu_seqlens_q = nullptr, p.total_q = 0;
    p.cu_seqlens_k = nullptr, p.total_k = 0;
    p.seqused_k = nullptr;
  }
  p.q = q, p.k = k, p.v = v, p.out = out;
  p.num_splits = num_splits;
  fa_message msg;
  size_t bytes = 0, index = 0;
  if (fa_fwd_workspace_size(&p, &bytes, &msg) != FA_OK) die("fa_fwd_workspace_size", msg.text);
  if (bytes > 0) check(cudaMalloc(&ws, bytes), "cudaMalloc");
  p.workspace = ws, p.workspace_bytes = bytes;
  if (fa_fwd_query(&p, &index, &msg) != FA_OK) die("fa_fwd_query", msg.text);
  fa_kernel_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  if (fa_kernel_info_get(index, &info) != FA_OK) die("fa_kernel_info_get", "failed");
  if (strstr(FA_TRACE_KERNEL, info.name) == nullptr)
    fprintf(stderr, "trace_decode: dispatch picked %s, not the traced kernel: no records\n", info.name);

  cudaEvent_t t0, t1;
  check(cudaEventCreate(&t0), "cudaEventCreate");
  check(cudaEventCreate(&t1), "cudaEventCreate");
  const int calls = 5;
  float ms[calls];
  std::vector<fa::DecodeTraceRecord> zero(FA_DECODE_TRACE_BLOCKS);
  memset(zero.data(), 0, zero.size() * sizeof zero[0]);
  for (int r = 0; r < calls; ++r) {
    check(cudaMemcpyToSymbol(fa::decode_trace_records, zero.data(), zero.size() * sizeof zero[0]), "cudaMemcpyToSymbol");
    check(cudaEventRecord(t0, 0), "cudaEventRecord");
    if (fa_fwd(&p, &msg) != FA_OK) die("fa_fwd", msg.text);
    check(cudaEventRecord(t1, 0), "cudaEventRecord");
    check(cudaEventSynchronize(t1), "cudaEventSynchronize");
    check(cudaEventElapsedTime(&ms[r], t0, t1), "cudaEventElapsedTime");
  }
  std::vector<fa::DecodeTraceRecord> rec(FA_DECODE_TRACE_BLOCKS);
  check(cudaMemcpyFromSymbol(rec.data(), fa::decode_trace_records, rec.size() * sizeof rec[0]), "cudaMemcpyFromSymbol");
  int sms = 0;
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), "cudaDeviceGetAttribute");

  printf("# kernel %s (traced: %s) batch %d keys %lld max %d d%d %s num_splits %d workspace %zu sms %d%s\n", info.name,
         FA_TRACE_KERNEL, b, (long long)total_k, max_k, d, bf16 ? "bf16" : "fp16", num_splits, bytes, sms,
         p.seqused_k == nullptr ? " dense" : "");
  printf("# lengths %s\n", argv[1]);
  printf("# call_ms");
  for (int r = 0; r < calls; ++r) printf(" %.4f", ms[r]);
  printf("\n# kv_bytes %lld\n", (long long)(2 * kv_elems * 2));
  unsigned long long first = ~0ull;
  int blocks = 0;
  for (int i = 0; i < FA_DECODE_TRACE_BLOCKS; ++i)
    if (rec[(size_t)i].block_ns[fa::kDtEntry] != 0) {
      blocks = i + 1;
      if (rec[(size_t)i].block_ns[fa::kDtEntry] < first) first = rec[(size_t)i].block_ns[fa::kDtEntry];
    }
  if (blocks == FA_DECODE_TRACE_BLOCKS) printf("# WARNING: the grid may have more blocks than the %d recorded\n", blocks);
  auto rel = [&](unsigned long long t) { return t == 0 ? -1LL : (long long)(t - first); };
  printf("# block smid b kv_head mt split splits entry piece q merged exit w0_first w0_end w1_first w1_end w2_first "
         "w2_end w3_first w3_end steps0 steps1 steps2 steps3 c_piece c_q c_merged c_exit c0_first c0_end c1_first "
         "c1_end c2_first c2_end c3_first c3_end wait0 wait1 wait2 wait3 p_sum p_splits p_sorted p_scanned\n");
  for (int i = 0; i < blocks; ++i) {
    const fa::DecodeTraceRecord &r = rec[(size_t)i];
    if (r.block_ns[fa::kDtEntry] == 0) continue;
    printf("%d %d %d %d %d %d %d", i, r.smid, r.b, r.kv_head, r.mt, r.split, r.splits);
    for (int m = 0; m < fa::kDtBlockMarks; ++m) printf(" %lld", rel(r.block_ns[m]));
    for (int w = 0; w < 4; ++w)
      for (int m = 0; m < fa::kDtWarpMarks; ++m) printf(" %lld", rel(r.warp_ns[w][m]));
    for (int w = 0; w < 4; ++w) printf(" %d", r.steps[w]);
    auto cycles = [&](unsigned long long ns, unsigned clk) { return ns == 0 ? -1LL : (long long)(clk - r.block_clk[0]); };
    for (int m = 1; m < fa::kDtBlockMarks; ++m) printf(" %lld", cycles(r.block_ns[m], r.block_clk[m]));
    for (int w = 0; w < 4; ++w)
      for (int m = 0; m < fa::kDtWarpMarks; ++m) printf(" %lld", cycles(r.warp_ns[w][m], r.warp_clk[w][m]));
    for (int w = 0; w < 4; ++w) printf(" %u", r.wait_clk[w]);
    // the warp's plan phases, cycles from entry (-1: no warp plan ran)
    for (int m = 0; m < fa::kDpPlanMarks; ++m)
      printf(" %lld", r.plan_clk[m] == 0 ? -1LL : (long long)(unsigned)(r.plan_clk[m] - r.block_clk[0]));
    printf("\n");
  }
  cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(out), cudaFree(ws);
  cudaFree(dcu_q), cudaFree(dcu_k), cudaFree(used);
  return 0;
}
