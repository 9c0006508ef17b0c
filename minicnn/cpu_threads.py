"""Every CPU core for the NumPy work between the GEMMs: per-sample work cut into slices.

OpenBLAS runs the GEMMs on all the cores, but NumPy runs everything else on one: im2col's
copy, col2im's additions, LRN, max-pool. On the 2012 AlexNet at batch 32 that single-threaded
work was about half of a training step on the 2-core machine of the README. It is independent
along one axis (the samples of a batch; the rows of im2col's matrix), so ``in_slices`` cuts that
axis into slices and runs them on a pool of threads. NumPy lets go of Python's GIL inside its
loops, so the slices really run at once.

Every element goes through the same operations in the same order as in one call on the whole
array, so the results are the same bit for bit (``tests/test_cpu_threads.py`` checks each
caller). A slice of a few samples also stays in the L2 cache between NumPy's passes over it,
which helps even on one core.

How many threads: ``MINICNN_CPU_THREADS`` if set, else ``OMP_NUM_THREADS`` or
``OPENBLAS_NUM_THREADS`` (the count the BLAS is told to use), else the cores this process may
run on. ``set_threads(n)`` changes it; ``limited(n)`` changes it for a ``with`` block (the
two-device split runs its two towers at once, each with half the cores).
"""
import concurrent.futures
import contextlib
import itertools
import os
import threading

import numpy as np

from minicnn import environment_variables
from minicnn.layers.base import check_positive_int

SLICES_PER_THREAD = 2     # 2 slices per thread beat 1 (cache; pool1's backward at batch 32 on
                          # 2 threads: 72 ms against 55, norm1's 34 against 30)
MIN_ELEMENTS = 1 << 18    # arrays smaller than this (1 MiB of float32) run in one call: the pool's
                          # hand-over costs tens of microseconds, more than such an array's work

_threads = None
_pool = None
_pool_size = 0
_lock = threading.Lock()
_inside = threading.local()   # set in the pool's threads: work they run must not wait on the pool


def _default_threads():
    return environment_variables.cpu_threads() or usable_cores()


def usable_cores():
    """The cores this process may run on: its affinity mask's (a container's CPU set, a rank that
    mpirun bound to its core), else all of the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # no affinity masks (macOS, Windows)
        return os.cpu_count() or 1


def _check(n, who):
    return check_positive_int(n, "the number of CPU threads", who)


def threads():
    """The number of threads ``in_slices`` uses."""
    global _threads
    if _threads is None:
        _threads = _default_threads()
    return _threads


def set_threads(n):
    """Use ``n`` threads from now on (1: everything in the calling thread, as plain NumPy)."""
    global _threads
    _threads = _check(n, "set_threads")


@contextlib.contextmanager
def limited(n):
    """``with limited(n):`` use at most ``n`` threads inside the block, then the count before it."""
    before = threads()
    set_threads(min(before, _check(n, "limited")))
    try:
        yield
    finally:
        set_threads(before)


_blas_controller = None


@contextlib.contextmanager
def blas_limited(n):
    """``with blas_limited(n):`` the BLAS (OpenBLAS through NumPy) runs each product on at most
    ``n`` threads inside the block, then as before: for products that the caller runs side by side
    on ``in_slices``'s threads, each on one core, or for the two towers' workers, each on half of
    them. The BLAS's thread count is the process's, so only one thread may hold the limit at a
    time: the main thread, or one for all the workers it starts."""
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController   # finds the loaded BLAS, once: ~10 ms
        _blas_controller = ThreadpoolController()
    with _blas_controller.limit(limits=n, user_api="blas"):
        yield


def _executor(workers):
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="minicnn-cpu",
                                                          initializer=setattr, initargs=(_inside, "busy", True))
            _pool_size = workers
        return _pool


def _forget_pool():
    """In a forked child the pool's threads do not exist: start a new pool when one is needed."""
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def plan_slices(length, array, slice_bytes=None):
    """Consecutive slices that cover ``range(length)``: ``threads() * SLICES_PER_THREAD`` of them,
    or with ``slice_bytes`` as many more as leave each slice no more than that many bytes of
    ``array`` (at most one slice per index); or the one slice ``slice(0, length)`` where cutting
    does not pay: ``array`` (the largest the work goes through) not a NumPy array (CuPy: the GPU
    is parallel already) or smaller than ``MIN_ELEMENTS``, one thread, or a call from inside a
    pool thread (which must not wait on the pool)."""
    n = threads()
    parts = min(length, n * SLICES_PER_THREAD)
    if slice_bytes and isinstance(array, np.ndarray):
        parts = min(length, max(parts, -(-array.nbytes // slice_bytes)))
    if (n == 1 or parts < 2 or not isinstance(array, np.ndarray) or array.size < MIN_ELEMENTS
            or getattr(_inside, "busy", False)):
        return [slice(0, length)]
    return [slice(length * i // parts, length * (i + 1) // parts) for i in range(parts)]


def run_slices(pieces, work):
    """``[work(p) for p in pieces]`` (slices, or tuples that start with one), shared out over
    ``threads()`` threads (the calling thread and the pool's), each taking the next piece when it
    is done with one."""
    workers = min(threads(), len(pieces))
    if workers == 1 or getattr(_inside, "busy", False):
        return [work(p) for p in pieces]
    results = [None] * len(pieces)
    next_index = itertools.count()   # next() on it is atomic under the GIL

    def drain():
        while (i := next(next_index)) < len(pieces):
            results[i] = work(pieces[i])

    futures = [_executor(workers - 1).submit(drain) for _ in range(workers - 1)]
    try:
        drain()
    finally:   # never return (or raise) while the pool still writes into the caller's arrays
        concurrent.futures.wait(futures)
    for f in futures:
        f.result()   # raises what a pool thread raised
    return results


def in_slices(length, work, array):
    """``work(s)`` for the slices ``plan_slices(length, array)``; the list of their results."""
    return run_slices(plan_slices(length, array), work)


def products_on_cores(pieces, work):
    """``run_slices(pieces, work)`` for work whose time goes into BLAS products too small to share
    out well (the FFT's product per frequency, a convolution's GEMM per image): each product on
    one core (``blas_limited(1)``), the pieces side by side on all of them. With one piece, or in
    a thread other than the main one (a tower's worker, whose BLAS thread count is not its to
    change), the pieces run one after another, each product on the BLAS's threads as they are."""
    if len(pieces) == 1 or threading.current_thread() is not threading.main_thread():
        return [work(p) for p in pieces]
    with blas_limited(1):
        return run_slices(pieces, work)


class SlicedCache:
    """What ``per_sample_forward`` keeps for the backward: the slices, each one's cache, and the
    shape of the forward's input (that of the input gradient)."""

    def __init__(self, slices, caches, input_shape):
        self.slices, self.caches, self.input_shape = slices, caches, input_shape


def per_sample_forward(forward, x, y_shape, *args, slice_bytes=None):
    """``forward(x, *args) -> (y, cache)`` for a function in which each sample's output depends
    on that sample alone (LRN, max-pool), run over slices of the batch; ``y_shape`` is the shape
    of the whole y, whose dtype is x's. Returns ``(y, cache)``: y equals ``forward``'s bit for bit,
    and the cache goes to ``per_sample_backward``. The thread that computed a slice copies it into
    y at once, while it is still in its cache (the separate pass this replaced took 12 ms, next to
    64 ms for norm1's whole forward at batch 32); each slice's cache keeps its own y. With
    ``slice_bytes`` the slices hold at most that many bytes of x (``plan_slices``), so that the
    several passes of a layer's NumPy code over a slice find it in the cores' caches; the backward
    takes the same slices."""
    slices = plan_slices(x.shape[0], x, slice_bytes)
    if len(slices) == 1:
        return forward(x, *args)
    y = np.empty(y_shape, dtype=x.dtype)

    def run(s):
        y_slice, cache = forward(x[s], *args)
        np.copyto(y[s], y_slice)
        return cache

    return y, SlicedCache(slices, run_slices(slices, run), x.shape)


def per_sample_backward(backward, dout, cache):
    """``backward(dout, cache) -> dx`` for the cache ``per_sample_forward`` returned: each slice
    of ``dout`` with its slice's cache, at once, each written straight into dx."""
    if not isinstance(cache, SlicedCache):
        return backward(dout, cache)
    dx = np.empty(cache.input_shape, dtype=dout.dtype)

    def run(piece):
        s, slice_cache = piece
        np.copyto(dx[s], backward(dout[s], slice_cache))

    run_slices(list(zip(cache.slices, cache.caches)), run)
    return dx
