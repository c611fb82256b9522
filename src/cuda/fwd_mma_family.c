/*
 * fwd_mma_family.c - host descriptor of the mma.sync family (fwd_mma.cuh):
 * what it computes and what it needs. Plain C.
 *
 * The family computes every query length, window, GQA ratio and run-time
 * feature, over contiguous or paged K/V (an append is done before it
 * runs, by api.c). Its limits are the launch grid (one block per query
 * tile, head and sequence, flattened into gridDim.x) and the device's
 * shared memory. It needs no workspace.
 */
#include <stdint.h>

#include "dispatch.h"

static fa_status mma_supports(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev,
                              fa_message *why) {
  const double m_blocks = (double)(((int64_t)a->seqlen_q + k->block_m - 1) / k->block_m);
  const double blocks = m_blocks * a->num_heads_q * a->batch;
  if (blocks > (double)INT32_MAX)
    return fa_fail(why, FA_ERR_OVERFLOW,
                   "the launch would need %.0f thread blocks (max_seqlen_q / %d x num_heads_q x batch; limit 2^31 - 1): "
                   "split the batch",
                   blocks, k->block_m);
  /* A paged cache adds two slots of staged (page, row) entries, 8 bytes per
   * key row of a tile (fwd_mma.cuh, kPageRowsBytes). */
  const size_t smem = k->smem_bytes + (a->block_table != NULL ? 2 * (size_t)k->block_n * 8 : 0);
  if (dev->max_smem_per_block > 0 && smem > (size_t)dev->max_smem_per_block)
    return fa_fail(why, FA_ERR_UNSUPPORTED_DEVICE, "%s needs %zu bytes of shared memory per block%s; this device allows %d",
                   k->name, smem, a->block_table != NULL ? " over a paged cache" : "", dev->max_smem_per_block);
  return FA_OK;
}

static size_t mma_workspace_bytes(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  (void)a, (void)k, (void)dev;
  return 0;
}

const fa_family fa_family_mma = {"mma", mma_supports, mma_workspace_bytes, NULL, 0, NULL};
