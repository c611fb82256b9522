#!/bin/bash
# Ninety-fourth session, second device call: the ring position advanced
# step by step (RingPos, fwd_decode.cuh) against main at 4ffaf1e (.ab/old,
# `sh bench/ab_tree.sh .ab/old`): bench/decode_ab_events.sh with the dense
# sides (--dense: the kernel without a plan), the skewed batches, test_decode
# (sm_90 d128 bf16, d64 fp16) and memcheck / racecheck of a split demo.
# Prediction: the 3-slot kernels (d128's plan kernels, d64's kernel without
# a plan) lose the divide-by-3 chain, ~20-40 cycles a step: b8 x 16k/32k/64k
# and b32 x 16k with seqused_k (the warp's plan) 0.5-1.0% less time, d64
# rows 0.5-1% less; d128 dense sides, b1, b32 x 8k, b128 (2-slot kernel
# without a plan) level within 0.3%.
#   run(command="bash bench/s94_call2.sh", carry=[".deb", ".ab/old"], timeout_s=590)
BUDGET=570 AB_TIME_ARGS=--dense bash bench/decode_ab_events.sh
