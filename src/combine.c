/*
 * combine.c - fa_combine, the public merge of partial attention results
 * (checks, then combine.cu on the GPU or the loop below on the CPU), and
 * the CPU loop itself, which the CPU backend shares with nobody else: the
 * CPU family never splits. The per-row rule is attn/softmax.h's.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "attn/softmax.h"
#include "common.h"
#include "cuda/combine.h"
#include "fp_convert.h"

_Static_assert(sizeof(void *) != 8 || sizeof(fa_combine_params) == FA_COMBINE_PARAMS_SIZE_V0_3,
               "fa_combine_params changed: append fields only and list the new size below");
static const uint32_t COMBINE_SIZES[] = {(uint32_t)sizeof(fa_combine_params)};

#define FA_COMBINE_MAX_HEAD_DIM 512
#define FA_MAX_OFFSET (INT64_C(1) << 60)

fa_combine_params fa_combine_params_default(void) {
  fa_combine_params p;
  memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.backend = FA_BACKEND_CUDA;
  p.out_dtype = FA_DTYPE_BF16;
  return p;
}

void fa_cpu_combine(const fa_combine_job *j) {
  for (int32_t b = 0; b < j->batch; ++b) {
    const fa_combine_seq s = fa_combine_locate(j, b); /* the rows combine.cu merges */
    const int64_t q_start = s.q_start;
    for (int64_t i = 0; i < s.rows; ++i)
      for (int32_t h = 0; h < j->num_heads; ++h) {
        const fa_combine_parts at = fa_combine_parts_of(j, &s, b, i, h);
        if (at.n == 0) continue; /* the kernel wrote this row itself */
        const float *lse_row = j->lse_parts + at.lse_row;
        const float sink = j->sinks != NULL ? j->sinks[h] * FA_LOG2E_F : -INFINITY;
        const fa_merge m = fa_merge_parts(lse_row, at.lse_part_stride, at.n, sink);
        const int64_t out_at =
            (int64_t)b * j->out_batch_stride + (q_start + i) * j->out_row_stride + h * j->out_head_stride;
        for (int32_t d = 0; d < j->head_dim; ++d) {
          float acc = 0.f;
          for (int32_t p = 0; p < at.n; ++p) {
            const float l = lse_row[p * at.lse_part_stride];
            if (l == -INFINITY) continue; /* an empty part: its o is never read */
            acc += fa_merge_weight(&m, l) * j->o_parts[at.o_row + p * at.o_part_stride + d];
          }
          if (j->out_dtype == FA_DTYPE_FP32)
            ((float *)j->out)[out_at + d] = acc;
          else if (j->out_dtype == FA_DTYPE_BF16)
            ((uint16_t *)j->out)[out_at + d] = fa_float_to_bf16(acc);
          else
            ((uint16_t *)j->out)[out_at + d] = fa_float_to_fp16(acc);
        }
        if (j->lse != NULL) j->lse[(int64_t)b * j->lse_batch_stride + h * j->lse_head_stride + q_start + i] = m.lse;
      }
  }
}

/* A stride in elements: >= 0, a multiple of `multiple`, bounded. */
static fa_status check_stride(const char *name, int64_t stride, int multiple, fa_message *message) {
  if (stride < 0 || stride % multiple != 0)
    return fa_fail(message, FA_ERR_INVALID_STRIDE, "%s is %lld; it must be >= 0 and a multiple of %d elements", name,
                   (long long)stride, multiple);
  if (stride > FA_MAX_OFFSET) return fa_fail(message, FA_ERR_OVERFLOW, "%s %lld is too large", name, (long long)stride);
  return FA_OK;
}

fa_status fa_combine(const fa_combine_params *params, fa_message *message) {
  fa_clear_message(message);
  fa_combine_params p = fa_combine_params_default();
  fa_status st = fa_read_struct(params, &p, COMBINE_SIZES, 1, "params", message);
  if (st != FA_OK) return st;
  if (p.backend != FA_BACKEND_CUDA && p.backend != FA_BACKEND_CPU)
    return fa_fail(message, FA_ERR_INVALID_BACKEND, "backend %d is not FA_BACKEND_CUDA (1) or FA_BACKEND_CPU (2)",
                   (int)p.backend);
  if (p.out_dtype != FA_DTYPE_FP16 && p.out_dtype != FA_DTYPE_BF16 && p.out_dtype != FA_DTYPE_FP32)
    return fa_fail(message, FA_ERR_UNSUPPORTED_DTYPE, "out_dtype %d is not FA_DTYPE_FP16, FA_DTYPE_BF16 or FA_DTYPE_FP32",
                   (int)p.out_dtype);
  if (p.num_parts < 1 || p.num_parts > FA_MAX_SPLITS)
    return fa_fail(message, FA_ERR_INVALID_SHAPE, "num_parts is %d; it must be in [1, %d]", p.num_parts, FA_MAX_SPLITS);
  if (p.num_heads < 1 || p.num_rows < 0 || p.num_rows > INT32_MAX)
    return fa_fail(message, FA_ERR_INVALID_SHAPE, "num_heads (%d) must be >= 1 and num_rows (%lld) in [0, 2^31)",
                   p.num_heads, (long long)p.num_rows);
  if (p.head_dim < 8 || p.head_dim > FA_COMBINE_MAX_HEAD_DIM || p.head_dim % 8 != 0)
    return fa_fail(message, FA_ERR_UNSUPPORTED_HEAD_DIM, "head_dim is %d; fa_combine takes multiples of 8 up to %d",
                   p.head_dim, FA_COMBINE_MAX_HEAD_DIM);
  const void *need[] = {p.out_parts, p.lse_parts, p.out};
  const char *need_names[] = {"out_parts", "lse_parts", "out"};
  for (int i = 0; i < 3; ++i)
    if (need[i] == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "%s is NULL", need_names[i]);
  if (((uintptr_t)p.out_parts | (uintptr_t)p.out) & 15u)
    return fa_fail(message, FA_ERR_MISALIGNED, "out_parts (%p) and out (%p) must be 16-byte aligned",
                   (const void *)p.out_parts, p.out);
  const void *small[] = {p.lse_parts, p.sinks, p.lse};
  const char *small_names[] = {"lse_parts", "sinks", "lse"};
  for (int i = 0; i < 3; ++i)
    if ((uintptr_t)small[i] & 3u)
      return fa_fail(message, FA_ERR_MISALIGNED, "%s (%p) must be 4-byte aligned", small_names[i], small[i]);

  const int64_t d = p.head_dim, h = p.num_heads, rows = p.num_rows, out_multiple = p.out_dtype == FA_DTYPE_FP32 ? 4 : 8;
  /* The given strides first (0 = packed), so that the packed defaults below
   * are products of checked values. */
  const struct {
    const char *name;
    int64_t value;
    int multiple;
  } given[] = {{"out_parts_head_stride", p.out_parts_head_stride, 4}, {"out_parts_row_stride", p.out_parts_row_stride, 4},
               {"out_parts_part_stride", p.out_parts_part_stride, 4}, {"lse_parts_head_stride", p.lse_parts_head_stride, 1},
               {"lse_parts_part_stride", p.lse_parts_part_stride, 1}, {"out_head_stride", p.out_head_stride, out_multiple},
               {"out_row_stride", p.out_row_stride, out_multiple},    {"lse_head_stride", p.lse_head_stride, 1}};
  for (size_t i = 0; i < sizeof given / sizeof given[0]; ++i)
    if ((st = check_stride(given[i].name, given[i].value, given[i].multiple, message)) != FA_OK) return st;
  /* Packed defaults, each a product bounded before it is formed. */
  fa_combine_job j;
  memset(&j, 0, sizeof j);
  double o_head = (double)(p.out_parts_head_stride ? p.out_parts_head_stride : d);
  double o_row = p.out_parts_row_stride ? (double)p.out_parts_row_stride : (double)h * o_head;
  double o_part = p.out_parts_part_stride ? (double)p.out_parts_part_stride : (double)rows * o_row;
  double l_head = (double)(p.lse_parts_head_stride ? p.lse_parts_head_stride : rows);
  double l_part = p.lse_parts_part_stride ? (double)p.lse_parts_part_stride : (double)h * l_head;
  double out_head = (double)(p.out_head_stride ? p.out_head_stride : d);
  double out_row = p.out_row_stride ? (double)p.out_row_stride : (double)h * out_head;
  double lse_head = (double)(p.lse_head_stride ? p.lse_head_stride : rows);
  const double last_row = (double)(rows > 0 ? rows - 1 : 0);
  const double spans[4] = {
      (double)(p.num_parts - 1) * o_part + last_row * o_row + (double)(h - 1) * o_head + (double)d, /* out_parts */
      (double)(p.num_parts - 1) * l_part + (double)(h - 1) * l_head + last_row + 1,                  /* lse_parts */
      last_row * out_row + (double)(h - 1) * out_head + (double)d,                                    /* out */
      (double)(h - 1) * lse_head + last_row + 1};                                                     /* lse */
  const char *span_names[4] = {"out_parts", "lse_parts", "out", "lse"};
  const double limit = (double)FA_MAX_OFFSET;
  if (o_row > limit || o_part > limit || l_part > limit || out_row > limit)
    return fa_fail(message, FA_ERR_OVERFLOW, "a packed stride of out_parts, lse_parts or out exceeds 2^60 elements");
  for (int i = 0; i < 4; ++i)
    if (spans[i] > limit)
      return fa_fail(message, FA_ERR_OVERFLOW, "%s spans more than 2^60 elements with these strides and shapes",
                     span_names[i]);
  j.o_head_stride = (int64_t)o_head, j.o_row_stride = (int64_t)o_row, j.o_part_stride = (int64_t)o_part;
  j.lse_part_head_stride = (int64_t)l_head, j.lse_part_stride = (int64_t)l_part;
  j.out_head_stride = (int64_t)out_head, j.out_row_stride = (int64_t)out_row;
  j.lse_head_stride = (int64_t)lse_head;

  j.o_parts = p.out_parts;
  j.lse_parts = p.lse_parts;
  j.num_parts = p.num_parts;
  j.num_heads = p.num_heads;
  j.head_dim = p.head_dim;
  j.sinks = p.sinks;
  j.out = p.out;
  j.out_dtype = p.out_dtype;
  j.lse = p.lse;
  j.batch = 1;
  j.rows_per_batch = rows;
  if (p.backend == FA_BACKEND_CPU) {
    fa_cpu_combine(&j);
    return FA_OK;
  }
  fa_device_info dev;
  if ((st = fa_query_device(&dev, message)) != FA_OK) return st;
  const void *ptrs[] = {p.out_parts, p.lse_parts, p.sinks, p.out, p.lse};
  const char *names[] = {"out_parts", "lse_parts", "sinks", "out", "lse"};
  for (int i = 0; i < 5; ++i)
    if ((st = fa_check_device_pointer(ptrs[i], names[i], &dev, message)) != FA_OK) return st;
  const int err = fa_cuda_combine(&j, p.stream);
  if (err != 0) return fa_fail(message, FA_ERR_CUDA, "launching the combine kernel failed: %s", cudaGetErrorString((cudaError_t)err));
  return FA_OK;
}
