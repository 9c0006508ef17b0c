"""Layer fusion (minicnn/fusion.py): a model with every conv's ReLU fused in gives the same
outputs, input gradients and parameter gradients as the unfused model, exactly (float64), on the
CPU and through the kernels (simulator, and GPU where there is one)."""
import numpy as np
import pytest

from minicnn import SoftmaxCrossEntropy, models, towers
from minicnn.backend import to_device, to_numpy
from minicnn.fusion import fuse_conv_relu
from minicnn.layers.conv import Conv2D
from minicnn.layers.relu import ReLU


def forward_backward(model, device, x, labels):
    model.to(device)
    loss = SoftmaxCrossEntropy().to(device)
    logits = model.forward(to_device(x, device), train=True)
    loss.forward(logits, to_device(labels, device))
    dx = model.backward(loss.backward())
    return to_numpy(logits), to_numpy(dx), {n: to_numpy(p.grad) for n, p in model.named_params()}


def check_fused_equals_unfused(device):
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    labels = np.array([1, 4, 9])
    plain = models.alexnet_small(width=4, dtype=np.float64, seed=5)
    fused = fuse_conv_relu(models.alexnet_small(width=4, dtype=np.float64, seed=5))
    expected, got = forward_backward(plain, device, x, labels), forward_backward(fused, device, x, labels)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    for name, grad in expected[2].items():
        np.testing.assert_array_equal(got[2][name], grad, err_msg=name)


def test_fused_model_equals_unfused_exactly_on_the_cpu():
    check_fused_equals_unfused("cpu")


def test_fused_model_equals_unfused_exactly_through_the_kernels(kernel_device):
    check_fused_equals_unfused(kernel_device)


def test_fusion_folds_each_conv_relu_pair_and_keeps_the_parameter_names():
    plain = models.alexnet(lrn_groups=2)
    fused = fuse_conv_relu(models.alexnet(lrn_groups=2))
    convs = [layer for layer in fused if isinstance(layer, Conv2D)]
    assert len(convs) == 5 and all(layer.relu for layer in convs)
    relus = [name for name, layer in fused.layers.items() if isinstance(layer, ReLU)]
    assert relus == ["relu6", "relu7"]                     # the fully connected layers' stay
    assert list(fused.state_dict()) == list(plain.state_dict())
    assert "relu=True" in repr(fused)
    split = towers.two_tower(fused)
    assert all(layer.relu for tower in split.towers for layer in tower if isinstance(layer, Conv2D))
    with pytest.raises(TypeError, match="fuse before towers.two_tower"):
        fuse_conv_relu(split)
