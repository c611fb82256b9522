"""Time the library against PyTorch's attention backends: same run, same inputs.

    python3 bench/bench.py [--quick] [--out DIR] [--md FILE] [--png FILE]
    python3 bench/bench.py --replot RESULTS.json [--png FILE]   (no GPU, no torch)

Grid (../shared/BENCH.md): bf16 and fp16, head dim 64/128/256, heads =
2048 / head_dim, batch x seqlen = 16384 tokens, seqlen 512..16384, causal
and full; plus packed varlen GQA, sliding window and other head dims.
The library runs through build/libflashattn.so (ctypes) on torch's current
stream; peers are torch varlen_attn (FlashAttention 2 inside torch), SDPA
cuDNN and SDPA flash. On the rows of equal-length sequences ours is timed
in both calls a caller could make on the same memory, varlen (cu_seqlens)
and dense (batch x seqlen), and ours_ms is the faster (ours_call), as
cudnn_ms is the faster of cuDNN's two layouts (since the ninety-sixth
session; before it, the varlen call alone: ours_varlen_ms). Timing:
triton's do_bench (CUDA events, warm-up, median), in 3 interleaved rounds
per row whose median is reported. Each row also checks the library's
output against varlen_attn's.

When matplotlib is importable, a run also writes a PNG plot (plot.py: TF/s
of ours, varlen_attn and cuDNN per head dim and dtype, causal and full) to
--png and, when $OUT is set, to $OUT/bench.png. --replot re-draws the plot
of a saved JSON result without running anything.
"""
import argparse
import ctypes
import datetime
import json
import math
import os
import re
import sys

try:
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.varlen import varlen_attn
    from triton.testing import do_bench
except ImportError as e:  # --replot needs none of these
    torch, TORCH_IMPORT_ERROR = None, e

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from flashattn import _native as N  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plot as bench_plot  # noqa: E402

DEV = "cuda"
LIB = None  # loaded by main() (--replot needs no library)
SPLITS = 0  # --splits: our calls' num_splits (with the workspace fa_fwd_workspace_size asks for)
FAMILY = None  # --family: run every call on that family's kernel (fa_fwd_with_kernel), not dispatch's choice
REPEATS = 3
TIMER = "do_bench"  # --timer: do_bench (BENCH.md's method so far) or queued (queued_median)
# The extra rows each decide a bar alone (packed GQA, SWA, d80, d96) and the
# packed ones spread up to 10% between rounds: more rounds, same method.
EXTRA_REPEATS = 7
CHECKPOINT = None  # (env, path): the JSON rewritten after every row, so a run cut short keeps its rows


class Call:
    """A prepared library call: the params struct is built once, so the timed
    region is one ctypes call plus the library's own host work."""

    def __init__(self, q, k, v, cu_q, cu_k, max_q, max_k, window=(-1, -1), softcap=0.0, dense=False):
        """dense: the same packed [b * s, h, d] memory passed as a dense
        call ([b, s, h, d], no cu_seqlens; every sequence max_q / max_k
        long), as a caller with equal-length sequences would."""
        self.out = torch.empty_like(q)
        self.keep = (q, k, v, cu_q, cu_k)
        p = LIB.fa_fwd_params_default()
        p.backend = N.FA_BACKEND_CUDA
        p.dtype = N.FA_DTYPE_BF16 if q.dtype == torch.bfloat16 else N.FA_DTYPE_FP16
        p.batch = cu_q.numel() - 1
        p.num_heads_q, p.num_heads_k, p.head_dim = q.shape[1], k.shape[1], q.shape[2]
        if not dense:
            p.cu_seqlens_q, p.cu_seqlens_k = cu_q.data_ptr(), cu_k.data_ptr()
            p.total_q, p.total_k = q.shape[0], k.shape[0]
        elif q.shape[0] != p.batch * max_q or k.shape[0] != p.batch * max_k:
            raise ValueError("a dense call needs every sequence max_q / max_k long")
        p.max_seqlen_q, p.max_seqlen_k = max_q, max_k
        p.q, p.k, p.v, p.out = q.data_ptr(), k.data_ptr(), v.data_ptr(), self.out.data_ptr()
        p.window_left, p.window_right = window
        p.softcap = softcap
        p.stream = torch.cuda.current_stream().cuda_stream
        p.num_splits = SPLITS
        self.p = p
        self.pp = ctypes.byref(p)
        msg = N.Message()
        self.pinned = None if FAMILY is None else family_kernel(FAMILY, p, max_k, window)
        # The workspace the call asks for, allocated once here as a runtime would (not in the timed call).
        size = ctypes.c_size_t()
        st = (LIB.fa_fwd_workspace_size(self.pp, ctypes.byref(size), ctypes.byref(msg)) if self.pinned is None else
              LIB.fa_fwd_workspace_size_with_kernel(self.pp, self.pinned, ctypes.byref(size), ctypes.byref(msg)))
        if st != 0:
            raise RuntimeError(msg.text.decode())
        self.ws = torch.empty(size.value + 256, dtype=torch.uint8, device=q.device) if size.value else None
        if self.ws is not None:
            p.workspace, p.workspace_bytes = (self.ws.data_ptr() + 255) // 256 * 256, size.value
        if self.pinned is not None:
            self.kernel = N.kernel_info(LIB, self.pinned).name.decode()
            return
        idx = ctypes.c_size_t()
        st = LIB.fa_fwd_query(self.pp, ctypes.byref(idx), ctypes.byref(msg))
        if st != 0:
            raise RuntimeError(msg.text.decode())
        self.kernel = N.kernel_info(LIB, idx.value).name.decode()
        if hasattr(LIB, "fa_fwd_query_dispatch"):  # 0.4: a pair names both kernels ("short + long")
            info = N.FwdDispatchInfo()
            if LIB.fa_fwd_query_dispatch(self.pp, ctypes.byref(info), ctypes.byref(msg)) == 0 and info.num_kernels == 2:
                self.kernel += " + " + N.kernel_info(LIB, info.kernel_index[1]).name.decode()

    def __call__(self):
        st = LIB.fa_fwd(self.pp, None) if self.pinned is None else LIB.fa_fwd_with_kernel(self.pp, self.pinned, None)
        if st != 0:
            raise RuntimeError(LIB.fa_status_string(st).decode())
        return self.out


def family_kernel(family, p, max_k, window):
    """The table index of `family`'s kernel for this call, as its own dispatch
    order would pick it: this GPU's newest arch the family builds for, the
    call's own mask before "local" (which computes any window), and among
    long-key kernels (`_k<min keys>`) the one of the largest minimum the
    call reaches."""
    major, minor = torch.cuda.get_device_capability()
    mask = (N.FA_MASK_NONE if window == (-1, -1) else N.FA_MASK_CAUSAL if window == (-1, 0) else N.FA_MASK_LOCAL)
    best, best_key = None, None
    for i in range(LIB.fa_kernel_count()):
        info = N.kernel_info(LIB, i)
        if (info.family.decode() != family or info.backend != N.FA_BACKEND_CUDA or info.head_dim != p.head_dim
                or info.dtype != p.dtype or info.arch > 10 * major + minor
                or info.mask not in (mask, N.FA_MASK_LOCAL)):
            continue
        m = re.search(r"_k(\d+)$", info.name.decode())
        min_keys = int(m.group(1)) if m else 0
        if min_keys > max_k:
            continue
        key = (info.arch, info.mask == mask, min_keys)
        if best_key is None or key > best_key:
            best, best_key = i, key
    if best is None:
        raise RuntimeError(f"no {family} kernel in the table for d{p.head_dim} dtype {p.dtype} on sm_{major}{minor}")
    return best


def bench(fn):
    try:
        fn()
        torch.cuda.synchronize()
        if TIMER == "queued":
            return queued_median(fn)
        return do_bench(fn, warmup=25, rep=100, return_mode="median")
    except Exception as e:  # noqa: BLE001 - a failing peer is reported, not fatal
        return "ERR " + type(e).__name__ + ": " + str(e).split("\n")[0][:60]


def event_median(fn, reps=100, flush=False, sleep_cycles=0):
    """The median of `reps` calls of fn, each between two CUDA events (ms),
    after 10 untimed; before each, with `flush` do_bench's L2 flush (256 MB
    zeroed) and with `sleep_cycles` a GPU sleep, both ahead of the start
    event."""
    cache = torch.empty(256 << 20, dtype=torch.int8, device=DEV) if flush else None
    for _ in range(10):
        fn()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for start, end in ev:
        if cache is not None:
            cache.zero_()
        if sleep_cycles:
            torch.cuda._sleep(sleep_cycles)
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    t = sorted(start.elapsed_time(end) for start, end in ev)
    return t[len(t) // 2]


def queued_median(fn):
    """--timer queued: do_bench's L2 flush before each call, then a GPU
    sleep (~200 us at 2 GHz) before the start event, so that the call's
    host work (ours through ctypes, SDPA's dispatch) is done and its
    kernels queued before the GPU reaches the event: the events then hold
    the GPU's time alone. do_bench holds the host's work too wherever it
    outlasts the flush (fifty-ninth session: cuDNN's SDPA call took 137-148
    us back to back against its 124-128 us kernel). Median, in ms."""
    return event_median(fn, flush=True, sleep_cycles=400_000)


def packed(b, s, h, d, dt):
    return torch.randn(b * s, h, d, device=DEV, dtype=dt)


def cu_from_lens(lens):
    cu = torch.zeros(len(lens) + 1, dtype=torch.int32)
    cu[1:] = torch.cumsum(torch.tensor(lens), 0)
    return cu.to(DEV)


def rel_diff(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def time_row(rows, label, flops, q, k, v, cu_q, cu_k, max_q, max_k, window, dense_shape=None, peers=True,
             repeats=None):
    """Time ours and the peers on one problem, `repeats` (default REPEATS)
    rounds interleaved (ours, then each peer), median per function; append
    a result row."""
    ours = Call(q, k, v, cu_q, cu_k, max_q, max_k, window)
    fns = {"ours_varlen_ms": ours}
    if dense_shape is not None:  # equal lengths: also the dense call; ours_ms is the faster of the two (below)
        ours_dense = Call(q, k, v, cu_q, cu_k, max_q, max_k, window, dense=True)
        fns["ours_dense_ms"] = ours_dense
    if peers:
        def vfn():
            return varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k, window_size=window)
        fns["varlen_ms"] = vfn
        if dense_shape is not None:
            b, s = dense_shape
            d = q.shape[2]
            qd, kd, vd = (x.view(b, s, x.shape[1], d).transpose(1, 2) for x in (q, k, v))
            causal = window == (-1, 0)
            # cuDNN in both layouts a caller could give it: [b, h, s, d] views
            # of our [b, s, h, d] memory, and contiguous [b, h, s, d] copies;
            # cudnn_ms is the faster (below).
            qc, kc, vc = (x.contiguous() for x in (qd, kd, vd))
            for be, nm, args in [(SDPBackend.CUDNN_ATTENTION, "cudnn_bshd_ms", (qd, kd, vd)),
                                 (SDPBackend.CUDNN_ATTENTION, "cudnn_bhsd_ms", (qc, kc, vc)),
                                 (SDPBackend.FLASH_ATTENTION, "sdpa_flash_ms", (qd, kd, vd))]:
                def sfn(be=be, args=args):
                    with sdpa_kernel([be]):
                        return F.scaled_dot_product_attention(*args, is_causal=causal)
                fns[nm] = sfn
    times = {key: [] for key in fns}
    for _ in range(repeats or REPEATS):
        for key, fn in fns.items():
            times[key].append(bench(fn))
    r = {"row": label, "kernel": ours.kernel, "flops": flops}
    for key, ts in times.items():
        ok = sorted(t for t in ts if isinstance(t, float))
        r[key] = ok[len(ok) // 2] if ok else ts[0]
        r[key.replace("_ms", "_all_ms")] = ts
    # ours in its faster call, as cuDNN in its faster layout: a caller with
    # equal-length sequences may pass them dense or varlen (ours_call says which)
    calls = [(r[x], x[5:-3]) for x in ("ours_varlen_ms", "ours_dense_ms") if isinstance(r.get(x), float)]
    r["ours_ms"], r["ours_call"] = min(calls) if calls else (r["ours_varlen_ms"], "varlen")
    layouts = [r[x] for x in ("cudnn_bshd_ms", "cudnn_bhsd_ms") if isinstance(r.get(x), float)]
    if "cudnn_bshd_ms" in r:
        r["cudnn_ms"] = min(layouts) if layouts else r["cudnn_bshd_ms"]
    if peers:
        r["diff_vs_varlen"] = rel_diff(ours(), fns["varlen_ms"]())
    if dense_shape is not None:  # the same kernel on the same tiles: the same bits
        r["dense_equals_varlen"] = bool(torch.equal(ours_dense(), ours()))
        if ours_dense.kernel != ours.kernel:
            r["kernel_dense"] = ours_dense.kernel
    rows.append(r)
    print(fmt_row(r), flush=True)
    if CHECKPOINT is not None:
        with open(CHECKPOINT[1], "w") as fh:
            json.dump({"env": CHECKPOINT[0], "rows": rows, "partial": True}, fh, indent=1)


def tflops(r, key):
    ms = r.get(key)
    return r["flops"] / ms / 1e9 if isinstance(ms, float) else None


def ratio(r, peer):
    a, b = r.get("ours_ms"), r.get(peer)
    return b / a if isinstance(a, float) and isinstance(b, float) else None


def f1(x, spec="{:.0f}"):
    return spec.format(x) if x is not None else "-"


def fmt_row(r):
    return (f"{r['row']:44s} ours {f1(tflops(r, 'ours_ms')):>4s} TF/s {r.get('ours_call', ''):6s} "
            f"(varlen call {f1(tflops(r, 'ours_varlen_ms')):>4s}) | varlen {f1(tflops(r, 'varlen_ms')):>4s} "
            f"x{f1(ratio(r, 'varlen_ms'), '{:.2f}')} | cudnn {f1(tflops(r, 'cudnn_ms')):>4s} "
            f"x{f1(ratio(r, 'cudnn_ms'), '{:.2f}')} | diff {f1(r.get('diff_vs_varlen'), '{:.1e}')}")


def grid(rows, seqs, dtypes, dims):
    total = 16384
    for dt in dtypes:
        for d in dims:
            h = 2048 // d
            for s in seqs:
                b = max(1, total // s)
                q, k, v = (packed(b, s, h, d, dt) for _ in range(3))
                cu = torch.arange(0, (b + 1) * s, s, device=DEV, dtype=torch.int32)
                for causal in (False, True):
                    f = 4 * b * s * s * h * d / (2 if causal else 1)
                    label = f"{str(dt)[6:]} d{d} b{b} h{h} s{s} {'causal' if causal else 'full'}"
                    time_row(rows, label, f, q, k, v, cu, cu, s, s, (-1, 0) if causal else (-1, -1), (b, s))
                del q, k, v


def extras(rows):
    dt = torch.bfloat16
    g = torch.Generator().manual_seed(0)
    lens = torch.randint(64, 4096, (24,), generator=g).tolist()
    hq, hk, d = 32, 8, 128
    q = torch.randn(sum(lens), hq, d, device=DEV, dtype=dt)
    k = torch.randn(sum(lens), hk, d, device=DEV, dtype=dt)
    v = torch.randn(sum(lens), hk, d, device=DEV, dtype=dt)
    cu = cu_from_lens(lens)
    f = sum(4 * hq * d * l * l / 2 for l in lens)
    time_row(rows, f"bf16 packed24 gqa32/8 d128 causal", f, q, k, v, cu, cu, max(lens), max(lens), (-1, 0),
             repeats=EXTRA_REPEATS)
    s, h = 16384, 16
    q, k, v = (torch.randn(s, h, d, device=DEV, dtype=dt) for _ in range(3))
    cu1 = torch.tensor([0, s], device=DEV, dtype=torch.int32)
    vis = sum(min(4096 + 1, i + 1) for i in range(s))
    time_row(rows, "bf16 swa4096 d128 h16 s16384", 4 * h * d * vis, q, k, v, cu1, cu1, s, s, (4096, 0),
             repeats=EXTRA_REPEATS)
    # s4096: the rows; s16384: the long-key kernels (from 8192 keys)
    for d, s in ((80, 4096), (96, 4096), (80, 16384), (96, 16384)):
        h, b = 2048 // d if 2048 % d == 0 else 16, 16384 // s
        q, k, v = (packed(b, s, h, d, dt) for _ in range(3))
        cu = torch.arange(0, (b + 1) * s, s, device=DEV, dtype=torch.int32)
        for causal in (False, True):
            f = 4 * b * s * s * h * d / (2 if causal else 1)
            time_row(rows, f"bf16 d{d} b{b} h{h} s{s} {'causal' if causal else 'full'}", f, q, k, v, cu, cu, s, s,
                     (-1, 0) if causal else (-1, -1), (b, s), repeats=EXTRA_REPEATS)
    lens = torch.randint(64, 4097, (40,), generator=g).tolist()
    h, d = 16, 80
    q, k, v = (torch.randn(sum(lens), h, d, device=DEV, dtype=dt) for _ in range(3))
    cu = cu_from_lens(lens)
    f = sum(4 * h * d * l * l for l in lens)
    time_row(rows, "bf16 vision packed40 h16 d80 full", f, q, k, v, cu, cu, max(lens), max(lens), (-1, -1),
             repeats=EXTRA_REPEATS)


def gemm_ceiling(n=8192):
    """TF/s of a dense n x n x n matmul per dtype (torch/cuBLAS), timed like
    the rows: the tensor-core ceiling that attention's TF/s are read against."""
    out = {}
    for name, dt in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        a, b = (torch.randn(n, n, device=DEV, dtype=dt) for _ in range(2))
        ts = sorted(t for t in (bench(lambda: a @ b) for _ in range(REPEATS)) if isinstance(t, float))
        out[name] = round(2 * n ** 3 / ts[len(ts) // 2] / 1e9, 1) if ts else None
        del a, b
    print(f"GEMM ceiling ({n}^3, cuBLAS): " + ", ".join(f"{k} {v} TF/s" for k, v in out.items()), flush=True)
    return out


def host_overhead(n=2000):
    """Host time per call on a one-token problem: what the API's checks and
    the launch cost the calling thread (the GPU work is ~microseconds)."""
    import time
    d, h = 128, 8
    q, k, v = (torch.randn(1, h, d, device=DEV, dtype=torch.bfloat16) for _ in range(3))
    cu = torch.tensor([0, 1], device=DEV, dtype=torch.int32)
    ours = Call(q, k, v, cu, cu, 1, 1)
    result = {}
    for name, fn in [("ours", ours), ("varlen_attn", lambda: varlen_attn(q, k, v, cu, cu, 1, 1))]:
        for _ in range(100):
            fn()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        result[name] = (t1 - t0) / n * 1e6
    print(f"host time per call (1-token problem, {n} calls, no sync): ours {result['ours']:.1f} us, "
          f"varlen_attn {result['varlen_attn']:.1f} us", flush=True)
    return result


def command_options(argv):
    """The options that chose what ran: argv without where the output went
    (--md, --png and their values)."""
    out, skip = [], False
    for x in argv:
        if skip:
            skip = False
        elif x in ("--md", "--png"):
            skip = True
        elif not x.startswith(("--md=", "--png=")):
            out.append(x)
    return out


def markdown(rows, env):
    out = [f"Device: {env['device']}; torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}; "
           f"date {env['date']}. Command: `python3 bench/bench.py"
           + ("".join(" " + x for x in command_options(env["argv"])) if "argv" in env else
              (f" --splits {env['splits']}" if env.get("splits") else "")
              + (f" --family {env['family']}" if env.get("family") else "")
              + (" --timer queued" if env.get("timer") == "queued" else ""))
           + f"` (median of {REPEATS} interleaved rounds, "
           f"{EXTRA_REPEATS} for the extra rows, of "
           + ("queued_median's medians: L2 flushed, GPU time alone" if env.get("timer") == "queued" else "triton do_bench medians")
           + "). GEMM ceiling in the same run (8192^3 matmul, cuBLAS): "
           + ", ".join(f"{k} {v} TF/s" for k, v in (env.get("gemm_tflops") or {}).items()) + ".", "",
           "TF/s of the visible attention FLOPs; xN = peer time / our time (above 1: we are faster).", "",
           "ours: the faster of our two calls a caller with equal-length sequences could make, dense or varlen "
           "(which in brackets), as cuDNN's is the faster of its two layouts; `ours varlen call` is the varlen "
           "call alone (the only call before the ninety-sixth session).", "",
           "| problem | kernel | ours TF/s | ours varlen call TF/s | varlen_attn TF/s | ours vs varlen | cuDNN TF/s | "
           "ours vs cuDNN | SDPA flash TF/s | diff vs varlen |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['row']} | {r['kernel']} | {f1(tflops(r, 'ours_ms'))}"
                   + (f" ({r['ours_call']})" if "ours_dense_ms" in r else "") + " |"
                   f" {f1(tflops(r, 'ours_varlen_ms'))} | {f1(tflops(r, 'varlen_ms'))} | "
                   f"{f1(ratio(r, 'varlen_ms'), '{:.2f}')} | {f1(tflops(r, 'cudnn_ms'))} | "
                   f"{f1(ratio(r, 'cudnn_ms'), '{:.2f}')} | {f1(tflops(r, 'sdpa_flash_ms'))} | "
                   f"{f1(r.get('diff_vs_varlen'), '{:.1e}')} |")
    return "\n".join(out) + "\n"


def main():
    global EXTRA_REPEATS  # read below as --extra-repeats' default
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dims", default="64,128,256")
    ap.add_argument("--seqs", help="the grid's sequence lengths (default 512..16384; --quick 512,2048,8192)")
    ap.add_argument("--dtypes", default="bf16,fp16")
    ap.add_argument("--no-extras", action="store_true")
    ap.add_argument("--only-extras", action="store_true", help="the extra rows alone (no grid)")
    ap.add_argument("--overhead-only", action="store_true", help="only measure host time per call")
    ap.add_argument("--md", help="write the Markdown table here")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds per row (median)")
    ap.add_argument("--extra-repeats", type=int, default=EXTRA_REPEATS,
                    help="interleaved timing rounds per extra row (packed GQA, SWA, d80, d96, vision)")
    ap.add_argument("--splits", type=int, default=0, help="our calls' num_splits (wgmma: 0 or > 1 shares the last "
                    "round of the persistent grid out by keys, 1 does not; its workspace is allocated once per row)")
    ap.add_argument("--family", help="run every call of ours on this kernel family (e.g. mma) through "
                    "fa_fwd_with_kernel, bypassing dispatch: to time a family that dispatch does not pick here")
    ap.add_argument("--timer", choices=["do_bench", "queued"], default="do_bench",
                    help="do_bench: triton's (L2 flushed, the host's work per call included where it outlasts the "
                    "flush); queued: the same flush, then a GPU sleep before the start event (GPU time alone)")
    ap.add_argument("--png", help="write the plot here (needs matplotlib; also $OUT/bench.png when $OUT is set)")
    ap.add_argument("--replot", metavar="JSON", help="only plot a saved result (bench.json) to --png "
                    "(default: the JSON's path with .png); needs no GPU")
    args = ap.parse_args()
    if args.replot:
        with open(args.replot) as fh:
            data = json.load(fh)
        print("wrote", bench_plot.plot(data, args.png or os.path.splitext(args.replot)[0] + ".png"))
        return
    if torch is None:
        raise TORCH_IMPORT_ERROR
    global REPEATS, LIB, SPLITS, FAMILY, TIMER
    REPEATS = args.repeats
    TIMER = args.timer
    SPLITS = args.splits
    FAMILY = args.family
    EXTRA_REPEATS = args.extra_repeats
    LIB = N.load()
    p = torch.cuda.get_device_properties(0)
    env = {"device": p.name, "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version(), "date": datetime.date.today().isoformat()}
    print(env)
    if args.overhead_only:
        host_overhead()
        return
    env["gemm_tflops"] = gemm_ceiling()
    env["splits"] = SPLITS
    env["family"] = FAMILY
    env["timer"] = TIMER
    env["argv"] = sys.argv[1:]  # the command as run (the Markdown's header)
    global CHECKPOINT
    if os.environ.get("OUT"):
        CHECKPOINT = (env, os.path.join(os.environ["OUT"], "bench.json"))
    seqs = [512, 2048, 8192] if args.quick else [512, 1024, 2048, 4096, 8192, 16384]
    if args.seqs:
        seqs = [int(x) for x in args.seqs.split(",")]
    dts = [{"bf16": torch.bfloat16, "fp16": torch.float16}[x] for x in args.dtypes.split(",")]
    rows = []
    if not args.only_extras:
        grid(rows, seqs, dts, [int(x) for x in args.dims.split(",")])
    if not args.no_extras:
        extras(rows)
    md = markdown(rows, env)
    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "bench.json"), "w") as fh:
            json.dump({"env": env, "rows": rows}, fh, indent=1)
        with open(os.path.join(out, "bench.md"), "w") as fh:
            fh.write(md)
    if args.md:
        with open(args.md, "w") as fh:
            fh.write(md)
    pngs = [x for x in (args.png, os.path.join(out, "bench.png") if out else None) if x]
    if pngs and bench_plot.have_matplotlib():
        for path in pngs:
            try:
                print("wrote", bench_plot.plot({"env": env, "rows": rows}, path))
            except Exception as e:  # noqa: BLE001 - a plot failure must not lose the run
                print(f"plot {path} failed: {type(e).__name__}: {e}")
    elif pngs:
        print("matplotlib is not importable: no PNG written")
    worst = min((ratio(r, "varlen_ms") or 9, r["row"]) for r in rows)
    print(f"\nworst ratio vs varlen_attn: {worst[0]:.2f} ({worst[1]})")


if __name__ == "__main__":
    main()
