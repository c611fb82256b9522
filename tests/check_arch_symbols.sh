#!/bin/sh
# check_arch_symbols.sh - proves that no symbol of the library is defined,
# as a shared (weak, COMDAT) definition, by kernel objects built for two
# different GPU architectures. Such a symbol (a template instantiated with
# the same arguments in fwd_decode_sm80_* and fwd_decode_sm90_*) is kept
# once by the linker, so one architecture's launcher launches the other's
# kernel: "no kernel image is available" on that GPU. It happened: the
# sm_80 and sm_90 kernels of the mma and decode families shared their
# traits types until 2026-11-30 (libflashattn.so on an H200 launched the
# sm_80 decode kernel). Each generated kernel now has a traits type of its
# own (templates/fwd_*.cu.j2).
#
#   sh tests/check_arch_symbols.sh [build/libflashattn.a]
#
# An object's architecture is the _sm<NN>[a]_ in its generated file name;
# other objects (host code, helpers built for every architecture at once)
# are not compared. DW.ref.__gxx_personality_v0 (the compiler's pointer
# to the C++ exception personality routine, the same in every object) is
# not ours and not architecture-specific.
set -eu

lib=${1:-build/libflashattn.a}
if [ ! -f "$lib" ]; then
  echo "check_arch_symbols: $lib does not exist (build it first: ninja lib)" >&2
  exit 2
fi

# "arch symbol" for each weak or unique-global definition in a kernel object.
nm -A --defined-only "$lib" 2>/dev/null |
  awk '$(NF-1) ~ /^[WVu]$/ && $NF !~ /^DW\.ref\./ {
         split($1, parts, ":"); member = parts[2]
         if (match(member, /_sm[0-9]+a?_/)) print substr(member, RSTART + 1, RLENGTH - 2), $NF
       }' |
  sort -u >"${TMPDIR:-/tmp}/fa_arch_syms.$$"

shared=$(awk '{ archs[$2] = archs[$2] " " $1; n[$2]++ } END { for (s in n) if (n[s] > 1) print s ":" archs[s] }' \
  "${TMPDIR:-/tmp}/fa_arch_syms.$$")
rm -f "${TMPDIR:-/tmp}/fa_arch_syms.$$"
if [ -n "$shared" ]; then
  echo "check_arch_symbols: symbols defined by kernel objects of more than one architecture (the linker keeps one):"
  echo "$shared" | head -20
  exit 1
fi
echo "check_arch_symbols: no symbol shared between kernel objects of different architectures ($lib)"
