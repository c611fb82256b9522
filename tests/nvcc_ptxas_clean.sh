#!/bin/sh
# nvcc for a family whose kernels must compile clean (gen/spec.py
# ptxas_clean: the wgmma family): ptxas's report (-v) goes to OUT.ptxas,
# and the build edge fails, with the object removed, on a register spill,
# local memory, or a C75xx note (wgmma serialized: ptxas prints those as
# info lines, not warnings, so -warn-spills alone misses them).
#   sh tests/nvcc_ptxas_clean.sh OUT NVCC ARGS...   (ARGS end with -o OUT)
# FA_PTXAS_FINDINGS=warn (in the environment of ninja): print the findings
# and keep the object (an experiment timed although it spills).
set -u
out=$1
shift
log=$out.ptxas
if ! "$@" -Xptxas -v 2>"$log"; then
  cat "$log" >&2
  exit 1
fi
# what nvcc printed but ptxas's report: warnings stay visible
grep -v -e '^ptxas info' -e '^    [0-9]* bytes stack frame' "$log" | grep -vE '^\s*$' >&2
findings=$(grep -E '\(C75[0-9][0-9]\)|[1-9][0-9]* bytes spill (stores|loads)|Local memory used' "$log")
if [ -n "$findings" ]; then
  printf '%s: ptxas findings (spills, local memory or wgmma serialization; full report in %s):\n%s\n' \
    "$out" "$log" "$findings" >&2
  [ "${FA_PTXAS_FINDINGS:-fail}" = warn ] && exit 0
  rm -f "$out"
  exit 1
fi
exit 0
