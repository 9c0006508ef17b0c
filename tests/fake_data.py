"""Small data sets in the real files' formats, for the tests (Fashion-MNIST's IDX files,
CIFAR-10's python batches), a small network's training checkpoint with pictures for it, and the
small convolution of the tiled GEMM's traffic tests."""
import os

import numpy as np
from PIL import Image

from minicnn import checkpoint, models
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


def write_small_checkpoint(path, classes, seed=3, start_seed=None, **changes):
    """A training checkpoint at ``path`` of the small AlexNet (width 4, random weights of ``seed``;
    ``changes``: other arguments of ``alexnet_small``) as fit would record a run of
    examples/train_alexnet.py on Fashion-MNIST: 28x28 grey pictures, normalised by 0.3 and 0.4,
    ``classes`` its ten names, started from the weights of ``start_seed`` (default: ``seed``)."""
    architecture = dict(dict(name="alexnet_small", num_classes=10, in_channels=1, width=4, input_size=28), **changes)
    checkpoint.save(str(path), models.build(**architecture, seed=seed), None, dict(
        model="alexnet_small", epoch=1, split="none", config=dict(
            architecture=architecture, input_size=28, mean=0.3, std=0.4, classes=classes, dataset="fashion-mnist",
            script="train_alexnet.py", seed=seed if start_seed is None else start_seed)))


def write_pictures_of_one_name(folder, seed=2):
    """Two random 28x28 grey pictures of one name in two folders: [folder/a/x.png, folder/b/x.png]."""
    rng = np.random.default_rng(seed)
    paths = []
    for part in ("a", "b"):
        os.makedirs(os.path.join(folder, part))
        paths.append(os.path.join(folder, part, "x.png"))
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(paths[-1])
    return paths


def small_conv():
    """The convolution the tiled GEMM's traffic tests count (tests/test_gemm.py, tests/test_readme.py):
    x (2, 16, 16, 16), w (32, 16, 3, 3), b (32,) and a dL/dy (2, 32, 16, 16), float32; it runs at
    stride 1 with a padding of 1 and the ReLU fused."""
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 16, 16, 16)), rng.standard_normal((32, 16, 3, 3)), rng.standard_normal(32)
    dout = rng.standard_normal((2, 32, 16, 16))
    return tuple(a.astype(np.float32) for a in (x, w, b, dout))
