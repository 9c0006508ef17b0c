"""Every layer against PyTorch (float64, forward and backward), where PyTorch is installed."""
import numpy as np
import pytest

from minicnn import LRN, BatchNorm2D, Conv2D, Dense, MaxPool2D, ReLU, SoftmaxCrossEntropy
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


def test_relu_and_dense(rng):
    compare(ReLU(), rng.standard_normal((4, 9)), F.relu)
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
