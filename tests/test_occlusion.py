"""Occlusion sensitivity (minicnn/occlusion.py): the map against a loop over the square's
positions, one copy at a time; a network that looks at one corner alone, whose map must change
there and nowhere else; the per-pixel map against a loop over the pixels; what is refused; the
picture (minicnn/plots.py) read back from its Figure; and examples/predict.py --occlusion."""
import os
import re
import sys

import numpy as np
import pytest
from PIL import Image

from minicnn import Dense, Flatten, Sequential, models, occlusion
from minicnn.inference import predict_proba
from minicnn.occlusion import (covered_at_lowest, default_patch, default_stride, mean_pixel, most_telling, occluded_copies, occlusion_map,
                               patch_starts, per_pixel, square_pixel)
from minicnn.plots import occlusion_figure, pixel_in_words, save_occlusion
from minicnn.weights import model_from_checkpoint

from fake_data import write_pictures_of_one_name, write_small_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = [f"class {i}" for i in range(10)]


def small_network():
    """The small AlexNet in float64 (no rounding to hide behind), random weights."""
    return models.alexnet_small(width=4, dtype=np.float64, seed=3)


def proba_of(net, mean=0.3, std=0.4):
    """Pictures (N, 1, 28, 28) -> the network's probabilities, with every batch it was given recorded."""
    def proba(images):
        proba.batches.append(len(images))
        return predict_proba([net], images, None, mean, std, batch_size=len(images))
    proba.batches = []
    return proba


def test_the_square_covers_every_pixel_the_last_against_the_edge():
    assert patch_starts(28, 5, 4).tolist() == [0, 4, 8, 12, 16, 20, 23]
    assert patch_starts(28, 5, 1).tolist() == list(range(24))
    assert patch_starts(28, 4, 4).tolist() == [0, 4, 8, 12, 16, 20, 24]   # the steps reach the edge: no extra
    assert patch_starts(28, 28, 3).tolist() == [0]
    assert patch_starts(28, 5, 100).tolist() == [0, 23]
    assert (default_patch(256), default_patch(28), default_patch(4), default_patch(2)) == (43, 5, 1, 1)
    assert (default_stride(43), default_stride(5), default_stride(2)) == (14, 1, 1)
    assert mean_pixel(0.2860, 1).tolist() == [73]
    assert mean_pixel((0.485, 0.456, 0.406), 3).tolist() == [124, 116, 104]
    assert mean_pixel(0.5, 3).tolist() == [128, 128, 128]


def test_the_square_is_the_background_where_the_pictures_lie_on_one_else_the_mean_pixel():
    """Fashion-MNIST's garments lie on black: a black square takes away what it covers. Photos and
    CIFAR-10's pictures get the mean pixel of their normalisation, ImageNet's where none is recorded."""
    assert square_pixel(dict(dataset="fashion-mnist", mean=[0.286]), 1).tolist() == [0]
    assert square_pixel(dict(dataset="cifar10", mean=[0.4914, 0.4822, 0.4465]), 3).tolist() == [125, 123, 114]
    assert square_pixel(dict(dataset="folder", crop=224, mean=[0.5, 0.25, 0.0]), 3).tolist() == [128, 64, 0]
    assert square_pixel({}, 3).tolist() == [124, 116, 104]   # plain ImageNet weights: torchvision's normalisation
    assert square_pixel(dict(mean=0.3), 1).tolist() == [76]   # fit from Python, on arrays of its own
    assert (pixel_in_words([0]), pixel_in_words([255, 255, 255]), pixel_in_words([73]),
            pixel_in_words([124, 116, 104])) == ("black", "white", "grey 73", "the colour (124, 116, 104)")


@pytest.mark.parametrize("patch, stride", [(5, 4), (7, 7), (28, 1)])
def test_the_map_is_the_probability_of_each_covered_copy_one_at_a_time(patch, stride, monkeypatch):
    """Against a loop that paints each square into a copy of its own and classifies it alone;
    the copies go in batches of whole rows of positions, at most COPIES_PER_BATCH of them."""
    monkeypatch.setattr(occlusion, "COPIES_PER_BATCH", 16)
    net = small_network()
    picture = np.random.default_rng(0).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    proba = proba_of(net)
    result = occlusion_map(proba, picture, patch=patch, stride=stride, fill=73)
    whole = proba(picture[None])[0]
    target = int(np.argmax(whole))
    starts = patch_starts(28, patch, stride)
    expected = np.empty((len(starts), len(starts)))
    for i, row in enumerate(starts):
        for j, col in enumerate(starts):
            copy = picture.copy()
            copy[:, row:row + patch, col:col + patch] = 73
            expected[i, j] = proba(copy[None])[0, target]
    np.testing.assert_allclose(result.probability, expected, rtol=1e-12, atol=0)
    assert (result.target, result.patch) == (target, patch)
    assert result.unoccluded == whole[target]
    assert result.rows.tolist() == result.cols.tolist() == starts.tolist()
    rows_a_batch = max(1, 16 // len(starts))
    assert proba.batches[1:1 + -(-len(starts) // rows_a_batch)] == \
        [len(starts) * min(rows_a_batch, len(starts) - i) for i in range(0, len(starts), rows_a_batch)]


def corner_network():
    """Class 0's score is the sum of the normalised pixels of the 4 x 4 top-left corner, class 1's
    a constant: only squares over that corner change the probabilities."""
    dense = Dense(28 * 28, 2, dtype=np.float64)
    weight = np.zeros((2, 28, 28))
    weight[0, :4, :4] = 1.0
    dense.params["weight"].data[...] = weight.reshape(2, -1)
    dense.params["bias"].data[...] = (0.0, 5.0)
    return Sequential([("flatten", Flatten()), ("fc", dense)])


def test_a_network_that_looks_at_one_corner_is_changed_there_and_nowhere_else():
    picture = np.zeros((1, 28, 28), np.uint8)
    picture[:, :4, :4] = 255   # the corner the network sees: bright, class 0 wins
    result = occlusion_map(proba_of(corner_network(), mean=0.0, std=1.0), picture, patch=6, stride=2, fill=0)
    assert result.target == 0
    over_corner = (result.rows[:, None] < 4) & (result.cols[None, :] < 4)
    np.testing.assert_allclose(result.probability[~over_corner], result.unoccluded, rtol=1e-14)
    assert np.all(result.probability[over_corner] < result.unoccluded)
    assert most_telling(result) == (0, 0)   # the square that covers all 16 pixels of the corner
    painted = picture.copy()
    painted[:, :6, :6] = 0
    np.testing.assert_array_equal(covered_at_lowest(picture, result), painted[None])
    # 16 pixels of 1.0 against 5.0: covered whole, 0 against 5 (class 1 wins); half covered, 8 against 5
    assert result.probability[0, 0] == pytest.approx(1 / (1 + np.exp(5)))
    assert result.probability[1, 0] == pytest.approx(1 / (1 + np.exp(-3)))   # rows 2-7: rows 2 and 3 remain
    pixels = per_pixel(result, (28, 28))
    np.testing.assert_allclose(pixels[10:, :], result.unoccluded, rtol=1e-14)
    np.testing.assert_allclose(pixels[:, 10:], result.unoccluded, rtol=1e-14)
    assert pixels[0, 0] == pytest.approx(result.probability[0, 0], rel=1e-14)   # covered by the first square alone


def test_each_pixel_takes_the_mean_of_the_squares_that_cover_it():
    """per_pixel against a loop over the pixels and the positions, on a rectangle and an uneven step."""
    rng = np.random.default_rng(1)
    rows, cols = patch_starts(9, 3, 2), patch_starts(7, 3, 3)
    result = occlusion.Occlusion(rng.random((len(rows), len(cols))), 0, 1.0, 3, rows, cols, np.zeros(1, np.uint8))
    expected = np.empty((9, 7))
    for y in range(9):
        for x in range(7):
            values = [result.probability[i, j] for i, r in enumerate(rows) for j, c in enumerate(cols)
                      if r <= y < r + 3 and c <= x < c + 3]
            expected[y, x] = np.mean(values)
    np.testing.assert_allclose(per_pixel(result, (9, 7)), expected, rtol=1e-14)


def test_the_class_may_be_chosen_and_colour_pictures_are_filled_channel_by_channel():
    seen = []

    def proba(images):   # two classes, of the mean of the red and of the blue channel
        seen.append(images.copy())
        scores = images[:, [0, 2]].mean(axis=(2, 3)) / 255.0
        return np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)

    picture = np.zeros((3, 8, 8), np.uint8)
    picture[0] = 200
    result = occlusion_map(proba, picture, target=1, patch=8, fill=(10, 20, 30))
    assert result.target == 1 and result.probability.shape == (1, 1) and result.fill.tolist() == [10, 20, 30]
    assert seen[1][0, :, 0, 0].tolist() == [10, 20, 30]   # the square, one value per channel
    assert result.probability[0, 0] > result.unoccluded   # red covered: blue gains


@pytest.mark.parametrize("change, error, message", [
    (dict(image=np.zeros((1, 8, 8))), TypeError, "uint8 pixels (C, H, W), got a float64 array of shape (1, 8, 8)"),
    (dict(image=np.zeros((8, 8), np.uint8)), TypeError, "got a uint8 array of shape (8, 8)"),
    (dict(patch=0), ValueError, "the square's side must be an integer from 1 to the picture's 8 pixels, got 0"),
    (dict(patch=9), ValueError, "from 1 to the picture's 8 pixels, got 9"),
    (dict(patch=2.0), ValueError, "got 2.0"),
    (dict(stride=0), ValueError, "the stride must be an integer >= 1, got 0"),
    (dict(stride=True), ValueError, "got True"),
    (dict(target=2), ValueError, "the class must be an index from 0 to 1, got 2"),
    (dict(target=-1), ValueError, "got -1"),
    (dict(target=True), ValueError, "got True"),
    (dict(image=np.zeros((1, 8, 30), np.uint8), patch=9), ValueError, "the picture's 8 pixels, got 9"),  # short side
    (dict(fill=(1, 2)), ValueError, "fill must be a pixel value 0-255, or one per channel (1), got [1, 2]"),
    (dict(fill=256), ValueError, "got 256"),
])
def test_what_cannot_be_occluded_is_named(change, error, message):
    arguments = dict(image=np.zeros((1, 8, 8), np.uint8), patch=3)
    arguments.update(change)
    with pytest.raises(error, match=re.escape(message)):
        occlusion_map(lambda images: np.full((len(images), 2), 0.5), **arguments)


def test_the_edges_of_what_is_taken():
    """A square of 1 pixel or of the picture's shorter side, fills of 0 and 255; the default
    square is a sixth of the shorter side."""
    def proba(images):
        return np.full((len(images), 2), 0.5)
    picture = np.zeros((1, 12, 48), np.uint8)
    assert occlusion_map(proba, picture).patch == default_patch(12) == 2
    for patch, fill in ((1, 255), (12, 0)):
        result = occlusion_map(proba, picture, patch=patch, fill=fill)
        assert result.patch == patch and result.fill.tolist() == [fill]
        rows, cols = (patch_starts(side, patch, default_stride(patch)) for side in (12, 48))
        assert result.probability.shape == (len(rows), len(cols)) and rows[-1] == 12 - patch and cols[-1] == 48 - patch


def test_the_picture_shows_where_the_probability_falls_and_outlines_the_lowest(tmp_path):
    picture = np.zeros((1, 28, 28), np.uint8)
    picture[:, :4, :4] = 255
    result = occlusion_map(proba_of(corner_network(), mean=0.0, std=1.0), picture, patch=6, stride=2, fill=0)
    fig = occlusion_figure(picture, result, "a rather long class name, cut for its title")
    ax_picture, ax_map, colour_bar = fig.axes
    (shown,) = ax_picture.get_images()
    np.testing.assert_array_equal(shown.get_array(), picture[0])
    grey, fall = ax_map.get_images()
    np.testing.assert_array_equal(grey.get_array(), picture[0])
    np.testing.assert_allclose(fall.get_array(), result.unoccluded - per_pixel(result, (28, 28)))
    reach = float(np.abs(fall.get_array()).max())
    assert fall.get_clim() == (-reach, reach) and reach > 0.5   # symmetric about 0: red falls, blue rises
    (square,) = ax_map.patches
    assert (square.get_xy(), square.get_width(), square.get_height()) == ((-0.5, -0.5), 6, 6)   # most_telling
    assert ax_picture.get_title() == f"a rather long class name, cut for its t\u2026: {result.unoccluded:.1%}"
    assert ax_map.get_title() == f"covered, at the lowest (outlined): {result.probability.min():.1%}"
    assert colour_bar.get_ylabel() == "fall in the probability of a rather long class\u2026"
    assert fig.texts[0].get_text() == "Where a square of 6 x 6 pixels, black, makes the network less sure"
    lowest_off_the_diagonal = occlusion.Occlusion(np.array([[0.9, 0.8], [0.7, 0.95]]), 0, 1.0, 14,
                                                  np.array([0, 14]), np.array([0, 14]), np.zeros(1, np.uint8))
    (square,) = occlusion_figure(picture, lowest_off_the_diagonal, "x").axes[1].patches
    assert square.get_xy() == (-0.5, 13.5)   # (column, row): the square at row 14, column 0
    unchanged = occlusion_map(lambda images: np.full((len(images), 2), 0.5), picture, patch=6)
    assert occlusion_figure(picture, unchanged, "x").axes[1].get_images()[1].get_clim() == (-1e-3, 1e-3)
    colour = np.stack([picture[0], np.zeros((28, 28), np.uint8), picture[0]])
    ax_picture, ax_map, _ = occlusion_figure(colour, result, "x").axes
    np.testing.assert_array_equal(ax_picture.get_images()[0].get_array(), colour.transpose(1, 2, 0))
    np.testing.assert_allclose(ax_map.get_images()[0].get_array(), colour.mean(axis=0))
    save_occlusion(picture, result, "x", tmp_path / "occlusion.png")
    with Image.open(tmp_path / "occlusion.png") as png:
        assert png.size == (840, 420)


def test_predict_draws_each_pictures_occlusion_named_after_it(tmp_path, capsys, monkeypatch):
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import predict
    write_small_checkpoint(tmp_path / "small.npz", CLASSES)
    write_pictures_of_one_name(tmp_path)
    monkeypatch.setattr(sys, "stdin", type("Piped", (), {"buffer": open(tmp_path / "a" / "x.png", "rb")})())
    out = tmp_path / "why"
    predict.main([str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png"), "-", "--weights",
                  str(tmp_path / "small.npz"), "--top", "2", "--occlusion", str(out), "--occlusion-patch", "7"])
    sys.stdin.buffer.close()
    lines = capsys.readouterr().out.splitlines()
    assert sorted(os.listdir(out)) == ["standard-input.png", "x-2.png", "x.png"]
    assert [line.split(" (")[0] for line in lines[3::4]] == \
        [f"  occlusion: {out / name}" for name in ("x.png", "x-2.png", "standard-input.png")]
    net, _ = model_from_checkpoint(tmp_path / "small.npz")   # as predict.py rebuilds it
    picture = np.asarray(Image.open(tmp_path / "b" / "x.png"))[None]
    result = occlusion_map(proba_of(net), picture, patch=7, fill=0)   # of the class named first; Fashion-MNIST's black
    assert lines[5].endswith(CLASSES[result.target])
    row, col = most_telling(result)
    covered = proba_of(net)(occluded_copies(picture, np.array([row]), np.array([col]), np.zeros(1, np.uint8), 7))[0]
    assert lines[7] == (f"  occlusion: {out / 'x-2.png'} ({CLASSES[result.target]} {result.unoccluded:.2%} as it is, "
                        f"{result.probability.min():.2%} with rows {row}-{row + 6}, columns {col}-{col + 6} covered, "
                        f"where it says {CLASSES[np.argmax(covered)]} {covered.max():.2%})")
    for flags, message in ((["--occlusion-patch", "3"], "--occlusion-patch sizes the square of --occlusion"),
                           (["--occlusion", str(out), "--occlusion-patch", "29"],
                            "error: --occlusion-patch 29: larger than the pictures the networks see, 28x28")):
        with pytest.raises(SystemExit) as stopped:
            predict.main([str(tmp_path / "a" / "x.png"), "--weights", str(tmp_path / "small.npz")] + flags)
        assert message in str(stopped.value) + capsys.readouterr().err


def test_the_map_on_the_kernels_is_the_cpus(kernel_device):
    """The occlusion map of a network on minicnn's CUDA kernels (a GPU, or the simulator) is the
    NumPy code's, in float64 to its rounding."""
    picture = np.random.default_rng(5).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    maps = []
    for device in ("cpu", kernel_device):
        net = small_network().to(device)
        maps.append(occlusion_map(lambda copies: predict_proba([net], copies, None, 0.3, 0.4, device=device), picture,
                                  patch=9, stride=6, fill=0))
    np.testing.assert_allclose(maps[1].probability, maps[0].probability, rtol=1e-10)
    assert maps[1].target == maps[0].target
