"""Input generators for the layer tests."""
import numpy as np


def distinct_values(rng, shape, gap=1e-2):
    """Random array whose entries all differ by at least ``gap``: no max-pool ties, no kinks
    within a gradient check's step."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) - n / 2) * gap


def away_from_zero(rng, shape, margin=1e-2):
    """Standard normal entries pushed at least ``margin`` away from 0 (ReLU's kink)."""
    x = rng.standard_normal(shape)
    return x + np.sign(x) * margin + (x == 0) * margin
