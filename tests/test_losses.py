"""SoftmaxCrossEntropy: value against a naive loop, gradient, overflow safety, bad labels."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minicnn import SoftmaxCrossEntropy
from minicnn.losses import softmax
from minicnn.gradcheck import numerical_gradient
from reference import softmax_cross_entropy_naive


@given(st.integers(1, 6), st.integers(2, 8), st.floats(0.1, 20.0), st.integers(0, 2 ** 31))
def test_value_and_gradient(n, k, scale, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, k)) * scale
    labels = rng.integers(0, k, n)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, labels)
    assert float(value) == pytest.approx(softmax_cross_entropy_naive(logits, labels), rel=1e-12, abs=1e-12)
    analytic = loss.backward()
    numeric, kinks = numerical_gradient(lambda: SoftmaxCrossEntropy().forward(logits, labels), logits)
    assert not kinks.any()
    # The loss is one scalar, so central differences carry its whole rounding error,
    # about 1e-16 * |loss| / h (h = 1e-5), absolute: confident rows have gradients far below it.
    atol = 10 * 1e-16 * max(1.0, abs(float(value))) / 1e-5
    # Rows predicted with confidence 1 - 1e-6 also lose digits in log(1 + 1e-6): rtol 1e-5.
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=atol)


@given(st.integers(1, 6), st.integers(2, 8), st.floats(0.1, 50.0), st.integers(0, 2 ** 31))
def test_softmax_is_the_exponentials_over_their_sum(n, k, scale, seed):
    """``softmax``, which prediction and evaluation report as probabilities, against exp / sum in
    float64 written out; shifting the logits of a row changes nothing, huge ones stay finite."""
    logits = np.random.default_rng(seed).standard_normal((n, k)) * scale
    e = np.exp(logits)
    np.testing.assert_allclose(softmax(logits), e / e.sum(axis=1, keepdims=True), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(softmax(logits + 1e3), softmax(logits), rtol=1e-9, atol=1e-300)
    huge = softmax(np.array([[1e4, 0.0, -1e4]], dtype=np.float32))
    assert huge.dtype == np.float32 and np.isfinite(huge).all() and huge[0, 0] == 1


def test_huge_logits_stay_finite():
    loss = SoftmaxCrossEntropy()
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]], dtype=np.float32)
    value = loss.forward(logits, np.array([0, 0]))
    assert np.isfinite(value) and float(value) == pytest.approx(1e4, rel=1e-6)   # (0 + 2e4) / 2
    d = loss.backward()
    assert np.isfinite(d).all() and d.dtype == np.float32
    np.testing.assert_allclose(d, [[0, 0, 0], [-0.5, 0.5, 0]], atol=1e-6)


def test_bad_input():
    loss = SoftmaxCrossEntropy()
    with pytest.raises(RuntimeError, match="before forward"):
        loss.backward()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values in \[0, 3\]"):
        loss.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values in \[-1, 2\]"):
        loss.forward(np.zeros((2, 3)), np.array([2, -1]))
    with pytest.raises(TypeError, match="labels must be integer class indices, got dtype float64"):
        loss.forward(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        loss.forward(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"logits must have shape \(N, K\)"):
        loss.forward(np.zeros((2, 3, 1)), np.array([0, 1]))
    with pytest.raises(TypeError, match="logits must be float32 or float64"):
        loss.forward(np.zeros((2, 3), np.int32), np.array([0, 1]))


# --- the CUDA kernels (kernels/softmax_cross_entropy.cu), simulator and GPU --------------------
from devices import assert_close  # noqa: E402
from minicnn.backend import to_device, to_numpy  # noqa: E402


@pytest.mark.parametrize("n,k", [(1, 2), (3, 10), (5, 1000), (2, 257), (300, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_cpu(kernel_device, n, k, dtype):
    """From 2 classes to more than a block has threads; a batch of more rows than the mean's
    block has threads (each thread then adds several rows' losses)."""
    rng = np.random.default_rng(k)
    logits = (rng.standard_normal((n, k)) * 5).astype(dtype)
    labels = rng.integers(0, k, n)
    cpu, dev = SoftmaxCrossEntropy(), SoftmaxCrossEntropy().to(kernel_device)
    loss_cpu = cpu.forward(logits, labels)
    loss_dev = dev.forward(to_device(logits, kernel_device), to_device(labels, kernel_device))
    assert_close(loss_dev, np.asarray(loss_cpu, dtype=dtype), "loss")
    assert_close(dev.backward(), cpu.backward(), "dlogits")


def test_kernel_huge_logits_stay_finite(kernel_device):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    loss = SoftmaxCrossEntropy().to(kernel_device)
    value = float(to_numpy(loss.forward(to_device(logits, kernel_device), to_device(np.array([1, 2]), kernel_device))))
    assert np.isfinite(value) and abs(value - (2e4 + np.log(3)) / 2) < 1e-9


def test_kernel_label_out_of_range_gives_nan(kernel_device):
    """On a device the labels are not checked on the host (that would synchronise): the loss is NaN."""
    loss = SoftmaxCrossEntropy().to(kernel_device)
    logits = to_device(np.zeros((2, 3)), kernel_device)
    assert np.isnan(float(to_numpy(loss.forward(logits, to_device(np.array([0, 3]), kernel_device)))))


def test_repr_names_the_loss():
    assert repr(SoftmaxCrossEntropy().to("sim")) == "SoftmaxCrossEntropy()"
