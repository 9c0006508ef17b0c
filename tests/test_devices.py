"""Whole networks on the kernel devices: a small AlexNet trains identically on the CPU and on
"sim"/"cuda"; device names, MINICNN_SIMULATE, and (on a GPU) no host synchronisation in a step."""
import copy

import numpy as np
import pytest

from devices import assert_close, needs_gpu
from minicnn import SoftmaxCrossEntropy, models
from minicnn.backend import check_device, to_device
from minicnn.optim import SGD
from minicnn.summary import summarize


def train_steps(model, device, x, labels, steps):
    """Run ``steps`` SGD steps on ``device``; return per step (loss, logits, dx) and the final
    state dict, all as NumPy arrays."""
    model = model.to(device)
    loss_fn, opt = SoftmaxCrossEntropy().to(device), SGD(model, lr=0.05, momentum=0.9, weight_decay=5e-4)
    x, labels = to_device(x, device), to_device(labels, device)
    history = []
    for _ in range(steps):
        logits = model.forward(x, train=True)
        loss = loss_fn.forward(logits, labels)
        dx = model.backward(loss_fn.backward())
        opt.step()
        history.append((to_device(loss, "cpu"), to_device(logits, "cpu"), to_device(dx, "cpu")))
    return history, {k: to_device(v, "cpu") for k, v in model.state_dict().items()}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_small_alexnet_trains_the_same_on_the_device(kernel_device, dtype):
    """Forward, backward and the fused SGD update of every layer (conv with groups, LRN,
    overlapping pool, ReLU, dropout, dense, softmax cross-entropy) for three steps."""
    model = models.alexnet_small(width=4, dtype=dtype)
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((3, 1, 28, 28)).astype(dtype), np.array([1, 5, 9])
    cpu_history, cpu_state = train_steps(copy.deepcopy(model), "cpu", x, labels, 3)
    dev_history, dev_state = train_steps(model, kernel_device, x, labels, 3)
    for step, (cpu, dev) in enumerate(zip(cpu_history, dev_history)):
        for what, a, b in zip(("loss", "logits", "dx"), dev, cpu):
            assert_close(a, b.astype(dtype), f"step {step} {what}")
    for name in cpu_state:
        assert_close(dev_state[name], cpu_state[name], name)


def test_summary_shows_the_device():
    model = models.alexnet_small(width=4).to("sim")
    rows, _ = summarize(model, (1, 1, 28, 28))
    assert {row["device"] for row in rows} == {"sim"}


def test_simulate_switch_turns_cuda_into_sim(monkeypatch):
    monkeypatch.setenv("MINICNN_SIMULATE", "1")
    assert check_device("cuda") == "sim"
    assert models.alexnet_small(width=4).to("cuda").device == "sim"
    monkeypatch.setenv("MINICNN_SIMULATE", "0")
    assert check_device("sim") == "sim"


def test_only_kernel_devices_use_kernels_and_non_arrays_are_refused():
    from minicnn import ReLU
    layer = ReLU().to("sim")
    assert layer.uses_kernels and not ReLU().uses_kernels
    with pytest.raises(TypeError, match="must be an array"):
        layer.forward([1.0, 2.0])


@needs_gpu
@pytest.mark.parametrize("fused", [False, True])
def test_gpu_training_step_never_synchronises_with_the_host(fused):
    """Forward, backward and update queue kernels only: any implicit device-to-host transfer
    or synchronisation inside them raises under cupyx.allow_synchronize(False). With the
    layers as built and as examples/train_alexnet.py trains them on a GPU (fused)."""
    import cupy
    import cupyx
    from minicnn.fusion import fuse
    model = models.alexnet_small(width=8)
    model = (fuse(model) if fused else model).to("cuda")
    loss_fn, opt = SoftmaxCrossEntropy().to("cuda"), SGD(model)
    x = cupy.asarray(np.random.default_rng(0).standard_normal((4, 1, 28, 28)), dtype=cupy.float32)
    labels = cupy.asarray([0, 1, 2, 3])
    for _ in range(2):  # the first step compiles the kernels; the second is the one that counts
        with cupyx.allow_synchronize(False):
            logits = model.forward(x, train=True)
            loss = loss_fn.forward(logits, labels)
            model.backward(loss_fn.backward())
            opt.step()
    assert np.isfinite(float(loss))
