// decode_trace.cuh - a per-block timeline of the decode kernel, for finding
// where a launch's time goes between blocks (bench/trace_decode.sh, which
// says how to read it). Compiled in only where FA_DECODE_TRACE_BLOCKS is
// defined (bench/trace_decode.cu includes one generated decode kernel that
// way); otherwise DecodeTracer is empty and every mark compiles to nothing,
// so the library's kernels are unchanged.
//
// With the trace on, each of the first FA_DECODE_TRACE_BLOCKS blocks fills
// one record: its SM, its piece, and the global nanosecond timer (which,
// unlike the SM clocks, compares across SMs) at block marks (thread 0) and
// warp marks (lane 0 of each warp), and the SM's cycle counter beside it
// (exact within a block, whatever the global timer's resolution). A mark
// costs two counter reads and two stores.
#pragma once

#include <stdint.h>

#include "cuda/ptx.cuh"

namespace fa {

enum DecodeBlockMark : int {
  kDtEntry = 0,   // the kernel's first instruction
  kDtPiece = 1,   // the block knows its piece (after the plan, by length)
  kDtQ = 2,       // Q landed for every warp (first tiles issued before it)
  kDtMerged = 3,  // the warps' merge done, the epilogue starts
  kDtExit = 4,    // thread 0 done (or an early return: no piece, no rows)
  kDtBlockMarks = 5
};

enum DecodeWarpMark : int {
  kDtFirstTile = 0,  // the warp's first K/V tile waited for
  kDtLoopEnd = 1,    // the warp's main loop done
  kDtWarpMarks = 2
};

// Phases of the warp's plan (find_piece_in_warp), in SM cycles on thread
// 0: the sequences' loads and the work's sum, the split counts and order
// keys, the sort, the scan of pieces and slots (then kDtPiece).
enum DecodePlanMark : int {
  kDpSum = 0,
  kDpSplits = 1,
  kDpSorted = 2,
  kDpScanned = 3,
  kDpPlanMarks = 4
};

struct DecodeTraceRecord {
  unsigned long long block_ns[kDtBlockMarks];
  unsigned long long warp_ns[4][kDtWarpMarks];
  unsigned block_clk[kDtBlockMarks];
  unsigned warp_clk[4][kDtWarpMarks];
  int smid, b, kv_head, mt, split, splits;
  int steps[4];          // main-loop steps of each warp
  unsigned wait_clk[4];  // cycles each warp's main loop spent in its ring waits
  unsigned plan_clk[kDpPlanMarks];  // the warp's plan (0 where none ran)
};

#ifdef FA_DECODE_TRACE_BLOCKS
__device__ DecodeTraceRecord decode_trace_records[FA_DECODE_TRACE_BLOCKS];

struct DecodeTracer {
  DecodeTraceRecord *r;  // null: this block is not recorded
  __device__ DecodeTracer() : r(blockIdx.x < FA_DECODE_TRACE_BLOCKS ? &decode_trace_records[blockIdx.x] : nullptr) {
    if (r != nullptr && threadIdx.x == 0) {
      r->block_clk[kDtEntry] = sm_clock32();
      r->block_ns[kDtEntry] = globaltimer_ns();
      r->smid = (int)sm_id();
    }
  }
  __device__ __forceinline__ void mark(DecodeBlockMark m) const {
    if (r == nullptr || threadIdx.x != 0) return;
    r->block_clk[m] = sm_clock32();
    r->block_ns[m] = globaltimer_ns();
  }
  __device__ __forceinline__ void piece(int b, int kv_head, int mt, int split, int splits) const {
    if (r == nullptr || threadIdx.x != 0) return;
    r->b = b, r->kv_head = kv_head, r->mt = mt, r->split = split, r->splits = splits;
    mark(kDtPiece);
  }
  __device__ __forceinline__ void warp_mark(DecodeWarpMark m, int warp, int lane) const {
    if (r == nullptr || lane != 0 || warp >= 4) return;
    r->warp_clk[warp][m] = sm_clock32();
    r->warp_ns[warp][m] = globaltimer_ns();
  }
  __device__ __forceinline__ void steps(int warp, int lane, int n) const {
    if (r != nullptr && lane == 0 && warp < 4) r->steps[warp] = n;
  }
  // The SM's cycle counter where recorded (0 elsewhere), to time a wait.
  __device__ __forceinline__ unsigned now() const { return r != nullptr ? sm_clock32() : 0u; }
  __device__ __forceinline__ void waited(int warp, int lane, unsigned cycles) const {
    if (r != nullptr && lane == 0 && warp < 4) r->wait_clk[warp] = cycles;
  }
};

// A phase of the warp's plan done: a function rather than a DecodeTracer
// member, so that the plan takes no tracer (the library's code is as
// without the trace). `after`: a value the phase computed; the clock is
// read once it is ready.
__device__ __forceinline__ void decode_plan_mark(DecodePlanMark m, unsigned after) {
  if (blockIdx.x >= FA_DECODE_TRACE_BLOCKS || threadIdx.x != 0) return;
  unsigned c;
  asm volatile("mov.u32 %0, %%clock;" : "=r"(c) : "r"(after));
  decode_trace_records[blockIdx.x].plan_clk[m] = c;
}
#else
__device__ __forceinline__ void decode_plan_mark(DecodePlanMark, unsigned) {}

struct DecodeTracer {
  __device__ __forceinline__ void mark(DecodeBlockMark) const {}
  __device__ __forceinline__ void piece(int, int, int, int, int) const {}
  __device__ __forceinline__ void warp_mark(DecodeWarpMark, int, int) const {}
  __device__ __forceinline__ void steps(int, int, int) const {}
  __device__ __forceinline__ unsigned now() const { return 0u; }
  __device__ __forceinline__ void waited(int, int, unsigned) const {}
};
#endif

}  // namespace fa
