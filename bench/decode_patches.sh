#!/bin/bash
# Decode patches and their combinations measured in one device call: this
# tree ("main") and one copy per patch set, each a small d128 build
# (libflashattn.so and test_decode), built side by side; then
# bench/decode_splits.py times every build at each split count beside
# cuDNN (interleaved; each set's output compared bit for bit with main's),
# test_decode on $TEST_FILTERS for the sets in $TEST_SETS (default "kam",
# which holds every patch's code), and compute-sanitizer memcheck and
# racecheck on $SAN_FILTER for the sets in $SAN_SETS.
#
#   run(command="bash bench/decode_patches.sh", carry=[".deb"], timeout_s=600)
#
# PATCH_SETS: NAME=PATCH[+PATCH...] ... (patches under bench/experiments/,
# without .patch); default the keys-as-M step (built in the forty-second
# session, not run; that session measured the uniform issue, the one-half
# softmax and the mid-cache fill with it, merged since, and S's HMMA in two
# chains, not merged). SHAPES (decode_splits.py --shapes), SPLITS.
# TEST_SETS, SAN_SETS: the sets whose test_decode and sanitizers run.
set -u
export PYTHONUNBUFFERED=1
BUDGET=${BUDGET:-560}
. "$(dirname "$0")/device_common.sh"
setup_cmocka
export SMALL_HEAD_DIMS=128
ROOT=$(pwd)
PATCH_SETS=${PATCH_SETS:-"kam=decode-keys-as-m"}
SHAPES=${SHAPES:-12:4096,10:4096,6:8192,14:12000,16:12000,18:16000,128:1024,32:8192,8:32768,1:131072}
SPLITS=${SPLITS:-0,1}
TEST_FILTERS=${TEST_FILTERS:-"decode_fwd_decode_sm90_hdim128 invariance_fwd_decode_sm90_hdim128 mixed_fwd_decode_sm90_hdim128"}
TEST_SETS=${TEST_SETS:-kam}
SAN_SETS=${SAN_SETS:-kam}
SAN_FILTER=${SAN_FILTER:-decode_fwd_decode_sm90_hdim128_bf16}
note "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"

# build_tree DIR: the small d128 build of DIR (the library and test_decode).
build_tree() {
  (cd "$1" && timeout 10 python3 bench/small_spec.py gen/spec.py --wgmma-dims 128 &&
    timeout "$(cap 300)" ninja -j6 build/libflashattn.so build/tests/test_decode)
}

t=$SECONDS
libs="" names=""
# Every copy before any build: a build edits its tree's spec.
for set in $PATCH_SETS; do
  name=${set%%=*} dest=/tmp/decode_patches_${set%%=*}
  copy_tree . "$dest" || continue
  ok=1
  for p in $(echo "${set#*=}" | tr '+' ' '); do
    (cd "$dest" && git apply "$ROOT/bench/experiments/$p.patch") || { note "$name: $p does not apply"; ok=0; }
  done
  [ "$ok" = 1 ] || continue
  libs="$libs,$name=$dest/build/libflashattn.so" names="$names $name"
done
pids=""
build_tree . >"$OUT/build_main.log" 2>&1 &
pids="$!"
for name in $names; do
  build_tree "/tmp/decode_patches_$name" >"$OUT/build_$name.log" 2>&1 &
  pids="$pids $!"
done
for p in $pids; do wait "$p" || note "a build FAILED (build_*.log)"; done
note "builds: $((SECONDS - t)) s"
built=""  # only the sets whose library was built
for name in $names; do
  if [ -f "/tmp/decode_patches_$name/build/libflashattn.so" ]; then built="$built,$name=/tmp/decode_patches_$name/build/libflashattn.so"
  else note "$name: no library (build_$name.log)"; fi
done
libs=$built
for f in "$OUT"/build_*.log; do  # the decode kernels' spills (the mma family's sm_90 d128 kernels spill on main too)
  grep "spill stores" "$f" | grep fwd_decode | grep -v " 0 bytes spill" | sed "s|^|$(basename "$f" .log): |" | head -3
done | tee -a "$SUMMARY"

PYTHONPATH=python timeout "$(cap 240)" python3 bench/decode_splits.py --shapes "$SHAPES" --splits "$SPLITS" \
  --libs "${libs#,}" --no-kernels --json "$OUT/decode_patches.json" 2>&1 | grep -v -i warn |
  tee "$OUT/decode_patches.txt" | grep -v kernels

for name in $TEST_SETS; do
  for f in $TEST_FILTERS; do
    timeout "$(cap 120)" "/tmp/decode_patches_$name/build/tests/test_decode" "$f" >"$OUT/test_${name}_$f.log" 2>&1
    note "$name test_decode $f: exit $? ($(grep -c '^\[       OK \]' "$OUT/test_${name}_$f.log") OK, $(grep -c '^\[  FAILED  \] [a-z]' "$OUT/test_${name}_$f.log") failed)"
  done
done
for name in $SAN_SETS; do
  for tool in memcheck racecheck; do
    rc=0
    timeout "$(cap 120)" compute-sanitizer --tool "$tool" --error-exitcode 99 \
      "/tmp/decode_patches_$name/build/tests/test_decode" "$SAN_FILTER" >"$OUT/san_${name}_$tool.log" 2>&1 || rc=$?
    note "$name compute-sanitizer $tool $SAN_FILTER: exit $rc; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san_${name}_$tool.log" | tail -1)"
  done
done
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz *.log 2>/dev/null && rm -f ./*.log)
echo "==== summary"
cat "$SUMMARY"
