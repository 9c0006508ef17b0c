"""minicnn.environment: what a run's digits depend on besides the code, read from the running process."""
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from minicnn.environment import (blas_words, coretype_note, describe, describe_line, kernels_without_coretype,
                                  numpy_blas, processor_name)

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
