#!/usr/bin/env python3
"""How well trained networks classify a labelled test set: the loss, top-1 and top-5 accuracy,
each class's accuracy, the confusion matrix and the test images of the largest loss; of each
network alone and of their ensemble (their probabilities averaged), through the centre crop or
the paper's ten crops.

    python examples/evaluate.py --weights runs/fashion/checkpoint.npz             # the run's own test set
    python examples/evaluate.py --weights runs/a/checkpoint.npz --weights runs/b/checkpoint.npz   # 2 averaged
    python examples/evaluate.py --weights runs/finetune/checkpoint.npz --data my_photos/   # labelled pictures
    python examples/evaluate.py --weights alexnet-owt-7be5be79.pth --data ~/imagenet/val --ten-crop
    python examples/evaluate.py --weights runs/pets/checkpoint.npz --out runs/pets/evaluation   # also files
    python examples/evaluate.py --weights runs/fashion/checkpoint.npz --layers   # and each layer's outputs

Without --data: the test set the first checkpoint's run was tested on (Fashion-MNIST's or
CIFAR-10's test images, those its --limit kept; an image folder's val/, or the tenth of each
class it held out), so that one network's figures are its run's test_metrics.json's. --data is a
labelled image folder, DIR/<class>/*.jpg (DIR/val/ where DIR holds train/ and val/, as in
training; the folder a run trained on, without val/: the tenth it held out). Its classes are the
network's of the same names (a folder of some of them will do); folders named otherwise, as
ImageNet's val/<synset>/, are taken in sorted order when there are as many as the network's
classes (the order in which torchvision's ImageFolder numbers them, and in which its AlexNet's
outputs are). Pictures are seen as in training (predict.py's way): photos through the central
256x256 and its centre crop (or --ten-crop), a small-image network's through the whole picture at
its data set's size and colour (or, with --ten-crop for a run trained with --augment, the picture
shifted to the four corners of the black border training padded it with, itself, and the five
mirrored). Several --weights make an ensemble of networks of one task, each scored alone and the
ensemble on the averaged probabilities (the paper's 5 networks gave 38.1% top-1 error against 40.7%
for one). With --layers, what each layer of one network makes of the images: its outputs' mean, root
mean square, largest magnitude and share of zeros, and each LRN's divisor; and what each holds: its
weights' and biases' mean, root mean square and largest magnitude. With --out: evaluation.json (the
figures), confusion.png, largest_losses.png and top5.png (the paper's Figure 4, left: the first
eight images tested, each with the five classes ranked first).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn.arguments import output_folder, plain_warnings, positive_int, run_script, user_path  # noqa: E402
from minicnn.data import DATASETS, DataError, image_folder  # noqa: E402
from minicnn.backend import to_device  # noqa: E402
from minicnn.data.loader import center_crop  # noqa: E402
from minicnn.ensemble import (EnsembleError, add_network_arguments, as_channels, as_seen,  # noqa: E402
                              member_probas, networks_of)
from minicnn.environment import describe  # noqa: E402
from minicnn.inference import normalise, ranked_first, topk_correct  # noqa: E402
from minicnn.layer_statistics import LayerStatistics, parameter_rows, parameter_table  # noqa: E402
from minicnn.train import (CONFUSION_LIMIT, CONFUSION_PICTURE_LIMIT, FIRST_SHOWN, LARGEST_LOSSES_SHOWN,  # noqa: E402
                           download_progress, largest_of, log_test, per_class_top1, preparation_progress, shown_names,
                           top5_shown, without_bars, write_test_results)
import numpy as np  # noqa: E402 (after minicnn, which sets OpenBLAS's thread timeout before NumPy loads it)

WRONG_SHOWN = 5                    # wrongly classified pictures of the largest loss named on the screen
TINY = np.finfo(np.float64).tiny   # the probability of a label below which its loss is counted as -log(TINY)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_network_arguments(p)
    p.add_argument("--data", type=user_path, default=None, metavar="DIR",
                   help="labelled image folder to test on: DIR/<class>/*.jpg, or DIR/val/ where DIR holds train/ and "
                        "val/; its class folders are matched to the network's classes (default: the test set the "
                        "first checkpoint's run was tested on)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="test on N of the images only, spread evenly over the set (a folder's classes all have "
                        "their share): a quick look at a large set (default: all of them)")
    p.add_argument("--batch-size", type=positive_int, default=50,
                   help="images per forward pass (default: 50; ten crops make ten passes of it)")
    p.add_argument("--out", type=output_folder, default=None, metavar="DIR",
                   help="also write evaluation.json (the figures, each class's accuracy, the confusion matrix, the "
                        "images of the largest loss), confusion.png, largest_losses.png and top5.png (the first eight "
                        "images tested, each with the five classes ranked first: the paper's Figure 4, left) into DIR "
                        "(default: print the figures only)")
    p.add_argument("--layers", action="store_true",
                   help="also the statistics of each layer's outputs on the images tested, through their centre "
                        "view: mean, root mean square, largest magnitude, the share of zeros, and each LRN's "
                        "divisor; and each parameter's mean, root mean square and largest magnitude "
                        "(minicnn/layer_statistics.py; one network; in evaluation.json with --out) (default: off)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars: a line per image folder prepared (also when the output is no terminal)")
    args = p.parse_args(argv)
    args.no_progress = without_bars(args.no_progress)
    if args.invert and args.data is None:
        p.error("--invert is for pictures of --data; a run's own test set is seen as in its training")
    if args.layers and len(args.weights or ()) > 1:
        p.error(f"--layers describes the layers of one network, and --weights gives {len(args.weights)}: give one")
    return args


def run_test_set(path, config, bar):
    """(images, labels, what, files) of the test set the run of the checkpoint ``path`` (its
    configuration ``config``) was tested on: images uint8 (N, C, H, W) (a memory map's rows for
    an image folder), labels the network's class indices, ``what`` the set in words, ``files``
    the image files (None for Fashion-MNIST's and CIFAR-10's, which are no files)."""
    dataset = config.get("dataset") or ("folder" if config.get("crop") else None)   # finetune.py records a crop
    if dataset is None:
        raise SystemExit(f"error: {path} records no test set (plain weights, a run of minicnn.train.fit on arrays of "
                         f"its own, or a checkpoint of before its data set was recorded): give --data, a labelled "
                         f"image folder")
    try:
        if dataset == "folder":
            root = config.get("data")   # recorded since 2026-12-04
            if not root:
                raise SystemExit(f"error: {path} does not record the image folder its run was tested on (a "
                                 f"checkpoint of before it was recorded): give it with --data")
            if not os.path.isdir(root):
                raise SystemExit(f"error: the image folder {path}'s run was tested on, {root}, is not there (moved, "
                                 f"or on another machine): give it with --data")
            splits = image_folder.load_splits(root, progress=preparation_progress(bar),
                                              holdout=image_folder.holdout_of(config))
            if config.get("classes") and splits["classes"] != config["classes"]:
                raise SystemExit(f"error: the classes of {root} ({shown_names(splits['classes'])}) are no longer those "
                                 f"{path}'s run trained on ({shown_names(config['classes'])})")
            images, labels = splits["test"]
            val = os.path.join(root, "val")
            where = val if os.path.isdir(val) and os.path.isdir(os.path.join(root, "train")) else \
                f"the tenth of each class of {root} held out for testing"
            return images, labels, where, splits["test_files"]
        images, labels = DATASETS[dataset]["load"]("test", config.get("data"), download_missing=True,
                                                   progress=download_progress(bar))
    except DataError as exc:
        raise SystemExit(f"error: {exc}")
    kept = max(1, config["limit"] // 5) if config.get("limit") else len(labels)   # train_alexnet.py's --limit
    images = images[:kept] if images.ndim == 4 else images[:kept, None]
    first = f" (its first {kept}, as the run's)" if kept < len(labels) else ""
    return images, labels[:kept], f"the {dataset} test set{first}", None


def folder_test_set(data, config, names, view, bar):
    """(images, labels, what, files) of the labelled image folder ``data`` for networks of
    ``names`` seen as ``view`` (``minicnn.ensemble.Input``): its pictures prepared (once, into the
    cache) at the size the networks see (photos: the central 256x256; small pictures: the data
    set's), its class folders matched to ``names`` (``network_labels``); None for the folder a run
    of ``config`` trained on, whose test set is the run's (``run_test_set``)."""
    train, val = os.path.join(data, "train"), os.path.join(data, "val")
    root = val if os.path.isdir(train) and os.path.isdir(val) else data
    if root == data and config.get("data") and os.path.realpath(data) == os.path.realpath(config["data"]):
        return None   # the run's own folder: the test images it held out, not those it trained on
    folders = image_folder.class_folders(root) if os.path.isdir(root) else []
    known = network_labels(folders, names, root) if folders else None   # before minutes of decoding
    try:
        prepared = image_folder.prepare(root, classes=folders or None, progress=preparation_progress(bar),
                                        size=image_folder.STORED_SIZE if view.photos else view.size)
    except DataError as exc:
        raise SystemExit(f"error: --data {exc}")
    return prepared.images, known[prepared.labels], root, [os.path.join(root, f) for f in prepared.meta["files"]]


def network_labels(folder_classes, names, root):
    """The network's class index of each class folder of ``root`` (``folder_classes``, sorted):
    that of the class of its name; or, where no folder names a class of the network's and there
    are as many as its classes (ImageNet's synset folders against class names), its place in the
    sorted order, said in a line."""
    index = {name: i for i, name in enumerate(names)}
    unknown = [name for name in folder_classes if name not in index]
    if not unknown:
        return np.array([index[name] for name in folder_classes])
    if len(unknown) == len(folder_classes) == len(names):
        print(f"the class folders of {root} name none of the network's classes: taken in sorted order "
              f"({folder_classes[0]} as {names[0]}, {folder_classes[1]} as {names[1]}, ...)")
        return np.arange(len(names))
    raise SystemExit(f"error: the class folders {shown_names(unknown, 4)} of {root} are none of the network's "
                     f"{len(names)} classes ({shown_names(names, 4)}); a test folder holds folders of the network's "
                     f"classes (some of them will do), or one for each of its classes in their order")


def evenly_spread(count, limit):
    """The indices of ``limit`` of ``count`` items spread evenly over them (all where ``limit`` is None
    or at least ``count``), increasing."""
    if limit is None or limit >= count:
        return np.arange(count)
    return np.round(np.linspace(0, count - 1, limit)).astype(np.int64)   # steps of 1 or more: no repeats


def in_colour_seen(images, view, invert):
    """The uint8 batch ``images`` (N, C, H, W) in the colour the networks of ``view`` were trained
    on: a small-image data set's pictures as they are; photos of --data grey for a network of grey
    pictures (Fashion-MNIST's), inverted with ``invert``."""
    if view.photos or (images.shape[1] == view.channels and not invert):
        return images
    return as_channels(images, view.channels, invert)


def score(members, views, images, labels, count, args, device, bar):
    """Each member's and the ensemble's figures on the test set ``images`` (uint8) and ``labels``
    (all of it, or --limit of it: ``order``, the indices ``evenly_spread`` picks), a batch at a
    time: (a list of dicts of loss, top1 and top5, one per member; the ensemble's dict, with
    "confusion" (K x K counts, rows the true class), "largest_losses" (``largest_of``'s rows) and
    "first_top5" (the first FIRST_SHOWN images tested with the five classes ranked first,
    ``inference.ranked_first``'s), each "index" one into the whole set; ``order``)."""
    from tqdm import tqdm
    order = evenly_spread(len(labels), args.limit)
    ks = (1, min(5, count))
    sums = np.zeros((len(members) + 1, 3))   # per member, then the ensemble: loss, top-1 and top-5 hits
    confusion, rows, first = np.zeros(count * count, np.int64), [], []
    starts = range(0, len(order), args.batch_size)
    for start in tqdm(starts, desc="testing", unit="batch", leave=False, disable=not bar):
        index = order[start:start + args.batch_size]
        batch, truth = np.asarray(images[index]), np.asarray(labels)[index]
        batch = in_colour_seen(batch, views[0], args.invert)
        probs = member_probas(members, views, batch, args.ten_crop, device, args.batch_size)
        probs = np.concatenate([probs, probs.mean(axis=0, keepdims=True)])   # the ensemble last
        right = np.maximum(probs[:, np.arange(len(truth)), truth], TINY)
        sums[:, 0] += -np.log(right).sum(axis=1)
        sums[:, 1:] += [topk_correct(p, truth, ks) for p in probs]
        ensemble, predicted = probs[-1], probs[-1].argmax(axis=1)
        first += list(ensemble[:FIRST_SHOWN - len(first)])
        confusion += np.bincount(truth * count + predicted, minlength=count * count)
        rows.append(np.stack([-np.log(right[-1]), truth, predicted, ensemble[np.arange(len(truth)), predicted]],
                             axis=1))
    figures = [dict(loss=loss / len(order), top1=top1 / len(order), top5=top5 / len(order))
               for loss, top1, top5 in sums]
    ensemble = figures.pop()
    ensemble.update(confusion=confusion.reshape(count, count).tolist(),
                    largest_losses=largest_of(rows, LARGEST_LOSSES_SHOWN))
    for row in ensemble["largest_losses"]:   # an index into the whole set, as the images are
        row["index"] = int(order[row["index"]])
    shown = order[:len(first)]
    ensemble["first_top5"] = ranked_first(first, np.asarray(labels)[shown], shown)
    return figures, ensemble, order


def layer_statistics(member, view, images, order, args, device, bar):
    """``LayerStatistics`` of the network of ``member`` over the images tested (``order``), each seen
    as ``score`` sees it through its centre view."""
    from tqdm import tqdm
    net = member[0]
    dtype = next(p.data.dtype for _, p in net.named_params()).type
    stats = LayerStatistics(net)
    for start in tqdm(range(0, len(order), args.batch_size), desc="layers", unit="batch", leave=False,
                      disable=not bar):
        batch = in_colour_seen(np.asarray(images[order[start:start + args.batch_size]]), view, args.invert)
        seen = as_seen(batch, view)
        seen = seen if view.crop is None else center_crop(seen, view.crop)
        stats.add(to_device(np.ascontiguousarray(normalise(seen, view.mean, view.std, dtype)), device))
    return stats


def main(argv=None):
    args = parse_args(argv)
    plain_warnings()
    bar = not args.no_progress
    try:
        device, members, views, names = networks_of(args)
    except EnsembleError as exc:
        raise SystemExit(f"error: {exc}")
    config, count = members[0][1], len(names)
    test = folder_test_set(args.data, config, names, views[0], bar) if args.data else None
    images, labels, where, files = test or run_test_set(args.weights[0], config, bar)
    what = "the ten crops" if args.ten_crop else ("the centre crop" if views[0].photos else "whole pictures")
    shown = f"{args.limit} of the {len(labels)}" if args.limit and args.limit < len(labels) else f"{len(labels)}"
    print(f"testing on {shown} images of {where}, through {what}")
    figures, result, order = score(members, views, images, labels, count, args, device, bar)
    tested = sorted(set(np.asarray(labels)[order].tolist())) if args.data else range(count)
    if len(members) > 1:
        for path, member in zip(args.weights, figures):
            print(f"{path}: loss {member['loss']:.4f}, top-1 accuracy {member['top1']:.4f}"
                  + top5_shown(member["top5"], names))
        result["members"] = [dict(weights=path, **member) for path, member in zip(args.weights, figures)]
    accuracies = per_class_top1(result["confusion"], names)
    result["per_class_top1"] = {names[k]: accuracies[names[k]] for k in tested}   # a folder of some classes: theirs
    log_test(result, names, what=f"ensemble of {len(members)}" if len(members) > 1 else "test")
    if files:   # which pictures to look at: the wrong ones of the largest loss
        for row in result["largest_losses"]:
            row["file"] = files[row["index"]]
        wrong = [row for row in result["largest_losses"] if row["predicted"] != row["label"]][:WRONG_SHOWN]
        if wrong:
            print("wrongly classified, the largest losses first:")
        for row in wrong:
            print(f"  {row['file']}: {names[row['label']]}, said {names[row['predicted']]} {row['probability']:.0%}")
    if args.layers:
        stats = layer_statistics(members[0], views[0], images, order, args, device, bar)
        print(f"the outputs of each layer on the {len(order)} images tested:")
        print(stats.table())
        print("the parameters of each layer:")
        print(parameter_table(members[0][0]))
        result["layers"] = stats.rows()
        result["parameters"] = parameter_rows(members[0][0])
    if args.out:
        if count > CONFUSION_LIMIT:   # ImageNet's would be a million numbers: the accuracies only
            del result["confusion"]
        result.update(data=where, images=len(order), views="ten" if args.ten_crop else "center",
                      weights=args.weights, environment=describe(device))
        pictures = {row["index"]: in_colour_seen(np.asarray(images[[row["index"]]]), views[0], args.invert)[0]
                    for row in result["largest_losses"] + result["first_top5"]}   # as the networks saw them
        write_test_results(args.out, result, names, pictures, metrics="evaluation.json")   # pictures: by index
        drawn = "confusion.png, " if "confusion" in result and count <= CONFUSION_PICTURE_LIMIT else ""
        print(f"written to {args.out}: evaluation.json, {drawn}largest_losses.png, top5.png")


if __name__ == "__main__":
    run_script(main)
