// probe_maps.h - what the stream probes (bench/layout_probe.cu,
// bench/sm_rate_probe.cu) share: the driver's tensor-map encoder, reached
// through the runtime (nothing links libcuda), and a 4-D bf16 map with the
// decode kernel's settings. Host code; each probe is one translation unit.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>
#include <stdio.h>
#include <stdlib.h>

static PFN_cuTensorMapEncodeTiled_v12000 probe_encoder() {
  void *fn = nullptr;
  cudaDriverEntryPointQueryResult q;
  if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q) != cudaSuccess ||
      q != cudaDriverEntryPointSuccess) {
    fprintf(stderr, "no cuTensorMapEncodeTiled\n");
    exit(1);
  }
  return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
}

// A 4-D bf16 map with 128-byte swizzle and 128-byte L2 promotion (the
// decode maps' settings): dims innermost first, byte strides of dims 1-3.
static void probe_encode_bf16(CUtensorMap *m, const void *base, const cuuint64_t (&dims)[4],
                              const cuuint64_t (&strides)[3], const cuuint32_t (&box)[4]) {
  const cuuint32_t ones[4] = {1, 1, 1, 1};
  if (probe_encoder()(m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, const_cast<void *>(base), dims, strides, box, ones,
                      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS) {
    fprintf(stderr, "cuTensorMapEncodeTiled failed\n");
    exit(1);
  }
}
