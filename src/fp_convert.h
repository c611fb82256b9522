/*
 * fp_convert.h - float <-> fp16 / bf16 conversions on raw uint16_t bits.
 *
 * Portable C11 (and C++ for CUDA host code): no _Float16, no intrinsics, no
 * type punning through unions (memcpy is both legal and free here).
 *
 *   fa_fp16_to_float, fa_bf16_to_float: exact (every fp16/bf16 value is a
 *     float); NaN stays NaN with its payload, infinities and signed zeros
 *     are kept.
 *   fa_float_to_fp16, fa_float_to_bf16: round to nearest, ties to even;
 *     NaN stays NaN (quiet), values that round past the largest finite
 *     value become infinity, tiny values become subnormals or signed zero.
 */
#ifndef FA_FP_CONVERT_H
#define FA_FP_CONVERT_H

#include <stdint.h>
#include <string.h>

static inline uint32_t fa_float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float fa_bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ------------------------------------------------------------- fp16 */

static inline float fa_fp16_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    /* Zero or subnormal: mant * 2^-24, exact in float. */
    const float mag = (float)mant * 5.9604644775390625e-08f; /* 2^-24 */
    return sign ? -mag : mag;
  }
  if (exp == 0x1f) /* infinity (mant 0) or NaN (payload kept) */
    return fa_bits_float(sign | 0x7f800000u | (mant << 13));
  /* Normal: rebias the exponent from 15 to 127. */
  return fa_bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline uint16_t fa_float_to_fp16(float f) {
  const uint32_t u = fa_float_bits(f);
  const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;

  if (a > 0x7f800000u) /* NaN: keep the top payload bits, force quiet */
    return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  /* 65520 is halfway between 65504 (odd mantissa) and 2^16: it and
   * everything above round to infinity. */
  if (a >= 0x477ff000u)
    return (uint16_t)(sign | 0x7c00u);
  if (a < 0x38800000u) {
    /* Below 2^-14, the smallest fp16 normal: the result is the subnormal
     * round(|f| * 2^24). Up to 2^-25 (a tie, rounding to even 0) it is 0. */
    if (a <= 0x33000000u)
      return sign;
    {
      const uint32_t e = a >> 23; /* 102 .. 112 */
      const uint32_t m = (a & 0x7fffffu) | 0x800000u;
      const uint32_t shift = 126u - e; /* 14 .. 24 */
      uint32_t r = m >> shift;
      const uint32_t rem = m & ((1u << shift) - 1u);
      const uint32_t half = 1u << (shift - 1u);
      if (rem > half || (rem == half && (r & 1u)))
        ++r; /* may carry into the smallest normal, which is correct */
      return (uint16_t)(sign | r);
    }
  }
  {
    /* Normal: rebias, drop 13 mantissa bits with round-to-nearest-even.
     * A carry out of the mantissa correctly bumps the exponent. */
    uint32_t r = (a - 0x38000000u) >> 13;
    const uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u)))
      ++r;
    return (uint16_t)(sign | r);
  }
}

/* ------------------------------------------------------------- bf16 */

static inline float fa_bf16_to_float(uint16_t b) {
  return fa_bits_float((uint32_t)b << 16);
}

static inline uint16_t fa_float_to_bf16(float f) {
  const uint32_t u = fa_float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: truncate, force quiet */
    return (uint16_t)((u >> 16) | 0x0040u);
  /* Round to nearest even on the low 16 bits. Overflow carries into the
   * exponent and yields infinity, as it should; no uint32 wrap-around is
   * possible for non-NaN inputs. */
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#endif /* FA_FP_CONVERT_H */
