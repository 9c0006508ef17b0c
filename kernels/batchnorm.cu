// Batch normalisation over (N, H, W) per channel (minicnn/layers/batchnorm.py).
//
// Layout: x, y, xhat, dout, dx (N, C, S) with S = H * W; per-channel vectors (C,).
// The statistics kernels run one block of REDUCE_BLOCK threads per channel (block-stride),
// the elementwise ones grid-stride with one thread per element.
#include "common.cuh"

// Batch mean and 1 / sqrt(var + eps) (two passes: the mean, then the squared deviations),
// and the running statistics updated in place:
//   running_mean = keep * running_mean + momentum * mean
//   running_var  = keep * running_var  + unbiased_momentum * var    (keep = 1 - momentum)
extern "C" __global__ void batchnorm_stats(const real_t* __restrict__ x, real_t* __restrict__ mean,
                                           real_t* __restrict__ inv_std, real_t* __restrict__ running_mean,
                                           real_t* __restrict__ running_var, int batch, int channels,
                                           int spatial, real_t eps, real_t keep, real_t momentum,
                                           real_t unbiased_momentum) {
  __shared__ real_t partial[REDUCE_BLOCK];
  const int count = batch * spatial;
  BLOCK_STRIDE_LOOP(c, channels) {
    real_t local = real_t(0);
    for (int j = threadIdx.x; j < count; j += blockDim.x)
      local += x[(j / spatial * channels + c) * spatial + j % spatial];
    const real_t mu = block_sum(partial, local) / real_t(count);
    local = real_t(0);
    for (int j = threadIdx.x; j < count; j += blockDim.x) {
      const real_t d = x[(j / spatial * channels + c) * spatial + j % spatial] - mu;
      local += d * d;
    }
    const real_t var = block_sum(partial, local) / real_t(count);
    if (threadIdx.x == 0) {
      mean[c] = mu;
      inv_std[c] = real_t(1) / sqrt(var + eps);
      running_mean[c] = keep * running_mean[c] + momentum * mu;
      running_var[c] = keep * running_var[c] + unbiased_momentum * var;
    }
  }
}

// xhat = (x - mean) * inv_std,  y = xhat * weight + bias.
extern "C" __global__ void batchnorm_normalize(const real_t* __restrict__ x, const real_t* __restrict__ mean,
                                               const real_t* __restrict__ inv_std, const real_t* __restrict__ weight,
                                               const real_t* __restrict__ bias, real_t* __restrict__ xhat,
                                               real_t* __restrict__ y, int batch, int channels, int spatial) {
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    const int c = i / spatial % channels;
    const real_t h = (x[i] - mean[c]) * inv_std[c];
    xhat[i] = h;
    y[i] = h * weight[c] + bias[c];
  }
}

// Inference: y = x * scale + (bias - running_mean * scale),  scale = weight / sqrt(running_var + eps).
extern "C" __global__ void batchnorm_inference(const real_t* __restrict__ x, const real_t* __restrict__ running_mean,
                                               const real_t* __restrict__ running_var,
                                               const real_t* __restrict__ weight, const real_t* __restrict__ bias,
                                               real_t* __restrict__ y, int batch, int channels, int spatial,
                                               real_t eps) {
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    const int c = i / spatial % channels;
    const real_t scale = weight[c] / sqrt(running_var[c] + eps);
    y[i] = x[i] * scale + (bias[c] - running_mean[c] * scale);
  }
}

// dbias[c] = sum dout,  dweight[c] = sum dout * xhat over (N, S). One block per channel.
extern "C" __global__ void batchnorm_backward_reduce(const real_t* __restrict__ dout, const real_t* __restrict__ xhat,
                                                     real_t* __restrict__ dweight, real_t* __restrict__ dbias,
                                                     int batch, int channels, int spatial) {
  __shared__ real_t partial[REDUCE_BLOCK];
  const int count = batch * spatial;
  BLOCK_STRIDE_LOOP(c, channels) {
    real_t sum_dout = real_t(0), sum_dout_xhat = real_t(0);
    for (int j = threadIdx.x; j < count; j += blockDim.x) {
      const int at = (j / spatial * channels + c) * spatial + j % spatial;
      sum_dout += dout[at];
      sum_dout_xhat += dout[at] * xhat[at];
    }
    const real_t db = block_sum(partial, sum_dout);
    const real_t dw = block_sum(partial, sum_dout_xhat);
    if (threadIdx.x == 0) {
      dbias[c] = db;
      dweight[c] = dw;
    }
  }
}

// dx = (dout * weight - dbias * weight / M - xhat * dweight * weight / M) * inv_std,  M = N * S.
extern "C" __global__ void batchnorm_backward_dx(const real_t* __restrict__ dout, const real_t* __restrict__ xhat,
                                                 const real_t* __restrict__ inv_std, const real_t* __restrict__ weight,
                                                 const real_t* __restrict__ dweight, const real_t* __restrict__ dbias,
                                                 real_t* __restrict__ dx, int batch, int channels, int spatial) {
  const real_t count = real_t(batch * spatial);
  GRID_STRIDE_LOOP(i, batch * channels * spatial) {
    const int c = i / spatial % channels;
    const real_t w = weight[c];
    dx[i] = (dout[i] * w - dbias[c] * w / count - xhat[i] * (dweight[c] * w / count)) * inv_std[c];
  }
}
