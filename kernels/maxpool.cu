// Max pooling with overlapping windows (minicnn/layers/maxpool.py), floor mode, padding that
// never wins (a window starts at its first real pixel).
//
// Layout: x and dx (planes, H, W); y, argmax and dout (planes, OH, OW); planes = N * C.
// argmax holds the winner's index h * W + w within its plane (ties: the first in row-major
// window order, as PyTorch and cuDNN).
#include "common.cuh"

// Launch: grid-stride, one thread per output element.
extern "C" __global__ void maxpool_forward(const real_t* __restrict__ x, real_t* __restrict__ y,
                                           int* __restrict__ argmax, int planes, int height, int width,
                                           int out_h, int out_w, int kernel_h, int kernel_w,
                                           int stride_h, int stride_w, int pad_h, int pad_w) {
  GRID_STRIDE_LOOP(i, planes * out_h * out_w) {
    const int ow = i % out_w, oh = i / out_w % out_h, plane = i / (out_w * out_h);
    const int h0 = oh * stride_h - pad_h, w0 = ow * stride_w - pad_w;
    const int h_start = max(h0, 0), h_end = min(h0 + kernel_h, height);
    const int w_start = max(w0, 0), w_end = min(w0 + kernel_w, width);
    const real_t* x_plane = x + plane * height * width;
    int best_index = h_start * width + w_start;
    real_t best = x_plane[best_index];
    for (int h = h_start; h < h_end; ++h) {
      for (int w = w_start; w < w_end; ++w) {
        const real_t v = x_plane[h * width + w];
        if (v > best) {  // strict: the first maximum keeps the window
          best = v;
          best_index = h * width + w;
        }
      }
    }
    y[i] = best;
    argmax[i] = best_index;
  }
}

// Gather form: one thread per input pixel sums dout over the windows that cover it and chose
// it, so overlapping windows add up without atomics and the result is deterministic.
// Window oh covers row h when oh * stride - pad <= h < oh * stride - pad + kernel.
extern "C" __global__ void maxpool_backward(const real_t* __restrict__ dout, const int* __restrict__ argmax,
                                            real_t* __restrict__ dx, int planes, int height, int width,
                                            int out_h, int out_w, int kernel_h, int kernel_w,
                                            int stride_h, int stride_w, int pad_h, int pad_w) {
  GRID_STRIDE_LOOP(i, planes * height * width) {
    const int w = i % width, h = i / width % height, plane = i / (width * height);
    const int hp = h + pad_h, wp = w + pad_w;
    const int oh_start = hp < kernel_h ? 0 : (hp - kernel_h) / stride_h + 1;
    const int oh_end = min(hp / stride_h + 1, out_h);
    const int ow_start = wp < kernel_w ? 0 : (wp - kernel_w) / stride_w + 1;
    const int ow_end = min(wp / stride_w + 1, out_w);
    const int index = h * width + w;
    const int offset = plane * out_h * out_w;
    real_t sum = real_t(0);
    for (int oh = oh_start; oh < oh_end; ++oh) {
      for (int ow = ow_start; ow < ow_end; ++ow) {
        if (argmax[offset + oh * out_w + ow] == index) sum += dout[offset + oh * out_w + ow];
      }
    }
    dx[i] = sum;
  }
}
