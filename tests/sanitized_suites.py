"""The sanitized kernel suites that tests/test_simulator.py::test_every_kernel_is_clean_under_the_sanitizer
checks: the simulated kernel tests run again in a child process under AddressSanitizer (every array
access checked), ThreadSanitizer (every pair of a block's threads checked for races) and the
simulator's check of races between blocks (every element a block writes, against the others).

The children start with the session (tests/conftest.py), and the tests that wait for them run
last: every other test runs beside them first."""
import functools
import os
import subprocess
import sys

from minicnn import simulator
from minicnn.simulator import SimulatorError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_NAME = "test_every_kernel_is_clean_under_the_sanitizer"

# Each runs every simulated kernel test. (ThreadSanitizer skipped the exact AlexNet shapes and the
# float64 cases while the simulator ran a block's threads as OS threads, when it took 4.5 min for
# the rest; with fibers it ran all 780 alone on 2 cores in 4.8 min, the other two in about 1, and
# 1070 in 5.3 min, the others 0.8 and 0.9, on 2026-12-07: all but test_gemm.py's float64 cases.)
SELECTION = "sim"

# Each child's NumPy work on one thread (minicnn.cpu_threads and OpenBLAS both read the variable):
# OpenBLAS's idle worker threads spin, and with the main run and three children on CI's two cores
# every spinning thread takes time from a process with work to do. (The kernels' CPU references
# give the same bits on one thread as on several.)
CHILD_ENVIRONMENT = dict(os.environ, OPENBLAS_NUM_THREADS="1")

# Priorities (nice values). On a slow 2-core host (2026-12-02) the suite took 1138 s with the main
# run and three children at one priority, each taking turns with the others, where the main run
# alone took about 780. With every child at nice 10 it took 1016 s, ThreadSanitizer's still running
# 2 min after the rest (it has the most work: 4.8 min alone, the others 1.4 and 0.8). With
# ThreadSanitizer's at the main run's priority and the other two at nice 15, on the time the first
# two leave (the main run's waits on nvcc, MPI and its own children), it took 906 s, and every child had
# finished before the main run did.
CHILD_NICENESS = dict(address=15, thread=0, blocks=15)


def sanitizer_missing(name):
    """Why sanitizer ``name`` cannot run here (its runtime is not installed), or None."""
    try:
        simulator.sanitizer_environment(name)
    except SimulatorError as exc:
        return str(exc)
    return None


def start(items, tmp_path_factory):
    """{sanitizer: (process, stdout file, stderr file)}: a child pytest for each sanitizer whose
    run is among the session's ``items`` and whose runtime is installed, started now."""
    selected = {item.callspec.params["name"] for item in items if getattr(item, "originalname", None) == TEST_NAME}
    runs = {}
    for name in simulator.SANITIZERS:
        if name in selected and sanitizer_missing(name) is None:
            directory = tmp_path_factory.mktemp(name)
            out, err = directory / "stdout", directory / "stderr"
            with open(out, "w") as stdout, open(err, "w") as stderr:
                process = subprocess.Popen(
                    [sys.executable, "-m", "minicnn.simulator.sanitize", name, sys.executable, "-m", "pytest", "-q",
                     "-x", "-m", "kernel", "-k", SELECTION, "-p", "no:cacheprovider",
                     "--capture=sys", "tests"], stdout=stdout, stderr=stderr, text=True, cwd=REPO, env=CHILD_ENVIRONMENT,
                    preexec_fn=functools.partial(os.nice, CHILD_NICENESS[name]))
            runs[name] = (process, out, err)
    return runs


def stop(runs):
    """Ends the children still running (the session was interrupted, or their test not reached)."""
    for process, _, _ in runs.values():
        if process.poll() is None:
            process.kill()
            process.wait()
