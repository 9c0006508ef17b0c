"""Which pixels a network's answer is most sensitive to: the saliency map of Simonyan, Vedaldi and
Zisserman ("Deep Inside Convolutional Networks: Visualising Image Classification Models and
Saliency Maps", 2014, section 3), on a network of AlexNet's design.

Near a picture I, the score of class c (its output before the softmax) is about
S_c(I) + w . (J - I) for a picture J close by, with w = dS_c/dI: where |w| is large, the smallest
change of a pixel moves the score most. One backward pass gives w: the same backward passes of the
layers that train the network, from dS_c/dscores (the one-hot of c) down to the network's input,
the network behaving as it does when it classifies (``at_test_time``: no unit dropped, batch
normalisation's running statistics), then back through how it sees a picture. That is a choice
of pixels (a nearest resize of a small picture, a crop of a photo, a mirror) and then
(p / 255 - mean) / std per channel, so a pixel of the picture gets the sum of the gradients of
the input pixels chosen from it, over 255 std (``chosen_pixels``). The map is, at each pixel,
the largest |w| over the colour channels (``saliency_map``).

An ensemble's (or the ten crops') score is the mean of its networks' (and views') scores, and so
is its gradient. Occlusion (``minicnn.occlusion``) asks what a large change (a part taken away)
does to the probability, one forward pass per position; the saliency map asks what the smallest
change does to the score, one forward and one backward pass per view:

    result = saliency(members, views, image)          # ensemble.load_ensemble's networks
    result.gradient                                    # (C, H, W): d score / d pixel value
    saliency_map(result)                               # (H, W): the largest |gradient| per pixel

``examples/predict.py --saliency DIR`` draws it for each picture it classifies
(``minicnn.plots.saliency_figure``).
"""
import collections

import numpy as np

from minicnn.backend import get_array_module, to_device, to_numpy
from minicnn.data.loader import center_crop, pixels_refused, small_ten_crops, ten_crops
from minicnn.ensemble import as_seen, ensemble_proba
from minicnn.inference import normalise
from minicnn.layers.base import at_test_time, setting

Saliency = collections.namedtuple("Saliency", "gradient target score")
Saliency.__doc__ = """What ``saliency`` found: ``gradient`` (C, H, W) float64, the derivative of the
score of class ``target`` with respect to each pixel value (0-255) of the picture; ``score`` the
score itself (the mean over the networks and their views)."""


def score_gradient(net, x, target):
    """(scores (N, K), dS/dx (N, C, H, W)), NumPy float64, of the network ``net`` at its inputs
    ``x`` (N, C, H, W; its dtype, on its device), S the score of class ``target`` of each input:
    a training forward and a backward from the one-hot of ``target``, the network at test time
    (``at_test_time``), asked for dL/dx (which ``fit`` leaves off on the networks it trained).
    It overwrites the parameters' gradients, as any backward does."""
    with at_test_time(net), setting(net, "input_grad", True):
        scores = net.forward(x, train=True)
        if not 0 <= target < scores.shape[1]:
            raise ValueError(f"score_gradient: the class must be an index from 0 to {scores.shape[1] - 1}, "
                             f"got {target!r}")
        one_hot = get_array_module(scores).zeros_like(scores)
        one_hot[:, target] = 1
        dx = net.backward(one_hot)
    return to_numpy(scores).astype(np.float64), to_numpy(dx).astype(np.float64)


def chosen_pixels(shape, view, ten_crop=False):
    """int64 (V, h, w): for each pixel of each of the V views in which the network of ``view`` (an
    ``ensemble.Input``) sees a picture of (H, W) = ``shape``, the index row * W + col of the
    picture's pixel that it shows, or H * W for the black padding a small picture's ten crops
    show (``data.loader.small_ten_crops``). The views (``ensemble.as_seen``, then the centre crop or
    the ten crops, as ``ensemble.member_probas`` takes them) run on a picture of indices."""
    height, width = shape
    indices = np.arange(height * width).reshape(1, 1, height, width)
    if ten_crop and not view.photos:
        crops = small_ten_crops(indices, view.pad, value=height * width)
        return np.ascontiguousarray(np.stack([as_seen(c, view) for c in crops])[:, 0, 0])
    seen = as_seen(indices, view)
    crops = ten_crops(seen, view.crop) if ten_crop else center_crop(seen, view.crop)[None]
    return np.ascontiguousarray(crops[:, 0, 0])


def saliency(members, views, image, target=None, ten_crop=False, device="cpu"):
    """``Saliency`` of the uint8 picture ``image`` (C, H, W: a photo's central 256x256, or a small
    picture at its data set's size, as ``examples/predict.py`` reads it) for the networks
    ``members`` seeing it through ``views`` (``ensemble.load_ensemble``'s), each through its
    centre crop or with ``ten_crop`` its ten crops: the gradient of the mean score of class
    ``target`` (default: the class the ensemble ranks first) over the networks and views."""
    refused = pixels_refused(image, ranks=(3,))
    if refused:
        raise TypeError(f"saliency takes a picture's uint8 pixels (C, H, W), got {refused}")
    if target is None:
        target = int(np.argmax(ensemble_proba(members, views, image[None], ten_crop, device)[0]))
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise ValueError(f"saliency: the class must be an integer index, got {target!r}")
    channels, height, width = image.shape
    pixels = np.concatenate([image.reshape(channels, -1), np.zeros((channels, 1), image.dtype)], axis=1)
    gradient, score = np.zeros(channels * (height * width + 1)), 0.0   # the last of each channel's: the padding
    for (net, _), view in zip(members, views):
        chosen = chosen_pixels((height, width), view, ten_crop)              # (V, h, w)
        dtype = next(p.data.dtype for _, p in net.named_params())
        x = normalise(pixels[:, chosen].transpose(1, 0, 2, 3), view.mean, view.std, dtype.type)   # (V, C, h, w)
        scores, dx = score_gradient(net, to_device(np.ascontiguousarray(x), device), int(target))
        std = np.broadcast_to(np.asarray(view.std, np.float64).reshape(-1), (channels,))
        dx /= (255 * std).reshape(1, -1, 1, 1)                                # d input / d pixel = 1 / (255 std)
        # each input pixel's gradient to the picture's pixel it shows, per channel: c * (H * W + 1) + index
        where = np.arange(channels).reshape(1, -1, 1, 1) * (height * width + 1) + chosen[:, None]
        gradient += np.bincount(where.ravel(), dx.ravel(), gradient.size) / len(chosen)
        score += scores[:, target].mean()
    gradient = gradient.reshape(channels, -1)[:, :-1]   # the padding is no pixel of the picture
    return Saliency(gradient.reshape(channels, height, width) / len(members), int(target), score / len(members))


def saliency_map(result):
    """(H, W) float64: at each pixel the largest |gradient| over its channels (Simonyan et al.'s map)."""
    return np.abs(result.gradient).max(axis=0)


def share_of_pixels(pixel_map, weight=0.5):
    """The smallest fraction of the pixels of ``pixel_map`` (non-negative) whose values make up
    ``weight`` of its sum, the largest first: how concentrated the map is (a uniform map's
    ``weight``; a single bright pixel's 1 / pixels)."""
    values = np.sort(np.asarray(pixel_map, np.float64).ravel())[::-1]
    total = values.sum()
    if total == 0:
        return 1.0
    return (int(np.searchsorted(np.cumsum(values), weight * total)) + 1) / values.size


def largest(pixel_map):
    """(row, col) of the largest value of ``pixel_map`` (the first in row-major order)."""
    row, col = np.unravel_index(np.argmax(pixel_map), np.shape(pixel_map))
    return int(row), int(col)
