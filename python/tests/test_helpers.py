"""The transformers paths on the CPU backend: unpad_info / unpad / pad,
cu_seqlens_from_position_ids, to_host, and the full mask and packed paths
through varlen_attn, against numpy references."""
import os
import sys
import unittest

# fa_common also when run by path from the repository root (python3 -m unittest python/tests/test_helpers.py)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fa_common import (cu_from_lens, flashattn, needs_helpers, needs_numpy, needs_torch, np,  # noqa: E402
                       reference, torch)


def ref_unpad_info(mask):
    m = np.asarray(mask) != 0
    b, s = m.shape
    idx = np.flatnonzero(m.reshape(-1))
    lens = m.sum(axis=1)
    return idx, cu_from_lens(lens), int(lens.max())


def masks():
    rng = np.random.default_rng(0)
    left = np.zeros((4, 9), bool)
    for i, n in enumerate([9, 5, 1, 7]):
        left[i, 9 - n:] = True
    right = left[:, ::-1].copy()
    holes = rng.random((3, 16)) < 0.6
    empty_row = left.copy()
    empty_row[2] = False
    return {"left": left, "right": right, "holes": holes, "empty_row": empty_row, "full": np.ones((2, 5), bool),
            "one": np.ones((1, 1), bool)}


@needs_numpy
@needs_helpers
class UnpadInfo(unittest.TestCase):
    def check(self, mask):
        info = flashattn.unpad_info(mask)
        idx, cu, mx = ref_unpad_info(mask)
        n = len(idx)
        b, s = np.asarray(mask).shape
        self.assertEqual(info.indices.dtype, np.int64)
        self.assertEqual(info.indices.shape, (b * s,))
        np.testing.assert_array_equal(info.indices[:n], idx)
        self.assertTrue((info.indices[n:] == -1).all())
        np.testing.assert_array_equal(info.cu_seqlens, cu)
        self.assertEqual(info.cu_seqlens.dtype, np.int32)
        self.assertEqual(flashattn.to_host(info.max_seqlen), mx)
        self.assertEqual(flashattn.to_host(info.count), n)

    def test_masks(self):
        for name, m in masks().items():
            with self.subTest(mask=name):
                self.check(m)

    def test_mask_dtypes(self):
        m = masks()["holes"]
        for dt in (np.bool_, np.uint8, np.int8, np.int32, np.int64):
            with self.subTest(dtype=dt):
                self.check(m.astype(dt) * (3 if dt != np.bool_ else 1))


@needs_numpy
@needs_helpers
class PadUnpad(unittest.TestCase):
    def test_round_trip(self):
        rng = np.random.default_rng(1)
        for name, m in masks().items():
            b, s = m.shape
            x = rng.standard_normal((b, s, 2, 8)).astype(np.float16)
            info = flashattn.unpad_info(m)
            n = flashattn.to_host(info.count)
            packed = flashattn.unpad(x, info.indices, info.count)
            self.assertEqual(packed.shape, (b * s, 2, 8))
            np.testing.assert_array_equal(packed[:n], x.reshape(b * s, 2, 8)[m.reshape(-1)])
            back = flashattn.pad(packed, info.indices, info.count, b, s)
            self.assertEqual(back.shape, (b, s, 2, 8))
            np.testing.assert_array_equal(back, np.where(m[:, :, None, None], x, 0))

    def test_flat_rows_and_host_count(self):
        m = masks()["left"]
        b, s = m.shape
        x = np.arange(b * s * 16, dtype=np.float16).reshape(b * s, 16)
        info = flashattn.unpad_info(m)
        n = int(m.sum())
        packed = flashattn.unpad(x, info.indices, n)
        np.testing.assert_array_equal(packed[:n], x[m.reshape(-1)])

    def test_strided_rows(self):
        # rows of a view whose row stride is larger than the row: passed through, no copy
        m = masks()["holes"]
        b, s = m.shape
        big = np.random.default_rng(2).standard_normal((b, s, 3, 16)).astype(np.float16)
        x = big[:, :, 1]
        info = flashattn.unpad_info(m)
        n = flashattn.to_host(info.count)
        packed = flashattn.unpad(x, info.indices, info.count)
        np.testing.assert_array_equal(packed[:n], x.reshape(b * s, 16)[m.reshape(-1)])
        wide = np.zeros((b * s, 2, 16), np.float16)
        wide[:, 0] = packed
        back = flashattn.pad(wide[:, 0], info.indices, info.count, b, s)
        np.testing.assert_array_equal(back, np.where(m[:, :, None], x, 0))

    def test_bf16_bits(self):
        m = masks()["right"]
        b, s = m.shape
        x = flashattn.bf16_bits(np.random.default_rng(3).standard_normal((b, s, 8)))
        info = flashattn.unpad_info(m)
        back = flashattn.pad(flashattn.unpad(x, info.indices, info.count), info.indices, info.count, b, s)
        self.assertEqual(back.dtype, np.uint16)
        np.testing.assert_array_equal(back, np.where(m[:, :, None], x, 0))


@needs_numpy
@needs_helpers
class PositionIds(unittest.TestCase):
    def check(self, ids):
        ids = np.asarray(ids)
        flat = ids.reshape(-1)
        starts = [0] + [i for i in range(1, len(flat)) if flat[i] == 0]
        lens = np.diff(starts + [len(flat)])
        info = flashattn.cu_seqlens_from_position_ids(ids)
        self.assertEqual(info.cu_seqlens.shape, (len(flat) + 1,))
        n = len(starts)
        np.testing.assert_array_equal(info.cu_seqlens[:n + 1], cu_from_lens(lens))
        self.assertTrue((info.cu_seqlens[n:] == len(flat)).all())
        self.assertEqual(flashattn.to_host(info.num_seqs, info.max_seqlen), (n, int(lens.max())))

    def test_cases(self):
        for ids in ([0, 1, 2, 0, 1, 0, 1, 2, 3], [0], [0, 1, 2, 3], [0, 0, 0], [[0, 1, 0, 1, 2]],
                    [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7]):
            for dt in (np.int32, np.int64):
                with self.subTest(ids=ids, dtype=dt):
                    self.check(np.array(ids, dtype=dt))


@needs_numpy
@needs_helpers
class ToHost(unittest.TestCase):
    def test_values(self):
        self.assertEqual(flashattn.to_host(np.array([7], np.int32)), 7)
        self.assertEqual(flashattn.to_host(np.array([1, -2, 3], np.int64)), [1, -2, 3])
        self.assertEqual(flashattn.to_host(np.array([0.5, 2], np.float32)), [0.5, 2.0])
        self.assertEqual(flashattn.to_host(np.array([1.5], np.float16)), 1.5)
        # numpy uint16 stays bits (numpy has no bfloat16); torch bfloat16 decodes (TorchCPUHelpers)
        self.assertEqual(flashattn.to_host(flashattn.bf16_bits(np.array([3.0, -0.25]))), [0x4040, 0xBE80])
        self.assertEqual(flashattn.to_host(np.array([5], np.int32), np.array([6], np.int64)), (5, 6))
        self.assertEqual(flashattn.to_host(np.zeros(0, np.int32)), [])


@needs_numpy
@needs_helpers
class TransformersPaths(unittest.TestCase):
    def test_mask_path(self):
        """padded batch + left-padding mask -> unpad -> varlen_attn -> pad, without host syncs."""
        rng = np.random.default_rng(4)
        m = masks()["left"]
        b, s = m.shape
        hq, hk, d = 4, 2, 64
        q = rng.standard_normal((b, s, hq, d)).astype(np.float16)
        k = rng.standard_normal((b, s, hk, d)).astype(np.float16)
        v = rng.standard_normal((b, s, hk, d)).astype(np.float16)
        info = flashattn.unpad_info(m)
        qp, kp, vp = (flashattn.unpad(x, info.indices, info.count) for x in (q, k, v))
        out = flashattn.varlen_attn(qp, kp, vp, info.cu_seqlens, info.cu_seqlens, s, s, window_size=(-1, 0))
        padded = flashattn.pad(out, info.indices, info.count, b, s)
        self.assertEqual(padded.shape, (b, s, hq, d))
        for i in range(b):
            keep = m[i]
            ro, _ = reference(q[i][keep], k[i][keep], v[i][keep], [0, keep.sum()], [0, keep.sum()], window=(-1, 0))
            np.testing.assert_allclose(padded[i][keep].astype(np.float64), ro, atol=3e-3, rtol=3e-3)
            self.assertTrue((padded[i][~keep] == 0).all())

    def test_packed_path(self):
        """position ids restarting at 0 -> cu_seqlens -> varlen_attn, with and without the sync."""
        rng = np.random.default_rng(5)
        lens = [5, 12, 1, 30]
        ids = np.concatenate([np.arange(n) for n in lens]).astype(np.int64)
        t, h, d = len(ids), 4, 128
        q, k, v = (rng.standard_normal((t, h, d)).astype(np.float16) for _ in range(3))
        info = flashattn.cu_seqlens_from_position_ids(ids)
        ro, rl = reference(q, k, v, cu_from_lens(lens), cu_from_lens(lens), window=(-1, 0))
        # no sync: every entry of cu_seqlens (trailing empty sequences), max = total
        out = flashattn.varlen_attn(q, k, v, info.cu_seqlens, info.cu_seqlens, t, t, window_size=(-1, 0))
        np.testing.assert_allclose(out.astype(np.float64), ro, atol=3e-3, rtol=3e-3)
        # one sync: the exact batch and max
        n, mx = flashattn.to_host(info.num_seqs, info.max_seqlen)
        cu = info.cu_seqlens[:n + 1]
        out2, lse = flashattn.varlen_attn(q, k, v, cu, cu, mx, mx, window_size=(-1, 0), return_lse=True)
        np.testing.assert_array_equal(out, out2)
        np.testing.assert_allclose(lse, rl, atol=1e-3, rtol=1e-3)


@needs_numpy
@needs_torch
@needs_helpers
class TorchCPUHelpers(unittest.TestCase):
    def test_mask_path_bf16(self):
        g = torch.Generator().manual_seed(0)
        m = torch.tensor(masks()["left"])
        b, s = m.shape
        q = torch.randn(b, s, 4, 64, generator=g).bfloat16()
        info = flashattn.unpad_info(m)
        self.assertIsInstance(info.indices, torch.Tensor)
        self.assertEqual(info.indices.dtype, torch.int64)
        qp = flashattn.unpad(q, info.indices, info.count)
        out = flashattn.varlen_attn(qp, qp, qp, info.cu_seqlens, info.cu_seqlens, s, s, window_size=(-1, 0))
        padded = flashattn.pad(out, info.indices, info.count, b, s)
        self.assertEqual(padded.dtype, torch.bfloat16)
        for i in range(b):
            keep = m[i]
            x = q[i][keep].float().transpose(0, 1)
            ref = torch.nn.functional.scaled_dot_product_attention(x, x, x, is_causal=True).transpose(0, 1)
            torch.testing.assert_close(padded[i][keep].float(), ref, atol=2e-2, rtol=2e-2)
            self.assertTrue((padded[i][~keep] == 0).all())

    def test_to_host_tensors(self):
        self.assertEqual(flashattn.to_host(torch.tensor([3.0, -0.25], dtype=torch.bfloat16)), [3.0, -0.25])
        self.assertEqual(flashattn.to_host(torch.tensor([True, False])), [True, False])
        self.assertEqual(flashattn.to_host(torch.tensor(9, dtype=torch.int64)), 9)

    def test_position_ids_tensor(self):
        ids = torch.tensor([[0, 1, 2, 0, 1]])
        info = flashattn.cu_seqlens_from_position_ids(ids)
        self.assertEqual(info.cu_seqlens[:3].tolist(), [0, 3, 5])
        self.assertEqual(flashattn.to_host(info.num_seqs, info.max_seqlen), (2, 3))


if __name__ == "__main__":
    unittest.main()
