"""Kernel paths of the bias add and the bias gradient (kernels/bias.cu), shared by Dense and
Conv2D. Arrays are viewed as (outer, channels, inner) with the bias along ``channels``."""
from minicnn.launch import BLOCK, REDUCE_BLOCK, empty, grid_for, launch


def bias_add_cuda(y, bias, outer, channels, inner):
    """y[o, c, s] += bias[c], in place."""
    launch("bias", "bias_add", grid_for(y.size, y), BLOCK, y, bias, outer, channels, inner)


def bias_grad_cuda(dout, outer, channels, inner):
    """dbias[c] = sum over o and s of dout[o, c, s], deterministic: one thread per channel when
    inner == 1 (a column sum, Dense), one block per channel otherwise (Conv2D)."""
    dbias = empty((channels,), dout.dtype, dout)
    if inner == 1:
        launch("bias", "bias_grad_columns", grid_for(channels, dout), BLOCK, dout, dbias, outer, channels)
        return dbias
    launch("bias", "bias_grad", grid_for(channels, dout, block=1), REDUCE_BLOCK, dout, dbias, outer,
           channels, inner)
    return dbias
