#!/usr/bin/env python3
"""Time several builds' ab_prefill row by row, interleaved, in one call.

  python3 bench/ab_serve.py --out DIR --rounds R SIDE=BINARY ... -- [ab_prefill options]

Starts `BINARY --serve [options]` for each side (each process holds its own
inputs on the GPU; only one runs a row at a time), then for each round and
each row asks every side for that row, the order of the sides rotated by
round + row, so no side is always first. Writes DIR/ab_<SIDE>.<round> in
ab_prefill's format ("row<TAB>ms<TAB>kernel"; skipped rows left out), which
bench/ab_table.py reads.

Why rows and not whole runs: wgmma_ab.sh times each side's whole grid in
turn, and the H200's clocks follow its power and temperature over seconds,
so a row's time can depend on the rows before it in that process (in the
nineteenth session's call 2, two builds with the same d64 kernels but
slower d128 kernels in one read 1.024-1.040 apart on the fp16 d64 rows).
Row by row, every side meets the GPU in about the same state (the
twenty-fifth session saw the same bias again, 1.5-5.8% on unchanged rows
by whole runs, 0.989-1.020 by rows: wgmma_ab.sh's default since). Where
the sides share most kernels it is no tighter than whole runs (wgmma_ab.sh,
AB_INTERLEAVE, has the calibration).

Before the first round every side times the first row once and the
result is dropped (--warmup-rows, default 1): in four of the fifty-third
session's calls the grid's first row read side A 3.7-4.2% slower, once
between two sides with the same kernel, though the order is rotated.
Whether the dropped row removes that bias was not yet measured.
"""
import argparse
import os
import subprocess
import sys


def main():
    argv = sys.argv[1:]
    opts = argv[argv.index("--") + 1:] if "--" in argv else []
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup-rows", type=int, default=1, help="rows each side times once, dropped, first")
    ap.add_argument("sides", nargs="+", metavar="SIDE=BINARY")
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    sides = [tuple(a.split("=", 1)) for a in args.sides]
    procs = {}
    n_rows = None
    for name, binary in sides:
        err = open(os.path.join(args.out, f"ab_{name}.err"), "w")
        p = subprocess.Popen([binary, "--serve"] + opts, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=err, text=True, bufsize=1)
        first = p.stdout.readline().split()
        if len(first) != 2 or first[0] != "rows":
            sys.exit(f"ab_serve: {name}: expected 'rows N', got {first!r} (see ab_{name}.err)")
        if n_rows is not None and int(first[1]) != n_rows:
            sys.exit(f"ab_serve: {name} has {first[1]} rows, the first side {n_rows}")
        n_rows = int(first[1])
        procs[name] = p
    names = [n for n, _ in sides]
    for k in range(min(args.warmup_rows, n_rows)):
        for name in names:
            p = procs[name]
            p.stdin.write(f"{k}\n")
            p.stdin.flush()
            if not p.stdout.readline():
                sys.exit(f"ab_serve: {name} stopped at warm-up row {k} (see ab_{name}.err)")
    files = {(n, r): open(os.path.join(args.out, f"ab_{n}.{r}"), "w")
             for n in names for r in range(1, args.rounds + 1)}
    for r in range(1, args.rounds + 1):
        for k in range(n_rows):
            for j in range(len(names)):
                name = names[(j + r + k) % len(names)]
                p = procs[name]
                p.stdin.write(f"{k}\n")
                p.stdin.flush()
                line = p.stdout.readline()
                if not line:
                    sys.exit(f"ab_serve: {name} stopped at row {k} (see ab_{name}.err)")
                if line.rstrip("\n").split("\t")[1:2] != ["skipped"]:
                    files[(name, r)].write(line)
                    files[(name, r)].flush()
    for p in procs.values():
        p.stdin.close()
        p.wait(timeout=60)
    for f in files.values():
        f.close()


if __name__ == "__main__":
    main()
