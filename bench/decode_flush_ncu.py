"""The decode bar rows right after do_bench's L2 flush, for Nsight Compute
(fwd_decode.md [event-gap]).

    python3 bench/decode_flush_ncu.py [--rows 1:131072,8:32768,...] [--reps 2] [--flush zero|read|none]
    python3 bench/decode_flush_ncu.py --parse NCU_CSV [the same --rows, --reps]

do_bench zeroes a 256 MB buffer before every call; L2 ends the flush full
of dirty lines, which the timed call's reads evict (DRAM writes inside the
call). decode_overhead.py saw our kernels' span from the flush's end level
with cuDNN's, yet do_bench puts ours 0.1-1.4% behind (eightieth session:
graphs keep the gap, so the launch path is out).
Found (eighty-first session, H100): the flush is not the cause; our
kernels run 0.5-2.7% longer than cuDNN's with the same DRAM bytes, with
or without it (bench/results-h100-2026-12-06-s81.md section 3).

Run mode: each row (bf16, GQA 32/8, d128, one query a sequence, contiguous
cache) warms up outside the profiled range, then, inside
cudaProfilerStart/Stop, `reps` times: flush, our call; flush, cuDNN on the
[b, h, s, d] copy; flush, cuDNN on the view. Under
`ncu --profile-from-start off --replay-mode application --cache-control none`
every kernel sees the flush just before it as do_bench leaves it.
--flush read: the 256 MB are summed instead (L2 full of other, clean
lines), then a 4-byte fill marks the call; --flush none: only the marker
(L2 holding the last call's K/V, as a steady loop of calls).

--time: no profile; each side timed as do_bench does (the pre-call step,
an event, the call, an event; sides interleaved call by call).
--splits N,...: with --time, ours also at each forced num_splits (side
ours_sN), e.g. 1 puts a batch whose longest cache reaches 16k keys on the
kernel without a plan (fwd_decode.md "A kernel per plan").
--libs NAME=PATH,...: with --time, another build's libflashattn.so as one
more side (ours_NAME), interleaved call by call with the rest: an A/B of
two builds against cuDNN in one loop.
--dense: with --time, each build also as the dense [b, s, h, d] call
without seqused_k (ours_dense, ours_dense_NAME): the host knows every
cache's length there, so no split plan runs on the device.
--sides bhsd,nopdl,bhsd_nopdl: more sides of ours, profiled and timed
(after the three above): ours_bhsd on the [b, h, s, d] copy (dense strided,
seqused_k), ours_nopdl with FA_LAUNCH_NO_PDL, ours_bhsd_nopdl both. The
ninety-second session saw do_bench read ours 1.6% faster over bhsd at b128
while ncu (L2 flushed clean, kernel alone) put the two 0.2% apart: whether
the kernel differs after do_bench's flush, or only the launch between
calls, shows here (fwd_decode.md item 1).
--cold: with --time, an untimed cuDNN call before each of our calls (and
its flush), so that none of ours follows one of ours. Found in the
eighty-second session (H100): a side whose previous call ran the same
kernel reads 1-2% faster than one after other code (the flush empties L2,
not the SMs' instruction caches), so with several of our sides the place
in the order decides; cuDNN's kernels did not show it.

Parse mode: NCU_CSV (`ncu --csv --print-units base`) split at each flush
kernel into (row, side, rep) by the launch order (plan_of), and per side
the median over reps of: kernels, summed duration (us), DRAM read and write
(MB), L2 lookups from the SMs (MB), and of the longest kernel its SMs'
active cycles (average and busiest) over its elapsed cycles.
"""
import argparse
import csv
import statistics
import sys

FLUSH_BYTES = 256 << 20
SIDES = ("ours", "cudnn_bhsd", "cudnn_bshd")
METRICS = ("gpu__time_duration.sum", "dram__bytes_read.sum", "dram__bytes_write.sum",
           "lts__t_sectors_srcunit_tex_op_read.sum", "sm__cycles_active.avg", "sm__cycles_active.max",
           "sm__cycles_elapsed.avg")


EXTRA_SIDES = ("bhsd", "nopdl", "bhsd_nopdl")


def sides_of(extra):
    return SIDES + tuple(f"ours_{x}" for x in extra)


def plan_of(rows, reps, extra=()):
    """(row, side, rep) of each flush, in launch order."""
    return [(f"b{b}:kv{length}", side, rep) for b, length in rows for rep in range(reps) for side in sides_of(extra)]


def extra_calls(pr, extra, no_pdl):
    """ours_<x> for each --sides entry x."""
    calls = {}
    for x in extra:
        call = pr.ours_bhsd() if x.startswith("bhsd") else pr.ours()
        if x.endswith("nopdl"):
            call.p.launch_flags = no_pdl
        calls[f"ours_{x}"] = call
    return calls


def time_events(problems, before_call, mode, torch, calls_a_round=50, rounds=5, cold=False):
    """do_bench's method by hand: before_call, event, the call, event; the
    sides interleaved call by call, median per round, best round. cold:
    cuDNN (untimed) before each of our calls."""
    for b, length, _, calls in problems:
        best = {}
        for _ in range(rounds):
            ev = {side: [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                         for _ in range(calls_a_round)] for side in calls}
            for i in range(calls_a_round):
                for side in calls:
                    if cold and side.startswith("ours"):
                        before_call()
                        calls["cudnn_bhsd"]()
                    before_call()
                    ev[side][i][0].record()
                    calls[side]()
                    ev[side][i][1].record()
            torch.cuda.synchronize()
            for side in calls:
                med = statistics.median(a.elapsed_time(z) for a, z in ev[side]) * 1e3
                best[side] = min(best.get(side, med), med)
        cudnn = min(best["cudnn_bhsd"], best["cudnn_bshd"])
        forced = "".join(f"  {side} {best[side]:7.1f} ({cudnn / best[side]:.4f})" for side in calls if side not in SIDES)
        print(f"time --flush {mode:4s} b{b}:kv{length:<7d} ours {best['ours']:7.1f} us  cudnn_bhsd "
              f"{best['cudnn_bhsd']:7.1f}  cudnn_bshd {best['cudnn_bshd']:7.1f}  cuDNN/ours {cudnn / best['ours']:.4f}"
              f"{forced}", flush=True)


def run(rows, reps, mode, timed=False, splits=(), libs=(), head_dim=128, cold=False, dense=False, extra=()):
    import os

    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_decode as B

    B.D = head_dim
    B.LIB = B.N.load()
    other_libs = [(name, B.N.load(path)) for name, path in libs]
    flush = torch.zeros(FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
    marker = torch.empty(1, dtype=torch.int32, device="cuda")

    def before_call():  # ends with a fill kernel: parse() splits the profile there
        if mode == "zero":
            flush.zero_()
            return
        if mode == "read":
            flush.sum()
        marker.zero_()
    problems = []
    for b, length in rows:
        pr = B.DecodeProblem(b, length)
        calls = {"ours": pr.ours(), "cudnn_bhsd": lambda pr=pr: pr.cudnn(pr.kc, pr.vc),
                 "cudnn_bshd": lambda pr=pr: pr.cudnn(pr.kd, pr.vd)}
        calls.update(extra_calls(pr, extra, B.N.FA_LAUNCH_NO_PDL))
        if timed:
            calls.update({f"ours_s{n}": pr.ours(num_splits=n) for n in splits})
            calls.update({f"ours_{name}": pr.ours(lib=lib) for name, lib in other_libs})
            if dense:
                calls["ours_dense"] = pr.ours_dense()
                calls.update({f"ours_dense_{name}": pr.ours_dense(lib=lib) for name, lib in other_libs})
        for fn in calls.values():  # warm-up: cuDNN builds its graph, ours its first launch
            for _ in range(3):
                before_call()
                fn()
        problems.append((b, length, pr, calls))
    torch.cuda.synchronize()
    if timed:
        time_events(problems, before_call, mode, torch, cold=cold)
        return
    torch.cuda.profiler.start()
    for b, length, _, calls in problems:
        for rep in range(reps):
            for side in sides_of(extra):
                before_call()
                calls[side]()
    torch.cuda.synchronize()
    torch.cuda.profiler.stop()


def parse(path, plan):
    """Kernels in launch order, split at the flushes (fill kernels)."""
    kernels = {}
    with open(path, newline="") as fh:
        lines = [ln for ln in fh if ln.startswith('"')]
    for rec in csv.DictReader(lines):
        if rec.get("Metric Name") not in METRICS:
            continue
        k = kernels.setdefault(int(rec["ID"]), {"name": rec["Kernel Name"]})
        k[rec["Metric Name"]] = float(rec["Metric Value"].replace(",", ""))
    segments = []
    for kid in sorted(kernels):
        k = kernels[kid]
        if "FillFunctor" in k["name"]:
            segments.append([])
        elif "at::" in k["name"]:  # --flush read's sum (and its output's fill), not a side's kernel
            continue
        elif segments:
            segments[-1].append(k)
    if len(segments) != len(plan):
        print(f"parse: {len(segments)} flushes in the profile, {len(plan)} in the plan", file=sys.stderr)
    table = {}
    for (row, side, _), seg in zip(plan, segments):
        t = table.setdefault((row, side), [])
        t.append({"n": len(seg), "us": sum(k.get(METRICS[0], 0) for k in seg) / 1e3,
                  "read": sum(k.get(METRICS[1], 0) for k in seg) / 1e6,
                  "write": sum(k.get(METRICS[2], 0) for k in seg) / 1e6,
                  "l2": sum(k.get(METRICS[3], 0) for k in seg) * 32 / 1e6,
                  "names": ",".join(sorted({k["name"][:40] for k in seg}))})
        main = max(seg, key=lambda k: k.get(METRICS[0], 0)) if seg else {}
        el = max(main.get(METRICS[6], 0), 1.0)
        t[-1].update(act=main.get(METRICS[4], 0) / el, actmax=main.get(METRICS[5], 0) / el)
    print(f"{'row':16s} {'side':11s} {'kernels':>7s} {'us':>8s} {'dram rd MB':>10s} {'dram wr MB':>10s} "
          f"{'L2 rd MB':>9s} {'act avg':>7s} {'act max':>7s}  kernels")
    for (row, side), ts in table.items():
        med = {f: statistics.median(t[f] for t in ts) for f in ("n", "us", "read", "write", "l2", "act", "actmax")}
        print(f"{row:16s} {side:11s} {med['n']:7.0f} {med['us']:8.1f} {med['read']:10.1f} {med['write']:10.1f} "
              f"{med['l2']:9.1f} {med['act']:7.3f} {med['actmax']:7.3f}  {ts[0]['names']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1:131072,8:32768,32:8192,128:1024")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--flush", choices=("zero", "read", "none"), default="zero")
    ap.add_argument("--time", action="store_true", help="no profile: CUDA events around each call (do_bench's way)")
    ap.add_argument("--parse", help="an ncu --csv file of a run with the same --rows and --reps")
    ap.add_argument("--splits", default="", help="with --time: N,... ours also at each forced num_splits")
    ap.add_argument("--libs", default="", help="with --time: NAME=PATH,... other builds as more sides")
    ap.add_argument("--head-dim", type=int, default=128, help="the rows' head dim (bench_decode.D)")
    ap.add_argument("--cold", action="store_true", help="with --time: an untimed cuDNN call before each of ours")
    ap.add_argument("--sides", default="", help="more sides of ours, profiled and timed: " + ",".join(EXTRA_SIDES))
    ap.add_argument("--dense", action="store_true",
                    help="with --time: each build also as a dense call without seqused_k (side ours_dense[_NAME])")
    args = ap.parse_args()
    rows = [tuple(int(x) for x in r.split(":")) for r in args.rows.split(",")]
    extra = tuple(x for x in args.sides.split(",") if x)
    bad = [x for x in extra if x not in EXTRA_SIDES]
    if bad:
        ap.error(f"--sides: {bad} not among {EXTRA_SIDES}")
    if args.parse:
        parse(args.parse, plan_of(rows, args.reps, extra))
    else:
        libs = [tuple(item.split("=", 1)) for item in args.libs.split(",") if item]
        run(rows, args.reps, args.flush, args.time, [int(n) for n in args.splits.split(",") if n], libs,
            args.head_dim, args.cold, args.dense, extra)


if __name__ == "__main__":
    main()
