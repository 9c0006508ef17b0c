"""Which part of a picture a network's answer rests on: occlusion sensitivity (Zeiler and Fergus,
"Visualizing and Understanding Convolutional Networks", 2014, section 4.2, on a network of
AlexNet's design).

A square covers one part of the picture at a time and the network classifies every copy: where
the square makes the probability of the class fall, the network looked there. It slides by
``stride`` pixels so that every pixel is covered, the last square of a row against the edge. On
photos it is grey, the network's mean pixel (``mean_pixel``), which its normalisation makes 0;
on pictures that lie on a background, such as Fashion-MNIST's garments on black, it is the
background, which takes away what it covers: a grey square there would add a shape of its own
(``square_pixel`` chooses). It needs forward passes alone (one per position, in batches), so it
works for any network, on any device, and for an ensemble (the averaged probabilities), each
network seeing the copies as it saw its training pictures:

    from minicnn.ensemble import ensemble_proba
    result = occlusion_map(lambda copies: ensemble_proba(members, views, copies), image,
                           fill=square_pixel(config, image.shape[0]))
    result.probability        # (rows, cols): the class's probability with the square at each position
    per_pixel(result, image.shape[1:])   # (H, W): the mean over the squares that cover each pixel

``examples/predict.py --occlusion DIR`` draws it for each picture it classifies
(``minicnn.plots.occlusion_figure``).
"""
import collections

import numpy as np

from minicnn.data.loader import pixels_refused

Occlusion = collections.namedtuple("Occlusion", "probability target unoccluded patch rows cols fill")
Occlusion.__doc__ = """What ``occlusion_map`` found: ``probability`` (R, C) float64, the probability
of class ``target`` with the square's top-left corner at row ``rows[i]`` and column ``cols[j]``;
``unoccluded`` the probability of the picture as it is; ``patch`` the square's side in pixels and
``fill`` its pixel, uint8 (C,)."""

COPIES_PER_BATCH = 64   # occluded copies made at a time: a 256 x 256 photo's are 12 MB


def patch_starts(side, patch, stride):
    """The first pixel of each position of a square of ``patch`` pixels sliding by ``stride`` over
    ``side`` pixels: 0, stride, 2 stride, ..., then side - patch where the steps stop short of the
    edge, so that every pixel is covered (int64 array, increasing)."""
    starts = np.arange(0, side - patch + 1, stride)
    return starts if starts[-1] == side - patch else np.append(starts, side - patch)


def default_patch(side):
    """The square's side for a picture of ``side`` pixels: a sixth of it (43 of a 256 x 256 photo's
    pixels, 5 of a 28 x 28 garment's), about a part of the object a picture shows."""
    return max(1, round(side / 6))


def default_stride(patch):
    """The step between positions: a third of the square (each pixel under about 9 squares)."""
    return max(1, patch // 3)


def mean_pixel(mean, channels):
    """uint8 (channels,): the pixel that a normalisation of ``mean`` (a fraction of 255, one for
    every channel or one per channel) takes to about 0."""
    mean = np.broadcast_to(np.asarray(mean, np.float64).reshape(-1), (channels,))
    return np.clip(np.round(mean * 255), 0, 255).astype(np.uint8)


def square_pixel(config, channels):
    """uint8 (channels,): the square's pixel for a network trained with ``config`` (what its
    checkpoint records, ``ensemble.load_ensemble``'s): the background of its data set where its
    pictures lie on one (``minicnn.data.DATASETS``: Fashion-MNIST's black), else the mean pixel of
    its normalisation (ImageNet's where it records none, as ``ensemble.input_of`` takes it)."""
    from minicnn.data import DATASETS
    from minicnn.ensemble import IMAGENET_MEAN
    background = DATASETS.get(config.get("dataset"), {}).get("background")
    if background is not None:
        return np.full(channels, background, np.uint8)
    return mean_pixel(config.get("mean", IMAGENET_MEAN), channels)


def covered(starts, patch, side):
    """(len(starts), side) bool: which of ``side`` pixels the square starting at each of ``starts``
    covers."""
    pixels = np.arange(side)
    return (starts[:, None] <= pixels) & (pixels < starts[:, None] + patch)


def occluded_copies(image, rows, cols, fill, patch):
    """uint8 (len(rows) * len(cols), C, H, W): ``image`` (C, H, W) with a square of ``patch``
    pixels painted ``fill`` (C,) at each top-left corner (rows[i], cols[j]), in row-major order."""
    channels, height, width = image.shape
    square = covered(rows, patch, height)[:, None, :, None] & covered(cols, patch, width)[None, :, None, :]
    square = square.reshape(-1, 1, height, width)   # (positions, 1, H, W)
    return np.where(square, fill.reshape(1, channels, 1, 1), image[None])


def occlusion_map(proba, image, target=None, patch=None, stride=None, fill=0):
    """``Occlusion`` of the uint8 picture ``image`` (C, H, W) for ``proba``, a function from uint8
    pictures (N, C, H, W) to class probabilities (N, K) (``ensemble.ensemble_proba`` bound to its
    networks): the probability of class ``target`` (default: the class ``proba`` ranks first for
    the picture as it is) with a square of ``patch`` pixels (default ``default_patch``) painted
    ``fill`` (a value or one per channel; ``square_pixel`` gives a network's) at every position
    ``stride`` pixels apart (default ``default_stride``)."""
    refused = pixels_refused(image, ranks=(3,))
    if refused:
        raise TypeError(f"occlusion_map takes a picture's uint8 pixels (C, H, W), got {refused}")
    channels, height, width = image.shape
    patch = default_patch(min(height, width)) if patch is None else patch
    if isinstance(patch, bool) or not isinstance(patch, (int, np.integer)) or not 1 <= patch <= min(height, width):
        raise ValueError(f"occlusion_map: the square's side must be an integer from 1 to the picture's "
                         f"{min(height, width)} pixels, got {patch!r}")
    stride = default_stride(patch) if stride is None else stride
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"occlusion_map: the stride must be an integer >= 1, got {stride!r}")
    fill = np.asarray(fill)
    if fill.ndim > 1 or fill.size not in (1, channels) or np.any(fill < 0) or np.any(fill > 255):
        raise ValueError(f"occlusion_map: fill must be a pixel value 0-255, or one per channel ({channels}), got "
                         f"{fill.tolist()}")
    fill = np.broadcast_to(fill, (channels,)).astype(np.uint8)
    whole = np.asarray(proba(image[None]), np.float64)[0]
    if target is None:
        target = int(np.argmax(whole))
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < len(whole):
        raise ValueError(f"occlusion_map: the class must be an index from 0 to {len(whole) - 1}, got {target!r}")
    rows, cols = patch_starts(height, patch, stride), patch_starts(width, patch, stride)
    per_batch = max(1, COPIES_PER_BATCH // len(cols))   # whole rows of positions at a time
    probability = np.concatenate([
        np.asarray(proba(occluded_copies(image, rows[i:i + per_batch], cols, fill, patch)), np.float64)[:, target]
        for i in range(0, len(rows), per_batch)])
    return Occlusion(probability.reshape(len(rows), len(cols)), int(target), float(whole[target]), int(patch),
                     rows, cols, fill)


def per_pixel(occlusion, shape):
    """(H, W) float64 of ``shape``: at each pixel, the mean of ``occlusion.probability`` over the
    positions whose square covers it, a map the size of the picture."""
    height, width = shape
    over_rows = covered(occlusion.rows, occlusion.patch, height).astype(np.float64)   # (R, H)
    over_cols = covered(occlusion.cols, occlusion.patch, width).astype(np.float64)    # (C, W)
    total = over_rows.T @ occlusion.probability @ over_cols
    return total / np.outer(over_rows.sum(axis=0), over_cols.sum(axis=0))


def covered_at_lowest(image, occlusion):
    """uint8 (1, C, H, W): ``image`` with the square of ``occlusion`` painted where the probability
    fell lowest (``most_telling``), to ask the network what it takes the picture so covered for."""
    row, col = most_telling(occlusion)
    return occluded_copies(image, np.array([row]), np.array([col]), occlusion.fill, occlusion.patch)


def most_telling(occlusion):
    """(row, col) of the square's top-left corner where the probability fell lowest (the first such
    position in row-major order)."""
    i, j = np.unravel_index(np.argmin(occlusion.probability), occlusion.probability.shape)
    return int(occlusion.rows[i]), int(occlusion.cols[j])
