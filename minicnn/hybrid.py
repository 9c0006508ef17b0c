"""The "one weird trick" (Krizhevsky 2014, "One weird trick for parallelizing convolutional neural
networks") over the ranks of an MPI job: the convolutional layers are data-parallel, the
fully-connected layers model-parallel.

    mpirun -np 4 python examples/train_alexnet.py --distributed --hybrid ...
    net = HybridNet(models.alexnet(), Communicator.world())   # a collective: every rank calls it

Why. AlexNet's convolutions hold 4% of its 61M parameters and do 92% of its arithmetic; its FC
layers the reverse. Plain data parallelism all-reduces every gradient every step (244 MB, 94% of
it FC weights), whatever the batch. Here the ranks share the FC layers' arithmetic instead, and
exchange the FC layers' activations: 2 x (9216 + 4096 + 4096 + 1000) floats per image, 147 KB,
so 19 MB per step for a global batch of 128: the volume grows with the batch, not with the weights.

Layout with K ranks and B images per rank (rank r holds output features [o_r, o_r+1) of each
FC layer, cut as evenly as possible, and its own images' convolutions):

    conv1 ... flatten       rank r: its own B images, every layer whole    (B, 9216)
    gather_rows             every rank: all K*B images, in rank order      (K*B, 9216)  all-gather
    fc6, relu6, drop6       rank r: its slice of fc6's outputs             (K*B, 4096/K)
    gather_fc7              all of fc6's outputs                           (K*B, 4096)  all-gather
    fc7, relu7, drop7       rank r's slice                                 (K*B, 4096/K)
    gather_fc8, fc8         rank r's slice of the classes                  (K*B, 1000/K)
    scatter_rows            rank r: its own B images, every class          (B, 1000)    all-to-all

The backward runs the inverse: an all-gather's gradient is a reduce-scatter (each rank's part
summed over the ranks' partial products), the all-to-all's is the all-to-all back. Dropout
draws each slice's part of the whole batch's mask.

Gradients. The convolutions' are averaged over the ranks as in plain data parallelism. Each FC
slice's gradient comes from all K*B images, through every rank's loss (each the mean over its B
images): it is the sum of the ranks' gradients, so it is divided by K (``Param.sharded``; see
``minicnn.distributed.GradientAverager``) and nothing is all-reduced. The result is the training
of one process with batch K*B (tests/test_distributed.py checks it to 1e-10 in float64).

State. Rank r holds only its slices of fc6-fc8 and their momentum. Checkpoints hold whole
tensors in the plain model's layout (``gather_state``, a collective, before rank 0 writes;
``local_state`` when loading), so a checkpoint of a hybrid run loads into one process, and a run
can resume on another number of ranks.

Devices. On "cpu" the layers run NumPy; on "cuda" (one rank per GPU, as in plain data
parallelism: ``Communicator.use_local_gpu``) and "sim" they run minicnn's kernels. The exchanges
go over MPI between host arrays: on a GPU each collective layer copies its input to the host and
its result back (147 KB per image each way); the convolutions' gradients are all-reduced with
NCCL as in plain data parallelism. Keeping the activations on the GPU would take NCCL's
all-gather, reduce-scatter and grouped sends: not done.

Limits: the model must be a flat Sequential with a Flatten followed by Dense, ReLU (or Tanh) and
Dropout layers only (``models.alexnet``, ``models.alexnet_small``), on the CPU when the hybrid is
built (move it after); every rank must run the same number of forwards (evaluation batches are
sized for it: ``minicnn.train.common_batch_size``).
"""
import numpy as np

from minicnn.backend import to_device, to_numpy
from minicnn.layers import Dense, Dropout, Flatten
from minicnn.layers.base import Elementwise, Layer
from minicnn.sequential import Sequential


class HybridError(ValueError):
    """The model cannot be made hybrid, or a hybrid model was asked to do what it cannot."""


def slice_bounds(total, ranks):
    """[b_0, ..., b_ranks]: rank r holds features [b_r, b_r+1) of ``total``, as even as can be."""
    return [total * r // ranks for r in range(ranks + 1)]


class _Collective(Layer):
    """A layer without parameters that exchanges activations between the ranks of ``comm``, over
    MPI between host arrays: ``_host`` brings its input to the host, ``_device`` takes the result
    back to the layer's device (both no copy on "cpu" and "sim")."""

    def __init__(self, comm):
        super().__init__()
        self.comm = comm

    def _host(self, x):
        return np.ascontiguousarray(to_numpy(x))

    def _input(self, x):
        return self._host(x).ravel()

    def _device(self, a):
        return to_device(a, self.device)


class GatherRows(_Collective):
    """(B_r, F) on rank r -> (sum of B, F) on every rank: all the ranks' rows in rank order
    (all-gather). Backward: rank r's rows of the gradient, summed over the ranks (reduce-scatter).
    ``rows`` holds every rank's B_r from the last forward (``ScatterRows`` sends them back)."""

    def __init__(self, comm):
        super().__init__(comm)
        self.rows = None

    def output_shape(self, input_shape):
        self.expect_rank(input_shape, 2, "N, features")
        return (input_shape[0] * self.comm.size, input_shape[1])   # when every rank has N rows

    def _forward(self, x, train):
        features = x.shape[1]
        self.rows = self.comm.allgather_counts(x.shape[0], "all-gather of the batch sizes")
        y = self.comm.allgatherv(self._input(x), self.rows * features, "all-gather of the rows")
        self._cache = True if train else None
        return self._device(y.reshape(-1, features))

    def _backward(self, dout):
        features = dout.shape[1]
        dx = self.comm.reduce_scatterv(self._input(dout), self.rows * features, "reduce-scatter of the rows")
        return self._device(dx.reshape(-1, features))


class _FeatureSlices(_Collective):
    """A layer whose input on rank r is its slice [b_r, b_r+1) of ``features`` features."""

    def __init__(self, comm, features):
        super().__init__(comm)
        self.features = features
        self.bounds = slice_bounds(features, comm.size)
        self.widths = np.diff(self.bounds)

    def _check_slice(self, input_shape):
        self.expect_rank(input_shape, 2, "N, features")
        if input_shape[1] != self.widths[self.comm.rank]:
            raise ValueError(f"{self!r}: expected rank {self.comm.rank}'s {self.widths[self.comm.rank]} of "
                             f"{self.features} features, got shape {tuple(input_shape)}")

    def _join(self, flat, rows):
        """The ranks' slices (rank k's (rows, F_k) block after rank k-1's in ``flat``) side by side."""
        blocks = np.split(flat, np.cumsum(rows * self.widths)[:-1])
        return np.concatenate([b.reshape(rows, w) for b, w in zip(blocks, self.widths)], axis=1)

    def _columns(self, a):
        """(M, features) -> each rank's slice of columns, flat and contiguous, in rank order (on the host)."""
        a = self._host(a)
        return np.concatenate([a[:, lo:hi].ravel() for lo, hi in zip(self.bounds, self.bounds[1:])])

    def extra_repr(self):
        return f"{self.features}"


class GatherFeatures(_FeatureSlices):
    """(M, F_r), rank r's slice of ``features`` features -> (M, features) on every rank
    (all-gather along axis 1). Backward: rank r's columns summed over the ranks (reduce-scatter)."""

    def output_shape(self, input_shape):
        self._check_slice(input_shape)
        return (input_shape[0], self.features)

    def _forward(self, x, train):
        rows = x.shape[0]
        gathered = self.comm.allgatherv(self._input(x), rows * self.widths, "all-gather of the features")
        self._cache = True if train else None
        return self._device(self._join(gathered, rows))

    def _backward(self, dout):
        rows = dout.shape[0]
        dx = self.comm.reduce_scatterv(self._columns(dout), rows * self.widths, "reduce-scatter of the features")
        return self._device(dx.reshape(rows, -1))


class ScatterRows(_FeatureSlices):
    """(all rows, F_r), rank r's slice of ``features`` outputs for every rank's rows -> (B_r,
    features): rank r's own rows, every output (all-to-all). ``rows`` is the GatherRows layer
    whose row counts say which rows are whose. Backward: the all-to-all back."""

    def __init__(self, comm, features, rows):
        super().__init__(comm, features)
        self.gather = rows

    def output_shape(self, input_shape):
        self._check_slice(input_shape)
        return (input_shape[0] // self.comm.size, self.features)

    def _forward(self, x, train):
        rows, mine = self.gather.rows, self.comm.rank
        if x.shape[0] != rows.sum():
            raise HybridError(f"{self!r}: {x.shape[0]} rows, but the ranks gathered {rows.sum()}")
        received = self.comm.alltoallv(self._input(x), rows * self.widths[mine], rows[mine] * self.widths,
                                       "all-to-all of the outputs")
        self._cache = True if train else None
        return self._device(self._join(received, rows[mine]))

    def _backward(self, dout):
        rows, mine = self.gather.rows, self.comm.rank
        dx = self.comm.alltoallv(self._columns(dout), rows[mine] * self.widths, rows * self.widths[mine],
                                 "all-to-all of the output gradients")
        return self._device(dx.reshape(-1, self.widths[mine]))


class HybridNet(Sequential):
    """``HybridNet(model, comm)``: ``model`` (a flat AlexNet-shaped Sequential, the same on every
    rank after rank 0's parameters are broadcast, which this constructor does) with its FC layers
    cut into the ranks' slices and the exchanges between them inserted (see the module's text).
    Parameter names are the model's (``fc6.weight`` is rank r's rows of it)."""

    def __init__(self, model, comm):
        if not isinstance(model, Sequential):
            raise HybridError(f"HybridNet: expected a Sequential, got {type(model).__name__}")
        names = list(model.layers)
        flat = [n for n in names if isinstance(model.layers[n], Flatten)]
        if not flat:
            raise HybridError("HybridNet: the model has no Flatten layer, where its FC layers would begin")
        start = names.index(flat[-1]) + 1
        tail = [(n, model.layers[n]) for n in names[start:]]
        wrong = [f"{n} ({type(layer).__name__})" for n, layer in tail
                 if not isinstance(layer, (Dense, Elementwise, Dropout))]
        if wrong or not tail or not isinstance(tail[-1][1], Dense):
            found = f"got {', '.join(wrong)}" if wrong else "the last layer is not a Dense"
            raise HybridError(f"HybridNet: after the Flatten, expected Dense, ReLU (or Tanh) and Dropout layers "
                              f"ending in a Dense; {found} (models.alexnet and alexnet_small qualify)")
        if model.device != "cpu":
            raise HybridError(f"HybridNet: build the hybrid from a model on cpu (it slices the FC layers "
                              f"there), then move it with .to(device); the model is on {model.device}")
        comm.broadcast_parameters(model)          # the same whole layers on every rank, before slicing
        self.comm = comm
        self.slices = {}                          # parameter name -> (first, last) rows held here
        self.full_shapes = {}
        gather = GatherRows(comm)
        layers = [(n, model.layers[n]) for n in names[:start]] + [("gather_rows", gather)]
        sharded_width = None                      # features per rank after a Dense, None when whole
        for name, layer in tail:
            if isinstance(layer, Dense):
                if sharded_width is not None:
                    layers.append((f"gather_{name}", GatherFeatures(comm, sharded_width)))
                layers.append((name, self._slice(name, layer)))
                sharded_width = layer.out_features
            elif isinstance(layer, Dropout) and sharded_width is not None:
                bounds = slice_bounds(sharded_width, comm.size)
                part = Dropout(layer.p, layer.seed, mask_slice=(bounds[comm.rank], sharded_width))
                part.calls = layer.calls
                layers.append((name, part))
            else:
                layers.append((name, layer))
        layers.append(("scatter_rows", ScatterRows(comm, sharded_width, gather)))
        super().__init__(layers)

    def _slice(self, name, dense):
        """Rank r's rows of ``dense``'s weight and bias, as a Dense of its own."""
        lo, hi = slice_bounds(dense.out_features, self.comm.size)[self.comm.rank:self.comm.rank + 2]
        if hi == lo:
            raise HybridError(f"HybridNet: {name} has {dense.out_features} outputs, fewer than the "
                              f"{self.comm.size} ranks that would share them")
        part = Dense(dense.in_features, hi - lo, bias="bias" in dense.params, dtype=dense.dtype,
                     rng=np.random.default_rng(0), relu=dense.relu)
        for pname, p in dense.params.items():
            part.params[pname].data[...] = p.data[lo:hi]
            part.params[pname].sharded = True
            self.slices[f"{name}.{pname}"] = (lo, hi)
            self.full_shapes[f"{name}.{pname}"] = p.data.shape
        return part

    def num_params(self):
        """Parameters of the whole model, every rank's slices together."""
        return sum(int(np.prod(self.full_shapes.get(name, p.shape))) for name, p in self.named_params())

    def leaf_layers(self, input_shape):
        """``minicnn.summary``'s rows, with where each layer runs: on each rank's own images, over
        MPI, or as this rank's slice."""
        from minicnn.summary import leaf_layers
        rows, sliced = [], False
        for name, layer, in_shape, out_shape in leaf_layers(self, input_shape):
            if isinstance(layer, _Collective):
                where, sliced = "MPI", True
            else:
                where = f"{layer.device}, 1/{self.comm.size} of outputs" if sliced and layer.params else layer.device
            rows.append((name, layer, in_shape, out_shape, where))
        return rows

    def data_parallel_layers(self):
        """The leaf layers before ``gather_rows``: each rank runs them on its own images."""
        for name, layer in self.layers.items():
            if name == "gather_rows":
                return
            yield from layer.leaves()

    def gather_state(self, local):
        """{name: array} in this rank's layout (``state_dict()``, or an optimizer's) -> the
        plain model's layout: each sharded tensor whole, its ranks' rows concatenated. A
        collective: every rank calls it, with the same names in the same order."""
        whole = {}
        for name, array in local.items():
            if name not in self.slices:
                whole[name] = array
                continue
            rows = np.diff(slice_bounds(self.full_shapes[name][0], self.comm.size))
            per_row = int(np.prod(self.full_shapes[name][1:], dtype=np.int64))
            flat = self.comm.allgatherv(np.ascontiguousarray(to_numpy(array)).ravel(), rows * per_row,
                                        f"all-gather of {name} for a checkpoint")
            whole[name] = flat.reshape(self.full_shapes[name])
        return whole

    def local_state(self, whole):
        """The inverse of ``gather_state``: this rank's rows of each sharded tensor (no exchange)."""
        local = {}
        for name, array in whole.items():
            if name in self.slices and tuple(array.shape) == tuple(self.full_shapes[name]):
                lo, hi = self.slices[name]
                array = array[lo:hi]
            local[name] = array
        return local
