"""im2col/col2im and the window helpers: layout, and col2im is the exact adjoint of im2col."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minicnn.layers.im2col import col2im, fold_windows, im2col, sliding_windows


@given(st.integers(1, 2), st.integers(1, 3), st.integers(3, 8), st.integers(3, 8), st.integers(1, 3),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(0, 2),
       st.integers(0, 2 ** 31))
def test_layout_and_adjointness(n, c, h, w, kh, kw, sh, sw, ph, pw, seed):
    """Rectangular images, windows, strides and paddings, each side its own (a mix-up of the two
    sides, or a padding of one side alone taken for none, shows here)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    cols = im2col(x, (kh, kw), (sh, sw), (ph, pw))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    assert cols.shape == (c * kh * kw, n * oh * ow)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    # spot-check the documented layout on every entry of the first image
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                for r in range(oh):
                    for q in range(ow):
                        assert cols[(ci * kh + i) * kw + j, r * ow + q] == xpad[0, ci, r * sh + i, q * sw + j]
    # <im2col(x), d> == <x, col2im(d)> for any d: col2im is the adjoint (gradient) of im2col
    d = rng.standard_normal(cols.shape)
    lhs = (cols * d).sum()
    rhs = (x * col2im(d, x.shape, (kh, kw), (sh, sw), (ph, pw))).sum()
    assert np.isclose(lhs, rhs, rtol=1e-12, atol=1e-12)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(3, 9), st.integers(3, 9), st.integers(1, 4),
       st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(0, 2),
       st.integers(0, 2 ** 31))
def test_col2im_of_columns_with_the_batch_last_is_the_same_bit_for_bit(n, c, h, w, kh, kw, sh, sw, ph, pw, seed):
    """The CPU's conv backward orders the columns' gradient (oh, ow, n) (col2im's ``batch_last``):
    the same fold of the same entries, every pixel adding them in the same order, so the same
    values to the last bit as the columns in im2col's order (n, oh, ow)."""
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return
    rng = np.random.default_rng(seed)
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols = rng.standard_normal((c * kh * kw, n, oh, ow)).astype(np.float32)
    batch_last = np.ascontiguousarray(cols.transpose(0, 2, 3, 1)).reshape(c * kh * kw, -1)
    args = (n, c, h, w), (kh, kw), (sh, sw), (ph, pw)
    expected = col2im(cols.reshape(c * kh * kw, -1), *args)
    np.testing.assert_array_equal(col2im(batch_last, *args, batch_last=True).view(np.int32), expected.view(np.int32))


@given(st.integers(1, 3), st.integers(1, 3), st.integers(3, 9), st.integers(3, 9), st.integers(1, 4),
       st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(0, 2),
       st.integers(0, 2 ** 31))
def test_im2col_with_the_batch_last_orders_the_same_columns_oh_ow_n(n, c, h, w, kh, kw, sh, sw, ph, pw, seed):
    """``im2col(batch_last=True)``, the CPU conv's columns where its rows are short: the columns of
    im2col's order (n, oh, ow) (whose layout the first test checks), reordered (oh, ow, n)."""
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(np.float32)
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    args = (kh, kw), (sh, sw), (ph, pw)
    expected = im2col(x, *args).reshape(c * kh * kw, n, oh, ow).transpose(0, 2, 3, 1).reshape(c * kh * kw, -1)
    np.testing.assert_array_equal(im2col(x, *args, batch_last=True), expected, strict=True)


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
from minicnn.layers.im2col import (col2im_band, col2im_band_slot, col2im_cuda, conv_output_size,  # noqa: E402
                                   im2col_band, im2col_band_layout, im2col_band_values, im2col_cuda)


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
       st.integers(1, 4), st.integers(0, 2), st.integers(0, 2), st.integers(1, 4),
       st.sampled_from([np.float32, np.float64]))
@pytest.mark.parametrize("version", [4, 5])
def test_kernel_versions_4_and_5_in_bands_on_any_geometry(kernel_device, monkeypatch, version, h, w, kh, kw, sh, sw,
                                                          ph, pw, band_rows, dtype):
    """Versions 4 and 5 copy a band of output rows at a time through shared memory: with a tile
    of 1 to 4 output rows' input rows (the kernel's tile is larger; a smaller one in Python only
    makes more bands) these small images come in several bands, whose overlapping input rows,
    padding and last partial band all end up where NumPy puts them (version 5: through its layout
    of the band by column and row phase)."""
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    monkeypatch.setattr(im2col_module, "IM2COL_BAND_TILE", im2col_band_values(band_rows, ow, (kh, kw), (sh, sw),
                                                                              version))
    rows, threads = im2col_band(oh, ow, (kh, kw), (sh, sw), version)
    assert rows == min(band_rows, oh, max(1, 225 // ow))
    assert min(rows * ow + 31, 256) <= threads <= 256 and threads % 32 == 0
    x = np.random.default_rng(h * w).standard_normal((2, 3, h, w)).astype(dtype)
    with kernel_versions.use("im2col", version):
        assert launched_kernels(lambda: im2col_cuda(to_device(x, kernel_device), (kh, kw), (sh, sw), (ph, pw))) \
            == [f"im2col_v{version}"]
        check_kernels(x, (kh, kw), (sh, sw), (ph, pw), kernel_device)


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("width,kernel", [(300, 3), (2100, 3)])
def test_kernel_versions_4_and_5_on_wide_images(kernel_device, version, width, kernel):
    """Output rows wider than a block (298 positions for 256 threads): each thread takes several
    positions of the one row of its band; an image too wide for one window's rows in the tile
    (2100 x 3 values > 6144) runs version 2."""
    x = np.random.default_rng(width).standard_normal((1, 2, 4, width))
    with kernel_versions.use("im2col", version):
        names = launched_kernels(lambda: im2col_cuda(to_device(x, kernel_device), (kernel, kernel), (1, 1), (1, 1)))
        assert names == ([f"im2col_v{version}"] if width == 300 else ["im2col_v2"])
        check_kernels(x, (kernel, kernel), (1, 1), (1, 1), kernel_device)


@given(st.integers(1, 12), st.integers(1, 40), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4),
       st.integers(1, 4), st.integers(0, 2), st.integers(0, 2), st.integers(1, 4),
       st.sampled_from([np.float32, np.float64]))
def test_col2im_version_5_in_bands_on_any_geometry(kernel_device, monkeypatch, h, w, kh, kw, sh, sw, ph, pw,
                                                   band_rows, dtype):
    """col2im's version 5 copies the cols entries of a band of input rows to shared memory first:
    with room for 1 to 4 rows' entries (the kernel's is larger; less in Python only makes more
    bands) these small images come in several bands, the windows they share split between them,
    and every pixel's sum comes out as NumPy's, bit for bit."""
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    itemsize = np.dtype(dtype).itemsize
    def room(rows):   # bytes of shared memory that a band of `rows` takes
        return kh * kw * col2im_band_slot(rows, ow, (sh, sw)) * itemsize

    monkeypatch.setattr(im2col_module, "COL2IM_BAND_BYTES", room(band_rows))
    rows, threads, slot = col2im_band(h, w, ow, (kh, kw), (sh, sw), itemsize)
    most = min(h, max(1, 256 // w))   # a pixel per thread
    # as many rows as fit (a padded slot may hold more than band_rows' entries)
    assert min(band_rows, most) <= rows <= most and (rows == most or room(rows + 1) > room(band_rows))
    assert slot == col2im_band_slot(rows, ow, (sh, sw)) >= -(-rows // sh) * ow
    assert min(rows * w + 31, 256) <= threads <= 256 and threads % 32 == 0
    x = np.random.default_rng(h * w).standard_normal((2, 3, h, w)).astype(dtype)
    dcols = to_device(np.random.default_rng(h).standard_normal((3 * kh * kw, 2 * oh * ow)).astype(dtype),
                      kernel_device)
    with kernel_versions.use("im2col", 5):
        assert launched_kernels(lambda: col2im_cuda(dcols, x.shape, (kh, kw), (sh, sw), (ph, pw))) == ["col2im_v5"]
        check_kernels(x, (kh, kw), (sh, sw), (ph, pw), kernel_device)


def test_col2im_version_5_on_rows_too_wide_for_shared_memory(kernel_device):
    """An input row whose 5 x 5 offsets' entries (5 x 400 values each) do not fit runs version 3."""
    x = np.random.default_rng(3).standard_normal((1, 2, 6, 400))
    with kernel_versions.use("im2col", 5):
        dcols = to_device(np.zeros((2 * 25, 2 * 400)), kernel_device)
        assert launched_kernels(lambda: col2im_cuda(dcols, x.shape, (5, 5), (1, 1), (0, 2))) == ["col2im_v3"]
        check_kernels(x, (5, 5), (1, 1), (0, 2), kernel_device)


@pytest.mark.parametrize("kernel,stride,side,launched", [((11, 11), (4, 4), 3, "col2im_v6"),
                                                          ((5, 5), (1, 1), 5, "col2im_v6"),
                                                          ((3, 3), (2, 1), 3, "col2im_v6"),
                                                          ((2, 2), (2, 2), 1, "col2im_v3"),
                                                          ((6, 3), (1, 1), 6, "col2im_v3")])
def test_col2im_version_6_for_window_sides_of_2_to_5(kernel_device, kernel, stride, side, launched):
    """Version 6 loads the side x side windows that can cover a pixel (side = ceil(kernel /
    stride): 3 for conv1, 5 for conv2) before it adds any; a side of 1 (no overlap) or above 5
    runs version 3. Either way NumPy's sums bit for bit, in float32 and float64, padding and the
    edges' cut windows included."""
    assert im2col_module.col2im_side(kernel, stride) == side
    for dtype, pad in ((np.float32, (1, 2)), (np.float64, (0, 0))):
        x = np.random.default_rng(kernel[0]).standard_normal((2, 3, 17, 19)).astype(dtype)
        oh, ow = (conv_output_size(size, k, s, p) for size, k, s, p in zip(x.shape[2:], kernel, stride, pad))
        dcols = to_device(np.random.default_rng(1).standard_normal((3 * kernel[0] * kernel[1], 2 * oh * ow))
                          .astype(dtype), kernel_device)
        with kernel_versions.use("im2col", 6):
            assert launched_kernels(lambda: col2im_cuda(dcols, x.shape, kernel, stride, pad)) == [launched]
            check_kernels(x, kernel, stride, pad, kernel_device)


def test_col2im_sides_are_the_kernels():
    """COL2IM_SIDES names exactly the sides kernels/im2col.cu's with_col2im_side instantiates."""
    import re
    from minicnn.kernels import read_source
    (sides,) = re.findall(r"with_constant<([\d, ]+)>\(side, gather\);", read_source("im2col"))
    assert tuple(int(v) for v in sides.split(",")) == im2col_module.COL2IM_SIDES == (2, 3, 4, 5)


def test_col2im_version_6_asks_for_what_version_3_asks():
    """The traffic count under the simulator, conv1's and conv2's windows on one image: version 6's
    warps load the entries of version 3's windows at version 3's offsets, all of them first, so
    its load requests and sectors are version 3's (what it changes is how many are in flight at
    once, which a GPU's timing shows and the count does not)."""
    from minicnn.simulator import traffic
    for (h, k, s, p) in ((63, 11, 4, 0), (27, 5, 1, 2)):
        oh = conv_output_size(h, k, s, p)
        dcols = np.random.default_rng(h).standard_normal((3 * k * k, oh * oh)).astype(np.float32)
        loads = {}
        for version in (3, 6):
            with traffic.recording() as log, kernel_versions.use("im2col", version):
                col2im_cuda(dcols, (1, 3, h, h), (k, k), (s, s), (p, p))
            (record,) = log.of(f"col2im_v{version}")
            loads[version] = record.array("cols").loads
        assert (loads[6].requests, loads[6].sectors, loads[6].bytes) == (loads[3].requests, loads[3].sectors,
                                                                         loads[3].bytes)


def test_col2im_version_5_reads_each_entry_once():
    """The traffic count, conv1 and conv2 (one image, 3 channels): version 5 loads every cols
    entry of the band's output rows once (those of the padding above and below the image not at
    all), each offset's run on whole 128-byte lines, where version 3's warps read 4 rows of cols
    at a time for stride 4; and its reads of shared memory take one pass at stride 1."""
    from minicnn.simulator import traffic
    for (h, k, s, p) in ((227, 11, 4, 0), (27, 5, 1, 2)):
        oh = conv_output_size(h, k, s, p)
        dcols = np.random.default_rng(h).standard_normal((3 * k * k, oh * oh)).astype(np.float32)
        loads, shared = {}, {}
        for version in (3, 5):
            with traffic.recording() as log, kernel_versions.use("im2col", version):
                col2im_cuda(dcols, (1, 3, h, h), (k, k), (s, s), (p, p))
            (record,) = log.of(f"col2im_v{version}")
            loads[version], shared[version] = record.array("cols").loads, record.shared_loads
        # version 3 loads the entries of a pixel; version 5 whole runs of output rows, the entries of
        # the left and right padding too (an image as wide as the padded one, padded above and below)
        inside = im2col(np.ones((1, 3, h, h), np.float32), (k, k), (s, s), (p, p)) != 0
        inside_rows = im2col(np.ones((1, 3, h, h + 2 * p), np.float32), (k, k), (s, s), (p, 0)) != 0
        assert loads[3].bytes == inside.sum() * 4 and loads[5].bytes == inside_rows.sum() * 4
        assert loads[5].sectors < loads[3].sectors and loads[5].efficiency > 0.85
        assert shared[3] == traffic.NO_SHARED_ACCESS
        if s == 1:
            assert shared[5].conflict == 1.0


def test_band_geometry_of_alexnet():
    """conv1: 4 output rows of 55 per block of 256 threads (with up to 31 waiting to align the
    stores), their 23 input rows of 227 in the tile; conv2 (27 x 27, 5 x 5, padding 2): 8 rows
    of 27; conv3-5 (13 x 13): the whole image; the same in version 5's layout, whose groups of
    rows are out_w mod 32 values long; and the tile in Python is the kernel's."""
    for version in (4, 5):
        assert im2col_band(55, 55, (11, 11), (4, 4), version) == (4, 256)
        assert im2col_band(27, 27, (5, 5), (1, 1), version) == (8, 256)
        assert im2col_band(13, 13, (3, 3), (1, 1), version) == (13, 224)
        assert im2col_band(3, 2100, (3, 3), (1, 1), version) == (0, 0)
    # conv1: 4 row phases of 4 column phases of 57 values (the 227 padded columns): a group of
    # 4 * 228 = 912 values and 7 more, 919 = 55 (mod 32); its 23 input rows in 6 groups
    assert im2col_band_layout(55, (11, 11), (4, 4)) == (228, 919)
    assert im2col_band_values(4, 55, (11, 11), (4, 4), 5) == 5 * 919 + 3 * 228
    assert im2col_band_values(4, 55, (11, 11), (4, 4), 4) == 23 * 227
    assert im2col_band_layout(27, (5, 5), (1, 1)) == (31, 59)   # 59 = 27 (mod 32)
    # col2im's version 5: conv1, a band of one input row (3 of the 11 window rows read it), each of
    # the 121 offsets' 55 entries padded to 72 = 32 / 4 (mod 32); conv2, 9 rows (243 pixels); conv3-5,
    # the whole 13 x 13 image; in float64 (tests only) conv1's one row does not fit
    assert col2im_band(227, 227, 55, (11, 11), (4, 4), 4) == (1, 256, 72)
    assert col2im_band(27, 27, 27, (5, 5), (1, 1), 4) == (9, 256, 243)
    assert col2im_band(13, 13, 13, (3, 3), (1, 1), 4) == (13, 224, 169)
    assert col2im_band(227, 227, 55, (11, 11), (4, 4), 8) == (0, 0, 0)
    from minicnn.kernels import read_source
    assert f"#define COL2IM_BAND_BYTES {im2col_module.COL2IM_BAND_BYTES} " in read_source("im2col")
    assert f"#define IM2COL_BAND_TILE {im2col_module.IM2COL_BAND_TILE} " in read_source("im2col")
    assert f"#define LAYOUT_V7_PIXELS {im2col_module.LAYOUT_V7_PIXELS}\n" in read_source("im2col")


def test_kernel_versions_4_and_5_load_each_input_once():
    """The traffic count under the simulator, conv1's kernel and stride on an 89 x 89 image (20 x 20
    outputs: the rows of cols start on sector boundaries, as at batch 8 and more, and the second
    band of 11 output rows starts mid-sector, at column 220; the last two rows and columns no
    window reads): version 4 loads the input rows of each band's windows once, consecutive floats
    together, where version 2 loads each pixel once per window that reads it, pixels `stride`
    apart; version 4's warps store whole sectors, as version 2's (their first threads wait to align
    them), but where one band ends and the next begins. Version 5 moves the same sectors as version
    4, and its warps read shared memory without a bank conflict where version 4's read words 4
    apart."""
    from minicnn.simulator import traffic
    x = np.random.default_rng(1).standard_normal((1, 3, 89, 89)).astype(np.float32)
    assert im2col_band(20, 20, (11, 11), (4, 4)) == im2col_band(20, 20, (11, 11), (4, 4), 5) == (11, 256)
    records = {}
    for version in (2, 4, 5):
        with traffic.recording() as log, kernel_versions.use("im2col", version):
            cols = im2col_cuda(x, (11, 11), (4, 4), (0, 0))
        (records[version],) = log.of(f"im2col_v{version}")
        assert records[version].array("cols").stores.bytes == cols.nbytes
    stores = {version: record.array("cols").stores.sectors for version, record in records.items()}
    # version 2: whole sectors; version 4: the sector of columns 216-223 of each row twice (two bands)
    assert stores[2] * 32 == cols.nbytes and stores[4] == stores[5] == stores[2] + cols.shape[0]
    loads = {version: record.array("x").loads for version, record in records.items()}
    # the band of 11 output rows reads 51 input rows (7 shared with the next), the last of 9 rows 43,
    # each the 87 columns the windows read
    assert loads[4].bytes == (51 + 43) * 87 * 3 * 4 and loads[2].bytes == cols.nbytes and loads[5] == loads[4]
    assert loads[4].efficiency > 0.8 and loads[2].efficiency < 0.25 and loads[4].sectors * 20 < loads[2].sectors
    # shared memory: a read per entry of cols, each warp's 32 positions (20 a row) 4 words apart in
    # version 4, consecutive (mod 32) in version 5; version 2 has none
    shared = {version: record.shared_loads for version, record in records.items()}
    assert shared[2] == traffic.NO_SHARED_ACCESS
    assert shared[4].requests == shared[5].requests and shared[5].least == shared[4].least == shared[5].requests
    assert shared[5].conflict == 1.0 and shared[4].conflict > 3.5


def test_a_version_runs_the_newest_rewrite_of_each_kernel():
    assert [kernel_name("im2col", "col2im", v) for v in (1, 2, 3)] == ["col2im_v1", "col2im_v2", "col2im_v3"]
    assert [kernel_name("im2col", "im2col", v) for v in (1, 2, 3, 4, 5)] == ["im2col_v1", "im2col_v2", "im2col_v2",
                                                                              "im2col_v4", "im2col_v5"]
    assert kernel_name("im2col", "col2im", 4) == "col2im_v3" and kernel_name("im2col", "col2im", 5) == "col2im_v5"
    assert kernel_name("im2col", "gemm_to_nchw_bias", 3) == "gemm_to_nchw_bias_v2"
    # version 6 rewrote col2im on version 2: its im2col is version 2's, not version 5's
    assert [kernel_name("im2col", k, 6) for k in ("col2im", "im2col", "gemm_to_nchw_bias")] == [
        "col2im_v6", "im2col_v2", "gemm_to_nchw_bias_v2"]
    # version 7 rewrote the layout kernels on version 6
    assert [kernel_name("im2col", k, 7) for k in ("col2im", "im2col", "gemm_to_nchw_bias", "nchw_to_gemm_relu")] == [
        "col2im_v6", "im2col_v2", "gemm_to_nchw_bias_v7", "nchw_to_gemm_relu_v7"]
    with pytest.raises(ValueError, match="no version of 'im2col' at or below 0"):
        kernel_name("im2col", "im2col", 0)
    # every version of every family names a kernel of its own or an earlier one for each of its kernels
    for family in kernel_versions.VERSIONS:
        for version in kernel_versions.VERSIONS[family]:
            assert any(name.endswith(f"_v{version}") for name in kernel_versions._kernel_names(family))
