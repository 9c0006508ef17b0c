// Local response normalisation across channels (minicnn/layers/lrn.py, Caffe's alpha / size
// convention):  scale[c] = k + alpha / size * sum_{c' in window(c)} x[c']^2,  y = x * scale^-beta
// with window(c) = [c - size / 2, c + (size - 1) / 2] clipped to the channels.
//
// Layout: x, y, scale, dout, dx (N, C, H, W), seen as N * H * W pixel columns of C channels
// each, channel stride H * W. Consecutive threads take consecutive pixels, so every load and
// store is coalesced. Each window is summed afresh (lrn_scale, lrn.cuh).
//
// Four versions (minicnn/kernel_versions.py); all give the same values, operation for operation.
#include "lrn.cuh"

// ---- version 1: the scale kept between the passes (8 passes over memory) ---------------------
// Launch: grid-stride, one thread per pixel column, which walks down its column (as Caffe's
// LRNFillScale does). The forward writes y and the scale; the backward reads dout, x, y and the
// scale back and writes dx.
extern "C" __global__ void lrn_forward_v1(const real_t* __restrict__ x, real_t* __restrict__ y,
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
extern "C" __global__ void lrn_backward_v1(const real_t* __restrict__ dout, const real_t* __restrict__ x,
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

// ---- version 2: nothing kept but x (5 passes over memory) -----------------------------------
// The forward reads x and writes y; the backward reads dout and x, computes the scale again
// (a few multiply-adds of values in cache, and the power), and writes dx: 5 passes against 8.
// Launch: grid-stride, one thread per (image, chunk of `chunk` channels, pixel), pixel fastest:
// version 1 had only N * H * W threads, too few to fill a GPU for LRN2 (N * 27 * 27), each
// walking all C channels one after the other.

extern "C" __global__ void lrn_forward_v2(const real_t* __restrict__ x, real_t* __restrict__ y, int batch,
                                          int channels, int spatial, int chunk, int size,
                                          real_t alpha_over_size, real_t beta, real_t k) {
  const int before = size / 2, after = (size - 1) / 2;
  const int chunks = (channels + chunk - 1) / chunk;
  GRID_STRIDE_LOOP(i, batch * chunks * spatial) {
    int offset, c_begin, c_end;
    lrn_column_chunk(i, channels, spatial, chunk, offset, c_begin, c_end);
    const real_t* xc = x + offset;
    for (int c = c_begin; c < c_end; ++c) {
      const real_t s = lrn_scale(xc, c, channels, spatial, before, after, alpha_over_size, k);
      y[offset + c * spatial] = xc[c * spatial] * lrn_power(s, beta);
    }
  }
}

extern "C" __global__ void lrn_backward_v2(const real_t* __restrict__ dout, const real_t* __restrict__ x,
                                           real_t* __restrict__ dx, int batch, int channels, int spatial,
                                           int chunk, int size, real_t alpha_over_size, real_t beta, real_t k,
                                           real_t two_alpha_beta_over_size) {
  const int chunks = (channels + chunk - 1) / chunk;
  GRID_STRIDE_LOOP(i, batch * chunks * spatial) {
    int offset, c_begin, c_end;
    lrn_column_chunk(i, channels, spatial, chunk, offset, c_begin, c_end);
    const real_t* doutc = dout + offset;
    lrn_backward_walk(x + offset, dx + offset, c_begin, c_end, channels, spatial, size, alpha_over_size, beta, k,
                      two_alpha_beta_over_size, [&](int j) { return doutc[j * spatial]; });
  }
}

// ---- version 3: the window in registers (lrn.cuh) ---------------------------------------------
// Version 2's threads and passes; each thread slides its window down its chunk of channels in
// registers, loading each x once (version 2: `size` loads per channel) and keeping the
// backward's terms out of local memory. For the window sizes of with_lrn_size (lrn.cuh) only: the
// layer launches version 2 for the others.
//
// ---- version 4: several channels' loads in flight (lrn.cuh) ---------------------------------
// Version 3's threads, windows and values, bit for bit; each thread loads LRN_AHEAD channels' x at
// once (the backward SIZE - 1 channels' x and dL/dy: 4 and 4 for AlexNet's window of 5) before it
// uses any, where version 3 loads one channel's and waits for it. For the window sizes of
// with_lrn_size: the layer launches version 2 for the others.
//
// Versions 3 and 4 share their threads (lrn_chunks_forward and lrn_chunks_backward), and differ in
// the walk down each chunk.
#define LRN_AHEAD 4
// Version 4's kernels bounded in blocks of 256 (minicnn.launch.BLOCK) a multiprocessor: in float
// to 6 forward (39 registers a thread, 75% occupancy; unbounded ptxas took 48, 62%) and 5
// backward (47, 62%; unbounded 54, 50%), without spills and with each step's loads still issued
// together (their SASS); bounded to 8 and 6 they spill 16 and 12 bytes. In double (tests only) to 4
// and 2: 62 registers forward, the backward's unbounded 94 (bounded to 3 it spills 16 bytes).
#define LRN_V4_FORWARD_MIN_BLOCKS (sizeof(real_t) == 4 ? 6 : 4)
#define LRN_V4_BACKWARD_MIN_BLOCKS (sizeof(real_t) == 4 ? 5 : 2)

template <bool ahead>
__device__ __forceinline__ void lrn_chunks_forward(const real_t* __restrict__ x, real_t* __restrict__ y, int batch,
                                                   int channels, int spatial, int chunk, int size,
                                                   real_t alpha_over_size, real_t beta, real_t k) {
  const int chunks = (channels + chunk - 1) / chunk;
  GRID_STRIDE_LOOP(i, batch * chunks * spatial) {
    int offset, c_begin, c_end;
    lrn_column_chunk(i, channels, spatial, chunk, offset, c_begin, c_end);
    with_lrn_size(size, [&](auto window) {
      constexpr int SIZE = decltype(window)::value;
      if constexpr (ahead) {
        lrn_forward_walk_ahead<SIZE, LRN_AHEAD>(x + offset, y + offset, c_begin, c_end, channels, spatial,
                                                alpha_over_size, beta, k);
      } else {
        lrn_forward_walk_registers<SIZE>(x + offset, y + offset, c_begin, c_end, channels, spatial,
                                         alpha_over_size, beta, k);
      }
    });
  }
}

template <bool ahead>
__device__ __forceinline__ void lrn_chunks_backward(const real_t* __restrict__ dout, const real_t* __restrict__ x,
                                                    real_t* __restrict__ dx, int batch, int channels, int spatial,
                                                    int chunk, int size, real_t alpha_over_size, real_t beta,
                                                    real_t k, real_t two_alpha_beta_over_size) {
  const int chunks = (channels + chunk - 1) / chunk;
  GRID_STRIDE_LOOP(i, batch * chunks * spatial) {
    int offset, c_begin, c_end;
    lrn_column_chunk(i, channels, spatial, chunk, offset, c_begin, c_end);
    const real_t* doutc = dout + offset;
    auto g = [&](int j) { return doutc[j * spatial]; };
    with_lrn_size(size, [&](auto window) {
      constexpr int SIZE = decltype(window)::value;
      if constexpr (ahead) {
        lrn_backward_walk_ahead<SIZE>(x + offset, dx + offset, c_begin, c_end, channels, spatial, alpha_over_size,
                                      beta, k, two_alpha_beta_over_size, g);
      } else {
        lrn_backward_walk_registers<SIZE>(x + offset, dx + offset, c_begin, c_end, channels, spatial,
                                          alpha_over_size, beta, k, two_alpha_beta_over_size, g);
      }
    });
  }
}

extern "C" __global__ void lrn_forward_v3(const real_t* __restrict__ x, real_t* __restrict__ y, int batch,
                                          int channels, int spatial, int chunk, int size,
                                          real_t alpha_over_size, real_t beta, real_t k) {
  lrn_chunks_forward<false>(x, y, batch, channels, spatial, chunk, size, alpha_over_size, beta, k);
}

extern "C" __global__ void lrn_backward_v3(const real_t* __restrict__ dout, const real_t* __restrict__ x,
                                           real_t* __restrict__ dx, int batch, int channels, int spatial,
                                           int chunk, int size, real_t alpha_over_size, real_t beta, real_t k,
                                           real_t two_alpha_beta_over_size) {
  lrn_chunks_backward<false>(dout, x, dx, batch, channels, spatial, chunk, size, alpha_over_size, beta, k,
                             two_alpha_beta_over_size);
}

extern "C" __global__ __launch_bounds__(256, LRN_V4_FORWARD_MIN_BLOCKS) void lrn_forward_v4(
    const real_t* __restrict__ x, real_t* __restrict__ y, int batch, int channels, int spatial, int chunk, int size,
    real_t alpha_over_size, real_t beta, real_t k) {
  lrn_chunks_forward<true>(x, y, batch, channels, spatial, chunk, size, alpha_over_size, beta, k);
}

extern "C" __global__ __launch_bounds__(256, LRN_V4_BACKWARD_MIN_BLOCKS) void lrn_backward_v4(
    const real_t* __restrict__ dout, const real_t* __restrict__ x, real_t* __restrict__ dx, int batch, int channels,
    int spatial, int chunk, int size, real_t alpha_over_size, real_t beta, real_t k, real_t two_alpha_beta_over_size) {
  lrn_chunks_backward<true>(dout, x, dx, batch, channels, spatial, chunk, size, alpha_over_size, beta, k,
                            two_alpha_beta_over_size);
}
