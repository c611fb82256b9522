#!/bin/bash
# Nsight Compute on the decode family (one device call, ~150 s): where a
# decoding step's time goes before changing the kernel. Small build
# (bench/small_spec.py), then ncu on fa_demo --decode for the benchmark's
# contiguous rows and one paged row, the decode kernel's 3rd launch
# (warm), sections: speed of light, memory workload, warp states,
# scheduler. Reports in $OUT/ncu_*.txt (one archive); a digest last.
#
#   run(command="bash bench/decode_profile.sh", carry=[".deb"], timeout_s=300)
# NCU_CLOCK: ncu's --clock-control (default base: clocks locked at base,
# where this kernel is issue-bound; none: the clocks a run gets); NCU_ROWS:
# which rows (default all four). Each report adds L2 read sectors from
# the SMs and DRAM bytes read (L2 traffic per DRAM byte). NCU_SOURCE=1:
# also the SourceCounters section into a report, then the SASS lines with
# the most stall samples (where the warps wait: ncu_<row>_sass.csv, top 25
# in the summary).
set -u
BUDGET=${BUDGET:-280}
. "$(dirname "$0")/device_common.sh"
setup_cmocka
timeout 10 python3 bench/small_spec.py gen/spec.py
t=$SECONDS
timeout "$(cap 150)" ninja -j16 build/fa_demo >"$OUT/build.log" 2>&1 || { note "build failed"; tail -20 "$OUT/build.log"; exit 1; }
note "build: $((SECONDS - t)) s; gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null)
rows=("b32:--seqlens-k $(printf '8192,%.0s' $(seq 32) | sed 's/,$//')"
      "b1:--seqlens-k 131072"
      "b128:--seqlens-k $(printf '1024,%.0s' $(seq 128) | sed 's/,$//')"
      "b32p16:--page-size 16 --seqlens-k $(printf '8192,%.0s' $(seq 32) | sed 's/,$//')")
for r in "${rows[@]}"; do
  name=${r%%:*} args=${r#*:}
  case " ${NCU_ROWS:-$name} " in *" $name "*) ;; *) continue ;; esac
  # shellcheck disable=SC2086
  timeout "$(cap 60)" "$NCU" --kernel-name regex:fwd_decode --launch-skip 2 --launch-count 1 \
    --clock-control "${NCU_CLOCK:-base}" \
    --metrics dram__bytes_read.sum,lts__t_sectors_srcunit_tex_op_read.sum,lts__t_sectors_op_read.sum,lts__t_sector_hit_rate.pct \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
    --section LaunchStats --section Occupancy ${NCU_SOURCE:+--section SourceCounters --import-source no -f -o "$OUT/ncu_$name"} \
    build/fa_demo --decode $args --repeat 4 --check-rows 16 >"$OUT/ncu_$name.txt" 2>&1
  note "ncu $name: exit $?"
  if [ -n "${NCU_SOURCE:-}" ] && [ -f "$OUT/ncu_$name.ncu-rep" ]; then
    # Per SASS instruction: stall samples (all, and not issued); the top 25 by samples.
    "$NCU" --import "$OUT/ncu_$name.ncu-rep" --page source --print-source sass --csv >"$OUT/ncu_${name}_sass.csv" 2>&1
    python3 - "$OUT/ncu_${name}_sass.csv" <<'PY' | sed "s/^/  $name /" | tee -a "$SUMMARY"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], errors="replace")))
head = next((i for i, r in enumerate(rows) if "Source" in r and any("Sampling" in c for c in r)), None)
if head is None:
    print("no source table:", " | ".join(rows[0])[:200] if rows else "empty"); sys.exit()
h = rows[head]
src = h.index("Source")
samp = next(i for i, c in enumerate(h) if c.startswith("Warp Stall Sampling (All"))
def num(x):
    try: return float(x.replace(",", ""))
    except ValueError: return 0.0
body = [r for r in rows[head + 1:] if len(r) > samp]
total = sum(num(r[samp]) for r in body) or 1.0
for r in sorted(body, key=lambda r: -num(r[samp]))[:25]:
    print(f"{100 * num(r[samp]) / total:5.1f}%  {r[src][:110]}")
PY
  fi
  grep -E "DRAM Throughput|Memory Throughput|Duration|Achieved Occupancy|Warp Cycles Per Issued|Issued Warp|No Eligible|L2 Hit|Registers Per|Block Limit|Waves Per SM|Stall|One or More|dram__bytes_read|lts__t_sector" "$OUT/ncu_$name.txt" | head -24 | sed "s/^/  $name /" | tee -a "$SUMMARY"
done
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz --exclude=summary.txt *.txt *.log *.csv 2>/dev/null && rm -f ncu_*.txt *.log *.csv)
echo "==== summary"
cat "$SUMMARY"
