"""LRN followed by max pooling as one layer, the pair AlexNet applies after conv1 and conv2
(norm1, pool1 and norm2, pool2), built by ``minicnn.fusion.fuse_lrn_maxpool``.

    y = maxpool(lrn(x))        x (N, C, H, W) -> y (N, C, OH, OW)

On the CPU it runs the two layers' NumPy code one after the other. Through the kernels it is one
kernel each way (kernels/lrn_maxpool.cu) that never writes the LRN output: the forward keeps
only the window maxima and their positions, and the backward computes the LRN values again
from x. Results equal LRN then MaxPool2D.
"""

from minicnn import kernel_versions
from minicnn.launch import BLOCK, empty_like, grid_for, launch, plane_tiles
from minicnn.layers.base import Layer
from minicnn.layers import lrn as lrn_module
from minicnn.layers.lrn import LRN, LRN_MAX_SIZE
from minicnn.layers.maxpool import MaxPool2D, band_pitch, band_rows, phased, pooled_outputs


# Input pixels of a band of the version-4 kernels, a thread each (kernels/lrn_maxpool.cu).
LRN_POOL_BAND_PIXELS = 512       # lrn_maxpool_forward_v4 and v5
LRN_POOL_PHASED_VALUES = 672     # lrn_maxpool_forward_v5's shared memory for a channel's band (band_pitch)
LRN_POOL_BACKWARD_PIXELS = 256   # lrn_maxpool_backward_v4


def backward_band_rows(height, width, out_h, out_w, kernel_h, stride_h):
    """Input rows per block of lrn_maxpool_backward_v4: the most whose pixels fit in
    LRN_POOL_BACKWARD_PIXELS (a thread each) and whose windows' output rows, at most
    (rows + kernel_h - 2) // stride_h + 1 of them, fit in as many values (a shared-memory buffer);
    0 if one row does not (the layer then runs version 3)."""
    fits = LRN_POOL_BACKWARD_PIXELS // out_w   # output rows that fit
    by_windows = height if fits >= out_h else fits * stride_h - kernel_h + 1
    return max(0, min(height, LRN_POOL_BACKWARD_PIXELS // width, by_windows))


def lrn_maxpool_forward_cuda(x, size, alpha, beta, k, kernel, stride, pad):
    """x (N, C, H, W) -> (y (N, C, OH, OW), cache), in the version ``kernel_versions.current
    ("lrn_maxpool")`` names. Version 5 falls back to 4 for a stride other than 2 both ways, version
    4 to 3 for an LRN window it does not keep in registers (``lrn.LRN_REGISTER_SIZES``) or a band
    of one window's rows wider than LRN_POOL_BAND_PIXELS (version 5: or than LRN_POOL_PHASED_VALUES
    at band_pitch's values a row), version 3 to 2 for images too wide for its bands. Version 6's
    forward is version 3's; version 7's is version 3's band with each LRN window loaded at once,
    for the windows of ``lrn.LRN_REGISTER_SIZES`` (else version 3's), and its backward version 6's;
    version 8's forward is version 7's."""
    n, c, h, w = x.shape
    y, argmax = pooled_outputs(x, kernel, stride, pad)
    oh, ow = y.shape[2:]
    version = kernel_versions.current("lrn_maxpool")
    lrn = (size, alpha / size, beta, k)
    # versions 4 and 5 a thread per input pixel; version 6 rewrote the backward of version 3, whose forward it runs
    if version in (4, 5) and size in lrn_module.LRN_REGISTER_SIZES:
        phased_band = phased(version, stride)
        rows = band_rows(h, w, oh, kernel[0], stride[0], tile=LRN_POOL_BAND_PIXELS)   # a thread per pixel
        if phased_band:   # and the band's phased rows in shared memory
            rows = min(rows, band_rows(h, band_pitch(w, ow, True), oh, kernel[0], stride[0],
                                       tile=LRN_POOL_PHASED_VALUES))
        if rows:   # a block per (image, band of output rows, chunk of channels), a thread per input pixel
            pixels = min(h, (rows - 1) * stride[0] + kernel[0]) * w
            chunk = lrn_module.LRN_CHANNEL_CHUNK
            kernel_name = "lrn_maxpool_forward_v5" if phased_band else "lrn_maxpool_forward_v4"
            launch("lrn_maxpool", kernel_name, (n, -(-oh // rows), -(-c // chunk)),
                   32 * -(-pixels // 32), x, y, argmax, c, h, w, oh, ow, *kernel, *stride, *pad, rows, chunk, *lrn)
            return y, (version, x, argmax, size, alpha, beta, k, kernel, stride, pad)
    rows = band_rows(h, w, oh, kernel[0], stride[0]) if version >= 3 else 0
    if version == 1:   # one thread per output pixel column
        launch("lrn_maxpool", "lrn_maxpool_forward_v1", grid_for(n * oh * ow, x), BLOCK, x, y, argmax, n, c, h, w,
               oh, ow, *kernel, *stride, *pad, *lrn)
    elif rows:         # a block per (plane, band of output rows), the LRN values in shared memory
        # (version 7: each value's LRN window loaded at once, for the windows kept in registers)
        name = ("lrn_maxpool_forward_v7" if version >= 7 and size in lrn_module.LRN_REGISTER_SIZES
                else "lrn_maxpool_forward_v3")
        launch("lrn_maxpool", name, (n * c, -(-oh // rows)), BLOCK, x, y, argmax, c, h, w, oh, ow, *kernel, *stride,
               *pad, rows, *lrn)
    else:              # one thread per output element, a block per (plane, tile)
        launch("lrn_maxpool", "lrn_maxpool_forward_v2", *plane_tiles(n * c, oh * ow), x, y, argmax, c, h, w, oh, ow,
               *kernel, *stride, *pad, *lrn)
    return y, (version, x, argmax, size, alpha, beta, k, kernel, stride, pad)


def lrn_maxpool_backward_cuda(dout, cache):
    """dout (N, C, OH, OW) -> dx (N, C, H, W), by the version that ran the forward (version 3's
    backward for the LRN windows it keeps in registers, else version 2's: ``lrn.walk_version``;
    version 4's, also version 5's, falls back to version 3's where its forward does, or where a
    band of one input row's windows is too wide; version 6's to version 3's for an LRN window it
    does not keep in registers or pooling windows of more than 2 x stride; version 8's likewise,
    LRN's version 4 walk, size - 1 channels a step)."""
    version, x, argmax, size, alpha, beta, k, kernel, stride, pad = cache
    n, c, h, w = x.shape
    oh, ow = dout.shape[2:]
    dx = empty_like(x)
    lrn = (size, alpha / size, beta, k, 2.0 * alpha * beta / size)
    if version in (4, 5) and size in lrn_module.LRN_REGISTER_SIZES:   # as the forward's fallback to version 3
        rows = backward_band_rows(h, w, oh, ow, kernel[0], stride[0])
        if rows:   # a block per (image, band of input rows, chunk of channels), a thread per input pixel
            chunk = lrn_module.LRN_CHANNEL_CHUNK
            launch("lrn_maxpool", "lrn_maxpool_backward_v4", (n, -(-h // rows), -(-c // chunk)),
                   32 * -(-(rows * w) // 32), dout, argmax, x, dx, c, h, w, oh, ow, *kernel, *stride, *pad, rows,
                   chunk, *lrn)
            return dx
    geometry = (dout, argmax, x, dx, n, c, h, w, oh, ow, *kernel, *stride, *pad)
    if (version >= 6 and size in lrn_module.LRN_REGISTER_SIZES
            and all(kh <= 2 * sh for kh, sh in zip(kernel, stride))):   # at most 2 pooling windows a side
        chunk = lrn_module.LRN_CHANNEL_CHUNK
        kernel_name = "lrn_maxpool_backward_v8" if version >= 8 else "lrn_maxpool_backward_v6"
        launch("lrn_maxpool", kernel_name, grid_for(n * -(-c // chunk) * h * w, x), BLOCK, *geometry, chunk, *lrn)
    elif version == 1:   # one thread per input pixel column
        launch("lrn_maxpool", "lrn_maxpool_backward_v1", grid_for(n * h * w, x), BLOCK, *geometry, *lrn)
    else:              # one thread per (image, chunk of channels, pixel)
        chunk = lrn_module.LRN_CHANNEL_CHUNK
        launch("lrn_maxpool", f"lrn_maxpool_backward_v{lrn_module.walk_version(min(version, 3), size)}",
               grid_for(n * -(-c // chunk) * h * w, x), BLOCK, *geometry, chunk, *lrn)
    return dx


class LRNMaxPool(Layer):
    """``LRNMaxPool(lrn, pool)``: an ``LRN`` and a ``MaxPool2D`` applied in turn, as one layer
    (the two are its children, for their settings and their NumPy code)."""

    def __init__(self, lrn, pool):
        super().__init__()
        if not isinstance(lrn, LRN) or not isinstance(pool, MaxPool2D):
            raise TypeError(f"LRNMaxPool: expected an LRN and a MaxPool2D, got {type(lrn).__name__} and "
                            f"{type(pool).__name__}")
        if lrn.size > LRN_MAX_SIZE:
            raise ValueError(f"LRNMaxPool: the fused kernels take LRN windows of at most {LRN_MAX_SIZE} "
                             f"channels, got size={lrn.size}; keep the two layers apart")
        self.lrn, self.pool = lrn, pool

    def named_children(self):
        return (("lrn", self.lrn), ("pool", self.pool))

    def output_shape(self, input_shape):
        return self.pool.output_shape(self.lrn.output_shape(input_shape))

    def _forward(self, x, train):
        if not self.uses_kernels:   # the children cache what their backward needs
            self._cache = True if train else None
            return self.pool.forward(self.lrn.forward(x, train), train)
        lrn, pool = self.lrn, self.pool
        y, cache = lrn_maxpool_forward_cuda(lrn._grouped(x), lrn.size, lrn.alpha, lrn.beta, lrn.k,
                                            pool.kernel_size, pool.stride, pool.padding)
        self._cache = cache if train else None
        n, c = x.shape[:2]
        return y.reshape((n, c) + y.shape[2:])

    def _backward(self, dout):
        if not self.uses_kernels:
            return self.lrn.backward(self.pool.backward(dout))
        dx = lrn_maxpool_backward_cuda(self.lrn._grouped(dout), self._cache)
        n, c = dout.shape[:2]
        return dx.reshape((n, c) + dx.shape[2:])

    def extra_repr(self):
        return f"{self.lrn.extra_repr()}; {self.pool.extra_repr()}"
