"""BatchNorm's running statistics in data-parallel training, for tests/test_distributed.py (started
under mpirun): each rank's ``Communicator.average_buffers`` leaves every rank with the mean over
the ranks of their buffers, as the end of each epoch of ``minicnn.train.fit`` does. Rank r sets its
running means to r + 1 and its running variances to (r + 1)**2; prints "buffers ok" and exits 0
when every rank then holds (K + 1) / 2 and (K + 1)(2K + 1) / 6.

    mpirun -np 2 python tests/mpi_average_buffers.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn import BatchNorm2D, Conv2D, Sequential  # noqa: E402
from minicnn.distributed import Communicator  # noqa: E402


def main():
    comm = Communicator.world(timeout=60)
    model = Sequential([("conv", Conv2D(1, 4, 3)), ("norm", BatchNorm2D(4, dtype=np.float64))])
    k, r = comm.size, comm.rank
    model["norm"].buffers["running_mean"][...] = r + 1
    model["norm"].buffers["running_var"][...] = (r + 1) ** 2
    comm.average_buffers(model)
    mean, var = model["norm"].buffers["running_mean"], model["norm"].buffers["running_var"]
    if not (np.allclose(mean, (k + 1) / 2, rtol=1e-15) and np.allclose(var, (k + 1) * (2 * k + 1) / 6, rtol=1e-15)):
        print(f"rank {r}: running mean {mean}, variance {var} after averaging over {k} ranks", flush=True)
        sys.exit(1)
    if comm.is_root:
        print(f"buffers ok: {k} ranks", flush=True)


if __name__ == "__main__":
    main()
