#!/bin/bash
# A/B of the wgmma family's scheduling switches (src/cuda/fwd_wgmma.md
# "Switches") in one device call of about 300 s: the same tree built twice
# with the small spec (sm_90 only, head dims 64 and 128 for mma and decode,
# mma in bf16 only; the wgmma family keeps 64/128/256 in both dtypes):
#   A  the switches as gen/spec.py has them (off: the verified first version)
#   B  WGMMA_TILES with $AB_SWITCHES turned on (default "overlap";
#      "overlap pingpong" for both)
# then: test_fwd wgmma of B against the double reference; bench/ab_prefill.c
# (dispatch's choice: wgmma on sm_90) linked against each, run A B A B
# (--quick grid: bf16 and fp16, d64/d128/d256, s512/s2048/s8192, causal and
# full); racecheck and synccheck of one B kernel. Prints a table of speed
# ratios B over A (A ms / B ms: above 1, B is faster).
#
#   run(command="bash bench/wgmma_ab.sh", carry=[".deb"], timeout_s=330)
# Both trees are copies under /tmp/wab (never this checkout's spec); logs in
# $OUT (default /tmp/fa_out); the summary is printed last.
set -u
BUDGET=${BUDGET:-290}  # seconds for the whole script
. "$(dirname "$0")/device_common.sh"
SWITCHES=${AB_SWITCHES:-overlap}
ROUNDS=${AB_ROUNDS:-2}
REPS=${AB_REPS:-20}
SAN_KERNEL=${AB_SAN:-wgmma_sm90a_hdim128_bf16_causal}
W=/tmp/wab

setup_cmocka
timeout 10 nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader >"$OUT/env.txt" 2>&1
note "gpu: $(cat "$OUT/env.txt"); B = WGMMA_TILES with: $SWITCHES"

# ---- two copies of the tree, small spec, B's switches on
rm -rf "$W" && mkdir -p "$W/A" "$W/B"
for side in A B; do
  timeout 30 tar --exclude=./build --exclude=./.git --exclude=./.deb --exclude=./.ab -cf - . | tar -xf - -C "$W/$side"
  # shellcheck disable=SC2046
  timeout 10 python3 bench/small_spec.py "$W/$side/gen/spec.py" --mma-bf16 \
    $([ "$side" = B ] && for sw in $SWITCHES; do echo "--switch $sw"; done)
done
grep -A12 "^WGMMA_TILES" "$W/B/gen/spec.py" | grep "dict(" >"$OUT/b_tiles.txt"

# ---- builds, side by side (B: the library and test_fwd; A: the library)
t=$SECONDS
(cd "$W/A" && timeout "$(cap 150)" ninja -j16 build/libflashattn.a build/fa_demo >"$OUT/build_A.log" 2>&1; echo $? >"$OUT/build_A.rc") &
(cd "$W/B" && timeout "$(cap 150)" ninja -j16 build/libflashattn.a build/tests/test_fwd build/fa_demo >"$OUT/build_B.log" 2>&1; echo $? >"$OUT/build_B.rc") &
wait
note "builds: A exit $(cat "$OUT/build_A.rc"), B exit $(cat "$OUT/build_B.rc"), $((SECONDS - t)) s"
if [ "$(cat "$OUT/build_A.rc")" != 0 ] || [ "$(cat "$OUT/build_B.rc")" != 0 ]; then
  tail -20 "$OUT/build_A.log" "$OUT/build_B.log"; cat "$SUMMARY"; exit 1
fi
note "B: $(grep -m1 "using Traits" "$W/B/generated/cuda/fwd_wgmma_sm90a_hdim128_bf16_causal.cu"); table entries with overlap: $(grep -c "intra-warpgroup overlap" "$W/B/generated/kernel_table.c"), ping-pong: $(grep -c "ping-pong" "$W/B/generated/kernel_table.c"); in A: $(grep -c "intra-warpgroup overlap\|ping-pong" "$W/A/generated/kernel_table.c")"
note "B wgmma spill/C75xx lines: $(grep -E "wgmma.*(spill|Local memory)|C75[0-9][0-9]|Potential Performance Loss" "$OUT/build_B.log" | wc -l)"
grep -E "wgmma.*(spill|Local memory)|C75[0-9][0-9]" "$OUT/build_B.log" | head -4 | tee -a "$SUMMARY"

# ---- correctness of B against the double reference
timeout "$(cap 90)" "$W/B/build/tests/test_fwd" wgmma >"$OUT/test_fwd_B.log" 2>&1
note "test_fwd wgmma (B): exit $? (OK $(grep -c '^\[       OK \]' "$OUT/test_fwd_B.log"), FAILED $(grep -c '^\[  FAILED  \] [a-z]' "$OUT/test_fwd_B.log"))"
grep -E "worst error|skipped|error:|FAIL|Timeout" "$OUT/test_fwd_B.log" | head -20 | tee -a "$SUMMARY"

# ---- B against A: the overlap changes when each step runs, not what it
# computes, so the same inputs should give the same error line (printed to
# 3 digits; a proxy for bitwise equality). Odd lengths: the V tail zeroing.
for k in hdim64_bf16_causal:64 hdim128_fp16_none:128 hdim256_bf16_local:256; do
  name=${k%%:*} d=${k##*:}
  args="--kernel fwd_wgmma_sm90a_$name --head-dim $d --heads-q 4 --heads-k 2 --seqlens 1000,777 --check-rows 64 --repeat 1"
  [ "${name##*_}" = causal ] && args="$args --causal"
  [ "${name##*_}" = local ] && args="$args --window 300,40"
  for side in A B; do
    # shellcheck disable=SC2086
    timeout "$(cap 30)" "$W/$side/build/fa_demo" $args >"$OUT/demo_${side}_$name.log" 2>&1
    echo "exit $?" >>"$OUT/demo_${side}_$name.log"
  done
  ea=$(grep -E "^error vs|^exit" "$OUT/demo_A_$name.log" | tr '\n' ' ')
  eb=$(grep -E "^error vs|^exit" "$OUT/demo_B_$name.log" | tr '\n' ' ')
  if ! grep -q "^error vs" "$OUT/demo_B_$name.log"; then same="no error line (see demo_B_$name.log)"
  elif [ "$ea" = "$eb" ]; then same="A and B print the same error line"
  else same="A and B DIFFER"; fi
  note "fa_demo $name: $same | B: $eb"
done

# ---- timing: ab_prefill against each build, A B A B
cuda=/usr/local/cuda
link="-L$cuda/lib64 -lcudart_static -lpthread -ldl -lrt -lm"
for side in A B; do
  timeout 60 cc -std=c11 -O2 -I"$W/$side/include" -I$cuda/include bench/ab_prefill.c "$W/$side/build/libflashattn.a" $link \
    -o "$W/ab_$side" || note "ab_prefill $side: compile failed"
done
t=$SECONDS
for r in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    timeout "$(cap 40)" "$W/ab_$side" --quick --reps "$REPS" >"$OUT/ab_$side.$r" 2>"$OUT/ab_$side.$r.err"
    rc=$?
    [ $rc = 0 ] || note "ab_prefill $side round $r: exit $rc ($(head -c 200 "$OUT/ab_$side.$r.err"))"
  done
done
note "timing: $ROUNDS rounds A B, $((SECONDS - t)) s"
timeout 20 python3 - "$OUT" "$ROUNDS" <<'PY' | tee -a "$SUMMARY"
import statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(side):
    runs = []
    for r in range(1, rounds + 1):
        try:
            with open(f"{out}/ab_{side}.{r}") as fh:
                runs.append({l.split("\t")[0]: (float(l.split("\t")[1]), l.split("\t")[2].strip()) for l in fh if l.count("\t") == 2})
        except OSError:
            pass
    return runs
A, B = [r for r in load("A") if r], [r for r in load("B") if r]
if not A or not B:
    print("no timing"); sys.exit()
print(f"{'row':34} {'A ms':>9} {'B ms':>9} {'A/B':>6}  kernel (A | B)")
ratios = {}
for row in A[0]:
    a = [run[row][0] for run in A if row in run]
    b = [run[row][0] for run in B if row in run]
    if not b:
        continue
    ma, mb = statistics.median(a), statistics.median(b)
    ka, kb = A[0][row][1], B[0][row][1]
    ratios[row] = ma / mb
    print(f"{row:34} {ma:9.4f} {mb:9.4f} {ma / mb:6.3f}  {ka}{'' if ka == kb else ' | ' + kb}")
for d in ("d64 ", "d128 ", "d256 "):
    rs = [v for k, v in ratios.items() if d in k and "s512 " not in k]
    if rs:
        print(f"{d.strip()}: speed B/A (A ms / B ms) {min(rs):.3f} .. {max(rs):.3f}, median {statistics.median(rs):.3f} (s2048, s8192)")
PY

# ---- racecheck and synccheck of one B kernel (what is left of the budget)
for tool in racecheck synccheck; do
  left=$((BUDGET - (SECONDS - T0)))
  [ "$tool" = racecheck ] && left=$((left / 2))
  if [ "$left" -gt 10 ]; then
    timeout "$left" compute-sanitizer --tool "$tool" --error-exitcode 99 "$W/B/build/tests/test_fwd" "$SAN_KERNEL" \
      >"$OUT/san_${tool}_B.log" 2>&1
    note "compute-sanitizer $tool $SAN_KERNEL (B, limit $left s): exit $? ($(grep -cE '^\[       OK \]' "$OUT/san_${tool}_B.log") OK; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san_${tool}_B.log" | tail -1))"
  else
    note "compute-sanitizer $tool: skipped (budget)"
  fi
done

note "total: $((SECONDS - T0)) s"
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz --exclude=summary.txt *.log *.txt *.rc ab_* 2>/dev/null)
echo "==== summary"
cat "$SUMMARY"
