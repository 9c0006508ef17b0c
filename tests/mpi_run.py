"""Helpers of the MPI tests (test_distributed.py, test_hybrid.py): skip where MPI is absent, start
``tests/mpi_fit.py`` under mpirun, compare the checkpoints it writes."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, "mpi_fit.py")   # the training run the tests start


def mpi_missing():
    if shutil.which("mpirun") is None:
        return "mpirun is not installed (Debian: apt-get install openmpi-bin libopenmpi-dev)"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install 'minicnn[mpi]')"
    return None


needs_mpi = pytest.mark.skipif(mpi_missing() is not None, reason=str(mpi_missing()))


def run(ranks, *args, timeout=120, env=None, program=PROGRAM):
    """``program`` (``tests/mpi_fit.py``) on ``ranks`` ranks (or alone with ranks=0); returns
    (returncode, output, seconds)."""
    full_env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                    OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1", **(env or {}))
    command = [sys.executable, program, *args]
    if ranks:
        command = ["mpirun", "-np", str(ranks), "--oversubscribe", *command]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=full_env)
    return result.returncode, result.stdout + result.stderr, time.perf_counter() - start


def params(folder):
    with np.load(os.path.join(folder, "checkpoint.npz")) as f:
        return {k: f[k] for k in f.files if k.startswith("model/")}


def assert_same_training(folder, single_folder):
    distributed, single = params(folder), params(single_folder)
    assert distributed.keys() == single.keys()      # a hybrid checkpoint has the plain model's layout
    for name, value in single.items():
        error = np.abs(distributed[name] - value).max() / np.abs(value).max()
        assert error < 1e-10, f"{name}: relative difference {error:.1e}"
    # the test's confusion matrix counts each rank's share of the test set once, all-reduced
    tests = [json.load(open(os.path.join(f, "test_metrics.json"))) for f in (folder, single_folder)]
    assert tests[0]["confusion"] == tests[1]["confusion"] and sum(map(sum, tests[0]["confusion"])) == 12
    assert tests[0]["per_class_top1"] == tests[1]["per_class_top1"]
    # each rank's largest losses gathered, with their indices in the whole test set
    ranked = [[(r["index"], r["label"], r["predicted"]) for r in t["largest_losses"]] for t in tests]
    assert ranked[0] == ranked[1] and sorted(i for i, _, _ in ranked[0]) == list(range(12))
    np.testing.assert_allclose([r["loss"] for r in tests[0]["largest_losses"]],
                               [r["loss"] for r in tests[1]["largest_losses"]], rtol=1e-9)
    # the first eight test images' five most probable classes, each row from the rank that holds it
    first = [[(r["index"], r["label"], [k for k, _ in r["top5"]]) for r in t["first_top5"]] for t in tests]
    assert first[0] == first[1] and [i for i, _, _ in first[0]] == list(range(8))
    np.testing.assert_allclose([[p for _, p in r["top5"]] for r in tests[0]["first_top5"]],
                               [[p for _, p in r["top5"]] for r in tests[1]["first_top5"]], rtol=1e-9)


DROPOUT = ["--dropout", "0.5"]   # each rank drops the units one process drops in its rows
