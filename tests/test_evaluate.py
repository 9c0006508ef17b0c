"""examples/evaluate.py: a network's figures on its run's own test set are its run's, an ensemble's
are those of its averaged probabilities (computed here from each network's forward pass), and a
labelled image folder is matched to the network's classes and seen as in training."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from minicnn import checkpoint, models
from minicnn.data import fashion_mnist, image_folder
from minicnn.data.loader import center_crop, ten_crops
from minicnn.inference import normalise
from minicnn.losses import softmax
from minicnn.weights import model_from_checkpoint

from fake_data import write_fake_cifar, write_fake_fashion

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import evaluate  # noqa: E402

PHOTO_CLASSES = ["birds", "cats", "dogs"]


def train(data, out, seed, *flags):
    """A one-epoch train_alexnet.py run on the fake data set in ``data``, into ``out``."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_alexnet.py"), "--no-progress",
                           "--data", data, "--out", out, "--epochs", "1", "--val-size", "8", "--batch-size", "16",
                           "--width", "4", "--seed", str(seed), *flags], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return os.path.join(out, "checkpoint.npz")


def test_a_run_trained_on_shifted_crops_is_tested_on_the_ten_the_paper_took(tmp_path, capsys):
    """--ten-crop on a small-image run trained with --augment: each test picture padded with 2
    black pixels as training padded it, shifted to the four corners and left in the centre, and
    mirrored; the ten softmax outputs averaged; the run's own test gave the same figures."""
    data = str(tmp_path / "data")
    write_fake_fashion(data, n_test=12)
    run = train(data, str(tmp_path / "run"), 0, "--augment")
    out = tmp_path / "evaluation"
    evaluate.main(["--weights", run, "--ten-crop", "--out", str(out), "--no-progress"])
    assert capsys.readouterr().out.splitlines()[0] == "testing on 12 images of the fashion-mnist test set, through " \
                                                      "the ten crops"
    model, config = model_from_checkpoint(run)
    images, labels = fashion_mnist.load("test", data)
    padded = np.zeros((12, 1, 32, 32), np.uint8)
    padded[:, 0, 2:30, 2:30] = images
    shifts = [padded[..., t:t + 28, u:u + 28] for t, u in ((0, 0), (0, 4), (4, 0), (4, 4), (2, 2))]
    assert (shifts[4][:, 0] == images).all()   # the centre crop is the picture
    probs = np.mean([softmax(model.forward(normalise(v, config["mean"], config["std"]), train=False)).astype(np.float64)
                     for v in shifts + [v[..., ::-1] for v in shifts]], axis=0)
    expected, result = reference_figures(probs, labels), json.loads((out / "evaluation.json").read_text())
    assert (result["top1"], result["top5"], result["views"]) == (expected["top1"], expected["top5"], "ten")
    assert result["loss"] == pytest.approx(expected["loss"], rel=1e-9)
    run_figures = json.loads((tmp_path / "run" / "test_metrics.json").read_text())   # the run tested itself so too
    assert (run_figures["ten_crop_top1"], run_figures["ten_crop_top5"]) == (expected["top1"], expected["top5"])


def reference_figures(probs, labels):
    """loss (float64 cross-entropy of the probabilities), top-1 and top-5, by the definitions."""
    order = np.argsort(-probs, axis=1, kind="stable")
    return dict(loss=float(-np.log(probs[np.arange(len(labels)), labels]).mean()),
                top1=float(np.mean(order[:, 0] == labels)),
                top5=float(np.mean((order[:, :5] == labels[:, None]).any(axis=1))))


def assert_first_top5(rows, probabilities, labels, indices, rtol):
    """``rows`` ("first_top5") are the five most probable classes of each of ``probabilities``."""
    assert [(row["index"], row["label"]) for row in rows] == list(zip(indices, np.asarray(labels).tolist()))
    for row, p in zip(rows, probabilities):
        assert [k for k, _ in row["top5"]] == np.argsort(-p, kind="stable")[:5].tolist()
        np.testing.assert_allclose([q for _, q in row["top5"]], np.sort(p)[::-1][:5], rtol=rtol)


def test_a_run_s_own_test_set_gives_its_figures_and_an_ensemble_its_averaged_probabilities(tmp_path, capsys):
    data = str(tmp_path / "data")
    write_fake_fashion(data, n_test=40)
    runs = [train(data, str(tmp_path / f"run{seed}"), seed) for seed in (0, 1)]
    out = tmp_path / "evaluation"
    evaluate.main(["--weights", runs[0], "--out", str(out), "--no-progress"])
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == "testing on 40 images of the fashion-mnist test set, through whole pictures"
    run = json.loads((tmp_path / "run0" / "test_metrics.json").read_text())
    result = json.loads((out / "evaluation.json").read_text())
    assert result["top1"] == run["top1"] and result["top5"] == run["top5"] and result["confusion"] == run["confusion"]
    assert result["loss"] == pytest.approx(run["loss"], rel=1e-5)   # fit's from the logits, here from probabilities
    assert result["per_class_top1"] == run["per_class_top1"] and result["images"] == 40
    assert [[k for k, _ in row["top5"]] for row in result["first_top5"]] == \
        [[k for k, _ in row["top5"]] for row in run["first_top5"]]   # fit drew the same first eight
    assert [(r["index"], r["label"], r["predicted"]) for r in result["largest_losses"]] == \
        [(r["index"], r["label"], r["predicted"]) for r in run["largest_losses"]]
    assert sorted(os.listdir(out)) == ["confusion.png", "evaluation.json", "largest_losses.png", "top5.png"]
    assert shown[-1] == f"written to {out}: evaluation.json, confusion.png, largest_losses.png, top5.png"

    # two networks: each one's figures, and those of their probabilities averaged; the first eight
    # images with the ensemble's five most probable classes
    evaluate.main(["--weights", runs[0], "--weights", runs[1], "--out", str(out), "--no-progress"])
    shown = capsys.readouterr().out.splitlines()
    images, labels = fashion_mnist.load("test", data)
    probs = []
    for path in runs:
        model, config = model_from_checkpoint(path)
        probs.append(softmax(model.forward(normalise(images[:, None], config["mean"], config["std"]),
                                           train=False)).astype(np.float64))
    result = json.loads((out / "evaluation.json").read_text())
    for path, member, p in zip(runs, result["members"], probs):
        expected = reference_figures(p, labels)
        assert member["weights"] == path and member["top1"] == expected["top1"] and member["top5"] == expected["top5"]
        assert member["loss"] == pytest.approx(expected["loss"], rel=1e-9)
        assert f"{path}: loss {member['loss']:.4f}, top-1 accuracy {member['top1']:.4f}, top-5" in "\n".join(shown)
    ensemble = np.mean(probs, axis=0)
    expected = reference_figures(ensemble, labels)
    assert (result["top1"], result["top5"]) == (expected["top1"], expected["top5"])
    assert result["loss"] == pytest.approx(expected["loss"], rel=1e-9)
    assert shown[3].startswith(f"ensemble of 2: loss {expected['loss']:.4f}, top-1 accuracy {expected['top1']:.4f}")
    counts = np.zeros((10, 10), int)
    np.add.at(counts, (labels, ensemble.argmax(axis=1)), 1)
    assert result["confusion"] == counts.tolist()
    losses = -np.log(ensemble[np.arange(len(labels)), labels])
    assert [r["index"] for r in result["largest_losses"]] == list(np.argsort(-losses, kind="stable")[:16])
    assert_first_top5(result["first_top5"], ensemble[:8], labels[:8], range(8), rtol=1e-12)
    evaluate.main(["--weights", runs[0], "--out", str(out), "--no-progress", "--batch-size", "3"])   # 8 of 3 a batch
    result = json.loads((out / "evaluation.json").read_text())   # (float32 sums over other batches)
    assert_first_top5(result["first_top5"], probs[0][:8], labels[:8], range(8), rtol=1e-5)


def test_a_cifar10_run_limited_to_some_images_is_tested_on_those_it_was(tmp_path, capsys):
    """CIFAR-10's colour pictures, and --limit: the run tested on the first limit/5 test images, and
    so does evaluate.py, with the run's figures."""
    data = str(tmp_path / "cifar")
    write_fake_cifar(data, per_batch=30)
    run = train(data, str(tmp_path / "run"), 0, "--dataset", "cifar10", "--limit", "100")
    evaluate.main(["--weights", run, "--out", str(tmp_path / "evaluation"), "--no-progress"])
    assert capsys.readouterr().out.splitlines()[0] == \
        "testing on 20 images of the cifar10 test set (its first 20, as the run's), through whole pictures"
    tested = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    result = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    for key in ("top1", "top5", "confusion"):
        assert result[key] == tested[key], key
    assert result["loss"] == pytest.approx(tested["loss"], rel=1e-5)


def write_photos(root, classes, per_class=3, seed=0):
    """Pictures of other sizes and shapes in ``root``/<class>/, each class of its own colour."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            picture = rng.integers(0, 90, (70 + 13 * i, 90 - 7 * i, 3), dtype=np.uint8)
            picture[..., c % 3] += 120
            Image.fromarray(picture).save(os.path.join(root, name, f"{i}.png"))
    return root


def photo_network(path, data=None, seed=0):
    """The checkpoint at ``path`` of a network trained on photos of PHOTO_CLASSES (a folder run's
    record, ``data`` its folder): alexnet_small on 3-channel 64x64 crops, small enough to test."""
    architecture = dict(name="alexnet_small", num_classes=3, in_channels=3, width=4, input_size=64)
    model = models.build(**architecture, seed=seed)
    config = dict(architecture=architecture, model_name="alexnet_small", crop=64, input_size=64, dataset="folder",
                  data=data, holdout="stratified", mean=[0.4, 0.45, 0.5], std=[0.2, 0.25, 0.3],
                  classes=PHOTO_CLASSES)
    checkpoint.save(str(path), model, None, dict(model="alexnet_small", epoch=1, split="none", config=config))
    return model, config


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))


def photo_reference(model, config, files, labels, views="center"):
    """The figures of ``model`` on the picture files, each decoded as training stores it."""
    stored = np.stack([image_folder.decode(f) for f in files])
    crops = ten_crops(stored, 64) if views == "ten" else center_crop(stored, 64)[None]
    probs = np.mean([softmax(model.forward(normalise(v, config["mean"], config["std"]), train=False))
                     for v in crops], axis=0).astype(np.float64)
    return reference_figures(probs, np.asarray(labels))


@pytest.mark.parametrize("views", ["center", "ten"])
def test_a_labelled_folder_of_some_of_the_classes_is_matched_by_name(tmp_path, cache, capsys, views):
    model, config = photo_network(tmp_path / "net.npz")
    folder = write_photos(str(tmp_path / "mine"), ["cats", "dogs"])   # two of the network's three classes
    out = tmp_path / "out"
    evaluate.main(["--weights", str(tmp_path / "net.npz"), "--data", folder, "--out", str(out), "--no-progress"]
                  + (["--ten-crop"] if views == "ten" else []))
    shown = capsys.readouterr().out.splitlines()
    files = [os.path.join(folder, c, f"{i}.png") for c in ("cats", "dogs") for i in range(3)]
    expected = photo_reference(model, config, files, [1, 1, 1, 2, 2, 2], views)
    result = json.loads((out / "evaluation.json").read_text())
    assert (result["top1"], result["top5"]) == (expected["top1"], expected["top5"])
    assert result["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    assert list(result["per_class_top1"]) == ["cats", "dogs"]   # not birds, of which there are none here
    assert result["views"] == views and result["data"] == folder and result["images"] == 6
    assert {r["file"]: r["label"] for r in result["largest_losses"]} == dict(zip(files, [1, 1, 1, 2, 2, 2]))
    crop = "the ten crops" if views == "ten" else "the centre crop"
    assert shown[:2] == ["preparing 6 images into the cache (once: later runs reuse it)",
                         f"testing on 6 images of {folder}, through {crop}"]
    wrong = [r for r in result["largest_losses"] if r["predicted"] != r["label"]]
    if wrong:   # named on the screen, the largest loss first
        assert shown[shown.index("wrongly classified, the largest losses first:") + 1] == (
            f"  {wrong[0]['file']}: {PHOTO_CLASSES[wrong[0]['label']]}, said {PHOTO_CLASSES[wrong[0]['predicted']]} "
            f"{wrong[0]['probability']:.0%}")


def test_class_folders_named_otherwise_are_taken_in_order_or_refused_before_decoding(tmp_path, cache, capsys,
                                                                                      monkeypatch):
    """ImageNet's val/ in synset folders against a network's class names: as many folders as
    classes are taken in sorted order, as torchvision numbers them; folders of names the network
    lacks, beside some it has, are refused before any picture is decoded."""
    model, config = photo_network(tmp_path / "net.npz")
    synsets = ["n01", "n02", "n03"]
    folder = write_photos(str(tmp_path / "val"), synsets, per_class=2)
    evaluate.main(["--weights", str(tmp_path / "net.npz"), "--data", folder, "--no-progress"])
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == (f"the class folders of {folder} name none of the network's classes: taken in sorted order "
                        f"(n01 as birds, n02 as cats, ...)")
    files = [os.path.join(folder, s, f"{i}.png") for s in synsets for i in range(2)]
    expected = photo_reference(model, config, files, [0, 0, 1, 1, 2, 2])
    assert shown[3].startswith(f"test: loss {expected['loss']:.4f}, top-1 accuracy {expected['top1']:.4f}")
    mixed = write_photos(str(tmp_path / "mixed"), ["cats", "horses"], per_class=1)
    monkeypatch.setattr(image_folder, "decode", lambda *a: pytest.fail("decoded before the classes were checked"))
    with pytest.raises(SystemExit, match=re.escape(f"error: the class folders horses of {mixed} are none of the "
                                                   f"network's 3 classes (birds, cats, dogs); a test folder holds "
                                                   f"folders of the network's classes")):
        evaluate.main(["--weights", str(tmp_path / "net.npz"), "--data", mixed])


def test_the_folder_a_run_trained_on_gives_the_test_images_it_held_out(tmp_path, cache, capsys):
    """--data naming the run's own folder (no val/) tests the tenth it held out, as the run did,
    not all its pictures, most of which it trained on; a folder of train/ and val/ tests val/;
    without --data, the run's recorded folder, and a recorded folder gone is named."""
    folder = write_photos(str(tmp_path / "pets"), PHOTO_CLASSES, per_class=10)
    model, config = photo_network(tmp_path / "net.npz", data=folder)
    held = image_folder.load_splits(folder)
    for given in (["--data", folder], []):
        evaluate.main(["--weights", str(tmp_path / "net.npz"), "--no-progress", *given])
        shown = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("preparing")]
        assert shown[0] == f"testing on 3 images of the tenth of each class of {folder} held out for testing, " \
                           f"through the centre crop"
        expected = photo_reference(model, config, held["test_files"], held["test"][1])
        assert shown[1].startswith(f"test: loss {expected['loss']:.4f}, top-1 accuracy {expected['top1']:.4f}")
    both = tmp_path / "both"
    write_photos(str(both / "train"), PHOTO_CLASSES, per_class=2)
    write_photos(str(both / "val"), PHOTO_CLASSES, per_class=1, seed=5)
    evaluate.main(["--weights", str(tmp_path / "net.npz"), "--data", str(both), "--no-progress"])
    assert f"testing on 3 images of {both / 'val'}, through the centre crop" in capsys.readouterr().out.splitlines()
    photo_network(tmp_path / "moved.npz", data=str(tmp_path / "gone"))
    with pytest.raises(SystemExit, match=re.escape(f"error: the image folder {tmp_path / 'moved.npz'}'s run was "
                                                   f"tested on, {tmp_path / 'gone'}, is not there")):
        evaluate.main(["--weights", str(tmp_path / "moved.npz")])
    evaluate.main(["--weights", str(tmp_path / "moved.npz"), "--data", folder, "--no-progress"])   # all of it
    assert f"testing on 30 images of {folder}, through the centre crop" in capsys.readouterr().out.splitlines()


def test_a_network_of_small_pictures_sees_photos_as_predict_shows_them(tmp_path, cache, capsys):
    """A Fashion-MNIST network on a folder of photos (--invert: things on a light background):
    each picture's guess and probability are predict.py's for that file."""
    import predict
    architecture = dict(name="alexnet_small", num_classes=10, in_channels=1, width=4, input_size=28)
    config = dict(architecture=architecture, model_name="alexnet_small", input_size=28, image_size=28, mean=0.3,
                  std=0.4, classes=list(fashion_mnist.CLASSES), dataset="fashion-mnist")
    checkpoint.save(str(tmp_path / "net.npz"), models.build(**architecture, seed=4), None,
                    dict(model="alexnet_small", epoch=1, split="none", config=config))
    folder = write_photos(str(tmp_path / "shop"), ["Bag", "Sneaker", "Trouser"], per_class=2)
    out = tmp_path / "out"
    evaluate.main(["--weights", str(tmp_path / "net.npz"), "--data", folder, "--invert", "--out", str(out),
                   "--no-progress"])
    capsys.readouterr()
    result = json.loads((out / "evaluation.json").read_text())
    predict.main([folder + "/*/*.png", "--weights", str(tmp_path / "net.npz"), "--invert", "--top", "1",
                  "--csv", "-"])
    guesses = {row[0]: (row[1], float(row[2])) for row in
               (line.split(",") for line in capsys.readouterr().out.splitlines()[1:])}
    assert len(result["largest_losses"]) == len(guesses) == 6
    for row in result["largest_losses"]:
        name, probability = guesses[row["file"]]
        assert name == fashion_mnist.CLASSES[row["predicted"]]
        assert probability == pytest.approx(row["probability"], abs=1e-6)


def test_what_cannot_be_evaluated_is_said(tmp_path, cache, capsys):
    model, config = photo_network(tmp_path / "photos.npz")
    architecture = dict(name="alexnet_small", num_classes=10, in_channels=1, width=4, input_size=28)
    checkpoint.save(str(tmp_path / "small.npz"), models.build(**architecture), None, dict(
        model="alexnet_small", epoch=1, split="none", config=dict(architecture=architecture, input_size=28, mean=0.3,
                                                                  std=0.4, dataset="fashion-mnist")))
    from minicnn import weights
    weights.save_npz(models.build("alexnet_small", num_classes=3), tmp_path / "plain.npz")
    for args, message in (
            (["--weights", str(tmp_path / "small.npz"), "--ten-crop"],
             f"error: --ten-crop: {tmp_path / 'small.npz'} was trained on whole 28x28 pictures, without --augment's "
             f"shifted crops, not on crops of photos"),
            (["--weights", str(tmp_path / "photos.npz"), "--data", str(tmp_path), "--invert"],
             "error: --invert is for networks trained on a small-image data set"),
            (["--weights", str(tmp_path / "plain.npz"), "--model", "alexnet_small", "--num-classes", "3"],
             f"error: {tmp_path / 'plain.npz'} records no test set (plain weights, a run of minicnn.train.fit on "
             f"arrays of its own, or a checkpoint of before its data set was recorded): give --data, a labelled "
             f"image folder"),
            (["--weights", str(tmp_path / "photos.npz"), "--data", str(tmp_path / "nothing")],
             f"error: --data image folder {tmp_path / 'nothing'} does not exist"),
            (["--weights", str(tmp_path / "photos.npz")],
             f"error: {tmp_path / 'photos.npz'} does not record the image folder its run was tested on (a "
             f"checkpoint of before it was recorded): give it with --data")):
        with pytest.raises(SystemExit, match=re.escape(message)):
            evaluate.main(args)
    with pytest.raises(SystemExit):   # argparse's: --invert is for --data's pictures
        evaluate.main(["--weights", str(tmp_path / "small.npz"), "--invert"])
    assert "--invert is for pictures of --data" in capsys.readouterr().err


def test_limit_spreads_the_images_evenly_over_the_set():
    assert list(evaluate.evenly_spread(10, 4)) == [0, 3, 6, 9]
    assert list(evaluate.evenly_spread(5, 5)) == list(evaluate.evenly_spread(5, None)) == [0, 1, 2, 3, 4]
    spread = evaluate.evenly_spread(1000, 999)
    assert len(np.unique(spread)) == 999 and spread[0] == 0 and spread[-1] == 999


def test_the_kernel_devices_give_the_cpu_s_figures(tmp_path, kernel_device):
    """An ensemble of two small networks under minicnn's CUDA kernels (the simulator; a GPU where
    there is one): the figures of the CPU's run, to float32's rounding."""
    data = str(tmp_path / "data")
    write_fake_fashion(data, n_test=12)
    paths = []
    for seed in (0, 1):
        architecture = dict(name="alexnet_small", num_classes=10, in_channels=1, width=4, input_size=28)
        config = dict(architecture=architecture, model_name="alexnet_small", input_size=28, image_size=28, mean=0.3,
                      std=0.4, classes=list(fashion_mnist.CLASSES), dataset="fashion-mnist", data=data)
        paths.append(str(tmp_path / f"net{seed}.npz"))
        checkpoint.save(paths[-1], models.build(**architecture, seed=seed), None,
                        dict(model="alexnet_small", epoch=1, split="none", config=config))
    figures = {}
    for device in ("cpu", kernel_device):
        out = tmp_path / device
        evaluate.main(["--weights", paths[0], "--weights", paths[1], "--device", device, "--out", str(out),
                       "--no-progress"])
        figures[device] = json.loads((out / "evaluation.json").read_text())
    cpu, kernels = figures["cpu"], figures[kernel_device]
    assert (kernels["top1"], kernels["top5"], kernels["confusion"]) == (cpu["top1"], cpu["top5"], cpu["confusion"])
    assert kernels["loss"] == pytest.approx(cpu["loss"], rel=1e-5)
    for member, expected in zip(kernels["members"], cpu["members"]):
        assert member["loss"] == pytest.approx(expected["loss"], rel=1e-5)
