"""2-D convolution (cross-correlation, like every framework) by im2col + one GEMM per group.

Shapes (PyTorch's; README.md, "Conventions"):
    x (N, C, H, W)   w (O, C/G, kh, kw)   b (O,)   y (N, O, OH, OW)
    y[n, o] = b[o] + sum_{c in group(o), i, j} w[o, c, i, j] * xpad[n, c, oh*s + i, ow*s + j]

Groups G split the C input channels and the O filters into G equal, independent parts: filter o
reads only the C/G channels of its group. AlexNet's conv2, conv4 and conv5 use G = 2, which is
exactly the two-GPU split of the paper run on one device (each tower sees only its own maps).

``Conv2D`` computes a 3x3 convolution of stride 1 whose GEMMs are large enough by Winograd's
F(2x2, 3x3) instead (``minicnn/layers/winograd.py``, ``Conv2D.algorithm``): the same
convolution with 2.25x fewer multiply-adds; and on the CPU one of stride 1 with a window of 5x5
or more, enough channels and images, by the FFT (``minicnn/layers/fft.py``): a GEMM per frequency,
9.5x fewer multiply-adds on AlexNet's conv2. On the CPU, im2col runs image by image where the maps
are large (``conv_forward_by_image``, AlexNet's conv1): each image's columns stay in the caches.
"""
import math

import numpy as np

from minicnn import cpu_threads, gemm, kernel_versions
from minicnn.backend import get_array_module
from minicnn.launch import BLOCK, REDUCE_BLOCK, empty, grid_for, launch, plane_tiles
from minicnn.layers import fft, winograd
from minicnn.layers.base import Layer, Param, check_flag, check_float_dtype, check_positive_int, check_rng, pair
from minicnn.layers.bias import bias_grad_cuda
from minicnn.layers.im2col import (LAYOUT_V7_PIXELS, col2im, col2im_cuda, conv_output_size, im2col, im2col_cuda,
                                   im2col_kernel, sliding_windows)


SHORT_ROW = 16   # output rows of fewer values than this are copied faster batch last
MIN_IMAGE_PIXELS = 1024   # the CPU's im2col convolutions run image by image from this many output
                          # pixels an image (columns_by_image). Measured on 2 cores against the batch's
                          # columns, forward and backward: AlexNet's conv1 at batch 32 1.12x, torchvision's
                          # at 64 1.14x; 3x3 ones over 56 x 56 maps at batch 16 with 8 to 96 input
                          # channels 1.00x-1.23x (64 channels once 0.90x, then 1.05x), over 32 x 32 with
                          # 64 at batch 64 0.90x, 1.23x and 1.06x in three runs; below, no gain shows
                          # (28 x 28, one channel: 0.97x), and the small AlexNet (28 x 28) keeps its bits
IMAGES_PER_SUM = 8        # the by-image backward sums dw over blocks of this many images, the blocks'
                          # sums after: one order of additions whatever the number of threads


def columns_batch_last(stride, out_w):
    """Whether the CPU's convolution orders its columns (oh, ow, n), the batch last
    (``im2col(batch_last=True)``), rather than (n, oh, ow): where the stride along W is 1 and an
    output row has fewer than SHORT_ROW values. im2col then copies runs of OW x N values instead of
    OW, too few for NumPy's loops to pay for starting: at batch 128 the small AlexNet's conv2
    (13 values a row), conv3 and conv4 (6) took 6.0, 2.0 and 3.1 ms to 3.9, 0.8 and 1.7. But
    the GEMMs' output comes batch last too, and its pass to NCHW costs more, so longer rows gain
    nothing: forward, the 2012 AlexNet's conv2 (27 a row, batch 32) took 123 ms either way, and
    the small AlexNet's conv1 (28) 7.2 ms against 9.5 batch last."""
    return stride[1] == 1 and out_w < SHORT_ROW


def conv_forward(x, w, b, stride, pad, groups, relu=False):
    """y = conv(x, w) + b, returning (y, cache). ``stride`` and ``pad`` are (h, w) pairs. With
    ``relu``, y = max(conv(x, w) + b, 0): the ReLU fused in (``Conv2D(relu=True)``).

    With cols = im2col(x) of shape (C*kh*kw, N*OH*OW) split into G row blocks and w viewed as
    (G, O/G, C/G*kh*kw), every group is one GEMM: y_g = w_g @ cols_g. The columns, and so the
    GEMMs' outputs, put the batch last where ``columns_batch_last``; a column's products and their
    sum are the same in either order.
    """
    xp = get_array_module(x)
    n, _, h, wid = x.shape
    o, cg, kh, kw = w.shape
    oh = conv_output_size(h, kh, stride[0], pad[0])
    ow = conv_output_size(wid, kw, stride[1], pad[1])
    batch_last = columns_batch_last(stride, ow)
    cols = im2col(x, (kh, kw), stride, pad, batch_last).reshape(groups, cg * kh * kw, -1)
    w_groups = w.reshape(groups, o // groups, cg * kh * kw)
    y_gemm = xp.matmul(w_groups, cols)   # G GEMMs; output channel-major
    if batch_last:
        y_gemm = y_gemm.reshape(o, oh, ow, n).transpose(0, 3, 1, 2)   # (O, N, OH, OW) view
    else:
        y_gemm = y_gemm.reshape(o, n, oh, ow)
    y = xp.empty((n, o, oh, ow), dtype=y_gemm.dtype)

    def to_nchw(s):   # one pass: (O, N, OH, OW) to (N, O, OH, OW), + bias, ReLU
        out = y[:, s]
        if b is None:
            xp.copyto(out, y_gemm[s].transpose(1, 0, 2, 3))
        else:
            xp.add(y_gemm[s].transpose(1, 0, 2, 3), b[s].reshape(-1, 1, 1), out=out)
        if relu:
            xp.maximum(out, 0, out=out)

    # slices of the channels on all the cores: from the batch-last layout 2x faster than slices of
    # the batch (the 2012 AlexNet's conv2 at batch 32: 4.7 ms against 11.3), and no slower from
    # the other (2.9 against 3.1)
    cpu_threads.in_slices(o, to_nchw, y)
    return y, (x.shape, w, cols, stride, pad, groups, b is not None, y if relu else None, None)


def columns_by_image(x_shape, kernel, stride, pad):
    """Whether the CPU's im2col convolution of x (N, C, H, W) runs image by image
    (``conv_forward_by_image``): 2 images or more, each with MIN_IMAGE_PIXELS output pixels or
    more."""
    n, _, h, wid = x_shape
    oh = conv_output_size(h, kernel[0], stride[0], pad[0])
    ow = conv_output_size(wid, kernel[1], stride[1], pad[1])
    return n >= 2 and oh * ow >= MIN_IMAGE_PIXELS


def image_columns(x, kernel, stride, pad):
    """``columns(i)``: image i's im2col columns (C*kh*kw, OH*OW), copied into one buffer that each
    call overwrites (a thread's own: one per ``image_columns`` call), from the image copied into
    another, padded (its border zeroed once). Without padding too: the windows read each value
    (kh / sh) * (kw / sw) times (7.6 on AlexNet's conv1), from the copy in the L2 cache rather than
    from the batch in memory (conv1's forward and backward at batch 32, in turns with the batch's
    columns: 121 ms against 121 without the copy, 102 against 113 with it)."""
    _, c, h, wid = x.shape
    ph, pw = pad
    padded = np.zeros((1, c, h + 2 * ph, wid + 2 * pw), dtype=x.dtype)
    windows = sliding_windows(padded, kernel, stride)[0]                # (C, kh, kw, OH, OW) view
    cols = np.empty(windows.shape, dtype=x.dtype)

    def columns(i):
        padded[0, :, ph:ph + h, pw:pw + wid] = x[i]
        np.copyto(cols, windows)
        return cols.reshape(-1, windows.shape[3] * windows.shape[4])
    return columns


def conv_forward_by_image(x, w, b, stride, pad, groups, relu=False):
    """``conv_forward`` image by image, as Caffe computes it: each image's columns, then its G
    GEMMs straight into its output, + bias, ReLU, while the columns and the output are in the
    caches, the batch's images shared out over the cores, each image's GEMMs on one core
    (``cpu_threads.products_on_cores``). The batch's columns are never made: on AlexNet's conv1
    at batch 32 they take 140 MB, which im2col writes and the GEMM reads back from memory. The
    backward makes each image's columns again (``conv_backward_by_image``)."""
    n, _, h, wid = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = conv_output_size(h, kh, stride[0], pad[0]), conv_output_size(wid, kw, stride[1], pad[1])
    w_groups = w.reshape(groups, o // groups, cg * kh * kw)
    y = np.empty((n, o, oh, ow), dtype=np.result_type(x, w))

    def forward(s):
        columns = image_columns(x, (kh, kw), stride, pad)
        for i in range(s.start, s.stop):
            out = y[i].reshape(o, oh * ow)
            np.matmul(w_groups, columns(i).reshape(groups, cg * kh * kw, -1), out=out.reshape(groups, o // groups, -1))
            if b is not None:
                out += b[:, None]
            if relu:
                np.maximum(out, 0, out=out)

    cpu_threads.products_on_cores(cpu_threads.plan_slices(n, y), forward)
    return y, (x, w, stride, pad, groups, b is not None, y if relu else None)


def conv_backward_by_image(dout, cache, param_grads=True, input_grad=True):
    """``conv_backward`` for ``conv_forward_by_image``'s cache. dw and db image by image: with g_i
    image i's dL/dy (O, OH*OW) (through the ReLU's mask where it is fused) and cols_i its columns,
    made again,

        dw_g += g_i,g @ cols_i,g^T          db += g_i summed over the pixels

    the images' sums taken in blocks of IMAGES_PER_SUM, the blocks shared out over the cores and
    their sums added at the end: one order of additions whatever the number of threads, so the
    bits do not depend on it. dx, which needs no columns, as ``conv_backward`` computes it, for the
    whole batch at once (image by image, col2im's kh * kw strided additions an image cost more
    than they saved, tried on AlexNet's conv1)."""
    x, w, stride, pad, groups, has_bias, relu_out = cache
    n, _, _, _ = x.shape
    o, cg, kh, kw = w.shape
    k = cg * kh * kw
    if relu_out is not None and input_grad:   # masked once, for the images' products and the batch's
        dout, relu_out = dout * (relu_out > 0), None
    dx = (input_gradient(dout.transpose(1, 2, 3, 0).reshape(groups, o // groups, -1), w, x.shape, stride, pad)
          if input_grad else None)
    if not param_grads:
        return dx, None, None
    blocks = [slice(i, min(i + IMAGES_PER_SUM, n)) for i in range(0, n, IMAGES_PER_SUM)]
    dw_blocks = np.zeros((len(blocks), groups, k, o // groups), dtype=dout.dtype)
    db_blocks = np.zeros((len(blocks), o), dtype=dout.dtype) if has_bias else None

    def backward(block):
        columns = image_columns(x, (kh, kw), stride, pad)
        dw_image = np.empty(dw_blocks.shape[1:], dtype=dout.dtype)
        for i in range(blocks[block].start, blocks[block].stop):
            g = dout[i].reshape(o, -1)
            if relu_out is not None:
                g = g * (relu_out[i].reshape(o, -1) > 0)
            # (K, O/G) per group: the large columns as the GEMM's first operand, as conv_backward's
            np.matmul(columns(i).reshape(groups, k, -1), g.reshape(groups, o // groups, -1).transpose(0, 2, 1),
                      out=dw_image)
            dw_blocks[block] += dw_image
            if db_blocks is not None:
                db_blocks[block] += g.sum(axis=1)

    cpu_threads.products_on_cores(list(range(len(blocks))), backward)
    db = db_blocks.sum(axis=0) if db_blocks is not None else None
    return dx, dw_blocks.sum(axis=0).transpose(0, 2, 1).reshape(w.shape), db


def conv_backward(dout, cache, param_grads=True, input_grad=True):
    """Given dL/dy (N, O, OH, OW) return (dx, dw, db); db is None for a layer without bias, dw and
    db are None with ``param_grads=False`` (a frozen layer), dx is None with ``input_grad=False``
    (nobody needs it: neither its GEMM nor col2im runs).

        dw_g = dout_g @ cols_g^T      dcols_g = w_g^T @ dout_g      dx = col2im(dcols)

    With the ReLU fused in, dout first becomes dout * (y > 0), the ReLU's backward. The columns'
    gradient puts the batch last, its columns in the order (oh, ow, n) (``col2im(batch_last=True)``),
    whatever the order of the forward's columns: its fold then runs over long contiguous runs (2x
    faster or more on AlexNet's conv2-5).
    """
    xp = get_array_module(dout)
    x_shape, w, cols, stride, pad, groups, has_bias, relu_out, _ = cache
    if relu_out is not None:
        dout = dout * (relu_out > 0)
    o, cg, kh, kw = w.shape
    layouts = {}

    def dout_gemm(batch_last):
        """dout as the GEMMs' (G, O/G, columns), the columns in the order (oh, ow, n) or
        (n, oh, ow): one transposing copy, made once for the two products that may need it."""
        if batch_last not in layouts:
            axes = (1, 2, 3, 0) if batch_last else (1, 0, 2, 3)
            layouts[batch_last] = dout.transpose(axes).reshape(groups, o // groups, -1)
        return layouts[batch_last]

    # dw_g computed transposed, cols_g @ dout_g^T: with the large cols as the GEMM's first operand
    # OpenBLAS ran conv2's at batch 32 on 2 cores in 87 ms against 104 (the same values, bit for
    # bit, on the README's machine); the reshape copies the small transposed result
    dw = (xp.matmul(cols, dout_gemm(columns_batch_last(stride, dout.shape[3])).transpose(0, 2, 1)).transpose(0, 2, 1)
          .reshape(w.shape) if param_grads else None)
    db = dout.sum(axis=(0, 2, 3)) if has_bias and param_grads else None
    if not input_grad:
        return None, dw, db
    return input_gradient(dout_gemm(True), w, x_shape, stride, pad), dw, db


def input_gradient(dout_columns, w, x_shape, stride, pad):
    """dL/dx (x_shape) from dL/dy as the GEMMs' (G, O/G, OH*OW*N), the batch last: the columns'
    gradient w_g^T @ dout_g, folded by ``col2im``."""
    groups = dout_columns.shape[0]
    o, cg, kh, kw = w.shape
    w_groups = w.reshape(groups, o // groups, cg * kh * kw)
    dcols = get_array_module(w).matmul(w_groups.transpose(0, 2, 1), dout_columns)   # (G, C/G*kh*kw, OH*OW*N)
    return col2im(dcols.reshape(groups * cg * kh * kw, -1), x_shape, (kh, kw), stride, pad, batch_last=True)


def _layout_launch(kernel, planes, spatial, like, *args):
    """One of im2col.cu's layout kernels over ``planes`` planes of ``spatial`` pixels, in the
    current version: version 1 grid-stride over the elements, version 2 a block per (plane, tile
    of pixels), version 7 the same with LAYOUT_V7_PIXELS pixels a thread."""
    name = im2col_kernel(kernel)
    if name.endswith("_v1"):
        launch("im2col", name, grid_for(planes * spatial, like), BLOCK, *args)
    elif name.endswith("_v7"):
        launch("im2col", name, *plane_tiles(planes, -(-spatial // LAYOUT_V7_PIXELS)), *args)
    else:
        launch("im2col", name, *plane_tiles(planes, spatial), *args)


def conv_geometry(x_shape, w_shape, stride, pad):
    """The ``gemm.ConvGeometry`` of a convolution of x (N, C, H, W) by w (O, C/G, kh, kw)."""
    _, c, h, wid = x_shape
    _, _, kh, kw = w_shape
    return gemm.ConvGeometry(c, h, wid, kh, kw, *stride, *pad, conv_output_size(h, kh, stride[0], pad[0]),
                             conv_output_size(wid, kw, stride[1], pad[1]))


def conv_forward_cuda(x, w, b, stride, pad, groups, relu=False):
    """Kernel path of ``conv_forward`` (same arguments, same cache): im2col kernel, one GEMM per
    group (``minicnn.gemm``), then one kernel that adds the bias (and applies the fused ReLU)
    while moving the GEMM's (O, N*OH*OW) result to (N, O, OH, OW); the tiled GEMM from version 4
    does that in its own stores (``gemm.matmul_nchw``), one pass less, and from version 5 reads
    the columns from x itself (``gemm.conv_forward_implicit``): no im2col, and no columns kept for
    the backward, which then gathers them again (the cache holds x in their place). The im2col.cu
    kernels run in the version ``kernel_versions.current("im2col")`` names (all keep the same
    layouts)."""
    xp = get_array_module(x)
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    geometry = conv_geometry(x.shape, w.shape, stride, pad)
    oh, ow = geometry.out_h, geometry.out_w
    w_groups = w.reshape(groups, o // groups, cg * kh * kw)
    bias = b if b is not None else xp.zeros(o, dtype=x.dtype)
    cols = None
    if gemm.gathers_columns():   # the GEMM reads x and stores y itself
        y = gemm.conv_forward_implicit(w_groups, x, geometry, bias, relu).reshape(n, o, oh, ow)
    else:
        cols = im2col_cuda(x, (kh, kw), stride, pad)
        cols_groups = cols.reshape(groups, cg * kh * kw, n * oh * ow)
        if gemm.stores_nchw():   # the GEMM stores y itself, bias and ReLU included
            y = gemm.matmul_nchw(w_groups, cols_groups, bias, relu, n).reshape(n, o, oh, ow)
        else:
            y_gemm = gemm.matmul(w_groups, cols_groups)
            y = empty((n, o, oh, ow), x.dtype, x)
            _layout_launch("gemm_to_nchw_bias", n * o, oh * ow, x, y_gemm, bias, y, n, o, oh * ow, int(relu))
    return y, (x.shape, w, cols, stride, pad, groups, b is not None, y if relu else None,
               x if cols is None else None)


def conv_backward_cuda(dout, cache, param_grads=True, input_grad=True):
    """Kernel path of ``conv_backward``: dout to the GEMM layout (masked by the fused ReLU), the
    bias gradient as a reduction kernel (from ``kernel_versions.current("bias")`` 3, summed by the
    kernel that moves dout, by warp shuffles from version 4, and its partial sums added up), two
    GEMMs per group, and the col2im gather kernel. After a forward that kept no columns (the tiled
    GEMM's version 5), the weight gradient's GEMM gathers them from x
    (``gemm.conv_weight_grad_implicit``); from version 6 the input gradient of a conv of stride 1 is
    one product gathering dL/dy (``gemm.conv_input_grad_implicit``), in place of the columns'
    gradient and col2im (``gemm.gathers_output_grad`` says why not for a larger stride)."""
    x_shape, w, cols, stride, pad, groups, has_bias, relu_out, x = cache
    n = x_shape[0]
    o, cg, kh, kw = w.shape
    _, _, oh, ow = dout.shape
    dout_gemm = empty((o, n * oh * ow), dout.dtype, dout)
    if has_bias and param_grads and kernel_versions.current("bias") >= 3:   # summed as it is moved
        partial = empty((n, o), dout.dtype, dout)
        layout_kernel = kernel_versions.kernel_name("bias", "nchw_to_gemm_bias_grad", kernel_versions.current("bias"))
        # a block per plane (versions 3 and 4), or a warp per plane, BLOCK // 32 planes a block (version 5)
        if layout_kernel.endswith("_v5"):
            grid, block = (-(-o * n // (BLOCK // 32)),), BLOCK
        else:
            grid, block = (o * n,), REDUCE_BLOCK
        launch("bias", layout_kernel, grid, block, dout,
               dout if relu_out is None else relu_out, dout_gemm, partial, n, o, oh * ow, int(relu_out is not None))
        db = bias_grad_cuda(partial, n, o, 1)
    else:
        if relu_out is None:
            _layout_launch("nchw_to_gemm", o * n, oh * ow, dout, dout, dout_gemm, n, o, oh * ow)
        else:
            _layout_launch("nchw_to_gemm_relu", o * n, oh * ow, dout, dout, relu_out, dout_gemm, n, o, oh * ow)
        db = bias_grad_cuda(dout_gemm, 1, o, n * oh * ow) if has_bias and param_grads else None
    dout_groups = dout_gemm.reshape(groups, o // groups, n * oh * ow)
    geometry = conv_geometry(x_shape, w.shape, stride, pad)
    dw = None
    if param_grads and cols is None:
        dw = gemm.conv_weight_grad_implicit(dout_groups, x, geometry)
    elif param_grads:
        dw = gemm.matmul(dout_groups, cols.reshape(groups, cg * kh * kw, n * oh * ow), trans_b=True)
    dw = None if dw is None else dw.reshape(w.shape)
    if not input_grad:
        return None, dw, db
    if gemm.gathers_output_grad(stride):   # dx summed straight from dL/dy: no columns' gradient, no col2im
        return gemm.conv_input_grad_implicit(w, dout_gemm, geometry, n), dw, db
    dcols = gemm.matmul(w.reshape(groups, o // groups, cg * kh * kw), dout_groups, trans_a=True)
    return col2im_cuda(dcols, x_shape, (kh, kw), stride, pad), dw, db


def uniform_fan_in(rng, shape, fan_in, dtype):
    """PyTorch's default initialisation for conv and dense layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


class Conv2D(Layer):
    """Convolution layer: ``Conv2D(in_channels, out_channels, kernel_size, stride=1, padding=0,
    groups=1, bias=True, dtype=float32, rng=None, relu=False, algorithm="auto")``.

    ``kernel_size``, ``stride`` and ``padding`` take an int or an (h, w) pair. Parameters:
    ``weight`` (out, in/groups, kh, kw) and ``bias`` (out,), initialised like PyTorch
    (uniform +-1/sqrt(fan_in)) from ``rng`` (a ``numpy.random.Generator``; a fresh one if None).
    ``relu=True`` fuses a following ReLU into the layer (cuda-convnet's ``neuron=relu``): the same
    results as Conv2D then ReLU, with one pass over the output saved forward and one backward
    (``minicnn.fusion.fuse_relu`` does it to a whole model). ``algorithm`` says how it is
    computed: "im2col" (one GEMM per group), "winograd" (Winograd's F(2x2, 3x3), 3x3 kernels of
    stride 1 only: ``minicnn.layers.winograd``), "fft" (a GEMM per frequency, stride 1 only, on
    the CPU only: ``minicnn.layers.fft``) or "auto", Winograd where ``winograd.pays``, the FFT
    where ``fft.pays`` (AlexNet's conv2 from 8 images), else im2col (on the CPU image by image for
    large maps, ``columns_by_image``: AlexNet's conv1); ``algorithm_for`` says which a batch
    takes. On "cuda" and "sim" the CUDA kernels run: im2col's and a GEMM, or Winograd's
    (kernels/winograd.cu's transforms around the GEMMs), which "auto" takes there only where the
    input has 256 channels a group or more (AlexNet's conv3).
    """

    ALGORITHMS = ("auto", "im2col", "winograd", "fft")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1,
                 bias=True, dtype=np.float32, rng=None, relu=False, algorithm="auto"):
        super().__init__()
        who = "Conv2D"
        self.relu = check_flag(relu, "relu", who)
        bias = check_flag(bias, "bias", who)
        self.in_channels = check_positive_int(in_channels, "in_channels", who)
        self.out_channels = check_positive_int(out_channels, "out_channels", who)
        self.kernel_size = pair(kernel_size, "kernel_size", who)
        self.stride = pair(stride, "stride", who)
        self.padding = pair(padding, "padding", who, minimum=0)
        self.groups = check_positive_int(groups, "groups", who)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2D: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        self.dtype = check_float_dtype(dtype, who)
        if algorithm not in self.ALGORITHMS:
            raise ValueError(f"Conv2D: algorithm must be one of {', '.join(map(repr, self.ALGORITHMS))}, "
                             f"got {algorithm!r}")
        if algorithm == "winograd" and not winograd.applies(self.kernel_size, self.stride):
            raise ValueError(f"Conv2D: algorithm='winograd' computes 3x3 convolutions of stride 1 (F(2x2, 3x3)); "
                             f"this one's kernel is {self.kernel_size[0]}x{self.kernel_size[1]} of stride "
                             f"{self.stride}: use algorithm='im2col' or 'auto'")
        if algorithm == "fft" and not fft.applies(self.kernel_size, self.stride):
            raise ValueError(f"Conv2D: algorithm='fft' computes convolutions of stride 1; this one's stride is "
                             f"{self.stride}: use algorithm='im2col' or 'auto'")
        self.algorithm = algorithm
        rng = check_rng(rng, who)
        kh, kw = self.kernel_size
        fan_in = in_channels // groups * kh * kw
        self.params["weight"] = Param(uniform_fan_in(
            rng, (out_channels, in_channels // groups, kh, kw), fan_in, self.dtype))
        if bias:
            self.params["bias"] = Param(uniform_fan_in(rng, (out_channels,), fan_in, self.dtype))

    def output_shape(self, input_shape):
        self.expect_rank(input_shape, 4, "N, C, H, W")
        n, c, h, w = input_shape
        if c != self.in_channels:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_channels}, H, W), "
                             f"got {tuple(input_shape)}")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"{self!r}: kernel {kh}x{kw} is larger than the padded input "
                             f"{h + 2 * ph}x{w + 2 * pw} (input {tuple(input_shape)})")
        return (n, self.out_channels, conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw))

    def macs(self, input_shape):
        """Multiply-adds per image: OH * OW * out * (in/groups * kh * kw)."""
        _, o, oh, ow = self.output_shape(input_shape)
        _, cg, kh, kw = self.params["weight"].shape
        return oh * ow * o * cg * kh * kw

    def algorithm_for(self, x_shape):
        """How the forward computes a batch x of ``x_shape``: "kernels" (im2col and GEMM kernels,
        on "cuda" and "sim"), "winograd_kernels" (F(2x2, 3x3)'s kernels there), "winograd" (F(2x2,
        3x3) in NumPy, ``minicnn.layers.winograd``, on the CPU), "fft" (``minicnn.layers.fft``, on
        the CPU), "im2col" or "im2col by image" (the CPU's im2col where ``columns_by_image``):
        Winograd's where ``algorithm`` asks for it, or is "auto" and ``winograd.pays`` (on the GPU
        for fewer shapes: the kernels' GEMMs must be larger to gain), the FFT's likewise with
        ``fft.pays`` (never on the GPU: no kernels compute it)."""
        shape = (x_shape, self.kernel_size, self.stride, self.padding, self.groups)
        if self.algorithm != "auto":
            algorithm = self.algorithm
        elif winograd.pays(*shape, on_gpu=self.uses_kernels):
            algorithm = "winograd"
        elif fft.pays(*shape, on_gpu=self.uses_kernels):
            algorithm = "fft"
        else:
            algorithm = "im2col"
        if self.uses_kernels:
            if algorithm == "fft":
                raise ValueError(f"{self!r}: algorithm='fft' runs on the CPU only (no CUDA kernels compute "
                                 f"it); on '{self.device}' use 'im2col', 'winograd' or 'auto'")
            return "winograd_kernels" if algorithm == "winograd" else "kernels"
        if algorithm == "im2col" and columns_by_image(x_shape, self.kernel_size, self.stride, self.padding):
            return "im2col by image"
        return algorithm

    def _forward(self, x, train):
        bias = self.params.get("bias")
        bias = bias.data if bias else None
        weight = self.params["weight"].data
        algorithm = self.algorithm_for(x.shape)
        if algorithm in ("winograd", "winograd_kernels", "fft"):
            forward = {"winograd_kernels": winograd.conv_forward_cuda, "winograd": winograd.conv_forward,
                       "fft": fft.conv_forward}[algorithm]
            y, cache = forward(x, weight, bias, self.padding, self.groups, self.relu)
        else:
            forward = {"kernels": conv_forward_cuda, "im2col by image": conv_forward_by_image,
                       "im2col": conv_forward}[algorithm]
            y, cache = forward(x, weight, bias, self.stride, self.padding, self.groups, self.relu)
        self._cache = (algorithm, cache) if train else None
        return y

    def _backward(self, dout):
        algorithm, cache = self._cache
        backward = {"kernels": conv_backward_cuda, "winograd_kernels": winograd.conv_backward_cuda,
                    "winograd": winograd.conv_backward, "fft": fft.conv_backward, "im2col": conv_backward,
                    "im2col by image": conv_backward_by_image}[algorithm]
        dx, dw, db = backward(dout, cache, param_grads=self.trainable, input_grad=self.input_grad)
        self.store_grads(dw, db)
        return dx

    def extra_repr(self):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={kh}x{kw}"
        if (sh, sw) != (1, 1):
            s += f", stride={sh}" if sh == sw else f", stride=({sh}, {sw})"
        if (ph, pw) != (0, 0):
            s += f", padding={ph}" if ph == pw else f", padding=({ph}, {pw})"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if "bias" not in self.params:
            s += ", bias=False"
        if self.relu:
            s += ", relu=True"
        if self.algorithm != "auto":
            s += f", algorithm={self.algorithm!r}"
        return s
