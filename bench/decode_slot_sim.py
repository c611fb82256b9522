"""A slot model of one decode launch: how block order and split rules move
the time of a batch of unequal caches. A model for writing predictions
down before a device call, not a measurement.

    python3 bench/decode_slot_sim.py [--lengths 8x32768,1x1024 | --uniform 48:16384:SEED] [--block-gbps 35]

Each SM has 2 block slots; a block pays a start (its first tile's
latency) and an end (merge, epilogue) with no bytes moving, then streams
its K/V bytes at min(what one block's bytes in flight allow, the GPU's
rate over the streaming blocks). Calibration (H200, d128, thirtieth
session): 60 x 512 + 4 x 32k with one split each ran at 1.30 TB/s, its
32 long blocks alone at about 35 GB/s each (the default); every slot
streaming, 4.1 TB/s. The trace (bench/trace_decode.sh) measures start,
end and a lone block's rate. The block scheduler
starts blocks in index order as slots free, an idle SM's slot first
(the first wave: one block an SM, then the second slots). Printed: the K/V rate (TB/s)
for each order (sequence order; longest first; two classes, the long
half first) and split rule (none; floor(share), the library's rule by
length without its cap and 16-tile floor; ceil(share) above one share).
"""
import argparse
import random

SMS, PER_SM, HK, D = 132, 2, 8, 128


def simulate(pieces_kb, block_kb_per_us, start_us, end_us, gpu_kb_per_us):
    """Makespan (us) of pieces (KB each, in launch order) over the slots."""
    queue = list(pieces_kb)
    slots = [[None] * PER_SM for _ in range(SMS)]  # [phase, remaining, KB] or None
    t = 0.0
    while True:
        free = sorted((sum(b is not None for b in slots[s]) + k, s, k) for s in range(SMS) for k in range(PER_SM)
                      if slots[s][k] is None)
        for _, s, k in free:  # the emptiest SMs first (an idle SM's second slot after every first slot)
            if queue:
                slots[s][k] = ["start", start_us, queue.pop(0)]
        rates, steps = {}, []
        streaming = sum(b is not None and b[0] == "stream" for row in slots for b in row)
        r = min(block_kb_per_us, gpu_kb_per_us / max(streaming, 1))
        for s in range(SMS):
            for k in range(PER_SM):
                b = slots[s][k]
                if b is None:
                    continue
                rates[s, k] = r if b[0] == "stream" else 0.0
                steps.append(b[1] / r if b[0] == "stream" else b[1])
        if not steps:
            return t
        dt = min(steps)
        t += dt
        for (s, k), r in rates.items():
            b = slots[s][k]
            b[1] -= r * dt if b[0] == "stream" else dt
            if b[1] > 1e-9:
                continue
            if b[0] == "start":
                slots[s][k] = ["stream", b[2], b[2]]
            elif b[0] == "stream":
                slots[s][k] = ["end", end_us, 0]
            else:
                slots[s][k] = None


def pieces(lengths, order, split):
    slots = SMS * PER_SM
    total = sum(lengths) * HK
    units = []
    for b, n in enumerate(lengths):
        share = n * slots / total
        s = 1
        if split == "floor":
            s = max(1, int(share))
        elif split == "ceil" and share > 1:
            s = -(-n * slots // total)
        units += [n / s] * (HK * s)
    if order == "longest":
        units.sort(reverse=True)
    elif order == "two":
        top = max(units)
        units = [u for u in units if u >= top / 2] + [u for u in units if u < top / 2]
    return [u * D * 2 * 2 / 1024 for u in units]  # K + V of one KV head, 16-bit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", help="CxN,... as trace_decode.cu takes them")
    ap.add_argument("--uniform", default="48:16384:1", help="COUNT:MAX:SEED, lengths uniform in 1..MAX")
    ap.add_argument("--block-gbps", type=float, default=35.0, help="one block's rate when the GPU is not the limit")
    ap.add_argument("--start", type=float, default=4.0, help="us from a block's entry to its first bytes")
    ap.add_argument("--end", type=float, default=2.0, help="us of merge and epilogue")
    ap.add_argument("--tbps", type=float, default=4.1, help="the GPU's K/V rate with every slot streaming")
    args = ap.parse_args()
    if args.lengths:
        lengths = []
        for item in args.lengths.split(","):
            c, _, n = item.rpartition("x")
            lengths += [int(n)] * (int(c) if c else 1)
    else:
        count, top, seed = (int(x) for x in args.uniform.split(":"))
        rng = random.Random(seed)
        lengths = [rng.randint(1, top) for _ in range(count)]
    gpu_rate = args.tbps * 1e12 / 1024 / 1e6  # KB per us
    block_rate = args.block_gbps * 1e9 / 1024 / 1e6
    print(f"{len(lengths)} sequences, {sum(lengths)} keys, longest {max(lengths)}")
    for split in ("none", "floor", "ceil"):
        row = []
        for order in ("sequence", "two", "longest"):
            kb = pieces(lengths, order, split)
            t = simulate(kb, block_rate, args.start, args.end, gpu_rate)
            row.append(f"{order} {sum(kb) * 1024 / (t * 1e-6) / 1e12:.2f}")
        print(f"split {split:5s}: " + ", ".join(row) + " TB/s")


if __name__ == "__main__":
    main()
