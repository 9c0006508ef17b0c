// The LRN arithmetic shared by lrn.cu and lrn_maxpool.cu, so that both compute every value with
// the same operations in the same order (the fused layer equals LRN then max-pool).
#pragma once
#include "common.cuh"

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
