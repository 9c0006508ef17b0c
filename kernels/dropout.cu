// Inverted dropout (minicnn/layers/dropout.py). The mask is not stored: the backward draws it
// again from (key1, key2, i), which costs a few integer operations instead of a pass over memory.
//
// Layout: any contiguous array of n elements. Launch: grid-stride, one thread per element.
// key1, key2: minicnn.counter_rng.stream_keys(seed, counter); keep = 1 / (1 - p).
#include "common.cuh"
#include "counter_rng.cuh"

// y[i] = x[i] * keep if u(i) >= p, else 0.
extern "C" __global__ void dropout_forward(const real_t* __restrict__ x, real_t* __restrict__ y, int n,
                                           unsigned int key1, unsigned int key2, real_t p, real_t keep) {
  GRID_STRIDE_LOOP(i, n) {
    real_t mask = counter_uniform(i, key1, key2) >= p ? keep : real_t(0);
    y[i] = x[i] * mask;
  }
}

// dx[i] = dout[i] * mask[i], with the forward's mask drawn again.
extern "C" __global__ void dropout_backward(const real_t* __restrict__ dout, real_t* __restrict__ dx, int n,
                                            unsigned int key1, unsigned int key2, real_t p, real_t keep) {
  GRID_STRIDE_LOOP(i, n) {
    real_t mask = counter_uniform(i, key1, key2) >= p ? keep : real_t(0);
    dx[i] = dout[i] * mask;
  }
}
