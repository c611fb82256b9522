/*
 * wgmma_turns.h - the turns of the wgmma family under a slow
 * consumer (tests/wgmma_turns.cu), called by tests/test_wgmma.c. Internal
 * to the tests.
 */
#ifndef FA_WGMMA_TURNS_H
#define FA_WGMMA_TURNS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wgmma_turns_result {
  int finished;       /* the instrumented kernel ended before the deadline */
  double seconds;     /* how long it ran (up to the deadline) */
  int tiles_per_block; /* work tiles each block looped over */
  double max_err;     /* max |out - dispatch's out| */
  double max_ref;     /* max |dispatch's out| */
} wgmma_turns_result;

/* Runs the instrumented kernel with `consumers` consumer warpgroups (2 or
 * 3; consumer 1 late for the last turn of every work tile), taking turns
 * over their GEMMs or (softmax_turns, 2 consumers) their exponentials, and
 * the library's own kernel on the same call. Returns 0 and
 * fills *r; otherwise writes why into why[0..why_len). When the kernel does
 * not finish (r->finished == 0) its buffers stay allocated: the context is
 * not usable any more. */
int wgmma_turns_run(int consumers, int softmax_turns, wgmma_turns_result *r, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif /* FA_WGMMA_TURNS_H */
