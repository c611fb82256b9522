// prefill_block.cuh - thread block -> (sequence, head, query tile) of the
// prefill families (mma, wgmma), whose grid is
// batch x num_heads_q x ceil(max_seqlen_q / BLOCK_M) blocks.
#pragma once

namespace fa {

// Query tiles of one head are adjacent (they share K/V in L2) and run
// last-first: with a causal mask the last tiles are the longest, so the
// grid's tail is the short ones.
struct PrefillBlock {
  int b, head, m_block;
};

__device__ __forceinline__ PrefillBlock prefill_block(unsigned block, int seqlen_q, int block_m, int num_heads_q) {
  const int num_m_blocks = (seqlen_q + block_m - 1) / block_m;
  const int bh = (int)(block / (unsigned)num_m_blocks);
  return {bh / num_heads_q, bh % num_heads_q, num_m_blocks - 1 - (int)(block % (unsigned)num_m_blocks)};
}

}  // namespace fa
