// Softmax cross-entropy (minicnn/losses.py):
//   logp[n, j] = z[n, j] - max_j z[n] - log sum_j exp(z[n, j] - max_j z[n])
//   loss = mean_n (-logp[n, label[n]]),   dL/dz = (exp(logp) - onehot(label)) / N
//
// Layout: logits, logp, dlogits (N, K) row-major; labels (N,) int32; row_loss (N,).
#include "common.cuh"

// Launch: one block of REDUCE_BLOCK threads per row (block-stride over rows); the threads
// stride over the row's K classes and meet in shared-memory reductions for the max and the sum.
// A label outside [0, K) gives a NaN loss for its row (checking it on the host would cost a
// synchronisation).
extern "C" __global__ void softmax_cross_entropy_forward(const real_t* __restrict__ logits,
                                                         const int* __restrict__ labels,
                                                         real_t* __restrict__ logp,
                                                         real_t* __restrict__ row_loss, int batch, int classes) {
  __shared__ real_t partial[REDUCE_BLOCK];
  BLOCK_STRIDE_LOOP(row, batch) {
    const real_t* z = logits + row * classes;
    real_t local = z[0];
    for (int j = threadIdx.x; j < classes; j += blockDim.x) local = z[j] > local ? z[j] : local;
    const real_t row_max = block_max(partial, local);
    local = real_t(0);
    for (int j = threadIdx.x; j < classes; j += blockDim.x) local += exp(z[j] - row_max);
    const real_t log_sum = log(block_sum(partial, local));
    for (int j = threadIdx.x; j < classes; j += blockDim.x) logp[row * classes + j] = z[j] - row_max - log_sum;
    if (threadIdx.x == 0) {
      const int label = labels[row];
      row_loss[row] = (label >= 0 && label < classes) ? -(z[label] - row_max - log_sum) : sqrt(real_t(-1));
    }
  }
}

// loss[0] = mean of row_loss[0 .. batch). Launch: one block of REDUCE_BLOCK threads.
extern "C" __global__ void mean_of_rows(const real_t* __restrict__ row_loss, real_t* __restrict__ loss, int batch) {
  __shared__ real_t partial[REDUCE_BLOCK];
  real_t local = real_t(0);
  for (int j = threadIdx.x; j < batch; j += blockDim.x) local += row_loss[j];
  const real_t total = block_sum(partial, local);
  if (threadIdx.x == 0) loss[0] = total / real_t(batch);
}

// Launch: grid-stride, one thread per logit.
extern "C" __global__ void softmax_cross_entropy_backward(const real_t* __restrict__ logp,
                                                          const int* __restrict__ labels,
                                                          real_t* __restrict__ dlogits, int batch, int classes) {
  GRID_STRIDE_LOOP(i, batch * classes) {
    const real_t onehot = labels[i / classes] == i % classes ? real_t(1) : real_t(0);
    dlogits[i] = (exp(logp[i]) - onehot) / real_t(batch);
  }
}
