/*
 * common.c - failure messages, device query and device-pointer checks
 * shared by api.c and helpers.c (moved out of api.c unchanged, so both
 * report errors with the same words).
 */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

void *fa_tensor_map_encoder(void) {
  void *fn = NULL;
  enum cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found) !=
          cudaSuccess ||
      found != cudaDriverEntryPointSuccess) {
    (void)cudaGetLastError(); /* not sticky; leave nothing behind */
    return NULL;
  }
  return fn;
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
      (e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev->device)) != cudaSuccess ||
      (e = cudaDeviceGetAttribute(&dev->sm_count, cudaDevAttrMultiProcessorCount, dev->device)) != cudaSuccess ||
      (e = cudaDeviceGetAttribute(&dev->max_smem_per_block, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                                  dev->device)) != cudaSuccess)
    return fa_fail(message, FA_ERR_CUDA, "querying the current device failed: %s", cudaGetErrorString(e));
  dev->arch = major * 10 + minor;
  dev->tensor_map_encode = NULL; /* forward calls look it up (api.c) */
  return FA_OK;
}

fa_status fa_call_device(fa_backend backend, const fa_context *ctx, fa_device_info *dev, fa_message *message) {
  dev->device = -1;
  dev->arch = 0;
  dev->sm_count = 0;
  dev->max_smem_per_block = 0;
  dev->tensor_map_encode = NULL;
  if (ctx != NULL) {
    if (ctx->struct_size != sizeof(fa_context))
      return fa_fail(message, FA_ERR_INVALID_CONTEXT,
                     "context->struct_size is %u, not %zu: initialize the context with fa_context_init",
                     (unsigned)ctx->struct_size, sizeof(fa_context));
    if (ctx->backend != backend)
      return fa_fail(message, FA_ERR_INVALID_CONTEXT, "the context was initialized for backend %s but the call is %s",
                     fa_backend_name(ctx->backend), fa_backend_name(backend));
  }
  if (backend == FA_BACKEND_CPU) return FA_OK;
  if (ctx == NULL) return fa_query_device(dev, message);
  int current = -1;
  const cudaError_t e = cudaGetDevice(&current);
  if (e != cudaSuccess)
    return fa_fail(message, FA_ERR_CUDA, "querying the current device failed: %s", cudaGetErrorString(e));
  if (current != ctx->device)
    return fa_fail(message, FA_ERR_INVALID_CONTEXT,
                   "the context was initialized for device %d but the current device is %d: call cudaSetDevice(%d) "
                   "first, or use a context of device %d",
                   ctx->device, current, ctx->device, current);
  dev->device = ctx->device;
  dev->arch = ctx->arch;
  dev->sm_count = ctx->sm_count;
  dev->max_smem_per_block = ctx->max_smem_per_block;
  dev->tensor_map_encode = ctx->tensor_map_encode;
  return FA_OK;
}

fa_status fa_read_struct(const void *given, void *local, const uint32_t *known, size_t n_known, const char *name,
                         fa_message *message) {
  if (given == NULL) return fa_fail(message, FA_ERR_NULL_POINTER, "%s is NULL", name);
  uint32_t size;
  memcpy(&size, given, sizeof size);
  for (size_t i = 0; i < n_known; ++i)
    if (size == known[i]) {
      memcpy(local, given, size);
      return FA_OK;
    }
  if (size == 0)
    return fa_fail(message, FA_ERR_STRUCT_SIZE,
                   "%s->struct_size is 0: start from the struct's *_default() initializer (or set struct_size = "
                   "sizeof)",
                   name);
  if (size > known[n_known - 1])
    return fa_fail(message, FA_ERR_STRUCT_SIZE,
                   "%s->struct_size is %u, larger than any layout this library (%s) knows (%u): the caller was built "
                   "against a newer flashattn.h than the library it runs with",
                   name, (unsigned)size, fa_version_string(), (unsigned)known[n_known - 1]);
  return fa_fail(message, FA_ERR_STRUCT_SIZE,
                 "%s->struct_size is %u, which is not the size of any released layout (smallest %u, largest %u): set "
                 "it with the struct's *_default() initializer",
                 name, (unsigned)size, (unsigned)known[0], (unsigned)known[n_known - 1]);
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
