"""Dense and BatchNorm2D: forward against naive references, gradients, running statistics."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minicnn import BatchNorm2D, Dense
from minicnn.gradcheck import check_layer
from minicnn.layers.base import at_test_time
from reference import batchnorm_train_naive, dense_naive


@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 6), st.booleans(), st.integers(0, 2 ** 31))
def test_dense_forward_and_gradients(n, fin, fout, bias, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(fin, fout, bias=bias, dtype=np.float64, rng=rng)
    x = rng.standard_normal((n, fin))
    b = layer.params["bias"].data if bias else None
    np.testing.assert_allclose(layer.forward(x), dense_naive(x, layer.params["weight"].data, b), rtol=1e-12, atol=1e-14)
    assert layer.params["weight"].shape == (fout, fin)
    check_layer(layer, x).assert_ok()


def test_dense_alexnet_shapes():
    assert Dense(9216, 4096).num_params() == 37752832
    assert Dense(4096, 1000).output_shape((128, 4096)) == (128, 1000)


def test_dense_bad_input():
    layer = Dense(6, 3)
    with pytest.raises(ValueError, match=r"Dense\(6, 3\): expected input of shape \(N, 6\), got \(2, 5\)"):
        layer.forward(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"put a Flatten\(\) before it"):
        layer.forward(np.zeros((2, 6, 1, 1), np.float32))


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2 ** 31))
def test_batchnorm_forward_gradients_and_running_stats(n, c, h, w, seed):
    if n * h * w < 4:
        # With 2 values per channel the normalised output is +-1 whatever x is: dL/dx is of the
        # order of eps and a relative comparison measures only rounding noise.
        n = 4
    rng = np.random.default_rng(seed)
    layer = BatchNorm2D(c, dtype=np.float64)
    layer.params["weight"].data[...] = rng.uniform(0.5, 2, c)
    layer.params["bias"].data[...] = rng.standard_normal(c)
    running_mean, running_var = rng.standard_normal(c), rng.uniform(0.5, 2, c)   # as after earlier steps
    layer.buffers["running_mean"][...], layer.buffers["running_var"][...] = running_mean, running_var
    x = rng.standard_normal((n, c, h, w)) * 3 + 1
    y = layer.forward(x)
    expected, mean, var = batchnorm_train_naive(x, layer.params["weight"].data, layer.params["bias"].data, 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)
    m = n * h * w
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.9 * running_mean + 0.1 * mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(layer.buffers["running_var"], 0.9 * running_var + 0.1 * var * m / (m - 1), rtol=1e-12)
    check_layer(layer, x).assert_ok()


def test_batchnorm_eval_uses_running_statistics(rng):
    layer = BatchNorm2D(2, dtype=np.float64)
    layer.buffers["running_mean"][...] = [1.0, -1.0]
    layer.buffers["running_var"][...] = [4.0, 0.25]
    x = rng.standard_normal((3, 2, 2, 2))
    y = layer.forward(x, train=False)
    expected = (x - np.array([1.0, -1.0]).reshape(1, 2, 1, 1)) / np.sqrt(np.array([4.0, 0.25]) + 1e-5).reshape(1, 2, 1, 1)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    np.testing.assert_array_equal(layer.buffers["running_mean"], [1.0, -1.0])  # eval changes nothing


def test_batchnorm_at_test_time_is_the_inference_forward_and_its_gradient(rng):
    """Within at_test_time a training forward computes the inference forward, moves no running
    statistic, and its backward is the gradient of that forward (x * scale + shift), central
    differences of it checking dx, dweight and dbias; one value per channel is then no error."""
    layer = BatchNorm2D(3, dtype=np.float64)
    layer.params["weight"].data[...] = rng.uniform(0.5, 2, 3)
    layer.params["bias"].data[...] = rng.standard_normal(3)
    layer.buffers["running_mean"][...], layer.buffers["running_var"][...] = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    before = {name: buffer.copy() for name, buffer in layer.buffers.items()}
    x = rng.standard_normal((2, 3, 4, 5)) * 3 + 1
    with at_test_time(layer):
        np.testing.assert_array_equal(layer.forward(x, train=True), layer.forward(x, train=False))
        check_layer(layer, x).assert_ok()
        assert layer.forward(x[:1, :, :1, :1]).shape == (1, 3, 1, 1)
        scale = layer.params["weight"].data / np.sqrt(layer.buffers["running_var"] + 1e-5)
        np.testing.assert_allclose(layer.backward(np.ones((1, 3, 1, 1))), scale.reshape(1, 3, 1, 1), rtol=1e-15)
    for name, buffer in layer.buffers.items():
        np.testing.assert_array_equal(buffer, before[name])
    assert not layer.test_time and "test_time" not in vars(layer)   # as it was, once out of the context
    layer.forward(x)
    assert not np.array_equal(layer.buffers["running_mean"], before["running_mean"])   # training again


def test_batchnorm_bad_input():
    with pytest.raises(ValueError, match="more than one value per channel"):
        BatchNorm2D(3).forward(np.zeros((1, 3, 1, 1), np.float32))
    assert BatchNorm2D(3).forward(np.zeros((2, 3, 1, 1), np.float32)).shape == (2, 3, 1, 1)   # two values do
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\), got \(2, 4, 2, 2\)"):
        BatchNorm2D(3).forward(np.zeros((2, 4, 2, 2), np.float32))


# --- the CUDA kernels (GEMM + kernels/bias.cu, kernels/batchnorm.cu), simulator and GPU --------
from devices import assert_close, compare_with_cpu  # noqa: E402
from minicnn.gemm import use_gemm  # noqa: E402


@pytest.mark.parametrize("gemm", ["cublas", "tiled"])
@pytest.mark.parametrize("n,fin,fout", [(1, 1, 1), (3, 7, 5), (2, 130, 67)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_kernel_matches_cpu(kernel_device, gemm, n, fin, fout, dtype):
    rng = np.random.default_rng(n * fin)
    x = rng.standard_normal((n, fin)).astype(dtype)
    with use_gemm(gemm):
        compare_with_cpu(Dense(fin, fout, dtype=dtype, rng=rng), x, kernel_device)
        compare_with_cpu(Dense(fin, fout, bias=False, dtype=dtype, rng=rng), x, kernel_device)


# Not (2, 1, 1, 1): two values per channel normalise to exactly -1 and +1 whatever they are, so
# the exact input gradient is 0 and both sides return rounding noise (seen on an H100: 1e-6 of
# opposite rounding), which no relative tolerance can compare.
@pytest.mark.parametrize("shape", [(4, 1, 1, 1), (3, 5, 4, 7), (2, 3, 17, 19)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_kernel_matches_cpu(kernel_device, shape, dtype):
    x = (np.random.default_rng(5).standard_normal(shape) * 3 + 1).astype(dtype)
    layer = BatchNorm2D(shape[1], dtype=dtype)
    layer.params["weight"].data[...] = np.linspace(0.5, 2, shape[1])
    layer.params["bias"].data[...] = np.linspace(-1, 1, shape[1])
    # running statistics as after some training (at their start, 0 and 1, a product and a sum,
    # or a product and a quotient, of the old value and the momentum can coincide)
    layer.buffers["running_mean"][...] = np.linspace(-0.5, 0.7, shape[1])
    layer.buffers["running_var"][...] = np.linspace(0.4, 2.5, shape[1])
    on_device = compare_with_cpu(layer, x, kernel_device)               # training step
    for name, buffer in layer.buffers.items():                          # running statistics
        assert_close(on_device.buffers[name], buffer, f"BatchNorm2D {name}")
    compare_with_cpu(layer, x, kernel_device, train=False)               # inference
    with at_test_time(layer):   # the gradient of inference (the copy on the device made within, as the layer is)
        at_test = compare_with_cpu(layer, x, kernel_device)
    assert at_test.test_time
    for name, buffer in at_test.buffers.items():                        # left alone
        assert_close(buffer, on_device.buffers[name], f"BatchNorm2D {name} at test time")
