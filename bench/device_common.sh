# Sourced by the device scripts (device_run.sh, wgmma_check.sh, wgmma_ab.sh):
# logs in $OUT (the device tool brings them back), a summary printed last,
# a time budget for `timeout`, and cmocka, which the device image lacks
# (its Debian packages travel in .deb/, carried and git-ignored; a fresh
# checkout gets them with `mkdir -p .deb && cd .deb && apt-get download
# libcmocka0 libcmocka-dev`).
OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }

T0=$SECONDS
BUDGET=${BUDGET:-600}  # seconds for the whole script; set before sourcing
# cap N: N, or what is left of the budget if less (at least 1).
cap() { local left=$((BUDGET - (SECONDS - T0))); [ "$left" -lt "$1" ] && echo $((left > 1 ? left : 1)) || echo "$1"; }

# "OK n, FAILED n, SKIPPED n" of a CMocka log.
counts() {
  echo "OK $(grep -c '^\[       OK \]' "$1"), FAILED $(grep -c '^\[  FAILED  \] [a-z]' "$1"), SKIPPED $(grep -c '^\[  SKIPPED \] [a-z]' "$1" | awk '{print $1/2}')"
}

# wgmma_tests_at_once BUILD CAP FILTER...: BUILD/tests/test_fwd on each
# filter in its own process, all at once (a head dim's cases take 20-90 s;
# in turn they outran the call's caps), logs $OUT/test_fwd_<filter>.log,
# each one's counts, the failed cases and the wall time printed.
wgmma_tests_at_once() {
  local build=$1 cap=$2 t=$SECONDS f
  shift 2
  for f in "$@"; do timeout "$cap" "$build/tests/test_fwd" "$f" >"$OUT/test_fwd_$f.log" 2>&1 & done
  wait
  for f in "$@"; do echo "test_fwd $f: $(counts "$OUT/test_fwd_$f.log")"; done
  for f in "$@"; do grep -h '^\[  FAILED  \] [a-z]' "$OUT/test_fwd_$f.log"; done | head
  echo "tests: $((SECONDS - t)) s"
}

# sanitize_at_once BUILD CAP KERNEL...: compute-sanitizer's memcheck,
# racecheck and synccheck ($SAN_TOOLS to choose) of BUILD/tests/test_fwd
# on each wgmma kernel filter (e.g. hdim64_bf16_causal), all at once, logs
# $OUT/san_<tool>_<kernel>.log, their counts and summaries printed.
sanitize_at_once() {
  local build=$1 cap=$2 t=$SECONDS k tool tools=${SAN_TOOLS:-memcheck racecheck synccheck}
  shift 2
  for k in "$@"; do
    for tool in $tools; do
      timeout "$cap" compute-sanitizer --tool "$tool" --error-exitcode 99 "$build/tests/test_fwd" \
        "wgmma_sm90a_$k" >"$OUT/san_${tool}_$k.log" 2>&1 &
    done
  done
  wait
  for k in "$@"; do log_counts $(for tool in $tools; do echo "$OUT/san_${tool}_$k.log"; done); done
  echo "sanitizers: $((SECONDS - t)) s"
}

# calls_ab MODE CAP ROUNDS SIDE...: the quick grid's d64/d128/d256 rows,
# MODE dense (no cu_seqlens) or varlen calls, ROUNDS rounds of
# bench/ab_serve.py over the sides' /tmp/wab/ab_<SIDE> (built by
# wgmma_ab.sh), rows interleaved, within CAP seconds; prints the exit and
# time, then the table (also $OUT/<MODE>_summary.txt); the logs go to
# $OUT/<MODE>_logs.tgz. dense_ab CAP ROUNDS SIDE...: calls_ab dense.
calls_ab() {
  local mode=$1 cap=$2 rounds=$3 t=$SECONDS side
  shift 3
  mkdir -p "$OUT/$mode"
  timeout "$cap" python3 bench/ab_serve.py --out "$OUT/$mode" --rounds "$rounds" \
    $(for side in "$@"; do echo "$side=/tmp/wab/ab_$side"; done) -- \
    --quick $([ "$mode" = dense ] && echo --dense) --reps 200 --dims 64,128,256 >"$OUT/$mode/serve.log" 2>&1
  echo "$mode ab_serve: exit $? ($((SECONDS - t)) s)"
  timeout 20 python3 bench/ab_table.py --text "$OUT/$mode" "$@" | tee "$OUT/${mode}_summary.txt"
  (cd "$OUT/$mode" && tar czf "../${mode}_logs.tgz" .) && rm -rf "$OUT/$mode"
}
dense_ab() { calls_ab dense "$@"; }

# log_counts FILE...: each CMocka (or compute-sanitizer) log's counts and
# its sanitizer summary line, then the failed cases.
log_counts() {
  local f
  for f in "$@"; do
    echo "$(basename "$f"): $(counts "$f") $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tail -1)"
  done
  grep -h '^\[  FAILED  \] [a-z]' "$@" | head
}

# full_build: cmocka, then device_run.sh's env and full build of this
# checkout (log $OUT/run_build.txt); prints its time and the spill/C75xx
# lines, or the log's tail and exits the script when the build fails.
full_build() {
  setup_cmocka
  local t=$SECONDS
  bash bench/device_run.sh env build >"$OUT/run_build.txt" 2>&1 || { tail -30 "$OUT/run_build.txt"; exit 1; }
  echo "build: $((SECONDS - t)) s; $(grep -ciE 'spill|C75[0-9][0-9]' "$OUT/run_build.txt") spill/C75xx lines"
}

# merged_tests: full_build, then test_fwd over every wgmma head dim at once
# plus the walk cases, with test_stream, test_stress and test_dispatch
# beside them; their counts printed.
merged_tests() {
  full_build
  local t
  for t in test_stream test_stress test_dispatch; do timeout 100 build/tests/$t >"$OUT/$t.log" 2>&1 & done
  # (its wait also waits for the three programs above)
  wgmma_tests_at_once build 110 wgmma_sm90a_hdim32 wgmma_sm90a_hdim64 wgmma_sm90a_hdim80 wgmma_sm90a_hdim96 \
    wgmma_sm90a_hdim128 wgmma_sm90a_hdim192 wgmma_sm90a_hdim256 fwd_cuda_wgmma
  log_counts "$OUT"/test_stream.log "$OUT"/test_stress.log "$OUT"/test_dispatch.log
}

# grid_bench TOTAL: the whole prefill grid with its extras (bench.py, logs
# and bench.json in $OUT) in what is left of TOTAL seconds since the
# script's start; $BENCH_ARGS passed on (e.g. "--seqs 512,2048
# --no-extras" where device time is short).
grid_bench() {
  local t0=$SECONDS left=$(($1 - SECONDS))
  [ "$left" -ge 60 ] || { echo "bench: skipped ($left s left)"; return 0; }
  timeout $left python3 bench/bench.py --md "$OUT/bench.md" ${BENCH_ARGS:-} >"$OUT/bench.log" 2>&1
  echo "bench: exit $? ($((SECONDS - t0)) s, cap $left s)"
  tail -6 "$OUT/bench.log"
}

# setup_cmocka (cmocka_env.sh, shared with ab_libs.sh's builds here)
. "$(dirname "${BASH_SOURCE[0]}")/cmocka_env.sh"

# The ncu scripts' setup: the small build (bench/small_spec.py) of
# build/fa_demo, and $NCU.
# NCU_REUSE_BUILD=1: keep an fa_demo already built in this call (e.g. by
# device_run.sh's full build) instead of rebuilding with the small spec.
build_demo_for_ncu() {
  setup_cmocka
  if [ "${NCU_REUSE_BUILD:-0}" = 1 ] && [ -x build/fa_demo ]; then
    note "build: reused build/fa_demo; gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
    NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null)
    return 0
  fi
  timeout 10 python3 bench/small_spec.py gen/spec.py
  local t=$SECONDS
  timeout "$(cap 150)" ninja -j16 build/fa_demo >"$OUT/build.log" 2>&1 || { note "build failed"; tail -20 "$OUT/build.log"; exit 1; }
  note "build: $((SECONDS - t)) s; gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
  NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null)
}

# copy_tree SRC DEST [PATCH]: SRC's sources (no build, .git, .deb, .ab) in
# DEST, with PATCH (a path under $PWD) applied. Fails, with a note, where
# the patch does not apply.
copy_tree() {
  local src=$1 dest=$2 patch=${3:-} here
  here=$(pwd)
  rm -rf "$dest" && mkdir -p "$dest"
  (cd "$src" && timeout 30 tar --exclude=./build --exclude=./.git --exclude=./.deb --exclude=./.ab -cf - .) | tar -xf - -C "$dest"
  [ -z "$patch" ] && return 0
  (cd "$dest" && git apply "$here/$patch") || { note "$patch does not apply"; return 1; }
}

# decode_tests SECONDS FILTER...: each test_decode filter of build/tests,
# its exit, counts and worst errors in the summary.
decode_tests() {
  local limit=$1 f
  shift
  for f in "$@"; do
    timeout "$(cap "$limit")" build/tests/test_decode "$f" >"$OUT/test_$f.log" 2>&1
    note "test_decode $f: exit $? ($(counts "$OUT/test_$f.log")) $(grep -oE 'worst error: .*' "$OUT/test_$f.log" | head -3 | tr '\n' ' ')"
  done
}

# sanitize_decode_demo LABEL ARG...: build/fa_demo --decode ARG... under
# memcheck and racecheck, each with its kernel, check and summary in the
# summary.
sanitize_decode_demo() {
  local label=$1 tool
  shift
  for tool in memcheck racecheck; do
    timeout "$(cap 120)" compute-sanitizer --tool $tool --error-exitcode 99 build/fa_demo --decode "$@" \
      >"$OUT/demo_$tool.log" 2>&1
    note "$tool fa_demo --decode $label: exit $? | $(grep -E '^kernel:' "$OUT/demo_$tool.log" | cut -d' ' -f2) | $(grep -oE '(PASS|FAIL).*$' "$OUT/demo_$tool.log" | head -1) | $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/demo_$tool.log")"
  done
}
