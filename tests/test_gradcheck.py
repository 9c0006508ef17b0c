"""The gradient checker itself: it must fail on a wrong backward and see kinks for what they are."""
import numpy as np
import pytest

from minicnn import Conv2D, ReLU
from minicnn.gradcheck import check_layer, numerical_gradient, rel_error
from minicnn.layers.lrn import LRN


class OffByAFactor(ReLU):
    def _backward(self, dout):
        return 1.001 * super()._backward(dout)


class WrongLRN(LRN):
    """LRN whose backward forgets the cross-channel term: a classic mistake."""
    def _backward(self, dout):
        scale_pow = self._cache[3]
        return dout * scale_pow


def test_detects_a_small_error():
    x = np.random.default_rng(0).standard_normal((3, 4)) + 0.5
    result = check_layer(OffByAFactor(), x)
    assert not result.ok
    with pytest.raises(AssertionError, match="input: relative error"):
        result.assert_ok()


def test_detects_a_missing_term():
    x = np.random.default_rng(0).standard_normal((2, 5, 2, 2)) * 3
    assert not check_layer(WrongLRN(5, alpha=1.0, beta=0.75, k=1.0), x).ok
    assert check_layer(LRN(5, alpha=1.0, beta=0.75, k=1.0), x).ok


def test_detects_a_wrong_parameter_gradient():
    layer = Conv2D(2, 2, 3, dtype=np.float64, rng=np.random.default_rng(0))
    original = layer._backward

    def wrong(dout):
        dx = original(dout)
        layer.params["bias"].grad = layer.params["bias"].grad * 0.5
        return dx
    layer._backward = wrong
    result = check_layer(layer, np.random.default_rng(1).standard_normal((1, 2, 4, 4)))
    assert result.errors["bias"] > 0.1 and result.errors["weight"] < 1e-6


def test_kinks_are_detected_and_counted():
    x = np.array([[1e-6, -2e-6, 0.5, -0.5]])   # two inputs within h = 1e-5 of ReLU's kink
    _, kinks = numerical_gradient(lambda: np.maximum(x, 0), x, np.ones((1, 4)))
    np.testing.assert_array_equal(kinks, [[True, True, False, False]])
    result = check_layer(ReLU(), x)
    assert result.kinks["input"] == 2 and not result.ok   # half the tensor on kinks is too many


def test_rel_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([1.1])) == pytest.approx(0.1 / 1.1)
    # an entry far below the tensor's scale is judged against 1e-3 * scale
    assert rel_error(np.array([100.0, 1e-9]), np.array([100.0, 2e-9])) == pytest.approx(1e-9 / 0.1)


def test_needs_float64():
    with pytest.raises(TypeError, match="needs float64"):
        check_layer(Conv2D(1, 1, 1), np.zeros((1, 1, 2, 2), np.float32))


def test_leaves_buffers_and_random_state_unchanged():
    from minicnn import BatchNorm2D, Dropout, Sequential
    model = Sequential([BatchNorm2D(2, dtype=np.float64), Dropout(0.3, seed=1)])
    x = np.random.default_rng(0).standard_normal((3, 2, 2, 2))
    check_layer(model, x).assert_ok()
    np.testing.assert_array_equal(model.state_dict()["0.running_mean"], 0)
    assert model.random_state()["1.calls"] == 0
