"""The one way the kernel tests compare a device with the CPU: run a layer (or a copy of it)
on both and check outputs, input gradients and parameter gradients; and which kernels a call
launches (launched_kernels)."""
import copy

import numpy as np
import pytest

from minicnn import launch
from minicnn.backend import cuda_available, to_device, to_numpy

NO_GPU = "no GPU: CuPy or a CUDA device is not available"
needs_gpu = pytest.mark.skipif(not cuda_available(), reason=NO_GPU)   # the one GPU skip of the suite

# (rtol, atol as a fraction of the largest magnitude of the reference) per dtype. float64 is
# held to near its rounding; float32 allows for a different summation order (cuBLAS vs BLAS).
TOLERANCE = {np.dtype(np.float64): (1e-11, 1e-12), np.dtype(np.float32): (3e-5, 3e-6)}


def assert_close(actual, expected, what=""):
    """``actual`` (any device) equals ``expected`` (NumPy) to the tolerance of its dtype."""
    expected = np.asarray(expected)
    rtol, atol = TOLERANCE[expected.dtype]
    actual = to_numpy(actual)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, \
        f"{what}: got {actual.shape} {actual.dtype}, expected {expected.shape} {expected.dtype}"
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * max(scale, 1e-30), err_msg=what)


def assert_grads_close(got, expected, names=("dx", "dw", "db"), tolerance=None):
    """A backward's gradients ``got`` against ``expected`` (another algorithm's, or the CPU's), by
    ``assert_close``, or within ``tolerance`` (rtol, atol) where given: each None exactly where the
    expected one is None."""
    for name, a, e in zip(names, got, expected):
        assert (a is None) == (e is None), name
        if e is None:
            continue
        if tolerance is None:
            assert_close(a, e, name)
        else:
            np.testing.assert_allclose(a, e, rtol=tolerance[0], atol=tolerance[1], err_msg=name)


def compare_with_cpu(layer, x, device, seed=0, train=True):
    """Run ``layer`` on the CPU and a deep copy on ``device`` with the same input and upstream
    gradient; assert that y, dx and every parameter gradient agree. Returns the device copy."""
    on_device = copy.deepcopy(layer).to(device)
    y_cpu = layer.forward(x, train=train)
    y_dev = on_device.forward(to_device(x, device), train=train)
    assert_close(y_dev, y_cpu, f"{layer!r} forward on {device}")
    if not train:
        return on_device
    dout = np.random.default_rng(seed).standard_normal(y_cpu.shape).astype(x.dtype)
    dx_cpu = layer.backward(dout)
    dx_dev = on_device.backward(to_device(dout, device))
    assert_close(dx_dev, dx_cpu, f"{layer!r} backward on {device}")
    for (name, p_cpu), (_, p_dev) in zip(layer.named_params(), on_device.named_params()):
        assert_close(p_dev.grad, p_cpu.grad, f"{layer!r} gradient of {name} on {device}")
    return on_device


def launched_kernels(run):
    """The names of the kernels (and minicnn.gemm products) that ``run()`` launches, in order."""
    names = []

    def watcher(name, nbytes, call, flops):
        names.append(name)
        return call()
    with launch.watching(watcher):
        run()
    return names


def launched_in_a_step(layer, x):
    """The kernels ``layer`` launches in a training forward of ``x`` and then in its backward (of
    dL/dy = y), in order (``launched_kernels``)."""
    out = {}
    launched = launched_kernels(lambda: out.update(y=layer.forward(x, train=True)))
    return launched + launched_kernels(lambda: layer.backward(out["y"]))


def backward_traffic(make_layer, family, versions, x, dout, kernel):
    """{version: the simulator's traffic record of ``kernel``_v<version>} for the backward of a
    layer made by ``make_layer()`` after its forward of ``x`` in that version of ``family``'s
    kernels; each backward's dx is checked to be stored once."""
    from minicnn import kernel_versions
    from minicnn.simulator import traffic
    records = {}
    for version in versions:
        layer = make_layer().to("sim")
        with kernel_versions.use(family, version):
            layer.forward(x)
        with traffic.recording() as log:
            dx = layer.backward(dout)
        (records[version],) = log.of(f"{kernel}_v{version}")
        assert records[version].array("dx").stores.bytes == dx.nbytes
    return records
