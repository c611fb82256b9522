#!/bin/bash
# Prepared in the ninety-eighth session for the next: does our programmatic
# launch start under the kernel before it, as do_bench orders them (flush
# kernel, start event, our call)? The dense list before griddep_wait
# (bench/experiments/wgmma-dense-list-before-wait.patch) measured level
# after a flush kernel; this tells whether there is any overlap to use.
# d64 and d128 s512 causal, dense calls, traced after the flush written by
# a kernel without and with an event between (trace_wgmma.sh
# TRACE_FLUSH_KERNEL=1; ~70 s). The summary's "flush kernel" lines give
# our blocks' entries against the flush kernel's last block end:
# negative = started under it. Then, if time is left, bench.py's whole
# grid (an H200 is wanted: its last grid is the eighty-first session's).
#   run(command="bash bench/s99_call2.sh", carry=[".deb"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
O=$OUT
TRACE_FLUSH_KERNEL=1 TRACE_DENSE=1 TRACE_ROWS="32:512:64:causal 32:512:128:causal" OUT=$O/trace \
  bash bench/trace_wgmma.sh >/dev/null 2>&1
echo "trace: exit $?"
cat "$O/trace/summary.txt"
[ "${GRID:-1}" = 1 ] || exit 0
export OUT=$O
. bench/device_common.sh
full_build
t0=$SECONDS
timeout $((590 - SECONDS)) python3 bench/bench.py --md "$O/bench.md" >"$O/bench.log" 2>&1
echo "bench: exit $? ($((SECONDS - t0)) s)"
tail -4 "$O/bench.log"
