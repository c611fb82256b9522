#!/bin/bash
# A host rule of the decode family (which launches plan on the device)
# against an older build, in one device call, on batches of unequal and
# equal caches: decode_skew.py --batches with this tree's library first and
# then the old one first in each round (the place-in-the-order bias), the
# row(s) of bench_decode.py (ORDER_SECTIONS), test_decode's d128 bf16 cases on this tree,
# and memcheck / racecheck of an fa_demo --decode run that plans.
#   sh bench/ab_tree.sh .ab/old; (cd .ab/old && python3 bench/small_spec.py gen/spec.py &&
#     ninja build/libflashattn.so); strip -g -o .ab/libs/old.so .ab/old/build/libflashattn.so;
#     gzip .ab/libs/old.so        (a built library travels gzipped: ~5 MB instead of ~21)
#   run(command="bash bench/decode_order_ab.sh", carry=[".deb", ".ab/libs"])
# ORDER_OLD: the old library (.so or .so.gz; default .ab/libs/old.so.gz);
# ORDER_BATCHES: decode_skew.py --batches; ORDER_TESTS: test_decode filters
# ("" skips the tests and sanitizers); ORDER_PATCHES: patches applied in
# order (patch -p1) to this tree before its build, the new side (e.g.
# bench/experiments/decode-plan-tickets.patch against main's library);
# ORDER_SKEW_ARGS: more decode_skew.py options (e.g. "--heads 32:4");
# ORDER_SECTIONS: bench_decode.py's sections, timed against the old library
# (default mixed; decode for the bar rows), ORDER_BENCH_ARGS more of its
# options (e.g. "--pages 16"). ORDER_NEW: a library built elsewhere (.so or
# .so.gz, e.g. a small build of main + a patch) as the new side: no
# patches, no build, so ORDER_TESTS must be "". ORDER_FULL=1: build this
# tree's whole spec (every head dim, dtype and arch) instead of the small
# one, so that ORDER_TESTS can name any test_decode group; the filters
# then run at once, each its own process (the timing is done by then).
# ORDER_BIN=DIR (with ORDER_NEW): test_decode.gz and fa_demo.gz built on
# another machine from the tree of ORDER_NEW (a wider spec than the small
# one, e.g. every decode head dim), so ORDER_TESTS can run with no build
# here; its filters run at once as with ORDER_FULL. ORDER_DEMO_HEADS: the
# sanitized demo's heads (default "--heads-q 32 --heads-k 8": 272 units,
# more than one wave at d128 on 132 SMs; "--heads-q 32 --heads-k 4": one).
set -u
BUDGET=${BUDGET:-560}
. "$(dirname "$0")/device_common.sh"
OLD=${ORDER_OLD:-.ab/libs/old.so.gz}
BATCHES=${ORDER_BATCHES:-48:16384,48:16384:2,40:12000,64:8192,128:8192,96:4096,128:4096,256:4096,256:2048,64=4096,128=8192,48=16000}
TESTS=${ORDER_TESTS-decode_fwd_decode_sm90_hdim128_bf16}
SECTIONS=${ORDER_SECTIONS:-mixed} BENCH_ARGS=${ORDER_BENCH_ARGS:-}
DEMO_HEADS=${ORDER_DEMO_HEADS:---heads-q 32 --heads-k 8}
note "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
setup_cmocka
# unpack LIB DEST: a library carried as .so or .so.gz.
unpack() { case "$1" in *.gz) gzip -dc "$1" >"$2" ;; *) cp "$1" "$2" ;; esac; }
LIB_OLD=/tmp/old_lib.so
unpack "$OLD" $LIB_OLD
if [ -n "${ORDER_NEW:-}" ]; then
  [ -z "${ORDER_PATCHES:-}" ] || { note "ORDER_NEW: no ORDER_PATCHES (nothing is built)"; exit 2; }
  LIB_NEW=/tmp/new_lib.so
  unpack "$ORDER_NEW" $LIB_NEW
  if [ -n "${ORDER_BIN:-}" ]; then
    mkdir -p build/tests
    unpack "$ORDER_BIN/test_decode.gz" build/tests/test_decode && unpack "$ORDER_BIN/fa_demo.gz" build/fa_demo &&
      chmod +x build/tests/test_decode build/fa_demo || { note "ORDER_BIN $ORDER_BIN: no test_decode.gz / fa_demo.gz"; exit 2; }
    note "tests: carried binaries from $ORDER_BIN"
  else
    [ -z "$TESTS" ] || { note "ORDER_NEW: set ORDER_TESTS=\"\" or ORDER_BIN (nothing is built)"; exit 2; }
  fi
  note "new side: $ORDER_NEW; old side: $OLD"
else
for p in ${ORDER_PATCHES:-}; do
  patch -p1 -s --no-backup-if-mismatch <"$p" || { note "patch $p: FAILED"; exit 1; }
  note "applied $p"
done
t=$SECONDS
{ { [ "${ORDER_FULL:-0}" = 1 ] || timeout 10 python3 bench/small_spec.py gen/spec.py; } && timeout "$(cap 300)" ninja -j16 build/libflashattn.so \
  ${TESTS:+build/tests/test_decode build/fa_demo}; } >"$OUT/build.log" 2>&1 || { note "build: FAILED"; tail -20 "$OUT/build.log"; exit 1; }
note "build: ok in $((SECONDS - t)) s"
LIB_NEW=$(realpath build/libflashattn.so)
fi

for side in new-first old-first; do
  swap=""; [ $side = old-first ] && swap=--swap
  PYTHONPATH=python FLASHATTN_LIB=$LIB_NEW timeout "$(cap 200)" python3 bench/decode_skew.py --splits 0 --pages 0 \
    --ab "$LIB_OLD" --batches "$BATCHES" $swap ${ORDER_SKEW_ARGS:-} --json "$OUT/order_$side.json" 2>&1 | grep -v -i warn |
    tee "$OUT/order_$side.log" | grep -E "seqs|splits0|old" | sed "s/^/[$side] /" >>"$SUMMARY"
done
# shellcheck disable=SC2086
PYTHONPATH=python FLASHATTN_LIB=$LIB_NEW timeout "$(cap 180)" python3 bench/bench_decode.py --sections "$SECTIONS" \
  $BENCH_ARGS --ab "$LIB_OLD" --json "$OUT/bench.json" --md "$OUT/bench.md" 2>&1 | grep -v -i warn | tail -40 |
  sed "s/^/[bench] /" >>"$SUMMARY"

if [ -n "$TESTS" ]; then
  # shellcheck disable=SC2086
  if [ "${ORDER_FULL:-0}" = 1 ] || [ -n "${ORDER_BIN:-}" ]; then
    for f in $TESTS; do (b=$(cap 240); T0=$SECONDS BUDGET=$b SUMMARY=$OUT/summary_$f.txt; : >"$SUMMARY"; decode_tests 240 "$f") & done
    wait; cat "$OUT"/summary_*.txt >>"$SUMMARY"
  else
    decode_tests 200 $TESTS
  fi
  # shellcheck disable=SC2086
  sanitize_decode_demo "(34 caches 1..16k, $DEMO_HEADS)" $DEMO_HEADS --check-rows 8 --seqlens-k \
    3000,100,2500,7,16384,1,2049,900,3500,60,2100,2300,1500,4000,20,3900,2200,10,2600,3100,50,1999,3333,2048,1200,4001,5,3999,2047,700,2900,3800,15,2500
fi
cat "$SUMMARY"
