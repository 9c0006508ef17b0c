"""Convolution by the fast Fourier transform: a convolution of stride 1 as one small GEMM per
frequency (Mathieu, Henaff and LeCun, "Fast Training of Convolutional Networks through FFTs", 2013;
the method of Facebook's fbfft, Vasilache et al. 2014, and of cuDNN's FFT convolutions, 2015).

The correlation theorem: a circular correlation of a P x Q plane x with a filter w is, frequency by
frequency, a product of their discrete Fourier transforms, y = IDFT(conj(DFT(w)) * DFT(x)). Summed
over the input channels c, the products at each frequency f are a GEMM:

    Y[f] (O, N) = conj(W[f]) (O, C) @ X[f] (C, N)

for every frequency f of the half spectrum of a real plane, P x (Q // 2 + 1) of them. A layer's
multiply-adds per output and input channel fall from OH * OW * kh * kw (im2col's; conv2 of AlexNet:
27 * 27 * 25 = 18,225) to the frequencies' complex products, 4 real ones each (30 * 16 * 4 = 1,920:
9.5x fewer), and the transforms cost O(P Q log(P Q)) a plane: the input's, the output's, and in the
backward dL/dy's and dL/dx's (NumPy's pocketfft). The filters' transforms, of kh x kw taps, are
small GEMMs by the DFT's matrices (``dft_matrix``), and so is the inverse of the weight gradient's,
of which only kh x kw values are wanted.

Circular, not linear: the plane wraps around, so P and Q must leave room for the padding. Each
transform is taken of the plane itself, zeros appended up to P x Q (not padded in front, which
would cost a copy): the filters' transforms carry the padding instead, each tap a at position
a - pad (a phase), so that output i reads x[i + a - pad] and a position before the plane (i + a <
pad) wraps to P + i + a - pad, which must hold a zero: P >= H + pad (``transform_size``, which
also gives each output and each tap a position of its own). The padding's zeros at the bottom and
the wrapped ones at the top may then share positions; both read zero. The same holds for the
backward's transforms. AlexNet's conv2 (27 pixels, padding 2) takes P = 30: 5-smooth sizes
(``GOOD_SIZES``) run fast in pocketfft, and forward and backward on torchvision's conv2 at batch 64
took 231 ms at 30 x 30 against 286 at 32 x 32.

The backward passes, with DY the transforms of dL/dy (N, O, OH, OW):

    dX[f] (C, N) = W[f]^T @ DY[f]             dx = IDFT(dX), cut to H x W
    D[f]  (O, C) = DY[f] @ conj(X[f])^T        dw[a, b] = Re(IDFT(conj(D)))[a - pad, b - pad]

the batch summed inside the last GEMM. Groups split the GEMMs as im2col's do.

Layout: each transform runs along the middle axes of an array that keeps the channels first and
the batch last, (C, H, W, N) to (C, P, Q', N), as Winograd's do (``minicnn/layers/winograd.py``):
the GEMMs' operands are then views, (F, C, N) of an array (C, F, N), and pocketfft transforms many
planes' lines at once. The rounding differs from im2col's (a transform's error grows as log(P Q), a sum's of
products as its length): in float32 on AlexNet's conv2 about 3e-7 of the largest output, against
im2col's 6e-7, and of the gradients 3e-7, against 3e-7 (dL/dx) and 6e-7 (dL/dw)
(``tests/test_fft.py`` holds each within 3x of im2col's).
"""
import numpy as np

from minicnn import cpu_threads
from minicnn.layers.winograd import in_blocks   # channels CHANNEL_BLOCK at a time, as Winograd's transforms

MIN_TAPS = 25          # the CPU's convolutions take the FFT for windows of 5 x 5 taps or more,
MIN_CHANNELS = 32      # this many input channels a group or more
MIN_IMAGES = 8         # and this many images in the batch or more: below, the filters' transforms
                       # (the same for any batch) cost more than the GEMMs save. Measured on 2 cores
                       # against im2col, forward and backward (forward alone), AlexNet's conv2 (48
                       # channels a group): batch 4 0.79x (0.91x), 8 1.32x (1.50x), 16 1.50x (1.78x),
                       # 32 1.50x; torchvision's (64, one group): 0.69x, 1.01x (1.29x), 1.40x (1.44x),
                       # at 64 1.83x; the small AlexNet's conv2 (12 a group) at batch 64 1.03x, its
                       # conv1 (one channel) 0.29x
# 5-smooth transform sizes, whose pocketfft runs fast; the smallest that fits is taken
GOOD_SIZES = tuple(sorted(2 ** i * 3 ** j * 5 ** k for i in range(8) for j in range(5) for k in range(4)
                          if 2 ** i * 3 ** j * 5 ** k <= 512))


def applies(kernel, stride):
    """Whether the FFT computes a convolution of this ``kernel`` and ``stride`` ((h, w) pairs):
    any kernel of stride 1 (any padding, any groups)."""
    return tuple(stride) == (1, 1)


def pays(x_shape, kernel, stride, pad, groups, on_gpu=False):
    """Whether Conv2D computes a convolution of x (N, C, H, W) by the FFT rather than im2col or
    Winograd's: on the CPU (no kernels compute it on a GPU), stride 1, a window of MIN_TAPS taps or
    more, MIN_CHANNELS input channels a group and MIN_IMAGES images or more. (NumPy before 2.0
    transforms float32 planes in float64, and the FFT still gains there: with NumPy 1.24, forward
    and backward, 1.43x im2col's speed on AlexNet's conv2 at batch 32, 1.64x on torchvision's at
    64, against 1.50x and 1.83x with NumPy 2.4.)"""
    n, c = x_shape[:2]
    if on_gpu or not applies(kernel, stride) or kernel[0] * kernel[1] < MIN_TAPS:
        return False
    return c // groups >= MIN_CHANNELS and n >= MIN_IMAGES


def transform_size(length, kernel, pad):
    """P: the smallest of GOOD_SIZES that holds, along one axis of ``length`` values, the plane
    and its padding before it, wrapped around (length + pad), each output at a position of its
    own (length + 2 pad - kernel + 1, more than length + pad where the padding passes the
    window), and each tap of the weight gradient (kernel)."""
    need = max(length + pad, length + 2 * pad - kernel + 1, kernel)
    return next((s for s in GOOD_SIZES if s >= need), need)


def beyond_the_image(kernel, pad):
    """(rows, columns): how many outputs at each end of an axis read the padding alone, where the
    padding passes the window (pad >= kernel): pad - kernel + 1 along each, else 0."""
    return tuple(max(0, p - k + 1) for k, p in zip(kernel, pad))


def set_beyond_the_image(planes, edges, values=None):
    """Set the outputs of ``planes`` (N, C, OH, OW) that read the padding alone (``edges``, from
    ``beyond_the_image``) to ``values`` (C,: the bias) or 0, in place: what they are exactly, where
    the transforms leave rounding of some 1e-16 of the layer's values, which a fused ReLU lets
    through about half the time (and a gradient check of a layer whose other outputs it masks then
    compares that rounding's derivatives, analytic and numerical)."""
    rows, columns = edges
    fill = 0 if values is None else values.reshape(-1, 1, 1)
    out_h, out_w = planes.shape[2:]
    if rows:
        planes[:, :, :rows] = fill
        planes[:, :, out_h - rows:] = fill
    if columns:
        planes[:, :, :, :columns] = fill
        planes[:, :, :, out_w - columns:] = fill


def complex_type(dtype):
    """The complex dtype of a real one: complex64 for float32, complex128 for float64."""
    return np.result_type(dtype, np.complex64)


def dft_matrix(size, taps, shift, sign, half=False):
    """(frequencies, taps): exp(sign * 2 pi i * k * (t - shift) / size) for each frequency k of a
    ``size``-point DFT (the first size // 2 + 1 of them with ``half``, a real plane's half
    spectrum) and each tap t < ``taps``: a filter's DFT with its taps moved ``shift`` back, the
    phase that stands in for the padding. In float64; the callers round it."""
    frequencies = np.arange(size // 2 + 1 if half else size)
    return np.exp(sign * 2j * np.pi * np.outer(frequencies, np.arange(taps) - shift) / size)


def filter_transform(w, size, pad, groups, sign, transposed):
    """The DFTs of every filter w (O, C/G, kh, kw), its taps moved back by the padding: (P, Q', G,
    O/G, C/G), or (P, Q', G, C/G, O/G) with ``transposed``, in w's complex dtype. ``sign`` -1 is
    the DFT, +1 its conjugate (the forward's conj(W), at no cost). Two small GEMMs by the DFT's
    matrices, along the rows' kw taps and then the columns' kh (one GEMM by their Kronecker product,
    P Q' x kh kw, took 12.7 ms on conv2 of torchvision's AlexNet, 5x the multiply-adds)."""
    o, cg, kh, kw = w.shape
    (p, q), (ph, pw) = size, pad
    complex_dtype = complex_type(w.dtype)
    rows = w.reshape(-1, kw) @ dft_matrix(q, kw, pw, sign, half=True).T.astype(complex_dtype)   # (O C/G kh, Q')
    rows = rows.reshape(groups, o // groups, cg, kh, q // 2 + 1)
    rows = rows.transpose(3, 4, 0, 2, 1) if transposed else rows.transpose(3, 4, 0, 1, 2)  # (kh, Q', G, ., .)
    spectra = dft_matrix(p, kh, ph, sign).astype(complex_dtype) @ rows.reshape(kh, -1)      # (P, Q' G O/G C/G)
    return spectra.reshape((p, q // 2 + 1) + rows.shape[2:])


def frequency_products(a, b):
    """np.matmul(a, b) for stacks of matrices a (F, ..., M, K) and b (F, ..., K, N), one product
    per frequency: the frequencies cut into slices on ``cpu_threads``'s threads, each product on
    one core (conv2 of torchvision's AlexNet at batch 64 on 32 x 32 transforms, 544 products of 192
    x 64 by 64 x 64 on 2 cores: 22 ms, where NumPy's loop over them, each product on both cores,
    took 35 ms; ``cpu_threads.products_on_cores``)."""
    out = np.empty(a.shape[:-1] + b.shape[-1:], dtype=np.result_type(a, b))
    cpu_threads.products_on_cores(cpu_threads.plan_slices(len(out), out),
                                  lambda s: np.matmul(a[s], b[s], out=out[s]))
    return out


def weight_grad_inverse(d, kernel, size, pad, dtype):
    """dw (O, C/G, kh, kw) from D (P, Q', G, O/G, C/G), the weight gradient's spectra conjugated:
    dw[a, b] = Re(IDFT(conj(D)))[a - pad, b - pad] = Re(sum_uv m_v D[u, v] e^(-2 pi i (u (a - ph) /
    P + v (b - pw) / Q))) / (P Q), where m_v counts the half spectrum's mirrored frequencies (2,
    but 1 for v = 0 and v = Q / 2). Only the kh x kw wanted values: one GEMM by the Kronecker
    product of the inverse DFT's matrices."""
    (kh, kw), (p, q), (ph, pw) = kernel, size, pad
    _, _, groups, og, cg = d.shape
    mirrored = np.full(q // 2 + 1, 2.0)
    mirrored[0] = 1
    if q % 2 == 0:
        mirrored[-1] = 1
    rows = dft_matrix(p, kh, ph, -1).T                                  # (kh, P)
    columns = (dft_matrix(q, kw, pw, -1, half=True) * mirrored[:, None]).T / (p * q)   # (kw, Q')
    kron = np.einsum("au,bv->abuv", rows, columns).reshape(kh * kw, -1).astype(d.dtype)
    dw = (kron @ d.reshape(p * (q // 2 + 1), -1)).real                   # (kh kw, G O/G C/G)
    return dw.reshape(kh, kw, groups * og, cg).transpose(2, 3, 0, 1).astype(dtype)


def plane_transform(planes, size):
    """rfft2 of ``planes`` (K, H, W, N) along H and W, zeros appended to ``size`` (P, Q): (K, P,
    Q', N) in the planes' complex dtype, over slices of K on all the cores."""
    k, _, _, n = planes.shape
    p, q = size
    spectra = np.empty((k, p, q // 2 + 1, n), dtype=complex_type(planes.dtype))

    def transform(s):
        spectra[s] = np.fft.rfft2(planes[s], s=size, axes=(1, 2))

    cpu_threads.in_slices(k, in_blocks(transform), planes)
    return spectra


def conv_forward(x, w, b, pad, groups, relu=False):
    """``minicnn.layers.conv.conv_forward`` for a convolution of stride 1 by the FFT: y (N, O,
    OH, OW) and the cache for ``conv_backward``, which holds the input's transforms X (C, P, Q', N):
    smaller than im2col's columns where the window is large (conv2 of AlexNet: 2 x 30 x 16 floats a
    channel and image against 25 x 27 x 27)."""
    n, c, h, wid = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = h + 2 * pad[0] - kh + 1, wid + 2 * pad[1] - kw + 1
    size = (transform_size(h, kh, pad[0]), transform_size(wid, kw, pad[1]))
    frequencies = size[0] * (size[1] // 2 + 1)
    spectra = plane_transform(x.transpose(1, 2, 3, 0), size)                 # (C, P, Q', N)
    x_spectra = spectra.reshape(groups, cg, frequencies, n).transpose(2, 0, 1, 3)   # (F, G, C/G, N) view
    w_conj = filter_transform(w, size, pad, groups, +1, False).reshape(frequencies, groups, o // groups, cg)
    y_spectra = frequency_products(w_conj, x_spectra).reshape(size[0], size[1] // 2 + 1, o, n)   # F x G GEMMs
    y = np.empty((n, o, oh, ow), dtype=x.dtype)
    edges = beyond_the_image((kh, kw), pad)

    def inverse(s):
        planes = np.fft.irfft2(y_spectra[:, :, s], s=size, axes=(0, 1))[:oh, :ow]   # (OH, OW, o, N)
        out = y[:, s]
        if b is None:
            np.copyto(out, planes.transpose(3, 2, 0, 1))
        else:
            np.add(planes.transpose(3, 2, 0, 1), b[s].reshape(-1, 1, 1), out=out)
        if any(edges):
            set_beyond_the_image(out, edges, None if b is None else b[s])
        if relu:
            np.maximum(out, 0, out=out)

    cpu_threads.in_slices(o, in_blocks(inverse), y_spectra)
    return y, (x.shape, w, spectra, size, pad, groups, b is not None, y if relu else None)


def conv_backward(dout, cache, param_grads=True, input_grad=True):
    """``minicnn.layers.conv.conv_backward`` after ``conv_forward``: (dx, dw, db), each None
    where ``conv_backward`` gives None."""
    x_shape, w, spectra, size, pad, groups, has_bias, relu_out = cache
    if relu_out is not None:
        dout = dout * (relu_out > 0)
    n, c, h, wid = x_shape
    o, cg, kh, kw = w.shape
    db = dout.sum(axis=(0, 2, 3)) if has_bias and param_grads else None
    edges = beyond_the_image((kh, kw), pad)
    if any(edges):   # the outputs the forward set read neither x nor w: none of their dL/dy goes to dx or dw
        dout = dout.copy()
        set_beyond_the_image(dout, edges)
    frequencies = size[0] * (size[1] // 2 + 1)
    dout_spectra = plane_transform(dout.transpose(1, 2, 3, 0), size)        # (O, P, Q', N)
    dy = dout_spectra.reshape(groups, o // groups, frequencies, n).transpose(2, 0, 1, 3)   # (F, G, O/G, N)
    dx = dw = None
    if param_grads:
        x_conj = np.conjugate(spectra).reshape(groups, cg, frequencies, n).transpose(2, 0, 3, 1)   # (F, G, N, C/G)
        d = frequency_products(dy, x_conj).reshape(size[0], size[1] // 2 + 1, groups, o // groups, cg)
        dw = weight_grad_inverse(d, (kh, kw), size, pad, w.dtype)
    if input_grad:
        w_t = filter_transform(w, size, pad, groups, -1, True).reshape(frequencies, groups, cg, o // groups)
        dx_spectra = frequency_products(w_t, dy).reshape(size[0], size[1] // 2 + 1, c, n)   # (P, Q', C, N)
        dx = np.empty(x_shape, dtype=dout.dtype)

        def inverse(s):
            planes = np.fft.irfft2(dx_spectra[:, :, s], s=size, axes=(0, 1))[:h, :wid]   # (H, W, c, N)
            np.copyto(dx[:, s], planes.transpose(3, 2, 0, 1))

        cpu_threads.in_slices(c, in_blocks(inverse), dx_spectra)
    return dx, dw, db
