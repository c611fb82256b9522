#!/usr/bin/env python3
"""Tables from wgmma_ab.sh's per-round files (ab_<side>.<round>: one line per
benchmark row, "row<TAB>ms<TAB>kernel").

  python3 bench/ab_table.py LOGDIR NEW OLD [OLD2 ...]
      Markdown: per row the median ms of NEW and of each other side,
      NEW/side (below 1: NEW is faster), each side's min-max over the rounds.
  python3 bench/ab_table.py --text LOGDIR A [X ...]
      wgmma_ab.sh's summary: per row A's median ms and A/X for each other
      side, then per head dim the range and median of A/X over the rows from
      s1024 (s512 and the packed rows left out).
"""
import glob
import statistics
import sys


def read_side(logdir, side):
    """{row: ([ms per round], kernel)} and the rows in the order of the first round."""
    rows = {}
    order = []
    for path in sorted(glob.glob(f"{logdir}/ab_{side}.*")):
        if path.endswith(".err"):
            continue
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 3:
                    continue
                name, ms, kernel = parts[0], float(parts[1]), parts[2].strip()
                if name not in rows:
                    rows[name] = ([], kernel)
                    order.append(name)
                rows[name][0].append(ms)
    return rows, order


def markdown(logdir, new, others):
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


def text(logdir, sides):
    data = {s: read_side(logdir, s) for s in sides}
    base = sides[0]  # "A", or "pA" for wgmma_ab.sh's second interleave mode
    a_rows, order = data[base]
    if not order:
        print("no timing")
        return
    others = [s for s in sides[1:] if data[s][1]]

    def med(side, row):
        v = data[side][0].get(row, ([], ""))[0]
        return statistics.median(v) if v else None

    print(f"{base}/X = {base} ms / X ms: above 1, X is faster than {base} (X = O: the old tree is faster than this one)")
    print(f"{'row':34} {base + ' ms':>9} " + " ".join(f"{base + '/' + s:>6}" for s in others) + f"  kernel ({base})")
    ratios = {s: {} for s in others}
    for row in order:
        ma = med(base, row)
        cols = []
        for s in others:
            mb = med(s, row)
            if mb:
                ratios[s][row] = ma / mb
            cols.append(f"{ma / mb:6.3f}" if mb else f"{'-':>6}")
        print(f"{row:34} {ma:9.4f} " + " ".join(cols) + f"  {a_rows[row][1]}")
    for s in others:
        for d in ("d64 ", "d128 ", "d256 "):
            rs = [v for k, v in ratios[s].items() if d in k and "s512 " not in k and "packed" not in k]
            if rs:
                print(f"{s} {d.strip()}: speed {s}/{base} ({base} ms / {s} ms) {min(rs):.3f} .. {max(rs):.3f}, "
                      f"median {statistics.median(rs):.3f} (s2048, s8192)")


def main():
    if sys.argv[1] == "--text":
        text(sys.argv[2], sys.argv[3:])
    else:
        markdown(sys.argv[1], sys.argv[2], sys.argv[3:])


if __name__ == "__main__":
    main()
