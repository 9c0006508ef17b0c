"""Saliency maps (minicnn/saliency.py): the gradient of a class's score with respect to a picture's
pixels against central differences of the score computed by hand (the views taken, normalised
and classified one at a time), for a small picture resized to its network's input, for photos
through the centre crop and the ten crops, and for an ensemble with batch normalisation and
dropout; a linear network, whose gradient is its weights; what is refused; the picture read back
from its Figure; examples/predict.py --saliency; and the kernels against the NumPy code."""
import os
import re
import sys

import numpy as np
import pytest
from PIL import Image

from minicnn import BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential, models
from minicnn.data.loader import center_crop, resize_nearest, ten_crops
from minicnn.ensemble import Input
from minicnn.gradcheck import numerical_gradient, rel_error
from minicnn.plots import saliency_figure, save_saliency
from minicnn.saliency import Saliency, chosen_pixels, largest, saliency, saliency_map, score_gradient, share_of_pixels
from minicnn.towers import two_tower
from minicnn.weights import model_from_checkpoint

from fake_data import write_pictures_of_one_name, write_small_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = [f"class {i}" for i in range(10)]


def photo_network(crop, seed):
    """A small network of photos, crop x crop: conv, batch normalisation with running statistics of
    its own, ReLU, max-pool, dropout, a dense layer of 3 classes; float64."""
    rng = np.random.default_rng(seed)
    norm = BatchNorm2D(4, dtype=np.float64)
    norm.params["weight"].data[...] = rng.uniform(0.5, 2, 4)
    norm.params["bias"].data[...] = rng.standard_normal(4)
    norm.buffers["running_mean"][...], norm.buffers["running_var"][...] = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    side = ((crop - 2) - 3) // 2 + 1
    return Sequential([Conv2D(3, 4, 3, dtype=np.float64, rng=rng), norm, ReLU(), MaxPool2D(3, 2), Dropout(0.5, seed=seed),
                       Flatten(), Dense(4 * side * side, 3, dtype=np.float64, rng=rng)])


def score_by_hand(members, views, pixels, target, ten_crop):
    """The mean score of class ``target`` over the networks and their views of the picture
    ``pixels`` (C, H, W), float: each view taken, normalised and classified on its own."""
    scores = []
    for (net, _), view in zip(members, views):
        seen = pixels[None] if view.photos or view.crop == view.size else resize_nearest(pixels[None], view.crop)
        crops = ten_crops(seen, view.crop) if ten_crop else [center_crop(seen, view.crop)]
        if ten_crop and not view.photos:   # a small picture's: shifted in its black padding, then resized
            p, side = view.pad, view.size
            padded = np.zeros((pixels.shape[0], side + 2 * p, side + 2 * p))
            padded[:, p:p + side, p:p + side] = pixels
            shifted = [padded[None, :, t:t + side, u:u + side] for t, u in ((0, 0), (0, 2 * p), (2 * p, 0),
                                                                            (2 * p, 2 * p), (p, p))]
            crops = [c if view.crop == side else resize_nearest(c, view.crop)
                     for c in shifted + [c[..., ::-1] for c in shifted]]
        mean = np.asarray(view.mean, np.float64).reshape(-1, 1, 1)
        std = np.asarray(view.std, np.float64).reshape(-1, 1, 1)
        scores += [net.forward((crop / 255 - mean) / std, train=False)[0, target] for crop in crops]
    return np.mean(scores)


def assert_the_gradient_is_the_scores_differences(members, views, picture, ten_crop=False, h=1e-2):
    result = saliency(members, views, picture, ten_crop=ten_crop)
    pixels = picture.astype(np.float64)
    # a step of a hundredth of a pixel value: the score moves by about 1e-6 of itself, far above its rounding
    numeric, kinks = numerical_gradient(lambda: score_by_hand(members, views, pixels, result.target, ten_crop), pixels,
                                        h=h)
    assert kinks.mean() < 0.05
    assert rel_error(result.gradient, numeric, mask=~kinks) < 1e-6
    assert result.score == pytest.approx(score_by_hand(members, views, pixels, result.target, ten_crop), rel=1e-12)
    return result


def test_a_small_picture_resized_to_the_networks_input_gets_the_sum_of_its_copies_gradients():
    """A 14 x 14 picture seen at 28 x 28 (each pixel copied to 4), by the small AlexNet with dropout."""
    net = models.alexnet_small(width=4, dtype=np.float64, seed=3)
    picture = np.random.default_rng(0).integers(0, 256, (1, 14, 14), dtype=np.uint8)
    view = Input(False, 28, [0.3], [0.4], 14, 1)
    result = assert_the_gradient_is_the_scores_differences([(net, {})], [view], picture)
    probabilities = net.forward((resize_nearest(picture[None], 28) / 255 - 0.3) / 0.4, train=False)
    assert result.target == int(np.argmax(probabilities))   # the class ranked first by default
    assert result.gradient.shape == (1, 14, 14)


def test_a_small_pictures_ten_crops_shift_it_in_its_padding_and_its_gradient_is_theirs():
    """The ten crops of a network trained with --augment (2 pixels of padding) on 14 x 14
    pictures seen at 28 x 28: shifted within the black padding, mirrored, resized; the padding's
    own gradient goes to no pixel of the picture."""
    net = models.alexnet_small(width=4, dtype=np.float64, seed=4)
    picture = np.random.default_rng(1).integers(0, 256, (1, 14, 14), dtype=np.uint8)
    view = Input(False, 28, [0.3], [0.4], 14, 1, 2)
    # a thousandth of a pixel value: among ten views one pixel is within a hundredth of a kink (a max-pool's
    # choice or a ReLU's), which the central difference of a hundredth straddles
    result = assert_the_gradient_is_the_scores_differences([(net, {})], [view], picture, ten_crop=True, h=1e-3)
    assert result.gradient.shape == (1, 14, 14)


@pytest.mark.parametrize("ten_crop", [False, True])
def test_an_ensemble_of_photo_networks_through_their_crops(ten_crop):
    """Two networks of photos, crops of 12 and 10 of a 16 x 16 picture, each normalised its own way,
    with batch normalisation and dropout behaving as they do when the networks classify."""
    members = [(photo_network(12, seed=1), {}), (photo_network(10, seed=2), {})]
    views = [Input(True, 12, (0.4, 0.5, 0.6), (0.2, 0.3, 0.25), None, 3), Input(True, 10, 0.5, 0.25, None, 3)]
    picture = np.random.default_rng(1).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    result = assert_the_gradient_is_the_scores_differences(members, views, picture, ten_crop)
    if not ten_crop:   # outside the centre crops no pixel is seen: a border of 2 pixels moves nothing
        assert not result.gradient[:, :2].any() and not result.gradient[:, :, -2:].any()
        assert np.abs(result.gradient[:, 2:-2, 2:-2]).min(axis=0).any()
    else:              # the corners' crops reach the border
        assert result.gradient[:, :2].any() and result.gradient[:, :, -2:].any()
    assert all(layer.calls == 0 for net, _ in members for layer in net if isinstance(layer, Dropout))


def test_a_linear_network_gives_its_weights_over_255_std():
    """Class 1's score is w . (p / 255 - mean) / std + b: its gradient is w / (255 std), whatever
    the picture, a channel's own std per channel."""
    dense = Dense(3 * 5 * 5, 4, dtype=np.float64, rng=np.random.default_rng(2))
    net = Sequential([Flatten(), dense])
    std = np.array([0.2, 0.5, 0.25])
    result = saliency([(net, {})], [Input(True, 5, (0.1, 0.2, 0.3), std, None, 3)],
                      np.random.default_rng(3).integers(0, 256, (3, 5, 5), dtype=np.uint8), target=1)
    expected = dense.params["weight"].data[1].reshape(3, 5, 5) / (255 * std.reshape(3, 1, 1))
    np.testing.assert_allclose(result.gradient, expected, rtol=1e-14)
    assert result.target == 1
    np.testing.assert_array_equal(saliency_map(result), np.abs(expected).max(axis=0))


def test_the_two_device_split_gives_the_single_networks_gradient():
    """AlexNet's two towers (minicnn.towers) compute the network they were split from: so do their
    backward passes, down to the pixels."""
    net = models.alexnet_small(width=4, lrn_groups=2, dtype=np.float64, seed=3)
    picture = np.random.default_rng(7).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    view = Input(False, 28, 0.3, 0.4, 28, 1)
    single, split = (saliency([(network, {})], [view], picture) for network in (net, two_tower(net)))
    np.testing.assert_allclose(split.gradient, single.gradient, rtol=1e-12, atol=1e-12 * np.abs(single.gradient).max())
    assert split.target == single.target and split.score == pytest.approx(single.score, rel=1e-13)


def test_the_views_choose_the_pixels_a_network_sees():
    """chosen_pixels, against the views' definitions on a picture whose pixels are numbered."""
    numbered = np.arange(36).reshape(6, 6)
    photo = chosen_pixels((6, 6), Input(True, 4, 0, 1, None, 3), ten_crop=True)
    assert photo.shape == (10, 4, 4)
    np.testing.assert_array_equal(photo[0], numbered[:4, :4])      # the top-left corner first
    np.testing.assert_array_equal(photo[4], numbered[1:5, 1:5])    # the centre
    np.testing.assert_array_equal(photo[5], numbered[:4, 3::-1])   # the top-left corner, mirrored
    np.testing.assert_array_equal(chosen_pixels((6, 6), Input(True, 4, 0, 1, None, 3))[0], numbered[1:5, 1:5])
    small = chosen_pixels((3, 3), Input(False, 6, 0, 1, 3, 1))
    np.testing.assert_array_equal(small[0], np.repeat(np.repeat(np.arange(9).reshape(3, 3), 2, axis=0), 2, axis=1))
    shifted = chosen_pixels((3, 3), Input(False, 3, 0, 1, 3, 1, 1), ten_crop=True)   # 1 pixel of padding: index 9
    assert shifted.shape == (10, 3, 3)
    np.testing.assert_array_equal(shifted[0], [[9, 9, 9], [9, 0, 1], [9, 3, 4]])    # shifted down and right
    np.testing.assert_array_equal(shifted[4], np.arange(9).reshape(3, 3))          # the centre: the picture
    np.testing.assert_array_equal(shifted[3], [[4, 5, 9], [7, 8, 9], [9, 9, 9]])    # shifted up and left
    np.testing.assert_array_equal(shifted[5], [[9, 9, 9], [1, 0, 9], [4, 3, 9]])    # the first, mirrored


def test_how_concentrated_a_map_is_and_where_it_is_largest():
    assert share_of_pixels(np.ones((4, 4))) == 0.5
    assert share_of_pixels(np.ones((4, 4)), weight=1.0) == 1.0
    one = np.zeros((4, 5))
    one[2, 3] = 7.0
    assert share_of_pixels(one) == 1 / 20 and largest(one) == (2, 3)
    assert share_of_pixels(np.array([[4.0, 3.0], [2.0, 1.0]])) == 0.5       # 4 + 3 of 10 reach half
    assert share_of_pixels(np.array([[6.0, 2.0], [1.0, 1.0]])) == 0.25      # 6 of 10 does
    assert share_of_pixels(np.zeros((2, 2))) == 1.0                         # nothing moves: no pixel stands out
    assert largest(np.array([[1.0, 3.0], [3.0, 0.0]])) == (0, 1)             # the first of a tie


@pytest.mark.parametrize("change, error, message", [
    (dict(image=np.zeros((1, 28, 28))), TypeError, "uint8 pixels (C, H, W), got a float64 array of shape (1, 28, 28)"),
    (dict(image=np.zeros((28, 28), np.uint8)), TypeError, "got a uint8 array of shape (28, 28)"),
    (dict(target=10), ValueError, "the class must be an index from 0 to 9, got 10"),
    (dict(target=-1), ValueError, "from 0 to 9, got -1"),
    (dict(target=1.0), ValueError, "the class must be an integer index, got 1.0"),
])
def test_what_has_no_saliency_is_named(change, error, message):
    arguments = dict(members=[(models.alexnet_small(width=4, seed=1), {})], views=[Input(False, 28, 0.3, 0.4, 28, 1)],
                     image=np.zeros((1, 28, 28), np.uint8))
    arguments.update(change)
    with pytest.raises(error, match=re.escape(message)):
        saliency(**arguments)


def test_score_gradient_leaves_the_network_as_it_was():
    """The network classifies as before (dropout's stream untouched, no test-time setting left); one
    that fit trained, which asks for no dL/dx of the images, gives it here and asks for none after."""
    net = models.alexnet_small(width=4, dtype=np.float64, seed=3)
    net.input_grad = False   # as fit leaves it
    x = np.random.default_rng(4).standard_normal((2, 1, 28, 28))
    before = net.forward(x, train=False)
    scores, dx = score_gradient(net, x, 3)
    np.testing.assert_array_equal(scores, before)
    assert dx.shape == x.shape and dx.dtype == np.float64
    assert not any(layer.test_time for layer in net.leaves()) and net.input_grad is False
    np.testing.assert_array_equal(dx, score_gradient(models.alexnet_small(width=4, dtype=np.float64, seed=3), x, 3)[1])
    assert [layer.calls for layer in net.leaves() if isinstance(layer, Dropout)] == [0, 0]


def test_the_picture_shows_the_largest_gradient_of_each_pixel(tmp_path):
    gradient = np.zeros((3, 8, 8))
    gradient[1, 2, 5], gradient[2, 2, 5], gradient[0, 6, 1] = -4.0, 1.0, 2.0
    result = Saliency(gradient, 1, 7.25)
    picture = np.random.default_rng(5).integers(0, 256, (3, 8, 8), dtype=np.uint8)
    fig = saliency_figure(picture, result, "a rather long class name, cut for its title")
    ax_picture, ax_map, colour_bar = fig.axes
    np.testing.assert_array_equal(ax_picture.get_images()[0].get_array(), picture.transpose(1, 2, 0))
    (shades,) = ax_map.get_images()
    np.testing.assert_array_equal(shades.get_array(), saliency_map(result))
    assert shades.get_array()[2, 5] == 4.0 and shades.get_clim() == (0.0, 4.0)
    assert ax_picture.get_title() == "a rather long class name, cut for its t\u2026: score 7.25"
    assert ax_map.get_title() == "half its sum in 1.6% of the pixels"   # the 4 of 4 + 2: one pixel of 64
    assert colour_bar.get_ylabel() == "|d score / d pixel value|"
    assert fig.texts[0].get_text() == \
        "How much a change of each pixel moves the score of a rather long class\u2026 (its gradient)"
    flat = saliency_figure(picture[:1], Saliency(np.zeros((1, 8, 8)), 0, 0.0), "x")
    assert flat.axes[1].get_images()[0].get_clim() == (0.0, 1e-12)
    save_saliency(picture, result, "x", tmp_path / "saliency.png")
    with Image.open(tmp_path / "saliency.png") as png:
        assert png.size == (840, 420)


def test_predict_draws_each_pictures_saliency_beside_its_occlusion(tmp_path, capsys):
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import predict
    write_small_checkpoint(tmp_path / "small.npz", CLASSES)
    write_pictures_of_one_name(tmp_path)
    grad, why = tmp_path / "grad", tmp_path / "why"
    predict.main([str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png"), "--weights", str(tmp_path / "small.npz"),
                  "--top", "1", "--saliency", str(grad), "--occlusion", str(why)])
    lines = capsys.readouterr().out.splitlines()
    assert sorted(os.listdir(grad)) == sorted(os.listdir(why)) == ["x-2.png", "x.png"]
    net, config = model_from_checkpoint(tmp_path / "small.npz")   # as predict.py rebuilds it
    picture = np.asarray(Image.open(tmp_path / "b" / "x.png"))[None]
    result = saliency([(net, config)], [Input(False, 28, [0.3], [0.4], 28, 1)], picture)
    pixel_map = saliency_map(result)
    row, col = largest(pixel_map)
    assert lines[6].startswith(f"  occlusion: {why / 'x-2.png'} ({CLASSES[result.target]} ")
    assert lines[7] == (f"  saliency: {grad / 'x-2.png'} (score of {CLASSES[result.target]} {result.score:.2f}; half of "
                        f"its |gradient| in {share_of_pixels(pixel_map):.1%} of the pixels; steepest at row {row}, "
                        f"column {col}: {result.gradient[0, row, col]:+.3g} per pixel value)")
    predict.main([str(tmp_path / "a" / "x.png"), "--weights", str(tmp_path / "small.npz"), "--saliency", str(grad),
                  "--csv", "-"])   # the table on standard output, the drawing said on standard error
    captured = capsys.readouterr()
    assert captured.out.startswith("image,class_1,") and captured.err.startswith(f"  saliency: {grad / 'x.png'} (")
    with pytest.raises(SystemExit):
        predict.main([str(tmp_path / "a" / "x.png"), "--weights", str(tmp_path / "small.npz"), "--saliency", str(why),
                      "--occlusion", str(why) + os.sep])
    assert "--occlusion and --saliency name their pictures alike (after the image): give them two folders" in \
        capsys.readouterr().err


def test_the_gradient_on_the_kernels_is_the_cpus(kernel_device):
    """The saliency of a network on minicnn's CUDA kernels (a GPU, or the simulator) is the NumPy
    code's, in float64 to its rounding."""
    picture = np.random.default_rng(6).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    view = Input(False, 28, [0.3], [0.4], 28, 1)
    results = [saliency([(models.alexnet_small(width=4, dtype=np.float64, seed=3).to(device), {})], [view], picture,
                        device=device) for device in ("cpu", kernel_device)]
    np.testing.assert_allclose(results[1].gradient, results[0].gradient, rtol=1e-9, atol=1e-12 * np.abs(results[0].gradient).max())
    assert results[1].target == results[0].target and results[1].score == pytest.approx(results[0].score, rel=1e-12)
