#!/bin/bash
# Nsight Compute, one device call (~150 s), for two questions of
# 2026-11-30 (fwd_decode.md, fwd_wgmma.md "Paged K/V"):
#  1. decode b32 x 8192: L2-to-SM sectors over DRAM bytes and DRAM
#     throughput, ours (contiguous and pages of 16) against cuDNN in both
#     layouts (bench/ncu_peer_decode.py), the 3rd launch. (2026-11-30: ours
#     1.255x at 83.6% of DRAM peak with 256-byte L2 promotion, cuDNN
#     1.004x at 94%; fixed by 128-byte promotion.)
#  2. chunked prefill over pages of 16 (b2 q512 kv4608, GQA 32/8, d128,
#     causal; 0.5x of contiguous then, 0.7x now): where the wgmma kernel's warps wait
#     (SourceCounters: the SASS lines with the most stall samples), against
#     the contiguous cache.
#   run(command="bash bench/ncu_compare.sh", carry=[".deb"], timeout_s=300)
set -u
BUDGET=${BUDGET:-280}
. "$(dirname "$0")/device_common.sh"
build_demo_for_ncu
M=dram__bytes_read.sum,lts__t_sectors_srcunit_tex_op_read.sum,lts__t_sectors_op_read.sum,gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed
lens32=$(printf '8192,%.0s' $(seq 32) | sed 's/,$//')
# name | kernel regex | launches to skip | command
rows=("ours_b32|fwd_decode|2|build/fa_demo --decode --seqlens-k $lens32 --repeat 4 --check-rows 16"
      "ours_b32p16|fwd_decode|2|build/fa_demo --decode --page-size 16 --seqlens-k $lens32 --repeat 4 --check-rows 16"
      "cudnn_bshd_b32|.|0|python3 bench/ncu_peer_decode.py 32 8192 bshd"
      "cudnn_bhsd_b32|.|0|python3 bench/ncu_peer_decode.py 32 8192 bhsd")
for r in "${rows[@]}"; do
  IFS='|' read -r name kre skip cmd <<<"$r"
  # cuDNN: every kernel of its last call (the 4th); the summary keeps the big ones.
  extra=(); [ "$kre" = . ] && extra=(--launch-skip 0 --launch-count 12)
  [ "$kre" = . ] || extra=(--kernel-name "regex:$kre" --launch-skip "$skip" --launch-count 1)
  # shellcheck disable=SC2086
  timeout "$(cap 60)" "$NCU" "${extra[@]}" --clock-control none --metrics "$M" $cmd >"$OUT/ncu_$name.txt" 2>&1
  note "ncu $name: exit $?"
  python3 - "$OUT/ncu_$name.txt" <<'PY' | sed "s/^/  $name /" | tee -a "$SUMMARY"
import re, sys
kern, vals, out = None, {}, []
def flush():
    if kern and vals.get("gpu__time_duration.sum", 0) > 20:  # us; skip small kernels
        d = vals.get("dram__bytes_read.sum", 0)
        tex = vals.get("lts__t_sectors_srcunit_tex_op_read.sum", 0) * 32
        out.append(f"{kern[:60]:60s} {vals['gpu__time_duration.sum']:8.1f} us  dram {d/1e6:8.1f} MB "
                   f"({vals.get('dram__throughput.avg.pct_of_peak_sustained_elapsed', 0):.1f}%)  L2->SM/dram {tex/max(d,1):.3f}")
unit = {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "usecond": 1, "msecond": 1e3, "nsecond": 1e-3, "sector": 1, "%": 1}
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^\s{2}(\S.*?)\s+\(\d+, \d+, \d+\)x\(\d+, \d+, \d+\)", line)
    if m:
        flush(); kern, vals = m.group(1), {}
        continue
    m = re.match(r"^\s+(\S+)\s+(\S+)\s+([\d.,]+)\s*$", line)
    if m and kern:
        vals[m.group(1)] = float(m.group(3).replace(",", "")) * unit.get(m.group(2), 1)
flush()
print("\n".join(out[-4:]) if out else "no kernel parsed")
PY
done
# 2. the paged chunk: where the warps wait.
lens2=4608,4608
for ps in 16 0; do
  name=chunk_p$ps
  # shellcheck disable=SC2046
  timeout "$(cap 70)" "$NCU" --kernel-name regex:fwd_wgmma --launch-skip 2 --launch-count 1 --clock-control none \
    --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section SourceCounters --import-source no \
    -f -o "$OUT/ncu_$name" build/fa_demo --decode --queries 512 --seqlens-k $lens2 $([ $ps -gt 0 ] && echo --page-size $ps) \
    --repeat 4 --check-rows 16 >"$OUT/ncu_$name.txt" 2>&1
  note "ncu $name: exit $?"
  [ -f "$OUT/ncu_$name.ncu-rep" ] || continue
  "$NCU" --import "$OUT/ncu_$name.ncu-rep" --print-summary none --page details >"$OUT/ncu_${name}_details.txt" 2>&1
  grep -E "Duration|Warp Cycles Per Issued|Issued Warp|No Eligible|Compute \(SM\) Throughput" "$OUT/ncu_${name}_details.txt" | head -6 | sed "s/^/  $name /" | tee -a "$SUMMARY"
  "$NCU" --import "$OUT/ncu_$name.ncu-rep" --page source --print-source sass --csv >"$OUT/ncu_${name}_sass.csv" 2>&1
  python3 bench/ncu_sass_top.py "$OUT/ncu_${name}_sass.csv" 18 | sed "s/^/  $name /" | tee -a "$SUMMARY"
done
# The device tool returns at most 8 files: the two reports, the logs in one archive, the summary.
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz --exclude=summary.txt *.txt *.log *.csv 2>/dev/null && rm -f ncu_*.txt *.log *.csv)
echo "==== summary"
cat "$SUMMARY"
