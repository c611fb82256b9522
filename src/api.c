/*
 * api.c - the forward entry points: read the caller's struct (whatever its
 * layout version), check the call, normalize it into fa_fwd_args, let
 * dispatch.c choose a kernel, check the workspace it needs, run it.
 *
 * Order of work in fa_fwd: every check that needs no device (shapes,
 * strides, alignment, sizes) first; then the device facts (from the
 * context, or queried) and the device checks (pointers device-accessible);
 * then the choice, whose families apply their own limits (grid size, query
 * length); then the workspace; then the launch. Nothing is written to
 * out/lse before all checks passed.
 */
#include <limits.h>
#include <stddef.h>
#include <math.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "common.h"
#include "cuda/kv_append.h"
#include "dispatch.h"

#define FA_LOG2E 1.4426950408889634

/* The layouts of fa_fwd_params this library accepts (flashattn.h, "structs
 * that grow"): one size per released version, ascending. */
_Static_assert(sizeof(void *) != 8 || (offsetof(fa_fwd_params, block_table) == FA_FWD_PARAMS_SIZE_V0_2 &&
                                       sizeof(fa_fwd_params) == FA_FWD_PARAMS_SIZE_V0_3),
               "fa_fwd_params changed: append fields only, and add the new size to FWD_PARAMS_SIZES");
_Static_assert(sizeof(void *) != 8 || sizeof(fa_kernel_info) == FA_KERNEL_INFO_SIZE_V0_2,
               "fa_kernel_info changed: append fields only, and add the new size to KERNEL_INFO_SIZES");
static const uint32_t FWD_PARAMS_SIZES[] = {(uint32_t)offsetof(fa_fwd_params, block_table),
                                            (uint32_t)sizeof(fa_fwd_params)};
static const uint32_t KERNEL_INFO_SIZES[] = {(uint32_t)sizeof(fa_kernel_info)};
_Static_assert(sizeof(void *) != 8 || (sizeof(fa_fwd_dispatch_info) == FA_FWD_DISPATCH_INFO_SIZE_V0_4 &&
                                       sizeof(fa_fwd_workspace_bounds) == FA_FWD_WORKSPACE_BOUNDS_SIZE_V0_4),
               "a 0.4 struct changed: append fields only, and add the new size to its SIZES list");
static const uint32_t DISPATCH_INFO_SIZES[] = {(uint32_t)sizeof(fa_fwd_dispatch_info)};
static const uint32_t WORKSPACE_BOUNDS_SIZES[] = {(uint32_t)sizeof(fa_fwd_workspace_bounds)};

fa_fwd_params fa_fwd_params_default(void) {
  fa_fwd_params p;
  memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.backend = FA_BACKEND_CUDA;
  p.dtype = FA_DTYPE_BF16;
  p.window_left = -1;
  p.window_right = -1;
  return p;
}

size_t fa_kernel_count(void) { return fa_kernel_table.size; }

fa_status fa_kernel_info_get(size_t index, fa_kernel_info *info) {
  if (info == NULL) return FA_ERR_NULL_POINTER;
  uint32_t size;
  memcpy(&size, info, sizeof size);
  size_t k = 0;
  while (k < sizeof KERNEL_INFO_SIZES / sizeof KERNEL_INFO_SIZES[0] && KERNEL_INFO_SIZES[k] != size) ++k;
  if (k == sizeof KERNEL_INFO_SIZES / sizeof KERNEL_INFO_SIZES[0]) return FA_ERR_STRUCT_SIZE;
  if (index >= fa_kernel_table.size) return FA_ERR_NO_KERNEL;
  /* The caller's layout may be older (smaller): copy what it has room for. */
  memcpy(info, &fa_kernel_table.entries[index].info, size);
  info->struct_size = size;
  return FA_OK;
}

/* ------------------------------------------------------------ checks without a device */

/* Bound on any element offset: leaves headroom so that offset + row * stride
 * arithmetic in kernels cannot overflow int64. */
#define FA_MAX_OFFSET (INT64_C(1) << 60)
/* Largest |scale|, softcap and |scale| / softcap accepted. */
#define FA_MAX_SCALE 1e30

typedef struct tensor_desc {
  const char *name;
  const void *ptr;
  int64_t batch_stride, row_stride, head_stride;
  int64_t batches, rows, heads; /* extents: batches is 1 in varlen mode */
} tensor_desc;

static fa_status check_tensor(const tensor_desc *t, int32_t head_dim, fa_message *message) {
  if (t->ptr == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "%s is NULL", t->name);
  if (((uintptr_t)t->ptr & 15u) != 0)
    return fa_fail(message, FA_ERR_MISALIGNED, "%s (%p) must be 16-byte aligned for 16-byte vector loads", t->name,
                   t->ptr);
  /* Row and head first: a bad row stride also makes the default batch stride bad. */
  const int64_t strides[3] = {t->row_stride, t->head_stride, t->batch_stride};
  const char *which[3] = {"row", "head", "batch"};
  for (int i = 0; i < 3; ++i) {
    if (strides[i] < 0)
      return fa_fail(message, FA_ERR_INVALID_STRIDE, "%s_%s_stride is %lld; strides must be >= 0", t->name, which[i],
                     (long long)strides[i]);
    if (strides[i] % 8 != 0)
      return fa_fail(message, FA_ERR_INVALID_STRIDE,
                     "%s_%s_stride is %lld elements; it must be a multiple of 8 (16-byte rows)", t->name, which[i],
                     (long long)strides[i]);
    if (strides[i] > FA_MAX_OFFSET)
      return fa_fail(message, FA_ERR_OVERFLOW, "%s_%s_stride %lld is too large (limit 2^60 elements)", t->name,
                     which[i], (long long)strides[i]);
  }
  /* Largest element offset touched: must fit comfortably in int64. */
  const double last = (double)(t->batches - 1) * (double)t->batch_stride +
                      (double)(t->rows > 0 ? t->rows - 1 : 0) * (double)t->row_stride +
                      (double)(t->heads - 1) * (double)t->head_stride + (double)head_dim;
  if (last > (double)FA_MAX_OFFSET)
    return fa_fail(message, FA_ERR_OVERFLOW, "%s spans more than 2^60 elements with these strides and shapes", t->name);
  return FA_OK;
}

static int64_t or_default(int64_t stride, int64_t packed) { return stride != 0 ? stride : packed; }

static int head_dim_generated(int32_t head_dim) {
  for (size_t i = 0; i < fa_kernel_table.size; ++i)
    if (fa_kernel_table.entries[i].info.head_dim == head_dim) return 1;
  return 0;
}

/* The kernel's kind (backend, dtype, heads, head dim): the checks a call
 * and a call's bounds share. `owner` prefixes the backend and dtype
 * messages ("" for a call, "bounds " for fa_fwd_workspace_bounds). */
static fa_status check_kind(int backend, int dtype, int32_t num_heads_q, int32_t num_heads_k, int32_t head_dim,
                            const char *owner, fa_message *message) {
  if (backend != FA_BACKEND_CUDA && backend != FA_BACKEND_CPU)
    return fa_fail(message, FA_ERR_INVALID_BACKEND, "%sbackend %d is not FA_BACKEND_CUDA (1) or FA_BACKEND_CPU (2)",
                   owner, backend);
  if (dtype != FA_DTYPE_FP16 && dtype != FA_DTYPE_BF16)
    return fa_fail(message, FA_ERR_UNSUPPORTED_DTYPE, "%sdtype %d is not FA_DTYPE_FP16 (1) or FA_DTYPE_BF16 (2)", owner,
                   dtype);
  if (num_heads_q < 1 || num_heads_k < 1)
    return fa_fail(message, FA_ERR_INVALID_SHAPE, "num_heads_q (%d) and num_heads_k (%d) must be >= 1", num_heads_q,
                   num_heads_k);
  if (num_heads_q % num_heads_k != 0)
    return fa_fail(message, FA_ERR_HEADS_NOT_DIVISIBLE,
                   "num_heads_q (%d) must be a multiple of num_heads_k (%d) for GQA/MQA", num_heads_q, num_heads_k);
  if (!head_dim_generated(head_dim))
    return fa_fail(message, FA_ERR_UNSUPPORTED_HEAD_DIM,
                   "head_dim %d is not generated; generated: %s. Add it to HEAD_DIMS in gen/spec.py and run ninja",
                   head_dim, fa_kernel_table.head_dims);
  return FA_OK;
}

/* Scalars and shapes that need no pointer. */
static fa_status check_scalars(const fa_fwd_params *p, fa_message *message) {
  fa_status st =
      check_kind((int)p->backend, (int)p->dtype, p->num_heads_q, p->num_heads_k, p->head_dim, "", message);
  if (st != FA_OK) return st;
  if (p->batch < 1) return fa_fail(message, FA_ERR_INVALID_SHAPE, "batch is %d; it must be >= 1", p->batch);
  if (p->max_seqlen_q < 0 || p->max_seqlen_k < 0)
    return fa_fail(message, FA_ERR_INVALID_SHAPE, "max_seqlen_q (%d) and max_seqlen_k (%d) must be >= 0",
                   p->max_seqlen_q, p->max_seqlen_k);
  if (p->window_left < -1 || p->window_right < -1)
    return fa_fail(message, FA_ERR_INVALID_WINDOW,
                   "window_left (%d) and window_right (%d) must be >= 0, or -1 for unbounded", p->window_left,
                   p->window_right);
  /* Bounds keep the derived fp32 constants (scale * log2 e, scale / softcap,
   * softcap * log2 e) finite: beyond them every output would be NaN. */
  if (!isfinite(p->scale) || fabsf(p->scale) > FA_MAX_SCALE)
    return fa_fail(message, FA_ERR_INVALID_SCALE,
                   "scale must be finite with |scale| <= 1e30 (0 selects 1/sqrt(head_dim))");
  if (!isfinite(p->softcap) || p->softcap < 0.f || p->softcap > FA_MAX_SCALE)
    return fa_fail(message, FA_ERR_INVALID_SOFTCAP, "softcap must be in [0, 1e30] (0 = off)");
  if (p->softcap > 0.f) {
    const double inner = (p->scale != 0.f ? fabs((double)p->scale) : 1.0 / sqrt((double)p->head_dim)) / p->softcap;
    if (inner > FA_MAX_SCALE)
      return fa_fail(message, FA_ERR_INVALID_SOFTCAP, "softcap %g is too small for scale: |scale| / softcap must be <= 1e30",
                     (double)p->softcap);
  }
  if (p->num_splits < 0 || p->num_splits > FA_MAX_SPLITS)
    return fa_fail(message, FA_ERR_INVALID_SHAPE,
                   "num_splits is %d; it must be 0 (chosen by the library), 1 (no split) or at most %d",
                   p->num_splits, FA_MAX_SPLITS);
  if ((p->launch_flags & ~FA_LAUNCH_NO_PDL) != 0)
    return fa_fail(message, FA_ERR_UNSUPPORTED,
                   "launch_flags is 0x%x; this library (%s) knows only FA_LAUNCH_NO_PDL (0x1): leave the other bits 0",
                   (unsigned)p->launch_flags, fa_version_string());
  return FA_OK;
}

/* The KV-cache fields (0.3): paging and append. */
static fa_status check_cache(const fa_fwd_params *p, fa_message *message) {
  const int append = p->k_new != NULL || p->v_new != NULL;
  if (append && (p->k_new == NULL || p->v_new == NULL))
    return fa_fail(message, FA_ERR_NULL_POINTER, "%s is NULL: an append needs both k_new and v_new",
                   p->k_new == NULL ? "k_new" : "v_new");
  if (append && p->seqused_k == NULL)
    return fa_fail(message, FA_ERR_NULL_POINTER,
                   "seqused_k is NULL: an append (k_new, v_new) needs each sequence's cache length before it");
  if (p->block_table == NULL) return FA_OK;
  if (p->page_size < 1 || p->max_pages_per_seq < 1 || p->num_pages < 1)
    return fa_fail(message, FA_ERR_INVALID_SHAPE,
                   "page_size (%d), max_pages_per_seq (%d) and num_pages (%lld) must be >= 1 with a block_table",
                   p->page_size, p->max_pages_per_seq, (long long)p->num_pages);
  if (p->block_table_stride != 0 && p->block_table_stride < p->max_pages_per_seq)
    return fa_fail(message, FA_ERR_INVALID_STRIDE,
                   "block_table_stride (%lld) must be 0 or >= max_pages_per_seq (%d)", (long long)p->block_table_stride,
                   p->max_pages_per_seq);
  if (p->seqused_k == NULL)
    return fa_fail(message, FA_ERR_NULL_POINTER, "seqused_k is NULL: a paged cache needs each sequence's length");
  if (p->cu_seqlens_k != NULL)
    return fa_fail(message, FA_ERR_INVALID_SHAPE,
                   "cu_seqlens_k must be NULL with a block_table (key positions come from the table)");
  const int64_t capacity = (int64_t)p->max_pages_per_seq * p->page_size;
  if (capacity > INT32_MAX)
    return fa_fail(message, FA_ERR_OVERFLOW, "max_pages_per_seq x page_size = %lld keys; the limit is 2^31 - 1",
                   (long long)capacity);
  if (p->max_seqlen_k > capacity)
    return fa_fail(message, FA_ERR_INVALID_SHAPE,
                   "the block table is too narrow: max_seqlen_k (%d) > max_pages_per_seq (%d) x page_size (%d)",
                   p->max_seqlen_k, p->max_pages_per_seq, p->page_size);
  if ((double)p->batch * (double)(p->block_table_stride ? p->block_table_stride : p->max_pages_per_seq) >
      (double)FA_MAX_OFFSET)
    return fa_fail(message, FA_ERR_OVERFLOW, "block_table spans more than 2^60 entries");
  return FA_OK;
}

/* Shapes, scalars and pointers; fills the normalized args. No device access. */
static fa_status check_and_normalize(const fa_fwd_params *p, int append_only, fa_fwd_args *a, fa_message *message) {
  fa_status st;
  if ((st = check_scalars(p, message)) != FA_OK || (st = check_cache(p, message)) != FA_OK) return st;
  if (append_only && p->k_new == NULL)
    return fa_fail(message, FA_ERR_NULL_POINTER, "k_new is NULL: fa_append_kv writes k_new and v_new into the cache");
  const int paged = p->block_table != NULL, append = p->k_new != NULL;
  const int varlen_q = p->cu_seqlens_q != NULL;
  /* Varlen: both tables, or (paged) cu_seqlens_q alone. */
  if (!paged && varlen_q != (p->cu_seqlens_k != NULL))
    return fa_fail(message, FA_ERR_NULL_POINTER,
                   "%s is NULL: give both cu_seqlens_q and cu_seqlens_k (varlen) or neither (dense)",
                   p->cu_seqlens_q == NULL ? "cu_seqlens_q" : "cu_seqlens_k");
  if (varlen_q && (p->total_q < 0 || p->total_k < 0))
    return fa_fail(message, FA_ERR_INVALID_SHAPE, "total_q (%lld) and total_k (%lld) must be >= 0",
                   (long long)p->total_q, (long long)p->total_k);

  memset(a, 0, sizeof *a);
  const int64_t d = p->head_dim, hq = p->num_heads_q, hk = p->num_heads_k;
  const int64_t sq = p->max_seqlen_q, sk = p->max_seqlen_k;
  a->total_q = varlen_q ? p->total_q : (int64_t)p->batch * sq;
  a->total_k = p->cu_seqlens_k != NULL ? p->total_k : (int64_t)p->batch * sk;

  /* q, k, v, out, then (append) k_new, v_new. Per tensor: the rows of one
   * "batch" (a sequence in dense mode, a page when paged, everything in
   * varlen mode) and the number of such batches. */
  enum { N_TENSORS = 6 };
  tensor_desc t[N_TENSORS] = {
      {"q", p->q, 0, or_default(p->q_row_stride, hq * d), or_default(p->q_head_stride, d), 1, 0, hq},
      {"k", p->k, 0, or_default(p->k_row_stride, hk * d), or_default(p->k_head_stride, d), 1, 0, hk},
      {"v", p->v, 0, or_default(p->v_row_stride, hk * d), or_default(p->v_head_stride, d), 1, 0, hk},
      {"out", p->out, 0, or_default(p->out_row_stride, hq * d), or_default(p->out_head_stride, d), 1, 0, hq},
      {"k_new", p->k_new, 0, or_default(p->k_new_row_stride, hk * d), or_default(p->k_new_head_stride, d), 1, 0, hk},
      {"v_new", p->v_new, 0, or_default(p->v_new_row_stride, hk * d), or_default(p->v_new_head_stride, d), 1, 0, hk},
  };
  const int64_t batch_given[N_TENSORS] = {p->q_batch_stride,   p->k_batch_stride,     p->v_batch_stride,
                                          p->out_batch_stride, p->k_new_batch_stride, p->v_new_batch_stride};
  const int n_tensors = append ? 6 : 4;
  for (int i = 0; i < n_tensors; ++i) {
    const int is_kv = i == 1 || i == 2;
    if (append_only && (i == 0 || i == 3)) continue; /* q and out are not used */
    int64_t batches = 1, rows;
    if (is_kv && paged) {
      batches = p->num_pages, rows = p->page_size;
    } else if (is_kv) {
      rows = p->cu_seqlens_k != NULL ? a->total_k : sk;
      batches = p->cu_seqlens_k != NULL ? 1 : p->batch;
    } else {
      rows = varlen_q ? a->total_q : sq;
      batches = varlen_q ? 1 : p->batch;
    }
    t[i].rows = rows;
    const int varlen_rows = is_kv ? (!paged && p->cu_seqlens_k != NULL) : varlen_q;
    if (varlen_rows) {
      if (batch_given[i] != 0)
        return fa_fail(message, FA_ERR_INVALID_STRIDE,
                       "%s_batch_stride is %lld but this is a varlen call (cu_seqlens set): leave it 0", t[i].name,
                       (long long)batch_given[i]);
    } else {
      t[i].batches = batches;
      if (batch_given[i] != 0) {
        t[i].batch_stride = batch_given[i];
      } else {
        /* The packed default rows * row_stride; an invalid row stride is
         * left for check_tensor to report (it checks the row stride first). */
        const int64_t rs = t[i].row_stride;
        if (rs >= 0 && rs <= FA_MAX_OFFSET && (double)rows * (double)rs > (double)FA_MAX_OFFSET)
          return fa_fail(message, FA_ERR_OVERFLOW, "%s: %s x %s_row_stride spans more than 2^60 elements", t[i].name,
                         is_kv && paged ? "page_size" : "max_seqlen", t[i].name);
        t[i].batch_stride = rs >= 0 && rs <= FA_MAX_OFFSET ? rows * rs : 0;
      }
    }
    if ((st = check_tensor(&t[i], p->head_dim, message)) != FA_OK) return st;
  }
  const void *small[] = {p->lse, p->sinks, p->cu_seqlens_q, p->cu_seqlens_k, p->seqused_k, p->block_table};
  const char *small_names[] = {"lse", "sinks", "cu_seqlens_q", "cu_seqlens_k", "seqused_k", "block_table"};
  for (int i = 0; i < 6; ++i)
    if ((uintptr_t)small[i] & 3u)
      return fa_fail(message, FA_ERR_MISALIGNED, "%s (%p) must be 4-byte aligned", small_names[i], small[i]);
  if ((double)hq * (double)a->total_q > (double)FA_MAX_OFFSET)
    return fa_fail(message, FA_ERR_OVERFLOW, "lse would span more than 2^60 elements");

  a->q = p->q;
  a->k = p->k;
  a->v = p->v;
  a->out = p->out;
  a->lse = p->lse;
  a->sinks = p->sinks;
  a->cu_seqlens_q = p->cu_seqlens_q;
  a->cu_seqlens_k = p->cu_seqlens_k;
  a->seqused_k = p->seqused_k;
  a->q_batch_stride = t[0].batch_stride, a->q_row_stride = t[0].row_stride, a->q_head_stride = t[0].head_stride;
  a->k_batch_stride = t[1].batch_stride, a->k_row_stride = t[1].row_stride, a->k_head_stride = t[1].head_stride;
  a->v_batch_stride = t[2].batch_stride, a->v_row_stride = t[2].row_stride, a->v_head_stride = t[2].head_stride;
  a->out_batch_stride = t[3].batch_stride, a->out_row_stride = t[3].row_stride;
  a->out_head_stride = t[3].head_stride;
  /* lse: varlen [heads, total_q]; dense [batch, heads, seqlen_q]. */
  a->lse_head_stride = varlen_q ? a->total_q : sq;
  a->lse_batch_stride = varlen_q ? 0 : hq * sq;
  a->batch = p->batch;
  a->num_heads_q = p->num_heads_q;
  a->num_heads_k = p->num_heads_k;
  a->head_dim = p->head_dim;
  a->heads_per_kv = p->num_heads_q / p->num_heads_k;
  a->seqlen_q = p->max_seqlen_q;
  a->seqlen_k = p->max_seqlen_k;
  a->window_left = p->window_left;
  a->window_right = p->window_right;
  a->scale = p->scale != 0.f ? p->scale : (float)(1.0 / sqrt((double)p->head_dim));
  a->softcap = p->softcap;
  if (p->softcap > 0.f) {
    /* The softcapped score is already scaled: the softmax sees it with scale 1. */
    a->score_log2_scale = (float)FA_LOG2E;
    a->softcap_inner_scale = a->scale / p->softcap;
  } else {
    a->score_log2_scale = (float)(a->scale * FA_LOG2E);
    a->softcap_inner_scale = 0.f;
  }
  a->block_table = p->block_table;
  a->block_table_stride = paged ? or_default(p->block_table_stride, p->max_pages_per_seq) : 0;
  a->max_pages_per_seq = paged ? p->max_pages_per_seq : 0;
  a->page_size = paged ? p->page_size : 0;
  a->num_pages = paged ? p->num_pages : 0;
  a->kv_capacity = paged ? p->max_pages_per_seq * p->page_size : p->max_seqlen_k;
  a->append = append;
  a->k_new = p->k_new;
  a->v_new = p->v_new;
  if (append) {
    a->k_new_batch_stride = t[4].batch_stride, a->k_new_row_stride = t[4].row_stride;
    a->k_new_head_stride = t[4].head_stride;
    a->v_new_batch_stride = t[5].batch_stride, a->v_new_row_stride = t[5].row_stride;
    a->v_new_head_stride = t[5].head_stride;
  }
  a->num_splits = p->num_splits;
  a->programmatic = (p->launch_flags & FA_LAUNCH_NO_PDL) == 0;
  a->splits = 0; /* planned by the chosen family (fa_family.plan); 0 = not yet */
  a->split_slots = 0, a->split_block_smem = 0;
  a->pack_gqa_shift = 0;
  return FA_OK;
}

/* CPU backend: the sequence tables are host memory, so check them fully. */
static fa_status check_host_prefix_sums(const int32_t *cu, const char *name, char which, int64_t total,
                                        int32_t max_len, int32_t batch, fa_message *message) {
  if (cu[0] != 0) return fa_fail(message, FA_ERR_INVALID_SEQLENS, "%s[0] is %d; it must be 0", name, cu[0]);
  for (int32_t b = 0; b < batch; ++b) {
    const int64_t len = (int64_t)cu[b + 1] - cu[b];
    if (len < 0)
      return fa_fail(message, FA_ERR_INVALID_SEQLENS, "%s decreases at index %d (%d -> %d)", name, b + 1, cu[b],
                     cu[b + 1]);
    if (len > max_len)
      return fa_fail(message, FA_ERR_INVALID_SEQLENS, "sequence %d has length %lld > max_seqlen_%c (%d)", b,
                     (long long)len, which, max_len);
  }
  if (cu[batch] > total)
    return fa_fail(message, FA_ERR_INVALID_SEQLENS, "%s[batch] = %d exceeds total_%c = %lld", name, cu[batch], which,
                   (long long)total);
  return FA_OK;
}

static fa_status check_host_seqlens(const fa_fwd_params *p, fa_message *message) {
  fa_status st;
  if (p->cu_seqlens_q != NULL &&
      (st = check_host_prefix_sums(p->cu_seqlens_q, "cu_seqlens_q", 'q', p->total_q, p->max_seqlen_q, p->batch,
                                   message)) != FA_OK)
    return st;
  if (p->cu_seqlens_k != NULL &&
      (st = check_host_prefix_sums(p->cu_seqlens_k, "cu_seqlens_k", 'k', p->total_k, p->max_seqlen_k, p->batch,
                                   message)) != FA_OK)
    return st;
  if (p->seqused_k == NULL) return FA_OK;
  const int64_t bt_stride = p->block_table_stride ? p->block_table_stride : p->max_pages_per_seq;
  for (int32_t b = 0; b < p->batch; ++b) {
    /* What sequence b can hold, and what it uses (with this call's rows when appending). */
    const int64_t cap = p->cu_seqlens_k != NULL ? (int64_t)p->cu_seqlens_k[b + 1] - p->cu_seqlens_k[b]
                        : p->block_table != NULL ? (int64_t)p->max_pages_per_seq * p->page_size
                                                 : p->max_seqlen_k;
    const int64_t len_q = p->cu_seqlens_q != NULL ? (int64_t)p->cu_seqlens_q[b + 1] - p->cu_seqlens_q[b]
                                                  : p->max_seqlen_q;
    const int64_t used = (int64_t)p->seqused_k[b] + (p->k_new != NULL ? len_q : 0);
    if (p->seqused_k[b] < 0 || used > cap)
      return fa_fail(message, FA_ERR_INVALID_SEQLENS,
                     "seqused_k[%d] = %d%s is outside [0, %lld] (the keys sequence %d can hold)", b, p->seqused_k[b],
                     p->k_new != NULL ? " plus the appended rows" : "", (long long)cap, b);
    if (p->block_table != NULL) {
      if (used > p->max_seqlen_k)
        return fa_fail(message, FA_ERR_INVALID_SEQLENS, "sequence %d has %lld keys > max_seqlen_k (%d)", b,
                       (long long)used, p->max_seqlen_k);
      for (int64_t c = 0; c < (used + p->page_size - 1) / p->page_size; ++c) {
        const int32_t page = p->block_table[b * bt_stride + c];
        if (page < 0 || page >= p->num_pages)
          return fa_fail(message, FA_ERR_INVALID_SEQLENS,
                         "block_table[%d][%lld] = %d is not a page of the pool [0, %lld)", b, (long long)c, page,
                         (long long)p->num_pages);
      }
    }
  }
  return FA_OK;
}

/* ------------------------------------------------------------ device checks */

static fa_status check_device_pointers(const fa_fwd_params *p, const fa_device_info *dev, fa_message *message) {
  const void *ptrs[] = {p->q,         p->k,           p->v,           p->out,      p->lse,
                        p->sinks,     p->cu_seqlens_q, p->cu_seqlens_k, p->seqused_k, p->workspace,
                        p->block_table, p->k_new,       p->v_new};
  const char *names[] = {"q",           "k",            "v",            "out",       "lse",
                         "sinks",       "cu_seqlens_q", "cu_seqlens_k", "seqused_k", "workspace",
                         "block_table", "k_new",        "v_new"};
  for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; ++i) {
    const fa_status st = fa_check_device_pointer(ptrs[i], names[i], dev, message);
    if (st != FA_OK) return st;
  }
  return FA_OK;
}

/* ------------------------------------------------------------ entry points */

typedef struct prepared_call {
  fa_fwd_params p; /* the caller's struct in this library's layout */
  fa_fwd_args args;
  fa_device_info dev;
} prepared_call;

/* The workspace pointer and size, before any kernel is chosen. */
static fa_status check_workspace_pointer(const fa_fwd_params *p, fa_message *message) {
  if (p->workspace == NULL && p->workspace_bytes != 0)
    return fa_fail(message, FA_ERR_NULL_POINTER, "workspace is NULL but workspace_bytes is %zu", p->workspace_bytes);
  if (((uintptr_t)p->workspace & 255u) != 0)
    return fa_fail(message, FA_ERR_MISALIGNED, "workspace (%p) must be 256-byte aligned", p->workspace);
  return FA_OK;
}

/* Everything up to (not including) the kernel choice. */
static fa_status prepare(const fa_fwd_params *given, int append_only, prepared_call *call, fa_message *message) {
  call->p = fa_fwd_params_default();
  fa_status st = fa_read_struct(given, &call->p, FWD_PARAMS_SIZES, sizeof FWD_PARAMS_SIZES / sizeof FWD_PARAMS_SIZES[0],
                                "params", message);
  if (st != FA_OK) return st;
  const fa_fwd_params *p = &call->p;
  if ((st = check_and_normalize(p, append_only, &call->args, message)) != FA_OK) return st;
  if ((st = check_workspace_pointer(p, message)) != FA_OK) return st;
  if ((st = fa_call_device(p->backend, p->context, &call->dev, message)) != FA_OK) return st;
  call->args.sm_count = call->dev.sm_count;
  /* TMA (sm_90 and later): a call without a context looks the encoder up,
   * a driver symbol lookup (no allocation, no sync). */
  if (p->backend == FA_BACKEND_CUDA && call->dev.tensor_map_encode == NULL && call->dev.arch >= 90)
    call->dev.tensor_map_encode = fa_tensor_map_encoder();
  call->args.tensor_map_encode = call->dev.tensor_map_encode;
  call->args.workspace = p->workspace;
  call->args.workspace_bytes = p->workspace_bytes;
  if (p->backend == FA_BACKEND_CPU) return check_host_seqlens(p, message);
  return check_device_pointers(p, &call->dev, message);
}

static fa_status choose(const prepared_call *call, fa_choice *choice, fa_message *message) {
  return fa_choose_kernel_in(&fa_kernel_table, call->p.backend, &call->args, call->p.dtype, &call->dev, choice,
                             message);
}

/* One kernel's share of a call: its sequences (a pair splits them), its
 * plan (split count) and its part of the workspace. */
typedef struct launch_part {
  size_t index;
  fa_fwd_args args;
} launch_part;

static size_t round_up_256(size_t x) { return (x + 255) & ~(size_t)255; }

/* The parts of a call (1 or 2), planned, each with its workspace slice:
 * the first part's at the start, the second's after it (256-aligned).
 * *need receives the bytes both need. */
static int plan_parts(const prepared_call *call, fa_choice choice, launch_part parts[2], size_t *need) {
  const int n = choice.partner == SIZE_MAX ? 1 : 2;
  const size_t idx[2] = {choice.index, choice.partner};
  size_t offset = 0;
  for (int i = 0; i < n; ++i) {
    const fa_kernel_entry *e = &fa_kernel_table.entries[idx[i]];
    parts[i].index = idx[i];
    parts[i].args = fa_part_args(&fa_kernel_table, choice, i, &call->args);
    /* What this part may use of the caller's workspace. */
    const size_t have = call->args.workspace != NULL && call->args.workspace_bytes > offset
                            ? call->args.workspace_bytes - offset
                            : 0;
    parts[i].args.workspace = have > 0 ? (char *)call->args.workspace + offset : NULL;
    parts[i].args.workspace_bytes = have;
    if (e->family->plan != NULL) e->family->plan(&parts[i].args, &e->info, &call->dev);
    offset += round_up_256(e->family->workspace_bytes(&parts[i].args, &e->info, &call->dev));
  }
  *need = offset;
  return n;
}

/* The append step (k_new, v_new into the cache), before any kernel reads it. */
static fa_status append_rows(const prepared_call *call, fa_message *message) {
  if (!call->args.append) return FA_OK;
  if (call->p.backend == FA_BACKEND_CPU) {
    fa_cpu_append_kv(&call->args);
    return FA_OK;
  }
  const int err = fa_cuda_append_kv(&call->args, call->p.stream);
  if (err != 0)
    return fa_fail(message, FA_ERR_CUDA, "launching the append kernel failed: %s", cudaGetErrorString((cudaError_t)err));
  return FA_OK;
}

static fa_status run(const prepared_call *call, fa_choice choice, fa_message *message) {
  launch_part parts[2];
  size_t need = 0;
  const int n = plan_parts(call, choice, parts, &need);
  fa_status st;
  for (int i = 0; i < n; ++i)
    if ((st = fa_check_workspace(&fa_kernel_table.entries[parts[i].index], &parts[i].args, &call->dev, message)) !=
        FA_OK)
      return st;
  if ((st = append_rows(call, message)) != FA_OK) return st;
  for (int i = 0; i < n; ++i) {
    const fa_kernel_entry *k = &fa_kernel_table.entries[parts[i].index];
    const int err = k->launch(&parts[i].args, call->p.stream);
    if (err != 0)
      return fa_fail(message, FA_ERR_CUDA, "launching %s failed: %s", k->info.name,
                     cudaGetErrorString((cudaError_t)err));
  }
  return FA_OK;
}

fa_status fa_fwd_query(const fa_fwd_params *params, size_t *kernel_index, fa_message *message) {
  fa_clear_message(message);
  prepared_call call;
  fa_status st = prepare(params, 0, &call, message);
  if (st != FA_OK) return st;
  fa_choice choice;
  if ((st = choose(&call, &choice, message)) != FA_OK) return st;
  if (kernel_index != NULL) *kernel_index = choice.index;
  return FA_OK;
}

fa_status fa_fwd_query_dispatch(const fa_fwd_params *params, fa_fwd_dispatch_info *info, fa_message *message) {
  fa_clear_message(message);
  /* The caller's layout (an output, like fa_kernel_info), checked first. */
  if (info == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "info is NULL");
  uint32_t size;
  memcpy(&size, info, sizeof size);
  size_t known = 0;
  while (known < sizeof DISPATCH_INFO_SIZES / sizeof DISPATCH_INFO_SIZES[0] && DISPATCH_INFO_SIZES[known] != size)
    ++known;
  if (known == sizeof DISPATCH_INFO_SIZES / sizeof DISPATCH_INFO_SIZES[0])
    return fa_fail(message, FA_ERR_STRUCT_SIZE,
                   "info->struct_size is %u, not the size of any fa_fwd_dispatch_info layout this library (%s) knows "
                   "(%u): initialize it with FA_FWD_DISPATCH_INFO_INIT",
                   (unsigned)size, fa_version_string(), (unsigned)sizeof(fa_fwd_dispatch_info));
  prepared_call call;
  fa_status st = prepare(params, 0, &call, message);
  if (st != FA_OK) return st;
  fa_choice choice;
  if ((st = choose(&call, &choice, message)) != FA_OK) return st;
  launch_part parts[2];
  size_t need = 0;
  const int n = plan_parts(&call, choice, parts, &need); /* as fa_fwd plans, with the params' workspace */
  fa_fwd_dispatch_info local;
  memset(&local, 0, sizeof local);
  local.struct_size = size;
  local.num_kernels = n;
  local.kernel_index[0] = choice.index;
  local.kernel_index[1] = choice.partner; /* SIZE_MAX when alone */
  for (int i = 0; i < n; ++i) local.splits[i] = parts[i].args.splits > 0 ? parts[i].args.splits : 1;
  if (n == 2) {
    local.short_rows = parts[0].args.short_rows;
    local.short_seqlen_q = local.short_rows / call.args.heads_per_kv;
  }
  local.workspace_bytes = fa_choice_workspace_bytes(&fa_kernel_table, choice, &call.args, &call.dev);
  /* The caller's layout may be older (smaller): write what it has room for. */
  memcpy(info, &local, size);
  return FA_OK;
}

fa_status fa_fwd_workspace_size(const fa_fwd_params *params, size_t *bytes, fa_message *message) {
  fa_clear_message(message);
  if (bytes == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "bytes is NULL");
  prepared_call call;
  fa_status st = prepare(params, 0, &call, message);
  if (st != FA_OK) return st;
  fa_choice choice;
  if ((st = choose(&call, &choice, message)) != FA_OK) return st;
  /* What the families want, whatever workspace the params carry: the
   * parts' split counts as the heuristic wishes them (unplanned). */
  *bytes = fa_choice_workspace_bytes(&fa_kernel_table, choice, &call.args, &call.dev);
  return FA_OK;
}

fa_fwd_workspace_bounds fa_fwd_workspace_bounds_default(void) {
  fa_fwd_workspace_bounds b;
  memset(&b, 0, sizeof b);
  b.struct_size = sizeof b;
  b.backend = FA_BACKEND_CUDA;
  b.dtype = FA_DTYPE_BF16;
  return b;
}

/* The bounds as an args struct of upper bounds (dispatch.h,
 * fa_workspace_bound_in), after the checks a call within them passes. */
static fa_status check_bounds(const fa_fwd_workspace_bounds *b, fa_fwd_args *a, fa_message *message) {
  fa_status st =
      check_kind((int)b->backend, (int)b->dtype, b->num_heads_q, b->num_heads_k, b->head_dim, "bounds ", message);
  if (st != FA_OK) return st;
  if (b->max_batch < 1)
    return fa_fail(message, FA_ERR_INVALID_SHAPE, "max_batch is %d; it must be >= 1 (the largest batch of any call)",
                   b->max_batch);
  if (b->max_seqlen_q < 0 || b->max_seqlen_k < 0 || b->max_total_q < 0)
    return fa_fail(message, FA_ERR_INVALID_SHAPE, "max_seqlen_q (%d), max_seqlen_k (%d) and max_total_q (%lld) must be >= 0",
                   b->max_seqlen_q, b->max_seqlen_k, (long long)b->max_total_q);
  if (b->num_splits < 0 || b->num_splits > FA_MAX_SPLITS)
    return fa_fail(message, FA_ERR_INVALID_SHAPE,
                   "num_splits is %d; it must be 0 (calls pass any num_splits) or the largest num_splits of any call "
                   "(1 .. %d)",
                   b->num_splits, FA_MAX_SPLITS);
  /* Split partials are fp32 [splits][rows][heads_q][head_dim + 1] with
   * rows <= total_q: the most that could be asked for must fit in 64 bits
   * with room to spare. */
  if ((double)b->max_total_q * b->num_heads_q * (b->head_dim + 1) * 4.0 * FA_MAX_SPLITS > 0x1p62)
    return fa_fail(message, FA_ERR_OVERFLOW,
                   "max_total_q (%lld) x num_heads_q (%d) x head_dim (%d) is too large: split partials over that many "
                   "rows could not be addressed; lower max_total_q",
                   (long long)b->max_total_q, b->num_heads_q, b->head_dim);
  memset(a, 0, sizeof *a);
  a->batch = b->max_batch;
  a->num_heads_q = b->num_heads_q;
  a->num_heads_k = b->num_heads_k;
  a->head_dim = b->head_dim;
  a->heads_per_kv = b->num_heads_q / b->num_heads_k;
  a->total_q = b->max_total_q;
  a->seqlen_q = b->max_seqlen_q;
  a->seqlen_k = b->max_seqlen_k;
  a->window_left = -1, a->window_right = -1;
  a->num_splits = b->num_splits;
  return FA_OK;
}

fa_status fa_fwd_workspace_size_max(const fa_fwd_workspace_bounds *bounds, size_t *bytes, fa_message *message) {
  fa_clear_message(message);
  fa_fwd_workspace_bounds b = fa_fwd_workspace_bounds_default();
  fa_status st = fa_read_struct(bounds, &b, WORKSPACE_BOUNDS_SIZES,
                                sizeof WORKSPACE_BOUNDS_SIZES / sizeof WORKSPACE_BOUNDS_SIZES[0], "bounds", message);
  if (st != FA_OK) return st;
  if (bytes == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "bytes is NULL");
  fa_fwd_args a;
  if ((st = check_bounds(&b, &a, message)) != FA_OK) return st;
  fa_device_info dev;
  if ((st = fa_call_device(b.backend, b.context, &dev, message)) != FA_OK) return st;
  a.sm_count = dev.sm_count;
  *bytes = fa_workspace_bound_in(&fa_kernel_table, b.backend, &a, b.dtype, &dev);
  return FA_OK;
}

fa_status fa_fwd(const fa_fwd_params *params, fa_message *message) {
  fa_clear_message(message);
  prepared_call call;
  fa_status st = prepare(params, 0, &call, message);
  if (st != FA_OK) return st;
  fa_choice choice;
  if ((st = choose(&call, &choice, message)) != FA_OK) return st;
  return run(&call, choice, message);
}

/* A call for one forced kernel: the params' checks, then the kernel's. */
static fa_status prepare_forced(const fa_fwd_params *params, size_t kernel_index, prepared_call *call,
                                fa_message *message) {
  if (kernel_index >= fa_kernel_table.size)
    return fa_fail(message, FA_ERR_NO_KERNEL, "kernel_index %zu is out of range (the table has %zu kernels)",
                   kernel_index, fa_kernel_table.size);
  const fa_status st = prepare(params, 0, call, message);
  if (st != FA_OK) return st;
  return fa_check_forced_kernel_in(&fa_kernel_table, kernel_index, call->p.backend, &call->args, call->p.dtype,
                                   &call->dev, message);
}

fa_status fa_fwd_with_kernel(const fa_fwd_params *params, size_t kernel_index, fa_message *message) {
  fa_clear_message(message);
  prepared_call call;
  const fa_status st = prepare_forced(params, kernel_index, &call, message);
  if (st != FA_OK) return st;
  const fa_choice alone = {kernel_index, SIZE_MAX};
  return run(&call, alone, message);
}

fa_status fa_fwd_kernel_args(const fa_fwd_params *params, size_t kernel_index, fa_fwd_args *args,
                             fa_message *message) {
  fa_clear_message(message);
  if (args == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "args is NULL");
  prepared_call call;
  const fa_status st = prepare_forced(params, kernel_index, &call, message);
  if (st != FA_OK) return st;
  const fa_choice alone = {kernel_index, SIZE_MAX};
  launch_part parts[2];
  size_t need = 0;
  plan_parts(&call, alone, parts, &need);
  *args = parts[0].args;
  return FA_OK;
}

fa_status fa_fwd_workspace_size_with_kernel(const fa_fwd_params *params, size_t kernel_index, size_t *bytes,
                                            fa_message *message) {
  fa_clear_message(message);
  if (bytes == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "bytes is NULL");
  prepared_call call;
  const fa_status st = prepare_forced(params, kernel_index, &call, message);
  if (st != FA_OK) return st;
  const fa_choice alone = {kernel_index, SIZE_MAX};
  *bytes = fa_choice_workspace_bytes(&fa_kernel_table, alone, &call.args, &call.dev);
  return FA_OK;
}

fa_status fa_append_kv(const fa_fwd_params *params, fa_message *message) {
  fa_clear_message(message);
  prepared_call call;
  const fa_status st = prepare(params, 1, &call, message);
  if (st != FA_OK) return st;
  return append_rows(&call, message);
}
