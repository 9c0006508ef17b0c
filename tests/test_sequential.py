"""Sequential: names, forward/backward chaining, state dicts, shape inference, a whole-net gradient check."""
import numpy as np
import pytest

from minicnn import (LRN, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential)
from minicnn.gradcheck import check_layer
from inputs import distinct_values


def tiny_alexnet(dtype=np.float64, seed=0):
    """Every AlexNet ingredient in one small network (grouped conv, LRN, overlapping pool, dropout)."""
    rng = np.random.default_rng(seed)
    return Sequential([
        ("conv1", Conv2D(2, 4, 3, stride=1, padding=1, dtype=dtype, rng=rng)), ("relu1", ReLU()),
        ("norm1", LRN(3, alpha=0.5, beta=0.75, k=1.0)), ("pool1", MaxPool2D(3, 2)),
        # no bias before BatchNorm: BN removes any per-channel constant, so its gradient is 0
        ("conv2", Conv2D(4, 4, 3, padding=1, groups=2, bias=False, dtype=dtype, rng=rng)),
        ("bn2", BatchNorm2D(4, dtype=dtype)), ("relu2", ReLU()),
        ("flatten", Flatten()),
        ("fc6", Dense(16, 6, dtype=dtype, rng=rng)), ("relu6", ReLU()), ("drop6", Dropout(0.5, seed=3)),
        ("fc8", Dense(6, 3, dtype=dtype, rng=rng)),
    ])


def test_names_and_state_dict_keys():
    model = tiny_alexnet()
    keys = list(model.state_dict())
    assert keys[:5] == ["conv1.weight", "conv1.bias", "conv2.weight", "bn2.weight", "bn2.bias"]
    assert "bn2.running_mean" in keys and "fc8.bias" in keys
    nested = Sequential([("features", Sequential([Conv2D(1, 2, 3)])), ("classifier", Sequential([Dense(2, 2)]))])
    assert list(nested.state_dict()) == ["features.0.weight", "features.0.bias",
                                         "classifier.0.weight", "classifier.0.bias"]
    assert model["conv1"] is model[0]
    as_dict = Sequential({"conv": Conv2D(1, 2, 3), "fc": Dense(2, 2)})   # names from the keys, in order
    assert list(as_dict.state_dict()) == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]


def test_output_shape_without_data():
    model = tiny_alexnet()
    assert model.output_shape((5, 2, 5, 5)) == (5, 3)
    names = [name for name, _, _ in model.shapes((5, 2, 5, 5))]
    assert names[0] == "conv1" and names[-1] == "fc8"


def test_whole_network_gradient_check():
    """Every parameter of a network with every layer kind, checked in one go (dropout reseeded)."""
    model = tiny_alexnet()
    x = distinct_values(np.random.default_rng(1), (4, 2, 5, 5), gap=1e-2)
    result = check_layer(model, x)
    result.assert_ok()
    assert set(result.errors) == {"input", *dict(model.named_params())}


def test_load_state_dict_errors_name_the_tensor():
    model = tiny_alexnet()
    state = {k: v.copy() for k, v in model.state_dict().items()}
    state["fc6.weight"] = np.zeros((6, 17))
    with pytest.raises(ValueError, match=r"'fc6.weight' has shape \(6, 17\), expected \(6, 16\)"):
        model.load_state_dict(state)
    del state["fc6.weight"]
    state["extra"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['fc6.weight'\], unexpected keys \['extra'\]"):
        model.load_state_dict(state)


def test_load_state_dict_takes_nested_lists():
    """A state read back from JSON holds lists: loaded as the arrays NumPy makes of them, where
    it stopped on AttributeError 'list' object has no attribute 'shape'."""
    model, source = tiny_alexnet(), tiny_alexnet()
    for p in source.state_dict().values():
        p += 1
    model.load_state_dict({k: v.tolist() for k, v in source.state_dict().items()})
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, source.state_dict()[k])
    with pytest.raises(ValueError, match=r"'fc8.bias' has shape \(4,\), expected \(3,\)"):
        model.load_state_dict({**{k: v.tolist() for k, v in source.state_dict().items()}, "fc8.bias": [0] * 4})


def test_load_state_dict_is_all_or_nothing():
    model = tiny_alexnet()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = {k: v + 1 for k, v in before.items()}
    state["fc8.bias"] = np.zeros(4)   # one bad tensor: nothing may be loaded
    with pytest.raises(ValueError):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_random_state_round_trip():
    model = tiny_alexnet()
    x = np.random.default_rng(2).standard_normal((2, 2, 5, 5))
    state = model.random_state()
    assert state == {"drop6.seed": 3, "drop6.calls": 0}
    y1 = model.forward(x)
    model.set_random_state(state)
    np.testing.assert_array_equal(model.forward(x), y1)


def test_bad_construction():
    with pytest.raises(TypeError, match=r"item 1 \('1'\) is a int, not a Layer"):
        Sequential([ReLU(), 3])
    with pytest.raises(ValueError, match="duplicate layer name 'a'"):
        Sequential([("a", ReLU()), ("a", ReLU())])
    for name in ("a.b", "", 3):
        with pytest.raises(ValueError, match=rf"^Sequential: layer name {name!r} must be a non-empty string without "
                                             rf"'\.'$"):
            Sequential([(name, ReLU())])
    with pytest.raises(TypeError, match=r"^Sequential takes a list of layers, of \(name, layer\) pairs or a dict of "
                                        r"them, got a ReLU: give \[layer\]$"):   # "'ReLU' object is not iterable"
        Sequential(ReLU())
    with pytest.raises(TypeError, match=r"^Sequential takes a list of layers, .+, got a NoneType$"):
        Sequential(None)
    assert list(Sequential(layer for layer in (ReLU(), ReLU())).layers) == ["0", "1"]   # any iterable will do


def test_forward_and_backward_chain_every_layer_in_turn():
    """Forward runs the layers first to last, backward last to first, each once, and gives what
    the layers' own calls chained by hand give (in tiny_alexnet a ReLU's backward can be left
    out unseen: the LRN and the max-pool after it pass no gradient where it outputs 0)."""
    model, by_hand = tiny_alexnet(), tiny_alexnet()
    x = distinct_values(np.random.default_rng(1), (4, 2, 5, 5), gap=1e-2)
    calls = []
    for name, layer in model.layers.items():
        for method in ("forward", "backward"):
            def record(*args, _run=getattr(layer, method), _call=(method, name), **kwargs):
                calls.append(_call)
                return _run(*args, **kwargs)
            setattr(layer, method, record)
    y = model.forward(x)
    dout = np.random.default_rng(2).standard_normal(y.shape)
    dx = model.backward(dout)
    names = list(model.layers)
    assert calls == [("forward", n) for n in names] + [("backward", n) for n in reversed(names)]
    expected_y = x
    for layer in by_hand.layers.values():
        expected_y = layer.forward(expected_y)
    expected_dx = dout
    for layer in reversed(list(by_hand.layers.values())):
        expected_dx = layer.backward(expected_dx)
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(dx, expected_dx)
    for (name, p), (_, q) in zip(model.named_params(), by_hand.named_params()):
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)


def test_repr_nests_like_pytorchs():
    """print(model): a line per layer, named, a nested network indented under its name."""
    model = Sequential([("features", Sequential([("conv1", Conv2D(3, 4, 3)), ("relu1", ReLU())])),
                        ("fc", Dense(4, 2))])
    assert repr(model) == ("Sequential(\n"
                           "  (features): Sequential(\n"
                           "    (conv1): Conv2D(3, 4, kernel_size=3x3)\n"
                           "    (relu1): ReLU()\n"
                           "  )\n"
                           "  (fc): Dense(4, 2)\n"
                           ")")


def test_layers_on_different_devices_are_refused():
    with pytest.raises(ValueError, match=r"Sequential: layers live on different devices \['cpu', 'sim'\]; "
                                         r"move them with .to\(\) first"):
        Sequential([ReLU(), ReLU().to("sim")])


def test_shape_errors_name_the_failing_layer():
    """The layer that refuses a shape is named by its place in the network, with the shape that
    reached it and the network's input: a Dense deep inside could only say what reached it."""
    model = Sequential([Conv2D(3, 4, 3), Flatten(), Dense(99, 2)])
    with pytest.raises(ValueError, match=r"^the input of shape \(1, 3, 5, 5\) reaches layer 2 as \(1, 36\), which it "
                                         r"cannot take: Dense\(99, 2\): expected input of shape \(N, 99\), got \(1, 36\)$"):
        model.forward(np.zeros((1, 3, 5, 5), np.float32))
    nested = Sequential([("features", Sequential([("conv1", Conv2D(3, 4, 3))])), ("head", model)])
    with pytest.raises(ValueError, match=r"^layer features.conv1 cannot take the input of shape \(1, 1, 5, 5\): "
                                         r"Conv2D\(3, 4, kernel_size=3x3\): expected input of shape \(N, 3, H, W\)"):
        nested.output_shape((1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"^the input of shape \(1, 3, 7, 7\) reaches layer head.0 as \(1, 4, 5, 5\), "
                                         r"which it cannot take: Conv2D\(3, 4"):
        nested.forward(np.zeros((1, 3, 7, 7), np.float32))


def test_without_input_grad_the_bottom_layer_skips_its_input_gradient(monkeypatch):
    """Training needs no gradient of the images: Sequential.input_grad = False makes the bottom
    conv skip its dL/dx (its GEMM and col2im), and every parameter gradient stays the same."""
    from minicnn.layers import conv
    model = Sequential([("conv", Conv2D(2, 3, 3, dtype=np.float64, rng=np.random.default_rng(0))),
                        ("relu", ReLU()), ("flatten", Flatten()),
                        ("fc", Dense(3 * 4 * 4, 2, dtype=np.float64, rng=np.random.default_rng(1)))])
    x = np.random.default_rng(2).standard_normal((2, 2, 6, 6))
    dout = np.random.default_rng(3).standard_normal((2, 2))
    model.forward(x)
    assert model.backward(dout).shape == x.shape
    expected = {name: p.grad.copy() for name, p in model.named_params()}
    col2im_calls = []
    monkeypatch.setattr(conv, "col2im", lambda *a: col2im_calls.append(1))
    model.input_grad = False
    model.forward(x)
    assert model.backward(dout) is None and not col2im_calls
    for name, p in model.named_params():
        np.testing.assert_array_equal(p.grad, expected[name], err_msg=name)
    assert model["conv"].input_grad and "input_grad" not in vars(model["conv"])   # only while it ran
    dense = Dense(3, 2, dtype=np.float64)
    dense.input_grad = False
    dense.forward(np.ones((1, 3)))
    assert dense.backward(np.ones((1, 2))) is None and dense.params["weight"].grad.any()


def test_a_conv_without_input_grad_on_the_kernels(kernel_device):
    from minicnn.backend import to_device, to_numpy
    x = np.random.default_rng(4).standard_normal((2, 4, 7, 7))
    dout = np.random.default_rng(5).standard_normal((2, 6, 7, 7))
    cpu = Conv2D(4, 6, 3, padding=1, groups=2, dtype=np.float64, rng=np.random.default_rng(6))
    cpu.forward(x)
    cpu.backward(dout)
    dev = Conv2D(4, 6, 3, padding=1, groups=2, dtype=np.float64, rng=np.random.default_rng(6)).to(kernel_device)
    dev.input_grad = False
    dev.forward(to_device(x, kernel_device))
    assert dev.backward(to_device(dout, kernel_device)) is None
    for name, p in dev.params.items():
        np.testing.assert_allclose(to_numpy(p.grad), cpu.params[name].grad, rtol=1e-12, err_msg=name)


def test_named_leaves_walk_nested_networks_in_order():
    from minicnn import models
    names = [name for name, _ in models.alexnet_owt().named_leaves()]
    assert names[:3] == ["features.0", "features.1", "features.2"] and names[-1] == "classifier.6"
    assert "flatten" in names and len(names) == 21
    assert [name for name, _ in ReLU().named_leaves()] == [""]    # a leaf is its own only leaf
    assert list(models.alexnet_owt().leaves())[0].__class__.__name__ == "Conv2D"


def test_named_layers_are_the_layers_a_network_runs():
    """Nested Sequentials walked as named_leaves walks them; a fused LRN+max-pool, whose children
    hold its settings, is one layer (named_leaves lists its children)."""
    from minicnn import models
    from minicnn.fusion import fuse
    nested = models.alexnet_owt()
    assert list(nested.named_layers()) == list(nested.named_leaves())
    fused = fuse(models.alexnet())
    names = [name for name, _ in fused.named_layers()]
    assert names[:4] == ["conv1", "norm1+pool1", "conv2", "norm2+pool2"] and "relu1" not in names
    assert "norm1+pool1.lrn" in [name for name, _ in fused.named_leaves()]
    assert [type(layer).__name__ for _, layer in fused.named_layers()][1] == "LRNMaxPool"
