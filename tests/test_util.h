/*
 * test_util.h - helpers shared by the tests and the demo: a seeded PRNG,
 * fp16/bf16 buffers (random fill, poisoning, an independent decoder),
 * error norms, tracked host/device allocations and CUDA device discovery.
 * No CMocka dependency and no global state.
 */
#ifndef FA_TEST_UTIL_H
#define FA_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "flashattn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- PRNG */

/* splitmix64: tiny, fast, good enough for test data; the state is all. */
typedef struct tu_rng {
  uint64_t state;
} tu_rng;

tu_rng tu_rng_make(uint64_t seed);
uint64_t tu_rng_next(tu_rng *rng);
double tu_rng_uniform(tu_rng *rng);        /* [0, 1) */
double tu_rng_normal(tu_rng *rng);         /* standard normal (Box-Muller) */
int tu_rng_int(tu_rng *rng, int lo, int hi); /* [lo, hi] */

/* FNV-1a of a string: mixes a case name into the run seed, so a case's
 * data does not depend on which other cases run. */
uint64_t tu_hash_string(const char *s);

/* FA_TEST_SEED (decimal or 0x hex) if set, else a fresh seed from the time
 * and the address space. *from_env is set to whether the variable was used. */
uint64_t tu_seed_from_env(int *from_env);

/* ------------------------------------------------------------- 16-bit floats */

#define TU_POISON16 0xFFFFu     /* a NaN in both fp16 and bf16 */
#define TU_POISON32 0xFFFFFFFFu /* a NaN in fp32 */

/* Exact value of fp16/bf16 bits, decoded with ldexp: deliberately not the
 * library's converter, so a converter bug cannot hide in the reference. */
double tu_half_to_double(uint16_t bits, fa_dtype dtype);
/* Nearest fp16/bf16 to x (through the library's converter). */
uint16_t tu_double_to_half(double x, fa_dtype dtype);

/* n values of stddev * N(0, 1), redrawn until the stored value is not tiny
 * (|x| >= stddev / 64), so no zeros and no subnormals. */
void tu_fill_random(uint16_t *buf, size_t n, fa_dtype dtype, double stddev,
                    tu_rng *rng);
void tu_poison16(uint16_t *buf, size_t n);
void tu_poison32(float *buf, size_t n);
int tu_is_poison16(uint16_t bits);
int tu_is_poison32(float value);

/* ||got - want||_F / ||want||_F (absolute when want is all zero). */
double tu_rel_frobenius(const double *got, const double *want, size_t n);

/* ------------------------------------------------------------- allocations */

/* Everything a test allocates goes into a pool, released in one call
 * (CMocka leaves a failing test through longjmp, so teardown frees). */
#define TU_POOL_MAX 64
typedef struct tu_pool {
  void *host[TU_POOL_MAX];
  size_t n_host;
  void *device[TU_POOL_MAX];
  size_t n_device;
  void *streams[TU_POOL_MAX]; /* cudaStream_t */
  size_t n_streams;
} tu_pool;

void tu_pool_init(tu_pool *pool);
/* malloc'd, registered; NULL when out of memory or the pool is full. */
void *tu_pool_host(tu_pool *pool, size_t bytes);
/* cudaMalloc'd, registered; NULL on failure (why, if not NULL, gets the
 * CUDA error text). */
void *tu_pool_device(tu_pool *pool, size_t bytes, const char **why);
/* A new non-blocking CUDA stream, registered; NULL on failure. */
fa_stream_t tu_pool_stream(tu_pool *pool, const char **why);
/* Frees everything (device memory after synchronizing the device). */
void tu_pool_release(tu_pool *pool);

/* Host <-> device copies; 0 on success, else *why (if not NULL) is set. */
int tu_to_device(void *dst, const void *src, size_t bytes, const char **why);
int tu_to_host(void *dst, const void *src, size_t bytes, const char **why);
int tu_stream_sync(fa_stream_t stream, const char **why);

/* ------------------------------------------------------------- devices */

typedef struct tu_device {
  int present;     /* a usable CUDA device is current */
  int cc_major;    /* compute capability */
  int cc_minor;
  char name[256];
  char reason[256]; /* why not present: "cudaGetDeviceCount: ..." */
} tu_device;

/* Fills *dev; returns dev->present. */
int tu_cuda_device(tu_device *dev);

/* Whether a kernel built for arch_name ("sm_80", "sm_90a"; arch = its
 * compute capability x10) runs on the device; if not, *why says why. sm_XY
 * machine code runs on the same major version with minor >= Y; an
 * arch-specific target (sm_90a) only on exactly that compute capability. */
int tu_arch_runs_on(const char *arch_name, int arch, const tu_device *dev, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif /* FA_TEST_UTIL_H */
