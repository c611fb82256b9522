/*
 * common.h - internal helpers shared by the entry points (api.c for the
 * forward, helpers.c for the mask helpers): failure messages, the current
 * device, device-pointer checks. Plain C, host only. Internal.
 */
#ifndef FA_COMMON_H
#define FA_COMMON_H

#include <stdint.h>

#include "flashattn.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FA_PRINTF_LIKE(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define FA_PRINTF_LIKE(fmt_index, first_arg)
#endif

/* Record why a call failed ("STATUS_NAME: " + the formatted reason) in
 * message (may be NULL) and return status. */
fa_status fa_fail(fa_message *message, fa_status status, const char *fmt, ...) FA_PRINTF_LIKE(3, 4);

/* Every entry point starts with this: on success the message is empty. */
void fa_clear_message(fa_message *message);

typedef struct fa_device_info {
  int device;
  int arch; /* major * 10 + minor */
} fa_device_info;

/* The current CUDA device: FA_ERR_NO_DEVICE when none is usable,
 * FA_ERR_CUDA when querying it fails. */
fa_status fa_query_device(fa_device_info *dev, fa_message *message);

/* A pointer a kernel will dereference must be device (or managed) memory of
 * the current device, or mapped pinned memory: a host pointer would fault
 * the whole CUDA context. NULL passes (optional pointers are checked for
 * NULL elsewhere). FA_ERR_INVALID_POINTER names `name`. */
fa_status fa_check_device_pointer(const void *ptr, const char *name, const fa_device_info *dev,
                                  fa_message *message);

#ifdef __cplusplus
}
#endif

#endif /* FA_COMMON_H */
