// wgmma_probe.cu - the first unit test of the wgmma family: the layouts it
// relies on (shared/notes/HOPPER.md 2.3-2.8, first verified by the hopper
// probe) checked through the family's own building blocks (fwd_wgmma.cuh):
// load_q, load_kv_tiles (TMA, 4-D maps from encode_rows_map, the mbarrier ring),
// qk_gemm_wgmma (wgmma SS, K-major, 128B swizzle), pack_p (accumulator ->
// A fragment) and pv_gemm_wgmma (wgmma RS, V MN-major), without the softmax.
//
// One block: 128 query rows (2 consumer warpgroups), head dim 128, 4 key
// blocks of 64 through a 2-stage ring; K's tensor has 250 of the 256 rows,
// so the last block's 6 last rows come from TMA's zero fill. Outputs: S of
// the last block and O = sum_n 16-bit(S_n / 8) V_n, in fp32, compared with a
// double reference of the same rounded inputs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda/fwd_wgmma.cuh"
#include "wgmma_probe.h"

namespace {

constexpr int kD = 128, kBlockN = 64, kBlocks = 4, kKeys = kBlockN * kBlocks, kValidKeys = 250;
template <typename Elem>
using ProbeTraits = fa::FwdWgmmaTraits<kD, kBlockN, 2, Elem, fa::kMaskNone>;
constexpr int kM = 128;

template <class T>
__global__ void __launch_bounds__(T::kThreads, 1)
    probe_kernel(const __grid_constant__ CUtensorMap tm_q, const __grid_constant__ CUtensorMap tm_k,
                 const __grid_constant__ CUtensorMap tm_v, float *s_out, float *o_out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  using namespace fa;
  extern __shared__ __align__(1024) unsigned char smem[];
  const uint32_t sq = (smem_u32(smem) + 1023u) & ~1023u;
  const uint32_t sk = sq + T::kQBytes, sv = sk + T::kStages * T::kKVBytes;
  const WgmmaBarriers<T> bar{sv + T::kStages * T::kKVBytes};
  const int tid = (int)threadIdx.x, wg = tid / 128, lane = tid & 31;
  if (tid == 0) {
    mbar_init(bar.q(0), 1);
    for (int s = 0; s < T::kStages; ++s) {
      mbar_init(bar.k_full(s), 1);
      mbar_init(bar.v_full(s), 1);
      mbar_init(bar.k_empty(s), T::kConsumers);
      mbar_init(bar.v_empty(s), T::kConsumers);
    }
    fence_mbar_init();
  }
  __syncthreads();
  if (wg == 0) {
    setmaxnreg_dec<24>();
    const fa_fwd_args unpaged = {};  // read only by the paged instantiation
    Tracer untraced(0, false);  // wgmma_trace.cuh: records nothing
    if (tid == 0) {
      load_q<T>(&tm_q, bar, sq, 0, 0, 0, 0);
      load_kv_tiles<T, false>(unpaged, &tm_k, &tm_v, bar, sk, sv, 0, kBlocks * T::kBlockN, 0, 0, 0, 0, kBlocks,
                              false, 0u, untraced, [] {});
    }
    return;
  }
  setmaxnreg_inc<240>();
  const int c = wg - 1, row0 = 64 * c + 16 * ((tid / 32) & 3) + (lane >> 2);
  float o[T::kOTiles][4];
  for (int dt = 0; dt < T::kOTiles; ++dt)
    for (int j = 0; j < 4; ++j) o[dt][j] = 0.f;
  mbar_wait(bar.q(0), 0);
  for (int j = 0; j < kBlocks; ++j) {
    const int s = j % T::kStages;
    const uint32_t phase = (uint32_t)(j / T::kStages) & 1u;
    float sc[T::kSTiles][4];
    mbar_wait(bar.k_full(s), phase);
    qk_gemm_wgmma<T>(sc, sq + 64 * c * 128, sk + s * T::kKVBytes);
    if (tid % 128 == 0) mbar_arrive(bar.k_empty(s));
    for (int nt = 0; nt < T::kSTiles; ++nt)
      for (int i = 0; i < 4; ++i) {
        if (j == kBlocks - 1) s_out[(row0 + 8 * (i >> 1)) * kBlockN + 8 * nt + 2 * (lane & 3) + (i & 1)] = sc[nt][i];
        sc[nt][i] *= 0.125f;
      }
    uint32_t p[T::kPVSteps][4];
    pack_p<T>(p, sc);
    mbar_wait(bar.v_full(s), phase);
    pv_gemm_wgmma<T>(o, p, sv + s * T::kKVBytes);
    if (tid % 128 == 0) mbar_arrive(bar.v_empty(s));
  }
  for (int dt = 0; dt < T::kOTiles; ++dt)
    for (int i = 0; i < 4; ++i) o_out[(row0 + 8 * (i >> 1)) * kD + 8 * dt + 2 * (lane & 3) + (i & 1)] = o[dt][i];
#endif
}

// Round to the 16-bit type and back, and the type's raw bits.
template <typename Elem>
float round16(float x, uint16_t *bits);
template <>
float round16<__half>(float x, uint16_t *bits) {
  const __half h = __float2half_rn(x);
  *bits = __half_as_ushort(h);
  return __half2float(h);
}
template <>
float round16<__nv_bfloat16>(float x, uint16_t *bits) {
  const __nv_bfloat16 h = __float2bfloat16_rn(x);
  *bits = __bfloat16_as_ushort(h);
  return __bfloat162float(h);
}

struct Buffers {
  float *host = nullptr;  // fq, fk, fv, s, o, sref, oref
  void *dev[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
  ~Buffers() {
    free(host);
    for (void *p : dev) cudaFree(p);
  }
};

int fail(char *why, size_t len, const char *what, cudaError_t e) {
  snprintf(why, len, "%s: %s", what, cudaGetErrorString(e));
  return -1;
}

template <typename Elem>
int run(wgmma_probe_result *r, char *why, size_t len) {
  using T = ProbeTraits<Elem>;
  Buffers b;
  const size_t nq = (size_t)kM * kD, nk = (size_t)kKeys * kD, ns = (size_t)kM * kBlockN, no = (size_t)kM * kD;
  b.host = static_cast<float *>(calloc(nq + 2 * nk + 2 * ns + 2 * no, sizeof(float)));
  uint16_t *bits = static_cast<uint16_t *>(calloc(nq + 2 * nk, sizeof(uint16_t)));
  if (b.host == nullptr || bits == nullptr) {
    free(bits);
    snprintf(why, len, "out of host memory");
    return -1;
  }
  float *fq = b.host, *fk = fq + nq, *fv = fk + nk, *s = fv + nk, *o = s + ns, *sref = o + no, *oref = sref + ns;
  uint32_t rng = 12345u;
  for (size_t i = 0; i < nq + 2 * nk; ++i) {
    rng = rng * 1664525u + 1013904223u;
    fq[i] = round16<Elem>((float)(rng >> 8) / 8388608.f - 1.f, &bits[i]);
  }
  cudaError_t e;
  const size_t bytes[5] = {nq * 2, nk * 2, nk * 2, ns * 4, no * 4};
  for (int i = 0; i < 5; ++i)
    if ((e = cudaMalloc(&b.dev[i], bytes[i])) != cudaSuccess) return free(bits), fail(why, len, "cudaMalloc", e);
  for (int i = 0; i < 3; ++i)
    if ((e = cudaMemcpy(b.dev[i], bits + (i == 0 ? 0 : nq + (i - 1) * nk), bytes[i], cudaMemcpyHostToDevice)) !=
        cudaSuccess)
      return free(bits), fail(why, len, "cudaMemcpy", e);
  free(bits);

  void *fn = nullptr;
  cudaDriverEntryPointQueryResult found;
  if ((e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found)) !=
          cudaSuccess ||
      found != cudaDriverEntryPointSuccess || fn == nullptr)
    return fail(why, len, "cudaGetDriverEntryPointByVersion(cuTensorMapEncodeTiled)", e);
  const auto encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  const CUtensorMapDataType type = fa::TmaElemType<Elem>::value;
  alignas(64) CUtensorMap tm_q, tm_k, tm_v;
  CUresult cr;
  if ((cr = fa::encode_rows_map(&tm_q, encode, type, b.dev[0], kD, kM, 1, 1, kD, kD, kD * kM, kM)) != CUDA_SUCCESS ||
      (cr = fa::encode_rows_map(&tm_k, encode, type, b.dev[1], kD, kValidKeys, 1, 1, kD, kD, 0, kBlockN)) !=
          CUDA_SUCCESS ||
      (cr = fa::encode_rows_map(&tm_v, encode, type, b.dev[2], kD, kKeys, 1, 1, kD, kD, 0, kBlockN)) != CUDA_SUCCESS) {
    snprintf(why, len, "cuTensorMapEncodeTiled returned %d", (int)cr);
    return -1;
  }
  const void *kernel = reinterpret_cast<const void *>(probe_kernel<T>);
  if ((e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes)) != cudaSuccess)
    return fail(why, len, "cudaFuncSetAttribute", e);
  cudaFuncAttributes fa_attr;
  if ((e = cudaFuncGetAttributes(&fa_attr, kernel)) != cudaSuccess) return fail(why, len, "cudaFuncGetAttributes", e);
  r->regs = fa_attr.numRegs;
  r->local_bytes = (int)fa_attr.localSizeBytes;
  cudaMemset(b.dev[3], 0xFF, bytes[3]);  // NaN: an element never written shows
  cudaMemset(b.dev[4], 0xFF, bytes[4]);
  void *params[] = {&tm_q, &tm_k, &tm_v, &b.dev[3], &b.dev[4]};
  if ((e = cudaLaunchKernel(kernel, dim3(1), dim3(T::kThreads), params, T::kSmemBytes, 0)) != cudaSuccess)
    return fail(why, len, "cudaLaunchKernel", e);
  if ((e = cudaDeviceSynchronize()) != cudaSuccess) return fail(why, len, "the probe kernel", e);
  if ((e = cudaMemcpy(s, b.dev[3], bytes[3], cudaMemcpyDeviceToHost)) != cudaSuccess ||
      (e = cudaMemcpy(o, b.dev[4], bytes[4], cudaMemcpyDeviceToHost)) != cudaSuccess)
    return fail(why, len, "cudaMemcpy back", e);

  // Reference: K rows >= kValidKeys are what the zero fill gives.
  uint16_t unused;
  for (int n = 0; n < kBlocks; ++n)
    for (int m = 0; m < kM; ++m)
      for (int col = 0; col < kBlockN; ++col) {
        const int key = n * kBlockN + col;
        double acc = 0;
        if (key < kValidKeys)
          for (int d = 0; d < kD; ++d) acc += (double)fq[m * kD + d] * fk[(size_t)key * kD + d];
        if (n == kBlocks - 1) sref[m * kBlockN + col] = (float)acc;
        const float pr = round16<Elem>((float)acc * 0.125f, &unused);
        for (int d = 0; d < kD; ++d) oref[m * kD + d] += pr * fv[(size_t)key * kD + d];
      }
  r->s_err = r->s_max = r->o_err = r->o_max = 0;
  r->oob_nonzero = 0;
  for (size_t i = 0; i < ns; ++i) {
    const double err = fabs((double)s[i] - sref[i]);
    r->s_err = err > r->s_err || err != err ? err : r->s_err;
    r->s_max = fmax(r->s_max, fabs(sref[i]));
    if ((int)(i % kBlockN) >= kValidKeys - (kBlocks - 1) * kBlockN && s[i] != 0.f) r->oob_nonzero++;
  }
  for (size_t i = 0; i < no; ++i) {
    const double err = fabs((double)o[i] - oref[i]);
    r->o_err = err > r->o_err || err != err ? err : r->o_err;
    r->o_max = fmax(r->o_max, fabs(oref[i]));
  }
  return 0;
}

}  // namespace

extern "C" int wgmma_probe_run(int fp16, wgmma_probe_result *r, char *why, size_t why_len) {
  return fp16 ? run<__half>(r, why, why_len) : run<__nv_bfloat16>(r, why, why_len);
}
