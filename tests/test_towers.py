"""The two-device split (minicnn.towers): the two-tower network and its single-device grouped
twin with the same parameters give the same outputs and gradients (float64: to 1e-10), keep
doing so through training steps, on two CPU workers and on the kernel devices; state dicts and
checkpoints convert both ways."""
import copy
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from minicnn import LRN, BatchNorm2D, Conv2D, Dense, Dropout, SoftmaxCrossEntropy, checkpoint, models, towers
from minicnn.backend import to_device, to_numpy
from minicnn.optim import SGD
from minicnn.sequential import Sequential
from minicnn.summary import summarize

CASES = {  # model name: (builder kwargs, input shape at batch 2)
    "alexnet_small": (dict(width=8), (2, 1, 28, 28)),
    "alexnet": (dict(), (2, 3, 227, 227)),
}


def twins(name, dtype=np.float64):
    kwargs, shape = CASES[name]
    grouped = models.build(name, lrn_groups=2, dtype=dtype, **kwargs)
    return grouped, towers.two_tower(grouped), shape


def assert_relative(actual, expected, what, tol=1e-10):
    actual, expected = to_numpy(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    error = np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-300)
    assert error <= tol, f"{what}: relative error {error:.2e} > {tol:.0e}"


def compare(grouped, split, x, dout, device="cpu", tol=1e-10):
    """One forward and backward of both; outputs, input gradients, every parameter gradient."""
    y_g = grouped.forward(x)
    y_s = split.forward(to_device(x, device))
    assert_relative(y_s, y_g, "logits", tol)
    dx_g = grouped.backward(dout)
    dx_s = split.backward(to_device(dout, device))
    assert_relative(dx_s, dx_g, "dx", tol)
    grads = towers.merge_state({name: p.grad for name, p in split.named_params()})
    for name, p in grouped.named_params():
        assert_relative(grads[name], p.grad, f"gradient of {name}", tol)


@pytest.mark.parametrize("name", list(CASES))
def test_split_equals_grouped_on_two_cpu_workers(name):
    grouped, split, shape = twins(name)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    dout = rng.standard_normal(grouped.output_shape(shape))
    compare(grouped, split.to("cpu"), x, dout)


@pytest.mark.parametrize("variant", [dict(activation="tanh"), dict(lrn=False, pool_size=2),
                                     dict(lrn_alpha=0.0, pad_pools=True), dict(leave_out="conv3"),
                                     dict(leave_out="conv5")])
def test_the_small_alexnets_variants_split_as_the_paper_network_does(variant):
    """alexnet_small of tanh units (the paper's Figure 1), or without LRN and with 2x2 pools, or
    with LRN a fixed scale and padded pools (its sections 3.3 and 3.4), or without a middle conv
    (its section 7; without conv3 the towers first meet at fc6) splits too: an elementwise
    layer's or a max-pool's halves are the layer itself."""
    grouped = models.alexnet_small(width=8, lrn_groups=2, dtype=np.float64, **variant)
    split = towers.two_tower(grouped)
    assert all(split.architecture[key] == value for key, value in variant.items())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 28, 28))
    compare(grouped, split.to("cpu"), x, rng.standard_normal((2, 10)))


def test_training_steps_keep_them_equal():
    """Three SGD steps (momentum, weight decay, dropout 0.5 in both fc layers) on each."""
    grouped, split, shape = twins("alexnet_small")
    split.to("cpu")
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((4,) + shape[1:]), np.array([1, 2, 3, 4])
    velocity = {}
    for model in (grouped, split):
        loss_fn, opt = SoftmaxCrossEntropy(), SGD(model, lr=0.05, momentum=0.9, weight_decay=5e-4)
        for _ in range(3):
            loss_fn.forward(model.forward(x), labels)
            model.backward(loss_fn.backward())
            opt.step()
        velocity[model is split] = opt.velocity
    merged = towers.merge_state(split.state_dict())
    for name, value in grouped.state_dict().items():
        assert_relative(merged[name], value, name)
    merged_velocity = towers.merge_state(velocity[True])
    for name, value in velocity[False].items():
        assert_relative(merged_velocity[name], value, f"velocity of {name}")


def test_split_on_kernel_devices(kernel_device):
    """The towers as two workers under the simulator (or two streams / two GPUs on "cuda")."""
    grouped, split, shape = twins("alexnet_small")
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    compare(grouped, split.to(kernel_device), x, rng.standard_normal(grouped.output_shape(shape)),
            device=kernel_device)


def test_state_dicts_convert_both_ways():
    grouped, split, _ = twins("alexnet_small")
    state = grouped.state_dict()
    halves = towers.split_state(state)
    assert set(halves) == set(split.state_dict())
    assert halves["tower1.conv2.weight"].shape == (8, 4, 5, 5)     # half the filters, own tower's maps
    assert halves["tower0.fc6.weight"].shape[0] == 128 and "head.fc8.bias" in halves
    for name, value in towers.merge_state(halves).items():
        np.testing.assert_array_equal(value, state[name])


def test_converting_what_is_no_checkpoint_or_has_no_towers_says_what_it_is(tmp_path):
    (tmp_path / "notes.npz").write_text("not a checkpoint")
    models_only = tmp_path / "weights.npz"
    np.savez(models_only, w=np.zeros(3))
    for source, message in ((tmp_path / "missing.npz", "no such checkpoint"),
                            (tmp_path / "notes.npz", "no zip archive inside.*truncated or not a minicnn checkpoint"),
                            (models_only, "not a minicnn checkpoint \\(no metadata\\)")):
        with pytest.raises(checkpoint.CheckpointError, match=message):
            towers.convert_checkpoint(source, tmp_path / "out.npz")
    # a network without towers (torchvision's AlexNet, fine-tuned): every tensor was halved, its head too
    checkpoint.save(tmp_path / "owt.npz", models.alexnet_owt(num_classes=4), None, {"model": "alexnet_owt", "epoch": 1})
    with pytest.raises(towers.SplitError, match="a checkpoint of alexnet_owt, which has no towers to split into: the "
                                                "split is that of alexnet and alexnet_small"):
        towers.convert_checkpoint(tmp_path / "owt.npz", tmp_path / "out.npz")
    # the small AlexNet as one tower (connectivity): each conv reads all the maps below, nothing to halve
    one = models.alexnet_small(width=4, connectivity="one-tower-half")
    checkpoint.save(tmp_path / "one.npz", one, None, {"model": "alexnet_small", "epoch": 1,
                                                      "config": {"architecture": one.architecture}})
    with pytest.raises(towers.SplitError, match="one.npz: a network of connectivity 'one-tower-half', whose convs "
                                                "each read all the maps below: it has no towers to split into"):
        towers.convert_checkpoint(tmp_path / "one.npz", tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def test_the_conversion_script_says_when_it_cannot_write(tmp_path):
    grouped, _, _ = twins("alexnet_small")
    checkpoint.save(tmp_path / "grouped.npz", grouped, None, {"model": "alexnet_small", "epoch": 1})
    (tmp_path / "a-file").write_text("")
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                          "convert_checkpoint.py")
    result = subprocess.run([sys.executable, script, str(tmp_path / "grouped.npz"), str(tmp_path / "a-file" / "x.npz")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"error: cannot write {tmp_path / 'a-file' / 'x.npz'} (File exists: {tmp_path / 'a-file'})" in result.stderr


def test_checkpoint_converts_and_round_trips(tmp_path):
    grouped, split, shape = twins("alexnet_small")
    opt = SGD(grouped, lr=0.1)
    rng = np.random.default_rng(3)
    x, labels = rng.standard_normal(shape), np.array([0, 1])
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(grouped.forward(x), labels)
    grouped.backward(loss_fn.backward())
    opt.step()                                  # non-zero velocities, dropout counters at 1
    checkpoint.save(tmp_path / "grouped.npz", grouped, opt, {"model": "alexnet_small", "epoch": 1})

    assert towers.convert_checkpoint(tmp_path / "grouped.npz", tmp_path / "split.npz") == "split"
    split_opt = SGD(split, lr=0.1)
    meta = checkpoint.load(tmp_path / "split.npz", split, split_opt)
    assert meta["split"] == "two-device" and meta["epoch"] == 1
    assert split.random_state()["tower1.drop7.calls"] == 1
    np.testing.assert_allclose(split.forward(x, train=False), grouped.forward(x, train=False), rtol=1e-12)

    assert towers.convert_checkpoint(tmp_path / "split.npz", tmp_path / "back.npz") == "grouped"
    with np.load(tmp_path / "grouped.npz") as a, np.load(tmp_path / "back.npz") as b:
        assert set(a.files) == set(b.files)
        for key in a.files:
            if key != "meta":
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert json.loads(b["meta"].tobytes())["random_state"] == grouped.random_state()


def test_a_checkpoint_converted_to_the_split_is_rebuilt_as_its_towers(tmp_path):
    """model_from_checkpoint (predict.py's) on a single-device run converted to the split: its record
    says LRN across all maps (lrn_groups 1), the towers normalise each their own; it stopped with a
    SplitError's traceback. The towers then compute the grouped twin of the run's network."""
    from minicnn.weights import checkpoint_config, model_from_checkpoint
    architecture = dict(name="alexnet_small", width=4, input_size=28, dropout=0.25, lrn_groups=1)
    single = models.build(**architecture, dtype=np.float64)
    checkpoint.save(tmp_path / "single.npz", single, None, {"model": "alexnet_small", "epoch": 1,
                                                           "config": {"architecture": architecture}})
    with pytest.warns(UserWarning, match=r"normalised across all the maps of its layer \(--lrn-groups 1\), the towers "
                                         r"normalise each their own half: .* \(a run with --lrn-groups 2 converts exactly"):
        towers.convert_checkpoint(tmp_path / "single.npz", tmp_path / "split.npz")
    split, config = model_from_checkpoint(tmp_path / "split.npz")
    assert isinstance(split, towers.TwoTowerNet) and config["split"] == "two-device"
    assert config["architecture"]["lrn_groups"] == 2   # the record says what the towers compute
    twin = models.build(**dict(architecture, lrn_groups=2), dtype=np.float64)
    twin.load_state_dict(single.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(split.forward(x, train=False), twin.forward(x.astype(np.float64), train=False),
                               rtol=1e-4, atol=1e-6)
    # the twin's checkpoint converts without a word, and back again to the same record
    checkpoint.save(tmp_path / "twin.npz", twin, None, {"model": "alexnet_small", "epoch": 1,
                                                       "config": {"architecture": dict(architecture, lrn_groups=2)}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        towers.convert_checkpoint(tmp_path / "twin.npz", tmp_path / "twin-split.npz")
        towers.convert_checkpoint(tmp_path / "split.npz", tmp_path / "back.npz")
    assert checkpoint_config(tmp_path / "back.npz")["architecture"] == dict(architecture, lrn_groups=2)
    # a record that leaves lrn_groups out means models.build's default, 1: converted as such
    unstated = {k: v for k, v in architecture.items() if k != "lrn_groups"}
    checkpoint.save(tmp_path / "unstated.npz", single, None, {"model": "alexnet_small", "epoch": 1,
                                                             "config": {"architecture": unstated}})
    with pytest.warns(UserWarning, match=r"\(--lrn-groups 1\)"):
        towers.convert_checkpoint(tmp_path / "unstated.npz", tmp_path / "unstated-split.npz")
    assert checkpoint_config(tmp_path / "unstated-split.npz")["architecture"] == dict(architecture, lrn_groups=2)


def test_summary_shows_each_layers_device():
    _, split, shape = twins("alexnet_small")
    rows, totals = summarize(split.to("cpu"), shape)
    devices = {r["name"]: r["device"] for r in rows}
    assert devices["tower0.conv1"] == "cpu worker 0" and devices["tower1.conv5"] == "cpu worker 1"
    assert devices["head.fc8"] == "cpu worker 0"
    grouped_rows, grouped_totals = summarize(twins("alexnet_small")[0], shape)
    assert totals == grouped_totals   # same parameters and multiply-adds, just placed


def test_shape_errors_name_the_tower_layer_and_the_networks_input():
    model = towers.two_tower(models.alexnet_small(width=4, lrn_groups=2))
    with pytest.raises(ValueError, match=r"^the input of shape \(2, 1, 32, 32\) reaches layer tower0.fc6 as \(2, 72\), "
                                         r"which it cannot take: Dense\(32, 128\)"):
        model.forward(np.zeros((2, 1, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"^layer tower0.conv1 cannot take the input of shape \(2, 3, 28, 28\)"):
        model.output_shape((2, 3, 28, 28))


def test_models_that_cannot_be_split_say_why():
    with pytest.raises(towers.SplitError, match="lrn_groups=2"):
        towers.two_tower(models.alexnet_small(width=8))               # LRN across both towers
    with pytest.raises(towers.SplitError, match=r"two_tower: a network of connectivity 'one-tower', .+ \(the split "
                                                r"is that of connectivity 'towers'\)"):
        towers.two_tower(models.alexnet_small(width=8, connectivity="one-tower"))
    with pytest.raises(towers.SplitError, match="fc8"):
        towers.two_tower(Sequential([("fc6", Dense(4, 4))]))
    bad = models.alexnet_small(width=8, lrn_groups=2)
    bad.layers["conv4"].groups = 1                                    # conv4 would read both towers
    with pytest.raises(towers.SplitError, match="conv4: a layer between a crossing must have groups=2, got groups=1"):
        towers.two_tower(bad)
    bad = models.alexnet_small(width=8, lrn_groups=2)
    bad.layers["conv3"] = Conv2D(16, 24, 3, padding=1, groups=2)      # a crossing that would not cross
    with pytest.raises(towers.SplitError, match="conv3: a layer at a crossing must have groups=1, got groups=2"):
        towers.two_tower(bad)
    with pytest.raises(towers.SplitError, match="no partner 'tower1.conv1.weight'"):
        towers.merge_state({"tower0.conv1.weight": np.zeros((2, 1))})


def test_batchnorm_in_place_of_lrn_splits_exactly():
    """alexnet_bn's layout (BatchNorm2D for LRN): each channel's statistics are its own, so each tower
    normalises its half of the maps as the single-device network does, running statistics too."""
    grouped = models.alexnet_small(width=8, lrn_groups=2, dtype=np.float64)
    for name, channels in (("norm1", 8), ("norm2", 16)):
        grouped.layers[name] = BatchNorm2D(channels, dtype=np.float64)
    split = towers.two_tower(grouped).to("cpu")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 1, 28, 28))
    compare(grouped, split, x, rng.standard_normal((4, 10)))
    merged = towers.merge_state(split.state_dict())
    for name in ("norm1.running_mean", "norm1.running_var", "norm2.running_mean", "norm2.running_var"):
        assert_relative(merged[name], grouped.state_dict()[name], name)
    assert_relative(split.forward(x, train=False), grouped.forward(x, train=False), "logits in evaluation")


def test_lrn_groups_normalise_each_group_alone():
    x = np.random.default_rng(4).standard_normal((2, 8, 3, 3))
    grouped = LRN(5, 1e-2, 0.75, 2.0, groups=2).forward(x)
    halves = [LRN(5, 1e-2, 0.75, 2.0).forward(np.ascontiguousarray(x[:, i:i + 4])) for i in (0, 4)]
    np.testing.assert_allclose(grouped, np.concatenate(halves, axis=1), rtol=1e-15)


@pytest.mark.parametrize("device", ["cpu", "sim"])
def test_dropout_mask_slice_draws_its_part_of_the_full_mask(device):
    x = np.random.default_rng(5).standard_normal((3, 10))
    full = Dropout(0.5, seed=9).forward(x)
    for offset in (0, 4):
        part = Dropout(0.5, seed=9, mask_slice=(offset, 10)).to(device)
        y = part.forward(to_device(np.ascontiguousarray(x[:, offset:offset + 6]), device))
        np.testing.assert_array_equal(to_numpy(y), full[:, offset:offset + 6])
    with pytest.raises(ValueError, match="does not hold the 6 features"):
        Dropout(0.5, mask_slice=(5, 10)).forward(x[:, :6].copy())


def test_split_without_input_grad_returns_none_with_the_same_parameter_gradients():
    grouped, split, shape = twins("alexnet_small")
    x = np.random.default_rng(7).standard_normal(shape)
    dout = np.random.default_rng(8).standard_normal(grouped.output_shape(shape))
    split.to("cpu")
    masks = split.random_state()
    split.forward(x)
    split.backward(dout)
    expected = {name: p.grad.copy() for name, p in split.named_params()}
    split.input_grad = False
    split.set_random_state(masks)   # the same dropout masks again
    split.forward(x)
    assert split.backward(dout) is None
    for name, p in split.named_params():
        np.testing.assert_array_equal(p.grad, expected[name], err_msg=name)


def test_split_copies_parameters_instead_of_sharing_them():
    grouped, split, _ = twins("alexnet_small")
    before = copy.deepcopy(grouped.state_dict())
    for _, p in split.named_params():
        p.data[...] = 0
    for name, value in grouped.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_towers_trained_by_fit_from_python_are_recorded_as_the_split_and_rebuilt(tmp_path):
    """fit on ``two_tower(models network)``: the split "two-device" and the grouped network's
    record go into the checkpoint unasked, and model_from_checkpoint rebuilds the towers with their
    weights; a split said otherwise is refused before anything is written."""
    from minicnn.train import TrainingError, fit
    from minicnn.weights import checkpoint_config, model_from_checkpoint
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), np.arange(40) % 10
    data = dict(train=(x[:32], y[:32]), test=(x[32:], y[32:]))
    cfg = dict(epochs=1, batch_size=16, lr=0.01)
    split = towers.two_tower(models.alexnet_small(width=4, lrn_groups=2))
    assert split.architecture == models.alexnet_small(width=4, lrn_groups=2).architecture
    with pytest.raises(TrainingError, match="the model is split into two towers .* and split is 'none': give "
                                            "split='two-device', or leave it out"):
        fit(split, data, dict(cfg, out=str(tmp_path / "refused"), split="none"), log=lambda *a: None)
    assert not (tmp_path / "refused").exists()
    fit(split, data, dict(cfg, out=str(tmp_path / "run")), log=lambda *a: None)
    config = checkpoint_config(tmp_path / "run" / "checkpoint.npz")
    assert config["split"] == "two-device" and config["architecture"]["lrn_groups"] == 2
    rebuilt, _ = model_from_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert isinstance(rebuilt, towers.TwoTowerNet)
    images = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(rebuilt.forward(images, train=False), split.forward(images, train=False))
