"""Winograd's F(2x2, 3x3) (minicnn/layers/winograd.py): the 1-D identity it rests on, each
transform against its adjoint, the layer's forward against a naive loop and its gradients by
finite differences, the backward against im2col's, float32's error, and where the CPU takes it;
then the kernels (kernels/winograd.cu) in each version against the NumPy code, version 2 against
version 1 bit for bit, where version 2 runs, and what it moves in the simulator's count."""
import fractions
import itertools

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from minicnn import Conv2D
from minicnn.gradcheck import check_layer
from minicnn.layers import winograd
from minicnn.layers.conv import conv_backward, conv_forward
from devices import assert_close, assert_grads_close
from reference import conv2d_naive


@pytest.fixture
def small_blocks(monkeypatch):
    """The transforms take the channels 2 at a time (``CHANNEL_BLOCK``), so that blocks split the
    small layers of the tests too."""
    monkeypatch.setattr(winograd, "CHANNEL_BLOCK", 2)


@st.composite
def cases(draw, max_size=9):
    groups = draw(st.integers(1, 3))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    return dict(n=draw(st.integers(1, 3)), c=groups * draw(st.integers(1, 3)), o=groups * draw(st.integers(1, 3)),
                groups=groups, pad=pad, h=draw(st.integers(max(1, 3 - 2 * pad[0]), max_size)),
                w=draw(st.integers(max(1, 3 - 2 * pad[1]), max_size)), bias=draw(st.booleans()),
                relu=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 31)))


def make(case, dtype=np.float64):
    rng = np.random.default_rng(case["seed"])
    layer = Conv2D(case["c"], case["o"], 3, 1, case["pad"], case["groups"], bias=case["bias"], dtype=dtype,
                   rng=rng, relu=case["relu"], algorithm="winograd")
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dtype)
    return layer, x


def test_two_outputs_of_three_taps_take_four_products():
    """y = A^T [(G g) * (B^T d)], the identity behind the algorithm, against the correlation."""
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(4), rng.standard_normal(3)
    products = (np.array(winograd.G) @ g) * (np.array(winograd.B_T) @ d)
    np.testing.assert_allclose(np.array(winograd.A_T) @ products, [d[0:3] @ g, d[1:4] @ g], rtol=1e-14)



def toom_cook(m, r, points):
    """Winograd's F(m, r) built as Toom-Cook's algorithm builds it, in exact fractions: (A^T (m, a),
    G (a, r), B^T (a, a)), a = m + r - 1, for the a - 1 finite ``points`` and infinity. The filter
    and the data are polynomials; G evaluates the filter's at the points (each row divided by the
    product of its point's differences from the others, the Lagrange interpolation's weight), B^T
    turns the data into the values whose products with them interpolate back, and A^T evaluates
    the product polynomial's coefficients into the m outputs. Infinity stands for the leading
    coefficient: the last row of G and B^T, the last column of A^T."""
    p = [fractions.Fraction(x) for x in points]
    a = m + r - 1
    assert len(p) == a - 1

    def product_of(roots):   # the coefficients of prod (x - root), lowest first
        poly = [fractions.Fraction(1)]
        for q in roots:
            poly = [(poly[i - 1] if i else 0) - q * (poly[i] if i < len(poly) else 0) for i in range(len(poly) + 1)]
        return poly

    weights = [np.prod([pi - q for k, q in enumerate(p) if k != i]) for i, pi in enumerate(p)]
    a_t = [[pi ** j for pi in p] + [int(j == m - 1)] for j in range(m)]
    g = [[pi ** j / w for j in range(r)] for pi, w in zip(p, weights)] + [[int(j == r - 1) for j in range(r)]]
    b_t = [product_of(p[:i] + p[i + 1:]) + [0] for i in range(a - 1)] + [product_of(p)]
    return tuple(np.array(matrix, dtype=float) for matrix in (a_t, g, b_t))


def test_the_transforms_are_toom_cooks_over_0_1_minus_1_and_infinity():
    """Lavin and Gray's matrices are Toom-Cook's construction over the points 0, 1, -1 and infinity,
    with the signs of some rows turned: a sign taken from a row of G and B^T alike leaves their
    product unchanged, and one from a row of B^T and a column of A^T the output."""
    a_t, g, b_t = toom_cook(2, 3, [0, 1, -1])
    row_signs_b = np.sign(np.sum(np.array(winograd.B_T) * b_t, axis=1))
    row_signs_g = np.sign(np.sum(np.array(winograd.G) * g, axis=1))
    np.testing.assert_array_equal(np.array(winograd.B_T), row_signs_b[:, None] * b_t)
    np.testing.assert_array_equal(np.array(winograd.G), row_signs_g[:, None] * g)
    np.testing.assert_array_equal(np.array(winograd.A_T), a_t * (row_signs_b * row_signs_g))


@pytest.mark.parametrize("m, r, points", [(2, 3, [0, 1, -1]), (3, 3, [0, 1, -1, 2]), (4, 3, [0, 1, -1, 2, -2]),
                                          (2, 5, [0, 1, -1, 2, -2])])
def test_toom_cook_gives_m_outputs_of_r_taps_in_m_plus_r_minus_1_products(m, r, points):
    """The construction itself, against the correlation, for F(2, 3) and the larger tiles that
    ``minicnn.layers.winograd``'s docstring weighs (F(3, 3), F(4, 3), F(2, 5))."""
    a_t, g, b_t = toom_cook(m, r, points)
    rng = np.random.default_rng(m * r)
    d, taps = rng.standard_normal(m + r - 1), rng.standard_normal(r)
    np.testing.assert_allclose(a_t @ ((g @ taps) * (b_t @ d)), [d[i:i + r] @ taps for i in range(m)],
                               rtol=1e-13, atol=1e-13)

def test_filter_transform_is_g_gt():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 4, 3, 3))
    g = np.array(winograd.G)
    expected = np.einsum("ai,ocij,bj->aboc", g, w, g).reshape(16, 2, 3, 4)
    np.testing.assert_allclose(winograd.filter_transform(w, groups=2), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("pad", [(0, 0), (1, 1), (2, 1)])
@pytest.mark.parametrize("size", [(5, 5), (6, 9)])   # odd and even output sizes
def test_each_transform_and_its_adjoint(pad, size):
    """<T a, b> = <a, T^T b> for the filter, input and output transforms: each backward
    transform is the exact adjoint of its forward one (the dot-product test)."""
    rng = np.random.default_rng(2)
    n, c, o = 3, 4, 6
    out_h, out_w = size[0] + 2 * pad[0] - 2, size[1] + 2 * pad[1] - 2
    tile_counts = winograd.tiles(out_h, out_w)
    w = rng.standard_normal((o, c // 2, 3, 3))
    du = rng.standard_normal((16, 2, o // 2, c // 2))
    assert np.isclose(np.vdot(winograd.filter_transform(w, 2), du), np.vdot(w, winograd.filter_transform_adjoint(du)))
    x = rng.standard_normal((n, c) + size)
    dv = rng.standard_normal((4, 4, c) + tile_counts + (n,))
    assert np.isclose(np.vdot(winograd.input_transform(x, pad, tile_counts), dv),
                      np.vdot(x, winograd.input_transform_adjoint(dv, x.shape, pad)))
    m = rng.standard_normal((4, 4, o) + tile_counts + (n,))
    dy = rng.standard_normal((n, o, out_h, out_w))
    assert np.isclose(np.vdot(winograd.output_transform(m, dy.shape, None, False), dy),
                      np.vdot(m, winograd.output_transform_adjoint(dy, tile_counts)))


@given(cases())
def test_forward_matches_naive_loop(small_blocks, case):
    layer, x = make(case)
    assert layer.algorithm_for(x.shape) == "winograd"
    bias = layer.params["bias"].data if case["bias"] else None
    expected = conv2d_naive(x, layer.params["weight"].data, bias, (1, 1), case["pad"], case["groups"])
    if case["relu"]:
        expected = np.maximum(expected, 0)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


@given(cases(max_size=7))
def test_gradients(small_blocks, case):
    layer, x = make(case)
    assert layer.algorithm_for(x.shape) == "winograd"
    check_layer(layer, x).assert_ok()


@pytest.mark.parametrize("param_grads, input_grad", [(True, True), (False, True), (True, False)])
def test_backward_matches_im2col(param_grads, input_grad):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 6, 7, 8)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    y, cache = conv_forward(x, w, b, (1, 1), (1, 1), 2, relu=True)
    y_winograd, cache_winograd = winograd.conv_forward(x, w, b, (1, 1), 2, relu=True)
    np.testing.assert_allclose(y_winograd, y, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(y.shape)
    expected = conv_backward(dout, cache, param_grads, input_grad)
    got = winograd.conv_backward(dout, cache_winograd, param_grads, input_grad)
    assert_grads_close(got, expected, tolerance=(1e-12, 1e-12))


def test_float32_error_is_im2col_s():
    """The transformed products round differently, by about as much: on conv3's channel counts
    the error against float64 is within 3x im2col's (about 6e-7 of the largest output)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 256, 13, 13))
    w = rng.standard_normal((384, 256, 3, 3)) * 0.03
    exact, _ = conv_forward(x, w, None, (1, 1), (1, 1), 1)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    im2col_error = np.abs(conv_forward(x32, w32, None, (1, 1), (1, 1), 1)[0] - exact).max()
    winograd_error = np.abs(winograd.conv_forward(x32, w32, None, (1, 1), 1)[0] - exact).max()
    assert winograd_error < 3 * im2col_error
    assert winograd_error < 2e-6 * np.abs(exact).max()


def conv(c, o, k=3, stride=1, groups=1, padding=None):
    return Conv2D(c, o, k, stride, padding=k // 2 if padding is None else padding, groups=groups)


def test_where_the_cpu_takes_it():
    """AlexNet's conv3-5 at batch 32 (1568 tiles, 256 and 192 channels a group), not at batch 2
    (98 tiles), nor the small AlexNet's (48 and 36 channels: the README's default run is im2col's,
    bit for bit), nor other kernels and strides, nor the CUDA kernels' path."""
    for layer in (conv(256, 384), conv(384, 384, groups=2), conv(384, 256, groups=2)):
        assert layer.algorithm_for((32, layer.in_channels, 13, 13)) == "winograd"
        assert layer.algorithm_for((2, layer.in_channels, 13, 13)) == "im2col"
    for layer in (conv(48, 72), conv(72, 72, groups=2), conv(72, 48, groups=2)):
        assert layer.algorithm_for((128, layer.in_channels, 6, 6)) == "im2col"
    per_image = 64   # tiles of a 16 x 16 output
    assert winograd.MIN_TILES % per_image == 0
    at_least, channels = winograd.MIN_TILES // per_image, 2 * winograd.MIN_CHANNELS
    assert conv(channels, 64, groups=2).algorithm_for((at_least, channels, 16, 16)) == "winograd"
    assert conv(channels, 64, groups=2).algorithm_for((at_least - 1, channels, 16, 16)) == "im2col"
    assert conv(channels - 2, 64, groups=2).algorithm_for((at_least, channels - 2, 16, 16)) == "im2col"
    # the tiles are the output's: a 16 x 16 output from 18 x 18 pixels unpadded, or 14 x 14 padded by 2
    for padding, side in ((0, 18), (2, 14), ((0, 2), (18, 14))):
        shape = (at_least, channels) + ((side, side) if isinstance(side, int) else side)
        assert conv(channels, 64, groups=2, padding=padding).algorithm_for(shape) == "winograd"
        assert conv(channels, 64, groups=2, padding=padding).algorithm_for((at_least - 1,) + shape[1:]) == "im2col"
    assert conv(256, 256, k=5).algorithm_for((32, 256, 27, 27)) == "fft"   # tests/test_fft.py
    assert conv(256, 256, stride=2).algorithm_for((32, 256, 27, 27)) == "im2col"


def test_where_the_gpu_takes_it():
    """On the kernels ("cuda", "sim" here), "auto" takes Winograd's for AlexNet's conv3 (256
    channels in one group) and not for conv4 and conv5 (192 a group), which an H200 ran slower by
    it; not at batch 2 either, and "im2col" keeps im2col's kernels."""
    on_kernels = lambda *args, **kw: conv(*args, **kw).to("sim")
    assert on_kernels(256, 384).algorithm_for((128, 256, 13, 13)) == "winograd_kernels"
    assert on_kernels(256, 384).algorithm_for((2, 256, 13, 13)) == "kernels"
    for layer in (on_kernels(384, 384, groups=2), on_kernels(384, 256, groups=2)):
        assert layer.algorithm_for((128, layer.in_channels, 13, 13)) == "kernels"
    channels = 2 * winograd.GPU_MIN_CHANNELS
    assert on_kernels(channels, 64, groups=2).algorithm_for((32, channels, 16, 16)) == "winograd_kernels"
    assert on_kernels(channels - 2, 64, groups=2).algorithm_for((32, channels - 2, 16, 16)) == "kernels"
    forced = Conv2D(256, 384, 3, padding=1, algorithm="im2col").to("sim")
    assert forced.algorithm_for((128, 256, 13, 13)) == "kernels"


def test_a_training_step_with_it_keeps_its_algorithm_for_the_backward():
    """The cache says which backward runs, so a layer whose algorithm changes between the forward
    and the backward cannot mix the two."""
    layer, x = make(dict(n=2, c=2, o=2, groups=1, pad=(1, 1), h=5, w=5, bias=True, relu=False, seed=5))
    y = layer.forward(x)
    layer.algorithm = "im2col"
    dx = layer.backward(np.ones_like(y))
    expected = conv_backward(np.ones_like(y), conv_forward(x, layer.params["weight"].data, layer.params["bias"].data,
                                                            (1, 1), (1, 1), 1)[1])[0]
    np.testing.assert_allclose(dx, expected, rtol=1e-12, atol=1e-12)


def test_where_alexnet_takes_it():
    """The 2012 AlexNet's convolutions, as the training step benchmark reports them: on the CPU at
    batch 32, conv3-5 by Winograd's (conv2 by the FFT: tests/test_fft.py; conv1 im2col image by
    image: tests/test_conv.py); on the kernels at batch 128, conv3 alone."""
    from minicnn import models
    from minicnn.summary import conv_algorithms
    model = models.alexnet()
    assert conv_algorithms(model, (32, 3, 227, 227)) == dict(conv1="im2col by image", conv2="fft", conv3="winograd",
                                                             conv4="winograd", conv5="winograd")
    assert conv_algorithms(model.to("sim"), (128, 3, 227, 227)) == dict(
        conv1="kernels", conv2="kernels", conv3="winograd_kernels", conv4="kernels", conv5="kernels")


def test_the_algorithm_can_be_chosen():
    """``algorithm`` "im2col" or "winograd" whatever the size, "auto" by the thresholds, checked
    when the layer is built."""
    layer = conv(256, 384)
    assert layer.algorithm == "auto" and "algorithm" not in repr(layer)
    forced = Conv2D(256, 384, 3, padding=1, algorithm="im2col")
    assert forced.algorithm_for((32, 256, 13, 13)) == "im2col" and "algorithm='im2col'" in repr(forced)
    assert Conv2D(2, 2, 3, algorithm="winograd").algorithm_for((1, 2, 3, 3)) == "winograd"
    with pytest.raises(ValueError, match="one of 'auto', 'im2col', 'winograd', 'fft', got 'direct'"):
        Conv2D(2, 2, 3, algorithm="direct")
    with pytest.raises(ValueError, match="3x3 convolutions of stride 1.*kernel is 5x5"):
        Conv2D(2, 2, 5, algorithm="winograd")
    with pytest.raises(ValueError, match="3x3 convolutions of stride 1.*stride \\(2, 2\\)"):
        Conv2D(2, 2, 3, stride=2, algorithm="winograd")
    assert Conv2D(2, 2, 3, algorithm="winograd").to("sim").algorithm_for((1, 2, 5, 5)) == "winograd_kernels"
    assert conv(256, 256, k=5).to("sim").algorithm_for((32, 256, 13, 13)) == "kernels"


def test_the_towers_keep_the_algorithm():
    from minicnn import models, towers
    model = models.alexnet_small(width=4, lrn_groups=2)
    model["conv4"].algorithm = "winograd"
    split = towers.two_tower(model)
    algorithms = {name: layer.algorithm for name, layer in split.named_leaves() if isinstance(layer, Conv2D)}
    assert {a for name, a in algorithms.items() if "conv4" in name} == {"winograd"}
    assert {a for name, a in algorithms.items() if "conv4" not in name} == {"auto"}


# ---- the kernels (kernels/winograd.cu) ---------------------------------------------------------
KERNEL_CASES = [   # n, c, h, w, o, pad, groups, relu, bias, dtype
    (2, 4, 5, 7, 6, (1, 1), 1, True, True, np.float64),
    (3, 4, 6, 6, 4, (0, 0), 2, False, True, np.float64),
    (1, 2, 3, 3, 2, (0, 0), 1, True, False, np.float64),
    (2, 6, 9, 4, 6, (2, 1), 3, True, True, np.float32),
    (2, 16, 13, 13, 12, (1, 1), 2, True, True, np.float32),   # conv4's shape of map, fewer channels
    (7, 4, 13, 13, 4, (1, 1), 1, True, True, np.float32),     # version 2's groups of 5 images, and one of 2
]


@pytest.mark.parametrize("case", KERNEL_CASES, ids=lambda case: "x".join(map(str, case[:5])))
@pytest.mark.parametrize("param_grads, input_grad", [(True, True), (False, True), (True, False)])
def test_kernels_match_the_numpy_code(kernel_device, winograd_version, case, param_grads, input_grad):
    """Every output and gradient of kernels/winograd.cu's path against the NumPy code's (the
    reference), and float64's against im2col's too; each array the kernels write starts poisoned."""
    from minicnn.backend import to_device
    n, c, h, w, o, pad, groups, relu, bias, dtype = case
    rng = np.random.default_rng(6)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weight, b = rng.standard_normal((o, c // groups, 3, 3)).astype(dtype), rng.standard_normal(o).astype(dtype)
    y, cache = winograd.conv_forward(x, weight, b if bias else None, pad, groups, relu)
    dout = rng.standard_normal(y.shape).astype(dtype)
    expected = winograd.conv_backward(dout, cache, param_grads, input_grad)
    on = lambda a: to_device(a, kernel_device)
    y_kernels, cache_kernels = winograd.conv_forward_cuda(on(x), on(weight), on(b) if bias else None, pad, groups,
                                                          relu)
    got = winograd.conv_backward_cuda(on(dout), cache_kernels, param_grads, input_grad)
    # float32 to the array's scale: an H200's cuBLAS left a near-cancelled weight gradient
    # (-0.0303 among values up to 15) 4e-4 off element-wise, 1e-6 of the scale
    assert_close(y_kernels, y, "y")
    assert_grads_close(got, expected)
    if dtype == np.float64:
        y_im2col, _ = conv_forward(x, weight, b if bias else None, (1, 1), pad, groups, relu)
        assert_close(y_kernels, y_im2col, "y against im2col's")


def test_kernel_gradients(kernel_device, winograd_version):
    rng = np.random.default_rng(7)
    layer = Conv2D(4, 6, 3, padding=1, groups=2, dtype=np.float64, rng=rng, relu=True, algorithm="winograd")
    layer.to(kernel_device)
    assert layer.algorithm_for((2, 4, 5, 6)) == "winograd_kernels"
    from minicnn.backend import to_device
    check_layer(layer, to_device(rng.standard_normal((2, 4, 5, 6)), kernel_device)).assert_ok()


def kernel_results(version, case, device="sim"):
    """({"y", "dx", "weight" and with a bias "bias" (its gradient): NumPy arrays}, the kernels
    launched) of a forward and a backward through version ``version`` of kernels/winograd.cu, for
    a case of ``cases()``; each array the kernels write starts poisoned."""
    from devices import launched_kernels
    from minicnn import kernel_versions
    from minicnn.backend import to_device, to_numpy
    from minicnn.launch import poisoned_outputs
    layer, x = make(case, np.float32)
    dout = np.random.default_rng(case["seed"] + 1).standard_normal(
        (case["n"], case["o"], case["h"] + 2 * case["pad"][0] - 2, case["w"] + 2 * case["pad"][1] - 2))
    out = {}
    with kernel_versions.use("winograd", version), poisoned_outputs():
        layer.to(device)
        launched = launched_kernels(lambda: out.update(
            y=layer.forward(to_device(x, device), train=True),
            dx=layer.backward(to_device(dout.astype(np.float32), device))))
    out.update({name: p.grad for name, p in layer.params.items()})
    return {name: to_numpy(a) for name, a in out.items()}, launched


@given(cases(max_size=14))
# drawn by the thorough profile: outputs of one tile (1 x 1, 1 x 2), whose bias gradient is a column sum
# in both versions
@example(case=dict(n=1, c=1, o=1, groups=1, pad=(0, 0), h=3, w=3, bias=True, relu=False, seed=0))
@example(case=dict(n=1, c=1, o=1, groups=1, pad=(0, 0), h=3, w=4, bias=True, relu=False, seed=0))
def test_version_2_gives_version_1s_results_bit_for_bit(case):
    """Version 2 computes each value of y, dL/dx and dL/dw with version 1's operations in version
    1's order: the same bits (the groups of images, the planes through shared memory and the
    tiles' order changed nothing); the bias gradient, summed by blocks of images, to rounding."""
    ones, launched1 = kernel_results(1, case)
    twos, launched2 = kernel_results(2, case)
    assert sorted(twos) == sorted(ones) == sorted(["y", "dx", "weight"] + ["bias"] * case["bias"])
    for name in ("y", "dx", "weight"):
        np.testing.assert_array_equal(twos[name], ones[name], err_msg=name)
    assert [k for k in launched2 if k.startswith("winograd")] == [
        "winograd_input_v2", "winograd_output_v2", "winograd_output_grad_v2", "winograd_input_grad_v2"]
    if case["bias"]:
        np.testing.assert_allclose(twos["bias"], ones["bias"], rtol=1e-5, atol=1e-5 * np.abs(ones["bias"]).max())
        # version 1 sums the bias gradient over the tiles of the batch by bias.py's kernels, in two steps
        # where there are several (bias_grad_cuda: one is a column sum alone); version 2 as it reads dL/dy
        tile_count = case["n"] * np.prod(winograd.tiles(*ones["y"].shape[2:]))
        assert ("bias_grad_partial_v2" in launched1) == (tile_count > 1) and "bias_grad_partial_v2" not in launched2


def test_version_2_runs_version_1_where_a_plane_does_not_fit(kernel_device):
    """A 40 x 40 map has 20 x 20 tiles: their 4 x 4 input gradients, 6400 values, overflow version
    2's block (PLANE_VALUES), whose input gradient then runs version 1's kernel; the other three
    transforms' planes (42 rows of 42 and 40 rows of 42) fit, and run version 2's. Every output
    as the NumPy code's."""
    from devices import launched_kernels
    from minicnn import kernel_versions
    from minicnn.backend import to_device
    assert winograd.images_per_block(1, 20 * 20, 16 * 20 * 20) == 0
    assert winograd.images_per_block(3, 10, winograd.PLANE_VALUES) == 1   # one image's planes exactly fill it
    assert winograd.images_per_block(3, 10, winograd.PLANE_VALUES + 1) == 0
    rng = np.random.default_rng(8)
    x, w, b = rng.standard_normal((1, 2, 40, 40)), rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2)
    y, cache = winograd.conv_forward(x, w, b, (1, 1), 1)
    dout = rng.standard_normal(y.shape)
    expected = winograd.conv_backward(dout, cache)
    on = lambda a: to_device(a, kernel_device)
    got = {}
    with kernel_versions.use("winograd", 2):
        def run():
            got["y"], cache_kernels = winograd.conv_forward_cuda(on(x), on(w), on(b), (1, 1), 1)
            got["grads"] = winograd.conv_backward_cuda(on(dout), cache_kernels)
        launched = launched_kernels(run)
    assert [k for k in launched if k.startswith("winograd")] == [
        "winograd_input_v2", "winograd_output_v2", "winograd_output_grad_v2", "winograd_input_grad_v1"]
    assert_close(got["y"], y, "y")
    assert_grads_close(got["grads"], expected)


def test_version_2s_shared_memory_is_the_kernels():
    """PLANE_VALUES, what the layer fits version 2's groups of images to, is kernels/winograd.cu's
    WINOGRAD_PLANE_VALUES."""
    import os
    import re
    from minicnn.kernels import KERNEL_DIR
    with open(os.path.join(KERNEL_DIR, "winograd.cu")) as f:
        (values,) = re.findall(r"#define WINOGRAD_PLANE_VALUES (\d+)", f.read())
    assert int(values) == winograd.PLANE_VALUES


def test_version_2_moves_each_value_once():
    """The simulator's traffic count, 64 channels of 13 x 13 in two groups at batch 32 (conv4's map;
    tiles a multiple of 32, as at batch 128): version 2 loads each pixel of x and each value of M
    and of dV once, and stores each of y, Z, dL/dx and its blocks' bias sums once, where version
    1's threads load x's pixels 3.7 times over (each tile its 4 x 4 window's, the windows
    overlapping) and dV's values 4 times (a tile's by the four threads it covers), loads M's and
    y's once and dL/dy's where y > 0 (the ReLU's mask passes), and stores V, y, Z and dL/dx once;
    the warps' loads and stores of V, M, Z and dV are whole sectors but at a group's ends, and
    those of the NCHW planes (x, y, y again for the fused ReLU's mask, dL/dx) each start on a
    sector (for_each_group_pixel), each plane starting anywhere in one: a request for each warp
    with a pixel and no sector moved twice; the tiles' reads of the input's planes take fewer
    passes through the banks (by phase and pitch) than 2 a request."""
    from minicnn import kernel_versions
    from minicnn.simulator import traffic
    rng = np.random.default_rng(9)
    x = rng.standard_normal((32, 64, 13, 13)).astype(np.float32)
    w, b = rng.standard_normal((64, 32, 3, 3)).astype(np.float32), rng.standard_normal(64).astype(np.float32)
    # Version 1's tile (ty, tx) loads the pixels of its 4 x 4 window, rows and columns 2 t - 1 to
    # 2 t + 2, that lie in the image: 3, 4, 4, 4, 4, 4 and 2 along each axis of 13 (7 tiles).
    covered = sum(min(2 * t + 3, 13) - max(2 * t - 1, 0) for t in range(7))
    tile_window_pixels = 32 * 64 * covered ** 2
    logs = {}
    for version in (1, 2):
        with kernel_versions.use("winograd", version), traffic.recording() as logs[version]:
            y, cache = winograd.conv_forward_cuda(x, w, b, (1, 1), 2, True)
            winograd.conv_backward_cuda(rng.standard_normal(y.shape).astype(np.float32), cache)
    (input1,), (output1,) = logs[1].of("winograd_input_v1"), logs[1].of("winograd_output_v1")
    (output_grad1,), (grad1,) = logs[1].of("winograd_output_grad_v1"), logs[1].of("winograd_input_grad_v1")
    assert input1.array("x").loads.bytes == tile_window_pixels * x.itemsize
    assert output1.array("m").loads.bytes == output1.array("m").nbytes and output1.array("y").stores.bytes == y.nbytes
    assert output_grad1.array("y").loads.bytes == y.nbytes
    assert output_grad1.array("dout").loads.bytes == np.count_nonzero(y > 0) * y.itemsize
    assert grad1.array("dv").loads.bytes == 4 * grad1.array("dv").nbytes and grad1.array("dx").stores.bytes == x.nbytes
    for record, name in ((input1, "v"), (output_grad1, "z")):
        assert record.array(name).stores.bytes == record.array(name).nbytes, name
    (input2,) = logs[2].of("winograd_input_v2")
    assert input2.array("x").loads.bytes == x.nbytes
    (output2,) = logs[2].of("winograd_output_v2")
    assert output2.array("y").stores.bytes == y.nbytes and output2.array("m").loads.bytes == output2.array("m").nbytes
    (grad2,) = logs[2].of("winograd_input_grad_v2")
    assert grad2.array("dv").loads.bytes == grad2.array("dv").nbytes
    assert grad2.array("dx").stores.bytes == x.nbytes
    for record, name in ((input2, "v"), (output2, "m"), (grad2, "dv")):
        accesses = record.array(name).stores if name == "v" else record.array(name).loads
        assert accesses.efficiency > 0.9, name
    assert input2.shared_loads.conflict < 2 and input1.loads.moved_bytes > 8 * input2.loads.moved_bytes
    # Shared memory: version 2's input kernel zeroes each image's 16 padded rows of `pitch` values (a
    # whole number of warps' stores) and stores each pixel of x there, a warp's store for each of x's
    # load requests.
    padded_plane = 16 * winograd.phased_pitch(16, 7)
    assert input2.shared_stores.requests == 32 * 64 * padded_plane // 32 + input2.array("x").loads.requests

    def aligned_spans(shape, values):   # the runs of `values` (a sector's 8, a warp's 32) the planes take
        n, c, h, w = shape
        lead = np.arange(n * c) * h * w % 8   # where each plane starts in its sector (8 float32 values)
        return int(np.sum(-(-(lead + h * w) // values)))
    (output_grad2,) = logs[2].of("winograd_output_grad_v2")
    sums = output_grad2.array("bias_sums")   # a block's sum of its masked dL/dy, stored by one thread
    assert sums.stores.bytes == sums.nbytes and output_grad2.array("z").stores.bytes == output_grad2.array("z").nbytes
    for record, name, kind, shape in ((input2, "x", "loads", x.shape), (output_grad2, "y", "loads", y.shape),
                                      (output2, "y", "stores", y.shape), (grad2, "dx", "stores", x.shape)):
        accesses = getattr(record.array(name), kind)
        assert (accesses.sectors, accesses.requests) == (aligned_spans(shape, 8), aligned_spans(shape, 32)), name


def test_combine_takes_only_plus_minus_one():
    out = np.empty(2)
    with pytest.raises(ValueError, match="-1, 0 or 1"):
        winograd.combine((1, 0.5), [np.ones(2), np.ones(2)], out)
    terms = [np.full(2, v) for v in (1., 2., 4., 8.)]
    for coefficients in itertools.product((-1, 0, 1), repeat=4):   # each sign of the first two terms' pass
        if any(coefficients):
            expected = sum(c * t for c, t in zip(coefficients, terms))
            np.testing.assert_array_equal(winograd.combine(coefficients, terms, out), expected)
            accumulated = np.full(2, 16.0)
            winograd.combine(coefficients, terms, accumulated, accumulate=True)
            np.testing.assert_array_equal(accumulated, 16 + expected)


def test_version_2s_row_pitch_puts_two_rows_tiles_w_banks_apart():
    """phased_pitch: the least pitch at or above the width whose two rows span tiles_w banks
    (tiles_w rounded up to even, modulo 32); conv3-5's 16 values a row and 7 tiles: 20."""
    assert winograd.phased_pitch(16, 7) == 20
    for width in range(1, 80):
        for tiles_w in range(1, 70):
            pitch = winograd.phased_pitch(width, tiles_w)
            assert width <= pitch < width + 16 and 2 * pitch % 32 == (tiles_w + tiles_w % 2) % 32
