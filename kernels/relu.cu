// ReLU forward and backward (minicnn/layers/relu.py).
//
// Layout: any contiguous array, treated as n elements. Two versions (minicnn/kernel_versions.py),
// which give the same values.
#include "common.cuh"

// ---- version 1: grid-stride, one element per thread and step -----------------------------------
// Launch: grid_for(n) blocks of 256 threads. Each thread has one load in flight at a time, so a
// multiprocessor keeps at most 2048 loads in flight: on an H100 that is short of what it takes to
// cover the memory latency at full bandwidth (version 1 reached 78% of the copy bandwidth).

// y[i] = max(x[i], 0)
extern "C" __global__ void relu_forward_v1(const real_t* __restrict__ x, real_t* __restrict__ y, int n) {
  GRID_STRIDE_LOOP(i, n) {
    real_t v = x[i];
    y[i] = v > real_t(0) ? v : real_t(0);
  }
}

// dx[i] = dout[i] where the output was positive (exactly where the input was), else 0.
extern "C" __global__ void relu_backward_v1(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                            real_t* __restrict__ dx, int n) {
  GRID_STRIDE_LOOP(i, n) {
    dx[i] = y[i] > real_t(0) ? dout[i] : real_t(0);
  }
}

// ---- version 2: RELU_ILP independent elements per thread and step ----------------------------
// Each step a thread loads RELU_ILP elements blockDim.x apart (every load still coalesced across
// the warp) before it stores any, so it has RELU_ILP loads in flight instead of one.
// Launch: grid_for(ceil(n / RELU_ILP)) blocks of 256 threads (minicnn/layers/relu.py).
#define RELU_ILP 4

extern "C" __global__ void relu_forward_v2(const real_t* __restrict__ x, real_t* __restrict__ y, int n) {
  const int step = gridDim.x * blockDim.x * RELU_ILP;
  for (int base = blockIdx.x * blockDim.x * RELU_ILP + threadIdx.x; base < n; base += step) {
    real_t v[RELU_ILP];
    for (int k = 0; k < RELU_ILP; ++k) {
      const int i = base + k * blockDim.x;
      v[k] = i < n ? x[i] : real_t(0);
    }
    for (int k = 0; k < RELU_ILP; ++k) {
      const int i = base + k * blockDim.x;
      if (i < n) y[i] = v[k] > real_t(0) ? v[k] : real_t(0);
    }
  }
}

extern "C" __global__ void relu_backward_v2(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                            real_t* __restrict__ dx, int n) {
  const int step = gridDim.x * blockDim.x * RELU_ILP;
  for (int base = blockIdx.x * blockDim.x * RELU_ILP + threadIdx.x; base < n; base += step) {
    real_t g[RELU_ILP], out[RELU_ILP];
    for (int k = 0; k < RELU_ILP; ++k) {
      const int i = base + k * blockDim.x;
      g[k] = i < n ? dout[i] : real_t(0);
      out[k] = i < n ? y[i] : real_t(0);
    }
    for (int k = 0; k < RELU_ILP; ++k) {
      const int i = base + k * blockDim.x;
      if (i < n) dx[i] = out[k] > real_t(0) ? g[k] : real_t(0);
    }
  }
}
