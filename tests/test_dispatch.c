/*
 * test_dispatch.c - the kernel choice (src/dispatch.c) on tables made up
 * for the test, so that every rule is exercised on any machine: priority
 * order, exact mask before "local", a family declining with its reason,
 * every family declining, a family missing for an architecture,
 * arch-specific targets (sm_90a), forcing a kernel, the workspace check,
 * and the struct-growth reader (fa_read_struct). Then the generated table
 * itself: names carry the family, every entry has a family, and the public
 * query picks what the rules say; the workspace of every call within
 * bounds against fa_fwd_workspace_size_max, and the decode family's split
 * workspace by (sequence, query row), to the byte.
 *
 *   test_dispatch [FILTER]    run the tests whose name contains FILTER
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attn/mask.h"
#include "attn/tile_order.h"
#include "cuda/fwd_decode_plan.h"
#include "dispatch.h"
#include "test_util.h"

/* ------------------------------------------------------------ fake families */

/* "fast": a decode-like family that computes at most 16 query rows per
 * sequence and needs no workspace. */
static fa_status fast_supports(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev,
                               fa_message *why) {
  (void)k, (void)dev;
  if (a->seqlen_q > 16)
    return fa_fail(why, FA_ERR_UNSUPPORTED, "max_seqlen_q %d is more than the 16 query rows per sequence it packs",
                   a->seqlen_q);
  return FA_OK;
}

/* "general": computes everything but grids over 2^20 "blocks". */
static fa_status general_supports(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev,
                                  fa_message *why) {
  (void)k, (void)dev;
  if ((int64_t)a->batch * a->num_heads_q > (1 << 20))
    return fa_fail(why, FA_ERR_OVERFLOW, "the grid would need %lld blocks (limit 2^20)",
                   (long long)a->batch * a->num_heads_q);
  return FA_OK;
}

static size_t no_workspace(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  (void)a, (void)k, (void)dev;
  return 0;
}

/* "split": needs 1 KiB of workspace per sequence. */
static size_t split_workspace(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  (void)k, (void)dev;
  return (size_t)a->batch * 1024;
}

static const fa_family fake_fast = {"fast", fast_supports, no_workspace, NULL, 0, NULL};
static const fa_family fake_general = {"general", general_supports, no_workspace, NULL, 0, NULL};
static const fa_family fake_split = {"split", general_supports, split_workspace, NULL, 0, NULL};

/* min_keys: the entry's min_seqlen_k (a long-key specialization when > 0). */
#define ENTRY_KEYS(name, family, arch_name, arch, d, dtype, mask, prio, min_keys)                                  \
  {{sizeof(fa_kernel_info), name, #family, "test kernel", arch_name, FA_BACKEND_CUDA, arch, d, dtype, mask, prio, \
    64, 64, 128, 0},                                                                                               \
   &fake_##family, NULL, min_keys}
#define ENTRY(name, family, arch_name, arch, d, dtype, mask, prio) \
  ENTRY_KEYS(name, family, arch_name, arch, d, dtype, mask, prio, 0)

static const fa_kernel_entry fake_entries[] = {
    ENTRY("fwd_general_sm80_hdim64_bf16_none", general, "sm_80", 80, 64, FA_DTYPE_BF16, FA_MASK_NONE, 10),
    ENTRY("fwd_general_sm80_hdim64_bf16_local", general, "sm_80", 80, 64, FA_DTYPE_BF16, FA_MASK_LOCAL, 10),
    ENTRY("fwd_general_sm90_hdim64_bf16_none", general, "sm_90", 90, 64, FA_DTYPE_BF16, FA_MASK_NONE, 10),
    ENTRY("fwd_general_sm90_hdim64_bf16_local", general, "sm_90", 90, 64, FA_DTYPE_BF16, FA_MASK_LOCAL, 10),
    ENTRY("fwd_fast_sm90a_hdim64_bf16_local", fast, "sm_90a", 90, 64, FA_DTYPE_BF16, FA_MASK_LOCAL, 20),
    ENTRY("fwd_split_sm90_hdim64_fp16_none", split, "sm_90", 90, 64, FA_DTYPE_FP16, FA_MASK_NONE, 10),
};
static const fa_kernel_table_view fake_table = {fake_entries, sizeof fake_entries / sizeof fake_entries[0], "64",
                                                "sm_80, sm_90, sm_90a"};

/* Only the fast family, to see every family decline. */
static const fa_kernel_entry fast_only_entries[] = {
    ENTRY("fwd_fast_sm90a_hdim64_bf16_local", fast, "sm_90a", 90, 64, FA_DTYPE_BF16, FA_MASK_LOCAL, 20),
    ENTRY("fwd_general_sm90_hdim64_bf16_local", general, "sm_90", 90, 64, FA_DTYPE_BF16, FA_MASK_LOCAL, 10),
};
static const fa_kernel_table_view fast_only_table = {fast_only_entries, 2, "64", "sm_90, sm_90a"};

/* A long-key specialization (gen/spec.py long_keys) of each family: the
 * general one for max_seqlen_k >= 2048, the fast one (at the general one's
 * priority, declining above 16 query rows) for >= 8192. */
#define LONG_ENTRY(name, family, prio, min_keys) \
  ENTRY_KEYS(name, family, "sm_90", 90, 64, FA_DTYPE_BF16, FA_MASK_NONE, prio, min_keys)
static const fa_kernel_entry long_key_entries[] = {
    LONG_ENTRY("fwd_fast_sm90_hdim64_bf16_none_k8192", fast, 10, 8192),
    ENTRY("fwd_general_sm90_hdim64_bf16_none", general, "sm_90", 90, 64, FA_DTYPE_BF16, FA_MASK_NONE, 10),
    LONG_ENTRY("fwd_general_sm90_hdim64_bf16_none_k2048", general, 10, 2048),
    ENTRY("fwd_general_sm90_hdim64_bf16_local", general, "sm_90", 90, 64, FA_DTYPE_BF16, FA_MASK_LOCAL, 10),
};
static const fa_kernel_table_view long_key_table = {long_key_entries, 4, "64", "sm_90"};

/* ------------------------------------------------------------ helpers */

static fa_fwd_args call_args(int32_t seqlen_q, int32_t window_left, int32_t window_right) {
  fa_fwd_args a;
  memset(&a, 0, sizeof a);
  a.batch = 4;
  a.num_heads_q = 8;
  a.num_heads_k = 2;
  a.heads_per_kv = 4;
  a.head_dim = 64;
  a.seqlen_q = seqlen_q;
  a.seqlen_k = 4096;
  a.window_left = window_left;
  a.window_right = window_right;
  return a;
}

static fa_device_info device_of(int arch) {
  fa_device_info d;
  memset(&d, 0, sizeof d);
  d.device = 0;
  d.arch = arch;
  d.sm_count = 132;
  return d;
}

/* An H200 as the wgmma family sees it: sm_90, 132 SMs, 227 KB of shared
 * memory per block, and a tensor-map encoder (any non-NULL address: never
 * called here). */
static char k_encoder_stand_in;
static fa_device_info sm90_with_encoder(void) {
  fa_device_info d = device_of(90);
  d.max_smem_per_block = 232448;
  d.tensor_map_encode = (void *)&k_encoder_stand_in;
  return d;
}

/* Choose on `table` and expect kernel `want` (a name) or status `st`. */
static void expect_choice(const fa_kernel_table_view *table, const fa_fwd_args *a, fa_dtype dtype, int arch,
                          const char *want, fa_status want_st, const char *words) {
  const fa_device_info dev = device_of(arch);
  fa_message msg;
  fa_choice choice = {SIZE_MAX, SIZE_MAX};
  msg.text[0] = '\0';
  const fa_status st = fa_choose_kernel_in(table, FA_BACKEND_CUDA, a, dtype, &dev, &choice, &msg);
  const size_t index = choice.index;
  if (st == FA_OK && choice.partner != SIZE_MAX)
    fail_msg("sm_%d, seqlen_q %d: a pair (%s + %s) where one kernel was expected", arch, a->seqlen_q,
             table->entries[choice.index].info.name, table->entries[choice.partner].info.name);
  if (st != want_st)
    fail_msg("sm_%d, seqlen_q %d, window (%d, %d): got %s (\"%s\"), expected %s", arch, a->seqlen_q,
             a->window_left, a->window_right, fa_status_string(st), msg.text, fa_status_string(want_st));
  if (want != NULL && strcmp(table->entries[index].info.name, want) != 0)
    fail_msg("sm_%d, seqlen_q %d, window (%d, %d): chose %s, expected %s", arch, a->seqlen_q, a->window_left,
             a->window_right, table->entries[index].info.name, want);
  if (words != NULL) {
    char copy[256];
    char *w;
    snprintf(copy, sizeof copy, "%s", words);
    for (w = strtok(copy, "|"); w != NULL; w = strtok(NULL, "|"))
      if (strstr(msg.text, w) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", msg.text, w);
  }
}

/* ------------------------------------------------------------ dispatch */

static void test_priority_order(void **state) {
  fa_fwd_args a = call_args(1, -1, -1);
  (void)state;
  /* The sm_90a family has the highest priority: it wins on 9.0 even over
   * an exact-mask kernel of lower priority. */
  expect_choice(&fake_table, &a, FA_DTYPE_BF16, 90, "fwd_fast_sm90a_hdim64_bf16_local", FA_OK, NULL);
  a = call_args(16, -1, 0);
  expect_choice(&fake_table, &a, FA_DTYPE_BF16, 90, "fwd_fast_sm90a_hdim64_bf16_local", FA_OK, NULL);
}

static void test_exact_mask_before_local(void **state) {
  /* Same family and priority: the kernel compiled for the exact mask wins. */
  fa_fwd_args a = call_args(100, -1, -1);
  (void)state;
  expect_choice(&fake_table, &a, FA_DTYPE_BF16, 90, "fwd_general_sm90_hdim64_bf16_none", FA_OK, NULL);
  /* Causal: only the local kernel computes it. */
  a = call_args(100, -1, 0);
  expect_choice(&fake_table, &a, FA_DTYPE_BF16, 90, "fwd_general_sm90_hdim64_bf16_local", FA_OK, NULL);
}

static void test_family_declines_with_reason(void **state) {
  /* 100 query rows: the fast family declines, the general one takes it;
   * fa_fwd_query reports only the choice. */
  fa_fwd_args a = call_args(100, 128, 0);
  (void)state;
  expect_choice(&fake_table, &a, FA_DTYPE_BF16, 90, "fwd_general_sm90_hdim64_bf16_local", FA_OK, NULL);
  /* Every family declines: the status is the last (most general) one's,
   * the message names each family and its reason. */
  a = call_args(100, -1, -1);
  a.batch = 1 << 20;
  expect_choice(&fast_only_table, &a, FA_DTYPE_BF16, 90, NULL, FA_ERR_OVERFLOW,
                "family fast|declined|16 query rows|family general|2^20");
}

static void test_long_key_specialization(void **state) {
  fa_fwd_args a = call_args(100, -1, -1);
  (void)state;
  /* From its min_seqlen_k on, before the kernel without one; below it, never. */
  a.seqlen_k = 4096;
  expect_choice(&long_key_table, &a, FA_DTYPE_BF16, 90, "fwd_general_sm90_hdim64_bf16_none_k2048", FA_OK, NULL);
  a.seqlen_k = 2048;
  expect_choice(&long_key_table, &a, FA_DTYPE_BF16, 90, "fwd_general_sm90_hdim64_bf16_none_k2048", FA_OK, NULL);
  a.seqlen_k = 2047;
  expect_choice(&long_key_table, &a, FA_DTYPE_BF16, 90, "fwd_general_sm90_hdim64_bf16_none", FA_OK, NULL);
  /* The longest-key specialization first; when its family declines (100
   * query rows), the next one. */
  a.seqlen_k = 8192;
  expect_choice(&long_key_table, &a, FA_DTYPE_BF16, 90, "fwd_general_sm90_hdim64_bf16_none_k2048", FA_OK, NULL);
  a = call_args(16, -1, -1);
  a.seqlen_k = 8192;
  expect_choice(&long_key_table, &a, FA_DTYPE_BF16, 90, "fwd_fast_sm90_hdim64_bf16_none_k8192", FA_OK, NULL);
  /* A window the specializations do not compute: the local kernel. */
  a = call_args(100, 256, 0);
  a.seqlen_k = 8192;
  expect_choice(&long_key_table, &a, FA_DTYPE_BF16, 90, "fwd_general_sm90_hdim64_bf16_local", FA_OK, NULL);
}

/* The generated table's long-key specializations on a made-up sm_90
 * device (with a tensor-map encoder, so that wgmma supports dense calls):
 * dispatch takes each for a dense call at its min_seqlen_k, and one key
 * below it the same family's kernel for that head dim, dtype and mask with
 * the next smaller min_seqlen_k (the kernel without a suffix, or a shorter
 * specialization where a tile row lists several). */
static size_t next_shorter_kernel(const fa_kernel_entry *e) {
  size_t best = SIZE_MAX;
  for (size_t j = 0; j < fa_kernel_table.size; ++j) {
    const fa_kernel_entry *o = &fa_kernel_table.entries[j];
    if (o->family != e->family || o->info.backend != e->info.backend || o->info.arch != e->info.arch ||
        o->info.head_dim != e->info.head_dim || o->info.dtype != e->info.dtype || o->info.mask != e->info.mask ||
        o->min_seqlen_k >= e->min_seqlen_k)
      continue;
    if (best == SIZE_MAX || o->min_seqlen_k > fa_kernel_table.entries[best].min_seqlen_k) best = j;
  }
  return best;
}

static void test_generated_long_key_kernels(void **state) {
  fa_device_info dev;
  size_t i, found = 0;
  (void)state;
  dev = sm90_with_encoder();
  for (i = 0; i < fa_kernel_table.size; ++i) {
    const fa_kernel_entry *e = &fa_kernel_table.entries[i];
    if (e->min_seqlen_k == 0 || e->info.backend != FA_BACKEND_CUDA || e->info.arch != 90) continue;
    ++found;
    fa_fwd_args a;
    memset(&a, 0, sizeof a);
    const int32_t d = e->info.head_dim;
    a.batch = 1, a.num_heads_q = a.num_heads_k = 8, a.head_dim = d, a.heads_per_kv = 1;
    a.seqlen_q = a.seqlen_k = a.kv_capacity = e->min_seqlen_k;
    a.window_left = e->info.mask == FA_MASK_LOCAL ? 64 : -1; /* local: a window, or "none" would win */
    a.window_right = e->info.mask == FA_MASK_NONE ? -1 : 0;
    a.q_head_stride = a.k_head_stride = a.v_head_stride = a.out_head_stride = d;
    a.q_row_stride = a.k_row_stride = a.v_row_stride = a.out_row_stride = 8 * d;
    a.q_batch_stride = a.k_batch_stride = a.v_batch_stride = a.out_batch_stride = (int64_t)e->min_seqlen_k * 8 * d;
    a.tensor_map_encode = dev.tensor_map_encode;
    fa_choice choice = {SIZE_MAX, SIZE_MAX};
    fa_message msg;
    assert_int_equal(fa_choose_kernel_in(&fa_kernel_table, FA_BACKEND_CUDA, &a, e->info.dtype, &dev, &choice, &msg),
                     FA_OK);
    if (choice.index != i)
      fail_msg("max_seqlen_k %d: chose %s, expected %s", a.seqlen_k, fa_kernel_table.entries[choice.index].info.name,
               e->info.name);
    a.seqlen_q = a.seqlen_k = a.kv_capacity = e->min_seqlen_k - 1;
    assert_int_equal(fa_choose_kernel_in(&fa_kernel_table, FA_BACKEND_CUDA, &a, e->info.dtype, &dev, &choice, &msg),
                     FA_OK);
    const size_t shorter = next_shorter_kernel(e);
    if (shorter == SIZE_MAX) fail_msg("%s: no kernel of its family for shorter keys", e->info.name);
    if (choice.index != shorter)
      fail_msg("max_seqlen_k %d: chose %s, expected %s (the next shorter kernel than %s)", a.seqlen_k,
               fa_kernel_table.entries[choice.index].info.name, fa_kernel_table.entries[shorter].info.name,
               e->info.name);
  }
  if (found == 0) {
    print_message("skipped: this build has no long-key specialization for sm_90\n");
    skip();
  }
}

static void test_family_missing_for_arch(void **state) {
  fa_fwd_args a = call_args(1, -1, -1);
  (void)state;
  /* 8.9: sm_80 code runs, sm_90 and sm_90a do not. */
  expect_choice(&fake_table, &a, FA_DTYPE_BF16, 89, "fwd_general_sm80_hdim64_bf16_none", FA_OK, NULL);
  /* 8.0: the same. */
  expect_choice(&fake_table, &a, FA_DTYPE_BF16, 80, "fwd_general_sm80_hdim64_bf16_none", FA_OK, NULL);
  /* 7.5 and 10.0: nothing was built; the message lists the targets. */
  expect_choice(&fake_table, &a, FA_DTYPE_BF16, 75, NULL, FA_ERR_UNSUPPORTED_DEVICE, "sm_75|sm_80, sm_90, sm_90a");
  expect_choice(&fake_table, &a, FA_DTYPE_BF16, 100, NULL, FA_ERR_UNSUPPORTED_DEVICE, "sm_100");
  /* A hypothetical 9.1: sm_90 code runs there, sm_90a (arch-specific) not. */
  expect_choice(&fake_table, &a, FA_DTYPE_BF16, 91, "fwd_general_sm90_hdim64_bf16_none", FA_OK, NULL);
}

static void test_missing_head_dim_and_dtype(void **state) {
  fa_fwd_args a = call_args(1, -1, -1);
  (void)state;
  a.head_dim = 72;
  expect_choice(&fake_table, &a, FA_DTYPE_BF16, 90, NULL, FA_ERR_UNSUPPORTED_HEAD_DIM, "head_dim 72|gen/spec.py");
  a.head_dim = 64;
  /* fp16 exists for 64 only as a no-mask kernel: causal has none. */
  a.window_right = 0;
  expect_choice(&fake_table, &a, FA_DTYPE_FP16, 90, NULL, FA_ERR_NO_KERNEL, "fp16|causal");
}

static void test_forced_kernel(void **state) {
  const fa_device_info d90 = device_of(90), d80 = device_of(80);
  fa_fwd_args a = call_args(100, -1, -1);
  fa_message msg;
  (void)state;
  /* A lower-priority kernel may be forced... */
  assert_int_equal(fa_check_forced_kernel_in(&fake_table, 3, FA_BACKEND_CUDA, &a, FA_DTYPE_BF16, &d90, &msg), FA_OK);
  /* ...but not past its family's limits: the reason is kept. */
  assert_int_equal(fa_check_forced_kernel_in(&fake_table, 4, FA_BACKEND_CUDA, &a, FA_DTYPE_BF16, &d90, &msg),
                   FA_ERR_UNSUPPORTED);
  assert_non_null(strstr(msg.text, "16 query rows"));
  assert_non_null(strstr(msg.text, "fwd_fast_sm90a_hdim64_bf16_local"));
  /* Wrong dtype, wrong window, wrong device, out of range. */
  assert_int_equal(fa_check_forced_kernel_in(&fake_table, 5, FA_BACKEND_CUDA, &a, FA_DTYPE_BF16, &d90, &msg),
                   FA_ERR_NO_KERNEL);
  a = call_args(1, -1, 0);
  assert_int_equal(fa_check_forced_kernel_in(&fake_table, 2, FA_BACKEND_CUDA, &a, FA_DTYPE_BF16, &d90, &msg),
                   FA_ERR_NO_KERNEL);
  assert_non_null(strstr(msg.text, "causal"));
  assert_int_equal(fa_check_forced_kernel_in(&fake_table, 4, FA_BACKEND_CUDA, &a, FA_DTYPE_BF16, &d80, &msg),
                   FA_ERR_UNSUPPORTED_DEVICE);
  assert_non_null(strstr(msg.text, "sm_90a"));
  assert_int_equal(fa_check_forced_kernel_in(&fake_table, 6, FA_BACKEND_CUDA, &a, FA_DTYPE_BF16, &d90, &msg),
                   FA_ERR_NO_KERNEL);
  assert_int_equal(fa_check_forced_kernel_in(&fake_table, 1, FA_BACKEND_CPU, &a, FA_DTYPE_BF16, &d90, &msg),
                   FA_ERR_NO_KERNEL);
}

static void test_workspace_check(void **state) {
  const fa_device_info dev = device_of(90);
  const fa_kernel_entry *split = &fake_entries[5];
  fa_fwd_args a = call_args(1, -1, -1);
  unsigned char buf[8192];
  fa_message msg;
  (void)state;
  /* batch 4: 4096 bytes needed. */
  assert_int_equal(fa_check_workspace(split, &a, &dev, &msg), FA_ERR_WORKSPACE);
  assert_non_null(strstr(msg.text, "4096"));
  assert_non_null(strstr(msg.text, "NULL"));
  a.workspace = buf;
  a.workspace_bytes = 4095;
  assert_int_equal(fa_check_workspace(split, &a, &dev, &msg), FA_ERR_WORKSPACE);
  assert_non_null(strstr(msg.text, "4095"));
  a.workspace_bytes = 4096;
  assert_int_equal(fa_check_workspace(split, &a, &dev, &msg), FA_OK);
  /* A family that needs none: NULL with 0 bytes is fine. */
  a.workspace = NULL;
  a.workspace_bytes = 0;
  assert_int_equal(fa_check_workspace(&fake_entries[0], &a, &dev, &msg), FA_OK);
}

/* ------------------------------------------------------------ pairs */

/* "short": made for at most 16 packed rows per sequence (decode-like). */
static fa_status any_supports(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev,
                              fa_message *why) {
  (void)a, (void)k, (void)dev, (void)why;
  return FA_OK;
}
static const fa_family fake_short = {"short", any_supports, no_workspace, NULL, 16, NULL};
static const fa_kernel_entry pair_entries[] = {
    ENTRY("fwd_short_sm90_hdim64_bf16_local", short, "sm_90", 90, 64, FA_DTYPE_BF16, FA_MASK_LOCAL, 20),
    ENTRY("fwd_general_sm90_hdim64_bf16_local", general, "sm_90", 90, 64, FA_DTYPE_BF16, FA_MASK_LOCAL, 10),
};
static const fa_kernel_table_view pair_table = {pair_entries, 2, "64", "sm_90"};
static const fa_kernel_table_view short_only_table = {pair_entries, 1, "64", "sm_90"};

static fa_choice choose_pair(const fa_kernel_table_view *t, const fa_fwd_args *a) {
  const fa_device_info dev = device_of(90);
  fa_choice c = {SIZE_MAX, SIZE_MAX};
  fa_message msg;
  if (fa_choose_kernel_in(t, FA_BACKEND_CUDA, a, FA_DTYPE_BF16, &dev, &c, &msg) != FA_OK) fail_msg("%s", msg.text);
  return c;
}

static void test_pairs(void **state) {
  int32_t cu[3] = {0, 1, 101};
  fa_fwd_args a = call_args(4, -1, 0); /* 4 rows x 4 heads per KV head = 16 packed rows: short */
  fa_choice c;
  (void)state;
  a.cu_seqlens_q = cu;
  c = choose_pair(&pair_table, &a);
  assert_int_equal(c.index, 0);
  assert_int_equal(c.partner, SIZE_MAX);
  /* Varlen with up to 100 rows: the device may hold short and long
   * sequences: short family for the short ones, general for the rest. */
  a.seqlen_q = 100;
  c = choose_pair(&pair_table, &a);
  assert_int_equal(c.index, 0);
  assert_int_equal(c.partner, 1);
  /* Varlen whose rows are batch x max_seqlen_q: every sequence has 100
   * rows (no room for a short one): the general family alone, one launch.
   * One row fewer and a short sequence could exist: the pair again. */
  a.total_q = (int64_t)a.batch * a.seqlen_q;
  c = choose_pair(&pair_table, &a);
  assert_int_equal(c.index, 1);
  assert_int_equal(c.partner, SIZE_MAX);
  a.total_q -= 1;
  c = choose_pair(&pair_table, &a);
  assert_int_equal(c.index, 0);
  assert_int_equal(c.partner, 1);
  a.total_q = 0;
  /* Dense: every sequence has 100 rows: the general family alone. */
  a.cu_seqlens_q = NULL;
  c = choose_pair(&pair_table, &a);
  assert_int_equal(c.index, 1);
  assert_int_equal(c.partner, SIZE_MAX);
  /* Nobody for the long ones: the short family computes every sequence. */
  a.cu_seqlens_q = cu;
  c = choose_pair(&short_only_table, &a);
  assert_int_equal(c.index, 0);
  assert_int_equal(c.partner, SIZE_MAX);
}

/* ------------------------------------------------------------ the accumulator's mask prefix (attn/mask.h) */

/* fa_accumulator_prefix against the element-wise rule it replaces in the
 * wgmma kernels: a thread's element i = 2 nt + j (column 8 nt + j) is
 * visible iff 8 nt + j < keys, for every count of visible keys from before
 * the thread's first column to past a 192-key tile (48 elements, two
 * 32-bit masks). */
static void test_mask_accumulator_prefix(void **state) {
  (void)state;
  for (int32_t keys = -20; keys <= 400; ++keys) {
    const int32_t prefix = fa_accumulator_prefix(keys);
    for (int32_t i = 0; i < 48; ++i) {
      const int visible = 8 * (i / 2) + i % 2 < keys;
      if (visible != (i < prefix))
        fail_msg("keys %d, element %d: rule says %s, prefix %d", keys, i, visible ? "visible" : "hidden", prefix);
    }
  }
}

/* The end of a row's visible keys never decreases with the row, for every
 * mask the kernels build: the wgmma family's half key tiles
 * (cuda/wgmma/consumer.cuh consumer_key_end) take a consumer's last row's end
 * as the end for all its 64 rows, and multiply only a tile's left half where
 * that end is at or before the half's start. Also checked: the rows' ends all
 * lie in [0, len_k], so a tile whose left half starts at or past the end is
 * all hidden for those rows. */
static void test_mask_visible_end_monotone(void **state) {
  (void)state;
  static const int32_t windows[][2] = {{-1, -1}, {-1, 0}, {5, 0}, {0, 7}, {17, 3}, {-1, 9}, {12, -1}, {0, 0}, {70, 70}};
  static const int32_t lens[] = {0, 1, 63, 64, 65, 127, 128, 129, 300};
  for (size_t w = 0; w < sizeof windows / sizeof windows[0]; ++w)
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; ++l) {
      const int32_t len_k = lens[l];
      int32_t prev = -1;
      for (int64_t pos = -200; pos <= 600; ++pos) {
        const fa_key_range r = fa_visible_keys(pos, windows[w][0], windows[w][1], len_k);
        if (r.hi < prev || r.hi < 0 || r.hi > len_k)
          fail_msg("window (%d, %d), len_k %d, position %lld: end %d after %d", windows[w][0], windows[w][1], len_k,
                   (long long)pos, r.hi, prev);
        prev = r.hi;
      }
    }
}

/* ------------------------------------------------------------ work-tile order (attn/tile_order.h) */

/* Walk every block of a grid through the order the wgmma kernel follows
 * (fa_tile_order_tail under a causal-shaped mask, then block b lists
 * fa_block_tiles entries fa_block_tile): every tile that exists exactly
 * once, no other, a list within FA_TILE_LIST_MAX when the grid is
 * fa_tile_grid's; zigzag, a step of two is tiles p and n-1-p of one head or
 * two heads' middle tiles, and the tail's tiles come most keys first (level
 * by level) or a unit's tiles in turn, n-1 first (head by head); and
 * the busiest block's cost (m + 1 key tiles per query tile m under a causal
 * mask, the sequence's n tiles without one) within 4 (M + 1) + 8% of the
 * idlest's. q_tiles NULL: dense-shaped (every sequence M tiles); else the
 * varlen tables built from it. tile_kv_bytes: the order's (the tail head by
 * head where it is large). Returns the busiest block's cost over the
 * average. */
static double walk_tile_order(int32_t m_tiles, int32_t batch, uint32_t heads, uint32_t grid, int zigzag,
                              const uint16_t *q_tiles, uint32_t tile_kv_bytes) {
  uint16_t by_rank[FA_TILE_TABLE_MAX_BATCH];
  uint32_t ranks_end[FA_TILE_TABLE_MAX_BATCH];
  fa_tile_order o = fa_tile_order_dense(m_tiles, batch, heads, zigzag);
  const uint32_t tiles = (uint32_t)m_tiles * (uint32_t)batch * heads;
  int *seen = calloc(tiles, sizeof *seen);
  int64_t most = 0, least = INT64_MAX, total = 0;
  uint32_t listed = 0;
  assert_non_null(seen);
  if (q_tiles != NULL) {
    assert_true(fa_tile_tables_fit(1, batch, m_tiles));
    memset(by_rank, 0xFF, sizeof by_rank);
    fa_tile_tail_counts counted = {0, 0, 0}; /* as the kernel's rank pass writes them (rank_sequence) */
    int writers = 0;
    for (int32_t b = 0; b < batch; ++b) {
      uint32_t slots, with_tiles = 0, same = 0;
      const int32_t r = fa_tile_seq_rank_end(q_tiles, batch, heads, zigzag, b, &slots);
      assert_true(r >= 0 && r < batch);
      by_rank[r] = (uint16_t)b;
      ranks_end[r] = slots;
      for (int32_t i = 0; i < batch; ++i) fa_tile_tail_count(q_tiles[i], q_tiles[b], &with_tiles, &same);
      if (q_tiles[b] != 0 && (uint32_t)r + 1u == with_tiles) {
        counted.ranks = with_tiles, counted.n = q_tiles[b], counted.seqs_with_n = same;
        ++writers;
      }
    }
    /* the ranks: a permutation, most tiles first, then by index; each rank's end its slots past the one before */
    for (int32_t r = 0; r < batch; ++r) {
      assert_true(by_rank[r] < batch);
      const uint16_t q = q_tiles[by_rank[r]];
      assert_int_equal(ranks_end[r] - (r > 0 ? ranks_end[r - 1] : 0u), fa_tile_slots(q, heads, zigzag));
      if (r > 0)
        assert_true(q_tiles[by_rank[r - 1]] > q || (q_tiles[by_rank[r - 1]] == q && by_rank[r - 1] < by_rank[r]));
    }
    o = fa_tile_order_tables(m_tiles, batch, heads, zigzag, q_tiles, by_rank, ranks_end);
    { /* the pass's counts (one writer where any sequence has tiles) are the bisections' */
      const fa_tile_tail_counts c = fa_tile_tail_counts_of(&o);
      assert_int_equal(writers, c.ranks > 0 ? 1 : 0);
      assert_int_equal(counted.ranks, c.ranks);
      assert_int_equal(counted.n, c.n);
      assert_int_equal(counted.seqs_with_n, c.seqs_with_n);
    }
  }
  o.tile_kv_bytes = tile_kv_bytes;
  const fa_tile_order before_tail = o;
  fa_tile_order_tail(&o, grid);
  { /* the tail as the host passes it to a dense call's kernel gives the same order */
    fa_tile_order carried = before_tail;
    const fa_tile_tail t = fa_tile_tail_of(&o);
    fa_tile_order_apply_tail(&carried, &t);
    assert_int_equal(carried.count, o.count);
    assert_int_equal(carried.tail_tiles, o.tail_tiles);
    assert_int_equal(carried.tail_unit0, o.tail_unit0);
    assert_int_equal(carried.tail_units, o.tail_units);
    assert_int_equal(carried.tail_n, o.tail_n);
    assert_int_equal(carried.tail_lead_units, o.tail_lead_units);
    assert_int_equal(carried.tail_by_head, o.tail_by_head);
  }
  if (o.tail_tiles > 0 && (o.tail_units == 0 || o.tail_tiles != o.tail_units * o.tail_n))
    fail_msg("M %d, grid %u: tail of %u tiles in %u units of %u", m_tiles, grid, o.tail_tiles, o.tail_units, o.tail_n);
  if (o.tail_by_head != (o.tail_tiles > 0 && fa_tile_tail_by_head(o.tail_n, o.tail_units, tile_kv_bytes)))
    fail_msg("M %d, grid %u: tail of %u units of %u, head by head %d", m_tiles, grid, o.tail_units, o.tail_n,
             o.tail_by_head);
  /* The whole walk head by head may start with a lead head by head, then go on level by level. */
  const uint32_t lead_tiles = o.tail_lead_units * o.tail_n;
  if (o.tail_lead_units > o.tail_units || (o.tail_lead_units > 0 && o.count != 0))
    fail_msg("M %d, grid %u: a lead of %u of %u tail units beside %u slots of pairs", m_tiles, grid, o.tail_lead_units,
             o.tail_units, o.count);
  for (uint32_t i = 1; i < (o.tail_by_head ? o.tail_tiles : lead_tiles); ++i) { /* head by head: a unit's tiles n-1 .. 0 in turn */
    const fa_tile_pos prev = fa_tile_tail_position(&o, i - 1), pos = fa_tile_tail_position(&o, i);
    const int same_unit = prev.b == pos.b && prev.head == pos.head;
    if (i % o.tail_n != 0 ? !same_unit || pos.m_block != prev.m_block - 1 : same_unit || pos.m_block != (int32_t)o.tail_n - 1)
      fail_msg("M %d, grid %u: tail tile %u (%d, %d, %d) after (%d, %d, %d)", m_tiles, grid, i, pos.b, pos.head,
               pos.m_block, prev.b, prev.head, prev.m_block);
  }
  const uint32_t per_step = fa_tile_step_tiles(&o);
  for (uint32_t b = 0; b < grid; ++b) {
    const uint32_t n = fa_block_tiles(&o, b, grid), pairs = fa_block_pair_steps(&o, b, grid);
    int64_t cost = 0;
    int32_t last_tail_m = INT32_MAX;
    if (grid == fa_tile_grid(tiles, 1, 132, FA_TILE_LIST_MAX) && n > FA_TILE_LIST_MAX)
      fail_msg("M %d, batch %d, grid %u: block %u lists %u tiles", m_tiles, batch, grid, b, n);
    for (uint32_t e = 0; e < n; ++e) {
      const fa_tile_pos pos = fa_block_tile(&o, b, grid, pairs, e);
      const int in_steps = e < pairs * per_step;
      if (pos.m_block < 0 && zigzag && in_steps && e % 2 == 1) continue; /* a lone middle tile's empty partner */
      if (pos.b < 0 || pos.b >= batch || pos.head < 0 || (uint32_t)pos.head >= heads || pos.m_block < 0 ||
          pos.m_block >= (q_tiles != NULL ? q_tiles[pos.b] : m_tiles))
        fail_msg("M %d, batch %d, heads %u, grid %u: block %u entry %u -> sequence %d, head %d, query tile %d",
                 m_tiles, batch, heads, grid, b, e, pos.b, pos.head, pos.m_block);
      if (zigzag && in_steps && e % 2 == 1) { /* a step: tiles p and n-1-p of one head, or two heads' middle tiles */
        const fa_tile_pos first = fa_block_tile(&o, b, grid, pairs, e - 1);
        const int32_t n_b = q_tiles != NULL ? q_tiles[pos.b] : m_tiles;
        if (first.b != pos.b || (first.head == pos.head ? first.m_block + pos.m_block != n_b - 1
                                                        : first.m_block != pos.m_block || n_b % 2 == 0))
          fail_msg("M %d: step (%d, %d) of heads %d, %d", m_tiles, first.m_block, pos.m_block, first.head, pos.head);
      }
      if (!in_steps && !o.tail_by_head &&
          fa_round_step(pairs + e - pairs * per_step, b, grid) - fa_tile_pair_steps(&o) >= lead_tiles) {
        /* the tail level by level (after any lead): most keys first */
        if (pos.m_block > last_tail_m)
          fail_msg("M %d, grid %u: block %u's tail tile %d after %d", m_tiles, grid, b, pos.m_block, last_tail_m);
        last_tail_m = pos.m_block;
      }
      seen[((uint32_t)pos.b * heads + (uint32_t)pos.head) * (uint32_t)m_tiles + (uint32_t)pos.m_block]++;
      cost += zigzag ? pos.m_block + 1 : (q_tiles != NULL ? q_tiles[pos.b] : m_tiles);
      ++listed;
    }
    if (cost > most) most = cost;
    if (cost < least) least = cost;
    total += cost;
  }
  {
    uint32_t expected = 0;
    for (int32_t b = 0; b < batch; ++b) expected += (q_tiles != NULL ? q_tiles[b] : (uint32_t)m_tiles) * heads;
    assert_int_equal(listed, expected);
  }
  for (uint32_t i = 0; i < tiles; ++i) {
    const int32_t m = (int32_t)(i % (uint32_t)m_tiles), b = (int32_t)(i / (uint32_t)m_tiles / heads);
    const int expected = q_tiles == NULL || m < q_tiles[b];
    if (seen[i] != expected)
      fail_msg("M %d, batch %d, heads %u, grid %u: sequence %d, query tile %d visited %d times", m_tiles, batch, heads,
               grid, b, m, seen[i]);
  }
  if ((double)(most - least) > 4.0 * (m_tiles + 1) + 0.08 * (double)total / grid)
    fail_msg("M %d, batch %d, heads %u, grid %u, %s: blocks cost %lld .. %lld key tiles", m_tiles, batch, heads, grid,
             zigzag ? "zigzag" : "plain", (long long)least, (long long)most);
  free(seen);
  return total > 0 ? (double)most * grid / (double)total : 1.0;
}

static void test_tile_order(void **state) {
  static const int32_t ms[] = {1, 2, 3, 4, 5, 8, 9, 64, 65};
  static const uint32_t heads[] = {1, 3, 16, 40};
  static const int32_t batches[] = {1, 2, 5};
  (void)state;
  for (size_t i = 0; i < sizeof ms / sizeof ms[0]; ++i)
    for (size_t j = 0; j < sizeof heads / sizeof heads[0]; ++j)
      for (size_t l = 0; l < sizeof batches / sizeof batches[0]; ++l) {
        const uint32_t tiles = (uint32_t)ms[i] * heads[j] * (uint32_t)batches[l];
        const uint32_t grids[] = {1, 2, 5, 132, tiles > 1 ? tiles - 1 : 1, tiles, tiles + 3};
        for (size_t g = 0; g < sizeof grids / sizeof grids[0]; ++g)
          for (int zigzag = 0; zigzag <= 1; ++zigzag)
            for (int by_head = 0; by_head <= zigzag; ++by_head) /* a tail of n <= 4 head by head, or level by level */
              walk_tile_order(ms[i], batches[l], heads[j], grids[g], zigzag, NULL, by_head ? UINT32_MAX : 0u);
      }
  /* The BENCH.md grid's shapes on 132 blocks: within 3.2% of the average
   * without a mask (a block has one tile more than another where 132 does
   * not divide), within 2% causal (the tail of single tiles; 3.1% before
   * it). */
  for (int d = 64; d <= 256; d *= 2)
    for (int s = 512; s <= 16384; s *= 2) {
      const uint32_t kv = fa_tile_kv_bytes(128u, (uint32_t)d); /* as the kernel sets it: d256 s512 causal head by head */
      const double plain = walk_tile_order(s / 128, 16384 / s, (uint32_t)(2048 / d), 132, 0, NULL, kv);
      const double causal = walk_tile_order(s / 128, 16384 / s, (uint32_t)(2048 / d), 132, 1, NULL, kv);
      /* d256 s512 causal: tiles of 1..4 key tiles, 19.4 on average a block: 20 is the best any order does */
      if (plain >= 1.032 || causal >= (d == 256 && s == 512 ? 1.032 : 1.02))
        fail_msg("d%d s%d on 132 blocks: busiest over average %.3f without a mask, %.3f causal", d, s, plain, causal);
    }
  /* Sequence, then head, then query tiles last first; pairs n-1-p, p, and
   * p, n-1-p (the short tile first) up to FA_TILE_SHORT_FIRST_MAX_N tiles. */
  {
    fa_tile_order o = fa_tile_order_dense(4, 2, 3, 0);
    assert_int_equal(o.count, 24);
    assert_int_equal(fa_tile_position(&o, 13).b, 1);
    assert_int_equal(fa_tile_position(&o, 13).head, 0);
    assert_int_equal(fa_tile_position(&o, 13).m_block, 2);
    o.zigzag = 1;
    assert_int_equal(fa_tile_position(&o, 12).m_block, 0);
    assert_int_equal(fa_tile_position(&o, 13).m_block, 3);
    assert_int_equal(fa_tile_position(&o, 14).m_block, 1);
    o = fa_tile_order_dense(8, 1, 2, 1); /* 8 tiles: the long tile first */
    assert_int_equal(fa_tile_position(&o, 0).m_block, 7);
    assert_int_equal(fa_tile_position(&o, 1).m_block, 0);
    assert_int_equal(fa_tile_position(&o, 9).head, 1);
    assert_int_equal(fa_tile_position(&o, 9).m_block, 0);
    o = fa_tile_order_dense(4, 2, 3, 0);
    o.zigzag = 1;
    /* n 3, 3 heads: pairs (2, 0) of each head, then the middle tiles of heads 0+1, 2 + an empty slot */
    o = fa_tile_order_dense(3, 1, 3, 1);
    assert_int_equal(o.count, 10);
    assert_int_equal(fa_tile_position(&o, 6).m_block, 1);
    assert_int_equal(fa_tile_position(&o, 7).head, 1);
    assert_int_equal(fa_tile_position(&o, 8).head, 2);
    assert_int_equal(fa_tile_position(&o, 9).m_block, -1);
    /* the tail: the last 4 units of 4 tiles (heads 2 of sequence 0 and all of 1), level by level */
    o = fa_tile_order_dense(4, 2, 3, 1);
    {
      const fa_tile_tail_span t = fa_tile_tail_span_of(&o, 5);
      assert_int_equal(t.ranks, 2);
      assert_int_equal(t.n, 4);
      assert_int_equal(t.with_n, 6);
      fa_tile_order_set_tail(&o, &t, 4);
    }
    assert_int_equal(o.count, 8); /* heads 0 and 1 of sequence 0 in steps of two */
    assert_int_equal(fa_tile_pair_steps(&o), 4);
    assert_int_equal(fa_tile_steps(&o), 4 + 16);
    assert_int_equal(fa_tile_position(&o, 7).head, 1);
    assert_int_equal(fa_tile_position(&o, 7).m_block, 2);
    assert_int_equal(fa_tile_tail_position(&o, 0).b, 0);
    assert_int_equal(fa_tile_tail_position(&o, 0).head, 2);
    assert_int_equal(fa_tile_tail_position(&o, 0).m_block, 3);
    assert_int_equal(fa_tile_tail_position(&o, 3).b, 1);
    assert_int_equal(fa_tile_tail_position(&o, 3).head, 2);
    assert_int_equal(fa_tile_tail_position(&o, 4).m_block, 2);
    assert_int_equal(fa_tile_tail_position(&o, 15).m_block, 0);
    assert_int_equal(o.tail_by_head, 0); /* tile_kv_bytes 0: unknown */
    /* the same tail head by head: heads 2 of sequence 0, then 0, 1, 2 of sequence 1, each tiles 3 .. 0 */
    o = fa_tile_order_dense(4, 2, 3, 1);
    o.tile_kv_bytes = FA_TILE_TAIL_BY_HEAD_MIN_BYTES / 16u;
    {
      const fa_tile_tail_span t = fa_tile_tail_span_of(&o, 5);
      fa_tile_order_set_tail(&o, &t, 3); /* 3 units x 4 tiles: 12 tile_kv_bytes, too few */
      assert_int_equal(o.tail_by_head, 0);
      fa_tile_order_set_tail(&o, &t, 4); /* 16: head by head */
      assert_int_equal(o.tail_by_head, 1);
    }
    assert_int_equal(fa_tile_tail_position(&o, 0).b, 0);
    assert_int_equal(fa_tile_tail_position(&o, 0).head, 2);
    assert_int_equal(fa_tile_tail_position(&o, 0).m_block, 3);
    assert_int_equal(fa_tile_tail_position(&o, 3).head, 2);
    assert_int_equal(fa_tile_tail_position(&o, 3).m_block, 0);
    assert_int_equal(fa_tile_tail_position(&o, 4).b, 1);
    assert_int_equal(fa_tile_tail_position(&o, 4).head, 0);
    assert_int_equal(fa_tile_tail_position(&o, 4).m_block, 3);
    assert_int_equal(fa_tile_tail_position(&o, 15).head, 2);
    assert_int_equal(fa_tile_tail_position(&o, 15).m_block, 0);
    o = fa_tile_order_dense(8, 2, 3, 1); /* 8 tiles: level by level, whatever the bytes */
    o.tile_kv_bytes = UINT32_MAX;
    fa_tile_order_tail(&o, 5);
    assert_true(o.tail_tiles > 0 && !o.tail_by_head);
    /* BENCH.md's d128 s512 causal on 132 blocks: the steps end on a round */
    o = fa_tile_order_dense(4, 32, 16, 1);
    fa_tile_order_tail(&o, 132);
    assert_true(o.tail_tiles > 0 && fa_tile_pair_steps(&o) % 132 == 0);
    assert_int_equal(fa_round_step(1, 0, 5), 9); /* snake: round 1 runs backwards */
    assert_int_equal(fa_round_step(2, 0, 5), 10);
  }
}

/* Varlen tables: random lengths (empty sequences, and ones of the other
 * launch of a pair, as 0 tiles), every tile once; and bench.py's packed
 * rows on 132 blocks: 24 sequences of 64..4095 rows, GQA 32 heads, causal,
 * and 40 of 64..4096, 16 heads, full: the busiest block within 3% of the
 * average in key tiles, where the order before (causal pairs over the
 * longest sequence's tiles, heads in batch order) left it 17% above. */
static void test_tile_order_varlen(void **state) {
  /* torch.randint(64, 4096, (24,)) and (64, 4097, (40,)) with seed 0, as bench.py draws them */
  static const int lens24[] = {684,  4015, 309,  3328, 2627, 3643, 2051, 2279, 2441, 2323, 1557, 498,
                               2788, 3415, 2054, 3288, 3736, 3916, 2490, 1921, 1638, 1767, 2007, 1326};
  static const int lens40[] = {1802, 2071, 2606, 262,  1163, 248,  3541, 2034, 2904, 111,  1860, 325,  2720, 1652,
                               2483, 2420, 1737, 2864, 2716, 2731, 820,  2416, 790,  3251, 265,  149,  2833, 1808,
                               3825, 3331, 3185, 908,  1982, 3832, 2872, 2412, 343,  3035, 3135, 1633};
  static const uint32_t grids[] = {1, 7, 132, 500};
  uint16_t q_tiles[FA_TILE_TABLE_MAX_BATCH];
  uint64_t rng = 7;
  (void)state;
  for (int trial = 0; trial < 300; ++trial) {
    int32_t batch, m_tiles = 1;
    uint32_t heads, grid;
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    batch = 1 + (int32_t)((rng >> 33) % 40);
    heads = 1u + (uint32_t)((rng >> 45) % 9);
    grid = grids[(rng >> 55) % 4];
    for (int32_t b = 0; b < batch; ++b) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      q_tiles[b] = (uint16_t)((rng >> 40) % 5 == 0 ? 0 : (rng >> 33) % 41);
      if (q_tiles[b] > m_tiles) m_tiles = q_tiles[b];
    }
    walk_tile_order(m_tiles, batch, heads, grid, (int)(trial & 1), q_tiles, (trial & 2) ? UINT32_MAX : 0u);
  }
  {
    int32_t m24 = 0, m40 = 0;
    for (int b = 0; b < 24; ++b) {
      q_tiles[b] = (uint16_t)((lens24[b] + 127) / 128);
      if (q_tiles[b] > m24) m24 = q_tiles[b];
    }
    const double causal24 = walk_tile_order(m24, 24, 32, 132, 1, q_tiles, 0u);
    for (int b = 0; b < 40; ++b) {
      q_tiles[b] = (uint16_t)((lens40[b] + 127) / 128);
      if (q_tiles[b] > m40) m40 = q_tiles[b];
    }
    const double full40 = walk_tile_order(m40, 40, 16, 132, 0, q_tiles, 0u);
    print_message("packed rows on 132 blocks, busiest block over the average: 24 x 32 heads causal %.3f, "
                  "40 x 16 heads full %.3f\n",
                  causal24, full40);
    assert_true(causal24 < 1.03 && full40 < 1.03);
  }
}

/* The last round shared by keys: every key tile of every shared tile in
 * exactly one block's share, a tile in at most 3 pieces numbered 0.. in
 * block order, whole tiles marked as such, distinct slots below R + G', the
 * shares within one key tile of each other, the full rounds untouched. */
static void test_tile_split(void **state) {
  uint64_t rng = 11;
  (void)state;
  {
    fa_tile_order o = fa_tile_order_dense(16, 8, 16, 0); /* d128 s2048 full: 2048 tiles */
    const fa_tile_split sp = fa_tile_split_of(&o, 132, 16);
    assert_int_equal(sp.first, 15 * 132);
    assert_int_equal(sp.tiles, 68);
    assert_int_equal(sp.blocks, 132);
    assert_int_equal(fa_tile_split_of(&o, 128, 16).tiles, 0); /* 16 whole rounds */
    o = fa_tile_order_dense(43, 2, 32, 0); /* d64 s8192 full: 2752 tiles, the last round 112 of 132 */
    assert_int_equal(fa_tile_split_of(&o, 132, 64).tiles, 0);
    o = fa_tile_order_dense(16, 8, 16, 0);
    assert_int_equal(fa_tile_split_of(&o, 132, FA_TILE_SPLIT_MIN_KEY_TILES - 1).tiles, 0);
    o.zigzag = 1;
    assert_int_equal(fa_tile_split_of(&o, 132, 16).tiles, 0); /* causal walks have their tail */
  }
  for (int trial = 0; trial < 2000; ++trial) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    const uint32_t grid = 1u + (uint32_t)((rng >> 33) % 300);
    const uint32_t n = FA_TILE_SPLIT_MIN_KEY_TILES + (uint32_t)((rng >> 20) % 200);
    const int32_t m_tiles = 1 + (int32_t)((rng >> 45) % 37);
    const uint32_t heads = 1u + (uint32_t)((rng >> 55) % 5);
    fa_tile_order o = fa_tile_order_dense(m_tiles, 3, heads, 0);
    const fa_tile_split sp = fa_tile_split_of(&o, grid, n);
    const uint32_t rest = o.count % grid;
    if (rest == 0 || (uint64_t)(grid - rest) * FA_TILE_SPLIT_MIN_GAIN < (uint64_t)grid * (o.count / grid + 1)) {
      assert_int_equal(sp.tiles, 0); /* no partial round, or one too cheap to share */
      continue;
    }
    assert_int_equal(sp.tiles, o.count % grid);
    assert_true(sp.blocks <= grid && sp.blocks <= 2 * sp.tiles && sp.first % grid == 0);
    uint32_t *covered = calloc((size_t)sp.tiles * n, sizeof *covered);
    uint32_t *next_index = calloc(sp.tiles, sizeof *next_index);
    uint32_t *count_of = calloc(sp.tiles, sizeof *count_of);
    uint8_t *slot_used = calloc((size_t)sp.tiles + sp.blocks, 1);
    assert_non_null(covered);
    assert_non_null(next_index);
    assert_non_null(slot_used);
    assert_non_null(count_of);
    uint64_t least = UINT64_MAX, most = 0;
    for (uint32_t b = 0; b < grid; ++b) {
      const uint32_t pieces = fa_split_block_pieces(&sp, b);
      uint64_t keys = 0;
      if (b >= sp.blocks) assert_int_equal(pieces, 0);
      for (uint32_t j = 0; j < pieces; ++j) {
        const fa_split_piece pc = fa_split_block_piece(&sp, b, j);
        if (pc.tile >= sp.tiles || pc.lo >= pc.hi || pc.hi > n || pc.count > 3 || pc.index >= pc.count ||
            pc.slot >= sp.tiles + sp.blocks || slot_used[pc.slot] ||
            (pc.count == 1) != (pc.lo == 0 && pc.hi == n) || pc.index != next_index[pc.tile])
          fail_msg("grid %u, R %u, n %u: block %u piece %u: tile %u keys [%u, %u) piece %u of %u, slot %u", grid,
                   sp.tiles, n, b, j, pc.tile, pc.lo, pc.hi, pc.index, pc.count, pc.slot);
        slot_used[pc.slot] = 1;
        count_of[pc.tile] = pc.count;
        next_index[pc.tile]++;
        for (uint32_t x = pc.lo; x < pc.hi; ++x) covered[(size_t)pc.tile * n + x]++;
        keys += pc.hi - pc.lo;
      }
      if (b < sp.blocks) {
        if (keys < least) least = keys;
        if (keys > most) most = keys;
      }
    }
    for (size_t x = 0; x < (size_t)sp.tiles * n; ++x)
      if (covered[x] != 1) fail_msg("grid %u, R %u, n %u: key tile %zu in %u shares", grid, sp.tiles, n, x, covered[x]);
    for (uint32_t i = 0; i < sp.tiles; ++i) /* every piece of tile i said how many there are */
      if (next_index[i] != count_of[i])
        fail_msg("grid %u, R %u, n %u: tile %u in %u pieces, which say %u", grid, sp.tiles, n, i, next_index[i],
                 count_of[i]);
    assert_true(most - least <= 1);
    free(covered), free(next_index), free(slot_used), free(count_of);
  }
}

/* The launch: one block per tile, or a persistent grid of one per SM; more
 * only so that no block lists more than its kernel's list_max tiles, and
 * then whole waves of SMs, the fewest that do. */
static void test_tile_grid(void **state) {
  (void)state;
  assert_int_equal(fa_tile_grid(100, 0, 132, FA_TILE_LIST_MAX), 100);
  assert_int_equal(fa_tile_grid(100, 1, 132, FA_TILE_LIST_MAX), 100);
  assert_int_equal(fa_tile_grid(5000, 1, 132, FA_TILE_LIST_MAX), 132);
  assert_int_equal(fa_tile_grid(5000, 1, 0, FA_TILE_LIST_MAX), 5000);
  assert_int_equal(fa_tile_grid(132 * 508, 1, 132, FA_TILE_LIST_MAX), 132);
  assert_int_equal(fa_tile_grid(132 * 508 + 1, 1, 132, FA_TILE_LIST_MAX), 264); /* not 133: a wave of one */
  assert_int_equal(fa_tile_grid(132 * 56, 1, 132, 60), 132);
  assert_int_equal(fa_tile_grid(132 * 56 + 1, 1, 132, 60), 264);
  assert_int_equal(fa_tile_grid(3 * 132 * 56, 1, 132, 60), 396);
  static const uint32_t caps[] = {FA_TILE_LIST_MAX, 60, 5};
  for (size_t c = 0; c < sizeof caps / sizeof caps[0]; ++c)
    for (int32_t sms = 1; sms <= 132; sms += 131)
      for (uint32_t tiles = 1; tiles < 4000000; tiles = tiles * 3 + 1) {
        const uint32_t grid = fa_tile_grid(tiles, 1, sms, caps[c]);
        assert_true(grid <= tiles || tiles <= (uint32_t)sms);
        assert_true(grid % (uint32_t)sms == 0 || grid == tiles);
        /* the fewest whole waves: one wave less would overflow a list */
        if (grid > (uint32_t)sms && grid != tiles)
          assert_true((tiles + caps[c] - 5) / (caps[c] - 4) > grid - (uint32_t)sms);
        for (uint32_t b = 0; b < grid; b += grid / 7 + 1)
          assert_true(2 * fa_block_steps((tiles + 1) / 2, b, grid) <= caps[c] &&
                      fa_block_steps(tiles, b, grid) <= caps[c]);
      }
}

/* The parts of a pair and their workspace (fa_part_args,
 * fa_choice_workspace_bytes): each part sees only its sequences, the
 * first kernel's short_rows, and the sizes add up 256-byte rounded. */
static size_t per_seq_workspace(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  (void)k, (void)dev;
  return (size_t)a->batch * 100 + (a->seq_filter == FA_SEQ_LONG ? 1 : 0);
}
static const fa_family fake_short_ws = {"short", any_supports, per_seq_workspace, NULL, 16, NULL};
static const fa_family fake_general_ws = {"general", general_supports, per_seq_workspace, NULL, 0, NULL};
static const fa_kernel_entry pair_ws_entries[] = {
    ENTRY("fwd_short_sm90_hdim64_bf16_local", short_ws, "sm_90", 90, 64, FA_DTYPE_BF16, FA_MASK_LOCAL, 20),
    ENTRY("fwd_general_sm90_hdim64_bf16_local", general_ws, "sm_90", 90, 64, FA_DTYPE_BF16, FA_MASK_LOCAL, 10),
    ENTRY("fwd_general_sm90_hdim64_bf16_causal", general_ws, "sm_90", 90, 64, FA_DTYPE_BF16, FA_MASK_CAUSAL, 10),
};
static const fa_kernel_table_view pair_ws_table = {pair_ws_entries, 3, "64", "sm_90"};

static void test_pair_parts_and_workspace(void **state) {
  const fa_device_info dev = device_of(90);
  int32_t cu[3] = {0, 1, 101};
  fa_fwd_args a = call_args(100, -1, -1), p0, p1;
  fa_choice c;
  (void)state;
  a.cu_seqlens_q = cu;
  c = choose_pair(&pair_ws_table, &a);
  assert_int_equal(c.partner, 1);
  p0 = fa_part_args(&pair_ws_table, c, 0, &a);
  p1 = fa_part_args(&pair_ws_table, c, 1, &a);
  assert_int_equal(p0.seq_filter, FA_SEQ_SHORT);
  assert_int_equal(p1.seq_filter, FA_SEQ_LONG);
  assert_int_equal(p0.short_rows, 16);
  assert_int_equal(p1.short_rows, 16);
  /* batch 4: 400 bytes (short part), 401 (long part), each rounded to 256. */
  assert_int_equal(fa_choice_workspace_bytes(&pair_ws_table, c, &a, &dev), 512 + 512);
  /* Alone: FA_SEQ_ALL, 400 bytes -> 512. */
  a.seqlen_q = 4;
  c = choose_pair(&pair_ws_table, &a);
  assert_int_equal(c.partner, SIZE_MAX);
  assert_int_equal(fa_part_args(&pair_ws_table, c, 0, &a).seq_filter, FA_SEQ_ALL);
  assert_int_equal(fa_choice_workspace_bytes(&pair_ws_table, c, &a, &dev), 512);
  /* The bound without a family hook: workspace_bytes at the bounds (batch
   * 10: 1000 -> 1024), the two largest families added (a pair runs two). */
  a.batch = 10;
  assert_int_equal(fa_workspace_bound_in(&pair_ws_table, FA_BACKEND_CUDA, &a, FA_DTYPE_BF16, &dev), 1024 + 1024);
  /* Only kernels the device runs, of the dtype and head dim, count. */
  assert_int_equal(fa_workspace_bound_in(&pair_ws_table, FA_BACKEND_CUDA, &a, FA_DTYPE_FP16, &dev), 0);
  {
    const fa_device_info d80 = device_of(80);
    assert_int_equal(fa_workspace_bound_in(&pair_ws_table, FA_BACKEND_CUDA, &a, FA_DTYPE_BF16, &d80), 0);
  }
}

/* ------------------------------------------------------------ the worst-case workspace, on the real table */

/* Devices the bound is proven on (no GPU needed: the families read only
 * these facts): H100/H200 (132 SMs), A100 (108), an RTX 3090-class sm_86
 * (82 SMs, 99 KiB per block), a small sm_89 part (24 SMs). */
typedef struct fake_gpu {
  const char *name;
  int arch, sm_count, max_smem;
} fake_gpu;
static const fake_gpu k_gpus[] = {
    {"sm_90 x 132", 90, 132, 232448},
    {"sm_80 x 108", 80, 108, 166912},
    {"sm_86 x 82", 86, 82, 101376},
    {"sm_89 x 24", 89, 24, 101376},
};

/* A model's attention shape and the bounds of the calls a runtime makes. */
typedef struct ws_model {
  int32_t hq, hk, d;
  fa_dtype dtype;
  int32_t max_batch, max_q, max_k;
  int64_t max_total_q;
} ws_model;

/* The normalized args of a call, as api.c builds them (what dispatch and
 * the families read). */
static fa_fwd_args ws_call(const ws_model *m, int32_t batch, int32_t sq, int64_t total_q, int32_t sk, int varlen,
                           int32_t num_splits, int32_t wl, int32_t wr, int sm_count) {
  static const int32_t cu_dummy[1] = {0};
  fa_fwd_args a;
  memset(&a, 0, sizeof a);
  a.batch = batch;
  a.num_heads_q = m->hq, a.num_heads_k = m->hk, a.head_dim = m->d;
  a.heads_per_kv = m->hq / m->hk;
  a.seqlen_q = sq, a.seqlen_k = sk;
  a.total_q = varlen ? total_q : (int64_t)batch * sq;
  a.cu_seqlens_q = varlen ? cu_dummy : NULL; /* dispatch only asks whether it is set */
  /* Cache lengths on the device, as a varlen call has them: the decode
   * family plans by length only where the host cannot know them equal. */
  a.seqused_k = varlen ? cu_dummy : NULL;
  a.window_left = wl, a.window_right = wr;
  a.num_splits = num_splits;
  a.sm_count = sm_count;
  return a;
}

typedef struct ws_tally {
  long calls, pairs, split_calls, pair_split_calls;
  size_t most;
} ws_tally;

/* One call: choose on the real table, and its fa_fwd_workspace_size must
 * not exceed the bound. A paged call may find no kernel on a small GPU
 * (d256 over a cache: too little shared memory); it is then skipped. */
static void ws_check_call(const fa_fwd_args *a, fa_dtype dtype, const fa_device_info *dev, size_t bound,
                          const char *gpu, ws_tally *t) {
  fa_choice c = {SIZE_MAX, SIZE_MAX};
  fa_message msg;
  const fa_status chosen = fa_choose_kernel_in(&fa_kernel_table, FA_BACKEND_CUDA, a, dtype, dev, &c, &msg);
  if (chosen == FA_ERR_UNSUPPORTED_DEVICE && a->block_table != NULL) return;
  if (chosen != FA_OK)
    fail_msg("%s: no kernel for batch %d, max_seqlen_q %d: %s", gpu, a->batch, a->seqlen_q, msg.text);
  const size_t need = fa_choice_workspace_bytes(&fa_kernel_table, c, a, dev);
  t->calls++;
  if (c.partner != SIZE_MAX) t->pairs++;
  if (need > 0) t->split_calls++;
  if (need > 0 && c.partner != SIZE_MAX) t->pair_split_calls++;
  if (need > t->most) t->most = need;
  if (need > bound)
    fail_msg("%s, heads %d/%d, d %d: the call batch %d, max_seqlen_q %d, total_q %lld, max_seqlen_k %d, %s, "
             "num_splits %d (%s%s%s) needs %zu bytes of workspace, more than the worst case %zu",
             gpu, a->num_heads_q, a->num_heads_k, a->head_dim, a->batch, a->seqlen_q, (long long)a->total_q,
             a->seqlen_k, a->cu_seqlens_q ? "varlen" : "dense", a->num_splits,
             fa_kernel_table.entries[c.index].info.name, c.partner != SIZE_MAX ? " + " : "",
             c.partner != SIZE_MAX ? fa_kernel_table.entries[c.partner].info.name : "", need, bound);
}

/* Every batch 1..max_batch and max_seqlen_q 1..max_q (varlen with total_q
 * at the bound, at batch x max_seqlen_q, and at max_seqlen_q, each also as
 * pages of 1; dense where batch x max_seqlen_q fits), keys at the bound and shorter, num_splits
 * within the cap, causal and local windows: each call within the bounds
 * needs no more than fa_workspace_bound_in says. */
static const int32_t k_ws_table[1] = {0}; /* a block table never read (host-side planning only) */

static ws_tally ws_enumerate(const ws_model *m, int32_t cap, const fake_gpu *g, size_t *bound_out) {
  fa_device_info dev = device_of(g->arch);
  dev.sm_count = g->sm_count, dev.max_smem_per_block = g->max_smem;
  const fa_fwd_args bounds = ws_call(m, m->max_batch, m->max_q, m->max_total_q, m->max_k, 1, cap, -1, -1, g->sm_count);
  const size_t bound = fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &bounds, m->dtype, &dev);
  const int32_t splits_any[] = {0, 3}, splits_capped[] = {cap, 2};
  const int32_t *splits = cap == 0 ? splits_any : splits_capped;
  /* and the longest caches that split uniformly (by length from 16384 keys,
   * fwd_decode_family.c): where by length needs less, they set the bound */
  const int32_t sks[] = {m->max_k, m->max_k / 3, m->max_k < 16383 ? m->max_k : 16383};
  ws_tally t;
  memset(&t, 0, sizeof t);
  for (int32_t b = 1; b <= m->max_batch; ++b)
    for (int32_t sq = 1; sq <= m->max_q; ++sq) {
      const int64_t full = (int64_t)b * sq < m->max_total_q ? (int64_t)b * sq : m->max_total_q;
      const int64_t totals[] = {m->max_total_q, full, sq < m->max_total_q ? sq : m->max_total_q};
      const int32_t wl = (b + sq) % 2 ? -1 : 128, wr = 0; /* causal, or a window of 128 */
      for (int s = 0; s < 2; ++s)
        for (int k = 0; k < 3; ++k) {
          for (int tq = 0; tq < 3; ++tq) {
            fa_fwd_args a = ws_call(m, b, sq, totals[tq], sks[k], 1, splits[s], wl, wr, g->sm_count);
            ws_check_call(&a, m->dtype, &dev, bound, g->name, &t);
            /* Pages of 1 (the decode kernel's row copies, which split more
             * readily than its tile copies: fwd_decode_family.c fill_percent). */
            a.block_table = k_ws_table, a.page_size = 1, a.max_pages_per_seq = sks[k], a.num_pages = INT32_MAX;
            ws_check_call(&a, m->dtype, &dev, bound, g->name, &t);
          }
          if ((int64_t)b * sq <= m->max_total_q) {
            const fa_fwd_args a = ws_call(m, b, sq, 0, sks[k], 0, splits[s], wl, wr, g->sm_count);
            ws_check_call(&a, m->dtype, &dev, bound, g->name, &t);
          }
        }
    }
  *bound_out = bound;
  return t;
}

static void test_workspace_bound(void **state) {
  /* GQA 32/8 d128 bf16 (Llama 3 8B), MHA 8/8 d64 fp16, 64/4 d256 (16 query
   * heads per KV head: only 4 query rows are "short"), 28/4 d80 (7 per KV
   * head: a short bound of 9 rows). Query rows up to 80: calls with 1 row
   * per sequence (decode) up to prefill chunks, so that pairs occur. */
  static const ws_model models[] = {
      {32, 8, 128, FA_DTYPE_BF16, 40, 80, 20000, 400},
      {8, 8, 64, FA_DTYPE_FP16, 40, 80, 9000, 333},
      {64, 4, 256, FA_DTYPE_BF16, 24, 40, 30000, 256},
      {28, 4, 80, FA_DTYPE_BF16, 40, 48, 5000, 512},
  };
  static const int32_t caps[] = {0, 8};
  long calls = 0, pairs = 0, split_calls = 0, pair_split_calls = 0;
  (void)state;
  for (size_t g = 0; g < sizeof k_gpus / sizeof k_gpus[0]; ++g)
    for (size_t m = 0; m < sizeof models / sizeof models[0]; ++m)
      for (size_t c = 0; c < 2; ++c) {
        size_t bound = 0;
        const ws_tally t = ws_enumerate(&models[m], caps[c], &k_gpus[g], &bound);
        calls += t.calls, pairs += t.pairs, split_calls += t.split_calls, pair_split_calls += t.pair_split_calls;
        if (t.most > 0 && g == 0 && c == 0)
          print_message("%s, heads %d/%d d %d: worst case %zu B, largest call %zu B (%.0f%%)\n", k_gpus[g].name,
                        models[m].hq, models[m].hk, models[m].d, bound, t.most, 100.0 * t.most / bound);
        /* The bound is not vacuous: it is 0 only when no call splits. */
        if (t.most == 0 && bound != 0 && caps[c] == 0)
          fail_msg("%s, model %zu: no call splits, yet the worst case is %zu bytes", k_gpus[g].name, m, bound);
      }
  print_message("%ld calls within the bounds checked: %ld pairs, %ld split (%ld of them pairs)\n", calls, pairs,
                split_calls, pair_split_calls);
  /* The enumeration covers what it claims to. */
  assert_true(pairs > 0);
  assert_true(split_calls > 0);
  assert_true(pair_split_calls > 0);
}

/* Where no pair can occur (max_seqlen_q x heads per KV head within the
 * decode family's 64 rows), every row-tile count the bound considers is
 * reached by some call: the bound is exact, not just safe. */
static void test_workspace_bound_exact(void **state) {
  static const ws_model models[] = {
      {32, 8, 128, FA_DTYPE_BF16, 64, 16, 32768, 1024},
      {8, 8, 64, FA_DTYPE_FP16, 48, 64, 12000, 700},
      {16, 1, 96, FA_DTYPE_BF16, 200, 4, 65536, 800},
  };
  (void)state;
  for (size_t g = 0; g < sizeof k_gpus / sizeof k_gpus[0]; ++g)
    for (size_t m = 0; m < sizeof models / sizeof models[0]; ++m) {
      size_t bound = 0;
      const ws_tally t = ws_enumerate(&models[m], 0, &k_gpus[g], &bound);
      assert_int_equal(t.pairs, 0);
      if (t.most != bound)
        fail_msg("%s, model %zu: worst case %zu bytes, but the largest call needs %zu", k_gpus[g].name, m, bound,
                 t.most);
    }
}

/* The wgmma family's split of the last round (attn/tile_order.h,
 * fa_tile_split) asks for workspace with num_splits 0 (the default) and
 * n > 1, never with 1; only for calls it may split: not causal, head dims up
 * to 128, two query tiles and 16 key tiles or more. */
static size_t wgmma_split_bytes(const ws_model *m, int32_t sq, int32_t sk, int32_t num_splits, int32_t wl,
                                int32_t wr) {
  const fa_device_info dev = sm90_with_encoder();
  fa_fwd_args a = ws_call(m, 2, sq, 0, sk, 0, num_splits, wl, wr, 132);
  a.tensor_map_encode = dev.tensor_map_encode;
  a.kv_capacity = sk;
  a.q_head_stride = a.k_head_stride = a.v_head_stride = a.out_head_stride = m->d;
  a.q_row_stride = a.out_row_stride = (int64_t)m->hq * m->d;
  a.k_row_stride = a.v_row_stride = (int64_t)m->hk * m->d;
  a.q_batch_stride = a.out_batch_stride = (int64_t)sq * m->hq * m->d;
  a.k_batch_stride = a.v_batch_stride = (int64_t)sk * m->hk * m->d;
  fa_choice c = {SIZE_MAX, SIZE_MAX};
  fa_message msg;
  if (fa_choose_kernel_in(&fa_kernel_table, FA_BACKEND_CUDA, &a, m->dtype, &dev, &c, &msg) != FA_OK)
    fail_msg("no kernel: %s", msg.text);
  if (strncmp(fa_kernel_table.entries[c.index].info.name, "fwd_wgmma_", 10) != 0)
    fail_msg("sm_90 chose %s, not the wgmma family", fa_kernel_table.entries[c.index].info.name);
  return fa_choice_workspace_bytes(&fa_kernel_table, c, &a, &dev);
}

static void test_wgmma_split_workspace(void **state) {
  const ws_model d128 = {16, 16, 128, FA_DTYPE_BF16, 2, 4096, 8192, 8192};
  const ws_model d256 = {8, 8, 256, FA_DTYPE_BF16, 2, 4096, 8192, 8192};
  const size_t whole = fa_split_workspace_bytes(132, 128, 128);
  (void)state;
  assert_true(whole > 0);
  assert_int_equal(wgmma_split_bytes(&d128, 4096, 4096, 0, -1, -1), whole);
  assert_int_equal(wgmma_split_bytes(&d128, 4096, 4096, 2, -1, -1), whole);
  assert_int_equal(wgmma_split_bytes(&d128, 4096, 4096, 1, -1, -1), 0);
  assert_int_equal(wgmma_split_bytes(&d128, 4096, 4096, 0, 1000, 1000), whole); /* two-sided window */
  assert_int_equal(wgmma_split_bytes(&d128, 4096, 4096, 0, -1, 0), 0);          /* causal: its tail instead */
  assert_int_equal(wgmma_split_bytes(&d128, 4096, 4096, 0, 1000, -1), 0);       /* one-sided: walks in pairs */
  assert_int_equal(wgmma_split_bytes(&d128, 4096, 15 * 128, 0, -1, -1), 0);     /* 15 key tiles */
  assert_int_equal(wgmma_split_bytes(&d128, 255, 4096, 0, -1, -1), 0);          /* one query tile */
  assert_int_equal(wgmma_split_bytes(&d256, 4096, 4096, 0, -1, -1), 0);         /* d256: no merge */
  /* A runtime's worst case covers the default's split (bounds num_splits 0:
   * any), and not when every call passes 1. */
  {
    const fa_device_info dev = sm90_with_encoder();
    fa_fwd_args b = ws_call(&d128, 2, 4096, 8192, 4096, 1, 0, -1, -1, 132);
    assert_true(fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &b, FA_DTYPE_BF16, &dev) >= whole);
    b.num_splits = 1;
    assert_int_equal(fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &b, FA_DTYPE_BF16, &dev), 0);
  }
}

/* GQA packing (cuda/wgmma/work_tiles.cuh): the wgmma plan packs a KV head's
 * query heads into a tile's rows for varlen calls under a causal-shaped mask
 * (causal, or a window bounded on one side), G of 2, 4 or 8, head dims up to
 * 128; every other call keeps a tile per query head. */
static int32_t wgmma_pack_shift(int32_t hq, int32_t hk, int32_t d, int varlen, int32_t wl, int32_t wr) {
  const ws_model m = {hq, hk, d, FA_DTYPE_BF16, 2, 4096, 8192, 8192};
  const fa_device_info dev = sm90_with_encoder();
  fa_fwd_args a = ws_call(&m, 2, 4096, 8192, 4096, varlen, 0, wl, wr, 132);
  a.tensor_map_encode = dev.tensor_map_encode;
  a.kv_capacity = 4096;
  a.q_head_stride = a.k_head_stride = a.v_head_stride = a.out_head_stride = d;
  a.q_row_stride = a.out_row_stride = (int64_t)hq * d;
  a.k_row_stride = a.v_row_stride = (int64_t)hk * d;
  a.q_batch_stride = a.out_batch_stride = (int64_t)4096 * hq * d;
  a.k_batch_stride = a.v_batch_stride = (int64_t)4096 * hk * d;
  a.total_k = 8192;
  fa_choice c = {SIZE_MAX, SIZE_MAX};
  fa_message msg;
  if (fa_choose_kernel_in(&fa_kernel_table, FA_BACKEND_CUDA, &a, FA_DTYPE_BF16, &dev, &c, &msg) != FA_OK)
    fail_msg("no kernel: %s", msg.text);
  const fa_kernel_entry *e = &fa_kernel_table.entries[c.index];
  if (strcmp(e->info.family, "wgmma") != 0) fail_msg("sm_90 chose %s, not the wgmma family", e->info.name);
  fa_fwd_args p = fa_part_args(&fa_kernel_table, c, 0, &a);
  e->family->plan(&p, &e->info, &dev);
  return p.pack_gqa_shift;
}

static void test_wgmma_gqa_packing(void **state) {
  (void)state;
  assert_int_equal(wgmma_pack_shift(32, 8, 128, 1, -1, 0), 2);   /* the packed GQA row */
  assert_int_equal(wgmma_pack_shift(16, 8, 64, 1, -1, 0), 0);   /* d64: not packed (its causal kernels ran slower) */
  assert_int_equal(wgmma_pack_shift(16, 8, 80, 1, -1, 0), 1);
  assert_int_equal(wgmma_pack_shift(8, 1, 128, 1, -1, 0), 3);
  assert_int_equal(wgmma_pack_shift(32, 8, 96, 1, -1, 0), 2);    /* d96: 96 columns in shared memory */
  assert_int_equal(wgmma_pack_shift(32, 8, 128, 1, 1000, -1), 2); /* one-sided window */
  assert_int_equal(wgmma_pack_shift(32, 8, 128, 1, -1, -1), 0);  /* full: no partial-tile gain, splits instead */
  assert_int_equal(wgmma_pack_shift(32, 8, 128, 1, 1000, 0), 0); /* two-sided window */
  assert_int_equal(wgmma_pack_shift(32, 8, 128, 0, -1, 0), 0);   /* dense */
  assert_int_equal(wgmma_pack_shift(48, 8, 128, 1, -1, 0), 0);   /* G = 6 */
  assert_int_equal(wgmma_pack_shift(32, 2, 128, 1, -1, 0), 0);   /* G = 16 */
  assert_int_equal(wgmma_pack_shift(32, 32, 128, 1, -1, 0), 0);  /* MHA */
  assert_int_equal(wgmma_pack_shift(16, 4, 256, 1, -1, 0), 0);   /* d256 */
}

/* num_splits = 1 as the cap: nothing splits, the bound is 0; a device
 * that reports no SMs (sm_count 0) does not split either. */
static void test_workspace_bound_edges(void **state) {
  const ws_model m = {32, 8, 128, FA_DTYPE_BF16, 64, 16, 32768, 1024};
  fa_device_info dev = device_of(90);
  fa_fwd_args b = ws_call(&m, 64, 16, 1024, 32768, 1, 1, -1, -1, 132);
  (void)state;
  dev.max_smem_per_block = 232448;
  assert_int_equal(fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &b, FA_DTYPE_BF16, &dev), 0);
  b.num_splits = 0;
  assert_true(fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &b, FA_DTYPE_BF16, &dev) > 0);
  /* Keys too short to split: a split needs 4 warps x 4 steps of 16 keys,
   * so 2 need more than 31 key tiles of 16. */
  b.seqlen_k = 31 * 16;
  assert_int_equal(fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &b, FA_DTYPE_BF16, &dev), 0);
  b.seqlen_k = 31 * 16 + 1;
  assert_true(fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &b, FA_DTYPE_BF16, &dev) > 0);
  /* A device whose blocks cannot hold the decode kernel's shared memory
   * never runs it (the family declines every call): nothing. */
  dev.max_smem_per_block = 48 * 1024;
  assert_int_equal(fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &b, FA_DTYPE_BF16, &dev), 0);
  dev.max_smem_per_block = 232448;
  b.seqlen_k = 0;
  assert_int_equal(fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &b, FA_DTYPE_BF16, &dev), 0);
  b.seqlen_k = 32768;
  dev.sm_count = 0;
  assert_int_equal(fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &b, FA_DTYPE_BF16, &dev), 0);
  /* The CPU family needs none. */
  assert_int_equal(fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CPU, &b, FA_DTYPE_BF16, &dev), 0);
}

/* ------------------------------------------------------------ the decode family's split layout, by sequence */

/* An H200 as the families see it: sm_90, 132 SMs, 227 KiB per block. */
static fa_device_info h200(void) {
  fa_device_info dev = device_of(90);
  dev.max_smem_per_block = 232448;
  return dev;
}

/* The split workspace of `rows` partial rows (fwd_decode_plan.h): fp32
 * LSE parts [splits][heads][rows], 256-byte aligned, then fp32 O parts
 * [splits][rows][heads][head_dim]; 256-byte rounded as a part of a call. */
static size_t split_bytes(int64_t splits, int64_t rows, int64_t hq, int64_t d) {
  const int64_t lse = (splits * hq * rows * 4 + 255) / 256 * 256;
  return (size_t)((lse + splits * rows * hq * d * 4 + 255) / 256 * 256);
}

/* The decode part of the call the real table chooses, planned as with an
 * unbounded workspace: the split count the heuristic wants. */
static fa_fwd_args decode_part(const fa_fwd_args *a, const fa_device_info *dev, fa_choice *c, const char *what) {
  fa_message msg;
  if (fa_choose_kernel_in(&fa_kernel_table, FA_BACKEND_CUDA, a, FA_DTYPE_BF16, dev, c, &msg) != FA_OK)
    fail_msg("%s: %s", what, msg.text);
  const fa_kernel_entry *e = &fa_kernel_table.entries[c->index];
  if (strcmp(e->info.family, "decode") != 0) fail_msg("%s: %s chosen, not a decode kernel", what, e->info.name);
  fa_fwd_args p = fa_part_args(&fa_kernel_table, *c, 0, a);
  p.workspace = (void *)(uintptr_t)256, p.workspace_bytes = (size_t)1 << 50; /* never dereferenced by plan() */
  e->family->plan(&p, &e->info, dev);
  return p;
}

/* The split counts of the benchmark's decode rows (GQA 32/8, d128, bf16,
 * one query per sequence) on an H200 (2 blocks per SM: 264 slots): a
 * batch whose units leave the GPU part empty fills one wave (b1: 33
 * splits, 264 blocks; b8: 4, 256 blocks), the others do not split. The
 * eighth session measured 33 against the 30 of "the smallest count within
 * 90% of the best" at 1.02x (src/cuda/fwd_decode_family.c). */
static void test_decode_splits_fill_one_wave(void **state) {
  static const struct {
    int32_t batch, max_k, splits;
  } rows[] = {{1, 131072, 33}, {2, 65536, 16}, {3, 65536, 11}, {8, 32768, 4}, {32, 8192, 1}, {128, 1024, 1}};
  const fa_device_info dev = h200();
  const ws_model m = {32, 8, 128, FA_DTYPE_BF16, 0, 0, 0, 0};
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; ++i) {
    const fa_fwd_args a = ws_call(&m, rows[i].batch, 1, rows[i].batch, rows[i].max_k, 1, 0, -1, 0, dev.sm_count);
    fa_choice c;
    const fa_fwd_args p = decode_part(&a, &dev, &c, "decode row");
    const int64_t tiles = rows[i].max_k / FA_DECODE_STEP, units = (int64_t)rows[i].batch * m.hk;
    const int32_t each =
        p.split_slots > 0 ? fa_decode_length_splits(tiles, units * tiles, p.split_slots, p.splits) : p.splits;
    print_message("b%-3d x %6d keys: %2d splits (%s), %4lld blocks\n", rows[i].batch, rows[i].max_k, each,
                  p.split_slots > 0 ? "by length" : "uniform", (long long)units * each);
    assert_int_equal(each, rows[i].splits);
  }
}

/* The share of the block slots that blocks without splitting must fill
 * before the heuristic stops splitting depends on how the kernel streams
 * K/V, its blocks an SM and the longest cache (fwd_decode_family.c
 * fill_percent): on the tile copies (sm_90, a contiguous cache or pages of
 * 16), where 2 blocks or more fit an SM (d64, d128) and the cache has at
 * most 16384 keys, 70% of the SMs (d128: 35% of 264 slots, b12 unsplit,
 * b11 split; d64: 23% of 396, the same batches), else 60% of the slots;
 * on the row copies (pages of 1) 80%. H200 slots: d64 396 (3 an SM), d128
 * 264 (2), d256 132 (1). One query per sequence, GQA 32/8. */
static void test_decode_splits_fill_by_copies(void **state) {
  static const int32_t table[1] = {0};
  static const struct {
    int32_t d, batch, keys, page_size, split; /* split: 1 if the heuristic splits */
  } rows[] = {{128, 20, 8192, 0, 0},  {128, 20, 8192, 16, 0},  {128, 20, 8192, 1, 1},  {128, 14, 8192, 0, 0},
              {128, 14, 4096, 64, 0}, {128, 13, 12000, 0, 0},  {128, 11, 12000, 0, 1}, {128, 18, 12000, 0, 0},
              {128, 12, 16000, 0, 0}, {128, 11, 16000, 0, 1},  {128, 16, 16000, 16, 0}, {128, 16, 16000, 1, 1},
              {128, 12, 4096, 0, 0},  {128, 11, 4096, 0, 1},   {128, 12, 2048, 0, 0},   {128, 10, 8192, 0, 1},
              {64, 32, 8192, 0, 0},   {64, 32, 8192, 64, 0},   {64, 32, 8192, 1, 1},    {64, 12, 4096, 0, 0},
              {64, 11, 4096, 0, 1},   {64, 14, 8192, 0, 0},    {64, 11, 8192, 0, 1},    {64, 12, 16000, 0, 0},
              {64, 11, 16000, 0, 1},  {256, 10, 8192, 0, 0},   {256, 8, 4096, 0, 1},    {256, 9, 12000, 0, 1}};
  const fa_device_info dev = h200();
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; ++i) {
    const ws_model m = {32, 8, rows[i].d, FA_DTYPE_BF16, 0, 0, 0, 0};
    fa_fwd_args a = ws_call(&m, rows[i].batch, 1, rows[i].batch, rows[i].keys, 1, 0, -1, 0, dev.sm_count);
    if (rows[i].page_size > 0) {
      a.block_table = table, a.page_size = rows[i].page_size;
      a.max_pages_per_seq = (rows[i].keys + rows[i].page_size - 1) / rows[i].page_size, a.num_pages = 1 << 20;
    }
    fa_choice c;
    const fa_fwd_args p = decode_part(&a, &dev, &c, "fill");
    print_message("d%-3d b%-3d x %5d keys, page %2d: %2d splits\n", rows[i].d, rows[i].batch, rows[i].keys,
                  rows[i].page_size, p.splits);
    assert_int_equal(p.split_slots, 0);
    assert_int_equal(p.splits > 1, rows[i].split);
  }
}

/* A pair's short part of at most 32 sequences splits by length at any
 * cache (fwd_decode_family.c split_plan_for): the host counts its units as
 * every sequence times the short rows' tiles (4 decoding sequences and a
 * 512-row chunk, GQA 32/8 d128: 160 units, enough not to split), the
 * device plan counts the short sequences' own. Beyond 32 sequences (the
 * block's plan) the host's uniform count stays; num_splits = 1 never
 * splits; a call alone (no pair) of 4k keys splits uniformly as before. */
static void test_decode_pair_short_by_length(void **state) {
  static const struct {
    const char *what;
    int32_t batch, max_q, max_k, num_splits, pair, by_length;
    int64_t total_q;
  } cases[] = {
      {"4 decoding + a 512-row chunk, 4608 keys", 5, 512, 4608, 0, 1, 1, 4 + 512},
      {"31 decoding + a 512-row chunk, 2048 keys", 32, 512, 2048, 0, 1, 1, 31 + 512},
      {"32 decoding + a 512-row chunk, 2048 keys", 33, 512, 2048, 0, 1, 0, 32 + 512},
      {"4 decoding + a 512-row chunk, num_splits 1", 5, 512, 4608, 1, 1, 0, 4 + 512},
      {"4 decoding + a 512-row chunk, num_splits 8", 5, 512, 4608, 8, 1, 1, 4 + 512},
      {"4 decoding alone, 4096 keys", 4, 1, 4096, 0, 0, 0, 4},
  };
  const fa_device_info dev = h200();
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    const ws_model m = {32, 8, 128, FA_DTYPE_BF16, 0, 0, 0, 0};
    const fa_fwd_args a = ws_call(&m, cases[i].batch, cases[i].max_q, cases[i].total_q, cases[i].max_k, 1,
                                  cases[i].num_splits, -1, 0, dev.sm_count);
    fa_choice c;
    const fa_fwd_args p = decode_part(&a, &dev, &c, cases[i].what);
    print_message("%-46s pair %d: %2d splits, %3d slots\n", cases[i].what, c.partner != SIZE_MAX, p.splits,
                  p.split_slots);
    if ((c.partner != SIZE_MAX) != cases[i].pair) fail_msg("%s: pair %d", cases[i].what, c.partner != SIZE_MAX);
    if ((p.split_slots > 0) != cases[i].by_length)
      fail_msg("%s: split_slots %d, want %s", cases[i].what, p.split_slots, cases[i].by_length ? "> 0" : "0");
    if (cases[i].num_splits > 1 && p.splits > cases[i].num_splits)
      fail_msg("%s: %d splits over the cap %d", cases[i].what, p.splits, cases[i].num_splits);
  }
}

/* A dense cache without seqused_k holds seqlen_k keys in every sequence,
 * which the host knows: the uniform split is already the split by length,
 * so the family does not plan on the device (fwd_decode_family.c
 * caches_known_equal). The same shapes with seqused_k, or varlen, plan by
 * length. */
static void test_decode_dense_cache_uniform(void **state) {
  static const int32_t lengths[1] = {0};
  static const struct {
    int32_t batch, max_k, splits;
  } rows[] = {{8, 32768, 4}, {2, 65536, 16}, {32, 32768, 1}, {64, 16384, 1}};
  const fa_device_info dev = h200();
  const ws_model m = {32, 8, 128, FA_DTYPE_BF16, 0, 0, 0, 0};
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; ++i) {
    for (int form = 0; form < 3; ++form) { /* dense, dense with seqused_k, varlen */
      fa_fwd_args a = ws_call(&m, rows[i].batch, 1, rows[i].batch, rows[i].max_k, form == 2, 0, -1, 0, dev.sm_count);
      if (form == 1) a.seqused_k = lengths;
      fa_choice c;
      const fa_fwd_args p = decode_part(&a, &dev, &c, "dense cache");
      print_message("b%-3d x %6d keys, %-22s: %s, splits %d\n", rows[i].batch, rows[i].max_k,
                    form == 0 ? "dense" : form == 1 ? "dense with seqused_k" : "varlen",
                    p.split_slots > 0 ? "by length" : "uniform", p.splits);
      assert_int_equal(p.split_slots > 0, form != 0);
      if (form == 0) assert_int_equal(p.splits, rows[i].splits);
    }
  }
}

/* A plan by length whose units fit one wave of 2 blocks an SM, and whose
 * pieces would fill it better than 3 an SM, takes 2 an SM even where
 * shared memory allows 3 (d64), and its blocks ask for the shared memory
 * that keeps it so (fwd_decode_family.c plan_blocks_per_sm): with more
 * slots the dispatcher puts 3 pieces on some SMs and 1 on others. 32 x 8
 * units: 256 of 264 slots against 256 of 396; 16 x 8: 256 against 384 of
 * 396 (a tie keeps 3); 24 x 8: 192 against 384; 40 x 8 and 66 x 8: more
 * than a wave of 264. H200 numbers: 132 SMs, d64 3 an SM, d128 2. */
static void test_decode_plan_two_an_sm(void **state) {
  static const struct {
    int32_t d, batch, max_k, slots, capped;
  } rows[] = {{64, 32, 16384, 264, 1},  {64, 32, 32768, 264, 1}, {64, 16, 16384, 396, 0}, {64, 24, 16384, 396, 0},
              {64, 8, 32768, 396, 0},   {64, 2, 65536, 396, 0},  {64, 40, 16384, 396, 0}, {64, 66, 16384, 396, 0},
              {128, 32, 16384, 264, 0}, {128, 8, 32768, 264, 0}};
  const fa_device_info dev = h200();
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; ++i) {
    const ws_model m = {32, 8, rows[i].d, FA_DTYPE_BF16, 0, 0, 0, 0};
    const fa_fwd_args a = ws_call(&m, rows[i].batch, 1, rows[i].batch, rows[i].max_k, 1, 0, -1, 0, dev.sm_count);
    fa_choice c;
    const fa_fwd_args p = decode_part(&a, &dev, &c, "two an SM");
    print_message("d%-3d b%-3d x %6d keys: %3d slots, %2d splits, block smem %d\n", rows[i].d, rows[i].batch,
                  rows[i].max_k, p.split_slots, p.splits, p.split_block_smem);
    assert_int_equal(p.split_slots, rows[i].slots);
    if (rows[i].capped) {
      /* two fit an SM (blocks_per_sm's rule), three do not */
      const int64_t room = (int64_t)dev.max_smem_per_block + 1024, each = (int64_t)p.split_block_smem + 1024;
      assert_true(p.split_block_smem <= dev.max_smem_per_block);
      assert_true(2 * each <= room && 3 * each > room);
    } else {
      assert_int_equal(p.split_block_smem, 0);
    }
  }
}

/* Splits by length (fwd_decode_plan.h): where the units fill the GPU and
 * the longest cache reaches 16k keys, each sequence takes its own count on
 * the device, at most round(slots / KV heads); the workspace holds the
 * split pieces' partials (at most one per block slot), a units table and
 * a ticket a block (fwd_decode.md "Tickets"), to the byte. Then the device
 * rule itself: a few long caches among short ones are cut into about one
 * slot's share each, equal lengths keep the one-wave count, and for random
 * batches the pieces never pass units + slots nor the split pieces the
 * slots (the grid and the workspace are sized by those bounds). */
static void test_decode_split_by_length(void **state) {
  const fa_device_info dev = h200();
  const ws_model m = {32, 8, 128, FA_DTYPE_BF16, 0, 0, 0, 0};
  const int64_t slots = 264;
  (void)state;
  {
    static const struct {
      int32_t batch, max_k, num_splits, by_length, splits;
    } rows[] = {{32, 32768, 0, 1, 33},  {64, 16384, 0, 1, 33}, {64, 16383, 0, 0, 1}, {32, 8192, 0, 0, 1},
                {1, 131072, 0, 0, 33},  {8, 32768, 0, 1, 33},  {32, 32768, 1, 0, 1}, {32, 32768, 6, 1, 6},
                {513, 32768, 0, 0, 1},  {8, 16383, 0, 0, 4},   {2, 16384, 0, 1, 33}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; ++i) {
      const fa_fwd_args a =
          ws_call(&m, rows[i].batch, 1, rows[i].batch, rows[i].max_k, 1, rows[i].num_splits, -1, 0, dev.sm_count);
      fa_choice c;
      const fa_fwd_args p = decode_part(&a, &dev, &c, "by length");
      print_message("b%-3d x %6d keys, num_splits %d: %s, splits %d\n", rows[i].batch, rows[i].max_k,
                    rows[i].num_splits, p.split_slots > 0 ? "by length" : "uniform", p.splits);
      assert_int_equal(p.split_slots > 0, rows[i].by_length);
      assert_int_equal(p.splits, rows[i].splits);
      if (p.split_slots > 0) {
        assert_int_equal(p.split_slots, slots);
        const size_t need = fa_choice_workspace_bytes(&fa_kernel_table, c, &a, &dev);
        const int64_t units = (int64_t)rows[i].batch * m.hk, piece_rows = 4; /* 1 query x 4 heads per KV head */
        const int64_t o = slots * piece_rows * m.d * 4, lse = (slots * piece_rows * 4 + 255) / 256 * 256;
        const int64_t table = (units * 8 + 255) / 256 * 256, tickets = (units + slots) * FA_DECODE_TICKET_BYTES;
        assert_int_equal(need, (size_t)((o + lse + table + tickets + 255) / 256 * 256));
      }
    }
  }
  {
    /* 60 caches of 512 keys and 4 of 32k (bench/decode_skew.py): the long
     * ones in 6 pieces, the short ones whole. */
    const int64_t short_tiles = 512 / FA_DECODE_STEP, long_tiles = 32768 / FA_DECODE_STEP;
    const int64_t total = 8 * (60 * short_tiles + 4 * long_tiles);
    assert_int_equal(fa_decode_length_splits(long_tiles, total, slots, 33), 6);
    assert_int_equal(fa_decode_length_splits(short_tiles, total, slots, 33), 1);
    /* equal lengths: the one-wave count */
    assert_int_equal(fa_decode_length_splits(2048, 64 * 2048, slots, 33), 4);
    assert_int_equal(fa_decode_length_splits(8192, 8 * 8192, slots, 33), 33);
    assert_int_equal(fa_decode_length_splits(512, 256 * 512, slots, 33), 1);
    assert_int_equal(fa_decode_length_splits(0, 0, slots, 33), 1);
    assert_int_equal(fa_decode_length_splits(17, 17, slots, 33), 1); /* a split keeps 16 key tiles */
  }
  uint64_t rng = 5;
  for (int trial = 0; trial < 2000; ++trial) {
    int64_t tiles[64], units_of[64], total = 0, units = 0;
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    const int n = 1 + (int)((rng >> 33) % 64);
    const int32_t cap = 2 + (int32_t)((rng >> 45) % 40);
    for (int b = 0; b < n; ++b) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      tiles[b] = (rng >> 40) % 7 == 0 ? 0 : (int64_t)((rng >> 33) % ((rng >> 60) ? 64 : 8192));
      units_of[b] = 8 * (1 + (int64_t)((rng >> 20) % 2));
      total += units_of[b] * tiles[b];
      units += units_of[b];
    }
    int64_t pieces = 0, split_pieces = 0;
    for (int b = 0; b < n; ++b) {
      const int32_t s = fa_decode_length_splits(tiles[b], total, slots, cap);
      if (s < 1 || s > cap || (s > 1 && s * FA_DECODE_MIN_SPLIT_TILES > tiles[b]))
        fail_msg("trial %d: %d splits of %lld key tiles (cap %d)", trial, s, (long long)tiles[b], cap);
      pieces += units_of[b] * s;
      split_pieces += s > 1 ? units_of[b] * s : 0;
    }
    if (pieces >= units + slots || split_pieces > slots) /* fewer than units + slots: fwd_decode_plan.h */
      fail_msg("trial %d: %lld pieces (units %lld + slots %lld), %lld split ones", trial, (long long)pieces,
               (long long)units, (long long)slots, (long long)split_pieces);
    /* Longest first: each sequence's place (the count of those that run
     * before it, as the kernel counts) is a permutation whose pieces' key
     * tiles never grow, ties in sequence order. */
    int32_t key[64], order[64];
    for (int b = 0; b < n; ++b) {
      key[b] = fa_decode_piece_tiles(tiles[b], 1, fa_decode_length_splits(tiles[b], total, slots, cap));
      order[b] = -1;
    }
    for (int b = 0; b < n; ++b) {
      int32_t place = 0;
      for (int j = 0; j < n; ++j) place += fa_decode_runs_before(key[j], j, key[b], b);
      if (place >= n || order[place] != -1)
        fail_msg("trial %d: sequence %d at place %d, taken or past %d", trial, b, place, n);
      order[place] = b;
    }
    for (int at = 1; at < n; ++at)
      if (key[order[at]] > key[order[at - 1]] || (key[order[at]] == key[order[at - 1]] && order[at] < order[at - 1]))
        fail_msg("trial %d: place %d (sequence %d, %d tiles) after sequence %d (%d tiles)", trial, at, order[at],
                 key[order[at]], order[at - 1], key[order[at - 1]]);
  }
  /* Blocks to pieces (fa_decode_block_piece): spread or not, every piece
   * has exactly one block of the grid and no block a piece past the last;
   * b8 x 32k's 8 spare slots spread over the second half of the wave. */
  {
    static int seen[512];
    const int64_t slot_counts[4] = {16, 24, 264, 396};
    for (int c = 0; c < 4; ++c) {
      const int64_t sl = slot_counts[c];
      for (int form = 0; form < 3; ++form) {
        const int64_t lo = form == 0 ? 0 : form == 1 ? sl / 2 : sl;
        for (int64_t p = 1; p <= sl + 40; ++p) {
          memset(seen, 0, sizeof seen);
          for (int64_t blk = 0; blk < p + sl; ++blk) {
            const int32_t i = fa_decode_block_piece(blk, p, sl, lo);
            if (i >= p || i < -1) fail_msg("slots %lld lo %lld pieces %lld: block %lld has piece %d", (long long)sl,
                                           (long long)lo, (long long)p, (long long)blk, i);
            if (i >= 0 && seen[i]++) fail_msg("slots %lld lo %lld: piece %d twice", (long long)sl, (long long)lo, i);
          }
          for (int64_t i = 0; i < p; ++i)
            if (!seen[i]) fail_msg("slots %lld lo %lld pieces %lld: piece %lld has no block", (long long)sl,
                                   (long long)lo, (long long)p, (long long)i);
        }
      }
    }
    const int32_t empty[8] = {148, 164, 181, 197, 214, 230, 247, 263};
    int k = 0;
    for (int64_t blk = 0; blk < 264; ++blk)
      if (fa_decode_block_piece(blk, 256, 264, 132) < 0) {
        assert_true(k < 8);
        assert_int_equal(blk, empty[k++]);
      }
    assert_int_equal(k, 8);
    assert_int_equal(fa_decode_block_piece(255, 256, 264, 264), 255); /* lo = slots: piece i at block i */
    assert_int_equal(fa_decode_block_piece(256, 256, 264, 264), -1);
  }
  /* The kernel's sort (cuda/decode/pieces.cuh block_sort_descending) gives that
   * order: its network, element by element as the threads take it, over
   * the launch's keys padded with 0 to 128 x a power of two. Many equal
   * pieces (ties), up to FA_DECODE_PLAN_MAX_BATCH sequences. */
  for (int trial = 0; trial < 300; ++trial) {
    static uint64_t v[FA_DECODE_PLAN_MAX_BATCH], w[FA_DECODE_PLAN_MAX_BATCH];
    static int32_t key[FA_DECODE_PLAN_MAX_BATCH];
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    const int n = trial < 4 ? (int[]){1, 128, 129, FA_DECODE_PLAN_MAX_BATCH}[trial]
                            : 1 + (int)((rng >> 33) % FA_DECODE_PLAN_MAX_BATCH);
    int size = 128;
    while (size < n) size *= 2;
    for (int b = 0; b < size; ++b) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      key[b] = (int32_t)((rng >> 33) % ((rng >> 62) ? 9 : 3000));
      v[b] = b < n ? fa_decode_order_key(key[b], b) : 0;
    }
    for (int k = 2; k <= size; k *= 2)
      for (int d = k / 2; d > 0; d /= 2) {
        for (int i = 0; i < size; ++i) {
          const uint64_t o = v[i ^ d];
          w[i] = (o > v[i]) == fa_decode_sort_keeps_larger(i, d, k) ? o : v[i];
        }
        memcpy(v, w, sizeof(uint64_t) * (size_t)size);
      }
    for (int at = 0; at < size; ++at) {
      if (at >= n) {
        if (v[at] != 0) fail_msg("sort trial %d (n %d): place %d past the batch holds a key", trial, n, at);
        continue;
      }
      const int b = (int)~(uint32_t)v[at];
      int32_t place = 0;
      for (int j = 0; j < n; ++j) place += fa_decode_runs_before(key[j], j, key[b], b);
      if (b < 0 || b >= n || place != at)
        fail_msg("sort trial %d (n %d): place %d holds sequence %d, whose place is %d", trial, n, at, b, place);
    }
  }
  /* Equal lengths keep sequence order; the piece's key tiles round up; no rows, no key. */
  assert_true(fa_decode_runs_before(64, 0, 64, 1));
  assert_false(fa_decode_runs_before(64, 1, 64, 0));
  assert_true(fa_decode_runs_before(65, 7, 64, 0));
  assert_int_equal(fa_decode_piece_tiles(2048, 1, 6), 342);
  assert_int_equal(fa_decode_piece_tiles(2048, 0, 1), 0);
}

/* Split partials are indexed by (sequence, query row): batch x Q rows, Q
 * the most query rows a sequence of the decode launch has (a pair's short
 * part: short_seqlen_q; alone: max_seqlen_q), or total_q where that is
 * fewer. Exact bytes, as fa_fwd_workspace_size reports them, and what
 * decode_plan lowers the split count against. The total_q layout of
 * before 0.4 asked for the old_rows column. */
static void test_decode_workspace_by_sequence(void **state) {
  static const struct {
    const char *what;
    int32_t hq, hk, d, batch, max_q;
    int64_t total_q; /* 0: dense */
    int32_t max_k, pair;
    int64_t rows; /* what the layout must hold */
  } cases[] = {
      {"pair: 4 decoding + an 8192-row chunk, GQA 32/8 d128", 32, 8, 128, 5, 8192, 4 + 8192, 32768, 1, 5 * 16},
      {"pair: prefill 4096 + 4095 rows, MHA 8/8 d64", 8, 8, 64, 2, 4096, 8191, 4096, 1, 2 * 64},
      {"pair: 1 decoding + 3 chunks of 1000, GQA 28/4 d80 (Q = 9)", 28, 4, 80, 4, 1000, 3001, 20000, 1, 4 * 9},
      {"pair: 2 decoding, max_seqlen_q 100 (total_q < batch x Q)", 32, 8, 128, 2, 100, 2, 32768, 1, 2},
      {"alone: spec decode 1, 2, 4 rows (total_q < batch x Q)", 32, 8, 128, 3, 4, 7, 32768, 0, 7},
      {"alone: 3 x 4 rows, q with 5 spare rows", 32, 8, 128, 3, 4, 17, 32768, 0, 3 * 4},
      {"alone: dense 2 x 4 rows", 32, 8, 128, 2, 4, 0, 32768, 0, 2 * 4},
  };
  const fa_device_info dev = h200();
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    const ws_model m = {cases[i].hq, cases[i].hk, cases[i].d, FA_DTYPE_BF16, 0, 0, 0, 0};
    const fa_fwd_args a = ws_call(&m, cases[i].batch, cases[i].max_q, cases[i].total_q, cases[i].max_k,
                                  cases[i].total_q != 0, 0, -1, 0, dev.sm_count);
    fa_choice c;
    fa_fwd_args p = decode_part(&a, &dev, &c, cases[i].what);
    if ((c.partner != SIZE_MAX) != cases[i].pair) fail_msg("%s: pair %d", cases[i].what, c.partner != SIZE_MAX);
    if (p.splits < 2) fail_msg("%s: %d split(s); the case is meant to split", cases[i].what, p.splits);
    const size_t need = fa_choice_workspace_bytes(&fa_kernel_table, c, &a, &dev);
    const size_t want =
        p.split_slots > 0
            ? (size_t)fa_decode_pieces_layout(&p, (int64_t)p.batch * p.num_heads_k * fa_decode_row_tiles(&p)).bytes
            : split_bytes(p.splits, cases[i].rows, m.hq, m.d);
    print_message("%-62s %3d splits, %5lld rows: %9zu B (total_q rows: %10zu B)\n", cases[i].what, p.splits,
                  (long long)cases[i].rows, need, split_bytes(p.splits, a.total_q, m.hq, m.d));
    if (need != want)
      fail_msg("%s: fa_fwd_workspace_size would say %zu bytes, the layout of %lld rows x %d splits is %zu",
               cases[i].what, need, (long long)cases[i].rows, p.splits, want);
    /* plan() keeps the count in exactly that many bytes, and lowers it in one byte less. */
    const int32_t wished = p.splits;
    const fa_kernel_entry *e = &fa_kernel_table.entries[c.index];
    p.splits = 0, p.workspace_bytes = want;
    e->family->plan(&p, &e->info, &dev);
    assert_int_equal(p.splits, wished);
    p.splits = 0, p.workspace_bytes = want - 1;
    e->family->plan(&p, &e->info, &dev);
    assert_true(p.splits < wished);
  }
  /* fa_demo's prefill, 2 x 4096 rows: total_q = batch x max_seqlen_q, so
   * no sequence can be short: the long family alone, no workspace. */
  {
    const ws_model m = {16, 16, 64, FA_DTYPE_BF16, 0, 0, 0, 0};
    const fa_fwd_args a = ws_call(&m, 2, 4096, 8192, 4096, 1, 0, -1, 0, dev.sm_count);
    fa_choice c = {SIZE_MAX, SIZE_MAX};
    fa_message msg;
    if (fa_choose_kernel_in(&fa_kernel_table, FA_BACKEND_CUDA, &a, FA_DTYPE_BF16, &dev, &c, &msg) != FA_OK)
      fail_msg("2 x 4096 prefill: %s", msg.text);
    assert_int_equal(c.partner, SIZE_MAX);
    assert_string_not_equal(fa_kernel_table.entries[c.index].info.family, "decode");
    assert_int_equal(fa_choice_workspace_bytes(&fa_kernel_table, c, &a, &dev), 0);
  }
  /* 128 query heads per KV head: no sequence fits the decode part of a
   * pair (64 packed rows), which then neither splits nor asks for bytes. */
  {
    const ws_model m = {128, 1, 64, FA_DTYPE_BF16, 0, 0, 0, 0};
    const fa_fwd_args a = ws_call(&m, 2, 100, 199, 32768, 1, 0, -1, 0, dev.sm_count);
    fa_choice c;
    const fa_fwd_args p = decode_part(&a, &dev, &c, "GQA 128/1 pair");
    assert_true(c.partner != SIZE_MAX);
    assert_int_equal(p.splits, 1);
    assert_int_equal(fa_choice_workspace_bytes(&fa_kernel_table, c, &a, &dev), 0);
  }
}

/* fa_fwd_workspace_size_max under bounds that hold long prompt chunks
 * next to many decoding sequences: every sampled call fits, and the bound
 * follows the decode launches' rows (batch x Q), not max_total_q: ten or a
 * thousand times the rows of q give the same bytes. */
static void test_workspace_bound_by_sequence(void **state) {
  static const ws_model models[] = {
      {32, 8, 128, FA_DTYPE_BF16, 64, 8192, 32768, 64 + 8192},
      {8, 8, 64, FA_DTYPE_BF16, 16, 4096, 4096, 8192},
      {28, 4, 80, FA_DTYPE_BF16, 48, 2048, 20000, 4096},
  };
  static const int32_t qs[] = {1, 2, 3, 4, 8, 9, 16, 17, 64, 65, 100, 512, 2048, 4096, 8192};
  static const int32_t caps[] = {0, 8};
  (void)state;
  for (size_t g = 0; g < sizeof k_gpus / sizeof k_gpus[0]; ++g)
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; ++mi)
      for (size_t ci = 0; ci < 2; ++ci) {
        const ws_model *m = &models[mi];
        fa_device_info dev = device_of(k_gpus[g].arch);
        dev.sm_count = k_gpus[g].sm_count, dev.max_smem_per_block = k_gpus[g].max_smem;
        fa_fwd_args bounds = ws_call(m, m->max_batch, m->max_q, m->max_total_q, m->max_k, 1, caps[ci], -1, -1,
                                     dev.sm_count);
        const size_t bound = fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &bounds, m->dtype, &dev);
        bounds.total_q = m->max_total_q * 10;
        const size_t bound10 = fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &bounds, m->dtype, &dev);
        bounds.total_q = m->max_total_q * 1000;
        const size_t bound1000 = fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &bounds, m->dtype, &dev);
        if (g == 0 && ci == 0)
          print_message("%s, heads %d/%d d %d, batch <= %d, q <= %d, rows <= %lld: worst case %zu B (%.1f MiB)\n",
                        k_gpus[g].name, m->hq, m->hk, m->d, m->max_batch, m->max_q, (long long)m->max_total_q, bound,
                        bound / 1048576.0);
        if (bound10 != bound || bound1000 != bound)
          fail_msg("%s, model %zu: the worst case grows with max_total_q: %zu, %zu, %zu bytes", k_gpus[g].name, mi,
                   bound, bound10, bound1000);
        ws_tally t;
        memset(&t, 0, sizeof t);
        for (int32_t b = 1; b <= m->max_batch; ++b)
          for (size_t qi = 0; qi < sizeof qs / sizeof qs[0] && qs[qi] <= m->max_q; ++qi) {
            const int32_t sq = qs[qi];
            /* b - 1 decoding sequences and one of sq rows; sq rows each; the bound. */
            int64_t totals[3] = {b - 1 + (int64_t)sq, (int64_t)b * sq, m->max_total_q};
            for (int k = 0; k < 3; ++k) {
              if (totals[k] > m->max_total_q) totals[k] = m->max_total_q;
              if (totals[k] < sq) continue; /* no room for the longest sequence */
              const int32_t sks[] = {m->max_k, 5000 < m->max_k ? 5000 : m->max_k, 600};
              for (int s = 0; s < 3; ++s) {
                const fa_fwd_args a =
                    ws_call(m, b, sq, totals[k], sks[s], 1, caps[ci] ? caps[ci] : 3 * (s == 1), -1, 0, dev.sm_count);
                ws_check_call(&a, m->dtype, &dev, bound, k_gpus[g].name, &t);
              }
            }
          }
        if (t.pair_split_calls == 0 && g == 0) /* the H200: pairs split there */
          fail_msg("%s, model %zu: no pair split; the sample misses what it is for", k_gpus[g].name, mi);
      }
}

/* ------------------------------------------------------------ struct growth */

/* Version 1 of a made-up struct had {size, a}; version 2 appended b. */
typedef struct grow_v1 {
  uint32_t struct_size;
  int32_t a;
} grow_v1;
typedef struct grow_v2 {
  uint32_t struct_size;
  int32_t a;
  int64_t b;
} grow_v2;

static void test_struct_growth(void **state) {
  static const uint32_t known[] = {sizeof(grow_v1), sizeof(grow_v2)};
  grow_v1 old = {sizeof(grow_v1), 7};
  grow_v2 cur = {sizeof(grow_v2), 8, 9}, local;
  unsigned char future[32];
  fa_message msg;
  (void)state;
  /* An older caller: its fields are read, the appended one keeps its default. */
  local.struct_size = 0, local.a = 0, local.b = -1;
  assert_int_equal(fa_read_struct(&old, &local, known, 2, "params", &msg), FA_OK);
  assert_int_equal(local.a, 7);
  assert_int_equal(local.b, -1);
  assert_int_equal(local.struct_size, sizeof(grow_v1));
  assert_int_equal(fa_read_struct(&cur, &local, known, 2, "params", &msg), FA_OK);
  assert_int_equal(local.b, 9);
  /* Zero, unknown and future sizes: FA_ERR_STRUCT_SIZE with a reason. */
  cur.struct_size = 0;
  assert_int_equal(fa_read_struct(&cur, &local, known, 2, "params", &msg), FA_ERR_STRUCT_SIZE);
  assert_non_null(strstr(msg.text, "struct_size is 0"));
  cur.struct_size = 12;
  assert_int_equal(fa_read_struct(&cur, &local, known, 2, "params", &msg), FA_ERR_STRUCT_SIZE);
  assert_non_null(strstr(msg.text, "not the size of any released layout"));
  memset(future, 0, sizeof future);
  future[0] = 32;
  assert_int_equal(fa_read_struct(future, &local, known, 2, "params", &msg), FA_ERR_STRUCT_SIZE);
  assert_non_null(strstr(msg.text, "newer flashattn.h"));
  assert_int_equal(fa_read_struct(NULL, &local, known, 2, "params", &msg), FA_ERR_NULL_POINTER);
}

/* ------------------------------------------------------------ the generated table */

static void test_generated_table(void **state) {
  const size_t n = fa_kernel_count();
  size_t i;
  (void)state;
  assert_true(n == fa_kernel_table.size && n > 0);
  for (i = 0; i < n; ++i) {
    const fa_kernel_entry *e = &fa_kernel_table.entries[i];
    char want[160];
    assert_non_null(e->family);
    assert_non_null(e->launch);
    assert_string_equal(e->family->name, e->info.family);
    if (e->info.backend == FA_BACKEND_CPU)
      snprintf(want, sizeof want, "fwd_%s_hdim%d_%s_%s", e->info.family, e->info.head_dim,
               fa_dtype_name(e->info.dtype), fa_mask_name(e->info.mask));
    else
      snprintf(want, sizeof want, "fwd_%s_sm%s_hdim%d_%s_%s", e->info.family, e->info.arch_name + 3,
               e->info.head_dim, fa_dtype_name(e->info.dtype), fa_mask_name(e->info.mask));
    if (e->min_seqlen_k > 0) /* a long-key specialization: _k<min_seqlen_k>, and it says so */
      snprintf(want + strlen(want), sizeof want - strlen(want), "_k%d", (int)e->min_seqlen_k);
    if (e->min_seqlen_k > 0 && strstr(e->info.description, "max_seqlen_k >=") == NULL)
      fail_msg("table entry %s: the description does not say its min_seqlen_k", e->info.name);
    if (strcmp(want, e->info.name) != 0)
      fail_msg("table entry %zu is named %s; its fields say %s", i, e->info.name, want);
    if (strcmp(e->info.family, "mma") == 0)
      assert_int_equal(e->info.priority, 10);
    if (strcmp(e->info.family, "cpu") == 0)
      assert_int_equal(e->info.priority, 0);
    if (strcmp(e->info.family, "wgmma") == 0) /* wgmma and setmaxnreg: sm_90a machine code only */
      assert_string_equal(e->info.arch_name, "sm_90a");
  }
}

/* The wgmma family's supports() (fwd_wgmma_family.c) on the generated
 * table's entry, for a made-up sm_90 device: it takes a dense bf16 d128
 * causal prefill when the tensor-map encoder is there, and declines with
 * FA_ERR_UNSUPPORTED (dispatch then asks mma) without the encoder, with a
 * paged cache, with a stride TMA cannot hold. */
static void test_wgmma_supports(void **state) {
  static const int32_t table[4] = {0, 1, 2, 3};
  const fa_kernel_entry *e = NULL;
  fa_device_info dev;
  fa_fwd_args a;
  fa_message why;
  size_t i;
  (void)state;
  for (i = 0; i < fa_kernel_table.size; ++i)
    if (strcmp(fa_kernel_table.entries[i].info.name, "fwd_wgmma_sm90a_hdim128_bf16_causal") == 0)
      e = &fa_kernel_table.entries[i];
  if (e == NULL) {
    print_message("skipped: this build has no fwd_wgmma_sm90a_hdim128_bf16_causal\n");
    skip();
  }
  dev = sm90_with_encoder();
  memset(&a, 0, sizeof a);
  a.batch = 2, a.num_heads_q = a.num_heads_k = 8, a.head_dim = 128, a.heads_per_kv = 1;
  a.seqlen_q = a.seqlen_k = a.kv_capacity = 1000;
  a.window_left = -1, a.window_right = 0;
  a.q_head_stride = a.k_head_stride = a.v_head_stride = a.out_head_stride = 128;
  a.q_row_stride = a.k_row_stride = a.v_row_stride = a.out_row_stride = 8 * 128;
  a.q_batch_stride = a.k_batch_stride = a.v_batch_stride = a.out_batch_stride = 1000 * 8 * 128;
  a.tensor_map_encode = dev.tensor_map_encode;
  assert_int_equal(e->family->supports(&a, &e->info, &dev, &why), FA_OK);
  a.tensor_map_encode = NULL;
  assert_int_equal(e->family->supports(&a, &e->info, &dev, &why), FA_ERR_UNSUPPORTED);
  assert_non_null(strstr(why.text, "cuTensorMapEncodeTiled"));
  a.tensor_map_encode = dev.tensor_map_encode;
  a.k_batch_stride = INT64_C(1) << 39; /* 2^40 bytes */
  assert_int_equal(e->family->supports(&a, &e->info, &dev, &why), FA_ERR_UNSUPPORTED);
  assert_non_null(strstr(why.text, "k_batch_stride"));
  a.k_batch_stride = a.q_batch_stride;
  /* Paged: pages TMA boxes can tile (multiples of 8 that are multiples or
   * divisors of the 128-key tile); the others go to mma, with the reason. */
  a.block_table = table, a.max_pages_per_seq = 4, a.num_pages = 4;
  static const int32_t tiled[] = {8, 16, 64, 128, 256, 1024}, untiled[] = {1, 7, 17, 24, 100, 192};
  for (size_t t = 0; t < sizeof tiled / sizeof tiled[0]; ++t) {
    a.page_size = tiled[t];
    if (e->family->supports(&a, &e->info, &dev, &why) != FA_OK) fail_msg("page_size %d: %s", tiled[t], why.text);
  }
  for (size_t t = 0; t < sizeof untiled / sizeof untiled[0]; ++t) {
    a.page_size = untiled[t];
    assert_int_equal(e->family->supports(&a, &e->info, &dev, &why), FA_ERR_UNSUPPORTED);
    assert_non_null(strstr(why.text, "page_size"));
  }
  a.block_table = NULL, a.page_size = 0;
  a.cu_seqlens_q = table, a.cu_seqlens_k = table, a.total_q = a.total_k = INT64_C(1) << 31; /* varlen rows */
  assert_int_equal(e->family->supports(&a, &e->info, &dev, &why), FA_ERR_UNSUPPORTED);
  assert_non_null(strstr(why.text, "2^31"));
}

/* The public query on the CPU backend picks the CPU family's exact-mask
 * kernel; the choice is the same through a CPU context. */
static void test_query_cpu(void **state) {
  static const struct {
    int32_t wl, wr;
    const char *name;
  } cases[] = {{-1, -1, "fwd_cpu_hdim64_bf16_none"},
               {-1, 0, "fwd_cpu_hdim64_bf16_causal"},
               {16, 0, "fwd_cpu_hdim64_bf16_local"}};
  _Alignas(16) uint16_t q[8 * 64], k[8 * 64], v[8 * 64], out[8 * 64];
  fa_context ctx;
  fa_message msg;
  size_t c;
  (void)state;
  assert_int_equal(fa_context_init(&ctx, FA_BACKEND_CPU, 0, &msg), FA_OK);
  for (c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    fa_fwd_params p = fa_fwd_params_default();
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    size_t index = SIZE_MAX;
    int with_ctx;
    p.backend = FA_BACKEND_CPU;
    p.batch = 1, p.num_heads_q = p.num_heads_k = 1, p.head_dim = 64;
    p.max_seqlen_q = p.max_seqlen_k = 8;
    p.q = q, p.k = k, p.v = v, p.out = out;
    p.window_left = cases[c].wl, p.window_right = cases[c].wr;
    for (with_ctx = 0; with_ctx < 2; ++with_ctx) {
      p.context = with_ctx ? &ctx : NULL;
      assert_int_equal(fa_fwd_query(&p, &index, &msg), FA_OK);
      assert_int_equal(fa_kernel_info_get(index, &info), FA_OK);
      assert_string_equal(info.name, cases[c].name);
      assert_string_equal(info.family, "cpu");
    }
  }
}

int main(int argc, char **argv) {
  const char *filter = argc > 1 ? argv[1] : NULL;
  const struct CMUnitTest all[] = {
      cmocka_unit_test(test_priority_order),
      cmocka_unit_test(test_exact_mask_before_local),
      cmocka_unit_test(test_family_declines_with_reason),
      cmocka_unit_test(test_long_key_specialization),
      cmocka_unit_test(test_family_missing_for_arch),
      cmocka_unit_test(test_missing_head_dim_and_dtype),
      cmocka_unit_test(test_forced_kernel),
      cmocka_unit_test(test_workspace_check),
      cmocka_unit_test(test_pairs),
      cmocka_unit_test(test_tile_order),
      cmocka_unit_test(test_tile_order_varlen),
      cmocka_unit_test(test_tile_grid),
      cmocka_unit_test(test_tile_split),
      cmocka_unit_test(test_pair_parts_and_workspace),
      cmocka_unit_test(test_workspace_bound),
      cmocka_unit_test(test_workspace_bound_exact),
      cmocka_unit_test(test_workspace_bound_edges),
      cmocka_unit_test(test_wgmma_split_workspace),
      cmocka_unit_test(test_decode_workspace_by_sequence),
      cmocka_unit_test(test_decode_pair_short_by_length),
      cmocka_unit_test(test_decode_split_by_length),
      cmocka_unit_test(test_decode_dense_cache_uniform),
      cmocka_unit_test(test_decode_plan_two_an_sm),
      cmocka_unit_test(test_wgmma_gqa_packing),
      cmocka_unit_test(test_mask_accumulator_prefix),
      cmocka_unit_test(test_mask_visible_end_monotone),
      cmocka_unit_test(test_decode_splits_fill_one_wave),
      cmocka_unit_test(test_decode_splits_fill_by_copies),
      cmocka_unit_test(test_workspace_bound_by_sequence),
      cmocka_unit_test(test_struct_growth),
      cmocka_unit_test(test_generated_table),
      cmocka_unit_test(test_wgmma_supports),
      cmocka_unit_test(test_generated_long_key_kernels),
      cmocka_unit_test(test_query_cpu),
  };
  struct CMUnitTest run[sizeof all / sizeof all[0]];
  size_t n = 0, i;
  for (i = 0; i < sizeof all / sizeof all[0]; ++i)
    if (filter == NULL || strstr(all[i].name, filter) != NULL)
      run[n++] = all[i];
  return _cmocka_run_group_tests("dispatch", run, n, NULL, NULL);
}
