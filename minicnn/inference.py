"""Test-time evaluation as the AlexNet paper did it: the centre crop, or ten crops (four
corners, the centre and their mirrors) with the softmax outputs averaged, and optionally an
ensemble of networks whose averaged outputs make one prediction (the paper's competition entry
averaged seven).

    probs = predict_proba([model], images, crop=224, mean=..., std=..., views="ten")
    top1, top5 = topk_accuracy(probs, labels)

``images`` are uint8 (N, C, S, S), S >= crop (an ImageFolder's 256x256 images); without ``crop``
the whole images, normalised, go through the networks (small-image data sets).
"""
import numpy as np

from minicnn.backend import get_array_module, to_device, to_numpy
from minicnn.data.loader import (center_crop, pixel_statistics, pixels_refused, resize_nearest, small_ten_crops,
                                 ten_crops)
from minicnn.layers.base import Layer, check_positive_int
from minicnn.losses import softmax

VIEWS = ("center", "ten")


def normalise(images, mean, std, dtype=np.float32):
    """uint8 pixels (..., C, H, W) -> (p / 255 - mean) / std per channel."""
    mean = np.asarray(mean, dtype).reshape(-1, 1, 1)
    std = np.asarray(std, dtype).reshape(-1, 1, 1)
    return (images.astype(dtype) * dtype(1 / 255.0) - mean) / std


def predict_proba(models, images, crop=None, mean=0.0, std=1.0, views="center", device="cpu", batch_size=50):
    """Class probabilities (N, K), float64, averaged over the views of each image and over
    ``models``: ``images`` uint8 (N, C, S, S) pixels (an array, or one read when indexed), each seen
    as ``(p / 255 - mean) / std`` through its centre ``crop`` x ``crop`` (None: the whole image), or
    with ``views="ten"`` through the paper's ten crops. A setting of the wrong kind is named."""
    if views not in VIEWS:
        raise ValueError(f"views must be one of {VIEWS}, got {views!r}")
    if isinstance(models, Layer) or not isinstance(models, (list, tuple)):
        raise TypeError(f"predict_proba takes a list of models (an ensemble of one or more), got a "
                        f"{type(models).__name__}" + (": give [model]" if isinstance(models, Layer) else ""))
    if not models:
        raise ValueError("predict_proba needs at least one model")
    refused = pixels_refused(images, ranks=(4,))
    if refused:
        raise TypeError(f"predict_proba takes uint8 pixels (N, C, H, W), got {refused}")
    if crop is None and views == "ten":
        raise ValueError("views='ten' are crops: give crop, the side the networks were trained on")
    check_positive_int(batch_size, "batch_size", "predict_proba")
    if crop is not None and check_positive_int(crop, "crop (or None)", "predict_proba") > min(images.shape[-2:]):
        raise ValueError(f"predict_proba: crop {crop} is larger than the images, "
                         f"{images.shape[-2]}x{images.shape[-1]}")
    mean, std = pixel_statistics(mean, std, images.shape[1], who="predict_proba")
    side = crop or images.shape[-1]
    if not len(images):   # no image: no row, as many columns as the networks have classes
        return np.zeros((0, models[0].output_shape((1, images.shape[1], side, side))[1]))
    out = []
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start:start + batch_size])
        if crop is None:
            crops = batch[None]
        else:
            crops = ten_crops(batch, crop) if views == "ten" else center_crop(batch, crop)[None]
        total = 0.0
        for model in models:
            dtype = next(p.data.dtype for _, p in model.named_params())
            for view in crops:
                x = to_device(np.ascontiguousarray(normalise(view, mean, std, dtype.type)), device)
                total = total + to_numpy(softmax(model.forward(x, train=False))).astype(np.float64)
        out.append(total / (len(models) * len(crops)))
    return np.concatenate(out)


def shifted_ten_crop_proba(models, images, pad, size=None, mean=0.0, std=1.0, device="cpu", batch_size=50):
    """Class probabilities (N, K), float64, of small pictures ``images`` (uint8 (N, C, S, S)) for
    networks trained on them shifted within ``pad`` pixels of black and mirrored (--augment):
    averaged over their ten views (``small_ten_crops``), each resized (nearest) to the networks'
    input side ``size`` (None: S) as the training loader resized its crops, and over ``models``."""
    views = small_ten_crops(np.asarray(images), pad)
    side = size or views.shape[-1]
    return np.mean([predict_proba(models, view if side == view.shape[-1] else resize_nearest(view, side), None, mean,
                                  std, "center", device, batch_size=batch_size) for view in views], axis=0)


def topk_correct(scores, labels, ks=(1, 5)):
    """Number of rows of ``scores`` (N, K: logits or probabilities, NumPy or CuPy) whose label
    (``labels``, N integers) is among the k largest scores, for each k (a list)."""
    xp = get_array_module(scores)
    hits = xp.argsort(-scores, axis=1) == labels[:, None]
    return [int(hits[:, :k].any(axis=1).sum()) for k in ks]


def ranked_first(probabilities, labels, indices, k=5):
    """For each row of ``probabilities`` (N, K), a dict of its example's ``index`` (``indices``),
    ``label`` and "top5": the k most probable classes (fewer where K is smaller), the first of
    equal probabilities first, as [class, probability] pairs, the most probable first (the
    paper's Figure 4, left; ``minicnn.plots.top5_figure`` draws them)."""
    probabilities = np.asarray(probabilities, np.float64)
    ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return [dict(index=int(i), label=int(label), top5=[[int(c), float(row[c])] for c in order])
            for i, label, row, order in zip(indices, labels, probabilities, ranked)]


def topk_accuracy(probs, labels, ks=(1, 5)):
    """Fraction of rows whose label is among the k most probable classes, for each k (a tuple)."""
    return tuple(correct / len(labels) for correct in topk_correct(probs, labels, ks))
