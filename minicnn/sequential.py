"""Sequential: a chain of layers that is itself a layer.

    model = Sequential([("conv1", Conv2D(3, 96, 11, stride=4)), ("relu1", ReLU()), ...])
    y = model.forward(x, train=True); dx = model.backward(dout)

Layers are named by the given names, or by their position ("0", "1", ...) when a plain list is
given; parameters are then named "<layer>.<param>" ("conv1.weight"), and nested Sequentials add
their own prefix ("features.0.weight"), exactly like PyTorch's state dicts.
"""
from collections import OrderedDict

from minicnn.layers.base import Layer, without_input_grad


class LayerShapeError(ValueError):
    """A layer of a Sequential refused the shape that reached it: ``path`` is its dotted name in
    the outermost chain that saw the error, ``input_shape`` the shape that chain was given,
    ``reached`` the shape the layer was given, and ``reason`` the layer's own message."""

    def __init__(self, name, error, input_shape, reached):
        nested = isinstance(error, LayerShapeError)
        self.path = f"{name}.{error.path}" if nested else name
        self.reason = error.reason if nested else str(error)
        self.reached = error.reached if nested else reached
        self.input_shape = input_shape
        where = (f"layer {self.path} cannot take the input of shape {input_shape}" if self.reached == input_shape
                 else f"the input of shape {input_shape} reaches layer {self.path} as {self.reached}, "
                      f"which it cannot take")
        super().__init__(f"{where}: {self.reason}")


class Sequential(Layer):
    """``Sequential(layers)`` with ``layers`` a list of Layer, a list of (name, Layer) pairs or a
    dict {name: Layer}, in the order the layers run."""

    def __init__(self, layers):
        super().__init__()
        self.layers = OrderedDict()
        if isinstance(layers, Layer) or not hasattr(layers, "__iter__"):
            raise TypeError(f"Sequential takes a list of layers, of (name, layer) pairs or a dict of them, got a "
                            f"{type(layers).__name__}" + (": give [layer]" if isinstance(layers, Layer) else ""))
        items = list(layers.items()) if isinstance(layers, dict) else list(layers)
        for index, item in enumerate(items):
            name, layer = item if isinstance(item, tuple) else (str(index), item)
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {index} ({name!r}) is a {type(layer).__name__}, "
                                f"not a Layer")
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"Sequential: layer name {name!r} must be a non-empty string without '.'")
            if name in self.layers:
                raise ValueError(f"Sequential: duplicate layer name {name!r}")
            self.layers[name] = layer
        devices = {layer.device for layer in self.layers.values()}
        if len(devices) > 1:
            raise ValueError(f"Sequential: layers live on different devices {sorted(devices)}; "
                             f"move them with .to() first")
        self.device = devices.pop() if devices else "cpu"

    # With input_grad = False (Layer.input_grad), backward() returns None, skips the frozen layers
    # at the bottom of the chain, which need no gradient (fine-tuning the last layers of a
    # network), and tells the lowest layer it runs that its own dL/dx is not needed either.
    input_grad = True

    def named_children(self):
        return self.layers.items()

    def named_layers(self, prefix=""):
        """Yield (dotted name, layer) for every layer this network runs, in order, nested
        Sequentials walked ("features.0"): its leaves, except that a layer with children of its own
        (a fused LRNMaxPool, "norm1+pool1", whose children hold its settings) is one layer."""
        for name, layer in self.layers.items():
            if isinstance(layer, Sequential):
                yield from layer.named_layers(f"{prefix}{name}.")
            else:
                yield prefix + name, layer

    def __getitem__(self, key):
        if isinstance(key, int):
            return list(self.layers.values())[key]
        return self.layers[key]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers.values())

    def output_shape(self, input_shape):
        return self.shapes(input_shape)[-1][2] if self.layers else tuple(input_shape)

    def shapes(self, input_shape):
        """[(name, layer, output shape)] for every layer, without running any data.

        A shape that a layer refuses raises a LayerShapeError naming that layer's dotted name
        ("fc6", "features.conv1"), the shape the whole chain was given and the shape that reached
        the layer, where the layer's own ValueError could only say the latter."""
        out, shape = [], tuple(input_shape)
        for name, layer in self.layers.items():
            try:
                shape = layer.output_shape(shape)
            except ValueError as exc:
                raise LayerShapeError(name, exc, tuple(input_shape), shape) from None
            out.append((name, layer, shape))
        return out

    def check_array(self, x, what="input"):
        if not (hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "ndim")):
            raise TypeError(f"Sequential: {what} must be an array, got {type(x).__name__}")
        # dtype and device are checked by each layer, which knows its own parameters

    def _forward(self, x, train):
        for layer in self.layers.values():
            x = layer.forward(x, train)
        self._cache = True if train else None
        return x

    def _backward(self, dout):
        layers = list(self.layers.values())
        stop = 0
        if not self.input_grad:  # nobody needs dL/dx: stop at the first layer that still trains
            trains = [any(not p.frozen for _, p in layer.named_params()) for layer in layers]
            stop = trains.index(True) if any(trains) else len(layers)
        if stop == len(layers):   # no layer runs: an empty chain is the identity
            return dout if self.input_grad else None
        for layer in reversed(layers[stop + 1:]):
            dout = layer.backward(dout)
        if self.input_grad:
            return layers[0].backward(dout)
        with without_input_grad(layers[stop]) as bottom:
            bottom.backward(dout)
        return None

    def __repr__(self):
        lines = [f"  ({name}): {layer!r}".replace("\n", "\n  ") for name, layer in self.layers.items()]
        return "Sequential(\n" + "\n".join(lines) + "\n)"
