#!/bin/bash
# One call on the lent GPU machine: build, test, sanitize, benchmark.
#
#   bash bench/device_run.sh STEP...     steps: env build check tests demo sanitize extra-dims bench bench-quick
#                                        (bench: also $BENCH_ARGS, e.g. "--only-extras")
#                                        gpu-sanitize (tests/gpu_sanitize.sh $SAN_ARGS)
#                                        ab (bench/ab_prefill.sh .ab/old: the A/B of a refactor)
#                                        build-small cache-extras (graphs, 2^31 pool, decode demo, example)
#                                        tests-small tests-decode ab-decode (after build-small: its tests; the decode
#                                        benchmark A/B against .ab/old, sections from $AB_SECTIONS,
#                                        head dim $AB_HEAD_DIM: 128, or 64 in the small build;
#                                        $AB_BENCH_ARGS more options, e.g. "--shapes 20:8192 --pages 16,1")
#                                        ab-patches (after build-small: each patch of $AB_PATCHES on its own copy
#                                        of this tree, small build, decode_skew.py --splits 0 against this tree's
#                                        build, then bench_decode.py's $AB_SECTIONS if set; one call, N experiments)
#                                        sanitize-small (memcheck, racecheck of the small build's cache paths)
#                                        prefer-wgmma (before build-small: wgmma above mma on this copy)
#                                        sanitize-wgmma (racecheck, synccheck of wgmma kernels)
#                                        tests-wgmma (test_fwd wgmma: the family's cases alone)
#                                        tests-parallel (every test program, test_fwd by group and head dim, at once)
#                                        tests-fwd (test_fwd on each of $FWD_FILTERS, $FWD_TIMEOUT s each)
#                                        tests-fwd-parallel (the same, all filters at once)
#                                        turns (test_wgmma, and its turns case against the old protocol)
#                                        tests-misc (test_api, test_dispatch, test_stress; $MISC_TIMEOUT s each, default 180)
#                                        transformers (paged|flashattn vs paged|sdpa, bf16, yardstick; graphs)
#                                        overhead (decode_overhead.py: kernel/combine times, ours and cuDNN)
#                                        read-ceiling (read_ceiling.cu: static vs claimed chunks, per-SM ends)
#                                        layout-probe (layout_probe.cu: the decode stream over [b,s,h,d] per head,
#                                        [b,h,s,d] per head, [b,s,h,d] all heads a block; LAYOUT_PROBE_BATCHES
#                                        sequences, default 32)
#                                        peer-kernels (peer_kernels.py: ours, cuDNN's and varlen_attn's kernels, grids and
#                                        times on the rows of $PEER_ROWS, default the short rows below cuDNN;
#                                        $PEER_DTYPE: bf16 (default) or fp16)
#                                        VAR=value (exported for the steps after it)
#
# Logs go to $OUT (the device tool brings them back); a short summary is
# printed last. cmocka is not installed on the device image: its Debian
# packages travel in .deb/ (carried, git-ignored) and are unpacked here.
set -u
export PYTHONUNBUFFERED=1
. "$(dirname "$0")/device_common.sh"

step_env() {
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv | tee "$OUT/env.txt"
  { nvcc --version | tail -1; cc --version | head -1; ninja --version; python3 -c 'import torch, jinja2, transformers; print("torch", torch.__version__, "jinja2", jinja2.__version__, "transformers", transformers.__version__)'; } 2>&1 | tee -a "$OUT/env.txt"
}

# A warm machine keeps build/ between calls, and the copied sources keep
# their (older) times: objects of the other spec would look fresh, so a
# build of the other kind starts clean (build/.small marks a small build).
step_build() {
  local t0=$SECONDS
  [ -f build/.small ] && rm -rf build
  grep -q 'HEAD_DIMS = \[64, 128\]$' gen/spec.py && note "build: WARNING gen/spec.py carries build-small's edit (a full build wants the tracked spec)"
  if ninja -j16 all >"$OUT/build.log" 2>&1; then note "build: ok in $((SECONDS - t0)) s"; else
    note "build: FAILED (tail of build.log:)"; tail -30 "$OUT/build.log"; exit 1; fi
  grep -E "spill|Local memory" "$OUT/build.log" | sort | uniq -c | head -5 | tee -a "$SUMMARY"
}

step_check() {
  python3 bench/torch_check.py --filter sm90 2>&1 | tee "$OUT/torch_check.log" | grep -E "FAIL|torch_check" | head -40
  tail -1 "$OUT/torch_check.log" >>"$SUMMARY"
}

# Every test program but test_fwd (which the steps below run whole or by group).
TEST_PROGRAMS="test_api test_dispatch test_decode link_check test_stream test_helpers test_stress test_wgmma"

step_tests() {
  local t
  for t in build/tests/test_fwd $(for p in $TEST_PROGRAMS; do echo "build/tests/$p"; done); do
    timeout 240 "$t" >"$OUT/$(basename "$t").log" 2>&1
    note "$(basename "$t"): exit $? ($(counts "$OUT/$(basename "$t").log"))"
  done
  # Per group (CMocka prints one summary per group; this is the tally).
  for g in $(grep -o 'FA_FWD_CASE([a-z0-9_]*, "[a-z0-9_]*"' generated/test_cases.inc | cut -d'"' -f2 | sort -u); do
    note "  $g: OK $(grep -c "^\[       OK \] ${g}_" "$OUT/test_fwd.log"), FAILED $(grep -c "^\[  FAILED  \] ${g}_" "$OUT/test_fwd.log")"
  done
  grep -m1 "skip" "$OUT/test_fwd.log" | tee -a "$SUMMARY" || true
}

# The whole suite at once (what `tests` runs one program after another, which
# can pass 600 s on the full build): every test program, test_fwd by group
# and head dim, test_decode by part, concurrently on the one GPU (the double
# references are host work on 16 cores); each capped at $PARALLEL_TIMEOUT s
# (default 420). test_decode whole did not finish inside 420 s beside the
# rest (forty-sixth session), nor did test_fwd's wgmma group inside 300 s
# (forty-ninth): the parts are name filters, checked below to cover every
# case of each program exactly once (its --list).
DECODE_PARTS="decode_fwd_decode_sm90 decode_fwd_decode_sm80 decode_fwd_mma decode_fwd_wgmma decode_fwd_cpu
              invariance_ mixed_ graph_ large_pool_ combine_job"
# test_fwd's parts: a case's name up to its head dim ("fwd_wgmma_sm90a_hdim64_"),
# or the whole name where it has none (the extra tests).
fwd_parts() {
  build/tests/test_fwd --list | sed -E 's/^(.*_hdim[0-9]+_).*/\1/' | sort -u
}
# check_cover PROGRAM PART...: the parts named PROGRAM_* among PART... (their
# logs $OUT/PART.log) ran each case of PROGRAM --list exactly once.
check_cover() {
  local prog=$1 rc="$OUT/parallel" p
  shift
  "build/tests/$prog" --list | grep -v "^$prog:" | sort >"$rc/${prog}_cases.txt"
  for p in "$@"; do case $p in "${prog}"_*) cat "$OUT/$p.log" ;; esac; done |
    sed -n 's/^\[ RUN      \] //p' | sort >"$rc/${prog}_ran.txt"
  if cmp -s "$rc/${prog}_cases.txt" "$rc/${prog}_ran.txt"; then
    note "$prog parts: all $(wc -l <"$rc/${prog}_cases.txt") cases, each once"
  else
    note "$prog parts: NOT the case list ($(wc -l <"$rc/${prog}_ran.txt") ran of $(wc -l <"$rc/${prog}_cases.txt"); diff:)"
    diff "$rc/${prog}_cases.txt" "$rc/${prog}_ran.txt" | head -8 | tee -a "$SUMMARY"
  fi
}
# Test processes at once: run_part NAME PROGRAM FILTER|"" CAP starts one in
# the background (log $OUT/NAME.log, exit code in $OUT/parallel, packed with
# the logs); parts_report waits for all of them and notes each.
PARTS=()
run_part() {
  mkdir -p "$OUT/parallel"
  PARTS+=("$1")
  (timeout "$4" "build/tests/$2" $3 >"$OUT/$1.log" 2>&1; echo $? >"$OUT/parallel/$1.rc") &
}
parts_report() {
  local t
  wait
  for t in "${PARTS[@]}"; do
    note "$t: exit $(cat "$OUT/parallel/$t.rc") ($(counts "$OUT/$t.log"))"
    grep -E '^\[  FAILED  \] [a-z]|second run' "$OUT/$t.log" | head -6 | tee -a "$SUMMARY"
  done
  PARTS=()
}
step_tests_parallel() {
  local t g cap=${PARALLEL_TIMEOUT:-420}
  for t in $TEST_PROGRAMS; do [ "$t" = test_decode ] || run_part "$t" "$t" "" "$cap"; done
  for g in $DECODE_PARTS; do run_part "test_decode_$g" test_decode "$g" "$cap"; done
  for g in $(fwd_parts); do run_part "test_fwd_${g%_}" test_fwd "$g" "$cap"; done
  local parts=("${PARTS[@]}")
  parts_report
  check_cover test_decode "${parts[@]}"
  check_cover test_fwd "${parts[@]}"
}

# compute-sanitizer on the cache paths: decode kernels (paging, append,
# splits, combine), the mma family's paged variant, a mixed batch (pair
# dispatch), and one prefill subset; each run has its own time limit.
step_sanitize_cache() {
  local t f
  for t in memcheck racecheck; do
    : >"$OUT/sancache_$t.log"
    for f in "test_decode decode_fwd_decode_sm90_hdim128_bf16" "test_decode decode_fwd_decode_sm90_hdim80_fp16" \
             "test_decode decode_fwd_mma_sm90_hdim128_bf16" "test_decode mixed_fwd_decode_sm90_hdim64_bf16" \
             "test_fwd mma_sm90_hdim64_bf16_causal"; do
      set -- $f
      local rc=0
      timeout 90 compute-sanitizer --tool "$t" --error-exitcode 99 "build/tests/$1" "$2" >>"$OUT/sancache_$t.log" 2>&1 || rc=$?
      note "compute-sanitizer $t $1 $2: exit $rc; $(grep -cE '^\[       OK \]' "$OUT/sancache_$t.log") OK so far; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sancache_$t.log" | tail -1)"
    done
  done
}

step_sanitize() {
  # compute-sanitizer slows kernels 10-100x: a representative subset of the
  # sm90 cases (every mask mode, both dtypes, small/odd/large head dims).
  local t
  for t in memcheck racecheck; do
    local rc=0 f
    : >"$OUT/sanitize_$t.log"
    for f in mma_sm90_hdim64_ mma_sm90_hdim80_fp16 mma_sm90_hdim128_bf16 mma_sm90_hdim256_bf16 64bit; do
      timeout 300 compute-sanitizer --tool "$t" --error-exitcode 99 build/tests/test_fwd "$f" >>"$OUT/sanitize_$t.log" 2>&1 || rc=$?
    done
    # The decode family: paging, append, splits and the combine (test_decode), every kind of head dim.
    for f in decode_sm90_hdim64_fp16 decode_sm90_hdim80_bf16 decode_sm90_hdim128_bf16 decode_sm90_hdim256_bf16; do
      timeout 300 compute-sanitizer --tool "$t" --error-exitcode 99 build/tests/test_decode "decode_fwd_$f" >>"$OUT/sanitize_$t.log" 2>&1 || rc=$?
    done
    note "compute-sanitizer $t: exit $rc; $(grep -cE '^\[       OK \]' "$OUT/sanitize_$t.log") cases OK; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitize_$t.log" | sort | uniq -c | tr '\n' ' ')"
  done
}

step_demo() {
  { build/fa_demo; build/fa_demo --head-dim 128 --heads-q 32 --heads-k 8 --causal --seqlens 4096,1000,3000,77;
    build/fa_demo --dtype fp16 --head-dim 64 --window 256,0 --softcap 30 --sinks --seqlens 8192,500; } >"$OUT/demo.log" 2>&1
  note "demo: exit $? $(grep -c PASS "$OUT/demo.log") PASS"
  grep -E "kernel:|time:|error" "$OUT/demo.log"
}

# Head dims outside the default set, added the way a user would (one edit of
# gen/spec.py on this copy of the tree), built and tested on the GPU.
step_extra_dims() {
  sed -i 's/^HEAD_DIMS = \[/HEAD_DIMS = [72, 160, /' gen/spec.py
  if ! ninja -j16 all >"$OUT/build_extra.log" 2>&1; then note "extra dims: build FAILED"; tail -20 "$OUT/build_extra.log"; return; fi
  for d in 72 160; do
    build/tests/test_fwd "mma_sm90_hdim${d}_" >"$OUT/test_fwd_hdim$d.log" 2>&1
    note "extra head dim $d (sm90): exit $? ($(counts "$OUT/test_fwd_hdim$d.log"))"
  done
}

# tests/gpu_sanitize.sh with the arguments in $SAN_ARGS; logs in $OUT/san.
step_gpu_sanitize() {
  # shellcheck disable=SC2086
  sh tests/gpu_sanitize.sh -l "$OUT/san" ${SAN_ARGS:-} >"$OUT/gpu_sanitize.log" 2>&1
  note "gpu_sanitize ${SAN_ARGS:-}: exit $?"
  grep '^|' "$OUT/san/summary.md" | tee -a "$SUMMARY" >/dev/null
  cat "$OUT/san/summary.md" >>"$OUT/san_tables.txt"
  mv "$OUT/san/summary.md" "$OUT/san/summary-$(date +%s).md"
}

# A --quick pass first, its output dropped: in the ninth session the first
# rows timed after a build ran 10-90% slow (peers and ours); the tenth
# session's table, timed after such a pass, showed nothing of the kind (one
# call: a hint, not proof).
step_bench_decode() {
  timeout 90 python3 bench/bench_decode.py --quick --sections decode >/dev/null 2>&1
  timeout 400 python3 bench/bench_decode.py "$@" 2>&1 | tee "$OUT/bench_decode.log" | grep -E "^decode|^spec|^mixed|^  its" | tail -40 >>"$SUMMARY"
}

# A quick build of what the cache steps need: sm_90 only, head dims 64 and
# 128 (one edit of gen/spec.py on this copy, as a user adds a head dim;
# $SMALL_HEAD_DIMS, e.g. 64,128,256, for every tree built, A/B sides too).
# $SMALL_ARGS: more small_spec.py options for this tree's build (e.g.
# "--decode-tile 128:stages=2": a variant timed by ab-decode against .ab/old).
small_spec() {
  if [ "$1" = gen/spec.py ]; then
    # shellcheck disable=SC2086
    timeout 10 python3 bench/small_spec.py "$1" ${SMALL_ARGS:-}
  else
    timeout 10 python3 bench/small_spec.py "$1"
  fi
}

step_build_small() {
  local t0=$SECONDS
  [ -d build ] && [ ! -f build/.small ] && rm -rf build
  small_spec gen/spec.py
  if timeout 300 ninja -j16 build/libflashattn.so build/tests/test_decode build/tests/test_fwd build/tests/test_stress \
      build/tests/test_dispatch build/tests/test_api build/fa_demo \
      $(ls examples/continuous_batching.c >/dev/null 2>&1 && echo build/continuous_batching) >"$OUT/build.log" 2>&1; then
    touch build/.small; note "build (sm_90, head dims ${SMALL_HEAD_DIMS:-64,128}): ok in $((SECONDS - t0)) s"; else
    note "build: FAILED"; tail -30 "$OUT/build.log"; exit 1; fi
}

# CUDA-graph capture + replays, the pool over 2^31 elements, the decode
# demo, the serving example, memcheck of a replay.
step_cache_extras() {
  timeout 120 build/tests/test_decode graph_ >"$OUT/graph.log" 2>&1
  note "test_decode graph_: exit $? ($(counts "$OUT/graph.log"))"
  grep -E "replays checked" "$OUT/graph.log" | head -3 | tee -a "$SUMMARY"
  timeout 120 build/tests/test_decode large_pool_ >"$OUT/large_pool.log" 2>&1
  note "test_decode large_pool_: exit $? ($(counts "$OUT/large_pool.log"))"
  grep -E "offset" "$OUT/large_pool.log" | head -4 | tee -a "$SUMMARY"
  local a i=0
  for a in "" "--page-size 16" "--page-size 1" "--queries 4 --page-size 64" "--seqlens-k 131072 --page-size 256"; do
    # shellcheck disable=SC2086
    i=$((i + 1))
    local log="$OUT/demo_decode_$i.log" t1=$SECONDS
    timeout 60 stdbuf -oL build/fa_demo --decode $a >"$log" 2>&1
    note "fa_demo --decode $a: exit $? in $((SECONDS - t1)) s | $(grep -E '^kernel:' "$log" | cut -d' ' -f2) | $(grep -E '^time:' "$log") | $(grep -oE '(PASS|FAIL)$' "$log")"
  done
  if [ -x build/continuous_batching ]; then
    timeout 120 build/continuous_batching >"$OUT/serve.log" 2>&1
    note "continuous_batching: exit $?"; tail -8 "$OUT/serve.log" | tee -a "$SUMMARY"
  fi
  timeout 120 compute-sanitizer --tool memcheck --error-exitcode 99 build/tests/test_decode graph_fwd_decode_sm90_hdim128_bf16 >"$OUT/graph_memcheck.log" 2>&1
  note "compute-sanitizer memcheck graph_fwd_decode_sm90_hdim128_bf16: exit $? $(grep 'ERROR SUMMARY' "$OUT/graph_memcheck.log")"
}

# The decode benchmark with the previous build timed interleaved (--ab):
# $AB_OLD (default .ab/old) is that build's source tree (git archive,
# carried), built here with the same small spec; $AB_NEW (default this tree,
# built by build-small) is "ours". $AB_TAG names the outputs, so that one
# call can run several A/Bs (e.g. AB_OLD=.ab/main AB_NEW=.ab/variant).
build_small_tree() {
  small_spec "$1/gen/spec.py"
  (cd "$1" && timeout 300 ninja -j16 build/libflashattn.so ${2:-})
}
step_ab_decode() {
  local t0=$SECONDS old=${AB_OLD:-.ab/old} new=${AB_NEW:-.} tag=${AB_TAG:-}
  if build_small_tree "$old" >"$OUT/ab_old_build$tag.log" 2>&1; then
    note "old build ($old): ok in $((SECONDS - t0)) s"; else note "old build ($old): FAILED"; tail -20 "$OUT/ab_old_build$tag.log"; return; fi
  if [ "$new" != . ]; then
    if build_small_tree "$new" >"$OUT/ab_new_build$tag.log" 2>&1; then note "new build ($new): ok";
    else note "new build ($new): FAILED"; tail -20 "$OUT/ab_new_build$tag.log"; return; fi
  fi
  FLASHATTN_LIB="$new/build/libflashattn.so" timeout "${AB_TIMEOUT:-480}" python3 bench/bench_decode.py \
    --ab "$old/build/libflashattn.so" --sections "${AB_SECTIONS:-decode,chunk}" --head-dim "${AB_HEAD_DIM:-128}" ${AB_BENCH_ARGS:-} \
    --json "$OUT/bench_decode_ab$tag.json" --md "$OUT/bench_decode_ab$tag.md" 2>&1 | tee "$OUT/bench_decode_ab$tag.log" |
    grep -E "^decode|^chunked|^spec|^mixed|^  its|Error|error" | tail -40 >>"$SUMMARY"
}

# Decode experiments as patches, each against this tree (main), in one
# call: patched copy, its small build, the skewed batches interleaved with
# this tree's build (new/old as decode_skew.py prints them), then the
# bench rows where $AB_SECTIONS names sections.
step_ab_patches() {
  local i=0 p w t
  for p in ${AB_PATCHES:-}; do
    i=$((i + 1))
    w=/tmp/ab_patch$i
    t=$SECONDS
    copy_tree . "$w" "$p" || continue
    if ! build_small_tree "$w" >"$OUT/ab_patch${i}_build.log" 2>&1; then
      note "patch $i ($p): build FAILED"; tail -20 "$OUT/ab_patch${i}_build.log"; continue
    fi
    note "patch $i ($p): built in $((SECONDS - t)) s"
    PYTHONPATH=python FLASHATTN_LIB="$w/build/libflashattn.so" timeout "${AB_SKEW_TIMEOUT:-200}" \
      python3 bench/decode_skew.py --splits 0 --ab build/libflashattn.so --json "$OUT/skew_patch$i.json" 2>&1 |
      grep -v -i warn | tee "$OUT/skew_patch$i.log" | grep -E "seqs|splits0|old" | sed "s/^/[patch $i] /" >>"$SUMMARY"
    if [ -n "${AB_SECTIONS:-}" ]; then
      AB_OLD=. AB_NEW="$w" AB_TAG="_patch$i" step_ab_decode
    fi
  done
}

# Tests of the small build: test_decode (decode, paged mma, mixed, graphs,
# the big pool) and test_fwd's sm90 cases; sanitizers on the cache paths.
step_tests_small() {
  local t
  for t in "test_decode" "test_fwd" "test_stress" "test_dispatch" "test_api"; do
    set -- $t
    timeout 240 "build/tests/$1" ${2:-} >"$OUT/$1.log" 2>&1
    note "$1 ${2:-}: exit $? ($(counts "$OUT/$1.log"))"
  done
}

# test_fwd's wgmma cases alone (every head dim, dtype and mask of the
# family against the double reference), with the worst errors.
step_tests_wgmma() {
  timeout "${WGMMA_TEST_TIMEOUT:-400}" build/tests/test_fwd wgmma >"$OUT/test_fwd_wgmma.log" 2>&1
  note "test_fwd wgmma: exit $? ($(counts "$OUT/test_fwd_wgmma.log"))"
  grep -E '^\[  FAILED  \] [a-z]' "$OUT/test_fwd_wgmma.log" | head -10 >>"$SUMMARY"
}

# sanitize_cases TEST "TOOLS" TIMEOUT FILTER...: compute-sanitizer with each
# tool on build/tests/TEST FILTER, one log and one summary line per run.
sanitize_cases() {
  local test=$1 tools=$2 limit=$3 t f
  shift 3
  for t in $tools; do
    for f in "$@"; do
      local rc=0 log="$OUT/san_${t}_$f.log"
      timeout "$limit" compute-sanitizer --tool "$t" --error-exitcode 99 "build/tests/$test" "$f" >"$log" 2>&1 || rc=$?
      note "compute-sanitizer $t $f: exit $rc; $(grep -cE '^\[       OK \]' "$log") OK; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)"
    done
  done
}

# compute-sanitizer memcheck and racecheck on the small build's cache paths:
# the decode kernel and the mma family's paged variant (test_decode runs
# every page size, append, splits; the mma cases include chunked queries).
step_sanitize_small() {
  sanitize_cases test_decode "${SAN_TOOLS:-memcheck racecheck}" "${SAN_TIMEOUT:-120}" ${SAN_FILTERS:-decode_fwd_decode_sm90_hdim128_bf16 \
    decode_fwd_mma_sm90_hdim128_bf16 decode_fwd_mma_sm90_hdim64_fp16 mixed_fwd_decode_sm90_hdim128_bf16}
}

# The wgmma family preferred on this copy (priority above mma's 10), as it
# will be once verified: every later step then runs dispatch's new choice.
step_prefer_wgmma() {
  sed -i '/name="wgmma"/,/priority=/ s/priority=5,/priority=15,/' gen/spec.py
  note "wgmma priority on this copy: $(grep -A25 'name="wgmma"' gen/spec.py | grep -m1 -o 'priority=[0-9]*')"
}

# racecheck and synccheck (and what $WGMMA_SAN_TOOLS adds) on wgmma kernels
# (the family's barriers: the mbarrier ring, named barriers between the
# consumer warpgroups).
# test_wgmma (layout probe; ping-pong turns with a late consumer), then the
# same turns case built against the protocol before 2026-11-30 (the turns
# restarting at each work tile; patched into a copy of the header), which
# must report the deadlock: proof that the case can fail.
step_turns() {
  timeout 60 build/tests/test_wgmma >"$OUT/test_wgmma.log" 2>&1
  note "test_wgmma: exit $? ($(counts "$OUT/test_wgmma.log"))"
  grep -E "late consumer|deadlock|skipped" "$OUT/test_wgmma.log" | head -3 | tee -a "$SUMMARY"
  rm -rf /tmp/old_turns && mkdir -p /tmp/old_turns && cp -r src /tmp/old_turns/
  python3 - /tmp/old_turns/src/cuda/wgmma/consumer.cuh <<'PY' || { note "turns (old protocol): patch failed"; return; }
import sys
p = sys.argv[1]; s = open(p).read()
# Consumer 0 grants itself the first turn of every work tile, not only of
# the block's first: with the last consumer's pass from the tile before,
# kBarTurn0 gets two arrivals on one generation. (Until the hundred-and-third
# session this also rewrote the last turn's pass after the last P V, a line
# the consumer loop no longer has; this form has not run on a device yet.)
a = "c == 0 && consumed == 0) named_bar_arrive(kBarTurn0, 256);"
assert s.count(a) == 3, s.count(a)  # one-block, row-pair and softmax-turn loops
s = s.replace(a, "c == 0) named_bar_arrive(kBarTurn0, 256);")
open(p, "w").write(s)
PY
  if timeout 120 nvcc -O3 -std=c++17 -Xcompiler -fno-exceptions,-fno-threadsafe-statics,-fno-rtti -Iinclude -I/tmp/old_turns/src -Itests -gencode arch=compute_90a,code=sm_90a \
      -c tests/wgmma_turns.cu -o /tmp/old_turns/turns.o >"$OUT/old_turns_build.log" 2>&1 &&
     cc build/obj/tests/test_wgmma.c.o build/obj/tests/wgmma_probe.cu.o /tmp/old_turns/turns.o build/obj/tests/test_util.c.o \
      build/libflashattn.a -o /tmp/old_turns/test_wgmma -lcmocka -L/usr/local/cuda/lib64 -lcudart_static -lpthread -ldl -lrt -lm \
      >>"$OUT/old_turns_build.log" 2>&1; then
    local t0=$SECONDS
    timeout 60 /tmp/old_turns/test_wgmma >"$OUT/test_wgmma_old_protocol.log" 2>&1
    note "test_wgmma, old protocol (must FAIL the turns case): exit $? after $((SECONDS - t0)) s ($(counts "$OUT/test_wgmma_old_protocol.log"))"
    grep -E "late consumer|deadlock" "$OUT/test_wgmma_old_protocol.log" | head -2 | tee -a "$SUMMARY"
  else
    note "turns (old protocol): build failed"; tail -5 "$OUT/old_turns_build.log"
  fi
}

step_sanitize_wgmma() {
  sanitize_cases test_fwd "${WGMMA_SAN_TOOLS:-racecheck synccheck}" "${SAN_TIMEOUT:-60}" \
    ${WGMMA_SAN:-wgmma_sm90a_hdim128_bf16_causal wgmma_sm90a_hdim64_fp16_local}
}

# transformers' paged|flashattn against paged|sdpa, bf16, with the float32
# yardstick (which half run is closer to exact); then llama under CUDA graphs
# in fp16.
step_transformers() {
  local log="$OUT/tf_bf16.log"
  FLASHATTN_LIB=build/libflashattn.so timeout "${TF_TIMEOUT:-240}" python3 bench/transformers_paged.py --dtype bf16 \
    --yardstick ${TF_ARGS:-} >"$log" 2>&1
  note "transformers_paged bf16 --yardstick: exit $?"
  tail -"${TF_TAIL:-24}" "$log" >>"$SUMMARY"
  # fp16 under graphs: there the plain comparison with paged|sdpa decides
  # (bf16 needs the yardstick: RESULTS.md, 2026-11-29 third session).
  log="$OUT/tf_graphs.log"
  FLASHATTN_LIB=build/libflashattn.so timeout 150 python3 bench/transformers_paged.py --dtype fp16 --model llama \
    --cuda-graphs --requests 32 --max-new 64 >"$log" 2>&1
  note "transformers_paged fp16 llama --cuda-graphs: exit $?"
  tail -12 "$log" >>"$SUMMARY"
}

step_ab() {
  bash bench/ab_prefill.sh .ab/old "${AB_ROUNDS:-3}" 2>&1 | tee "$OUT/ab.log" | tail -3 >>"$SUMMARY"
}

step_bench() {
  # shellcheck disable=SC2086
  python3 bench/bench.py "$@" ${BENCH_ARGS:-} --md "$OUT/bench.md" 2>&1 | tee "$OUT/bench.log" | tail -4 >>"$SUMMARY"
}

setup_cmocka
for s in "$@"; do
  t0=$SECONDS
  case "$s" in
    env) step_env ;;
    build) step_build ;;
    check) step_check ;;
    tests) step_tests ;;
    tests-parallel) step_tests_parallel ;;
    tests-wgmma) step_tests_wgmma ;;
    sanitize) step_sanitize ;;
    extra-dims) step_extra_dims ;;
    demo) step_demo ;;
    bench) step_bench ;;
    bench-quick) step_bench --quick --no-extras ;;
    gpu-sanitize) step_gpu_sanitize ;;
    ab) step_ab ;;
    transformers) step_transformers ;;
    build-small) step_build_small ;;
    cache-extras) step_cache_extras ;;
    sanitize-cache) step_sanitize_cache ;;
    tests-small) step_tests_small ;;
    tests-decode) for f in ${DECODE_FILTERS:-all}; do  # test_decode, whole (400 s) or on each of $DECODE_FILTERS (260 s: the sm_90 decode group ran past 200 s in the forty-fourth session; DECODE_TIMEOUT)
                    timeout "${DECODE_TIMEOUT:-$([ "$f" = all ] && echo 400 || echo 260)}" build/tests/test_decode $([ "$f" = all ] || echo "$f") >"$OUT/test_decode$f.log" 2>&1
                    note "test_decode $f: exit $? ($(counts "$OUT/test_decode$f.log"))"
                    grep -E '^\[  FAILED  \] [a-z]|declined' "$OUT/test_decode$f.log" | head -6 | tee -a "$SUMMARY"
                  done ;;
    sanitize-small) step_sanitize_small ;;
    tests-fwd) for f in ${FWD_FILTERS:-wgmma}; do  # test_fwd on groups/kernels matching each filter, in turn
                 run_part "test_fwd_$f" test_fwd "$f" "${FWD_TIMEOUT:-300}"; parts_report
               done ;;
    tests-fwd-parallel) for f in ${FWD_FILTERS:-wgmma}; do  # the same, every filter at once
                          run_part "test_fwd_$f" test_fwd "$f" "${FWD_TIMEOUT:-300}"
                        done; parts_report ;;
    turns) step_turns ;;
    tests-misc) for t in test_api test_dispatch test_stress; do
                  timeout "${MISC_TIMEOUT:-180}" "build/tests/$t" >"$OUT/$t.log" 2>&1
                  note "$t: exit $? ($(counts "$OUT/$t.log"))"
                done ;;
    prefer-wgmma) step_prefer_wgmma ;;
    sanitize-wgmma) step_sanitize_wgmma ;;
    ab-decode) step_ab_decode ;;
    ab-patches) step_ab_patches ;;
    d64) bash bench/d64_variants.sh 2>&1 | tee "$OUT/d64.log" | tail -30 ;;
    bench-decode) step_bench_decode ;;
    bench-decode-quick) step_bench_decode --quick ;;
    overhead) PYTHONPATH=python timeout 150 python3 bench/decode_overhead.py 2>&1 | grep -vi warn | tee "$OUT/overhead.txt" >>"$SUMMARY" ;;
    layout-probe) mkdir -p build && timeout 60 nvcc -O3 -std=c++17 -Isrc -gencode arch=compute_90a,code=sm_90a bench/layout_probe.cu -o build/layout_probe &&
                  for nb in ${LAYOUT_PROBE_BATCHES:-32}; do timeout 60 build/layout_probe "$nb"; done 2>&1 | tee "$OUT/layout_probe.txt" >>"$SUMMARY" ;;
    read-ceiling) timeout 60 nvcc -O3 -std=c++17 -Isrc -gencode arch=compute_90a,code=sm_90a bench/read_ceiling.cu -o build/read_ceiling &&
                  { build/read_ceiling 512; build/read_ceiling 1024; } 2>&1 | tee "$OUT/read_ceiling.txt" >>"$SUMMARY" ;;
    peer-kernels) timeout 240 python3 bench/peer_kernels.py ${PEER_ROWS:+--rows "$PEER_ROWS"} ${PEER_DTYPE:+--dtype "$PEER_DTYPE"} --out "$OUT/peer_kernels.json" \
                    2>&1 | tee "$OUT/peer_kernels.txt" | grep -v "^  varlen" >>"$SUMMARY" ;;
    *=*) export "${s?}"; continue ;;  # VAR=value between steps (e.g. a second ab-decode's AB_OLD)
    *) echo "unknown step $s"; exit 2 ;;
  esac
  echo "step $s: $((SECONDS - t0)) s" >>"$OUT/timing.txt"
done
# The device tool returns at most 8 files: pack the logs into one.
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz --exclude=summary.txt --exclude=bench.md --exclude=bench.json --exclude='ab_prefill.*' --exclude=bench_decode.json --exclude=bench_decode.md --exclude='bench_decode_ab*.json' --exclude='bench_decode_ab*.md' *.log *.txt $(ls -d san parallel 2>/dev/null) 2>/dev/null && rm -rf *.log env.txt san parallel)
echo "==== summary"
cat "$SUMMARY" "$OUT/timing.txt"
