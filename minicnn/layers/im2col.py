"""Sliding windows, im2col and col2im: the index arithmetic behind convolution and pooling.

For an input ``x`` of shape (N, C, H, W), a kernel kh x kw, strides (sh, sw) and zero padding
(ph, pw), the output has OH = (H + 2 ph - kh) // sh + 1 rows and OW = (W + 2 pw - kw) // sw + 1
columns (floor mode), and output pixel (oh, ow) sees the padded input pixels

    xpad[n, c, oh * sh + i, ow * sw + j]     for 0 <= i < kh, 0 <= j < kw.

``sliding_windows`` exposes exactly that as a 6-D strided *view* (no copy);
``fold_windows`` is its adjoint: it adds window-shaped values back onto the image, so that a pixel
covered by several overlapping windows (3x3 pooling with stride 2) receives the sum of all of them.
``im2col`` lays the windows out as the columns of a matrix, so that convolution becomes a GEMM:

    cols[(c, i, j), (n, oh, ow)] = xpad[n, c, oh * sh + i, ow * sw + j]
    cols.shape == (C * kh * kw, N * OH * OW)

The row order (c, i, j) matches the flattening of a PyTorch conv weight (out, C, kh, kw), and the
column order (n, oh, ow) puts the whole batch into one GEMM. ``col2im`` is the adjoint of ``im2col``.
Strides and paddings are (h, w) pairs. All functions work on NumPy and CuPy arrays alike;
``im2col_cuda`` and ``col2im_cuda`` run the same with kernels/im2col.cu's kernels.
"""
import math

import numpy as np

from minicnn import cpu_threads, kernel_versions
from minicnn.backend import get_array_module
from minicnn.launch import BLOCK, empty, grid_for, launch


def conv_output_size(size, kernel, stride, pad):
    """Output length along one axis in floor mode: (size + 2 pad - kernel) // stride + 1."""
    return (size + 2 * pad - kernel) // stride + 1


def pad_spatial(x, pad, value=0.0):
    """Return x (N, C, H, W) with (ph, pw) = ``pad`` pixels of ``value`` around H and W."""
    ph, pw = pad
    if ph == 0 and pw == 0:
        return x
    xp = get_array_module(x)
    n, c, h, w = x.shape
    out = xp.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def crop_spatial(x, pad):
    """Inverse of ``pad_spatial``: cut (ph, pw) pixels off each border (contiguous result)."""
    ph, pw = pad
    if ph == 0 and pw == 0:
        return x
    h, w = x.shape[2] - 2 * ph, x.shape[3] - 2 * pw
    return get_array_module(x).ascontiguousarray(x[:, :, ph:ph + h, pw:pw + w])


def sliding_windows(x, kernel, stride):
    """Read-only view (N, C, kh, kw, OH, OW) with win[n, c, i, j, oh, ow] = x[n, c, oh*sh+i, ow*sw+j].

    ``x`` is (N, C, H, W) and already padded. No data is copied: the view re-uses x's memory with
    strides (sN, sC, sH, sW, sH * sh, sW * sw).
    """
    xp = get_array_module(x)
    (kh, kw), (sh, sw) = kernel, stride
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    bn, bc, bh, bw = x.strides
    read_only = {"writeable": False} if xp is np else {}  # CuPy's as_strided has no such flag
    return xp.lib.stride_tricks.as_strided(
        x, shape=(n, c, kh, kw, oh, ow), strides=(bn, bc, bh, bw, bh * sh, bw * sw), **read_only)


def fold_windows(window, kernel, stride, image):
    """Adjoint of ``sliding_windows``: add window-shaped values onto ``image``, in place.

    ``window(i, j)`` returns the (N, C, OH, OW) values at kernel offset (i, j) (for an array
    ``w`` of shape (N, C, kh, kw, OH, OW) that is ``w[:, :, i, j]``; the two leading axes may
    also come in the order (C, N), with ``image`` to match). ``image`` starts as zeros and ends
    with every pixel holding the sum of the window entries that read it; pixels that no window
    reads (the floor-mode remainder) stay zero. Returns ``image``.
    The loop runs over the kh * kw kernel offsets only; each step is one vectorised strided add
    over the whole batch, which is faster than a scatter (``add.at``) and deterministic.
    """
    (kh, kw), (sh, sw) = kernel, stride
    for i in range(kh):
        for j in range(kw):
            values = window(i, j)
            oh, ow = values.shape[2:]
            image[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += values
    return image


def im2col(x, kernel, stride, pad):
    """Unfold x (N, C, H, W) into cols (C*kh*kw, N*OH*OW); see the module docstring for the layout.

    The one copy runs over slices of the batch on all the cores (``minicnn.cpu_threads``)."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    kh, kw = kernel
    win = sliding_windows(pad_spatial(x, pad), kernel, stride)   # (N, C, kh, kw, OH, OW) view
    oh, ow = win.shape[4:]
    rows = win.transpose(1, 2, 3, 0, 4, 5)                       # (C, kh, kw, N, OH, OW) view
    cols = xp.empty(rows.shape, dtype=x.dtype)
    cpu_threads.in_slices(n, lambda s: xp.copyto(cols[:, :, :, s], rows[:, :, :, s]), cols)
    return cols.reshape(c * kh * kw, n * oh * ow)


def col2im(cols, x_shape, kernel, stride, pad):
    """Adjoint of ``im2col``: fold cols (C*kh*kw, N*OH*OW) back into an array of ``x_shape``.

    Entries of overlapping windows add up; the padding border is cut off again. Slices of the
    batch fold on all the cores (``minicnn.cpu_threads``); each pixel's sum is the same, in the
    same order.
    """
    xp = get_array_module(cols)
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    windows = cols.reshape(c, kh, kw, n, oh, ow)
    # Accumulate channel-major (C, N, H, W), the order of cols, so that every strided add reads
    # contiguous memory; one copy at the end gives NCHW without the padding (measured: 2x faster
    # than folding straight into NCHW).
    image = xp.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    inside = image.transpose(1, 0, 2, 3)[:, :, ph:ph + h, pw:pw + w]   # (N, C, H, W) view
    x = xp.empty(x_shape, dtype=cols.dtype)

    def fold(s):
        fold_windows(lambda i, j: windows[:, i, j, s], kernel, stride, image[:, s])
        xp.copyto(x[s], inside[s])

    cpu_threads.in_slices(n, fold, cols)
    return x


# ---- the kernels (kernels/im2col.cu) ----------------------------------------------------------
IM2COL_BAND_TILE = 6144   # values a block of im2col_v4 keeps in shared memory (kernels/im2col.cu)


def im2col_kernel(kernel):
    """The name of im2col.cu's ``kernel`` (im2col, col2im or a layout kernel) in the version
    ``kernel_versions.current("im2col")``: its newest rewrite at or below it (version 3 rewrote
    col2im alone, version 4 im2col alone)."""
    return kernel_versions.kernel_name("im2col", kernel, kernel_versions.current("im2col"))


def im2col_band(out_h, out_w, kernel, stride):
    """(rows, threads) of im2col_v4's blocks. ``rows``: the output rows of a band, as many as give
    each thread of a block of BLOCK one output position (less the up to 31 threads that wait to
    align the stores; a single row wider than that makes a band alone, its threads taking several
    positions each), and no more than fit with their windows' padded input rows, (rows - 1) * sh
    + kh rows of (out_w - 1) * sw + kw values, in IM2COL_BAND_TILE. ``threads``: the block, a
    multiple of 32. (0, 0) when not even one window's rows fit (the layer then runs version 2)."""
    (kh, kw), (sh, sw) = kernel, stride
    fits = IM2COL_BAND_TILE // ((out_w - 1) * sw + kw)   # padded input rows that fit
    if fits < kh:
        return 0, 0
    rows = max(1, min(out_h, (fits - kh) // sh + 1, (BLOCK - 31) // out_w))
    return rows, min(BLOCK, 32 * math.ceil((rows * out_w + 31) / 32))


def im2col_cuda(x, kernel, stride, pad):
    """``im2col`` with the im2col kernel of the current version: cols (C*kh*kw, N*OH*OW) on
    x's device (a CuPy array, or NumPy for the kernel simulator), the same values bit for bit.
    Version 1: a thread per entry of cols; 2: a thread per (channel, column) copies its window;
    4: a block per (plane, band of output rows) copies through shared memory (im2col_band)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    cols = empty((c * kh * kw, n * oh * ow), x.dtype, x)
    geometry = (n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw)
    name = im2col_kernel("im2col")
    rows, threads = im2col_band(oh, ow, kernel, stride) if name == "im2col_v4" else (0, 0)
    if rows:
        launch("im2col", name, (n * c, math.ceil(oh / rows)), threads, x, cols, *geometry, rows)
        return cols
    if name == "im2col_v4":   # too wide for a band in shared memory
        name = "im2col_v2"
    threads = cols.size if name == "im2col_v1" else c * n * oh * ow   # v1: an entry of cols each; v2: a window
    launch("im2col", name, grid_for(threads, x), BLOCK, x, cols, *geometry)
    return cols


def col2im_cuda(cols, x_shape, kernel, stride, pad):
    """``col2im`` with the col2im gather kernel of the current version (a thread per input pixel;
    each version sums in version 1's order, so the result is NumPy's bit for bit)."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    dx = empty(x_shape, cols.dtype, cols)
    launch("im2col", im2col_kernel("col2im"), grid_for(dx.size, cols), BLOCK, cols, dx, n, c, h, w, oh, ow, kh, kw,
           sh, sw, ph, pw)
    return dx
