// LRN then max pooling in one pass (minicnn/layers/lrn_maxpool.py): AlexNet's norm1+pool1 and
// norm2+pool2. The LRN output is never written: the forward computes the LRN values of each
// pooling window as it needs them and keeps only the maxima and their positions, and the
// backward computes them again. Saved against the two layers: the LRN output and its scale
// (written and read back forward), and the LRN's input gradient from the pooling (written and
// read back backward). The price is arithmetic: with 3x3 windows at stride 2 each LRN value is
// computed about 2.25 times forward. Every value uses lrn.cuh's and maxpool.cuh's operations in
// their order, so the results equal LRN then max-pool.
//
// Layout: x, dx (N, C, H, W); y, argmax, dout (N, C, OH, OW); argmax as in maxpool.cu (the
// winner's h * W + w in its plane). LRN groups: the caller passes (N * G, C / G, H, W).
#include "lrn.cuh"
#include "maxpool.cuh"

// Launch: grid-stride, one thread per output pixel column (n, oh, ow), walking down the channels
// (consecutive threads take consecutive output pixels).
extern "C" __global__ void lrn_maxpool_forward(const real_t* __restrict__ x, real_t* __restrict__ y,
                                               int* __restrict__ argmax, int batch, int channels, int height,
                                               int width, int out_h, int out_w, int kernel_h, int kernel_w,
                                               int stride_h, int stride_w, int pad_h, int pad_w, int size,
                                               real_t alpha_over_size, real_t beta, real_t k) {
  const int before = size / 2, after = (size - 1) / 2;
  const int spatial = height * width, out_spatial = out_h * out_w;
  GRID_STRIDE_LOOP(column, batch * out_spatial) {
    const int n = column / out_spatial, o = column % out_spatial;
    int h_start, h_end, w_start, w_end;
    pool_window(o / out_w, o % out_w, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                h_start, h_end, w_start, w_end);
    const real_t* xn = x + n * channels * spatial;
    for (int c = 0; c < channels; ++c) {
      int best_index = -1;
      real_t best = real_t(0);
      for (int h = h_start; h < h_end; ++h) {
        for (int w = w_start; w < w_end; ++w) {
          const int p = h * width + w;
          const real_t s = lrn_scale(xn + p, c, channels, spatial, before, after, alpha_over_size, k);
          const real_t v = xn[c * spatial + p] * lrn_power(s, beta);
          if (best_index < 0 || v > best) {  // strict: the first maximum keeps the window
            best = v;
            best_index = p;
          }
        }
      }
      const int out = (n * channels + c) * out_spatial + o;
      y[out] = best;
      argmax[out] = best_index;
    }
  }
}

// dx[c] = g[c] * scale[c]^-beta - (2 alpha beta / size) * x[c] * sum_{c''} g[c''] lrn[c''] / scale[c'']
// over the c'' whose window holds c (as lrn_backward), where g = the pooling's gradient of the LRN
// output (pooled_grad) and lrn, scale are computed again from x. Each channel's two terms are
// computed once, when the walk down the column first needs them, and kept in two rings of
// LRN_MAX_SIZE registers (a window spans at most that many channels), so the recomputation
// costs each value once, not once per window that holds it.
// Launch: grid-stride, one thread per input pixel column (n, h, w), walking down the channels.
// as cuDNN's CUDNN_LRN_MAX_N, and a power of 2; minicnn/layers/lrn_maxpool.py checks it
#define LRN_MAX_SIZE 16
extern "C" __global__ void lrn_maxpool_backward(const real_t* __restrict__ dout, const int* __restrict__ argmax,
                                                const real_t* __restrict__ x, real_t* __restrict__ dx, int batch,
                                                int channels, int height, int width, int out_h, int out_w,
                                                int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h,
                                                int pad_w, int size, real_t alpha_over_size, real_t beta, real_t k,
                                                real_t two_alpha_beta_over_size) {
  const int before = size / 2, after = (size - 1) / 2;              // the window of channel c
  const int holders_before = (size - 1) / 2, holders_after = size / 2;  // the windows that hold c
  const int spatial = height * width, out_spatial = out_h * out_w;
  GRID_STRIDE_LOOP(column, batch * spatial) {
    const int n = column / spatial, p = column % spatial, h = p / width, w = p % width;
    const real_t* xc = x + n * channels * spatial + p;
    const real_t* dout_n = dout + n * channels * out_spatial;
    const int* argmax_n = argmax + n * channels * out_spatial;
    real_t direct[LRN_MAX_SIZE];  // g[j] * scale[j]^-beta, at j % LRN_MAX_SIZE
    real_t ratio[LRN_MAX_SIZE];   // g[j] * lrn[j] / scale[j], at j % LRN_MAX_SIZE
    int ready = 0;                // channels [0, ready) are in the rings
    for (int c = 0; c < channels; ++c) {
      const int lo = max(c - holders_before, 0), hi = min(c + holders_after, channels - 1);
      for (; ready <= hi; ++ready) {
        const real_t s = lrn_scale(xc, ready, channels, spatial, before, after, alpha_over_size, k);
        const real_t g = pooled_grad(dout_n + ready * out_spatial, argmax_n + ready * out_spatial, h, w, width,
                                     out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w);
        const real_t power = lrn_power(s, beta);
        direct[ready & (LRN_MAX_SIZE - 1)] = g * power;
        ratio[ready & (LRN_MAX_SIZE - 1)] = g * (xc[ready * spatial] * power) / s;
      }
      real_t spread = real_t(0);
      for (int j = lo; j <= hi; ++j) spread += ratio[j & (LRN_MAX_SIZE - 1)];
      dx[(n * channels + c) * spatial + p] =
          direct[c & (LRN_MAX_SIZE - 1)] - two_alpha_beta_over_size * xc[c * spatial] * spread;
    }
  }
}
