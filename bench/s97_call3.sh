#!/bin/bash
# Ninety-seventh session, third call, for the device time left (~360 s):
# this tree (the dense call's walk tail from the host, 219f8e7) on the
# small build (wgmma d64, d128, d256), test_fwd of those head dims and the
# split-walk cases at once, memcheck of hdim64 bf16 causal beside them
# (eb27f42's 16-byte reads of the padded rank table were never
# memchecked), then bench.py's s512 rows of those head dims against the
# peers (our dense call is the one the merge changed; bench.py checks it
# bitwise against our varlen call).
#   run(command="bash bench/s97_call3.sh", carry=[".deb"], timeout_s=270)
set -u
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
setup_cmocka
W=/tmp/t3
rm -rf "$W" && mkdir -p "$W"
tar --exclude=./build --exclude=./.git --exclude=./.deb --exclude=./.ab -cf - . | tar -xf - -C "$W"
cd "$W" || exit 1
timeout 10 python3 bench/small_spec.py gen/spec.py --wgmma-dims 64,128,256
t0=$SECONDS
timeout 150 ninja -j16 build/libflashattn.so build/tests/test_fwd >"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
echo "small build: $((SECONDS - t0)) s; $(nvidia-smi --query-gpu=name --format=csv,noheader)"
t0=$SECONDS
for f in wgmma_sm90a_hdim64 wgmma_sm90a_hdim128 wgmma_sm90a_hdim256 fwd_cuda_wgmma; do
  timeout 100 build/tests/test_fwd "$f" >"$OUT/test_fwd_$f.log" 2>&1 &
done
timeout 100 compute-sanitizer --tool memcheck --error-exitcode 99 build/tests/test_fwd wgmma_sm90a_hdim64_bf16_causal \
  >"$OUT/san_memcheck_d64.log" 2>&1 &
wait
for f in "$OUT"/test_fwd_*.log; do echo "$(basename "$f"): $(counts "$f")"; done
grep -h '^\[  FAILED  \] [a-z]' "$OUT"/test_fwd_*.log | head
echo "memcheck hdim64_bf16_causal: $(counts "$OUT/san_memcheck_d64.log"); $(grep -h 'ERROR SUMMARY' "$OUT/san_memcheck_d64.log" | tail -1)"
echo "tests: $((SECONDS - t0)) s"
t0=$SECONDS
timeout $((255 - SECONDS)) python3 bench/bench.py --seqs 512 --no-extras --md "$OUT/bench.md" >"$OUT/bench.log" 2>&1
echo "bench: exit $? ($((SECONDS - t0)) s)"
cat "$OUT/bench.md" 2>/dev/null | grep -E "^\| (bfloat|float)" | cut -c1-200
