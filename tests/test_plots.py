"""The pictures of a training run (minicnn/plots.py): what each figure draws is read back from
the matplotlib Figure (its lines, cell colours, texts and titles) and compared with the figures
it was given; the filter grid, drawn with NumPy and Pillow, pixel by pixel."""
import matplotlib.colors
import numpy as np
import pytest
from PIL import Image

from minicnn.inference import ranked_first
from minicnn.plots import (confusion_figure, curves_figure, filter_grid, largest_losses_figure, save_confusion,
                           save_curves, save_filter_grid, save_largest_losses, save_top5, shortened, top5_figure)

from figures import saved_sizes

RECORDS = [dict(epoch=1, train_loss=2.0, train_top1=0.25, val_loss=1.5, val_top1=0.375),
           dict(epoch=2, train_loss=1.25, train_top1=0.5, val_loss=1.125, val_top1=0.5),
           dict(epoch=3, train_loss=0.75, train_top1=0.625, val_loss=1.0, val_top1=0.5625)]


def drawn(ax):
    """``{label: (x, y)}`` of the lines an Axes holds."""
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()}


def test_curves_draw_each_records_loss_and_accuracy_by_epoch(tmp_path):
    fig = curves_figure(RECORDS)
    loss, accuracy = fig.axes
    epochs = [1, 2, 3]
    assert drawn(loss) == {"train": (epochs, [2.0, 1.25, 0.75]), "validation": (epochs, [1.5, 1.125, 1.0])}
    assert drawn(accuracy) == {"train": (epochs, [0.25, 0.5, 0.625]), "validation": (epochs, [0.375, 0.5, 0.5625])}
    assert (loss.get_title(), loss.get_xlabel(), loss.get_ylabel()) == ("Loss", "epoch", "cross-entropy loss")
    assert (accuracy.get_title(), accuracy.get_ylabel()) == ("Accuracy", "top-1 accuracy")
    for ax in fig.axes:   # a legend naming both, and whole epochs on the x axis
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "validation"]
        assert all(float(tick).is_integer() for tick in ax.get_xticks())
    save_curves(RECORDS, tmp_path / "curves.png")
    with Image.open(tmp_path / "curves.png") as picture:
        assert picture.size == (1000, 400)   # 10 x 4 inches at 100 dpi


def test_curves_of_a_run_without_validation_show_training_alone():
    records = [{k: v for k, v in r.items() if not k.startswith("val_")} for r in RECORDS]
    loss, accuracy = curves_figure(records).axes
    assert drawn(loss) == {"train": ([1, 2, 3], [2.0, 1.25, 0.75])}
    assert drawn(accuracy) == {"train": ([1, 2, 3], [0.25, 0.5, 0.625])}


def test_confusion_cells_are_shaded_by_their_rows_fraction_and_labelled_with_their_count(tmp_path):
    """Rows: true class; a class with no examples is a row of 0, not of NaN; cells of 0 have no label."""
    counts = np.array([[6, 2, 0], [0, 0, 0], [1, 1, 2]])
    fig = confusion_figure(counts, ["cat", "dog", "bird"])
    ax = fig.axes[0]
    (image,) = ax.get_images()
    np.testing.assert_allclose(image.get_array(), [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]])
    assert image.get_clim() == (0.0, 1.0)
    labels = {(t.get_position(), t.get_text()): t.get_color() for t in ax.texts}
    assert labels == {((0, 0), "6"): "white", ((1, 0), "2"): "black", ((0, 2), "1"): "black",
                      ((1, 2), "1"): "black", ((2, 2), "2"): "black"}   # (column, row): white above one half
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "bird"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert ax.get_title() == "Test confusion matrix: 66.67% right"   # (6 + 0 + 2) of 12
    assert fig.get_size_inches().tolist() == [4.15, 4.15]   # 0.55 an inch a class + 2.5, at least 4
    save_confusion(counts, ["cat", "dog", "bird"], tmp_path / "confusion.png")
    with Image.open(tmp_path / "confusion.png") as picture:
        assert picture.size == (415, 415)


def test_confusion_matrices_at_their_limits():
    """No examples at all: none right; one example: its cell full and 100% right; a fraction just
    above one half is labelled in white; two classes are drawn 4 inches wide, the least."""
    ax = confusion_figure(np.zeros((2, 2), int), ["a", "b"]).axes[0]
    assert ax.get_title() == "Test confusion matrix: 0.00% right" and not ax.texts
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), np.zeros((2, 2)))
    fig = confusion_figure(np.array([[1, 0], [0, 0]]), ["a", "b"])
    assert fig.get_size_inches().tolist() == [4.0, 4.0]
    ax = fig.axes[0]
    assert ax.get_title() == "Test confusion matrix: 100.00% right"
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), [[1, 0], [0, 0]])
    ax = confusion_figure(np.array([[101, 99], [0, 1]]), ["a", "b"]).axes[0]
    assert [t.get_color() for t in ax.texts] == ["white", "black", "white"]   # 0.505, 0.495, 1


def rows_of(*triples):
    """``evaluate``'s "largest_losses" rows for (index, label, predicted, probability) triples."""
    return [dict(index=i, label=label, predicted=guess, probability=p, loss=1.0) for i, label, guess, p in triples]


def test_the_largest_losses_are_drawn_titled_with_the_guess_and_red_where_wrong(tmp_path):
    """Five grey pictures in two lines of four: each image at its index, the three unused axes blank."""
    images = (np.arange(8 * 3 * 2) % 251).astype(np.uint8).reshape(8, 3, 2)
    classes = ["T-shirt/top", "Trouser", "a class name well over twenty letters"]
    rows = rows_of((5, 0, 1, 0.9), (2, 1, 1, 0.51), (7, 2, 0, 0.333), (0, 0, 0, 0.25), (3, 2, 2, 1.0))
    fig = largest_losses_figure(images, rows, classes)
    axes = fig.axes
    assert len(axes) == 8 and [ax.axison for ax in axes] == [False] * 8
    titles = [(ax.get_title(), ax.title.get_color()) for ax in axes[:5]]
    assert titles == [("T-shirt/top\nsaid: Trouser 90%", "tab:red"), ("Trouser\nsaid: Trouser 51%", "black"),
                      ("a class name well o\u2026\nsaid: T-shirt/top 33%", "tab:red"),
                      ("T-shirt/top\nsaid: T-shirt/top 25%", "black"),
                      ("a class name well o\u2026\nsaid: a class name well o\u2026 100%", "black")]
    for ax, row in zip(axes, rows):
        (image,) = ax.get_images()
        np.testing.assert_array_equal(image.get_array(), images[row["index"]])
        assert image.get_cmap().name == "gray" and image.get_clim() == (0, 255)
    assert not any(ax.get_images() for ax in axes[5:])
    assert fig._suptitle.get_text().startswith("The 5 test images of the largest loss")
    save_largest_losses(images, rows, classes, tmp_path / "losses.png")
    with Image.open(tmp_path / "losses.png") as picture:
        assert picture.size == (880, 540)   # 4 x 2.2 inches by 2 x 2.5 + 0.4


def test_the_largest_losses_of_colour_and_one_channel_images_are_drawn_as_pictures():
    """(N, 3, H, W) is drawn as RGB (H, W, 3); (N, 1, H, W) grey as (H, W); fewer rows than columns
    take one line of as many."""
    colour = np.random.default_rng(0).integers(0, 256, (2, 3, 4, 5), dtype=np.uint8)
    axes = largest_losses_figure(colour, rows_of((1, 0, 0, 0.5)), ["a"]).axes
    assert len(axes) == 1
    np.testing.assert_array_equal(axes[0].get_images()[0].get_array(), colour[1].transpose(1, 2, 0))
    grey = colour[:, :1]
    axes = largest_losses_figure(grey, rows_of((0, 0, 0, 0.5), (1, 0, 0, 0.5)), ["a"]).axes
    assert len(axes) == 2
    (image,) = axes[1].get_images()
    np.testing.assert_array_equal(image.get_array(), grey[1, 0])
    assert image.get_cmap().name == "gray"


def test_the_five_classes_ranked_first_are_bars_under_each_image_the_true_ones_red(tmp_path):
    """The paper's Figure 4 (left): three images of six classes in one line of three; each picture
    titled with its true class, then bars of the five most probable classes (ranked_first's: the
    most probable on top, a tie in the order of the classes), red for the true class where it is
    among them."""
    images = np.random.default_rng(1).integers(0, 256, (5, 1, 6, 6), dtype=np.uint8)
    classes = ["zero", "one", "two", "three", "four", "a class name well over twenty letters"]
    probabilities = np.array([[0.05, 0.6, 0.1, 0.1, 0.15, 0.0],     # true class 4, second
                              [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],       # true class 0: second, first of a tie of 0s
                              [0.2, 0.2, 0.2, 0.2, 0.1, 0.1]])      # true class 5, last of a tie: not among them
    rows = ranked_first(probabilities, [4, 0, 5], [3, 0, 4])
    assert [row["index"] for row in rows] == [3, 0, 4] and rows[0]["top5"][:2] == [[1, 0.6], [4, 0.15]]
    fig = top5_figure(images, rows, classes)
    pictures, bars = fig.axes[:3], fig.axes[3:]
    assert [ax.get_title() for ax in pictures] == ["four", "zero", "a class name well over \u2026"]
    np.testing.assert_array_equal(pictures[2].get_images()[0].get_array(), images[4, 0])   # row 3's: image 4
    expected = [([1, 4, 2, 3, 0], 4), ([5, 0, 1, 2, 3], 0), ([0, 1, 2, 3, 4], 5)]
    for ax, row, (ranked, truth) in zip(bars, probabilities, expected):
        assert [label.get_text() for label in ax.get_yticklabels()] == [shortened(classes[k], 16) for k in ranked]
        np.testing.assert_allclose([bar.get_width() for bar in ax.patches], row[ranked])
        red = [bar.get_facecolor() == matplotlib.colors.to_rgba("tab:red") for bar in ax.patches]
        assert red == [k == truth for k in ranked]
        assert ax.get_xlim() == (0, 1) and ax.yaxis_inverted()
    assert fig._suptitle.get_text().startswith("Each image's true class above it, and the five classes")
    few = top5_figure({7: images[0]}, ranked_first(np.array([[0.3, 0.7]]), [1], [7]), ["a", "b"])   # 2 classes
    assert [bar.get_width() for bar in few.axes[1].patches] == [0.7, 0.3]
    save_top5(images, rows, classes, tmp_path / "top5.png", columns=2)
    with Image.open(tmp_path / "top5.png") as picture:
        assert picture.size in saved_sizes(2 * 2.6, 2 * 3.9 + 0.4)   # 2 columns of 2.6 inches, 2 rows of 3.9 + 0.4


def test_filter_grid_tiles_each_filter_in_place():
    w = np.zeros((5, 1, 2, 2))
    w[3, 0] = [[0.0, 1.0], [2.0, 3.0]]
    grid = filter_grid(w)
    assert grid.shape == (1 + 2 * 3, 1 + 3 * 3)        # 3x3 tiles of 2x2 + 1 px borders
    np.testing.assert_allclose(grid[4:6, 1:3], [[0, 1 / 3], [2 / 3, 1]])   # filter 3: row 1, col 0
    assert (grid[0] == 1).all() and (grid[:, 0] == 1).all() and (grid[4:6, 7:9] == 1).all()   # borders, no filter 8
    with pytest.raises(ValueError, match=r"^filter_grid: expected conv filters \(O, C, kh, kw\), got an array of "
                                         r"shape \(4, 36\)$"):   # a Dense layer's
        filter_grid(np.zeros((4, 36)))


def test_filter_grid_draws_the_first_three_channels_in_colour(tmp_path):
    """Filters of 4 channels: the first three, as RGB, each filter scaled by its own range over
    them; saved with each filter pixel 48 x 48 (a 1x1 filter drawn 48 pixels wide)."""
    w = np.array([[1.0, 2.0, 5.0, 99.0], [-4.0, 0.0, 4.0, -99.0]]).reshape(2, 4, 1, 1)
    grid = filter_grid(w)
    assert grid.shape == (3, 5, 3)   # one row of two 1x1 tiles with 1 px borders
    np.testing.assert_allclose(grid[1, 1], [0, 0.25, 1])
    np.testing.assert_allclose(grid[1, 3], [0, 0.5, 1])
    assert (grid[0] == 1).all() and (grid[:, [0, 2, 4]] == 1).all()
    save_filter_grid(w, tmp_path / "filters.png")
    with Image.open(tmp_path / "filters.png") as picture:
        assert picture.size == (5 * 48, 3 * 48) and picture.mode == "RGB"
        assert picture.getpixel((48 + 10, 48 + 10)) == (0, 64, 255)
    three = w[:, :3]   # exactly three channels: colour too
    np.testing.assert_array_equal(filter_grid(three), grid)
    assert shortened("a" * 20) == "a" * 20 and shortened("a" * 21) == "a" * 19 + "\u2026"


def test_filters_of_two_channels_are_drawn_grey_from_the_first_and_large_enough_to_see(tmp_path):
    """Fewer than three channels: the first, grey. Saved, an 11 x 11 filter is drawn at 5 pixels a
    weight (55, the first multiple at least 48 wide), a 64 x 64 one at 2, the least."""
    w = np.random.default_rng(1).normal(size=(4, 2, 11, 11))
    grid = filter_grid(w)
    assert grid.shape == (1 + 2 * 12, 1 + 2 * 12)
    first = w[0, 0]
    np.testing.assert_allclose(grid[1:12, 1:12], (first - first.min()) / np.ptp(first))
    save_filter_grid(w, tmp_path / "filters.png")
    with Image.open(tmp_path / "filters.png") as picture:
        assert picture.size == (25 * 5, 25 * 5) and picture.mode == "L"
    save_filter_grid(np.zeros((1, 1, 64, 64)), tmp_path / "large.png")   # a flat filter: 0, not NaN
    with Image.open(tmp_path / "large.png") as picture:
        assert picture.size == (66 * 2, 66 * 2) and picture.getpixel((10, 10)) == 0
