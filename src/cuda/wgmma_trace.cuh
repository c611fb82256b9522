// wgmma_trace.cuh - an event timeline of the wgmma kernel's roles, for
// finding where a work tile's cycles go (bench/trace_wgmma.sh, which also
// says how to read it). Compiled in only where FA_WGMMA_TRACE_CAP is
// defined (bench/trace_wgmma.cu includes one generated kernel that way);
// otherwise Tracer is empty and every mark compiles to nothing, so the
// library's kernels are unchanged.
//
// With the trace on, the first FA_WGMMA_TRACE_BLOCKS blocks record, per
// role (row 4 b: the producer thread; 4 b + 1 + c: lane 0 of consumer c's
// first warp), up to FA_WGMMA_TRACE_CAP events: the SM's cycle counter and
// an event code (TraceEvent | argument << 8). The records go to a device
// array in the including translation unit, their count last. Every block
// (up to FA_WGMMA_TRACE_SPAN_BLOCKS) also records each role's start and end
// on the global nanosecond timer, which unlike the SM clocks compares
// across SMs: how ragged the grid's end is.
#pragma once

#include <stdint.h>

#include "cuda/ptx.cuh"

namespace fa {

enum TraceEvent : unsigned {
  kTrTile = 1,       // consumer: a work tile starts (argument: its list index)
  kTrQReady = 2,     // its Q tile has landed
  kTrSIssued = 3,    // S = Q K^T issued (argument: key tile within the work tile)
  kTrSReady = 4,     // S waited for
  kTrTurnAsk = 5,    // row maxima done (and, packing in the turn, the P V before: kTrRowMax): waits for its turn
  kTrTurnGot = 6,    // its turn: the exponentials
  kTrTurnDone = 7,   // turn passed on
  kTrPVIssued = 8,   // P V issued (argument: key tile)
  kTrLastPV = 9,     // the last P V waited for: the epilogue starts
  kTrStored = 10,    // the epilogue done
  kTrRowsDone = 11,  // TMA-store epilogue: the rows' end done (finish_rows)
  kTrPassStaging = 12,  // a pass's staging rows free (its wait for the earlier stores' reads; argument: pass)
  kTrPassStored = 13,   // the pass's stores issued (argument: pass)
  kTrVReady = 14,    // main loop: V of the key tile before waited for (argument: key tile)
  kTrKReady = 15,    // main loop: K waited for (argument: key tile)
  kTrProdQ = 16,     // producer: Q's buffer free, Q issued (argument: Q tiles issued before it)
  kTrProdK = 17,     // K's stage free, K issued (argument: key tile count so far)
  kTrProdV = 18,     // V's stage free, V issued
  kTrRowSums = 19,   // finish_rows (TMA-store epilogue) or row_ends: both rows' sums and totals issued
  kTrRowsScaled = 20,  // finish_rows: O scaled by 1 / sum (then the LSE stores); kRowEndsUnderPV: row_ends done
  kTrTileLocated = 21,  // overlapped epilogue: the work tile read again from the list and its split checked
                        // (kRowEndsUnderPV: under the last P V)
  kTrRowMax = 22,    // packing in the turn: row maxima done, before the wait for the P V before (kTrTurnAsk after it)
  kTrMasked = 23,    // main loop: the key tile's softcap and mask done (before the row extremes)
  kTrRowExtremes = 24,  // the rows' extremes over the quad done (before the rescale step)
  kTrLoopTop = 25,   // main loop: an iteration's wait for the P V before and its fences done (argument: key tile)
};

#ifdef FA_WGMMA_TRACE_CAP
#ifndef FA_WGMMA_TRACE_BLOCKS
#define FA_WGMMA_TRACE_BLOCKS 2
#endif
#ifndef FA_WGMMA_TRACE_SPAN_BLOCKS
#define FA_WGMMA_TRACE_SPAN_BLOCKS 1024
#endif
__device__ uint2 wgmma_trace_records[4 * FA_WGMMA_TRACE_BLOCKS][FA_WGMMA_TRACE_CAP];
__device__ unsigned wgmma_trace_counts[4 * FA_WGMMA_TRACE_BLOCKS];
// [block * 4 + role]: globaltimer at the Tracer's construction and finish(),
// and the SM it ran on (%smid: which SMs end early, seventy-second session)
__device__ unsigned long long wgmma_trace_spans[4 * FA_WGMMA_TRACE_SPAN_BLOCKS][3];
// [block]: globaltimer and SM clock (thread 0) at the kernel's points
// (fwd_wgmma_kernel, list_block_tiles): 0 entry, 1 after griddep_wait, 2 the
// sequences' tiles read, 3 the ranks' tables built, 4 the walk's tail and
// split chosen, 5 thread 0's first entry placed in the walk (its sequence,
// head and query tile), 6 its sequence's place read, 7 the entries and
// the count stored and the proxy fence passed, 8 the list seen by every
// thread. The preamble before any load, step by step.
#define FA_WGMMA_TRACE_POINTS 9
__device__ unsigned long long wgmma_trace_points[FA_WGMMA_TRACE_SPAN_BLOCKS][2 * FA_WGMMA_TRACE_POINTS];
__device__ unsigned wgmma_trace_sink;  // trace_block_point_after's stores

__device__ __forceinline__ void trace_block_point(int i) {
  if (threadIdx.x != 0 || blockIdx.x >= FA_WGMMA_TRACE_SPAN_BLOCKS) return;
  wgmma_trace_points[blockIdx.x][i] = globaltimer_ns();
  wgmma_trace_points[blockIdx.x][FA_WGMMA_TRACE_POINTS + i] = sm_clock32();
}

// Point i once `value` is ready. A timer read issues as soon as the
// instructions before it have issued, which is before their loads and
// divisions have returned; a store of the value cannot issue before the
// value is ready, and the timers are read after it (issue is in order).
__device__ __forceinline__ void trace_block_point_after(int i, unsigned value) {
  if (threadIdx.x != 0 || blockIdx.x >= FA_WGMMA_TRACE_SPAN_BLOCKS) return;
  asm volatile("st.volatile.global.u32 [%0], %1;" ::"l"(&wgmma_trace_sink), "r"(value) : "memory");
  trace_block_point(i);
}

struct Tracer {
  int span;  // block * 4 + role, -1: this thread records neither events nor its span
  unsigned n;
  __device__ Tracer(int role, bool traced)
      : span(traced && blockIdx.x < FA_WGMMA_TRACE_SPAN_BLOCKS ? (int)blockIdx.x * 4 + role : -1), n(0) {
    if (span >= 0) {
      wgmma_trace_spans[span][0] = globaltimer_ns();
      wgmma_trace_spans[span][2] = sm_id();
    }
  }
  // Events only in the first blocks; the row found again from the span
  // (one register fewer: the 24-register producer spilled with both kept)
  __device__ __forceinline__ bool records() const { return span >= 0 && blockIdx.x < FA_WGMMA_TRACE_BLOCKS; }
  __device__ __forceinline__ void mark(unsigned event, unsigned argument = 0) {
    if (!records() || n >= FA_WGMMA_TRACE_CAP) return;
    wgmma_trace_records[span][n++] = make_uint2(sm_clock32(), event | argument << 8);
  }
  __device__ __forceinline__ void finish() const {
    if (records()) wgmma_trace_counts[span] = n;
    if (span >= 0) wgmma_trace_spans[span][1] = globaltimer_ns();
  }
};
#else
__device__ __forceinline__ void trace_block_point(int) {}
__device__ __forceinline__ void trace_block_point_after(int, unsigned) {}
struct Tracer {
  __device__ __forceinline__ Tracer(int, bool) {}
  __device__ __forceinline__ void mark(unsigned, unsigned = 0) {}
  __device__ __forceinline__ void finish() const {}
};
#endif

}  // namespace fa
