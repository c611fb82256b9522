"""SM clock and board power while one attention kernel runs back to back.

    python3 bench/clock_probe.py [--seconds 4] [--rounds 1]

Why: ratios against a peer can depend on the clock each kernel gets under
the power cap (ncu, which locks the base clock, measured the packed GQA row
at 1.82x varlen_attn; bench.py at boost clocks 1.68-1.70x). For each row and
implementation, the function runs for --seconds while `nvidia-smi -lms 50`
samples clocks.sm and power.draw; prints the median clock, power and
time per call over the samples taken during that run (the first 0.5 s
dropped as ramp-up).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.varlen import varlen_attn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def sample_during(fn, seconds):
    """Run fn back to back for `seconds`; return (clock MHz, power W, ms per call) medians."""
    smi = subprocess.Popen(["nvidia-smi", "--query-gpu=timestamp,clocks.sm,power.draw", "--format=csv,noheader,nounits",
                            "-lms", "50"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    t0 = time.time()
    calls = 0
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    while time.time() - t0 < seconds:
        for _ in range(20):
            fn()
        calls += 20
        torch.cuda.synchronize()
    end.record()
    torch.cuda.synchronize()
    smi.terminate()
    out = smi.communicate()[0]
    clocks, power = [], []
    for line in out.strip().splitlines():
        parts = [x.strip() for x in line.split(",")]
        if len(parts) == 3:
            try:
                clocks.append(float(parts[1]))
                power.append(float(parts[2]))
            except ValueError:
                pass
    skip = 10  # about 0.5 s of ramp-up at 50 ms
    clocks, power = clocks[skip:] or clocks, power[skip:] or power
    return statistics.median(clocks), statistics.median(power), start.elapsed_time(end) / calls


def dense_rows(b, s, d, causal, dt):
    """Ours (bench.py's varlen call over b sequences of s) and cuDNN on
    contiguous [b, h, s, d] copies, for one grid row (h = 2048 / d)."""
    h = 2048 // d
    q, k, v = (bench.packed(b, s, h, d, dt) for _ in range(3))
    cu = torch.arange(0, (b + 1) * s, s, device="cuda", dtype=torch.int32)
    ours = bench.Call(q, k, v, cu, cu, s, s, (-1, 0) if causal else (-1, -1))
    qc, kc, vc = (x.view(b, s, h, d).transpose(1, 2).contiguous() for x in (q, k, v))

    def cudnn():
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            return F.scaled_dot_product_attention(qc, kc, vc, is_causal=causal)
    name = f"d{d} b{b} s{s} {'causal' if causal else 'full'}"
    return [(name + " ours", ours), (name + " cuDNN bhsd", cudnn)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    bench.LIB = bench.N.load()
    dt = torch.bfloat16
    g = torch.Generator().manual_seed(0)
    lens = torch.randint(64, 4096, (24,), generator=g).tolist()  # bench.py's packed24 row
    q = torch.randn(sum(lens), 32, 128, device="cuda", dtype=dt)
    k = torch.randn(sum(lens), 8, 128, device="cuda", dtype=dt)
    v = torch.randn(sum(lens), 8, 128, device="cuda", dtype=dt)
    cu = bench.cu_from_lens(lens)
    ours = bench.Call(q, k, v, cu, cu, max(lens), max(lens), (-1, 0))
    rows = [("packed24 ours", ours),
            ("packed24 varlen_attn", lambda: varlen_attn(q, k, v, cu, cu, max(lens), max(lens), window_size=(-1, 0)))]
    for b, s, d, causal in ((1, 16384, 128, False), (32, 512, 128, False), (32, 512, 64, True)):
        rows += dense_rows(b, s, d, causal, dt)
    print(f"{'row':34s} {'SM MHz':>7s} {'power W':>8s} {'ms/call':>8s}")
    for label, fn in rows * args.rounds:  # more rounds: the order's effect on heat shows
        fn()
        torch.cuda.synchronize()
        mhz, watts, ms = sample_during(fn, args.seconds)
        print(f"{label:34s} {mhz:7.0f} {watts:8.0f} {ms:8.3f}", flush=True)


if __name__ == "__main__":
    main()
