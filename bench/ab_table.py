#!/usr/bin/env python3
"""Tables from wgmma_ab.sh's per-round files (ab_<side>.<round>: one line per
benchmark row, "row<TAB>ms<TAB>kernel").

  python3 bench/ab_table.py LOGDIR NEW OLD [OLD2 ...]
      Markdown: per row the median ms of NEW and of each other side,
      NEW/side (below 1: NEW is faster), the geometric mean of the rounds'
      NEW/side, each side's min-max over the rounds.
  python3 bench/ab_table.py --text LOGDIR A [X ...]
      wgmma_ab.sh's summary: per row A's median ms, A/X (ratio of the medians)
      and A/X gm for each other side, then per head dim the range and median
      of A/X gm over the rows from s1024 (s512 and the packed rows left out).

Why the geometric mean of the rounds' ratios (forty-eighth session): with
two sides ab_serve.py alternates which side runs a row first, and on the
short rows that order alone moved a row's time by up to 20% (d64 s512 full,
200 reps: A/B 1.21, 0.83, 1.25, 0.82, ... by round). Each side's median over
the rounds then falls between two modes, and the ratio of the medians swung
by 3-4% between calls of the same two builds; the ratio within a round
pairs the two sides under one order, and over an even number of rounds the
orders cancel in its geometric mean.
"""
import glob
import statistics
import sys


def round_number(path):
    suffix = path.rsplit(".", 1)[1]
    return int(suffix) if suffix.isdigit() else None


def read_side(logdir, side):
    """{row: ([ms per round], kernel, {round: ms})} and the rows in the order of the first round."""
    rows = {}
    order = []
    paths = [p for p in glob.glob(f"{logdir}/ab_{side}.*") if round_number(p) is not None]
    for path in sorted(paths, key=round_number):
        r = round_number(path)
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 3:
                    continue
                name, ms, kernel = parts[0], float(parts[1]), parts[2].strip()
                if name not in rows:
                    rows[name] = ([], kernel, {})
                    order.append(name)
                rows[name][0].append(ms)
                rows[name][2][r] = ms
    return rows, order


def paired_gm(x, y):
    """Geometric mean over the rounds both sides ran of x ms / y ms (rows as read_side's)."""
    common = sorted(set(x[2]) & set(y[2]))
    if not common:
        return None
    return statistics.geometric_mean([x[2][r] / y[2][r] for r in common])


def markdown(logdir, new, others):
    sides = [new] + others
    data = {s: read_side(logdir, s)[0] for s in sides}
    order = read_side(logdir, new)[1]
    head = ["row", f"{new} ms"] + [f"{s} ms" for s in others]
    head += [f"{new}/{s}" for s in others] + [f"{new}/{s} gm" for s in others]
    head += [f"{s} min-max" for s in sides] + ["kernel"]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for name in order:
        if any(name not in data[s] for s in sides):
            continue
        med = {s: statistics.median(data[s][name][0]) for s in sides}
        cells = [name] + [f"{med[s]:.4f}" for s in sides]
        cells += [f"{med[new] / med[s]:.3f}" for s in others]
        cells += [f"{paired_gm(data[new][name], data[s][name]):.3f}" for s in others]
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
    print(f"{'row':34} {base + ' ms':>9} " + " ".join(f"{base + '/' + s:>6}" for s in others) + " "
          + " ".join(f"{base + '/' + s + ' gm':>9}" for s in others) + f"  kernel ({base})")
    ratios = {s: {} for s in others}
    for row in order:
        ma = med(base, row)
        cols, gms = [], []
        for s in others:
            mb = med(s, row)
            gm = paired_gm(a_rows[row], data[s][0][row]) if row in data[s][0] else None
            if gm:
                ratios[s][row] = gm
            cols.append(f"{ma / mb:6.3f}" if mb else f"{'-':>6}")
            gms.append(f"{gm:9.3f}" if gm else f"{'-':>9}")
        print(f"{row:34} {ma:9.4f} " + " ".join(cols) + " " + " ".join(gms) + f"  {a_rows[row][1]}")
    for s in others:
        for d in ("d64 ", "d128 ", "d256 "):
            rs = [v for k, v in ratios[s].items() if d in k and "s512 " not in k and "packed" not in k]
            if rs:
                print(f"{s} {d.strip()}: speed {s}/{base} ({base} ms / {s} ms, gm of the rounds) {min(rs):.3f} .. "
                      f"{max(rs):.3f}, median {statistics.median(rs):.3f} (s2048, s8192)")


def main():
    if sys.argv[1] == "--text":
        text(sys.argv[2], sys.argv[3:])
    else:
        markdown(sys.argv[1], sys.argv[2], sys.argv[3:])


if __name__ == "__main__":
    main()
