"""Small data sets in the real files' formats, for the tests (Fashion-MNIST's IDX files,
CIFAR-10's python batches), and the small convolution of the tiled GEMM's traffic tests."""
import os

import numpy as np

from minicnn.data import cifar10, fashion_mnist


def write_fake_fashion(folder, n_train=64, n_test=16, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
        images[np.arange(n), labels * 2 + 3, :] = 255   # a learnable stripe per class
        fashion_mnist.write_idx(os.path.join(folder, fashion_mnist.FILES[split][0]), images)
        fashion_mnist.write_idx(os.path.join(folder, fashion_mnist.FILES[split][1]), labels)


def write_fake_cifar(folder, per_batch=20, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for name in cifar10.TRAIN_FILES + cifar10.TEST_FILES:
        labels = rng.integers(0, 10, per_batch)
        images = (rng.random((per_batch, 3, 32, 32)) * 255).astype(np.uint8)
        cifar10.write_batch(os.path.join(folder, name), images, labels)


def small_conv():
    """The convolution the tiled GEMM's traffic tests count (tests/test_gemm.py, tests/test_readme.py):
    x (2, 16, 16, 16), w (32, 16, 3, 3), b (32,) and a dL/dy (2, 32, 16, 16), float32; it runs at
    stride 1 with a padding of 1 and the ReLU fused."""
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 16, 16, 16)), rng.standard_normal((32, 16, 3, 3)), rng.standard_normal(32)
    dout = rng.standard_normal((2, 32, 16, 16))
    return tuple(a.astype(np.float32) for a in (x, w, b, dout))
