"""Data sets and batching for minicnn.

``DATASETS`` maps a name to what the trainer needs: a ``load(split, folder, download_missing=False,
progress=None)`` function returning (uint8 images (N, [C,] H, W), int64 labels), which fetches
the files when asked and none are found, the class names, the channels, the per-channel
pixel statistics of p / 255 over the training set (for normalisation), and the ``background``
pixel the pictures lie on (Fashion-MNIST's black; None for CIFAR-10's photos, which have none).
"""
from minicnn.data import cifar10, fashion_mnist
from minicnn.data.download import DataError

DATASETS = {
    "fashion-mnist": dict(load=fashion_mnist.load, classes=fashion_mnist.CLASSES, channels=1, size=28,
                          mean=(0.2860,), std=(0.3530,), background=0),
    "cifar10": dict(load=cifar10.load, classes=cifar10.CLASSES, channels=3, size=32,
                    mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616), background=None),
}


def run_splits(train, test, val_size, limit=0):
    """{train, val, test: (images, labels)} of a data set's ``train`` and ``test`` splits (each
    (images, labels)) as ``examples/train_alexnet.py`` divides them: with ``limit``, the first
    ``limit`` training images and the first limit // 5 test images (at least one); the first
    ``val_size`` training images held out for validation (at most a tenth of them with ``limit``),
    the rest trained on. ValueError where that holds out every training image."""
    if limit:
        train = tuple(a[:limit] for a in train)
        test = tuple(a[:max(1, limit // 5)] for a in test)
    images, labels = train
    held = min(val_size, len(labels) // 10 if limit else len(labels))
    if held == len(labels):
        raise ValueError(f"--val-size {val_size} holds out all {len(labels)} training images; keep some to train on")
    return dict(train=(images[held:], labels[held:]), val=(images[:held], labels[:held]), test=tuple(test))


def imagenet_classes():
    """The 1000 ILSVRC-2012 class names in index order (the file shipped with the package)."""
    import os
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet_classes.txt")
    with open(path, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert len(names) == 1000, f"{path} holds {len(names)} names, not 1000"
    return names


__all__ = ["DATASETS", "DataError", "cifar10", "fashion_mnist", "imagenet_classes", "run_splits"]
