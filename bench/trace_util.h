// trace_util.h - what the trace harnesses (bench/trace_wgmma.cu,
// bench/trace_decode.cu) share: failing with a message, and random 16-bit
// inputs. Host code; each harness is one translation unit.
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

#ifndef FA_TRACE_TOOL
#error "define FA_TRACE_TOOL (the harness's name, for its messages) before including trace_util.h"
#endif

static void die(const char *what, const char *why) {
  fprintf(stderr, FA_TRACE_TOOL ": %s: %s\n", what, why);
  exit(1);
}

static void check(cudaError_t e, const char *what) {
  if (e != cudaSuccess) die(what, cudaGetErrorString(e));
}

// Random 16-bit floats of magnitude < 2 (ab_prefill.c's fill).
static void fill(std::vector<uint16_t> &h, int bf16, uint64_t *state) {
  for (uint16_t &x : h) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    const uint32_t r = (uint32_t)(*state >> 33);
    const uint16_t sign = (uint16_t)((r & 1u) << 15);
    x = bf16 ? (uint16_t)(sign | ((118u + (r >> 1) % 10u) << 7) | ((r >> 5) & 0x7fu))
             : (uint16_t)(sign | ((6u + (r >> 1) % 10u) << 10) | ((r >> 5) & 0x3ffu));
  }
}
