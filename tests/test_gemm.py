"""minicnn.gemm: the tiled GEMM kernel (kernels/gemm_tiled.cu), in each version, and the cuBLAS
path against NumPy, on awkward sizes around the 64 x 64 tile and the 8-deep K slices, with
transposes; the split of K (split_k) and its sums in every split count; and what versions 2 to 4
changed, in the simulator's traffic count: loads along each operand's contiguous axis, no
shared-memory bank conflicts, whole-sector stores, more blocks for a small C (2); half the loads
and shared-memory reads per multiply-add (3); Conv2D's output stored by the GEMM, bit for bit what
version 3 and the layout kernel give, without the layout kernel's pass (4); Conv2D's columns
gathered from its input, bit for bit what versions 4 and 3 give, without im2col (5); its input
gradient gathered from dL/dy, without the columns' gradient and col2im, from weights transposed
through shared memory (6); a thread's rows of A read from shared memory four at a time, bit for bit
version 6's (7)."""
import re

import numpy as np
import pytest

from devices import assert_close
from fake_data import small_conv
from minicnn import gemm as gemm_module
from minicnn import kernel_versions, simulator
from minicnn.backend import to_device, to_numpy
from minicnn.gemm import (GEMMS, MIN_SPLIT_K, TILE_K, ConvGeometry, conv_forward_implicit, conv_input_grad_implicit,
                          conv_weight_grad_implicit, current_gemm, matmul, matmul_nchw, set_gemm, split_k,
                          transpose_matrices, use_gemm)
from minicnn.layers.conv import conv_backward, conv_backward_cuda, conv_forward, conv_forward_cuda, conv_geometry
from minicnn.layers.im2col import im2col_kernel   # the name of the version the layers launch
from minicnn.launch import KernelLaunchError
from minicnn.simulator import traffic

SIZES = [(1, 1, 1), (7, 5, 3), (64, 64, 8), (65, 63, 9), (13, 130, 67), (5, 7, 1000)]   # (m, n, k)
TRANSPOSES = [(False, False), (True, False), (False, True), (True, True)]


def operands(m, n, k, trans_a, trans_b, dtype, seed=None):
    """a, b stored as matmul(a, b, trans_a, trans_b) takes them, and op(a) @ op(b) in NumPy."""
    rng = np.random.default_rng(m * n * k if seed is None else seed)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b, (a.T if trans_a else a) @ (b.T if trans_b else b)


@pytest.mark.parametrize("m,n,k", SIZES)
@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cublas_matches_numpy(kernel_device, m, n, k, trans_a, trans_b, dtype):
    a, b, expected = operands(m, n, k, trans_a, trans_b, dtype)
    c = matmul(to_device(a, kernel_device), to_device(b, kernel_device), trans_a, trans_b)
    assert_close(c, expected, f"cublas {m}x{n}x{k}")


@pytest.mark.parametrize("m,n,k", SIZES)
@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_matches_numpy(kernel_device, gemm_tiled_version, m, n, k, trans_a, trans_b, dtype):
    a, b, expected = operands(m, n, k, trans_a, trans_b, dtype)
    with use_gemm("tiled"):
        c = matmul(to_device(a, kernel_device), to_device(b, kernel_device), trans_a, trans_b)
    assert_close(c, expected, f"tiled v{gemm_tiled_version} {m}x{n}x{k}")


@pytest.mark.parametrize("gemm", GEMMS)
def test_stacks_are_one_product_per_group(kernel_device, gemm_tiled_version, gemm):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 70, 20)), rng.standard_normal((3, 20, 9))
    with use_gemm(gemm):
        assert_close(matmul(to_device(a, kernel_device), to_device(b, kernel_device)), a @ b, gemm)


def stacked_operands(groups, m, n, k, trans_a, trans_b, dtype):
    """Stacks a (G, ., .), b (G, ., .) as matmul takes them, and op(a[g]) @ op(b[g]) in NumPy."""
    pairs = [operands(m, n, k, trans_a, trans_b, dtype, seed=g) for g in range(groups)]
    return tuple(np.stack(parts) for parts in zip(*pairs))


@pytest.mark.parametrize("gemm", GEMMS)
@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stacks_with_transposes(kernel_device, gemm, trans_a, trans_b, dtype):
    """Stacks of two and more in each GEMM: on a GPU "cublas" makes one strided-batched cuBLAS call,
    the operands' transposes passed as flags, and "cublas-looped" a call per matrix."""
    for groups, (m, n, k) in ((2, (65, 63, 9)), (3, (13, 130, 67)), (16, (7, 5, 3))):
        a, b, expected = stacked_operands(groups, m, n, k, trans_a, trans_b, dtype)
        with use_gemm(gemm):
            c = matmul(to_device(a, kernel_device), to_device(b, kernel_device), trans_a, trans_b)
        assert c.shape == (groups, m, n) and c.dtype == dtype
        assert_close(c, expected, f"{gemm} {groups} x {m}x{n}x{k}")


def column_major_product(plan, a_flat, b_flat, groups):
    """What a column-major strided-batched GEMM (cuBLAS's) computes with ``plan``'s arguments on the
    flat buffers of the stacks a and b (cuBLAS's B and A): each matrix read from its buffer at its
    stride and leading dimension, element (i, j) at i + j * ld, the result written so too. Returns
    the flat buffer of c."""
    def matrix(flat, start, rows, cols, ld):
        return np.lib.stride_tricks.as_strided(flat[start:], shape=(rows, cols),
                                               strides=(flat.itemsize, ld * flat.itemsize))

    c_flat = np.full(groups * plan.stride_c, np.nan)
    for g in range(groups):
        first = (matrix(b_flat, g * plan.stride_b, plan.rows, plan.inner, plan.ld_b)
                 if plan.op_b == gemm_module.CUBLAS_OP_N else
                 matrix(b_flat, g * plan.stride_b, plan.inner, plan.rows, plan.ld_b).T)
        second = (matrix(a_flat, g * plan.stride_a, plan.inner, plan.cols, plan.ld_a)
                  if plan.op_a == gemm_module.CUBLAS_OP_N else
                  matrix(a_flat, g * plan.stride_a, plan.cols, plan.inner, plan.ld_a).T)
        out = np.lib.stride_tricks.as_strided(c_flat[g * plan.stride_c:], shape=(plan.rows, plan.cols),
                                              strides=(c_flat.itemsize, plan.ld_c * c_flat.itemsize))
        out[...] = first @ second
    return c_flat


@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES)
def test_strided_batched_plan_reads_row_major_stacks(trans_a, trans_b):
    """The arguments of the one cuBLAS call of "cublas" for a stack, checked without a GPU: a
    column-major product with them, on the stacks' C-order buffers, gives the row-major op(a) @ op(b)
    of each pair, in c's C order (each leading dimension no less than its matrix's rows, as cuBLAS
    requires)."""
    for groups, (m, n, k) in ((1, (1, 1, 1)), (2, (7, 5, 3)), (3, (13, 130, 67)), (2, (65, 63, 9))):
        a, b, expected = stacked_operands(groups, m, n, k, trans_a, trans_b, np.float64)
        plan = gemm_module.strided_batched_plan(m, n, k, trans_a, trans_b)
        assert (plan.rows, plan.cols, plan.inner) == (n, m, k)
        assert plan.ld_b >= (plan.rows if plan.op_b == gemm_module.CUBLAS_OP_N else plan.inner)
        assert plan.ld_a >= (plan.inner if plan.op_a == gemm_module.CUBLAS_OP_N else plan.cols)
        c = column_major_product(plan, a.ravel(), b.ravel(), groups).reshape(groups, m, n)
        np.testing.assert_allclose(c, expected, rtol=1e-12, atol=1e-12)


def test_selection_and_bad_shapes():
    assert current_gemm() == "cublas"
    with use_gemm("tiled"):
        assert current_gemm() == "tiled"
    assert current_gemm() == "cublas"
    with pytest.raises(ValueError, match="unknown GEMM 'magic'"):
        set_gemm("magic")
    with pytest.raises(KernelLaunchError, match=r"inner dimensions differ: op\(a\) is 2x3, op\(b\) is 4x5"):
        matmul(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(KernelLaunchError, match=r"op\(a\) is 3x2, op\(b\) is 5x4"):   # the transposes named
        matmul(np.ones((2, 3)), np.ones((4, 5)), trans_a=True, trans_b=True)
    for a, b in (((2, 3, 4), (3, 4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3,), (3,)),
                 ((1, 2, 3, 4), (1, 2, 4, 5))):
        with pytest.raises(KernelLaunchError, match="expected two matrices or two stacks of the same length, got "
                                                    + re.escape(f"shapes {a} and {b}")):
            matmul(np.ones(a), np.ones(b))
    assert matmul(np.ones((2, 3, 4)), np.ones((2, 4, 5))).shape == (2, 3, 5)


def test_cublas_compute_type_follows_the_dtype_and_cupy_tf32(monkeypatch):
    """float64 in float64; float32 in strict float32 unless CUPY_TF32 is above 0, read once as CuPy
    reads it (at the first float32 product); other dtypes refused."""
    for value, tf32 in ((None, False), ("0", False), ("1", True), ("2", True)):
        monkeypatch.setattr(gemm_module, "_tf32", None)
        if value is None:
            monkeypatch.delenv("CUPY_TF32", raising=False)
        else:
            monkeypatch.setenv("CUPY_TF32", value)
        assert gemm_module._compute_type(np.float64) == (gemm_module.CUDA_R_64F, gemm_module.CUBLAS_COMPUTE_64F)
        compute = gemm_module.CUBLAS_COMPUTE_32F_FAST_TF32 if tf32 else gemm_module.CUBLAS_COMPUTE_32F
        assert gemm_module._compute_type(np.dtype(np.float32)) == (gemm_module.CUDA_R_32F, compute), value
        monkeypatch.setenv("CUPY_TF32", "0" if tf32 else "1")   # read once: a later change is not seen
        assert gemm_module._compute_type(np.float32)[1] == compute
    with pytest.raises(KernelLaunchError, match="cuBLAS products take float32 or float64, got float16"):
        gemm_module._compute_type(np.dtype(np.float16))


# ---- version 2's split of K ------------------------------------------------------------------
def test_split_k_fills_the_device_and_covers_k():
    # conv1's weight gradient at batch 128 on an H100 (8 blocks on each of 132 multiprocessors)
    assert split_k(12, 387_200, 1056) == (88, 4400)
    assert split_k(2000, 100_000, 1056) == (1, 100_000)       # the tiles fill the device alone
    assert split_k(3, 67, 4) == (1, 72)                       # too little K to share
    assert split_k(1, 3 * MIN_SPLIT_K - 1, 64) == (2, 384)    # each split walks at least MIN_SPLIT_K
    for tiles in (1, 5, 12, 300):
        for k in (1, 8, 255, 256, 1000, 4099, 387_200):
            splits, k_split = split_k(tiles, k, 1056)
            assert k_split % TILE_K == 0 and (splits - 1) * k_split < k <= splits * k_split, (tiles, k)
            assert splits == 1 or (k_split >= MIN_SPLIT_K - TILE_K and tiles * (splits - 1) < 1056), (tiles, k)


SPLIT_CASES = ([(2, blocks, *t) for blocks in (1, 4, 6, 64) for t in [(False, False), (False, True), (True, False)]]
               + [(3, 1, False, False), (3, 64, False, True), (3, 6, True, False)])   # version 3: slower to simulate


@pytest.mark.parametrize("version,blocks,trans_a,trans_b", SPLIT_CASES)   # blocks 1, 4, 6, 64: 1, 2, 3, 5 splits
def test_every_split_count_sums_right(monkeypatch, version, blocks, trans_a, trans_b):
    """Versions 2 and 3 with K cut into 1, 2, 3 and 5 splits (the last one shorter) and two groups
    (one tile each): the split sums agree with NumPy in float64."""
    monkeypatch.setattr(gemm_module, "resident_blocks", lambda like: blocks)
    rng = np.random.default_rng(blocks)
    a = rng.standard_normal((2, 1300, 20) if trans_a else (2, 20, 1300))
    b = rng.standard_normal((2, 9, 1300) if trans_b else (2, 1300, 9))
    expected = (a.swapaxes(1, 2) if trans_a else a) @ (b.swapaxes(1, 2) if trans_b else b)
    splits = split_k(2, 1300, blocks)[0]
    assert splits == min(-(-blocks // 2), 5)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version), traffic.recording() as log:
        c = matmul(a, b, trans_a, trans_b)
    assert [t.kernel for t in log] == [f"gemm_tiled_v{version}"] + ["gemm_split_sum"] * (splits > 1)
    assert log[0].grid[2] == 2 * splits
    assert_close(c, expected, f"{splits} splits")


@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES)
def test_unsplit_versions_are_version_1_bit_for_bit(trans_a, trans_b):
    """With one split (K below MIN_SPLIT_K) each element sums its products in version 1's order,
    whatever the tile."""
    a, b, _ = operands(70, 130, 200, trans_a, trans_b, np.float32)
    results = []
    for version in (1, 2, 3, 7):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version):
            results.append(matmul(a, b, trans_a, trans_b))
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


def test_version_2_moves_whole_sectors_without_bank_conflicts():
    """A conv weight gradient's shape (dL/dy (O, N*OH*OW) @ cols^T, cols stored (K, N*OH*OW)):
    version 1 reads the transposed cols across rows (a sector a thread), stores its transposed
    A tile in 4 banks and its C columns 4 apart; version 2 none of that, and splits K."""
    a, b, expected = operands(64, 64, 1024, False, True, np.float32, seed=0)
    launches = {}
    for version in (1, 2):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version), traffic.recording() as log:
            assert_close(matmul(a, b, trans_b=True), expected, f"v{version}")
        launches[version] = log[0]
    v1, v2 = launches[1], launches[2]
    b1, b2 = v1.array("B").loads, v2.array("B").loads
    assert b1.sectors_per_request > 30 and b1.efficiency < 0.15        # 32 threads, 32 rows of b
    assert b2.sectors_per_request <= 4.5 and b2.efficiency > 0.9       # 4 rows of 8 floats a warp
    assert v1.shared_stores.conflict > 4 and v2.shared_stores.conflict == 1.0
    assert v1.shared_loads.conflict > 1.2 and v2.shared_loads.conflict == 1.0
    c1, c2 = v1.array("C").stores, v2.array("C").stores
    assert c1.efficiency <= 0.5 and c2.efficiency == 1.0
    assert v1.grid[2] == 1 and v2.grid[2] == 2    # the simulator's 2 blocks: K split in two


def test_version_3_loads_and_reads_half_as_much_per_multiply_add():
    """A 128 x 128 x 512 product: version 2's four 64 x 64 tiles each load their rows of A and
    columns of B (every value twice), version 3's one 128 x 128 tile (in two splits of K, the
    simulator keeping 2 blocks busy) once; its threads read 16 values of shared memory for 64
    multiply-adds against 8 for 16. Both without bank conflicts and in whole sectors."""
    a, b, expected = operands(128, 128, 512, False, False, np.float32, seed=1)
    launches = {}
    for version in (2, 3):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version), traffic.recording() as log:
            assert_close(matmul(a, b), expected, f"v{version}")
        launches[version] = log[0]
    v2, v3 = launches[2], launches[3]
    assert v2.grid == (2, 2, 1) and v3.grid == (1, 1, 2)
    for name in ("A", "B"):
        assert v3.array(name).loads.moved_bytes * 2 == v2.array(name).loads.moved_bytes == 2 * a.nbytes
    assert v3.shared_loads.wavefronts * 2 == v2.shared_loads.wavefronts
    for launch in (v2, v3):
        assert launch.shared_loads.conflict == launch.shared_stores.conflict == 1.0
        assert launch.loads.efficiency == 1.0 and launch.array("C").stores.efficiency == 1.0


# ---- version 4: Conv2D's output stored by the GEMM ---------------------------------------------
# (batch, channels, size, out channels, kernel, stride, pad, groups, relu, resident blocks)
CONV_STORE_CASES = {
    "groups-relu": (2, 6, 13, 8, 3, 1, 1, 2, True, 2),      # two images' columns meet inside a tile
    "no-relu": (3, 3, 20, 5, 5, 2, 0, 1, False, 2),
    "130-channels": (1, 4, 9, 130, 3, 1, 1, 1, True, 2),    # two tiles of rows, the second of 2 rows
    "split-k": (2, 128, 6, 12, 3, 1, 1, 2, True, 6),       # K = 576 a group: 2 splits, two groups
    "no-bias": (2, 5, 7, 9, 3, 1, 0, 1, False, 2),
}


def conv_operands(case, dtype):
    """x, w, b, stride, pad, groups, relu of a case; its size, kernel, stride and pad are an int for
    a square, or an (h, w) pair."""
    n, c, size, o, kernel, stride, pad, groups, relu, _ = case
    size, kernel, stride, pad = ((v, v) if isinstance(v, int) else v for v in (size, kernel, stride, pad))
    rng = np.random.default_rng(o * size[0])
    x = rng.standard_normal((n, c, *size)).astype(dtype)
    w = rng.standard_normal((o, c // groups, *kernel)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    return x, w, b, stride, pad, groups, relu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_STORE_CASES.values(), ids=CONV_STORE_CASES.keys())
def test_version_4_stores_the_conv_output_as_version_3_and_the_layout_kernel(kernel_device, monkeypatch, case,
                                                                              dtype):
    monkeypatch.setattr(gemm_module, "resident_blocks", lambda like: case[-1])
    x, w, b, stride, pad, groups, relu = conv_operands(case, dtype)
    bias = None if case is CONV_STORE_CASES["no-bias"] else b
    xd, wd, bd = (to_device(a, kernel_device) for a in (x, w, b))
    outputs = {}
    for version in (3, 4):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version):
            outputs[version] = conv_forward_cuda(xd, wd, None if bias is None else bd, stride, pad, groups, relu)[0]
    np.testing.assert_array_equal(to_device(outputs[4], "cpu"), to_device(outputs[3], "cpu"))
    expected = conv_forward(x, w, bias, stride, pad, groups, relu)[0]   # NumPy's im2col and BLAS
    assert_close(outputs[4], expected, f"v4 {case}")


def test_version_4_runs_the_split_sum_that_stores_nchw(monkeypatch):
    monkeypatch.setattr(gemm_module, "resident_blocks", lambda like: 6)
    x, w, b, stride, pad, groups, relu = conv_operands(CONV_STORE_CASES["split-k"], np.float64)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 4), traffic.recording() as log:
        conv_forward_cuda(x, w, b, stride, pad, groups, relu)
    assert [t.kernel for t in log] == [im2col_kernel("im2col"), "gemm_tiled_v3", "gemm_split_sum_nchw_bias"]
    assert log[1].grid[2] == 2 * 2   # two groups, two splits each


def test_matmul_nchw_refuses_what_it_cannot_do():
    a, b, bias = np.ones((2, 3, 4)), np.ones((2, 4, 10)), np.zeros(6)
    with pytest.raises(KernelLaunchError, match="cannot store NCHW; it needs the tiled GEMM from version 4"):
        matmul_nchw(a, b, bias, False, 2)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 3), pytest.raises(KernelLaunchError, match="version 3"):
        matmul_nchw(a, b, bias, False, 2)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 4):
        with pytest.raises(KernelLaunchError, match="10 columns are not 3 images"):
            matmul_nchw(a, b, bias, False, 3)
        with pytest.raises(KernelLaunchError, match=r"expected a bias of shape \(6,\), got \(3,\)"):
            matmul_nchw(a, b, np.zeros(3), False, 2)
        with pytest.raises(KernelLaunchError, match=r"expected stacks \(G, M, K\) and \(G, K, N\)"):
            matmul_nchw(a, np.ones((2, 5, 10)), bias, False, 2)


def test_version_4_saves_the_layout_kernels_pass_over_the_output():
    """A conv forward (16 -> 32 channels, 3x3, 16x16 pixels, batch 2): version 3's GEMM stores its
    product and gemm_to_nchw_bias reads it back and writes the NCHW output; version 4's GEMM
    stores the output itself, in whole sectors. The other kernels move the same bytes."""
    x, w, b, _ = small_conv()
    logs = {}
    for version in (3, 4):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version), traffic.recording() as log:
            y = conv_forward_cuda(x, w, b, (1, 1), (1, 1), 1, True)[0]
        logs[version] = log
    v3, v4 = logs[3], logs[4]
    assert [t.kernel for t in v3] == [im2col_kernel("im2col"), "gemm_tiled_v3", "gemm_to_nchw_bias_v2"]
    assert [t.kernel for t in v4] == [im2col_kernel("im2col"), "gemm_tiled_nchw_bias_v4"]
    moved = {v: sum(t.loads.moved_bytes + t.stores.moved_bytes for t in log) for v, log in logs.items()}
    stores = v4[1].array("y").stores
    assert stores.efficiency == 1.0 and stores.moved_bytes == y.nbytes
    assert v4[1].array("A").loads.moved_bytes == v3[1].array("A").loads.moved_bytes
    assert v4[1].array("B").loads.moved_bytes == v3[1].array("B").loads.moved_bytes
    assert moved[3] - moved[4] >= 2 * y.nbytes   # the layout kernel's read and write of the output


# ---- version 5: Conv2D's columns gathered from x ----------------------------------------------
IMPLICIT_CASES = dict(CONV_STORE_CASES, **{
    "conv1-like": (2, 3, 23, 10, 11, 4, 0, 1, True, 8),         # 11x11 windows 4 apart, 363 rows
    "pad-beyond-stride": (2, 4, 10, 6, 3, 2, 2, 2, False, 2),   # windows starting 2 pixels before the image
    "split-weight-gradient": (2, 3, 32, 4, 3, 1, 1, 1, True, 8),  # K = 2,048 columns: dW in 8 splits
    # every axis its own: windows 2 pixels apart across (loaded along rows), then 1 (along columns)
    "rectangular": (2, 4, (9, 12), 6, (3, 5), (1, 2), (2, 1), 2, True, 2),
    "rectangular-across": (1, 3, (12, 8), 5, (5, 3), (2, 1), (0, 1), 1, False, 2),
    # 132 input channels a group: version 6's input gradient in tiles of 128 rows, the second of 4
    "wide-groups": (1, 132, 5, 6, 3, 1, 1, 1, True, 2),
})


def conv_both_ways(x, w, b, stride, pad, groups, relu, dout):
    """(y, dx, dW, db) of the kernel path, forward and backward."""
    y, cache = conv_forward_cuda(x, w, b, stride, pad, groups, relu)
    return (y, *conv_backward_cuda(dout, cache))


# Under a sanitizer (tests/test_simulator.py runs the kernel suite so, beside the main run on CI's
# 2 cores) what is checked is the gathering kernels' accesses: in float32 alone (float64 takes the
# same indices), versions 6 to 8 alone, against NumPy: version 6 launches version 5's forward and
# weight-gradient kernels and its own input gradient's, versions 7 and 8 their own of all three
# (version 4's kernels have their own test).
SANITIZED = simulator.sanitizer() is not None


@pytest.mark.parametrize("dtype", [np.float32] if SANITIZED else [np.float32, np.float64])
@pytest.mark.parametrize("case", IMPLICIT_CASES.values(), ids=IMPLICIT_CASES.keys())
def test_versions_5_to_9_gather_what_version_4_reads(kernel_device, monkeypatch, case, dtype):
    """The forward and the backward with the columns gathered from x (version 5) and written by
    im2col (version 4, whose weight gradient is version 3's product): the same y, dx, dW and db bit
    for bit (every element of the columns is the same value, so every sum is the same). Version 6's
    dx, one product gathering dL/dy, sums the same terms as the columns' gradient and col2im in
    another order: equal to the precision of the dtype, the rest bit for bit. Version 7 (rows read
    four at a time) is version 6 bit for bit, version 8 (columns too) version 7, and version 9 (the
    next slices copied while these are multiplied) version 8. All close to NumPy's im2col and BLAS."""
    monkeypatch.setattr(gemm_module, "resident_blocks", lambda like: case[-1])
    x, w, b, stride, pad, groups, relu = conv_operands(case, dtype)
    bias = None if case is IMPLICIT_CASES["no-bias"] else b
    y_shape = conv_forward(x, w, bias, stride, pad, groups)[0].shape
    dout = np.random.default_rng(3).standard_normal(y_shape).astype(dtype)
    xd, wd, bd, doutd = (to_device(a, kernel_device) for a in (x, w, b, dout))
    results = {}
    for version in (6, 7, 8, 9) if SANITIZED else (4, 5, 6, 7, 8, 9):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version):
            results[version] = [None if a is None else to_device(a, "cpu") for a in
                                conv_both_ways(xd, wd, None if bias is None else bd, stride, pad, groups, relu, doutd)]
    names = ("y", "dx", "dW", "db")
    for newer, older in ((5, 4), (6, 5), (7, 6), (8, 7), (9, 8)) if 4 in results else ((7, 6), (8, 7), (9, 8)):
        for name, new, old in zip(names, results[newer], results[older]):
            if old is None:
                assert new is None, name
            elif (newer, name) == (6, "dx"):
                assert_close(new, old, f"v6 dx against v5's {case}")
            else:
                np.testing.assert_array_equal(new, old, err_msg=f"v{newer} {name}")
    y, cache = conv_forward(x, w, bias, stride, pad, groups, relu)
    for version in sorted(results.keys() - {4}):
        for name, new, expected in zip(names, results[version], (y, *conv_backward(dout, cache))):
            if expected is not None:
                assert_close(new, expected, f"v{version} {name} {case}")


def test_version_5_launches_no_im2col_and_its_backward_follows_the_forward(monkeypatch):
    """No im2col, no columns in the cache (x in their place); a forward in split K sums its partial
    tiles as version 4's does, a weight gradient in split K as version 3's; and a backward run after
    the version has changed gathers the columns the forward did not keep."""
    monkeypatch.setattr(gemm_module, "resident_blocks", lambda like: 6)
    x, w, b, stride, pad, groups, relu = conv_operands(CONV_STORE_CASES["split-k"], np.float64)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 5), traffic.recording() as log:
        y, cache = conv_forward_cuda(x, w, b, stride, pad, groups, relu)
    assert [t.kernel for t in log] == ["gemm_tiled_implicit_v5", "gemm_split_sum_nchw_bias"]
    assert log[0].grid[2] == 2 * 2   # two groups, two splits each
    assert cache[2] is None and cache[-1] is x
    monkeypatch.setattr(gemm_module, "resident_blocks", lambda like: 8)
    x, w, b, stride, pad, groups, relu = conv_operands(IMPLICIT_CASES["split-weight-gradient"], np.float64)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 5):
        y, cache = conv_forward_cuda(x, w, b, stride, pad, groups, relu)
    dout = np.random.default_rng(4).standard_normal(y.shape)
    with traffic.recording() as log:   # the default GEMM, cuBLAS, by now
        dx, dw, db = conv_backward_cuda(dout, cache)
    kernels = [t.kernel for t in log]
    gather = kernel_versions.kernel_name("gemm_tiled", "gemm_tiled_implicit", kernel_versions.current("gemm_tiled"))
    assert gather in ("gemm_tiled_implicit_v5", "gemm_tiled_implicit_v7", "gemm_tiled_implicit_v8",
                      "gemm_tiled_implicit_v9")   # the default's
    assert kernels[2:4] == [gather, "gemm_split_sum"] and im2col_kernel("im2col") not in kernels
    assert kernels[4:] == [im2col_kernel("col2im")]   # the columns' gradient by cuBLAS (here NumPy), then col2im
    assert log[2].grid == (1, 1, 8)  # one 4 x 27 tile of dW, K = 2,048 in 8 splits
    expected = conv_backward(dout, conv_forward(x, w, b, stride, pad, groups, relu)[1])
    for name, got, want in zip(("dx", "dW", "db"), (dx, dw, db), expected):
        assert_close(got, want, name)


def test_the_implicit_products_refuse_what_they_cannot_do():
    x, w, bias = np.ones((2, 4, 5, 5)), np.ones((2, 3, 18)), np.zeros(6)
    geometry = conv_geometry(x.shape, (6, 2, 3, 3), (1, 1), (0, 0))
    assert geometry == ConvGeometry(4, 5, 5, 3, 3, 1, 1, 0, 0, 3, 3)
    with pytest.raises(KernelLaunchError, match="reads columns, not x; it needs the tiled GEMM from version 5"):
        conv_forward_implicit(w, x, geometry, bias, False)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 4), pytest.raises(KernelLaunchError, match="version 4"):
        conv_forward_implicit(w, x, geometry, bias, False)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 5):
        with pytest.raises(KernelLaunchError, match=r"expected a bias of shape \(6,\), got \(3,\)"):
            conv_forward_implicit(w, x, geometry, np.zeros(3), False)
        with pytest.raises(KernelLaunchError, match="the weights' 27 columns are not 2 channels of a 3x3 kernel"):
            conv_forward_implicit(np.ones((2, 3, 27)), x, geometry, bias, False)
        with pytest.raises(KernelLaunchError, match=r"x \(N, 4, 5, 5\), got shapes \(2, 3, 18\) and \(2, 3, 5, 5\)"):
            conv_forward_implicit(w, np.ones((2, 3, 5, 5)), geometry, bias, False)
        with pytest.raises(KernelLaunchError, match="3 groups do not divide x's 4 channels"):
            conv_forward_implicit(np.ones((3, 2, 12)), x, geometry, np.zeros(6), False)
        with pytest.raises(KernelLaunchError, match="expected a ConvGeometry, got tuple"):
            conv_forward_implicit(w, x, tuple(geometry), bias, False)
    with pytest.raises(KernelLaunchError, match="dL/dy's 20 columns are not 2 images of 3x3 outputs"):
        conv_weight_grad_implicit(np.ones((2, 3, 20)), x, geometry)


def test_version_5_reads_x_in_place_of_im2col_and_the_columns():
    """The conv of version 4's traffic test, forward and backward: version 5 launches no im2col,
    its GEMM's loads of A and stores of y are version 4's, its gathered loads of x touch each
    sector of x once (what DRAM serves when L2 keeps x), are as many requests as version 4's loads
    of the columns and move no more (the padding's zeros are not loaded at all), so that it moves
    at least im2col's write of the columns less; the weight gradient likewise reads x in place of
    the columns."""
    x, w, b, dout = small_conv()
    forward, backward = {}, {}
    for version in (4, 5):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version):
            with traffic.recording() as forward[version]:
                y, cache = conv_forward_cuda(x, w, b, (1, 1), (1, 1), 1, True)
            with traffic.recording() as backward[version]:
                conv_backward_cuda(dout, cache)
    v4, v5 = forward[4], forward[5]
    assert [t.kernel for t in v5] == ["gemm_tiled_implicit_nchw_bias_v5"]
    cols_bytes = 16 * 9 * 2 * 16 * 16 * 4
    assert v4[0].array("cols").stores.moved_bytes == cols_bytes
    gemm4, gemm5 = v4[1], v5[0]
    for name, kind in (("A", "loads"), ("y", "stores")):
        assert getattr(gemm5.array(name), kind) == getattr(gemm4.array(name), kind), name
    gathered, read = gemm5.array("x").loads, gemm4.array("B").loads
    assert gathered.touched * traffic.SECTOR_BYTES == x.nbytes
    assert gathered.requests == read.requests and gathered.moved_bytes <= read.moved_bytes
    padding = 9 * 16 * 16 - (15 + 16 + 15) ** 2   # of an image's channel's 9 x 256 window values
    assert gathered.bytes == read.bytes - 2 * 16 * padding * 4   # the padding's zeros are not loaded
    moved = {v: sum(t.loads.moved_bytes + t.stores.moved_bytes for t in log) for v, log in forward.items()}
    assert moved[4] - moved[5] >= cols_bytes
    weight_grads = [next(t for t in backward[v] if t.kernel.startswith("gemm_tiled")) for v in (4, 5)]
    assert [t.kernel for t in weight_grads] == ["gemm_tiled_v3", "gemm_tiled_implicit_v5"]
    assert weight_grads[1].array("x").loads.touched * traffic.SECTOR_BYTES == x.nbytes
    assert weight_grads[1].array("x").loads.bytes < weight_grads[0].array("B").loads.bytes


def test_version_5_loads_windows_far_apart_along_their_rows():
    """conv1's windows, 4 pixels apart: consecutive threads taking consecutive windows would ask
    for one value of every 4 (16 sectors for 32 values; 20 sectors a request, 20% of their bytes
    used, on this small image, where a warp's windows span several output rows). Version 5's
    consecutive threads take 8 values along a row of x in each of 4 neighbouring windows."""
    x, w, b, stride, pad, groups, relu = conv_operands(IMPLICIT_CASES["conv1-like"], np.float32)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 5), traffic.recording() as log:
        conv_forward_cuda(x, w, b, stride, pad, groups, relu)
    loads = log[0].array("x").loads
    assert loads.sectors_per_request < 4.5 and loads.efficiency > 0.7


# ---- version 6: Conv2D's input gradient gathered from dL/dy -----------------------------------
def test_version_6_launches_no_col2im_whatever_the_forward_kept():
    """Version 6's backward: dx in one launch, no columns' gradient, no col2im; after a forward of
    version 5 (no columns kept) the weight gradient gathers x, after one of version 4 it reads the
    columns; dx is the same either way. A layer that needs no input gradient launches neither. A
    group of at most 64 input channels takes tiles of 64, of more, tiles of 128. A conv of stride 2
    takes the columns' gradient and col2im all the same (gemm.gathers_output_grad says why)."""
    x, w, b, stride, pad, groups, relu = conv_operands(IMPLICIT_CASES["groups-relu"], np.float64)
    dout = np.random.default_rng(5).standard_normal(conv_forward(x, w, b, stride, pad, groups)[0].shape)
    launched, grads = {}, {}
    for forward_version in (4, 5):
        with use_gemm("tiled"):
            with kernel_versions.use("gemm_tiled", forward_version):
                cache = conv_forward_cuda(x, w, b, stride, pad, groups, relu)[1]
            with kernel_versions.use("gemm_tiled", 6), traffic.recording() as log:
                grads[forward_version] = conv_backward_cuda(dout, cache)
            launched[forward_version] = [t.kernel for t in log]
            with kernel_versions.use("gemm_tiled", 6), traffic.recording() as log:
                assert conv_backward_cuda(dout, cache, input_grad=False)[0] is None
            assert "gemm_tiled_implicit_dgrad_v6" not in [t.kernel for t in log]
    bias_grad = [kernel_versions.kernel_name("bias", "nchw_to_gemm_bias_grad", kernel_versions.current("bias")),
                 "bias_grad_columns"]
    dgrad = ["transpose_matrices", "gemm_tiled_implicit_dgrad_64_v6"]   # 3 channels a group: tiles of 64
    assert launched[4] == bias_grad + ["gemm_tiled_v3"] + dgrad
    assert launched[5] == bias_grad + ["gemm_tiled_implicit_v5"] + dgrad
    for new, old in zip(grads[5], grads[4]):
        np.testing.assert_array_equal(new, old)
    assert_close(grads[5][0], conv_backward(dout, conv_forward(x, w, b, stride, pad, groups, relu)[1])[0], "dx")
    x, w, b, stride, pad, groups, relu = conv_operands(IMPLICIT_CASES["wide-groups"], np.float64)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 6):
        y, cache = conv_forward_cuda(x, w, b, stride, pad, groups, relu)
        with traffic.recording() as log:
            conv_backward_cuda(np.ones_like(y), cache)
    assert log[-1].kernel == "gemm_tiled_implicit_dgrad_v6" and log[-1].grid == (1, 2, 1)   # 132 rows: 2 tiles
    x, w, b, stride, pad, groups, relu = conv_operands(IMPLICIT_CASES["pad-beyond-stride"], np.float64)
    dout = np.random.default_rng(6).standard_normal(conv_forward(x, w, b, stride, pad, groups)[0].shape)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 6):
        cache = conv_forward_cuda(x, w, b, stride, pad, groups, relu)[1]
        with traffic.recording() as log:
            dx = conv_backward_cuda(dout, cache)[0]
    assert [t.kernel for t in log][-2:] == ["gemm_tiled_v3", im2col_kernel("col2im")]
    assert_close(dx, conv_backward(dout, conv_forward(x, w, b, stride, pad, groups, relu)[1])[0], "strided dx")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transpose_matrices_matches_numpy(kernel_device, dtype):
    """Every matrix of a stack transposed, on sizes around the 32 x 32 tile: a tile as wide as the
    matrix (conv2's filters, 48 x 25), narrow (9 columns), ragged tiles both ways, one value."""
    rng = np.random.default_rng(1)
    for shape in [(3, 48, 25), (2, 70, 9), (2, 33, 65), (1, 1, 1), (5, 5, 40)]:
        a = rng.standard_normal(shape).astype(dtype)
        t = transpose_matrices(to_device(a, kernel_device))
        np.testing.assert_array_equal(to_numpy(t), a.transpose(0, 2, 1), err_msg=str(shape))
    with pytest.raises(KernelLaunchError, match=r"expected a stack of matrices \(count, rows, cols\), got shape "
                                                r"\(4, 5\)"):
        transpose_matrices(np.ones((4, 5)))


def test_transpose_matrices_reads_and_writes_whole_sectors():
    """Through its shared-memory tile, both sides along rows: conv2's filters (48 x 25 a filter)
    read and written each in whole sectors, once; the first cut (one thread a value of t, reading
    down a's columns) moved a sector for each value read, 8 times the weights. With 32 rows a tile,
    no bank conflicts (a tile of 16 rows has some: two columns of it in one warp)."""
    a = np.random.default_rng(2).standard_normal((16, 48, 25)).astype(np.float32)
    with traffic.recording() as log:
        transpose_matrices(a)
    loads, stores = log[0].array("a").loads, log[0].array("t").stores
    assert loads.moved_bytes == loads.touched_bytes == a.nbytes and loads.efficiency == 1.0
    assert stores.moved_bytes == stores.touched_bytes == a.nbytes and stores.efficiency == 1.0
    with traffic.recording() as log:
        transpose_matrices(a[:, :32].copy())
    assert log[0].shared_stores.conflict == log[0].shared_loads.conflict == 1.0


def test_the_implicit_input_gradient_refuses_what_it_cannot_do():
    w, dy = np.ones((6, 2, 3, 3)), np.ones((6, 18))
    geometry = conv_geometry((2, 4, 5, 5), w.shape, (1, 1), (0, 0))
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 5), pytest.raises(
            KernelLaunchError, match="version 5 of the tiled one.*it needs the tiled GEMM from version 6"):
        conv_input_grad_implicit(w, dy, geometry, 2)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 6):
        with pytest.raises(KernelLaunchError, match=r"expected weights \(O, C/G, 3, 3\) whose C/G divides 4 "
                                                    r"channels, got shape \(6, 3, 3, 3\)"):
            conv_input_grad_implicit(np.ones((6, 3, 3, 3)), dy, geometry, 2)
        with pytest.raises(KernelLaunchError, match=r"expected dL/dy of shape \(6, 18\) for 2 groups of 2 images, "
                                                    r"got \(6, 20\)"):
            conv_input_grad_implicit(w, np.ones((6, 20)), geometry, 2)
        with pytest.raises(KernelLaunchError, match="expected a ConvGeometry, got tuple"):
            conv_input_grad_implicit(w, dy, tuple(geometry), 2)


def test_version_6_reads_dl_dy_in_place_of_the_columns_gradient():
    """The conv of version 4's traffic test, backward: version 5's columns' gradient is written by
    a GEMM and read back by col2im, which writes dx; version 6 gathers dL/dy and writes dx in whole
    sectors, from the weights transposed first (so that its loads of them use every byte). The
    distinct sectors each launch touches (DRAM's traffic where L2 keeps what a launch reuses) drop
    by the columns' gradient's write and read (col2im reads all of it but the windows wholly in the
    padding), less the transpose's read and write of the weights. The sectors the requests move
    (what L1 passes on where it hits nothing) drop far less: version 6's product has K = O/G kh kw,
    not O/G, and loads each value of dL/dy kh kw times, repeats for the caches to serve (which a
    GPU's timing will weigh)."""
    x, w, b, dout = small_conv()
    logs = {}
    for version in (5, 6):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version):
            cache = conv_forward_cuda(x, w, b, (1, 1), (1, 1), 1, True)[1]
            with traffic.recording() as logs[version]:
                dx = conv_backward_cuda(dout, cache)[0]
    assert [t.kernel for t in logs[5]][-2:] == ["gemm_tiled_v3", im2col_kernel("col2im")]
    assert [t.kernel for t in logs[6]][-1] == "gemm_tiled_implicit_dgrad_64_v6"   # 16 channels: tiles of 64
    dgrad = logs[6][-1]
    dcols_bytes = 16 * 9 * 2 * 16 * 16 * 4
    assert logs[5][-2].array("C").stores.moved_bytes == dcols_bytes
    assert dgrad.array("dy").loads.touched * traffic.SECTOR_BYTES == dout.nbytes
    stores = dgrad.array("dx").stores
    assert stores.efficiency == 1.0 and stores.moved_bytes == dx.nbytes
    touched = {v: sum(t.loads.touched_bytes + t.stores.touched_bytes for t in log) for v, log in logs.items()}
    written, read_back = logs[5][-2].array("C").stores.touched_bytes, logs[5][-1].array("cols").loads.touched_bytes
    transpose = logs[6][-2]   # the weights, each filter's matrix transposed: read and written once
    assert transpose.kernel == "transpose_matrices"
    assert transpose.loads.touched_bytes == transpose.stores.touched_bytes == w.nbytes
    assert touched[5] - touched[6] == written + read_back - 2 * w.nbytes > 1.8 * dcols_bytes
    assert dgrad.array("wt").loads.efficiency == 1.0   # a slice's 64 channels side by side
    assert dgrad.array("dy").loads.bytes == 9 * dout.nbytes - 2 * 32 * (9 * 16 * 16 - (15 + 16 + 15) ** 2) * 4


def window_pairs_inside(size, kernel, stride, pad):
    """Along one axis of an image ``size`` pixels long: the pairs (output pixel, kernel offset)
    whose pixel of the image lies inside it, not in the padding."""
    outputs = (size + 2 * pad - kernel) // stride + 1
    return sum(0 <= o * stride - pad + i < size for o in range(outputs) for i in range(kernel))


@pytest.mark.parametrize("size, kernel, stride", [(15, 3, 1), (13, 2, 2)])
def test_the_implicit_products_load_no_column_past_their_own(size, kernel, stride):
    """A 3 x 3 conv of 2 images of 15 x 15 pixels at stride 1 (N = 450 columns of the forward's
    product and the input gradient's) and a 2 x 2 one of 13 x 13 at stride 2 (N = 98 and 338), a
    padding of 1: the last tile of 64 or 128 columns lies partly past N, as does the weight
    gradient's of a 1 x 1 conv (N = 16 rows of the columns). A thread whose column is past N loads
    nothing (one more column would read the next plane, and past the end of x or dL/dy for the last
    one): each product loads x, or dL/dy, once for every pair of a window and a kernel offset whose
    pixel lies in the image, counted here axis by axis. (Where two of a warp's threads take windows
    that overlap, a load asks once for their shared pixel: the forward at stride 2 and the weight
    gradient take windows which share no pixel.) The forward and the weight gradient are version
    5's kernels from version 5 on; the input gradient is each version's own."""
    rng = np.random.default_rng(3)
    batch, channels, out_channels = 2, 16, 32
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    w = rng.standard_normal((out_channels, channels, kernel, kernel)).astype(np.float32)
    geometry = conv_geometry(x.shape, w.shape, (stride, stride), (1, 1))
    pairs = window_pairs_inside(size, kernel, stride, 1) ** 2   # of an image's channel, or output channel
    dy = rng.standard_normal((1, out_channels, batch * geometry.out_h * geometry.out_w)).astype(np.float32)
    pointwise = conv_geometry(x.shape, (out_channels, channels, 1, 1), (stride, stride), (0, 0))
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 5), traffic.recording() as log:
        conv_forward_implicit(w.reshape(1, out_channels, -1), x, geometry, np.zeros(out_channels, np.float32), False)
        conv_weight_grad_implicit(dy[..., :batch * pointwise.out_h * pointwise.out_w], x, pointwise)
    assert [t.kernel for t in log] == ["gemm_tiled_implicit_nchw_bias_v5", "gemm_tiled_implicit_v5"]
    assert log[0].array("x").loads.bytes == batch * channels * pairs * 4
    assert log[1].array("x").loads.bytes == batch * channels * window_pairs_inside(size, 1, stride, 0) ** 2 * 4
    for version in (6, 9):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version), traffic.recording() as log:
            conv_input_grad_implicit(w, dy[0], geometry, batch)
        assert log[-1].kernel == f"gemm_tiled_implicit_dgrad_64_v{version}"
        assert log[-1].array("dy").loads.bytes == out_channels * batch * pairs * 4, version


# ---- version 7: a thread's rows of A read four at a time -----------------------------------------
def products_in_strips(older, newer):
    """A 128 x 128 x 512 float32 product and a small conv's input gradient in tiles of 64 (16 input
    channels) in versions ``older`` and ``newer``, after checking that the newer launches its own
    kernels and gives the older's results bit for bit: (a, b, NumPy's a @ b, the older's recorded
    launches (product, input gradient), the newer's)."""
    a, b, expected = operands(128, 128, 512, False, False, np.float32, seed=1)
    x, w, _, dout = small_conv()
    dy = np.ascontiguousarray(dout.transpose(1, 0, 2, 3).reshape(w.shape[0], -1))   # the GEMM layout
    geometry = conv_geometry(x.shape, w.shape, (1, 1), (1, 1))
    launches, results = {}, {}
    for version in (older, newer):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version):
            with traffic.recording() as product:
                c = matmul(a, b)
            with traffic.recording() as backward:
                dx = conv_input_grad_implicit(w, dy, geometry, x.shape[0])
        launches[version], results[version] = (product[0], backward[-1]), (c, dx)
    assert [t.kernel for t in launches[newer]] == [f"gemm_tiled_v{newer}", f"gemm_tiled_implicit_dgrad_64_v{newer}"]
    for new, old in zip(results[newer], results[older]):
        np.testing.assert_array_equal(new, old)
    assert_close(results[newer][0], expected, f"v{newer}")
    return a, b, expected, launches[older], launches[newer]


def test_version_7_reads_a_in_one_load_for_four_rows():
    """Version 6's plain product (version 3's kernel) and its input gradient in tiles of 64 (conv2's
    48 channels a group), against version 7's: the same loads and stores of memory, the same
    results bit for bit, and a thread's reads of A's slice in shared memory one 16-byte load for
    four rows where they took four: with tiles of 128, 2 + 8 loads a warp for 64 multiply-adds, not
    8 + 8; with tiles of 64, 1 + 4 for 16, not 4 + 4. Each a single pass (no bank conflicts); in
    float64 two 16-byte loads a strip, each a pass (the simulator counts a float4 as one access:
    tests/test_simulator_traffic.py)."""
    a, b, expected, (product6, dgrad6), (product7, dgrad7) = products_in_strips(6, 7)
    assert [product6.kernel, dgrad6.kernel] == ["gemm_tiled_v3", "gemm_tiled_implicit_dgrad_64_v6"]
    assert (product6.shared_loads.requests, product7.shared_loads.requests) == (65536, 40960)   # the README's
    for old, new, fewer in ((product6, product7, 10 / 16), (dgrad6, dgrad7, 5 / 8)):
        assert new.shared_loads.requests == old.shared_loads.requests * fewer
        assert new.shared_loads.wavefronts == new.shared_loads.requests and new.shared_loads.conflict == 1.0
        assert new.shared_stores == old.shared_stores
        for kind in ("loads", "stores"):
            assert getattr(new, kind).moved_bytes == getattr(old, kind).moved_bytes
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 7), traffic.recording() as log:
        assert_close(matmul(a64, b64), a64 @ b64, "v7 float64")
    assert log[0].shared_loads.requests == product7.shared_loads.requests * 12 / 10   # 4 + 8 a k
    assert log[0].shared_loads.conflict == 1.0


# ---- version 8: a thread's columns of B read four at a time too ----------------------------------
def test_version_8_reads_b_in_one_load_for_four_columns():
    """Version 7's plain product and its input gradient in tiles of 64, against version 8's: the
    same loads and stores of memory, the same results bit for bit, and a thread's reads of B's
    slice one 16-byte load for four columns: with tiles of 128, 2 + 2 loads a warp for 64
    multiply-adds where version 7 takes 2 + 8; with tiles of 64, 1 + 1 for 16, not 1 + 4. A warp's
    16-byte load of B covers 16 threads' strips, 256 bytes: two passes. The loaders' stores of B's
    slice, which version 7 makes in one pass each, take two (32 consecutive columns of a row fall
    in 16 banks), so the stores of both slices take 1.5 times version 7's passes."""
    a, b, expected, (product7, dgrad7), (product8, dgrad8) = products_in_strips(7, 8)
    assert (product7.shared_loads.requests, product8.shared_loads.requests) == (40960, 16384)   # the README's
    assert (product7.shared_loads.wavefronts, product8.shared_loads.wavefronts) == (40960, 24576)
    for old, new, fewer in ((product7, product8, 4 / 10), (dgrad7, dgrad8, 2 / 5)):
        assert new.shared_loads.requests == old.shared_loads.requests * fewer
        assert new.shared_loads.wavefronts == new.shared_loads.requests * 3 / 2   # A's loads 1 pass, B's 2
        assert new.shared_loads.conflict == 1.0    # two passes are the least for 256 bytes
        assert new.shared_stores.requests == old.shared_stores.requests
        assert new.shared_stores.wavefronts == old.shared_stores.wavefronts * 3 / 2
        for kind in ("loads", "stores"):
            assert getattr(new, kind).moved_bytes == getattr(old, kind).moved_bytes
    # B loaded along k (B^T contiguous): a warp's stores of B's slice fall in 8 banks, 4 passes each
    with use_gemm("tiled"), kernel_versions.use("gemm_tiled", 8), traffic.recording() as log:
        assert_close(matmul(a, np.ascontiguousarray(b.T), trans_b=True), expected, "v8, B loaded along k")
    stores = log[0].shared_stores
    assert (stores.requests, stores.wavefronts) == (4096, 2048 + 4 * 2048)
    # float64 (the tests' precision only): a strip of 32 bytes in two 16-byte loads, B's 4-way
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    loads = {}
    for version in (7, 8):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version), traffic.recording() as log:
            assert_close(matmul(a64, b64), a64 @ b64, f"v{version} float64")
        loads[version] = log[0].shared_loads
    assert (loads[7].requests, loads[7].wavefronts) == (49152, 49152)            # 4 + 8 a k, one pass each
    assert (loads[8].requests, loads[8].wavefronts) == (32768, 32768 / 8 * 20)   # 4 + 4 a k: 4 + 4 x 4 passes


# ---- version 9: the next slices copied while these are multiplied --------------------------------
def test_version_9_copies_the_next_slices_while_it_multiplies_these():
    """Version 8's plain product and input gradient in tiles of 64 against version 9's: the same
    results bit for bit, and the same traffic, request for request: its copies read memory where
    version 8's loads did, and land in shared memory (at each step's copy_wait, in the simulator)
    where and in the order version 8's stores put the values; its reads of the slices are version
    8's. Only the timing differs, which the simulator does not model: the copies of step s + 1 are
    issued before the multiply-adds of step s (tests/test_kernel_compile.py checks the cp.async
    instructions; tests/test_simulator.py the copies' model)."""
    _, _, _, (product8, dgrad8), (product9, dgrad9) = products_in_strips(8, 9)
    for old, new in ((product8, product9), (dgrad8, dgrad9)):
        assert (new.shared_loads, new.shared_stores) == (old.shared_loads, old.shared_stores)
        for kind in ("loads", "stores"):
            assert getattr(new, kind).requests == getattr(old, kind).requests
            assert getattr(new, kind).moved_bytes == getattr(old, kind).moved_bytes
