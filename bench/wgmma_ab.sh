#!/bin/bash
# A/B of the wgmma family's scheduling switches (src/cuda/fwd_wgmma.md
# "Switches") in one device call (3 sides: 131 s on the H200): the same tree built once
# per variant with the small spec (sm_90 only, head dims 64 and 128 for mma
# and decode, mma in bf16 only; the wgmma family keeps 64/128/256 in both
# dtypes):
#   A        the switches as gen/spec.py has them
#   B, C, .. WGMMA_TILES with each of $AB_VARIANTS set; variants are
#            separated by "|", e.g. AB_VARIANTS="overlap|overlap pingpong"
#            ("-name" turns a switch off; default "-overlap -pingpong": the first version;
#            "D:key=value" sets a tile field of the max_head_dim=D row, e.g. "64:block_n=192";
#            a dotted key reaches its long_keys / by_mask dicts: "64:long_keys.min_seqlen_k=2048")
#            the wgmma family builds head dims $AB_WGMMA_DIMS (default 64,128,256;
#            128 and 80 added where the packed rows are timed);
#            AB_TIME_DIMS=256: time only those head dims (no packed rows);
#            AB_TIME_DIMS=packed: only the packed rows ("64,128 --packed": both)
#            AB_VARIANTS=none: no variants
#   O        with AB_OLD=DIR (a `git archive` of an older commit, carried):
#            that tree as its spec has it (the refactor's baseline)
#   P        with AB_OLD2=DIR: a second tree (e.g. one step of a change
#            whose whole is this tree), built and tested like A
#   Q        with AB_OLD3=DIR: a third tree, as P
# AB_TEST_FILTERS: test_fwd filters run in turn on each tested side (default
# "wgmma"; each capped at AB_TEST_CAP s, default 40 per head dim); AB_EXTRA_TESTS: more
# test programs built and run on those sides (e.g. "test_stress"; not
# test_api or test_dispatch: they check the full spec's table and head dims,
# and fail on this small build by design).
# then, timing first (the budget cuts what comes after it): bench/ab_prefill.c
# (dispatch's choice: wgmma on sm_90) linked against each build, the sides
# taking turns row by row (AB_INTERLEAVE below) (--quick grid: bf16 and fp16, d64/d128/d256, s512/s2048/s8192, causal
# and full; AB_GRID=full: every seqlen 512..16k; AB_DENSE=1: the calls dense,
# no cu_seqlens), printing a table of speed
# ratios X over A (A ms / X ms: above 1, X is faster); then test_fwd wgmma
# of each variant against the double reference (d128 + d256: about 75 s per
# side on the H200); fa_demo of each variant against A on three kernels
# (same error line: a proxy for identical output); racecheck and synccheck
# of one kernel of the last variant (AB_SAN: the kernel, default the bf16
# causal one of the first head dim built; several, space-separated, each
# "X:kernel" to run it on side X; AB_SAN_SIDE=A: of A; AB_SAN_TOOLS: the
# tools, "none" for none; AB_SAN_RESERVE: seconds of the budget the tests
# leave to them, default 40 a tool and kernel).
#
#   run(command="bash bench/wgmma_ab.sh", carry=[".deb"], timeout_s=360)
# The trees are copies under /tmp/wab (never this checkout's spec); logs in
# $OUT (default /tmp/fa_out); the summary is printed last.
set -u
BUDGET=${BUDGET:-340}  # seconds for the whole script
. "$(dirname "$0")/device_common.sh"
VARIANTS=${AB_VARIANTS:--overlap -pingpong}
ROUNDS=${AB_ROUNDS:-2}
# 200 reps a row (forty-eighth session): at 20-30 the short rows' rounds
# spread 12-38% and unchanged code read 0.98-1.02; at 200 d64 s512 causal
# spread 2% (results-h200-2026-12-03-s48-footprint-ab.md). About 5.5 s a
# side and round for the quick grid at three head dims.
REPS=${AB_REPS:-200}
W=/tmp/wab

# Sides: A, then one letter per variant; SW_<letter> its switches.
# "none": no variants (A, and O with AB_OLD)
[ "$VARIANTS" = none ] && VARIANTS=
IFS='|' read -r -a VLIST <<<"$VARIANTS"
SIDES=(A)
letters=(B C D E)
for k in "${!VLIST[@]}"; do
  SIDES+=("${letters[$k]}")
  declare "SW_${letters[$k]}=${VLIST[$k]}"
done
LAST=${AB_SAN_SIDE:-${SIDES[-1]}}  # the side the sanitizers run on (default: the last variant)
[ -n "${AB_OLD:-}" ] && [ -d "$AB_OLD" ] && SIDES+=(O)
[ -n "${AB_OLD2:-}" ] && [ -d "$AB_OLD2" ] && SIDES+=(P)
[ -n "${AB_OLD3:-}" ] && [ -d "$AB_OLD3" ] && SIDES+=(Q)
sw() { local v="SW_$1"; echo "${!v:-}"; }

setup_cmocka
timeout 10 nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader >"$OUT/env.txt" 2>&1
note "gpu: $(cat "$OUT/env.txt")"
for side in "${SIDES[@]:1}"; do
  if [ "$side" = O ]; then note "O = the tree in $AB_OLD"; elif [ "$side" = P ]; then note "P = the tree in $AB_OLD2 (tested like A)"; elif [ "$side" = Q ]; then note "Q = the tree in $AB_OLD3 (tested like A)"; else note "$side = WGMMA_TILES with: $(sw "$side")"; fi
done

# The packed rows (timed without AB_TIME_DIMS, with "packed" or with
# "--packed") need the wgmma family's d128 (packed GQA) and d80 (vision):
# built too, or ab_prefill stops at the first row it cannot dispatch (the
# twenty-eighth session lost a call's timing to it).
WGMMA_DIMS=${AB_WGMMA_DIMS:-64,128,256}
# The sanitized kernels: $AB_SAN (space-separated test_fwd filters, each
# run on the side $AB_SAN_SIDE / the last variant, or on side X when written
# "X:filter"), else the causal kernel of the first head dim built (a d128
# default found nothing to run when only d64 was built).
read -r -a SAN_KERNELS <<<"${AB_SAN:-wgmma_sm90a_hdim${WGMMA_DIMS%%,*}_bf16_causal}"
case "${AB_TIME_DIMS:-packed}" in
  *packed*) for d in 128 80; do
      case ",$WGMMA_DIMS," in *",$d,"*) ;; *) WGMMA_DIMS="$WGMMA_DIMS,$d"; note "wgmma d$d built too: the packed rows need it" ;; esac
    done ;;
esac

# ---- one copy of the tree per side, small spec, the side's switches on
rm -rf "$W" && mkdir -p "$W"
set -f  # no globbing of the variants' words: list values such as ['none','local']
for side in "${SIDES[@]}"; do
  mkdir -p "$W/$side"
  src=.
  [ "$side" = O ] && src=$AB_OLD
  [ "$side" = P ] && src=$AB_OLD2
  [ "$side" = Q ] && src=$AB_OLD3
  (cd "$src" && timeout 30 tar --exclude=./build --exclude=./.git --exclude=./.deb --exclude=./.ab -cf - .) | tar -xf - -C "$W/$side"
  # shellcheck disable=SC2046
  timeout 10 python3 bench/small_spec.py "$W/$side/gen/spec.py" --mma-bf16 \
    --wgmma-dims "$WGMMA_DIMS" \
    $(for s in $(sw "$side"); do case $s in *:*) echo "--tile=$s" ;; *) echo "--switch=$s" ;; esac; done)
done
set +f

# ---- builds, side by side (the library, fa_demo; test_fwd for the variants)
# A variant that spills still builds (and is timed): its findings go to the
# build log, counted below (tests/nvcc_ptxas_clean.sh)
export FA_PTXAS_FINDINGS=warn
t=$SECONDS
jobs=$((16 / ${#SIDES[@]} + 1))
for side in "${SIDES[@]}"; do
  targets="build/libflashattn.a build/fa_demo"
  [ "$side" != O ] && targets="$targets build/tests/test_fwd"
  [ "$side" != O ] && for x in ${AB_EXTRA_TESTS:-}; do targets="$targets build/tests/$x"; done
  # shellcheck disable=SC2086
  (cd "$W/$side" && timeout "$(cap 170)" ninja -j$jobs $targets >"$OUT/build_$side.log" 2>&1; echo $? >"$OUT/build_$side.rc") &
done
wait
bad=0
for side in "${SIDES[@]}"; do
  note "build $side: exit $(cat "$OUT/build_$side.rc")"
  [ "$(cat "$OUT/build_$side.rc")" = 0 ] || { bad=1; tail -20 "$OUT/build_$side.log"; }
done
note "builds: $((SECONDS - t)) s"
[ $bad = 0 ] || { cat "$SUMMARY"; exit 1; }
for side in "${SIDES[@]}"; do
  traits=$(ls "$W/$side"/generated/cuda/fwd_wgmma_sm90a_hdim*_bf16_causal.cu 2>/dev/null | sort -V | tail -1)  # the widest built
  note "$side: $(grep -m1 "using Traits" "$traits"); spill/C75xx lines: $(grep -E "wgmma.*(spill|Local memory)|C75[0-9][0-9]|Potential Performance Loss" "$OUT/build_$side.log" | wc -l)"
  grep -E "wgmma.*(spill|Local memory)|C75[0-9][0-9]" "$OUT/build_$side.log" | head -4 | tee -a "$SUMMARY"
done

# ---- timing first (what the call is for: the budget cuts the tests after it,
# not the rounds): ab_prefill against each build, A B C / B C A / ...
cuda=/usr/local/cuda
link="-L$cuda/lib64 -lcudart_static -lpthread -ldl -lrt -lm"
for side in "${SIDES[@]}"; do
  timeout 60 cc -std=c11 -O2 -I"$W/$side/include" -I$cuda/include bench/ab_prefill.c "$W/$side/build/libflashattn.a" $link \
    -o "$W/ab_$side" || note "ab_prefill $side: compile failed"
done
case "${AB_TIME_DIMS:-}" in
  "") time_rows= ;;
  packed) time_rows=--packed ;;
  *) time_rows="--dims $AB_TIME_DIMS" ;;
esac
# AB_INTERLEAVE=rows (the default since the twenty-fifth session):
# bench/ab_serve.py keeps one ab_prefill per side running and asks each side
# for each row in turn (order rotated by round and row), so that a side's
# other rows cannot heat or cool the GPU for the next one.
# AB_INTERLEAVE=process: each side's whole grid in turn, the order rotated
# each round. "rows process": both, the second's sides
# named p<side>. Calibrated in the nineteenth session (call 3, three builds
# with the same kernels but one d64 variant, 4 rounds of the full grid):
# A/A |log ratio| median 0.50% / p90 1.41% / max 3.7% by rows, 0.46% /
# 1.35% / 3.5% by process; a row's rounds spread 2.9% (median) by rows
# against 1.5% by process. So by rows is no tighter where the sides share
# their kernels; it is there for variants that change many rows' power.
# Twenty-fifth session, call 3: a change to the causal kernels only (faster
# causal rows) read the unchanged full rows 1.5-5.8% slower by process, in
# every round; by rows (call 4) 0.989-1.020. Hence the default. ab_prefill
# writes 256 MB before each timed call (L2 cold, as bench.py's do_bench);
# a warm L2 had flattered a tile order in that session.
t=$SECONDS
modes=(${AB_INTERLEAVE:-rows})
for mode in "${modes[@]}"; do
  prefix=
  [ "$mode" != "${modes[0]}" ] && prefix=p
  if [ "$mode" = rows ]; then
    timeout "$(cap $((40 * ROUNDS * ${#SIDES[@]})))" python3 bench/ab_serve.py --out "$OUT" --rounds "$ROUNDS" \
      $(for side in "${SIDES[@]}"; do echo "$prefix$side=$W/ab_$side"; done) -- \
      $([ "${AB_GRID:-quick}" = full ] || echo --quick) $([ "${AB_DENSE:-0}" = 1 ] && echo --dense) --reps "$REPS" \
      $time_rows || note "ab_serve: exit $?"
  else
    # The order rotates each round (A O, O A, ...; A B C, B C A, C A B).
    for r in $(seq 1 "$ROUNDS"); do
      n=${#SIDES[@]}
      for k in $(seq 0 $((n - 1))); do
        side=${SIDES[$(((k + r - 1) % n))]}
        timeout "$(cap 40)" "$W/ab_$side" $([ "${AB_GRID:-quick}" = full ] || echo --quick) \
          $([ "${AB_DENSE:-0}" = 1 ] && echo --dense) --reps "$REPS" $time_rows >"$OUT/ab_$prefix$side.$r" 2>"$OUT/ab_$prefix$side.$r.err"
        rc=$?
        [ $rc = 0 ] || note "ab_prefill $side round $r: exit $rc ($(head -c 200 "$OUT/ab_$prefix$side.$r.err"))"
      done
    done
  fi
  note "timing ($mode): $ROUNDS rounds of ${SIDES[*]}, $((SECONDS - t)) s"
  t=$SECONDS
  timeout 20 python3 bench/ab_table.py --text "$OUT" $(for side in "${SIDES[@]}"; do echo "$prefix$side"; done) | tee -a "$SUMMARY"
done

# ---- correctness of A and each variant against the double reference
# (AB_TEST_SIDES="B C": only those sides; A is often main, tested before).
# The cap: about 4 s a kernel on the H200, 6-10 kernels a head dim (4 head
# dims at 90 s were cut in the eighteenth session).
TEST_CAP=${AB_TEST_CAP:-$((40 * $(echo "$WGMMA_DIMS" | tr ',' ' ' | wc -w)))}
# The sanitizers' share, kept out of the tests' caps (AB_SAN_RESERVE
# seconds; default 40 a tool, about what racecheck or synccheck of one d128
# kernel takes on the H200): the twenty-ninth session's call 1 let three
# sides' tests take it all, and its sanitizers ran 12 s each, no verdict.
TOOLS=(${AB_SAN_TOOLS:-racecheck synccheck})
[ "${AB_SAN_TOOLS:-}" = none ] && TOOLS=()
SAN_RESERVE=${AB_SAN_RESERVE:-$((40 * ${#TOOLS[@]} * ${#SAN_KERNELS[@]}))}
cap_tests() { local c; c=$(cap "$1"); local room=$((BUDGET - SAN_RESERVE - (SECONDS - T0))); [ "$room" -lt "$c" ] && c=$((room > 1 ? room : 1)); echo "$c"; }
for side in "${SIDES[@]}"; do
  [ "$side" = O ] && continue
  [ -n "${AB_TEST_SIDES:-}" ] && case " $AB_TEST_SIDES " in *" $side "*) ;; *) continue ;; esac
  for f in ${AB_TEST_FILTERS:-wgmma}; do
    log="$OUT/test_fwd_${side}_$f.log"
    timeout "$(cap_tests "$TEST_CAP")" "$W/$side/build/tests/test_fwd" "$f" >"$log" 2>&1
    rc=$?
    cut=; [ $rc = 124 ] && cut=" (cut at the time cap: not every case ran)"
    note "test_fwd $f ($side): exit $rc (OK $(grep -c '^\[       OK \]' "$log"), FAILED $(grep -c '^\[  FAILED  \] [a-z]' "$log"))$cut"
    grep -E "worst error|skipped|error:|FAIL|Timeout" "$log" | head -8 | tee -a "$SUMMARY"
  done
  for x in ${AB_EXTRA_TESTS:-}; do  # e.g. test_stress (its lse case needs head dim 96: not in the small build)
    timeout "$(cap_tests 60)" "$W/$side/build/tests/$x" >"$OUT/${x}_$side.log" 2>&1
    note "$x ($side): exit $? (OK $(grep -c '^\[       OK \]' "$OUT/${x}_$side.log"), FAILED $(grep -c '^\[  FAILED  \] [a-z]' "$OUT/${x}_$side.log"))"
  done
done

# ---- each variant against A: the switches change when each step runs, not
# what it computes, so the same inputs should give the same error line
# (printed to 3 digits; a proxy for bitwise equality). Odd lengths: the V
# tail zeroing.
for k in hdim64_bf16_causal:64 hdim128_fp16_none:128 hdim256_bf16_local:256; do
  name=${k%%:*} d=${k##*:}
  case ",$WGMMA_DIMS," in *",$d,"*) ;; *) continue ;; esac  # not built
  args="--kernel fwd_wgmma_sm90a_$name --head-dim $d --heads-q 4 --heads-k 2 --seqlens 1000,777 --check-rows 64 --repeat 1 --seed 7"
  case $name in *_fp16_*) args="$args --dtype fp16" ;; esac
  [ "${name##*_}" = causal ] && args="$args --causal"
  [ "${name##*_}" = local ] && args="$args --window 300,40"
  for side in "${SIDES[@]}"; do
    # shellcheck disable=SC2086
    timeout "$(cap 30)" "$W/$side/build/fa_demo" $args >"$OUT/demo_${side}_$name.log" 2>&1
    echo "exit $?" >>"$OUT/demo_${side}_$name.log"
  done
  ea=$(grep -E "^error vs|^exit" "$OUT/demo_A_$name.log" | tr '\n' ' ')
  for side in "${SIDES[@]:1}"; do
    eb=$(grep -E "^error vs|^exit" "$OUT/demo_${side}_$name.log" | tr '\n' ' ')
    if ! grep -q "^error vs" "$OUT/demo_${side}_$name.log"; then same="no error line (see demo_${side}_$name.log)"
    elif [ "$ea" = "$eb" ]; then same="A and $side print the same error line"
    else same="A and $side DIFFER"; fi
    note "fa_demo $name: $same | $side: $eb"
  done
done

# ---- racecheck and synccheck ($AB_SAN_TOOLS) of each $AB_SAN kernel on its side
runs=$((${#TOOLS[@]} * ${#SAN_KERNELS[@]}))
for tool in "${TOOLS[@]}"; do
  for entry in "${SAN_KERNELS[@]}"; do
    side=$LAST kernel=$entry
    case $entry in ?:*) side=${entry%%:*} kernel=${entry#*:} ;; esac
    left=$(((BUDGET - (SECONDS - T0)) / runs))  # an equal share of what is left
    runs=$((runs - 1))
    log="$OUT/san_${tool}_${side}_$kernel.log"
    if [ "$left" -gt 10 ]; then
      timeout "$left" compute-sanitizer --tool "$tool" --error-exitcode 99 "$W/$side/build/tests/test_fwd" "$kernel" \
        >"$log" 2>&1
      note "compute-sanitizer $tool $kernel ($side, limit $left s): exit $? ($(grep -cE '^\[       OK \]' "$log") OK; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1))"
    else
      note "compute-sanitizer $tool $kernel: skipped (budget)"
    fi
  done
done

note "total: $((SECONDS - T0)) s"
# only 8 files come back from $OUT: the summary and one archive of the rest
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz --exclude=summary.txt *.log *.txt *.rc ab_* 2>/dev/null && rm -f *.log env.txt b_tiles.txt *.rc ab_*)
echo "==== summary"
cat "$SUMMARY"
