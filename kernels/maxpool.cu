// Max pooling with overlapping windows (minicnn/layers/maxpool.py), floor mode, padding that
// never wins (a window starts at its first real pixel).
//
// Layout: x and dx (planes, H, W); y, argmax and dout (planes, OH, OW); planes = N * C.
// argmax holds the winner's index h * W + w within its plane (ties: the first in row-major
// window order, as PyTorch and cuDNN).
//
// Eight versions (minicnn/kernel_versions.py); all give the same values. Version 3 rewrote the
// forward alone (its backward is version 2's), version 4 the backward alone (its forward is
// version 3's), version 5 the forward again (its backward is version 4's), version 6 the
// backward of version 2 (its forward is version 2's, the fastest on an H200), version 7 the
// forward of version 2 (its backward is version 6's), and version 8 version 7's forward over the
// whole batch (its backward is version 6's).
#include "maxpool.cuh"

// ---- version 1: grid-stride, one thread per element -----------------------------------------
// Each thread splits its flat index into (plane, row, column) with divisions by runtime values,
// and the backward's gather finds the windows that cover its pixel with four more: on a GPU
// this integer arithmetic, not memory, bounds the kernels.

// The maximum of each window and its position.
extern "C" __global__ void maxpool_forward_v1(const real_t* __restrict__ x, real_t* __restrict__ y,
                                           int* __restrict__ argmax, int planes, int height, int width,
                                           int out_h, int out_w, int kernel_h, int kernel_w,
                                           int stride_h, int stride_w, int pad_h, int pad_w) {
  GRID_STRIDE_LOOP(i, planes * out_h * out_w) {
    const int ow = i % out_w, oh = i / out_w % out_h, plane = i / (out_w * out_h);
    int h_start, h_end, w_start, w_end;
    pool_window(oh, ow, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, h_start, h_end,
                w_start, w_end);
    window_max(x + plane * height * width, width, h_start, h_end, w_start, w_end, y[i], argmax[i]);
  }
}

// Gather form (pooled_grad): one thread per input pixel sums dout over the windows that cover it
// and chose it, so overlapping windows add up without atomics and the result is deterministic.
extern "C" __global__ void maxpool_backward_v1(const real_t* __restrict__ dout, const int* __restrict__ argmax,
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

// ---- version 2: a block per (plane, tile of pixels) -----------------------------------------
// Launch: grid (planes, tiles), block (tile,): blockIdx.x is the plane, and thread t of tile j
// takes the plane's element j * tile + t, so a thread needs one division to find its row and
// column; the backward finds the windows that cover a pixel with one division per axis
// (covering_windows). minicnn/layers/maxpool.py picks the tile (a multiple of 32, at most 256).

extern "C" __global__ void maxpool_forward_v2(const real_t* __restrict__ x, real_t* __restrict__ y,
                                              int* __restrict__ argmax, int height, int width, int out_h,
                                              int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
                                              int pad_h, int pad_w) {
  const int o = blockIdx.y * blockDim.x + threadIdx.x;
  if (o >= out_h * out_w) return;
  const int oh = o / out_w, ow = o - oh * out_w;
  int h_start, h_end, w_start, w_end;
  pool_window(oh, ow, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, h_start, h_end,
              w_start, w_end);
  const int out = blockIdx.x * out_h * out_w + o;
  window_max(x + blockIdx.x * height * width, width, h_start, h_end, w_start, w_end, y[out], argmax[out]);
}

extern "C" __global__ void maxpool_backward_v2(const real_t* __restrict__ dout, const int* __restrict__ argmax,
                                               real_t* __restrict__ dx, int height, int width, int out_h,
                                               int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
                                               int pad_h, int pad_w) {
  const int index = blockIdx.y * blockDim.x + threadIdx.x;
  if (index >= height * width) return;
  const int h = index / width, w = index - h * width;
  int oh_first, oh_last, ow_first, ow_last;
  covering_windows(h, kernel_h, stride_h, pad_h, out_h, oh_first, oh_last);
  covering_windows(w, kernel_w, stride_w, pad_w, out_w, ow_first, ow_last);
  const int offset = blockIdx.x * out_h * out_w;
  dx[blockIdx.x * height * width + index] =
      routed_grad(dout + offset, argmax + offset, index, oh_first, oh_last, ow_first, ow_last, out_w);
}

// ---- version 3 (forward): each input read once, through shared memory -------------------------
// A block per (plane, band of output rows) (band_max_pool, maxpool.cuh): the band's input rows
// are copied to shared memory once, consecutive threads taking consecutive pixels, and the
// windows' maxima taken from there; version 2's threads read their windows from global memory,
// pixels `stride` apart, and most pixels twice over the overlapping windows.
// Launch: grid (planes, bands), block (256,) (minicnn/layers/maxpool.py).
extern "C" __global__ void maxpool_forward_v3(const real_t* __restrict__ x, real_t* __restrict__ y,
                                              int* __restrict__ argmax, int height, int width, int out_h,
                                              int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
                                              int pad_h, int pad_w, int rows) {
  __shared__ real_t band[POOL_BAND_TILE];
  const real_t* x_plane = x + blockIdx.x * height * width;
  const int out_plane = blockIdx.x * out_h * out_w;
  band_max_pool([&](int p) { return x_plane[p]; }, band, RowMajorBand{width}, y + out_plane, argmax + out_plane,
                height, width, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, rows);
}

// ---- version 4 (backward): dout and argmax read once, through shared memory -------------------
// Version 2's thread per input pixel reads the argmax of every window that covers it from global
// memory (2.25 of them on average for 3x3 windows at stride 2), and two neighbouring threads read
// the same windows. Here a block takes one plane and a band of `rows` input rows: its threads
// first copy dout and argmax of the output rows whose windows cover the band into shared memory,
// once each, consecutive threads taking consecutive outputs, then each thread sums the windows of
// its pixels from there (routed_grad, the same windows in the same order as version 2: the same
// values bit for bit). The caller picks `rows` so that those output rows fit in POOL_BAND_TILE
// values (backward_band_rows in minicnn/layers/maxpool.py: the whole plane for AlexNet's pools).
// Launch: grid (planes, bands), block (256,).
extern "C" __global__ void maxpool_backward_v4(const real_t* __restrict__ dout, const int* __restrict__ argmax,
                                               real_t* __restrict__ dx, int height, int width, int out_h,
                                               int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
                                               int pad_h, int pad_w, int rows) {
  __shared__ real_t dout_band[POOL_BAND_TILE];   // output rows [oh_begin, oh_stop) of dout and argmax
  __shared__ int argmax_band[POOL_BAND_TILE];
  const int h_begin = blockIdx.y * rows, h_stop = min(h_begin + rows, height);
  int oh_begin, oh_stop, unused;   // the windows that cover the band's first row and its last
  covering_windows(h_begin, kernel_h, stride_h, pad_h, out_h, oh_begin, unused);
  covering_windows(h_stop - 1, kernel_h, stride_h, pad_h, out_h, unused, oh_stop);
  const int out_offset = (blockIdx.x * out_h + oh_begin) * out_w;
  for (int i = threadIdx.x; i < (oh_stop - oh_begin) * out_w; i += blockDim.x) {
    dout_band[i] = dout[out_offset + i];
    argmax_band[i] = argmax[out_offset + i];
  }
  __syncthreads();
  // dx from its band's first pixel, each warp's stores on a 128-byte line (aligned_start)
  for (int p = aligned_start((blockIdx.x * height + h_begin) * width); p < (h_stop - h_begin) * width;
       p += blockDim.x) {
    if (p < 0) continue;
    const int index = h_begin * width + p, h = index / width, w = index - h * width;
    int oh_first, oh_last, ow_first, ow_last;
    covering_windows(h, kernel_h, stride_h, pad_h, out_h, oh_first, oh_last);
    covering_windows(w, kernel_w, stride_w, pad_w, out_w, ow_first, ow_last);
    dx[blockIdx.x * height * width + index] = routed_grad(dout_band, argmax_band, index, oh_first - oh_begin,
                                                          oh_last - oh_begin, ow_first, ow_last, out_w);
  }
}

// ---- version 5 (forward): the band by phase, no bank conflicts at a stride of 2 ----------------
// Version 3's band, each row's even columns first and its odd ones after them (PhasedBand,
// maxpool.cuh), so that a warp's windows read consecutive words of shared memory rather than
// words two apart: one pass through the banks a request instead of 2 to 2.8 (tests/test_maxpool.py
// counts them). The same windows in the same order: version 3's outputs bit for bit. For a stride
// of 2 both ways (the layer runs version 3's kernel for the others; an odd stride across has no
// conflicts to remove).
// Launch: grid (planes, bands), block (256,); the bands' rows fit POOL_BAND_TILE values at
// band_pitch's values a row (minicnn/layers/maxpool.py). Bounded to 32 registers, 8 blocks a
// multiprocessor (full occupancy; unbounded ptxas gave 35, 6 blocks), without spills.
extern "C" __global__ __launch_bounds__(256, 8) void maxpool_forward_v5(
    const real_t* __restrict__ x, real_t* __restrict__ y, int* __restrict__ argmax, int height, int width, int out_h,
    int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int rows) {
  __shared__ real_t band[POOL_BAND_TILE];
  const real_t* x_plane = x + blockIdx.x * height * width;
  const int out_plane = blockIdx.x * out_h * out_w;
  band_max_pool([&](int p) { return x_plane[p]; }, band, PhasedBand(width, out_w), y + out_plane,
                argmax + out_plane, height, width, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                rows);
}

// ---- version 6 (backward): no load waits on another, several pixels a thread -------------------
// On an H200 (2026-12-04) version 2's backward took 0.366 ms on pool1, 14% of the copy bandwidth,
// where its forward took 0.097 (54%), and version 4's through shared memory 0.310. A thread of
// version 2 loads a window's argmax, compares it with its pixel, and only then loads that window's
// dout: two trips to memory one after the other, with one pixel a thread and nothing else to do
// meanwhile. Here each thread first loads the argmax and the dout of every window that can cover
// each of its pixels, all at once, and only then compares and sums: one trip, with up to
// 2 x 2 x 2 x MAXPOOL_V6_PIXELS loads in flight a thread. A dout it does not use costs a request
// whose sector its neighbours mostly read anyway (the simulator counts the requests). The pixels of
// a thread are blockDim apart, so that a warp's loads and stores stay consecutive. For windows
// that cover at most 2 positions along each axis (kernel <= 2 x stride: AlexNet's 3x3 windows at a
// stride of 2, and every pooling without overlap); the layer runs version 2's kernel for the
// others. The windows are added in version 2's order, those that did not choose the pixel as +0,
// which leaves a sum as it is: version 2's results bit for bit.
// The price: 47 registers a thread (sm_90, benchmarks/kernel_resources.py), 5 blocks of 256 a
// multiprocessor where version 2 fits 8; the 32 loads each thread has in flight are meant to more
// than make up for it (for a GPU's timing to say).
// Launch: grid (planes, tiles of blockDim x MAXPOOL_V6_PIXELS pixels), block (tile,)
// (minicnn/layers/maxpool.py).
#define MAXPOOL_V6_PIXELS 4
extern "C" __global__ void maxpool_backward_v6(const real_t* __restrict__ dout, const int* __restrict__ argmax,
                                               real_t* __restrict__ dx, int height, int width, int out_h,
                                               int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
                                               int pad_h, int pad_w) {
  const int pixels = height * width, first = blockIdx.y * blockDim.x * MAXPOOL_V6_PIXELS + threadIdx.x;
  const real_t* dout_plane = dout + blockIdx.x * out_h * out_w;
  const int* argmax_plane = argmax + blockIdx.x * out_h * out_w;
  TwoWindowsASide windows[MAXPOOL_V6_PIXELS];
#pragma unroll
  for (int k = 0; k < MAXPOOL_V6_PIXELS; ++k) {   // every load first ...
    const int index = first + k * blockDim.x, h = index / width, w = index - h * width;
    int oh_first, oh_last, ow_first, ow_last;
    covering_windows(h, kernel_h, stride_h, pad_h, out_h, oh_first, oh_last);
    covering_windows(w, kernel_w, stride_w, pad_w, out_w, ow_first, ow_last);
    windows[k].load(dout_plane, argmax_plane, oh_first, oh_last, ow_first, ow_last, out_w, index < pixels);
  }
#pragma unroll
  for (int k = 0; k < MAXPOOL_V6_PIXELS; ++k) {   // ... then the sums
    const int index = first + k * blockDim.x;
    if (index < pixels) dx[blockIdx.x * pixels + index] = windows[k].sum_for(index);
  }
}

// ---- version 7 (forward): a window's loads all in flight ----------------------------------------
// On an H200 (2026-12-04) version 2's forward was the fastest (pool1 0.097 ms) at 54% of the copy
// bandwidth, pool5's at 30%, where cuDNN's was faster on pool5 (0.021 ms against 0.025). A thread
// of version 2 walks its window with loops of run-time bounds, comparing each value as it comes:
// the compare waits on the load, and the next load waits behind the compare. Here the window's
// side is a compile-time constant (with_constant: 2 and 3, AlexNet's 3 x 3), so every value of it
// is loaded before the first compare: one trip to memory a window (9 loads in flight a thread),
// where version 2's loops make six, each row's first value and then its other two (cuobjdump -sass
// for sm_90, nvcc 13.0: the control bits' barrier waits say which loads are in flight). Each load
// is of a pixel of the plane, the window's position clamped to it, so that none waits on a bounds
// test: loaded under the test, as first written, ptxas issued the first row's three and the other
// six only while those were compared, two trips. A clamped value the edge cuts off is never
// compared. The compares then go in version 2's order, each value that is there against the
// best so far (the first there starts it), so the maxima and their positions are version 2's, ties
// and NaNs alike. Square windows of a side of 2 or 3 (the layer runs version 2's forward for the
// others); its backward is version 6's.
// Launch: as version 2's forward; kernel_w must equal kernel_h (minicnn/layers/maxpool.py).
template <int SIDE>
__device__ __forceinline__ void window_max_in_flight(const real_t* __restrict__ x_plane, int height, int width,
                                                     int h0, int w0, real_t& best, int& best_index) {
  real_t value[SIDE][SIDE];
#pragma unroll
  for (int a = 0; a < SIDE; ++a) {   // every load first, each of a pixel of the plane ...
#pragma unroll
    for (int b = 0; b < SIDE; ++b) {
      const int h = min(max(h0 + a, 0), height - 1), w = min(max(w0 + b, 0), width - 1);
      value[a][b] = x_plane[h * width + w];
    }
  }
  bool found = false;   // ... then version 2's compares, in its order
  real_t top = real_t(0);
  int top_index = 0;
#pragma unroll
  for (int a = 0; a < SIDE; ++a) {
#pragma unroll
    for (int b = 0; b < SIDE; ++b) {
      const int h = h0 + a, w = w0 + b;
      if (h >= 0 && h < height && w >= 0 && w < width && (!found || value[a][b] > top)) {
        top = value[a][b];
        top_index = h * width + w;
        found = true;
      }
    }
  }
  best = top;
  best_index = top_index;
}

extern "C" __global__ void maxpool_forward_v7(const real_t* __restrict__ x, real_t* __restrict__ y,
                                              int* __restrict__ argmax, int height, int width, int out_h,
                                              int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
                                              int pad_h, int pad_w) {
  const int o = blockIdx.y * blockDim.x + threadIdx.x;
  if (o >= out_h * out_w) return;
  const int oh = o / out_w, ow = o - oh * out_w;
  const int out = blockIdx.x * out_h * out_w + o;
  with_constant<2, 3>(kernel_h, [&](auto side) {
    window_max_in_flight<decltype(side)::value>(x + blockIdx.x * height * width, height, width,
                                                oh * stride_h - pad_h, ow * stride_w - pad_w, y[out], argmax[out]);
  });
}

// ---- version 8 (forward): version 7's windows in a grid-stride loop over the whole batch -------
// Versions 2 and 7 give each plane blocks of its own, tiles of a multiple of 32 threads: pool5's
// planes of 6 x 6 outputs fill 36 threads of a 64-thread tile, and 128 x 256 planes make as many
// blocks. On an H200 (2026-12-04) version 1, a grid-stride loop over every output of the batch, was
// the fastest forward on pool5 (0.021 ms, as fast as cuDNN's, against version 2's 0.025) though its
// loops wait on each row of a window, and slower than version 2 on pool1 and pool2 (0.115 ms
// against 0.097, 0.067 against 0.064), where a tile of 256 threads has at most 31 idle. Here
// version 7's window, its loads all in flight, runs in version 1's loop: no thread idle but in the
// last round, and two divisions a window (version 1: four) to find its plane and row. The same
// maxima and positions as versions 2 and 7. Square windows of a side of 2 or 3 (the layer runs
// version 2's forward for the others); its backward is version 6's.
// Launch: grid_for(planes * out_h * out_w) blocks of 256 threads; kernel_w must equal kernel_h.
extern "C" __global__ void maxpool_forward_v8(const real_t* __restrict__ x, real_t* __restrict__ y,
                                              int* __restrict__ argmax, int planes, int height, int width,
                                              int out_h, int out_w, int kernel_h, int kernel_w, int stride_h,
                                              int stride_w, int pad_h, int pad_w) {
  const int plane_outputs = out_h * out_w;
  GRID_STRIDE_LOOP(i, planes * plane_outputs) {
    const int plane = i / plane_outputs, o = i - plane * plane_outputs;
    const int oh = o / out_w, ow = o - oh * out_w;
    with_constant<2, 3>(kernel_h, [&](auto side) {
      window_max_in_flight<decltype(side)::value>(x + plane * height * width, height, width, oh * stride_h - pad_h,
                                                  ow * stride_w - pad_w, y[i], argmax[i]);
    });
  }
}
