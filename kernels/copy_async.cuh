// Asynchronous copies from global to shared memory (PTX's cp.async, from sm_80): a thread issues
// copies, which the memory system carries out while the thread goes on computing, and copy_wait()
// returns once all of the thread's copies have landed in shared memory. A loop can thus copy the
// next slice of its operands while it computes with this one (the tiled GEMM's version 9), with no
// registers to hold the values in between, as a load into registers would need.
//
// The rules are those of any write to shared memory, one step later: a thread's copies are
// visible to the thread itself after its copy_wait, and to the block's other threads after a
// __syncthreads that follows the copy_wait of every thread that issued them.
//
// Three builds of the same calls:
//   * the GPU, sm_80 and later: cp.async.ca (through L1, 4 or 8 bytes) with a source size of 0
//     where there is no source, which writes zeros and reads nothing (the address given is then
//     that of zero_fill_source, a valid one); copy_wait is cp.async.wait_all;
//   * the GPU before sm_80: plain loads and stores, and copy_wait does nothing;
//   * the kernel simulator: a copy may land any time between the copy and the wait, so the slot
//     is poisoned (NaN) at the copy and gets its value at the thread's copy_wait. The source is read
//     at the copy (where the traffic recording counts the load; the poison is left out of its
//     builds) and the value written at the wait (where it counts the store). A thread that reads
//     the slot before its copy_wait, or another thread that reads it without a barrier after that
//     wait, finds the poison; so does a thread that still reads the slot's old value when another
//     copies into it without a barrier between (ThreadSanitizer reports both races). A thread that
//     returns with copies it has not waited for is an error (minicnn/simulator/runtime.cpp).
#pragma once

#if defined(MINICNN_SIMULATOR)

__device__ __forceinline__ void copy_async(real_t* slot, const real_t* source) {
  const real_t value = source ? *source : real_t(0);
  minicnn_sim_copy_async(slot, &value, sizeof value);
#if !defined(MINICNN_SIM_TRAFFIC)
  *slot = real_t(NAN);   // landing, not yet landed
#endif
}
__device__ __forceinline__ void copy_wait() {
  real_t* slot;
  real_t value;
  while (minicnn_sim_copy_landed(reinterpret_cast<void**>(&slot), &value, sizeof value)) *slot = value;
}

#else

// The address a copy with no source names (never read). Declared for every architecture: nvcc's
// host pass sees the device variables of all of them.
__device__ real_t zero_fill_source;

// *slot = *source, or 0 where source is null, by the thread's next copy_wait.
__device__ __forceinline__ void copy_async(real_t* slot, const real_t* source) {
#if __CUDA_ARCH__ >= 800
  const unsigned shared = static_cast<unsigned>(__cvta_generic_to_shared(slot));
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(shared),
               "l"(source ? source : &zero_fill_source), "n"(sizeof(real_t)), "r"(source ? int(sizeof(real_t)) : 0)
               : "memory");
#else
  *slot = source ? *source : real_t(0);
#endif
}

__device__ __forceinline__ void copy_wait() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}

#endif
