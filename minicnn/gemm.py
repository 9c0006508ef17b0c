"""Matrix products on the kernel devices: cuBLAS by default, or minicnn's own tiled GEMM.

    matmul(a, b, trans_a=False, trans_b=False)  ->  op(a) @ op(b)

with a, b contiguous 2-D matrices or 3-D stacks (G, ., .) of them (one product per group, as
Conv2D's groups need), op(m) = m transposed over its last two axes when asked. The result is a
new contiguous array.

Two implementations, chosen with ``use_gemm("tiled")`` (a context manager) or ``set_gemm``:
    "cublas"  ``xp.matmul``: cuBLAS on the GPU (NumPy's BLAS under the simulator). The default.
    "tiled"   kernels/gemm_tiled.cu, the teaching version of what cuBLAS does: shared-memory
              tiles and register blocking, operands read through strides (no transpose copies),
              in the version ``kernel_versions.current("gemm_tiled")``: version 2 splits K over
              several blocks where the tiles alone cannot fill the device (``split_k``), version 3
              does the same with tiles of 128 x 128 (``TILES``).

From version 4 the tiled GEMM also stores Conv2D's forward product as the layer's NCHW output,
with the bias and the fused ReLU, in the GEMM's own stores (``matmul_nchw``, where
``stores_nchw()``); otherwise Conv2D runs ``matmul`` and its layout kernel gemm_to_nchw_bias.
"""
import contextlib
import math

from minicnn import kernel_versions
from minicnn.backend import device_of, get_array_module
from minicnn.launch import BLOCK, KernelLaunchError, empty, grid_for, launch, resident_blocks, watched

GEMMS = ("cublas", "tiled")
_gemm = "cublas"

TILES = {1: 64, 2: 64, 3: 128, 4: 128}   # kernels/gemm_tiled.cu: the square tile of C of one block, per version
TILED_BLOCK = (16, 16)      # 256 threads, each computing a 4 x 4 (versions 3 and 4: 8 x 8) sub-tile
TILE_K = 8                  # the K slice a block loads at a time
MIN_SPLIT_K = 256           # the least K a block of a split product walks (versions 2 to 4)


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
    if _gemm == "cublas":
        xp = get_array_module(a)
        a_op, b_op = (a.swapaxes(-1, -2) if trans_a else a), (b.swapaxes(-1, -2) if trans_b else b)
        if a.ndim == 2:
            return xp.matmul(a_op, b_op)
        # One 2-D product per group, not one batched call. CuPy's matmul of stacks first copies a
        # transposed operand to C order (for conv2's weight gradient, the 896 MB of columns at
        # batch 128) and calls cuBLAS in strict float32 whatever CUPY_TF32 says; a 2-D product
        # passes a transposed operand to cuBLAS as it is and honours CUPY_TF32.
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


def _strides(m, n, k, trans_a, trans_b):
    """The tiled kernels' operand strides: element (i, j) of op(a) is at i * a_row + j * a_col of
    its group's matrix; (a_row, a_col, group stride, b_row, b_col, group stride)."""
    a_row, a_col = (1, m) if trans_a else (k, 1)
    b_row, b_col = (1, k) if trans_b else (n, 1)
    return a_row, a_col, m * k, b_row, b_col, k * n


def _tiled_product(a3, b3, out, k, strides, splits, k_split):
    """One launch of the current version's plain product kernel (version 4's is version 3's) for
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
    """(splits, k_split) of the tiled GEMM's versions 2 to 4 for a product of ``tiles`` C tiles (all
    groups) and inner dimension ``k`` on a device that keeps ``blocks`` blocks busy
    (``launch.resident_blocks``): as many splits as bring the blocks to ``blocks``, each walking at
    least MIN_SPLIT_K of K (its partial tile is one more write of C), ``k_split`` a multiple of
    TILE_K; (1, k rounded up to TILE_K) where the tiles fill the device alone."""
    splits = max(1, min(math.ceil(blocks / tiles), k // MIN_SPLIT_K))
    k_split = TILE_K * math.ceil(k / splits / TILE_K)
    return math.ceil(k / k_split), k_split
