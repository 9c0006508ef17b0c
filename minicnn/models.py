"""AlexNet and its variants, composed from minicnn layers (the paper's section 3.5 and Figure 2).

- ``alexnet``: the 2012 network exactly (227x227 input, groups 2 in conv2/4/5 = the two-GPU split
  on one device, LRN, overlapping pooling, dropout); 60,965,224 parameters at 1000 classes.
- ``alexnet_owt``: torchvision's single-tower "one weird trick" layout, with torchvision's
  state-dict names (``features.0.weight`` ... ``classifier.6.bias``); 61,100,840 parameters.
  (torchvision's adaptive 6x6 average pool is the identity at its 224x224 input and is left out.)
- ``alexnet_bn``: the seeds' Keras variant, BatchNorm in place of LRN.
- ``alexnet_small``: the same shape of network (5 convs, grouped conv2/4/5, LRN, overlapping
  max-pool, 3 FC with dropout) sized for 28-32 px images, to train in minutes on a CPU; its
  arguments take out or change each of the paper's choices, to measure what each adds.

Each network carries ``model.architecture``, the arguments that build it again
(``build(**model.architecture)``): ``minicnn.train.fit`` records it in its checkpoints, from
which ``weights.model_from_checkpoint`` (``examples/predict.py``, ``examples/evaluate.py``)
rebuilds the network.
"""
import functools
import inspect

import numpy as np

from minicnn.layers import LRN, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Tanh
from minicnn.layers.base import check_number, check_positive_int
from minicnn.sequential import Sequential

# Layers whose bias the paper sets to 1 "to accelerate the early stages of learning by providing
# the ReLUs with positive inputs"; every other bias is 0 and every weight N(0, 0.01).
PAPER_UNIT_BIAS = ("conv2", "conv4", "conv5", "fc6", "fc7")
ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}   # alexnet_small's units: the paper's, or those of its Figure 1
CONNECTIVITIES = ("towers", "one-tower", "one-tower-half")   # alexnet_small's convs' maps: the paper's section 3.2
MIDDLE_CONVS = ("conv3", "conv4", "conv5")   # those alexnet_small's leave_out can take away (the paper's section 7)


def paper_init(model, rng):
    """The paper's initialisation, in place: weights N(0, 0.01); biases 1 in conv2, conv4,
    conv5, fc6, fc7 and 0 elsewhere."""
    for name, p in model.named_params():
        layer, kind = name.rsplit(".", 1)
        if kind == "weight":
            p.data[...] = rng.normal(0.0, 0.01, p.shape)
        else:
            p.data[...] = 1.0 if layer in PAPER_UNIT_BIAS else 0.0
    return model


def _alexnet_2012(norm, num_classes, in_channels, dtype, rng):
    """The 2012 layer list with ``norm(channels)`` after relu1 and relu2."""
    conv = lambda *a, **k: Conv2D(*a, dtype=dtype, rng=rng, **k)
    return Sequential([
        ("conv1", conv(in_channels, 96, 11, stride=4)), ("relu1", ReLU()), ("norm1", norm(96)),
        ("pool1", MaxPool2D(3, stride=2)),
        ("conv2", conv(96, 256, 5, padding=2, groups=2)), ("relu2", ReLU()), ("norm2", norm(256)),
        ("pool2", MaxPool2D(3, stride=2)),
        ("conv3", conv(256, 384, 3, padding=1)), ("relu3", ReLU()),       # reads both towers
        ("conv4", conv(384, 384, 3, padding=1, groups=2)), ("relu4", ReLU()),
        ("conv5", conv(384, 256, 3, padding=1, groups=2)), ("relu5", ReLU()),
        ("pool5", MaxPool2D(3, stride=2)),
        ("flatten", Flatten()),
        ("fc6", Dense(256 * 6 * 6, 4096, dtype=dtype, rng=rng)), ("relu6", ReLU()), ("drop6", Dropout(0.5, seed=6)),
        ("fc7", Dense(4096, 4096, dtype=dtype, rng=rng)), ("relu7", ReLU()), ("drop7", Dropout(0.5, seed=7)),
        ("fc8", Dense(4096, num_classes, dtype=dtype, rng=rng)),
    ])


def _records_its_arguments(builder):
    """Decorate a network's builder so that the network it returns carries ``architecture``, the
    builder's arguments as ``architecture`` gives them; its seed is checked first (NumPy's
    generator would say "expected non-negative integer" of -1, naming nothing)."""
    @functools.wraps(builder)
    def build_and_record(*args, **kwargs):
        try:
            arguments = inspect.signature(builder).bind(*args, **kwargs).arguments
        except TypeError:   # arguments the builder does not take: its own error names it
            return builder(*args, **kwargs)
        check_positive_int(arguments.get("seed", 0), "seed", builder.__name__, minimum=0)
        model = builder(*args, **kwargs)
        model.architecture = architecture(builder.__name__, **arguments)
        return model
    return build_and_record


@_records_its_arguments
def alexnet(num_classes=1000, in_channels=3, dtype=np.float32, seed=0, init="paper", lrn_groups=1):
    """The 2012 AlexNet for 227x227 inputs. ``init="paper"`` (N(0, 0.01), unit biases), or
    another of ``INITS``: ``"he"``, ``"he-unit-biases"``, ``"default"`` (PyTorch's uniform fan-in
    initialisation).

    ``lrn_groups=2`` normalises each tower's maps separately, as the two-GPU original did: that
    is the exact single-device twin of the split network of ``minicnn.towers``. The default (1)
    normalises across all maps, as Caffe's single-GPU AlexNet does; the two differ only in the
    two channels on either side of the tower boundary.
    """
    rng = np.random.default_rng(seed)
    model = _alexnet_2012(lambda c: LRN(5, 1e-4, 0.75, 2.0, groups=lrn_groups), num_classes, in_channels,
                          dtype, rng)
    return _initialise(model, init, rng)


@_records_its_arguments
def alexnet_bn(num_classes=1000, in_channels=3, dtype=np.float32, seed=0, init="default"):
    """The 2012 AlexNet with BatchNorm2D in place of LRN (the Keras versions in the seeds)."""
    rng = np.random.default_rng(seed)
    model = _alexnet_2012(lambda c: BatchNorm2D(c, dtype=dtype), num_classes, in_channels, dtype, rng)
    return _initialise(model, init, rng)


@_records_its_arguments
def alexnet_owt(num_classes=1000, in_channels=3, dtype=np.float32, seed=0):
    """torchvision's ``alexnet`` for 224x224 inputs, with its state-dict names and PyTorch init."""
    rng = np.random.default_rng(seed)
    conv = lambda *a, **k: Conv2D(*a, dtype=dtype, rng=rng, **k)
    features = Sequential([
        conv(in_channels, 64, 11, stride=4, padding=2), ReLU(), MaxPool2D(3, stride=2),
        conv(64, 192, 5, padding=2), ReLU(), MaxPool2D(3, stride=2),
        conv(192, 384, 3, padding=1), ReLU(),
        conv(384, 256, 3, padding=1), ReLU(),
        conv(256, 256, 3, padding=1), ReLU(), MaxPool2D(3, stride=2),
    ])
    classifier = Sequential([
        Dropout(0.5, seed=1), Dense(256 * 6 * 6, 4096, dtype=dtype, rng=rng), ReLU(),
        Dropout(0.5, seed=2), Dense(4096, 4096, dtype=dtype, rng=rng), ReLU(),
        Dense(4096, num_classes, dtype=dtype, rng=rng),
    ])
    return Sequential([("features", features), ("flatten", Flatten()), ("classifier", classifier)])


@_records_its_arguments
def alexnet_small(num_classes=10, in_channels=1, input_size=28, width=24, dropout=0.5, dtype=np.float32,
                  seed=0, init="he", lrn_groups=1, activation="relu", lrn=True, pool_size=3, lrn_alpha=1e-4,
                  pad_pools=False, connectivity="towers", leave_out=None):
    """AlexNet's shape of network for ``input_size`` x ``input_size`` images (28-32 px).

    conv1 5x5 (``width`` maps) - LRN - pool 3/2 - conv2 5x5 groups 2 (2 * width) - LRN - pool 3/2 -
    conv3 3x3 (3 * width) - conv4 3x3 groups 2 - conv5 3x3 groups 2 (2 * width) - pool 3/2 -
    fc 256 - dropout - fc 256 - dropout - fc ``num_classes``. ``dropout`` is the drop probability
    of both dropout layers (the paper's 0.5 by default). ``lrn_groups`` as in ``alexnet``.
    ``width`` must be even: conv2, conv4 and conv5 split their maps into two groups (the towers).
    ``activation`` is the units after each conv and fc layer: "relu" (``relu1`` ... ``relu7``), or
    "tanh" (``tanh1`` ... ``tanh7``), the saturating units the paper compares ReLUs with (its
    Figure 1); the parameters and their initialisation are the same either way. ``lrn=False``
    leaves out norm1 and norm2 (the paper's section 3.3 measures what they add); ``lrn_alpha`` is
    their alpha (the paper's 1e-4), and 0 makes each a fixed division by k ** beta = 2 ** 0.75,
    which tells what their normalising adds from what their scale does. ``pool_size=2``
    pools 2x2 windows with stride 2, side by side, where 3 overlaps them (its section 3.4); on
    28 px inputs that leaves 3x3 maps for fc6, not 2x2, so fc6 has more weights. ``pad_pools``
    pads the input of each 3x3 pool whose side is even by a pixel that never wins, so that the
    pools leave the maps 2x2 ones do (14, 7 and 3 pixels on 28 px inputs, where unpadded they
    leave 13, 6 and 2): the paper's comparison, made at equal sizes.

    ``connectivity`` is how the convs' maps connect, the paper's section 3.2: "towers" (its two-GPU
    net: conv2, conv4 and conv5 each read only their own tower's half of the maps below, conv3
    reads all), "one-tower" (the same maps, every conv reading all the maps below, as one device
    holding the whole net would) or "one-tower-half" (the one-GPU net the paper measured its split
    against: conv1 to conv4 with half the maps, ``width / 2``, ``width``, ``1.5 width`` and
    ``1.5 width``, conv5 and the fully connected layers as they are, every conv reading all the
    maps below).

    ``leave_out`` names one of the three middle convs, "conv3", "conv4" or "conv5", to build the
    network without it and its units (the paper's section 7: "removing any of the middle layers
    results in a loss of about 2% for the top-1 performance"); the next layer reads the maps the
    one before it made, and the other layers keep their names and sizes. Without conv3 the towers
    never meet before fc6 (conv3 is the conv that reads both); without conv5, pool5 pools conv4's
    ``3 * width`` maps, so fc6 has 1.5 times the inputs.
    """
    if not isinstance(width, (int, np.integer)) or isinstance(width, bool) or width < 2 or width % 2:
        raise ValueError(f"alexnet_small: width must be an even integer >= 2 (conv2, conv4 and conv5 split "
                         f"their maps into two groups), got {width!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"alexnet_small: activation must be one of {', '.join(map(repr, ACTIVATIONS))}, "
                         f"got {activation!r}")
    if not isinstance(lrn, bool):
        raise ValueError(f"alexnet_small: lrn must be True (norm1 and norm2, the paper's) or False, got {lrn!r}")
    check_number(lrn_alpha, "lrn_alpha", "alexnet_small", "a finite number >= 0 (the paper's 1e-4; 0: a fixed scale)",
                 lambda v: v >= 0)
    if pool_size not in (2, 3) or isinstance(pool_size, bool):
        raise ValueError(f"alexnet_small: pool_size must be 3 (overlapping windows, the paper's) or 2 (windows "
                         f"side by side), got {pool_size!r}")
    if not isinstance(pad_pools, bool) or (pad_pools and pool_size != 3):
        raise ValueError(f"alexnet_small: pad_pools must be True or False, and True only with 3x3 pools (it gives "
                         f"them the maps of 2x2 ones), got pad_pools={pad_pools!r} with pool_size={pool_size!r}")
    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"alexnet_small: connectivity must be one of {', '.join(map(repr, CONNECTIVITIES))}, "
                         f"got {connectivity!r}")
    if leave_out not in (None,) + MIDDLE_CONVS:
        raise ValueError(f"alexnet_small: leave_out must be None (every conv kept) or one of the middle convs, "
                         f"{', '.join(map(repr, MIDDLE_CONVS))}, got {leave_out!r}")
    if lrn_groups != 1 and connectivity != "towers":
        raise ValueError(f"alexnet_small: lrn_groups={lrn_groups!r} normalises each tower's maps on their own, and "
                         f"connectivity={connectivity!r} has no towers: lrn_groups must be 1")
    rng = np.random.default_rng(seed)
    conv = lambda *a, **k: Conv2D(*a, dtype=dtype, rng=rng, **k)
    groups = 2 if connectivity == "towers" else 1
    # conv1 to conv5's maps; the paper's one-GPU net halves all but conv5's, whose outputs fc6 reads:
    # halving it would halve fc6 too, which holds most of the 2012 network's parameters
    w1, w2, w3, w4, w5 = ((width // 2, width, 3 * width // 2, 3 * width // 2, 2 * width)
                          if connectivity == "one-tower-half" else (width, 2 * width, 3 * width, 3 * width, 2 * width))
    norm = lambda i: [(f"norm{i}", LRN(5, lrn_alpha, 0.75, 2.0, groups=lrn_groups))] if lrn else []
    unit = lambda i: (f"{activation}{i}", ACTIVATIONS[activation]())
    sides = [input_size, input_size // 2, input_size // 4]   # with pad_pools, those of pool1's, pool2's, pool5's inputs
    pool = lambda i, side: (f"pool{i}", MaxPool2D(pool_size, stride=2, padding=int(pad_pools and side % 2 == 0)))
    features = [
        ("conv1", conv(in_channels, w1, 5, padding=2)), unit(1), *norm(1), pool(1, sides[0]),
        ("conv2", conv(w1, w2, 5, padding=2, groups=groups)), unit(2), *norm(2), pool(2, sides[1]),
    ]
    # conv3 to conv5: (maps, groups) of each; a conv left out passes on the maps of the one before it
    middle = {"conv3": (w3, 1), "conv4": (w4, groups), "conv5": (w5, groups)}
    maps = w2
    for i, (name, (out, conv_groups)) in enumerate(middle.items(), start=3):
        if name != leave_out:
            features += [(name, conv(maps, out, 3, padding=1, groups=conv_groups)), unit(i)]
            maps = out
    features += [pool(5, sides[2]), ("flatten", Flatten())]
    flat = Sequential(features).output_shape((1, in_channels, input_size, input_size))[1]
    model = Sequential(features + [
        ("fc6", Dense(flat, 256, dtype=dtype, rng=rng)), unit(6), ("drop6", Dropout(dropout, seed=6)),
        ("fc7", Dense(256, 256, dtype=dtype, rng=rng)), unit(7), ("drop7", Dropout(dropout, seed=7)),
        ("fc8", Dense(256, num_classes, dtype=dtype, rng=rng)),
    ])
    return _initialise(model, init, rng)


def he_init(model, rng, unit_biases=()):
    """He et al. (2015) initialisation, in place: weights N(0, 2 / fan_in), biases 0, but 1 in the
    layers named in ``unit_biases``. Keeps the signal's scale through the ReLU stack, so a 5-conv
    net starts learning at once. The weights are drawn alike whatever ``unit_biases`` is, so two
    networks of one seed differ in those biases alone."""
    for name, p in model.named_params():
        layer, kind = name.rsplit(".", 1)
        if kind == "weight":
            fan_in = int(np.prod(p.shape[1:]))
            p.data[...] = rng.normal(0.0, np.sqrt(2.0 / fan_in), p.shape)
        else:
            p.data[...] = 1.0 if layer in unit_biases else 0.0
    return model


# A network's ``init`` -> what sets its parameters, in place, from a numpy Generator: "paper"
# (N(0, 0.01), unit biases), "he", "he-unit-biases" (He's weights, the paper's unit biases: what
# those biases do on their own) or "default" (each layer's own: PyTorch's uniform).
INITS = {"paper": paper_init, "he": he_init,
         "he-unit-biases": functools.partial(he_init, unit_biases=PAPER_UNIT_BIAS),
         "default": lambda model, rng: model}


def _initialise(model, init, rng):
    """``model`` with its parameters set as ``INITS[init]`` sets them."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}: expected one of {', '.join(INITS)}")
    return INITS[init](model, rng)


def replace_head(model, num_classes, seed=0):
    """Replace the last Dense layer of ``model`` (a Sequential, possibly nested) with a fresh one
    of ``num_classes`` outputs (PyTorch's initialisation), in place; returns the new layer.
    Fine-tuning a pretrained network for a new task starts here."""
    parent, name = None, None
    stack = [model]
    while stack:
        seq = stack.pop(0)
        for child_name, child in seq.layers.items():
            if isinstance(child, Sequential):
                stack.append(child)
            elif isinstance(child, Dense):
                parent, name = seq, child_name
    if parent is None:
        raise ValueError("replace_head: the model has no Dense layer")
    old = parent.layers[name]
    new = Dense(old.in_features, num_classes, bias="bias" in old.params, dtype=old.dtype,
                rng=np.random.default_rng(seed), relu=old.relu)
    parent.layers[name] = new.to(old.device)
    if getattr(model, "architecture", None):   # the record says what the network is now
        model.architecture = dict(model.architecture, num_classes=num_classes)
    return new


# name -> (builder, input size (H = W) it is meant for)
MODELS = {
    "alexnet": (alexnet, 227),
    "alexnet_bn": (alexnet_bn, 227),
    "alexnet_owt": (alexnet_owt, 224),
    "alexnet_small": (alexnet_small, 28),
}


def build(name, **kwargs):
    """Build a model by name; raises ValueError listing the known names."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
    return MODELS[name][0](**kwargs)


# The arguments that choose the numbers a network starts from, not the network its weights fit.
NOT_ARCHITECTURE = ("dtype", "seed")


def architecture(name, **kwargs):
    """``build``'s arguments for network ``name`` built with ``kwargs``: a dict of ``name`` and
    every argument of its builder, the defaults filled in for those ``kwargs`` leaves out, but
    dtype and seed (NOT_ARCHITECTURE), as plain Python values (a checkpoint records it as JSON).
    ``build(**architecture(name, **kwargs))`` is the network ``build(name, **kwargs)`` is, up to
    its initial weights and dtype. An unknown name or argument is a ValueError naming it."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
    builder = inspect.unwrap(MODELS[name][0])
    try:
        bound = inspect.signature(builder).bind(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{name}: {exc}") from None
    bound.apply_defaults()
    return dict(name=name, **{key: value.item() if isinstance(value, np.generic) else value
                              for key, value in bound.arguments.items() if key not in NOT_ARCHITECTURE})
