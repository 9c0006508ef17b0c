// im2col and col2im for Conv2D (minicnn/layers/im2col.py), and the two layout kernels between
// the GEMM's channel-major result and the NCHW tensors the layers exchange.
//
// Layout: x, dx (N, C, H, W); cols (C * kh * kw, N * OH * OW) with
//   row (c * kh + i) * kw + j, column (n * OH + oh) * OW + ow  holding  xpad[n, c, oh*sh + i, ow*sw + j]
// (0 in the padding). Groups need nothing here: group g's rows are a contiguous block.
//
// Seven versions (minicnn/kernel_versions.py), which give the same values bit for bit; version 3
// rewrites col2im only, versions 4 and 5 im2col only, version 6 col2im only, on version 2, and
// version 7 the layout kernels only (the family's other kernels run their newest earlier version,
// version 6's those of version 2: minicnn.kernel_versions.kernel_name).
#include "common.cuh"

// ---- version 1: one thread per element, every index found by division -------------------------
// Each thread splits its flat index into six coordinates with divisions by runtime values (tens
// of integer instructions each): for conv1's 140 million column entries that, not memory, bounds
// im2col; col2im tries all kh * kw window offsets of its pixel (121 for conv1) with two more
// divisions each.

// Launch: grid-stride, one thread per element of cols. Consecutive threads write consecutive
// columns (coalesced) and read pixels stride_w apart.
extern "C" __global__ void im2col_v1(const real_t* __restrict__ x, real_t* __restrict__ cols, int batch,
                                  int channels, int height, int width, int out_h, int out_w, int kernel_h,
                                  int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w) {
  const int columns = batch * out_h * out_w;
  GRID_STRIDE_LOOP(i, channels * kernel_h * kernel_w * columns) {
    const int column = i % columns, row = i / columns;
    const int ow = column % out_w, oh = column / out_w % out_h, n = column / (out_w * out_h);
    const int j = row % kernel_w, ki = row / kernel_w % kernel_h, c = row / (kernel_w * kernel_h);
    const int h = oh * stride_h - pad_h + ki, w = ow * stride_w - pad_w + j;
    cols[i] = (h >= 0 && h < height && w >= 0 && w < width) ? x[((n * channels + c) * height + h) * width + w]
                                                            : real_t(0);
  }
}

// Gather form of the adjoint: one thread per input pixel adds up the cols entries of every
// window offset (i, j) that reads it, in the same (i, j) order as the CPU code, so no atomics
// are needed and the sum is deterministic. Offset i reads row h from output row
// oh = (h + pad - i) / stride when that division is exact and oh is in range.
extern "C" __global__ void col2im_v1(const real_t* __restrict__ cols, real_t* __restrict__ dx, int batch,
                                  int channels, int height, int width, int out_h, int out_w, int kernel_h,
                                  int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w) {
  const int columns = batch * out_h * out_w;
  GRID_STRIDE_LOOP(i, batch * channels * height * width) {
    const int w = i % width, h = i / width % height, c = i / (width * height) % channels;
    const int n = i / (width * height * channels);
    real_t sum = real_t(0);
    for (int ki = 0; ki < kernel_h; ++ki) {
      const int th = h + pad_h - ki;
      if (th < 0 || th % stride_h != 0 || th / stride_h >= out_h) continue;
      const int oh = th / stride_h;
      for (int j = 0; j < kernel_w; ++j) {
        const int tw = w + pad_w - j;
        if (tw < 0 || tw % stride_w != 0 || tw / stride_w >= out_w) continue;
        const int ow = tw / stride_w;
        sum += cols[((c * kernel_h + ki) * kernel_w + j) * columns + (n * out_h + oh) * out_w + ow];
      }
    }
    dx[i] = sum;
  }
}

// y[n, o, s] = gemm_out[o, n * S + s] + bias[o]: the conv output from the GEMM's (O, N * S)
// layout to NCHW with the bias add fused in (one pass instead of two), and with relu != 0 the
// ReLU too (Conv2D(relu=True), minicnn/fusion.py: a third pass saved). S = OH * OW.
// Launch: grid-stride, one thread per element of y (coalesced writes).
extern "C" __global__ void gemm_to_nchw_bias_v1(const real_t* __restrict__ gemm_out, const real_t* __restrict__ bias,
                                             real_t* __restrict__ y, int batch, int channels, int spatial,
                                             int relu) {
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    const int s = i % spatial, o = i / spatial % channels, n = i / (spatial * channels);
    y[i] = biased_relu(gemm_out[(o * batch + n) * spatial + s], bias[o], relu);
  }
}

// gemm[o, n * S + s] = dout[n, o, s]: the conv's upstream gradient in the GEMM's layout.
// Launch: grid-stride, one thread per element (coalesced writes).
extern "C" __global__ void nchw_to_gemm_v1(const real_t* __restrict__ dout, real_t* __restrict__ gemm,
                                        int batch, int channels, int spatial) {
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    const int s = i % spatial, n = i / spatial % batch, o = i / (spatial * batch);
    gemm[i] = dout[(n * channels + o) * spatial + s];
  }
}

// The same with the fused ReLU's backward: gemm[o, n * S + s] = dout[n, o, s] where the conv's
// (ReLU'd) output y was positive, else 0 (as relu_backward), saving the ReLU layer's pass.
extern "C" __global__ void nchw_to_gemm_relu_v1(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                             real_t* __restrict__ gemm, int batch, int channels, int spatial) {
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    const int s = i % spatial, n = i / spatial % batch, o = i / (spatial * batch);
    const int from = (n * channels + o) * spatial + s;
    gemm[i] = y[from] > real_t(0) ? dout[from] : real_t(0);
  }
}

// ---- version 2: the divisions once per window or per block -----------------------------------
// The image, channel, row and column of element i of an (N, C, H, W) tensor, by one division per
// axis (version 2's and version 3's col2im: a thread per input pixel).
__device__ __forceinline__ void nchw_coordinates(int i, int channels, int height, int width, int& n, int& c, int& h,
                                                 int& w) {
  const int spatial = height * width, plane = i / spatial, p = i - plane * spatial;
  h = p / width;
  w = p - h * width;
  n = plane / channels;
  c = plane - n * channels;
}

// im2col: one thread per (channel, column) finds its window once (three divisions) and copies its
// kh * kw pixels down its column of cols (as Caffe's im2col_gpu_kernel); consecutive threads take
// consecutive columns, so every store is coalesced.
extern "C" __global__ void im2col_v2(const real_t* __restrict__ x, real_t* __restrict__ cols, int batch,
                                     int channels, int height, int width, int out_h, int out_w, int kernel_h,
                                     int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w) {
  const int out_spatial = out_h * out_w, columns = batch * out_spatial;
  GRID_STRIDE_LOOP(i, channels * columns) {
    const int c = i / columns, column = i - c * columns;
    const int n = column / out_spatial, s = column - n * out_spatial;
    const int oh = s / out_w, ow = s - oh * out_w;
    const int h0 = oh * stride_h - pad_h, w0 = ow * stride_w - pad_w;
    const real_t* x_plane = x + (n * channels + c) * height * width;
    real_t* out = cols + c * kernel_h * kernel_w * columns + column;
    for (int ki = 0; ki < kernel_h; ++ki) {
      const int h = h0 + ki;
      for (int j = 0; j < kernel_w; ++j) {
        const int w = w0 + j;
        *out = (h >= 0 && h < height && w >= 0 && w < width) ? x_plane[h * width + w] : real_t(0);
        out += columns;
      }
    }
  }
}

// col2im: one thread per input pixel visits only the windows that cover it (covering_windows:
// about (k / s)^2 of them, 9 for conv1 instead of 121 offsets), output rows and columns from
// the last to the first so that the window offsets (ki, j) come in version 1's order and the
// sum is the same bit for bit.
extern "C" __global__ void col2im_v2(const real_t* __restrict__ cols, real_t* __restrict__ dx, int batch,
                                     int channels, int height, int width, int out_h, int out_w, int kernel_h,
                                     int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w) {
  const int spatial = height * width, out_spatial = out_h * out_w, columns = batch * out_spatial;
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    int n, c, h, w;
    nchw_coordinates(i, channels, height, width, n, c, h, w);
    int oh_first, oh_last, ow_first, ow_last;
    covering_windows(h, kernel_h, stride_h, pad_h, out_h, oh_first, oh_last);
    covering_windows(w, kernel_w, stride_w, pad_w, out_w, ow_first, ow_last);
    const real_t* cols_c = cols + c * kernel_h * kernel_w * columns + n * out_spatial;
    real_t sum = real_t(0);
    for (int oh = oh_last - 1; oh >= oh_first; --oh) {
      const int ki = h + pad_h - oh * stride_h;
      for (int ow = ow_last - 1; ow >= ow_first; --ow) {
        const int j = w + pad_w - ow * stride_w;
        sum += cols_c[(ki * kernel_w + j) * columns + oh * out_w + ow];
      }
    }
    dx[i] = sum;
  }
}

// ---- version 3 (col2im): the threads of a warp at the same window offset ----------------------
// Version 2's threads by the right and bottom edges start their walk at another window offset
// than their neighbours (their last windows are cut off by the image's edge), so at every step
// they read other rows of cols than the rest of their warp: the kernel-traffic count gives conv2's
// col2im 6.4 sectors per load request against version 1's 4.7. Here every thread walks the
// offsets ki = (h + pad) mod stride, then + stride, ..., as version 1 tries them, its output row
// one lower at each step (one division per axis and thread, as version 2), and skips the windows
// the edge cuts off: the threads of a warp keep in step, and the sum is version 1's bit for bit.
// On a GPU version 2 loses more: nvcc unrolls its inner loop by 4 and does the trip count mod 4
// first, at load instructions of their own, so a warp whose threads walk 3, 4 and 5 windows takes
// 7 requests a window row where the loop as written (and the simulator) takes 5; Nsight Compute
// counted 1.40x the simulator's load requests on conv2 (README, "Memory traffic"). This loop,
// with two exit conditions, stays rolled (one load instruction in its PTX).
extern "C" __global__ void col2im_v3(const real_t* __restrict__ cols, real_t* __restrict__ dx, int batch,
                                     int channels, int height, int width, int out_h, int out_w, int kernel_h,
                                     int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w) {
  const int spatial = height * width, out_spatial = out_h * out_w, columns = batch * out_spatial;
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    int n, c, h, w;
    nchw_coordinates(i, channels, height, width, n, c, h, w);
    const int hp = h + pad_h, wp = w + pad_w;
    const int oh_top = hp / stride_h, ow_top = wp / stride_w;   // the windows of offset ki_first, j_first
    const int ki_first = hp - oh_top * stride_h, j_first = wp - ow_top * stride_w;
    const real_t* cols_c = cols + c * kernel_h * kernel_w * columns + n * out_spatial;
    real_t sum = real_t(0);
    for (int ki = ki_first, oh = oh_top; ki < kernel_h && oh >= 0; ki += stride_h, --oh) {
      if (oh >= out_h) continue;   // cut off by the bottom edge
      for (int j = j_first, ow = ow_top; j < kernel_w && ow >= 0; j += stride_w, --ow) {
        if (ow >= out_w) continue;
        sum += cols_c[(ki * kernel_w + j) * columns + oh * out_w + ow];
      }
    }
    dx[i] = sum;
  }
}

// ---- version 6 (col2im): version 3's walk with every window's entry loaded before any is added --
// On an H200 (2026-12-04) version 2 was the fastest col2im (conv2 0.387 ms, 58% of the copy
// bandwidth), version 3 slower (0.432) though its warps keep in step and ask for fewer requests,
// and version 5 through shared memory slower still. What version 2 has is loads in flight: nvcc
// unrolls its inner loop by 4 (above), where version 3's loop, rolled, waits for each entry before
// it asks for the next (an add of a value still on its way stalls the warp, and the next load
// comes after the add). Here a thread takes version 3's windows in version 3's order, but loads the
// entries of all of them first, a load for each of the side x side windows that can cover a pixel
// (side = ceil(kernel / stride), at most: 5 x 5 for conv2, 3 x 3 for conv1 and conv3-5), those that
// do not cover it giving 0 without a load, and only then adds them up: up to side^2 loads in flight
// a thread (in nvcc 13.0's code for sm_90, 23 of conv2's 25 at once), the warp's threads at the
// same offsets as version 3's. The sum takes the same values in the same order, with +0 for the
// windows that are not there, which leaves a sum as it is (it starts at +0, so it is never -0):
// version 3's results bit for bit. For sides of 2 to 5 (with_col2im_side); the layer runs version 3
// for the others.
// Launch: grid-stride, a thread per input pixel, as version 3.
// gather(Constant<side>()) for the sides 2 to 5, one instantiation each; any other does nothing.
// A kernel's registers are those of its largest gather (side 5: 25 entries a thread).
template <class Gather>
__device__ __forceinline__ void with_col2im_side(int side, Gather gather) {
  with_constant<2, 3, 4, 5>(side, gather);
}

// The sum of the cols entries of the windows that cover pixel (hp, wp) of the padded image, in
// version 3's order; cols_c: the entries of its plane's channel and image (offset (ki, j) at row
// ki * kernel_w + j, `columns` apart).
template <int SIDE>
__device__ __forceinline__ real_t windows_sum_in_flight(const real_t* __restrict__ cols_c, int columns, int hp,
                                                        int wp, int out_h, int out_w, int kernel_h, int kernel_w,
                                                        int stride_h, int stride_w) {
  const int oh_top = hp / stride_h, ow_top = wp / stride_w;   // the windows of offset ki_first, j_first
  const int ki_first = hp - oh_top * stride_h, j_first = wp - ow_top * stride_w;
  real_t entry[SIDE][SIDE];
#pragma unroll
  for (int a = 0; a < SIDE; ++a) {   // every load first ...
    const int ki = ki_first + a * stride_h, oh = oh_top - a;
    const bool row_there = ki < kernel_h && oh >= 0 && oh < out_h;
#pragma unroll
    for (int b = 0; b < SIDE; ++b) {
      const int j = j_first + b * stride_w, ow = ow_top - b;
      const bool there = row_there && j < kernel_w && ow >= 0 && ow < out_w;
      entry[a][b] = there ? cols_c[(ki * kernel_w + j) * columns + oh * out_w + ow] : real_t(0);
    }
  }
  real_t sum = real_t(0);
#pragma unroll
  for (int a = 0; a < SIDE; ++a) {   // ... then the sum, in version 3's order
#pragma unroll
    for (int b = 0; b < SIDE; ++b) sum += entry[a][b];
  }
  return sum;
}

extern "C" __global__ void col2im_v6(const real_t* __restrict__ cols, real_t* __restrict__ dx, int batch,
                                     int channels, int height, int width, int out_h, int out_w, int kernel_h,
                                     int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w) {
  const int spatial = height * width, out_spatial = out_h * out_w, columns = batch * out_spatial;
  const int side = max((kernel_h + stride_h - 1) / stride_h, (kernel_w + stride_w - 1) / stride_w);
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    int n, c, h, w;
    nchw_coordinates(i, channels, height, width, n, c, h, w);
    const real_t* cols_c = cols + c * kernel_h * kernel_w * columns + n * out_spatial;
    with_col2im_side(side, [&](auto s) {
      dx[i] = windows_sum_in_flight<decltype(s)::value>(cols_c, columns, h + pad_h, w + pad_w, out_h, out_w,
                                                        kernel_h, kernel_w, stride_h, stride_w);
    });
  }
}

// The layout kernels with a block per (plane, tile of pixels) (minicnn.launch.plane_tiles): the
// thread finds its plane from blockIdx.x, not by dividing its flat index three times.
// gemm_to_nchw_bias: blockIdx.x is the NCHW plane n * C + o.
extern "C" __global__ void gemm_to_nchw_bias_v2(const real_t* __restrict__ gemm_out,
                                                const real_t* __restrict__ bias, real_t* __restrict__ y,
                                                int batch, int channels, int spatial, int relu) {
  const int s = blockIdx.y * blockDim.x + threadIdx.x;
  if (s >= spatial) return;
  const int n = blockIdx.x / channels, o = blockIdx.x - n * channels;
  y[blockIdx.x * spatial + s] = biased_relu(gemm_out[(o * batch + n) * spatial + s], bias[o], relu);
}

// nchw_to_gemm: blockIdx.x is the GEMM layout's plane o * N + n.
extern "C" __global__ void nchw_to_gemm_v2(const real_t* __restrict__ dout, real_t* __restrict__ gemm, int batch,
                                           int channels, int spatial) {
  const int s = blockIdx.y * blockDim.x + threadIdx.x;
  if (s >= spatial) return;
  const int o = blockIdx.x / batch, n = blockIdx.x - o * batch;
  gemm[blockIdx.x * spatial + s] = dout[(n * channels + o) * spatial + s];
}

extern "C" __global__ void nchw_to_gemm_relu_v2(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                                real_t* __restrict__ gemm, int batch, int channels, int spatial) {
  const int s = blockIdx.y * blockDim.x + threadIdx.x;
  if (s >= spatial) return;
  const int o = blockIdx.x / batch, n = blockIdx.x - o * batch;
  const int from = (n * channels + o) * spatial + s;
  gemm[blockIdx.x * spatial + s] = y[from] > real_t(0) ? dout[from] : real_t(0);
}

// ---- version 7 (the layout kernels): several pixels a thread, all loaded before any is stored ---
// On an H200 (2026-12-04) version 2's gemm_to_nchw_bias ran at 43% to 51% of the copy bandwidth
// (conv1 0.140 ms), version 1's grid-stride loop no faster. Both give a thread one pixel: one
// load, one store, and the block is done, so the copy goes in waves of blocks, each wave one trip
// to memory with a float a thread in flight (conv1: 147,456 blocks of 256; conv3-5, whose planes
// hold 169 pixels, 49,152 blocks of 192, 10 a multiprocessor). ReLU's version 2 showed the cure on
// the same GPU, 78% of the copy bandwidth to 107%: several elements a thread, every load issued
// before the first store. Here each thread takes LAYOUT_V7_PIXELS pixels of its plane, blockDim
// apart (a warp's loads and stores stay consecutive), loads them all, then stores them: a quarter
// of the blocks (conv1: 36,864 of 256; conv3-5: 49,152 of 64, 32 a multiprocessor), four floats in
// flight a thread. The same values as version 2, bit for bit.
// Launch: grid (planes, tiles of blockDim x LAYOUT_V7_PIXELS pixels), block (tile,)
// (minicnn/layers/conv.py: plane_tiles over ceil(spatial / LAYOUT_V7_PIXELS)).
#define LAYOUT_V7_PIXELS 4

// store(s, load(s)) for this thread's pixels s of its tile, every load before the first store.
template <class Load, class Store>
__device__ __forceinline__ void layout_pixels_in_flight(int spatial, Load load, Store store) {
  const int first = blockIdx.y * blockDim.x * LAYOUT_V7_PIXELS + threadIdx.x;
  real_t value[LAYOUT_V7_PIXELS];
#pragma unroll
  for (int k = 0; k < LAYOUT_V7_PIXELS; ++k) {
    const int s = first + k * blockDim.x;
    if (s < spatial) value[k] = load(s);
  }
#pragma unroll
  for (int k = 0; k < LAYOUT_V7_PIXELS; ++k) {
    const int s = first + k * blockDim.x;
    if (s < spatial) store(s, value[k]);
  }
}

// gemm_to_nchw_bias: blockIdx.x is the NCHW plane n * C + o.
extern "C" __global__ void gemm_to_nchw_bias_v7(const real_t* __restrict__ gemm_out,
                                                const real_t* __restrict__ bias, real_t* __restrict__ y,
                                                int batch, int channels, int spatial, int relu) {
  const int n = blockIdx.x / channels, o = blockIdx.x - n * channels;
  const real_t* from = gemm_out + (o * batch + n) * spatial;
  real_t* to = y + blockIdx.x * spatial;
  const real_t b = bias[o];
  layout_pixels_in_flight(spatial, [&](int s) { return from[s]; },
                          [&](int s, real_t v) { to[s] = biased_relu(v, b, relu); });
}

// nchw_to_gemm: blockIdx.x is the GEMM layout's plane o * N + n.
extern "C" __global__ void nchw_to_gemm_v7(const real_t* __restrict__ dout, real_t* __restrict__ gemm, int batch,
                                           int channels, int spatial) {
  const int o = blockIdx.x / batch, n = blockIdx.x - o * batch;
  const real_t* from = dout + (n * channels + o) * spatial;
  real_t* to = gemm + blockIdx.x * spatial;
  layout_pixels_in_flight(spatial, [&](int s) { return from[s]; }, [&](int s, real_t v) { to[s] = v; });
}

// y and dout both loaded, the ReLU's mask applied after (version 2 loads dout only where y > 0:
// a second trip to memory that waits on the first).
extern "C" __global__ void nchw_to_gemm_relu_v7(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                                real_t* __restrict__ gemm, int batch, int channels, int spatial) {
  const int o = blockIdx.x / batch, n = blockIdx.x - o * batch;
  const int from = (n * channels + o) * spatial;
  real_t* to = gemm + blockIdx.x * spatial;
  layout_pixels_in_flight(spatial, [&](int s) {
    const real_t kept = y[from + s], grad = dout[from + s];
    return kept > real_t(0) ? grad : real_t(0);
  }, [&](int s, real_t v) { to[s] = v; });
}

// ---- version 4 (im2col): each input read once, through shared memory --------------------------
// Version 2's thread copies its window from global memory: a warp's request reads pixels
// stride_w apart (conv1: 16.8 sectors per request of 32 floats, 4 is ideal) and every pixel is
// read kh * kw / (sh * sw) times over the overlapping windows (7.6 for conv1, 25 for conv2). Here
// a block takes one plane (n, c) and a band of `rows` output rows: its threads first copy the
// padded input rows the band's windows read into shared memory (zeros where the padding is),
// consecutive threads taking consecutive pixels, then each thread takes an output position of
// the band and writes its window down its column of cols from there. The band's columns are
// consecutive in cols, so the stores stay coalesced; the bands overlap by kh - sh input rows.
// Reading shared memory `stride_w` words apart costs bank conflicts (4-way for conv1), far less
// than the global requests they replace. A pure copy: the values are version 2's bit for bit.
// Launch: grid (N * C, bands), block (a multiple of 32, at most 256 threads); im2col_band in
// minicnn/layers/im2col.py picks `rows` so that the band's input rows fit in IM2COL_BAND_TILE
// values (images too wide for one window's rows run version 2) and its positions in one block.
#define IM2COL_BAND_TILE 6144   // 24 KB in float (full occupancy), 48 KB, the static limit, in double

extern "C" __global__ void im2col_v4(const real_t* __restrict__ x, real_t* __restrict__ cols, int batch,
                                     int channels, int height, int width, int out_h, int out_w, int kernel_h,
                                     int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int rows) {
  __shared__ real_t band[IM2COL_BAND_TILE];   // padded rows [h_begin, h_begin + band_h), columns [-pad_w, ...)
  const int n = blockIdx.x / channels, c = blockIdx.x - n * channels;
  const int oh_begin = blockIdx.y * rows, band_out = min(rows, out_h - oh_begin) * out_w;
  const int band_w = (out_w - 1) * stride_w + kernel_w;   // the padded columns the windows read
  const int band_h = (min(rows, out_h - oh_begin) - 1) * stride_h + kernel_h;
  const int h_begin = oh_begin * stride_h - pad_h;
  const real_t* x_plane = x + blockIdx.x * height * width;
  for (int i = threadIdx.x; i < band_h * band_w; i += blockDim.x) {
    const int r = i / band_w, h = h_begin + r, w = i - r * band_w - pad_w;
    band[i] = (h >= 0 && h < height && w >= 0 && w < width) ? x_plane[h * width + w] : real_t(0);
  }
  __syncthreads();
  const int columns = batch * out_h * out_w, first = (n * out_h + oh_begin) * out_w;   // the band's first column
  real_t* band_cols = cols + c * kernel_h * kernel_w * columns + first;
  // Each warp's stores start on a 128-byte line of cols (when its rows do: N * OH * OW a
  // multiple of 32), as version 2's warps do: aligned_start (common.cuh).
  for (int p = aligned_start(first); p < band_out; p += blockDim.x) {
    if (p < 0) continue;
    const int r = p / out_w, ow = p - r * out_w;
    const real_t* window = band + r * stride_h * band_w + ow * stride_w;
    real_t* out = band_cols + p;
    for (int ki = 0; ki < kernel_h; ++ki) {
      for (int j = 0; j < kernel_w; ++j) {
        *out = window[ki * band_w + j];
        out += columns;
      }
    }
  }
}

// ---- version 5 (im2col): version 4 without shared-memory bank conflicts -----------------------
// Shared memory is 32 banks of 4-byte words (word w in bank w mod 32); a warp's read takes one
// pass for each distinct word it asks of the busiest bank. Version 4's warps read the band
// `stride_w` words apart (conv1: every read takes 4 passes), and where a warp's positions run on
// into the next output row, that row's words fall in banks the warp already uses (conv2, 27
// positions a row: 1.7 passes a read; the simulator's traffic count, benchmarks/kernel_traffic.py).
// Version 5 lays the band out so that the threads of a warp, taking consecutive positions, read
// words one apart mod 32, whatever window offset (ki, j) they are at:
//   * columns by phase: padded column w at (w mod sw) * phase_w + w / sw, phase_w = ceil(band_w / sw),
//     so that offset j of positions ow and ow + 1 is one word apart (version 4: sw words);
//   * rows by phase: band row h at (h / sh) * group + (h mod sh) * row_w, row_w = sw * phase_w, with
//     group >= sh * row_w and group = out_w (mod 32) (im2col_band_layout in minicnn/layers/im2col.py),
//     so that output row r + 1 reads `group` words after row r: the first position of a row reads
//     one word (mod 32) after the last position of the row before.
// The copy in writes each row's phases apart (stride_w words between neighbouring threads' words,
// at most 2 passes for conv1), once per input value; the reads, kh * kw per position, take one
// pass. The same values as version 4.
// Launch: as version 4, and `group` (im2col_band and im2col_band_layout pick the band and its layout).
extern "C" __global__ void im2col_v5(const real_t* __restrict__ x, real_t* __restrict__ cols, int batch,
                                     int channels, int height, int width, int out_h, int out_w, int kernel_h,
                                     int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int rows,
                                     int group) {
  __shared__ real_t band[IM2COL_BAND_TILE];
  const int n = blockIdx.x / channels, c = blockIdx.x - n * channels;
  const int oh_begin = blockIdx.y * rows, band_rows = min(rows, out_h - oh_begin), band_out = band_rows * out_w;
  const int band_w = (out_w - 1) * stride_w + kernel_w, band_h = (band_rows - 1) * stride_h + kernel_h;
  const int phase_w = (band_w + stride_w - 1) / stride_w, row_w = stride_w * phase_w;
  const int h_begin = oh_begin * stride_h - pad_h;
  const real_t* x_plane = x + blockIdx.x * height * width;
  for (int i = threadIdx.x; i < band_h * band_w; i += blockDim.x) {
    const int r = i / band_w, w = i - r * band_w, h = h_begin + r, xw = w - pad_w;   // band row, padded column
    const int r_group = r / stride_h, w_index = w / stride_w;
    band[r_group * group + (r - r_group * stride_h) * row_w + (w - w_index * stride_w) * phase_w + w_index] =
        (h >= 0 && h < height && xw >= 0 && xw < width) ? x_plane[h * width + xw] : real_t(0);
  }
  __syncthreads();
  const int columns = batch * out_h * out_w, first = (n * out_h + oh_begin) * out_w;
  real_t* band_cols = cols + c * kernel_h * kernel_w * columns + first;
  for (int p = aligned_start(first); p < band_out; p += blockDim.x) {
    if (p < 0) continue;
    const int r = p / out_w, ow = p - r * out_w;
    real_t* out = band_cols + p;
    // band row r * sh + ki is in group r + ki / sh at phase ki mod sh; column ow * sw + j at
    // phase j mod sw, index ow + j / sw: both kept as counters, not divided out per value
    const real_t* row = band + r * group + ow;
    for (int ki = 0, ki_phase = 0; ki < kernel_h; ++ki) {
      for (int j = 0, j_phase = 0, column = 0; j < kernel_w; ++j) {
        *out = row[column];
        out += columns;
        if (++j_phase == stride_w) {   // the next phase's first column: one index on
          j_phase = 0;
          column -= (stride_w - 1) * phase_w - 1;
        } else {
          column += phase_w;
        }
      }
      if (++ki_phase == stride_h) {   // the next group's first row
        ki_phase = 0;
        row += group - (stride_h - 1) * row_w;
      } else {
        row += row_w;
      }
    }
  }
}

// ---- version 5 (col2im): the band's cols entries read once, through shared memory ------------
// Versions 1-3 gather: a thread per input pixel reads the cols entry of every window that covers
// it, and the threads of a warp, at the same step of their walks, read at window offsets j that
// differ from one pixel to the next (conv1, stride 4: 4 rows of cols a request, 7.0 sectors where
// 4 are ideal; the kernel-traffic count gives conv1's col2im 74.74 MB moved for 40.09 touched).
// Here a block takes one plane (n, c) and a band of `rows` input rows. Each cols entry belongs to
// exactly one input pixel (or the padding), so the block's threads first copy the entries that
// belong to the band to shared memory, each once: for every window offset (ki, j), the output
// rows whose window row ki falls in the band, a contiguous run of cols, a warp per run (its bounds
// found once), consecutive lanes taking consecutive entries. Then each thread walks its pixel's
// windows as version 3 does, in version 1's order (the same sums bit for bit), from shared memory.
// Shared memory: offset (ki, j)'s entries at (ki * kw + j) * slot, output row by output row
// (ceil(rows / sh) of them at most); `slot` >= that many rows' out_w entries, and for a stride
// sw that divides 32, slot = 32 / sw (mod 32): the threads of a warp take pixels whose walks
// start at the sw offsets j = 0 .. sw - 1 and 32 / sw consecutive windows, which then fall in
// distinct banks when the warp's first pixel is at offset 0 (conv1: 1.5 passes a read on
// average, 1.6 unpadded; col2im_band in minicnn/layers/im2col.py). The entries of the padding
// left and right of the image come with their rows (conv2: 5% more than the pixels' entries).
// Launch: grid (N * C, bands), block (a multiple of 32, at most 256 threads); images whose one
// input row's entries do not fit COL2IM_BAND_BYTES run version 3.
#define COL2IM_BAND_BYTES 36864   // 36 KB: 6 blocks of 256 threads a multiprocessor on sm_90 (75%)

// The first output row whose window row `ki` reads input row h or one below it: the least oh >= 0
// with oh * stride - pad + ki >= h, ceil((h + pad - ki) / stride).
__device__ __forceinline__ int first_output_row(int h, int ki, int stride, int pad) {
  const int t = h + pad - ki;
  return t <= 0 ? 0 : (t + stride - 1) / stride;
}

extern "C" __global__ void col2im_v5(const real_t* __restrict__ cols, real_t* __restrict__ dx, int batch,
                                     int channels, int height, int width, int out_h, int out_w, int kernel_h,
                                     int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int rows,
                                     int slot) {
  __shared__ real_t windows[COL2IM_BAND_BYTES / sizeof(real_t)];
  const int n = blockIdx.x / channels, c = blockIdx.x - n * channels;
  const int h_begin = blockIdx.y * rows, h_stop = min(h_begin + rows, height);
  const int columns = batch * out_h * out_w, base = c * kernel_h * kernel_w * columns + n * out_h * out_w;
  // A warp per window offset in turn, which finds the offset's run once; its lanes take the run's
  // entries 32 at a time, the first shifted so that every load starts on a 128-byte line of cols
  // (as aligned_start; a run may start anywhere in a line).
  const int lane = threadIdx.x % 32;
  for (int offset = threadIdx.x / 32; offset < kernel_h * kernel_w; offset += blockDim.x / 32) {
    const int ki = offset / kernel_w;
    const int oh_first = first_output_row(h_begin, ki, stride_h, pad_h);
    const int oh_stop = min(first_output_row(h_stop, ki, stride_h, pad_h), out_h);
    const int start = base + offset * columns + oh_first * out_w;   // the run's first entry in cols
    const int count = (oh_stop - oh_first) * out_w;                 // (output row, ow) entries
    for (int chunk = -(start % 32); chunk < count; chunk += 32) {   // the same trips for the whole warp
      const int at = chunk + lane;
      if (at >= 0 && at < count) windows[offset * slot + at] = cols[start + at];
    }
  }
  __syncthreads();
  const int band_pixels = (h_stop - h_begin) * width, first = (blockIdx.x * height + h_begin) * width;
  for (int p = aligned_start(first); p < band_pixels; p += blockDim.x) {
    if (p < 0) continue;
    const int h = h_begin + p / width, w = p - (h - h_begin) * width;
    const int hp = h + pad_h, wp = w + pad_w;
    const int oh_top = hp / stride_h, ow_top = wp / stride_w;   // the windows of offset ki_first, j_first
    const int ki_first = hp - oh_top * stride_h, j_first = wp - ow_top * stride_w;
    real_t sum = real_t(0);
    for (int ki = ki_first, oh = oh_top; ki < kernel_h && oh >= 0; ki += stride_h, --oh) {
      if (oh >= out_h) continue;   // cut off by the bottom edge
      const int oh_first = first_output_row(h_begin, ki, stride_h, pad_h);   // the band's first for ki
      const real_t* row = windows + ki * kernel_w * slot + (oh - oh_first) * out_w;
      for (int j = j_first, ow = ow_top; j < kernel_w && ow >= 0; j += stride_w, --ow) {
        if (ow >= out_w) continue;
        sum += row[j * slot + ow];
      }
    }
    dx[first + p] = sum;
  }
}
