/*
 * fuzz_fwd.c - libFuzzer target for the public entry points, CPU backend.
 *
 * Each input is decoded into one call of fa_fwd, fa_fwd_query (always
 * followed by fa_fwd_workspace_size and fa_fwd_query_dispatch),
 * fa_fwd_with_kernel (and fa_fwd_workspace_size_with_kernel), fa_append_kv,
 * fa_fwd_workspace_size_max,
 * fa_combine, fa_kernel_info_get, or of the mask helpers (fa_unpad_info,
 * fa_unpad_rows, fa_pad_rows, fa_seqlens_from_position_ids,
 * fa_copy_to_host): every field of the parameter struct can be
 * hostile (negative, huge, INT_MAX, odd or overflowing strides, windows
 * below -1, NaN/inf scale and softcap, NULL and misaligned pointers,
 * corrupted cu_seqlens / seqused_k, a struct_size the library does not
 * know, a broken or foreign fa_context, a NULL or misaligned workspace,
 * a paged cache with page ids out of the pool, an append that does not
 * fit its sequence, num_splits out of range), and so can the tensor
 * contents (NaN, inf, huge, raw bit patterns).
 *
 * Input format: the fields added in 0.2 (struct_size, context, workspace)
 * are decoded after those of 0.1, and those of 0.3 (paged cache, append,
 * num_splits, the 0.2 struct_size) after them; a missing byte reads as 0,
 * which decodes to the default (struct_size = sizeof, no context, no
 * workspace, no cache fields): inputs written for 0.1 and 0.2 keep their
 * meaning. First bytes 0xE0-0xEF select fa_append_kv and 0xF0-0xFF
 * fa_combine (no committed input of 0.2 starts with them), 0xD0-0xDF
 * fa_fwd_workspace_size_max (0.4; none of 0.3 starts with them).
 *
 * The harness keeps its own model of the documented contract
 * (include/flashattn.h, README): from the decoded fields it computes the
 * set of statuses the call may return (empty: the call is valid) and the
 * exact extents of every buffer. It then allocates each buffer with exactly
 * the size the contract implies (ASan catches a single byte beyond), as long
 * as the total stays under FZ_MAX_BYTES. Buffers too large to allocate are
 * replaced by small ones: the library must then reject the call (the model
 * says so) and touch nothing, or the call only goes to fa_fwd_query, which
 * must not touch the tensors at all. Invariants checked after every call:
 *
 *   - the status is a known fa_status; invalid calls get one of the statuses
 *     the model allows, valid ones FA_OK; fa_fwd_query, fa_fwd_workspace_size
 *     and fa_fwd agree; a struct_size the library does not know gets
 *     FA_ERR_STRUCT_SIZE and nothing else (the struct cannot be read); the
 *     0.2 size (FA_FWD_PARAMS_SIZE_V0_2) is known, and the call then behaves
 *     as if every 0.3 field had its default, whatever lies past it;
 *   - every struct passed lives in a heap block of exactly its size (ASan
 *     catches a read past it, whatever struct_size claims) and is unchanged
 *     by the call;
 *   - on error: message non-empty, NUL-terminated, starting with the
 *     status name; out, lse, the K/V cache and the workspace byte-for-byte
 *     unchanged; *kernel_index and *bytes not written;
 *   - on success: message empty; fa_fwd_workspace_size says 0 bytes (the
 *     CPU family never splits, whatever num_splits says) and the workspace
 *     is untouched; every input buffer unchanged, and the cache too but for
 *     the appended rows, which hold k_new / v_new; every byte
 *     of out/lse outside the rows the call owns unchanged; each owned row
 *     that reads only finite inputs (and whose fp32 scores cannot overflow)
 *     is finite and matches a double-precision reference, whose K/V rows
 *     come through the block table; rows that see no key are exactly zero
 *     with lse = -inf (or the sink);
 *   - fa_combine: the same status and untouched-buffer rules, a result
 *     that matches a double-precision merge of the parts, and the same
 *     bytes when the same call is made again (flashattn.h: the same parts
 *     in the same order give the same bits on every call).
 *
 * A violated invariant prints what and why to stderr and aborts, so
 * libFuzzer records the input. fuzz_replay.c replays files (the seed
 * corpus and every regression input) through the same function without
 * libFuzzer, for CI.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flashattn.h"
#include "fp_convert.h"
#include "kernel_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Per call: bytes of buffers allocated, multiply-adds of the kernel (a
 * valid call above this only goes to fa_fwd_query), entries of the small
 * host arrays (cu_seqlens, seqused_k, sinks). */
#define FZ_MAX_BYTES ((int64_t)1 << 20)
#define FZ_MAX_WORK ((int64_t)1 << 18)
/* fa_combine: elements merged (parts x rows x heads x (head_dim + 1)); the
 * strides may overlap, so a small buffer can hold a huge merge. */
#define FZ_MAX_COMBINE_WORK ((int64_t)1 << 21)
#define FZ_MAX_SMALL 4096
/* Entries of a block table the harness allocates (a larger one: the call
 * must be rejected before reading it, or is not made). */
#define FZ_MAX_TABLE ((int64_t)1 << 16)
/* The library's documented bound on element offsets, and a band around it
 * where double rounding in the library may decide either way. */
#define FZ_LIMIT ((int64_t)1 << 60)
#define FZ_BAND ((int64_t)1 << 20)

#define FZ_LOG2E 1.4426950408889634

/* ------------------------------------------------------------ failure */

static const char *fz_current = "";
/* The message of the call being checked (printed with a violation), or NULL. */
static const char *fz_message_text = NULL;

static void fz_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fz_die(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "\nfuzz_fwd: INVARIANT VIOLATED (%s): ", fz_current);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  if (fz_message_text != NULL && memchr(fz_message_text, '\0', FA_MESSAGE_CAPACITY) != NULL)
    fprintf(stderr, "fuzz_fwd: the library's message: \"%s\"\n", fz_message_text);
  fflush(stderr);
  abort();
}

/* ------------------------------------------------------------ input reader */

typedef struct fz_in {
  const uint8_t *p;
  size_t n;
} fz_in;

static unsigned fz_u8(fz_in *in) {
  if (in->n == 0)
    return 0;
  in->n--;
  return *in->p++;
}

static uint32_t fz_u32(fz_in *in) {
  uint32_t v = 0;
  int i;
  for (i = 0; i < 4; ++i)
    v |= (uint32_t)fz_u8(in) << (8 * i);
  return v;
}

static uint64_t fz_u64(fz_in *in) {
  const uint64_t lo = fz_u32(in);
  return lo | (uint64_t)fz_u32(in) << 32;
}

/* An int32 in [lo, hi] three times out of four; otherwise a hostile value. */
static int32_t fz_i32(fz_in *in, int32_t lo, int32_t hi) {
  const unsigned t = fz_u8(in);
  if (t < 0xC0)
    return lo + (int32_t)(t % (unsigned)(hi - lo + 1));
  switch (t & 15) {
    case 0: return -1;
    case 1: return -2;
    case 2: return 0;
    case 3: return INT32_MAX;
    case 4: return INT32_MIN;
    case 5: return INT32_MAX - 1;
    case 6: return (int32_t)1 << (fz_u8(in) % 31);
    case 7: return -((int32_t)1 << (fz_u8(in) % 31));
    case 8: return (int32_t)fz_u32(in);
    case 9: return 65535;
    case 10: return 65536;
    case 11: return 1 << 30;
    case 12: return hi + 1;
    case 13: return lo - 1;
    case 14: return hi * 2 + 1;
    default: return (int32_t)fz_u8(in);
  }
}

/* A hostile int64 (totals): `typical` three times out of four. */
static int64_t fz_i64(fz_in *in, int64_t typical) {
  const unsigned t = fz_u8(in);
  if (t < 0xC0)
    return typical + (int64_t)(t % 4);
  switch (t & 15) {
    case 0: return -1;
    case 1: return typical - 1;
    case 2: return 0;
    case 3: return INT64_MAX;
    case 4: return INT64_MIN;
    case 5: return (int64_t)1 << 40;
    case 6: return FZ_LIMIT;
    case 7: return FZ_LIMIT + 1;
    case 8: return (int64_t)fz_u64(in);
    case 9: return INT32_MAX;
    case 10: return (int64_t)INT32_MAX + 1;
    case 11: return -typical - 1;
    default: return typical + (int64_t)(fz_u8(in) % 64);
  }
}

/* A hostile float: `typical` (decoded by the caller's range) most of the time. */
static float fz_special_float(fz_in *in, unsigned t) {
  switch (t & 15) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return -0.0f;
    case 4: return FLT_MAX;
    case 5: return -FLT_MAX;
    case 6: return 1.4e-45f; /* smallest subnormal */
    case 7: return FLT_MIN;
    case 8: return 1e30f;
    case 9: return 1e-30f;
    case 10: {
      const uint32_t bits = fz_u32(in);
      float f;
      memcpy(&f, &bits, sizeof f);
      return f;
    }
    case 11: return 1.0f;
    case 12: return 65504.f;
    case 13: return -1.0f;
    case 14: return 3e38f;
    default: return 1e-6f;
  }
}

/* scale: 0 (the default) half the time. */
static float fz_scale(fz_in *in) {
  const unsigned t = fz_u8(in);
  if (t < 0x80)
    return 0.f;
  if (t < 0xD0)
    return (float)((int)(t % 64) - 32) / 16.0f;
  return fz_special_float(in, t);
}

/* softcap: 0 (off) most of the time. */
static float fz_softcap(fz_in *in) {
  const unsigned t = fz_u8(in);
  if (t < 0xA0)
    return 0.f;
  if (t < 0xD8)
    return (float)(t % 48) / 4.0f;
  return fz_special_float(in, t);
}

static int32_t fz_window(fz_in *in) {
  const unsigned t = fz_u8(in);
  if (t < 0x60)
    return -1;
  if (t < 0xD0)
    return (int32_t)(t % 24);
  switch (t & 7) {
    case 0: return -2;
    case 1: return INT32_MIN;
    case 2: return INT32_MAX;
    case 3: return INT32_MAX - 1;
    case 4: return (int32_t)fz_u32(in);
    case 5: return 1 << 30;
    default: return -3;
  }
}

static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return a < 0 ? INT64_MIN : INT64_MAX;
  return r;
}

static int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
  return r;
}

/* A stride, given the packed value `need`: 0 (packed) most of the time. */
static int64_t fz_stride(fz_in *in, int64_t need) {
  const unsigned t = fz_u8(in);
  if (t < 0xA0)
    return 0;
  if (t < 0xC0)
    return sat_add(need, 8 * (int64_t)(t % 4)); /* padded */
  if (t < 0xD0)
    return 8 * (int64_t)(t % 4); /* small: views that overlap (or 0) */
  switch (t & 15) {
    case 0: return sat_add(need, 1 + (int64_t)(t % 7)); /* odd */
    case 1: return -8;
    case 2: return FZ_LIMIT;
    case 3: return FZ_LIMIT + 8;
    case 4: return INT64_MAX;
    case 5: return INT64_MIN;
    case 6: return (int64_t)fz_u64(in);
    case 7: return (int64_t)1 << 43;
    case 8: return 8;
    case 9: return need > 0 ? -need : -8;
    case 10: return ((int64_t)1 << 62);
    case 11: return INT64_MAX - 7;
    default: return sat_mul(need, 2);
  }
}

/* Pointer modes: normal, NULL, misaligned by `shift` bytes, or valid with
 * an extra (aligned) offset. */
enum { PTR_NORMAL, PTR_NULL, PTR_SHIFT };
typedef struct fz_ptr_mode {
  int kind;
  size_t shift; /* bytes added to the buffer start (PTR_SHIFT) */
} fz_ptr_mode;

static fz_ptr_mode fz_ptr(fz_in *in, size_t align) {
  const unsigned t = fz_u8(in);
  fz_ptr_mode m = {PTR_NORMAL, 0};
  if (t < 0xE0)
    return m;
  if (t < 0xE8) {
    m.kind = PTR_NULL;
  } else if (t < 0xF0) {
    m.kind = PTR_SHIFT;
    m.shift = 1 + (t & 7) % (align > 1 ? align - 1 : 1); /* misaligned: 1 .. align-1 */
    if (align == 16 && (t & 1))
      m.shift = 8; /* element-aligned, not 16-byte aligned */
  } else {
    m.kind = PTR_SHIFT;
    m.shift = align; /* aligned: a valid offset view */
  }
  return m;
}

/* struct_size of a struct whose sizeof is `size`: that most of the time;
 * otherwise 0 (a zeroed struct), the size of a newer header (size + 8), a
 * size between layouts, or a random one. The library knows sizeof, and for
 * fa_fwd_params also the 0.2 layout (fz_fwd_size_known). */
static uint32_t fz_struct_size(fz_in *in, uint32_t size) {
  const unsigned t = fz_u8(in);
  if (t < 0xE0)
    return size;
  switch (t & 7) {
    case 0: return 0;
    case 1: return size + 8;
    case 2: return size - 8;
    case 3: return size + 1;
    case 4: return 4; /* the size field alone */
    case 5: return UINT32_MAX;
    case 6: return fz_u32(in);
    default: return size * 2;
  }
}

static int fz_size_known(uint32_t got, size_t size) { return got == size; }

/* fa_fwd_params: 0.3's sizeof, or 0.2's (its 0.3 fields then take their
 * defaults). LP64 sizes, as in the header. */
_Static_assert(sizeof(void *) != 8 || (offsetof(fa_fwd_params, block_table) == FA_FWD_PARAMS_SIZE_V0_2 &&
                                       sizeof(fa_fwd_params) == FA_FWD_PARAMS_SIZE_V0_3),
               "fa_fwd_params: the model knows the 0.2 and 0.3 layouts");
static int fz_fwd_size_known(uint32_t got) {
  return got == sizeof(fa_fwd_params) || got == FA_FWD_PARAMS_SIZE_V0_2;
}

/* ------------------------------------------------------------ value fill */

typedef struct fz_rng {
  uint64_t s;
} fz_rng;

static uint64_t fz_next(fz_rng *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double fz_uniform(fz_rng *r) { return (double)(fz_next(r) >> 11) * (1.0 / 9007199254740992.0); }

static double fz_normal(fz_rng *r) {
  const double u = 1.0 - fz_uniform(r), w = fz_uniform(r);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * w);
}

static uint16_t fz_encode(double x, fa_dtype dt) {
  return dt == FA_DTYPE_BF16 ? fa_float_to_bf16((float)x) : fa_float_to_fp16((float)x);
}

/* Exact value of an fp16/bf16 (decoded independently of the library). */
static double fz_decode(uint16_t bits, fa_dtype dt) {
  const int mb = dt == FA_DTYPE_BF16 ? 7 : 10, eb = dt == FA_DTYPE_BF16 ? 8 : 5;
  const int bias = (1 << (eb - 1)) - 1;
  const int e = (bits >> mb) & ((1 << eb) - 1), m = bits & ((1 << mb) - 1);
  double mag;
  if (e == (1 << eb) - 1)
    mag = m ? NAN : INFINITY;
  else if (e == 0)
    mag = ldexp((double)m, 1 - bias - mb);
  else
    mag = ldexp((double)(m | (1 << mb)), e - bias - mb);
  return (bits & 0x8000) ? -mag : mag;
}

typedef struct fz_fill {
  int mode;      /* 0-3 normal(sigma), 4 large, 5 small ints, 6 sprinkled specials, 7 raw bits */
  double sigma;
  fz_rng rng;
  int n_special;
  unsigned special_at[4]; /* which element (mod count) of q/k/v gets a special */
  unsigned special_tensor[4];
  float special_value[4];
} fz_fill;

static uint16_t fz_value(fz_fill *f, fa_dtype dt) {
  switch (f->mode) {
    case 4: return fz_encode(fz_normal(&f->rng) * (dt == FA_DTYPE_BF16 ? 1e30 : 3e4), dt);
    case 5: return fz_encode((double)((int)(fz_next(&f->rng) % 9) - 4), dt);
    case 7: return (uint16_t)fz_next(&f->rng);
    default: return fz_encode(fz_normal(&f->rng) * f->sigma, dt);
  }
}

/* ------------------------------------------------------------ the model */

#define BIT(st) (1u << (unsigned)(st))

/* One of q, k, v, out, k_new, v_new as the contract sees it. */
typedef struct fz_tensor {
  const char *name;
  fz_ptr_mode ptr;
  int present;                          /* part of the call (k_new, v_new: an append) */
  int flat;                             /* varlen rows: the batch stride must be 0 */
  int64_t given_hs, given_rs, given_bs; /* as passed (0 = packed) */
  int64_t hs, rs, bs;                   /* effective (saturated; bs 0 when flat) */
  int64_t rows, batches, heads;
  int64_t span;    /* elements the contract says the buffer holds (0: none read) */
  uint16_t *base;  /* allocation */
  size_t bytes;    /* allocation size */
  const void *arg; /* pointer passed */
} fz_tensor;

enum { T_Q, T_K, T_V, T_OUT, T_K_NEW, T_V_NEW, N_TENSORS };

/* The forward-family ops (fz_call.op). */
enum { OP_FWD, OP_QUERY, OP_WITH_KERNEL, OP_APPEND_KV };

typedef struct fz_call {
  fa_fwd_params p; /* the model's view: with a 0.2 struct_size, the 0.3 fields at their defaults */
  int op;          /* OP_* */
  int varlen;      /* as decoded: cu_seqlens passed (q, k or both) */
  int varlen_q, varlen_k; /* cu_seqlens_q / cu_seqlens_k passed (the model's view) */
  int paged;       /* block_table passed (the model's view) */
  int append;      /* k_new or v_new passed (the model's view) */
  int params_null, message_null;
  size_t kernel_index;
  fz_tensor t[N_TENSORS];
  /* Aligned harness copies of the small arrays (what the model reads; the
   * library gets the same values at p's pointers, which may be misaligned). */
  int32_t cu_vals[2][65];
  int32_t *cu[2];  /* cu_vals[t], or NULL when not passed */
  int64_t cu_n;    /* entries allocated in each */
  fz_ptr_mode cu_ptr[2], lse_ptr, sinks_ptr, seqused_ptr, table_ptr;
  int32_t *seqused; /* malloc'd copy, or NULL */
  float *sinks;     /* malloc'd copy, or NULL */
  void *seqused_arg, *sinks_arg;
  float *lse;
  int64_t lse_span;
  void *cu_alloc[2], *seqused_alloc, *sinks_alloc, *lse_alloc;
  size_t lse_bytes;
  /* 0.2: the context (a heap block of exactly sizeof(fa_context), or NULL)
   * and the workspace (256-byte aligned block; p.workspace may be shifted) */
  fa_context *ctx;
  unsigned ctx_mode;
  void *ws_alloc;
  size_t ws_alloc_bytes;
  int ws_size_null; /* fa_fwd_workspace_size gets bytes == NULL */
  size_t v02_left;  /* input bytes left where the 0.2 fields start */
  /* 0.3: the block table (harness copy; the library's may be shifted), and
   * what goes past byte FA_FWD_PARAMS_SIZE_V0_2 of a struct of the 0.2 size */
  int32_t *table;   /* malloc'd copy of table_n entries, or NULL */
  int64_t table_n;
  int table_fits;   /* allocated with the contract's extent */
  void *table_alloc, *table_arg;
  size_t table_bytes;
  size_t v03_left;  /* input bytes left where the 0.3 fields start */
  unsigned v03_mode;
  int old_layout;   /* 0: sizeof; 1: 0.2 size, the 0.3 fields as decoded past it;
                       2: 0.2 size in a 272-byte block; 3: 0.2 size, random bytes past it */
  fa_fwd_params full; /* old_layout: the 0.3 fields as decoded (the library must ignore them) */
  uint64_t garbage_seed;
  fa_fwd_params *p_copy; /* what the library gets (exact heap block) */
  size_t p_copy_bytes;
  fz_fill fill;
  /* the model's verdict */
  uint32_t allowed;  /* statuses an invalid call may return; 0 = valid */
  uint32_t static_allowed; /* the same from the rules that read no array contents */
  int ambiguous;     /* near the 2^60 bound: OVERFLOW or OK */
  uint32_t may_reject; /* a valid call may also be rejected with these (extreme scale / softcap) */
  int no_kernel;     /* valid, but no CPU kernel for (head_dim, dtype, mask) */
  int64_t work;
  /* 0.4: fa_fwd_query_dispatch's info, decoded after every older field */
  int dispatch_info_null;
  uint32_t dispatch_size; /* info->struct_size */
} fz_call;

static int head_dim_in_table(int32_t d) {
  size_t i;
  for (i = 0; i < fa_kernel_count(); ++i) {
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    if (fa_kernel_info_get(i, &info) == FA_OK && info.head_dim == d)
      return 1;
  }
  return 0;
}

static size_t cpu_kernel(int32_t d, fa_dtype dt, fa_mask mask) {
  size_t i;
  for (i = 0; i < fa_kernel_count(); ++i) {
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    if (fa_kernel_info_get(i, &info) == FA_OK && info.backend == FA_BACKEND_CPU && info.head_dim == d &&
        info.dtype == dt && info.mask == mask)
      return i;
  }
  return SIZE_MAX;
}

/* Pointer and stride rules of one tensor that need no shapes: NULL,
 * 16-byte alignment, strides >= 0, multiples of 8, at most 2^60; a batch
 * stride only where there are batches (dense rows, pages). */
static void model_tensor_ptr(fz_call *c, const fz_tensor *t) {
  const int64_t given[3] = {t->given_hs, t->given_rs, t->given_bs};
  int i;
  if (t->ptr.kind == PTR_NULL)
    c->allowed |= BIT(FA_ERR_NULL_POINTER);
  if (t->ptr.kind == PTR_SHIFT && t->ptr.shift % 16 != 0)
    c->allowed |= BIT(FA_ERR_MISALIGNED);
  for (i = 0; i < 3; ++i) {
    if (given[i] < 0 || given[i] % 8 != 0)
      c->allowed |= BIT(FA_ERR_INVALID_STRIDE);
    else if (given[i] > FZ_LIMIT)
      c->allowed |= BIT(FA_ERR_OVERFLOW);
  }
  if (t->flat && t->given_bs != 0)
    c->allowed |= BIT(FA_ERR_INVALID_STRIDE);
}

/* With valid shapes: effective strides (defaults filled in), the bound on
 * the largest offset, and the span (elements the buffer must hold). */
static void model_tensor_span(fz_call *c, fz_tensor *t, int32_t d) {
  int64_t last;
  t->hs = t->given_hs != 0 ? t->given_hs : d;
  t->rs = t->given_rs != 0 ? t->given_rs : sat_mul(t->heads, d);
  t->bs = t->flat ? 0 : (t->given_bs != 0 ? t->given_bs : sat_mul(t->rows, t->rs));
  if (t->rs > FZ_LIMIT || t->bs > FZ_LIMIT + FZ_BAND) /* a default stride past the bound */
    c->allowed |= BIT(FA_ERR_OVERFLOW);
  else if (t->given_bs == 0 && t->bs > FZ_LIMIT - FZ_BAND) /* rows x row stride, in double */
    c->ambiguous = 1;
  last = sat_add(sat_add(sat_mul(t->batches - 1, t->bs < 0 ? 0 : t->bs),
                         sat_mul(t->rows > 0 ? t->rows - 1 : 0, t->rs < 0 ? 0 : t->rs)),
                 sat_add(sat_mul(t->heads - 1, t->hs < 0 ? 0 : t->hs), d));
  if (last > FZ_LIMIT + FZ_BAND)
    c->allowed |= BIT(FA_ERR_OVERFLOW);
  else if (last > FZ_LIMIT - FZ_BAND)
    c->ambiguous = 1;
  t->span = t->rows > 0 && t->batches > 0 ? last : 0;
}

static int misaligned4(fz_ptr_mode m) { return m.kind == PTR_SHIFT && m.shift % 4 != 0; }

/* Query rows of sequence b as the library reads them (cu_seqlens_q
 * unchecked: the model judges it separately). */
static int64_t len_q_of(const fz_call *c, int32_t b) {
  return c->cu[0] != NULL ? (int64_t)c->cu[0][b + 1] - c->cu[0][b] : (int64_t)c->p.max_seqlen_q;
}

/* Keys sequence b can hold: its cu_seqlens_k range, the table's capacity
 * (paged), or max_seqlen_k (dense). */
static int64_t kv_capacity_of(const fz_call *c, int32_t b) {
  const fa_fwd_params *p = &c->p;
  if (c->cu[1] != NULL)
    return (int64_t)c->cu[1][b + 1] - c->cu[1][b];
  if (p->block_table != NULL)
    return (int64_t)p->max_pages_per_seq * p->page_size;
  return p->max_seqlen_k;
}

static int64_t table_stride_of(const fa_fwd_params *p) {
  return p->block_table_stride != 0 ? p->block_table_stride : p->max_pages_per_seq;
}

/* The CPU backend reads cu_seqlens, seqused_k and the block table (host
 * memory) and rejects bad contents. They are readable whenever passed:
 * the harness allocates batch + 1 / batch / the table's extent. */
static void model_contents(fz_call *c, int kn) {
  const fa_fwd_params *p = &c->p;
  const int32_t *cu[2] = {c->cu[0], c->cu[1]};
  const int64_t total[2] = {p->total_q, p->total_k};
  const int32_t maxlen[2] = {p->max_seqlen_q, p->max_seqlen_k};
  int t;
  int32_t b;
  for (t = 0; t < 2; ++t) {
    if (cu[t] == NULL)
      continue;
    if (cu[t][0] != 0 || cu[t][p->batch] > total[t])
      c->allowed |= BIT(FA_ERR_INVALID_SEQLENS);
    for (b = 0; b < p->batch; ++b) {
      const int64_t len = (int64_t)cu[t][b + 1] - cu[t][b];
      if (len < 0 || len > maxlen[t])
        c->allowed |= BIT(FA_ERR_INVALID_SEQLENS);
    }
  }
  if (c->seqused == NULL || (c->paged && (p->page_size < 1 || p->max_pages_per_seq < 1)))
    return;
  for (b = 0; b < p->batch; ++b) {
    /* With an append, the sequence must hold its Lq new rows too. */
    const int64_t used = (int64_t)c->seqused[b] + (kn ? len_q_of(c, b) : 0);
    int64_t col;
    if (c->seqused[b] < 0 || used > kv_capacity_of(c, b)) {
      c->allowed |= BIT(FA_ERR_INVALID_SEQLENS);
      continue;
    }
    if (!c->paged)
      continue;
    /* Beyond the table's width (cu_seqlens_k gave the capacity above, or
     * max_seqlen_k exceeds the width: both rejected statically) the
     * contents are not read: the table holds max_pages_per_seq columns. */
    if (used > p->max_seqlen_k || used > (int64_t)p->max_pages_per_seq * p->page_size) {
      c->allowed |= BIT(FA_ERR_INVALID_SEQLENS);
      continue;
    }
    /* Every page holding one of its keys must be in the pool. */
    if (!c->table_fits)
      continue;
    for (col = 0; col < (used + p->page_size - 1) / p->page_size; ++col) {
      const int32_t page = c->table[(int64_t)b * table_stride_of(p) + col];
      if (page < 0 || page >= p->num_pages)
        c->allowed |= BIT(FA_ERR_INVALID_SEQLENS);
    }
  }
}

/* The context rule of a call of `backend` (fa_fwd, and the workspace
 * bound): initialized (its struct_size), of the call's backend, and on
 * CUDA of the current device, which the model cannot tell. */
static uint32_t context_rule(const fa_context *x, fa_backend backend) {
  if (x != NULL && (x->struct_size != sizeof *x || x->backend != backend || backend == FA_BACKEND_CUDA))
    return BIT(FA_ERR_INVALID_CONTEXT);
  return 0;
}

/* The contract's rules, evaluated in no particular order: `allowed`
 * collects every status a violated rule may produce, so the library may
 * check in any order it likes. */
static void model_fwd(fz_call *c) {
  const fa_fwd_params *p = &c->p;
  const int64_t hq = p->num_heads_q, hk = p->num_heads_k;
  const int append_only = c->op == OP_APPEND_KV;
  const int kn = c->t[T_K_NEW].present && c->t[T_K_NEW].ptr.kind != PTR_NULL;
  const int vn = c->t[T_V_NEW].present && c->t[T_V_NEW].ptr.kind != PTR_NULL;
  int shapes_ok, i;
  c->allowed = 0;
  c->ambiguous = 0;
  c->may_reject = 0;
  c->no_kernel = 0;
  c->varlen_q = p->cu_seqlens_q != NULL;
  c->varlen_k = p->cu_seqlens_k != NULL;
  c->paged = p->block_table != NULL;
  c->append = kn || vn;
  if (c->params_null) {
    c->allowed = c->static_allowed = BIT(FA_ERR_NULL_POINTER);
    return;
  }
  if (p->backend != FA_BACKEND_CPU && p->backend != FA_BACKEND_CUDA)
    c->allowed |= BIT(FA_ERR_INVALID_BACKEND);
  if (p->dtype != FA_DTYPE_FP16 && p->dtype != FA_DTYPE_BF16)
    c->allowed |= BIT(FA_ERR_UNSUPPORTED_DTYPE);
  if (p->batch < 1 || hq < 1 || hk < 1 || p->max_seqlen_q < 0 || p->max_seqlen_k < 0)
    c->allowed |= BIT(FA_ERR_INVALID_SHAPE);
  if (hq >= 1 && hk >= 1 && hq % hk != 0)
    c->allowed |= BIT(FA_ERR_HEADS_NOT_DIVISIBLE);
  if (!head_dim_in_table(p->head_dim))
    c->allowed |= BIT(FA_ERR_UNSUPPORTED_HEAD_DIM);
  if (p->window_left < -1 || p->window_right < -1)
    c->allowed |= BIT(FA_ERR_INVALID_WINDOW);
  if (!isfinite(p->scale))
    c->allowed |= BIT(FA_ERR_INVALID_SCALE);
  if (!isfinite(p->softcap) || p->softcap < 0.f)
    c->allowed |= BIT(FA_ERR_INVALID_SOFTCAP);
  /* Finite, but past what fp32 constants derived from them can hold
   * (scale * log2(e), softcap * log2(e), scale / softcap): the library may
   * reject these; if it accepts them, results must still be finite. */
  if (isfinite(p->scale) && fabs((double)p->scale) > 1e30)
    c->may_reject |= BIT(FA_ERR_INVALID_SCALE);
  if (isfinite(p->softcap) && (double)p->softcap > 1e30)
    c->may_reject |= BIT(FA_ERR_INVALID_SOFTCAP);
  if (isfinite(p->scale) && isfinite(p->softcap) && p->softcap > 0.f) {
    /* (the default scale needs a valid head_dim; 1/sqrt(8) bounds it) */
    const double sc = p->scale != 0.f ? fabs((double)p->scale)
                                      : 1.0 / sqrt(p->head_dim >= 8 ? (double)p->head_dim : 8.0);
    if (sc / (double)p->softcap > 1e30 * (p->scale != 0.f ? 1.0 : 0.5))
      c->may_reject |= BIT(FA_ERR_INVALID_SOFTCAP) | BIT(FA_ERR_INVALID_SCALE);
  }
  if (p->num_splits < 0 || p->num_splits > FA_MAX_SPLITS)
    c->allowed |= BIT(FA_ERR_INVALID_SHAPE);
  if ((p->launch_flags & ~FA_LAUNCH_NO_PDL) != 0) /* 0.4: bits this library does not know */
    c->allowed |= BIT(FA_ERR_UNSUPPORTED);

  /* The KV cache (0.3): an append needs both new tensors and the cache
   * lengths; fa_append_kv needs an append. */
  if (c->append && !(kn && vn))
    c->allowed |= BIT(FA_ERR_NULL_POINTER);
  if (c->append && p->seqused_k == NULL)
    c->allowed |= BIT(FA_ERR_NULL_POINTER);
  if (append_only && !c->append)
    c->allowed |= BIT(FA_ERR_NULL_POINTER);
  if (c->paged) {
    const int32_t ps = p->page_size, mp = p->max_pages_per_seq;
    if (ps < 1 || mp < 1 || p->num_pages < 1)
      c->allowed |= BIT(FA_ERR_INVALID_SHAPE);
    if (p->block_table_stride != 0 && p->block_table_stride < mp)
      c->allowed |= BIT(FA_ERR_INVALID_STRIDE);
    if (p->seqused_k == NULL)
      c->allowed |= BIT(FA_ERR_NULL_POINTER);
    if (c->varlen_k) /* key positions come from the table */
      c->allowed |= BIT(FA_ERR_INVALID_SHAPE);
    if (ps >= 1 && mp >= 1) {
      const int64_t cap = (int64_t)mp * ps;
      if (cap > INT32_MAX)
        c->allowed |= BIT(FA_ERR_OVERFLOW);
      else if (p->max_seqlen_k > cap)
        c->allowed |= BIT(FA_ERR_INVALID_SHAPE);
    }
    if (p->batch >= 1 && table_stride_of(p) >= 0) {
      const int64_t span = sat_mul(p->batch, table_stride_of(p));
      if (span > FZ_LIMIT + FZ_BAND)
        c->allowed |= BIT(FA_ERR_OVERFLOW);
      else if (span > FZ_LIMIT - FZ_BAND)
        c->ambiguous = 1;
    }
    if (misaligned4(c->table_ptr))
      c->allowed |= BIT(FA_ERR_MISALIGNED);
  }
  /* Both cu_seqlens or neither; a paged cache takes cu_seqlens_q alone. */
  if (!c->paged && c->varlen_q != c->varlen_k)
    c->allowed |= BIT(FA_ERR_NULL_POINTER);
  if (c->varlen_q && p->total_q < 0)
    c->allowed |= BIT(FA_ERR_INVALID_SHAPE);
  if (c->varlen_q && p->total_k < 0) { /* total_k means nothing to a paged call: it may still be judged */
    if (c->paged)
      c->may_reject |= BIT(FA_ERR_INVALID_SHAPE);
    else
      c->allowed |= BIT(FA_ERR_INVALID_SHAPE);
  }
  {
    const int64_t given[N_TENSORS][3] = {{p->q_head_stride, p->q_row_stride, p->q_batch_stride},
                                         {p->k_head_stride, p->k_row_stride, p->k_batch_stride},
                                         {p->v_head_stride, p->v_row_stride, p->v_batch_stride},
                                         {p->out_head_stride, p->out_row_stride, p->out_batch_stride},
                                         {p->k_new_head_stride, p->k_new_row_stride, p->k_new_batch_stride},
                                         {p->v_new_head_stride, p->v_new_row_stride, p->v_new_batch_stride}};
    for (i = 0; i < N_TENSORS; ++i) {
      fz_tensor *t = &c->t[i];
      const int is_kv = i == T_K || i == T_V;
      t->given_hs = given[i][0];
      t->given_rs = given[i][1];
      t->given_bs = given[i][2];
      /* q, out and the new rows: varlen_q's layout; the cache: pages, or varlen_k's. */
      t->flat = is_kv ? !c->paged && c->varlen_k : c->varlen_q;
      /* fa_append_kv neither reads q nor writes out: their fields are not judged. */
      if (append_only && (i == T_Q || i == T_OUT))
        t->present = 0;
      if (t->present && (i < T_K_NEW || t->ptr.kind != PTR_NULL))
        model_tensor_ptr(c, t);
    }
  }
  /* 4-byte arrays. fa_append_kv reads neither lse nor sinks: it may check them, or not. */
  if (misaligned4(c->lse_ptr) || misaligned4(c->sinks_ptr)) {
    if (append_only)
      c->may_reject |= BIT(FA_ERR_MISALIGNED);
    else
      c->allowed |= BIT(FA_ERR_MISALIGNED);
  }
  if (misaligned4(c->seqused_ptr) || (c->varlen_q && misaligned4(c->cu_ptr[0])) ||
      (c->varlen_k && misaligned4(c->cu_ptr[1])))
    c->allowed |= BIT(FA_ERR_MISALIGNED);
  if (p->backend == FA_BACKEND_CUDA) /* host pointers: no device here, or not device memory; or declined */
    c->allowed |= BIT(FA_ERR_NO_DEVICE) | BIT(FA_ERR_INVALID_POINTER) | BIT(FA_ERR_UNSUPPORTED_DEVICE) |
                  BIT(FA_ERR_CUDA) | BIT(FA_ERR_NO_KERNEL) | BIT(FA_ERR_UNSUPPORTED);
  c->allowed |= context_rule(p->context, p->backend);
  /* The workspace: NULL only with 0 bytes, else 256-byte aligned (on CUDA
   * also device memory: FA_ERR_INVALID_POINTER above). The CPU family needs
   * 0 bytes, so no size is too small: never FA_ERR_WORKSPACE. */
  if (p->workspace == NULL && p->workspace_bytes != 0)
    c->allowed |= BIT(FA_ERR_NULL_POINTER);
  if (((uintptr_t)p->workspace & 255u) != 0)
    c->allowed |= BIT(FA_ERR_MISALIGNED);

  shapes_ok = p->batch >= 1 && hq >= 1 && hk >= 1 && p->max_seqlen_q >= 0 && p->max_seqlen_k >= 0 &&
              head_dim_in_table(p->head_dim) && !(c->varlen_q && p->total_q < 0) &&
              !(c->varlen_k && p->total_k < 0) && !(c->paged && (p->page_size < 1 || p->num_pages < 1));
  if (shapes_ok) {
    const int64_t total_q = c->varlen_q ? p->total_q : sat_mul(p->batch, p->max_seqlen_q);
    const int64_t rows_q = c->varlen_q ? total_q : p->max_seqlen_q;
    for (i = 0; i < N_TENSORS; ++i) {
      fz_tensor *t = &c->t[i];
      if (!t->present || (i >= T_K_NEW && t->ptr.kind == PTR_NULL))
        continue;
      if (i == T_K || i == T_V) { /* pages of page_size rows, or sequences */
        t->heads = hk;
        t->rows = c->paged ? p->page_size : c->varlen_k ? p->total_k : p->max_seqlen_k;
        t->batches = c->paged ? p->num_pages : c->varlen_k ? 1 : p->batch;
      } else {
        t->heads = i == T_Q || i == T_OUT ? hq : hk;
        t->rows = rows_q;
        t->batches = c->varlen_q ? 1 : p->batch;
      }
      model_tensor_span(c, t, p->head_dim);
    }
    c->lse_span = sat_mul(hq, total_q);
    if (c->lse_span > FZ_LIMIT + FZ_BAND) {
      if (append_only)
        c->may_reject |= BIT(FA_ERR_OVERFLOW);
      else
        c->allowed |= BIT(FA_ERR_OVERFLOW);
    } else if (c->lse_span > FZ_LIMIT - FZ_BAND) {
      if (append_only)
        c->may_reject |= BIT(FA_ERR_OVERFLOW);
      else
        c->ambiguous = 1;
    }
  }

  /* The rules above read no array; the CPU backend also checks contents. */
  c->static_allowed = c->allowed;
  if (p->backend == FA_BACKEND_CPU && p->batch >= 1)
    model_contents(c, kn);
  if (c->allowed == 0 && !append_only &&
      cpu_kernel(p->head_dim, p->dtype, fa_mask_from_window(p->window_left, p->window_right)) == SIZE_MAX)
    c->no_kernel = 1;
  /* A struct_size the library does not know: it cannot read the struct, so
   * no other field may decide the status. */
  if (!fz_fwd_size_known(p->struct_size)) {
    c->allowed = c->static_allowed = BIT(FA_ERR_STRUCT_SIZE);
    c->ambiguous = 0;
    c->may_reject = 0;
    c->no_kernel = 0;
  }
}

/* ------------------------------------------------------------ sequences (valid calls) */

typedef struct fz_seq {
  int64_t q0, k0; /* first row in q/out (and k_new/v_new) and in k/v (0 when paged) */
  int64_t lq, lk; /* query rows, keys used (an append's rows included) */
} fz_seq;

static fz_seq seq_of(const fz_call *c, int32_t b) {
  const fa_fwd_params *p = &c->p;
  fz_seq s;
  s.q0 = c->varlen_q ? c->cu[0][b] : 0;
  s.lq = len_q_of(c, b);
  s.k0 = c->varlen_k ? c->cu[1][b] : 0;
  s.lk = c->varlen_k ? (int64_t)c->cu[1][b + 1] - s.k0 : (int64_t)p->max_seqlen_k;
  if (c->seqused != NULL)
    s.lk = c->seqused[b] + (c->append ? s.lq : 0);
  return s;
}

/* Element offset of (batch b, row, head h) in q, out, k_new or v_new (bs is
 * 0 in varlen mode). */
static int64_t elem_offset(const fz_tensor *t, int32_t b, int64_t row, int64_t h) {
  return (int64_t)b * t->bs + row * t->rs + h * t->hs;
}

/* Element offset of key j of sequence b, head h, in k or v: through the
 * block table when paged. */
static int64_t kv_offset(const fz_call *c, const fz_tensor *t, int32_t b, const fz_seq *s, int64_t j, int64_t h) {
  if (c->paged) {
    const int64_t ps = c->p.page_size;
    const int64_t page = c->table[(int64_t)b * table_stride_of(&c->p) + j / ps];
    return page * t->bs + (j % ps) * t->rs + h * t->hs;
  }
  return (int64_t)b * t->bs + (s->k0 + j) * t->rs + h * t->hs;
}

/* Keys [lo, hi) seen by query row i: bottom-right aligned window. */
static void visible(const fa_fwd_params *p, const fz_seq *s, int64_t i, int64_t *lo, int64_t *hi) {
  const int64_t pos = i + s->lk - s->lq;
  int64_t l = p->window_left < 0 ? 0 : pos - p->window_left;
  int64_t h = p->window_right < 0 ? s->lk : pos + p->window_right + 1;
  if (l < 0)
    l = 0;
  if (h > s->lk)
    h = s->lk;
  *lo = l;
  *hi = h > l ? h : l;
}

static int64_t model_work(const fz_call *c) {
  const fa_fwd_params *p = &c->p;
  const int attend = c->op != OP_APPEND_KV;
  int64_t w = sat_mul(p->batch, p->num_heads_q);
  int32_t b;
  if (w > FZ_MAX_WORK)
    return w;
  for (b = 0; b < p->batch && w <= FZ_MAX_WORK; ++b) {
    const fz_seq s = seq_of(c, b);
    if (attend)
      w = sat_add(w, sat_mul(sat_mul(s.lq, s.lk + 1), sat_mul(p->num_heads_q, p->head_dim)));
    /* Filling the rows the call reads (overlapping views can make many rows
     * of a small buffer): the harness's own cost. */
    w = sat_add(w, sat_mul(sat_add(sat_mul(s.lq, p->num_heads_q), sat_mul(2 * s.lk, p->num_heads_k)), p->head_dim));
  }
  return w;
}

/* ------------------------------------------------------------ allocation */

static void *fz_alloc(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 16, bytes ? bytes : 1) != 0)
    fz_die("out of memory (%zu bytes)", bytes);
  return p;
}

static size_t small_bytes(int64_t n, size_t elem) { return (size_t)(n > 0 ? n : 0) * elem; }

/* A struct passed to the library, in a heap block of exactly its size: a
 * library that trusted a larger struct_size would read past it (ASan). */
static void *fz_exact_copy(const void *src, size_t bytes) {
  void *p = malloc(bytes);
  if (p == NULL)
    fz_die("out of memory (%zu bytes)", bytes);
  memcpy(p, src, bytes);
  return p;
}

/* ------------------------------------------------------------ checks */

static void check_status_known(fa_status st) {
  if (strcmp(fa_status_string(st), "FA_ERR_UNKNOWN_STATUS") == 0)
    fz_die("returned status %d is not an fa_status", (int)st);
}

static void check_message(const char *call, fa_status st, const fa_message *m) {
  const char *name = fa_status_string(st);
  if (memchr(m->text, '\0', sizeof m->text) == NULL)
    fz_die("%s: message is not NUL-terminated", call);
  if (st == FA_OK) {
    if (m->text[0] != '\0')
      fz_die("%s: FA_OK with a message \"%s\"", call, m->text);
    return;
  }
  if (m->text[0] == '\0')
    fz_die("%s: %s with an empty message", call, name);
  if (strncmp(m->text, name, strlen(name)) != 0 || m->text[strlen(name)] != ':')
    fz_die("%s: message \"%s\" does not start with \"%s:\"", call, m->text, name);
}

static void fz_message_reset(fa_message *m) {
  memset(m->text, 'x', sizeof m->text);
  fz_message_text = m->text;
}

static void describe_allowed(uint32_t allowed, char *buf, size_t len) {
  int s;
  size_t n = 0;
  buf[0] = '\0';
  for (s = 0; s < 32 && n < len; ++s)
    if (allowed & BIT(s))
      n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "|" : "", fa_status_string((fa_status)s));
  if (allowed == 0)
    snprintf(buf, len, "FA_OK");
}

/* The status agrees with the model. */
static void check_verdict(const char *call, const fz_call *c, uint32_t allowed, fa_status st) {
  char want[512];
  check_status_known(st);
  if (c->ambiguous && (st == FA_OK || st == FA_ERR_OVERFLOW))
    return;
  if (allowed == 0 && st != FA_OK && (c->may_reject & BIT(st)))
    return;
  if (allowed != 0) {
    allowed |= c->may_reject;
    if (st == FA_OK || !(allowed & BIT(st))) {
      describe_allowed(allowed, want, sizeof want);
      fz_die("%s returned %s; the contract allows only %s", call, fa_status_string(st), want);
    }
    return;
  }
  if (c->no_kernel) {
    if (st != FA_ERR_NO_KERNEL)
      fz_die("%s returned %s for a combination without a kernel (expected FA_ERR_NO_KERNEL)", call,
             fa_status_string(st));
    return;
  }
  if (st != FA_OK)
    fz_die("%s returned %s for a valid call", call, fa_status_string(st));
}

/* ------------------------------------------------------------ building a call */

static void place_tensor(fz_tensor *t, int64_t elems, int fits) {
  const size_t shift = t->ptr.kind == PTR_SHIFT ? t->ptr.shift : 0;
  t->bytes = (fits ? (size_t)elems * 2 : 64) + shift;
  t->base = (uint16_t *)fz_alloc(t->bytes);
  memset(t->base, 0xFF, t->bytes); /* NaN in fp16 and bf16 */
  t->arg = t->ptr.kind == PTR_NULL ? NULL : (const void *)((char *)t->base + shift);
}

/* Small host arrays: allocated with exactly n entries (+ the pointer shift). */
static void *place_small(fz_ptr_mode m, int64_t n, size_t elem, void **alloc, size_t *bytes_out) {
  const size_t shift = m.kind == PTR_SHIFT ? m.shift : 0;
  const size_t bytes = small_bytes(n, elem) + shift;
  *alloc = fz_alloc(bytes);
  memset(*alloc, 0xFF, bytes ? bytes : 1);
  if (bytes_out)
    *bytes_out = bytes;
  return m.kind == PTR_NULL ? NULL : (char *)*alloc + shift;
}

static void free_call(fz_call *c) {
  int i;
  for (i = 0; i < N_TENSORS; ++i)
    free(c->t[i].base);
  free(c->cu_alloc[0]);
  free(c->cu_alloc[1]);
  free(c->seqused_alloc);
  free(c->sinks_alloc);
  free(c->lse_alloc);
  free(c->seqused);
  free(c->sinks);
  free(c->ctx);
  free(c->ws_alloc);
  free(c->table);
  free(c->table_alloc);
  free(c->p_copy);
}

static void fill_row(fz_call *c, const fz_tensor *t, int64_t at) {
  uint16_t *row = (uint16_t *)t->arg + at;
  int e;
  for (e = 0; e < c->p.head_dim; ++e)
    row[e] = fz_value(&c->fill, c->p.dtype);
}

/* Fill the rows a valid call reads (all others stay NaN): q, the cache rows
 * before any append, and the appended rows. */
static void fill_inputs(fz_call *c) {
  const fa_fwd_params *p = &c->p;
  const int attend = c->op != OP_APPEND_KV;
  int32_t b;
  int64_t i, h;
  int which, e;
  for (b = 0; b < p->batch; ++b) {
    const fz_seq s = seq_of(c, b);
    const int64_t cached = s.lk - (c->append ? s.lq : 0);
    for (i = 0; i < s.lq && attend; ++i)
      for (h = 0; h < p->num_heads_q; ++h)
        fill_row(c, &c->t[T_Q], elem_offset(&c->t[T_Q], b, s.q0 + i, h));
    for (which = T_K; which <= T_V; ++which)
      for (i = 0; i < cached; ++i)
        for (h = 0; h < p->num_heads_k; ++h)
          fill_row(c, &c->t[which], kv_offset(c, &c->t[which], b, &s, i, h));
    for (which = T_K_NEW; which <= T_V_NEW && c->append; ++which)
      for (i = 0; i < s.lq; ++i)
        for (h = 0; h < p->num_heads_k; ++h)
          fill_row(c, &c->t[which], elem_offset(&c->t[which], b, s.q0 + i, h));
  }
  /* Sprinkle specials at input-chosen places among the elements read (with
   * an append, bit 3 of the tensor byte moves a K or V special into the new rows). */
  for (e = 0; e < c->fill.n_special; ++e) {
    const int t = (int)(c->fill.special_tensor[e] % 3);
    const int fresh = c->append && t != T_Q && (c->fill.special_tensor[e] & 8);
    const int32_t bb = (int32_t)(c->fill.special_at[e] % (unsigned)p->batch);
    const fz_seq s = seq_of(c, bb);
    const int64_t rows = t == T_Q ? (attend ? s.lq : 0) : fresh ? s.lq : s.lk - (c->append ? s.lq : 0);
    const int64_t heads = t == T_Q ? p->num_heads_q : p->num_heads_k;
    if (rows > 0) {
      const unsigned at = c->fill.special_at[e] / 7u;
      const int64_t r = (int64_t)(at % (unsigned)rows), hh = (int64_t)((at / 3u) % (unsigned)heads);
      const fz_tensor *tt = &c->t[fresh ? t + 3 : t];
      const int64_t off = t == T_Q || fresh ? elem_offset(tt, bb, s.q0 + r, hh) : kv_offset(c, tt, bb, &s, r, hh);
      ((uint16_t *)tt->arg)[off + (at / 5u) % (unsigned)p->head_dim] =
          fz_encode(c->fill.special_value[e], p->dtype);
    }
  }
  if (c->sinks != NULL) {
    for (h = 0; h < p->num_heads_q; ++h)
      c->sinks[h] = c->fill.mode == 7 ? (float)(fz_normal(&c->fill.rng) * 40.0) : (float)fz_normal(&c->fill.rng);
    memcpy(c->sinks_arg, c->sinks, small_bytes(p->num_heads_q, 4));
  }
}

/* Snapshot of a buffer, to prove it unchanged. */
typedef struct fz_snap {
  const char *name;
  const void *at;
  size_t bytes;
  void *copy;
} fz_snap;

static void snap_take(fz_snap *s, const char *name, const void *at, size_t bytes) {
  s->name = name;
  s->at = at;
  s->bytes = at != NULL ? bytes : 0;
  s->copy = fz_alloc(s->bytes);
  if (s->bytes)
    memcpy(s->copy, at, s->bytes);
}

static int snap_same(const fz_snap *s) { return s->bytes == 0 || memcmp(s->copy, s->at, s->bytes) == 0; }

/* ------------------------------------------------------------ results of a valid run */

static double row_max_abs(const uint16_t *row, int d, fa_dtype dt, int *finite) {
  double m = 0.0;
  int e;
  for (e = 0; e < d; ++e) {
    const double x = fz_decode(row[e], dt);
    if (!isfinite(x))
      *finite = 0;
    else if (fabs(x) > m)
      m = fabs(x);
  }
  return m;
}

/* Bytes of out (in elements) and lse that a valid call owns. K and V are
 * read as they are after the call: with an append, check_cache proves
 * them right first. */
static void check_results(const fz_call *c, const uint16_t *out_before, const float *lse_before) {
  const fa_fwd_params *p = &c->p;
  const fz_tensor *tq = &c->t[0], *tk = &c->t[1], *tv = &c->t[2], *to = &c->t[3];
  const int d = p->head_dim;
  const fa_dtype dt = p->dtype;
  const int64_t out_elems = (int64_t)(to->bytes / 2);
  const int64_t out_shift = (const uint16_t *)to->arg - to->base;
  unsigned char *owned = (unsigned char *)calloc((size_t)out_elems + 1, 1);
  unsigned char *lse_owned = (unsigned char *)calloc(c->lse_bytes / 4 + 1, 1);
  const int64_t lse_shift = c->lse != NULL ? (int64_t)(((char *)c->lse - (char *)c->lse_alloc) / 4) : 0;
  double *s = NULL, *ref = (double *)malloc(sizeof(double) * (size_t)d);
  const double scale = p->scale != 0.f ? (double)p->scale : 1.0 / sqrt((double)d);
  const double q_mul = fabs(p->softcap > 0.f ? scale / (double)p->softcap : scale * FZ_LOG2E);
  const double ulp = dt == FA_DTYPE_BF16 ? 1.0 / 256 : 1.0 / 2048;
  int64_t max_lk = 1, e;
  int32_t b;
  int64_t i, h;
  if (owned == NULL || lse_owned == NULL || ref == NULL)
    fz_die("out of memory");

  /* How many (row, head)s own each element: overlapping views are legal
   * (some write wins), but then that row's values are not checked. */
  for (b = 0; b < p->batch; ++b) {
    const fz_seq sq = seq_of(c, b);
    if (sq.lk > max_lk)
      max_lk = sq.lk;
    for (i = 0; i < sq.lq; ++i)
      for (h = 0; h < p->num_heads_q; ++h) {
        const int64_t at = out_shift + elem_offset(to, b, sq.q0 + i, h);
        int k;
        for (k = 0; k < d; ++k)
          owned[at + k] = owned[at + k] < 2 ? (unsigned char)(owned[at + k] + 1) : 2;
        if (c->lse != NULL) {
          const int64_t li = c->varlen_q ? h * p->total_q + sq.q0 + i
                                       : ((int64_t)b * p->num_heads_q + h) * p->max_seqlen_q + i;
          if (lse_owned[lse_shift + li])
            fz_die("two rows map to lse element %lld", (long long)li);
          lse_owned[lse_shift + li] = 1;
        }
      }
  }
  /* Everything else is untouched. */
  {
    const uint16_t *now = to->base;
    for (e = 0; e < out_elems; ++e)
      if (!owned[e] && now[e] != out_before[e])
        fz_die("out element %lld (byte %lld of the buffer), outside every row the call owns, was written",
               (long long)(e - out_shift), (long long)(2 * e));
    if (c->lse != NULL)
      for (e = 0; e < (int64_t)(c->lse_bytes / 4); ++e)
        if (!lse_owned[e] && memcmp(&((float *)c->lse_alloc)[e], &lse_before[e], 4) != 0)
          fz_die("lse element %lld, outside every row, was written", (long long)(e - lse_shift));
  }

  s = (double *)malloc(sizeof(double) * (size_t)max_lk);
  if (s == NULL)
    fz_die("out of memory");
  for (b = 0; b < p->batch; ++b) {
    const fz_seq sq = seq_of(c, b);
    for (i = 0; i < sq.lq; ++i)
      for (h = 0; h < p->num_heads_q; ++h) {
        const int64_t hk = h / (p->num_heads_q / p->num_heads_k);
        const uint16_t *qrow = (const uint16_t *)tq->arg + elem_offset(tq, b, sq.q0 + i, h);
        const uint16_t *orow = (const uint16_t *)to->arg + elem_offset(to, b, sq.q0 + i, h);
        const float *sink = c->sinks != NULL ? &c->sinks[h] : NULL;
        float lse_got = 0.f;
        int64_t lo, hi, j;
        int finite = 1, shared = 0, k;
        double qmax, kmax = 0.0, vmax = 0.0, mx = -INFINITY, denom = 0.0, lse_want, err_s = 0.0;
        visible(p, &sq, i, &lo, &hi);
        for (k = 0; k < d; ++k)
          shared |= owned[out_shift + elem_offset(to, b, sq.q0 + i, h) + k] > 1;
        if (c->lse != NULL) {
          const int64_t li = c->varlen_q ? h * p->total_q + sq.q0 + i
                                       : ((int64_t)b * p->num_heads_q + h) * p->max_seqlen_q + i;
          lse_got = c->lse[li];
        }
        if (hi <= lo) { /* sees no key: zeros, lse -inf or the sink */
          if (!shared)
            for (k = 0; k < d; ++k)
              if (fz_decode(orow[k], dt) != 0.0)
                fz_die("seq %d row %lld head %lld sees no key but out[%d] = %g", b, (long long)i, (long long)h, k,
                       fz_decode(orow[k], dt));
          if (c->lse != NULL && sink == NULL && !(isinf(lse_got) && lse_got < 0))
            fz_die("seq %d row %lld head %lld sees no key but lse = %g (expected -inf)", b, (long long)i,
                   (long long)h, (double)lse_got);
          if (c->lse != NULL && sink != NULL && isfinite(*sink) &&
              !(fabs((double)lse_got - (double)*sink) <= 1e-5 * (1.0 + fabs((double)*sink))))
            fz_die("seq %d row %lld head %lld sees only the sink %g but lse = %g", b, (long long)i, (long long)h,
                   (double)*sink, (double)lse_got);
          continue;
        }
        /* Does this row read only finite inputs, without fp32 overflow? */
        qmax = row_max_abs(qrow, d, dt, &finite);
        for (j = lo; j < hi && finite; ++j) {
          const uint16_t *krow = (const uint16_t *)tk->arg + kv_offset(c, tk, b, &sq, j, hk);
          const uint16_t *vrow = (const uint16_t *)tv->arg + kv_offset(c, tv, b, &sq, j, hk);
          double dot = 0.0, mag = 0.0;
          const double km = row_max_abs(krow, d, dt, &finite), vm = row_max_abs(vrow, d, dt, &finite);
          if (km > kmax)
            kmax = km;
          if (vm > vmax)
            vmax = vm;
          if (!finite)
            break;
          for (k = 0; k < d; ++k) {
            const double a = fz_decode(qrow[k], dt), bk = fz_decode(krow[k], dt);
            dot += a * bk;
            mag += fabs(a * bk);
          }
          s[j - lo] = scale * dot;
          if (p->softcap > 0.f)
            s[j - lo] = (double)p->softcap * tanh(s[j - lo] / (double)p->softcap);
          /* fp32 error bound of the score (nats): dot product rounding. */
          {
            const double es = fabs(scale) * mag * (double)(d + 8) * 1.2e-7;
            if (es > err_s)
              err_s = es;
          }
          if (s[j - lo] > mx)
            mx = s[j - lo];
          if (!(mag < 1e30) || !(mag * q_mul < 1e30))
            finite = 0; /* the fp32 dot product of q and k, or the score scaled from it, may overflow: not promised */
        }
        if (sink != NULL && !isfinite(*sink))
          finite = 0;
        /* Every backend computes the dot product of q and k in fp32 and
         * then scales it (scale * log2(e), or scale / softcap): the raw
         * products (above) and the scaled q-sized terms must be
         * representable. */
        if (!(qmax * q_mul < 1e30) || !(kmax < 1e30) || !((double)(hi - lo) * vmax < 1e30))
          finite = 0;
        if (!finite)
          continue;
        for (k = 0; k < d && !shared; ++k)
          if (!isfinite(fz_decode(orow[k], dt)))
            fz_die("seq %d row %lld head %lld reads only finite inputs, but out[%d] = %g", b, (long long)i,
                   (long long)h, k, fz_decode(orow[k], dt));
        if (c->lse != NULL && !isfinite(lse_got))
          fz_die("seq %d row %lld head %lld reads only finite inputs, but lse = %g", b, (long long)i, (long long)h,
                 (double)lse_got);
        if (shared)
          continue;
        /* Double reference of this row. */
        if (sink != NULL && *sink > mx)
          mx = *sink;
        for (k = 0; k < d; ++k)
          ref[k] = 0.0;
        for (j = lo; j < hi; ++j) {
          const uint16_t *vrow = (const uint16_t *)tv->arg + kv_offset(c, tv, b, &sq, j, hk);
          const double w = exp(s[j - lo] - mx);
          denom += w;
          for (k = 0; k < d; ++k)
            ref[k] += w * fz_decode(vrow[k], dt);
        }
        if (sink != NULL)
          denom += exp((double)*sink - mx);
        lse_want = mx + log(denom);
        {
          /* Rounding to storage, fp32 weights, score errors (both ends). */
          const double tol = vmax * (ulp + 4.0 * err_s + 1e-5) + 1e-6;
          for (k = 0; k < d; ++k) {
            const double want = ref[k] / denom, got = fz_decode(orow[k], dt);
            if (!(fabs(got - want) <= tol + ulp * fabs(want)))
              fz_die("seq %d row %lld head %lld: out[%d] = %.9g, reference %.9g (tol %.3g; %lld keys)", b,
                     (long long)i, (long long)h, k, got, want, tol, (long long)(hi - lo));
          }
        }
        if (c->lse != NULL && !(fabs((double)lse_got - lse_want) <= 2.0 * err_s + 1e-5 * (1.0 + fabs(lse_want))))
          fz_die("seq %d row %lld head %lld: lse = %.9g, reference %.9g", b, (long long)i, (long long)h,
                 (double)lse_got, lse_want);
      }
  }
  free(s);
  free(ref);
  free(owned);
  free(lse_owned);
}

/* After a successful append: the rows at positions seqused_k[b] ..
 * seqused_k[b] + Lq - 1 of each sequence hold k_new / v_new, and every
 * other byte of the cache is as before (pages of other sequences, rows past
 * the lengths, stride gaps). An element that two writes hit (a page shared
 * by two sequences, overlapping views) may hold either: it is not compared. */
static void check_cache(const fz_call *c, const fz_snap *before_k, const fz_snap *before_v) {
  const fa_fwd_params *p = &c->p;
  const fz_snap *before[2] = {before_k, before_v};
  int which;
  for (which = 0; which < 2; ++which) {
    const fz_tensor *tc = &c->t[T_K + which], *tn = &c->t[T_K_NEW + which];
    const int64_t n = (int64_t)(tc->bytes / 2), shift = (const uint16_t *)tc->arg - tc->base;
    uint16_t *expect = (uint16_t *)fz_alloc((size_t)n * 2);
    unsigned char *writes = (unsigned char *)calloc((size_t)n + 1, 1);
    int32_t b;
    int64_t i, h, e;
    if (writes == NULL)
      fz_die("out of memory");
    memcpy(expect, before[which]->copy, (size_t)n * 2);
    for (b = 0; b < p->batch; ++b) {
      const fz_seq s = seq_of(c, b);
      for (i = 0; i < s.lq; ++i)
        for (h = 0; h < p->num_heads_k; ++h) {
          const int64_t at = shift + kv_offset(c, tc, b, &s, s.lk - s.lq + i, h);
          const uint16_t *src = (const uint16_t *)tn->arg + elem_offset(tn, b, s.q0 + i, h);
          for (e = 0; e < p->head_dim; ++e) {
            expect[at + e] = src[e];
            writes[at + e] = writes[at + e] < 2 ? (unsigned char)(writes[at + e] + 1) : 2;
          }
        }
    }
    for (e = 0; e < n; ++e)
      if (writes[e] < 2 && tc->base[e] != expect[e])
        fz_die("%s element %lld (byte %lld of the buffer) is 0x%04x, expected 0x%04x (%s)", tc->name,
               (long long)(e - shift), (long long)(2 * e), tc->base[e], expect[e],
               writes[e] ? "an appended row" : "outside the appended rows: must be unchanged");
    free(expect);
    free(writes);
  }
}

/* ------------------------------------------------------------ the forward ops */

/* A context for a call of backend *backend, selected by t: none below
 * 0xC0; else a CPU context from fa_context_init, intact or broken (never
 * initialized, a newer header's size, another backend, used on a CUDA call:
 * *backend becomes CUDA). A heap block of exactly sizeof(fa_context). */
static fa_context *fz_context(fz_in *in, unsigned t, fa_backend *backend) {
  fa_context x;
  fa_message m;
  fa_status st;
  if (t < 0xC0)
    return NULL;
  memset(&x, 0x5A, sizeof x);
  fz_message_reset(&m);
  st = fa_context_init(&x, FA_BACKEND_CPU, (int)(t & 3) - 1, &m); /* the device is ignored on the CPU */
  if (st != FA_OK || m.text[0] != '\0' || x.struct_size != sizeof x || x.backend != FA_BACKEND_CPU ||
      x.device != -1 || x.arch != 0 || x.sm_count != 0 || x.tensor_map_encode != NULL)
    fz_die("fa_context_init(CPU) returned %s \"%.80s\" or an inconsistent context", fa_status_string(st), m.text);
  if (t >= 0xE0)
    switch (t & 7) {
      case 0: x.struct_size = 0; break; /* zeroed, never initialized */
      case 1: x.struct_size += 8; break; /* from a newer header */
      case 2: x.struct_size = fz_u32(in); break;
      case 3: *backend = FA_BACKEND_CUDA; break; /* a CPU context on a CUDA call */
      case 4: x.backend = FA_BACKEND_CUDA, x.device = 0, x.arch = 90; break; /* a CUDA one on this call */
      case 5: x.backend = (fa_backend)(int32_t)fz_u32(in); break;
      case 6: x.struct_size -= 8; break;
      default: memset(&x, 0xA5, sizeof x); break; /* uninitialized memory */
    }
  return (fa_context *)fz_exact_copy(&x, sizeof x);
}

/* The fields of 0.2, decoded after all others: struct_size, then the
 * context, then the workspace. A byte past the end of the input reads 0:
 * a known size, no context, no workspace. */
static void decode_v02(fz_in *in, fz_call *c) {
  fa_fwd_params *p = &c->p;
  unsigned t;
  c->v02_left = in->n;
  p->struct_size = fz_struct_size(in, sizeof *p);

  t = fz_u8(in);
  c->ctx_mode = t;
  c->ctx = fz_context(in, t, &p->backend);
  p->context = c->ctx;

  /* Workspace: mostly none; else NULL with bytes, misaligned, or aligned
   * (ignored: no kernel needs one yet). 0xB0-0xBF: none, and
   * fa_fwd_workspace_size gets bytes == NULL. */
  t = fz_u8(in);
  c->ws_size_null = t >= 0xB0 && t < 0xC0;
  if (t >= 0xC0) {
    size_t shift = 0, bytes = 256;
    int null = 0;
    switch (t & 7) {
      case 0: null = 1, bytes = 1 + (size_t)fz_u8(in); break;
      case 1: null = 1, bytes = SIZE_MAX; break;
      case 2: shift = 1 + (size_t)fz_u8(in) % 255, bytes = 64; break;
      case 3: shift = 16, bytes = 64; break; /* aligned for vectors, not to 256 */
      case 4: bytes = 0; break;
      case 5: bytes = 256; break;
      case 6: bytes = 16 * (1 + (size_t)fz_u8(in)); break;
      default: shift = 128, bytes = 0; break; /* misaligned, even with 0 bytes */
    }
    p->workspace_bytes = bytes;
    if (!null) {
      c->ws_alloc_bytes = shift + bytes;
      if (posix_memalign(&c->ws_alloc, 256, c->ws_alloc_bytes ? c->ws_alloc_bytes : 1) != 0)
        fz_die("out of memory (%zu bytes)", c->ws_alloc_bytes);
      memset(c->ws_alloc, 0x5A, c->ws_alloc_bytes);
      p->workspace = (char *)c->ws_alloc + shift;
    }
  }
}

/* Page sizes: 1, small odd ones, the usual 16, and pages larger than any
 * sequence the harness makes; or hostile. */
static int32_t fz_page_size(fz_in *in) {
  static const int32_t sizes[8] = {1, 2, 3, 4, 7, 16, 64, 256};
  const unsigned t = fz_u8(in);
  if (t < 0xC0)
    return sizes[t % 8];
  switch (t & 7) {
    case 0: return 0;
    case 1: return -1;
    case 2: return INT32_MAX;
    case 3: return 1 << 16;
    case 4: return (int32_t)fz_u32(in);
    case 5: return INT32_MIN;
    case 6: return 1 << 30;
    default: return 5;
  }
}

/* block_table_stride: 0 (= max_pages_per_seq) most of the time; padded rows;
 * or hostile (narrower than a row, negative, huge). */
static int64_t fz_table_stride(fz_in *in, int32_t max_pages) {
  const unsigned t = fz_u8(in);
  if (t < 0xA0)
    return 0;
  if (t < 0xC0)
    return (int64_t)max_pages + (int64_t)(t % 4);
  switch (t & 7) {
    case 0: return (int64_t)max_pages - 1;
    case 1: return -1;
    case 2: return INT64_MAX;
    case 3: return FZ_LIMIT;
    case 4: return (int64_t)fz_u64(in);
    case 5: return (int64_t)1 << 40;
    case 6: return INT64_MIN;
    default: return 1;
  }
}

/* num_pages, given the table columns the sequences need: a pool with room
 * for distinct pages, a smaller one (pages shared), or hostile. */
static int64_t fz_num_pages(fz_in *in, int64_t columns) {
  const unsigned t = fz_u8(in);
  if (t < 0x80)
    return columns + (int64_t)(t % 4);
  if (t < 0xC0)
    return 1 + (int64_t)(t % (unsigned)columns);
  switch (t & 7) {
    case 0: return 0;
    case 1: return -1;
    case 2: return INT64_MAX;
    case 3: return (int64_t)INT32_MAX + 1;
    case 4: return FZ_LIMIT;
    case 5: return (int64_t)fz_u64(in);
    case 6: return INT64_MIN;
    default: return 1;
  }
}

/* The block table's entries: the columns that hold a sequence's keys get
 * pages of the pool (distinct, random, in order or reversed, so pages are
 * shared when the pool is small); every other entry (columns past the last
 * page, row padding) holds garbage or a page; sometimes one used column
 * holds an id outside the pool. */
static void fill_table(fz_in *in, fz_call *c, int append) {
  const fa_fwd_params *p = &c->p;
  const unsigned mode = fz_u8(in);
  const int64_t pool = p->num_pages >= 1 && p->num_pages <= INT32_MAX ? p->num_pages : INT32_MAX;
  const int64_t stride = table_stride_of(p);
  int64_t *perm = NULL, e, used_cols = 0;
  fz_rng rng;
  int32_t b;
  rng.s = fz_u64(in);
  for (e = 0; e < c->table_n; ++e)
    c->table[e] = (mode & 4) ? (int32_t)fz_next(&rng) : (int32_t)(fz_next(&rng) % (uint64_t)pool);
  if ((mode & 3) == 0 && pool <= 4096) { /* distinct pages, shuffled */
    perm = (int64_t *)fz_alloc((size_t)pool * 8);
    for (e = 0; e < pool; ++e)
      perm[e] = e;
    for (e = pool - 1; e > 0; --e) {
      const int64_t j = (int64_t)(fz_next(&rng) % (uint64_t)(e + 1)), tmp = perm[e];
      perm[e] = perm[j], perm[j] = tmp;
    }
  }
  for (b = 0; b < p->batch; ++b) {
    const int64_t cap = (int64_t)p->max_pages_per_seq * p->page_size;
    int64_t used = c->seqused != NULL ? (int64_t)c->seqused[b] + (append ? len_q_of(c, b) : 0) : 0, col;
    used = used < 0 ? 0 : used > cap ? cap : used;
    for (col = 0; col < (used + p->page_size - 1) / p->page_size; ++col, ++used_cols) {
      int64_t page;
      switch (mode & 3) {
        case 0: page = perm != NULL ? perm[used_cols % pool] : (int64_t)(fz_next(&rng) % (uint64_t)pool); break;
        case 1: page = (int64_t)(fz_next(&rng) % (uint64_t)pool); break;
        case 2: page = used_cols % pool; break;
        default: page = pool - 1 - used_cols % pool; break;
      }
      c->table[(int64_t)b * stride + col] = (int32_t)page;
    }
  }
  if ((mode & 0xF0) == 0xF0 && used_cols > 0 && c->seqused != NULL) { /* one page id outside the pool */
    const int64_t bad[4] = {-1, pool, INT32_MAX, INT32_MIN};
    int64_t k = (int64_t)(fz_u8(in) % (unsigned)(used_cols < 256 ? used_cols : 256));
    for (b = 0; b < p->batch; ++b) {
      const int64_t cap = (int64_t)p->max_pages_per_seq * p->page_size;
      int64_t used = (int64_t)c->seqused[b] + (append ? len_q_of(c, b) : 0);
      used = used < 0 ? 0 : used > cap ? cap : used;
      if (k < (used + p->page_size - 1) / p->page_size) {
        c->table[(int64_t)b * stride + k] = (int32_t)bad[(mode >> 2) & 3];
        break;
      }
      k -= (used + p->page_size - 1) / p->page_size;
    }
  }
  free(perm);
}

/* The fields of 0.3, decoded after those of 0.2 (a missing byte reads 0:
 * no paged cache, no append, num_splits 0, the struct's own size). The
 * first byte: bit 0 a paged cache, bit 1 an append, bit 2 num_splits,
 * bits 3-4 struct_size = the 0.2 size (old_layout 1-3). With a cache or an
 * append, seqused_k is decoded again here, for the capacity of the cache. */
static void decode_v03(fz_in *in, fz_call *c) {
  fa_fwd_params *p = &c->p;
  const unsigned mode = fz_u8(in);
  const int paged = mode & 1, append = (mode >> 1) & 1;
  const int64_t d = p->head_dim, hk = p->num_heads_k;
  const int batch_ok = p->batch >= 1 && p->batch <= FZ_MAX_SMALL; /* seqused_k can be passed */
  int32_t b;
  int i;
  c->v03_mode = mode;
  c->table_ptr.kind = PTR_NULL;
  /* Room for the new rows: max_seqlen_k again, above the longest query. */
  if (batch_ok && (paged || (append && p->cu_seqlens_k == NULL))) {
    int64_t lo = 0;
    for (b = 0; b < p->batch && append; ++b) {
      const int64_t lq = c->cu[0] != NULL ? (int64_t)c->cu[0][b + 1] - c->cu[0][b] : p->max_seqlen_q;
      lo = lq > lo ? lq : lo;
    }
    lo = lo < 0 ? 0 : lo > 1000 ? 1000 : lo;
    p->max_seqlen_k = fz_i32(in, (int32_t)lo, (int32_t)lo + 47);
  }
  if (paged) {
    int64_t need, columns;
    p->page_size = fz_page_size(in);
    need = p->page_size >= 1 && p->max_seqlen_k >= 0 ? ((int64_t)p->max_seqlen_k + p->page_size - 1) / p->page_size : 1;
    need = need < 1 ? 1 : need > 4096 ? 4096 : need;
    p->max_pages_per_seq = fz_i32(in, (int32_t)need, (int32_t)need + 3);
    p->block_table_stride = fz_table_stride(in, p->max_pages_per_seq);
    columns = p->batch >= 1 && p->batch <= 4096 / need ? need * p->batch : 4096;
    p->num_pages = fz_num_pages(in, columns);
    c->table_ptr = fz_ptr(in, 4);
    /* cu_seqlens_k must go with a table: dropped, but sometimes kept. */
    if (p->cu_seqlens_k != NULL && fz_u8(in) < 0xF0) {
      p->cu_seqlens_k = NULL;
      c->cu[1] = NULL;
    }
    /* The pages' strides: head, row (token), batch (page) of k, then v. */
    for (i = T_K; i <= T_V; ++i) {
      int64_t *given[3] = {i == T_K ? &p->k_head_stride : &p->v_head_stride,
                           i == T_K ? &p->k_row_stride : &p->v_row_stride,
                           i == T_K ? &p->k_batch_stride : &p->v_batch_stride};
      int64_t hs, rs;
      *given[0] = fz_stride(in, d);
      hs = *given[0] != 0 ? *given[0] : d;
      *given[1] = fz_stride(in, sat_mul(hk, hs));
      rs = *given[1] != 0 ? *given[1] : sat_mul(hk, d);
      *given[2] = fz_stride(in, sat_mul(p->page_size, rs));
    }
  }
  if (append) { /* k_new, v_new: laid out as q, with num_heads_k heads */
    for (i = T_K_NEW; i <= T_V_NEW; ++i) {
      int64_t *given[3] = {i == T_K_NEW ? &p->k_new_head_stride : &p->v_new_head_stride,
                           i == T_K_NEW ? &p->k_new_row_stride : &p->v_new_row_stride,
                           i == T_K_NEW ? &p->k_new_batch_stride : &p->v_new_batch_stride};
      int64_t hs, rs;
      c->t[i].present = 1;
      c->t[i].ptr = fz_ptr(in, 16);
      *given[0] = fz_stride(in, d);
      hs = *given[0] != 0 ? *given[0] : d;
      *given[1] = fz_stride(in, sat_mul(hk, hs));
      rs = *given[1] != 0 ? *given[1] : sat_mul(hk, d);
      *given[2] = p->cu_seqlens_q != NULL && fz_u8(in) < 0xF0 ? 0 : fz_stride(in, sat_mul(p->max_seqlen_q, rs));
    }
  }
  if ((paged || append) && batch_ok) { /* seqused_k: the cache lengths before the append */
    free(c->seqused_alloc);
    free(c->seqused);
    c->seqused_alloc = NULL, c->seqused = NULL, p->seqused_k = NULL;
    c->seqused_ptr = fz_ptr(in, 4);
    if (c->seqused_ptr.kind != PTR_NULL) {
      c->seqused_arg = place_small(c->seqused_ptr, p->batch, 4, &c->seqused_alloc, NULL);
      c->seqused = (int32_t *)fz_alloc(small_bytes(p->batch, 4));
      for (b = 0; b < p->batch; ++b) {
        const int64_t lq = c->cu[0] != NULL ? (int64_t)c->cu[0][b + 1] - c->cu[0][b] : p->max_seqlen_q;
        int64_t cap = c->cu[1] != NULL ? (int64_t)c->cu[1][b + 1] - c->cu[1][b] : p->max_seqlen_k;
        if (paged && p->page_size >= 1 && p->max_pages_per_seq >= 1 &&
            (int64_t)p->max_pages_per_seq * p->page_size < cap)
          cap = (int64_t)p->max_pages_per_seq * p->page_size;
        cap -= append ? lq : 0;
        c->seqused[b] = fz_i32(in, 0, (int32_t)(cap < 0 ? 0 : (cap > 1000 ? 1000 : cap)));
      }
      memcpy(c->seqused_arg, c->seqused, small_bytes(p->batch, 4));
      p->seqused_k = (const int32_t *)c->seqused_arg;
    }
  }
  if (paged) { /* the table: the contract's extent when it fits, else a stub */
    const int64_t stride = table_stride_of(p);
    c->table_n = p->max_pages_per_seq >= 1 && stride >= p->max_pages_per_seq
                     ? sat_add(sat_mul((int64_t)p->batch - 1, stride), p->max_pages_per_seq)
                     : 0;
    c->table_fits = c->table_n >= 1 && c->table_n <= FZ_MAX_TABLE && p->page_size >= 1;
    if (!c->table_fits)
      c->table_n = 64;
    c->table_arg = place_small(c->table_ptr, c->table_n, 4, &c->table_alloc, &c->table_bytes);
    c->table = (int32_t *)fz_alloc(small_bytes(c->table_n, 4));
    memset(c->table, 0xFF, small_bytes(c->table_n, 4));
    if (c->table_fits)
      fill_table(in, c, append);
    if (c->table_arg != NULL)
      memcpy(c->table_arg, c->table, small_bytes(c->table_n, 4));
    p->block_table = (const int32_t *)c->table_arg;
  }
  if (mode & 4)
    p->num_splits = fz_i32(in, 0, FA_MAX_SPLITS);
  /* A caller of 0.2: struct_size 272, and past it the 0.3 fields as
   * decoded, a struct of 272 bytes, or garbage. The model sees defaults. */
  c->old_layout = (int)((mode >> 3) & 3);
  if (c->old_layout != 0 && p->struct_size == sizeof *p)
    p->struct_size = FA_FWD_PARAMS_SIZE_V0_2;
  if (p->struct_size != FA_FWD_PARAMS_SIZE_V0_2) {
    c->old_layout = 0;
  } else {
    const fa_fwd_params def = fa_fwd_params_default();
    if (c->old_layout == 0) /* a random struct_size that happens to be 272 */
      c->old_layout = 1;
    if (c->old_layout == 3)
      c->garbage_seed = fz_u64(in);
    c->full = *p;
    memcpy((char *)p + FA_FWD_PARAMS_SIZE_V0_2, (const char *)&def + FA_FWD_PARAMS_SIZE_V0_2,
           sizeof *p - FA_FWD_PARAMS_SIZE_V0_2);
    c->t[T_K_NEW].present = c->t[T_V_NEW].present = 0;
    c->table_ptr.kind = PTR_NULL;
  }
}

/* The table's head dims, each once, in table order (at most 64). */
static size_t table_head_dims(int32_t dims[64]) {
  size_t n = 0, i, j;
  for (i = 0; i < fa_kernel_count() && n < 64; ++i) {
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    if (fa_kernel_info_get(i, &info) != FA_OK)
      continue;
    for (j = 0; j < n && dims[j] != info.head_dim; ++j) {
    }
    if (j == n)
      dims[n++] = info.head_dim;
  }
  return n;
}

static void decode_fwd(fz_in *in, fz_call *c, int op) {
  fa_fwd_params *p = &c->p;
  const unsigned flags = fz_u8(in);
  size_t n_dims = 0;
  int32_t dims[64];
  int32_t lens_q[64], lens_k[64];
  int32_t b;
  size_t i;
  memset(c, 0, sizeof *c);
  c->op = op;
  *p = fa_fwd_params_default();
  c->varlen = flags & 1;
  c->message_null = (flags >> 4) & 1;
  c->params_null = ((flags >> 5) & 3) == 3 && (flags & 0x80);

  n_dims = table_head_dims(dims);
  {
    const unsigned t = fz_u8(in);
    p->backend = t < 0xF0 ? FA_BACKEND_CPU : (t < 0xF8 ? FA_BACKEND_CUDA : (fa_backend)(int32_t)fz_u32(in));
  }
  {
    const unsigned t = fz_u8(in);
    p->dtype = t < 0xF0 ? ((t & 1) ? FA_DTYPE_FP16 : FA_DTYPE_BF16) : (fa_dtype)(int32_t)fz_u32(in);
  }
  p->batch = fz_i32(in, 1, 4);
  p->num_heads_k = fz_i32(in, 1, 3);
  {
    /* A typical group size multiplies num_heads_k; a hostile value is
     * num_heads_q itself (so it need not divide). */
    const int32_t group = fz_i32(in, 1, 4);
    int32_t hq;
    if (group < 1 || group > 4 || __builtin_mul_overflow(p->num_heads_k, group, &hq))
      hq = group;
    p->num_heads_q = hq;
  }
  {
    const unsigned t = fz_u8(in);
    p->head_dim = t < 0xE0 && n_dims > 0 ? dims[t % n_dims] : fz_i32(in, 8, 520);
  }
  /* Only small tables are passed (a larger batch cannot have them). */
  if (p->batch < 1 || p->batch > 64)
    c->varlen = 0;
  if (c->varlen) {
    int64_t sum_q = 0, sum_k = 0;
    int32_t mq = 0, mk = 0;
    for (b = 0; b < p->batch; ++b) {
      lens_q[b] = (int32_t)(fz_u8(in) % 40);
      lens_k[b] = (int32_t)(fz_u8(in) % 48);
      mq = lens_q[b] > mq ? lens_q[b] : mq;
      mk = lens_k[b] > mk ? lens_k[b] : mk;
    }
    p->max_seqlen_q = fz_i32(in, mq, mq + 2);
    p->max_seqlen_k = fz_i32(in, mk, mk + 2);
    c->cu_ptr[0] = fz_ptr(in, 4);
    c->cu_ptr[1] = fz_ptr(in, 4);
    c->cu_n = (int64_t)p->batch + 1;
    {
      void *arg_q = place_small(c->cu_ptr[0], c->cu_n, 4, &c->cu_alloc[0], NULL);
      void *arg_k = place_small(c->cu_ptr[1], c->cu_n, 4, &c->cu_alloc[1], NULL);
      int32_t *cq = c->cu_vals[0], *ck = c->cu_vals[1];
      memset(c->cu_vals, 0xFF, sizeof c->cu_vals);
      c->cu[0] = arg_q != NULL ? cq : NULL;
      c->cu[1] = arg_k != NULL ? ck : NULL;
      if (arg_q != NULL && arg_k != NULL) {
        cq[0] = ck[0] = 0;
        for (b = 0; b < p->batch; ++b) {
          sum_q += lens_q[b];
          sum_k += lens_k[b];
          cq[b + 1] = (int32_t)sum_q;
          ck[b + 1] = (int32_t)sum_k;
        }
        /* Corruptions. */
        {
          const unsigned t = fz_u8(in);
          if (t >= 0xD0) {
            const int32_t at = (int32_t)(fz_u8(in) % (unsigned)(p->batch + 1));
            int32_t *arr = (t & 8) ? ck : cq;
            switch (t & 7) {
              case 0: arr[0] = 1; break;
              case 1: arr[0] = -1; break;
              case 2: arr[at] = at > 0 ? arr[at - 1] - 1 : -5; break;
              case 3: arr[at] = INT32_MAX; break;
              case 4: arr[at] = INT32_MIN; break;
              case 5: arr[p->batch] += 1 + (int32_t)(fz_u8(in) % 8); break;
              case 6: arr[at] = (int32_t)fz_u32(in); break;
              default: arr[at] += (int32_t)(fz_u8(in) % 16) - 8; break;
            }
          }
        }
      }
      if (arg_q != NULL)
        memcpy(arg_q, cq, (size_t)c->cu_n * 4);
      if (arg_k != NULL)
        memcpy(arg_k, ck, (size_t)c->cu_n * 4);
      p->cu_seqlens_q = (const int32_t *)arg_q;
      p->cu_seqlens_k = (const int32_t *)arg_k;
      c->varlen = arg_q != NULL || arg_k != NULL; /* both NULL: a dense call */
      p->total_q = fz_i64(in, sum_q);
      p->total_k = fz_i64(in, sum_k);
    }
  } else {
    p->max_seqlen_q = fz_i32(in, 0, 40);
    p->max_seqlen_k = fz_i32(in, 0, 48);
    if (fz_u8(in) >= 0xF8) /* dense with stray totals: ignored */
      p->total_q = fz_i64(in, 0), p->total_k = fz_i64(in, 0);
  }
  /* Strides, in the order head, row, batch of q, k, v, out. */
  {
    int64_t *given[4][3] = {{&p->q_head_stride, &p->q_row_stride, &p->q_batch_stride},
                            {&p->k_head_stride, &p->k_row_stride, &p->k_batch_stride},
                            {&p->v_head_stride, &p->v_row_stride, &p->v_batch_stride},
                            {&p->out_head_stride, &p->out_row_stride, &p->out_batch_stride}};
    const int32_t heads[4] = {p->num_heads_q, p->num_heads_k, p->num_heads_k, p->num_heads_q};
    const int64_t rows[4] = {p->max_seqlen_q, p->max_seqlen_k, p->max_seqlen_k, p->max_seqlen_q};
    int t;
    for (t = 0; t < 4; ++t) {
      const int64_t d = p->head_dim;
      int64_t hs, rs;
      *given[t][0] = fz_stride(in, d);
      hs = *given[t][0] != 0 ? *given[t][0] : d;
      *given[t][1] = fz_stride(in, sat_mul(heads[t], hs));
      rs = *given[t][1] != 0 ? *given[t][1] : sat_mul(heads[t], d);
      *given[t][2] = c->varlen && fz_u8(in) < 0xF0 ? 0 : fz_stride(in, sat_mul(rows[t], rs));
    }
  }
  p->scale = fz_scale(in);
  p->softcap = fz_softcap(in);
  p->window_left = fz_window(in);
  p->window_right = fz_window(in);
  for (i = 0; i < N_TENSORS; ++i) {
    static const char *const names[N_TENSORS] = {"q", "k", "v", "out", "k_new", "v_new"};
    c->t[i].name = names[i];
    c->t[i].present = i < T_K_NEW; /* the new rows: with an append (decode_v03) */
    c->t[i].ptr.kind = PTR_NULL;
    if (i < T_K_NEW)
      c->t[i].ptr = fz_ptr(in, 16);
  }
  c->lse_ptr = fz_ptr(in, 4);
  c->sinks_ptr = fz_ptr(in, 4);
  c->seqused_ptr = fz_ptr(in, 4);
  if (!(flags & 2))
    c->lse_ptr.kind = PTR_NULL;
  if (!(flags & 4) || p->num_heads_q < 1 || p->num_heads_q > FZ_MAX_SMALL)
    c->sinks_ptr.kind = PTR_NULL;
  if (!(flags & 8) || p->batch < 1 || p->batch > FZ_MAX_SMALL)
    c->seqused_ptr.kind = PTR_NULL;
  if (c->seqused_ptr.kind != PTR_NULL) {
    c->seqused_arg = place_small(c->seqused_ptr, p->batch, 4, &c->seqused_alloc, NULL);
    c->seqused = (int32_t *)fz_alloc(small_bytes(p->batch, 4));
    for (b = 0; b < p->batch; ++b) {
      const int64_t cap = c->varlen && c->cu[1] != NULL ? (int64_t)c->cu[1][b + 1] - c->cu[1][b] : p->max_seqlen_k;
      const int32_t cap32 = (int32_t)(cap < 0 ? 0 : (cap > 1000 ? 1000 : cap));
      c->seqused[b] = fz_i32(in, 0, cap32);
    }
    memcpy(c->seqused_arg, c->seqused, small_bytes(p->batch, 4));
    p->seqused_k = (const int32_t *)c->seqused_arg;
  }
  if (c->sinks_ptr.kind != PTR_NULL) {
    c->sinks_arg = place_small(c->sinks_ptr, p->num_heads_q, 4, &c->sinks_alloc, NULL);
    c->sinks = (float *)fz_alloc(small_bytes(p->num_heads_q, 4));
    memset(c->sinks, 0, small_bytes(p->num_heads_q, 4));
    memcpy(c->sinks_arg, c->sinks, small_bytes(p->num_heads_q, 4));
    p->sinks = (const float *)c->sinks_arg;
  }
  /* Values. */
  {
    static const double sigmas[4] = {1.0, 0.1, 4.0, 30.0};
    const unsigned t = fz_u8(in);
    int k;
    c->fill.mode = (int)(t % 8);
    c->fill.sigma = sigmas[t % 4];
    c->fill.rng.s = fz_u64(in);
    c->fill.n_special = c->fill.mode == 6 ? 1 + (int)(fz_u8(in) % 4) : 0;
    for (k = 0; k < c->fill.n_special; ++k) {
      const unsigned u = fz_u8(in);
      c->fill.special_tensor[k] = u;
      c->fill.special_at[k] = fz_u32(in);
      c->fill.special_value[k] = fz_special_float(in, u >> 4);
    }
  }
  if (op == 2) {
    const unsigned t = fz_u8(in);
    const fa_mask mask = fa_mask_from_window(p->window_left, p->window_right);
    if (t < 0xA0)
      c->kernel_index = cpu_kernel(p->head_dim, p->dtype, (t & 1) ? FA_MASK_LOCAL : mask);
    else if (t < 0xE0)
      c->kernel_index = (size_t)fz_u8(in) % (fa_kernel_count() + 1);
    else
      switch (t & 3) {
        case 0: c->kernel_index = SIZE_MAX; break;
        case 1: c->kernel_index = fa_kernel_count(); break;
        case 2: c->kernel_index = (size_t)fz_u64(in); break;
        default: c->kernel_index = SIZE_MAX / 2; break;
      }
    if (c->kernel_index == SIZE_MAX && t < 0xA0)
      c->kernel_index = 0;
  }
  decode_v02(in, c);
  c->v03_left = in->n;
  decode_v03(in, c);
}

/* Extra rules of fa_fwd_with_kernel: the index is in the table, and the
 * kernel matches the call's backend, head_dim, dtype and window (a local
 * kernel computes any window). */
static uint32_t model_with_kernel(const fz_call *c) {
  const fa_fwd_params *p = &c->p;
  fa_kernel_info k = FA_KERNEL_INFO_INIT;
  if (c->kernel_index >= fa_kernel_count()) /* an argument, not a field: judged whatever the struct */
    return BIT(FA_ERR_NO_KERNEL);
  if (c->params_null || !fz_fwd_size_known(p->struct_size))
    return 0;
  if (fa_kernel_info_get(c->kernel_index, &k) != FA_OK)
    fz_die("fa_kernel_info_get(%zu) failed below fa_kernel_count()", c->kernel_index);
  if (k.backend != p->backend || k.head_dim != p->head_dim || k.dtype != p->dtype ||
      (k.mask != fa_mask_from_window(p->window_left, p->window_right) && k.mask != FA_MASK_LOCAL))
    return BIT(FA_ERR_NO_KERNEL);
  if (k.backend == FA_BACKEND_CUDA)
    return BIT(FA_ERR_NO_DEVICE) | BIT(FA_ERR_UNSUPPORTED_DEVICE) | BIT(FA_ERR_INVALID_POINTER);
  return 0;
}

enum {
  SNAP_Q,
  SNAP_K,
  SNAP_V,
  SNAP_OUT,
  SNAP_K_NEW,
  SNAP_V_NEW,
  SNAP_LSE,
  SNAP_CU_Q,
  SNAP_CU_K,
  SNAP_SEQUSED,
  SNAP_SINKS,
  SNAP_PARAMS,
  SNAP_CONTEXT,
  SNAP_WORKSPACE, /* the CPU family needs none: untouched even on success */
  SNAP_TABLE,
  N_SNAPS
};

/* The struct the library gets, in a heap block of exactly the size its
 * caller's header would have: with the 0.2 size, the 0.3 fields past byte
 * FA_FWD_PARAMS_SIZE_V0_2 as decoded (which the library must ignore), no
 * bytes at all past it, or random bytes. */
static void make_params_copy(fz_call *c) {
  if (c->old_layout == 0) {
    c->p_copy_bytes = sizeof c->p;
    c->p_copy = (fa_fwd_params *)fz_exact_copy(&c->p, sizeof c->p);
    return;
  }
  {
    fa_fwd_params tmp = c->full;
    const size_t v02 = FA_FWD_PARAMS_SIZE_V0_2;
    memcpy(&tmp, &c->p, v02);
    if (c->old_layout == 3) {
      fz_rng rng;
      size_t i;
      rng.s = c->garbage_seed;
      for (i = v02; i < sizeof tmp; ++i)
        ((unsigned char *)&tmp)[i] = (unsigned char)fz_next(&rng);
    }
    c->p_copy_bytes = c->old_layout == 2 ? v02 : sizeof tmp;
    c->p_copy = (fa_fwd_params *)fz_exact_copy(&tmp, c->p_copy_bytes);
  }
}

/* fa_fwd_query_dispatch (0.4): it validates the params as fa_fwd_query
 * does (an info it cannot write, NULL or of an unknown struct_size, may be
 * rejected first), writes *info only on success, and touches nothing else.
 * On success it names fa_fwd_query's kernel; on the CPU backend that is
 * one kernel, unsplit, with no workspace (the CPU family neither pairs nor
 * splits). */
static void check_query_dispatch(const fz_call *c, const fa_fwd_params *arg, fa_status stq, size_t index,
                                 uint32_t allowed_query, const fz_snap *snaps) {
  fa_fwd_dispatch_info before, *info = NULL;
  fa_message msg;
  fa_status st;
  int i;
  memset(&before, 0xA5, sizeof before);
  before.struct_size = c->dispatch_size;
  if (!c->dispatch_info_null)
    info = (fa_fwd_dispatch_info *)fz_exact_copy(&before, sizeof before);
  fz_current = "fa_fwd_query_dispatch";
  fz_message_reset(&msg);
  st = fa_fwd_query_dispatch(arg, info, c->message_null ? NULL : &msg);
  check_status_known(st);
  if (!c->message_null)
    check_message(fz_current, st, &msg);
  if (info != NULL && fz_size_known(c->dispatch_size, sizeof before)) {
    if (st != stq)
      fz_die("fa_fwd_query_dispatch returned %s but fa_fwd_query %s", fa_status_string(st), fa_status_string(stq));
  } else {
    const uint32_t allowed = allowed_query | c->may_reject |
                             BIT(info == NULL ? FA_ERR_NULL_POINTER : FA_ERR_STRUCT_SIZE) |
                             (c->no_kernel ? BIT(FA_ERR_NO_KERNEL) : 0) | (c->ambiguous ? BIT(FA_ERR_OVERFLOW) : 0);
    if (st == FA_OK || !(allowed & BIT(st))) {
      char want[512];
      describe_allowed(allowed, want, sizeof want);
      fz_die("fa_fwd_query_dispatch (info %s, struct_size %u) returned %s; the contract allows only %s",
             info == NULL ? "NULL" : "given", (unsigned)c->dispatch_size, fa_status_string(st), want);
    }
  }
  if (info != NULL && st != FA_OK && memcmp(info, &before, sizeof before) != 0)
    fz_die("fa_fwd_query_dispatch failed (%s) but wrote *info", fa_status_string(st));
  if (st == FA_OK &&
      (info->struct_size != sizeof *info || info->num_kernels != 1 || info->kernel_index[0] != index ||
       info->kernel_index[1] != SIZE_MAX || info->short_rows != 0 || info->short_seqlen_q != 0 ||
       info->splits[0] != 1 || info->splits[1] != 0 || info->workspace_bytes != 0))
    fz_die("fa_fwd_query_dispatch: {struct_size %u, num_kernels %d, kernel_index {%zu, %zu}, short_rows %d, "
           "short_seqlen_q %d, splits {%d, %d}, workspace_bytes %zu}; expected one CPU kernel, fa_fwd_query's %zu, "
           "unsplit, no workspace",
           (unsigned)info->struct_size, info->num_kernels, info->kernel_index[0], info->kernel_index[1],
           info->short_rows, info->short_seqlen_q, info->splits[0], info->splits[1], info->workspace_bytes, index);
  for (i = 0; i < N_SNAPS; ++i)
    if (!snap_same(&snaps[i]))
      fz_die("fa_fwd_query_dispatch modified %s", snaps[i].name);
  free(info);
}

static void run_fwd(fz_in *in, int op) {
  fz_call c;
  fa_message msg;
  fa_fwd_params *p = &c.p;
  const fa_fwd_params *arg;
  fz_snap snaps[N_SNAPS];
  int64_t total_bytes = 0;
  uint32_t allowed_query, allowed_call;
  int fits, runnable, i;
  fa_status st, stq, stw;
  size_t index = 0x5A5A5A5Au;
  const size_t bytes_unset = (size_t)0xA5A5A5A5u;
  size_t bytes = bytes_unset;

  decode_fwd(in, &c, op);
  /* 0.4 (after every older field: a missing byte gives a known size, a
   * valid info and launch_flags 0): fa_fwd_query_dispatch's info, then
   * launch_flags, mostly 0 or FA_LAUNCH_NO_PDL, else any bits. With a 0.2
   * struct_size the field lies past the struct: decoded, and ignored. */
  c.dispatch_info_null = fz_u8(in) >= 0xF8;
  c.dispatch_size = fz_struct_size(in, sizeof(fa_fwd_dispatch_info));
  {
    const unsigned t = fz_u8(in);
    const uint32_t flags = t < 0xF0 ? (uint32_t)(t & 1u) : fz_u32(in);
    if (c.old_layout == 0)
      c.p.launch_flags = flags;
    else
      c.full.launch_flags = flags;
  }
  model_fwd(&c);
  allowed_query = c.allowed;
  allowed_call = op == OP_WITH_KERNEL ? c.allowed | model_with_kernel(&c) : c.allowed;

  /* A block table too large to allocate has a stub: a call that passes
   * every rule that reads no array would read past it, so none is made. */
  if (c.paged && !c.table_fits && (c.static_allowed == 0 || c.ambiguous)) {
    free_call(&c);
    return;
  }

  /* Allocate exactly the contract's extents when the call is valid and
   * they fit; small buffers otherwise (the call must then be rejected, or
   * go to fa_fwd_query only). fa_append_kv gets small q and out: it must
   * not touch them. */
  for (i = 0; i < N_TENSORS; ++i)
    if (c.t[i].present)
      total_bytes = sat_add(total_bytes, sat_mul(c.t[i].span, 2));
  if (c.lse_ptr.kind != PTR_NULL && op != OP_APPEND_KV)
    total_bytes = sat_add(total_bytes, sat_mul(c.lse_span, 4));
  fits = allowed_call == 0 && !c.ambiguous && total_bytes <= FZ_MAX_BYTES;
  for (i = 0; i < N_TENSORS; ++i)
    if (i < T_K_NEW || (c.v03_mode & 2)) /* k_new, v_new: decoded (ignored with the 0.2 size) */
      place_tensor(&c.t[i], fits && c.t[i].present ? c.t[i].span : 0, fits && c.t[i].present);
  p->q = c.t[T_Q].arg, p->k = c.t[T_K].arg, p->v = c.t[T_V].arg, p->out = (void *)c.t[T_OUT].arg;
  if (c.t[T_K_NEW].present)
    p->k_new = c.t[T_K_NEW].arg, p->v_new = c.t[T_V_NEW].arg;
  else if (c.old_layout != 0 && (c.v03_mode & 2))
    c.full.k_new = c.t[T_K_NEW].arg, c.full.v_new = c.t[T_V_NEW].arg;
  if (c.lse_ptr.kind != PTR_NULL) {
    c.lse = (float *)place_small(c.lse_ptr, fits && op != OP_APPEND_KV ? c.lse_span : 4, 4, &c.lse_alloc,
                                 &c.lse_bytes);
    p->lse = c.lse;
  }
  c.work = fits && !c.no_kernel ? model_work(&c) : 0;
  runnable = fits && !c.no_kernel && c.work <= FZ_MAX_WORK && p->backend == FA_BACKEND_CPU;
  if (getenv("FZ_VERBOSE") != NULL) {
    char want[512];
    describe_allowed(allowed_call, want, sizeof want);
    fprintf(stderr,
            "  op %d backend %d dtype %d batch %d heads %d/%d d %d %s max (%d, %d) totals (%lld, %lld) "
            "strides q (%lld %lld %lld) scale %g softcap %g window (%d, %d) lse %d sinks %d seqused %d fill %d\n"
            "  (%zu bytes left) struct_size %u context %s (0x%02x) workspace %p + %zu%s\n"
            "  (%zu bytes left) 0.3 mode 0x%02x: paged %d (page_size %d, max_pages %d, table stride %lld, "
            "num_pages %lld, table %s), append %d, num_splits %d, old layout %d\n"
            "  model: %s%s%s; work %lld, runnable %d\n",
            op, (int)p->backend, (int)p->dtype, p->batch, p->num_heads_q, p->num_heads_k, p->head_dim,
            c.varlen_q ? "varlen" : "dense", p->max_seqlen_q, p->max_seqlen_k, (long long)p->total_q,
            (long long)p->total_k, (long long)p->q_head_stride, (long long)p->q_row_stride,
            (long long)p->q_batch_stride, (double)p->scale, (double)p->softcap, p->window_left, p->window_right,
            p->lse != NULL, p->sinks != NULL, p->seqused_k != NULL, c.fill.mode, c.v02_left, (unsigned)p->struct_size,
            c.ctx != NULL ? "given" : "none", c.ctx_mode, p->workspace, p->workspace_bytes,
            c.ws_size_null ? " (workspace_size: bytes NULL)" : "", c.v03_left, c.v03_mode, c.paged, p->page_size,
            p->max_pages_per_seq, (long long)p->block_table_stride, (long long)p->num_pages,
            c.table_fits ? "allocated" : "stub", c.append, p->num_splits, c.old_layout, want,
            c.ambiguous ? " (ambiguous)" : "", c.no_kernel ? " (no kernel)" : "", (long long)c.work, runnable);
  }

  if (runnable)
    fill_inputs(&c);
  make_params_copy(&c);
  arg = c.params_null ? NULL : c.p_copy;

  for (i = 0; i < N_TENSORS; ++i)
    snap_take(&snaps[i], c.t[i].name, c.t[i].base, c.t[i].bytes);
  snap_take(&snaps[SNAP_LSE], "lse", c.lse_alloc, c.lse_bytes);
  snap_take(&snaps[SNAP_CU_Q], "cu_seqlens_q", p->cu_seqlens_q, small_bytes(c.cu_n, 4));
  snap_take(&snaps[SNAP_CU_K], "cu_seqlens_k", p->cu_seqlens_k, small_bytes(c.cu_n, 4));
  snap_take(&snaps[SNAP_SEQUSED], "seqused_k", p->seqused_k, small_bytes(p->batch, 4));
  snap_take(&snaps[SNAP_SINKS], "sinks", p->sinks, small_bytes(p->num_heads_q, 4));
  snap_take(&snaps[SNAP_PARAMS], "params", c.p_copy, c.p_copy_bytes);
  snap_take(&snaps[SNAP_CONTEXT], "context", c.ctx, sizeof *c.ctx);
  snap_take(&snaps[SNAP_WORKSPACE], "workspace", c.ws_alloc, c.ws_alloc_bytes);
  snap_take(&snaps[SNAP_TABLE], "block_table", c.table_alloc, c.table_bytes);

  if (op == OP_APPEND_KV) {
    if (runnable || (allowed_call != 0 && !c.ambiguous)) {
      fz_current = "fa_append_kv";
      fz_message_reset(&msg);
      st = fa_append_kv(arg, c.message_null ? NULL : &msg);
      check_verdict(fz_current, &c, allowed_call, st);
      if (!c.message_null)
        check_message(fz_current, st, &msg);
      for (i = 0; i < N_SNAPS; ++i)
        if (((i != SNAP_K && i != SNAP_V) || st != FA_OK) && !snap_same(&snaps[i]))
          fz_die("fa_append_kv (%s) modified %s", fa_status_string(st), snaps[i].name);
      if (st == FA_OK)
        check_cache(&c, &snaps[SNAP_K], &snaps[SNAP_V]);
    }
    for (i = 0; i < N_SNAPS; ++i)
      free(snaps[i].copy);
    free_call(&c);
    return;
  }

  /* fa_fwd_query: always (it must not touch any buffer). */
  fz_current = "fa_fwd_query";
  fz_message_reset(&msg);
  stq = fa_fwd_query(arg, &index, c.message_null ? NULL : &msg);
  check_verdict("fa_fwd_query", &c, allowed_query, stq);
  if (!c.message_null)
    check_message("fa_fwd_query", stq, &msg);
  if (stq != FA_OK && index != 0x5A5A5A5Au)
    fz_die("fa_fwd_query failed (%s) but wrote *kernel_index", fa_status_string(stq));
  if (stq == FA_OK) {
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    if (fa_kernel_info_get(index, &info) != FA_OK)
      fz_die("fa_fwd_query chose kernel %zu, not in the table", index);
    if (info.backend != p->backend || info.head_dim != p->head_dim || info.dtype != p->dtype ||
        info.mask != fa_mask_from_window(p->window_left, p->window_right))
      fz_die("fa_fwd_query chose %s for head_dim %d, %s, window (%d, %d)", info.name, p->head_dim,
             fa_dtype_name(p->dtype), p->window_left, p->window_right);
  }
  for (i = 0; i < N_SNAPS; ++i)
    if (!snap_same(&snaps[i]))
      fz_die("fa_fwd_query modified %s", snaps[i].name);

  /* fa_fwd_workspace_size: validates exactly as fa_fwd_query; the CPU
   * family never splits (whatever num_splits says), so a valid call needs
   * 0 bytes. */
  fz_current = "fa_fwd_workspace_size";
  fz_message_reset(&msg);
  stw = fa_fwd_workspace_size(arg, c.ws_size_null ? NULL : &bytes, c.message_null ? NULL : &msg);
  check_status_known(stw);
  if (!c.message_null)
    check_message("fa_fwd_workspace_size", stw, &msg);
  if (c.ws_size_null) { /* FA_ERR_NULL_POINTER, or whatever else the call breaks */
    const uint32_t allowed = allowed_query | c.may_reject | BIT(FA_ERR_NULL_POINTER) |
                             (c.no_kernel ? BIT(FA_ERR_NO_KERNEL) : 0) | (c.ambiguous ? BIT(FA_ERR_OVERFLOW) : 0);
    if (!(allowed & BIT(stw))) {
      char want[512];
      describe_allowed(allowed, want, sizeof want);
      fz_die("fa_fwd_workspace_size(bytes NULL) returned %s; the contract allows only %s", fa_status_string(stw),
             want);
    }
  } else {
    if (stw != stq)
      fz_die("fa_fwd_workspace_size returned %s but fa_fwd_query %s", fa_status_string(stw), fa_status_string(stq));
    if (stw == FA_OK && bytes != 0)
      fz_die("fa_fwd_workspace_size says %zu bytes; the CPU family needs no workspace", bytes);
    if (stw != FA_OK && bytes != bytes_unset)
      fz_die("fa_fwd_workspace_size failed (%s) but wrote *bytes", fa_status_string(stw));
  }
  for (i = 0; i < N_SNAPS; ++i)
    if (!snap_same(&snaps[i]))
      fz_die("fa_fwd_workspace_size modified %s", snaps[i].name);

  check_query_dispatch(&c, arg, stq, index, allowed_query, snaps);

  /* fa_fwd_workspace_size_with_kernel: fa_fwd_with_kernel's checks,
   * nothing written or modified; a CPU kernel needs no workspace. */
  fa_status stk = FA_OK;
  if (op == OP_WITH_KERNEL) {
    size_t kbytes = bytes_unset;
    fz_current = "fa_fwd_workspace_size_with_kernel";
    fz_message_reset(&msg);
    stk = fa_fwd_workspace_size_with_kernel(arg, c.kernel_index, &kbytes, c.message_null ? NULL : &msg);
    check_status_known(stk);
    if (!c.message_null)
      check_message("fa_fwd_workspace_size_with_kernel", stk, &msg);
    if (stk == FA_OK && kbytes != 0)
      fz_die("fa_fwd_workspace_size_with_kernel says %zu bytes; the CPU family needs no workspace", kbytes);
    if (stk != FA_OK && kbytes != bytes_unset)
      fz_die("fa_fwd_workspace_size_with_kernel failed (%s) but wrote *bytes", fa_status_string(stk));
    for (i = 0; i < N_SNAPS; ++i)
      if (!snap_same(&snaps[i]))
        fz_die("fa_fwd_workspace_size_with_kernel modified %s", snaps[i].name);
  }

  /* The real call: when it can run here, or when it must be rejected. */
  if (op != OP_QUERY && (runnable || (allowed_call != 0 && !c.ambiguous))) {
    const char *name = op == OP_WITH_KERNEL ? "fa_fwd_with_kernel" : "fa_fwd";
    fz_current = name;
    fz_message_reset(&msg);
    st = op == OP_WITH_KERNEL ? fa_fwd_with_kernel(arg, c.kernel_index, c.message_null ? NULL : &msg)
                 : fa_fwd(arg, c.message_null ? NULL : &msg);
    check_verdict(name, &c, allowed_call, st);
    if (!c.message_null)
      check_message(name, st, &msg);
    if (op == OP_FWD && st != stq)
      fz_die("fa_fwd returned %s but fa_fwd_query %s", fa_status_string(st), fa_status_string(stq));
    if (op == OP_WITH_KERNEL && st != stk) /* the same checks; the CPU family needs no workspace */
      fz_die("fa_fwd_with_kernel returned %s but fa_fwd_workspace_size_with_kernel %s", fa_status_string(st),
             fa_status_string(stk));
    for (i = 0; i < N_SNAPS; ++i)
      if (i != SNAP_OUT && i != SNAP_LSE && (!c.append || (i != SNAP_K && i != SNAP_V)) && !snap_same(&snaps[i]))
        fz_die("%s modified its input %s", name, snaps[i].name);
    if (st != FA_OK) {
      if (!snap_same(&snaps[SNAP_OUT]) || !snap_same(&snaps[SNAP_LSE]) || !snap_same(&snaps[SNAP_K]) ||
          !snap_same(&snaps[SNAP_V]))
        fz_die("%s failed (%s) but wrote out, lse or the cache", name, fa_status_string(st));
    } else {
      if (c.append) /* the cache first: the reference reads it */
        check_cache(&c, &snaps[SNAP_K], &snaps[SNAP_V]);
      check_results(&c, (const uint16_t *)snaps[SNAP_OUT].copy, (const float *)snaps[SNAP_LSE].copy);
    }
  }
  for (i = 0; i < N_SNAPS; ++i)
    free(snaps[i].copy);
  free_call(&c);
}

/* ------------------------------------------------------------ fa_kernel_info_get */

/* Whether a kernel's name ends with "_<fields>" (hdim<d>_<dtype>_<mask>),
 * before its long-key suffix if it has one (tests/kernel_name.h). */
static int name_ends_with_fields(const fa_kernel_info *info, const char *fields) {
  const long end = kernel_name_base_length(info);
  const long len = (long)strlen(fields);
  return end > len && info->name[end - len - 1] == '_' && strncmp(info->name + end - len, fields, (size_t)len) == 0;
}

static void run_kernel_info(fz_in *in) {
  const unsigned t = fz_u8(in);
  const size_t n = fa_kernel_count();
  const int info_null = (t & 4) != 0;
  size_t index;
  uint32_t size;
  fa_kernel_info *info;
  unsigned char before[sizeof(fa_kernel_info)];
  char text[256];
  fa_status st, want;
  fz_current = "fa_kernel_info_get";
  switch (t & 3) {
    case 0: index = n ? (size_t)fz_u8(in) % n : 0; break;
    case 1: index = n + (size_t)fz_u8(in); break;
    case 2: index = (size_t)fz_u64(in); break;
    default: index = SIZE_MAX - (size_t)fz_u8(in); break;
  }
  size = fz_struct_size(in, sizeof *info);
  /* Poisoned, in a block of exactly sizeof: the library writes at most the
   * struct_size it accepts. */
  info = (fa_kernel_info *)fz_alloc(sizeof *info);
  memset(info, 0xA5, sizeof *info);
  info->struct_size = size;
  memcpy(before, info, sizeof before);
  st = fa_kernel_info_get(index, info_null ? NULL : info);
  check_status_known(st);
  /* The documented order: info, then its struct_size, then the index. */
  want = info_null                          ? FA_ERR_NULL_POINTER
         : !fz_size_known(size, sizeof *info) ? FA_ERR_STRUCT_SIZE
         : index >= n                       ? FA_ERR_NO_KERNEL
                                            : FA_OK;
  if (getenv("FZ_VERBOSE") != NULL)
    fprintf(stderr, "  fa_kernel_info_get(%zu of %zu, %s, struct_size %u): %s (model: %s)\n", index, n,
            info_null ? "NULL" : "info", (unsigned)size, fa_status_string(st), fa_status_string(want));
  if (st != want)
    fz_die("fa_kernel_info_get(%zu of %zu, %s, struct_size %u) returned %s, expected %s", index, n,
           info_null ? "NULL" : "info", (unsigned)size, fa_status_string(st), fa_status_string(want));
  if (st != FA_OK) {
    if (memcmp(before, info, sizeof before) != 0)
      fz_die("fa_kernel_info_get(%zu) failed (%s) but wrote *info", index, fa_status_string(st));
    free(info);
    return;
  }
  if (info->struct_size != sizeof *info || info->name == NULL || info->family == NULL || info->description == NULL ||
      info->arch_name == NULL || strlen(info->name) == 0 ||
      (info->backend != FA_BACKEND_CPU && info->backend != FA_BACKEND_CUDA) || !head_dim_in_table(info->head_dim) ||
      (info->dtype != FA_DTYPE_FP16 && info->dtype != FA_DTYPE_BF16) ||
      (info->mask != FA_MASK_NONE && info->mask != FA_MASK_CAUSAL && info->mask != FA_MASK_LOCAL) ||
      info->block_m < 1 || info->block_n < 1 || info->threads < 1)
    fz_die("fa_kernel_info_get(%zu): an inconsistent description", index);
  /* The CPU family is the CPU backend, with no device facts. */
  if ((info->backend == FA_BACKEND_CPU) != (strcmp(info->family, "cpu") == 0) ||
      (info->backend == FA_BACKEND_CPU
           ? info->arch != 0 || info->arch_name[0] != '\0' || info->threads != 1 || info->smem_bytes != 0
           : info->arch < 10 || info->arch_name[0] == '\0'))
    fz_die("fa_kernel_info_get(%zu): %s: family %s, backend %s, arch %d \"%s\"", index, info->name, info->family,
           fa_backend_name(info->backend), info->arch, info->arch_name);
  /* Names: fwd_<family>_[<arch>_]hdim<d>_<dtype>_<mask>. */
  snprintf(text, sizeof text, "fwd_%s_", info->family);
  if (strncmp(info->name, text, strlen(text)) != 0)
    fz_die("fa_kernel_info_get(%zu): name %s does not start with %s", index, info->name, text);
  snprintf(text, sizeof text, "hdim%d_%s_%s", (int)info->head_dim, fa_dtype_name(info->dtype),
           fa_mask_name(info->mask));
  if (!name_ends_with_fields(info, text))
    fz_die("fa_kernel_info_get(%zu): name %s does not end with _%s (or _%s_k<N>, with \"max_seqlen_k >= N\" in "
           "its description)",
           index, info->name, text, text);
  free(info);
}

/* ------------------------------------------------------------ mask helpers */

/* The verdict of a helper call: `allowed` as for the forward (0 = valid). */
static void check_helper_verdict(const char *call, uint32_t allowed, int ambiguous, fa_status st) {
  char want[512];
  check_status_known(st);
  if (getenv("FZ_VERBOSE") != NULL) {
    describe_allowed(allowed, want, sizeof want);
    fprintf(stderr, "  %s: %s (model: %s%s)\n", call, fa_status_string(st), want, ambiguous ? ", ambiguous" : "");
  }
  if (ambiguous && (st == FA_OK || st == FA_ERR_OVERFLOW))
    return;
  if (allowed != 0 && (st == FA_OK || !(allowed & BIT(st)))) {
    describe_allowed(allowed, want, sizeof want);
    fz_die("%s returned %s; the contract allows only %s", call, fa_status_string(st), want);
  }
  if (allowed == 0 && st != FA_OK)
    fz_die("%s returned %s for a valid call", call, fa_status_string(st));
}

static fa_backend fz_backend(fz_in *in) {
  const unsigned t = fz_u8(in);
  return t < 0xF0 ? FA_BACKEND_CPU : (t < 0xF8 ? FA_BACKEND_CUDA : (fa_backend)(int32_t)fz_u32(in));
}

static uint32_t backend_rules(fa_backend backend) {
  if (backend != FA_BACKEND_CPU && backend != FA_BACKEND_CUDA)
    return BIT(FA_ERR_INVALID_BACKEND);
  if (backend == FA_BACKEND_CUDA) /* host pointers: no device here, or not device memory */
    return BIT(FA_ERR_NO_DEVICE) | BIT(FA_ERR_INVALID_POINTER) | BIT(FA_ERR_CUDA);
  return 0;
}

static uint32_t ptr_rule(fz_ptr_mode m, size_t align) {
  if (m.kind == PTR_NULL)
    return BIT(FA_ERR_NULL_POINTER);
  if (m.kind == PTR_SHIFT && align > 1 && m.shift % align != 0)
    return BIT(FA_ERR_MISALIGNED);
  return 0;
}

static size_t int_size(fa_int_dtype dt) {
  return dt == FA_INT_BOOL ? 1 : dt == FA_INT32 ? 4 : dt == FA_INT64 ? 8 : 0;
}

/* A buffer of a helper call: exactly `bytes` (+ its shift), poisoned. */
typedef struct fz_buf {
  fz_ptr_mode mode;
  void *alloc;
  void *arg;
  size_t bytes; /* what the contract says it holds */
} fz_buf;

static void buf_place(fz_buf *b, size_t bytes, unsigned char poison) {
  const size_t shift = b->mode.kind == PTR_SHIFT ? b->mode.shift : 0;
  b->bytes = bytes;
  b->alloc = fz_alloc(bytes + shift);
  memset(b->alloc, poison, bytes + shift);
  b->arg = b->mode.kind == PTR_NULL ? NULL : (char *)b->alloc + shift;
}

static void buf_free(fz_buf *b) { free(b->alloc); }

/* A flag byte shared by the helper ops: bit 0 message NULL, bits 5-7 set:
 * params NULL. */
typedef struct fz_flags {
  int message_null, params_null;
  unsigned raw;
} fz_flags;

/* struct_size of a helper's params, decoded after every other byte (inputs
 * of 0.1 end before it: a known size). An unknown size leaves the struct
 * unreadable, so it alone decides the status. */
static void fz_helper_struct_size(fz_in *in, uint32_t *struct_size, size_t size, const fz_flags *fl,
                                  uint32_t *allowed, int *ambiguous) {
  *struct_size = fz_struct_size(in, (uint32_t)size);
  if (!fl->params_null && !fz_size_known(*struct_size, size)) {
    *allowed = BIT(FA_ERR_STRUCT_SIZE);
    *ambiguous = 0;
  }
}

/* The helper's params unchanged by the call (they are const). */
static void check_params_same(const char *call, const void *arg, const void *p, size_t size) {
  if (arg != NULL && memcmp(arg, p, size) != 0)
    fz_die("%s modified its params", call);
}

static fz_flags fz_helper_flags(fz_in *in) {
  fz_flags f;
  f.raw = fz_u8(in);
  f.message_null = f.raw & 1;
  f.params_null = (f.raw & 0xE0) == 0xE0;
  return f;
}

static void run_unpad_info(fz_in *in) {
  const fz_flags fl = fz_helper_flags(in);
  fa_unpad_info_params p;
  fz_buf mask, indices, cu, maxlen;
  fa_message msg;
  fa_status st;
  uint32_t allowed;
  int fits, ambiguous = 0;
  int64_t n = 0;
  size_t esize;
  p = fa_unpad_info_params_default();
  p.backend = fz_backend(in);
  {
    const unsigned t = fz_u8(in);
    p.mask_dtype = t < 0xF0 ? (fa_int_dtype)(1 + t % 3) : (fa_int_dtype)(int32_t)fz_u32(in);
  }
  p.batch = fz_i32(in, 1, 6);
  p.seqlen = fz_i32(in, 1, 24);
  esize = int_size(p.mask_dtype);
  mask.mode = fz_ptr(in, esize ? esize : 1);
  indices.mode = fz_ptr(in, 8);
  cu.mode = fz_ptr(in, 4);
  maxlen.mode = fz_ptr(in, 4);
  allowed = fl.params_null ? BIT(FA_ERR_NULL_POINTER) : 0;
  if (!fl.params_null) {
    allowed |= backend_rules(p.backend);
    if (esize == 0)
      allowed |= BIT(FA_ERR_UNSUPPORTED_DTYPE);
    if (p.batch < 1 || p.seqlen < 1 || (int64_t)p.batch * p.seqlen > INT32_MAX)
      allowed |= BIT(FA_ERR_INVALID_SHAPE);
    allowed |= ptr_rule(mask.mode, esize ? esize : 1) | ptr_rule(indices.mode, 8) | ptr_rule(cu.mode, 4) |
               ptr_rule(maxlen.mode, 4);
  }
  if (p.batch >= 1 && p.seqlen >= 1)
    n = (int64_t)p.batch * p.seqlen;
  fits = allowed == 0 && n <= 4096;
  buf_place(&mask, fits ? (size_t)n * esize : 8, 0);
  buf_place(&indices, fits ? (size_t)n * 8 : 8, 0xA5);
  buf_place(&cu, fits ? (size_t)(p.batch + 1) * 4 : 4, 0xA5);
  buf_place(&maxlen, 4, 0xA5);
  if (fits) { /* the mask: left / right padding, holes, all or nothing; any nonzero keeps */
    fz_rng rng;
    const unsigned mode = fz_u8(in) % 5;
    int64_t i;
    rng.s = fz_u64(in);
    for (i = 0; i < n; ++i) {
      const int64_t s = i % p.seqlen;
      const int64_t cut = (int64_t)((fz_next(&rng) >> 8) % (uint64_t)(p.seqlen + 1));
      int keep;
      switch (mode) {
        case 0: keep = (fz_next(&rng) & 3) != 0; break;
        case 1: keep = s >= cut; break;
        case 2: keep = s < cut; break;
        case 3: keep = 0; break;
        default: keep = 1; break;
      }
      {
        const int64_t v = keep ? (int64_t)(fz_next(&rng) | 1) : 0; /* nonzero: any bit pattern */
        if (esize == 1) {
          const unsigned char c = (unsigned char)(keep ? (v & 0xFF) | 1 : 0);
          memcpy((char *)mask.arg + i, &c, 1);
        } else if (esize == 4) {
          const int32_t w = keep ? (int32_t)(v | 1) : 0;
          memcpy((char *)mask.arg + 4 * i, &w, 4);
        } else {
          memcpy((char *)mask.arg + 8 * i, &v, 8);
        }
      }
    }
  }
  p.attention_mask = mask.arg;
  p.indices = (int64_t *)indices.arg;
  p.cu_seqlens = (int32_t *)cu.arg;
  p.max_seqlen = (int32_t *)maxlen.arg;
  fz_helper_struct_size(in, &p.struct_size, sizeof p, &fl, &allowed, &ambiguous);
  if (fits || allowed != 0) {
    fa_unpad_info_params *arg = fl.params_null ? NULL : (fa_unpad_info_params *)fz_exact_copy(&p, sizeof p);
    fz_snap s_mask, s_out[3];
    snap_take(&s_mask, "attention_mask", mask.alloc, mask.bytes);
    snap_take(&s_out[0], "indices", indices.alloc, indices.bytes);
    snap_take(&s_out[1], "cu_seqlens", cu.alloc, cu.bytes);
    snap_take(&s_out[2], "max_seqlen", maxlen.alloc, maxlen.bytes);
    fz_current = "fa_unpad_info";
    fz_message_reset(&msg);
    st = fa_unpad_info(arg, fl.message_null ? NULL : &msg);
    check_helper_verdict("fa_unpad_info", allowed, ambiguous, st);
    if (!fl.message_null)
      check_message("fa_unpad_info", st, &msg);
    check_params_same("fa_unpad_info", arg, &p, sizeof p);
    free(arg);
    if (!snap_same(&s_mask))
      fz_die("fa_unpad_info modified attention_mask");
    if (st != FA_OK) {
      int k;
      for (k = 0; k < 3; ++k)
        if (!snap_same(&s_out[k]))
          fz_die("fa_unpad_info failed (%s) but wrote %s", fa_status_string(st), s_out[k].name);
    } else {
      int64_t total = 0, i, got64;
      int32_t longest = 0, b, got32;
      for (b = 0; b < p.batch; ++b) {
        int64_t row = 0;
        memcpy(&got32, (char *)cu.arg + 4 * b, 4);
        if (got32 != total)
          fz_die("fa_unpad_info: cu_seqlens[%d] = %d, expected %lld", b, got32, (long long)total);
        for (i = (int64_t)b * p.seqlen; i < (int64_t)(b + 1) * p.seqlen; ++i) {
          int keep;
          if (esize == 1)
            keep = ((const unsigned char *)mask.arg)[i] != 0;
          else if (esize == 4) {
            int32_t w;
            memcpy(&w, (const char *)mask.arg + 4 * i, 4);
            keep = w != 0;
          } else {
            int64_t w;
            memcpy(&w, (const char *)mask.arg + 8 * i, 8);
            keep = w != 0;
          }
          if (!keep)
            continue;
          memcpy(&got64, (char *)indices.arg + 8 * total, 8);
          if (got64 != i)
            fz_die("fa_unpad_info: indices[%lld] = %lld, expected %lld", (long long)total, (long long)got64,
                   (long long)i);
          ++total, ++row;
        }
        if (row > longest)
          longest = (int32_t)row;
      }
      memcpy(&got32, (char *)cu.arg + 4 * p.batch, 4);
      if (got32 != total)
        fz_die("fa_unpad_info: cu_seqlens[batch] = %d, expected %lld", got32, (long long)total);
      for (i = total; i < n; ++i) {
        memcpy(&got64, (char *)indices.arg + 8 * i, 8);
        if (got64 != -1)
          fz_die("fa_unpad_info: indices[%lld] = %lld past the total %lld, expected -1", (long long)i,
                 (long long)got64, (long long)total);
      }
      memcpy(&got32, maxlen.arg, 4);
      if (got32 != longest)
        fz_die("fa_unpad_info: max_seqlen = %d, expected %d", got32, longest);
    }
    free(s_mask.copy);
    free(s_out[0].copy), free(s_out[1].copy), free(s_out[2].copy);
  }
  buf_free(&mask), buf_free(&indices), buf_free(&cu), buf_free(&maxlen);
}

static int64_t fz_rows_i64(fz_in *in, int64_t lo, int64_t span) {
  const unsigned t = fz_u8(in);
  if (t < 0xC0)
    return lo + (int64_t)(t % (unsigned)span);
  switch (t & 7) {
    case 0: return 0;
    case 1: return -1;
    case 2: return INT32_MAX;
    case 3: return (int64_t)INT32_MAX + 1;
    case 4: return (int64_t)1 << 40;
    case 5: return INT64_MAX;
    case 6: return (int64_t)fz_u64(in);
    default: return lo + span;
  }
}

/* fa_unpad_rows (gather) or fa_pad_rows (scatter). */
static void run_rows(fz_in *in) {
  const fz_flags fl = fz_helper_flags(in);
  const int scatter = (fl.raw >> 1) & 1;
  const char *name = scatter ? "fa_pad_rows" : "fa_unpad_rows";
  fa_rows_params p;
  fz_buf src, dst, idx, cnt;
  fa_message msg;
  fa_status st;
  uint32_t allowed;
  int ambiguous = 0, fits, i;
  int64_t src_rs = 0, dst_rs = 0, src_rows, dst_rows, count_val = 0;
  unsigned t;
  p = fa_rows_params_default();
  p.backend = fz_backend(in);
  t = fz_u8(in);
  p.dtype = t < 0xF0 ? ((t & 1) ? FA_DTYPE_FP16 : FA_DTYPE_BF16) : (fa_dtype)(int32_t)fz_u32(in);
  t = fz_u8(in);
  if (t < 0xC0)
    p.row_elems = 8 * (1 + (int64_t)(t % 8));
  else
    switch (t & 7) {
      case 0: p.row_elems = 0; break;
      case 1: p.row_elems = -8; break;
      case 2: p.row_elems = 7; break;
      case 3: p.row_elems = 12; break;
      case 4: p.row_elems = (int64_t)1 << 40; break;
      case 5: p.row_elems = INT64_MAX - 7; break;
      case 6: p.row_elems = (int64_t)fz_u64(in); break;
      default: p.row_elems = 4; break;
    }
  p.padded_rows = fz_rows_i64(in, 1, 24);
  {
    int64_t *strides[2] = {&p.src_row_stride, &p.dst_row_stride};
    for (i = 0; i < 2; ++i) {
      t = fz_u8(in);
      if (t < 0xA0)
        *strides[i] = 0;
      else if (t < 0xC0)
        *strides[i] = p.row_elems > 0 && p.row_elems < ((int64_t)1 << 40) ? p.row_elems + 8 * (int64_t)(t % 4) : 8;
      else
        switch (t & 7) {
          case 0: *strides[i] = p.row_elems - 8; break;
          case 1: *strides[i] = p.row_elems + 1; break;
          case 2: *strides[i] = -8; break;
          case 3: *strides[i] = FZ_LIMIT; break;
          case 4: *strides[i] = INT64_MAX; break;
          case 5: *strides[i] = (int64_t)fz_u64(in); break;
          case 6: *strides[i] = INT64_MIN; break;
          default: *strides[i] = 8; break;
        }
    }
  }
  src.mode = fz_ptr(in, 16);
  dst.mode = fz_ptr(in, 16);
  idx.mode = fz_ptr(in, 8);
  cnt.mode = fz_ptr(in, 4);
  allowed = fl.params_null ? BIT(FA_ERR_NULL_POINTER) : 0;
  if (!fl.params_null) {
    const int64_t given[2] = {p.src_row_stride, p.dst_row_stride};
    int64_t *res[2] = {&src_rs, &dst_rs};
    allowed |= backend_rules(p.backend);
    if (p.dtype != FA_DTYPE_FP16 && p.dtype != FA_DTYPE_BF16)
      allowed |= BIT(FA_ERR_UNSUPPORTED_DTYPE);
    if (p.row_elems < 8 || p.row_elems % 8 != 0)
      allowed |= BIT(FA_ERR_INVALID_SHAPE);
    if (p.padded_rows < 1 || p.padded_rows > INT32_MAX)
      allowed |= BIT(FA_ERR_INVALID_SHAPE);
    allowed |= ptr_rule(src.mode, 16) | ptr_rule(dst.mode, 16) | ptr_rule(idx.mode, 8) | ptr_rule(cnt.mode, 4);
    for (i = 0; i < 2; ++i) {
      const int64_t stride = given[i] != 0 ? given[i] : p.row_elems;
      *res[i] = stride;
      if (p.row_elems >= 8 && p.row_elems % 8 == 0) {
        if (stride < p.row_elems || stride % 8 != 0)
          allowed |= BIT(FA_ERR_INVALID_STRIDE);
        else if (p.padded_rows >= 1) {
          const int64_t last = sat_add(sat_mul(p.padded_rows - 1, stride), p.row_elems);
          if (last > FZ_LIMIT + FZ_BAND)
            allowed |= BIT(FA_ERR_OVERFLOW);
          else if (last > FZ_LIMIT - FZ_BAND)
            ambiguous = 1;
        }
      }
    }
  }
  /* count and indices live "on the device": the CPU backend checks them. */
  fits = allowed == 0 && !ambiguous && p.padded_rows <= 64 && p.row_elems <= 256 && src_rs <= 1024 &&
         dst_rs <= 1024;
  t = fz_u8(in);
  if (fits) {
    if (t < 0xC0)
      count_val = (int64_t)(t % (unsigned)(p.padded_rows + 1));
    else
      switch (t & 7) {
        case 0: count_val = -1; break;
        case 1: count_val = p.padded_rows + 1; break;
        case 2: count_val = INT32_MAX; break;
        case 3: count_val = INT32_MIN; break;
        default: count_val = p.padded_rows; break;
      }
  }
  /* Extents: the padded side has padded_rows rows, the packed side *count
   * (at least one row is allocated when the count is bad). */
  src_rows = scatter ? (count_val >= 0 && count_val <= p.padded_rows ? count_val : 1) : p.padded_rows;
  dst_rows = scatter ? p.padded_rows : (count_val >= 0 && count_val <= p.padded_rows ? count_val : 1);
  buf_place(&src, fits && src_rows > 0 ? (size_t)((src_rows - 1) * src_rs + p.row_elems) * 2 : 16, 0);
  buf_place(&dst, fits && dst_rows > 0 ? (size_t)((dst_rows - 1) * dst_rs + p.row_elems) * 2 : 16, 0xA5);
  buf_place(&idx, fits ? (size_t)p.padded_rows * 8 : 8, 0xFF);
  buf_place(&cnt, 4, 0);
  if (fits) {
    fz_rng rng;
    const unsigned mode = fz_u8(in);
    const int32_t c32 = (int32_t)count_val;
    int64_t *perm = (int64_t *)fz_alloc((size_t)p.padded_rows * 8), r;
    rng.s = fz_u64(in);
    for (r = 0; r < p.padded_rows; ++r)
      perm[r] = r;
    for (r = p.padded_rows - 1; r > 0; --r) { /* distinct indices, shuffled; sorted half the time */
      const int64_t j = (int64_t)(fz_next(&rng) % (uint64_t)(r + 1)), tmp = perm[r];
      perm[r] = perm[j], perm[j] = tmp;
    }
    if (mode & 1) {
      int64_t a, b2;
      for (a = 1; a < count_val && count_val <= p.padded_rows; ++a)
        for (b2 = a; b2 > 0 && perm[b2 - 1] > perm[b2]; --b2) {
          const int64_t tmp = perm[b2];
          perm[b2] = perm[b2 - 1], perm[b2 - 1] = tmp;
        }
    }
    if ((mode & 0x1E) == 0x1E && count_val > 0 && count_val <= p.padded_rows) { /* one index out of range */
      static const int64_t bad[4] = {-1, 0, INT64_MAX, INT64_MIN};
      const int64_t at = (int64_t)(fz_u8(in) % (unsigned)count_val);
      perm[at] = (mode >> 5) == 1 ? p.padded_rows : bad[(mode >> 5) & 3];
      if (perm[at] == 0)
        perm[at] = p.padded_rows + 7;
    }
    memcpy(idx.arg ? idx.arg : idx.alloc, perm, (size_t)p.padded_rows * 8);
    memcpy(cnt.arg ? cnt.arg : cnt.alloc, &c32, 4);
    for (r = 0; r < (int64_t)(src.bytes / 2); ++r) {
      const uint16_t v = (uint16_t)fz_next(&rng);
      memcpy((char *)src.arg + 2 * r, &v, 2);
    }
    free(perm);
  }
  p.src = src.arg, p.dst = dst.arg, p.indices = (const int64_t *)idx.arg, p.count = (const int32_t *)cnt.arg;
  /* CPU: *count outside [0, padded_rows] or an index outside [0, padded_rows) is rejected. */
  if (fits && p.backend == FA_BACKEND_CPU) {
    int64_t r;
    if (count_val < 0 || count_val > p.padded_rows)
      allowed |= BIT(FA_ERR_INVALID_SEQLENS);
    else
      for (r = 0; r < count_val; ++r) {
        int64_t v;
        memcpy(&v, (char *)idx.arg + 8 * r, 8);
        if (v < 0 || v >= p.padded_rows)
          allowed |= BIT(FA_ERR_INVALID_SEQLENS);
      }
  }
  fz_helper_struct_size(in, &p.struct_size, sizeof p, &fl, &allowed, &ambiguous);
  if (fits || (allowed != 0 && !ambiguous)) {
    fa_rows_params *arg = fl.params_null ? NULL : (fa_rows_params *)fz_exact_copy(&p, sizeof p);
    fz_snap s_src, s_dst, s_idx, s_cnt;
    snap_take(&s_src, "src", src.alloc, src.bytes + (src.mode.kind == PTR_SHIFT ? src.mode.shift : 0));
    snap_take(&s_dst, "dst", dst.alloc, dst.bytes + (dst.mode.kind == PTR_SHIFT ? dst.mode.shift : 0));
    snap_take(&s_idx, "indices", idx.alloc, idx.bytes);
    snap_take(&s_cnt, "count", cnt.alloc, cnt.bytes);
    fz_current = name;
    fz_message_reset(&msg);
    st = scatter ? fa_pad_rows(arg, fl.message_null ? NULL : &msg) : fa_unpad_rows(arg, fl.message_null ? NULL : &msg);
    check_helper_verdict(name, allowed, ambiguous, st);
    if (!fl.message_null)
      check_message(name, st, &msg);
    check_params_same(name, arg, &p, sizeof p);
    free(arg);
    if (!snap_same(&s_src) || !snap_same(&s_idx) || !snap_same(&s_cnt))
      fz_die("%s modified an input (src, indices or count)", name);
    if (st != FA_OK) {
      if (!snap_same(&s_dst))
        fz_die("%s failed (%s) but wrote dst", name, fa_status_string(st));
    } else {
      /* dst: the rows written hold the right source rows; every other byte
       * (rows not written, stride gaps) as before, or zero for the padded
       * rows of a scatter. */
      const size_t shift = dst.mode.kind == PTR_SHIFT ? dst.mode.shift : 0;
      unsigned char *expect = (unsigned char *)fz_alloc(dst.bytes + shift);
      int64_t r;
      memcpy(expect, s_dst.copy, dst.bytes + shift);
      if (scatter)
        for (r = 0; r < p.padded_rows; ++r)
          memset(expect + shift + (size_t)(r * dst_rs) * 2, 0, (size_t)p.row_elems * 2);
      for (r = 0; r < count_val; ++r) {
        int64_t ix;
        memcpy(&ix, (char *)idx.arg + 8 * r, 8);
        memcpy(expect + shift + (size_t)((scatter ? ix : r) * dst_rs) * 2,
               (const char *)src.arg + (size_t)((scatter ? r : ix) * src_rs) * 2, (size_t)p.row_elems * 2);
      }
      if (memcmp(expect, dst.alloc, dst.bytes + shift) != 0) {
        size_t b;
        for (b = 0; b < dst.bytes + shift && expect[b] == ((unsigned char *)dst.alloc)[b]; ++b) {
        }
        fz_die("%s: dst byte %zu is 0x%02x, expected 0x%02x (count %lld, padded_rows %lld, row_elems %lld)", name,
               b, ((unsigned char *)dst.alloc)[b], expect[b], (long long)count_val, (long long)p.padded_rows,
               (long long)p.row_elems);
      }
      free(expect);
    }
    free(s_src.copy), free(s_dst.copy), free(s_idx.copy), free(s_cnt.copy);
  }
  buf_free(&src), buf_free(&dst), buf_free(&idx), buf_free(&cnt);
}

static void run_position_ids(fz_in *in) {
  const fz_flags fl = fz_helper_flags(in);
  fa_position_ids_params p;
  fz_buf ids, cu, num, maxlen;
  fa_message msg;
  fa_status st;
  uint32_t allowed;
  size_t esize;
  int fits, ambiguous = 0;
  unsigned t;
  p = fa_position_ids_params_default();
  p.backend = fz_backend(in);
  t = fz_u8(in);
  p.dtype = t < 0xF0 ? (fa_int_dtype)(2 + t % 2) : (t < 0xF8 ? FA_INT_BOOL : (fa_int_dtype)(int32_t)fz_u32(in));
  p.total = fz_rows_i64(in, 1, 64);
  esize = p.dtype == FA_INT32 ? 4 : p.dtype == FA_INT64 ? 8 : 0;
  ids.mode = fz_ptr(in, esize ? esize : 1);
  cu.mode = fz_ptr(in, 4);
  num.mode = fz_ptr(in, 4);
  maxlen.mode = fz_ptr(in, 4);
  allowed = fl.params_null ? BIT(FA_ERR_NULL_POINTER) : 0;
  if (!fl.params_null) {
    allowed |= backend_rules(p.backend);
    if (esize == 0)
      allowed |= BIT(FA_ERR_UNSUPPORTED_DTYPE);
    if (p.total < 1 || p.total > INT32_MAX)
      allowed |= BIT(FA_ERR_INVALID_SHAPE);
    allowed |= ptr_rule(ids.mode, esize ? esize : 1) | ptr_rule(cu.mode, 4) | ptr_rule(num.mode, 4) |
               ptr_rule(maxlen.mode, 4);
  }
  fits = allowed == 0 && p.total <= 4096;
  buf_place(&ids, fits ? (size_t)p.total * esize : 8, 0);
  buf_place(&cu, fits ? (size_t)(p.total + 1) * 4 : 4, 0xA5);
  buf_place(&num, 4, 0xA5);
  buf_place(&maxlen, 4, 0xA5);
  if (fits) { /* packed sequences, or arbitrary values (negative, repeated zeros) */
    fz_rng rng;
    const unsigned mode = fz_u8(in) % 4;
    int64_t i, pos = 0;
    rng.s = fz_u64(in);
    for (i = 0; i < p.total; ++i) {
      int64_t v;
      if (mode == 0) {
        if ((fz_next(&rng) % 8) == 0)
          pos = 0;
        v = pos++;
      } else if (mode == 1) {
        v = (int64_t)(fz_next(&rng) % 5) - 1;
      } else if (mode == 2) {
        v = 0;
      } else {
        v = (int64_t)fz_next(&rng);
      }
      if (esize == 4) {
        const int32_t w = (int32_t)v;
        memcpy((char *)ids.arg + 4 * i, &w, 4);
      } else {
        memcpy((char *)ids.arg + 8 * i, &v, 8);
      }
    }
  }
  p.position_ids = ids.arg;
  p.cu_seqlens = (int32_t *)cu.arg, p.num_seqs = (int32_t *)num.arg, p.max_seqlen = (int32_t *)maxlen.arg;
  fz_helper_struct_size(in, &p.struct_size, sizeof p, &fl, &allowed, &ambiguous);
  if (fits || allowed != 0) {
    fa_position_ids_params *arg = fl.params_null ? NULL : (fa_position_ids_params *)fz_exact_copy(&p, sizeof p);
    fz_snap s_ids, s_out[3];
    snap_take(&s_ids, "position_ids", ids.alloc, ids.bytes);
    snap_take(&s_out[0], "cu_seqlens", cu.alloc, cu.bytes);
    snap_take(&s_out[1], "num_seqs", num.alloc, num.bytes);
    snap_take(&s_out[2], "max_seqlen", maxlen.alloc, maxlen.bytes);
    fz_current = "fa_seqlens_from_position_ids";
    fz_message_reset(&msg);
    st = fa_seqlens_from_position_ids(arg, fl.message_null ? NULL : &msg);
    check_helper_verdict(fz_current, allowed, ambiguous, st);
    if (!fl.message_null)
      check_message(fz_current, st, &msg);
    check_params_same(fz_current, arg, &p, sizeof p);
    free(arg);
    if (!snap_same(&s_ids))
      fz_die("modified position_ids");
    if (st != FA_OK) {
      int k;
      for (k = 0; k < 3; ++k)
        if (!snap_same(&s_out[k]))
          fz_die("failed (%s) but wrote %s", fa_status_string(st), s_out[k].name);
    } else {
      int32_t n = 0, longest = 0, prev = 0, got;
      int64_t i;
      for (i = 0; i <= p.total; ++i) {
        int64_t v = 0;
        int starts;
        if (i < p.total) {
          if (esize == 4) {
            int32_t w;
            memcpy(&w, (char *)ids.arg + 4 * i, 4);
            v = w;
          } else {
            memcpy(&v, (char *)ids.arg + 8 * i, 8);
          }
        }
        starts = i == 0 || i == p.total || v == 0;
        if (!starts)
          continue;
        if (i > 0 && i - prev > longest)
          longest = (int32_t)(i - prev);
        if (i < p.total) {
          memcpy(&got, (char *)cu.arg + 4 * n, 4);
          if (got != (int32_t)i)
            fz_die("cu_seqlens[%d] = %d, expected %lld", n, got, (long long)i);
          ++n;
          prev = (int32_t)i;
        }
      }
      for (i = n; i <= p.total; ++i) {
        memcpy(&got, (char *)cu.arg + 4 * i, 4);
        if (got != (int32_t)p.total)
          fz_die("cu_seqlens[%lld] = %d after the last sequence, expected total %lld", (long long)i, got,
                 (long long)p.total);
      }
      memcpy(&got, num.arg, 4);
      if (got != n)
        fz_die("num_seqs = %d, expected %d", got, n);
      memcpy(&got, maxlen.arg, 4);
      if (got != longest)
        fz_die("max_seqlen = %d, expected %d", got, longest);
    }
    free(s_ids.copy);
    free(s_out[0].copy), free(s_out[1].copy), free(s_out[2].copy);
  }
  buf_free(&ids), buf_free(&cu), buf_free(&num), buf_free(&maxlen);
}

static void run_copy_to_host(fz_in *in) {
  const fa_backend backend = fz_backend(in);
  const unsigned t = fz_u8(in);
  const size_t bytes = t < 0xF0 ? (size_t)(t % 96) : 0;
  const fz_ptr_mode md = fz_ptr(in, 1), ms = fz_ptr(in, 1);
  const int message_null = fz_u8(in) & 1;
  fz_buf dst, src;
  fa_message msg;
  fa_status st;
  uint32_t allowed = backend_rules(backend);
  size_t i;
  dst.mode = md, src.mode = ms;
  allowed |= ptr_rule(md, 1) | ptr_rule(ms, 1);
  buf_place(&dst, bytes, 0xA5);
  buf_place(&src, bytes, 0);
  for (i = 0; i < bytes && src.arg != NULL; ++i)
    ((unsigned char *)src.arg)[i] = (unsigned char)(i * 37 + 11);
  fz_current = "fa_copy_to_host";
  fz_message_reset(&msg);
  st = fa_copy_to_host(backend, dst.arg, src.arg, bytes, NULL, message_null ? NULL : &msg);
  check_helper_verdict(fz_current, allowed, 0, st);
  if (!message_null)
    check_message(fz_current, st, &msg);
  for (i = 0; i < bytes && dst.arg != NULL; ++i) {
    const unsigned char want = st == FA_OK ? (unsigned char)(i * 37 + 11) : 0xA5;
    if (((unsigned char *)dst.arg)[i] != want)
      fz_die("fa_copy_to_host (%s): byte %zu of %zu is 0x%02x, expected 0x%02x", fa_status_string(st), i, bytes,
             ((unsigned char *)dst.arg)[i], want);
  }
  buf_free(&dst), buf_free(&src);
}

/* ------------------------------------------------------------ fa_combine */

/* A stride of fa_combine, given the packed value `need` and the multiple
 * `mult` the contract asks for: 0 (packed) most of the time; padded,
 * small (overlapping views), or hostile. */
static int64_t fz_cstride(fz_in *in, int64_t need, int64_t mult) {
  const unsigned t = fz_u8(in);
  if (t < 0xA0)
    return 0;
  if (t < 0xC0)
    return sat_add(need, mult * (int64_t)(t % 4));
  if (t < 0xD0)
    return mult * (int64_t)(t % 4);
  switch (t & 15) {
    case 0: return sat_add(need, 1);
    case 1: return -mult;
    case 2: return FZ_LIMIT;
    case 3: return FZ_LIMIT + mult;
    case 4: return INT64_MAX;
    case 5: return INT64_MIN;
    case 6: return (int64_t)fz_u64(in);
    case 7: return (int64_t)1 << 43;
    case 8: return 2;
    case 9: return 4; /* fp32 rows: valid; 16-bit output: not a multiple of 8 */
    case 10: return (int64_t)1 << 62;
    case 11: return INT64_MAX - 7;
    case 12: return 1;
    default: return sat_mul(need, 2);
  }
}

static int64_t packed_or(int64_t given, int64_t packed) { return given != 0 ? given : packed; }

/* Largest finite value of an output dtype. */
static double dtype_max(fa_dtype dt) {
  return dt == FA_DTYPE_FP16 ? 65504.0 : dt == FA_DTYPE_BF16 ? 3.3895313892515355e38 : (double)FLT_MAX;
}

/* One output element of fa_combine against the double-precision merge:
 * `want` with absolute tolerance `tol` (and the output's own rounding). */
static void check_combine_value(const char *what, double got, double want, double tol, fa_dtype dt) {
  const double rel = dt == FA_DTYPE_BF16 ? 1.0 / 256 : dt == FA_DTYPE_FP16 ? 1.0 / 2048 : 1.2e-7;
  const double tiny = dt == FA_DTYPE_BF16 ? 1e-38 : dt == FA_DTYPE_FP16 ? 6e-8 : 1.5e-45;
  const double mx = dtype_max(dt);
  if (fabs(want) - tol > mx * (1.0 + rel)) { /* overflows the output type */
    if (!(isinf(got) && (got > 0) == (want > 0)))
      fz_die("%s = %.9g, expected %s (reference %.9g beyond the output type)", what, got,
             want > 0 ? "inf" : "-inf", want);
    return;
  }
  if (fabs(want) + tol >= mx)
    return; /* at the edge of the type: either */
  if (!(fabs(got - want) <= tol + rel * fabs(want) + tiny))
    fz_die("%s = %.9g, reference %.9g (tol %.3g)", what, got, want, tol + rel * fabs(want) + tiny);
}

static float out_value(const void *out, int64_t at, fa_dtype dt) {
  if (dt == FA_DTYPE_FP32) {
    float f;
    memcpy(&f, (const char *)out + 4 * at, 4);
    return f;
  }
  {
    uint16_t h;
    memcpy(&h, (const char *)out + 2 * at, 2);
    return (float)fz_decode(h, dt);
  }
}

/*
 * fa_combine on the CPU backend (CUDA calls fail without a device). The
 * model: num_parts in [1, 256], num_heads >= 1, num_rows in [0, 2^31),
 * head_dim a multiple of 8 up to 512, out_dtype fp16 / bf16 / fp32,
 * out_parts / lse_parts / out non-NULL, out_parts and out 16-byte aligned,
 * lse_parts / sinks / lse 4-byte aligned; the given strides >= 0 and
 * multiples of 4 (fp32 parts), 8 (16-bit out) or 4 (fp32 out), else
 * FA_ERR_INVALID_STRIDE, and at most 2^60, else FA_ERR_OVERFLOW, whatever
 * they multiply into (src/combine.c checks them before it forms the packed
 * defaults); the packed defaults (num_heads x head stride, num_rows x row
 * stride) at most 2^60 and no buffer, out_parts, lse_parts, out or lse,
 * spanning more than 2^60 elements, else FA_ERR_OVERFLOW. As in
 * src/combine.c, lse's span is bounded even when lse is NULL (its stride is
 * checked either way), and a call of 0 rows spans its part and head
 * strides as if it had one row. The library computes the defaults and the
 * spans in double: within FZ_BAND of 2^60 either verdict is taken.
 */
typedef struct fz_cmb {
  fa_combine_params p;
  fz_buf o, l, sinks, out, lse;
  int64_t ohs, ors, ops, lhs, lps, uhs, urs, lsh; /* effective strides */
  int64_t span_o, span_l, span_out, span_lse;      /* elements */
  size_t osize;                                    /* bytes of an output element */
} fz_cmb;

/* fa_combine's result against a double-precision merge, row by row:
 *   lse = log(sum_p exp(l_p) [+ exp(sink)]),  out = sum_p exp(l_p - lse) o_p,
 * parts with l_p = -inf skipped (their o_p are NaN here), a row of empty
 * parts gives out 0 and lse -inf (or the sink), NaN in an l_p makes the row
 * NaN, NaN in o_p[e] makes out[e] NaN. Every byte of out and lse outside
 * the rows stays as it was; elements two (row, head)s share (overlapping
 * views) are not compared. */
static void check_combine_result(const fz_cmb *c, const unsigned char *out_before, const unsigned char *lse_before) {
  const fa_combine_params *p = &c->p;
  const int64_t n = p->num_parts, h = p->num_heads, rows = p->num_rows, d = p->head_dim;
  const size_t os = c->osize;
  const size_t out_shift = (size_t)((const char *)c->out.arg - (const char *)c->out.alloc);
  const size_t lse_shift = c->lse.arg != NULL ? (size_t)((const char *)c->lse.arg - (const char *)c->lse.alloc) : 0;
  const int64_t out_n = (int64_t)(c->out.bytes / os), lse_n = (int64_t)(c->lse.bytes / 4);
  unsigned char *owned = (unsigned char *)calloc((size_t)out_n + 1, 1);
  unsigned char *lse_owned = (unsigned char *)calloc((size_t)lse_n + 1, 1);
  double *l = (double *)malloc(sizeof(double) * (size_t)n);
  int64_t r, hh, e, pp;
  size_t byte;
  if (owned == NULL || lse_owned == NULL || l == NULL)
    fz_die("out of memory");
  for (r = 0; r < rows; ++r)
    for (hh = 0; hh < h; ++hh) {
      const int64_t at = r * c->urs + hh * c->uhs;
      for (e = 0; e < d; ++e)
        owned[at + e] = owned[at + e] < 2 ? (unsigned char)(owned[at + e] + 1) : 2;
      if (c->lse.arg != NULL) {
        const int64_t li = hh * c->lsh + r;
        lse_owned[li] = lse_owned[li] < 2 ? (unsigned char)(lse_owned[li] + 1) : 2;
      }
    }
  for (byte = 0; byte < c->out.bytes + out_shift; ++byte)
    if ((byte < out_shift || !owned[(byte - out_shift) / os]) &&
        ((const unsigned char *)c->out.alloc)[byte] != out_before[byte])
      fz_die("fa_combine: out byte %lld, outside every row, was written", (long long)byte - (long long)out_shift);
  for (byte = 0; c->lse.arg != NULL && byte < c->lse.bytes + lse_shift; ++byte)
    if ((byte < lse_shift || !lse_owned[(byte - lse_shift) / 4]) &&
        ((const unsigned char *)c->lse.alloc)[byte] != lse_before[byte])
      fz_die("fa_combine: lse byte %lld, outside every row, was written", (long long)byte - (long long)lse_shift);

  for (r = 0; r < rows; ++r)
    for (hh = 0; hh < h; ++hh) {
      const float *lse_got = c->lse.arg != NULL && lse_owned[hh * c->lsh + r] == 1
                                 ? (const float *)c->lse.arg + hh * c->lsh + r
                                 : NULL;
      const double sink = p->sinks != NULL ? (double)p->sinks[hh] : -INFINITY;
      double mx = sink, big = fabs(sink), lse_want, denom = 0.0;
      int nonempty = 0, nan_part = 0, skip = !isfinite(sink) && p->sinks != NULL;
      char what[160];
      for (pp = 0; pp < n; ++pp) {
        float f;
        memcpy(&f, (const float *)c->l.arg + pp * c->lps + hh * c->lhs + r, 4);
        l[pp] = f;
        if (isnan(f))
          nan_part = 1;
        else if (f == INFINITY)
          skip = 1;
        else if (f != -INFINITY) {
          ++nonempty;
          mx = l[pp] > mx ? l[pp] : mx;
          big = fabs(l[pp]) > big ? fabs(l[pp]) : big;
        }
      }
      if (nan_part) { /* the row is NaN, lse too, even for a NaN part alone */
        for (e = 0; e < d; ++e) {
          const int64_t at = r * c->urs + hh * c->uhs + e;
          if (owned[at] == 1 && !isnan(out_value(c->out.arg, at, p->out_dtype)))
            fz_die("fa_combine: row %lld head %lld has a NaN part lse but out[%lld] = %g", (long long)r,
                   (long long)hh, (long long)e, (double)out_value(c->out.arg, at, p->out_dtype));
        }
        if (lse_got != NULL && !isnan(*lse_got))
          fz_die("fa_combine: row %lld head %lld has a NaN part lse but lse = %g", (long long)r, (long long)hh,
                 (double)*lse_got);
        continue;
      }
      if (skip || big > 1e37)
        continue; /* +inf parts, non-finite sinks, lses whose log2 overflows fp32: no promise */
      if (nonempty == 0) { /* nothing to merge: zeros, lse -inf or the sink */
        for (e = 0; e < d; ++e) {
          const int64_t at = r * c->urs + hh * c->uhs + e;
          if (owned[at] == 1 && out_value(c->out.arg, at, p->out_dtype) != 0.f)
            fz_die("fa_combine: row %lld head %lld has only empty parts but out[%lld] = %g", (long long)r,
                   (long long)hh, (long long)e, (double)out_value(c->out.arg, at, p->out_dtype));
        }
        if (lse_got != NULL && p->sinks == NULL && *lse_got != -INFINITY)
          fz_die("fa_combine: row %lld head %lld has only empty parts but lse = %g", (long long)r, (long long)hh,
                 (double)*lse_got);
        if (lse_got != NULL && p->sinks != NULL && !(fabs((double)*lse_got - sink) <= 1e-6 * (1.0 + fabs(sink))))
          fz_die("fa_combine: row %lld head %lld has only empty parts and the sink %g but lse = %g", (long long)r,
                 (long long)hh, sink, (double)*lse_got);
        continue;
      }
      for (pp = 0; pp < n; ++pp)
        if (l[pp] != -INFINITY)
          denom += exp(l[pp] - mx);
      if (p->sinks != NULL)
        denom += exp(sink - mx);
      lse_want = mx + log(denom);
      {
        /* fp32 base-2 arithmetic: rounding l * log2(e) costs |l| 2^-24
         * relative in each weight; sums of n parts, exp2, the inverse. */
        const double ew = 1.2e-7 * (8.0 + 2.0 * (double)n + 4.0 * (big > fabs(lse_want) ? big : fabs(lse_want)));
        if (lse_got != NULL) {
          snprintf(what, sizeof what, "fa_combine: row %lld head %lld: lse", (long long)r, (long long)hh);
          check_combine_value(what, (double)*lse_got, lse_want, 2.0 * ew + 1e-6, FA_DTYPE_FP32);
        }
        for (e = 0; e < d; ++e) {
          const int64_t at = r * c->urs + hh * c->uhs + e;
          double want = 0.0, mag = 0.0, omax = 0.0;
          int nan_o = 0, inf_o = 0;
          if (owned[at] != 1)
            continue;
          for (pp = 0; pp < n; ++pp) {
            double o, w;
            if (l[pp] == -INFINITY)
              continue;
            o = ((const float *)c->o.arg)[pp * c->ops + r * c->ors + hh * c->ohs + e];
            nan_o |= isnan(o);
            inf_o |= isinf(o);
            w = exp(l[pp] - lse_want);
            want += w * o;
            mag += w * fabs(o);
            omax = fabs(o) > omax ? fabs(o) : omax;
          }
          snprintf(what, sizeof what, "fa_combine: row %lld head %lld: out[%lld]", (long long)r, (long long)hh,
                   (long long)e);
          if (nan_o) {
            if (!isnan(out_value(c->out.arg, at, p->out_dtype)))
              fz_die("%s = %g, expected NaN (a NaN in a part's output)", what,
                     (double)out_value(c->out.arg, at, p->out_dtype));
            continue;
          }
          if (inf_o || mag > 1e37)
            continue; /* inf parts, or fp32 sums that may overflow on the way */
          /* (weights and products below FLT_MIN keep only absolute precision: 2^-149 each) */
          check_combine_value(what, (double)out_value(c->out.arg, at, p->out_dtype), want,
                              mag * ew + (double)(n + 2) * 1.4e-45 * (2.0 + omax), p->out_dtype);
        }
      }
    }
  free(owned);
  free(lse_owned);
  free(l);
}

/* flashattn.h: "the same parts in the same order give the same bits on
 * every call". After a successful call, the same call again on copies of
 * every buffer (the same layout, at other addresses), out and lse as they
 * were before the first call: FA_OK, an empty message, and the bytes of
 * out and lse (every byte of their blocks) equal to the first call's. */
static void check_combine_repeat(const fz_cmb *c, const fa_combine_params *arg, const unsigned char *out_before,
                                 const unsigned char *lse_before) {
  const fz_buf *bufs[5] = {&c->o, &c->l, &c->sinks, &c->out, &c->lse};
  const unsigned char *init[5] = {NULL, NULL, NULL, out_before, lse_before};
  void *copy[5];
  size_t bytes[5];
  fa_combine_params q = *arg;
  fa_combine_params *qa;
  fa_message msg;
  fa_status st;
  int i;
  for (i = 0; i < 5; ++i) {
    bytes[i] = bufs[i]->bytes + (bufs[i]->mode.kind == PTR_SHIFT ? bufs[i]->mode.shift : 0);
    copy[i] = fz_alloc(bytes[i]);
    memcpy(copy[i], init[i] != NULL ? (const void *)init[i] : bufs[i]->alloc, bytes[i]);
  }
#define FZ_MOVED(i, type) \
  (bufs[i]->arg != NULL ? (type)((char *)copy[i] + ((const char *)bufs[i]->arg - (const char *)bufs[i]->alloc)) : NULL)
  q.out_parts = FZ_MOVED(0, const float *);
  q.lse_parts = FZ_MOVED(1, const float *);
  q.sinks = FZ_MOVED(2, const float *);
  q.out = FZ_MOVED(3, void *);
  q.lse = FZ_MOVED(4, float *);
#undef FZ_MOVED
  qa = (fa_combine_params *)fz_exact_copy(&q, sizeof q);
  fz_current = "fa_combine (the same call again)";
  fz_message_reset(&msg);
  st = fa_combine(qa, &msg);
  if (st != FA_OK)
    fz_die("returned %s; the same call returned FA_OK before", fa_status_string(st));
  check_message(fz_current, st, &msg);
  for (i = 0; i < 3; ++i)
    if (memcmp(copy[i], bufs[i]->alloc, bytes[i]) != 0)
      fz_die("modified an input");
  if (memcmp(copy[3], c->out.alloc, bytes[3]) != 0 || memcmp(copy[4], c->lse.alloc, bytes[4]) != 0)
    fz_die("the same call on the same %d parts gave other bytes of out or lse than the first (flashattn.h: the "
           "same parts in the same order give the same bits on every call)", arg->num_parts);
  fz_current = "fa_combine";
  free(qa);
  for (i = 0; i < 5; ++i)
    free(copy[i]);
}

static void run_combine(fz_in *in) {
  const fz_flags fl = fz_helper_flags(in);
  fz_cmb c;
  fa_combine_params *p = &c.p;
  fa_message msg;
  fa_status st;
  uint32_t allowed;
  int ambiguous = 0, shapes_ok, fits, i;
  unsigned t;
  int64_t h, rows, d;
  memset(&c, 0, sizeof c);
  *p = fa_combine_params_default();
  p->backend = fz_backend(in);
  t = fz_u8(in);
  p->out_dtype = t < 0xF0 ? (fa_dtype)(1 + t % 3) : (fa_dtype)(int32_t)fz_u32(in);
  t = fz_u8(in);
  if (t < 0xC0) {
    p->num_parts = 1 + (int32_t)(t % 8);
  } else {
    static const int32_t parts[8] = {0, -1, 256, 257, INT32_MAX, INT32_MIN, 255, 16};
    p->num_parts = parts[t & 7];
  }
  p->num_heads = fz_i32(in, 1, 4);
  t = fz_u8(in);
  if (t < 0x80) {
    p->head_dim = 8 * (1 + (int32_t)(t % 16));
  } else if (t < 0xC0) {
    p->head_dim = 8 * (1 + (int32_t)(t % 64));
  } else {
    static const int32_t dims[8] = {0, 4, 12, 520, 1024, -8, 516, 0};
    p->head_dim = (t & 7) == 7 ? (int32_t)fz_u32(in) : dims[t & 7];
  }
  p->num_rows = fz_rows_i64(in, 0, 12);
  h = p->num_heads >= 1 ? p->num_heads : 1;
  rows = p->num_rows >= 0 && p->num_rows <= INT32_MAX ? p->num_rows : 0;
  d = p->head_dim >= 8 && p->head_dim <= 512 ? p->head_dim : 8;
  {
    const int64_t mult_out = p->out_dtype == FA_DTYPE_FP32 ? 4 : 8;
    p->out_parts_head_stride = fz_cstride(in, d, 4);
    c.ohs = packed_or(p->out_parts_head_stride, d);
    p->out_parts_row_stride = fz_cstride(in, sat_mul(h, c.ohs), 4);
    c.ors = packed_or(p->out_parts_row_stride, sat_mul(h, c.ohs));
    p->out_parts_part_stride = fz_cstride(in, sat_mul(rows, c.ors), 4);
    c.ops = packed_or(p->out_parts_part_stride, sat_mul(rows, c.ors));
    p->lse_parts_head_stride = fz_cstride(in, rows, 1);
    c.lhs = packed_or(p->lse_parts_head_stride, rows);
    p->lse_parts_part_stride = fz_cstride(in, sat_mul(h, c.lhs), 1);
    c.lps = packed_or(p->lse_parts_part_stride, sat_mul(h, c.lhs));
    p->out_head_stride = fz_cstride(in, d, mult_out);
    c.uhs = packed_or(p->out_head_stride, d);
    p->out_row_stride = fz_cstride(in, sat_mul(h, c.uhs), mult_out);
    c.urs = packed_or(p->out_row_stride, sat_mul(h, c.uhs));
    p->lse_head_stride = fz_cstride(in, rows, 1);
    c.lsh = packed_or(p->lse_head_stride, rows);
  }
  c.o.mode = fz_ptr(in, 16);
  c.l.mode = fz_ptr(in, 4);
  c.sinks.mode = fz_ptr(in, 4);
  c.out.mode = fz_ptr(in, 16);
  c.lse.mode = fz_ptr(in, 4);
  if (!(fl.raw & 2))
    c.sinks.mode.kind = PTR_NULL;
  if (!(fl.raw & 4))
    c.lse.mode.kind = PTR_NULL;

  /* The model. */
  allowed = fl.params_null ? BIT(FA_ERR_NULL_POINTER) : 0;
  shapes_ok = 0;
  if (!fl.params_null) {
    const int64_t mult_out = p->out_dtype == FA_DTYPE_FP32 ? 4 : 8;
    allowed |= backend_rules(p->backend);
    if (p->out_dtype != FA_DTYPE_FP16 && p->out_dtype != FA_DTYPE_BF16 && p->out_dtype != FA_DTYPE_FP32)
      allowed |= BIT(FA_ERR_UNSUPPORTED_DTYPE);
    if (p->num_parts < 1 || p->num_parts > FA_MAX_SPLITS)
      allowed |= BIT(FA_ERR_INVALID_SHAPE);
    if (p->num_heads < 1 || p->num_rows < 0 || p->num_rows > INT32_MAX)
      allowed |= BIT(FA_ERR_INVALID_SHAPE);
    if (p->head_dim < 8 || p->head_dim > 512 || p->head_dim % 8 != 0)
      allowed |= BIT(FA_ERR_UNSUPPORTED_HEAD_DIM);
    allowed |= ptr_rule(c.o.mode, 16) | ptr_rule(c.l.mode, 4) | ptr_rule(c.out.mode, 16);
    if (c.sinks.mode.kind == PTR_SHIFT && c.sinks.mode.shift % 4 != 0)
      allowed |= BIT(FA_ERR_MISALIGNED);
    if (c.lse.mode.kind == PTR_SHIFT && c.lse.mode.shift % 4 != 0)
      allowed |= BIT(FA_ERR_MISALIGNED);
    shapes_ok = p->num_parts >= 1 && p->num_parts <= FA_MAX_SPLITS && p->num_heads >= 1 && p->num_rows >= 0 &&
                p->num_rows <= INT32_MAX && p->head_dim >= 8 && p->head_dim <= 512 && p->head_dim % 8 == 0;
    if (shapes_ok) {
      const int64_t v[8] = {c.ohs, c.ors, c.ops, c.lhs, c.lps, c.uhs, c.urs, c.lsh};
      const int64_t given[8] = {p->out_parts_head_stride, p->out_parts_row_stride, p->out_parts_part_stride,
                                p->lse_parts_head_stride, p->lse_parts_part_stride, p->out_head_stride,
                                p->out_row_stride,        p->lse_head_stride};
      const int64_t m[8] = {4, 4, 4, 1, 1, mult_out, mult_out, 1};
      int bad = 0, given_bad;
      /* The given strides first, compared exactly; only when they all
       * pass, the packed defaults: products of valid strides, so >= 0 and
       * multiples of theirs (sat_mul's INT64_MAX stands for "too large"),
       * formed in double by the library: within FZ_BAND of 2^60 either
       * verdict. */
      for (i = 0; i < 8; ++i) {
        if (given[i] == 0)
          continue;
        if (given[i] < 0 || given[i] % m[i] != 0)
          allowed |= BIT(FA_ERR_INVALID_STRIDE), bad = 1;
        else if (given[i] > FZ_LIMIT)
          allowed |= BIT(FA_ERR_OVERFLOW), bad = 1;
      }
      given_bad = bad;
      for (i = 0; i < 8; ++i) {
        if (given_bad || given[i] != 0)
          continue;
        if (v[i] > FZ_LIMIT + FZ_BAND)
          allowed |= BIT(FA_ERR_OVERFLOW), bad = 1;
        else if (v[i] > FZ_LIMIT - FZ_BAND)
          ambiguous = 1, bad = 1;
      }
      if (!bad) {
        const int64_t n = p->num_parts, last_row = rows > 0 ? rows - 1 : 0;
        /* The spans the library bounds (0 rows: as if one), then the
         * elements the harness allocates (lse_parts and lse: none for 0 rows). */
        const int64_t bound_l = sat_add(sat_add(sat_mul(n - 1, c.lps), sat_mul(h - 1, c.lhs)), last_row + 1);
        const int64_t bound_lse = sat_add(sat_mul(h - 1, c.lsh), last_row + 1);
        c.span_o = sat_add(sat_add(sat_mul(n - 1, c.ops), sat_mul(last_row, c.ors)), sat_add(sat_mul(h - 1, c.ohs), d));
        c.span_out = sat_add(sat_add(sat_mul(last_row, c.urs), sat_mul(h - 1, c.uhs)), d);
        c.span_l = rows > 0 ? bound_l : 0;
        c.span_lse = rows > 0 ? bound_lse : 0;
        if (c.span_o > FZ_LIMIT + FZ_BAND || c.span_out > FZ_LIMIT + FZ_BAND || bound_l > FZ_LIMIT + FZ_BAND ||
            bound_lse > FZ_LIMIT + FZ_BAND)
          allowed |= BIT(FA_ERR_OVERFLOW);
        else if (c.span_o > FZ_LIMIT - FZ_BAND || c.span_out > FZ_LIMIT - FZ_BAND || bound_l > FZ_LIMIT - FZ_BAND ||
                 bound_lse > FZ_LIMIT - FZ_BAND)
          ambiguous = 1;
      }
    }
  }
  c.osize = p->out_dtype == FA_DTYPE_FP32 ? 4 : 2;
  fits = allowed == 0 && !ambiguous && shapes_ok &&
         sat_add(sat_add(sat_mul(c.span_o, 4), sat_mul(c.span_l, 4)),
                 sat_add(sat_mul(c.span_out, (int64_t)c.osize), sat_mul(c.span_lse, 4))) <= FZ_MAX_BYTES &&
         sat_mul(sat_mul(p->num_parts, rows), sat_mul(h, d + 1)) <= FZ_MAX_COMBINE_WORK;
  buf_place(&c.o, fits ? (size_t)c.span_o * 4 : 16, 0xFF);
  buf_place(&c.l, fits ? (size_t)c.span_l * 4 : 16, 0xFF);
  buf_place(&c.sinks, fits ? (size_t)h * 4 : 16, 0xFF);
  buf_place(&c.out, fits ? (size_t)c.span_out * c.osize : 16, 0xA5);
  buf_place(&c.lse, fits ? (size_t)c.span_lse * 4 : 16, 0xA5);

  /* Values: parts' outputs normal(osig); lses normal(lsig), some -inf
   * (parts that saw no key: their outputs are NaN, never to be read), some
   * rows empty in every part; sometimes one special. */
  t = fz_u8(in);
  if (fits) {
    static const double osig[4] = {1.0, 0.01, 100.0, 1e4}, lsig[4] = {1.0, 10.0, 100.0, 1e4};
    const int empty = (int)((t >> 4) & 3);
    const int64_t n = p->num_parts;
    fz_rng rng;
    int64_t pp, r, hh, e;
    rng.s = fz_u64(in);
    for (pp = 0; pp < n; ++pp)
      for (r = 0; r < rows; ++r)
        for (hh = 0; hh < h; ++hh) {
          const int row_empty = empty == 3 && r % 3 == 1;
          const int part_empty = row_empty || (empty == 1 && fz_next(&rng) % 4 == 0) ||
                                 (empty == 2 && fz_next(&rng) % 2 == 0);
          const float l = part_empty ? -INFINITY : (float)(fz_normal(&rng) * lsig[t & 3]);
          float *orow = (float *)c.o.arg + pp * c.ops + r * c.ors + hh * c.ohs;
          memcpy((float *)c.l.arg + pp * c.lps + hh * c.lhs + r, &l, 4);
          for (e = 0; e < d; ++e)
            orow[e] = part_empty ? NAN : (float)(fz_normal(&rng) * osig[(t >> 2) & 3]);
        }
    if (c.sinks.arg != NULL)
      for (hh = 0; hh < h; ++hh)
        ((float *)c.sinks.arg)[hh] = (float)(fz_normal(&rng) * lsig[t & 3]);
    if ((t & 0xC0) == 0xC0 && rows > 0) { /* one special: NaN / inf in an lse or an output, a huge lse */
      const unsigned u = fz_u8(in);
      const uint32_t at = fz_u32(in);
      const float v = fz_special_float(in, u);
      const int64_t pp1 = (int64_t)(at % (uint32_t)n), r1 = (int64_t)((at / 7u) % (uint64_t)rows),
                    h1 = (int64_t)((at / 11u) % (uint64_t)h);
      if (u & 0x10)
        ((float *)c.o.arg)[pp1 * c.ops + r1 * c.ors + h1 * c.ohs + (at / 13u) % (uint32_t)d] = v;
      else
        memcpy((float *)c.l.arg + pp1 * c.lps + h1 * c.lhs + r1, &v, 4);
    }
  }
  p->out_parts = (const float *)c.o.arg;
  p->lse_parts = (const float *)c.l.arg;
  p->sinks = (const float *)c.sinks.arg;
  p->out = c.out.arg;
  p->lse = (float *)c.lse.arg;
  fz_helper_struct_size(in, &p->struct_size, sizeof *p, &fl, &allowed, &ambiguous);
  if (getenv("FZ_VERBOSE") != NULL) {
    char want[512];
    describe_allowed(allowed, want, sizeof want);
    fprintf(stderr,
            "  fa_combine backend %d out_dtype %d parts %d heads %d d %d rows %lld strides o (%lld %lld %lld) "
            "lse_parts (%lld %lld) out (%lld %lld) lse %lld sinks %d lse %d struct_size %u\n"
            "  model: %s%s; fits %d\n",
            (int)p->backend, (int)p->out_dtype, p->num_parts, p->num_heads, p->head_dim, (long long)p->num_rows,
            (long long)c.ohs, (long long)c.ors, (long long)c.ops, (long long)c.lhs, (long long)c.lps,
            (long long)c.uhs, (long long)c.urs, (long long)c.lsh, p->sinks != NULL, p->lse != NULL,
            (unsigned)p->struct_size, want, ambiguous ? " (ambiguous)" : "", fits);
  }
  if (fits || (allowed != 0 && !ambiguous)) {
    fa_combine_params *arg = fl.params_null ? NULL : (fa_combine_params *)fz_exact_copy(p, sizeof *p);
    fz_snap s_in[3], s_out[2];
    snap_take(&s_in[0], "out_parts", c.o.alloc, c.o.bytes + (c.o.mode.kind == PTR_SHIFT ? c.o.mode.shift : 0));
    snap_take(&s_in[1], "lse_parts", c.l.alloc, c.l.bytes + (c.l.mode.kind == PTR_SHIFT ? c.l.mode.shift : 0));
    snap_take(&s_in[2], "sinks", c.sinks.alloc,
              c.sinks.bytes + (c.sinks.mode.kind == PTR_SHIFT ? c.sinks.mode.shift : 0));
    snap_take(&s_out[0], "out", c.out.alloc, c.out.bytes + (c.out.mode.kind == PTR_SHIFT ? c.out.mode.shift : 0));
    snap_take(&s_out[1], "lse", c.lse.alloc, c.lse.bytes + (c.lse.mode.kind == PTR_SHIFT ? c.lse.mode.shift : 0));
    fz_current = "fa_combine";
    fz_message_reset(&msg);
    st = fa_combine(arg, fl.message_null ? NULL : &msg);
    check_helper_verdict(fz_current, allowed, ambiguous, st);
    if (!fl.message_null)
      check_message(fz_current, st, &msg);
    check_params_same(fz_current, arg, p, sizeof *p);
    for (i = 0; i < 3; ++i)
      if (!snap_same(&s_in[i]))
        fz_die("modified its input %s", s_in[i].name);
    if (st != FA_OK) {
      if (!snap_same(&s_out[0]) || !snap_same(&s_out[1]))
        fz_die("failed (%s) but wrote out or lse", fa_status_string(st));
    } else {
      check_combine_result(&c, (const unsigned char *)s_out[0].copy, (const unsigned char *)s_out[1].copy);
      check_combine_repeat(&c, arg, (const unsigned char *)s_out[0].copy, (const unsigned char *)s_out[1].copy);
    }
    free(arg);
    for (i = 0; i < 3; ++i)
      free(s_in[i].copy);
    free(s_out[0].copy), free(s_out[1].copy);
  }
  buf_free(&c.o), buf_free(&c.l), buf_free(&c.sinks), buf_free(&c.out), buf_free(&c.lse);
}

/* ------------------------------------------------------------ entry */

/* ------------------------------------------------------------ fa_fwd_workspace_size_max */

/* One call of fa_fwd_workspace_size_max (0.4) with hostile bounds. The
 * model, from flashattn.h: a known struct_size (decided alone: the struct
 * cannot be read otherwise); backend, dtype, heads and head dim as for a
 * call; max_batch >= 1; max_seqlen_q, max_total_q and max_seqlen_k >= 0;
 * num_splits 0 .. FA_MAX_SPLITS; the context as for a call; FA_ERR_OVERFLOW
 * where split partials over max_total_q rows (fp32, head_dim + 1 a row and
 * head, FA_MAX_SPLITS of them) pass 2^63 bytes, and either verdict from
 * 2^61 (the library's limit is 2^62). *bytes is written only on success,
 * and is 0 on the CPU backend, whose kernels need no workspace; the bounds
 * and the context are unchanged. The CUDA backend fails here (no device). */
static void run_workspace_max(fz_in *in) {
  const fz_flags fl = fz_helper_flags(in);
  const int bytes_null = (fl.raw & 0x1E) == 0x1E;
  fa_fwd_workspace_bounds b = fa_fwd_workspace_bounds_default(), *arg = NULL;
  fa_context *ctx, ctx_before;
  int32_t dims[64];
  const size_t n_dims = table_head_dims(dims);
  const size_t bytes_unset = (size_t)0xA5A5A5A5u;
  size_t bytes = bytes_unset;
  uint32_t allowed = 0;
  int ambiguous = 0;
  fa_message msg;
  fa_status st;
  b.backend = fz_backend(in);
  {
    const unsigned t = fz_u8(in);
    b.dtype = t < 0xF0 ? ((t & 1) ? FA_DTYPE_FP16 : FA_DTYPE_BF16) : (fa_dtype)(int32_t)fz_u32(in);
  }
  b.num_heads_k = fz_i32(in, 1, 8);
  {
    const int32_t group = fz_i32(in, 1, 8); /* hostile: num_heads_q itself */
    int32_t hq;
    if (group < 1 || group > 8 || __builtin_mul_overflow(b.num_heads_k, group, &hq))
      hq = group;
    b.num_heads_q = hq;
  }
  {
    const unsigned t = fz_u8(in);
    b.head_dim = t < 0xE0 && n_dims > 0 ? dims[t % n_dims] : fz_i32(in, 8, 520);
  }
  b.max_batch = fz_i32(in, 1, 64);
  b.max_seqlen_q = fz_i32(in, 0, 4096);
  b.max_total_q = fz_i64(in, b.max_batch > 0 && b.max_seqlen_q > 0 ? (int64_t)b.max_batch * b.max_seqlen_q : 0);
  b.max_seqlen_k = fz_i32(in, 0, 131072);
  b.num_splits = fz_i32(in, 0, 16);
  ctx = fz_context(in, fz_u8(in), &b.backend);
  b.context = ctx;
  b.struct_size = fz_struct_size(in, sizeof b); /* last: a shorter input has a known size */

  if (fl.params_null) {
    allowed = BIT(FA_ERR_NULL_POINTER);
  } else if (!fz_size_known(b.struct_size, sizeof b)) {
    allowed = BIT(FA_ERR_STRUCT_SIZE);
  } else {
    const int64_t hq = b.num_heads_q, hk = b.num_heads_k;
    if (bytes_null)
      allowed |= BIT(FA_ERR_NULL_POINTER);
    if (b.backend != FA_BACKEND_CPU && b.backend != FA_BACKEND_CUDA)
      allowed |= BIT(FA_ERR_INVALID_BACKEND);
    if (b.backend == FA_BACKEND_CUDA) /* no device here */
      allowed |= BIT(FA_ERR_NO_DEVICE) | BIT(FA_ERR_CUDA) | BIT(FA_ERR_UNSUPPORTED_DEVICE);
    if (b.dtype != FA_DTYPE_FP16 && b.dtype != FA_DTYPE_BF16)
      allowed |= BIT(FA_ERR_UNSUPPORTED_DTYPE);
    if (hq < 1 || hk < 1)
      allowed |= BIT(FA_ERR_INVALID_SHAPE);
    if (hq >= 1 && hk >= 1 && hq % hk != 0)
      allowed |= BIT(FA_ERR_HEADS_NOT_DIVISIBLE);
    if (!head_dim_in_table(b.head_dim))
      allowed |= BIT(FA_ERR_UNSUPPORTED_HEAD_DIM);
    if (b.max_batch < 1 || b.max_seqlen_q < 0 || b.max_total_q < 0 || b.max_seqlen_k < 0 || b.num_splits < 0 ||
        b.num_splits > FA_MAX_SPLITS)
      allowed |= BIT(FA_ERR_INVALID_SHAPE);
    allowed |= context_rule(ctx, b.backend);
    if (hq >= 1 && b.head_dim >= 0 && b.max_total_q >= 0) {
      const double partials = (double)b.max_total_q * (double)hq * (b.head_dim + 1.0) * 4.0 * FA_MAX_SPLITS;
      if (partials > 0x1p63)
        allowed |= BIT(FA_ERR_OVERFLOW);
      else if (partials > 0x1p61)
        ambiguous = 1;
    }
  }

  if (!fl.params_null)
    arg = (fa_fwd_workspace_bounds *)fz_exact_copy(&b, sizeof b);
  if (ctx != NULL)
    memcpy(&ctx_before, ctx, sizeof ctx_before);
  if (getenv("FZ_VERBOSE") != NULL) {
    char want[512];
    describe_allowed(allowed, want, sizeof want);
    fprintf(stderr,
            "  workspace_size_max: struct_size %u backend %d dtype %d heads %d/%d d %d max_batch %d max_seqlen "
            "(%d, %d) max_total_q %lld num_splits %d context %s bytes %s; model: %s%s\n",
            (unsigned)b.struct_size, (int)b.backend, (int)b.dtype, b.num_heads_q, b.num_heads_k, b.head_dim,
            b.max_batch, b.max_seqlen_q, b.max_seqlen_k, (long long)b.max_total_q, b.num_splits,
            ctx != NULL ? "given" : "none", bytes_null ? "NULL" : "given", want, ambiguous ? " (or OVERFLOW)" : "");
  }
  fz_current = "fa_fwd_workspace_size_max";
  fz_message_reset(&msg);
  st = fa_fwd_workspace_size_max(arg, bytes_null ? NULL : &bytes, fl.message_null ? NULL : &msg);
  check_status_known(st);
  if (!fl.message_null)
    check_message(fz_current, st, &msg);
  if (allowed == 0) {
    if (st != FA_OK && !(ambiguous && st == FA_ERR_OVERFLOW))
      fz_die("fa_fwd_workspace_size_max returned %s for valid bounds", fa_status_string(st));
  } else {
    if (ambiguous)
      allowed |= BIT(FA_ERR_OVERFLOW);
    if (st == FA_OK || !(allowed & BIT(st))) {
      char want[512];
      describe_allowed(allowed, want, sizeof want);
      fz_die("fa_fwd_workspace_size_max returned %s; the contract allows only %s", fa_status_string(st), want);
    }
  }
  if (st != FA_OK && bytes != bytes_unset)
    fz_die("fa_fwd_workspace_size_max failed (%s) but wrote *bytes", fa_status_string(st));
  if (st == FA_OK && bytes != 0)
    fz_die("fa_fwd_workspace_size_max says %zu bytes for CPU bounds; no CPU kernel needs workspace", bytes);
  if (arg != NULL && memcmp(arg, &b, sizeof b) != 0)
    fz_die("fa_fwd_workspace_size_max modified its bounds");
  if (ctx != NULL && memcmp(ctx, &ctx_before, sizeof ctx_before) != 0)
    fz_die("fa_fwd_workspace_size_max modified its context");
  free(ctx);
  free(arg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_in in;
  unsigned op;
  in.p = data;
  in.n = size;
  op = fz_u8(&in);
  if (op >= 0xF0) /* 0.3: first bytes of 0.2 inputs stay below 0xE0 */
    run_combine(&in);
  else if (op >= 0xE0)
    run_fwd(&in, OP_APPEND_KV);
  else if (op >= 0xD0) /* 0.4: no committed input of 0.3 starts with 0xD0-0xDF */
    run_workspace_max(&in);
  else
    switch (op % 9) {
      case 0:
      case 1: run_fwd(&in, OP_FWD); break;
      case 2: run_fwd(&in, OP_QUERY); break;
      case 3: run_fwd(&in, OP_WITH_KERNEL); break;
      case 4: run_kernel_info(&in); break;
      case 5: run_unpad_info(&in); break;
      case 6: run_rows(&in); break;
      case 7: run_position_ids(&in); break;
      default: run_copy_to_host(&in); break;
    }
  fz_current = "";
  fz_message_text = NULL;
  return 0;
}
