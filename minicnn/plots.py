"""Pictures of a training run: loss and accuracy curves (and several runs' training errors side by
side: the paper's Figure 1), the test confusion matrix, the test images of the largest loss, and the
learned conv1 filters (the paper's Figure 3, also tower by tower: ``minicnn.tower_filters``); of
test images with the five classes ranked first (the paper's Figure 4, left); of a prediction, where
covering the picture changes it (``minicnn.occlusion``) and which pixels move its score most
(``minicnn.saliency``); and the training images nearest to test images in the last hidden layer (the
paper's Figure 4, right; ``minicnn.neighbours``). Curves, the matrix and the images use matplotlib's
object-oriented API with an Agg canvas (no screen needed, and pyplot's backend, e.g. a notebook's,
is left alone); the filter grid needs only Pillow.

Each picture is drawn by a ``*_figure`` function that returns the matplotlib ``Figure`` (a
notebook shows it as it is; the tests read back what it drew), and written by its ``save_*``
function as a PNG of 100 dots per inch."""
import math

import numpy as np

from minicnn.backend import to_numpy


def _figure(size):
    """A matplotlib Figure of ``size`` inches drawn on an Agg canvas: pyplot is not involved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def save_curves(records, path):
    """``curves_figure(records)`` as a PNG at ``path``."""
    curves_figure(records).savefig(path, dpi=100)


def curves_figure(records):
    """Train/validation loss and accuracy per epoch from the metrics records (dicts of "epoch",
    "train_loss", "train_top1", "val_loss", "val_top1"): two panels, loss left, top-1 right; the
    training curves alone for a run that held out no validation images."""
    epochs = [r["epoch"] for r in records]
    fig = _figure((10, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    validated = all("val_loss" in r for r in records)   # a run with no validation set has none
    ax_loss.plot(epochs, [r["train_loss"] for r in records], "o-", label="train")
    if validated:
        ax_loss.plot(epochs, [r["val_loss"] for r in records], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    ax_acc.plot(epochs, [r["train_top1"] for r in records], "o-", label="train")
    if validated:
        ax_acc.plot(epochs, [r["val_top1"] for r in records], "s-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="top-1 accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return fig


def save_training_errors(runs, path, threshold=None):
    """``training_errors_figure(runs, threshold)`` as a PNG at ``path``."""
    training_errors_figure(runs, threshold).savefig(path, dpi=100)


def training_errors_figure(runs, threshold=None):
    """The training error rate (1 - top-1 on the epoch's training batches) per epoch of several
    settings (``runs``: [(label, [metrics records of each repeat])]), one line each, the first solid
    and the next dashed, dotted, ...: the paper's Figure 1, where a network of ReLUs (solid) reaches
    25% training error six times faster than the same network of tanh units (dashed). A setting
    run more than once (other seeds) is drawn at its repeats' mean, their lowest to highest error
    shaded. ``threshold``, an error rate, is drawn as a grey line across."""
    fig = _figure((6, 4.5))
    ax = fig.subplots()
    _draw_settings(ax, runs, lambda record: 1 - record["train_top1"])
    if threshold is not None:
        ax.axhline(threshold, color="grey", linewidth=0.8, label=f"{100 * threshold:g}% error")
    ax.set(xlabel="epochs", ylabel="training error rate", ylim=(0, None), xlim=(0, None),
           title="Training error per epoch")
    _finish_settings(fig, ax)
    return fig


def save_validation_losses(runs, path):
    """``validation_losses_figure(runs)`` as a PNG at ``path``."""
    validation_losses_figure(runs).savefig(path, dpi=100)


def validation_losses_figure(runs):
    """The validation loss per epoch of several settings, drawn as ``training_errors_figure``
    draws their training errors (``runs``: [(label, [metrics records of each repeat])], every
    record with a "val_loss"), each setting's lowest (mean) loss marked by a triangle: where the
    loss turns up, the network has begun to fit its training images at the cost of others."""
    fig = _figure((6, 4.5))
    ax = fig.subplots()
    for line in _draw_settings(ax, runs, lambda record: record["val_loss"]):
        epochs, losses = line.get_xdata(), line.get_ydata()
        lowest = int(np.argmin(losses))
        ax.plot([epochs[lowest]], [losses[lowest]], "v", color=line.get_color(), markersize=9)
    ax.set(xlabel="epochs", ylabel="validation loss (cross-entropy)", xlim=(0, None),
           title="Validation loss per epoch")
    _finish_settings(fig, ax)
    return fig


def _draw_settings(ax, runs, value):
    """Draw ``value(record)`` per epoch of each setting in ``runs`` ([(label, [metrics records of
    each repeat])]) on ``ax``: a line each at the repeats' mean, the first solid and the next
    dashed, dotted, ..., the repeats' lowest to highest shaded. The lines, in order."""
    styles = ("-", "--", ":", "-.")
    # black as the paper's figure, unless bands are drawn: colours tell them apart
    black = len(runs) <= len(styles) and all(len(repeats) == 1 for _, repeats in runs)
    lines = []
    for i, (label, repeats) in enumerate(runs):
        epochs = [r["epoch"] for r in repeats[0]]
        values = np.array([[value(r) for r in records] for records in repeats])   # (repeats, epochs)
        (line,) = ax.plot(epochs, values.mean(axis=0), styles[i % len(styles)], marker="o", markersize=3,
                          color="black" if black else None, label=label)
        if len(repeats) > 1:
            ax.fill_between(epochs, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.12,
                            linewidth=0)
        lines.append(line)
    return lines


def _finish_settings(fig, ax):
    ax.grid(alpha=0.3)
    ax.legend()
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()


def save_confusion(confusion, classes, path):
    """``confusion_figure(confusion, classes)`` as a PNG at ``path``."""
    confusion_figure(confusion, classes).savefig(path, dpi=100)


def confusion_figure(confusion, classes):
    """A confusion matrix (k, k) of counts (rows: true class, columns: predicted) drawn as k x k
    cells, each shaded by the fraction of its row (the true class's examples; a class with none
    is a row of 0) and labelled with its count where that is not 0; titled with the fraction right."""
    counts = np.asarray(confusion)
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    k = len(classes)
    side = max(4.0, 0.55 * k + 2.5)
    fig = _figure((side, side))
    ax = fig.subplots()
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class's examples")
    for (i, j), count in np.ndenumerate(counts):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"Test confusion matrix: {np.trace(counts) / max(counts.sum(), 1):.2%} right")
    fig.tight_layout()
    return fig


def save_largest_losses(images, rows, classes, path, columns=4):
    """``largest_losses_figure(images, rows, classes, columns)`` as a PNG at ``path``."""
    largest_losses_figure(images, rows, classes, columns).savefig(path, dpi=100)


def largest_losses_figure(images, rows, classes, columns=4):
    """The test images of ``rows`` (``evaluate``'s "largest_losses": index, label, predicted,
    probability, loss; at least one), ``columns`` a row, each titled with its true class and what
    the network said of it, in red where that was wrong. ``images``: the test set's uint8 pixels,
    (N, H, W) or (N, C, H, W) with C 1 or 3, as the data sets store them."""
    count = len(rows)
    columns = min(columns, count)
    lines = -(-count // columns)
    fig = _figure((2.2 * columns, 2.5 * lines + 0.4))
    axes = fig.subplots(lines, columns, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, row in zip(axes, rows):
        _picture(ax, images[row["index"]])
        wrong = row["predicted"] != row["label"]
        ax.set_title(f"{shortened(classes[row['label']])}\nsaid: {shortened(classes[row['predicted']])} "
                     f"{row['probability']:.0%}", fontsize=8, color="tab:red" if wrong else "black")
    fig.suptitle(f"The {count} test images of the largest loss: true class, and the network's guess", fontsize=10)
    fig.tight_layout()
    return fig


def save_top5(images, rows, classes, path, columns=4):
    """``top5_figure(images, rows, classes, columns)`` as a PNG at ``path``."""
    top5_figure(images, rows, classes, columns).savefig(path, dpi=100)


def top5_figure(images, rows, classes, columns=4):
    """The paper's Figure 4 (left): the images that ``rows`` name (``minicnn.inference.ranked_first``'s
    dicts: "index", "label", "top5"), each with its true class written above it and, below, the
    classes the network ranks first, a bar of its probability each, the true class's bar red where
    it is among them; ``columns`` a row. ``images``: uint8 pixels (N, H, W) or (N, C, H, W), C 1 or
    3, or a dict of such pictures by index: indexed by each row's "index"."""
    count = len(rows)
    columns = min(columns, count)
    lines = -(-count // columns)
    fig = _figure((2.6 * columns, 3.9 * lines + 0.4))
    axes = fig.subplots(2 * lines, columns, squeeze=False, gridspec_kw=dict(height_ratios=[3, 2] * lines))
    for ax in axes.ravel():
        ax.axis("off")
    for i, row in enumerate(rows):
        ax_picture, ax_bars = axes[2 * (i // columns), i % columns], axes[2 * (i // columns) + 1, i % columns]
        _picture(ax_picture, images[row["index"]])
        ax_picture.set_title(shortened(classes[row["label"]], 24), fontsize=8, fontweight="bold")
        ranked = [k for k, _ in row["top5"]]
        ax_bars.axis("on")
        ax_bars.barh(range(len(ranked)), [p for _, p in row["top5"]],
                     color=["tab:red" if k == row["label"] else "tab:blue" for k in ranked])
        ax_bars.set_yticks(range(len(ranked)), [shortened(classes[k], 16) for k in ranked], fontsize=7)
        ax_bars.invert_yaxis()   # the most probable on top
        ax_bars.set_xlim(0, 1)
        ax_bars.tick_params(axis="x", labelsize=6)
        for side in ("top", "right"):
            ax_bars.spines[side].set_visible(False)
    fig.suptitle("Each image's true class above it, and the five classes the network ranks first (the true "
                 "class's bar red)", fontsize=9)
    fig.tight_layout()
    return fig


def save_occlusion(image, occlusion, class_name, path):
    """``occlusion_figure(image, occlusion, class_name)`` as a PNG at ``path``."""
    occlusion_figure(image, occlusion, class_name).savefig(path, dpi=100)


def occlusion_figure(image, occlusion, class_name):
    """A picture and, beside it, the same picture in grey under how much a square covering each
    pixel lowers the probability of ``class_name`` below the picture's own (``occlusion``, an
    ``Occlusion``: its ``unoccluded`` less ``minicnn.occlusion.per_pixel``): red where it falls,
    blue where it rises, on a scale symmetric about 0; the square of the lowest probability
    outlined. ``image``: uint8 pixels (C, H, W), C 1 or 3."""
    from matplotlib.patches import Rectangle
    from minicnn.occlusion import most_telling, per_pixel
    grey = np.asarray(image).mean(axis=0)
    fall = occlusion.unoccluded - per_pixel(occlusion, grey.shape)
    reach = max(float(np.abs(fall).max()), 1e-3)   # the scale; a tiny one where nothing changes
    fig = _figure((8.4, 4.2))
    ax_picture, ax_map = fig.subplots(1, 2)
    _picture(ax_picture, image)
    ax_picture.set_title(f"{shortened(class_name, 40)}: {occlusion.unoccluded:.1%}", fontsize=10)
    ax_map.imshow(grey, cmap="gray", vmin=0, vmax=255)
    shades = ax_map.imshow(fall, cmap="RdBu_r", vmin=-reach, vmax=reach, alpha=0.65)
    row, col = most_telling(occlusion)
    ax_map.add_patch(Rectangle((col - 0.5, row - 0.5), occlusion.patch, occlusion.patch, fill=False,
                               edgecolor="black", linewidth=1.5))
    ax_map.set_title(f"covered, at the lowest (outlined): {occlusion.probability.min():.1%}", fontsize=10)
    fig.colorbar(shades, ax=ax_map, fraction=0.046, pad=0.04, label=f"fall in the probability of "
                                                                    f"{shortened(class_name)}")
    ax_map.axis("off")
    fig.suptitle(f"Where a square of {occlusion.patch} x {occlusion.patch} pixels, {pixel_in_words(occlusion.fill)}, makes "
                 f"the network less sure", fontsize=10)
    fig.tight_layout()
    return fig


def save_saliency(image, result, class_name, path):
    """``saliency_figure(image, result, class_name)`` as a PNG at ``path``."""
    saliency_figure(image, result, class_name).savefig(path, dpi=100)


def saliency_figure(image, result, class_name):
    """A picture and, beside it, its saliency map (``result``, a ``minicnn.saliency.Saliency``, as
    ``saliency_map`` takes it): at each pixel the largest |d score / d pixel value| of the score of
    ``class_name`` over the pixel's channels, dark where a change of the pixel barely moves the
    score and bright where it moves it most, on a scale from 0. ``image``: uint8 pixels (C, H, W),
    C 1 or 3."""
    from minicnn.saliency import saliency_map, share_of_pixels
    pixel_map = saliency_map(result)
    fig = _figure((8.4, 4.2))
    ax_picture, ax_map = fig.subplots(1, 2)
    _picture(ax_picture, image)
    ax_picture.set_title(f"{shortened(class_name, 40)}: score {result.score:.2f}", fontsize=10)
    shades = ax_map.imshow(pixel_map, cmap="inferno", vmin=0.0, vmax=max(float(pixel_map.max()), 1e-12))
    ax_map.set_title(f"half its sum in {share_of_pixels(pixel_map):.1%} of the pixels", fontsize=10)
    fig.colorbar(shades, ax=ax_map, fraction=0.046, pad=0.04, label="|d score / d pixel value|")
    ax_map.axis("off")
    fig.suptitle(f"How much a change of each pixel moves the score of {shortened(class_name)} (its gradient)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def save_neighbours(queries, pool, found, classes, query_labels, pool_labels, path, space="the last hidden layer"):
    """``neighbours_figure(...)`` of the same arguments as a PNG at ``path``."""
    neighbours_figure(queries, pool, found, classes, query_labels, pool_labels, space).savefig(path, dpi=100)


def neighbours_figure(queries, pool, found, classes, query_labels, pool_labels, space="the last hidden layer"):
    """The paper's Figure 4, right: a row per query image, first the query (titled with its class),
    then the pool images ``found`` names (``minicnn.neighbours.nearest``'s, nearest first), each
    titled with its class, in red where that is not the query's; ``space`` names where they are
    nearest, for the title. ``queries`` and ``pool``: uint8 pixels (N, H, W) or (N, C, H, W), C 1
    or 3; the labels are class indices into ``classes``."""
    count, k = found.indices.shape
    fig = _figure((1.3 * (k + 1) + 0.3, 1.45 * count + 0.5))
    axes = fig.subplots(count, k + 1, squeeze=False)
    for row, (query, label, indices) in enumerate(zip(queries, query_labels, found.indices)):
        _picture(axes[row, 0], query)
        axes[row, 0].set_title(f"test: {shortened(classes[label], 14)}", fontsize=7, fontweight="bold")
        for ax, index in zip(axes[row, 1:], indices):
            _picture(ax, pool[index])
            other = pool_labels[index] != label
            ax.set_title(shortened(classes[pool_labels[index]], 14), fontsize=7,
                         color="tab:red" if other else "black")
    fig.suptitle(f"The {k} training images nearest to each test image in {space}", fontsize=9)
    fig.tight_layout()
    return fig


def _picture(ax, image):
    """Draw uint8 pixels (H, W) or (C, H, W), C 1 or 3, in ``ax``, without axes."""
    picture = np.asarray(image)
    if picture.ndim == 3:   # (C, H, W) -> (H, W, C); one channel drawn grey
        picture = picture.transpose(1, 2, 0)
        picture = picture[:, :, 0] if picture.shape[2] == 1 else picture
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=255)
    ax.axis("off")


def pixel_in_words(pixel):
    """"black", "white", "grey 73" or "the colour (124, 116, 104)": a uint8 pixel (C,) for a title."""
    values = [int(v) for v in np.asarray(pixel).reshape(-1)]
    if len(set(values)) == 1:
        return {0: "black", 255: "white"}.get(values[0], f"grey {values[0]}")
    return f"the colour ({', '.join(map(str, values))})"


def shortened(name, limit=20):
    """A class name cut to ``limit`` characters for a picture's title (ImageNet's run long)."""
    name = str(name)
    return name if len(name) <= limit else name[:limit - 1] + "\u2026"


def filter_grid(weight, border=1):
    """Tile conv filters (O, C, kh, kw) into one image (rows, cols[, 3]) in [0, 1], each filter
    min-max scaled on its own; RGB when C >= 3 (first three channels), grey otherwise."""
    w = to_numpy(weight).astype(np.float64)
    if w.ndim != 4:   # a Dense weight, say: "not enough values to unpack" otherwise
        raise ValueError(f"filter_grid: expected conv filters (O, C, kh, kw), got an array of shape {w.shape}")
    o, c, kh, kw = w.shape
    w = w[:, :3] if c >= 3 else w[:, :1]
    lo, span = w.min(axis=(1, 2, 3), keepdims=True), np.ptp(w, axis=(1, 2, 3), keepdims=True)
    w = (w - lo) / np.maximum(span, 1e-12)
    cols = int(math.ceil(math.sqrt(o)))
    rows = int(math.ceil(o / cols))
    tiles = np.ones((rows * cols, w.shape[1], kh + border, kw + border))
    tiles[:o, :, :kh, :kw] = w
    # (rows, cols, C, kh+b, kw+b) -> (rows, kh+b, cols, kw+b, C): tiles side by side
    grid = tiles.reshape(rows, cols, w.shape[1], kh + border, kw + border).transpose(0, 3, 1, 4, 2)
    grid = grid.reshape(rows * (kh + border), cols * (kw + border), w.shape[1])
    grid = np.pad(grid, ((border, 0), (border, 0), (0, 0)), constant_values=1.0)
    return grid[:, :, 0] if grid.shape[2] == 1 else grid


def save_filter_grid(weight, path, scale=None):
    """Save ``filter_grid(weight)`` as a PNG, each filter pixel ``scale`` x ``scale`` (default:
    large enough that every filter is drawn at least 48 pixels wide)."""
    from PIL import Image
    scale = scale or max(2, -(-48 // weight.shape[-1]))
    img = Image.fromarray((filter_grid(weight) * 255).round().astype(np.uint8))
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(path)


def save_tower_filters(runs, path):
    """Save ``tower_filters_figure(runs)`` as a PNG."""
    tower_filters_figure(runs).savefig(path, dpi=100)


def tower_filters_figure(runs):
    """Each run's conv1 filters split by tower, as the paper's Figure 3 draws them: a row per run,
    tower 0's filters (the first half) on the left, tower 1's on the right, each filter min-max
    scaled on its own (``filter_grid``). ``runs``: [(label, weight (O, C, kh, kw))]."""
    fig = _figure((6, 1.2 + 2.6 * len(runs)))
    axes = fig.subplots(len(runs), 2, squeeze=False)
    for (label, weight), row in zip(runs, axes):
        weight = to_numpy(weight)
        half = weight.shape[0] // 2
        for t, ax in enumerate(row):
            grid = filter_grid(weight[t * half:(t + 1) * half])
            ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{shortened(label, 40) if t == 0 else ''}\ntower {t}: filters {t * half}-{(t + 1) * half - 1}",
                         fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    return fig
