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
"""
import contextlib
import math

from minicnn import kernel_versions
from minicnn.backend import device_of, get_array_module
from minicnn.launch import BLOCK, KernelLaunchError, empty, grid_for, launch, resident_blocks, watched

GEMMS = ("cublas", "tiled")
_gemm = "cublas"

TILES = {1: 64, 2: 64, 3: 128}   # kernels/gemm_tiled.cu: the square tile of C of one block, per version
TILED_BLOCK = (16, 16)      # 256 threads, each computing a 4 x 4 (version 3: 8 x 8) sub-tile
TILE_K = 8                  # the K slice a block loads at a time
MIN_SPLIT_K = 256           # the least K a block of a split product walks (versions 2 and 3)


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
    a_row, a_col = (1, m) if trans_a else (k, 1)   # element (i, j) of op(a) is at i*a_row + j*a_col
    b_row, b_col = (1, k) if trans_b else (n, 1)
    strides = (a_row, a_col, m * k, b_row, b_col, k * n)
    version = kernel_versions.current("gemm_tiled")
    tiles_n, tiles_m = math.ceil(n / TILES[version]), math.ceil(m / TILES[version])
    if version == 1:
        launch("gemm_tiled", "gemm_tiled_v1", (tiles_n, tiles_m, groups), TILED_BLOCK, a3, b3, c, m, n, k, *strides)
        return c if stacked else c[0]
    splits, k_split = split_k(tiles_n * tiles_m * groups, k, resident_blocks(a))
    out = c if splits == 1 else empty((splits, groups, m, n), a.dtype, a)
    launch("gemm_tiled", f"gemm_tiled_v{version}", (tiles_n, tiles_m, groups * splits), TILED_BLOCK, a3, b3, out, m,
           n, k, *strides, groups, k_split)
    if splits > 1:
        launch("gemm_tiled", "gemm_split_sum", grid_for(c.size, c), BLOCK, out, c, splits, c.size)
    return c if stacked else c[0]


def split_k(tiles, k, blocks):
    """(splits, k_split) of gemm_tiled_v2 and v3 for a product of ``tiles`` C tiles (all groups) and
    inner dimension ``k`` on a device that keeps ``blocks`` blocks busy (``launch.resident_blocks``):
    as many splits as bring the blocks to ``blocks``, each walking at least MIN_SPLIT_K of K (its
    partial tile is one more write of C), ``k_split`` a multiple of TILE_K; (1, k rounded up to
    TILE_K) where the tiles fill the device alone."""
    splits = max(1, min(math.ceil(blocks / tiles), k // MIN_SPLIT_K))
    k_split = TILE_K * math.ceil(k / splits / TILE_K)
    return math.ceil(k / k_split), k_split
