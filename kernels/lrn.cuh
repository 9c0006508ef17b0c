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

// The same thread's pixel column as an offset from x (image n's channel 0 at pixel p) and its
// channels [c_begin, c_end): what lrn.cu's version-2 and version-3 walks start from.
__device__ __forceinline__ void lrn_column_chunk(int i, int channels, int spatial, int chunk, int& offset,
                                                 int& c_begin, int& c_end) {
  int n, p;
  lrn_chunk(i, channels, spatial, chunk, n, c_begin, p);
  offset = n * channels * spatial + p;
  c_end = min(c_begin + chunk, channels);
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

// ---- version 3's walks: the window in registers ------------------------------------------------
// Version 2's walks load each x of a window again for every scale that holds it (size loads per
// channel, the most of them hits in L1), and the backward keeps its per-channel terms in rings
// indexed at run time, which ptxas puts in local memory (the 128-byte stack frame of
// lrn_backward_v2 in benchmarks/kernel_resources.py). Version 3 slides a window of a compile-time
// SIZE down the column instead: one load of x per channel, and every index into the arrays below
// a constant once the loops are unrolled, so they live in registers. A channel outside
// [0, channels) holds 0 there, and adding 0 * 0 or 0 to a sum that starts at +0 changes nothing:
// every value is version 2's, bit for bit. The window sizes are those of with_lrn_size; the
// layers launch version 2 for any other (LRN_REGISTER_SIZES in minicnn/layers/lrn.py).

// walk(Constant<size>()) for the window sizes that have a register walk, AlexNet's 5 and 3, one
// instantiation each; any other size does nothing. A kernel's registers are those of its largest
// walk: with 7 and 9 as well, nvcc 13 gave lrn_maxpool_backward_v3 56 registers a thread against
// 48 (4 blocks of 256 threads per multiprocessor against 5), and a fallback to version 2's walk
// here would give every thread its 128 bytes of local memory, used or not.
template <class Walk>
__device__ __forceinline__ void with_lrn_size(int size, Walk walk) {
  with_constant<3, 5>(size, walk);
}

// x of channels [first, first + SIZE) of one pixel column (channel 0 at xc, stride `spatial`),
// 0 outside the channels: the scale window of channel first + SIZE / 2.
template <int SIZE>
struct LrnWindow {
  const real_t* xc;
  int channels, spatial;
  int first;
  real_t x[SIZE];

  __device__ __forceinline__ real_t load(int c) const {
    return c >= 0 && c < channels ? xc[c * spatial] : real_t(0);
  }
  // Ready for the first slide() to make it the window of channel c.
  __device__ __forceinline__ void before(int c) {
    first = c - SIZE / 2 - 1;
    x[0] = real_t(0);   // shifted out unread
#pragma unroll
    for (int i = 1; i < SIZE; ++i) x[i] = load(first + i);
  }
  // The window of channel c, all of it loaded at once: SIZE loads in flight (lrn_scale's loop,
  // whose trip count is known at run time only, loads each x after the last one's term is added).
  __device__ __forceinline__ void at(int c) {
    first = c - SIZE / 2;
#pragma unroll
    for (int i = 0; i < SIZE; ++i) x[i] = load(first + i);
  }
  // The window of the next channel: one load.
  __device__ __forceinline__ void slide() {
#pragma unroll
    for (int i = 0; i + 1 < SIZE; ++i) x[i] = x[i + 1];
    ++first;
    x[SIZE - 1] = load(first + SIZE - 1);
  }
  // lrn_scale of channel first + SIZE / 2, its terms added in the same order.
  __device__ __forceinline__ real_t scale(real_t alpha_over_size, real_t k) const {
    real_t sum = real_t(0);
#pragma unroll
    for (int i = 0; i < SIZE; ++i) sum += x[i] * x[i];
    return k + alpha_over_size * sum;
  }
  __device__ __forceinline__ real_t centre() const { return x[SIZE / 2]; }
};

// y = x * scale^-beta for channels [c_begin, c_end) of one pixel column (xc, yc: channel 0).
template <int SIZE>
__device__ __forceinline__ void lrn_forward_walk_registers(const real_t* xc, real_t* yc, int c_begin, int c_end,
                                                           int channels, int spatial, real_t alpha_over_size,
                                                           real_t beta, real_t k) {
  LrnWindow<SIZE> window{xc, channels, spatial};
  window.before(c_begin);
  for (int c = c_begin; c < c_end; ++c) {
    window.slide();
    yc[c * spatial] = window.centre() * lrn_power(window.scale(alpha_over_size, k), beta);
  }
}

// lrn_backward_walk with the window in registers: the terms `direct` and `ratio` of channels
// [c - holders_before, c + holders_after] are kept in two arrays shifted one place per channel,
// and the scale window is that of the newest of them, c + SIZE / 2 (whose first x is x[c]).
// g(j) is called once per channel j in [c_begin - holders_before, c_end + holders_after) clipped
// to the channels, in order, by every thread alike (so it may hold a barrier); with write false
// the thread walks along without storing dx (lrn_maxpool_backward_v4's threads without a pixel).
template <int SIZE, class OutputGrad>
__device__ __forceinline__ void lrn_backward_walk_registers(const real_t* xc, real_t* dxc, int c_begin, int c_end,
                                                            int channels, int spatial, real_t alpha_over_size,
                                                            real_t beta, real_t k, real_t two_alpha_beta_over_size,
                                                            OutputGrad g, bool write = true) {
  constexpr int holders_before = (SIZE - 1) / 2, holders_after = SIZE / 2;
  LrnWindow<SIZE> window{xc, channels, spatial};
  real_t direct[SIZE], ratio[SIZE];   // channel c - holders_before + i at i; 0 outside the channels
  auto terms = [&](int j, real_t& direct_j, real_t& ratio_j) {   // window: channel j's
    direct_j = ratio_j = real_t(0);
    if (j >= 0 && j < channels) {
      const real_t s = window.scale(alpha_over_size, k);
      const real_t grad = g(j);
      const real_t power = lrn_power(s, beta);
      direct_j = grad * power;
      ratio_j = grad * (window.centre() * power) / s;
    }
  };
  const int oldest = c_begin - holders_before - 1;   // the terms before the first channel's
  window.before(oldest + 1);
  direct[0] = ratio[0] = real_t(0);                  // shifted out unread
#pragma unroll
  for (int i = 1; i < SIZE; ++i) {
    window.slide();
    terms(oldest + i, direct[i], ratio[i]);
  }
  for (int c = c_begin; c < c_end; ++c) {
#pragma unroll
    for (int i = 0; i + 1 < SIZE; ++i) {
      direct[i] = direct[i + 1];
      ratio[i] = ratio[i + 1];
    }
    window.slide();
    terms(c + holders_after, direct[SIZE - 1], ratio[SIZE - 1]);
    real_t spread = real_t(0);
#pragma unroll
    for (int i = 0; i < SIZE; ++i) spread += ratio[i];
    if (write) dxc[c * spatial] = direct[holders_before] - two_alpha_beta_over_size * window.x[0] * spread;
  }
}

// ---- version 4's walks: several channels' loads in flight at once ------------------------------
// Version 3's walks load one x a channel (the backward one x and one dL/dy) and use it at once:
// each thread waits on memory once a channel, with one load in flight, and on the H200 LRN ran
// at 51% to 55% of the copy bandwidth (2026-12-04). These walks take AHEAD channels a step,
// all their loads issued before the first is used; every value is computed as in version 3, with
// the same operations in the same order (bit for bit).

// x of channels [first, first + SIZE - 1 + AHEAD) of one pixel column, 0 outside the channels:
// the scale windows of AHEAD consecutive channels, first + SIZE / 2 to first + SIZE / 2 + AHEAD - 1.
template <int SIZE, int AHEAD>
struct LrnRun {
  const real_t* xc;
  int channels, spatial;
  int first;
  real_t x[SIZE - 1 + AHEAD];

  __device__ __forceinline__ real_t load(int c) const {
    return c >= 0 && c < channels ? xc[c * spatial] : real_t(0);
  }
  // Ready for the first advance() to make the run start at channel c.
  __device__ __forceinline__ void before(int c) {
    first = c - AHEAD;
#pragma unroll
    for (int i = AHEAD; i < SIZE - 1 + AHEAD; ++i) x[i] = load(first + i);
  }
  // The run AHEAD channels on: SIZE - 1 values kept, AHEAD loaded, all at once.
  __device__ __forceinline__ void advance() {
#pragma unroll
    for (int i = 0; i < SIZE - 1; ++i) x[i] = x[i + AHEAD];
    first += AHEAD;
#pragma unroll
    for (int i = 0; i < AHEAD; ++i) x[SIZE - 1 + i] = load(first + SIZE - 1 + i);
  }
  // lrn_scale of channel first + i + SIZE / 2 (the window x[i .. i + SIZE)), its terms added in
  // LrnWindow::scale's order.
  __device__ __forceinline__ real_t scale(int i, real_t alpha_over_size, real_t k) const {
    real_t sum = real_t(0);
#pragma unroll
    for (int j = 0; j < SIZE; ++j) sum += x[i + j] * x[i + j];
    return k + alpha_over_size * sum;
  }
};

// lrn_forward_walk_registers, AHEAD channels a step (the run starts SIZE / 2 channels above the
// step's first output).
template <int SIZE, int AHEAD>
__device__ __forceinline__ void lrn_forward_walk_ahead(const real_t* xc, real_t* yc, int c_begin, int c_end,
                                                       int channels, int spatial, real_t alpha_over_size, real_t beta,
                                                       real_t k) {
  LrnRun<SIZE, AHEAD> run{xc, channels, spatial};
  run.before(c_begin - SIZE / 2);
  for (int c = c_begin; c < c_end; c += AHEAD) {
    run.advance();
#pragma unroll
    for (int i = 0; i < AHEAD; ++i) {
      if (c + i < c_end)
        yc[(c + i) * spatial] = run.x[i + SIZE / 2] * lrn_power(run.scale(i, alpha_over_size, k), beta);
    }
  }
}

// lrn_backward_walk_registers, SIZE - 1 channels a step. A step's outputs c .. c + SIZE - 2 need
// the terms of channels c - holders_before .. c + SIZE - 2 + holders_after, 2 (SIZE - 1) of them:
// the SIZE - 1 oldest computed by the step before (the first step's by one without outputs), the
// SIZE - 1 newest by this one from the run of x, which starts at c (holders_after = SIZE / 2), and
// g(j) of their channels, loaded with the run's x before any is used. g is called for channels
// in [0, channels) only, in order, each once.
template <int SIZE, class OutputGrad>
__device__ __forceinline__ void lrn_backward_walk_ahead(const real_t* xc, real_t* dxc, int c_begin, int c_end,
                                                        int channels, int spatial, real_t alpha_over_size,
                                                        real_t beta, real_t k, real_t two_alpha_beta_over_size,
                                                        OutputGrad g) {
  constexpr int AHEAD = SIZE - 1, holders_before = (SIZE - 1) / 2, holders_after = SIZE / 2;
  LrnRun<SIZE, AHEAD> run{xc, channels, spatial};
  real_t direct[2 * AHEAD], ratio[2 * AHEAD];   // channel c - holders_before + i at i; 0 outside the channels
  // the step's newest terms, channels c + holders_after + i (run: from channel c)
  auto newest_terms = [&](int c) {
    real_t grad[AHEAD];
#pragma unroll
    for (int i = 0; i < AHEAD; ++i) {
      const int j = c + holders_after + i;
      grad[i] = j >= 0 && j < channels ? g(j) : real_t(0);
    }
#pragma unroll
    for (int i = 0; i < AHEAD; ++i) {
      const int j = c + holders_after + i;
      direct[AHEAD + i] = ratio[AHEAD + i] = real_t(0);
      if (j >= 0 && j < channels) {
        const real_t s = run.scale(i, alpha_over_size, k);
        const real_t power = lrn_power(s, beta);
        direct[AHEAD + i] = grad[i] * power;
        ratio[AHEAD + i] = grad[i] * (run.x[i + SIZE / 2] * power) / s;
      }
    }
  };
  run.before(c_begin - AHEAD);
  run.advance();
  newest_terms(c_begin - AHEAD);   // the first step's oldest terms
  for (int c = c_begin; c < c_end; c += AHEAD) {
#pragma unroll
    for (int i = 0; i < AHEAD; ++i) {
      direct[i] = direct[AHEAD + i];
      ratio[i] = ratio[AHEAD + i];
    }
    run.advance();
    newest_terms(c);
#pragma unroll
    for (int i = 0; i < AHEAD; ++i) {
      if (c + i < c_end) {
        real_t spread = real_t(0);
#pragma unroll
        for (int t = 0; t < SIZE; ++t) spread += ratio[i + t];
        dxc[(c + i) * spatial] = direct[holders_before + i] - two_alpha_beta_over_size * run.x[i] * spread;
      }
    }
  }
}
