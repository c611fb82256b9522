/*
 * pdl_writer.h - a kernel that writes a call's inputs late
 * (tests/pdl_writer.cu), for test_stream.c's programmatic-launch case.
 * Internal to the tests.
 */
#ifndef FA_PDL_WRITER_H
#define FA_PDL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* On `stream`: a kernel that lets programmatic dependents start at once
 * (griddepcontrol.launch_dependents at entry), spins spin_us microseconds,
 * then copies n 16-bit words from src to dst. sm_90 machine code only.
 * Returns a cudaError_t (0 = launched). */
int pdl_writer_launch(uint16_t *dst, const uint16_t *src, size_t n, unsigned spin_us, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* FA_PDL_WRITER_H */
