/*
 * common.c - failure messages, device query and device-pointer checks
 * shared by api.c and helpers.c (moved out of api.c unchanged, so both
 * report errors with the same words).
 */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>

#include <cuda_runtime_api.h>

fa_status fa_fail(fa_message *message, fa_status status, const char *fmt, ...) {
  if (message != NULL) {
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(message->text, sizeof message->text, "%s: ", fa_status_string(status));
    if (n < 0) n = 0;
    if ((size_t)n < sizeof message->text) vsnprintf(message->text + n, sizeof message->text - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return status;
}

void fa_clear_message(fa_message *message) {
  if (message != NULL) message->text[0] = '\0';
}

fa_status fa_query_device(fa_device_info *dev, fa_message *message) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    return fa_fail(message, FA_ERR_NO_DEVICE,
                   "the CUDA backend needs a CUDA device, and none is usable (%s); use FA_BACKEND_CPU with host "
                   "pointers",
                   e != cudaSuccess ? cudaGetErrorString(e) : "no device");
  int major = 0, minor = 0;
  if ((e = cudaGetDevice(&dev->device)) != cudaSuccess ||
      (e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev->device)) != cudaSuccess ||
      (e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev->device)) != cudaSuccess)
    return fa_fail(message, FA_ERR_CUDA, "querying the current device failed: %s", cudaGetErrorString(e));
  dev->arch = major * 10 + minor;
  return FA_OK;
}

fa_status fa_check_device_pointer(const void *ptr, const char *name, const fa_device_info *dev,
                                  fa_message *message) {
  if (ptr == NULL) return FA_OK;
  struct cudaPointerAttributes attr;
  const cudaError_t e = cudaPointerGetAttributes(&attr, ptr);
  if (e != cudaSuccess) {
    (void)cudaGetLastError(); /* this query's error is not sticky: do not leave it behind */
    if (e == cudaErrorInvalidValue)
      return fa_fail(message, FA_ERR_INVALID_POINTER, "%s (%p) is not CUDA memory: %s", name, ptr,
                     cudaGetErrorString(e));
    /* Anything else (a capture in progress that forbids the query, a broken
     * context) is about the CUDA state, not about the pointer. */
    return fa_fail(message, FA_ERR_CUDA, "checking %s (%p) failed: %s", name, ptr, cudaGetErrorString(e));
  }
  if (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged) {
    if (attr.device != dev->device)
      return fa_fail(message, FA_ERR_INVALID_POINTER, "%s (%p) lives on device %d but the current device is %d", name,
                     ptr, attr.device, dev->device);
    return FA_OK;
  }
  if (attr.type == cudaMemoryTypeHost && attr.devicePointer == ptr) return FA_OK; /* mapped pinned memory */
  return fa_fail(message, FA_ERR_INVALID_POINTER,
                 "%s (%p) is host memory; the CUDA backend needs device pointers (or use FA_BACKEND_CPU)", name, ptr);
}
