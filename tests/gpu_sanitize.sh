#!/bin/sh
# gpu_sanitize.sh - the GPU test suites under NVIDIA compute-sanitizer:
# memcheck, racecheck, initcheck and synccheck, each run with
# --error-exitcode, then one summary table (tool, suite, cases run, passed,
# skipped, failed, sanitizer errors) in Markdown, with the date and the
# device, ready to paste into tests/RELIABILITY.md.
#
#   sh tests/gpu_sanitize.sh [options]
#
#   -f FILTER   case filter for every suite (a substring of the CMocka case
#               name, as the binaries take it); replaces each suite's default
#               CUDA filter. Per suite: -F fwd=FILTER, repeatable: each filter
#               is one run (one row), e.g. the representative sm90 subset
#               -F fwd=sm90_hdim64_ -F fwd=sm90_hdim80_fp16 -F fwd=64bit
#   -s SUITES   comma list of suites (default fwd,helpers,stress,stream):
#                 fwd      build/tests/test_fwd      default filter fwd_cuda
#                 helpers  build/tests/test_helpers  default filter _cuda
#                 stress   build/tests/test_stress   default filter _cuda
#                 stream   build/tests/test_stream   (no filter: GPU only)
#   -t TOOLS    comma list (default memcheck,racecheck,initcheck,synccheck)
#   -o FILE     also append the summary table to FILE
#   -l DIR      logs (one per tool and suite) in DIR (default build/gpu_sanitize)
#   -T SECONDS  time limit per run (default 3600; 0 = none)
#   -A          report CUDA API errors too (off by default: several tests
#               provoke API errors on purpose, e.g. test_stream's stream error
#               and the CUDA allocations the 64-bit test may be refused)
#   -b          build the binaries first (ninja)
#
# Exit status: 0 when every run passed with 0 sanitizer errors, 1 otherwise,
# 2 on a usage or setup error. Examples:
#   sh tests/gpu_sanitize.sh -b -o tests/RELIABILITY.md
#   sh tests/gpu_sanitize.sh -t racecheck -F fwd=hdim128 -s fwd   # racecheck is slow: a subset
set -u

cd "$(dirname "$0")/.." || exit 2

tools="memcheck,racecheck,initcheck,synccheck"
suites="fwd,helpers,stress,stream"
filter_fwd="fwd_cuda"
filter_helpers="_cuda"
filter_stress="_cuda"
set_fwd=0 set_helpers=0 set_stress=0
out_file=""
log_dir="build/gpu_sanitize"
time_limit=3600
api_errors="no"
build=0

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit 2
}

while getopts "f:F:s:t:o:l:T:Abh" opt; do
  case $opt in
    f) filter_fwd=$OPTARG; filter_helpers=$OPTARG; filter_stress=$OPTARG ;;
    F)
      # The first -F of a suite replaces its default; later ones add runs.
      case $OPTARG in
        fwd=*) [ $set_fwd = 1 ] && filter_fwd="$filter_fwd ${OPTARG#fwd=}" || filter_fwd=${OPTARG#fwd=}; set_fwd=1 ;;
        helpers=*) [ $set_helpers = 1 ] && filter_helpers="$filter_helpers ${OPTARG#helpers=}" ||
          filter_helpers=${OPTARG#helpers=}; set_helpers=1 ;;
        stress=*) [ $set_stress = 1 ] && filter_stress="$filter_stress ${OPTARG#stress=}" ||
          filter_stress=${OPTARG#stress=}; set_stress=1 ;;
        *) echo "gpu_sanitize: -F takes fwd=, helpers= or stress=" >&2; exit 2 ;;
      esac ;;
    s) suites=$OPTARG ;;
    t) tools=$OPTARG ;;
    o) out_file=$OPTARG ;;
    l) log_dir=$OPTARG ;;
    T) time_limit=$OPTARG ;;
    A) api_errors="explicit" ;;
    b) build=1 ;;
    *) usage ;;
  esac
done

sanitizer=${COMPUTE_SANITIZER:-}
if [ -z "$sanitizer" ]; then
  sanitizer=$(command -v compute-sanitizer 2>/dev/null || true)
  [ -n "$sanitizer" ] || sanitizer=/usr/local/cuda/bin/compute-sanitizer
fi
if [ ! -x "$sanitizer" ]; then
  echo "gpu_sanitize: compute-sanitizer not found (set COMPUTE_SANITIZER or put it on PATH)" >&2
  exit 2
fi

binary_of() {
  case $1 in
    fwd) echo build/tests/test_fwd ;;
    helpers) echo build/tests/test_helpers ;;
    stress) echo build/tests/test_stress ;;
    stream) echo build/tests/test_stream ;;
    *) echo "" ;;
  esac
}

# The filters of a suite, one per run; "-" = no filter argument.
filters_of() {
  case $1 in
    fwd) echo "$filter_fwd" ;;
    helpers) echo "$filter_helpers" ;;
    stress) echo "$filter_stress" ;;
    *) echo "-" ;;
  esac
}

if [ "$build" = 1 ]; then
  targets=""
  for s in $(echo "$suites" | tr ',' ' '); do targets="$targets $(binary_of "$s")"; done
  ninja $targets || { echo "gpu_sanitize: build failed" >&2; exit 2; }
fi

mkdir -p "$log_dir" || exit 2
date_utc=$(date -u '+%Y-%m-%d %H:%M UTC')
device=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
[ -n "$device" ] || device="(nvidia-smi unavailable)"
sanitizer_version=$("$sanitizer" --version 2>/dev/null | grep -i version | head -1)

table="$log_dir/summary.md"
{
  echo "GPU sanitizer run: $date_utc; device: $device; $sanitizer_version; host $(hostname)"
  echo ""
  echo "| tool | suite | filter | cases run | passed | skipped | failed | sanitizer errors | exit | time (s) |"
  echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} > "$table"

overall=0
# Sum the numbers CMocka prints in its group summaries ("[  PASSED  ] 3 test(s).").
cmocka_sum() {
  grep -E "^\[ *$2 *\] [0-9]+ test" "$1" | sed -E 's/^\[[^]]*\] ([0-9]+).*/\1/' | awk '{s += $1} END {print s + 0}'
}

for tool in $(echo "$tools" | tr ',' ' '); do
  case $tool in
    memcheck) tool_flags="--tool memcheck --leak-check full --padding 32" ;;
    racecheck) tool_flags="--tool racecheck --racecheck-report analysis" ;;
    initcheck) tool_flags="--tool initcheck" ;;
    synccheck) tool_flags="--tool synccheck" ;;
    *) echo "gpu_sanitize: unknown tool $tool" >&2; exit 2 ;;
  esac
  for suite in $(echo "$suites" | tr ',' ' '); do
   bin=$(binary_of "$suite")
   if [ -z "$bin" ]; then echo "gpu_sanitize: unknown suite $suite" >&2; exit 2; fi
   for filt in $(filters_of "$suite"); do
    [ "$filt" = "-" ] && filt=""
    log="$log_dir/$tool-$suite${filt:+-$filt}.log"
    if [ ! -x "$bin" ]; then
      echo "| $tool | $suite | ${filt:--} | - | - | - | - | - | missing | - |" >> "$table"
      echo "gpu_sanitize: $bin is not built (use -b or ninja $bin); skipped" >&2
      overall=1
      continue
    fi
    echo "gpu_sanitize: $tool on $bin ${filt:+(filter $filt)} -> $log"
    start=$(date +%s)
    runner=""
    if [ "$time_limit" != 0 ] && command -v timeout >/dev/null 2>&1; then runner="timeout $time_limit"; fi
    # shellcheck disable=SC2086
    $runner "$sanitizer" $tool_flags --error-exitcode 99 --report-api-errors "$api_errors" \
      --print-limit 200 --target-processes all "$bin" $filt > "$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    runs=$(cmocka_sum "$log" "==========")
    passed=$(cmocka_sum "$log" "PASSED")
    skipped=$(cmocka_sum "$log" "SKIPPED")
    failed=$(cmocka_sum "$log" "FAILED")
    errors=$(grep -E "ERROR SUMMARY: [0-9]+ error" "$log" | tail -1 | sed -E 's/.*ERROR SUMMARY: ([0-9]+) error.*/\1/')
    # racecheck prints "RACECHECK SUMMARY: N hazards displayed (E errors, W warnings)"
    # instead; every hazard counts, warnings included.
    if [ -z "$errors" ]; then
      errors=$(grep -E "RACECHECK SUMMARY: [0-9]+ hazard" "$log" | tail -1 |
        sed -E 's/.*\(([0-9]+) errors?, ([0-9]+) warnings?\).*/\1 \2/' | awk 'NF == 2 {print $1 + $2}')
    fi
    [ -n "$errors" ] || errors="?"
    exit_note=$rc
    [ "$rc" = 124 ] && exit_note="124 (time limit)"
    [ "$rc" = 99 ] && exit_note="99 (sanitizer)"
    echo "| $tool | $suite | ${filt:--} | $runs | $passed | $skipped | $failed | $errors | $exit_note | $secs |" >> "$table"
    if [ "$runs" != 0 ] && [ "$passed" = 0 ] && [ "$failed" = 0 ]; then
      echo "gpu_sanitize: $tool/$suite: every case skipped (no device, or no kernel for it): nothing was checked" >&2
    fi
    if [ "$rc" != 0 ] || [ "$errors" != 0 ] || [ "$failed" != 0 ]; then
      overall=1
      echo "gpu_sanitize: $tool/$suite: exit $rc, $errors sanitizer errors, $failed failed cases (see $log)" >&2
      grep -E "^========= (Invalid|Race|Uninitialized|Barrier|Program hit|ERROR|Leaked)" "$log" | head -10 >&2
    fi
   done
  done
done

echo ""
cat "$table"
if [ -n "$out_file" ]; then
  { echo ""; cat "$table"; } >> "$out_file"
  echo "gpu_sanitize: table appended to $out_file"
fi
exit $overall
