"""Convolution by the FFT (minicnn/layers/fft.py): its DFT matrices against NumPy's FFT, the
filters' transforms and the weight gradient's inverse each against the transforms they stand for,
the layer's forward against a naive loop and its gradients by finite differences, the backward
against im2col's, float32's error, and where the CPU takes it."""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from minicnn import Conv2D
from minicnn.gradcheck import check_layer
from minicnn.layers import fft, winograd
from minicnn.layers.conv import conv_backward, conv_forward
from devices import assert_grads_close
from reference import conv2d_naive


@pytest.fixture
def small_blocks(monkeypatch):
    """The transforms take the channels 2 at a time (Winograd's ``CHANNEL_BLOCK``), so that blocks
    split the small layers of the tests too."""
    monkeypatch.setattr(winograd, "CHANNEL_BLOCK", 2)


@st.composite
def cases(draw, max_size=9):
    groups = draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    pad = (draw(st.integers(0, kernel[0])), draw(st.integers(0, kernel[1])))   # past the window too
    return dict(n=draw(st.integers(1, 3)), c=groups * draw(st.integers(1, 3)), o=groups * draw(st.integers(1, 3)),
                groups=groups, kernel=kernel, pad=pad,
                h=draw(st.integers(max(1, kernel[0] - 2 * pad[0]), max_size)),
                w=draw(st.integers(max(1, kernel[1] - 2 * pad[1]), max_size)), bias=draw(st.booleans()),
                relu=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 31)))


def make(case, dtype=np.float64):
    rng = np.random.default_rng(case["seed"])
    layer = Conv2D(case["c"], case["o"], case["kernel"], 1, case["pad"], case["groups"], bias=case["bias"],
                   dtype=dtype, rng=rng, relu=case["relu"], algorithm="fft")
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dtype)
    return layer, x


def test_dft_matrix_is_numpys_fft_with_the_taps_moved():
    """Row k of ``dft_matrix(size, taps, shift, -1)`` applied to taps g gives the DFT of the plane
    holding g[t] at position t - shift (wrapped): NumPy's fft of that plane, the half spectrum
    with ``half``; sign +1 gives its conjugate."""
    rng = np.random.default_rng(0)
    g = rng.standard_normal(5)
    for size, shift in ((12, 0), (12, 2), (9, 4)):
        plane = np.zeros(size)
        plane[(np.arange(5) - shift) % size] = g
        np.testing.assert_allclose(fft.dft_matrix(size, 5, shift, -1) @ g, np.fft.fft(plane), atol=1e-12)
        np.testing.assert_allclose(fft.dft_matrix(size, 5, shift, -1, half=True) @ g, np.fft.rfft(plane), atol=1e-12)
        np.testing.assert_allclose(fft.dft_matrix(size, 5, shift, +1) @ g, np.conj(np.fft.fft(plane)), atol=1e-12)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("transposed", [False, True])
def test_filter_transform_is_rfft2_of_the_moved_filters(groups, transposed):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3, 5, 4))
    size, pad = (12, 10), (2, 1)
    got = fft.filter_transform(w, size, pad, groups, -1, transposed)
    planes = np.zeros(w.shape[:2] + size)
    rows, columns = (np.arange(5) - pad[0]) % size[0], (np.arange(4) - pad[1]) % size[1]
    planes[:, :, rows[:, None], columns] = w
    expected = np.fft.rfft2(planes).reshape(groups, 4 // groups, 3, 12, 6).transpose(3, 4, 0, 1, 2)
    if transposed:
        expected = expected.transpose(0, 1, 2, 4, 3)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    conjugate = fft.filter_transform(w, size, pad, groups, +1, transposed)
    np.testing.assert_allclose(conjugate, np.conj(expected), atol=1e-12)


@pytest.mark.parametrize("size", [(12, 10), (9, 7)])   # the half spectrum of an even and an odd width
def test_weight_grad_inverse_reads_the_inverse_transform_at_the_taps(size):
    """``weight_grad_inverse`` of D = conj(rfft2(c)) gives the values of the plane c at (a - pad,
    b - pad), wrapped, for the kh x kw taps: the inverse transform, of those values alone."""
    rng = np.random.default_rng(2)
    planes = rng.standard_normal((6, 2) + size)   # (O, C/G) planes, two groups of 3 filters
    d = np.conj(np.fft.rfft2(planes)).transpose(2, 3, 0, 1).reshape(size[0], size[1] // 2 + 1, 2, 3, 2)
    pad = (2, 1)
    got = fft.weight_grad_inverse(d, (5, 3), size, pad, np.float64)
    rows, columns = (np.arange(5) - pad[0]) % size[0], (np.arange(3) - pad[1]) % size[1]
    np.testing.assert_allclose(got, planes[:, :, rows[:, None], columns], atol=1e-12)


def test_transform_size_leaves_room_for_the_padding():
    """The smallest 5-smooth size that holds the plane and its leading padding, wrapped: AlexNet's
    conv2 (27 pixels, a 5-pixel window, padding 2) takes 30, not the 32 of a power of two; then
    the outputs, where the padding passes the window, and the window's taps."""
    assert fft.transform_size(27, 5, 2) == 30
    assert fft.transform_size(13, 5, 2) == 15
    assert fft.transform_size(5, 3, 0) == 5
    assert fft.transform_size(7, 3, 0) == 8
    assert fft.transform_size(1, 1, 1) == 3    # 3 outputs of a 1-pixel window over 1 + 2 pixels
    assert fft.transform_size(1, 3, 1) == 3    # 3 taps
    for length in range(1, 40):
        for kernel in range(1, 6):
            for pad in range(kernel + 1):
                if length + 2 * pad >= kernel:
                    size = fft.transform_size(length, kernel, pad)
                    assert size >= max(length + pad, length + 2 * pad - kernel + 1, kernel)


@given(cases())
def test_forward_matches_naive_loop(small_blocks, case):
    layer, x = make(case)
    assert layer.algorithm_for(x.shape) == "fft"
    bias = layer.params["bias"].data if case["bias"] else None
    expected = conv2d_naive(x, layer.params["weight"].data, bias, (1, 1), case["pad"], case["groups"])
    if case["relu"]:
        expected = np.maximum(expected, 0)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-11, atol=1e-11)


@given(cases(max_size=7))
# drawn by the thorough profile: one output 6.9e-6 from the fused ReLU's kink, within the check's step
# of every bias and of one weight: 1 of 4 biases on a kink failed the check before its second step
@example(case=dict(n=2, c=4, o=4, groups=2, kernel=(3, 2), pad=(2, 1), h=5, w=5, bias=True, relu=True, seed=456))
# and (on NumPy 1.24) a 1 x 1 conv whose one real output the ReLU masks, and whose outputs in the padding
# were the transforms' rounding, 2e-18, let through: the gradients compared were that rounding's
@example(case=dict(n=1, c=1, o=1, groups=1, kernel=(1, 1), pad=(0, 1), h=1, w=1, bias=False, relu=True, seed=0))
# and a weight 3e-3 off: a pre-activation 2.1e-7 from the ReLU's 0, within its step, a kink too slight
# next to the weights' largest slope (21) to be seen as one, before the check tried such elements again
@example(case=dict(n=3, c=3, o=9, groups=3, kernel=(3, 4), pad=(2, 4), h=6, w=4, bias=False, relu=True, seed=3990))
def test_gradients(small_blocks, case):
    layer, x = make(case)
    check_layer(layer, x).assert_ok()


@pytest.mark.parametrize("bias", [False, True])
def test_outputs_that_read_the_padding_alone_are_exact(bias):
    """Padding of 3 past a 2 x 3 window: two rows and one column at each end of the output read the
    padding alone. There the FFT's outputs are the bias (or 0) exactly, im2col's bits, not the
    transforms' rounding; backward, their dL/dy reaches the bias gradient alone."""
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((4, 3, 2, 3))
    b = rng.standard_normal(4) if bias else None
    y, cache = fft.conv_forward(x, w, b, (3, 3), 1)
    expected, _ = conv_forward(x, w, b, (1, 1), (3, 3), 1)
    assert fft.beyond_the_image((2, 3), (3, 3)) == (2, 1)
    for edge in ((slice(None, 2), slice(None)), (slice(-2, None), slice(None)),
                 (slice(None), slice(None, 1)), (slice(None), slice(-1, None))):
        np.testing.assert_array_equal(y[(Ellipsis,) + edge], expected[(Ellipsis,) + edge])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    dout = np.zeros_like(y)
    dout[:, :, :2] = dout[:, :, :, -1:] = 1.0
    dx, dw, db = fft.conv_backward(dout, cache)
    assert not dx.any() and not dw.any()
    if bias:
        np.testing.assert_array_equal(db, dout.sum(axis=(0, 2, 3)))


@pytest.mark.parametrize("param_grads, input_grad", [(True, True), (False, True), (True, False)])
def test_backward_matches_im2col(param_grads, input_grad):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 6, 9, 8)), rng.standard_normal((4, 3, 5, 5)), rng.standard_normal(4)
    y, cache = conv_forward(x, w, b, (1, 1), (2, 2), 2, relu=True)
    y_fft, cache_fft = fft.conv_forward(x, w, b, (2, 2), 2, relu=True)
    np.testing.assert_allclose(y_fft, y, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(y.shape)
    expected = conv_backward(dout, cache, param_grads, input_grad)
    got = fft.conv_backward(dout, cache_fft, param_grads, input_grad)
    assert_grads_close(got, expected, tolerance=(1e-12, 1e-12))


def test_float32_error_is_im2col_s():
    """A transform's rounding grows with the plane's size, slowly: on conv2 of AlexNet the
    forward's and each gradient's error against float64 stay within 3x im2col's."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 96, 27, 27))
    w = rng.standard_normal((256, 48, 5, 5)) * 0.03
    exact, cache = conv_forward(x, w, None, (1, 1), (2, 2), 2)
    dout = rng.standard_normal(exact.shape)
    exact_grads = conv_backward(dout, cache)[:2]
    x32, w32, dout32 = x.astype(np.float32), w.astype(np.float32), dout.astype(np.float32)
    y_im2col, cache_im2col = conv_forward(x32, w32, None, (1, 1), (2, 2), 2)
    y_fft, cache_fft = fft.conv_forward(x32, w32, None, (2, 2), 2)
    assert y_fft.dtype == np.float32
    error = lambda a, e: np.abs(a - e).max() / np.abs(e).max()
    assert error(y_fft, exact) < 3 * error(y_im2col, exact)
    assert error(y_fft, exact) < 2e-6
    for got, im2col, e in zip(fft.conv_backward(dout32, cache_fft)[:2], conv_backward(dout32, cache_im2col)[:2],
                              exact_grads):
        assert got.dtype == np.float32
        assert error(got, e) < 3 * error(im2col, e)


def conv(c, o, k=5, stride=1, groups=1):
    return Conv2D(c, o, k, stride, padding=k // 2, groups=groups)


def test_where_the_cpu_takes_it():
    """AlexNet's conv2 (48 channels a group) and torchvision's (64) from MIN_IMAGES images on, not
    below; not the small AlexNet's (12 a group: the README's default run is im2col's, bit for bit),
    nor its conv1 (one channel), nor 3x3 windows (Winograd's), nor a stride of 2, nor the kernels'
    path."""
    at_least = fft.MIN_IMAGES
    for layer in (conv(96, 256, groups=2), conv(64, 192)):
        assert layer.algorithm_for((at_least, layer.in_channels, 27, 27)) == "fft"
        assert layer.algorithm_for((at_least - 1, layer.in_channels, 27, 27)) == "im2col"
    assert conv(24, 48, groups=2).algorithm_for((128, 24, 13, 13)) == "im2col"
    assert conv(1, 24).algorithm_for((128, 1, 28, 28)) == "im2col"
    channels = 2 * fft.MIN_CHANNELS
    assert conv(channels, 64, groups=2).algorithm_for((32, channels, 27, 27)) == "fft"
    assert conv(channels - 2, 64, groups=2).algorithm_for((32, channels - 2, 27, 27)) == "im2col"
    assert conv(256, 256, k=4).algorithm_for((32, 256, 27, 27)) == "im2col"   # 16 taps
    assert conv(256, 256, k=3).algorithm_for((32, 256, 13, 13)) == "winograd"
    assert conv(256, 256, stride=2).algorithm_for((32, 256, 27, 27)) == "im2col"
    assert conv(96, 256, groups=2).to("sim").algorithm_for((128, 96, 27, 27)) == "kernels"


def test_the_algorithm_can_be_chosen_on_the_cpu_alone():
    """``algorithm="fft"`` whatever the size, for a stride of 1; refused when the layer is built
    with another stride, and on the kernels' devices when a batch comes."""
    forced = Conv2D(2, 2, 3, algorithm="fft")
    assert forced.algorithm_for((1, 2, 3, 3)) == "fft" and "algorithm='fft'" in repr(forced)
    with pytest.raises(ValueError, match="algorithm='fft' computes convolutions of stride 1.*stride is \\(2, 2\\)"):
        Conv2D(2, 2, 5, stride=2, algorithm="fft")
    on_sim = Conv2D(2, 2, 5, algorithm="fft").to("sim")
    with pytest.raises(ValueError, match="algorithm='fft' runs on the CPU only.*on 'sim' use 'im2col'"):
        on_sim.forward(np.zeros((1, 2, 5, 5), np.float32))


def test_where_alexnet_takes_it():
    """The 2012 AlexNet's and torchvision's conv2 at the CPU benchmark's batches, as the training
    step benchmark reports them."""
    from minicnn import models
    from minicnn.summary import conv_algorithms
    assert conv_algorithms(models.alexnet(), (32, 3, 227, 227))["conv2"] == "fft"
    assert conv_algorithms(models.alexnet_owt(), (64, 3, 224, 224))["features.3"] == "fft"
    assert set(conv_algorithms(models.alexnet_small(), (64, 1, 28, 28)).values()) == {"im2col"}
