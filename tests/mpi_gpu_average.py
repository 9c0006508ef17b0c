"""The NCCL path of minicnn.distributed on whatever GPUs there are, for tests/test_distributed.py
(started under mpirun, one rank per GPU; a single GPU allows a 1-rank run): every rank computes
the same gradients of alexnet_small (float64, identical data), averages them through NCCL with
the all-reduces overlapping the backward (tiny buckets: one per parameter), and checks that the
averages equal its own gradients. Prints "nccl ok" and exits 0 when they do.

    mpirun -np 1 python tests/mpi_gpu_average.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn import SoftmaxCrossEntropy, distributed, models  # noqa: E402
from minicnn.backend import to_device, to_numpy  # noqa: E402
from minicnn.distributed import Communicator, GradientAverager  # noqa: E402


def main():
    distributed.BUCKET_BYTES = 1
    comm = Communicator.world(timeout=60)
    device = comm.use_local_gpu()
    model = models.alexnet_small(width=4, dropout=0.0, dtype=np.float64).to("cuda")
    rng = np.random.default_rng(0)
    x = to_device(rng.standard_normal((4, 1, 28, 28)), "cuda")
    y = to_device(np.array([0, 3, 5, 9]), "cuda")
    loss = SoftmaxCrossEntropy().to("cuda")
    loss.forward(model.forward(x, train=True), y)
    dout = loss.backward()
    model.backward(dout)
    expected = {n: to_numpy(p.grad).copy() for n, p in model.named_params()}
    averager = GradientAverager(comm, model)   # also at 1 rank, where Communicator.backward would skip it
    for step in range(3):                      # again and again: buffers and events are reused
        model.forward(x, train=True)
        with averager.hooked(overlap=True):
            model.backward(dout)
        averager.finish()
        for name, p in model.named_params():
            got = to_numpy(p.grad)
            error = float(np.abs(got - expected[name]).max() / max(np.abs(expected[name]).max(), 1e-300))
            if not error < 1e-12:
                print(f"rank {comm.rank}: {name} differs by {error:.1e} at step {step}", flush=True)
                sys.exit(1)
    if comm.is_root:
        print(f"nccl ok: {comm.size} rank(s), GPU {device} on rank 0, "
              f"{len(averager.buckets)} buckets per step", flush=True)


if __name__ == "__main__":
    main()
