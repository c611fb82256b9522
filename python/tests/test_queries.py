"""The 0.4 queries through the raw binding (flashattn._native), on the CPU
backend: fa_fwd_query_dispatch (the kernel(s) a call runs) and
fa_fwd_workspace_size_max (the worst-case workspace over bounds). What they
compute on a GPU is proven in tests/test_dispatch.c; here: the ctypes
declarations, the struct layouts in use, statuses and messages."""
import ctypes
import os
import sys
import unittest

# fa_common also when run by path from the repository root (python3 -m unittest python/tests/test_queries.py)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fa_common import flashattn, _native as N  # noqa: E402


def lib():
    return flashattn.library()


class Queries(unittest.TestCase):
    def setUp(self):
        if not hasattr(lib(), "fa_fwd_workspace_size_max"):
            self.skipTest("the library predates 0.4")

    def cpu_params(self, bufs):
        p = lib().fa_fwd_params_default()
        p.backend = N.FA_BACKEND_CPU
        p.batch, p.num_heads_q, p.num_heads_k, p.head_dim = 1, 4, 2, 64
        p.max_seqlen_q, p.max_seqlen_k = 3, 5
        q, k, v, out = bufs
        p.q, p.k, p.v, p.out = (ctypes.cast(b, ctypes.c_void_p) for b in (q, k, v, out))
        return p

    def buffers(self):
        # 16-byte aligned host buffers, bf16 (2 bytes), dense [1, L, H, 64].
        def buf(rows, heads):
            raw = (ctypes.c_uint8 * (rows * heads * 64 * 2 + 16))()
            addr = ctypes.addressof(raw)
            keep.append(raw)
            return ctypes.c_void_p(addr + (-addr) % 16)
        keep = []
        self._keep = keep
        return buf(3, 4), buf(5, 2), buf(5, 2), buf(3, 4)

    def test_query_dispatch_cpu(self):
        p = self.cpu_params(self.buffers())
        info, msg, index = N.FwdDispatchInfo(), N.Message(), ctypes.c_size_t()
        self.assertEqual(lib().fa_fwd_query_dispatch(ctypes.byref(p), ctypes.byref(info), ctypes.byref(msg)), N.FA_OK,
                         msg.text)
        self.assertEqual(lib().fa_fwd_query(ctypes.byref(p), ctypes.byref(index), None), N.FA_OK)
        self.assertEqual(info.num_kernels, 1)
        self.assertEqual(info.kernel_index[0], index.value)
        self.assertEqual(info.kernel_index[1], ctypes.c_size_t(-1).value)  # SIZE_MAX
        self.assertEqual((info.short_rows, info.short_seqlen_q, info.splits[0], info.workspace_bytes), (0, 0, 1, 0))
        self.assertEqual(N.kernel_info(lib(), info.kernel_index[0]).family, b"cpu")
        info.struct_size = 0
        self.assertEqual(lib().fa_fwd_query_dispatch(ctypes.byref(p), ctypes.byref(info), ctypes.byref(msg)),
                         N.FA_ERR_STRUCT_SIZE)
        self.assertIn(b"FA_FWD_DISPATCH_INFO_INIT", msg.text)

    def test_workspace_size_max_cpu(self):
        b = lib().fa_fwd_workspace_bounds_default()
        self.assertEqual(b.struct_size, ctypes.sizeof(N.FwdWorkspaceBounds))
        self.assertEqual((b.backend, b.dtype), (N.FA_BACKEND_CUDA, N.FA_DTYPE_BF16))
        b.backend = N.FA_BACKEND_CPU
        b.num_heads_q, b.num_heads_k, b.head_dim = 32, 8, 128
        b.max_batch, b.max_seqlen_q, b.max_total_q, b.max_seqlen_k = 64, 512, 2048, 32768
        size, msg = ctypes.c_size_t(7), N.Message()
        self.assertEqual(lib().fa_fwd_workspace_size_max(ctypes.byref(b), ctypes.byref(size), ctypes.byref(msg)),
                         N.FA_OK, msg.text)
        self.assertEqual(size.value, 0)  # the CPU family needs none
        b.max_batch = 0
        self.assertEqual(lib().fa_fwd_workspace_size_max(ctypes.byref(b), ctypes.byref(size), ctypes.byref(msg)),
                         N.FA_ERR_INVALID_SHAPE)
        self.assertIn(b"max_batch", msg.text)


if __name__ == "__main__":
    unittest.main()
