#!/bin/bash
# Ninety-fourth session, fourth device call: does the warp plan lose to the
# kernel without a plan on equal caches (b32 x 16k 1.2%, b8 x 32k 0.5%,
# d64 1.0-1.3% in s94_call2) by its grid (units + slots blocks, the spare
# first-wave blocks spread) or by its kernel? .ab/e =
# bench/experiments/decode-warp-plan-exact-grid.patch (timing only: the
# warp plan's grid is exactly its pieces, no spread) beside main (this tree
# and .ab/old, the same kernels: the order's bias), dense sides too.
# Prediction: if the grid is the cause, ours_e's seqused rows come within
# 0.3% of the dense sides; if the kernel is, ours_e reads as main.
#   run(command="bash bench/s94_call4.sh", carry=[".deb", ".ab/old", ".ab/e"], timeout_s=420)
BUDGET=400 AB_MORE=e=.ab/e AB_ROWS=8:32768,8:16384,32:16384,8:65536 AB_ROWS_D64=8:32768,32:16384 \
  AB_TIME_ARGS=--dense AB_SKEW=0 AB_TESTS="" AB_DEMOS="" bash bench/decode_ab_events.sh
