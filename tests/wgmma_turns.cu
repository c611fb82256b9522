// wgmma_turns.cu - the wgmma family's turns when one consumer is late. The
// consumer warpgroups of a block (two, or three in the d64 192-row tiles)
// take turns issuing their GEMMs, or computing their softmax's
// exponentials (TurnRule; the d64 short causal tile) (named barriers,
// fwd_wgmma.md "Ping-pong turns across work tiles"); a persistent block
// runs many work tiles, and consumer 0 may finish a tile's epilogue and
// start the next tile while consumer 1 is still in the last turn of the one
// before. Until 2026-11-30 that made consumer 0 arrive twice on a barrier
// generation and the block deadlock; it showed only when a change of the
// softmax made consumer 1 slower.
//
// Here consumer 1 waits FA_TEST_SLOW_CONSUMER1_NS before the last turn of
// every work tile (a hook in cuda/wgmma/consumer.cuh, compiled only in this
// file), on a call with many work tiles per block (a grid of 2 blocks), so
// consumer 0 is always ahead (with three, consumer 2 waits behind consumer
// 1). The kernel must finish and match the library's own kernel on the same
// call.
#define FA_TEST_SLOW_CONSUMER1_NS 20000

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "cuda/fwd_wgmma.cuh"
#include "dispatch.h"
#include "fp_convert.h"
#include "wgmma_turns.h"

namespace {

// Types of their own, so that these instrumented instantiations never meet
// the library's: two consumers with GEMM turns (128 x 128 with 2 stages and
// O staged in its Q tile, the d128 short-key kernels' schedule, at d64; Q
// then goes back to the producer at the next work tile's first S, so the
// late consumer also holds the producer's next-but-one Q; until the
// twenty-fourth session 128 x 192, as the d64 long-key tile was until the
// twentieth), three (192 x 128, the d64 mask none tile since then), and two
// with softmax turns (128 x 128, the d64 short causal tile's rule since the
// twenty-second session; mask none here, the turns do not depend on it);
// persistent, two Q tiles.
// (Both GEMM-turn cases also take the first softmax's turns,
// first_softmax_turn: its barriers under the late consumer too.)
struct SlowTurnsTwo
    : fa::FwdWgmmaTraits<64, 128, 2, __nv_bfloat16, fa::kMaskNone, true, fa::kTurnsGemm, true, true, 2, 2,
                         fa::kRescaleExact, true, true> {};
struct SlowTurnsThree
    : fa::FwdWgmmaTraits<64, 128, 3, __nv_bfloat16, fa::kMaskNone, true, fa::kTurnsGemm, true, true, 3, 2,
                         fa::kRescaleExact, false, true> {};
struct SlowSoftmaxTurns
    : fa::FwdWgmmaTraits<64, 128, 3, __nv_bfloat16, fa::kMaskNone, true, fa::kTurnsSoftmax, true, true, 2, 2> {};

constexpr int kBatch = 2, kHeads = 4, kSeq = 1000, kDim = 64, kBlocks = 2;
constexpr double kDeadlineSeconds = 10.0;

double seconds_since(const struct timespec &t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec);
}

int fail(char *why, size_t len, const char *what, const char *detail) {
  snprintf(why, len, "%s: %s", what, detail);
  return 1;
}

template <class SlowTurnsTraits>
int run_slow_turns(wgmma_turns_result *r, char *why, size_t why_len) {
  memset(r, 0, sizeof *r);
  const size_t n = (size_t)kBatch * kSeq * kHeads * kDim;
  uint16_t *host = (uint16_t *)malloc(4 * n * sizeof(uint16_t));
  if (host == NULL) return fail(why, why_len, "malloc", "out of memory");
  uint64_t state = 2026113001ull;
  for (size_t i = 0; i < 3 * n; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    host[i] = fa_float_to_bf16((float)((state >> 40) % 4001) / 1000.f - 2.f);
  }
  void *dev = NULL;
  if (cudaMalloc(&dev, 5 * n * sizeof(uint16_t)) != cudaSuccess) {
    free(host);
    return fail(why, why_len, "cudaMalloc", "failed");
  }
  uint16_t *q = (uint16_t *)dev, *k = q + n, *v = k + n, *out_ref = v + n, *out = out_ref + n;
  cudaMemcpy(q, host, 3 * n * sizeof(uint16_t), cudaMemcpyHostToDevice);
  cudaMemset(out_ref, 0, 2 * n * sizeof(uint16_t));

  fa_fwd_params p = fa_fwd_params_default();
  p.dtype = FA_DTYPE_BF16;
  p.batch = kBatch;
  p.num_heads_q = p.num_heads_k = kHeads;
  p.head_dim = kDim;
  p.max_seqlen_q = p.max_seqlen_k = kSeq;
  p.q = q, p.k = k, p.v = v;
  fa_message msg;
  size_t index = 0;
  fa_fwd_args args;
  p.out = out_ref;
  if (fa_fwd(&p, &msg) != FA_OK || fa_fwd_query(&p, &index, &msg) != FA_OK) {
    free(host);
    return fail(why, why_len, "the library's kernel", msg.text);
  }
  p.out = out;
  if (fa_fwd_kernel_args(&p, index, &args, &msg) != FA_OK) {
    free(host);
    return fail(why, why_len, "fa_fwd_kernel_args", msg.text);
  }
  args.sm_count = kBlocks;  // a persistent grid of kBlocks blocks: many work tiles each
  const long long tiles = (long long)(kSeq + SlowTurnsTraits::kBlockM - 1) / SlowTurnsTraits::kBlockM * kHeads * kBatch;
  r->tiles_per_block = (int)((tiles + kBlocks - 1) / kBlocks);
  cudaDeviceSynchronize();

  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  const int err = fa::launch_fwd_wgmma<SlowTurnsTraits>(&args, 0);
  if (err != 0) {
    free(host);
    return fail(why, why_len, "launch", cudaGetErrorString((cudaError_t)err));
  }
  cudaError_t st;
  while ((st = cudaStreamQuery(0)) == cudaErrorNotReady) {
    r->seconds = seconds_since(t0);
    if (r->seconds > kDeadlineSeconds) {
      free(host);
      return 0;  // r->finished == 0: deadlocked (the buffers stay: the kernel still runs)
    }
    const struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  r->seconds = seconds_since(t0);
  if (st != cudaSuccess) {
    free(host);
    return fail(why, why_len, "the instrumented kernel", cudaGetErrorString(st));
  }
  r->finished = 1;
  cudaMemcpy(host, out_ref, 2 * n * sizeof(uint16_t), cudaMemcpyDeviceToHost);
  for (size_t i = 0; i < n; ++i) {
    const double ref = fa_bf16_to_float(host[i]), got = fa_bf16_to_float(host[n + i]);
    r->max_ref = fmax(r->max_ref, fabs(ref));
    r->max_err = isfinite(got) ? fmax(r->max_err, fabs(got - ref)) : INFINITY;
  }
  free(host);
  cudaFree(dev);
  return 0;
}

}  // namespace

extern "C" int wgmma_turns_run(int consumers, int softmax_turns, wgmma_turns_result *r, char *why, size_t why_len) {
  if (softmax_turns) {
    if (consumers == 2) return run_slow_turns<SlowSoftmaxTurns>(r, why, why_len);
    return fail(why, why_len, "wgmma_turns_run", "softmax turns: 2 consumers");
  }
  if (consumers == 2) return run_slow_turns<SlowTurnsTwo>(r, why, why_len);
  if (consumers == 3) return run_slow_turns<SlowTurnsThree>(r, why, why_len);
  return fail(why, why_len, "wgmma_turns_run", "consumers must be 2 or 3");
}
