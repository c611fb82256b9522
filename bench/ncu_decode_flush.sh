#!/bin/bash
# Nsight Compute of the decode bar rows right after do_bench's flush
# (bench/decode_flush_ncu.py; fwd_decode.md [event-gap]): ours against
# cuDNN in both layouts, per side the kernels' duration, DRAM read and
# write bytes and L2 lookups, with the flush's dirty lines left in L2
# (--cache-control none) at boost clocks (--clock-control none), each
# metric pass a whole run of the application (so every kernel sees its
# flush as do_bench leaves it). Needs build/libflashattn.so with the d128
# decode kernels (build-small, or NCU_REUSE_BUILD=1 after it).
#   run(command="bash bench/device_run.sh build-small && bash bench/ncu_decode_flush.sh", carry=[".deb"])
set -u
BUDGET=${BUDGET:-280}
. "$(dirname "$0")/device_common.sh"
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null)
ROWS=${FLUSH_ROWS:-1:131072,8:32768,32:8192,128:1024}
# $FLUSH_SIDES: more sides of ours (decode_flush_ncu.py --sides), e.g. bhsd,nopdl.
SIDES=(${FLUSH_SIDES:+--sides "$FLUSH_SIDES"})
M=$(cd bench && python3 -c 'import decode_flush_ncu as d; print(",".join(d.METRICS))')
note "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
# $FLUSH_MODES: what comes before each call (decode_flush_ncu.py --flush):
# zero (do_bench's flush), read (a clean, full L2), none (a steady loop).
for mode in ${FLUSH_MODES:-zero}; do
  csv=$OUT/ncu_flush_$mode.csv
  PYTHONPATH=python timeout "$(cap 150)" "$NCU" --profile-from-start off --replay-mode application \
    --cache-control none --clock-control none --csv --print-units base --metrics "$M" \
    python3 bench/decode_flush_ncu.py --rows "$ROWS" --reps "${FLUSH_REPS:-3}" --flush "$mode" "${SIDES[@]}" >"$csv" 2>"$csv.err"
  note "ncu --flush $mode: exit $? ($(grep -c '^"' "$csv") csv lines)"
  python3 bench/decode_flush_ncu.py --rows "$ROWS" --reps "${FLUSH_REPS:-3}" "${SIDES[@]}" --parse "$csv" | sed "s/^/$mode /" | tee -a "$SUMMARY"
  tail -2 "$csv.err"
  PYTHONPATH=python timeout "$(cap 60)" python3 bench/decode_flush_ncu.py --rows "$ROWS" --flush "$mode" "${SIDES[@]}" --time 2>&1 |
    grep -E '^time|Error' | tee -a "$SUMMARY"
done
