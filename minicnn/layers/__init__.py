"""minicnn's layers: each file holds one layer, its NumPy forward/backward functions and its class."""
from minicnn.layers.base import Layer, Param
from minicnn.layers.batchnorm import BatchNorm2D
from minicnn.layers.conv import Conv2D
from minicnn.layers.dense import Dense
from minicnn.layers.dropout import Dropout
from minicnn.layers.flatten import Flatten
from minicnn.layers.lrn import LRN
from minicnn.layers.lrn_maxpool import LRNMaxPool
from minicnn.layers.maxpool import MaxPool2D
from minicnn.layers.relu import ReLU
from minicnn.layers.tanh import Tanh

__all__ = ["Layer", "Param", "Conv2D", "MaxPool2D", "LRN", "ReLU", "Dropout", "Dense", "Flatten",
           "BatchNorm2D", "LRNMaxPool", "Tanh"]
