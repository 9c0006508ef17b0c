"""CUDA C sources of minicnn's GPU kernels, installed as the package ``minicnn.kernels``.

Every ``<name>.cu`` is compiled twice, once with ``-Dreal_t=float`` and once with
``-Dreal_t=double``, by CuPy's NVRTC for the GPU (``minicnn.launch``) or by g++ for the kernel
simulator (``minicnn.simulator``). Its kernels are declared

    extern "C" __global__ void name(const real_t* x, real_t* y, int n, ...)

and this module reads those declarations (``kernel_signatures``) so that both launchers can
check and convert arguments against them.
"""
import hashlib
import os
import re
import shutil
from dataclasses import dataclass

import numpy as np

KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))

# C type of a scalar or of a pointer's element -> NumPy dtype (real_t resolved per module).
C_TYPES = {
    "float": np.dtype(np.float32),
    "double": np.dtype(np.float64),
    "int": np.dtype(np.int32),
    "unsigned int": np.dtype(np.uint32),
    "unsigned": np.dtype(np.uint32),
    "long long": np.dtype(np.int64),
    "unsigned long long": np.dtype(np.uint64),
}
REAL_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

_KERNEL_DECL = re.compile(
    r'extern\s+"C"\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+(\w+)\s*\(([^)]*)\)', re.S)
_QUALIFIERS = re.compile(r"\b(const|__restrict__|__restrict|restrict|volatile)\b")


@dataclass(frozen=True)
class KernelParam:
    """One parameter of a kernel: ``ctype`` is the scalar or element type as written."""
    name: str
    ctype: str
    pointer: bool

    def dtype(self, real_dtype):
        """NumPy dtype of the scalar or of the pointed-to elements, with real_t = ``real_dtype``."""
        return np.dtype(real_dtype) if self.ctype == "real_t" else C_TYPES[self.ctype]


def source_path(name):
    """Absolute path of the kernel source ``<name>.cu``; raises FileNotFoundError naming it."""
    path = os.path.join(KERNEL_DIR, name + ".cu")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no CUDA source {name}.cu in {KERNEL_DIR}")
    return path


def source_names():
    """Names of every ``.cu`` file in the kernel directory (without the extension), sorted."""
    return sorted(f[:-3] for f in os.listdir(KERNEL_DIR) if f.endswith(".cu"))


def read_source(name):
    with open(source_path(name), encoding="utf-8") as f:
        return f.read()


_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"', re.M)


def included_headers(name):
    """File names of the headers ``<name>.cu`` includes (``#include "..."``, found in the kernel
    directory), directly or through another header, sorted; FileNotFoundError names a missing one."""
    headers, unread = set(), [name + ".cu"]
    while unread:
        file = unread.pop()
        with open(os.path.join(KERNEL_DIR, file), encoding="utf-8") as f:
            code = strip_comments(f.read())
        for header in _INCLUDE.findall(code):
            if header in headers:
                continue
            if not os.path.exists(os.path.join(KERNEL_DIR, header)):
                raise FileNotFoundError(f"{file} includes {header}, which is not in {KERNEL_DIR}")
            headers.add(header)
            unread.append(header)
    return sorted(headers)


def nvrtc_source(name):
    """``<name>.cu`` as the GPU path hands it to NVRTC: the source, then one comment line with a
    hash of the headers it includes. CuPy keeps compiled modules on disk keyed by the source text
    and the options, not by what an #include reads, so without that line a changed header would
    leave the old binary running. Appended at the end, it moves no line of a compiler message."""
    return read_source(name) + f"\n// included headers' sha256: {files_digest(included_headers(name))}\n"


def files_digest(files):
    """sha256 (hex) of the names and contents of ``files`` in the kernel directory, in the order
    given: what a compiled module's cache key holds of the sources it was built from."""
    digest = hashlib.sha256()
    for file in files:
        with open(os.path.join(KERNEL_DIR, file), "rb") as f:
            digest.update(file.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()


def strip_comments(code):
    """The source with // and /* */ comments blanked (line numbers kept)."""
    def blank(match):
        return re.sub(r"[^\n]", " ", match.group(0))
    return re.sub(r"//[^\n]*|/\*.*?\*/", blank, code, flags=re.S)


def _parse_param(text, kernel, file):
    decl = _QUALIFIERS.sub(" ", text)
    pointer = decl.count("*")
    words = decl.replace("*", " ").split()
    if len(words) < 2 or pointer > 1:
        raise ValueError(f"{file}: kernel {kernel}: cannot read parameter {text.strip()!r}")
    ctype, name = " ".join(words[:-1]), words[-1]
    if ctype != "real_t" and ctype not in C_TYPES:
        raise ValueError(f"{file}: kernel {kernel}: parameter {name!r} has type {ctype!r}; "
                         f"supported: real_t, {', '.join(C_TYPES)} and pointers to them")
    return KernelParam(name, ctype, bool(pointer))


def parse_signatures(code, file="<source>"):
    """{kernel name: (KernelParam, ...)} for every ``extern "C" __global__`` kernel in ``code``."""
    kernels = {}
    for match in _KERNEL_DECL.finditer(strip_comments(code)):
        name, params = match.group(1), match.group(2).strip()
        parts = [p for p in params.split(",")] if params and params != "void" else []
        kernels[name] = tuple(_parse_param(p, name, file) for p in parts)
    return kernels


def kernel_signatures(name):
    """Signatures of the kernels in ``<name>.cu`` (see ``parse_signatures``)."""
    return parse_signatures(read_source(name), name + ".cu")


def find_nvcc():
    """The path of nvcc (the CUDA toolkit's compiler, which needs no GPU), or None."""
    for candidate in (shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def compile_options(real_dtype):
    """Preprocessor options shared by every compiler: real_t and the include directory."""
    real_dtype = np.dtype(real_dtype)
    if real_dtype not in REAL_TYPES:
        raise TypeError(f"kernels are compiled for float32 or float64, not {real_dtype}")
    return (f"-Dreal_t={REAL_TYPES[real_dtype]}", f"-I{KERNEL_DIR}")


def nvrtc_options(real_dtype):
    """The options NVRTC compiles a source with on the GPU path (minicnn/launch.py): C++17,
    ``compile_options``, and -default-device. NVRTC before 13.2 (all of CUDA 12, and 13.0 and
    13.1) takes the call operator of a generic lambda (``[&](auto window)``, lrn.cu and
    lrn_maxpool.cu) for a host function and refuses to compile it, where nvcc and later NVRTC do
    not. The flag makes functions without an execution space device functions, which every
    function of these sources is meant to be (nvcc, which tests/test_kernel_compile.py also
    compiles them with, still refuses a helper left without ``__device__``); it changes no
    instruction (NVRTC 13.5 gives the same PTX for every source with it as without)."""
    return ("--std=c++17", "-default-device", *compile_options(real_dtype))
