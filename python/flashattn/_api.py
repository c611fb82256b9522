"""The Python API of flashattn on top of the ctypes layer (_native.py).

See the package docstring (flashattn/__init__.py) for the overview.
"""
import collections
import ctypes
import math
import operator
import struct
import threading

from . import _arrays as A
from . import _native as N

__all__ = [
    "FlashAttnError", "varlen_attn", "unpad_info", "unpad", "pad", "cu_seqlens_from_position_ids", "to_host",
    "UnpadInfo", "PackedSeqInfo", "library", "version", "bf16_bits", "bf16_to_float32",
]


class FlashAttnError(RuntimeError):
    """A call into the library returned a status other than FA_OK.

    Attributes: status (the fa_status value), status_name ("FA_ERR_..."),
    function (the C function), message (the library's sentence)."""

    def __init__(self, function, status, message):
        self.function = function
        self.status = int(status)
        self.status_name = N.STATUS_NAMES[status] if 0 <= status < len(N.STATUS_NAMES) else "status %d" % status
        self.message = message
        text = message if message.startswith(self.status_name) else "%s: %s" % (self.status_name, message)
        RuntimeError.__init__(self, "%s: %s" % (function, text))


_lock = threading.Lock()
_loaded = []


def library():
    """The loaded shared library (ctypes.CDLL), opened on first use.

    Search order: $FLASHATTN_LIB, the source checkout's build/libflashattn.so,
    an installed libflashattn.so (see _native.find_library_path)."""
    if not _loaded:
        with _lock:
            if not _loaded:
                _loaded.append(N.load())
    return _loaded[0]


def version():
    """Version string of the loaded library ("MAJOR.MINOR.PATCH")."""
    return library().fa_version_string().decode()


def _fn(name):
    lib = library()
    if not hasattr(lib, name):
        raise NotImplementedError("the loaded library (%s) does not export %s, which include/flashattn.h declares: "
                                  "rebuild it with `ninja`" % (getattr(lib, "_flashattn_path", "?"), name))
    return getattr(lib, name)


def _call(name, *args):
    """Call C function `name` with a trailing fa_message; raise FlashAttnError on failure."""
    msg = N.Message()
    status = _fn(name)(*(args + (ctypes.byref(msg),)))
    if status != N.FA_OK:
        raise FlashAttnError(name, status, msg.text.decode("utf-8", "replace"))


# ---------------------------------------------------------------- small helpers

def _host_int(x, name, lo=None, hi=None):
    """An int from a Python/numpy integer or a one-element integer tensor (which syncs)."""
    if isinstance(x, bool):
        raise TypeError("%s must be an integer, got bool" % name)
    try:
        v = operator.index(x)
    except TypeError:
        raise TypeError("%s must be an integer (host value), got %s" % (name, type(x).__name__))
    if lo is not None and v < lo:
        raise ValueError("%s is %d; it must be >= %d" % (name, v, lo))
    if hi is not None and v > hi:
        raise ValueError("%s is %d; it must be <= %d" % (name, v, hi))
    return v


def _host_float(x, name):
    try:
        return float(x)
    except (TypeError, ValueError):
        raise TypeError("%s must be a number, got %s" % (name, type(x).__name__))


_INT32_MAX = 2 ** 31 - 1


def _stream_of(a):
    """cudaStream_t (as an int) of torch's current stream on a's device; None on the CPU."""
    if not a.is_cuda:
        return None
    torch = A._torch()
    return torch.cuda.current_stream(a.device[1]).cuda_stream


class _device_scope(object):
    """Make a's CUDA device current for the call (the library uses the current device)."""

    def __init__(self, a):
        self.ctx = A._torch().cuda.device(a.device[1]) if a.is_cuda else None

    def __enter__(self):
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx is not None:
            return self.ctx.__exit__(*exc)
        return False


def _backend(a):
    return N.FA_BACKEND_CUDA if a.is_cuda else N.FA_BACKEND_CPU


def _check_vector_tensor(a, what):
    """Checks for tensors the library reads with 16-byte vector loads."""
    if a.numel == 0:
        return
    if a.ndim and a.shape[-1] != 1 and a.strides[-1] != 1:
        raise ValueError("%s must have a contiguous last dimension (stride 1), got strides %s; call .contiguous()"
                         % (a.name, list(a.strides)))
    for size, stride in zip(a.shape[:-1], a.strides[:-1]):
        if size > 1 and stride < 0:
            raise ValueError("%s has a negative stride (%s); pass a copy" % (a.name, list(a.strides)))
        if size > 1 and stride % 8:
            raise ValueError("%s has strides %s (elements); %s strides must be multiples of 8 elements "
                             "(16-byte vector loads): pass a contiguous copy" % (a.name, list(a.strides), what))
    if a.numel and a.ptr % 16:
        raise ValueError("%s (address 0x%x) must be 16-byte aligned; pass a contiguous copy" % (a.name, a.ptr))


def _norm_stride(size, stride):
    """Stride to pass: 0 ("packed") where the dimension has one element."""
    return 0 if size <= 1 else stride


_FLOAT_TYPES = (A.FP16, A.BF16, A.FP32, A.FP64)


def _resolve_dtype(q, dtype):
    """fa_dtype of the attention inputs from query's dtype and the `dtype` keyword."""
    want = None
    if dtype is not None:
        want = {"fp16": A.FP16, "float16": A.FP16, "half": A.FP16, "bf16": A.BF16, "bfloat16": A.BF16}.get(
            str(dtype).replace("torch.", ""))
        if want is None:
            raise ValueError("dtype must be 'fp16' or 'bf16' (or None), got %r" % (dtype,))
    if q.dtype in (A.FP16, A.BF16):
        if want is not None and want != q.dtype:
            raise TypeError("query has dtype %s but dtype=%r was given" % (q.dtype, dtype))
        return q.dtype
    if q.dtype == A.UINT16 and q.kind == "numpy":
        if want is None:
            raise TypeError("query is a uint16 array: pass dtype='bf16' to say it holds bfloat16 bits "
                            "(or dtype='fp16' for float16 bits)")
        return want
    hint = " (numpy has no bfloat16: pass a uint16 view with dtype='bf16')" if q.kind == "numpy" else ""
    raise TypeError("query has dtype %s; flashattn takes float16 or bfloat16%s" % (q.dtype, hint))


# ---------------------------------------------------------------- varlen attention

def varlen_attn(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, scale=None, window_size=(-1, -1),
                softcap=0.0, sinks=None, return_lse=False, return_aux=None, enable_gqa=None, seqused_k=None,
                block_table=None, num_splits=None, dtype=None):
    """Variable-length (packed) attention, as torch.nn.attention.varlen.varlen_attn.

    Args:
      query: [total_q, heads_q, head_dim] float16 / bfloat16.
      key, value: [total_k, heads_k, head_dim], same dtype; heads_q must be a
        multiple of heads_k (GQA/MQA: query head h reads kv head
        h // (heads_q // heads_k)).
      cu_seq_q, cu_seq_k: int32 [batch + 1] prefix sums of the sequence lengths
        (cu_seq[0] = 0), on the same device as query.
      max_q, max_k: host integers >= every query / key sequence length (rows
        past max_q are not computed). A 1-element tensor works too, at the
        cost of a device sync.
      scale: softmax scale; None means 1/sqrt(head_dim). Nonzero and finite
        (negative scales work).
      window_size: (left, right) in tokens, -1 unbounded; (-1, -1) full,
        (-1, 0) causal, (W, 0) causal sliding window. Query row i of a
        sequence with Lq queries and Lk keys sits at key position
        i + Lk - Lq (bottom-right alignment, as FlashAttention and PyTorch).
      softcap: > 0 replaces scores s by softcap * tanh(s / softcap) (Gemma 2).
      sinks: optional [heads_q] per-head sink logits (gpt-oss), any float
        dtype (converted to float32); they join the softmax denominator only.
      return_lse: also return lse, float32 [heads_q, total_q], the natural
        log of the softmax denominator (sinks included). return_aux (an
        object with a boolean `.lse`, e.g. torch's AuxRequest) is accepted
        for drop-in use.
      enable_gqa: torch's flag. None (default) allows GQA; False rejects
        heads_q != heads_k as torch does.
      seqused_k: optional int32 [batch]: sequence b uses its first
        seqused_k[b] keys (KV caches).
      block_table: optional int32 [batch, max_pages] (torch 2.12's name): key
        and value are then a paged cache [num_pages, page_size, heads_k,
        head_dim] (any page size >= 1, any page order); key j of sequence b is
        row j % page_size of page block_table[b, j // page_size].
        seqused_k is required; cu_seq_k may be None (it is not used); max_k
        bounds the keys per sequence and must be <= max_pages * page_size.
      num_splits: torch 2.12's split-KV knob: None or 0 = chosen by the
        library, 1 = no split (a sequence's result does not depend on the
        rest of the batch), n = at most n. On Hopper prefill (the wgmma
        family), None/0 and n > 1 also let the persistent grid's last
        partial round share its tiles out by keys (1.5-3% less time on long
        full attention rows; 1 does not). The binding allocates the
        workspace the library asks for.
      dtype: numpy only: 'bf16' when query/key/value are uint16 views holding
        bfloat16 bits (numpy has no bfloat16; the output is then uint16 too);
        'fp16' optional for float16 arrays. ml_dtypes.bfloat16 arrays work
        without it. With torch tensors it may only repeat their dtype.

    Tensors: torch CUDA tensors run on the CUDA backend, on their device,
    asynchronously on torch.cuda.current_stream(); torch CPU tensors and
    numpy arrays run on the CPU backend (single thread, computed before the
    call returns). Every tensor must be of the same kind and on the same
    device. The last dimension must be contiguous; other strides (views of
    a fused QKV buffer, ...) are passed through and must be multiples of 8
    elements, with 16-byte aligned data. Rows past cu_seq_q[batch] are
    not written. Forward only: no autograd.

    Returns: out [total_q, heads_q, head_dim] (a new tensor of query's dtype
    on query's device), or (out, lse) when return_lse. Rows that see no key:
    out 0 and lse -inf (torch's varlen_attn and FlashAttention 2 give +inf).

    Raises TypeError / ValueError naming the argument for wrong kinds,
    dtypes, devices, ranks, shapes and layouts; FlashAttnError with the
    library's message when the library rejects the call (e.g. a head_dim
    that is not generated, or bad cu_seqlens contents on the CPU backend).
    """
    q = A.Arr(query, "query")
    k = A.Arr(key, "key").check_like(q)
    v = A.Arr(value, "value").check_like(q)
    paged = block_table is not None
    q.check_ndim(3)
    for a in (k, v):
        a.check_ndim(4 if paged else 3)
    fa_dtype = _resolve_dtype(q, dtype)
    for a in (k, v):
        if a.dtype != q.dtype:
            raise TypeError("%s has dtype %s but query has dtype %s" % (a.name, a.dtype, q.dtype))
    total_q, heads_q, head_dim = q.shape
    if paged:
        num_pages, page_size = k.shape[0], k.shape[1]
        total_k, heads_k, head_dim_k = num_pages * page_size, k.shape[2], k.shape[3]
    else:
        total_k, heads_k, head_dim_k = k.shape
    if head_dim_k != head_dim:
        raise ValueError("key has head_dim %d but query has %d (shapes %s, %s)"
                         % (head_dim_k, head_dim, list(k.shape), list(q.shape)))
    if v.shape != k.shape:
        raise ValueError("value has shape %s but key has shape %s; they must match" % (list(v.shape), list(k.shape)))
    if heads_k < 1 or heads_q % heads_k:
        raise ValueError("key has %d heads, which does not divide query's %d heads (GQA needs heads_q a multiple "
                         "of heads_k)" % (heads_k, heads_q))
    if enable_gqa is not None and not enable_gqa and heads_q != heads_k:
        raise ValueError("query has %d heads and key %d, but enable_gqa=False" % (heads_q, heads_k))
    for a in (q, k, v):
        _check_vector_tensor(a, a.name)

    cq = A.Arr(cu_seq_q, "cu_seq_q")
    if cu_seq_k is None and not paged:
        raise TypeError("cu_seq_k must be given (or a block_table with seqused_k for a paged cache)")
    ck = A.Arr(cu_seq_k, "cu_seq_k") if not paged else None
    for c in (cq, ck):
        if c is None:
            continue
        c.check_like(q).check_ndim(1).check_dtype((A.INT32,), "int32")
        c.check_contiguous()
        if c.shape[0] < 2:
            raise ValueError("%s must have batch + 1 >= 2 entries, got %d" % (c.name, c.shape[0]))
    if ck is not None and ck.shape[0] != cq.shape[0]:
        raise ValueError("cu_seq_k has %d entries but cu_seq_q has %d; both are [batch + 1]"
                         % (ck.shape[0], cq.shape[0]))
    batch = cq.shape[0] - 1
    if batch > _INT32_MAX:
        raise ValueError("cu_seq_q: batch %d is too large" % batch)
    mq = _host_int(max_q, "max_q", 0, _INT32_MAX)
    mk = _host_int(max_k, "max_k", 0, _INT32_MAX)

    if scale is None:
        sc = 0.0
    else:
        sc = _host_float(scale, "scale")
        if sc == 0.0 or not math.isfinite(sc):
            raise ValueError("scale must be finite and nonzero, got %r (None selects 1/sqrt(head_dim))" % (scale,))
    if window_size is None:
        window_size = (-1, -1)
    try:
        wl, wr = window_size
    except (TypeError, ValueError):
        raise TypeError("window_size must be a pair (left, right), got %r" % (window_size,))
    wl = _host_int(wl, "window_size[0]", -1, _INT32_MAX)
    wr = _host_int(wr, "window_size[1]", -1, _INT32_MAX)
    cap = 0.0 if softcap is None else _host_float(softcap, "softcap")
    if cap < 0 or not math.isfinite(cap):
        raise ValueError("softcap must be finite and >= 0 (0 = off), got %r" % (softcap,))

    sk = None
    if sinks is not None:
        sk = A.Arr(sinks, "sinks").check_like(q).check_ndim(1)
        if sk.dtype not in _FLOAT_TYPES:
            raise TypeError("sinks has dtype %s; expected a float dtype (converted to float32)" % sk.dtype)
        if sk.shape[0] != heads_q:
            raise ValueError("sinks has %d entries; it must have one per query head (%d)" % (sk.shape[0], heads_q))
        if sk.dtype == A.BF16 and sk.kind == "numpy" and sk.obj.dtype.name != "bfloat16":
            raise TypeError("sinks: pass float32 sinks with numpy")
        sk = A.to_float32(sk)
    su = None
    if seqused_k is not None:
        su = A.Arr(seqused_k, "seqused_k").check_like(q).check_ndim(1).check_dtype((A.INT32,), "int32")
        su.check_contiguous()
        if su.shape[0] != batch:
            raise ValueError("seqused_k has %d entries; it must have one per sequence (batch = %d)"
                             % (su.shape[0], batch))

    bt = None
    if paged:
        if su is None:
            raise ValueError("a paged cache (block_table) needs seqused_k: the keys of each sequence")
        bt = A.Arr(block_table, "block_table").check_like(q).check_ndim(2).check_dtype((A.INT32,), "int32")
        if bt.shape[0] != batch:
            raise ValueError("block_table has %d rows; it must have one per sequence (batch = %d)" % (bt.shape[0], batch))
        if bt.strides[1] != 1:
            raise ValueError("block_table's last dimension must be contiguous")
    splits = 0 if num_splits is None else _host_int(num_splits, "num_splits", 0, N.FA_MAX_SPLITS)

    want_lse = bool(return_lse) or bool(return_aux is not None and getattr(return_aux, "lse", False))

    with _device_scope(q):
        out = A.empty(q, (total_q, heads_q, head_dim), None)
        lse = A.empty(q, (heads_q, total_q), A.FP32) if want_lse else None
        if total_q == 0:
            return (out, lse) if want_lse else out
        o = A.Arr(out, "out")
        p = library().fa_fwd_params_default()
        p.backend = _backend(q)
        p.dtype = N.FA_DTYPE_FP16 if fa_dtype == A.FP16 else N.FA_DTYPE_BF16
        p.batch = batch
        p.num_heads_q, p.num_heads_k, p.head_dim = heads_q, heads_k, head_dim
        p.cu_seqlens_q = cq.ptr
        p.cu_seqlens_k = ck.ptr if ck is not None else None
        p.total_q, p.total_k = total_q, total_k if ck is not None else 0
        p.max_seqlen_q, p.max_seqlen_k = mq, mk
        p.seqused_k = su.ptr if su is not None else None
        # An empty key/value tensor is never read: give the library a valid pointer.
        p.q = q.ptr
        p.k = k.ptr if k.numel else o.ptr
        p.v = v.ptr if v.numel else o.ptr
        p.out = o.ptr
        for t, a in (("q", q), ("out", o)) + ((("k", k), ("v", v)) if not paged else ()):
            setattr(p, t + "_row_stride", _norm_stride(a.shape[0], a.strides[0]))
            setattr(p, t + "_head_stride", _norm_stride(a.shape[1], a.strides[1]))
        if paged:
            for t, a in (("k", k), ("v", v)):
                setattr(p, t + "_batch_stride", _norm_stride(a.shape[0], a.strides[0]))
                setattr(p, t + "_row_stride", _norm_stride(a.shape[1], a.strides[1]))
                setattr(p, t + "_head_stride", _norm_stride(a.shape[2], a.strides[2]))
            p.block_table = bt.ptr
            p.block_table_stride = bt.strides[0]
            p.max_pages_per_seq = bt.shape[1]
            p.page_size, p.num_pages = page_size, num_pages
        p.num_splits = splits
        p.scale = sc
        p.softcap = cap
        p.window_left, p.window_right = wl, wr
        p.sinks = sk.ptr if sk is not None else None
        p.lse = A.Arr(lse, "lse").ptr if lse is not None else None
        p.stream = _stream_of(q)
        # Scratch the call asks for (split-KV partials): the binding allocates it, not the library.
        size = ctypes.c_size_t()
        _call("fa_fwd_workspace_size", ctypes.byref(p), ctypes.byref(size))
        ws = None
        if size.value:
            ws = A.empty(q, (size.value + 256,), A.UINT8)
            base = A.Arr(ws, "workspace").ptr
            p.workspace, p.workspace_bytes = (base + 255) // 256 * 256, size.value
        _call("fa_fwd", ctypes.byref(p))
        del ws  # ordered after the call on the stream (torch's caching allocator), like sk below
        # keep the float32 sinks copy alive until the call is enqueued (torch's
        # caching allocator orders its reuse on the same stream)
        del sk
    return (out, lse) if want_lse else out


# ---------------------------------------------------------------- padding masks

UnpadInfo = collections.namedtuple("UnpadInfo", "indices cu_seqlens max_seqlen count")
UnpadInfo.__doc__ = """Result of unpad_info (all on the mask's device, no sync).

indices: int64 [batch * seqlen], flat positions b * seqlen + s of the kept
  tokens in order, then -1.
cu_seqlens: int32 [batch + 1], prefix sums of kept tokens per row.
max_seqlen: int32 [1], the longest row (to_host(info.max_seqlen) for an int).
count: int32 [1], a view of cu_seqlens[batch]: the number of kept tokens."""

PackedSeqInfo = collections.namedtuple("PackedSeqInfo", "cu_seqlens num_seqs max_seqlen")
PackedSeqInfo.__doc__ = """Result of cu_seqlens_from_position_ids (on the ids' device, no sync).

cu_seqlens: int32 [total + 1]: sequence starts, then total; entries past the
  last sequence are total too (empty sequences), so cu_seqlens[:n + 1] for
  any n between num_seqs and total is a valid cu_seq argument.
num_seqs: int32 [1]; max_seqlen: int32 [1] (to_host() them for ints)."""

_MASK_DTYPES = {A.BOOL: N.FA_INT_BOOL, A.UINT8: N.FA_INT_BOOL, A.INT8: N.FA_INT_BOOL,
                A.INT32: N.FA_INT32, A.INT64: N.FA_INT64}


def unpad_info(attention_mask):
    """Indices, cu_seqlens and max_seqlen of a padding mask (transformers'
    _get_unpad_data without its .item(): nothing waits for the device).

    attention_mask: [batch, seqlen], contiguous, bool / uint8 / int8 / int32 /
    int64; nonzero keeps a token (left or right padding, or holes).
    Returns UnpadInfo(indices, cu_seqlens, max_seqlen, count) on the mask's
    device; see UnpadInfo. Use unpad() / pad() with indices and count."""
    m = A.Arr(attention_mask, "attention_mask").check_ndim(2)
    if m.dtype not in _MASK_DTYPES:
        raise TypeError("attention_mask has dtype %s; expected bool, uint8, int8, int32 or int64" % m.dtype)
    m.check_contiguous()
    batch, seqlen = m.shape
    if batch < 1 or seqlen < 1:
        raise ValueError("attention_mask has shape %s; batch and seqlen must be >= 1" % list(m.shape))
    with _device_scope(m):
        indices = A.empty(m, (batch * seqlen,), A.INT64)
        cu = A.empty(m, (batch + 1,), A.INT32)
        mx = A.empty(m, (1,), A.INT32)
        p = N.UnpadInfoParams()
        p.backend = _backend(m)
        p.attention_mask = m.ptr
        p.mask_dtype = _MASK_DTYPES[m.dtype]
        p.batch, p.seqlen = batch, seqlen
        p.indices = A.Arr(indices, "indices").ptr
        p.cu_seqlens = A.Arr(cu, "cu_seqlens").ptr
        p.max_seqlen = A.Arr(mx, "max_seqlen").ptr
        p.stream = _stream_of(m)
        _call("fa_unpad_info", ctypes.byref(p))
    return UnpadInfo(indices, cu, mx, cu[batch:])


def _row_view(x, nrows, name, allow_two_row_dims):
    """(row_shape, row_stride, row_elems) of Arr x seen as `nrows` rows.

    x is [nrows, *row_shape] or, when allow_two_row_dims, [b, s, *row_shape]
    with b * s == nrows; where both fit (a dimension of size 1), the
    [b, s, ...] reading wins. The row itself must be contiguous."""
    if allow_two_row_dims and x.ndim >= 3 and x.shape[0] * x.shape[1] == nrows:
        lead = 2
    elif x.ndim >= 2 and x.shape[0] == nrows:
        lead = 1
    else:
        raise ValueError("%s has shape %s; expected [%d, ...]%s" % (
            name, list(x.shape), nrows, " or [batch, seqlen, ...] with batch * seqlen = %d (the length of indices)"
            % nrows if allow_two_row_dims else ""))
    row_shape = x.shape[lead:]
    row_elems = 1
    expect = 1
    for size, stride in zip(reversed(row_shape), reversed(x.strides[lead:])):
        if size != 1 and stride != expect:
            raise ValueError("%s: each row (dimensions %s) must be contiguous, got strides %s; call .contiguous()"
                             % (name, list(row_shape), list(x.strides)))
        expect *= size
        row_elems *= size
    if lead == 2 and x.shape[0] > 1 and x.shape[1] > 1 and x.strides[0] != x.shape[1] * x.strides[1]:
        raise ValueError("%s: its first two dimensions cannot be merged into rows (strides %s); call .contiguous()"
                         % (name, list(x.strides)))
    stride = x.strides[lead - 1] if x.shape[lead - 1] > 1 else (x.strides[0] if nrows > 1 else 0)
    if nrows > 1 and stride < 0:
        raise ValueError("%s has a negative row stride; pass a copy" % name)
    if row_elems % 8:
        raise ValueError("%s: a row has %d elements; it must be a multiple of 8" % (name, row_elems))
    if nrows > 1 and stride % 8:
        raise ValueError("%s: the row stride (%d elements) must be a multiple of 8" % (name, stride))
    if x.ptr % 16:
        raise ValueError("%s (address 0x%x) must be 16-byte aligned" % (name, x.ptr))
    return row_shape, (stride if nrows > 1 else 0), row_elems


def _rows_dtype(x):
    if x.dtype not in (A.FP16, A.BF16, A.UINT16):
        raise TypeError("%s has dtype %s; expected float16 or bfloat16 (numpy: float16 or a uint16 view)"
                        % (x.name, x.dtype))
    return N.FA_DTYPE_FP16 if x.dtype == A.FP16 else N.FA_DTYPE_BF16


def _indices_count(indices, count, ref, padded_rows):
    idx = A.Arr(indices, "indices").check_like(ref).check_ndim(1).check_dtype((A.INT64,), "int64")
    idx.check_contiguous()
    if idx.shape[0] != padded_rows:
        raise ValueError("indices has %d entries; it must have one per padded row (%d), as unpad_info returns"
                         % (idx.shape[0], padded_rows))
    if isinstance(count, A.Arr):
        cnt = count
    elif not hasattr(count, "shape"):
        cnt = A.Arr(A.from_ints(ref, [_host_int(count, "count", 0, padded_rows)]), "count")
    else:
        cnt = A.Arr(count, "count")
    cnt.check_like(ref).check_dtype((A.INT32,), "int32")
    if cnt.numel != 1:
        raise ValueError("count must hold one int32 (e.g. UnpadInfo.count), got shape %s" % list(cnt.shape))
    return idx, cnt


def _rows_call(fn, backend, dtype, row_elems, src, src_stride, dst, dst_stride, idx, cnt, padded_rows, stream):
    p = N.RowsParams()
    p.backend, p.dtype, p.row_elems = backend, dtype, row_elems
    p.src, p.src_row_stride = src, src_stride
    p.dst, p.dst_row_stride = dst, dst_stride
    p.indices, p.count, p.padded_rows = idx.ptr, cnt.ptr, padded_rows
    p.stream = stream
    _call(fn, ctypes.byref(p))


def unpad(x, indices, count):
    """Gather the kept rows of a padded tensor: packed[i] = x[indices[i]] for
    i < count (transformers' _index_first_axis, without a sync).

    x: [batch, seqlen, ...] or [batch * seqlen, ...], float16 / bfloat16
      (numpy: float16, or uint16 holding bf16 bits), each row contiguous
      (row = the trailing dimensions, a multiple of 8 elements). When both
      readings fit (x is [batch * seqlen, 1, ...]), [batch, seqlen, ...] wins.
    indices, count: from unpad_info (indices int64 [batch * seqlen], count an
      int32 one-element tensor, or a host int).
    Returns packed [batch * seqlen, ...]: rows from count on are unspecified
    (varlen_attn never reads them when its cu_seqlens come from the same
    unpad_info, and total_q = batch * seqlen is a valid bound)."""
    xa = A.Arr(x, "x")
    dt = _rows_dtype(xa)
    idx0 = A.Arr(indices, "indices").check_like(xa).check_ndim(1)
    padded_rows = idx0.shape[0]
    if padded_rows < 1:
        raise ValueError("indices is empty")
    row_shape, stride, row_elems = _row_view(xa, padded_rows, "x", True)
    idx, cnt = _indices_count(indices, count, xa, padded_rows)
    with _device_scope(xa):
        out = A.empty(xa, (padded_rows,) + tuple(row_shape), None)
        o = A.Arr(out, "out")
        _rows_call("fa_unpad_rows", _backend(xa), dt, row_elems, xa.ptr, stride, o.ptr, 0, idx, cnt, padded_rows,
                   _stream_of(xa))
    return out


def pad(x, indices, count, batch, seqlen):
    """Scatter packed rows back into a padded tensor: out[indices[i]] = x[i]
    for i < count, zeros elsewhere (transformers' _pad_input, no sync).

    x: packed [rows, ...] with rows >= batch * seqlen (e.g. varlen_attn's
      output on unpad()'s rows), float16 / bfloat16, each row contiguous.
    indices, count: from unpad_info of the [batch, seqlen] mask.
    Returns [batch, seqlen, ...] of x's dtype on x's device."""
    xa = A.Arr(x, "x")
    dt = _rows_dtype(xa)
    b = _host_int(batch, "batch", 1)
    s = _host_int(seqlen, "seqlen", 1)
    padded_rows = b * s
    if xa.ndim < 2:
        raise ValueError("x must have at least 2 dimensions ([rows, ...]), got shape %s" % list(xa.shape))
    if xa.shape[0] < padded_rows:
        raise ValueError("x has %d rows; pad reads up to batch * seqlen = %d rows (count lives on the device): "
                         "pass the [batch * seqlen, ...] buffers that unpad() returns" % (xa.shape[0], padded_rows))
    row_shape, stride, row_elems = _row_view(xa, xa.shape[0], "x", False)
    idx, cnt = _indices_count(indices, count, xa, padded_rows)
    with _device_scope(xa):
        out = A.empty(xa, (b, s) + tuple(row_shape), None)
        o = A.Arr(out, "out")
        _rows_call("fa_pad_rows", _backend(xa), dt, row_elems, xa.ptr, stride, o.ptr, 0, idx, cnt, padded_rows,
                   _stream_of(xa))
    return out


# ---------------------------------------------------------------- packed sequences

def cu_seqlens_from_position_ids(position_ids):
    """cu_seqlens of packed sequences from their position ids (no sync).

    position_ids: [total] or [1, total], int32 / int64, contiguous; a token
    whose id is 0 (and token 0) starts a sequence (0, 1, 2, 0, 1, 0, ...).
    Returns PackedSeqInfo(cu_seqlens int32 [total + 1], num_seqs int32 [1],
    max_seqlen int32 [1]) on the ids' device. For varlen_attn, either take
    cu_seqlens[:n + 1] with n, max from to_host(num_seqs, max_seqlen) (one
    sync), or pass all of cu_seqlens with max_q = total (no sync; the
    trailing sequences are empty)."""
    pid = A.Arr(position_ids, "position_ids").check_ndim(1, 2)
    if pid.ndim == 2 and pid.shape[0] != 1:
        raise ValueError("position_ids has shape %s; packed sequences are [total] or [1, total]" % list(pid.shape))
    pid.check_dtype((A.INT32, A.INT64), "int32 or int64").check_contiguous()
    total = pid.numel
    if total < 1 or total > _INT32_MAX - 1:
        raise ValueError("position_ids has %d elements; it must have between 1 and 2^31 - 2" % total)
    with _device_scope(pid):
        cu = A.empty(pid, (total + 1,), A.INT32)
        ns = A.empty(pid, (1,), A.INT32)
        mx = A.empty(pid, (1,), A.INT32)
        p = N.PositionIdsParams()
        p.backend = _backend(pid)
        p.position_ids = pid.ptr
        p.dtype = N.FA_INT32 if pid.dtype == A.INT32 else N.FA_INT64
        p.total = total
        p.cu_seqlens = A.Arr(cu, "cu_seqlens").ptr
        p.num_seqs = A.Arr(ns, "num_seqs").ptr
        p.max_seqlen = A.Arr(mx, "max_seqlen").ptr
        p.stream = _stream_of(pid)
        _call("fa_seqlens_from_position_ids", ctypes.byref(p))
    return PackedSeqInfo(cu, ns, mx)


_STRUCT_CODES = {A.INT32: "i", A.INT64: "q", A.FP32: "f", A.FP64: "d", A.FP16: "e", A.INT8: "b", A.UINT8: "B",
                 A.BOOL: "?", A.UINT16: "H", A.BF16: "H"}


def to_host(*arrays):
    """Copy small device results to the host: the one call here that waits.

    Each argument (a torch tensor or numpy array, contiguous) is copied with
    fa_copy_to_host, which first waits for torch's current stream of its
    device. Returns, per argument, a Python int/float when it has one element,
    else a flat list; several arguments give a tuple. E.g.
    n, max_len = to_host(info.num_seqs, info.max_seqlen)."""
    if not arrays:
        raise TypeError("to_host needs at least one tensor")
    results = []
    for i, x in enumerate(arrays):
        a = A.Arr(x, "arrays[%d]" % i if len(arrays) > 1 else "x")
        if a.dtype not in _STRUCT_CODES:
            raise TypeError("%s has dtype %s, which to_host does not decode" % (a.name, a.dtype))
        a.check_contiguous()
        nbytes = a.numel * a.itemsize
        buf = ctypes.create_string_buffer(max(nbytes, 1))
        if nbytes:
            with _device_scope(a):
                _call("fa_copy_to_host", _backend(a), ctypes.cast(buf, ctypes.c_void_p), a.ptr, nbytes,
                      _stream_of(a))
        vals = list(struct.unpack("<%d%s" % (a.numel, _STRUCT_CODES[a.dtype]), buf.raw[:nbytes]))
        if a.dtype == A.BF16:
            vals = [struct.unpack("<f", struct.pack("<I", b << 16))[0] for b in vals]
        results.append(vals[0] if a.numel == 1 else vals)
    return results[0] if len(results) == 1 else tuple(results)


# ---------------------------------------------------------------- numpy bfloat16 bits

def bf16_bits(x):
    """numpy: float array -> uint16 array of bfloat16 bits (round to nearest even),
    for varlen_attn(..., dtype='bf16'). NaNs stay NaN."""
    import numpy as np
    f = np.ascontiguousarray(x, dtype=np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(f)
    if nan.any():
        r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def bf16_to_float32(bits):
    """numpy: uint16 array of bfloat16 bits -> float32 array."""
    import numpy as np
    b = np.asarray(bits, dtype=np.uint16)
    return (b.astype(np.uint32) << 16).view(np.float32)
