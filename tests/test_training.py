"""Optimizer, data files, batching, checkpoints (atomic, validated) and the training script."""
import csv
import json
import os
import re
import stat
import subprocess
import sys
import time

import numpy as np
from hypothesis import given, strategies as st
import pytest

from minicnn import Dense, Flatten, Sequential, checkpoint, models
from minicnn.data import fashion_mnist
from minicnn.data.loader import BatchLoader, draw_crops, window_crops
from minicnn.environment import describe_line
from minicnn.optim import CPU_SLICE, SGD, LinearDecay, ReduceOnPlateau, StepLR, sgd_update_cpu

from fake_data import write_fake_cifar, write_fake_fashion

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_sgd_is_the_papers_update():
    model = Sequential([Dense(3, 2, dtype=np.float64, rng=np.random.default_rng(0))])
    p = model[0].params["weight"]
    w0 = p.data.copy()
    g = np.random.default_rng(1).standard_normal(w0.shape)
    opt = SGD(model, lr=0.1, momentum=0.9, weight_decay=0.01)
    p.grad = g.copy()
    model[0].params["bias"].grad = np.zeros(2)
    opt.step()
    v1 = -0.01 * 0.1 * w0 - 0.1 * g
    np.testing.assert_allclose(p.data, w0 + v1, rtol=1e-14)
    opt.step()
    v2 = 0.9 * v1 - 0.01 * 0.1 * (w0 + v1) - 0.1 * g
    np.testing.assert_allclose(p.data, w0 + v1 + v2, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 7, CPU_SLICE, 2 * CPU_SLICE + 5])
def test_the_cpu_update_slice_by_slice_is_the_whole_array_expression_bit_for_bit(dtype, size):
    rng = np.random.default_rng(size)
    w, grad, v = (rng.standard_normal((size, 1)).astype(dtype) for _ in range(3))
    expected_v = v * 0.9 - (0.01 * 5e-4 * w + 0.01 * grad)
    expected_w = w + expected_v
    sgd_update_cpu(w, grad, v, 0.01, 0.9, 0.01 * 5e-4)
    np.testing.assert_array_equal(v, expected_v)
    np.testing.assert_array_equal(w, expected_w)
    strided = rng.standard_normal((size, 2)).astype(dtype)[:, ::2]   # not contiguous: the whole-array path
    velocity = rng.standard_normal((size, 1)).astype(dtype)
    expected_v = velocity * 0.9 - (0.01 * 5e-4 * strided + 0.01 * grad)
    expected_w = strided + expected_v
    sgd_update_cpu(strided, grad, velocity, 0.01, 0.9, 0.01 * 5e-4)
    np.testing.assert_array_equal(velocity, expected_v)
    np.testing.assert_array_equal(strided, expected_w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_sgd_kernel_is_the_same_update(kernel_device, dtype):
    """kernels/sgd.cu: three steps of the fused update equal the NumPy update (velocity too)."""
    from devices import assert_close
    from minicnn.backend import to_device
    rng = np.random.default_rng(2)
    cpu = Sequential([Dense(37, 5, dtype=dtype, rng=rng)])
    dev = Sequential([Dense(37, 5, dtype=dtype, rng=np.random.default_rng(0))])
    dev.load_state_dict(cpu.state_dict())
    dev.to(kernel_device)
    opt_cpu, opt_dev = (SGD(m, lr=0.1, momentum=0.9, weight_decay=0.01) for m in (cpu, dev))
    for _ in range(3):
        for (name, p_cpu), (_, p_dev) in zip(cpu.named_params(), dev.named_params()):
            p_cpu.grad = rng.standard_normal(p_cpu.shape).astype(dtype)
            p_dev.grad = to_device(p_cpu.grad, kernel_device)
        opt_cpu.step()
        opt_dev.step()
    for name, p in cpu.named_params():
        assert_close(dict(dev.named_params())[name].data, p.data, name)
        assert_close(opt_dev.velocity[name], opt_cpu.velocity[name], f"velocity of {name}")


def test_plateau_divides_by_ten_at_most_three_times():
    """The paper's schedule, ReduceOnPlateau's defaults: the rate divided by 10, three times at most."""
    opt = SGD(Sequential([Dense(1, 1)]), lr=1.0)
    sched = ReduceOnPlateau(opt, patience=0)
    for err in [0.5, 0.6, 0.6, 0.6, 0.6, 0.6]:
        sched.step(err)
    assert opt.lr == pytest.approx(1e-3)


def test_sgd_defaults_are_the_papers_and_weight_decay_may_be_zero():
    """lr 0.01, momentum 0.9, weight decay 0.0005, as the paper trained; a decay of 0 is SGD
    without it, not an error."""
    opt = SGD(Sequential([Dense(1, 1)]))
    assert (opt.lr, opt.momentum, opt.weight_decay) == (0.01, 0.9, 0.0005)
    assert SGD(Sequential([Dense(1, 1)]), weight_decay=0).weight_decay == 0


def test_plateau_waits_for_more_than_patience_epochs_without_a_new_best():
    """As PyTorch's ReduceLROnPlateau: with patience 1 the second epoch without a strictly lower
    error divides the rate, and the count starts again after each division."""
    opt = SGD(Sequential([Dense(1, 1)]), lr=1.0)
    sched = ReduceOnPlateau(opt)   # patience 1 by default
    rates = []
    for err in [0.5, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.3]:
        sched.step(err)
        rates.append(opt.lr)
    assert rates == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01])


@pytest.mark.parametrize("build, message", [
    (lambda opt: SGD(opt.model, lr=0), r"SGD: lr must be a finite number > 0, got 0$"),
    (lambda opt: SGD(opt.model, lr="0.01"), r"SGD: lr must be a finite number > 0, got '0.01'$"),
    (lambda opt: SGD(opt.model, lr=float("inf")), r"SGD: lr must be a finite number > 0, got inf$"),
    (lambda opt: SGD(opt.model, momentum=1.0), r"SGD: momentum must be a number in \[0, 1\), got 1.0$"),
    (lambda opt: SGD(opt.model, momentum=None), r"SGD: momentum must be a number in \[0, 1\), got None$"),
    (lambda opt: SGD(opt.model, weight_decay=float("nan")),
     r"SGD: weight_decay must be a finite number >= 0, got nan$"),
    (lambda opt: SGD(opt.model, weight_decay=True), r"SGD: weight_decay must be a finite number >= 0, got True$"),
    (lambda opt: ReduceOnPlateau(opt, factor=0.1), r"ReduceOnPlateau: factor must be a finite number >= 1, got 0.1 "
                                                    r"\(it divides the rate: for PyTorch's 0.1, which multiplies, give 10\)"),
    (lambda opt: ReduceOnPlateau(opt, factor=0), r"factor must be a finite number >= 1, got 0$"),
    (lambda opt: ReduceOnPlateau(opt, patience=-1), r"ReduceOnPlateau: patience must be an integer >= 0, got -1"),
    (lambda opt: ReduceOnPlateau(opt, max_reductions=1.5), r"max_reductions must be an integer >= 0, got 1.5"),
    (lambda opt: StepLR(opt, every=0), r"StepLR: every \(epochs\) must be an integer >= 1, got 0"),
    (lambda opt: LinearDecay(opt, total_steps=2.7), r"LinearDecay: total_steps must be an integer >= 1, got 2.7$"),
    (lambda opt: LinearDecay(opt, total_steps=0), r"LinearDecay: total_steps must be an integer >= 1, got 0$"),
    (lambda opt: StepLR(opt, every=2, factor=float("inf")), r"StepLR: factor must be a finite number >= 1, got inf"),
    (lambda opt: StepLR(opt, every=2, factor="10"), r"StepLR: factor must be a finite number >= 1, got '10'$"),
])
def test_optimizer_and_schedules_name_a_bad_argument(build, message):
    opt = SGD(Sequential([Dense(1, 1)]), lr=1.0)
    with pytest.raises(ValueError, match=message):
        build(opt)


def test_step_schedule_divides_every_so_many_epochs():
    opt = SGD(Sequential([Dense(1, 1)]), lr=1.0)
    sched = StepLR(opt, every=2)
    rates = []
    for _ in range(5):
        sched.step()
        rates.append(opt.lr)
    assert rates == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01])


def test_linear_decay_lowers_the_rate_batch_by_batch_to_zero():
    """The default schedule: lr (1 - steps / total_steps) after each batch, 0 at the last one and
    after it (an epoch's boundary changes nothing)."""
    opt = SGD(Sequential([Dense(3, 2)]), lr=0.03)
    schedule = LinearDecay(opt, total_steps=4)
    rates = []
    for _ in range(5):
        schedule.step_batch()
        schedule.step()
        rates.append(opt.lr)
    np.testing.assert_allclose(rates, [0.0225, 0.015, 0.0075, 0.0, 0.0], rtol=1e-15, atol=0)


def test_sgd_load_state_dict_names_what_does_not_fit_and_copies_nothing_then():
    opt = SGD(Sequential([Dense(3, 2)]), lr=0.1)
    good = {name: np.full(v.shape, 7.0, v.dtype) for name, v in opt.velocity.items()}
    names = sorted(good)
    with pytest.raises(KeyError, match=rf"missing velocities \['{names[0]}'\], unexpected velocities \['fc9.bias'\]"):
        opt.load_state_dict({**{k: v for k, v in good.items() if k != names[0]}, "fc9.bias": good[names[0]]})
    with pytest.raises(KeyError, match=rf"SGD.load_state_dict: missing velocities \['{names[0]}'\]") as missing:
        opt.load_state_dict({k: v for k, v in good.items() if k != names[0]})
    with pytest.raises(KeyError, match=r"SGD.load_state_dict: unexpected velocities \['fc9.bias'\]") as unexpected:
        opt.load_state_dict({**good, "fc9.bias": good[names[0]]})
    assert "unexpected" not in str(missing.value) and "missing" not in str(unexpected.value)
    wrong_shape = {**good, names[-1]: np.zeros((5, 5))}
    with pytest.raises(ValueError, match=rf"velocity '{names[-1]}' has shape \(5, 5\), expected "):
        opt.load_state_dict(wrong_shape)
    assert all(not v.any() for v in opt.velocity.values())   # all or nothing: no velocity was copied
    opt.load_state_dict(good)
    assert all((v == 7.0).all() for v in opt.velocity.values())


def test_idx_round_trip_and_corrupt_files(tmp_path):
    write_fake_fashion(tmp_path)
    x, y = fashion_mnist.load("train", str(tmp_path))
    assert x.shape == (64, 28, 28) and x.dtype == np.uint8 and y.shape == (64,)
    path = tmp_path / fashion_mnist.FILES["test"][0]
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(fashion_mnist.DataError, match="corrupt or truncated"):
        fashion_mnist.load("test", str(tmp_path))
    fashion_mnist.write_idx(str(path), np.zeros((3, 28), np.uint8))
    with pytest.raises(fashion_mnist.DataError, match="with 3 dimensions"):
        fashion_mnist.load("test", str(tmp_path))
    path.write_bytes(bytes([0, 0, 8, 3]) + bytes(11))   # the header's three sizes need 12 bytes
    with pytest.raises(fashion_mnist.DataError, match="too short for an IDX header"):
        fashion_mnist.load("test", str(tmp_path))
    fashion_mnist.write_idx(str(path), np.zeros((0, 28, 28), np.uint8))   # a header alone: no images
    assert fashion_mnist.read_idx(str(path), 3).shape == (0, 28, 28)
    fashion_mnist.write_idx(str(path), np.zeros((4, 28, 28), np.uint8))
    labels = tmp_path / fashion_mnist.FILES["test"][1]
    fashion_mnist.write_idx(str(labels), np.array([0, 9, 3, 9], np.uint8))
    assert fashion_mnist.load("test", str(tmp_path))[1].tolist() == [0, 9, 3, 9]
    fashion_mnist.write_idx(str(labels), np.array([0, 10, 3, 9], np.uint8))
    with pytest.raises(fashion_mnist.DataError, match="label 10 out of range for 10 classes"):
        fashion_mnist.load("test", str(tmp_path))


def test_batches_are_reproducible_and_augmentation_is_a_crop_or_mirror():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (10, 1, 6, 6)).astype(np.uint8)
    out = window_crops(images, (6, 6), *draw_crops(np.random.default_rng(3), 10, (6, 6), (6, 6)))
    for a, b in zip(out, images):
        assert np.array_equal(a, b) or np.array_equal(a, b[:, :, ::-1])
    args = dict(batch_size=4, shuffle=True, augment=True, augment_pad=2, seed=5, epoch=1)
    a = [x for x, _ in BatchLoader(images, np.arange(10), **args)]
    b = [x for x, _ in BatchLoader(images, np.arange(10), prefetch=False, **args)]
    assert len(a) == 3 and all(np.array_equal(p, q) for p, q in zip(a, b))
    for options in (args, dict(size=9), dict(size=9, augment=True, augment_pad=1), dict(crop=5)):
        assert all(x.flags.c_contiguous for x, _ in BatchLoader(images, np.arange(10), **{"batch_size": 4, **options}))
    with pytest.raises(ValueError, match="batch size must be an integer >= 1, got 0"):
        BatchLoader(images, np.arange(10), batch_size=0)


@pytest.mark.parametrize("option, message", [
    (dict(augment="no"), r"augment must be True or False, got 'no'"),   # a string is true: it augmented
    (dict(augment=True, augment_pad=-1), r"augment_pad must be an integer >= 0, got -1"),
    (dict(size=0), r"size \(or None\) must be an integer >= 1, got 0"),
    (dict(crop=0), r"crop \(or None\) must be an integer >= 1, got 0"),
    (dict(std=0), r"std must be a finite number > 0, or one per channel, got 0"),   # every pixel infinite
    (dict(mean=[0.1, float("inf"), 0.2]), r"mean must be a finite number, or one per channel, got \[0.1, inf, 0.2\]"),
    (dict(std=(0.2, 0.3)), r"std gives 2 values, and the images have 3 channels: give one value, or one per channel"),
])
def test_the_loader_names_an_option_of_the_wrong_kind(option, message):
    images = np.zeros((4, 3, 6, 6), np.uint8)
    with pytest.raises(ValueError, match=f"^BatchLoader: {message}$"):
        BatchLoader(images, np.arange(4), 2, **option)


@pytest.mark.parametrize("drop_last", [False, True])
def test_an_epoch_shows_every_image_once_normalised_per_channel(drop_last):
    """Without augmentation a shuffled epoch is a permutation of the images in batches of
    batch_size (the last one partial, or dropped with drop_last), each pixel (p / 255 - mean) /
    std with each channel's mean and std; an epoch's order is its seed's and epoch's alone."""
    images = np.random.default_rng(0).integers(0, 256, (10, 3, 5, 5)).astype(np.uint8)
    mean, std = np.array([0.2, 0.5, 0.7]), np.array([0.3, 0.25, 0.5])
    options = dict(batch_size=4, shuffle=True, mean=mean, std=std, seed=5, drop_last=drop_last)
    loader = BatchLoader(images, np.arange(10), epoch=1, **options)
    batches = list(loader)
    sizes = [4, 4] if drop_last else [4, 4, 2]
    assert len(loader) == len(sizes) and [len(y) for _, y in batches] == sizes
    order = np.concatenate([y for _, y in batches])
    assert len(set(order.tolist())) == len(order) == sum(sizes) and order.tolist() != sorted(order.tolist())
    for x, y in batches:
        expected = (images[y] / 255.0 - mean.reshape(1, 3, 1, 1)) / std.reshape(1, 3, 1, 1)
        np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-6)
        assert x.dtype == np.float32
    again = np.concatenate([y for _, y in BatchLoader(images, np.arange(10), epoch=1, **options)])
    other = np.concatenate([y for _, y in BatchLoader(images, np.arange(10), epoch=2, **options)])
    assert again.tolist() == order.tolist() and other.tolist() != order.tolist()
    in_order = np.concatenate([y for _, y in BatchLoader(images, np.arange(10), 4)])
    assert in_order.tolist() == list(range(10))   # evaluation: the images in order, none dropped


def test_prediction_normalises_pixels_as_training_did():
    """inference.normalise, which prediction and evaluation apply, is the training loader's
    (p / 255 - mean) / std, channel by channel, bit for bit (every test of prediction compared it
    with itself)."""
    from minicnn.inference import normalise
    images = np.random.default_rng(1).integers(0, 256, (6, 3, 4, 4)).astype(np.uint8)
    mean, std = [0.2, 0.5, 0.7], [0.3, 0.25, 0.5]
    (trained_on, _), = BatchLoader(images, np.arange(6), 6, mean=mean, std=std)
    np.testing.assert_array_equal(normalise(images, mean, std), trained_on)
    grey = images[:, :1]
    (trained_on, _), = BatchLoader(grey, np.arange(6), 6, mean=0.3, std=0.4)
    np.testing.assert_array_equal(normalise(grey, 0.3, 0.4), trained_on)


@given(st.data(), st.integers(1, 8), st.integers(1, 3), st.integers(1, 12), st.integers(1, 12), st.integers(0, 3),
       st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_crops_are_the_windows_a_per_image_loop_cuts(data, n, channels, height, width, pad, mirror, seed):
    """window_crops of draw_crops, of any size out of any padded images (the paper's crops with no
    padding, the translations with the images' own size), against a loop over the images that
    draws the same numbers in the same order (top, left, then the mirrors): every value, and so
    every committed run that used them, stays the same."""
    images = np.random.default_rng(seed).integers(0, 256, (n, channels, height, width)).astype(np.uint8)
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    crop = (data.draw(st.integers(1, padded.shape[2])), data.draw(st.integers(1, padded.shape[3])))
    draws = np.random.default_rng(seed)
    top = draws.integers(0, padded.shape[2] - crop[0] + 1, n)
    left = draws.integers(0, padded.shape[3] - crop[1] + 1, n)
    flip = draws.random(n) < 0.5 if mirror else np.zeros(n, bool)
    windows = [padded[i, :, top[i]:top[i] + crop[0], left[i]:left[i] + crop[1]] for i in range(n)]
    expected = np.stack([w[:, :, ::-1] if f else w for w, f in zip(windows, flip)])
    got = window_crops(padded, crop, *draw_crops(np.random.default_rng(seed), n, padded.shape[2:], crop, mirror))
    np.testing.assert_array_equal(got, expected)


def test_checkpoint_round_trip_and_bad_checkpoints(tmp_path):
    model = models.alexnet_small(width=8, seed=1)
    opt = SGD(model)
    path = str(tmp_path / "c.npz")
    checkpoint.save(path, model, opt, dict(model="alexnet_small", epoch=3))
    other = models.alexnet_small(width=8, seed=2)
    meta = checkpoint.load(path, other, SGD(other), expect={"model": "alexnet_small"})
    assert meta["epoch"] == 3 and json.load(open(tmp_path / "c.json"))["epoch"] == 3
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[k], v)
    with pytest.raises(checkpoint.CheckpointError, match="checkpoint has model='alexnet_small', expected 'alexnet'"):
        checkpoint.load(path, other, expect={"model": "alexnet"})
    with pytest.raises(checkpoint.CheckpointError, match=r"does not fit the model: Sequential.load_state_dict: "
                                                        r"'conv1.weight' has shape \(8, 1, 5, 5\), expected \(16, "):
        checkpoint.load(path, models.alexnet_small(width=16))
    from minicnn import Conv2D
    first_layer = Sequential([("conv1", Conv2D(1, 8, 5, padding=2))])   # the checkpoint holds more
    with pytest.raises(checkpoint.CheckpointError, match=r"does not fit the model: Sequential.load_state_dict: "
                                                        r"unexpected keys \['conv2.weight', "):   # no quotes, no empty list
        checkpoint.load(path, first_layer)
    data = open(path, "rb").read()
    open(path, "wb").write(data[:len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="truncated or not a minicnn checkpoint"):
        checkpoint.load(path, other)


def test_checkpoint_metadata_that_is_no_json_object_is_named_by_every_reader(tmp_path):
    from minicnn import towers, weights
    model = models.alexnet_small(width=8)
    arrays = {"model/" + k: v for k, v in model.state_dict().items()}
    for name, text, message in (("bytes", b"\xff\xfe", r"unreadable checkpoint metadata \(UnicodeDecodeError"),
                                ("text", b"epoch 3", r"unreadable checkpoint metadata \(JSONDecodeError"),
                                ("list", b"[3]", "checkpoint metadata is a JSON list, expected an object")):
        path = str(tmp_path / f"{name}.npz")
        np.savez(path, meta=np.frombuffer(text, dtype=np.uint8), **arrays)
        with pytest.raises(checkpoint.CheckpointError, match=message):
            checkpoint.load(path, model)
        with pytest.raises(checkpoint.CheckpointError, match=message):
            towers.convert_checkpoint(path, tmp_path / "converted.npz")
        with pytest.raises(weights.WeightsError, match=message):
            weights.checkpoint_config(path)
    assert not (tmp_path / "converted.npz").exists()


def test_the_checkpoint_sidecar_is_the_metadata_stored_inside(tmp_path):
    model = models.alexnet_small(width=8)
    path = tmp_path / "c.npz"
    checkpoint.save(str(path), model, SGD(model), dict(model="alexnet_small", epoch=3))
    arrays = checkpoint.read_npz(str(path))
    inside = checkpoint.read_meta(str(path), arrays)
    assert "meta" not in arrays and inside["epoch"] == 3 and "random_state" in inside
    assert json.loads((tmp_path / "c.json").read_text()) == inside
    assert checkpoint.read_meta(str(path), {"model/w": np.zeros(1)}) is None   # a plain weights file


def test_interrupted_write_leaves_the_old_checkpoint(tmp_path):
    path = str(tmp_path / "c.npz")
    model = models.alexnet_small(width=8)
    checkpoint.save(path, model, meta=dict(epoch=1))
    before = open(path, "rb").read()

    def crash(f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt   # killed midway
    with pytest.raises(KeyboardInterrupt):
        checkpoint.atomic_write(path, crash)
    assert open(path, "rb").read() == before
    assert set(os.listdir(tmp_path)) == {"c.npz", "c.json"}   # no temporary file left behind


def test_an_interrupted_npz_write_leaves_no_zip_file_open(tmp_path, monkeypatch):
    """A checkpoint's write broken off inside its second array: nothing is left behind, and no zip
    file stays open to be cleaned up later on a closed file (NumPy's savez before 2.0 left one,
    which printed "Exception ignored ... ValueError: seek of closed file" after the script's last
    words)."""
    import gc
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    write_array = np.lib.format.write_array

    def interrupted(member, value, **kwargs):
        if value.size == 7:
            raise KeyboardInterrupt
        return write_array(member, value, **kwargs)
    monkeypatch.setattr(np.lib.format, "write_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.write_npz(str(tmp_path / "c.npz"), {"a": np.zeros(3), "b": np.zeros(7)})
    gc.collect()
    assert not unraisable and not os.listdir(tmp_path)


def test_ctrl_c_while_a_checkpoint_is_written_stops_after_it(tmp_path, monkeypatch, ctrl_c_raises):
    """Ctrl-C (or SIGTERM) arriving as fit writes an epoch's checkpoint: it is written whole, then
    the run stops. Broken off inside NumPy's savez, it left an open zip file whose clean-up printed
    a traceback after the script's last words."""
    import signal

    from minicnn.train import fit
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), rng.integers(0, 10, 40)
    data = dict(train=(x[:32], y[:32]), val=(x[32:], y[32:]), test=(x[32:], y[32:]))
    save = checkpoint.save

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return save(*args, **kwargs)
    monkeypatch.setattr(checkpoint, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(models.alexnet_small(width=4), data, dict(epochs=3, batch_size=16, lr=0.01, out=str(tmp_path)),
            log=lambda *a: None)
    arrays = checkpoint.read_npz(str(tmp_path / "checkpoint.npz"))
    assert checkpoint.read_meta(str(tmp_path / "checkpoint.npz"), arrays)["epoch"] == 1
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_an_atomic_write_gets_the_permissions_open_would_give(tmp_path, monkeypatch):
    """tempfile.mkstemp makes owner-only files (0600): checkpoints on a shared machine were
    unreadable to the rest of a group. Written as ``open`` writes, under the process's umask."""
    mask = os.umask(0o027)
    os.umask(mask)
    assert checkpoint.UMASK == mask   # read at import
    for umask, mode in ((0o027, 0o640), (0o002, 0o664)):
        monkeypatch.setattr(checkpoint, "UMASK", umask)
        checkpoint.atomic_write(str(tmp_path / f"{umask:o}.bin"), lambda f: f.write(b"x"))
        assert stat.S_IMODE(os.stat(tmp_path / f"{umask:o}.bin").st_mode) == mode


def test_an_atomic_write_onto_a_folder_says_so(tmp_path):
    """convert_checkpoint.py runs/combo/checkpoint.npz runs/ said "Not a directory" of a temporary
    file's name: a path that names a folder is refused by its own name, nothing left behind."""
    for path in (str(tmp_path), str(tmp_path / "new") + os.sep):
        with pytest.raises(IsADirectoryError, match=r"a folder, not a file: name a file in it") as refused:
            checkpoint.atomic_write(path, lambda f: f.write(b"x"))
        assert refused.value.filename == path
    assert os.listdir(tmp_path) == []
    model = models.alexnet_small(width=4, lrn_groups=2)
    checkpoint.save(str(tmp_path / "a.npz"), model, meta=dict(model="alexnet_small", split="none"))
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "convert_checkpoint.py"),
                             str(tmp_path / "a.npz"), str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.stderr.splitlines()[-1] == f"error: cannot write {tmp_path} (a folder, not a file: name a file in it)"


@pytest.mark.parametrize("full_at", ["epoch 2's checkpoint", "the results"])
def test_a_full_disk_stops_the_run_saying_what_is_kept(tmp_path, monkeypatch, full_at):
    """No space left (OSError from a write) ends fit with a TrainingError naming the folder and the
    last whole checkpoint, not a traceback; the checkpoint of epoch 1 is left as it was."""
    import errno

    from minicnn import train
    from minicnn.train import TrainingError, fit
    write_fake_fashion(tmp_path / "data", n_train=64, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x, y), val=(x[:16], y[:16]), test=(x[:16], y[:16]))
    out = tmp_path / "out"
    save = checkpoint.save

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if full_at == "the results":
        monkeypatch.setattr(train, "save_curves", full_disk)
    else:
        monkeypatch.setattr(checkpoint, "save", lambda path, model, optimizer, meta, **kw: (
            full_disk() if meta["epoch"] == 2 else save(path, model, optimizer, meta, **kw)))
    with pytest.raises(TrainingError) as failure:
        fit(models.alexnet_small(width=4), data, small_fit_config(out, epochs=2), log=lambda *a: None)
    ckpt = out / "checkpoint.npz"
    assert str(failure.value) == {
        "epoch 2's checkpoint": f"cannot write epoch 2's checkpoint into {out} (No space left on device); the last good "
                                f"checkpoint, after epoch 1, is {ckpt}: make room, then --resume goes on from it",
        "the results": f"cannot write the run's results into {out} (No space left on device); its checkpoint {ckpt} "
                       f"holds all 2 epochs: make room, then --resume tests it and writes them"}[full_at]
    assert checkpoint.read_meta(str(ckpt), checkpoint.read_npz(str(ckpt)))["epoch"] == (
        1 if full_at == "epoch 2's checkpoint" else 2)


@pytest.mark.skipif(sys.platform == "win32", reason="the folder's claim is fcntl's flock, which Windows lacks")
def test_a_second_run_into_a_folder_in_use_is_refused_naming_the_first(tmp_path):
    """Two runs with one --out (the default command started twice) both trained and wrote their
    checkpoints and metrics over each other's; the second is now refused at its start."""
    from minicnn.train import TrainingError, claim_folder
    out = tmp_path / "out"
    out.mkdir()
    first = subprocess.Popen([sys.executable, "-c", "import sys, time; from minicnn.train import claim_folder; "
                              "claim_folder(sys.argv[1]); print('held', flush=True); time.sleep(120)", str(out)],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert first.stdout.readline() == "held\n"
        message = (f"{out} is in use by another run (process {first.pid}): wait for it to end, or give this run "
                   f"another output folder (--out)")
        with pytest.raises(TrainingError) as refused:
            claim_folder(str(out))
        assert str(refused.value) == message
        write_fake_fashion(tmp_path / "data", n_train=64, n_test=16)
        second = run_script("--data", str(tmp_path / "data"), "--out", str(out), "--epochs", "1")
        assert second.returncode == 1 and second.stderr.strip() == f"error: {message}", second.stderr
        assert not (out / "checkpoint.npz").exists()
    finally:
        first.kill()
        first.wait()
    assert claim_folder(str(out))   # the first has ended: its lock went with it
    assert not claim_folder(str(out))   # and a process may claim its own folder again (held already)


def test_fit_gives_back_the_claim_it_made_and_keeps_the_script_s(tmp_path):
    """A sweep of many runs in one process must not keep a lock file open per run: fit releases
    the folder it claimed; one a script claimed before calling fit stays held."""
    from minicnn import train
    from minicnn.train import claim_folder, fit, release_folder
    write_fake_fashion(tmp_path / "data", n_train=64, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x, y), val=(x[:16], y[:16]), test=(x[:16], y[:16]))
    for name, scripts_claim in (("sweep", False), ("script", True)):
        out = tmp_path / name
        out.mkdir()
        if scripts_claim:
            assert claim_folder(str(out))
        fit(models.alexnet_small(width=4), data, small_fit_config(out, epochs=1), log=lambda *a: None)
        assert (str(out) in train._CLAIMS) == scripts_claim
    release_folder(str(tmp_path / "script"))
    assert str(tmp_path / "script") not in train._CLAIMS


def test_fit_removes_what_a_run_killed_while_saving_left(tmp_path):
    """A run killed (SIGKILL, a power cut) while writing its checkpoint leaves the temporary file,
    hidden and as large as the checkpoint: the next run into the folder, holding it, removes such
    files of the run's own and says so; other files stay, and nothing is said when there are none."""
    from minicnn.train import fit
    write_fake_fashion(tmp_path / "data", n_train=64, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x, y), val=(x[:16], y[:16]), test=(x[:16], y[:16]))
    out = tmp_path / "run"
    out.mkdir()
    (out / ".checkpoint.npzk3v9_2xq.tmp").write_bytes(bytes(1_500_000))
    (out / ".checkpoint.jsonq1w2e3r4.tmp").write_bytes(bytes(500_000))
    kept = [".notes.tmp", "mine.tmp", ".checkpoint.npz.bak"]
    for name in kept:
        (out / name).write_bytes(b"x")
    lines = []
    fit(models.alexnet_small(width=4), data, small_fit_config(out, epochs=1), log=lines.append)
    assert f"note: removed 2 temporary files (2.0 MB) that a run stopped while saving left in {out}" in lines
    assert sorted(f for f in os.listdir(out) if f.endswith((".tmp", ".bak"))) == sorted(kept)
    lines = []
    fit(models.alexnet_small(width=4), data, small_fit_config(out, epochs=1), log=lines.append)
    assert not [line for line in lines if "temporary" in line]


def run_script(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_alexnet.py"), "--no-progress", *args],
                          capture_output=True, text=True, timeout=600)


def test_script_smoke_run_and_resume_equals_uninterrupted(tmp_path):
    data = str(tmp_path / "data")
    write_fake_fashion(data, n_train=200, n_test=40)
    # the step schedule does not depend on the planned number of epochs, so a 1-epoch run is the
    # first epoch of a 2-epoch run (the linear schedule is covered by the kill test below)
    # One thread in every run: OpenBLAS may round a GEMM differently with another number of threads
    # (its Haswell kernels do, on 2 cores, at these shapes), which would be no fault of the resume.
    # That minicnn's own threads change nothing is tests/test_cpu_threads.py's to check.
    common = ["--data", data, "--batch-size", "32", "--val-size", "40", "--lr", "0.02", "--schedule", "step",
              "--step-every", "5", "--width", "16", "--seed", "1", "--threads", "1"]
    full = run_script(*common, "--epochs", "2", "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    assert "test: loss" in full.stdout and "Total parameters" in full.stdout
    assert re.search(r"^test: loss [\d.]+, top-1 accuracy [\d.]+, top-5 [\d.]+$", full.stdout, re.M)   # 10 classes
    for f in ("metrics.jsonl", "checkpoint.npz", "checkpoint.json", "conv1_filters.png", "curves.png", "confusion.png",
              "largest_losses.png", "top5.png", "test_metrics.json"):
        assert os.path.exists(tmp_path / "full" / f), f
    test = json.loads((tmp_path / "full" / "test_metrics.json").read_text())
    # the paper's Figure 4 (left): the first eight test images with the trained network's five most probable classes
    from minicnn.inference import predict_proba
    from minicnn.weights import model_from_checkpoint
    net, config = model_from_checkpoint(tmp_path / "full" / "checkpoint.npz")
    images, labels = fashion_mnist.load("test", data)
    expected = predict_proba([net], images[:8, None], mean=config["mean"], std=config["std"])
    assert [(row["index"], row["label"]) for row in test["first_top5"]] == list(enumerate(labels[:8].tolist()))
    for row, p in zip(test["first_top5"], expected):
        assert [k for k, _ in row["top5"]] == np.argsort(-p, kind="stable")[:5].tolist()
        np.testing.assert_allclose([q for _, q in row["top5"]], np.sort(p)[::-1][:5], rtol=1e-5)
    assert list(test["per_class_top1"]) == list(fashion_mnist.CLASSES) and len(test["confusion"]) == 10
    shown = test["largest_losses"]   # 16 of the 40 test images, each once, largest loss first
    assert len({r["index"] for r in shown}) == 16 and all(0 <= r["index"] < 40 for r in shown)
    assert [r["loss"] for r in shown] == sorted((r["loss"] for r in shown), reverse=True)
    from PIL import Image
    with Image.open(tmp_path / "full" / "largest_losses.png") as picture:   # 4 columns of 4
        assert picture.size == (880, 1040)
    assert "weakest classes: " in full.stdout
    # what the digits depend on besides the code: printed, and recorded in both files of the run
    ran_on = json.loads((tmp_path / "full" / "checkpoint.json").read_text())["environment"]
    assert test["environment"] == ran_on and ran_on["blas"]["threads"] == 1   # --threads 1, read back
    assert f"on {describe_line(ran_on)}\n" in full.stdout and "1 thread)" in full.stdout
    part = run_script(*common, "--epochs", "1", "--out", str(tmp_path / "part"))
    assert part.returncode == 0, part.stderr
    # --resume alone continues the run with its own settings (--epochs extends it)
    resumed = run_script("--data", data, "--epochs", "2", "--out", str(tmp_path / "part"), "--resume", "--threads", "1")
    assert resumed.returncode == 0 and "resumed from" in resumed.stdout, resumed.stderr
    assert "1 epoch, batch 32, lr 0.02" in part.stdout and "2 epochs, batch 32, lr 0.02" in resumed.stdout
    with np.load(tmp_path / "full" / "checkpoint.npz") as a, np.load(tmp_path / "part" / "checkpoint.npz") as b:
        assert set(a.files) == set(b.files)
        for k in a.files:
            if k != "meta":   # the metadata names the two different output folders
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "argument --batch-size: expected an integer >= 1, got '0'"),
    (["--threads", "0"], "argument --threads: expected an integer >= 1, got '0'"),
    (["--dropout", "1.5"], "argument --dropout: expected a number in [0, 1), got '1.5'"),
    (["--lr", "-0.01"], "argument --lr: expected a number > 0, got '-0.01'"),
    (["--momentum", "1"], "argument --momentum: expected a number in [0, 1), got '1'"),
    (["--weight-decay", "nan"], "argument --weight-decay: expected a number >= 0, got 'nan'"),
    (["--val-size", "64"], "--val-size 64 holds out all 64 training images; keep some to train on"),
    (["--val-size", "20", "--batch-size", "48"],
     "a batch of 48 images needs at least as many training images; there are 44: lower the batch size"),
    (["--val-size", "0", "--schedule", "plateau"], "--schedule plateau divides the learning rate when the "
                                                  "validation accuracy stops improving, and --val-size 0 holds out "
                                                  "no images to validate on: hold some out, or choose another"),
    (["--model", "vgg"], "invalid choice: 'vgg'"),
    (["--data", "/nonexistent"], "Fashion-MNIST not found"),
    (["--resume"], "no such checkpoint"),
    (["--hybrid"], "--hybrid needs --distributed and no --split"),
    (["--model", "alexnet", "--width", "16"], "--width sets alexnet_small's width; the network trained here is "
                                              "alexnet, whose sizes are the paper's: drop --width or add --model"),
    (["--model", "alexnet_bn", "--dropout", "0.5"], "--dropout sets alexnet_small's dropout"),
    (["--model", "alexnet", "--activation", "tanh"], "--activation sets alexnet_small's activation; the network "
                                                     "trained here is alexnet, whose units are the paper's ReLUs"),
    (["--activation", "sigmoid"], "argument --activation: invalid choice: 'sigmoid'"),
    (["--model", "alexnet", "--no-lrn"], "--no-lrn sets alexnet_small's LRN; the network trained here is alexnet, "
                                         "whose layers are the paper's: drop --no-lrn or add --model alexnet_small"),
    (["--model", "alexnet_owt", "--pool-size", "2"], "--pool-size sets alexnet_small's pooling; the network trained "
                                                     "here is alexnet_owt, whose pools are the paper's, 3x3 with "
                                                     "stride 2"),
    (["--pool-size", "4"], "argument --pool-size: invalid choice: 4 (choose from 2, 3)"),
    (["--model", "alexnet", "--lrn-alpha", "0"], "--lrn-alpha sets alexnet_small's LRN; the network trained here is "
                                                 "alexnet, whose layers are the paper's"),
    (["--no-lrn", "--lrn-alpha", "0"], "--lrn-alpha 0 sets the alpha of the LRN layers that --no-lrn leaves out: "
                                       "drop one of them"),
    (["--lrn-alpha", "-1"], "argument --lrn-alpha: expected a number >= 0, got '-1'"),
    (["--pad-pools", "--pool-size", "2"], "--pad-pools gives 3x3 pools the maps of 2x2 ones; with --pool-size 2 "
                                          "there is nothing to pad: drop one of them"),
    (["--model", "alexnet", "--pad-pools"], "--pad-pools sets alexnet_small's pooling; the network trained here is "
                                            "alexnet, whose pools are the paper's, 3x3 with stride 2"),
    (["--model", "alexnet", "--connectivity", "one-tower"], "--connectivity sets alexnet_small's connectivity; the "
                                                            "network trained here is alexnet, whose convs are the "
                                                            "paper's two towers"),
    (["--connectivity", "one-tower", "--split", "two-device"], "--split two-device needs the two towers, and "
                                                               "--connectivity one-tower has none: drop one of them"),
    (["--connectivity", "one-tower-half", "--lrn-groups", "2"], "--lrn-groups 2 needs the two towers, and "
                                                                "--connectivity one-tower-half has none"),
    (["--connectivity", "two"], "argument --connectivity: invalid choice: 'two'"),
    (["--model", "alexnet", "--leave-out", "conv4"], "--leave-out sets alexnet_small's convs; the network trained "
                                                     "here is alexnet, whose convs are the paper's five: drop "
                                                     "--leave-out or add --model alexnet_small"),
    (["--leave-out", "conv2"], "argument --leave-out: invalid choice: 'conv2'"),
    (["--gemm", "tiled", "--device", "cpu"], "--gemm chooses the matrix products of the kernel devices (cuda, sim); "
                                             "on cpu NumPy's BLAS does them"),
    (["--step-every", "2"], "--step-every is the period of --schedule step; the schedule is linear"),
])
def test_script_bad_input_gives_one_clear_line(tmp_path, args, message):
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    full = ["--data", data, "--out", str(tmp_path / "out"), "--epochs", "1", "--val-size", "8", "--batch-size", "16"]
    for flag in ("--data", "--val-size", "--batch-size"):   # the case's own value replaces the default
        if flag in args:
            i = full.index(flag)
            del full[i:i + 2]
    result = run_script(*full, *args)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("split", ["none", "two-device"])
def test_predict_classifies_pictures_with_the_network_a_training_run_recorded(tmp_path, split):
    """examples/predict.py on train_alexnet.py's checkpoint takes the network (the two towers of a
    split run too), the class names and the normalisation from it: a test image saved as a 28x28
    grey PNG gets the probabilities the trained network gives that image."""
    from PIL import Image

    from minicnn.inference import normalise
    from minicnn.losses import softmax
    from minicnn.weights import model_from_checkpoint
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    trained = run_script("--data", data, "--out", str(tmp_path / "out"), "--epochs", "1", "--val-size", "8",
                         "--batch-size", "16", "--width", "4", "--split", split)
    assert trained.returncode == 0, trained.stderr
    ckpt = str(tmp_path / "out" / "checkpoint.npz")
    images, _ = fashion_mnist.load("test", data)
    paths = [str(tmp_path / f"{i}.png") for i in range(3)]
    for image, path in zip(images, paths):
        Image.fromarray(image).save(path)
    shown = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "predict.py"), *paths, "--weights", ckpt,
                            "--top", "10"], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    model, config = model_from_checkpoint(ckpt)
    assert config["classes"] == list(fashion_mnist.CLASSES) and config["split"] == split
    probs = softmax(model.forward(normalise(images[:3, None], config["mean"], config["std"]), train=False))
    expected = []
    for path, row in zip(paths, probs.astype(np.float64)):
        expected += [path] + [f"  {row[k]:7.2%}  {fashion_mnist.CLASSES[k]}" for k in np.argsort(-row)]
    assert shown.stdout.splitlines() == expected
    if split == "none":   # the same as a table, into a file (its folder made) or in place of the list
        predict = [sys.executable, os.path.join(ROOT, "examples", "predict.py"), *paths, "--weights", ckpt, "--top", "3"]
        table = tmp_path / "tables" / "guesses.csv"
        written = subprocess.run([*predict, "--csv", str(table)], capture_output=True, text=True, timeout=300)
        assert written.returncode == 0 and written.stdout.splitlines() == [
            line for i in range(3) for line in expected[11 * i:11 * i + 4]], written.stderr
        assert written.stderr == f"results of 3 images written to {table}\n"
        rows = list(csv.reader(table.open()))
        assert rows[0] == ["image", "class_1", "probability_1", "class_2", "probability_2", "class_3", "probability_3"]
        for path, row, line in zip(paths, probs.astype(np.float64), rows[1:]):
            best = np.argsort(-row)[:3]
            assert line[0] == path and line[1::2] == [fashion_mnist.CLASSES[k] for k in best]
            np.testing.assert_allclose([float(v) for v in line[2::2]], row[best], atol=5e-7)
        piped = subprocess.run([*predict, "--csv", "-"], capture_output=True, text=True, timeout=300)
        assert piped.returncode == 0 and list(csv.reader(piped.stdout.splitlines())) == rows, piped.stderr
        refused = subprocess.run([*predict, "--csv", str(tmp_path)], capture_output=True, text=True, timeout=300)
        assert refused.returncode == 1 and refused.stderr == (
            f"error: --csv {tmp_path}: a folder, not a file: name a file in it\n")
        # --num-classes is for plain weights files: a checkpoint records its own
        refused = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "predict.py"), *paths, "--weights",
                                  ckpt, "--num-classes", "5"], capture_output=True, text=True, timeout=300)
        assert refused.returncode == 1 and refused.stderr.splitlines() == [
            f"error: --num-classes: {ckpt} is a training checkpoint, which records its network "
            f"(10 outputs): drop --num-classes"]
        # --model: the network it records, or refused (not another network built and loaded with it)
        same = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "predict.py"), *paths, "--weights", ckpt,
                               "--top", "10", "--model", "alexnet_small"], capture_output=True, text=True, timeout=300)
        assert same.returncode == 0 and same.stdout.splitlines() == expected, same.stderr
        refused = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "predict.py"), *paths, "--weights",
                                  ckpt, "--model", "alexnet_owt"], capture_output=True, text=True, timeout=300)
        assert refused.returncode == 1 and refused.stderr.splitlines() == [
            f"error: --model alexnet_owt: {ckpt} is a training checkpoint of alexnet_small, which records its "
            f"network: drop --model"]


def test_predict_names_what_a_checkpoint_without_its_network_needs(tmp_path):
    """A checkpoint from before checkpoints recorded their network: one line saying so."""
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    assert run_script("--data", data, "--out", str(tmp_path / "out"), "--epochs", "1", "--val-size", "8",
                      "--batch-size", "16", "--width", "4").returncode == 0
    ckpt = tmp_path / "out" / "checkpoint.npz"
    model = models.alexnet_small(width=4)
    meta = checkpoint.load(str(ckpt), model)
    del meta["config"]["architecture"]
    checkpoint.save(str(ckpt), model, meta=meta)
    shown = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "predict.py"), "x.png", "--weights",
                            str(ckpt)], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 1 and "does not record its network" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_a_network_fit_trained_from_python_is_rebuilt_from_its_checkpoint_and_predicts(tmp_path, capsys):
    """fit records a models network's ``architecture`` and its images' side unasked (a notebook's
    run), so predict.py rebuilds the network from the checkpoint and sizes a picture as the
    training did; an architecture given by hand with its defaults left out serves as well."""
    from PIL import Image

    from minicnn.inference import normalise
    from minicnn.losses import softmax
    from minicnn.train import fit
    from minicnn.weights import checkpoint_config, model_from_checkpoint
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import predict
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), np.arange(40) % 10
    data = dict(train=(x[:32], y[:32]), test=(x[32:], y[32:]))
    cfg = dict(epochs=1, batch_size=16, lr=0.01, mean=0.3, std=0.4, classes=list(fashion_mnist.CLASSES))
    trained = models.alexnet_small(width=4, dropout=0.25)
    fit(trained, data, dict(cfg, out=str(tmp_path / "run")), log=lambda *a: None)
    config = checkpoint_config(tmp_path / "run" / "checkpoint.npz")
    assert config["architecture"] == trained.architecture and config["image_size"] == 28
    rebuilt, _ = model_from_checkpoint(tmp_path / "run" / "checkpoint.npz")
    picture = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(picture).save(tmp_path / "x.png")
    probs = softmax(trained.forward(normalise(picture[None, None], 0.3, 0.4), train=False))[0]
    np.testing.assert_array_equal(softmax(rebuilt.forward(normalise(picture[None, None], 0.3, 0.4), train=False))[0],
                                  probs)
    by_hand = dict(cfg, out=str(tmp_path / "by-hand"), architecture=dict(name="alexnet_small", width=4, dropout=0.25))
    fit(models.alexnet_small(width=4, dropout=0.25), data, by_hand, log=lambda *a: None)
    for run in ("run", "by-hand"):
        capsys.readouterr()
        predict.main([str(tmp_path / "x.png"), "--weights", str(tmp_path / run / "checkpoint.npz"), "--top", "1"])
        shown = capsys.readouterr().out.splitlines()[-1]
        if run == "run":
            best = int(np.argmax(probs))
            assert shown == f"  {probs[best]:7.2%}  {fashion_mnist.CLASSES[best]}"
        assert shown.endswith(tuple(fashion_mnist.CLASSES))


def test_a_record_of_no_picture_side_is_named():
    """Non-square training images at their own size (input_size None): fit records no side, and a
    picture cannot be sized for the network; said so, not a TypeError in the resize."""
    from minicnn.ensemble import EnsembleError, input_of
    net = models.alexnet_small(width=4)
    config = dict(architecture=net.architecture, input_size=None, image_size=None, mean=0.0, std=1.0)
    with pytest.raises(EnsembleError, match=r"records neither the side of its training images \(image_size\) nor"):
        input_of(net, config)
    assert input_of(net, dict(config, image_size=28)).crop == 28
    assert input_of(net, dict(config, input_size=32)).size == 32


def test_predict_takes_plain_weights_after_a_checkpoint_as_the_checkpoint_s_network(tmp_path, capsys):
    """An ensemble of a training checkpoint and a plain weights file (weights.save_npz) of the
    same network: the probabilities of the two networks, averaged."""
    from PIL import Image

    from minicnn import weights
    from minicnn.inference import normalise
    from minicnn.losses import softmax
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import predict
    architecture = dict(name="alexnet_small", num_classes=10, in_channels=1, width=4, input_size=28)
    first, second = models.build(**architecture, seed=1), models.build(**architecture, seed=2)
    config = dict(architecture=architecture, model_name="alexnet_small", input_size=28, mean=0.3, std=0.4,
                  classes=list(fashion_mnist.CLASSES))
    checkpoint.save(str(tmp_path / "run.npz"), first, None, dict(model="alexnet_small", epoch=1, config=config))
    weights.save_npz(second, tmp_path / "plain.npz")
    image = np.random.default_rng(3).integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "x.png")
    predict.main([str(tmp_path / "x.png"), "--weights", str(tmp_path / "run.npz"), "--weights",
                  str(tmp_path / "plain.npz"), "--top", "1"])
    x = normalise(image[None, None], 0.3, 0.4)
    probs = np.mean([softmax(net.forward(x, train=False))[0].astype(np.float64) for net in (first, second)], axis=0)
    best = int(np.argmax(probs))
    assert capsys.readouterr().out.splitlines()[-1] == f"  {probs[best]:7.2%}  {fashion_mnist.CLASSES[best]}"
    renamed = dict(config, classes=[name.upper() for name in fashion_mnist.CLASSES])   # another task's checkpoint
    checkpoint.save(str(tmp_path / "other.npz"), second, None, dict(model="alexnet_small", epoch=1, config=renamed))
    with pytest.raises(SystemExit, match=re.escape(f"error: {tmp_path / 'other.npz'} gives other classes than "
                                                   f"{tmp_path / 'run.npz'}; an ensemble averages networks of one task")):
        predict.main([str(tmp_path / "x.png"), "--weights", str(tmp_path / "run.npz"), "--weights",
                      str(tmp_path / "other.npz")])


def test_predict_ensembles_networks_of_one_task_each_as_it_was_trained(tmp_path, capsys):
    """An ensemble of two runs on one task with other networks (widths 4 and 8) and other
    normalisations: each network sees the picture normalised as in its training, and the
    probabilities are averaged, as the paper's ensemble of networks of two architectures; a third
    that resized the same pictures to its larger input sees them resized; a run on pictures of
    another size or colour (CIFAR-10's 32x32) is refused by name."""
    from PIL import Image

    from minicnn.data.loader import resize_nearest
    from minicnn.inference import normalise
    from minicnn.losses import softmax
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import predict
    nets, paths = [], []
    for width, mean, std in ((4, 0.3, 0.4), (8, 0.25, 0.5)):
        architecture = dict(name="alexnet_small", num_classes=10, in_channels=1, width=width, input_size=28)
        nets.append(models.build(**architecture, seed=width))
        config = dict(architecture=architecture, model_name="alexnet_small", input_size=28, image_size=28, mean=mean,
                      std=std, classes=list(fashion_mnist.CLASSES))
        paths.append(str(tmp_path / f"width{width}.npz"))
        checkpoint.save(paths[-1], nets[-1], None, dict(model="alexnet_small", epoch=1, config=config))
    image = np.random.default_rng(3).integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "x.png")
    predict.main([str(tmp_path / "x.png"), "--weights", paths[0], "--weights", paths[1], "--top", "1"])
    probs = np.mean([softmax(net.forward(normalise(image[None, None], mean, std), train=False))[0].astype(np.float64)
                     for net, mean, std in zip(nets, (0.3, 0.25), (0.4, 0.5))], axis=0)
    best = int(np.argmax(probs))
    assert capsys.readouterr().out.splitlines()[-1] == f"  {probs[best]:7.2%}  {fashion_mnist.CLASSES[best]}"
    # a network that trained on the same 28x28 pictures resized to its input (as the 2012 AlexNet's 227) joins,
    # seeing them resized, where the others see them as they are
    architecture = dict(name="alexnet_small", num_classes=10, in_channels=1, width=4, input_size=32)
    nets.append(models.build(**architecture, seed=32))
    config = dict(architecture=architecture, model_name="alexnet_small", input_size=32, image_size=28, mean=0.3,
                  std=0.4, classes=list(fashion_mnist.CLASSES))
    paths.append(str(tmp_path / "resized.npz"))
    checkpoint.save(paths[-1], nets[-1], None, dict(model="alexnet_small", epoch=1, config=config))
    predict.main([str(tmp_path / "x.png"), "--weights", paths[0], "--weights", paths[1], "--weights", paths[2],
                  "--top", "1"])
    seen = [image[None, None]] * 2 + [resize_nearest(image[None, None], 32)]
    probs = np.mean([softmax(net.forward(normalise(x, mean, std), train=False))[0].astype(np.float64)
                     for net, x, mean, std in zip(nets, seen, (0.3, 0.25, 0.3), (0.4, 0.5, 0.4))], axis=0)
    best = int(np.argmax(probs))
    assert capsys.readouterr().out.splitlines()[-1] == f"  {probs[best]:7.2%}  {fashion_mnist.CLASSES[best]}"
    architecture = dict(name="alexnet_small", num_classes=10, in_channels=3, width=4, input_size=32)
    config = dict(architecture=architecture, model_name="alexnet_small", input_size=32, image_size=32, mean=[0.5] * 3,
                  std=[0.25] * 3, classes=list(fashion_mnist.CLASSES))
    checkpoint.save(str(tmp_path / "cifar.npz"), models.build(**architecture), None,
                    dict(model="alexnet_small", epoch=1, config=config))
    with pytest.raises(SystemExit, match=re.escape(f"error: {tmp_path / 'cifar.npz'} was trained on 32x32 colour "
                                                   f"pictures, {paths[0]} on 28x28 grey pictures; an ensemble's "
                                                   f"networks see each picture alike")):
        predict.main([str(tmp_path / "x.png"), "--weights", paths[0], "--weights", str(tmp_path / "cifar.npz")])


def test_confusion_matrix_counts_each_example_at_its_true_row_and_top_prediction():
    """evaluate(confusion=True) against a loop over the examples; its diagonal is the top-1 count."""
    from minicnn.train import evaluate, per_class_top1
    rng = np.random.default_rng(5)
    model = Sequential([("fc", Dense(6, 4, dtype=np.float64, rng=rng))])
    x, y = rng.standard_normal((37, 6)), rng.integers(0, 3, 37)   # class 3 never occurs
    result = evaluate(model, [(x[i:i + 10], y[i:i + 10]) for i in range(0, 37, 10)], confusion=True)
    expected = np.zeros((4, 4), np.int64)
    for example, label in zip(x, y):
        expected[label, int(np.argmax(model.forward(example[None], train=False)))] += 1
    np.testing.assert_array_equal(result["confusion"], expected)
    assert np.trace(expected) == round(result["top1"] * 37)
    # the loss and the accuracies are the means over the 37 examples, whatever the batches
    logits = model.forward(x, train=False)
    losses = np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(37), y]
    ranks = (logits > logits[np.arange(37), y][:, None]).sum(axis=1)   # classes scored above the label
    assert result["loss"] == pytest.approx(losses.mean(), rel=1e-12)
    assert result["top1"] == np.mean(ranks == 0) and result["top5"] == np.mean(ranks < 5) == 1.0   # 4 classes
    assert set(evaluate(model, [(x, y)])) == {"loss", "top1", "top5"}   # no confusion or losses unasked
    accuracy = per_class_top1(result["confusion"], "abcd")
    assert accuracy["d"] is None
    assert all(accuracy[c] == expected[i, i] / expected[i].sum() for i, c in enumerate("abc"))


def test_confusion_matrix_on_the_kernel_devices(kernel_device):
    """The counts (and the largest losses) are made where the logits are (CuPy on a GPU): the same
    as on the CPU."""
    from minicnn.train import evaluate
    rng = np.random.default_rng(6)
    model = models.alexnet_small(width=4, dtype=np.float64, seed=1)
    batches = [(rng.standard_normal((6, 1, 28, 28)), rng.integers(0, 10, 6)) for _ in range(2)]
    on_cpu = evaluate(model, batches, confusion=True, largest_losses=5)
    on_device = evaluate(model.to(kernel_device), batches, device=kernel_device, confusion=True, largest_losses=5)
    assert on_device["confusion"] == on_cpu["confusion"] and sum(map(sum, on_cpu["confusion"])) == 12
    assert [r["index"] for r in on_device["largest_losses"]] == [r["index"] for r in on_cpu["largest_losses"]]
    np.testing.assert_allclose([r["loss"] for r in on_device["largest_losses"]],
                               [r["loss"] for r in on_cpu["largest_losses"]], rtol=1e-10)


def test_largest_losses_are_the_examples_a_loop_ranks_first():
    """evaluate(largest_losses=n) against each example's cross-entropy computed alone, with the
    standard library's exp and log: the n largest, largest first, the earlier of equal losses
    first; their mean over all examples is the evaluation's loss. fit draws them into
    largest_losses.png and lists them in test_metrics.json."""
    import math
    from minicnn.train import evaluate
    rng = np.random.default_rng(7)
    model = Sequential([("fc", Dense(6, 4, dtype=np.float64, rng=rng))])
    x, y = rng.standard_normal((40, 6)), rng.integers(0, 4, 40)

    def ranked_by_a_loop():
        rows = []
        for i, (example, label) in enumerate(zip(x, y)):
            logits = [float(v) for v in model.forward(example[None], train=False)[0]]
            total = sum(math.exp(v) for v in logits)
            best = max(range(4), key=lambda k: logits[k])
            rows.append(dict(index=i, label=int(label), predicted=best, probability=math.exp(logits[best]) / total,
                             loss=math.log(total) - logits[label]))
        return sorted(rows, key=lambda r: (-r["loss"], r["index"]))
    largest = ranked_by_a_loop()[0]["index"]
    twin = (largest + 10) % 40   # the same place in another batch of 10: the very same logits
    x[twin], y[twin] = x[largest], y[largest]   # a tie for the largest loss: the earlier example first
    expected = ranked_by_a_loop()
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)]
    result = evaluate(model, batches, largest_losses=8)
    assert [(r["index"], r["label"], r["predicted"]) for r in result["largest_losses"]] == \
           [(r["index"], r["label"], r["predicted"]) for r in expected[:8]]
    assert [r["index"] for r in result["largest_losses"][:2]] == sorted([largest, twin])
    for got, want in zip(result["largest_losses"], expected):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-12)
        assert got["probability"] == pytest.approx(want["probability"], rel=1e-12)
    every = evaluate(model, batches, largest_losses=50)["largest_losses"]   # more than there are: all of them
    assert [r["index"] for r in every] == [r["index"] for r in expected]
    assert np.mean([r["loss"] for r in expected]) == pytest.approx(result["loss"], rel=1e-12)


def test_evaluate_counts_top5_among_many_classes_and_takes_logits_far_from_0():
    """The identity network hands ``evaluate`` the logits themselves: 7 classes scored 6 down to 0,
    labels ranked 1st, 5th, 6th and 7th: top-1 1/4, top-5 2/4. Logits of +-1000 (float32, whose exp
    overflows at 89) give the exact losses 0 and 1000 and the probability 1."""
    from minicnn.train import evaluate
    logits, labels = np.tile(np.arange(6.0, -1.0, -1.0), (4, 1)), np.array([0, 4, 5, 6])
    result = evaluate(Sequential([]), [(logits, labels)], largest_losses=1)
    assert (result["top1"], result["top5"]) == (0.25, 0.5)
    far = np.array([[1000, -1000, 0], [0, 1000, -1000]], np.float32)
    result = evaluate(Sequential([]), [(far, np.array([0, 0]))], largest_losses=2)
    assert result["loss"] == pytest.approx(500.0, rel=1e-6)
    assert [(r["index"], r["loss"], r["predicted"], r["probability"]) for r in result["largest_losses"]] == [
        (1, 1000.0, 1, 1.0), (0, 0.0, 0, 1.0)]


def test_nan_loss_stops_and_keeps_the_last_checkpoint(tmp_path):
    from minicnn.train import TrainingError, fit
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    common = ["--data", data, "--out", str(tmp_path / "out"), "--val-size", "8", "--batch-size", "16"]
    assert run_script(*common, "--epochs", "1").returncode == 0
    ckpt = str(tmp_path / "out" / "checkpoint.npz")
    model = models.alexnet_small()
    meta = checkpoint.load(ckpt, model)
    model["fc8"].params["bias"].data[0] = np.nan    # poison the saved model: the next loss is NaN
    checkpoint.save(ckpt, model, SGD(model), {k: v for k, v in meta.items() if k != "random_state"})
    poisoned = open(ckpt, "rb").read()
    result = run_script(*common, "--epochs", "2", "--resume")
    assert result.returncode != 0 and "loss became nan at step 3 (epoch 2)" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert open(ckpt, "rb").read() == poisoned   # the last checkpoint is left as it was
    x, y = fashion_mnist.load("train", data)
    with pytest.raises(TrainingError, match="lower --lr; the last good checkpoint, after epoch 1, is"):
        fit(models.alexnet_small(), dict(train=(x, y), val=(x, y), test=(x, y)),
            small_fit_config(tmp_path / "out", epochs=2, resume=True), log=lambda *a: None)


def test_nan_loss_in_the_first_epoch_says_no_checkpoint_was_written(tmp_path):
    """A run that diverges before its first epoch ends has saved nothing; an earlier run's
    checkpoint in the same folder is not this run's to offer, and is left as it was."""
    from minicnn.train import TrainingError, fit
    write_fake_fashion(tmp_path / "data", n_train=64, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x, y), val=(x[:16], y[:16]), test=(x[:16], y[:16]))
    fit(models.alexnet_small(width=4), data, small_fit_config(tmp_path / "out", epochs=1), log=lambda *a: None)
    earlier = {name: (tmp_path / "out" / name).read_bytes() for name in ("checkpoint.npz", "metrics.jsonl")}
    model = models.alexnet_small(width=4)
    model["fc8"].params["bias"].data[0] = np.nan
    with pytest.raises(TrainingError) as failure:
        fit(model, data, small_fit_config(tmp_path / "out", epochs=2), log=lambda *a: None)
    assert str(failure.value) == ("loss became nan at step 0 (epoch 1); lower --lr; no checkpoint of this run was "
                                  "written (one is written at the end of each epoch)")
    assert {name: (tmp_path / "out" / name).read_bytes() for name in earlier} == earlier


def test_a_new_run_in_an_earlier_runs_folder_says_so_and_replaces_it_after_its_first_epoch(tmp_path):
    """Without --resume a run starts afresh: it names the run it will replace, keeps that run's
    metrics and checkpoint whole until its own first epoch is saved, and then holds only its own."""
    from minicnn.train import fit
    write_fake_fashion(tmp_path / "data", n_train=64, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x, y), val=(x[:16], y[:16]), test=(x[:16], y[:16]))
    out = tmp_path / "out"
    fit(models.alexnet_small(width=4), data, small_fit_config(out, epochs=2), log=lambda *a: None)
    earlier_metrics = (out / "metrics.jsonl").read_text()
    lines, metrics_while_training = [], []

    def log(*args, **kwargs):
        lines.append(" ".join(map(str, args)))
        if lines[-1].startswith("epoch 1:"):   # the epoch is done, its line and checkpoint not yet written
            metrics_while_training.append((out / "metrics.jsonl").read_text())

    fit(models.alexnet_small(width=4), data, small_fit_config(out, epochs=1, lr=0.01), log=log)
    assert (f"note: {out} holds an earlier run (alexnet_small after epoch 2); this run replaces it at the end of "
            f"its first epoch (--resume continues a run; another --out keeps both)") in lines
    assert metrics_while_training == [earlier_metrics]
    records = metrics_records(out)
    assert [r["epoch"] for r in records] == [1] and records[0]["lr"] != json.loads(earlier_metrics.split("\n")[0])["lr"]
    assert json.loads((out / "checkpoint.json").read_text())["epoch"] == 1
    lines.clear()
    fit(models.alexnet_small(width=4), data, small_fit_config(tmp_path / "new", epochs=1), log=log)
    assert not any("earlier run" in line for line in lines)


def test_resume_refuses_flags_that_change_the_run_and_names_each(tmp_path):
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    common = ["--data", data, "--out", str(tmp_path / "out"), "--val-size", "8", "--batch-size", "16", "--width", "8"]
    assert run_script(*common, "--epochs", "1").returncode == 0
    result = run_script(*common, "--epochs", "2", "--resume", "--schedule", "step", "--width", "12")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert (f"--resume continues the run in {tmp_path / 'out'} with the settings it began with, and this command "
            f"changes --width 12 (the run's: 8), --schedule step (the run's: linear): drop them") in result.stderr
    result = run_script(*common, "--resume", "--split", "two-device")
    assert result.stderr.splitlines()[-1].endswith("--split two-device (the run's: none): drop it (the run's own "
                                                   "are taken), or start a new run with another --out; "
                                                   "examples/convert_checkpoint.py converts a checkpoint between one "
                                                   "device and the split, into another --out")
    # what fit itself checks, for callers other than the script
    from minicnn.checkpoint import CheckpointError
    from minicnn.train import fit
    x, y = fashion_mnist.load("train", data)
    with pytest.raises(CheckpointError, match="schedule_name='linear', expected 'step'"):
        fit(models.alexnet_small(width=8), dict(train=(x[8:], y[8:]), val=(x[:8], y[:8]), test=(x, y)),
            small_fit_config(tmp_path / "out", schedule="step", resume=True), log=lambda *a: None)
    # a checkpoint cut short (a disk that filled up under another program) is named as one
    ckpt = tmp_path / "out" / "checkpoint.npz"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    result = run_script(*common, "--resume")
    assert result.returncode != 0 and result.stderr.splitlines() == [
        f"error: {ckpt}: unreadable checkpoint (ValueError: no zip archive inside); it is truncated or not a minicnn "
        f"checkpoint"]



def test_a_tanh_run_records_its_units_and_resumes_with_them(tmp_path):
    """--activation tanh trains alexnet_small with Tanh units in place of every ReLU (the paper's
    Figure 1); the checkpoint records them, --resume goes on with them and refuses another, and
    the network rebuilt from the checkpoint (predict.py's) has them."""
    from minicnn import ReLU, Tanh
    from minicnn.ensemble import load_networks

    def load_model(path):   # the network as predict.py and evaluate.py rebuild it
        [(net, _)], _ = load_networks([path])
        return net
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    out = tmp_path / "out"
    common = ["--data", data, "--out", str(out), "--val-size", "8", "--batch-size", "16", "--width", "4"]
    assert run_script(*common, "--epochs", "1", "--activation", "tanh").returncode == 0
    assert json.loads((out / "checkpoint.json").read_text())["config"]["architecture"]["activation"] == "tanh"
    model = load_model(str(out / "checkpoint.npz"))
    units = [name for name, layer in model.named_children() if isinstance(layer, (ReLU, Tanh))]
    assert units == [f"tanh{i}" for i in range(1, 8)] and all(isinstance(model.layers[n], Tanh) for n in units)
    result = run_script(*common, "--epochs", "2", "--resume", "--activation", "relu")
    assert result.returncode != 0 and "--activation relu (the run's: tanh)" in result.stderr
    assert run_script(*common, "--epochs", "2", "--resume").returncode == 0
    assert json.loads((out / "checkpoint.json").read_text())["epoch"] == 2
    assert isinstance(load_model(str(out / "checkpoint.npz")).layers["tanh7"], Tanh)

def test_a_run_without_lrn_and_with_pools_side_by_side_records_them_and_resumes_with_them(tmp_path):
    """--no-lrn and --pool-size 2 (the paper's sections 3.3 and 3.4, measured by leaving them
    out), --lrn-alpha 0 (LRN a fixed scale) and --pad-pools (3x3 pools leaving the maps of 2x2
    ones): the checkpoint records them, --resume goes on with them and refuses the paper's
    layers, and the network rebuilt from the checkpoint is the one trained."""
    from minicnn import LRN
    from minicnn.ensemble import load_networks
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    out = tmp_path / "out"
    common = ["--data", data, "--out", str(out), "--val-size", "8", "--batch-size", "16", "--width", "4"]
    assert run_script(*common, "--epochs", "1", "--no-lrn", "--pool-size", "2").returncode == 0
    architecture = json.loads((out / "checkpoint.json").read_text())["config"]["architecture"]
    assert (architecture["lrn"], architecture["pool_size"]) == (False, 2)
    result = run_script(*common, "--epochs", "2", "--resume", "--pool-size", "3")
    assert result.returncode != 0 and "--pool-size 3 (the run's: 2)" in result.stderr
    assert run_script(*common, "--epochs", "2", "--resume").returncode == 0
    [(model, _)], _ = load_networks([str(out / "checkpoint.npz")])
    assert not any(isinstance(layer, LRN) for layer in model.leaves()) and model["pool5"].kernel_size == (2, 2)
    paper = tmp_path / "paper"   # a run of the paper's layers refuses to go on without LRN
    assert run_script(*common[:2], "--out", str(paper), *common[4:], "--epochs", "1").returncode == 0
    result = run_script(*common[:2], "--out", str(paper), *common[4:], "--epochs", "2", "--resume", "--no-lrn",
                        "--lrn-alpha", "1e-4")
    assert result.returncode != 0 and "--no-lrn (the run's: off)" in result.stderr
    result = run_script(*common[:2], "--out", str(paper), *common[4:], "--epochs", "2", "--resume", "--lrn-alpha", "0")
    assert result.returncode != 0 and "--lrn-alpha 0.0 (the run's: 0.0001)" in result.stderr
    fixed = tmp_path / "fixed"   # LRN as a fixed division by 2 ** 0.75: recorded, rebuilt
    result = run_script(*common[:2], "--out", str(fixed), *common[4:], "--epochs", "1", "--lrn-alpha", "0",
                        "--pad-pools")   # and 3x3 pools padded to the maps of 2x2 ones
    assert result.returncode == 0
    [(model, _)], _ = load_networks([str(fixed / "checkpoint.npz")])
    assert model["norm1"].alpha == model["norm2"].alpha == 0 and model["pool1"].padding == (1, 1)
    result = run_script(*common[:2], "--out", str(fixed), *common[4:], "--epochs", "2", "--resume", "--pool-size", "2")
    assert result.returncode != 0 and "--pool-size 2 (the run's: 3)" in result.stderr


def test_a_run_of_one_tower_records_its_connectivity_and_resumes_with_it(tmp_path):
    """--connectivity one-tower-half (the paper's one-GPU net, its section 3.2): the checkpoint
    records it, --resume goes on with it and refuses the towers, and the network rebuilt from the
    checkpoint is the one trained, every conv reading all the maps below."""
    from minicnn.ensemble import load_networks
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    out = tmp_path / "out"
    common = ["--data", data, "--out", str(out), "--val-size", "8", "--batch-size", "16", "--width", "4"]
    assert run_script(*common, "--epochs", "1", "--connectivity", "one-tower-half").returncode == 0
    assert json.loads((out / "checkpoint.json").read_text())["config"]["architecture"]["connectivity"] == "one-tower-half"
    result = run_script(*common, "--epochs", "2", "--resume", "--connectivity", "towers")
    assert result.returncode != 0 and "--connectivity towers (the run's: one-tower-half)" in result.stderr
    assert run_script(*common, "--epochs", "2", "--resume").returncode == 0
    [(model, _)], _ = load_networks([str(out / "checkpoint.npz")])
    assert [model[c].groups for c in ("conv2", "conv4", "conv5")] == [1, 1, 1]
    assert [model[c].out_channels for c in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [2, 4, 6, 6, 8]


def test_a_run_without_a_middle_conv_records_it_and_resumes_without_it(tmp_path):
    """--leave-out conv4 (the paper's section 7): the checkpoint records it, --resume goes on
    without conv4, refusing another conv left out and, for a run of all five, any; the network
    rebuilt from the checkpoint is the one trained, conv5 reading conv3's maps."""
    from minicnn.ensemble import load_networks
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    out, whole = tmp_path / "out", tmp_path / "whole"
    common = ["--data", data, "--val-size", "8", "--batch-size", "16", "--width", "4"]
    assert run_script(*common, "--out", str(out), "--epochs", "1", "--leave-out", "conv4").returncode == 0
    assert json.loads((out / "checkpoint.json").read_text())["config"]["architecture"]["leave_out"] == "conv4"
    result = run_script(*common, "--out", str(out), "--epochs", "2", "--resume", "--leave-out", "conv3")
    assert result.returncode != 0 and "--leave-out conv3 (the run's: conv4)" in result.stderr
    assert run_script(*common, "--out", str(out), "--epochs", "2", "--resume").returncode == 0
    [(model, _)], _ = load_networks([str(out / "checkpoint.npz")])
    assert "conv4" not in model.layers and "relu4" not in model.layers
    assert (model["conv3"].out_channels, model["conv5"].in_channels) == (12, 12)
    assert run_script(*common, "--out", str(whole), "--epochs", "1").returncode == 0
    result = run_script(*common, "--out", str(whole), "--epochs", "2", "--resume", "--leave-out", "conv5")
    assert result.returncode != 0 and "--leave-out conv5 (the run's: none)" in result.stderr


def test_resume_keeps_the_images_of_a_limited_run_and_refuses_another_limit(tmp_path):
    """A --limit run resumed without --limit goes on with its own images (it once went on with the
    whole data set, and was tested on all of it); another --limit is refused, as is a --limit given
    to resume a run that used every image."""
    data = str(tmp_path / "data")
    write_fake_fashion(data, n_train=64, n_test=16)
    limited = ["--data", data, "--out", str(tmp_path / "limited"), "--batch-size", "8", "--width", "4"]
    began = run_script(*limited, "--epochs", "1", "--limit", "40")
    assert began.returncode == 0, began.stderr
    assert "36 train / 4 val / 8 test images, 1 epoch" in began.stdout   # 40 // 10 held out, 40 // 5 tested
    resumed = run_script(*limited, "--epochs", "2", "--resume")
    assert resumed.returncode == 0 and "resumed from" in resumed.stdout, resumed.stderr
    assert "36 train / 4 val / 8 test images, 2 epochs" in resumed.stdout
    test = json.loads((tmp_path / "limited" / "test_metrics.json").read_text())
    assert sum(map(sum, test["confusion"])) == 8
    refused = run_script(*limited, "--resume", "--limit", "20")
    assert refused.returncode != 0 and "--limit 20 (the run's: 40): drop it" in refused.stderr, refused.stderr
    whole = ["--data", data, "--out", str(tmp_path / "whole"), "--batch-size", "8", "--width", "4", "--val-size", "8"]
    assert run_script(*whole, "--epochs", "1").returncode == 0
    refused = run_script(*whole, "--resume", "--limit", "40")
    assert refused.returncode != 0 and "--limit 40 (the run's: 0): drop it" in refused.stderr, refused.stderr


def test_each_script_resumes_only_its_own_runs(tmp_path):
    """finetune.py --resume of a training run, and train_alexnet.py --resume of a fine-tuning run,
    are refused, naming the script that continues it (each went on with its own defaults: all
    layers trained, or all but the last frozen)."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import finetune
    import train_alexnet
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    out = tmp_path / "out"
    assert run_script("--data", data, "--out", str(out), "--epochs", "1", "--val-size", "8", "--batch-size", "16",
                      "--width", "4").returncode == 0
    ckpt = out / "checkpoint.npz"
    with pytest.raises(SystemExit) as stop:
        finetune.main(["--data", data, "--out", str(out), "--resume"])
    assert str(stop.value.code) == (
        f"error: --resume: {ckpt} holds a run of examples/train_alexnet.py: continue it with examples/train_alexnet.py "
        f"--out {out} --resume, or start a new run with another --out")
    # a fine-tuning run's record, and one from before the script was recorded (its --train-layers tells)
    arrays = checkpoint.read_npz(str(ckpt))
    meta = checkpoint.read_meta("", arrays)
    config = {k: v for k, v in meta["config"].items() if k not in ("script", "dataset")}
    for record in (dict(config, script="finetune.py"), dict(config, train_layers=1)):
        arrays["meta"] = np.frombuffer(json.dumps(dict(meta, config=record)).encode(), dtype=np.uint8)
        np.savez(ckpt, **arrays)
        with pytest.raises(SystemExit, match=rf"holds a run of examples/finetune.py: continue it with "
                                             rf"examples/finetune.py --out {re.escape(str(out))} --resume"):
            train_alexnet.parse_args(["--data", data, "--out", str(out), "--resume"])


def test_check_run_of_tells_the_scripts_runs_apart():
    from minicnn.train import TrainingError, check_run_of
    for config, wrote in (({"script": "finetune.py"}, "finetune.py"), ({"train_layers": 2}, "finetune.py"),
                          ({"script": "train_alexnet.py"}, "train_alexnet.py"),
                          ({"dataset": "cifar10"}, "train_alexnet.py")):
        check_run_of(wrote, config, "runs/x/checkpoint.npz")   # its own
        other = "train_alexnet.py" if wrote == "finetune.py" else "finetune.py"
        with pytest.raises(TrainingError, match=f"holds a run of examples/{wrote}: continue it with examples/{wrote} "
                                                f"--out runs/x --resume"):
            check_run_of(other, config, "runs/x/checkpoint.npz")
    check_run_of("finetune.py", {"epochs": 3}, "c.npz")   # a checkpoint that says neither


@pytest.mark.parametrize("began", ["none", "two-device"])
def test_a_converted_checkpoint_resumes_on_the_other_layout(tmp_path, began):
    """examples/convert_checkpoint.py, then --resume in the converted run's folder: the README's
    way from one device to the split and back. The converted run goes on with the other layout and
    the run's settings; given with the other --split (and --lrn-groups 2 on one device, the
    split's exact twin), it goes on the same. The run's metrics.jsonl is copied with it, so that
    the converted run's curves go on from its epochs; a run folder without one (a checkpoint copied
    alone) still resumes, and tests, saying so (the curves were read from it: "No such file")."""
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    common = ["--data", data, "--val-size", "8", "--batch-size", "16", "--width", "4"]
    assert run_script(*common, "--epochs", "1", "--split", began, "--out", str(tmp_path / "began")).returncode == 0
    converted = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "convert_checkpoint.py"),
                                str(tmp_path / "began" / "checkpoint.npz"), str(tmp_path / "other" / "checkpoint.npz")],
                               capture_output=True, text=True, timeout=300)
    assert converted.returncode == 0, converted.stderr
    assert (tmp_path / "other" / "metrics.jsonl").read_text() == (tmp_path / "began" / "metrics.jsonl").read_text()
    other = "none" if began == "two-device" else "two-device"
    converted = json.loads((tmp_path / "other" / "checkpoint.json").read_text())   # its settings say it too
    assert converted["split"] == converted["config"]["split"] == other
    resumed = run_script("--data", data, "--out", str(tmp_path / "other"), "--epochs", "2", "--resume")
    assert resumed.returncode == 0 and "resumed from" in resumed.stdout, resumed.stderr
    assert json.loads((tmp_path / "other" / "checkpoint.json").read_text())["split"] == other
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "other" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
    flags = ["--split", other] + (["--lrn-groups", "2"] if other == "none" else [])
    resumed = run_script("--data", data, "--out", str(tmp_path / "other"), "--epochs", "3", "--resume", *flags)
    assert resumed.returncode == 0 and "resumed from" in resumed.stdout, resumed.stderr
    for name in ("metrics.jsonl", "curves.png", "test_metrics.json"):
        os.remove(tmp_path / "other" / name)
    resumed = run_script("--out", str(tmp_path / "other"), "--resume")   # all 3 epochs trained: the test alone
    assert resumed.returncode == 0, resumed.stderr
    assert (f"note: {tmp_path / 'other' / 'metrics.jsonl'} is missing (a checkpoint copied without it?): epochs 1 "
            f"to 3 have no record there, nor in curves.png") in resumed.stdout
    assert (tmp_path / "other" / "test_metrics.json").exists() and not (tmp_path / "other" / "curves.png").exists()


def test_a_file_given_as_data_is_refused_naming_what_data_takes(tmp_path, capsys):
    """--data photo.jpg (or a checkpoint) was looked for as Fashion-MNIST's folder, whose message said
    to put its files "into" the photo; an archive still reaches the message that says to unpack it."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import train_alexnet
    for name, extra in (("photo.jpg", ""), ("checkpoint.npz", " (a run's checkpoint: --resume --out its folder "
                                                               "continues it)")):
        (tmp_path / name).write_bytes(b"x")
        with pytest.raises(SystemExit) as stop:
            train_alexnet.parse_args(["--data", str(tmp_path / name)])
        assert stop.value.code == 2
        assert capsys.readouterr().err.splitlines()[-1].endswith(
            f": error: --data {tmp_path / name} is a file{extra}; give the folder that holds the data: "
            f"Fashion-MNIST's four files, CIFAR-10's batches, or an image folder (DIR/<class>/*.jpg)")
    (tmp_path / "pets.zip").write_bytes(b"x")
    assert train_alexnet.parse_args(["--data", str(tmp_path / "pets.zip")]).dataset == "folder"


@pytest.mark.parametrize("flag", ["--limit", "--val-size"])
def test_flags_an_image_folder_does_not_use_are_refused(tmp_path, capsys, flag):
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import train_alexnet
    from PIL import Image
    for name in ("cat", "dog"):
        os.makedirs(tmp_path / "pets" / name)
        Image.new("RGB", (8, 8)).save(tmp_path / "pets" / name / "0.png")
    with pytest.raises(SystemExit) as stop:
        train_alexnet.parse_args(["--data", str(tmp_path / "pets"), flag, "10"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(   # after argparse's "PROG: error: "
        f": error: {flag} applies to Fashion-MNIST and CIFAR-10; an image folder's validation images "
        f"are a tenth of each class of its training images, and all of them are used: drop {flag}")


def test_resume_of_a_checkpoint_that_records_no_data_set_takes_the_defaults(tmp_path):
    """Checkpoints written before the data set, --val-size and --limit were recorded resume as before."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import train_alexnet
    data = str(tmp_path / "data")
    write_fake_fashion(data)
    out = tmp_path / "out"
    assert run_script("--data", data, "--out", str(out), "--epochs", "1", "--val-size", "8", "--batch-size",
                      "16").returncode == 0
    meta = json.loads((out / "checkpoint.json").read_text())
    assert (meta["config"]["dataset"], meta["config"]["val_size"], meta["config"]["limit"]) == ("fashion-mnist", 8, 0)
    del meta["config"]["dataset"], meta["config"]["val_size"], meta["config"]["limit"]
    arrays = checkpoint.read_npz(str(out / "checkpoint.npz"))
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(out / "checkpoint.npz", **arrays)
    args = train_alexnet.parse_args(["--data", data, "--out", str(out), "--resume"])
    assert (args.dataset, args.val_size, args.limit, args.batch_size, args.epochs) == ("fashion-mnist", 5000, 0, 16, 1)


def test_a_resumed_run_takes_the_data_folder_it_began_on(tmp_path, monkeypatch, capsys):
    """--resume alone continues a run on the --data it began on (an image folder's run stopped with
    "--dataset folder needs --data"); another folder given is taken, with a note (data move between
    machines), the same one spelled otherwise without; a folder gone is refused, naming it; a
    checkpoint from before the folder was recorded takes the command's --data as it is."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import finetune
    import train_alexnet
    monkeypatch.chdir(tmp_path)
    os.makedirs("photos/cats")
    os.makedirs("moved")

    def write_run(out, **record):
        config = dict(model_name="alexnet", epochs=1, classes=["cats"], **record)
        checkpoint.write(os.path.join(out, "checkpoint.npz"), {}, dict(model="alexnet", epoch=1, split="none",
                                                                       config=config))
    write_run("folder", script="train_alexnet.py", dataset="folder", data=str(tmp_path / "photos"))
    args = train_alexnet.parse_args(["--out", "folder", "--resume"])
    assert (args.data, args.dataset, args.data_note) == (str(tmp_path / "photos"), "folder", None)
    args = train_alexnet.parse_args(["--out", "folder", "--resume", "--data", "./photos/"])
    assert (args.data, args.data_note) == ("./photos/", None)
    args = train_alexnet.parse_args(["--out", "folder", "--resume", "--data", "moved"])
    assert args.data == "moved" and args.data_note == (
        f"note: the run in folder began on the data in {tmp_path / 'photos'}; it goes on with --data moved, which "
        f"must hold the same images, or its validation and test images may be trained on")
    write_run("fashion", script="train_alexnet.py", dataset="fashion-mnist", data=None)
    assert train_alexnet.parse_args(["--out", "fashion", "--resume"]).data is None
    assert "began on its data set found in its usual places (no --data); it goes on with --data moved" in \
        train_alexnet.parse_args(["--out", "fashion", "--resume", "--data", "moved"]).data_note
    write_run("older", script="train_alexnet.py", dataset="fashion-mnist")   # no folder recorded
    assert train_alexnet.parse_args(["--out", "older", "--resume", "--data", "moved"]).data_note is None
    write_run("older folder", script="train_alexnet.py", dataset="folder")
    with pytest.raises(SystemExit):
        train_alexnet.parse_args(["--out", "older folder", "--resume"])
    assert capsys.readouterr().err.endswith(
        "error: --data is required: the image folder the run in older folder began on\n")
    os.rename("photos", "elsewhere")
    for script, main in (("train_alexnet.py", train_alexnet.parse_args), ("finetune.py", finetune.main)):
        write_run(script, script=script, dataset="folder", data=str(tmp_path / "photos"))
        with pytest.raises(SystemExit) as stop:
            main(["--out", script, "--resume"])
        assert str(stop.value.code) == (
            f"error: --resume: the run in {script} began on the data in {tmp_path / 'photos'}, which is no longer "
            f"there: give --data with the folder it is in now")
    # fine-tuning needs a folder to begin on, and one recorded or given to go on
    with pytest.raises(SystemExit):
        finetune.main(["--out", "new"])
    assert capsys.readouterr().err.endswith("error: --data is required: the image folder of the new task\n")
    write_run("older", script="finetune.py")
    with pytest.raises(SystemExit):
        finetune.main(["--out", "older", "--resume"])
    assert capsys.readouterr().err.endswith("error: --data is required: the image folder the run in older began on\n")
    assert not os.path.exists("new")


def test_each_data_set_has_its_own_default_output_folder(tmp_path):
    """A CIFAR-10 run must not resume from, or overwrite, the Fashion-MNIST run's checkpoint."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import train_alexnet
    os.makedirs(tmp_path / "pets" / "cat")
    assert train_alexnet.parse_args([]).out == os.path.join("runs", "fashion")
    assert train_alexnet.parse_args(["--dataset", "cifar10"]).out == os.path.join("runs", "cifar10")
    assert train_alexnet.parse_args(["--data", str(tmp_path / "pets") + os.sep]).out == os.path.join("runs", "pets")
    assert train_alexnet.parse_args(["--dataset", "cifar10", "--out", "mine"]).out == "mine"
    # pictures without class folders are an image folder too, which then says what is wrong with it
    os.makedirs(tmp_path / "loose")
    (tmp_path / "loose" / "a.png").write_bytes(b"")
    assert train_alexnet.parse_args(["--data", str(tmp_path / "loose")]).dataset == "folder"
    assert train_alexnet.parse_args(["--data", str(tmp_path / "pets" / "cat")]).dataset == "fashion-mnist"
    os.makedirs(tmp_path / "fashion" / ".ipynb_checkpoints")   # a hidden folder beside Fashion-MNIST's files
    assert train_alexnet.parse_args(["--data", str(tmp_path / "fashion")]).dataset == "fashion-mnist"
    for archive, dataset in (("cifar-10-python.tar.gz", "cifar10"), ("pets.zip", "folder")):   # not unpacked
        (tmp_path / archive).write_bytes(b"")
        assert train_alexnet.parse_args(["--data", str(tmp_path / archive)]).dataset == dataset
    # CIFAR-10's batches, or the folder its archive unpacks into, are CIFAR-10 (with its own output folder)
    write_fake_cifar(tmp_path / "downloads" / "cifar-10-batches-py")
    for folder in (tmp_path / "downloads", tmp_path / "downloads" / "cifar-10-batches-py"):
        args = train_alexnet.parse_args(["--data", str(folder)])
        assert (args.dataset, args.out) == ("cifar10", os.path.join("runs", "cifar10"))


def test_cifar10_batches_and_refusal_of_code_in_pickles(tmp_path):
    import pickle
    from minicnn.data import DataError, cifar10
    write_fake_cifar(tmp_path)
    x, y = cifar10.load("train", str(tmp_path))
    assert x.shape == (100, 3, 32, 32) and x.dtype == np.uint8 and y.shape == (100,)

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo should never run",))
    (tmp_path / "test_batch").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(DataError, match="refusing to load posix.system"):
        cifar10.load("test", str(tmp_path))
    (tmp_path / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable CIFAR-10 batch"):
        cifar10.load("test", str(tmp_path))
    images = np.zeros((3, 3, 32, 32), np.uint8)
    cifar10.write_batch(str(tmp_path / "test_batch"), images, [0, 9, 4])
    assert cifar10.load("test", str(tmp_path))[1].tolist() == [0, 9, 4]
    for labels in ([0, 10, 4], [0, -1, 4]):
        cifar10.write_batch(str(tmp_path / "test_batch"), images, labels)
        with pytest.raises(DataError, match=r"labels must lie in \[0, 9\]"):
            cifar10.load("test", str(tmp_path))


def test_script_trains_on_cifar10(tmp_path):
    data = str(tmp_path / "cifar")
    write_fake_cifar(data)
    result = run_script("--dataset", "cifar10", "--data", data, "--epochs", "1", "--batch-size", "16",
                        "--val-size", "10", "--width", "8", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "cifar10" in result.stdout and "3x32x32" not in result.stdout  # summary shows outputs
    assert os.path.exists(tmp_path / "out" / "curves.png")


def metrics_records(out):
    """The lines of the run folder ``out``'s metrics.jsonl, read here as JSON: one dict per epoch."""
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def small_fit_config(out, **overrides):
    cfg = dict(model_name="alexnet_small", epochs=3, batch_size=16, lr=0.02, momentum=0.9,
               weight_decay=5e-4, schedule="linear", step_every=1, input_size=28, augment=True,
               augment_pad=2, mean=0.3, std=0.3, seed=0, device="cpu", out=str(out), resume=False)
    cfg.update(overrides)
    return cfg


def test_a_linear_decay_extended_on_resume_is_planned_anew(tmp_path, monkeypatch):
    """A 1-epoch run (learning rate 0.02 to 0 over its 5 batches) resumed with --epochs 2 decays
    over the 10 batches of the two: each batch of epoch 2 takes the new plan's rate, the first too
    (it took the checkpoint's 0), and the run says so. A 2-epoch run stopped after its first epoch
    resumes with the same rates, and says nothing."""
    from minicnn.optim import SGD
    from minicnn.train import fit
    write_fake_fashion(tmp_path / "data", n_train=96, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x[16:], y[16:]), val=(x[:16], y[:16]), test=(x[:16], y[:16]))   # 5 batches of 16
    make = lambda: models.alexnet_small(width=4)
    fit(make(), data, small_fit_config(tmp_path / "out", epochs=1), log=lambda *a: None)
    rates, step = [], SGD.step
    monkeypatch.setattr(SGD, "step", lambda self: rates.append(self.lr) or step(self))
    lines = []
    fit(make(), data, small_fit_config(tmp_path / "out", epochs=2, resume=True), log=lines.append)
    np.testing.assert_allclose(rates, [0.02 * (1 - s / 10) for s in range(5, 10)], rtol=1e-12)
    assert ("note: the run was planned for 1 epoch, now 2: its learning rate decays linearly to 0 by the end of "
            "epoch 2 instead, going on from 0.01") in lines
    extended, lines = rates[:], []
    rates.clear()

    def stop_in_epoch_2(batches, total, desc):
        if desc.startswith("epoch 2/"):
            raise KeyboardInterrupt
        return batches
    with pytest.raises(KeyboardInterrupt):
        fit(make(), data, small_fit_config(tmp_path / "two", epochs=2), log=lambda *a: None, progress=stop_in_epoch_2)
    rates.clear()
    fit(make(), data, small_fit_config(tmp_path / "two", epochs=2, resume=True), log=lines.append)
    assert rates == extended and not any("planned" in line or "global batch" in line for line in lines)
    # a run planned for 3 epochs, stopped after 1 and "resumed" for 1: nothing to train, nothing planned anew
    with pytest.raises(KeyboardInterrupt):
        fit(make(), data, small_fit_config(tmp_path / "three", epochs=3), log=lambda *a: None, progress=stop_in_epoch_2)
    lines = []
    fit(make(), data, small_fit_config(tmp_path / "three", epochs=1, resume=True), log=lines.append)
    assert any("it already holds the 1 epoch asked for: nothing to train" in line for line in lines)
    assert not any("planned" in line for line in lines)


def test_killed_run_resumes_to_the_same_parameters(tmp_path):
    """Kill a run at the start of epoch 2 (after the epoch-1 checkpoint), resume it, and compare
    with an uninterrupted run: every parameter and velocity must be bit-identical."""
    from minicnn.train import fit
    write_fake_fashion(tmp_path / "data", n_train=96, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x[16:], y[16:]), val=(x[:16], y[:16]), test=(x[:16], y[:16]))
    make = lambda: models.alexnet_small(width=8, dropout=0.5)
    quiet = lambda *a: None
    fit(make(), data, small_fit_config(tmp_path / "full"), log=quiet)

    def killer(batches, total, desc):
        if desc.startswith("epoch 2/"):
            raise KeyboardInterrupt   # the process dies here
        return batches
    with pytest.raises(KeyboardInterrupt):
        fit(make(), data, small_fit_config(tmp_path / "killed"), log=quiet, progress=killer)
    fit(make(), data, small_fit_config(tmp_path / "killed", resume=True), log=quiet)
    with np.load(tmp_path / "full" / "checkpoint.npz") as a, np.load(tmp_path / "killed" / "checkpoint.npz") as b:
        for k in a.files:
            if k != "meta":
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # resuming a finished run trains nothing, says so, and still tests the network
    lines, before = [], (tmp_path / "full" / "checkpoint.npz").read_bytes()
    test = fit(make(), data, small_fit_config(tmp_path / "full", resume=True), log=lines.append)
    assert lines[0].startswith("on ")   # first what the digits depend on (and a note where OPENBLAS_CORETYPE is set)
    said = [line for line in lines if not line.startswith(("on ", "note: "))]
    assert "resumed from" in said[0]
    assert said[1] == ("it already holds the 3 epochs asked for: nothing to train, only the test (ask for more "
                       "than 3 to go on)") and 0 <= test["top1"] <= 1
    # a run begun on more ranks and another device goes on, saying that its global batch and device change
    arrays = checkpoint.read_npz(str(tmp_path / "killed" / "checkpoint.npz"))
    meta = checkpoint.read_meta("", arrays)
    meta = dict(meta, ranks=2, config=dict(meta["config"], device="sim"))
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "killed" / "checkpoint.npz", **arrays)
    lines.clear()
    fit(make(), data, small_fit_config(tmp_path / "killed", resume=True), log=lines.append)
    assert "note: the run trained on sim and goes on on cpu: the same training, its sums rounded otherwise" in lines
    assert ("note: the run trained with a global batch of 32 (2 ranks of 16 images); it goes on with 16 (1 rank "
            "of 16 images)") in lines
    assert not any("global batch" in line or "goes on on" in line for line in said)   # nothing where they stay
    # fewer epochs than it holds: the same, saying how many it holds
    lines.clear()
    fit(make(), data, small_fit_config(tmp_path / "full", epochs=2, resume=True), log=lines.append)
    assert "it already holds 3 epochs, more than the 2 asked for: nothing to train" in "\n".join(lines)
    assert (tmp_path / "full" / "checkpoint.npz").read_bytes() == before


def test_an_epochs_training_metrics_are_the_means_over_its_images(tmp_path):
    """An epoch's train_loss and train_top1 are the means over every image it trained on, each
    scored by the network of its step; with a learning rate of 1e-30, no momentum, no decay and no
    dropout the network stays what it was (float32), so they are the untrained network's loss and
    accuracy over the training images, as ``evaluate`` gives them; val_loss and val_top1 its."""
    import copy
    from minicnn.train import evaluate, fit
    write_fake_fashion(tmp_path / "data", n_train=48, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x[16:], y[16:]), val=(x[:16], y[:16]), test=(x[:16], y[:16]))
    model = models.alexnet_small(width=8, dropout=0.0)
    before = copy.deepcopy(model)
    fit(model, data, small_fit_config(tmp_path / "run", epochs=1, lr=1e-30, momentum=0.0, weight_decay=0.0,
                                      augment=False), log=lambda line: None)
    (record,) = metrics_records(tmp_path / "run")
    loaded = dict(batch_size=16, size=28, mean=0.3, std=0.3)   # small_fit_config's
    train = evaluate(before, BatchLoader(*data["train"], **loaded))
    val = evaluate(before, BatchLoader(*data["val"], **loaded))
    assert record["train_loss"] == pytest.approx(train["loss"], rel=1e-6) and record["train_top1"] == train["top1"]
    assert record["val_loss"] == pytest.approx(val["loss"], rel=1e-6) and record["val_top1"] == val["top1"]
    assert 0 < train["top1"] < 1   # (a network that is right or wrong on every image would hide a wrong count)


@pytest.mark.parametrize("note", ["coretype_note", "spinning_note", "oversubscribed_note"])
def test_a_run_says_what_its_blas_was_given_right_after_what_it_runs_on(tmp_path, monkeypatch, note):
    """Where OPENBLAS_CORETYPE chose other kernels than OpenBLAS takes by itself (coretype_note),
    where NumPy loaded OpenBLAS before minicnn set its threads' timeout (spinning_note), and where
    more threads than cores run its CPU work (oversubscribed_note), fit says so right after what it
    runs on (tests/test_environment.py checks the first two in new Pythons)."""
    import minicnn.train
    from minicnn.train import fit
    asked = []
    for name in ("coretype_note", "spinning_note", "oversubscribed_note"):   # the others say nothing
        monkeypatch.setattr(minicnn.train, name,
                            (lambda blas: asked.append(blas) or f"note: {note}") if name == note else (lambda blas: None))
    write_fake_fashion(tmp_path / "data", n_train=48, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x[16:], y[16:]), val=(x[:16], y[:16]), test=(x[:16], y[:16]))
    lines, began = [], time.perf_counter()
    fit(models.alexnet_small(width=8), data, small_fit_config(tmp_path / "run", epochs=1), log=lines.append)
    took = time.perf_counter() - began
    assert lines[0].startswith("on ") and lines[1] == f"note: {note}" and lines[2].startswith("epoch 1:")
    # the epoch's time is part of the run's, and its speed the 32 images trained on over that time
    (record,) = metrics_records(tmp_path / "run")
    assert 0 < record["epoch_time_s"] < took and record["images_per_s"] == pytest.approx(32 / record["epoch_time_s"])
    speed, seconds = re.fullmatch(r"epoch 1: .* \| (\d+) img/s, (\d+) s", lines[2]).groups()   # as the log says
    assert int(speed) == round(record["images_per_s"]) and int(seconds) <= took + 0.5
    assert asked == [json.loads((tmp_path / "run" / "checkpoint.json").read_text())["environment"]["blas"]]


@pytest.mark.parametrize("left", ["whole line", "cut line"])
def test_a_run_killed_while_saving_its_checkpoint_resumes_without_a_second_line_for_that_epoch(tmp_path, left):
    """An epoch's line goes into metrics.jsonl just before its checkpoint is written; killed in
    between, the run resumes from the epoch before and trains that epoch again. Its metrics must
    then be the uninterrupted run's, one line an epoch, not that epoch twice. Killed while writing
    the line, it leaves part of one: dropped, and said (it stopped the resume with a traceback)."""
    from minicnn.train import fit
    write_fake_fashion(tmp_path / "data", n_train=96, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x[16:], y[16:]), val=(x[:16], y[:16]), test=(x[:16], y[:16]))
    make = lambda: models.alexnet_small(width=8)
    quiet = lambda *a: None
    step = dict(schedule="step", step_every=5)   # as the linear schedule is not, the same whatever the epochs
    fit(make(), data, small_fit_config(tmp_path / "full", epochs=2, **step), log=quiet)
    fit(make(), data, small_fit_config(tmp_path / "cut", epochs=1, **step), log=quiet)
    full = [json.loads(line) for line in open(tmp_path / "full" / "metrics.jsonl")]
    line = json.dumps(dict(full[1], train_loss=123.0)) + "\n"
    with open(tmp_path / "cut" / "metrics.jsonl", "a") as f:   # epoch 2's line, its checkpoint never written
        f.write(line if left == "whole line" else line[:40])
    said = []
    fit(make(), data, small_fit_config(tmp_path / "cut", epochs=2, resume=True, **step), log=said.append)
    notes = [line for line in said if "no epoch's record" in line]
    assert notes == ([] if left == "whole line" else [
        f"note: {tmp_path / 'cut' / 'metrics.jsonl'}: dropped 1 line that is no epoch's record (cut off when the "
        f"run was stopped?)"])
    resumed = [json.loads(line) for line in open(tmp_path / "cut" / "metrics.jsonl")]
    timing = ("images_per_s", "epoch_time_s")
    assert [{k: v for k, v in r.items() if k not in timing} for r in resumed] == \
           [{k: v for k, v in r.items() if k not in timing} for r in full]


def test_keep_metrics_up_to_drops_later_epochs_and_lines_that_are_no_record(tmp_path):
    from minicnn.train import keep_metrics_up_to
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n3\n{"loss": 2}\n{"epoch": 2}\n{"epoch": 3}\n{"epo')
    said = []
    keep_metrics_up_to(str(path), 2, said.append)
    assert path.read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    assert said == [f"note: {path}: dropped 3 lines that are no epoch's record (cut off when the run was stopped?)"]
    keep_metrics_up_to(str(tmp_path / "none.jsonl"), 0, said.append)   # no file, no epoch trained: nothing to do
    assert not os.path.exists(tmp_path / "none.jsonl") and len(said) == 1
    keep_metrics_up_to(str(tmp_path / "none.jsonl"), 2, said.append)   # no file for 2 epochs: said, not made
    assert not os.path.exists(tmp_path / "none.jsonl") and said[1:] == [
        f"note: {tmp_path / 'none.jsonl'} is missing (a checkpoint copied without it?): epochs 1 to 2 have no "
        f"record there, nor in curves.png"]


def test_a_run_without_a_validation_set_trains_on_every_image_and_plots_the_training_curves(tmp_path):
    """No images held out (``--val-size 0``): every epoch trains and checkpoints, the metrics have no
    validation entries, the curves show training alone, and the test set is still evaluated."""
    from minicnn.train import fit
    write_fake_fashion(tmp_path / "data", n_train=48, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    empty = (x[:0], y[:0])
    data = dict(train=(x, y), val=empty, test=(x[:16], y[:16]))
    lines = []
    test = fit(models.alexnet_small(width=8), data, small_fit_config(tmp_path / "run", epochs=2, augment=False),
               log=lines.append)
    records = metrics_records(tmp_path / "run")
    assert [r["epoch"] for r in records] == [1, 2] and [r["step"] for r in records] == [3, 6]
    assert not any(key.startswith("val_") for r in records for key in r)
    epochs = [line for line in lines if line.startswith("epoch")]
    assert len(epochs) == 2 and not any("val" in line for line in epochs), lines
    assert os.path.getsize(tmp_path / "run" / "curves.png") > 0 and 0 <= test["top1"] <= 1


@pytest.mark.parametrize("overrides, val, message", [
    (dict(batch_size=64), 8, "a batch of 64 images needs at least as many training images; there are 40"),
    (dict(schedule="plateau"), 0, "the plateau schedule lowers the learning rate"),
    (dict(epochs=0), 8, r"^fit: epochs must be an integer >= 1, got 0$"),
    (dict(batch_size=1), 48, r"^no images are left to train on: the data's 48 validation and 16 test images are all it "
                             r"has; give more data$"),   # not "a batch of 1 images ...: lower the batch size"
])
def test_fit_refuses_settings_the_data_cannot_serve_before_the_first_step(tmp_path, overrides, val, message):
    """An epoch of no whole batch used to end in a ZeroDivisionError after the epoch's work."""
    from minicnn.train import TrainingError, fit
    write_fake_fashion(tmp_path / "data", n_train=48, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x[val:], y[val:]), val=(x[:val], y[:val]), test=(x[:16], y[:16]))
    with pytest.raises(TrainingError, match=message):
        fit(models.alexnet_small(width=8), data, small_fit_config(tmp_path / "run", **overrides), log=lambda *a: None)
    assert not os.path.exists(tmp_path / "run" / "checkpoint.npz")


def test_a_batch_of_all_the_training_images_is_served():
    """The limits are inclusive: a batch as large as the training set (one step an epoch, also
    over ranks), an epoch and a batch of 1."""
    from minicnn.train import check_data
    images, labels = np.zeros((12, 28, 28), np.uint8), np.arange(12) % 10
    data = dict(train=(images, labels), val=(images[:2], labels[:2]), test=(images[:2], labels[:2]))
    for batch, ranks in ((12, 1), (6, 2), (1, 1)):
        check_data(data, dict(epochs=1, batch_size=batch, schedule="plateau"), ranks)


def test_an_output_folder_that_cannot_be_written_fails_before_any_work(tmp_path):
    """It used to end in a traceback from os.makedirs, after the data was loaded (or, where the
    folder could be made but not written, after the first epoch's work)."""
    from minicnn.train import TrainingError, fit
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "run"
    # the data folder does not exist either: the output folder is checked first
    result = run_script("--data", str(tmp_path / "no-data"), "--out", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"error: cannot write the run's files into {out} (Not a directory): choose another output folder" \
           in result.stderr
    # --resume of a folder that does not exist (a typo) is refused without making the folder
    result = run_script("--data", str(tmp_path / "no-data"), "--out", str(tmp_path / "typo"), "--resume")
    assert result.returncode == 1 and "no such checkpoint" in result.stderr and not (tmp_path / "typo").exists()
    write_fake_fashion(tmp_path / "data", n_train=48, n_test=16)
    x, y = fashion_mnist.load("train", str(tmp_path / "data"))
    data = dict(train=(x[8:], y[8:]), val=(x[:8], y[:8]), test=(x[:16], y[:16]))
    with pytest.raises(TrainingError, match="cannot write the run's files into"):
        fit(models.alexnet_small(width=8), data, small_fit_config(out), log=lambda *a: None)



def test_an_out_that_names_a_runs_checkpoint_names_the_runs_folder(tmp_path):
    """--out runs/fashion/checkpoint.npz said "File exists", and with --resume looked for
    runs/fashion/checkpoint.npz/checkpoint.npz: a file given for a folder is said to be one, and a
    run's file names the run's folder."""
    from minicnn.train import TrainingError, checkpoint_to_resume, writable_folder
    run = tmp_path / "run"
    run.mkdir()
    checkpoint.save(str(run / "checkpoint.npz"), models.alexnet_small(width=4))
    ckpt = run / "checkpoint.npz"
    with pytest.raises(TrainingError, match=rf"^cannot write the run's files into {ckpt}: a file, not a folder; give "
                                            rf"the run's folder, {run}$"):
        writable_folder(str(ckpt))
    with pytest.raises(TrainingError, match=rf"^--resume: {ckpt}: a file, not a run's folder; give {run}$"):
        checkpoint_to_resume(str(ckpt))
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(TrainingError, match=r"^cannot write the run's files into .+notes.txt: a file, not a folder: "
                                            r"choose another output folder \(--out\)$"):
        writable_folder(str(tmp_path / "notes.txt"))
    with pytest.raises(TrainingError, match=r"^--resume: .+notes.txt: a file, not a run's folder$"):
        checkpoint_to_resume(str(tmp_path / "notes.txt"))
    result = run_script("--out", str(ckpt), "--resume")
    assert result.stderr.splitlines()[-1] == f"error: --resume: {ckpt}: a file, not a run's folder; give {run}"


@pytest.mark.parametrize("saved", ["nothing", "an epoch", "an earlier run"])
@pytest.mark.parametrize("how,word,status", [("ctrl-c", "interrupted", 130), ("sigterm", "terminated", 143)])
def test_ctrl_c_says_what_was_saved_and_how_to_go_on(tmp_path, monkeypatch, capsys, saved, how, word, status):
    """Ctrl-C during training ends with the shell's code for SIGINT and one message, not a
    traceback: the command that resumes when an epoch of this run was saved, else that none was
    (an earlier run's checkpoint in the same folder is not this run's). SIGTERM the same, with its
    own word and code."""
    from minicnn.arguments import Terminated
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import train_alexnet
    write_fake_fashion(tmp_path / "data")
    out = tmp_path / "out"
    if saved == "an earlier run":
        os.makedirs(out)
        (out / "checkpoint.npz").write_bytes(b"earlier")

    def fit_until_ctrl_c(model, data, cfg, **kwargs):
        if saved == "an epoch":   # an epoch ended and was saved before the key was pressed
            os.makedirs(out, exist_ok=True)
            (out / "checkpoint.npz").write_bytes(b"")
        raise Terminated() if how == "sigterm" else KeyboardInterrupt()
    monkeypatch.setattr(train_alexnet, "fit", fit_until_ctrl_c)
    monkeypatch.setattr(sys, "argv", ["examples/train_alexnet.py", "--out", str(out)])
    with pytest.raises(SystemExit) as stop:
        train_alexnet.main(["--data", str(tmp_path / "data"), "--val-size", "8", "--batch-size", "16",
                            "--out", str(out), "--no-progress"])
    assert stop.value.code == status
    err = capsys.readouterr().err
    if saved == "an epoch":
        assert f"\n{word}; {out / 'checkpoint.npz'} holds the last finished epoch: continue with\n    python " \
               f"examples/train_alexnet.py --out {out} --resume" in err
    else:
        assert f"{word} before the first epoch ended: nothing of this run was saved" in err
        assert (f"; the earlier run in {out} is as it was" in err) == (saved == "an earlier run")
        assert (out / "checkpoint.npz").exists() == (saved == "an earlier run")


def test_a_data_parallel_run_says_to_resume_it_under_mpirun(tmp_path, monkeypatch, capsys):
    """Stopped, a run of 2 ranks printed the command alone, which goes on as one rank with half the
    global batch: the resume command starts with mpirun -np 2 now."""
    from minicnn.train import ctrl_c_says_how_to_resume
    monkeypatch.setattr(sys, "argv", ["examples/train_alexnet.py", "--distributed", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        with ctrl_c_says_how_to_resume(str(tmp_path), False, ranks=2):
            (tmp_path / "checkpoint.npz").write_bytes(b"")
            raise KeyboardInterrupt
    assert capsys.readouterr().err.endswith(
        f"continue with\n    mpirun -np 2 python examples/train_alexnet.py --distributed --out {tmp_path} --resume\n")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM cannot be handled on Windows")
def test_sigterm_stops_training_as_ctrl_c_does(tmp_path):
    """A batch scheduler ending a job (SIGTERM) killed the script where it stood, with no word of
    how to go on (and a checkpoint being written left its temporary file behind). It stops now as
    at Ctrl-C, with the shell's code for SIGTERM."""
    import signal
    import time
    write_fake_fashion(tmp_path / "data")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "examples", "train_alexnet.py"), "--data", str(tmp_path / "data"),
         "--val-size", "8", "--batch-size", "16", "--width", "4", "--epochs", "100000", "--no-progress",
         "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 100
    while not (out / "checkpoint.npz").exists():
        assert time.monotonic() < deadline and process.poll() is None, "the run neither saved an epoch nor ended"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=100)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert f"\nterminated; {out / 'checkpoint.npz'} holds the last finished epoch: continue with\n    python " in err
    assert err.endswith(" --resume\n") and "Traceback" not in err
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_fit_takes_the_defaults_for_what_its_settings_leave_out(tmp_path):
    """A library caller gives the four settings without a default (epochs, batch size, learning
    rate, output folder) and nothing else; a required one left out, or an unknown schedule, is
    named, where fit stopped with a KeyError from deep inside."""
    from minicnn.train import FIT_DEFAULTS, TrainingError, fit, fit_config
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), rng.integers(0, 10, 40)
    # labels as lists of ints will do (the loader indexes arrays: a TypeError from inside it before)
    data = dict(train=(x[:32], y[:32].tolist()), val=(x[32:], y[32:]), test=(x[32:], y[32:].tolist()))
    test = fit(models.alexnet_small(width=4), data, dict(epochs=1, batch_size=16, lr=0.01, out=str(tmp_path / "run")),
               log=lambda *a: None)
    assert 0 <= test["top1"] <= 1
    recorded = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["config"]
    assert {k: recorded[k] for k in FIT_DEFAULTS if k != "resume"} == {   # resume is not recorded
        **{k: v for k, v in FIT_DEFAULTS.items() if k != "resume"}, "device": "cpu"}
    lines = []   # the run there before, whose caller named no network: not "None after epoch 1"
    fit(models.alexnet_small(width=4), data, dict(epochs=1, batch_size=16, lr=0.01, out=str(tmp_path / "run")),
        log=lines.append)
    assert any("holds an earlier run (a network after epoch 1)" in line for line in lines), lines
    # no validation set: none held out (the training runs, validating nothing between epochs); no test set: named
    lines = []
    fit(models.alexnet_small(width=4), dict(train=data["train"], test=data["test"]),
        dict(epochs=1, batch_size=16, lr=0.01, out=str(tmp_path / "no-val")), log=lines.append)
    assert any(line.startswith("epoch 1: train loss ") and "val" not in line for line in lines)
    with pytest.raises(TrainingError, match=r"^the data needs test: dict\(train=\(x, y\), val=\(x, y\), test=\(x, y\)\) "
                                            r"\(val may be left out\)$"):
        fit(models.alexnet_small(width=4), dict(train=data["train"], val=data["val"]),
            dict(epochs=1, batch_size=16, lr=0.01, out=str(tmp_path / "no-test")))
    with pytest.raises(TrainingError, match=r"^fit's settings need lr, out \(of epochs, batch_size, lr, out; the "
                                            r"others have defaults: momentum=0.9, "):
        fit_config(dict(epochs=1, batch_size=16), models.alexnet_small(width=4))
    with pytest.raises(TrainingError, match=r"^schedule 'cosine' is none of fit's: linear, step, plateau$"):
        fit_config(dict(epochs=1, batch_size=16, lr=0.1, out="o", schedule="cosine"), models.alexnet_small(width=4))
    with pytest.raises(TrainingError, match=r"give step_every$"):
        fit_config(dict(epochs=1, batch_size=16, lr=0.1, out="o", schedule="step"), models.alexnet_small(width=4))


@pytest.mark.parametrize("setting, message", [
    (dict(epochs="2"), r"epochs must be an integer >= 1, got '2'"),
    (dict(epochs=1.5), r"epochs must be an integer >= 1, got 1.5"),
    (dict(batch_size=0), r"batch_size must be an integer >= 1, got 0"),
    (dict(seed=-1), r"seed must be an integer >= 0, got -1"),
    (dict(augment_pad=-1), r"augment_pad must be an integer >= 0, got -1"),
    (dict(input_size=0), r"input_size \(or None\) must be an integer >= 1, got 0"),
    (dict(schedule="step", step_every=0.5), r"step_every \(or None\) must be an integer >= 1, got 0.5"),
    (dict(augment="yes"), r"augment must be True or False, got 'yes'"),
    (dict(resume="no"), r"resume must be True or False, got 'no'"),   # a string is true: it resumed
    (dict(mean="0.5"), r"mean must be a finite number, or one per channel, got '0.5'"),
    (dict(std=0), r"std must be a finite number > 0, or one per channel, got 0"),   # trained to a NaN loss
    (dict(std=[1.0, float("nan")]), r"std must be a finite number > 0, or one per channel, got \[1.0, nan\]"),
    (dict(std=[]), r"std must be a finite number > 0, or one per channel, got \[\]"),
])
def test_fit_names_a_setting_of_the_wrong_kind_before_anything_is_written(tmp_path, setting, message):
    from minicnn.train import TrainingError, fit
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (24, 28, 28), dtype=np.uint8), rng.integers(0, 10, 24)
    with pytest.raises(TrainingError, match=f"^fit: {message}$"):
        fit(models.alexnet_small(width=4), dict(train=(x[:16], y[:16]), test=(x[16:], y[16:])),
            {**dict(epochs=1, batch_size=8, lr=0.01, out=str(tmp_path / "run")), **setting}, log=lambda *a: None)
    assert not os.path.exists(tmp_path / "run")


def test_fit_trains_a_network_without_convolutions_and_records_numpy_settings_as_json(tmp_path):
    """A network of fully connected layers alone gets every picture but the conv1 filters', where
    fit stopped at the end with a StopIteration from looking for them; settings given as NumPy
    scalars (a mean and std computed from the data) go into the checkpoint's JSON, where they
    stopped the first epoch's save. A mean or std for another number of channels is refused."""
    from minicnn.train import TrainingError, fit
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (24, 1, 6, 6), dtype=np.uint8), rng.integers(0, 3, 24)
    data = dict(train=(x[:16], y[:16]), test=(x[16:], y[16:]))
    statistics = dict(mean=np.float32(x.mean() / 255), std=[np.float32(x.std() / 255)], epochs=np.int64(1))
    mlp = Sequential([("flatten", Flatten()), ("fc1", Dense(36, 8, rng=rng, relu=True)), ("fc2", Dense(8, 3, rng=rng))])
    fit(mlp, data, dict(batch_size=8, lr=0.01, out=str(tmp_path / "run"), **statistics), log=lambda *a: None)
    written = set(os.listdir(tmp_path / "run"))
    assert {"checkpoint.npz", "curves.png", "confusion.png", "test_metrics.json"} <= written
    assert "conv1_filters.png" not in written
    recorded = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["config"]
    assert (recorded["mean"], recorded["std"], recorded["epochs"]) == (
        float(statistics["mean"]), [float(statistics["std"][0])], 1)
    with pytest.raises(TrainingError, match=r"^fit: mean gives 2 values, and the images have 1 channel: give one "
                                            r"value, or one per channel$"):
        fit(mlp, data, dict(epochs=1, batch_size=8, lr=0.01, out=str(tmp_path / "other"), mean=(0.5, 0.5)))


def test_fit_shows_the_scripts_bar_with_progress_true(tmp_path, capsys):
    """fit(..., progress=True), as one writes in a notebook: the training script's tqdm bar per
    epoch, where it stopped with "'bool' object is not callable" at the first epoch."""
    from minicnn.train import fit
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), rng.integers(0, 10, 40)
    data = dict(train=(x[:32], y[:32]), test=(x[32:], y[32:]))
    fit(models.alexnet_small(width=4), data, dict(epochs=1, batch_size=16, lr=0.01, out=str(tmp_path / "run")),
        log=lambda *a: None, progress=True)
    bar = capsys.readouterr().err
    assert "epoch 1/1: " in bar and "/2 [" in bar and "batch/s, acc=" in bar, bar
    # its last figures are the epoch's, as metrics.jsonl keeps them
    (record,) = metrics_records(tmp_path / "run")
    assert re.findall(r"acc=([\d.]+), img_s=\d+, loss=([\d.]+)", bar)[-1] == (
        f"{record['train_top1']:.3f}", f"{record['train_loss']:.3f}"), bar
    with pytest.raises(TypeError, match=r"^fit: progress must be True, False, None or a function \(iterable, "
                                        r"total, desc\) -> iterable, got str$"):
        fit(models.alexnet_small(width=4), data, dict(epochs=1, batch_size=16, lr=0.01, out=str(tmp_path / "run2")),
            progress="tqdm")


@pytest.mark.parametrize("part,images,labels,message", [
    ("train", "floats", None, r"the train images must be a uint8 array \(N, H, W\) or \(N, C, H, W\) of pixels 0-255, "
                              r"got a float32 array of shape \(32, 28, 28\) \(floats in \[0, 1\]: "),
    ("val", "2d", None, r"the val images must be a uint8 array .+, got a uint8 array of shape \(8, 784\)"),
    ("test", "list", None, r"the test images must be a uint8 array .+, got a list"),
    ("train", None, "floats", r"the train labels must be integer classes, one per image \(32\), got a float64 array"),
    ("val", None, "short", r"the val labels must be integer classes, one per image \(8\), got a int64 array of shape "
                           r"\(7,\)"),
])
def test_fit_refuses_data_it_would_misread(tmp_path, part, images, labels, message):
    """Images in [0, 1] would be divided by 255 once more and train on black pictures, without a
    word: fit takes uint8 pixels, and integer labels, one per image, and says so."""
    from minicnn.train import TrainingError, fit
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), rng.integers(0, 10, 40)
    data = dict(train=(x[:32], y[:32]), val=(x[32:], y[32:]), test=(x[32:], y[32:]))
    x_part, y_part = data[part]
    x_part = {"floats": x_part.astype(np.float32) / 255, "2d": x_part.reshape(len(x_part), -1),
              "list": list(x_part), None: x_part}[images]
    y_part = {"floats": y_part.astype(np.float64), "short": y_part[:-1], None: y_part}[labels]
    data[part] = (x_part, y_part)
    with pytest.raises(TrainingError, match="^" + message):
        fit(models.alexnet_small(width=4), data, dict(epochs=1, batch_size=16, lr=0.01, out=str(tmp_path / "run")),
            log=lambda *a: None)
    assert not (tmp_path / "run").exists()   # refused before anything was written


def test_labels_given_as_lists_are_taken_and_an_empty_list_holds_out_nothing():
    """A list of ints will do for labels, and ``[]`` (NumPy reads it as float64) with no images is
    a validation set of none, not "labels must be integer classes"."""
    from minicnn.train import checked_data
    x = np.zeros((6, 28, 28), np.uint8)
    data = checked_data(dict(train=(x[:4], [0, 1, 2, 3]), val=(x[:0], []), test=(x[4:], [4, 5])))
    np.testing.assert_array_equal(data["train"][1], [0, 1, 2, 3])
    assert isinstance(data["test"][1], np.ndarray) and data["val"][1].shape == (0,)


def test_fit_refuses_a_model_that_cannot_take_the_data_before_writing(tmp_path):
    """Colour pictures into a greyscale network, or labels past the network's outputs, are named
    before the run starts, where the first step stopped with a traceback from conv1 or the loss."""
    from minicnn.train import TrainingError, fit
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 3, 28, 28), dtype=np.uint8), rng.integers(0, 10, 40)
    y[-1] = 10   # a test label the 10 outputs (classes 0 to 9) have no score for
    data = dict(train=(x[:32], y[:32]), val=(x[32:36], y[32:36]), test=(x[36:], y[36:]))
    cfg = dict(epochs=1, batch_size=16, lr=0.01, out=str(tmp_path / "run"))
    with pytest.raises(TrainingError, match=r"^the model cannot take the data's batches of shape \(16, 3, 28, 28\): "
                                            r"layer conv1 cannot take the input of shape \(16, 3, 28, 28\): Conv2D\(1, "):
        fit(models.alexnet_small(width=4), data, cfg, log=lambda *a: None)
    with pytest.raises(TrainingError, match=r"^the model cannot take the data's batches of shape \(16, 3, 32, 32\): "):
        fit(models.alexnet_small(width=4, in_channels=3), data, {**cfg, "input_size": 32}, log=lambda *a: None)
    with pytest.raises(TrainingError, match=r"^the labels run from 0 to 10, and the model's output has shape "
                                            r"\(16, 10\): it needs one score per class, \(N, 11\) or more"):
        fit(models.alexnet_small(width=4, in_channels=3), data, cfg, log=lambda *a: None)
    assert not (tmp_path / "run").exists()


def test_classes_without_training_or_test_images_are_said(tmp_path):
    """A small folder's split (or --limit) can leave a class out of the training images, which
    the network then cannot learn, or out of the test images, whose accuracy is then unknown,
    not the 0 it would have looked like by its absence from the weakest classes."""
    from minicnn.train import fit
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (48, 28, 28), dtype=np.uint8)
    y = np.arange(48) % 4   # classes 0-3 in training; 3 nowhere else, 2 only in the test
    y[:32][y[:32] == 2] = 0
    y[32:][y[32:] == 3] = 1
    data = dict(train=(x[:32], y[:32]), val=(x[32:40], y[32:40]), test=(x[40:], y[40:]))
    lines = []
    fit(models.alexnet_small(width=4, num_classes=5), data,
        dict(epochs=1, batch_size=16, lr=0.01, out=str(tmp_path / "run"), classes=list("abcde")), log=lines.append)
    assert lines[0] == "note: no training images of c, e: the network cannot learn them"
    assert lines[-1] == "no test images of d, e: their accuracy is not known"
