#!/usr/bin/env python3
"""The top-5 classes of pictures, with probabilities and names.

    python examples/predict.py shirt.png --weights runs/fashion/checkpoint.npz   # what train_alexnet.py trained
    python examples/predict.py cat.jpg dog.png --weights alexnet_owt.npz          # ImageNet names
    python examples/predict.py photos/ --weights alexnet_owt.npz                  # every image in a folder
    python examples/predict.py photo.jpg --weights alexnet-owt-7be5be79.pth       # torchvision's file (needs torch)
    python examples/predict.py photo.jpg --weights runs/finetune/checkpoint.npz   # a fine-tuned network
    python examples/predict.py photos/ --weights alexnet_owt.npz --csv guesses.csv   # also as a table
    python examples/predict.py shirt.png --weights runs/fashion/checkpoint.npz --occlusion why/   # where it looked
    python examples/predict.py shirt.png --weights runs/fashion/checkpoint.npz --saliency grad/   # which pixels count

A training checkpoint (of examples/train_alexnet.py or examples/finetune.py) records its network,
class names and normalisation; other weights files need --model (default: alexnet_owt). A network
trained on photos (an image folder, ImageNet weights) sees each image as in training (shorter side
to 256, the central 256x256) through its centre crop, or with --ten-crop through the paper's ten
crops with the probabilities averaged. A network trained on a small-image data set (Fashion-MNIST,
CIFAR-10) sees the picture's central square at the data set's size, grey for Fashion-MNIST, whose
garments are light on black (--invert for a photo on a light background); with --ten-crop, for a run
trained with --augment, also shifted as far as training's padding and mirrored. Several --weights
files make an ensemble whose probabilities are averaged: networks of one task (the same classes), of
any architecture, each seeing the picture as in its training (a photo through its own crop and
normalisation; a small-image data set's pictures, of one size and colour, each at its network's
input size and normalisation: the small AlexNet's 28 beside the 2012 one's 227); plain weights files
after a training checkpoint are taken as that checkpoint's network. Class names: those the
checkpoint records, the 1000 ImageNet classes for a 1000-way model, otherwise --classes (a text
file with one name per line, or an image folder whose subfolders are the classes). --occlusion
draws, for each picture, where a square covering it lowers the probability of the class named
first (Zeiler and Fergus's occlusion test, minicnn/occlusion.py); --saliency, how much a change of
each pixel moves that class's score (its gradient, one backward pass: Simonyan, Vedaldi and
Zisserman's saliency map, minicnn/saliency.py).
"""
import argparse
import csv
import functools
import glob
import io
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn.arguments import (output_folder, plain_warnings, positive_int, run_script, unwritable_file,  # noqa: E402
                               user_path)
from minicnn.checkpoint import atomic_write  # noqa: E402
from minicnn.data.image_folder import IMAGE_EXTENSIONS, class_folders, decode, image_files, quiet_decoding  # noqa: E402
from minicnn.ensemble import (EnsembleError, add_network_arguments, ensemble_proba, networks_of,  # noqa: E402
                              read_small_image)
from minicnn.occlusion import covered_at_lowest, most_telling, occlusion_map, square_pixel  # noqa: E402
from minicnn.plots import save_occlusion, save_saliency  # noqa: E402
from minicnn.saliency import largest, saliency, saliency_map, share_of_pixels  # noqa: E402
import numpy as np  # noqa: E402 (after minicnn, which sets OpenBLAS's thread timeout before NumPy loads it)

BATCH = 50   # images read and classified at a time


class PipedPicture(io.BytesIO):
    """The bytes of a picture piped into the script, named as Pillow's messages name a file."""

    def __repr__(self):
        return "'standard input'"


def standard_input():
    """The picture on standard input (``-``), or why there is none."""
    data = sys.stdin.buffer.read()
    return PipedPicture(data) if data else "nothing came on standard input"


def parse_arguments(argv=None):
    """The command line's arguments, each checked: a wrong one exits naming it, before any work."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", type=user_path, nargs="+",
                   help="image files (JPEG, PNG, ...), or folders: every image file in them; a pattern no shell "
                        "expanded ('photos/*.jpg') is expanded here; - reads one picture from standard input "
                        "(curl -s URL | predict.py -)")
    add_network_arguments(p)
    p.add_argument("--top", type=positive_int, default=5, help="classes to show per image (default: 5)")
    p.add_argument("--csv", type=user_path, default=None, metavar="FILE",
                   help="also write the results as a table: a row per image, its path, then --top pairs of "
                        "columns class_1, probability_1, ... (a spreadsheet's, or pandas'); written whole when "
                        "the last image is classified, replacing FILE; - prints the table instead of the list")
    p.add_argument("--occlusion", type=output_folder, default=None, metavar="DIR",
                   help="also draw, for each picture, how much a square covering each part of it lowers the "
                        "probability of the class named first: a PNG per picture in DIR, named after it (Zeiler and "
                        "Fergus's test; the square is black on Fashion-MNIST's pictures, which lie on black, and "
                        "elsewhere grey, the network's mean pixel; a forward pass per position of the square: 289 "
                        "for a photo, 576 for a Fashion-MNIST picture)")
    p.add_argument("--occlusion-patch", type=positive_int, default=None, metavar="PIXELS",
                   help="with --occlusion, the square's side in pixels of the picture as the networks see it (a "
                        "photo's central 256x256, or a small-image data set's size), moved by a third of it "
                        "(default: a sixth of the picture, 43 of a photo's 256, 5 of Fashion-MNIST's 28)")
    p.add_argument("--saliency", type=output_folder, default=None, metavar="DIR",
                   help="also draw, for each picture, how much a change of each pixel moves the score of the class "
                        "named first (its output before the softmax): the gradient, one backward pass through the "
                        "network as it classifies (Simonyan, Vedaldi and Zisserman's saliency map; the largest "
                        "|gradient| over a pixel's colours); a PNG per picture in DIR, named after it")
    args = p.parse_args(argv)
    plain_warnings()
    if args.occlusion_patch and not args.occlusion:
        p.error("--occlusion-patch sizes the square of --occlusion: give --occlusion DIR too")
    if args.occlusion and args.saliency and os.path.realpath(args.occlusion) == os.path.realpath(args.saliency):
        p.error("--occlusion and --saliency name their pictures alike (after the image): give them two folders")
    if args.csv and args.csv != "-":   # before minutes of work, not after
        problem = unwritable_file(args.csv)
        if problem:
            raise SystemExit(f"error: --csv {args.csv}: {problem}")
    return args


def main(argv=None):
    args = parse_arguments(argv)
    try:
        device, members, views, names = networks_of(args)
    except EnsembleError as exc:
        raise SystemExit(f"error: {exc}")
    side = 256 if views[0].photos else views[0].size   # the pictures as read: a photo's central 256x256
    if args.occlusion_patch and args.occlusion_patch > side:
        raise SystemExit(f"error: --occlusion-patch {args.occlusion_patch}: larger than the pictures the networks "
                         f"see, {side}x{side}")
    # as the network saw its training images: a photo's central 256x256 (then its crops), or the whole
    # picture at a small-image data set's size
    read = decode if views[0].photos else functools.partial(read_small_image, size=views[0].size,
                                                            channels=views[0].channels, invert=args.invert)
    paths = image_paths(args.images)
    printed, table, drawn = 0, [], set()
    for start in range(0, len(paths), BATCH):   # a batch at a time: a large folder is never all in memory
        images, shown = read_pictures(paths[start:start + BATCH], read)
        if not images:
            continue
        images = np.stack(images)   # each network through its own crop and normalisation, the results averaged
        probs = ensemble_proba(members, views, images, args.ten_crop, device, batch_size=BATCH)
        for path, image, row in zip(shown, images, probs):
            best = np.argsort(-row, kind="stable")[:args.top]
            table.append([path] + [value for k in best for value in (names[k], f"{row[k]:.6f}")])
            if args.csv != "-":
                print(path)
                for k in best:
                    print(f"  {row[k]:7.2%}  {names[k]}")
            if args.occlusion or args.saliency:   # for the class named first
                name = picture_name(path, drawn)
                drawn.add(name)
                if args.occlusion:
                    draw_occlusion(args, name, image, int(best[0]), members, views, names, device)
                if args.saliency:
                    draw_saliency(args, name, image, int(best[0]), members, views, names, device)
        printed += len(shown)
    if not printed:
        raise SystemExit("error: none of the images could be read")
    if args.csv:
        header = ["image"] + [f"{column}_{i}" for i in range(1, min(args.top, len(names)) + 1)
                              for column in ("class", "probability")]
        write_csv(args.csv, [header] + table)


def image_paths(given):
    """The files to classify, in order, from the command line's ``given`` paths: a pattern no shell
    expanded (quoted, or Windows') stands for the files and folders it matches, a folder for the
    image files in it, ``-`` for standard input. What names nothing readable is skipped with a
    warning that says why (no such file, an address, a folder of class folders, ...)."""
    expanded = []
    for path in given:
        matches = sorted(glob.glob(path)) if not os.path.exists(path) and glob.has_magic(path) else []
        expanded += matches or [path]
    paths = []
    for path in expanded:   # a folder stands for the image files in it
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
    return paths


def read_pictures(paths, read):
    """(images, shown): the pictures of ``paths`` that ``read`` decodes (a list of arrays) and their
    paths; ``-`` is the picture on standard input, read now. Each that cannot be read is skipped
    with a warning that says why."""
    images, shown = [], []
    for path in paths:
        piped = standard_input() if path == "-" else None   # the picture piped in, or why there is none
        with quiet_decoding():
            image = piped if isinstance(piped, str) else read(piped or path)
        if isinstance(image, str):
            print(f"warning: skipped {path}: {image}", file=sys.stderr)
            continue
        images.append(image)
        shown.append(path)
    return images, shown


def picture_name(path, taken):
    """The PNG name of the pictures drawn of the image ``path`` (--occlusion's, --saliency's): its
    name, "standard-input" for ``-``, with -2, -3, ... where ``taken`` (names drawn) holds it."""
    stem = "standard-input" if path == "-" else os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
    name, copy = f"{stem}.png", 1
    while name in taken:   # two pictures of one name, from two folders
        copy += 1
        name = f"{stem}-{copy}.png"
    return name


def save_picture(save, target_path, *arguments):
    """``save(*arguments, target_path)`` (a ``minicnn.plots.save_*``), or exit saying why not."""
    try:
        save(*arguments, target_path)
    except OSError as exc:
        raise SystemExit(f"error: cannot write {target_path} ({exc.strerror or exc})")


def draw_occlusion(args, name, image, target, members, views, names, device):
    """Draw the occlusion map of the picture ``image`` (uint8 (C, H, W), as read) for class
    ``target`` into args.occlusion as the PNG ``name``; say where, and what covering the most
    telling square does."""
    proba = functools.partial(ensemble_proba, members, views, ten_crop=args.ten_crop, device=device, batch_size=BATCH)
    occlusion = occlusion_map(proba, image, target, args.occlusion_patch, fill=square_pixel(members[0][1], image.shape[0]))
    target_path = os.path.join(args.occlusion, name)
    save_picture(save_occlusion, target_path, image, occlusion, names[target])
    row, col = most_telling(occlusion)
    covered = proba(covered_at_lowest(image, occlusion))[0]
    said = int(np.argmax(covered))   # what the network says of the picture so covered
    last = occlusion.patch - 1
    print(f"  occlusion: {target_path} ({names[target]} {occlusion.unoccluded:.2%} as it is, "
          f"{occlusion.probability.min():.2%} with rows {row}-{row + last}, columns {col}-{col + last} covered, "
          f"where it says {names[said]} {covered[said]:.2%})", file=sys.stderr if args.csv == "-" else sys.stdout)


def draw_saliency(args, name, image, target, members, views, names, device):
    """Draw the saliency map of the picture ``image`` (uint8 (C, H, W), as read) for class
    ``target`` into args.saliency as the PNG ``name``; say where, how concentrated it is and
    where it is largest."""
    result = saliency(members, views, image, target, args.ten_crop, device)
    target_path = os.path.join(args.saliency, name)
    save_picture(save_saliency, target_path, image, result, names[target])
    pixel_map = saliency_map(result)
    row, col = largest(pixel_map)
    steepest = result.gradient[np.argmax(np.abs(result.gradient[:, row, col])), row, col]   # signed: its channel's
    print(f"  saliency: {target_path} (score of {names[target]} {result.score:.2f}; half of its |gradient| in "
          f"{share_of_pixels(pixel_map):.1%} of the pixels; steepest at row {row}, column {col}: {steepest:+.3g} per "
          f"pixel value)", file=sys.stderr if args.csv == "-" else sys.stdout)


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
