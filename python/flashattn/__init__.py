"""flashattn: Python binding of the flash-attention C library (ctypes).

No compilation step and no build dependency: the package opens the shared
library (libflashattn.so) with ctypes. Search order: $FLASHATTN_LIB, the
source checkout's build/libflashattn.so (`ninja` builds it), an installed
libflashattn.so (`ninja install`; found through ctypes.util.find_library).
torch and numpy are optional: pass whichever you use.

Tensors
-------
- torch CUDA tensors: the CUDA backend, on the tensors' device, asynchronous
  on torch.cuda.current_stream(); outputs are new tensors on that device.
- torch CPU tensors and numpy arrays: the CPU backend (single thread).
- numpy has no bfloat16: pass bfloat16 data as a uint16 view of its bits with
  dtype="bf16" (flashattn.bf16_bits / bf16_to_float32 convert); outputs are
  uint16 then. ml_dtypes.bfloat16 arrays are accepted as they are.

Functions
---------
- varlen_attn(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, scale,
  window_size, softcap, sinks, return_lse, ...): torch.nn.attention.varlen's
  varlen_attn, plus softcap and sinks.
- The transformers paths, without device syncs:
  unpad_info(attention_mask) -> UnpadInfo(indices, cu_seqlens, max_seqlen, count)
  unpad(x, indices, count) / pad(x, indices, count, batch, seqlen)
  cu_seqlens_from_position_ids(position_ids) -> PackedSeqInfo(cu_seqlens, num_seqs, max_seqlen)
  to_host(*tensors): the explicit sync that brings small results to Python ints.
- flashattn.transformers (imported on its own; needs torch and transformers
  >= 5): register(name="flashattn") makes the library a transformers
  attention implementation, including "paged|flashattn" for continuous
  batching over transformers' own paged KV cache.

Errors: wrong kinds, dtypes, devices, ranks, shapes or layouts raise
TypeError / ValueError naming the argument; a call the library rejects
raises FlashAttnError (a RuntimeError) carrying the library's status and
message. Forward only (no autograd).

Example (CUDA)::

    import torch, flashattn
    q = torch.randn(300, 8, 128, device="cuda", dtype=torch.bfloat16)
    k = v = torch.randn(300, 2, 128, device="cuda", dtype=torch.bfloat16)
    cu = torch.tensor([0, 100, 300], device="cuda", dtype=torch.int32)
    out, lse = flashattn.varlen_attn(q, k, v, cu, cu, 200, 200, window_size=(-1, 0), return_lse=True)
"""
from ._api import (  # noqa: F401
    FlashAttnError,
    PackedSeqInfo,
    UnpadInfo,
    bf16_bits,
    bf16_to_float32,
    cu_seqlens_from_position_ids,
    library,
    pad,
    to_host,
    unpad,
    unpad_info,
    varlen_attn,
    version,
)

__all__ = [
    "varlen_attn", "unpad_info", "unpad", "pad", "cu_seqlens_from_position_ids", "to_host", "FlashAttnError",
    "UnpadInfo", "PackedSeqInfo", "library", "version", "bf16_bits", "bf16_to_float32",
]
