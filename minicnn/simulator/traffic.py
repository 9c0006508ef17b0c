"""Memory traffic of the simulated kernels: how their loads and stores coalesce, without a GPU.

A GPU serves global memory in 32-byte sectors. The 32 threads of a warp execute one load or
store instruction together (one *request*), and the request moves every sector that one of its
threads touches, once. When consecutive threads read consecutive floats, a request of 32 floats
moves 4 sectors, 128 bytes, all of them used; when each thread reads a float 64 bytes after its
neighbour's, the same request moves 32 sectors, 1 KB, of which 128 bytes are used. Profilers
report this as sectors per request and as efficiency (bytes the threads asked for over bytes
moved); it is what decides whether a memory-bound kernel can approach the copy bandwidth.

The simulator can count it exactly, for the model above. Inside ``recording()``, launches run
from builds of the kernels in which GCC's instrumentation calls the runtime (``runtime.cpp``)
before every load and store and at the start of every basic block, and each launch adds a
``LaunchTraffic`` to the log (and is checked for races between its blocks, as under
``MINICNN_SIM_SANITIZE=blocks``)::

    from minicnn import LRN
    from minicnn.simulator import traffic
    x = np.random.rand(2, 96, 55, 55).astype(np.float32)
    with traffic.recording() as log:
        LRN().to("sim").forward(x)
    print(log.table())

How accesses become requests: each thread logs its path through the kernel's basic blocks and
its accesses, and when a block of threads is done its logs are replayed warp by warp as a GPU
runs them. Threads 32w to 32w+31 of a block (in linear order, x fastest) form warp w, which runs
one basic block at a time for all its threads that are at it; where they branch apart, each side
runs in turn and they meet again at the branch's immediate post-dominator (the reconvergence
stack of SIMT GPUs, over the control-flow graph the threads walked). One load or store
instruction run for the warp's active threads is one request. A thread that skips a conditional
load is simply not in its request, and threads that leave a loop early wait after it. The
compiled code is g++'s, not nvcc's: a value loaded once into a register is counted once, as it
would be on a GPU, but the two compilers may keep different values there and lay out branches
differently (the builds keep g++ from copying blocks onto the paths that reach them, which split
warps that nvcc's code joins: ``minicnn.simulator.TRAFFIC_FLAGS``).

Shared memory is counted apart, as passes through its banks. It is 32 banks of 4-byte words
(word w in bank w mod 32), each of which serves one word per cycle: a request takes as many
passes ("wavefronts" in Nsight Compute) as the most distinct words it asks of one bank. 32
threads reading 32 consecutive floats take one pass; reading floats 4 apart, 4 (a 4-way bank
conflict, which costs as much as four requests); reading one float, one (a broadcast). Each
launch's ``shared_loads`` and ``shared_stores`` give the passes and the least that as many
words could take, and ``conflict`` their ratio.

What it does not model: caches. ``sectors`` counts the sectors the requests move (what a GPU's
L1 passes on to L2 when it hits nothing, and always so for stores); ``touched`` counts the
distinct sectors of an array touched at least once (the DRAM traffic when L2 keeps everything
that is reused). A kernel that reads its input in overlapping windows moves more sectors than it
touches, and how many of those hit in L1 depends on the GPU.
"""
import contextlib
import ctypes
import dataclasses
import threading

import numpy as np

SECTOR_BYTES = 32  # as runtime.cpp counts them (with warps of 32 threads)
ALIGNMENT = 256    # bytes: where cudaMalloc places an array

_log = None
_lock = threading.Lock()   # one recorded launch at a time: the runtime has one set of counters


@dataclasses.dataclass(frozen=True)
class Accesses:
    """Loads (or stores) of one array by one launch."""
    requests: int      # warp-level load (store) instructions that touched the array
    sectors: int       # 32-byte sectors those requests moved, each counted once per request
    bytes: int         # distinct bytes the threads asked for, per request (a broadcast counts once)
    touched: int       # distinct sectors of the array touched at least once

    @property
    def sectors_per_request(self):
        return self.sectors / self.requests if self.requests else 0.0

    @property
    def efficiency(self):
        """Bytes asked for over bytes moved: 1.0 when every byte of every sector moved is used."""
        return self.bytes / (self.sectors * SECTOR_BYTES) if self.sectors else 1.0

    @property
    def moved_bytes(self):
        return self.sectors * SECTOR_BYTES

    @property
    def touched_bytes(self):
        return self.touched * SECTOR_BYTES

    def __add__(self, other):
        return Accesses(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


NO_ACCESS = Accesses(0, 0, 0, 0)


@dataclasses.dataclass(frozen=True)
class SharedAccesses:
    """Loads (or stores) of shared memory by one launch, in passes through its 32 banks."""
    requests: int      # warp-level load (store) instructions to shared memory
    wavefronts: int    # passes they take: per request, the most distinct 4-byte words in one bank
    least: int         # passes as many distinct words would take without a conflict (32 a pass)

    @property
    def conflict(self):
        """Passes taken over the least: 1.0 without bank conflicts, 4.0 for a 4-way conflict."""
        return self.wavefronts / self.least if self.least else 1.0

    @property
    def wavefronts_per_request(self):
        return self.wavefronts / self.requests if self.requests else 0.0

    def __add__(self, other):
        return SharedAccesses(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


NO_SHARED_ACCESS = SharedAccesses(0, 0, 0)


@dataclasses.dataclass(frozen=True)
class ArrayTraffic:
    """One array argument of a launch: its parameter name, size, and its loads and stores."""
    name: str
    nbytes: int
    loads: Accesses
    stores: Accesses


@dataclasses.dataclass(frozen=True)
class LaunchTraffic:
    """One recorded launch: ``kernel`` of ``kernels/<source>.cu`` on ``grid`` x ``block``, the
    traffic of each of its array arguments (an array passed as two arguments counts under the
    first; a thread's local arrays are not counted), and its shared memory's bank passes."""
    source: str
    kernel: str
    grid: tuple
    block: tuple
    arrays: tuple
    shared_loads: SharedAccesses = NO_SHARED_ACCESS
    shared_stores: SharedAccesses = NO_SHARED_ACCESS

    @property
    def loads(self):
        return sum((a.loads for a in self.arrays), NO_ACCESS)

    @property
    def stores(self):
        return sum((a.stores for a in self.arrays), NO_ACCESS)

    def array(self, name):
        for a in self.arrays:
            if a.name == name:
                return a
        raise KeyError(f"{self.kernel} has no array argument {name!r}; it has "
                       f"{', '.join(a.name for a in self.arrays)}")


class TrafficLog(list):
    """The ``LaunchTraffic`` of every launch recorded, in order."""

    def of(self, kernel):
        """The launches of ``kernel``."""
        return [t for t in self if t.kernel == kernel]

    def table(self):
        """A Markdown table: one row per launch, loads and stores side by side."""
        rows = ["| kernel | loads: sectors/request | efficiency | MB moved | MB touched "
                "| stores: sectors/request | efficiency | MB moved | MB touched |",
                "|---|---|---|---|---|---|---|---|---|"]
        for t in self:
            cells = [t.kernel]
            for a in (t.loads, t.stores):
                cells += [f"{a.sectors_per_request:.1f}", f"{a.efficiency:.0%}", f"{a.moved_bytes / 1e6:.2f}",
                          f"{a.touched_bytes / 1e6:.2f}"]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows)


def recording_active():
    """True inside ``recording()``: the simulator then launches the instrumented builds."""
    return _log is not None


@contextlib.contextmanager
def recording():
    """``with recording() as log:`` every simulated launch in the block adds its LaunchTraffic to
    ``log`` (a TrafficLog). Recordings do not nest."""
    global _log
    if _log is not None:
        raise RuntimeError("a memory traffic recording is already in progress (recordings do not nest)")
    log = _log = TrafficLog()
    try:
        yield log
    finally:
        _log = None


def _device_aligned(a):
    """``a``, or a copy of it at a multiple of ALIGNMENT bytes, as cudaMalloc places arrays (NumPy's
    large arrays start 16 bytes into a page, which would add a sector to every row's requests)."""
    if a.ctypes.data % ALIGNMENT == 0:
        return a
    buffer = np.empty(a.nbytes + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    copy = buffer[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    np.copyto(copy, a)
    return copy


def record_launch(runtime, module, kernel, grid, block, args, run):
    """``run(kernel, grid, block, args)``, the launch of ``kernel`` of the instrumented ``module``,
    with each access checked for races between blocks (runtime.cpp; the launch raises
    SimulatorError at the first); when a recording is in progress, with every array at a
    device-like alignment (where sectors begin matters to the count only), the runtime's counters
    on and its traffic added to the log."""
    params = module.signatures[kernel]
    log = _log
    copies = {}   # one copy per array, however many arguments name it (an in-place kernel's x and y)
    for a in args:
        if isinstance(a, np.ndarray) and (a.ctypes.data, a.nbytes, a.dtype.str) not in copies:
            copies[a.ctypes.data, a.nbytes, a.dtype.str] = a if log is None else _device_aligned(a)
    placed = [copies[a.ctypes.data, a.nbytes, a.dtype.str] if isinstance(a, np.ndarray) else a for a in args]
    arrays = [(p.name, a) for p, a in zip(params, placed) if isinstance(a, np.ndarray)]
    count = len(arrays)
    begins = (ctypes.c_uint64 * max(1, count))(*(a.ctypes.data for _, a in arrays))
    sizes = (ctypes.c_uint64 * max(1, count))(*(a.nbytes for _, a in arrays))
    itemsizes = (ctypes.c_uint64 * max(1, count))(*(a.itemsize for _, a in arrays))
    names = (ctypes.c_char_p * max(1, count))(*(name.encode() for name, _ in arrays))
    shared_begin, shared_end = module.shared_section
    out = (ctypes.c_uint64 * (8 * count + 8))()
    with _lock:
        runtime.minicnn_sim_traffic_begin(ctypes.c_int(count), begins, sizes, itemsizes, names,
                                          ctypes.c_uint64(shared_begin), ctypes.c_uint64(shared_end - shared_begin),
                                          ctypes.c_int(log is not None))
        try:
            run(kernel, grid, block, placed)
        finally:
            runtime.minicnn_sim_traffic_end(out)
    for original, used in zip(args, placed):
        if used is not original:
            np.copyto(original, used)   # the kernel may have written any of its arrays
    if log is None:
        return
    traffic = []
    for i, (name, a) in enumerate(arrays):
        c = out[8 * i:8 * i + 8]
        traffic.append(ArrayTraffic(name, a.nbytes, Accesses(c[0], c[1], c[2], c[6]),
                                    Accesses(c[3], c[4], c[5], c[7])))
    shared = out[8 * count:8 * count + 8]   # zeros when the module has no shared memory
    log.append(LaunchTraffic(module.name, kernel, tuple(grid), tuple(block), tuple(traffic),
                             SharedAccesses(*shared[0:3]), SharedAccesses(*shared[3:6])))
