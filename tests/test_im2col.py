"""im2col/col2im and the window helpers: layout, and col2im is the exact adjoint of im2col."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minicnn.layers.im2col import col2im, fold_windows, im2col, sliding_windows


@given(st.integers(1, 2), st.integers(1, 3), st.integers(3, 8), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 2), st.integers(0, 2 ** 31))
def test_layout_and_adjointness(n, c, size, k, s, p, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, size, size))
    cols = im2col(x, (k, k), (s, s), (p, p))
    oh = (size + 2 * p - k) // s + 1
    assert cols.shape == (c * k * k, n * oh * oh)
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    # spot-check the documented layout on every entry of the first image
    for ci in range(c):
        for i in range(k):
            for j in range(k):
                for r in range(oh):
                    for q in range(oh):
                        assert cols[(ci * k + i) * k + j, r * oh + q] == xpad[0, ci, r * s + i, q * s + j]
    # <im2col(x), d> == <x, col2im(d)> for any d: col2im is the adjoint (gradient) of im2col
    d = rng.standard_normal(cols.shape)
    lhs = (cols * d).sum()
    rhs = (x * col2im(d, x.shape, (k, k), (s, s), (p, p))).sum()
    assert np.isclose(lhs, rhs, rtol=1e-12, atol=1e-12)


def test_fold_windows_counts_overlaps():
    ones = np.ones((1, 1, 3, 3, 2, 2))      # four 3x3 windows, stride 2, on a 5x5 image
    image = fold_windows(lambda i, j: ones[:, :, i, j], (3, 3), (2, 2), np.zeros((1, 1, 5, 5)))
    np.testing.assert_array_equal(image[0, 0], [[1, 1, 2, 1, 1], [1, 1, 2, 1, 1], [2, 2, 4, 2, 2],
                                                [1, 1, 2, 1, 1], [1, 1, 2, 1, 1]])
    view = sliding_windows(np.arange(25.0).reshape(1, 1, 5, 5), (3, 3), (2, 2))
    assert view.shape == (1, 1, 3, 3, 2, 2) and view[0, 0, 1, 2, 1, 1] == 5 * 3 + 4


# --- the CUDA kernels (kernels/im2col.cu), simulator and GPU ----------------------------------
from devices import launched_kernels  # noqa: E402
from minicnn import kernel_versions  # noqa: E402
from minicnn.backend import to_device, to_numpy  # noqa: E402
from minicnn.kernel_versions import kernel_name  # noqa: E402
from minicnn.layers import im2col as im2col_module  # noqa: E402
from minicnn.layers.im2col import col2im_cuda, conv_output_size, im2col_band, im2col_cuda  # noqa: E402


def check_kernels(x, kernel, stride, pad, device, seed=0):
    """im2col_cuda writes exactly NumPy's cols, and col2im_cuda exactly its adjoint (the same
    summation order, so bit-identical in float64), on ``device``."""
    xd = to_device(x, device)
    cols = im2col_cuda(xd, kernel, stride, pad)
    expected = im2col(x, kernel, stride, pad)
    np.testing.assert_array_equal(to_numpy(cols), expected)
    dcols = np.random.default_rng(seed).standard_normal(expected.shape).astype(x.dtype)
    dx = col2im_cuda(to_device(dcols, device), x.shape, kernel, stride, pad)
    np.testing.assert_array_equal(to_numpy(dx), col2im(dcols, x.shape, kernel, stride, pad))


@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 8), st.integers(1, 8), st.integers(1, 4),
       st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(0, 2),
       st.integers(0, 2 ** 31))
def test_kernels_match_numpy(kernel_device, im2col_version, n, c, h, w, kh, kw, sh, sw, ph, pw, seed):
    """Every version, on any geometry (a version that did not rewrite a kernel runs its newest
    earlier one: kernel_versions.kernel_name)."""
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    check_kernels(x, (kh, kw), (sh, sw), (ph, pw), kernel_device, seed)


@given(st.integers(1, 12), st.integers(1, 40), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4),
       st.integers(1, 4), st.integers(0, 2), st.integers(0, 2), st.integers(0, 3),
       st.sampled_from([np.float32, np.float64]))
def test_kernel_version_4_in_bands_on_any_geometry(kernel_device, monkeypatch, h, w, kh, kw, sh, sw, ph, pw,
                                                   extra_rows, dtype):
    """Version 4 copies a band of output rows at a time through shared memory: with a tile of
    one window's padded rows and up to 3 more (the kernel's tile is larger; a smaller one in
    Python only makes more bands) these small images come in several bands, whose overlapping
    input rows, padding and last partial band all end up where NumPy puts them."""
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    monkeypatch.setattr(im2col_module, "IM2COL_BAND_TILE", (kh + extra_rows) * ((ow - 1) * sw + kw))
    rows, threads = im2col_band(oh, ow, (kh, kw), (sh, sw))
    assert 1 <= rows <= extra_rows // sh + 1 and min(rows * ow + 31, 256) <= threads <= 256 and threads % 32 == 0
    x = np.random.default_rng(h * w).standard_normal((2, 3, h, w)).astype(dtype)
    with kernel_versions.use("im2col", 4):
        assert launched_kernels(lambda: im2col_cuda(to_device(x, kernel_device), (kh, kw), (sh, sw), (ph, pw))) \
            == ["im2col_v4"]
        check_kernels(x, (kh, kw), (sh, sw), (ph, pw), kernel_device)


@pytest.mark.parametrize("width,kernel", [(300, 3), (2100, 3)])
def test_kernel_version_4_on_wide_images(kernel_device, width, kernel):
    """Output rows wider than a block (298 positions for 256 threads): each thread takes several
    positions of the one row of its band; an image too wide for one window's rows in the tile
    (2100 x 3 values > 6144) runs version 2."""
    x = np.random.default_rng(width).standard_normal((1, 2, 4, width))
    with kernel_versions.use("im2col", 4):
        names = launched_kernels(lambda: im2col_cuda(to_device(x, kernel_device), (kernel, kernel), (1, 1), (1, 1)))
        assert names == (["im2col_v4"] if width == 300 else ["im2col_v2"])
        check_kernels(x, (kernel, kernel), (1, 1), (1, 1), kernel_device)


def test_band_geometry_of_alexnet():
    """conv1: 4 output rows of 55 per block of 256 threads (with up to 31 waiting to align the
    stores), their 23 input rows of 227 in the tile; conv2 (27 x 27, 5 x 5, padding 2): 8 rows
    of 27; conv3-5 (13 x 13): the whole image; and the tile in Python is the kernel's."""
    assert im2col_band(55, 55, (11, 11), (4, 4)) == (4, 256)
    assert im2col_band(27, 27, (5, 5), (1, 1)) == (8, 256)
    assert im2col_band(13, 13, (3, 3), (1, 1)) == (13, 224)
    assert im2col_band(3, 2100, (3, 3), (1, 1)) == (0, 0)
    from minicnn.kernels import read_source
    assert f"#define IM2COL_BAND_TILE {im2col_module.IM2COL_BAND_TILE} " in read_source("im2col")


def test_kernel_version_4_loads_each_input_once():
    """The traffic count under the simulator, conv1's kernel and stride on an 87 x 87 image (20 x
    20 outputs: the rows of cols start on sector boundaries, as at batch 8 and more, and the second
    band of 11 output rows starts mid-sector, at column 220): version 4 loads the input rows of
    each band once, consecutive floats together, where version 2 loads each pixel once per window
    that reads it, pixels `stride` apart; version 4's warps store whole sectors, as version 2's
    (their first threads wait to align them), but where one band ends and the next begins."""
    from minicnn.simulator import traffic
    x = np.random.default_rng(1).standard_normal((1, 3, 87, 87)).astype(np.float32)
    assert im2col_band(20, 20, (11, 11), (4, 4)) == (11, 256)
    records = {}
    for version in (2, 4):
        with traffic.recording() as log, kernel_versions.use("im2col", version):
            cols = im2col_cuda(x, (11, 11), (4, 4), (0, 0))
        (records[version],) = log.of(f"im2col_v{version}")
        assert records[version].array("cols").stores.bytes == cols.nbytes
    stores = {version: record.array("cols").stores.sectors for version, record in records.items()}
    # version 2: whole sectors; version 4: the sector of columns 216-223 of each row twice (two bands)
    assert stores[2] * 32 == cols.nbytes and stores[4] == stores[2] + cols.shape[0]
    loads = {version: record.array("x").loads for version, record in records.items()}
    # the band of 11 output rows reads 51 input rows (7 shared with the next), the last of 9 rows 43
    assert loads[4].bytes == (51 + 43) * 87 * 3 * 4 and loads[2].bytes == cols.nbytes
    assert loads[4].efficiency > 0.8 and loads[2].efficiency < 0.25 and loads[4].sectors * 20 < loads[2].sectors


def test_a_version_runs_the_newest_rewrite_of_each_kernel():
    assert [kernel_name("im2col", "col2im", v) for v in (1, 2, 3)] == ["col2im_v1", "col2im_v2", "col2im_v3"]
    assert [kernel_name("im2col", "im2col", v) for v in (1, 2, 3, 4)] == ["im2col_v1", "im2col_v2", "im2col_v2",
                                                                           "im2col_v4"]
    assert kernel_name("im2col", "col2im", 4) == "col2im_v3"
    assert kernel_name("im2col", "gemm_to_nchw_bias", 3) == "gemm_to_nchw_bias_v2"
    with pytest.raises(ValueError, match="no version of 'im2col' at or below 0"):
        kernel_name("im2col", "im2col", 0)
    # every version of every family names a kernel of its own or an earlier one for each of its kernels
    for family in kernel_versions.VERSIONS:
        for version in kernel_versions.VERSIONS[family]:
            assert any(name.endswith(f"_v{version}") for name in kernel_versions._kernel_names(family))
