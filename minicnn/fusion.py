"""Layer fusion: fewer passes over memory for the same results. ``fuse(model)`` applies both:

A ReLU right after a convolution or a fully connected layer costs a whole pass over the layer's
output forward (read y, write y) and another backward (read dout and y, write dx). ``fuse_relu``
folds every such ReLU into its layer (``Conv2D(relu=True)``, ``Dense(relu=True)``): the forward
applies it in the kernel that already adds the bias, the backward masks dout in the kernel that
already reads it (a convolution's layout kernel, a fully connected layer's bias gradient).
Results are identical to the unfused model, bit for bit, on every device; parameter names and
checkpoints do not change (a ReLU has no state).

    model = fuse_relu(models.alexnet())     # conv1 ... conv5, fc6 and fc7 now carry their ReLU

An LRN followed by a max-pool (AlexNet's norm1, pool1 and norm2, pool2) becomes one
``LRNMaxPool`` layer ("norm1+pool1"), whose kernels never write the LRN output: the forward keeps
only the pooled maxima, the backward computes the LRN values again (``fuse_lrn_maxpool``).

``examples/train_alexnet.py`` fuses on the kernel devices ("cuda", "sim") unless --no-fuse.
"""
from minicnn.layers.conv import Conv2D
from minicnn.layers.dense import Dense
from minicnn.layers.lrn import LRN
from minicnn.layers.lrn_maxpool import LRN_MAX_SIZE, LRNMaxPool
from minicnn.layers.maxpool import MaxPool2D
from minicnn.layers.relu import ReLU
from minicnn.sequential import Sequential


def fuse(model):
    """Every fusion of this module applied to ``model`` (a Sequential) in place; returns it."""
    return fuse_lrn_maxpool(fuse_relu(model))


def fuse_relu(model):
    """Fold every ReLU that directly follows a Conv2D or a Dense into it, in ``model`` (a
    Sequential, nested Sequentials included) in place; returns ``model``. Fuse before
    ``towers.two_tower`` or ``hybrid.HybridNet``, which keep the fused layers
    (``two_tower`` refuses a model split already)."""
    if not isinstance(model, Sequential):
        raise TypeError(f"fuse_relu: expected a Sequential (fuse before towers.two_tower), "
                        f"got {type(model).__name__}")
    kept, previous = [], None
    for name, layer in model.layers.items():
        if isinstance(layer, ReLU) and isinstance(previous, (Conv2D, Dense)) and not previous.relu:
            previous.relu = True
            previous._cache = None
            previous = layer
            continue
        if isinstance(layer, Sequential):
            fuse_relu(layer)
        kept.append((name, layer))
        previous = layer
    model.layers.clear()
    model.layers.update(kept)
    return model


def fuse_lrn_maxpool(model):
    """Replace every LRN directly followed by a MaxPool2D in ``model`` (a Sequential, nested ones
    included) by one ``LRNMaxPool`` named "<lrn>+<pool>", in place; returns ``model``. An LRN
    wider than LRN_MAX_SIZE channels stays apart."""
    if not isinstance(model, Sequential):
        raise TypeError(f"fuse_lrn_maxpool: expected a Sequential (fuse before towers.two_tower), "
                        f"got {type(model).__name__}")
    kept = []
    for name, layer in model.layers.items():
        if (isinstance(layer, MaxPool2D) and kept and isinstance(kept[-1][1], LRN)
                and kept[-1][1].size <= LRN_MAX_SIZE):
            lrn_name, lrn = kept.pop()
            layer = LRNMaxPool(lrn, layer).to(layer.device)
            name = f"{lrn_name}+{name}"
        elif isinstance(layer, Sequential):
            fuse_lrn_maxpool(layer)
        kept.append((name, layer))
    model.layers.clear()
    model.layers.update(kept)
    return model
