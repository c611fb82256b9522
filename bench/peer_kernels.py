"""Which kernels a peer launches for a BENCH.md grid row, and their shapes:
name, grid, block, registers, shared memory and mean time, from torch's
profiler (Kineto's trace), for SDPA's cuDNN backend in both layouts bench.py
times, for torch varlen_attn and for this library (bench.py's Call through
build/libflashattn.so, dispatch's choice). A cheap look at a peer's tile and
grid before guessing why it is faster on a row (no ncu, a few seconds a row).
Each function is also timed as bench.py times it (do_bench, L2 flushed
before each call: "bench_us"), without the flush ("warm_us") and as
bench.py --timer queued does ("queued_us": flushed, the host's work hidden
behind a GPU sleep), so a row's gap can be told apart as kernel time or
what the measurement adds around it.

    python3 bench/peer_kernels.py [--rows d64:512:causal,d256:512:causal] [--dtype bf16] [--out FILE.json]
"""
import argparse
import json
import os
import sys
import tempfile

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.varlen import varlen_attn
from torch.profiler import ProfilerActivity, profile
from triton.testing import do_bench

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as bench_py  # noqa: E402  (the library's Call, as bench.py times it)


def kernels_of(fn, calls=5):
    """The GPU kernels `fn` launches, grouped by name, from a profiled run."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    path = os.path.join(tempfile.mkdtemp(), "trace.json")
    prof.export_chrome_trace(path)
    with open(path) as fh:
        events = json.load(fh)["traceEvents"]
    found = {}
    for e in events:
        if e.get("cat") != "kernel":
            continue
        a = e.get("args", {})
        k = found.setdefault(e["name"], {"name": e["name"], "grid": a.get("grid"), "block": a.get("block"),
                                         "registers": a.get("registers per thread"),
                                         "smem": a.get("shared memory"), "us": [], "calls": 0})
        k["us"].append(e.get("dur", 0.0))
        k["calls"] += 1
    out = []
    for k in found.values():
        k["mean_us"] = round(sum(k["us"]) / len(k["us"]), 2)
        k["launches_per_call"] = k["calls"] / calls
        del k["us"], k["calls"]
        out.append(k)
    return out


def row(d, s, mask, dt):
    h, total = 2048 // d, 16384
    b = max(1, total // s)
    causal = mask == "causal"
    q, k, v = (torch.randn(b * s, h, d, device="cuda", dtype=dt) for _ in range(3))
    cu = torch.arange(0, (b + 1) * s, s, device="cuda", dtype=torch.int32)
    qd, kd, vd = (x.view(b, s, h, d).transpose(1, 2) for x in (q, k, v))
    qc, kc, vc = (x.contiguous() for x in (qd, kd, vd))

    def sdpa(args):
        def fn():
            with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
                return F.scaled_dot_product_attention(*args, is_causal=causal)
        return fn

    window = (-1, 0) if causal else (-1, -1)
    peers = {"ours": bench_py.Call(q, k, v, cu, cu, s, s, window),
             "cudnn_bshd": sdpa((qd, kd, vd)), "cudnn_bhsd": sdpa((qc, kc, vc)),
             "varlen": lambda: varlen_attn(q, k, v, cu, cu, s, s, window_size=window)}
    found = {name: kernels_of(fn) for name, fn in peers.items()}
    for name, fn in peers.items():
        found[name].append({"name": "(do_bench)", "bench_us": round(1e3 * do_bench(fn, warmup=25, rep=100, return_mode="median"), 2),
                            "warm_us": round(1e3 * bench_py.event_median(fn), 2),
                            "queued_us": round(1e3 * bench_py.queued_median(fn), 2)})
    return {"row": f"{str(dt)[6:]} d{d} b{b} h{h} s{s} {mask}", "peers": found}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="d64:512:causal,d64:512:full,d64:1024:full,d256:512:causal,d128:512:full")
    ap.add_argument("--dtype", default="bf16")
    ap.add_argument("--out", help="write the JSON here")
    args = ap.parse_args()
    dt = {"bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    bench_py.LIB = bench_py.N.load()
    results = []
    for spec in args.rows.split(","):
        d, s, mask = spec.split(":")
        r = row(int(d.lstrip("d")), int(s), mask, dt)
        results.append(r)
        print(f"## {r['row']}")
        for name, ks in r["peers"].items():
            for k in ks:
                if "bench_us" in k:
                    print(f"  {name:11s} do_bench {k['bench_us']:8.1f} us (L2 flushed), {k['warm_us']:8.1f} us warm, "
                          f"{k['queued_us']:8.1f} us queued (flushed, GPU time alone: bench.py --timer queued)")
                    continue
                print(f"  {name:11s} {k['mean_us']:8.1f} us  grid {k['grid']} block {k['block']} "
                      f"regs {k['registers']} smem {k['smem']}  x{k['launches_per_call']:g}  {k['name'][:110]}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                       "cudnn": torch.backends.cudnn.version(), "rows": results}, fh, indent=1)


if __name__ == "__main__":
    main()
