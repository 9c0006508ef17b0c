"""The kernel simulator: minicnn's CUDA C kernels compiled with g++ and run on the CPU.

The same ``kernels/<name>.cu`` that CuPy compiles for the GPU is compiled here with the system
C++ compiler, with ``cuda_sim.h`` (next to this file) force-included: it defines the CUDA
qualifiers, ``threadIdx``/``blockIdx``/``blockDim``/``gridDim``, ``__syncthreads``, shared memory,
atomics and the math functions the kernels use, and a small runtime that launches a kernel:

* blocks run one after another, in a random order (a GPU promises none); the threads of one
  block are fibers (contexts with stacks of their own) that the launching thread runs in turn,
  each to its next ``__syncthreads()`` or the end of the block, in a new random order between
  barriers: the barrier is a real one, shared memory is shared within the block, and a thread
  that reads what another writes without a barrier between them runs before the writer about
  half the time (on x86-64 the switch between fibers is the runtime's own, without a system
  call; elsewhere swapcontext: ``fiber_switch()``);
* shared memory is filled with 0xFF bytes (NaN, or -1 for ints) before each block, so a read of
  a value no thread wrote in this block shows up as a wrong answer;
* every thread of a block must reach the same ``__syncthreads`` (checked by source line), and
  no thread may return while others wait at one: both are reported as errors;
* the warp intrinsics of CUDA 9 and later (``__shfl*_sync``, ``__ballot/any/all_sync``,
  ``__syncwarp``) are collectives of the lanes of their mask (threads 32w..32w+31 of the block),
  each waiting until every lane of the mask has come (a lane that never does is an error);
* a kernel with ``__launch_bounds__`` refuses a block of more threads than its bound, as a GPU does.

Not modelled (documented in the README): warps in lockstep, timing and occupancy, caches (warps,
coalescing and shared memory's bank conflicts are counted by the traffic recording below),
dynamic (``extern``) shared memory, ``__shared__`` variables in templates (g++ would not place
them in the simulated shared memory), the order of float atomics, and out-of-bounds accesses
(they are real memory errors in this process, which the address sanitizer below reports).
Sources that use a construct outside the supported subset are refused before compiling, naming
the construct.

Select it with the device name ``"sim"`` (``layer.to("sim")``), or with ``MINICNN_SIMULATE=1``,
which makes ``"cuda"`` mean ``"sim"``. Compiled modules are cached on disk under
``$MINICNN_CACHE_DIR/simulator`` (default ``~/.cache/minicnn``) keyed by a hash of everything
that goes into them, and in memory for the life of the process.

Sanitizers, the simulator's compute-sanitizer: ``MINICNN_SIM_SANITIZE=address`` builds the
kernels and the runtime with GCC's AddressSanitizer, which stops the process at the first read
or write outside an array, global or ``__shared__`` (memcheck's job; the ``__shared__`` arrays
are then plain statics with red zones, see cuda_sim.h), and with its UndefinedBehaviorSanitizer,
which stops it at the first undefined operation (a signed int index that overflows, which a GPU
wraps without a word, a shift too far); ``MINICNN_SIM_SANITIZE=thread`` with
ThreadSanitizer, which sees each fiber as a thread of its own and reports two threads of a block
touching the same shared or global memory without a ``__syncthreads`` between them, one of them
writing (racecheck's job, and more: it does not depend on the order the threads ran in). The
sanitizer's runtime must be loaded before Python: ``python -m minicnn.simulator.sanitize address
python -m pytest -m kernel`` sets up the environment (``sanitizer_environment``) and runs the
command. ``MINICNN_SIM_SANITIZE=blocks`` is the simulator's own: every launch runs from the
instrumented build of the traffic recording below, which checks each access to a global array
against the launch's other blocks and raises SimulatorError at the first element that one block
writes and another reads or writes (no GPU tool checks that; see runtime.cpp).

Memory traffic, the simulator's stand-in for a profiler's memory counters: inside
``with minicnn.simulator.traffic.recording() as log:`` the kernels run from builds in which every
load and store is recorded, and each launch adds to ``log`` how its warps' requests fall into
32-byte sectors (how well they coalesce) and how much of each array they touch; see traffic.py.
Recorded launches are checked for races between blocks too.
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading

import numpy as np

from minicnn.environment_variables import cache_root, make_cache_folder
from minicnn.kernels import (KERNEL_DIR, REAL_TYPES, compile_options, files_digest, parse_signatures, read_source,
                             strip_comments)

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM_PATH = os.path.join(HERE, "cuda_sim.h")        # force-included into every kernel source
RUNTIME_PATH = os.path.join(HERE, "runtime.cpp")    # fibers, barriers, launch

# The simulated device: minicnn.launch.grid_for sizes grid-stride launches from these, and a
# small device keeps simulated launches short (every block costs a round of barriers).
MULTIPROCESSORS = 2
BLOCKS_PER_MULTIPROCESSOR = 1

# Constructs the simulator does not model: refused with this explanation instead of being
# compiled into something that computes a wrong answer.
UNSUPPORTED = [
    (r"\bextern\s+__shared__", "dynamic shared memory (extern __shared__); use a fixed-size __shared__ array"),
    (r"\b__(?:shfl(?:_up|_down|_xor)?|ballot|any|all)\s*\(",
     "the warp intrinsics without _sync (removed in CUDA 9; use __shfl_sync, __ballot_sync and the like)"),
    (r"\b__(?:match\w*|reduce\w*)_sync\b", "warp matches and reductions (only shuffles, votes and __syncwarp)"),
    (r"\b__activemask\b|\blaneid\b",
     "__activemask and laneid (a warp's lanes do not run in lockstep here; compute the lane from threadIdx)"),
    (r"\b__syncthreads_(?:count|and|or)\b", "__syncthreads_count/and/or"),
    (r"\b__threadfence\w*", "memory fences between blocks (blocks run one after another)"),
    (r"\bcooperative_groups\b|\bgrid\.sync\b", "cooperative groups"),
    (r"\basm\s*(?:volatile\s*)?\(", "inline PTX assembly"),
    (r"\btex\w*D\w*\s*\(|\bsurf\w*D\w*\s*\(", "textures and surfaces"),
    (r"\bclock(?:64)?\s*\(|\b__nanosleep\b", "clocks and sleeps (no timing model)"),
    (r"\batomic\w+_(?:block|system)\b", "scoped atomics"),
    (r"\b__half2?\b|\b__nv_bfloat16\w*\b|\bcuda_fp16\b", "half and bfloat16 types"),
]

SANITIZERS = ("address", "thread", "blocks")
GCC_SANITIZERS = ("address", "thread")   # the others are the simulator's own (runtime.cpp)
SANITIZE_VARIABLE = "MINICNN_SIM_SANITIZE"

_FUNCTION = re.compile(r"(?:__global__|__device__)[^;{}()]*?\b(\w+)\s*\(")


class SimulatorError(RuntimeError):
    """A kernel cannot be simulated (unsupported construct, compile error) or failed at run time."""


def _compiler():
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise SimulatorError(f"the kernel simulator needs a C++ compiler, and {cxx!r} was not found; "
                             "install g++ (apt-get install g++) or set CXX")
    return cxx


def sanitizer():
    """The sanitizer ``$MINICNN_SIM_SANITIZE`` names ("address", "thread", "blocks"), or None."""
    name = os.environ.get(SANITIZE_VARIABLE, "")
    if name and name not in SANITIZERS:
        raise SimulatorError(f"{SANITIZE_VARIABLE}={name!r}: expected one of {', '.join(SANITIZERS)} (or unset)")
    return name or None


def sanitizer_runtime(name):
    """Path of GCC's runtime library of sanitizer ``name``, or None where it is not installed."""
    library = {"address": "libasan.so", "thread": "libtsan.so"}[name]
    found = subprocess.run([_compiler(), f"-print-file-name={library}"], capture_output=True, text=True,
                           env=_tool_environment()).stdout.strip()
    return found if os.path.isabs(found) and os.path.exists(found) else None


def sanitizer_environment(name, environ=None):
    """A copy of ``environ`` (default os.environ) in which a Python process runs the simulator
    under sanitizer ``name``: the simulator told to build for it and, for GCC's, its runtime
    preloaded and errors made fatal. Python's own allocations are not leaks worth reporting, so
    leak detection is off; nor are the threads it has not joined by exit (Python 3.13 starts its
    threads joinable, where 3.11 detached them, and ThreadSanitizer called one such a "thread
    leak" under Python 3.13), so those reports are off too: it is here for the kernels' races."""
    if name not in SANITIZERS:
        raise SimulatorError(f"unknown sanitizer {name!r}: expected one of {', '.join(SANITIZERS)}")
    env = dict(os.environ if environ is None else environ)
    env[SANITIZE_VARIABLE] = name
    if name not in GCC_SANITIZERS:
        return env
    runtime = sanitizer_runtime(name)
    if runtime is None:
        raise SimulatorError(f"the {name} sanitizer's runtime is not installed with {_compiler()} "
                             f"(Debian: apt-get install {'libasan8' if name == 'address' else 'libtsan2'})")
    # The C++ runtime is preloaded right after the sanitizer's, whose interceptor of C++ throws
    # finds the real one only if it is loaded when the sanitizer starts (Python does not link it):
    # without it, the simulator's errors, thrown through a kernel to unwind it, stopped the
    # process with an "AddressSanitizer: CHECK failed" in place of their message.
    cxx_runtime = subprocess.run([_compiler(), "-print-file-name=libstdc++.so"], capture_output=True, text=True,
                                 env=_tool_environment()).stdout.strip()
    preload = [runtime] + ([cxx_runtime] if os.path.isabs(cxx_runtime) and os.path.exists(cxx_runtime) else [])
    env.update({"LD_PRELOAD": " ".join(preload),
                "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:abort_on_error=0",
                "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
                "TSAN_OPTIONS": "halt_on_error=1:report_signal_unsafe=0:report_thread_leaks=0:second_deadlock_stack=1"})
    if name == "thread":
        # ThreadSanitizer sees the synchronisation of instrumented code only: the thread pools
        # of BLAS and OpenMP (NumPy's matrix products, PyTorch) would look like races.
        env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    return env


def _tool_environment():
    """The environment of the compiler's processes: without a preloaded sanitizer runtime, which
    would only slow the compiler down."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def _sanitizer_flags():
    """Compiler flags of GCC's sanitizer in force; refuses one whose runtime is not loaded (the
    library would fail to load, or run unchecked)."""
    name = sanitizer()
    if name not in GCC_SANITIZERS:
        return []
    if not any(f"lib{name[0]}san" in line for line in _read("/proc/self/maps").splitlines()):
        raise SimulatorError(f"{SANITIZE_VARIABLE}={name} needs the sanitizer's runtime loaded before Python: "
                             f"run the command through python -m minicnn.simulator.sanitize {name} ...")
    # the address build also checks undefined behaviour (UBSan: a signed int that overflows, as an
    # index computed in int does past 2**31 and a GPU wraps without a word; a shift too far; an
    # index past a fixed-size local array), stopping at the first
    also = ["-fsanitize=undefined", "-fno-sanitize-recover=undefined"] if name == "address" else []
    return ["-O1", "-g", "-fno-omit-frame-pointer", f"-fsanitize={name}", *also]


def cache_dir():
    return os.path.join(cache_root(), "simulator")


def check_supported(code, file):
    """Raise SimulatorError naming the file, line, function and construct of the first
    unsupported construct in ``code``."""
    clean = strip_comments(code)

    def refuse(match, what):
        line = clean.count("\n", 0, match.start()) + 1
        functions = list(_FUNCTION.finditer(clean, 0, match.start()))
        where = f"in {functions[-1].group(1)}" if functions else "at file scope"
        raise SimulatorError(f"{file}:{line}: {where} uses {match.group(0)!r}: the kernel simulator "
                             f"does not model {what}")

    for pattern, what in UNSUPPORTED:
        match = re.search(pattern, clean)
        if match:
            refuse(match, what)
    # g++ ignores the section attribute that puts a __shared__ variable in the simulated shared
    # memory when the variable is a static local of a template (GCC bug 70435): the variable would
    # be neither poisoned between blocks nor counted by the traffic recording.
    for match in re.finditer(r"\b__shared__\b", clean):
        functions = list(_FUNCTION.finditer(clean, 0, match.start()))
        if functions:
            head = clean[:functions[-1].start()]
            declaration = head[max(head.rfind("}"), head.rfind(";")) + 1:]   # what precedes the function
            if re.search(r"\btemplate\s*<", declaration):
                refuse(match, "__shared__ variables in templates (g++ ignores their placement there); "
                              "declare the array in the kernel and pass a pointer to it")


_LAUNCH_BOUNDS = re.compile(r'extern\s+"C"\s+__global__\s+__launch_bounds__\s*\(([^,)]+)[^)]*\)\s*void\s+(\w+)\s*\(')


def launch_bounds(code):
    """{kernel: the C++ expression of the most threads a block in its ``__launch_bounds__``} for
    the kernels of ``code`` that have one (a macro such as ``THREADS`` as written: the compiler
    gives its value)."""
    return {match.group(2): match.group(1).strip() for match in _LAUNCH_BOUNDS.finditer(strip_comments(code))}


def _trampolines(signatures, bounds):
    """C++ that unpacks a void*[] of argument addresses into a typed call of each kernel, one
    ``extern "C"`` launch entry per kernel for ctypes, and one that gives the bounds of the
    module's shared memory (for the traffic recording's bank count). A kernel with a
    ``__launch_bounds__`` in ``bounds`` (``launch_bounds``) refuses a block of more threads: a GPU
    does, since its registers were allotted for that many (cuda_sim.h's macro drops the bounds)."""
    out = ['extern "C" void minicnn_sim_shared_section(unsigned long long* bounds) {\n'
           "  bounds[0] = (unsigned long long)__start_minicnn_shared;\n"
           "  bounds[1] = (unsigned long long)__stop_minicnn_shared;\n}\n"]
    for kernel, params in signatures.items():
        unpack = ", ".join(
            f"*({p.ctype}**)args[{i}]" if p.pointer else f"*({p.ctype}*)args[{i}]" for i, p in enumerate(params))
        check = ""
        if kernel in bounds:
            check = (f"  const unsigned long long most = ({bounds[kernel]}), threads = "
                     f"(unsigned long long)block[0] * block[1] * block[2];\n"
                     f"  if (threads > most) {{\n"
                     f'    std::snprintf(error, error_size, "{kernel}: a block of %llu threads, more than the %llu '
                     f'of its __launch_bounds__ (a GPU refuses the launch)", threads, most);\n'
                     f"    return 1;\n  }}\n")
        out.append(f"static void minicnn_sim_call_{kernel}(void** args) {{ (void)args; {kernel}({unpack}); }}\n"
                   f'extern "C" int minicnn_sim_launch_{kernel}(const unsigned int* grid, const unsigned int* '
                   f"block, void** args, char* error, int error_size) {{\n{check}"
                   f'  return minicnn_sim_launch("{kernel}", minicnn_sim_call_{kernel}, minicnn_sim_poison_shared, '
                   f"grid, block, args, error, error_size);\n}}\n")
    return "\n".join(out)


def _kernel_dir_digest():
    """Hash of every source in the kernel directory (a .cu may include any .cuh)."""
    return files_digest(sorted(f for f in os.listdir(KERNEL_DIR) if f.endswith((".cu", ".cuh"))))


_CTYPES = {np.dtype(np.int32): ctypes.c_int32, np.dtype(np.uint32): ctypes.c_uint32,
           np.dtype(np.int64): ctypes.c_int64, np.dtype(np.uint64): ctypes.c_uint64,
           np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double}


# A module built for recording its memory traffic (minicnn/simulator/traffic.py): GCC's
# ThreadSanitizer instrumentation calls the runtime's hooks before every load and store (compiled
# with it, linked without ThreadSanitizer's runtime: runtime.cpp defines the hooks), and its
# coverage tracing at the start of every basic block; calls at a function's entry and exit are
# off. Vectorising a thread's loops is off, since a GPU thread loads element by element as the
# source is written. MINICNN_SIM_TRAFFIC leaves out what the simulator writes only to catch
# errors (kernels/copy_async.cuh's poison), which a GPU does not write. The same builds check
# for races between blocks, whose reports name source lines: -g, which leaves the code as it is.
# (AddressSanitizer's instrumentation, used before, checks an address once where the code
# accesses it twice in a row: the store of y[i] += b called no hook and went uncounted.)
# Blocks laid out without copies (GCC's default, "stc", copies small blocks onto the paths that
# reach them): it copied the latch of a loop whose body is an `if`, so that the threads that
# skipped the body and those that ran it went on by different copies, met again only after the
# loop, and each side's later rounds were requests of their own (tests/test_simulator_traffic.py,
# "plane_spans"; Winograd's version 2, 1.37 requests a warp). nvcc's warps meet after the `if`.
TRAFFIC_FLAGS = ["-g", "-fsanitize-coverage=trace-pc", "-fno-tree-vectorize", "-fno-tree-loop-distribute-patterns",
                 "-freorder-blocks-algorithm=simple", "-DMINICNN_SIM_TRAFFIC=1"]
TRAFFIC_COMPILE_FLAGS = ["-fsanitize=thread", "--param", "tsan-instrument-func-entry-exit=0"]


def instrumented():
    """True where modules are built with every load and store instrumented: inside a traffic
    recording, and under the simulator's own sanitizer of races between blocks."""
    from minicnn.simulator import traffic
    return traffic.recording_active() or sanitizer() == "blocks"


class SimulatedModule:
    """One kernel source compiled for the CPU with real_t = ``real_dtype``: ``kernels/<name>.cu``,
    or ``code`` when given (the simulator's own tests use that for kernels with deliberate bugs).
    With ``traffic=True`` every load and store is instrumented: each launch is checked for races
    between its blocks, and adds its memory traffic to the recording in progress, if any
    (``minicnn.simulator.traffic``). Under ``MINICNN_SIM_SANITIZE=blocks`` it always is."""

    def __init__(self, name, real_dtype, code=None, traffic=False):
        traffic = traffic or sanitizer() == "blocks"
        self.name, self.real_dtype, self.traffic = name, np.dtype(real_dtype), traffic
        if traffic and sanitizer() in GCC_SANITIZERS:
            raise SimulatorError(f"memory traffic cannot be recorded under {SANITIZE_VARIABLE}={sanitizer()}: "
                                 "the sanitizer instruments the same loads and stores")
        self.file = name + ".cu"
        code = read_source(name) if code is None else code
        check_supported(code, self.file)
        self.code = code
        self.signatures = parse_signatures(code, self.file)
        if not self.signatures:
            raise SimulatorError(f'{self.file}: no extern "C" __global__ kernels found')
        _load_runtime()
        self.library = ctypes.CDLL(self._build())  # CDLL calls release the GIL while kernels run
        self._entries = {}
        for kernel in self.signatures:
            entry = getattr(self.library, f"minicnn_sim_launch_{kernel}")
            entry.restype = ctypes.c_int
            entry.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                              ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int]
            self._entries[kernel] = entry
        bounds = (ctypes.c_ulonglong * 2)()
        self.library.minicnn_sim_shared_section(bounds)
        # [begin, end) of the module's __shared__ variables; (0, 0) when it has none
        self.shared_section = (bounds[0], bounds[1])

    def _build(self):
        # The source is pasted in under a #line directive, so compiler messages name the .cu
        # file and its lines; #include "common.cuh" is found through -I kernels/.
        program = f'#line 1 "{self.file}"\n{self.code}\n{_trampolines(self.signatures, launch_bounds(self.code))}'
        flags = ["-include", SHIM_PATH, *compile_options(self.real_dtype), *(TRAFFIC_FLAGS if self.traffic else [])]
        stem = f"{self.name}-{REAL_TYPES[self.real_dtype]}" + ("-traffic" if self.traffic else "")
        return build_library(stem, program, flags, self.file,
                             compile_flags=TRAFFIC_COMPILE_FLAGS if self.traffic else ())

    def launch(self, kernel, grid, block, args):
        """Run ``kernel`` on ``grid`` x ``block`` (3-tuples); ``args`` already match its signature
        (NumPy arrays for pointers, NumPy scalars of the parameter types for scalars)."""
        if self.traffic:
            from minicnn.simulator import traffic
            traffic.record_launch(_runtime, self, kernel, grid, block, args, self._run)
        else:
            self._run(kernel, grid, block, args)

    def _run(self, kernel, grid, block, args):
        keep = []
        addresses = (ctypes.c_void_p * max(1, len(args)))()
        for i, a in enumerate(args):
            value = ctypes.c_void_p(a.ctypes.data) if isinstance(a, np.ndarray) else _CTYPES[a.dtype](a.item())
            keep.append(value)
            addresses[i] = ctypes.addressof(value)
        error = ctypes.create_string_buffer(1024)
        status = self._entries[kernel]((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block),
                                       addresses, error, len(error))
        if status != 0:
            message = _source_lines(error.value.decode(errors="replace"))
            raise SimulatorError(f"{self.file}: {message} (grid {tuple(grid)}, block {tuple(block)})")


_SITE = re.compile(r"\{site (.+?)\+0x([0-9a-f]+)\}")


def _source_lines(message):
    """``message`` with each "{site LIBRARY+0xOFFSET}" of the runtime (the return address of an
    instrumented access's call) replaced by the source file and line the debug information gives
    (``addr2line``), or by "an unknown line" where it gives none."""
    def line(match):
        library, offset = match.group(1), int(match.group(2), 16) - 1   # within the call instruction
        try:
            result = subprocess.run(["addr2line", "-e", library, hex(offset)], capture_output=True, text=True,
                                    env=_tool_environment(), timeout=60)
            where = result.stdout.strip().splitlines()[0] if result.returncode == 0 and result.stdout.strip() else ""
        except (OSError, subprocess.SubprocessError):
            where = ""
        if not where or where.startswith("??"):
            return "an unknown line"
        file, _, number = where.partition(":")
        return f"{os.path.basename(file)}:{number.split()[0]}"

    return _SITE.sub(line, message)


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def build_library(stem, program, flags, what, compile_flags=()):
    """Compile the C++ ``program`` into a shared library in the cache and return its path, with
    ``compile_flags`` given to the compiler only, not the linker (an instrumentation whose runtime
    is not to be linked). The cache key hashes the program, the kernel and simulator sources,
    flags and compiler."""
    cxx = _compiler()
    flags = ["-std=c++17", "-O2", "-fPIC", "-shared", "-pthread", "-Wno-unknown-pragmas", f"-I{HERE}", *flags,
             *_sanitizer_flags()]   # a later -O1 overrides -O2
    key = hashlib.sha256("\n".join([program, _kernel_dir_digest(), _read(SHIM_PATH), _read(RUNTIME_PATH),
                                    cxx, *flags, *compile_flags, _compiler_version(cxx)]).encode()).hexdigest()[:24]
    target = os.path.join(cache_dir(), f"{stem}-{key}.so")
    if os.path.exists(target):
        return target
    make_cache_folder(cache_dir(), "for the simulator's compiled kernels", SimulatorError)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as work:
        cpp = os.path.join(work, f"{stem}.cpp")
        with open(cpp, "w") as f:
            f.write(program)
        built = os.path.join(work, "module.so")
        steps = [[cxx, *flags, cpp, "-o", built]]
        if compile_flags:
            steps = [[cxx, *flags, *compile_flags, "-c", cpp, "-o", built + ".o"],
                     [cxx, *flags, built + ".o", "-o", built]]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, env=_tool_environment())
            if result.returncode != 0:
                raise SimulatorError(f"{what} does not compile for the kernel simulator:\n{result.stderr.strip()}")
        os.replace(built, target)  # atomic: a concurrent build of the same key is harmless
    return target


_runtime = None


def _load_runtime():
    """Load the runtime library once, with its symbols global so that modules resolve them."""
    global _runtime
    if _runtime is None:
        path = build_library("runtime", _read(RUNTIME_PATH), [], "the simulator runtime (runtime.cpp)")
        _runtime = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    return _runtime


CONTEXT_VARIABLE = "MINICNN_SIM_CONTEXT"   # "ucontext": the fibers switch by swapcontext (runtime.cpp)


def fiber_switch():
    """How the runtime switches between the fibers: "switch_stacks" (x86-64: a few instructions,
    no system call) or "ucontext" (swapcontext: other processors, a process with a shadow stack,
    or ``MINICNN_SIM_CONTEXT=ucontext``). Decided once per process."""
    function = _load_runtime().minicnn_sim_fiber_switch
    function.restype = ctypes.c_char_p
    return function().decode()


_versions = {}
_modules = {}
_lock = threading.Lock()


def _compiler_version(cxx):
    if cxx not in _versions:
        _versions[cxx] = subprocess.run([cxx, "--version"], capture_output=True, text=True,
                                        env=_tool_environment()).stdout
    return _versions[cxx]


def compiler_description():
    """The first line of ``$CXX --version``, e.g. "g++ (Debian 12.2.0-14+deb12u1) 12.2.0": the
    compiler the kernels are simulated with, whose code the traffic counts follow."""
    return _compiler_version(_compiler()).splitlines()[0].strip()


def module(name, real_dtype):
    """The simulated module of ``<name>.cu`` for ``real_dtype``, built once per process; the
    build that records memory traffic while a recording is in progress
    (``minicnn.simulator.traffic.recording``)."""
    key = (name, np.dtype(real_dtype), instrumented())
    with _lock:
        if key not in _modules:
            _modules[key] = SimulatedModule(name, real_dtype, traffic=key[2])
        return _modules[key]
