#!/bin/bash
# Every generated kernel matching a pattern through ptxas, on this machine
# (no GPU needed): spills, local memory and the wgmma serialization notes
# (C7510-C7519, which ptxas prints as "info" lines, not warnings: a grep for
# "warning" misses them, fifty-fifth session), and, where an nvdisasm is
# found, bench/sass_rs_hazards.py on each kernel's SASS.
#   bash bench/ptxas_check.sh [PATTERN]     (default: wgmma; e.g. hdim64_bf16_causal)
#   NVDISASM=/path/to/nvdisasm bash bench/ptxas_check.sh
# About 80 s for the 66 wgmma kernels on the 2-core machine; exit 1 if any
# kernel has a finding.
# The build checks the first two for the wgmma family at every edge
# (tests/nvcc_ptxas_clean.sh, gen/spec.py ptxas_clean); this script adds the
# RS hazards and runs on other families and on trees not built.
set -u
cd "$(dirname "$0")/.." || exit 2
pattern=${1:-wgmma}
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
nvd=${NVDISASM:-$(command -v nvdisasm || true)}
out=$(mktemp -d /tmp/ptxas_check.XXXXXX)
jobs=$(nproc 2>/dev/null || echo 2)
ls generated/cuda/ | grep -- "$pattern" | grep '\.cu$' | sed 's/\.cu$//' >"$out/list"
[ -s "$out/list" ] || { echo "no generated kernel matches '$pattern'"; exit 2; }
# each kernel for the target its name gives (sm80, sm90, sm90a)
xargs -P "$jobs" -I{} sh -c 'arch=sm_90; case {} in *sm90a*) arch=sm_90a ;; *sm80*) arch=sm_80 ;; esac;
  "$0" -O3 -std=c++17 -Iinclude -Isrc -Igenerated -gencode arch=compute_${arch#sm_},code=$arch \
    -Xptxas -v,-warn-spills -cubin generated/cuda/{}.cu -o "$1/{}.cubin" >"$1/{}.log" 2>&1 || echo "{}: compile failed" >>"$1/failed"' \
  "$nvcc" "$out" <"$out/list"
found=0
[ -f "$out/failed" ] && { cat "$out/failed"; found=1; }
while read -r k; do
  notes=$(grep -ohE "\(C75[0-9][0-9]\)|[1-9][0-9]* bytes spill (stores|loads)|Local memory used" "$out/$k.log" | sort -u | paste -sd' ')
  if [ -n "$notes" ]; then echo "$k: $notes"; found=1; fi
  if [ -n "$nvd" ] && [ -f "$out/$k.cubin" ]; then
    "$nvd" -c "$out/$k.cubin" >"$out/$k.sass" 2>/dev/null &&
      { python3 bench/sass_rs_hazards.py "$out/$k.sass" >"$out/$k.rs" || { tail -3 "$out/$k.rs"; found=1; }; }
  fi
done <"$out/list"
echo "$(wc -l <"$out/list") kernels matching '$pattern': $([ $found = 0 ] && echo "no spills, no C75xx$([ -n "$nvd" ] && echo ", no RS-register writes in flight")" || echo "findings above") (logs in $out)"
exit $found
