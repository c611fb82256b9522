#!/usr/bin/env python3
"""Markdown table from wgmma_ab.sh's per-round files (ab_<side>.<round>).

  python3 bench/ab_table.py LOGDIR NEW OLD [OLD2 ...]
prints one row per benchmark row: the median ms of NEW, of each other side,
NEW/side (below 1: NEW is faster), and each side's min-max over the rounds.
"""
import glob
import statistics
import sys


def read_side(logdir, side):
    rows = {}
    order = []
    for path in sorted(glob.glob(f"{logdir}/ab_{side}.*")):
        if path.endswith(".err"):
            continue
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 3:
                    continue
                name, ms, kernel = parts[0], float(parts[1]), parts[2]
                if name not in rows:
                    rows[name] = ([], kernel)
                    order.append(name)
                rows[name][0].append(ms)
    return rows, order


def main():
    logdir, new, others = sys.argv[1], sys.argv[2], sys.argv[3:]
    sides = [new] + others
    data = {s: read_side(logdir, s)[0] for s in sides}
    order = read_side(logdir, new)[1]
    head = ["row", f"{new} ms"] + [f"{s} ms" for s in others]
    head += [f"{new}/{s}" for s in others] + [f"{s} min-max" for s in sides] + ["kernel"]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for name in order:
        if any(name not in data[s] for s in sides):
            continue
        med = {s: statistics.median(data[s][name][0]) for s in sides}
        cells = [name] + [f"{med[s]:.4f}" for s in sides]
        cells += [f"{med[new] / med[s]:.3f}" for s in others]
        cells += [f"{min(data[s][name][0]):.4f}-{max(data[s][name][0]):.4f}" for s in sides]
        cells.append(data[new][name][1])
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
