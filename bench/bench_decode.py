"""Decode over a KV cache: the library against cuDNN and varlen_attn, same run, same inputs.

    python3 bench/bench_decode.py [--md FILE] [--json FILE] [--quick] [--head-dim D] [--shapes B:L,...] [--pages P,...]

Rows (issue 10, BENCH.md): bf16, GQA 32/8, d128, one query per sequence,
B x L in {1 x 131072, 8 x 32768, 32 x 8192, 128 x 1024}:
  - ours on a contiguous cache [B, L, 8, 128] and on the same memory seen as
    pages of 16, 64, 256 and 1 tokens in a shuffled block table;
  - SDPA cuDNN (enable_gqa) on the cache as [b, h, s, d] views of both
    layouts a caller could give it: our [b, s, h, d] memory transposed, and a
    contiguous [b, h, s, d] copy; cudnn_ms is the faster;
  - torch varlen_attn with the 8 KV heads passed natively.
Then speculative decoding (4 queries per sequence, b32 x 8192, bottom-right
causal) and a mixed continuous batch (48 decoding sequences with 1..16k
cached tokens plus 2 prefill chunks of 512 over 4096 cached tokens, paged,
one call) next to its parts run separately; with --sections mixed-small
also a small one (4 decoding sequences of 4096 cached plus 1 chunk), the
low-load server's batch.
--head-dim D (default 128): every row at head dim D instead (the rows'
names say it), e.g. 64 or 256, whose decode kernels have other ring
depths (src/cuda/fwd_decode.md "Tile sizes"); the issue's bar is d128.
Timing: triton's do_bench (CUDA events, L2 flushed, median), one method for
every implementation. K/V bytes read per second against the measured copy
ceiling (read + write of a 2 GiB buffer). Each row checks our output
against varlen_attn's on the same (gathered) keys.
"""
import argparse
import ctypes
import datetime
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.varlen import varlen_attn
from triton.testing import do_bench

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from flashattn import _native as N  # noqa: E402

DEV = "cuda"
HQ, HK, D = 32, 8, 128
LIB = None
OLD = None  # --ab: the older library, timed interleaved with LIB


def bench(fn):
    try:
        fn()
        torch.cuda.synchronize()
        return do_bench(fn, warmup=25, rep=200, return_mode="median")
    except Exception as e:  # noqa: BLE001 - a failing peer is reported, not fatal
        return "ERR " + type(e).__name__ + ": " + str(e).split("\n")[0][:80]


class Call:
    """A prepared fa_fwd call over a cache (contiguous or paged)."""

    def __init__(self, q, cu_q, max_q, k, v, seqused, max_k, table=None, page_size=0, num_pages=0,
                 window=(-1, -1), num_splits=0, cu_k=None, total_k=0, lib=None, kv_strides=None):
        self.lib = lib or LIB
        self.keep = [q, cu_q, k, v, seqused, table, cu_k]
        self.out = torch.empty_like(q)
        p = self.lib.fa_fwd_params_default()
        p.backend, p.dtype = N.FA_BACKEND_CUDA, N.FA_DTYPE_BF16
        p.batch = cu_q.numel() - 1
        p.num_heads_q, p.num_heads_k, p.head_dim = q.shape[1], k.shape[-2], q.shape[2]
        p.cu_seqlens_q, p.total_q, p.max_seqlen_q = cu_q.data_ptr(), q.shape[0], max_q
        p.q, p.k, p.v, p.out = q.data_ptr(), k.data_ptr(), v.data_ptr(), self.out.data_ptr()
        p.seqused_k = seqused.data_ptr() if seqused is not None else None  # None: every cache holds max_k keys
        p.max_seqlen_k = max_k
        if table is not None:
            p.block_table = table.data_ptr()
            p.block_table_stride = table.shape[1]
            p.max_pages_per_seq = table.shape[1]
            p.page_size, p.num_pages = page_size, num_pages
            p.k_batch_stride = p.v_batch_stride = page_size * k.shape[-2] * k.shape[-1]
        elif kv_strides is not None:  # dense: q [b, max_q, HQ, D], cache with (batch, row, head) strides
            p.cu_seqlens_q, p.total_q = None, 0
            p.k_batch_stride, p.k_row_stride, p.k_head_stride = kv_strides
            p.v_batch_stride, p.v_row_stride, p.v_head_stride = kv_strides
        else:
            p.cu_seqlens_k, p.total_k = cu_k.data_ptr(), total_k
        p.window_left, p.window_right = window
        p.num_splits = num_splits
        p.stream = torch.cuda.current_stream().cuda_stream
        msg, size = N.Message(), ctypes.c_size_t()
        if self.lib.fa_fwd_workspace_size(ctypes.byref(p), ctypes.byref(size), ctypes.byref(msg)) != 0:
            raise RuntimeError(msg.text.decode())
        self.ws = torch.empty(max(size.value, 1), device=DEV, dtype=torch.uint8)
        p.workspace, p.workspace_bytes = (self.ws.data_ptr(), size.value) if size.value else (None, 0)
        idx = ctypes.c_size_t()
        if self.lib.fa_fwd_query(ctypes.byref(p), ctypes.byref(idx), ctypes.byref(msg)) != 0:
            raise RuntimeError(msg.text.decode())
        self.kernel = N.kernel_info(self.lib, idx.value).name.decode()
        self.workspace_bytes = size.value
        self.p, self.pp = p, ctypes.byref(p)

    def __call__(self):
        msg = N.Message()
        if self.lib.fa_fwd(self.pp, ctypes.byref(msg)) != 0:
            raise RuntimeError(msg.text.decode())
        return self.out


def best_of_rounds(variants, rounds=3):
    """Each variant once per round (interleaved), `rounds` rounds; each keeps
    its fastest median (variants that failed every round are left out)."""
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            times[name].append(bench(fn))
    return {n: min(t for t in ts if isinstance(t, float)) for n, ts in times.items()
            if any(isinstance(t, float) for t in ts)}


def write_rows_json(rows, path, default_name):
    """The rows as JSON at path, or at $OUT/default_name when OUT is set."""
    out = path or (os.environ.get("OUT") and os.path.join(os.environ["OUT"], default_name))
    if out:
        with open(out, "w") as fh:
            json.dump({"device": torch.cuda.get_device_name(), "rows": rows}, fh, indent=1)


def write_results(text, env, rows, md_path, json_path, stem):
    """The Markdown table and {env, rows} as JSON, each at its path or at
    $OUT/<stem>.md / .json when OUT is set; then the table on stdout."""
    out = os.environ.get("OUT")
    for path, body in [(md_path or (out and os.path.join(out, stem + ".md")), text),
                       (json_path or (out and os.path.join(out, stem + ".json")),
                        json.dumps({"env": env, "rows": rows}, indent=1))]:
        if path:
            with open(path, "w") as fh:
                fh.write(body)
    print()
    print(text)


def time_ours(make):
    """Our time for a call built by make(lib). With --ab OLD_LIB, the old
    and the new library are timed interleaved (old, new, old, new) on the
    same inputs; each side keeps its faster median. Returns (new call,
    fields for the row)."""
    call = make(LIB)
    if OLD is None:
        return call, {"ours_ms": bench(call)}
    old = make(OLD)
    t_old, t_new = [], []
    for _ in range(2):
        t_old.append(bench(old))
        t_new.append(bench(call))
    ok_old = [t for t in t_old if isinstance(t, float)]
    ok_new = [t for t in t_new if isinstance(t, float)]
    r = {"ours_ms": min(ok_new) if ok_new else t_new[0], "old_ms": min(ok_old) if ok_old else t_old[0],
         "old_kernel": old.kernel}
    if ok_new and ok_old:
        r["old_over_new"] = r["old_ms"] / r["ours_ms"]
        # Whether the two builds give the same bits on these inputs (a
        # refactor should; a kernel change may not).
        r["same_bits_as_old"] = bool(torch.equal(call().view(torch.int16), old().view(torch.int16)))
    return call, r


def rel_diff(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def copy_ceiling():
    x = torch.empty(2 * 1024 ** 3, device=DEV, dtype=torch.uint8)
    y = torch.empty_like(x)
    ms = do_bench(lambda: y.copy_(x), warmup=25, rep=200, return_mode="median")
    del x, y
    return 2 * 2 * 1024 ** 3 / ms / 1e9


def shuffled_table(b, pages_per_seq, gen):
    perm = torch.randperm(b * pages_per_seq, generator=gen).to(torch.int32)
    return perm.view(b, pages_per_seq).to(DEV)


def gathered(cache, table, page_size, b, length):
    """[b * length, HK, D] keys of every sequence, in order, through the table."""
    pages = cache.view(-1, page_size, HK, D)[table.long()]  # [b, pages, ps, HK, D]
    return pages.reshape(b, -1, HK, D)[:, :length].reshape(b * length, HK, D)


class DecodeProblem:
    """One decode row's inputs: b sequences of one query over `length`
    cached keys (bf16, GQA HQ/HK, d D), the cache as [b * length, HK, D]
    (varlen) with [b, h, s, d] views of that memory (kd, vd) and contiguous
    [b, h, s, d] copies (kc, vc) for cuDNN."""

    def __init__(self, b, length):
        self.b, self.length = b, length
        self.q = torch.randn(b, HQ, D, device=DEV, dtype=torch.bfloat16)
        self.k = torch.randn(b * length, HK, D, device=DEV, dtype=torch.bfloat16)
        self.v = torch.randn(b * length, HK, D, device=DEV, dtype=torch.bfloat16)
        self.cu_q = torch.arange(0, b + 1, device=DEV, dtype=torch.int32)
        self.cu_k = torch.arange(0, (b + 1) * length, length, device=DEV, dtype=torch.int32)
        self.used = torch.full((b,), length, device=DEV, dtype=torch.int32)
        self.kv_bytes = 2 * self.k.numel() * 2
        self.kd = self.k.view(b, length, HK, D).transpose(1, 2)  # [b, h, s, d] view of [b, s, h, d] memory
        self.vd = self.v.view(b, length, HK, D).transpose(1, 2)
        self.kc, self.vc = self.kd.contiguous(), self.vd.contiguous()
        self.qd = self.q.view(b, HQ, 1, D)

    def cudnn(self, kk, vv):
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            return F.scaled_dot_product_attention(self.qd, kk, vv, enable_gqa=True)

    def ours(self, lib=None, **kw):
        """Our call on the contiguous (varlen) cache."""
        return Call(self.q, self.cu_q, 1, self.k, self.v, self.used, self.length, cu_k=self.cu_k,
                    total_k=self.b * self.length, lib=lib, **kw)

    def ours_bhsd(self, lib=None, **kw):
        """Our call on the [b, h, s, d] copy (kc, vc) as a dense strided
        cache with seqused_k: each (sequence, head) stream contiguous,
        cuDNN's other layout."""
        strides = (HK * self.length * D, D, self.length * D)
        return Call(self.q, self.cu_q, 1, self.kc.transpose(1, 2), self.vc.transpose(1, 2), self.used, self.length,
                    lib=lib, kv_strides=strides, **kw)

    def ours_dense(self, lib=None, **kw):
        """The same cache as a dense [b, s, h, d] call without seqused_k:
        cuDNN's problem (every cache holds `length` keys, known on the host,
        so no split plan runs on the device)."""
        strides = (self.length * HK * D, HK * D, D)
        return Call(self.q, self.cu_q, 1, self.k, self.v, None, self.length, lib=lib, kv_strides=strides, **kw)


def decode_rows(rows, shapes, page_sizes, gen):
    for b, length in shapes:
        pr = DecodeProblem(b, length)
        q, k, v, cu_q, cu_k, used, kv_bytes = pr.q, pr.k, pr.v, pr.cu_q, pr.cu_k, pr.used, pr.kv_bytes
        kd, vd, kc, vc, cudnn = pr.kd, pr.vd, pr.kc, pr.vc, pr.cudnn
        name = f"decode b{b} kv{length} gqa32/8 d{D} bf16"

        ref = varlen_attn(q, k, v, cu_q, cu_k, 1, length)
        peers = {"cudnn_bshd_ms": bench(lambda: cudnn(kd, vd)), "cudnn_bhsd_ms": bench(lambda: cudnn(kc, vc)),
                 "varlen_ms": bench(lambda: varlen_attn(q, k, v, cu_q, cu_k, 1, length))}
        ok = [x for x in (peers["cudnn_bshd_ms"], peers["cudnn_bhsd_ms"]) if isinstance(x, float)]
        peers["cudnn_ms"] = min(ok) if ok else peers["cudnn_bshd_ms"]
        # Ours: contiguous, then each page size over the same memory.
        variants = [("", lambda lib: pr.ours(lib), ref)]
        # The same cache in cuDNN's other layout, [b, h, s, d] memory.
        variants.append((" bhsd", lambda lib: pr.ours_bhsd(lib), ref))
        variants.append((" dense", lambda lib: pr.ours_dense(lib), ref))
        for ps in page_sizes:
            if length % ps:
                continue
            table = shuffled_table(b, length // ps, gen)
            want = varlen_attn(q, gathered(k, table, ps, b, length), gathered(v, table, ps, b, length), cu_q, cu_k, 1,
                               length) if b * length <= 8 * 32768 else None
            variants.append((f" page{ps}", lambda lib, table=table, ps=ps: Call(
                q, cu_q, 1, k, v, used, length, table=table, page_size=ps, num_pages=b * length // ps, lib=lib), want))
            if ps == 16:
                # The same pages in memory order (the contiguous cache's bytes): what paging costs
                # apart from where the pages lie (the table reads and per-page copies alone).
                in_order = torch.arange(b * (length // ps), device=DEV, dtype=torch.int32).view(b, length // ps)
                variants.append((f" page{ps} in order", lambda lib, table=in_order, ps=ps: Call(
                    q, cu_q, 1, k, v, used, length, table=table, page_size=ps, num_pages=b * length // ps, lib=lib),
                    ref))
        for suffix, make, want in variants:
            try:
                call, timing = time_ours(make)
                r = {"row": name + suffix, "kernel": call.kernel, **timing, "kv_bytes": kv_bytes,
                     "workspace_bytes": call.workspace_bytes, **peers}
                if want is not None:
                    r["diff_vs_varlen"] = rel_diff(call(), want)
            except RuntimeError as e:  # a call the library refuses or fails: reported, the other rows go on
                print(f"{name + suffix}: ERR {e}", flush=True)
                continue
            rows.append(r)
            print(fmt(r), flush=True)
        del q, k, v, kc, vc, ref


def spec_decode_rows(rows, gen):
    b, length, nq = 32, 8192, 4
    q = torch.randn(b * nq, HQ, D, device=DEV, dtype=torch.bfloat16)
    k = torch.randn(b * length, HK, D, device=DEV, dtype=torch.bfloat16)
    v = torch.randn_like(k)
    cu_q = torch.arange(0, (b + 1) * nq, nq, device=DEV, dtype=torch.int32)
    cu_k = torch.arange(0, (b + 1) * length, length, device=DEV, dtype=torch.int32)
    used = torch.full((b,), length, device=DEV, dtype=torch.int32)
    ref = varlen_attn(q, k, v, cu_q, cu_k, nq, length, window_size=(-1, 0))
    peers = {"varlen_ms": bench(lambda: varlen_attn(q, k, v, cu_q, cu_k, nq, length, window_size=(-1, 0)))}
    table = shuffled_table(b, length // 16, gen)
    for suffix, call, want in [
            ("", Call(q, cu_q, nq, k, v, used, length, window=(-1, 0), cu_k=cu_k, total_k=b * length), ref),
            (" page16", Call(q, cu_q, nq, k, v, used, length, table=table, page_size=16, num_pages=b * length // 16,
                             window=(-1, 0)),
             varlen_attn(q, gathered(k, table, 16, b, length), gathered(v, table, 16, b, length), cu_q, cu_k, nq,
                         length, window_size=(-1, 0)))]:
        row = f"spec decode 4q b{b} kv{length} gqa32/8 d{D} bf16 causal{suffix}"
        try:
            r = {"row": row, "kernel": call.kernel, "ours_ms": bench(call), "kv_bytes": 2 * k.numel() * 2, **peers,
                 "diff_vs_varlen": rel_diff(call(), want)}
        except RuntimeError as e:  # reported; the other rows go on
            print(f"{row}: ERR {e}", flush=True)
            continue
        rows.append(r)
        print(fmt(r), flush=True)


def mixed_rows(rows, gen, dec, chunks, title):
    """One continuous batch over a cache in pages of 16, causal: decoding
    sequences (1 query over `dec` cached keys each) and `chunks` prefill
    chunks of 512 over 4096 cached; the batch in one call, then its parts."""
    ps = 16
    chunk_cache, chunk = 4096, 512
    lens_k = dec + [chunk_cache + chunk] * chunks
    lens_q = [1] * len(dec) + [chunk] * chunks
    pages = [(x + ps - 1) // ps for x in lens_k]
    max_pages = max(pages)
    num_pages = sum(pages)
    k = torch.randn(num_pages * ps, HK, D, device=DEV, dtype=torch.bfloat16)
    v = torch.randn_like(k)
    perm = torch.randperm(num_pages, generator=gen).to(torch.int32)
    table = torch.zeros(len(lens_k), max_pages, dtype=torch.int32)
    at = 0
    for i, n in enumerate(pages):
        table[i, :n] = perm[at:at + n]
        at += n
    table = table.to(DEV)

    def part(idx):
        lq, lk = [lens_q[i] for i in idx], [lens_k[i] for i in idx]
        q = torch.randn(sum(lq), HQ, D, device=DEV, dtype=torch.bfloat16)
        cu_q = torch.tensor([0] + torch.tensor(lq).cumsum(0).tolist(), device=DEV, dtype=torch.int32)
        used = torch.tensor(lk, device=DEV, dtype=torch.int32)
        t = table[idx]

        def make(lib):
            return Call(q, cu_q, max(lq), k, v, used, max(lk), table=t, page_size=ps, num_pages=num_pages,
                        window=(-1, 0), lib=lib)
        kg = torch.cat([gathered(k, t[j:j + 1], ps, 1, max_pages * ps)[:lk[j]] for j in range(len(idx))])
        vg = torch.cat([gathered(v, t[j:j + 1], ps, 1, max_pages * ps)[:lk[j]] for j in range(len(idx))])
        cu_k = torch.tensor([0] + torch.tensor(lk).cumsum(0).tolist(), device=DEV, dtype=torch.int32)
        want = varlen_attn(q, kg, vg, cu_q, cu_k, max(lq), max(lk), window_size=(-1, 0))
        vms = bench(lambda: varlen_attn(q, kg, vg, cu_q, cu_k, max(lq), max(lk), window_size=(-1, 0)))
        return make, want, vms, sum(lk) * HK * D * 2 * 2

    n_dec = len(dec)
    plural = "s" if chunks > 1 else ""
    for label, idx in [(f"{title}: {n_dec} decode + {chunks} prefill chunk{plural} of 512, one call",
                        list(range(n_dec + chunks))),
                       (f"  its part: {n_dec} decoding sequences", list(range(n_dec))),
                       (f"  its part: {chunks} prefill chunk{plural} of 512 over 4096 cached",
                        list(range(n_dec, n_dec + chunks)))]:
        try:
            make, want, vms, nbytes = part(idx)
            call, timing = time_ours(make)
            r = {"row": label + (" (page16)" if D == 128 else f" (page16, d{D})"), "kernel": call.kernel, **timing,
                 "kv_bytes": nbytes, "varlen_ms": vms, "diff_vs_varlen": rel_diff(call(), want)}
        except RuntimeError as e:  # reported; the other rows go on
            print(f"{label} (page16): ERR {e}", flush=True)
            continue
        rows.append(r)
        print(fmt(r), flush=True)


def chunk_rows(rows, gen):
    """Chunked prefill over a cache: b chunks of lq new queries after `cached`
    tokens (bottom-right causal), ours on a contiguous cache and on the same
    memory as pages of 16, 64, 256 (the issue's bar: paged at least 0.9x of
    contiguous); varlen_attn on the contiguous keys."""
    for b, lq, cached in [(2, 512, 4096), (8, 1024, 8192)]:
        lk = cached + lq
        q = torch.randn(b * lq, HQ, D, device=DEV, dtype=torch.bfloat16)
        k = torch.randn(b * lk, HK, D, device=DEV, dtype=torch.bfloat16)
        v = torch.randn_like(k)
        cu_q = torch.arange(0, (b + 1) * lq, lq, device=DEV, dtype=torch.int32)
        cu_k = torch.arange(0, (b + 1) * lk, lk, device=DEV, dtype=torch.int32)
        used = torch.full((b,), lk, device=DEV, dtype=torch.int32)
        ref = varlen_attn(q, k, v, cu_q, cu_k, lq, lk, window_size=(-1, 0))
        peers = {"varlen_ms": bench(lambda: varlen_attn(q, k, v, cu_q, cu_k, lq, lk, window_size=(-1, 0)))}
        name = f"chunked prefill b{b} q{lq} kv{lk} gqa32/8 d{D} bf16 causal"
        variants = [("", lambda lib: Call(q, cu_q, lq, k, v, used, lk, window=(-1, 0), cu_k=cu_k, total_k=b * lk,
                                          lib=lib), ref)]
        for ps in (16, 64, 256):
            pages = (lk + ps - 1) // ps
            pool_k = torch.full((b * pages * ps, HK, D), float("nan"), device=DEV, dtype=torch.bfloat16)
            pool_v = torch.full_like(pool_k, float("nan"))
            table = shuffled_table(b, pages, gen)
            for j in range(b):  # scatter sequence j's keys into its pages
                rows_j = (table[j].long()[:, None] * ps + torch.arange(ps, device=DEV)[None, :]).reshape(-1)[:lk]
                pool_k[rows_j] = k[j * lk:(j + 1) * lk]
                pool_v[rows_j] = v[j * lk:(j + 1) * lk]
            # (Every loop value bound as a default: the calls are built after the loop.)
            variants.append((f" page{ps}", lambda lib, t=table, ps=ps, pk=pool_k, pv=pool_v, n=b * pages: Call(
                q, cu_q, lq, pk, pv, used, lk, table=t, page_size=ps, num_pages=n, window=(-1, 0), lib=lib), ref))
        for suffix, make, want in variants:
            try:
                call, timing = time_ours(make)
                r = {"row": name + suffix, "kernel": call.kernel, **timing, "kv_bytes": 2 * k.numel() * 2, **peers,
                     "diff_vs_varlen": rel_diff(call(), want)}
            except RuntimeError as e:  # reported; the other rows go on
                print(f"{name + suffix}: ERR {e}", flush=True)
                continue
            rows.append(r)
            print(fmt(r), flush=True)


def f1(x, spec="{:.3f}"):
    return spec.format(x) if isinstance(x, float) else "-"


def tbps(r, key="ours_ms"):
    ms = r.get(key)
    return r["kv_bytes"] / ms / 1e9 if isinstance(ms, float) else None


def ratio(r, peer):
    a, b = r.get("ours_ms"), r.get(peer)
    return b / a if isinstance(a, float) and isinstance(b, float) else None


def fmt(r):
    return (f"{r['row']:64s} ours {f1(r['ours_ms'])} ms {f1(tbps(r), '{:.2f}')} TB/s | cudnn "
            f"{f1(r.get('cudnn_ms'))} x{f1(ratio(r, 'cudnn_ms'), '{:.2f}')} | varlen {f1(r.get('varlen_ms'))} "
            f"x{f1(ratio(r, 'varlen_ms'), '{:.2f}')} | diff {f1(r.get('diff_vs_varlen'), '{:.1e}')} | {r['kernel']}"
            + (f" | old {f1(r.get('old_ms'))} old/new {f1(r.get('old_over_new'), '{:.3f}')}" if "old_ms" in r else "")
            + ({True: " bits same", False: " bits DIFFER"}[r["same_bits_as_old"]] if "same_bits_as_old" in r else ""))


def markdown(rows, env):
    out = [f"Device: {env['device']}; torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}; date "
           f"{env['date']}. Command: `python3 bench/bench_decode.py` (triton do_bench medians, L2 flushed). "
           f"Copy ceiling (read + write, 2 GiB): {env['copy_tbps']:.2f} TB/s.", "",
           "TB/s = K/V bytes read / time. xN = peer time / our time (above 1: we are faster). cuDNN: the faster of "
           "its two layouts (both kept in the JSON).", "",
           "| row | kernel | ours ms | ours TB/s | % of copy | cuDNN ms | ours vs cuDNN | varlen_attn ms | ours vs "
           "varlen | diff vs varlen |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    if any("old_ms" in r for r in rows):
        out[2] += " old ms: the previous build, timed interleaved with ours (--ab); old/new above 1: we got faster."
        out[4] += " old ms | old/new |"
        out[5] += " --- | --- |"
    for r in rows:
        t = tbps(r)
        out.append(f"| {r['row']} | {r['kernel']} | {f1(r['ours_ms'])} | {f1(t, '{:.2f}')} | "
                   f"{f1(100 * t / env['copy_tbps'] if t else None, '{:.0f}')} | {f1(r.get('cudnn_ms'))} | "
                   f"{f1(ratio(r, 'cudnn_ms'), '{:.2f}')} | {f1(r.get('varlen_ms'))} | "
                   f"{f1(ratio(r, 'varlen_ms'), '{:.2f}')} | {f1(r.get('diff_vs_varlen'), '{:.1e}')} |"
                   + (f" {f1(r.get('old_ms'))} | {f1(r.get('old_over_new'), '{:.3f}')} |" if "old_ms" in r else ""))
    return "\n".join(out) + "\n"


def main():
    global LIB, OLD, D
    ap = argparse.ArgumentParser()
    ap.add_argument("--md")
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true", help="b32 x 8192 and b1 x 131072 only, pages 16 and 1")
    ap.add_argument("--sections", default="decode,spec,mixed,chunk",
                    help="comma list of decode, spec, mixed, mixed-small, chunk")
    ap.add_argument("--ab", metavar="OLD_LIB", help="time this older libflashattn.so interleaved with ours")
    ap.add_argument("--head-dim", type=int, default=D, help="the rows' head dim (the issue's rows: 128)")
    ap.add_argument("--shapes", help="B:L,B:L,... in place of the decode section's four shapes")
    ap.add_argument("--pages", help="page sizes of the decode section, comma list (default 16,64,256,1)")
    args = ap.parse_args()
    D = args.head_dim
    LIB = N.load()
    if args.ab:
        OLD = N.load(args.ab)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    p = torch.cuda.get_device_properties(0)
    env = {"device": p.name, "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version(), "date": datetime.date.today().isoformat(),
           "copy_tbps": copy_ceiling()}
    print(env, flush=True)
    rows = []
    shapes = [(32, 8192), (1, 131072)] if args.quick else [(1, 131072), (8, 32768), (32, 8192), (128, 1024)]
    if args.shapes:
        shapes = [tuple(int(x) for x in s.split(":")) for s in args.shapes.split(",")]
    pages = [16, 1] if args.quick else [16, 64, 256, 1]
    if args.pages:
        pages = [int(x) for x in args.pages.split(",")]
    sections = args.sections.split(",")
    if "decode" in sections:
        decode_rows(rows, shapes, pages, gen)
    if "spec" in sections and not args.quick:
        spec_decode_rows(rows, gen)
    if "mixed" in sections and not args.quick:
        # 48 decoding sequences with 1..16k cached keys and 2 chunks (the row)
        dec = torch.randint(1, 16385, (48,), generator=torch.Generator().manual_seed(1)).tolist()
        mixed_rows(rows, gen, dec, 2, "mixed batch")
    if "mixed-small" in sections:
        # A server at low load: 4 decoding sequences of 4096 keys beside 1 chunk, whose
        # decode part the host sees as 5 sequences x 4 row tiles (fwd_decode.md "Split-KV")
        mixed_rows(rows, gen, [4096] * 4, 1, "small mixed batch")
    if "chunk" in sections:
        chunk_rows(rows, gen)
    write_results(markdown(rows, env), env, rows, args.md, args.json, "bench_decode")


if __name__ == "__main__":
    main()
