"""Matrix products on the kernel devices: cuBLAS by default, or minicnn's own tiled GEMM.

    matmul(a, b, trans_a=False, trans_b=False)  ->  op(a) @ op(b)

with a, b contiguous 2-D matrices or 3-D stacks (G, ., .) of them (one product per group, as
Conv2D's groups need), op(m) = m transposed over its last two axes when asked. The result is a
new contiguous array.

Three implementations, chosen with ``use_gemm("tiled")`` (a context manager) or ``set_gemm``:
    "cublas"  cuBLAS on the GPU (NumPy's BLAS under the simulator), the default: a matrix by
              ``xp.matmul``, a stack of several in one strided-batched call
              (``cublasGemmStridedBatchedEx``, ``strided_batched_plan``), the operands' transposes
              passed to cuBLAS as flags.
    "cublas-looped"  the same with one ``xp.matmul`` per matrix of a stack, minicnn's cuBLAS path
              before the batched call, kept to time against it (``benchmarks/kernels.py --gemm``).
    "tiled"   kernels/gemm_tiled.cu, the teaching version of what cuBLAS does: shared-memory
              tiles and register blocking, operands read through strides (no transpose copies),
              in the version ``kernel_versions.current("gemm_tiled")``: version 2 splits K over
              several blocks where the tiles alone cannot fill the device (``split_k``), version 3
              does the same with tiles of 128 x 128 (``TILES``).

From version 4 the tiled GEMM also stores Conv2D's forward product as the layer's NCHW output,
with the bias and the fused ReLU, in the GEMM's own stores (``matmul_nchw``, where
``stores_nchw()``); otherwise Conv2D runs ``matmul`` and its layout kernel gemm_to_nchw_bias.
From version 5 it reads the columns of im2col straight from the conv's input, so that they are
never written (``conv_forward_implicit`` and ``conv_weight_grad_implicit``, where
``gathers_columns()``), and from version 6 the conv's input gradient straight from the weights and
dL/dy, without the columns' gradient and col2im (``conv_input_grad_implicit``, where
``gathers_output_grad()``). Version 7 runs version 6's products with each thread reading its rows
of A four at a time from shared memory, version 8 its columns of B as well, and version 9 copies
the next K slice of both operands to shared memory (cp.async) while it multiplies this one (all
three: the same results).
"""
import collections
import contextlib
import math
import os

import numpy as np

from minicnn import kernel_versions
from minicnn.backend import device_of, get_array_module
from minicnn.launch import (BLOCK, KernelLaunchError, empty, grid_for, launch, on_device_of, resident_blocks,
                            watched)

GEMMS = ("cublas", "cublas-looped", "tiled")
_gemm = "cublas"

# kernels/gemm_tiled.cu: the square tile of C of one block, per version
TILES = {1: 64, 2: 64, 3: 128, 4: 128, 5: 128, 6: 128, 7: 128, 8: 128, 9: 128}
TRANSPOSE_TILE = 32         # transpose_matrices' tile: 32 x 32 values in shared memory
TILED_BLOCK = (16, 16)      # 256 threads, each computing a 4 x 4 (versions 3 to 9: 8 x 8) sub-tile
TILE_K = 8                  # the K slice a block loads at a time
MIN_SPLIT_K = 256           # the least K a block of a split product walks (versions 2 to 5)


def set_gemm(name):
    """Select the GEMM of the kernel devices for the rest of the process."""
    global _gemm
    if name not in GEMMS:
        raise ValueError(f"unknown GEMM {name!r}: expected one of {', '.join(GEMMS)}")
    _gemm = name


def current_gemm():
    return _gemm


@contextlib.contextmanager
def use_gemm(name):
    """``with use_gemm("tiled"): ...`` runs the block with that GEMM, then restores the previous one."""
    saved = _gemm
    set_gemm(name)
    try:
        yield
    finally:
        set_gemm(saved)


def matmul(a, b, trans_a=False, trans_b=False):
    """op(a) @ op(b) for 2-D matrices or (G, ., .) stacks; see the module docstring."""
    if a.ndim != b.ndim or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[0] != b.shape[0]):
        raise KernelLaunchError(f"matmul: expected two matrices or two stacks of the same length, got "
                                f"shapes {a.shape} and {b.shape}")
    m, k = a.shape[-1:-3:-1] if trans_a else a.shape[-2:]
    kb, n = b.shape[-1:-3:-1] if trans_b else b.shape[-2:]
    if k != kb:
        raise KernelLaunchError(f"matmul: inner dimensions differ: op(a) is {m}x{k}, op(b) is {kb}x{n}")
    groups = a.shape[0] if a.ndim == 3 else 1
    name = "gemm_tiled" if _gemm == "tiled" else "gemm (cuBLAS)" if device_of(a) == "cuda" else "gemm (NumPy)"
    return watched(name,
                   (a.size + b.size + groups * m * n) * a.itemsize,
                   lambda: _matmul(a, b, trans_a, trans_b, m, n, k), flops=2 * groups * m * n * k)


def _matmul(a, b, trans_a, trans_b, m, n, k):
    if _gemm != "tiled":
        xp = get_array_module(a)
        a_op, b_op = (a.swapaxes(-1, -2) if trans_a else a), (b.swapaxes(-1, -2) if trans_b else b)
        if a.ndim == 2:
            return xp.matmul(a_op, b_op)
        if _gemm == "cublas" and xp is not np and a.shape[0] > 1:
            return _cublas_strided_batched(a, b, trans_a, trans_b, m, n, k)
        # One 2-D product per matrix ("cublas-looped", a stack of one, and NumPy under the
        # simulator). Not CuPy's matmul of stacks: it first copies a transposed operand to C order
        # (for conv2's weight gradient, the 896 MB of columns at batch 128) and calls cuBLAS in
        # strict float32 whatever CUPY_TF32 says; a 2-D product passes a transposed operand to
        # cuBLAS as it is and honours CUPY_TF32.
        c = empty((a.shape[0], m, n), a.dtype, a)
        for g in range(a.shape[0]):
            xp.matmul(a_op[g], b_op[g], out=c[g])
        return c
    stacked = a.ndim == 3
    a3, b3 = (a, b) if stacked else (a[None], b[None])
    groups = a3.shape[0]
    c = empty((groups, m, n), a.dtype, a)
    strides = _strides(m, n, k, trans_a, trans_b)
    version = kernel_versions.current("gemm_tiled")
    tiles_n, tiles_m = math.ceil(n / TILES[version]), math.ceil(m / TILES[version])
    if version == 1:
        launch("gemm_tiled", "gemm_tiled_v1", (tiles_n, tiles_m, groups), TILED_BLOCK, a3, b3, c, m, n, k, *strides)
        return c if stacked else c[0]
    splits, k_split = split_k(tiles_n * tiles_m * groups, k, resident_blocks(a))
    if splits == 1:
        _tiled_product(a3, b3, c, k, strides, 1, k_split)
    else:
        partial = empty((splits, groups, m, n), a.dtype, a)
        _tiled_product(a3, b3, partial, k, strides, splits, k_split)
        launch("gemm_tiled", "gemm_split_sum", grid_for(c.size, c), BLOCK, partial, c, splits, c.size)
    return c if stacked else c[0]


# cublas_api.h's and library_types.h's values (the C ABI; CuPy's names for them have changed
# between its versions, the numbers never)
CUBLAS_OP_N, CUBLAS_OP_T = 0, 1
CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_64F = 68, 77, 70
CUBLAS_GEMM_DEFAULT = -1
CUDA_R_32F, CUDA_R_64F = 0, 1

StridedBatchedPlan = collections.namedtuple(
    "StridedBatchedPlan", "op_b op_a rows cols inner ld_b stride_b ld_a stride_a ld_c stride_c")
StridedBatchedPlan.__doc__ = """The arguments of the column-major cuBLAS call that computes the row-major
stack c[g] = op(a[g]) @ op(b[g]), named after our operands: cuBLAS's A is b, its B is a
(``strided_batched_plan``); op_b and op_a are its transa and transb, (rows, cols, inner) its
(m, n, k)."""


def strided_batched_plan(m, n, k, trans_a=False, trans_b=False):
    """How cuBLAS, which reads matrices column by column, computes c = op(a) @ op(b) for C-order
    (row-major) contiguous a, b and c (G stacked matrices each, c (G, m, n)).

    A row-major matrix read column by column is its transpose, so cuBLAS is asked for
    c^T (n x m) = op(b)^T @ op(a)^T: b is cuBLAS's A and a its B. Stored row-major, b reads as b^T,
    which is op(b)^T itself when op(b) = b (no transpose, leading dimension n) and needs cuBLAS's
    transpose when op(b) = b^T (b stored (n, k): leading dimension k); likewise a, with leading
    dimension k (stored (m, k)) or m (stored (k, m), op(a) = a^T). c^T column-major is c
    row-major: leading dimension n. The stride between matrices is each one's size."""
    return StridedBatchedPlan(op_b=CUBLAS_OP_T if trans_b else CUBLAS_OP_N,
                              op_a=CUBLAS_OP_T if trans_a else CUBLAS_OP_N, rows=n, cols=m, inner=k,
                              ld_b=k if trans_b else n, stride_b=k * n, ld_a=m if trans_a else k, stride_a=m * k,
                              ld_c=n, stride_c=m * n)


_tf32 = None


def _compute_type(dtype):
    """(cuBLAS data type, compute type) of a product of ``dtype``: TF32 for float32 where
    CUPY_TF32 allows it, read once as CuPy reads it (at its first float32 product)."""
    global _tf32
    if dtype == np.float64:
        return CUDA_R_64F, CUBLAS_COMPUTE_64F
    if dtype != np.float32:
        raise KernelLaunchError(f"matmul: cuBLAS products take float32 or float64, got {dtype}")
    if _tf32 is None:
        _tf32 = int(os.environ.get("CUPY_TF32", "0")) > 0
    return CUDA_R_32F, (CUBLAS_COMPUTE_32F_FAST_TF32 if _tf32 else CUBLAS_COMPUTE_32F)


def _cublas_strided_batched(a, b, trans_a, trans_b, m, n, k):
    """c (G, m, n) = op(a[g]) @ op(b[g]) for CuPy stacks a and b, in one cuBLAS call: the G products
    fill the GPU together where one alone may not (Winograd's 16 a group: conv4's each
    (192 x 192) @ (192 x 6272) at batch 128, 98 tiles of 128 x 128 for 132 multiprocessors), and
    the host makes one call where it made G."""
    if a.dtype != b.dtype or a.data.device_id != b.data.device_id:
        raise KernelLaunchError(f"matmul: expected two stacks of one dtype on one GPU, got {a.dtype} on GPU "
                                f"{a.data.device_id} and {b.dtype} on GPU {b.data.device_id}")
    a, b = a if a.flags.c_contiguous else a.copy(), b if b.flags.c_contiguous else b.copy()
    c = empty((a.shape[0], m, n), a.dtype, a)
    on_device_of(a, _gemm_strided_batched, a, b, c, strided_batched_plan(m, n, k, trans_a, trans_b))
    return c


def _gemm_strided_batched(a, b, c, plan):
    from cupy.cuda import device
    from cupy_backends.cuda.libs import cublas
    data_type, compute_type = _compute_type(a.dtype)
    one, zero = np.ones((), a.dtype), np.zeros((), a.dtype)   # host scalars (cuBLAS's default pointer mode)
    cublas.gemmStridedBatchedEx(
        device.get_cublas_handle(), plan.op_b, plan.op_a, plan.rows, plan.cols, plan.inner, one.ctypes.data,
        b.data.ptr, data_type, plan.ld_b, plan.stride_b, a.data.ptr, data_type, plan.ld_a, plan.stride_a,
        zero.ctypes.data, c.data.ptr, data_type, plan.ld_c, plan.stride_c, a.shape[0], compute_type,
        CUBLAS_GEMM_DEFAULT)


def _strides(m, n, k, trans_a, trans_b):
    """The tiled kernels' operand strides: element (i, j) of op(a) is at i * a_row + j * a_col of
    its group's matrix; (a_row, a_col, group stride, b_row, b_col, group stride)."""
    a_row, a_col = (1, m) if trans_a else (k, 1)
    b_row, b_col = (1, k) if trans_b else (n, 1)
    return a_row, a_col, m * k, b_row, b_col, k * n


def _tiled_product(a3, b3, out, k, strides, splits, k_split):
    """One launch of the current version's plain product kernel (versions 4 to 6's is version 3's) for
    ``splits`` splits of K: out is the result (groups, m, n) or the workspace (splits, groups, m, n)."""
    version = kernel_versions.current("gemm_tiled")
    groups, m, n = out.shape[-3:]
    launch("gemm_tiled", kernel_versions.kernel_name("gemm_tiled", "gemm_tiled", version),
           (math.ceil(n / TILES[version]), math.ceil(m / TILES[version]), groups * splits), TILED_BLOCK, a3, b3, out,
           m, n, k, *strides, groups, k_split)


def stores_nchw():
    """Whether the current GEMM can store Conv2D's output itself (``matmul_nchw``): the tiled GEMM
    from version 4. Otherwise Conv2D runs ``matmul`` and its layout kernel gemm_to_nchw_bias."""
    return _gemm == "tiled" and kernel_versions.current("gemm_tiled") >= 4


def matmul_nchw(a, b, bias, relu, batch):
    """Conv2D's forward product stored as the layer's output: for stacks a (G, M, K) (the weights)
    and b (G, K, batch * S) (the columns), y (batch, G * M, S) with

        y[n, g * M + m, s] = relu?((a[g] @ b[g])[m, n * S + s] + bias[g * M + m])

    (the ReLU where ``relu``); bias (G * M,): ``matmul`` and Conv2D's layout kernel
    gemm_to_nchw_bias in one pass, the same bits. Only where ``stores_nchw()``."""
    if not stores_nchw():
        raise KernelLaunchError(f"matmul_nchw: the {_gemm} GEMM (version {kernel_versions.current('gemm_tiled')} of "
                                "the tiled one) cannot store NCHW; it needs the tiled GEMM from version 4")
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise KernelLaunchError(f"matmul_nchw: expected stacks (G, M, K) and (G, K, N), got shapes {a.shape} and "
                                f"{b.shape}")
    groups, m, k = a.shape
    n = b.shape[2]
    if batch < 1 or n % batch:
        raise KernelLaunchError(f"matmul_nchw: {n} columns are not {batch} images of equal size")
    if bias.shape != (groups * m,):
        raise KernelLaunchError(f"matmul_nchw: expected a bias of shape ({groups * m},), got {bias.shape}")
    y = empty((batch, groups * m, n // batch), a.dtype, a)
    return watched("gemm_tiled (NCHW store)", (a.size + b.size + bias.size + y.size) * a.itemsize,
                   lambda: _matmul_nchw(a, b, bias, relu, y), flops=2 * groups * m * n * k)


def _matmul_nchw(a, b, bias, relu, y):
    groups, m, k = a.shape
    n, spatial = b.shape[2], y.shape[2]
    strides = _strides(m, n, k, False, False)
    version = kernel_versions.current("gemm_tiled")
    tiles_n, tiles_m = math.ceil(n / TILES[version]), math.ceil(m / TILES[version])
    splits, k_split = split_k(tiles_n * tiles_m * groups, k, resident_blocks(a))
    if splits == 1:
        launch("gemm_tiled", kernel_versions.kernel_name("gemm_tiled", "gemm_tiled_nchw_bias", version),
               (tiles_n, tiles_m, groups), TILED_BLOCK, a, b, bias, y, m, n, k, *strides, groups, spatial, int(relu))
    else:
        partial = empty((splits, groups, m, n), a.dtype, a)
        _tiled_product(a, b, partial, k, strides, splits, k_split)
        launch("gemm_tiled", "gemm_split_sum_nchw_bias", grid_for(y.size, y), BLOCK, partial, bias, y, splits,
               groups * m, n, spatial, int(relu))
    return y


def split_k(tiles, k, blocks):
    """(splits, k_split) of the tiled GEMM's versions 2 to 5 for a product of ``tiles`` C tiles (all
    groups) and inner dimension ``k`` on a device that keeps ``blocks`` blocks busy
    (``launch.resident_blocks``): as many splits as bring the blocks to ``blocks``, each walking at
    least MIN_SPLIT_K of K (its partial tile is one more write of C), ``k_split`` a multiple of
    TILE_K; (1, k rounded up to TILE_K) where the tiles fill the device alone."""
    splits = max(1, min(math.ceil(blocks / tiles), k // MIN_SPLIT_K))
    k_split = TILE_K * math.ceil(k / splits / TILE_K)
    return math.ceil(k / k_split), k_split


# ---- version 5: the columns gathered from the conv's input -------------------------------------
ConvGeometry = collections.namedtuple(
    "ConvGeometry", "channels height width kernel_h kernel_w stride_h stride_w pad_h pad_w out_h out_w")
ConvGeometry.__doc__ = """A convolution's input x (batch, channels, height, width), its kernel, stride
and padding, and its output size (out_h, out_w): where the tiled GEMM's version 5 finds each
element of im2col's columns in x."""


def gathers_columns():
    """Whether the current GEMM reads Conv2D's columns straight from x (``conv_forward_implicit``):
    the tiled GEMM from version 5. Otherwise Conv2D runs im2col and a product of its columns."""
    return _gemm == "tiled" and kernel_versions.current("gemm_tiled") >= 5


def conv_forward_implicit(w, x, geometry, bias, relu):
    """Conv2D's forward without its columns: for the weights w (G, M, K), K = C/G kh kw, and the
    input x (batch, C, H, W), y (batch, G * M, OH * OW) with

        y[n, g * M + m, s] = relu?((w[g] @ cols[g])[m, n * S + s] + bias[g * M + m]),

    cols = im2col(x) (G, K, batch * S) as ``minicnn.layers.im2col`` lays it out, S = OH * OW;
    ``matmul_nchw(w, cols, bias, relu, batch)`` bit for bit, with each element of cols loaded
    from x where the product needs it. Only where ``gathers_columns()``."""
    if not gathers_columns():
        raise KernelLaunchError(f"conv_forward_implicit: the {_gemm} GEMM (version "
                                f"{kernel_versions.current('gemm_tiled')} of the tiled one) reads columns, not x; "
                                "it needs the tiled GEMM from version 5")
    groups, m, k = _check_implicit("conv_forward_implicit", w, x, geometry, rows=w.shape[-1])
    if bias.shape != (groups * m,):
        raise KernelLaunchError(f"conv_forward_implicit: expected a bias of shape ({groups * m},), got {bias.shape}")
    batch, spatial = x.shape[0], geometry.out_h * geometry.out_w
    y = empty((batch, groups * m, spatial), x.dtype, x)
    n = batch * spatial
    return watched("gemm_tiled (implicit, NCHW store)", (w.size + x.size + bias.size + y.size) * x.itemsize,
                   lambda: _conv_forward_implicit(w, x, geometry, bias, relu, y, n), flops=2 * groups * m * n * k)


def _conv_forward_implicit(w, x, geometry, bias, relu, y, n):
    groups, m, k = w.shape
    tiles = math.ceil(n / TILES[5]) * math.ceil(m / TILES[5]) * groups
    splits, k_split = split_k(tiles, k, resident_blocks(x))
    if splits == 1:
        launch("gemm_tiled", _kernel("gemm_tiled_implicit_nchw_bias", 5), _implicit_grid(n, m, groups), TILED_BLOCK,
               w, x, bias, y, m, n, k, groups, int(relu), *geometry)
    else:
        partial = empty((splits, groups, m, n), x.dtype, x)
        launch("gemm_tiled", _kernel("gemm_tiled_implicit", 5), _implicit_grid(n, m, groups * splits), TILED_BLOCK,
               w, x, partial, m, n, k, groups, k_split, 0, *geometry)
        launch("gemm_tiled", "gemm_split_sum_nchw_bias", grid_for(y.size, y), BLOCK, partial, bias, y, splits,
               groups * m, n, y.shape[2], int(relu))
    return y


def conv_weight_grad_implicit(dy, x, geometry):
    """Conv2D's weight gradient without its columns: for dL/dy in the GEMM layout dy (G, M,
    batch * OH * OW) and the input x, dW (G, M, C/G kh kw) = dy[g] @ cols[g]^T,
    ``matmul(dy, cols, trans_b=True)`` bit for bit, each element of cols loaded from x. The
    backward of a forward that ran ``conv_forward_implicit`` (whatever the version is by then)."""
    groups, m, n = dy.shape
    kernel_area = geometry.kernel_h * geometry.kernel_w
    _check_implicit("conv_weight_grad_implicit", dy, x, geometry, columns=n)
    rows = geometry.channels // groups * kernel_area
    dw = empty((groups, m, rows), dy.dtype, dy)
    return watched("gemm_tiled (implicit weight gradient)", (dy.size + x.size + dw.size) * x.itemsize,
                   lambda: _conv_weight_grad_implicit(dy, x, geometry, dw), flops=2 * groups * m * n * rows)


def _conv_weight_grad_implicit(dy, x, geometry, dw):
    groups, m, k = dy.shape      # the product's K: the columns of cols
    n = dw.shape[2]              # its N: the rows of cols
    tiles = math.ceil(n / TILES[5]) * math.ceil(m / TILES[5]) * groups
    splits, k_split = split_k(tiles, k, resident_blocks(x))
    out = dw if splits == 1 else empty((splits, groups, m, n), x.dtype, x)
    launch("gemm_tiled", _kernel("gemm_tiled_implicit", 5), _implicit_grid(n, m, groups * splits), TILED_BLOCK,
           dy, x, out, m, n, k, groups, k_split, 1, *geometry)
    if splits > 1:
        launch("gemm_tiled", "gemm_split_sum", grid_for(dw.size, dw), BLOCK, out, dw, splits, dw.size)
    return dw


def gathers_output_grad(stride=(1, 1)):
    """Whether the current GEMM computes the input gradient of a Conv2D of ``stride`` (h, w)
    straight from dL/dy (``conv_input_grad_implicit``): the tiled GEMM from version 6, for a
    stride of 1. Otherwise Conv2D's backward runs a product for the columns' gradient and col2im.

    Why not for a stride s: the gathering product runs over every kernel offset of every input
    pixel, and only one offset in s along each axis has a window, so it multiplies s_h s_w times
    the products of the columns' gradient, the rest zeros. On an H200 conv1 (stride 4, and 3
    input channels in a tile of 64 rows) took 802 ms forward and backward by version 6, where
    version 5 took 8.8 (benchmarks/results/gpu-kernels-NVIDIA_H200-b128-tiled-versions6-7-8-9-2026-12-04.md)."""
    return _gemm == "tiled" and kernel_versions.current("gemm_tiled") >= 6 and tuple(stride) == (1, 1)


def conv_input_grad_implicit(w, dy, geometry, batch):
    """Conv2D's input gradient without the columns' gradient: for the weights w (O, C/G, kh, kw)
    and dL/dy in the GEMM layout dy (O, batch * OH * OW), dx (batch, C, H, W) with

        dx[n, g C/G + c, h, w] = sum_{o, i, j} w[g O/G + o, c, i, j] dy[g O/G + o, (n, oh, ow)]

    over the windows (oh, ow) that cover pixel (h, w) at kernel offset (i, j): what
    ``col2im(w[g]^T @ dy[g])`` gives, summed in another order. Only where ``gathers_output_grad()``."""
    if not gathers_output_grad():
        raise KernelLaunchError(f"conv_input_grad_implicit: the {_gemm} GEMM (version "
                                f"{kernel_versions.current('gemm_tiled')} of the tiled one) needs the columns' "
                                "gradient and col2im; it needs the tiled GEMM from version 6")
    if not isinstance(geometry, ConvGeometry):
        raise KernelLaunchError(f"conv_input_grad_implicit: expected a ConvGeometry, got {type(geometry).__name__}")
    kernel = (geometry.kernel_h, geometry.kernel_w)
    if w.ndim != 4 or w.shape[2:] != kernel or geometry.channels % w.shape[1]:
        raise KernelLaunchError(f"conv_input_grad_implicit: expected weights (O, C/G, {kernel[0]}, {kernel[1]}) whose "
                                f"C/G divides {geometry.channels} channels, got shape {w.shape}")
    out_channels, group_channels = w.shape[:2]
    groups = geometry.channels // group_channels
    columns = batch * geometry.out_h * geometry.out_w
    if out_channels % groups or dy.shape != (out_channels, columns):
        raise KernelLaunchError(f"conv_input_grad_implicit: expected dL/dy of shape ({out_channels}, {columns}) "
                                f"for {groups} groups of {batch} images, got {dy.shape}")
    dx = empty((batch, geometry.channels, geometry.height, geometry.width), dy.dtype, dy)
    return watched("gemm_tiled (implicit input gradient)", (w.size + dy.size + dx.size) * dy.itemsize,
                   lambda: _conv_input_grad_implicit(w, dy, geometry, groups, dx), flops=2 * w.size * columns)


def _conv_input_grad_implicit(w, dy, geometry, groups, dx):
    out_channels, m, kh, kw = w.shape
    n = dx.shape[0] * geometry.height * geometry.width
    # a group of at most 64 input channels (conv2's 48) in tiles of 64, not in 128 rows mostly empty
    tile, kernel = ((64, _kernel("gemm_tiled_implicit_dgrad_64", 6)) if m <= 64
                    else (TILES[6], _kernel("gemm_tiled_implicit_dgrad", 6)))
    # each filter's (C/G, kh kw) matrix transposed, so that the product's A^T is a plain matrix
    wt = transpose_matrices(w.reshape(out_channels, m, kh * kw))
    launch("gemm_tiled", kernel, (math.ceil(n / tile), math.ceil(m / tile), groups), TILED_BLOCK, wt, dy, dx, m, n,
           out_channels // groups * kh * kw, groups, *geometry)
    return dx


def transpose_matrices(a):
    """t (count, cols, rows) with t[b] = a[b].T, for a contiguous stack a (count, rows, cols), on the
    device that holds a (kernels/gemm_tiled.cu: through 32 x 32 tiles in shared memory)."""
    if a.ndim != 3:
        raise KernelLaunchError(f"transpose_matrices: expected a stack of matrices (count, rows, cols), got shape "
                                f"{a.shape}")
    count, rows, cols = a.shape
    t = empty((count, cols, rows), a.dtype, a)
    launch("gemm_tiled", "transpose_matrices", (math.ceil(cols / TRANSPOSE_TILE), math.ceil(rows / TRANSPOSE_TILE),
                                                count), BLOCK, a, t, rows, cols)
    return t


def _kernel(name, least):
    """The kernel ``name`` (without ``_v<n>``) of the current version of the tiled GEMM, or of version
    ``least`` (the first to have it) below that: a weight gradient gathers its columns after a forward
    that gathered them, whatever the version is by then."""
    return kernel_versions.kernel_name("gemm_tiled", name, max(kernel_versions.current("gemm_tiled"), least))


def _implicit_grid(n, m, blocks_z):
    return math.ceil(n / TILES[5]), math.ceil(m / TILES[5]), blocks_z


def _check_implicit(who, a, x, geometry, rows=None, columns=None):
    """(groups, M, K) of ``a``, after checking it, x and the geometry against each other: a (G, M,
    rows) with rows = C/G kh kw (the forward), or (G, M, columns) with columns = batch OH OW (the
    weight gradient)."""
    if not isinstance(geometry, ConvGeometry):
        raise KernelLaunchError(f"{who}: expected a ConvGeometry, got {type(geometry).__name__}")
    if a.ndim != 3 or x.ndim != 4 or x.shape[1:] != (geometry.channels, geometry.height, geometry.width):
        raise KernelLaunchError(f"{who}: expected a stack (G, M, K) and x (N, {geometry.channels}, {geometry.height}, "
                                f"{geometry.width}), got shapes {a.shape} and {x.shape}")
    groups = a.shape[0]
    if geometry.channels % groups:
        raise KernelLaunchError(f"{who}: {groups} groups do not divide x's {geometry.channels} channels")
    if rows is not None and rows != geometry.channels // groups * geometry.kernel_h * geometry.kernel_w:
        raise KernelLaunchError(f"{who}: the weights' {rows} columns are not {geometry.channels // groups} channels "
                                f"of a {geometry.kernel_h}x{geometry.kernel_w} kernel")
    if columns is not None and columns != x.shape[0] * geometry.out_h * geometry.out_w:
        raise KernelLaunchError(f"{who}: dL/dy's {columns} columns are not {x.shape[0]} images of "
                                f"{geometry.out_h}x{geometry.out_w} outputs")
    return a.shape
