"""A kernel's SASS from an Nsight Compute source table, summed two ways:
by opcode (instructions executed, share of stall samples) and by basic
block (runs of lines with one execution count: per work tile, per key tile,
per masked tile ...), so two kernels' instruction budgets can be compared
block by block. Stall reasons are totalled over the kernel.

    python3 bench/ncu_sass_blocks.py SASS.csv [MIN_BLOCK_INSTRUCTIONS]
"""
import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ncu_sass_top import num, source_table  # noqa: E402


def opcode(text):
    return re.sub(r"^\s*(@!?U?P\w+\s+)?", "", text).split(" ")[0].split(".")[0]


table = source_table(sys.argv[1])
if table is None:
    sys.exit()
h, body = table
col = {c: i for i, c in enumerate(h)}
src, execd = col["Source"], col["Instructions Executed"]
samp = col["Warp Stall Sampling (All Samples)"]
total_e = sum(num(r[execd]) for r in body) or 1.0
total_s = sum(num(r[samp]) for r in body) or 1.0
print(f"warp instructions executed {total_e / 1e6:.2f} M, stall samples {total_s:.0f}")
stalls = collections.Counter()
for r in body:
    for c in h:
        if c.startswith("stall_") and "Not Issued" not in c:
            stalls[c[6:]] += num(r[col[c]])
print("stalls: " + ", ".join(f"{k} {100 * v / total_s:.1f}%" for k, v in stalls.most_common(12)))
by_op, by_op_s = collections.Counter(), collections.Counter()
for r in body:
    by_op[opcode(r[src])] += num(r[execd])
    by_op_s[opcode(r[src])] += num(r[samp])
print(f"{'opcode':14s} {'M inst':>8s} {'%inst':>6s} {'%samples':>8s}")
for k, v in by_op.most_common(24):
    print(f"{k:14s} {v / 1e6:8.2f} {100 * v / total_e:6.1f} {100 * by_op_s[k] / total_s:8.1f}")
minimum = float(sys.argv[2]) if len(sys.argv) > 2 else 3e5
blocks, cur = [], None
for i, r in enumerate(body):
    e = num(r[execd])
    if cur is None or e != cur["exec"]:
        cur = {"line": i, "exec": e, "samples": 0.0, "ops": []}
        blocks.append(cur)
    cur["samples"] += num(r[samp])
    cur["ops"].append(opcode(r[src]))
print("blocks (first line, lines, executions, instructions, samples, commonest opcodes):")
for b in blocks:
    n = len(b["ops"])
    if b["exec"] * n < minimum and b["samples"] < 0.003 * total_s:
        continue
    mix = " ".join(f"{k}:{v}" for k, v in collections.Counter(b["ops"]).most_common(7))
    print(f"{b['line']:5d} n={n:4d} x{b['exec']:9.0f} {b['exec'] * n / 1e6:6.2f}M {100 * b['samples'] / total_s:5.1f}%  {mix}")
