/*
 * workspace_sizes.c - the split-KV workspace that fa_fwd_workspace_size and
 * fa_fwd_workspace_size_max report for a few calls and bounds, on a
 * simulated H200 (sm_90, 132 SMs, 227 KiB of shared memory per block), no
 * GPU needed: the families decide from these facts alone. It uses the
 * internal dispatch (src/dispatch.h) on the generated table, so the same
 * source measures any commit that has fa_workspace_bound_in (0.4), e.g.
 * before and after the decode family's partials by (sequence, query row)
 * (src/cuda/fwd_decode.md, "Split-KV"):
 *
 *   ninja build/libflashattn.a
 *   cc -std=c11 -Iinclude -Isrc -I/usr/local/cuda/include bench/workspace_sizes.c build/libflashattn.a \
 *      -L/usr/local/cuda/lib64 -lcudart_static -lpthread -ldl -lrt -lm -o build/workspace_sizes
 *   build/workspace_sizes
 */
#include <stdio.h>
#include <string.h>

#include "dispatch.h"

/* A varlen call (or bounds) as api.c normalizes it, causal. */
static fa_fwd_args call(int hq, int hk, int d, int batch, int max_q, long long total_q, int max_k) {
  static const int32_t cu_dummy[1] = {0}; /* dispatch only asks whether it is set */
  fa_fwd_args a;
  memset(&a, 0, sizeof a);
  a.batch = batch, a.num_heads_q = hq, a.num_heads_k = hk, a.head_dim = d, a.heads_per_kv = hq / hk;
  a.seqlen_q = max_q, a.seqlen_k = max_k, a.total_q = total_q, a.cu_seqlens_q = cu_dummy;
  a.window_left = -1, a.window_right = 0, a.sm_count = 132;
  return a;
}

static fa_device_info h200(void) {
  fa_device_info dev;
  memset(&dev, 0, sizeof dev);
  dev.arch = 90, dev.sm_count = 132, dev.max_smem_per_block = 232448;
  return dev;
}

/* fa_fwd_workspace_size of one call. */
static void size_of_call(const char *what, fa_fwd_args a) {
  const fa_device_info dev = h200();
  fa_choice c;
  fa_message msg;
  if (fa_choose_kernel_in(&fa_kernel_table, FA_BACKEND_CUDA, &a, FA_DTYPE_BF16, &dev, &c, &msg) != FA_OK) {
    printf("%s: %s\n", what, msg.text);
    return;
  }
  const size_t bytes = fa_choice_workspace_bytes(&fa_kernel_table, c, &a, &dev);
  printf("call   %-74s %12zu B %8.1f MiB  (%s%s)\n", what, bytes, bytes / 1048576.0,
         fa_kernel_table.entries[c.index].info.name, c.partner != SIZE_MAX ? " + partner" : "");
}

/* fa_fwd_workspace_size_max of bounds (any num_splits). */
static void size_of_bounds(const char *what, fa_fwd_args b) {
  const fa_device_info dev = h200();
  b.cu_seqlens_q = NULL;
  const size_t bytes = fa_workspace_bound_in(&fa_kernel_table, FA_BACKEND_CUDA, &b, FA_DTYPE_BF16, &dev);
  printf("bound  %-74s %12zu B %8.1f MiB\n", what, bytes, bytes / 1048576.0);
}

int main(void) {
  size_of_call("prefill pair 4096 + 4095 rows, MHA 16/16 d64", call(16, 16, 64, 2, 4096, 8191, 4096));
  size_of_call("4 decoding + an 8192-row chunk, GQA 32/8 d128, keys <= 32768", call(32, 8, 128, 5, 8192, 8196, 32768));
  size_of_call("64 decoding + an 8192-row chunk, GQA 32/8 d128, keys <= 32768 (fills the GPU)",
               call(32, 8, 128, 65, 8192, 8256, 32768));
  size_of_bounds("continuous_batching on a GPU: GQA 32/8 d128, batch 64, rows 1600, q 512, k 2303",
                 call(32, 8, 128, 64, 512, 1600, 2303));
  size_of_bounds("GQA 32/8 d128, batch 64, rows 8256, q 8192, k 32768", call(32, 8, 128, 64, 8192, 8256, 32768));
  return 0;
}
