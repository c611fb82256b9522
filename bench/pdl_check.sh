#!/bin/bash
# Programmatic launches (fa_fwd_params.launch_flags, 0.4) checked in one
# device call (~400 s on an H200):
#   the full build; test_stream, whose last case runs a prefill (wgmma) and
#   a split decode call right after a kernel that lets them start at once
#   and writes their inputs 200 us later (tests/pdl_writer.cu);
#   the same case on a copy whose decode and wgmma kernels lack
#   griddep_wait: it must FAIL (the test's sensitivity);
#   bench/pdl_chain.py (N calls in a CUDA graph, programmatic against plain
#   launches, interleaved);
#   test_decode and test_fwd on the d128 bf16 decode and wgmma kernels,
#   test_api, test_dispatch; memcheck of test_stream, racecheck of a decode
#   group.
#   run(command="bash bench/pdl_check.sh", carry=[".deb"], timeout_s=600)
# PDL_STEPS: which of "stream nopdl chain tests san" (default all).
set -u
STEPS=" ${PDL_STEPS:-stream nopdl chain tests san} "
want() { case "$STEPS" in *" $1 "*) return 0 ;; esac; return 1; }
BUDGET=${BUDGET:-540}
. "$(dirname "$0")/device_common.sh"
setup_cmocka
run_test() {  # cap, log name, command...
  local c=$1 log=$2
  shift 2
  timeout "$(cap "$c")" "$@" >"$OUT/$log" 2>&1
  note "$log: exit $? ($(counts "$OUT/$log"))"
}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/env.txt" >>"$SUMMARY"

t=$SECONDS
if timeout "$(cap 200)" ninja -j16 all build/libflashattn.so >"$OUT/build.log" 2>&1; then
  note "build: ok in $((SECONDS - t)) s"
else
  note "build: FAILED"; tail -30 "$OUT/build.log"; exit 1
fi
grep -E "spill|Local memory" "$OUT/build.log" | grep -E "decode_sm90|wgmma" | sort | uniq -c | head -5 | tee -a "$SUMMARY"

if want stream; then
  run_test 60 test_stream.log build/tests/test_stream
  grep -E "call, kernel|FAILED|not the bits|skipped" "$OUT/test_stream.log" | head -8 | tee -a "$SUMMARY"
fi

# The negative control: no griddep_wait in the decode and wgmma kernels.
want nopdl && {
t=$SECONDS
copy_tree . /tmp/nopdl
sed -i '/^  griddep_wait();$/d' /tmp/nopdl/src/cuda/fwd_decode.cuh /tmp/nopdl/src/cuda/decode/pieces.cuh /tmp/nopdl/src/cuda/fwd_wgmma.cuh
note "negative control: griddep_wait left in the decode/wgmma kernels: $(cat /tmp/nopdl/src/cuda/fwd_decode.cuh /tmp/nopdl/src/cuda/decode/pieces.cuh /tmp/nopdl/src/cuda/fwd_wgmma.cuh | grep -c 'griddep_wait();')"
if (cd /tmp/nopdl && timeout 10 python3 bench/small_spec.py gen/spec.py --wgmma-dims 128 &&
    timeout "$(cap 150)" ninja -j16 build/tests/test_stream >"$OUT/nopdl_build.log" 2>&1); then
  note "negative control build: $((SECONDS - t)) s"
  run_test 60 test_stream_nopdl.log /tmp/nopdl/build/tests/test_stream
  grep -E "FAILED|not the bits" "$OUT/test_stream_nopdl.log" | head -4 | tee -a "$SUMMARY"
else
  note "negative control build: FAILED"; tail -10 "$OUT/nopdl_build.log"
fi
}

want chain && PYTHONPATH=python timeout "$(cap 180)" python3 bench/pdl_chain.py --layers 8 --rounds 3 2>&1 |
  grep -vi warn | tee "$OUT/pdl_chain.log" | grep -E "per call|ERR|Error" >>"$SUMMARY"

if want tests; then
  run_test 90 test_decode_d128.log build/tests/test_decode decode_fwd_decode_sm90_hdim128_bf16
  run_test 60 test_decode_graph.log build/tests/test_decode graph_fwd_decode_sm90_hdim128_bf16
  run_test 90 test_fwd_wgmma_d128.log build/tests/test_fwd fwd_wgmma_sm90a_hdim128_bf16
  run_test 60 test_api.log build/tests/test_api
  run_test 60 test_dispatch.log build/tests/test_dispatch
fi
# stream_error_is_reported provokes a capture error on purpose: API errors
# are not what the sanitizer is asked about here.
want san && for tool in memcheck racecheck; do
  timeout "$(cap 60)" compute-sanitizer --tool "$tool" --report-api-errors no --error-exitcode 99 build/tests/test_stream \
    >"$OUT/san_${tool}_stream.log" 2>&1
  note "compute-sanitizer $tool test_stream: exit $? ($(counts "$OUT/san_${tool}_stream.log")); $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san_${tool}_stream.log" | tail -1)"
done
note "total: $((SECONDS - T0)) s"
echo "==== summary"
cat "$SUMMARY"
