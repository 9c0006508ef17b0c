"""Data-parallel training over processes and machines with MPI (mpi4py), the standard engine.

    mpirun -np 4 python examples/train_alexnet.py --distributed ...

Every rank holds the whole model. Each step, rank r takes its shard of the global batch (the
same epoch order on every rank, from the shared seed: see ``shard``), computes its gradients, and
the gradients are averaged over the ranks with a few all-reduces of large buckets (not one call
per tensor). Parameters start identical (broadcast from rank 0), so they stay identical. Only rank
0 writes checkpoints, metrics and pictures and shows progress; every rank can resume from them.

BatchNorm: each rank normalises with its own batch's statistics (as one GPU per rank does in
PyTorch's DistributedDataParallel without SyncBatchNorm); the running averages are averaged over
the ranks before every evaluation and checkpoint (``average_buffers``), so all ranks agree.

A rank that dies or hangs must not hang the others: every collective is non-blocking and polled
with a deadline (``timeout`` seconds, default $MINICNN_MPI_TIMEOUT or 300); past it the rank prints
which operation timed out and aborts the whole job (MPI_Abort). When a rank process dies, Open
MPI's mpirun also ends the job on its own.

Overlap: ``Communicator.backward(model, dout)`` runs the backward and starts each bucket's
all-reduce as soon as the backward has stored every gradient in it (``Layer.grads_hook``), so the
last layers' gradients travel while the first layers still compute; buckets start in the same
order on every rank, as MPI and NCCL require of collectives.

GPUs: one rank per GPU (``use_local_gpu``). Gradients on a GPU are all-reduced with NCCL
(``cupy.cuda.nccl``, its unique id broadcast over MPI) on a communication stream of its own,
ordered after the stream that produced them and before the optimizer's by CUDA events, so the
host never waits for the GPU; a watchdog thread holds the NCCL operations to the same deadline.
Parameters and BatchNorm buffers, rare traffic, go through the host and MPI.
"""
import contextlib
import queue
import sys
import threading
import time

import numpy as np

from minicnn.backend import device_of, get_array_module, to_numpy
from minicnn.environment_variables import mpi_timeout

BUCKET_BYTES = 32 * 2 ** 20   # gradients are all-reduced in buckets of about this size


class DistributedError(RuntimeError):
    """MPI is missing, or a collective operation failed."""


def shard(num_examples, batch_size, world, rank, seed, epoch):
    """The index batches of ``rank`` for one epoch, as the training loader draws them: the global
    order is a permutation drawn from (seed, epoch), identical on every rank, cut by
    ``minicnn.data.loader.shard_batches``."""
    from minicnn.data.loader import shard_batches
    order = np.random.default_rng([seed, epoch]).permutation(num_examples)
    return shard_batches(order, batch_size, world, rank)


class Communicator:
    """The world of ranks (``rank``, ``size``); ``Communicator.single()`` is a world of one that
    needs no MPI (every operation is then the identity)."""

    def __init__(self, comm=None, timeout=None):
        self.comm = comm
        self.rank = comm.Get_rank() if comm is not None else 0
        self.size = comm.Get_size() if comm is not None else 1
        # a world of one never waits: it reads no deadline (nor a bad $MINICNN_MPI_TIMEOUT)
        self.timeout = float(timeout) if timeout else (mpi_timeout() if comm is not None else None)
        self.allreduce_seconds = 0.0   # time spent in gradient all-reduces (for benchmarks)
        self.exchange_seconds = 0.0    # time spent exchanging activations (minicnn.hybrid; benchmarks)
        self._averager_key = self._averager_cache = None   # the GradientAverager of the model in training
        self._nccl = None                                   # the NCCL transport, made on first use

    @classmethod
    def single(cls):
        return cls(None)

    @classmethod
    def world(cls, timeout=None):
        """MPI's COMM_WORLD; raises DistributedError saying how to install MPI when it is absent."""
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise DistributedError(
                f"--distributed needs MPI: install Open MPI (Debian: apt-get install openmpi-bin "
                f"libopenmpi-dev) and pip install 'minicnn[mpi]' ({exc})") from None
        return cls(MPI.COMM_WORLD, timeout)

    @property
    def is_root(self):
        return self.rank == 0

    # --- collectives with a deadline ---------------------------------------------------------
    def _wait(self, request, what):
        deadline = time.monotonic() + self.timeout
        pause = 1e-5
        while not request.Test():
            if time.monotonic() > deadline:
                self._abort(what)
            time.sleep(pause)
            pause = min(pause * 2, 1e-3)

    def _abort(self, what):
        """``what`` missed the deadline: say so and end the whole job."""
        message = (f"minicnn rank {self.rank}/{self.size}: {what} did not complete within "
                   f"{self.timeout:g} s: another rank died or hangs; aborting the job")
        print(message, file=sys.stderr, flush=True)
        self.comm.Abort(1)
        raise DistributedError(message)

    def allreduce_sum(self, buffer, what="all-reduce"):
        """Sum ``buffer`` (a contiguous NumPy array) over the ranks, in place."""
        if self.comm is None:
            return buffer
        from mpi4py import MPI
        self._wait(self.comm.Iallreduce(MPI.IN_PLACE, buffer, op=MPI.SUM), what)  # no extra copy
        return buffer

    def broadcast(self, buffer, what="broadcast"):
        """Rank 0's ``buffer`` into everyone's, in place."""
        if self.comm is not None:
            self._wait(self.comm.Ibcast(buffer, root=0), what)
        return buffer

    def broadcast_object(self, obj):
        """A small picklable object (metrics, a resume decision) from rank 0 to every rank."""
        if self.comm is None:
            return obj
        data = np.frombuffer(repr(obj).encode(), dtype=np.uint8) if self.is_root else None
        size = self.broadcast(np.array([0 if data is None else data.size], np.int64), "broadcast of a size")
        buffer = data.copy() if self.is_root else np.empty(int(size[0]), np.uint8)
        self.broadcast(buffer, "broadcast of an object")
        import ast
        return ast.literal_eval(buffer.tobytes().decode())

    def barrier(self):
        if self.comm is not None:
            self._wait(self.comm.Ibarrier(), "barrier")

    # --- collectives of activations (model parallelism: minicnn.hybrid) -----------------------
    # Each takes and returns flat contiguous NumPy arrays; ``counts`` are numbers of elements per
    # rank, in rank order. In a world of one they return their input.
    def _exchange(self, request, what):
        begin = time.perf_counter()
        self._wait(request, what)
        self.exchange_seconds += time.perf_counter() - begin

    def allgather_counts(self, count, what="all-gather of the counts"):
        """[the ``count`` of every rank] as an int64 array."""
        counts = np.array([count], np.int64)
        if self.comm is None:
            return counts
        everyone = np.empty(self.size, np.int64)
        self._exchange(self.comm.Iallgather(counts, everyone), what)
        return everyone

    def allgatherv(self, send, counts, what="all-gather"):
        """The ranks' ``send`` arrays (rank r's of counts[r] elements) concatenated in rank order."""
        if self.comm is None:
            return send
        received = np.empty(int(sum(counts)), send.dtype)
        self._exchange(self.comm.Iallgatherv(send, [received, [int(c) for c in counts]]), what)
        return received

    def reduce_scatterv(self, send, counts, what="reduce-scatter"):
        """``send`` (sum(counts) elements) summed over the ranks; rank r gets its block of counts[r]."""
        if self.comm is None:
            return send
        from mpi4py import MPI
        received = np.empty(int(counts[self.rank]), send.dtype)
        self._exchange(self.comm.Ireduce_scatter(send, received, [int(c) for c in counts], op=MPI.SUM), what)
        return received

    def alltoallv(self, send, send_counts, receive_counts, what="all-to-all"):
        """Block k of ``send`` (send_counts[k] elements) goes to rank k; returns the blocks received
        from ranks 0, 1, ... (receive_counts[k] elements from rank k) concatenated."""
        if self.comm is None:
            return send
        received = np.empty(int(sum(receive_counts)), send.dtype)
        self._exchange(self.comm.Ialltoallv([send, [int(c) for c in send_counts]],
                                            [received, [int(c) for c in receive_counts]]), what)
        return received

    # --- models -----------------------------------------------------------------------------
    def broadcast_parameters(self, model):
        """Every rank starts from rank 0's parameters and buffers (through the host, once);
        sharded parameters (each rank's own part of a layer) are left alone."""
        if self.comm is None:
            return
        sharded = {name for name, p in model.named_params() if p.sharded}
        for name, array in model.state_dict().items():
            if name not in sharded:
                _write_back(array, self.broadcast(np.ascontiguousarray(to_numpy(array)), f"broadcast of {name}"))

    def average_buffers(self, model):
        """BatchNorm's running statistics averaged over the ranks (in place)."""
        if self.comm is None:
            return
        for name, buffer in model.named_buffers():
            total = self.allreduce_sum(np.array(to_numpy(buffer)), f"all-reduce of {name}")
            _write_back(buffer, total / self.size)

    def use_local_gpu(self):
        """One rank per GPU: make GPU (this rank's index among the ranks on its machine, modulo
        the machine's GPUs) the current device of this process; returns its id. Call it before
        the model moves to "cuda"."""
        import cupy
        local = 0
        if self.comm is not None:
            from mpi4py import MPI
            local = self.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
        device = local % cupy.cuda.runtime.getDeviceCount()
        cupy.cuda.Device(device).use()
        return device

    # --- gradients ----------------------------------------------------------------------------
    def backward(self, model, dout, overlap=True):
        """``model.backward(dout)``, with every trainable gradient then averaged over the ranks
        (a sharded parameter's gradient, already summed over the ranks' losses, is divided by
        their number).
        With ``overlap`` each bucket's all-reduce starts inside the backward, as soon as its
        last gradient is stored; without it, all of them start after the backward. Returns dx."""
        if self.size == 1:
            return model.backward(dout)
        averager = self._averager(model)
        with averager.hooked(overlap):
            dx = model.backward(dout)
        averager.finish()
        return dx

    def _averager(self, model):
        key = (id(model),) + tuple((id(p), p.sharded) for _, p in model.named_params() if not p.frozen)
        if self._averager_key != key:   # built once per model and set of trained parameters
            self._averager_key, self._averager_cache = key, GradientAverager(self, model)
        return self._averager_cache

    def _transport(self, array):
        if device_of(array) == "cuda":
            if self._nccl is None:
                self._nccl = _NcclTransport(self)
            return self._nccl
        return _MpiTransport(self)


class GradientAverager:
    """Averages one model's gradients over the ranks in buckets of about BUCKET_BYTES (the last
    layers' first: the order in which backward produces them). A bucket starts when all of its
    gradients are stored and every earlier bucket has started; ``finish`` starts what is left,
    waits for all and puts the averages back into ``Param.grad`` (views of the bucket).

    Sharded parameters are not all-reduced: each rank holds its own part of the layer, and the
    backward computed its gradient from every rank's images (minicnn.hybrid), summing the ranks'
    mean losses; ``finish`` divides it by the number of ranks, which makes it the mean too."""

    def __init__(self, comm, model):
        self.comm, self.model = comm, model
        self.sharded = [p for _, p in model.named_params() if p.sharded and not p.frozen]
        named = [(n, p) for n, p in model.named_params() if not p.frozen and not p.sharded]
        self.buckets = _buckets(named)
        self.bucket_of = {id(p): i for i, bucket in enumerate(self.buckets) for _, p in bucket}
        self.layers = [layer for layer in model.leaves()       # those whose backward stores gradients
                       if any(id(p) in self.bucket_of for p in layer.params.values())]
        self.lock = threading.Lock()
        self.transport = None
        self._reset()

    def _reset(self):
        self.stored = [0] * len(self.buckets)   # gradients stored so far, per bucket
        self.started = []                       # (bucket, handle) in start order

    @contextlib.contextmanager
    def hooked(self, overlap):
        """A context in which the layers' ``grads_hook`` starts buckets (when ``overlap``)."""
        for layer in self.layers:
            layer.grads_hook = self._grads_stored if overlap else None
        try:
            yield
        finally:
            for layer in self.layers:
                layer.grads_hook = None

    def _grads_stored(self, layer):
        with self.lock:
            begin = time.perf_counter()
            for p in layer.params.values():
                if id(p) in self.bucket_of:
                    self.stored[self.bucket_of[id(p)]] += 1
            transport = self._transport()
            if transport.from_any_thread or threading.current_thread() is threading.main_thread():
                self._start_ready(transport, complete_only=True)
            transport.progress(self.started)
            self.comm.allreduce_seconds += time.perf_counter() - begin

    def _transport(self):
        if self.transport is None:
            self.transport = self.comm._transport(self.buckets[0][0][1].grad)
        return self.transport

    def _start_ready(self, transport, complete_only):
        while len(self.started) < len(self.buckets):
            index = len(self.started)
            bucket = self.buckets[index]
            if complete_only and self.stored[index] < len(bucket):
                return                          # later buckets wait: the same order on every rank
            xp = get_array_module(bucket[0][1].grad)
            flat = xp.concatenate([p.grad.ravel() for _, p in bucket])
            what = f"all-reduce of the gradients of {bucket[0][0]}...{bucket[-1][0]}"
            self.started.append((bucket, transport.start(flat, what)))

    def finish(self):
        for p in self.sharded:
            p.grad /= self.comm.size
        begin = time.perf_counter()
        if not self.buckets:
            return
        transport = self._transport()
        with self.lock:
            self._start_ready(transport, complete_only=False)
            started = self.started
            self._reset()
        for bucket, handle in started:
            flat = transport.finish(handle)
            offset = 0
            for _, p in bucket:
                p.grad = flat[offset:offset + p.grad.size].reshape(p.grad.shape)
                offset += p.grad.size
        self.comm.allreduce_seconds += time.perf_counter() - begin


class _MpiTransport:
    """Host arrays: a non-blocking in-place MPI all-reduce, waited for against the deadline."""

    def __init__(self, comm):
        from mpi4py import MPI
        self.comm, self.mpi = comm, MPI
        # a split model stores gradients from worker threads; MPI must then allow calls from any
        self.from_any_thread = MPI.Query_thread() == MPI.THREAD_MULTIPLE

    def start(self, flat, what):
        return self.comm.comm.Iallreduce(self.mpi.IN_PLACE, flat, op=self.mpi.SUM), flat, what

    def progress(self, started):
        """Let MPI advance the started all-reduces (Open MPI progresses them inside MPI calls)."""
        for _, (request, _, _) in started:
            request.Test()

    def finish(self, handle):
        request, flat, what = handle
        self.comm._wait(request, what)
        flat /= self.comm.size
        return flat


class _NcclTransport:
    """GPU arrays: NCCL all-reduces on a stream of their own. Each waits for an event recorded on
    the stream that packed its bucket, is scaled to the mean there, and the caller's stream waits
    for its completion event: no host synchronisation. A watchdog thread aborts the job when an
    all-reduce misses the deadline (NCCL itself would wait for a dead rank forever)."""

    from_any_thread = True

    def __init__(self, comm):
        import cupy
        try:
            from cupy.cuda import nccl
            nccl.get_version()
        except Exception as exc:   # ImportError, or a CuPy built without NCCL
            raise DistributedError(f"gradients on the GPU are all-reduced with NCCL, which CuPy cannot load "
                                   f"({exc}); pip install nvidia-nccl-cu13 (or -cu12)") from None
        self.cupy, self.nccl_module, self.comm = cupy, nccl, comm
        unique_id = comm.broadcast_object(nccl.get_unique_id() if comm.is_root else None)
        self.nccl = nccl.NcclCommunicator(comm.size, unique_id, comm.rank)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.types = {np.dtype(np.float32): nccl.NCCL_FLOAT32, np.dtype(np.float64): nccl.NCCL_FLOAT64}
        self.watchdog = queue.Queue()
        threading.Thread(target=self._watch, args=(cupy.cuda.Device().id,), daemon=True,
                         name="minicnn-nccl-watchdog").start()

    def start(self, flat, what):
        packed = self.cupy.cuda.get_current_stream().record()
        self.stream.wait_event(packed)
        self.nccl.allReduce(flat.data.ptr, flat.data.ptr, flat.size, self.types[flat.dtype],
                            self.nccl_module.NCCL_SUM, self.stream.ptr)
        with self.stream:
            flat /= self.comm.size
        done = self.stream.record()
        self.watchdog.put((done, what, time.monotonic() + self.comm.timeout))
        return done, flat

    def progress(self, started):
        pass

    def finish(self, handle):
        done, flat = handle
        self.cupy.cuda.get_current_stream().wait_event(done)
        return flat

    def _watch(self, device):
        self.cupy.cuda.Device(device).use()
        while True:
            done, what, deadline = self.watchdog.get()
            pause = 1e-4
            while not done.done:
                if time.monotonic() > deadline:
                    self.nccl.abort()
                    self.comm._abort(f"NCCL {what}")   # ends the process: MPI_Abort
                time.sleep(pause)
                pause = min(pause * 2, 1e-2)


def offset_dropout_rows(layers, first_row):
    """Set ``first_row`` of every Dropout among ``layers``: a rank whose images are rows
    [first_row, first_row + B) of the global batch then drops the units one process would drop
    in those rows with the whole batch, not the same units as every other rank."""
    from minicnn.layers import Dropout
    for layer in layers:
        if isinstance(layer, Dropout):
            layer.first_row = first_row


def _write_back(target, host):
    """Copy the host array ``host`` into ``target`` (NumPy or CuPy) in place."""
    target[...] = host if device_of(target) == "cpu" else get_array_module(target).asarray(host)


def _buckets(params):
    """Consecutive (name, Param) groups of about BUCKET_BYTES, in reverse order (the order in
    which backward produces them, so the first bucket can start while backward goes on)."""
    buckets, current, size = [], [], 0
    for name, p in reversed(params):
        current.append((name, p))
        size += p.grad.nbytes
        if size >= BUCKET_BYTES:
            buckets.append(current)
            current, size = [], 0
    if current:
        buckets.append(current)
    return buckets
