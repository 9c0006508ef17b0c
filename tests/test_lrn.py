"""LRN: forward against a naive loop (with the alpha/size convention), gradients, AlexNet settings."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minicnn import LRN
from minicnn.gradcheck import check_layer
from reference import lrn_naive


@st.composite
def lrn_cases(draw):
    return dict(size=draw(st.integers(1, 7)), alpha=draw(st.floats(1e-4, 2.0)),
                beta=draw(st.floats(0.1, 1.5)), k=draw(st.floats(0.5, 3.0)),
                shape=(draw(st.integers(1, 2)), draw(st.integers(1, 9)), draw(st.integers(1, 3)),
                       draw(st.integers(1, 3))),
                seed=draw(st.integers(0, 2 ** 31)))


@given(lrn_cases())
def test_forward_matches_naive_loop(case):
    x = np.random.default_rng(case["seed"]).standard_normal(case["shape"]) * 2
    layer = LRN(case["size"], case["alpha"], case["beta"], case["k"])
    expected = lrn_naive(x, case["size"], case["alpha"], case["beta"], case["k"])
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-14)


@given(lrn_cases())
def test_gradients(case):
    x = np.random.default_rng(case["seed"]).standard_normal(case["shape"]) * 2
    check_layer(LRN(case["size"], case["alpha"], case["beta"], case["k"]), x).assert_ok()


def test_alexnet_settings(rng):
    layer = LRN(5, 1e-4, 0.75, 2.0)
    # activations of the size AlexNet's conv1 produces, so that the normalisation matters
    x = rng.standard_normal((2, 12, 3, 3)) * 30
    np.testing.assert_allclose(layer.forward(x), lrn_naive(x, 5, 1e-4, 0.75, 2.0), rtol=1e-12)
    check_layer(layer, x).assert_ok()


def test_alpha_is_divided_by_size():
    """One channel with value a: b = a / (k + alpha/size * a^2)^beta (PyTorch/Caffe form)."""
    x = np.full((1, 1, 1, 1), 3.0)
    y = LRN(size=5, alpha=0.5, beta=1.0, k=1.0).forward(x)
    assert y[0, 0, 0, 0] == pytest.approx(3.0 / (1.0 + 0.5 / 5 * 9.0))


def test_bad_construction():
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        LRN(size=0)
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0, got -1.0"):
        LRN(alpha=-1.0)
    with pytest.raises(ValueError, match=r"k must be a finite number > 0 \(k = 0 divides by zero on an all-zero "
                                         r"window\), got 0.0"):
        LRN(k=0.0)


# --- the CUDA kernels (kernels/lrn.cu), under the simulator and on a GPU -----------------------
from devices import compare_with_cpu  # noqa: E402

from minicnn import kernel_versions  # noqa: E402
from minicnn.backend import to_device, to_numpy  # noqa: E402
from minicnn.layers import lrn as lrn_module  # noqa: E402


@given(lrn_cases(), st.sampled_from([np.float32, np.float64]), st.booleans())
def test_kernel_matches_cpu(kernel_device, lrn_version, case, dtype, alexnet_beta):
    x = np.random.default_rng(case["seed"]).standard_normal(case["shape"]).astype(dtype)
    beta = 0.75 if alexnet_beta else case["beta"]  # 0.75 takes the two-square-root path
    layer = LRN(case["size"], case["alpha"], beta, case["k"])
    compare_with_cpu(layer, x, kernel_device)


@pytest.mark.parametrize("shape", [(2, 96, 55, 55), (2, 256, 27, 27)])  # LRN1, LRN2 at batch 2
def test_kernel_alexnet_shapes(kernel_device, lrn_version, shape):
    x = np.maximum(np.random.default_rng(0).standard_normal(shape) * 20, 0).astype(np.float32)
    compare_with_cpu(LRN(5, 1e-4, 0.75, 2.0), x, kernel_device)


@pytest.mark.parametrize("version", [2, 3, 4])
@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 7, 32])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 6])
def test_kernel_channel_chunks(kernel_device, monkeypatch, version, chunk, size):
    """Versions 2 to 4's threads walk chunks of channels, each computing the terms of the size / 2
    channels above its chunk again: every chunk boundary, window and remainder must give the
    values of the one walk down all the channels (7 channels: chunks of 3 leave one; version 4's
    steps of 4 channels, or of size - 1, end past a chunk of 1, 2, 3 or 7)."""
    monkeypatch.setattr(lrn_module, "LRN_CHANNEL_CHUNK", chunk)
    x = np.random.default_rng(chunk).standard_normal((2, 7, 3, 4)) * 3
    with kernel_versions.use("lrn", version):
        compare_with_cpu(LRN(size, 1.0, 0.75, 1.0), x, kernel_device)


def channels_loaded(chunk, channels, below, above):
    """Channel loads a pixel column makes when each chunk of ``chunk`` channels loads the channels
    from ``below`` under its first to ``above`` over its last, clipped to [0, channels)."""
    return sum(min(channels, first + chunk + above) - max(0, first - below) for first in range(0, channels, chunk))


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("chunk", [32, 12])
@pytest.mark.parametrize("size", [3, 5])
def test_kernel_versions_3_and_4_load_what_their_chunks_need_once(monkeypatch, version, chunk, size):
    """The traffic count under the simulator (64 channels of 9 x 9, one image, chunks a multiple of
    version 4's steps): each chunk's thread loads x of its channels and of the size / 2 below and
    (size - 1) / 2 above them once (the forward), or of the windows of the channels whose windows
    hold its own, and their dL/dy once (the backward), and stores each value once. A step past the
    chunk's end, or an output written twice, costs traffic and changes no value."""
    from minicnn.simulator import traffic
    from devices import backward_traffic
    monkeypatch.setattr(lrn_module, "LRN_CHANNEL_CHUNK", chunk)
    x = np.abs(np.random.default_rng(5).standard_normal((1, 64, 9, 9))).astype(np.float32)
    dout = np.random.default_rng(6).standard_normal(x.shape).astype(np.float32)
    column = 9 * 9 * 4   # bytes of one channel of the image
    below, above = size // 2, (size - 1) // 2   # a forward window, around its channel
    layer = LRN(size, 1e-4, 0.75, 2.0).to("sim")
    with traffic.recording() as log, kernel_versions.use("lrn", version):
        layer.forward(x)
    (forward,) = log.of(f"lrn_forward_v{version}")
    assert forward.array("x").loads.bytes == channels_loaded(chunk, 64, below, above) * column
    assert forward.array("y").stores.bytes == x.nbytes
    (backward,) = backward_traffic(lambda: LRN(size, 1e-4, 0.75, 2.0), "lrn", (version,), x, dout,
                                   "lrn_backward").values()   # dx stored once: checked there
    assert backward.array("dout").loads.bytes == channels_loaded(chunk, 64, above, below) * column
    assert backward.array("x").loads.bytes == channels_loaded(chunk, 64, above + below, above + below) * column


def lrn_results(version, size, x, dout, device):
    """(y, dx, the version that ran) of an LRN of ``size`` through the kernels of ``version``."""
    with kernel_versions.use("lrn", version):
        layer = LRN(size, 1e-2, 0.75, 2.0).to(device)
        y = layer.forward(to_device(x, device))
        ran = layer._cache[0]
        return to_numpy(y), to_numpy(layer.backward(to_device(dout, device))), ran


@pytest.mark.parametrize("size", [3, 5])
def test_kernel_versions_agree(kernel_device, size):
    """All versions compute every value with the same operations: versions 1 and 2 agree to
    rounding (version 1's backward reads back the y it wrote), and versions 3 and 4 equal version 2
    bit for bit, their windows in registers (zeros beyond the channels) and version 2's loaded
    afresh, version 4's loaded several channels at a time (40 channels: a chunk of 32 and one of 8)."""
    x = np.random.default_rng(3).standard_normal((2, 40, 5, 5)).astype(np.float32) * 10
    dout = np.random.default_rng(4).standard_normal(x.shape).astype(np.float32)
    results = [lrn_results(version, size, x, dout, kernel_device) for version in (1, 2, 3, 4)]
    assert [ran for _, _, ran in results] == [1, 2, 3, 4]
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6, atol=1e-6)
    for version in (3, 4):
        np.testing.assert_array_equal(results[version - 1][0], results[1][0])
        np.testing.assert_array_equal(results[version - 1][1], results[1][1])


@pytest.mark.parametrize("version", [3, 4])
def test_versions_3_and_4_run_version_2_for_the_windows_they_do_not_keep_in_registers(kernel_device, version):
    x = np.random.default_rng(6).standard_normal((1, 9, 2, 3)) * 3
    assert lrn_results(version, 4, x, x, kernel_device)[2] == 2
    assert lrn_results(version, 5, x, x, kernel_device)[2] == version
    with kernel_versions.use("lrn", version):
        compare_with_cpu(LRN(4, 1.0, 0.75, 1.0), x, kernel_device)


def test_register_sizes_are_the_kernels():
    """LRN_REGISTER_SIZES names exactly the windows kernels/lrn.cuh's with_lrn_size instantiates."""
    import os
    import re
    from minicnn.kernels import KERNEL_DIR
    with open(os.path.join(KERNEL_DIR, "lrn.cuh")) as f:
        (sizes,) = re.findall(r"with_constant<([\d, ]+)>\(size, walk\);", f.read())
    assert [int(v) for v in sizes.split(",")] == list(lrn_module.LRN_REGISTER_SIZES) == [3, 5]


def test_wide_windows_run_version_1(kernel_device):
    x = np.random.default_rng(5).standard_normal((1, 20, 2, 2))
    layer = LRN(17, 1.0, 0.75, 1.0).to(kernel_device)
    layer.forward(to_device(x, kernel_device))
    assert layer._cache[0] == 1
    compare_with_cpu(LRN(17, 1.0, 0.75, 1.0), x, kernel_device)
