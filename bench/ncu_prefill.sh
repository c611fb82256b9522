#!/bin/bash
# Nsight Compute on the prefill rows furthest behind cuDNN (issue 11), one
# device call: for each row, our wgmma kernel (fa_demo, the small build)
# and cuDNN's (bench/ncu_peer_prefill.py) with the same sections, then our
# kernel's SASS lines with the most stall samples. What to compare first:
# duration, issue slots used ("Issued Warp Per Scheduler"), the tensor
# pipe's share (ComputeWorkloadAnalysis), and where our warps wait.
#   run(command="bash bench/ncu_prefill.sh", carry=[".deb"], timeout_s=400)
# NCU_ROWS: rows as "b:s:d:full|causal[:heads]" (heads 32 unless given;
# the BENCH.md grid has 16 at d128, 8 at d256) (default: d64 s512 causal and
# s2048 full, the ninth session's worst d64 rows), or "packed24": bench.py's
# packed GQA row (24 sequences, 32/8 heads, d128, causal; ab_prefill.c's
# lengths), against varlen_attn's kernel (no cuDNN peer for it).
# NCU_REUSE_BUILD=1: profile the build/fa_demo this call already built
# (e.g. after device_run.sh build) instead of the small build.
# NCU_PEER_SASS=1: the peer's attention kernel alone (its 4th launch) with
# source counters too, and its SASS table beside ours (instruction mix per
# block: python3 bench/ncu_sass_blocks.py). NCU_SKIP_OURS=1: the peer only.
# NCU_OURS_KERNELS: our kernels to profile on each row, "default" (the one
# dispatch picks) or table names run through fa_demo --kernel, e.g.
# "default fwd_wgmma_sm90a_hdim64_bf16_causal_k4096" (fwd_wgmma.md
# [pair-untraced]); each named one's files are ncu_ours_<kernel>_<row>.
# NCU_SKIP_PEER=1: ours only.
set -u
BUDGET=${BUDGET:-380}
. "$(dirname "$0")/device_common.sh"
if [ "${NCU_SKIP_OURS:-0}" = 1 ]; then NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null)
else build_demo_for_ncu; fi
SECTIONS=(--section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section SchedulerStats)
# NCU_EXTRA_SECTIONS: more sections, e.g. "LaunchStats MemoryWorkloadAnalysis"
for sec in ${NCU_EXTRA_SECTIONS:-}; do SECTIONS+=(--section "$sec"); done
# NCU_METRICS: raw metrics too (comma-separated), printed in the summary
[ -n "${NCU_METRICS:-}" ] && SECTIONS+=(--metrics "$NCU_METRICS")
for row in ${NCU_ROWS:-32:512:64:causal 8:2048:64:full}; do
  heads="--heads-q 32 --heads-k 32"
  if [ "$row" = packed24 ]; then
    d=128 mask=causal name=packed24 heads="--heads-q 32 --heads-k 8"
    lens=684,4015,309,3328,2627,3643,2051,2279,2441,2323,1557,498,2788,3415,2054,3288,3736,3916,2490,1921,1638,1767,2007,1326
    peer=(packed24)
  else
    IFS=: read -r b s d mask h <<<"$row"
    h=${h:-32} heads="--heads-q $h --heads-k $h"
    name="d${d}_s${s}_${mask}_h$h"
    lens=$(printf "$s,%.0s" $(seq "$b") | sed 's/,$//')
    peer=("$b" "$s" "$d" "$mask" "$h")
  fi
  # ours: the 3rd launch of the wgmma kernel (fa_demo repeats the call)
  sides=()
  for kernel in ${NCU_OURS_KERNELS:-default}; do
    [ "${NCU_SKIP_OURS:-0}" = 1 ] && break
    if [ "$kernel" = default ]; then side=ours pick=(); else side=ours_$kernel pick=(--kernel "$kernel"); fi
    sides+=("$side")
    # shellcheck disable=SC2046,SC2086
    timeout "$(cap 80)" "$NCU" --kernel-name regex:fwd_wgmma --launch-skip 2 --launch-count 1 --clock-control none \
      "${SECTIONS[@]}" --section SourceCounters --import-source no -f -o "$OUT/ncu_${side}_$name" \
      build/fa_demo --head-dim "$d" $heads --seqlens "$lens" $([ "$mask" = causal ] && echo --causal) "${pick[@]}" \
      --repeat 4 --check-rows 16 >"$OUT/ncu_${side}_$name.txt" 2>&1
    note "ncu $side $name: exit $?"
  done
  [ "${NCU_SKIP_PEER:-0}" = 1 ] || sides+=(cudnn)
  # cuDNN: its kernels of the 4th call (the big one is the attention kernel)
  if [ "${NCU_PEER_SASS:-0}" = 1 ]; then peer_sel=(--kernel-name regex:"fprop|flash|attn" --launch-skip 3 --launch-count 1 --section SourceCounters)
  else peer_sel=(--kernel-name regex:. --launch-skip 0 --launch-count 16); fi
  if [ "${NCU_SKIP_PEER:-0}" != 1 ]; then
    timeout "$(cap 80)" "$NCU" "${peer_sel[@]}" --clock-control none \
      "${SECTIONS[@]}" -f -o "$OUT/ncu_cudnn_$name" python3 bench/ncu_peer_prefill.py "${peer[@]}" \
      >"$OUT/ncu_cudnn_$name.txt" 2>&1
    rc=$?
    note "ncu peer $name ($([ "$row" = packed24 ] && echo "varlen_attn; its files say cudnn" || echo cuDNN)): exit $rc"
  fi
  for side in "${sides[@]}"; do
    rep="$OUT/ncu_${side}_$name.ncu-rep"
    [ -f "$rep" ] || continue
    "$NCU" --import "$rep" --print-summary none --page details >"$OUT/ncu_${side}_${name}_details.txt" 2>&1
    # the longest kernel of the report, its headline numbers
    python3 - "$OUT/ncu_${side}_${name}_details.txt" <<'PY' | sed "s/^/  $side $name /" | tee -a "$SUMMARY"
import re, sys
kernels, cur = [], None
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^\s{2}(\S.*?)\s+\(\d+, \d+, \d+\)x\(\d+, \d+, \d+\)", line)
    if m:
        cur = {"name": m.group(1), "lines": []}
        kernels.append(cur)
        continue
    if cur is not None and re.search(r"Duration|Issued Warp Per Scheduler|No Eligible|Compute \(SM\) Throughput|"
                                     r"Warp Cycles Per Issued|Memory Throughput|Registers Per Thread|SM Frequency|__", line):
        cur["lines"].append(" ".join(line.split()))
def duration(k):
    for l in k["lines"]:
        m = re.match(r"Duration (\S+) ([\d.,]+)", l)
        if m:
            return float(m.group(2).replace(",", "")) * {"us": 1, "ms": 1e3, "ns": 1e-3, "usecond": 1, "msecond": 1e3, "nsecond": 1e-3}.get(m.group(1), 1)
    return 0
if kernels:
    k = max(kernels, key=duration)
    print(k["name"][:70])
    print("\n".join(k["lines"][:32]))
else:
    print("no kernel parsed")
PY
  done
  for side in "${sides[@]}"; do
    [ "$side" = cudnn ] && [ "${NCU_PEER_SASS:-0}" != 1 ] && continue
    [ -f "$OUT/ncu_${side}_$name.ncu-rep" ] || continue
    "$NCU" --import "$OUT/ncu_${side}_$name.ncu-rep" --page source --print-source sass --csv >"$OUT/ncu_${side}_${name}_sass.csv" 2>&1
    python3 bench/ncu_sass_top.py "$OUT/ncu_${side}_${name}_sass.csv" 15 | sed "s/^/  $side $name /" | tee -a "$SUMMARY"
  done
done
# The device tool returns at most 8 files: the logs in one archive, the summary, some reports.
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz --exclude=summary.txt *.txt *.log *.csv 2>/dev/null && rm -f ncu_*.txt *.log *.csv)
ls "$OUT"/*.ncu-rep 2>/dev/null | tail -n +5 | xargs -r rm -f  # keep 4 reports
echo "==== summary"
cat "$SUMMARY"
