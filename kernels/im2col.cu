// im2col and col2im for Conv2D (minicnn/layers/im2col.py), and the two layout kernels between
// the GEMM's channel-major result and the NCHW tensors the layers exchange.
//
// Layout: x, dx (N, C, H, W); cols (C * kh * kw, N * OH * OW) with
//   row (c * kh + i) * kw + j, column (n * OH + oh) * OW + ow  holding  xpad[n, c, oh*sh + i, ow*sw + j]
// (0 in the padding). Groups need nothing here: group g's rows are a contiguous block.
#include "common.cuh"

// Launch: grid-stride, one thread per element of cols. Consecutive threads write consecutive
// columns (coalesced) and read pixels stride_w apart.
extern "C" __global__ void im2col(const real_t* __restrict__ x, real_t* __restrict__ cols, int batch,
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
extern "C" __global__ void col2im(const real_t* __restrict__ cols, real_t* __restrict__ dx, int batch,
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
extern "C" __global__ void gemm_to_nchw_bias(const real_t* __restrict__ gemm_out, const real_t* __restrict__ bias,
                                             real_t* __restrict__ y, int batch, int channels, int spatial,
                                             int relu) {
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    const int s = i % spatial, o = i / spatial % channels, n = i / (spatial * channels);
    const real_t v = gemm_out[(o * batch + n) * spatial + s] + bias[o];
    y[i] = (relu && !(v > real_t(0))) ? real_t(0) : v;   // as relu_forward: max(v, 0)
  }
}

// gemm[o, n * S + s] = dout[n, o, s]: the conv's upstream gradient in the GEMM's layout.
// Launch: grid-stride, one thread per element (coalesced writes).
extern "C" __global__ void nchw_to_gemm(const real_t* __restrict__ dout, real_t* __restrict__ gemm,
                                        int batch, int channels, int spatial) {
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    const int s = i % spatial, n = i / spatial % batch, o = i / (spatial * batch);
    gemm[i] = dout[(n * channels + o) * spatial + s];
  }
}

// The same with the fused ReLU's backward: gemm[o, n * S + s] = dout[n, o, s] where the conv's
// (ReLU'd) output y was positive, else 0 (as relu_backward), saving the ReLU layer's pass.
extern "C" __global__ void nchw_to_gemm_relu(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                             real_t* __restrict__ gemm, int batch, int channels, int spatial) {
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    const int s = i % spatial, n = i / spatial % batch, o = i / (spatial * batch);
    const int from = (n * channels + o) * spatial + s;
    gemm[i] = y[from] > real_t(0) ? dout[from] : real_t(0);
  }
}
