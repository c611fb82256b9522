#!/bin/bash
# A/B of the prefill grid between two builds of the library, in one device
# call: bench/ab_prefill.c compiled against each build's header and static
# library, run alternately (A B, B A, A B, ...), median per row of each side.
#
#   bash bench/ab_prefill.sh OLD_TREE [ROUNDS]
#
# OLD_TREE: a source tree of the baseline (e.g. `git archive <commit>`
# unpacked into an ignored folder that the device call carries); it is built
# there with its own build.ninja. The current tree must already be built
# (ninja lib). Writes $OUT/ab_prefill.{json,md}; prints the table.
set -eu
old=$1
rounds=${2:-3}
OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT" build/ab
cuda=/usr/local/cuda
(cd "$old" && ninja -j16 build/libflashattn.a >"$OUT/ab_old_build.log" 2>&1) || { tail -20 "$OUT/ab_old_build.log"; exit 1; }
link="-L$cuda/lib64 -lcudart_static -lpthread -ldl -lrt -lm"
cc -std=c11 -O2 -I"$old/include" -I$cuda/include bench/ab_prefill.c "$old/build/libflashattn.a" $link -o build/ab/A
cc -std=c11 -O2 -Iinclude -I$cuda/include bench/ab_prefill.c build/libflashattn.a $link -o build/ab/B
# A B, B A, ...: no side always first (bench/wgmma_ab.sh says why).
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
  for side in $order; do build/ab/$side --reps 40 >"build/ab/$side.$r"; done
done
python3 - "$rounds" "$OUT" <<'PY'
import json, statistics, sys
rounds, out = int(sys.argv[1]), sys.argv[2]
def load(side):
    runs = []
    for r in range(1, rounds + 1):
        with open(f"build/ab/{side}.{r}") as fh:
            runs.append([line.rstrip("\n").split("\t") for line in fh if line.strip()])
    return runs
A, B = load("A"), load("B")
rows = []
for i, first in enumerate(A[0]):
    row = first[0]
    a = [float(run[i][1]) for run in A]
    b = [float(run[i][1]) for run in B]
    rows.append({"row": row, "kernel_old": first[2], "kernel": B[0][i][2], "old_ms": statistics.median(a),
                 "ours_ms": statistics.median(b), "old_all_ms": a, "new_all_ms": b,
                 "new_vs_old": statistics.median(a) / statistics.median(b)})
with open(f"{out}/ab_prefill.json", "w") as fh:
    json.dump(rows, fh, indent=1)
lines = ["| row | old kernel | new kernel | old ms | new ms | new speed / old |", "| --- | --- | --- | --- | --- | --- |"]
for r in rows:
    lines.append(f"| {r['row']} | {r['kernel_old']} | {r['kernel']} | {r['old_ms']:.4f} | {r['ours_ms']:.4f} | {r['new_vs_old']:.3f} |")
worst = min(rows, key=lambda r: r["new_vs_old"])
best = max(rows, key=lambda r: r["new_vs_old"])
lines.append("")
lines.append(f"{len(rows)} rows, {rounds} interleaved rounds (A B, B A, ...), median of 40 calls per run; "
             f"new/old speed {worst['new_vs_old']:.3f} ({worst['row']}) .. {best['new_vs_old']:.3f} ({best['row']}); "
             f"rows outside 0.98..1.02: {sum(1 for r in rows if not 0.98 <= r['new_vs_old'] <= 1.02)}")
with open(f"{out}/ab_prefill.md", "w") as fh:
    fh.write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
