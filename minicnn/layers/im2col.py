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
column order (n, oh, ow) puts the whole batch into one GEMM. Both also take the columns in the
order (oh, ow, n), the batch last (``batch_last=True``), the layout of the CPU's convolutions
where their stride along W is 1 (``minicnn.layers.conv``). ``col2im`` is the adjoint of ``im2col``.
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


def im2col(x, kernel, stride, pad, batch_last=False):
    """Unfold x (N, C, H, W) into cols (C*kh*kw, N*OH*OW); see the module docstring for the layout.

    With ``batch_last`` the columns come in the order (oh, ow, n), cols (C*kh*kw, OH*OW*N), copied
    from x padded and laid out (C, H, W, N) (one more, small copy): with a stride of 1 along W, a
    window row's OW x N values are then one contiguous run of both arrays, where the order
    (n, oh, ow) copies one output row of OW values at a time (6 in the small AlexNet's conv3-5, too
    few for NumPy's loops to pay for starting). The copies run over slices of the batch (of the
    rows with ``batch_last``) on all the cores (``minicnn.cpu_threads``)."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    kh, kw = kernel
    if not batch_last:
        win = sliding_windows(pad_spatial(x, pad), kernel, stride)   # (N, C, kh, kw, OH, OW) view
        rows = win.transpose(1, 2, 3, 0, 4, 5)                       # (C, kh, kw, N, OH, OW) view
        cols = xp.empty(rows.shape, dtype=x.dtype)
        cpu_threads.in_slices(n, lambda s: xp.copyto(cols[:, :, :, s], rows[:, :, :, s]), cols)
        return cols.reshape(c * kh * kw, -1)
    ph, pw = pad
    image = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)   # padded, (C, H, W, N)
    inside = image[:, ph:ph + h, pw:pw + w]
    channels = x.transpose(1, 2, 3, 0)                                  # (C, H, W, N) view
    cpu_threads.in_slices(h, lambda s: xp.copyto(inside[:, s], channels[:, s]), image)
    win = sliding_windows(image.transpose(0, 3, 1, 2), kernel, stride)  # (C, N, kh, kw, OH, OW) view
    rows = win.transpose(0, 2, 3, 4, 5, 1)                              # (C, kh, kw, OH, OW, N) view
    cols = xp.empty(rows.shape, dtype=x.dtype)
    oh = rows.shape[3]   # slices of the output rows, which conv1's single channel has too
    cpu_threads.in_slices(oh, lambda s: xp.copyto(cols[:, :, :, s], rows[:, :, :, s]), cols)
    return cols.reshape(c * kh * kw, -1)


def col2im(cols, x_shape, kernel, stride, pad, batch_last=False):
    """Adjoint of ``im2col``: fold cols (C*kh*kw, N*OH*OW) back into an array of ``x_shape``.

    Entries of overlapping windows add up; the padding border is cut off again. With
    ``batch_last`` the columns come in the order (oh, ow, n), cols (C*kh*kw, OH*OW*N): the layout
    in which ``conv_backward`` computes the columns' gradient on the CPU. Either way every pixel
    adds its window entries in the same order (kernel offset by offset, from zero), so the two
    give the same values bit for bit. Slices of the channels fold on all the cores
    (``minicnn.cpu_threads``).
    """
    xp = get_array_module(cols)
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    hp, wp = h + 2 * ph, w + 2 * pw
    # Accumulate channel-major, the order of cols, so that every strided add reads contiguous
    # memory; one copy at the end gives NCHW without the padding (measured: 2x faster than
    # folding straight into NCHW). Both arrays are seen as (C, N, ., .) views; with the batch
    # last in memory, NumPy's loops run over a window row's OW * N values at once, where with the
    # batch first a loop covers one row of OW values (13 in AlexNet's conv3-5, 6 in the small
    # AlexNet's), and the fold takes half the time or less (measured on both networks' layers).
    if batch_last:
        windows = cols.reshape(c, kh, kw, oh, ow, n).transpose(0, 1, 2, 5, 3, 4)
        image = xp.zeros((c, hp, wp, n), dtype=cols.dtype).transpose(0, 3, 1, 2)
    else:
        windows = cols.reshape(c, kh, kw, n, oh, ow)
        image = xp.zeros((c, n, hp, wp), dtype=cols.dtype)
    inside = image.transpose(1, 0, 2, 3)[:, :, ph:ph + h, pw:pw + w]   # (N, C, H, W) view
    x = xp.empty(x_shape, dtype=cols.dtype)

    def fold(s):
        fold_windows(lambda i, j: windows[s, i, j], kernel, stride, image[s])
        xp.copyto(x[:, s], inside[:, s])

    cpu_threads.in_slices(c, fold, cols)
    return x


# ---- the kernels (kernels/im2col.cu) ----------------------------------------------------------
IM2COL_BAND_TILE = 6144   # values a block of im2col_v4 or v5 keeps in shared memory (kernels/im2col.cu)
LAYOUT_V7_PIXELS = 4      # pixels a thread of the layout kernels' version 7 (kernels/im2col.cu)
BANKS = 32                # shared memory's banks of 4-byte words


def im2col_kernel(kernel):
    """The name of im2col.cu's ``kernel`` (im2col, col2im or a layout kernel) in the version
    ``kernel_versions.current("im2col")``: its newest rewrite at or below it (version 3 rewrote
    col2im alone, versions 4 and 5 im2col alone)."""
    return kernel_versions.kernel_name("im2col", kernel, kernel_versions.current("im2col"))


def im2col_band_layout(out_w, kernel, stride):
    """(row_w, group) of im2col_v5's band in shared memory: its padded input rows split by column
    phase (w mod sw) into rows of ``row_w`` = sw * ceil(band_w / sw) values, and grouped by row
    phase (h mod sh), sh rows to a group of ``group`` values, the least >= sh * row_w that is
    out_w mod 32, so that the threads of a warp read consecutive banks across output rows."""
    kw, (sh, sw) = kernel[1], stride
    row_w = sw * -(-((out_w - 1) * sw + kw) // sw)
    return row_w, sh * row_w + (out_w - sh * row_w) % BANKS


def im2col_band_values(rows, out_w, kernel, stride, version):
    """Values of shared memory that a band of ``rows`` output rows takes in im2col ``version`` 4
    (its (rows - 1) * sh + kh padded input rows of (out_w - 1) * sw + kw values, one after
    another) or 5 (the same rows in im2col_band_layout's groups)."""
    (kh, kw), (sh, sw) = kernel, stride
    band_h = (rows - 1) * sh + kh
    if version == 4:
        return band_h * ((out_w - 1) * sw + kw)
    row_w, group = im2col_band_layout(out_w, kernel, stride)
    return (band_h - 1) // sh * group + ((band_h - 1) % sh + 1) * row_w


def im2col_band(out_h, out_w, kernel, stride, version=4):
    """(rows, threads) of the blocks of im2col ``version`` 4 or 5. ``rows``: the output rows of a
    band, as many as give each thread of a block of BLOCK one output position (less the up to 31
    threads that wait to align the stores; a single row wider than that makes a band alone, its
    threads taking several positions each), and no more than fit with their windows' padded
    input rows in IM2COL_BAND_TILE values (im2col_band_values). ``threads``: the block, a
    multiple of 32. (0, 0) when not even one window's rows fit (the layer then runs version 2)."""
    rows = max(1, min(out_h, (BLOCK - 31) // out_w))
    while rows and im2col_band_values(rows, out_w, kernel, stride, version) > IM2COL_BAND_TILE:
        rows -= 1
    if rows == 0:
        return 0, 0
    return rows, min(BLOCK, 32 * math.ceil((rows * out_w + 31) / 32))


def im2col_cuda(x, kernel, stride, pad):
    """``im2col`` with the im2col kernel of the current version: cols (C*kh*kw, N*OH*OW) on
    x's device (a CuPy array, or NumPy for the kernel simulator), the same values bit for bit.
    Version 1: a thread per entry of cols; 2: a thread per (channel, column) copies its window;
    4: a block per (plane, band of output rows) copies through shared memory (im2col_band); 5:
    the same with the band laid out without bank conflicts (im2col_band_layout)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    cols = empty((c * kh * kw, n * oh * ow), x.dtype, x)
    geometry = (n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw)
    name = im2col_kernel("im2col")
    banded = {"im2col_v4": 4, "im2col_v5": 5}.get(name)
    rows, threads = im2col_band(oh, ow, kernel, stride, banded) if banded else (0, 0)
    if rows:
        layout = (im2col_band_layout(ow, kernel, stride)[1],) if banded == 5 else ()
        launch("im2col", name, (n * c, math.ceil(oh / rows)), threads, x, cols, *geometry, rows, *layout)
        return cols
    if banded:   # too wide for a band in shared memory
        name = "im2col_v2"
    threads = cols.size if name == "im2col_v1" else c * n * oh * ow   # v1: an entry of cols each; v2: a window
    launch("im2col", name, grid_for(threads, x), BLOCK, x, cols, *geometry)
    return cols


COL2IM_BAND_BYTES = 36864   # shared memory of a block of col2im_v5 (kernels/im2col.cu)


def col2im_band(height, width, out_w, kernel, stride, itemsize):
    """(rows, threads, slot) of col2im_v5's blocks for values of ``itemsize`` bytes. ``rows``: the
    input rows of a band, as many as give each thread of a block of BLOCK one pixel (at least
    one row), and no more than let the kh * kw slots of cols entries fit in COL2IM_BAND_BYTES.
    ``slot``: the values a window offset's entries take in shared memory, ceil(rows / sh) output
    rows of out_w, and for a stride sw > 1 that divides 32, padded to 32 / sw (mod 32) so that a
    warp's reads fall in distinct banks. ``threads``: the block, a multiple of 32. (0, 0, 0) when
    one row's entries do not fit (the layer then runs version 3)."""
    (kh, kw) = kernel
    rows = max(1, min(height, BLOCK // width))
    while rows and kh * kw * col2im_band_slot(rows, out_w, stride) * itemsize > COL2IM_BAND_BYTES:
        rows -= 1
    if rows == 0:
        return 0, 0, 0
    return rows, min(BLOCK, 32 * math.ceil((rows * width + 31) / 32)), col2im_band_slot(rows, out_w, stride)


def col2im_band_slot(rows, out_w, stride):
    """The values of shared memory that one window offset's cols entries take in a col2im_v5 band of
    ``rows`` input rows (col2im_band)."""
    sh, sw = stride
    entries = -(-rows // sh) * out_w
    return entries + (BANKS // sw - entries) % BANKS if sw > 1 and BANKS % sw == 0 else entries


COL2IM_SIDES = (2, 3, 4, 5)   # the window sides col2im_v6 is instantiated for (with_col2im_side, kernels/im2col.cu)


def col2im_side(kernel, stride):
    """The most windows that cover a pixel along either axis, ceil(kernel / stride): the side of
    the square of windows whose entries col2im_v6 loads for each pixel (5 for conv2's 5 x 5
    windows at stride 1, 3 for conv1's 11 x 11 at stride 4 and for conv3-5)."""
    return max(-(-k // s) for k, s in zip(kernel, stride))


def col2im_cuda(cols, x_shape, kernel, stride, pad):
    """``col2im`` with the col2im kernel of the current version (each version sums in version 1's
    order, so the result is NumPy's bit for bit). Versions 1-3: a thread per input pixel gathers
    its windows' entries from cols; 5: a block per (plane, band of input rows) copies the band's
    entries to shared memory first (col2im_band); 6: version 3's gather with every entry loaded
    before any is added, for window sides (col2im_side) of COL2IM_SIDES (else version 3)."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    dx = empty(x_shape, cols.dtype, cols)
    geometry = (n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw)
    name = im2col_kernel("col2im")
    if name == "col2im_v6" and col2im_side(kernel, stride) not in COL2IM_SIDES:
        name = "col2im_v3"
    if name == "col2im_v5":
        rows, threads, slot = col2im_band(h, w, ow, kernel, stride, cols.dtype.itemsize)
        if rows:
            launch("im2col", name, (n * c, math.ceil(h / rows)), threads, cols, dx, *geometry, rows, slot)
            return dx
        name = "col2im_v3"   # one input row's entries do not fit in shared memory
    launch("im2col", name, grid_for(dx.size, cols), BLOCK, cols, dx, *geometry)
    return dx
