"""minicnn: a from-scratch convolutional network framework (NumPy on the CPU, CuPy on the GPU).

Every layer writes its own forward and backward; there is no autograd. See README.md.
"""
import os
import sys

# Before NumPy loads OpenBLAS: its idle threads are to sleep as soon as a GEMM ends, not spin
# for about 0.1 s on the cores that minicnn.cpu_threads needs for the NumPy work that follows
# (measured by benchmarks/train_step.py --device cpu on 2 cores: minicnn at 0.81x of PyTorch's
# speed with the threads spinning, 0.91x to 0.96x without).
# No effect where NumPy was imported before minicnn; set the variable yourself there. OpenBLAS
# reads it once, as NumPy loads it: whether it read one is known here, and a run's log says when
# it did not (minicnn.environment.spinning_note).
_openblas_read_thread_timeout = "numpy" not in sys.modules or "OPENBLAS_THREAD_TIMEOUT" in os.environ
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from minicnn import losses  # noqa: E402 (after the variable above)
from minicnn.backend import cuda_available, get_array_module, to_device, to_numpy
from minicnn.layers import (LRN, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, Layer, LRNMaxPool,
                            MaxPool2D, Param, ReLU)
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.sequential import Sequential

__version__ = "0.1.0"


def __getattr__(name):
    # minicnn.gradcheck, imported when first used rather than with minicnn, so that
    # python -m minicnn.gradcheck runs it as a script without Python's warning that it was
    # imported already
    if name == "gradcheck":
        import importlib
        return importlib.import_module("minicnn.gradcheck")
    raise AttributeError(f"module 'minicnn' has no attribute {name!r}")


__all__ = ["Conv2D", "MaxPool2D", "LRN", "ReLU", "Dropout", "Dense", "Flatten", "BatchNorm2D",
           "LRNMaxPool", "Layer", "Param", "Sequential", "SoftmaxCrossEntropy", "gradcheck", "losses",
           "cuda_available", "get_array_module", "to_device", "to_numpy"]
