"""Softmax cross-entropy, the loss of AlexNet's last layer.

    loss = mean_n [ logsumexp(z[n]) - z[n, y[n]] ]         z (N, K) logits, y (N,) class indices
    dL/dz = (softmax(z) - onehot(y)) / N

The log-sum-exp subtracts each row's maximum first, so logits of 1e4 (or -1e4) give a finite loss.
"""
from minicnn.backend import device_of, get_array_module
from minicnn.layers.base import FLOAT_DTYPES


def softmax(logits):
    """Row-wise softmax of logits (N, K), computed stably."""
    xp = get_array_module(logits)
    e = xp.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(logits):
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


class SoftmaxCrossEntropy:
    """``loss = SoftmaxCrossEntropy(); value = loss.forward(logits, labels); dlogits = loss.backward()``.

    ``forward`` returns the mean loss over the batch as a scalar of the logits' array module
    (a NumPy scalar on the CPU; a 0-d CuPy array on the GPU, so that a training step needs no
    host synchronisation; ``float(value)`` works on both).
    """

    def __init__(self):
        self._cache = None

    def forward(self, logits, labels):
        xp = get_array_module(logits)
        if not (hasattr(logits, "ndim") and logits.ndim == 2):
            raise ValueError(f"SoftmaxCrossEntropy: logits must have shape (N, K), got "
                             f"{getattr(logits, 'shape', type(logits).__name__)}")
        if logits.dtype not in FLOAT_DTYPES:
            raise TypeError(f"SoftmaxCrossEntropy: logits must be float32 or float64, got {logits.dtype}")
        n, k = logits.shape
        if not hasattr(labels, "dtype") or labels.shape != (n,):
            raise ValueError(f"SoftmaxCrossEntropy: labels must have shape ({n},) to match logits "
                             f"{logits.shape}, got {getattr(labels, 'shape', type(labels).__name__)}")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"SoftmaxCrossEntropy: labels must be integer class indices, got dtype {labels.dtype}")
        if device_of(labels) != device_of(logits):
            raise ValueError(f"SoftmaxCrossEntropy: labels are on {device_of(labels)}, logits on "
                             f"{device_of(logits)}")
        if n == 0:
            raise ValueError("SoftmaxCrossEntropy: empty batch")
        if device_of(labels) == "cpu" and (labels.min() < 0 or labels.max() >= k):
            # (on the GPU this check would cost a synchronisation, so it is done on the CPU only)
            raise ValueError(f"SoftmaxCrossEntropy: labels must lie in [0, {k}), got values in "
                             f"[{labels.min()}, {labels.max()}]")
        logp = log_softmax(logits)
        rows = xp.arange(n)
        loss = -logp[rows, labels].mean()
        self._cache = (logp, labels)
        return loss

    def backward(self):
        """Return dL/dlogits (N, K) for the last forward."""
        if self._cache is None:
            raise RuntimeError("SoftmaxCrossEntropy: backward() called before forward()")
        logp, labels = self._cache
        xp = get_array_module(logp)
        n = labels.shape[0]
        dlogits = xp.exp(logp)
        dlogits[xp.arange(n), labels] -= 1
        dlogits /= n
        return dlogits
