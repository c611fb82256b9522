"""The specialization matrix: the one place that says which kernels exist.

Edit this file and run `ninja`: the generator rewrites generated/ (kernel
sources, lookup table, build edges, test list, support matrix) and the build
compiles what changed.

A kernel family is declared once, in FAMILIES below: its templates, the
architectures it is built for, its tile table, which head dims, dtypes and
masks it covers, and its dispatch priority. The generator crosses each
family with its own axes:

    kernels = sum over families of
              len(archs) * len(head_dims) * len(dtypes) * len(masks)

Everything else (varlen or dense, GQA, softcap, sinks, LSE, window sizes,
sequence lengths) is a run-time branch inside each kernel. Count before
adding an axis.

Adding a family: declare it here, write its kernel template in templates/
and its host descriptor (src/.../<family>_family.c: what it supports, how
much workspace it needs); nothing in gen/generate.py changes.
"""

# Head dims to generate. Any multiple of 8 from 8 to 256 works (the mma.sync
# family pads the head dim to a multiple of 16 in shared memory).
# 80: Qwen-VL vision encoder; 72: SigLIP2; 192/256: Gemma and friends.
HEAD_DIMS = [32, 64, 80, 96, 128, 192, 256]

DTYPES = ["fp16", "bf16"]

# none: window (-1, -1); causal: (-1, 0); local: any other window (run time).
# A "local" kernel computes every window, so a family may build only it.
MASKS = ["none", "causal", "local"]


# ---------------------------------------------------------------- mma.sync

def mma_smem_bytes(head_dim, tile):
    """Q tile + one K tile + one V tile, rows padded by 16 bytes (src/cuda/fwd_mma.cuh)."""
    padded = (head_dim + 15) // 16 * 16
    return (tile["block_m"] + 2 * tile["block_n"]) * (padded + 8) * 2


# Tile shapes of the mma.sync family (FlashAttention-2 style), by head dim:
# the first row whose max_head_dim >= head_dim applies.
#   block_m: query rows per thread block, split evenly over the warps
#   block_n: key rows per main-loop iteration
#   q_regs:  keep each warp's Q fragments in registers (less shared-memory
#            traffic; only where the registers allow it)
#   k_after_softmax: issue the next K tile after the softmax instead of
#            right after the barrier that frees its buffer (scheduling)
# See src/cuda/fwd_mma.md for why these shapes.
MMA_TILES = [
    # k_after_softmax: +4.5% at d64 (H200, 2026-11-29: 299 vs 284 TF/s at s8192 full)
    dict(max_head_dim=64, block_m=128, block_n=128, warps=4, q_regs=False, k_after_softmax=True),
    dict(max_head_dim=96, block_m=128, block_n=64, warps=4, q_regs=False),
    # k_after_softmax on d128's causal/local kernels: causal 5.2-5.9% faster
    # (H200, 2026-12-03, tile_sweep 4 rounds; ptxas spills 88-120 -> 4-40 B).
    # Not on d128 none (1.5-4% slower, its spills appear) nor d80/d96 (d96
    # causal 2-3% slower, full within 2%).
    dict(max_head_dim=128, block_m=128, block_n=64, warps=4, q_regs=False,
         by_mask=dict(causal=dict(k_after_softmax=True), local=dict(k_after_softmax=True))),
    # q_regs: +0.9-4.8% at d192 (H100), -12% at d256 (255 registers)
    dict(max_head_dim=192, block_m=64, block_n=64, warps=4, q_regs=True),
    # measured: 5-13% faster than 128x64x8 (two blocks per SM)
    dict(max_head_dim=256, block_m=64, block_n=64, warps=4, q_regs=False),
]


# ---------------------------------------------------------------- decode

def decode_smem_bytes(head_dim, tile):
    """Q tile (16 packed rows) + each warp's ring of `stages` K and V tiles of
    16 keys, rows padded by 16 bytes (after the loop the ring holds the warps'
    fp32 O, max and sum) + the ring slots' mbarriers (src/cuda/decode/traits.cuh)."""
    padded = (head_dim + 15) // 16 * 16
    row = (padded + 8) * 2
    ring = tile["warps"] * tile["stages"] * 2 * 16 * row
    merge = tile["warps"] * 16 * (padded + 4 + 2) * 4  # O's rows padded by 4 floats
    barriers = tile["warps"] * tile["stages"] * 8  # sm_90: one mbarrier per ring slot
    return 16 * row + max(ring, merge) + barriers


# Tile shapes of the decode family, by head dim: block_m is the 16 packed
# query rows of a block, block_n the keys its 4 warps take per step (16
# each), stages the depth of each warp's cp.async ring. The stages are
# chosen so that 3 (d64), 2 (d128) or 1 (d256) blocks fit an SM with about
# 100 KB of K/V in flight per SM (src/cuda/fwd_decode.md).
# stages_plan_none (sm_90 only; default `stages`): the ring depth of the
# kernel without a plan (the host's uniform split) in the same shared
# memory, so the blocks per SM do not change: d128 at 2 keeps 64 KB of K/V
# in flight an SM instead of 128, and b128 x 1k ran 0.2-1.3% faster, every
# other row the same; the plan kernels (splits by length) lost up
# to 2.5% at 2 (fwd_decode.md "Tile sizes"). d256 at 2 (thirty-ninth
# session; one block an SM, the freed stage holds the warps' merge): b32 x
# 8k +0.5..1.1%, b128 x 1k +0.6..1.0% contiguous, the rest unchanged; d192
# (its own row, the same tile) not measured at 2.
DECODE_TILES = [
    dict(max_head_dim=64, block_m=16, block_n=64, warps=4, stages=4, stages_plan_none=3),
    dict(max_head_dim=96, block_m=16, block_n=64, warps=4, stages=3),
    dict(max_head_dim=128, block_m=16, block_n=64, warps=4, stages=3, stages_plan_none=2),
    dict(max_head_dim=192, block_m=16, block_n=64, warps=4, stages=3),
    dict(max_head_dim=256, block_m=16, block_n=64, warps=4, stages=3, stages_plan_none=2),
]


# ---------------------------------------------------------------- wgmma (Hopper)

def wgmma_padded_head_dim(head_dim):
    """The head dim in shared memory: whole panels of 64 columns (128-byte
    swizzle) where it is a multiple of 64, of 32 (64-byte swizzle) otherwise
    (80 -> 96; src/cuda/wgmma/traits.cuh)."""
    panel = 64 if head_dim % 64 == 0 else 32
    return (head_dim + panel - 1) // panel * panel


WGMMA_TILE_LIST_MAX = 512  # FA_TILE_LIST_MAX (src/attn/tile_order.h), 32 bytes an entry: list_max's default


def wgmma_smem_bytes(head_dim, tile):
    """1024 bytes of alignment slack + the Q tile (`q_buffers` of them,
    default 1) + `stages` K and V tiles (swizzled panels, no padding) + the
    mbarriers: Q full/empty of each, and per stage full/empty for K and V +
    the block's list of work tiles (list_max entries, default 512, of 32
    bytes each: the tile and its sequence's place; 16-byte aligned), its
    length and the producer's next tile (16 + 48 bytes;
    src/cuda/wgmma/traits.cuh); with smem_epilogue, then the O staging area:
    block_m rows of O's accumulator (the padded head dim) if it has at most
    128 columns and fits, else of 128 where they divide it, 64 or else 32
    columns (passes), plus 16 bytes of padding per row; at head dims that
    are multiples of 64 (TMA stores) no padding, and the area starts
    1024-aligned (kOStageOffset, kOStageCols, kOStageBytes); with
    stage_o_in_q none."""
    q_buffers = tile.get("q_buffers", 1)
    rows = q_buffers * tile["block_m"] + 2 * tile["stages"] * tile["block_n"]
    padded = wgmma_padded_head_dim(head_dim)
    before_list = rows * padded * 2 + 8 * (2 * q_buffers + 4 * tile["stages"])
    base = 1024 + (before_list + 15) // 16 * 16 + 32 * tile.get("list_max", WGMMA_TILE_LIST_MAX) + 16 + 48
    if not tile.get("smem_epilogue") or tile.get("stage_o_in_q"):
        return base  # no staging area (stage_o_in_q: O goes through its Q tile)
    # 64-column panels: O leaves by TMA stores from 128-byte-swizzled
    # panels, 1024-aligned, unpadded (kTmaStore; not the d64 128 x 192
    # kernels); else padded rows.
    tma = head_dim % 64 == 0 and not (padded == 64 and tile["block_n"] > 128)
    offset = (base - 1024 + 1023) // 1024 * 1024 if tma else base - 1024
    pad = 0 if tma else 16
    stage = lambda cols: tile["block_m"] * (cols * 2 + pad)
    left = 232448 - 1024 - offset
    cols = (padded if stage(padded) <= left else
            128 if padded % 128 == 0 and stage(128) <= left else
            64 if stage(64) <= left else 32)
    return 1024 + offset + stage(cols)


# Tile shapes of the wgmma family (sm_90a), by head dim: block_m is 64 rows
# per consumer warpgroup, 128 (two consumers, warps 12: a producer
# warpgroup and the two) or 192 (three, warps 16, pingpong off; FA3's d64
# tile, not yet measured here: src/cuda/fwd_wgmma.md; a row's by_mask=dict(
# local=dict(...)) gives one mask other fields, e.g. two consumers for the
# local mask, whose 192-row kernel spills); block_n is the key tile (the N of
# S = Q K^T), stages the depth of the K/V ring. Starting points from FA3's
# causal tiles (shared/notes/HOPPER.md section 3), not tuned yet
# (src/cuda/fwd_wgmma.md).
#   overlap:  intra-warpgroup overlap: S(n) = Q K(n)^T issued with
#             P(n-1) V(n-1), the softmax of S(n) under that P V
#   pingpong: the two consumers take turns issuing their GEMMs (named
#             barriers); needs overlap. "softmax": the turns go over the
#             softmax's exponentials instead (cuDNN's rule; wgmma/traits.cuh
#             TurnRule): d64 short causal first (twenty-second session); since the fifty-seventh
#             and fifty-eighth with the speculative rule on the 128 x 128 kernels of d32 causal, d64,
#             d80/d96 and d128, and d128's 128 x 176. Off for the d64 row's 128 x 128
#             kernels (d32, d64) since the thirteenth session: without the
#             turns d64 s512-s2048 +1..4%, d32 +3..11% (H200, three A/Bs;
#             fwd_wgmma.md "Ping-pong at d64"); the 128 x 192 long-key
#             kernels keep them (4 bytes of spill without). d80/d96
#             without: mixed (-5..+3.5%); d128 without: full +1%, short
#             causal -1.5% (one 4-round call), mask none alone +0.5% mean
#             (noise, fourteenth session); d256 without: 0.997 (3 rounds).
#             The turns run over the whole block, not per work tile
#             (fwd_wgmma.md "Ping-pong turns across work tiles"); with three
#             consumers (the d64 192-row tiles) they go round, 0 1 2 0 ...:
#             d64 mask none 4-15% less time than without turns at 128 x 128
#             (fwd_wgmma.md "Twentieth session")
#   persistent: one block per SM looping over work tiles (static stride),
#             the next tile's loads under the last one's epilogue
#   q_buffers: 2 keeps two Q tiles, so that the next work tile's Q loads
#             while this one runs (1, the default: after its last S);
#             d64 causal s512-s1024 +1.4..1.6% (fwd_wgmma.md "Two Q buffers");
#             d128 (128 x 128) since the twentieth session: s512 causal -2%
#             time, the rest within noise; 231,424 bytes with O staged in
#             64-column passes. Does not fit d128's 128 x 176 tile, d192,
#             d256
#   smem_epilogue: O staged in shared memory (stmatrix) and stored with
#             16-byte stores, instead of 4-byte stores from the accumulators.
#             On: A/B on the H200 (2026-11-30, one call, 2 rounds of the
#             --quick grid), on over off: s512 1.03-1.14, median of the
#             s2048/s8192 rows d64 1.007, d128 1.026, d256 1.031
#             (src/cuda/fwd_wgmma.md)
# Both on for every head dim: A/B on the H200 (2026-11-29, bench/wgmma_ab.sh,
# one call, 2 interleaved rounds of the --quick grid), speed over both off,
# median of the s2048/s8192 rows: d64 1.036, d128 1.039, d256 1.077
# (overlap alone: 1.009 / 1.014 / 1.068); s512 0.94-1.03. Both off gives back
# the first version (bench/small_spec.py --switch=-overlap --switch=-pingpong).
#   stage_o_in_q: (with smem_epilogue's TMA stores and q_buffers 2) each
#             warp stages O in its own rows of its work tile's Q tile, the
#             whole width in one pass, and Q goes back to the producer at
#             the next work tile's first S, once the stores have read it:
#             no staging area, and no wait for earlier stores in the
#             epilogue (d128 staged 64 columns at a time and its second
#             pass waited ~350 cycles for the first's). d128 short-key
#             kernels: epilogue 1,867 -> 1,344 cycles a work tile
#             (bench/trace_wgmma.sh), s512-s1024 1-3.7% less time in two
#             calls; d64 (one pass already) 1-3% *more* time at s512-s4096
#             (the producer's next-but-one Q, and the K/V behind it, wait a
#             work tile longer): off there (twenty-fourth session,
#             fwd_wgmma.md)
#   row_blocks: 1, or 2: each consumer owns two 64-row blocks of the work
#             tile (block_m = 128 x consumers), one S accumulator and an O
#             and P for each; the softmax turns go round twice per key tile
#             (wgmma/consumer.cuh consume_row_pairs). Mask none, softmax turns
#             with the speculative rule, two consumers (the trait's
#             static_assert). d64 none: fwd_wgmma.md "Two row blocks a
#             consumer"
#   list_max: entries of the block's list of work tiles in shared memory
#             (default WGMMA_TILE_LIST_MAX, 512; 32 bytes each). Fewer leave
#             room for a wider O staging area: every d256 kernel with 56
#             fits 128 columns a pass (two passes, not four of 64); the host
#             then launches whole waves of more blocks where a list would
#             overflow (above 132 x 52 tiles at 56; fa_tile_grid)
#   q_evict_first, o_evict_first: Q's TMA loads, O's TMA stores marked
#             first for eviction from L2 (each byte read or written once;
#             src/cuda/fwd_wgmma.md "L2 eviction hints"). Default off
#   first_softmax_turn: (where pingpong=True; ignored by kernels with
#             softmax turns or none) the first key tile's exponentials
#             of each work tile in turns, consumer c after consumer c - 1
#             (they reach them at once after their first S: fwd_wgmma.md
#             "Where it stands"). On for d64 and d128 (twenty-ninth
#             session, three calls: d128 s512 full +1.8..2.4% both dtypes,
#             s1024 +0.1..4%; d64 none s512 +0.6..5.2%; from s2048 within
#             +-1.5%); at d256 on except causal from 4096 keys (thirty-
#             eighth session: full rows +0.5..3%, short causal +0..0.9%;
#             s8192/s16384 causal 0.5-2.4% slower with it, twenty-ninth);
#             off at d32/d80/d96 (not measured)
#   lazy_rescale: the running max moves only when a key tile's max exceeds
#             it by more than 2^8 (attn/softmax.h fa_softmax_rescale_lazy;
#             FlashAttention 4's conditional rescaling), so O's rescale is
#             skipped on most key tiles. A/B on the H200 (seventeenth
#             session, 3 rounds, full grid, the rule at every head dim),
#             new/old time: d256 0.938 (every row), d128 0.990, d64 1.004
#             (bf16 short rows 1-2% slower: the compare and selects on the
#             softmax's chain cost more than its 32 multiplies). d80/d96
#             not measured (off). fwd_wgmma.md "Seventeenth session".
#             Values: False (exact), "row" (the rule per row), "warp" (one
#             vote per warp first; when no row moves, the kept subtrahend
#             alone). "warp" over "row" (eighteenth session, 3 rounds, full
#             grid): d256 1.3% faster, d128 1.7% slower; at d64 "warp" is
#             2.5-5% slower on the 128 x 128 tile (s512-s2048) and 1.4-3.4%
#             faster on the 128 x 192 long-key tile; d96 "warp" over off:
#             within the (wide) noise, off. fwd_wgmma.md "Eighteenth session".
#             "speculative" (softmax turns in the overlapped loop only;
#             generate.py checks; d256's serial loop spilled with it): the vote after the exponentials, which
#             run against the kept maxima without the rows' extremes before
#             the turn; a warp whose tile's weights sum past 2^8 computes
#             them again by the rule per row (wgmma/gemm_softmax.cuh
#             online_softmax_speculative). d64's 128 x 128 kernel: s512
#             causal +5.1..5.9%, s1024 causal +5.2..7.4% over exact, where
#             "warp" was -1.4..+0.2% (fifty-seventh session); d32 causal,
#             d80/d96 and d128 +2..11% over their GEMM turns (fifty-eighth).
#   long_keys: a second kernel for calls with max_seqlen_k >= min_seqlen_k
#             (a host value), for `masks` and `head_dims` (default: the
#             row's), with the given tile fields; a list of such dicts adds
#             one kernel each (dispatch takes the largest min_seqlen_k a
#             call reaches) (gen/generate.py long_key_tiles; named
#             ..._k<min_seqlen_k>).
#             d64: the 128 x 192 tile measured on the H200 (2026-11-30,
#             bench/results-h200-2026-11-30-tile-ab.md) at +8.6-8.8% (full)
#             and +3.4-3.6% (causal) at s8192, +3.0% / -1..0% at s2048,
#             -9..-11% at s512; from 4096 keys: s8192 full +5.0..6.5%,
#             causal +7.0..8.1% (H200, tenth session; src/cuda/fwd_wgmma.md,
#             "Long-key specializations"). Since the twentieth session the
#             192 x 128 tile with three consumers taking turns instead:
#             5.5-7.5% less time than 128 x 192 at 4096-16384 keys (causal;
#             none 10-15%); from 2048 keys since the twenty-first session
#             (s2048 causal +8..9%). d32: causal from 2048 keys.
#             d128 none: 128 x 176 from 8192 keys, without the smem
#             epilogue (with it the tile needs 240,736 bytes of shared
#             memory): s8192/s16384 +2.6..3.5% (H200, tenth session).
#   stages: d64 (and d32) 3 (the 128 x 192 long-key tile had 2): A/B on the
#             H200 (eleventh session, 4 rounds, every d64 seqlen), 3 over 2:
#             s512-s2048 1.00-1.023 (128 x 128), s4096-s16384 0.985-1.004
#             (128 x 192) (src/cuda/fwd_wgmma.md "Softmax latency").
WGMMA_TILES = [
    # d32: d64's shape, measured on its own (H200, twenty-first session,
    # fwd_wgmma.md "Twenty-first session"): mask none at 192 x 128 with three
    # consumers taking turns (s512 +12..15%, s2048-s16384 +11..17%, s1024
    # 0.985-1.018); causal from 2048 keys the same (+3..18%; s1024 causal
    # 8-12% slower at 192, so short causal rows and local keep 128 x 128).
    # Short causal rows with softmax turns, as d64's (twenty-third session:
    # s512 causal +12%, s1024 causal +9..10%); local without turns (not
    # measured: no bench row). Without the lazy rule (not measured at d32),
    # but for the short causal rows: the speculative rule there since the
    # fifty-eighth session (s512 causal +4.4..4.6%, s1024 causal +3.7%,
    # 3 rounds, bench/results-h200-2026-12-04-s58-speculative-ab.md), and
    # with it causal up to 8192 keys on that kernel (s2048 +7..8%, s4096
    # +4.7..5.6%; s8192 -0.4..-1.3% and s16384 -1.1..-2.7% on it, so the
    # 192-row kernel from 8192 keys; same file, call 4).
    # Sixty-third session: mask none on d64's 256 x 128 tile with two row
    # blocks a consumer, softmax turns and the speculative rule (over the
    # 192-row kernel, 3 rounds, both sides splitting the last round:
    # s512 +10..12%, s1024 +12%, s2048 +4.4%, s4096 +5%, s8192/s16384
    # +2.7%; the pair kernel does not split: s512 +2..5% more, s4096-s16384
    # 1.0-1.8% less; bench/results-h200-2026-12-04-s63-ab.md, calls 1-2).
    # And causal from 4096 keys on that tile, as d64's, instead of the
    # 192-row kernel from 8192 (4 rounds, bf16 / fp16: s4096 +4.6 / 4.7%,
    # s8192 +4.4 / 4.5%, s16384 +3.8 / 3.9%; same file, call 4). No d32
    # kernel is left on the 192-row tile: the row's own fields are now the
    # 128-row causal kernel's.
    dict(max_head_dim=32, block_m=128, block_n=128, warps=12, stages=3, q_buffers=2, overlap=True, pingpong="softmax", persistent=True, smem_epilogue=True, lazy_rescale="speculative",
         by_mask=dict(none=dict(block_m=256, row_blocks=2), local=dict(pingpong=False, lazy_rescale=False)),
         long_keys=dict(min_seqlen_k=4096, masks=["causal"], block_m=256, row_blocks=2)),
    # d64: mask none at 192 x 128, three consumers taking turns (FA3's d64
    # shape): 4-15% less time than 128 x 128 without turns / 128 x 192 with
    # two (H200, fwd_wgmma.md "Twentieth session"); causal from 2048 keys
    # the same (s2048 causal +8..9%, twenty-first session); short causal
    # rows and local keep 128 x 128 (s512/s1024 causal 2-13% slower at 192;
    # the threshold re-measured in the fifty-sixth session: causal at 192
    # rows from 1024 keys is 15% slower at s1024; at 128 rows (softmax
    # turns) up to 4096 keys 1.3-1.8% slower at s2048, up to 8192 4.3-4.7%
    # slower at s4096; none's long-key kernel from 512 keys: no change;
    # bench/results-h200-2026-12-04-s56-ab.md);
    # short causal rows with softmax turns since the twenty-second session
    # (cuDNN's rule, seen with ncu: s512 causal 6% less time; the same turns
    # were 2.5-4.5% slower at d128 and 4-8% at d256, and spilled at d64's
    # 192-row tile; fwd_wgmma.md "Twenty-second session"); P packed inside
    # the turn since the twenty-third (1.5-3.7% less time; wgmma/traits.cuh
    # kPackInTurn)
    # Fifty-seventh session: the speculative lazy rule (wgmma/gemm_softmax.cuh
    # online_softmax_speculative: the exponentials against the kept maxima,
    # the check after the turn) on the 128 x 128 softmax-turn kernel: s512
    # causal +5.1..5.9%, s1024 causal +5.2..7.4%; with it, mask none below
    # 2048 keys on that kernel too (over the 192-row GEMM-turn kernel: s1024
    # full +5..6.6%, s512 full -0.2..+1.3%), and causal on it up to 4096
    # keys (s2048 causal +5.1..6.7% over the 192-row kernel); none from 2048
    # keys keeps the 192-row kernel (on the 128-row one: s2048 full 1-1.5%
    # slower). bench/results-h200-2026-12-04-s57-speculative-ab.md.
    # Fifty-eighth session: causal up to 8192 keys on the 128-row kernel
    # (s4096 causal +3.9..4.2%; s8192 -1.2..+0.1%, s16384 -1.7..-2.2% on it;
    # bench/results-h200-2026-12-04-s58-speculative-ab.md, call 4).
    # first_softmax_turn: the long-key kernels' (GEMM turns; d64 none s512
    # +0.6..5.2% on the 192-row kernel, twenty-ninth session)
    # Sixty-second session: mask none at every length on 256 x 128 with two
    # row blocks a consumer (row_blocks=2, turns round four; fwd_wgmma.md
    # "Two row blocks a consumer"): over the 128-row kernel s512 full
    # +0.7..4.8%, s1024 full +1.2..5.4%; over the 192-row GEMM-turn kernel
    # from 2048 keys +1..5% (4 rounds, bench/results-h200-2026-12-04-s62-row-pairs-ab.md).
    # Causal on it (block A one key tile short on the diagonal; the kernel
    # supports it): s512/s1024 causal 10-13% slower, s2048 level, s4096 3-5%
    # faster in one call of 3 rounds (same file, call 3).
    # Sixty-third session: causal from 4096 keys on it, replacing the
    # 192-row GEMM-turn kernel from 8192 (3 rounds, bf16 / fp16: s4096
    # +2.0 / 2.0%, s8192 +1.0 / 2.0%, s16384 +0.8 / 1.4% of speed;
    # bench/results-h200-2026-12-04-s63-ab.md, call 2).
    dict(max_head_dim=64, block_m=128, block_n=128, warps=12, stages=3, q_buffers=2, overlap=True, pingpong="softmax", persistent=True, smem_epilogue=True, lazy_rescale="speculative", first_softmax_turn=True,
         by_mask=dict(none=dict(block_m=256, row_blocks=2), local=dict(pingpong=False, lazy_rescale=False)),
         long_keys=dict(min_seqlen_k=4096, masks=["causal"], block_m=256, row_blocks=2)),
    # d80, d96 (32-column panels, padded to 96): the d128 tile with 3 stages
    # (216 KB; +0.85% median over 2, src/cuda/fwd_wgmma.md "Head dims that
    # are not multiples of 64"); from 8192 keys 128 x 176 with 2 stages
    # (s8192/s16384 +1.4% mean over 16 rows, +0.3..3.6% in an earlier call;
    # -16..-18% on short causal rows, hence long keys only: fwd_wgmma.md
    # "d80/d96 long-key kernels"). Fifty-eighth session: below 8192 keys
    # softmax turns with the speculative lazy rule (d96 s1024-s4096
    # +6..10%, s512 +0..4%, the vision d80 row +7.6%; 3 rounds,
    # bench/results-h200-2026-12-04-s58-speculative-ab.md); local and the
    # long-key kernels keep GEMM turns without the lazy rule (not timed /
    # unchanged).
    dict(max_head_dim=96, block_m=128, block_n=128, warps=12, stages=3, overlap=True, pingpong="softmax", persistent=True, smem_epilogue=True, lazy_rescale="speculative",
         by_mask=dict(local=dict(pingpong=True, lazy_rescale=False)),
         long_keys=dict(min_seqlen_k=8192, masks=["none", "causal"], block_n=176, stages=2, pingpong=True, lazy_rescale=False)),
    # first_softmax_turn: s512 full +1.8..2.4%, s1024 +0.1..4% (twenty-ninth session)
    # Fifty-eighth session: softmax turns with the speculative lazy rule (as d64) over the GEMM turns
    # with the per-row rule: causal +2..8% on every seqlen, full up to 4096 keys +1..6.5% (4 rounds);
    # on local (swa4096 +4.7%) and none's 128 x 176 kernel from 8192 keys (+6.3..8.2%) too (3 rounds;
    # bench/results-h200-2026-12-04-s58-speculative-ab.md)
    dict(max_head_dim=128, block_m=128, block_n=128, warps=12, stages=2, q_buffers=2, overlap=True, pingpong="softmax", persistent=True, smem_epilogue=True, stage_o_in_q=True, lazy_rescale="speculative", first_softmax_turn=True,
         long_keys=dict(min_seqlen_k=8192, masks=["none"], head_dims=[128], block_n=176, q_buffers=1, smem_epilogue=False, stage_o_in_q=False)),
    # d192: FA3's 128 x 96 tile (S 48 + P 24 + O 96 registers; 193 KB of shared memory) from 1024
    # keys (none) and 2048 (causal), and for local.
    # Fifty-ninth session: from 2048 keys softmax turns with the speculative lazy rule (none and
    # causal): s2048 +0.1..1.4%, s4096 +2.2..2.8%, s8192 +1.3..4.5%, s16384 +2.9..4.9%; below 2048
    # keys it lost on full rows (s512 -2.4..-3.8%, s1024 -1.0..-1.7%; 4 rounds,
    # bench/results-h200-2026-12-04-s59-long-keys-ab.md); local not timed.
    # Sixtieth session: below 1024 keys (none) and 2048 (causal) d256's short tile (128 x 128, one
    # stage, the serial loop, softmax turns, the lazy rule per warp): s512 full +7.1..7.2%, s512
    # causal +10.3..10.5%, s1024 causal +2.7..3.9%; s1024 full 3.8-4.3% slower on it, hence none's
    # 128 x 96 kernel from 1024 keys (4 rounds, bench/results-h200-2026-12-04-s60-d192-short-ab.md).
    # Local keeps the 128 x 96 tile (not timed). Causal on the short tile up to 4096 keys: s2048
    # causal 4.6-5.2% slower (bench/results-h200-2026-12-04-s60-d192-causal-4096-ab.md).
    dict(max_head_dim=192, block_m=128, block_n=128, warps=12, stages=1, overlap=False, pingpong="softmax", persistent=True, smem_epilogue=True, lazy_rescale="warp", first_softmax_turn=False,
         by_mask=dict(causal=dict(q_evict_first=True, o_evict_first=True),
                      local=dict(block_n=96, stages=2, overlap=True, pingpong=True, lazy_rescale="row")),
         long_keys=[dict(min_seqlen_k=1024, masks=["none"], block_n=96, stages=2, overlap=True, pingpong=True, lazy_rescale="row"),
                    dict(min_seqlen_k=2048, masks=["none", "causal"], block_n=96, stages=2, overlap=True, pingpong="softmax", lazy_rescale="speculative",
                         q_evict_first=False, o_evict_first=False)]),
    # d256 below 1024 keys: cuDNN's tile (its kernel's name reads 64x128x256), 128 x 128 with one stage
    # of K and V (64 KB each), the serial loop (S, wait, softmax, P V, wait: S 64 + O 128 registers fit
    # where the overlapped loop's S + P + O spill) with the exponentials in turns. Fifty-first session
    # (bench/results-h200-2026-12-03-s51-d256-128keys-ab.md): s512 causal +2.6..2.7%, s512 full
    # +1.0..1.9%, s1024 causal +0.9..1.4%, s1024 full 3-5% slower, longer rows 3-9% slower.
    # From 1024 keys (long_keys): 128 x 64, 2 stages, the overlapped loop (O alone takes 128 registers;
    # FA3 uses block_n 80 here); first_softmax_turn: full s1024/s2048 +2.5..3%, the other short rows
    # +0..1.2%, none from 4096 keys +0.6..2.4%; not for causal from 4096 keys (its long-key kernel:
    # 0.5-2.4% slower with it, twenty-ninth session), thirty-eighth session.
    # Causal keeps the short-key kernel up to 2048 keys since the fifty-third session: with its half
    # key tiles (wgmma/traits.cuh kHalfKeyTiles: s512 causal +1.6..3%) it ran s1024 causal 2.7-3.8% faster
    # than the overlapped 128 x 64 kernel, s2048 causal 0.6-0.7% slower (6 rounds,
    # bench/results-h200-2026-12-04-s53-d256-half-key-tiles-ab.md). The long-key kernels with softmax turns and
    # the speculative lazy rule: 3.5-5% slower (fifty-eighth session, results-h200-2026-12-04-s58-speculative-ab.md).
    # list_max=56 (O staged in two passes of 128 columns instead of four of 64): s512 causal +1.2%,
    # s2048 causal +2.3..3.5%, elsewhere level (sixty-seventh session, bench/results-h200-2026-12-05-s67-d256-ab.md).
    # The sixty-eighth session's stop of test_stress at its 90 s cap was the cap, not the kernels: the
    # seventieth session ran grid_independence_cuda (whose 1- and 7-SM claims send d256 down the whole-wave
    # path, 40-42 blocks) bitwise equal on main (50 s) and with it (58 s, host fills included), and test_fwd's
    # 14 d256 cases passed (bench/results-h200-2026-12-05-s70-d256-list56.md).
    # q_evict_first/o_evict_first on the short-key causal kernels of d192 and d256 only (seventy-fifth
    # session, H100, 4 rounds against main): s512 causal +1.4..1.7% (d256) and +2.3..2.7% (d192) in every
    # round, s1024 causal +0.6..1.4%; Q's hint alone gives about half. The long-key kernels read level
    # within the H100's +-3% round noise (d192 full s2048/s4096 1% slower at the median), the short
    # none kernels' s512 full rows swung 0.87-1.17 round to round: unread, so off
    # (bench/results-h100-2026-12-05-s74-l2-hints.md "Call 4"). Seventy-sixth session (H100, 4 rounds):
    # both hints on every none kernel of d192/d256 level (s512 full 0.987-1.018, longer rows
    # 0.987-1.007; bench/results-h100-2026-12-06-s76.md "Call 2"), so they stay off there.
    dict(max_head_dim=256, block_m=128, block_n=128, warps=12, stages=1, list_max=56, overlap=False, pingpong="softmax", persistent=True, smem_epilogue=True, lazy_rescale="warp", first_softmax_turn=False,
         by_mask=dict(causal=dict(q_evict_first=True, o_evict_first=True)),
         long_keys=[dict(min_seqlen_k=1024, masks=["none", "local"], block_n=64, stages=2, overlap=True, pingpong=True, first_softmax_turn=True),
                    dict(min_seqlen_k=2048, masks=["causal"], block_n=64, stages=2, overlap=True, pingpong=True, first_softmax_turn=True,
                         q_evict_first=False, o_evict_first=False),
                    dict(min_seqlen_k=4096, masks=["causal"], block_n=64, stages=2, overlap=True, pingpong=True,
                         q_evict_first=False, o_evict_first=False)]),
]


# ---------------------------------------------------------------- CPU

CPU_BLOCK_N = 64  # key rows per online-softmax step


def cpu_tile(head_dim):
    """Query rows per CPU block: as many as the kernel's fixed stack buffers
    hold (src/cpu/fwd_cpu.h: 1024 floats of queries/accumulators, 512 of
    scores, at most 32 rows; the generated file static-asserts this)."""
    block_m = max(1, min(1024 // head_dim, 512 // CPU_BLOCK_N, 32))
    return dict(max_head_dim=512, block_m=block_m, block_n=CPU_BLOCK_N, warps=0)


# ---------------------------------------------------------------- families
#
# name:          in kernel names, symbols, files and test cases
#                (fwd_<name>_sm<arch>_hdim<d>_<dtype>_<mask>[_k<min_seqlen_k>]; CPU: no
#                arch; the suffix marks a long-key specialization, see long_keys)
# backend:       "cuda" or "cpu"
# summary:       one line for fa_kernel_info.description and SUPPORT.md
# design_note:   where the family's design note lives
# template:      kernel template in templates/ (renders one compilation unit)
# host:          the C descriptor (fa_family) with supports() and
#                workspace_bytes(); host_sources: the files that define it
# archs:         CUDA targets as strings: "80" builds sm_80, "90a" builds
#                sm_90a (-gencode arch=compute_90a,code=sm_90a); CPU: [""]
# head_dims, dtypes, masks: the family's own axes
# tiles:         list of dicts; the first with max_head_dim >= d applies,
#                or a function head_dim -> dict
# smem_bytes:    function (head_dim, tile) -> dynamic shared memory per block
# priority:      dispatch prefers the highest priority whose supports() says
#                yes (the CPU backend has its own, single, family)
# unit:          "kernel": one file per kernel; "head_dim": one file per
#                (arch, head dim) holding every dtype x mask (fewer nvcc
#                runs, less parallelism: measured in README "Build and CI")
# ptxas_clean:   (optional, CUDA) the build fails where a kernel spills,
#                uses local memory or has its wgmma serialized (ptxas's C75xx
#                notes): tests/nvcc_ptxas_clean.sh
FAMILIES = [
    dict(
        name="mma",
        backend="cuda",
        summary="mma.sync m16n8k16 forward (FlashAttention-2 scheme), any query length",
        design_note="src/cuda/fwd_mma.md",
        template="fwd_mma.cu.j2",
        host="fa_family_mma",
        host_sources=["src/cuda/fwd_mma_family.c"],
        archs=["80", "90"],
        head_dims=HEAD_DIMS,
        dtypes=DTYPES,
        masks=MASKS,
        tiles=MMA_TILES,
        smem_bytes=mma_smem_bytes,
        priority=10,
        unit="kernel",
    ),
    dict(
        name="decode",
        backend="cuda",
        summary="KV-cache decode forward: contiguous or paged K/V (any page size), GQA packing, split-KV",
        design_note="src/cuda/fwd_decode.md",
        template="fwd_decode.cu.j2",
        host="fa_family_decode",
        host_sources=["src/cuda/fwd_decode_family.c"],
        archs=["80", "90"],
        head_dims=HEAD_DIMS,
        dtypes=DTYPES,
        masks=["local"],  # one kernel per (head dim, dtype): every window at run time
        tiles=DECODE_TILES,
        smem_bytes=decode_smem_bytes,
        priority=20,
        unit="kernel",
    ),
    dict(
        name="wgmma",
        backend="cuda",
        summary="Hopper forward: TMA producer warpgroup, wgmma consumer warpgroups of 64 query rows each, mbarrier ring",
        design_note="src/cuda/fwd_wgmma.md",
        template="fwd_wgmma.cu.j2",
        host="fa_family_wgmma",
        host_sources=["src/cuda/fwd_wgmma_family.c"],
        archs=["90a"],
        head_dims=HEAD_DIMS,  # 64-column panels (128-byte swizzle) or 32-column (64-byte) where d % 64 != 0
        dtypes=DTYPES,
        masks=MASKS,
        tiles=WGMMA_TILES,
        smem_bytes=wgmma_smem_bytes,
        # The rule for the family: no spills, no serialized wgmma
        ptxas_clean=True,
        # Above mma (10): sm_90 prefers it wherever supports() agrees (not
        # paged, TMA-addressable strides, an encoder), mma takes the rest.
        # Raised from 5 after its GPU tests, racecheck and synccheck passed on
        # an H200 (2026-11-29; bench/RESULTS.md).
        priority=15,
        unit="kernel",
    ),
    dict(
        name="cpu",
        backend="cpu",
        summary="portable C11 forward, single thread (correct fallback, not fast)",
        design_note="src/cpu/fwd_cpu.h",
        template="fwd_cpu.c.j2",
        host="fa_family_cpu",
        host_sources=["src/cpu/fwd_cpu_family.c"],
        archs=[""],
        head_dims=HEAD_DIMS,
        dtypes=DTYPES,
        masks=MASKS,
        tiles=cpu_tile,
        smem_bytes=lambda head_dim, tile: 0,
        priority=0,
        unit="kernel",
    ),
]

MAX_HEAD_DIM = 256  # the mma.sync family keeps O in registers; 512 needs another family
