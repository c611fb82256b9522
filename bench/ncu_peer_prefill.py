"""A peer's prefill kernel alone, for Nsight Compute (bench/ncu_prefill.sh):
one BENCH.md grid row, b x s x H heads x d (H 32 unless given), bf16, full or causal, through
SDPA's cuDNN backend on a contiguous [b, h, s, d] tensor; or bench.py's
packed GQA row (24 sequences, 32/8 heads, d128, causal) through torch's
varlen_attn, which has no cuDNN peer; 4 calls (ncu profiles the last).

    python3 bench/ncu_peer_prefill.py B S D full|causal [H]
    python3 bench/ncu_peer_prefill.py packed24
"""
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

if sys.argv[1] == "packed24":
    from torch.nn.attention.varlen import varlen_attn

    g = torch.Generator().manual_seed(0)  # bench.py extras(): the same lengths
    lens = torch.randint(64, 4096, (24,), generator=g).tolist()
    cu = torch.zeros(len(lens) + 1, dtype=torch.int32)
    cu[1:] = torch.cumsum(torch.tensor(lens), 0)
    cu = cu.cuda()
    q = torch.randn(sum(lens), 32, 128, device="cuda", dtype=torch.bfloat16)
    k, v = (torch.randn(sum(lens), 8, 128, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(4):
        varlen_attn(q, k, v, cu, cu, max(lens), max(lens), window_size=(-1, 0))
    torch.cuda.synchronize()
    print("ok packed24", ",".join(map(str, lens)))
    sys.exit(0)

b, s, d, mask = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
H = int(sys.argv[5]) if len(sys.argv) > 5 else 32
q, k, v = (torch.randn(b, H, s, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
    for _ in range(4):
        F.scaled_dot_product_attention(q, k, v, is_causal=mask == "causal")
torch.cuda.synchronize()
print("ok", b, s, d, mask)
