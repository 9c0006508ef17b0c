#!/usr/bin/env python3
"""The top-5 classes of pictures, with probabilities and names.

    python examples/predict.py shirt.png --weights runs/fashion/checkpoint.npz   # what train_alexnet.py trained
    python examples/predict.py cat.jpg dog.png --weights alexnet_owt.npz          # ImageNet names
    python examples/predict.py photos/ --weights alexnet_owt.npz                  # every image in a folder
    python examples/predict.py photo.jpg --weights alexnet-owt-7be5be79.pth       # torchvision's file (needs torch)
    python examples/predict.py photo.jpg --weights runs/finetune/checkpoint.npz   # a fine-tuned network
    python examples/predict.py photos/ --weights alexnet_owt.npz --csv guesses.csv   # also as a table

A training checkpoint (of examples/train_alexnet.py or examples/finetune.py) records its network,
class names and normalisation; other weights files need --model (default: alexnet_owt). A network
trained on photos (an image folder, ImageNet weights) sees each image as in training (shorter side
to 256, the central 256x256) through its centre crop, or with --ten-crop through the paper's ten
crops with the probabilities averaged. A network trained on a small-image data set (Fashion-MNIST,
CIFAR-10) sees the picture's central square at the data set's size, grey for Fashion-MNIST, whose
garments are light on black (--invert for a photo on a light background). Several --weights files
make an ensemble whose probabilities are averaged: networks of one task (the same classes), of any
architecture, each seeing the picture as in its training (a photo through its own crop and
normalisation; a small-image data set's pictures, of one size and colour, each at its network's
input size and normalisation: the small AlexNet's 28 beside the 2012 one's 227); plain weights
files after a training checkpoint are taken as that checkpoint's network. Class names: those the
checkpoint records, the 1000 ImageNet classes for a 1000-way model, otherwise --classes (a text
file with one name per line, or an image folder whose subfolders are the classes).
"""
import argparse
import collections
import csv
import functools
import glob
import io
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn import models  # noqa: E402
from minicnn.arguments import plain_warnings, positive_int, run_script, user_path  # noqa: E402
from minicnn.backend import check_device  # noqa: E402
from minicnn.checkpoint import atomic_write  # noqa: E402
from minicnn.data import imagenet_classes  # noqa: E402
from minicnn.data.image_folder import IMAGE_EXTENSIONS, class_folders, decode, image_files, quiet_decoding  # noqa: E402
from minicnn.data.loader import resize_nearest  # noqa: E402
from minicnn.inference import predict_proba  # noqa: E402
from minicnn.weights import WeightsError, checkpoint_config, class_count, load, model_from_checkpoint  # noqa: E402
import numpy as np  # noqa: E402 (after minicnn, which sets OpenBLAS's thread timeout before NumPy loads it)

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision's
BATCH = 50   # images read and classified at a time


def class_names(source, count):
    """Names of the ``count`` classes from --classes, or ImageNet's for 1000 classes."""
    if source is None:
        if count == 1000:
            return imagenet_classes()
        return [f"class {i}" for i in range(count)]
    if os.path.isfile(source):
        try:
            with open(source, encoding="utf-8-sig") as f:   # -sig: a byte-order mark (Windows' Notepad) is no name
                names = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        except UnicodeDecodeError:   # an archive, a picture: no list of names
            raise SystemExit(f"error: --classes {source}: not a text file (UTF-8) of class names, one per line, "
                             f"nor an image folder") from None
    elif os.path.isdir(source):   # the classes a training on it has: those of its train/ where there is one
        train = os.path.join(source, "train")
        names = class_folders(train if os.path.isdir(train) else source)
    else:
        raise SystemExit(f"error: --classes {source}: no such file or folder")
    if len(names) != count:
        raise SystemExit(f"error: --classes gives {len(names)} names but the model has {count} outputs")
    return names


class PipedPicture(io.BytesIO):
    """The bytes of a picture piped into the script, named as Pillow's messages name a file."""

    def __repr__(self):
        return "'standard input'"


def standard_input():
    """The picture on standard input (``-``), or why there is none."""
    data = sys.stdin.buffer.read()
    return PipedPicture(data) if data else "nothing came on standard input"


def read_small_image(path, size, channels, invert):
    """uint8 (channels, size, size) of a picture for a network trained on a small-image data set
    (Fashion-MNIST, CIFAR-10): its central square resized to the data set's ``size``, grey for one
    channel (ITU-R 601 luma, Pillow's), inverted with ``invert``; or why it cannot be read. Each
    network then gets it at its own input size (``as_seen``)."""
    image = decode(path, size)
    if isinstance(image, str):
        return image
    if channels == 1:
        image = np.round(np.tensordot(np.array([0.299, 0.587, 0.114]), image, axes=1)).astype(np.uint8)[None]
    if invert:
        image = 255 - image
    return image


def as_seen(images, view):
    """The batch ``images`` as the network of ``view`` (an ``Input``) takes it: small pictures
    resized (nearest) from the data set's size to the network's input, as the training loader did
    (Fashion-MNIST's 28 to the 2012 AlexNet's 227); photos as they are (predict_proba crops them)."""
    return images if view.photos or view.crop == view.size else resize_nearest(images, view.crop)


def load_networks(args, device):
    """(members, class count) for --weights: a member is a network and the training configuration
    it was trained with ({} for plain weights); networks rebuilt from what their training
    checkpoints record (plain weights files after a checkpoint: the first checkpoint's network and
    configuration), or --model (default alexnet_owt) for plain weights files."""
    try:
        config = checkpoint_config(args.weights[0])
        recorded = (config.get("architecture") or {}).get("name")
        if recorded and args.model not in (None, recorded):
            raise SystemExit(f"error: --model {args.model}: {args.weights[0]} is a training checkpoint of {recorded}, "
                             f"which records its network: drop --model")
        if config and (args.model is None or recorded):   # a training checkpoint: the network it records
            if args.num_classes is not None:
                raise SystemExit(f"error: --num-classes: {args.weights[0]} is a training checkpoint, "
                                 f"which records its network ({config['architecture']['num_classes']} outputs): "
                                 f"drop --num-classes")
            members = []
            for path in args.weights:
                if path == args.weights[0] or checkpoint_config(path):
                    model, own = model_from_checkpoint(path)
                else:   # plain weights: the first checkpoint's network
                    model, own = models.build(**config["architecture"]), config
                    load(path, model)
                members.append((model.to(device), own))
            return members, config["architecture"]["num_classes"]
        name = args.model or "alexnet_owt"
        count = args.num_classes or class_count(args.weights[0])
        members = []
        for path in args.weights:
            model = models.build(name, num_classes=count)
            load(path, model)
            members.append((model.to(device), dict(config, architecture=dict(name=name))))
        return members, count
    except WeightsError as exc:
        hint = "; name it with --model" if "does not record its network" in str(exc) else ""
        raise SystemExit(f"error: {exc}{hint}")


Input = collections.namedtuple("Input", "photos crop mean std size channels")


def input_of(net, config):
    """How a network sees a picture, as it was trained (an ``Input``): with ``photos``, through
    ``crop``-sized crops of the picture's central 256x256 (networks of image folders, ImageNet's
    weights); without, the whole picture at a small-image data set's ``size`` (Fashion-MNIST,
    CIFAR-10) with ``channels``, resized to the network's ``crop``; either normalised by ``mean``
    and ``std``."""
    mean, std = (config["mean"], config["std"]) if "mean" in config else (IMAGENET_MEAN, IMAGENET_STD)
    if "crop" in config or "input_size" not in config:
        return Input(True, config.get("crop") or models.MODELS[config["architecture"]["name"]][1], mean, std, None, 3)
    channels = next(param.data.shape[1] for _, param in net.named_params() if param.data.ndim == 4)  # conv1's
    return Input(False, config["input_size"], mean, std, config.get("image_size") or config["input_size"], channels)


def seen_as(view):
    """What a network was trained on, in words: "photos", "28x28 grey pictures" (a small-image data
    set's, whatever size the network resized them to: each member of an ensemble gets its own)."""
    if view.photos:
        return "photos"
    return f"{view.size}x{view.size} {'grey' if view.channels == 1 else 'colour'} pictures"


def check_ensemble(paths, members, views):
    """Refuse an ensemble whose networks answer other questions (other classes) or were trained on
    other pictures (``views``, their ``input_of``: photos against small pictures, or small pictures
    of another size or colour), naming the first that differs from the first network. Networks of
    other architectures, crops, input sizes or normalisations may make an ensemble, as the paper's
    did."""
    config = members[0][1]
    for path, (_, own), view in zip(paths[1:], members[1:], views[1:]):
        if own.get("classes") != config.get("classes") or \
                own["architecture"].get("num_classes") != config["architecture"].get("num_classes"):
            raise SystemExit(f"error: {path} gives other classes than {paths[0]}; an ensemble averages networks "
                             f"of one task")
        if seen_as(view) != seen_as(views[0]):   # (photos are cut to each network's crop)
            raise SystemExit(f"error: {path} was trained on {seen_as(view)}, {paths[0]} on {seen_as(views[0])}; "
                             f"an ensemble's networks see each picture alike")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", type=user_path, nargs="+",
                   help="image files (JPEG, PNG, ...), or folders: every image file in them; a pattern no shell "
                        "expanded ('photos/*.jpg') is expanded here; - reads one picture from standard input "
                        "(curl -s URL | predict.py -)")
    p.add_argument("--weights", type=user_path, action="append", required=True,
                   help=".npz (a training checkpoint, or minicnn weights) or .pth (torchvision) file; "
                        "repeat for an ensemble")
    p.add_argument("--model", default=None, choices=sorted(models.MODELS),
                   help="architecture of the weights, built with its default arguments (default: the network a "
                        "training checkpoint records; alexnet_owt, torchvision's, for other files)")
    p.add_argument("--num-classes", type=positive_int, default=None,
                   help="outputs of the model, with --model (default: read from the weights file)")
    p.add_argument("--classes", type=user_path, default=None,
                   help="class names: a text file (one per line) or an image folder (default: those a training "
                        "checkpoint records, else ImageNet's 1000 names for a 1000-way model)")
    p.add_argument("--ten-crop", action="store_true",
                   help="average the ten crops of the paper's test (networks trained on photos)")
    p.add_argument("--invert", action="store_true",
                   help="invert the pixels first, for a network trained on small images (Fashion-MNIST shows light "
                        "garments on black, so a photo of one on a light background wants it)")
    p.add_argument("--top", type=positive_int, default=5, help="classes to show per image (default: 5)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "sim"), help="where to run (default: cpu)")
    p.add_argument("--csv", type=user_path, default=None, metavar="FILE",
                   help="also write the results as a table: a row per image, its path, then --top pairs of "
                        "columns class_1, probability_1, ... (a spreadsheet's, or pandas'); written whole when "
                        "the last image is classified, replacing FILE; - prints the table instead of the list")
    args = p.parse_args(argv)
    plain_warnings()
    if args.csv and args.csv != "-":   # before minutes of work, not after
        problem = unwritable_file(args.csv)
        if problem:
            raise SystemExit(f"error: --csv {args.csv}: {problem}")

    try:
        device = check_device(args.device)
    except RuntimeError as exc:
        raise SystemExit(f"error: {exc}")
    members, count = load_networks(args, device)
    views = [input_of(net, own) for net, own in members]
    check_ensemble(args.weights, members, views)
    config = members[0][1]
    names = config["classes"] if args.classes is None and "classes" in config else class_names(args.classes, count)
    if views[0].photos:   # the paper's test: shorter side to 256, the central 256x256, then its crops
        if args.invert:
            raise SystemExit("error: --invert is for networks trained on a small-image data set (Fashion-MNIST's "
                             "light garments on black); this one was trained on photos")
        read = decode
    else:        # the whole picture at the data set's size, as the network saw its training images
        if args.ten_crop:
            raise SystemExit(f"error: --ten-crop: the network was trained on whole {views[0].crop}x{views[0].crop} "
                             f"images, not on crops of photos")
        read = functools.partial(read_small_image, size=views[0].size, channels=views[0].channels,
                                 invert=args.invert)
    given = []   # a pattern no shell expanded (quoted, or Windows'): the files and folders it matches
    for path in args.images:
        matches = sorted(glob.glob(path)) if not os.path.exists(path) and glob.has_magic(path) else []
        given += matches or [path]
    paths = []
    for path in given:   # a folder stands for the image files in it
        if path == "-":   # standard input, read when its turn comes
            paths.append(path)
        elif not os.path.exists(path):
            if glob.has_magic(path):
                print(f"warning: no file matches {path}", file=sys.stderr)
            elif path.startswith(("http://", "https://")):
                print(f"warning: skipped {path}: an address; this script reads files: download it first "
                      f"(curl -O {path}), or pipe it in (curl -s {path} | python examples/predict.py - ...)",
                      file=sys.stderr)
            else:
                print(f"warning: skipped {path}: no such file", file=sys.stderr)
        elif os.path.isdir(path):
            found = image_files(path)
            folders = class_folders(path)
            if not found and folders:   # an image folder of classes: its subfolders are not looked into
                print(f"warning: {path} holds no image files, only folders ({', '.join(folders[:4])}"
                      f"{', ...' if len(folders) > 4 else ''}), which are not looked into: name them "
                      f"(e.g. {os.path.join(path, '*')})", file=sys.stderr)
            elif not found:
                print(f"warning: {path} holds no image files ({', '.join(IMAGE_EXTENSIONS)})", file=sys.stderr)
            paths += found
        else:
            paths.append(path)
    printed, table = 0, []
    for start in range(0, len(paths), BATCH):   # a batch at a time: a large folder is never all in memory
        images, shown = [], []
        for path in paths[start:start + BATCH]:
            piped = standard_input() if path == "-" else None   # the picture piped in, or why there is none
            with quiet_decoding():
                image = piped if isinstance(piped, str) else read(piped or path)
            if isinstance(image, str):
                print(f"warning: skipped {path}: {image}", file=sys.stderr)
                continue
            images.append(image)
            shown.append(path)
        if not images:
            continue
        images = np.stack(images)   # each network through its own crop and normalisation, the results averaged
        probs = np.mean([predict_proba([net], as_seen(images, view), view.crop, view.mean, view.std,
                                       "ten" if args.ten_crop else "center", device, batch_size=BATCH)
                         for (net, _), view in zip(members, views)], axis=0)
        for path, row in zip(shown, probs):
            best = np.argsort(-row, kind="stable")[:args.top]
            table.append([path] + [value for k in best for value in (names[k], f"{row[k]:.6f}")])
            if args.csv == "-":
                continue
            print(path)
            for k in best:
                print(f"  {row[k]:7.2%}  {names[k]}")
        printed += len(shown)
    if not printed:
        raise SystemExit("error: none of the images could be read")
    if args.csv:
        header = ["image"] + [f"{column}_{i}" for i in range(1, min(args.top, count) + 1)
                              for column in ("class", "probability")]
        write_csv(args.csv, [header] + table)


def unwritable_file(path):
    """Why a results file cannot be written at ``path`` (its folder made where missing), or None."""
    if os.path.isdir(path) or path.endswith(os.sep):
        return "a folder, not a file: name a file in it"
    folder = os.path.dirname(os.path.abspath(path))
    try:   # a file tried, not the permission bits (which root passes, and a read-only disk does not show)
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"its folder {folder} cannot be written ({exc.strerror or exc})"
    return None


def write_csv(path, rows):
    """``rows`` as CSV to standard output (``path`` "-") or into ``path``, atomically: a file there
    before is whole until the new one replaces it."""
    if path == "-":
        csv.writer(sys.stdout, lineterminator="\n").writerows(rows)
        return
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    try:
        atomic_write(path, lambda f: f.write(text.getvalue().encode()))
    except OSError as exc:
        raise SystemExit(f"error: cannot write --csv {path} ({exc.strerror or exc})")
    print(f"results of {len(rows) - 1} image{'s' if len(rows) != 2 else ''} written to {path}", file=sys.stderr)


if __name__ == "__main__":
    run_script(main)
