#!/bin/sh
# check_globals.sh - proves that the library keeps no mutable global state
# of its own (SPEC: "Keep mutable global state ... never"; README: thread
# safe): lists every symbol of the static library that lives in a writable
# data section and fails on any that is not one of nvcc's own, listed and
# explained below. Also fails if a C object has a non-empty writable
# section at all (anonymous data: a string literal written through, a
# compiler-made static).
#
#   sh tests/check_globals.sh [build/libflashattn.a]
#
# Writable sections: .data, .data.*, .bss, .bss.*, .tdata, .tbss (thread
# locals are state too), COMMON, and nvcc's .nvFatBinSegment. Not:
# .data.rel.ro* - const objects holding pointers (the kernel table) land
# there because the pointers need relocating at load time; the dynamic
# loader (RELRO) or the static link makes them read-only before main.
#
# Allowed, and only in CUDA objects (*.cu.o), because nvcc emits them in
# every translation unit with a kernel and none of them is ours:
#   _ZL20__cudaFatCubinHandle       the fat binary's handle, written once by
#                                   the CUDA runtime's registration code
#                                   (a static constructor, before main)
#   _ZL15__fatDeviceText            the fat binary wrapper (.nvFatBinSegment),
#                                   read by that registration
#   *__nv_fatbinhandle_for_managed_rt, *__nv_inited_managed_rt,
#   *__cudaPrelinkedFatbins         the same, for other nvcc versions
#   _ZZ*__device_stub__*E8__handle, _ZZ*__device_stub__*E5__tmp and their
#   _ZGVZ*__device_stub__* guards   function-local statics of the <<<>>>
#                                   launch stubs; never executed: every
#                                   kernel is launched with cudaLaunchKernel
#                                   (src/cuda/fwd_mma.cuh, src/cuda/helpers.cu)
# The CUDA runtime (libcudart_static) keeps its own state (contexts,
# modules); it is thread safe and not part of this library's objects.
set -eu

lib=${1:-build/libflashattn.a}
if [ ! -f "$lib" ]; then
  echo "check_globals: $lib does not exist (build it first: ninja lib)" >&2
  exit 2
fi
command -v objdump >/dev/null 2>&1 || { echo "check_globals: objdump (binutils) is required" >&2; exit 2; }

tmp=${TMPDIR:-/tmp}/check_globals.$$
trap 'rm -f "$tmp".*' EXIT INT TERM

# member<TAB>section<TAB>name for every symbol in a writable section.
objdump -t "$lib" 2>/dev/null | awk '
  /file format/ { obj = $1; sub(/:$/, "", obj); next }
  /\t/ {
    split($0, halves, "\t")
    n = split(halves[1], head, " ")
    sec = head[n]
    rest = halves[2]
    sub(/^[0-9a-fA-F]+[ ]+/, "", rest)   # drop the size: the name remains
    name = rest
    if (name == sec) next                 # section symbol
    writable = (sec ~ /^\.(data|bss|tdata|tbss)($|\.)/ || sec == "*COM*" || sec == ".nvFatBinSegment")
    if (sec ~ /^\.data\.rel\.ro($|\.)/) writable = 0
    if (writable) printf "%s\t%s\t%s\n", obj, sec, name
  }' > "$tmp.syms"

# member<TAB>section<TAB>size for every non-empty writable section.
objdump -h "$lib" 2>/dev/null | awk '
  /file format/ { obj = $1; sub(/:$/, "", obj); next }
  $1 ~ /^[0-9]+$/ && NF >= 3 {
    sec = $2; size = $3
    writable = (sec ~ /^\.(data|bss|tdata|tbss)($|\.)/ || sec == ".nvFatBinSegment")
    if (sec ~ /^\.data\.rel\.ro($|\.)/) writable = 0
    if (writable && size !~ /^0+$/) printf "%s\t%s\t%s\n", obj, sec, size
  }' > "$tmp.secs"

awk -F'\t' '
  function nvcc_own(name) {
    return name == "_ZL20__cudaFatCubinHandle" || name == "_ZL15__fatDeviceText" ||
           name ~ /__nv_fatbinhandle_for_managed_rt$/ || name ~ /__nv_inited_managed_rt$/ ||
           name ~ /__cudaPrelinkedFatbins$/ ||
           (name ~ /^_ZZ.*__device_stub__/ && name ~ /E(8__handle|5__tmp)$/) || name ~ /^_ZGVZ.*__device_stub__/
  }
  {
    if ($1 ~ /\.cu\.o$/ && nvcc_own($3)) { allowed++; next }
    printf "check_globals: UNEXPECTED writable symbol %s in %s (section %s)\n", $3, $1, $2
    bad++
  }
  END {
    printf "check_globals: %d writable symbols, all nvcc registration / launch-stub statics of CUDA objects; %d unexpected\n", allowed, bad
    exit bad > 0
  }' "$tmp.syms" || status=1

awk -F'\t' '
  $1 !~ /\.cu\.o$/ {
    printf "check_globals: UNEXPECTED non-empty writable section %s (0x%s bytes) in %s\n", $2, $3, $1
    bad++
  }
  END { exit bad > 0 }' "$tmp.secs" || status=1

if [ "${status:-0}" -ne 0 ]; then
  echo "check_globals: FAILED: the library must keep no mutable global state (SPEC.md). Make the object const," >&2
  echo "check_globals: move it into the caller's parameters, or (if nvcc emits it) add it above with the reason." >&2
  exit 1
fi
members=$(ar t "$lib" | wc -l)
echo "check_globals: OK: $members objects in $lib, no mutable global state of our own"
