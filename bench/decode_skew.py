"""Decode over sequences of very different cache lengths (a serving batch):
ours at forced num_splits next to the heuristic's choice (0) and varlen_attn,
one run, bf16, GQA 32/8 (--heads), d128, one query per sequence.

    python3 bench/decode_skew.py [--json FILE] [--splits 0,1,2,4,8] [--ab OLD_LIB] [--head-dim 64]
                                 [--batches 48:16384,64=4096] [--pages 0,16] [--swap] [--heads 32:4]

--batches replaces the default list: N:MAX[:SEED] is N caches of 1..MAX keys
(uniform, seed 1 unless given), N=L is N caches of L keys each and
N=L+M=K groups of them (passed as varlen with seqused_k, so the host does
not know which are equal). --swap
times the old build (--ab) first in each round, for the place-in-the-order
bias (the side right after another call of the same kernel reads faster).

Question it answers: the heuristic splits only where batch x KV heads fill
less than 80% of the block slots (60%, or 40% for short caches, on the
tile copies since the fortieth session), from host values alone. A batch whose
lengths spread from 1 to 16k keys fills the slots with units, yet its long
sequences' blocks run on after the short ones end, each at one block's
rate. Is that what holds bench_decode's mixed row at ~78% of the copy rate
(uniform batches: ~96%)? If a forced split count is much faster here, a
split decided per sequence on the device (from its own length) is worth
building. Rounds are interleaved (every variant once per round, 3 rounds,
each keeping its fastest median). --ab OLD_LIB: the older library's
heuristic choice (num_splits 0) as one more variant, "old".

First run (thirtieth session, H200, before splits by length): every
num_splits from 0 to 8 within 0.6% of each other (num_splits > 1 is a cap,
and batches that fill the GPU do not split), 48 x 1..16k at 3.4 TB/s,
60 x 512 + 4 x 32k at 1.3 TB/s.
"""
import argparse
import os
import sys

import torch
from torch.nn.attention.varlen import varlen_attn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_decode as B  # noqa: E402
from flashattn import _native as N  # noqa: E402


def batch(lens_k, page_size, splits, gen, old=None, swap=False):
    """Calls over one cache (paged with page_size, or packed contiguous when 0) for each split count."""
    n = len(lens_k)
    q = torch.randn(n, B.HQ, B.D, device=B.DEV, dtype=torch.bfloat16)
    cu_q = torch.arange(n + 1, device=B.DEV, dtype=torch.int32)
    used = torch.tensor(lens_k, device=B.DEV, dtype=torch.int32)
    cu_k = torch.tensor([0] + torch.tensor(lens_k).cumsum(0).tolist(), device=B.DEV, dtype=torch.int32)
    if page_size:
        pages = [(x + page_size - 1) // page_size for x in lens_k]
        k = torch.randn(sum(pages) * page_size, B.HK, B.D, device=B.DEV, dtype=torch.bfloat16)
        perm = torch.randperm(sum(pages), generator=gen).to(torch.int32)
        table = torch.zeros(n, max(pages), dtype=torch.int32)
        at = 0
        for i, p in enumerate(pages):
            table[i, :p] = perm[at:at + p]
            at += p
        table = table.to(B.DEV)
        v = torch.randn_like(k)
        kg = torch.cat([B.gathered(k, table[j:j + 1], page_size, 1, max(pages) * page_size)[:lens_k[j]] for j in range(n)])
        vg = torch.cat([B.gathered(v, table[j:j + 1], page_size, 1, max(pages) * page_size)[:lens_k[j]] for j in range(n)])
        make = lambda s, lib=None: B.Call(q, cu_q, 1, k, v, used, max(lens_k), table=table,  # noqa: E731
                                          page_size=page_size, num_pages=sum(pages), window=(-1, 0), num_splits=s,
                                          lib=lib)
    else:
        kg = torch.randn(sum(lens_k), B.HK, B.D, device=B.DEV, dtype=torch.bfloat16)
        vg = torch.randn_like(kg)
        make = lambda s, lib=None: B.Call(q, cu_q, 1, kg, vg, used, max(lens_k), window=(-1, 0),  # noqa: E731
                                          num_splits=s, cu_k=cu_k, total_k=sum(lens_k), lib=lib)
    want = varlen_attn(q, kg, vg, cu_q, cu_k, 1, max(lens_k), window_size=(-1, 0))
    calls = {f"splits{s}": make(s) for s in splits}
    if old is not None:
        calls["old"] = make(0, old)
        if swap:
            calls = {"old": calls.pop("old"), **calls}
    calls["varlen"] = lambda: varlen_attn(q, kg, vg, cu_q, cu_k, 1, max(lens_k), window_size=(-1, 0))
    diffs = {name: B.rel_diff(c(), want) for name, c in calls.items() if name != "varlen"}
    return calls, diffs, sum(lens_k) * B.HK * B.D * 2 * 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--splits", default="0,1,2,3,4,6,8")
    ap.add_argument("--ab", help="the older library: its num_splits 0 timed with the others")
    ap.add_argument("--head-dim", type=int, default=128, help="the rows' head dim (bench_decode.D)")
    ap.add_argument("--batches", help="N:MAX[:SEED] (uniform 1..MAX), N=L (equal) or N=L+M=K (groups), comma-separated")
    ap.add_argument("--pages", default="0,16", help="page sizes (0: a packed contiguous cache)")
    ap.add_argument("--swap", action="store_true", help="the old build first in each round")
    ap.add_argument("--heads", default="32:8", help="query heads:KV heads (bench_decode.HQ, HK)")
    args = ap.parse_args()
    B.D = args.head_dim
    B.HQ, B.HK = (int(x) for x in args.heads.split(":"))
    B.LIB = N.load()
    old = N.load(args.ab) if args.ab else None
    splits = [int(x) for x in args.splits.split(",")]
    gen = torch.Generator().manual_seed(1)
    cases = [
        ("48 seqs 1..16k (the mixed row's decode part)", torch.randint(1, 16385, (48,), generator=gen).tolist()),
        ("128 seqs 1..8k", torch.randint(1, 8193, (128,), generator=gen).tolist()),
        ("64 seqs: 60 x 512 + 4 x 32k", [512] * 60 + [32768] * 4),
        ("8 seqs: 1 x 128k + 7 x 1k", [131072] + [1024] * 7),
        # the plan's order over many sequences (256 and 512 keys sorted a block)
        ("256 seqs 1..32k", torch.randint(1, 32769, (256,), generator=gen).tolist()),
        ("512 seqs: 504 x 1k + 8 x 16k", [1024] * 504 + [16384] * 8),
        # small batches the host splits (one count for all without the plan)
        ("8 seqs 1..32k", torch.randint(1, 32769, (8,), generator=gen).tolist()),
        ("16 seqs 1..64k", torch.randint(1, 65537, (16,), generator=gen).tolist()),
        # 256 units: at d64 the plan at 2 blocks an SM (fwd_decode_family.c plan_blocks_per_sm)
        ("32 seqs 1..16k", torch.randint(1, 16385, (32,), generator=gen).tolist()),
    ]
    if args.batches:
        cases = []
        for item in args.batches.split(","):
            if "=" in item:  # N=L, or groups N=L+M=K
                groups = [tuple(int(x) for x in g.split("=")) for g in item.split("+")]
                cases.append((" + ".join(f"{n} x {length}" for n, length in groups),
                              [length for n, length in groups for _ in range(n)]))
            else:
                n, most, *seed = (int(x) for x in item.split(":"))
                g = torch.Generator().manual_seed(seed[0] if seed else 1)
                cases.append((f"{n} seqs 1..{most}" + (f" seed {seed[0]}" if seed else ""),
                              torch.randint(1, most + 1, (n,), generator=g).tolist()))
    rows = []
    for label, lens in cases:
        for ps in (int(x) for x in args.pages.split(",")):
            calls, diffs, nbytes = batch(lens, ps, splits, gen, old, args.swap)
            best = B.best_of_rounds(calls)
            heads = "" if (B.HQ, B.HK) == (32, 8) else f" gqa{B.HQ}/{B.HK}"
            row = {"row": f"{label}{heads} {f'page{ps}' if ps else 'contiguous'}", "kv_bytes": nbytes,
                   "kernel": calls["splits0"].kernel, "ours_ms": best["splits0"], **{f"{n}_ms": t for n, t in best.items()},
                   "max_diff_vs_varlen": max(diffs.values())}
            rows.append(row)
            print(f"{row['row']}: {nbytes / 1e9:.2f} GB, varlen {best['varlen']:.4f} ms, diff {row['max_diff_vs_varlen']:.1e}",
                  flush=True)
            for n, t in best.items():
                if n != "varlen":
                    print(f"   {n:9s} {t:.4f} ms  {nbytes / t / 1e9:.2f} TB/s  x{best['splits0'] / t:.3f} of splits0",
                          flush=True)
            del calls
    B.write_rows_json(rows, args.json, "decode_skew.json")


if __name__ == "__main__":
    main()
