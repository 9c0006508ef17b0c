// Included by every kernel source: the one launch idiom of minicnn and small shared helpers.
//
// Each source is compiled twice, with -Dreal_t=float and -Dreal_t=double (kernels/__init__.py),
// by NVRTC for the GPU or by g++ for the kernel simulator (minicnn/simulator).
#pragma once

#ifndef real_t
#error "compile the kernels with -Dreal_t=float or -Dreal_t=double"
#endif

// The grid-stride loop (Caffe's CUDA_KERNEL_LOOP): thread t of a grid of T threads handles
// elements t, t + T, t + 2T, ... so any grid size covers any n, and minicnn.launch.grid_for
// picks just enough blocks to fill the device. Consecutive threads touch consecutive elements,
// so the loads and stores of a warp are coalesced.
#define GRID_STRIDE_LOOP(i, n) \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

// A small run-time count as a compile-time one, so that a loop over it unrolls into registers
// (an LRN window, the windows that cover a pixel): with_constant<3, 5>(n, f) calls f(Constant<n>())
// if n is one of the listed values, one instantiation each (f reads it as decltype(arg)::value),
// and nothing for any other n (the layers launch another version for those). A kernel's registers
// are those of its largest instantiation.
template <int N>
struct Constant {
  static constexpr int value = N;
};

template <int... Values, class F>
__device__ __forceinline__ void with_constant(int n, F f) {
  (void)((n == Values ? (f(Constant<Values>()), true) : false) || ...);
}

// Reductions use one block per output value (a block-stride loop over the values, so any grid
// covers them) and REDUCE_BLOCK threads, a power of two: minicnn.launch.REDUCE_BLOCK must match.
#define REDUCE_BLOCK 256
#define BLOCK_STRIDE_LOOP(j, count) for (int j = blockIdx.x; j < (count); j += gridDim.x)

// Tree reductions over the block in shared memory: each thread passes its value, every thread
// gets the block's total. Every thread of the block must call them (they hold barriers); the
// last barrier lets all threads read the result before `partial` is used again. The order of
// the additions is fixed, so the result is deterministic.
__device__ __forceinline__ real_t block_sum(real_t* partial, real_t value) {
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  real_t total = partial[0];
  __syncthreads();
  return total;
}

// The same total by warp shuffles: each warp sums its 32 values in registers (five shuffles down,
// lane 0 gets the sum), warp 0 sums the warps' sums the same way, and every thread reads the
// total: two barriers before it and one after, where block_sum's tree takes log2(blockDim.x) + 2
// (10 for REDUCE_BLOCK), and two rounds through shared memory, not eight. blockDim.x must be a
// multiple of 32 and at most 1024; `partial` holds at least blockDim.x / 32 values. The order of
// the additions is fixed (another than block_sum's), so the result is deterministic.
__device__ __forceinline__ real_t warp_sum(real_t value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
  return value;
}

__device__ __forceinline__ real_t block_sum_by_warps(real_t* partial, real_t value) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  value = warp_sum(value);
  if (lane == 0) partial[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = warp_sum(lane < blockDim.x / 32 ? partial[lane] : real_t(0));
    if (lane == 0) partial[0] = value;
  }
  __syncthreads();
  const real_t total = partial[0];
  __syncthreads();
  return total;
}

__device__ __forceinline__ real_t block_max(real_t* partial, real_t value) {
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half && partial[threadIdx.x + half] > partial[threadIdx.x])
      partial[threadIdx.x] = partial[threadIdx.x + half];
    __syncthreads();
  }
  real_t result = partial[0];
  __syncthreads();
  return result;
}

// The windows along one axis that cover input position i (row or column): the outputs o in
// [first, last) with o * stride - pad <= i < o * stride - pad + kernel. One division finds the
// last window that starts at or before i; a walk back finds the first (at most kernel / stride
// steps). Shared by max pooling's backward (maxpool.cu) and col2im (im2col.cu): the same windows.
__device__ __forceinline__ void covering_windows(int i, int kernel, int stride, int pad, int out, int& first,
                                                 int& last) {
  const int ip = i + pad;
  const int q = ip / stride;
  first = q + 1;
  while (first > 0 && (first - 1) * stride + kernel > ip) --first;
  last = min(q + 1, out);
}

// The first of a block's elements [first, first + count) of an array that this thread takes in a
// loop `for (int p = aligned_start(first); p < count; p += blockDim.x) if (p >= 0) ...`: the
// first (first mod 32) threads skip a turn, so that every warp's 32 elements start on a 128-byte
// line of the array (when the array's rows do), 4 whole sectors; a warp that straddles two lines
// stores 5 (im2col_v4, maxpool_backward_v4).
__device__ __forceinline__ int aligned_start(int first) { return int(threadIdx.x) - first % 32; }

// A conv output value: the product v of the GEMM plus the channel's bias, and with relu != 0 the
// fused ReLU (Conv2D(relu=True), minicnn/fusion.py), as relu_forward: max(v, 0). Shared by the
// layout kernel gemm_to_nchw_bias (im2col.cu) and the tiled GEMM's version 4 (gemm_tiled.cu),
// which gives the same bits either way.
__device__ __forceinline__ real_t biased_relu(real_t product, real_t bias, int relu) {
  const real_t v = product + bias;
  return (relu && !(v > real_t(0))) ? real_t(0) : v;
}
