"""AlexNet models: exact parameter counts and multiply-adds, output shapes, initialisation, summary."""
import re

import numpy as np
import pytest

from minicnn import Conv2D, Dense, ReLU, Sequential, models
from minicnn.summary import summarize, summary


def test_alexnet_2012_exact_numbers():
    model = models.alexnet()
    rows, totals = summarize(model, (1, 3, 227, 227))
    assert totals["params"] == 60_965_224
    assert totals["macs"] == 724_406_816
    conv_macs = sum(r["macs"] for r in rows if r["type"] == "Conv2D")
    assert round(conv_macs / 1e6, 1) == 665.8
    shapes = {r["name"]: r["output"] for r in rows}
    assert shapes["conv1"] == (96, 55, 55) and shapes["pool2"] == (256, 13, 13) and shapes["pool5"] == (256, 6, 6)
    assert [model[n].groups for n in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [1, 2, 1, 2, 2]


def test_alexnet_owt_matches_torchvision_layout():
    model = models.alexnet_owt()
    rows, totals = summarize(model, (1, 3, 224, 224))
    assert totals["params"] == 61_100_840
    assert round(totals["macs"] / 1e6, 1) == 714.2
    keys = list(model.state_dict())
    assert keys[:2] == ["features.0.weight", "features.0.bias"]
    assert {"features.3.weight", "features.6.weight", "features.8.weight", "features.10.weight",
            "classifier.1.weight", "classifier.4.weight", "classifier.6.bias"} <= set(keys)


def test_alexnet_bn_and_small():
    assert models.alexnet_bn(num_classes=10).output_shape((2, 3, 227, 227)) == (2, 10)
    small = models.alexnet_small()
    assert small.output_shape((2, 1, 28, 28)) == (2, 10)
    assert models.alexnet_small(in_channels=3, input_size=32).output_shape((2, 3, 32, 32)) == (2, 10)
    kinds = [type(layer).__name__ for layer in small]
    assert kinds.count("Conv2D") == 5 and kinds.count("LRN") == 2 and kinds.count("Dense") == 3
    assert [small[n].groups for n in ("conv2", "conv4", "conv5")] == [2, 2, 2]
    assert models.alexnet_small(width=2).output_shape((2, 1, 28, 28)) == (2, 10)   # the narrowest: a map a tower
    for width in (3, 0, 2.0, True):   # the groups of conv2/4/5 need an even width; not a Conv2D traceback
        with pytest.raises(ValueError, match=rf"^alexnet_small: width must be an even integer >= 2 .+, got {width!r}$"):
            models.alexnet_small(width=width)


def test_the_small_alexnet_without_lrn_or_with_pools_side_by_side():
    """lrn=False leaves out norm1 and norm2, every parameter as it was (the same start); lrn_alpha=0
    makes them a fixed division by 2 ** 0.75; pad_pools gives 3x3 pools the maps of 2x2 ones; pool_size=2
    pools 2x2 windows with stride 2 (the paper's section 3.4 compares them with its 3x3), which on
    28 px inputs leaves fc6 3x3 maps rather than 2x2; anything else is refused."""
    paper, plain, adjacent = models.alexnet_small(), models.alexnet_small(lrn=False), models.alexnet_small(pool_size=2)
    names = [name for name, _ in paper.named_children()]
    assert [name for name, _ in plain.named_children()] == [n for n in names if n not in ("norm1", "norm2")]
    assert all(np.array_equal(value, plain.state_dict()[key]) for key, value in paper.state_dict().items())
    assert [name for name, _ in adjacent.named_children()] == names
    pools = ("pool1", "pool2", "pool5")
    assert [(adjacent[p].kernel_size, adjacent[p].stride) for p in pools] == [((2, 2), (2, 2))] * 3
    assert [(paper[p].kernel_size, paper[p].stride) for p in pools] == [((3, 3), (2, 2))] * 3
    assert (paper["fc6"].params["weight"].shape, adjacent["fc6"].params["weight"].shape) == ((256, 48 * 2 * 2),
                                                                                             (256, 48 * 3 * 3))
    assert plain.output_shape((2, 1, 28, 28)) == adjacent.output_shape((2, 1, 28, 28)) == (2, 10)
    for size in (27, 28, 30, 32):   # padded where the side is even, 3x3 pools leave the maps of 2x2 ones
        padded, side_by_side = ([shape for _, _, shape in models.alexnet_small(input_size=size, **given).shapes(
            (1, 1, size, size))] for given in (dict(pad_pools=True), dict(pool_size=2)))
        assert padded == side_by_side
    padded = models.alexnet_small(pad_pools=True)   # 28 and 14 padded, 7 not
    assert [padded[p].padding for p in pools] == [(1, 1), (1, 1), (0, 0)]
    fixed = models.alexnet_small(lrn_alpha=0.0)   # LRN as a fixed division by k ** beta, at every unit alike
    x = np.random.default_rng(0).standard_normal((2, 24, 5, 5)).astype(np.float32) * 100
    np.testing.assert_allclose(fixed["norm1"].forward(x, train=False), x / 2 ** 0.75, rtol=1e-6)
    assert paper["norm1"].alpha == 1e-4 and paper["norm2"].alpha == 1e-4
    for given, message in ((dict(lrn_alpha=-1.0), r"lrn_alpha must be a finite number >= 0 \(the paper's 1e-4; 0: a "
                                                  r"fixed scale\), got -1.0"),
                           (dict(lrn_alpha="1e-4"), "lrn_alpha must be a finite number >= 0 .+, got '1e-4'"),
                           (dict(pool_size=4), r"pool_size must be 3 \(overlapping windows, the paper's\) or 2 "
                                               r"\(windows side by side\), got 4"),
                           (dict(pool_size=True), "pool_size must be 3 .+, got True"),
                           (dict(pool_size=2, pad_pools=True), r"pad_pools must be True or False, and True only with "
                                                               r"3x3 pools \(it gives them the maps of 2x2 ones\), "
                                                               r"got pad_pools=True with pool_size=2"),
                           (dict(lrn="no"), "lrn must be True .+ or False, got 'no'")):
        with pytest.raises(ValueError, match=rf"^alexnet_small: {message}$"):
            models.alexnet_small(**given)


def test_the_small_alexnet_as_two_towers_as_one_and_as_the_papers_one_gpu_net_with_half_the_maps():
    """connectivity (the paper's section 3.2): "towers" groups conv2, conv4 and conv5 in two (the
    default, every parameter as before the argument existed); "one-tower" has the same maps, each
    conv reading all of those below; "one-tower-half" is the paper's one-GPU net, conv1 to conv4
    with half the maps, conv5 and the fully connected layers unchanged. Parameters counted by hand."""
    towers, one, half = (models.alexnet_small(connectivity=c) for c in ("towers", "one-tower", "one-tower-half"))
    assert all(np.array_equal(v, models.alexnet_small().state_dict()[k]) for k, v in towers.state_dict().items())
    convs = ("conv1", "conv2", "conv3", "conv4", "conv5")
    weights = lambda model: [model[c].params["weight"].shape for c in convs]
    assert [towers[c].groups for c in convs] == [1, 2, 1, 2, 2]
    assert [one[c].groups for c in convs] == [half[c].groups for c in convs] == [1] * 5
    assert weights(towers) == [(24, 1, 5, 5), (48, 12, 5, 5), (72, 48, 3, 3), (72, 36, 3, 3), (48, 36, 3, 3)]
    assert weights(one) == [(24, 1, 5, 5), (48, 24, 5, 5), (72, 48, 3, 3), (72, 72, 3, 3), (48, 72, 3, 3)]
    assert weights(half) == [(12, 1, 5, 5), (24, 12, 5, 5), (36, 24, 3, 3), (36, 36, 3, 3), (48, 36, 3, 3)]
    fc = 256 * 48 * 2 * 2 + 256 + 256 * 256 + 256 + 256 * 10 + 10   # fc6 reads conv5's 48 maps of 2x2: alike in all three
    conv = lambda shapes: sum(int(np.prod(shape)) + shape[0] for shape in shapes)
    for model in (towers, one, half):
        assert sum(p.data.size for _, p in model.named_params()) == conv(weights(model)) + fc
        assert model.output_shape((2, 1, 28, 28)) == (2, 10)
    assert (conv(weights(towers)) + fc, conv(weights(one)) + fc, conv(weights(half)) + fc) == (203018, 256298, 160418)
    assert models.alexnet_small(width=2, connectivity="one-tower-half")["conv1"].out_channels == 1
    for given, message in ((dict(connectivity="two-towers"), "connectivity must be one of 'towers', 'one-tower', "
                                                             "'one-tower-half', got 'two-towers'"),
                           (dict(connectivity="one-tower", lrn_groups=2),
                            r"lrn_groups=2 normalises each tower's maps on their own, and connectivity='one-tower' "
                            r"has no towers: lrn_groups must be 1")):
        with pytest.raises(ValueError, match=rf"^alexnet_small: {message}$"):
            models.alexnet_small(**given)


@pytest.mark.parametrize("connectivity", ["towers", "one-tower-half"])
def test_the_small_alexnet_without_each_middle_conv(connectivity):
    """leave_out (the paper's section 7) takes away one of conv3, conv4 and conv5 and its units;
    the next layer reads the maps of the one before it, every other layer keeps its name, groups
    and shape: without conv5, fc6 reads conv4's maps (72 of 2x2 with the towers, not conv5's 48).
    Checked against the whole network's layers with the one left out taken away by hand; the
    network then runs, each layer taking the maps of the one before (a conv reading the wrong
    number of maps fails, naming itself)."""
    whole = models.alexnet_small(connectivity=connectivity)
    images = np.random.default_rng(1).normal(size=(2, 1, 28, 28)).astype(np.float32)
    for number in (3, 4, 5):
        left_out = f"conv{number}"
        model = models.alexnet_small(connectivity=connectivity, leave_out=left_out)
        kept = [name for name in whole.layers if name not in (left_out, f"relu{number}")]
        assert list(model.layers) == kept
        convs = [name for name in kept if name.startswith("conv")]
        assert [model[c].in_channels for c in convs] == [1] + [whole[c].out_channels for c in convs[:-1]]
        assert ([(model[c].out_channels, model[c].groups) for c in convs]
                == [(whole[c].out_channels, whole[c].groups) for c in convs])
        assert model["fc6"].in_features == whole[convs[-1]].out_channels * 2 * 2
        assert ([model[n].params["weight"].shape for n in ("fc7", "fc8")]
                == [whole[n].params["weight"].shape for n in ("fc7", "fc8")])
        assert model.forward(images, train=False).shape == (2, 10)
    assert models.MIDDLE_CONVS == ("conv3", "conv4", "conv5")
    for wrong in ("conv2", "conv6", ("conv3",)):
        with pytest.raises(ValueError, match=r"^alexnet_small: leave_out must be None \(every conv kept\) or one of the "
                                             r"middle convs, 'conv3', 'conv4', 'conv5', got " + re.escape(repr(wrong)) + "$"):
            models.alexnet_small(leave_out=wrong)


def test_default_initialisation_is_pytorchs():
    """Conv2D and Dense draw their weights and biases from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as
    PyTorch's nn.Conv2d and nn.Linear do: fan_in = in_channels / groups * kh * kw (a model's ``init``
    "default" keeps them; "paper" and "he" draw them again)."""
    rng = np.random.default_rng(0)
    for layer, fan_in in ((Conv2D(8, 64, 3, groups=2, rng=rng), 4 * 9), (Dense(400, 300, rng=rng), 400)):
        bound = 1 / np.sqrt(fan_in)
        for name, p in layer.params.items():
            assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.9 * bound, name
            assert abs(p.data.std() - bound / np.sqrt(3)) < 0.1 * bound, name   # a uniform's spread


def test_paper_initialisation():
    model = models.alexnet(num_classes=10)
    for name, p in model.named_params():
        layer, kind = name.split(".")
        if kind == "bias":
            assert (p.data == (1.0 if layer in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0)).all(), name
    w = model["fc6"].params["weight"].data
    assert abs(w.std() - 0.01) < 1e-4 and abs(w.mean()) < 1e-4


def test_he_initialisation_is_alexnet_smalls_default():
    """He et al.'s: every weight N(0, 2 / fan_in), fan_in = in_channels / groups * kh * kw (or a
    Dense layer's inputs), every bias 0. Each layer's weights divided by their std sqrt(2 / fan_in)
    are, pooled (some 200,000), a standard normal's to a fraction of a percent."""
    model = models.alexnet_small()
    scaled = []
    for name, p in model.named_params():
        if name.endswith(".bias"):
            assert (p.data == 0).all(), name
        else:
            fan_in = p.shape[1] * p.shape[2] * p.shape[3] if p.data.ndim == 4 else p.shape[1]
            scaled.append(p.data.ravel() / np.sqrt(2.0 / fan_in))
    scaled = np.concatenate(scaled).astype(np.float64)
    assert scaled.size > 200_000 and abs(scaled.mean()) < 0.005 and abs(scaled.std() - 1) < 0.005


def test_he_unit_biases_are_he_with_the_papers_unit_biases():
    """init="he-unit-biases" draws every weight as "he" does from the same seed, to the bit, and
    sets the biases of conv2, conv4, conv5, fc6 and fc7 to 1 (the paper's), the others to 0: two
    networks that differ in those biases alone."""
    he = dict(models.alexnet_small(seed=3).named_params())
    unit = dict(models.alexnet_small(seed=3, init="he-unit-biases").named_params())
    assert he.keys() == unit.keys()
    for name, p in unit.items():
        layer, kind = name.split(".")
        if kind == "weight":
            assert np.array_equal(p.data, he[name].data), name
        else:
            assert (p.data == (1.0 if layer in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0)).all(), name
    assert models.alexnet_small(init="he-unit-biases").architecture["init"] == "he-unit-biases"
    with pytest.raises(ValueError, match=r"^unknown init 'xavier': expected one of paper, he, he-unit-biases, "
                                         r"default$"):
        models.alexnet_small(init="xavier")


def test_summary_text_and_unknown_model():
    text = summary(models.alexnet(), (1, 3, 227, 227))
    assert "Total parameters: 60,965,224" in text and "724.4 M" in text
    lines = text.splitlines()   # columns of a fixed width, wider where a name or kind is longer
    assert lines[0] == "layer             type         output shape             params      mult-adds  device"
    assert lines[2] == "conv1             Conv2D       96x55x55                 34,944    105,415,200  cpu"
    assert lines[3] == "relu1             ReLU         96x55x55                      0              0  cpu"
    assert lines[-1] == "Multiply-adds per image (forward): 724,406,816 (724.4 M)"
    class ALongKindOfReLU(ReLU):
        pass
    named = Sequential([("a_long_name_of_a_layer", Conv2D(3, 4, 3, relu=True)), ("relu", ALongKindOfReLU())])
    assert summary(named, (1, 3, 8, 8)).splitlines()[:4] == [
        "layer                   type             output shape             params      mult-adds  device",
        "=" * 95,
        "a_long_name_of_a_layer  Conv2D+ReLU      4x6x6                       112          3,888  cpu",
        "relu                    ALongKindOfReLU  4x6x6                         0              0  cpu"]
    with pytest.raises(ValueError, match="unknown model 'vgg': expected one of alexnet"):
        models.build("vgg")
    for name in models.MODELS:   # NumPy's generator said "expected non-negative integer", naming nothing
        with pytest.raises(ValueError, match=rf"^{name}: seed must be an integer >= 0, got -1$"):
            models.build(name, seed=-1)
    with pytest.raises(ValueError, match=r"^alexnet_small: seed must be an integer >= 0, got '0'$"):
        models.alexnet_small(10, 1, 28, 24, 0.5, np.float32, "0")   # positionally too
    with pytest.raises(ValueError, match=r"^the input of shape \(1, 3, 224, 224\) reaches layer fc6 as \(1, 6400\), "
                                         r"which it cannot take: Dense\(9216, 4096\)"):
        summary(models.alexnet(), (1, 3, 224, 224))   # the 2012 network's 227, not torchvision's 224
    empty = summary(Sequential([]), (1, 3, 8, 8)).splitlines()   # the identity: a table of no rows
    assert empty[1] == empty[2] == "=" * len(empty[0]) and empty[3:] == [
        "Total parameters: 0", "Multiply-adds per image (forward): 0 (0.0 M)"]


def test_summary_command_shows_a_named_network_or_the_one_a_checkpoint_records(tmp_path, capsys):
    """``python -m minicnn.summary``: the 2012 AlexNet by default; a network at another input size
    and channels; a checkpoint's network at its recorded input (the run's own table); the two
    towers; and a clear error for each wrong thing asked."""
    from minicnn import checkpoint, towers
    from minicnn.summary import main

    def shown(*argv):
        main(list(argv))
        return capsys.readouterr().out.rstrip("\n")
    assert shown() == summary(models.alexnet(), (1, 3, 227, 227))
    assert shown("alexnet_small", "--input-size", "32", "--channels", "3", "--num-classes", "7") == summary(
        models.alexnet_small(input_size=32, in_channels=3, num_classes=7), (1, 3, 32, 32))
    architecture = dict(name="alexnet_small", num_classes=4, in_channels=3, input_size=32, width=4)
    path = str(tmp_path / "checkpoint.npz")
    checkpoint.write(path, {}, dict(model="alexnet_small", epoch=1, split="two-device", config=dict(
        architecture=dict(architecture, lrn_groups=2), input_size=32, split="two-device")))
    split = shown(path)
    assert split == summary(towers.two_tower(models.build(**architecture, lrn_groups=2)).to("cpu"), (1, 3, 32, 32))
    assert "tower1.conv1" in split and "cpu worker 1" in split
    assert shown(path, "--split", "none") == summary(models.build(**architecture, lrn_groups=2), (1, 3, 32, 32))
    assert "cpu worker 1" in shown("alexnet", "--split", "two-device")
    from minicnn.weights import save_npz
    save_npz(models.alexnet_small(), tmp_path / "plain.npz")   # plain weights record no network
    for argv, error in (
            (["vgg"], "error: vgg: neither a network (alexnet, alexnet_bn, alexnet_owt, alexnet_small) nor a file"),
            ([path, "--input-size", "28", "--channels", "1"],
             f"error: {path}: a checkpoint's network is the one it records, with its own input size, channels and "
             f"classes: drop --channels and --input-size"),
            ([str(tmp_path / "plain.npz")],
             f"error: {tmp_path / 'plain.npz'} records no network (plain weights): give its network's name"),
            (["alexnet_owt", "--split", "two-device"],
             "error: --split two-device splits alexnet and alexnet_small, not alexnet_owt"),
            (["alexnet", "--input-size", "224"],
             "error: the input of shape (1, 3, 224, 224) reaches layer fc6 as (1, 6400), which it cannot take: "
             "Dense(9216, 4096): expected input of shape (N, 9216), got (1, 6400)")):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert str(stop.value.code) == error


def test_one_step_lowers_the_loss_and_a_few_steps_overfit():
    from minicnn import SoftmaxCrossEntropy
    from minicnn.optim import SGD
    rng = np.random.default_rng(0)
    model = models.alexnet_small(width=8)
    x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 16)
    loss_fn, opt = SoftmaxCrossEntropy(), SGD(model, lr=0.01, weight_decay=0.0)
    for layer in model:
        if hasattr(layer, "p"):
            layer.p = 0.0   # no dropout: a fixed function to overfit
    first = float(loss_fn.forward(model.forward(x), y))
    model.backward(loss_fn.backward())
    opt.step()
    assert float(loss_fn.forward(model.forward(x, train=False), y)) < first
    for _ in range(60):
        loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward())
        opt.step()
    assert (model.forward(x, train=False).argmax(1) == y).all()


@pytest.mark.parametrize("name, given", [
    ("alexnet", dict(lrn_groups=2, seed=3)),
    ("alexnet_bn", dict(num_classes=7)),
    ("alexnet_owt", dict(in_channels=1, dtype=np.float64)),
    ("alexnet_small", dict(width=np.int64(6), input_size=32, dropout=0.25, num_classes=np.int64(4))),
    ("alexnet_small", dict(lrn=False, pool_size=2)),
    ("alexnet_small", dict(lrn_alpha=0.0, pad_pools=True)),
    ("alexnet_small", dict(connectivity="one-tower-half", width=4)),
    ("alexnet_small", dict(leave_out="conv5", width=4)),
])
def test_each_network_carries_the_arguments_that_build_it_again(name, given):
    """``model.architecture``: every argument of the builder, defaults filled in, as plain Python
    values (a checkpoint records it as JSON), but dtype and seed; ``build`` takes it back to the
    same network: the same layers, shapes and record."""
    import json
    model = models.build(name, **given)
    record = model.architecture
    assert record == models.architecture(name, **given) and json.loads(json.dumps(record)) == record
    assert record["name"] == name and "dtype" not in record and "seed" not in record
    assert all(record[key] == value for key, value in given.items() if key not in ("dtype", "seed"))
    again = models.build(**record)
    assert again.architecture == record
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert [type(layer) for layer in again.leaves()] == [type(layer) for layer in model.leaves()]


def test_the_architecture_record_follows_a_new_head_and_names_what_it_cannot_build():
    model = models.alexnet_small(width=4)
    models.replace_head(model, 3)
    assert model.architecture["num_classes"] == 3 and models.build(**model.architecture).output_shape((1, 1, 28, 28)) == (1, 3)
    assert models.alexnet_small(4, 3).architecture["in_channels"] == 3   # positional arguments too
    assert models.architecture("alexnet_small") == dict(
        name="alexnet_small", num_classes=10, in_channels=1, input_size=28, width=24, dropout=0.5, init="he",
        lrn_groups=1, activation="relu", lrn=True, pool_size=3, lrn_alpha=1e-4, pad_pools=False,
        connectivity="towers", leave_out=None)
    with pytest.raises(ValueError, match="alexnet_owt: got an unexpected keyword argument 'width'"):
        models.architecture("alexnet_owt", width=8)
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        models.architecture("vgg")
