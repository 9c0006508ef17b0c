"""Tanh (minicnn/layers/tanh.py, kernels/tanh.cu): the forward against a loop of math.tanh, the
gradient against central differences, its saturation, and the kernels against the CPU."""
import math

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from minicnn import Tanh
from minicnn.backend import to_device, to_numpy
from minicnn.gradcheck import check_layer
from devices import compare_with_cpu

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@given(shapes, st.integers(0, 2 ** 31))
@example(shape=(3,), seed=6)   # drawn by the thorough profile: all three saturated (gradcheck's floor)
def test_forward_is_tanh_and_the_gradient_is_one_minus_its_square(shape, seed):
    x = 3 * np.random.default_rng(seed).standard_normal(shape)
    layer = Tanh()
    y = layer.forward(x)
    assert y.shape == layer.output_shape(shape) == shape
    naive = np.array([math.tanh(v) for v in x.ravel()]).reshape(shape)
    np.testing.assert_allclose(y, naive, rtol=1e-15, atol=1e-16)
    check_layer(Tanh(), x).assert_ok()


def test_saturates_without_overflow():
    """Far from 0 the output is +-1 and the gradient 0 (what slows a tanh network's learning: the
    paper's section 3.1), with no overflow in float32 however large the input."""
    x = np.array([[-1e4, -20.0, 0.0, 20.0, 1e4]], dtype=np.float32)
    layer = Tanh()
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(layer.forward(x), [[-1, -1, 0, 1, 1]])
        np.testing.assert_array_equal(layer.backward(np.ones_like(x)), [[0, 0, 1, 0, 0]])


def test_needs_a_batch_axis():
    with pytest.raises(ValueError, match="expected an input with a batch axis, got shape \\(\\)"):
        Tanh().output_shape(())


# 1, odd, prime, more than two blocks, more than one grid-stride step (the simulator's device
# holds 2 blocks of 256 threads)
@pytest.mark.parametrize("shape", [(1,), (7,), (2, 3, 5, 7), (3, 1031), (3, 4111)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_cpu(kernel_device, shape, dtype):
    x = (4 * np.random.default_rng(0).standard_normal(shape)).astype(dtype)
    compare_with_cpu(Tanh(), x, kernel_device)


def test_kernel_saturates_as_the_cpu_does(kernel_device):
    x = np.array([[-1e4, -20.0, 0.0, 20.0, 1e4]], dtype=np.float32)
    layer = Tanh().to(kernel_device)
    np.testing.assert_array_equal(to_numpy(layer.forward(to_device(x, kernel_device))), [[-1, -1, 0, 1, 1]])
    np.testing.assert_array_equal(to_numpy(layer.backward(to_device(np.ones_like(x), kernel_device))),
                                  [[0, 0, 1, 0, 0]])
