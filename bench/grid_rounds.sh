#!/bin/bash
# How a row's time follows the persistent grid's rounds (one device call):
# the library (full spec) timed through contexts that claim fewer SMs, so
# the wgmma family's grid is min(tiles, N) blocks. A full d128 row holds
# 2048 work tiles: 16.52 rounds at N = 124 (the busiest block runs 17), 16
# at 128, 15.52 at 132 (still 16). If the last partial round costs a whole
# round, N = 128 and 132 read the same and 124 about 17/16 slower: that
# partial round is what sharing its keys out would save (src/cuda/
# fwd_wgmma.md, "Next steps"; bench/tile_balance.c's model).
#
#   run(command="bash bench/grid_rounds.sh", carry=[".deb"], timeout_s=400)
# SMS (default "124 128 132"), ROUNDS (3), DIMS (64,128,256); the sides
# are timed row by row (bench/ab_serve.py); logs and the table in $OUT.
set -u
OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
SMS=${SMS:-124 128 132}
t=$SECONDS
ninja -j16 build/libflashattn.a >"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
echo "build: $((SECONDS - t)) s"
cuda=/usr/local/cuda
cc -std=c11 -O2 -Iinclude -I$cuda/include bench/ab_prefill.c build/libflashattn.a \
  -L$cuda/lib64 -lcudart_static -lpthread -ldl -lrt -lm -o /tmp/ab_prefill || exit 1
sides=()
for n in $SMS; do  # one wrapper per SM count: ab_serve.py starts BINARY --serve [options]
  printf '#!/bin/sh\nexec /tmp/ab_prefill --sm-count %s "$@"\n' "$n" >"/tmp/sm$n"
  chmod +x "/tmp/sm$n"
  sides+=("sm$n=/tmp/sm$n")
done
t=$SECONDS
python3 bench/ab_serve.py --out "$OUT" --rounds "${ROUNDS:-3}" "${sides[@]}" -- --reps 20 --dims "${DIMS:-64,128,256}"
echo "timing: $((SECONDS - t)) s"
last=${SMS##* }
python3 bench/ab_table.py --text "$OUT" "sm$last" $(for n in $SMS; do [ "$n" = "$last" ] || echo "sm$n"; done) | tee "$OUT/table.txt"
python3 bench/ab_table.py "$OUT" "sm$last" $(for n in $SMS; do [ "$n" = "$last" ] || echo "sm$n"; done) >"$OUT/table.md"
