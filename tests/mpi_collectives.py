"""Two collectives of minicnn.distributed that the training runs of tests/mpi_fit.py do not check,
for tests/test_distributed.py (started under mpirun); prints "collectives ok" and exits 0 when both
do what they say on every rank:

- ``Communicator.average_buffers``: every rank holds the mean over the ranks of BatchNorm's
  running statistics, as at the end of each epoch of ``minicnn.train.fit``. Rank r sets its
  running means to r + 1 and its variances to (r + 1)**2: the means are (K + 1) / 2 and
  (K + 1)(2K + 1) / 6.
- ``Communicator.broadcast_object`` (how NCCL's id reaches the ranks): rank 0's object on every rank.

    mpirun -np 2 python tests/mpi_collectives.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn import BatchNorm2D, Conv2D, Sequential  # noqa: E402
from minicnn.distributed import Communicator  # noqa: E402


def fail(comm, message):
    print(f"rank {comm.rank}: {message}", flush=True)
    sys.exit(1)


def main():
    comm = Communicator.world(timeout=60)
    k, r = comm.size, comm.rank
    model = Sequential([("conv", Conv2D(1, 4, 3)), ("norm", BatchNorm2D(4, dtype=np.float64))])
    model["norm"].buffers["running_mean"][...] = r + 1
    model["norm"].buffers["running_var"][...] = (r + 1) ** 2
    comm.average_buffers(model)
    mean, var = model["norm"].buffers["running_mean"], model["norm"].buffers["running_var"]
    if not (np.allclose(mean, (k + 1) / 2, rtol=1e-15) and np.allclose(var, (k + 1) * (2 * k + 1) / 6, rtol=1e-15)):
        fail(comm, f"running mean {mean}, variance {var} after averaging over {k} ranks")
    sent = {"id": bytes(range(128)), "rank": r, "ranks": [k] * 3} if comm.is_root else None
    got = comm.broadcast_object(sent)
    if got != {"id": bytes(range(128)), "rank": 0, "ranks": [k] * 3}:
        fail(comm, f"broadcast_object gave {got!r}")
    if comm.is_root:
        print(f"collectives ok: {k} ranks", flush=True)


if __name__ == "__main__":
    main()
