// Max pooling with overlapping windows (minicnn/layers/maxpool.py), floor mode, padding that
// never wins (a window starts at its first real pixel).
//
// Layout: x and dx (planes, H, W); y, argmax and dout (planes, OH, OW); planes = N * C.
// argmax holds the winner's index h * W + w within its plane (ties: the first in row-major
// window order, as PyTorch and cuDNN).
#include "maxpool.cuh"

// Launch: grid-stride, one thread per output element.
extern "C" __global__ void maxpool_forward(const real_t* __restrict__ x, real_t* __restrict__ y,
                                           int* __restrict__ argmax, int planes, int height, int width,
                                           int out_h, int out_w, int kernel_h, int kernel_w,
                                           int stride_h, int stride_w, int pad_h, int pad_w) {
  GRID_STRIDE_LOOP(i, planes * out_h * out_w) {
    const int ow = i % out_w, oh = i / out_w % out_h, plane = i / (out_w * out_h);
    int h_start, h_end, w_start, w_end;
    pool_window(oh, ow, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, h_start, h_end,
                w_start, w_end);
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

// Gather form (pooled_grad): one thread per input pixel sums dout over the windows that cover it
// and chose it, so overlapping windows add up without atomics and the result is deterministic.
extern "C" __global__ void maxpool_backward(const real_t* __restrict__ dout, const int* __restrict__ argmax,
                                            real_t* __restrict__ dx, int planes, int height, int width,
                                            int out_h, int out_w, int kernel_h, int kernel_w,
                                            int stride_h, int stride_w, int pad_h, int pad_w) {
  GRID_STRIDE_LOOP(i, planes * height * width) {
    const int w = i % width, h = i / width % height, plane = i / (width * height);
    const int offset = plane * out_h * out_w;
    dx[i] = pooled_grad(dout + offset, argmax + offset, h, w, width, out_h, out_w, kernel_h, kernel_w,
                        stride_h, stride_w, pad_h, pad_w);
  }
}
