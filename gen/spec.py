"""The specialization matrix: the one place that says which kernels exist.

Edit this file and run `ninja`: the generator rewrites generated/ (kernel
sources, lookup table, build edges, test list, support matrix) and the build
compiles what changed.

Every axis listed here multiplies the number of compiled kernels; everything
else (varlen or dense, GQA, softcap, sinks, LSE, window sizes, sequence
lengths) is a run-time branch inside each kernel. Count before adding an axis:
kernels = len(HEAD_DIMS) * len(DTYPES) * len(MASKS) * (len(CUDA_ARCHS) + 1 for the CPU).
"""

# Head dims to generate. Any multiple of 8 from 8 to 256 works (the mma.sync
# family pads the head dim to a multiple of 16 in shared memory).
# 80: Qwen-VL vision encoder; 72: SigLIP2; 192/256: Gemma and friends.
HEAD_DIMS = [32, 64, 80, 96, 128, 192, 256]

DTYPES = ["fp16", "bf16"]

# none: window (-1, -1); causal: (-1, 0); local: any other window (run time).
MASKS = ["none", "causal", "local"]

# CUDA compute capabilities (x10) to build the mma.sync family for. sm_80
# machine code also runs on sm_86 / sm_89; sm_90 needs its own.
CUDA_ARCHS = [80, 90]

# Tile shapes of the mma.sync family (FlashAttention-2 style), by head dim:
# the first row whose max_head_dim >= head_dim applies.
#   block_m: query rows per thread block, split evenly over the warps
#   block_n: key rows per main-loop iteration
#   q_regs:  keep each warp's Q fragments in registers (less shared-memory
#            traffic; only where the registers allow it)
# See src/cuda/fwd_mma.md for why these shapes.
MMA_TILES = [
    # max_head_dim, block_m, block_n, warps, q_regs
    (64, 128, 128, 4, False),
    (128, 128, 64, 4, False),
    (192, 64, 64, 4, True),  # q_regs: +0.9-4.8% at d192 (H100), -12% at d256 (255 registers)
    (256, 64, 64, 4, False),  # measured: 5-13% faster than 128x64x8 (two blocks per SM)
]

# CPU backend: key rows per online-softmax step.
CPU_BLOCK_N = 64

MAX_HEAD_DIM = 256  # the mma.sync family keeps O in registers; 512 needs another family
