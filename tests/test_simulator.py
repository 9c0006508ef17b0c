"""The kernel simulator itself (minicnn.simulator): barriers and shared memory work, a missing
__syncthreads is caught, asynchronous copies land when their thread waits for them (a read too
early is caught), misuse of barriers and unsupported constructs are reported, compile
errors name the file, atomics are atomic, modules are cached; under the address and thread
sanitizers planted out-of-bounds reads (of an array and of a __shared__ array) and planted races
(before, between and after barriers, and around asynchronous copies) are reported, and every
kernel is clean."""
import hashlib
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from minicnn import simulator
from minicnn.simulator import SimulatedModule, SimulatorError
from sanitized_suites import REPO, sanitizer_missing

REDUCE = r'''
#include "common.cuh"
// out[b] = sum of x over the block-sized chunk b: a shared-memory tree reduction.
extern "C" __global__ void chunk_sums(const real_t* x, real_t* out, int n) {
  __shared__ real_t partial[REDUCE_BLOCK];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  real_t total = block_sum(partial, i < n ? x[i] : real_t(0));
  if (threadIdx.x == 0) out[blockIdx.x] = total;
}
'''

# Reverse each block-sized chunk through shared memory. With SYNC empty the barrier between
# the writes and the reads is missing: a thread may read a slot its owner has not written yet.
REVERSE = r'''
#include "common.cuh"
extern "C" __global__ void reverse_chunks(const real_t* x, real_t* y) {
  __shared__ real_t tile[256];
  const int base = blockIdx.x * blockDim.x;
  tile[threadIdx.x] = x[base + threadIdx.x];
  SYNC
  y[base + threadIdx.x] = tile[blockDim.x - 1 - threadIdx.x];
}
'''


# The same reversal with the race between two barriers: each thread reads the slot its mirror
# thread writes in the same stretch, and only then meets the others at a barrier.
REVERSE_BETWEEN_BARRIERS = r'''
extern "C" __global__ void reverse_between_barriers(const real_t* x, real_t* y) {
  __shared__ real_t tile[256];
  const int base = blockIdx.x * blockDim.x;
  __syncthreads();
  tile[threadIdx.x] = x[base + threadIdx.x];
  const real_t mirrored = tile[blockDim.x - 1 - threadIdx.x];
  __syncthreads();
  y[base + threadIdx.x] = mirrored;
}
'''


def build(code, name="test_kernel", dtype=np.float64):
    return SimulatedModule(name, dtype, code=code)


def args(*values):
    return list(values)


def test_shared_memory_block_reduction():
    module = build(REDUCE)
    x = np.random.default_rng(0).standard_normal(1000)
    out = np.full(4, np.nan)
    module.launch("chunk_sums", (4, 1, 1), (256, 1, 1), args(x, out, np.int32(1000)))
    np.testing.assert_allclose(out, [x[i * 256:(i + 1) * 256].sum() for i in range(4)], rtol=1e-13)


def test_reverse_with_barrier_is_always_right():
    module = build(REVERSE.replace("SYNC", "__syncthreads();"))
    x = np.arange(1024, dtype=np.float64)
    for _ in range(5):
        y = np.full_like(x, np.nan)
        module.launch("reverse_chunks", (4, 1, 1), (256, 1, 1), args(x, y))
        np.testing.assert_array_equal(y, x.reshape(4, 256)[:, ::-1].ravel())


def test_fibers_switch_without_a_system_call_on_x86_64():
    """runtime.cpp's own switch between the fibers on x86-64 Linux (swapcontext made two system
    calls a fiber per barrier); other processors use swapcontext."""
    if os.environ.get(simulator.CONTEXT_VARIABLE):
        pytest.skip(f"{simulator.CONTEXT_VARIABLE} chooses the switch in this run")
    own = platform.machine() == "x86_64" and sys.platform.startswith("linux")
    assert simulator.fiber_switch() == ("switch_stacks" if own else "ucontext")


# The simulator's tests of barriers, warp collectives and errors raised inside a fiber
SWITCH_TESTS = ("shared_memory_block_reduction or reverse_with_barrier or missing_syncthreads or divergent or "
                "returning_before or shuffles_read or votes or misused")


def test_the_portable_switch_passes_the_same_tests():
    """MINICNN_SIM_CONTEXT=ucontext makes the fibers switch by swapcontext, as on processors
    without runtime.cpp's own switch: the simulator's tests of barriers, warp collectives and
    errors inside a fiber pass with it, and so do max-pool's simulated kernel tests."""
    env = dict(os.environ, **{simulator.CONTEXT_VARIABLE: "ucontext"})
    switch = subprocess.run([sys.executable, "-c", "from minicnn import simulator; print(simulator.fiber_switch())"],
                            capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert switch.stdout.strip() == "ucontext", switch.stdout + switch.stderr
    for tests, selected, at_least in ((__file__, SWITCH_TESTS, 20),
                                      (os.path.join(REPO, "tests", "test_maxpool.py"), "sim", 30)):
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests, "-k", selected],
                                capture_output=True, text=True, timeout=900, cwd=REPO, env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        passed = int(result.stdout.split(" passed")[0].split()[-1])
        assert passed >= at_least, result.stdout[-500:]


def wrong_launches(module, kernel, blocks, x, expected, launches=20):
    """How many of ``launches`` launches of ``kernel`` (``blocks`` blocks of 256 threads, y = f(x))
    give a y other than ``expected``."""
    wrong = 0
    for _ in range(launches):
        y = np.full_like(x, np.nan)
        module.launch(kernel, (blocks, 1, 1), (256, 1, 1), args(x, y))
        wrong += not np.array_equal(y, expected)
    return wrong


def test_missing_syncthreads_is_caught():
    """The threads of a block run in a random order and shared memory starts each block as NaN,
    so without the barrier about half the threads read their slot before its owner writes it
    (512 of the 1024 values, in each of 100 launches measured); 20 launches must catch it."""
    module = build(REVERSE.replace("SYNC", ""), name="test_kernel_missing_sync")
    x = np.arange(1024, dtype=np.float64)
    wrong = wrong_launches(module, "reverse_chunks", 4, x, x.reshape(4, 256)[:, ::-1].ravel())
    assert wrong > 0, "the race of a missing __syncthreads went unnoticed in 20 launches"


def test_missing_syncthreads_is_caught_whichever_thread_writes_first():
    """Each thread reads the slot of the thread before it: in the threads' own order every slot
    would be written before it is read, and the race would go unseen. The simulator runs the
    threads of each stretch in a random order, so some thread runs before its neighbour."""
    module = build(r'''
extern "C" __global__ void from_the_left(const real_t* x, real_t* y) {
  __shared__ real_t tile[256];
  tile[threadIdx.x] = x[threadIdx.x];
  y[threadIdx.x] = tile[threadIdx.x == 0 ? 0 : threadIdx.x - 1];
}''', name="test_kernel_from_the_left")
    x = np.arange(256, dtype=np.float64)
    wrong = wrong_launches(module, "from_the_left", 1, x, np.concatenate([[0.0], x[:-1]]))
    assert wrong > 0, "a thread reading its left neighbour's slot without a barrier went unnoticed in 20 launches"


# Each block's values shifted one thread to the left through shared memory, copied there by
# asynchronous copies (kernels/copy_async.cuh); every seventh thread copies a zero (no source).
# WAIT and SYNC are the wait for the copies and the barrier after it.
SHIFT_ASYNC = r'''
#include "common.cuh"
#include "copy_async.cuh"
extern "C" __global__ void shift_async(const real_t* x, real_t* y) {
  __shared__ real_t tile[256];
  const int base = blockIdx.x * blockDim.x;
  copy_async(&tile[threadIdx.x], threadIdx.x % 7 == 6 ? nullptr : x + base + threadIdx.x);
  WAIT
  SYNC
  y[base + threadIdx.x] = tile[(threadIdx.x + 1) % blockDim.x];
}
'''


def shifted(x):
    copied = np.where(np.arange(x.size) % 256 % 7 == 6, 0.0, x).reshape(-1, 256)
    return np.roll(copied, -1, axis=1).ravel()


def test_asynchronous_copies_land_at_the_wait():
    module = build(SHIFT_ASYNC.replace("WAIT", "copy_wait();").replace("SYNC", "__syncthreads();"))
    x = np.arange(1.0, 1025.0)
    assert wrong_launches(module, "shift_async", 4, x, shifted(x), launches=5) == 0


def test_a_copy_read_before_its_wait_or_without_the_barrier_after_it_is_caught():
    """A copy lands in shared memory when its thread waits for it: read before the wait, its slot
    still holds the poison (NaN), every time; read by another thread with no barrier after the
    wait, it is missing whenever the reader runs before the copier."""
    module = build(r'''
#include "copy_async.cuh"
extern "C" __global__ void read_before_wait(const real_t* x, real_t* y) {
  __shared__ real_t tile[256];
  copy_async(&tile[threadIdx.x], x + threadIdx.x);
  y[threadIdx.x] = tile[threadIdx.x];
  copy_wait();
}''', name="test_kernel_read_before_wait")
    x, y = np.arange(256.0), np.zeros(256)
    module.launch("read_before_wait", (1, 1, 1), (256, 1, 1), args(x, y))
    assert np.isnan(y).all()
    module = build(SHIFT_ASYNC.replace("WAIT", "copy_wait();").replace("SYNC", ""), name="test_kernel_no_barrier")
    x = np.arange(1.0, 1025.0)
    assert wrong_launches(module, "shift_async", 4, x, shifted(x)) > 0, "a missing barrier after copy_wait went unseen"


# Round r of each block copies the block's row r of x into tile[r % 2] and shifts it one thread to
# the left into y, the copies of round r + 1 issued while round r is read (double buffering, as the
# tiled GEMM's version 9 does). ISSUE_EARLY (true or false) places the next round's copies before
# or after the barrier: before it, a thread may copy into the slices that a slower thread still
# reads in the round before.
ROUNDS_ASYNC = r'''
#include "copy_async.cuh"
extern "C" __global__ void rounds(const real_t* x, real_t* y) {
  __shared__ real_t tile[2][256];
  const int t = threadIdx.x;
  copy_async(&tile[0][t], x + t);
  for (int r = 0; r < 4; ++r) {
    copy_wait();
    if (ISSUE_EARLY && r < 3) copy_async(&tile[(r + 1) % 2][t], x + (r + 1) * 256 + t);
    __syncthreads();
    if (!ISSUE_EARLY && r < 3) copy_async(&tile[(r + 1) % 2][t], x + (r + 1) * 256 + t);
    y[r * 256 + t] = tile[r % 2][(t + 1) % 256];
  }
}'''


def test_a_copy_into_slices_others_still_read_is_caught():
    """Issued after the barrier, the next round's copies go to the slices everyone is done with;
    issued before it, they may land while a slower thread still reads the round before's (the
    simulator poisons a slot from the copy to its wait, the earliest and the latest it may land)."""
    x = np.arange(1.0, 1025.0)
    expected = np.roll(x.reshape(4, 256), -1, axis=1).ravel()
    right = build(ROUNDS_ASYNC.replace("ISSUE_EARLY", "false"), name="test_kernel_rounds")
    assert wrong_launches(right, "rounds", 1, x, expected, launches=5) == 0
    early = build(ROUNDS_ASYNC.replace("ISSUE_EARLY", "true"), name="test_kernel_rounds_early")
    assert wrong_launches(early, "rounds", 1, x, expected) > 0, "copies into slices still being read went unseen"


def test_returning_before_waiting_for_a_copy_is_an_error():
    module = build(SHIFT_ASYNC.replace("WAIT", "").replace("SYNC", ""), name="test_kernel_never_waits")
    with pytest.raises(SimulatorError, match=r"kernel shift_async: thread .* returned before waiting for 1 "
                                             r"asynchronous copy to shared memory \(copy_wait\)"):
        module.launch("shift_async", (1, 1, 1), (256, 1, 1), args(np.arange(256.0), np.zeros(256)))


# A 16-byte vector (float4, double2) read as the tiled GEMM's version 7 reads its rows of A
# (kernels/gemm_tiled.cu, load_four), from global memory at x + OFFSET or from shared memory at
# tile + OFFSET: aligned where OFFSET is a multiple of 4 floats or 2 doubles.
VECTOR_READS = r'''
__device__ real_t first_of_four(const float* p) { const float4 v = *reinterpret_cast<const float4*>(p); return v.x; }
__device__ real_t first_of_four(const double* p) { const double2 v = *reinterpret_cast<const double2*>(p); return v.x; }
extern "C" __global__ void four_at_a_time(const real_t* x, real_t* y) {
  __shared__ __align__(16) real_t tile[64];
  tile[threadIdx.x] = x[threadIdx.x];
  __syncthreads();
  y[threadIdx.x] = first_of_four(FROM + OFFSET + 4 * (threadIdx.x / 4));
}
'''


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("memory", ["x", "tile"])
def test_a_misaligned_vector_access_is_an_error(dtype, memory):
    """A GPU makes a 16-byte access only at a multiple of 16 bytes; the simulator's float4 and
    double2 refuse any other address and name the line, where a CPU would read on."""
    code = VECTOR_READS.replace("FROM", memory)
    x = np.arange(64, dtype=dtype)
    aligned = build(code.replace("OFFSET", "0"), name=f"test_kernel_aligned_{memory}", dtype=dtype)
    y = np.zeros(64, dtype=dtype)
    aligned.launch("four_at_a_time", (1, 1, 1), (64, 1, 1), args(x, y))
    np.testing.assert_array_equal(y, 4 * (np.arange(64) // 4))
    misaligned = build(code.replace("OFFSET", "1"), name=f"test_kernel_misaligned_{memory}", dtype=dtype)
    past, line = (4, 2) if dtype == np.float32 else (8, 3)   # the threads run in any order: any thread
    with pytest.raises(SimulatorError, match=rf"kernel four_at_a_time: thread \(\d+,0,0\) of block \(0,0,0\) reads a "
                                             rf"16-byte vector \(float4, double2\) from an address {past} bytes past "
                                             rf"a multiple of 16, at test_kernel_misaligned_{memory}\.cu:{line}: a GPU "
                                             rf"makes 16-byte accesses only at multiples of 16 and stops the kernel "
                                             rf"\(misaligned address\)"):
        misaligned.launch("four_at_a_time", (1, 1, 1), (64, 1, 1), args(x, y))


def test_a_misaligned_vector_store_is_an_error():
    """The same for a store (a float4's assignment, which can name no line)."""
    code = r'''
extern "C" __global__ void four_stored(const real_t* x, real_t* y) {
  float4 v;
  v.x = v.y = v.z = v.w = x[threadIdx.x];
  *reinterpret_cast<float4*>(y + OFFSET + 4 * threadIdx.x) = v;
}
'''
    x, y = np.arange(8, dtype=np.float32), np.zeros(36, dtype=np.float32)
    build(code.replace("OFFSET", "0"), name="test_kernel_store_aligned", dtype=np.float32).launch(
        "four_stored", (1, 1, 1), (8, 1, 1), args(x, y))
    np.testing.assert_array_equal(y[:32], np.repeat(x, 4))
    misaligned = build(code.replace("OFFSET", "2"), name="test_kernel_store_misaligned", dtype=np.float32)
    with pytest.raises(SimulatorError, match=r"kernel four_stored: thread \(\d,0,0\) of block \(0,0,0\) writes a 16-byte "
                                             r"vector \(float4, double2\) to an address 8 bytes past a multiple of "
                                             r"16: a GPU makes"):
        misaligned.launch("four_stored", (1, 1, 1), (8, 1, 1), args(x, y))


def test_blocks_run_in_any_order():
    """A GPU runs the blocks of a launch in no set order, and so does the simulator: a kernel whose
    block b reads what block b - 1 writes in the same launch is right only when the writer runs
    first (in index order, always)."""
    module = build(r'''
extern "C" __global__ void from_the_block_before(real_t* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = blockIdx.x == 0 ? real_t(1) : y[i - blockDim.x] + 1;
}''', name="test_kernel_block_order")
    wrong = 0
    for _ in range(20):
        y = np.full(8 * 32, np.nan)
        module.launch("from_the_block_before", (8, 1, 1), (32, 1, 1), args(y))
        wrong += not np.array_equal(y, np.repeat(np.arange(1.0, 9.0), 32))
    assert wrong > 0, "a block reading the block before it in the same launch went unnoticed in 20 launches"


BETWEEN_BLOCKS = r'''
extern "C" __global__ void from_the_block_before(const real_t* x, real_t* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = blockIdx.x == 0 ? x[i] : y[i - blockDim.x] + 1;
}
extern "C" __global__ void one_row_for_all(const real_t* x, real_t* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  y[threadIdx.x] = x[i];
}
extern "C" __global__ void read_then_written(const real_t* x, real_t* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const real_t first = y[threadIdx.x];
  y[i] = first + x[i];
}
extern "C" __global__ void shared_reads(const real_t* x, real_t* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = x[threadIdx.x] + y[i];
}
'''


# The instrumented builds (traffic, blocks) answer their hooks from the plain runtime: a process
# with one of GCC's sanitizers loaded cannot load them.
instrumented_builds = pytest.mark.skipif(simulator.sanitizer() in simulator.GCC_SANITIZERS,
                                         reason="the instrumented builds do not load beside GCC's sanitizers")


@instrumented_builds
@pytest.mark.parametrize("kernel,report", [
    ("from_the_block_before", r"thread \(\d+,0,0\) of block \((\d),0,0\) (reads|writes) y\[\d+\] at between_blocks\.cu:4, "
                              r"which block \((?!\1)\d,0,0\) of the launch (wrote|read) at between_blocks\.cu:4"),
    ("one_row_for_all", r"thread \(\d+,0,0\) of block \((\d),0,0\) writes y\[\d+\] at between_blocks\.cu:8, which block \((?!\1)\d,0,0\) "
                        r"of the launch wrote at between_blocks\.cu:8"),
    ("read_then_written", r"thread \(\d+,0,0\) of block \((\d),0,0\) (reads|writes) y\[\d+\] at between_blocks\.cu:1[23], which "
                          r"(other blocks|block \((?!\1)\d,0,0\)) of the launch (wrote|read) at between_blocks\.cu:1[23]")])
def test_races_between_blocks_are_reported_by_line(kernel, report, monkeypatch):
    """Under MINICNN_SIM_SANITIZE=blocks every access to a global array is checked against the
    other blocks of the launch, whatever order they ran in: a block that reads or writes what
    another writes is reported, naming the array, the element, both blocks and both lines. Both
    reading one element (x in every kernel, y in shared_reads) is not a race, nor is a block's
    reading and writing its own elements."""
    monkeypatch.setenv(simulator.SANITIZE_VARIABLE, "blocks")
    module = build(BETWEEN_BLOCKS, name="between_blocks", dtype=np.float32)
    assert module.traffic   # the instrumented build
    x = np.arange(4 * 32, dtype=np.float32)
    for _ in range(3):   # in whatever order the blocks ran
        with pytest.raises(SimulatorError, match=rf"kernel {kernel}: a race between blocks: {report}"):
            module.launch(kernel, (4, 1, 1), (32, 1, 1), args(x, np.zeros(4 * 32, np.float32)))
    y = np.ones(4 * 32, np.float32)
    module.launch("shared_reads", (4, 1, 1), (32, 1, 1), args(x, y))
    np.testing.assert_array_equal(y, np.tile(x[:32], 4) + 1)
    # an element index counts elements, not bytes: float64's y[i] is element i
    module64 = build(BETWEEN_BLOCKS, name="between_blocks", dtype=np.float64)
    with pytest.raises(SimulatorError, match=r"one_row_for_all: .* writes y\[(\d+)\] .*(?<=wrote)"):
        module64.launch("one_row_for_all", (2, 1, 1), (32, 1, 1), args(np.arange(64.0), np.zeros(64)))


@instrumented_builds
def test_blocks_may_share_an_element_through_atomics(monkeypatch):
    """Every block adds to one count and one sum with atomics: no race, in the instrumented build
    (whose hooks do the atomics, and count each as a load and a store)."""
    monkeypatch.setenv(simulator.SANITIZE_VARIABLE, "blocks")
    module = build(r'''
extern "C" __global__ void count_and_sum(const real_t* x, int* count, real_t* sum) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(count, 1);
  atomicAdd(sum, x[i]);
}''', name="atomics_between_blocks", dtype=np.float32)
    x = np.arange(4 * 32, dtype=np.float32)
    count, total = np.zeros(1, np.int32), np.zeros(1, np.float32)
    module.launch("count_and_sum", (4, 1, 1), (32, 1, 1), args(x, count, total))
    assert count[0] == 128 and total[0] == x.sum()
    from minicnn.simulator import traffic
    with traffic.recording() as log:
        module.launch("count_and_sum", (4, 1, 1), (32, 1, 1), args(x, count, total))
    assert count[0] == 256
    assert log[0].array("count").stores.requests == 4 and log[0].array("count").loads.requests == 4


@instrumented_builds
def test_traffic_recordings_check_for_races_between_blocks_too():
    from minicnn.simulator import traffic
    with traffic.recording() as log:
        module = SimulatedModule("between_blocks", np.float32, code=BETWEEN_BLOCKS, traffic=True)
        with pytest.raises(SimulatorError, match="a race between blocks"):
            module.launch("one_row_for_all", (2, 1, 1), (32, 1, 1), args(np.arange(64, dtype=np.float32),
                                                                         np.zeros(64, np.float32)))
        module.launch("shared_reads", (2, 1, 1), (32, 1, 1), args(np.arange(64, dtype=np.float32),
                                                                  np.zeros(64, np.float32)))
    assert [t.kernel for t in log] == ["shared_reads"]
    assert log[0].array("y").stores.bytes == 64 * 4 and log[0].array("x").loads.touched_bytes == 32 * 4


def test_divergent_syncthreads_is_an_error():
    module = build(r'''
extern "C" __global__ void diverge(real_t* y) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  y[threadIdx.x] = 1;
}''', name="test_kernel_diverge")
    with pytest.raises(SimulatorError, match=r"kernel diverge: divergent __syncthreads.*line [46].*line [46]"):
        module.launch("diverge", (1, 1, 1), (64, 1, 1), args(np.zeros(64)))


def test_returning_before_a_barrier_others_reach_is_an_error():
    module = build(r'''
extern "C" __global__ void early_exit(real_t* y) {
  if (threadIdx.x == 5) return;
  __syncthreads();
  y[threadIdx.x] = 1;
}''', name="test_kernel_early_exit")
    with pytest.raises(SimulatorError, match="kernel early_exit: thread .* (returned|reached)"):
        module.launch("early_exit", (1, 1, 1), (32, 1, 1), args(np.zeros(32)))
    # The module stays usable after an aborted launch.
    y = np.zeros(32)
    build(REVERSE.replace("SYNC", "__syncthreads();")).launch(
        "reverse_chunks", (1, 1, 1), (32, 1, 1), args(np.arange(32.0), y))
    np.testing.assert_array_equal(y, np.arange(32.0)[::-1])


def test_atomics_are_atomic():
    module = build(r'''
extern "C" __global__ void count(real_t* total, int* hits) {
  atomicAdd(total, real_t(1));
  atomicAdd(hits, 1);
}''', name="test_kernel_atomics", dtype=np.float32)
    total, hits = np.zeros(1, np.float32), np.zeros(1, np.int32)
    module.launch("count", (3, 1, 1), (256, 1, 1), args(total, hits))
    assert total[0] == 768 and hits[0] == 768


def test_thread_and_block_indices_in_three_dimensions():
    module = build(r'''
extern "C" __global__ void where(int* out) {
  int block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  int thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  out[block * blockDim.x * blockDim.y * blockDim.z + thread] = block * 1000 + thread;
}''', name="test_kernel_indices")
    out = np.full(2 * 3 * 2 * 24, -1, np.int32)
    module.launch("where", (2, 3, 2), (4, 3, 2), args(out))
    np.testing.assert_array_equal(out, [b * 1000 + t for b in range(12) for t in range(24)])


def test_a_block_larger_than_the_launch_bounds_is_refused():
    """A GPU refuses a launch of more threads a block than a kernel's ``__launch_bounds__`` allow
    (ptxas allotted its registers for that many), and so does the simulator, the bound's macro
    evaluated by the compiler (here 3 x 32, 96 threads, for a block of 4 x 3 x 8, 96, and of 97);
    a kernel without bounds takes any block."""
    module = build(r'''
#define WARPS 3
extern "C" __global__ __launch_bounds__(WARPS * 32, 2) void bounded(int* out) {
  out[(threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x] = 1;
}
extern "C" __global__ void unbounded(int* out) { out[threadIdx.x] = 2; }''', name="test_kernel_bounds")
    assert simulator.launch_bounds(module.code) == {"bounded": "WARPS * 32"}
    out = np.zeros(128, np.int32)
    module.launch("bounded", (1, 1, 1), (4, 3, 8), args(out))
    assert out.sum() == 96
    with pytest.raises(SimulatorError, match=r"bounded: a block of 97 threads, more than the 96 of its "
                                             r"__launch_bounds__ \(a GPU refuses the launch\)"):
        module.launch("bounded", (1, 1, 1), (97, 1, 1), args(out))
    module.launch("unbounded", (1, 1, 1), (128, 1, 1), args(out))
    assert (out == 2).all()


@pytest.mark.parametrize("construct,what", [("__shfl_down(v, 1)", "the warp intrinsics without _sync"),
                                            ("__ballot(v > 0)", "the warp intrinsics without _sync"),
                                            ("__match_any_sync(0xffffffff, v)", "warp matches"),
                                            ("__activemask()", "__activemask and laneid")])
def test_unsupported_constructs_are_refused_by_name(construct, what):
    code = f'''
extern "C" __global__ void warp_sum(real_t* y) {{
  real_t v = y[threadIdx.x];
  v += {construct};
  y[threadIdx.x] = v;
}}'''
    with pytest.raises(SimulatorError, match=rf"warp_sum\.cu:4: in warp_sum uses .*does not model {what}"):
        build(code, name="warp_sum")


# ---- warp intrinsics: collectives of the lanes of a mask ----------------------------------------
WARP = r'''
// Each lane's value read through the four shuffles, segments of `width` lanes.
extern "C" __global__ void shuffles(const real_t* x, real_t* y, int argument, int width) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x, n = blockDim.x * gridDim.x;
  const real_t v = x[i];
  y[i] = __shfl_sync(0xffffffffu, v, argument, width);
  y[n + i] = __shfl_up_sync(0xffffffffu, v, argument, width);
  y[2 * n + i] = __shfl_down_sync(0xffffffffu, v, argument, width);
  y[3 * n + i] = __shfl_xor_sync(0xffffffffu, v, argument, width);
}
// Votes of the lanes of `mask` (the others skip them) on x > 0.
extern "C" __global__ void votes(const real_t* x, unsigned* out, unsigned mask) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x % warpSize;
  if (mask >> lane & 1) {
    const bool positive = x[i] > 0;
    out[3 * i] = __ballot_sync(mask, positive);
    out[3 * i + 1] = __any_sync(mask, positive);
    out[3 * i + 2] = __all_sync(mask, positive);
  }
}
// Lanes trade values through shared memory: SYNC is __syncwarp() or nothing.
extern "C" __global__ void trade(const real_t* x, real_t* y) {
  __shared__ real_t slots[64];
  slots[threadIdx.x] = x[threadIdx.x];
  SYNC;
  y[threadIdx.x] = slots[threadIdx.x ^ 1];
}
'''


def reference_shuffles(x, argument, width):
    """What CUDA's four shuffles return for each lane of x's warps."""
    lane = np.arange(x.size) % 32
    warp_start = np.arange(x.size) - lane
    base, within = lane & ~(width - 1), lane & (width - 1)
    index = base + (argument & (width - 1))
    up = np.where(within >= argument, lane - argument, lane)
    down = np.where(within + argument < width, lane + argument, lane)
    xor = np.where((lane ^ argument) < base + width, lane ^ argument, lane)
    return np.concatenate([x[warp_start + source] for source in (index, up, down, xor)])


@pytest.mark.parametrize("argument,width", [(1, 32), (5, 32), (16, 32), (3, 8), (1, 2), (7, 16)])
def test_shuffles_read_the_lane_cuda_names(argument, width):
    module = build(WARP.replace("SYNC", "__syncwarp()"), name="warp")
    x = np.random.default_rng(argument).standard_normal(128)
    y = np.full(4 * 128, np.nan)
    module.launch("shuffles", (2, 1, 1), (64, 1, 1), args(x, y, np.int32(argument), np.int32(width)))
    np.testing.assert_array_equal(y, reference_shuffles(x, argument, width))


@pytest.mark.parametrize("mask", [0xFFFFFFFF, 0x0000FFFF, 0xAAAAAAAA])
def test_votes_count_the_lanes_of_the_mask(mask):
    module = build(WARP.replace("SYNC", "__syncwarp()"), name="warp")
    x = np.random.default_rng(mask % 97).standard_normal(64)
    x[32:] = np.abs(x[32:]) + 1   # every lane of the second warp votes yes
    out = np.zeros(3 * 64, np.uint32)
    module.launch("votes", (1, 1, 1), (64, 1, 1), args(x, out, np.uint32(mask)))
    for warp in range(2):
        positive = sum(1 << lane for lane in range(32) if mask >> lane & 1 and x[32 * warp + lane] > 0)
        for lane in range(32):
            got = out[3 * (32 * warp + lane):3 * (32 * warp + lane) + 3]
            expected = (positive, positive != 0, positive == mask) if mask >> lane & 1 else (0, 0, 0)
            assert tuple(got) == expected, (warp, lane)


def test_lanes_do_not_run_in_lockstep_between_intrinsics():
    """A lane that reads what its neighbour wrote to shared memory needs __syncwarp() between them:
    without it the lanes run in a random order, as independent thread scheduling lets them."""
    with_sync = build(WARP.replace("SYNC", "__syncwarp()"), name="warp")
    without = build(WARP.replace("SYNC", ""), name="warp_unsynced")
    x = np.arange(64.0)
    wrong = 0
    for _ in range(10):
        y = np.zeros(64)
        with_sync.launch("trade", (1, 1, 1), (64, 1, 1), args(x, y))
        np.testing.assert_array_equal(y, x.reshape(-1, 2)[:, ::-1].ravel())
        without.launch("trade", (1, 1, 1), (64, 1, 1), args(x, y))
        wrong += not np.array_equal(y, x.reshape(-1, 2)[:, ::-1].ravel())
    assert wrong > 0


@pytest.mark.parametrize("body,block,message", [
    ("if (threadIdx.x == 3) return; y[threadIdx.x] = __shfl_xor_sync(0xffffffffu, y[threadIdx.x], 1);", 32,
     r"waits forever at the warp collective at line 2 with mask 0xffffffff; lane 3 has returned"),
    ("y[threadIdx.x] = __shfl_xor_sync(0xffffffffu, y[threadIdx.x], 1);", 48,
     r"lane 16 does not exist \(the block has 48 threads\).*lane 31 does not exist"),
    ("if (threadIdx.x < 16) y[threadIdx.x] = __shfl_down_sync(0x0000ffffu, y[threadIdx.x], 1);", 32,
     r"thread \(15,0,0\) .*\(lane 15\) reads lane 16 with __shfl_down_sync at line 2, which is not in the mask 0x0000ffff"),
    ("y[threadIdx.x] = __shfl_sync(0x0000ffffu, y[threadIdx.x], 0);", 32,
     r"\(lane (1[6-9]|2\d|3[01])\) calls __shfl_sync at line 2 with mask 0x0000ffff, which leaves it out"),
    ("if (threadIdx.x % 2) y[threadIdx.x] = __any_sync(0xffffffffu, 1);\n  else y[threadIdx.x] = __any_sync(0xffffffffu, 0);", 32,
     r"divergent warp collectives: .* reaches __any_sync at line [23] while other lanes of mask 0xffffffff wait at line [23]"),
    ("if (threadIdx.x == 0) __syncthreads(); else __syncwarp();", 32,
     r"waits forever at the warp collective at line 2 with mask 0xffffffff; lane 0 waits at the __syncthreads at line 2"),
    ("y[threadIdx.x] = __shfl_sync(0xffffffffu, y[threadIdx.x], 0, 12);", 32, r"with width 12 \(a power of 2")],
    ids=["a-lane-returned", "lanes-that-do-not-exist", "reads-outside-the-mask", "caller-outside-the-mask",
         "divergent-lines", "a-lane-at-a-barrier", "width-not-a-power-of-2"])
def test_warp_intrinsics_misused_are_errors(body, block, message):
    module = build(f'''extern "C" __global__ void misuse(real_t* y) {{
  {body}
}}''', name="warp_misuse_" + hashlib.sha256(body.encode()).hexdigest()[:8])   # stable: cached across runs
    with pytest.raises(SimulatorError, match=rf"kernel misuse: .*{message}"):
        module.launch("misuse", (1, 1, 1), (block, 1, 1), args(np.zeros(64)))


def test_dynamic_shared_memory_is_refused():
    with pytest.raises(SimulatorError, match="dynamic shared memory"):
        build('extern "C" __global__ void k(real_t* y) { extern __shared__ real_t s[]; y[0] = s[0]; }', name="dyn")


def test_shared_memory_in_a_template_is_refused():
    # g++ would leave the array out of the simulated shared memory: never poisoned, never counted
    helper = ("template <typename F> __device__ void fill(F f, real_t* y) {{ {decl} s[threadIdx.x] = f(); "
              "__syncthreads(); y[threadIdx.x] = s[31 - threadIdx.x]; }}\n")
    kernel = 'extern "C" __global__ void k(real_t* y) {{ {decl} fill([] {{ return real_t(1); }}, y); }}'
    with pytest.raises(SimulatorError, match=r"tmpl\.cu:2: in fill uses '__shared__'.*declare the array in the kernel"):
        build("\n" + helper.format(decl="__shared__ real_t s[32];") + kernel.format(decl=""), name="tmpl")
    # the same with the array declared in the kernel and passed in
    passed = ("template <typename F> __device__ void fill(F f, real_t* s, real_t* y) { s[threadIdx.x] = f(); "
              "__syncthreads(); y[threadIdx.x] = s[31 - threadIdx.x]; }\n"
              'extern "C" __global__ void k(real_t* y) { __shared__ real_t s[32]; fill([] { return real_t(1); }, s, y); }')
    module = build(passed, name="tmpl_passed", dtype=np.float32)
    y = np.zeros(32, np.float32)
    module.launch("k", (1, 1, 1), (32, 1, 1), args(y))
    np.testing.assert_array_equal(y, 1)
    assert module.shared_section[1] - module.shared_section[0] == 32 * 4


def test_compile_errors_show_the_file_and_the_compiler_log():
    with pytest.raises(SimulatorError, match=r"(?s)broken\.cu does not compile.*broken\.cu:3.*undefined_thing"):
        build('\nextern "C" __global__ void k(real_t* y) {\n  y[0] = undefined_thing;\n}', name="broken")


def test_modules_are_compiled_once_and_cached(monkeypatch):
    module = simulator.module("relu", np.float32)
    assert simulator.module("relu", np.float32) is module              # in memory
    def no_compiler(*a, **k):
        raise AssertionError("the compiler ran although the module is cached")
    monkeypatch.setattr(simulator.subprocess, "run", no_compiler)
    monkeypatch.setattr(simulator, "_versions", {"g++": "cached", **simulator._versions})
    SimulatedModule("relu", np.float32)                                 # on disk


# ---- sanitizers: the simulator's memcheck and racecheck ----------------------------------------
# Each runs in a child process (GCC's sanitizers' runtimes must be loaded before Python): first a
# kernel with a planted bug, which the sanitizer must report by file and line, then the whole
# simulated kernel suite, which must come out clean.
def run_sanitized(name, *command, timeout=900):
    return subprocess.run([sys.executable, "-m", "minicnn.simulator.sanitize", name, sys.executable, *command],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


PLANTED = r'''
import numpy as np
from minicnn.simulator import SimulatedModule
code = {code!r}
module = SimulatedModule({name!r}, np.float32, code=code)
x = np.arange(1024, dtype=np.float32)
y = np.zeros(1024, np.float32)
module.launch({kernel!r}, (4, 1, 1), (256, 1, 1), [x, y])
print("finished unreported")
'''
# A read one past a __shared__ array, which would land in the next one (GCC gives no red zones to
# the section that holds shared memory; under AddressSanitizer the arrays are plain statics, with
# red zones). Read by a function that sees only a pointer, AddressSanitizer reports it; indexed as
# the array itself (FROM = first[...]), UndefinedBehaviorSanitizer, built in with it, reports it first.
SHARED_PAST_THE_END = r'''
__device__ __attribute__((noinline)) real_t element(const real_t* p, int i) { return p[i]; }
extern "C" __global__ void shared_past_the_end(const real_t* x, real_t* y) {
  __shared__ real_t first[256];
  __shared__ real_t second[256];
  first[threadIdx.x] = x[threadIdx.x];
  second[threadIdx.x] = 2 * x[threadIdx.x];
  __syncthreads();
  y[threadIdx.x] = FROM + second[threadIdx.x];   // thread 255 reads past first
}
'''
# Lanes trade values through shared memory; SYNC is __syncwarp(), or nothing (a race).
TRADE = r'''
extern "C" __global__ void trade(const real_t* x, real_t* y) {
  __shared__ real_t slots[256];
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  slots[threadIdx.x] = x[i];
  SYNC
  y[i] = slots[threadIdx.x ^ 1];
}
'''
# Block b reads what block b - 1 writes: right whenever the writer ran first.
PREFIX_OF_BLOCKS = r'''
extern "C" __global__ void prefix_of_blocks(const real_t* x, real_t* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = x[i] + (blockIdx.x > 0 ? y[i - blockDim.x] : real_t(0));
}
'''
# A flat index computed in int: past 2**31 from thread 512 on, which a GPU wraps to a negative
# number (and reads before x) without a word.
INDEX_PAST_INT = r'''
extern "C" __global__ void strided_index(const real_t* x, real_t* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int far = i * 4194304;   // 2**22
  y[i] = x[(far / 4194304) % 1024];
}
'''
ONE_PAST_THE_END = r'''
extern "C" __global__ void shift_left(const real_t* x, real_t* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = x[i + 1];   // the last thread reads one element past the end of x
}
'''


@pytest.mark.parametrize("name,code,kernel,report,line", [
    ("address", ONE_PAST_THE_END, "shift_left", "AddressSanitizer: heap-buffer-overflow", 4),
    ("address", SHARED_PAST_THE_END.replace("FROM", "element(first, threadIdx.x + 1)"), "shared_past_the_end",
     "AddressSanitizer: global-buffer-overflow", 9),
    ("address", SHARED_PAST_THE_END.replace("FROM", "first[threadIdx.x + 1]"), "shared_past_the_end",
     "runtime error: index 256 out of bounds for type", 9),
    ("address", INDEX_PAST_INT, "strided_index", "runtime error: signed integer overflow: 512 * 4194304", 4),
    ("thread", REVERSE.replace("SYNC", ""), "reverse_chunks", "ThreadSanitizer: data race", 6),
    ("thread", REVERSE_BETWEEN_BARRIERS, "reverse_between_barriers", "ThreadSanitizer: data race", 7),
    ("thread", SHIFT_ASYNC.replace("WAIT", "copy_wait();").replace("SYNC", ""), "shift_async",
     "ThreadSanitizer: data race", 10),
    ("thread", ROUNDS_ASYNC.replace("ISSUE_EARLY", "true"), "rounds", "ThreadSanitizer: data race", 12),
    ("thread", TRADE.replace("SYNC", ""), "trade", "ThreadSanitizer: data race", 7),
    ("blocks", PREFIX_OF_BLOCKS, "prefix_of_blocks", "a race between blocks", 4)],
    ids=["address-read-past-the-end", "address-read-past-a-shared-array", "address-index-past-a-shared-array",
         "address-int-index-overflow", "thread-missing-syncthreads", "thread-missing-syncthreads-between-barriers",
         "thread-missing-syncthreads-after-copy-wait", "thread-copy-into-slices-still-read",
         "thread-missing-syncwarp", "blocks-read-what-another-block-writes"])
def test_sanitizer_reports_a_planted_bug_by_line(name, code, kernel, report, line):
    missing = sanitizer_missing(name)
    if missing:
        pytest.skip(missing)
    stem = f"planted_{name}"
    result = run_sanitized(name, "-c", PLANTED.format(code=code, name=stem, kernel=kernel))
    assert result.returncode != 0 and "finished unreported" not in result.stdout, result.stdout + result.stderr
    assert report in result.stderr and f"{stem}.cu:{line}" in result.stderr, result.stderr[-3000:]


def test_syncwarp_orders_the_lanes_for_thread_sanitizer():
    """The planted race above with its __syncwarp(): clean (the lanes of the mask meet there), and
    the values traded."""
    missing = sanitizer_missing("thread")
    if missing:
        pytest.skip(missing)
    check = PLANTED.format(code=TRADE.replace("SYNC", "__syncwarp();"), name="trade_synced", kernel="trade")
    check += "assert (y.reshape(-1, 2)[:, ::-1].ravel() == x).all(), y[:8]\n"
    result = run_sanitized("thread", "-c", check)
    assert result.returncode == 0 and "finished unreported" in result.stdout, result.stderr[-3000:]


def test_a_sanitizer_without_its_runtime_loaded_is_refused(monkeypatch):
    monkeypatch.setenv(simulator.SANITIZE_VARIABLE, "address")
    with pytest.raises(SimulatorError, match="needs the sanitizer's runtime loaded before Python: run the command "
                                             "through python -m minicnn.simulator.sanitize address"):
        build(REDUCE, name="test_kernel_unsanitized")
    monkeypatch.setenv(simulator.SANITIZE_VARIABLE, "memory")
    with pytest.raises(SimulatorError, match="MINICNN_SIM_SANITIZE='memory': expected one of address, thread, blocks"):
        build(REDUCE, name="test_kernel_unsanitized")


def test_each_sanitizers_environment_preloads_its_runtime_and_says_which_package_has_it(monkeypatch):
    """GCC's: the runtime, then the C++ runtime, preloaded, errors fatal; ThreadSanitizer's also the
    BLAS and OpenMP pools on one thread (their synchronisation is not instrumented); the blocks
    check needs none of it. A runtime not installed is named with its Debian package."""
    base = {"PATH": os.environ["PATH"], "OPENBLAS_NUM_THREADS": "2"}
    blocks = simulator.sanitizer_environment("blocks", base)
    assert blocks == dict(base, MINICNN_SIM_SANITIZE="blocks")
    monkeypatch.setattr(simulator, "sanitizer_runtime", lambda name: f"/runtime/lib{name[0]}san.so")
    for name, threads in (("address", "2"), ("thread", "1")):
        env = simulator.sanitizer_environment(name, base)
        assert env["MINICNN_SIM_SANITIZE"] == name and env["OPENBLAS_NUM_THREADS"] == threads
        runtime, *cxx = env["LD_PRELOAD"].split()
        assert runtime == f"/runtime/lib{name[0]}san.so" and all("libstdc++" in path for path in cxx) and len(cxx) <= 1
        assert "halt_on_error=1" in env["ASAN_OPTIONS"] and "halt_on_error=1" in env["TSAN_OPTIONS"]
        assert "detect_leaks=0" in env["ASAN_OPTIONS"] and "report_thread_leaks=0" in env["TSAN_OPTIONS"]
        assert ("OMP_NUM_THREADS" in env) == (name == "thread")
    assert base == {"PATH": os.environ["PATH"], "OPENBLAS_NUM_THREADS": "2"}   # the copy changed, not the original
    monkeypatch.setattr(simulator, "sanitizer_runtime", lambda name: None)
    for name, package in (("address", "libasan8"), ("thread", "libtsan2")):
        with pytest.raises(SimulatorError, match=rf"the {name} sanitizer's runtime is not installed with .*"
                                                 rf"\(Debian: apt-get install {package}\)"):
            simulator.sanitizer_environment(name)
    with pytest.raises(SimulatorError, match="unknown sanitizer 'memory': expected one of address, thread, blocks"):
        simulator.sanitizer_environment("memory")


def test_sanitize_command_needs_a_sanitizer_and_a_command(capsys):
    from minicnn.simulator.sanitize import main
    for argv, message in ((["address"], "give the command to run"), (["memory", "python"], "invalid choice")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("name", simulator.SANITIZERS)
def test_every_kernel_is_clean_under_the_sanitizer(name, sanitized_suites):
    """The simulated kernel tests (every kernel, every version, float32 and float64) with every
    array access checked (address), every pair of a block's threads checked for races (thread),
    or every element a block writes checked against the launch's other blocks (blocks),
    in the child process that tests/conftest.py started with the session (tests/sanitized_suites.py).
    The child's pytest captures Python's output only, so a report reaches its stderr."""
    if name not in sanitized_suites:
        pytest.skip(sanitizer_missing(name))
    process, out, err = sanitized_suites[name]
    returncode = process.wait(timeout=1800)
    stdout, stderr = out.read_text(), err.read_text()
    tail = (stdout[-2000:] + stderr[-4000:]).strip()
    assert returncode == 0, tail
    assert " passed" in stdout and " failed" not in stdout, tail
