"""minicnn: a from-scratch convolutional network framework (NumPy on the CPU, CuPy on the GPU).

Every layer writes its own forward and backward; there is no autograd. See README.md.
"""
from minicnn import gradcheck, losses
from minicnn.backend import cuda_available, get_array_module, to_device, to_numpy
from minicnn.layers import (LRN, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, Layer, LRNMaxPool,
                            MaxPool2D, Param, ReLU)
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.sequential import Sequential

__version__ = "0.1.0"

__all__ = ["Conv2D", "MaxPool2D", "LRN", "ReLU", "Dropout", "Dense", "Flatten", "BatchNorm2D",
           "LRNMaxPool", "Layer", "Param", "Sequential", "SoftmaxCrossEntropy", "gradcheck", "losses",
           "cuda_available", "get_array_module", "to_device", "to_numpy"]
