"""MaxPool2D: shapes, forward and argmax against a naive loop, overlapping-window gradients."""
import os
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minicnn import MaxPool2D, kernel_versions
from minicnn.gradcheck import check_layer
from minicnn.layers import maxpool
from minicnn.layers.im2col import pad_spatial, sliding_windows
from inputs import distinct_values, pool_cases
from reference import maxpool_backward_naive, maxpool_naive


@given(pool_cases())
def test_forward_and_backward_match_naive_loop(case):
    rng = np.random.default_rng(case["seed"])
    x = distinct_values(rng, case["shape"])
    layer = MaxPool2D(case["k"], case["stride"], case["pad"])
    y = layer.forward(x)
    expected, winners = maxpool_naive(x, case["k"], case["stride"], case["pad"])
    assert layer.output_shape(x.shape) == y.shape == expected.shape
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(layer.forward(x, train=False), expected)   # evaluation's loop, no winners
    layer.forward(x)
    dout = rng.standard_normal(y.shape)
    np.testing.assert_allclose(layer.backward(dout), maxpool_backward_naive(dout, x.shape, winners),
                               rtol=1e-13, atol=1e-13)


# window_pixels reads the windows from the image's stride phases where output rows hold
# PHASED_ROW values or more, else through strided views: each test below runs both ways
BOTH_WAYS = pytest.mark.parametrize("phased_row", [1, 10 ** 6], ids=["phases", "strided-views"])


@BOTH_WAYS
@given(case=pool_cases(), dtype=st.sampled_from([np.float32, np.float64]))
def test_ties_go_to_the_first_maximum_as_in_the_naive_loop(phased_row, case, dtype):
    """Values of 0, 1 and 2 (after a ReLU many windows tie at 0): each dout still goes to the
    first maximum of its window in row-major order, whichever stride phase that pixel lies in."""
    rng = np.random.default_rng(case["seed"])
    x = rng.integers(0, 3, case["shape"]).astype(dtype)
    layer = MaxPool2D(case["k"], case["stride"], case["pad"])
    expected, winners = maxpool_naive(x, case["k"], case["stride"], case["pad"])
    dout = rng.integers(-8, 9, expected.shape).astype(dtype)   # integers: every sum is exact
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(maxpool, "PHASED_ROW", phased_row)
        np.testing.assert_array_equal(layer.forward(x), expected)
        dx = layer.backward(dout)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, maxpool_backward_naive(dout, x.shape, winners))


@BOTH_WAYS
@given(case=pool_cases())
def test_window_pixels_are_the_sliding_windows(phased_row, case):
    """Every offset's view holds sliding_windows's pixels; from the phases, with unit steps
    along a row (the point of them)."""
    x = np.random.default_rng(case["seed"]).standard_normal(case["shape"])
    (kh, kw), padded = case["k"], pad_spatial(x, case["pad"], value=-np.inf)
    win = sliding_windows(padded, case["k"], case["stride"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(maxpool, "PHASED_ROW", phased_row)
        pixels = maxpool.window_pixels(padded, case["k"], case["stride"])
    assert len(pixels) == kh * kw
    for offset, pixel in enumerate(pixels):
        np.testing.assert_array_equal(pixel, win[:, :, offset // kw, offset % kw])
        if phased_row == 1 and pixel.shape[3] > 1:   # (a row of one value has any stride)
            assert pixel.strides[3] == pixel.itemsize


def test_alexnet_pools_read_phases_where_rows_are_long(rng):
    """pool1's and pool2's rows of 27 and 13 outputs read the phases, pool5's of 6 the strided
    views (PHASED_ROW, measured); the training forward keeps a byte per output for the backward,
    not the image, and evaluation keeps nothing."""
    for size, phased in ((55, True), (27, True), (13, False)):
        x = rng.standard_normal((2, 3, size, size)).astype(np.float32)
        pixels = maxpool.window_pixels(x, (3, 3), (2, 2))
        assert (pixels[1].strides[3] == 4) == phased and np.shares_memory(pixels[0], x) != phased
        y, (winner, *_) = maxpool.maxpool_forward(x, (3, 3), (2, 2), (0, 0))
        assert winner.dtype == np.uint8 and winner.shape == y.shape
        assert maxpool.maxpool_forward(x, (3, 3), (2, 2), (0, 0), train=False)[1] is None


@given(pool_cases())
def test_gradients(case):
    x = distinct_values(np.random.default_rng(case["seed"]), case["shape"])
    check_layer(MaxPool2D(case["k"], case["stride"], case["pad"]), x).assert_ok()


def test_alexnet_overlapping_pool_gradients_add_up(rng):
    """3x3 stride 2: a pixel shared by overlapping windows that it wins gets the sum of their douts."""
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0  # the centre pixel lies in all four 3x3/2 windows and wins each
    layer = MaxPool2D(3, stride=2)
    y = layer.forward(x)
    assert y.shape == (1, 1, 2, 2) and (y == 1).all()
    dx = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert dx[0, 0, 2, 2] == 10.0 and dx.sum() == 10.0


def test_alexnet_pool_shapes_and_gradients(rng):
    layer = MaxPool2D(3, stride=2)
    assert layer.output_shape((128, 96, 55, 55)) == (128, 96, 27, 27)
    assert layer.output_shape((128, 256, 27, 27)) == (128, 256, 13, 13)
    assert layer.output_shape((128, 256, 13, 13)) == (128, 256, 6, 6)
    check_layer(layer, distinct_values(rng, (2, 3, 13, 13))).assert_ok()


def test_ties_go_to_the_first_maximum():
    x = np.ones((1, 1, 2, 2))
    layer = MaxPool2D(2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1)))[0, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("k", [16, 17])
def test_windows_of_more_than_256_pixels(rng, k):
    """Global pooling over a 17x17 map: window offsets past 255 (the winners' uint8 limit) still
    route the gradient to the first maximum, here tied with a later one."""
    x = rng.standard_normal((2, 3, k, k))
    x[:, :, k - 1, k - 2] = x[:, :, k - 1, k - 1] = 10.0   # a tie in the last row, near offset 288
    layer = MaxPool2D(k)
    dout = rng.standard_normal((2, 3, 1, 1))
    np.testing.assert_array_equal(layer.forward(x), 10.0)
    expected, winners = maxpool_naive(x, (k, k), (k, k), (0, 0))
    np.testing.assert_array_equal(layer.backward(dout), maxpool_backward_naive(dout, x.shape, winners))
    assert (layer.backward(dout)[:, :, k - 1, k - 2] == dout[:, :, 0, 0]).all()


def test_float32_keeps_dtype(rng):
    y = MaxPool2D(3, 2).forward(rng.standard_normal((2, 3, 7, 7)).astype(np.float32))
    assert y.dtype == np.float32


def test_bad_input():
    with pytest.raises(ValueError, match=r"MaxPool2D\(kernel_size=3x3, stride=2\): window 3x3 is larger than the padded input 2x2"):
        MaxPool2D(3, 2).forward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"window 3x3 is larger than the padded input 7x2 \(input \(1, 1, 7, 2\)\)"):
        MaxPool2D(3, 2).forward(np.zeros((1, 1, 7, 2)))   # too narrow, tall enough
    with pytest.raises(ValueError, match="padding"):
        MaxPool2D(2, padding=2)
    with pytest.raises(ValueError, match=r"a 4-D array, got shape \(4, 4\)"):
        MaxPool2D(2).forward(np.zeros((4, 4)))


# --- the CUDA kernels (kernels/maxpool.cu), under the simulator and on a GPU -------------------
from devices import backward_traffic, compare_with_cpu, launched_in_a_step, launched_kernels  # noqa: E402
from minicnn.backend import to_device, to_numpy  # noqa: E402
from minicnn.layers.maxpool import maxpool_forward_cuda  # noqa: E402


@given(pool_cases(), st.sampled_from([np.float32, np.float64]))
def test_kernel_matches_cpu(kernel_device, maxpool_version, case, dtype):
    x = distinct_values(np.random.default_rng(case["seed"]), case["shape"]).astype(dtype)
    compare_with_cpu(MaxPool2D(case["k"], case["stride"], case["pad"]), x, kernel_device)


def test_kernel_argmax_is_the_first_maximum(kernel_device, maxpool_version):
    x = np.zeros((1, 2, 5, 5))          # every window is a tie: the winner is its first pixel
    x[0, 1] = np.arange(25).reshape(5, 5) % 3
    y, (_, _, argmax, *_) = maxpool_forward_cuda(to_device(x, kernel_device), (3, 3), (2, 2), (0, 0))
    _, winners = maxpool_naive(x, (3, 3), (2, 2), (0, 0))
    expected = np.zeros(y.shape, np.int32)
    for index, (h, w) in winners.items():  # (n, c, oh, ow) -> winner's (row, column)
        expected[index] = h * 5 + w
    np.testing.assert_array_equal(to_numpy(argmax), expected)


def test_each_version_launches_the_kernels_its_registry_names(maxpool_version):
    """On AlexNet's overlapping windows, a version's forward and backward launch the kernels that
    ``kernel_versions.kernel_name`` names for it (its own rewrites, else those of the version it
    builds on: version 6's forward is version 2's), which the benchmarks' tests go by."""
    layer = MaxPool2D(3, stride=2).to("sim")
    x = to_device(np.random.default_rng(0).standard_normal((1, 8, 13, 13)).astype(np.float32), "sim")
    assert launched_in_a_step(layer, x) == [kernel_versions.kernel_name("maxpool", kernel, maxpool_version)
                                            for kernel in ("maxpool_forward", "maxpool_backward")]


@pytest.mark.parametrize("channels,size", [(96, 55), (256, 27), (256, 13)])  # pool1, pool2, pool5
def test_kernel_alexnet_shapes(kernel_device, maxpool_version, channels, size):
    x = np.random.default_rng(size).standard_normal((2, channels, size, size)).astype(np.float32)
    compare_with_cpu(MaxPool2D(3, stride=2), x, kernel_device)


@given(pool_cases(), st.integers(0, 3), st.sampled_from([np.float32, np.float64]))
def test_kernel_version_3_in_bands_on_any_pooling(kernel_device, monkeypatch, case, extra_rows, dtype):
    """Version 3's forward takes its output rows in bands whose input rows fit in POOL_BAND_TILE
    values (kernels/maxpool.cuh, shared with the fused LRN+max-pool's): a tile of one window's rows
    and up to 3 more makes several bands of these small images, with their edges, padding and
    overlapping rows, and the results stay the CPU's."""
    from minicnn import kernel_versions
    from minicnn.layers import maxpool
    monkeypatch.setattr(maxpool, "POOL_BAND_TILE", (case["k"][0] + extra_rows) * case["shape"][3])
    x = distinct_values(np.random.default_rng(case["seed"]), case["shape"]).astype(dtype)
    layer = MaxPool2D(case["k"], case["stride"], case["pad"])
    assert maxpool.band_rows(x.shape[2], x.shape[3], layer.output_shape(x.shape)[2], case["k"][0],
                             case["stride"][0]) >= 1
    with kernel_versions.use("maxpool", 3):
        compare_with_cpu(layer, x, kernel_device)


@given(pool_cases(), st.integers(0, 3), st.sampled_from([np.float32, np.float64]))
def test_kernel_version_4_backward_in_bands_on_any_pooling(kernel_device, monkeypatch, case, extra_rows, dtype):
    """Version 4's backward takes the input rows in bands whose windows' output rows fit in
    POOL_BAND_TILE values: a tile of the rows one input row's windows need and up to 3 more makes
    several bands of these small images, and dx is version 2's bit for bit (and the CPU's)."""
    from minicnn.layers import maxpool
    (kh, _), (sh, _) = case["k"], case["stride"]
    layer = MaxPool2D(case["k"], case["stride"], case["pad"])
    x = distinct_values(np.random.default_rng(case["seed"]), case["shape"]).astype(dtype)
    _, _, oh, ow = layer.output_shape(x.shape)
    monkeypatch.setattr(maxpool, "POOL_BAND_TILE", ((kh - 1) // sh + 1 + extra_rows) * ow)
    assert 1 <= maxpool.backward_band_rows(x.shape[2], oh, ow, kh, sh)
    dout = np.random.default_rng(1).standard_normal((x.shape[0], x.shape[1], oh, ow)).astype(dtype)
    dx = {}
    for version in (2, 4):
        with kernel_versions.use("maxpool", version):
            device_layer = compare_with_cpu(layer, x, kernel_device)
            device_layer.forward(to_device(x, kernel_device))
            names = launched_kernels(lambda: dx.__setitem__(version, to_numpy(device_layer.backward(
                to_device(dout, kernel_device)))))
        assert names == [f"maxpool_backward_v{version}"]
    np.testing.assert_array_equal(dx[4], dx[2])


@given(pool_cases(), st.integers(0, 3), st.sampled_from([np.float32, np.float64]))
def test_kernel_version_5_phased_bands_are_version_3_bit_for_bit(kernel_device, monkeypatch, case, extra_rows,
                                                                   dtype):
    """Version 5's forward keeps each band row's even columns apart from its odd ones (a stride of 2
    both ways): in bands of one window's rows and up to 3 more, at band_pitch's values a row, y and
    the argmax are version 3's bit for bit, on values with many ties (the first maximum wins); with
    a stride of 3 across, version 5 runs version 3's kernel."""
    from minicnn.layers import maxpool
    case = dict(case, stride=(2, 2))
    out_w = MaxPool2D(case["k"], case["stride"], case["pad"]).output_shape(case["shape"])[3]
    pitch = maxpool.band_pitch(case["shape"][3], out_w, True)
    monkeypatch.setattr(maxpool, "POOL_BAND_TILE", int(np.ceil((case["k"][0] + extra_rows) * pitch)))
    x = np.round(np.random.default_rng(case["seed"]).standard_normal(case["shape"])).astype(dtype)
    outputs = {}
    for version in (3, 5):
        with kernel_versions.use("maxpool", version):
            names = launched_kernels(lambda: outputs.__setitem__(version, maxpool_forward_cuda(
                to_device(x, kernel_device), case["k"], case["stride"], case["pad"])))
        assert names == [f"maxpool_forward_v{version}"]
    for new, old in zip((outputs[5][0], outputs[5][1][2]), (outputs[3][0], outputs[3][1][2])):
        np.testing.assert_array_equal(to_numpy(new), to_numpy(old))
    with kernel_versions.use("maxpool", 5):
        assert launched_kernels(lambda: maxpool_forward_cuda(to_device(x, kernel_device), case["k"], (2, 3),
                                                             case["pad"])) == ["maxpool_forward_v3"]


def test_version_5_reads_its_band_without_bank_conflicts():
    """pool1's, pool2's and pool5's windows (3x3, stride 2; 4 planes) in the simulator's count:
    version 3's warps read words two apart from the band, two threads to a bank or more;
    version 5's read 32 consecutive words modulo 32, also where a warp's windows run on into the
    next row of windows, in one pass each. Its stores, a value once, alternate between a row's
    halves and may take two passes: fewer passes in all. The same loads of x, y bit for bit."""
    from minicnn.simulator import traffic
    for size in (55, 27, 13):
        x = np.random.default_rng(size).standard_normal((1, 4, size, size)).astype(np.float32)
        records, ys = {}, {}
        for version in (3, 5):
            with kernel_versions.use("maxpool", version), traffic.recording() as log:
                ys[version] = maxpool_forward_cuda(x, (3, 3), (2, 2), (0, 0))[0]
            (records[version],) = log
        v3, v5 = records[3], records[5]
        assert v3.shared_loads.conflict >= 2 and v5.shared_loads.conflict == 1.0, size
        assert v5.shared_stores.conflict <= 2.5 and v3.shared_stores.conflict == 1.0, size
        passes = {v: r.shared_loads.wavefronts + r.shared_stores.wavefronts for v, r in records.items()}
        assert passes[5] < 0.75 * passes[3], size
        assert v5.array("x").loads.bytes == v3.array("x").loads.bytes
        np.testing.assert_array_equal(ys[5], ys[3])


@pytest.mark.parametrize("version", [3, 4, 5])
def test_kernel_bands_run_version_2_for_images_too_wide_for_a_band(kernel_device, version):
    """Rows of 2100 pixels: the forward's band of 3 input rows (6300 values) does not fit in
    POOL_BAND_TILE (2048), nor do the 2 output rows (2098 values) whose windows cover one input
    row, version 4's smallest backward band."""
    x = np.random.default_rng(2).standard_normal((1, 2, 5, 2100))   # 2 output rows
    layer = MaxPool2D(3, stride=2)
    with kernel_versions.use("maxpool", version):
        device_layer = compare_with_cpu(layer, x, kernel_device)
        assert launched_kernels(lambda: device_layer.forward(to_device(x, kernel_device))) == ["maxpool_forward_v2"]
        dout = to_device(np.ones(layer.output_shape(x.shape)), kernel_device)
        assert launched_kernels(lambda: device_layer.backward(dout)) == ["maxpool_backward_v2"]


def test_backward_bands_of_alexnet_pools():
    """pool1, pool2, pool5: dout's whole plane fits (one band per plane); a plane of 100 x 100
    outputs takes bands of 38 input rows (their windows: 20 output rows of 100). (The tile is
    checked against kernels/maxpool.cuh in test_fusion.py.)"""
    from minicnn.layers.maxpool import backward_band_rows
    assert [backward_band_rows(h, o, o, 3, 2) for h, o in [(55, 27), (27, 13), (13, 6)]] == [55, 27, 13]
    assert backward_band_rows(201, 100, 100, 3, 2) == 38


def test_kernel_version_4_backward_loads_dout_and_argmax_once():
    """The traffic count under the simulator, pool1's windows on 4 planes of 55 x 55: version 4's
    backward loads each float of dout and each int of argmax once, consecutive values together,
    where version 2's threads load the argmax of each window that covers their pixel (2.25 per
    pixel), neighbours the same ones. Both store dx once; version 4's warps in whole sectors but
    where one plane ends and the next begins (aligned_start), version 2's from each plane's start
    (a plane of 55 x 55 floats is not whole sectors)."""
    x = np.random.default_rng(3).standard_normal((1, 4, 55, 55)).astype(np.float32)
    dout = np.random.default_rng(4).standard_normal((1, 4, 27, 27)).astype(np.float32)
    records = backward_traffic(lambda: MaxPool2D(3, stride=2), "maxpool", (2, 4), x, dout, "maxpool_backward")
    v2, v4 = records[2], records[4]
    assert v4.array("dout").loads.bytes == dout.nbytes and v4.array("argmax").loads.bytes == dout.nbytes
    assert v2.array("argmax").loads.bytes > 2 * dout.nbytes
    dx_stores = {version: record.array("dx").stores for version, record in records.items()}
    assert dx_stores[4].sectors <= dx_stores[4].touched + 3 and dx_stores[2].sectors > 1.15 * dx_stores[4].sectors
    moved = {version: sum(a.loads.sectors for a in record.arrays) for version, record in records.items()}
    assert moved[4] * 3 < moved[2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_version_4_on_bands_that_fill_the_tile_is_version_2_bit_for_bit(kernel_device, dtype):
    """The kernel's own POOL_BAND_TILE filled, where the test above makes it smaller in Python: planes
    of 129 x 129 pooled 3 x 3 at stride 2 take bands of 62 input rows, and the windows that cover
    the middle band have 32 output rows of 64, the tile's 2048 values. Under the sanitizers (the
    simulator's and compute-sanitizer) a band that reached past its rows would touch memory past the
    tile."""
    from minicnn.layers.maxpool import POOL_BAND_TILE, backward_band_rows
    assert backward_band_rows(129, 64, 64, 3, 2) == 62 and 32 * 64 == POOL_BAND_TILE
    layer = MaxPool2D(3, stride=2)
    x = np.random.default_rng(7).standard_normal((2, 2, 129, 129)).astype(dtype)
    dout = np.random.default_rng(8).standard_normal((2, 2, 64, 64)).astype(dtype)
    dx, launched = {}, {}
    for version in (2, 4):
        with kernel_versions.use("maxpool", version):
            device_layer = compare_with_cpu(layer, x, kernel_device)
            device_layer.forward(to_device(x, kernel_device))
            launched[version] = launched_kernels(lambda: dx.__setitem__(version, to_numpy(device_layer.backward(
                to_device(dout, kernel_device)))))
        assert launched[version] == [f"maxpool_backward_v{version}"]
    np.testing.assert_array_equal(dx[4], dx[2])


def test_kernel_version_4_bands_that_fill_the_tile_load_their_windows_rows_only():
    """Planes of 129 x 129 pooled 3 x 3 at stride 2 (64 x 64 outputs) take bands of 62 input rows;
    the windows that cover the middle band have 32 output rows of 64, which fill the kernel's
    POOL_BAND_TILE of shared memory exactly. Each band loads dout and argmax of those windows and
    no more (the window row that straddles two bands is loaded by both), counted here window by
    window, and stores dx in whole sectors but where a band starts mid-sector (aligned_start)."""
    from minicnn.layers.maxpool import POOL_BAND_TILE, backward_band_rows
    planes, height, out_h = 2, 129, 64
    x = np.random.default_rng(5).standard_normal((1, planes, height, height)).astype(np.float32)
    dout = np.random.default_rng(6).standard_normal((1, planes, out_h, out_h)).astype(np.float32)
    rows = backward_band_rows(height, out_h, out_h, 3, 2)
    bands = [(start, min(start + rows, height)) for start in range(0, height, rows)]
    # output row oh's windows read input rows 2 oh to 2 oh + 2
    covering = [sum(1 for oh in range(out_h) if 2 * oh <= stop - 1 and 2 * oh + 2 >= start) for start, stop in bands]
    assert rows == 62 and covering == [31, 32, 3] and max(covering) * out_h == POOL_BAND_TILE
    records = backward_traffic(lambda: MaxPool2D(3, stride=2), "maxpool", (4,), x, dout, "maxpool_backward")
    loaded = planes * sum(covering) * out_h * 4
    assert records[4].array("dout").loads.bytes == loaded and records[4].array("argmax").loads.bytes == loaded
    dx_stores = records[4].array("dx").stores
    assert dx_stores.sectors <= dx_stores.touched + planes * len(bands)


@given(pool_cases(), st.sampled_from([np.float32, np.float64]))
def test_kernel_version_6_backward_is_version_2_bit_for_bit_on_any_pooling(kernel_device, case, dtype):
    """Version 6's backward loads every window's argmax and dout before it compares any, four pixels
    a thread: dx is version 2's bit for bit (the windows added in the same order, the others as +0),
    on any pooling whose windows cover at most 2 positions a side; the others run version 2's
    kernel. Its forward is version 2's."""
    layer = MaxPool2D(case["k"], case["stride"], case["pad"])
    x = distinct_values(np.random.default_rng(case["seed"]), case["shape"]).astype(dtype)
    dout = np.random.default_rng(1).standard_normal(layer.output_shape(x.shape)).astype(dtype)
    dx, launched = {}, {}
    for version in (2, 6):
        with kernel_versions.use("maxpool", version):
            device_layer = compare_with_cpu(layer, x, kernel_device)
            launched[version] = launched_kernels(lambda: device_layer.forward(to_device(x, kernel_device)))
            launched[version] += launched_kernels(lambda: dx.__setitem__(version, to_numpy(device_layer.backward(
                to_device(dout, kernel_device)))))
    two_a_side = all(k <= 2 * s for k, s in zip(case["k"], case["stride"]))
    assert launched[6] == ["maxpool_forward_v2", f"maxpool_backward_v{6 if two_a_side else 2}"]
    np.testing.assert_array_equal(dx[6], dx[2])


def pooling_values(rng, shape, values):
    """Inputs for max-pool: "distinct" (no ties), "ties" (three levels: many maxima per window) or
    "nan" (a fifth of the values NaN)."""
    if values == "distinct":
        return distinct_values(rng, shape)
    if values == "ties":
        return rng.integers(0, 3, shape).astype(np.float64)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.2] = np.nan
    return x


def forward_by_versions(x, kernel, stride, pad, versions, device):
    """{version: (y, argmax, the kernels launched)} of maxpool_forward_cuda on ``device``."""
    runs = {}
    for version in versions:
        with kernel_versions.use("maxpool", version):
            out = []
            on_device = to_device(x, device)
            names = launched_kernels(lambda: out.append(maxpool_forward_cuda(on_device, kernel, stride, pad)))
        y, cache = out[0]
        runs[version] = (to_numpy(y), to_numpy(cache[2]), names)
    return runs


@given(pool_cases(), st.sampled_from([np.float32, np.float64]), st.sampled_from(["distinct", "ties", "nan"]))
def test_kernel_versions_7_and_8_forward_are_version_2s_on_any_pooling(kernel_device, case, dtype, values):
    """Version 7's forward loads a window's values before it compares any, and version 8 runs its
    windows in a grid-stride loop over the whole batch: the maxima and their positions are version
    2's, ties (the first maximum in row-major order) and NaNs alike, on any pooling; square windows
    of 2 and 3 run their kernels, the others version 2's."""
    x = pooling_values(np.random.default_rng(case["seed"]), case["shape"], values).astype(dtype)
    runs = forward_by_versions(x, case["k"], case["stride"], case["pad"], (2, 7, 8), kernel_device)
    square = case["k"][0] == case["k"][1] and case["k"][0] in maxpool.MAXPOOL_V7_SIDES
    for version in (7, 8):
        assert runs[version][2] == [f"maxpool_forward_v{version if square else 2}"]
        np.testing.assert_array_equal(runs[version][0], runs[2][0])
        np.testing.assert_array_equal(runs[version][1], runs[2][1])


@pytest.mark.parametrize("version", [7, 8])
@pytest.mark.parametrize("values", ["distinct", "ties", "nan"])
@pytest.mark.parametrize("k,stride,pad", [(3, 2, 0), (3, 2, 1), (2, 2, 0), (2, 1, 1)])
def test_kernel_versions_7_and_8_on_alexnets_windows_and_the_edges(kernel_device, version, values, k, stride, pad):
    """AlexNet's 3 x 3 windows at stride 2 on planes of 13 x 13 (pool5's) and 2 x 2 ones, with the
    padding's cut windows: each version's kernel, version 2's maxima and positions; their backward
    is version 6's."""
    x = pooling_values(np.random.default_rng(k * 10 + pad), (2, 3, 13, 13), values).astype(np.float32)
    runs = forward_by_versions(x, (k, k), (stride, stride), (pad, pad), (2, version), kernel_device)
    assert runs[version][2] == [f"maxpool_forward_v{version}"]
    np.testing.assert_array_equal(runs[version][0], runs[2][0])
    np.testing.assert_array_equal(runs[version][1], runs[2][1])
    layer = MaxPool2D(k, stride, pad)
    with kernel_versions.use("maxpool", version):
        device_layer = layer.to(kernel_device)
        device_layer.forward(to_device(x, kernel_device))
        dout = to_device(np.ones(layer.output_shape(x.shape), np.float32), kernel_device)
        assert launched_kernels(lambda: device_layer.backward(dout)) == ["maxpool_backward_v6"]


def test_kernel_version_8_forward_walks_the_batch_in_turns():
    """Version 8's grid-stride loop: under the simulator's small device a thread takes several
    windows, planes apart (pool5's 3 x 3 windows at stride 2 over 40 planes of 13 x 13, more
    outputs than the grid's threads), each of them version 2's, where a block of version 7 takes
    one plane's."""
    from minicnn import simulator
    x = distinct_values(np.random.default_rng(5), (4, 10, 13, 13)).astype(np.float32)
    outputs = 4 * 10 * 6 * 6
    assert outputs > simulator.MULTIPROCESSORS * simulator.BLOCKS_PER_MULTIPROCESSOR * 256
    runs = forward_by_versions(x, (3, 3), (2, 2), (0, 0), (2, 8), "sim")
    assert runs[8][2] == ["maxpool_forward_v8"]
    np.testing.assert_array_equal(runs[8][0], runs[2][0])
    np.testing.assert_array_equal(runs[8][1], runs[2][1])


def test_kernel_version_7_forward_loads_each_window_value_once():
    """pool1's windows on 4 planes of 55 x 55 under the simulator: version 7 stores what version 2
    stores and loads a window's 9 values once each, where version 2 loads its first value twice
    (once to start the maximum, once in its walk): 10 load requests a warp against 9."""
    from minicnn.simulator import traffic
    x = np.random.default_rng(5).standard_normal((1, 4, 55, 55)).astype(np.float32)
    records = {}
    for version in (2, 7):
        with kernel_versions.use("maxpool", version), traffic.recording() as log:
            maxpool_forward_cuda(x, (3, 3), (2, 2), (0, 0))
        (records[version],) = log
    v2, v7 = records[2], records[7]
    assert v7.array("y").stores == v2.array("y").stores and v7.array("argmax").stores == v2.array("argmax").stores
    assert v7.array("x").loads.requests * 10 == v2.array("x").loads.requests * 9


def test_kernel_version_6_backward_loads_every_window_before_it_compares():
    """pool1's windows on 4 planes of 55 x 55 under the simulator: version 6 loads the argmax of the
    same windows as version 2, and the dout of all of them (version 2 loads a window's dout only
    after its argmax chose the pixel: fewer requests, one trip to memory after another); its dx
    stores are version 2's. Each thread takes MAXPOOL_V6_PIXELS pixels, blockDim apart: a quarter
    of version 2's blocks. The constant is the kernel's."""
    from minicnn.layers.maxpool import MAXPOOL_V6_PIXELS
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels", "maxpool.cu")) as f:
        assert f"#define MAXPOOL_V6_PIXELS {MAXPOOL_V6_PIXELS}\n" in f.read()
    x = np.random.default_rng(3).standard_normal((1, 4, 55, 55)).astype(np.float32)
    dout = np.random.default_rng(4).standard_normal((1, 4, 27, 27)).astype(np.float32)
    records = backward_traffic(lambda: MaxPool2D(3, stride=2), "maxpool", (2, 6), x, dout, "maxpool_backward")
    v2, v6 = records[2], records[6]
    assert v6.array("argmax").loads.bytes == v2.array("argmax").loads.bytes
    assert v6.array("dout").loads.bytes == v6.array("argmax").loads.bytes > 2 * v2.array("dout").loads.bytes
    assert v6.array("dx").stores == v2.array("dx").stores
    assert MAXPOOL_V6_PIXELS * v6.grid[1] * v6.block[0] >= 55 * 55 > MAXPOOL_V6_PIXELS * (v6.grid[1] - 1) * v6.block[0]
    assert (v2.grid[1], v6.grid[1]) == (12, 3)   # tiles of 256 pixels, against tiles of 1024
