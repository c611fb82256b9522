#!/bin/bash
# Nsight Compute, one device call: the decode kernel's DRAM behaviour
# against cuDNN's on the same rows (fwd_decode.md "Next" item 1: ours ran
# DRAM at 83-84% of peak at b1 / b128 against cuDNN's 88-90%, and neither
# the request order inside a tile nor bytes in flight explained it).
#   run(command="bash bench/ncu_dram.sh", carry=[".deb"], timeout_s=560)
# For each row (NCU_DRAM_ROWS, "B:L[:bhsd]", default b128 x 1k and b1 x 128k;
# ":bhsd": ours over a heads-first cache, fa_demo --kv-heads-first, and
# cuDNN over [b, h, s, d]; where a row appears in both layouts, ours in
# bshd is also diffed against ours in bhsd):
#  1. every dram__* / fbpa__* / lts__t_sectors_* counter the tool offers on
#     this chip (regex), ours (fa_demo --decode, 3rd launch) and cuDNN's
#     decode kernel in [b, s, h, d] (bench/ncu_peer_decode.py, 3rd call);
#     bench/ncu_dram_diff.py prints the counters that differ by more than
#     NCU_DRAM_DIFF (default 3%), per byte read where that is a count;
#  2. the PM-sampling timeline (dram throughput over the launch) of both,
#     bucketed by bench/ncu_dram_diff.py --timeline: ramps at block starts
#     and the uneven end show there.
set -u
BUDGET=${BUDGET:-540}
. "$(dirname "$0")/device_common.sh"
build_demo_for_ncu
"$NCU" --version | tail -1 | tee -a "$SUMMARY"
"$NCU" --query-metrics >"$OUT/query_metrics.txt" 2>&1
grep -cE '^(dram|fbpa|fbp)__' "$OUT/query_metrics.txt" | sed 's/^/dram\/fbpa metrics offered: /' | tee -a "$SUMMARY"
"$NCU" --help 2>&1 | grep -iE "pm-sampling|print-metric-instances" | head -4 >>"$OUT/ncu_help.txt"
REGEX='regex:^(dram__|fbpa__|lts__t_sectors_(srcunit_tex_)?op_read|lts__t_sectors_srcunit_tex_lookup|gpu__time_duration)'
for row in ${NCU_DRAM_ROWS:-128:1024 1:131072}; do
  IFS=: read -r b l layout <<<"$row"
  layout=${layout:-bshd}
  tag=b$b$([ "$layout" = bhsd ] && echo _bhsd)
  lens=$(printf "$l,%.0s" $(seq "$b") | sed 's/,$//')
  for who in ours cudnn; do
    name=${who}_$tag
    if [ "$who" = ours ]; then
      cmd=(build/fa_demo --decode --seqlens-k "$lens" --repeat 4 --check-rows 16 $([ "$layout" = bhsd ] && echo --kv-heads-first))
      kre=fwd_decode
    else
      cmd=(python3 bench/ncu_peer_decode.py "$b" "$l" "$layout"); kre='flash|sdpa|fmha'
    fi
    timeout "$(cap 90)" "$NCU" --kernel-name "regex:$kre" --launch-skip 2 --launch-count 1 --clock-control none \
      --metrics "$REGEX" --csv --page raw "${cmd[@]}" >"$OUT/ncu_${name}.csv" 2>&1
    note "ncu $name counters: exit $? ($(grep -c '^"' "$OUT/ncu_${name}.csv") lines)"
    timeout "$(cap 60)" "$NCU" --kernel-name "regex:$kre" --launch-skip 2 --launch-count 1 --clock-control none \
      --section PmSampling --pm-sampling-interval "${NCU_PM_INTERVAL:-1000}" -f -o "$OUT/pm_${name}" "${cmd[@]}" \
      >"$OUT/pm_${name}.txt" 2>&1
    note "ncu $name pm sampling: exit $?"
    [ -f "$OUT/pm_${name}.ncu-rep" ] &&
      "$NCU" --import "$OUT/pm_${name}.ncu-rep" --page raw --csv --print-metric-instances values \
        >"$OUT/pm_${name}_raw.csv" 2>&1
    rm -f "$OUT/pm_${name}.ncu-rep"
  done
  python3 bench/ncu_dram_diff.py "$OUT/ncu_ours_$tag.csv" "$OUT/ncu_cudnn_$tag.csv" 2>&1 | sed "s/^/  $tag /" | tee -a "$SUMMARY"
  python3 bench/ncu_dram_diff.py --timeline "$OUT/pm_ours_${tag}_raw.csv" "$OUT/pm_cudnn_${tag}_raw.csv" 2>&1 |
    sed "s/^/  $tag /" | tee -a "$SUMMARY"
  if [ "$layout" = bhsd ] && [ -f "$OUT/ncu_ours_b$b.csv" ]; then  # ours: bshd (first) against bhsd
    python3 bench/ncu_dram_diff.py "$OUT/ncu_ours_b$b.csv" "$OUT/ncu_ours_$tag.csv" 2>&1 | sed "s/^/  ours b$b bshd-vs-bhsd /" | tee -a "$SUMMARY"
    python3 bench/ncu_dram_diff.py --timeline "$OUT/pm_ours_b${b}_raw.csv" "$OUT/pm_ours_${tag}_raw.csv" 2>&1 |
      sed "s/^/  ours b$b bshd-vs-bhsd /" | tee -a "$SUMMARY"
  fi
done
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz --exclude=summary.txt *.txt *.log *.csv 2>/dev/null &&
  find . -maxdepth 1 \( -name '*.txt' ! -name summary.txt -o -name '*.log' -o -name '*.csv' \) -delete)
echo "==== summary"
cat "$SUMMARY"
