// The LRN arithmetic shared by lrn.cu and lrn_maxpool.cu, so that both compute every value with
// the same operations in the same order (the fused layer equals LRN then max-pool).
#pragma once
#include "common.cuh"

// The widest LRN window of the kernels that keep per-channel terms in fixed-size arrays (as
// cuDNN's CUDNN_LRN_MAX_N), and a power of 2: minicnn/layers/lrn.py checks it. The backward's two
// rings are indexed at run time, so ptxas puts them in local memory (2 x 16 values per thread,
// cached in L1), not in registers: benchmarks/kernel_resources.py shows it.
#define LRN_MAX_SIZE 16

__device__ __forceinline__ real_t lrn_power(real_t scale, real_t beta) {
  // AlexNet's beta = 0.75: scale^-0.75 with two square roots, as the CPU code computes it.
  return beta == real_t(0.75) ? real_t(1) / sqrt(scale * sqrt(scale)) : pow(scale, -beta);
}

// scale[c] = k + alpha / size * sum of x[j]^2 over j in [c - before, c + after] clipped to the
// channels, for the pixel column that starts at xc (channel stride `spatial`). The window is
// summed afresh from values the thread has just loaded (cache hits), not kept as Caffe's
// running sum (add the entering channel, subtract the leaving one), so there is no
// cancellation error when a large value leaves the window.
__device__ __forceinline__ real_t lrn_scale(const real_t* xc, int c, int channels, int spatial, int before,
                                            int after, real_t alpha_over_size, real_t k) {
  const int lo = max(c - before, 0), hi = min(c + after, channels - 1);
  real_t sum = real_t(0);
  for (int j = lo; j <= hi; ++j) sum += xc[j * spatial] * xc[j * spatial];
  return k + alpha_over_size * sum;
}

// The image, first channel and pixel of thread i of a launch over (image, chunk of `chunk`
// channels, pixel), pixel fastest: the threads of lrn.cu's and lrn_maxpool.cu's version 2.
__device__ __forceinline__ void lrn_chunk(int i, int channels, int spatial, int chunk, int& n, int& c_begin,
                                          int& p) {
  const int chunks = (channels + chunk - 1) / chunk;
  const int rest = i / spatial;
  p = i - rest * spatial;
  n = rest / chunks;
  c_begin = (rest - n * chunks) * chunk;
}

// The input gradient of channels [c_begin, c_end) of one pixel column, from x alone (the scale
// is computed again, nothing of the forward is read back):
//   dx[c] = g[c] * scale[c]^-beta - (2 alpha beta / size) * x[c] * sum_{c''} g[c''] lrn[c''] / scale[c'']
// over the c'' whose window holds c, c'' in [c - (size - 1) / 2, c + size / 2], where g(j) is the
// gradient that reaches the LRN output of channel j (dout for the LRN layer, the pooling's
// gradient for the fused layer). Each channel's two terms are computed once, when the walk first
// needs them, and kept in two rings of LRN_MAX_SIZE entries (a window spans at most that many
// channels); a walk that starts at c_begin > 0 first computes the size / 2 channels above it.
// xc, dxc: the column's channel 0; channel stride `spatial`.
template <class OutputGrad>
__device__ __forceinline__ void lrn_backward_walk(const real_t* xc, real_t* dxc, int c_begin, int c_end,
                                                  int channels, int spatial, int size, real_t alpha_over_size,
                                                  real_t beta, real_t k, real_t two_alpha_beta_over_size,
                                                  OutputGrad g) {
  const int before = size / 2, after = (size - 1) / 2;              // the window of channel c
  const int holders_before = (size - 1) / 2, holders_after = size / 2;  // the windows that hold c
  real_t direct[LRN_MAX_SIZE];  // g[j] * scale[j]^-beta, at j % LRN_MAX_SIZE
  real_t ratio[LRN_MAX_SIZE];   // g[j] * lrn[j] / scale[j], at j % LRN_MAX_SIZE
  int ready = max(c_begin - holders_before, 0);  // channels [.., ready) are in the rings
  for (int c = c_begin; c < c_end; ++c) {
    const int lo = max(c - holders_before, 0), hi = min(c + holders_after, channels - 1);
    for (; ready <= hi; ++ready) {
      const real_t s = lrn_scale(xc, ready, channels, spatial, before, after, alpha_over_size, k);
      const real_t grad = g(ready);
      const real_t power = lrn_power(s, beta);
      direct[ready & (LRN_MAX_SIZE - 1)] = grad * power;
      ratio[ready & (LRN_MAX_SIZE - 1)] = grad * (xc[ready * spatial] * power) / s;
    }
    real_t spread = real_t(0);
    for (int j = lo; j <= hi; ++j) spread += ratio[j & (LRN_MAX_SIZE - 1)];
    dxc[c * spatial] = direct[c & (LRN_MAX_SIZE - 1)] - two_alpha_beta_over_size * xc[c * spatial] * spread;
  }
}
