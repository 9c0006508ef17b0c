"""Rectified linear unit: y = max(x, 0); dx = dout where x > 0, else 0 (the kink at 0 gets 0)."""
from minicnn.backend import get_array_module
from minicnn.launch import BLOCK, empty_like, grid_for, launch
from minicnn.layers.base import Layer


def relu_forward(x):
    """x (any shape) -> (y, cache)."""
    xp = get_array_module(x)
    y = xp.maximum(x, 0)
    return y, y


def relu_backward(dout, cache):
    """dout -> dx. The cache is the output: y > 0 exactly where x > 0."""
    return dout * (cache > 0)


def relu_forward_cuda(x):
    """Kernel path of ``relu_forward`` (kernels/relu.cu)."""
    y = empty_like(x)
    launch("relu", "relu_forward", grid_for(x.size, x), BLOCK, x, y, x.size)
    return y, y


def relu_backward_cuda(dout, cache):
    dx = empty_like(dout)
    launch("relu", "relu_backward", grid_for(dout.size, dout), BLOCK, dout, cache, dx, dout.size)
    return dx


class ReLU(Layer):
    """``ReLU()``: elementwise, any input shape with a batch axis."""

    def output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{self!r}: expected an input with a batch axis, got shape {tuple(input_shape)}")
        return tuple(input_shape)

    def _forward(self, x, train):
        y, cache = (relu_forward_cuda if self.uses_kernels else relu_forward)(x)
        self._cache = cache if train else None
        return y

    def _backward(self, dout):
        return (relu_backward_cuda if self.uses_kernels else relu_backward)(dout, self._cache)
