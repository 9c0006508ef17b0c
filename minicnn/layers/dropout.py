"""Inverted dropout: at training time keep each unit with probability 1 - p and scale it by
1 / (1 - p); at test time the layer is the identity (also in a training forward within
``at_test_time``, whose backward then passes dL/dy through). (The paper instead multiplied the
outputs by 0.5 at test time; the expectation is the same.)

The mask of the t-th training forward of a layer with seed s is a pure function of (s, t, index),
drawn by ``minicnn.counter_rng``, so it can be reproduced: ``random_state()`` /
``set_random_state()`` save and restore t (gradient checks and checkpoints use them), and the GPU
kernel draws the same mask.
"""
import math

import numpy as np

from minicnn import counter_rng
from minicnn.backend import get_array_module
from minicnn.launch import BLOCK, empty_like, grid_for, launch
from minicnn.layers.base import TEST_TIME, Layer, check_number, check_positive_int


def mask_layout(shape, mask_slice, first_row=0):
    """(row, row_stride, offset) of an input of ``shape`` = (N, ...): element i of the input
    draws element (i // row) * row_stride + offset + i % row of the full draw. The input's rows
    are rows [first_row, first_row + N) of the full draw (a rank's part of a global batch)."""
    row = math.prod(shape[1:])
    offset, total = mask_slice if mask_slice is not None else (0, row)
    if not 0 <= offset <= total - row:
        raise ValueError(f"Dropout: mask_slice {mask_slice} does not hold the {row} features of an "
                         f"input of shape {tuple(shape)}")
    if (first_row + shape[0]) * total >= 2 ** 32:
        raise ValueError(f"Dropout: at most 2**32 elements per draw, got {first_row} + {shape[0]} rows "
                         f"of {total}")
    return row, total, first_row * total + offset


def dropout_forward(x, p, seed, counter, mask_slice=None, first_row=0):
    """x -> (y, mask): mask holds 0 for dropped units and 1/(1-p) for kept ones (x's dtype)."""
    row, total, offset = mask_layout(x.shape, mask_slice, first_row)
    xp = get_array_module(x)
    i = xp.arange(x.size, dtype=np.uint32)
    index = (i // np.uint32(row)) * np.uint32(total) + np.uint32(offset) + i % np.uint32(row)
    keep = counter_rng.uniform_at(seed, counter, index, x.dtype).reshape(x.shape) >= p
    mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return x * mask, mask


def dropout_backward(dout, mask):
    """dout -> dx = dout * mask: the dropped units pass no gradient, the kept ones 1/(1-p) of it."""
    return dout * mask


def dropout_forward_cuda(x, p, seed, counter, mask_slice=None, first_row=0):
    """Kernel path of ``dropout_forward`` (kernels/dropout.cu): the same mask, drawn on the
    device; the cache is the draw's keys, from which the backward draws the mask again."""
    layout = mask_layout(x.shape, mask_slice, first_row)
    key1, key2 = counter_rng.stream_keys(seed, counter)
    keep = x.dtype.type(1.0 / (1.0 - p))
    y = empty_like(x)
    launch("dropout", "dropout_forward", grid_for(x.size, x), BLOCK, x, y, x.size, *layout, key1, key2, p, keep)
    return y, (layout, key1, key2, p, keep)


def dropout_backward_cuda(dout, cache):
    """Kernel path of ``dropout_backward``: the mask is drawn again from the forward's keys,
    never stored (one read of dout and one write of dx)."""
    layout, key1, key2, p, keep = cache
    dx = empty_like(dout)
    launch("dropout", "dropout_backward", grid_for(dout.size, dout), BLOCK, dout, dx, dout.size, *layout, key1,
           key2, p, keep)
    return dx


class Dropout(Layer):
    """``Dropout(p=0.5, seed=0, mask_slice=None)``: p is the probability of dropping a unit, 0 <= p < 1.

    ``mask_slice=(offset, total)`` says that the input's features (per sample) are features
    [offset, offset + F) of a wider activation of ``total`` features, and draws exactly that part
    of the wider activation's mask: a tower of the two-device split (``minicnn.towers``) then
    drops the same units as the single-device network with the same seed.

    ``first_row``: the input's samples are rows [first_row, first_row + N) of a larger batch,
    whose mask the layer draws its part of. Data-parallel training sets it to the rank's offset in
    the global batch (``minicnn.distributed.offset_dropout_rows``), so the ranks drop different
    units, exactly those one process would drop with the global batch.
    """

    def __init__(self, p=0.5, seed=0, mask_slice=None):
        super().__init__()
        self.p = check_number(p, "p", "Dropout", "a number in [0, 1)", lambda v: 0 <= v < 1)
        self.seed = check_positive_int(seed, "seed", "Dropout", minimum=0)
        self.mask_slice = None if mask_slice is None else tuple(int(v) for v in mask_slice)
        self.calls = 0  # training forwards so far: the counter of the next mask
        self.first_row = 0

    def output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{self!r}: expected an input with a batch axis, got shape {tuple(input_shape)}")
        if self.mask_slice is not None:
            mask_layout(input_shape, self.mask_slice, self.first_row)
        return tuple(input_shape)

    def _forward(self, x, train):
        if not train or self.test_time:   # the identity; at_test_time's backward passes dout through
            self._cache = TEST_TIME
            return x
        forward = dropout_forward_cuda if self.uses_kernels else dropout_forward
        y, self._cache = forward(x, self.p, self.seed, self.calls, self.mask_slice, self.first_row)
        self.calls += 1
        return y

    def _backward(self, dout):
        if self._cache is TEST_TIME:
            return dout
        return (dropout_backward_cuda if self.uses_kernels else dropout_backward)(dout, self._cache)

    def random_state(self):
        return {"seed": self.seed, "calls": self.calls}

    def set_random_state(self, state):
        self.seed, self.calls = int(state["seed"]), int(state["calls"])

    def extra_repr(self):
        return f"p={self.p:g}" + (f", mask_slice={self.mask_slice}" if self.mask_slice else "")
