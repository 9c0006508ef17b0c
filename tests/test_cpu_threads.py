"""minicnn.cpu_threads: the NumPy work between the GEMMs cut into slices over threads.

Every caller must give the same result, bit for bit, as one call on the whole array (which the
layer tests compare with naive loops and PyTorch): LRN, max-pool, ReLU, im2col, col2im, the conv
layout pass, Winograd's transforms, the SGD update, a whole training step, and the data loader's
batches. The ``sliced`` fixture cuts even small arrays (``MIN_ELEMENTS`` 0) over 3 threads, so
that the slices are uneven and outnumber nothing.
"""
import multiprocessing
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from minicnn import LRN, Conv2D, MaxPool2D, ReLU, cpu_threads, models
from minicnn.data.loader import BatchLoader
from minicnn.layers import conv as conv_module, winograd
from minicnn.layers.im2col import col2im, im2col
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.optim import CPU_SLICE, SGD, sgd_update_cpu


@pytest.fixture
def sliced(monkeypatch):
    """Slice every array, over 3 threads; back to the default count afterwards."""
    monkeypatch.setattr(cpu_threads, "MIN_ELEMENTS", 0)
    before = cpu_threads.threads()
    cpu_threads.set_threads(3)
    yield
    cpu_threads.set_threads(before)


def one_thread_and_sliced(compute):
    """compute() with one thread, then with the current (sliced) setting."""
    with cpu_threads.limited(1):
        whole = compute()
    return whole, compute()


def assert_identical(a, b):
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y, strict=True)


def forward_backward(layer, x, rng):
    y = layer.forward(x)
    dx = layer.backward(rng.standard_normal(y.shape).astype(x.dtype))
    grads = [p.grad.copy() for p in layer.params.values()]
    return [y, dx] + grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [1, 2])
def test_lrn_sliced_is_identical(sliced, dtype, groups):
    x = (np.random.default_rng(0).standard_normal((7, 12, 5, 6)) * 20).astype(dtype)
    layer = LRN(5, 1e-4, 0.75, 2.0, groups=groups)
    whole, parts = one_thread_and_sliced(lambda: forward_backward(layer, x, np.random.default_rng(1)))
    assert isinstance(layer._cache, cpu_threads.SlicedCache)   # the sliced path did run
    assert_identical(whole, parts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, stride, padding", [(3, 2, 0), (3, 2, 1), (2, 2, 0)])
def test_maxpool_sliced_is_identical(sliced, dtype, kernel, stride, padding):
    # rounded values: many ties, whose winner (the first) must not depend on the slicing
    x = np.round(np.random.default_rng(0).standard_normal((5, 4, 11, 9)) * 2).astype(dtype)
    layer = MaxPool2D(kernel, stride=stride, padding=padding)
    whole, parts = one_thread_and_sliced(lambda: forward_backward(layer, x, np.random.default_rng(1)))
    assert isinstance(layer._cache, cpu_threads.SlicedCache)
    assert_identical(whole, parts)


@pytest.mark.parametrize("shape", [(7, 3, 5, 4), (5, 6)])
def test_relu_sliced_writes_every_element(sliced, shape):
    """Each slice writes its part of y and dx, which start uninitialised: every element must be
    max(x, 0) and dout * (x > 0), zeros included."""
    rng = np.random.default_rng(0)
    x = np.round(rng.standard_normal(shape)).astype(np.float32)   # many exact zeros
    layer = ReLU()
    whole, parts = one_thread_and_sliced(lambda: forward_backward(layer, x, np.random.default_rng(1)))
    assert_identical(whole, parts)
    dout = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(parts[0], np.maximum(x, 0), strict=True)
    np.testing.assert_array_equal(parts[1], dout * (x > 0), strict=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("settings", [dict(kernel_size=5, padding=2, groups=2),
                                      dict(kernel_size=11, stride=4, bias=False),
                                      dict(kernel_size=3, padding=1, relu=True)])
@pytest.mark.parametrize("width", [21, 13])   # the columns ordered (n, oh, ow), and (oh, ow, n) with stride 1
def test_conv_sliced_is_identical(sliced, dtype, settings, width):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4, 23, width)).astype(dtype)
    layer = Conv2D(4, 6, dtype=dtype, rng=rng, **settings)
    whole, parts = one_thread_and_sliced(lambda: forward_backward(layer, x, np.random.default_rng(1)))
    assert_identical(whole, parts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("settings", [dict(kernel_size=5, padding=2, groups=2, relu=True),
                                      dict(kernel_size=11, stride=4, bias=False)])
@pytest.mark.parametrize("input_grad", [True, False])
def test_conv_image_by_image_sliced_is_identical(sliced, monkeypatch, dtype, settings, input_grad):
    """The conv image by image (minicnn/layers/conv.py, ``conv_forward_by_image``): the images shared
    out over the threads, each one's GEMMs on one core, dw summed in blocks of 8 images (here 3
    blocks), against one thread: the BLAS on both cores, the blocks one after another."""
    monkeypatch.setattr(conv_module, "MIN_IMAGE_PIXELS", 1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((21, 4, 23, 19)).astype(dtype)
    layer = Conv2D(4, 6, dtype=dtype, rng=rng, **settings)
    layer.input_grad = input_grad
    whole, parts = one_thread_and_sliced(lambda: forward_backward(layer, x, np.random.default_rng(1)))
    assert layer._cache[0] == "im2col by image" and (whole[1] is None) == (not input_grad)
    assert_identical([a for a in whole if a is not None], [a for a in parts if a is not None])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [1, 2])
def test_winograd_conv_sliced_is_identical(sliced, monkeypatch, dtype, groups):
    """F(2x2, 3x3)'s four transforms, sliced over the channels (minicnn/layers/winograd.py)."""
    monkeypatch.setattr(winograd, "MIN_TILES", 0)
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6, 11, 8)).astype(dtype)
    layer = Conv2D(6, 8, 3, padding=1, groups=groups, dtype=dtype, rng=rng, relu=True)
    assert layer.algorithm_for(x.shape) == "winograd"
    whole, parts = one_thread_and_sliced(lambda: forward_backward(layer, x, np.random.default_rng(1)))
    assert_identical(whole, parts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [1, 2])
def test_fft_conv_sliced_is_identical(sliced, dtype, groups):
    """The FFT's transforms sliced over the channels and its products over the frequencies, each
    product on one core (minicnn/layers/fft.py), against one thread: the BLAS on both cores."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 64, 15, 13)).astype(dtype)
    layer = Conv2D(64, 128, 5, padding=2, groups=groups, dtype=dtype, rng=rng, relu=True, algorithm="fft")
    whole, parts = one_thread_and_sliced(lambda: forward_backward(layer, x, np.random.default_rng(1)))
    assert_identical(whole, parts)


def test_im2col_col2im_sliced_are_identical(sliced):
    x = np.random.default_rng(0).standard_normal((7, 3, 13, 10)).astype(np.float32)
    args = ((3, 5), (2, 1), (1, 2))
    whole, parts = one_thread_and_sliced(lambda: [im2col(x, *args), im2col(x, *args, batch_last=True)])
    assert_identical(whole, parts)
    cols = np.random.default_rng(1).standard_normal(whole[0].shape).astype(np.float32)
    whole, parts = one_thread_and_sliced(lambda: [col2im(cols, x.shape, *args),
                                                  col2im(cols, x.shape, *args, batch_last=True)])
    assert_identical(whole, parts)


@pytest.mark.parametrize("size", [5, 3 * CPU_SLICE + 7, 8 * CPU_SLICE])
def test_sgd_update_sliced_is_identical(sliced, size):
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(size).astype(np.float32) for _ in range(3)]

    def update():
        w, grad, v = (a.copy() for a in start)
        for _ in range(2):
            sgd_update_cpu(w, grad, v, 0.01, 0.9, 5e-6)
        return [w, v]

    assert_identical(*one_thread_and_sliced(update))


def test_training_steps_sliced_are_identical(sliced):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 6)

    def train():
        model = models.build("alexnet_small", num_classes=10, in_channels=1)
        loss, opt = SoftmaxCrossEntropy(), SGD(model, lr=0.01)
        for _ in range(2):
            loss.forward(model.forward(x, train=True), y)
            model.backward(loss.backward())
            opt.step()
        return [p.data for _, p in model.named_params()]

    assert_identical(*one_thread_and_sliced(train))


@pytest.mark.parametrize("options", [
    dict(shuffle=True, augment=True, augment_pad=2), dict(size=13), dict(crop=7, augment=True, pca=(
        np.array([0.2, 0.05, 0.01]), np.eye(3)[[2, 0, 1]]), mean=[0.4, 0.5, 0.6], std=[0.2, 0.3, 0.25]), dict(crop=7)])
def test_loader_batches_sliced_are_identical(sliced, options):
    """The batch's random numbers are drawn before its slices are filled: the same batches, in
    the same order of draws, with one thread and with three."""
    images = np.random.default_rng(0).integers(0, 256, (23, 3, 10, 9) if "crop" in options else (23, 10, 9))
    images = images.astype(np.uint8)

    def batches():
        return [x for x, _ in BatchLoader(images, np.arange(23), 5, seed=4, epoch=1, **options)]
    whole, sliced_batches = one_thread_and_sliced(batches)
    assert len(whole) == 5 and whole[-1].shape[0] == 3
    for a, b in zip(whole, sliced_batches):
        assert_identical(a, b)


# --- the slicing itself ---------------------------------------------------------------------
def test_slices_cover_the_range_in_order(sliced):
    for length in (1, 2, 5, 6, 7, 100):
        slices = cpu_threads.plan_slices(length, np.zeros(1))
        assert len(slices) == min(length, 3 * cpu_threads.SLICES_PER_THREAD)
        assert [i for s in slices for i in range(s.start, s.stop)] == list(range(length))
        assert all(s.stop > s.start for s in slices)


def test_slices_of_at_most_so_many_bytes(sliced):
    """With slice_bytes, as many slices as leave each one no more than that many bytes of the array,
    and never fewer than without it nor more than one per index."""
    array = np.zeros((32, 1000), dtype=np.float32)   # 4000 bytes a sample
    for slice_bytes, parts in ((None, 6), (64000, 6), (16000, 8), (8000, 16), (4000, 32), (100, 32)):
        slices = cpu_threads.plan_slices(32, array, slice_bytes)
        assert len(slices) == parts, slice_bytes
        assert [i for s in slices for i in range(s.start, s.stop)] == list(range(32))
        if slice_bytes and parts > 6:   # a sample each at most (100 bytes: less than one)
            assert max(array[s].nbytes for s in slices) <= max(slice_bytes, array[0].nbytes)


def test_per_sample_layers_slice_their_batch_by_bytes(sliced, monkeypatch):
    """LRN and max-pool cut the batch into slices of at most their SLICE_BYTES of x (one sample a
    slice here: 7, where 3 threads would otherwise take 6), with the results of one call on the
    whole batch, bit for bit."""
    from minicnn.layers import lrn as lrn_module, maxpool as maxpool_module
    x = np.random.default_rng(0).standard_normal((7, 4, 9, 9)).astype(np.float32)
    planned = []
    real_plan = cpu_threads.plan_slices
    monkeypatch.setattr(cpu_threads, "plan_slices", lambda *a: planned.append(real_plan(*a)) or planned[-1])
    for module, make in ((lrn_module, lambda: LRN(5, 1e-2, 0.75, 2.0)), (maxpool_module, lambda: MaxPool2D(3, 2))):
        monkeypatch.setattr(module, "SLICE_BYTES", x[0].nbytes)
        planned.clear()
        whole, sliced_results = one_thread_and_sliced(lambda: forward_backward(make(), x, np.random.default_rng(1)))
        assert [len(p) for p in planned] == [1, 7], module.__name__   # one thread: one slice
        assert_identical(whole, sliced_results)


def test_small_arrays_and_cupy_stay_whole():
    assert cpu_threads.plan_slices(32, np.zeros(cpu_threads.MIN_ELEMENTS - 1)) == [slice(0, 32)]
    assert cpu_threads.plan_slices(32, [0.0] * cpu_threads.MIN_ELEMENTS) == [slice(0, 32)]   # not NumPy


def test_work_runs_on_several_threads_and_results_keep_their_order(sliced):
    seen = set()
    barrier = threading.Barrier(3, timeout=30)   # only passes if 3 slices run at the same time

    def work(s):
        seen.add(threading.get_ident())
        if s.start < 3:
            barrier.wait()
        return s.start

    assert cpu_threads.in_slices(6, work, np.zeros(1)) == [0, 1, 2, 3, 4, 5]
    assert len(seen) >= 3


def test_an_error_in_any_slice_reaches_the_caller(sliced):
    def work(s):
        if s.start == 4:
            raise ArithmeticError("slice 4 failed")
        return s.start

    with pytest.raises(ArithmeticError, match="slice 4 failed"):
        cpu_threads.in_slices(6, work, np.zeros(1))
    assert cpu_threads.in_slices(6, lambda s: s.start, np.zeros(1)) == [0, 1, 2, 3, 4, 5]   # still works


def test_work_that_slices_again_runs_whole_inside_the_pool(sliced):
    caller = threading.get_ident()

    def work(s):
        inner = cpu_threads.in_slices(4, lambda t: (t.start, t.stop), np.zeros(1))
        return threading.get_ident() == caller, inner

    results = cpu_threads.in_slices(6, work, np.zeros(1))
    assert any(not in_caller for in_caller, _ in results)
    for in_caller, inner in results:   # the pool's threads must not wait on the pool
        assert inner == ([(0, 1), (1, 2), (2, 3), (3, 4)] if in_caller else [(0, 4)])


def test_thread_counts_are_checked():
    for bad in (0, -1, 2.5, True, "2"):
        with pytest.raises(ValueError, match="integer >= 1"):
            cpu_threads.set_threads(bad)
    before = cpu_threads.threads()
    with pytest.raises(KeyError):
        with cpu_threads.limited(1):
            assert cpu_threads.threads() == 1
            raise KeyError("inside")
    assert cpu_threads.threads() == before


def test_the_variables_set_the_count(monkeypatch):
    monkeypatch.setattr(cpu_threads, "_threads", None)
    monkeypatch.setenv("MINICNN_CPU_THREADS", "3")
    assert cpu_threads.threads() == 3
    monkeypatch.setattr(cpu_threads, "_threads", None)
    monkeypatch.setenv("MINICNN_CPU_THREADS", "many")
    with pytest.raises(ValueError, match="MINICNN_CPU_THREADS='many': expected a positive integer"):
        cpu_threads.threads()
    monkeypatch.setattr(cpu_threads, "_threads", None)
    monkeypatch.delenv("MINICNN_CPU_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu_threads.threads() == 1
    monkeypatch.setattr(cpu_threads, "_threads", None)


def _slices_in_child(queue):
    queue.put(cpu_threads.in_slices(6, lambda s: s.start, np.zeros(1)))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
# forking a process whose pool threads run is this test's point; Python 3.12+ warns of it
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_a_forked_child_gets_a_pool_of_its_own(sliced):
    cpu_threads.in_slices(6, lambda s: s.start, np.zeros(1))   # the parent's pool exists now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_slices_in_child, args=(queue,))
    child.start()
    assert queue.get(timeout=60) == [0, 1, 2, 3, 4, 5]
    child.join(60)
    assert child.exitcode == 0


def test_importing_minicnn_first_sets_openblas_thread_timeout():
    code = "import os, minicnn; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "4"
    env["OPENBLAS_THREAD_TIMEOUT"] = "12"   # a user's own setting stays
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "12"
