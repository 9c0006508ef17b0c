"""Layer fusion (minicnn/fusion.py): a model with every conv's ReLU fused in and every LRN
fused with its max-pool gives the same outputs, input gradients and parameter gradients as the
unfused model: exactly on the CPU, to the kernel tolerance through the kernels (simulator, and
GPU where there is one). The fused LRN+max-pool kernels against the CPU on awkward shapes."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from devices import assert_close, backward_traffic, compare_with_cpu, launched_in_a_step, launched_kernels
from inputs import pool_cases
from minicnn import SoftmaxCrossEntropy, kernel_versions, models, towers
from minicnn.backend import to_device, to_numpy
from minicnn.fusion import fuse, fuse_lrn_maxpool, fuse_relu
from minicnn.gradcheck import check_layer
from minicnn.layers import LRN, Dense, LRNMaxPool, MaxPool2D
from minicnn.layers import lrn as lrn_module
from minicnn.layers.conv import Conv2D
from minicnn.layers.relu import ReLU


def forward_backward(model, device, x, labels):
    model.to(device)
    loss = SoftmaxCrossEntropy().to(device)
    logits = model.forward(to_device(x, device), train=True)
    loss.forward(logits, to_device(labels, device))
    dx = model.backward(loss.backward())
    return to_numpy(logits), to_numpy(dx), {n: to_numpy(p.grad) for n, p in model.named_params()}


def check_fused_equals_unfused(device):
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    labels = np.array([1, 4, 9])
    plain = models.alexnet_small(width=4, dtype=np.float64, seed=5)
    fused = fuse(models.alexnet_small(width=4, dtype=np.float64, seed=5))
    assert [name for name in fused.layers if "+" in name] == ["norm1+pool1", "norm2+pool2"]
    expected, got = forward_backward(plain, device, x, labels), forward_backward(fused, device, x, labels)
    same = np.testing.assert_array_equal if device == "cpu" else assert_close   # the kernels may contract to FMAs
    same(got[0], expected[0])
    same(got[1], expected[1])
    for name, grad in expected[2].items():
        same(got[2][name], grad, name)


def test_fused_model_equals_unfused_exactly_on_the_cpu():
    check_fused_equals_unfused("cpu")


def test_fused_model_equals_unfused_exactly_through_the_kernels(kernel_device, lrn_maxpool_version):
    check_fused_equals_unfused(kernel_device)


def test_fusion_folds_each_relu_into_its_conv_or_dense_and_keeps_the_parameter_names():
    plain = models.alexnet(lrn_groups=2)
    fused = fuse_relu(models.alexnet(lrn_groups=2))
    convs = [layer for layer in fused if isinstance(layer, Conv2D)]
    assert len(convs) == 5 and all(layer.relu for layer in convs)
    assert [(name, layer.relu) for name, layer in fused.layers.items() if isinstance(layer, Dense)] == [
        ("fc6", True), ("fc7", True), ("fc8", False)]
    assert not any(isinstance(layer, ReLU) for layer in fused)
    assert list(fused.state_dict()) == list(plain.state_dict())
    assert "relu=True" in repr(fused) and "Dense(9216, 4096, relu=True)" in repr(fused)
    split = towers.two_tower(fused)
    halves = [layer for tower in split.towers for layer in tower if isinstance(layer, (Conv2D, Dense))]
    assert len(halves) == 14 and all(layer.relu for layer in halves)     # conv1-5, fc6 and fc7 in each
    with pytest.raises(TypeError, match="fuse before towers.two_tower"):
        fuse_relu(split)


def dense_relu_runs(device, dtype, bias, frozen, input_grad, batch=6, outputs=33):
    """Dense(relu=True) and Dense then ReLU, the same weights, forward and backward on ``device``
    (``batch`` images of 40 features to ``outputs``):
    [fused, unfused], each [y, dx (None without ``input_grad``), dw and db (none when ``frozen``)].
    Inputs and weights are multiples of 1/4 and 1/8, so that half the outputs are negative and
    some exactly 0 before the ReLU (its kink, whose gradient is 0)."""
    from minicnn import Sequential
    from minicnn.layers.base import without_input_grad
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 4, (batch, 40)).astype(dtype) / 4
    dout = to_device(rng.standard_normal((batch, outputs)).astype(dtype), device)
    results = []
    for relu in (True, False):
        dense = Dense(40, outputs, bias=bias, dtype=dtype, rng=np.random.default_rng(5), relu=relu)
        for p in dense.params.values():
            p.data[...] = np.round(p.data * 8) / 8
        pre = x @ dense.params["weight"].data.T + (dense.params["bias"].data if bias else 0)
        assert (pre == 0).any() and (pre < 0).mean() > 0.3
        model = Sequential([("fc", dense)] + ([] if relu else [("relu", ReLU())])).to(device)
        if frozen:
            model.freeze()
        y = model.forward(to_device(x, device), train=True)
        if input_grad:
            dx = model.backward(dout)
        else:
            with without_input_grad(dense):
                dx = model.backward(dout)
        results.append([to_numpy(y), None if dx is None else to_numpy(dx)]
                       + [to_numpy(p.grad) for p in dense.params.values() if not frozen])
    return results


DENSE_RELU_CASES = [(True, False, True), (False, False, True), (True, True, True), (True, False, False)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias,frozen,input_grad", DENSE_RELU_CASES)
def test_fused_dense_relu_is_dense_then_relu_bit_for_bit(kernel_device, dtype, bias, frozen, input_grad):
    """Dense(relu=True) against Dense then ReLU, on the CPU and through the kernels: y, dx and the
    parameter gradients the same bits, with a bias or without, frozen (no dw, db: the ReLU's own
    backward kernel masks dout) or with no dx wanted."""
    for device in ("cpu", kernel_device):
        fused, unfused = dense_relu_runs(device, dtype, bias, frozen, input_grad)
        assert len(fused) == len(unfused) == 2 + (not frozen) * (1 + bias)
        assert (fused[1] is None) == (not input_grad)
        for a, b in zip(fused, unfused):
            if a is not None:
                np.testing.assert_array_equal(a, b, device)


@pytest.mark.parametrize("one_block", [False, True])
@pytest.mark.parametrize("batch,outputs", [(70, 100), (32, 64), (5, 33)])
def test_fused_dense_relu_backward_in_row_chunks_and_strips(kernel_device, monkeypatch, batch, outputs, one_block):
    """The fused backward's blocks take strips of 32 channels (the last one part full: 100 = 3 x 32
    + 4) and their rows 32 at a time (70 = 2 x 32 + 6); one block for every strip in turn, too:
    the unfused layers' values bit for bit."""
    from minicnn.layers import bias as bias_module
    if one_block:
        monkeypatch.setattr(bias_module, "grid_for", lambda n, like, block=256: 1)
    fused, unfused = dense_relu_runs(kernel_device, np.float32, True, False, True, batch, outputs)
    for a, b in zip(fused, unfused):
        np.testing.assert_array_equal(a, b)


def test_fused_dense_relu_moves_a_pass_less_each_way_than_the_layers_apart():
    """The simulator's traffic count of fc7's output (4096 values, 2 images, S bytes) beyond the
    GEMMs, the bias and its gradient. Forward, fused: the bias-add's read and write of y (2 S),
    without the ReLU's (2 S more). Backward, fused: dout and y read, the masked gradient written
    (3 S; dout is loaded even where y <= 0, so that its loads need not wait for y's); unfused, the
    ReLU's 3 S and bias_grad_columns' read of its result (4 S)."""
    from minicnn import Sequential
    from minicnn.simulator import traffic
    x = np.random.default_rng(0).standard_normal((2, 64)).astype(np.float32)
    dout = np.random.default_rng(1).standard_normal((2, 4096)).astype(np.float32)
    size = dout.nbytes
    moved = {}
    for relu in (True, False):
        dense = Dense(64, 4096, rng=np.random.default_rng(2), relu=relu)
        model = Sequential([("fc", dense)] + ([] if relu else [("relu", ReLU())])).to("sim")
        with traffic.recording() as forward:
            model.forward(x, train=True)
        with traffic.recording() as backward:
            model.backward(dout)
        moved[relu] = {(record.kernel, array.name): (array.loads.bytes, array.stores.bytes)
                       for log in (forward, backward) for record in log for array in record.arrays
                       if array.name not in ("bias", "dbias")}
    assert moved[True] == {("bias_add", "y"): (size, size), ("relu_backward_bias_grad_columns", "dout"): (size, 0),
                           ("relu_backward_bias_grad_columns", "y"): (size, 0),
                           ("relu_backward_bias_grad_columns", "masked"): (0, size)}
    assert sum(map(sum, moved[False].values())) == 8 * size     # 4 S each way


def test_fused_dense_relu_kernels_take_one_pass_each_way(kernel_device):
    """On the kernels Dense(relu=True) launches the bias-add alone after its GEMM forward (no
    ReLU kernel), and backward one kernel that masks dout and sums the bias gradient (no ReLU
    kernel, no bias_grad_columns)."""
    dense = Dense(12, 7, relu=True, rng=np.random.default_rng(0)).to(kernel_device)
    x = to_device(np.random.default_rng(1).standard_normal((4, 12)).astype(np.float32), kernel_device)
    forward = launched_kernels(lambda: dense.forward(x, train=True))
    dout = to_device(np.ones((4, 7), np.float32), kernel_device)
    backward = launched_kernels(lambda: dense.backward(dout))
    assert forward[-1] == "bias_add" and not any("relu" in name for name in forward), forward
    assert backward.count("relu_backward_bias_grad_columns") == 1, backward
    assert not any(name.startswith(("relu_backward_v", "bias_grad")) for name in backward), backward


def test_lrn_and_pool_fuse_into_one_layer_that_splits_into_towers():
    fused = fuse_lrn_maxpool(models.alexnet(lrn_groups=2))
    assert [n for n, layer in fused.layers.items() if isinstance(layer, LRNMaxPool)] == ["norm1+pool1", "norm2+pool2"]
    assert not any(isinstance(layer, LRN) for layer in fused)
    assert fused.output_shape((1, 3, 227, 227)) == (1, 1000)
    split = towers.two_tower(fused)
    halves = [layer for tower in split.towers for layer in tower if isinstance(layer, LRNMaxPool)]
    assert len(halves) == 4 and all(h.lrn.groups == 1 and h.pool.stride == (2, 2) for h in halves)


def test_windows_wider_than_the_fused_kernels_take_stay_apart():
    from minicnn import Sequential
    model = fuse_lrn_maxpool(Sequential([("norm", LRN(17)), ("pool", MaxPool2D(2))]))
    assert list(model.layers) == ["norm", "pool"]
    with pytest.raises(ValueError, match="at most 16 channels, got size=17"):
        LRNMaxPool(LRN(17), MaxPool2D(2))
    assert LRNMaxPool(LRN(16), MaxPool2D(2)).lrn.size == 16   # the widest they take


def test_fusing_anything_but_an_lrn_and_a_max_pool_is_refused():
    for lrn, pool in ((LRN(5), LRN(5)), (MaxPool2D(2), MaxPool2D(2))):
        with pytest.raises(TypeError, match=f"LRNMaxPool: expected an LRN and a MaxPool2D, got "
                                            f"{type(lrn).__name__} and {type(pool).__name__}"):
            LRNMaxPool(lrn, pool)


def test_fused_layers_pass_the_gradient_check():
    rng = np.random.default_rng(2)
    conv = Conv2D(3, 4, 3, padding=1, dtype=np.float64, rng=rng, relu=True)
    check_layer(conv, rng.standard_normal((2, 3, 5, 5))).assert_ok()
    lrn_pool = LRNMaxPool(LRN(3, alpha=1.0, beta=0.75, k=1.0, groups=2), MaxPool2D(3, stride=2))
    check_layer(lrn_pool, rng.standard_normal((2, 4, 7, 7))).assert_ok()


# (N, C, H, W), LRN (size, alpha, beta, k, groups), max-pool (kernel, stride, padding)
CASES = [((2, 6, 9, 9), (5, 1e-4, 0.75, 2.0, 1), (3, 2, 0)),      # AlexNet's settings, small
         ((1, 7, 8, 11), (3, 0.3, 0.6, 1.0, 1), (2, 2, 1)),       # pow() path, padding, odd sizes
         ((2, 8, 7, 7), (5, 0.5, 0.75, 2.0, 2), (3, 2, 1)),       # two groups (the towers' LRN)
         ((3, 1, 5, 6), (4, 1.0, 0.75, 1.0, 1), (3, 1, 0)),       # one channel, even window, stride 1
         ((1, 40, 5, 5), (16, 0.5, 0.75, 1.0, 1), (3, 2, 0)),     # the widest window: the rings wrap
         ((2, 37, 6, 6), (6, 0.4, 0.8, 1.5, 1), (2, 2, 0))]       # rings wrap with an even window


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,lrn,pool", CASES)
def test_fused_lrn_maxpool_kernels_match_the_cpu(kernel_device, lrn_maxpool_version, shape, lrn, pool, dtype):
    x = (np.random.default_rng(sum(shape)).standard_normal(shape) * 3).astype(dtype)
    size, alpha, beta, k, groups = lrn
    layer = LRNMaxPool(LRN(size, alpha, beta, k, groups), MaxPool2D(pool[0], pool[1], pool[2]))
    compare_with_cpu(layer, x, kernel_device)


@pytest.mark.parametrize("version", [2, 3, 4, 6, 8])
@pytest.mark.parametrize("chunk", [1, 3, 5])
@pytest.mark.parametrize("shape,lrn,pool", [CASES[1], CASES[2], CASES[5]])
def test_fused_lrn_maxpool_channel_chunks(kernel_device, monkeypatch, version, chunk, shape, lrn, pool):
    """Versions 2, 3, 6 and 8's backward walks chunks of channels, and so do version 4's forward
    blocks (see test_lrn.test_kernel_channel_chunks; the windows of 3 and 5 channels here take the
    register walks, that of 6 version 2's backward and version 3's forward). A chunk that starts
    at channel 3 begins its walk of 5 at channel 1; the hypothesis cases, of at most 3 channels,
    begin every walk at channel 0."""
    monkeypatch.setattr(lrn_module, "LRN_CHANNEL_CHUNK", chunk)
    x = np.random.default_rng(chunk).standard_normal(shape) * 3
    size, alpha, beta, k, groups = lrn
    with kernel_versions.use("lrn_maxpool", version):
        compare_with_cpu(LRNMaxPool(LRN(size, alpha, beta, k, groups), MaxPool2D(*pool)), x, kernel_device)


@pytest.mark.parametrize("shape", [(2, 96, 55, 55), (2, 256, 27, 27)])   # norm1+pool1, norm2+pool2
def test_fused_lrn_maxpool_kernels_alexnet_shapes(kernel_device, lrn_maxpool_version, shape):
    x = np.maximum(np.random.default_rng(0).standard_normal(shape) * 20, 0).astype(np.float32)
    compare_with_cpu(LRNMaxPool(LRN(5, 1e-4, 0.75, 2.0), MaxPool2D(3, stride=2)), x, kernel_device)


def test_each_fused_version_launches_the_kernels_its_registry_names(lrn_maxpool_version):
    """On AlexNet's LRN and pooling windows, a version's forward and backward launch the kernels
    that ``kernel_versions.kernel_name`` names for it (its own rewrites, else those of the version
    it builds on: version 6's forward is version 3's), which the benchmarks' tests go by."""
    layer = LRNMaxPool(LRN(5, 1e-4, 0.75, 2.0), MaxPool2D(3, stride=2)).to("sim")
    x = to_device(np.random.default_rng(0).standard_normal((1, 8, 13, 13)).astype(np.float32), "sim")
    assert launched_in_a_step(layer, x) == [kernel_versions.kernel_name("lrn_maxpool", kernel, lrn_maxpool_version)
                                            for kernel in ("lrn_maxpool_forward", "lrn_maxpool_backward")]


@pytest.mark.parametrize("extra_rows", [0, 1, 2])
@pytest.mark.parametrize("shape,lrn,pool", [CASES[0], CASES[1], CASES[2], CASES[3]])
def test_fused_lrn_maxpool_forward_in_bands(kernel_device, monkeypatch, extra_rows, shape, lrn, pool):
    """Version 3's forward takes its output rows in bands whose input rows fit in POOL_BAND_TILE
    values. A tile of one window's rows (and one or two more) makes several bands of these small
    images, their edges, padding and overlapping rows included, and the results stay the CPU's."""
    from minicnn.layers import maxpool
    monkeypatch.setattr(maxpool, "POOL_BAND_TILE", (pool[0] + extra_rows) * shape[3])
    size, alpha, beta, k, groups = lrn
    layer = LRNMaxPool(LRN(size, alpha, beta, k, groups), MaxPool2D(*pool))
    x = np.random.default_rng(extra_rows).standard_normal(shape) * 3
    out_h = layer.output_shape(shape)[2]
    rows = maxpool.band_rows(shape[2], shape[3], out_h, pool[0], pool[1])
    assert rows == min(out_h, extra_rows // pool[1] + 1) and (rows < out_h or extra_rows == 2)
    with kernel_versions.use("lrn_maxpool", 3):
        compare_with_cpu(layer, x, kernel_device)


@pytest.mark.parametrize("lrn_size", [3, 5, 4])
def test_fused_version_3_backward_equals_version_2_bit_for_bit(kernel_device, lrn_size):
    """Version 3's backward slides the LRN window down the channels in registers (windows of 3 and
    5; a window of 4 runs version 2's walk): the same operations as version 2, the same bits."""
    x = (np.random.default_rng(lrn_size).standard_normal((2, 37, 9, 9)) * 3).astype(np.float32)
    dout = np.random.default_rng(7).standard_normal((2, 37, 4, 4)).astype(np.float32)
    results = []
    for version in (2, 3):
        with kernel_versions.use("lrn_maxpool", version):
            layer = LRNMaxPool(LRN(lrn_size, 0.5, 0.75, 1.5), MaxPool2D(3, stride=2)).to(kernel_device)
            y = layer.forward(to_device(x, kernel_device))
            results.append((to_numpy(y), to_numpy(layer.backward(to_device(dout, kernel_device)))))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_array_equal(results[1][1], results[0][1])


def test_band_rows_fit_the_kernels_shared_memory():
    import os
    from minicnn.kernels import KERNEL_DIR
    from minicnn.layers.maxpool import POOL_BAND_TILE, band_rows
    with open(os.path.join(KERNEL_DIR, "maxpool.cuh")) as f:
        assert f"#define POOL_BAND_TILE {POOL_BAND_TILE}\n" in f.read()
    # norm1+pool1: 37 of the 55 input rows fit, the windows of 18 output rows; norm2+pool2 fits whole
    assert band_rows(55, 55, 27, 3, 2) == 18 and (18 - 1) * 2 + 3 <= POOL_BAND_TILE // 55
    assert band_rows(27, 27, 13, 3, 2) == 13
    assert band_rows(4, 1000, 1, 3, 2) == 0     # not one window's rows: the forward falls back to version 2
    assert band_rows(2, 1000, 2, 3, 1) == 2     # a padded image lower than its window: it fits whole


def test_too_wide_images_fall_back_to_version_2(kernel_device):
    """A row of 1100 pixels is wider than version 3's band: its forward is version 2's, and right."""
    x = np.random.default_rng(1).standard_normal((1, 3, 3, 1100))
    layer = LRNMaxPool(LRN(3), MaxPool2D(3, stride=2))
    with kernel_versions.use("lrn_maxpool", 3):
        names = launched_kernels(lambda: compare_with_cpu(layer, x, kernel_device))
    assert names[0] == "lrn_maxpool_forward_v2", names


@given(pool_cases(), st.integers(1, 7), st.integers(0, 3), st.sampled_from([np.float32, np.float64]))
def test_fused_lrn_maxpool_version_3_on_any_pooling(kernel_device, monkeypatch, case, size, extra_rows, dtype):
    """Version 3's bands on any pooling geometry (kernels of 1 to 4, strides of 1 to 3, padding)
    and LRN window, with bands of one window's input rows and up to 3 more."""
    from minicnn.layers import maxpool
    monkeypatch.setattr(maxpool, "POOL_BAND_TILE", (case["k"][0] + extra_rows) * case["shape"][3])
    x = (np.random.default_rng(case["seed"]).standard_normal(case["shape"]) * 3).astype(dtype)
    layer = LRNMaxPool(LRN(size, 0.5, 0.75, 1.5), MaxPool2D(case["k"], case["stride"], case["pad"]))
    with kernel_versions.use("lrn_maxpool", 3):
        compare_with_cpu(layer, x, kernel_device)


# --- version 4's forward: a thread per input pixel, its LRN window in registers ----------------
@pytest.mark.parametrize("band_pixels", [None, 40])
@pytest.mark.parametrize("chunk", [32, 5])
@pytest.mark.parametrize("lrn_size", [3, 5, 4])
def test_fused_version_4_equals_version_3_bit_for_bit(kernel_device, monkeypatch, lrn_size, chunk, band_pixels):
    """Version 4 computes every LRN value with the register window's sums, which equal lrn_scale's,
    and routes the pooling's gradient from shared memory in version 3's order (windows of 3 and 5;
    a window of 4 runs version 3): y, argmax and dx are version 3's bit for bit, in one band or
    several (bands of 40 pixels: 4 input rows of 9, the forward's one output row), in one chunk of
    channels or several."""
    from minicnn.layers import lrn_maxpool
    monkeypatch.setattr(lrn_module, "LRN_CHANNEL_CHUNK", chunk)
    if band_pixels:
        monkeypatch.setattr(lrn_maxpool, "LRN_POOL_BAND_PIXELS", band_pixels)
        monkeypatch.setattr(lrn_maxpool, "LRN_POOL_BACKWARD_PIXELS", band_pixels)
    x = (np.random.default_rng(lrn_size).standard_normal((2, 37, 9, 9)) * 3).astype(np.float32)
    dout = to_device(np.random.default_rng(7).standard_normal((2, 37, 4, 4)).astype(np.float32), kernel_device)
    results = {}
    for version in (3, 4):
        with kernel_versions.use("lrn_maxpool", version):
            layer = LRNMaxPool(LRN(lrn_size, 0.5, 0.75, 1.5), MaxPool2D(3, stride=2)).to(kernel_device)
            out = {}
            names = launched_kernels(lambda: out.update(y=layer.forward(to_device(x, kernel_device))))
            names += launched_kernels(lambda: out.update(dx=layer.backward(dout)))
            results[version] = [to_numpy(a) for a in (out["y"], layer._cache[2], out["dx"])]
        used = 3 if version == 3 or lrn_size == 4 else 4
        backward = used if lrn_size != 4 else 2   # version 3's backward walks a window of 4 as version 2
        assert names == [f"lrn_maxpool_forward_v{used}", f"lrn_maxpool_backward_v{backward}"]
    for new, old in zip(results[4], results[3]):
        np.testing.assert_array_equal(new, old)


@given(pool_cases(), st.sampled_from([3, 5]), st.integers(1, 4), st.integers(0, 3),
       st.sampled_from([np.float32, np.float64]))
def test_fused_lrn_maxpool_version_4_on_any_pooling(kernel_device, monkeypatch, case, size, chunk, extra_rows,
                                                    dtype):
    """Version 4's blocks on any pooling geometry, forward and backward, with bands of one window's
    input rows and up to 3 more, and chunks of 1 to 4 channels."""
    from minicnn.layers import lrn_maxpool
    monkeypatch.setattr(lrn_module, "LRN_CHANNEL_CHUNK", chunk)
    x = (np.random.default_rng(case["seed"]).standard_normal(case["shape"]) * 3).astype(dtype)
    layer = LRNMaxPool(LRN(size, 0.5, 0.75, 1.5), MaxPool2D(case["k"], case["stride"], case["pad"]))
    rows = case["k"][0] + extra_rows   # of pixels forward; of pixels and of outputs (padding: more) backward
    monkeypatch.setattr(lrn_maxpool, "LRN_POOL_BAND_PIXELS", rows * x.shape[3])
    monkeypatch.setattr(lrn_maxpool, "LRN_POOL_BACKWARD_PIXELS", rows * max(x.shape[3], layer.output_shape(x.shape)[3]))
    with kernel_versions.use("lrn_maxpool", 4):
        device_layer = compare_with_cpu(layer, x, kernel_device)
        assert launched_kernels(lambda: device_layer.forward(to_device(x, kernel_device))) == \
            ["lrn_maxpool_forward_v4"]
        dout = to_device(np.ones(layer.output_shape(x.shape), dtype), kernel_device)
        assert launched_kernels(lambda: device_layer.backward(dout)) == ["lrn_maxpool_backward_v4"]


@given(pool_cases(), st.sampled_from([3, 5]), st.integers(1, 4), st.integers(0, 3),
       st.sampled_from([np.float32, np.float64]))
def test_fused_version_5_is_version_4_bit_for_bit_on_any_pooling(kernel_device, monkeypatch, case, size, chunk,
                                                                 extra_rows, dtype):
    """Version 5's forward, each band row's even columns apart from its odd ones (a stride of 2
    both ways), in bands of one window's input rows and up to 3 more at band_pitch's values a row,
    and chunks of 1 to 4 channels: version 4's y and argmax bit for bit, on values with ties; with
    a stride of 3 across, version 5 runs version 4's kernel."""
    from minicnn.layers import lrn_maxpool, maxpool
    monkeypatch.setattr(lrn_module, "LRN_CHANNEL_CHUNK", chunk)
    x = np.round(np.random.default_rng(case["seed"]).standard_normal(case["shape"]) * 2).astype(dtype)
    outputs = {}
    for stride, versions in (((2, 2), (4, 5)), ((2, 3), (4, 4))):
        out_w = MaxPool2D(case["k"], stride, case["pad"]).output_shape(x.shape)[3]
        pitch = maxpool.band_pitch(x.shape[3], out_w, True)
        tile = int(np.ceil((case["k"][0] + extra_rows) * pitch))   # values; as many pixels (threads)
        monkeypatch.setattr(lrn_maxpool, "LRN_POOL_PHASED_VALUES", tile)
        monkeypatch.setattr(lrn_maxpool, "LRN_POOL_BAND_PIXELS", tile)
        for version, runs in zip((4, 5), versions):
            with kernel_versions.use("lrn_maxpool", version):
                names = launched_kernels(lambda: outputs.__setitem__(version, lrn_maxpool.lrn_maxpool_forward_cuda(
                    to_device(x, kernel_device), size, 0.5, 0.75, 1.5, case["k"], stride, case["pad"])))
            assert names == [f"lrn_maxpool_forward_v{runs}"]
        new, old = (outputs[5][0], outputs[5][1][2]), (outputs[4][0], outputs[4][1][2])   # y and the argmax
        for a, b in zip(new, old):
            np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_versions_4_and_5_bands_of_alexnet():
    """Bands of at most 512 input pixels, a thread each: the forward's for norm1+pool1 hold 4
    output rows, their 9 input rows of 55 pixels (495 threads, 512 with the last warp's rest);
    norm2+pool2's 8, their 17 rows of 27 (459, 480); and the kernel's buffers are the Python
    constant's."""
    import os
    from minicnn.kernels import KERNEL_DIR
    from minicnn.layers.lrn_maxpool import LRN_POOL_BAND_PIXELS
    from minicnn.layers.maxpool import band_pitch, band_rows
    with open(os.path.join(KERNEL_DIR, "lrn_maxpool.cu")) as f:
        assert f"#define LRN_POOL_BAND_PIXELS {LRN_POOL_BAND_PIXELS}\n" in f.read()
    assert band_rows(55, 55, 27, 3, 2, tile=LRN_POOL_BAND_PIXELS) == 4 and ((4 - 1) * 2 + 3) * 55 == 495
    assert band_rows(27, 27, 13, 3, 2, tile=LRN_POOL_BAND_PIXELS) == 8 and ((8 - 1) * 2 + 3) * 27 == 459
    # version 5's phased rows: pairs of rows of 55 (2 x 28 values a row) take 4 x 28 + 11 = 123
    # values (123 = 27, pool1's windows a row, modulo 32), of 27 4 x 14 + 21 = 77 (= 13 modulo
    # 32): its buffers of 672 values hold version 4's bands, 9 rows of 55 and 17 of 27 (654.5)
    from minicnn.layers.lrn_maxpool import LRN_POOL_PHASED_VALUES
    with open(os.path.join(KERNEL_DIR, "lrn_maxpool.cu")) as f:
        assert f"#define LRN_POOL_PHASED_VALUES {LRN_POOL_PHASED_VALUES}\n" in f.read()
    assert band_pitch(55, 27, True) == 123 / 2 and band_rows(55, 61.5, 27, 3, 2, tile=LRN_POOL_PHASED_VALUES) == 4
    assert band_pitch(27, 13, True) == 77 / 2 and band_rows(27, 38.5, 13, 3, 2, tile=LRN_POOL_PHASED_VALUES) == 8
    assert band_pitch(55, 27, False) == 55
    # the backward, bands of at most 256 pixels: 4 input rows of 55 (220 pixels; their windows: at
    # most 3 output rows of 27) and 9 of 27 (243; at most 5 of 13); a stride-1 pool of 3 on rows
    # of 50 pixels (48 outputs): 5 rows of pixels fit, but the windows of only 3 rows (5 output
    # rows); a row of 300 pixels is more than a band (version 3 runs)
    from minicnn.layers.lrn_maxpool import LRN_POOL_BACKWARD_PIXELS, backward_band_rows
    with open(os.path.join(KERNEL_DIR, "lrn_maxpool.cu")) as f:
        assert f"#define LRN_POOL_BACKWARD_PIXELS {LRN_POOL_BACKWARD_PIXELS}\n" in f.read()
    assert backward_band_rows(55, 55, 27, 27, 3, 2) == 4 and backward_band_rows(27, 27, 13, 13, 3, 2) == 9
    assert backward_band_rows(50, 50, 48, 48, 3, 1) == 3
    assert backward_band_rows(9, 300, 4, 149, 3, 2) == 0


def test_fused_version_4_forward_loads_each_x_once_per_chunk():
    """The traffic count under the simulator (norm2+pool2's windows, 64 channels of 27 x 27, one
    image): version 4 loads each x of a band once, and again the 4 channels a chunk's window
    needs from the chunk before it (2 chunks of 32: 68 channels' loads) and the row two bands
    share (17 + 11 input rows for 27), consecutive pixels together; version 3 loads each x once
    per LRN window that holds it (5)."""
    from minicnn.simulator import traffic
    x = np.abs(np.random.default_rng(5).standard_normal((1, 64, 27, 27))).astype(np.float32)
    loads = {}
    for version in (3, 4):
        layer = LRNMaxPool(LRN(5, 1e-4, 0.75, 2.0), MaxPool2D(3, stride=2)).to("sim")
        with traffic.recording() as log, kernel_versions.use("lrn_maxpool", version):
            layer.forward(x)
        (record,) = log.of(f"lrn_maxpool_forward_v{version}")
        loads[version] = record.array("x").loads
    assert loads[4].bytes == 68 * (17 + 11) * 27 * 4 and loads[4].efficiency > 0.75
    assert loads[3].bytes > 4.5 * x.nbytes and loads[3].sectors > 4 * loads[4].sectors


def test_fused_version_5_reads_its_bands_without_bank_conflicts():
    """norm1+pool1's and norm2+pool2's windows (64 channels, one image) in the simulator's count:
    version 4's warps read the band's LRN values two words apart (2.4 to 2.5 passes a request),
    version 5's in one pass; its stores alternate between a row's halves (about 2 passes), and
    its shared-memory passes are two thirds of version 4's or fewer in all. Its buffers hold
    version 4's bands at the phased rows' pitch: the same loads of x."""
    from minicnn.simulator import traffic
    for size in (55, 27):
        x = np.abs(np.random.default_rng(5).standard_normal((1, 64, size, size))).astype(np.float32)
        records = {}
        for version in (4, 5):
            layer = LRNMaxPool(LRN(5, 1e-4, 0.75, 2.0), MaxPool2D(3, stride=2)).to("sim")
            with traffic.recording() as log, kernel_versions.use("lrn_maxpool", version):
                layer.forward(x)
            (records[version],) = log.of(f"lrn_maxpool_forward_v{version}")
        v4, v5 = records[4], records[5]
        assert v4.shared_loads.conflict > 2.4 and v5.shared_loads.conflict == 1.0, size
        assert v5.shared_stores.conflict < 2.5, size
        passes = {v: r.shared_loads.wavefronts + r.shared_stores.wavefronts for v, r in records.items()}
        assert passes[5] < 0.7 * passes[4], size
        assert v5.grid == v4.grid and v5.array("x").loads.bytes == v4.array("x").loads.bytes, size


def test_fused_version_4_backward_loads_dout_and_argmax_once_per_channel():
    """The traffic count under the simulator (norm2+pool2's windows, 64 channels of 27 x 27, one
    image; three bands of 9 input rows, whose windows are output rows 0-4, 4-8 and 8-12): version
    4 loads dout and argmax of each channel once per band (the rows the bands share twice) and per
    chunk that walks it (the 4 channels two chunks' windows share twice: 68 channels, as x in the
    forward); version 3's threads load the argmax of each window that covers their pixel."""
    x = np.abs(np.random.default_rng(5).standard_normal((1, 64, 27, 27))).astype(np.float32)
    dout = np.random.default_rng(6).standard_normal((1, 64, 13, 13)).astype(np.float32)
    records = backward_traffic(lambda: LRNMaxPool(LRN(5, 1e-4, 0.75, 2.0), MaxPool2D(3, stride=2)), "lrn_maxpool",
                               (3, 4), x, dout, "lrn_maxpool_backward")
    v3, v4 = records[3], records[4]
    assert v4.array("dout").loads.bytes == v4.array("argmax").loads.bytes == 68 * (5 + 5 + 5) * 13 * 4
    assert v3.array("argmax").loads.bytes > 2 * dout.nbytes
    loads = {version: sum(a.loads.sectors for a in record.arrays) for version, record in records.items()}
    assert loads[4] * 2 < loads[3]


def fused_runs_by_version(case, size, dtype, versions, device):
    """An LRNMaxPool (LRN of ``size``, the pooling of a pool_cases ``case``) forward and backward on
    ``device`` in each of ``versions``: ({version: [y, argmax, dx]}, {version: [the forward's kernel,
    the backward's]})."""
    x = (np.random.default_rng(case["seed"]).standard_normal(case["shape"]) * 3).astype(dtype)
    layer = LRNMaxPool(LRN(size, 0.5, 0.75, 1.5), MaxPool2D(case["k"], case["stride"], case["pad"]))
    dout = np.random.default_rng(7).standard_normal(layer.output_shape(x.shape)).astype(dtype)
    results, launched = {}, {}
    for version in versions:
        with kernel_versions.use("lrn_maxpool", version):
            device_layer = layer.to(device)
            out = {}
            launched[version] = launched_kernels(lambda: out.update(y=device_layer.forward(to_device(x, device))))
            launched[version] += launched_kernels(lambda: out.update(dx=device_layer.backward(to_device(dout, device))))
            results[version] = [to_numpy(a) for a in (out["y"], device_layer._cache[2], out["dx"])]
    return results, launched


# --- version 6's backward: each channel's windows in one trip, the next channel's on their way ---
@given(pool_cases(), st.sampled_from([3, 5, 4]), st.integers(1, 4), st.sampled_from([np.float32, np.float64]))
def test_fused_version_6_backward_is_version_3_bit_for_bit_on_any_pooling(kernel_device, monkeypatch, case, size,
                                                                          chunk, dtype):
    """Version 6's backward loads each channel's windows' argmax and dout together, and the next
    channel's before this one's are summed: y, argmax and dx are version 3's bit for bit, in one
    chunk of channels or several, on any pooling; it runs where the pooling windows cover at most
    2 positions a side and the LRN window is one kept in registers (3, 5), else version 3's
    backward (a window of 4: version 2's walk). Its forward is version 3's."""
    monkeypatch.setattr(lrn_module, "LRN_CHANNEL_CHUNK", chunk)
    results, launched = fused_runs_by_version(case, size, dtype, (3, 6), kernel_device)
    two_a_side = all(k <= 2 * s for k, s in zip(case["k"], case["stride"]))
    assert launched[6][0] == launched[3][0]
    assert launched[6][1] == ("lrn_maxpool_backward_v6" if two_a_side and size != 4 else launched[3][1])
    for new, old in zip(results[6], results[3]):
        np.testing.assert_array_equal(new, old)


def test_fused_version_6_backward_loads_every_window_and_the_next_channel():
    """The traffic count under the simulator (norm2+pool2's windows, 64 channels of 27 x 27, one
    image, chunks of 32 channels): version 6 loads the argmax of the same windows as version 3,
    each channel's once for each of its pixels, and one channel more at the end of each chunk but
    the last (the next channel's, loaded before the walk knows it will not ask for it); and the
    dout of every one of them, where version 3 loads the dout of the windows that chose the pixel.
    The dx stores and the bytes of x the walk loads are version 3's."""
    x = np.abs(np.random.default_rng(5).standard_normal((1, 64, 27, 27))).astype(np.float32)
    dout = np.random.default_rng(6).standard_normal((1, 64, 13, 13)).astype(np.float32)
    records = backward_traffic(lambda: LRNMaxPool(LRN(5, 1e-4, 0.75, 2.0), MaxPool2D(3, stride=2)), "lrn_maxpool",
                               (3, 6), x, dout, "lrn_maxpool_backward")
    v3, v6 = records[3], records[6]
    argmax3, argmax6 = v3.array("argmax").loads.bytes, v6.array("argmax").loads.bytes
    # channel 34's, once more: about one of the 68 channels the two chunks walk (none past channel 63)
    assert 0 < (argmax6 - argmax3) * 68 < 1.5 * argmax3
    assert v6.array("dout").loads.bytes == argmax6 > 2 * v3.array("dout").loads.bytes
    assert v6.array("dx").stores == v3.array("dx").stores
    assert v6.array("x").loads.bytes == v3.array("x").loads.bytes   # the walk's: one load of x a channel


# --- version 7's forward: each LRN value's window loaded at once ------------------------------
@given(pool_cases(), st.sampled_from([3, 5, 4]), st.sampled_from([np.float32, np.float64]))
def test_fused_version_7_forward_is_version_3_bit_for_bit_on_any_pooling(kernel_device, case, size, dtype):
    """Version 7's forward computes its band's LRN values from windows loaded at once: y and argmax
    are version 3's bit for bit on any pooling, with a window of 3 or 5 channels (the others, 4
    here, run version 3's forward); its backward is version 6's where version 6 runs."""
    results, launched = fused_runs_by_version(case, size, dtype, (3, 6, 7), kernel_device)
    banded = launched[3][0] == "lrn_maxpool_forward_v3"   # else too wide for a band: version 2's
    assert launched[7][0] == ("lrn_maxpool_forward_v7" if banded and size != 4 else launched[3][0])
    assert launched[7][1] == launched[6][1]
    for new, old in zip(results[7], results[3]):
        np.testing.assert_array_equal(new, old)


def test_fused_version_7_forward_loads_what_version_3_loads():
    """The traffic count under the simulator (norm1+pool1's windows on 8 channels of 55 x 55):
    version 7's band loads each LRN value's channels once each, as version 3's loop does, and not
    the centre's x a second time as version 3 does: over the 8 channels' values 34 loads (5 a
    channel, 3 and 4 at the edges) against 42, the same bytes touched, the same stores."""
    from minicnn.simulator import traffic
    from minicnn.layers.lrn_maxpool import lrn_maxpool_forward_cuda
    x = np.random.default_rng(9).standard_normal((1, 8, 55, 55)).astype(np.float32)
    records = {}
    for version in (3, 7):
        with kernel_versions.use("lrn_maxpool", version), traffic.recording() as log:
            lrn_maxpool_forward_cuda(x, 5, 1e-4, 0.75, 2.0, (3, 3), (2, 2), (0, 0))
        (records[version],) = log
    v3, v7 = records[3], records[7]
    assert v7.kernel == "lrn_maxpool_forward_v7"
    assert v7.array("y").stores == v3.array("y").stores and v7.array("argmax").stores == v3.array("argmax").stores
    assert v7.array("x").loads.requests * 42 == v3.array("x").loads.requests * 34
    assert v7.array("x").loads.touched == v3.array("x").loads.touched


# --- version 8's backward: LRN's version 4 walk, a step's channels' windows loaded at once ------
@given(pool_cases(), st.sampled_from([3, 5, 4]), st.integers(1, 9), st.sampled_from([np.float32, np.float64]))
def test_fused_version_8_backward_is_version_3_bit_for_bit_on_any_pooling(kernel_device, monkeypatch, case, size,
                                                                          chunk, dtype):
    """Version 8's backward walks size - 1 channels a step, each step's x and its channels' pooling
    windows loaded at once: y, argmax and dx are version 3's bit for bit, in chunks of channels
    that end on a step or within one (1 to 9 channels), on any pooling; it runs where version 6's
    does (pooling windows of at most 2 positions a side, an LRN window of 3 or 5), else version 3's
    backward. Its forward is version 7's."""
    monkeypatch.setattr(lrn_module, "LRN_CHANNEL_CHUNK", chunk)
    results, launched = fused_runs_by_version(case, size, dtype, (3, 6, 7, 8), kernel_device)
    assert launched[8][0] == launched[7][0]
    assert launched[8][1] == ("lrn_maxpool_backward_v8" if launched[6][1] == "lrn_maxpool_backward_v6"
                              else launched[3][1])
    for new, old in zip(results[8], results[3]):
        np.testing.assert_array_equal(new, old)


def test_fused_version_8_backward_loads_what_version_6_loads():
    """The traffic count under the simulator (norm2+pool2's windows, 64 channels of 27 x 27, one
    image, chunks of 32 channels): version 8 loads the argmax of version 3's windows, request for
    request (without version 6's look at the channel after a chunk), the dout of every one of them
    as version 6 does, and the x and dx of versions 3 and 6: only when the loads are issued differs."""
    x = np.abs(np.random.default_rng(5).standard_normal((1, 64, 27, 27))).astype(np.float32)
    dout = np.random.default_rng(6).standard_normal((1, 64, 13, 13)).astype(np.float32)
    records = backward_traffic(lambda: LRNMaxPool(LRN(5, 1e-4, 0.75, 2.0), MaxPool2D(3, stride=2)), "lrn_maxpool",
                               (3, 6, 8), x, dout, "lrn_maxpool_backward")
    v3, v6, v8 = records[3], records[6], records[8]
    assert v8.array("argmax").loads == v3.array("argmax").loads
    assert v8.array("argmax").loads.bytes < v6.array("argmax").loads.bytes   # version 6's channel 32, once more
    assert v8.array("dout").loads.requests == v8.array("argmax").loads.requests
    assert v8.array("dx").stores == v6.array("dx").stores == v3.array("dx").stores
    assert v8.array("x").loads == v3.array("x").loads
