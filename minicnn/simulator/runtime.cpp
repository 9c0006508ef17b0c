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

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
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

// ---- memory traffic (minicnn/simulator/traffic.py) ------------------------------------------
// A module built for traffic recording is compiled with GCC's outline address instrumentation
// (-fsanitize=kernel-address with a call per access) and its basic-block tracing
// (-fsanitize-coverage=trace-pc), so the kernel calls the hooks at the end of this file before
// every load and store and at the start of every basic block; each thread logs its path
// through the code and its accesses to the launch's arrays (others are not counted).
//
// When the last thread of a block is done, the block's logs are replayed warp by warp, as a GPU
// runs them: threads 32w..32w+31 of the block (in linear order, x fastest) form warp w, which
// runs one basic block at a time for all its threads that are at it. Where they branch apart,
// each side runs in turn and they meet again at the branch's immediate post-dominator, the first
// block every path from the branch goes through (the reconvergence stack of SIMT GPUs; the
// control-flow graph is the one the block's threads walked). One load or store instruction run
// by the warp's active threads is one request; it moves every 32-byte sector that one of them
// touches, once.
//
// Shared memory (the module's __shared__ section, when it has one) is counted apart: it is 32
// banks of 4-byte words (word w in bank w mod 32), each of which serves one word per cycle, so a
// request takes as many passes (Nsight Compute's "wavefronts") as the most distinct words it
// reads in one bank; threads that read the same word share it (a broadcast). A request of 32
// consecutive floats takes 1, one of floats 4 words apart 4 (a 4-way bank conflict), one of 32
// consecutive doubles 2 (the least for 256 bytes).
struct ArrayTraffic {                  // one array argument of the launch, or shared memory
  uintptr_t begin = 0, end = 0;
  bool shared = false;
  uint64_t counts[2][3] = {};          // [load, store][requests, sectors, bytes requested];
                                       // shared: [requests, wavefronts, least wavefronts]
  std::vector<uint64_t> touched[2];    // [load, store]: one bit per sector of the array
};

struct Event {                         // a basic block entered, or an access to an array
  uintptr_t site;                      // the hook's return address: the block, or the instruction
  uintptr_t address;
  unsigned size;
  bool store;
  ArrayTraffic* array;                 // null for a basic block
};

struct Traffic {
  bool on = false;
  std::vector<ArrayTraffic> arrays;
  std::vector<std::vector<Event>> logs;   // per linear thread of the block
};

Traffic traffic;
thread_local std::vector<Event>* traffic_log = nullptr;

constexpr unsigned SECTOR_BYTES = 32, WARP_THREADS = 32, BANKS = 32, BANK_BYTES = 4;

ArrayTraffic* array_of(uintptr_t address) {
  for (ArrayTraffic& a : traffic.arrays)
    if (address >= a.begin && address < a.end) return &a;
  return nullptr;
}

// One request to shared memory: the passes its distinct words take through the banks, and the
// least that as many words could take (one per 32 words).
void account_shared_request(const std::vector<const Event*>& accesses, std::vector<uint64_t>& words) {
  words.clear();
  for (const Event* a : accesses)
    for (uintptr_t w = a->address / BANK_BYTES; w <= (a->address + a->size - 1) / BANK_BYTES; ++w) words.push_back(w);
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  unsigned per_bank[BANKS] = {}, wavefronts = 0;
  for (uint64_t w : words) wavefronts = std::max(wavefronts, ++per_bank[w % BANKS]);
  uint64_t* counts = accesses.front()->array->counts[accesses.front()->store ? 1 : 0];
  counts[0] += 1;
  counts[1] += wavefronts;
  counts[2] += (words.size() + BANKS - 1) / BANKS;
}

// One request: the sectors its threads' accesses touch, and the distinct bytes they ask for
// (threads that read the same value, a broadcast, ask for its bytes once), counted once each.
// The accesses are one instruction's, in one array.
void account_request(const std::vector<const Event*>& accesses, std::vector<uint64_t>& sectors,
                     std::vector<std::pair<uintptr_t, uintptr_t>>& ranges) {
  if (accesses.front()->array->shared) return account_shared_request(accesses, sectors);
  sectors.clear();
  ranges.clear();
  for (const Event* a : accesses) {
    ranges.emplace_back(a->address, a->address + a->size);
    for (uintptr_t s = a->address / SECTOR_BYTES; s <= (a->address + a->size - 1) / SECTOR_BYTES; ++s)
      sectors.push_back(s);
  }
  std::sort(sectors.begin(), sectors.end());
  sectors.erase(std::unique(sectors.begin(), sectors.end()), sectors.end());
  std::sort(ranges.begin(), ranges.end());
  uint64_t bytes = 0;
  uintptr_t covered = 0;   // bytes below this address are counted already
  for (const auto& r : ranges) {
    const uintptr_t from = std::max(r.first, covered);
    if (r.second > from) bytes += r.second - from;
    covered = std::max(covered, r.second);
  }
  ArrayTraffic* array = accesses.front()->array;
  const int kind = accesses.front()->store ? 1 : 0;
  uint64_t* counts = array->counts[kind];
  counts[0] += 1;
  counts[1] += sectors.size();
  counts[2] += bytes;
  const uintptr_t first = array->begin / SECTOR_BYTES;
  for (uint64_t s : sectors) array->touched[kind][(s - first) / 64] |= 1ull << ((s - first) % 64);
}

// The basic blocks the block's threads went through, numbered, with the edges they took, and
// each block's immediate post-dominator. Block 0 is a virtual exit that every thread ends in.
struct ControlFlow {
  std::unordered_map<uintptr_t, int> number;
  std::vector<std::vector<int>> successors{1};
  std::vector<int> ipdom{-1};

  int node(uintptr_t site) {
    auto found = number.emplace(site, static_cast<int>(successors.size()));
    if (found.second) {
      successors.emplace_back();
      ipdom.push_back(-1);
    }
    return found.first->second;
  }
  void edge(int from, int to) {
    auto& out = successors[from];
    if (std::find(out.begin(), out.end(), to) == out.end()) out.push_back(to);
  }
  // Post-dominator sets by the iterative data-flow equations (a kernel has tens of blocks).
  void compute_ipdom() {
    const size_t n = successors.size(), words = (n + 63) / 64;
    std::vector<std::vector<uint64_t>> pdom(n, std::vector<uint64_t>(words, ~0ull));
    pdom[0].assign(words, 0);
    pdom[0][0] = 1;
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t v = 1; v < n; ++v) {
        std::vector<uint64_t> meet(words, successors[v].empty() ? 0 : ~0ull);
        for (int s : successors[v])
          for (size_t w = 0; w < words; ++w) meet[w] &= pdom[s][w];
        meet[v / 64] |= 1ull << (v % 64);
        if (meet != pdom[v]) {
          pdom[v] = std::move(meet);
          changed = true;
        }
      }
    }
    auto count = [&](size_t v) {
      size_t c = 0;
      for (uint64_t w : pdom[v]) c += __builtin_popcountll(w);
      return c;
    };
    for (size_t v = 1; v < n; ++v) {   // the strict post-dominator nearest to v: one fewer in its set
      const size_t size = count(v);
      for (size_t p = 0; p < n; ++p)
        if (p != v && (pdom[v][p / 64] >> (p % 64) & 1) && count(p) == size - 1) {
          ipdom[v] = static_cast<int>(p);
          break;
        }
    }
  }
};

struct Visit {                         // one execution of a basic block by one thread
  int node;
  size_t first, end;                   // its accesses: log[first..end) without the block event
};

// Replay the block's logs warp by warp (see above); called by the block's last thread.
void account_block(unsigned nthreads) {
  ControlFlow flow;
  // Every path starts at a virtual entry: the threads may differ from the start (a pool thread
  // runs the C++ runtime's one-time set-up of its thread-local variables on its first launch).
  const int entry = flow.node(UINTPTR_MAX);
  std::vector<std::vector<Visit>> paths(nthreads);
  for (unsigned t = 0; t < nthreads; ++t) {
    const std::vector<Event>& log = traffic.logs[t];
    paths[t].push_back({entry, 0, 0});
    for (size_t i = 0; i < log.size(); ++i) {
      if (log[i].array == nullptr) {
        const int node = flow.node(log[i].site);
        flow.edge(paths[t].back().node, node);
        paths[t].push_back({node, i + 1, i + 1});
      } else {
        paths[t].back().end = i + 1;
      }
    }
    flow.edge(paths[t].back().node, 0);
  }
  flow.compute_ipdom();

  struct Entry { int node; uint32_t mask; int reconverge; };
  std::vector<Entry> stack;
  std::vector<const Event*> request, split;
  std::vector<uint64_t> sectors;
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  for (unsigned warp = 0; warp * WARP_THREADS < nthreads; ++warp) {
    const unsigned base = warp * WARP_THREADS, lanes = std::min(WARP_THREADS, nthreads - base);
    size_t at[WARP_THREADS] = {};   // each thread's position on its path
    auto node_of = [&](unsigned l) { return at[l] < paths[base + l].size() ? paths[base + l][at[l]].node : 0; };
    stack.assign(1, {entry, lanes == WARP_THREADS ? ~0u : (1u << lanes) - 1, 0});
    while (!stack.empty()) {
      Entry top = stack.back();
      if (top.node == top.reconverge || top.node == 0 || top.mask == 0) {   // arrived, or done
        stack.pop_back();
        continue;
      }
      uint32_t elsewhere = 0;   // threads of the mask not at this block: done, or (in a graph the
      for (unsigned l = 0; l < lanes; ++l)   // threads did not all walk) on another path: in turn
        if ((top.mask >> l & 1) && node_of(l) != top.node) elsewhere |= 1u << l;
      if (elsewhere != 0) {
        stack.back().mask = top.mask &= ~elsewhere;
        for (unsigned l = 0; l < lanes; ++l)
          if ((elsewhere >> l & 1) && node_of(l) != 0) stack.insert(stack.end() - 1, {node_of(l), 1u << l, top.reconverge});
        continue;
      }
      // the block's accesses, instruction by instruction (the same straight-line code for all;
      // a visit's events are all accesses, since a block event starts the next visit). The k-th
      // accesses are one instruction unless a thread's pointer left the arrays (not logged) or
      // one instruction reads different arrays in different threads: each (instruction, array)
      // is then a request of its own, so that no sector is counted against another array.
      for (size_t k = 0;; ++k) {
        request.clear();
        for (unsigned l = 0; l < lanes; ++l) {
          if (!(top.mask >> l & 1)) continue;
          const Visit& v = paths[base + l][at[l]];
          if (v.first + k < v.end) request.push_back(&traffic.logs[base + l][v.first + k]);
        }
        if (request.empty()) break;
        std::sort(request.begin(), request.end(), [](const Event* a, const Event* b) {
          return a->array != b->array ? a->array < b->array : a->site < b->site;
        });
        for (size_t i = 0, j; i < request.size(); i = j) {
          for (j = i + 1; j < request.size() && request[j]->array == request[i]->array &&
                          request[j]->site == request[i]->site; ++j) {}
          split.assign(request.begin() + i, request.begin() + j);
          account_request(split, sectors, ranges);
        }
      }
      // where each thread goes next
      uint32_t next_masks[WARP_THREADS] = {};
      int next_nodes[WARP_THREADS];
      int groups = 0;
      for (unsigned l = 0; l < lanes; ++l) {
        if (!(top.mask >> l & 1)) continue;
        ++at[l];
        const int node = node_of(l);
        int g = 0;
        while (g < groups && next_nodes[g] != node) ++g;
        if (g == groups) next_nodes[groups++] = node;
        next_masks[g] |= 1u << l;
      }
      stack.pop_back();
      if (groups == 1) {
        stack.push_back({next_nodes[0], top.mask, top.reconverge});
        continue;
      }
      // they branch apart: they meet again at the branch's immediate post-dominator
      const int join = std::max(flow.ipdom[top.node], 0);
      stack.push_back({join, top.mask, top.reconverge});
      for (int g = groups - 1; g >= 0; --g)
        if (next_nodes[g] != join) stack.push_back({next_nodes[g], next_masks[g], join});
    }
  }
  for (unsigned t = 0; t < nthreads; ++t) traffic.logs[t].clear();
}

// Only accesses to the launch's arrays are logged: those to shared memory, local arrays, the
// built-in variables and the trampoline's argument block are not counted.
inline void record(bool store, uintptr_t site, const void* address, unsigned size) {
  if (traffic_log == nullptr) return;
  const uintptr_t at = reinterpret_cast<uintptr_t>(address);
  if (ArrayTraffic* array = array_of(at)) traffic_log->push_back({site, at, size, store, array});
}

inline void record_block(uintptr_t site) {
  if (traffic_log != nullptr) traffic_log->push_back({site, 0, 0, false, nullptr});
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
    if (traffic.on) account_block(L.nthreads);
    // The poison's stores to shared memory are no kernel's: kept out of the log, should the
    // compiler ever instrument its memset (g++ 12 does not).
    std::vector<Event>* log = traffic_log;
    traffic_log = nullptr;
    L.poison();
    traffic_log = log;
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
  traffic_log = traffic.on ? &traffic.logs[linear] : nullptr;
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

// The hooks that GCC's outline address instrumentation calls before every load and store, and
// its coverage tracing at the start of every basic block, of a module built for traffic
// recording (and only of such a module). Not in a build for a sanitizer, whose runtime defines
// them (traffic.py refuses to record under one).
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define MINICNN_SIM_HOOKS(size)                                                                  \
  extern "C" void __asan_load##size##_noabort(const void* p) {                                  \
    record(false, reinterpret_cast<uintptr_t>(__builtin_return_address(0)), p, size);           \
  }                                                                                              \
  extern "C" void __asan_store##size##_noabort(const void* p) {                                 \
    record(true, reinterpret_cast<uintptr_t>(__builtin_return_address(0)), p, size);            \
  }
MINICNN_SIM_HOOKS(1)
MINICNN_SIM_HOOKS(2)
MINICNN_SIM_HOOKS(4)
MINICNN_SIM_HOOKS(8)
MINICNN_SIM_HOOKS(16)
#undef MINICNN_SIM_HOOKS
extern "C" void __asan_loadN_noabort(const void* p, size_t size) {
  record(false, reinterpret_cast<uintptr_t>(__builtin_return_address(0)), p, static_cast<unsigned>(size));
}
extern "C" void __asan_storeN_noabort(const void* p, size_t size) {
  record(true, reinterpret_cast<uintptr_t>(__builtin_return_address(0)), p, static_cast<unsigned>(size));
}
extern "C" void __asan_handle_no_return() {}
extern "C" void __sanitizer_cov_trace_pc() { record_block(reinterpret_cast<uintptr_t>(__builtin_return_address(0))); }
#endif

// Record the traffic of the next launch to the `count` arrays [begins[i], begins[i] + bytes[i]),
// and to the module's shared memory [shared_begin, shared_begin + shared_bytes) as array `count`
// (when shared_bytes > 0; its bank passes, see account_shared_request).
extern "C" void minicnn_sim_traffic_begin(int count, const uintptr_t* begins, const uint64_t* bytes,
                                          uintptr_t shared_begin, uint64_t shared_bytes) {
  std::lock_guard<std::mutex> serial(launch_mutex);
  traffic.arrays.assign(count + (shared_bytes > 0 ? 1 : 0), ArrayTraffic());
  for (int i = 0; i < count; ++i) {
    ArrayTraffic& a = traffic.arrays[i];
    a.begin = begins[i];
    a.end = begins[i] + bytes[i];
    uint64_t sectors = bytes[i] / SECTOR_BYTES + 2;   // an array need not start on a sector
    for (auto& bits : a.touched) bits.assign(sectors / 64 + 1, 0);
  }
  if (shared_bytes > 0) {
    ArrayTraffic& a = traffic.arrays[count];
    a.begin = shared_begin;
    a.end = shared_begin + shared_bytes;
    a.shared = true;
  }
  traffic.logs.assign(1024, {});   // the most threads a block may have
  traffic.on = true;
}

// Stop recording; per array, out[8 i ...] = load requests, load sectors, load bytes requested,
// store requests, store sectors, store bytes, sectors loaded at least once, sectors stored at
// least once; for shared memory (the last, when recorded) load requests, wavefronts, least
// wavefronts, the same of the stores, 0, 0.
extern "C" void minicnn_sim_traffic_end(uint64_t* out) {
  std::lock_guard<std::mutex> serial(launch_mutex);
  traffic.on = false;
  for (size_t i = 0; i < traffic.arrays.size(); ++i) {
    ArrayTraffic& a = traffic.arrays[i];
    for (int kind = 0; kind < 2; ++kind) {
      for (int c = 0; c < 3; ++c) out[8 * i + 3 * kind + c] = a.counts[kind][c];
      uint64_t touched = 0;
      for (uint64_t word : a.touched[kind]) touched += __builtin_popcountll(word);
      out[8 * i + 6 + kind] = touched;
    }
  }
  traffic.arrays.clear();
  traffic.logs.clear();
}
