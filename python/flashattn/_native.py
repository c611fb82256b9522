"""ctypes view of include/flashattn.h (no compilation step, no torch build dependency).

Keep FwdParams in the exact field order of `fa_fwd_params`.
"""
import ctypes
import os

FA_BACKEND_CUDA, FA_BACKEND_CPU = 1, 2
FA_DTYPE_FP16, FA_DTYPE_BF16 = 1, 2
FA_MASK_NONE, FA_MASK_CAUSAL, FA_MASK_LOCAL = 0, 1, 2


class FwdParams(ctypes.Structure):
    _fields_ = [
        ("backend", ctypes.c_int),
        ("dtype", ctypes.c_int),
        ("batch", ctypes.c_int32),
        ("num_heads_q", ctypes.c_int32),
        ("num_heads_k", ctypes.c_int32),
        ("head_dim", ctypes.c_int32),
        ("cu_seqlens_q", ctypes.c_void_p),
        ("cu_seqlens_k", ctypes.c_void_p),
        ("total_q", ctypes.c_int64),
        ("total_k", ctypes.c_int64),
        ("max_seqlen_q", ctypes.c_int32),
        ("max_seqlen_k", ctypes.c_int32),
        ("seqused_k", ctypes.c_void_p),
        ("q", ctypes.c_void_p),
        ("k", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("out", ctypes.c_void_p),
    ] + [(f"{t}_{s}_stride", ctypes.c_int64) for t in ("q", "k", "v", "out") for s in ("batch", "row", "head")] + [
        ("scale", ctypes.c_float),
        ("softcap", ctypes.c_float),
        ("window_left", ctypes.c_int32),
        ("window_right", ctypes.c_int32),
        ("sinks", ctypes.c_void_p),
        ("lse", ctypes.c_void_p),
        ("stream", ctypes.c_void_p),
    ]


class Message(ctypes.Structure):
    _fields_ = [("text", ctypes.c_char * 512)]


class KernelInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("family", ctypes.c_char_p),
        ("backend", ctypes.c_int),
        ("arch", ctypes.c_int),
        ("head_dim", ctypes.c_int),
        ("dtype", ctypes.c_int),
        ("mask", ctypes.c_int),
        ("block_m", ctypes.c_int),
        ("block_n", ctypes.c_int),
        ("threads", ctypes.c_int),
        ("smem_bytes", ctypes.c_size_t),
    ]


def default_library_path():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("FLASHATTN_LIB", os.path.join(here, "..", "..", "build", "libflashattn.so"))


def load(path=None):
    lib = ctypes.CDLL(path or default_library_path())
    lib.fa_fwd_params_default.restype = FwdParams
    lib.fa_fwd.argtypes = [ctypes.POINTER(FwdParams), ctypes.POINTER(Message)]
    lib.fa_fwd.restype = ctypes.c_int
    lib.fa_fwd_query.argtypes = [ctypes.POINTER(FwdParams), ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(Message)]
    lib.fa_fwd_query.restype = ctypes.c_int
    lib.fa_fwd_with_kernel.argtypes = [ctypes.POINTER(FwdParams), ctypes.c_size_t, ctypes.POINTER(Message)]
    lib.fa_fwd_with_kernel.restype = ctypes.c_int
    lib.fa_kernel_count.restype = ctypes.c_size_t
    lib.fa_kernel_info_get.argtypes = [ctypes.c_size_t, ctypes.POINTER(KernelInfo)]
    lib.fa_kernel_info_get.restype = ctypes.c_int
    lib.fa_status_string.restype = ctypes.c_char_p
    lib.fa_version_string.restype = ctypes.c_char_p
    return lib


def kernel_info(lib, index):
    info = KernelInfo()
    if lib.fa_kernel_info_get(index, ctypes.byref(info)) != 0:
        raise IndexError(index)
    return info
