// LRN then max pooling in one pass (minicnn/layers/lrn_maxpool.py): AlexNet's norm1+pool1 and
// norm2+pool2. The LRN output is never written: the forward computes the LRN values of each
// pooling window as it needs them and keeps only the maxima and their positions, and the
// backward computes them again. Saved against the two layers: the LRN output (written and read
// back forward), and the LRN's input gradient from the pooling (written and read back
// backward). The price is arithmetic: with 3x3 windows at stride 2, versions 1 and 2 compute
// each LRN value about 2.25 times forward (version 3 once, into shared memory). Every value uses
// lrn.cuh's and maxpool.cuh's operations in their order, so the results equal LRN then max-pool.
//
// Layout: x, dx (N, C, H, W); y, argmax, dout (N, C, OH, OW); argmax as in maxpool.cu (the
// winner's h * W + w in its plane). LRN groups: the caller passes (N * G, C / G, H, W).
// Eight versions (minicnn/kernel_versions.py); all give the same values.
#include "lrn.cuh"
#include "maxpool.cuh"

// The LRN output of channel c at pixel p; xn is the image's channel 0.
__device__ __forceinline__ real_t lrn_value(const real_t* xn, int c, int p, int channels, int spatial, int size,
                                            real_t alpha_over_size, real_t beta, real_t k) {
  const real_t s = lrn_scale(xn + p, c, channels, spatial, size / 2, (size - 1) / 2, alpha_over_size, k);
  return xn[c * spatial + p] * lrn_power(s, beta);
}

// ---- version 1: one thread per pixel column ---------------------------------------------------
// Forward launch: grid-stride, one thread per output pixel column (n, oh, ow), walking down the
// channels (consecutive threads take consecutive output pixels). Only N * OH * OW threads: for
// norm2+pool2 at batch 128, 21,632, a tenth of what an H100 keeps resident, each walking 256
// channels one after the other.
extern "C" __global__ void lrn_maxpool_forward_v1(const real_t* __restrict__ x, real_t* __restrict__ y,
                                                  int* __restrict__ argmax, int batch, int channels, int height,
                                                  int width, int out_h, int out_w, int kernel_h, int kernel_w,
                                                  int stride_h, int stride_w, int pad_h, int pad_w, int size,
                                                  real_t alpha_over_size, real_t beta, real_t k) {
  const int spatial = height * width, out_spatial = out_h * out_w;
  GRID_STRIDE_LOOP(column, batch * out_spatial) {
    const int n = column / out_spatial, o = column % out_spatial;
    int h_start, h_end, w_start, w_end;
    pool_window(o / out_w, o % out_w, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                h_start, h_end, w_start, w_end);
    const real_t* xn = x + n * channels * spatial;
    for (int c = 0; c < channels; ++c) {
      real_t best;
      int best_index;
      window_max_of(width, h_start, h_end, w_start, w_end, [&](int h, int w) {
        return lrn_value(xn, c, h * width + w, channels, spatial, size, alpha_over_size, beta, k);
      }, best, best_index);
      const int out = (n * channels + c) * out_spatial + o;
      y[out] = best;
      argmax[out] = best_index;
    }
  }
}

// dx = lrn_backward_walk over all the channels of a pixel column, with g = the pooling's gradient
// of the LRN output (pooled_grad) and the LRN values and scales computed again from x.
// Launch: grid-stride, one thread per input pixel column (n, h, w).
extern "C" __global__ void lrn_maxpool_backward_v1(const real_t* __restrict__ dout, const int* __restrict__ argmax,
                                                   const real_t* __restrict__ x, real_t* __restrict__ dx, int batch,
                                                   int channels, int height, int width, int out_h, int out_w,
                                                   int kernel_h, int kernel_w, int stride_h, int stride_w,
                                                   int pad_h, int pad_w, int size, real_t alpha_over_size,
                                                   real_t beta, real_t k, real_t two_alpha_beta_over_size) {
  const int spatial = height * width, out_spatial = out_h * out_w;
  GRID_STRIDE_LOOP(column, batch * spatial) {
    const int n = column / spatial, p = column % spatial, h = p / width, w = p % width;
    const int offset = n * channels * spatial + p;
    const real_t* dout_n = dout + n * channels * out_spatial;
    const int* argmax_n = argmax + n * channels * out_spatial;
    lrn_backward_walk(x + offset, dx + offset, 0, channels, channels, spatial, size, alpha_over_size, beta, k,
                      two_alpha_beta_over_size, [&](int j) {
                        return pooled_grad(dout_n + j * out_spatial, argmax_n + j * out_spatial, h, w, width,
                                           out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w);
                      });
  }
}

// ---- version 2: more threads, fewer divisions -----------------------------------------------
// Forward launch: grid (N * C planes, tiles), block (tile,), as maxpool_forward_v2: one thread
// per output element, N * C * OH * OW threads (5.5 million for norm2+pool2).
extern "C" __global__ void lrn_maxpool_forward_v2(const real_t* __restrict__ x, real_t* __restrict__ y,
                                                  int* __restrict__ argmax, int channels, int height, int width,
                                                  int out_h, int out_w, int kernel_h, int kernel_w, int stride_h,
                                                  int stride_w, int pad_h, int pad_w, int size,
                                                  real_t alpha_over_size, real_t beta, real_t k) {
  const int o = blockIdx.y * blockDim.x + threadIdx.x;
  if (o >= out_h * out_w) return;
  const int n = blockIdx.x / channels, c = blockIdx.x - n * channels;
  const int oh = o / out_w, ow = o - oh * out_w;
  int h_start, h_end, w_start, w_end;
  pool_window(oh, ow, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, h_start, h_end,
              w_start, w_end);
  real_t best;
  int best_index;
  const real_t* xn = x + n * channels * height * width;
  window_max_of(width, h_start, h_end, w_start, w_end, [&](int h, int w) {
    return lrn_value(xn, c, h * width + w, channels, height * width, size, alpha_over_size, beta, k);
  }, best, best_index);
  const int out = blockIdx.x * out_h * out_w + o;
  y[out] = best;
  argmax[out] = best_index;
}

// Backward launch: grid-stride, one thread per (image, chunk of `chunk` channels, input pixel)
// (lrn_chunk), which finds the windows that cover its pixel once (covering_windows) for all
// the channels of its walk: lrn_maxpool_backward_chunk, shared with version 3, which walks the
// channels otherwise.
// How g(j) gathers the pooling's gradient (`gather`): GATHER_ROUTED (versions 2 and 3) with
// routed_grad, a window's dout loaded after its argmax chose the pixel; GATHER_NEXT (version 6, for
// windows of at most 2 x stride) each channel's windows' argmax and dout in one trip to memory
// (TwoWindowsASide, maxpool.cuh), the next channel's loaded before this one's are summed, so that
// they are on their way while the walk computes this channel's LRN terms (a power and a division);
// routed_grad's two trips a channel, one after the other, are what version 3's walk waits on;
// GATHER_AT_ONCE (version 8, the same windows) each channel's in one trip when g(j) is called, for
// a walk that calls g for several channels before it uses any (lrn_backward_walk_ahead).
#define GATHER_ROUTED 0
#define GATHER_NEXT 1
#define GATHER_AT_ONCE 2
template <int gather = GATHER_ROUTED, class Walk>
__device__ __forceinline__ void lrn_maxpool_backward_chunk(int i, const real_t* __restrict__ dout,
                                                           const int* __restrict__ argmax, const real_t* x,
                                                           real_t* dx, int channels, int height, int width,
                                                           int out_h, int out_w, int kernel_h, int kernel_w,
                                                           int stride_h, int stride_w, int pad_h, int pad_w,
                                                           int chunk, Walk walk) {
  const int spatial = height * width, out_spatial = out_h * out_w;
  int n, c_begin, p;
  lrn_chunk(i, channels, spatial, chunk, n, c_begin, p);
  const int h = p / width, w = p - h * width;
  int oh_first, oh_last, ow_first, ow_last;
  covering_windows(h, kernel_h, stride_h, pad_h, out_h, oh_first, oh_last);
  covering_windows(w, kernel_w, stride_w, pad_w, out_w, ow_first, ow_last);
  const int offset = n * channels * spatial + p;
  const real_t* dout_n = dout + n * channels * out_spatial;
  const int* argmax_n = argmax + n * channels * out_spatial;
  // walk(xc, dxc, c_begin, c_end, g): g(j) is the pooling's gradient of channel j's LRN output here
  if constexpr (gather == GATHER_NEXT) {   // the walk asks for channels j one after the other, each once
    TwoWindowsASide now, next;
    int next_j = -1;
    walk(x + offset, dx + offset, c_begin, min(c_begin + chunk, channels), [&](int j) {
      if (j == next_j) {
        now = next;
      } else {   // the walk's first channel
        now.load(dout_n + j * out_spatial, argmax_n + j * out_spatial, oh_first, oh_last, ow_first, ow_last, out_w,
                 true);
      }
      next_j = j + 1;
      next.load(dout_n + next_j * out_spatial, argmax_n + next_j * out_spatial, oh_first, oh_last, ow_first, ow_last,
                out_w, next_j < channels);
      return now.sum_for(p);
    });
  } else if constexpr (gather == GATHER_AT_ONCE) {
    walk(x + offset, dx + offset, c_begin, min(c_begin + chunk, channels), [&](int j) {
      TwoWindowsASide windows;
      windows.load(dout_n + j * out_spatial, argmax_n + j * out_spatial, oh_first, oh_last, ow_first, ow_last, out_w,
                   true);
      return windows.sum_for(p);
    });
  } else {
    walk(x + offset, dx + offset, c_begin, min(c_begin + chunk, channels), [&](int j) {
      return routed_grad(dout_n + j * out_spatial, argmax_n + j * out_spatial, p, oh_first, oh_last, ow_first,
                         ow_last, out_w);
    });
  }
}

extern "C" __global__ void lrn_maxpool_backward_v2(const real_t* __restrict__ dout, const int* __restrict__ argmax,
                                                   const real_t* __restrict__ x, real_t* __restrict__ dx, int batch,
                                                   int channels, int height, int width, int out_h, int out_w,
                                                   int kernel_h, int kernel_w, int stride_h, int stride_w,
                                                   int pad_h, int pad_w, int chunk, int size, real_t alpha_over_size,
                                                   real_t beta, real_t k, real_t two_alpha_beta_over_size) {
  const int spatial = height * width, chunks = (channels + chunk - 1) / chunk;
  GRID_STRIDE_LOOP(i, batch * chunks * spatial) {
    lrn_maxpool_backward_chunk(i, dout, argmax, x, dx, channels, height, width, out_h, out_w, kernel_h, kernel_w,
                               stride_h, stride_w, pad_h, pad_w, chunk,
                               [&](const real_t* xc, real_t* dxc, int c_begin, int c_end, auto g) {
      lrn_backward_walk(xc, dxc, c_begin, c_end, channels, spatial, size, alpha_over_size, beta, k,
                        two_alpha_beta_over_size, g);
    });
  }
}

// ---- version 3: forward, each LRN value once through shared memory; backward, the window in registers
// Versions 1 and 2 compute the LRN values of each window as they read it: 9 values of 5 loads
// each per output of a 3x3 window, and the overlapping windows compute most values twice (the
// kernel-traffic benchmark: 25x the bytes the pass must move, against 4x for LRN alone). Here a
// block takes one plane (n, c) and a band of output rows (band_max_pool, maxpool.cuh): its
// threads first compute the LRN values of the input rows the band's windows read, once each,
// into shared memory, then each takes the maximum of its windows from there.
// Launch: grid (N * C planes, bands), block (256,) (minicnn/layers/lrn_maxpool.py).
// The body of versions 3 and 7: the band of the plane's LRN values (band_max_pool), each computed
// by lrn_value (version 3) or from its window loaded at once (version 7: at_once, for the windows
// of with_lrn_size). `band`: the kernel's __shared__ array (see band_max_pool).
template <bool at_once>
__device__ __forceinline__ void lrn_maxpool_band_forward(const real_t* __restrict__ x, real_t* __restrict__ y,
                                                         int* __restrict__ argmax, int channels, int height,
                                                         int width, int out_h, int out_w, int kernel_h, int kernel_w,
                                                         int stride_h, int stride_w, int pad_h, int pad_w, int rows,
                                                         int size, real_t alpha_over_size, real_t beta, real_t k,
                                                         real_t* band) {
  const int n = blockIdx.x / channels, c = blockIdx.x - n * channels, spatial = height * width;
  const real_t* xn = x + n * channels * spatial;
  const int out_plane = blockIdx.x * out_h * out_w;
  auto pool = [&](auto value) {
    band_max_pool(value, band, RowMajorBand{width}, y + out_plane, argmax + out_plane, height, width, out_h, out_w,
                  kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, rows);
  };
  if (!at_once) {
    pool([&](int p) { return lrn_value(xn, c, p, channels, spatial, size, alpha_over_size, beta, k); });
    return;
  }
  with_lrn_size(size, [&](auto window_size) {
    pool([&](int p) {
      LrnWindow<decltype(window_size)::value> window{xn + p, channels, spatial};
      window.at(c);
      return window.centre() * lrn_power(window.scale(alpha_over_size, k), beta);
    });
  });
}

extern "C" __global__ void lrn_maxpool_forward_v3(const real_t* __restrict__ x, real_t* __restrict__ y,
                                                  int* __restrict__ argmax, int channels, int height, int width,
                                                  int out_h, int out_w, int kernel_h, int kernel_w, int stride_h,
                                                  int stride_w, int pad_h, int pad_w, int rows, int size,
                                                  real_t alpha_over_size, real_t beta, real_t k) {
  __shared__ real_t band[POOL_BAND_TILE];
  lrn_maxpool_band_forward<false>(x, y, argmax, channels, height, width, out_h, out_w, kernel_h, kernel_w, stride_h,
                                  stride_w, pad_h, pad_w, rows, size, alpha_over_size, beta, k, band);
}

// Backward: version 2's threads, each sliding its LRN window down its chunk of channels in
// registers (lrn_backward_walk_registers, lrn.cuh): one load of x per channel, the terms out of
// local memory. For the window sizes of with_lrn_size (lrn.cuh) only: the layer launches version
// 2's backward for the others.
// The body of versions 3, 6 and 8: the grid-stride walk with the LRN window in registers, a
// channel a step (versions 3 and 6) or LRN's version 4's, size - 1 channels a step (version 8:
// `ahead`), the pooling's gradient gathered as `gather` says.
template <int gather, bool ahead>
__device__ __forceinline__ void lrn_maxpool_backward_in_registers(
    const real_t* __restrict__ dout, const int* __restrict__ argmax, const real_t* __restrict__ x,
    real_t* __restrict__ dx, int batch, int channels, int height, int width, int out_h, int out_w, int kernel_h,
    int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int chunk, int size, real_t alpha_over_size,
    real_t beta, real_t k, real_t two_alpha_beta_over_size) {
  const int spatial = height * width, chunks = (channels + chunk - 1) / chunk;
  GRID_STRIDE_LOOP(i, batch * chunks * spatial) {
    lrn_maxpool_backward_chunk<gather>(i, dout, argmax, x, dx, channels, height, width, out_h, out_w, kernel_h,
                                       kernel_w, stride_h, stride_w, pad_h, pad_w, chunk,
                                       [&](const real_t* xc, real_t* dxc, int c_begin, int c_end, auto g) {
      with_lrn_size(size, [&](auto window) {
        constexpr int SIZE = decltype(window)::value;
        if constexpr (ahead) {
          lrn_backward_walk_ahead<SIZE>(xc, dxc, c_begin, c_end, channels, spatial, alpha_over_size, beta, k,
                                        two_alpha_beta_over_size, g);
        } else {
          lrn_backward_walk_registers<SIZE>(xc, dxc, c_begin, c_end, channels, spatial, alpha_over_size, beta, k,
                                            two_alpha_beta_over_size, g);
        }
      });
    });
  }
}

extern "C" __global__ void lrn_maxpool_backward_v3(const real_t* __restrict__ dout, const int* __restrict__ argmax,
                                                   const real_t* __restrict__ x, real_t* __restrict__ dx, int batch,
                                                   int channels, int height, int width, int out_h, int out_w,
                                                   int kernel_h, int kernel_w, int stride_h, int stride_w,
                                                   int pad_h, int pad_w, int chunk, int size, real_t alpha_over_size,
                                                   real_t beta, real_t k, real_t two_alpha_beta_over_size) {
  lrn_maxpool_backward_in_registers<GATHER_ROUTED, false>(dout, argmax, x, dx, batch, channels, height, width,
                                                          out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                                                          pad_w, chunk, size, alpha_over_size, beta, k,
                                                          two_alpha_beta_over_size);
}

// ---- version 4 (forward): each thread an input pixel, its LRN window in registers --------------
// Version 3's band holds one plane: its threads compute each LRN value from the 5 channels of its
// window (lrn_value), so every x is loaded 5 times (6.4x the bytes the pass must move for lrn1 +
// pool1 in the kernel-traffic count). Here a block takes one image, a band of output rows and a
// chunk of `chunk` channels, and each thread one input pixel of the band, whose LRN window it
// slides down the channels in registers (LrnWindow, lrn.cuh: one load of x per channel, as LRN's
// version 3); at each channel the threads write their LRN values into shared memory and the band's
// windows take their maxima from there (band_pool). Two buffers alternate, so one barrier per
// channel suffices: a thread writes channel c + 2's values into channel c's buffer only after the
// barrier of channel c + 1, which every thread passes after it has finished pooling channel c.
// The values are version 3's bit for bit (LrnWindow's sums equal lrn_scale's). For the window
// sizes of with_lrn_size; the layer launches version 3 for the others.
// Launch: grid (N, bands, channel chunks), block (a thread per input pixel of the largest band, at
// most LRN_POOL_BAND_PIXELS) (minicnn/layers/lrn_maxpool.py). Bands of 512 pixels: lrn1+pool1's
// hold 4 output rows (9 input rows of 55), lrn2+pool2's 8 (17 rows of 27).
#define LRN_POOL_BAND_PIXELS 512

// Float: at most 32 registers a thread (ptxas gave 37), so that 4 blocks of 512 threads fill a
// multiprocessor; nvcc spills nothing. Double (tests only) asks for one block: asked for more, it spills.
#define LRN_POOL_MIN_BLOCKS (sizeof(real_t) == 4 ? 4 : 1)

// The body of versions 4 and 5: the band's LRN values where `layout` puts them, in two buffers of
// values_per_buffer values.
template <typename Layout, int values_per_buffer>
__device__ __forceinline__ void lrn_band_max_pool(Layout layout, const real_t* __restrict__ x, real_t* __restrict__ y,
                                                  int* __restrict__ argmax, int channels, int height, int width,
                                                  int out_h, int out_w, int kernel_h, int kernel_w, int stride_h,
                                                  int stride_w, int pad_h, int pad_w, int rows, int chunk, int size,
                                                  real_t alpha_over_size, real_t beta, real_t k,
                                                  real_t (*band)[values_per_buffer]) {
  int oh_begin, oh_stop, h_begin, h_stop;
  pool_band(rows, height, out_h, kernel_h, stride_h, pad_h, oh_begin, oh_stop, h_begin, h_stop);
  const int spatial = height * width, out_spatial = out_h * out_w;
  const int c_begin = blockIdx.z * chunk, c_end = min(c_begin + chunk, channels);
  const int p = h_begin * width + threadIdx.x;    // this thread's pixel
  const bool has_pixel = p < h_stop * width;
  const real_t* xc = x + blockIdx.x * channels * spatial + (has_pixel ? p : 0);
  with_lrn_size(size, [&](auto window_size) {
    LrnWindow<decltype(window_size)::value> window{xc, channels, spatial};
    if (has_pixel) window.before(c_begin);
    for (int c = c_begin; c < c_end; ++c) {
      real_t* values = band[c & 1];
      if (has_pixel) {
        window.slide();
        // where the band keeps this pixel's value: found at each channel, as kept in a register
        // it made ptxas spill version 5 under the bound of 32 registers
        values[layout.slot(threadIdx.x, width)] = window.centre() * lrn_power(window.scale(alpha_over_size, k), beta);
      }
      __syncthreads();
      const int out_plane = (blockIdx.x * channels + c) * out_spatial;
      band_pool(values, layout, h_begin, oh_begin, oh_stop, y + out_plane, argmax + out_plane, height, width, out_w,
                kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w);
    }
  });
}

extern "C" __global__ __launch_bounds__(LRN_POOL_BAND_PIXELS, LRN_POOL_MIN_BLOCKS) void lrn_maxpool_forward_v4(
    const real_t* __restrict__ x, real_t* __restrict__ y, int* __restrict__ argmax, int channels, int height,
    int width, int out_h, int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w,
    int rows, int chunk, int size, real_t alpha_over_size, real_t beta, real_t k) {
  __shared__ real_t band[2][LRN_POOL_BAND_PIXELS];   // LRN values of rows [h_begin, h_stop), two channels
  lrn_band_max_pool(RowMajorBand{width}, x, y, argmax, channels, height, width, out_h, out_w, kernel_h, kernel_w,
                    stride_h, stride_w, pad_h, pad_w, rows, chunk, size, alpha_over_size, beta, k, band);
}

// ---- version 5 (forward): the band by phase, no bank conflicts at a stride of 2 ----------------
// Version 4 with each band row's even columns first and its odd ones after them (PhasedBand,
// maxpool.cuh), as max-pool's version 5: a warp's windows read consecutive words of shared memory
// rather than words two apart (tests/test_fusion.py counts the passes). The same values and
// windows: version 4's outputs bit for bit. For a stride of 2 both ways; the layer runs version 4
// for the others. The phased rows take more room than version 4's (band_pitch in
// minicnn/layers/maxpool.py: 61.5 values a row of 55 pixels, 38.5 a row of 27), so each buffer
// holds LRN_POOL_PHASED_VALUES: the rows of version 4's bands of AlexNet's two pools (17 rows of
// 27: 654.5), whose threads, a pixel each, stay at most LRN_POOL_BAND_PIXELS (the layer picks the
// rows under both bounds). Launch: as version 4.
#define LRN_POOL_PHASED_VALUES 672
extern "C" __global__ __launch_bounds__(LRN_POOL_BAND_PIXELS, LRN_POOL_MIN_BLOCKS) void lrn_maxpool_forward_v5(
    const real_t* __restrict__ x, real_t* __restrict__ y, int* __restrict__ argmax, int channels, int height,
    int width, int out_h, int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w,
    int rows, int chunk, int size, real_t alpha_over_size, real_t beta, real_t k) {
  __shared__ real_t band[2][LRN_POOL_PHASED_VALUES];
  lrn_band_max_pool(PhasedBand(width, out_w), x, y, argmax, channels, height, width, out_h, out_w,
                    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, rows, chunk, size, alpha_over_size, beta, k,
                    band);
}

// ---- version 4 (backward): the pooling's gradient through shared memory ------------------------
// Version 3's thread walks its pixel's channels and, at each, loads the argmax of every window
// that covers the pixel from global memory (2.25 on average for 3x3 windows at stride 2; its
// neighbour the same ones): 5.3x the bytes the pass must move for lrn1+pool1 in the traffic count.
// Here a block takes one image, a band of `rows` input rows and a chunk of `chunk` channels, and
// each thread one input pixel of the band, walking its channels as version 3 does (the LRN window
// in registers). At each channel j the walk needs, the block first copies dout and argmax of the
// output rows whose windows cover the band into shared memory, once each, consecutive threads
// taking consecutive outputs; then each thread sums its windows from there (routed_grad, the same
// windows in the same order: dx is version 3's bit for bit). The walk asks for the channels in the
// same order in every thread, so the copy and its barrier sit inside g; two buffers alternate, as
// in the forward, so one barrier per channel suffices.
// Launch: grid (N, bands, channel chunks), block (a thread per input pixel of the band, at most
// LRN_POOL_BACKWARD_PIXELS); minicnn/layers/lrn_maxpool.py picks `rows` so that the band and its
// windows' output rows both fit in LRN_POOL_BACKWARD_PIXELS values (lrn1+pool1: 4 input rows of
// 55; lrn2+pool2: 9 of 27). Blocks of 256, not the forward's 512, and no __launch_bounds__: the
// walk's terms take 47 registers in float and 70 in double (sm_90), and with blocks of 512 (or
// bounded) ptxas held the double build to fewer registers and spilled.
#define LRN_POOL_BACKWARD_PIXELS 256

extern "C" __global__ void lrn_maxpool_backward_v4(
    const real_t* __restrict__ dout, const int* __restrict__ argmax, const real_t* __restrict__ x,
    real_t* __restrict__ dx, int channels, int height, int width, int out_h, int out_w, int kernel_h, int kernel_w,
    int stride_h, int stride_w, int pad_h, int pad_w, int rows, int chunk, int size, real_t alpha_over_size,
    real_t beta, real_t k, real_t two_alpha_beta_over_size) {
  __shared__ real_t dout_band[2][LRN_POOL_BACKWARD_PIXELS];   // output rows [oh_begin, oh_stop), two channels
  __shared__ int argmax_band[2][LRN_POOL_BACKWARD_PIXELS];
  const int h_begin = blockIdx.y * rows, h_stop = min(h_begin + rows, height);
  int oh_begin, oh_stop, unused;   // the windows that cover the band's first row and its last
  covering_windows(h_begin, kernel_h, stride_h, pad_h, out_h, oh_begin, unused);
  covering_windows(h_stop - 1, kernel_h, stride_h, pad_h, out_h, unused, oh_stop);
  const int spatial = height * width, out_spatial = out_h * out_w, staged = (oh_stop - oh_begin) * out_w;
  const int c_begin = blockIdx.z * chunk, c_end = min(c_begin + chunk, channels);
  const int p = h_begin * width + threadIdx.x;   // this thread's pixel
  const bool has_pixel = p < h_stop * width;
  const int h = p / width, w = p - h * width;
  int oh_first, oh_last, ow_first, ow_last;
  covering_windows(h, kernel_h, stride_h, pad_h, out_h, oh_first, oh_last);
  covering_windows(w, kernel_w, stride_w, pad_w, out_w, ow_first, ow_last);
  const int offset = blockIdx.x * channels * spatial + (has_pixel ? p : 0);   // without a pixel: pixel 0's x
  with_lrn_size(size, [&](auto window) {
    lrn_backward_walk_registers<decltype(window)::value>(
        x + offset, dx + offset, c_begin, c_end, channels, spatial, alpha_over_size, beta, k,
        two_alpha_beta_over_size, [&](int j) {
          real_t* dout_j = dout_band[j & 1];
          int* argmax_j = argmax_band[j & 1];
          const int from = (blockIdx.x * channels + j) * out_spatial + oh_begin * out_w;
          for (int i = threadIdx.x; i < staged; i += blockDim.x) {
            dout_j[i] = dout[from + i];
            argmax_j[i] = argmax[from + i];
          }
          __syncthreads();
          return has_pixel ? routed_grad(dout_j, argmax_j, p, oh_first - oh_begin, oh_last - oh_begin, ow_first,
                                         ow_last, out_w)
                           : real_t(0);
        },
        has_pixel);
  });
}

// ---- version 6 (backward): each channel's windows in one trip, the next channel's on their way --
// On an H200 (2026-12-04) version 3's backward took 0.606 ms on norm1+pool1 and version 4's 0.559,
// where cuDNN's LRN and max-pool backward took about 0.41 together. Version 3's threads walk 32
// channels of a pixel one after the other, and at each one wait for its windows' argmax, then for
// the dout of those that chose the pixel, then compute the channel's LRN terms. Here a channel's
// argmax and dout come in one trip, and the next channel's are loaded before this one's are summed
// (lrn_maxpool_backward_chunk<GATHER_NEXT>): version 3's walk otherwise, its values bit for bit. For
// windows of at most 2 x stride and the LRN windows of with_lrn_size (the layer runs version 3's
// backward for the others). Its forward is version 3's, the fastest on the H200. The price: 57
// registers a thread (sm_90; version 3's 48), 4 blocks of 256 a multiprocessor (50% occupancy)
// against version 3's 5; bounded to 5 blocks ptxas spills 8 bytes. (80 registers and 3 blocks while
// with_lrn_size was a switch; the same choice as with_constant's chain of tests, which ptxas
// allocates better here.) Fewer threads, each with a channel's windows on their way: for a GPU's
// timing to weigh.
// Launch: as version 3's.
extern "C" __global__ void lrn_maxpool_backward_v6(const real_t* __restrict__ dout, const int* __restrict__ argmax,
                                                   const real_t* __restrict__ x, real_t* __restrict__ dx, int batch,
                                                   int channels, int height, int width, int out_h, int out_w,
                                                   int kernel_h, int kernel_w, int stride_h, int stride_w,
                                                   int pad_h, int pad_w, int chunk, int size, real_t alpha_over_size,
                                                   real_t beta, real_t k, real_t two_alpha_beta_over_size) {
  lrn_maxpool_backward_in_registers<GATHER_NEXT, false>(dout, argmax, x, dx, batch, channels, height, width, out_h,
                                                        out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                                        chunk, size, alpha_over_size, beta, k,
                                                        two_alpha_beta_over_size);
}

// ---- version 7 (forward): version 3's band, each LRN value's window loaded at once ------------------
// Version 3's forward (the fastest on the H200: norm1+pool1 0.237 ms, 19% of the copy bandwidth)
// computes each value of its band with lrn_value, whose lrn_scale loop has a trip count known at
// run time only: nvcc unrolls it by 4 with the remainder first, each load followed by the term
// that uses it (its PTX), so a thread waits on the 5 channels of a value one after the other, and
// on the centre's x once more. Here (lrn_maxpool_band_forward<true>, version 3's body) the band's
// values come from LrnWindow<size>::at: the 5 (or 3)
// channels loaded at once, the terms then added in lrn_scale's order with 0 for the channels
// outside the image's (0 * 0 added to a sum that starts at +0 changes nothing), and the centre
// from the window: version 3's values bit for bit, and its maxima and positions. For the LRN
// windows of with_lrn_size (the layer runs version 3's forward for the others); its backward is
// version 6's.
// Launch: as version 3's forward.
extern "C" __global__ void lrn_maxpool_forward_v7(const real_t* __restrict__ x, real_t* __restrict__ y,
                                                  int* __restrict__ argmax, int channels, int height, int width,
                                                  int out_h, int out_w, int kernel_h, int kernel_w, int stride_h,
                                                  int stride_w, int pad_h, int pad_w, int rows, int size,
                                                  real_t alpha_over_size, real_t beta, real_t k) {
  __shared__ real_t band[POOL_BAND_TILE];
  lrn_maxpool_band_forward<true>(x, y, argmax, channels, height, width, out_h, out_w, kernel_h, kernel_w, stride_h,
                                 stride_w, pad_h, pad_w, rows, size, alpha_over_size, beta, k, band);
}

// ---- version 8 (backward): LRN's version 4 walk, a step's channels' windows loaded at once -------
// Version 6's threads load the next channel's windows while they compute this one's terms, but
// each channel's x still comes after the last one's terms are added, one channel a step. Here the
// walk is LRN's version 4's (lrn_backward_walk_ahead, lrn.cuh): size - 1 channels a step (4 for
// AlexNet's window of 5), each step's x and the argmax and dout of its channels' pooling windows
// (TwoWindowsASide, gather GATHER_AT_ONCE) asked for before any is used, 4 + 4 x 8 loads a step.
// nvcc's code (13.0, sm_90; cuobjdump -sass, the scoreboard waits) holds at most 16 of them in
// flight at once, as many as version 6's holds of its channel's and the next one's windows: what
// the longer step gains is for a GPU's timing to say. Version 3's values bit for bit. For windows of at
// most 2 x stride and the LRN windows of with_lrn_size (the layer runs version 3's backward for the
// others); its forward is version 7's.
// Launch: as version 3's.
extern "C" __global__ void lrn_maxpool_backward_v8(const real_t* __restrict__ dout, const int* __restrict__ argmax,
                                                   const real_t* __restrict__ x, real_t* __restrict__ dx, int batch,
                                                   int channels, int height, int width, int out_h, int out_w,
                                                   int kernel_h, int kernel_w, int stride_h, int stride_w,
                                                   int pad_h, int pad_w, int chunk, int size, real_t alpha_over_size,
                                                   real_t beta, real_t k, real_t two_alpha_beta_over_size) {
  lrn_maxpool_backward_in_registers<GATHER_AT_ONCE, true>(dout, argmax, x, dx, batch, channels, height, width, out_h,
                                                          out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                                                          pad_w, chunk, size, alpha_over_size, beta, k,
                                                          two_alpha_beta_over_size);
}
