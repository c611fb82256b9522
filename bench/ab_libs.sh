#!/bin/sh
# Small libraries for a decode A/B, built here (not on the device), each
# gzipped into .ab/libs/NAME.so.gz (git-ignored; carry [".ab/libs"]):
# HEAD's tree with the named patches applied in order (patch -p1), the small
# spec at head dim 128 (sm_90), stripped of debug info.
#   sh bench/ab_libs.sh old= tickets=decode-plan-tickets \
#     always=decode-plan-tickets+decode-plan-tickets-always
# A patch is named as in bench/experiments/ (without .patch). Then
# bench/decode_order_ab.sh with ORDER_OLD / ORDER_NEW (no build on the
# device), or ORDER_PATCHES for the side that its tests must build there.
# The trees stay in .ab/NAME (built, for a rebuild after an edit); two
# libraries build at once (each ~45 s on two cores). AB_BINS=1: each tree's
# test_decode and fa_demo too (same small spec, stripped), gzipped into
# .ab/bin/NAME/ for decode_order_ab.sh's ORDER_BIN (the tests then run on
# the device with no build there); cmocka's headers from .deb/ if the
# system lacks them. AB_HEAD_DIMS (default 128): the head dims of the
# small spec, e.g. 32,64,80,96,128,192,256 for test_decode on every decode
# head dim (~12 min on two cores, ~28 MB gzipped).
set -eu
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: sh bench/ab_libs.sh NAME=[PATCH[+PATCH...]] ..." >&2; exit 2; }
mkdir -p .ab/libs
if [ "${AB_BINS:-0}" = 1 ]; then
  . bench/cmocka_env.sh
  setup_cmocka
  echo '#include <cmocka.h>' | cc -E -x c - >/dev/null 2>&1 ||
    { echo "ab_libs: AB_BINS=1 needs cmocka: mkdir -p .deb && cd .deb && apt-get download libcmocka0 libcmocka-dev" >&2; exit 2; }
fi
build_one() {
  name=${1%%=*} patches=${1#*=} dir=.ab/${1%%=*}
  # shellcheck disable=SC2046
  sh bench/ab_tree.sh "$dir" $(for p in $(echo "$patches" | tr '+' ' '); do echo "bench/experiments/$p.patch"; done) \
    >/dev/null || return 1
  (cd "$dir" && SMALL_HEAD_DIMS="${AB_HEAD_DIMS:-128}" python3 bench/small_spec.py gen/spec.py --wgmma-dims 128 >/dev/null &&
    ninja build/libflashattn.so >build.log 2>&1) || { echo "ab_libs: $name failed to build ($dir/build.log)" >&2; return 1; }
  strip -g -o ".ab/libs/$name.so" "$dir/build/libflashattn.so"
  gzip -f ".ab/libs/$name.so"
  if [ "${AB_BINS:-0}" = 1 ]; then
    (cd "$dir" && ninja build/tests/test_decode build/fa_demo >>build.log 2>&1) ||
      { echo "ab_libs: $name's test_decode / fa_demo failed to build ($dir/build.log)" >&2; return 1; }
    mkdir -p ".ab/bin/$name"
    for b in tests/test_decode fa_demo; do
      strip -g -o ".ab/bin/$name/${b#tests/}" "$dir/build/$b" && gzip -f ".ab/bin/$name/${b#tests/}"
    done
  fi
  echo "ab_libs: .ab/libs/$name.so.gz = $(git rev-parse --short HEAD)${patches:+ + $patches}"
}
# wait_all PID...: each build's own status (wait A B gives only B's).
wait_all() { rc=0; for p in "$@"; do wait "$p" || rc=1; done; return $rc; }
pids=""
for spec in "$@"; do
  case "$spec" in *=*) ;; *) echo "ab_libs: $spec is not NAME=PATCHES" >&2; exit 2 ;; esac
  build_one "$spec" &
  pids="$pids $!"
  # two at a time: nvcc holds ~2 GB a job
  # shellcheck disable=SC2086
  [ "$(echo $pids | wc -w)" -lt 2 ] || { wait_all $pids || exit 1; pids=""; }
done
# shellcheck disable=SC2086
wait_all $pids
