#!/usr/bin/env python3
"""Read bench/trace_wgmma.cu's records (src/cuda/wgmma_trace.cuh's events)
and print where a work tile's cycles go, per consumer: the median (and
mean) cycles of each step, and what the producer's Q issue leaves to wait.

    python3 bench/trace_wgmma.py TRACE.txt [--timeline BLOCK] [--turns] [--lists LISTS]

--turns: each consumer's turn (got -> done) by what the other consumer of
its block was doing at the turn's middle (its last event before then).
Always, when the trace has point lines: the preamble (entry -> tile list
built, on every block) and the first loads' cycles from the entry.
Always, when the trace has span lines: how ragged the grid's end is
(grid_end). --lists LISTS (the output of `build/tile_balance --blocks ...`
for the traced row: "block tiles key_tiles" a line): the block ends
grouped by equal lists, each group's spread and the SMs of its first and
last eighth (blocks with the same work ending apart).

Steps of a consumer (SM cycles, between its own events):
  start->Q      work tile listed -> its Q tile landed
  Q->S0         Q landed -> first S issued (K(0) waited, the first turn)
  S issue->ready  S issued -> waited for (the tensor pipe's latency and queue)
  ready->ask    mask and row maxima (and, packing in the turn, the P V before)
  ask->got      waiting for the turn (softmax turns; else ~0)
  got->done     the exponentials (the turn)
  done->S next  the next key tile's issue: pack (unless in the turn), K wait, O rescale;
    done->V       its wait for V of the key tile before (with the pack and the P V wait)
    V->K          then for K
    K->S issued   then the turn and the issue
  key tile      S ready(n) -> S ready(n+1): a main-loop iteration
  last PV       the last P V issued -> waited for
  epilogue      last P V done -> O stored, and with TMA stores its parts:
    rows          last P V done -> the rows' end (before the fifty-fifth session
                  finish_rows: sums, 1 / sum, LSE; since then O's scaling alone,
                  the overlapped loop having run row_ends under its last P V):
      located       -> the work tile read again from the list (overlapped loop; its split
                       checked; since the fifty-fifth session from the last P V's issue)
      sums          -> both rows' quad sums and totals issued
      scale         -> O's FMULs by 1 / sum issued (since the fifty-fifth session: the
                       factors and the LSE stores, row_ends' end, under the last P V)
      lse           -> the LSE stores issued (the rows' end; before the fifty-fifth session)
    (marks are issue points: a later mark waits for nothing an earlier one issued)
    pass wait     -> a pass's staging rows free (the wait for earlier stores' reads)
    pass staged   -> the pass's stmatrix and TMA store issued
  gap           O stored -> the next work tile's start
The serial loop (d256's short-key kernel; marks since the fifty-second
session) waits for each GEMM where it issues it: there "S issue->ready" is
the whole S (its queue behind the other consumer's GEMM included), "done->V"
the wait for this key tile's V, "V->K" this key tile's P V (issued and
waited) and the next K's wait, and "last PV" the last P V.
"""
import bisect
import collections
import statistics
import sys

SPANS = {}  # (block, role) -> (start, end) on the global timer (ns), every block of the grid
SMS = {}  # block -> the SM it ran on (traces since the seventy-second session)
POINTS = {}  # block -> global timer (ns) at the kernel's points, then the SM clock at each (since the ninety-sixth session)
FLUSH = {}  # TRACE_L2_FLUSH=2: the flush kernel's first and last block ends (global timer, ns)
POINT_STEPS = ["entry->griddep", "griddep->seq tiles", "seq tiles->ranks", "ranks->tail, split",
               "split->entry placed", "placed->place read", "read->stored, fence", "fence->list seen"]

NAMES = {1: "tile", 2: "q", 3: "s_issued", 4: "s_ready", 5: "ask", 6: "got", 7: "done", 8: "pv_issued",
         9: "last_pv", 10: "stored", 11: "rows", 12: "pass_free", 13: "pass_stored", 14: "v_ready", 15: "k_ready",
         16: "prod_q", 17: "prod_k", 18: "prod_v", 19: "row_sums", 20: "rows_scaled", 21: "tile_located",
         22: "row_max", 23: "masked", 24: "row_ext", 25: "loop_top"}


def load(path):
    head, rows = "", collections.defaultdict(list)
    for line in open(path):
        if line.startswith("# points "):
            f = list(map(int, line.split()[2:]))
            POINTS[f[0]] = tuple(f[1:])
            continue
        if line.startswith("# flush "):
            f = line.split()
            FLUSH.update(first_end=int(f[2]), last_end=int(f[3]), event=len(f) > 4)
            continue
        if line.startswith("# span "):
            f = line.split()
            block, role, start, end = map(int, f[2:6])
            SPANS[(block, role)] = (start, end)
            if len(f) > 6:
                SMS[block] = int(f[6])
            continue
        if line.startswith("#"):
            head = line.strip()
            continue
        f = line.split()
        if len(f) != 5:
            continue
        block, role, clock, ev, arg = map(int, f)
        rows[(block, role)].append((clock, ev, arg))
    return head, rows


def unwrap(recs):
    """32-bit clocks to cycles since the role's first record."""
    out, base, last, hi = [], None, None, 0
    for clock, ev, arg in recs:
        if last is not None and clock < last:
            hi += 1 << 32
        last = clock
        t = clock + hi
        base = t if base is None else base
        out.append((t, ev, arg))
    return out


# Steps measured from one earlier event of the same work tile: event ->
# (step, the event it is measured from).
SINCE = {"q": ("start->Q", "tile"), "ask": ("ready->ask", "s_ready"), "got": ("ask->got", "ask"),
         "done": ("got->done", "got"), "last_pv": ("last PV", "pv_issued"), "stored": ("epilogue", "last_pv"),
         "rows": ("  rows", "last_pv")}


def consumer_steps(recs):
    steps = collections.defaultdict(list)
    prev = {}
    for t, ev, arg in recs:
        name = NAMES.get(ev, str(ev))
        if name in SINCE:
            step, since = SINCE[name]
            steps[step].append(t - prev.get(since, t))
            if name == "rows" and prev.get("rows_scaled", -1) >= prev.get("last_pv", 0):
                steps["    lse"].append(t - prev["rows_scaled"])
            if name == "ask" and "row_max" in prev and prev["row_max"] >= prev.get("s_ready", 0):
                steps["  P V before (wait)"].append(t - prev["row_max"])
        elif name == "tile":
            if "stored" in prev:
                steps["gap"].append(t - prev["stored"])
            prev = {"tile": t}
        elif name == "loop_top":
            if "done" in prev:
                steps["    done->loop top"].append(t - prev["done"])
        elif name == "v_ready":
            if "done" in prev:
                steps["  done->V"].append(t - prev["done"])
            if prev.get("loop_top", -1) >= prev.get("done", 0):
                steps["    loop top->V"].append(t - prev["loop_top"])
        elif name == "k_ready":
            if "v_ready" in prev:
                steps["  V->K"].append(t - prev["v_ready"])
        elif name == "s_issued":
            if arg == 0 and "q" in prev:
                steps["Q->S0"].append(t - prev["q"])
            if "done" in prev and arg > 0:
                steps["done->S next"].append(t - prev["done"])
                if "k_ready" in prev:
                    steps["  K->S issued"].append(t - prev["k_ready"])
        elif name == "s_ready":
            if "s_issued" in prev:
                steps["S issue->ready"].append(t - prev["s_issued"])
            if "s_ready" in prev and arg > 0:
                steps["key tile"].append(t - prev["s_ready"])
        elif name == "masked":
            steps["    ready->masked"].append(t - prev.get("s_ready", t))
        elif name == "row_ext":
            if prev.get("masked", -1) >= prev.get("s_ready", 0):
                steps["    masked->extremes"].append(t - prev["masked"])
        elif name == "row_max":
            steps["  ready->row max"].append(t - prev.get("s_ready", t))
            if prev.get("row_ext", -1) >= prev.get("s_ready", 0):
                steps["    extremes->rescaled"].append(t - prev["row_ext"])
        elif name == "tile_located":
            steps["    located"].append(t - prev.get("last_pv", prev.get("pv_issued", t)))
        elif name == "row_sums":
            steps["    sums"].append(t - prev.get("tile_located", prev.get("last_pv", t)))
        elif name == "rows_scaled":
            steps["    scale"].append(t - prev.get("row_sums", t))
        elif name == "pass_free":
            steps["  pass %d wait" % arg].append(t - prev.get("pass_stored" if arg else "rows", t))
        elif name == "pass_stored":
            steps["  pass %d staged" % arg].append(t - prev.get("pass_free", t))
        prev[name] = t
    return steps


def turns_by_other_step(rows):
    """The turn's length against the other consumer's step (two consumers)."""
    by = collections.defaultdict(list)
    for block in sorted({b for b, _ in rows}):
        for me, other in ((1, 2), (2, 1)):
            mine, theirs = rows.get((block, me), []), rows.get((block, other), [])
            clocks = [c for c, _, _ in theirs]
            got = None
            for clock, ev, _ in mine:
                if ev == 6:
                    got = clock
                elif ev == 7 and got is not None:
                    mid = got + (clock - got) // 2
                    i = bisect.bisect_right(clocks, mid) - 1
                    by[NAMES.get(theirs[i][1], "?") if i >= 0 else "start"].append(clock - got)
                    got = None
    print("turn (got -> done) by the other consumer's last event at its middle:")
    for step, v in sorted(by.items(), key=lambda kv: -len(kv[1])):
        print("  %-12s n=%5d median %5.0f mean %5.0f" % (step, len(v), statistics.median(v), statistics.mean(v)))


def preamble(rows):
    """The kernel's start: each block's entry against the first block's, its
    preamble (barriers, griddep wait, the tile list) step by step on the
    global timer (POINT_STEPS; the varlen tables' steps 0 where the call
    walks without them), and on the traced blocks the SM cycles from the
    entry to the producer's first Q and K issue and to consumer 0's first Q
    landed and first S issued."""
    if not POINTS:
        return
    n = len(next(iter(POINTS.values()))) // 2
    first = min(p[0] for p in POINTS.values())
    entry = sorted(p[0] - first for p in POINTS.values())
    pre = sorted(p[n - 1] - p[0] for p in POINTS.values())
    ends = [end for (block, role), (start, end) in SPANS.items() if role != 0 and end]
    print("preamble: %d blocks; entry after the first block's (us) median %.2f, max %.2f; entry -> list seen (us) "
          "min %.2f, median %.2f, max %.2f; kernel from the first entry to the last end %.1f us" %
          (len(entry), statistics.median(entry) / 1e3, entry[-1] / 1e3, pre[0] / 1e3, statistics.median(pre) / 1e3,
           pre[-1] / 1e3, (max(ends) - first) / 1e3 if ends else 0))
    if FLUSH:  # does our launch start under the kernel before (programmatic), and when does its wait end?
        last = FLUSH["last_end"]
        rel = lambda i: sorted((p[i] - last) / 1e3 for p in POINTS.values() if p[i])
        ent, wait = rel(0), rel(1)
        print("flush kernel before the call%s: its blocks ended over %.2f us; our entries from its last block's "
              "end (us, negative: before) min %.2f, median %.2f, max %.2f; point 1 (the griddep wait done, or the "
              "list begun) median %.2f; %d of %d blocks entered before that end" %
              (" (an event recorded between)" if FLUSH["event"] else "", (last - FLUSH["first_end"]) / 1e3,
               ent[0], statistics.median(ent), ent[-1], statistics.median(wait), sum(1 for x in ent if x < 0),
               len(ent)))
    def since_last(p, i):
        """Point i + 1 against the last point before it that was recorded
        (a dense call records no varlen-table points: its step to the tail
        then starts at the griddep wait), in ns and cycles; None if i + 1
        was not recorded."""
        if not p[i + 1]:
            return None
        j = i
        while j > 0 and not p[j]:
            j -= 1
        return p[i + 1] - p[j], (p[n + i + 1] - p[n + j]) & 0xffffffff

    for i, name in enumerate(POINT_STEPS[:n - 1]):
        steps = [x for x in (since_last(p, i) for p in POINTS.values()) if x is not None]
        if not steps:
            print("  %-20s not recorded (a dense call: no varlen tables)" % name)
            continue
        ns, cyc = sorted(x[0] for x in steps), sorted(x[1] for x in steps)
        print("  %-20s median %7.0f ns (p90 %7.0f), %7.0f cycles" %
              (name, statistics.median(ns), ns[int(0.9 * (len(ns) - 1))], statistics.median(cyc)))
    for block in sorted(POINTS):
        if (block, 0) not in rows and (block, 1) not in rows:
            continue
        e = POINTS[block][n]
        firsts = {}
        for role, ev, name in ((0, 16, "prod Q"), (0, 17, "prod K"), (1, 2, "C0 Q landed"), (1, 3, "C0 S issued")):
            t = [clock for clock, v, _ in rows.get((block, role), []) if v == ev]
            if t:
                firsts[name] = (t[0] - e) & 0xffffffff
        print("block %d: cycles from entry: list seen %d; %s" % (block, (POINTS[block][2 * n - 1] - e) & 0xffffffff,
                                                              ", ".join("%s %d" % kv for kv in firsts.items())))


def grid_end(traced):
    """How ragged the grid's end is: each block's last consumer end against
    the kernel's (global timer, every block), and the share of the blocks'
    time spent idle after their own end while the kernel still runs.
    The traced blocks (`traced`: those with event records) are left out and
    their ends printed apart: each event's clock read and store makes them
    5-7% slower (ninety-eighth session: at b32 s512 d64 causal they ended
    ~7 us after every other block, on whichever SMs they ran), so counted
    in, they set the kernel's end and the last tenth's SMs."""
    ends = collections.defaultdict(int)
    starts = []
    traced_ends = {}
    for (block, role), (start, end) in SPANS.items():
        if role == 0 or end == 0:
            continue
        starts.append(start)
        if block in traced:
            traced_ends[block] = max(traced_ends.get(block, 0), end)
        else:
            ends[block] = max(ends[block], end)
    if not ends:
        return
    t0, t1 = min(starts), max(ends.values())
    if traced_ends:
        print("traced blocks (left out below) end at (us): %s" %
              ", ".join("%d: %.1f" % (b, (e - t0) / 1e3) for b, e in sorted(traced_ends.items())))
    rel = sorted(e - t0 for e in ends.values())
    idle = sum(t1 - e for e in ends.values()) / (len(ends) * (t1 - t0))
    print("grid end: %d untraced blocks, their last end %.1f us from the first consumer's start; block ends (us) min %.1f, "
          "median %.1f, p90 %.1f, max %.1f; idle after their end: %.1f%% of the blocks' time" %
          (len(ends), (t1 - t0) / 1e3, rel[0] / 1e3, statistics.median(rel) / 1e3, rel[int(0.9 * (len(rel) - 1))] / 1e3,
           rel[-1] / 1e3, 100 * idle))
    if SMS:  # blocks with equal lists end apart on some chips: which SMs end first and last
        order = sorted(ends, key=lambda b: ends[b])
        tenth = max(1, len(order) // 10)
        print("SMs of the first tenth of block ends: %s; of the last tenth: %s" %
              (sorted(SMS[b] for b in order[:tenth] if b in SMS), sorted(SMS[b] for b in order[-tenth:] if b in SMS)))
    if "--lists" in sys.argv:
        ends_by_list({b: (e - t0) / 1e3 for b, e in ends.items()}, sys.argv[sys.argv.index("--lists") + 1])


def ends_by_list(ends_us, lists_path):
    """Block ends grouped by equal lists (tiles, key tiles), each group's
    first and last eighth with their SMs. Block b runs on the same SM in
    every launch (seventy-third session): a group's early SMs are also its
    early blocks."""
    lists = {}
    for line in open(lists_path):
        f = line.split()
        if len(f) == 3:
            lists[int(f[0])] = (int(f[1]), int(f[2]))
    groups = collections.defaultdict(list)
    for b, e in ends_us.items():
        if b in lists:
            groups[lists[b]].append((e, b))
    print("block ends by list (tiles, key tiles):")
    for key in sorted(groups):
        v = sorted(groups[key])
        n = max(1, len(v) // 8)
        sm = lambda part: [SMS.get(b, "?") for _, b in part]
        print("  %s %3d blocks, ends %.1f .. %.1f us; first eighth SMs %s (to %.1f), last eighth SMs %s (from %.1f)" %
              (key, len(v), v[0][0], v[-1][0], sm(v[:n]), v[n - 1][0], sm(v[-n:]), v[-n][0]))


def main():
    path = sys.argv[1]
    head, rows = load(path)
    print(head)
    order = ["start->Q", "Q->S0", "S issue->ready", "ready->ask", "  ready->row max", "    ready->masked", "    masked->extremes",
             "    extremes->rescaled", "  P V before (wait)", "ask->got", "got->done", "done->S next",
             "  done->V", "    done->loop top", "    loop top->V", "  V->K", "  K->S issued", "key tile", "last PV", "epilogue", "  rows", "    located",
             "    sums", "    scale", "    lse"] + \
        ["  pass %d %s" % (k, w) for k in range(4) for w in ("wait", "staged")] + ["gap"]
    total = collections.defaultdict(list)
    tiles = collections.Counter()
    span = {}
    for (block, role), recs in sorted(rows.items()):
        recs = unwrap(recs)
        if role == 0 or not recs:
            continue
        st = consumer_steps(recs)
        for k, v in st.items():
            total[k] += v
        tiles[(block, role)] = sum(1 for _, ev, _ in recs if ev == 1)
        span[(block, role)] = recs[-1][0] - recs[0][0]
    print("consumers traced: %d, work tiles each: %s, cycles from first to last event: %s" %
          (len(tiles), sorted(set(tiles.values())), sorted(set(span.values()))[:4]))
    print("%-16s %8s %8s %8s %7s" % ("step", "median", "mean", "p90", "count"))
    for k in order:
        v = sorted(total.get(k, []))
        if v:
            print("%-16s %8.0f %8.0f %8.0f %7d" % (k, statistics.median(v), statistics.mean(v),
                                                  v[int(0.9 * (len(v) - 1))], len(v)))
    # Q: producer issue -> consumer ready, and how early the producer issued it
    for block in sorted({b for b, _ in rows}):
        prod = unwrap(rows.get((block, 0), []))
        cons = rows.get((block, 1), [])
        if not prod or not cons:
            continue
        # one clock base for both: the raw 32-bit values (same SM)
        # the n-th Q issued is the n-th work tile's (every tile of a bench row
        # sees keys; the producer issues none for a tile without)
        q_issue = {arg: clock for clock, ev, arg in rows[(block, 0)] if ev == 16}
        lat, early = [], []
        cur, n = None, 0
        for clock, ev, arg in cons:
            if ev == 1:
                cur, n = (n, clock), n + 1
            elif ev == 2 and cur and cur[0] in q_issue:
                lat.append((clock - q_issue[cur[0]]) & 0xffffffff)
                early.append((cur[1] - q_issue[cur[0]]) & 0xffffffff if cur[1] >= q_issue[cur[0]] else
                             -((q_issue[cur[0]] - cur[1]) & 0xffffffff))
        if lat:
            print("block %d consumer 0: Q issue -> ready median %d cycles; Q issued %d cycles before the tile "
                  "started (median; negative: after)" % (block, statistics.median(lat), statistics.median(early)))
    preamble(rows)
    grid_end({b for b, _ in rows})
    if "--turns" in sys.argv:
        turns_by_other_step(rows)
    if "--timeline" in sys.argv:
        b = int(sys.argv[sys.argv.index("--timeline") + 1])
        evs = []
        for (block, role), recs in rows.items():
            if block == b:
                evs += [(clock, role, NAMES.get(ev, ev), arg) for clock, ev, arg in recs]
        evs.sort()
        t0 = evs[0][0] if evs else 0
        for clock, role, name, arg in evs[:600]:
            print("%9d  %s %-10s %d" % ((clock - t0) & 0xffffffff, "P " if role == 0 else "C%d" % (role - 1), name,
                                       arg))


if __name__ == "__main__":
    main()
