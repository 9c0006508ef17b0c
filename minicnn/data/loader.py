"""Mini-batches from an in-memory uint8 image set: shuffling, augmentation, normalisation, and a
background thread that prepares the next batch while the current one trains.

Each augmentation is two steps: its random numbers for the whole batch (``draw_crops``,
``pca_shifts``), then the pixel work they direct (``window_crops``, adding the shifts), so that
the loader can draw a batch's numbers in one thread, always in the same order, and share its
pixel work out over the cores (``minicnn.cpu_threads``): the same batches with any number of
threads.
"""
import queue
import threading

import numpy as np

from minicnn import cpu_threads
from minicnn.layers.base import check_flag, check_number, check_positive_int
from minicnn.layers.im2col import pad_spatial


def pixel_statistics(mean, std, channels=None, who="BatchLoader"):
    """``(mean, std)`` checked, as pixels become ``(p / 255 - mean) / std``: each a finite number
    (std > 0) or a list, tuple or array of them, one per channel (``channels`` of them, when
    given, or one); returned as a float or a list of floats (a checkpoint records them as JSON).
    Anything else raises ValueError naming ``who``, which and what it got: std=0 made every pixel
    infinite, and a mean of 2 values for one channel failed in NumPy's broadcasting."""
    checked = []
    for what, given, expected, within in (("mean", mean, "a finite number", lambda v: True),
                                          ("std", std, "a finite number > 0", lambda v: v > 0)):
        several = isinstance(given, (list, tuple, np.ndarray))
        values = list(np.ravel(given)) if several else [given]
        try:
            if not values:
                raise ValueError("none")
            values = [check_number(value, what, who, expected, within) for value in values]
        except ValueError:
            raise ValueError(f"{who}: {what} must be {expected}, or one per channel, got {given!r}") from None
        if channels is not None and len(values) not in (1, channels):
            raise ValueError(f"{who}: {what} gives {len(values)} values, and the images have {channels} "
                             f"channel{'s' if channels != 1 else ''}: give one value, or one per channel")
        checked.append(values if several else values[0])
    return tuple(checked)


def pixels_refused(images, ranks=(3, 4)):
    """Why ``images`` are not uint8 pixels of one of ``ranks`` axes (an array, or one read when
    indexed: an image folder's Subset), in words ("a float32 array of shape (5, 1, 28, 28) (floats
    in [0, 1]: ...)"), or None when they are. The loaders divide pixels by 255: floats already in
    [0, 1] would be divided again, and the network would see nearly black pictures."""
    array = all(hasattr(images, a) for a in ("dtype", "shape", "ndim", "__getitem__"))
    if array and images.dtype == np.uint8 and images.ndim in ranks:
        return None
    if not array:
        return f"a {type(images).__name__}"
    floats = np.issubdtype(images.dtype, np.floating)
    return (f"a {images.dtype} array of shape {tuple(images.shape)}"
            + (" (floats in [0, 1]: (x * 255).round().astype(np.uint8))" if floats else ""))


def resize_nearest(images, size):
    """Nearest-neighbour resize of images (N, C, H, W) to (N, C, size, size), vectorised."""
    h, w = images.shape[2:]
    rows = (np.arange(size) * h // size)
    cols = (np.arange(size) * w // size)
    return images[:, :, rows[:, None], cols[None, :]]


def draw_crops(rng, n, size, crop, mirror=True):
    """The random numbers of ``n`` crops of (height, width) = ``crop`` out of images of (H, W) =
    ``size``: (top, left, flip), int and bool arrays of n, drawn in this order, one draw of each
    per image (without ``mirror``, flip is all False and draws nothing)."""
    top = rng.integers(0, size[0] - crop[0] + 1, n)
    left = rng.integers(0, size[1] - crop[1] + 1, n)
    flip = rng.random(n) < 0.5 if mirror else np.zeros(n, bool)
    return top, left, flip


def window_crops(images, crop, top, left, flip):
    """Image i's window [top[i]:top[i]+height, left[i]:left[i]+width] of images (N, C, H, W), with
    (height, width) = ``crop``, mirrored left to right where flip[i]: a new (N, C, height, width)
    array. ``window_crops(images, crop, *draw_crops(rng, N, (H, W), crop))`` are random crops and
    mirrors: the paper's training crops, and with zero padding around the images
    (``minicnn.layers.im2col.pad_spatial``) the translations of cuda-convnet's CIFAR nets.

    One copy of each window, picked per image out of a strided view of all of them, then one of
    the mirrored ones: 16x faster than indexing every pixel by its own coordinates (the paper's 227
    crops of 128 stored 256-pixel images: 6.4 ms against 105 on 2 cores)."""
    windows = np.lib.stride_tricks.sliding_window_view(images, crop, axis=(2, 3))  # a view
    crops = windows[np.arange(len(images)), :, top, left]
    crops[flip] = crops[flip, ..., ::-1]
    return crops


def crop_offsets(size, crop):
    """(top, left) of the paper's five test crops of a size x size image: the four corners, then
    the centre."""
    far, mid = size - crop, (size - crop) // 2
    return [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]


def center_crop(images, crop):
    top, left = crop_offsets(images.shape[-1], crop)[4]
    return images[..., top:top + crop, left:left + crop]


def ten_crops(images, crop):
    """The paper's ten test views of images (N, C, S, S): the four corner crops and the centre
    crop, then the same five mirrored: (10, N, C, crop, crop)."""
    views = [images[..., t:t + crop, l:l + crop] for t, l in crop_offsets(images.shape[-1], crop)]
    return np.stack(views + [v[..., ::-1] for v in views])


def small_ten_crops(images, pad, value=0):
    """The paper's ten test views transposed to small pictures (N, C, S, S) that --augment trained
    on as translations (``BatchLoader``'s ``augment_pad``): crops of their own size out of them
    padded with ``pad`` pixels of zeros (of ``value`` if given), the four shifted as far as they go
    and the picture itself (the centre), then the five mirrored: (10, N, C, S, S)."""
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=value)
    return ten_crops(padded, images.shape[-1])


def pca_shifts(rng, n, eigenvalues, eigenvectors, std=0.1):
    """The paper's "fancy PCA" colour augmentation of ``n`` RGB images with pixels in [0, 1]: the
    (n, 3) float64 shifts eigenvectors @ (alpha * eigenvalues), alpha ~ N(0, std) drawn per image,
    each added to every pixel of its image, which moves the image's colour along the principal
    components of the training set's RGB covariance, by amounts proportional to their variance."""
    alpha = rng.normal(0.0, std, (n, 3))
    return (alpha * np.asarray(eigenvalues)) @ np.asarray(eigenvectors).T


def shard_batches(order, batch_size, world=1, rank=0):
    """Rank ``rank``'s batches of an epoch in ``order``: global batch b is
    order[b*B*world:(b+1)*B*world] and the rank takes its r-th slice of B. Incomplete global batches
    are dropped, so every rank makes the same number of steps and sees each example at most once."""
    global_batch = batch_size * world
    return [order[b * global_batch + rank * batch_size:b * global_batch + (rank + 1) * batch_size]
            for b in range(len(order) // global_batch)]


class BatchLoader:
    """Iterate over (x float (B, C, S, S), labels int64 (B,)) batches of one epoch.

    ``images`` uint8 (N, H, W) or (N, C, H, W); pixels become ``(p / 255 - mean) / std`` (scalars
    or one value per channel); images are resized (nearest) to ``size`` when it differs.
    ``augment`` draws a random crop (``augment_pad`` pixels of zero padding) and a random mirror
    per image. With ``crop`` (image folders: 256 px stored, 224 or 227 trained) the batch is cut to
    crop x crop instead: a random crop and mirror with ``augment``, the centre crop without; and
    ``pca=(eigenvalues, eigenvectors)`` adds the paper's PCA colour augmentation (std
    ``pca_std``) to augmented batches. ``shard=(rank, world)`` (data-parallel training) gives
    this rank its slice of every global batch of ``world * batch_size`` (``shard_batches``; the
    epoch order is the same on every rank; augmentation draws differ per rank). ``epoch`` and
    ``seed`` fix the order and
    the augmentation, so an epoch can be replayed exactly (resume). ``drop_last`` drops a final
    partial batch (training); evaluation keeps it. A batch's random numbers are drawn in the
    background thread, then its pixels are filled in slices of the batch on all the cores
    (``minicnn.cpu_threads``): the same batches with any number of threads.
    """

    def __init__(self, images, labels, batch_size, size=None, shuffle=False, augment=False, augment_pad=0, seed=0,
                 epoch=0, mean=0.0, std=1.0, dtype=np.float32, drop_last=False, prefetch=True, crop=None,
                 pca=None, pca_std=0.1, shard=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch size must be an integer >= 1, got {batch_size!r}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images[:, None] if images.ndim == 3 else images
        self.labels, self.batch_size = labels, int(batch_size)
        self.size = size if size is None else check_positive_int(size, "size (or None)", "BatchLoader")
        self.shuffle, self.augment = shuffle, check_flag(augment, "augment", "BatchLoader")
        self.augment_pad = check_positive_int(augment_pad, "augment_pad", "BatchLoader", minimum=0)
        self.dtype, self.drop_last = dtype, drop_last
        # per-channel statistics broadcast over (B, C, H, W); a scalar applies to every channel
        mean, std = pixel_statistics(mean, std, self.images.shape[1])
        self.mean = np.asarray(mean, dtype).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, dtype).reshape(1, -1, 1, 1)
        self.prefetch = prefetch
        self.crop, self.pca, self.pca_std = crop, pca, pca_std
        self.rank, self.world = shard if shard is not None else (0, 1)
        if self.world > 1 and not (shuffle and drop_last):
            raise ValueError("a sharded loader is for training: it needs shuffle=True and drop_last=True")
        if crop is not None and check_positive_int(crop, "crop (or None)", "BatchLoader") > min(self.images.shape[-2:]):
            raise ValueError(f"crop {crop} is larger than the images {self.images.shape[-2:]}")
        self.rng = np.random.default_rng([seed, epoch])

    def __len__(self):
        n = len(self.labels)
        if self.drop_last:
            return n // (self.batch_size * self.world)
        return -(-n // self.batch_size)

    def _batches(self):
        n = len(self.labels)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        if self.world > 1:
            batches = shard_batches(order, self.batch_size, self.world, self.rank)
            self.rng = np.random.default_rng([self.rng.integers(2 ** 63), self.rank])  # own augmentation draws
        else:
            batches = [order[b * self.batch_size:(b + 1) * self.batch_size] for b in range(len(self))]
        channels, height, width = self.images.shape[1:]
        if self.crop is not None:
            height = width = self.crop
        if self.size is not None and width != self.size:
            height = width = self.size
        for idx in batches:
            draws = self._draw(len(idx))
            x = np.empty((len(idx), channels, height, width), self.dtype)
            cpu_threads.in_slices(len(idx), lambda s: self._fill(x[s], idx[s], draws, s), x)
            yield x, self.labels[idx]

    def _draw(self, n):
        """A batch of ``n`` images' random numbers, in the order the loader has always drawn
        them: (the crops' (top, left, flip) or None, the PCA shifts in the loader's dtype or None)."""
        crops = shifts = None
        if self.augment:
            h, w = self.images.shape[2:]
            pad = self.augment_pad
            crops = (draw_crops(self.rng, n, (h, w), (self.crop, self.crop)) if self.crop is not None
                     else draw_crops(self.rng, n, (h + 2 * pad, w + 2 * pad), (h, w)))
            if self.pca is not None:
                shifts = pca_shifts(self.rng, n, *self.pca, self.pca_std).astype(self.dtype)
        return crops, shifts

    def _fill(self, out, idx, draws, s):
        """Write the batch's images ``idx`` into ``out``: the slice ``s`` of the batch that
        ``draws`` (``_draw``) holds the numbers of. Every step but the gather and the crops works
        in place in ``out`` (the same values as a new array per step: for 128 crops of 227, 79 MB
        of float32, the 3 arrays more took 35 ms on 2 cores against 19)."""
        crops, shifts = draws
        images = self.images[idx]
        if crops is not None:
            draws_of_slice = (a[s] for a in crops)
            if self.crop is not None:
                images = window_crops(images, (self.crop, self.crop), *draws_of_slice)
            else:   # the translations: crops of the images' own size out of the padded images
                pad = self.augment_pad
                images = window_crops(pad_spatial(images, (pad, pad)), images.shape[2:], *draws_of_slice)
        elif self.crop is not None:
            images = center_crop(images, self.crop)
        if images.shape[-2:] != out.shape[-2:]:
            images = resize_nearest(images, out.shape[-1])
        np.multiply(images, self.dtype(1 / 255.0), out=out)
        if shifts is not None:
            np.add(out, shifts[s, :, None, None], out=out)
        np.subtract(out, self.mean, out=out)
        np.divide(out, self.std, out=out)

    def __iter__(self):
        if not self.prefetch:
            yield from self._batches()
            return
        q = queue.Queue(maxsize=2)
        done = object()

        def produce():
            try:
                for item in self._batches():
                    q.put(item)
            except BaseException as exc:  # hand the error to the consumer instead of hanging it
                q.put(exc)
            q.put(done)

        threading.Thread(target=produce, daemon=True).start()
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
