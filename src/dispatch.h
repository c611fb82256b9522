/*
 * dispatch.h - kernel families, the generated table, and the one function
 * that chooses a kernel for a call. Internal.
 *
 * A family (gen/spec.py FAMILIES) is one way of computing attention: the
 * mma.sync prefill kernels, the CPU kernels, later wgmma and decode. The
 * generator writes one table entry per kernel (family x arch x head dim x
 * dtype x mask); each entry points to its family's host descriptor, which
 * says whether the family computes a given call (its own limits: query rows
 * per sequence, GQA ratio, grid size, features) and how much workspace it
 * needs. Dispatch filters the table by what is fixed at build time
 * (backend, arch, head dim, dtype, mask) and asks the families, highest
 * priority first.
 */
#ifndef FA_DISPATCH_H
#define FA_DISPATCH_H

#include <stddef.h>

#include "common.h"
#include "fa_args.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fa_family {
  const char *name;
  /* FA_OK when the family computes this call with this kernel; otherwise the
   * status to report and, in *why, a sentence saying what limit the call
   * exceeds (without the "STATUS: " prefix, which dispatch adds). */
  fa_status (*supports)(const fa_fwd_args *args, const fa_kernel_info *kernel, const fa_device_info *dev,
                        fa_message *why);
  /* Bytes of workspace the kernel needs for this call, from host-known
   * values only (the size must not depend on device-side lengths). */
  size_t (*workspace_bytes)(const fa_fwd_args *args, const fa_kernel_info *kernel, const fa_device_info *dev);
  /* Optional: decide launch-time choices from host values (the split count)
   * into args before the workspace check and the launch. NULL: nothing. */
  void (*plan)(fa_fwd_args *args, const fa_kernel_info *kernel, const fa_device_info *dev);
  /* 0: the family is made for any query length. > 0: it is made for
   * sequences of at most this many packed query rows (len_q x heads per KV
   * head); a call that may hold longer ones runs as a pair (below). */
  int32_t short_rows;
  /* Optional (fa_fwd_workspace_size_max): bytes that cover workspace_bytes()
   * of every call this family may run whose host values are at most those
   * of `bounds` (batch, total_q, seqlen_q, seqlen_k; num_splits 0 = any,
   * n = 1 .. n; the same heads, head dim and dtype), alone or as either part
   * of a pair (seq_filter, short_rows), before plan() (splits 0). NULL: the
   * family's workspace_bytes() does not decrease as any of those values
   * grows, so its value at the bounds is the answer. */
  size_t (*max_workspace_bytes)(const fa_fwd_args *bounds, const fa_kernel_info *kernel, const fa_device_info *dev);
} fa_family;

typedef struct fa_kernel_entry {
  fa_kernel_info info;
  const fa_family *family;
  fa_launch_fn launch;
  /* > 0: a long-key specialization (gen/spec.py long_keys): dispatch takes
   * it only for calls with max_seqlen_k >= this, and then before the
   * kernel of the same family, mask and arch without it. 0: any call. */
  int32_t min_seqlen_k;
} fa_kernel_entry;

/* A table of kernels: the generated one (fa_kernel_table), or a test's. */
typedef struct fa_kernel_table_view {
  const fa_kernel_entry *entries;
  size_t size;
  const char *head_dims;  /* "32, 64, ...": the generated head dims, for messages */
  const char *cuda_archs; /* "sm_80, sm_90": the CUDA targets, for messages */
} fa_kernel_table_view;

/* Written by the generator (generated/kernel_table.c). */
extern const fa_kernel_table_view fa_kernel_table;

/* Whether machine code built for `kernel` runs on a device of compute
 * capability `device_arch` (x10): sm_XY runs on the same major version and
 * minor >= Y; arch-specific targets (sm_90a) only on exactly that arch. */
int fa_kernel_runs_on(const fa_kernel_info *kernel, int device_arch);

/* Whether `kernel` computes the window (window_left, window_right): its own
 * mask mode, or any window for a "local" kernel. */
int fa_kernel_computes_window(const fa_kernel_info *kernel, int32_t window_left, int32_t window_right);

/* What runs for a call: one kernel, or a pair splitting the sequences. A
 * pair happens when the chosen kernel's family is made for short sequences
 * (short_rows > 0), the call may hold longer ones (varlen queries with
 * max_seqlen_q x heads_per_kv above short_rows: only the device knows each
 * length), and a lower-ranked family that supports the call takes any
 * length: `index` then computes the short sequences and `partner` the
 * others, in the same call (each kernel skips the other's sequences). A
 * dense call, whose sequences all have max_seqlen_q rows, goes to one of
 * them. */
typedef struct fa_choice {
  size_t index;
  size_t partner; /* SIZE_MAX: none */
} fa_choice;

/* The one place that chooses the kernels for a call: see fa_fwd in
 * flashattn.h and the top of dispatch.c. On failure the message says what
 * is missing from the table, or which family declined and why. */
fa_status fa_choose_kernel_in(const fa_kernel_table_view *table, fa_backend backend, const fa_fwd_args *args,
                              fa_dtype dtype, const fa_device_info *dev, fa_choice *choice, fa_message *message);

/* A forced kernel (fa_fwd_with_kernel): whether it matches the call
 * (backend, head dim, dtype, window, device) and its family supports it. */
fa_status fa_check_forced_kernel_in(const fa_kernel_table_view *table, size_t index, fa_backend backend,
                                    const fa_fwd_args *args, fa_dtype dtype, const fa_device_info *dev,
                                    fa_message *message);

/* The args of part `part` (0, or 1 of a pair) of `choice`: the call's, with
 * the sequences that part computes (seq_filter) and the first kernel's
 * short_rows. Workspace and plan are left to the caller. */
fa_fwd_args fa_part_args(const fa_kernel_table_view *table, fa_choice choice, int part, const fa_fwd_args *call);

/* What fa_fwd_workspace_size reports for a call and its choice: each
 * part's need as its family's heuristic wishes it (unplanned: splits 0,
 * whatever workspace the call carries), 256-byte rounded, summed. */
size_t fa_choice_workspace_bytes(const fa_kernel_table_view *table, fa_choice choice, const fa_fwd_args *call,
                                 const fa_device_info *dev);

/* fa_fwd_workspace_size_max on `table`: bytes that cover
 * fa_choice_workspace_bytes of every call within `bounds` (an args struct
 * whose batch, total_q, seqlen_q, seqlen_k are upper bounds and num_splits
 * a cap, 0 = any). Every kernel of the backend, device, head dim and dtype
 * is considered, whatever its mask and whether its family would decline;
 * per family the largest (256-byte rounded) bound of its kernels; then the
 * sum of the two largest families' (a call runs at most two kernels, of
 * two families). */
size_t fa_workspace_bound_in(const fa_kernel_table_view *table, fa_backend backend, const fa_fwd_args *bounds,
                             fa_dtype dtype, const fa_device_info *dev);

/* Whether args->workspace / workspace_bytes cover what the kernel's family
 * needs for this call (FA_ERR_WORKSPACE otherwise). */
fa_status fa_check_workspace(const fa_kernel_entry *entry, const fa_fwd_args *args, const fa_device_info *dev,
                             fa_message *message);

/* The args fa_fwd_with_kernel(params, kernel_index) would launch the
 * kernel with (checked, planned), without launching it: for tests that
 * launch an instrumented copy of a kernel on a real call's arguments
 * (tests/wgmma_turns.cu). Implemented in api.c. */
fa_status fa_fwd_kernel_args(const fa_fwd_params *params, size_t kernel_index, fa_fwd_args *args,
                             fa_message *message);

#ifdef __cplusplus
}
#endif

#endif /* FA_DISPATCH_H */
