// Local response normalisation across channels (minicnn/layers/lrn.py, Caffe's alpha / size
// convention):  scale[c] = k + alpha / size * sum_{c' in window(c)} x[c']^2,  y = x * scale^-beta
// with window(c) = [c - size / 2, c + (size - 1) / 2] clipped to the channels.
//
// Layout: x, y, scale, dout, dx (N, C, H, W), seen as N * H * W pixel columns of C channels
// each, channel stride H * W. Launch: grid-stride, one thread per pixel column, which walks
// down its column (as Caffe's LRNFillScale does). Consecutive threads take consecutive pixels,
// so every load and store is coalesced. Each window is summed afresh (lrn_scale, lrn.cuh).
#include "lrn.cuh"

extern "C" __global__ void lrn_forward(const real_t* __restrict__ x, real_t* __restrict__ y,
                                       real_t* __restrict__ scale, int batch, int channels, int spatial,
                                       int size, real_t alpha_over_size, real_t beta, real_t k) {
  const int before = size / 2, after = (size - 1) / 2;
  GRID_STRIDE_LOOP(column, batch * spatial) {
    const int offset = column / spatial * channels * spatial + column % spatial;
    const real_t* xc = x + offset;
    for (int c = 0; c < channels; ++c) {
      const real_t s = lrn_scale(xc, c, channels, spatial, before, after, alpha_over_size, k);
      scale[offset + c * spatial] = s;
      y[offset + c * spatial] = xc[c * spatial] * lrn_power(s, beta);
    }
  }
}

// dx[c] = dout[c] * scale[c]^-beta - (2 alpha beta / size) * x[c] * sum_{c''} dout[c''] y[c''] / scale[c'']
// over the c'' whose window holds c: c'' in [c - (size - 1) / 2, c + size / 2].
extern "C" __global__ void lrn_backward(const real_t* __restrict__ dout, const real_t* __restrict__ x,
                                        const real_t* __restrict__ y, const real_t* __restrict__ scale,
                                        real_t* __restrict__ dx, int batch, int channels, int spatial,
                                        int size, real_t beta, real_t two_alpha_beta_over_size) {
  const int before = (size - 1) / 2, after = size / 2;
  GRID_STRIDE_LOOP(column, batch * spatial) {
    const int offset = column / spatial * channels * spatial + column % spatial;
    for (int c = 0; c < channels; ++c) {
      const int lo = max(c - before, 0), hi = min(c + after, channels - 1);
      real_t spread = real_t(0);
      for (int j = lo; j <= hi; ++j) {
        const int at = offset + j * spatial;
        spread += dout[at] * y[at] / scale[at];
      }
      const int at = offset + c * spatial;
      dx[at] = dout[at] * lrn_power(scale[at], beta) - two_alpha_beta_over_size * x[at] * spread;
    }
  }
}
