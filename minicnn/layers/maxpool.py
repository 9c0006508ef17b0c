"""Max pooling, including AlexNet's overlapping 3x3 windows with stride 2.

    y[n, c, oh, ow] = max_{0 <= i < k, 0 <= j < k} xpad[n, c, oh*s + i, ow*s + j]

Floor mode, padding (with -inf) 0 by default. Ties go to the first maximum in row-major window
order, as in PyTorch and cuDNN. The backward routes each dout to the input pixel that won its
window; when windows overlap (k > s) a pixel can win several windows and its gradients add up.
"""
import numpy as np

from minicnn.backend import get_array_module
from minicnn import cpu_threads, kernel_versions
from minicnn.launch import BLOCK, empty, grid_for, launch, plane_tiles
from minicnn.layers.base import Layer, pair
from minicnn.layers.im2col import BANKS, conv_output_size, crop_spatial, pad_spatial, sliding_windows


PHASED_ROW = 8   # output values a row from which window_pixels reads the windows from the phases


def window_pixels(padded, kernel, stride):
    """The (i, j)-th pixel of every window of ``padded`` (N, C, H, W), for each of the kh * kw
    offsets in row-major order: views (N, C, OH, OW) equal to ``sliding_windows``'s
    win[:, :, i, j], with unit steps along OW where output rows hold PHASED_ROW values or more.

    ``sliding_windows``'s views step ``stride`` pixels along a row, and so read every cache line
    of the image once per window offset (AlexNet's pools: every other float, nine times). For
    long rows the image is first split into its sh x sw phases, phase (a, b) holding the pixels
    of rows a, a + sh, ... and columns b, b + sw, ... (one strided copy, of the phases some offset
    uses; none for a stride of 1), and offset (i, j) reads phase (i % sh, j % sw) from row
    i // sh and column j // sw on: a contiguous run per output row, 1 / (sh sw) of the image per
    offset. The GPU's version-5 band kernels split their rows the same way (PhasedBand,
    kernels/maxpool.cuh). Measured in turns, the training forward of a batch's slice on one core
    (16 images of the 2012 AlexNet, 32 of the small one): pool1 (rows of 27) 15-20 ms against
    28-35 over strided views, pool2 (13) 10-11 against 14-15, 32 x 48 maps of 27 x 27 4.2
    against 4.8; below 8 values a row the copy costs more than it saves (rows of 6: 1.64 ms
    against 1.57, of 2: 1.72 against 1.21), and the strided views are taken.
    """
    xp = get_array_module(padded)
    (kh, kw), (sh, sw) = kernel, stride
    h, w = padded.shape[2:]
    oh, ow = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)   # padded already
    if ow < PHASED_ROW:
        win = sliding_windows(padded, kernel, stride)   # (N, C, kh, kw, OH, OW) view
        return [win[:, :, i, j] for i in range(kh) for j in range(kw)]
    phases = {(a, b): xp.ascontiguousarray(padded[:, :, a::sh, b::sw])
              for a in range(min(kh, sh)) for b in range(min(kw, sw))}
    return [phases[i % sh, j % sw][:, :, i // sh:i // sh + oh, j // sw:j // sw + ow]
            for i in range(kh) for j in range(kw)]


def maxpool_forward(x, kernel, stride, pad, train=True):
    """x (N, C, H, W) -> (y (N, C, OH, OW), cache). ``kernel``, ``stride``, ``pad`` are (h, w) pairs.

    A running maximum over the kh * kw window offsets in row-major order (``window_pixels``),
    each step one vectorised ``maximum`` over the whole output. In training (``train``) each step
    also records the window's winner for the backward, as Caffe's and PyTorch's max-pools do: its
    offset in the window, taken where the offset's pixel is strictly greater than the maximum so
    far, so that of several pixels that tie for the maximum the first one wins. (Until CPU
    version 8 the backward found the winners again, over strided views: pool1's backward at batch
    32 took 73 ms against PyTorch's 6.) The cache is None outside training.
    """
    xp = get_array_module(x)
    kh, kw = kernel
    padded = pad_spatial(x, pad, value=-xp.inf)
    pixels = window_pixels(padded, kernel, stride)
    y = pixels[0].copy()
    if not train:
        for pixel in pixels[1:]:
            xp.maximum(y, pixel, out=y)
        return y, None
    offset_type = np.min_scalar_type(kh * kw - 1)   # uint8 up to 16x16 windows, then uint16
    winner = xp.zeros(y.shape, dtype=offset_type)
    greater = xp.empty(y.shape, dtype=bool)
    step = xp.empty(y.shape, dtype=offset_type)
    for offset, pixel in enumerate(pixels[1:], 1):
        xp.greater(pixel, y, out=greater)
        xp.maximum(y, pixel, out=y)
        # winner = offset where greater, as winner = max(winner, greater * offset): the offsets
        # only grow, so a new winner's is the largest yet. Two plain passes, where copyto's
        # masked writes made the whole forward 3.6x slower (pool1 of AlexNet, 16 images, one
        # core: 34.9 ms against 9.7)
        xp.multiply(greater, offset_type.type(offset), out=step)
        xp.maximum(winner, step, out=winner)
    return y, (winner, padded.shape, kernel, stride, pad)


def maxpool_backward(dout, cache):
    """dout (N, C, OH, OW) -> dx (N, C, H, W): each dout goes to its window's first maximum, the
    winner the forward recorded.

    One scatter-add: ``bincount`` adds every dout into its winner's flat index, where overlapping
    windows add up (in float64, then rounded once). Measured on pool1 of AlexNet: 2x faster than
    routing dout offset by offset (batch 32), and 3x faster than adding it offset by offset into
    ``window_pixels``'s phases in float64, whose sums then equal ``bincount``'s (16 images, one
    core: 43 ms against 13.5).
    """
    xp = get_array_module(dout)
    winner, (n, c, h, w), (kh, kw), (sh, sw), pad = cache
    oh, ow = winner.shape[2:]
    # flat index in the padded image of each window's first pixel, plus its winner's offset
    corner = (xp.arange(n * c, dtype=np.int64).reshape(n, c, 1, 1) * (h * w)
              + (xp.arange(oh, dtype=np.int64) * (sh * w)).reshape(oh, 1) + xp.arange(ow, dtype=np.int64) * sw)
    offsets = xp.asarray([i * w + j for i in range(kh) for j in range(kw)], dtype=np.int64)
    dx = xp.bincount((corner + offsets[winner]).ravel(), weights=dout.ravel(), minlength=n * c * h * w)
    return crop_spatial(dx.astype(dout.dtype, copy=False).reshape(n, c, h, w), pad)


def pooled_outputs(x, kernel, stride, pad):
    """The arrays a max-pool kernel of x (N, C, H, W) fills: the maxima y (N, C, OH, OW) in x's
    dtype and their int32 positions, argmax, of the same shape (also the fused LRN + max-pool's)."""
    n, c, h, w = x.shape
    shape = (n, c, conv_output_size(h, kernel[0], stride[0], pad[0]), conv_output_size(w, kernel[1], stride[1], pad[1]))
    return empty(shape, x.dtype, x), empty(shape, np.int32, x)


POOL_BAND_TILE = 2048   # values a block of the band kernels keeps in shared memory (kernels/maxpool.cuh)
MAXPOOL_V6_PIXELS = 4   # pixels a thread of maxpool_backward_v6 (kernels/maxpool.cu)
MAXPOOL_V7_SIDES = (2, 3)   # the square windows maxpool_forward_v7 and v8 are instantiated for (with_constant)
SLICE_BYTES = 1 << 21    # the CPU's slices of the batch hold at most this much of x (cpu_threads.per_sample_forward):
                         # forward+backward at batch 32 on 2 cores, in turns: pool1 31.9 ms against 27.0 in two
                         # slices a thread, pool2 19.0 against 17.5, pool5 (5.5 MB: two slices a thread still) 4.8 and 4.9;
                         # slices of 1 MiB gave 28.4 and 19.1


def band_rows(height, pitch, out_h, kernel_h, stride_h, tile=None):
    """Output rows per block of the band kernels (maxpool_forward_v3 and v5, lrn_maxpool_forward_v3
    to v5), whose rows take ``pitch`` values each in shared memory (``band_pitch``): all of them if
    the whole image fits in ``tile`` values (default POOL_BAND_TILE), else the most whose windows'
    input rows, (rows - 1) * stride_h + kernel_h of them, fit; 0 if not even one window's rows do
    (an image more than tile / kernel_h pixels wide: the layers then run an earlier version)."""
    fits = int((POOL_BAND_TILE if tile is None else tile) // pitch)
    if fits >= height:
        return out_h
    return (fits - kernel_h) // stride_h + 1 if fits >= kernel_h else 0


def phased(version, stride):
    """Whether the band kernels of ``version`` keep each row's even and odd columns apart
    (PhasedBand, kernels/maxpool.cuh): from version 5, for a stride of 2 both ways."""
    return version >= 5 and tuple(stride) == (2, 2)


def band_pitch(width, out_w, phased_band):
    """The values a band row takes in shared memory: its width, or in a phased band (PhasedBand,
    kernels/maxpool.cuh) half of a pair of rows' 4 ceil(width / 2) values rounded up to out_w
    modulo 32 (a half-integer where that is odd)."""
    if not phased_band:
        return width
    half = -(-width // 2)
    return (4 * half + (out_w - 4 * half) % BANKS) / 2


def backward_band_rows(height, out_h, out_w, kernel_h, stride_h):
    """Input rows per block of maxpool_backward_v4: all of them if dout's whole plane fits in
    POOL_BAND_TILE values, else the most whose covering windows' output rows, at most
    (rows + kernel_h - 2) // stride_h + 1 of them, fit; 0 if not even one row's windows do (the
    layer then runs version 2)."""
    fits = POOL_BAND_TILE // out_w   # output rows that fit
    if fits >= out_h:
        return height
    return max(0, fits * stride_h - kernel_h + 1)


def maxpool_forward_cuda(x, kernel, stride, pad):
    """Kernel path of ``maxpool_forward`` (kernels/maxpool.cu), in the version
    ``kernel_versions.current("maxpool")`` names (versions 3 to 5 fall back to 2 for images too
    wide for their bands, version 5 to 3 for a stride other than 2 both ways, versions 7 and 8 to 2
    for windows other than 2 x 2 and 3 x 3; version 6's forward is version 2's). Unlike the NumPy code
    it records the argmax, which makes the backward a pure gather."""
    n, c, h, w = x.shape
    y, argmax = pooled_outputs(x, kernel, stride, pad)
    oh, ow = y.shape[2:]
    version = kernel_versions.current("maxpool")
    phased_band = phased(version, stride)
    # versions 3 to 5 in bands; version 6 rewrote the backward of version 2, whose forward it runs
    rows = band_rows(h, band_pitch(w, ow, phased_band), oh, kernel[0], stride[0]) if 3 <= version <= 5 else 0
    if version == 1:   # grid-stride, one thread per output
        launch("maxpool", "maxpool_forward_v1", grid_for(y.size, x), BLOCK, x, y, argmax, n * c, h, w, oh, ow,
               *kernel, *stride, *pad)
    elif version == 7 and kernel[0] == kernel[1] and kernel[0] in MAXPOOL_V7_SIDES:   # the window's loads at once
        launch("maxpool", "maxpool_forward_v7", *plane_tiles(n * c, oh * ow), x, y, argmax, h, w, oh, ow,
               *kernel, *stride, *pad)
    elif version >= 8 and kernel[0] == kernel[1] and kernel[0] in MAXPOOL_V7_SIDES:   # ... over the whole batch
        launch("maxpool", "maxpool_forward_v8", grid_for(y.size, x), BLOCK, x, y, argmax, n * c, h, w, oh, ow,
               *kernel, *stride, *pad)
    elif rows:         # a block per (plane, band of output rows), the band's inputs in shared memory
        launch("maxpool", "maxpool_forward_v5" if phased_band else "maxpool_forward_v3", (n * c, -(-oh // rows)),
               BLOCK, x, y, argmax, h, w, oh, ow, *kernel, *stride, *pad, rows)
    else:              # a block per (plane, tile of outputs)
        launch("maxpool", "maxpool_forward_v2", *plane_tiles(n * c, oh * ow), x, y, argmax, h, w, oh, ow,
               *kernel, *stride, *pad)
    return y, (version, x.shape, argmax, kernel, stride, pad)


def maxpool_backward_cuda(dout, cache):
    """dout (N, C, OH, OW) -> dx (N, C, H, W), by the version that ran the forward (version 3's
    backward is version 2's; version 4's, also version 5's, falls back to it when dout's rows are
    too wide, and version 6's for windows of more than 2 x stride)."""
    version, x_shape, argmax, kernel, stride, pad = cache
    n, c, h, w = x_shape
    oh, ow = dout.shape[2:]
    dx = empty(x_shape, dout.dtype, dout)
    rows = backward_band_rows(h, oh, ow, kernel[0], stride[0]) if version in (4, 5) else 0
    if version >= 6 and all(k <= 2 * s for k, s in zip(kernel, stride)):   # at most 2 windows a side
        (planes, tiles), tile = plane_tiles(n * c, -(-h * w // MAXPOOL_V6_PIXELS))
        launch("maxpool", "maxpool_backward_v6", (planes, tiles), tile, dout, argmax, dx, h, w, oh, ow, *kernel,
               *stride, *pad)
    elif version == 1:
        launch("maxpool", "maxpool_backward_v1", grid_for(dx.size, dout), BLOCK, dout, argmax, dx, n * c, h, w,
               oh, ow, *kernel, *stride, *pad)
    elif rows:   # a block per (plane, band of input rows), dout and argmax of its windows in shared memory
        launch("maxpool", "maxpool_backward_v4", (n * c, -(-h // rows)), BLOCK, dout, argmax, dx, h, w, oh, ow,
               *kernel, *stride, *pad, rows)
    else:        # a block per (plane, tile of pixels)
        launch("maxpool", "maxpool_backward_v2", *plane_tiles(n * c, h * w), dout, argmax, dx, h, w, oh, ow,
               *kernel, *stride, *pad)
    return dx


class MaxPool2D(Layer):
    """``MaxPool2D(kernel_size, stride=None, padding=0)``; stride defaults to kernel_size.

    AlexNet: ``MaxPool2D(3, stride=2)`` (overlapping). Padding is filled with -inf and may be at
    most half the kernel, as in PyTorch, so that every window sees at least one real pixel.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        who = "MaxPool2D"
        self.kernel_size = pair(kernel_size, "kernel_size", who)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", who)
        self.padding = pair(padding, "padding", who, minimum=0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"MaxPool2D: padding {self.padding} must be at most half the kernel "
                             f"{self.kernel_size}")

    def output_shape(self, input_shape):
        self.expect_rank(input_shape, 4, "N, C, H, W")
        n, c, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"{self!r}: window {kh}x{kw} is larger than the padded input "
                             f"{h + 2 * ph}x{w + 2 * pw} (input {tuple(input_shape)})")
        return (n, c, conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw))

    def _forward(self, x, train):
        args = (self.kernel_size, self.stride, self.padding)
        if self.uses_kernels:
            y, cache = maxpool_forward_cuda(x, *args)
        else:   # each sample on its own: the batch's slices run on all the cores
            y, cache = cpu_threads.per_sample_forward(maxpool_forward, x, self.output_shape(x.shape), *args, train,
                                                      slice_bytes=SLICE_BYTES)
        self._cache = cache if train else None
        return y

    def _backward(self, dout):
        if self.uses_kernels:
            return maxpool_backward_cuda(dout, self._cache)
        return cpu_threads.per_sample_backward(maxpool_backward, dout, self._cache)

    def extra_repr(self):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        s = f"kernel_size={kh}x{kw}, stride={sh}" if sh == sw else f"kernel_size={kh}x{kw}, stride=({sh}, {sw})"
        return s + (f", padding={self.padding}" if (ph, pw) != (0, 0) else "")
