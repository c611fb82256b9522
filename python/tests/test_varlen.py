"""varlen_attn on the CPU backend (numpy arrays, torch CPU tensors) against
the float64 numpy reference."""
import os
import sys
import unittest

# fa_common also when run by path from the repository root (python3 -m unittest python/tests/test_varlen.py)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fa_common import cu_from_lens, flashattn, needs_numpy, needs_torch, np, reference, torch  # noqa: E402


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@needs_numpy
class VarlenNumpy(unittest.TestCase):
    def check(self, lens_q, lens_k, hq=4, hk=4, d=64, window=(-1, -1), softcap=0.0, sinks=False, scale=None,
              bf16=False, seed=0, seqused=None):
        rng = np.random.default_rng(seed)
        tq, tk = sum(lens_q), sum(lens_k)
        q = rand(rng, (tq, hq, d), np.float32)
        k = rand(rng, (tk, hk, d), np.float32)
        v = rand(rng, (tk, hk, d), np.float32)
        sk = (rng.standard_normal(hq) * 2).astype(np.float32) if sinks else None
        cu_q, cu_k = cu_from_lens(lens_q), cu_from_lens(lens_k)
        su = np.array(seqused, dtype=np.int32) if seqused is not None else None
        if bf16:
            qa, ka, va = (flashattn.bf16_bits(x) for x in (q, k, v))
            qr, kr, vr = (flashattn.bf16_to_float32(x) for x in (qa, ka, va))
            kw = {"dtype": "bf16"}
        else:
            qa, ka, va = (x.astype(np.float16) for x in (q, k, v))
            qr, kr, vr = qa, ka, va
            kw = {}
        out, lse = flashattn.varlen_attn(qa, ka, va, cu_q, cu_k, max(lens_q), max(lens_k), scale=scale,
                                         window_size=window, softcap=softcap, sinks=sk, return_lse=True,
                                         seqused_k=su, **kw)
        ro, rl = reference(qr, kr, vr, cu_q, cu_k, scale=scale, window=window, softcap=softcap, sinks=sk,
                           seqused_k=su)
        self.assertEqual(out.shape, (tq, hq, d))
        self.assertEqual(out.dtype, np.uint16 if bf16 else np.float16)
        self.assertEqual(lse.shape, (hq, tq))
        self.assertEqual(lse.dtype, np.float32)
        o = flashattn.bf16_to_float32(out) if bf16 else out.astype(np.float64)
        self.assertFalse(np.isnan(o).any())
        tol = 2e-2 if bf16 else 3e-3
        np.testing.assert_allclose(o, ro, atol=tol, rtol=tol)
        fin = np.isfinite(rl)
        np.testing.assert_array_equal(np.isfinite(lse), fin)
        np.testing.assert_allclose(lse[fin], rl[fin], atol=1e-3, rtol=1e-3)
        return out, lse

    def test_varlen(self):
        self.check([5, 17, 1, 40], [5, 17, 1, 40])

    def test_varlen_q_shorter_than_k(self):
        self.check([3, 20, 7], [30, 20, 9])

    def test_gqa(self):
        self.check([9, 33], [9, 33], hq=8, hk=2)

    def test_mqa(self):
        self.check([12, 5], [12, 5], hq=6, hk=1)

    def test_causal_bottom_right(self):
        # Lq < Lk: query row i sits at key position i + Lk - Lq.
        self.check([4, 20, 1], [19, 20, 33], window=(-1, 0))

    def test_causal_empty_rows(self):
        # Lq > Lk with causal: the first Lq - Lk rows see no key: zeros, lse -inf.
        out, lse = self.check([10], [4], window=(-1, 0))
        self.assertTrue((out[:6].astype(np.float32) == 0).all())
        self.assertTrue(np.isneginf(lse[:, :6]).all())

    def test_sliding_window(self):
        self.check([64, 30], [64, 30], window=(8, 0))

    def test_two_sided_window(self):
        self.check([40, 25], [50, 25], window=(5, 3))

    def test_softcap(self):
        self.check([33, 9], [33, 9], softcap=2.0, scale=0.5)

    def test_sinks(self):
        self.check([20, 7], [20, 7], sinks=True, hq=4, hk=2)

    def test_sinks_causal_empty_rows(self):
        out, lse = self.check([8], [3], sinks=True, window=(-1, 0))
        self.assertTrue((out[:5].astype(np.float32) == 0).all())

    def test_scale_negative(self):
        self.check([11, 6], [11, 6], scale=-0.2)

    def test_seqused_k(self):
        self.check([6, 9], [20, 12], seqused=[15, 12])

    def test_bf16_via_uint16(self):
        self.check([13, 31], [13, 31], hq=4, hk=2, bf16=True, window=(-1, 0))

    def test_head_dims(self):
        for d in (32, 80, 128, 256):
            self.check([7, 19], [7, 19], d=d, seed=d)

    def test_fused_qkv_view(self):
        # q, k, v as views of one [T, 3, H, D] buffer: row stride 3*H*D, passed through.
        rng = np.random.default_rng(3)
        lens = [12, 29]
        t, h, d = sum(lens), 4, 64
        qkv = rand(rng, (t, 3, h, d), np.float16)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        self.assertFalse(q.flags["C_CONTIGUOUS"])
        cu = cu_from_lens(lens)
        out = flashattn.varlen_attn(q, k, v, cu, cu, max(lens), max(lens), window_size=(-1, 0))
        ro, _ = reference(q, k, v, cu, cu, window=(-1, 0))
        np.testing.assert_allclose(out.astype(np.float64), ro, atol=3e-3, rtol=3e-3)

    def test_return_aux(self):
        class Aux:
            lse = True
        rng = np.random.default_rng(1)
        q = rand(rng, (10, 2, 64), np.float16)
        cu = np.array([0, 10], np.int32)
        res = flashattn.varlen_attn(q, q, q, cu, cu, 10, 10, return_aux=Aux())
        self.assertEqual(len(res), 2)
        self.assertEqual(res[1].shape, (2, 10))

    def test_empty_query(self):
        q = np.zeros((0, 2, 64), np.float16)
        k = np.zeros((5, 2, 64), np.float16)
        cu_q = np.array([0, 0], np.int32)
        cu_k = np.array([0, 5], np.int32)
        out, lse = flashattn.varlen_attn(q, k, k, cu_q, cu_k, 0, 5, return_lse=True)
        self.assertEqual(out.shape, (0, 2, 64))
        self.assertEqual(lse.shape, (2, 0))

    def paged(self, lens_q, lens_k, page_size, hq=8, hk=2, d=64, window=(-1, 0), num_splits=None, seed=0):
        """A paged cache in shuffled page order against the same keys laid out contiguously."""
        rng = np.random.default_rng(seed)
        batch = len(lens_k)
        max_pages = max((n + page_size - 1) // page_size for n in lens_k) + 1  # one spare column
        num_pages = batch * max_pages + 3
        order = rng.permutation(num_pages).astype(np.int32)
        table = order[:batch * max_pages].reshape(batch, max_pages).copy()
        kc = rand(rng, (num_pages, page_size, hk, d), np.float16)
        vc = rand(rng, (num_pages, page_size, hk, d), np.float16)
        q = rand(rng, (sum(lens_q), hq, d), np.float16)
        # The contiguous copy of each sequence's keys: row j is row j % P of page table[b, j // P].
        k = np.concatenate([kc[table[b, np.arange(n) // page_size], np.arange(n) % page_size]
                            for b, n in enumerate(lens_k)])
        v = np.concatenate([vc[table[b, np.arange(n) // page_size], np.arange(n) % page_size]
                            for b, n in enumerate(lens_k)])
        cu_q, cu_k = cu_from_lens(lens_q), cu_from_lens(lens_k)
        used = np.array(lens_k, np.int32)
        out, lse = flashattn.varlen_attn(q, kc, vc, cu_q, None, max(lens_q), max(lens_k), window_size=window,
                                         return_lse=True, seqused_k=used, block_table=table,
                                         num_splits=num_splits)
        ro, rl = reference(q, k, v, cu_q, cu_k, window=window)
        np.testing.assert_allclose(out.astype(np.float64), ro, atol=3e-3, rtol=3e-3)
        fin = np.isfinite(rl)
        np.testing.assert_array_equal(np.isfinite(lse), fin)
        np.testing.assert_allclose(lse[fin], rl[fin], atol=1e-3, rtol=1e-3)

    def test_paged_decode(self):
        self.paged([1, 1, 1], [37, 1, 64], page_size=16)

    def test_paged_chunk_prefill(self):
        self.paged([5, 12], [40, 12], page_size=7, num_splits=1)

    def test_paged_page_size_one(self):
        self.paged([2, 3], [9, 3], page_size=1, window=(4, 0))

    def test_paged_errors(self):
        q = np.zeros((2, 2, 64), np.float16)
        kc = np.zeros((4, 8, 2, 64), np.float16)
        cu = np.array([0, 2], np.int32)
        table = np.zeros((1, 2), np.int32)
        with self.assertRaisesRegex(ValueError, "seqused_k"):
            flashattn.varlen_attn(q, kc, kc, cu, None, 2, 8, block_table=table)
        with self.assertRaisesRegex(ValueError, "block_table has 2 rows"):
            flashattn.varlen_attn(q, kc, kc, cu, None, 2, 8, block_table=np.zeros((2, 2), np.int32),
                                  seqused_k=np.array([8], np.int32))
        with self.assertRaisesRegex(TypeError, "cu_seq_k must be given"):
            flashattn.varlen_attn(q, q, q, cu, None, 2, 2)
        with self.assertRaises(flashattn.FlashAttnError):  # a page index outside the cache
            flashattn.varlen_attn(q, kc, kc, cu, None, 2, 8, block_table=np.array([[9, 0]], np.int32),
                                  seqused_k=np.array([8], np.int32))

    def test_int_like_max(self):
        rng = np.random.default_rng(2)
        q = rand(rng, (10, 2, 64), np.float16)
        cu = np.array([0, 10], np.int32)
        out = flashattn.varlen_attn(q, q, q, cu, cu, np.int64(10), np.int32(10))
        self.assertEqual(out.shape, q.shape)


@needs_numpy
@needs_torch
class VarlenTorchCPU(unittest.TestCase):
    def run_case(self, dt, tol, window=(-1, 0), hq=8, hk=2):
        g = torch.Generator().manual_seed(0)
        lens = [7, 30, 18]
        t = sum(lens)
        q = torch.randn(t, hq, 128, generator=g).to(dt)
        k = torch.randn(t, hk, 128, generator=g).to(dt)
        v = torch.randn(t, hk, 128, generator=g).to(dt)
        sinks = torch.randn(hq, generator=g)
        cu = torch.tensor(cu_from_lens(lens))
        out, lse = flashattn.varlen_attn(q, k, v, cu, cu, max(lens), max(lens), window_size=window, sinks=sinks,
                                         return_lse=True)
        self.assertIsInstance(out, torch.Tensor)
        self.assertEqual(out.dtype, dt)
        self.assertEqual(out.device.type, "cpu")
        self.assertEqual(lse.dtype, torch.float32)
        ro, rl = reference(q.float().numpy(), k.float().numpy(), v.float().numpy(), cu.numpy(), cu.numpy(),
                           window=window, sinks=sinks.numpy())
        np.testing.assert_allclose(out.float().numpy(), ro, atol=tol, rtol=tol)
        np.testing.assert_allclose(lse.numpy(), rl, atol=1e-3, rtol=1e-3)

    def test_bf16(self):
        self.run_case(torch.bfloat16, 2e-2)

    def test_fp16(self):
        self.run_case(torch.float16, 3e-3, window=(16, 0))

    def test_scale_tensor_sinks_bf16(self):
        # sinks in the query dtype (what transformers passes as s_aux) are converted to float32
        g = torch.Generator().manual_seed(1)
        q = torch.randn(20, 4, 64, generator=g).to(torch.bfloat16)
        s = torch.randn(4, generator=g).to(torch.bfloat16)
        cu = torch.tensor([0, 20], dtype=torch.int32)
        out = flashattn.varlen_attn(q, q, q, cu, cu, 20, 20, sinks=s, scale=0.3)
        ro, _ = reference(q.float().numpy(), q.float().numpy(), q.float().numpy(), cu.numpy(), cu.numpy(),
                          scale=0.3, sinks=s.float().numpy())
        np.testing.assert_allclose(out.float().numpy(), ro, atol=2e-2, rtol=2e-2)

    def test_matches_sdpa_per_sequence(self):
        g = torch.Generator().manual_seed(2)
        lens = [9, 21]
        q = torch.randn(sum(lens), 4, 64, generator=g, dtype=torch.float32)
        cu = torch.tensor(cu_from_lens(lens))
        out = flashattn.varlen_attn(q.half(), q.half(), q.half(), cu, cu, 21, 21, window_size=(-1, 0))
        for b in range(len(lens)):
            x = q.half().float()[cu[b]:cu[b + 1]].transpose(0, 1)
            ref = torch.nn.functional.scaled_dot_product_attention(x, x, x, is_causal=True).transpose(0, 1)
            torch.testing.assert_close(out[cu[b]:cu[b + 1]].float(), ref, atol=3e-3, rtol=3e-3)


if __name__ == "__main__":
    unittest.main()
