"""minicnn.cpu_memory: after reuse_freed_memory, a large array comes from malloc's heap, which
keeps freed memory for the next allocation; without it, glibc maps it fresh from the system
(and unmaps it on free, so the next step's array starts with new, unwritten pages). Each case
runs in a fresh interpreter, since the setting is per process."""
import ctypes.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAM = """
import sys
import numpy as np
sys.path.insert(0, {root!r})
from minicnn.cpu_memory import reuse_freed_memory
if {apply}:
    assert reuse_freed_memory() and reuse_freed_memory()   # applies once, then stays applied
a = np.empty(64 * 2 ** 20 // 8)                             # 64 MiB, above glibc's largest default threshold
address = a.ctypes.data
for line in open("/proc/self/maps"):
    span, *rest = line.split()
    low, high = (int(v, 16) for v in span.split("-"))
    if low <= address < high:
        print(rest[-1] if len(rest) == 5 else "anonymous")
"""


def region_of_a_large_array(apply):
    result = subprocess.run([sys.executable, "-c", PROGRAM.format(root=ROOT, apply=apply)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
                    reason="glibc's mallopt and /proc/self/maps are Linux's")
def test_large_arrays_come_from_the_heap_that_keeps_freed_memory():
    assert region_of_a_large_array(apply=False) == "anonymous"   # a fresh mapping, returned on free
    assert region_of_a_large_array(apply=True) == "[heap]"
