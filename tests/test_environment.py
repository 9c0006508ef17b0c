"""minicnn.environment: what a run's digits depend on besides the code, read from the running process."""
import json
import os
import platform
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from minicnn.environment import (blas_words, coretype_note, cuda_version_words, describe, describe_line,
                                  gpu_software, gpu_words, kernels_without_coretype, numpy_blas, processor_name)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENBLAS_X86 = platform.machine() == "x86_64" and (numpy_blas() or {}).get("library") == "openblas"


def test_describe_is_json_and_names_the_processor_blas_and_versions():
    env = describe("cpu")
    assert json.loads(json.dumps(env)) == env
    assert env["processor"] == processor_name() != ""
    assert env["cores"] == os.cpu_count() and env["numpy"] == np.__version__
    assert "gpu" not in env
    line = describe_line(env)
    assert line.startswith(f"{env['processor']}, {env['cores']} cores; NumPy {np.__version__} with ")
    assert blas_words(env["blas"]) in line and line.endswith(f"; Python {platform.python_version()}")


def test_the_blas_threads_are_read_at_the_moment_asked():
    with threadpool_limits(1, user_api="blas"):
        assert numpy_blas()["threads"] == 1
        assert blas_words(numpy_blas()).endswith("1 thread)")
    assert numpy_blas()["threads"] == threadpool_limits(None).get_original_num_threads()["blas"]


def test_blas_words():
    assert blas_words(dict(library="openblas", version="0.3.31", kernels="SkylakeX", threads=8)) == \
        "OpenBLAS 0.3.31 (its SkylakeX kernels, 8 threads)"
    assert blas_words(dict(library="mkl", version="2024.0", kernels=None, threads=1)) == "MKL 2024.0 (1 thread)"
    assert blas_words(None) == "no BLAS that threadpoolctl knows"


def fake_cupy(runtime=13020, driver=13010, nvrtc=(13, 0)):
    """A stand-in for CuPy with a GPU: its version, the CUDA runtime's and driver's (0: no driver),
    NVRTC's (an exception: a library that cannot be loaded) and the GPU's name."""
    def nvrtc_version():
        if isinstance(nvrtc, Exception):
            raise nvrtc
        return nvrtc
    return SimpleNamespace(__version__="14.2.0", cuda=SimpleNamespace(
        runtime=SimpleNamespace(runtimeGetVersion=lambda: runtime, driverGetVersion=lambda: driver,
                                getDeviceProperties=lambda device: {"name": b"NVIDIA Test GPU"}),
        Device=lambda: SimpleNamespace(id=0), nvrtc=SimpleNamespace(getVersion=nvrtc_version)))


def test_cuda_version_words():
    assert [cuda_version_words(v) for v in (13020, 13000, 12080, 11040)] == ["13.2", "13.0", "12.8", "11.4"]


def test_a_cuda_run_records_the_gpu_and_the_versions_its_kernels_depend_on(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy())
    env = describe("cuda")
    assert json.loads(json.dumps(env)) == env
    assert env["gpu"] == "NVIDIA Test GPU"
    assert env["gpu_software"] == dict(cupy="14.2.0", cuda_runtime="13.2", cuda_driver="13.1", nvrtc="13.0")
    assert describe_line(env).startswith(
        "NVIDIA Test GPU (CuPy 14.2.0, CUDA runtime 13.2, driver 13.1, NVRTC 13.0); " + describe_line(describe("cpu")))


def test_a_version_that_cannot_be_read_is_left_out_and_stops_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(driver=0, nvrtc=RuntimeError("libnvrtc.so.13: not found")))
    software = gpu_software()
    assert software == dict(cupy="14.2.0", cuda_runtime="13.2", cuda_driver=None, nvrtc=None)
    assert gpu_words("NVIDIA Test GPU", software) == "NVIDIA Test GPU (CuPy 14.2.0, CUDA runtime 13.2)"
    # a record kept before the versions were: the GPU's name alone
    old = dict(describe("cpu"), gpu="NVIDIA H100 80GB HBM3")
    assert describe_line(old).startswith("NVIDIA H100 80GB HBM3; ")


def test_the_versions_are_read_from_the_real_cupy_where_it_is_installed():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    try:
        from cupy_backends.cuda.libs import nvrtc
        expected_nvrtc = "%d.%d" % nvrtc.getVersion()
    except Exception:   # no NVRTC library: gpu_software says None
        expected_nvrtc = None
    software = gpu_software()   # needs no GPU
    assert software["cupy"] == cupy.__version__ and software["nvrtc"] == expected_nvrtc
    assert software["cuda_runtime"] == cuda_version_words(cupy.cuda.runtime.runtimeGetVersion())


def kernels_and_product(coretype):
    """In a new Python with OPENBLAS_CORETYPE=coretype: the kernels OpenBLAS reports, the recorded
    variables, and the bytes of one float32 product (a seeded 64 x 1000 by 1000 x 64)."""
    code = ("import json, numpy as np; from minicnn.environment import describe; e = describe(); "
            "r = np.random.default_rng(0); a = r.standard_normal((64, 1000), np.float32); "
            "b = r.standard_normal((1000, 64), np.float32); "
            "print(json.dumps([e['blas']['kernels'], e['openblas_environment'], (a @ b).tobytes().hex()]))")
    env = dict(os.environ, OPENBLAS_CORETYPE=coretype, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not OPENBLAS_X86, reason="OPENBLAS_CORETYPE is OpenBLAS's, and these kernels x86-64's")
def test_openblas_coretype_chooses_the_kernels_which_round_differently_and_is_recorded():
    """What the README says of runs on two machines: the variable picks OpenBLAS's kernels (Nehalem's
    SSE ones run on every x86-64 processor made since 2008), the run records it, and two kernels
    give different last bits for the same float32 product."""
    nehalem, recorded, nehalem_product = kernels_and_product("Nehalem")
    assert nehalem == "Nehalem" and recorded["OPENBLAS_CORETYPE"] == "Nehalem"
    if "avx2" not in open("/proc/cpuinfo").read():
        pytest.skip("this processor has no AVX2 for OpenBLAS's Haswell kernels to compare with")
    haswell, _, haswell_product = kernels_and_product("Haswell")
    assert haswell == "Haswell"
    assert nehalem_product != haswell_product   # the same product, other sums: other roundings
    a, b = (np.frombuffer(bytes.fromhex(p), np.float32) for p in (nehalem_product, haswell_product))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)   # ... of the same numbers


def run_command(*args, **variables):
    env = dict(os.environ, PYTHONPATH=ROOT, **variables)
    return subprocess.run([sys.executable, "-m", "minicnn.environment", *args], env=env, capture_output=True,
                          text=True)


def test_the_command_prints_the_line_and_the_record_a_run_keeps():
    lines = run_command().stdout.splitlines()
    start = lines.index("{")
    record = json.loads("\n".join(lines[start:]))
    assert lines[0] == describe_line(record) and record == describe("cpu")
    refused = run_command("--device", "tpu")
    assert refused.returncode == 2 and "invalid choice: 'tpu'" in refused.stderr


@pytest.mark.skipif(not OPENBLAS_X86, reason="OPENBLAS_CORETYPE is OpenBLAS's, and these kernels x86-64's")
def test_the_command_says_which_kernels_openblas_would_take_without_the_variable():
    own = kernels_without_coretype()
    forced = "Prescott" if own == "Nehalem" else "Nehalem"   # old SSE kernels, which every x86-64 runs
    lines = run_command(OPENBLAS_CORETYPE=forced).stdout.splitlines()
    assert f"(its {forced} kernels," in lines[0]
    assert lines[1] == f"note: OPENBLAS_CORETYPE={forced} chose these kernels; without it OpenBLAS would take its " \
                       f"{own} kernels on this processor"
    assert "note:" not in run_command(OPENBLAS_CORETYPE=own).stdout   # the variable names what it would take


def test_a_question_that_cannot_be_asked_gives_no_note_and_stops_nothing(monkeypatch):
    """The note is a diagnosis run at the start of every training run: a Python that cannot start
    gives none, not an error."""
    kernels_without_coretype.cache_clear()
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Nehalem")
    try:
        assert kernels_without_coretype() is None
        assert coretype_note(dict(library="openblas", version="0.3.31", kernels="Nehalem", threads=1)) is None
    finally:
        kernels_without_coretype.cache_clear()


def spinning_noted(first, second, **variables):
    """In a new Python that imports ``first`` then ``second`` (NumPy and minicnn, in either order),
    with ``variables`` added to an environment without OPENBLAS_THREAD_TIMEOUT: whether
    spinning_note says OpenBLAS's idle threads spin (for a BLAS of 2 threads, whatever the cores)."""
    code = (f"import {first}, {second}; from minicnn.environment import spinning_note, numpy_blas; "
            "print(spinning_note(dict(numpy_blas(), threads=2)) is not None)")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env.update(PYTHONPATH=ROOT, **variables)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return {"True": True, "False": False}[out.stdout.strip()]


@pytest.mark.skipif((numpy_blas() or {}).get("library") != "openblas", reason="OPENBLAS_THREAD_TIMEOUT is OpenBLAS's")
def test_numpy_imported_before_minicnn_leaves_openblas_threads_spinning_and_the_note_says_so():
    """OpenBLAS reads OPENBLAS_THREAD_TIMEOUT once, as NumPy loads it: minicnn, imported after
    NumPy, sets it too late (unless it was set before Python started), and the note says so."""
    assert spinning_noted("numpy", "minicnn")
    assert not spinning_noted("minicnn", "numpy")
    assert not spinning_noted("numpy", "minicnn", OPENBLAS_THREAD_TIMEOUT="8")


def test_the_spinning_note_is_for_openblas_with_threads_to_spin(monkeypatch):
    import minicnn
    from minicnn.environment import spinning_note
    openblas = dict(library="openblas", version="0.3.31", kernels="Haswell", threads=2)
    monkeypatch.setattr(minicnn, "_openblas_read_thread_timeout", False)
    assert spinning_note(openblas).startswith("note: NumPy loaded OpenBLAS before minicnn")
    assert "import minicnn before NumPy" in spinning_note(openblas)
    assert spinning_note(dict(openblas, threads=1)) is None
    assert spinning_note(dict(openblas, library="mkl")) is None and spinning_note(None) is None
    monkeypatch.setattr(minicnn, "_openblas_read_thread_timeout", True)
    assert spinning_note(openblas) is None


def test_more_threads_than_cores_are_noted(monkeypatch):
    """--threads 4 on 2 cores trained the small AlexNet at a third of its speed, 64 at a
    twenty-fifth, and nothing said why: the note names both counts and the flag to give."""
    from minicnn import cpu_threads
    from minicnn.environment import oversubscribed_note
    openblas = dict(library="openblas", version="0.3.31", kernels="Haswell", threads=2)
    monkeypatch.setattr(cpu_threads, "usable_cores", lambda: 2)
    with cpu_threads.limited(2):
        assert oversubscribed_note(openblas) is None and oversubscribed_note(None) is None
        assert oversubscribed_note(dict(openblas, threads=8)).startswith(
            "note: 8 threads on 2 cores: the threads take turns on the cores")
    monkeypatch.setattr(cpu_threads, "_threads", 4)
    note = oversubscribed_note(dict(openblas, threads=1))
    assert note.startswith("note: 4 threads on 2 cores: ") and note.endswith(": --threads 2 or fewer")
