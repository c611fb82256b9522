"""Where a decode call's time goes outside its main kernel: ours and cuDNN
(both layouts), each call after an L2 flush as do_bench times it, with the
GPU kernels recorded by torch.profiler (CUPTI).

    PYTHONPATH=python python3 bench/decode_overhead.py

Per row and side: the do_bench median (CUDA events), then from the profile
of 30 flushed calls: the gap from the flush's end to the call's first
kernel, each kernel's median duration and the gap before it, and the span
from the flush's end to the call's last kernel end.
"""
import json
import os
import statistics
import sys
import tempfile

ROWS = [(1, 131072), (8, 32768), (128, 1024)]


def kernels_of(prof):
    path = os.path.join(tempfile.mkdtemp(), "trace.json")
    prof.export_chrome_trace(path)
    ev = json.load(open(path))["traceEvents"]
    return sorted((e["ts"], e["dur"], e["name"]) for e in ev if e.get("cat") == "kernel")


def report(label, kern):
    """Calls are the kernels between two flushes (a fill kernel over 20 us)."""
    calls = []
    for ts, dur, name in kern:
        if dur > 20 and ("FillFunctor" in name or "fill" in name.lower()):
            calls.append({"flush_end": ts + dur, "kernels": []})
        elif calls:
            calls[-1]["kernels"].append((ts, dur, name))
    calls = [c for c in calls if c["kernels"]]
    if not calls:
        print(f"  {label}: no calls recorded")
        return
    n = statistics.mode(len(c["kernels"]) for c in calls)
    calls = [c for c in calls if len(c["kernels"]) == n]
    gap = statistics.median(c["kernels"][0][0] - c["flush_end"] for c in calls)
    total = statistics.median(c["kernels"][-1][0] + c["kernels"][-1][1] - c["flush_end"] for c in calls)
    print(f"  {label}: flush end -> first kernel {gap:.1f} us; flush end -> last kernel end {total:.1f} us "
          f"({len(calls)} calls)")
    for i in range(n):
        d = statistics.median(c["kernels"][i][1] for c in calls)
        g = statistics.median(c["kernels"][i][0] - c["kernels"][i - 1][0] - c["kernels"][i - 1][1] for c in calls) \
            if i else None
        print(f"    {calls[0]['kernels'][i][2][:80]:80s} {d:7.1f} us" + (f"  (gap before {g:.1f})" if i else ""))


def run():
    import torch
    from torch.profiler import ProfilerActivity, profile
    from triton.testing import do_bench

    import bench_decode as B
    from flashattn import _native as N
    B.LIB = N.load()
    flush = torch.empty(256 * 1024 * 1024, dtype=torch.int8, device="cuda")
    for b, length in ROWS:
        pr = B.DecodeProblem(b, length)
        ours = pr.ours()
        print(f"b{b} x {length}:")
        for name, fn in [("ours", ours), ("cudnn_bshd", lambda: pr.cudnn(pr.kd, pr.vd)),
                         ("cudnn_bhsd", lambda: pr.cudnn(pr.kc, pr.vc))]:
            ms = do_bench(fn, warmup=25, rep=200, return_mode="median")
            for _ in range(3):
                fn()
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(30):
                    flush.zero_()
                    fn()
                torch.cuda.synchronize()
            report(f"{name} (do_bench {ms * 1e3:.1f} us)", kernels_of(prof))
        sys.stdout.flush()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    run()
