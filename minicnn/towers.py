"""AlexNet's two-device split, as cuda-convnet trained it (the paper's section 3.2 and Figure 2).

Each of two towers holds half of every layer and lives on its own device; the towers exchange
activations only where a layer reads both of them: conv3, fc6 and fc7 (the CROSSINGS). fc8 (the
HEAD) runs on the first device and reads both towers' fc7. Everything else stays on its tower:
conv2, conv4 and conv5 read their own tower only, which on a single device is ``groups=2``, and
each tower normalises (LRN) its own maps, which on a single device is ``LRN(groups=2)``.

    grouped = models.alexnet(lrn_groups=2)   # the single-device twin: same parameters, same outputs
    split = towers.two_tower(grouped)        # half of every layer per tower, parameters copied
    split.to("cpu")                          # two workers; "cuda": two GPUs, or two streams of one
    logits = split.forward(x); dx = split.backward(dlogits)

Where the towers run (``split.to(device)``):
    "cpu", "sim"  two worker threads run the towers concurrently (NumPy releases the GIL in its
                  GEMMs; each worker's BLAS gets half the cores, so the two do not oversubscribe);
    "cuda"        two GPUs when there are two (tower t on device t, crossings are peer copies);
                  otherwise one GPU with one stream per tower, events ordering the crossings.

Crossing in forward: each tower gets the concatenation (along axis 1) of both towers' outputs,
the other tower's part copied to its device. Crossing in backward: each tower's input gradient
covers both towers' outputs; it is split along axis 1 and the parts for the other tower are sent
there and added to that tower's own part.

Parameter names: ``tower0.conv1.weight``, ``tower1.conv1.weight``, ..., ``head.fc8.weight``. Every
tower parameter is one half (along axis 0: output channels or features) of the grouped model's
parameter of the same layer, so ``merge_state``/``split_state`` convert state dicts (and the
optimizer's velocities, and checkpoints with ``convert_checkpoint``) in both directions.
"""
import concurrent.futures
import contextlib
import copy
import warnings

import numpy as np

from minicnn import backend, cpu_threads
from minicnn.layers import LRN, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, LRNMaxPool, MaxPool2D
from minicnn.layers.base import Elementwise, Layer, without_input_grad
from minicnn.sequential import LayerShapeError, Sequential

CROSSINGS = ("conv3", "fc6", "fc7")  # layers that read both towers
HEAD = "fc8"                         # from here on, one device reads both towers
TOWERS = 2
SPLIT_MODELS = ("alexnet", "alexnet_small")   # the networks of minicnn.models built as two towers


class SplitError(ValueError):
    """The model cannot be split into towers (or a state dict cannot be converted)."""


# ---- building the towers from the single-device grouped model ------------------------------------
def _half(array, t):
    half = array.shape[0] // TOWERS
    return np.array(backend.to_numpy(array)[t * half:(t + 1) * half])


def _tower_layer(name, layer, t, reads_both, in_features):
    """Tower t's half of ``layer``; ``reads_both``: its input is both towers' outputs."""
    if isinstance(layer, Conv2D):
        if layer.out_channels % TOWERS:
            raise SplitError(f"{name}: {layer.out_channels} filters cannot be halved")
        if reads_both == (layer.groups == TOWERS):
            raise SplitError(f"{name}: a layer {'at' if reads_both else 'between'} a crossing must have "
                             f"groups={1 if reads_both else TOWERS}, got groups={layer.groups}")
        in_channels = layer.in_channels if reads_both else layer.in_channels // TOWERS
        half = Conv2D(in_channels, layer.out_channels // TOWERS, layer.kernel_size, layer.stride, layer.padding,
                      bias="bias" in layer.params, dtype=layer.dtype, rng=np.random.default_rng(0), relu=layer.relu,
                      algorithm=layer.algorithm)
    elif isinstance(layer, Dense):
        if not reads_both:
            raise SplitError(f"{name}: a Dense layer reads all its inputs, so it must be a crossing "
                             f"({', '.join(CROSSINGS)}) or in the head")
        half = Dense(layer.in_features, layer.out_features // TOWERS, bias="bias" in layer.params,
                     dtype=layer.dtype, rng=np.random.default_rng(0), relu=layer.relu)
    elif isinstance(layer, (LRN, LRNMaxPool)):
        lrn = layer.lrn if isinstance(layer, LRNMaxPool) else layer
        if lrn.groups != TOWERS:
            raise SplitError(f"{name}: LRN must normalise each tower on its own (groups={TOWERS}; build "
                             f"the model with lrn_groups={TOWERS}), got groups={lrn.groups}")
        half = LRN(lrn.size, lrn.alpha, lrn.beta, lrn.k)
        if isinstance(layer, LRNMaxPool):
            half = LRNMaxPool(half, copy.deepcopy(layer.pool))
    elif isinstance(layer, Dropout):
        if in_features is None:
            raise SplitError(f"{name}: dropout is supported after a Dense layer only")
        half = Dropout(layer.p, layer.seed, mask_slice=(t * in_features, TOWERS * in_features))
        half.calls = layer.calls
    elif isinstance(layer, (Elementwise, MaxPool2D, Flatten)):   # ReLU, Tanh
        half = copy.deepcopy(layer)
    elif isinstance(layer, BatchNorm2D):
        half = BatchNorm2D(layer.num_features // TOWERS, layer.eps, layer.momentum, layer.dtype)
    else:
        raise SplitError(f"{name}: cannot split a {type(layer).__name__} into towers")
    for pname, p in half.params.items():
        p.data[...] = _half(layer.params[pname].data, t)
    for bname in half.buffers:
        half.buffers[bname][...] = _half(layer.buffers[bname], t)
    return half


def _check_towers(connectivity, what):
    """Raise SplitError unless a network of ``connectivity`` (``models.alexnet_small``'s) has towers."""
    if connectivity != "towers":
        raise SplitError(f"{what}: a network of connectivity {connectivity!r}, whose convs each read all the maps "
                         f"below: it has no towers to split into (the split is that of connectivity 'towers')")


def two_tower(model, input_shape=None):
    """The two-tower network with the parameters of ``model``, a single-device AlexNet-shaped
    Sequential (layer names as in ``minicnn.models``) whose tower-local layers are grouped, and
    its ``architecture`` (``minicnn.models``), which with the split "two-device" rebuilds it.
    ``input_shape`` (N, C, H, W) is needed only to size the dropout masks; by default it is
    read from the first Dense layer."""
    if not isinstance(model, Sequential) or HEAD not in model.layers:
        raise SplitError(f"two_tower: expected an AlexNet-shaped Sequential with a {HEAD!r} layer")
    _check_towers((getattr(model, "architecture", None) or {}).get("connectivity", "towers"), "two_tower")
    names = list(model.layers)
    head_at = names.index(HEAD)
    towers = [[], []]
    reads_both, width = True, None  # the first layer reads the (shared) input
    for name in names[:head_at]:
        layer = model.layers[name]
        if name in CROSSINGS:
            reads_both = True
        for t in range(TOWERS):
            towers[t].append((name, _tower_layer(name, layer, t, reads_both, width)))
        if isinstance(layer, (Conv2D, Dense)):
            reads_both = False
            width = layer.out_features // TOWERS if isinstance(layer, Dense) else None
    head = Sequential([(n, copy.deepcopy(model.layers[n])) for n in names[head_at:]])
    split = TwoTowerNet([Sequential(t) for t in towers], head)
    if getattr(model, "architecture", None):   # a models network's record: the grouped network, split again
        split.architecture = dict(model.architecture)
    return split


# ---- where the towers run -------------------------------------------------------------------
class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Workers:
    """The CPU (or the simulator): two threads run the towers concurrently. Arrays are NumPy,
    so moving one to the other tower is free."""

    def __init__(self, device):
        self.device = device
        self.pool = concurrent.futures.ThreadPoolExecutor(TOWERS, thread_name_prefix="tower")

    def placement(self, t):
        return f"{self.device} worker {t}"

    def run(self, work):
        """[work(0), work(1)], concurrently."""
        futures = [self.pool.submit(work, t) for t in range(TOWERS)]
        return [f.result() for f in futures]

    @contextlib.contextmanager
    def session(self):
        """Context of one forward or backward: each worker's BLAS, and its NumPy work between the
        GEMMs (``minicnn.cpu_threads``), gets half the cores."""
        half = max(1, cpu_threads.threads() // TOWERS)
        with cpu_threads.blas_limited(half), cpu_threads.limited(half):
            yield

    def context(self, t):
        return _nothing()

    def to_tower(self, a, source, t):
        """``a``, produced by tower ``source``, made available to tower ``t``."""
        return a

    def move_params(self, layer, t):
        layer.to(self.device)


class _OneGpuTwoStreams(_Workers):
    """One GPU: each tower's kernels go to its own stream, so the GPU can run both towers at
    once; a crossing makes the reading stream wait for an event recorded on the writing one."""

    def __init__(self):
        import cupy
        self.cupy, self.device = cupy, "cuda"
        self.streams = [cupy.cuda.Stream(non_blocking=True) for _ in range(TOWERS)]

    def placement(self, t):
        return f"cuda:0 stream {t}"

    def run(self, work):
        results = []  # Python queues both towers' kernels in turn; the streams run concurrently
        for t in range(TOWERS):
            with self.context(t):
                results.append(work(t))
        return results

    def session(self):
        return _StreamSession(self)

    def context(self, t):
        return self.streams[t]

    def to_tower(self, a, source, t):
        if source != t:
            self.streams[t].wait_event(self.streams[source].record())
        return a


class _StreamSession:
    """Both tower streams start after the caller's stream, and the caller's stream continues
    after both: the split network is a drop-in for a single-stream model."""

    def __init__(self, runner):
        self.runner = runner

    def __enter__(self):
        caller = self.runner.cupy.cuda.get_current_stream()
        start = caller.record()
        for stream in self.runner.streams:
            stream.wait_event(start)
        return self

    def __exit__(self, *exc):
        caller = self.runner.cupy.cuda.get_current_stream()
        for stream in self.runner.streams:
            caller.wait_event(stream.record())
        return False


class _TwoGpus(_OneGpuTwoStreams):
    """Two GPUs: tower t on device t, each on its device's current stream; a crossing is a
    peer-to-peer copy issued on the reading device after an event on the writing one."""

    def __init__(self):
        import cupy
        self.cupy, self.device = cupy, "cuda"
        self.devices = [cupy.cuda.Device(t) for t in range(TOWERS)]
        self._in_flight = []  # sources of copies, kept alive until the session ends

    def placement(self, t):
        return f"cuda:{t}"

    def session(self):
        return _TwoGpuSession(self)

    def context(self, t):
        return self.devices[t]

    def to_tower(self, a, source, t):
        if a.device.id == t:
            return a
        with self.devices[source]:
            written = self.cupy.cuda.get_current_stream().record()
        with self.devices[t]:
            stream = self.cupy.cuda.get_current_stream()
            stream.wait_event(written)
            out = self.cupy.empty_like(a)
            out.data.copy_from_device_async(a.data, a.nbytes, stream)
        self._in_flight.append(a)
        return out

    def move_params(self, layer, t):
        with self.devices[t]:
            layer.to("cuda")


class _TwoGpuSession:
    """Device 0's stream continues after device 1's work (its gradients reach device 0 by
    copies already); copies' sources are released only once both devices are done."""

    def __init__(self, runner):
        self.runner = runner

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        with self.runner.devices[1]:
            done = self.runner.cupy.cuda.get_current_stream().record()
        with self.runner.devices[0]:
            self.runner.cupy.cuda.get_current_stream().wait_event(done)
        done.synchronize()
        self.runner._in_flight.clear()
        return False


def _runner(device):
    device = backend.check_device(device)
    if device != "cuda":
        return _Workers(device)
    cupy = backend._import_cupy()
    return _TwoGpus() if cupy.cuda.runtime.getDeviceCount() >= TOWERS else _OneGpuTwoStreams()


# ---- the split network -----------------------------------------------------------------------
class TwoTowerNet(Layer):
    """Two towers (Sequentials holding half of every layer) and a head on the first device;
    see the module docstring. Built by ``two_tower(model)``."""

    def __init__(self, towers, head):
        super().__init__()
        self.towers, self.head = list(towers), head
        names = list(self.towers[0].layers)
        cuts = [0] + [names.index(c) for c in CROSSINGS if c in names] + [len(names)]
        self.segments = [names[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]
        self.runner = _Workers("cpu")

    def named_children(self):
        return [(f"tower{t}", tower) for t, tower in enumerate(self.towers)] + [("head", self.head)]

    def placement(self, t):
        """Where tower t runs, in words ("cpu worker 0", "cuda:1", "cuda:0 stream 1")."""
        return self.runner.placement(t)

    def to(self, device):
        self.runner = _runner(device)
        for t, tower in enumerate(self.towers):
            self.runner.move_params(tower, t)
        self.runner.move_params(self.head, 0)
        self.device = self.runner.device
        self._cache = None
        return self

    def check_array(self, x, what="input"):
        if not (hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "ndim")):
            raise TypeError(f"TwoTowerNet: {what} must be an array, got {type(x).__name__}")

    def output_shape(self, input_shape):
        """The network's output shape; a layer that cannot take what reaches it raises a
        LayerShapeError naming it ("tower0.conv1", "head.fc6") and the network's input shape."""
        tower_out = self._tower_output_shape(input_shape)
        try:
            return self.head.output_shape(tower_out)
        except ValueError as exc:
            raise LayerShapeError("head", exc, tuple(input_shape), tower_out) from None

    def _tower_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for segment in self.segments:
            shapes = []
            for t, tower in enumerate(self.towers):
                s = shape
                for name in segment:
                    try:
                        s = tower.layers[name].output_shape(s)
                    except ValueError as exc:
                        raise LayerShapeError(f"tower{t}.{name}", exc, tuple(input_shape), s) from None
                shapes.append(s)
            shape = (shapes[0][0], sum(s[1] for s in shapes)) + tuple(shapes[0][2:])
        return shape

    def leaf_layers(self, input_shape):
        """[(name, layer, input shape, output shape, placement)] in execution order (tower 0's
        layers of a segment, then tower 1's), for the model summary."""
        rows, shape = [], tuple(input_shape)
        for segment in self.segments:
            outs = []
            for t, tower in enumerate(self.towers):
                s = shape
                for name in segment:
                    out = tower.layers[name].output_shape(s)
                    rows.append((f"tower{t}.{name}", tower.layers[name], s, out, self.placement(t)))
                    s = out
                outs.append(s)
            shape = (outs[0][0], sum(s[1] for s in outs)) + tuple(outs[0][2:])
        for name, layer in self.head.layers.items():
            out = layer.output_shape(shape)
            rows.append((f"head.{name}", layer, shape, out, self.placement(0)))
            shape = out
        return rows

    def _concat(self, outs, t):
        """Both towers' outputs, concatenated along axis 1 on tower t's device."""
        with self.runner.context(t):
            parts = [self.runner.to_tower(a, s, t) for s, a in enumerate(outs)]
            return backend.get_array_module(parts[0]).concatenate(parts, axis=1)

    def _forward(self, x, train):
        runner, towers = self.runner, self.towers
        widths = []
        with runner.session():
            inputs, outs = [x] * TOWERS, None  # the input lives with tower 0
            for t in range(1, TOWERS):
                with runner.context(t):
                    inputs[t] = runner.to_tower(x, 0, t)
            for i, segment in enumerate(self.segments):
                if i > 0:
                    inputs = [self._concat(outs, t) for t in range(TOWERS)]

                def work(t, segment=segment, inputs=inputs):
                    a = inputs[t]
                    for name in segment:
                        a = towers[t].layers[name].forward(a, train)
                    return a
                outs = runner.run(work)
                widths.append([o.shape[1] for o in outs])
            with runner.context(0):
                y = self.head.forward(self._concat(outs, 0), train)
        self._cache = widths if train else None
        return y

    def _backward(self, dout):
        runner, towers, widths = self.runner, self.towers, self._cache
        with runner.session():
            with runner.context(0):
                d = self.head.backward(dout)
            douts = self._split(d, widths[-1], source=0)
            for i in range(len(self.segments) - 1, -1, -1):
                def work(t, segment=self.segments[i], douts=douts, bottom=i == 0):
                    g = douts[t]
                    for name in reversed(segment[1:]):
                        g = towers[t].layers[name].backward(g)
                    first = towers[t].layers[segment[0]]
                    if bottom and not self.input_grad:   # nobody needs dL/dx of the images
                        with without_input_grad(first):
                            return first.backward(g)
                    return first.backward(g)
                dins = runner.run(work)
                if i == 0:  # both towers read the same input: their gradients add up
                    if not self.input_grad:
                        return None
                    with runner.context(0):
                        return dins[0] + runner.to_tower(dins[1], 1, 0)
                parts = [self._split(dins[t], widths[i - 1], source=t) for t in range(TOWERS)]
                douts = []
                for s in range(TOWERS):  # tower s's own part first, then the other tower's
                    with runner.context(s):
                        douts.append(parts[s][s] + parts[1 - s][s])

    def _split(self, g, widths, source):
        """g (gradient w.r.t. both towers' concatenated outputs, on tower ``source``) split along
        axis 1 into each tower's part, each moved to that tower."""
        parts, start = [], 0
        for t, w in enumerate(widths):
            with self.runner.context(t):
                part = g[:, start:start + w]
                if source != t:  # a copy must read contiguous memory
                    with self.runner.context(source):
                        part = backend.get_array_module(g).ascontiguousarray(part)
                parts.append(self.runner.to_tower(part, source, t))
            start += w
        return parts


# ---- state dicts and checkpoints ---------------------------------------------------------------
def _layer_of(name):
    return name.split(".", 1)[0]


def split_state(state):
    """A grouped model's state dict (or optimizer velocities) -> the two-tower names and halves.
    Entries of the head (HEAD and the layers after it, in ``state``'s order) keep their arrays."""
    out, in_head = {}, False
    for name, value in state.items():
        in_head = in_head or _layer_of(name) == HEAD
        if in_head:
            out[f"head.{name}"] = value
            continue
        if value.shape[0] % TOWERS:
            raise SplitError(f"split_state: {name!r} of shape {tuple(value.shape)} cannot be halved")
        xp = backend.get_array_module(value)
        for t in range(TOWERS):
            half = value.shape[0] // TOWERS
            out[f"tower{t}.{name}"] = xp.ascontiguousarray(value[t * half:(t + 1) * half])
    return out


def merge_state(state):
    """The inverse of ``split_state``: the towers' halves concatenated along axis 0 (on the CPU)."""
    out = {}
    for name, value in state.items():
        if name.startswith("head."):
            out[name[len("head."):]] = backend.to_numpy(value)
        elif name.startswith("tower0."):
            rest = name[len("tower0."):]
            others = [f"tower{t}.{rest}" for t in range(1, TOWERS)]
            missing = [o for o in others if o not in state]
            if missing:
                raise SplitError(f"merge_state: {name!r} has no partner {missing[0]!r}")
            out[rest] = np.concatenate([backend.to_numpy(value)] + [backend.to_numpy(state[o]) for o in others])
        elif not name.startswith("tower"):
            raise SplitError(f"merge_state: {name!r} belongs to neither a tower nor the head")
    return out


def _convert_random_state(state, to_split):
    """Dropout counters: the same value in both towers."""
    out = {}
    for key, value in state.items():
        if to_split:
            if _layer_of(key) == HEAD:
                out[f"head.{key}"] = value
            else:
                out.update({f"tower{t}.{key}": value for t in range(TOWERS)})
        elif key.startswith("head."):
            out[key[len("head."):]] = value
        elif key.startswith("tower0."):
            out[key[len("tower0."):]] = value
    return out


def convert_checkpoint(source, target):
    """Convert a checkpoint (``minicnn.checkpoint`` format) between the grouped single-device
    model and the two-tower model, in whichever direction ``source`` needs; written atomically.
    Returns "split" or "grouped", the layout written. A run whose LRN spans both towers' maps
    (``lrn_groups`` 1) becomes towers that each normalise their own: recorded so, with a warning."""
    from minicnn import checkpoint
    arrays = checkpoint.read_npz(source)
    meta = checkpoint.read_meta(source, arrays)
    if meta is None:
        raise checkpoint.CheckpointError(f"{source}: not a minicnn checkpoint (no metadata)")
    if meta.get("model", SPLIT_MODELS[0]) not in SPLIT_MODELS:   # whose every tensor would be halved
        raise SplitError(f"{source}: a checkpoint of {meta['model']}, which has no towers to split into: the "
                         f"split is that of {' and '.join(SPLIT_MODELS)}")
    to_split = not any(k.startswith("model/tower0.") for k in arrays)
    architecture = meta.get("config", {}).get("architecture")
    _check_towers((architecture or {}).get("connectivity", "towers"), source)
    if to_split and architecture and architecture.get("lrn_groups", 1) != 2:
        architecture["lrn_groups"] = 2   # the record says what the towers compute
        warnings.warn(f"{source}: the run's LRN normalised across all the maps of its layer (--lrn-groups 1), the "
                      f"towers normalise each their own half: the split network computes otherwise than the run's "
                      f"until it trains on (a run with --lrn-groups 2 converts exactly)", stacklevel=2)
    out = {}
    for group in ("model", "optim"):
        part = {k[len(group) + 1:]: v for k, v in arrays.items() if k.startswith(group + "/")}
        if part:
            converted = split_state(part) if to_split else merge_state(part)
            out.update({f"{group}/{k}": np.asarray(v) for k, v in converted.items()})
    meta["random_state"] = _convert_random_state(meta.get("random_state", {}), to_split)
    meta["split"] = "two-device" if to_split else "none"
    if "split" in meta.get("config", {}):   # the run's settings, as the sidecar shows them, say it too
        meta["config"]["split"] = meta["split"]
    checkpoint.write(target, out, meta)
    return "split" if to_split else "grouped"


