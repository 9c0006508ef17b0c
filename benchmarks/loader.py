#!/usr/bin/env python3
"""Throughput of the image-folder pipeline alone, without a network: the one-time preparation
(decode, resize to 256, centre crop, into the cache) and the per-epoch loader (random 227 crops,
mirrors and PCA colour shifts, normalisation) in images/s, each loader's first epoch apart from
its later ones (the training loader's first reads the cache file in, a memory map; later epochs
find it in memory where it fits).

    python benchmarks/loader.py                      # a generated folder of 1024 JPEGs (500x375)
    python benchmarks/loader.py --data ~/imagenet/train --epochs 2
"""
import argparse
import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import add_out_argument, machine_description, write_results  # noqa: E402

from minicnn.data import image_folder  # noqa: E402
from minicnn.arguments import positive_int, run_script, user_path  # noqa: E402
from minicnn.data.loader import BatchLoader  # noqa: E402


def generate(root, count, seed=0):
    """``count`` JPEG photos-to-be (500x375, ImageNet's typical size) in 4 class folders."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for i in range(count):
        folder = os.path.join(root, f"class{i % 4}")
        os.makedirs(folder, exist_ok=True)
        base = rng.integers(0, 256, (47, 63, 3), dtype=np.uint8)   # smooth content compresses like a photo
        Image.fromarray(base).resize((500, 375), Image.BILINEAR).save(os.path.join(folder, f"{i}.jpg"), quality=90)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=user_path, default=None, help="an image folder (default: generate one)")
    p.add_argument("--count", type=positive_int, default=None,
                   help="images to generate, without --data (default: 1024)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="loader batch (default: 128)")
    p.add_argument("--epochs", type=positive_int, default=5,
                   help="epochs of each loader timed: the first, then the median of the others (default: 5)")
    add_out_argument(p)
    args = p.parse_args(argv)
    if args.data is not None and args.count is not None:
        p.error("--count is the number of images to generate; with --data the folder's own are read: drop --count")
    work = tempfile.mkdtemp(prefix="minicnn-loader-")
    try:
        root = args.data or os.path.join(work, "images")
        if args.data is None:
            generate(root, args.count or 1024)
        start = time.perf_counter()
        data = image_folder.prepare(root, cache=os.path.join(work, "cache"))
        prepare_s = time.perf_counter() - start
        n = len(data.labels)
        rates = {}   # loader -> images/s of each epoch
        for name, kwargs in (("train: crop 227, mirror, PCA colour", dict(augment=True, pca=data.pca)),
                             ("test: centre crop 227", dict(augment=False))):
            for epoch in range(args.epochs):
                loader = BatchLoader(data.images, data.labels, args.batch_size, shuffle=True, crop=227,
                                     mean=data.mean, std=data.std, epoch=epoch, **kwargs)
                start = time.perf_counter()
                seen = sum(len(y) for _, y in loader)
                rates.setdefault(name, []).append(seen / (time.perf_counter() - start))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    today = datetime.date.today().isoformat()
    later = f"epochs 2-{args.epochs}, median" if args.epochs > 2 else "epoch 2"
    table = (f"Image-folder pipeline, {n} images, batch {args.batch_size} ({machine_description()}, {today})\n\n"
             f"| stage | images/s |\n|---|---|\n| prepare once: decode, resize, crop to 256, cache "
             f"| {n / prepare_s:.0f} |\n"
             + "".join(f"| loader, {k}, epoch 1 | {v[0]:.0f} |\n"
                       + (f"| loader, {k}, {later} | {statistics.median(v[1:]):.0f} |\n" if len(v) > 1 else "")
                       for k, v in rates.items()))
    print(table)
    paths = write_results(args.out, f"cpu-loader-{today}", table,
                          dict(images=n, prepare_images_per_s=n / prepare_s, loader_images_per_s_by_epoch=rates,
                               machine=machine_description(), date=today))
    print("written:", ", ".join(paths))


if __name__ == "__main__":
    run_script(main)
