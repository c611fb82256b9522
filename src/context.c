/*
 * context.c - fa_context_init: the device facts calls need, gathered once
 * into caller memory (no global state, no allocation).
 */
#include <string.h>

#include <cuda_runtime_api.h>

#include "common.h"

_Static_assert(sizeof(fa_context) == 4 * 8 + 8 + 8 * FA_CONTEXT_RESERVED_WORDS,
               "fa_context has a fixed public size: grow it inside reserved[]");

fa_status fa_context_init(fa_context *ctx, fa_backend backend, int device, fa_message *message) {
  fa_clear_message(message);
  if (ctx == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "context is NULL");
  if (backend != FA_BACKEND_CUDA && backend != FA_BACKEND_CPU)
    return fa_fail(message, FA_ERR_INVALID_BACKEND, "backend %d is not FA_BACKEND_CUDA (1) or FA_BACKEND_CPU (2)",
                   (int)backend);
  fa_context c;
  memset(&c, 0, sizeof c);
  c.struct_size = sizeof c;
  c.backend = backend;
  c.device = -1;
  if (backend == FA_BACKEND_CUDA) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
      (void)cudaGetLastError();
      return fa_fail(message, FA_ERR_NO_DEVICE,
                     "the CUDA backend needs a CUDA device, and none is usable (%s); use FA_BACKEND_CPU",
                     e != cudaSuccess ? cudaGetErrorString(e) : "no device");
    }
    if (device == FA_CURRENT_DEVICE) {
      if ((e = cudaGetDevice(&device)) != cudaSuccess)
        return fa_fail(message, FA_ERR_CUDA, "querying the current device failed: %s", cudaGetErrorString(e));
    } else if (device < 0 || device >= count) {
      return fa_fail(message, FA_ERR_NO_DEVICE, "device %d does not exist: this machine has %d CUDA device%s (0..%d)",
                     device, count, count == 1 ? "" : "s", count - 1);
    }
    int major = 0, minor = 0, l2 = 0;
    if ((e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device)) != cudaSuccess ||
        (e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device)) != cudaSuccess ||
        (e = cudaDeviceGetAttribute(&c.sm_count, cudaDevAttrMultiProcessorCount, device)) != cudaSuccess ||
        (e = cudaDeviceGetAttribute(&c.max_smem_per_block, cudaDevAttrMaxSharedMemoryPerBlockOptin, device)) !=
            cudaSuccess ||
        (e = cudaDeviceGetAttribute(&c.smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device)) !=
            cudaSuccess ||
        (e = cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device)) != cudaSuccess)
      return fa_fail(message, FA_ERR_CUDA, "querying device %d failed: %s", device, cudaGetErrorString(e));
    c.device = device;
    c.arch = major * 10 + minor;
    c.l2_bytes = l2;
    c.tensor_map_encode = fa_tensor_map_encoder();
  }
  *ctx = c;
  return FA_OK;
}
