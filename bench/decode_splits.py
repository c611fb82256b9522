"""Decode split count against time: ours at forced num_splits next to the
heuristic's choice and cuDNN, one run, contiguous caches (bench_decode's
shapes: bf16, GQA 32/8, d128, one query per sequence), plus the kernels
cuDNN and ours launch per call (torch profiler: names, count, time; ours
also the span from the first kernel's start to the last one's end, which
shows the gap between our decode kernel and its combine).

    python3 bench/decode_splits.py [--json FILE] [--splits 0,1,2,...] [--shapes B:L,...]
                                   [--libs NAME=PATH,...] [--head-dim D]

--libs times each library (e.g. builds of other tile depths) at each
split count, interleaved with the default library ("main") in one run.

Question it answers: is the heuristic's split count (1 split once the
blocks fill 80% of the block slots; 60% or 40% on the tile copies since
the fortieth session) what holds the contiguous rows at
0.88-0.93x of cuDNN, or is it the per-block rate? Rounds are interleaved
(every variant once per round, 3 rounds, each keeping its fastest median).
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_decode as B  # noqa: E402
from flashattn import _native as N  # noqa: E402


def kernels_of(fn):
    """(name, count, total us) of the CUDA kernels one call of fn launches,
    then ("span", kernels, us from the first start to the last end)."""
    fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    out = []
    for e in prof.key_averages():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            out.append((e.key[:90], e.count, round(e.device_time_total, 1)))
    events = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    if events:
        start = min(e.time_range.start for e in events)
        end = max(e.time_range.end for e in events)
        out.append(("span", len(events), round(end - start, 1)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--splits", default="0,1,2,3,4,6,8,16,32")
    ap.add_argument("--shapes", default="1:131072,8:32768,32:8192,128:1024", help="B:L,... (GQA 32/8)")
    ap.add_argument("--libs", default="", help="NAME=PATH,... more libraries, each timed at every split count")
    ap.add_argument("--head-dim", type=int, default=128, help="the rows' head dim")
    ap.add_argument("--no-kernels", action="store_true", help="skip the profiler's kernel lists (faster)")
    args = ap.parse_args()
    B.D = args.head_dim
    B.LIB = N.load()
    libs = {"": B.LIB}
    for item in filter(None, args.libs.split(",")):
        name, path = item.split("=", 1)
        libs[name + "_"] = N.load(path)
    torch.manual_seed(0)
    rows = []
    for b, length in [tuple(int(x) for x in sh.split(":")) for sh in args.shapes.split(",")]:
        pr = B.DecodeProblem(b, length)
        kv_bytes = pr.kv_bytes
        variants = {"cudnn_bshd": lambda: pr.cudnn(pr.kd, pr.vd), "cudnn_bhsd": lambda: pr.cudnn(pr.kc, pr.vc)}
        for prefix, lib in libs.items():
            for s in [int(x) for x in args.splits.split(",")]:
                try:
                    variants[f"{prefix}splits{s}"] = pr.ours(lib, num_splits=s)
                except RuntimeError as e:
                    print(f"b{b} {prefix}splits {s}: {e}", flush=True)
        best = B.best_of_rounds(variants)
        # Each library's output against the default one's at the same split count, bit for bit.
        same = {}
        for name, fn in variants.items():
            own = name[name.find("splits"):]  # the default library's variant at that count
            if "_splits" in name and own in variants:
                base = variants[own]
                base(), fn()
                torch.cuda.synchronize()
                same[name] = bool(torch.equal(base.out, fn.out))
        cud = min(best["cudnn_bshd"], best["cudnn_bhsd"])
        row = {"row": f"decode b{b} kv{length} gqa32/8 d{B.D} bf16", "kv_bytes": kv_bytes,
               **{f"{n}_ms": t for n, t in best.items()},
               "same_bits": same,
               "cudnn_kernels": [] if args.no_kernels else kernels_of(variants["cudnn_bshd"]),
               "our_kernels": kernels_of(variants["splits0"]) if "splits0" in variants and not args.no_kernels else []}
        rows.append(row)
        print(f"{row['row']}: cudnn {cud:.4f} ms ({kv_bytes / cud / 1e9:.2f} TB/s)", flush=True)
        for n, t in best.items():
            if "splits" in n:
                print(f"   {n:16s} {t:.4f} ms  {kv_bytes / t / 1e9:.2f} TB/s  x{cud / t:.3f} cuDNN"
                      + (f"  bits same as {n[n.find('splits'):]}: {same[n]}" if n in same else ""), flush=True)
        print(f"   cudnn kernels: {row['cudnn_kernels']}", flush=True)
        print(f"   our kernels:   {row['our_kernels']}", flush=True)
        del pr, variants
    B.write_rows_json(rows, args.json, "decode_splits.json")


if __name__ == "__main__":
    main()
