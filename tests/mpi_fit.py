"""A small data-parallel training run for tests/test_distributed.py, started by the tests under
mpirun (or run directly as one process): alexnet_small (width 4, float64, no dropout by default) on
generated images, trained by minicnn.train.fit with a Communicator; ``--hybrid`` makes its FC
layers model-parallel (minicnn.hybrid), ``--dropout`` gives its two dropout layers that probability.

    python tests/mpi_fit.py OUT --batch B [--epochs E] [--resume] [--single] [--interrupt-after E]
                               [--hang-rank R | --kill-rank R] [--bucket-bytes N] [--no-overlap]
                               [--hybrid] [--dropout P] [--device cpu|sim]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn import models  # noqa: E402
from minicnn import distributed  # noqa: E402
from minicnn.distributed import Communicator  # noqa: E402
from minicnn.hybrid import HybridNet  # noqa: E402
from minicnn.train import fit  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--single", action="store_true", help="one process, no MPI")
    p.add_argument("--hang-rank", type=int, default=None)
    p.add_argument("--kill-rank", type=int, default=None)
    p.add_argument("--bucket-bytes", type=int, default=None, help="gradient bucket size (default: the library's)")
    p.add_argument("--no-overlap", action="store_true", help="all-reduce after the backward, not during it")
    p.add_argument("--hybrid", action="store_true", help="FC layers model-parallel over the ranks")
    p.add_argument("--device", default="cpu", choices=("cpu", "sim"),
                   help="where the layers run: NumPy, or minicnn's kernels under the simulator")
    p.add_argument("--dropout", type=float, default=0.0, help="drop probability of fc6's and fc7's dropout")
    p.add_argument("--interrupt-after", type=int, default=None,
                   help="every rank stops after this many epochs (checkpoint written), like a killed job")
    args = p.parse_args()
    if args.bucket_bytes:
        distributed.BUCKET_BYTES = args.bucket_bytes
    comm = Communicator.single() if args.single else Communicator.world()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (96, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 96)
    data = dict(train=(images[:72], labels[:72]), val=(images[72:84], labels[72:84]), test=(images[84:], labels[84:]))
    model = models.alexnet_small(width=4, dropout=args.dropout, dtype=np.float64, seed=comm.rank)  # broadcast fixes it
    if args.hybrid:
        model = HybridNet(model, comm)
    cfg = dict(model_name="alexnet_small", epochs=args.epochs, batch_size=args.batch, lr=0.05, momentum=0.9,
               weight_decay=5e-4, schedule="linear", step_every=1, input_size=28, augment=False, augment_pad=0,
               mean=(0.5,), std=(0.25,), seed=3, device=args.device, out=args.out, resume=args.resume,
               overlap=not args.no_overlap)
    if args.hang_rank is not None or args.kill_rank is not None:
        plain = comm.backward
        calls = []

        def failing(model, dout, overlap=True):
            calls.append(1)
            if len(calls) == 2 and comm.rank == args.hang_rank:
                time.sleep(3600)                     # a rank that hangs
            if len(calls) == 2 and comm.rank == args.kill_rank:
                os._exit(3)                          # a rank that dies
            return plain(model, dout, overlap)
        comm.backward = failing
    if args.interrupt_after is not None:
        plain_barrier, epochs_done = comm.barrier, []

        def barrier_then_stop():   # fit's barrier after each epoch's checkpoint
            plain_barrier()
            epochs_done.append(1)
            if len(epochs_done) == args.interrupt_after:
                sys.exit(0)
        comm.barrier = barrier_then_stop
    fit(model, data, cfg, log=lambda *a: None, comm=comm)


if __name__ == "__main__":
    main()
