/*
 * fwd_cpu_family.c - host descriptor of the CPU family (fwd_cpu.h): it
 * computes every call of the CPU backend and needs no workspace (its
 * scratch lives on the stack, sized at build time).
 */
#include "dispatch.h"

static fa_status cpu_supports(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev,
                              fa_message *why) {
  (void)a, (void)k, (void)dev, (void)why;
  return FA_OK;
}

static size_t cpu_workspace_bytes(const fa_fwd_args *a, const fa_kernel_info *k, const fa_device_info *dev) {
  (void)a, (void)k, (void)dev;
  return 0;
}

const fa_family fa_family_cpu = {"cpu", cpu_supports, cpu_workspace_bytes, NULL, 0, NULL};
