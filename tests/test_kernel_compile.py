"""Every kernel source compiles for the GPU, without a GPU: with nvcc for sm_80 (A100) and
sm_90 (H100), warnings (register spills among them) treated as errors, and with NVRTC (the
compiler CuPy uses at run time) where CuPy and the NVRTC library are installed. Each case skips
with its reason otherwise."""
import functools
import os
import re
import subprocess

import pytest

from minicnn.kernels import (KERNEL_DIR, compile_options, find_nvcc, nvrtc_options, nvrtc_source, source_names,
                             source_path)

ARCHITECTURES = ("80", "90")
REAL_DTYPES = ("float32", "float64")


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


@functools.lru_cache(maxsize=None)
def nvcc_compiled(name):
    """{real_t: (command, return code, output)}: kernels/<name>.cu compiled by nvcc for sm_80 and
    sm_90 in float32 and float64 (side by side), with ptxas's resource report, which
    test_committed_kernel_resources_are_what_nvcc_reports_now reads in place of compiling again."""
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in ARCHITECTURES]
    # -warn-spills: a kernel whose registers spill to local memory is an error too (a silent slowdown)
    commands = {real: [NVCC, "-std=c++17", *gencode, *compile_options(real), "-Xptxas=-warn-spills", "--Werror",
                       "all-warnings", "--resource-usage", "-c", source_path(name), "-o", os.devnull]
                for real in REAL_DTYPES}
    running = {real: subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for real, c in commands.items()}
    outputs = {real: process.communicate()[0] for real, process in running.items()}
    return {real: (commands[real], running[real].returncode, outputs[real]) for real in commands}


def resource_report_line(line):
    """Whether ``line`` is part of ptxas's resource report (--resource-usage), not a message."""
    return line.startswith("ptxas info") or re.fullmatch(r"\s+\d+ bytes stack frame, .*", line) is not None


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed, so the kernels cannot be compiled here")
@pytest.mark.parametrize("name", source_names())
def test_nvcc_compiles_for_sm80_and_sm90_without_warnings(name):
    for real, (command, returncode, output) in nvcc_compiled(name).items():
        messages = [line for line in output.splitlines() if line.strip() and not resource_report_line(line)]
        assert returncode == 0 and not messages, f"{' '.join(command)}\n{output}"


@pytest.mark.skipif(NVRTC is None, reason=f"CuPy's NVRTC is not available ({NVRTC_MISSING})")
@pytest.mark.parametrize("name", source_names())
def test_nvrtc_compiles_without_messages(name):
    for real in REAL_DTYPES:
        for arch in ARCHITECTURES:
            program = NVRTC.createProgram(nvrtc_source(name), f"{name}.cu", [], [])
            options = [*nvrtc_options(real), f"-arch=compute_{arch}"]
            try:
                NVRTC.compileProgram(program, options)
            except Exception as exc:
                pytest.fail(f"{name}.cu ({real}, compute_{arch}): {exc}\n{NVRTC.getProgramLog(program)}")
            log = NVRTC.getProgramLog(program).strip()
            assert not log, f"{name}.cu ({real}, compute_{arch}) compiled with messages:\n{log}"


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed, so the kernels cannot be compiled here")
def test_version_9_copies_with_cp_async_from_sm80_and_plainly_before(tmp_path):
    """The tiled GEMM's version 9 issues asynchronous copies (cp.async, kernels/copy_async.cuh) and
    waits for them, with one barrier in its loop where version 8 has two; compiled for sm_75,
    which has no cp.async, it loads and stores as version 8 does. No other kernel of the file
    copies asynchronously."""
    targets = (("75", False), ("80", True), ("90", True))
    running = [subprocess.Popen([NVCC, "-std=c++17", f"-arch=compute_{arch}", *compile_options("float32"), "-ptx",
                                 source_path("gemm_tiled"), "-o", str(tmp_path / f"gemm_tiled-{arch}.ptx")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for arch, _ in targets]
    for (arch, _), process in zip(targets, running):   # side by side: each takes seconds
        output = process.communicate()[0]
        assert process.returncode == 0, f"compute_{arch}:\n{output}"
    for arch, has_cp_async in targets:
        entries = re.split(r"\.entry\s+", (tmp_path / f"gemm_tiled-{arch}.ptx").read_text())[1:]
        names = [entry[:entry.index("(")] for entry in entries]
        assert sum(name.endswith("_v9") for name in names) == 5, names
        for name, body in zip(names, entries):
            copies = "cp.async.ca.shared.global" in body
            assert copies == (has_cp_async and name.endswith("_v9")), f"{name} (compute_{arch})"
            assert ("cp.async.wait_all;" in body) == copies, f"{name} (compute_{arch})"
            if name.endswith(("_v8", "_v9")):
                assert body.count("bar.sync") == (1 if name.endswith("_v9") else 2), f"{name} (compute_{arch})"


def test_kernel_dir_is_the_include_path():
    assert compile_options("float32") == ("-Dreal_t=float", f"-I{KERNEL_DIR}")


def kernel_resources_script():
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(KERNEL_DIR), "benchmarks"))
    import kernel_resources
    return kernel_resources


def test_ptxas_report_is_read_and_occupancy_follows_the_programming_guide():
    kr = kernel_resources_script()
    report = """ptxas info    : Compiling entry function 'lrn_backward_v2' for 'sm_90'
ptxas info    : Function properties for lrn_backward_v2
    128 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 32 registers, used 0 barriers, 128 bytes cumulative stack size
ptxas info    : Compiling entry function 'gemm_tiled' for 'sm_90'
ptxas info    : Function properties for gemm_tiled
    0 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 56 registers, used 1 barriers, 4096 bytes smem, 400 bytes cmem[0]"""
    assert kr.parse_ptxas(report, "80") == {}
    assert kr.parse_ptxas(report) == kr.parse_ptxas(report, "90") == {
        "lrn_backward_v2": dict(registers=32, shared=0, stack=128, spill_stores=0, spill_loads=0),
        "gemm_tiled": dict(registers=56, shared=4096, stack=0, spill_stores=8, spill_loads=4)}
    # 256-thread blocks on sm_90 (the CUDA occupancy calculator's figures): registers are given
    # to warps in units of 256, so 33 to 40 registers per thread all allow 6 blocks
    assert kr.blocks_per_sm(32, 0, "90") == (8, "threads")
    assert kr.blocks_per_sm(33, 0, "90") == kr.blocks_per_sm(40, 0, "90") == (6, "registers")
    assert kr.blocks_per_sm(56, 4096, "90") == (4, "registers")
    assert kr.blocks_per_sm(16, 100 * 1024, "90") == (2, "shared memory")
    assert kr.blocks_per_sm(16, 100 * 1024, "80") == (1, "shared memory")


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed, so the kernels cannot be compiled here")
def test_committed_kernel_resources_are_what_nvcc_reports_now():
    """The results file the README quotes is redone when a kernel changes (for the same nvcc:
    another version allocates registers differently, and then the test skips)."""
    import glob
    import json
    kr = kernel_resources_script()
    (path,) = sorted(glob.glob(os.path.join(os.path.dirname(KERNEL_DIR), "benchmarks", "results",
                                            "kernel-resources-sm_90-float32-*.json")))[-1:]
    committed = json.load(open(path))
    if committed["nvcc"] != kr.nvcc_version(NVCC):
        pytest.skip(f"{path} was made by nvcc {committed['nvcc']}, this is {kr.nvcc_version(NVCC)}")
    reports = {name: nvcc_compiled(name)["float32"][2] for name in source_names()}
    assert kr.kernel_resources(reports, "90") == committed["kernels"], \
        "a kernel changed: run python benchmarks/kernel_resources.py and update the README's figures"
