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
/* The longest cache from which a launch whose blocks already fill the GPU
 * still splits by length (decode_split_plan): one unsplit sequence of this
 * many keys, streaming alone at one block's rate (~40 GB/s), takes longer
 * than the rest of such a batch at the GPU's rate. */
#define DECODE_LENGTH_SPLIT_KEYS 16384
/* Take the smallest split count whose wave efficiency is within this
 * fraction of the best. */
#define DECODE_WAVE_EFFICIENCY 0.9
/* Blocks without splitting fill the GPU from this share of its block
 * slots, in percent (fill_percent; measured on an H200, fwd_decode.md
 * "Split-KV"): on the row copies 80 (page 1 ran 24% slower unsplit at
 * 65%); on the tile copies 60, except where the kernel fits 2 blocks an SM
 * or more (d64-d128) and the longest cache has at most
 * DECODE_MID_CACHE_KEYS keys: there the blocks must reach
 * DECODE_FILL_SM_SHARE percent of the SMs, whatever an SM holds (forty-
 * fourth session, the keys-as-M step, forced unsplit against the split:
 * d128 at 0.73 blocks an SM 3-4.5% faster unsplit with 12000-16000 keys
 * and the same up to 8192, at 0.61 the same with 4096 and 5-9% slower
 * with 8192-16000; d64 at 0.85 an SM 8% / 2.6% faster with 4096 / 8192
 * keys and 1% slower with 16000, at 1.09 8% faster with 16000, at 0.61
 * 5-13% slower; d256, 1 block an SM, 14-16% slower unsplit at 48% of its
 * slots, 5-7% faster at 61-73%). */
#define DECODE_FILL_TILE_COPIES 60
#define DECODE_FILL_SM_SHARE 70
#define DECODE_FILL_ROW_COPIES 80
#define DECODE_MID_CACHE_KEYS 16384

/* Row tiles per (sequence, KV head): only the short sequences' when the
 * call is split with a partner. */
static int64_t m_tiles(const fa_fwd_args *a) { return fa_decode_row_tiles(a); }

/* Blocks resident per SM: shared memory is the limit (threads allow 16). */
static int64_t blocks_per_sm(const fa_kernel_info *k, const fa_device_info *dev) {
  const int64_t per_sm = ((int64_t)dev->max_smem_per_block + 1024) / ((int64_t)k->smem_bytes + 1024);
  const int64_t by_threads = 2048 / (k->threads > 0 ? k->threads : 128);
  return per_sm < 1 ? 1 : (per_sm < by_threads ? per_sm : by_threads);
}

/* The share of the block slots from which blocks without splitting fill
 * the GPU: by how the kernel streams K/V (tile copies: fwd_decode.cuh
 * encode_decode_tile_maps, sm_90, head dims that are multiples of 64, a
 * contiguous cache or pages of whole 16-key tiles; the maps' other limits
 * are not checked here), the blocks an SM and the longest cache (past
 * DECODE_MID_CACHE_KEYS 60% of the slots, set before the keys-as-M step
 * and not re-measured since). */
static int64_t fill_percent(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  const int tiles =
      k->arch >= 90 && k->head_dim % 64 == 0 && (a->block_table == NULL || a->page_size % FA_DECODE_STEP == 0);
  if (!tiles) return DECODE_FILL_ROW_COPIES;
  const int64_t per_sm = blocks_per_sm(k, dev);
  if (per_sm < 2 || a->seqlen_k > DECODE_MID_CACHE_KEYS) return DECODE_FILL_TILE_COPIES;
  return DECODE_FILL_SM_SHARE / per_sm;
}

/*
 * Splits per sequence for `units` blocks without splitting (sequences x KV
 * heads x row tiles) and a longest sequence of `seqlen_k` keys: 1 when the
 * blocks without splitting already fill the GPU (`fill` percent of its
 * slots; or the caller asked for 1); otherwise the count that fills one
 * wave (slots / units) when that wave is at least DECODE_WAVE_EFFICIENCY full, else the smallest count
 * whose waves are within DECODE_WAVE_EFFICIENCY of the best; always among
 * counts that leave every warp FA_DECODE_MIN_STEPS_PER_WARP steps of the
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
static int32_t splits_for_units(int64_t units, int32_t seqlen_k, int32_t num_splits, int64_t fill,
                                const fa_kernel_info *k, const fa_device_info *dev) {
  if (num_splits == 1 || dev->sm_count <= 0) return 1;
  const int64_t slots = (int64_t)dev->sm_count * blocks_per_sm(k, dev);
  const int64_t key_tiles = ((int64_t)seqlen_k + FA_DECODE_STEP - 1) / FA_DECODE_STEP;
  int64_t limit = key_tiles / FA_DECODE_MIN_SPLIT_TILES;
  const int64_t cap = num_splits > 1 ? num_splits : FA_MAX_SPLITS;
  if (limit > cap) limit = cap;
  if (units == 0 || limit <= 1 || units * 100 >= slots * fill) return 1;
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

/*
 * The split plan of a launch: `splits`, every sequence's count (uniform),
 * or with `slots` > 0 the most any sequence takes when each takes its own
 * on the device (fwd_decode_plan.h "Splits by length"). By length where
 * the longest cache reaches DECODE_LENGTH_SPLIT_KEYS and the batch has 2
 * sequences or more: where the launch's units already fill the GPU (the
 * host's count is 1), one unsplit sequence that long among short ones
 * streams on alone after the rest (60 caches of 512 keys and 4 of 32k
 * took 0.51 ms unsplit, 0.19 ms by length on an H200); where the host
 * splits, its one count for all cuts the short ones as finely as the long
 * one (1 cache of 128k and 7 of 1k: 0.42 ms, 0.15 by length). One
 * sequence's uniform split is already by its length. Also at any length
 * for a pair's short part (`pair_short`) of at most
 * FA_DECODE_WARP_PLAN_MAX_BATCH sequences: the host counts its units as
 * every sequence of the call times the short rows' tiles, while only the
 * short sequences' own rows run (4 decoding sequences of 1 query and a
 * chunk, GQA 32/8: 160 units counted, 32 busy, and the host would not
 * split); the device plan counts the real ones. Not beyond the warp's
 * plan there (the block's plan costs every block 2-3 us, where a batch of
 * that many mostly short sequences fills the GPU anyway). Not with
 * num_splits = 1 (results independent of the batch), nor beyond
 * FA_DECODE_PLAN_MAX_BATCH sequences, nor where every cache is known to
 * hold seqlen_k keys (`caches_equal`: a dense cache without seqused_k). The
 * most one sequence can take:
 * round(slots / its KV heads) (its own units are part of the total), its
 * key tiles over FA_DECODE_MIN_SPLIT_TILES, and the caller's cap, and
 * never fewer than the host's count.
 */
typedef struct decode_split_plan {
  int32_t splits, slots;
} decode_split_plan;

/* The share of `slots` that equal caches' pieces fill: units x
 * floor(slots / units) pieces (fa_decode_length_splits), at least one a
 * unit, over the waves they take. */
static double equal_pieces_fill(int64_t units, int64_t slots) {
  const int64_t each = slots / units > 0 ? slots / units : 1, pieces = units * each;
  return (double)pieces / (double)(((pieces + slots - 1) / slots) * slots);
}

/* Block slots an SM for a plan by length: what shared memory allows (3 at
 * d64), or 2 where the units fit one wave of 2 an SM and equal caches
 * would fill that wave better. With more slots than the pieces fill, the
 * grid's empty blocks take slots too, the dispatcher gives every SM 3
 * blocks, and which of them hold pieces is chance (its place carries over
 * between launches): d64 32 x 16384 (256 pieces on 396 slots) ran 23 SMs
 * with three pieces and 31 with one, 5% slower than the same pieces
 * without a plan (eighty-third session, fwd_decode.md "Equal caches").
 * On 264 slots the same pieces leave 8 spare, as at d128. */
static int64_t plan_blocks_per_sm(int64_t units, const fa_kernel_info *k, const fa_device_info *dev) {
  const int64_t per_sm = blocks_per_sm(k, dev), two = 2 * (int64_t)dev->sm_count;
  if (per_sm <= 2 || units <= 0 || units > two) return per_sm;
  return equal_pieces_fill(units, two) > equal_pieces_fill(units, per_sm * (int64_t)dev->sm_count) ? 2 : per_sm;
}

static decode_split_plan split_plan_for(int64_t batch, int64_t units, int32_t seqlen_k, int32_t num_splits,
                                        int32_t heads_k, int pair_short, int caches_equal, int64_t fill,
                                        const fa_kernel_info *k, const fa_device_info *dev) {
  decode_split_plan p = {splits_for_units(units, seqlen_k, num_splits, fill, k, dev), 0};
  const int by_length = !caches_equal && (seqlen_k >= DECODE_LENGTH_SPLIT_KEYS ||
                                          (pair_short && batch <= FA_DECODE_WARP_PLAN_MAX_BATCH));
  if (num_splits == 1 || batch < 2 || !by_length || dev->sm_count <= 0 || heads_k <= 0 ||
      batch > FA_DECODE_PLAN_MAX_BATCH)
    return p;
  const int64_t slots = (int64_t)dev->sm_count * plan_blocks_per_sm(units, k, dev);
  int64_t cap = num_splits > 1 ? num_splits : FA_MAX_SPLITS;
  const int64_t by_keys = ((int64_t)seqlen_k + FA_DECODE_STEP - 1) / FA_DECODE_STEP / FA_DECODE_MIN_SPLIT_TILES;
  const int64_t by_slots = (2 * slots + heads_k) / (2 * heads_k);
  if (cap > by_keys) cap = by_keys;
  if (cap > by_slots) cap = by_slots;
  if (cap <= 1) return p;
  p.splits = (int32_t)(cap > p.splits ? cap : p.splits);
  p.slots = (int32_t)slots;
  return p;
}

static int64_t launch_units(const fa_fwd_args *a) { return (int64_t)a->batch * a->num_heads_k * m_tiles(a); }

/* A dense cache without seqused_k: every sequence has seqlen_k keys, which
 * the host knows, so the uniform split is already the split by length and
 * the device plan would only add its cost (b32 x 16k, same pieces: the
 * warp's plan 0.990 of cuDNN, none 0.998, eighty-second session). */
static int caches_known_equal(const fa_fwd_args *a) {
  return a->cu_seqlens_k == NULL && a->seqused_k == NULL && a->block_table == NULL;
}

static decode_split_plan decode_split_plan_of(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  /* No query row can be computed (a pair's short part when heads_per_kv >
   * short_rows): nothing to split. */
  if (fa_decode_seq_rows(a) == 0) return (decode_split_plan){1, 0};
  return split_plan_for(a->batch, launch_units(a), a->seqlen_k, a->num_splits, a->num_heads_k,
                        a->seq_filter == FA_SEQ_SHORT, caches_known_equal(a), fill_percent(a, k, dev), k, dev);
}

/* Workspace of a plan: the pieces' (by length) or the splits' layout. */
static int64_t plan_bytes(const fa_fwd_args *a, decode_split_plan p) {
  if (p.slots > 0)
    return fa_decode_pieces_shape(launch_units(a), p.slots, fa_decode_seq_rows(a), a->heads_per_kv, a->head_dim).bytes;
  return fa_decode_workspace_layout(a, p.splits).bytes;
}

/* Blocks of a launch: units x splits, or by length one per piece, at most
 * units + slots (fwd_decode_plan.h). */
static double decode_blocks(const fa_fwd_args *a, decode_split_plan p) {
  const double units = (double)launch_units(a);
  return p.slots > 0 ? units + p.slots : units * p.splits;
}

static fa_status decode_supports(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev,
                                 fa_message *why) {
  const double blocks = decode_blocks(a, decode_split_plan_of(a, k, dev));  // the most
  if (blocks > (double)INT32_MAX)
    return fa_fail(why, FA_ERR_OVERFLOW,
                   "the launch would need %.0f thread blocks (batch x num_heads_k x row tiles x splits, or that "
                   "plus the SMs' block slots where splits follow the lengths; limit "
                   "2^31 - 1): split the batch",
                   blocks);
  if (dev->max_smem_per_block > 0 && k->smem_bytes > (size_t)dev->max_smem_per_block)
    return fa_fail(why, FA_ERR_UNSUPPORTED_DEVICE, "%s needs %zu bytes of shared memory per block; this device allows %d",
                   k->name, k->smem_bytes, dev->max_smem_per_block);
  return FA_OK;
}

/* Before plan() (a->splits == 0): what the plan wants, which
 * fa_fwd_workspace_size reports. After it: what the planned splits need. */
static size_t decode_workspace_bytes(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  const decode_split_plan p = a->splits > 0 ? (decode_split_plan){a->splits, a->split_slots} : decode_split_plan_of(a, k, dev);
  return (size_t)plan_bytes(a, p);
}

/* The split plan: the wanted one, except that with num_splits = 0 it is
 * lowered to what the caller's workspace holds (by length: all or
 * nothing; otherwise down to 1 split, which needs none): a caller that
 * never asked for a workspace still gets an answer, and one that allocated
 * fa_fwd_workspace_size bytes gets the fast path. An explicit num_splits >
 * 1 is not lowered: too small a workspace is then FA_ERR_WORKSPACE. */
static void decode_plan(fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  decode_split_plan p = decode_split_plan_of(a, k, dev);
  if (a->num_splits == 0) {
    const int64_t have = a->workspace != NULL ? (int64_t)a->workspace_bytes : 0;
    if (p.slots > 0 && plan_bytes(a, p) > have) p = (decode_split_plan){1, 0};
    while (p.splits > 1 && plan_bytes(a, p) > have) --p.splits;
  }
  a->splits = p.splits;
  a->split_slots = p.slots;
  /* Fewer slots an SM than shared memory allows: a block asks for its
   * share of the SM's (blocks_per_sm's rule), so that no more fit. */
  a->split_block_smem = 0;
  if (p.slots > 0 && dev->sm_count > 0 && p.slots / dev->sm_count < blocks_per_sm(k, dev)) {
    const int64_t per_sm = p.slots / dev->sm_count;
    a->split_block_smem = (int32_t)(((int64_t)dev->max_smem_per_block + 1024) / per_sm - 1024);
  }
}

/*
 * fa_fwd_workspace_size_max: the workspace is fa_decode_workspace_layout
 * of (batch, Q, total_q, splits), which grows with each, or by length the
 * pieces' layout of (units, slots, Q), which grows with both. The plan is
 * split_plan_for's for units = batch x num_heads_k x row tiles, at most
 * what the longest cache and the cap allow (both taken at their bounds:
 * see splits_for_units and split_plan_for); it is not monotone in units, so
 * take the most bytes over every batch b up to the bound and every
 * row-tile count t up to what max_seqlen_q x heads_per_kv needs (a pair's
 * short part uses fewer, never more). A launch of t row tiles computes at
 * most 16 t / heads_per_kv query rows per sequence (Q, alone or as a
 * pair's short part), so (b, t) needs at most the layout of b sequences of
 * that many rows, within the bound on total_q. A pair's short part of a
 * few sequences splits by length at any cache: its pieces' layout is
 * taken too (the bounds do not say whether a call pairs). Without splits
 * by length, units that already fill the GPU give 1 split (no workspace)
 * and end the scan. The bounds do not say which copies the kernel will use: the row
 * copies' fill (80%), which splits more, bounds both. A kernel whose
 * shared memory the device cannot give (decode_supports declines every
 * call) needs nothing.
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
      const decode_split_plan p = split_plan_for(b, units, bounds->seqlen_k, bounds->num_splits, bounds->num_heads_k,
                                                 0, 0, DECODE_FILL_ROW_COPIES, k, dev);
      /* The same units as a pair's short part: by length at any cache. */
      const decode_split_plan pair = split_plan_for(b, units, bounds->seqlen_k, bounds->num_splits,
                                                    bounds->num_heads_k, 1, 0, DECODE_FILL_ROW_COPIES, k, dev);
      /* fills the GPU (1 split), and so do more tiles */
      if (p.slots == 0 && pair.slots == 0 && units * 100 >= slots * DECODE_FILL_ROW_COPIES) break;
      int64_t q = t * FA_DECODE_ROWS / hpk;
      if (q > bounds->seqlen_q) q = bounds->seqlen_q;
      /* By length at the bound's longest cache, the same call with caches
       * below DECODE_LENGTH_SPLIT_KEYS splits uniformly: take both. */
      const int32_t uniform =
          p.slots > 0 ? splits_for_units(units, DECODE_LENGTH_SPLIT_KEYS - 1, bounds->num_splits,
                                         DECODE_FILL_ROW_COPIES, k, dev)
                      : p.splits;
      int64_t bytes =
          fa_decode_workspace_shape(b, q, bounds->total_q, bounds->num_heads_q, bounds->head_dim, uniform).bytes;
      const int32_t piece_slots = p.slots > pair.slots ? p.slots : pair.slots;
      if (piece_slots > 0) {
        const int64_t pieces = fa_decode_pieces_shape(units, piece_slots, q, hpk, bounds->head_dim).bytes;
        if (pieces > bytes) bytes = pieces;
      }
      if (bytes > most) most = bytes;
    }
    /* one tile of this batch fills the GPU without splits by length: so does every larger batch */
    if (t == 1 && (b >= FA_DECODE_PLAN_MAX_BATCH || bounds->seqlen_k < DECODE_LENGTH_SPLIT_KEYS)) break;
  }
  return (size_t)most;
}

const fa_family fa_family_decode = {"decode",          decode_supports,   decode_workspace_bytes,
                                    decode_plan,       DECODE_SHORT_ROWS, decode_max_workspace_bytes};
