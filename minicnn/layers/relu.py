"""Rectified linear unit: y = max(x, 0); dx = dout where x > 0, else 0 (the kink at 0 gets 0)."""
from minicnn import cpu_threads, kernel_versions
from minicnn.backend import get_array_module
from minicnn.launch import BLOCK, empty_like, grid_for, launch
from minicnn.layers.base import Elementwise

RELU_ILP = 4   # elements per thread and step of the version-2 kernels (kernels/relu.cu)


def relu_forward(x):
    """x (N, ...) -> (y, cache). Slices of the batch run on all the cores (``minicnn.cpu_threads``;
    relu1 of AlexNet at batch 32 is 37 MB)."""
    xp = get_array_module(x)
    y = xp.empty_like(x)
    cpu_threads.in_slices(x.shape[0], lambda s: xp.maximum(x[s], 0, out=y[s]), x)
    return y, y


def relu_backward(dout, cache):
    """dout -> dx. The cache is the output: y > 0 exactly where x > 0."""
    xp = get_array_module(dout)
    dx = xp.empty_like(dout)
    cpu_threads.in_slices(dout.shape[0], lambda s: xp.multiply(dout[s], cache[s] > 0, out=dx[s]), dout)
    return dx


def _relu_launch(kernel, n, like, *args):
    """kernels/relu.cu's ``kernel`` in the version ``kernel_versions.current("relu")`` names:
    version 2 handles RELU_ILP elements per thread and step, so it needs that many fewer threads."""
    if kernel_versions.current("relu") == 1:
        launch("relu", kernel + "_v1", grid_for(n, like), BLOCK, *args)
    else:
        launch("relu", kernel + "_v2", grid_for(-(-n // RELU_ILP), like), BLOCK, *args)


def relu_forward_cuda(x):
    """Kernel path of ``relu_forward`` (kernels/relu.cu)."""
    y = empty_like(x)
    _relu_launch("relu_forward", x.size, x, x, y, x.size)
    return y, y


def relu_backward_cuda(dout, cache):
    """Kernel path of ``relu_backward`` (kernels/relu.cu); the cache is the forward's output."""
    dx = empty_like(dout)
    _relu_launch("relu_backward", dout.size, dout, dout, cache, dx, dout.size)
    return dx


class ReLU(Elementwise):
    """``ReLU()``: elementwise, any input shape with a batch axis."""
    numpy = (relu_forward, relu_backward)
    kernels = (relu_forward_cuda, relu_backward_cuda)
