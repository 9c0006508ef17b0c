// Inverted dropout (minicnn/layers/dropout.py). The mask is not stored: the backward draws it
// again from (key1, key2, i), which costs a few integer operations instead of a pass over memory.
//
// Layout: a contiguous (N, row) array, n = N * row elements. Element i draws the number of
// element (i / row) * row_stride + offset + i % row of the full draw: with row_stride = row and
// offset = 0 that is i itself; a tower of the two-device split that holds features
// [offset, offset + row) of a (N, row_stride) activation draws exactly its part of the
// single-device mask; a rank's part of a global batch adds its first row times row_stride to the
// offset (an unsigned 32-bit draw index: the layer checks that the whole draw fits).
// Launch: grid-stride, one thread per element.
// key1, key2: minicnn.counter_rng.stream_keys(seed, counter); keep = 1 / (1 - p).
#include "common.cuh"
#include "counter_rng.cuh"

__device__ __forceinline__ real_t dropout_mask(int i, int row, int row_stride, unsigned int offset,
                                               unsigned int key1, unsigned int key2, real_t p, real_t keep) {
  const unsigned int index = (unsigned int)(i / row) * (unsigned int)row_stride + offset + (unsigned int)(i % row);
  return counter_uniform(index, key1, key2) >= p ? keep : real_t(0);
}

// y[i] = x[i] * keep if u(i) >= p, else 0.
extern "C" __global__ void dropout_forward(const real_t* __restrict__ x, real_t* __restrict__ y, int n, int row,
                                           int row_stride, unsigned int offset, unsigned int key1, unsigned int key2,
                                           real_t p, real_t keep) {
  GRID_STRIDE_LOOP(i, n) {
    y[i] = x[i] * dropout_mask(i, row, row_stride, offset, key1, key2, p, keep);
  }
}

// dx[i] = dout[i] * mask[i], with the forward's mask drawn again.
extern "C" __global__ void dropout_backward(const real_t* __restrict__ dout, real_t* __restrict__ dx, int n,
                                            int row, int row_stride, unsigned int offset, unsigned int key1,
                                            unsigned int key2, real_t p, real_t keep) {
  GRID_STRIDE_LOOP(i, n) {
    dx[i] = dout[i] * dropout_mask(i, row, row_stride, offset, key1, key2, p, keep);
  }
}
