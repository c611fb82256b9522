#!/bin/bash
# Hundred-and-first session, third call (warm machine after s101_call2.sh,
# whose P tests found no libcmocka: the script ran them before
# setup_cmocka; and whose trace's steps went into traces.tgz, which did not
# come back with too many files). P's tests and sanitizers, then the
# preamble traces, varlen (main) and dense after a flush kernel (main),
# their steps printed here. Logs in one archive.
#   run(command="bash bench/s101_call3.sh", carry=[".deb", ".ab/pl"], timeout_s=450)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
O=$OUT
. bench/device_common.sh
setup_cmocka
if [ ! -x /tmp/wab/P/build/tests/test_fwd ]; then  # a fresh machine: build both sides again
  AB_VARIANTS=none AB_OLD2=.ab/pl AB_ROUNDS=1 AB_TEST_SIDES="none" AB_WGMMA_DIMS=64,128,256 AB_TIME_DIMS=64 \
    AB_GRID=quick AB_SAN_TOOLS=none BUDGET=170 bash bench/wgmma_ab.sh >/dev/null 2>&1
  echo "rebuilt: exit $?"
fi
mkdir -p "$O/t"
wgmma_tests_at_once /tmp/wab/P/build 120 wgmma_sm90a_hdim64 wgmma_sm90a_hdim128 wgmma_sm90a_hdim256 fwd_cuda_wgmma
SAN_TOOLS="memcheck racecheck" sanitize_at_once /tmp/wab/P/build 120 hdim64_bf16_causal
mv "$O"/test_fwd_*.log "$O"/san_*.log "$O/t/"
ROWS="32:512:64:causal 32:512:128:causal"
BUDGET=120 TRACE_COLD=1 TRACE_ROWS="$ROWS" OUT=$O/t/trace_varlen bash bench/trace_wgmma.sh >"$O/t/trace_varlen.out" 2>&1
echo "trace, varlen calls (main): exit $?"
grep -A16 "^preamble" "$O/t/trace_varlen.out" | head -40
BUDGET=150 TRACE_FLUSH_KERNEL=1 TRACE_DENSE=1 TRACE_ROWS="$ROWS" OUT=$O/t/trace_dense bash bench/trace_wgmma.sh \
  >"$O/t/trace_dense.out" 2>&1
echo "trace, dense calls (main): exit $?"
grep -h "flush kernel" "$O/t/trace_dense.out" | head -8
grep -A16 "^preamble" "$O/t/trace_dense.out" | head -60
(cd "$O/t" && tar czf ../logs.tgz .) && rm -rf "$O/t"
