"""CIFAR-10 from its python batches (``cifar-10-batches-py``: data_batch_1..5, test_batch), the
format of cuda-convnet's own data: 50,000 train + 10,000 test 32x32 RGB images, 10 classes.

The batches are pickles. Unpickling can run arbitrary code, so they are read with an unpickler
that only builds plain containers and NumPy arrays and refuses everything else.
"""
import os
import pickle

import numpy as np

from minicnn.data.fashion_mnist import DataError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
SEARCH_PATH = (os.path.expanduser("~/.cache/minicnn/cifar-10-batches-py"),)
HOW_TO_GET = ("download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
              "unpack it so that ~/.cache/minicnn/cifar-10-batches-py/data_batch_1 exists, or pass --data")

# The only globals a CIFAR batch pickle refers to (NumPy 1 and NumPy 2 spell the module differently).
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("_codecs", "encode")}   # protocol-2 pickles spell byte strings with it; harmless


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only arrays")
        if module == "_codecs":
            import codecs
            return codecs.encode
        if module.startswith("numpy") and module.endswith("multiarray"):
            return getattr(np._core.multiarray if hasattr(np, "_core") else np.core.multiarray, name)
        return getattr(np, name)


def read_batch(path):
    """Return (images uint8 (N, 3, 32, 32), labels int64 (N,)) of one batch file."""
    try:
        with open(path, "rb") as f:
            d = _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"{path}: missing; {HOW_TO_GET}") from None
    except Exception as exc:
        raise DataError(f"{path}: not a readable CIFAR-10 batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with data and labels)")
    data, labels = np.asarray(d[b"data"]), np.asarray(d[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path}: data must be uint8 (N, 3072) with N labels, got {data.dtype} "
                        f"{data.shape} and {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: labels must lie in [0, 9]")
    return data.reshape(-1, 3, 32, 32), labels


def find_folder(folder=None):
    candidates = [folder] if folder else list(SEARCH_PATH)
    for c in candidates:
        if os.path.exists(os.path.join(c, TRAIN_FILES[0])):
            return c
    raise DataError(f"CIFAR-10 not found in {', '.join(candidates)}; {HOW_TO_GET}")


def load(split, folder=None):
    """Return (images uint8 (N, 3, 32, 32), labels int64 (N,)) of ``split`` ("train" or "test")."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}: expected 'train' or 'test'")
    root = find_folder(folder)
    parts = [read_batch(os.path.join(root, f)) for f in (TRAIN_FILES if split == "train" else TEST_FILES)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def write_batch(path, images, labels):
    """Write a batch in CIFAR's format (used by the tests to make small data)."""
    with open(path, "wb") as f:
        pickle.dump({b"data": np.asarray(images, np.uint8).reshape(len(images), -1),
                     b"labels": [int(v) for v in labels]}, f, protocol=2)
