#!/usr/bin/env python3
"""Where the hardware put a decode launch's first-wave blocks, from a raw
bench/trace_decode.cu file (block, smid, entry per line).

    python3 bench/decode_block_map.py TRACE.txt [--wave-us 1.0]

Prints the SM of blocks 0..N of the first wave (those entering within
--wave-us of the first), each SM's blocks, how many of them hold a piece
(Q landed), and the spread of pieces an SM. Written in the eighty-third
session to find why the plan kernels, whose grids hold empty blocks past
the slots, put 3 pieces on some SMs and 1 on others where a grid of just
the pieces keeps 2 an SM (bench/results-h100-2026-12-06-s83-decode.md).
"""
import argparse
import collections


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--wave-us", type=float, default=1.0)
    args = ap.parse_args()
    blocks = []
    for line in open(args.trace):
        if line.startswith("#") or not line.strip():
            continue
        f = line.split()
        try:
            blk, smid, entry, q = int(f[0]), int(f[1]), int(f[7]), int(f[9])
            b = 0 if q >= 0 else -1  # Q landed: a block with work
        except (ValueError, IndexError):
            continue
        blocks.append((blk, smid, b, entry))
    if not blocks:
        print("no blocks")
        return
    t0 = min(e for _, _, _, e in blocks)
    wave = sorted((blk, smid, b) for blk, smid, b, e in blocks if e - t0 <= args.wave_us * 1e3)
    print(f"{len(blocks)} blocks traced, {len(wave)} entered within {args.wave_us} us of the first")
    print("block -> SM, first wave in index order:")
    for i in range(0, len(wave), 24):
        print("  " + " ".join(f"{blk}:{smid}" for blk, smid, _ in wave[i:i + 24]))
    per_sm = collections.defaultdict(list)
    for blk, smid, b in wave:
        per_sm[smid].append((blk, b))
    pieces = collections.Counter(sum(1 for _, b in v if b >= 0) for v in per_sm.values())
    print(f"SMs {len(per_sm)}; first-wave blocks an SM: {collections.Counter(len(v) for v in per_sm.values())}")
    print(f"pieces an SM in the first wave (count of SMs): {dict(sorted(pieces.items()))}")
    for smid in sorted(per_sm)[:16]:
        print(f"  SM {smid:3d}: " + " ".join(f"{blk}{'' if b >= 0 else '(e)'}" for blk, b in per_sm[smid]))


if __name__ == "__main__":
    main()
