// Bias add and bias gradient for Dense, and the bias gradient for Conv2D.
//
// Layout: y, dout (outer, channels, inner) contiguous: Dense (N, O, 1); Conv2D's gradient in
// GEMM layout (1, O, N * OH * OW). bias, dbias (channels,).
// The large reduction (bias_grad) has five versions (minicnn/kernel_versions.py); the third
// sums Conv2D's gradient as its backward moves it to the GEMM layout, the fourth takes those sums
// by warp shuffles, the fifth gives each plane a warp.
#include "common.cuh"

// y[o, c, s] += bias[c], and with relu != 0 then y = max(y, 0) (biased_relu): Dense(relu=True),
// the ReLU that follows a fully connected layer folded into this pass over its output
// (relu_forward's values, bit for bit), where it took a pass of its own. Launch: grid-stride, one
// thread per element of y.
extern "C" __global__ void bias_add(real_t* __restrict__ y, const real_t* __restrict__ bias, int outer,
                                    int channels, int inner, int relu) {
  GRID_STRIDE_LOOP(i, outer * channels * inner) {
    y[i] = biased_relu(y[i], bias[i / inner % channels], relu);
  }
}

// dbias[c] = sum_{o, s} dout[o, c, s] when o * s is large (Conv2D: (1, O, N * OH * OW)).
// Version 1. Launch: one block of REDUCE_BLOCK threads per channel (block-stride); a
// deterministic tree reduction in shared memory, no atomics. Only as many blocks as channels
// (96 for conv1, fewer than an H100's 132 multiprocessors), each thread reading thousands of
// values one after the other with two divisions apiece.
extern "C" __global__ void bias_grad_v1(const real_t* __restrict__ dout, real_t* __restrict__ dbias, int outer,
                                     int channels, int inner) {
  __shared__ real_t partial[REDUCE_BLOCK];
  BLOCK_STRIDE_LOOP(c, channels) {
    real_t local = real_t(0);
    for (int j = threadIdx.x; j < outer * inner; j += blockDim.x)
      local += dout[(j / inner * channels + c) * inner + j % inner];
    const real_t total = block_sum(partial, local);
    if (threadIdx.x == 0) dbias[c] = total;
  }
}

// Column sums of a (rows, channels) matrix: dbias[c] = sum_r g[r, c] with g = dout, or with
// kMask g = dout where y > 0, else 0 (relu_backward's values), which it also writes to masked.
// Each column is summed from 0, row after row, always in that order, so the sums are the same
// bits whatever the launch. A thread per channel walking its column would be few threads with few
// loads each in flight (4096 for fc6, 96 for conv1's bias: latency, not bandwidth, would bound
// them). Here block b takes the strip of 32 channels [32 b, 32 b + 32), a lane per channel
// (128-byte loads and stores), and its COLUMN_SUM_WARPS warps take COLUMN_SUM_ROWS rows at a time,
// COLUMN_SUM_ROWS / COLUMN_SUM_WARPS each, all their loads issued before any is used, into the
// block's tile in shared memory; then warp 0 adds each channel's column of the tile onto its sum.
// dout is loaded whatever y is (written as `y > 0 ? dout : 0`, nvcc makes its load a predicated
// one that waits for y's).
// Launch: grid (ceil(channels / 32),) (strip-stride), block (32 * COLUMN_SUM_WARPS,) exactly
// (COLUMN_SUM_BLOCK, minicnn/layers/bias.py, whose COLUMN_SUM_WARPS is this one).
#define COLUMN_SUM_WARPS 8
#define COLUMN_SUM_ROWS 64
template <bool kMask>
__device__ __forceinline__ void column_sums_in_strips(real_t (*tile)[32], const real_t* __restrict__ dout,
                                                      const real_t* __restrict__ y, real_t* __restrict__ masked,
                                                      real_t* __restrict__ dbias, int rows, int channels) {
  constexpr int per_warp = COLUMN_SUM_ROWS / COLUMN_SUM_WARPS;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int strip = blockIdx.x; strip * 32 < channels; strip += gridDim.x) {
    const int c = strip * 32 + lane;
    real_t sum = real_t(0);
    for (int first = 0; first < rows; first += COLUMN_SUM_ROWS) {
      const int count = min(COLUMN_SUM_ROWS, rows - first);
      real_t grad[per_warp], out[per_warp];
#pragma unroll
      for (int j = 0; j < per_warp; ++j) {   // row k = warp + j * COLUMN_SUM_WARPS of these
        const int k = warp + j * COLUMN_SUM_WARPS, i = (first + k) * channels + c;
        const bool here = k < count && c < channels;
        grad[j] = here ? dout[i] : real_t(0);
        if (kMask) out[j] = here ? y[i] : real_t(0);
      }
#pragma unroll
      for (int j = 0; j < per_warp; ++j) {
        const int k = warp + j * COLUMN_SUM_WARPS, i = (first + k) * channels + c;
        real_t g = grad[j];
        if (kMask) {
          g = out[j] > real_t(0) ? g : real_t(0);
          if (k < count && c < channels) masked[i] = g;
        }
        tile[k][lane] = g;
      }
      __syncthreads();
      if (warp == 0)
        for (int k = 0; k < count; ++k) sum += tile[k][lane];
      __syncthreads();   // the tile is read before the next rows overwrite it
    }
    if (warp == 0 && c < channels) dbias[c] = sum;
  }
}

// dbias[c] = sum_r dout[r, c] for a (rows, channels) matrix: Dense's bias gradient (rows = the
// batch) and the second step of the conv bias gradient's versions 2 to 5 (rows = their partial
// sums). Launch: column_sums_in_strips'.
extern "C" __global__ void bias_grad_columns(const real_t* __restrict__ dout, real_t* __restrict__ dbias,
                                             int rows, int channels) {
  __shared__ real_t tile[COLUMN_SUM_ROWS][32];
  column_sums_in_strips<false>(tile, dout, nullptr, nullptr, dbias, rows, channels);
}

// Dense(relu=True)'s backward in one pass: masked = dout where y > 0, else 0 (relu_backward's
// values, which both GEMMs then read), and dbias its column sums, bias_grad_columns' bit for bit.
// Unfused, the ReLU's backward wrote the masked gradient and bias_grad_columns read it all again,
// in two launches. Launch: column_sums_in_strips'.
extern "C" __global__ void relu_backward_bias_grad_columns(const real_t* __restrict__ dout,
                                                           const real_t* __restrict__ y,
                                                           real_t* __restrict__ masked,
                                                           real_t* __restrict__ dbias, int rows, int channels) {
  __shared__ real_t tile[COLUMN_SUM_ROWS][32];
  column_sums_in_strips<true>(tile, dout, y, masked, dbias, rows, channels);
}

// Version 2, in two launches, still deterministic. bias_grad_partial_v2: block (c, k) of a grid
// (channels, chunks) sums positions [k * chunk, (k + 1) * chunk) of channel c's inner axis over
// every o (contiguous, coalesced reads, no division) into partial[k, c]; then bias_grad_columns
// adds each channel's column of partial sums in order.
extern "C" __global__ void bias_grad_partial_v2(const real_t* __restrict__ dout, real_t* __restrict__ partial,
                                                int outer, int channels, int inner, int chunk) {
  __shared__ real_t sums[REDUCE_BLOCK];
  const int c = blockIdx.x, begin = blockIdx.y * chunk, end = min(begin + chunk, inner);
  real_t local = real_t(0);
  for (int o = 0; o < outer; ++o) {
    const real_t* row = dout + (o * channels + c) * inner;
    for (int s = begin + threadIdx.x; s < end; s += blockDim.x) local += row[s];
  }
  const real_t total = block_sum(sums, local);
  if (threadIdx.x == 0) partial[blockIdx.y * gridDim.x + c] = total;
}

// Version 3 (Conv2D): the bias gradient summed while the backward moves dL/dy. Conv2D's backward
// first copies dL/dy from NCHW to the GEMM's (O, N * S) layout (nchw_to_gemm, im2col.cu, with
// the fused ReLU's mask: dL/dy where the output y was positive, else 0), and versions 1 and 2
// then read that copy once more to sum each channel: one more read of the layer's output
// gradient (conv1 at batch 128: 149 MB). Here block p = o * N + n copies plane (n, o), masked
// where relu != 0 (y is dout where it is 0, and not read), and sums what it copies (block_sum),
// into partial[n, o]; bias_grad_columns then adds each channel's N sums in order (deterministic).
// The copy is nchw_to_gemm's or nchw_to_gemm_relu's bit for bit; each warp's stores start on a
// 128-byte line of the GEMM layout (aligned_start), where a block per (plane, tile) starts them
// at the plane's first pixel.
// Launch: grid (O * N,), block (REDUCE_BLOCK,) (minicnn/layers/conv.py). Versions 3 and 4 are
// this copy with the block's sum taken by block_sum (`sums` of REDUCE_BLOCK values) or by
// block_sum_by_warps (REDUCE_BLOCK / 32).
template <bool ByWarps>
__device__ __forceinline__ void nchw_to_gemm_summing(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                                     real_t* __restrict__ gemm, real_t* __restrict__ partial,
                                                     int batch, int channels, int spatial, int relu, real_t* sums) {
  const int o = blockIdx.x / batch, n = blockIdx.x - o * batch;
  const int from = (n * channels + o) * spatial;
  real_t* to = gemm + blockIdx.x * spatial;
  real_t local = real_t(0);
  for (int s = aligned_start(blockIdx.x * spatial); s < spatial; s += blockDim.x) {
    if (s < 0) continue;
    const real_t value = (relu && !(y[from + s] > real_t(0))) ? real_t(0) : dout[from + s];
    to[s] = value;
    local += value;
  }
  const real_t total = ByWarps ? block_sum_by_warps(sums, local) : block_sum(sums, local);
  if (threadIdx.x == 0) partial[n * channels + o] = total;
}

extern "C" __global__ void nchw_to_gemm_bias_grad_v3(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                                     real_t* __restrict__ gemm, real_t* __restrict__ partial,
                                                     int batch, int channels, int spatial, int relu) {
  __shared__ real_t sums[REDUCE_BLOCK];
  nchw_to_gemm_summing<false>(dout, y, gemm, partial, batch, channels, spatial, relu, sums);
}

// Version 4: version 3 with the plane's sum taken by warp shuffles (block_sum_by_warps,
// common.cuh): 3 barriers a block, not 10, and 18 requests to shared memory, not 52. conv3 to
// conv5's planes are 13 x 13 = 169 values, fewer than a block's threads: there the tree's eight
// rounds of barriers and shared memory were most of a block's work. The copy is version 3's bit
// for bit; the sums are added in another fixed order.
// Launch: as version 3.
extern "C" __global__ void nchw_to_gemm_bias_grad_v4(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                                     real_t* __restrict__ gemm, real_t* __restrict__ partial,
                                                     int batch, int channels, int spatial, int relu) {
  __shared__ real_t sums[REDUCE_BLOCK / 32];
  nchw_to_gemm_summing<true>(dout, y, gemm, partial, batch, channels, spatial, relu, sums);
}

// Version 5 (Conv2D): a warp per plane, four values a lane in flight. On an H200 (2026-12-04)
// version 4's layout kernel moved conv4's and conv5's dL/dy at 24% to 25% of the copy bandwidth
// and conv1's at 63%. A block per plane gives the 169 values of a 13 x 13 plane to 169 of its 256
// threads, one each, so the copy goes in waves of blocks with a float a thread in flight (and a
// block-wide sum for each); conv1's planes of 3025 values take a thread's 12 one after the other.
// Here a warp takes a plane (eight planes a block of 256): each lane loads four values 32 apart
// (and with the fused ReLU their four values of y) before it stores them and adds them to its sum,
// and the warp's 32 sums come together by shuffles (warp_sum): no shared memory, no barrier. Each
// load is of a value of the plane (the position clamped to it; what lies past the plane's ends adds
// +0 and is not stored), and the fused ReLU's mask is a compile-time choice (with_constant): with
// each load under its lane's bounds test, as first written, nvcc's code for the fused path asked for
// one value's dL/dy and y and waited for them before the next (2 loads in flight a step, cuobjdump
// -sass for sm_90, nvcc 13.0; benchmarks/loads_in_flight.py), where now it has all 8. The copy is
// version 3's bit for bit (its stores start on 128-byte lines too); the sums are added in another
// fixed order.
// Launch: grid (ceil(O * N / 8),), block (256,) (minicnn/layers/conv.py).
#define BIAS_V5_VALUES 4
extern "C" __global__ void nchw_to_gemm_bias_grad_v5(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                                     real_t* __restrict__ gemm, real_t* __restrict__ partial,
                                                     int batch, int channels, int spatial, int relu) {
  const int plane = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (plane >= channels * batch) return;   // a whole warp: its shuffles need every lane
  const int o = plane / batch, n = plane - o * batch;
  const real_t* from = dout + (n * channels + o) * spatial;
  const real_t* kept = y + (n * channels + o) * spatial;
  real_t* to = gemm + plane * spatial;
  real_t local = real_t(0);
  with_constant<0, 1>(relu, [&](auto fused) {   // the fused ReLU's mask, or none, known at compile time
    for (int chunk = -(plane * spatial % 32); chunk < spatial; chunk += 32 * BIAS_V5_VALUES) {
      real_t grad[BIAS_V5_VALUES], mask[BIAS_V5_VALUES];
#pragma unroll
      for (int k = 0; k < BIAS_V5_VALUES; ++k) {   // every load first, each of a value of the plane ...
        grad[k] = mask[k] = real_t(0);
        if (chunk + k * 32 >= spatial) continue;   // the whole warp past the plane's end: no request
        const int at = min(max(chunk + k * 32 + lane, 0), spatial - 1);
        grad[k] = from[at];
        if constexpr (decltype(fused)::value) mask[k] = kept[at];
      }
#pragma unroll
      for (int k = 0; k < BIAS_V5_VALUES; ++k) {   // ... then the stores and the sum (+0 past the plane's ends)
        const int s = chunk + k * 32 + lane;
        const bool inside = s >= 0 && s < spatial;
        real_t value = inside ? grad[k] : real_t(0);
        if constexpr (decltype(fused)::value) value = mask[k] > real_t(0) ? value : real_t(0);
        if (inside) to[s] = value;
        local += value;
      }
    }
  });
  const real_t total = warp_sum(local);
  if (lane == 0) partial[n * channels + o] = total;
}
