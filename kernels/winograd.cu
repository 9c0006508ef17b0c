// Winograd's F(2x2, 3x3) for 3x3 convolutions of stride 1 (minicnn/layers/winograd.py, whose
// NumPy code is the reference): the transforms around the 16 GEMMs, one thread per tile.
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
// Launch: grid_for(channels * T) blocks of BLOCK threads, grid-stride (winograd_input_grad: one
// thread per block of 2 x 2 pixels of the padded image, N * C * (TY + 1) * (TX + 1) of them).
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

// v[xi, c, t] = (B^T d B)[xi] for the 4x4 input tile d of tile t of channel c
extern "C" __global__ void winograd_input(const real_t* __restrict__ x, real_t* __restrict__ v, int n, int c,
                                          int h, int w, int pad_h, int pad_w, int tiles_h, int tiles_w) {
  const int tiles = n * tiles_h * tiles_w;
  GRID_STRIDE_LOOP(i, c * tiles) {
    const int t = i % tiles, channel = i / tiles;
    const int tx = t % tiles_w, ty = t / tiles_w % tiles_h, image = t / (tiles_w * tiles_h);
    const real_t* plane = x + ((long long)image * c + channel) * h * w;
    real_t d[4][4], rows[4][4];
    for (int r = 0; r < 4; ++r) {
      const int row = 2 * ty + r - pad_h;
      for (int s = 0; s < 4; ++s) {
        const int col = 2 * tx + s - pad_w;
        d[s][r] = row >= 0 && row < h && col >= 0 && col < w ? plane[row * w + col] : real_t(0);   // column s
      }
    }
    for (int s = 0; s < 4; ++s) {   // B^T down each column: rows[s][a] = (B^T d)[a][s]
      times_bt(d[s], rows[s]);
    }
    for (int a = 0; a < 4; ++a) {   // then along each row: (B^T d B)[a][b]
      const real_t row[4] = {rows[0][a], rows[1][a], rows[2][a], rows[3][a]};
      real_t out[4];
      times_bt(row, out);
      for (int b = 0; b < 4; ++b) v[((long long)(4 * a + b) * c + channel) * tiles + t] = out[b];
    }
  }
}

// y[n, o, 2 ty + a, 2 tx + b] = (A^T M A)[a][b] + bias[o], max(., 0) with relu. ptxas gives it 36
// registers (75% occupancy); capped at 32 by __launch_bounds__(256, 8) its float64 build spills.
extern "C" __global__ void winograd_output(const real_t* __restrict__ m, const real_t* __restrict__ bias,
                                           real_t* __restrict__ y, int n, int o, int out_h, int out_w, int tiles_h,
                                           int tiles_w, int relu) {
  const int tiles = n * tiles_h * tiles_w;
  GRID_STRIDE_LOOP(i, o * tiles) {
    const int t = i % tiles, channel = i / tiles;
    const int tx = t % tiles_w, ty = t / tiles_w % tiles_h, image = t / (tiles_w * tiles_h);
    const real_t* at = m + (long long)channel * tiles + t;   // position (k, b) at at[(4 k + b) * step]
    const long long step = (long long)o * tiles;
    real_t half[2][4];   // A^T M: half[a][b]
    for (int b = 0; b < 4; ++b) {
      real_t col[4];
      for (int k = 0; k < 4; ++k) col[k] = at[(4 * k + b) * step];
      half[0][b] = col[0] + col[1] + col[2];
      half[1][b] = col[1] - col[2] - col[3];
    }
    real_t* plane = y + ((long long)image * o + channel) * out_h * out_w;
    for (int a = 0; a < 2; ++a) {
      const real_t pixels[2] = {half[a][0] + half[a][1] + half[a][2], half[a][1] - half[a][2] - half[a][3]};
      for (int b = 0; b < 2; ++b) {
        const int row = 2 * ty + a, col = 2 * tx + b;
        if (row < out_h && col < out_w) {
          const real_t value = pixels[b] + bias[channel];
          plane[row * out_w + col] = relu && value < real_t(0) ? real_t(0) : value;
        }
      }
    }
  }
}

// z[xi, o, t] = (A dY A^T)[xi] for the 2x2 tile dY of dL/dy (zero outside it; with relu, zero where
// the forward's output y was not positive)
extern "C" __global__ void winograd_output_grad(const real_t* __restrict__ dout, const real_t* __restrict__ y,
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
        g[a][b] = row < out_h && col < out_w && (!relu || y[at] > real_t(0)) ? dout[at] : real_t(0);
      }
    }
    real_t rows[4][2];   // A dY: A = [[1, 0], [1, 1], [1, -1], [0, -1]]
    for (int b = 0; b < 2; ++b) {
      rows[0][b] = g[0][b];
      rows[1][b] = g[0][b] + g[1][b];
      rows[2][b] = g[0][b] - g[1][b];
      rows[3][b] = -g[1][b];
    }
    for (int a = 0; a < 4; ++a) {   // then A^T along each row
      const real_t out[4] = {rows[a][0], rows[a][0] + rows[a][1], rows[a][0] - rows[a][1], -rows[a][1]};
      for (int b = 0; b < 4; ++b) z[((long long)(4 * a + b) * o + channel) * tiles + t] = out[b];
    }
  }
}

// dx: a thread per block of 2 x 2 pixels of the padded image (by, bx), the pixels (2 by + i, 2 bx + j).
// Four tiles cover such a block, each with a quadrant: tile (by, bx) its top left one, (by - 1, bx) its
// bottom left, (by, bx - 1) its top right, (by - 1, bx - 1) its bottom right; their sum, in that
// fixed order (deterministic), is the block's input gradient. Every pixel of dx is in one block.
extern "C" __global__ void winograd_input_grad(const real_t* __restrict__ dv, real_t* __restrict__ dx, int n,
                                               int c, int h, int w, int pad_h, int pad_w, int tiles_h, int tiles_w) {
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
      if (row >= 0 && row < h && col >= 0 && col < w) dx[(((long long)image * c + channel) * h + row) * w + col] = sum[k / 2][k % 2];
    }
  }
}
