"""AlexNet models: exact parameter counts and multiply-adds, output shapes, initialisation, summary."""
import numpy as np
import pytest

from minicnn import Sequential, models
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
    for width in (3, 0, 2.0, True):   # the groups of conv2/4/5 need an even width; not a Conv2D traceback
        with pytest.raises(ValueError, match=rf"^alexnet_small: width must be an even integer >= 2 .+, got {width!r}$"):
            models.alexnet_small(width=width)


def test_paper_initialisation():
    model = models.alexnet(num_classes=10)
    for name, p in model.named_params():
        layer, kind = name.split(".")
        if kind == "bias":
            assert (p.data == (1.0 if layer in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0)).all(), name
    w = model["fc6"].params["weight"].data
    assert abs(w.std() - 0.01) < 1e-4 and abs(w.mean()) < 1e-4


def test_summary_text_and_unknown_model():
    text = summary(models.alexnet(), (1, 3, 227, 227))
    assert "Total parameters: 60,965,224" in text and "724.4 M" in text
    with pytest.raises(ValueError, match="unknown model 'vgg': expected one of alexnet"):
        models.build("vgg")
    with pytest.raises(ValueError, match=r"^the input of shape \(1, 3, 224, 224\) reaches layer fc6 as \(1, 6400\), "
                                         r"which it cannot take: Dense\(9216, 4096\)"):
        summary(models.alexnet(), (1, 3, 224, 224))   # the 2012 network's 227, not torchvision's 224
    empty = summary(Sequential([]), (1, 3, 8, 8)).splitlines()   # the identity: a table of no rows
    assert empty[1] == empty[2] == "=" * len(empty[0]) and empty[3:] == [
        "Total parameters: 0", "Multiply-adds per image (forward): 0 (0.0 M)"]


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
