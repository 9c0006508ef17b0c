#!/usr/bin/env python3
"""What a trained network takes to be alike: the AlexNet paper's Figure 4, right. For the first
test images of a run, the training images whose activations in the network's last hidden layer
(what its last layer reads: fc7 after its ReLU) lie nearest, drawn a row per test image, and how
often those neighbours are of the test image's class (on small pictures, beside the same search in
the pixels).

    python examples/neighbours.py --weights runs/fashion/checkpoint.npz         # writes runs/fashion/neighbours.png
    python examples/neighbours.py --weights runs/cifar10/checkpoint.npz --count 8 --k 4
    python examples/neighbours.py --weights runs/fashion/checkpoint.npz --layer pool5   # another layer's features
    python examples/neighbours.py --weights runs/finetune/checkpoint.npz       # photos: an image folder's run

The checkpoint's run says which images it trained on, the pool searched, and which it was tested
on: Fashion-MNIST's or CIFAR-10's as its --val-size and --limit divided them (its --data folder,
else the usual places), or an image folder's training and test splits (train_alexnet.py --data
FOLDER, finetune.py), seen through their centre crops. For arrays of your own, use
minicnn.neighbours from Python.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn.arguments import (non_negative_int, plain_warnings, positive_int, run_script, unwritable_file,  # noqa: E402
                               user_path)
from minicnn.backend import check_device  # noqa: E402
from minicnn.data import DATASETS, DataError, image_folder, run_splits  # noqa: E402
from minicnn.neighbours import hidden_features, nearest  # noqa: E402
from minicnn.plots import save_neighbours  # noqa: E402
from minicnn.sequential import Sequential  # noqa: E402
from minicnn.train import batch_progress, preparation_progress, shown_names, without_bars  # noqa: E402
from minicnn.weights import WeightsError, model_from_checkpoint  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=user_path, required=True,
                   help="a training checkpoint of examples/train_alexnet.py or examples/finetune.py (or of "
                        "minicnn.train.fit on a data set of minicnn.data): on Fashion-MNIST, CIFAR-10 or an image "
                        "folder")
    p.add_argument("--count", type=positive_int, default=5,
                   help="test images drawn, the first of the run's test set, a row each (default: 5, the paper's)")
    p.add_argument("--k", type=positive_int, default=6,
                   help="training images shown beside each test image, nearest first (default: 6, the paper's)")
    p.add_argument("--score", type=non_negative_int, default=1000,
                   help="count, over this many of the first test images, how many of the --k nearest are of the "
                        "test image's class, in the hidden layer and, for small pictures, in the pixels (default: "
                        "1000; 0: no count)")
    p.add_argument("--layer", default=None,
                   help="the layer whose output is compared, by its name in the network (default: the last "
                        "hidden layer, whose output the last layer reads)")
    p.add_argument("--data", type=user_path, default=None, metavar="DIR",
                   help="the data set's folder, or the image folder (default: the one the run recorded, else where "
                        "train_alexnet.py looks)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "sim"), help="where to run (default: cpu)")
    p.add_argument("--out", type=user_path, default=None, metavar="FILE",
                   help="the picture (default: neighbours.png beside the checkpoint)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar while the training images go through the network (also when the output "
                        "is no terminal)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    plain_warnings()
    try:
        device = check_device(args.device)
        model, config = model_from_checkpoint(args.weights)
    except (RuntimeError, WeightsError) as exc:
        raise SystemExit(f"error: {exc}")
    dataset = "folder" if config.get("crop") else config.get("dataset")   # finetune.py records a crop
    if dataset not in DATASETS and dataset != "folder":
        raise SystemExit(f"error: {args.weights} is not a run on {', '.join(DATASETS)} or an image folder (its data: "
                         f"{dataset or 'not recorded'}); for arrays of your own, use minicnn.neighbours from Python")
    if not isinstance(model, Sequential):
        raise SystemExit(f"error: {args.weights} is a run of the two-device split; convert its checkpoint to the "
                         f"single-device network first (examples/convert_checkpoint.py)")
    names = [name for name, _ in model.named_children()]
    if args.layer is not None and args.layer not in names:
        raise SystemExit(f"error: --layer {args.layer}: the network has no such layer; its layers are "
                         f"{', '.join(names)}")
    out = args.out or os.path.join(os.path.dirname(args.weights), "neighbours.png")
    problem = unwritable_file(out)
    if problem:   # before a pass over the training images, not after
        raise SystemExit(f"error: --out {out}: {problem}")
    bar = not without_bars(args.no_progress)
    run = photo_splits(args, config, bar) if dataset == "folder" else small_image_splits(args, config, dataset)
    (pool_x, pool_y), (test_x, test_y) = run["train"], run["test"]
    count, score = min(args.count, len(test_y)), min(args.score, len(test_y))
    if args.k > len(pool_y):
        raise SystemExit(f"error: --k {args.k}: the run trained on {len(pool_y)} images")
    model.to(device)
    mean = config.get("mean", DATASETS.get(dataset, {}).get("mean", 0.0))
    std = config.get("std", DATASETS.get(dataset, {}).get("std", 1.0))
    seen = dict(size=config.get("input_size"), crop=config.get("crop"))   # as the run saw them: resized, or cropped
    pool = hidden_features(model, pool_x, mean, std, args.layer, device, progress=batch_progress() if bar else None,
                           **seen)
    queries = hidden_features(model, test_x[:max(count, score)], mean, std, args.layer, device, **seen)
    found = nearest(queries, pool, args.k)
    classes = config.get("classes") or DATASETS[dataset]["classes"]
    where = f"layer {args.layer}" if args.layer else "the last hidden layer"
    print(f"{len(pool_y)} training images of {run['what']}, {pool.shape[1]} values each in {where}; each test "
          f"image's nearest, as {run['named']}, class (distance):")
    for i in range(count):
        print(f"test image {run['test_names'][i]} ({classes[test_y[i]]}): " + ", ".join(
            f"{run['train_names'][j]} {classes[pool_y[j]]} ({d:.3g})" for j, d in zip(found.indices[i], found.distances[i])))
    if score:
        shares = f"{float((pool_y[found.indices[:score]] == test_y[:score, None]).mean()):.1%} in {where}"
        if dataset != "folder":   # photos' pixels, 196,608 values each, are no search to make on every one
            in_pixels = nearest(test_x[:score].reshape(score, -1), pool_x.reshape(len(pool_x), -1), args.k)
            shares += f", {float((pool_y[in_pixels.indices] == test_y[:score, None]).mean()):.1%} in the pixels"
        print(f"of the {args.k} nearest training images to each of the first {score} test images, of its class: "
              f"{shares}")
    first = found._replace(indices=found.indices[:count], distances=found.distances[:count])
    try:
        save_neighbours(test_x[:count], pool_x, first, classes, test_y, pool_y, out, where)
    except OSError as exc:
        raise SystemExit(f"error: cannot write {out} ({exc.strerror or exc})")
    print(f"written: {out}")


def small_image_splits(args, config, dataset):
    """The run's images of Fashion-MNIST or CIFAR-10 (``minicnn.data.run_splits``: its --val-size
    and --limit), each named by its index in the data set's split."""
    try:
        loaded = [DATASETS[dataset]["load"](split, args.data or config.get("data")) for split in ("train", "test")]
        splits = run_splits(*loaded, config.get("val_size", 0), config.get("limit") or 0)
    except (DataError, ValueError) as exc:
        raise SystemExit(f"error: {exc}")
    held = len(splits["val"][1])   # the run's validation images come first: the pool's index 0 is the set's `held`
    return dict(splits, what=f"{dataset} (its training set's from image {held} on)", named="index in the training set",
                train_names=[str(held + j) for j in range(len(splits["train"][1]))],
                test_names=[str(i) for i in range(len(splits["test"][1]))])


def photo_splits(args, config, bar):
    """The run's images of its image folder (``image_folder.load_splits``, the holdout it drew),
    stored at 256 x 256, each named by its file in the folder."""
    root = args.data or config.get("data")
    if not root or not os.path.isdir(root):
        raise SystemExit(f"error: the image folder {args.weights}'s run trained on ({root or 'not recorded'}) is not "
                         f"there: give it with --data")
    try:
        splits = image_folder.load_splits(root, progress=preparation_progress(bar),
                                          holdout=image_folder.holdout_of(config))
    except DataError as exc:
        raise SystemExit(f"error: {exc}")
    if config.get("classes") and splits["classes"] != config["classes"]:
        raise SystemExit(f"error: the classes of {root} ({shown_names(splits['classes'])}) are not those the run "
                         f"trained on ({shown_names(config['classes'])})")
    train_names, test_names = ([os.path.relpath(f, root) for f in splits[part]] for part in ("train_files", "test_files"))
    return dict(splits, what=f"{root} (the run's training split)", named="file in the folder",
                train_names=train_names, test_names=test_names)


if __name__ == "__main__":
    run_script(main)
