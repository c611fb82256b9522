/*
 * tests/kernel_name.h - the naming rule of the kernel table's long-key
 * specializations, shared by test_api and fuzz_fwd (the fuzzer had its own
 * copy of the base rule and rejected the first "_k<N>" name: CI,
 * 2026-11-30).
 */
#ifndef FA_TESTS_KERNEL_NAME_H
#define FA_TESTS_KERNEL_NAME_H

#include <stdio.h>
#include <string.h>

#include "flashattn.h"

/* The length of k's name before its long-key suffix "_k<N>" (N > 0,
 * gen/spec.py long_keys), which its description must explain with
 * "max_seqlen_k >= N"; the whole length for a name without the suffix; -1
 * for a suffix the description does not explain. */
static inline long kernel_name_base_length(const fa_kernel_info *k) {
  const char *last = strrchr(k->name, '_');
  int min_keys = 0, used = 0;
  char says[64];
  if (last == NULL || sscanf(last, "_k%d%n", &min_keys, &used) != 1 || last[used] != '\0' || min_keys <= 0)
    return (long)strlen(k->name);
  snprintf(says, sizeof says, "max_seqlen_k >= %d", min_keys);
  return strstr(k->description, says) != NULL ? (long)(last - k->name) : -1;
}

#endif
