/*
 * names.c - the version, and the names of statuses, dtypes, backends and
 * masks (public, and used in every message the library writes). No other
 * source file is needed here, so every part of the library can use them.
 */
#include "flashattn.h"

#define FA_STR2(x) #x
#define FA_STR(x) FA_STR2(x)

unsigned fa_version_number(void) { return FA_VERSION_NUMBER; }

const char *fa_version_string(void) {
  return FA_STR(FA_VERSION_MAJOR) "." FA_STR(FA_VERSION_MINOR) "." FA_STR(FA_VERSION_PATCH);
}

const char *fa_status_string(fa_status status) {
  switch (status) {
    case FA_OK: return "FA_OK";
    case FA_ERR_NULL_POINTER: return "FA_ERR_NULL_POINTER";
    case FA_ERR_INVALID_SHAPE: return "FA_ERR_INVALID_SHAPE";
    case FA_ERR_HEADS_NOT_DIVISIBLE: return "FA_ERR_HEADS_NOT_DIVISIBLE";
    case FA_ERR_INVALID_STRIDE: return "FA_ERR_INVALID_STRIDE";
    case FA_ERR_MISALIGNED: return "FA_ERR_MISALIGNED";
    case FA_ERR_INVALID_WINDOW: return "FA_ERR_INVALID_WINDOW";
    case FA_ERR_INVALID_SCALE: return "FA_ERR_INVALID_SCALE";
    case FA_ERR_INVALID_SOFTCAP: return "FA_ERR_INVALID_SOFTCAP";
    case FA_ERR_INVALID_SEQLENS: return "FA_ERR_INVALID_SEQLENS";
    case FA_ERR_OVERFLOW: return "FA_ERR_OVERFLOW";
    case FA_ERR_UNSUPPORTED_HEAD_DIM: return "FA_ERR_UNSUPPORTED_HEAD_DIM";
    case FA_ERR_UNSUPPORTED_DTYPE: return "FA_ERR_UNSUPPORTED_DTYPE";
    case FA_ERR_UNSUPPORTED_DEVICE: return "FA_ERR_UNSUPPORTED_DEVICE";
    case FA_ERR_NO_KERNEL: return "FA_ERR_NO_KERNEL";
    case FA_ERR_INVALID_BACKEND: return "FA_ERR_INVALID_BACKEND";
    case FA_ERR_NO_DEVICE: return "FA_ERR_NO_DEVICE";
    case FA_ERR_INVALID_POINTER: return "FA_ERR_INVALID_POINTER";
    case FA_ERR_CUDA: return "FA_ERR_CUDA";
    case FA_ERR_STRUCT_SIZE: return "FA_ERR_STRUCT_SIZE";
    case FA_ERR_INVALID_CONTEXT: return "FA_ERR_INVALID_CONTEXT";
    case FA_ERR_WORKSPACE: return "FA_ERR_WORKSPACE";
    case FA_ERR_UNSUPPORTED: return "FA_ERR_UNSUPPORTED";
  }
  return "FA_ERR_UNKNOWN_STATUS";
}

const char *fa_dtype_name(fa_dtype dtype) {
  switch (dtype) {
    case FA_DTYPE_FP16: return "fp16";
    case FA_DTYPE_BF16: return "bf16";
    case FA_DTYPE_FP32: return "fp32";
  }
  return "unknown-dtype";
}

const char *fa_backend_name(fa_backend backend) {
  switch (backend) {
    case FA_BACKEND_CUDA: return "cuda";
    case FA_BACKEND_CPU: return "cpu";
  }
  return "unknown-backend";
}

const char *fa_mask_name(fa_mask mask) {
  switch (mask) {
    case FA_MASK_NONE: return "none";
    case FA_MASK_CAUSAL: return "causal";
    case FA_MASK_LOCAL: return "local";
  }
  return "unknown-mask";
}

fa_mask fa_mask_from_window(int32_t window_left, int32_t window_right) {
  if (window_left == -1 && window_right == -1) return FA_MASK_NONE;
  if (window_left == -1 && window_right == 0) return FA_MASK_CAUSAL;
  return FA_MASK_LOCAL;
}
