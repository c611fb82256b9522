"""Whether d64 decode would gain from reading two KV heads a block.

    python3 bench/pair_view_probe.py [--head-dim 64|128] [--shapes B:L,...] [--rounds N]

Our d64 decode reads a [b, s, 8, 64] cache 3-4% slower than a [b, h, s, d]
one (fwd_decode.md "Next" item 2): each block streams one head's 128-byte
rows, 1 KB apart, and ncu (forty-fifth session) shows the same DRAM bytes
and L2 sectors either way, at 83.5% against 85.6% of DRAM peak. d128's
256-byte rows lose only 0.5-1.2%.

A d64 GQA 32/8 cache is, byte for byte, a d128 cache of 4 KV heads (heads
2j and 2j + 1 side by side). A d64 kernel that took two heads a block
(S from each head's half of the 128 columns, Q's other half zero; O's
64 columns of the row's head kept) would stream and compute exactly what
the d128 kernel does on that view at GQA 32/4: 8 packed rows a block
(the keys-as-M step's limit), the same HMMAs per byte. So timing
  d64  32/8 over [b, s, 8, 64]        (today, keys first)
  d64  32/8 over [b, 8, s, 64]        (today, heads first)
  d128 32/4 over the same bytes       (the two-heads view)
  cuDNN d64 32/8, its faster layout   (the peer)
interleaved, round by round, bounds what the two-heads kernel would give
before it is built. --head-dim 128 asks the same of d128 (the d256
kernel over [b, s, 4, 256]: 512-byte rows). Nothing here checks results:
it times launches.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_decode as B  # noqa: E402

DEV = "cuda"


def problem(b, length, hk, d, gen):
    """q [b, 32, d]; k, v [b * length, hk, d] (varlen, keys first)."""
    q = torch.randn(b, 32, d, device=DEV, dtype=torch.bfloat16, generator=gen)
    k = torch.randn(b * length, hk, d, device=DEV, dtype=torch.bfloat16, generator=gen)
    v = torch.randn_like(k)
    return q, k, v


def row(b, length, d, rounds, gen):
    cu_q = torch.arange(0, b + 1, device=DEV, dtype=torch.int32)
    cu_k = torch.arange(0, (b + 1) * length, length, device=DEV, dtype=torch.int32)
    used = torch.full((b,), length, device=DEV, dtype=torch.int32)
    q, k, v = problem(b, length, 8, d, gen)
    # The same bytes at 2d over 4 KV heads; Q at 2d (its values do not matter for time).
    q2 = torch.randn(b, 32, 2 * d, device=DEV, dtype=torch.bfloat16, generator=gen)
    k2, v2 = k.view(b * length, 4, 2 * d), v.view(b * length, 4, 2 * d)
    kc = k.view(b, length, 8, d).transpose(1, 2).contiguous()  # [b, h, s, d]
    vc = v.view(b, length, 8, d).transpose(1, 2).contiguous()
    bhsd = (8 * length * d, d, length * d)
    calls = {
        "keys first": B.Call(q, cu_q, 1, k, v, used, length, cu_k=cu_k, total_k=b * length),
        "heads first": B.Call(q, cu_q, 1, kc.transpose(1, 2), vc.transpose(1, 2), used, length, kv_strides=bhsd),
        "2d 32/4 view": B.Call(q2, cu_q, 1, k2, v2, used, length, cu_k=cu_k, total_k=b * length),
    }
    qd = q.view(b, 32, 1, d)
    kd = k.view(b, length, 8, d).transpose(1, 2)
    vd = v.view(b, length, 8, d).transpose(1, 2)
    variants = {name: c for name, c in calls.items()}
    with B.sdpa_kernel([B.SDPBackend.CUDNN_ATTENTION]):
        variants["cudnn bshd"] = lambda: B.F.scaled_dot_product_attention(qd, kd, vd, enable_gqa=True)
        variants["cudnn bhsd"] = lambda: B.F.scaled_dot_product_attention(qd, kc, vc, enable_gqa=True)
        t = B.best_of_rounds(variants, rounds)
    kernels = {name: c.kernel for name, c in calls.items()}
    return t, kernels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="1:131072,8:32768,32:8192,128:1024")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--head-dim", type=int, default=64, help="64 (view: d128 kernel) or 128 (view: d256 kernel)")
    args = ap.parse_args()
    B.LIB = B.N.load()
    gen = torch.Generator(device=DEV).manual_seed(0)
    d = args.head_dim
    print(f"device: {torch.cuda.get_device_name()}; d{d} GQA 32/8 bf16, one query; view: d{2 * d} GQA 32/4 over the "
          f"same bytes; ms = best of {args.rounds} interleaved do_bench medians (L2 flushed)")
    head = (f"| shape | d{d} keys first | d{d} heads first | d{2 * d} 32/4 view | cuDNN (faster) | keys/view | "
            "heads/view | cuDNN/keys | cuDNN/view |")
    lines = [head, "| --- " * 9 + "|"]
    for s in args.shapes.split(","):
        b, length = (int(x) for x in s.split(":"))
        t, kernels = row(b, length, d, args.rounds, gen)
        cud = min(t["cudnn bshd"], t["cudnn bhsd"])
        kf, hf, pv = t["keys first"], t["heads first"], t["2d 32/4 view"]
        lines.append(f"| b{b} x {length} | {kf:.4f} | {hf:.4f} | {pv:.4f} | {cud:.4f} | {kf / pv:.3f} | "
                     f"{hf / pv:.3f} | {cud / kf:.3f} | {cud / pv:.3f} |")
        print(lines[-1], kernels, flush=True)
        torch.cuda.empty_cache()
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
