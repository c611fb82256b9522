"""The decode bar rows under do_bench with programmatic launches on and off.

    python3 bench/decode_pdl_events.py [--rounds R] [--json FILE]

bench_decode.py times a call as triton's do_bench does: an L2 flush, a
CUDA event, the call, a CUDA event. decode_overhead.py (no events) put our
kernels' span from the flush's end level with or below cuDNN's on the H100
(seventy-ninth session), while do_bench put ours 0.1-1.4% behind: 2-3 us a
call more between the events than the span. Question: is that the event
between the flush and our programmatic (PDL) launch? Times each bar row
(bf16, GQA 32/8, d128, one query a sequence, contiguous cache) with
launch_flags 0 and FA_LAUNCH_NO_PDL, and cuDNN ([b, s, h, d] view and
[b, h, s, d] copy), interleaved, best median of R rounds each.
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--json")
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
        t = B.best_of_rounds(variants, args.rounds)
        same = bool(torch.equal(pdl().view(torch.int16), plain().view(torch.int16)))
        cudnn = min(t["cudnn_bshd"], t["cudnn_bhsd"])
        row = {"row": f"decode b{b} kv{length} gqa32/8 d128 bf16", "kernel": pdl.kernel,
               "ours_ms": t["pdl"], "ours_no_pdl_ms": t["no_pdl"], "cudnn_bshd_ms": t["cudnn_bshd"],
               "cudnn_bhsd_ms": t["cudnn_bhsd"], "cudnn_ms": cudnn, "same_bits": same}
        rows.append(row)
        print(f"{row['row']:40s} pdl {t['pdl'] * 1e3:7.1f} us (x{cudnn / t['pdl']:.3f} cuDNN) | "
              f"no_pdl {t['no_pdl'] * 1e3:7.1f} us (x{cudnn / t['no_pdl']:.3f}) | cudnn {cudnn * 1e3:7.1f} us | "
              f"same bits {same}", flush=True)
    print(f"Device: {torch.cuda.get_device_name()}; torch {torch.__version__}; {datetime.date.today().isoformat()}; "
          f"best median of {args.rounds} interleaved rounds (triton do_bench, L2 flushed)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
