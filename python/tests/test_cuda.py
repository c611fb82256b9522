"""The binding on torch CUDA tensors (skipped without a CUDA device): the
CUDA backend against the float64 reference and torch's own varlen_attn,
streams, and the mask helpers on the device."""
import os
import sys
import unittest

# fa_common also when run by path from the repository root (python3 -m unittest python/tests/test_cuda.py)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fa_common import cu_from_lens, flashattn, have_helpers, needs_cuda, needs_numpy, np, reference, torch  # noqa: E402


@needs_numpy
@needs_cuda
class VarlenCuda(unittest.TestCase):
    def case(self, dt, window=(-1, -1), hq=8, hk=2, d=128, lens_q=(17, 300, 1, 77), lens_k=None, softcap=0.0,
             sinks=False):
        g = torch.Generator().manual_seed(0)
        lens_k = lens_k or lens_q
        q = torch.randn(sum(lens_q), hq, d, generator=g).to(dt).cuda()
        k = torch.randn(sum(lens_k), hk, d, generator=g).to(dt).cuda()
        v = torch.randn(sum(lens_k), hk, d, generator=g).to(dt).cuda()
        sk = torch.randn(hq, generator=g).cuda() if sinks else None
        cu_q = torch.tensor(cu_from_lens(lens_q)).cuda()
        cu_k = torch.tensor(cu_from_lens(lens_k)).cuda()
        out, lse = flashattn.varlen_attn(q, k, v, cu_q, cu_k, max(lens_q), max(lens_k), window_size=window,
                                         softcap=softcap, sinks=sk, return_lse=True)
        self.assertEqual(out.device, q.device)
        self.assertEqual(out.dtype, dt)
        self.assertEqual(lse.shape, (hq, sum(lens_q)))
        ro, rl = reference(q.float().cpu().numpy(), k.float().cpu().numpy(), v.float().cpu().numpy(),
                           cu_q.cpu().numpy(), cu_k.cpu().numpy(), window=window, softcap=softcap,
                           sinks=sk.cpu().numpy() if sinks else None)
        tol = 2e-2 if dt == torch.bfloat16 else 3e-3
        np.testing.assert_allclose(out.float().cpu().numpy(), ro, atol=tol, rtol=tol)
        fin = np.isfinite(rl)
        l = lse.cpu().numpy()
        np.testing.assert_array_equal(np.isfinite(l), fin)
        np.testing.assert_allclose(l[fin], rl[fin], atol=2e-3, rtol=2e-3)
        return q, k, v, cu_q, cu_k, out, lse

    def test_bf16_causal_gqa(self):
        self.case(torch.bfloat16, (-1, 0))

    def test_fp16_full(self):
        self.case(torch.float16)

    def test_window_softcap_sinks(self):
        self.case(torch.bfloat16, (32, 0), softcap=20.0, sinks=True, lens_q=(5, 200), lens_k=(90, 260))

    def test_head_dims(self):
        for d in (64, 96, 256):
            self.case(torch.float16, (-1, 0), d=d, hq=4, hk=4)

    def test_matches_torch_varlen_attn(self):
        try:
            from torch.nn.attention.varlen import varlen_attn as torch_varlen
        except ImportError:
            self.skipTest("torch has no varlen_attn")
        q, k, v, cu_q, cu_k, out, _ = self.case(torch.bfloat16, (-1, 0), hq=8, hk=8)
        ref = torch_varlen(q, k, v, cu_q, cu_k, 300, 300, window_size=(-1, 0))
        rel = ((out.float() - ref.float()).norm() / ref.float().norm()).item()
        self.assertLess(rel, 1e-2)

    def test_side_stream(self):
        s = torch.cuda.Stream()
        q = torch.randn(4096, 8, 128, device="cuda", dtype=torch.bfloat16)
        cu = torch.tensor([0, 4096], device="cuda", dtype=torch.int32)
        ref = flashattn.varlen_attn(q, q, q, cu, cu, 4096, 4096)
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            out = flashattn.varlen_attn(q, q, q, cu, cu, 4096, 4096)
        torch.cuda.current_stream().wait_stream(s)
        self.assertTrue(torch.equal(out, ref))

    def test_fused_qkv_view(self):
        qkv = torch.randn(500, 3, 4, 64, device="cuda", dtype=torch.float16)
        cu = torch.tensor([0, 123, 500], device="cuda", dtype=torch.int32)
        out = flashattn.varlen_attn(qkv[:, 0], qkv[:, 1], qkv[:, 2], cu, cu, 377, 377, window_size=(-1, 0))
        ref = flashattn.varlen_attn(qkv[:, 0].contiguous(), qkv[:, 1].contiguous(), qkv[:, 2].contiguous(), cu, cu,
                                    377, 377, window_size=(-1, 0))
        self.assertTrue(torch.equal(out, ref))

    def test_cpu_cu_seqlens_with_cuda_tensors(self):
        # a CPU tensor among CUDA ones is caught in Python, before the library
        q = torch.randn(30, 4, 64, device="cuda", dtype=torch.float16)
        cu = torch.tensor([0, 30], device="cuda", dtype=torch.int32)
        with self.assertRaisesRegex(ValueError, "cu_seq_q"):
            flashattn.varlen_attn(q, q, q, cu.cpu(), cu, 30, 30)


@needs_numpy
@needs_cuda
@unittest.skipUnless(have_helpers(), "no mask helpers in the library")
class HelpersCuda(unittest.TestCase):
    def test_mask_path_matches_cpu(self):
        g = torch.Generator().manual_seed(1)
        m = torch.zeros(5, 130, dtype=torch.bool)
        for i, n in enumerate([130, 64, 1, 99, 0]):
            m[i, 130 - n:] = True
        x = torch.randn(5, 130, 4, 64, generator=g).bfloat16()
        info_c = flashattn.unpad_info(m)
        info_g = flashattn.unpad_info(m.cuda())
        for a, b in zip(info_c, info_g):
            self.assertTrue(torch.equal(a, b.cpu()))
        self.assertEqual(flashattn.to_host(info_g.max_seqlen, info_g.count), (130, int(m.sum())))
        xg = x.cuda()
        pk = flashattn.unpad(xg, info_g.indices, info_g.count)
        out = flashattn.varlen_attn(pk, pk, pk, info_g.cu_seqlens, info_g.cu_seqlens, 130, 130, window_size=(-1, 0))
        back = flashattn.pad(out, info_g.indices, info_g.count, 5, 130)
        n = int(m.sum())
        pk_c = flashattn.unpad(x, info_c.indices, info_c.count)
        self.assertTrue(torch.equal(pk[:n].cpu(), pk_c[:n]))
        out_c = flashattn.varlen_attn(pk_c, pk_c, pk_c, info_c.cu_seqlens, info_c.cu_seqlens, 130, 130,
                                      window_size=(-1, 0))
        back_c = flashattn.pad(out_c, info_c.indices, info_c.count, 5, 130)
        torch.testing.assert_close(back.cpu().float(), back_c.float(), atol=2e-2, rtol=2e-2)
        self.assertTrue((back[~m.cuda()] == 0).all())

    def test_position_ids(self):
        ids = torch.cat([torch.arange(n) for n in (7, 1, 300, 12)]).cuda()
        info = flashattn.cu_seqlens_from_position_ids(ids[None])
        self.assertEqual(info.cu_seqlens[:5].tolist(), [0, 7, 8, 308, 320])
        self.assertEqual(flashattn.to_host(info.num_seqs, info.max_seqlen), (4, 300))


if __name__ == "__main__":
    unittest.main()
