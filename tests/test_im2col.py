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
from minicnn.backend import to_device, to_numpy  # noqa: E402
from minicnn.kernel_versions import kernel_name  # noqa: E402
from minicnn.launch import BLOCK, empty, grid_for, launch  # noqa: E402
from minicnn.layers.im2col import conv_output_size  # noqa: E402


@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 8), st.integers(1, 4), st.integers(1, 3),
       st.integers(1, 3), st.integers(0, 2), st.integers(0, 2 ** 31))
def test_kernels_match_numpy(kernel_device, im2col_version, n, c, h, kh, kw, s, p, seed):
    """The im2col kernel writes exactly NumPy's cols; the col2im gather kernel exactly its
    adjoint (same summation order, so bit-identical in float64), in every version (a version that
    did not rewrite a kernel runs its newest earlier one: kernel_versions.kernel_name)."""
    if h + 2 * p < max(kh, kw):
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, h))
    oh, ow = conv_output_size(h, kh, s, p), conv_output_size(h, kw, s, p)
    xd = to_device(x, kernel_device)
    cols = empty((c * kh * kw, n * oh * ow), x.dtype, xd)
    launch("im2col", kernel_name("im2col", "im2col", im2col_version), grid_for(cols.size, xd), BLOCK, xd, cols, n, c,
           h, h, oh, ow, kh, kw, s, s, p, p)
    np.testing.assert_array_equal(to_numpy(cols), im2col(x, (kh, kw), (s, s), (p, p)))
    dcols = rng.standard_normal(cols.shape)
    dx = empty(x.shape, x.dtype, xd)
    launch("im2col", kernel_name("im2col", "col2im", im2col_version), grid_for(dx.size, xd), BLOCK,
           to_device(dcols, kernel_device), dx, n, c, h, h, oh, ow, kh, kw, s, s, p, p)
    np.testing.assert_array_equal(to_numpy(dx), col2im(dcols, x.shape, (kh, kw), (s, s), (p, p)))


def test_a_version_runs_the_newest_rewrite_of_each_kernel():
    from minicnn import kernel_versions
    assert [kernel_name("im2col", "col2im", v) for v in (1, 2, 3)] == ["col2im_v1", "col2im_v2", "col2im_v3"]
    assert [kernel_name("im2col", "im2col", v) for v in (1, 2, 3)] == ["im2col_v1", "im2col_v2", "im2col_v2"]
    assert kernel_name("im2col", "gemm_to_nchw_bias", 3) == "gemm_to_nchw_bias_v2"
    with pytest.raises(ValueError, match="no version of 'im2col' at or below 0"):
        kernel_name("im2col", "im2col", 0)
    # every version of every family names a kernel of its own or an earlier one for each of its kernels
    for family in kernel_versions.VERSIONS:
        for version in kernel_versions.VERSIONS[family]:
            assert any(name.endswith(f"_v{version}") for name in kernel_versions._kernel_names(family))
