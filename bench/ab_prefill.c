/*
 * ab_prefill.c - time the BENCH.md prefill grid through the public API, for
 * A/B runs of two library builds: the same source compiles against either
 * version's header (it uses only fields every version has) and links that
 * version's libflashattn.a. bench/ab_prefill.sh builds both and runs them
 * interleaved (A B A B) in one device call.
 *
 *   ab_prefill [--quick] [--reps N]     one line per row: "row<TAB>ms<TAB>kernel"
 *
 * Inputs: random bf16/fp16 in [-2, 2), dense layout [batch, seqlen, heads,
 * head_dim], 16384 tokens, heads = 2048 / head_dim; one allocation reused by
 * every row (64 MB per tensor: larger than the 50 MB L2, so nothing stays
 * cached between calls). Time: CUDA events around each call, median.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "flashattn.h"

#define TOKENS 16384
#define WIDTH 2048 /* heads * head_dim */

static void die(const char *what, const char *why) {
  fprintf(stderr, "ab_prefill: %s: %s\n", what, why);
  exit(1);
}

static void check(cudaError_t e, const char *what) {
  if (e != cudaSuccess) die(what, cudaGetErrorString(e));
}

/* Random 16-bit floats of magnitude < 2: bf16 and fp16 bit patterns of
 * uniform values, built by hand so the program needs no converter. */
static void fill(uint16_t *h, size_t n, int bf16, uint64_t *state) {
  for (size_t i = 0; i < n; ++i) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    const uint32_t r = (uint32_t)(*state >> 33);
    const uint16_t sign = (uint16_t)((r & 1u) << 15);
    if (bf16) /* exponent 118..127: |x| in [2^-9, 2) */
      h[i] = (uint16_t)(sign | ((118u + (r >> 1) % 10u) << 7) | ((r >> 5) & 0x7fu));
    else /* exponent 6..15 */
      h[i] = (uint16_t)(sign | ((6u + (r >> 1) % 10u) << 10) | ((r >> 5) & 0x3ffu));
  }
}

static int cmp_float(const void *a, const void *b) {
  const float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int quick = 0, reps = 30;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quick") == 0) quick = 1;
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
    else die("usage", "ab_prefill [--quick] [--reps N]");
  }
  const size_t n = (size_t)TOKENS * WIDTH;
  uint16_t *host = malloc(n * 2);
  if (host == NULL) die("malloc", "out of memory");
  void *q[2], *k[2], *v[2], *out;
  uint64_t seed = 12345;
  for (int dt = 0; dt < 2; ++dt) {
    void **bufs[3] = {&q[dt], &k[dt], &v[dt]};
    for (int t = 0; t < 3; ++t) {
      check(cudaMalloc(bufs[t], n * 2), "cudaMalloc");
      fill(host, n, dt == 0, &seed);
      check(cudaMemcpy(*bufs[t], host, n * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
    }
  }
  check(cudaMalloc(&out, n * 2), "cudaMalloc");
  free(host);
  cudaStream_t stream;
  cudaEvent_t e0, e1;
  check(cudaStreamCreate(&stream), "cudaStreamCreate");
  check(cudaEventCreate(&e0), "cudaEventCreate");
  check(cudaEventCreate(&e1), "cudaEventCreate");
  float *times = malloc(sizeof(float) * (size_t)reps);
  if (times == NULL) die("malloc", "out of memory");

  const int dims[] = {64, 128, 256};
  const int seqs_full[] = {512, 1024, 2048, 4096, 8192, 16384}, seqs_quick[] = {512, 2048, 8192};
  const int *seqs = quick ? seqs_quick : seqs_full;
  const int n_seqs = quick ? 3 : 6;
  for (int dt = 0; dt < 2; ++dt)
    for (int di = 0; di < 3; ++di)
      for (int si = 0; si < n_seqs; ++si)
        for (int causal = 0; causal < 2; ++causal) {
          const int d = dims[di], s = seqs[si], h = WIDTH / d, b = TOKENS / s;
          fa_fwd_params p = fa_fwd_params_default();
          p.backend = FA_BACKEND_CUDA;
          p.dtype = dt == 0 ? FA_DTYPE_BF16 : FA_DTYPE_FP16;
          p.batch = b;
          p.num_heads_q = p.num_heads_k = h;
          p.head_dim = d;
          p.max_seqlen_q = p.max_seqlen_k = s;
          p.q = q[dt], p.k = k[dt], p.v = v[dt], p.out = out;
          p.window_left = -1;
          p.window_right = causal ? 0 : -1;
          p.stream = stream;
          fa_message msg;
          size_t index = 0;
          if (fa_fwd_query(&p, &index, &msg) != FA_OK) die("fa_fwd_query", msg.text);
          fa_kernel_info info;
          memset(&info, 0, sizeof info);
#ifdef FA_KERNEL_INFO_INIT /* 0.2 and later: the caller sets struct_size */
          info.struct_size = sizeof info;
#endif
          if (fa_kernel_info_get(index, &info) != FA_OK) die("fa_kernel_info_get", "failed");
          for (int w = 0; w < 5; ++w)
            if (fa_fwd(&p, &msg) != FA_OK) die("fa_fwd", msg.text);
          for (int r = 0; r < reps; ++r) {
            check(cudaEventRecord(e0, stream), "cudaEventRecord");
            if (fa_fwd(&p, &msg) != FA_OK) die("fa_fwd", msg.text);
            check(cudaEventRecord(e1, stream), "cudaEventRecord");
            check(cudaEventSynchronize(e1), "cudaEventSynchronize");
            check(cudaEventElapsedTime(&times[r], e0, e1), "cudaEventElapsedTime");
          }
          qsort(times, (size_t)reps, sizeof *times, cmp_float);
          printf("%s d%d b%d h%d s%d %s\t%.5f\t%s\n", dt == 0 ? "bf16" : "fp16", d, b, h, s,
                 causal ? "causal" : "full", times[reps / 2], info.name);
          fflush(stdout);
        }
  return 0;
}
