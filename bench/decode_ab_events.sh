#!/bin/bash
# A decode change against an older tree, in one device call: both small
# builds, then the rows timed with events, sides interleaved call by call
# (bench/decode_flush_ncu.py --time --libs: ours, the old build, cuDNN in
# both layouts), the skewed batches (decode_skew.py --ab), test_decode's
# cases of the changed kernels against the double reference, and
# memcheck / racecheck of fa_demo --decode runs. Prints a short table last.
#   sh bench/ab_tree.sh .ab/old
#   run(command="bash bench/decode_ab_events.sh", carry=[".deb", ".ab"])
# AB_OLD (default .ab/old); AB_ROWS (B:L,..., d128) and AB_ROWS_D64 (d64;
# empty skips); AB_PASSES (default 2): the event loop again, sides in the
# same interleaving, to see the spread; AB_TESTS: test_decode filters;
# AB_SKEW_ARGS: more decode_skew.py options (e.g. --head-dim 64);
# AB_DEMOS: fa_demo --decode argument sets (";"-separated) under memcheck
# and racecheck; AB_SKEW=0 skips the skewed batches. AB_ORDER=swapped:
# the old build is the first side ("ours") and this tree's the fourth
# (ours_new), with the old build again last (ours_old: the same code two
# places apart, for the bias of the place in the order). AB_TIME_ARGS:
# more decode_flush_ncu.py options (--cold: each call of ours after an
# untimed cuDNN call, so that no side finds its code in the SMs' caches).
# AB_MORE=NAME=DIR,...: more trees (under .ab/, carried), each built and
# timed as side ours_NAME, and their skewed batches against the old tree.
set -u
BUDGET=${BUDGET:-560}
. "$(dirname "$0")/device_common.sh"
OLD=${AB_OLD:-.ab/old}
ROWS=${AB_ROWS:-1:131072,8:32768,32:8192,128:1024,8:16384,8:65536,32:16384}
ROWS_D64=${AB_ROWS_D64-8:32768,32:16384}
PASSES=${AB_PASSES:-2}
TESTS=${AB_TESTS-decode_fwd_decode_sm90_hdim128_bf16 decode_fwd_decode_sm90_hdim64_fp16}
DEMOS=${AB_DEMOS---heads-q 4 --heads-k 1 --seqlens-k 16384,16384,16384,16384,16384,16384,16384,16384 --check-rows 8}
note "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"

build_tree() {  # DIR: the small build's libflashattn.so (and the test programs here)
  local t=$SECONDS targets=build/libflashattn.so
  [ "$1" = . ] && targets="$targets build/tests/test_decode build/fa_demo"
  (cd "$1" && timeout 10 python3 bench/small_spec.py gen/spec.py && timeout "$(cap 240)" ninja -j16 $targets) \
    >"$OUT/build_$(basename "$(realpath "$1")").log" 2>&1 || { note "build $1: FAILED"; tail -20 "$OUT"/build_*.log; exit 1; }
  note "build $1: ok in $((SECONDS - t)) s"
}
setup_cmocka
build_tree .
build_tree "$OLD"
MORE=""
for item in $(echo "${AB_MORE:-}" | tr ',' ' '); do
  build_tree "${item#*=}"
  MORE="$MORE,${item%%=*}=${item#*=}/build/libflashattn.so"
done

LIBS="old=$OLD/build/libflashattn.so$MORE"
if [ "${AB_ORDER:-}" = swapped ]; then
  export FLASHATTN_LIB="$OLD/build/libflashattn.so"
  LIBS="new=build/libflashattn.so,old=$OLD/build/libflashattn.so"
fi
for pass in $(seq "$PASSES"); do
  PYTHONPATH=python timeout "$(cap 150)" python3 bench/decode_flush_ncu.py --rows "$ROWS" --flush zero --time \
    --libs "$LIBS" ${AB_TIME_ARGS:-} 2>&1 | grep -v -i warn | tee -a "$OUT/time_d128.log" | sed "s/^/[pass $pass d128] /" >>"$SUMMARY"
  [ -n "$ROWS_D64" ] && PYTHONPATH=python timeout "$(cap 100)" python3 bench/decode_flush_ncu.py --rows "$ROWS_D64" --flush zero \
    --time --head-dim 64 --libs "$LIBS" ${AB_TIME_ARGS:-} 2>&1 | grep -v -i warn | tee -a "$OUT/time_d64.log" |
    sed "s/^/[pass $pass d64] /" >>"$SUMMARY"
done
[ "${AB_SKEW:-1}" = 1 ] && PYTHONPATH=python FLASHATTN_LIB=build/libflashattn.so timeout "$(cap 150)" \
  python3 bench/decode_skew.py --splits 0 --ab "$OLD/build/libflashattn.so" --json "$OUT/skew.json" ${AB_SKEW_ARGS:-} 2>&1 |
  grep -v -i warn | tee "$OUT/skew.log" | grep -E "seqs|splits0|old" | sed "s/^/[skew] /" >>"$SUMMARY"
for item in $(echo "${AB_MORE:-}" | tr ',' ' '); do
  [ "${AB_SKEW:-1}" = 1 ] && PYTHONPATH=python FLASHATTN_LIB="${item#*=}/build/libflashattn.so" timeout "$(cap 150)" \
    python3 bench/decode_skew.py --splits 0 --ab "$OLD/build/libflashattn.so" --json "$OUT/skew_${item%%=*}.json" 2>&1 |
    grep -v -i warn | tee "$OUT/skew_${item%%=*}.log" | grep -E "seqs|splits0|old" | sed "s/^/[skew ${item%%=*}] /" >>"$SUMMARY"
done

# shellcheck disable=SC2086
decode_tests 150 $TESTS
IFS=';' read -r -a demo_sets <<<"$DEMOS"
for args in "${demo_sets[@]}"; do
  # shellcheck disable=SC2086
  sanitize_decode_demo "$args" $args
done
cat "$SUMMARY"
