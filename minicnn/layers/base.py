"""The layer contract every minicnn layer follows (after Caffe's Layer).

A layer is set up once from its hyper-parameters (``__init__``), answers ``output_shape`` for any
input shape without touching data (Caffe's Reshape), and then alternates

    y  = layer.forward(x, train=True)    # caches what backward needs (only when train=True)
    dx = layer.backward(dout)            # dout has y's shape; fills every Param.grad

``layer.params`` maps names to :class:`Param` (``"weight"``, ``"bias"``); ``layer.buffers`` maps
names to arrays that are state but not trained (BatchNorm's running statistics). Shapes follow
PyTorch (README.md, "Conventions") so state dicts compare one to one.

Every public entry point validates its input and raises a message that names the layer and the
expected versus the received shape, dtype or device: nothing is silently broadcast or cast.
"""
import contextlib
import math
import numbers
from collections import OrderedDict

import numpy as np

from minicnn.backend import KERNEL_DEVICES, check_device, device_of, get_array_module, memory_of, to_device

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Param:
    """A trainable array and the gradient that the last ``backward`` call computed for it.

    ``grad`` has ``data``'s shape, dtype and device and is overwritten (not accumulated) by
    every backward call. A ``frozen`` parameter (``Layer.freeze``) gets no gradient (``grad`` is
    None) and the optimizer leaves it alone. A ``sharded`` parameter is this process's part of a
    layer spread over the ranks of a distributed job (model parallelism, ``minicnn.hybrid``): its
    gradient is not averaged with the other ranks', which hold other parts.
    """

    __slots__ = ("data", "grad", "frozen", "sharded")

    def __init__(self, data):
        self.data = data
        self.grad = get_array_module(data).zeros_like(data)
        self.frozen = False
        self.sharded = False

    @property
    def shape(self):
        return self.data.shape

    def __repr__(self):
        return f"Param(shape={self.data.shape}, dtype={self.data.dtype}, device={device_of(self.data)})"


@contextlib.contextmanager
def setting(layer, name, value):
    """A context in which ``layer``'s attribute ``name`` is ``value``; then as it was (the layer's
    own value, or its class's where it had none)."""
    own, saved = name in vars(layer), vars(layer).get(name)
    setattr(layer, name, value)
    try:
        yield layer
    finally:
        if own:
            setattr(layer, name, saved)
        else:
            delattr(layer, name)


def without_input_grad(layer):
    """A context in which ``layer.input_grad`` is False: its backward need not compute dL/dx."""
    return setting(layer, "input_grad", False)


TEST_TIME = "test time"   # marks the cache of a training forward within at_test_time (Dropout's, BatchNorm2D's)


@contextlib.contextmanager
def at_test_time(layer):
    """A context in which ``layer`` and every layer in it behave as at test time in a training
    forward too: ``forward(x, train=True)`` computes what ``forward(x, train=False)`` does (dropout
    keeps every unit; batch normalisation takes its running statistics, and leaves them as they
    are) and still keeps what the backward needs, so that ``backward`` is the gradient of the
    network as it classifies. Saliency maps want it (``minicnn.saliency``): the gradient of a class
    score with respect to the pixels of one picture, through the network that answered."""
    with contextlib.ExitStack() as settings:
        for leaf in layer.leaves():
            settings.enter_context(setting(leaf, "test_time", True))
        yield layer


def check_float_dtype(dtype, who):
    """Return ``np.dtype(dtype)`` if it is float32 or float64, else raise a TypeError."""
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{who}: dtype must be float32 or float64, got {dt}")
    return dt


def check_positive_int(value, what, who, minimum=1):
    """Return ``value`` as an int if it is an integer >= ``minimum``, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{who}: {what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_number(value, what, who, expected, within, hint=""):
    """Return ``value`` as a float if it is a finite real number (Python's or NumPy's: a float32
    scalar read from an array will do, or a 0-d array; a bool will not) for which ``within(value)``
    holds, else raise ValueError: "{who}: {what} must be {expected}, got {value!r}{hint}". A
    string or None gets that message too, not the TypeError of comparing it with a number."""
    if isinstance(value, np.ndarray) and value.ndim == 0:   # np.asarray(0.01), a reduction's result
        value = value[()]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not within(value):
        raise ValueError(f"{who}: {what} must be {expected}, got {value!r}{hint}")
    return float(value)


def check_flag(value, what, who):
    """Return ``value`` as a bool if it is True or False (Python's or NumPy's), else raise
    ValueError: taken for its truth, the string "False" (read from a config file) would be true."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{who}: {what} must be True or False, got {value!r}")
    return bool(value)


def check_rng(rng, who):
    """``rng`` if it is a ``numpy.random.Generator`` (or the older ``RandomState``, which draws as
    well), a fresh Generator if None, else ValueError (a seed given where the generator goes says
    how to make one of it)."""
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, (np.random.Generator, np.random.RandomState)):
        hint = f" (numpy.random.default_rng({rng!r}) makes one of a seed)" \
            if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else ""
        raise ValueError(f"{who}: rng must be a numpy.random.Generator or None, got {rng!r}{hint}")
    return rng


def pair(value, what, who, minimum=1):
    """Accept an int or an (h, w) pair of ints and return an (h, w) tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{who}: {what} must be an int or a pair of ints, got {value!r}")
        return tuple(check_positive_int(v, what, who, minimum) for v in value)
    v = check_positive_int(value, what, who, minimum)
    return (v, v)


class Layer:
    """Base class: parameter bookkeeping, device moves, input and gradient checks.

    Subclasses implement ``output_shape(input_shape)`` (validating the shape), ``_forward(x,
    train)``, which with ``train`` keeps in ``self._cache`` what the backward needs, and
    ``_backward(dout)``; the public ``forward``/``backward`` wrap them with checks.
    ``dtype`` is the dtype of the parameters; layers without parameters accept float32 and
    float64 inputs and keep their dtype.
    """

    dtype = None  # set by layers with parameters; their inputs must match it

    # True within ``at_test_time``: a training forward behaves as a test-time one (only layers that
    # behave otherwise in training, Dropout and BatchNorm2D, read it) and still caches for backward.
    test_time = False

    # False when nobody needs dL/dx of this layer: backward() may then return None and skip
    # computing it. Conv2D and Dense do (the first conv of a network in training reads the
    # images, whose gradient nobody uses); Sequential passes it on to its bottom layer.
    input_grad = True

    def __init__(self):
        self.params = OrderedDict()
        self.buffers = OrderedDict()
        self.device = "cpu"
        self._cache = None        # what backward needs; None until a training forward
        self._out_shape = None    # shape of the last training forward's output
        self._out_dtype = None

    # --- the contract -------------------------------------------------------------------
    def output_shape(self, input_shape):
        """Return the output shape for ``input_shape`` (a tuple including the batch axis)."""
        raise NotImplementedError(f"{type(self).__name__} implements no output_shape(input_shape), which every "
                                  f"layer does: the forward checks its input with it")

    def _forward(self, x, train):
        raise NotImplementedError(f"{type(self).__name__} implements no _forward(x, train)")

    def _backward(self, dout):
        raise NotImplementedError(f"{type(self).__name__} implements no _backward(dout)")

    def forward(self, x, train=True):
        """Compute the layer's output; with ``train=True`` also cache what backward needs (True or
        False: taken for its truth, the string "eval" would train)."""
        if not isinstance(train, (bool, np.bool_)):   # repr(self) only then: a network's is long
            check_flag(train, "train", repr(self))
        train = bool(train)
        self.check_input(x)
        if self.uses_kernels:  # kernels index contiguous memory
            x = get_array_module(x).ascontiguousarray(x)
        y = self._forward(x, train)
        if train:
            self._out_shape, self._out_dtype = y.shape, y.dtype
        else:
            self._cache = None  # an evaluation pass must not leave a stale cache behind
            self._out_shape = None
        return y

    def backward(self, dout):
        """Given dL/dy (``dout``, shaped like the last output) return dL/dx; fill Param.grad."""
        if self._out_shape is None:
            raise RuntimeError(f"{self!r}: backward() called before forward(x, train=True)")
        if self._cache is None:   # a new layer's _forward that forgot it
            raise RuntimeError(f"{self!r}: forward(x, train=True) ran, but its _forward kept nothing for the "
                               f"backward: a training _forward sets self._cache to what _backward needs")
        self.check_array(dout, "dout")
        if dout.shape != self._out_shape or dout.dtype != self._out_dtype:
            raise ValueError(
                f"{self!r}: dout must match the forward output, expected shape "
                f"{self._out_shape} dtype {self._out_dtype}, got shape {dout.shape} dtype {dout.dtype}")
        if self.uses_kernels:
            dout = get_array_module(dout).ascontiguousarray(dout)
        return self._backward(dout)

    # --- checks -------------------------------------------------------------------------
    def check_array(self, x, what="input"):
        """Raise unless ``x`` is a float32/float64 array on this layer's device (and dtype)."""
        if not (hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "ndim")):
            raise TypeError(f"{self!r}: {what} must be an array, got {type(x).__name__}")
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self!r}: {what} must be float32 or float64, got dtype {x.dtype}")
        if self.dtype is not None and x.dtype != self.dtype:
            raise TypeError(f"{self!r}: {what} dtype must be {self.dtype} like the layer's "
                            f"parameters, got {x.dtype} (convert with .astype or build the layer "
                            f"with dtype={x.dtype})")
        if device_of(x) != memory_of(self.device):
            raise ValueError(f"{self!r}: {what} is a {'CuPy' if device_of(x) == 'cuda' else 'NumPy'} "
                             f"array but the layer is on {self.device}; move one of them with .to()")

    @property
    def uses_kernels(self):
        """True on "cuda" and "sim": the layer runs minicnn's CUDA kernels, not its NumPy code."""
        return self.device in KERNEL_DEVICES

    def check_input(self, x):
        self.check_array(x, "input")
        self.output_shape(x.shape)  # validates rank, channels, spatial size

    def expect_rank(self, input_shape, rank, layout):
        """Raise unless ``input_shape`` has ``rank`` axes (``layout`` names them, e.g. 'N, C, H, W')."""
        if len(input_shape) != rank:
            raise ValueError(f"{self!r}: expected input of shape ({layout}), a {rank}-D array, "
                             f"got shape {tuple(input_shape)}")

    # --- parameters, buffers and state ----------------------------------------------------
    def named_children(self):
        """Sub-layers as (name, layer) pairs; leaf layers have none."""
        return ()

    def leaves(self):
        """Yield every leaf layer (one without children) of this layer, this layer itself if it is one."""
        return (layer for _, layer in self.named_leaves())

    def named_leaves(self, prefix=""):
        """Yield (dotted name, layer) for every leaf layer, in order: ("features.0", Conv2D(...)), ...
        A leaf layer yields itself under ``prefix`` without its final dot."""
        children = list(self.named_children())
        if not children:
            yield prefix.rstrip("."), self
        for name, child in children:
            yield from child.named_leaves(f"{prefix}{name}.")

    def named_params(self, prefix=""):
        """Yield (qualified name, Param) for this layer and its children, in a stable order."""
        for name, p in self.params.items():
            yield prefix + name, p
        for cname, child in self.named_children():
            yield from child.named_params(f"{prefix}{cname}.")

    def named_buffers(self, prefix=""):
        for name, b in self.buffers.items():
            yield prefix + name, b
        for cname, child in self.named_children():
            yield from child.named_buffers(f"{prefix}{cname}.")

    def state_dict(self):
        """Ordered {qualified name: array} of every parameter and buffer (arrays, not copies)."""
        sd = OrderedDict((n, p.data) for n, p in self.named_params())
        sd.update(self.named_buffers())
        return sd

    def load_state_dict(self, state):
        """Copy arrays from ``state`` into this model; every name and shape must match exactly."""
        expected = self.state_dict()
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        if missing or unexpected:
            found = [f"{what} keys {keys}" for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
            raise KeyError(f"{type(self).__name__}.load_state_dict: {', '.join(found)}")
        # nested lists or a number (a state read from JSON): what NumPy makes of them
        state = {name: value if hasattr(value, "shape") else np.asarray(value) for name, value in state.items()}
        for name, target in expected.items():
            src = state[name]
            if tuple(src.shape) != tuple(target.shape):
                raise ValueError(f"{type(self).__name__}.load_state_dict: {name!r} has shape "
                                 f"{tuple(src.shape)}, expected {tuple(target.shape)}")
        for name, target in expected.items():  # only after every check passed: all or nothing
            target[...] = to_device(state[name], device_of(target)).astype(target.dtype, copy=False)

    def random_state(self):
        """State of this layer's random streams (dropout), for checkpoints and gradcheck."""
        state = {}
        for cname, child in self.named_children():
            for k, v in child.random_state().items():
                state[f"{cname}.{k}"] = v
        return state

    def set_random_state(self, state):
        for cname, child in self.named_children():
            prefix = cname + "."
            child.set_random_state({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})

    def to(self, device):
        """Move parameters, gradients and buffers to ``device`` ("cpu", "cuda" or "sim"); returns self.

        On "cuda" and "sim" the layer runs minicnn's CUDA kernels (on a GPU, or under the
        kernel simulator on NumPy arrays); on "cpu" it runs its NumPy code.
        """
        device = check_device(device)
        for p in self.params.values():
            p.data = to_device(p.data, device)
            p.grad = None if p.grad is None else to_device(p.grad, device)
        for name in self.buffers:
            self.buffers[name] = to_device(self.buffers[name], device)
        for _, child in self.named_children():
            child.to(device)
        self.device = device
        self._cache = None
        return self

    def freeze(self, frozen=True):
        """Freeze (or with ``frozen=False`` unfreeze) every parameter of this layer and its
        children: their backward computes no parameter gradients (only the input gradient) and
        SGD skips them. Returns self. Fine-tuning freezes all but the last layer."""
        for _, p in self.named_params():
            p.frozen = frozen
            p.grad = None if frozen else get_array_module(p.data).zeros_like(p.data)
        return self

    # Called as grads_hook(layer) right after a backward stored this layer's parameter
    # gradients; data-parallel training sets it to start all-reducing them at once
    # (minicnn.distributed), while the layers below are still in their backward.
    grads_hook = None

    def store_grads(self, weight, bias=None):
        """Set the gradients of ``weight`` and ``bias`` (when given) from a backward, unless the
        layer is frozen (then it computed none), and tell ``grads_hook``."""
        if self.trainable:
            self.params["weight"].grad = weight
            if bias is not None:
                self.params["bias"].grad = bias
            if self.grads_hook is not None:
                self.grads_hook(self)

    @property
    def trainable(self):
        """True when the layer has parameters and none of them is frozen."""
        return bool(self.params) and not any(p.frozen for p in self.params.values())

    def num_params(self):
        return sum(int(np.prod(p.shape)) for _, p in self.named_params())

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


class Elementwise(Layer):
    """A layer applied element by element (ReLU, Tanh): any input shape with a batch axis, the
    output's the same. A subclass names its functions: ``numpy`` = (forward, backward) and
    ``kernels`` = (forward, backward) of its kernel path, ``forward(x) -> (y, cache)`` and
    ``backward(dout, cache) -> dx``."""
    numpy = kernels = None

    def output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{self!r}: expected an input with a batch axis, got shape {tuple(input_shape)}")
        return tuple(input_shape)

    def _forward(self, x, train):
        y, cache = (self.kernels if self.uses_kernels else self.numpy)[0](x)
        self._cache = cache if train else None
        return y

    def _backward(self, dout):
        return (self.kernels if self.uses_kernels else self.numpy)[1](dout, self._cache)
