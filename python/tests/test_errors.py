"""Every bad input raises a Python exception that names the argument (or a
FlashAttnError carrying the library's status and message); none crashes."""
import os
import sys
import unittest

# fa_common also when run by path from the repository root (python3 -m unittest python/tests/test_errors.py)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fa_common import flashattn, needs_cuda, needs_helpers, needs_numpy, needs_torch, np, torch  # noqa: E402

FlashAttnError = flashattn.FlashAttnError


def good(t=30, hq=4, hk=2, d=64, dtype=None):
    rng = np.random.default_rng(0)
    dtype = dtype or np.float16
    q = rng.standard_normal((t, hq, d)).astype(dtype)
    k = rng.standard_normal((t, hk, d)).astype(dtype)
    v = rng.standard_normal((t, hk, d)).astype(dtype)
    cu = np.array([0, 10, t], np.int32)
    return dict(query=q, key=k, value=v, cu_seq_q=cu, cu_seq_k=cu.copy(), max_q=t - 10, max_k=t - 10)


def call(**over):
    args = good()
    kw = {}
    for name, val in over.items():
        if name in args:
            args[name] = val
        else:
            kw[name] = val
    return flashattn.varlen_attn(args["query"], args["key"], args["value"], args["cu_seq_q"], args["cu_seq_k"],
                                 args["max_q"], args["max_k"], **kw)


@needs_numpy
class VarlenErrors(unittest.TestCase):
    def raises(self, exc, name, **over):
        with self.assertRaises(exc) as cm:
            call(**over)
        self.assertIn(name, str(cm.exception))
        return cm.exception

    def test_good_call_works(self):
        self.assertEqual(call().shape, (30, 4, 64))

    # kinds and dtypes
    def test_not_an_array(self):
        self.raises(TypeError, "query", query=[[1.0]])

    def test_query_float32(self):
        self.raises(TypeError, "query", query=good(dtype=np.float32)["query"])

    def test_query_float64(self):
        self.raises(TypeError, "query", query=good(dtype=np.float64)["query"])

    def test_key_dtype_mismatch(self):
        self.raises(TypeError, "key", key=good(dtype=np.float32)["key"])

    def test_value_dtype_mismatch(self):
        self.raises(TypeError, "value", value=good()["value"].view(np.uint16))

    def test_uint16_without_dtype(self):
        g = good()
        self.raises(TypeError, "dtype='bf16'", query=g["query"].view(np.uint16), key=g["key"].view(np.uint16),
                    value=g["value"].view(np.uint16))

    def test_bad_dtype_keyword(self):
        self.raises(ValueError, "dtype", dtype="fp8")

    def test_dtype_keyword_contradicts(self):
        self.raises(TypeError, "dtype", dtype="bf16")

    def test_cu_seq_int64(self):
        self.raises(TypeError, "cu_seq_q", cu_seq_q=np.array([0, 10, 30], np.int64))

    def test_cu_seq_k_float(self):
        self.raises(TypeError, "cu_seq_k", cu_seq_k=np.array([0, 10, 30], np.float32))

    def test_sinks_int(self):
        self.raises(TypeError, "sinks", sinks=np.zeros(4, np.int32))

    def test_non_native_byte_order(self):
        self.raises(TypeError, "query", query=good()["query"].astype(">f2"))

    # ranks and shapes
    def test_query_rank(self):
        self.raises(ValueError, "query", query=good()["query"].reshape(30, 256))

    def test_key_rank(self):
        self.raises(ValueError, "key", key=good()["key"][None])

    def test_value_shape(self):
        self.raises(ValueError, "value", value=good()["value"][:20])

    def test_head_dim_mismatch(self):
        self.raises(ValueError, "key", key=np.zeros((30, 2, 32), np.float16), value=np.zeros((30, 2, 32), np.float16))

    def test_heads_not_divisible(self):
        g = good(hk=3)
        self.raises(ValueError, "key", key=g["key"], value=g["value"])

    def test_enable_gqa_false(self):
        self.raises(ValueError, "enable_gqa", enable_gqa=False)

    def test_cu_seq_rank(self):
        self.raises(ValueError, "cu_seq_q", cu_seq_q=np.zeros((1, 3), np.int32))

    def test_cu_seq_too_short(self):
        self.raises(ValueError, "cu_seq_q", cu_seq_q=np.zeros(1, np.int32), cu_seq_k=np.zeros(1, np.int32))

    def test_cu_seq_length_mismatch(self):
        self.raises(ValueError, "cu_seq_k", cu_seq_k=np.array([0, 30], np.int32))

    def test_cu_seq_k_none(self):
        self.raises(TypeError, "cu_seq_k", cu_seq_k=None)

    def test_sinks_shape(self):
        self.raises(ValueError, "sinks", sinks=np.zeros(3, np.float32))

    def test_seqused_k_shape(self):
        self.raises(ValueError, "seqused_k", seqused_k=np.zeros(3, np.int32))

    # host scalars
    def test_max_q_float(self):
        self.raises(TypeError, "max_q", max_q=20.0)

    def test_max_k_negative(self):
        self.raises(ValueError, "max_k", max_k=-1)

    def test_max_q_too_large(self):
        self.raises(ValueError, "max_q", max_q=2 ** 31)

    def test_scale_zero(self):
        self.raises(ValueError, "scale", scale=0.0)

    def test_scale_nan(self):
        self.raises(ValueError, "scale", scale=float("nan"))

    def test_scale_string(self):
        self.raises(TypeError, "scale", scale="big")

    def test_softcap_negative(self):
        self.raises(ValueError, "softcap", softcap=-1.0)

    def test_softcap_inf(self):
        self.raises(ValueError, "softcap", softcap=float("inf"))

    def test_window_not_pair(self):
        self.raises(TypeError, "window_size", window_size=5)

    def test_window_three(self):
        self.raises(TypeError, "window_size", window_size=(1, 2, 3))

    def test_window_below_minus_one(self):
        self.raises(ValueError, "window_size[0]", window_size=(-2, 0))

    def test_window_float(self):
        self.raises(TypeError, "window_size[1]", window_size=(-1, 0.5))

    # layouts
    def test_last_dim_not_contiguous(self):
        q = np.zeros((30, 4, 128), np.float16)[:, :, ::2]
        self.raises(ValueError, "query", query=q)

    def test_transposed_last_dim(self):
        k = np.ascontiguousarray(good()["key"].transpose(2, 1, 0)).transpose(2, 1, 0)
        self.raises(ValueError, "key", key=k)

    def test_stride_not_multiple_of_8(self):
        buf = np.zeros((30, 4 * 64 + 4), np.float16)
        # row stride 260 elements
        q = np.lib.stride_tricks.as_strided(buf, shape=(30, 4, 64), strides=(buf.strides[0], 128, 2))
        self.raises(ValueError, "query", query=q)

    def test_negative_stride(self):
        self.raises(ValueError, "query", query=good()["query"][::-1])

    def test_misaligned(self):
        buf = np.zeros(30 * 4 * 64 + 8, np.float16)
        q = buf[1:1 + 30 * 4 * 64].reshape(30, 4, 64)
        self.raises(ValueError, "query", query=q)

    def test_cu_seq_not_contiguous(self):
        self.raises(ValueError, "cu_seq_q", cu_seq_q=np.array([0, 9, 10, 9, 30, 0], np.int32)[::2])

    # the library's own checks
    def test_unsupported_head_dim(self):
        g = good(d=72)
        e = self.raises(FlashAttnError, "head_dim", query=g["query"], key=g["key"], value=g["value"])
        self.assertEqual(e.status_name, "FA_ERR_UNSUPPORTED_HEAD_DIM")
        self.assertIn("fa_fwd", str(e))

    def test_bad_cu_seqlens_contents(self):
        e = self.raises(FlashAttnError, "cu_seqlens_q", cu_seq_q=np.array([0, 20, 10], np.int32))
        self.assertEqual(e.status_name, "FA_ERR_INVALID_SEQLENS")

    def test_sequence_longer_than_max(self):
        e = self.raises(FlashAttnError, "max_seqlen_q", max_q=5)
        self.assertEqual(e.status, flashattn._native.FA_ERR_INVALID_SEQLENS)

    def test_cu_past_total(self):
        e = self.raises(FlashAttnError, "total_k", cu_seq_k=np.array([0, 10, 31], np.int32), max_k=21)
        self.assertEqual(e.status_name, "FA_ERR_INVALID_SEQLENS")


@needs_numpy
@needs_torch
class TorchErrors(unittest.TestCase):
    def tensors(self, dt=None):
        dt = dt or torch.float16
        q = torch.randn(30, 4, 64).to(dt)
        k = torch.randn(30, 2, 64).to(dt)
        cu = torch.tensor([0, 10, 30], dtype=torch.int32)
        return q, k, k.clone(), cu

    def test_mixed_numpy_and_torch(self):
        q, k, v, cu = self.tensors()
        with self.assertRaisesRegex(TypeError, "key"):
            flashattn.varlen_attn(q, k.numpy(), v, cu, cu, 20, 20)

    def test_mixed_cu_kind(self):
        q, k, v, cu = self.tensors()
        with self.assertRaisesRegex(TypeError, "cu_seq_q"):
            flashattn.varlen_attn(q, k, v, cu.numpy(), cu, 20, 20)

    def test_float32_tensor(self):
        q, k, v, cu = self.tensors(torch.float32)
        with self.assertRaisesRegex(TypeError, "query"):
            flashattn.varlen_attn(q, k, v, cu, cu, 20, 20)

    def test_key_bf16_query_fp16(self):
        q, k, v, cu = self.tensors()
        with self.assertRaisesRegex(TypeError, "key"):
            flashattn.varlen_attn(q, k.bfloat16(), v, cu, cu, 20, 20)

    def test_meta_device(self):
        q, k, v, cu = self.tensors()
        with self.assertRaisesRegex(ValueError, "query.*meta"):
            flashattn.varlen_attn(q.to("meta"), k, v, cu, cu, 20, 20)

    def test_sparse_layout(self):
        q, k, v, cu = self.tensors()
        with self.assertRaisesRegex(ValueError, "value.*layout"):
            flashattn.varlen_attn(q, k, v.float().to_sparse().half(), cu, cu, 20, 20)

    def test_transposed(self):
        q, k, v, cu = self.tensors()
        qt = q.transpose(1, 2).contiguous().transpose(1, 2)
        with self.assertRaisesRegex(ValueError, "query.*contiguous last dimension"):
            flashattn.varlen_attn(qt, k, v, cu, cu, 20, 20)

    def test_cu_int64(self):
        q, k, v, cu = self.tensors()
        with self.assertRaisesRegex(TypeError, "cu_seq_k.*int32"):
            flashattn.varlen_attn(q, k, v, cu, cu.long(), 20, 20)

    def test_max_as_tensor_works(self):
        q, k, v, cu = self.tensors()
        out = flashattn.varlen_attn(q, k, v, cu, cu, torch.tensor(20), (cu[1:] - cu[:-1]).max())
        self.assertEqual(out.shape, q.shape)

    def test_max_as_float_tensor(self):
        q, k, v, cu = self.tensors()
        with self.assertRaisesRegex(TypeError, "max_q"):
            flashattn.varlen_attn(q, k, v, cu, cu, torch.tensor(20.0), 20)


@needs_cuda
class CudaErrors(unittest.TestCase):
    def test_cpu_tensor_with_cuda_others(self):
        q = torch.randn(30, 4, 64, device="cuda", dtype=torch.float16)
        cu = torch.tensor([0, 10, 30], dtype=torch.int32, device="cuda")
        with self.assertRaisesRegex(ValueError, "key.*cpu"):
            flashattn.varlen_attn(q, q.cpu(), q, cu, cu, 20, 20)
        with self.assertRaisesRegex(ValueError, "cu_seq_k"):
            flashattn.varlen_attn(q, q, q, cu, cu.cpu(), 20, 20)
        with self.assertRaisesRegex(ValueError, "sinks"):
            flashattn.varlen_attn(q, q, q, cu, cu, 20, 20, sinks=torch.zeros(4))

    def test_two_devices(self):
        if torch.cuda.device_count() < 2:
            self.skipTest("one CUDA device")
        q = torch.randn(30, 4, 64, device="cuda:0", dtype=torch.float16)
        cu = torch.tensor([0, 10, 30], dtype=torch.int32, device="cuda:0")
        with self.assertRaisesRegex(ValueError, "value.*cuda:1"):
            flashattn.varlen_attn(q, q, q.to("cuda:1"), cu, cu, 20, 20)


@needs_numpy
@needs_helpers
class HelperErrors(unittest.TestCase):
    def mask(self):
        return np.array([[0, 1, 1, 1], [1, 1, 0, 0]], dtype=bool)

    def test_mask_float(self):
        with self.assertRaisesRegex(TypeError, "attention_mask"):
            flashattn.unpad_info(self.mask().astype(np.float32))

    def test_mask_rank(self):
        with self.assertRaisesRegex(ValueError, "attention_mask"):
            flashattn.unpad_info(self.mask().reshape(-1))

    def test_mask_not_contiguous(self):
        with self.assertRaisesRegex(ValueError, "attention_mask.*contiguous"):
            flashattn.unpad_info(np.ones((2, 8), bool)[:, ::2])

    def test_mask_not_array(self):
        with self.assertRaisesRegex(TypeError, "attention_mask"):
            flashattn.unpad_info([[1, 0]])

    def test_unpad_wrong_dtype(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(TypeError, "x.*dtype"):
            flashattn.unpad(np.zeros((2, 4, 8), np.float32), info.indices, info.count)

    def test_unpad_wrong_rows(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(ValueError, "x.*shape"):
            flashattn.unpad(np.zeros((3, 4, 8), np.float16), info.indices, info.count)

    def test_unpad_row_not_multiple_of_8(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(ValueError, "x.*multiple of 8"):
            flashattn.unpad(np.zeros((2, 4, 6), np.float16), info.indices, info.count)

    def test_unpad_row_not_contiguous(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(ValueError, "x.*contiguous"):
            flashattn.unpad(np.zeros((2, 4, 16), np.float16)[:, :, ::2], info.indices, info.count)

    def test_unpad_indices_dtype(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(TypeError, "indices"):
            flashattn.unpad(np.zeros((2, 4, 8), np.float16), info.indices.astype(np.int32), info.count)

    def test_unpad_indices_length(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(ValueError, "length of indices"):
            flashattn.unpad(np.zeros((2, 4, 8), np.float16), info.indices[:5], info.count)

    def test_count_dtype(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(TypeError, "count"):
            flashattn.unpad(np.zeros((2, 4, 8), np.float16), info.indices, info.count.astype(np.int64))

    def test_count_shape(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(ValueError, "count"):
            flashattn.unpad(np.zeros((2, 4, 8), np.float16), info.indices, info.cu_seqlens)

    def test_count_out_of_range(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(ValueError, "count"):
            flashattn.unpad(np.zeros((2, 4, 8), np.float16), info.indices, 9)

    def test_pad_too_few_rows(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(ValueError, "x has 5 rows"):
            flashattn.pad(np.zeros((5, 8), np.float16), info.indices, info.count, 2, 4)

    def test_count_larger_than_rows(self):
        # count lives with the data; the CPU backend checks it (CUDA kernels clamp it)
        info = flashattn.unpad_info(self.mask())
        with self.assertRaises(FlashAttnError) as cm:
            flashattn.unpad(np.zeros((1, 4, 8), np.float16), info.indices[:4], info.count)
        self.assertIn("count", str(cm.exception))

    def test_pad_bad_batch(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(ValueError, "batch"):
            flashattn.pad(np.zeros((8, 8), np.float16), info.indices, info.count, 0, 4)

    def test_pad_indices_mismatch(self):
        info = flashattn.unpad_info(self.mask())
        with self.assertRaisesRegex(ValueError, "indices"):
            flashattn.pad(np.zeros((12, 8), np.float16), info.indices, info.count, 3, 4)

    def test_position_ids_float(self):
        with self.assertRaisesRegex(TypeError, "position_ids"):
            flashattn.cu_seqlens_from_position_ids(np.zeros(5, np.float32))

    def test_position_ids_batched(self):
        with self.assertRaisesRegex(ValueError, "position_ids"):
            flashattn.cu_seqlens_from_position_ids(np.zeros((2, 5), np.int64))

    def test_position_ids_empty(self):
        with self.assertRaisesRegex(ValueError, "position_ids"):
            flashattn.cu_seqlens_from_position_ids(np.zeros(0, np.int64))

    def test_position_ids_not_contiguous(self):
        with self.assertRaisesRegex(ValueError, "position_ids"):
            flashattn.cu_seqlens_from_position_ids(np.zeros(10, np.int64)[::2])

    def test_to_host_nothing(self):
        with self.assertRaises(TypeError):
            flashattn.to_host()

    def test_to_host_list(self):
        with self.assertRaisesRegex(TypeError, "x"):
            flashattn.to_host([1, 2])


if __name__ == "__main__":
    unittest.main()
