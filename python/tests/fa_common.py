"""Shared pieces of the binding tests: import path, optional modules, the
float64 numpy reference."""
import math
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "python"))

import flashattn  # noqa: E402
from flashattn import _native  # noqa: E402

try:
    import numpy as np
except ImportError:  # pragma: no cover - CI installs numpy
    np = None
try:
    import torch
except ImportError:
    torch = None

# `FLASHATTN_TEST_REQUIRE=numpy` (set by the ninja edge) turns "numpy is
# missing" from a skip into a failure, so CI cannot pass vacuously.
_REQUIRED = set(filter(None, os.environ.get("FLASHATTN_TEST_REQUIRE", "").split(",")))
if "numpy" in _REQUIRED and np is None:
    raise ImportError("FLASHATTN_TEST_REQUIRE=numpy but numpy is not importable: `python3 -m pip install numpy`")

needs_numpy = unittest.skipIf(np is None, "numpy is not installed")
needs_torch = unittest.skipIf(torch is None, "torch is not installed")
needs_cuda = unittest.skipIf(torch is None or not torch.cuda.is_available(), "no torch CUDA device")

HELPERS = ("fa_unpad_info", "fa_unpad_rows", "fa_pad_rows", "fa_seqlens_from_position_ids", "fa_copy_to_host")


def have_helpers():
    lib = flashattn.library()
    return all(hasattr(lib, n) for n in HELPERS)


needs_helpers = unittest.skipUnless(have_helpers(), "the library does not export the mask helpers yet "
                                    "(src/helpers.c): rebuild with ninja")


def reference(q, k, v, cu_q, cu_k, scale=None, window=(-1, -1), softcap=0.0, sinks=None, seqused_k=None):
    """float64 attention on numpy arrays [T, H, D]: (out [Tq, Hq, D], lse [Hq, Tq])."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    tq, hq, d = q.shape
    hk = k.shape[1]
    group = hq // hk
    sc = 1.0 / math.sqrt(d) if scale is None else scale
    out = np.zeros((tq, hq, d))
    lse = np.full((hq, tq), -np.inf)
    wl, wr = window
    for b in range(len(cu_q) - 1):
        q0, q1 = int(cu_q[b]), int(cu_q[b + 1])
        k0, k1 = int(cu_k[b]), int(cu_k[b + 1])
        lq = q1 - q0
        lk = k1 - k0 if seqused_k is None else int(seqused_k[b])
        if lq == 0:
            continue
        i = np.arange(lq)[:, None]
        j = np.arange(lk)[None, :]
        pos = i + lk - lq
        vis = np.ones((lq, lk), dtype=bool)
        if wl >= 0:
            vis &= j >= pos - wl
        if wr >= 0:
            vis &= j <= pos + wr
        for h in range(hq):
            kh = h // group
            s = sc * q[q0:q1, h] @ k[k0:k0 + lk, kh].T
            if softcap:
                s = softcap * np.tanh(s / softcap)
            s = np.where(vis, s, -np.inf)
            m = s.max(axis=1) if lk else np.full(lq, -np.inf)
            if sinks is not None:
                m = np.maximum(m, float(sinks[h]))
            safe = np.where(np.isfinite(m), m, 0.0)
            e = np.exp(s - safe[:, None]) if lk else np.zeros((lq, 0))
            den = e.sum(axis=1)
            if sinks is not None:
                den = den + np.exp(float(sinks[h]) - safe)
            with np.errstate(divide="ignore", invalid="ignore"):
                p = np.where(den[:, None] > 0, e / np.where(den > 0, den, 1)[:, None], 0.0)
                lse[h, q0:q1] = np.where(den > 0, safe + np.log(np.where(den > 0, den, 1)), -np.inf)
            out[q0:q1, h] = p @ v[k0:k0 + lk, kh] if lk else 0.0
    return out, lse


def cu_from_lens(lens):
    return np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
