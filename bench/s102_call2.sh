#!/bin/bash
# Hundred-and-second session, second call: main after s102_call1.sh's
# merge (varlen calls' first tile issued while the list is built, and where
# it gained, their causal entry 0 placed before the tail's choice) on the
# full build: merged_tests (every wgmma head dim, the walk, test_stream,
# test_stress, test_dispatch); memcheck, racecheck and synccheck of hdim64
# bf16 causal (tables in Q tile 1), hdim96 bf16 none (tables in the O
# staging area) and hdim256 bf16 causal at once; then the whole prefill
# grid with its extras (bench.py; TOTAL: the call's seconds less a margin).
#   run(command="bash bench/s102_call2.sh", carry=[".deb"], timeout_s=600)
set -u
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
merged_tests
sanitize_at_once build 110 hdim64_bf16_causal hdim96_bf16_none hdim256_bf16_causal
grid_bench "${TOTAL:-585}"
