// A hand-written tiled GEMM, the teaching version of what cuBLAS does (cuBLAS stays the
// default; minicnn.gemm selects this one with use_gemm("tiled")).
//
//   C[g] (M, N) = A[g] (M, K) @ B[g] (K, N)     for every batch entry g = blockIdx.z
//
// A and B are read through strides, so a transposed operand needs no copy: element (m, k) of
// A[g] is A[g * a_batch + m * a_row + k * a_col]. C is contiguous (M, N) per batch entry.
//
// Launch: block (16, 16) = 256 threads computes a 64 x 64 tile of C; grid (ceil(N / 64),
// ceil(M / 64), batch). Two levels of blocking:
//   * shared memory: the block walks K in steps of 8, loading a 64 x 8 slice of A and an
//     8 x 64 slice of B once into shared memory, where each value is used by 16 threads;
//   * registers: each thread computes a 4 x 4 sub-tile, so every value it reads from shared
//     memory is used 4 times (8 loads feed 16 multiply-adds).
#include "common.cuh"

#define TILE_M 64
#define TILE_N 64
#define TILE_K 8
#define THREAD_M 4
#define THREAD_N 4
#define THREADS ((TILE_M / THREAD_M) * (TILE_N / THREAD_N))

extern "C" __global__ void gemm_tiled(const real_t* __restrict__ A, const real_t* __restrict__ B,
                                      real_t* __restrict__ C, int M, int N, int K, int a_row, int a_col,
                                      int a_batch, int b_row, int b_col, int b_batch) {
  // Stored k-major: a thread's THREAD_M values of A (and THREAD_N of B) sit side by side.
  __shared__ real_t a_tile[TILE_K][TILE_M];
  __shared__ real_t b_tile[TILE_K][TILE_N];
  A += blockIdx.z * a_batch;
  B += blockIdx.z * b_batch;
  C += blockIdx.z * M * N;
  const int thread = threadIdx.y * blockDim.x + threadIdx.x;
  const int row0 = blockIdx.y * TILE_M, col0 = blockIdx.x * TILE_N;

  real_t acc[THREAD_M][THREAD_N];
  for (int m = 0; m < THREAD_M; ++m)
    for (int n = 0; n < THREAD_N; ++n) acc[m][n] = real_t(0);

  for (int k0 = 0; k0 < K; k0 += TILE_K) {
    // Every thread loads its share of both slices, zero outside the matrices.
    for (int e = thread; e < TILE_M * TILE_K; e += THREADS) {
      const int m = e / TILE_K, k = e % TILE_K;
      a_tile[k][m] = (row0 + m < M && k0 + k < K) ? A[(row0 + m) * a_row + (k0 + k) * a_col] : real_t(0);
    }
    for (int e = thread; e < TILE_K * TILE_N; e += THREADS) {
      const int k = e / TILE_N, n = e % TILE_N;
      b_tile[k][n] = (k0 + k < K && col0 + n < N) ? B[(k0 + k) * b_row + (col0 + n) * b_col] : real_t(0);
    }
    __syncthreads();  // the slices are complete before anyone reads them
    for (int k = 0; k < TILE_K; ++k) {
      real_t a[THREAD_M], b[THREAD_N];
      for (int m = 0; m < THREAD_M; ++m) a[m] = a_tile[k][threadIdx.y * THREAD_M + m];
      for (int n = 0; n < THREAD_N; ++n) b[n] = b_tile[k][threadIdx.x * THREAD_N + n];
      for (int m = 0; m < THREAD_M; ++m)
        for (int n = 0; n < THREAD_N; ++n) acc[m][n] += a[m] * b[n];
    }
    __syncthreads();  // everyone is done with the slices before they are overwritten
  }
  for (int m = 0; m < THREAD_M; ++m) {
    const int row = row0 + threadIdx.y * THREAD_M + m;
    for (int n = 0; n < THREAD_N; ++n) {
      const int col = col0 + threadIdx.x * THREAD_N + n;
      if (row < M && col < N) C[row * N + col] = acc[m][n];
    }
  }
}
