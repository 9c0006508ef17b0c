"""ReLU, Dropout and Flatten: forward rules, gradients, dropout's reproducible mask."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minicnn import Dropout, Flatten, ReLU, counter_rng
from minicnn.gradcheck import check_layer
from minicnn.layers.base import at_test_time
from inputs import away_from_zero

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@given(shapes, st.integers(0, 2 ** 31))
def test_relu_forward_and_gradients(shape, seed):
    x = away_from_zero(np.random.default_rng(seed), shape)
    layer = ReLU()
    np.testing.assert_array_equal(layer.forward(x), np.where(x > 0, x, 0.0))
    check_layer(layer, x).assert_ok()


def test_relu_gradient_at_zero_is_zero():
    layer = ReLU()
    layer.forward(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


@given(shapes, st.floats(0.0, 0.9), st.integers(0, 2 ** 31))
def test_dropout_forward_and_gradients(shape, p, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    layer = Dropout(p, seed=seed)
    y = layer.forward(x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-15)
    np.testing.assert_array_equal(layer.forward(x, train=False), x)
    check_layer(Dropout(p, seed=seed), x).assert_ok()


def test_dropout_at_test_time_drops_nothing_and_passes_the_gradient_through(rng):
    """Within at_test_time a training forward is the identity and draws no mask (the next
    training forward draws the mask it would have drawn); backward returns dL/dy; nested contexts
    and a layer's own setting are restored as they were."""
    x = rng.standard_normal((3, 7))
    layer = Dropout(0.5, seed=4)
    with at_test_time(layer):
        np.testing.assert_array_equal(layer.forward(x), x)
        dout = rng.standard_normal((3, 7))
        np.testing.assert_array_equal(layer.backward(dout), dout)
        check_layer(layer, x).assert_ok()
        with at_test_time(layer):
            pass
        assert layer.test_time and layer.calls == 0
    assert not layer.test_time
    np.testing.assert_array_equal(layer.forward(x), Dropout(0.5, seed=4).forward(x))
    layer.test_time = True   # set by hand: kept
    with at_test_time(layer):
        pass
    assert vars(layer)["test_time"] is True


def test_dropout_mask_statistics_and_reproducibility():
    x = np.ones((200, 500))
    layer = Dropout(0.5, seed=7)
    y1 = layer.forward(x)
    frac = (y1 == 0).mean()
    assert abs(frac - 0.5) < 0.005          # 100k Bernoulli(0.5) draws: sd 0.0016
    assert abs(y1.mean() - 1.0) < 0.01      # inverted dropout keeps the expectation
    for t, y in enumerate((y1, layer.forward(x), layer.forward(x))):   # the t-th forward: draw t, element by element
        np.testing.assert_array_equal(y == 0, counter_rng.uniform(7, t, x.shape, x.dtype) < 0.5)
    layer.set_random_state({"seed": 7, "calls": 1})
    y2, y3 = layer.forward(x), layer.forward(x)
    for a, b in ((y1, y2), (y2, y3)):   # successive masks independent, each forward's its own
        assert abs(((a == 0) & (b == 0)).mean() - 0.25) < 0.005
    assert layer.calls == 3
    again = Dropout(0.5, seed=7)
    np.testing.assert_array_equal(again.forward(x), y1)            # same seed, same first mask
    again.set_random_state(layer.random_state())
    np.testing.assert_array_equal(again.forward(x), layer.forward(x))
    assert not np.array_equal(Dropout(0.5, seed=8).forward(x), y1)


def test_counter_rng_is_a_function_of_seed_counter_and_index():
    u = counter_rng.uniform(3, 5, (1000,), np.float64)
    assert u.min() >= 0 and u.max() < 1
    np.testing.assert_array_equal(u[:10], counter_rng.uniform(3, 5, (10,), np.float64))
    assert counter_rng.uniform(3, 6, (10,))[0] != u[0]
    # moments of U(0, 1) over 10^6 draws
    big = counter_rng.uniform(0, 0, (10 ** 6,), np.float64)
    assert abs(big.mean() - 0.5) < 2e-3 and abs(big.var() - 1 / 12) < 2e-3
    # the 24-bit construction is exact in float32
    np.testing.assert_array_equal(counter_rng.uniform(1, 2, (100,), np.float32),
                                  counter_rng.uniform(1, 2, (100,), np.float64).astype(np.float32))


def test_counter_rng_known_values():
    """Pins the generator: the GPU dropout kernel must reproduce exactly these numbers."""
    assert counter_rng.mix32_int(1) == 0x514E28B7  # MurmurHash3's fmix32(1)
    assert [int(v) for v in counter_rng.mix32(np.array([1, 2], dtype=np.uint32))] == [
        counter_rng.mix32_int(1), counter_rng.mix32_int(2)]
    assert counter_rng.uniform(1, 2, (4,), np.float64).tolist() == [
        0.6193191409111023, 0.6480497717857361, 0.37286680936813354, 0.3540499806404114]
    # a seed's and a counter's bits past the 32nd are folded into the keys, not dropped
    assert counter_rng.uniform(2 ** 40 + 3, 2 ** 33 + 5, (3,), np.float64).tolist() == [
        0.9324322938919067, 0.5235360264778137, 0.9101613163948059]


def test_a_draw_holds_at_most_2_to_the_32_elements():
    """Element indices are 32-bit: a dropout mask's draw (a rank's rows of a global batch among
    them) of 2**32 elements or more is refused before anything is drawn."""
    from minicnn.layers.dropout import mask_layout
    assert mask_layout((2 ** 16 - 1, 2 ** 16), None) == (2 ** 16, 2 ** 16, 0)
    with pytest.raises(ValueError, match=r"at most 2\*\*32 elements per draw, got 0 \+ 65536 rows of 65536"):
        mask_layout((2 ** 16, 2 ** 16), None)
    assert mask_layout((1, 2 ** 16), None, first_row=2 ** 16 - 2) == (2 ** 16, 2 ** 16, (2 ** 16 - 2) * 2 ** 16)
    with pytest.raises(ValueError, match=r"got 65535 \+ 1 rows of 65536"):
        mask_layout((1, 2 ** 16), None, first_row=2 ** 16 - 1)
    with pytest.raises(ValueError, match=r"at most 2\*\*32 elements per draw, asked for 4294967296"):
        counter_rng.uniform(0, 0, (2 ** 16, 2 ** 16))


def test_dropout_bad_arguments():
    with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\)"):
        Dropout(1.0)
    for seed in (-1, 1.0, "3", True):
        with pytest.raises(ValueError, match=f"Dropout: seed must be an integer >= 0, got {seed!r}"):
            Dropout(0.5, seed=seed)
    assert type(Dropout(0.5, seed=np.int64(3)).seed) is int   # a seed read from an array will do


@given(st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple), st.integers(0, 2 ** 31))
def test_flatten(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    layer = Flatten()
    y = layer.forward(x)
    assert y.shape == layer.output_shape(shape) == (shape[0], int(np.prod(shape[1:])))
    np.testing.assert_array_equal(y, x.reshape(shape[0], -1))
    check_layer(layer, x).assert_ok()
    with pytest.raises(ValueError, match="at least 2 axes"):
        layer.forward(np.zeros(3))


# --- the CUDA kernels (kernels/relu.cu, kernels/dropout.cu), simulator and GPU ----------------
from devices import compare_with_cpu  # noqa: E402
from minicnn.backend import to_device, to_numpy  # noqa: E402

# 1, odd, prime, more than two blocks, more than one grid-stride step (the simulator's device
# holds 2 blocks of 256 threads), and an end that falls in a thread's fourth element of relu's
# version 2 (997 = 3 * 256 + 229: its bound checks off by one read and write past the end)
awkward_shapes = [(1,), (7,), (2, 3, 5, 7), (3, 1031), (3, 4111), (1, 997)]


@pytest.mark.parametrize("shape", awkward_shapes)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_kernel_matches_cpu(kernel_device, relu_version, shape, dtype):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    x.flat[0] = 0.0  # the kink: the output and the gradient there are 0 on every device
    compare_with_cpu(ReLU(), x, kernel_device)


@pytest.mark.parametrize("shape", awkward_shapes)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_kernel_draws_the_cpu_mask(kernel_device, shape, dtype):
    """Same seed, same draw counter: the device's mask is the CPU's, bit for bit."""
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    cpu, dev = Dropout(0.3, seed=42), Dropout(0.3, seed=42).to(kernel_device)
    for _ in range(2):  # the second forward draws a new mask on both
        y_cpu, y_dev = cpu.forward(x), dev.forward(to_device(x, kernel_device))
        np.testing.assert_array_equal(to_numpy(y_dev), y_cpu)
        dout = np.random.default_rng(2).standard_normal(shape).astype(dtype)
        np.testing.assert_array_equal(to_numpy(dev.backward(to_device(dout, kernel_device))), cpu.backward(dout))


def test_a_unit_whose_draw_equals_p_is_kept(kernel_device):
    """A unit is kept where its draw u >= p: with p the first mask's draw for unit 5, unit 5 is
    kept (and scaled) on the CPU and the kernels alike, in float32 and float64."""
    for dtype in (np.float32, np.float64):
        draws = counter_rng.uniform(42, 0, (2, 6), dtype)
        p = float(draws.flat[5])
        for device in ("cpu", kernel_device):
            y = to_numpy(Dropout(p, seed=42).to(device).forward(to_device(np.ones((2, 6), dtype), device)))
            np.testing.assert_array_equal(y, np.where(draws >= p, dtype(1 / (1 - p)), dtype(0)), strict=True)
            assert y.flat[5] != 0


def test_dropout_first_row_draws_those_rows_of_the_whole_batch_mask(kernel_device):
    """A rank's part of a global batch (data-parallel training) drops what one process would,
    with a feature slice too (a tower, or a model-parallel FC layer), on the CPU and the kernels."""
    x = np.random.default_rng(6).standard_normal((7, 10))
    whole = Dropout(0.5, seed=9).forward(x)
    for device in ("cpu", kernel_device):
        for first_row, rows, features in ((0, 3, slice(0, 10)), (3, 4, slice(0, 10)), (2, 5, slice(4, 9))):
            part = Dropout(0.5, seed=9, mask_slice=(features.start, 10) if features.stop - features.start < 10 else None)
            part.first_row = first_row
            part.to(device)
            piece = np.ascontiguousarray(x[first_row:first_row + rows, features])
            y = part.forward(to_device(piece, device))
            np.testing.assert_array_equal(to_numpy(y), whole[first_row:first_row + rows, features])
            np.testing.assert_array_equal(to_numpy(part.backward(to_device(piece, device))),
                                          whole[first_row:first_row + rows, features])
    late = Dropout(0.5)
    late.first_row = 2 ** 31
    with pytest.raises(ValueError, match="at most 2\\*\\*32 elements per draw"):
        late.forward(np.ones((1, 4)))


def test_dropout_kernel_is_identity_at_test_time(kernel_device):
    x = np.random.default_rng(3).standard_normal((4, 9)).astype(np.float32)
    layer = Dropout(0.5).to(kernel_device)
    np.testing.assert_array_equal(to_numpy(layer.forward(to_device(x, kernel_device), train=False)), x)
    with at_test_time(layer):   # a training forward too, whose backward passes dL/dy through
        np.testing.assert_array_equal(to_numpy(layer.forward(to_device(x, kernel_device))), x)
        np.testing.assert_array_equal(to_numpy(layer.backward(to_device(2 * x, kernel_device))), 2 * x)


def test_flatten_on_a_kernel_device(kernel_device):
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 5))
    compare_with_cpu(Flatten(), x, kernel_device)
