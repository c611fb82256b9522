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
# the SMs and DRAM bytes read (L2 traffic per DRAM byte).
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
    --section LaunchStats --section Occupancy build/fa_demo --decode $args --repeat 4 --check-rows 16 >"$OUT/ncu_$name.txt" 2>&1
  note "ncu $name: exit $?"
  grep -E "DRAM Throughput|Memory Throughput|Duration|Achieved Occupancy|Warp Cycles Per Issued|Issued Warp|No Eligible|L2 Hit|Registers Per|Block Limit|Waves Per SM|Stall|One or More|dram__bytes_read|lts__t_sector" "$OUT/ncu_$name.txt" | head -24 | sed "s/^/  $name /" | tee -a "$SUMMARY"
done
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz --exclude=summary.txt *.txt *.log 2>/dev/null && rm -f ncu_*.txt *.log)
echo "==== summary"
cat "$SUMMARY"
