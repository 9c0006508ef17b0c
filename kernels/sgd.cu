// The SGD update of the AlexNet paper as one fused pass over memory (minicnn/optim.py):
//   v <- momentum * v - weight_decay * lr * w - lr * grad;   w <- w + v
//
// Layout: w, grad, velocity: one parameter tensor, n contiguous elements.
// Launch: grid-stride, one thread per element.
#include "common.cuh"

extern "C" __global__ void sgd_update(real_t* __restrict__ w, const real_t* __restrict__ grad,
                                      real_t* __restrict__ velocity, int n, real_t lr, real_t momentum,
                                      real_t decay_lr) {
  GRID_STRIDE_LOOP(i, n) {
    const real_t v = momentum * velocity[i] - (decay_lr * w[i] + lr * grad[i]);
    velocity[i] = v;
    w[i] += v;
  }
}
