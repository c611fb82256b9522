// tile_sweep.cu - time tile shapes of the mma.sync family on the BENCH.md
// prefill grid, to choose MMA_TILES in gen/spec.py by measurement.
//
//   bash bench/tile_sweep.sh 256,128,64,8 256,64,64,4    (head_dim,block_m,block_n,warps)
//   bash bench/tile_sweep.sh 128,128,64,4 128,128,64,4,-DSW_KAS=true   (gen/spec.py k_after_softmax;
//                                                 -DSW_QR=true: q_regs)
//
// Inputs are random bf16, 16384 tokens, heads = 2048 / head_dim, dense layout.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cuda/fwd_mma.cuh"

#define CHECK(x)                                                                         \
  do {                                                                                   \
    cudaError_t e_ = (x);                                                                \
    if (e_ != cudaSuccess) {                                                             \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                      \
    }                                                                                    \
  } while (0)

__global__ void fill_random(__nv_bfloat16 *x, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    unsigned h = (unsigned)i * 2654435761u ^ seed;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    x[i] = __float2bfloat16(((h & 0xffff) / 32768.f - 1.f) * 1.7f);
  }
}

struct Problem {
  int d, s, causal;
};

template <class T>
float time_config(const Problem &pb, __nv_bfloat16 *q, __nv_bfloat16 *k, __nv_bfloat16 *v, __nv_bfloat16 *o) {
  const int total = 16384, h = 2048 / pb.d, b = total / pb.s;
  fa_fwd_args a = {};
  a.q = q, a.k = k, a.v = v, a.out = o;
  const int64_t row = (int64_t)h * pb.d;
  a.q_row_stride = a.k_row_stride = a.v_row_stride = a.out_row_stride = row;
  a.q_head_stride = a.k_head_stride = a.v_head_stride = a.out_head_stride = pb.d;
  a.q_batch_stride = a.k_batch_stride = a.v_batch_stride = a.out_batch_stride = row * pb.s;
  a.total_q = a.total_k = total;
  a.batch = b, a.num_heads_q = a.num_heads_k = h, a.head_dim = pb.d, a.heads_per_kv = 1;
  a.seqlen_q = a.seqlen_k = pb.s;
#if FA_VERSION_MINOR >= 3
  a.kv_capacity = pb.s;  // dense: the keys a sequence holds
#endif
  a.window_left = -1, a.window_right = pb.causal ? 0 : -1;
  a.scale = 1.f / sqrtf((float)pb.d);
  a.score_log2_scale = a.scale * 1.4426950408889634f;
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  for (int i = 0; i < 3; ++i) CHECK((cudaError_t)fa::launch_fwd_mma<T>(&a, 0));
  std::vector<float> ms;
  for (int r = 0; r < 7; ++r) {
    CHECK(cudaEventRecord(e0));
    for (int i = 0; i < 10; ++i) CHECK((cudaError_t)fa::launch_fwd_mma<T>(&a, 0));
    CHECK(cudaEventRecord(e1));
    CHECK(cudaEventSynchronize(e1));
    float t;
    CHECK(cudaEventElapsedTime(&t, e0, e1));
    ms.push_back(t / 10);
  }
  std::sort(ms.begin(), ms.end());
  CHECK(cudaEventDestroy(e0));
  CHECK(cudaEventDestroy(e1));
  return ms[ms.size() / 2];
}

template <int D, int BM, int BN, int W, bool QR = false, bool KAS = false>
void sweep(const char *tag, __nv_bfloat16 *q, __nv_bfloat16 *k, __nv_bfloat16 *v, __nv_bfloat16 *o) {
  using TF = fa::FwdMmaTraits<D, BM, BN, W, QR, __nv_bfloat16, fa::kMaskNone, KAS>;
  using TC = fa::FwdMmaTraits<D, BM, BN, W, QR, __nv_bfloat16, fa::kMaskCausal, KAS>;
  const char *only_s = std::getenv("SWEEP_SEQLEN");  // one problem, e.g. for ncu
  for (int s : {512, 2048, 8192}) {
    if (only_s && std::atoi(only_s) != s) continue;
    for (int causal = 0; causal < 2; ++causal) {
      Problem pb{D, s, causal};
      const float ms = causal ? time_config<TC>(pb, q, k, v, o) : time_config<TF>(pb, q, k, v, o);
      const double flops = 4.0 * 16384 * s * 2048 / (causal ? 2 : 1);
      std::printf("%-6s d%-3d %3dx%-3d w%d%s%s s%-5d %-6s %7.1f us %6.1f TF/s\n", tag, D, BM, BN, W, QR ? " q_regs" : "",
                  KAS ? " k_after_softmax" : "", s, causal ? "causal" : "full", ms * 1e3, flops / ms / 1e9);
    }
  }
}

int main() {
  const size_t n = 16384ull * 2048;
  __nv_bfloat16 *q, *k, *v, *o;
  CHECK(cudaMalloc(&q, n * 2));
  CHECK(cudaMalloc(&k, n * 2));
  CHECK(cudaMalloc(&v, n * 2));
  CHECK(cudaMalloc(&o, n * 2));
  fill_random<<<1024, 256>>>(q, n, 1);
  fill_random<<<1024, 256>>>(k, n, 2);
  fill_random<<<1024, 256>>>(v, n, 3);
  CHECK(cudaDeviceSynchronize());
#ifdef SW_D
#ifndef SW_QR
#define SW_QR false
#endif
#ifndef SW_KAS
#define SW_KAS false
#endif
  sweep<SW_D, SW_BM, SW_BN, SW_W, SW_QR, SW_KAS>("cfg", q, k, v, o);
#else
  sweep<128, 128, 64, 4>("cfg", q, k, v, o);
#endif
  return 0;
}
