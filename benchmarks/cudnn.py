"""cuDNN's own max-pooling and LRN kernels, called through ctypes, for the kernel benchmark.

CuPy 14 has no cuDNN bindings and PyTorch runs its own CUDA kernels for pooling and LRN (not
cuDNN's), so ``benchmarks/kernels.py`` reaches the library directly: ``libcudnn.so.9``'s legacy
API (cudnnPoolingForward/Backward, cudnnLRNCrossChannelForward/Backward, in cuDNN 9 still
exported by the main library, which loads libcudnn_ops.so.9 on demand). Each operation is wrapped
as a ``torch.autograd.Function`` over CUDA float32/float64 tensors, so the benchmark verifies and
times it exactly as it does PyTorch's functions. Every call runs on PyTorch's current stream.

cuDNN's LRN uses the same convention as minicnn: scale = k + alpha / n * (sum of squares over n
channels), y = x * scale ** -beta.

    python benchmarks/cudnn.py        # prints the library's version and the path it was loaded from
"""
import ctypes
import functools
import glob
import os
import sys

# enums of cudnn_graph.h / cudnn_ops.h (cuDNN 9)
CUDNN_STATUS_SUCCESS = 0
CUDNN_DATA_FLOAT, CUDNN_DATA_DOUBLE = 0, 1
CUDNN_TENSOR_NCHW = 0
CUDNN_NOT_PROPAGATE_NAN = 0
CUDNN_POOLING_MAX = 0
CUDNN_LRN_CROSS_CHANNEL_DIM1 = 0

_void_p = ctypes.c_void_p
# name: argument types (every function returns a cudnnStatus_t, an int)
SIGNATURES = {
    "cudnnGetVersion": [],
    "cudnnGetErrorString": [ctypes.c_int],
    "cudnnCreate": [ctypes.POINTER(_void_p)],
    "cudnnSetStream": [_void_p, _void_p],
    "cudnnCreateTensorDescriptor": [ctypes.POINTER(_void_p)],
    "cudnnSetTensor4dDescriptor": [_void_p, ctypes.c_int, ctypes.c_int] + [ctypes.c_int] * 4,
    "cudnnCreatePoolingDescriptor": [ctypes.POINTER(_void_p)],
    "cudnnSetPooling2dDescriptor": [_void_p, ctypes.c_int, ctypes.c_int] + [ctypes.c_int] * 6,
    "cudnnPoolingForward": [_void_p, _void_p, _void_p, _void_p, _void_p, _void_p, _void_p, _void_p],
    "cudnnPoolingBackward": [_void_p] * 12,
    "cudnnCreateLRNDescriptor": [ctypes.POINTER(_void_p)],
    "cudnnSetLRNDescriptor": [_void_p, ctypes.c_uint, ctypes.c_double, ctypes.c_double, ctypes.c_double],
    "cudnnLRNCrossChannelForward": [_void_p, _void_p, ctypes.c_int] + [_void_p] * 6,
    "cudnnLRNCrossChannelBackward": [_void_p, _void_p, ctypes.c_int] + [_void_p] * 10,
}


class CudnnError(RuntimeError):
    """libcudnn is missing, or one of its calls failed."""


def _candidates():
    """Where libcudnn.so.9 may be: already loaded by PyTorch or on the loader's path (the bare
    name finds both), or in the pip wheel nvidia-cudnn-cu13/cu12 that PyTorch depends on."""
    yield "libcudnn.so.9"
    for folder in sys.path:
        yield from sorted(glob.glob(os.path.join(folder, "nvidia", "cudnn*", "lib", "libcudnn.so.9")))
        yield from sorted(glob.glob(os.path.join(folder, "nvidia", "cu*", "lib", "libcudnn.so.9")))


def load_library():
    """The loaded libcudnn.so.9 with every function of SIGNATURES typed; raises CudnnError."""
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            tried.append(f"{path}: {exc}")
            continue
        for name, argtypes in SIGNATURES.items():
            function = getattr(lib, name)   # AttributeError names a function this cuDNN lacks
            function.argtypes = argtypes
            function.restype = ctypes.c_char_p if name == "cudnnGetErrorString" else (
                ctypes.c_size_t if name == "cudnnGetVersion" else ctypes.c_int)
        lib.loaded_from = path
        return lib
    raise CudnnError("cannot load libcudnn.so.9 (install PyTorch with CUDA, or pip install nvidia-cudnn-cu13); "
                     "tried " + "; ".join(tried))


class Cudnn:
    """A cuDNN handle and the descriptors for the shapes seen so far."""

    def __init__(self):
        self.lib = load_library()
        self.handle = _void_p()
        self._check(self.lib.cudnnCreate(ctypes.byref(self.handle)), "cudnnCreate")
        self._tensors, self._pools, self._lrns = {}, {}, {}

    def _check(self, status, what):
        if status != CUDNN_STATUS_SUCCESS:
            raise CudnnError(f"{what} failed: {self.lib.cudnnGetErrorString(status).decode()} (status {status})")

    def _on_current_stream(self):
        import torch
        self._check(self.lib.cudnnSetStream(self.handle, _void_p(torch.cuda.current_stream().cuda_stream)),
                    "cudnnSetStream")

    def tensor(self, shape, dtype):
        """The NCHW descriptor of a contiguous (N, C, H, W) tensor of ``dtype`` (torch.float32/64)."""
        import torch
        key = (tuple(shape), dtype)
        if key not in self._tensors:
            desc = _void_p()
            self._check(self.lib.cudnnCreateTensorDescriptor(ctypes.byref(desc)), "cudnnCreateTensorDescriptor")
            data_type = {torch.float32: CUDNN_DATA_FLOAT, torch.float64: CUDNN_DATA_DOUBLE}[dtype]
            self._check(self.lib.cudnnSetTensor4dDescriptor(desc, CUDNN_TENSOR_NCHW, data_type, *map(int, shape)),
                        f"cudnnSetTensor4dDescriptor{tuple(shape)}")
            self._tensors[key] = desc
        return self._tensors[key]

    def pooling(self, window, stride):
        key = (window, stride)
        if key not in self._pools:
            desc = _void_p()
            self._check(self.lib.cudnnCreatePoolingDescriptor(ctypes.byref(desc)), "cudnnCreatePoolingDescriptor")
            self._check(self.lib.cudnnSetPooling2dDescriptor(desc, CUDNN_POOLING_MAX, CUDNN_NOT_PROPAGATE_NAN,
                                                             window, window, 0, 0, stride, stride),
                        "cudnnSetPooling2dDescriptor")
            self._pools[key] = desc
        return self._pools[key]

    def lrn(self, size, alpha, beta, k):
        key = (size, alpha, beta, k)
        if key not in self._lrns:
            desc = _void_p()
            self._check(self.lib.cudnnCreateLRNDescriptor(ctypes.byref(desc)), "cudnnCreateLRNDescriptor")
            self._check(self.lib.cudnnSetLRNDescriptor(desc, size, alpha, beta, k), "cudnnSetLRNDescriptor")
            self._lrns[key] = desc
        return self._lrns[key]

    @staticmethod
    def scalars(dtype):
        """alpha = 1 and beta = 0 (y = op(x), overwritten), in the scaling type cuDNN wants for ``dtype``."""
        import torch
        kind = ctypes.c_double if dtype == torch.float64 else ctypes.c_float
        return kind(1.0), kind(0.0)

    def call(self, name, *args):
        self._on_current_stream()
        self._check(getattr(self.lib, name)(*args), name)


_instance = None


def cudnn():
    """The process's one Cudnn (created on first use)."""
    global _instance
    if _instance is None:
        _instance = Cudnn()
    return _instance


def _ptr(tensor):
    return _void_p(tensor.data_ptr())


def max_pool2d(x, window, stride):
    """cuDNN max pooling of a CUDA (N, C, H, W) tensor, no padding, differentiable."""
    return _functions()[0].apply(x, window, stride)


def local_response_norm(x, size, alpha, beta, k):
    """cuDNN cross-channel LRN of a CUDA (N, C, H, W) tensor, differentiable."""
    return _functions()[1].apply(x, size, alpha, beta, k)


def _forward(function, operation, x, y):
    """y = op(x) by ``function`` (cudnnPoolingForward or cudnnLRNCrossChannelForward), whose
    arguments between the handle and alpha are ``operation``."""
    lib = cudnn()
    one, zero = lib.scalars(x.dtype)
    lib.call(function, lib.handle, *operation, ctypes.byref(one), lib.tensor(x.shape, x.dtype), _ptr(x),
             ctypes.byref(zero), lib.tensor(y.shape, y.dtype), _ptr(y))
    return y


def _backward(function, operation, x, y, dy):
    """dx from (y, dy, x) by ``function``; both backward functions take the same arguments."""
    lib = cudnn()
    one, zero = lib.scalars(x.dtype)
    dy, dx = dy.contiguous(), x.new_empty(x.shape)
    ydesc, xdesc = lib.tensor(y.shape, y.dtype), lib.tensor(x.shape, x.dtype)
    lib.call(function, lib.handle, *operation, ctypes.byref(one), ydesc, _ptr(y), ydesc, _ptr(dy),
             xdesc, _ptr(x), ctypes.byref(zero), xdesc, _ptr(dx))
    return dx


@functools.lru_cache(maxsize=None)
def _functions():
    """The autograd Functions, built on first use so that importing this module needs no torch."""
    import torch

    class MaxPool(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, window, stride):
            x = x.contiguous()
            n, c, h, w = x.shape
            y = x.new_empty((n, c, (h - window) // stride + 1, (w - window) // stride + 1))
            ctx.operation = (cudnn().pooling(window, stride),)
            ctx.save_for_backward(x, y)
            return _forward("cudnnPoolingForward", ctx.operation, x, y)

        @staticmethod
        def backward(ctx, dy):
            return (_backward("cudnnPoolingBackward", ctx.operation, *ctx.saved_tensors, dy), None, None)

    class LRN(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, size, alpha, beta, k):
            x = x.contiguous()
            y = x.new_empty(x.shape)
            ctx.operation = (cudnn().lrn(size, alpha, beta, k), CUDNN_LRN_CROSS_CHANNEL_DIM1)
            ctx.save_for_backward(x, y)
            return _forward("cudnnLRNCrossChannelForward", ctx.operation, x, y)

        @staticmethod
        def backward(ctx, dy):
            dx = _backward("cudnnLRNCrossChannelBackward", ctx.operation, *ctx.saved_tensors, dy)
            return dx, None, None, None, None

    return MaxPool, LRN


if __name__ == "__main__":
    import argparse
    argparse.ArgumentParser(description="Say which cuDNN library the kernel benchmark would call, and its "
                                        "version, or why none can be loaded.").parse_args()
    try:
        library = load_library()
    except CudnnError as exc:
        raise SystemExit(f"error: {exc}")
    print(f"cuDNN {library.cudnnGetVersion()} from {library.loaded_from}")
