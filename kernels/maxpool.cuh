// The max-pool window arithmetic shared by maxpool.cu and lrn_maxpool.cu (floor mode, padding
// that never wins: a window starts at its first real pixel).
#pragma once
#include "common.cuh"

// The input rows [h_start, h_end) and columns [w_start, w_end) that output (oh, ow) reads.
__device__ __forceinline__ void pool_window(int oh, int ow, int height, int width, int kernel_h, int kernel_w,
                                            int stride_h, int stride_w, int pad_h, int pad_w, int& h_start,
                                            int& h_end, int& w_start, int& w_end) {
  const int h0 = oh * stride_h - pad_h, w0 = ow * stride_w - pad_w;
  h_start = max(h0, 0);
  h_end = min(h0 + kernel_h, height);
  w_start = max(w0, 0);
  w_end = min(w0 + kernel_w, width);
}

// The maximum of x_plane over rows [h_start, h_end) and columns [w_start, w_end), written to
// best, and its index h * width + w to best_index (ties: the first in row-major order). Kept in
// registers until the end: best and best_index may be global memory.
__device__ __forceinline__ void window_max(const real_t* x_plane, int width, int h_start, int h_end, int w_start,
                                           int w_end, real_t& best, int& best_index) {
  int index = h_start * width + w_start;
  real_t value = x_plane[index];
  for (int h = h_start; h < h_end; ++h) {
    for (int w = w_start; w < w_end; ++w) {
      const real_t v = x_plane[h * width + w];
      if (v > value) {  // strict: the first maximum keeps the window
        value = v;
        index = h * width + w;
      }
    }
  }
  best = value;
  best_index = index;
}

// The gradient that reaches input pixel `index` (= h * W + w) of one plane: the sum of dout over
// the windows that cover it and chose it (argmax == index). Window oh covers row h when
// oh * stride - pad <= h < oh * stride - pad + kernel. A gather: no atomics, deterministic.
__device__ __forceinline__ real_t pooled_grad(const real_t* dout_plane, const int* argmax_plane, int h, int w,
                                              int width, int out_h, int out_w, int kernel_h, int kernel_w,
                                              int stride_h, int stride_w, int pad_h, int pad_w) {
  const int hp = h + pad_h, wp = w + pad_w;
  const int oh_start = hp < kernel_h ? 0 : (hp - kernel_h) / stride_h + 1;
  const int oh_end = min(hp / stride_h + 1, out_h);
  const int ow_start = wp < kernel_w ? 0 : (wp - kernel_w) / stride_w + 1;
  const int ow_end = min(wp / stride_w + 1, out_w);
  const int index = h * width + w;
  real_t sum = real_t(0);
  for (int oh = oh_start; oh < oh_end; ++oh) {
    for (int ow = ow_start; ow < ow_end; ++ow) {
      if (argmax_plane[oh * out_w + ow] == index) sum += dout_plane[oh * out_w + ow];
    }
  }
  return sum;
}

// The sum of dout over the windows [oh_first, oh_last) x [ow_first, ow_last) of one plane that
// chose input pixel `index` (argmax == index): pooled_grad with the windows found beforehand, so
// that a thread that needs the same pixel in several planes finds them once.
__device__ __forceinline__ real_t routed_grad(const real_t* dout_plane, const int* argmax_plane, int index,
                                              int oh_first, int oh_last, int ow_first, int ow_last, int out_w) {
  real_t sum = real_t(0);
  for (int oh = oh_first; oh < oh_last; ++oh) {
    for (int ow = ow_first; ow < ow_last; ++ow) {
      if (argmax_plane[oh * out_w + ow] == index) sum += dout_plane[oh * out_w + ow];
    }
  }
  return sum;
}

// The windows of one plane that cover a pixel, where they cover at most 2 positions along each
// axis (kernel <= 2 x stride: AlexNet's 3x3 windows at a stride of 2, any pooling without overlap),
// with their argmax and dout loaded all at once, none waiting on another's value, and summed later
// (routed_grad loads a window's dout only after its argmax chose the pixel: two trips to memory, one
// after the other). Window (oh_first + w / 2, ow_first + w % 2) at w; a window that is not there
// (past oh_last or ow_last, or `there` false) has argmax -1 and dout 0. max-pool's version 6 and
// the fused LRN+max-pool's version 6.
struct TwoWindowsASide {
  real_t grad[4];
  int chose[4];
  __device__ __forceinline__ void load(const real_t* dout_plane, const int* argmax_plane, int oh_first, int oh_last,
                                       int ow_first, int ow_last, int out_w, bool there) {
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const int oh = oh_first + w / 2, ow = ow_first + w % 2;
      const bool window_there = there && oh < oh_last && ow < ow_last;
      chose[w] = window_there ? argmax_plane[oh * out_w + ow] : -1;
      grad[w] = window_there ? dout_plane[oh * out_w + ow] : real_t(0);
    }
  }
  // routed_grad's sum: the windows that chose pixel `index`, in its order; the others add +0, which
  // leaves a sum as it is (bit for bit routed_grad's)
  __device__ __forceinline__ real_t sum_for(int index) const {
    real_t sum = real_t(0);
#pragma unroll
    for (int w = 0; w < 4; ++w) sum += chose[w] == index ? grad[w] : real_t(0);
    return sum;
  }
};

// The maximum of value(h, w) over one pooling window and its position p = h * width + w:
// window_max for values that are computed, or kept in another layout (ties and NaNs alike: the
// first maximum keeps the window). Kept in registers until the end, like window_max.
template <typename Value>
__device__ __forceinline__ void window_max_of(int width, int h_start, int h_end, int w_start, int w_end,
                                              Value value, real_t& best, int& best_index) {
  best_index = -1;
  best = real_t(0);
  for (int h = h_start; h < h_end; ++h) {
    for (int w = w_start; w < w_end; ++w) {
      const int p = h * width + w;
      const real_t v = value(h, w);
      if (best_index < 0 || v > best) {  // strict: the first maximum keeps the window
        best = v;
        best_index = p;
      }
    }
  }
}

// ---- bands: every input value of a block's windows read once, through shared memory -----------
// Windows of 3x3 at stride 2 overlap, so a thread per output reads most inputs twice or more (and
// in a warp's request, pixels two apart: half of each sector). A block of the band kernels
// (maxpool_forward_v3, lrn_maxpool_forward_v3) takes one plane and a band of `rows` output rows:
// its threads first copy (or compute) the values of the input rows the band's windows read into
// shared memory, once each, consecutive threads taking consecutive pixels, then each takes the
// maximum of its windows from there. Bands overlap by kernel_h - stride_h input rows (1 for
// AlexNet's pools). The caller picks `rows` so that the band's input rows fit in POOL_BAND_TILE
// values (band_rows in minicnn/layers/maxpool.py); blockIdx.y is the band.
#define POOL_BAND_TILE 2048

// Where a band keeps input pixel (r, w), r counted from the band's first row, in shared memory.
// Row after row (versions 3 and 4): a warp's consecutive windows, stride_w pixels apart, read
// words stride_w apart, so that at AlexNet's stride of 2 its 32 reads span 64 words, two to each
// of the 32 banks, and take two passes or more (the kernel-traffic count: 2.4 to 2.8).
// slot(i, width): where the band's i-th pixel in row-major order goes.
struct RowMajorBand {
  int width;
  __device__ __forceinline__ int operator()(int r, int w) const { return r * width + w; }
  __device__ __forceinline__ int slot(int i, int) const { return i; }
};

// By phase (version 5, for a stride of 2 both ways; im2col's version 5 lays out its band so for
// any stride, kernels/im2col.cu): each row's even columns first and its odd ones after them,
// half = ceil(W / 2) words each, so that column j of consecutive windows, at w = 2 ow + j, is at
// consecutive words; and the rows in pairs `pair` words apart, pair >= 4 half and pair = out_w
// modulo 32, so that where a warp's windows run on into the next row of windows, two input rows
// on, the words run on too (window i of the band at word pair (i / out_w) + i % out_w + the same
// offset). A warp's 32 reads are then 32 consecutive words modulo 32, one to a bank. (Its stores,
// consecutive pixels of a row, alternate between the two halves and may share banks: a value is
// stored once and read by 2.25 windows at 3x3.) The band takes pair / 2 words a row
// (minicnn/layers/maxpool.py: band_pitch).
struct PhasedBand {
  int half, pair;
  __device__ __forceinline__ PhasedBand(int width, int out_w)
      : half((width + 1) / 2), pair(4 * half + ((out_w - 4 * half) % 32 + 32) % 32) {}
  __device__ __forceinline__ int operator()(int r, int w) const {
    return (r >> 1) * pair + ((r & 1) * 2 + (w & 1)) * half + (w >> 1);
  }
  __device__ __forceinline__ int slot(int i, int width) const {
    const int r = i / width;
    return (*this)(r, i - r * width);
  }
};

// The output rows [oh_begin, oh_stop) of band blockIdx.y (`rows` of them, the last band fewer) and
// the input rows [h_begin, h_stop) their windows read.
__device__ __forceinline__ void pool_band(int rows, int height, int out_h, int kernel_h, int stride_h, int pad_h,
                                          int& oh_begin, int& oh_stop, int& h_begin, int& h_stop) {
  oh_begin = blockIdx.y * rows;
  oh_stop = min(oh_begin + rows, out_h);
  h_begin = max(oh_begin * stride_h - pad_h, 0);
  h_stop = min((oh_stop - 1) * stride_h - pad_h + kernel_h, height);
}

// The maxima of the band's windows from `band`, the values of input rows [h_begin, ...) of the
// plane, whole rows, where `layout` puts them; y_plane, argmax_plane: the plane's outputs. After a
// __syncthreads.
template <typename Layout>
__device__ __forceinline__ void band_pool(const real_t* band, Layout layout, int h_begin, int oh_begin, int oh_stop,
                                          real_t* __restrict__ y_plane, int* __restrict__ argmax_plane, int height,
                                          int width, int out_w, int kernel_h, int kernel_w, int stride_h,
                                          int stride_w, int pad_h, int pad_w) {
  for (int i = threadIdx.x; i < (oh_stop - oh_begin) * out_w; i += blockDim.x) {
    const int oh = oh_begin + i / out_w, ow = i - (oh - oh_begin) * out_w;
    int h_start, h_end, w_start, w_end;
    pool_window(oh, ow, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, h_start, h_end,
                w_start, w_end);
    real_t best;
    int best_index;
    window_max_of(width, h_start, h_end, w_start, w_end, [&](int h, int w) { return band[layout(h - h_begin, w)]; },
                  best, best_index);
    y_plane[oh * out_w + ow] = best;
    argmax_plane[oh * out_w + ow] = best_index;
  }
}

// value(p): input pixel p = h * width + w of the block's plane; y_plane, argmax_plane: its outputs;
// band: the kernel's __shared__ real_t[POOL_BAND_TILE], for the values of input rows
// [h_begin, h_stop), where `layout` puts them. (The kernel declares it: g++, which builds the
// kernel simulator, ignores the section attribute that places __shared__ variables in shared
// memory there inside templates.) Consecutive threads take consecutive pixels (for a phased band,
// at two runs of words: a store's 32 words may share banks, but a band's values are stored once
// and read by 2.25 windows each at 3x3 and stride 2).
template <typename Value, typename Layout>
__device__ __forceinline__ void band_max_pool(Value value, real_t* __restrict__ band, Layout layout,
                                              real_t* __restrict__ y_plane, int* __restrict__ argmax_plane,
                                              int height, int width, int out_h, int out_w, int kernel_h, int kernel_w,
                                              int stride_h, int stride_w, int pad_h, int pad_w, int rows) {
  int oh_begin, oh_stop, h_begin, h_stop;
  pool_band(rows, height, out_h, kernel_h, stride_h, pad_h, oh_begin, oh_stop, h_begin, h_stop);
  for (int i = threadIdx.x; i < (h_stop - h_begin) * width; i += blockDim.x) {
    band[layout.slot(i, width)] = value(h_begin * width + i);
  }
  __syncthreads();
  band_pool(band, layout, h_begin, oh_begin, oh_stop, y_plane, argmax_plane, height, width, out_w, kernel_h,
            kernel_w, stride_h, stride_w, pad_h, pad_w);
}
