/*
 * dispatch.c - choose the kernel for a call. The whole decision is here:
 *
 *   1. Keep the table entries built for the call's backend, device
 *      architecture, head dim and dtype whose mask computes the window
 *      (a "local" kernel computes any window).
 *      A long-key specialization (gen/spec.py long_keys) is kept only
 *      when the call's max_seqlen_k reaches its min_seqlen_k.
 *   2. Order them by family priority, then an exact mask before "local"
 *      (the narrower kernel skips the per-row bounds), then the newest
 *      architecture, then a long-key specialization before the kernel
 *      without one.
 *   3. Take the first whose family supports the call (its own limits:
 *      query rows per sequence, GQA ratio, grid size, features).
 *   4. If that family is made for short sequences (decode) and the call
 *      may hold long ones, pair it with the next supporting family made for
 *      any length (mma): each computes its own sequences (fa_choice). A
 *      dense call has one length, and so has a varlen call with
 *      total_q >= batch x max_seqlen_q: the family made for it runs alone.
 *
 * When nothing is left after 1, the message says which axis is missing
 * from the build; when every family declined in 3, it says who declined and
 * why, and the status is the most general family's (the last asked).
 */
#include <stdio.h>
#include <string.h>

#include "dispatch.h"

int fa_kernel_runs_on(const fa_kernel_info *k, int device_arch) {
  if (k->backend != FA_BACKEND_CUDA) return 1;
  const size_t len = strlen(k->arch_name);
  const int arch_specific = len > 0 && k->arch_name[len - 1] == 'a';
  if (arch_specific) return k->arch == device_arch;
  return k->arch / 10 == device_arch / 10 && k->arch <= device_arch;
}

int fa_kernel_computes_window(const fa_kernel_info *k, int32_t window_left, int32_t window_right) {
  return k->mask == FA_MASK_LOCAL || k->mask == fa_mask_from_window(window_left, window_right);
}

/* Whether entry a goes before entry b (both candidates for one call): a
 * long-key specialization before its family's kernel without one (it is a
 * candidate only for calls long enough). */
static int ranks_before(const fa_kernel_entry *ea, const fa_kernel_entry *eb, fa_mask mask) {
  const fa_kernel_info *a = &ea->info, *b = &eb->info;
  if (a->priority != b->priority) return a->priority > b->priority;
  const int a_exact = a->mask == mask, b_exact = b->mask == mask;
  if (a_exact != b_exact) return a_exact;
  if (a->arch != b->arch) return a->arch > b->arch;
  return ea->min_seqlen_k > eb->min_seqlen_k;
}

/* Candidates of step 1, sorted as step 2 says. A call has a handful (a
 * few families, two masks); beyond `cap` the lowest-ranked are dropped. */
static size_t candidates(const fa_kernel_table_view *t, fa_backend backend, const fa_fwd_args *a, fa_dtype dtype,
                         int device_arch, size_t *out, size_t cap) {
  const fa_mask mask = fa_mask_from_window(a->window_left, a->window_right);
  size_t n = 0;
  for (size_t i = 0; i < t->size; ++i) {
    const fa_kernel_entry *e = &t->entries[i];
    const fa_kernel_info *k = &e->info;
    if (k->backend != backend || k->head_dim != a->head_dim || k->dtype != dtype) continue;
    if (!fa_kernel_runs_on(k, device_arch) || !fa_kernel_computes_window(k, a->window_left, a->window_right))
      continue;
    if (a->seqlen_k < e->min_seqlen_k) continue; /* a long-key specialization; the call is shorter */
    size_t j = n;
    if (n < cap) {
      ++n;
    } else if (ranks_before(e, &t->entries[out[cap - 1]], mask)) {
      j = cap - 1; /* replaces the last */
    } else {
      continue;
    }
    for (; j > 0 && ranks_before(e, &t->entries[out[j - 1]], mask); --j) out[j] = out[j - 1];
    out[j] = i;
  }
  return n;
}

/* Step 1 found nothing: say which axis the build lacks. */
static fa_status explain_missing(const fa_kernel_table_view *t, fa_backend backend, const fa_fwd_args *a,
                                 fa_dtype dtype, int device_arch, fa_message *message) {
  int head_dim_known = 0, arch_known = 0, dtype_known = 0;
  for (size_t i = 0; i < t->size; ++i) {
    const fa_kernel_info *k = &t->entries[i].info;
    if (k->head_dim == a->head_dim) head_dim_known = 1;
    if (k->backend == backend && fa_kernel_runs_on(k, device_arch)) {
      arch_known = 1;
      if (k->head_dim == a->head_dim && k->dtype == dtype) dtype_known = 1;
    }
  }
  if (!head_dim_known)
    return fa_fail(message, FA_ERR_UNSUPPORTED_HEAD_DIM,
                   "head_dim %d is not generated; generated: %s. Add it to HEAD_DIMS in gen/spec.py and run ninja",
                   a->head_dim, t->head_dims);
  if (!arch_known)
    return fa_fail(message, FA_ERR_UNSUPPORTED_DEVICE,
                   "no kernel was built for this device (sm_%d); built: %s. Add its arch to a family's archs in "
                   "gen/spec.py and rebuild",
                   device_arch, t->cuda_archs);
  return fa_fail(message, FA_ERR_NO_KERNEL,
                 "no %s kernel for head_dim %d, %s, mask %s was generated%s; add it to a family in gen/spec.py "
                 "(head_dims, dtypes, masks) and run ninja",
                 fa_backend_name(backend), a->head_dim, fa_dtype_name(dtype),
                 fa_mask_name(fa_mask_from_window(a->window_left, a->window_right)),
                 dtype_known ? "" : " (no kernel of this dtype at all)");
}

/* Append "family (kernel): reason" to the list of declines in msg. */
static void note_decline(fa_message *list, const fa_kernel_entry *e, const fa_message *why) {
  if (list == NULL) return;
  const size_t used = strlen(list->text);
  /* why->text starts with "FA_ERR_...: "; keep only the reason. */
  const char *reason = strstr(why->text, ": ");
  reason = reason != NULL ? reason + 2 : why->text;
  snprintf(list->text + used, sizeof list->text - used, "%sfamily %s (%s) declined: %s", used ? "; " : "",
           e->family->name, e->info.name, reason);
}

fa_status fa_choose_kernel_in(const fa_kernel_table_view *t, fa_backend backend, const fa_fwd_args *a, fa_dtype dtype,
                              const fa_device_info *dev, fa_choice *choice, fa_message *message) {
  size_t cand[32];
  const size_t n = candidates(t, backend, a, dtype, dev->arch, cand, sizeof cand / sizeof cand[0]);
  if (n == 0) return explain_missing(t, backend, a, dtype, dev->arch, message);
  fa_message declines;
  declines.text[0] = '\0';
  fa_status last = FA_ERR_UNSUPPORTED;
  const int64_t rows = (int64_t)a->seqlen_q * a->heads_per_kv;
  size_t first = SIZE_MAX;
  for (size_t c = 0; c < n; ++c) {
    const fa_kernel_entry *e = &t->entries[cand[c]];
    fa_message why;
    why.text[0] = '\0';
    const fa_status st = e->family->supports(a, &e->info, dev, &why);
    if (st != FA_OK) {
      note_decline(&declines, e, &why);
      last = st;
      continue;
    }
    const int32_t limit = e->family->short_rows;
    if (first == SIZE_MAX) {
      if (limit == 0 || rows <= limit) { /* made for this call's lengths */
        choice->index = cand[c], choice->partner = SIZE_MAX;
        return FA_OK;
      }
      first = cand[c];  /* short sequences only: find a family for the long ones */
      continue;
    }
    if (limit == 0 || rows <= limit) {
      /* Dense, or varlen whose q rows leave no room for a shorter sequence
       * (total_q >= batch x max_seqlen_q: each has max_seqlen_q rows, or the
       * rest is padding): every sequence is long, one launch. */
      if (a->cu_seqlens_q == NULL || a->total_q >= (int64_t)a->batch * a->seqlen_q) {
        choice->index = cand[c], choice->partner = SIZE_MAX;
      } else {
        choice->index = first, choice->partner = cand[c];
      }
      return FA_OK;
    }
  }
  if (first != SIZE_MAX) { /* nobody else: it computes every sequence */
    choice->index = first, choice->partner = SIZE_MAX;
    return FA_OK;
  }
  return fa_fail(message, last, "no kernel supports this call: %s", declines.text);
}

fa_status fa_check_forced_kernel_in(const fa_kernel_table_view *t, size_t index, fa_backend backend,
                                    const fa_fwd_args *a, fa_dtype dtype, const fa_device_info *dev,
                                    fa_message *message) {
  if (index >= t->size)
    return fa_fail(message, FA_ERR_NO_KERNEL, "kernel_index %zu is out of range (the table has %zu kernels)", index,
                   t->size);
  const fa_kernel_entry *e = &t->entries[index];
  const fa_kernel_info *k = &e->info;
  if (k->backend != backend || k->head_dim != a->head_dim || k->dtype != dtype)
    return fa_fail(message, FA_ERR_NO_KERNEL, "kernel %s does not match the call (backend %s, head_dim %d, %s)",
                   k->name, fa_backend_name(backend), a->head_dim, fa_dtype_name(dtype));
  if (!fa_kernel_computes_window(k, a->window_left, a->window_right))
    return fa_fail(message, FA_ERR_NO_KERNEL, "kernel %s computes mask '%s' but the window (%d, %d) needs '%s'",
                   k->name, fa_mask_name(k->mask), a->window_left, a->window_right,
                   fa_mask_name(fa_mask_from_window(a->window_left, a->window_right)));
  if (!fa_kernel_runs_on(k, dev->arch))
    return fa_fail(message, FA_ERR_UNSUPPORTED_DEVICE, "kernel %s is built for %s and cannot run on this sm_%d device",
                   k->name, k->arch_name, dev->arch);
  fa_message why;
  why.text[0] = '\0';
  const fa_status st = e->family->supports(a, k, dev, &why);
  if (st != FA_OK) {
    const char *reason = strstr(why.text, ": ");
    return fa_fail(message, st, "family %s (%s) declined: %s", e->family->name, k->name,
                   reason != NULL ? reason + 2 : why.text);
  }
  return FA_OK;
}

fa_status fa_check_workspace(const fa_kernel_entry *e, const fa_fwd_args *a, const fa_device_info *dev,
                             fa_message *message) {
  const size_t need = e->family->workspace_bytes(a, &e->info, dev);
  if (need == 0) return FA_OK;
  if (a->workspace == NULL)
    return fa_fail(message, FA_ERR_WORKSPACE,
                   "%s needs %zu bytes of workspace for this call (ask fa_fwd_workspace_size) but workspace is NULL",
                   e->info.name, need);
  if (a->workspace_bytes < need)
    return fa_fail(message, FA_ERR_WORKSPACE,
                   "%s needs %zu bytes of workspace for this call (fa_fwd_workspace_size; with a forced kernel, "
                   "fa_fwd_workspace_size_with_kernel) but workspace_bytes is %zu",
                   e->info.name, need, a->workspace_bytes);
  return FA_OK;
}

fa_fwd_args fa_part_args(const fa_kernel_table_view *t, fa_choice choice, int part, const fa_fwd_args *call) {
  fa_fwd_args a = *call;
  const int pair = choice.partner != SIZE_MAX;
  a.seq_filter = !pair ? FA_SEQ_ALL : (part == 0 ? FA_SEQ_SHORT : FA_SEQ_LONG);
  a.short_rows = t->entries[choice.index].family->short_rows;
  return a;
}

static size_t round_up_256(size_t x) { return (x + 255) & ~(size_t)255; }

size_t fa_choice_workspace_bytes(const fa_kernel_table_view *t, fa_choice choice, const fa_fwd_args *call,
                                 const fa_device_info *dev) {
  const size_t idx[2] = {choice.index, choice.partner};
  size_t total = 0;
  for (int i = 0; i < (choice.partner == SIZE_MAX ? 1 : 2); ++i) {
    const fa_kernel_entry *e = &t->entries[idx[i]];
    fa_fwd_args a = fa_part_args(t, choice, i, call);
    a.workspace = NULL, a.workspace_bytes = 0;
    a.splits = 0; /* the heuristic's wish, not what fits in the call's workspace */
    a.split_slots = 0, a.split_block_smem = 0, a.pack_gqa_shift = 0;
    total += round_up_256(e->family->workspace_bytes(&a, &e->info, dev));
  }
  return total;
}

size_t fa_workspace_bound_in(const fa_kernel_table_view *t, fa_backend backend, const fa_fwd_args *bounds,
                             fa_dtype dtype, const fa_device_info *dev) {
  /* Per family (a handful): its largest bound over the kernels a call
   * within the bounds could run. */
  const fa_family *family[16];
  size_t most[16];
  size_t n = 0, extra = 0;
  for (size_t i = 0; i < t->size; ++i) {
    const fa_kernel_entry *e = &t->entries[i];
    const fa_kernel_info *k = &e->info;
    if (k->backend != backend || k->head_dim != bounds->head_dim || k->dtype != dtype) continue;
    if (!fa_kernel_runs_on(k, dev->arch)) continue;
    size_t bytes;
    if (e->family->max_workspace_bytes != NULL) {
      bytes = e->family->max_workspace_bytes(bounds, k, dev);
    } else {
      fa_fwd_args a = *bounds;
      a.seq_filter = FA_SEQ_ALL, a.short_rows = 0, a.splits = 0, a.split_slots = 0, a.split_block_smem = 0, a.pack_gqa_shift = 0;
      a.workspace = NULL, a.workspace_bytes = 0;
      bytes = e->family->workspace_bytes(&a, k, dev);
    }
    bytes = round_up_256(bytes);
    size_t f = 0;
    while (f < n && family[f] != e->family) ++f;
    if (f == n && n == sizeof family / sizeof family[0]) {
      extra += bytes; /* more families than this keeps apart: count every kernel of the rest */
      continue;
    }
    if (f == n) family[n] = e->family, most[n] = 0, ++n;
    if (bytes > most[f]) most[f] = bytes;
  }
  size_t first = 0, second = 0;
  for (size_t f = 0; f < n; ++f) {
    if (most[f] > first) {
      second = first, first = most[f];
    } else if (most[f] > second) {
      second = most[f];
    }
  }
  return first + second + extra;
}
