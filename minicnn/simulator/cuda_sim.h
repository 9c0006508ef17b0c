// The CUDA shim of minicnn's kernel simulator: enough of CUDA C++ for g++ to compile the kernels
// in kernels/*.cu for the CPU, and the runtime that launches them.
//
// Model (the same as Numba's CUDA simulator):
//   * the blocks of a grid run one after another, in a random order (a GPU promises none);
//   * the threads of a block are fibers that the launching thread runs in turn (runtime.cpp),
//     each to its next __syncthreads or the end of the block, in a new random order between
//     barriers: __syncthreads() is a real barrier, and a missing one lets a thread read a value
//     before the thread that writes it has run (about half the time, in either direction);
//   * __shared__ variables are static storage in one linker section, shared by the threads of
//     the running block and filled with 0xFF bytes (NaN for floats, -1 for ints) before every
//     block, so that reading shared memory nobody wrote this block gives a visibly wrong answer
//     (under AddressSanitizer, plain statics with red zones instead: see __shared__ below);
//   * threadIdx is set as each thread is resumed, blockIdx as each block starts; blockDim and
//     gridDim are per launch;
//   * atomics are GCC's __atomic builtins (atomic on a real thread too; here no two run at once);
//   * asynchronous copies to shared memory (cp.async, kernels/copy_async.cuh) read their source
//     and poison their slot when issued, and write the value when the thread waits (copy_wait);
//   * the warp intrinsics of CUDA 9 and later (__shfl*_sync, __ballot/any/all_sync, __syncwarp)
//     are collectives of the lanes of their mask: each lane waits at one until every lane of the
//     mask has reached it, then the lanes go on in a random order.
// What it checks at run time: every thread of a block reaches the same __syncthreads (by source
// line), no thread returns while others wait at, or later reach, a __syncthreads, none returns
// with asynchronous copies it has not waited for, every lane of a warp intrinsic's mask reaches
// it (at the same line), and no shuffle reads a lane outside its mask.
// What it does not model: warps running in lockstep (a warp's lanes meet only at its intrinsics;
// the traffic recording replays the threads' accesses warp by warp, for coalescing and bank
// conflicts), timing, dynamic shared memory, __shared__ variables in templates (GCC ignores
// their section: refused), the order of float atomics, out-of-bounds accesses (an error there is
// a real memory error in this process: MINICNN_SIM_SANITIZE=address reports it, and
// MINICNN_SIM_SANITIZE=thread reports races between the threads of a block; see __init__.py).
// The Python side refuses kernels that use unmodelled constructs.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#define MINICNN_SIMULATOR 1

// ---- qualifiers --------------------------------------------------------------------------
#define __global__
#define __device__ inline
#define __host__
#define __forceinline__
#define __noinline__
#define __restrict__ __restrict
#define __launch_bounds__(...)   // checked at launch instead (minicnn/simulator/__init__.py, _trampolines)
// Shared memory: static storage in one section whose bounds the linker provides, so that the
// runtime can poison it before each block. (Static locals are shared by all threads, as
// __shared__ variables are shared by the threads of a block.) Under AddressSanitizer they are
// plain statics: GCC puts no red zones around the variables of a named section, and a read one
// past a __shared__ array would land, unreported, in the next one; as plain statics each has its
// red zones (memcheck's "invalid __shared__ read"), and they are not poisoned between blocks
// (the plain and ThreadSanitizer builds keep that, and so do the traffic builds, which count
// shared memory apart by the section).
#if defined(__SANITIZE_ADDRESS__)
#define __shared__ static
#else
#define __shared__ static __attribute__((section("minicnn_shared")))
#endif

#define __align__(n) __attribute__((aligned(n)))

// ---- built-in types --------------------------------------------------------
struct uint3 { unsigned int x, y, z; };
// The 16-byte vector types, as aligned as CUDA's. Copying one is one 16-byte access, as on a GPU
// (one ld.v4.f32 or ld.v2.f64): g++ would otherwise load the fields one by one where the copy's
// fields are used apart, and the traffic recording would count four requests (or two) for one.
// A GPU makes such an access only at a multiple of 16 bytes: elsewhere (a float4 read through a
// float pointer one float off, say) the kernel stops with "misaligned address", where a CPU would
// go through or fault without a word. So each copy checks both addresses, and names the line of
// the copy (the copy constructor's caller, __builtin_LINE() at the call); the traffic builds,
// which run kernels that passed, leave the check out.
extern "C" [[noreturn]] void minicnn_sim_misaligned(const void* address, int store, const char* file, int line);
inline void minicnn_sim_copy16(void* to, const void* from, const char* file, int line) {
#if !defined(MINICNN_SIM_TRAFFIC)
  if (reinterpret_cast<uintptr_t>(from) % 16) minicnn_sim_misaligned(from, 0, file, line);
  if (reinterpret_cast<uintptr_t>(to) % 16) minicnn_sim_misaligned(to, 1, file, line);
#endif
  typedef int words __attribute__((vector_size(16)));
  *static_cast<words*>(to) = *static_cast<const words*>(from);
}
struct alignas(16) float4 {
  float x, y, z, w;
  float4() = default;
  float4(const float4& other, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    minicnn_sim_copy16(this, &other, file, line);
  }
  float4& operator=(const float4& other) {   // (an operator takes no default arguments: no line)
    minicnn_sim_copy16(this, &other, nullptr, 0);
    return *this;
  }
};
struct alignas(16) double2 {
  double x, y;
  double2() = default;
  double2(const double2& other, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    minicnn_sim_copy16(this, &other, file, line);
  }
  double2& operator=(const double2& other) {
    minicnn_sim_copy16(this, &other, nullptr, 0);
    return *this;
  }
};
struct dim3 {
  unsigned int x, y, z;
  dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// ---- math and bit casts ------------------------------------------------------------------
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline unsigned int __float_as_uint(float f) { unsigned int i; std::memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }
template <typename T> inline T __ldg(const T* p) { return *p; }
// CUDA's min/max are overloaded device functions for the arithmetic types.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
using std::exp; using std::log; using std::sqrt; using std::pow; using std::fabs; using std::fmax;
using std::fmin; using std::floor; using std::ceil; using std::tanh; using std::fma;

// ---- atomics (sequentially consistent; float adds by compare-and-swap) -------------------
inline int atomicAdd(int* a, int v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }
inline unsigned int atomicAdd(unsigned int* a, unsigned int v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
  return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST);
}
inline int atomicSub(int* a, int v) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); }
inline int atomicExch(int* a, int v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }
inline int atomicCAS(int* a, int expected, int desired) {
  __atomic_compare_exchange_n(a, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;  // the old value, as CUDA returns it
}
inline unsigned int atomicCAS(unsigned int* a, unsigned int expected, unsigned int desired) {
  __atomic_compare_exchange_n(a, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;
}
inline int atomicMax(int* a, int v) {
  int old = __atomic_load_n(a, __ATOMIC_SEQ_CST);
  while (old < v && !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
  return old;
}
inline int atomicMin(int* a, int v) {
  int old = __atomic_load_n(a, __ATOMIC_SEQ_CST);
  while (old > v && !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
  return old;
}
template <typename F, typename I>
inline F minicnn_sim_atomic_add_float(F* address, F value) {
  I* bits = reinterpret_cast<I*>(address);
  I old = __atomic_load_n(bits, __ATOMIC_SEQ_CST), updated;
  F old_value, new_value;
  do {
    std::memcpy(&old_value, &old, sizeof(F));
    new_value = old_value + value;
    std::memcpy(&updated, &new_value, sizeof(F));
  } while (!__atomic_compare_exchange_n(bits, &old, updated, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  return old_value;
}
inline float atomicAdd(float* a, float v) { return minicnn_sim_atomic_add_float<float, uint32_t>(a, v); }
inline double atomicAdd(double* a, double v) { return minicnn_sim_atomic_add_float<double, uint64_t>(a, v); }

// ---- the runtime (runtime.cpp, one shared library for every simulated module) ---------------
// The built-in variables live in the runtime, which sets them for each simulated thread.
extern uint3 threadIdx;
extern uint3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;

namespace minicnn_sim {
typedef void (*Trampoline)(void** args);
}
extern "C" void minicnn_sim_syncthreads(int line);
// cp.async (kernels/copy_async.cuh): the running thread's copy of `bytes` bytes of `value` to the
// shared memory at `slot`, issued; and its oldest copy not yet landed, put in *slot and value (1),
// or nothing (0: all have landed).
extern "C" void minicnn_sim_copy_async(void* slot, const void* value, unsigned bytes);
extern "C" int minicnn_sim_copy_landed(void** slot, void* value, unsigned bytes);
extern "C" int minicnn_sim_launch(const char* kernel, minicnn_sim::Trampoline call, void (*poison)(),
                                  const unsigned int* grid, const unsigned int* block, void** args,
                                  char* error, int error_size);

// Each module poisons its own shared memory: the section bounds are per shared library.
extern "C" char __start_minicnn_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_minicnn_shared[] __attribute__((weak, visibility("hidden")));
static void minicnn_sim_poison_shared() {
  if (__start_minicnn_shared != nullptr)
    std::memset(__start_minicnn_shared, 0xFF, __stop_minicnn_shared - __start_minicnn_shared);
}

#define __syncthreads() minicnn_sim_syncthreads(__LINE__)

// ---- warp-level intrinsics --------------------------------------------------------------
// A warp is threads 32w..32w+31 of the block in linear order (x fastest). Each intrinsic is a
// collective of the lanes of its mask (runtime.cpp): every lane of the mask must reach it, at the
// same line, and each waits there until all have, as the _sync intrinsics of CUDA 9 and later
// promise. A shuffle reads the value the source lane passed (its own where CUDA says so: past
// the edge of a `width` segment); reading a lane outside the mask is an error, as its value is
// undefined on a GPU. Only __syncwarp orders memory between the lanes.
static constexpr int warpSize = 32;
extern "C" void minicnn_sim_warp_collective(int kind, unsigned mask, const void* value, unsigned bytes, int argument,
                                            int width, int line, void* result);
template <typename T>
inline T minicnn_sim_shuffle(int line, int kind, unsigned mask, T var, int argument, int width = warpSize) {
  static_assert(sizeof(T) <= 8, "a warp shuffle moves at most 8 bytes");
  T result;
  minicnn_sim_warp_collective(kind, mask, &var, sizeof(T), argument, width, line, &result);
  return result;
}
inline unsigned minicnn_sim_vote(int line, int kind, unsigned mask, int predicate) {
  const int deposit = predicate != 0;
  unsigned result = 0;
  minicnn_sim_warp_collective(kind, mask, &deposit, sizeof deposit, 0, warpSize, line, &result);
  return result;
}
inline unsigned minicnn_sim_full_mask(unsigned mask = 0xffffffffu) { return mask; }
#define __shfl_sync(...) minicnn_sim_shuffle(__LINE__, 0, __VA_ARGS__)
#define __shfl_up_sync(...) minicnn_sim_shuffle(__LINE__, 1, __VA_ARGS__)
#define __shfl_down_sync(...) minicnn_sim_shuffle(__LINE__, 2, __VA_ARGS__)
#define __shfl_xor_sync(...) minicnn_sim_shuffle(__LINE__, 3, __VA_ARGS__)
#define __ballot_sync(mask, predicate) minicnn_sim_vote(__LINE__, 4, mask, predicate)
#define __any_sync(mask, predicate) static_cast<int>(minicnn_sim_vote(__LINE__, 5, mask, predicate))
#define __all_sync(mask, predicate) static_cast<int>(minicnn_sim_vote(__LINE__, 6, mask, predicate))
#define __syncwarp(...) static_cast<void>(minicnn_sim_vote(__LINE__, 7, minicnn_sim_full_mask(__VA_ARGS__), 1))
