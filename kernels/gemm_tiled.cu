// A hand-written tiled GEMM, the teaching version of what cuBLAS does (cuBLAS stays the
// default; minicnn.gemm selects this one with use_gemm("tiled")).
//
//   C[g] (M, N) = A[g] (M, K) @ B[g] (K, N)     for every batch entry g = blockIdx.z
//
// A and B are read through strides, so a transposed operand needs no copy: element (m, k) of
// A[g] is A[g * a_batch + m * a_row + k * a_col]. C is contiguous (M, N) per batch entry (versions 4
// and 5 store it as a conv's NCHW output instead; version 5 reads a conv's B, im2col's columns,
// from the conv's input; version 6 gathers the input gradient's B from dL/dy and stores it NCHW).
//
// Nine versions (minicnn/kernel_versions.py, family "gemm_tiled"); minicnn/gemm.py launches them.
//
// ---- version 1 ----------------------------------------------------------------------------------
// Launch: block (16, 16) = 256 threads computes a 64 x 64 tile of C; grid (ceil(N / 64),
// ceil(M / 64), batch). Two levels of blocking:
//   * shared memory: the block walks K in steps of 8, loading a 64 x 8 slice of A and an
//     8 x 64 slice of B once into shared memory, where each value is used by 16 threads;
//   * registers: each thread computes a 4 x 4 sub-tile, so every value it reads from shared
//     memory is used 4 times (8 loads feed 16 multiply-adds).
#include "common.cuh"
#include "copy_async.cuh"

#define TILE_M 64
#define TILE_N 64
#define TILE_K 8
#define THREAD_M 4
#define THREAD_N 4
#define THREADS ((TILE_M / THREAD_M) * (TILE_N / THREAD_N))

extern "C" __global__ void gemm_tiled_v1(const real_t* __restrict__ A, const real_t* __restrict__ B,
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

// ---- version 2: every block busy, every access whole ------------------------------------------
// What a look at the grid and the simulator's traffic count (tests/test_gemm.py) say of version 1:
//   * Too few blocks. A conv layer's weight gradient, dW = dL/dy (O, N*OH*OW) @ cols^T, is a small
//     C with a huge K: conv1's is 96 x 363, 12 tiles, each block walking K = 387,200 (batch 128)
//     alone while the other multiprocessors of the GPU idle. Version 2 splits K: block z of the
//     grid takes group z % groups and the K range [s * k_split, (s + 1) * k_split), s = z / groups,
//     and writes its partial tile to its own slice of a workspace (splits, groups, M, N), which
//     gemm_split_sum adds up in split order (deterministic, no atomics). minicnn/gemm.py splits
//     only when the tiles cannot fill the device (split_k).
//   * Loads across the contiguous axis. Version 1 walks a tile of A along k and a tile of B
//     along n whatever their layout: a transposed operand (A^T in dL/dx's GEMM, cols^T in dW's)
//     is then read with each thread of a warp on another row, 32 sectors a request. Version 2's
//     consecutive threads take consecutive elements of the operand's contiguous axis.
//   * Bank conflicts. Storing A's tile transposed (a_tile[k][m], m = e / 8) puts a warp's 32
//     values in 4 banks, 8 passes; version 2 pads each shared-memory row by 4 words, so that rows
//     k and k + 1 start 4 banks apart: one pass. Version 1's thread reads its 4 columns of B's
//     tile side by side (b_tile[k][4 tx + j]): 16 threads 4 words apart, 2 passes a read.
//   * Strided stores. Version 1's thread writes its 4 x 4 sub-tile as 4 adjacent columns, so a
//     warp's store covers columns 4 apart: a quarter of each sector used, 16 sectors a request.
// Version 2's thread takes rows ty + 16 i and columns tx + 16 j of the tile instead: its reads of
// B's tile are 16 consecutive words across the warp, and its stores 16 consecutive columns.
// Within a split each C element sums its products in version 1's order: with one split the
// result is version 1's bit for bit.
// Launch: block (16, 16); grid (ceil(N / 64), ceil(M / 64), groups * splits); k_split a multiple
// of TILE_K; C: the result (groups, M, N) when splits = 1, else the workspace.
#define TILE_PAD 4   // words after each row of a tile in shared memory: row k + 1 starts 4 banks on

// How a loader puts a value of an operand into its slice, given the value's address, or null for a
// zero: read into a register and stored at once (StoreNow, versions 2 to 8), or copied by the
// memory system while the threads compute, landing at their next copy_wait (CopyAsync, version 9;
// kernels/copy_async.cuh).
struct StoreNow {
  __device__ __forceinline__ void operator()(real_t& slot, const real_t* source) const {
    slot = source ? *source : real_t(0);
  }
};
struct CopyAsync {
  __device__ __forceinline__ void operator()(real_t& slot, const real_t* source) const { copy_async(&slot, source); }
};

// An operand's slice: TILE_K rows of k of the tile's columns [col0, col0 + tile) of B (K, N) into
// tile_k_n[k][n] (the shared-memory slice, or version 8's QuadColumns view of it), zero outside the
// matrix and the block's split of K [.., k_end). LoadStrided reads
// B through strides; A's slices are loaded the same way, as those of A^T (K, M) (versions 2 to 5;
// version 5 gathers B from the conv's input, GatherCols, and version 6 A and B from the weights and
// dL/dy). Element e of the slice is taken by thread e mod THREADS: along k where the operand's k is
// contiguous (A, or B transposed), else along n, so that consecutive threads read consecutive
// addresses. Each value goes into the slice through `put` (StoreNow or CopyAsync).
struct LoadStrided {
  const real_t* B;   // the block's group
  int b_row, b_col;  // element (k, n) is B[k * b_row + n * b_col]
  template <int tile, typename Tile, typename Put>
  __device__ __forceinline__ void slice(Tile tile_k_n, int k0, int k_end, int col0, int N, int thread, Put put) const {
    for (int e = thread; e < TILE_K * tile; e += THREADS) {
      const bool along_k = b_row == 1;
      const int n = along_k ? e / TILE_K : e % tile, k = along_k ? e % TILE_K : e / tile;
      put(tile_k_n[k][n], (k0 + k < k_end && col0 + n < N) ? B + (k0 + k) * b_row + (col0 + n) * b_col : nullptr);
    }
  }
};

// A's slices as LoadStrided loads them: A (M, K) of group g, element (m, k) at m * a_row + k * a_col.
__device__ __forceinline__ LoadStrided strided_a(const real_t* A, int g, int a_row, int a_col, int a_batch) {
  return LoadStrided{A + g * a_batch, a_col, a_row};
}

// A thread's strips (split_tile_product with quad_rows, from version 7, and quad_cols, from
// version 8): strip q of thread t's 4 consecutive values of a slice's row starts at word
// strip(q, t), the 16 threads' strips side by side. Version 7: thread ty's rows of the tile are
// strip(q, ty) to strip(q, ty) + 3. Version 8: thread tx's columns stay version 2's (tx + 16 j),
// and B's slice is stored so that they are the words of its strips: column n at column_slot(n).
__device__ __forceinline__ int strip(int q, int t) { return 4 * (16 * q + t); }
__device__ __forceinline__ int column_slot(int n) { return (n & ~63) | (n & 15) << 2 | (n >> 4 & 3); }

// Version 8's view of B's slice for the loaders: tile_k_n[k][n] is word column_slot(n) of row k,
// so that thread tx's columns tx + 16 (4 q + r), r = 0..3, are words strip(q, tx) + r.
template <int tile>
struct QuadColumns {
  real_t (*rows)[tile + TILE_PAD];
  struct Row {
    real_t* words;
    __device__ __forceinline__ real_t& operator[](int n) const { return words[column_slot(n)]; }
  };
  __device__ __forceinline__ Row operator[](int k) const { return Row{rows[k]}; }
};

// v[0..3] = p[0..3] from shared memory, p 16-byte aligned: one 16-byte load in float (a float4),
// two in double (double2), where reading the values one by one takes 4.
__device__ __forceinline__ void load_four(const float* p, float* v) {
  const float4 q = *reinterpret_cast<const float4*>(p);
  v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
}
__device__ __forceinline__ void load_four(const double* p, double* v) {
  const double2 low = reinterpret_cast<const double2*>(p)[0], high = reinterpret_cast<const double2*>(p)[1];
  v[0] = low.x, v[1] = low.y, v[2] = high.x, v[3] = high.y;
}

// The slices of step k0 of A^T and B, rows k0 to k0 + TILE_K of K, into a_slice and b_slice (B's
// as QuadColumns from version 8), each value put there by `put`.
template <int tile, bool quad_cols, typename LoadA, typename LoadB, typename Put>
__device__ __forceinline__ void load_slices(real_t (*a_slice)[tile + TILE_PAD], real_t (*b_slice)[tile + TILE_PAD],
                                            LoadA load_a, LoadB load_b, int k0, int k_end, int row0, int col0, int M,
                                            int N, int thread, Put put) {
  load_a.template slice<tile>(a_slice, k0, k_end, row0, M, thread, put);
  if constexpr (quad_cols)
    load_b.template slice<tile>(QuadColumns<tile>{b_slice}, k0, k_end, col0, N, thread, put);
  else
    load_b.template slice<tile>(b_slice, k0, k_end, col0, N, thread, put);
}

// The body of versions 2 to 9: the block's tile x tile tile of C over its split of K, each thread
// taking sub x sub of it (rows ty + 16 i, columns tx + 16 j: 16 x 16 threads either way), from the
// kernel's shared-memory slices a_tile and b_tile (TILE_K rows of tile + TILE_PAD values; the
// kernel declares them: g++, which builds the kernel simulator, ignores the section attribute of
// __shared__ variables inside templates). load_a.slice<tile> and load_b.slice<tile> load the slices
// of A^T and B of the block's group (the kernel makes the loaders for blockIdx.z % groups):
// LoadStrided, or for the conv's operands GatherCols (version 5) or the version-6 loaders.
// store.row(row)(col, value) puts element (row, col) of the block's tile where it goes: StoreTile
// (the plain products), StoreNchwBias (the conv's forward, from version 4) or StoreNchw (its
// input gradient, from version 6).
// With quad_rows (version 7) the thread's rows are 4 consecutive rows in each of sub / 4 strips
// (strip), which it reads from A's slice four at a time (load_four); with quad_cols (version 8) it
// reads its columns of B's slice four at a time too, from the strips where load_b has put them
// (QuadColumns). With pipelined (version 9) the kernel declares two slices of each operand, 2
// TILE_K rows, and the threads copy the next step's slices into one while they multiply the
// other's (CopyAsync), with one barrier a step.
template <int tile, int sub, bool quad_rows = false, bool quad_cols = false, bool pipelined = false,
          typename LoadA, typename LoadB, typename Store>
__device__ __forceinline__ void split_tile_product(real_t (*a_tile)[tile + TILE_PAD], real_t (*b_tile)[tile + TILE_PAD],
                                                   LoadA load_a, LoadB load_b, Store store, int M, int N, int K,
                                                   int groups, int k_split) {
  static_assert(tile / sub == 16, "a block of 16 x 16 threads");
  static_assert(!(quad_rows || quad_cols) || (sub % 4 == 0 && (tile + TILE_PAD) % 4 == 0), "strips of four, "
                "slices' rows of whole 16-byte words (the kernel aligns the slices to 16 bytes)");
  static_assert(!quad_cols || tile % 64 == 0, "column_slot permutes the columns 64 at a time");
  static_assert(THREADS % tile == 0 && THREADS % TILE_K == 0, "every thread loads the same columns of B at each step");
  const int split = blockIdx.z / groups;
  const int thread = threadIdx.y * blockDim.x + threadIdx.x;
  const int row0 = blockIdx.y * tile, col0 = blockIdx.x * tile;
  const int k_begin = split * k_split, k_end = min(K, k_begin + k_split);
  const int tx = threadIdx.x, ty = threadIdx.y;

  real_t acc[sub][sub];
  for (int i = 0; i < sub; ++i)
    for (int j = 0; j < sub; ++j) acc[i][j] = real_t(0);

  if constexpr (pipelined)   // the first step's slices
    if (k_begin < k_end)
      load_slices<tile, quad_cols>(a_tile, b_tile, load_a, load_b, k_begin, k_end, row0, col0, M, N, thread,
                                   CopyAsync{});
  int buffer = 0;   // the slices of this step: rows [buffer TILE_K, (buffer + 1) TILE_K) (version 9: 0 or 1)
  for (int k0 = k_begin; k0 < k_end; k0 += TILE_K) {
    if constexpr (pipelined) {
      copy_wait();      // this thread's copies of this step's slices have landed...
      __syncthreads();  // ...and everyone's; and everyone is done with the other slices (the last step's)
      if (k0 + TILE_K < k_end)   // so the next step's go there, copied while these are multiplied
        load_slices<tile, quad_cols>(a_tile + (buffer ^ 1) * TILE_K, b_tile + (buffer ^ 1) * TILE_K, load_a, load_b,
                                     k0 + TILE_K, k_end, row0, col0, M, N, thread, CopyAsync{});
    } else {
      load_slices<tile, quad_cols>(a_tile, b_tile, load_a, load_b, k0, k_end, row0, col0, M, N, thread, StoreNow{});
      __syncthreads();  // the slices are complete before anyone reads them
    }
    const auto a_slice = a_tile + buffer * TILE_K, b_slice = b_tile + buffer * TILE_K;
    for (int k = 0; k < TILE_K; ++k) {
      real_t a[sub], b[sub];
      if (quad_rows)
        for (int q = 0; q < sub / 4; ++q) load_four(&a_slice[k][strip(q, ty)], a + 4 * q);
      else
        for (int i = 0; i < sub; ++i) a[i] = a_slice[k][ty + i * 16];
      if (quad_cols)
        for (int q = 0; q < sub / 4; ++q) load_four(&b_slice[k][strip(q, tx)], b + 4 * q);
      else
        for (int j = 0; j < sub; ++j) b[j] = b_slice[k][tx + j * 16];
      for (int i = 0; i < sub; ++i)
        for (int j = 0; j < sub; ++j) acc[i][j] += a[i] * b[j];
    }
    if constexpr (pipelined)
      buffer ^= 1;
    else
      __syncthreads();  // everyone is done with the slices before they are overwritten
  }
  for (int i = 0; i < sub; ++i) {
    const int row = row0 + (quad_rows ? strip(i / 4, ty) + i % 4 : ty + i * 16);
    if (row >= M) continue;
    const auto store_row = store.row(row);
    for (int j = 0; j < sub; ++j) {
      const int col = col0 + tx + j * 16;
      if (col < N) store_row(col, acc[i][j]);
    }
  }
}

// The store of versions 2 and 3: row `row` of block z's (M, N) slice of C, the result (groups, M,
// N) or with K split the workspace (splits, groups, M, N).
struct StoreTile {
  real_t* C;
  int N;
  struct Row {
    real_t* c;
    __device__ __forceinline__ void operator()(int col, real_t value) const { c[col] = value; }
  };
  __device__ __forceinline__ Row row(int row) const { return Row{C + row * N}; }
};

// Bounded to 4 blocks of 256 a multiprocessor, as version 1 runs: unbounded, ptxas took 72
// registers a thread (3 blocks); bounded, 64 in float and in double, no spills (sm_90).
extern "C" __global__ __launch_bounds__(THREADS, 4) void gemm_tiled_v2(
    const real_t* __restrict__ A, const real_t* __restrict__ B, real_t* __restrict__ C, int M, int N, int K, int a_row,
    int a_col, int a_batch, int b_row, int b_col, int b_batch, int groups, int k_split) {
  __shared__ real_t a_tile[TILE_K][TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][TILE_N + TILE_PAD];
  const int g = blockIdx.z % groups;
  const LoadStrided load_b{B + g * b_batch, b_row, b_col};
  split_tile_product<TILE_M, THREAD_M>(a_tile, b_tile, strided_a(A, g, a_row, a_col, a_batch), load_b,
                                       StoreTile{C + blockIdx.z * M * N, N}, M, N, K, groups, k_split);
}

// ---- version 3: more work per value read --------------------------------------------------------
// A tile of C is computed from the tile's rows of A and columns of B: a T x T tile reads 2 T values
// a step of K for T^2 multiply-adds, and a thread's s x s sub-tile reads 2 s values of shared
// memory for s^2. Version 2 (T = 64, s = 4): 32 multiply-adds per value loaded from memory, 2 per
// value read from shared memory. Version 3 takes T = 128 and s = 8, the same 256 threads: 64 and
// 4, half the loads and shared-memory reads per multiply-add, for 64 accumulators a thread (version
// 2: 16) and 8.25 KB of shared memory (4.25). The same body otherwise (split_tile_product), so its
// sums are version 2's in the same order, bit for bit with the same splits. Its tiles are 4x
// larger: a C of 96 x 363 (conv1's weight gradient) is 3 x 1 tiles, not 6 x 2, and split K fills
// the device again (minicnn/gemm.py picks the splits with the version's tile).
// Launch: block (16, 16); grid (ceil(N / 128), ceil(M / 128), groups * splits); as version 2.
// Float: bounded to 2 blocks of 256 a multiprocessor (at most 128 registers a thread), it takes
// 107 (version 4, the same body storing NCHW: 106; version 5's gathering kernels 109 and 110,
// version 6's 114) and spills nothing (sm_90; benchmarks/kernel_resources.py). Double (tests
// only): its 64 accumulators alone take 128 registers, so it asks for one block (bounded to two,
// it spilled 336 bytes).
#define GEMM_V3_MIN_BLOCKS (sizeof(real_t) == 4 ? 2 : 1)

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_v3(
    const real_t* __restrict__ A, const real_t* __restrict__ B, real_t* __restrict__ C, int M, int N, int K, int a_row,
    int a_col, int a_batch, int b_row, int b_col, int b_batch, int groups, int k_split) {
  __shared__ real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  const int g = blockIdx.z % groups;
  const LoadStrided load_b{B + g * b_batch, b_row, b_col};
  split_tile_product<2 * TILE_M, 2 * THREAD_M>(a_tile, b_tile, strided_a(A, g, a_row, a_col, a_batch), load_b,
                                               StoreTile{C + blockIdx.z * M * N, N}, M, N, K, groups, k_split);
}

// partial[0][i] + partial[1][i] + ... + partial[splits - 1][i], in split order (deterministic):
// element i of a split product, from its workspace partial (splits, count) contiguous.
__device__ __forceinline__ real_t split_sum(const real_t* __restrict__ partial, int splits, int count, int i) {
  real_t sum = partial[i];
  for (int s = 1; s < splits; ++s) sum += partial[s * count + i];
  return sum;
}

// C[i] = split_sum(partial, i): versions 2 and 3's split-K sums, C (count,).
// Launch: grid-stride, one thread per element of C.
extern "C" __global__ void gemm_split_sum(const real_t* __restrict__ partial, real_t* __restrict__ C, int splits,
                                          int count) {
  GRID_STRIDE_LOOP(i, count) C[i] = split_sum(partial, splits, count, i);
}

// ---- version 4: the conv's layout pass in the GEMM's stores -------------------------------------
// Conv2D's forward on the kernel devices is im2col, one GEMM per group, Y[g] (M, N) = W[g] (M, K) @
// cols[g] (K, N) with M the group's output channels and N = batch * S (S = OH * OW), and then
// gemm_to_nchw_bias (im2col.cu): a pass that reads Y, adds the bias (and applies the fused ReLU)
// and writes the output in NCHW, one more read and one more write of the layer's output (conv1 at
// batch 128: 149 MB each way). cuBLAS stores C as it is; a GEMM of one's own can do what it likes
// with a value before storing it (an "epilogue", as CUTLASS calls it). Version 4 is version 3
// whose threads store each value of their sub-tile where the layout kernel would have put it,
// with the bias added and the ReLU applied: y[n, g * M + m, s] = biased_relu(Y[g][m, n * S + s]).
// Bit for bit version 3 followed by gemm_to_nchw_bias: the same sums, then the same addition.
// The threads of a warp still store 16 consecutive columns, consecutive pixels of an output plane
// (two runs where a run crosses from one image to the next). Where K is split, version 3's kernel
// writes the partial tiles to the workspace and gemm_split_sum_nchw_bias adds them up in split
// order and stores likewise. Plain products (the dense layers, the conv's backward) run version 3.
// Launch: block (16, 16); grid (ceil(N / 128), ceil(M / 128), groups) (minicnn.gemm.matmul_nchw).
struct StoreNchwBias {
  real_t* y;
  const real_t* bias;
  int M, spatial, channels, relu;   // channels: all groups' output channels, groups * M
  int g;                            // the block's group
  struct Row {                      // output channel o's plane of image 0, and its bias (loaded once)
    real_t* y_o;
    real_t bias;
    int spatial, image, relu;       // image: the values of one image, channels * spatial
    __device__ __forceinline__ void operator()(int col, real_t value) const {
      const int n = col / spatial;
      y_o[n * image + col - n * spatial] = biased_relu(value, bias, relu);
    }
  };
  __device__ __forceinline__ Row row(int row) const {
    const int o = g * M + row;
    return Row{y + o * spatial, bias[o], spatial, channels * spatial, relu};
  }
};

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_nchw_bias_v4(
    const real_t* __restrict__ A, const real_t* __restrict__ B, const real_t* __restrict__ bias, real_t* __restrict__ y,
    int M, int N, int K, int a_row, int a_col, int a_batch, int b_row, int b_col, int b_batch, int groups, int spatial,
    int relu) {
  __shared__ real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  const StoreNchwBias store{y, bias, M, spatial, groups * M, relu, int(blockIdx.z)};
  const LoadStrided load_b{B + blockIdx.z * b_batch, b_row, b_col};
  split_tile_product<2 * TILE_M, 2 * THREAD_M>(a_tile, b_tile, strided_a(A, blockIdx.z, a_row, a_col, a_batch), load_b,
                                               store, M, N, K, groups, K);
}

// gemm_split_sum and the store of version 4 in one pass: element i = (g * M + m) * N + col of the
// workspace's slices (splits, groups, M, N), summed in split order, stored to y (batch, groups * M,
// S) at pixel col mod S of image col / S, with the bias and the ReLU. Consecutive threads take
// consecutive columns: coalesced loads, and stores along a plane's pixels.
// Launch: grid-stride, one thread per element of y.
extern "C" __global__ void gemm_split_sum_nchw_bias(const real_t* __restrict__ partial,
                                                    const real_t* __restrict__ bias, real_t* __restrict__ y,
                                                    int splits, int channels, int N, int spatial, int relu) {
  GRID_STRIDE_LOOP(i, channels * N) {
    const int o = i / N, col = i - o * N, n = col / spatial, s = col - n * spatial;
    y[(n * channels + o) * spatial + s] = biased_relu(split_sum(partial, splits, channels * N, i), bias[o], relu);
  }
}

// ---- version 5: the columns gathered from the conv's input (an implicit GEMM) -------------------
// Conv2D's forward product Y[g] = W[g] @ cols[g] and its weight gradient dW[g] = dY[g] @ cols[g]^T
// both read cols = im2col(x): (C kh kw, batch OH OW), kh kw / (sh sw) times the size of x (conv1 at
// batch 128: 562 MB, against x's 79 MB), which im2col writes once and the GEMMs read again, and
// which the layer keeps from the forward to the backward. Version 5 never writes it: where version 4
// loads a slice of cols, its threads load each element from where im2col would have copied it,
//     cols[g][(c, i, j), (n, oh, ow)] = x[n, g C/G + c, oh sh - ph + i, ow sw - pw + j]
// (zero in the padding): an "implicit GEMM", as cuDNN calls its convolutions of this kind. The
// price is index arithmetic in the loads (a window's origin for each column, a channel and an
// offset for each row: five integer divisions for every four elements a thread loads, against 256
// multiply-adds), and loads of x that overlap where windows do (for conv1, each value of x is in
// about seven windows: the caches serve the repeats, DRAM sees x once). The values in shared
// memory are version 4's, so the sums are too: the output is version 4's bit for bit, and the
// weight gradient version 3's (with the same splits).
// Two kernels: gemm_tiled_implicit_nchw_bias_v5, the forward stored as version 4 stores it; and
// gemm_tiled_implicit_v5, the plain store (StoreTile), for the weight gradient (transposed = 1: B
// is cols^T, of which consecutive threads load consecutive k, columns of cols) and for the
// forward's split-K partial tiles (then summed by gemm_split_sum or gemm_split_sum_nchw_bias).
// A is contiguous: W (groups, M, K) for the forward, dY (groups, M, batch OH OW) for the gradient.
// Launch: block (16, 16); grid (ceil(N / 128), ceil(M / 128), groups * splits) (minicnn.gemm's
// conv_forward_implicit and conv_weight_grad_implicit).

// Element (r, c) of group g's columns cols[g] (or (c, r) of cols[g]^T), read from x.
struct GatherCols {
  const real_t* x;    // channel g C/G of image 0
  int transposed;     // 1: the product's B is cols[g]^T
  int image, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w;  // image: C H W

  struct Window {     // column c of cols: image n's window at output pixel (oh, ow)
    int offset, h0, w0;   // image n's offset in x, and the window's top-left corner (may be in the padding)
  };
  __device__ __forceinline__ Window window(int c) const {
    const int spatial = out_h * out_w;
    const int n = c / spatial, s = c - n * spatial, oh = s / out_w, ow = s - oh * out_w;
    return Window{n * image, oh * stride_h - pad_h, ow * stride_w - pad_w};
  }
  // row r = (channel, i, j) of the window: the address of x there, or null in the padding
  __device__ __forceinline__ const real_t* source(Window win, int r) const {
    const int area = kernel_h * kernel_w;
    const int channel = r / area, rest = r - channel * area, i = rest / kernel_w, j = rest - i * kernel_w;
    const int h = win.h0 + i, w = win.w0 + j;
    return (h >= 0 && h < height && w >= 0 && w < width) ? x + win.offset + (channel * height + h) * width + w
                                                         : nullptr;
  }
  // LoadStrided's slice, its elements taken by consecutive threads along cols' columns (windows
  // one output pixel apart, stride_w pixels of x: consecutive addresses where stride_w is 1), except
  // for a forward whose windows are further apart (conv1's 4 pixels: a warp's 32 windows would
  // span 16 sectors); there consecutive threads take 8 consecutive rows, a row of x's pixels in
  // each window, of 4 neighbouring windows (conv1: 20 pixels, 3 sectors). Each thread finds its one
  // window (or row) once a slice (THREADS is a multiple of tile and of TILE_K).
  template <int tile, typename Tile, typename Put>
  __device__ __forceinline__ void slice(Tile b_tile, int k0, int k_end, int col0, int N, int thread, Put put) const {
    if (transposed) {         // B = cols[g]^T (K, N): the thread's k0 + k is a column of cols, n a row
      const int k = thread % TILE_K;
      const bool inside = k0 + k < k_end;
      const Window win = window(inside ? k0 + k : 0);
      for (int n = thread / TILE_K; n < tile; n += THREADS / TILE_K)
        put(b_tile[k][n], (inside && col0 + n < N) ? source(win, col0 + n) : nullptr);
    } else if (stride_w == 1) {   // B = cols[g] (K, N): the thread's column col0 + n, rows k0 + k
      const int n = thread % tile;
      const bool inside = col0 + n < N;
      const Window win = window(inside ? col0 + n : 0);
      for (int k = thread / tile; k < TILE_K; k += THREADS / tile)
        put(b_tile[k][n], (inside && k0 + k < k_end) ? source(win, k0 + k) : nullptr);
    } else {                  // B = cols[g], windows apart: the thread's row k0 + k, columns col0 + n
      const int k = thread % TILE_K;
      const bool inside = k0 + k < k_end;
      for (int n = thread / TILE_K; n < tile; n += THREADS / TILE_K)
        put(b_tile[k][n], (inside && col0 + n < N) ? source(window(col0 + n), k0 + k) : nullptr);
    }
  }
};

__device__ __forceinline__ GatherCols gather_cols(const real_t* x, int g, int groups, int transposed, int channels,
                                                  int height, int width, int kernel_h, int kernel_w, int stride_h,
                                                  int stride_w, int pad_h, int pad_w, int out_h, int out_w) {
  return GatherCols{x + g * (channels / groups) * height * width, transposed, channels * height * width, height,
                    width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w};
}

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_v5(
    const real_t* __restrict__ A, const real_t* __restrict__ x, real_t* __restrict__ C, int M, int N, int K,
    int groups, int k_split, int transposed, int channels, int height, int width, int kernel_h, int kernel_w,
    int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  const GatherCols load_b = gather_cols(x, blockIdx.z % groups, groups, transposed, channels, height, width, kernel_h,
                                        kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w);
  split_tile_product<2 * TILE_M, 2 * THREAD_M>(a_tile, b_tile, strided_a(A, blockIdx.z % groups, K, 1, M * K),
                                               load_b, StoreTile{C + blockIdx.z * M * N, N}, M, N, K, groups, k_split);
}

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_nchw_bias_v5(
    const real_t* __restrict__ A, const real_t* __restrict__ x, const real_t* __restrict__ bias,
    real_t* __restrict__ y, int M, int N, int K, int groups, int relu, int channels, int height, int width,
    int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  const GatherCols load_b = gather_cols(x, blockIdx.z, groups, 0, channels, height, width, kernel_h, kernel_w,
                                        stride_h, stride_w, pad_h, pad_w, out_h, out_w);
  const StoreNchwBias store{y, bias, M, out_h * out_w, groups * M, relu, int(blockIdx.z)};
  split_tile_product<2 * TILE_M, 2 * THREAD_M>(a_tile, b_tile, strided_a(A, blockIdx.z, K, 1, M * K), load_b, store, M,
                                               N, K, groups, K);
}

// ---- version 6: the conv's input gradient gathered from dL/dy (no col2im) -----------------------
// Conv2D's backward computes dcols[g] = W[g]^T @ dY[g] ((C/G) kh kw, batch OH OW), as large as the
// columns (conv2 at batch 128: 896 MB), which col2im then reads back to sum each pixel's windows.
// The two together are one product whose columns are the pixels of x:
//     dx[n, g C/G + c, h, w] = sum over o, i, j of W[g O/G + o, c, i, j] dY[g O/G + o, (n, oh, ow)]
// with oh = (h + ph - i) / sh and ow = (w + pw - j) / sw, the terms where both are whole and inside
// the output (the windows that cover pixel (h, w) at kernel offset (i, j)). That is A (C/G, (O/G)
// kh kw), A(c, (o, i, j)) = W[g O/G + o, c, i, j] (W transposed first), times B ((O/G) kh kw, batch
// H W), B((o, i, j), (n, h, w)) = that dY value or zero (GatherOutputGrad), stored as NCHW
// (StoreNchw): no dcols written or read, no col2im. Each dx value sums its terms in (o, i, j)
// order where col2im added up the windows' sums over o: the same terms in another order, so dx is
// not version 5's bit for bit (the tests hold it to float64's 1e-12). With a stride of 1 every
// offset (i, j) has its window; with stride s only one offset in s does along each axis and the
// others' zeros are multiplied all the same: s_h s_w times the columns' gradient's products, so
// Conv2D takes this product for a stride of 1 alone (minicnn.gemm.gathers_output_grad: on an H200
// conv1, stride 4, took 802 ms forward and backward by it, 8.8 by col2im). K is not split: the
// product's columns are the input's pixels, batch H W, tiles enough to fill the device. Its M is a
// group's input channels, C/G, fewer than the columns' rows (C/G) kh kw that the columns' gradient
// had: with at most 64 (conv2's 48) a block takes a tile of 64 x 64
// (gemm_tiled_implicit_dgrad_64_v6), else of 128 x 128.
// Launch: block (16, 16); grid (ceil(batch H W / tile), ceil((C/G) / tile), groups)
// (minicnn.gemm.conv_input_grad_implicit).

// A: A(c, (o, i, j)) = W[o, c, i, j]. W (O, C/G, kh, kw) holds a filter's kh kw weights of a
// channel side by side, so that a slice of A (8 values of k, 128 channels) would be 128 runs of 8
// values kh kw apart (about half of each sector used); transposed first, each filter's (C/G, kh kw)
// matrix to (kh kw, C/G) (transpose_matrices: a few hundred KB, read and written once), A^T is the
// plain (O/G kh kw, C/G) matrix of the group, which LoadStrided loads along C/G.
//
// t[b] (cols, rows) = a[b]^T for the matrices a[b] (rows, cols), contiguous, through a 32 x 32 tile
// in shared memory: a block reads its tile of a along a's rows and writes it along t's rows, both
// in runs of consecutive addresses (where the tile is as wide as the matrix, 25 columns for conv2's
// 5x5 kernels, the tile is one contiguous run of a). Copied straight through, one side's accesses
// are a row apart, a sector for every value: the first cut, one thread per value of t, moved
// 11.06 MB for conv2's 1.2 MB of weights (tests/test_gemm.py counts the difference).
// Launch: block 256 (1-D); grid (ceil(cols / 32), ceil(rows / 32), matrices).
#define TRANSPOSE_TILE 32
extern "C" __global__ void transpose_matrices(const real_t* __restrict__ a, real_t* __restrict__ t, int rows,
                                              int cols) {
  // The tile's rows `pitch` apart in shared memory, pitch odd (the tile's width, or one more), so
  // that a column's 32 values lie in 32 distinct banks and a tile as narrow as 25 is read into it
  // at consecutive addresses.
  __shared__ real_t tile[TRANSPOSE_TILE * (TRANSPOSE_TILE + 1)];
  const int row0 = blockIdx.y * TRANSPOSE_TILE, col0 = blockIdx.x * TRANSPOSE_TILE;
  const int tile_rows = min(TRANSPOSE_TILE, rows - row0), tile_cols = min(TRANSPOSE_TILE, cols - col0);
  const int pitch = tile_cols | 1;
  a += blockIdx.z * rows * cols;
  t += blockIdx.z * rows * cols;
  // consecutive threads, consecutive values of a row of a (at a row's end, the next row's start)
  for (int e = threadIdx.x; e < tile_rows * tile_cols; e += blockDim.x) {
    const int i = e / tile_cols, j = e - i * tile_cols;
    tile[i * pitch + j] = a[(row0 + i) * cols + col0 + j];
  }
  __syncthreads();   // the tile is complete before its columns are read
  // consecutive threads, consecutive values of a row of t: down a column of the tile
  for (int e = threadIdx.x; e < tile_rows * tile_cols; e += blockDim.x) {
    const int j = e / tile_rows, i = e - j * tile_rows;
    t[(col0 + j) * rows + row0 + i] = tile[i * pitch + j];
  }
}

// B: B((o, i, j), (n, h, w)) = dY[o, (n, oh, ow)] where the window at output pixel (oh, ow) covers
// pixel (h, w) of x at kernel offset (i, j), else zero; dY in the GEMM layout (O, batch OH OW) that
// the backward has made (masked by the fused ReLU). Consecutive threads take consecutive pixels of
// x (for a stride of 1, consecutive values of dY), each thread its one pixel a slice.
struct GatherOutputGrad {
  const real_t* dy;             // the group's first channel
  int plane;                    // batch OH OW: one channel of dY
  int height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w;
  template <int tile, typename Tile, typename Put>
  __device__ __forceinline__ void slice(Tile tile_k_n, int k0, int k_end, int col0, int N, int thread, Put put) const {
    const int n = thread % tile;
    const bool inside = col0 + n < N;
    const int pixels = height * width, image = (col0 + n) / pixels, p = col0 + n - image * pixels;
    const int h = p / width + pad_h, w = p % width + pad_w;    // in the padded image
    const real_t* dy_image = dy + image * out_h * out_w;
    for (int k = thread / tile; k < TILE_K; k += THREADS / tile) {
      const real_t* source = nullptr;   // a zero
      if (inside && k0 + k < k_end) {
        const int area = kernel_h * kernel_w;
        const int o = (k0 + k) / area, rest = k0 + k - o * area, i = rest / kernel_w, j = rest - i * kernel_w;
        const int hs = h - i, ws = w - j;          // oh * stride_h and ow * stride_w, where whole
        const int oh = hs / stride_h, ow = ws / stride_w;
        if (hs >= 0 && ws >= 0 && oh * stride_h == hs && ow * stride_w == ws && oh < out_h && ow < out_w)
          source = dy_image + o * plane + oh * out_w + ow;
      }
      put(tile_k_n[k][n], source);
    }
  }
};

// Element (m, col) of group g's product to y[n, g M + m, s], col = n S + s: StoreNchwBias without
// the bias and the ReLU.
struct StoreNchw {
  real_t* y;
  int M, spatial, channels, g;
  struct Row {
    real_t* y_o;
    int spatial, image;
    __device__ __forceinline__ void operator()(int col, real_t value) const {
      const int n = col / spatial;
      y_o[n * image + col - n * spatial] = value;
    }
  };
  __device__ __forceinline__ Row row(int row) const {
    return Row{y + (g * M + row) * spatial, spatial, channels * spatial};
  }
};

// The kernel's body for tiles of tile x tile (sub x sub a thread).
// wt: the weights with each filter's matrix transposed, (O, kh kw, C/G).
template <int tile, int sub, bool quad_rows = false, bool quad_cols = false, bool pipelined = false>
__device__ __forceinline__ void implicit_dgrad(real_t (*a_tile)[tile + TILE_PAD], real_t (*b_tile)[tile + TILE_PAD],
                                               const real_t* __restrict__ wt, const real_t* __restrict__ dy,
                                               real_t* __restrict__ dx, int M, int N, int K, int groups, int channels,
                                               int height, int width, int kernel_h, int kernel_w, int stride_h,
                                               int stride_w, int pad_h, int pad_w, int out_h, int out_w) {
  const int g = blockIdx.z, area = kernel_h * kernel_w, filters = K / area;   // filters: O/G
  const int plane = N / (height * width) * out_h * out_w;
  const LoadStrided load_a = strided_a(wt, g, 1, M, filters * area * M);
  const GatherOutputGrad load_b{dy + g * filters * plane, plane, height, width, kernel_h, kernel_w, stride_h,
                                stride_w, pad_h, pad_w, out_h, out_w};
  split_tile_product<tile, sub, quad_rows, quad_cols, pipelined>(a_tile, b_tile, load_a, load_b,
                                                                 StoreNchw{dx, M, height * width, channels, g}, M, N,
                                                                 K, groups, K);
}

// Tiles of 128 x 128, as version 3's.
extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_dgrad_v6(
    const real_t* __restrict__ wt, const real_t* __restrict__ dy, real_t* __restrict__ dx, int M, int N, int K,
    int groups, int channels, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  implicit_dgrad<2 * TILE_M, 2 * THREAD_M>(a_tile, b_tile, wt, dy, dx, M, N, K, groups, channels, height, width,
                                           kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w);
}

// Tiles of 64 x 64, as version 2's, for groups of at most 64 input channels (the product's M):
// conv2's 48 would fill 48 of a 128-row tile's rows, so that 62% of its multiply-adds would be
// of zeros; 48 of 64 leaves 25%. Bounded to 4 blocks a multiprocessor, as version 2, in float (64
// registers, no spills); in double (tests only) to 2, as bounded to 4 it spilled 8 bytes.
#define DGRAD_64_MIN_BLOCKS (sizeof(real_t) == 4 ? 4 : 2)

extern "C" __global__ __launch_bounds__(THREADS, DGRAD_64_MIN_BLOCKS) void gemm_tiled_implicit_dgrad_64_v6(
    const real_t* __restrict__ wt, const real_t* __restrict__ dy, real_t* __restrict__ dx, int M, int N, int K,
    int groups, int channels, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ real_t a_tile[TILE_K][TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][TILE_N + TILE_PAD];
  implicit_dgrad<TILE_M, THREAD_M>(a_tile, b_tile, wt, dy, dx, M, N, K, groups, channels, height, width, kernel_h,
                                   kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w);
}

// ---- version 7: a thread's rows of A read four at a time ----------------------------------------
// At each k of a slice, a thread of versions 2 to 6 reads its sub rows of A's slice one value at a
// time (a_tile[k][ty + 16 i]) and its sub columns of B's (b_tile[k][tx + 16 j]): with tiles of
// 128, 16 loads from shared memory for 64 multiply-adds. Each load of a warp takes one pass through
// the banks (its 32 threads read 2 words of A, or 16 consecutive words of B), and a multiprocessor's
// shared memory makes one pass a cycle while its four schedulers issue four warps' multiply-adds:
// 64 multiply-adds of a warp take as many cycles of the schedulers (16 a warp, four at once) as
// its 16 loads take of the shared memory, which is then as busy as the arithmetic units. Version 7
// gives each thread strips of 4 consecutive rows (rows 4 ty to 4 ty + 3 and 64 + 4 ty to 64 + 4 ty
// + 3: strip) and reads each strip in one 16-byte load (load_four; a warp's two rows of threads
// read 8 consecutive words, one pass): 2 + 8 = 10 loads for 64 multiply-adds, 62% of their
// cycles (tiles of 64: 1 + 4 for 16, against 8). The columns stay 16 apart: a warp reads 16
// consecutive words of B in one pass and stores 16 consecutive columns of C (in strips of 4, each
// store would cover every fourth column). Each element of C is the same sum in the same order,
// computed by another thread: the results are version 6's bit for bit. a_tile is aligned to 16
// bytes for the 16-byte loads. The kernels of version 6's products, with quad_rows (the NCHW store
// of im2col's columns, version 4's, is not launched from version 5 on).
// Launch: as the kernels of the same name in versions 3, 5 and 6 (minicnn/gemm.py).
#define QUAD_ROWS true

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_v7(
    const real_t* __restrict__ A, const real_t* __restrict__ B, real_t* __restrict__ C, int M, int N, int K, int a_row,
    int a_col, int a_batch, int b_row, int b_col, int b_batch, int groups, int k_split) {
  __shared__ __align__(16) real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  const int g = blockIdx.z % groups;
  const LoadStrided load_b{B + g * b_batch, b_row, b_col};
  split_tile_product<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS>(a_tile, b_tile, strided_a(A, g, a_row, a_col, a_batch),
                                                          load_b, StoreTile{C + blockIdx.z * M * N, N}, M, N, K,
                                                          groups, k_split);
}

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_v7(
    const real_t* __restrict__ A, const real_t* __restrict__ x, real_t* __restrict__ C, int M, int N, int K,
    int groups, int k_split, int transposed, int channels, int height, int width, int kernel_h, int kernel_w,
    int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  const GatherCols load_b = gather_cols(x, blockIdx.z % groups, groups, transposed, channels, height, width, kernel_h,
                                        kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w);
  split_tile_product<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS>(a_tile, b_tile,
                                                          strided_a(A, blockIdx.z % groups, K, 1, M * K), load_b,
                                                          StoreTile{C + blockIdx.z * M * N, N}, M, N, K, groups,
                                                          k_split);
}

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_nchw_bias_v7(
    const real_t* __restrict__ A, const real_t* __restrict__ x, const real_t* __restrict__ bias,
    real_t* __restrict__ y, int M, int N, int K, int groups, int relu, int channels, int height, int width,
    int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  const GatherCols load_b = gather_cols(x, blockIdx.z, groups, 0, channels, height, width, kernel_h, kernel_w,
                                        stride_h, stride_w, pad_h, pad_w, out_h, out_w);
  const StoreNchwBias store{y, bias, M, out_h * out_w, groups * M, relu, int(blockIdx.z)};
  split_tile_product<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS>(a_tile, b_tile, strided_a(A, blockIdx.z, K, 1, M * K),
                                                          load_b, store, M, N, K, groups, K);
}

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_dgrad_v7(
    const real_t* __restrict__ wt, const real_t* __restrict__ dy, real_t* __restrict__ dx, int M, int N, int K,
    int groups, int channels, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  implicit_dgrad<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS>(a_tile, b_tile, wt, dy, dx, M, N, K, groups, channels, height,
                                                      width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                                      out_h, out_w);
}

extern "C" __global__ __launch_bounds__(THREADS, DGRAD_64_MIN_BLOCKS) void gemm_tiled_implicit_dgrad_64_v7(
    const real_t* __restrict__ wt, const real_t* __restrict__ dy, real_t* __restrict__ dx, int M, int N, int K,
    int groups, int channels, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[TILE_K][TILE_M + TILE_PAD];
  __shared__ real_t b_tile[TILE_K][TILE_N + TILE_PAD];
  implicit_dgrad<TILE_M, THREAD_M, QUAD_ROWS>(a_tile, b_tile, wt, dy, dx, M, N, K, groups, channels, height, width,
                                              kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w);
}

// ---- version 8: a thread's columns of B read four at a time too --------------------------------
// Version 7 still reads a thread's sub columns of B's slice one value at a time (b_tile[k][tx +
// 16 j]): with tiles of 128, 8 of its 10 shared-memory loads a k. Reading them in strips as the
// rows would need each thread's columns side by side, and a thread owning 4 adjacent columns of C
// would store every fourth column of a row with each of its warp's stores (version 1's strided
// stores). Version 8 keeps version 2's columns and moves B's values instead: the loaders store
// column n of the slice at word column_slot(n) of its row (QuadColumns), which puts thread tx's
// columns tx, tx + 16, tx + 32, tx + 48 at words 4 tx to 4 tx + 3 (strip(0, tx)), and the next 64
// columns 64 words on; the thread then reads each strip with one 16-byte load (load_four), as it
// reads A's: 2 + 2 = 4 loads a k for 64 multiply-adds, not 10 (tiles of 64: 1 + 1 for 16, not 1 +
// 4). The price is in the loaders' stores to the slice, which no longer fall on 32 banks: a warp
// storing 32 consecutive columns of a row writes 16 banks twice (2 passes, not 1); one storing 8
// rows of 4 columns (an operand loaded along k) 8 banks four times (4 passes). They are 4 stores a
// thread a slice against 8 x 8 reads. Each element of C is the same sum in the same order by the
// same thread: the results are version 7's bit for bit. Both slices are aligned to 16 bytes.
// Launch: as the kernels of the same name in versions 3, 5 and 6 (minicnn/gemm.py).
#define QUAD_COLS true

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_v8(
    const real_t* __restrict__ A, const real_t* __restrict__ B, real_t* __restrict__ C, int M, int N, int K, int a_row,
    int a_col, int a_batch, int b_row, int b_col, int b_batch, int groups, int k_split) {
  __shared__ __align__(16) real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ __align__(16) real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  const int g = blockIdx.z % groups;
  const LoadStrided load_b{B + g * b_batch, b_row, b_col};
  split_tile_product<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS, QUAD_COLS>(a_tile, b_tile,
                                                                     strided_a(A, g, a_row, a_col, a_batch), load_b,
                                                                     StoreTile{C + blockIdx.z * M * N, N}, M, N, K,
                                                                     groups, k_split);
}

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_v8(
    const real_t* __restrict__ A, const real_t* __restrict__ x, real_t* __restrict__ C, int M, int N, int K,
    int groups, int k_split, int transposed, int channels, int height, int width, int kernel_h, int kernel_w,
    int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ __align__(16) real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  const GatherCols load_b = gather_cols(x, blockIdx.z % groups, groups, transposed, channels, height, width, kernel_h,
                                        kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w);
  split_tile_product<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS, QUAD_COLS>(a_tile, b_tile,
                                                                     strided_a(A, blockIdx.z % groups, K, 1, M * K),
                                                                     load_b, StoreTile{C + blockIdx.z * M * N, N}, M, N,
                                                                     K, groups, k_split);
}

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_nchw_bias_v8(
    const real_t* __restrict__ A, const real_t* __restrict__ x, const real_t* __restrict__ bias,
    real_t* __restrict__ y, int M, int N, int K, int groups, int relu, int channels, int height, int width,
    int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ __align__(16) real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  const GatherCols load_b = gather_cols(x, blockIdx.z, groups, 0, channels, height, width, kernel_h, kernel_w,
                                        stride_h, stride_w, pad_h, pad_w, out_h, out_w);
  const StoreNchwBias store{y, bias, M, out_h * out_w, groups * M, relu, int(blockIdx.z)};
  split_tile_product<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS, QUAD_COLS>(a_tile, b_tile,
                                                                     strided_a(A, blockIdx.z, K, 1, M * K), load_b,
                                                                     store, M, N, K, groups, K);
}

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_dgrad_v8(
    const real_t* __restrict__ wt, const real_t* __restrict__ dy, real_t* __restrict__ dx, int M, int N, int K,
    int groups, int channels, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ __align__(16) real_t b_tile[TILE_K][2 * TILE_N + TILE_PAD];
  implicit_dgrad<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS, QUAD_COLS>(a_tile, b_tile, wt, dy, dx, M, N, K, groups,
                                                                 channels, height, width, kernel_h, kernel_w,
                                                                 stride_h, stride_w, pad_h, pad_w, out_h, out_w);
}

extern "C" __global__ __launch_bounds__(THREADS, DGRAD_64_MIN_BLOCKS) void gemm_tiled_implicit_dgrad_64_v8(
    const real_t* __restrict__ wt, const real_t* __restrict__ dy, real_t* __restrict__ dx, int M, int N, int K,
    int groups, int channels, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[TILE_K][TILE_M + TILE_PAD];
  __shared__ __align__(16) real_t b_tile[TILE_K][TILE_N + TILE_PAD];
  implicit_dgrad<TILE_M, THREAD_M, QUAD_ROWS, QUAD_COLS>(a_tile, b_tile, wt, dy, dx, M, N, K, groups, channels, height,
                                                         width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                                         out_h, out_w);
}

// ---- version 9: the next slices copied while these are multiplied -------------------------------
// In versions 2 to 8 a step of K is: every thread loads its values of the two slices from memory
// into registers and stores them to shared memory, a barrier, the multiply-adds, a barrier.
// Between the barriers the loads are all a block does: a trip to memory takes several hundred
// cycles (more where L2 misses), against about 1,024 cycles of a multiprocessor's 4 schedulers
// for the step's multiply-adds of the block's 8 warps (512 a warp), and with two blocks a
// multiprocessor the wait is hidden only while the other block happens to be multiplying. Loading
// the next step's values into registers during the multiply-adds would hide it, for 8 registers a
// thread more (versions 7 and 8 take 108 to 115 of their 128) and still a load and a store
// instruction a value. Version 9 copies them with cp.async (kernels/copy_async.cuh), which moves
// them from memory to shared memory with no register and no store instruction, while the thread
// goes on. Each operand has two slices in shared memory. At each step a thread waits for its
// copies of this step's values (issued during the step before) to land in one, the block meets at
// a barrier, and each thread issues the copies of the next step's values into the other slices
// (load_slices with CopyAsync: the same loaders, the same addresses) and multiplies this step's:
// the wait for memory overlaps the multiply-adds of a whole step. The barrier also says that
// everyone is done with the other slices, multiplied the step before, so one barrier a step is
// enough where versions 2 to 8 need two. Version 8 otherwise (its strips of A and of B): each
// element of C is the same sum in the same order, bit for bit version 8's. Shared memory: 16.5 KB
// a block in float (version 8: 8.25). Before sm_80 the copies are plain loads and stores.
// Launch: as the kernels of the same name in versions 3, 5 and 6 (minicnn/gemm.py).
#define PIPELINED true

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_v9(
    const real_t* __restrict__ A, const real_t* __restrict__ B, real_t* __restrict__ C, int M, int N, int K, int a_row,
    int a_col, int a_batch, int b_row, int b_col, int b_batch, int groups, int k_split) {
  __shared__ __align__(16) real_t a_tile[2 * TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ __align__(16) real_t b_tile[2 * TILE_K][2 * TILE_N + TILE_PAD];
  const int g = blockIdx.z % groups;
  const LoadStrided load_b{B + g * b_batch, b_row, b_col};
  split_tile_product<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS, QUAD_COLS, PIPELINED>(
      a_tile, b_tile, strided_a(A, g, a_row, a_col, a_batch), load_b, StoreTile{C + blockIdx.z * M * N, N}, M, N, K,
      groups, k_split);
}

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_v9(
    const real_t* __restrict__ A, const real_t* __restrict__ x, real_t* __restrict__ C, int M, int N, int K,
    int groups, int k_split, int transposed, int channels, int height, int width, int kernel_h, int kernel_w,
    int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[2 * TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ __align__(16) real_t b_tile[2 * TILE_K][2 * TILE_N + TILE_PAD];
  const GatherCols load_b = gather_cols(x, blockIdx.z % groups, groups, transposed, channels, height, width, kernel_h,
                                        kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w);
  split_tile_product<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS, QUAD_COLS, PIPELINED>(
      a_tile, b_tile, strided_a(A, blockIdx.z % groups, K, 1, M * K), load_b, StoreTile{C + blockIdx.z * M * N, N}, M,
      N, K, groups, k_split);
}

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_nchw_bias_v9(
    const real_t* __restrict__ A, const real_t* __restrict__ x, const real_t* __restrict__ bias,
    real_t* __restrict__ y, int M, int N, int K, int groups, int relu, int channels, int height, int width,
    int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[2 * TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ __align__(16) real_t b_tile[2 * TILE_K][2 * TILE_N + TILE_PAD];
  const GatherCols load_b = gather_cols(x, blockIdx.z, groups, 0, channels, height, width, kernel_h, kernel_w,
                                        stride_h, stride_w, pad_h, pad_w, out_h, out_w);
  const StoreNchwBias store{y, bias, M, out_h * out_w, groups * M, relu, int(blockIdx.z)};
  split_tile_product<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS, QUAD_COLS, PIPELINED>(
      a_tile, b_tile, strided_a(A, blockIdx.z, K, 1, M * K), load_b, store, M, N, K, groups, K);
}

extern "C" __global__ __launch_bounds__(THREADS, GEMM_V3_MIN_BLOCKS) void gemm_tiled_implicit_dgrad_v9(
    const real_t* __restrict__ wt, const real_t* __restrict__ dy, real_t* __restrict__ dx, int M, int N, int K,
    int groups, int channels, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[2 * TILE_K][2 * TILE_M + TILE_PAD];
  __shared__ __align__(16) real_t b_tile[2 * TILE_K][2 * TILE_N + TILE_PAD];
  implicit_dgrad<2 * TILE_M, 2 * THREAD_M, QUAD_ROWS, QUAD_COLS, PIPELINED>(
      a_tile, b_tile, wt, dy, dx, M, N, K, groups, channels, height, width, kernel_h, kernel_w, stride_h, stride_w,
      pad_h, pad_w, out_h, out_w);
}

extern "C" __global__ __launch_bounds__(THREADS, DGRAD_64_MIN_BLOCKS) void gemm_tiled_implicit_dgrad_64_v9(
    const real_t* __restrict__ wt, const real_t* __restrict__ dy, real_t* __restrict__ dx, int M, int N, int K,
    int groups, int channels, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int pad_h, int pad_w, int out_h, int out_w) {
  __shared__ __align__(16) real_t a_tile[2 * TILE_K][TILE_M + TILE_PAD];
  __shared__ __align__(16) real_t b_tile[2 * TILE_K][TILE_N + TILE_PAD];
  implicit_dgrad<TILE_M, THREAD_M, QUAD_ROWS, QUAD_COLS, PIPELINED>(
      a_tile, b_tile, wt, dy, dx, M, N, K, groups, channels, height, width, kernel_h, kernel_w, stride_h, stride_w,
      pad_h, pad_w, out_h, out_w);
}
