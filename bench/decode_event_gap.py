"""Where the decode bar rows' last microseconds go under do_bench.

    python3 bench/decode_event_gap.py [--rounds R] [--json FILE] [--no-graphs]

bench_decode.py times a call as triton's do_bench does: an L2 flush, a
CUDA event, the call, a CUDA event. decode_overhead.py (no events) put our
kernels' span from the flush's end level with or below cuDNN's on the H100
(seventy-ninth session), while do_bench put ours 0.1-1.4% behind: 2-3 us a
call more between the events than the span (fwd_decode.md [event-gap]).

Each bar row (bf16, GQA 32/8, d128, one query a sequence, contiguous
cache), every side timed by do_bench, interleaved, best median of R
rounds:
  pdl          our call, launch_flags 0 (programmatic launches)
  no_pdl       our call, FA_LAUNCH_NO_PDL
  cudnn_bshd   SDPA's cuDNN backend on a [b, h, s, d] view of the cache
  cudnn_bhsd   the same on a contiguous [b, h, s, d] copy
  pdl_graph    our call captured in a CUDA graph, the replay timed
  cudnn_graph  cuDNN ([b, h, s, d] copy) captured and replayed likewise
The graphs take the host and the per-call launch path out: if ours and
cuDNN's replays stand where their kernel spans do, the gap is in how our
call is launched, not in its kernels. The seventy-ninth session ran the
first four (PDL changed nothing, to the 0.1 us); the eightieth ran the
graph sides (the gap stays under graphs). bench/decode_flush_ncu.py took
it further: our kernels' own time, not the flush.
"""
import argparse
import datetime
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_decode as B  # noqa: E402

SHAPES = [(1, 131072), (8, 32768), (32, 8192), (128, 1024)]


def graph_of(fn, set_stream=None):
    """fn captured into a CUDA graph (warmed up on the capture's side
    stream first); set_stream(handle) points our call at that stream."""
    g = torch.cuda.CUDAGraph()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        if set_stream:
            set_stream(side.cuda_stream)
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    with torch.cuda.graph(g):
        if set_stream:
            set_stream(torch.cuda.current_stream().cuda_stream)
        fn()
    torch.cuda.synchronize()
    return g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--json")
    ap.add_argument("--no-graphs", action="store_true", help="the eager sides only (the seventy-ninth session's run)")
    args = ap.parse_args()
    B.LIB = B.N.load()
    rows = []
    for b, length in SHAPES:
        pr = B.DecodeProblem(b, length)
        pdl = pr.ours()
        plain = pr.ours()
        plain.p.launch_flags = B.N.FA_LAUNCH_NO_PDL
        variants = {"pdl": pdl, "no_pdl": plain,
                    "cudnn_bshd": lambda: pr.cudnn(pr.kd, pr.vd), "cudnn_bhsd": lambda: pr.cudnn(pr.kc, pr.vc)}
        if not args.no_graphs:
            captured = pr.ours()

            def point(handle, c=captured):
                c.p.stream = handle

            for name, make in (("pdl_graph", lambda: graph_of(captured, point)),
                               ("cudnn_graph", lambda: graph_of(lambda: pr.cudnn(pr.kc, pr.vc)))):
                try:
                    variants[name] = make().replay
                except Exception as e:  # noqa: BLE001 - a side that cannot be captured is reported, not fatal
                    print(f"  {name}: not captured: {type(e).__name__}: {str(e).splitlines()[0][:120]}", flush=True)
        t = B.best_of_rounds(variants, args.rounds)
        same = bool(torch.equal(pdl().view(torch.int16), plain().view(torch.int16)))
        cudnn = min(t["cudnn_bshd"], t["cudnn_bhsd"])
        row = {"row": f"decode b{b} kv{length} gqa32/8 d128 bf16", "kernel": pdl.kernel,
               "ours_ms": t["pdl"], "ours_no_pdl_ms": t["no_pdl"], "cudnn_bshd_ms": t["cudnn_bshd"],
               "cudnn_bhsd_ms": t["cudnn_bhsd"], "cudnn_ms": cudnn, "same_bits": same}
        line = (f"{row['row']:40s} pdl {t['pdl'] * 1e3:7.1f} us (x{cudnn / t['pdl']:.3f} cuDNN) | "
                f"no_pdl {t['no_pdl'] * 1e3:7.1f} us (x{cudnn / t['no_pdl']:.3f}) | cudnn {cudnn * 1e3:7.1f} us")
        if "pdl_graph" in t and "cudnn_graph" in t:
            row["ours_graph_ms"], row["cudnn_graph_ms"] = t["pdl_graph"], t["cudnn_graph"]
            line += (f" | graphs: ours {t['pdl_graph'] * 1e3:7.1f} us, cudnn {t['cudnn_graph'] * 1e3:7.1f} us "
                     f"(x{t['cudnn_graph'] / t['pdl_graph']:.3f})")
        rows.append(row)
        print(line + f" | same bits {same}", flush=True)
        del variants
        torch.cuda.empty_cache()
    print(f"Device: {torch.cuda.get_device_name()}; torch {torch.__version__}; {datetime.date.today().isoformat()}; "
          f"best median of {args.rounds} interleaved rounds (triton do_bench, L2 flushed)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
