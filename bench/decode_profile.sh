#!/bin/bash
# Nsight Compute on the decode family (one device call, ~150 s): where a
# decoding step's time goes before changing the kernel. Small build
# (bench/small_spec.py), then ncu on fa_demo --decode for the benchmark's
# contiguous rows and one paged row, the decode kernel's 3rd launch
# (warm), sections: speed of light, memory workload, warp states,
# scheduler. Reports in $OUT/ncu_*.txt (one archive); a digest last.
#
#   run(command="bash bench/decode_profile.sh", carry=[".deb"], timeout_s=300)
# NCU_REUSE_BUILD=1: profile the build/fa_demo this call already built
# (e.g. after device_run.sh build) instead of the small build.
# NCU_CLOCK: ncu's --clock-control (default base: clocks locked at base,
# where this kernel is issue-bound; none: the clocks a run gets); NCU_ROWS:
# which rows (default the first five; b12s1: 12 x 4096 keys unsplit, 96 blocks
# on 132 SMs, where the kernel is compute-bound: trace, forty-first session;
# d64b8 / d64b8h: d64 b8 x 32k keys first / heads first, whose 3-4% gap
# the layout probe does not show: fwd_decode.md "Next" item 2). Each report adds L2 read sectors from
# the SMs and DRAM bytes read (L2 traffic per DRAM byte). NCU_SOURCE=1:
# also the SourceCounters section into a report, then the SASS lines with
# the most stall samples (where the warps wait: ncu_<row>_sass.csv, top 25
# in the summary).
set -u
BUDGET=${BUDGET:-280}
. "$(dirname "$0")/device_common.sh"
build_demo_for_ncu
rows=("b32:--seqlens-k $(printf '8192,%.0s' $(seq 32) | sed 's/,$//')"
      "b1:--seqlens-k 131072"
      "b128:--seqlens-k $(printf '1024,%.0s' $(seq 128) | sed 's/,$//')"
      "b32p16:--page-size 16 --seqlens-k $(printf '8192,%.0s' $(seq 32) | sed 's/,$//')"
      "b12s1:--splits 1 --seqlens-k $(printf '4096,%.0s' $(seq 12) | sed 's/,$//')"
      "d64b8:--head-dim 64 --seqlens-k $(printf '32768,%.0s' $(seq 8) | sed 's/,$//')"
      "d64b8h:--head-dim 64 --kv-heads-first --seqlens-k $(printf '32768,%.0s' $(seq 8) | sed 's/,$//')")
for r in "${rows[@]}"; do
  name=${r%%:*} args=${r#*:}
  case " ${NCU_ROWS:-b32 b1 b128 b32p16 b12s1} " in *" $name "*) ;; *) continue ;; esac
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
    python3 bench/ncu_sass_top.py "$OUT/ncu_${name}_sass.csv" 25 | sed "s/^/  $name /" | tee -a "$SUMMARY"
  fi
  grep -E "DRAM Throughput|Memory Throughput|Duration|Achieved Occupancy|Warp Cycles Per Issued|Issued Warp|No Eligible|L2 Hit|Registers Per|Block Limit|Waves Per SM|Stall|One or More|dram__bytes_read|lts__t_sector" "$OUT/ncu_$name.txt" | head -24 | sed "s/^/  $name /" | tee -a "$SUMMARY"
done
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz --exclude=summary.txt *.txt *.log *.csv 2>/dev/null && rm -f ncu_*.txt *.log *.csv)
echo "==== summary"
cat "$SUMMARY"
