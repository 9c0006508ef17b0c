"""What a run's figures depend on besides the code and the seed: the processor, and on the CPU the
BLAS library that NumPy calls, which of its kernels it chose and on how many threads.

The CPU code is deterministic: the same command on the same machine gives the same losses to the
last digit. Across machines the digits can differ, because OpenBLAS picks its GEMM kernels by
processor when it loads (``DYNAMIC_ARCH``): its SkylakeX kernels, say, and its Haswell kernels
sum a product's terms in different orders, and the last bits of the rounding grow, over
thousands of SGD steps, into different third decimals of an accuracy. Setting
``OPENBLAS_CORETYPE`` (``SkylakeX``, ``Haswell``, ...) before Python starts makes OpenBLAS take
the named kernels on any processor that has their instructions, and gives the digits of another
machine that used them. OpenBLAS may also round a product differently with another number of
threads (0.3.31 does at some shapes with either of those kernels; minicnn's own threads change
nothing, ``tests/test_cpu_threads.py``). So a training run prints all this before it starts and
records it in its checkpoint and its ``test_metrics.json``, and the benchmarks name it beside
their figures::

    describe("cpu")["blas"]
    {'library': 'openblas', 'version': '0.3.31.188.0', 'kernels': 'Haswell', 'threads': 2}
"""
import functools
import os
import platform

import numpy as np

import minicnn


def processor_name():
    """The processor's model name ("AMD EPYC", "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz");
    on Linux read from /proc/cpuinfo, where ``platform.processor()`` says nothing."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_blas():
    """The BLAS that NumPy's matrix products call, as threadpoolctl finds it loaded: dict(library,
    version, kernels, threads); ``kernels`` is OpenBLAS's choice of kernels for this processor
    (None for a BLAS that does not say). None if no BLAS is loaded that threadpoolctl knows."""
    from threadpoolctl import threadpool_info
    loaded = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    # PyTorch, imported beside NumPy, may load a BLAS of its own: NumPy's lives in numpy's folders
    ours = [lib for lib in loaded if "numpy" in lib["filepath"]] or loaded
    if not ours:
        return None
    lib = ours[0]
    return dict(library=lib["internal_api"], version=lib["version"], kernels=lib.get("architecture"),
                threads=lib["num_threads"])


def gpu_name():
    """The name of the GPU that CuPy's current device is."""
    import cupy
    return cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()


def cuda_version_words(version):
    """13020 -> '13.2': a CUDA version as the runtime and the driver report it (1000 major + 10 minor)."""
    return f"{version // 1000}.{version % 1000 // 10}"


def gpu_software():
    """{cupy, cuda_runtime, cuda_driver, nvrtc}: the versions a GPU run depends on besides the GPU:
    CuPy's, the CUDA runtime's and driver's ('13.2'), and NVRTC's, which compiles minicnn's kernels
    (the code it makes, and whether a source compiles at all: ``nvrtc_options`` in
    kernels/__init__.py). None for a version that cannot be read (a driver reporting 0: none)."""
    import cupy

    def ask(query):
        try:
            return query()
        except Exception:   # a diagnosis, which must never stop a run
            return None
    runtime, driver = ask(cupy.cuda.runtime.runtimeGetVersion), ask(cupy.cuda.runtime.driverGetVersion)
    nvrtc = ask(cupy.cuda.nvrtc.getVersion)
    return dict(cupy=cupy.__version__, cuda_runtime=cuda_version_words(runtime) if runtime else None,
                cuda_driver=cuda_version_words(driver) if driver else None,
                nvrtc=f"{nvrtc[0]}.{nvrtc[1]}" if nvrtc else None)


def gpu_words(name, software):
    """'NVIDIA H100 80GB HBM3 (CuPy 14.2.0, CUDA runtime 13.2, driver 13.1, NVRTC 13.0)' for the
    GPU's name and ``gpu_software()``'s dict; a version that could not be read is left out, and
    all of them for a record kept before they were (software None)."""
    if software is None:
        return name
    parts = [f"CuPy {software['cupy']}"] + [f"{label} {software[key]}" for key, label in (
        ("cuda_runtime", "CUDA runtime"), ("cuda_driver", "driver"), ("nvrtc", "NVRTC")) if software.get(key)]
    return f"{name} ({', '.join(parts)})"


def gpu_description():
    """``gpu_words`` of this process's GPU: the heading of a GPU benchmark's table."""
    return gpu_words(gpu_name(), gpu_software())


def describe(device="cpu"):
    """A dict of what the figures of a run on ``device`` ("cpu", "cuda" or "sim") depend on besides
    the code: processor, cores, BLAS, the versions of Python, NumPy and minicnn, the ``OPENBLAS_*``
    environment variables, and on "cuda" the GPU's name and ``gpu_software()``. JSON-serialisable."""
    env = dict(processor=processor_name(), cores=os.cpu_count(), blas=numpy_blas(),
               python=platform.python_version(), numpy=np.__version__, minicnn=minicnn.__version__)
    # the variables that steer OpenBLAS's choices (OPENBLAS_CORETYPE above all), as this process got them
    settings = {k: v for k, v in sorted(os.environ.items()) if k.startswith("OPENBLAS_")}
    if settings:
        env["openblas_environment"] = settings
    if device == "cuda":
        env["gpu"], env["gpu_software"] = gpu_name(), gpu_software()
    return env


def blas_words(blas):
    """'OpenBLAS 0.3.31.188.0 (its Haswell kernels, 2 threads)' for ``numpy_blas()``'s dict."""
    if blas is None:
        return "no BLAS that threadpoolctl knows"
    name = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}.get(blas["library"], blas["library"])
    kernels = f"its {blas['kernels']} kernels, " if blas.get("kernels") else ""
    threads = f"{blas['threads']} thread{'s' if blas['threads'] != 1 else ''}"
    return f"{name} {blas['version']} ({kernels}{threads})"


def describe_line(env):
    """One line of ``describe()``'s dict, for a log or a table's heading:
    'AMD EPYC, 2 cores; NumPy 2.4.6 with OpenBLAS 0.3.31.188.0 (its Haswell kernels, 2 threads); Python 3.11.7'."""
    gpu = f"{gpu_words(env['gpu'], env.get('gpu_software'))}; " if "gpu" in env else ""
    return (f"{gpu}{env['processor']}, {env['cores']} cores; NumPy {env['numpy']} with {blas_words(env['blas'])}; "
            f"Python {env['python']}")


@functools.lru_cache(maxsize=None)   # one new Python a process: the answer does not change
def kernels_without_coretype():
    """The kernels OpenBLAS chooses for this processor by itself: asked of a new Python whose
    environment lacks OPENBLAS_CORETYPE (None where NumPy's BLAS says none, or the question could
    not be asked: a diagnosis, which must never stop a run)."""
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # this minicnn, installed or not
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
    try:
        asked = subprocess.run([sys.executable, "-c", "from minicnn.environment import numpy_blas; "
                                "print((numpy_blas() or {}).get('kernels'))"], env=env, capture_output=True,
                               text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    answer = asked.stdout.strip()
    return None if asked.returncode != 0 or answer in ("", "None") else answer


def coretype_note(blas):
    """A line saying which kernels OpenBLAS would take by itself, where OPENBLAS_CORETYPE chose
    others for ``blas`` (``numpy_blas()``'s dict): they decide the GEMMs' speed as well as their
    digits (on an AMD EPYC with AVX-512, the 2012 AlexNet's CPU step took 1.2x to 1.4x as long on
    the Haswell kernels as on the SkylakeX ones). None where the variable is unset or changes nothing."""
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if not coretype or (blas or {}).get("library") != "openblas":
        return None
    own = kernels_without_coretype()
    if own is None or own == blas["kernels"]:
        return None
    return (f"note: OPENBLAS_CORETYPE={coretype} chose these kernels; without it OpenBLAS would take its "
            f"{own} kernels on this processor")


def spinning_note(blas):
    """A line saying that OpenBLAS's idle threads spin, where NumPy loaded OpenBLAS (with more than
    one thread) before minicnn could set OPENBLAS_THREAD_TIMEOUT (minicnn/__init__.py) and nobody
    had set it before: after each matrix product they keep the cores busy that the NumPy work
    between products needs (the teaching notebook's training took 1.4x as long on 2 cores). None
    where they sleep."""
    if minicnn._openblas_read_thread_timeout or (blas or {}).get("library") != "openblas" or blas["threads"] < 2:
        return None
    return ("note: NumPy loaded OpenBLAS before minicnn could set OPENBLAS_THREAD_TIMEOUT, so its idle threads "
            "spin after each matrix product on the cores that the NumPy work between products needs (about 1.4x "
            "the time for the small AlexNet on 2 cores): import minicnn before NumPy, or set "
            "OPENBLAS_THREAD_TIMEOUT=4 before Python starts")


def oversubscribed_note(blas):
    """A line saying that more threads than the process's cores run its CPU work (``--threads``,
    or OMP_NUM_THREADS set for a larger machine): they take turns on the cores, and each step
    waits for the last of them. None where there are no more threads than cores."""
    from minicnn import cpu_threads
    cores = cpu_threads.usable_cores()
    threads = max(cpu_threads.threads(), (blas or {}).get("threads") or 0)
    if threads <= cores:
        return None
    return (f"note: {threads} threads on {cores} core{'s' if cores != 1 else ''}: the threads take turns on the cores "
            f"and each step waits for the last of them (on 2 cores the small AlexNet trained at 0.36x of its speed "
            f"with 4 threads, 0.04x with 64): --threads {cores} or fewer")


def main(argv=None):
    """python -m minicnn.environment [--device cuda]: the line a training run prints, then the record
    it keeps, to set two machines side by side when their figures differ."""
    import argparse
    import json
    from minicnn.backend import check_device
    p = argparse.ArgumentParser(prog="python -m minicnn.environment",
                                description="The line a training run prints first, then the record it keeps: "
                                            "set two machines side by side when their figures differ.")
    p.add_argument("--device", choices=("cpu", "cuda", "sim"), default="cpu",
                   help="the device whose run to describe; cuda adds the GPU's name and the versions of CuPy, "
                        "the CUDA runtime and driver, and NVRTC (default: cpu)")
    args = p.parse_args(argv)
    try:
        check_device(args.device)
    except RuntimeError as exc:
        raise SystemExit(f"error: {exc}")
    record = describe(args.device)
    print(describe_line(record))
    note = coretype_note(record["blas"])
    if note:
        print(note)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    from minicnn.arguments import run_script
    run_script(main)
