// Hyperbolic tangent forward and backward (minicnn/layers/tanh.py), the saturating nonlinearity
// that ReLU replaced in AlexNet (the paper's section 3.1 and Figure 1).
//
// Layout: any contiguous array, treated as n elements.
// Launch: grid_for(n) blocks of 256 threads, grid-stride.
#include "common.cuh"

// y[i] = tanh(x[i])
extern "C" __global__ void tanh_forward(const real_t* __restrict__ x, real_t* __restrict__ y, int n) {
  GRID_STRIDE_LOOP(i, n) {
    y[i] = tanh(x[i]);
  }
}

// dx[i] = dout[i] (1 - y[i]^2): the derivative from the output, which the forward keeps, so that
// the backward reads no input and computes no tanh.
extern "C" __global__ void tanh_backward(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                         real_t* __restrict__ dx, int n) {
  GRID_STRIDE_LOOP(i, n) {
    const real_t t = y[i];
    dx[i] = dout[i] * (real_t(1) - t * t);
  }
}
