import os
import sys

# minicnn before NumPy, as the scripts import them, so that the tests run as they do: OpenBLAS's
# idle threads sleep after a product instead of spinning (minicnn/__init__.py)
import minicnn  # noqa: F401
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))  # so tests can import reference.py

# Hypothesis: no deadline (the first call of a shape pays for allocation). The default profile is
# the gate CI runs: 25 examples per property, derandomized (drawn from a hash of the test), so every
# run tries the same examples and a red CI is a change's doing, never a new draw's. The thorough
# profile explores: 200 fresh examples per property each run, a failure's reproduction printed.
HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("default", max_examples=25, deadline=None, derandomize=True, database=None,
                          suppress_health_check=HEALTH)
settings.register_profile("thorough", max_examples=200, deadline=None, print_blob=True,
                          suppress_health_check=HEALTH)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def ctrl_c_raises():
    """Python's own Ctrl-C handler (KeyboardInterrupt) for a test that sends itself SIGINT: a
    process that a shell started ignoring SIGINT (a background job, ``&``) has none, and the
    signal would do nothing there."""
    import signal
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


# --- kernel devices ----------------------------------------------------------------------------
# Tests that take the `kernel_device` fixture run minicnn's CUDA kernels: under the kernel
# simulator ("sim", always) and on a GPU ("cuda", skipped cleanly without CuPy and a GPU). They
# are marked `kernel`, so `python -m pytest -m kernel` runs the whole kernel suite. New arrays
# from minicnn.launch.empty are poisoned (NaN, or -1 for ints) so an unwritten element fails.
def pytest_configure(config):
    config.addinivalue_line("markers", "kernel: runs minicnn's CUDA kernels (simulator and GPU)")
    if config.getoption("shard"):
        config.pluginmanager.register(Shard(*config.getoption("shard")), "minicnn-shard")


def shard(text):
    """--shard's "K/N" -> (K, N), 1 <= K <= N."""
    import argparse
    k, slash, n = text.partition("/")
    if not (slash and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise argparse.ArgumentTypeError(f"{text!r}: expected K/N with 1 <= K <= N, e.g. 2/3")
    return int(k), int(n)


def pytest_addoption(parser):
    parser.addoption("--shard", type=shard, default=None, metavar="K/N",
                     help="run the K-th of N shares of the selected tests (every N-th test from the K-th, in "
                          "collection order, after -k and -m): a run too long for one sitting, such as the "
                          "kernel tests under compute-sanitizer on a GPU lent for minutes, taken in N parts")


class Shard:
    """--shard K/N, after -k and -m have deselected theirs (trylast), so that the shares split what
    is left, and after the `kernel` marks are given (pytest_collection_modifyitems below)."""

    def __init__(self, k, n):
        self.k, self.n = k, n

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        config.hook.pytest_deselected(items=[item for i, item in enumerate(items) if i % self.n != self.k - 1])
        items[:] = items[self.k - 1::self.n]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "kernel_device" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kernel)
    # The tests that wait for the sanitized suites' children (below) run last, so that every other
    # test runs beside the children first; at their place in test_simulator.py the main run sat
    # waiting while the tests after them could have run.
    import sanitized_suites
    waiting = [item for item in items if getattr(item, "originalname", None) == sanitized_suites.TEST_NAME]
    items[:] = [item for item in items if item not in waiting] + waiting


@pytest.fixture(params=["sim", "cuda"])
def kernel_device(request):
    from minicnn.backend import cuda_available, simulating
    from minicnn.launch import poisoned_outputs
    if request.param == "cuda":
        if simulating():
            pytest.skip("MINICNN_SIMULATE=1 makes 'cuda' the simulator, which the 'sim' case runs")
        if not cuda_available():
            from devices import NO_GPU
            pytest.skip(NO_GPU)
    with poisoned_outputs():
        yield request.param


# --- numbered kernel versions (minicnn/kernel_versions.py) --------------------------------------
# A kernel test that takes one of these fixtures runs once per version of that family's kernels
# (with ``kernel``, once per version that rewrote that kernel of the family's .cu file).
def _versions_fixture(family, kernel=None):
    from minicnn import kernel_versions
    versions = sorted(v for v in kernel_versions.VERSIONS[family]
                      if kernel is None or kernel_versions.kernel_name(family, kernel, v) == f"{kernel}_v{v}")

    @pytest.fixture(params=versions, ids=lambda v: f"v{v}")
    def version(request):
        with kernel_versions.use(family, request.param):
            yield request.param
    return version


bias_version = _versions_fixture("bias")
# the plain products' versions (version 4 rewrote only the conv's NCHW store: tests/test_gemm.py)
gemm_tiled_version = _versions_fixture("gemm_tiled", kernel="gemm_tiled")
im2col_version = _versions_fixture("im2col")
lrn_version = _versions_fixture("lrn")
maxpool_version = _versions_fixture("maxpool")
relu_version = _versions_fixture("relu")
lrn_maxpool_version = _versions_fixture("lrn_maxpool")
winograd_version = _versions_fixture("winograd")


# --- the sanitized kernel suites (tests/sanitized_suites.py) -------------------------------------
@pytest.fixture(scope="session", autouse=True)
def sanitized_suites(request, tmp_path_factory):
    """The children that tests/test_simulator.py::test_every_kernel_is_clean_under_the_sanitizer
    waits for, started with the session's first test where that test is selected."""
    import sanitized_suites as suites
    runs = suites.start(request.session.items, tmp_path_factory)
    yield runs
    suites.stop(runs)
