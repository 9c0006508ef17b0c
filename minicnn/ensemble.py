"""Trained networks as ``examples/predict.py`` and ``examples/evaluate.py`` use them: rebuilt from
weights files, each seeing a picture as it was trained to, and averaged into one prediction (the
paper's competition entry averaged seven networks).

    members, views, names = load_ensemble(["run1/checkpoint.npz", "run2/checkpoint.npz"])
    probs = ensemble_proba(members, views, images)          # (N, classes), each network's own view

A member is a network and the training configuration it was trained with (what its checkpoint
records; {} but the architecture for a plain weights file). How a network sees a picture (its
``Input``): a network of photos (an image folder, ImageNet's weights) through crops of the
picture's central 256x256; a network of a small-image data set (Fashion-MNIST, CIFAR-10) the whole
picture at the data set's size and colour, resized to its input as the training loader did. Every
error here is an ``EnsembleError`` whose text the scripts print after ``error:``.
"""
import collections
import os

import numpy as np

from minicnn import models
from minicnn.arguments import positive_int, user_path
from minicnn.backend import check_device
from minicnn.data import imagenet_classes
from minicnn.data.image_folder import class_folders, decode
from minicnn.data.loader import resize_nearest
from minicnn.inference import predict_proba, shifted_ten_crop_proba
from minicnn.weights import WeightsError, checkpoint_config, class_count, load, model_from_checkpoint, recorded_classes

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision's normalisation


class EnsembleError(ValueError):
    """Weights files, flags or class names that make no network or no ensemble, and why."""


def load_networks(paths, model=None, num_classes=None, device="cpu"):
    """(members, class count) of the weights files ``paths``: networks rebuilt from what their
    training checkpoints record (plain weights files after a checkpoint: the first checkpoint's
    network and configuration), or built as ``model`` (default alexnet_owt, torchvision's) with
    ``num_classes`` outputs (default: the weights file's) for plain weights files; on ``device``."""
    try:
        config = checkpoint_config(paths[0])
        recorded = (config.get("architecture") or {}).get("name")
        if recorded and model not in (None, recorded):
            raise EnsembleError(f"--model {model}: {paths[0]} is a training checkpoint of {recorded}, which records "
                                f"its network: drop --model")
        if config and (model is None or recorded):   # a training checkpoint: the network it records
            if num_classes is not None:
                raise EnsembleError(f"--num-classes: {paths[0]} is a training checkpoint, which records its network "
                                    f"({recorded_classes(config, paths[0])} outputs): drop --num-classes")
            members = []
            for path in paths:
                if path == paths[0] or checkpoint_config(path):
                    net, own = model_from_checkpoint(path)
                else:   # plain weights: the first checkpoint's network
                    net, own = models.build(**config["architecture"]), config
                    load(path, net)
                members.append((net.to(device), own))
            return members, recorded_classes(config, paths[0])
        name = model or "alexnet_owt"
        count = num_classes or class_count(paths[0])
        members = []
        for path in paths:
            net = models.build(name, num_classes=count)
            load(path, net)
            members.append((net.to(device), dict(config, architecture=dict(name=name, num_classes=count))))
        return members, count
    except WeightsError as exc:
        hint = "; name it with --model" if "does not record its network" in str(exc) else ""
        raise EnsembleError(f"{exc}{hint}") from None


def add_network_arguments(parser):
    """Add the flags of ``load_ensemble`` (--weights, --model, --num-classes, --classes, --ten-crop,
    --invert) and --device to the argparse ``parser`` of a script (predict.py, evaluate.py)."""
    parser.add_argument("--weights", type=user_path, action="append", required=True,
                        help=".npz (a training checkpoint, or minicnn weights) or .pth (torchvision) file; repeat "
                             "for an ensemble")
    parser.add_argument("--model", default=None, choices=sorted(models.MODELS),
                        help="architecture of the weights, built with its default arguments (default: the network "
                             "a training checkpoint records; alexnet_owt, torchvision's, for other files)")
    parser.add_argument("--num-classes", type=positive_int, default=None,
                        help="outputs of the model, with --model (default: read from the weights file)")
    parser.add_argument("--classes", type=user_path, default=None,
                        help="class names: a text file (one per line) or an image folder (default: those a "
                             "training checkpoint records, else ImageNet's 1000 names for a 1000-way model)")
    parser.add_argument("--ten-crop", action="store_true",
                        help="average the ten crops of the paper's test: of photos, the four corners and the centre "
                             "and their mirrors; of a small-image network trained with --augment, the picture "
                             "shifted as far as its padding lets it, and the picture itself, and their mirrors")
    parser.add_argument("--invert", action="store_true",
                        help="invert the pixels first, for a network trained on small images (Fashion-MNIST shows "
                             "light garments on black, so a photo of one on a light background wants it)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "sim"), help="where to run (default: cpu)")


def networks_of(args):
    """(device, members, views, names) of a command line whose flags ``add_network_arguments``
    added (``args``, argparse's namespace): the device checked (``check_device``), then
    ``load_ensemble``'s networks on it; an EnsembleError for either."""
    try:
        device = check_device(args.device)
    except RuntimeError as exc:   # no GPU, no CuPy
        raise EnsembleError(str(exc)) from None
    return (device,) + load_ensemble(args.weights, args.model, args.num_classes, args.classes, device, args.ten_crop,
                                     args.invert)


def load_ensemble(paths, model=None, num_classes=None, classes=None, device="cpu", ten_crop=False, invert=False):
    """(members, views, names) of the weights files ``paths``, for the scripts' flags of the same
    names: the networks (``load_networks``), how each sees a picture (``input_of``), checked as
    one ensemble (``check_ensemble``), and the class names (the first checkpoint's, else
    ``class_names(classes)``); ``ten_crop`` and ``invert`` refused where the networks were not
    trained on the pictures they are for (crops of photos; small pictures, light on dark)."""
    members, count = load_networks(paths, model, num_classes, device)
    views = [input_of(net, own) for net, own in members]
    check_ensemble(paths, members, views)
    config = members[0][1]
    names = config["classes"] if classes is None and "classes" in config else class_names(classes, count)
    if invert and views[0].photos:
        raise EnsembleError("--invert is for networks trained on a small-image data set (Fashion-MNIST's light "
                            "garments on black); this one was trained on photos")
    unshifted = [path for path, view in zip(paths, views) if not view.photos and not view.pad]
    if ten_crop and unshifted:   # its ten crops would be ten copies of the whole picture (and mirrors)
        raise EnsembleError(f"--ten-crop: {unshifted[0]} was trained on whole {views[0].size}x{views[0].size} "
                            f"pictures, without --augment's shifted crops, not on crops of photos")
    return members, views, names


Input = collections.namedtuple("Input", "photos crop mean std size channels pad", defaults=(0,))


def input_of(net, config):
    """How a network sees a picture, as it was trained (an ``Input``): with ``photos``, through
    ``crop``-sized crops of the picture's central 256x256 (networks of image folders, ImageNet's
    weights); without, the whole picture at a small-image data set's ``size`` (Fashion-MNIST,
    CIFAR-10) with ``channels``, resized to the network's ``crop``, its ten crops shifted as far as
    the ``pad`` pixels of zeros that training with --augment padded it by (0: trained without);
    either normalised by ``mean`` and ``std``."""
    mean, std = (config["mean"], config["std"]) if "mean" in config else (IMAGENET_MEAN, IMAGENET_STD)
    if "crop" in config or "input_size" not in config:
        return Input(True, config.get("crop") or models.MODELS[config["architecture"]["name"]][1], mean, std, None, 3)
    channels = next(param.data.shape[1] for _, param in net.named_params() if param.data.ndim == 4)  # conv1's
    size = config.get("image_size") or config["input_size"]   # the data set's side, or the side it was resized to
    if size is None:
        raise EnsembleError("the checkpoint records neither the side of its training images (image_size) nor the "
                            "side they were resized to (input_size): fit records them for square images")
    pad = config.get("augment_pad", 0) if config.get("augment") else 0
    return Input(False, config["input_size"] or size, mean, std, size, channels, pad)


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
                recorded_classes(own, path) != recorded_classes(config, paths[0]):
            raise EnsembleError(f"{path} gives other classes than {paths[0]}; an ensemble averages networks of one "
                                f"task")
        if seen_as(view) != seen_as(views[0]):   # (photos are cut to each network's crop)
            raise EnsembleError(f"{path} was trained on {seen_as(view)}, {paths[0]} on {seen_as(views[0])}; an "
                                f"ensemble's networks see each picture alike")


def as_seen(images, view):
    """The batch ``images`` as the network of ``view`` (an ``Input``) takes it: small pictures
    resized (nearest) from the data set's size to the network's input, as the training loader did
    (Fashion-MNIST's 28 to the 2012 AlexNet's 227); photos as they are (predict_proba crops them)."""
    return images if view.photos or view.crop == view.size else resize_nearest(images, view.crop)


def member_probas(members, views, images, ten_crop=False, device="cpu", batch_size=50):
    """(M, N, K) float64: each member's class probabilities of the uint8 pictures ``images`` (N,
    C, S, S: 256x256 photos, or small pictures at the data set's size), each network through its
    own view (``as_seen``, its crop, its normalisation), the ten crops averaged with ``ten_crop``
    (a small-image network's: ``inference.shifted_ten_crop_proba``)."""
    probas = []
    for (net, _), view in zip(members, views):
        if ten_crop and not view.photos:
            probas.append(shifted_ten_crop_proba([net], images, view.pad, view.crop, view.mean, view.std, device,
                                                 batch_size=batch_size))
        else:
            probas.append(predict_proba([net], as_seen(images, view), view.crop, view.mean, view.std,
                                        "ten" if ten_crop else "center", device, batch_size=batch_size))
    return np.stack(probas)


def ensemble_proba(members, views, images, ten_crop=False, device="cpu", batch_size=50):
    """(N, K) float64: the members' probabilities (``member_probas``) averaged, the ensemble's."""
    return member_probas(members, views, images, ten_crop, device, batch_size).mean(axis=0)


def read_small_image(path, size, channels, invert):
    """uint8 (channels, size, size) of a picture for a network trained on a small-image data set
    (Fashion-MNIST, CIFAR-10): its central square resized to the data set's ``size``, grey for one
    channel (``as_channels``), inverted with ``invert``; or why it cannot be read. Each network
    then gets it at its own input size (``as_seen``)."""
    image = decode(path, size)
    if isinstance(image, str):
        return image
    return as_channels(image[None], channels, invert)[0]


def as_channels(images, channels, invert=False):
    """uint8 RGB pictures (N, 3, H, W) with ``channels`` (1: grey, ITU-R 601 luma as Pillow's),
    inverted (255 - p) with ``invert``."""
    if channels == 1:
        weights = np.array([0.299, 0.587, 0.114])
        images = np.round(np.tensordot(weights, np.asarray(images), axes=([0], [1]))).astype(np.uint8)[:, None]
    return 255 - images if invert else images


def class_names(source, count):
    """Names of the ``count`` classes from ``source`` (--classes: a text file of one name per line,
    or an image folder, whose train/ where it has one), or ImageNet's for 1000 classes."""
    if source is None:
        if count == 1000:
            return imagenet_classes()
        return [f"class {i}" for i in range(count)]
    if os.path.isfile(source):
        try:
            with open(source, encoding="utf-8-sig") as f:   # -sig: a byte-order mark (Windows' Notepad) is no name
                names = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        except UnicodeDecodeError:   # an archive, a picture: no list of names
            raise EnsembleError(f"--classes {source}: not a text file (UTF-8) of class names, one per line, nor an "
                                f"image folder") from None
    elif os.path.isdir(source):   # the classes a training on it has: those of its train/ where there is one
        train = os.path.join(source, "train")
        names = class_folders(train if os.path.isdir(train) else source)
    else:
        raise EnsembleError(f"--classes {source}: no such file or folder")
    if len(names) != count:
        raise EnsembleError(f"--classes gives {len(names)} names but the model has {count} outputs")
    return names
