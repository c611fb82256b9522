"""Summarize bench/trace_decode.cu's per-block timeline of one decode launch.

    python3 bench/trace_decode.py TRACE.txt [--blocks]

Prints, in microseconds (global timer) and SM cycles (within a block):
- the launch: blocks with a piece and without (empty blocks past the
  pieces, or pieces with no rows), its span (first entry to last exit), the
  traced call's time, K/V bytes over the span;
- each phase's p10 / median / p90 over the blocks with work: entry to
  piece (the plan by length, or the index arithmetic), piece to Q landed
  (first tiles issued before it), Q to a warp's first tile, the main loop,
  the spread of the warps' loop ends, the merge, the epilogue;
- the grid over time: when blocks start (the last first-wave entry, the
  last entry), when 50 / 90 / 100% of them exit, the slots' busy share
  (block lifetimes over slots x span) and the streaming share (main loops
  over slots x span), the SMs' last exits (p10 / median / max);
- the waves' turnover: how close the first wave's loop ends lie, and per
  later block the time from the exit that freed its slot to its entry and
  from that block's loop end to its own first tile;
- with --blocks, one line per block in entry order.
The global timer's resolution is printed (the smallest step between
distinct values seen); below about 100 ns, the us columns are sound, and
the cycle columns are exact either way.
"""
import argparse
import statistics
import sys

COLS = ("block smid b kv_head mt split splits entry piece q merged exit w0_first w0_end w1_first w1_end w2_first "
        "w2_end w3_first w3_end steps0 steps1 steps2 steps3 c_piece c_q c_merged c_exit c0_first c0_end c1_first "
        "c1_end c2_first c2_end c3_first c3_end wait0 wait1 wait2 wait3 p_sum p_splits p_sorted p_scanned").split()
PLAN_COLS = 4  # the warp plan's phases (ninety-fourth session); older traces lack them


def read(path):
    meta, blocks = {}, []
    for line in open(path):
        if line.startswith("# call_ms"):
            meta["call_ms"] = [float(x) for x in line.split()[2:]]
        elif line.startswith("# kv_bytes"):
            meta["kv_bytes"] = int(line.split()[2])
        elif line.startswith("# kernel"):
            meta["kernel"] = line[2:].strip()
            f = line.split()
            meta["sms"] = int(f[f.index("sms") + 1]) if "sms" in f else 132
        elif line.startswith("#") or not line.strip():
            continue
        else:
            try:
                v = [int(x) for x in line.split()]
            except ValueError:  # the harness's own messages (an error, a dispatch warning)
                meta.setdefault("messages", []).append(line.strip())
                continue
            if len(v) == len(COLS) - PLAN_COLS:
                v += [-1] * PLAN_COLS
            if len(v) == len(COLS):
                blocks.append(dict(zip(COLS, v)))
    return meta, blocks


def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


def row(name, xs, scale=1e-3, unit="us"):
    if not xs:
        return f"{name:34s} (none)"
    return (f"{name:34s} p10 {q(xs, 0.1) * scale:9.3f}  median {statistics.median(xs) * scale:9.3f}  "
            f"p90 {q(xs, 0.9) * scale:9.3f}  max {max(xs) * scale:9.3f} {unit}  (n {len(xs)})")


def warp_cols(b, mark):
    """The block's warps' values of mark (first | end), those reached."""
    return [b[f"w{w}_{mark}"] for w in range(4) if b[f"w{w}_{mark}"] >= 0]


def warp_loops(b):
    """Each warp's main loop (first tile to loop end), warps with steps."""
    return [b[f"w{w}_end"] - b[f"w{w}_first"] for w in range(4) if b[f"w{w}_first"] >= 0 and b[f"w{w}_end"] >= 0]


def summarize(meta, blocks, per_block):
    print(meta.get("kernel", "?"))
    for m in meta.get("messages", []):
        print(m)
    work = [b for b in blocks if b["q"] >= 0]
    empty = [b for b in blocks if b["q"] < 0]
    if not blocks:
        print("no records (was the traced kernel the one dispatch picked?)")
        return
    start = min(b["entry"] for b in blocks)
    end = max(b["exit"] for b in blocks if b["exit"] >= 0)
    span = end - start
    stamps = sorted({b[c] for b in blocks for c in ("entry", "piece", "q", "merged", "exit") if b[c] >= 0})
    steps = [y - x for x, y in zip(stamps, stamps[1:]) if y > x]
    call = meta.get("call_ms", [])
    print(f"blocks {len(blocks)}: {len(work)} with work, {len(empty)} without; span {span / 1e3:.2f} us "
          f"(traced call {call[-1] * 1e3 if call else float('nan'):.2f} us, calls {', '.join(f'{c * 1e3:.1f}' for c in call)}); "
          f"timer step {min(steps) if steps else 0} ns")
    if "kv_bytes" in meta and span > 0:
        print(f"K/V {meta['kv_bytes'] / 1e9:.3f} GB: {meta['kv_bytes'] / span / 1e3:.3f} TB/s over the span")
    if empty:
        print(row("empty block: entry -> exit", [b["exit"] - b["entry"] for b in empty if b["exit"] >= 0]))
    print(row("entry -> piece", [b["piece"] - b["entry"] for b in work]))
    print(row("piece -> Q landed", [b["q"] - b["piece"] for b in work]))
    # blocks that entered after the first microsecond took a freed slot:
    # their start is a turnover's, with the kernel's code warm on the SM
    later = [b for b in work if b["entry"] - start >= 1000]
    if later:
        print(row("later waves: entry -> piece", [b["piece"] - b["entry"] for b in later]))
        print(row("later waves: piece -> Q landed", [b["q"] - b["piece"] for b in later]))
    print(row("Q -> first tile (warp mean)",
              [statistics.mean([f - b["q"] for f in warp_cols(b, "first")]) for b in work if warp_cols(b, "first")]))
    loops = [x for b in work for x in warp_loops(b)]
    print(row("main loop (each warp)", loops))
    print(row("warps' loop ends: max - min",
              [max(warp_cols(b, "end")) - min(warp_cols(b, "end")) for b in work if len(warp_cols(b, "end")) > 1]))
    merges = [b["merged"] - max(warp_cols(b, "end") or [b["q"]]) for b in work]
    print(row("last loop end -> merged", merges))
    print(row("merged -> exit (epilogue)", [b["exit"] - b["merged"] for b in work if b["exit"] >= 0]))
    # a stall on a GPC's first finishers (fwd_decode.md "A kernel per plan")
    slow = [b for b in work if b["exit"] >= 0 and b["exit"] - b["merged"] > 3000]
    print(f"merges over 3 us: {sum(m > 3000 for m in merges)}, epilogues over 3 us: {len(slow)} (SMs {sorted({b['smid'] for b in slow})[:16]})")
    print(row("block life (entry -> exit)", [b["exit"] - b["entry"] for b in work if b["exit"] >= 0]))
    print(row("cycles: entry -> piece", [b["c_piece"] for b in work], 1, "cyc"))
    print(row("cycles: entry -> Q landed", [b["c_q"] for b in work], 1, "cyc"))
    planned = [b for b in work if b["p_sum"] > 0]
    if planned:  # the warp's plan, phase by phase (decode_trace.cuh DecodePlanMark)
        steps = [("entry", None), ("loads + sum", "p_sum"), ("splits, keys", "p_splits"), ("sort", "p_sorted"),
                 ("scan", "p_scanned"), ("piece", "c_piece")]
        for (_, a), (name, z) in zip(steps, steps[1:]):
            print(row(f"cycles: warp plan: {name}", [b[z] - (b[a] if a else 0) for b in planned], 1, "cyc"))
    print(row("cycles: merge (last loop end -> merged)",
              [b["c_merged"] - max(b[f"c{w}_end"] for w in range(4)) for b in work], 1, "cyc"))
    print(row("cycles: epilogue", [b["c_exit"] - b["c_merged"] for b in work], 1, "cyc"))
    # each warp's ring waits over its main loop (first tile's mark to the
    # loop's end: the waits of steps 1..n-1), and per step the rest (the
    # step's compute and its refill's issue)
    loops_c = [(b[f"c{w}_end"] - b[f"c{w}_first"], b[f"wait{w}"], b[f"steps{w}"]) for b in work for w in range(4)
               if b[f"steps{w}"] > 1 and b[f"c{w}_first"] >= 0]
    if loops_c:
        print(row("main loop: share in ring waits", [w / max(c, 1) for c, w, _ in loops_c], 1, ""))
        print(row("cycles a step: waiting", [w / (n - 1) for _, w, n in loops_c], 1, "cyc"))
        print(row("cycles a step: the rest", [(c - w) / n for c, w, n in loops_c], 1, "cyc"))
    steps_per_warp = [b[f"steps{w}"] for b in work for w in range(4)]
    if steps_per_warp:
        print(f"steps a warp: min {min(steps_per_warp)} median {statistics.median(steps_per_warp)} "
              f"max {max(steps_per_warp)}")

    # the grid over time
    entries = sorted(b["entry"] - start for b in blocks)
    exits = sorted(b["exit"] - start for b in blocks if b["exit"] >= 0)
    slots = 0
    by_sm = {}
    for b in blocks:
        by_sm.setdefault(b["smid"], []).append(b)
    for sm_blocks in by_sm.values():  # most blocks alive at once on one SM
        ev = sorted([(b["entry"], 1) for b in sm_blocks] + [(b["exit"], -1) for b in sm_blocks if b["exit"] >= 0],
                    key=lambda e: (e[0], e[1]))
        alive = 0
        for _, dlt in ev:
            alive += dlt
            slots = max(slots, alive)
    total_slots = slots * max(meta.get("sms", 132), len(by_sm))
    first_wave = entries[:total_slots]
    print(f"slots: {slots} a SM x {len(by_sm)} SMs seen; last first-wave entry {first_wave[-1] / 1e3:.2f} us, "
          f"last entry {entries[-1] / 1e3:.2f} us")
    print("exits: " + ", ".join(f"{int(p * 100)}% {q(exits, p) / 1e3:.2f}" for p in (0.1, 0.5, 0.9)) +
          f", last {exits[-1] / 1e3:.2f} us")
    life = sum(b["exit"] - b["entry"] for b in blocks if b["exit"] >= 0)
    stream = sum(x for b in work for x in warp_loops(b)) / 4
    if span > 0 and total_slots > 0:
        print(f"slot time busy {life / (total_slots * span):.3f}, streaming (warp loops / 4) "
              f"{stream / (total_slots * span):.3f} of slots x span")
    sm_end = sorted(max(b["exit"] for b in v) - start for v in by_sm.values())
    print(f"SMs' last exit: p10 {q(sm_end, 0.1) / 1e3:.2f}  median {statistics.median(sm_end) / 1e3:.2f}  "
          f"max {sm_end[-1] / 1e3:.2f} us")
    slot_turnover(blocks, by_sm, total_slots, start)
    if per_block:
        print("block smid b kv mt split/splits entry piece q first(mean) end(max) merged exit (us from the first entry)")
        for b in sorted(blocks, key=lambda b: b["entry"]):
            f, e = warp_cols(b, "first"), warp_cols(b, "end")
            t = lambda x: f"{(x - start) / 1e3:8.2f}" if x >= 0 else "       -"
            print(f"{b['block']:5d} {b['smid']:4d} {b['b']:4d} {b['kv_head']:2d} {b['mt']:2d} {b['split']:3d}/{b['splits']:<3d}"
                  f"{t(b['entry'])}{t(b['piece'])}{t(b['q'])}{t(statistics.mean(f)) if f else t(-1)}"
                  f"{t(max(e)) if e else t(-1)}{t(b['merged'])}{t(b['exit'])}")


def slot_turnover(blocks, by_sm, total_slots, start):
    """Where a wave of blocks hands its slots to the next (the DRAM
    timeline's dips, bench/ncu_dram.sh): how close together the first
    wave's loops end, and for each later block the SM's latest exit before
    its entry (the block that most likely freed its slot; with several
    slots an SM that is an approximation): exit -> entry, and that block's
    last loop end -> this block's first tile (the slot not streaming)."""
    first = sorted(blocks, key=lambda b: b["entry"])[:total_slots]
    ends = [max(warp_cols(b, "end")) - start for b in first if warp_cols(b, "end")]
    if ends:
        print(f"first wave's last loop ends: p10 {q(ends, 0.1) / 1e3:.2f}  median {statistics.median(ends) / 1e3:.2f}  "
              f"p90 {q(ends, 0.9) / 1e3:.2f} us")
    refill, idle = [], []
    for v in by_sm.values():
        done = [b for b in v if b["exit"] >= 0]
        for b in v:
            prev = [p for p in done if p is not b and p["exit"] <= b["entry"]]
            if not prev:
                continue  # entered before any exit on its SM: the first wave
            p = max(prev, key=lambda x: x["exit"])
            refill.append(b["entry"] - p["exit"])
            if warp_cols(p, "end") and warp_cols(b, "first"):
                idle.append(min(warp_cols(b, "first")) - max(warp_cols(p, "end")))
    if refill:
        print(row("slot refill: exit -> next entry", refill))
        print(row("slot idle: loop end -> next first tile", idle))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--blocks", action="store_true", help="one line per block")
    args = ap.parse_args()
    meta, blocks = read(args.trace)
    summarize(meta, blocks, args.blocks)


if __name__ == "__main__":
    sys.exit(main())
