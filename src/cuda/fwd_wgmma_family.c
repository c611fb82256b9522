/*
 * fwd_wgmma_family.c - host descriptor of the Hopper wgmma family
 * (fwd_wgmma.cuh): which calls it takes. Plain C.
 *
 * The family computes every query length, window, GQA ratio and run-time
 * feature (softcap, sinks, LSE, seqused_k, varlen and dense) over a
 * contiguous or paged K/V, loading Q, K and V with TMA. What TMA cannot express it
 * declines, with the reason, and dispatch gives the call to the next family
 * (mma): a paged cache whose pages TMA boxes cannot tile (page sizes that
 * are not multiples of 8, or neither multiples nor divisors of the key
 * tile), a stride of 2^40 bytes or more, a tensor of 2^31 rows or more (TMA coordinates are
 * 32-bit), a driver without cuTensorMapEncodeTiled. Workspace only where
 * the grid's last round may be split (num_splits other than 1).
 */
#include <stdint.h>

#include "attn/tile_order.h"
#include "dispatch.h"

/* TMA limits (cuTensorMapEncodeTiled, cuda.h): strides in bytes are
 * multiples of 16 below 2^40; coordinates are signed 32-bit. */
#define WGMMA_MAX_STRIDE_BYTES (INT64_C(1) << 40)
#define WGMMA_MAX_ROWS INT64_C(0x7FFFFFFF)

static fa_status check_tma_tensor(const char *name, int64_t row_stride, int64_t head_stride, int64_t batch_stride,
                                  int64_t rows, fa_message *why) {
  const int64_t strides[3] = {row_stride, head_stride, batch_stride};
  static const char *const which[3] = {"row", "head", "batch"};
  for (int i = 0; i < 3; ++i) {
    if (strides[i] * 2 >= WGMMA_MAX_STRIDE_BYTES)
      return fa_fail(why, FA_ERR_UNSUPPORTED,
                     "%s_%s_stride (%lld elements) is 2^40 bytes or more, beyond what a TMA tensor map can hold",
                     name, which[i], (long long)strides[i]);
    if ((strides[i] * 2) % 16 != 0)
      return fa_fail(why, FA_ERR_UNSUPPORTED,
                     "%s_%s_stride (%lld elements) is not a multiple of 16 bytes, which TMA needs", name, which[i],
                     (long long)strides[i]);
  }
  if (rows > WGMMA_MAX_ROWS)
    return fa_fail(why, FA_ERR_UNSUPPORTED, "%s has %lld rows; TMA coordinates stop at 2^31 - 1", name, (long long)rows);
  return FA_OK;
}

static fa_status wgmma_supports(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev,
                                fa_message *why) {
  if (a->tensor_map_encode == NULL)
    return fa_fail(why, FA_ERR_UNSUPPORTED,
                   "the CUDA driver does not offer cuTensorMapEncodeTiled (through cudaGetDriverEntryPointByVersion), "
                   "which TMA loads need");
  const int paged = a->block_table != NULL;
  /* Paged: TMA boxes of min(page_size, block_n) rows, each inside a page and
   * (for pages smaller than a key tile) at 8-row offsets, the swizzle atom. */
  if (paged && (a->page_size % 8 != 0 || (a->page_size % k->block_n != 0 && k->block_n % a->page_size != 0)))
    return fa_fail(why, FA_ERR_UNSUPPORTED,
                   "page_size %d: TMA loads pages whose size is a multiple of 8 and either a multiple or a divisor of "
                   "%s's key tile (%d rows)",
                   a->page_size, k->name, k->block_n);
  if (paged && a->num_pages > WGMMA_MAX_ROWS)
    return fa_fail(why, FA_ERR_UNSUPPORTED, "num_pages %lld: TMA coordinates stop at 2^31 - 1",
                   (long long)a->num_pages);
  const int64_t q_rows = a->cu_seqlens_q != NULL ? a->total_q : a->seqlen_q;
  const int64_t k_rows = paged ? a->page_size : a->cu_seqlens_k != NULL ? a->total_k : a->kv_capacity;
  fa_status st;
  if ((st = check_tma_tensor("q", a->q_row_stride, a->q_head_stride, a->q_batch_stride, q_rows, why)) != FA_OK ||
      (st = check_tma_tensor("k", a->k_row_stride, a->k_head_stride, a->k_batch_stride, k_rows, why)) != FA_OK ||
      (st = check_tma_tensor("v", a->v_row_stride, a->v_head_stride, a->v_batch_stride, k_rows, why)) != FA_OK ||
      (st = check_tma_tensor("out", a->out_row_stride, a->out_head_stride, a->out_batch_stride, q_rows, why)) != FA_OK)
    return st;
  const double m_blocks = (double)(((int64_t)a->seqlen_q + k->block_m - 1) / k->block_m);
  const double blocks = m_blocks * a->num_heads_q * a->batch;
  if (blocks > (double)INT32_MAX)
    return fa_fail(why, FA_ERR_OVERFLOW,
                   "the launch would need %.0f thread blocks (max_seqlen_q / %d x num_heads_q x batch; limit 2^31 - 1): "
                   "split the batch",
                   blocks, k->block_m);
  if (dev->max_smem_per_block > 0 && k->smem_bytes > (size_t)dev->max_smem_per_block)
    return fa_fail(why, FA_ERR_UNSUPPORTED_DEVICE, "%s needs %zu bytes of shared memory per block; this device allows %d",
                   k->name, k->smem_bytes, dev->max_smem_per_block);
  return FA_OK;
}

/* The columns the kernel computes (FwdWgmmaTraits::kHeadDimPadded):
 * multiples of 64 as they are, others up to a multiple of 32. */
static int32_t padded_head_dim(const fa_kernel_info *k) {
  return k->head_dim % 64 == 0 ? k->head_dim : (k->head_dim + 31) / 32 * 32;
}

/* The last round shared by keys (attn/tile_order.h, fa_tile_split): taken
 * with num_splits 0 (the library decides) or > 1, never with 1 (a
 * sequence's bits then do not depend on the batch around it); its
 * partials in the workspace. The bytes where
 * the kernel may split this call, else 0: as FwdWgmmaTraits::kSplitMerge,
 * no causal kernel (nor a causal-shaped window: its walk ends in single
 * tiles), no head dim above 128 (the merge spilled there) and no kernel of
 * two row blocks a consumer (a merge of both blocks measured slower,
 * fwd_wgmma.md "Two row blocks a consumer"); prefill
 * shapes only, sequences of two query tiles or more (decode-like calls
 * are the decode family's, and a runtime's worst-case workspace,
 * fa_fwd_workspace_size_max, stays theirs); and keys enough for
 * FA_TILE_SPLIT_MIN_KEY_TILES (the kernel checks the rest). */
static size_t split_bytes(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  const int32_t padded = padded_head_dim(k);
  const int one_sided = (a->window_left < 0) != (a->window_right < 0);
  /* two row blocks a consumer (block_m = 128 x consumers, FwdWgmmaTraits::
   * kRowBlocks): no split merge */
  const int row_pairs = k->threads > 128 && k->block_m == 128 * (k->threads / 128 - 1);
  if (padded > 128 || k->mask == FA_MASK_CAUSAL || one_sided || k->block_n <= 0 || row_pairs ||
      (int64_t)a->seqlen_q < 2 * (int64_t)k->block_m ||
      ((int64_t)a->seqlen_k + k->block_n - 1) / k->block_n < (int64_t)FA_TILE_SPLIT_MIN_KEY_TILES)
    return 0;
  return fa_split_workspace_bytes(dev->sm_count, k->block_m, padded);
}

/* GQA packing (wgmma/work_tiles.cuh): log2 of heads_per_kv where a KV head's
 * query heads share a work tile's rows, else 0. Where sequences of any
 * length come together (varlen q) under a causal-shaped mask, each
 * sequence's last row tile is partial; packing G heads puts G times the
 * tokens in it (the packed GQA row of bench.py: 1.095x the causal
 * elements it needs unpacked, 1.058x packed; fwd_wgmma.md "Next steps"
 * item 5). G in {2, 4, 8}: a power of two dividing a warp's 16 rows and
 * the tile's; a warp's two rows a thread then share a head. */
static int32_t gqa_pack_shift(const fa_fwd_args *a, const fa_kernel_info *k) {
  const int one_sided = (a->window_left < 0) != (a->window_right < 0);
  const int causal_shaped = k->mask == FA_MASK_CAUSAL || (k->mask == FA_MASK_LOCAL && one_sided);
  const int32_t padded = padded_head_dim(k);
  /* FwdWgmmaTraits::kPackGqa: 65 to 128 columns */
  if (a->cu_seqlens_q == NULL || !causal_shaped || padded <= 64 || padded > 128 || k->block_m % 8 != 0) return 0;
  switch (a->heads_per_kv) {
    case 2: return 1;
    case 4: return 2;
    case 8: return 3;
    default: return 0;
  }
}

/* Split where allowed and the workspace holds it; otherwise the call runs
 * unsplit (as the decode family lowers its split count to the workspace
 * given). Sequences are never split: splits 1. */
static void wgmma_plan(fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  const size_t need = split_bytes(a, k, dev);
  a->split_last_round = a->num_splits != 1 && need > 0 && a->workspace != NULL && a->workspace_bytes >= need;
  a->splits = 1;
  a->pack_gqa_shift = gqa_pack_shift(a, k);
}

/* Before plan (splits 0): what a split would need; after: what it uses. */
static size_t wgmma_workspace_bytes(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  if (a->num_splits == 1 || (a->splits != 0 && !a->split_last_round)) return 0;
  return split_bytes(a, k, dev);
}

/* Under bounds (num_splits 0 = any): the split's bytes unless every call
 * passes 1, whatever the calls' windows (the bytes depend on the device and
 * the kernel alone once keys suffice, and seqlen_k is an upper bound). */
static size_t wgmma_max_workspace_bytes(const fa_fwd_args *bounds, const fa_kernel_info *k, const fa_device_info *dev) {
  fa_fwd_args any = *bounds;
  any.window_left = any.window_right = -1;
  return bounds->num_splits == 1 ? 0 : split_bytes(&any, k, dev);
}

const fa_family fa_family_wgmma = {"wgmma", wgmma_supports, wgmma_workspace_bytes, wgmma_plan, 0,
                                   wgmma_max_workspace_bytes};
