// The runtime of minicnn's kernel simulator, one shared library loaded before every simulated
// module (see cuda_sim.h for the model).
//
// Threads: a pool of POSIX threads, created on demand up to the largest block launched and
// reused by every launch; thread t of the pool plays thread t of every block, running the
// blocks of a grid one after another. Threads sleep on futexes: a barrier wakes its waiters
// with one system call and none of them has to take a lock to leave it.
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_sim.h"

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
dim3 blockDim;
dim3 gridDim;

namespace {

typedef minicnn_sim::Trampoline Trampoline;

void futex_wait(std::atomic<unsigned>* word, unsigned expected) {
  syscall(SYS_futex, reinterpret_cast<unsigned*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake_all(std::atomic<unsigned>* word) {
  syscall(SYS_futex, reinterpret_cast<unsigned*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

// Sleep until *word differs from `seen` or the launch is aborted.
void wait_change(std::atomic<unsigned>* word, unsigned seen, const std::atomic<bool>& aborted) {
  while (word->load() == seen && !aborted.load()) futex_wait(word, seen);
}

struct Abort {};  // thrown through kernel code to unwind a thread after an error

struct Launch {
  // set by the launcher before it releases the pool
  const char* kernel = "";
  Trampoline call = nullptr;
  void (*poison)() = nullptr;
  void** args = nullptr;
  unsigned nthreads = 0;
  unsigned long nblocks = 0;
  // the block barrier: bookkeeping under `lock`, sleeping on the futex words
  std::mutex lock;
  unsigned arrived = 0;               // threads waiting at the current __syncthreads
  int barrier_line = 0;               // its source line
  unsigned finished = 0;              // threads done with the current block
  std::atomic<unsigned> barriers{0};  // futex word: completed __syncthreads
  std::atomic<unsigned> blocks{0};    // futex word: completed blocks
  std::atomic<bool> aborted{false};
  std::string error;
  // the pool
  std::atomic<unsigned> epoch{0};      // futex word: bumped to start a launch
  std::atomic<unsigned> remaining{0};  // futex word: participants still running
};

Launch launch_state;
std::vector<pthread_t> pool;
std::mutex launch_mutex;  // one launch at a time in the process

std::string thread_name() {
  char buf[96];
  std::snprintf(buf, sizeof buf, "thread (%u,%u,%u) of block (%u,%u,%u)", threadIdx.x, threadIdx.y, threadIdx.z,
                blockIdx.x, blockIdx.y, blockIdx.z);
  return buf;
}

// Record the first error, wake every sleeper and unwind this thread. `lock` must be held.
[[noreturn]] void fail(std::unique_lock<std::mutex>& lock, const std::string& message) {
  Launch& L = launch_state;
  if (!L.aborted.load()) {
    L.error = std::string("kernel ") + L.kernel + ": " + message;
    L.aborted.store(true);
  }
  lock.unlock();
  futex_wake_all(&L.barriers);
  futex_wake_all(&L.blocks);
  throw Abort();
}

// Called by every thread after the kernel body returns for the current block; the last one
// poisons shared memory for the next block and releases the others.
void finish_block() {
  Launch& L = launch_state;
  std::unique_lock<std::mutex> lock(L.lock);
  if (L.aborted.load()) throw Abort();
  if (L.arrived > 0)
    fail(lock, thread_name() + " returned while other threads of its block wait at the __syncthreads at line " +
                   std::to_string(L.barrier_line));
  unsigned done = L.blocks.load();
  if (++L.finished == L.nthreads) {
    L.finished = 0;
    L.poison();
    L.blocks.store(done + 1);
    lock.unlock();
    futex_wake_all(&L.blocks);
    return;
  }
  lock.unlock();
  wait_change(&L.blocks, done, L.aborted);
  if (L.aborted.load()) throw Abort();
}

void run_thread_of_launch(unsigned linear) {
  Launch& L = launch_state;
  threadIdx.x = linear % blockDim.x;
  threadIdx.y = linear / blockDim.x % blockDim.y;
  threadIdx.z = linear / (blockDim.x * blockDim.y);
  try {
    for (unsigned long b = 0; b < L.nblocks; ++b) {
      blockIdx.x = b % gridDim.x;
      blockIdx.y = b / gridDim.x % gridDim.y;
      blockIdx.z = b / ((unsigned long)gridDim.x * gridDim.y);
      L.call(L.args);
      finish_block();
    }
  } catch (Abort&) {
  } catch (...) {
    std::unique_lock<std::mutex> lock(L.lock);
    try {
      fail(lock, thread_name() + " raised a C++ exception");
    } catch (Abort&) {
    }
  }
}

void* worker(void* arg) {
  Launch& L = launch_state;
  const unsigned index = static_cast<unsigned>(reinterpret_cast<uintptr_t>(arg) >> 32);
  unsigned seen = static_cast<unsigned>(reinterpret_cast<uintptr_t>(arg));  // epoch at creation
  for (;;) {
    unsigned e;
    while ((e = L.epoch.load()) == seen) futex_wait(&L.epoch, seen);
    seen = e;
    if (index < L.nthreads) run_thread_of_launch(index);  // else not needed by this launch
    // Every thread of the pool reports back, needed or not: a thread that read this launch's
    // nthreads must be done with it before the next launch overwrites it (and could otherwise
    // see the next launch's nthreads with this launch's epoch, and run that launch twice).
    if (L.remaining.fetch_sub(1) == 1) futex_wake_all(&L.remaining);
  }
  return nullptr;
}

}  // namespace

extern "C" void minicnn_sim_syncthreads(int line) {
  Launch& L = launch_state;
  std::unique_lock<std::mutex> lock(L.lock);
  if (L.aborted.load()) throw Abort();
  if (L.finished > 0)
    fail(lock, thread_name() + " reached the __syncthreads at line " + std::to_string(line) +
                   " after another thread of its block had returned (every thread must reach it)");
  if (L.arrived == 0) {
    L.barrier_line = line;
  } else if (L.barrier_line != line) {
    fail(lock, "divergent __syncthreads: " + thread_name() + " waits at line " + std::to_string(line) +
                   " while others wait at line " + std::to_string(L.barrier_line));
  }
  unsigned generation = L.barriers.load();
  if (++L.arrived == L.nthreads) {
    L.arrived = 0;
    L.barriers.store(generation + 1);
    lock.unlock();
    futex_wake_all(&L.barriers);
    return;
  }
  lock.unlock();
  wait_change(&L.barriers, generation, L.aborted);
  if (L.aborted.load()) throw Abort();
}

// Run `call` on grid x block threads; returns 0, or 1 with the message in `error`.
extern "C" int minicnn_sim_launch(const char* kernel, Trampoline call, void (*poison)(), const unsigned* grid,
                                  const unsigned* block, void** args, char* error, int error_size) {
  std::lock_guard<std::mutex> serial(launch_mutex);
  Launch& L = launch_state;
  L.kernel = kernel;
  L.call = call;
  L.poison = poison;
  L.args = args;
  gridDim = dim3(grid[0], grid[1], grid[2]);
  blockDim = dim3(block[0], block[1], block[2]);
  L.nthreads = block[0] * block[1] * block[2];
  L.nblocks = (unsigned long)grid[0] * grid[1] * grid[2];
  L.arrived = L.finished = 0;
  L.aborted.store(false);
  L.error.clear();
  poison();

  const unsigned epoch = L.epoch.load();
  while (pool.size() < L.nthreads) {  // grow the pool; new threads wait for the next epoch
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    pthread_t handle;
    uintptr_t arg = (static_cast<uintptr_t>(pool.size()) << 32) | epoch;
    int status = pthread_create(&handle, &attr, worker, reinterpret_cast<void*>(arg));
    pthread_attr_destroy(&attr);
    if (status != 0) {
      std::snprintf(error, error_size, "kernel %s: could not start thread %zu of %u (%s)", kernel, pool.size(),
                    L.nthreads, std::strerror(status));
      return 1;
    }
    pool.push_back(handle);
  }
  L.remaining.store(static_cast<unsigned>(pool.size()));
  L.epoch.store(epoch + 1);
  futex_wake_all(&L.epoch);
  unsigned left;
  while ((left = L.remaining.load()) != 0) futex_wait(&L.remaining, left);
  if (L.aborted.load()) {
    std::snprintf(error, error_size, "%s", L.error.c_str());
    return 1;
  }
  return 0;
}
