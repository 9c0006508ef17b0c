"""The contract every layer shares: shape inference, checks on dout, eval mode, devices, state,
and the checks on its real-valued hyper-parameters."""
import re

import numpy as np
import pytest

from minicnn import (LRN, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, LRNMaxPool, MaxPool2D, ReLU,
                     Sequential, Tanh, cuda_available)

# (layer factory, input shape); every layer of the library appears here.
LAYERS = {
    "Conv2D": (lambda: Conv2D(4, 6, 3, padding=1, groups=2), (2, 4, 5, 5)),
    "MaxPool2D": (lambda: MaxPool2D(3, 2), (2, 3, 7, 7)),
    "LRN": (lambda: LRN(5), (2, 6, 3, 3)),
    "Conv2D+ReLU": (lambda: Conv2D(4, 6, 3, padding=1, groups=2, relu=True), (2, 4, 5, 5)),
    "LRNMaxPool": (lambda: LRNMaxPool(LRN(5, groups=2), MaxPool2D(3, 2)), (2, 6, 7, 7)),
    "ReLU": (lambda: ReLU(), (2, 3, 4, 4)),
    "Tanh": (lambda: Tanh(), (2, 3, 4, 4)),
    "Dropout": (lambda: Dropout(0.5), (2, 10)),
    "Dense": (lambda: Dense(10, 3), (2, 10)),
    "Dense+ReLU": (lambda: Dense(10, 3, relu=True), (2, 10)),
    "Flatten": (lambda: Flatten(), (2, 3, 2, 2)),
    "BatchNorm2D": (lambda: BatchNorm2D(3), (2, 3, 4, 4)),
    "Sequential": (lambda: Sequential([Conv2D(3, 4, 3), ReLU(), Flatten(), Dense(36, 2)]), (2, 3, 5, 5)),
}


@pytest.fixture(params=list(LAYERS))
def case(request):
    make, shape = LAYERS[request.param]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return make(), x


def test_output_shape_is_what_forward_returns(case):
    layer, x = case
    y = layer.forward(x)
    assert layer.output_shape(x.shape) == y.shape
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_grads_have_param_shapes_and_are_overwritten(case):
    layer, x = case
    y = layer.forward(x)
    layer.backward(np.ones_like(y))
    first = {n: p.grad.copy() for n, p in layer.named_params()}
    for name, p in layer.named_params():
        assert p.grad.shape == p.data.shape and p.grad.dtype == p.data.dtype, name
    layer.forward(x)
    layer.backward(np.ones_like(y))   # same call again: same gradient, not twice it
    for name, p in layer.named_params():
        np.testing.assert_allclose(p.grad, first[name], rtol=1e-6, err_msg=name)


def test_backward_before_forward_fails(case):
    layer, x = case
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(x, train=True\)"):
        layer.backward(np.ones(layer.output_shape(x.shape), np.float32))


def test_backward_after_eval_forward_fails(case):
    layer, x = case
    layer.forward(x, train=True)
    layer.forward(x, train=False)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones(layer.output_shape(x.shape), np.float32))


def test_a_new_layer_that_keeps_no_cache_is_told_so():
    """A student's layer whose _forward forgets self._cache was told that backward ran before
    forward, which it had not: the message names what its _forward must keep."""
    from minicnn import Layer

    class Square(Layer):
        def output_shape(self, input_shape):
            return tuple(input_shape)

        def _forward(self, x, train):
            self.x = x
            return x * x

        def _backward(self, dout):
            return 2 * self.x * dout
    layer, x = Square(), np.ones((2, 3), np.float32)
    with pytest.raises(NotImplementedError, match=r"^Layer implements no output_shape\(input_shape\), which every "
                                                  r"layer does"):
        Layer().forward(x)
    layer.forward(x)
    with pytest.raises(RuntimeError, match=r"^Square\(\): forward\(x, train=True\) ran, but its _forward kept nothing "
                                           r"for the backward: a training _forward sets self._cache"):
        layer.backward(x)


def test_dout_of_the_wrong_shape_or_dtype_fails(case):
    layer, x = case
    y = layer.forward(x)
    wrong = np.ones(y.shape[:-1] + (y.shape[-1] + 1,), np.float32)
    with pytest.raises(ValueError, match=r"dout must match the forward output, expected shape"):
        layer.backward(wrong)
    with pytest.raises((ValueError, TypeError), match="dout"):
        layer.backward(np.ones(y.shape, np.float64))


def test_integer_and_non_array_inputs_fail(case):
    layer, x = case
    with pytest.raises(TypeError, match="float32 or float64, got dtype int32"):
        layer.forward(x.astype(np.int32))
    with pytest.raises(TypeError, match="must be an array, got list"):
        layer.forward(x.tolist())


def test_train_is_true_or_false(case):
    """A string's truth would be taken: forward(x, train="eval") trained, dropping units."""
    layer, x = case
    for train in ("eval", None, 0):
        with pytest.raises(ValueError, match=f"train must be True or False, got {re.escape(repr(train))}$"):
            layer.forward(x, train=train)
    assert layer.forward(x, train=np.False_).shape == layer.output_shape(x.shape)


def test_unknown_device_fails(case):
    layer, _ = case
    with pytest.raises(ValueError, match=r"unknown device 'tpu': expected one of cpu, cuda"):
        layer.to("tpu")


@pytest.mark.skipif(cuda_available(), reason="checks the error raised where no GPU is available")
def test_cuda_without_a_gpu_says_what_to_install(case, monkeypatch):
    monkeypatch.delenv("MINICNN_SIMULATE", raising=False)
    layer, _ = case
    with pytest.raises(RuntimeError, match=r"CuPy or a CUDA GPU is not available.*minicnn\[cuda13\].*'sim'"):
        layer.to("cuda")


# Every layer's real-valued hyper-parameters: (build with the value, the attribute that keeps it,
# values in range: the default and the edges that are in, the edges that are out, the start of the
# message for a value out of range).
REAL_HYPERPARAMETERS = {
    "LRN alpha": (lambda v: LRN(alpha=v), "alpha", (1e-4, 0), (), "LRN: alpha must be a finite number >= 0"),
    "LRN beta": (lambda v: LRN(beta=v), "beta", (0.75, 0), (), "LRN: beta must be a finite number >= 0"),
    "LRN k": (lambda v: LRN(k=v), "k", (2.0,), (0,), r"LRN: k must be a finite number > 0 \(k = 0 divides by zero"),
    "Dropout p": (lambda v: Dropout(v), "p", (0.5, 0), (1,), r"Dropout: p must be a number in \[0, 1\)"),
    "BatchNorm2D momentum": (lambda v: BatchNorm2D(3, momentum=v), "momentum", (0.1, 0, 1), (),
                             r"BatchNorm2D: momentum must be a number in \[0, 1\]"),
    "BatchNorm2D eps": (lambda v: BatchNorm2D(3, eps=v), "eps", (1e-5,), (0,),
                        "BatchNorm2D: eps must be a finite number > 0"),
}


@pytest.mark.parametrize("name", list(REAL_HYPERPARAMETERS))
def test_a_real_hyperparameter_takes_numpy_numbers_and_names_a_bad_value(name):
    """A float32 read from an array will do as well as a Python float, and is kept as a Python
    float; a string, None, a bool, NaN, infinity or a value out of range raises ValueError naming
    the layer, the argument, what it must be and what it got (not the TypeError of comparing a
    string with 0, nor a layer built on infinity)."""
    build, attribute, good, edges_out, expected = REAL_HYPERPARAMETERS[name]
    for value in (*good, np.float32(good[0]), np.float64(good[0]), np.array(good[0])):
        kept = getattr(build(value), attribute)
        assert type(kept) is float and kept == float(value)
    for bad in ("0.5", None, True, float("nan"), float("inf"), -1.0, np.float32(-1.0), *edges_out):
        with pytest.raises(ValueError, match=expected + ".*, got " + re.escape(repr(bad)) + "$"):
            build(bad)


@pytest.mark.parametrize("who, build", [("Conv2D", lambda **given: Conv2D(3, 4, 3, **given)),
                                        ("Dense", lambda **given: Dense(3, 4, **given))])
def test_the_flags_and_the_generator_of_a_layer_with_weights_are_checked(who, build):
    """``bias`` and ``relu`` take True or False (NumPy's too), not a string whose truth would be
    taken ("False" is true); ``rng`` takes a Generator (or the older RandomState) or None, and a
    seed given for it is told how to make one."""
    assert "bias" not in build(bias=np.False_).params and build(relu=np.True_).relu is True
    for flag in ("bias", "relu"):
        for bad in ("False", 0, None):
            with pytest.raises(ValueError, match=f"{who}: {flag} must be True or False, got {re.escape(repr(bad))}$"):
                build(**{flag: bad})
    seeded = [build(rng=np.random.default_rng(3)).params["weight"].data for _ in range(2)]
    np.testing.assert_array_equal(*seeded)
    legacy = [build(rng=np.random.RandomState(3)).params["weight"].data for _ in range(2)]   # draws as well
    np.testing.assert_array_equal(*legacy)
    with pytest.raises(ValueError, match=rf"{who}: rng must be a numpy.random.Generator or None, got 5 "
                                         rf"\(numpy.random.default_rng\(5\) makes one of a seed\)$"):
        build(rng=5)
    with pytest.raises(ValueError, match=f"{who}: rng must be a numpy.random.Generator or None, got 'seed'$"):
        build(rng="seed")


@pytest.mark.parametrize("name", list(LAYERS))
def test_state_dict_round_trip(name):
    make, shape = LAYERS[name]
    layer, other = make(), make()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    other.load_state_dict({k: v.copy() for k, v in layer.state_dict().items()})
    if isinstance(layer, (Dropout,)):
        return
    np.testing.assert_array_equal(other.forward(x, train=False), layer.forward(x, train=False))


def test_kernel_sources_are_found_by_name():
    from minicnn.kernels import KERNEL_DIR, source_path
    assert KERNEL_DIR.endswith("kernels")
    with pytest.raises(FileNotFoundError, match="no CUDA source no_such_kernel.cu"):
        source_path("no_such_kernel")
