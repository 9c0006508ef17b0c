// The runtime of minicnn's kernel simulator, one shared library loaded before every simulated
// module (see cuda_sim.h for the model).
//
// Threads: each thread of a block is a fiber, a context with a stack of its own (ucontext), and
// the thread that launches the kernel runs them in turn. A fiber runs until it reaches a
// __syncthreads or the end of its block and hands back to the launcher, which resumes the next;
// when every thread of the block waits at the barrier, the launcher resumes them all for the
// next stretch, and when every one is done with the block, it runs the next block with the same
// fibers. Each stretch runs the threads in a new random order, so a thread that reads what
// another writes with no barrier between them finds it unwritten (NaN) about half the time.
// A switch between fibers stays in user space: the first design ran the threads as operating-
// system threads sleeping on futexes, and a simulated kernel spent most of its time in the
// kernel's scheduler (conv3's forward and backward at batch 1: 5.9 s of system time for 1.0 s
// of user time, 1.4 million context switches). On x86-64 the switch is a few instructions of
// our own (switch_stacks, below), not swapcontext, which makes a system call each way.
//
// Under the sanitizers the fibers are announced to them: AddressSanitizer is told of every
// switch of stacks; ThreadSanitizer sees each fiber as a thread of its own, whose only
// synchronisation with the block's other threads is what a GPU gives them (a __syncthreads, the
// end of the block), so that a race between two threads is reported whatever order they ran in.
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cuda_sim.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
// The runtime's own bookkeeping (the built-in variables, the barrier's counters) is the
// simulated hardware's, not memory the kernels share: ThreadSanitizer does not check it.
#define MINICNN_SIM_HARDWARE __attribute__((no_sanitize_thread))
// The same for the library code such bookkeeping calls (the containers' methods, memcpy), which
// the attribute does not reach: ignored while an object of this type lives in the fiber.
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
struct HardwareOnly {
  HardwareOnly() { __tsan_ignore_thread_begin(); }
  ~HardwareOnly() { __tsan_ignore_thread_end(); }
};
#else
#define MINICNN_SIM_HARDWARE
struct HardwareOnly {};
#endif

// Set by the launcher before it resumes a thread (threadIdx) or starts a block (blockIdx).
uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim;
dim3 gridDim;

namespace {

typedef minicnn_sim::Trampoline Trampoline;

struct Abort {};  // thrown through kernel code to unwind a thread after an error

struct Fiber {                          // one thread of the block
  ucontext_t context;                   // where it stands while switched out: swapcontext's
  void* stack_pointer = nullptr;        // or switch_stacks's (saved registers on its own stack)
  char* stack = nullptr;                // STACK_BYTES, above a guard page
  unsigned linear = 0;                  // its linear index in the block (x fastest)
  uint3 index{};                        // its threadIdx
  bool exited = true;                   // done with the launch (or not yet given one)
  struct Copy {                         // an asynchronous copy to shared memory (cp.async)
    void* slot;
    unsigned char value[16];            // the source's value, read when the copy was issued
    unsigned bytes;
  };
  std::vector<Copy> copies;             // issued, not landed: oldest first
  enum State { RUNNING, AT_BARRIER, AT_WARP, DONE } state = RUNNING;   // where it handed back
  struct WarpCollective* waiting = nullptr;   // AT_WARP: the collective it waits for
  void* tsan = nullptr;                 // ThreadSanitizer's context of the fiber
  void* fake_stack = nullptr;           // AddressSanitizer's, while the fiber is switched out
};

// A fiber's stack, as large as a POSIX thread's stack was here; a kernel's frames need a few
// kB, a sanitizer's report more. Reserved, not committed: untouched pages cost nothing.
constexpr size_t STACK_BYTES = 1 << 20;

// A warp-level collective in progress (__shfl_sync, __ballot_sync, __syncwarp, ...; cuda_sim.h):
// the lanes of `mask` of one warp each deposit a value of up to 8 bytes and wait until every lane
// of the mask has, then each copies all 32 deposits and goes on. A lane that reaches the next
// collective with the same mask before the others have read this one starts a new one.
struct WarpCollective {
  unsigned warp = 0;
  uint32_t mask = 0, arrived = 0, unread = 0;   // lanes: the mask, those that deposited, those yet to read
  int line = 0;
  unsigned char deposits[32][8] = {};
  char sync = 0;                        // ThreadSanitizer's synchronisation object (__syncwarp)
};

struct Launch {
  const char* kernel = "";
  Trampoline call = nullptr;
  void (*poison)() = nullptr;
  void** args = nullptr;
  unsigned nthreads = 0;
  unsigned long nblocks = 0;
  unsigned long block = 0;              // the block running (linear index, x fastest)
  unsigned arrived = 0;                 // threads waiting at the current __syncthreads
  unsigned stretch = 0;                 // the stretches between barriers run so far in the block
  int barrier_line = 0;                 // its source line
  unsigned finished = 0;                // threads done with the current block
  unsigned at_warp = 0;                 // threads waiting at a warp collective
  std::vector<std::unique_ptr<WarpCollective>> collectives;   // of the current block, in progress
  bool aborted = false;
  std::string error;
};

Launch launch_state;
std::vector<Fiber> fibers;              // grown up to the largest block launched, then reused
Fiber* current = nullptr;               // the fiber running, or null in the launcher
ucontext_t launcher;                    // the launching thread's context while a fiber runs
void* launcher_stack_pointer = nullptr; // the same for switch_stacks
[[maybe_unused]] const void* launcher_stack = nullptr;   // its stack, for AddressSanitizer
[[maybe_unused]] size_t launcher_stack_bytes = 0;
[[maybe_unused]] void* launcher_tsan = nullptr;          // its ThreadSanitizer context
std::minstd_rand shuffler;              // the order of each stretch (the same in every run)
std::mutex launch_mutex;                // one launch at a time in the process

// ThreadSanitizer's happens-before edges between the threads of a block (nothing elsewhere):
// whatever a thread did before happens_before(x) happens before what any thread does after a
// later happens_after(x). The barriers take turns with two objects: a thread leaving barrier k
// acquires what was released arriving at barrier k, and not what the threads that ran before it
// in the stretch after barrier k released arriving at barrier k + 1 (with one object it did, and
// ThreadSanitizer saw the accesses of a stretch that ends at a barrier as ordered: their races
// went unreported).
char barrier_sync[2], block_sync, exit_sync;
inline void happens_before(char* sync) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(sync);
#else
  (void)sync;
#endif
}
inline void happens_after(char* sync) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(sync);
#else
  (void)sync;
#endif
}

// "thread (x,y,z) of block (x,y,z)": the running thread's name, or fiber t's (in the launcher).
std::string thread_name(const uint3& index) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "thread (%u,%u,%u) of block (%u,%u,%u)", index.x, index.y, index.z,
                blockIdx.x, blockIdx.y, blockIdx.z);
  return buf;
}
std::string thread_name() { return thread_name(threadIdx); }
std::string fiber_name(unsigned t) { return thread_name(fibers[t].index); }

// ---- memory traffic (minicnn/simulator/traffic.py) ------------------------------------------
// A module built for traffic recording is compiled with GCC's ThreadSanitizer instrumentation
// (-fsanitize=thread, a call per access, without its runtime) and its basic-block tracing
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
//
// Races between blocks: every access to a global array also checks which blocks of the launch
// touched the element before. Two blocks may both read an element, but once one block writes it
// no other may read or write it in the same launch: a GPU runs the blocks in no set order, many
// at once, so the other block may see the element before the write or after it. Such a kernel
// runs in every order here too (the blocks are shuffled), but it may give the right answer in
// the order that ran; this check reports it whatever the order (compute-sanitizer's racecheck
// looks at shared memory only). The fibers of one block are ThreadSanitizer's to check.
struct ElementUse {                    // one element of a global array, in the launch so far
  uint32_t writer = 0, reader = 0;     // the block that wrote it, and that read it, plus 1 (0:
                                       // none; reader MANY_READERS: two blocks or more)
  uintptr_t writer_site = 0, reader_site = 0;   // where (the first reader's)
};
constexpr uint32_t MANY_READERS = UINT32_MAX;

struct ArrayTraffic {                  // one array argument of the launch, or shared memory
  uintptr_t begin = 0, end = 0;
  bool shared = false;
  std::string name;                    // the kernel's parameter name (global arrays)
  unsigned itemsize = 1;               // bytes of an element
  uint64_t counts[2][3] = {};          // [load, store][requests, sectors, bytes requested];
                                       // shared: [requests, wavefronts, least wavefronts]
  std::vector<uint64_t> touched[2];    // [load, store]: one bit per sector of the array
  std::vector<ElementUse> uses;        // per element (global arrays): the races between blocks
};

struct Event {                         // a basic block entered, or an access to an array; 16
                                       // bytes, as the logs of a block can take hundreds of MB
  uintptr_t address;
  uint32_t site;                       // the hook's return address (the block, or the instruction),
                                       // its low 32 bits: distinct within a module's code
  uint16_t size;                       // bytes accessed (record refuses more)
  uint8_t array;                       // 1 + the array's index in traffic.arrays; 0 for a basic block
  bool store;
};

static_assert(sizeof(Event) == 16, "an Event is 16 bytes: the replay reads the logs from memory");

struct Visit {                         // one execution of a basic block by one thread
  int node;
  uint32_t first, end;                 // its accesses: log[first..end) without the block event
};

struct Traffic {
  bool on = false;                     // the launch's accesses are checked for races between blocks
  bool counting = false;               // and, when on, counted (a recording in progress)
  std::vector<ArrayTraffic> arrays;
  std::vector<std::vector<Event>> logs;   // per linear thread of the block
  std::vector<std::vector<Visit>> paths;  // per thread: its logs as visits (account_block), kept
                                          // with their capacity from block to block
};

Traffic traffic;
std::vector<Event>* traffic_log = nullptr;   // the running thread's log (set as it is resumed)
constexpr size_t MAX_TRAFFIC_ARRAYS = 255;   // what Event::array can name

// The array an access event names.
ArrayTraffic& event_array(const Event* e) { return traffic.arrays[e->array - 1]; }

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
  uint64_t* counts = event_array(accesses.front()).counts[accesses.front()->store ? 1 : 0];
  counts[0] += 1;
  counts[1] += wavefronts;
  counts[2] += (words.size() + BANKS - 1) / BANKS;
}

// One request: the sectors its threads' accesses touch, and the distinct bytes they ask for
// (threads that read the same value, a broadcast, ask for its bytes once), counted once each.
// The accesses are one instruction's, in one array.
void account_request(const std::vector<const Event*>& accesses, std::vector<uint64_t>& sectors,
                     std::vector<std::pair<uintptr_t, uintptr_t>>& ranges) {
  if (event_array(accesses.front()).shared) return account_shared_request(accesses, sectors);
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
  ArrayTraffic* array = &event_array(accesses.front());
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

  std::pair<uintptr_t, int> recent[256];   // a direct-mapped cache in front of `number`, which
                                           // every basic block entered asks: hashing was slow
  ControlFlow() { std::fill(std::begin(recent), std::end(recent), std::make_pair(uintptr_t(0), -1)); }

  int node(uintptr_t site) {
    std::pair<uintptr_t, int>& cached = recent[(site ^ site >> 8) & 255];
    if (cached.second >= 0 && cached.first == site) return cached.second;
    auto found = number.find(site);   // (not emplace: it would allocate a node at every call)
    if (found != number.end()) {
      cached = {site, found->second};
      return found->second;
    }
    const int n = static_cast<int>(successors.size());
    cached = {site, n};
    number.emplace(site, n);
    successors.emplace_back();
    ipdom.push_back(-1);
    return n;
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
    std::vector<uint64_t> meet(words);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t v = 1; v < n; ++v) {
        meet.assign(words, successors[v].empty() ? 0 : ~0ull);
        for (int s : successors[v])
          for (size_t w = 0; w < words; ++w) meet[w] &= pdom[s][w];
        meet[v / 64] |= 1ull << (v % 64);
        if (meet != pdom[v]) {
          pdom[v] = meet;
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

// Replay the block's logs warp by warp (see above); called by the block's last thread.
void account_block(unsigned nthreads) {
  ControlFlow flow;
  // Every path starts at a virtual entry, so that the graph has one root whatever basic block
  // each thread's log begins with.
  const int entry = flow.node(UINTPTR_MAX);
  std::vector<std::vector<Visit>>& paths = traffic.paths;
  if (paths.size() < nthreads) paths.resize(nthreads);
  for (unsigned t = 0; t < nthreads; ++t) {
    const std::vector<Event>& log = traffic.logs[t];
    paths[t].assign(1, {entry, 0, 0});
    for (size_t i = 0; i < log.size(); ++i) {
      if (log[i].array == 0) {
        const int node = flow.node(log[i].site);
        flow.edge(paths[t].back().node, node);
        paths[t].push_back({node, static_cast<uint32_t>(i + 1), static_cast<uint32_t>(i + 1)});
      } else {
        paths[t].back().end = static_cast<uint32_t>(i + 1);
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
  const Event* visit_events[WARP_THREADS];   // each active thread's accesses in the current visit
  size_t visit_lengths[WARP_THREADS];
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
      // (Each active thread's visit is looked up once, not once per instruction: the logs of a
      // block can take hundreds of MB, and these lookups were most of a recording's time.)
      unsigned active = 0;
      size_t longest = 0;
      for (unsigned l = 0; l < lanes; ++l) {
        if (!(top.mask >> l & 1)) continue;
        const std::vector<Visit>& path = paths[base + l];
        const Visit& v = path[at[l]];
        // the logs are far larger than the caches: ask for the visits and accesses to come
        if (at[l] + 8 < path.size()) __builtin_prefetch(&path[at[l] + 8]);
        if (at[l] + 4 < path.size()) __builtin_prefetch(traffic.logs[base + l].data() + path[at[l] + 4].first);
        visit_events[active] = traffic.logs[base + l].data() + v.first;
        visit_lengths[active++] = v.end - v.first;
        longest = std::max<size_t>(longest, v.end - v.first);
      }
      for (size_t k = 0; k < longest; ++k) {
        request.clear();
        bool one_instruction = true;   // every access of one site and one array: no sort needed
        for (unsigned i = 0; i < active; ++i) {
          if (k >= visit_lengths[i]) continue;
          const Event* e = visit_events[i] + k;
          if (!request.empty() && (e->array != request.front()->array || e->site != request.front()->site))
            one_instruction = false;
          request.push_back(e);
        }
        if (one_instruction) {
          account_request(request, sectors, ranges);
          continue;
        }
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

[[noreturn]] void fail(const std::string& message);

std::string block_name(unsigned long linear) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "block (%lu,%lu,%lu)", linear % gridDim.x, linear / gridDim.x % gridDim.y,
                linear / ((unsigned long)gridDim.x * gridDim.y));
  return buf;
}

// " at {site MODULE+0xOFFSET}", which the Python side turns into the source file and line.
std::string site_name(uintptr_t site) {
  Dl_info info;
  if (site == 0 || dladdr(reinterpret_cast<void*>(site), &info) == 0 || info.dli_fname == nullptr) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "+0x%lx}", static_cast<unsigned long>(site - reinterpret_cast<uintptr_t>(info.dli_fbase)));
  return std::string(" at {site ") + info.dli_fname + buf;
}

// The running thread's access to `array` checked against the other blocks' (see ElementUse).
void check_blocks(ArrayTraffic& array, bool store, uintptr_t site, uintptr_t at, unsigned size) {
  const uint32_t me = static_cast<uint32_t>(launch_state.block + 1);
  const uint64_t first = (at - array.begin) / array.itemsize;
  const uint64_t last = std::min<uint64_t>((at + size - 1 - array.begin) / array.itemsize, array.uses.size() - 1);
  for (uint64_t e = first; e <= last; ++e) {
    ElementUse& use = array.uses[e];
    uint32_t other = 0;
    uintptr_t other_site = 0;
    if (use.writer != 0 && use.writer != me) {
      other = use.writer;
      other_site = use.writer_site;
    } else if (store && use.reader != 0 && use.reader != me) {
      other = use.reader;
      other_site = use.reader_site;
    }
    if (other != 0)
      fail("a race between blocks: " + thread_name() + (store ? " writes " : " reads ") + array.name + "[" +
           std::to_string(e) + "]" + site_name(site) + ", which " +
           (other == MANY_READERS ? std::string("other blocks") : block_name(other - 1)) + " of the launch " +
           (other == use.writer ? "wrote" : "read") + site_name(other_site) +
           " (a GPU runs the blocks of a launch in no set order, many at once: an element that one block "
           "writes may not be read or written by another in the same launch)");
    if (store) {
      use.writer = me;
      use.writer_site = site;
    } else if (use.reader == 0) {
      use.reader = me;
      use.reader_site = site;
    } else if (use.reader != me) {
      use.reader = MANY_READERS;
    }
  }
}

// Only accesses to the launch's arrays are logged: those to shared memory, local arrays, the
// built-in variables and the trampoline's argument block are not counted.
inline void record(bool store, uintptr_t site, const void* address, unsigned size, bool atomic = false) {
  if (traffic_log == nullptr) return;
  const uintptr_t at = reinterpret_cast<uintptr_t>(address);
  if (ArrayTraffic* array = array_of(at)) {
    if (!array->shared && !atomic) check_blocks(*array, store, site, at, size);
    if (!traffic.counting) return;
    if (size > UINT16_MAX) fail(thread_name() + " accesses " + std::to_string(size) + " bytes at once" + site_name(site) +
                                "; the traffic recording counts at most 65535 bytes an access");
    traffic_log->push_back({at, static_cast<uint32_t>(site), static_cast<uint16_t>(size),
                            static_cast<uint8_t>(array - traffic.arrays.data() + 1), store});
  }
}

inline void record_block(uintptr_t site) {
  if (traffic_log != nullptr && traffic.counting) traffic_log->push_back({0, static_cast<uint32_t>(site), 0, 0, false});
}

// ---- switching between the launcher and the fibers -------------------------------------------
// Two ways. swapcontext (ucontext.h) saves and restores the signal mask with a system call each
// way: two system calls a fiber per barrier, most of a barrier-heavy kernel's time (a test run of
// the fused and GEMM kernels: 13 s of its 31 in the operating system, 2.2 million calls).
// switch_stacks(&save, load), on x86-64: pushes the registers the System V ABI makes a callee
// keep (rbp, rbx, r12-r15) and the SSE and x87 control words onto the running stack, stores the
// stack pointer in *save, takes `load` as the stack pointer and pops the same from there, then
// returns where that stack's own switch_stacks was called. A fiber's first switch returns into
// fiber_main instead (start_stack builds that frame). It saves no signal mask (the fibers do not
// touch it) and no shadow stack: where the process runs with one (x86's CET, which swapcontext
// does switch), MINICNN_SIM_CONTEXT=ucontext, or another processor, the fibers use swapcontext.
// Its first 4 bytes are endbr64: a no-op, which marks a valid target of indirect calls where the
// processor checks them (CET's indirect branch tracking).
#if defined(__x86_64__) && defined(__ELF__)
#define MINICNN_SIM_SWITCH_STACKS 1
extern "C" void minicnn_sim_switch_stacks(void** save, void* load);
asm(R"(
  .text
  .p2align 4
  .globl minicnn_sim_switch_stacks
  .hidden minicnn_sim_switch_stacks
  .type minicnn_sim_switch_stacks, @function
minicnn_sim_switch_stacks:
  .byte 0xf3, 0x0f, 0x1e, 0xfa
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size minicnn_sim_switch_stacks, .-minicnn_sim_switch_stacks
)");
#endif

// Whether the fibers switch by swapcontext (decided once; see above).
bool by_ucontext() {
  static const bool chosen = [] {
#if MINICNN_SIM_SWITCH_STACKS
    const char* asked = std::getenv("MINICNN_SIM_CONTEXT");
    if (asked != nullptr && std::strcmp(asked, "ucontext") == 0) return true;
    unsigned long features = 0;   // ARCH_SHSTK_STATUS (Linux 6.6): bit 0, a shadow stack is on
    return syscall(SYS_arch_prctl, 0x5005, &features) == 0 && (features & 1) != 0;
#else
    return true;
#endif
  }();
  return chosen;
}

// The launcher resumes fiber `f` until it hands back. The launcher's writes happen before the
// fiber's reads (ThreadSanitizer's switch with synchronisation): the arguments, the poisoned
// shared memory, the blocks before this one. threadIdx is set here, not by the fiber.
MINICNN_SIM_HARDWARE void resume(Fiber& f) {
  current = &f;
  f.state = Fiber::RUNNING;
  threadIdx = f.index;
  traffic_log = traffic.on ? &traffic.logs[f.linear] : nullptr;
#if defined(__SANITIZE_THREAD__)
  __tsan_switch_to_fiber(f.tsan, 0);
#endif
#if defined(__SANITIZE_ADDRESS__)
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, f.stack, STACK_BYTES);
#endif
#if MINICNN_SIM_SWITCH_STACKS
  if (!by_ucontext())
    minicnn_sim_switch_stacks(&launcher_stack_pointer, f.stack_pointer);
  else
#endif
    swapcontext(&launcher, &f.context);
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  current = nullptr;
  traffic_log = nullptr;
}

// The running fiber hands back to the launcher, to be resumed later (or never, `for_good`).
// Nothing of the fiber's happens before the launcher's next steps by this switch: the threads
// of a block meet only where happens_before/happens_after say.
MINICNN_SIM_HARDWARE void hand_back([[maybe_unused]] bool for_good = false) {
  Fiber& self = *current;
#if defined(__SANITIZE_THREAD__)
  __tsan_switch_to_fiber(launcher_tsan, __tsan_switch_to_fiber_no_sync);
#endif
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(for_good ? nullptr : &self.fake_stack, launcher_stack, launcher_stack_bytes);
#endif
#if MINICNN_SIM_SWITCH_STACKS
  if (!by_ucontext())
    minicnn_sim_switch_stacks(&self.stack_pointer, launcher_stack_pointer);
  else
#endif
    swapcontext(&self.context, &launcher);
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(self.fake_stack, &launcher_stack, &launcher_stack_bytes);
#endif
}

// The first error of the launch, recorded (the launcher calls this for errors found between fibers).
MINICNN_SIM_HARDWARE void fail_launch(const std::string& message) {
  Launch& L = launch_state;
  if (!L.aborted) {
    L.error = std::string("kernel ") + L.kernel + ": " + message;
    L.aborted = true;
  }
}

// Record the first error and unwind the running fiber.
[[noreturn]] MINICNN_SIM_HARDWARE void fail(const std::string& message) {
  fail_launch(message);
  throw Abort();
}

// Called by every thread after the kernel body returns for the current block: it waits for the
// launcher to start the next block (or to end the launch).
MINICNN_SIM_HARDWARE void finish_block() {
  Launch& L = launch_state;
  if (L.aborted) throw Abort();
  if (L.arrived > 0)
    fail(thread_name() + " returned while other threads of its block wait at the __syncthreads at line " +
         std::to_string(L.barrier_line));
  Fiber& self = *current;
  if (const size_t n = self.copies.size())
    fail(thread_name() + " returned before waiting for " + std::to_string(n) +
         (n == 1 ? " asynchronous copy" : " asynchronous copies") + " to shared memory (copy_wait)");
  ++L.finished;
  happens_before(&block_sync);
  self.state = Fiber::DONE;
  hand_back();
  if (L.aborted) throw Abort();
}

// A fiber's life in one launch: the kernel for each block of the grid in turn (the launcher
// sets blockIdx between them), then back to the launcher for good.
MINICNN_SIM_HARDWARE void fiber_main() {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(nullptr, &launcher_stack, &launcher_stack_bytes);
#endif
  Launch& L = launch_state;
  Fiber& self = *current;
  try {
    for (unsigned long b = 0; b < L.nblocks && !L.aborted; ++b) {
      L.call(L.args);
      finish_block();
    }
  } catch (Abort&) {
  } catch (...) {
    try {
      fail(thread_name() + " raised a C++ exception");
    } catch (Abort&) {
    }
  }
  self.exited = true;
  happens_before(&exit_sync);
  hand_back(true);
}

// Fiber f's stack made ready for its first switch into fiber_main.
MINICNN_SIM_HARDWARE void start_stack(Fiber& f) {
#if MINICNN_SIM_SWITCH_STACKS
  if (!by_ucontext()) {   // the frame switch_stacks pops, under a return address of fiber_main's own
    void** top = reinterpret_cast<void**>(f.stack + STACK_BYTES);   // 16-byte aligned
    *--top = nullptr;                                // fiber_main returns nowhere (it never returns)
    *--top = reinterpret_cast<void*>(&fiber_main);   // where the first switch returns to
    for (int r = 0; r < 6; ++r) *--top = nullptr;    // rbp, rbx, r12-r15
    --top;                                           // the launcher's SSE and x87 control words
    asm volatile("stmxcsr (%0)\n\tfnstcw 4(%0)" : : "r"(top) : "memory");
    f.stack_pointer = top;                           // fiber_main starts with rsp + 8 16-byte aligned
    return;
  }
#endif
  getcontext(&f.context);
  f.context.uc_link = nullptr;
  f.context.uc_stack.ss_sp = f.stack;
  f.context.uc_stack.ss_size = STACK_BYTES;
  makecontext(&f.context, fiber_main, 0);
  // makecontext has placed the stack; AddressSanitizer's swapcontext would otherwise clear the
  // shadow of the whole megabyte at every switch into the fiber (and forget the red zones of
  // its suspended frames)
  f.context.uc_stack.ss_size = 0;
}

// Fibers 0..n-1 ready to start the launch's first block: stacks allocated where the pool is
// smaller than the block, every context made anew. False, with the message, where a stack
// cannot be allocated.
MINICNN_SIM_HARDWARE bool prepare_fibers(unsigned n, char* error, int error_size) {
  const size_t guard = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  while (fibers.size() < n) {
    void* region = mmap(nullptr, guard + STACK_BYTES, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (region == MAP_FAILED || mprotect(region, guard, PROT_NONE) != 0) {   // an overflow faults
      std::snprintf(error, error_size, "kernel %s: could not allocate the stack of thread %zu of %u (%s)",
                    launch_state.kernel, fibers.size(), n, std::strerror(errno));
      if (region != MAP_FAILED) munmap(region, guard + STACK_BYTES);
      return false;
    }
    fibers.emplace_back();
    fibers.back().stack = static_cast<char*>(region) + guard;
#if defined(__SANITIZE_THREAD__)
    fibers.back().tsan = __tsan_create_fiber(0);
#endif
  }
  for (unsigned t = 0; t < n; ++t) {
    Fiber& f = fibers[t];
    f.linear = t;
    f.index = {t % blockDim.x, t / blockDim.x % blockDim.y, t / (blockDim.x * blockDim.y)};
    f.exited = false;
    f.copies.clear();
    start_stack(f);
  }
  return true;
}

MINICNN_SIM_HARDWARE void start_block(unsigned long b) {
  blockIdx.x = b % gridDim.x;
  blockIdx.y = b / gridDim.x % gridDim.y;
  blockIdx.z = b / ((unsigned long)gridDim.x * gridDim.y);
  launch_state.block = b;
  launch_state.finished = 0;
  launch_state.stretch = 0;
  launch_state.collectives.clear();
}

// Every fiber of the stretch has handed back and none can go on, but `t` waits at a warp
// collective: the error names the lanes it waits for and where they are.
MINICNN_SIM_HARDWARE void fail_stuck_at_warp(unsigned t) {
  const Launch& L = launch_state;
  const WarpCollective& c = *fibers[t].waiting;
  std::string missing;
  for (unsigned lane = 0; lane < 32; ++lane) {
    if (!(c.mask >> lane & 1) || (c.arrived >> lane & 1)) continue;
    const unsigned u = c.warp * 32 + lane;
    missing += "; lane " + std::to_string(lane);
    if (u >= L.nthreads) {
      missing += " does not exist (the block has " + std::to_string(L.nthreads) + " threads)";
    } else if (fibers[u].state == Fiber::DONE) {
      missing += " has returned";
    } else if (fibers[u].state == Fiber::AT_BARRIER) {
      missing += " waits at the __syncthreads at line " + std::to_string(L.barrier_line);
    } else if (fibers[u].state == Fiber::AT_WARP) {
      missing += " waits at the warp collective at line " + std::to_string(fibers[u].waiting->line) +
                 " (another mask, or another round)";
    }
  }
  char mask[16];
  std::snprintf(mask, sizeof mask, "0x%08x", c.mask);
  fail_launch(fiber_name(t) + " waits forever at the warp collective at line " + std::to_string(c.line) + " with mask " +
              mask + missing + " (every lane of the mask must reach it)");
}

// Run the launch's blocks one after another; every fiber has exited when it returns.
// The blocks run in a random order, as a GPU promises none: a kernel whose block reads what
// another block of the same launch writes finds it unwritten whenever the reader runs first.
MINICNN_SIM_HARDWARE void run_blocks() {
  Launch& L = launch_state;
  std::vector<unsigned> order(L.nthreads), ready;
  std::iota(order.begin(), order.end(), 0u);
  std::vector<unsigned long> blocks(L.nblocks);
  std::iota(blocks.begin(), blocks.end(), 0ul);
  std::shuffle(blocks.begin(), blocks.end(), shuffler);
  for (unsigned long b = 0; b < L.nblocks && !L.aborted; ++b) {
    start_block(blocks[b]);
    for (;;) {   // stretches between barriers: each thread runs to the next one, or to its end
      std::shuffle(order.begin(), order.end(), shuffler);
      // Rounds: every thread first, then, in a new random order, those whose warp collective
      // the others of its mask have all reached, until each thread waits at the barrier or is
      // done with the block.
      for (const std::vector<unsigned>* round = &order; !L.aborted;) {
        for (unsigned t : *round) {
          resume(fibers[t]);
          if (L.aborted) break;
        }
        if (L.aborted || L.at_warp == 0) break;
        ready.clear();
        unsigned stuck = L.nthreads;
        for (unsigned t = 0; t < L.nthreads; ++t) {
          if (fibers[t].state != Fiber::AT_WARP) continue;
          if (fibers[t].waiting->arrived == fibers[t].waiting->mask) ready.push_back(t);
          else stuck = std::min(stuck, t);
        }
        if (ready.empty()) {
          fail_stuck_at_warp(stuck);
          break;
        }
        std::shuffle(ready.begin(), ready.end(), shuffler);
        round = &ready;
      }
      if (L.aborted || L.finished == L.nthreads) break;
      L.arrived = 0;   // every thread waits at the same __syncthreads (anything else failed)
      ++L.stretch;
    }
    if (L.aborted) break;
    happens_after(&block_sync);
    if (traffic.counting) account_block(L.nthreads);
    L.poison();   // for the next block (the poison's stores are no thread's: no log is set)
  }
  // The fibers waiting for a next block leave; after an error, the others unwind (a fiber
  // that has not started sees the error and leaves at once).
  for (unsigned t = 0; t < L.nthreads; ++t)
    while (!fibers[t].exited) resume(fibers[t]);
  happens_after(&exit_sync);
}

}  // namespace

extern "C" MINICNN_SIM_HARDWARE void minicnn_sim_syncthreads(int line) {
  Launch& L = launch_state;
  if (L.aborted) throw Abort();
  if (L.finished > 0)
    fail(thread_name() + " reached the __syncthreads at line " + std::to_string(line) +
         " after another thread of its block had returned (every thread must reach it)");
  if (L.arrived == 0) {
    L.barrier_line = line;
  } else if (L.barrier_line != line) {
    fail("divergent __syncthreads: " + thread_name() + " waits at line " + std::to_string(line) +
         " while others wait at line " + std::to_string(L.barrier_line));
  }
  ++L.arrived;
  char* const barrier = &barrier_sync[L.stretch % 2];
  happens_before(barrier);
  current->state = Fiber::AT_BARRIER;
  hand_back();
  if (L.aborted) throw Abort();
  happens_after(barrier);
}

// cp.async (kernels/copy_async.cuh): a thread's copies wait in its fiber until it calls
// copy_wait, whose code then writes them (so that the kernel's instrumentation sees the stores).
extern "C" MINICNN_SIM_HARDWARE void minicnn_sim_copy_async(void* slot, const void* value, unsigned bytes) {
  Fiber& self = *current;
  if (bytes > sizeof(Fiber::Copy::value)) fail("an asynchronous copy of " + std::to_string(bytes) + " bytes (at most 16)");
  Fiber::Copy copy{slot, {}, bytes};
  std::memcpy(copy.value, value, bytes);
  self.copies.push_back(copy);
}

// A 16-byte access (a float4's or double2's copy, cuda_sim.h) at an address that is not a multiple
// of 16, which a GPU refuses.
extern "C" [[noreturn]] MINICNN_SIM_HARDWARE void minicnn_sim_misaligned(const void* address, int store,
                                                                         const char* file, int line) {
  const unsigned past = static_cast<unsigned>(reinterpret_cast<uintptr_t>(address) % 16);
  std::string where;
  if (file != nullptr) {
    const char* slash = std::strrchr(file, '/');
    where = std::string(", at ") + (slash ? slash + 1 : file) + ":" + std::to_string(line);
  }
  fail(thread_name() + (store ? " writes a 16-byte vector (float4, double2) to" : " reads a 16-byte vector (float4, "
       "double2) from") + " an address " + std::to_string(past) + " bytes past a multiple of 16" + where +
       ": a GPU makes 16-byte accesses only at multiples of 16 and stops the kernel (misaligned address)");
}

extern "C" MINICNN_SIM_HARDWARE int minicnn_sim_copy_landed(void** slot, void* value, unsigned bytes) {
  Fiber& self = *current;
  if (self.copies.empty()) return 0;
  const Fiber::Copy& oldest = self.copies.front();
  if (oldest.bytes != bytes)
    fail("an asynchronous copy of " + std::to_string(oldest.bytes) + " bytes waited for as one of " +
         std::to_string(bytes));
  *slot = oldest.slot;
  std::memcpy(value, oldest.value, bytes);
  self.copies.erase(self.copies.begin());
  return 1;
}

// Warp-level intrinsics (cuda_sim.h): the running thread's part in a collective of `kind` among
// the lanes of `mask` of its warp (threads 32w..32w+31 of the block in linear order). It deposits
// `bytes` of `value` and waits until every lane of the mask has deposited, then writes to `result`
// what the intrinsic returns: the value of the lane a shuffle reads (computed from `argument` and
// `width` as CUDA does), or the vote. Only __syncwarp orders memory between the lanes
// (ThreadSanitizer's edges); a shuffle exchanges registers.
enum WarpKind { SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_XOR, BALLOT, ANY, ALL, SYNCWARP };
const char* const WARP_KIND_NAMES[] = {"__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync",
                                       "__ballot_sync", "__any_sync", "__all_sync", "__syncwarp"};

extern "C" MINICNN_SIM_HARDWARE void minicnn_sim_warp_collective(int kind, uint32_t mask, const void* value,
                                                                 unsigned bytes, int argument, int width, int line,
                                                                 void* result) {
  const HardwareOnly hardware;   // the collective's bookkeeping is the simulated warp's
  Launch& L = launch_state;
  if (L.aborted) throw Abort();
  Fiber& self = *current;
  const unsigned warp = self.linear / 32, lane = self.linear % 32;
  // the words of an error message, made only for one (every lane of every shuffle comes here)
  auto where = [&] { return std::string(WARP_KIND_NAMES[kind]) + " at line " + std::to_string(line); };
  auto mask_text = [&] {
    char text[16];
    std::snprintf(text, sizeof text, "0x%08x", mask);
    return std::string(text);
  };
  if (!(mask >> lane & 1))
    fail(thread_name() + " (lane " + std::to_string(lane) + ") calls " + where() + " with mask " + mask_text() +
         ", which leaves it out");
  if (width < 1 || width > 32 || (width & (width - 1)) != 0)
    fail(thread_name() + " calls " + where() + " with width " + std::to_string(width) +
         " (a power of 2 from 1 to 32)");
  // the collective of this warp and mask that this lane has not reached yet, or a new one
  WarpCollective* c = nullptr;
  for (auto& open : L.collectives)
    if (open->warp == warp && open->mask == mask && !(open->arrived >> lane & 1)) {
      c = open.get();
      break;
    }
  if (c == nullptr) {
    L.collectives.push_back(std::make_unique<WarpCollective>());
    c = L.collectives.back().get();
    c->warp = warp;
    c->mask = c->unread = mask;
    c->line = line;
  } else if (c->line != line) {
    fail("divergent warp collectives: " + thread_name() + " reaches " + where() + " while other lanes of mask " +
         mask_text() + " wait at line " + std::to_string(c->line));
  }
  std::memcpy(c->deposits[lane], value, std::min<unsigned>(bytes, sizeof c->deposits[lane]));
  c->arrived |= 1u << lane;
  if (kind == SYNCWARP) happens_before(&c->sync);
  while (c->arrived != c->mask) {   // the launcher resumes it once every lane has arrived
    self.state = Fiber::AT_WARP;
    self.waiting = c;
    ++L.at_warp;
    hand_back();
    --L.at_warp;
    self.waiting = nullptr;
    if (L.aborted) throw Abort();
  }
  if (kind == SYNCWARP) happens_after(&c->sync);
  const unsigned base = lane & ~static_cast<unsigned>(width - 1), within = lane - base;
  unsigned source = lane;
  switch (kind) {
    case SHFL_IDX: source = base + (static_cast<unsigned>(argument) & (width - 1)); break;
    case SHFL_UP: if (within >= static_cast<unsigned>(argument)) source = lane - argument; break;
    case SHFL_DOWN: if (within + static_cast<unsigned>(argument) < static_cast<unsigned>(width)) source = lane + argument; break;
    case SHFL_XOR: if ((lane ^ static_cast<unsigned>(argument)) < base + width) source = lane ^ argument; break;
    default: break;
  }
  if (kind <= SHFL_XOR) {
    if (source >= 32 || !(mask >> source & 1))
      fail(thread_name() + " (lane " + std::to_string(lane) + ") reads lane " + std::to_string(source) + " with " +
           where() + ", which is not in the mask " + mask_text() + " (its value is undefined)");
    std::memcpy(result, c->deposits[source], bytes);
  } else if (kind != SYNCWARP) {
    uint32_t ballot = 0;
    for (unsigned l = 0; l < 32; ++l)
      if ((mask >> l & 1) && c->deposits[l][0] != 0) ballot |= 1u << l;   // predicates deposited as 0 or 1
    const uint32_t answer = kind == BALLOT ? ballot : kind == ANY ? ballot != 0 : ballot == mask;
    std::memcpy(result, &answer, sizeof answer);
  }
  c->unread &= ~(1u << lane);
  if (c->unread == 0)
    L.collectives.erase(std::find_if(L.collectives.begin(), L.collectives.end(),
                                     [c](const std::unique_ptr<WarpCollective>& p) { return p.get() == c; }));
}

// How the fibers switch: "switch_stacks" or "ucontext" (see by_ucontext).
extern "C" const char* minicnn_sim_fiber_switch() { return by_ucontext() ? "ucontext" : "switch_stacks"; }

// Run `call` on grid x block threads; returns 0, or 1 with the message in `error`.
extern "C" MINICNN_SIM_HARDWARE int minicnn_sim_launch(const char* kernel, Trampoline call, void (*poison)(),
                                                       const unsigned* grid, const unsigned* block, void** args,
                                                       char* error, int error_size) {
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
  L.aborted = false;
  L.error.clear();
  poison();
  if (!prepare_fibers(L.nthreads, error, error_size)) return 1;
#if defined(__SANITIZE_THREAD__)
  launcher_tsan = __tsan_get_current_fiber();
#endif
  run_blocks();
  if (L.aborted) {
    std::snprintf(error, error_size, "%s", L.error.c_str());
    return 1;
  }
  return 0;
}

// The hooks that GCC's ThreadSanitizer instrumentation calls before every load and store (with
// no ThreadSanitizer runtime: these take its place), and its coverage tracing at the start of
// every basic block, of a module built for traffic recording (and only of such a module). Not in
// a build for a sanitizer, whose runtime defines them (traffic.py refuses to record under one).
// ThreadSanitizer's instrumentation, not AddressSanitizer's: the latter checks an address once
// where it is accessed twice in a row, so the store of a read-modify-write (y[i] += b) called no
// hook and went uncounted.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define MINICNN_SIM_SITE reinterpret_cast<uintptr_t>(__builtin_return_address(0))
#define MINICNN_SIM_HOOKS(size)                                                                           \
  extern "C" void __tsan_read##size(const void* p) { record(false, MINICNN_SIM_SITE, p, size); }         \
  extern "C" void __tsan_write##size(void* p) { record(true, MINICNN_SIM_SITE, p, size); }               \
  extern "C" void __tsan_unaligned_read##size(const void* p) { record(false, MINICNN_SIM_SITE, p, size); } \
  extern "C" void __tsan_unaligned_write##size(void* p) { record(true, MINICNN_SIM_SITE, p, size); }
MINICNN_SIM_HOOKS(1)
MINICNN_SIM_HOOKS(2)
MINICNN_SIM_HOOKS(4)
MINICNN_SIM_HOOKS(8)
MINICNN_SIM_HOOKS(16)
#undef MINICNN_SIM_HOOKS
extern "C" void __tsan_read_range(const void* p, size_t size) {
  record(false, MINICNN_SIM_SITE, p, static_cast<unsigned>(size));
}
extern "C" void __tsan_write_range(void* p, size_t size) {
  record(true, MINICNN_SIM_SITE, p, static_cast<unsigned>(size));
}
extern "C" void __tsan_init() {}
extern "C" void __tsan_func_entry(void*) {}
extern "C" void __tsan_func_exit() {}
// Atomics (cuda_sim.h's): done here, each counted as a load and a store of its element, and left
// out of the check for races between blocks (blocks may share an element through atomics).
inline void record_atomic(uintptr_t site, const volatile void* address, unsigned size) {   // a load and a store
  record(false, site, const_cast<const void*>(address), size, true);
  record(true, site, const_cast<const void*>(address), size, true);
}
#define MINICNN_SIM_ATOMICS(bits, type)                                                                   \
  extern "C" type __tsan_atomic##bits##_load(const volatile type* a, int) {                                \
    record(false, MINICNN_SIM_SITE, const_cast<const type*>(a), sizeof(type), true);                      \
    return __atomic_load_n(a, __ATOMIC_SEQ_CST);                                                          \
  }                                                                                                       \
  extern "C" void __tsan_atomic##bits##_store(volatile type* a, type v, int) {                             \
    record(true, MINICNN_SIM_SITE, const_cast<type*>(a), sizeof(type), true);                             \
    __atomic_store_n(a, v, __ATOMIC_SEQ_CST);                                                             \
  }                                                                                                       \
  extern "C" type __tsan_atomic##bits##_exchange(volatile type* a, type v, int) {                          \
    record_atomic(MINICNN_SIM_SITE, a, sizeof(type));                                                     \
    return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST);                                                   \
  }                                                                                                       \
  extern "C" type __tsan_atomic##bits##_fetch_add(volatile type* a, type v, int) {                         \
    record_atomic(MINICNN_SIM_SITE, a, sizeof(type));                                                     \
    return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST);                                                    \
  }                                                                                                       \
  extern "C" type __tsan_atomic##bits##_fetch_sub(volatile type* a, type v, int) {                         \
    record_atomic(MINICNN_SIM_SITE, a, sizeof(type));                                                     \
    return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST);                                                    \
  }                                                                                                       \
  extern "C" int __tsan_atomic##bits##_compare_exchange_strong(volatile type* a, type* expected, type v,    \
                                                               int, int) {                                \
    record_atomic(MINICNN_SIM_SITE, a, sizeof(type));                                                     \
    return __atomic_compare_exchange_n(a, expected, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);         \
  }
MINICNN_SIM_ATOMICS(32, int32_t)
MINICNN_SIM_ATOMICS(64, int64_t)
#undef MINICNN_SIM_ATOMICS
extern "C" void __sanitizer_cov_trace_pc() { record_block(MINICNN_SIM_SITE); }
#undef MINICNN_SIM_SITE
#endif

// Check the next launch for races between blocks in the `count` arrays [begins[i], begins[i] +
// bytes[i]) (elements of itemsizes[i] bytes, parameter names[i]) and, when `counting`, record
// its traffic to them and to the module's shared memory [shared_begin, shared_begin +
// shared_bytes) as array `count` (when shared_bytes > 0; its bank passes, see
// account_shared_request).
extern "C" void minicnn_sim_traffic_begin(int count, const uintptr_t* begins, const uint64_t* bytes,
                                          const uint64_t* itemsizes, const char* const* names,
                                          uintptr_t shared_begin, uint64_t shared_bytes, int counting) {
  std::lock_guard<std::mutex> serial(launch_mutex);
  if (static_cast<size_t>(count) + 1 > MAX_TRAFFIC_ARRAYS) {   // a kernel with hundreds of array parameters
    std::fprintf(stderr, "minicnn simulator: %d arrays in one launch, more than its traffic log can name\n", count);
    std::abort();
  }
  traffic.arrays.assign(count + (shared_bytes > 0 ? 1 : 0), ArrayTraffic());
  for (int i = 0; i < count; ++i) {
    ArrayTraffic& a = traffic.arrays[i];
    a.begin = begins[i];
    a.end = begins[i] + bytes[i];
    a.name = names[i];
    a.itemsize = static_cast<unsigned>(std::max<uint64_t>(1, itemsizes[i]));
    a.uses.assign(bytes[i] / a.itemsize + 1, ElementUse());
    uint64_t sectors = bytes[i] / SECTOR_BYTES + 2;   // an array need not start on a sector
    if (counting)
      for (auto& bits : a.touched) bits.assign(sectors / 64 + 1, 0);
  }
  if (shared_bytes > 0) {
    ArrayTraffic& a = traffic.arrays[count];
    a.begin = shared_begin;
    a.end = shared_begin + shared_bytes;
    a.shared = true;
  }
  traffic.counting = counting != 0;
  traffic.logs.assign(1024, {});   // the most threads a block may have
  traffic.on = true;
}

// Stop recording; per array, out[8 i ...] = load requests, load sectors, load bytes requested,
// store requests, store sectors, store bytes, sectors loaded at least once, sectors stored at
// least once; for shared memory (the last, when recorded) load requests, wavefronts, least
// wavefronts, the same of the stores, 0, 0.
extern "C" void minicnn_sim_traffic_end(uint64_t* out) {
  std::lock_guard<std::mutex> serial(launch_mutex);
  traffic.on = traffic.counting = false;
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
  traffic.logs.clear();   // their memory: a block's logs can take hundreds of MB
  traffic.paths.clear();
}
