"""minicnn.launch: every launch is checked against the kernel's C signature and the CUDA
limits before anything runs (on the GPU and under the simulator alike); compile errors on the
GPU name the source file and carry the compiler log."""
import importlib.util
import json
import os
import re
import shutil
import sys

import numpy as np
import pytest

from minicnn import backend, launch as launch_module
from minicnn.launch import BLOCK, KernelCompileError, KernelLaunchError, empty, grid_for, launch


def test_wrong_argument_count_type_or_dtype_is_refused():
    x = np.zeros(10, np.float32)
    y = empty(x.shape, x.dtype, x)
    grid = grid_for(10, x)
    with pytest.raises(KernelLaunchError, match=r"relu_forward_v1 takes 3 arguments \(x, y, n\), got 2"):
        launch("relu", "relu_forward_v1", grid, BLOCK, x, y)
    with pytest.raises(KernelLaunchError, match=r"parameter n \(int\) needs an integer, got float"):
        launch("relu", "relu_forward_v1", grid, BLOCK, x, y, 10.0)
    with pytest.raises(KernelLaunchError, match=r"parameter n \(int\) = 4294967296 is out of range"):
        launch("relu", "relu_forward_v1", grid, BLOCK, x, y, 2 ** 32)
    with pytest.raises(KernelLaunchError, match="real_t arrays of different dtypes"):
        launch("relu", "relu_forward_v1", grid, BLOCK, x, np.zeros(10), 10)
    with pytest.raises(KernelLaunchError, match=r"parameter y \(real_t\*\) needs an array, got int"):
        launch("relu", "relu_forward_v1", grid, BLOCK, x, 3, 10)
    with pytest.raises(KernelLaunchError, match="parameter x must be C-contiguous"):
        launch("relu", "relu_forward_v1", grid, BLOCK, np.zeros(20, np.float32)[::2], y, 10)
    with pytest.raises(KernelLaunchError, match=r"parameter argmax \(int\*\) needs int32 elements, got int64"):
        launch("maxpool", "maxpool_forward_v1", 1, 1, x, y, np.zeros(10, np.int64), *[1] * 11)
    with pytest.raises(KernelLaunchError, match="relu.cu has no kernel 'relu_sideways'"):
        launch("relu", "relu_sideways", grid, BLOCK, x, y, 10)


def test_arrays_of_two_devices_or_of_no_known_dtype_are_refused():
    x = np.zeros(10, np.float32)

    class GpuArray:   # a stand-in for a CuPy array: its type's module is cupy's
        __module__ = "cupy._core.core"
        dtype, size = x.dtype, x.size
        flags = x.flags
    with pytest.raises(KernelLaunchError, match=r"relu_forward_v1: arrays on different devices \(\['cpu', 'cuda'\]\)"):
        launch("relu", "relu_forward_v1", 1, BLOCK, x, GpuArray(), 10)

    class Tensor:     # an array of another library: a dtype that is not NumPy's
        dtype, size, flags = "torch.float32", 10, x.flags
    with pytest.raises(KernelLaunchError, match="real_t arrays must be float32 or float64, got torch.float32"):
        launch("relu", "relu_forward_v1", 1, BLOCK, Tensor(), Tensor(), 10)


def test_a_gpu_launch_enters_the_device_context_of_its_arrays_only_when_another_gpu_is_current(monkeypatch):
    """on_device_of: the split's second GPU runs its launches with that GPU current, and a launch
    on the current GPU skips CuPy's context (stand-ins for CuPy's runtime and arrays here)."""
    current = [0]
    entered = []

    class Device:
        def __init__(self, device_id):
            self.id = device_id

        def __enter__(self):
            entered.append(self.id)
            self.saved, current[0] = current[0], self.id

        def __exit__(self, *exc):
            current[0] = self.saved

    class GpuArray:
        def __init__(self, device_id):
            self.data = type("MemoryPointer", (), {"device_id": device_id})()
            self.device = Device(device_id)

    class FakeCupy:
        class cuda:
            class runtime:
                getDevice = staticmethod(lambda: current[0])

    monkeypatch.setattr(backend, "_import_cupy", lambda: FakeCupy)
    ran_on = lambda *args: (current[0], args)
    assert launch_module.on_device_of(GpuArray(0), ran_on, "grid", "args") == (0, ("grid", "args"))
    assert entered == []
    assert launch_module.on_device_of(GpuArray(1), ran_on, "grid") == (1, ("grid",))
    assert entered == [1] and current[0] == 0   # and device 0 is current again after it


@pytest.mark.parametrize("real", [np.float32, np.float64])
def test_numbers_become_the_exact_c_types_of_their_parameters(real):
    """Python ints and floats (converted in launch's own loop) and NumPy numbers (through
    _convert_scalar) alike become the NumPy scalar of the parameter's C type: CuPy would pass a
    Python int as a 64-bit integer to an ``int`` parameter."""
    x = np.zeros(8, real)
    from_python = (8, 8, 8, 0, 123456, 654321, 0.5, 2.0)
    from_numpy = (np.int64(8), np.int16(8), np.uint8(8), np.int32(0), np.uint64(123456), np.uint32(654321),
                  np.float16(0.5), np.float64(2.0))
    for numbers in (from_python, from_numpy):
        target, grid, block, dtype, converted, arrays = launch_module.checked_launch(
            "dropout", "dropout_forward", 2, (32, 2), x, x.copy(), *numbers)
        assert (target, grid, block, dtype) == ("sim", (2, 1, 1), (32, 2, 1), np.dtype(real))
        assert [type(v) for v in converted[2:]] == [np.int32] * 3 + [np.uint32] * 3 + [real] * 2
        assert [v.item() for v in converted[2:]] == [8, 8, 8, 0, 123456, 654321, 0.5, 2.0]
        assert converted[0] is x and len(arrays) == 2
    with pytest.raises(KernelLaunchError, match=r"parameter offset \(unsigned int\) = -1 is out of range"):
        launch_module.checked_launch("dropout", "dropout_forward", 1, 32, x, x, 8, 8, 8, -1, 1, 1, 0.5, 2.0)
    with pytest.raises(KernelLaunchError, match=r"parameter p \(real_t\) needs a number, got True"):
        launch_module.checked_launch("dropout", "dropout_forward", 1, 32, x, x, 8, 8, 8, 0, 1, 1, True, 2.0)


@pytest.mark.parametrize("grid,block,message", [
    (0, 256, r"grid.x = 0 is out of range \[1, 2147483647\]"),
    ((1, 70000), 256, r"grid.y = 70000 is out of range \[1, 65535\]"),
    (1, 2048, r"block.x = 2048 is out of range \[1, 1024\]"),
    (1, (64, 32), r"block \(64, 32, 1\) has 2048 threads, at most 1024"),
    (1, (1, 1, 65), r"block.z = 65 is out of range \[1, 64\]"),
    ((1, 2, 3, 4), 1, "grid must be an int or 1 to 3 ints"),
])
def test_out_of_range_geometry_is_refused(grid, block, message):
    x = np.zeros(4, np.float32)
    with pytest.raises(KernelLaunchError, match=message):
        launch("relu", "relu_forward_v1", grid, block, x, x.copy(), 4)


def test_the_largest_geometry_and_arrays_are_taken():
    """The limits are inclusive: a grid of 2**31 - 1 x 65535 x 65535 blocks, a block of 1024 threads
    (32 x 32, or 1024 x 1, or 16 x 1 x 64), an array of 2**30 elements (np.empty: no page is touched)."""
    x = np.zeros(4, np.float32)
    for block in ((32, 32), 1024, (16, 1, 64)):
        _, grid, taken, *_ = launch_module.checked_launch("relu", "relu_forward_v1", (2 ** 31 - 1, 65535, 65535),
                                                          block, x, x.copy(), 4)
        assert grid == (2 ** 31 - 1, 65535, 65535) and np.prod(taken) == 1024
    assert grid_for(2 ** 30, x) == launch_module.resident_blocks(x)
    big = np.empty(2 ** 30, np.float32)
    launch_module.checked_launch("relu", "relu_forward_v1", 1, 32, big, big, 4)
    with pytest.raises(KernelLaunchError, match="has 1073741825 elements; the kernels index with 32-bit ints"):
        bigger = np.empty(2 ** 30 + 1, np.float32)
        launch_module.checked_launch("relu", "relu_forward_v1", 1, 32, bigger, bigger, 4)


def test_grid_for_fills_the_device_and_no_more():
    x = np.zeros(1)
    assert grid_for(1, x) == 1 and grid_for(256, x) == 1 and grid_for(257, x) == 2
    assert grid_for(10 ** 6, x) == launch_module.resident_blocks(x)   # grid-stride beyond that
    assert grid_for(5, x, block=1) == min(5, launch_module.resident_blocks(x))
    with pytest.raises(KernelLaunchError, match="at most 2\\*\\*30"):
        grid_for(2 ** 31, x)


def test_plane_tiles_cut_each_plane_into_whole_warps():
    """One block per (plane, tile): a tile is the plane's pixels rounded up to whole warps of 32,
    at most BLOCK (256) threads; a plane of more pixels takes several tiles."""
    assert launch_module.BLOCK == 256
    assert launch_module.plane_tiles(5, 1) == ((5, 1), 32)
    assert launch_module.plane_tiles(5, 33) == ((5, 1), 64)
    assert launch_module.plane_tiles(5, 169) == ((5, 1), 192)      # pool2's 13 x 13
    assert launch_module.plane_tiles(5, 256) == ((5, 1), 256)
    assert launch_module.plane_tiles(96, 729) == ((96, 3), 256)    # pool1's 27 x 27


def test_poisoned_outputs_fill_new_arrays():
    with launch_module.poisoned_outputs():
        assert np.isnan(empty((3,), np.float32, np.zeros(1))).all()
        assert (empty((3,), np.int32, np.zeros(1)) == -1).all()


def test_gpu_compile_error_names_the_file_and_shows_the_log(monkeypatch):
    """The CUDA path wraps NVRTC's error (a stand-in CuPy raises it here, as no GPU is needed to
    test the wrapping) in a KernelCompileError naming the .cu file and real_t."""
    class FakeRawModule:
        def __init__(self, code, options):
            assert "-Dreal_t=double" in options and any(o.startswith("-I") for o in options)
        def compile(self):
            raise RuntimeError("relu.cu(12): error: identifier \"undefined_thing\" is undefined")

    class FakeCupy:
        RawModule = FakeRawModule

    monkeypatch.setattr(backend, "_import_cupy", lambda: FakeCupy)
    launch_module._cuda_module.cache_clear()
    try:
        with pytest.raises(KernelCompileError, match=r"(?s)relu.cu \(real_t=double\) failed to compile.*undefined_thing"):
            launch_module._cuda_module("relu", "float64")
    finally:
        launch_module._cuda_module.cache_clear()


def test_watching_sees_every_launch_and_matrix_product_once():
    """launch.watching (benchmarks/kernels.py --breakdown): each kernel launch and each matrix
    product reaches the watcher with its name, the bytes of its arrays (an array passed twice
    counted once) and a product's FLOPs; the tiled GEMM's own launch is part of its product."""
    from minicnn import gemm
    seen = []

    def watcher(name, nbytes, run, flops):
        seen.append((name, nbytes, flops))
        return run()
    x = np.arange(-8, 8, dtype=np.float32)
    a, b = np.ones((2, 3, 4), np.float32), np.ones((2, 4, 5), np.float32)
    with launch_module.watching(watcher):
        launch("relu", "relu_forward_v1", 1, BLOCK, x, x, x.size)   # in place: 64 bytes, not 128
        c = gemm.matmul(a, b)
        with gemm.use_gemm("tiled"):
            d = gemm.matmul(a, b)
        gemm.matmul(a[0], b[0].T, trans_b=True)   # one matrix: one group
    assert seen == [("relu_forward_v1", 64, 0),
                    ("gemm (NumPy)", (24 + 40 + 30) * 4, 2 * 2 * 3 * 5 * 4),
                    ("gemm_tiled", (24 + 40 + 30) * 4, 2 * 2 * 3 * 5 * 4),
                    ("gemm (NumPy)", (12 + 20 + 15) * 4, 2 * 3 * 5 * 4)]
    assert (x >= 0).all() and (c == 4).all() and (d == 4).all()   # the work was done, the results returned
    launch("relu", "relu_forward_v1", 1, BLOCK, x, x, x.size)
    assert len(seen) == 4                                          # nobody watches after the block


def test_watching_blocks_do_not_nest_and_end_on_errors():
    with pytest.raises(ValueError, match="boom"):
        with launch_module.watching(lambda name, nbytes, run, flops: run()):
            with pytest.raises(RuntimeError, match="already being watched"):
                with launch_module.watching(lambda *args: None):
                    pass
            raise ValueError("boom")
    assert launch_module._watcher is None


def test_the_source_nvrtc_compiles_changes_with_the_headers_it_includes_and_no_others(tmp_path, monkeypatch):
    """CuPy's on-disk cache is keyed by the source text, so the text handed to NVRTC carries a
    hash of the headers it includes: an edit of common.cuh reaches relu.cu's next compilation, an
    edit of maxpool.cuh (which relu.cu does not include) leaves its cached module in use, and the
    source's lines are where they were (one line is added after the last)."""
    from minicnn import kernels
    for name in os.listdir(kernels.KERNEL_DIR):
        if name.endswith((".cu", ".cuh")):
            shutil.copy(os.path.join(kernels.KERNEL_DIR, name), tmp_path)
    monkeypatch.setattr(kernels, "KERNEL_DIR", str(tmp_path))
    before = kernels.nvrtc_source("relu")
    assert before.startswith(kernels.read_source("relu"))
    assert before.count("\n") == kernels.read_source("relu").count("\n") + 2
    assert kernels.included_headers("relu") == ["common.cuh"]
    assert kernels.included_headers("lrn_maxpool") == ["common.cuh", "lrn.cuh", "maxpool.cuh"]  # lrn.cuh's too

    with open(tmp_path / "maxpool.cuh", "a") as f:
        f.write("// an edit\n")
    assert kernels.nvrtc_source("relu") == before
    with open(tmp_path / "common.cuh", "a") as f:
        f.write("// an edit\n")
    assert kernels.nvrtc_source("relu") != before

    (tmp_path / "lrn.cuh").unlink()
    with pytest.raises(FileNotFoundError, match="lrn_maxpool.cu includes lrn.cuh, which is not in"):
        kernels.included_headers("lrn_maxpool")


FAKE_CUPY = '''"""A stand-in CuPy for the test of compile_all's processes: each compilation is a file."""
import json, os, tempfile


class cuda:
    class runtime:
        @staticmethod
        def getDeviceCount():
            return 1


class RawModule:
    def __init__(self, code, options):
        self.code, self.options = code, options

    def compile(self):
        with tempfile.NamedTemporaryFile("w", dir=os.environ["FAKE_CUPY_RECORDS"], delete=False) as f:
            json.dump({"pid": os.getpid(), "code": self.code, "options": list(self.options)}, f)
'''


def _compile_records(directory):
    records = []
    for name in os.listdir(directory):
        with open(os.path.join(directory, name)) as f:
            records.append(json.load(f))
    return records


@pytest.mark.parametrize("jobs", [1, 3])
def test_compile_all_compiles_every_source_in_both_precisions_once(jobs, tmp_path, monkeypatch):
    """python -m minicnn.kernels: every .cu with real_t = float and = double, each exactly once,
    as the launches compile it (the same text and options); with jobs > 1 in other processes
    (spawned: they import the stand-in CuPy written here, as they would the real one)."""
    from minicnn import kernels
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(FAKE_CUPY)
    (tmp_path / "records").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FAKE_CUPY_RECORDS", str(tmp_path / "records"))
    monkeypatch.delenv("MINICNN_SIMULATE", raising=False)
    # loaded from its file: where the real CuPy is installed (CI), an import could return it
    spec = importlib.util.spec_from_file_location("cupy", tmp_path / "cupy" / "__init__.py")
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(backend, "_import_cupy", lambda: fake)
    launch_module._cuda_module.cache_clear()
    try:
        compiled = launch_module.compile_all(jobs)
    finally:
        launch_module._cuda_module.cache_clear()

    names = kernels.source_names()
    assert sorted((source, real) for source, real, _ in compiled) == sorted(
        (name, real) for name in names for real in ("float", "double"))
    assert compiled[0][0] == "gemm_tiled"   # the longest first
    records = _compile_records(tmp_path / "records")
    assert sorted((r["code"], tuple(r["options"])) for r in records) == sorted(
        (kernels.nvrtc_source(name), kernels.nvrtc_options(real)) for name in names for real in ("float32", "float64"))
    pids = {r["pid"] for r in records}
    assert pids == {os.getpid()} if jobs == 1 else (os.getpid() not in pids and 1 <= len(pids) <= jobs)


def test_compile_all_without_a_gpu_says_what_is_missing(monkeypatch, capsys):
    from minicnn.kernels.__main__ import main
    monkeypatch.delenv("MINICNN_SIMULATE", raising=False)
    monkeypatch.setattr(backend, "_import_cupy", lambda: None)
    monkeypatch.setattr(backend, "_cupy_error", "ModuleNotFoundError: No module named 'cupy'")
    with pytest.raises(SystemExit, match="error: device 'cuda' asked for, but CuPy or a CUDA GPU is not available"):
        main([])
    monkeypatch.setenv("MINICNN_SIMULATE", "1")
    with pytest.raises(RuntimeError, match="under MINICNN_SIMULATE=1 the simulator compiles each source"):
        launch_module.compile_all()


def test_a_kernel_version_is_one_of_its_familys_numbers():
    """``use`` runs a block with a version and restores the one before, a NumPy integer taken as
    an int; a bool (True == 1 built the kernel name "maxpool_forward_vTrue"), a string or a number
    the family lacks is refused, naming the family's versions."""
    from minicnn import kernel_versions
    before = kernel_versions.current("maxpool")
    with kernel_versions.use("maxpool", np.int64(1)):
        assert type(kernel_versions.current("maxpool")) is int and kernel_versions.current("maxpool") == 1
    assert kernel_versions.current("maxpool") == before
    for version in (True, "2", 99):
        with pytest.raises(ValueError, match=rf"^maxpool has no kernel version {re.escape(repr(version))}; it has "
                                             rf"\[1, 2, "):
            with kernel_versions.use("maxpool", version):
                pass
    assert kernel_versions.current("maxpool") == before
