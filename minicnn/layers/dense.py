"""Fully connected layer: y = x @ w.T + b with x (N, in), w (out, in), b (out,), y (N, out); with
``relu=True`` y = max(x @ w.T + b, 0), the ReLU that follows it fused in."""
import numpy as np

from minicnn import gemm
from minicnn.backend import get_array_module
from minicnn.layers.base import Layer, Param, check_flag, check_float_dtype, check_positive_int, check_rng
from minicnn.layers.bias import bias_add_cuda, bias_grad_cuda, relu_backward_bias_grad_cuda
from minicnn.layers.conv import uniform_fan_in
from minicnn.layers.relu import relu_backward_cuda, relu_forward_cuda


def dense_forward(x, w, b, relu=False):
    """x (N, in) -> (y (N, out), cache); with ``relu``, y = max(x @ w.T + b, 0) (``Dense(relu=True)``).

    The GEMM computes y transposed, w @ x.T (out, N), with the large weight matrix as its first
    operand: OpenBLAS then ran fc6 at batch 32 on 2 cores about 30% faster (26 ms against 37;
    the same values, bit for bit, on the README's machine). One pass brings y to (N, out),
    adding the bias on the way.
    """
    xp = get_array_module(x)
    y_transposed = w @ x.T
    y = xp.empty((x.shape[0], w.shape[0]), dtype=y_transposed.dtype)
    if b is None:
        xp.copyto(y, y_transposed.T)
    else:
        xp.add(y_transposed.T, b, out=y)
    if relu:
        xp.maximum(y, 0, out=y)
    return y, (x, w, b is not None, y if relu else None)


def dense_backward(dout, cache, param_grads=True, input_grad=True):
    """dout (N, out) -> (dx (N, in), dw (out, in), db (out,) or None); no dw, db without
    ``param_grads`` (a frozen layer), no dx (None) without ``input_grad``. With the ReLU fused in,
    dout first becomes dout * (y > 0), the ReLU's backward.

    On the CPU these two products are where the dense layers trail PyTorch's (built with MKL): fc6
    at batch 32 on 2 cores of an Intel host, OpenBLAS 0.3.31's SkylakeX kernels, dw took 18-20 ms
    against 9.3 and dx 23 against 15 (2026-12-04). dw's inner dimension is the batch, and OpenBLAS's
    time for it hardly depends on the multiply-adds: 8 or 16 images took as long as 32 (18 and 17
    ms), 128 twice as long. Neither blocks of dw's rows (for the cache) nor two threads of our own
    over a single-threaded OpenBLAS did better (18 to 25 ms).
    """
    x, w, has_bias, relu_out = cache
    if relu_out is not None:
        dout = dout * (relu_out > 0)
    dx = dout @ w if input_grad else None
    if not param_grads:
        return dx, None, None
    return dx, dout.T @ x, (dout.sum(axis=0) if has_bias else None)


def dense_forward_cuda(x, w, b, relu=False):
    """Kernel path of ``dense_forward``: a GEMM (``minicnn.gemm``) and the bias-add kernel, which
    applies the fused ReLU in the same pass (without a bias, the ReLU's own kernel does)."""
    y = gemm.matmul(x, w, trans_b=True)
    if b is not None:
        bias_add_cuda(y, b, y.shape[0], y.shape[1], 1, relu)
    elif relu:
        y, _ = relu_forward_cuda(y)
    return y, (x, w, b is not None, y if relu else None)


def dense_backward_cuda(dout, cache, param_grads=True, input_grad=True):
    """Kernel path of ``dense_backward``: two GEMMs and the bias-gradient reduction. With the ReLU
    fused in, one kernel masks dout and sums the bias gradient from it (the ReLU's backward kernel
    alone when there is no bias gradient to take)."""
    x, w, has_bias, relu_out = cache
    db = None
    if relu_out is not None:
        if has_bias and param_grads:
            dout, db = relu_backward_bias_grad_cuda(dout, relu_out)
        else:
            dout = relu_backward_cuda(dout, relu_out)
    dx = gemm.matmul(dout, w) if input_grad else None
    if not param_grads:
        return dx, None, None
    if has_bias and db is None:
        db = bias_grad_cuda(dout, dout.shape[0], dout.shape[1], 1)
    return dx, gemm.matmul(dout, x, trans_a=True), db


class Dense(Layer):
    """``Dense(in_features, out_features, bias=True, dtype=float32, rng=None, relu=False)``; input
    (N, in).

    Initialised like PyTorch's ``nn.Linear`` (uniform +-1/sqrt(in_features)). ``relu=True`` fuses a
    following ReLU into the layer, as ``Conv2D(relu=True)`` does (``minicnn.fusion.fuse_relu``
    does it to a whole model): on the kernels the bias-add applies it forward, and one kernel
    masks dL/dy and sums the bias gradient backward, a pass over the output each way fewer; the
    values are the unfused layers' bit for bit.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None, relu=False):
        super().__init__()
        self.relu = check_flag(relu, "relu", "Dense")
        bias = check_flag(bias, "bias", "Dense")
        self.in_features = check_positive_int(in_features, "in_features", "Dense")
        self.out_features = check_positive_int(out_features, "out_features", "Dense")
        self.dtype = check_float_dtype(dtype, "Dense")
        rng = check_rng(rng, "Dense")
        self.params["weight"] = Param(uniform_fan_in(rng, (out_features, in_features), in_features, self.dtype))
        if bias:
            self.params["bias"] = Param(uniform_fan_in(rng, (out_features,), in_features, self.dtype))

    def output_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[1] != self.in_features:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_features}), got "
                             f"{tuple(input_shape)}" + (" (put a Flatten() before it)" if len(input_shape) > 2 else ""))
        return (input_shape[0], self.out_features)

    def macs(self, input_shape):
        """Multiply-adds per example: in * out."""
        self.output_shape(input_shape)
        return self.in_features * self.out_features

    def _forward(self, x, train):
        bias = self.params.get("bias")
        forward = dense_forward_cuda if self.uses_kernels else dense_forward
        y, cache = forward(x, self.params["weight"].data, bias.data if bias else None, self.relu)
        self._cache = cache if train else None
        return y

    def _backward(self, dout):
        backward = dense_backward_cuda if self.uses_kernels else dense_backward
        dx, dw, db = backward(dout, self._cache, param_grads=self.trainable, input_grad=self.input_grad)
        self.store_grads(dw, db)
        return dx

    def extra_repr(self):
        return (f"{self.in_features}, {self.out_features}" + ("" if "bias" in self.params else ", bias=False")
                + (", relu=True" if self.relu else ""))
