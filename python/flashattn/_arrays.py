"""Uniform view of torch tensors and numpy arrays for the ctypes calls.

Neither torch nor numpy is imported here: an object is recognised as a
torch.Tensor / numpy.ndarray only if the caller's program already imported
that module (it had to, to create the object).
"""
import sys

# Canonical dtype names used across the binding.
FP16, BF16, FP32, FP64 = "fp16", "bf16", "fp32", "fp64"
INT32, INT64, INT8, UINT8, BOOL, UINT16 = "int32", "int64", "int8", "uint8", "bool", "uint16"

_NUMPY_NAMES = {
    "float16": FP16, "float32": FP32, "float64": FP64, "int32": INT32, "int64": INT64, "int8": INT8,
    "uint8": UINT8, "bool": BOOL, "uint16": UINT16,
    "bfloat16": BF16,  # ml_dtypes.bfloat16, when the caller has it
}


def _torch():
    return sys.modules.get("torch")


def _numpy():
    return sys.modules.get("numpy")


def _torch_dtype_name(torch, dt):
    table = {torch.float16: FP16, torch.bfloat16: BF16, torch.float32: FP32, torch.float64: FP64,
             torch.int32: INT32, torch.int64: INT64, torch.int8: INT8, torch.uint8: UINT8, torch.bool: BOOL}
    if hasattr(torch, "uint16"):
        table[torch.uint16] = UINT16
    return table.get(dt, str(dt).replace("torch.", ""))


class Arr(object):
    """A torch.Tensor or numpy.ndarray described for a C call.

    Attributes: obj (the object), name (the argument name used in error
    messages), kind ("torch" or "numpy"), device (("cuda", index) or
    ("cpu", 0)), dtype (canonical name), shape, strides (in elements), ptr
    (address of element 0), itemsize."""

    __slots__ = ("obj", "name", "kind", "device", "dtype", "shape", "strides", "ptr", "itemsize")

    def __init__(self, obj, name):
        self.obj, self.name = obj, name
        torch, np = _torch(), _numpy()
        if torch is not None and isinstance(obj, torch.Tensor):
            self.kind = "torch"
            if obj.layout != torch.strided:
                raise ValueError("%s has layout %s; pass a dense (torch.strided) tensor" % (name, obj.layout))
            dev = obj.device
            if dev.type == "cuda":
                self.device = ("cuda", dev.index if dev.index is not None else torch.cuda.current_device())
            elif dev.type == "cpu":
                self.device = ("cpu", 0)
            else:
                raise ValueError("%s is on device '%s'; flashattn takes CUDA or CPU tensors" % (name, dev))
            self.dtype = _torch_dtype_name(torch, obj.dtype)
            self.shape = tuple(int(s) for s in obj.shape)
            self.strides = tuple(int(s) for s in obj.stride())
            self.itemsize = obj.element_size()
            self.ptr = obj.data_ptr()
        elif np is not None and isinstance(obj, np.ndarray):
            self.kind = "numpy"
            self.device = ("cpu", 0)
            dt = obj.dtype
            if dt.fields is not None or dt.subdtype is not None:
                raise TypeError("%s has a structured dtype (%s); pass a plain numeric array" % (name, dt))
            if not dt.isnative:
                raise TypeError("%s has non-native byte order (%s); convert it with .astype(%s.dtype.newbyteorder('='))"
                                % (name, dt, name))
            self.dtype = _NUMPY_NAMES.get(dt.name, dt.name)
            self.itemsize = dt.itemsize
            self.shape = tuple(int(s) for s in obj.shape)
            strides = []
            for s in obj.strides:
                if s % dt.itemsize:
                    raise ValueError("%s has a stride of %d bytes, not a multiple of its element size %d"
                                     % (name, s, dt.itemsize))
                strides.append(s // dt.itemsize)
            self.strides = tuple(strides)
            self.ptr = obj.__array_interface__["data"][0]
        else:
            t = type(obj)
            raise TypeError("%s must be a torch.Tensor or a numpy.ndarray, got %s.%s"
                            % (name, t.__module__, t.__name__))

    # ------------------------------------------------------------ queries

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def numel(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def is_cuda(self):
        return self.device[0] == "cuda"

    def where(self):
        """'cuda:0' or 'cpu' (numpy arrays: 'cpu (numpy)')."""
        if self.kind == "numpy":
            return "cpu (numpy)"
        return "cuda:%d" % self.device[1] if self.is_cuda else "cpu"

    def kind_name(self):
        return "torch.Tensor" if self.kind == "torch" else "numpy.ndarray"

    def is_contiguous(self):
        """Row-major contiguous (dimensions of size 1 may have any stride; empty arrays are)."""
        if self.numel == 0:
            return True
        expect = 1
        for size, stride in zip(reversed(self.shape), reversed(self.strides)):
            if size != 1 and stride != expect:
                return False
            expect *= size
        return True

    # ------------------------------------------------------------ checks

    def check_like(self, ref):
        """Same kind (torch/numpy) and same device as `ref`, else TypeError/ValueError naming self."""
        if self.kind != ref.kind:
            raise TypeError("%s is a %s but %s is a %s; pass every tensor as the same kind"
                            % (self.name, self.kind_name(), ref.name, ref.kind_name()))
        if self.device != ref.device:
            raise ValueError("%s is on %s but %s is on %s; every tensor must be on the same device"
                             % (self.name, self.where(), ref.name, ref.where()))
        return self

    def check_ndim(self, *ndims):
        if self.ndim not in ndims:
            want = " or ".join(str(n) for n in ndims)
            raise ValueError("%s must have %s dimensions, got shape %s" % (self.name, want, list(self.shape)))
        return self

    def check_dtype(self, allowed, what=None):
        if self.dtype not in allowed:
            raise TypeError("%s has dtype %s; expected %s" % (self.name, self.dtype, what or " or ".join(allowed)))
        return self

    def check_contiguous(self):
        if not self.is_contiguous():
            raise ValueError("%s must be contiguous (row-major), got shape %s with strides %s; call .contiguous() "
                             "(torch) or numpy.ascontiguousarray" % (self.name, list(self.shape), list(self.strides)))
        return self


# ---------------------------------------------------------------- allocation

def torch_dtype(torch, name):
    return {FP16: torch.float16, BF16: torch.bfloat16, FP32: torch.float32, FP64: torch.float64,
            INT32: torch.int32, INT64: torch.int64, INT8: torch.int8, UINT8: torch.uint8, BOOL: torch.bool}[name]


def empty(ref, shape, dtype=None, zero=False):
    """A new torch tensor / numpy array of `shape` on ref's device (dtype: a
    canonical name, or None for ref's own dtype, numpy dtype included)."""
    shape = tuple(int(s) for s in shape)
    if ref.kind == "torch":
        torch = _torch()
        dt = ref.obj.dtype if dtype is None else torch_dtype(torch, dtype)
        make = torch.zeros if zero else torch.empty
        return make(shape, dtype=dt, device=ref.obj.device)
    np = _numpy()
    if dtype is None:
        dt = ref.obj.dtype
    else:
        dt = {FP16: np.float16, FP32: np.float32, FP64: np.float64, INT32: np.int32, INT64: np.int64,
              INT8: np.int8, UINT8: np.uint8, BOOL: np.bool_, UINT16: np.uint16}[dtype]
    dt = np.dtype(dt)
    n = 1
    for sz in shape:
        n *= sz
    nbytes = n * dt.itemsize
    # 64-byte aligned (the library needs 16 for q, k, v, out and rows)
    buf = (np.zeros if zero else np.empty)(nbytes + 64, dtype=np.uint8)
    off = (-buf.__array_interface__["data"][0]) % 64
    return buf[off:off + nbytes].view(dt).reshape(shape)


def from_ints(ref, values, dtype=INT32):
    """A 1-D int array holding `values`, on ref's device."""
    if ref.kind == "torch":
        torch = _torch()
        return torch.tensor(list(values), dtype=torch_dtype(torch, dtype), device=ref.obj.device)
    np = _numpy()
    return np.array(list(values), dtype={INT32: np.int32, INT64: np.int64}[dtype])


def to_float32(a):
    """A contiguous float32 copy (or a view, when already so) of Arr `a`, as an Arr."""
    if a.kind == "torch":
        torch = _torch()
        return Arr(a.obj.to(torch.float32).contiguous(), a.name)
    np = _numpy()
    if a.dtype == BF16 and a.obj.dtype.name == "bfloat16":
        conv = a.obj.astype(np.float32)
    else:
        conv = a.obj
    return Arr(np.ascontiguousarray(conv, dtype=np.float32), a.name)


def view_rows(obj, nrows):
    """obj[:nrows] (torch and numpy alike)."""
    return obj[:nrows]
