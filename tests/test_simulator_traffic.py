"""The simulator's memory traffic (minicnn.simulator.traffic): warp requests and 32-byte sectors
counted exactly for access patterns whose counts are known by hand (coalesced, strided,
broadcast, a conditional load in a loop, 16-byte vector loads, shared memory and its bank
conflicts), arrays placed as cudaMalloc places them,
and the AlexNet kernels' traffic as the benchmark reports it."""
import json
import os
import sys

import numpy as np
import pytest

from minicnn import MaxPool2D, ReLU, kernel_versions, simulator
from minicnn.simulator import SimulatedModule, SimulatorError, traffic

PATTERNS = r'''
#include "common.cuh"
// y[i] = x[i]: consecutive threads, consecutive floats.
extern "C" __global__ void copy(const real_t* x, real_t* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i];
}
// y[i] = x[i * stride]: each thread a sector (or more) away from its neighbour.
extern "C" __global__ void gather_strided(const real_t* x, real_t* y, int stride) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = x[i * stride];
}
// y[i] = x[0]: every thread reads the same value.
extern "C" __global__ void broadcast(const real_t* x, real_t* y) {
  y[blockIdx.x * blockDim.x + threadIdx.x] = x[0];
}
// Four rounds; in round k, thread i reads x[32 k + i] only where flags[32 k + i] > 0. The threads
// that skip a round's load wait for the others, and every round's load is one request.
extern "C" __global__ void where_flagged(const real_t* flags, const real_t* x, real_t* y) {
  const int i = threadIdx.x;
  real_t total = 0;
  for (int k = 0; k < 4; ++k)
    if (flags[32 * k + i] > 0) total += x[32 * k + i];
  y[i] = total;
}
// Planes of 169 values, plane i at 507 i of y, each in a span of 192 rounds of the loop from its
// first sector (the first 507 i mod 8 of them idle, as kernels/winograd.cu's for_each_group_pixel):
// y's value p of plane i = x[i * 200 + p / 2] for even p, x[i * 200 + 100 + p / 2] for odd p (a
// choice in the body, as winograd.cu's phased columns), where 0 <= p < 169. The body is an `if` in
// a loop, through a lambda, which GCC's default block layout compiled with two copies of the loop's
// latch.
template <class F>
__device__ __forceinline__ void each_plane_value(int planes, F f) {
  for (int e = threadIdx.x; e < planes * 192; e += blockDim.x) {
    const int plane = e / 192, p = e % 192 - plane * 507 % 8;
    if (p >= 0 && p < 169) f(plane, p);
  }
}
extern "C" __global__ void plane_spans(const real_t* x, real_t* y, int planes) {
  each_plane_value(planes, [&](int plane, int p) { y[plane * 507 + p] = x[plane * 200 + (p & 1 ? 100 + p / 2 : p / 2)]; });
}
// y[i] = x[i - 1] for i = 1, 2, ..., n - 1 in turn, by thread 0 alone.
extern "C" __global__ void shift_right(const real_t* x, real_t* y, int n) {
  if (threadIdx.x == 0)
    for (int i = 1; i < n; ++i) y[i] = x[i - 1];
}
// y[i] = (odd i ? a : b)[i]: one load instruction, reading a in some threads and b in others.
extern "C" __global__ void either(const real_t* a, const real_t* b, real_t* y) {
  const int i = threadIdx.x;
  const real_t* from = (i & 1) ? a : b;
  y[i] = from[i];
}
// Through shared memory: the global load and store as sectors, shared memory as bank passes.
extern "C" __global__ void staged(const real_t* x, real_t* y) {
  __shared__ real_t tile[256];
  tile[threadIdx.x] = x[threadIdx.x];
  __syncthreads();
  y[threadIdx.x] = tile[255 - threadIdx.x] + tile[threadIdx.x];
}
// Thread i loads x[4 i .. 4 i + 3] as one float4 (real_t float) and stores its fields one by one.
extern "C" __global__ void copy_float4(const float* x, float* y) {
  const int i = threadIdx.x;
  const float4 v = reinterpret_cast<const float4*>(x)[i];
  y[4 * i] = v.x, y[4 * i + 1] = v.y, y[4 * i + 2] = v.z, y[4 * i + 3] = v.w;
}
// y[i] += x[i]: a load and a store of y at one address, one after the other.
extern "C" __global__ void accumulate(const real_t* x, real_t* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] += x[i];
}
// The block's sum by block_sum: shared memory at fixed words too (partial[0]), and updated in place.
extern "C" __global__ void sum_block(const real_t* x, real_t* y) {
  __shared__ real_t partial[256];
  const real_t total = block_sum(partial, x[threadIdx.x]);
  if (threadIdx.x == 0) y[0] = total;
}
// Thread i reads shared word (i * stride) mod 2048 of a tile the block filled from x.
extern "C" __global__ void shared_strided(const real_t* x, real_t* y, int stride) {
  __shared__ real_t tile[2048];
  for (int i = threadIdx.x; i < 2048; i += blockDim.x) tile[i] = x[i];
  __syncthreads();
  y[threadIdx.x] = tile[(threadIdx.x * stride) % 2048];
}
'''


@pytest.fixture(scope="module")
def patterns():
    return SimulatedModule("traffic_patterns", np.float32, code=PATTERNS, traffic=True)


def run(module, kernel, grid, block, *args):
    with traffic.recording() as log:
        module.launch(kernel, (grid, 1, 1), (block, 1, 1), list(args))
    (launch,) = log
    return launch


def test_coalesced_copy_moves_four_sectors_per_request(patterns):
    x = np.arange(1024, dtype=np.float32)
    y = np.zeros(1024, np.float32)
    t = run(patterns, "copy", 4, 256, x, y, np.int32(1024))
    np.testing.assert_array_equal(y, x)
    # 1024 threads = 32 warps, one load and one store request each, 32 floats = 4 sectors
    assert t.array("x").loads == traffic.Accesses(requests=32, sectors=128, bytes=4096, touched=128)
    assert t.array("y").stores == traffic.Accesses(requests=32, sectors=128, bytes=4096, touched=128)
    assert t.array("x").stores == traffic.NO_ACCESS and t.array("y").loads == traffic.NO_ACCESS
    assert t.loads.sectors_per_request == 4.0 and t.loads.efficiency == 1.0
    assert (t.source, t.kernel, t.grid, t.block) == ("traffic_patterns", "copy", (4, 1, 1), (256, 1, 1))


def test_a_partial_warp_and_a_bounds_check(patterns):
    x = np.arange(1000, dtype=np.float32)
    y = np.zeros(1000, np.float32)
    t = run(patterns, "copy", 4, 256, x, y, np.int32(1000))
    # 1000 = 31 full warps and 8 threads of a 32nd; the other 24 threads load nothing
    assert t.array("x").loads == traffic.Accesses(requests=32, sectors=125, bytes=4000, touched=125)


@pytest.mark.parametrize("stride, sectors", [(2, 8), (8, 32), (64, 32)])
def test_strided_reads_move_a_sector_per_thread(patterns, stride, sectors):
    x = np.arange(256 * stride, dtype=np.float32)
    y = np.zeros(256, np.float32)
    t = run(patterns, "gather_strided", 1, 256, x, y, np.int32(stride))
    np.testing.assert_array_equal(y, x[::stride])
    loads = t.array("x").loads
    assert loads.requests == 8 and loads.sectors == 8 * sectors
    assert loads.efficiency == pytest.approx(128 / (sectors * 32))
    assert t.array("y").stores.sectors_per_request == 4.0


def test_a_broadcast_moves_one_sector_and_asks_for_one_value(patterns):
    x = np.full(64, 3.0, np.float32)
    y = np.zeros(256, np.float32)
    t = run(patterns, "broadcast", 1, 256, x, y)
    assert t.array("x").loads == traffic.Accesses(requests=8, sectors=8, bytes=32, touched=1)
    assert t.array("x").loads.efficiency == pytest.approx(4 / 32)


def test_threads_that_skip_a_conditional_load_meet_the_others_again(patterns):
    x = np.arange(128, dtype=np.float32)
    flags = ((np.arange(128) + np.arange(128) // 32) % 2).astype(np.float32)   # thread i, round k: i + k odd
    y = np.zeros(32, np.float32)
    t = run(patterns, "where_flagged", 1, 32, flags, x, y)
    np.testing.assert_array_equal(y, (flags * x).reshape(4, 32).sum(axis=0))
    assert t.array("flags").loads == traffic.Accesses(requests=4, sectors=16, bytes=512, touched=16)
    # one request per round, with half the threads, over the round's 4 sectors; pairing each
    # thread's n-th load of x instead (rounds 0 and 2 of the odd threads with rounds 1 and 3 of
    # the even ones) would make 2 requests of 8 sectors
    assert t.array("x").loads == traffic.Accesses(requests=4, sectors=16, bytes=256, touched=16)


def test_threads_that_skip_a_loops_body_meet_the_others_at_its_next_round(patterns):
    """Five planes of 169 values, each in a span of 6 warps from its first sector: a store request
    for each warp (30) and every sector of a plane's once (22 each: 169 values from 0, 3, 6, 1, 4
    into their first sector). With GCC's default block layout the threads that skipped the body
    took another copy of the loop's latch and met the others only after the loop: 41 requests,
    121 sectors (minicnn.simulator.TRAFFIC_FLAGS)."""
    x = np.arange(1000, dtype=np.float32)
    y = np.zeros(5 * 507, np.float32)
    t = run(patterns, "plane_spans", 1, 256, x, y, np.int32(5))
    p = np.arange(169)
    expected = np.zeros((5, 507), np.float32)
    expected[:, :169] = np.arange(5)[:, None] * 200 + np.where(p & 1, 100 + p // 2, p // 2)
    np.testing.assert_array_equal(y.reshape(5, 507), expected)
    assert t.array("y").stores == traffic.Accesses(requests=30, sectors=110, bytes=5 * 169 * 4, touched=110)


def test_a_read_modify_write_is_a_load_and_a_store(patterns):
    """Every access calls the runtime, the second of two at one address too: AddressSanitizer's
    instrumentation, used until 2026-12-01, checked an address once, so the store of y[i] += x[i]
    and block_sum's in-place sums were not counted, nor the reads of partial[0] (a word it could
    tell was in bounds)."""
    x = np.arange(1024, dtype=np.float32)
    y = np.ones(1024, np.float32)
    t = run(patterns, "accumulate", 4, 256, x, y)
    np.testing.assert_array_equal(y, x + 1)
    whole = traffic.Accesses(requests=32, sectors=128, bytes=4096, touched=128)
    assert t.array("y").loads == whole and t.array("y").stores == whole
    y = np.zeros(1, np.float32)
    t = run(patterns, "sum_block", 1, 256, x[:256], y)
    assert y[0] == x[:256].sum()
    # 8 warps store their values; the rounds of half = 128, 64 and 32 take 4, 2 and 1 warps, the
    # five below one each: 12 warp-rounds of two loads and a store; then 8 warps read partial[0]
    assert (t.shared_stores.requests, t.shared_loads.requests) == (8 + 12, 2 * 12 + 8)
    assert t.shared_loads.wavefronts == 2 * 12 + 8   # consecutive words, or one broadcast word


def test_shared_memory_counts_apart_as_bank_passes(patterns):
    x = np.arange(256, dtype=np.float32)
    y = np.zeros(256, np.float32)
    t = run(patterns, "staged", 1, 256, x, y)
    np.testing.assert_array_equal(y, x[::-1] + x)
    assert t.loads == traffic.Accesses(requests=8, sectors=32, bytes=1024, touched=32)
    assert t.stores == traffic.Accesses(requests=8, sectors=32, bytes=1024, touched=32)
    # 8 warps store 32 consecutive floats each, and read two such runs (one in reverse): one
    # pass through the 32 banks per request. The poisoning of shared memory between blocks
    # (the simulator's, not the kernel's) is not counted.
    assert t.shared_stores == traffic.SharedAccesses(requests=8, wavefronts=8, least=8)
    assert t.shared_loads == traffic.SharedAccesses(requests=16, wavefronts=16, least=16)
    assert t.shared_loads.conflict == 1.0


@pytest.mark.parametrize("dtype, stride, wavefronts, least", [
    (np.float32, 0, 1, 1),     # all threads read one word: a broadcast
    (np.float32, 1, 1, 1),
    (np.float32, 2, 2, 1),     # words 0, 2, ..., 62: banks 0, 2, ..., 30 twice each
    (np.float32, 4, 4, 1),
    (np.float32, 32, 32, 1),   # all in bank 0
    (np.float32, 33, 1, 1),    # the classic padding: a row of 33 words puts a column in 32 banks
    (np.float64, 1, 2, 2),     # 256 bytes need two passes however they lie
    (np.float64, 2, 4, 2),
    (np.float64, 16, 32, 2),   # each double's two words in banks 0 and 1
])
def test_shared_memory_bank_conflicts(dtype, stride, wavefronts, least):
    module = SimulatedModule("traffic_patterns", dtype, code=PATTERNS, traffic=True)
    x = np.arange(2048, dtype=dtype)
    y = np.zeros(32, dtype)
    t = run(module, "shared_strided", 1, 32, x, y, np.int32(stride))
    np.testing.assert_array_equal(y, x[np.arange(32) * stride % 2048])
    assert t.shared_loads == traffic.SharedAccesses(requests=1, wavefronts=wavefronts, least=least)
    assert t.shared_loads.conflict == wavefronts / least
    # the fill: 64 requests of 32 consecutive values each
    assert t.shared_stores == traffic.SharedAccesses(64, 64 * least, 64 * least)
    # the global traffic is unchanged by the shared memory counted beside it
    assert t.array("x").loads.bytes == x.nbytes


def test_a_float4_is_one_access_of_16_bytes(patterns):
    """A warp's load of 32 float4 values is one request of 512 bytes, as on a GPU (one
    ld.global.v4.f32), however the kernel uses its fields; its four stores of single floats are
    four requests."""
    x = np.arange(128, dtype=np.float32)
    y = np.zeros(128, np.float32)
    t = run(patterns, "copy_float4", 1, 32, x, y)
    np.testing.assert_array_equal(y, x)
    assert t.loads == traffic.Accesses(requests=1, sectors=16, bytes=512, touched=16)
    assert t.stores == traffic.Accesses(requests=4, sectors=64, bytes=512, touched=16)


def test_a_kernel_without_shared_memory_has_no_bank_passes(patterns):
    x = np.arange(256, dtype=np.float32)
    t = run(patterns, "copy", 1, 256, x, np.zeros(256, np.float32), np.int32(256))
    assert t.shared_loads == t.shared_stores == traffic.NO_SHARED_ACCESS
    assert simulator.module("relu", np.float32).shared_section == (0, 0)


def test_arrays_are_placed_on_device_like_boundaries(patterns):
    # x starts 4 bytes into a sector: as NumPy placed it, every warp's 128 bytes would span 5
    # sectors. The launch runs on copies placed at 256-byte boundaries, as cudaMalloc places
    # arrays, and what the kernel writes comes back.
    buffer = np.arange(1025, dtype=np.float32)
    offset = (-buffer.ctypes.data % 32) // 4 + 1
    x = np.zeros(2048, np.float32)[offset:offset + 1024]
    x[:] = np.arange(1024)
    y = np.zeros(2048, np.float32)[offset:offset + 1024]
    assert x.ctypes.data % 32 != 0
    t = run(patterns, "copy", 4, 256, x, y, np.int32(1024))
    np.testing.assert_array_equal(y, np.arange(1024))
    assert t.loads.sectors_per_request == 4.0 and t.stores.sectors_per_request == 4.0


@pytest.mark.parametrize("pool_version", [2, 3])
def test_layers_record_through_their_usual_launches(pool_version):
    x = np.random.default_rng(0).standard_normal((2, 8, 16, 16)).astype(np.float32)
    relu, pool = ReLU().to("sim"), MaxPool2D(3, stride=2).to("sim")
    with traffic.recording() as log, kernel_versions.use("maxpool", pool_version):
        y = relu.forward(x)
        z = pool.forward(y)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    (relu_launch,), (pool_launch,) = log.of("relu_forward_v2"), log.of(f"maxpool_forward_v{pool_version}")
    # ReLU reads each float once and writes it once, in full sectors
    assert relu_launch.loads.moved_bytes == relu_launch.loads.touched_bytes == x.nbytes
    assert relu_launch.stores.moved_bytes == x.nbytes and relu_launch.loads.efficiency == 1.0
    # 7 windows of 3 with stride 2 cover rows and columns 0-14 of a 16x16 plane: max-pool reads
    # the sectors of rows 0-14 (each row of 64 bytes is two sectors) and never row 15's, whether
    # window by window (version 2) or in one band of the rows its windows read (version 3)
    assert pool_launch.array("x").loads.touched_bytes == x[:, :, :15].nbytes
    assert pool_launch.array("y").stores.bytes == z.nbytes
    if pool_version == 3:   # each of those floats loaded once, a warp's 32 at a time
        assert pool_launch.array("x").loads.bytes == x[:, :, :15].nbytes
    assert log.table().count("\n") == 3   # header, rule, two rows
    assert log.table().splitlines()[2] == "| relu_forward_v2 | 4.0 | 100% | 0.02 | 0.02 | 4.0 | 100% | 0.02 | 0.02 |"
    # outside a recording the layers run the plain builds, which record nothing
    assert not traffic.recording_active()
    assert simulator.module("relu", np.float32).traffic is False


def test_recordings_do_not_nest_and_not_under_a_sanitizer(monkeypatch):
    with traffic.recording():
        with pytest.raises(RuntimeError, match="do not nest"):
            with traffic.recording():
                pass
    monkeypatch.setenv(simulator.SANITIZE_VARIABLE, "address")
    with pytest.raises(SimulatorError, match="cannot be recorded under MINICNN_SIM_SANITIZE=address"):
        SimulatedModule("relu", np.float32, traffic=True)


def test_the_benchmark_writes_its_tables(tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    import kernel_traffic
    kernel_traffic.main(["--layers", "relu1,pool5", "--batch-size", "1", "--out", str(tmp_path)])
    (js,) = tmp_path.glob("kernel-traffic-b1-*.json")
    results = json.loads(js.read_text())
    passes = {(p["layer"], p["pass_"]): p for p in results["passes"]}
    versions = {"relu1": kernel_versions.VERSIONS["relu"], "pool5": kernel_versions.VERSIONS["maxpool"]}
    assert set(passes) == {(f"{layer} v{v}", pass_) for layer in ("relu1", "pool5") for v in versions[layer]
                           for pass_ in ("forward", "backward")}
    # ReLU's forward moves exactly its input and output; the backward also reads y
    assert passes[("relu1 v2", "forward")]["moved_over_least"] == 1.0
    assert passes[("relu1 v2", "backward")]["moved_over_least"] == 1.5
    assert passes[("pool5 v1", "forward")]["moved_over_least"] > 1.0   # overlapping windows
    kernels = {(r["layer"], r["kernel"]) for r in results["launches"]}
    assert ("pool5 v2", "maxpool_backward_v2") in kernels
    assert "| relu1 v1 | backward | relu_backward_v1 |" in js.with_suffix(".md").read_text()
    assert js.with_name(js.stem + "-passes.png").read_bytes().startswith(b"\x89PNG")   # its chart, beside it


def test_an_array_passed_twice_stays_one_array(patterns):
    # Launched with x and y the same (misaligned) array, thread 0 reads each value it has just
    # written, as it would on a GPU: the launch runs on one device-aligned copy, not two.
    values = np.zeros(65, np.float32)[1:]
    values[:] = np.arange(64)
    t = run(patterns, "shift_right", 1, 32, values, values, np.int32(64))
    np.testing.assert_array_equal(values, np.zeros(64))   # x[0] carried all the way
    # its accesses count under the first argument that names it
    assert t.array("x").loads.requests == t.array("x").stores.requests == 63
    assert t.array("y").stores == traffic.NO_ACCESS


def test_one_load_of_two_arrays_counts_against_each(patterns):
    a, b = np.arange(32, dtype=np.float32), -np.arange(32, dtype=np.float32)
    y = np.zeros(32, np.float32)
    t = run(patterns, "either", 1, 32, a, b, y)
    np.testing.assert_array_equal(y, np.where(np.arange(32) % 2, a, b))
    # each array: one request of the 16 threads that read it, over its 4 sectors, 64 bytes used
    for name in ("a", "b"):
        assert t.array(name).loads == traffic.Accesses(requests=1, sectors=4, bytes=64, touched=4)


def test_what_the_counts_give_per_request_and_in_sum():
    """The ratios the tables and the notebook print, and the sums over launches; a launch that made
    no request of a kind counts as no traffic, fully used and without conflict."""
    loads = traffic.Accesses(requests=4, sectors=10, bytes=256, touched=6)
    assert (loads.sectors_per_request, loads.efficiency, loads.moved_bytes, loads.touched_bytes) == (2.5, 0.8, 320, 192)
    assert loads + traffic.Accesses(1, 2, 3, 4) == traffic.Accesses(5, 12, 259, 10)
    assert (traffic.NO_ACCESS.sectors_per_request, traffic.NO_ACCESS.efficiency) == (0.0, 1.0)
    shared = traffic.SharedAccesses(requests=4, wavefronts=10, least=5)
    assert (shared.conflict, shared.wavefronts_per_request) == (2.0, 2.5)
    assert shared + traffic.SharedAccesses(1, 2, 3) == traffic.SharedAccesses(5, 12, 8)
    assert (traffic.NO_SHARED_ACCESS.conflict, traffic.NO_SHARED_ACCESS.wavefronts_per_request) == (1.0, 0.0)
