"""ctypes view of include/flashattn.h (no compilation step, no torch build dependency).

This module is the raw layer: constants, the structs of the header in their
exact field order, and `load()`, which opens the shared library and declares
the argument types of every function. `flashattn/__init__.py` builds the
Python API (`varlen_attn`, the mask helpers) on top of it; `bench/bench.py`
uses this module directly.

Layout
------
The structs below mirror the C structs field by field, so ctypes computes the
same offsets as the C compiler for the platform ABI (LP64: Linux x86_64 and
aarch64). C enums are `int` (4 bytes); `fa_stream_t` and every pointer are
`c_void_p`; `size_t` is `c_size_t`. Every parameter struct (and
fa_kernel_info) starts with `uint32_t struct_size`, which the header's
*_default() initializers set; here every such class sets it in __init__, so
`FwdParams()` is as valid a start as `lib.fa_fwd_params_default()` (whose
other defaults, the -1 windows, it does not have). On LP64 (0.2 layout):

    fa_fwd_params (376 bytes; the 0.2 layout ends at 272)
      0 struct_size  4 backend  8 dtype  12 batch  16 num_heads_q  20 num_heads_k
     24 head_dim  32 cu_seqlens_q  40 cu_seqlens_k  48 total_q  56 total_k
     64 max_seqlen_q  68 max_seqlen_k  72 seqused_k  80 q  88 k  96 v  104 out
    112..200 the 12 int64 strides (q, k, v, out) x (batch, row, head)
    208 scale  212 softcap  216 window_left  220 window_right
    224 sinks  232 lse  240 stream  248 context  256 workspace  264 workspace_bytes
    272 block_table  280 block_table_stride  288 max_pages_per_seq  292 page_size  296 num_pages
    304 k_new  312 v_new  320..360 the k_new/v_new strides  368 num_splits  372 launch_flags (0.3: reserved)

    fa_context (232 bytes, fixed), fa_unpad_info_params (64), fa_rows_params (88),
    fa_position_ids_params (64), fa_message (512), fa_kernel_info (88), fa_combine_params (152),
    fa_fwd_dispatch_info (48, 0.4), fa_fwd_workspace_bounds (56, 0.4)

`python/tests/test_layout.py` checks all of this against the header: field
names and order of every struct, and (with a C compiler) sizeof/offsetof of
every field and the value of every enum constant and macro the header
defines, by compiling a small C program against include/flashattn.h.
Run it after any change to the header. Nothing is compiled at import time.

Library search order (`find_library_path`): the environment variable
FLASHATTN_LIB, then the package-relative build (`<repo>/build/libflashattn.so`
for a source checkout), then an installed `libflashattn.so` found by
`ctypes.util.find_library("flashattn")`.
"""
import ctypes
import ctypes.util
import os

# ---------------------------------------------------------------- enums

FA_OK = 0
STATUS_NAMES = (
    "FA_OK", "FA_ERR_NULL_POINTER", "FA_ERR_INVALID_SHAPE", "FA_ERR_HEADS_NOT_DIVISIBLE", "FA_ERR_INVALID_STRIDE",
    "FA_ERR_MISALIGNED", "FA_ERR_INVALID_WINDOW", "FA_ERR_INVALID_SCALE", "FA_ERR_INVALID_SOFTCAP",
    "FA_ERR_INVALID_SEQLENS", "FA_ERR_OVERFLOW", "FA_ERR_UNSUPPORTED_HEAD_DIM", "FA_ERR_UNSUPPORTED_DTYPE",
    "FA_ERR_UNSUPPORTED_DEVICE", "FA_ERR_NO_KERNEL", "FA_ERR_INVALID_BACKEND", "FA_ERR_NO_DEVICE",
    "FA_ERR_INVALID_POINTER", "FA_ERR_CUDA", "FA_ERR_STRUCT_SIZE", "FA_ERR_INVALID_CONTEXT", "FA_ERR_WORKSPACE",
    "FA_ERR_UNSUPPORTED",
)
for _i, _n in enumerate(STATUS_NAMES):
    globals()[_n] = _i
del _i, _n

FA_BACKEND_CUDA, FA_BACKEND_CPU = 1, 2
FA_DTYPE_FP16, FA_DTYPE_BF16, FA_DTYPE_FP32 = 1, 2, 3
FA_MAX_SPLITS = 256
FA_LAUNCH_NO_PDL = 1
FA_MASK_NONE, FA_MASK_CAUSAL, FA_MASK_LOCAL = 0, 1, 2
FA_INT_BOOL, FA_INT32, FA_INT64 = 1, 2, 3
FA_MESSAGE_CAPACITY = 512
FA_CONTEXT_RESERVED_WORDS = 24
FA_CURRENT_DEVICE = -1

# ---------------------------------------------------------------- structs


class SizedStructure(ctypes.Structure):
    """A header struct that starts with uint32_t struct_size: set on construction."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.struct_size = ctypes.sizeof(self)


class Context(ctypes.Structure):
    """fa_context: filled by fa_context_init (fixed size)."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("backend", ctypes.c_int),
        ("device", ctypes.c_int32),
        ("arch", ctypes.c_int32),
        ("sm_count", ctypes.c_int32),
        ("max_smem_per_block", ctypes.c_int32),
        ("smem_per_sm", ctypes.c_int32),
        ("l2_bytes", ctypes.c_int32),
        ("tensor_map_encode", ctypes.c_void_p),
        ("reserved", ctypes.c_uint64 * FA_CONTEXT_RESERVED_WORDS),
    ]


class FwdParams(SizedStructure):
    """fa_fwd_params, in the header's field order."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
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
    ] + [("%s_%s_stride" % (t, s), ctypes.c_int64) for t in ("q", "k", "v", "out")
         for s in ("batch", "row", "head")] + [
        ("scale", ctypes.c_float),
        ("softcap", ctypes.c_float),
        ("window_left", ctypes.c_int32),
        ("window_right", ctypes.c_int32),
        ("sinks", ctypes.c_void_p),
        ("lse", ctypes.c_void_p),
        ("stream", ctypes.c_void_p),
        ("context", ctypes.c_void_p),
        ("workspace", ctypes.c_void_p),
        ("workspace_bytes", ctypes.c_size_t),
        # 0.3: KV caches
        ("block_table", ctypes.c_void_p),
        ("block_table_stride", ctypes.c_int64),
        ("max_pages_per_seq", ctypes.c_int32),
        ("page_size", ctypes.c_int32),
        ("num_pages", ctypes.c_int64),
        ("k_new", ctypes.c_void_p),
        ("v_new", ctypes.c_void_p),
    ] + [("%s_new_%s_stride" % (t, s), ctypes.c_int64) for t in ("k", "v") for s in ("batch", "row", "head")] + [
        ("num_splits", ctypes.c_int32),
        ("launch_flags", ctypes.c_uint32),
    ]


class CombineParams(SizedStructure):
    """fa_combine_params: merge partial attention results by their LSEs."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("backend", ctypes.c_int),
        ("num_parts", ctypes.c_int32),
        ("num_heads", ctypes.c_int32),
        ("head_dim", ctypes.c_int32),
        ("num_rows", ctypes.c_int64),
        ("out_parts", ctypes.c_void_p),
        ("out_parts_part_stride", ctypes.c_int64),
        ("out_parts_row_stride", ctypes.c_int64),
        ("out_parts_head_stride", ctypes.c_int64),
        ("lse_parts", ctypes.c_void_p),
        ("lse_parts_part_stride", ctypes.c_int64),
        ("lse_parts_head_stride", ctypes.c_int64),
        ("sinks", ctypes.c_void_p),
        ("out_dtype", ctypes.c_int),
        ("out", ctypes.c_void_p),
        ("out_row_stride", ctypes.c_int64),
        ("out_head_stride", ctypes.c_int64),
        ("lse", ctypes.c_void_p),
        ("lse_head_stride", ctypes.c_int64),
        ("stream", ctypes.c_void_p),
    ]


class UnpadInfoParams(SizedStructure):
    """fa_unpad_info_params: attention mask -> indices, cu_seqlens, max_seqlen."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("backend", ctypes.c_int),
        ("attention_mask", ctypes.c_void_p),
        ("mask_dtype", ctypes.c_int),
        ("batch", ctypes.c_int32),
        ("seqlen", ctypes.c_int32),
        ("indices", ctypes.c_void_p),
        ("cu_seqlens", ctypes.c_void_p),
        ("max_seqlen", ctypes.c_void_p),
        ("stream", ctypes.c_void_p),
    ]


class RowsParams(SizedStructure):
    """fa_rows_params: gather (fa_unpad_rows) / scatter (fa_pad_rows) of rows."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("backend", ctypes.c_int),
        ("dtype", ctypes.c_int),
        ("row_elems", ctypes.c_int64),
        ("src", ctypes.c_void_p),
        ("src_row_stride", ctypes.c_int64),
        ("dst", ctypes.c_void_p),
        ("dst_row_stride", ctypes.c_int64),
        ("indices", ctypes.c_void_p),
        ("count", ctypes.c_void_p),
        ("padded_rows", ctypes.c_int64),
        ("stream", ctypes.c_void_p),
    ]


class PositionIdsParams(SizedStructure):
    """fa_position_ids_params: position ids of packed sequences -> cu_seqlens."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("backend", ctypes.c_int),
        ("position_ids", ctypes.c_void_p),
        ("dtype", ctypes.c_int),
        ("total", ctypes.c_int64),
        ("cu_seqlens", ctypes.c_void_p),
        ("num_seqs", ctypes.c_void_p),
        ("max_seqlen", ctypes.c_void_p),
        ("stream", ctypes.c_void_p),
    ]


class FwdDispatchInfo(SizedStructure):
    """fa_fwd_dispatch_info (0.4), filled by fa_fwd_query_dispatch (struct_size set on construction, as
    FA_FWD_DISPATCH_INFO_INIT): the kernel(s) fa_fwd would run, a pair's short-row bound, splits, workspace."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("num_kernels", ctypes.c_int32),
        ("kernel_index", ctypes.c_size_t * 2),
        ("short_rows", ctypes.c_int32),
        ("short_seqlen_q", ctypes.c_int32),
        ("splits", ctypes.c_int32 * 2),
        ("workspace_bytes", ctypes.c_size_t),
    ]


class FwdWorkspaceBounds(SizedStructure):
    """fa_fwd_workspace_bounds (0.4): upper bounds of the calls fa_fwd_workspace_size_max covers. Construct it
    with lib.fa_fwd_workspace_bounds_default() for the header's defaults (CUDA, bf16)."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("backend", ctypes.c_int),
        ("dtype", ctypes.c_int),
        ("num_heads_q", ctypes.c_int32),
        ("num_heads_k", ctypes.c_int32),
        ("head_dim", ctypes.c_int32),
        ("max_batch", ctypes.c_int32),
        ("max_seqlen_q", ctypes.c_int32),
        ("max_total_q", ctypes.c_int64),
        ("max_seqlen_k", ctypes.c_int32),
        ("num_splits", ctypes.c_int32),
        ("context", ctypes.c_void_p),
    ]


class Message(ctypes.Structure):
    """fa_message: the reason for a failed call."""
    _fields_ = [("text", ctypes.c_char * FA_MESSAGE_CAPACITY)]


class KernelInfo(SizedStructure):
    """fa_kernel_info (struct_size set on construction, as FA_KERNEL_INFO_INIT)."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("name", ctypes.c_char_p),
        ("family", ctypes.c_char_p),
        ("description", ctypes.c_char_p),
        ("arch_name", ctypes.c_char_p),
        ("backend", ctypes.c_int),
        ("arch", ctypes.c_int32),
        ("head_dim", ctypes.c_int32),
        ("dtype", ctypes.c_int),
        ("mask", ctypes.c_int),
        ("priority", ctypes.c_int32),
        ("block_m", ctypes.c_int32),
        ("block_n", ctypes.c_int32),
        ("threads", ctypes.c_int32),
        ("smem_bytes", ctypes.c_size_t),
    ]


# (ctypes class, C type name): what tests/test_layout.py compares with the header.
STRUCTS = (
    (Context, "fa_context"),
    (FwdParams, "fa_fwd_params"),
    (UnpadInfoParams, "fa_unpad_info_params"),
    (RowsParams, "fa_rows_params"),
    (PositionIdsParams, "fa_position_ids_params"),
    (Message, "fa_message"),
    (KernelInfo, "fa_kernel_info"),
    (CombineParams, "fa_combine_params"),
    (FwdDispatchInfo, "fa_fwd_dispatch_info"),
    (FwdWorkspaceBounds, "fa_fwd_workspace_bounds"),
)

# Enum and macro values mirrored above, by their C names.
CONSTANTS = dict(
    [(n, i) for i, n in enumerate(STATUS_NAMES)] + [
        ("FA_BACKEND_CUDA", FA_BACKEND_CUDA), ("FA_BACKEND_CPU", FA_BACKEND_CPU),
        ("FA_DTYPE_FP16", FA_DTYPE_FP16), ("FA_DTYPE_BF16", FA_DTYPE_BF16), ("FA_DTYPE_FP32", FA_DTYPE_FP32),
        ("FA_MAX_SPLITS", FA_MAX_SPLITS), ("FA_LAUNCH_NO_PDL", FA_LAUNCH_NO_PDL),
        ("FA_MASK_NONE", FA_MASK_NONE), ("FA_MASK_CAUSAL", FA_MASK_CAUSAL), ("FA_MASK_LOCAL", FA_MASK_LOCAL),
        ("FA_INT_BOOL", FA_INT_BOOL), ("FA_INT32", FA_INT32), ("FA_INT64", FA_INT64),
        ("FA_MESSAGE_CAPACITY", FA_MESSAGE_CAPACITY), ("FA_CONTEXT_RESERVED_WORDS", FA_CONTEXT_RESERVED_WORDS),
        ("FA_CURRENT_DEVICE", FA_CURRENT_DEVICE),
        ("FA_VERSION_MAJOR", 0), ("FA_VERSION_MINOR", 4), ("FA_VERSION_PATCH", 0),
    ] + [(name, size) for name, size in (
        ("FA_FWD_PARAMS_SIZE_V0_2", 272), ("FA_UNPAD_INFO_PARAMS_SIZE_V0_2", 64), ("FA_ROWS_PARAMS_SIZE_V0_2", 88),
        ("FA_POSITION_IDS_PARAMS_SIZE_V0_2", 64), ("FA_KERNEL_INFO_SIZE_V0_2", 88), ("FA_FWD_PARAMS_SIZE_V0_3", 376),
        ("FA_COMBINE_PARAMS_SIZE_V0_3", 152), ("FA_FWD_DISPATCH_INFO_SIZE_V0_4", 48),
        ("FA_FWD_WORKSPACE_BOUNDS_SIZE_V0_4", 56))])

# The layout version these mirrors describe: a library older than this has
# other struct layouts (0.1 had no struct_size) and is refused by load().
LAYOUT_VERSION_NUMBER = 300

# ---------------------------------------------------------------- loading


def _package_build_path():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "build", "libflashattn.so"))


def find_library_path():
    """Path (or soname) of the shared library to load, or None.

    Order: $FLASHATTN_LIB; the package-relative build/libflashattn.so of a
    source checkout; an installed libflashattn.so (ctypes.util.find_library,
    which searches the linker cache and LD_LIBRARY_PATH)."""
    env = os.environ.get("FLASHATTN_LIB")
    if env:
        return env
    local = _package_build_path()
    if os.path.exists(local):
        return local
    return ctypes.util.find_library("flashattn")


def default_library_path():
    """Kept for older callers: find_library_path(), or the package-relative path."""
    return find_library_path() or _package_build_path()


_P = ctypes.c_void_p
_MSG = ctypes.POINTER(Message)

# name: (restype, argtypes). Helpers may be missing from an older build: see load().
_SIGNATURES = {
    "fa_version_number": (ctypes.c_uint, []),
    "fa_version_string": (ctypes.c_char_p, []),
    "fa_status_string": (ctypes.c_char_p, [ctypes.c_int]),
    "fa_dtype_name": (ctypes.c_char_p, [ctypes.c_int]),
    "fa_backend_name": (ctypes.c_char_p, [ctypes.c_int]),
    "fa_mask_name": (ctypes.c_char_p, [ctypes.c_int]),
    "fa_mask_from_window": (ctypes.c_int, [ctypes.c_int32, ctypes.c_int32]),
    "fa_context_init": (ctypes.c_int, [ctypes.POINTER(Context), ctypes.c_int, ctypes.c_int, _MSG]),
    "fa_fwd_params_default": (FwdParams, []),
    "fa_fwd": (ctypes.c_int, [ctypes.POINTER(FwdParams), _MSG]),
    "fa_fwd_query": (ctypes.c_int, [ctypes.POINTER(FwdParams), ctypes.POINTER(ctypes.c_size_t), _MSG]),
    "fa_fwd_workspace_size": (ctypes.c_int, [ctypes.POINTER(FwdParams), ctypes.POINTER(ctypes.c_size_t), _MSG]),
    "fa_fwd_query_dispatch": (ctypes.c_int, [ctypes.POINTER(FwdParams), ctypes.POINTER(FwdDispatchInfo), _MSG]),
    "fa_fwd_workspace_bounds_default": (FwdWorkspaceBounds, []),
    "fa_fwd_workspace_size_max": (ctypes.c_int, [ctypes.POINTER(FwdWorkspaceBounds), ctypes.POINTER(ctypes.c_size_t),
                                                 _MSG]),
    "fa_fwd_with_kernel": (ctypes.c_int, [ctypes.POINTER(FwdParams), ctypes.c_size_t, _MSG]),
    "fa_fwd_workspace_size_with_kernel": (ctypes.c_int, [ctypes.POINTER(FwdParams), ctypes.c_size_t,
                                                         ctypes.POINTER(ctypes.c_size_t), _MSG]),
    "fa_append_kv": (ctypes.c_int, [ctypes.POINTER(FwdParams), _MSG]),
    "fa_combine_params_default": (CombineParams, []),
    "fa_combine": (ctypes.c_int, [ctypes.POINTER(CombineParams), _MSG]),
    "fa_unpad_info_params_default": (UnpadInfoParams, []),
    "fa_rows_params_default": (RowsParams, []),
    "fa_position_ids_params_default": (PositionIdsParams, []),
    "fa_unpad_info": (ctypes.c_int, [ctypes.POINTER(UnpadInfoParams), _MSG]),
    "fa_unpad_rows": (ctypes.c_int, [ctypes.POINTER(RowsParams), _MSG]),
    "fa_pad_rows": (ctypes.c_int, [ctypes.POINTER(RowsParams), _MSG]),
    "fa_seqlens_from_position_ids": (ctypes.c_int, [ctypes.POINTER(PositionIdsParams), _MSG]),
    "fa_copy_to_host": (ctypes.c_int, [ctypes.c_int, _P, _P, ctypes.c_size_t, _P, _MSG]),
    "fa_kernel_count": (ctypes.c_size_t, []),
    "fa_kernel_info_get": (ctypes.c_int, [ctypes.c_size_t, ctypes.POINTER(KernelInfo)]),
}

# Symbols a library of LAYOUT_VERSION_NUMBER or later may lack: the 0.4 queries (a 0.3 library has the same
# structs for everything else).
OPTIONAL = ("fa_fwd_query_dispatch", "fa_fwd_workspace_bounds_default", "fa_fwd_workspace_size_max",
            "fa_fwd_workspace_size_with_kernel")


def load(path=None):
    """Open the shared library (see find_library_path) and declare every
    function's argument and return types. Functions in OPTIONAL that the
    library does not export are skipped (hasattr(lib, name) is then False).
    Raises OSError naming what was tried when no library is found."""
    target = path or find_library_path()
    if target is None:
        raise OSError("libflashattn.so not found: set FLASHATTN_LIB, build it with `ninja` (build/libflashattn.so), "
                      "or install it (`ninja install`) where the dynamic linker finds it")
    lib = ctypes.CDLL(target)
    lib.fa_version_number.restype = ctypes.c_uint
    version = lib.fa_version_number()
    if version < LAYOUT_VERSION_NUMBER or version // 10000 != LAYOUT_VERSION_NUMBER // 10000:
        raise OSError("%s is flashattn %d.%d.%d; this binding mirrors the structs of %d.%d and later minor versions "
                      "of the same major: rebuild the library (ninja) or use the binding that came with it"
                      % (target, version // 10000, version // 100 % 100, version % 100,
                         LAYOUT_VERSION_NUMBER // 10000, LAYOUT_VERSION_NUMBER // 100 % 100))
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            if name in OPTIONAL:
                continue
            raise
        fn.restype = restype
        fn.argtypes = argtypes
    lib._flashattn_path = target
    return lib


def kernel_info(lib, index):
    """fa_kernel_info of kernel `index`; IndexError when out of range."""
    info = KernelInfo()
    if lib.fa_kernel_info_get(index, ctypes.byref(info)) != 0:
        raise IndexError(index)
    return info
