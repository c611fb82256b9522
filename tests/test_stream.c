/*
 * test_stream.c - the library inside the CUDA stream machinery a runtime
 * uses: capture into a CUDA graph and replay, and a stream error (a launch
 * the capture rules forbid) that must come back as FA_ERR_CUDA with a
 * message and leave the context usable; and, on sm_90, calls launched as
 * programmatic dependents of a kernel that writes their inputs late
 * (tests/pdl_writer.cu). GPU only: every case skips, with the reason,
 * without a device (the last also without sm_90).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <cuda_runtime_api.h>

#include "flashattn.h"
#include "pdl_writer.h"
#include "test_util.h"

enum { HEADS = 4, DIM = 128, SEQ0 = 300, SEQ1 = 77, TOTAL = SEQ0 + SEQ1 };

typedef struct problem {
  tu_pool pool;
  fa_fwd_params params;
  size_t n;         /* elements of q (= out) */
  uint16_t *host_q; /* inputs on the host, for the reference-free comparisons */
} problem;

/* Skips the calling test (with the reason) when no device is present. */
static void require_device(void) {
  tu_device dev;
  if (!tu_cuda_device(&dev)) {
    printf("skipped: no CUDA device: %s\n", dev.reason);
    skip();
  }
}

static void *upload(problem *pb, const void *host, size_t bytes) {
  const char *why = NULL;
  void *dev = tu_pool_device(&pb->pool, bytes, &why);
  assert_non_null(dev);
  assert_int_equal(tu_to_device(dev, host, bytes, &why), 0);
  return dev;
}

/* Two causal bf16 sequences, GQA 4/4, on a fresh stream; out poisoned. */
static void make_problem(problem *pb, uint64_t seed) {
  tu_pool_init(&pb->pool);
  tu_rng rng = tu_rng_make(seed);
  pb->n = (size_t)TOTAL * HEADS * DIM;
  uint16_t *q = tu_pool_host(&pb->pool, pb->n * 2), *k = tu_pool_host(&pb->pool, pb->n * 2);
  uint16_t *v = tu_pool_host(&pb->pool, pb->n * 2), *out = tu_pool_host(&pb->pool, pb->n * 2);
  assert_true(q && k && v && out);
  tu_fill_random(q, pb->n, FA_DTYPE_BF16, 1.0, &rng);
  tu_fill_random(k, pb->n, FA_DTYPE_BF16, 1.0, &rng);
  tu_fill_random(v, pb->n, FA_DTYPE_BF16, 1.0, &rng);
  tu_poison16(out, pb->n);
  const int32_t cu[3] = {0, SEQ0, TOTAL};
  const char *why = NULL;
  fa_fwd_params p = fa_fwd_params_default();
  p.batch = 2, p.num_heads_q = HEADS, p.num_heads_k = HEADS, p.head_dim = DIM;
  p.q = upload(pb, q, pb->n * 2), p.k = upload(pb, k, pb->n * 2), p.v = upload(pb, v, pb->n * 2);
  p.out = upload(pb, out, pb->n * 2);
  p.cu_seqlens_q = upload(pb, cu, sizeof cu), p.cu_seqlens_k = p.cu_seqlens_q;
  p.total_q = p.total_k = TOTAL, p.max_seqlen_q = p.max_seqlen_k = SEQ0;
  p.window_left = -1, p.window_right = 0;
  p.stream = tu_pool_stream(&pb->pool, &why);
  assert_non_null(p.stream);
  pb->params = p;
  pb->host_q = q;
}

static void download(problem *pb, uint16_t *dst) {
  const char *why = NULL;
  assert_int_equal(tu_stream_sync(pb->params.stream, &why), 0);
  assert_int_equal(tu_to_host(dst, pb->params.out, pb->n * 2, &why), 0);
}

/* Captured into a graph, replayed twice: the same bits as a direct call. */
static void graph_capture_and_replay(void **state) {
  (void)state;
  require_device();
  problem pb;
  make_problem(&pb, 7);
  uint16_t *direct = tu_pool_host(&pb.pool, pb.n * 2), *replayed = tu_pool_host(&pb.pool, pb.n * 2);
  fa_message msg;
  assert_int_equal(fa_fwd(&pb.params, &msg), FA_OK);
  download(&pb, direct);
  for (size_t i = 0; i < pb.n; ++i) assert_false(tu_is_poison16(direct[i]));

  const char *why = NULL;
  assert_int_equal(cudaMemsetAsync(pb.params.out, 0xff, pb.n * 2, (cudaStream_t)pb.params.stream), cudaSuccess);
  cudaGraph_t graph = NULL;
  cudaGraphExec_t exec = NULL;
  assert_int_equal(cudaStreamBeginCapture((cudaStream_t)pb.params.stream, cudaStreamCaptureModeThreadLocal),
                   cudaSuccess);
  const fa_status st = fa_fwd(&pb.params, &msg);
  assert_int_equal(cudaStreamEndCapture((cudaStream_t)pb.params.stream, &graph), cudaSuccess);
  if (st != FA_OK) fail_msg("fa_fwd under capture: %s", msg.text);
  assert_int_equal(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  for (int r = 0; r < 2; ++r) assert_int_equal(cudaGraphLaunch(exec, (cudaStream_t)pb.params.stream), cudaSuccess);
  download(&pb, replayed);
  assert_memory_equal(direct, replayed, pb.n * 2);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  (void)why;
  tu_pool_release(&pb.pool);
}

/* A launch on the legacy stream while another stream of this thread
 * captures in global mode is a stream error: the call must fail with
 * FA_ERR_CUDA and a message, and the library must work afterwards. */
static void stream_error_is_reported(void **state) {
  (void)state;
  require_device();
  problem pb;
  make_problem(&pb, 11);
  /* A blocking stream: the legacy stream synchronizes with it implicitly,
   * which a capture cannot record (a non-blocking one would not conflict). */
  cudaStream_t capturing = NULL;
  assert_int_equal(cudaStreamCreate(&capturing), cudaSuccess);
  assert_int_equal(cudaStreamBeginCapture(capturing, cudaStreamCaptureModeGlobal), cudaSuccess);
  fa_fwd_params p = pb.params;
  p.stream = NULL; /* legacy default stream: forbidden while a global capture runs */
  fa_message msg;
  const fa_status st = fa_fwd(&p, &msg);
  cudaGraph_t graph = NULL;
  (void)cudaStreamEndCapture(capturing, &graph); /* invalidated or empty: either way ends it */
  if (graph != NULL) cudaGraphDestroy(graph);
  cudaStreamDestroy(capturing);
  (void)cudaGetLastError();
  printf("call during a global capture: %s / %s\n", fa_status_string(st), msg.text);
  assert_int_equal(st, FA_ERR_CUDA);
  assert_true(strlen(msg.text) > 0);

  /* The context is still usable: a normal call on the problem's stream works. */
  uint16_t *out = tu_pool_host(&pb.pool, pb.n * 2);
  assert_int_equal(fa_fwd(&pb.params, &msg), FA_OK);
  download(&pb, out);
  for (size_t i = 0; i < pb.n; ++i) assert_false(tu_is_poison16(out[i]));
  tu_pool_release(&pb.pool);
}

/* One call after a kernel that writes its q, k and v late: that kernel
 * lets programmatic dependents start at once, spins 200 us, then copies
 * the inputs over NaN (pdl_writer.h). The call's out (n16 words) goes to
 * result. */
static void after_late_writer(problem *pb, fa_fwd_params call, uint16_t *staged, const uint16_t *inputs,
                              uint16_t *result, size_t n16) {
  const cudaStream_t stream = (cudaStream_t)call.stream;
  assert_int_equal(cudaMemsetAsync(staged, 0xff, 3 * pb->n * 2, stream), cudaSuccess);
  assert_int_equal(cudaMemsetAsync(call.out, 0xff, n16 * 2, stream), cudaSuccess);
  assert_int_equal(pdl_writer_launch(staged, inputs, 3 * pb->n, 200, stream), 0);
  call.q = staged, call.k = staged + pb->n, call.v = staged + 2 * pb->n;
  fa_message msg;
  if (fa_fwd(&call, &msg) != FA_OK) fail_msg("fa_fwd after the writer: %s", msg.text);
  const char *why = NULL;
  assert_int_equal(tu_stream_sync(call.stream, &why), 0);
  assert_int_equal(tu_to_host(result, call.out, n16 * 2, &why), 0);
}

/* launch_flags 0 (programmatic launches on sm_90): prefill calls (the
 * wgmma family; varlen, and dense over the same rows as one sequence,
 * whose blocks list their tiles from the parameters alone) and a split
 * decode call over the same keys (the decode family and its combine)
 * whose inputs the kernel before them writes late, started while it
 * spins, must wait for it: the same bits as the call on the inputs in
 * place; so must FA_LAUNCH_NO_PDL (plain launches). Without the kernels'
 * griddep_wait they would read NaN. */
static void programmatic_launch_waits_for_the_kernel_before(void **state) {
  (void)state;
  require_device();
  tu_device dev;
  tu_cuda_device(&dev);
  if (dev.cc_major != 9) {
    printf("skipped: programmatic launches need sm_90; this device is sm_%d%d\n", dev.cc_major, dev.cc_minor);
    skip();
  }
  problem pb;
  make_problem(&pb, 13);
  const char *why = NULL;
  uint16_t *inputs = tu_pool_device(&pb.pool, 3 * pb.n * 2, &why);
  uint16_t *staged = tu_pool_device(&pb.pool, 3 * pb.n * 2, &why);
  assert_true(inputs && staged);
  const cudaStream_t stream = (cudaStream_t)pb.params.stream;
  const void *in_place[3] = {pb.params.q, pb.params.k, pb.params.v};
  for (int t = 0; t < 3; ++t)
    assert_int_equal(cudaMemcpyAsync(inputs + t * pb.n, in_place[t], pb.n * 2, cudaMemcpyDeviceToDevice, stream),
                     cudaSuccess);

  /* The decode call: one query per sequence (rows 0 and 1 of q) over the
   * prefill's keys, 3 splits. */
  fa_fwd_params decode = pb.params;
  const int32_t cu_q[3] = {0, 1, 2};
  decode.cu_seqlens_q = upload(&pb, cu_q, sizeof cu_q);
  decode.total_q = 2, decode.max_seqlen_q = 1;
  decode.num_splits = 3;
  size_t ws = 0;
  fa_message msg;
  assert_int_equal(fa_fwd_workspace_size(&decode, &ws, &msg), FA_OK);
  decode.workspace = ws ? tu_pool_device(&pb.pool, ws, &why) : NULL, decode.workspace_bytes = ws;

  /* The dense call: the same q, k and v rows as one causal sequence. */
  fa_fwd_params dense = pb.params;
  dense.cu_seqlens_q = dense.cu_seqlens_k = NULL;
  dense.total_q = dense.total_k = 0;
  dense.batch = 1, dense.max_seqlen_q = dense.max_seqlen_k = TOTAL;

  enum { kCalls = 3 };
  const fa_fwd_params *calls[kCalls] = {&pb.params, &dense, &decode};
  const size_t words[kCalls] = {pb.n, pb.n, (size_t)2 * HEADS * DIM};
  const char *family[kCalls] = {"wgmma", "wgmma", "decode"};
  uint16_t *direct = tu_pool_host(&pb.pool, pb.n * 2), *chained = tu_pool_host(&pb.pool, pb.n * 2);
  assert_true(direct && chained);
  for (int c = 0; c < kCalls; ++c) {
    /* The kernels it runs (a varlen call of long sequences runs as a
     * pair: the decode kernel, with none of them, then wgmma's). */
    fa_fwd_dispatch_info how = FA_FWD_DISPATCH_INFO_INIT;
    assert_int_equal(fa_fwd_query_dispatch(calls[c], &how, &msg), FA_OK);
    int found = 0;
    for (int i = 0; i < how.num_kernels; ++i) {
      fa_kernel_info info = FA_KERNEL_INFO_INIT;
      assert_int_equal(fa_kernel_info_get(how.kernel_index[i], &info), FA_OK);
      printf("%s call, kernel %d: %s\n", family[c], i, info.name);
      found |= strstr(info.name, family[c]) != NULL;
    }
    assert_true(found);
    assert_int_equal(fa_fwd(calls[c], &msg), FA_OK);
    assert_int_equal(tu_stream_sync(pb.params.stream, &why), 0);
    assert_int_equal(tu_to_host(direct, calls[c]->out, words[c] * 2, &why), 0);
    for (size_t i = 0; i < words[c]; ++i) assert_false(tu_is_poison16(direct[i]));
    for (int no_pdl = 0; no_pdl < 2; ++no_pdl) {
      fa_fwd_params call = *calls[c];
      call.launch_flags = no_pdl ? FA_LAUNCH_NO_PDL : 0u;
      after_late_writer(&pb, call, staged, inputs, chained, words[c]);
      if (memcmp(direct, chained, words[c] * 2) != 0)
        fail_msg("%s call%s after a late writer: not the bits of the call on its inputs in place", family[c],
                 no_pdl ? " (FA_LAUNCH_NO_PDL)" : "");
    }
  }
  tu_pool_release(&pb.pool);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(graph_capture_and_replay),
      cmocka_unit_test(stream_error_is_reported),
      cmocka_unit_test(programmatic_launch_waits_for_the_kernel_before),
  };
  return cmocka_run_group_tests_name("cuda_streams", tests, NULL, NULL);
}
