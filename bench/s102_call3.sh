#!/bin/bash
# Prepared in the hundred-and-second session: is the varlen preamble's
# entry-0 placement (~1,850 cycles in bench/results-h100-2026-12-07-s101-
# place-table-ab.md's trace: two runtime divisions and a five-step
# bisection over shared memory) cold instruction fetch or arithmetic?
# .ab/tr = main + bench/experiments/wgmma-trace-place-twice.patch: in trace
# builds with FA_WGMMA_TRACE_PLACE_TWICE, thread 0 places entry 0 twice by
# the same instructions; trace_wgmma.py's "split->entry placed" is then the
# cold pass, "placed->place read" the warm one, "read->stored, fence" the
# listing loop with its own (third) placement.
# Prediction (written before any run): the warm pass 300-600 cycles
# against 1,800-2,200 cold, which would say the lever on this path is less
# code before the first issue (see fwd_wgmma.md, Next step 0).
#   sh bench/ab_tree.sh .ab/tr bench/experiments/wgmma-trace-place-twice.patch
#   run(command="bash bench/s102_call3.sh", carry=[".deb", ".ab/tr"], timeout_s=240)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
cp -r .deb .ab/tr/ 2>/dev/null
cd .ab/tr || exit 1
BUDGET=${BUDGET:-220} TRACE_COLD=1 TRACE_DEFINES=-DFA_WGMMA_TRACE_PLACE_TWICE \
  TRACE_ROWS="32:512:64:causal 32:512:128:causal" bash bench/trace_wgmma.sh 2>&1 | tail -60
