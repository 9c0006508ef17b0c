"""Flatten every axis but the batch axis: (N, C, H, W) -> (N, C*H*W), in C order (as PyTorch)."""
import math

from minicnn.layers.base import Layer


class Flatten(Layer):
    """``Flatten()``: (N, d1, d2, ...) -> (N, d1*d2*...). The backward reshapes back."""

    def output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self!r}: expected input of shape (N, ...) with at least 2 axes, "
                             f"got {tuple(input_shape)}")
        return (input_shape[0], math.prod(input_shape[1:]))

    def _forward(self, x, train):
        if train:
            self._cache = x.shape
        return x.reshape(self.output_shape(x.shape))

    def _backward(self, dout):
        return dout.reshape(self._cache)
