#!/bin/bash
# Split or not where blocks without splitting hold 18-45% of the block
# slots (the fill rule, src/cuda/fwd_decode_family.c fill_percent), with
# the forty-second session's cheaper step: one device call, the small
# build, bench/decode_splits.py at the heuristic's count (splits0) and
# forced unsplit (splits1) beside cuDNN, d128 (2 blocks an SM: 264 slots on
# an H200) and d64 (3 blocks: 396 slots); then bench.py's extra rows (the
# packed GQA row's bar, issue 11; bench.json in $OUT).
#
#   run(command="bash bench/fill_sweep.sh", carry=[".deb"], timeout_s=560)
#
# D128_SHAPES, D64_SHAPES: B:L,... (GQA 32/8: 8 units a sequence).
# SPLITS (default 0,1). OLD_TREE: a source tree (e.g. .ab/old, carried),
# built beside this one and timed at the same counts, interleaved, as
# "old_splitsN" (its bits compared with this tree's). EXTRAS=0: no bench.py.
set -u
export PYTHONUNBUFFERED=1
BUDGET=${BUDGET:-520}
. "$(dirname "$0")/device_common.sh"
setup_cmocka
D128_SHAPES=${D128_SHAPES:-6:4096,8:4096,10:4096,12:4096,13:4096,8:2048,12:2048,13:2048,6:8192,8:8192,10:8192,12:8192,13:8192,8:12000,10:12000,12:12000,13:12000,14:12000,15:12000,8:16000,10:16000,12:16000,13:16000,14:16000,15:16000}
D64_SHAPES=${D64_SHAPES:-10:4096,14:4096,18:4096,20:4096,22:4096,10:8192,14:8192,18:8192,20:8192,22:8192,14:16000,18:16000,20:16000,22:16000}
note "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"

# build_lib DIR: the small build's library in DIR.
build_lib() {
  (cd "$1" && timeout 10 python3 bench/small_spec.py gen/spec.py &&
    timeout "$(cap 200)" ninja -j8 build/libflashattn.so)
}
t=$SECONDS libs=""
build_lib . >"$OUT/build.log" 2>&1 &
pid=$!
if [ -n "${OLD_TREE:-}" ]; then
  build_lib "$OLD_TREE" >"$OUT/build_old.log" 2>&1 || { note "old build ($OLD_TREE): FAILED"; tail -20 "$OUT/build_old.log"; exit 1; }
  libs="old=$(cd "$OLD_TREE" && pwd)/build/libflashattn.so"
fi
if wait $pid; then note "build (sm_90, head dims ${SMALL_HEAD_DIMS:-64,128}${OLD_TREE:+, and $OLD_TREE}): ok in $((SECONDS - t)) s"
else note "build: FAILED"; tail -20 "$OUT/build.log"; exit 1; fi

for d in 128 64; do
  shapes=$D128_SHAPES
  [ "$d" = 64 ] && shapes=$D64_SHAPES
  PYTHONPATH=python timeout "$(cap 200)" python3 bench/decode_splits.py --head-dim "$d" --shapes "$shapes" \
    --splits "${SPLITS:-0,1}" --libs "$libs" --no-kernels --json "$OUT/fill_sweep_d$d.json" 2>&1 | grep -v -i warn |
    grep -v kernels | tee "$OUT/fill_sweep_d$d.txt"
done

[ "${EXTRAS:-1}" = 0 ] || PYTHONPATH=python timeout "$(cap 150)" python3 bench/bench.py --only-extras --md "$OUT/extras.md" >"$OUT/extras.log" 2>&1
[ "${EXTRAS:-1}" = 0 ] || { note "bench.py --only-extras: exit $?"; grep -E "packed|swa|vision" "$OUT/extras.md" | tee -a "$SUMMARY"; }
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz ./*.log 2>/dev/null && rm -f ./*.log)
echo "==== summary"
cat "$SUMMARY"
