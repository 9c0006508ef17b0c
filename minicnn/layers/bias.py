"""Kernel paths of the bias add and the bias gradient (kernels/bias.cu), shared by Dense and
Conv2D. Arrays are viewed as (outer, channels, inner) with the bias along ``channels``."""
import math

from minicnn import kernel_versions
from minicnn.launch import BLOCK, REDUCE_BLOCK, empty, grid_for, launch

BIAS_GRAD_CHUNK = 8192   # values of a channel that one block of bias_grad_partial_v2 adds up
COLUMN_SUM_WARPS = 8     # warps of a column-sum block: kernels/bias.cu's define, which its rows assume
COLUMN_SUM_BLOCK = 32 * COLUMN_SUM_WARPS


def column_strips(channels, like):
    """The grid of the column sums (bias_grad_columns, relu_backward_bias_grad_columns): a block
    per strip of 32 channels, as many as the device holds at once (they stride over the rest);
    each block of COLUMN_SUM_BLOCK threads."""
    return grid_for(-(-channels // 32), like, block=1)


def bias_add_cuda(y, bias, outer, channels, inner, relu=False):
    """y[o, c, s] += bias[c], in place; then y = max(y, 0) with ``relu`` (Dense(relu=True))."""
    launch("bias", "bias_add", grid_for(y.size, y), BLOCK, y, bias, outer, channels, inner, int(relu))


def relu_backward_bias_grad_cuda(dout, y):
    """Dense(relu=True)'s backward through its ReLU and bias, dout and y (rows, channels):
    (masked, dbias) with masked = dout where y > 0, else 0 (ReLU's backward), and dbias its column
    sums, in one pass; the same values, bit for bit, as the ReLU's backward kernel followed by
    ``bias_grad_cuda(masked, rows, channels, 1)``."""
    rows, channels = dout.shape
    masked = empty(dout.shape, dout.dtype, dout)
    dbias = empty((channels,), dout.dtype, dout)
    launch("bias", "relu_backward_bias_grad_columns", column_strips(channels, dout), COLUMN_SUM_BLOCK, dout, y,
           masked, dbias, rows, channels)
    return masked, dbias


def bias_grad_cuda(dout, outer, channels, inner):
    """dbias[c] = sum over o and s of dout[o, c, s], deterministic: the column sums
    (bias_grad_columns, a block per strip of 32 channels) when inner == 1 (Dense); otherwise (Conv2D) in the version
    ``kernel_versions.current("bias")`` names: one block per channel (1), or one block per
    (channel, chunk of BIAS_GRAD_CHUNK positions) and then a column sum of their results (2)."""
    dbias = empty((channels,), dout.dtype, dout)
    if inner == 1:
        launch("bias", "bias_grad_columns", column_strips(channels, dout), COLUMN_SUM_BLOCK, dout, dbias, outer,
               channels)
        return dbias
    if kernel_versions.current("bias") == 1:
        launch("bias", "bias_grad_v1", grid_for(channels, dout, block=1), REDUCE_BLOCK, dout, dbias, outer,
               channels, inner)
        return dbias
    chunks = math.ceil(inner / BIAS_GRAD_CHUNK)
    partial = empty((chunks, channels), dout.dtype, dout)
    launch("bias", "bias_grad_partial_v2", (channels, chunks), REDUCE_BLOCK, dout, partial, outer, channels, inner,
           BIAS_GRAD_CHUNK)
    launch("bias", "bias_grad_columns", column_strips(channels, dout), COLUMN_SUM_BLOCK, partial, dbias, chunks,
           channels)
    return dbias
