/*
 * flashattn.h - exact softmax attention (flash attention) for inference
 * runtimes written in C. One header, plain C99/C11, usable from C++.
 *
 * Semantics follow PyTorch's varlen_attn and FlashAttention 2/3:
 *   out = softmax(scale * q k^T + mask) v, per query head, per sequence.
 * Storage is fp16 or bf16; accumulation is fp32.
 *
 * The library never allocates, keeps no mutable global state, never prints,
 * and is safe to call from several threads at once. Every GPU call is
 * asynchronous on the stream the caller names.
 */
#ifndef FLASHATTN_H
#define FLASHATTN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- version */

#define FA_VERSION_MAJOR 0
#define FA_VERSION_MINOR 4
#define FA_VERSION_PATCH 0
#define FA_VERSION_NUMBER \
  (FA_VERSION_MAJOR * 10000 + FA_VERSION_MINOR * 100 + FA_VERSION_PATCH)

/* FA_VERSION_NUMBER of the library linked in (may differ from the header). */
unsigned fa_version_number(void);
/* "MAJOR.MINOR.PATCH" of the library linked in. */
const char *fa_version_string(void);

/* ---------------------------------------------------------------- status */

typedef enum fa_status {
  FA_OK = 0,
  FA_ERR_NULL_POINTER = 1,       /* a required pointer is NULL */
  FA_ERR_INVALID_SHAPE = 2,      /* batch, heads, seqlens or totals out of range */
  FA_ERR_HEADS_NOT_DIVISIBLE = 3,/* num_heads_q is not a multiple of num_heads_k */
  FA_ERR_INVALID_STRIDE = 4,     /* a stride is negative or not a multiple of 8 elements */
  FA_ERR_MISALIGNED = 5,         /* a pointer is not aligned as documented below */
  FA_ERR_INVALID_WINDOW = 6,     /* window_left / window_right below -1 */
  FA_ERR_INVALID_SCALE = 7,      /* scale is NaN or infinite */
  FA_ERR_INVALID_SOFTCAP = 8,    /* softcap is negative, NaN or infinite */
  FA_ERR_INVALID_SEQLENS = 9,    /* cu_seqlens / seqused_k contents (checked where readable) */
  FA_ERR_OVERFLOW = 10,          /* an offset or the launch grid would overflow */
  FA_ERR_UNSUPPORTED_HEAD_DIM = 11, /* head_dim is not in the generated set */
  FA_ERR_UNSUPPORTED_DTYPE = 12, /* dtype is not one of fa_dtype */
  FA_ERR_UNSUPPORTED_DEVICE = 13,/* no kernel was built for this GPU architecture */
  FA_ERR_NO_KERNEL = 14,         /* this combination was not generated, or kernel index invalid */
  FA_ERR_INVALID_BACKEND = 15,   /* backend is not one of fa_backend */
  FA_ERR_NO_DEVICE = 16,         /* CUDA backend asked for, but no usable CUDA device */
  FA_ERR_INVALID_POINTER = 17,   /* a CUDA-backend pointer is not device-accessible memory */
  FA_ERR_CUDA = 18,              /* a CUDA runtime call failed (launch, stream, device query) */
  FA_ERR_STRUCT_SIZE = 19,       /* struct_size of a struct is 0 or not a size this library knows */
  FA_ERR_INVALID_CONTEXT = 20,   /* fa_context not initialized, of another backend or another device */
  FA_ERR_WORKSPACE = 21,         /* workspace missing or smaller than fa_fwd_workspace_size says */
  FA_ERR_UNSUPPORTED = 22        /* every kernel built for this call declined it (the message says why) */
} fa_status;

/* Short constant name of a status ("FA_ERR_MISALIGNED"); never NULL. */
const char *fa_status_string(fa_status status);

/* The specific reason for a failed call: pass one to any call that takes
 * it (or NULL). It is written only by that call, so it needs no global
 * state. On success text[0] is '\0'. */
#define FA_MESSAGE_CAPACITY 512
typedef struct fa_message {
  char text[FA_MESSAGE_CAPACITY];
} fa_message;

/* ---------------------------------------------------------------- enums */

/* Storage types. FA_DTYPE_FP32 only where a call says so (fa_combine's output). */
typedef enum fa_dtype { FA_DTYPE_FP16 = 1, FA_DTYPE_BF16 = 2, FA_DTYPE_FP32 = 3 } fa_dtype;

/* Where the tensors live: device pointers (CUDA) or host pointers (CPU). */
typedef enum fa_backend { FA_BACKEND_CUDA = 1, FA_BACKEND_CPU = 2 } fa_backend;

/* Mask modes, derived from the window (see fa_fwd_params). */
typedef enum fa_mask {
  FA_MASK_NONE = 0,   /* window (-1, -1) */
  FA_MASK_CAUSAL = 1, /* window (-1, 0)  */
  FA_MASK_LOCAL = 2   /* any other window */
} fa_mask;

const char *fa_dtype_name(fa_dtype dtype);       /* "fp16", "bf16" */
const char *fa_backend_name(fa_backend backend); /* "cuda", "cpu" */
const char *fa_mask_name(fa_mask mask);          /* "none", "causal", "local" */
/* Mask mode of a window; windows below -1 give FA_MASK_LOCAL (and are rejected by calls). */
fa_mask fa_mask_from_window(int32_t window_left, int32_t window_right);

/* Same type as cudaStream_t, without needing CUDA's headers. NULL is the
 * legacy default stream. */
typedef struct CUstream_st *fa_stream_t;

/* ---------------------------------------------------------------- structs that grow
 *
 * Every parameter struct (and fa_kernel_info, which the library fills)
 * starts with `uint32_t struct_size`, the sizeof of the struct as the
 * caller's header declares it. Its *_default() initializer sets it; set it
 * yourself (= sizeof) only where you do not start from the initializer.
 * Later minor versions only append fields, and accept the sizes of every
 * earlier version: the fields a caller's older header lacks take their
 * defaults. A size of 0, or one this library does not know (from a newer
 * header), is rejected with FA_ERR_STRUCT_SIZE and nothing is done.
 *
 *   FA_<STRUCT>_SIZE_V0_2 below are the sizes of the 0.2 layout (LP64),
 *   FA_<STRUCT>_SIZE_V0_3 and _V0_4 those of later layouts or new structs.
 */

/* ---------------------------------------------------------------- context */

/*
 * Device facts a call needs, gathered once by fa_context_init so calls need
 * not ask again: device index, compute capability, SM count, shared-memory
 * limits, and the driver entry points later kernel families use (the
 * tensor-map encoder, reached through the CUDA runtime's driver-entry-point
 * query, so nothing links libcuda). Caller-allocated, fixed size, read-only
 * after init: one context may be shared by any number of threads.
 *
 * Pass it in fa_fwd_params.context (NULL: each call queries the current
 * device, as before). A CUDA context must be used while its device is the
 * current device (cudaSetDevice); otherwise calls fail with
 * FA_ERR_INVALID_CONTEXT.
 */
#define FA_CONTEXT_RESERVED_WORDS 24
typedef struct fa_context {
  uint32_t struct_size;      /* sizeof(fa_context), set by fa_context_init */
  fa_backend backend;
  int32_t device;            /* CUDA device index; -1 on the CPU backend */
  int32_t arch;              /* compute capability x10 (90 for sm_90); 0 on the CPU */
  int32_t sm_count;          /* streaming multiprocessors; 0 on the CPU */
  int32_t max_smem_per_block; /* bytes a block may opt in to (cudaDevAttrMaxSharedMemoryPerBlockOptin) */
  int32_t smem_per_sm;       /* bytes of shared memory per SM */
  int32_t l2_bytes;          /* L2 cache size */
  void *tensor_map_encode;   /* cuTensorMapEncodeTiled (driver entry point), or NULL where unavailable */
  uint64_t reserved[FA_CONTEXT_RESERVED_WORDS]; /* zero; later versions put fields here */
} fa_context;

/* Fill *context for `backend`. CUDA: `device` is a device index, or
 * FA_CURRENT_DEVICE for the current one; the call does not change the
 * current device and does not synchronize. CPU: `device` is ignored. */
#define FA_CURRENT_DEVICE (-1)
fa_status fa_context_init(fa_context *context, fa_backend backend, int device, fa_message *message);

/* ---------------------------------------------------------------- forward */

/*
 * Forward attention. Two layouts:
 *
 * Varlen (cu_seqlens_q and cu_seqlens_k both set), as PyTorch varlen_attn:
 *   q    [total_q, num_heads_q, head_dim]
 *   k, v [total_k, num_heads_k, head_dim]
 *   out  [total_q, num_heads_q, head_dim]
 *   cu_seqlens_q/k: int32[batch + 1], prefix sums of the sequence lengths,
 *   starting at 0; sequence b holds rows cu_seqlens[b] .. cu_seqlens[b+1]-1.
 *   max_seqlen_q/k: host integers >= every sequence length (no device sync
 *   is ever needed). Query rows past max_seqlen_q are not computed.
 *   lse: float32[num_heads_q, total_q].
 *
 * Dense (both cu_seqlens NULL), as flash_attn_func:
 *   q, out [batch, max_seqlen_q, num_heads_q, head_dim]
 *   k, v   [batch, max_seqlen_k, num_heads_k, head_dim]
 *   lse: float32[batch, num_heads_q, max_seqlen_q].
 *
 * The last dimension is contiguous. Strides are in elements; a stride of 0
 * means "packed": head stride = head_dim, row stride = heads * head_dim,
 * batch stride (dense) = seqlen * row stride. Views of a fused QKV buffer
 * therefore work without copies.
 *
 * Alignment: q, k, v, out 16 bytes and every stride a multiple of 8
 * elements (16-byte vector loads); lse, sinks, cu_seqlens, seqused_k 4 bytes.
 *
 * Masking, with Lq queries and Lk keys in a sequence: query row i sits at
 * key position p = i + Lk - Lq (bottom-right alignment) and sees key j when
 *   (window_left  < 0 || j >= p - window_left) &&
 *   (window_right < 0 || j <= p + window_right).
 * Causal is (-1, 0); no mask is (-1, -1). Rows that see no key get zeros in
 * out and -inf in lse (or the sink logit, if sinks are given); never NaN.
 *
 * softcap > 0: scores s = scale * q.k become softcap * tanh(s / softcap).
 * sinks[h]: an extra logit of head h that joins the softmax denominator
 * only (it has no value row). lse is the natural log of that denominator.
 *
 * GQA/MQA: query head h reads key/value head h / (num_heads_q / num_heads_k).
 *
 * CUDA backend: every pointer is device memory of the current device; the
 * call validates, picks a kernel, launches it on `stream` and returns
 * without waiting. cu_seqlens contents cannot be checked without a sync:
 * the kernel clamps every access to [0, total) so a wrong prefix sum never
 * reads or writes out of bounds, but rows it implies are then not written.
 * CPU backend: host pointers, computed before the call returns, single
 * threaded; cu_seqlens and seqused_k contents are checked.
 */
typedef struct fa_fwd_params {
  uint32_t struct_size; /* sizeof(fa_fwd_params); set by fa_fwd_params_default() */
  fa_backend backend;   /* default FA_BACKEND_CUDA */
  fa_dtype dtype;     /* default FA_DTYPE_BF16 */

  int32_t batch;       /* number of sequences, >= 1 */
  int32_t num_heads_q; /* >= 1 */
  int32_t num_heads_k; /* >= 1, divides num_heads_q */
  int32_t head_dim;    /* one of the generated head dims (fa_kernel_info) */

  const int32_t *cu_seqlens_q; /* varlen: [batch + 1]; NULL for dense */
  const int32_t *cu_seqlens_k; /* varlen: [batch + 1]; NULL for dense */
  int64_t total_q;             /* varlen: rows of q and out */
  int64_t total_k;             /* varlen: rows of k and v */
  int32_t max_seqlen_q;        /* varlen: longest query sequence; dense: seqlen_q */
  int32_t max_seqlen_k;        /* varlen: longest key sequence;   dense: seqlen_k */
  /* optional [batch]: keys used per sequence (KV caches). Leave it NULL in
   * a dense call whose caches are all full (seqlen_k keys): decode then
   * splits long caches uniformly, with no per-launch plan on the device. */
  const int32_t *seqused_k;

  const void *q;
  const void *k;
  const void *v;
  void *out;

  /* Strides in elements; 0 = packed (see above). */
  int64_t q_batch_stride, q_row_stride, q_head_stride;
  int64_t k_batch_stride, k_row_stride, k_head_stride;
  int64_t v_batch_stride, v_row_stride, v_head_stride;
  int64_t out_batch_stride, out_row_stride, out_head_stride;

  float scale;          /* softmax scale; 0 = 1 / sqrt(head_dim) (default 0) */
  float softcap;        /* 0 = off (default) */
  int32_t window_left;  /* -1 = unbounded (default -1) */
  int32_t window_right; /* -1 = unbounded (default -1); causal is (-1, 0) */

  const float *sinks; /* optional float32[num_heads_q] */
  float *lse;         /* optional output, layout above */

  fa_stream_t stream; /* CUDA backend only; default NULL */

  const fa_context *context; /* optional (see fa_context); NULL = query the current device */
  /* Scratch memory for the kernel (split-KV partials, scheduler state),
   * caller-allocated in the backend's memory, 256-byte aligned, at least
   * fa_fwd_workspace_size bytes. NULL with 0 bytes when that size is 0. */
  void *workspace;
  size_t workspace_bytes;

  /* ---- 0.3: KV caches (paged or contiguous), append, split-KV ----
   *
   * Paged K/V cache: with block_table set, k and v hold pages
   *   k, v [num_pages, page_size, num_heads_k, head_dim]
   * (k_batch_stride / v_batch_stride are the page strides, k_row_stride /
   * v_row_stride the token strides; 0 = packed). Key j of sequence b lives
   * in page block_table[b * block_table_stride + j / page_size], row
   * j % page_size. Any page size >= 1. seqused_k is required (the keys of
   * each sequence) and cu_seqlens_k must be NULL; queries are varlen
   * (cu_seqlens_q) or dense. max_seqlen_k bounds the keys of every sequence
   * (appended rows included) and must be <= max_pages_per_seq * page_size.
   * Page ids and lengths live on the device: the kernels clamp page ids
   * into [0, num_pages) and lengths into the table's capacity, so a bad
   * table never reads or writes outside the pool; the CPU backend checks
   * them and rejects bad ones (FA_ERR_INVALID_SEQLENS). Table columns past
   * a sequence's last page and cache rows past its length are never read
   * into the result (they may hold anything, NaN included). */
  const int32_t *block_table;  /* device int32; NULL = not paged */
  int64_t block_table_stride;  /* int32 entries per row; 0 = max_pages_per_seq */
  int32_t max_pages_per_seq;   /* table columns a sequence may use, >= 1 */
  int32_t page_size;           /* tokens per page, >= 1 */
  int64_t num_pages;           /* pages in the pool, >= 1 */

  /* Append: this step's new K/V rows, laid out like q (varlen
   * [total_q, num_heads_k, head_dim], dense [batch, max_seqlen_q, ...];
   * strides as for q, 0 = packed). Sequence b's Lq new rows are written into
   * the cache (paged or contiguous) at positions seqused_k[b] ..
   * seqused_k[b] + Lq - 1 before attention, which then sees
   * seqused_k[b] + Lq keys: seqused_k is required and holds the cache
   * lengths BEFORE the append (as FlashAttention's cache_seqlens; the
   * library does not update it). fa_append_kv does the same write alone. */
  const void *k_new;
  const void *v_new;
  int64_t k_new_batch_stride, k_new_row_stride, k_new_head_stride;
  int64_t v_new_batch_stride, v_new_row_stride, v_new_head_stride;

  /* Split-KV (flash-decoding): 0 = chosen from the shapes and the device's
   * SM count (host values only, never a sync); 1 = never split: each
   * sequence's result is then independent of the rest of the batch; n > 1 =
   * at most n splits per sequence (<= FA_MAX_SPLITS). A call that splits
   * needs workspace (fa_fwd_workspace_size).
   * Prefill on sm_90 (the wgmma family), 0.4: 0 and n > 1 also let the
   * persistent grid share out the tiles of its last partial round by keys
   * (2 or 3 blocks per tile, fp32 partials merged in a fixed order:
   * deterministic, but a tile's bits then depend on the batch around it;
   * 1 keeps them independent), for full or two-sided windows, head dims up
   * to 128, sequences of two query tiles or more and 16 key tiles or more,
   * with the workspace fa_fwd_workspace_size reports (about 18 MB at d128
   * on 132 SMs); a call given less workspace runs unsplit. */
  int32_t num_splits;
  /* 0.4 (in 0.3's reserved word): how the call's kernels enter the stream.
   * 0 (the default): on sm_90 the decode and wgmma families' kernels are
   * launched as programmatic dependents of the kernel before them on the
   * stream (PDL): their launch and set-up (shared-memory barriers, no
   * memory access) overlap that kernel's last blocks, and they wait for
   * its completion and its writes before they read or write anything, so
   * the results and the order of the stream are those of a plain launch.
   * It saves part of the gap between two kernels (on an H200, 0.2-0.5 us
   * a call in a CUDA graph: short decode steps 2.4% less time). Other
   * kernels, and every kernel on older GPUs, launch plainly.
   * FA_LAUNCH_NO_PDL: plain launches everywhere (e.g. for a profiler that
   * times kernels one by one). Other bits are rejected (FA_ERR_UNSUPPORTED). */
  uint32_t launch_flags;
} fa_fwd_params;

#define FA_LAUNCH_NO_PDL 1u

#define FA_FWD_PARAMS_SIZE_V0_2 272
#define FA_FWD_PARAMS_SIZE_V0_3 376
#define FA_MAX_SPLITS 256

/* Defaults: struct_size set, CUDA, bf16, no mask (window -1/-1), scale 0,
 * everything else 0. Start from this rather than from a zeroed struct:
 * window (0, 0) means "each query sees only its own position", and a zero
 * struct_size is rejected. */
fa_fwd_params fa_fwd_params_default(void);

/* Validate, choose a kernel and run it. The choice (src/dispatch.c): among
 * the kernels built for the call's backend, device architecture, head_dim,
 * dtype and window, the one of highest priority whose family supports the
 * call's shape (query length, GQA ratio, grid limits, features). On any
 * error nothing is written or launched. */
fa_status fa_fwd(const fa_fwd_params *params, fa_message *message);

/* Validate and choose the kernel fa_fwd would run, without running it.
 * *kernel_index (may be NULL) receives its index for fa_kernel_info_get;
 * for a call that runs as a pair (below) it is the kernel of the short
 * sequences: fa_fwd_query_dispatch names both. When no kernel supports the
 * call, the message names each family that declined and why. */
fa_status fa_fwd_query(const fa_fwd_params *params, size_t *kernel_index,
                       fa_message *message);

/*
 * What fa_fwd would run for a call, in full (0.4). A varlen call whose
 * longest query may exceed what the highest-ranked family is made for (the
 * decode family: short_rows packed query rows per sequence) runs as a
 * pair, in the one call: kernel_index[0] computes the sequences with
 *   len_q x (num_heads_q / num_heads_k) <= short_rows
 * (equivalently len_q <= short_seqlen_q), kernel_index[1] the others. The
 * host does not know each len_q (it lives on the device), so both kernels
 * are launched; each skips the other's sequences. A dense call, or one
 * whose max_seqlen_q fits, runs one kernel.
 *
 * Filled by the library, like fa_kernel_info: the caller sets struct_size
 * (FA_FWD_DISPATCH_INFO_INIT); a caller built against an older layout gets
 * the fields it has room for.
 */
typedef struct fa_fwd_dispatch_info {
  uint32_t struct_size;   /* set by the caller: sizeof(fa_fwd_dispatch_info) (FA_FWD_DISPATCH_INFO_INIT) */
  int32_t num_kernels;    /* 1, or 2 when the call runs as a pair */
  size_t kernel_index[2]; /* for fa_kernel_info_get: [0] is what fa_fwd_query reports (in a pair, the kernel
                             of the short sequences); [1] the kernel of the longer ones, SIZE_MAX when alone */
  int32_t short_rows;     /* pair: the packed-row bound above; 0 when num_kernels is 1 */
  int32_t short_seqlen_q; /* pair: the same bound in query rows (short_rows / heads per KV head); 0 alone */
  int32_t splits[2];      /* split-KV count each kernel runs with, given these params (num_splits, the
                             workspace they carry, the device): 1 = not split; 0 for an absent kernel; where
                             the decode kernel splits by length (each sequence its own count, decided on the
                             device: src/cuda/fwd_decode.md), the most any sequence takes */
  size_t workspace_bytes; /* what fa_fwd_workspace_size reports for these params */
} fa_fwd_dispatch_info;

#define FA_FWD_DISPATCH_INFO_SIZE_V0_4 48
#define FA_FWD_DISPATCH_INFO_INIT {.struct_size = sizeof(fa_fwd_dispatch_info)}

/* Validate like fa_fwd and describe the kernel(s) it would run, without
 * running anything; *info (struct_size set by the caller) is written only
 * on success. Host only, never synchronizes. */
fa_status fa_fwd_query_dispatch(const fa_fwd_params *params, fa_fwd_dispatch_info *info, fa_message *message);

/* Bytes of workspace the kernel(s) fa_fwd would choose need for this call
 * (a pair: both parts, each 256-byte aligned). Host only: reads no device
 * memory and never synchronizes. The size depends only on host-known
 * values (shapes, max_seqlen, head counts, the device), so one allocation
 * serves every call of a captured CUDA graph whose host values stay the
 * same; fa_fwd_workspace_size_max bounds it over a range of calls. */
fa_status fa_fwd_workspace_size(const fa_fwd_params *params, size_t *bytes, fa_message *message);

/*
 * Worst-case workspace (0.4), for runtimes that allocate once (CUDA
 * graphs, continuous batching): upper bounds on the host values of the
 * calls they will make. A call is within these bounds when it has the same
 * backend, dtype, num_heads_q, num_heads_k and head_dim, and
 *   params.batch        <= bounds.max_batch,
 *   params.total_q      <= bounds.max_total_q (dense: batch x max_seqlen_q),
 *   params.max_seqlen_q <= bounds.max_seqlen_q,
 *   params.max_seqlen_k <= bounds.max_seqlen_k,
 *   params.num_splits   any value when bounds.num_splits is 0, else 1 .. bounds.num_splits,
 * on the device of `context` (NULL: the current device), whatever its
 * window, softcap, sinks, strides, paging (page size, table) or append,
 * and whether it runs one kernel or a pair. Such a call never needs more
 * than fa_fwd_workspace_size_max reports. The workspace grows with the
 * split count and the query rows the split kernel computes (batch x the
 * rows of a short sequence, at most total_q), and the library chooses the
 * split count from the batch, the query and key lengths and the SM count
 * (it need not grow with the batch), so the bound is taken over every
 * batch size up to max_batch, not at max_batch alone.
 */
typedef struct fa_fwd_workspace_bounds {
  uint32_t struct_size;  /* set by fa_fwd_workspace_bounds_default() */
  fa_backend backend;    /* default FA_BACKEND_CUDA */
  fa_dtype dtype;        /* default FA_DTYPE_BF16 */
  int32_t num_heads_q;   /* >= 1 */
  int32_t num_heads_k;   /* >= 1, divides num_heads_q */
  int32_t head_dim;      /* one of the generated head dims */
  int32_t max_batch;     /* >= 1 */
  int32_t max_seqlen_q;  /* >= 0: the longest query sequence of any call */
  int64_t max_total_q;   /* >= 0: the most query rows of any call */
  int32_t max_seqlen_k;  /* >= 0: the longest key sequence of any call (appended rows included) */
  int32_t num_splits;    /* 0 = calls pass any num_splits (default); n = calls pass 1 .. n (<= FA_MAX_SPLITS) */
  const fa_context *context; /* optional; NULL = the current device */
} fa_fwd_workspace_bounds;

#define FA_FWD_WORKSPACE_BOUNDS_SIZE_V0_4 56
/* Defaults: struct_size set, CUDA, bf16, everything else 0. */
fa_fwd_workspace_bounds fa_fwd_workspace_bounds_default(void);

/* Bytes that suffice for every call within *bounds (above). Host only,
 * never synchronizes; 0 when no kernel that could run such a call needs
 * workspace (the CPU backend, num_splits = 1). */
fa_status fa_fwd_workspace_size_max(const fa_fwd_workspace_bounds *bounds, size_t *bytes, fa_message *message);

/* Advanced: run a given kernel of the table (tests, benchmarks), bypassing
 * the priority order but not the kernel's own limits. The kernel must match
 * the call's backend, head_dim and dtype, run on the device, and compute
 * its window: a "local" kernel computes any window (causal and none
 * included), a "causal" or "none" kernel only its own. */
fa_status fa_fwd_with_kernel(const fa_fwd_params *params, size_t kernel_index,
                             fa_message *message);

/* Bytes of workspace fa_fwd_with_kernel(params, kernel_index) needs (0.4).
 * It can exceed fa_fwd_workspace_size, which describes fa_fwd's choice:
 * where fa_fwd would split the call between two kernels, a split kernel
 * run alone computes every sequence's rows. Host only, never
 * synchronizes; the same checks as fa_fwd_with_kernel. */
fa_status fa_fwd_workspace_size_with_kernel(const fa_fwd_params *params, size_t kernel_index, size_t *bytes,
                                            fa_message *message);

/* Append alone: write params->k_new / v_new into the cache that params
 * describes (paged or contiguous) exactly as fa_fwd would before attending,
 * and nothing else: q, out and lse are neither read nor written (they may
 * be NULL), and no kernel of the table runs. For runtimes that fill the
 * cache before attention (vLLM's reshape_and_cache). */
fa_status fa_append_kv(const fa_fwd_params *params, fa_message *message);

/* ---------------------------------------------------------------- combine */

/*
 * Merge attention computed over disjoint sets of keys (split-KV partials, a
 * shared prefix and per-request suffixes, parts computed on several GPUs)
 * into the attention over their union. Part p of (row r, head h) is a
 * normalized output o_p (the softmax-weighted average of the values it
 * saw, as fa_fwd's out) and its lse l_p (natural log of its softmax
 * denominator, as fa_fwd's lse; -inf for a part that saw no key). Then
 *   lse = log(sum_p exp(l_p) [+ exp(sink_h)]),  out = sum_p exp(l_p - lse) o_p.
 * The sink, if given, joins the denominator once. Parts with l_p = -inf are
 * skipped (their o_p is not read into the result); a row whose parts are
 * all empty gets out 0 and lse -inf (or the sink); NaN in a part's l_p or
 * o_p makes that row NaN, and so does l_p = +inf (an overflowed
 * denominator, which fa_fwd never writes): out and lse NaN.
 * The parts are summed in index order: the same
 * parts in the same order give the same bits on every call (another order
 * may differ by rounding). FlashInfer's states use log2: multiply their lse
 * by ln 2 first.
 */
typedef struct fa_combine_params {
  uint32_t struct_size; /* set by fa_combine_params_default() */
  fa_backend backend;
  int32_t num_parts;    /* 1 .. FA_MAX_SPLITS */
  int32_t num_heads;    /* >= 1 */
  int32_t head_dim;     /* multiple of 8, 8 .. 512 */
  int64_t num_rows;     /* >= 0 */
  /* fp32 [num_parts][num_rows][num_heads][head_dim]; strides in elements,
   * 0 = packed; multiples of 4, pointer 16-byte aligned. */
  const float *out_parts;
  int64_t out_parts_part_stride, out_parts_row_stride, out_parts_head_stride;
  /* fp32 [num_parts][num_heads][num_rows] (rows contiguous); 0 = packed. */
  const float *lse_parts;
  int64_t lse_parts_part_stride, lse_parts_head_stride;
  const float *sinks;   /* optional float32[num_heads], natural-log logits */
  fa_dtype out_dtype;   /* FA_DTYPE_FP16, FA_DTYPE_BF16 or FA_DTYPE_FP32 */
  /* [num_rows][num_heads][head_dim]; strides 0 = packed, multiples of 8 for
   * 16-bit and 4 for fp32 outputs; pointer 16-byte aligned. */
  void *out;
  int64_t out_row_stride, out_head_stride;
  float *lse;           /* optional float32[num_heads][lse_head_stride]: natural log */
  int64_t lse_head_stride; /* 0 = num_rows */
  fa_stream_t stream;
} fa_combine_params;

#define FA_COMBINE_PARAMS_SIZE_V0_3 152
/* Defaults: struct_size set, CUDA, out_dtype bf16, everything else 0. */
fa_combine_params fa_combine_params_default(void);
fa_status fa_combine(const fa_combine_params *params, fa_message *message);

/* ---------------------------------------------------------------- padding masks, packed ids */

/*
 * The transformers paths into varlen attention, without a device sync:
 *
 * Mask path (padded batch + attention mask):
 *   fa_unpad_info  mask [batch, seqlen] -> indices, cu_seqlens, max_seqlen
 *   fa_unpad_rows  gather q/k/v rows:    packed[i] = padded[indices[i]]
 *   fa_fwd         on the packed rows (total_q = batch * seqlen works as a
 *                  bound; max_seqlen_q = seqlen is a valid host bound)
 *   fa_pad_rows    scatter back:         padded[indices[i]] = packed[i], 0 elsewhere
 *
 * Packed path (no mask, position ids restarting at 0 per sequence):
 *   fa_seqlens_from_position_ids -> cu_seqlens, number of sequences, max_seqlen
 *
 * All results stay in the backend's memory and every CUDA call is
 * asynchronous on `stream`. A caller who needs a value on the host (the
 * number of sequences, the exact max_seqlen) asks for it explicitly with
 * fa_copy_to_host, which is the one call here that waits.
 * The CPU backend takes host pointers and computes before returning.
 */

/* Integer element types of masks and position ids. FA_INT_BOOL is one byte
 * per element (C bool, torch.bool, numpy bool_/uint8); nonzero is true. */
typedef enum fa_int_dtype { FA_INT_BOOL = 1, FA_INT32 = 2, FA_INT64 = 3 } fa_int_dtype;

typedef struct fa_unpad_info_params {
  uint32_t struct_size; /* set by fa_unpad_info_params_default() */
  fa_backend backend;
  const void *attention_mask; /* [batch, seqlen], row-major, contiguous; nonzero = keep.
                                 Left or right padding, or holes: every kept token counts. */
  fa_int_dtype mask_dtype;
  int32_t batch;   /* >= 1 */
  int32_t seqlen;  /* >= 1; batch * seqlen < 2^31 (else FA_ERR_INVALID_SHAPE) */
  int64_t *indices;    /* out [batch * seqlen]: the flat positions b * seqlen + s of the kept
                          tokens, in order; entries from total to the end are set to -1 */
  int32_t *cu_seqlens; /* out [batch + 1]: prefix sums of kept tokens per row (total at [batch]) */
  int32_t *max_seqlen; /* out [1]: the longest row */
  fa_stream_t stream;
} fa_unpad_info_params;

#define FA_UNPAD_INFO_PARAMS_SIZE_V0_2 64
/* Defaults: struct_size set, CUDA, mask_dtype FA_INT_BOOL, everything else 0. */
fa_unpad_info_params fa_unpad_info_params_default(void);

/* Indices, cu_seqlens and max_seqlen of an attention mask (transformers'
 * _get_unpad_data, without its .item()). */
fa_status fa_unpad_info(const fa_unpad_info_params *params, fa_message *message);

typedef struct fa_rows_params {
  uint32_t struct_size; /* set by fa_rows_params_default() */
  fa_backend backend;
  fa_dtype dtype;          /* element type of the rows (2 bytes) */
  int64_t row_elems;       /* contiguous elements per row (heads * head_dim), multiple of 8, >= 8 */
  const void *src;         /* 16-byte aligned; must not overlap dst */
  int64_t src_row_stride;  /* elements; 0 = row_elems; else >= row_elems, multiple of 8 */
  void *dst;               /* 16-byte aligned */
  int64_t dst_row_stride;  /* elements; 0 = row_elems; else >= row_elems, multiple of 8 */
  const int64_t *indices;  /* from fa_unpad_info: distinct, in [0, padded_rows) */
  const int32_t *count;    /* the number of valid indices, read where it lives (&cu_seqlens[batch]) */
  int64_t padded_rows;     /* rows of the padded side (batch * seqlen), in [1, 2^31) */
  fa_stream_t stream;
} fa_rows_params;

#define FA_ROWS_PARAMS_SIZE_V0_2 88
/* Defaults: struct_size set, CUDA, bf16, everything else 0. */
fa_rows_params fa_rows_params_default(void);

/* Gather: dst[i] = src[indices[i]] for i < *count (dst: packed, src: padded).
 * Rows of dst from *count to padded_rows are left untouched.
 * Bad *count or indices (they live on the device, unchecked by the host):
 * the CPU backend rejects them with FA_ERR_INVALID_SEQLENS; the CUDA kernels
 * clamp *count into [0, padded_rows] and skip out-of-range indices, so
 * nothing is read or written out of bounds. */
fa_status fa_unpad_rows(const fa_rows_params *params, fa_message *message);
/* Scatter: dst[indices[i]] = src[i] for i < *count (dst: padded, src: packed);
 * every other of the padded_rows rows of dst is set to zero. */
fa_status fa_pad_rows(const fa_rows_params *params, fa_message *message);

typedef struct fa_position_ids_params {
  uint32_t struct_size; /* set by fa_position_ids_params_default() */
  fa_backend backend;
  const void *position_ids; /* [total]: 0, 1, 2, ... restarting at 0 where a sequence starts */
  fa_int_dtype dtype;       /* FA_INT32 or FA_INT64 */
  int64_t total;            /* >= 1, < 2^31 */
  int32_t *cu_seqlens;      /* out [total + 1]: sequence starts, then total; entries after
                               the last sequence are also total (empty sequences), so any
                               batch bound up to `total` may be passed to fa_fwd */
  int32_t *num_seqs;        /* out [1] */
  int32_t *max_seqlen;      /* out [1] */
  fa_stream_t stream;
} fa_position_ids_params;

#define FA_POSITION_IDS_PARAMS_SIZE_V0_2 64
/* Defaults: struct_size set, CUDA, dtype FA_INT64, everything else 0. */
fa_position_ids_params fa_position_ids_params_default(void);

/* cu_seqlens of packed sequences from their position ids: token 0 and every
 * token whose position id is 0 start a sequence. */
fa_status fa_seqlens_from_position_ids(const fa_position_ids_params *params, fa_message *message);

/* Copy `bytes` from backend memory to the host, waiting for `stream` (CUDA)
 * first: the explicit synchronization point for callers who need
 * max_seqlen or num_seqs on the host. CPU backend: a plain copy.
 * 0 bytes is valid (pointers must still be non-NULL; CUDA still waits);
 * host_dst must be host memory (device memory: FA_ERR_INVALID_POINTER). */
fa_status fa_copy_to_host(fa_backend backend, void *host_dst, const void *src, size_t bytes, fa_stream_t stream,
                          fa_message *message);

/* ---------------------------------------------------------------- kernel table */

typedef struct fa_kernel_info {
  uint32_t struct_size;    /* set by the caller: sizeof(fa_kernel_info) (FA_KERNEL_INFO_INIT) */
  const char *name;        /* e.g. "fwd_mma_sm90_hdim128_bf16_causal", "fwd_cpu_hdim80_fp16_local" */
  const char *family;      /* kernel family: "mma" (mma.sync), "cpu", ... */
  const char *description; /* what the family does and this kernel's tile, one line */
  const char *arch_name;   /* build target: "sm_80", "sm_90", "sm_90a"; "" for the CPU */
  fa_backend backend;
  int32_t arch;            /* compute capability x10 of arch_name (90 for sm_90a); 0 for the CPU */
  int32_t head_dim;
  fa_dtype dtype;
  fa_mask mask;            /* the window it computes: "local" kernels compute any window */
  int32_t priority;        /* dispatch prefers higher priorities (among kernels that support a call) */
  int32_t block_m;         /* query rows per tile (thread block on CUDA) */
  int32_t block_n;         /* key rows per step */
  int32_t threads;         /* threads per block (CPU: 1) */
  size_t smem_bytes;       /* dynamic shared memory per block (CPU: 0) */
} fa_kernel_info;

#define FA_KERNEL_INFO_SIZE_V0_2 88
#define FA_KERNEL_INFO_INIT {.struct_size = sizeof(fa_kernel_info)}

/* Number of kernels compiled into the library. */
size_t fa_kernel_count(void);
/* Describe kernel `index` (< fa_kernel_count()) into *info, whose
 * struct_size the caller sets: fa_kernel_info info = FA_KERNEL_INFO_INIT; */
fa_status fa_kernel_info_get(size_t index, fa_kernel_info *info);

#ifdef __cplusplus
}
#endif

#endif /* FLASHATTN_H */
