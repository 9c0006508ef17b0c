"""Conv2D: setup (shapes), forward against a naive loop, gradients, AlexNet settings, bad input."""
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minicnn import Conv2D
from minicnn.gradcheck import check_layer
from minicnn.layers import conv as conv_module
from minicnn.layers.im2col import im2col
from reference import conv2d_naive


@st.composite
def conv_cases(draw, max_size=9):
    groups = draw(st.integers(1, 3))
    cg = draw(st.integers(1, 3))
    og = draw(st.integers(1, 3))
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h = draw(st.integers(max(1, k[0] - 2 * pad[0]), max_size))
    w = draw(st.integers(max(1, k[1] - 2 * pad[1]), max_size))
    n = draw(st.integers(1, 3))
    return dict(n=n, c=groups * cg, o=groups * og, k=k, stride=stride, pad=pad, groups=groups, h=h, w=w,
                bias=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 31)))


def make(case, dtype=np.float64):
    rng = np.random.default_rng(case["seed"])
    layer = Conv2D(case["c"], case["o"], case["k"], case["stride"], case["pad"], case["groups"],
                   bias=case["bias"], dtype=dtype, rng=rng)
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dtype)
    return layer, x


@given(conv_cases())
def test_output_shape_matches_forward_and_formula(case):
    layer, x = make(case)
    y = layer.forward(x)
    (kh, kw), (sh, sw), (ph, pw) = case["k"], case["stride"], case["pad"]
    expected = (case["n"], case["o"], (case["h"] + 2 * ph - kh) // sh + 1, (case["w"] + 2 * pw - kw) // sw + 1)
    assert layer.output_shape(x.shape) == y.shape == expected
    assert layer.params["weight"].shape == (case["o"], case["c"] // case["groups"], kh, kw)


@given(conv_cases())
def test_forward_matches_naive_loop(case):
    layer, x = make(case)
    bias = layer.params["bias"].data if case["bias"] else None
    expected = conv2d_naive(x, layer.params["weight"].data, bias, case["stride"], case["pad"], case["groups"])
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


@given(conv_cases(max_size=7))
def test_gradients(case):
    layer, x = make(case)
    check_layer(layer, x).assert_ok()


@given(conv_cases(max_size=7), st.booleans())
def test_columns_in_either_order(case, batch_last):
    """The CPU's conv orders its columns (oh, ow, n) where ``columns_batch_last`` says so, else
    (n, oh, ow). Forced to each order, for any stride: the naive loop's forward and the central
    differences' gradients."""
    layer, x = make(case)
    with mock.patch.object(conv_module, "columns_batch_last", lambda stride, out_w: batch_last):
        bias = layer.params["bias"].data if case["bias"] else None
        expected = conv2d_naive(x, layer.params["weight"].data, bias, case["stride"], case["pad"], case["groups"])
        np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)
        check_layer(layer, x).assert_ok()


def test_columns_go_batch_last_for_short_rows_at_stride_1():
    """Where the layout pays (conv.py, ``columns_batch_last``): the small AlexNet's conv2-5 (rows of
    13 and 6 values) and the 2012 AlexNet's conv3-5 (13), not its conv2 (27) nor a stride of 4."""
    assert conv_module.columns_batch_last((1, 1), 13) and conv_module.columns_batch_last((1, 1), 6)
    assert conv_module.columns_batch_last((2, 1), 6)   # the stride down H does not cut the runs
    assert not conv_module.columns_batch_last((1, 1), 27) and not conv_module.columns_batch_last((4, 4), 13)
    assert not conv_module.columns_batch_last((1, 2), 6)
    layer = Conv2D(4, 6, 3, padding=1, dtype=np.float64, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((3, 4, 6, 6))
    layer.forward(x)
    np.testing.assert_array_equal(layer._cache[1][2].reshape(36, -1), im2col(x, (3, 3), (1, 1), (1, 1), batch_last=True))


@given(conv_cases(max_size=7), st.booleans(), st.booleans())
def test_columns_image_by_image(case, relu, input_grad):
    """The CPU's conv image by image (``conv_forward_by_image``), forced for any shape: the naive
    loop's forward (through the fused ReLU), the central differences' gradients, and without dL/dx
    (a first layer: the ReLU's mask then taken image by image) the same dw and db as with it."""
    layer, x = make(case)
    layer.relu = relu
    with mock.patch.object(conv_module, "MIN_IMAGE_PIXELS", 1):
        bias = layer.params["bias"].data if case["bias"] else None
        expected = conv2d_naive(x, layer.params["weight"].data, bias, case["stride"], case["pad"], case["groups"])
        np.testing.assert_allclose(layer.forward(x), np.maximum(expected, 0) if relu else expected,
                                   rtol=1e-12, atol=1e-12)
        assert layer._cache[0] == ("im2col by image" if case["n"] >= 2 else "im2col")
        check_layer(layer, x).assert_ok()
        dout = np.random.default_rng(case["seed"]).standard_normal(layer.forward(x).shape)
        with_dx = [layer.backward(dout)] + [p.grad.copy() for p in layer.params.values()]
        layer.input_grad = input_grad
        dx = layer.backward(dout)
        assert (dx is None) == (not input_grad)
        for name, expected_grad in zip(layer.params, with_dx[1:]):
            np.testing.assert_allclose(layer.params[name].grad, expected_grad, rtol=1e-13, atol=1e-13)


def test_columns_image_by_image_for_large_maps(rng):
    """Where it pays (conv.py, ``columns_by_image``): 1024 output pixels an image or more, 2 images
    or more; the 2012 AlexNet's conv1 (55 x 55) and torchvision's, not conv2 (27 x 27). In float32
    at conv1's full size, forward and backward agree with the batch's columns to float32's
    rounding."""
    by_image = lambda n, c, side, k, stride, pad: conv_module.columns_by_image((n, c, side, side), (k, k), (stride,) * 2,
                                                                               (pad,) * 2)
    assert by_image(2, 3, 227, 11, 4, 0) and by_image(64, 3, 224, 11, 4, 2)
    assert by_image(2, 8, 32, 3, 1, 1) and not by_image(2, 8, 31, 3, 1, 1)   # 1024 pixels, 961
    assert not by_image(32, 96, 27, 5, 1, 2) and not by_image(1, 3, 227, 11, 4, 0)
    layer = Conv2D(3, 96, 11, stride=4, rng=rng, relu=True)
    x = rng.standard_normal((3, 3, 227, 227)).astype(np.float32)
    y = layer.forward(x)
    assert layer._cache[0] == layer.algorithm_for(x.shape) == "im2col by image"
    dout = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dout)
    by_image_grads = [dx] + [p.grad.copy() for p in layer.params.values()]
    with mock.patch.object(conv_module, "MIN_IMAGE_PIXELS", 55 * 55 + 1):
        np.testing.assert_allclose(y, layer.forward(x), rtol=0, atol=2e-6 * np.abs(y).max())
        assert layer._cache[0] == "im2col"
        batch_grads = [layer.backward(dout)] + [p.grad for p in layer.params.values()]
    for got, expected in zip(by_image_grads, batch_grads):
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * np.abs(expected).max())


def test_float32_forward_and_backward_agree_with_float64(rng):
    layer64 = Conv2D(4, 6, 3, stride=2, padding=1, groups=2, dtype=np.float64, rng=rng)
    layer32 = Conv2D(4, 6, 3, stride=2, padding=1, groups=2, dtype=np.float32)
    layer32.load_state_dict(layer64.state_dict())
    x = rng.standard_normal((2, 4, 9, 9))
    y64, y32 = layer64.forward(x), layer32.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-5)
    dout = rng.standard_normal(y64.shape)
    dx64, dx32 = layer64.backward(dout), layer32.backward(dout.astype(np.float32))
    assert dx32.dtype == layer32.params["weight"].grad.dtype == np.float32
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer32.params["weight"].grad, layer64.params["weight"].grad, rtol=1e-4, atol=1e-4)


# AlexNet's five convolutions (the paper's section 3.5; minicnn.models.alexnet) with the exact
# kernel, stride, padding and groups, on inputs just large enough to keep the numerical gradient
# cheap.
ALEXNET_CONVS = {
    "conv1 11x11/4": dict(c=3, o=4, k=11, stride=4, pad=0, groups=1, hw=19),
    "conv2 5x5 pad 2 groups 2": dict(c=4, o=4, k=5, stride=1, pad=2, groups=2, hw=6),
    "conv3 3x3 pad 1": dict(c=4, o=6, k=3, stride=1, pad=1, groups=1, hw=5),
    "conv4 3x3 pad 1 groups 2": dict(c=6, o=6, k=3, stride=1, pad=1, groups=2, hw=5),
    "conv5 3x3 pad 1 groups 2": dict(c=6, o=4, k=3, stride=1, pad=1, groups=2, hw=5),
}


@pytest.mark.parametrize("name", ALEXNET_CONVS)
def test_alexnet_settings_forward_and_gradients(name, rng):
    s = ALEXNET_CONVS[name]
    layer = Conv2D(s["c"], s["o"], s["k"], s["stride"], s["pad"], s["groups"], dtype=np.float64, rng=rng)
    x = rng.standard_normal((2, s["c"], s["hw"], s["hw"]))
    w, b = layer.params["weight"].data, layer.params["bias"].data
    expected = conv2d_naive(x, w, b, (s["stride"],) * 2, (s["pad"],) * 2, s["groups"])
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)
    check_layer(layer, x).assert_ok()


def test_alexnet_conv1_full_size_shape():
    layer = Conv2D(3, 96, 11, stride=4)
    assert layer.output_shape((128, 3, 227, 227)) == (128, 96, 55, 55)
    assert layer.num_params() == 34944


def test_groups_are_independent(rng):
    """With groups=2, output channels of group 0 must not depend on input channels of group 1."""
    layer = Conv2D(4, 6, 3, padding=1, groups=2, dtype=np.float64, rng=rng)
    x = rng.standard_normal((1, 4, 5, 5))
    y = layer.forward(x, train=False)
    x2 = x.copy()
    x2[:, 2:] += 10.0
    y2 = layer.forward(x2, train=False)
    np.testing.assert_array_equal(y[:, :3], y2[:, :3])
    assert not np.allclose(y[:, 3:], y2[:, 3:])


@pytest.mark.parametrize("kwargs, message", [
    (dict(in_channels=4, out_channels=6, kernel_size=3, groups=4), "groups=4 must divide"),
    (dict(in_channels=0, out_channels=6, kernel_size=3), "in_channels must be an integer >= 1"),
    (dict(in_channels=3, out_channels=6, kernel_size=0), "kernel_size must be an integer >= 1"),
    (dict(in_channels=3, out_channels=6, kernel_size=3, stride=0), "stride must be"),
    (dict(in_channels=3, out_channels=6, kernel_size=3, padding=-1), "padding must be an integer >= 0"),
    (dict(in_channels=3, out_channels=6, kernel_size=3, dtype=np.int32), "dtype must be float32 or float64"),
    (dict(in_channels=3, out_channels=6, kernel_size=(3, 3, 3)), r"kernel_size must be an int or a pair of ints, got \(3, 3, 3\)"),
    (dict(in_channels=3, out_channels=6, kernel_size=3, stride=[2]), r"stride must be an int or a pair of ints, got \[2\]"),
    (dict(in_channels=3, out_channels=6, kernel_size=(3, 0)), "kernel_size must be an integer >= 1, got 0"),
])
def test_bad_construction(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Conv2D(**kwargs)


def test_bad_inputs_name_the_layer_and_the_shapes():
    layer = Conv2D(3, 8, 5)
    with pytest.raises(ValueError, match=r"Conv2D\(3, 8, kernel_size=5x5\): expected input of shape \(N, 3, H, W\), got \(2, 4, 9, 9\)"):
        layer.forward(np.zeros((2, 4, 9, 9), np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\), a 4-D array, got shape \(3, 9, 9\)"):
        layer.forward(np.zeros((3, 9, 9), np.float32))
    with pytest.raises(ValueError, match=r"kernel 5x5 is larger than the padded input 4x4"):
        layer.forward(np.zeros((1, 3, 4, 4), np.float32))
    padded = Conv2D(3, 8, 5, padding=1)
    with pytest.raises(ValueError, match=r"kernel 5x5 is larger than the padded input 4x5 \(input \(1, 3, 2, 3\)\)"):
        padded.forward(np.zeros((1, 3, 2, 3), np.float32))
    assert padded.forward(np.zeros((1, 3, 3, 3), np.float32)).shape == (1, 8, 1, 1)   # a kernel as large fits
    with pytest.raises(TypeError, match=r"input must be float32 or float64, got dtype int64"):
        layer.forward(np.zeros((1, 3, 9, 9), np.int64))
    with pytest.raises(TypeError, match=r"input dtype must be float32 like the layer's parameters, got float64"):
        layer.forward(np.zeros((1, 3, 9, 9), np.float64))


# --- the CUDA kernels (kernels/im2col.cu + GEMM + kernels/bias.cu), simulator and GPU ----------
from devices import compare_with_cpu, launched_kernels  # noqa: E402
from minicnn.backend import to_device, to_numpy  # noqa: E402
from minicnn.gemm import use_gemm  # noqa: E402


@given(conv_cases(), st.sampled_from([np.float32, np.float64]), st.sampled_from(["cublas", "tiled"]))
def test_kernel_matches_cpu(kernel_device, im2col_version, case, dtype, gemm):
    layer, x = make(case, dtype)
    with use_gemm(gemm):
        compare_with_cpu(layer, x, kernel_device)


# AlexNet's five convolutions (the paper's section 3.5; minicnn.models.alexnet): in, out, kernel, stride, pad, groups,
# input size. Under the simulator at batch 1: one image already takes every kernel through every
# band, tile and plane of the exact shapes and to the ends of its arrays, and the crossing from one
# image to the next is in test_kernel_matches_cpu's batches of up to 3. At batch 2 these 25 cases
# took about 5 minutes of the main suite on CI's 2 cores, beside the sanitized suites (71 s alone
# at batch 1); the AddressSanitizer run of every kernel test always took them at batch 1. On a
# GPU, batch 2.
def alexnet_batch(device):
    return 2 if device == "cuda" else 1


ALEXNET_FULL_CONVS = {
    "conv1": (3, 96, 11, 4, 0, 1, 227),
    "conv2": (96, 256, 5, 1, 2, 2, 27),
    "conv3": (256, 384, 3, 1, 1, 1, 13),
    "conv4": (384, 384, 3, 1, 1, 2, 13),
    "conv5": (384, 256, 3, 1, 1, 2, 13),
}


@pytest.mark.parametrize("name", list(ALEXNET_FULL_CONVS))
def test_kernel_alexnet_shapes(kernel_device, im2col_version, name):
    c, o, k, s, p, g, size = ALEXNET_FULL_CONVS[name]
    rng = np.random.default_rng(len(name))
    layer = Conv2D(c, o, k, s, p, g, dtype=np.float32, rng=rng)
    x = rng.standard_normal((alexnet_batch(kernel_device), c, size, size)).astype(np.float32)
    compare_with_cpu(layer, x, kernel_device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_fused_relu_matches_cpu(kernel_device, im2col_version, bias_version, dtype):
    """Conv2D(relu=True): the bias and ReLU in the layout kernels, both ways, in every version (the
    backward's layout kernels of im2col.cu run with the bias gradient's versions 1 and 2; version 3
    moves dL/dy in its own kernel)."""
    rng = np.random.default_rng(7)
    layer = Conv2D(4, 6, 3, padding=1, groups=2, dtype=dtype, rng=rng, relu=True)
    compare_with_cpu(layer, rng.standard_normal((3, 4, 9, 7)).astype(dtype), kernel_device)


@pytest.mark.parametrize("size,relu,bias", [(7, True, True), (13, False, True), (40, True, False), (40, False, False)])
def test_layout_kernels_version_7_give_version_2s_bits(kernel_device, size, relu, bias):
    """im2col's version 7 rewrote the layout kernels with four pixels a thread, all loaded before any
    is stored: y, dL/dx, dL/dw and dL/db are version 2's bit for bit on planes of 49, 169 and 1600
    pixels (a tile of one warp, 13 of its threads busy; one of 64; two of 256, the second partial), with
    the fused ReLU and without, with the bias gradient's version 2 so that the backward launches
    im2col.cu's nchw_to_gemm_relu or nchw_to_gemm."""
    from minicnn import kernel_versions
    from minicnn.layers.conv import conv_backward_cuda, conv_forward_cuda
    rng = np.random.default_rng(size)
    x, w = rng.standard_normal((3, 4, size, size)), rng.standard_normal((6, 2, 3, 3))
    b = rng.standard_normal(6) if bias else None
    dout = rng.standard_normal((3, 6, size, size))
    results, kernels = {}, {}
    for version in (2, 7):
        with kernel_versions.use("im2col", version), kernel_versions.use("bias", 2):
            def run():
                bias_on_device = None if b is None else to_device(b, kernel_device)
                y, cache = conv_forward_cuda(to_device(x, kernel_device), to_device(w, kernel_device), bias_on_device,
                                             (1, 1), (1, 1), 2, relu)
                return [y, *conv_backward_cuda(to_device(dout, kernel_device), cache)]
            kernels[version] = launched_kernels(lambda: results.__setitem__(version, run()))
    layout = ["gemm_to_nchw_bias", "nchw_to_gemm_relu" if relu else "nchw_to_gemm"]
    for version in (2, 7):
        assert [name for name in kernels[version] if name.rsplit("_v", 1)[0] in layout] == [
            f"{name}_v{version}" for name in layout]
    for mine, theirs in zip(results[7], results[2]):
        if theirs is not None:
            np.testing.assert_array_equal(to_numpy(mine), to_numpy(theirs))


@pytest.mark.parametrize("size", [7, 13, 40])
def test_layout_kernels_version_7_move_each_value_once(size):
    """In the simulator's traffic count (conv 4 -> 6 channels, 3x3, batch 3, float32, the fused ReLU,
    the bias gradient's version 2), version 7's layout kernels load each value of the GEMM's output,
    of dL/dy and of y (the ReLU's mask) once and store each of y and of the GEMM layout's dL/dy once,
    on planes of 49, 169 and 1600 pixels: no thread loads past its plane's end, where the tiles of
    4 x blockDim pixels run past it."""
    from minicnn import kernel_versions
    from minicnn.layers.conv import conv_backward_cuda, conv_forward_cuda
    from minicnn.simulator import traffic
    rng = np.random.default_rng(size)
    x, w, b = (rng.standard_normal(shape).astype(np.float32) for shape in ((3, 4, size, size), (6, 2, 3, 3), (6,)))
    with kernel_versions.use("im2col", 7), kernel_versions.use("bias", 2), traffic.recording() as log:
        y, cache = conv_forward_cuda(x, w, b, (1, 1), (1, 1), 2, True)
        conv_backward_cuda(rng.standard_normal(y.shape).astype(np.float32), cache)
    (forward,), (backward,) = log.of("gemm_to_nchw_bias_v7"), log.of("nchw_to_gemm_relu_v7")
    for record, loaded, stored in ((forward, ("gemm_out",), "y"), (backward, ("dout", "y"), "gemm")):
        for name in loaded:
            assert record.array(name).loads.bytes == y.nbytes, (record.kernel, name)
        assert record.array(stored).stores.bytes == y.nbytes, record.kernel


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_bias_add_along_the_middle_axis(kernel_device, relu, dtype):
    """bias_add (kernels/bias.cu) on any (outer, channels, inner) view, where Dense gives it
    inner = 1: y[o, c, s] + bias[c], then max(., 0) with relu, against NumPy's broadcast."""
    from minicnn.layers.bias import bias_add_cuda
    rng = np.random.default_rng(11)
    y, bias = rng.standard_normal((3, 5, 7)).astype(dtype), rng.standard_normal(5).astype(dtype)
    expected = y + bias[:, None]
    if relu:
        expected = np.maximum(expected, dtype(0))
    got = to_device(y, kernel_device)
    bias_add_cuda(got, to_device(bias, kernel_device), 3, 5, 7, relu)
    np.testing.assert_array_equal(to_numpy(got), expected)


@pytest.mark.parametrize("version", [1, 2])   # version 3 sums in Conv2D's layout kernel (below)
@pytest.mark.parametrize("chunk", [7, 64, 8192])
@pytest.mark.parametrize("outer", [1, 3])
def test_kernel_bias_gradient(kernel_device, monkeypatch, version, chunk, outer):
    """The bias gradient reductions (kernels/bias.cu) against NumPy's sum in float64; small chunks
    make version 2 add up many partial sums, with a short last chunk."""
    from minicnn import kernel_versions
    from minicnn.layers import bias as bias_module
    monkeypatch.setattr(bias_module, "BIAS_GRAD_CHUNK", chunk)
    dout = np.random.default_rng(chunk).standard_normal((outer, 5, 150))
    with kernel_versions.use("bias", version):
        got = bias_module.bias_grad_cuda(to_device(dout, kernel_device), outer, 5, 150)
    np.testing.assert_allclose(to_numpy(got), dout.sum(axis=(0, 2)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("one_block", [False, True])
@pytest.mark.parametrize("rows,channels", [(1, 1), (64, 31), (65, 33), (200, 100)])
def test_column_sums_add_each_column_from_the_first_row_to_the_last(kernel_device, monkeypatch, rows, channels,
                                                                      one_block):
    """bias_grad_columns (Dense's bias gradient; the conv's versions 2 to 5 add their partial sums
    with it): each column summed from 0, row after row, whatever its strip of 32 channels and its
    chunk of 64 rows, the same bits as that sum taken in NumPy one row at a time (float32, where
    the order shows); one block for every strip in turn, too. The kernel's rows assume blocks of
    COLUMN_SUM_WARPS warps: its define and the launch's agree."""
    import os
    from minicnn.kernels import KERNEL_DIR
    from minicnn.layers import bias as bias_module
    with open(os.path.join(KERNEL_DIR, "bias.cu")) as f:
        assert f"#define COLUMN_SUM_WARPS {bias_module.COLUMN_SUM_WARPS}\n" in f.read()
    if one_block:
        monkeypatch.setattr(bias_module, "grid_for", lambda n, like, block=256: 1)
    dout = (np.random.default_rng(rows).standard_normal((rows, channels)) * 100).astype(np.float32)
    expected = np.zeros(channels, np.float32)
    for row in dout:
        expected += row
    got = bias_module.bias_grad_cuda(to_device(dout, kernel_device), rows, channels, 1)
    np.testing.assert_array_equal(to_numpy(got), expected)


@pytest.mark.parametrize("version", [3, 4, 5])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("size", [7, 40])   # planes of 49 and 1600 pixels: a block's threads take 1 to 7 each
def test_kernel_bias_gradient_summed_while_the_backward_moves_dout(kernel_device, version, relu, size):
    """Bias versions 3 to 5: the conv backward's layout kernel sums each plane of dL/dy (masked by
    the fused ReLU) as it copies it (version 4 by warp shuffles, version 5 a warp per plane: 18
    planes here, the last block's warps 3 to 8 without one); the copy, and so dx and dW, are
    version 2's bit for bit, and the bias gradient is NumPy's sum in float64 to rounding."""
    from minicnn import kernel_versions
    from minicnn.layers.conv import conv_backward_cuda, conv_forward_cuda
    rng = np.random.default_rng(size)
    x, w, b = rng.standard_normal((3, 4, size, size)), rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)
    x, w, b = (to_device(a, kernel_device) for a in (x, w, b))
    y, cache = conv_forward_cuda(x, w, b, (1, 1), (1, 1), 2, relu)
    dout = to_device(rng.standard_normal(y.shape), kernel_device)
    grads = {}
    for v in (2, version):
        with kernel_versions.use("bias", v):
            grads[v] = [to_numpy(g) for g in conv_backward_cuda(dout, cache)]
    for name, old, new in zip(("dx", "dw"), grads[2], grads[version]):
        np.testing.assert_array_equal(new, old, err_msg=name)
    masked = to_numpy(dout) * (to_numpy(y) > 0) if relu else to_numpy(dout)
    np.testing.assert_allclose(grads[version][2], masked.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)
    with kernel_versions.use("bias", version):   # no bias gradient asked for: the plain layout kernel
        assert conv_backward_cuda(dout, cache, param_grads=False)[2] is None


def bias_versions_traffic(versions, size, seed, input_grad=True):
    """The simulator's traffic log of a conv backward (4 -> 6 channels, 3x3, size x size pixels,
    batch 3, float32, the fused ReLU) in each of the bias gradient's ``versions``: ({version: the
    launches}, y, dout, the backward's results by version)."""
    from minicnn import kernel_versions
    from minicnn.layers.conv import conv_backward_cuda, conv_forward_cuda
    from minicnn.simulator import traffic
    rng = np.random.default_rng(seed)
    x, w, b = (rng.standard_normal(shape).astype(np.float32) for shape in ((3, 4, size, size), (6, 2, 3, 3), (6,)))
    y, cache = conv_forward_cuda(x, w, b, (1, 1), (1, 1), 2, True)
    dout = rng.standard_normal(y.shape).astype(np.float32)
    logs, grads = {}, {}
    for version in versions:
        with kernel_versions.use("bias", version), traffic.recording() as log:
            grads[version] = conv_backward_cuda(dout, cache, input_grad=input_grad)
        logs[version] = list(log)
    return logs, y, dout, grads


def test_bias_gradient_version_3_reads_dout_once():
    """In the simulator's traffic count (conv 4 -> 6 channels, 3x3, 40 x 40 pixels, batch 3):
    version 2's bias gradient reads the GEMM-layout copy of dL/dy that the layout kernel wrote,
    version 3 sums as it copies, and reads only its partial sums again."""
    logs, _, dout, _ = bias_versions_traffic((2, 3), 40, 3)
    logs = {v: [t for t in log if not t.kernel.startswith("col2im")] for v, log in logs.items()}
    assert [t.kernel for t in logs[2]] == ["nchw_to_gemm_relu_v2", "bias_grad_partial_v2", "bias_grad_columns"]
    assert [t.kernel for t in logs[3]] == ["nchw_to_gemm_bias_grad_v3", "bias_grad_columns"]
    assert logs[3][0].loads.moved_bytes == logs[2][0].loads.moved_bytes   # the copy reads what it did
    assert logs[2][1].loads.moved_bytes == dout.nbytes                    # version 2 reads it all again
    moved = {v: sum(t.loads.moved_bytes + t.stores.moved_bytes for t in log) for v, log in logs.items()}
    assert moved[2] - moved[3] > 0.99 * dout.nbytes    # less the partial sums (18 here), a sector each
    copy = logs[3][0].array("gemm").stores
    assert copy.efficiency == 1.0 and copy.moved_bytes == dout.nbytes   # whole sectors (aligned_start)


@pytest.mark.parametrize("size", [13, 12])
def test_bias_gradient_version_5_gives_each_plane_a_warp(size):
    """Version 5's layout kernel: eight planes a block of 256 threads (18 planes: 3 blocks), the
    same stores as version 3's, request for request (each warp's start on a 128-byte line, as
    version 3's blocks' do), the same loads of the ReLU's output, every value of dL/dy loaded once,
    the mask or not (version 3 loads only those the mask keeps: a second trip after y's), and no
    shared memory at all. Planes of 12 x 12 = 144 values end plane 1 on a 128-byte line, where a
    warp whose values all lie past the plane makes no request (its clamped loads would ask for the
    plane's last value again)."""
    from minicnn.simulator import traffic
    logs, _, dout, _ = bias_versions_traffic((3, 5), size, 5, input_grad=False)
    v3, v5 = ([t for t in logs[v] if t.kernel.startswith("nchw_to_gemm_bias_grad")][0] for v in (3, 5))
    assert v5.kernel == "nchw_to_gemm_bias_grad_v5" and (v5.grid, v5.block) == ((3, 1, 1), (256, 1, 1))
    assert v5.array("gemm").stores == v3.array("gemm").stores and v5.array("y").loads == v3.array("y").loads
    assert v5.array("dout").loads.bytes == dout.nbytes > v3.array("dout").loads.bytes
    assert v5.shared_loads == v5.shared_stores == traffic.NO_SHARED_ACCESS


def test_bias_gradient_version_4_sums_by_warp_shuffles():
    """Version 4's layout kernel moves what version 3's does, request for request, and takes each
    plane's sum through shared memory in 9 loads and 9 stores a block (the warps' sums stored and
    read back by warp 0, the total stored and read by every warp), where version 3's tree takes 32
    and 20; the sums are NumPy's to float32 rounding."""
    logs, y, dout, grads = bias_versions_traffic((3, 4), 13, 4, input_grad=False)
    v3, v4 = ([t for t in logs[v] if t.kernel.startswith("nchw_to_gemm_bias_grad")][0] for v in (3, 4))
    assert (v3.kernel, v4.kernel) == ("nchw_to_gemm_bias_grad_v3", "nchw_to_gemm_bias_grad_v4")
    assert v4.arrays == v3.arrays                                 # the same global traffic
    blocks = 6 * 3
    assert (v3.shared_loads.requests, v3.shared_stores.requests) == (32 * blocks, 20 * blocks)
    assert (v4.shared_loads.requests, v4.shared_stores.requests) == (9 * blocks, 9 * blocks)
    np.testing.assert_array_equal(grads[4][1], grads[3][1])        # dW from the same copy
    masked = (dout * (y > 0)).astype(np.float64)
    np.testing.assert_allclose(grads[4][2], masked.sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
