"""Every kernel source compiles for the GPU, without a GPU: with nvcc for sm_80 (A100) and
sm_90 (H100), warnings (register spills among them) treated as errors, and with NVRTC (the
compiler CuPy uses at run time) where CuPy and the NVRTC library are installed. Each case skips
with its reason otherwise."""
import os
import shutil
import subprocess

import pytest

from minicnn.kernels import KERNEL_DIR, compile_options, read_source, source_names, source_path

ARCHITECTURES = ("80", "90")
REAL_DTYPES = ("float32", "float64")


def find_nvcc():
    for candidate in (shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def load_nvrtc():
    """CuPy's NVRTC binding, or the reason it cannot be used."""
    try:
        from cupy_backends.cuda.libs import nvrtc
        nvrtc.getVersion()
        return nvrtc, None
    except Exception as exc:  # ImportError without CuPy; library not found without NVRTC
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


NVCC = find_nvcc()
NVRTC, NVRTC_MISSING = load_nvrtc()


def test_every_source_has_kernels():
    from minicnn.kernels import kernel_signatures
    assert len(source_names()) >= 10
    for name in source_names():
        assert kernel_signatures(name), f"{name}.cu declares no extern \"C\" __global__ kernel"


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed, so the kernels cannot be compiled here")
@pytest.mark.parametrize("name", source_names())
def test_nvcc_compiles_for_sm80_and_sm90_without_warnings(name, tmp_path):
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in ARCHITECTURES]
    # -warn-spills: a kernel whose registers spill to local memory is an error too (a silent slowdown)
    commands = [[NVCC, "-std=c++17", *gencode, *compile_options(real), "-Xptxas=-warn-spills", "--Werror",
                 "all-warnings", "-c", source_path(name), "-o", str(tmp_path / f"{name}-{real}.o")]
                for real in REAL_DTYPES]
    running = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for c in commands]
    for command, process in zip(commands, running):
        output = process.communicate()[0]
        assert process.returncode == 0 and not output.strip(), f"{' '.join(command)}\n{output}"


@pytest.mark.skipif(NVRTC is None, reason=f"CuPy's NVRTC is not available ({NVRTC_MISSING})")
@pytest.mark.parametrize("name", source_names())
def test_nvrtc_compiles_without_messages(name):
    for real in REAL_DTYPES:
        for arch in ARCHITECTURES:
            program = NVRTC.createProgram(read_source(name), f"{name}.cu", [], [])
            options = ["--std=c++17", f"-arch=compute_{arch}", *compile_options(real)]
            try:
                NVRTC.compileProgram(program, options)
            except Exception as exc:
                pytest.fail(f"{name}.cu ({real}, compute_{arch}): {exc}\n{NVRTC.getProgramLog(program)}")
            log = NVRTC.getProgramLog(program).strip()
            assert not log, f"{name}.cu ({real}, compute_{arch}) compiled with messages:\n{log}"


def test_kernel_dir_is_the_include_path():
    assert compile_options("float32") == ("-Dreal_t=float", f"-I{KERNEL_DIR}")
