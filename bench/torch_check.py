"""Cross-check every CUDA kernel of the library against a float64 attention
written in torch, on the device, through the shared library (ctypes).

    python3 bench/torch_check.py [--filter SUBSTRING] [--seed N]

This is a developer tool complementing the CMocka suite (tests/), which
holds the authoritative double-precision reference: it is quick to run on
the lent GPU and prints one line per kernel. Exit status 1 on any failure.
"""
import argparse
import ctypes
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from flashattn import _native as N  # noqa: E402

TOL = {torch.bfloat16: 1.2e-2, torch.float16: 2.5e-3}


def reference(q, k, v, cu_q, cu_k, scale, window, softcap, sinks, seqused_k=None):
    """float64 attention from the definitions: bottom-right aligned window."""
    q, k, v = q.double(), k.double(), v.double()
    total_q, hq, d = q.shape
    hk = k.shape[1]
    out = torch.zeros(total_q, hq, d, dtype=torch.float64, device=q.device)
    lse = torch.full((hq, total_q), -math.inf, dtype=torch.float64, device=q.device)
    for b in range(len(cu_q) - 1):
        q0, q1, k0, k1 = cu_q[b], cu_q[b + 1], cu_k[b], cu_k[b + 1]
        if seqused_k is not None:
            k1 = k0 + seqused_k[b]
        lq, lk = q1 - q0, k1 - k0
        if lq == 0 or (lk == 0 and sinks is None):
            continue  # nothing to attend to: zeros and lse -inf
        qs = q[q0:q1].transpose(0, 1)  # h, lq, d
        ks = k[k0:k1].transpose(0, 1).repeat_interleave(hq // hk, 0)
        vs = v[k0:k1].transpose(0, 1).repeat_interleave(hq // hk, 0)
        s = qs @ ks.transpose(1, 2) * scale
        if softcap > 0:
            s = softcap * torch.tanh(s / softcap)
        pos = torch.arange(lq, device=q.device)[:, None] + (lk - lq)
        j = torch.arange(lk, device=q.device)[None, :]
        vis = torch.ones(lq, lk, dtype=torch.bool, device=q.device)
        if window[0] >= 0:
            vis &= j >= pos - window[0]
        if window[1] >= 0:
            vis &= j <= pos + window[1]
        s = s.masked_fill(~vis, -math.inf)
        if sinks is not None:
            sk = sinks.double()[:, None, None].expand(hq, lq, 1)
            s_all = torch.cat([s, sk], dim=2)
        else:
            s_all = s
        m = s_all.amax(dim=2, keepdim=True)
        m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
        e = torch.exp(s_all - m)
        den = e.sum(dim=2, keepdim=True)
        p = torch.where(den > 0, e / den, torch.zeros_like(e))[:, :, :lk]
        out[q0:q1] = (p @ vs).transpose(0, 1)
        l = torch.log(den[:, :, 0]) + m[:, :, 0]
        lse[:, q0:q1] = torch.where(den[:, :, 0] > 0, l, torch.full_like(l, -math.inf))
    return out, lse


def run_kernel(lib, index, q, k, v, cu_q, cu_k, max_q, max_k, window, softcap, sinks, scale, seqused_k=None):
    total_q, hq, d = q.shape
    out = torch.full_like(q, float("nan"))
    lse = torch.full((hq, total_q), float("nan"), dtype=torch.float32, device=q.device)
    p = lib.fa_fwd_params_default()
    p.backend = N.FA_BACKEND_CUDA
    p.dtype = N.FA_DTYPE_BF16 if q.dtype == torch.bfloat16 else N.FA_DTYPE_FP16
    p.batch = cu_q.numel() - 1
    p.num_heads_q, p.num_heads_k, p.head_dim = hq, k.shape[1], d
    p.cu_seqlens_q, p.cu_seqlens_k = cu_q.data_ptr(), cu_k.data_ptr()
    p.total_q, p.total_k = total_q, k.shape[0]
    p.max_seqlen_q, p.max_seqlen_k = max_q, max_k
    p.seqused_k = seqused_k.data_ptr() if seqused_k is not None else None
    p.q, p.k, p.v, p.out = q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr()
    p.q_row_stride, p.q_head_stride = q.stride(0), q.stride(1)
    p.k_row_stride, p.k_head_stride = k.stride(0), k.stride(1)
    p.v_row_stride, p.v_head_stride = v.stride(0), v.stride(1)
    p.out_row_stride, p.out_head_stride = out.stride(0), out.stride(1)
    p.scale = scale
    p.softcap = softcap
    p.window_left, p.window_right = window
    p.sinks = sinks.data_ptr() if sinks is not None else None
    p.lse = lse.data_ptr()
    p.stream = torch.cuda.current_stream().cuda_stream
    msg = N.Message()
    st = lib.fa_fwd_with_kernel(ctypes.byref(p), index, ctypes.byref(msg))
    if st != 0:
        raise RuntimeError(msg.text.decode())
    torch.cuda.synchronize()
    return out, lse


def rel_err(x, ref):
    return (x.double() - ref).norm().item() / max(ref.norm().item(), 1e-30)


def cases(mask, gen):
    """(name, lens_q, lens_k, hq, hk, window, softcap, sinks, scale, seqused)"""
    yield "varlen-mixed", [1, 0, 77, 300, 129], [1, 5, 77, 300, 200], 4, 2, None, 0.0, False, 0.0, False
    yield "dense-ish", [512, 512], [512, 512], 2, 2, None, 0.0, False, 0.0, False
    yield "lq>lk", [200, 64], [100, 3], 4, 1, None, 0.0, False, 0.0, False
    yield "softcap+sinks", [130, 67], [250, 67], 4, 4, None, 30.0, True, 0.0, False
    yield "neg-scale", [96], [160], 2, 1, None, 0.0, False, -0.07, False
    yield "seqused", [64, 100], [300, 300], 2, 2, None, 0.0, True, 0.0, True
    if mask == "local":
        for w in [(5, 0), (0, 7), (17, 3), (-1, 9), (12, -1), (64, 64), (0, 0)]:
            yield f"window{w}", [257, 40], [190, 333], 2, 1, w, 0.0, False, 0.0, False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--filter", default="sm90")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    lib = N.load()
    dev = "cuda"
    failures = 0
    count = 0
    for i in range(lib.fa_kernel_count()):
        info = N.kernel_info(lib, i)
        name = info.name.decode()
        if info.backend != N.FA_BACKEND_CUDA or args.filter not in name:
            continue
        mask = {0: "none", 1: "causal", 2: "local"}[info.mask]
        dt = torch.bfloat16 if info.dtype == N.FA_DTYPE_BF16 else torch.float16
        worst = 0.0
        worst_case = ""
        for cname, lq, lk, hq, hk, window, softcap, with_sinks, scale, used in cases(mask, None):
            if window is None:
                window = {"none": (-1, -1), "causal": (-1, 0), "local": (9, 2)}[mask]
            d = info.head_dim
            cu_q = torch.tensor([0] + list(torch.tensor(lq).cumsum(0)), dtype=torch.int32, device=dev)
            cu_k = torch.tensor([0] + list(torch.tensor(lk).cumsum(0)), dtype=torch.int32, device=dev)
            q = torch.randn(sum(lq), hq, d, device=dev, dtype=dt)
            k = torch.randn(sum(lk), hk, d, device=dev, dtype=dt)
            v = torch.randn(sum(lk), hk, d, device=dev, dtype=dt)
            sinks = torch.randn(hq, device=dev) * 2 if with_sinks else None
            seqused = torch.tensor([max(0, x - 37) for x in lk], dtype=torch.int32, device=dev) if used else None
            eff_scale = scale if scale != 0 else 1 / math.sqrt(d)
            try:
                out, lse = run_kernel(lib, i, q, k, v, cu_q, cu_k, max(lq), max(lk), window, softcap, sinks, scale,
                                      seqused)
            except RuntimeError as e:
                print(f"FAIL {name} {cname}: {e}")
                failures += 1
                continue
            ref, ref_lse = reference(q, k, v, cu_q.tolist(), cu_k.tolist(), eff_scale, window, softcap, sinks,
                                     seqused.tolist() if used else None)
            e = rel_err(out, ref)
            finite = torch.isfinite(out).all().item()
            inf_ok = torch.equal(torch.isinf(lse), torch.isinf(ref_lse))
            lse_err = (lse.double() - ref_lse)[torch.isfinite(ref_lse)].abs().max().item() if torch.isfinite(
                ref_lse).any() else 0.0
            ok = finite and e <= TOL[dt] and inf_ok and lse_err < 1e-3
            if e > worst:
                worst, worst_case = e, cname
            if not ok:
                failures += 1
                print(f"FAIL {name} {cname}: rel_err {e:.2e} finite {finite} lse_inf_ok {inf_ok} lse_err {lse_err:.2e}")
        count += 1
        print(f"{'ok  '} {name:40s} worst rel err {worst:.2e} ({worst_case})")
    print(f"torch_check: {count} kernels, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
