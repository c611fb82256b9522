"""How much the packed GQA row could gain from fewer partial row tiles: the
row as bench.py times it (24 lengths, 64..4095, GQA 32/8, d128, bf16,
causal) beside the same row with every length rounded down to a multiple
of 128 (no partial row tile), ours and varlen_attn on the same inputs,
interleaved rounds.

    PYTHONPATH=python python3 bench/packed_bound.py [--json FILE] [--rounds N]

Question: packing a KV head's 4 query heads into one tile (fwd_wgmma.md
"Next steps" item 5) removes about 3/4 of the partial tiles' work (1.095x
-> 1.058x the causal elements). Without partial tiles at all, our useful
TF/s rises by at most what packing could give; if it rises by less than
~3.5%, packing cannot bring the row from 1.74x to 1.8x varlen_attn.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as M  # noqa: E402
from flashattn import _native as N  # noqa: E402


def work(lens, tile=128):
    """Causal elements computed at tile x tile (row x key) tiles, over needed."""
    done = sum(tile * ((min(l, m0 + tile) - 1) // tile + 1) * tile for l in lens for m0 in range(0, l, tile))
    return done / sum(l * (l + 1) / 2 for l in lens)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    M.LIB = N.load()
    g = torch.Generator().manual_seed(0)
    lens = torch.randint(64, 4096, (24,), generator=g).tolist()  # bench.py extras()
    rows = []
    for name, ls in [("as benchmarked", lens), ("rounded down to 128", [max(128, l // 128 * 128) for l in lens])]:
        hq, hk, d, dt = 32, 8, 128, torch.bfloat16
        q = torch.randn(sum(ls), hq, d, device=M.DEV, dtype=dt)
        k = torch.randn(sum(ls), hk, d, device=M.DEV, dtype=dt)
        v = torch.randn(sum(ls), hk, d, device=M.DEV, dtype=dt)
        cu = M.cu_from_lens(ls)
        flops = sum(4 * hq * d * l * l / 2 for l in ls)
        M.time_row(rows, f"bf16 packed24 gqa32/8 d128 causal, lengths {name}", flops, q, k, v, cu, cu, max(ls),
                   max(ls), (-1, 0), repeats=args.rounds)
        r = rows[-1]
        r["work"] = work(ls)
        print(f"{r['row']}: ours {flops / r['ours_ms'] / 1e9:.0f} TF/s, varlen {flops / r['varlen_ms'] / 1e9:.0f} "
              f"TF/s, x{r['varlen_ms'] / r['ours_ms']:.3f} varlen, tile work {r['work']:.4f}x", flush=True)
        del q, k, v
    a, b = rows
    print(f"ours useful TF/s, rounded / as benchmarked: "
          f"{(b['flops'] / b['ours_ms']) / (a['flops'] / a['ours_ms']):.4f} "
          f"(tile work {a['work'] / b['work']:.4f}x less)")
    if args.json:
        import json
        with open(args.json, "w") as fh:
            json.dump({"device": torch.cuda.get_device_name(), "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
