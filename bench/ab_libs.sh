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
# libraries build at once (each ~45 s on two cores).
set -eu
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: sh bench/ab_libs.sh NAME=[PATCH[+PATCH...]] ..." >&2; exit 2; }
mkdir -p .ab/libs
build_one() {
  name=${1%%=*} patches=${1#*=} dir=.ab/${1%%=*}
  # shellcheck disable=SC2046
  sh bench/ab_tree.sh "$dir" $(for p in $(echo "$patches" | tr '+' ' '); do echo "bench/experiments/$p.patch"; done) \
    >/dev/null || return 1
  (cd "$dir" && SMALL_HEAD_DIMS=128 python3 bench/small_spec.py gen/spec.py --wgmma-dims 128 >/dev/null &&
    ninja build/libflashattn.so >build.log 2>&1) || { echo "ab_libs: $name failed to build ($dir/build.log)" >&2; return 1; }
  strip -g -o ".ab/libs/$name.so" "$dir/build/libflashattn.so"
  gzip -f ".ab/libs/$name.so"
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
