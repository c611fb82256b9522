/*
 * test_wgmma.c - the wgmma family's layout probe (tests/wgmma_probe.cu) as
 * CMocka cases: TMA loads into the swizzled ring, S = Q K^T and O += P V on
 * wgmma, checked against a double reference. Runs on an sm_90 device (the
 * probe is sm_90a machine code); skips, with the reason, anywhere else.
 * The full forward of the family is tested per specialization by test_fwd
 * (its fwd_wgmma_* cases). Also: the ping-pong turns with a late consumer
 * (tests/wgmma_turns.cu), a deadlock that timing alone decides.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_util.h"
#include "wgmma_probe.h"
#include "wgmma_turns.h"

/* Skips the calling case, with the reason, unless an sm_90 device runs
 * sm_90a machine code here. */
static void skip_unless_sm90a(void) {
  tu_device dev;
  char why[512];
  if (!tu_cuda_device(&dev)) {
    print_message("skipped: no CUDA device (%s)\n", dev.reason);
    skip();
  }
  if (!tu_arch_runs_on("sm_90a", 90, &dev, why, sizeof why)) {
    print_message("skipped: %s\n", why);
    skip();
  }
}

static void probe(int fp16) {
  char why[512];
  wgmma_probe_result r;
  skip_unless_sm90a();
  if (wgmma_probe_run(fp16, &r, why, sizeof why) != 0) fail_msg("probe (%s): %s", fp16 ? "fp16" : "bf16", why);
  print_message("wgmma probe %s: S max|err| %.3g of max|ref| %.3g; O max|err| %.3g of max|ref| %.3g; "
                "zero-filled scores not 0: %d; %d registers, %d bytes local\n",
                fp16 ? "fp16" : "bf16", r.s_err, r.s_max, r.o_err, r.o_max, r.oob_nonzero, r.regs, r.local_bytes);
  assert_true(r.s_err <= 1e-3 * r.s_max);  /* fp32 accumulation of exact products */
  assert_true(r.o_err <= 2e-2 * r.o_max);  /* P rounded to 16 bits on both sides */
  assert_int_equal(r.oob_nonzero, 0);
  assert_int_equal(r.local_bytes, 0);
}

static void test_wgmma_probe_bf16(void **state) {
  (void)state;
  probe(0);
}

static void test_wgmma_probe_fp16(void **state) {
  (void)state;
  probe(1);
}

/* Consumer 1 late for the last turn of every work tile: the block must not
 * deadlock (fwd_wgmma.md "Ping-pong turns across work tiles"), and its
 * output must match the library's kernel on the same call (another tile,
 * so within bf16 rounding, not bitwise). Two consumers, then three (the
 * turns go round), then two taking turns over their exponentials (the
 * late consumer's last turn is then its last softmax, before its last
 * P V). Last: a deadlocked kernel leaves the context unusable. */
static void slow_consumer(int consumers, int softmax_turns) {
  char why[512];
  wgmma_turns_result r;
  const char *kind = softmax_turns ? "softmax" : "GEMM";
  skip_unless_sm90a();
  if (wgmma_turns_run(consumers, softmax_turns, &r, why, sizeof why) != 0) fail_msg("%s", why);
  if (!r.finished)
    fail_msg("the kernel with %d consumers (%s turns) and a late consumer 1 did not finish in %.1f s (%d work "
             "tiles per block): the turns deadlocked",
             consumers, kind, r.seconds, r.tiles_per_block);
  print_message("%d consumers, %s turns, late consumer 1: %d work tiles per block, %.3f s; max |out - library| "
                "%.3g of max |out| %.3g\n",
                consumers, kind, r.tiles_per_block, r.seconds, r.max_err, r.max_ref);
  assert_true(r.tiles_per_block >= 16);
  assert_true(r.max_ref > 0.0);
  assert_true(r.max_err <= 2e-2 * r.max_ref);
}

static void test_wgmma_turns_slow_consumer(void **state) {
  (void)state;
  slow_consumer(2, 0);
}

static void test_wgmma_turns_slow_consumer_three(void **state) {
  (void)state;
  slow_consumer(3, 0);
}

static void test_wgmma_softmax_turns_slow_consumer(void **state) {
  (void)state;
  slow_consumer(2, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wgmma_probe_bf16),
      cmocka_unit_test(test_wgmma_probe_fp16),
      cmocka_unit_test(test_wgmma_turns_slow_consumer),
      cmocka_unit_test(test_wgmma_turns_slow_consumer_three),
      cmocka_unit_test(test_wgmma_softmax_turns_slow_consumer),
  };
  return cmocka_run_group_tests_name("wgmma_probe", tests, NULL, NULL);
}
