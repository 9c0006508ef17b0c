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
with a deadline (``timeout`` seconds, default 300 or $MINICNN_MPI_TIMEOUT); past it the rank prints
which operation timed out and aborts the whole job (MPI_Abort). When a rank process dies, Open
MPI's mpirun also ends the job on its own.

GPUs: one rank per GPU would all-reduce with NCCL (``cupy.cuda.nccl``) bootstrapped over MPI; that
path is not written yet (no GPU was available to test it), and arrays on a GPU are refused with a
clear error.
"""
import os
import sys
import time

import numpy as np

from minicnn.backend import device_of

BUCKET_BYTES = 32 * 2 ** 20   # gradients are all-reduced in buckets of about this size
DEFAULT_TIMEOUT = 300.0


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
        self.timeout = float(timeout or os.environ.get("MINICNN_MPI_TIMEOUT", DEFAULT_TIMEOUT))
        self.allreduce_seconds = 0.0   # time spent in gradient all-reduces (for benchmarks)

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
                message = (f"minicnn rank {self.rank}/{self.size}: {what} did not complete within "
                           f"{self.timeout:g} s: another rank died or hangs; aborting the job")
                print(message, file=sys.stderr, flush=True)
                self.comm.Abort(1)
                raise DistributedError(message)
            time.sleep(pause)
            pause = min(pause * 2, 1e-3)

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

    # --- models -----------------------------------------------------------------------------
    def broadcast_parameters(self, model):
        """Every rank starts from rank 0's parameters and buffers."""
        for name, array in model.state_dict().items():
            _check_cpu(array, name)
            self.broadcast(array, f"broadcast of {name}")

    def average_gradients(self, model):
        """Replace every trainable parameter's gradient by its mean over the ranks, with one
        all-reduce per bucket of about BUCKET_BYTES."""
        if self.comm is None or self.size == 1:
            return
        start = time.perf_counter()
        params = [(n, p) for n, p in model.named_params() if not p.frozen]
        for bucket in _buckets(params):
            dtype = bucket[0][1].grad.dtype
            flat = np.concatenate([p.grad.ravel() for _, p in bucket]).astype(dtype, copy=False)
            self.allreduce_sum(flat, f"all-reduce of the gradients of {bucket[0][0]}...{bucket[-1][0]}")
            flat /= self.size
            offset = 0
            for _, p in bucket:
                p.grad = flat[offset:offset + p.grad.size].reshape(p.grad.shape)
                offset += p.grad.size
        self.allreduce_seconds += time.perf_counter() - start

    def average_buffers(self, model):
        """BatchNorm's running statistics averaged over the ranks (in place)."""
        if self.comm is None:
            return
        for name, buffer in model.named_buffers():
            _check_cpu(buffer, name)
            buffer[...] = self.allreduce_sum(np.array(buffer), f"all-reduce of {name}") / self.size


def _check_cpu(array, name):
    if device_of(array) != "cpu":
        raise DistributedError(f"{name} is on the GPU: distributed training all-reduces NumPy arrays over MPI; "
                               f"the NCCL path for GPUs is not written yet")


def _buckets(params):
    """Consecutive (name, Param) groups of about BUCKET_BYTES, in reverse order (the order in
    which backward produces them, so a future overlap can start with the first bucket)."""
    buckets, current, size = [], [], 0
    for name, p in reversed(params):
        _check_cpu(p.grad, name)
        current.append((name, p))
        size += p.grad.nbytes
        if size >= BUCKET_BYTES:
            buckets.append(current)
            current, size = [], 0
    if current:
        buckets.append(current)
    return buckets
