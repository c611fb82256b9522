/*
 * fwd_decode_family.c - host descriptor of the decode family
 * (fwd_decode.cuh): which calls it takes, how many splits it uses, and the
 * workspace they need. Plain C; every decision uses host values only (no
 * device read, no sync), so one workspace size and one split count serve
 * every replay of a captured CUDA graph whose host values stay the same.
 */
#include <stdint.h>

#include "cuda/fwd_decode_plan.h"
#include "dispatch.h"

/* Packed query rows (query rows x heads per KV head) this family is made
 * for: longer sequences are the mma family's (its 128-row tiles use the
 * tensor cores better); a call holding both runs as a pair (dispatch.h). */
#define DECODE_SHORT_ROWS 64
/* A split gives each warp at least this many 16-key steps. */
#define DECODE_MIN_STEPS_PER_WARP 4
/* Take the smallest split count whose wave efficiency is within this
 * fraction of the best. */
#define DECODE_WAVE_EFFICIENCY 0.9

/* Row tiles per (sequence, KV head): only the short sequences' when the
 * call is split with a partner. */
static int64_t m_tiles(const fa_fwd_args *a) { return fa_decode_row_tiles(a); }

/* Blocks resident per SM: shared memory is the limit (threads allow 16). */
static int64_t blocks_per_sm(const fa_kernel_info *k, const fa_device_info *dev) {
  const int64_t per_sm = ((int64_t)dev->max_smem_per_block + 1024) / ((int64_t)k->smem_bytes + 1024);
  const int64_t by_threads = 2048 / (k->threads > 0 ? k->threads : 128);
  return per_sm < 1 ? 1 : (per_sm < by_threads ? per_sm : by_threads);
}

/*
 * Splits per sequence for `units` blocks without splitting (sequences x KV
 * heads x row tiles) and a longest sequence of `seqlen_k` keys: 1 when the
 * blocks without splitting already fill the GPU (or the caller asked for
 * 1); otherwise the count that fills one wave (slots / units) when that
 * wave is at least DECODE_WAVE_EFFICIENCY full, else the smallest count
 * whose waves are within DECODE_WAVE_EFFICIENCY of the best; always among
 * counts that leave every warp DECODE_MIN_STEPS_PER_WARP steps of the
 * longest sequence and do not exceed the caller's cap (num_splits > 1) or
 * FA_MAX_SPLITS. One full wave: b1 x 128k keys at GQA 32/8 d128 on an
 * H200 takes 33 splits (264 blocks on 264 slots) instead of the smallest
 * count within 90%, 30 (240 blocks): 1.02x faster (eighth session; the
 * blocks of a one-wave grid stream at different rates, and the idle
 * slots were bandwidth left unused).
 *
 * For fixed units the count does not decrease as seqlen_k or the cap grow
 * (a longer range of counts only raises the best efficiency, so the first
 * count within DECODE_WAVE_EFFICIENCY of it comes no earlier; below the
 * one-wave count every answer is below it, from it on the answer is it); it is not
 * monotone in units. decode_max_workspace_bytes relies on both.
 */
static int32_t splits_for_units(int64_t units, int32_t seqlen_k, int32_t num_splits, const fa_kernel_info *k,
                                const fa_device_info *dev) {
  if (num_splits == 1 || dev->sm_count <= 0) return 1;
  const int64_t slots = (int64_t)dev->sm_count * blocks_per_sm(k, dev);
  const int64_t key_tiles = ((int64_t)seqlen_k + FA_DECODE_STEP - 1) / FA_DECODE_STEP;
  int64_t limit = key_tiles / (FA_DECODE_WARPS * DECODE_MIN_STEPS_PER_WARP);
  const int64_t cap = num_splits > 1 ? num_splits : FA_MAX_SPLITS;
  if (limit > cap) limit = cap;
  if (units == 0 || limit <= 1 || units * 10 >= slots * 8) return 1;
  const int64_t one_wave = slots / units;
  if (one_wave <= limit && (double)(one_wave * units) >= DECODE_WAVE_EFFICIENCY * (double)slots)
    return (int32_t)one_wave;
  double eff[FA_MAX_SPLITS + 1], best = 0.0;
  for (int64_t s = 1; s <= limit; ++s) {
    const double waves = (double)(units * s) / (double)slots;
    const double full = (double)((units * s + slots - 1) / slots);
    eff[s] = waves / full;
    if (eff[s] > best) best = eff[s];
  }
  for (int64_t s = 1; s <= limit; ++s)
    if (eff[s] >= DECODE_WAVE_EFFICIENCY * best) return (int32_t)s;
  return 1;
}

static int32_t decode_splits(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  /* No query row can be computed (a pair's short part when heads_per_kv >
   * short_rows): nothing to split. */
  if (fa_decode_seq_rows(a) == 0) return 1;
  const int64_t units = (int64_t)a->batch * a->num_heads_k * m_tiles(a);
  return splits_for_units(units, a->seqlen_k, a->num_splits, k, dev);
}

static fa_status decode_supports(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev,
                                 fa_message *why) {
  const double blocks = (double)m_tiles(a) * a->num_heads_k * a->batch * decode_splits(a, k, dev);  // the most
  if (blocks > (double)INT32_MAX)
    return fa_fail(why, FA_ERR_OVERFLOW,
                   "the launch would need %.0f thread blocks (batch x num_heads_k x row tiles x splits; limit "
                   "2^31 - 1): split the batch",
                   blocks);
  if (dev->max_smem_per_block > 0 && k->smem_bytes > (size_t)dev->max_smem_per_block)
    return fa_fail(why, FA_ERR_UNSUPPORTED_DEVICE, "%s needs %zu bytes of shared memory per block; this device allows %d",
                   k->name, k->smem_bytes, dev->max_smem_per_block);
  return FA_OK;
}

/* Before plan() (a->splits == 0): what the heuristic wants, which
 * fa_fwd_workspace_size reports. After it: what the planned splits need. */
static size_t decode_workspace_bytes(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  return (size_t)fa_decode_workspace_layout(a, a->splits > 0 ? a->splits : decode_splits(a, k, dev)).bytes;
}

/* The split count: the heuristic's, except that with num_splits = 0 it is
 * lowered to what the caller's workspace holds (down to 1, which needs
 * none): a caller that never asked for a workspace still gets an answer,
 * and one that allocated fa_fwd_workspace_size bytes gets the fast path.
 * An explicit num_splits > 1 is not lowered: too small a workspace is then
 * FA_ERR_WORKSPACE. */
static void decode_plan(fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  int32_t s = decode_splits(a, k, dev);
  if (a->num_splits == 0) {
    const int64_t have = a->workspace != NULL ? (int64_t)a->workspace_bytes : 0;
    while (s > 1 && fa_decode_workspace_layout(a, s).bytes > have) --s;
  }
  a->splits = s;
}

/*
 * fa_fwd_workspace_size_max: the workspace is fa_decode_workspace_layout
 * of (batch, Q, total_q, splits), which grows with each. splits is the
 * heuristic's for units = batch x num_heads_k x row tiles, at most what
 * the longest cache and the cap allow (both taken at their bounds: see
 * splits_for_units); it is not monotone in units, so take the most bytes
 * over every batch b up to the bound and every row-tile count t up to what
 * max_seqlen_q x heads_per_kv needs (a pair's short part uses fewer, never
 * more). A launch of t row tiles computes at most 16 t / heads_per_kv
 * query rows per sequence (Q, alone or as a pair's short part), so (b, t)
 * needs at most the layout of b sequences of that many rows, within the
 * bound on total_q. Units that already fill the GPU give 1 split (no
 * workspace) and end the scan. A kernel whose shared memory the device
 * cannot give (decode_supports declines every call) needs nothing.
 */
static size_t decode_max_workspace_bytes(const fa_fwd_args *bounds, const fa_kernel_info *k,
                                         const fa_device_info *dev) {
  if (dev->max_smem_per_block > 0 && k->smem_bytes > (size_t)dev->max_smem_per_block) return 0; /* never runs here */
  const int64_t hpk = bounds->heads_per_kv > 0 ? bounds->heads_per_kv : 1;
  const int64_t max_tiles = ((int64_t)bounds->seqlen_q * hpk + FA_DECODE_ROWS - 1) / FA_DECODE_ROWS;
  const int64_t slots = dev->sm_count > 0 ? (int64_t)dev->sm_count * blocks_per_sm(k, dev) : 0;
  int64_t most = 0;
  for (int64_t b = 1; b <= bounds->batch; ++b) {
    int64_t t = 1;
    for (; t <= max_tiles; ++t) {
      const int64_t units = b * bounds->num_heads_k * t;
      if (units * 10 >= slots * 8) break; /* fills the GPU (1 split), and so do more tiles */
      const int32_t s = splits_for_units(units, bounds->seqlen_k, bounds->num_splits, k, dev);
      int64_t q = t * FA_DECODE_ROWS / hpk;
      if (q > bounds->seqlen_q) q = bounds->seqlen_q;
      const int64_t bytes =
          fa_decode_workspace_shape(b, q, bounds->total_q, bounds->num_heads_q, bounds->head_dim, s).bytes;
      if (bytes > most) most = bytes;
    }
    if (t == 1) break; /* one tile of this batch fills the GPU: so does every larger batch */
  }
  return (size_t)most;
}

const fa_family fa_family_decode = {"decode",          decode_supports,   decode_workspace_bytes,
                                    decode_plan,       DECODE_SHORT_ROWS, decode_max_workspace_bytes};
