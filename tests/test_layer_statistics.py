"""minicnn.layer_statistics and examples/evaluate.py --layers: each layer's output statistics over
batches are those of its outputs on the whole set computed in one piece, an LRN's divisor range
is that of the paper's formula evaluated by a loop over the channels, and each parameter's
figures are those of its values summed one by one."""
import json
import os
import sys

import numpy as np
import pytest

from minicnn import LRN, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential, checkpoint, models
from minicnn.data import fashion_mnist
from minicnn.inference import normalise
from minicnn.layer_statistics import LayerStatistics, parameter_rows, parameter_table
from minicnn.weights import model_from_checkpoint

from fake_data import write_fake_fashion

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import evaluate  # noqa: E402


def small_network(rng):
    # alpha large enough that the divisor varies from unit to unit, as on the paper's raw pixels
    return Sequential([
        ("conv1", Conv2D(2, 6, 3, padding=1, dtype=np.float64, rng=rng)), ("relu1", ReLU()),
        ("norm1", LRN(5, alpha=0.5, beta=0.75, k=2.0)), ("pool1", MaxPool2D(3, stride=2)),
        ("flatten", Flatten()), ("fc", Dense(6 * 3 * 3, 4, dtype=np.float64, rng=rng)),
        ("dropout_after_fc", Dropout(0.5)),   # a name longer than the layer column's least width
    ])


def lrn_divisor_by_loop(x, size, alpha, beta, k):
    """(k + alpha / size * sum of x[c'] ** 2 over c' in [c - size // 2, c + (size - 1) // 2]) ** beta."""
    divisor = np.empty_like(x)
    for c in range(x.shape[1]):
        window = x[:, max(0, c - size // 2):c + (size - 1) // 2 + 1]
        divisor[:, c] = (k + alpha / size * (window ** 2).sum(axis=1)) ** beta
    return divisor


def test_the_statistics_of_batches_are_those_of_the_whole_set():
    rng = np.random.default_rng(0)
    model = small_network(rng)
    x = rng.standard_normal((7, 2, 8, 8))
    stats = LayerStatistics(model)
    for batch in (x[:3], x[3:]):   # two batches of other sizes
        stats.add(batch)
    rows = stats.rows()
    assert [r["name"] for r in rows] == ["conv1", "relu1", "norm1", "pool1", "flatten", "fc", "dropout_after_fc"]
    assert [r["type"] for r in rows] == ["Conv2D", "ReLU", "LRN", "MaxPool2D", "Flatten", "Dense", "Dropout"]
    h = x
    for row, (name, layer) in zip(rows, model.named_children()):
        inputs, h = h, layer.forward(h, train=False)   # the whole set in one piece
        assert row["output"] == h.shape[1:]
        assert row["mean"] == pytest.approx(h.mean(), rel=1e-12, abs=1e-15)
        assert row["rms"] == pytest.approx(np.sqrt((h ** 2).mean()), rel=1e-12)
        assert row["largest"] == np.abs(h).max() and row["zeros"] == np.mean(h == 0)
        if name == "norm1":
            divisor = lrn_divisor_by_loop(inputs, 5, 0.5, 0.75, 2.0)[inputs != 0]
            assert row["divisor"] == pytest.approx((divisor.min(), divisor.max()), rel=1e-12)
            assert divisor.max() > 1.2 * divisor.min()   # a real normalisation, not a fixed scale
        else:
            assert row["divisor"] is None
    assert rows[1]["zeros"] > 0.3 and rows[6]["zeros"] == rows[5]["zeros"] == 0   # dropout is off
    lines = stats.table().splitlines()
    assert lines[0].split() == ["layer", "type", "output", "mean", "rms", "largest", "zeros", "LRN", "divisor"]
    assert lines[4].startswith("norm1") and lines[4].endswith(
        f"{rows[2]['divisor'][0]:.4f} to {rows[2]['divisor'][1]:.4f}")
    assert lines[3].split()[:3] == ["relu1", "ReLU", "6x8x8"] and lines[3].split()[-1] == f"{rows[1]['zeros']:.1%}"
    # the columns line up under their headings, the layer's widened for its longest name
    assert [line.index(row["type"]) for line, row in zip(lines[2:], rows)] == [len("dropout_after_fc") + 2] * len(rows)
    assert lines[0].index("type") == len("dropout_after_fc") + 2


def test_the_small_alexnets_lrn_divides_normalised_images_by_nearly_k_to_the_beta():
    """At the start, on pixels normalised as in training, the sums of squares stay small against
    k = 2: alexnet_small's LRN divides every activity by 2 ** 0.75 to within 0.1%."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (4, 1, 28, 28), dtype=np.uint8)
    stats = LayerStatistics(models.alexnet_small(width=8))
    stats.add(normalise(pixels, 0.286, 0.353))
    for row in stats.rows():
        if row["type"] == "LRN":
            assert 0.99999 * 2 ** 0.75 <= row["divisor"][0] <= row["divisor"][1] < 1.001 * 2 ** 0.75   # float32's


def test_each_parameters_figures_are_its_values_summed_one_by_one():
    """parameter_rows: for each of named_params' parameters, its mean, rms and largest magnitude,
    here summed by a plain loop over the values in float64; the table prints them row by row."""
    model = small_network(np.random.default_rng(3))
    model["fc"].params["bias"].data[...] = [1.0, -2.0, 0.5, 0.0]
    rows = parameter_rows(model)
    assert [r["name"] for r in rows] == ["conv1.weight", "conv1.bias", "fc.weight", "fc.bias"]
    for row, (name, p) in zip(rows, model.named_params()):
        values = [float(v) for v in p.data.ravel()]
        assert row["shape"] == p.shape
        assert row["mean"] == pytest.approx(sum(values) / len(values), rel=1e-12, abs=1e-15)
        assert row["rms"] == pytest.approx((sum(v * v for v in values) / len(values)) ** 0.5, rel=1e-12)
        assert row["largest"] == max(abs(v) for v in values)
    assert rows[3]["mean"] == -0.125 and rows[3]["rms"] == pytest.approx((5.25 / 4) ** 0.5) and rows[3]["largest"] == 2
    lines = parameter_table(model).splitlines()
    assert lines[0].split() == ["parameter", "shape", "mean", "rms", "largest"] and len(lines) == 2 + len(rows)
    assert lines[5].split() == ["fc.bias", "4", "-0.1250", f"{(5.25 / 4) ** 0.5:.4f}", "2.000"]
    assert lines[2].split()[:2] == ["conv1.weight", "6x2x3x3"]


def test_what_cannot_be_described_is_refused():
    with pytest.raises(TypeError, match="LayerStatistics walks a Sequential's layers one by one; got ReLU"):
        LayerStatistics(ReLU())
    with pytest.raises(ValueError, match="LayerStatistics: no batch added yet"):
        LayerStatistics(small_network(np.random.default_rng(0))).rows()


def saved_network(tmp_path, data, seed=0):
    architecture = dict(name="alexnet_small", num_classes=10, in_channels=1, width=4, input_size=28)
    config = dict(architecture=architecture, model_name="alexnet_small", input_size=28, image_size=28, mean=0.3,
                  std=0.4, classes=list(fashion_mnist.CLASSES), dataset="fashion-mnist", data=data)
    path = str(tmp_path / f"net{seed}.npz")
    checkpoint.save(path, models.build(**architecture, seed=seed), None,
                    dict(model="alexnet_small", epoch=1, split="none", config=config))
    return path


def test_evaluate_prints_and_writes_each_layers_statistics_on_the_test_set(tmp_path, capsys):
    data = str(tmp_path / "data")
    write_fake_fashion(data, n_test=12)
    path = saved_network(tmp_path, data)
    out = tmp_path / "evaluation"
    evaluate.main(["--weights", path, "--layers", "--batch-size", "5", "--out", str(out), "--no-progress"])
    shown = capsys.readouterr().out
    model, config = model_from_checkpoint(path)
    images, _ = fashion_mnist.load("test", data)
    expected = LayerStatistics(model)
    expected.add(normalise(images[:, None], config["mean"], config["std"]))   # all 12 at once
    rows = json.loads((out / "evaluation.json").read_text())["layers"]
    assert [r["name"] for r in rows] == [r["name"] for r in expected.rows()]
    for row, reference in zip(rows, expected.rows()):
        assert row["output"] == list(reference["output"]) and row["zeros"] == reference["zeros"]
        assert [row["mean"], row["rms"], row["largest"]] == pytest.approx(
            [reference["mean"], reference["rms"], reference["largest"]], rel=1e-5, abs=1e-7)
    assert "the outputs of each layer on the 12 images tested:\n" + "\n".join(
        expected.table().splitlines()[:2]) in shown
    parameters = json.loads((out / "evaluation.json").read_text())["parameters"]
    assert parameters == [dict(row, shape=list(row["shape"])) for row in parameter_rows(model)]
    assert "the parameters of each layer:\n" + parameter_table(model) + "\n" in shown
    with pytest.raises(SystemExit):
        evaluate.main(["--weights", path, "--weights", saved_network(tmp_path, data, 1), "--layers"])
    assert "--layers describes the layers of one network, and --weights gives 2: give one" in capsys.readouterr().err


def test_a_start_is_described_on_the_first_test_images(tmp_path, capsys):
    """python -m minicnn.layer_statistics: the network --init and --seed start, its loss on the
    first --images test images (here summed image by image in float64 from its logits), and both
    tables as LayerStatistics and parameter_table make them of those images."""
    import math

    from minicnn import layer_statistics
    data = str(tmp_path / "data")
    write_fake_fashion(data, n_test=12)
    layer_statistics.main(["--init", "he-unit-biases", "--seed", "2", "--width", "4", "--images", "10",
                           "--data", data])
    shown = capsys.readouterr().out
    images, labels = fashion_mnist.load("test", data)
    model = models.alexnet_small(width=4, seed=2, init="he-unit-biases")
    x = normalise(images[:10, None], 0.2860, 0.3530)
    expected = LayerStatistics(model)
    logits = expected.add(x).astype(np.float64)
    losses = [math.log(sum(math.exp(z) for z in row)) - row[label] for row, label in zip(logits, labels[:10])]
    first = shown.splitlines()[0]
    assert first.startswith("alexnet_small (width 4) as --init he-unit-biases starts it (seed 2), on the first 10 "
                            "test images of fashion-mnist: loss ")
    assert float(first.split("loss ")[1].split()[0]) == pytest.approx(sum(losses) / 10, abs=1e-4)
    assert first.endswith("(an even guess: ln 10 = 2.3026)")
    assert "the outputs of each layer:\n" + expected.table() + "\n" in shown
    assert "the parameters of each layer:\n" + parameter_table(model) + "\n" in shown
    # the network a training run of the same flags starts from (train_alexnet.py's network())
    import train_alexnet
    from minicnn.data import DATASETS
    args = train_alexnet.parse_args(["--init", "he-unit-biases", "--seed", "2", "--width", "4"])
    trained = models.build(**train_alexnet.architecture_of(args, "alexnet_small", DATASETS["fashion-mnist"], 28),
                           seed=args.seed)
    assert [name for name, _ in trained.named_params()] == [name for name, _ in model.named_params()]
    assert all(np.array_equal(a.data, b.data) for (_, a), (_, b) in zip(trained.named_params(), model.named_params()))
    with pytest.raises(SystemExit, match=r"^error: Fashion-MNIST not found in .*none \(no such folder\)"):
        layer_statistics.main(["--data", str(tmp_path / "none")])


def test_the_kernel_devices_give_the_cpus_statistics(kernel_device):
    """Every layer run by minicnn's CUDA kernels (the simulator; a GPU where there is one): the
    CPU's figures, to float32's rounding; its parameters' figures, read from the device: the CPU's."""
    rng = np.random.default_rng(2)
    x = normalise(rng.integers(0, 256, (2, 1, 28, 28), dtype=np.uint8), 0.286, 0.353)
    figures, parameters = {}, {}
    for device in ("cpu", kernel_device):
        model = models.alexnet_small(width=4).to(device)
        stats = LayerStatistics(model)
        from minicnn.backend import to_device
        stats.add(to_device(x, device))
        figures[device], parameters[device] = stats.rows(), parameter_rows(model)
    assert parameters[kernel_device] == parameters["cpu"]   # the same values, wherever they are
    for cpu, kernels in zip(figures["cpu"], figures[kernel_device]):
        assert kernels["name"] == cpu["name"] and kernels["zeros"] == pytest.approx(cpu["zeros"], abs=1e-3)
        assert [kernels["mean"], kernels["rms"], kernels["largest"]] == pytest.approx(
            [cpu["mean"], cpu["rms"], cpu["largest"]], rel=1e-4, abs=1e-6)
        assert (kernels["divisor"] is None) == (cpu["divisor"] is None)
        if cpu["divisor"]:
            assert kernels["divisor"] == pytest.approx(cpu["divisor"], rel=1e-5)
