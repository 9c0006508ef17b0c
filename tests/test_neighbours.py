"""The nearest training images in the last hidden layer (minicnn/neighbours.py): ``nearest``
against a loop that measures every distance with np.linalg.norm, ties and the pool taken a part at
a time included; ``hidden_features`` against the network's layers run by hand; what is refused;
the paper's Figure 4 (minicnn/plots.py) read back from its Figure; and examples/neighbours.py on a
run's checkpoint, its figures recomputed here."""
import os
import re
import sys

import numpy as np
import pytest
from PIL import Image

from minicnn import Dense, Flatten, ReLU, Sequential, checkpoint, models, neighbours
from minicnn.data import cifar10, fashion_mnist, image_folder, run_splits
from minicnn.data.loader import resize_nearest
from minicnn.neighbours import hidden_features, nearest
from minicnn.plots import neighbours_figure, save_neighbours
from minicnn.towers import two_tower
from minicnn.weights import model_from_checkpoint

from fake_data import write_fake_cifar, write_fake_fashion
from figures import saved_sizes

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
import neighbours as neighbours_script  # noqa: E402 (examples/neighbours.py)

CLASSES = [f"class {i}" for i in range(10)]


def loop_nearest(queries, pool, k):
    """The k nearest rows of ``pool`` to each query, one distance at a time, ties by index."""
    indices, distances = [], []
    for q in queries:
        measured = [(float(np.linalg.norm(q - p)), i) for i, p in enumerate(pool)]
        best = sorted(measured)[:k]
        indices.append([i for _, i in best])
        distances.append([d for d, _ in best])
    return np.array(indices), np.array(distances)


@pytest.mark.parametrize("pool_rows", [3, 4096])
def test_nearest_rows_are_those_a_loop_over_every_distance_finds(pool_rows, monkeypatch):
    """Against np.linalg.norm of every difference; the pool taken 3 rows at a time gives the same."""
    monkeypatch.setattr(neighbours, "POOL_ROWS", pool_rows)
    rng = np.random.default_rng(0)
    pool, queries = rng.standard_normal((40, 7)), rng.standard_normal((5, 7))
    found = nearest(queries, pool, k=6)
    indices, distances = loop_nearest(queries, pool, 6)
    np.testing.assert_array_equal(found.indices, indices)
    np.testing.assert_allclose(found.distances, distances, rtol=1e-12)
    assert found.indices.dtype == np.int64 and found.distances.shape == (5, 6)
    everyone = nearest(queries, pool, k=len(pool))   # k may be the whole pool: every row, ranked
    np.testing.assert_array_equal(everyone.indices, loop_nearest(queries, pool, len(pool))[0])


def test_equal_distances_go_by_index_and_a_query_in_the_pool_finds_itself_first(monkeypatch):
    monkeypatch.setattr(neighbours, "POOL_ROWS", 2)   # the ties fall in different parts of the pool
    pool = np.array([[3.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0], [0.0, 0.0]])
    found = nearest(np.array([[0.0, 0.0], [3.0, 0.0]]), pool, k=5)
    assert found.indices.tolist() == [[5, 1, 2, 3, 4], [0, 2, 5, 1, 3]]
    np.testing.assert_allclose(found.distances[0], [0, 1, 1, 1, 1])
    np.testing.assert_allclose(found.distances[1], [0, 2, 3, np.sqrt(10), np.sqrt(10)])


@pytest.mark.parametrize("queries, pool, k, message", [
    (np.zeros((2, 3)), np.zeros((4, 2)), 1, "queries (Q, D) and pool (P, D) must be matrices of the same D, got "
                                            "(2, 3) and (4, 2)"),
    (np.zeros(3), np.zeros((4, 3)), 1, "got (3,) and (4, 3)"),
    (np.zeros((2, 3)), np.zeros((4, 3)), 5, "k must be an integer from 1 to the pool's 4 rows, got 5"),
    (np.zeros((2, 3)), np.zeros((4, 3)), 0, "got 0"),
    (np.zeros((2, 3)), np.zeros((4, 3)), 2.0, "got 2.0"),
])
def test_what_nearest_cannot_measure_is_named(queries, pool, k, message):
    with pytest.raises(ValueError, match="nearest: .*" + re.escape(message)):
        nearest(queries, pool, k)


def test_the_features_are_the_networks_layers_run_in_turn_to_the_last_hidden_one():
    """By default the input of the last layer (fc8 reads relu7's output, dropout being the identity
    at test time); a layer named, its output; any batch size gives the same rows."""
    net = models.alexnet_small(width=4, dtype=np.float64, seed=1)
    images = np.random.default_rng(2).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    x = (images[:, None] / 255.0 - 0.3) / 0.4
    by_hand = {}
    for name, layer in net.named_children():
        x = by_hand[name] = layer.forward(x, train=False)
    features = hidden_features(net, images, 0.3, 0.4, batch_size=3)
    assert features.shape == (7, 256) and features.dtype == np.float64
    np.testing.assert_allclose(features, by_hand["drop7"], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(by_hand["drop7"], by_hand["relu7"])   # the dropout passes it on as it is
    np.testing.assert_allclose(hidden_features(net, images[:, None], 0.3, 0.4), features, rtol=1e-12, atol=1e-12)
    pooled = hidden_features(net, images, 0.3, 0.4, layer="pool5", batch_size=7)
    np.testing.assert_allclose(pooled, by_hand["pool5"].reshape(7, -1), rtol=1e-12, atol=1e-12)
    assert hidden_features(net, images[:0], 0.3, 0.4).shape[0] == 0
    wider = models.alexnet_small(width=4, input_size=32, dtype=np.float64, seed=1)   # 28-px pictures resized to 32
    np.testing.assert_array_equal(hidden_features(wider, images, 0.3, 0.4, size=32, batch_size=3),
                                  hidden_features(wider, resize_nearest(images[:, None], 32), 0.3, 0.4, batch_size=3))
    head = Sequential([("flatten", Flatten()), ("fc1", Dense(784, 5, dtype=np.float64)), ("relu", ReLU()),
                       ("fc2", Dense(5, 3, dtype=np.float64))])   # what fc2 reads: the ReLU's output, >= 0
    x = (images[:, None] / 255.0 - 0.3) / 0.4
    hidden = head["fc1"].forward(head["flatten"].forward(x, train=False), train=False)
    assert hidden.min() < 0
    np.testing.assert_allclose(hidden_features(head, images, 0.3, 0.4), np.maximum(hidden, 0), rtol=1e-12, atol=1e-12)


def test_what_hidden_features_cannot_run_is_named():
    net = models.alexnet_small(width=4)
    images = np.zeros((2, 28, 28), np.uint8)
    with pytest.raises(ValueError, match=r"hidden_features: the network has no layer 'fc9'; its layers are conv1, "
                                         r"relu1, norm1, .*, fc8$"):
        hidden_features(net, images, layer="fc9")
    with pytest.raises(TypeError, match=r"uint8 pixels .*, got a float64 array of shape \(2, 28, 28\) \(floats in"):
        hidden_features(net, images / 255.0)
    with pytest.raises(TypeError, match="runs a Sequential's layers in turn, got a TwoTowerNet"):
        hidden_features(two_tower(models.alexnet_small(width=4, lrn_groups=2)), images)
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        hidden_features(net, images, device="gpu")
    for setting, message in ((dict(batch_size=0), r"batch_size \(or None\) must be an integer >= 1, got 0"),   # default
                             (dict(size=0), r"size \(or None\) must be an integer >= 1, got 0"),
                             (dict(std=0), r"std must be a finite number > 0, or one per channel, got 0")):   # NaNs
        with pytest.raises(ValueError, match=rf"^hidden_features: {message}$"):
            hidden_features(net, images, **setting)


def test_the_figure_shows_each_query_then_its_neighbours_the_other_classes_in_red(tmp_path):
    rng = np.random.default_rng(3)
    queries, pool = rng.integers(0, 256, (2, 8, 8), dtype=np.uint8), rng.integers(0, 256, (9, 1, 8, 8), dtype=np.uint8)
    found = neighbours.Neighbours(np.array([[4, 0, 7], [2, 3, 8]]), np.zeros((2, 3)))
    classes = ["boot", "a class of a rather long name", "shirt"]
    query_labels, pool_labels = np.array([0, 2]), np.array([0, 1, 2, 2, 0, 1, 1, 0, 2])
    fig = neighbours_figure(queries, pool, found, classes, query_labels, pool_labels)
    axes = np.array(fig.axes).reshape(2, 4)
    for row in range(2):
        np.testing.assert_array_equal(axes[row, 0].get_images()[0].get_array(), queries[row])
        for ax, index in zip(axes[row, 1:], found.indices[row]):
            np.testing.assert_array_equal(ax.get_images()[0].get_array(), pool[index, 0])
    assert [ax.get_title() for ax in axes[0]] == ["test: boot", "boot", "boot", "boot"]
    assert [ax.get_title() for ax in axes[1]] == ["test: shirt", "shirt", "shirt", "shirt"]
    found = neighbours.Neighbours(np.array([[5, 4, 2]]), np.zeros((1, 3)))
    axes = neighbours_figure(queries[:1], pool, found, classes, query_labels, pool_labels, "pixels").axes
    assert [ax.get_title() for ax in axes] == ["test: boot", "a class of a \u2026", "boot", "shirt"]
    assert [ax.title.get_color() for ax in axes[1:]] == ["tab:red", "black", "tab:red"]
    assert axes[0].figure.texts[0].get_text() == "The 3 training images nearest to each test image in pixels"
    colour = rng.integers(0, 256, (9, 3, 8, 8), dtype=np.uint8)
    axes = neighbours_figure(colour[:1], colour, found, classes, query_labels, pool_labels).axes
    np.testing.assert_array_equal(axes[1].get_images()[0].get_array(), colour[5].transpose(1, 2, 0))
    save_neighbours(queries[:1], pool, found, classes, query_labels, pool_labels, tmp_path / "neighbours.png")
    with Image.open(tmp_path / "neighbours.png") as png:
        assert png.size == (550, 195)   # (1.3 x 4 + 0.3) x (1.45 + 0.5) inches at 100 dpi


def run_checkpoint(tmp_path, **config):
    """A checkpoint of a small network as train_alexnet.py records its run on the fake Fashion-MNIST
    of ``tmp_path / "fashion"`` (64 training images, 16 test), ``config`` changing its record."""
    write_fake_fashion(tmp_path / "fashion")
    architecture = dict(name="alexnet_small", num_classes=10, in_channels=1, width=4, input_size=28)
    record = dict(architecture=architecture, input_size=28, mean=[0.3], std=[0.4], dataset="fashion-mnist",
                  data=str(tmp_path / "fashion"), val_size=10, limit=0, classes=CLASSES)
    record.update(config)
    path = tmp_path / "run" / "checkpoint.npz"
    os.makedirs(path.parent, exist_ok=True)
    checkpoint.save(str(path), models.build(**record["architecture"], seed=5), None, dict(
        model="alexnet_small", epoch=1, split="none", config=record))
    return path


def test_the_script_searches_the_images_the_run_trained_on_and_draws_the_first_test_images(tmp_path, capsys):
    """The pool is the run's training images (its --val-size held out), the queries its first test
    images; each printed neighbour, distance and the two same-class shares are recomputed here."""
    path = run_checkpoint(tmp_path)
    neighbours_script.main(["--weights", str(path), "--count", "2", "--k", "3", "--score", "16", "--no-progress"])
    printed = capsys.readouterr().out.splitlines()
    net, _ = model_from_checkpoint(path)
    splits = run_splits(fashion_mnist.load("train", tmp_path / "fashion"), fashion_mnist.load("test", tmp_path / "fashion"),
                        10, 0)
    (pool_x, pool_y), (test_x, test_y) = splits["train"], splits["test"]
    assert len(pool_y) == 54
    found = nearest(hidden_features(net, test_x, [0.3], [0.4]), hidden_features(net, pool_x, [0.3], [0.4]), 3)
    in_pixels = nearest(test_x.reshape(16, -1), pool_x.reshape(54, -1), 3)
    assert printed[0] == ("54 training images of fashion-mnist (its training set's from image 10 on), 256 values each "
                          "in the last hidden layer; each test image's nearest, as index in the training set, class "
                          "(distance):")
    for i in range(2):
        assert printed[1 + i] == f"test image {i} ({CLASSES[test_y[i]]}): " + ", ".join(
            f"{10 + j} {CLASSES[pool_y[j]]} ({d:.3g})" for j, d in zip(found.indices[i], found.distances[i]))
    same = [(pool_y[f.indices] == test_y[:, None]).mean() for f in (found, in_pixels)]
    assert printed[3] == (f"of the 3 nearest training images to each of the first 16 test images, of its class: "
                          f"{same[0]:.1%} in the last hidden layer, {same[1]:.1%} in the pixels")
    assert printed[4] == f"written: {tmp_path / 'run' / 'neighbours.png'}"
    with Image.open(tmp_path / "run" / "neighbours.png") as png:
        assert png.size == (550, 340)   # 2 rows of 1 + 3 pictures
    resized = run_checkpoint(tmp_path / "resized", input_size=32,
                             architecture=dict(name="alexnet_small", num_classes=10, width=4, input_size=32))
    neighbours_script.main(["--weights", str(resized), "--count", "1", "--score", "4", "--no-progress"])
    assert capsys.readouterr().out.splitlines()[-1] == f"written: {resized.parent / 'neighbours.png'}"
    neighbours_script.main(["--weights", str(path), "--count", "1", "--score", "0", "--layer", "pool5", "--out",
                            str(tmp_path / "pool5.png"), "--no-progress"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("54 training images of fashion-mnist (its training set's from image 10 on), 32 values "
                                 "each in layer pool5;")   # 8 maps of 2 x 2
    assert len(printed) == 3 and (tmp_path / "pool5.png").is_file()


def test_what_the_script_cannot_search_is_named(tmp_path, capsys):
    path = run_checkpoint(tmp_path)
    arrays_run = run_checkpoint(tmp_path / "arrays", dataset=None)   # minicnn.train.fit on arrays of its own
    towers_run = tmp_path / "towers.npz"
    architecture = dict(name="alexnet_small", num_classes=10, in_channels=1, width=4, input_size=28)
    checkpoint.save(str(towers_run), two_tower(models.build(**architecture, lrn_groups=2)), None, dict(
        model="alexnet_small", epoch=1, split="two-device", config=dict(architecture=architecture, dataset="fashion-mnist",
                                                                         mean=[0.3], std=[0.4])))
    (tmp_path / "a-file").write_text("")
    for args, message in (
            (["--weights", str(arrays_run)], f"error: {arrays_run} is not a run on fashion-mnist, cifar10 or an image "
                                             f"folder (its data: not recorded); for arrays of your own, use "
                                             f"minicnn.neighbours from Python"),
            (["--weights", str(towers_run)], f"error: {towers_run} is a run of the two-device split; convert its "
                                             f"checkpoint to the single-device network first"),
            (["--weights", str(path), "--layer", "fc9"], "error: --layer fc9: the network has no such layer; its "
                                                         "layers are conv1, relu1, "),
            (["--weights", str(path), "--k", "55"], "error: --k 55: the run trained on 54 images"),
            (["--weights", str(path), "--out", str(tmp_path / "a-file" / "x.png")], f"error: --out "
                                                                                    f"{tmp_path / 'a-file' / 'x.png'}: "
                                                                                    f"its folder"),
            (["--weights", str(path), "--data", str(tmp_path / "nothing")], "error: "),
            (["--weights", str(tmp_path / "missing.npz")], "error: ")):
        with pytest.raises(SystemExit) as stopped:
            neighbours_script.main(args + ["--no-progress"])
        assert str(stopped.value).startswith(message), (args, str(stopped.value))


def test_the_features_on_the_kernels_are_the_cpus(kernel_device):
    """hidden_features through minicnn's CUDA kernels (on a GPU, or under the simulator) gives the
    NumPy code's features, in float64 to its rounding."""
    images = np.random.default_rng(4).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    on_cpu = hidden_features(models.alexnet_small(width=4, dtype=np.float64, seed=2), images, 0.3, 0.4)
    on_kernels = hidden_features(models.alexnet_small(width=4, dtype=np.float64, seed=2).to(kernel_device), images,
                                 0.3, 0.4, device=kernel_device, batch_size=4)
    np.testing.assert_allclose(on_kernels, on_cpu, rtol=1e-10, atol=1e-12)


def test_the_script_on_a_cifar10_run_of_limited_images_searches_those_it_trained_on(tmp_path, capsys):
    """Colour pictures, and a run of --limit 60 --val-size 5000: it trained on the first 60 training
    images but the 6 it held out (a tenth, at most), and was tested on the first 12 test images."""
    write_fake_cifar(tmp_path / "cifar")
    architecture = dict(name="alexnet_small", num_classes=10, in_channels=3, width=4, input_size=32)
    path = tmp_path / "run" / "checkpoint.npz"
    os.makedirs(path.parent)
    checkpoint.save(str(path), models.build(**architecture, seed=6), None, dict(model="alexnet_small", epoch=1,
                    split="none", config=dict(architecture=architecture, input_size=32, mean=[0.5, 0.5, 0.4],
                                              std=[0.25, 0.25, 0.25], dataset="cifar10", data=str(tmp_path / "cifar"),
                                              val_size=5000, limit=60, classes=CLASSES)))
    neighbours_script.main(["--weights", str(path), "--count", "3", "--k", "2", "--no-progress"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("54 training images of cifar10 (its training set's from image 6 on), 256 values")
    assert printed[4].startswith("of the 2 nearest training images to each of the first 12 test images, of its class:")
    train_x, _ = cifar10.load("train", tmp_path / "cifar")
    net, _ = model_from_checkpoint(path)
    first = int(printed[1].split(": ")[1].split()[0])   # the first test image's nearest, by its index in the set
    found = nearest(hidden_features(net, cifar10.load("test", tmp_path / "cifar")[0][:1], [0.5, 0.5, 0.4],
                                    [0.25, 0.25, 0.25]),
                    hidden_features(net, train_x[6:60], [0.5, 0.5, 0.4], [0.25, 0.25, 0.25]), 1)
    assert first == 6 + found.indices[0, 0]
    with Image.open(tmp_path / "run" / "neighbours.png") as png:
        assert png.mode == "RGBA" and png.size in saved_sizes(1.3 * 3 + 0.3, 1.45 * 3 + 0.5)   # 3 rows of 1 + 2 pictures


def test_the_script_on_an_image_folders_run_searches_its_training_split_by_the_centre_crops(tmp_path, capsys,
                                                                                           monkeypatch):
    """A run on photos (finetune.py's or train_alexnet.py --data FOLDER): the folder's training
    split is the pool, its test split the queries, each named by its file, seen through the centre
    crop the run tested with; no search in the pixels."""
    from test_evaluate import PHOTO_CLASSES, photo_network, write_photos
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    folder = write_photos(str(tmp_path / "pets"), PHOTO_CLASSES, per_class=10)
    model, config = photo_network(tmp_path / "run" / "checkpoint.npz", data=folder)
    neighbours_script.main(["--weights", str(tmp_path / "run" / "checkpoint.npz"), "--count", "2", "--k", "3",
                            "--no-progress"])
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("preparing")]
    splits = image_folder.load_splits(folder)
    (pool_x, pool_y), (test_x, test_y) = splits["train"], splits["test"]
    found = nearest(hidden_features(model, test_x, config["mean"], config["std"], crop=64),
                    hidden_features(model, pool_x, config["mean"], config["std"], crop=64), 3)
    assert printed[0] == (f"{len(pool_y)} training images of {folder} (the run's training split), 256 values each in "
                          f"the last hidden layer; each test image's nearest, as file in the folder, class (distance):")
    for i in range(2):
        assert printed[1 + i] == f"test image {os.path.relpath(splits['test_files'][i], folder)} " \
                                 f"({PHOTO_CLASSES[test_y[i]]}): " + ", ".join(
            f"{os.path.relpath(splits['train_files'][j], folder)} {PHOTO_CLASSES[pool_y[j]]} ({d:.3g})"
            for j, d in zip(found.indices[i], found.distances[i]))
    share = (pool_y[found.indices] == test_y[:, None]).mean()
    assert printed[3] == (f"of the 3 nearest training images to each of the first {len(test_y)} test images, of its "
                          f"class: {share:.1%} in the last hidden layer")
    for i, name in enumerate(splits["train_files"]):   # each name is the file whose pixels the pool holds
        assert np.array_equal(pool_x[i], image_folder.decode(name))
    finetuned = {k: v for k, v in config.items() if k != "dataset"}   # finetune.py records no data set, a crop
    checkpoint.save(str(tmp_path / "finetuned.npz"), model, None, dict(model="alexnet_small", epoch=1, split="none",
                                                                       config=finetuned))
    neighbours_script.main(["--weights", str(tmp_path / "finetuned.npz"), "--count", "2", "--k", "3", "--no-progress"])
    assert [line for line in capsys.readouterr().out.splitlines() if not line.startswith("preparing")][:4] == \
        printed[:4]
    photo_network(tmp_path / "moved.npz", data=str(tmp_path / "gone"))
    with pytest.raises(SystemExit, match=re.escape(f"error: the image folder {tmp_path / 'moved.npz'}'s run trained "
                                                   f"on ({tmp_path / 'gone'}) is not there: give it with --data")):
        neighbours_script.main(["--weights", str(tmp_path / "moved.npz"), "--no-progress"])
