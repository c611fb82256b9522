/*
 * common.h - internal helpers shared by the entry points (api.c for the
 * forward, helpers.c for the mask helpers): failure messages, the current
 * device, device-pointer checks. Plain C, host only. Internal.
 */
#ifndef FA_COMMON_H
#define FA_COMMON_H

#include <stddef.h>
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

/* What a call knows about its device: from a fa_context, or queried. */
typedef struct fa_device_info {
  int device;             /* -1 on the CPU backend */
  int arch;               /* major * 10 + minor; 0 on the CPU */
  int sm_count;
  int max_smem_per_block; /* opt-in limit, bytes */
  void *tensor_map_encode; /* cuTensorMapEncodeTiled or NULL (sm_90 and later; from the context when given) */
} fa_device_info;

/* cuTensorMapEncodeTiled through the runtime's driver-entry-point query, so
 * that nothing links libcuda; NULL where the driver does not offer it. */
void *fa_tensor_map_encoder(void);

/* The current CUDA device: FA_ERR_NO_DEVICE when none is usable,
 * FA_ERR_CUDA when querying it fails. */
fa_status fa_query_device(fa_device_info *dev, fa_message *message);

/* The device facts of a call on `backend`: from `context` when given
 * (checked: initialized, same backend, its device current), else queried. */
fa_status fa_call_device(fa_backend backend, const fa_context *context, fa_device_info *dev, fa_message *message);

/*
 * Structs that grow (flashattn.h): copy the caller's struct into *local,
 * which the caller pre-filled with defaults, accepting exactly the sizes in
 * known[] (one per released layout, ascending, the last = sizeof). Fields
 * past the caller's size keep their defaults. FA_ERR_NULL_POINTER for NULL,
 * FA_ERR_STRUCT_SIZE for 0 or an unknown size; `name` names the struct.
 */
fa_status fa_read_struct(const void *given, void *local, const uint32_t *known, size_t n_known, const char *name,
                         fa_message *message);

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
