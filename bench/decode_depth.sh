#!/bin/bash
# The decode kernel's ring depth against the launch's fill, one device call:
# this tree's small build ("main") and one small build per variant of the
# d128 decode tile, then bench/decode_splits.py timing every build at each
# split count beside cuDNN, interleaved.
#
#   DEPTH_VARIANTS="depth3:128:stages_plan_none=3 depth5:128:stages=5,128:stages_plan_none=5" \
#   DEPTH_SHAPES=12:4096,32:8192 DEPTH_SPLITS=0,1 bash bench/decode_depth.sh
#
# DEPTH_SHAPES is d128's; DEPTH_SHAPES_64 / DEPTH_SHAPES_256 add rows at
# those head dims (build them with SMALL_HEAD_DIMS=64,128,256).
#
# Each variant is NAME:D:KEY=VALUE[,D:KEY=VALUE...] (bench/small_spec.py
# --decode-tile edits). Question: is the per-block rate of a launch that
# leaves SMs with at most one block limited by the ring's bytes in flight
# (fwd_decode.md "Split-KV", forty-first session)?
set -u
export PYTHONUNBUFFERED=1
. "$(dirname "$0")/device_common.sh"
setup_cmocka

t=$SECONDS
timeout 10 python3 bench/small_spec.py gen/spec.py ${SMALL_ARGS:-}
timeout 300 ninja -j16 build/libflashattn.so >"$OUT/build_main.log" 2>&1 || { note "main build FAILED"; tail -20 "$OUT/build_main.log"; exit 1; }
note "main build: $((SECONDS - t)) s"

libs=""
pids=""
for v in ${DEPTH_VARIANTS:-}; do
  name=${v%%:*}
  edits=${v#*:}
  dest=/tmp/depth_$name
  copy_tree . "$dest" || continue
  args=""
  for e in ${edits//,/ }; do args="$args --decode-tile $e"; done
  # shellcheck disable=SC2086
  (cd "$dest" && timeout 10 python3 bench/small_spec.py gen/spec.py $args &&
     timeout 400 ninja -j8 build/libflashattn.so) >"$OUT/build_$name.log" 2>&1 &
  pids="$pids $!"
  libs="$libs,$name=$dest/build/libflashattn.so"
done
for p in $pids; do wait "$p" || note "a variant build FAILED (build_*.log)"; done
note "variant builds: $((SECONDS - t)) s"
grep -h "smem\|stages" "$OUT"/build_*.log | head -5

for d in 128 64 256; do
  var=DEPTH_SHAPES_$d
  shapes=${!var:-}
  [ "$d" = 128 ] && shapes=${DEPTH_SHAPES:-12:4096,32:8192}
  [ -z "$shapes" ] && continue
  PYTHONPATH=python timeout "$(cap 400)" python3 bench/decode_splits.py --head-dim "$d" --shapes "$shapes" \
    --splits "${DEPTH_SPLITS:-0,1}" --libs "${libs#,}" --json "$OUT/decode_depth_d$d.json" 2>&1 |
    grep -v -i warn | tee "$OUT/decode_depth_d$d.txt" | grep -v kernels
done
cat "$SUMMARY"
