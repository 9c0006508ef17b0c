// Winograd's F(2x2, 3x3) for 3x3 convolutions of stride 1 (minicnn/layers/winograd.py, whose
// NumPy code is the reference): the transforms around the 16 GEMMs. Version 1: one thread per
// tile, straight from and to the NCHW images; version 2: a block per (channel, group of images),
// the images' planes through shared memory (minicnn/kernel_versions.py, family "winograd").
//
// Layouts: x, y, dL/dx, dL/dy are NCHW. The transformed tiles are (16, C, T) for the input (V)
// and (16, O, T) for the GEMMs' results (M) and the output gradient (Z): tile position xi = 4 a + b
// first, then the channel, then the tile t = (n * TY + ty) * TX + tx, so that consecutive threads
// (consecutive tiles) store consecutive values of each position. Tile (ty, tx) reads the padded
// input rows 2 ty .. 2 ty + 3 and columns 2 tx .. 2 tx + 3, and makes the output pixels
// (2 ty + a, 2 tx + b), a, b in {0, 1}; pixels outside the image read as zero, outputs outside it
// are not stored.
//
//   B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]      A^T = [[1, 1, 1, 0],
//                                                                                  [0, 1, -1, -1]]
// Launch (version 1): grid_for(channels * T) blocks of BLOCK threads, grid-stride
// (winograd_input_grad_v1: one thread per block of 2 x 2 pixels of the padded image,
// N * C * (TY + 1) * (TX + 1) of them); version 2: below.
#include "common.cuh"

// out = B^T u for a column (or row) u of 4 values: adds and subtracts only
__device__ __forceinline__ void times_bt(const real_t* u, real_t* out) {
  out[0] = u[0] - u[2];
  out[1] = u[1] + u[2];
  out[2] = u[2] - u[1];
  out[3] = u[1] - u[3];
}

// (B u)[r], the adjoint's row r
__device__ __forceinline__ real_t times_b(int r, real_t u0, real_t u1, real_t u2, real_t u3) {
  switch (r) {
    case 0: return u0;
    case 1: return u1 - u2 + u3;
    case 2: return u1 + u2 - u0;
    default: return -u3;
  }
}

// An output pixel: the tile's value plus the channel's bias, and with relu the fused ReLU
__device__ __forceinline__ real_t output_value(real_t pixel, real_t bias, int relu) {
  const real_t value = pixel + bias;
  return relu && value < real_t(0) ? real_t(0) : value;
}

// dL/dy at `at` through the fused ReLU: zero where the forward's output y was not positive (y is
// not read without relu)
__device__ __forceinline__ real_t masked_grad(const real_t* dout, const real_t* y, long long at, int relu) {
  return !relu || y[at] > real_t(0) ? dout[at] : real_t(0);
}

// out[i][j] = (B dV B^T)[2 qr + i][2 qs + j], i, j in {0, 1}: a quadrant of one tile's input
// gradient, its position (a, b) value dV[a][b] at at[(4 a + b) * step]. Called with constant qr and
// qs, so that times_b's switches fold away and the loads of values it does not need with them.
__device__ __forceinline__ void tile_quadrant(const real_t* at, long long step, int qr, int qs, real_t out[2][2]) {
  real_t across[4][2];   // (dV B^T)[a][2 qs + j]
  for (int a = 0; a < 4; ++a) {
    const real_t u0 = at[(4 * a) * step], u1 = at[(4 * a + 1) * step], u2 = at[(4 * a + 2) * step],
                 u3 = at[(4 * a + 3) * step];
    for (int j = 0; j < 2; ++j) across[a][j] = times_b(2 * qs + j, u0, u1, u2, u3);
  }
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) out[i][j] = times_b(2 * qr + i, across[0][j], across[1][j], across[2][j], across[3][j]);
  }
}

// The whole of one tile's input gradient, dd = B dV B^T (4 x 4), by tile_quadrant's operations
// in its order: dd[2 qr + i][2 qs + j] is tile_quadrant's out[i][j], bit for bit.
__device__ __forceinline__ void tile_adjoint(const real_t* at, long long step, real_t dd[4][4]) {
  real_t across[4][4];   // (dV B^T)[a][b]
  for (int a = 0; a < 4; ++a) {
    const real_t u0 = at[(4 * a) * step], u1 = at[(4 * a + 1) * step], u2 = at[(4 * a + 2) * step],
                 u3 = at[(4 * a + 3) * step];
    for (int b = 0; b < 4; ++b) across[a][b] = times_b(b, u0, u1, u2, u3);
  }
  for (int r = 0; r < 4; ++r) {
    for (int b = 0; b < 4; ++b) dd[r][b] = times_b(r, across[0][b], across[1][b], across[2][b], across[3][b]);
  }
}

// v[xi, c, t] = (B^T d B)[xi] for the 4x4 input tile d (d[s][r]: column s, row r), stored at
// out[xi * step]
__device__ __forceinline__ void store_input_tile(const real_t d[4][4], real_t* out, long long step) {
  real_t rows[4][4];
  for (int s = 0; s < 4; ++s) {   // B^T down each column: rows[s][a] = (B^T d)[a][s]
    times_bt(d[s], rows[s]);
  }
  for (int a = 0; a < 4; ++a) {   // then along each row: (B^T d B)[a][b]
    const real_t row[4] = {rows[0][a], rows[1][a], rows[2][a], rows[3][a]};
    real_t transformed[4];
    times_bt(row, transformed);
    for (int b = 0; b < 4; ++b) out[(4 * a + b) * step] = transformed[b];
  }
}

// A tile's 2 x 2 outputs before the bias, (A^T M A)[a][b], position (k, b) of M at at[(4 k + b) * step]
__device__ __forceinline__ void output_tile(const real_t* at, long long step, real_t pixels[2][2]) {
  real_t half[2][4];   // A^T M: half[a][b]
  for (int b = 0; b < 4; ++b) {
    real_t col[4];
    for (int k = 0; k < 4; ++k) col[k] = at[(4 * k + b) * step];
    half[0][b] = col[0] + col[1] + col[2];
    half[1][b] = col[1] - col[2] - col[3];
  }
  for (int a = 0; a < 2; ++a) {
    pixels[a][0] = half[a][0] + half[a][1] + half[a][2];
    pixels[a][1] = half[a][1] - half[a][2] - half[a][3];
  }
}

// z[xi * step] = (A g A^T)[xi] for a tile's 2 x 2 values g of dL/dy
__device__ __forceinline__ void store_output_grad_tile(const real_t g[2][2], real_t* z, long long step) {
  real_t rows[4][2];   // A g: A = [[1, 0], [1, 1], [1, -1], [0, -1]]
  for (int b = 0; b < 2; ++b) {
    rows[0][b] = g[0][b];
    rows[1][b] = g[0][b] + g[1][b];
    rows[2][b] = g[0][b] - g[1][b];
    rows[3][b] = -g[1][b];
  }
  for (int a = 0; a < 4; ++a) {   // then A^T along each row
    const real_t out[4] = {rows[a][0], rows[a][0] + rows[a][1], rows[a][0] - rows[a][1], -rows[a][1]};
    for (int b = 0; b < 4; ++b) z[(4 * a + b) * step] = out[b];
  }
}

// ---- version 1: a thread per tile ---------------------------------------------------------------
// v[xi, c, t] = (B^T d B)[xi] for the 4x4 input tile d of tile t of channel c
extern "C" __global__ void winograd_input_v1(const real_t* __restrict__ x, real_t* __restrict__ v, int n, int c,
                                             int h, int w, int pad_h, int pad_w, int tiles_h, int tiles_w) {
  const int tiles = n * tiles_h * tiles_w;
  GRID_STRIDE_LOOP(i, c * tiles) {
    const int t = i % tiles, channel = i / tiles;
    const int tx = t % tiles_w, ty = t / tiles_w % tiles_h, image = t / (tiles_w * tiles_h);
    const real_t* plane = x + ((long long)image * c + channel) * h * w;
    real_t d[4][4];
    for (int r = 0; r < 4; ++r) {
      const int row = 2 * ty + r - pad_h;
      for (int s = 0; s < 4; ++s) {
        const int col = 2 * tx + s - pad_w;
        d[s][r] = row >= 0 && row < h && col >= 0 && col < w ? plane[row * w + col] : real_t(0);   // column s
      }
    }
    store_input_tile(d, v + (long long)channel * tiles + t, (long long)c * tiles);
  }
}

// y[n, o, 2 ty + a, 2 tx + b] = (A^T M A)[a][b] + bias[o], max(., 0) with relu. ptxas gives it 36
// registers (75% occupancy); capped at 32 by __launch_bounds__(256, 8) its float64 build spills.
extern "C" __global__ void winograd_output_v1(const real_t* __restrict__ m, const real_t* __restrict__ bias,
                                              real_t* __restrict__ y, int n, int o, int out_h, int out_w,
                                              int tiles_h, int tiles_w, int relu) {
  const int tiles = n * tiles_h * tiles_w;
  GRID_STRIDE_LOOP(i, o * tiles) {
    const int t = i % tiles, channel = i / tiles;
    const int tx = t % tiles_w, ty = t / tiles_w % tiles_h, image = t / (tiles_w * tiles_h);
    real_t pixels[2][2];
    output_tile(m + (long long)channel * tiles + t, (long long)o * tiles, pixels);
    real_t* plane = y + ((long long)image * o + channel) * out_h * out_w;
    for (int a = 0; a < 2; ++a) {
      for (int b = 0; b < 2; ++b) {
        const int row = 2 * ty + a, col = 2 * tx + b;
        if (row < out_h && col < out_w) plane[row * out_w + col] = output_value(pixels[a][b], bias[channel], relu);
      }
    }
  }
}

// z[xi, o, t] = (A dY A^T)[xi] for the 2x2 tile dY of dL/dy (zero outside it; with relu, zero where
// the forward's output y was not positive)
extern "C" __global__ void winograd_output_grad_v1(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                                   real_t* __restrict__ z, int n, int o, int out_h, int out_w,
                                                   int tiles_h, int tiles_w, int relu) {
  const int tiles = n * tiles_h * tiles_w;
  GRID_STRIDE_LOOP(i, o * tiles) {
    const int t = i % tiles, channel = i / tiles;
    const int tx = t % tiles_w, ty = t / tiles_w % tiles_h, image = t / (tiles_w * tiles_h);
    const long long plane = ((long long)image * o + channel) * out_h * out_w;
    real_t g[2][2];
    for (int a = 0; a < 2; ++a) {
      for (int b = 0; b < 2; ++b) {
        const int row = 2 * ty + a, col = 2 * tx + b;
        const long long at = plane + row * out_w + col;
        g[a][b] = row < out_h && col < out_w ? masked_grad(dout, y, at, relu) : real_t(0);
      }
    }
    store_output_grad_tile(g, z + (long long)channel * tiles + t, (long long)o * tiles);
  }
}

// dx: a thread per block of 2 x 2 pixels of the padded image (by, bx), the pixels (2 by + i, 2 bx + j).
// Four tiles cover such a block, each with a quadrant: tile (by, bx) its top left one, (by - 1, bx) its
// bottom left, (by, bx - 1) its top right, (by - 1, bx - 1) its bottom right; their sum, in that
// fixed order (deterministic), is the block's input gradient. Every pixel of dx is in one block.
extern "C" __global__ void winograd_input_grad_v1(const real_t* __restrict__ dv, real_t* __restrict__ dx, int n,
                                                  int c, int h, int w, int pad_h, int pad_w, int tiles_h,
                                                  int tiles_w) {
  const int tiles = n * tiles_h * tiles_w, blocks_h = tiles_h + 1, blocks_w = tiles_w + 1;
  const long long step = (long long)c * tiles;   // from one tile position's values to the next's
  GRID_STRIDE_LOOP(i, n * c * blocks_h * blocks_w) {
    const int bx = i % blocks_w, by = i / blocks_w % blocks_h;
    const int channel = i / (blocks_w * blocks_h) % c, image = i / (blocks_w * blocks_h * c);
    const real_t* tile = dv + (long long)channel * tiles + ((long long)image * tiles_h + by) * tiles_w + bx;
    real_t sum[2][2] = {{0, 0}, {0, 0}}, part[2][2];
    if (by < tiles_h && bx < tiles_w) {
      tile_quadrant(tile, step, 0, 0, part);
      for (int k = 0; k < 4; ++k) sum[k / 2][k % 2] += part[k / 2][k % 2];
    }
    if (by > 0 && bx < tiles_w) {
      tile_quadrant(tile - tiles_w, step, 1, 0, part);
      for (int k = 0; k < 4; ++k) sum[k / 2][k % 2] += part[k / 2][k % 2];
    }
    if (by < tiles_h && bx > 0) {
      tile_quadrant(tile - 1, step, 0, 1, part);
      for (int k = 0; k < 4; ++k) sum[k / 2][k % 2] += part[k / 2][k % 2];
    }
    if (by > 0 && bx > 0) {
      tile_quadrant(tile - tiles_w - 1, step, 1, 1, part);
      for (int k = 0; k < 4; ++k) sum[k / 2][k % 2] += part[k / 2][k % 2];
    }
    for (int k = 0; k < 4; ++k) {
      const int row = 2 * by + k / 2 - pad_h, col = 2 * bx + k % 2 - pad_w;
      if (row >= 0 && row < h && col >= 0 && col < w)
        dx[(((long long)image * c + channel) * h + row) * w + col] = sum[k / 2][k % 2];
    }
  }
}

// ---- version 2: a block per (channel, group of images), the planes through shared memory --------
// Version 1's threads, a tile each, read their tiles' pixels straight from the NCHW images, four
// rows of four pixels with neighbouring threads' tiles 2 pixels apart (the simulator counts a
// warp's loads at 27% to 34% of the bytes their sectors move), store the outputs' pixels and load
// dL/dy's the same way, and each thread of the input gradient loads 64 values of dV for its 4
// pixels, each tile's 16 loaded by the four threads whose pixels it covers (53% of the bytes). On
// an H200 (2026-12-04, batch 128) the transforms ran at 44% (the input gradient's, conv4) to 72%
// of the copy bandwidth. Here a block takes the whole planes of `images` consecutive images of one
// channel, whose tiles are one run of each tile position in V, M, Z and dV (consecutive images'
// tiles are consecutive there): each NCHW plane is read or written once, consecutive threads
// taking consecutive pixels, through shared memory, and each tile position's values once,
// consecutive threads taking consecutive tiles, as in version 1. The input gradient computes each
// tile's whole 4 x 4 once (tile_adjoint) into shared memory and then each pixel's sum of the tiles
// that cover it, in version 1's order. Every value comes from version 1's operations in version
// 1's order: version 1's results bit for bit (tests/test_winograd.py). The output gradient also
// sums its block's masked dL/dy, the bias gradient's part (version 1's layer reads Z's position
// (1, 1) again for it, a launch and a pass more).
// The input's and the outputs' planes are kept by column phase (each row's even columns, then its
// odd ones: phased), so that the tiles of a row, 2 columns apart, take consecutive words of shared
// memory, and their rows `pitch` values apart, `pitch` picked by the layer (phased_pitch) so that
// the next row of tiles takes the banks after this row's: a warp's tiles in one pass through the
// banks where they span fewer than 32, two where they wrap around (conv3-5's 7 x 7 tiles, 4.5 rows
// of tiles a warp: 1.82 passes a request in the simulator's count). Each warp's loads and stores
// of V, M, Z and dV start on a 128-byte line where the arrays' rows do (aligned_start; at batch
// 128 they do).
// The layer (minicnn/layers/winograd.py) picks `images` so that the group's planes fit
// WINOGRAD_PLANE_VALUES values and its tiles about a block of threads; where one image's do not
// fit, it runs version 1.
// Launch: grid (ceil(N / images), channels), block (256,).
#define WINOGRAD_PLANE_VALUES 6112   // with the output gradient's 32 warp sums, 48 KB (the static limit) in double

// Where column `col` of a row of `width` values sits by phase: the even columns first, then the odd
__device__ __forceinline__ int phased(int col, int width) { return (col & 1) ? (width + 1) / 2 + col / 2 : col / 2; }

// The group of images a block of version 2 takes: first image, and how many (the last group may be short)
__device__ __forceinline__ int group_images(int n, int images, int& first) {
  first = blockIdx.x * images;
  return min(images, n - first);
}

// f(at, k, image, ty, tx) for each tile k of the block's group of `count` images from `first`, its
// values of each tile position at `at` in V, M, Z or dV ((16, channels, N tiles of tiles_h x
// tiles_w)), consecutive threads taking consecutive tiles, each warp's first on a 128-byte line
// where the arrays' rows are (aligned_start)
template <class F>
__device__ __forceinline__ void for_each_group_tile(int channel, int n, int first, int count, int tiles_h,
                                                    int tiles_w, F f) {
  const int plane_tiles = tiles_h * tiles_w;
  const long long offset = ((long long)channel * n + first) * plane_tiles;   // the group's first tile
  for (int k = aligned_start(offset % 32); k < count * plane_tiles; k += blockDim.x) {
    if (k >= 0) f(offset + k, k, k / plane_tiles, k / tiles_w % tiles_h, k % tiles_w);
  }
}

// f(at, image, row, col) for each pixel of the block's group of `count` planes of one channel, plane
// `image` at ((first + image) channels + channel) h w of the images' (N, channels, h, w). The planes
// lie channels h w values apart, each starting anywhere in a sector, so a loop over the group's
// pixels in a row put most warps' 32 values on 5 sectors, and the warps that crossed from one plane
// to the next on more (the simulator's count on conv3-5's 13 x 13 planes: 78% to 80% of the bytes
// moved used). Here each plane takes a span of whole warps, the first (plane start mod
// SECTOR_VALUES) of its threads idle, so that every warp's values start on a sector: 4 sectors for
// 32 values (96% on 13 x 13, the planes' last sectors part used), at the cost of idle threads
// (169 pixels a span of 192).
#define SECTOR_VALUES int(32 / sizeof(real_t))   // values of a 32-byte sector
template <class F>
__device__ __forceinline__ void for_each_group_pixel(int first, int count, int channels, int channel, int h, int w,
                                                     F f) {
  const int pixels = h * w, span = (pixels + SECTOR_VALUES - 1 + 31) / 32 * 32;
  for (int e = threadIdx.x; e < count * span; e += blockDim.x) {
    const int image = e / span;
    const long long plane = ((long long)(first + image) * channels + channel) * pixels;
    const int p = e % span - int(plane % SECTOR_VALUES);
    if (p >= 0 && p < pixels) f(plane + p, image, p / w, p % w);
  }
}

extern "C" __global__ void winograd_input_v2(const real_t* __restrict__ x, real_t* __restrict__ v, int n, int c,
                                             int h, int w, int pad_h, int pad_w, int tiles_h, int tiles_w,
                                             int images, int pitch) {
  __shared__ real_t planes[WINOGRAD_PLANE_VALUES];   // the padded rows the tiles read, 2 tiles_w + 2 wide
  const int channel = blockIdx.y, rows = 2 * tiles_h + 2, cols = 2 * tiles_w + 2, plane_tiles = tiles_h * tiles_w;
  int first;
  const int count = group_images(n, images, first);
  for (int e = threadIdx.x; e < count * rows * pitch; e += blockDim.x) planes[e] = real_t(0);   // the padding
  __syncthreads();
  for_each_group_pixel(first, count, c, channel, h, w, [&](long long at, int image, int row, int col) {
    planes[(image * rows + row + pad_h) * pitch + phased(col + pad_w, cols)] = x[at];
  });
  __syncthreads();
  for_each_group_tile(channel, n, first, count, tiles_h, tiles_w, [&](long long at, int, int image, int ty, int tx) {
    const real_t* tile_rows = planes + (image * rows + 2 * ty) * pitch;
    real_t d[4][4];
    for (int r = 0; r < 4; ++r) {
      for (int s = 0; s < 4; ++s) d[s][r] = tile_rows[r * pitch + phased(2 * tx + s, cols)];   // column s
    }
    store_input_tile(d, v + at, (long long)c * n * plane_tiles);
  });
}

extern "C" __global__ void winograd_output_v2(const real_t* __restrict__ m, const real_t* __restrict__ bias,
                                              real_t* __restrict__ y, int n, int o, int out_h, int out_w,
                                              int tiles_h, int tiles_w, int relu, int images, int pitch) {
  __shared__ real_t planes[WINOGRAD_PLANE_VALUES];   // the group's output planes, rows by phase
  const int channel = blockIdx.y, plane_tiles = tiles_h * tiles_w, plane = out_h * pitch;
  int first;
  const int count = group_images(n, images, first);
  for_each_group_tile(channel, n, first, count, tiles_h, tiles_w, [&](long long at, int, int image, int ty, int tx) {
    real_t pixels[2][2];
    output_tile(m + at, (long long)o * n * plane_tiles, pixels);
    for (int a = 0; a < 2; ++a) {
      for (int b = 0; b < 2; ++b) {
        const int row = 2 * ty + a, col = 2 * tx + b;
        if (row < out_h && col < out_w) {
          planes[image * plane + row * pitch + phased(col, out_w)] = output_value(pixels[a][b], bias[channel], relu);
        }
      }
    }
  });
  __syncthreads();
  for_each_group_pixel(first, count, o, channel, out_h, out_w, [&](long long at, int image, int row, int col) {
    y[at] = planes[image * plane + row * pitch + phased(col, out_w)];
  });
}

// bias_sums[blockIdx.x, o]: the block's sum of its masked dL/dy, in a fixed order (deterministic);
// bias_grad_columns then adds each channel's column of them.
extern "C" __global__ void winograd_output_grad_v2(const real_t* __restrict__ dout, const real_t* __restrict__ y,
                                                   real_t* __restrict__ z, real_t* __restrict__ bias_sums, int n,
                                                   int o, int out_h, int out_w, int tiles_h, int tiles_w, int relu,
                                                   int images, int pitch) {
  __shared__ real_t planes[WINOGRAD_PLANE_VALUES];   // the group's masked dL/dy, rows by phase
  __shared__ real_t warp_sums[32];
  const int channel = blockIdx.y, plane_tiles = tiles_h * tiles_w, plane = out_h * pitch;
  int first;
  const int count = group_images(n, images, first);
  real_t sum = real_t(0);
  for_each_group_pixel(first, count, o, channel, out_h, out_w, [&](long long at, int image, int row, int col) {
    const real_t g = masked_grad(dout, y, at, relu);
    planes[image * plane + row * pitch + phased(col, out_w)] = g;
    sum += g;
  });
  // its barriers also make the planes' stores visible to the whole block
  const real_t total = block_sum_by_warps(warp_sums, sum);
  if (threadIdx.x == 0) bias_sums[blockIdx.x * o + channel] = total;
  for_each_group_tile(channel, n, first, count, tiles_h, tiles_w, [&](long long at, int, int image, int ty, int tx) {
    real_t g[2][2];
    for (int a = 0; a < 2; ++a) {
      for (int b = 0; b < 2; ++b) {
        const int row = 2 * ty + a, col = 2 * tx + b;
        g[a][b] = row < out_h && col < out_w ? planes[image * plane + row * pitch + phased(col, out_w)] : real_t(0);
      }
    }
    store_output_grad_tile(g, z + at, (long long)o * n * plane_tiles);
  });
}

extern "C" __global__ void winograd_input_grad_v2(const real_t* __restrict__ dv, real_t* __restrict__ dx, int n,
                                                  int c, int h, int w, int pad_h, int pad_w, int tiles_h,
                                                  int tiles_w, int images) {
  __shared__ real_t adjoints[WINOGRAD_PLANE_VALUES];   // value (r, b) of the group's tile k: (4 r + b) * tiles + k
  const int channel = blockIdx.y, plane_tiles = tiles_h * tiles_w;
  int first;
  const int count = group_images(n, images, first), group_tiles = count * plane_tiles;
  for_each_group_tile(channel, n, first, count, tiles_h, tiles_w, [&](long long at, int k, int, int, int) {
    real_t dd[4][4];
    tile_adjoint(dv + at, (long long)c * n * plane_tiles, dd);
    for (int e = 0; e < 16; ++e) adjoints[e * group_tiles + k] = dd[e / 4][e % 4];
  });
  __syncthreads();
  // each pixel (2 by + i, 2 bx + j) of the padded image: the four tiles that cover it, in version 1's order
  for_each_group_pixel(first, count, c, channel, h, w, [&](long long at, int image, int row, int col) {
    const int padded_row = row + pad_h, padded_col = col + pad_w;
    const int by = padded_row / 2, bx = padded_col / 2, i = padded_row % 2, j = padded_col % 2;
    const int tile = image * plane_tiles + by * tiles_w + bx;
    real_t sum = real_t(0);
    if (by < tiles_h && bx < tiles_w) sum += adjoints[(4 * i + j) * group_tiles + tile];
    if (by > 0 && bx < tiles_w) sum += adjoints[(4 * (2 + i) + j) * group_tiles + tile - tiles_w];
    if (by < tiles_h && bx > 0) sum += adjoints[(4 * i + 2 + j) * group_tiles + tile - 1];
    if (by > 0 && bx > 0) sum += adjoints[(4 * (2 + i) + 2 + j) * group_tiles + tile - tiles_w - 1];
    dx[at] = sum;
  });
}
