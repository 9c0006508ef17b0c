"""Inverted dropout: at training time keep each unit with probability 1 - p and scale it by
1 / (1 - p); at test time the layer is the identity. (The paper instead multiplied the outputs by
0.5 at test time; the expectation is the same.)

The mask of the t-th training forward of a layer with seed s is a pure function of (s, t, index),
drawn by ``minicnn.counter_rng``, so it can be reproduced: ``random_state()`` /
``set_random_state()`` save and restore t (gradient checks and checkpoints use them), and the GPU
kernel draws the same mask.
"""
from minicnn import counter_rng
from minicnn.launch import BLOCK, empty_like, grid_for, launch
from minicnn.layers.base import Layer


def dropout_forward(x, p, seed, counter):
    """x -> (y, mask): mask holds 0 for dropped units and 1/(1-p) for kept ones (x's dtype)."""
    keep = counter_rng.uniform_like(x, seed, counter) >= p
    mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return x * mask, mask


def dropout_backward(dout, mask):
    return dout * mask


def dropout_forward_cuda(x, p, seed, counter):
    """Kernel path of ``dropout_forward`` (kernels/dropout.cu): the same mask, drawn on the
    device; the cache is the draw's keys, from which the backward draws the mask again."""
    key1, key2 = counter_rng.stream_keys(seed, counter)
    keep = x.dtype.type(1.0 / (1.0 - p))
    y = empty_like(x)
    launch("dropout", "dropout_forward", grid_for(x.size, x), BLOCK, x, y, x.size, key1, key2, p, keep)
    return y, (key1, key2, p, keep)


def dropout_backward_cuda(dout, cache):
    key1, key2, p, keep = cache
    dx = empty_like(dout)
    launch("dropout", "dropout_backward", grid_for(dout.size, dout), BLOCK, dout, dx, dout.size, key1, key2,
           p, keep)
    return dx


class Dropout(Layer):
    """``Dropout(p=0.5, seed=0)``: p is the probability of dropping a unit, 0 <= p < 1."""

    def __init__(self, p=0.5, seed=0):
        super().__init__()
        if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be a number in [0, 1), got {p!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"Dropout: seed must be a non-negative int, got {seed!r}")
        self.p, self.seed = float(p), seed
        self.calls = 0  # training forwards so far: the counter of the next mask

    def output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{self!r}: expected an input with a batch axis, got shape {tuple(input_shape)}")
        return tuple(input_shape)

    def _forward(self, x, train):
        if not train:
            return x
        forward = dropout_forward_cuda if self.uses_kernels else dropout_forward
        y, self._cache = forward(x, self.p, self.seed, self.calls)
        self.calls += 1
        return y

    def _backward(self, dout):
        return (dropout_backward_cuda if self.uses_kernels else dropout_backward)(dout, self._cache)

    def random_state(self):
        return {"seed": self.seed, "calls": self.calls}

    def set_random_state(self, state):
        self.seed, self.calls = int(state["seed"]), int(state["calls"])

    def extra_repr(self):
        return f"p={self.p:g}"
