"""Large NumPy arrays without page faults: keep freed memory for the next step.

glibc's malloc serves every block above a threshold (at most 32 MiB by default) with a fresh mmap
and gives it back to the system on free. A training step allocates the same large arrays every time
(the 2012 AlexNet at batch 32: im2col matrices of up to 214 MiB, conv outputs of 37 MiB), and each
step's arrays start as fresh pages that the kernel must map and zero on their first write: filling a
fresh 214 MiB array takes twice as long as filling one that is reused (26 against 13 ms on the
2-core machine of the README). ``reuse_freed_memory`` tells malloc to serve all sizes from its heap
and not to trim it, so the second step reuses the first step's memory. The process keeps its peak
memory until it exits, which a training process reaches every step anyway.

``minicnn.train.fit`` and the CPU benchmarks call it; it changes nothing on systems without
glibc (the call is then skipped) and nothing in any result.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # mallopt parameters, <malloc.h>
_LARGEST = 2 ** 31 - 1
_done = False


def reuse_freed_memory():
    """Make glibc's malloc keep freed blocks of every size for reuse (once per process).
    Returns True when it applied, False where there is no glibc."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):   # not glibc (macOS, musl, Windows): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, _LARGEST)) and bool(mallopt(M_TRIM_THRESHOLD, _LARGEST))
    return _done
