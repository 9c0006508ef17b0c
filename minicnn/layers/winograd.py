"""Winograd's minimal filtering F(2x2, 3x3): a 3x3 convolution of stride 1 with 2.25x fewer
multiplications than im2col's GEMM (Lavin and Gray, "Fast Algorithms for Convolutional Neural
Networks", 2016; the algorithm cuDNN and oneDNN pick for such layers).

In one dimension, two outputs of a 3-tap filter g over four inputs d,

    y0 = d0 g0 + d1 g1 + d2 g2        y1 = d1 g0 + d2 g1 + d3 g2        (6 multiplications)

are also y = A^T [(G g) * (B^T d)] with the 4 products of the element-wise ``*``, where

    B^T = [[1, 0, -1, 0],     G = [[1,    0,    0  ],     A^T = [[1, 1,  1,  0],
           [0, 1,  1, 0],          [1/2,  1/2,  1/2],            [0, 1, -1, -1]]
           [0, -1, 1, 0],          [1/2, -1/2,  1/2],
           [0, 1,  0, -1]]         [0,    0,    1  ]]

Where the matrices come from (Toom-Cook's algorithm; ``tests/test_winograd.py`` builds them and
finds the ones above, up to the signs of some rows): the filter and the data are polynomials whose
product's coefficients hold the outputs. G evaluates the filter's polynomial at the points 0, 1, -1
and infinity (its leading coefficient), each row divided by its point's Lagrange weight, B^T turns
the data into the values those evaluations multiply, and A^T interpolates the product back, row j
reading the points' j-th powers. Other points give other F(m, r): m + r - 1 of them for m outputs
of r taps.

Nested over rows and columns, a 2x2 tile of outputs needs a 4x4 tile of inputs d and 16 products:

    Y = A^T [U * V] A,     U = G g G^T (the filter's transform),   V = B^T d B (the tile's).

Summed over the input channels c, the products at each of the 16 positions xi of a tile are a
GEMM: M[xi] (O, T) = U[xi] (O, C) @ V[xi] (C, T) over all T tiles of the batch. So a convolution
is three steps: transform the input tiles (adds and subtracts only: B's entries are 0 and +-1),
16 GEMMs of C multiply-adds per output of a tile position against im2col's 9 per output pixel
(16 / 4 = 4 per output: 2.25x fewer), and transform the results back (adds and subtracts again).
The tiles of the input overlap by 2 pixels; those of the output do not, and an output of odd
height or width computes one row or column more, thrown away.

The backward passes are the adjoints of those same linear maps, so they reuse the same GEMMs' shape
and the same transforms read backwards: with Z = A dY A^T the output gradient's tiles,

    dU[xi] = Z[xi] @ V[xi]^T,  dg = G^T dU G       dV[xi] = U[xi]^T @ Z[xi],  dd = B dV B^T,

and dd's overlapping tiles add up onto the input gradient. Groups split the GEMMs as im2col's do.

Layout: the CPU's arrays keep the batch last, (C, H, W, N), like im2col's ``batch_last`` columns,
so that every add and subtract of the transforms runs over contiguous runs of N values or more;
a tile position's values are V[xi] (C, TY, TX, N), its columns in the order (ty, tx, n).
The rounding differs from im2col's (the products are of transformed values), by as little: the
forward's relative error against float64 is about 6e-7 in float32 on AlexNet's conv3.

Why 2x2 tiles: larger ones multiply less (F(4x4, 3x3): 36 products per 16 outputs, 2.25 a pixel
against 4), but the points 2 and -2 they need put coefficients other than 0 and +-1 into B^T and
A^T, which NumPy applies in a pass over memory each, and their float32 error grows (about 2e-6 of
the largest output against 2e-7). A NumPy version of these functions for any F(m, r), timed on the
README's 2-core CPU (2026-12-05, an Intel Xeon, batch 32, forward / backward in ms), took on conv3,
conv4 and conv5 by F(2x2, 3x3) 34 / 57, 36 / 60 and 29 / 49, by F(3x3, 3x3) 37 / 58, 43 / 64 and
35 / 54, by F(4x4, 3x3) 45 / 64, 52 / 73 and 43 / 61. conv2's 5x5 window keeps im2col: F(2x2, 5x5),
and four 3x3 pieces by F(2x2, 3x3), ran slower (README, the CPU's version 9).
"""
import numpy as np

from minicnn import cpu_threads, gemm, kernel_versions
from minicnn.backend import get_array_module
from minicnn.launch import BLOCK, empty, grid_for, launch
from minicnn.layers.bias import bias_grad_cuda

B_T = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))   # input transform, 4 x 4
G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))       # filter transform, 4 x 3
A_T = ((1, 1, 1, 0), (0, 1, -1, -1))                                 # output transform, 2 x 4
CHANNEL_BLOCK = 32  # channels a transform takes at a time, its temporaries then nearer the cores
                    # (AlexNet's conv3 at batch 32: the four transforms 7.0-7.8 ms against 8.0-9.7
                    # in slices of 64 channels or more; blocks of 8 took 8.7-13.4)
TILE = 4    # input tile (and transform) size
OUT = 2     # outputs per tile along each axis

MIN_TILES = 512       # the CPU's convolutions take F(2x2, 3x3) from this many tiles in the batch
MIN_CHANNELS = 128    # and this many input channels per group: fewer make 16 GEMMs too small to
                      # gain (measured forward+backward against im2col, 2 cores, in turns: AlexNet's
                      # conv5 at batch 16, 784 tiles, 1.23x, at batch 8 0.97x, at batch 2 0.44x; the
                      # small AlexNet's conv3 (48 channels) at batch 64 0.72x, at batch 256 1.07x)
GPU_MIN_CHANNELS = 256  # on the GPU (kernels/winograd.cu and cuBLAS's 16 GEMMs a group), from this
                        # many: on an H200 at batch 128, AlexNet's conv3 (256 channels, one group)
                        # forward+backward 2.34 ms against im2col's 2.64, conv4 and conv5 (192 a
                        # group, two groups) 6.03 and 3.10 against 2.36 and 1.74, cuBLAS running
                        # their smaller GEMMs at 21-34% of its rate where conv3's ran at 58-59% (a call
                        # per GEMM then; minicnn.gemm now makes the 16 G one strided-batched call, untimed)


def transposed(matrix):
    return tuple(zip(*matrix))


def kron_g(dtype):
    """kron(G, G), (16, 9): row 4 a + b holds G[a, i] G[b, j] at column 3 i + j, so that it maps a
    filter's 9 taps to its transform U = G g G^T, one GEMM for all the filters."""
    g = np.asarray(G, dtype=dtype)
    return np.kron(g, g)


def applies(kernel, stride):
    """Whether F(2x2, 3x3) computes a convolution of this ``kernel`` and ``stride`` ((h, w)
    pairs): 3x3 of stride 1 (any padding, any groups)."""
    return tuple(kernel) == (3, 3) and tuple(stride) == (1, 1)


def pays(x_shape, kernel, stride, pad, groups, on_gpu=False):
    """Whether Conv2D computes a convolution of x (N, C, H, W) by F(2x2, 3x3) rather than im2col,
    on the CPU or (``on_gpu``) by the kernels: where it ``applies`` and its GEMMs are large enough
    (MIN_TILES, and MIN_CHANNELS or GPU_MIN_CHANNELS)."""
    n, c, h, w = x_shape
    if not applies(kernel, stride) or c // groups < (GPU_MIN_CHANNELS if on_gpu else MIN_CHANNELS):
        return False
    ty, tx = tiles(h + 2 * pad[0] - 2, w + 2 * pad[1] - 2)
    return n * ty * tx >= MIN_TILES


def tiles(out_h, out_w):
    """(TY, TX): the 2x2 output tiles that cover an out_h x out_w output."""
    return -(-out_h // OUT), -(-out_w // OUT)


def in_blocks(work):
    """``work`` over a slice of channels, CHANNEL_BLOCK at a time."""
    def blocked(s):
        for start in range(s.start, s.stop, CHANNEL_BLOCK):
            work(slice(start, min(start + CHANNEL_BLOCK, s.stop)))
    return blocked


def combine(coefficients, terms, out, accumulate=False):
    """out = sum_k coefficients[k] * terms[k] (or out += that, with ``accumulate``) for
    coefficients in {-1, 0, 1}: NumPy's add and subtract only, the first two terms in one pass."""
    pairs = [(c, t) for c, t in zip(coefficients, terms) if c]
    if any(c not in (-1, 1) for c, _ in pairs):
        raise ValueError(f"combine: coefficients must be -1, 0 or 1, got {coefficients}")
    if not accumulate:
        (c0, t0), pairs = pairs[0], pairs[1:]
        if pairs and c0 == 1:
            (c1, t1), pairs = pairs[0], pairs[1:]
            (np.add if c1 == 1 else np.subtract)(t0, t1, out=out)
        elif pairs and pairs[0][0] == 1:   # -t0 + t1
            (_, t1), pairs = pairs[0], pairs[1:]
            np.subtract(t1, t0, out=out)
        else:
            np.multiply(t0, c0, out=out)
    for c, t in pairs:
        (np.add if c == 1 else np.subtract)(out, t, out=out)
    return out


def filter_transform(w, groups):
    """U = G g G^T for every filter: w (O, C/G, 3, 3) to U (16, G, O/G, C/G), the GEMMs' left
    operands (a tile position xi = 4 a + b first). One GEMM: U[4 a + b] = sum_ij G[a, i] G[b, j]
    g[i, j] is the Kronecker product of G with itself (16 x 9) applied to the 9 taps of every
    filter (the O x C/G little products g @ G^T, one NumPy call each way, took 20 ms for conv3)."""
    o, cg = w.shape[:2]
    return (kron_g(w.dtype) @ w.reshape(o * cg, 9).T).reshape(TILE * TILE, groups, o // groups, cg)


def filter_transform_adjoint(du):
    """dg = G^T dU G: dU (16, G, O/G, C/G) to dw (O, C/G, 3, 3), the Kronecker product's
    transpose applied to every filter's 16 values."""
    _, groups, og, cg = du.shape
    return (du.reshape(TILE * TILE, -1).T @ kron_g(du.dtype)).reshape(groups * og, cg, 3, 3)


def input_transform(x, pad, tile_counts):
    """V = B^T d B for every 4x4 input tile: x (N, C, H, W) to V (4, 4, C, TY, TX, N), the GEMMs'
    right operands. The image is first padded and laid out (C, H', W', N), H' = 2 TY + 2 rows
    (the padding, plus a row of zeros for an odd output height; columns alike); its tiles start
    every 2 pixels. Rows are combined first, over slices of the channels on all the cores."""
    n, c, h, w = x.shape
    ty, tx = tile_counts
    ph, pw = pad
    image = np.zeros((c, OUT * ty + 2, OUT * tx + 2, n), dtype=x.dtype)
    inside = image[:, ph:ph + h, pw:pw + w]
    channels = x.transpose(1, 2, 3, 0)
    v = np.empty((TILE, TILE, c, ty, tx, n), dtype=x.dtype)

    def transform(s):
        np.copyto(inside[s], channels[s])
        part = image[s]
        rows = np.empty((TILE,) + part[:, :OUT * ty:OUT].shape, dtype=x.dtype)   # (4, c, TY, W', N)
        tile_rows = [part[:, i:i + OUT * ty:OUT] for i in range(TILE)]
        for a in range(TILE):
            combine(B_T[a], tile_rows, rows[a])
        tile_columns = [rows[:, :, :, j:j + OUT * tx:OUT] for j in range(TILE)]   # (4, c, TY, TX, N)
        for b in range(TILE):
            combine(B_T[b], tile_columns, v[:, b, s])

    cpu_threads.in_slices(c, in_blocks(transform), image)
    return v


def input_transform_adjoint(dv, x_shape, pad):
    """The input gradient from dV (4, 4, C, TY, TX, N): dd = B dV B^T for every tile, the tiles'
    overlapping values added up on the padded image, which is then cut to x_shape (N, C, H, W)."""
    n, c, h, w = x_shape
    _, _, _, ty, tx, _ = dv.shape
    ph, pw = pad
    b = transposed(B_T)
    dx = np.empty(x_shape, dtype=dv.dtype)
    channels = dx.transpose(1, 2, 3, 0)

    def fold(s):
        # tile offsets 0 and 1 write every second pixel each, together all but the last two
        # rows (columns), which start at zero; offsets 2 and 3 then add onto them
        cs = len(range(c)[s])
        rows = np.empty((TILE, cs, ty, OUT * tx + 2, n), dtype=dv.dtype)   # (4, c, TY, W', N)
        rows[:, :, :, OUT * tx:] = 0
        for j in range(TILE):   # columns: each tile column j onto the image columns 2 tx + j
            combine(b[j], [dv[:, k, s] for k in range(TILE)], rows[:, :, :, j:j + OUT * tx:OUT], accumulate=j >= OUT)
        image = np.empty((cs, OUT * ty + 2, OUT * tx + 2, n), dtype=dv.dtype)
        image[:, OUT * ty:] = 0
        for i in range(TILE):   # rows: each tile row i onto the image rows 2 ty + i
            combine(b[i], rows, image[:, i:i + OUT * ty:OUT], accumulate=i >= OUT)
        np.copyto(channels[s], image[:, ph:ph + h, pw:pw + w])

    cpu_threads.in_slices(c, in_blocks(fold), dv)
    return dx


def output_transform(m, out_shape, bias, relu):
    """Y = A^T M A for every tile: M (4, 4, O, TY, TX, N) to y (N, O, OH, OW) = out_shape, plus
    ``bias`` (O,) or None, then max(., 0) with ``relu``. Over slices of the output channels on all
    the cores, each slice put in NCHW while it is still in the cache."""
    n, o, oh, ow = out_shape
    _, _, _, ty, tx, _ = m.shape
    y = np.empty(out_shape, dtype=m.dtype)

    def transform(s):
        half = np.empty((OUT, TILE) + m[0, 0, s].shape, dtype=m.dtype)      # (2, 4, o, TY, TX, N)
        for a in range(OUT):
            combine(A_T[a], m[:, :, s], half[a])
        tiled = np.empty(half.shape[2:4] + (OUT,) + half.shape[4:5] + (OUT, n), dtype=m.dtype)
        for a in range(OUT):   # (o, TY, 2, TX, 2, N): the output pixels (2 ty + a, 2 tx + b)
            for b in range(OUT):
                combine(A_T[b], half[a], tiled[:, :, a, :, b])
        pixels = tiled.reshape(tiled.shape[0], OUT * ty, OUT * tx, n)[:, :oh, :ow].transpose(3, 0, 1, 2)
        out = y[:, s]
        if bias is None:
            np.copyto(out, pixels)
        else:
            np.add(pixels, bias[s].reshape(-1, 1, 1), out=out)
        if relu:
            np.maximum(out, 0, out=out)

    cpu_threads.in_slices(o, in_blocks(transform), m)
    return y


def output_transform_adjoint(dout, tile_counts):
    """Z = A dY A^T for every 2x2 tile of dout (N, O, OH, OW), zero past its edges: Z (4, 4, O,
    TY, TX, N), laid out as the forward's M."""
    n, o, oh, ow = dout.shape
    ty, tx = tile_counts
    a = transposed(A_T)
    z = np.empty((TILE, TILE, o, ty, tx, n), dtype=dout.dtype)

    def transform(s):
        tiled = np.zeros((len(range(o)[s]), ty, OUT, tx, OUT, n), dtype=dout.dtype)
        np.copyto(tiled.reshape(tiled.shape[0], OUT * ty, OUT * tx, n)[:, :oh, :ow], dout[:, s].transpose(1, 2, 3, 0))
        half = np.empty((TILE,) + tiled[:, :, 0].shape, dtype=dout.dtype)   # (4, o, TY, TX, 2, N)
        for i in range(TILE):
            combine(a[i], [tiled[:, :, k] for k in range(OUT)], half[i])
        for j in range(TILE):
            combine(a[j], [half[..., k, :] for k in range(OUT)], z[:, j, s])

    cpu_threads.in_slices(o, in_blocks(transform), dout)
    return z


def conv_forward(x, w, b, pad, groups, relu=False):
    """``minicnn.layers.conv.conv_forward`` for a 3x3 kernel of stride 1 (``applies``), by
    F(2x2, 3x3): y (N, O, OH, OW) and the cache for ``conv_backward``: the filters' and the
    input's transforms (U and V, V smaller than im2col's columns: 16 values per 4 output pixels
    against 9 per pixel)."""
    n, c, h, wid = x.shape
    o = w.shape[0]
    oh, ow = h + 2 * pad[0] - 2, wid + 2 * pad[1] - 2
    tile_counts = tiles(oh, ow)
    u = filter_transform(w, groups)                                            # (16, G, O/G, C/G)
    v = input_transform(x, pad, tile_counts)                                   # (4, 4, C, TY, TX, N)
    m = np.matmul(u, v.reshape(TILE * TILE, groups, c // groups, -1))         # 16 x G GEMMs
    y = output_transform(m.reshape((TILE, TILE, o) + v.shape[3:]), (n, o, oh, ow), b, relu)
    return y, (x.shape, w, u, v, pad, groups, b is not None, y if relu else None)


def conv_backward(dout, cache, param_grads=True, input_grad=True):
    """``minicnn.layers.conv.conv_backward`` after ``conv_forward``: (dx, dw, db), each None
    where ``conv_backward`` gives None."""
    x_shape, w, u, v, pad, groups, has_bias, relu_out = cache
    if relu_out is not None:
        dout = dout * (relu_out > 0)
    o = dout.shape[1]
    z = output_transform_adjoint(dout, v.shape[3:5])                              # (4, 4, O, TY, TX, N)
    z_groups = z.reshape(TILE * TILE, groups, o // groups, -1)
    dw = db = dx = None
    if param_grads:
        v_groups = v.reshape(TILE * TILE, groups, v.shape[2] // groups, -1)
        du = np.matmul(z_groups, v_groups.transpose(0, 1, 3, 2))                  # (16, G, O/G, C/G)
        dw = filter_transform_adjoint(du).astype(w.dtype, copy=False)
        db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    if input_grad:
        dv = np.matmul(u.transpose(0, 1, 3, 2), z_groups)                         # (16, G, C/G, T)
        dx = input_transform_adjoint(dv.reshape(v.shape), x_shape, pad)
    return dx, dw, db


# ---- the kernels (kernels/winograd.cu) --------------------------------------------------------
PLANE_VALUES = 6112   # kernels/winograd.cu's WINOGRAD_PLANE_VALUES: what a block of version 2 keeps in shared memory


def images_per_block(n, plane_tiles, values_per_image):
    """How many images' planes of a channel a block of version 2 of the transforms takes: enough
    for about a block of threads a tile each (BLOCK // plane_tiles, at least 1), no more than
    PLANE_VALUES hold at ``values_per_image`` values an image, nor than the batch's ``n``; 0 where
    one image's do not fit (its layer then launches version 1's kernel)."""
    if values_per_image > PLANE_VALUES:
        return 0
    return min(n, max(1, BLOCK // plane_tiles), PLANE_VALUES // values_per_image)


def phased_pitch(width, tiles_w):
    """The row pitch, in values, of version 2's planes in shared memory, rows of ``width`` values
    kept by column phase: the least at or above ``width`` for which two rows, the step from one
    row of tiles to the next, span ``tiles_w`` banks (rounded up to even; modulo 32). A warp's
    tiles (ty, tx), consecutive in tx and then ty, 1 bank apart along a row by phase, then take
    the banks (tiles_w rounded up) ty + tx modulo 32, each its own where the warp spans few rows
    of tiles (conv3-5's 13 x 13 maps, 7 x 7 tiles: 16 values a row, pitch 20, banks 8 ty + tx)."""
    target = (tiles_w + tiles_w % 2) % 32 // 2   # pitch modulo 16
    return width + (target - width) % 16


def transform_version(images):
    """The version of kernels/winograd.cu's transforms to launch: ``kernel_versions.current("winograd")``,
    but 1 where version 2's block cannot hold one image's planes (``images`` from
    ``images_per_block`` is 0)."""
    return 2 if kernel_versions.current("winograd") >= 2 and images else 1


def _kron(like):
    """``kron_g`` as a (1, 16, 9) stack on ``like``'s device, in its dtype."""
    return get_array_module(like).asarray(kron_g(like.dtype)[None])


def conv_forward_cuda(x, w, b, pad, groups, relu=False):
    """Kernel path of ``conv_forward`` (same arguments; the cache for ``conv_backward_cuda``):
    kernels/winograd.cu's input and output transforms (version 1 a thread per tile, version 2 a
    block per channel and group of images: ``transform_version``) around 16 x G GEMMs
    (``minicnn.gemm``); the filters' transform is a GEMM by kron(G, G). The tiles are ordered
    (n, ty, tx), the GPU's arrays being NCHW."""
    n, c, h, wid = x.shape
    o, cg = w.shape[:2]
    oh, ow = h + 2 * pad[0] - 2, wid + 2 * pad[1] - 2
    ty, tx = tiles(oh, ow)
    count = n * ty * tx
    u = gemm.matmul(_kron(w), w.reshape(1, o * cg, 9), trans_b=True).reshape(TILE * TILE * groups, o // groups, cg)
    v = empty((TILE * TILE, c, count), x.dtype, x)
    pitch = phased_pitch(2 * tx + 2, tx)   # the padded rows its tiles read
    images = images_per_block(n, ty * tx, (2 * ty + 2) * pitch)
    if transform_version(images) == 2:
        launch("winograd", "winograd_input_v2", (-(-n // images), c), BLOCK, x, v, n, c, h, wid, *pad, ty, tx, images,
               pitch)
    else:
        launch("winograd", "winograd_input_v1", grid_for(c * count, x), BLOCK, x, v, n, c, h, wid, *pad, ty, tx)
    m = gemm.matmul(u, v.reshape(TILE * TILE * groups, c // groups, count))    # (16 G, O/G, T)
    y = empty((n, o, oh, ow), x.dtype, x)
    bias = b if b is not None else get_array_module(x).zeros(o, dtype=x.dtype)
    pitch = phased_pitch(ow, tx)
    images = images_per_block(n, ty * tx, oh * pitch)
    if transform_version(images) == 2:
        launch("winograd", "winograd_output_v2", (-(-n // images), o), BLOCK, m, bias, y, n, o, oh, ow, ty, tx,
               int(relu), images, pitch)
    else:
        launch("winograd", "winograd_output_v1", grid_for(o * count, x), BLOCK, m, bias, y, n, o, oh, ow, ty, tx,
               int(relu))
    return y, (x.shape, w, u, v, pad, groups, b is not None, y if relu else None)


def conv_backward_cuda(dout, cache, param_grads=True, input_grad=True):
    """Kernel path of ``conv_backward`` after ``conv_forward_cuda``. The bias gradient: version 1
    sums Z's position (1, 1), which is the sum of each tile's four values of dL/dy (A's row 1 is
    (1, 1)), the fused ReLU's mask applied; version 2's output gradient sums the masked dL/dy of
    each block as it reads it, and a column sum adds each channel's blocks' sums."""
    x_shape, w, u, v, pad, groups, has_bias, relu_out = cache
    n, o, oh, ow = dout.shape
    _, c, count = v.shape
    ty, tx = tiles(oh, ow)
    z = empty((TILE * TILE, o, count), dout.dtype, dout)
    y, relu = dout if relu_out is None else relu_out, int(relu_out is not None)   # y is not read without relu
    pitch = phased_pitch(ow, tx)
    images = images_per_block(n, ty * tx, oh * pitch)
    bias_sums = None   # version 2's sums of each block's masked dL/dy, (blocks a channel, O)
    if transform_version(images) == 2:
        bias_sums = empty((-(-n // images), o), dout.dtype, dout)
        launch("winograd", "winograd_output_grad_v2", (-(-n // images), o), BLOCK, dout, y, z, bias_sums, n, o, oh,
               ow, ty, tx, relu, images, pitch)
    else:
        launch("winograd", "winograd_output_grad_v1", grid_for(o * count, dout), BLOCK, dout, y, z, n, o, oh, ow,
               ty, tx, relu)
    z_groups = z.reshape(TILE * TILE * groups, o // groups, count)
    dw = db = dx = None
    if param_grads:
        du = gemm.matmul(z_groups, v.reshape(TILE * TILE * groups, c // groups, count), trans_b=True)
        dw = gemm.matmul(du.reshape(1, TILE * TILE, -1), _kron(du), trans_a=True).reshape(w.shape)
        if has_bias:   # version 2's blocks' sums added up by channel (the column sums), else Z's (1, 1)
            db = (bias_grad_cuda(bias_sums, bias_sums.shape[0], o, 1) if bias_sums is not None
                  else bias_grad_cuda(z[TILE * 1 + 1], 1, o, count))
    if input_grad:
        dv = gemm.matmul(u, z_groups, trans_a=True)                                # (16 G, C/G, T)
        dx = empty(x_shape, dout.dtype, dout)
        images = images_per_block(n, ty * tx, TILE * TILE * ty * tx)   # each tile's 4 x 4 of dL/dx's padded planes
        if transform_version(images) == 2:
            launch("winograd", "winograd_input_grad_v2", (-(-n // images), c), BLOCK, dv, dx, *x_shape, *pad, ty, tx,
                   images)
        else:
            blocks = n * c * (ty + 1) * (tx + 1)   # of 2 x 2 pixels of the padded image
            launch("winograd", "winograd_input_grad_v1", grid_for(blocks, dout), BLOCK, dv, dx, *x_shape, *pad, ty,
                   tx)
    return dx, dw, db
