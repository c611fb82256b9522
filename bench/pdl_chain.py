"""Programmatic launches (fa_fwd_params.launch_flags) in a chain of calls.

    python3 bench/pdl_chain.py [--layers N] [--rounds R] [--md FILE] [--json FILE]

A runtime runs attention once per layer, the layers' kernels back to back
in one CUDA graph. With launch_flags 0 (the default since 0.4) the decode
and wgmma kernels launch as programmatic dependents of the kernel before
them (sm_90): their launch and set-up overlap that kernel's last blocks.
This captures N calls (N layers, each its own Q, K/V cache and output,
so no layer reads another's bytes from L2) into a graph, once with
launch_flags 0 and once with FA_LAUNCH_NO_PDL, and times the graphs'
replays interleaved (triton do_bench medians, L2 flushed before each
replay; best of R rounds). Per call = graph time / N. Rows: bf16 decode
at GQA 32/8 d128 (one query a sequence; the bench's b32 x 8k and
b128 x 1k, and the small steps where the gap between kernels weighs
most), and short causal prefill (wgmma).
"""
import argparse
import datetime
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_decode as B  # noqa: E402

DEV = "cuda"


def decode_layer(b, length, gen):
    q = torch.randn(b, 32, 128, device=DEV, dtype=torch.bfloat16, generator=gen)
    k = torch.randn(b * length, 8, 128, device=DEV, dtype=torch.bfloat16, generator=gen)
    v = torch.randn_like(k)
    cu_q = torch.arange(0, b + 1, device=DEV, dtype=torch.int32)
    cu_k = torch.arange(0, (b + 1) * length, length, device=DEV, dtype=torch.int32)
    used = torch.full((b,), length, device=DEV, dtype=torch.int32)
    return B.Call(q, cu_q, 1, k, v, used, length, cu_k=cu_k, total_k=b * length)


def prefill_layer(b, s, heads, gen):
    q = torch.randn(b * s, heads, 128, device=DEV, dtype=torch.bfloat16, generator=gen)
    k, v = torch.randn_like(q), torch.randn_like(q)
    cu = torch.arange(0, (b + 1) * s, s, device=DEV, dtype=torch.int32)
    used = torch.full((b,), s, device=DEV, dtype=torch.int32)
    return B.Call(q, cu, s, k, v, used, s, window=(-1, 0), cu_k=cu, total_k=b * s)


def graph_of(calls, flags):
    """The calls captured in order into one graph, each with launch_flags."""
    g = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for c in calls:  # warm up outside the capture (cudaFuncSetAttribute and the like)
            c.p.launch_flags = flags
            c.p.stream = stream.cuda_stream
            c()
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()
    with torch.cuda.graph(g):
        s = torch.cuda.current_stream().cuda_stream
        for c in calls:
            c.p.stream = s
            c()
    return g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--md")
    ap.add_argument("--json")
    args = ap.parse_args()
    B.LIB = B.N.load()
    gen = torch.Generator(device=DEV).manual_seed(0)
    n = args.layers
    shapes = [("decode b1 kv4096", lambda: decode_layer(1, 4096, gen)),
              ("decode b8 kv4096", lambda: decode_layer(8, 4096, gen)),
              ("decode b32 kv8192", lambda: decode_layer(32, 8192, gen)),
              ("decode b128 kv1024", lambda: decode_layer(128, 1024, gen)),
              ("prefill b8 s512 h16 causal", lambda: prefill_layer(8, 512, 16, gen)),
              ("prefill b1 s2048 h16 causal", lambda: prefill_layer(1, 2048, 16, gen))]
    env = {"device": torch.cuda.get_device_name(), "date": datetime.date.today().isoformat(), "layers": n,
           "rounds": args.rounds}
    print(env, flush=True)
    rows = []
    for name, make in shapes:
        calls = [make() for _ in range(n)]
        graphs = {"pdl": graph_of(calls, 0), "plain": graph_of(calls, B.N.FA_LAUNCH_NO_PDL)}
        t = B.best_of_rounds({k: g.replay for k, g in graphs.items()}, args.rounds)
        r = {"row": f"{name} gqa32/8 d128 bf16 x{n} layers" if name.startswith("decode") else f"{name} d128 bf16 x{n} layers",
             "kernel": calls[0].kernel, "ours_ms": t["pdl"] / n, "plain_ms": t["plain"] / n,
             "plain_over_pdl": t["plain"] / t["pdl"], "saved_us_per_call": 1e3 * (t["plain"] - t["pdl"]) / n}
        rows.append(r)
        print(f"{r['row']:52s} per call: programmatic {1e3 * r['ours_ms']:8.2f} us | plain {1e3 * r['plain_ms']:8.2f} us"
              f" | plain/pdl {r['plain_over_pdl']:.3f} | saved {r['saved_us_per_call']:.2f} us  [{r['kernel']}]",
              flush=True)
        del calls, graphs
        torch.cuda.empty_cache()
    md = [f"Device: {env['device']}; date {env['date']}. Command: `python3 bench/pdl_chain.py` ({n} calls, one a layer, "
          f"captured in one CUDA graph; graph replay times by triton do_bench, L2 flushed, best of {args.rounds} "
          "interleaved rounds; per call = graph / layers). ours = launch_flags 0 (programmatic launches), plain = "
          "FA_LAUNCH_NO_PDL.", "",
          "| row | kernel | ours ms (per call) | plain ms (per call) | plain / ours | saved us per call |",
          "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        md.append(f"| {r['row']} | {r['kernel']} | {r['ours_ms']:.4f} | {r['plain_ms']:.4f} | {r['plain_over_pdl']:.3f} | "
                  f"{r['saved_us_per_call']:.2f} |")
    B.write_results("\n".join(md) + "\n", env, rows, args.md, args.json, "pdl_chain")


if __name__ == "__main__":
    main()
