#!/usr/bin/env python3
"""The top-5 classes of photos, with probabilities and names.

    python examples/predict.py cat.jpg dog.png --weights alexnet_owt.npz          # ImageNet names
    python examples/predict.py photo.jpg --weights alexnet-owt-7be5be79.pth       # torchvision's file (needs torch)
    python examples/predict.py photo.jpg --weights runs/pets/checkpoint.npz --model alexnet_owt --classes runs/pets

Each image is prepared as in training (shorter side to 256, central 256x256) and classified on
its centre crop, or with --ten-crop on the paper's ten crops with the probabilities averaged.
Several --weights files make an ensemble whose probabilities are averaged. Class names: the 1000
ImageNet classes for a 1000-way model, otherwise --classes (a text file with one name per line,
an image folder whose subfolders are the classes); a training checkpoint of an image folder
carries its class names and normalisation.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn import models  # noqa: E402
from minicnn.backend import check_device  # noqa: E402
from minicnn.data import imagenet_classes  # noqa: E402
from minicnn.data.image_folder import decode  # noqa: E402
from minicnn.inference import predict_proba  # noqa: E402
from minicnn.weights import WeightsError, load  # noqa: E402

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision's


def class_names(source, count):
    """Names of the ``count`` classes from --classes, or ImageNet's for 1000 classes."""
    if source is None:
        if count == 1000:
            return imagenet_classes()
        return [f"class {i}" for i in range(count)]
    if os.path.isfile(source):
        with open(source, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    elif os.path.isdir(source):
        names = sorted(d for d in os.listdir(source) if os.path.isdir(os.path.join(source, d)) and not d.startswith("."))
        if os.path.isdir(os.path.join(source, "train")):
            names = sorted(d for d in os.listdir(os.path.join(source, "train")) if not d.startswith("."))
    else:
        raise SystemExit(f"error: --classes {source}: no such file or folder")
    if len(names) != count:
        raise SystemExit(f"error: --classes gives {len(names)} names but the model has {count} outputs")
    return names


def checkpoint_config(path):
    """The training configuration stored in a checkpoint's metadata (mean, std, classes ...), or {}."""
    if not str(path).endswith(".npz"):
        return {}
    with np.load(path, allow_pickle=False) as f:
        if "meta" not in f.files:
            return {}
        return json.loads(f["meta"].tobytes().decode()).get("config", {})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    p.add_argument("--weights", action="append", required=True,
                   help=".npz (minicnn weights or training checkpoint) or .pth (torchvision) file; "
                        "repeat for an ensemble")
    p.add_argument("--model", default="alexnet_owt", choices=("alexnet", "alexnet_owt"),
                   help="architecture of the weights (default: alexnet_owt, torchvision's)")
    p.add_argument("--num-classes", type=int, default=None,
                   help="outputs of the model (default: read from the weights file)")
    p.add_argument("--classes", default=None,
                   help="class names: a text file (one per line) or an image folder (default: ImageNet's "
                        "1000 names for a 1000-way model)")
    p.add_argument("--ten-crop", action="store_true", help="average the ten crops of the paper's test")
    p.add_argument("--top", type=int, default=5, help="classes to show per image (default: 5)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "sim"), help="where to run (default: cpu)")
    args = p.parse_args(argv)

    count = args.num_classes or output_count(args.weights[0])
    nets = []
    for path in args.weights:
        model = models.build(args.model, num_classes=count)
        try:
            load(path, model)
        except WeightsError as exc:
            raise SystemExit(f"error: {exc}")
        nets.append(model.to(check_device(args.device)))
    config = checkpoint_config(args.weights[0])
    mean, std = (config["mean"], config["std"]) if "mean" in config else (IMAGENET_MEAN, IMAGENET_STD)
    names = config["classes"] if args.classes is None and "classes" in config else class_names(args.classes, count)
    crop = models.MODELS[args.model][1]
    images, shown = [], []
    for path in args.images:
        image = decode(path)
        if isinstance(image, str):
            print(f"warning: skipped {path}: {image}", file=sys.stderr)
            continue
        images.append(image)
        shown.append(path)
    if not images:
        raise SystemExit("error: none of the images could be read")
    probs = predict_proba(nets, np.stack(images), crop, mean, std, "ten" if args.ten_crop else "center", args.device)
    for path, row in zip(shown, probs):
        print(path)
        for k in np.argsort(-row)[:args.top]:
            print(f"  {row[k]:7.2%}  {names[k]}")


def output_count(path):
    """Number of classes of the last layer stored in a weights file."""
    if str(path).endswith((".pth", ".pt")):
        return 1000
    try:
        with np.load(path, allow_pickle=False) as f:
            biases = [k for k in f.files if k.endswith("bias")]
            return int(f[biases[-1]].shape[0])
    except (OSError, ValueError, IndexError) as exc:
        raise SystemExit(f"error: cannot read {path}: {exc}")


if __name__ == "__main__":
    main()
