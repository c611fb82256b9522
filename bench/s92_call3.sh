#!/bin/bash
# Ninety-second session, third call: why the decode kernel reads a
# heads-first cache 1.6% faster than [b, s, h, d] at b128 x 1k (the bar
# row; fwd_decode.md "Next steps" [wave-turnover]): ncu's DRAM / L2
# counters and PM timeline of ours and cuDNN in both layouts, ours diffed
# across layouts.
#   run(command="bash bench/s92_call3.sh", carry=[".deb"], timeout_s=330)
BUDGET=310 NCU_DRAM_ROWS="128:1024 128:1024:bhsd" bash bench/ncu_dram.sh
