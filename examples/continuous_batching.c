/*
 * continuous_batching.c - a continuous-batching serving loop over a paged
 * KV cache, the way an inference runtime drives flashattn, with random
 * activations in place of a model. On the GPU when there is one, on the
 * CPU backend otherwise (smaller default problem).
 *
 *   build/continuous_batching [--steps N] [--max-batch B] [--page-size P]
 *       [--chunk C] [--max-prompt L] [--max-gen G] [--seed S] [--check] [--cpu]
 *
 * What a runtime copies from here:
 *
 * - The page pool. K and V caches are [num_pages, page_size, heads_k,
 *   head_dim] bf16, allocated once with everything else before the loop
 *   (the library never allocates). Pages come from a host free list when a
 *   sequence grows past its last page and go back when it finishes. The
 *   list is shuffled at start, so a sequence's pages are scattered as they
 *   are after hours of serving, and freed pages are reused first (stale
 *   data in them is never read: the cache lengths bound every read).
 * - Admission reserves the pages a request can need over its life, so a
 *   running sequence never finds the free list empty (vLLM over-commits and
 *   preempts instead; more bookkeeping, the same calls).
 * - The block table. Each step the host writes one row per sequence of the
 *   call (row b = the call's b-th sequence, its page ids in order), the
 *   cache lengths seqused_k (BEFORE this step's tokens) and cu_seqlens_q,
 *   and copies them to the device with cudaMemcpyAsync on the stream: the
 *   host never reads device memory and nothing syncs before the call.
 * - One fa_fwd per step for the whole batch (varlen queries): a decoding
 *   sequence brings 1 query row, a new one a prefill chunk (chunked
 *   prefill under a token budget, decodes first). The call appends this
 *   step's K/V (k_new, v_new) at positions seqused_k[b]..., then attends
 *   causally over seqused_k[b] + rows keys; bottom-right alignment puts
 *   chunk row i at key position seqused_k[b] + i. Inside that call the
 *   library pairs its decode kernel with its prefill kernel when a chunk is
 *   long.
 * - Workspace. Its size depends only on host values (batch, rows, longest
 *   query and cache), so it is allocated once before the loop, of the size
 *   fa_fwd_workspace_size_max reports for the server's bounds (most
 *   sequences, the token budget, the longest chunk and cache): every step
 *   fits (a captured CUDA graph could replay with it). Each step still
 *   asks fa_fwd_workspace_size, to prove it: a step that needed more would
 *   grow it, loudly, and fail the run.
 * - What runs: fa_fwd_query_dispatch names both kernels of a step that
 *   runs as a pair (decoding rows on the decode kernel, long chunks on the
 *   prefill kernel) and the row bound between them.
 *
 * Checking: steps 0..2 always, every step with --check: the output rows of
 * up to 8 sequences against the double-precision reference
 * (tests/reference.c) on K/V gathered on the host THROUGH THE BLOCK TABLE
 * from the cache the library wrote, and every gathered row against the
 * activation it was appended from (bit-exact). Exit status 0 when all pass.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "flashattn.h"
#include "reference.h"
#include "test_util.h"

#define TOL_BF16 1e-2        /* relative Frobenius error, as fa_demo and test_decode */
#define CHECK_FIRST_STEPS 3  /* checked even without --check */
#define CHECK_MAX_SEQS 8     /* sequences checked per step */
#define CHECK_MAX_ROWS 3     /* rows checked per prefill chunk: first, last, one in between */
#define QUEUE_CAP 4096       /* waiting requests; later arrivals are turned away */
#define ACT_SLACK (1 << 16)  /* elements of play for this step's random activation offsets */

/* ------------------------------------------------------------ errors */

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

/* The library's own sentence says which field is wrong and what to change. */
static void check_fa(fa_status st, const fa_message *msg, const char *call) {
  if (st != FA_OK) die("%s failed: %s", call, msg->text[0] ? msg->text : fa_status_string(st));
}

static void check_cuda(cudaError_t e, const char *what) {
  if (e != cudaSuccess) die("%s: %s", what, cudaGetErrorString(e));
}

/* ------------------------------------------------------------ options */

typedef struct options {
  int steps, max_batch, page_size, chunk, max_prompt, max_gen; /* 0: the backend's default */
  int check, force_cpu;
  uint64_t seed; /* 0: FA_TEST_SEED, else a fresh one */
} options;

/* The attention shape of the layer being served. */
typedef struct model {
  int heads_q, heads_k, head_dim;
} model;

static void usage(void) {
  fprintf(stderr,
          "usage: continuous_batching [--steps N] [--max-batch B] [--page-size P] [--chunk C]\n"
          "                           [--max-prompt L] [--max-gen G] [--seed S] [--check] [--cpu]\n"
          "  --check      compare every step with the double reference (slow on long caches)\n"
          "  --cpu        use the CPU backend even when a GPU is present\n");
  exit(2);
}

static int parse_int(const char *text, int lo, int hi) {
  char *end = NULL;
  const long v = text ? strtol(text, &end, 10) : 0;
  if (text == NULL || *end != '\0' || v < lo || v > hi) usage();
  return (int)v;
}

static options parse_options(int argc, char **argv) {
  options o;
  memset(&o, 0, sizeof o);
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--check")) o.check = 1;
    else if (!strcmp(a, "--cpu")) o.force_cpu = 1;
    else if (!strcmp(a, "--steps")) o.steps = parse_int(v, 1, 1 << 24), ++i;
    else if (!strcmp(a, "--max-batch")) o.max_batch = parse_int(v, 1, 4096), ++i;
    else if (!strcmp(a, "--page-size")) o.page_size = parse_int(v, 1, 1 << 16), ++i;
    else if (!strcmp(a, "--chunk")) o.chunk = parse_int(v, 1, 1 << 16), ++i;
    else if (!strcmp(a, "--max-prompt")) o.max_prompt = parse_int(v, 1, 1 << 20), ++i;
    else if (!strcmp(a, "--max-gen")) o.max_gen = parse_int(v, 1, 1 << 20), ++i;
    else if (!strcmp(a, "--seed")) {
      if (v == NULL) usage();
      o.seed = strtoull(v, NULL, 0), ++i;
    } else usage();
  }
  return o;
}

static int or_default(int given, int fallback) { return given ? given : fallback; }

/* The GPU default is a Llama-3-8B-like layer (GQA 32/8, head_dim 128) and
 * a batch that keeps an H200 busy for a few seconds; the CPU backend is
 * single threaded, so its default is a smaller model and batch that still
 * pages, chunks and recycles pages (about a second on one core). */
static model fill_defaults(options *o, int on_gpu) {
  o->steps = or_default(o->steps, on_gpu ? 400 : 200);
  o->max_batch = or_default(o->max_batch, on_gpu ? 64 : 16);
  o->page_size = or_default(o->page_size, 16);
  o->chunk = or_default(o->chunk, on_gpu ? 512 : 128);
  o->max_prompt = or_default(o->max_prompt, on_gpu ? 2048 : 512);
  o->max_gen = or_default(o->max_gen, on_gpu ? 256 : 64);
  if (o->chunk > o->max_prompt) o->chunk = o->max_prompt; /* no prompt is longer */
  const model gpu = {32, 8, 128}, cpu = {8, 2, 64};
  return on_gpu ? gpu : cpu;
}

/* ------------------------------------------------------------ state */

/* One request being served. */
typedef struct sequence {
  int active;
  long id;                /* arrival order: prefill chunks are scheduled oldest first */
  int prompt_len, gen_len; /* gen_len >= 1 tokens to generate */
  int cached;             /* tokens in the cache: this sequence's seqused_k */
  int generated;          /* tokens generated so far (the first when the prompt is done) */
  int reserved;           /* pages promised at admission */
  int npages;
  int32_t *pages;         /* [max_pages]: its page ids, in key order */
  size_t *k_src, *v_src;  /* [max_seq_len]: where each cached token's K/V came from (the check) */
  int rows;               /* query rows this step; 0 = not in this step's call */
} sequence;

typedef struct request {
  int prompt_len, gen_len;
} request;

/* The host free list of cache pages. */
typedef struct page_list {
  int32_t *ids;     /* [num_pages] stack of free page ids */
  int64_t n_free;
  int64_t num_pages;
  int64_t reserved; /* pages promised to admitted sequences */
} page_list;

typedef struct server {
  options o;
  model m;
  int on_gpu;
  fa_backend backend;
  fa_context ctx;
  cudaStream_t stream;
  cudaEvent_t ev_start, ev_stop;
  int budget;      /* query rows per step (the token budget) */
  int max_seq_len; /* longest cache a sequence can reach */
  int max_pages;   /* block table columns */
  size_t page_elems, q_region, kv_region;

  /* What the library reads and writes: device memory on the CUDA backend,
   * host memory on the CPU backend. */
  uint16_t *k_cache, *v_cache; /* [num_pages][page_size][heads_k][head_dim] */
  uint16_t *acts;  /* random q | k_new | v_new rows, standing in for the QKV projection */
  uint16_t *out;   /* [budget][heads_q][head_dim] */
  int32_t *table;  /* [max_batch][max_pages] */
  int32_t *seqused, *cu_q;
  void *workspace;
  size_t workspace_bytes;
  int workspace_grows;

  /* Host side: staging for the per-step copies (pinned on CUDA; on the CPU
   * backend the same arrays the library reads), the host copy of the
   * activations and the check's scratch. */
  int32_t *h_table, *h_seqused, *h_cu_q;
  uint16_t *h_acts, *h_out, *h_keys, *h_vals;
  double *d_q, *d_keys, *d_vals, *d_out, *d_lse;

  page_list pages;
  sequence *seqs;   /* [max_batch] slots */
  int32_t *slot_of; /* [max_batch]: slot of the call's b-th sequence */
  request *queue;   /* ring of QUEUE_CAP waiting requests */
  int queue_head, queue_len;
  long next_id;
  tu_rng rng;       /* the simulation: arrivals, lengths, activation offsets */
  tu_rng check_rng; /* the check's samples, so that checking does not change the run */
} server;

/* What one step runs. */
typedef struct step_plan {
  int batch, max_q, max_k;
  int64_t total_q;
  int decode_rows, prefill_rows, prompts_done;
  double kv_bytes;           /* K/V the attention reads: each sequence's keys once */
  size_t q_off, k_off, v_off; /* this step's rows in the activations */
} step_plan;

typedef struct kernel_tally {
  const char *name[4], *partner[4]; /* partner: the second kernel of a pair, or NULL */
  int short_seqlen_q[4];            /* a pair: sequences of at most this many rows go to name[] */
  long steps[4];
} kernel_tally;

typedef struct totals {
  long steps_run, idle_steps, decode_steps, mixed_steps, arrived, rejected, admitted, served;
  long decode_tokens, prefill_tokens, generated;
  double ms_decode, ms_mixed, kv_bytes;
  kernel_tally decode_kernels, mixed_kernels;
  long checked_steps, checked_pairs, cache_rows_checked;
  double worst_rel;
} totals;

/* ------------------------------------------------------------ memory */

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

/* Memory the library reads or writes. 256-byte aligned on both backends
 * (the workspace needs it; tensors need 16). */
static void *backend_alloc(const server *s, size_t bytes, const char *what) {
  void *ptr = NULL;
  if (s->on_gpu) {
    check_cuda(cudaMalloc(&ptr, bytes ? bytes : 1), what);
  } else if ((ptr = aligned_alloc(256, round_up(bytes ? bytes : 1, 256))) == NULL) {
    die("out of host memory: %s (%zu bytes)", what, bytes);
  }
  return ptr;
}

static void backend_free(const server *s, void *ptr) {
  if (s->on_gpu) cudaFree(ptr);
  else free(ptr);
}

/* Host memory the stream copies from or to: pinned on CUDA, so that
 * cudaMemcpyAsync does not stage through a bounce buffer. */
static void *staging_alloc(const server *s, size_t bytes, const char *what) {
  void *ptr = NULL;
  if (s->on_gpu) check_cuda(cudaMallocHost(&ptr, bytes ? bytes : 1), what);
  else if ((ptr = malloc(bytes ? bytes : 1)) == NULL) die("out of host memory: %s (%zu bytes)", what, bytes);
  return ptr;
}

static void staging_free(const server *s, void *ptr) {
  if (s->on_gpu) cudaFreeHost(ptr);
  else free(ptr);
}

static void *host_alloc(size_t bytes, const char *what) {
  void *ptr = malloc(bytes ? bytes : 1);
  if (ptr == NULL) die("out of host memory: %s (%zu bytes)", what, bytes);
  return ptr;
}

/* Host to library memory, in stream order (a no-op where they are the same array). */
static void upload(const server *s, void *dst, const void *src, size_t bytes, const char *what) {
  if (s->on_gpu) check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s->stream), what);
  else if (dst != src) memcpy(dst, src, bytes);
}

/* Library memory to the host, waiting for the stream (the check only). */
static void download(const server *s, void *dst, const void *src, size_t bytes, const char *what) {
  if (s->on_gpu) {
    check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s->stream), what);
    check_cuda(cudaStreamSynchronize(s->stream), what);
  } else if (dst != src) {
    memcpy(dst, src, bytes);
  }
}

/* NaN (0xFFFF in bf16) everywhere: a read of a cache row nobody wrote, or
 * an output row the call did not write, then shows in the check. */
static void poison(const server *s, void *ptr, size_t bytes) {
  if (s->on_gpu) check_cuda(cudaMemsetAsync(ptr, 0xFF, bytes, s->stream), "cudaMemsetAsync");
  else memset(ptr, 0xFF, bytes);
}

/* ------------------------------------------------------------ the page free list */

static void pages_init(page_list *pl, int64_t num_pages, tu_rng *rng) {
  pl->ids = host_alloc((size_t)num_pages * sizeof *pl->ids, "free list");
  pl->num_pages = pl->n_free = num_pages;
  pl->reserved = 0;
  for (int64_t i = 0; i < num_pages; ++i) pl->ids[i] = (int32_t)i;
  for (int64_t i = num_pages - 1; i > 0; --i) { /* Fisher-Yates */
    const int64_t j = (int64_t)(tu_rng_next(rng) % (uint64_t)(i + 1));
    const int32_t t = pl->ids[i];
    pl->ids[i] = pl->ids[j], pl->ids[j] = t;
  }
}

static int32_t page_take(page_list *pl) {
  if (pl->n_free == 0) die("internal error: the free list is empty although admission reserved pages");
  return pl->ids[--pl->n_free];
}

/* Freed pages go on top: reused first, with their stale rows in them. */
static void page_give(page_list *pl, int32_t id) { pl->ids[pl->n_free++] = id; }

static int pages_for(int tokens, int page_size) { return (tokens + page_size - 1) / page_size; }

/* ------------------------------------------------------------ setup */

static void pick_backend(server *s) {
  tu_device dev;
  const int have_gpu = tu_cuda_device(&dev);
  s->on_gpu = have_gpu && !s->o.force_cpu;
  s->backend = s->on_gpu ? FA_BACKEND_CUDA : FA_BACKEND_CPU;
  if (s->on_gpu)
    printf("device: %s (sm_%d%d), CUDA backend\n", dev.name, dev.cc_major, dev.cc_minor);
  else if (have_gpu)
    printf("device: GPU present but not used (--cpu); CPU backend (single thread, smaller default problem)\n");
  else
    printf("device: no usable CUDA device (%s); CPU backend (single thread, smaller default problem)\n", dev.reason);
  fa_message msg;
  check_fa(fa_context_init(&s->ctx, s->backend, FA_CURRENT_DEVICE, &msg), &msg, "fa_context_init");
  if (s->on_gpu) {
    check_cuda(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check_cuda(cudaEventCreate(&s->ev_start), "cudaEventCreate");
    check_cuda(cudaEventCreate(&s->ev_stop), "cudaEventCreate");
  }
}

/* Every buffer, before the first step. */
static void allocate(server *s) {
  const options *o = &s->o;
  const int hq = s->m.heads_q, hk = s->m.heads_k, d = s->m.head_dim;
  /* Decodes never starve prefill: room for every decode and 3 chunks. */
  s->budget = o->max_batch + 3 * o->chunk;
  /* The last generated token is never fed back, so it is never cached. */
  s->max_seq_len = o->max_prompt + o->max_gen - 1;
  s->max_pages = pages_for(s->max_seq_len, o->page_size);
  /* Half of what every slot at its longest would need, so that admission
   * sometimes waits for pages rather than slots; at least the longest
   * request, so that every request fits once the pool drains. */
  int64_t num_pages = ((int64_t)o->max_batch * s->max_pages + 1) / 2;
  if (num_pages < s->max_pages) num_pages = s->max_pages;
  s->page_elems = (size_t)o->page_size * hk * d;
  s->q_region = (size_t)s->budget * hq * d + ACT_SLACK;
  s->kv_region = (size_t)s->budget * hk * d + ACT_SLACK;
  const size_t cache_bytes = (size_t)num_pages * s->page_elems * 2, acts = s->q_region + 2 * s->kv_region;
  const size_t bt = (size_t)o->max_batch * s->max_pages * 4, nb = (size_t)o->max_batch + 1;

  s->k_cache = backend_alloc(s, cache_bytes, "K cache pages");
  s->v_cache = backend_alloc(s, cache_bytes, "V cache pages");
  s->acts = backend_alloc(s, acts * 2, "activations");
  s->out = backend_alloc(s, (size_t)s->budget * hq * d * 2, "out");
  s->h_table = staging_alloc(s, bt, "block table staging");
  s->h_seqused = staging_alloc(s, nb * 4, "seqused_k staging");
  s->h_cu_q = staging_alloc(s, nb * 4, "cu_seqlens_q staging");
  memset(s->h_table, 0, bt), memset(s->h_seqused, 0, nb * 4), memset(s->h_cu_q, 0, nb * 4);
  /* The CPU backend reads host memory: the staging arrays are its arrays. */
  s->table = s->on_gpu ? backend_alloc(s, bt, "block table") : s->h_table;
  s->seqused = s->on_gpu ? backend_alloc(s, nb * 4, "seqused_k") : s->h_seqused;
  s->cu_q = s->on_gpu ? backend_alloc(s, nb * 4, "cu_seqlens_q") : s->h_cu_q;
  s->h_out = s->on_gpu ? staging_alloc(s, (size_t)s->budget * hq * d * 2, "out staging") : s->out;

  poison(s, s->k_cache, cache_bytes);
  poison(s, s->v_cache, cache_bytes);
  poison(s, s->out, (size_t)s->budget * hq * d * 2);
  upload(s, s->table, s->h_table, bt, "block table");
  upload(s, s->seqused, s->h_seqused, nb * 4, "seqused_k");
  upload(s, s->cu_q, s->h_cu_q, nb * 4, "cu_seqlens_q");

  /* Random activations, made once: each step takes its q, k_new and v_new
   * rows at random offsets (a model has them on the device already). */
  s->h_acts = host_alloc(acts * 2, "host activations");
  tu_fill_random(s->h_acts, acts, FA_DTYPE_BF16, 1.0, &s->rng);
  upload(s, s->acts, s->h_acts, acts * 2, "activations");

  pages_init(&s->pages, num_pages, &s->rng);
  s->seqs = host_alloc((size_t)o->max_batch * sizeof *s->seqs, "sequences");
  for (int i = 0; i < o->max_batch; ++i) {
    sequence *q = &s->seqs[i];
    memset(q, 0, sizeof *q);
    q->pages = host_alloc((size_t)s->max_pages * sizeof *q->pages, "pages");
    q->k_src = host_alloc((size_t)s->max_seq_len * sizeof *q->k_src, "sources");
    q->v_src = host_alloc((size_t)s->max_seq_len * sizeof *q->v_src, "sources");
  }
  s->slot_of = host_alloc((size_t)o->max_batch * sizeof *s->slot_of, "slots");
  s->queue = host_alloc(QUEUE_CAP * sizeof *s->queue, "queue");

  /* The check's scratch: one sequence's keys and a few rows. */
  const size_t kv_elems = (size_t)s->max_seq_len * hk * d;
  s->h_keys = staging_alloc(s, kv_elems * 2, "keys"), s->h_vals = staging_alloc(s, kv_elems * 2, "values");
  s->d_keys = host_alloc(kv_elems * 8, "keys"), s->d_vals = host_alloc(kv_elems * 8, "values");
  s->d_q = host_alloc((size_t)hq * d * 8, "q row"), s->d_out = host_alloc((size_t)hq * d * 8, "reference row");
  s->d_lse = host_alloc((size_t)hq * 8, "reference lse");
  if (s->on_gpu) check_cuda(cudaStreamSynchronize(s->stream), "setup copies");
}

static void release(server *s) {
  if (s->on_gpu) cudaStreamSynchronize(s->stream);
  backend_free(s, s->k_cache), backend_free(s, s->v_cache), backend_free(s, s->acts), backend_free(s, s->out);
  if (s->workspace) backend_free(s, s->workspace);
  if (s->on_gpu) {
    backend_free(s, s->table), backend_free(s, s->seqused), backend_free(s, s->cu_q);
    staging_free(s, s->h_out);
    cudaEventDestroy(s->ev_start), cudaEventDestroy(s->ev_stop), cudaStreamDestroy(s->stream);
  }
  staging_free(s, s->h_table), staging_free(s, s->h_seqused), staging_free(s, s->h_cu_q);
  for (int i = 0; i < s->o.max_batch; ++i) free(s->seqs[i].pages), free(s->seqs[i].k_src), free(s->seqs[i].v_src);
  free(s->seqs), free(s->slot_of), free(s->queue), free(s->pages.ids), free(s->h_acts);
  staging_free(s, s->h_keys), staging_free(s, s->h_vals), free(s->d_keys), free(s->d_vals);
  free(s->d_q), free(s->d_out), free(s->d_lse);
}

/* ------------------------------------------------------------ the call */

/* Everything of a step's call but its shape: buffers, cache, mask. */
static fa_fwd_params base_params(const server *s) {
  fa_fwd_params p = fa_fwd_params_default();
  p.backend = s->backend;
  p.dtype = FA_DTYPE_BF16;
  p.num_heads_q = s->m.heads_q, p.num_heads_k = s->m.heads_k, p.head_dim = s->m.head_dim;
  p.window_left = -1, p.window_right = 0; /* causal */
  p.cu_seqlens_q = s->cu_q;
  p.seqused_k = s->seqused;
  p.k = s->k_cache, p.v = s->v_cache, p.out = s->out;
  p.q = s->acts, p.k_new = s->acts + s->q_region, p.v_new = s->acts + s->q_region + s->kv_region;
  p.block_table = s->table;
  p.block_table_stride = s->max_pages;
  p.max_pages_per_seq = s->max_pages;
  p.page_size = s->o.page_size;
  p.num_pages = s->pages.num_pages;
  p.num_splits = 0; /* the library's choice, from host values */
  p.stream = s->stream;
  p.context = &s->ctx;
  p.workspace = s->workspace, p.workspace_bytes = s->workspace_bytes;
  return p;
}

static fa_fwd_params step_params(const server *s, const step_plan *plan) {
  fa_fwd_params p = base_params(s);
  p.batch = plan->batch;
  p.total_q = plan->total_q;
  p.max_seqlen_q = plan->max_q;
  p.max_seqlen_k = plan->max_k; /* cached + appended, the longest */
  p.q = s->acts + plan->q_off;
  p.k_new = s->acts + s->q_region + plan->k_off;
  p.v_new = s->acts + s->q_region + s->kv_region + plan->v_off;
  return p;
}

/* The workspace of the largest step, before the loop: the library's worst
 * case over every call within the server's bounds (the size depends only
 * on host values, and the split count it picks need not grow with the
 * batch, so a runtime cannot just ask for its largest step). */
static void size_workspace(server *s) {
  fa_fwd_workspace_bounds b = fa_fwd_workspace_bounds_default();
  fa_message msg;
  size_t worst = 0;
  b.backend = s->backend;
  b.dtype = FA_DTYPE_BF16;
  b.num_heads_q = s->m.heads_q, b.num_heads_k = s->m.heads_k, b.head_dim = s->m.head_dim;
  b.max_batch = s->o.max_batch;      /* sequences in one call */
  b.max_total_q = s->budget;         /* query rows in one call (the token budget) */
  b.max_seqlen_q = s->o.chunk;       /* the longest prefill chunk */
  b.max_seqlen_k = s->max_seq_len;   /* the longest cache, this step's rows included */
  b.num_splits = 0;                  /* as every step passes */
  b.context = &s->ctx;
  check_fa(fa_fwd_workspace_size_max(&b, &worst, &msg), &msg, "fa_fwd_workspace_size_max");
  s->workspace_bytes = worst;
  s->workspace = worst ? backend_alloc(s, worst, "workspace") : NULL;
  printf("workspace: %.1f MiB (fa_fwd_workspace_size_max: batch <= %d, %d query rows, chunks <= %d, caches <= %d)\n",
         worst / 1048576.0, b.max_batch, s->budget, b.max_seqlen_q, b.max_seqlen_k);
}

/* Each step asks again; a step that needs more than the worst case sized
 * above would be a library bug: grow (outside the timed call), say so, and
 * fail the run. */
static void ensure_workspace(server *s, fa_fwd_params *p, int step) {
  fa_message msg;
  size_t need = 0;
  check_fa(fa_fwd_workspace_size(p, &need, &msg), &msg, "fa_fwd_workspace_size");
  if (need > s->workspace_bytes) {
    printf("note: step %d needs %zu bytes of workspace, more than the %zu sized up front: growing it\n", step, need,
           s->workspace_bytes);
    if (s->on_gpu) check_cuda(cudaStreamSynchronize(s->stream), "cudaStreamSynchronize");
    if (s->workspace) backend_free(s, s->workspace);
    s->workspace = backend_alloc(s, need, "workspace");
    s->workspace_bytes = need;
    s->workspace_grows++;
  }
  p->workspace = s->workspace, p->workspace_bytes = s->workspace_bytes;
}

/* What a step runs: one kernel, or a pair (fa_fwd_query_dispatch). */
static void tally(kernel_tally *t, const fa_fwd_params *p) {
  fa_message msg;
  fa_fwd_dispatch_info d = FA_FWD_DISPATCH_INFO_INIT;
  check_fa(fa_fwd_query_dispatch(p, &d, &msg), &msg, "fa_fwd_query_dispatch");
  fa_kernel_info first = FA_KERNEL_INFO_INIT, second = FA_KERNEL_INFO_INIT;
  const char *name = fa_kernel_info_get(d.kernel_index[0], &first) == FA_OK ? first.name : "?";
  const char *partner = NULL;
  if (d.num_kernels == 2) partner = fa_kernel_info_get(d.kernel_index[1], &second) == FA_OK ? second.name : "?";
  for (int i = 0; i < 4; ++i)
    if (t->name[i] == NULL ||
        (!strcmp(t->name[i], name) && (t->partner[i] == partner || (t->partner[i] && partner && !strcmp(t->partner[i], partner))))) {
      t->name[i] = name, t->partner[i] = partner, t->short_seqlen_q[i] = d.short_seqlen_q;
      t->steps[i]++;
      return;
    }
}

/* The attention call, and nothing else, timed: CUDA events around it on
 * the stream, or the wall clock on the CPU backend. */
static double timed_fwd(const server *s, const fa_fwd_params *p) {
  fa_message msg;
  if (!s->on_gpu) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    check_fa(fa_fwd(p, &msg), &msg, "fa_fwd");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
  }
  check_cuda(cudaEventRecord(s->ev_start, s->stream), "cudaEventRecord");
  check_fa(fa_fwd(p, &msg), &msg, "fa_fwd");
  check_cuda(cudaEventRecord(s->ev_stop, s->stream), "cudaEventRecord");
  /* A runtime waits here too (sampling needs the logits); it also makes
   * the pinned staging arrays free to rewrite for the next step. */
  check_cuda(cudaEventSynchronize(s->ev_stop), "the step's kernels");
  float ms = 0;
  check_cuda(cudaEventElapsedTime(&ms, s->ev_start, s->ev_stop), "cudaEventElapsedTime");
  return ms;
}

/* ------------------------------------------------------------ scheduling */

/* Requests arrive at random (0, 1 or 2 a step); the first step brings a
 * burst so that the batch fills. */
static void arrive(server *s, int step, totals *t) {
  const int n = step == 0 ? (s->o.max_batch + 1) / 2 : tu_rng_int(&s->rng, 0, 3) / 2;
  for (int i = 0; i < n; ++i, ++t->arrived) {
    if (s->queue_len == QUEUE_CAP) {
      t->rejected++;
      continue;
    }
    request *r = &s->queue[(s->queue_head + s->queue_len++) % QUEUE_CAP];
    r->prompt_len = tu_rng_int(&s->rng, 1, s->o.max_prompt);
    r->gen_len = tu_rng_int(&s->rng, 1, s->o.max_gen);
  }
}

/* First come, first served, while a slot is free and the pool can promise
 * the pages the request needs for its whole life. */
static void admit(server *s, totals *t) {
  for (int slot = 0; slot < s->o.max_batch && s->queue_len > 0; ++slot) {
    sequence *q = &s->seqs[slot];
    if (q->active) continue;
    const request *r = &s->queue[s->queue_head];
    const int need = pages_for(r->prompt_len + r->gen_len - 1, s->o.page_size);
    if (s->pages.reserved + need > s->pages.num_pages) return;
    s->pages.reserved += need;
    q->active = 1, q->id = s->next_id++;
    q->prompt_len = r->prompt_len, q->gen_len = r->gen_len;
    q->cached = q->generated = q->npages = q->rows = 0;
    q->reserved = need;
    s->queue_head = (s->queue_head + 1) % QUEUE_CAP, s->queue_len--;
    t->admitted++;
  }
}

/* This step's rows per sequence: 1 for every decoding sequence, then
 * prefill chunks, oldest request first, while the token budget lasts. */
static void schedule(server *s) {
  int left = s->budget;
  for (int i = 0; i < s->o.max_batch; ++i) {
    sequence *q = &s->seqs[i];
    q->rows = q->active && q->cached >= q->prompt_len ? 1 : 0;
    left -= q->rows;
  }
  while (left > 0) {
    sequence *oldest = NULL;
    for (int i = 0; i < s->o.max_batch; ++i) {
      sequence *q = &s->seqs[i];
      if (q->active && q->cached < q->prompt_len && q->rows == 0 && (oldest == NULL || q->id < oldest->id)) oldest = q;
    }
    if (oldest == NULL) return;
    int rows = oldest->prompt_len - oldest->cached;
    if (rows > s->o.chunk) rows = s->o.chunk;
    if (rows > left) rows = left;
    oldest->rows = rows;
    left -= rows;
  }
}

/* A step's rows start at a random place in the activations. */
static size_t random_offset(server *s, size_t region, size_t used) {
  return (size_t)tu_rng_int(&s->rng, 0, (int)((region - used) / 8)) * 8; /* 16-byte aligned */
}

/* The call's host arrays: block table rows, cache lengths, query offsets;
 * new pages for the tokens this step appends. */
static step_plan build_step(server *s) {
  const int hq = s->m.heads_q, hk = s->m.heads_k, d = s->m.head_dim, ps = s->o.page_size;
  step_plan plan;
  memset(&plan, 0, sizeof plan);
  for (int i = 0; i < s->o.max_batch; ++i) plan.total_q += s->seqs[i].rows;
  plan.q_off = random_offset(s, s->q_region, (size_t)plan.total_q * hq * d);
  plan.k_off = random_offset(s, s->kv_region, (size_t)plan.total_q * hk * d);
  plan.v_off = random_offset(s, s->kv_region, (size_t)plan.total_q * hk * d);
  s->h_cu_q[0] = 0;
  for (int i = 0; i < s->o.max_batch; ++i) {
    sequence *q = &s->seqs[i];
    if (q->rows == 0) continue;
    const int b = plan.batch++, keys = q->cached + q->rows;
    while (q->npages < pages_for(keys, ps)) q->pages[q->npages++] = page_take(&s->pages);
    memcpy(s->h_table + (size_t)b * s->max_pages, q->pages, (size_t)q->npages * sizeof *q->pages);
    s->h_seqused[b] = q->cached; /* before this step's tokens: the call appends at this position */
    s->h_cu_q[b + 1] = s->h_cu_q[b] + q->rows;
    s->slot_of[b] = i;
    /* Where the appended rows come from, for the check. */
    for (int r = 0; r < q->rows; ++r) {
      const size_t row = (size_t)s->h_cu_q[b] + r;
      q->k_src[q->cached + r] = s->q_region + plan.k_off + row * hk * d;
      q->v_src[q->cached + r] = s->q_region + s->kv_region + plan.v_off + row * hk * d;
    }
    if (q->rows > plan.max_q) plan.max_q = q->rows;
    if (keys > plan.max_k) plan.max_k = keys;
    if (q->cached < q->prompt_len) plan.prefill_rows += q->rows;
    else plan.decode_rows += q->rows;
    plan.kv_bytes += 2.0 * keys * hk * d * 2; /* K and V, bf16 */
  }
  return plan;
}

/* The host arrays to the device, in stream order before the call. */
static void upload_step(const server *s, const step_plan *plan) {
  upload(s, s->table, s->h_table, (size_t)plan->batch * s->max_pages * 4, "block table");
  upload(s, s->seqused, s->h_seqused, (size_t)plan->batch * 4, "seqused_k");
  upload(s, s->cu_q, s->h_cu_q, (size_t)(plan->batch + 1) * 4, "cu_seqlens_q");
}

/* After the call: lengths grow, tokens are "sampled", finished sequences
 * give their pages back. */
static void advance(server *s, step_plan *plan, totals *t) {
  for (int i = 0; i < s->o.max_batch; ++i) {
    sequence *q = &s->seqs[i];
    if (q->rows == 0) continue;
    const int prefill = q->cached < q->prompt_len;
    q->cached += q->rows;
    if (!prefill) q->generated++;
    else if (q->cached == q->prompt_len) q->generated = 1, plan->prompts_done++; /* from the prompt's last row */
    q->rows = 0;
    if (q->generated < q->gen_len) continue;
    for (int p = 0; p < q->npages; ++p) page_give(&s->pages, q->pages[p]);
    s->pages.reserved -= q->reserved;
    q->active = 0;
    t->served++;
  }
}

/* ------------------------------------------------------------ the check */

typedef struct check_result {
  double err2, ref2;
  long pairs, nonfinite, cache_rows, cache_mismatches;
} check_result;

/* Keys 0..n-1 of the call's sequence b, in order, gathered through the
 * block table row the call got (the cache as the library left it): one
 * copy per page, straight into place. */
static void gather(const server *s, const uint16_t *cache, int b, int n, uint16_t *dst) {
  const int ps = s->o.page_size;
  const size_t row = (size_t)s->m.heads_k * s->m.head_dim;
  for (int c = 0; c * ps < n; ++c) {
    const uint16_t *page = cache + (size_t)s->h_table[(size_t)b * s->max_pages + c] * s->page_elems;
    const size_t bytes = (size_t)(n - c * ps < ps ? n - c * ps : ps) * row * 2;
    uint16_t *to = dst + (size_t)c * ps * row;
    if (s->on_gpu) check_cuda(cudaMemcpyAsync(to, page, bytes, cudaMemcpyDeviceToHost, s->stream), "page");
    else memcpy(to, page, bytes);
  }
  if (s->on_gpu) check_cuda(cudaStreamSynchronize(s->stream), "pages");
}

/* Every gathered row is the activation row it was appended from, bit for
 * bit: this step's append landed where the table says, and no other
 * sequence's pages overlap this one's. */
static void check_cache_rows(const server *s, const sequence *q, int n, check_result *r) {
  const size_t row = (size_t)s->m.heads_k * s->m.head_dim;
  for (int j = 0; j < n; ++j, ++r->cache_rows)
    r->cache_mismatches += memcmp(s->h_keys + j * row, s->h_acts + q->k_src[j], row * 2) != 0 ||
                           memcmp(s->h_vals + j * row, s->h_acts + q->v_src[j], row * 2) != 0;
}

static void to_double(const uint16_t *src, size_t n, double *dst) {
  for (size_t i = 0; i < n; ++i) dst[i] = tu_half_to_double(src[i], FA_DTYPE_BF16);
}

/* Query row i of a causal chunk (rows query rows over keys keys) sees
 * exactly the first keys - rows + i + 1 keys (bottom-right alignment): the
 * reference computes it as a one-row problem over them, every head. */
static void check_row(const server *s, const step_plan *plan, int b, int i, int rows, int keys, check_result *r) {
  const int hq = s->m.heads_q, d = s->m.head_dim;
  const size_t at = ((size_t)s->h_cu_q[b] + i) * hq * d;
  const int64_t lq = 1, lk = keys - rows + i + 1;
  to_double(s->h_acts + plan->q_off + at, (size_t)hq * d, s->d_q);
  ref_problem rp;
  memset(&rp, 0, sizeof rp);
  rp.batch = 1, rp.heads_q = hq, rp.heads_k = s->m.heads_k, rp.head_dim = d;
  rp.seqlen_q = &lq, rp.seqlen_k = &lk;
  rp.q = s->d_q, rp.k = s->d_keys, rp.v = s->d_vals;
  rp.window_left = -1, rp.window_right = 0;
  rp.scale = 1.0 / sqrt((double)d);
  ref_attention(&rp, s->d_out, s->d_lse, NULL);
  for (size_t e = 0; e < (size_t)hq * d; ++e) {
    const double got = tu_half_to_double(s->h_out[at + e], FA_DTYPE_BF16), want = s->d_out[e];
    if (!isfinite(got)) r->nonfinite++;
    r->err2 += (got - want) * (got - want), r->ref2 += want * want;
  }
  r->pairs += hq;
}

/* The call's sequence b: its cache through the table, then its rows (all
 * of a short chunk; the first, the last and one between of a long one). */
static void check_sequence(server *s, const step_plan *plan, int b, check_result *r) {
  const sequence *q = &s->seqs[s->slot_of[b]];
  const int rows = q->rows, keys = q->cached + q->rows;
  const size_t n = (size_t)keys * s->m.heads_k * s->m.head_dim;
  gather(s, s->k_cache, b, keys, s->h_keys);
  gather(s, s->v_cache, b, keys, s->h_vals);
  check_cache_rows(s, q, keys, r);
  to_double(s->h_keys, n, s->d_keys);
  to_double(s->h_vals, n, s->d_vals);
  if (rows <= CHECK_MAX_ROWS) {
    for (int i = 0; i < rows; ++i) check_row(s, plan, b, i, rows, keys, r);
  } else {
    check_row(s, plan, b, 0, rows, keys, r);
    check_row(s, plan, b, tu_rng_int(&s->check_rng, 1, rows - 2), rows, keys, r);
    check_row(s, plan, b, rows - 1, rows, keys, r);
  }
}

/* Up to CHECK_MAX_SEQS sequences of the step, evenly spaced from a random
 * one. Returns whether the step passes. */
static int check_step(server *s, const step_plan *plan, int step, totals *t) {
  const size_t out_bytes = (size_t)plan->total_q * s->m.heads_q * s->m.head_dim * 2;
  download(s, s->h_out, s->out, out_bytes, "out");
  check_result r;
  memset(&r, 0, sizeof r);
  const int n = plan->batch < CHECK_MAX_SEQS ? plan->batch : CHECK_MAX_SEQS;
  const int first = tu_rng_int(&s->check_rng, 0, plan->batch - 1);
  for (int j = 0; j < n; ++j) check_sequence(s, plan, (first + j * (plan->batch / n)) % plan->batch, &r);
  const double rel = r.ref2 > 0 ? sqrt(r.err2 / r.ref2) : sqrt(r.err2);
  const int pass = r.nonfinite == 0 && r.cache_mismatches == 0 && rel <= TOL_BF16;
  t->checked_steps++, t->checked_pairs += r.pairs, t->cache_rows_checked += r.cache_rows;
  if (rel > t->worst_rel || isnan(rel)) t->worst_rel = rel;
  if (!pass || step < CHECK_FIRST_STEPS)
    printf("  check step %d: %d sequences, %ld (row, head) pairs, rel Frobenius error %.2e (tolerance %.0e), "
           "non-finite %ld; %ld cache rows, %ld differ from what was appended: %s\n",
           step, n, r.pairs, rel, TOL_BF16, r.nonfinite, r.cache_rows, r.cache_mismatches, pass ? "PASS" : "FAIL");
  return pass;
}

/* ------------------------------------------------------------ the loop */

static void log_step(const server *s, int step, const step_plan *plan, double ms) {
  const int every = s->o.steps >= 8 ? s->o.steps / 8 : 1;
  if (step >= CHECK_FIRST_STEPS && step % every != 0 && step != s->o.steps - 1) return;
  printf("step %4d: %3d sequences (%3d decoding, prefill %4d rows), %5lld rows, longest cache %5d, %8.3f ms, "
         "free pages %lld/%lld, waiting %d\n",
         step, plan->batch, plan->decode_rows, plan->prefill_rows, (long long)plan->total_q, plan->max_k, ms,
         (long long)s->pages.n_free, (long long)s->pages.num_pages, s->queue_len);
}

/* One serving step. Returns 0 when its check failed. */
static int run_step(server *s, int step, totals *t) {
  arrive(s, step, t);
  admit(s, t);
  schedule(s);
  step_plan plan = build_step(s);
  if (plan.batch == 0) {
    t->idle_steps++;
    return 1;
  }
  upload_step(s, &plan);
  fa_fwd_params p = step_params(s, &plan);
  ensure_workspace(s, &p, step);
  const int mixed = plan.prefill_rows > 0;
  tally(mixed ? &t->mixed_kernels : &t->decode_kernels, &p);
  const int check = s->o.check || step < CHECK_FIRST_STEPS;
  if (check) poison(s, s->out, (size_t)plan.total_q * s->m.heads_q * s->m.head_dim * 2);

  const double ms = timed_fwd(s, &p);

  t->steps_run++;
  if (mixed) t->mixed_steps++, t->ms_mixed += ms;
  else t->decode_steps++, t->ms_decode += ms;
  t->decode_tokens += plan.decode_rows, t->prefill_tokens += plan.prefill_rows;
  t->kv_bytes += plan.kv_bytes;
  const int ok = check ? check_step(s, &plan, step, t) : 1;
  log_step(s, step, &plan, ms);
  advance(s, &plan, t);
  t->generated += plan.decode_rows + plan.prompts_done;
  return ok;
}

static void print_kernels(const char *what, const kernel_tally *k) {
  for (int i = 0; i < 4 && k->name[i]; ++i) {
    if (k->partner[i])
      printf("  %-26s %s (sequences of <= %d rows) + %s (longer), one call (%ld steps)\n", i ? "" : what,
             k->name[i], k->short_seqlen_q[i], k->partner[i], k->steps[i]);
    else
      printf("  %-26s %s (%ld steps)\n", i ? "" : what, k->name[i], k->steps[i]);
  }
}

static void report(const server *s, const totals *t, int ok) {
  const double ms = t->ms_decode + t->ms_mixed, sec = ms * 1e-3;
  long running = 0;
  for (int i = 0; i < s->o.max_batch; ++i) running += s->seqs[i].active;
  printf("\nsteps: %d (%ld with a call, %ld idle)\n", s->o.steps, t->steps_run, t->idle_steps);
  printf("requests: %ld arrived, %ld turned away, %ld admitted, %ld served to the end, %ld running, %d waiting\n",
         t->arrived, t->rejected, t->admitted, t->served, running, s->queue_len);
  printf("tokens: prefill %ld, decode %ld; generated %ld (one per decode row, one per finished prompt)\n",
         t->prefill_tokens, t->decode_tokens, t->generated);
  printf("attention time: %.3f ms in %ld calls (decode-only steps: %ld, mean %.3f ms; steps with prefill: %ld, "
         "mean %.3f ms)\n",
         ms, t->steps_run, t->decode_steps, t->decode_steps ? t->ms_decode / t->decode_steps : 0.0, t->mixed_steps,
         t->mixed_steps ? t->ms_mixed / t->mixed_steps : 0.0);
  if (sec > 0) {
    printf("throughput over the attention time (one call computes both kinds, so they share it):\n");
    printf("  prefill %.4g tokens/s, decode %.4g tokens/s, all %.4g tokens/s\n", t->prefill_tokens / sec,
           t->decode_tokens / sec, (t->prefill_tokens + t->decode_tokens) / sec);
    printf("K/V read: %.3f GB (each sequence's keys and values once per step), %.1f GB/s\n", t->kv_bytes * 1e-9,
           t->kv_bytes * 1e-9 / sec);
  }
  printf("kernels (fa_fwd_query_dispatch, per step):\n");
  print_kernels("decode-only steps:", &t->decode_kernels);
  print_kernels("steps with prefill chunks:", &t->mixed_kernels);
  printf("workspace: %.1f MiB, grown %d times in the loop%s\n", s->workspace_bytes / 1048576.0, s->workspace_grows,
         s->workspace_grows ? " (FAIL: fa_fwd_workspace_size_max was exceeded)" : "");
  printf("check: %ld steps, %ld (row, head) pairs, max rel Frobenius error %.2e (tolerance %.0e), %ld cache rows "
         "gathered through the block table: %s\n",
         t->checked_steps, t->checked_pairs, t->worst_rel, TOL_BF16, t->cache_rows_checked, ok ? "PASS" : "FAIL");
}

int main(int argc, char **argv) {
  server s;
  memset(&s, 0, sizeof s);
  setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines show through pipes too */
  s.o = parse_options(argc, argv);
  printf("flashattn %s continuous batching over a paged KV cache\n", fa_version_string());
  pick_backend(&s);
  s.m = fill_defaults(&s.o, s.on_gpu);
  int from_env = 0;
  if (s.o.seed == 0) s.o.seed = tu_seed_from_env(&from_env);
  s.rng = tu_rng_make(s.o.seed);
  s.check_rng = tu_rng_make(s.o.seed ^ 0x5bd1e995u); /* checking does not change the run */
  allocate(&s);
  printf("model: heads %d/%d, head_dim %d, bf16, causal; pages of %d tokens, %lld pages (%.1f MiB of K/V), "
         "table %d x %d\n",
         s.m.heads_q, s.m.heads_k, s.m.head_dim, s.o.page_size, (long long)s.pages.num_pages,
         2.0 * s.pages.num_pages * s.page_elems * 2 / 1048576.0, s.o.max_batch, s.max_pages);
  printf("serving: %d steps, batch up to %d, prompts 1..%d tokens in chunks of %d, 1..%d generated, %d rows a "
         "step, seed 0x%llx%s\n",
         s.o.steps, s.o.max_batch, s.o.max_prompt, s.o.chunk, s.o.max_gen, s.budget, (unsigned long long)s.o.seed,
         from_env ? " (FA_TEST_SEED)" : "");
  size_workspace(&s);
  totals t;
  memset(&t, 0, sizeof t);
  int ok = 1;
  for (int step = 0; step < s.o.steps && ok; ++step) ok = run_step(&s, step, &t);
  if (s.workspace_grows > 0) ok = 0; /* the worst case did not hold */
  report(&s, &t, ok);
  release(&s);
  return ok ? 0 : 1;
}
