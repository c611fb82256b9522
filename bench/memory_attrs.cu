// Prints the device's memory facts that a bandwidth-per-SM dispatch axis
// would read (fwd_wgmma.md [h100-short-causal]): clock, bus width, the
// peak they imply, SM count and L2 size.
//   nvcc -o /tmp/memory_attrs bench/memory_attrs.cu && /tmp/memory_attrs
#include <cuda_runtime.h>
#include <stdio.h>

static int attr(enum cudaDeviceAttr a, int dev) {
  int v = -1;
  if (cudaDeviceGetAttribute(&v, a, dev) != cudaSuccess) return -1;
  return v;
}

int main(void) {
  int dev = 0;
  struct cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, dev) != cudaSuccess) return 1;
  int clock_khz = attr(cudaDevAttrMemoryClockRate, dev);
  int bus_bits = attr(cudaDevAttrGlobalMemoryBusWidth, dev);
  int sms = attr(cudaDevAttrMultiProcessorCount, dev);
  int l2 = attr(cudaDevAttrL2CacheSize, dev);
  double peak_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
  printf("device %s\n", p.name);
  printf("memory_clock_khz %d bus_width_bits %d peak_gbs %.0f sms %d "
         "gbs_per_sm %.1f l2_bytes %d total_mem_gib %.1f\n",
         clock_khz, bus_bits, peak_gbs, sms, peak_gbs / sms, l2,
         p.totalGlobalMem / 1073741824.0);
  return 0;
}
