/*
 * link_check.c - proves that a plain C program links the static library
 * with the C compiler and the CUDA static runtime, using nothing but
 * <flashattn.h>. Prints the version and the kernel count, runs one small
 * CPU-backend forward whose answer is known exactly, and checks it.
 *
 * The problem: q = 0, so every score is 0 and each query row averages the
 * value rows uniformly: out[d] = mean_j v[j][d], lse = log(Lk). With
 * v[j][d] = j + d / 8, all inputs and the answer are exact in bf16.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <flashattn.h>

#define LQ 3
#define LK 4
#define MAX_D 512

/* bf16 of a float whose low 16 bits are zero (true of every value here). */
static unsigned short to_bf16(float f) {
  unsigned int u;
  memcpy(&u, &f, sizeof u);
  return (unsigned short)(u >> 16);
}

static float from_bf16(unsigned short b) {
  const unsigned int u = (unsigned int)b << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* A head dim the CPU backend was generated for. */
static int cpu_head_dim(void) {
  size_t i;
  for (i = 0; i < fa_kernel_count(); ++i) {
    fa_kernel_info info = FA_KERNEL_INFO_INIT;
    if (fa_kernel_info_get(i, &info) == FA_OK && info.backend == FA_BACKEND_CPU &&
        info.head_dim <= MAX_D)
      return info.head_dim;
  }
  return 0;
}

int main(void) {
  /* 16-byte aligned, as the API requires. */
  static _Alignas(16) unsigned short q[LQ * MAX_D], k[LK * MAX_D], v[LK * MAX_D], out[LQ * MAX_D];
  float lse[LQ];
  const int d = cpu_head_dim();
  fa_fwd_params p = fa_fwd_params_default();
  fa_message msg;
  fa_status st;
  int i, j, e, bad = 0;

  printf("link_check: flashattn %s (header %d.%d.%d), %zu kernels\n", fa_version_string(),
         FA_VERSION_MAJOR, FA_VERSION_MINOR, FA_VERSION_PATCH, fa_kernel_count());
  if (fa_version_number() != FA_VERSION_NUMBER) {
    printf("link_check: FAILED: library version %u, header %d\n", fa_version_number(),
           FA_VERSION_NUMBER);
    return 1;
  }
  if (d == 0) {
    printf("link_check: FAILED: no CPU kernel in the library\n");
    return 1;
  }

  for (e = 0; e < LQ * d; ++e)
    q[e] = to_bf16(0.f);
  for (j = 0; j < LK; ++j)
    for (e = 0; e < d; ++e) {
      k[j * d + e] = to_bf16((float)((j * 7 + e) % 5) - 2.f);
      v[j * d + e] = to_bf16((float)j + (float)(e % 32) / 8.f);
    }

  p.backend = FA_BACKEND_CPU;
  p.dtype = FA_DTYPE_BF16;
  p.batch = 1;
  p.num_heads_q = 1;
  p.num_heads_k = 1;
  p.head_dim = d;
  p.max_seqlen_q = LQ; /* dense: [1, LQ, 1, d] */
  p.max_seqlen_k = LK;
  p.q = q;
  p.k = k;
  p.v = v;
  p.out = out;
  p.lse = lse;
  st = fa_fwd(&p, &msg);
  if (st != FA_OK) {
    printf("link_check: FAILED: fa_fwd: %s: %s\n", fa_status_string(st), msg.text);
    return 1;
  }
  for (i = 0; i < LQ; ++i) {
    for (e = 0; e < d; ++e) {
      const float want = (float)(LK - 1) / 2.f + (float)(e % 32) / 8.f;
      if (from_bf16(out[i * d + e]) != want)
        bad = 1;
    }
    if (fabsf(lse[i] - logf((float)LK)) > 1e-5f)
      bad = 1;
  }
  if (bad) {
    printf("link_check: FAILED: wrong result (out[0] = %g, lse[0] = %g)\n", from_bf16(out[0]),
           lse[0]);
    return 1;
  }
  printf("link_check: CPU forward (head_dim %d) OK\n", d);
  return 0;
}
