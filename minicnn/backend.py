"""Array backend: the one place that knows whether an array lives on the CPU or the GPU.

Every layer asks this module for the array module of its input (``xp = get_array_module(x)``)
and writes its code once against ``xp``: NumPy on the CPU, CuPy on an NVIDIA GPU. Importing
minicnn never needs CuPy; ``cupy`` is looked up lazily and only when a GPU is asked for.

Devices are named by strings:
    "cpu"   NumPy arrays, the NumPy code of every layer;
    "cuda"  CuPy arrays on the current GPU, minicnn's CUDA kernels (kernels/*.cu);
    "sim"   NumPy arrays, the same CUDA kernels run by the kernel simulator (minicnn.simulator).
With the environment variable MINICNN_SIMULATE=1, "cuda" means "sim": GPU code runs unchanged
on a machine without a GPU.
"""
import functools

import numpy as np

from minicnn.environment_variables import simulate

DEVICES = ("cpu", "cuda", "sim")
KERNEL_DEVICES = ("cuda", "sim")  # devices whose layers run minicnn's CUDA kernels

_cupy = None
_cupy_error = None


def _import_cupy():
    """Return the cupy module, or None (remembering why) if it cannot be used."""
    global _cupy, _cupy_error
    if _cupy is None and _cupy_error is None:
        try:
            import cupy
            cupy.cuda.runtime.getDeviceCount()  # raises when there is no driver or device
            _cupy = cupy
        except Exception as exc:  # ImportError, CUDARuntimeError, ...
            _cupy_error = f"{type(exc).__name__}: {exc}"
    return _cupy


def cuda_available():
    """True when CuPy imports and at least one CUDA device is present."""
    return _import_cupy() is not None


def _is_cupy_array(x):
    return device_of_type(type(x)) == "cuda"


def get_array_module(x):
    """Return ``numpy`` or ``cupy``, whichever owns the array ``x``."""
    if _is_cupy_array(x):
        return _import_cupy()
    return np


def device_of(x):
    """Return ``"cuda"`` for a CuPy array, ``"cpu"`` for anything else."""
    return device_of_type(type(x))


@functools.lru_cache(maxsize=None)
def device_of_type(array_type):
    """``device_of`` for any object of type ``array_type``. Checked by the type's module, so that
    no CuPy import is needed to answer "is this NumPy?"; once per type."""
    return "cuda" if array_type.__module__.startswith("cupy") else "cpu"


def simulating():
    """True when MINICNN_SIMULATE is on (1, true, yes, on; ``minicnn.environment_variables``)."""
    return simulate()


def check_device(device):
    """Validate a device name and return the device meant: ``"cuda"`` needs a working CuPy,
    and becomes ``"sim"`` under MINICNN_SIMULATE=1."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected one of {', '.join(DEVICES)}")
    if device == "cuda" and simulating():
        return "sim"
    if device == "cuda" and not cuda_available():
        raise RuntimeError(
            "device 'cuda' asked for, but CuPy or a CUDA GPU is not available "
            f"({_cupy_error}); install the extra with pip install 'minicnn[cuda13]' "
            "(or [cuda12]) on a machine with an NVIDIA GPU, or run the same kernels on the CPU "
            "under the kernel simulator with device 'sim' (or MINICNN_SIMULATE=1)")
    return device


def memory_of(device):
    """Where a device's arrays live: "cuda" for "cuda", "cpu" (NumPy) for "cpu" and "sim"."""
    return "cuda" if device == "cuda" else "cpu"


def to_device(x, device):
    """Return ``x`` as an array on ``device`` (no copy when it is already there)."""
    device = check_device(device)
    if memory_of(device) == "cpu":
        return x.get() if _is_cupy_array(x) else np.asarray(x)
    return _import_cupy().asarray(x)


def to_numpy(x):
    """Return a NumPy array (copying from the GPU if needed); handy in tests and plots."""
    return to_device(x, "cpu")
