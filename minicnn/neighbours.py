"""What a network takes to be alike: the training images nearest to a test image in its last
hidden layer (the AlexNet paper's Figure 4, right, and its section 6.1).

The paper compares "the feature activations induced at the last, 4096-dimensional hidden layer":
two images whose activations there lie close are alike to the network's upper layers, though their
pixels may not be (a dog facing the other way). ``hidden_features`` gives each image's activations
at a layer, by default the last hidden one (the input of the network's last layer: AlexNet's fc7
after its ReLU, what fc8 reads); ``nearest`` finds each query's nearest rows of a pool by
Euclidean distance:

    pool = hidden_features(model, train_images, mean, std)
    found = nearest(hidden_features(model, test_images[:5], mean, std), pool, k=6)
    found.indices        # (5, 6): the training images nearest to each test image, nearest first

``minicnn.plots.neighbours_figure`` draws them as the paper did, a row per test image.
"""
import collections

import numpy as np

from minicnn.backend import check_device, to_device, to_numpy
from minicnn.data.loader import center_crop, pixel_statistics, pixels_refused, resize_nearest
from minicnn.inference import normalise
from minicnn.layers.base import check_positive_int
from minicnn.sequential import Sequential

POOL_ROWS = 4096   # distances to this many pool rows computed at a time: 4096 x 4096 float64 is 128 MB

Neighbours = collections.namedtuple("Neighbours", "indices distances")
Neighbours.__doc__ = """``nearest``'s answer: ``indices`` (Q, k) int64, each query's nearest rows of
the pool, nearest first (of distances computed equal, the lower index first), and their Euclidean
``distances`` (Q, k) float64."""


def hidden_features(model, images, mean=0.0, std=1.0, layer=None, device="cpu", batch_size=None, progress=None,
                    size=None, crop=None):
    """(N, D) float64: each of the uint8 ``images`` (N, C, H, W; (N, H, W) for one channel; an
    image folder's Subset, read a batch at a time) seen as ``(p / 255 - mean) / std``, through
    its centre ``crop`` x ``crop`` where given (photos stored at 256 x 256, as the test saw them),
    resized (nearest, as the training loader did) to ``size`` x ``size`` where given
    (Fashion-MNIST's 28 to the 2012 AlexNet's 227), run through ``model`` (a ``Sequential``, in
    evaluation mode)
    up to the output of its child named ``layer``, flattened; by default the input of its last
    child (the last hidden layer). On ``device``, in batches of ``batch_size`` (default: the
    evaluation's, ``minicnn.train.EVAL_BATCH``: small on a CPU, where they stay in its caches);
    ``progress(iterable, total, desc)`` may wrap the loop over the batches (``fit``'s, a bar)."""
    if not isinstance(model, Sequential):
        raise TypeError(f"hidden_features runs a Sequential's layers in turn, got a {type(model).__name__}")
    refused = pixels_refused(images)
    if refused:
        raise TypeError(f"hidden_features takes uint8 pixels (N, C, H, W) or (N, H, W), got {refused}")
    names = [name for name, _ in model.named_children()]
    if layer is None:
        layers = list(model.named_children())[:-1]
    elif layer in names:
        layers = list(model.named_children())[:names.index(layer) + 1]
    else:
        raise ValueError(f"hidden_features: the network has no layer {layer!r}; its layers are {', '.join(names)}")
    from minicnn.train import EVAL_BATCH
    device = check_device(device)
    for name, value in (("batch_size", batch_size), ("size", size), ("crop", crop)):
        if value is not None:
            check_positive_int(value, f"{name} (or None)", "hidden_features")
    batch_size = batch_size or EVAL_BATCH[device]
    dtype = next(p.data.dtype for _, p in model.named_params()).type
    images = images[:, None] if images.ndim == 3 else images
    mean, std = pixel_statistics(mean, std, images.shape[1], who="hidden_features")
    batches, starts = [], range(0, len(images), batch_size)
    for start in progress(starts, len(starts), "features") if progress else starts:
        batch = np.asarray(images[np.arange(start, min(start + batch_size, len(images)))])   # (a Subset reads)
        batch = center_crop(batch, crop) if crop else batch
        batch = resize_nearest(batch, size) if size and batch.shape[-2:] != (size, size) else batch
        x = to_device(np.ascontiguousarray(normalise(batch, mean, std, dtype)), device)
        for _, child in layers:
            x = child.forward(x, train=False)
        batches.append(to_numpy(x).reshape(len(x), -1).astype(np.float64))
    return np.concatenate(batches) if batches else np.zeros((0, 0))


def nearest(queries, pool, k=6):
    """``Neighbours`` of each row of ``queries`` (Q, D) among the rows of ``pool`` (P, D): the
    ``k`` nearest by Euclidean distance, nearest first, the lower index first among equals.
    Distances come from ||q||^2 - 2 q.p + ||p||^2 in float64, a matrix product over POOL_ROWS
    rows of the pool at a time (each part made float64 in its turn: a pool of uint8 pixels stays
    as it is)."""
    queries, pool = np.asarray(queries, np.float64), np.asarray(pool)
    if queries.ndim != 2 or pool.ndim != 2 or queries.shape[1] != pool.shape[1]:
        raise ValueError(f"nearest: queries (Q, D) and pool (P, D) must be matrices of the same D, got "
                         f"{queries.shape} and {pool.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(pool):
        raise ValueError(f"nearest: k must be an integer from 1 to the pool's {len(pool)} rows, got {k!r}")
    query_norms = (queries ** 2).sum(axis=1)[:, None]
    best_indices = np.zeros((len(queries), 0), np.int64)
    best_squares = np.zeros((len(queries), 0))
    for start in range(0, len(pool), POOL_ROWS):   # the k best so far, against the next rows
        rows = pool[start:start + POOL_ROWS].astype(np.float64)
        squares = np.maximum(query_norms - 2 * queries @ rows.T + (rows ** 2).sum(axis=1)[None, :], 0)
        indices = np.concatenate([best_indices, np.broadcast_to(np.arange(start, start + len(rows)),
                                                                squares.shape)], axis=1)
        squares = np.concatenate([best_squares, squares], axis=1)
        order = np.lexsort((indices, squares), axis=1)[:, :k]   # by distance, then by index
        best_indices = np.take_along_axis(indices, order, axis=1)
        best_squares = np.take_along_axis(squares, order, axis=1)
    return Neighbours(best_indices, np.sqrt(best_squares))
