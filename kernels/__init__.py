"""CUDA C sources of minicnn's GPU kernels, installed as the package ``minicnn.kernels``.

``source_path(name)`` gives the path of ``<name>.cu`` wherever minicnn is installed.
"""
import os

KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))


def source_path(name):
    """Absolute path of the kernel source ``<name>.cu``; raises FileNotFoundError naming it."""
    path = os.path.join(KERNEL_DIR, name + ".cu")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no CUDA source {name}.cu in {KERNEL_DIR}")
    return path
