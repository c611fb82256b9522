"""Two Nsight Compute raw CSVs (`--csv --page raw`) side by side
(bench/ncu_dram.sh): ours, then the peer's.

    python3 bench/ncu_dram_diff.py OURS.csv PEER.csv
        counters that differ by more than NCU_DRAM_DIFF (default 0.03),
        each also per MB of DRAM read where it is a count
    python3 bench/ncu_dram_diff.py --timeline OURS_PM.csv PEER_PM.csv
        the PM-sampling series (`--print-metric-instances values`): each
        side's active samples, mean DRAM read throughput and the samples
        lost below peak (the wave transitions' dips: compare these
        between two builds), the DRAM and CTA-launch series sample by
        sample, then DRAM-related metrics bucketed into 20 shares
"""
import csv
import os
import sys


def table(path):
    """{metric: (unit, value string)} of the last kernel in the CSV."""
    rows = []
    with open(path, errors="replace") as f:
        lines = [ln for ln in f if ln.startswith('"')]
    for r in csv.reader(lines):
        rows.append(r)
    head = next((i for i, r in enumerate(rows) if r and r[0] == "ID"), None)
    if head is None or len(rows) < head + 3:
        return {}
    names, units, last = rows[head], rows[head + 1], rows[-1]
    return {n: (u, v) for n, u, v in zip(names, units, last)}


def number(v):
    try:
        return float(v.replace(",", ""))
    except ValueError:
        return None


def diff(ours_path, peer_path):
    ours, peer = table(ours_path), table(peer_path)
    if not ours or not peer:
        print(f"no table: ours {len(ours)} metrics, peer {len(peer)}")
        return
    print(f"kernels: ours {ours.get('Kernel Name', ('', '?'))[1][:50]} | peer {peer.get('Kernel Name', ('', '?'))[1][:50]}")
    dram_ours = number(ours.get("dram__bytes_read.sum", ("", "0"))[1]) or 0
    dram_peer = number(peer.get("dram__bytes_read.sum", ("", "0"))[1]) or 0
    limit = float(os.environ.get("NCU_DRAM_DIFF", "0.03"))
    shown = 0
    for name in sorted(set(ours) & set(peer)):
        a, b = number(ours[name][1]), number(peer[name][1])
        if a is None or b is None or a == 0 or b == 0:
            continue  # a counter one side lacks says nothing per byte
        unit = ours[name][0]
        rel = (a - b) / max(abs(b), 1e-30)
        per = ""
        counted = name.endswith(".sum") and unit not in ("%",) and dram_ours and dram_peer
        if counted:
            ra, rb = a / dram_ours, b / dram_peer
            rel = (ra - rb) / max(abs(rb), 1e-30)  # a count compares per DRAM byte
            per = f"  per dram byte {ra:.4g} / {rb:.4g}"
        if abs(rel) > limit or name.startswith(("gpu__time", "dram__throughput", "dram__bytes_read.sum")):
            print(f"{name[:72]:72s} {unit[:8]:8s} ours {a:12.5g} peer {b:12.5g} ({rel:+.1%}){per}")
            shown += 1
    print(f"{shown} of {len(set(ours) & set(peer))} metrics shown")


def series(path):
    """{metric: [floats]} of the PM-sampling metrics with several values."""
    out = {}
    for name, (unit, v) in table(path).items():
        if ";" not in v or not ("dram" in name or "fbpa" in name or "lts" in name or "time" in name):
            continue
        vals = [number(x) for x in v.split(";")]
        out[name] = [x for x in vals if x is not None]
    return out


def deficit(path):
    """From the PM series: the launch's active samples (DRAM read above 1%
    of peak), their mean, the samples lost to throughput below peak (sum
    of (100 - x) / 100: dips at wave transitions and the ramps), and the
    DRAM read throughput and CTA launches per sample over the active part."""
    t = table(path)
    dram = next((n for n in t if "dramc__read_throughput" in n), None)
    ctas = next((n for n in t if "ctas_launched" in n), None)
    if dram is None:
        return None
    d = [number(x) or 0.0 for x in t[dram][1].split(";")]
    act = [i for i, x in enumerate(d) if x > 1]
    if not act:
        return None
    seg = d[act[0]:act[-1] + 1]
    c = [number(x) or 0.0 for x in t[ctas][1].split(";")][act[0]:act[-1] + 1] if ctas else []
    return len(seg), sum(seg) / len(seg), sum(100 - x for x in seg) / 100, seg, c


def timeline(ours_path, peer_path):
    for who, path in (("ours", ours_path), ("peer", peer_path)):
        got = deficit(path)
        if got:
            n, mean, lost, seg, c = got
            print(f"{who}: {n} active samples, DRAM read {mean:.1f}% of peak, {lost:.2f} samples lost below peak")
            print(f"{who} dram %: " + " ".join(f"{x:.0f}" for x in seg))
            if c:
                print(f"{who} ctas:   " + " ".join(f"{x:.0f}" for x in c))
        s = series(path)
        if not s:
            names = [n for n in table(path) if n.startswith("pmsampling")][:12]
            print(f"{who}: no series (pmsampling columns: {names})")
            continue
        for name, vals in s.items():
            if "time" in name and "dram" not in name:
                continue
            n = len(vals)
            k = 20
            buckets = [vals[i * n // k:(i + 1) * n // k] for i in range(k)]
            means = " ".join(f"{sum(b) / len(b):5.1f}" if b else "  -  " for b in buckets)
            print(f"{who} {name[:60]} ({n} samples): {means}")


if __name__ == "__main__":
    if sys.argv[1] == "--timeline":
        timeline(sys.argv[2], sys.argv[3])
    else:
        diff(sys.argv[1], sys.argv[2])
