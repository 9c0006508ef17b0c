"""minicnn.gemm: the tiled GEMM kernel (kernels/gemm_tiled.cu) and the cuBLAS path against
NumPy, on awkward sizes around the 64 x 64 tile and the 8-deep K slices, with transposes."""
import numpy as np
import pytest

from devices import assert_close
from minicnn.backend import to_device
from minicnn.gemm import GEMMS, current_gemm, matmul, set_gemm, use_gemm
from minicnn.launch import KernelLaunchError

SIZES = [(1, 1, 1), (7, 5, 3), (64, 64, 8), (65, 63, 9), (13, 130, 67)]


@pytest.mark.parametrize("gemm", GEMMS)
@pytest.mark.parametrize("m,n,k", SIZES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_numpy(kernel_device, gemm, m, n, k, trans_a, trans_b, dtype):
    rng = np.random.default_rng(m * n * k)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
    with use_gemm(gemm):
        c = matmul(to_device(a, kernel_device), to_device(b, kernel_device), trans_a, trans_b)
    assert_close(c, expected, f"{gemm} {m}x{n}x{k}")


@pytest.mark.parametrize("gemm", GEMMS)
def test_stacks_are_one_product_per_group(kernel_device, gemm):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 70, 20)), rng.standard_normal((3, 20, 9))
    with use_gemm(gemm):
        assert_close(matmul(to_device(a, kernel_device), to_device(b, kernel_device)), a @ b, gemm)


def test_selection_and_bad_shapes():
    assert current_gemm() == "cublas"
    with use_gemm("tiled"):
        assert current_gemm() == "tiled"
    assert current_gemm() == "cublas"
    with pytest.raises(ValueError, match="unknown GEMM 'magic'"):
        set_gemm("magic")
    with pytest.raises(KernelLaunchError, match="inner dimensions differ"):
        matmul(np.ones((2, 3)), np.ones((4, 5)))
