"""Naive reference implementations, written as plainly as possible (explicit loops, float64).

They share no code with minicnn: each forward test compares a layer with one of these.
"""
import numpy as np


def conv2d_naive(x, w, b, stride=(1, 1), pad=(0, 0), groups=1):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    sh, sw = stride
    ph, pw = pad
    xpad = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xpad[:, :, ph:ph + h, pw:pw + wd] = x
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (wd + 2 * pw - kw) // sw + 1
    og = o // groups
    y = np.zeros((n, o, oh, ow))
    for ni in range(n):
        for oi in range(o):
            g = oi // og
            for yi in range(oh):
                for xi in range(ow):
                    acc = 0.0 if b is None else float(b[oi])
                    for ci in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                acc += w[oi, ci, i, j] * xpad[ni, g * cg + ci, yi * sh + i, xi * sw + j]
                    y[ni, oi, yi, xi] = acc
    return y


def maxpool_naive(x, kernel, stride, pad=(0, 0)):
    """Returns (y, argmax positions as (row, col) in the unpadded input)."""
    n, c, h, w = x.shape
    kh, kw = kernel
    sh, sw = stride
    ph, pw = pad
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, c, oh, ow))
    dx_of = {}
    for ni in range(n):
        for ci in range(c):
            for yi in range(oh):
                for xi in range(ow):
                    best, where = -np.inf, None
                    for i in range(kh):
                        for j in range(kw):
                            r, s = yi * sh + i - ph, xi * sw + j - pw
                            if 0 <= r < h and 0 <= s < w and x[ni, ci, r, s] > best:
                                best, where = x[ni, ci, r, s], (r, s)
                    y[ni, ci, yi, xi] = best
                    dx_of[ni, ci, yi, xi] = where
    return y, dx_of


def maxpool_backward_naive(dout, x_shape, winners):
    dx = np.zeros(x_shape)
    for (ni, ci, yi, xi), (r, s) in winners.items():
        dx[ni, ci, r, s] += dout[ni, ci, yi, xi]
    return dx


def lrn_naive(x, size, alpha, beta, k):
    n, c, h, w = x.shape
    y = np.zeros_like(x, dtype=np.float64)
    for ni in range(n):
        for ci in range(c):
            lo, hi = max(0, ci - size // 2), min(c - 1, ci + (size - 1) // 2)
            for r in range(h):
                for s in range(w):
                    sq = sum(float(x[ni, cj, r, s]) ** 2 for cj in range(lo, hi + 1))
                    y[ni, ci, r, s] = x[ni, ci, r, s] / (k + alpha / size * sq) ** beta
    return y


def batchnorm_train_naive(x, weight, bias, eps):
    n, c, h, w = x.shape
    y = np.zeros_like(x, dtype=np.float64)
    means, variances = [], []
    for ci in range(c):
        values = [float(x[ni, ci, r, s]) for ni in range(n) for r in range(h) for s in range(w)]
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / len(values)
        means.append(mean)
        variances.append(var)
        y[:, ci] = (x[:, ci] - mean) / np.sqrt(var + eps) * weight[ci] + bias[ci]
    return y, np.array(means), np.array(variances)


def dense_naive(x, w, b):
    n, _ = x.shape
    o = w.shape[0]
    y = np.zeros((n, o))
    for ni in range(n):
        for oi in range(o):
            y[ni, oi] = sum(x[ni, i] * w[oi, i] for i in range(x.shape[1])) + (0 if b is None else b[oi])
    return y


def softmax_cross_entropy_naive(logits, labels):
    total = 0.0
    for row, label in zip(logits, labels):
        m = max(row)
        total += m + np.log(sum(np.exp(v - m) for v in row)) - row[label]
    return total / len(labels)
