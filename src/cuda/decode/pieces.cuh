// decode/pieces.cuh - which piece of which sequence a block computes:
// splits by length (each sequence its own split count, planned on the
// device in a warp or a block from the sequences' lengths, or by a plan
// grid that writes tickets), and DecodePlan, the kernel's choice among
// them. A part of fwd_decode.cuh.
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>

#include "attn/sequence.h"
#include "cuda/combine.h"
#include "cuda/common/launch.cuh"
#include "cuda/decode/traits.cuh"
#include "cuda/decode_trace.cuh"
#include "cuda/fwd_decode_plan.h"
#include "cuda/ptx.cuh"
#include "fa_args.h"

namespace fa {

// ------------------------------------------------------------ splits by length

// The combine finds a unit's packed row by its own copy of the unit size.
static_assert(FA_COMBINE_UNIT_ROWS == FA_DECODE_ROWS, "combine.h and fwd_decode_plan.h disagree on a unit's rows");

// A block's piece of a launch: sequence b, KV head, row tile mt, and split
// `split` of the sequence's `splits`; with several, its partials go to
// workspace slot `slot0 + split` (fwd_decode_plan.h "Splits by length").
struct DecodePiece {
  int b, kv_head, mt, split, splits, slot0;
};

// Block i's piece, the r-th of sequence b's (r = i minus the pieces placed
// before b): splits innermost, then row tiles, then KV heads; its partial
// slots start at slot_base, the sequence's first. 32-bit divisions.
__device__ __forceinline__ DecodePiece piece_of_sequence(int b, int r, int32_t splits, int32_t row_tiles,
                                                         int32_t slot_base) {
  DecodePiece pc;
  pc.b = b;
  pc.splits = splits;
  pc.split = r % splits;
  r /= splits;  // the unit within the sequence: kv_head x row tiles + mt
  pc.slot0 = slot_base + r * splits;
  pc.mt = r % row_tiles;
  pc.kv_head = r / row_tiles;
  return pc;
}

// The plan's tables in the ring's shared memory (free until the ring's
// first load): per sequence its rows and keys (fa_seq), row tiles, key
// tiles and split count; per place in the order its sequence, the end of its pieces and
// its first partial slot (the sort's exchange buffer before them); then
// the warps' partial sums.
constexpr int kPlanTableBytes = FA_DECODE_PLAN_MAX_BATCH * ((int)sizeof(fa_seq) + 6 * 4) + 8 * 8;

// The sum of v over the threads before this one (tid order), and over the
// block: warp scans, then the warps' totals.
template <class T>
__device__ __forceinline__ int64_t block_exclusive_scan(int64_t v, int64_t *warp_sums, int64_t &block_total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int64_t incl = v;
#pragma unroll
  for (int d = 1; d < 32; d *= 2) {
    const int64_t up = __shfl_up_sync(0xffffffffu, incl, d);
    if (lane >= d) incl += up;
  }
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  int64_t before = 0;
  block_total = 0;
#pragma unroll
  for (int w = 0; w < T::kWarps; ++w) {
    if (w < warp) before += warp_sums[w];
    block_total += warp_sums[w];
  }
  __syncthreads();  // warp_sums reusable
  return before + incl - v;
}

// Sorts the block's keys descending: element i = j x kThreads + tid is
// thread tid's v[j], n = kRounds x kThreads elements (a power of two). A
// bitonic network (fa_decode_sort_keeps_larger), unrolled, so that each
// stage's partner is known at compile time: at a distance of kThreads or
// more in the same thread, from 32 up through shared memory (`exchange`,
// n keys), below 32 in the warp. 28 stages for 128 keys, 45 for 512.
template <class T, int kRounds>
__device__ __forceinline__ void block_sort_descending(uint64_t (&v)[kRounds], uint64_t *exchange) {
  constexpr int kLogN = kRounds == 1 ? 7 : kRounds == 2 ? 8 : 9;
  static_assert((kRounds * T::kThreads) == (1 << kLogN), "128 threads, 1, 2 or 4 keys each");
  const int tid = threadIdx.x;
#pragma unroll
  for (int lk = 1; lk <= kLogN; ++lk) {
#pragma unroll
    for (int ld = lk - 1; ld >= 0; --ld) {
      const int k = 1 << lk, d = 1 << ld;
      uint64_t other[kRounds];
      if (d >= T::kThreads) {
#pragma unroll
        for (int j = 0; j < kRounds; ++j) other[j] = v[j ^ (d / T::kThreads)];
      } else if (d >= 32) {
#pragma unroll
        for (int j = 0; j < kRounds; ++j) exchange[j * T::kThreads + tid] = v[j];
        __syncthreads();
#pragma unroll
        for (int j = 0; j < kRounds; ++j) other[j] = exchange[(j * T::kThreads + tid) ^ d];
        __syncthreads();  // read before the next stage writes
      } else {
#pragma unroll
        for (int j = 0; j < kRounds; ++j) other[j] = __shfl_xor_sync(0xffffffffu, v[j], d);
      }
#pragma unroll
      for (int j = 0; j < kRounds; ++j)
        if ((other[j] > v[j]) == (bool)fa_decode_sort_keeps_larger(j * T::kThreads + tid, d, k)) v[j] = other[j];
    }
  }
}

// The plan's tables in shared memory (kPlanTableBytes at `tables`).
struct PlanTables {
  fa_seq *seqs;                                       // by sequence
  int32_t *row_tiles, *key_tiles, *split_counts;      // by sequence
  int32_t *order, *ends, *slot_base;                  // by place: its sequence, pieces' end, first slot
  int64_t *warp_sums;
};

__device__ __forceinline__ PlanTables plan_tables(unsigned char *tables) {
  PlanTables t;
  t.seqs = reinterpret_cast<fa_seq *>(tables);
  t.row_tiles = reinterpret_cast<int32_t *>(t.seqs + FA_DECODE_PLAN_MAX_BATCH);
  t.key_tiles = t.row_tiles + FA_DECODE_PLAN_MAX_BATCH;
  t.split_counts = t.key_tiles + FA_DECODE_PLAN_MAX_BATCH;
  t.order = t.split_counts + FA_DECODE_PLAN_MAX_BATCH;
  t.ends = t.order + FA_DECODE_PLAN_MAX_BATCH;
  t.slot_base = t.ends + FA_DECODE_PLAN_MAX_BATCH;
  t.warp_sums = reinterpret_cast<int64_t *>(t.slot_base + FA_DECODE_PLAN_MAX_BATCH);
  return t;
}

// Splits by length: every thread reads up to FA_DECODE_PLAN_MAX_BATCH /
// kThreads sequences' places (sequence j x kThreads + tid: a round's loads
// in flight together, the rounds one after another, since each round's
// arithmetic uses its loads first), the block sums their work, each thread decides its
// sequences' split counts and order keys, the block sorts the keys
// (longest piece first: fa_decode_order_key), then numbers the pieces and
// partial slots in that order (one scan of both: pieces in the low 32
// bits, slots in the high). Ends with the tables published (a barrier).
// kRounds: sequences a thread plans (1, 2 or 4), the fewest that cover
// the batch: the plan's loops and sort unroll to what the launch needs.
template <class T, int kRounds>
__device__ __forceinline__ void plan_by_length(const fa_fwd_args &a, int m_tiles, const PlanTables &t) {
  // The sort's keys, over ends and slot_base (written only after it).
  uint64_t *exchange = reinterpret_cast<uint64_t *>(t.ends);
  static_assert(sizeof(fa_seq) % 8 == 0, "the exchange buffer is 8-byte aligned");
  const int batch = a.batch, heads_k = a.num_heads_k;
  int64_t work = 0;
  int32_t rt[kRounds], kt[kRounds];
#pragma unroll
  for (int j = 0; j < kRounds; ++j) {
    const int b = j * T::kThreads + (int)threadIdx.x;
    rt[j] = kt[j] = 0;
    if (b < batch) {
      const fa_seq s = fa_locate_sequence(&a, b);
      rt[j] = (int32_t)fa_decode_seq_row_tiles(&a, &s, m_tiles);
      kt[j] = rt[j] > 0 ? (int32_t)fa_decode_seq_key_tiles(&a, &s) : 0;
      t.seqs[b] = s;
      t.row_tiles[b] = rt[j];
      t.key_tiles[b] = kt[j];
      work += (int64_t)rt[j] * heads_k * kt[j];
    }
  }
  int64_t total;
  block_exclusive_scan<T>(work, t.warp_sums, total);
  uint64_t key[kRounds];
#pragma unroll
  for (int j = 0; j < kRounds; ++j) {
    const int b = j * T::kThreads + (int)threadIdx.x;
    key[j] = 0;  // pads sort last
    if (b < batch) {
      const int32_t s = fa_decode_length_splits(kt[j], total, a.split_slots, a.splits);
      t.split_counts[b] = s;
      key[j] = fa_decode_order_key(fa_decode_piece_tiles(kt[j], rt[j], s), b);
    }
  }
  block_sort_descending<T, kRounds>(key, exchange);
#pragma unroll
  for (int j = 0; j < kRounds; ++j) {
    const int at = j * T::kThreads + (int)threadIdx.x;
    if (at < batch) t.order[at] = (int32_t)~(uint32_t)key[j];
  }
  __syncthreads();  // order and split_counts published; the exchange buffer is free
  int64_t carry = 0;
#pragma unroll
  for (int j = 0; j < kRounds; ++j) {
    const int at = j * T::kThreads + (int)threadIdx.x;  // a place in the order
    int64_t both = 0;  // pieces | partial slots << 32
    if (at < batch) {
      const int b = t.order[at];
      const int64_t units = (int64_t)t.row_tiles[b] * heads_k;
      const int32_t s = t.split_counts[b];
      both = units * s + (s > 1 ? units * s << 32 : 0);
    }
    int64_t round_total;
    const int64_t before = carry + block_exclusive_scan<T>(both, t.warp_sums, round_total);
    if (at < batch) {
      t.ends[at] = (int32_t)((before + both) & 0xffffffff);
      t.slot_base[at] = (int32_t)(before >> 32);
    }
    carry += round_total;
  }
  __syncthreads();
}

// Piece i of a planned launch: a binary search over the pieces' ends.
// False past the launch's pieces (the grid is sized for the most).
__device__ __forceinline__ bool piece_at(const PlanTables &t, int batch, int i, DecodePiece &pc, fa_seq &seq) {
  int lo = 0, hi = batch;  // the first place whose pieces end after piece i
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (t.ends[mid] > i)
      hi = mid;
    else
      lo = mid + 1;
  }
  if (lo >= batch) return false;
  const int b = t.order[lo];
  pc = piece_of_sequence(b, i - (lo > 0 ? t.ends[lo - 1] : 0), t.split_counts[b], t.row_tiles[b], t.slot_base[lo]);
  seq = t.seqs[b];
  return true;
}

// The plan in each block (plan_by_length), block blockIdx.x taking piece
// blockIdx.x.
template <class T, int kRounds>
__device__ bool find_piece_by_length(const fa_fwd_args &a, int m_tiles, unsigned char *tables, DecodePiece &pc,
                                     fa_seq &seq) {
  const PlanTables t = plan_tables(tables);
  plan_by_length<T, kRounds>(a, m_tiles, t);
  // < units + slots <= INT32_MAX (decode_supports)
  const bool found = piece_at(t, a.batch, (int)blockIdx.x, pc, seq);
  __syncthreads();  // every thread has read the tables before the ring is loaded
  return found;
}

constexpr int kWarpPlanMaxBatch = FA_DECODE_WARP_PLAN_MAX_BATCH;  // the plan in a warp: a lane per sequence

// Splits by length for at most 32 sequences: each warp plans the whole
// launch on its own, lane b for sequence b (its place, split count and
// key), the sort and the scans in shuffles: no shared memory, no barrier,
// and a few hundred instructions where the block's plan runs a 128-key
// network through shared memory. Same pieces, order and slots as
// find_piece_by_length, whose 64-bit keys fit 32 bits here: piece tiles
// above 5 bits of inverted lane (test_decode runs both plans); only the
// blocks that hold them differ where the pieces are equal and leave slots
// spare (fa_decode_block_piece).
template <class T>
__device__ bool find_piece_in_warp(const fa_fwd_args &a, int m_tiles, DecodePiece &pc, fa_seq &seq) {
  constexpr unsigned kAll = 0xffffffffu;
  const int lane = threadIdx.x & 31, batch = a.batch, heads_k = a.num_heads_k;
  fa_seq mine = {0, 0, 0, 0};
  int32_t rt = 0, kt = 0;
  if (lane < batch) {
    mine = fa_locate_sequence(&a, lane);
    rt = (int32_t)fa_decode_seq_row_tiles(&a, &mine, m_tiles);
    kt = rt > 0 ? (int32_t)fa_decode_seq_key_tiles(&a, &mine) : 0;
  }
  int64_t total = (int64_t)rt * heads_k * kt;
#pragma unroll
  for (int d = 1; d < 32; d *= 2) total += __shfl_xor_sync(kAll, total, d);
  decode_plan_mark(kDpSum, (unsigned)total);  // the trace's (decode_trace.cuh); nothing in the library
  // fa_decode_order_key's order in 32 bits: piece tiles above, 31 - lane
  // below (tiles past 2^27 - 1, caches near 2^31 keys, tie).
  int32_t splits = 1;
  uint32_t key = 0;  // pads sort last
  if (lane < batch) {
    splits = fa_decode_length_splits(kt, total, a.split_slots, a.splits);
    key = (uint32_t)min(fa_decode_piece_tiles(kt, rt, splits), (1 << 27) - 1) << 5 | (31u - lane);
  }
  decode_plan_mark(kDpSplits, key);
  // The network up to the first run that holds the batch (it sorts
  // descending); stages past it only reorder the pads.
#pragma unroll
  for (int k = 2; k <= 32; k *= 2) {
    if (k / 2 >= batch) break;
#pragma unroll
    for (int d = k / 2; d >= 1; d /= 2) {
      const uint32_t other = __shfl_xor_sync(kAll, key, d);
      if ((other > key) == (bool)fa_decode_sort_keeps_larger(lane, d, k)) key = other;
    }
  }
  decode_plan_mark(kDpSorted, key);
  // Place `lane` of the order: its sequence, pieces and partial slots.
  const bool placed = lane < batch;
  const int b_at = placed ? 31 - (int)(key & 31) : 0;
  const int32_t rt_at = __shfl_sync(kAll, rt, b_at), s_at = __shfl_sync(kAll, splits, b_at);
  const int64_t pieces = placed ? (int64_t)rt_at * heads_k * s_at : 0;
  const int64_t both = pieces + (s_at > 1 ? pieces << 32 : 0);  // pieces | partial slots << 32
  int64_t incl = both;
#pragma unroll
  for (int d = 1; d < 32; d *= 2) {
    const int64_t up = __shfl_up_sync(kAll, incl, d);
    if (lane >= d) incl += up;
  }
  const int32_t end = (int32_t)(incl & 0xffffffff), slot_base = (int32_t)((incl - both) >> 32);
  decode_plan_mark(kDpScanned, (unsigned)end);
  // Pieces of one size (equal caches) leave the first wave's spare slots
  // spread over its second half (fa_decode_block_piece); unequal ones keep
  // piece i at block i. Lane 0 holds the largest piece after the sort.
  const uint32_t tiles_at = key >> 5, largest = __shfl_sync(kAll, tiles_at, 0);
  const bool equal = __all_sync(kAll, !placed || tiles_at == 0 || tiles_at == largest);
  const int32_t pieces_total = __shfl_sync(kAll, end, 31);
  const int32_t slots = a.split_slots;
  const int i = fa_decode_block_piece((int)blockIdx.x, pieces_total, slots, equal ? slots / 2 : slots);
  if (i < 0) return false;  // the block's own: uniform
  const unsigned past = __ballot_sync(kAll, placed && end > i);  // places whose pieces end after block i
  const int lo = past != 0 ? __ffs(past) - 1 : 0;
  const int32_t prev_end = __shfl_sync(kAll, end, lo > 0 ? lo - 1 : 0);
  const int b = __shfl_sync(kAll, b_at, lo);
  const int32_t slot0 = __shfl_sync(kAll, slot_base, lo), s_b = __shfl_sync(kAll, splits, b),
                rt_b = __shfl_sync(kAll, rt, b);
  seq.q_start = __shfl_sync(kAll, mine.q_start, b);
  seq.k_start = __shfl_sync(kAll, mine.k_start, b);
  seq.len_q = __shfl_sync(kAll, mine.len_q, b);
  seq.len_k = __shfl_sync(kAll, mine.len_k, b);
  if (past == 0) return false;
  pc = piece_of_sequence(b, i - (lo > 0 ? prev_end : 0), s_b, rt_b, slot0);
  return true;
}

// Where a launch's pieces come from: the grid (no plan: splits x units),
// or splits by length planned in each warp (at most 32 sequences) or by
// the block, one, two or four sequences a thread (up to
// FA_DECODE_PLAN_MAX_BATCH). Each plan has a kernel of its own, so that a
// kernel holds one plan's code: with the block's three unrolled forms
// inlined in the kernel without a plan, every block of a small launch
// started and ended 2-3 us later (b1/b8), and with the three in one kernel
// the first blocks of a GPC to finish stalled ~20-25 us in the merge and
// epilogue of a launch of more than one wave, where the warp's plan (small
// code) does not (fwd_decode.md "A kernel per plan"). Out of line (a call)
// the 512-sequence launch lost 7-12%.
// kTickets: the pieces planned once, before the launch, by the tickets
// kernel (fwd_decode_tickets_kernel), each block reading its own
// (fwd_decode.md "Tickets").
enum class DecodePlan { kNone, kInWarp, kInBlock1, kInBlock2, kInBlock4, kTickets };

// Sequences a thread of the block's plan (T::kThreads of them a round).
__host__ __device__ constexpr int decode_plan_rounds(DecodePlan plan) {
  return plan == DecodePlan::kInBlock1 ? 1 : plan == DecodePlan::kInBlock2 ? 2 : 4;
}

// The block's plan for `batch` sequences: the fewest rounds that cover it.
template <class T>
DecodePlan decode_block_plan_of(int batch) {
  if (batch <= T::kThreads) return DecodePlan::kInBlock1;
  return batch <= 2 * T::kThreads ? DecodePlan::kInBlock2 : DecodePlan::kInBlock4;
}

// The plan of a launch of `batch` sequences split by length (split_slots >
// 0) over `units` units. Beyond the warp's plan, a launch whose units fit
// the block slots (one wave) plans once in the tickets kernel: with the
// block's plan every block planned at its start and the launch took
// 1.3-2.6% longer (H100, 48-64 sequences of 1..32k keys, GQA 32/4).
// A launch of more than one wave keeps the block's plan, each later block
// planning at its slot's turnover under the others' streaming: there the
// tickets' serial plan cost 0.2-1.7% (fwd_decode.md "Tickets").
template <class T>
DecodePlan decode_plan_of(int64_t split_slots, int batch, int64_t units) {
  static_assert(FA_DECODE_PLAN_MAX_BATCH == 4 * T::kThreads, "up to 4 rounds of sequences");
  if (split_slots <= 0) return DecodePlan::kNone;
  if (batch <= kWarpPlanMaxBatch) return DecodePlan::kInWarp;
  if (units <= split_slots) return DecodePlan::kTickets;
  return decode_block_plan_of<T>(batch);
}

// ------------------------------------------------------------ tickets

// The pieces' workspace of a launch over every unit (fwd_decode_plan.h).
__device__ __forceinline__ fa_decode_pieces launch_pieces(const fa_fwd_args &a, int m_tiles) {
  return fa_decode_pieces_layout(&a, (int64_t)a.batch * a.num_heads_k * m_tiles);
}

// A unit's entry for the combine, {first slot, splits}, from its split 0.
__device__ __forceinline__ void write_unit_entry(const fa_fwd_args &a, int m_tiles, const DecodePiece &pc) {
  int32_t *entry = reinterpret_cast<int32_t *>(static_cast<char *>(a.workspace) + launch_pieces(a, m_tiles).units_offset) +
                   2 * (((int64_t)pc.b * a.num_heads_k + pc.kv_head) * m_tiles + pc.mt);
  entry[0] = pc.slot0, entry[1] = pc.splits;
}

__device__ __forceinline__ fa_decode_ticket *launch_tickets(const fa_fwd_args &a, int m_tiles) {
  return reinterpret_cast<fa_decode_ticket *>(static_cast<char *>(a.workspace) + launch_pieces(a, m_tiles).tickets_offset);
}

static_assert(sizeof(fa_decode_ticket) == FA_DECODE_TICKET_BYTES, "fwd_decode_plan.h's ticket size");

// Block blockIdx.x's piece from its ticket (independent loads, one latency).
__device__ __forceinline__ bool read_ticket(const fa_fwd_args &a, int m_tiles, DecodePiece &pc, fa_seq &seq) {
  const fa_decode_ticket tk = launch_tickets(a, m_tiles)[blockIdx.x];
  if (tk.splits == 0) return false;
  pc.b = tk.b, pc.kv_head = tk.kv_head, pc.mt = tk.mt, pc.split = tk.split, pc.splits = tk.splits, pc.slot0 = tk.slot0;
  seq = tk.seq;
  return true;
}

// Tickets a block of the tickets kernel writes. Every block plans the whole
// launch (the same tables) and fills its range of tickets: the plan's time
// is paid once, in parallel, however many blocks the launch has.
constexpr int kTicketsPerPlanBlock = 1024;

// The tickets kernel: plans a by-length launch once (plan_by_length) and
// writes each of its `blocks` blocks' piece, and each unit's entry for the
// combine, into the workspace; the decode kernel (DecodePlan::kTickets),
// launched after it as its programmatic dependent, reads them after
// griddep_wait. Shared memory: kPlanTableBytes.
template <class T, int kRounds>
__global__ void __launch_bounds__(T::kThreads)
    fwd_decode_tickets_kernel(const __grid_constant__ fa_fwd_args a, int m_tiles, int blocks) {
  extern __shared__ __align__(16) unsigned char smem[];
  griddep_wait();               // a programmatic dependent, like the decode kernel
  griddep_launch_dependents();  // the decode grid may start: it waits for this grid's writes
  const PlanTables t = plan_tables(smem);
  plan_by_length<T, kRounds>(a, m_tiles, t);
  fa_decode_ticket *tickets = launch_tickets(a, m_tiles);
  const int first = (int)blockIdx.x * kTicketsPerPlanBlock, last = min(blocks, first + kTicketsPerPlanBlock);
  for (int i = first + (int)threadIdx.x; i < last; i += T::kThreads) {
    DecodePiece pc = {0, 0, 0, 0, 0, 0};
    fa_decode_ticket tk = {{0, 0, 0, 0}, 0, 0, 0, 0, 0, 0};
    if (piece_at(t, a.batch, i, pc, tk.seq)) {
      tk.b = pc.b, tk.kv_head = pc.kv_head, tk.mt = pc.mt, tk.split = pc.split, tk.splits = pc.splits;
      tk.slot0 = pc.slot0;
      if (pc.split == 0) write_unit_entry(a, m_tiles, pc);
    }
    tickets[i] = tk;
  }
}

// Host side: the tickets kernel of a launch of `blocks` decode blocks.
template <class T>
cudaError_t launch_decode_tickets(const fa_fwd_args *args, int m_tiles, long long blocks, cudaStream_t stream) {
  const void *kernel;
  switch (decode_block_plan_of<T>(args->batch)) {
    case DecodePlan::kInBlock1: kernel = reinterpret_cast<const void *>(fwd_decode_tickets_kernel<T, 1>); break;
    case DecodePlan::kInBlock2: kernel = reinterpret_cast<const void *>(fwd_decode_tickets_kernel<T, 2>); break;
    default: kernel = reinterpret_cast<const void *>(fwd_decode_tickets_kernel<T, 4>); break;
  }
  int m_tiles_arg = m_tiles, blocks_arg = (int)blocks;
  void *params[] = {const_cast<fa_fwd_args *>(args), &m_tiles_arg, &blocks_arg};
  const unsigned grid = (unsigned)((blocks + kTicketsPerPlanBlock - 1) / kTicketsPerPlanBlock);
  static_assert(kPlanTableBytes <= 48 * 1024, "the tickets kernel's tables need no opt-in");
  return launch_kernel(kernel, dim3(grid), dim3(T::kThreads), kPlanTableBytes, stream, params,
                       T::kArch >= 90 && args->programmatic != 0);
}

}  // namespace fa
