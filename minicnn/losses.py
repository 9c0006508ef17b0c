"""Softmax cross-entropy, the loss of AlexNet's last layer.

    loss = mean_n [ logsumexp(z[n]) - z[n, y[n]] ]         z (N, K) logits, y (N,) class indices
    dL/dz = (softmax(z) - onehot(y)) / N

The log-sum-exp subtracts each row's maximum first, so logits of 1e4 (or -1e4) give a finite loss.
"""
import numpy as np

from minicnn.backend import KERNEL_DEVICES, check_device, device_of, get_array_module, memory_of
from minicnn.launch import BLOCK, REDUCE_BLOCK, empty, empty_like, grid_for, launch
from minicnn.layers.base import FLOAT_DTYPES


def softmax(logits):
    """Row-wise softmax of logits (N, K), computed stably."""
    xp = get_array_module(logits)
    e = xp.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(logits):
    """Row-wise log-softmax of logits (N, K): z - max - log(sum(exp(z - max))), finite for
    logits of 1e4."""
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy_cuda(logits, labels):
    """Kernel path of the forward (kernels/softmax_cross_entropy.cu): returns (0-d mean loss,
    log-probabilities). A label out of range makes the loss NaN instead of a host-side check."""
    n, k = logits.shape
    logp, row_loss = empty_like(logits), empty((n,), logits.dtype, logits)
    loss = empty((), logits.dtype, logits)
    launch("softmax_cross_entropy", "softmax_cross_entropy_forward", grid_for(n, logits, block=1),
           REDUCE_BLOCK, logits, labels, logp, row_loss, n, k)
    launch("softmax_cross_entropy", "mean_of_rows", 1, REDUCE_BLOCK, row_loss, loss, n)
    return loss, logp


def softmax_cross_entropy_backward_cuda(logp, labels):
    """Kernel path of the backward: log-probabilities (N, K), labels (N,) -> dL/dlogits =
    (exp(logp) - onehot(labels)) / N."""
    n, k = logp.shape
    dlogits = empty_like(logp)
    launch("softmax_cross_entropy", "softmax_cross_entropy_backward", grid_for(logp.size, logp), BLOCK, logp,
           labels, dlogits, n, k)
    return dlogits


class SoftmaxCrossEntropy:
    """``loss = SoftmaxCrossEntropy(); value = loss.forward(logits, labels); dlogits = loss.backward()``.

    ``forward`` returns the mean loss over the batch as a scalar of the logits' array module
    (a NumPy scalar on the CPU; a 0-d CuPy array on the GPU, so that a training step needs no
    host synchronisation; ``float(value)`` works on both).
    """

    def __init__(self):
        self._cache = None
        self.device = "cpu"

    def to(self, device):
        """Run on ``device`` ("cpu": NumPy code; "cuda"/"sim": the CUDA kernels); returns self."""
        self.device = check_device(device)
        return self

    def __repr__(self):
        return "SoftmaxCrossEntropy()"

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
        if device_of(logits) != memory_of(self.device):
            raise ValueError(f"SoftmaxCrossEntropy: logits are a {'CuPy' if device_of(logits) == 'cuda' else 'NumPy'} "
                             f"array but the loss is on {self.device}; move it with .to()")
        if n == 0:
            raise ValueError("SoftmaxCrossEntropy: empty batch")
        if self.device == "cpu" and (labels.min() < 0 or labels.max() >= k):
            # On "cuda" this check would cost a synchronisation: the kernel makes the loss NaN
            # instead ("sim" behaves as "cuda" does).
            raise ValueError(f"SoftmaxCrossEntropy: labels must lie in [0, {k}), got values in "
                             f"[{labels.min()}, {labels.max()}]")
        if self.device in KERNEL_DEVICES:
            labels = xp.ascontiguousarray(labels, dtype=np.int32)
            loss, logp = softmax_cross_entropy_cuda(xp.ascontiguousarray(logits), labels)
        else:
            logp = log_softmax(logits)
            loss = -logp[xp.arange(n), labels].mean()
        self._cache = (logp, labels)
        return loss

    def backward(self):
        """Return dL/dlogits (N, K) for the last forward."""
        if self._cache is None:
            raise RuntimeError("SoftmaxCrossEntropy: backward() called before forward()")
        logp, labels = self._cache
        if self.device in KERNEL_DEVICES:
            return softmax_cross_entropy_backward_cuda(logp, labels)
        xp = get_array_module(logp)
        n = labels.shape[0]
        dlogits = xp.exp(logp)
        dlogits[xp.arange(n), labels] -= 1
        dlogits /= n
        return dlogits
