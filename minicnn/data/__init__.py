"""Data sets and batching for minicnn.

``DATASETS`` maps a name to what the trainer needs: a ``load(split, folder)`` function returning
(uint8 images (N, [C,] H, W), int64 labels), the class names, the channels and the per-channel
pixel statistics of p / 255 over the training set (for normalisation).
"""
from minicnn.data import cifar10, fashion_mnist
from minicnn.data.fashion_mnist import DataError

DATASETS = {
    "fashion-mnist": dict(load=fashion_mnist.load, classes=fashion_mnist.CLASSES, channels=1, size=28,
                          mean=(0.2860,), std=(0.3530,)),
    "cifar10": dict(load=cifar10.load, classes=cifar10.CLASSES, channels=3, size=32,
                    mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616)),
}

__all__ = ["DATASETS", "DataError", "cifar10", "fashion_mnist"]
