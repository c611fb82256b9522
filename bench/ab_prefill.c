/*
 * ab_prefill.c - time the BENCH.md prefill grid through the public API, for
 * A/B runs of two library builds: the same source compiles against either
 * version's header (it uses only fields every version has) and links that
 * version's libflashattn.a. bench/ab_prefill.sh builds both and runs them
 * interleaved (A B A B) in one device call.
 *
 *   ab_prefill [--quick] [--reps N] [--dims D,...] [--packed]   one line per row: "row<TAB>ms<TAB>kernel"
 *                                       (--dims: only those of 64, 128, 256, 80, 96, 32, 192, and no packed
 *                                       rows; without it 64, 128, 256 and the packed rows; --packed:
 *                                       the packed rows only; both: those head dims and the packed rows)
 *   ab_prefill --sm-count N [...]      the same through a context that claims N SMs (the wgmma
 *                                       family's persistent grid is min(tiles, N) blocks): the
 *                                       time of a row against its number of rounds
 *   ab_prefill --splits N [...]        every call with num_splits N and the workspace
 *                                       fa_fwd_workspace_size asks for (allocated outside the
 *                                       timed calls; the wgmma family shares its last round out
 *                                       by keys with N > 1)
 *   ab_prefill --flush-kernel [...]    the L2 flush before each timed call written by a kernel (as
 *                                       bench.py's do_bench), not cudaMemsetAsync: the call then
 *                                       follows a kernel, whose tail a programmatic launch may overlap
 *   ab_prefill --serve [same options]   prints "rows N", then times row k (0-based) for each line "k"
 *                                       read from stdin (one reply line each; "row<TAB>skipped" where
 *                                       the build lacks the head dim) until end of input:
 *                                       bench/ab_serve.py runs one per build and interleaves them
 *                                       row by row
 *
 * After the grid, bench.py's two packed varlen rows (the same sequence
 * lengths: its torch.randint draws with seed 0), bf16: 24 sequences GQA
 * 32/8 d128 causal, and 40 sequences (a vision encoder) 16 heads d80 full;
 * inputs a constant (their values do not move the time); then its sliding
 * window row (bf16 d128, one sequence of 16384, 16 heads, window 4096 to
 * the left and none to the right), with the grid's inputs. "The packed
 * rows" below means these three.
 *
 * Inputs: random bf16/fp16 in [-2, 2), layout [batch, seqlen, heads,
 * head_dim] passed as bench.py passes it (varlen: cu_seqlens 0, s, 2s, ..;
 * --dense: batch and seqlen, no cu_seqlens, as before 2026-11-30), 16384
 * tokens, heads = 2048 / head_dim; one allocation reused by every row (64
 * MB per tensor: larger than the 50 MB L2, so nothing stays cached between
 * calls). Time: CUDA events around each call, median.
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

static int serving; /* --serve: one reply line per requested row, skipped rows too */
static fa_context *claimed; /* --sm-count: every call's context, its sm_count overridden */
static int32_t num_splits;  /* --splits: every call's num_splits, with the workspace it asks for */
static void *workspace;     /* grown to the largest fa_fwd_workspace_size seen (outside the timed calls) */
static size_t workspace_bytes;

/* The workspace p asks for (fa_fwd_workspace_size), set in p. */
static void give_workspace(fa_fwd_params *p) {
  fa_message msg;
  size_t need = 0;
  if (fa_fwd_workspace_size(p, &need, &msg) != FA_OK) die("fa_fwd_workspace_size", msg.text);
  if (need > workspace_bytes) {
    if (workspace != NULL) check(cudaFree(workspace), "cudaFree");
    check(cudaMalloc(&workspace, need), "cudaMalloc");
    workspace_bytes = need;
  }
  p->workspace = need > 0 ? workspace : NULL;
  p->workspace_bytes = need > 0 ? workspace_bytes : 0;
}

/* Written before every timed call (outside the events) so that each starts
 * with nothing of the last one in L2, as bench.py's do_bench has it: a warm
 * L2 flattered an order that reads every head's keys at once (twenty-fifth
 * session). --warm-l2 leaves it out. */
static void *l2_scratch;
enum { kL2ScratchBytes = 256 << 20 };

/* --flush-kernel: the flush written by a kernel (as do_bench's
 * cache.zero_()), not cudaMemsetAsync, so that the timed call follows a
 * kernel and, launched as its programmatic dependent, may start under
 * that kernel's last blocks (the wgmma kernel's work before griddep_wait).
 * The kernel is PTX loaded through the runtime: this file stays C and
 * compiles with cc. One 16-byte store a thread, 256 threads a block. */
static const char kFlushPtx[] =
    ".version 8.0\n.target sm_90\n.address_size 64\n"
    ".visible .entry ab_flush_fill(.param .u64 dst, .param .u32 value)\n{\n"
    "  .reg .b32 %r<6>;\n  .reg .b64 %rd<5>;\n"
    "  ld.param.u64 %rd1, [dst];\n  ld.param.u32 %r1, [value];\n  cvta.to.global.u64 %rd1, %rd1;\n"
    "  mov.u32 %r2, %ctaid.x;\n  mov.u32 %r3, %ntid.x;\n  mov.u32 %r4, %tid.x;\n"
    "  mad.lo.s32 %r5, %r2, %r3, %r4;\n  mul.wide.u32 %rd2, %r5, 16;\n  add.s64 %rd3, %rd1, %rd2;\n"
    "  st.global.v4.u32 [%rd3], {%r1, %r1, %r1, %r1};\n  ret;\n}\n";
static cudaKernel_t flush_kernel;

static void flush_l2(int r, cudaStream_t stream) {
  if (l2_scratch == NULL) return;
  if (flush_kernel == NULL) {
    check(cudaMemsetAsync(l2_scratch, r & 0xff, kL2ScratchBytes, stream), "cudaMemsetAsync");
    return;
  }
  unsigned value = (unsigned)r * 0x01010101u;
  void *args[] = {&l2_scratch, &value};
  check(cudaLaunchKernel((const void *)flush_kernel, (dim3){kL2ScratchBytes / 16 / 256, 1, 1}, (dim3){256, 1, 1}, args, 0, stream),
        "cudaLaunchKernel (flush)");
}

/* Median time of `reps` calls of p (after 5 warm-up calls), printed as a row. */
static void time_row(const char *row, const fa_fwd_params *p, int reps, float *times, cudaStream_t stream,
                     cudaEvent_t e0, cudaEvent_t e1) {
  fa_message msg;
  size_t index = 0;
  const fa_status st = fa_fwd_query(p, &index, &msg);
  if (st == FA_ERR_UNSUPPORTED_HEAD_DIM) { /* a small build: say so and go on */
    fprintf(stderr, "%s: skipped (%s)\n", row, msg.text);
    if (serving) { /* the coordinator waits for one line per request */
      printf("%s\tskipped\n", row);
      fflush(stdout);
    }
    return;
  }
  if (st != FA_OK) die("fa_fwd_query", msg.text);
  fa_kernel_info info;
  memset(&info, 0, sizeof info);
#ifdef FA_KERNEL_INFO_INIT /* 0.2 and later: the caller sets struct_size */
  info.struct_size = sizeof info;
#endif
  if (fa_kernel_info_get(index, &info) != FA_OK) die("fa_kernel_info_get", "failed");
  for (int w = 0; w < 5; ++w)
    if (fa_fwd(p, &msg) != FA_OK) die("fa_fwd", msg.text);
  for (int r = 0; r < reps; ++r) {
    flush_l2(r, stream);
    check(cudaEventRecord(e0, stream), "cudaEventRecord");
    if (fa_fwd(p, &msg) != FA_OK) die("fa_fwd", msg.text);
    check(cudaEventRecord(e1, stream), "cudaEventRecord");
    check(cudaEventSynchronize(e1), "cudaEventSynchronize");
    check(cudaEventElapsedTime(&times[r], e0, e1), "cudaEventElapsedTime");
  }
  qsort(times, (size_t)reps, sizeof *times, cmp_float);
  printf("%s\t%.5f\t%s\n", row, times[reps / 2], info.name);
  fflush(stdout);
}

/* One packed varlen row: sequences of lens[0..n) query and key rows. */
static void time_packed(const char *row, const int *lens, int n, int hq, int hk, int d, int causal, int reps,
                        float *times, cudaStream_t stream, cudaEvent_t e0, cudaEvent_t e1) {
  int32_t cu[64];
  int max_len = 0;
  cu[0] = 0;
  for (int i = 0; i < n; ++i) {
    cu[i + 1] = cu[i] + lens[i];
    if (lens[i] > max_len) max_len = lens[i];
  }
  const size_t total = (size_t)cu[n];
  void *q, *k, *v, *out, *cu_dev;
  check(cudaMalloc(&q, total * hq * d * 2), "cudaMalloc");
  check(cudaMalloc(&k, total * hk * d * 2), "cudaMalloc");
  check(cudaMalloc(&v, total * hk * d * 2), "cudaMalloc");
  check(cudaMalloc(&out, total * hq * d * 2), "cudaMalloc");
  check(cudaMalloc(&cu_dev, sizeof(int32_t) * (size_t)(n + 1)), "cudaMalloc");
  check(cudaMemset(q, 0x3c, total * hq * d * 2), "cudaMemset");
  check(cudaMemset(k, 0x3c, total * hk * d * 2), "cudaMemset");
  check(cudaMemset(v, 0x3c, total * hk * d * 2), "cudaMemset");
  check(cudaMemcpy(cu_dev, cu, sizeof(int32_t) * (size_t)(n + 1), cudaMemcpyHostToDevice), "cudaMemcpy");
  fa_fwd_params p = fa_fwd_params_default();
  p.backend = FA_BACKEND_CUDA;
  p.dtype = FA_DTYPE_BF16;
  p.batch = n;
  p.num_heads_q = hq, p.num_heads_k = hk;
  p.head_dim = d;
  p.cu_seqlens_q = p.cu_seqlens_k = cu_dev;
  p.total_q = p.total_k = (int64_t)total;
  p.max_seqlen_q = p.max_seqlen_k = max_len;
  p.q = q, p.k = k, p.v = v, p.out = out;
  p.window_left = -1;
  p.window_right = causal ? 0 : -1;
  p.stream = stream;
  p.context = claimed;
  p.num_splits = num_splits;
  give_workspace(&p);
  time_row(row, &p, reps, times, stream, e0, e1);
  cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(out), cudaFree(cu_dev);
}

/* One benchmark row: a grid row (dtype, head dim, seqlen, mask) or one of
 * the packed rows. */
typedef struct {
  int packed; /* 0: grid row; 1, 2: packed24, vision packed40; 3: bench.py's swa4096 */
  int dt, d, s, causal, si;
  int window_left; /* -1: none (the grid); 4096: swa4096 */
} row_spec;

typedef struct {
  void *q[2], *k[2], *v[2], *out;
  void *cu_dev[6]; /* the grid's cu_seqlens by seqlen index, made on first use */
  int dense, reps;
  float *times;
  cudaStream_t stream;
  cudaEvent_t e0, e1;
} bench_state;

static void run_row(const row_spec *r, bench_state *st) {
  static const int lens24[] = {684,  4015, 309,  3328, 2627, 3643, 2051, 2279, 2441, 2323, 1557, 498,
                               2788, 3415, 2054, 3288, 3736, 3916, 2490, 1921, 1638, 1767, 2007, 1326};
  static const int lens40[] = {1802, 2071, 2606, 262,  1163, 248,  3541, 2034, 2904, 111,  1860, 325,  2720, 1652,
                               2483, 2420, 1737, 2864, 2716, 2731, 820,  2416, 790,  3251, 265,  149,  2833, 1808,
                               3825, 3331, 3185, 908,  1982, 3832, 2872, 2412, 343,  3035, 3135, 1633};
  if (r->packed == 1) {
    time_packed("bf16 packed24 gqa32/8 d128 causal", lens24, 24, 32, 8, 128, 1, st->reps, st->times, st->stream,
                st->e0, st->e1);
    return;
  }
  if (r->packed == 2) {
    time_packed("bf16 vision packed40 h16 d80 full", lens40, 40, 16, 16, 80, 0, st->reps, st->times, st->stream,
                st->e0, st->e1);
    return;
  }
  const int d = r->d, s = r->s, h = WIDTH / d, b = TOKENS / s, dt = r->dt;
  fa_fwd_params p = fa_fwd_params_default();
  p.backend = FA_BACKEND_CUDA;
  p.dtype = dt == 0 ? FA_DTYPE_BF16 : FA_DTYPE_FP16;
  p.batch = b;
  p.num_heads_q = p.num_heads_k = h;
  p.head_dim = d;
  p.max_seqlen_q = p.max_seqlen_k = s;
  if (!st->dense) {
    if (st->cu_dev[r->si] == NULL) {
      int32_t cu_host[TOKENS / 512 + 1]; /* TOKENS / 512 + 1 entries cover every s */
      for (int i = 0; i <= b; ++i) cu_host[i] = i * s;
      check(cudaMalloc(&st->cu_dev[r->si], sizeof(int32_t) * (size_t)(b + 1)), "cudaMalloc");
      check(cudaMemcpy(st->cu_dev[r->si], cu_host, sizeof(int32_t) * (size_t)(b + 1), cudaMemcpyHostToDevice),
            "cudaMemcpy");
    }
    p.cu_seqlens_q = p.cu_seqlens_k = st->cu_dev[r->si];
    p.total_q = p.total_k = (int64_t)b * s;
  }
  p.q = st->q[dt], p.k = st->k[dt], p.v = st->v[dt], p.out = st->out;
  p.window_left = r->window_left;
  p.window_right = r->causal ? 0 : -1;
  p.stream = st->stream;
  p.context = claimed;
  p.num_splits = num_splits;
  give_workspace(&p);
  char row[96];
  if (r->window_left >= 0) /* bench.py's name for it */
    snprintf(row, sizeof row, "bf16 swa%d d%d h%d s%d", r->window_left, d, h, s);
  else
    snprintf(row, sizeof row, "%s d%d b%d h%d s%d %s", dt == 0 ? "bf16" : "fp16", d, b, h, s,
             r->causal ? "causal" : "full");
  time_row(row, &p, st->reps, st->times, st->stream, st->e0, st->e1);
}

int main(int argc, char **argv) {
  int quick = 0, reps = 30, only_dims = 0, only_packed = 0, dense = 0, warm_l2 = 0, dim_on[7] = {1, 1, 1, 0, 0, 0, 0};
  int sm_count = 0, flush_by_kernel = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quick") == 0) quick = 1;
    else if (strcmp(argv[i], "--packed") == 0) only_packed = 1;
    else if (strcmp(argv[i], "--dense") == 0) dense = 1;
    else if (strcmp(argv[i], "--serve") == 0) serving = 1;
    else if (strcmp(argv[i], "--warm-l2") == 0) warm_l2 = 1;
    else if (strcmp(argv[i], "--flush-kernel") == 0) flush_by_kernel = 1;
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--sm-count") == 0 && i + 1 < argc) sm_count = atoi(argv[++i]);
    else if (strcmp(argv[i], "--splits") == 0 && i + 1 < argc) num_splits = atoi(argv[++i]);
    else if (strcmp(argv[i], "--dims") == 0 && i + 1 < argc) {
      char *p = argv[++i];
      only_dims = 1;
      dim_on[0] = dim_on[1] = dim_on[2] = 0;
      while (*p != '\0') {
        const long d = strtol(p, &p, 10);
        dim_on[0] |= d == 64, dim_on[1] |= d == 128, dim_on[2] |= d == 256, dim_on[3] |= d == 80, dim_on[4] |= d == 96;
        dim_on[5] |= d == 32, dim_on[6] |= d == 192;
        if (*p == ',') ++p;
        else if (*p != '\0') die("usage", "--dims takes a list like 64,256");
      }
    }
    else die("usage", "ab_prefill [--quick] [--reps N] [--dims D,...] [--packed] [--dense] [--serve] [--warm-l2] "
                      "[--flush-kernel] [--sm-count N] [--splits N]");
  }
  static fa_context context;
  if (sm_count > 0) {
    fa_message msg;
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    if (fa_context_init(&context, FA_BACKEND_CUDA, device, &msg) != FA_OK) die("fa_context_init", msg.text);
    if (sm_count > context.sm_count) die("usage", "--sm-count: more SMs than the device has");
    context.sm_count = sm_count;
    claimed = &context;
  }
  /* The rows, in the order they are printed. */
  static row_spec rows[2 * 7 * 6 * 2 + 3];
  int n_rows = 0;
  const int dims[] = {64, 128, 256, 80, 96, 32, 192};
  const int seqs_full[] = {512, 1024, 2048, 4096, 8192, 16384}, seqs_quick[] = {512, 2048, 8192};
  const int *seqs = quick ? seqs_quick : seqs_full;
  const int n_seqs = quick ? 3 : 6;
  for (int dt = 0; dt < 2; ++dt)
    for (int di = 0; di < 7; ++di)
      for (int si = 0; si < n_seqs && dim_on[di] && (only_dims || !only_packed); ++si)
        for (int causal = 0; causal < 2; ++causal)
          rows[n_rows++] = (row_spec){0, dt, dims[di], seqs[si], causal, si, -1};
  if (!only_dims || only_packed) {  /* --dims D,... --packed: both */
    rows[n_rows++] = (row_spec){1, 0, 128, 0, 1, 0, -1};
    rows[n_rows++] = (row_spec){2, 0, 80, 0, 0, 0, -1};
    rows[n_rows++] = (row_spec){3, 0, 128, 16384, 1, 5, 4096}; /* seqlen index 5: s16384's cu_seqlens */
  }

  const size_t n = (size_t)TOKENS * WIDTH;
  uint16_t *host = malloc(n * 2);
  if (host == NULL) die("malloc", "out of memory");
  bench_state st = {.dense = dense, .reps = reps};
  uint64_t seed = 12345;
  for (int dt = 0; dt < 2; ++dt) {
    void **bufs[3] = {&st.q[dt], &st.k[dt], &st.v[dt]};
    for (int t = 0; t < 3; ++t) {
      check(cudaMalloc(bufs[t], n * 2), "cudaMalloc");
      fill(host, n, dt == 0, &seed);
      check(cudaMemcpy(*bufs[t], host, n * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
    }
  }
  check(cudaMalloc(&st.out, n * 2), "cudaMalloc");
  if (!warm_l2) check(cudaMalloc(&l2_scratch, kL2ScratchBytes), "cudaMalloc");
  if (!warm_l2 && flush_by_kernel) {
    cudaLibrary_t library;
    check(cudaLibraryLoadData(&library, kFlushPtx, NULL, NULL, 0, NULL, NULL, 0), "cudaLibraryLoadData (flush PTX)");
    check(cudaLibraryGetKernel(&flush_kernel, library, "ab_flush_fill"), "cudaLibraryGetKernel");
  }
  free(host);
  check(cudaStreamCreate(&st.stream), "cudaStreamCreate");
  check(cudaEventCreate(&st.e0), "cudaEventCreate");
  check(cudaEventCreate(&st.e1), "cudaEventCreate");
  st.times = malloc(sizeof(float) * (size_t)reps);
  if (st.times == NULL) die("malloc", "out of memory");

  if (serving) {
    printf("rows %d\n", n_rows);
    fflush(stdout);
    int k;
    while (scanf("%d", &k) == 1) {
      if (k < 0 || k >= n_rows) die("--serve", "row index out of range");
      run_row(&rows[k], &st);
    }
  } else {
    for (int k = 0; k < n_rows; ++k) run_row(&rows[k], &st);
  }
  check(cudaFree(st.out), "cudaFree");
  for (int dt = 0; dt < 2; ++dt) cudaFree(st.q[dt]), cudaFree(st.k[dt]), cudaFree(st.v[dt]);
  for (int i = 0; i < 6; ++i) cudaFree(st.cu_dev[i]);
  if (l2_scratch != NULL) cudaFree(l2_scratch);
  free(st.times);
  return 0;
}
