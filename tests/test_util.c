/* test_util.c - see test_util.h. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "fp_convert.h"

/* ------------------------------------------------------------- PRNG */

tu_rng tu_rng_make(uint64_t seed) {
  tu_rng rng;
  rng.state = seed;
  return rng;
}

uint64_t tu_rng_next(tu_rng *rng) {
  uint64_t z = (rng->state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double tu_rng_uniform(tu_rng *rng) {
  return (double)(tu_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

double tu_rng_normal(tu_rng *rng) {
  /* Box-Muller; 1 - u keeps the log argument in (0, 1]. */
  const double u = 1.0 - tu_rng_uniform(rng);
  const double w = tu_rng_uniform(rng);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * w);
}

int tu_rng_int(tu_rng *rng, int lo, int hi) {
  const uint64_t span = (uint64_t)((int64_t)hi - lo + 1);
  return lo + (int)(tu_rng_next(rng) % span);
}

uint64_t tu_hash_string(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; ++s) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t tu_seed_from_env(int *from_env) {
  const char *text = getenv("FA_TEST_SEED");
  if (text != NULL && *text != '\0') {
    char *end = NULL;
    const unsigned long long v = strtoull(text, &end, 0);
    if (end != NULL && *end == '\0') {
      if (from_env)
        *from_env = 1;
      return (uint64_t)v;
    }
  }
  if (from_env)
    *from_env = 0;
  {
    /* Fresh: time, clock and a stack address (ASLR) through splitmix. */
    int local = 0;
    tu_rng rng = tu_rng_make((uint64_t)time(NULL) ^ ((uint64_t)clock() << 32) ^
                             (uint64_t)(uintptr_t)&local);
    return tu_rng_next(&rng);
  }
}

/* ------------------------------------------------------------- 16-bit floats */

/* 2^e as a double, built from its bits (|e| well inside the normal range). */
static double pow2_exact(int e) {
  const uint64_t bits = (uint64_t)(e + 1023) << 52;
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

double tu_half_to_double(uint16_t bits, fa_dtype dtype) {
  /* fp16: 1-5-10, bias 15. bf16: 1-8-7, bias 127. The value is
   * mantissa * 2^exponent, both small exact integers: exact in a double.
   * (Hot in the reference, hence no ldexp.) */
  const int mant_bits = dtype == FA_DTYPE_BF16 ? 7 : 10;
  const int exp_bits = dtype == FA_DTYPE_BF16 ? 8 : 5;
  const int bias = (1 << (exp_bits - 1)) - 1;
  const int sign = (bits >> 15) & 1;
  const int exp = (bits >> mant_bits) & ((1 << exp_bits) - 1);
  const int mant = bits & ((1 << mant_bits) - 1);
  double mag;
  if (exp == (1 << exp_bits) - 1)
    mag = mant ? NAN : INFINITY;
  else if (exp == 0)
    mag = (double)mant * pow2_exact(1 - bias - mant_bits);
  else
    mag = (double)(mant | (1 << mant_bits)) * pow2_exact(exp - bias - mant_bits);
  return sign ? -mag : mag;
}

uint16_t tu_double_to_half(double x, fa_dtype dtype) {
  return dtype == FA_DTYPE_BF16 ? fa_float_to_bf16((float)x) : fa_float_to_fp16((float)x);
}

void tu_fill_random(uint16_t *buf, size_t n, fa_dtype dtype, double stddev,
                    tu_rng *rng) {
  size_t i;
  for (i = 0; i < n; ++i) {
    uint16_t bits;
    do {
      bits = tu_double_to_half(stddev * tu_rng_normal(rng), dtype);
    } while (fabs(tu_half_to_double(bits, dtype)) < stddev / 64.0);
    buf[i] = bits;
  }
}

void tu_poison16(uint16_t *buf, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i)
    buf[i] = TU_POISON16;
}

void tu_poison32(float *buf, size_t n) {
  memset(buf, 0xFF, n * sizeof *buf); /* 0xFFFFFFFF in every float */
}

int tu_is_poison16(uint16_t bits) { return bits == TU_POISON16; }

int tu_is_poison32(float value) {
  uint32_t u;
  memcpy(&u, &value, sizeof u);
  return u == TU_POISON32;
}

double tu_rel_frobenius(const double *got, const double *want, size_t n) {
  double diff = 0.0, norm = 0.0;
  size_t i;
  for (i = 0; i < n; ++i) {
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  return norm > 0.0 ? sqrt(diff / norm) : sqrt(diff);
}

/* ------------------------------------------------------------- allocations */

void tu_pool_init(tu_pool *pool) { memset(pool, 0, sizeof *pool); }

void *tu_pool_host(tu_pool *pool, size_t bytes) {
  void *p;
  if (pool->n_host == TU_POOL_MAX)
    return NULL;
  p = malloc(bytes ? bytes : 1);
  if (p != NULL)
    pool->host[pool->n_host++] = p;
  return p;
}

static void set_why(const char **why, cudaError_t err) {
  if (why)
    *why = cudaGetErrorString(err);
}

void *tu_pool_device(tu_pool *pool, size_t bytes, const char **why) {
  void *p = NULL;
  cudaError_t err;
  if (pool->n_device == TU_POOL_MAX) {
    if (why)
      *why = "test pool full";
    return NULL;
  }
  err = cudaMalloc(&p, bytes ? bytes : 1);
  if (err != cudaSuccess) {
    (void)cudaGetLastError(); /* not a sticky error: clear it for later calls */
    set_why(why, err);
    return NULL;
  }
  pool->device[pool->n_device++] = p;
  return p;
}

fa_stream_t tu_pool_stream(tu_pool *pool, const char **why) {
  cudaStream_t s = NULL;
  cudaError_t err;
  if (pool->n_streams == TU_POOL_MAX) {
    if (why)
      *why = "test pool full";
    return NULL;
  }
  err = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  if (err != cudaSuccess) {
    set_why(why, err);
    return NULL;
  }
  pool->streams[pool->n_streams++] = (void *)s;
  return (fa_stream_t)s;
}

void tu_pool_release(tu_pool *pool) {
  size_t i;
  if (pool->n_device > 0 || pool->n_streams > 0)
    (void)cudaDeviceSynchronize(); /* a failed test may leave work queued */
  for (i = 0; i < pool->n_streams; ++i)
    (void)cudaStreamDestroy((cudaStream_t)pool->streams[i]);
  for (i = 0; i < pool->n_device; ++i)
    (void)cudaFree(pool->device[i]);
  for (i = 0; i < pool->n_host; ++i)
    free(pool->host[i]);
  tu_pool_init(pool);
}

/* From pageable memory cudaMemcpy may return before its DMA has landed,
 * and the tests' streams are non-blocking: a kernel launched next could
 * read (or have its output overwritten by) a copy still in flight. Wait for
 * the copy on the legacy stream, which it ran on, and only for it. */
int tu_to_device(void *dst, const void *src, size_t bytes, const char **why) {
  cudaError_t err = cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice);
  if (err == cudaSuccess)
    err = cudaStreamSynchronize(cudaStreamLegacy);
  set_why(why, err);
  return err == cudaSuccess ? 0 : -1;
}

int tu_to_host(void *dst, const void *src, size_t bytes, const char **why) {
  const cudaError_t err = cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost);
  set_why(why, err);
  return err == cudaSuccess ? 0 : -1;
}

int tu_stream_sync(fa_stream_t stream, const char **why) {
  const cudaError_t err = cudaStreamSynchronize((cudaStream_t)stream);
  set_why(why, err);
  return err == cudaSuccess ? 0 : -1;
}

/* ------------------------------------------------------------- devices */

int tu_cuda_device(tu_device *dev) {
  int count = 0, device = 0;
  cudaError_t err;
  memset(dev, 0, sizeof *dev);
  err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    snprintf(dev->reason, sizeof dev->reason, "cudaGetDeviceCount: %s",
             cudaGetErrorString(err));
    (void)cudaGetLastError();
    return 0;
  }
  if (count == 0) {
    snprintf(dev->reason, sizeof dev->reason, "cudaGetDeviceCount found 0 devices");
    return 0;
  }
  err = cudaGetDevice(&device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&dev->cc_major, cudaDevAttrComputeCapabilityMajor, device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&dev->cc_minor, cudaDevAttrComputeCapabilityMinor, device);
  if (err != cudaSuccess) {
    snprintf(dev->reason, sizeof dev->reason, "device query: %s", cudaGetErrorString(err));
    (void)cudaGetLastError();
    return 0;
  }
  {
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess)
      snprintf(dev->name, sizeof dev->name, "%s", prop.name);
  }
  dev->present = 1;
  return 1;
}

int tu_arch_runs_on(const char *arch_name, int arch, const tu_device *dev, char *why, size_t why_len) {
  const size_t len = strlen(arch_name);
  const int arch_specific = len > 0 && arch_name[len - 1] == 'a';
  const int dev_arch = dev->cc_major * 10 + dev->cc_minor;
  if (!dev->present) {
    snprintf(why, why_len, "no CUDA device: %s", dev->reason);
    return 0;
  }
  if (arch_specific ? arch != dev_arch : (arch / 10 != dev->cc_major || arch > dev_arch)) {
    snprintf(why, why_len,
             "kernel built for %s needs a compute capability %s%d.%d device; this one (%s) is %d.%d",
             arch_name, arch_specific ? "" : "major ", arch / 10, arch % 10, dev->name, dev->cc_major,
             dev->cc_minor);
    return 0;
  }
  return 1;
}
