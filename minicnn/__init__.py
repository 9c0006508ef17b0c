"""minicnn: a from-scratch convolutional network framework (NumPy on the CPU, CuPy on the GPU).

Every layer writes its own forward and backward; there is no autograd. A layer (``Layer``) has
``forward(x, train)``, ``backward(dout)``, which returns dL/dx and fills each parameter's
``.grad``, and ``to(device)``: on "cpu" it runs its NumPy code, on "cuda" minicnn's own CUDA
kernels (``kernels/*.cu``) through CuPy, on "sim" the same kernels compiled for the CPU by the
kernel simulator. Images are NCHW float32 (float64 for gradient checks); shapes and names follow
PyTorch's, so state dicts compare one to one.

A network, one training step and a gradient check:

>>> import numpy as np
>>> from minicnn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, SoftmaxCrossEntropy
>>> from minicnn.optim import SGD
>>> rng = np.random.default_rng(0)
>>> model = Sequential([("conv1", Conv2D(1, 8, 3, padding=1, rng=rng)), ("relu1", ReLU()),
...                     ("pool1", MaxPool2D(3, stride=2)), ("flatten", Flatten()),
...                     ("fc", Dense(8 * 13 * 13, 10, rng=rng))])
>>> model.output_shape((4, 1, 28, 28))
(4, 10)
>>> x, labels = rng.standard_normal((4, 1, 28, 28)).astype(np.float32), np.array([0, 1, 2, 3])
>>> loss, optimizer = SoftmaxCrossEntropy(), SGD(model, lr=0.01)
>>> value = loss.forward(model.forward(x, train=True), labels)
>>> dx = model.backward(loss.backward()); optimizer.step()
>>> dx.shape, model["conv1"].params["weight"].grad.shape
((4, 1, 28, 28), (8, 1, 3, 3))
>>> from minicnn.gradcheck import check_layer
>>> conv = Conv2D(2, 4, 3, padding=1, groups=2, dtype=np.float64, rng=rng)
>>> result = check_layer(conv, rng.standard_normal((2, 2, 5, 5)))
>>> list(result.errors), result.ok   # relative errors against central differences, all < 1e-6
(['input', 'weight', 'bias'], True)

Where things are:

- ``minicnn.layers.<name>``: each layer with its NumPy forward and backward (conv, maxpool, lrn,
  lrn_maxpool, relu, tanh, dropout, dense, flatten, batchnorm); ``kernels/<name>.cu``: its CUDA
  kernels, launched by ``minicnn.launch`` (a convolution's are ``kernels/im2col.cu``, a GEMM and
  ``kernels/bias.cu``, a dense layer's a GEMM and ``kernels/bias.cu``, and ``minicnn.gemm``
  chooses cuBLAS or ``kernels/gemm_tiled.cu``; flatten is a reshape);
  ``tests/test_<name>.py``: its tests (``tests/test_relu_dropout_flatten.py``,
  ``tests/test_dense_batchnorm.py`` and ``tests/test_fusion.py`` hold the rest).
- ``minicnn.models``: AlexNet (``alexnet``, ``alexnet_owt``, ``alexnet_bn``, ``alexnet_small``);
  ``minicnn.summary.summary(model, input_shape)``: its table of shapes, parameters and
  multiply-adds; ``minicnn.fusion``: conv+ReLU, fc+ReLU and LRN+max-pool fused.
- ``minicnn.optim`` (SGD as the paper writes it, schedules), ``minicnn.train`` (the training loop of
  ``examples/train_alexnet.py``: ``fit(model, data, cfg)`` trains any network on uint8 images,
  ``cfg`` needing only ``epochs``, ``batch_size``, ``lr`` and ``out``), ``minicnn.inference`` (class
  probabilities, ten crops, ensembles), ``minicnn.ensemble`` (networks rebuilt from weights files,
  each seeing a picture as in its training: ``examples/predict.py``'s and
  ``examples/evaluate.py``'s), ``minicnn.occlusion`` (where covering a picture changes a prediction:
  Zeiler and Fergus's test), ``minicnn.saliency`` (the gradient of a class's score with respect to
  the pixels: Simonyan et al.'s saliency map), ``minicnn.neighbours`` (the training images nearest
  to a test image in the last hidden layer: the paper's Figure 4, right), ``minicnn.checkpoint``
  (atomic checkpoints), ``minicnn.data`` (Fashion-MNIST, CIFAR-10, image folders, batching and
  augmentation), ``minicnn.plots`` (a run's curves, several runs' training errors side by side
  (the paper's Figure 1: ReLU against tanh), confusion matrix, largest losses, first test images
  with their five most probable classes (Figure 4, left) and conv1 filters, a prediction's
  occlusion and saliency maps, and nearest neighbours, as Figures or PNGs).
- ``minicnn.towers``: AlexNet's two-device split, and ``minicnn.tower_filters`` whether its two
  towers learn different conv1 filters (the paper's Figure 3); ``minicnn.distributed`` and
  ``minicnn.hybrid``: data-parallel training over MPI and the "one weird trick".
- ``minicnn.gradcheck``: the one way a backward pass is checked (``python -m minicnn.gradcheck``);
  ``minicnn.simulator``: the CUDA kernels on a CPU; ``minicnn.kernel_versions``: their numbered
  versions.
- ``minicnn.environment_variables``: the variables minicnn reads, checked in one place (its
  threads, the folder it keeps downloads and caches in, MPI's deadline, ``MINICNN_SIMULATE``).

README.md tells the whole story, with the commands and the measured figures.
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
                            MaxPool2D, Param, ReLU, Tanh)
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


__all__ = ["Conv2D", "MaxPool2D", "LRN", "ReLU", "Tanh", "Dropout", "Dense", "Flatten", "BatchNorm2D",
           "LRNMaxPool", "Layer", "Param", "Sequential", "SoftmaxCrossEntropy", "gradcheck", "losses",
           "cuda_available", "get_array_module", "to_device", "to_numpy"]
