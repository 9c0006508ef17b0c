#!/usr/bin/env python3
"""What a trained network takes to be alike: the AlexNet paper's Figure 4, right. For the first
test images of a run, the training images whose activations in the network's last hidden layer
(what its last layer reads: fc7 after its ReLU) lie nearest, drawn a row per test image, and how
often those neighbours are of the test image's class, beside the same search in the pixels.

    python examples/neighbours.py --weights runs/fashion/checkpoint.npz         # writes runs/fashion/neighbours.png
    python examples/neighbours.py --weights runs/cifar10/checkpoint.npz --count 8 --k 4
    python examples/neighbours.py --weights runs/fashion/checkpoint.npz --layer pool5   # another layer's features

The checkpoint's run says which data set (Fashion-MNIST or CIFAR-10; its --data folder, else the
usual places) and which of its images it trained on (its --val-size and --limit): those are the
pool searched. For an image folder, or arrays of your own, use minicnn.neighbours from Python.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn.arguments import (non_negative_int, plain_warnings, positive_int, run_script, unwritable_file,  # noqa: E402
                               user_path)
from minicnn.backend import check_device  # noqa: E402
from minicnn.data import DATASETS, DataError, run_splits  # noqa: E402
from minicnn.neighbours import hidden_features, nearest  # noqa: E402
from minicnn.plots import save_neighbours  # noqa: E402
from minicnn.sequential import Sequential  # noqa: E402
from minicnn.train import batch_progress, without_bars  # noqa: E402
from minicnn.weights import WeightsError, model_from_checkpoint  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=user_path, required=True,
                   help="a training checkpoint of examples/train_alexnet.py (or of minicnn.train.fit on a data "
                        "set of minicnn.data) on Fashion-MNIST or CIFAR-10")
    p.add_argument("--count", type=positive_int, default=5,
                   help="test images drawn, the first of the run's test set, a row each (default: 5, the paper's)")
    p.add_argument("--k", type=positive_int, default=6,
                   help="training images shown beside each test image, nearest first (default: 6, the paper's)")
    p.add_argument("--score", type=non_negative_int, default=1000,
                   help="count, over this many of the first test images, how many of the --k nearest are of the "
                        "test image's class, in the hidden layer and in the pixels (default: 1000; 0: no count)")
    p.add_argument("--layer", default=None,
                   help="the layer whose output is compared, by its name in the network (default: the last "
                        "hidden layer, whose output the last layer reads)")
    p.add_argument("--data", type=user_path, default=None, metavar="DIR",
                   help="the data set's folder (default: the one the run recorded, else where train_alexnet.py "
                        "looks)")
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
    dataset = config.get("dataset")
    if dataset not in DATASETS:
        raise SystemExit(f"error: {args.weights} is not a run on {' or '.join(DATASETS)} (its data: "
                         f"{dataset or 'not recorded'}); for other images, use minicnn.neighbours from Python")
    if not isinstance(model, Sequential):
        raise SystemExit(f"error: {args.weights} is a run of the two-device split; convert its checkpoint to the "
                         f"single-device network first (examples/convert_checkpoint.py)")
    out = args.out or os.path.join(os.path.dirname(args.weights), "neighbours.png")
    problem = unwritable_file(out)
    if problem:   # before a pass over the training images, not after
        raise SystemExit(f"error: --out {out}: {problem}")
    folder = args.data or config.get("data")
    try:
        loaded = [DATASETS[dataset]["load"](split, folder) for split in ("train", "test")]
        splits = run_splits(*loaded, config.get("val_size", 0), config.get("limit") or 0)
    except (DataError, ValueError) as exc:
        raise SystemExit(f"error: {exc}")
    (pool_x, pool_y), (test_x, test_y) = splits["train"], splits["test"]
    count, score = min(args.count, len(test_y)), min(args.score, len(test_y))
    if args.k > len(pool_y):
        raise SystemExit(f"error: --k {args.k}: the run trained on {len(pool_y)} images")
    names = [name for name, _ in model.named_children()]
    if args.layer is not None and args.layer not in names:
        raise SystemExit(f"error: --layer {args.layer}: the network has no such layer; its layers are "
                         f"{', '.join(names)}")
    model.to(device)
    bar = batch_progress() if not without_bars(args.no_progress) else None
    mean, std = config.get("mean", DATASETS[dataset]["mean"]), config.get("std", DATASETS[dataset]["std"])
    size = config.get("input_size")   # the side the run resized its images to (the 2012 AlexNet's 227)
    pool = hidden_features(model, pool_x, mean, std, args.layer, device, progress=bar, size=size)
    queries = hidden_features(model, test_x[:max(count, score)], mean, std, args.layer, device, size=size)
    found = nearest(queries, pool, args.k)
    classes = config.get("classes") or DATASETS[dataset]["classes"]
    where = f"layer {args.layer}" if args.layer else "the last hidden layer"
    held = len(splits["val"][1])   # the run's validation images come first: the pool's index 0 is the set's `held`
    print(f"{len(pool_y)} training images of {dataset} (its training set's from image {held} on), {pool.shape[1]} "
          f"values each in {where}; each test image's nearest, as index in the training set, class (distance):")
    for i in range(count):
        print(f"test image {i} ({classes[test_y[i]]}): " + ", ".join(
            f"{held + j} {classes[pool_y[j]]} ({d:.3g})" for j, d in zip(found.indices[i], found.distances[i])))
    if score:
        in_pixels = nearest(test_x[:score].reshape(score, -1), pool_x.reshape(len(pool_x), -1), args.k)
        same = [float((pool_y[f.indices[:score]] == test_y[:score, None]).mean()) for f in (found, in_pixels)]
        print(f"of the {args.k} nearest training images to each of the first {score} test images, of its class: "
              f"{same[0]:.1%} in {where}, {same[1]:.1%} in the pixels")
    first = found._replace(indices=found.indices[:count], distances=found.distances[:count])
    try:
        save_neighbours(test_x[:count], pool_x, first, classes, test_y, pool_y, out, where)
    except OSError as exc:
        raise SystemExit(f"error: cannot write {out} ({exc.strerror or exc})")
    print(f"written: {out}")


if __name__ == "__main__":
    run_script(main)
