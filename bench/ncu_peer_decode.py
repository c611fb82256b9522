"""cuDNN's decode kernel alone, for Nsight Compute (bench/ncu_compare.sh):
the benchmark's decode row b{B} x kv{L}, GQA 32/8, d128, bf16, one query,
through SDPA's cuDNN backend on a [b, h, s, d] view of [b, s, h, d] memory
(bshd) or on a contiguous [b, h, s, d] copy (bhsd); 4 calls.

    python3 bench/ncu_peer_decode.py B L bshd|bhsd
"""
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

b, length, layout = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
HQ, HK, D = 32, 8, 128
q = torch.randn(b, HQ, 1, D, device="cuda", dtype=torch.bfloat16)
k = torch.randn(b, length, HK, D, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
v = torch.randn(b, length, HK, D, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
if layout == "bhsd":
    k, v = k.contiguous(), v.contiguous()
with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
    for _ in range(4):
        F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
torch.cuda.synchronize()
print("ok", b, length, layout)
