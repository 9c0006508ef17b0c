"""The one way minicnn launches a CUDA kernel, on a GPU through CuPy or on the CPU through the
kernel simulator, and the helpers every kernel wrapper shares.

    y = empty_like(x)
    launch("relu", "relu_forward_v1", grid_for(x.size, x), BLOCK, x, y, x.size)

``launch`` reads the kernel's signature from its ``.cu`` source, checks the argument count,
each array's dtype (``real_t`` becomes float or double from the arrays passed) and contiguity,
converts Python scalars to the exact C type of each parameter (CuPy would otherwise pass a
Python int as a 64-bit integer to an ``int`` parameter), and validates the launch geometry.
CuPy arrays go to the GPU (each source compiled once per process by NVRTC, per real_t, with
CuPy's on-disk cache behind it); NumPy arrays go to the simulator.

Launch idiom: elementwise kernels loop with ``GRID_STRIDE_LOOP`` (kernels/common.cuh) and are
launched with ``grid_for(n, like)`` blocks of ``BLOCK`` threads: enough blocks to fill the
device, never more than needed for n elements.
"""
import contextlib
import functools
import math
import multiprocessing
import os
import time
from concurrent import futures

import numpy as np

from minicnn import backend
from minicnn.kernels import (REAL_TYPES, kernel_signatures, nvrtc_options, nvrtc_source, source_names,
                             source_path)

BLOCK = 256                # threads per block of the elementwise kernels
REDUCE_BLOCK = 256         # threads per block of the reductions (REDUCE_BLOCK in kernels/common.cuh)
BLOCKS_PER_SM = 8          # grid-stride launches give each multiprocessor of a GPU this many blocks
MAX_GRID = (2 ** 31 - 1, 65535, 65535)
MAX_BLOCK = (1024, 1024, 64)
MAX_THREADS_PER_BLOCK = 1024
MAX_ELEMENTS = 2 ** 30     # kernels index with 32-bit ints; this leaves room for the stride


class KernelLaunchError(ValueError):
    """Wrong arguments or geometry for a kernel launch."""


class KernelCompileError(RuntimeError):
    """A kernel source failed to compile; the message holds its file name and the compiler log."""


# ---- where arrays live ----------------------------------------------------------------------
def _target(array_types, where):
    """"cuda" if every array is a CuPy array, "sim" if every one is NumPy; else an error.
    ``array_types``: the arrays' types, each once."""
    kinds = {backend.device_of_type(t) for t in array_types}
    if len(kinds) != 1:
        raise KernelLaunchError(f"{where}: arrays on different devices ({sorted(kinds)}); "
                                "all must be CuPy arrays (GPU) or all NumPy arrays (simulator)")
    return "cuda" if kinds == {"cuda"} else "sim"


@functools.lru_cache(maxsize=None)
def cuda_multiprocessors(device_id):
    """The streaming multiprocessors of CUDA device ``device_id`` (132 on an H100 SXM or an H200)."""
    cupy = backend._import_cupy()
    return cupy.cuda.Device(device_id).attributes["MultiProcessorCount"]


def resident_blocks(like):
    """Blocks a grid-stride launch needs to fill the device that holds ``like``: 8 per
    multiprocessor on a GPU (2048 resident threads / 256); the simulator's small device for NumPy."""
    if backend.device_of(like) == "cuda":
        return BLOCKS_PER_SM * cuda_multiprocessors(like.device.id)
    from minicnn import simulator
    return simulator.MULTIPROCESSORS * simulator.BLOCKS_PER_MULTIPROCESSOR


def grid_for(n, like, block=BLOCK):
    """Blocks for a grid-stride loop over ``n`` elements on ``like``'s device (``block=1`` for
    a block-stride loop over n rows or channels, one block each)."""
    if n > MAX_ELEMENTS:
        raise KernelLaunchError(f"{n} elements: minicnn's kernels index with 32-bit ints, at most 2**30 per launch")
    return max(1, min(math.ceil(n / block), resident_blocks(like)))


def plane_tiles(planes, pixels):
    """(grid, block) of a launch with one block per (plane, tile of its pixels): grid (planes,
    tiles), block (tile,), the tile a multiple of 32 and at most BLOCK threads. Thread t of block
    (p, j) takes pixel j * tile + t of plane p (and returns if that is past the plane's end), so
    it finds its plane without a division (kernels/maxpool.cu, version 2)."""
    tile = min(BLOCK, 32 * math.ceil(pixels / 32))
    return (planes, math.ceil(pixels / tile)), tile


# ---- allocation, with optional poisoning for tests ------------------------------------------
_poison = False


@contextlib.contextmanager
def poisoned_outputs():
    """Within this block, ``empty``/``empty_like`` fill new arrays with NaN (floats) or -1
    (integers), so that a kernel that forgets to write an element fails its test."""
    global _poison
    saved, _poison = _poison, True
    try:
        yield
    finally:
        _poison = saved


def empty(shape, dtype, like):
    """Uninitialised array on ``like``'s device (poisoned under ``poisoned_outputs``)."""
    xp = backend.get_array_module(like)
    out = xp.empty(shape, dtype=dtype)
    if _poison:
        out.fill(np.nan if np.dtype(dtype).kind == "f" else -1)
    return out


def empty_like(x, dtype=None):
    return empty(x.shape, x.dtype if dtype is None else dtype, x)


# ---- arguments ---------------------------------------------------------------------------------
# A launch is checked in full every time, so the checks must cost little next to the launch itself
# (a small kernel runs in a few microseconds, and a small network's training step is hundreds of
# launches that the host must issue faster than the GPU runs them): what depends only on the
# kernel is worked out once (_kernel, with each parameter's C type for either real_t), the geometry
# once per shape (_geometry), an array type's device once (_target), and the common arguments
# (Python ints in range and floats, arrays of the right dtype) are taken in checked_launch's loop
# itself, with identity tests before equality ones (NumPy's built-in dtypes are singletons);
# anything else goes through _convert_scalar, which explains what is wrong.
@functools.lru_cache(maxsize=None)
def _kernel(source, kernel):
    """(params, the name errors give it, the positions of its real_t pointers, {real_t's dtype:
    its slots}) of ``kernel`` in ``kernels/<source>.cu``; a parameter's slot is (param, dtype,
    (low, high) for an integer scalar else None, the constructor of dtype's scalars)."""
    signatures = _signatures(source)
    if kernel not in signatures:
        raise KernelLaunchError(f"{source}.cu has no kernel {kernel!r}; it has {', '.join(signatures)}")
    params = signatures[kernel]
    real_pointers = tuple(i for i, p in enumerate(params) if p.pointer and p.ctype == "real_t")
    slots = {real: tuple(_slot(p, real) for p in params) for real in REAL_TYPES}
    return params, f"{source}.cu:{kernel}", real_pointers, slots


def _slot(param, real):
    dtype = param.dtype(real)
    bounds = None
    if not param.pointer and dtype.kind in "iu":
        info = np.iinfo(dtype)
        bounds = (int(info.min), int(info.max))
    return param, dtype, bounds, dtype.type


def _convert_scalar(value, param, dtype, bounds, where):
    kind = type(value)
    if bounds is not None:  # an integer parameter
        if kind is not int:
            if isinstance(value, (bool, np.bool_)) or getattr(value, "ndim", 0) != 0:
                raise KernelLaunchError(f"{where}: parameter {param.name} ({param.ctype}) needs a number, "
                                        f"got {value!r}")
            if not isinstance(value, (int, np.integer)):
                raise KernelLaunchError(f"{where}: parameter {param.name} ({param.ctype}) needs an integer, "
                                        f"got {kind.__name__} {value!r}")
            value = int(value)
        low, high = bounds
        if not low <= value <= high:
            raise KernelLaunchError(f"{where}: parameter {param.name} ({param.ctype}) = {value} is out of "
                                    f"range [{low}, {high}]")
        return dtype.type(value)
    if kind is not float and kind is not int:
        if isinstance(value, (bool, np.bool_)) or getattr(value, "ndim", 0) != 0:
            raise KernelLaunchError(f"{where}: parameter {param.name} ({param.ctype}) needs a number, got {value!r}")
        if not isinstance(value, (int, float, np.integer, np.floating)):
            raise KernelLaunchError(f"{where}: parameter {param.name} ({param.ctype}) needs a real number, "
                                    f"got {kind.__name__}")
    return dtype.type(value)


_REAL_NAMES = {dtype: dtype.name for dtype in REAL_TYPES}   # (dtype.name is slow to compute)
FLOAT32 = np.dtype(np.float32)


def _real_dtype(real_pointers, args, where):
    """real_t of this launch: the dtype of the arrays passed for real_t pointers (at the positions
    ``real_pointers`` of ``args``; float32 if there are none)."""
    real = None
    for i in real_pointers:
        dtype = getattr(args[i], "dtype", None)
        if dtype is None:   # not an array: checked_launch's loop says so
            continue
        if real is None:
            real = dtype
        elif dtype is not real and dtype != real:
            raise KernelLaunchError(f"{where}: real_t arrays of different dtypes {sorted(map(str, (real, dtype)))}")
    if real is None:
        return FLOAT32
    if real not in REAL_TYPES:
        raise KernelLaunchError(f"{where}: real_t arrays must be float32 or float64, got {real}")
    return real


def _check_geometry(grid, block, where):
    """(grid, block) as 3-tuples of ints, or a KernelLaunchError naming the launch."""
    try:
        return _geometry(tuple(grid) if isinstance(grid, list) else grid,
                         tuple(block) if isinstance(block, list) else block)
    except KernelLaunchError as exc:
        raise KernelLaunchError(f"{where}: {exc}") from None
    except TypeError:   # unhashable: not ints
        raise KernelLaunchError(f"{where}: grid and block must be ints or 1 to 3 ints, got {grid!r}, "
                                f"{block!r}") from None


@functools.lru_cache(maxsize=1024)
def _geometry(grid, block):
    def as3(v, what):
        v = (v,) if isinstance(v, (int, np.integer)) else tuple(v)
        if not 1 <= len(v) <= 3 or not all(isinstance(d, (int, np.integer)) for d in v):
            raise KernelLaunchError(f"{what} must be an int or 1 to 3 ints, got {v!r}")
        return tuple(int(d) for d in v) + (1,) * (3 - len(v))
    grid, block = as3(grid, "grid"), as3(block, "block")
    for what, dims, limits in (("grid", grid, MAX_GRID), ("block", block, MAX_BLOCK)):
        for axis, d, limit in zip("xyz", dims, limits):
            if not 1 <= d <= limit:
                raise KernelLaunchError(f"{what}.{axis} = {d} is out of range [1, {limit}] ({what} {dims})")
    if math.prod(block) > MAX_THREADS_PER_BLOCK:
        raise KernelLaunchError(f"block {block} has {math.prod(block)} threads, at most {MAX_THREADS_PER_BLOCK}")
    return grid, block


def launch(source, kernel, grid, block, *args):
    """Launch ``kernel`` of ``kernels/<source>.cu`` with ``args`` on the device of its arrays."""
    target, grid, block, real, converted, arrays = checked_launch(source, kernel, grid, block, *args)
    if target == "cuda":
        function, converted = _cuda_function(source, _REAL_NAMES[real], kernel), tuple(converted)

        def run():
            on_device_of(arrays[0], function, grid, block, converted)
    else:
        def run():
            from minicnn import simulator
            simulator.module(source, real).launch(kernel, grid, block, converted)
    if _watcher is None:
        run()
    else:   # the bytes of its arrays, each counted once (an in-place launch passes one twice)
        watched(kernel, sum({id(a): a.nbytes for a in arrays}.values()), run)


def on_device_of(array, function, *args):
    """``function(*args)`` with the GPU that holds ``array`` (a CuPy array) the current one, as a
    launch must be (the two-device split uses two GPUs). CuPy's ``with array.device:`` makes a
    Device object and sets the device on the way in and out; this asks the runtime which device is
    current and enters that context only when it is another."""
    if array.data.device_id == backend._import_cupy().cuda.runtime.getDevice():
        return function(*args)
    with array.device:
        return function(*args)


def checked_launch(source, kernel, grid, block, *args):
    """What ``launch`` checks and converts before anything runs (its KernelLaunchError if
    anything is wrong): (target "cuda" or "sim", grid and block as 3-tuples, real_t's dtype, the
    arguments as the kernel takes them, the arrays among them). Timed on its own by
    benchmarks/launch_overhead.py."""
    params, where, real_pointers, slots = _kernel(source, kernel)
    if len(args) != len(params):
        raise KernelLaunchError(f"{where} takes {len(params)} arguments "
                                f"({', '.join(p.name for p in params)}), got {len(args)}")
    grid, block = _check_geometry(grid, block, where)
    real = _real_dtype(real_pointers, args, where)
    converted, arrays, array_types = [], [], []
    for (p, dtype, bounds, scalar), a in zip(slots[real], args):
        if not p.pointer:
            kind = type(a)
            if bounds is not None and kind is int and bounds[0] <= a <= bounds[1]:
                converted.append(scalar(a))
            elif bounds is None and kind is float:
                converted.append(scalar(a))
            else:
                converted.append(_convert_scalar(a, p, dtype, bounds, where))
            continue
        a_dtype = getattr(a, "dtype", None)
        if a_dtype is None or not hasattr(a, "flags"):
            raise KernelLaunchError(f"{where}: parameter {p.name} ({p.ctype}*) needs an array, "
                                    f"got {type(a).__name__}")
        if a_dtype is not dtype and a_dtype != dtype:
            raise KernelLaunchError(f"{where}: parameter {p.name} ({p.ctype}*) needs {dtype} "
                                    f"elements, got {a_dtype}")
        if not a.flags.c_contiguous:
            raise KernelLaunchError(f"{where}: parameter {p.name} must be C-contiguous")
        if a.size > MAX_ELEMENTS:
            raise KernelLaunchError(f"{where}: parameter {p.name} has {a.size} elements; the kernels "
                                    f"index with 32-bit ints, at most 2**30 elements per array")
        converted.append(a)
        arrays.append(a)
        if type(a) not in array_types:
            array_types.append(type(a))
    if not arrays:
        raise KernelLaunchError(f"{where}: a launch needs at least one array to know its device")
    return _target(array_types, where), grid, block, real, converted, arrays


# ---- watching the launches (benchmarks/kernels.py --breakdown) --------------------------------
_watcher = None


@contextlib.contextmanager
def watching(watcher):
    """Within this block every kernel launch, and every matrix product of ``minicnn.gemm``, runs
    as ``watcher(name, nbytes, run, flops)``, which must call ``run()`` once and return its
    result: ``name`` is the kernel's (``"gemm (cuBLAS)"`` for a cuBLAS product, ``"gemm (NumPy)"``
    for its stand-in under the simulator), ``nbytes`` the
    size of the arrays it reads and writes (each once: the least it must move), ``flops`` its
    floating-point operations if it is a matrix product (else 0). What a watched call launches
    inside is part of it, not watched again. One block at a time."""
    global _watcher
    if _watcher is not None:
        raise RuntimeError("launch.watching: launches are already being watched; the blocks do not nest")
    _watcher = watcher
    try:
        yield
    finally:
        _watcher = None


def watched(name, nbytes, run, flops=0):
    """``run()``, through the watcher of ``watching`` if there is one (see there)."""
    global _watcher
    watcher = _watcher
    if watcher is None:
        return run()
    _watcher = None   # the launches inside belong to this call
    try:
        return watcher(name, nbytes, run, flops)
    finally:
        _watcher = watcher


@functools.lru_cache(maxsize=None)
def _signatures(source):
    return kernel_signatures(source)


@functools.lru_cache(maxsize=None)
def _cuda_module(source, real_name):
    """``<source>.cu`` compiled by NVRTC with real_t = real_name, once per process (and once per
    machine while neither it nor a header it includes changes: CuPy's on-disk cache)."""
    cupy = backend._import_cupy()
    module = cupy.RawModule(code=nvrtc_source(source), options=nvrtc_options(real_name))
    try:
        module.compile()
    except Exception as exc:  # cupy.cuda.compiler.CompileException carries the NVRTC log
        raise KernelCompileError(f"{source}.cu (real_t={REAL_TYPES[np.dtype(real_name)]}) failed to "
                                 f"compile with NVRTC:\n{exc}") from exc
    return module


@functools.lru_cache(maxsize=None)
def _cuda_function(source, real_name, kernel):
    return _cuda_module(source, real_name).get_function(kernel)


def compiled_kernel(source, kernel, real):
    """The CuPy function of ``kernel`` in ``kernels/<source>.cu`` with real_t = ``real`` (a NumPy
    dtype): what ``launch`` calls on a GPU once the arguments are checked (``checked_launch``)."""
    return _cuda_function(source, _REAL_NAMES[np.dtype(real)], kernel)


def _compile_timed(source, real_name):
    """Seconds ``_cuda_module(source, real_name)`` takes (a compile, or a read of CuPy's cache)."""
    start = time.perf_counter()
    _cuda_module(source, real_name)
    return time.perf_counter() - start


def compile_all(jobs=None):
    """Compile every kernel source for the GPU in both precisions (float and double), ``jobs`` at
    a time in separate processes (default: one per core), and return [(source, real_t, seconds)].

    Each process compiles what it launches, once; what this puts in CuPy's on-disk cache, every
    later process on the machine reads back in milliseconds. A fresh machine (a cloud GPU, a CI
    runner) starts with an empty cache, and compiling the 22 modules one after the other takes
    about 20 s (nvcc on an idle 2-core machine: 10.1 s for the float ones, 5.0 of them
    gemm_tiled.cu), paid by whichever benchmark or test comes first; side by side, they cost
    about the time of the longest. It is also a quick check that every kernel compiles on a new
    machine. ``jobs=1`` compiles in this process."""
    if backend.check_device("cuda") != "cuda":
        raise RuntimeError("compile_all compiles for a GPU; under MINICNN_SIMULATE=1 the simulator "
                           "compiles each source with the C++ compiler when it is first launched")
    # the largest sources first, so the longest compilation never starts last
    work = sorted(((name, real) for name in source_names() for real in ("float32", "float64")),
                  key=lambda item: -os.path.getsize(source_path(item[0])))
    if jobs == 1:
        return [(name, REAL_TYPES[np.dtype(real)], _compile_timed(name, real)) for name, real in work]
    # spawned, not forked: a forked child of a process that has touched CUDA cannot use it
    spawn = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(jobs or os.cpu_count(), mp_context=spawn) as pool:
        seconds = list(pool.map(_compile_timed, *zip(*work)))
    return [(name, REAL_TYPES[np.dtype(real)], s) for (name, real), s in zip(work, seconds)]
