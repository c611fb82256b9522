/*
 * wgmma_probe.h - the wgmma family's layout probe (tests/wgmma_probe.cu),
 * called by tests/test_wgmma.c. Internal to the tests.
 */
#ifndef FA_WGMMA_PROBE_H
#define FA_WGMMA_PROBE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wgmma_probe_result {
  double s_err, s_max;   /* last key block of S = Q K^T: max |err|, max |ref| */
  double o_err, o_max;   /* O = sum over blocks of 16-bit(S / 8) V */
  int oob_nonzero;       /* scores of K rows past the tensor (TMA zero fill) that are not exactly 0 */
  int regs;              /* registers per thread at launch */
  int local_bytes;       /* local memory (spills) per thread */
} wgmma_probe_result;

/* Runs the probe on the current device for fp16 (fp16 != 0) or bf16.
 * Returns 0 and fills *r; otherwise writes why into why[0..why_len). */
int wgmma_probe_run(int fp16, wgmma_probe_result *r, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif /* FA_WGMMA_PROBE_H */
