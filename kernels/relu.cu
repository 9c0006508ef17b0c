// ReLU forward and backward (minicnn/layers/relu.py).
//
// Layout: any contiguous array, treated as n elements. Launch: grid-stride, one thread per
// element, grid_for(n) blocks of 256 threads.
#include "common.cuh"

// y[i] = max(x[i], 0)
extern "C" __global__ void relu_forward(const real_t* __restrict__ x, real_t* __restrict__ y, int n) {
  GRID_STRIDE_LOOP(i, n) {
    real_t v = x[i];
    y[i] = v > real_t(0) ? v : real_t(0);
  }
}

// dx[i] = dout[i] where the output was positive (exactly where the input was), else 0.
extern "C" __global__ void relu_backward(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                         real_t* __restrict__ dx, int n) {
  GRID_STRIDE_LOOP(i, n) {
    dx[i] = y[i] > real_t(0) ? dout[i] : real_t(0);
  }
}
