"""cuDNN's prefill kernel alone, for Nsight Compute (bench/ncu_prefill.sh):
one BENCH.md grid row, b x s x 32 heads x d, bf16, full or causal, through
SDPA's cuDNN backend on a contiguous [b, h, s, d] tensor; 4 calls (ncu
profiles the last).

    python3 bench/ncu_peer_prefill.py B S D full|causal
"""
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

b, s, d, mask = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
H = 32
q, k, v = (torch.randn(b, H, s, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
    for _ in range(4):
        F.scaled_dot_product_attention(q, k, v, is_causal=mask == "causal")
torch.cuda.synchronize()
print("ok", b, s, d, mask)
