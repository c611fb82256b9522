/*
 * attn/portable.h - what lets one rule be written once for every family:
 * FA_RULE marks a function that compiles as an inline host+device function
 * under nvcc and as a static inline function in C (the CPU family), and the
 * few arithmetic primitives whose fastest form differs between the two.
 */
#ifndef FA_ATTN_PORTABLE_H
#define FA_ATTN_PORTABLE_H

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define FA_RULE __host__ __device__ __forceinline__
#else
#define FA_RULE static inline
#endif

#define FA_LOG2E_F 1.4426950408889634f
#define FA_LN2_F 0.6931471805599453f

/* 2^x. On the GPU one MUFU.EX2 (ex2.approx.ftz: 2 ulp; ex2(-inf) = 0). */
FA_RULE float fa_exp2(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
#else
  return exp2f(x);
#endif
}

/* log2(x) for a positive normal x. On the GPU one MUFU.LG2 (lg2.approx.ftz:
 * about 2^-22 absolute error); log2f is a 30-instruction polynomial. */
FA_RULE float fa_log2(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  asm("lg2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
#else
  return log2f(x);
#endif
}

/* a / b where b is a positive normal number (the GPU's fast divide). */
FA_RULE float fa_fast_div(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdividef(a, b);
#else
  return a / b;
#endif
}

/* round(a * b) + c, each step rounded (no fused multiply-add). */
FA_RULE float fa_mul_add_rounded(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(__fmul_rn(a, b), c);
#else
  const float ab = a * b; /* C11 without FP_CONTRACT: rounded here */
  return ab + c;
#endif
}

FA_RULE int64_t fa_clamp64(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

#endif /* FA_ATTN_PORTABLE_H */
