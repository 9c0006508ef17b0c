"""Input generators for the layer tests."""
import numpy as np
from hypothesis import strategies as st


def distinct_values(rng, shape, gap=1e-2):
    """Random array whose entries all differ by at least ``gap``: no max-pool ties, no kinks
    within a gradient check's step."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) - n / 2) * gap


def away_from_zero(rng, shape, margin=1e-2):
    """Standard normal entries pushed at least ``margin`` away from 0 (ReLU's kink)."""
    x = rng.standard_normal(shape)
    return x + np.sign(x) * margin + (x == 0) * margin


@st.composite
def pool_cases(draw):
    """A max-pooling case: kernel, stride and padding per axis (padding at most half the kernel),
    an (N, C, H, W) shape that fits at least one window, and a seed for the values."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    h = draw(st.integers(max(1, k[0] - 2 * pad[0]), 9))
    w = draw(st.integers(max(1, k[1] - 2 * pad[1]), 9))
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), k=k, stride=stride,
                pad=pad, seed=draw(st.integers(0, 2 ** 31)))
