"""Hyperbolic tangent: y = tanh(x); dx = dout * (1 - y^2), from the output the forward keeps.

The saturating nonlinearity that ReLU replaced: the paper's section 3.1 and its Figure 1, where a
network of ReLUs reaches 25% training error on CIFAR-10 six times faster than the same network of
tanh units (``python examples/train_alexnet.py --activation tanh`` trains the small AlexNet with
it; README, "ReLU against tanh")."""
from minicnn import cpu_threads
from minicnn.backend import get_array_module
from minicnn.launch import BLOCK, empty_like, grid_for, launch
from minicnn.layers.base import Elementwise


def tanh_forward(x):
    """x (N, ...) -> (y, cache): the cache is y. Slices of the batch run on all the cores
    (``minicnn.cpu_threads``)."""
    xp = get_array_module(x)
    y = xp.empty_like(x)
    cpu_threads.in_slices(x.shape[0], lambda s: xp.tanh(x[s], out=y[s]), x)
    return y, y


def tanh_backward(dout, cache):
    """dout -> dx = dout * (1 - y^2), y the forward's output (the cache)."""
    xp = get_array_module(dout)
    dx = xp.empty_like(dout)

    def backward(s):
        xp.multiply(cache[s], cache[s], out=dx[s])    # y^2
        xp.subtract(1, dx[s], out=dx[s])               # 1 - y^2
        xp.multiply(dout[s], dx[s], out=dx[s])

    cpu_threads.in_slices(dout.shape[0], backward, dout)
    return dx


def tanh_forward_cuda(x):
    """Kernel path of ``tanh_forward`` (kernels/tanh.cu)."""
    y = empty_like(x)
    launch("tanh", "tanh_forward", grid_for(x.size, x), BLOCK, x, y, x.size)
    return y, y


def tanh_backward_cuda(dout, cache):
    """Kernel path of ``tanh_backward`` (kernels/tanh.cu); the cache is the forward's output."""
    dx = empty_like(dout)
    launch("tanh", "tanh_backward", grid_for(dout.size, dout), BLOCK, dout, cache, dx, dout.size)
    return dx


class Tanh(Elementwise):
    """``Tanh()``: elementwise, any input shape with a batch axis."""
    numpy = (tanh_forward, tanh_backward)
    kernels = (tanh_forward_cuda, tanh_backward_cuda)
