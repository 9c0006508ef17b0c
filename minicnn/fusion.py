"""Layer fusion: fewer passes over memory for the same results.

A ReLU right after a convolution costs a whole pass over the conv's output forward (read y,
write y) and another backward (read dout and y, write dx). ``fuse_conv_relu`` folds every such
ReLU into its convolution (``Conv2D(relu=True)``): the forward applies it in the kernel that
already adds the bias and writes the output, the backward masks dout in the kernel that already
reads it. Results are identical to the unfused model, bit for bit, on every device; parameter
names and checkpoints do not change (a ReLU has no state).

    model = fuse_conv_relu(models.alexnet())     # conv1 ... conv5 now carry their ReLU

``examples/train_alexnet.py`` fuses on the kernel devices ("cuda", "sim") unless --no-fuse.
"""
from minicnn.layers.conv import Conv2D
from minicnn.layers.relu import ReLU
from minicnn.sequential import Sequential


def fuse_conv_relu(model):
    """Fold every ReLU that directly follows a Conv2D into it, in ``model`` (a Sequential, nested
    Sequentials included) in place; returns ``model``. Fuse before ``towers.two_tower``, which
    keeps the fused layers (it refuses a model split already)."""
    if not isinstance(model, Sequential):
        raise TypeError(f"fuse_conv_relu: expected a Sequential (fuse before towers.two_tower), "
                        f"got {type(model).__name__}")
    kept, previous = [], None
    for name, layer in model.layers.items():
        if isinstance(layer, ReLU) and isinstance(previous, Conv2D) and not previous.relu:
            previous.relu = True
            previous._cache = None
            previous = layer
            continue
        if isinstance(layer, Sequential):
            fuse_conv_relu(layer)
        kept.append((name, layer))
        previous = layer
    model.layers.clear()
    model.layers.update(kept)
    return model
