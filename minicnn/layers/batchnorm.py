"""Batch normalisation over (N, H, W) for each channel (Ioffe & Szegedy 2015), PyTorch semantics.

Training:  mean, var = batch statistics over N*H*W values per channel (var biased)
           y = weight * (x - mean) / sqrt(var + eps) + bias
           running_mean = (1 - momentum) * running_mean + momentum * mean
           running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)   (unbiased)
Inference: the running statistics replace the batch statistics.

Backward (M = N*H*W, xhat the normalised input, g = dout * weight):
    dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps)

At test time (and in a training forward within ``at_test_time``) the statistics are constants:
the layer is x * scale + shift per channel, scale = weight / sqrt(running_var + eps), so
    dx = dout * scale,   dweight = sum(dout * xhat),   dbias = sum(dout),
with xhat = (x - running_mean) / sqrt(running_var + eps). Both are the inference forward again:
xhat is it with weight 1 and bias 0, dx is it applied to dout with mean 0 and bias 0.
"""
import numpy as np

from minicnn.backend import get_array_module
from minicnn.launch import BLOCK, REDUCE_BLOCK, empty, empty_like, grid_for, launch
from minicnn.layers.base import TEST_TIME, Layer, Param, check_float_dtype, check_number, check_positive_int

_AXES = (0, 2, 3)


def _per_channel(v):
    return v.reshape(1, -1, 1, 1)


def batchnorm_forward_train(x, weight, bias, eps):
    """x (N, C, H, W) -> (y, batch mean (C,), batch biased var (C,), cache)."""
    xp = get_array_module(x)
    mean = x.mean(axis=_AXES)
    var = x.var(axis=_AXES)
    inv_std = 1.0 / xp.sqrt(var + eps)
    xhat = (x - _per_channel(mean)) * _per_channel(inv_std)
    y = xhat * _per_channel(weight) + _per_channel(bias)
    return y, mean, var, (xhat, inv_std, weight)


def batchnorm_forward_eval(x, weight, bias, running_mean, running_var, eps):
    """x (N, C, H, W) -> y, normalised by the running statistics (C,): one scale and shift per
    channel, folded together before they touch x. Nothing is cached: inference has no backward."""
    xp = get_array_module(x)
    scale = weight / xp.sqrt(running_var + eps)
    return x * _per_channel(scale) + _per_channel(bias - running_mean * scale)


def batchnorm_param_grads(dout, xhat):
    """(dweight, dbias), each (C,): sums of dout * xhat and of dout over (N, H, W)."""
    return (dout * xhat).sum(axis=_AXES), dout.sum(axis=_AXES)


def batchnorm_backward(dout, cache):
    """dout (N, C, H, W) -> (dx, dweight (C,), dbias (C,))."""
    xhat, inv_std, weight = cache
    dweight, dbias = batchnorm_param_grads(dout, xhat)
    m = dout.size // dout.shape[1]
    g_mean = _per_channel(dbias * weight / m)
    gx_mean = _per_channel(dweight * weight / m)
    dx = (dout * _per_channel(weight) - g_mean - xhat * gx_mean) * _per_channel(inv_std)
    return dx, dweight, dbias


def batchnorm_forward_train_cuda(x, weight, bias, eps, running_mean, running_var, momentum):
    """Kernel path of the training forward (kernels/batchnorm.cu): per-channel statistics in
    one block per channel, which also updates the running buffers in place, then normalise."""
    n, c, h, w = x.shape
    m = n * h * w
    mean, inv_std = empty((c,), x.dtype, x), empty((c,), x.dtype, x)
    launch("batchnorm", "batchnorm_stats", grid_for(c, x, block=1), REDUCE_BLOCK, x, mean, inv_std,
           running_mean, running_var, n, c, h * w, eps, 1 - momentum, momentum, momentum * m / (m - 1))
    xhat, y = empty_like(x), empty_like(x)
    launch("batchnorm", "batchnorm_normalize", grid_for(x.size, x), BLOCK, x, mean, inv_std, weight, bias,
           xhat, y, n, c, h * w)
    return y, (xhat, inv_std, weight)


def batchnorm_forward_eval_cuda(x, weight, bias, running_mean, running_var, eps):
    """Kernel path of ``batchnorm_forward_eval`` (kernels/batchnorm.cu): one elementwise pass."""
    n, c, h, w = x.shape
    y = empty_like(x)
    launch("batchnorm", "batchnorm_inference", grid_for(x.size, x), BLOCK, x, running_mean, running_var,
           weight, bias, y, n, c, h * w, eps)
    return y


def batchnorm_param_grads_cuda(dout, xhat):
    """Kernel path of ``batchnorm_param_grads``: one block per channel."""
    n, c, h, w = dout.shape
    dweight, dbias = empty((c,), dout.dtype, dout), empty((c,), dout.dtype, dout)
    launch("batchnorm", "batchnorm_backward_reduce", grid_for(c, dout, block=1), REDUCE_BLOCK, dout, xhat,
           dweight, dbias, n, c, h * w)
    return dweight, dbias


def batchnorm_backward_cuda(dout, cache):
    """Kernel path of ``batchnorm_backward``: dweight and dbias (C,) summed in one block per
    channel, then dx (N, C, H, W) in an elementwise pass that reads them."""
    xhat, inv_std, weight = cache
    n, c, h, w = dout.shape
    dweight, dbias = batchnorm_param_grads_cuda(dout, xhat)
    dx = empty_like(dout)
    launch("batchnorm", "batchnorm_backward_dx", grid_for(dout.size, dout), BLOCK, dout, xhat, inv_std, weight,
           dweight, dbias, dx, n, c, h * w)
    return dx, dweight, dbias


class BatchNorm2D(Layer):
    """``BatchNorm2D(num_features, eps=1e-5, momentum=0.1, dtype=float32)``; input (N, C, H, W).

    Parameters ``weight`` (C,) = 1 and ``bias`` (C,) = 0; buffers ``running_mean`` (C,) = 0 and
    ``running_var`` (C,) = 1, updated by every training forward.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=np.float32):
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features", "BatchNorm2D")
        self.momentum = check_number(momentum, "momentum", "BatchNorm2D", "a number in [0, 1]", lambda v: 0 <= v <= 1)
        self.eps = check_number(eps, "eps", "BatchNorm2D", "a finite number > 0", lambda v: v > 0)
        self.dtype = check_float_dtype(dtype, "BatchNorm2D")
        self.params["weight"] = Param(np.ones(num_features, self.dtype))
        self.params["bias"] = Param(np.zeros(num_features, self.dtype))
        self.buffers["running_mean"] = np.zeros(num_features, self.dtype)
        self.buffers["running_var"] = np.ones(num_features, self.dtype)

    def output_shape(self, input_shape):
        self.expect_rank(input_shape, 4, "N, C, H, W")
        if input_shape[1] != self.num_features:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.num_features}, H, W), "
                             f"got {tuple(input_shape)}")
        return tuple(input_shape)

    def _forward(self, x, train):
        w, b = self.params["weight"].data, self.params["bias"].data
        if not train or self.test_time:
            forward = batchnorm_forward_eval_cuda if self.uses_kernels else batchnorm_forward_eval
            running = self.buffers["running_mean"], self.buffers["running_var"]
            if train:   # at_test_time: the backward of x * scale + shift (the module doc)
                xp = get_array_module(x)
                self._cache = TEST_TIME, forward(x, xp.ones_like(w), xp.zeros_like(b), *running, self.eps)
            return forward(x, w, b, *running, self.eps)
        m = x.size // x.shape[1]
        if m < 2:
            raise ValueError(f"{self!r}: training needs more than one value per channel, got "
                             f"input shape {x.shape}")
        mom = self.momentum
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        if self.uses_kernels:
            y, self._cache = batchnorm_forward_train_cuda(x, w, b, self.eps, running_mean, running_var, mom)
            return y
        y, mean, var, self._cache = batchnorm_forward_train(x, w, b, self.eps)
        # The running buffers are updated in place, so that arrays handed out by state_dict() stay live.
        running_mean *= 1 - mom
        running_mean += mom * mean
        running_var *= 1 - mom
        running_var += (mom * m / (m - 1)) * var
        return y

    def _backward(self, dout):
        if self._cache[0] is TEST_TIME:
            dw, db = (batchnorm_param_grads_cuda if self.uses_kernels else batchnorm_param_grads)(dout, self._cache[1])
            forward = batchnorm_forward_eval_cuda if self.uses_kernels else batchnorm_forward_eval
            zeros = get_array_module(dout).zeros_like(self.buffers["running_mean"])
            dx = forward(dout, self.params["weight"].data, zeros, zeros, self.buffers["running_var"], self.eps)
        else:
            dx, dw, db = (batchnorm_backward_cuda if self.uses_kernels else batchnorm_backward)(dout, self._cache)
        self.store_grads(dw, db)
        return dx

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum:g}"
