/*
 * helpers.c - the mask helpers of the transformers path (flashattn.h,
 * "padding masks, packed ids"): argument checks, the CPU backend, and the
 * dispatch to the CUDA kernels (cuda/helpers.cu).
 *
 * Order of work in every call, as in api.c: the checks that need no device
 * (params, backend, dtypes, shapes, NULL pointers, strides, sizes,
 * alignment), then the device checks (device present, pointers device
 * memory), then, on the CPU backend, the checks of the device-resident
 * values it can read (count, indices), and only then any write. A failed
 * check returns its status and a message naming the field, having written
 * nothing.
 *
 * No call here allocates, prints or keeps state; the CUDA paths never wait
 * except fa_copy_to_host, the explicit synchronization point.
 */
#include <string.h>

#include <cuda_runtime_api.h>

#include "common.h"
#include "cuda/helpers.h"

/* Bound on any element offset of a row buffer (as FA_MAX_OFFSET in api.c):
 * row * stride arithmetic in the kernels cannot overflow int64. */
#define FA_HELPERS_MAX_SPAN (INT64_C(1) << 60)

/* ------------------------------------------------------------ shared checks */

static fa_status check_backend(fa_backend backend, fa_message *message) {
  if (backend != FA_BACKEND_CUDA && backend != FA_BACKEND_CPU)
    return fa_fail(message, FA_ERR_INVALID_BACKEND, "backend %d is not FA_BACKEND_CUDA (1) or FA_BACKEND_CPU (2)",
                   (int)backend);
  return FA_OK;
}

/* Bytes per element of a mask / position-id dtype; 0 if not one of them. */
static size_t int_dtype_size(fa_int_dtype dtype) {
  switch (dtype) {
    case FA_INT_BOOL: return 1;
    case FA_INT32: return 4;
    case FA_INT64: return 8;
  }
  return 0;
}

/* One pointer argument: present, and aligned to `align` bytes. */
typedef struct ptr_arg {
  const char *name;
  const void *ptr;
  size_t align;
  const char *why; /* what the alignment is for, in the message */
} ptr_arg;

static fa_status check_ptr_args(const ptr_arg *args, size_t n, fa_message *message) {
  for (size_t i = 0; i < n; ++i)
    if (args[i].ptr == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "%s is NULL", args[i].name);
  for (size_t i = 0; i < n; ++i)
    if (((uintptr_t)args[i].ptr % args[i].align) != 0)
      return fa_fail(message, FA_ERR_MISALIGNED, "%s (%p) must be %zu-byte aligned (%s)", args[i].name, args[i].ptr,
                     args[i].align, args[i].why);
  return FA_OK;
}

/* CUDA backend: a usable device, and every pointer device memory of it
 * (a host pointer would fault the whole CUDA context). */
static fa_status check_device_args(fa_backend backend, const ptr_arg *args, size_t n, fa_message *message) {
  if (backend != FA_BACKEND_CUDA) return FA_OK;
  fa_device_info dev;
  fa_status st = fa_query_device(&dev, message);
  for (size_t i = 0; i < n && st == FA_OK; ++i) st = fa_check_device_pointer(args[i].ptr, args[i].name, &dev, message);
  return st;
}

static fa_status launched(int err, const char *what, fa_message *message) {
  if (err != 0)
    return fa_fail(message, FA_ERR_CUDA, "launching the %s kernels failed: %s", what,
                   cudaGetErrorString((cudaError_t)err));
  return FA_OK;
}

/* ------------------------------------------------------------ struct layouts */

/* The sizes of each parameter struct this library accepts (flashattn.h,
 * "structs that grow"): one per released layout, ascending. */
_Static_assert(sizeof(void *) != 8 || (sizeof(fa_unpad_info_params) == FA_UNPAD_INFO_PARAMS_SIZE_V0_2 &&
                                       sizeof(fa_rows_params) == FA_ROWS_PARAMS_SIZE_V0_2 &&
                                       sizeof(fa_position_ids_params) == FA_POSITION_IDS_PARAMS_SIZE_V0_2),
               "a helper params struct changed: append fields only and list the new size below");
static const uint32_t UNPAD_INFO_SIZES[] = {(uint32_t)sizeof(fa_unpad_info_params)};
static const uint32_t ROWS_SIZES[] = {(uint32_t)sizeof(fa_rows_params)};
static const uint32_t POSITION_IDS_SIZES[] = {(uint32_t)sizeof(fa_position_ids_params)};
#define N_SIZES(a) (sizeof(a) / sizeof((a)[0]))

fa_unpad_info_params fa_unpad_info_params_default(void) {
  fa_unpad_info_params p;
  memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.backend = FA_BACKEND_CUDA;
  p.mask_dtype = FA_INT_BOOL;
  return p;
}

fa_rows_params fa_rows_params_default(void) {
  fa_rows_params p;
  memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.backend = FA_BACKEND_CUDA;
  p.dtype = FA_DTYPE_BF16;
  return p;
}

fa_position_ids_params fa_position_ids_params_default(void) {
  fa_position_ids_params p;
  memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.backend = FA_BACKEND_CUDA;
  p.dtype = FA_INT64;
  return p;
}

/* ------------------------------------------------------------ fa_unpad_info */

/* Whether mask element i (of a checked dtype) is nonzero. */
static int mask_keeps(const void *mask, fa_int_dtype dtype, int64_t i) {
  switch (dtype) {
    case FA_INT_BOOL: return ((const unsigned char *)mask)[i] != 0;
    case FA_INT32: return ((const int32_t *)mask)[i] != 0;
    case FA_INT64: return ((const int64_t *)mask)[i] != 0;
  }
  return 0;
}

static void unpad_info_cpu(const fa_unpad_info_params *p) {
  const int64_t n = (int64_t)p->batch * p->seqlen;
  int64_t total = 0;
  int32_t longest = 0;
  p->cu_seqlens[0] = 0;
  for (int32_t b = 0; b < p->batch; ++b) {
    const int64_t row_start = total;
    for (int64_t flat = (int64_t)b * p->seqlen; flat < (int64_t)(b + 1) * p->seqlen; ++flat)
      if (mask_keeps(p->attention_mask, p->mask_dtype, flat)) p->indices[total++] = flat;
    p->cu_seqlens[b + 1] = (int32_t)total; /* total <= batch * seqlen < 2^31 */
    if (total - row_start > longest) longest = (int32_t)(total - row_start);
  }
  for (int64_t i = total; i < n; ++i) p->indices[i] = -1;
  *p->max_seqlen = longest;
}

fa_status fa_unpad_info(const fa_unpad_info_params *params, fa_message *message) {
  fa_clear_message(message);
  fa_unpad_info_params local = fa_unpad_info_params_default();
  fa_status st = fa_read_struct(params, &local, UNPAD_INFO_SIZES, N_SIZES(UNPAD_INFO_SIZES), "params", message);
  if (st != FA_OK) return st;
  const fa_unpad_info_params *p = &local;
  st = check_backend(p->backend, message);
  if (st != FA_OK) return st;
  const size_t mask_size = int_dtype_size(p->mask_dtype);
  if (mask_size == 0)
    return fa_fail(message, FA_ERR_UNSUPPORTED_DTYPE,
                   "mask_dtype %d is not FA_INT_BOOL (1), FA_INT32 (2) or FA_INT64 (3)", (int)p->mask_dtype);
  if (p->batch < 1) return fa_fail(message, FA_ERR_INVALID_SHAPE, "batch is %d; it must be >= 1", p->batch);
  if (p->seqlen < 1) return fa_fail(message, FA_ERR_INVALID_SHAPE, "seqlen is %d; it must be >= 1", p->seqlen);
  if ((int64_t)p->batch * p->seqlen > INT32_MAX)
    return fa_fail(message, FA_ERR_INVALID_SHAPE,
                   "batch * seqlen = %d * %d = %lld tokens; it must be < 2^31 (cu_seqlens and the indices it "
                   "counts are int32): split the batch",
                   p->batch, p->seqlen, (long long)p->batch * p->seqlen);
  const ptr_arg args[] = {
      {"attention_mask", p->attention_mask, mask_size, "its element size"},
      {"indices", p->indices, 8, "int64"},
      {"cu_seqlens", p->cu_seqlens, 4, "int32"},
      {"max_seqlen", p->max_seqlen, 4, "int32"},
  };
  const size_t n_args = sizeof args / sizeof args[0];
  if ((st = check_ptr_args(args, n_args, message)) != FA_OK) return st;
  if ((st = check_device_args(p->backend, args, n_args, message)) != FA_OK) return st;
  if (p->backend == FA_BACKEND_CPU) {
    unpad_info_cpu(p);
    return FA_OK;
  }
  return launched(fa_cuda_unpad_info(p->attention_mask, p->mask_dtype, p->batch, p->seqlen, p->indices,
                                     p->cu_seqlens, p->max_seqlen, p->stream),
                  "unpad_info", message);
}

/* ------------------------------------------------------------ fa_unpad_rows, fa_pad_rows */

typedef struct rows_layout {
  int64_t src_stride, dst_stride; /* resolved (0 -> row_elems) */
} rows_layout;

static fa_status check_row_stride(const char *name, int64_t given, int64_t row_elems, int64_t padded_rows,
                                  int64_t *resolved, fa_message *message) {
  const int64_t stride = given != 0 ? given : row_elems;
  if (stride < row_elems)
    return fa_fail(message, FA_ERR_INVALID_STRIDE,
                   "%s_row_stride is %lld; it must be 0 (packed) or >= row_elems (%lld), so rows do not overlap",
                   name, (long long)given, (long long)row_elems);
  if (stride % 8 != 0)
    return fa_fail(message, FA_ERR_INVALID_STRIDE,
                   "%s_row_stride is %lld elements; it must be a multiple of 8 (16-byte rows)", name,
                   (long long)given);
  if ((double)(padded_rows - 1) * (double)stride + (double)row_elems > (double)FA_HELPERS_MAX_SPAN)
    return fa_fail(message, FA_ERR_OVERFLOW,
                   "%s spans more than 2^60 elements (padded_rows %lld, %s_row_stride %lld)", name,
                   (long long)padded_rows, name, (long long)stride);
  *resolved = stride;
  return FA_OK;
}

/* Everything but the contents of count and indices; *p receives the
 * caller's struct in this library's layout. */
static fa_status check_rows(const fa_rows_params *params, fa_rows_params *p, rows_layout *layout,
                            fa_message *message) {
  *p = fa_rows_params_default();
  fa_status st = fa_read_struct(params, p, ROWS_SIZES, N_SIZES(ROWS_SIZES), "params", message);
  if (st != FA_OK) return st;
  st = check_backend(p->backend, message);
  if (st != FA_OK) return st;
  if (p->dtype != FA_DTYPE_FP16 && p->dtype != FA_DTYPE_BF16)
    return fa_fail(message, FA_ERR_UNSUPPORTED_DTYPE, "dtype %d is not FA_DTYPE_FP16 (1) or FA_DTYPE_BF16 (2)",
                   (int)p->dtype);
  if (p->row_elems < 8 || p->row_elems % 8 != 0)
    return fa_fail(message, FA_ERR_INVALID_SHAPE,
                   "row_elems is %lld; it must be a positive multiple of 8 (rows are copied as 16-byte vectors)",
                   (long long)p->row_elems);
  if (p->padded_rows < 1 || p->padded_rows > INT32_MAX)
    return fa_fail(message, FA_ERR_INVALID_SHAPE,
                   "padded_rows is %lld; it must be in [1, 2^31) (batch * seqlen of fa_unpad_info)",
                   (long long)p->padded_rows);
  const ptr_arg args[] = {
      {"src", p->src, 16, "16-byte vector copies"},
      {"dst", p->dst, 16, "16-byte vector copies"},
      {"indices", p->indices, 8, "int64"},
      {"count", p->count, 4, "int32"},
  };
  const size_t n_args = sizeof args / sizeof args[0];
  for (size_t i = 0; i < n_args; ++i)
    if (args[i].ptr == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "%s is NULL", args[i].name);
  if ((st = check_row_stride("src", p->src_row_stride, p->row_elems, p->padded_rows, &layout->src_stride,
                             message)) != FA_OK ||
      (st = check_row_stride("dst", p->dst_row_stride, p->row_elems, p->padded_rows, &layout->dst_stride,
                             message)) != FA_OK)
    return st;
  if ((st = check_ptr_args(args, n_args, message)) != FA_OK) return st;
  return check_device_args(p->backend, args, n_args, message);
}

/* CPU backend: count and indices are host memory, so check them fully
 * (the CUDA kernels clamp them instead). */
static fa_status check_host_indices(const fa_rows_params *p, fa_message *message) {
  const int32_t count = *p->count;
  if (count < 0 || count > p->padded_rows)
    return fa_fail(message, FA_ERR_INVALID_SEQLENS, "*count is %d; it must be in [0, padded_rows = %lld]", count,
                   (long long)p->padded_rows);
  for (int32_t i = 0; i < count; ++i)
    if (p->indices[i] < 0 || p->indices[i] >= p->padded_rows)
      return fa_fail(message, FA_ERR_INVALID_SEQLENS, "indices[%d] = %lld is outside [0, padded_rows = %lld)", i,
                     (long long)p->indices[i], (long long)p->padded_rows);
  return FA_OK;
}

/* Elements are 2 bytes whatever the dtype: rows are copied as bytes. */
static unsigned char *row_at(void *base, int64_t row, int64_t stride) {
  return (unsigned char *)base + (size_t)(row * stride) * 2u;
}

static const unsigned char *const_row_at(const void *base, int64_t row, int64_t stride) {
  return (const unsigned char *)base + (size_t)(row * stride) * 2u;
}

fa_status fa_unpad_rows(const fa_rows_params *params, fa_message *message) {
  fa_clear_message(message);
  rows_layout layout;
  fa_rows_params local;
  fa_status st = check_rows(params, &local, &layout, message);
  if (st != FA_OK) return st;
  const fa_rows_params *p = &local;
  if (p->backend == FA_BACKEND_CUDA)
    return launched(fa_cuda_gather_rows(p->src, layout.src_stride, p->dst, layout.dst_stride, p->row_elems,
                                        p->indices, p->count, p->padded_rows, p->stream),
                    "unpad_rows", message);
  if ((st = check_host_indices(p, message)) != FA_OK) return st;
  const size_t row_bytes = (size_t)p->row_elems * 2u;
  for (int32_t i = 0; i < *p->count; ++i) /* memmove: an in-place gather (dst == src) is well defined here */
    memmove(row_at(p->dst, i, layout.dst_stride), const_row_at(p->src, p->indices[i], layout.src_stride),
            row_bytes);
  return FA_OK;
}

fa_status fa_pad_rows(const fa_rows_params *params, fa_message *message) {
  fa_clear_message(message);
  rows_layout layout;
  fa_rows_params local;
  fa_status st = check_rows(params, &local, &layout, message);
  if (st != FA_OK) return st;
  const fa_rows_params *p = &local;
  if (p->backend == FA_BACKEND_CUDA)
    return launched(fa_cuda_scatter_rows(p->src, layout.src_stride, p->dst, layout.dst_stride, p->row_elems,
                                         p->indices, p->count, p->padded_rows, p->stream),
                    "pad_rows", message);
  if ((st = check_host_indices(p, message)) != FA_OK) return st;
  const size_t row_bytes = (size_t)p->row_elems * 2u;
  for (int64_t r = 0; r < p->padded_rows; ++r) memset(row_at(p->dst, r, layout.dst_stride), 0, row_bytes);
  for (int32_t i = 0; i < *p->count; ++i)
    memcpy(row_at(p->dst, p->indices[i], layout.dst_stride), const_row_at(p->src, i, layout.src_stride), row_bytes);
  return FA_OK;
}

/* ------------------------------------------------------------ fa_seqlens_from_position_ids */

static int starts_sequence(const void *position_ids, fa_int_dtype dtype, int64_t i) {
  if (i == 0) return 1;
  return dtype == FA_INT64 ? ((const int64_t *)position_ids)[i] == 0 : ((const int32_t *)position_ids)[i] == 0;
}

static void seqlens_from_position_ids_cpu(const fa_position_ids_params *p) {
  const int32_t total = (int32_t)p->total;
  int32_t n = 0, longest = 0;
  for (int32_t i = 0; i < total; ++i)
    if (starts_sequence(p->position_ids, p->dtype, i)) p->cu_seqlens[n++] = i;
  for (int32_t j = n; j <= total; ++j) p->cu_seqlens[j] = total;
  for (int32_t j = 0; j < n; ++j)
    if (p->cu_seqlens[j + 1] - p->cu_seqlens[j] > longest) longest = p->cu_seqlens[j + 1] - p->cu_seqlens[j];
  *p->num_seqs = n;
  *p->max_seqlen = longest;
}

fa_status fa_seqlens_from_position_ids(const fa_position_ids_params *params, fa_message *message) {
  fa_clear_message(message);
  fa_position_ids_params local = fa_position_ids_params_default();
  fa_status st = fa_read_struct(params, &local, POSITION_IDS_SIZES, N_SIZES(POSITION_IDS_SIZES), "params", message);
  if (st != FA_OK) return st;
  const fa_position_ids_params *p = &local;
  st = check_backend(p->backend, message);
  if (st != FA_OK) return st;
  if (p->dtype != FA_INT32 && p->dtype != FA_INT64)
    return fa_fail(message, FA_ERR_UNSUPPORTED_DTYPE,
                   "dtype %d is not FA_INT32 (2) or FA_INT64 (3) (position ids are integers; FA_INT_BOOL is for "
                   "masks)",
                   (int)p->dtype);
  if (p->total < 1 || p->total > INT32_MAX)
    return fa_fail(message, FA_ERR_INVALID_SHAPE,
                   "total is %lld; it must be in [1, 2^31) (cu_seqlens are int32)", (long long)p->total);
  const ptr_arg args[] = {
      {"position_ids", p->position_ids, int_dtype_size(p->dtype), "its element size"},
      {"cu_seqlens", p->cu_seqlens, 4, "int32"},
      {"num_seqs", p->num_seqs, 4, "int32"},
      {"max_seqlen", p->max_seqlen, 4, "int32"},
  };
  const size_t n_args = sizeof args / sizeof args[0];
  if ((st = check_ptr_args(args, n_args, message)) != FA_OK) return st;
  if ((st = check_device_args(p->backend, args, n_args, message)) != FA_OK) return st;
  if (p->backend == FA_BACKEND_CPU) {
    seqlens_from_position_ids_cpu(p);
    return FA_OK;
  }
  return launched(fa_cuda_seqlens_from_position_ids(p->position_ids, p->dtype == FA_INT64, (int32_t)p->total,
                                                    p->cu_seqlens, p->num_seqs, p->max_seqlen, p->stream),
                  "seqlens_from_position_ids", message);
}

/* ------------------------------------------------------------ fa_copy_to_host */

/* host_dst must not be device memory: the copy is device-to-host. Pageable,
 * pinned and managed memory all pass. */
static fa_status check_host_pointer(void *host_dst, fa_message *message) {
  struct cudaPointerAttributes attr;
  if (cudaPointerGetAttributes(&attr, host_dst) != cudaSuccess) {
    (void)cudaGetLastError(); /* older runtimes fail on plain host memory: not an error, and not sticky */
    return FA_OK;
  }
  if (attr.type == cudaMemoryTypeDevice)
    return fa_fail(message, FA_ERR_INVALID_POINTER,
                   "host_dst (%p) is device memory of device %d; fa_copy_to_host needs a host buffer", host_dst,
                   attr.device);
  return FA_OK;
}

fa_status fa_copy_to_host(fa_backend backend, void *host_dst, const void *src, size_t bytes, fa_stream_t stream,
                          fa_message *message) {
  fa_clear_message(message);
  fa_status st = check_backend(backend, message);
  if (st != FA_OK) return st;
  if (host_dst == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "host_dst is NULL");
  if (src == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "src is NULL");
  if (backend == FA_BACKEND_CPU) {
    if (bytes > 0) memmove(host_dst, src, bytes);
    return FA_OK;
  }
  fa_device_info dev;
  if ((st = fa_query_device(&dev, message)) != FA_OK) return st;
  if ((st = fa_check_device_pointer(src, "src", &dev, message)) != FA_OK) return st;
  if ((st = check_host_pointer(host_dst, message)) != FA_OK) return st;
  /* Zero bytes: nothing to copy, but still the documented wait. */
  cudaError_t e = bytes > 0 ? cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, (cudaStream_t)stream)
                            : cudaSuccess;
  if (e != cudaSuccess)
    return fa_fail(message, FA_ERR_CUDA, "cudaMemcpyAsync of %zu bytes from src failed: %s", bytes,
                   cudaGetErrorString(e));
  e = cudaStreamSynchronize((cudaStream_t)stream);
  if (e != cudaSuccess)
    return fa_fail(message, FA_ERR_CUDA,
                   "waiting for the stream failed: %s (an earlier asynchronous error on it, such as a failed "
                   "kernel, shows up here)",
                   cudaGetErrorString(e));
  return FA_OK;
}
