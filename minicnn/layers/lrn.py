"""Local response normalisation across channels (AlexNet section 3.3).

    scale[n, c, h, w] = k + (alpha / size) * sum_{c' in window(c)} x[n, c', h, w] ** 2
    y = x * scale ** -beta

window(c) = [c - size // 2, c + (size - 1) // 2], clipped at the first and last channel (for the
odd sizes used in practice, ``size // 2`` channels on either side). AlexNet: size 5,
alpha 1e-4, beta 0.75, k 2.

Convention: alpha is divided by ``size`` as in Caffe, cuda-convnet2 (``scale /= size``) and
``torch.nn.LocalResponseNorm``; the paper writes the sum without the ``/ size``, so the paper's
alpha equals this alpha divided by size. Results compare one to one with PyTorch and cuDNN.

Backward (with S = scale):
    dx[c] = dy[c] * S[c]**-beta
            - (2 alpha beta / size) * x[c] * sum_{c'' : c in window(c'')} dy[c''] x[c''] S[c'']**(-beta-1)
and c is in window(c'') exactly when c'' is in [c - (size - 1) // 2, c + size // 2].
"""
from minicnn import cpu_threads, kernel_versions
from minicnn.backend import get_array_module
from minicnn.launch import BLOCK, empty_like, grid_for, launch
from minicnn.layers.base import Layer, check_number, check_positive_int

LRN_MAX_SIZE = 16        # kernels/lrn.cuh: the widest window of the kernels that keep per-channel terms in arrays
LRN_CHANNEL_CHUNK = 32   # channels each thread of the version-2 to version-4 kernels walks (kernels/lrn.cu)
LRN_REGISTER_SIZES = (3, 5)   # kernels/lrn.cuh, with_lrn_size: the windows versions 3 and 4 keep in registers
SLICE_BYTES = 1 << 19    # the CPU's slices of the batch hold at most this much of x (cpu_threads.per_sample_forward):
                         # the forward's and backward's eight or so passes over a slice then stay nearer the
                         # cores; forward+backward at batch 32 on 2 cores, in turns: norm1 59.4 ms against 42.3 in
                         # two slices a thread (its 1.16 MB images one a slice), norm2 35.4 against 24.3; slices of
                         # 1 MiB and 2 MiB gave 44.5 and 51.3, 29.1 and 32.1


def walk_version(version, size):
    """The version of the channel-walking kernels (kernels/lrn.cu's, and kernels/lrn_maxpool.cu's
    backward) that runs for ``version`` and an LRN window of ``size`` channels: versions 3 and 4
    only for the windows they keep in registers (LRN_REGISTER_SIZES), else version 2."""
    return 2 if version >= 3 and size not in LRN_REGISTER_SIZES else version


def channel_window_sum(a, before, after):
    """s[:, c] = sum of a[:, c'] for c' in [c - before, c + after], clipped to the valid channels.

    ``a`` is (N, C, H, W). The loop runs over the ``before + after + 1`` window offsets only.
    """
    xp = get_array_module(a)
    n, c, h, w = a.shape
    padded = xp.zeros((n, c + before + after, h, w), dtype=a.dtype)
    padded[:, before:before + c] = a
    total = padded[:, 0:c].copy()
    for offset in range(1, before + after + 1):
        total += padded[:, offset:offset + c]
    return total


def lrn_forward(x, size, alpha, beta, k):
    """x (N, C, H, W) -> (y, cache)."""
    xp = get_array_module(x)
    scale = k + (alpha / size) * channel_window_sum(x * x, size // 2, (size - 1) // 2)
    if beta == 0.75:  # AlexNet's beta: two square roots are several times cheaper than pow
        scale_pow = 1.0 / xp.sqrt(scale * xp.sqrt(scale))
    else:
        scale_pow = xp.power(scale, -beta)
    y = x * scale_pow
    return y, (x, y, scale, scale_pow, size, alpha, beta)


def lrn_backward(dout, cache):
    """dout (N, C, H, W) -> dx (N, C, H, W); see the module docstring for the formula."""
    x, y, scale, scale_pow, size, alpha, beta = cache
    # dy[c''] * x[c''] * S[c'']**(-beta-1) == dy[c''] * y[c''] / S[c'']
    ratio = dout * y / scale
    spread = channel_window_sum(ratio, (size - 1) // 2, size // 2)
    return dout * scale_pow - (2.0 * alpha * beta / size) * x * spread


def lrn_forward_cuda(x, size, alpha, beta, k):
    """Kernel path of ``lrn_forward`` (kernels/lrn.cu), in the version ``kernel_versions.current
    ("lrn")`` names (versions 2 to 4 take windows of at most LRN_MAX_SIZE channels, wider ones
    run version 1; versions 3 and 4 those of LRN_REGISTER_SIZES, others run version 2). Version 1
    caches y and the scale; versions 2 to 4 x alone."""
    n, c, h, w = x.shape
    y = empty_like(x)
    version = walk_version(kernel_versions.current("lrn"), size) if size <= LRN_MAX_SIZE else 1
    if version == 1:
        scale = empty_like(x)
        launch("lrn", "lrn_forward_v1", grid_for(n * h * w, x), BLOCK, x, y, scale, n, c, h * w, size,
               alpha / size, beta, k)
        return y, (1, x, (y, scale), size, alpha, beta, k)
    chunk = LRN_CHANNEL_CHUNK
    launch("lrn", f"lrn_forward_v{version}", grid_for(n * -(-c // chunk) * h * w, x), BLOCK, x, y, n, c, h * w,
           chunk, size, alpha / size, beta, k)
    return y, (version, x, None, size, alpha, beta, k)


def lrn_backward_cuda(dout, cache):
    """dout (N, C, H, W) -> dx, by the version that ran the forward."""
    version, x, kept, size, alpha, beta, k = cache
    n, c, h, w = x.shape
    dx = empty_like(dout)
    if version == 1:
        y, scale = kept
        launch("lrn", "lrn_backward_v1", grid_for(n * h * w, dout), BLOCK, dout, x, y, scale, dx, n, c, h * w,
               size, beta, 2.0 * alpha * beta / size)
        return dx
    chunk = LRN_CHANNEL_CHUNK
    launch("lrn", f"lrn_backward_v{version}", grid_for(n * -(-c // chunk) * h * w, dout), BLOCK, dout, x, dx, n, c,
           h * w, chunk, size, alpha / size, beta, k, 2.0 * alpha * beta / size)
    return dx


class LRN(Layer):
    """``LRN(size=5, alpha=1e-4, beta=0.75, k=2.0, groups=1)`` across channels; input (N, C, H, W).

    With ``groups=G`` the channels form G equal groups normalised separately (no window crosses
    a group boundary): how the two-GPU AlexNet normalised each tower's maps on its own GPU, so
    the single-device twin of the split network (``minicnn.towers``) uses ``groups=2``.
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, groups=1):
        super().__init__()
        self.size = check_positive_int(size, "size", "LRN")
        self.groups = check_positive_int(groups, "groups", "LRN")
        self.alpha = check_number(alpha, "alpha", "LRN", "a finite number >= 0", lambda v: v >= 0)
        self.beta = check_number(beta, "beta", "LRN", "a finite number >= 0", lambda v: v >= 0)
        self.k = check_number(k, "k", "LRN", "a finite number > 0 (k = 0 divides by zero on an all-zero window)",
                              lambda v: v > 0)

    def output_shape(self, input_shape):
        self.expect_rank(input_shape, 4, "N, C, H, W")
        if input_shape[1] % self.groups:
            raise ValueError(f"{self!r}: groups={self.groups} must divide the {input_shape[1]} channels")
        return tuple(input_shape)

    def _grouped(self, a):
        """(N, C, H, W) seen as (N * G, C / G, H, W): each group becomes its own sample (a view)."""
        n, c, h, w = a.shape
        return a.reshape(n * self.groups, c // self.groups, h, w)

    def _forward(self, x, train):
        args = (self.size, self.alpha, self.beta, self.k)
        if self.uses_kernels:
            y, cache = lrn_forward_cuda(self._grouped(x), *args)
        else:   # each sample on its own: the batch's slices run on all the cores
            grouped = self._grouped(x)
            y, cache = cpu_threads.per_sample_forward(lrn_forward, grouped, grouped.shape, *args,
                                                      slice_bytes=SLICE_BYTES)
        self._cache = cache if train else None
        return y.reshape(x.shape)

    def _backward(self, dout):
        if self.uses_kernels:
            dx = lrn_backward_cuda(self._grouped(dout), self._cache)
        else:
            dx = cpu_threads.per_sample_backward(lrn_backward, self._grouped(dout), self._cache)
        return dx.reshape(dout.shape)

    def extra_repr(self):
        groups = f", groups={self.groups}" if self.groups != 1 else ""
        return f"size={self.size}, alpha={self.alpha:g}, beta={self.beta:g}, k={self.k:g}{groups}"
