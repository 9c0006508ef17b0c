"""Every layer against PyTorch (float64, forward and backward), where PyTorch is installed; then a
training step of each network against its twin written in PyTorch's layers."""
import numpy as np
import pytest

from minicnn import LRN, BatchNorm2D, Conv2D, Dense, Dropout, MaxPool2D, ReLU, SoftmaxCrossEntropy, Tanh, models
from inputs import distinct_values

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_grads(fn, x, *params, dout):
    tx = torch.tensor(x, requires_grad=True)
    tparams = [torch.tensor(p, requires_grad=True) for p in params]
    y = fn(tx, *tparams)
    y.backward(torch.tensor(dout))
    return y.detach().numpy(), tx.grad.numpy(), [p.grad.numpy() for p in tparams]


def compare(layer, x, fn, param_names=(), rtol=1e-11):
    rng = np.random.default_rng(5)
    y = layer.forward(x)
    dout = rng.standard_normal(y.shape)
    dx = layer.backward(dout)
    ty, tdx, tgrads = torch_grads(fn, x, *[layer.params[n].data for n in param_names], dout=dout)
    np.testing.assert_allclose(y, ty, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=rtol, atol=1e-12)
    for name, tg in zip(param_names, tgrads):
        np.testing.assert_allclose(layer.params[name].grad, tg, rtol=rtol, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("c, o, k, s, p, g, hw", [
    (3, 8, 11, 4, 0, 1, 27),   # conv1
    (8, 8, 5, 1, 2, 2, 9),     # conv2
    (8, 6, 3, 1, 1, 1, 7),     # conv3
    (6, 6, 3, 1, 1, 2, 7),     # conv4/5
])
def test_conv2d(c, o, k, s, p, g, hw, rng):
    layer = Conv2D(c, o, k, s, p, g, dtype=np.float64, rng=rng)
    x = rng.standard_normal((3, c, hw, hw))
    compare(layer, x, lambda tx, w, b: F.conv2d(tx, w, b, stride=s, padding=p, groups=g), ("weight", "bias"))


def test_maxpool_overlapping(rng):
    x = distinct_values(rng, (2, 3, 13, 13))
    compare(MaxPool2D(3, 2), x, lambda tx: F.max_pool2d(tx, 3, 2))
    compare(MaxPool2D(3, 2, padding=1), x, lambda tx: F.max_pool2d(tx, 3, 2, padding=1))


@pytest.mark.parametrize("size", [5, 4, 1])
def test_lrn(size, rng):
    x = rng.standard_normal((2, 7, 3, 3)) * 10
    compare(LRN(size, alpha=0.05, beta=0.75, k=2.0), x,
            lambda tx: F.local_response_norm(tx, size, alpha=0.05, beta=0.75, k=2.0))


def test_relu_tanh_and_dense(rng):
    compare(ReLU(), rng.standard_normal((4, 9)), F.relu)
    compare(Tanh(), 3 * rng.standard_normal((4, 9)), torch.tanh)
    layer = Dense(9, 5, dtype=np.float64, rng=rng)
    compare(layer, rng.standard_normal((4, 9)), F.linear, ("weight", "bias"))


def test_batchnorm_train_and_running_stats(rng):
    layer = BatchNorm2D(3, dtype=np.float64)
    x = rng.standard_normal((4, 3, 5, 5)) * 2 + 1
    running_mean, running_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    compare(layer, x, lambda tx, w, b: F.batch_norm(tx, running_mean, running_var, w, b, training=True,
                                                    momentum=0.1, eps=1e-5), ("weight", "bias"))
    np.testing.assert_allclose(layer.buffers["running_mean"], running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_var"], running_var.numpy(), rtol=1e-12)


def test_softmax_cross_entropy(rng):
    logits = rng.standard_normal((6, 10)) * 5
    labels = rng.integers(0, 10, 6)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, labels)
    tl = torch.tensor(logits, requires_grad=True)
    tvalue = F.cross_entropy(tl, torch.tensor(labels))
    tvalue.backward()
    assert float(value) == pytest.approx(tvalue.item(), rel=1e-13)
    np.testing.assert_allclose(loss.backward(), tl.grad.numpy(), rtol=1e-12, atol=1e-15)


# The networks, written here in PyTorch's layers from their descriptions (the paper's section 3.5,
# torchvision's alexnet, models.alexnet_small's docstring), not from minicnn.models: one training
# step of each, float64, against minicnn's. Dropout drops the units minicnn's layer drops (its own
# tests check its masks), so the step is the training one; the constants (0.5) are the paper's.

class FixedMask(torch.nn.Module):
    """Dropout with the mask (scaled by 1 / (1 - p)) of ``minicnn.Dropout(p, seed)``'s first call
    on a batch of ``shape``."""

    def __init__(self, p, seed, shape):
        super().__init__()
        self.mask = torch.tensor(Dropout(p, seed=seed).forward(np.ones(shape)))

    def forward(self, x):
        return x * self.mask


def torch_2012_layout(batch, in_channels, maps, conv1, flat, fc, classes, drop_seeds):
    """The 2012 network's layers: conv1 (``conv1`` = kernel, stride, padding) - ReLU - LRN -
    pool 3/2 - conv2 5x5 pad 2 groups 2 - ReLU - LRN - pool 3/2 - conv3 3x3 pad 1 - ReLU - conv4 and
    conv5 3x3 pad 1 groups 2 - ReLU - pool 3/2 - two FC of ``fc`` units (ReLU, dropout) - FC of
    ``classes``; ``maps`` the five convolutions' output channels, ``flat`` pool5's features."""
    nn = torch.nn
    lrn = lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    (k1, s1, p1), (c1, c2, c3, c4, c5) = conv1, maps
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, k1, stride=s1, padding=p1), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c1, c2, 5, padding=2, groups=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c3, c4, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(c4, c5, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(flat, fc), nn.ReLU(), FixedMask(0.5, drop_seeds[0], (batch, fc)),
        nn.Linear(fc, fc), nn.ReLU(), FixedMask(0.5, drop_seeds[1], (batch, fc)),
        nn.Linear(fc, classes)).double()


def torch_alexnet_2012(batch, num_classes, drop_seeds):
    """The paper's: 227x227 RGB, conv1 11x11 stride 4, 96-256-384-384-256 maps, FC 4096."""
    return torch_2012_layout(batch, 3, (96, 256, 384, 384, 256), (11, 4, 0), 256 * 6 * 6, 4096, num_classes,
                             drop_seeds)


def torch_alexnet_small(batch, drop_seeds):
    """alexnet_small at its defaults: 28x28 grey, conv1 5x5 pad 2, width 24 (24-48-72-72-48 maps),
    FC 256, 10 classes; 28 -> pool1 13 -> pool2 6 -> pool5 2."""
    return torch_2012_layout(batch, 1, (24, 48, 72, 72, 48), (5, 1, 2), 48 * 2 * 2, 256, 10, drop_seeds)


class TorchvisionAlexNet(torch.nn.Module):
    """torchvision's ``alexnet`` (its layout and state-dict names), its dropouts fixed masks."""

    def __init__(self, batch, num_classes, drop_seeds):
        super().__init__()
        nn = torch.nn
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))   # the identity at 224x224, which minicnn leaves out
        self.classifier = nn.Sequential(
            FixedMask(0.5, drop_seeds[0], (batch, 9216)), nn.Linear(9216, 4096), nn.ReLU(),
            FixedMask(0.5, drop_seeds[1], (batch, 4096)), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes))
        self.double()

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


@pytest.mark.parametrize("name", ["alexnet", "alexnet_owt", "alexnet_small"])
def test_a_training_step_of_each_network(name, rng):
    """Logits, loss, the input's gradient and every parameter's, after one forward and backward in
    training mode: minicnn's network against its PyTorch twin holding the same weights (by position
    for the 2012 networks, by torchvision's names for alexnet_owt)."""
    batch = 2
    if name == "alexnet":
        model, shape = models.alexnet(num_classes=10, dtype=np.float64, init="default", seed=3), (3, 227, 227)
        twin = torch_alexnet_2012(batch, 10, (model["drop6"].seed, model["drop7"].seed))
    elif name == "alexnet_owt":
        model, shape = models.alexnet_owt(num_classes=10, dtype=np.float64, seed=3), (3, 224, 224)
        twin = TorchvisionAlexNet(batch, 10, (model["classifier"][0].seed, model["classifier"][3].seed))
    else:
        model, shape = models.alexnet_small(dtype=np.float64, seed=3), (1, 28, 28)
        twin = torch_alexnet_small(batch, (model["drop6"].seed, model["drop7"].seed))
    if name == "alexnet_owt":   # by name: minicnn's state dict is torchvision's
        twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()}, strict=True)
    else:
        ours, theirs = list(model.named_params()), list(twin.parameters())
        assert [p.shape for _, p in ours] == [tuple(t.shape) for t in theirs]
        with torch.no_grad():
            for (_, p), t in zip(ours, theirs):
                t.copy_(torch.tensor(p.data))
    x, labels = rng.standard_normal((batch, *shape)), rng.integers(0, 10, batch)
    loss = SoftmaxCrossEntropy()
    logits = model.forward(x, train=True)
    value = loss.forward(logits, labels)
    dx = model.backward(loss.backward())
    tx = torch.tensor(x, requires_grad=True)
    tlogits = twin(tx)
    tvalue = F.cross_entropy(tlogits, torch.tensor(labels))
    tvalue.backward()
    np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert float(value) == pytest.approx(tvalue.item(), rel=1e-11)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-15 * np.abs(dx).max())
    named = dict(twin.named_parameters())
    for (ours_name, p), (theirs_name, t) in zip(model.named_params(), named.items()):
        grad = t.grad.numpy()
        np.testing.assert_allclose(p.grad, grad, rtol=1e-9, atol=1e-12 * np.abs(grad).max(),
                                   err_msg=f"{ours_name} against {theirs_name}")
