"""The SASS lines with the most warp stall samples in an Nsight Compute
source page (`ncu --import R --page source --print-source sass --csv`), as
percentages of all samples, with each line's index in the listing (to find
its neighbours in the CSV). Used by decode_profile.sh, ncu_compare.sh and
ncu_prefill.sh; its reader (source_table, num) by ncu_sass_blocks.py.

    python3 bench/ncu_sass_top.py SASS.csv [TOP]
"""
import csv
import sys


def num(x):
    try:
        return float(x.replace(",", ""))
    except ValueError:
        return 0.0


def source_table(path):
    """(header, body rows) of the SASS table in the CSV, or None."""
    rows = list(csv.reader(open(path, errors="replace")))
    head = next((i for i, r in enumerate(rows) if "Source" in r and any("Sampling" in c for c in r)), None)
    if head is None:
        print("no source table:", " | ".join(rows[0])[:200] if rows else "empty")
        return None
    h = rows[head]
    return h, [r for r in rows[head + 1:] if len(r) == len(h)]


def main():
    table = source_table(sys.argv[1])
    if table is None:
        return
    h, body = table
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    src = h.index("Source")
    samp = next(i for i, c in enumerate(h) if c.startswith("Warp Stall Sampling (All"))
    total = sum(num(r[samp]) for r in body) or 1.0
    for i, r in sorted(enumerate(body), key=lambda x: -num(x[1][samp]))[:top]:
        print(f"{100 * num(r[samp]) / total:5.1f}%  #{i:5d}  {r[src][:100]}")


if __name__ == "__main__":
    main()
