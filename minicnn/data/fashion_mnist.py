"""Fashion-MNIST from its four IDX files (60,000 train + 10,000 test 28x28 grey images), each
gzip-compressed as published (``train-images-idx3-ubyte.gz``) or uncompressed
(``train-images-idx3-ubyte``, as Kaggle's copy and torchvision's ``FashionMNIST/raw`` hold them).

The files are looked for in the folder given (or its ``FashionMNIST/raw``, torchvision's layout),
or else in ``fashion-mnist`` of minicnn's cache folder (``~/.cache/minicnn``, or
``$MINICNN_CACHE_DIR``), then ``/usr/share/datasets/fashion-mnist`` (where
Debian's ``dataset-fashion-mnist`` puts them); ``download`` fetches them into the first, checking
checksums.
"""
import gzip
import hashlib
import os
import struct

import numpy as np

from minicnn.data.download import DataError, download_folder, fetch, find_or_download, not_found
from minicnn.environment_variables import cache_root

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SYSTEM_FOLDER = "/usr/share/datasets/fashion-mnist"   # Debian's dataset-fashion-mnist
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot")


def search_path():
    """The folders looked in without --data, in order: the cache's, which downloads go into, then
    the system's."""
    return (os.path.join(cache_root(), "fashion-mnist"), SYSTEM_FOLDER)


def how_to_get(folder=None):
    """How to get the files by hand: into ``folder`` (a folder given, which nothing is downloaded
    into), else into the first folder of the search path."""
    where = (f"{folder}, or leave --data out: the files are then looked for in {' and '.join(search_path())} "
             f"and downloaded when missing") if folder else search_path()[0]
    return ("get the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
            f"t10k-labels-idx1-ubyte.gz (or the same uncompressed) from "
            f"https://github.com/zalandoresearch/fashion-mnist (data/fashion) into {where}; on Debian: apt-get install "
            f"dataset-fashion-mnist")



URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# SHA-256 of the *uncompressed* IDX data, so that any faithful copy passes whatever gzip made it.
SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


TORCHVISION_LAYOUT = os.path.join("FashionMNIST", "raw")   # torchvision.datasets.FashionMNIST(root)'s files


def file_path(folder, name):
    """The path of the IDX file ``name`` (its ``.gz`` name) in ``folder``: compressed, or else
    uncompressed; None when neither is there."""
    for candidate in (name, name[:-len(".gz")]):
        if os.path.isfile(os.path.join(folder, candidate)):
            return os.path.join(folder, candidate)
    return None


def find_folder(folder=None):
    """Return the first folder that holds all four files (each compressed or not); raise
    DataError saying how to get them.

    A folder given explicitly is the only one looked at (a typo must not silently train on
    other data), with its ``FashionMNIST/raw`` (torchvision's root); otherwise the search path is
    tried in order."""
    candidates = [folder] if folder else list(search_path())
    names = [f for pair in FILES.values() for f in pair]
    for c in candidates + ([os.path.join(folder, TORCHVISION_LAYOUT)] if folder else []):
        if all(file_path(c, f) for f in names):
            return c
    raise not_found("Fashion-MNIST", candidates, names, how_to_get(folder),
                    present=lambda c, f: file_path(c, f) is not None)


def payload_sha256(path):
    """SHA-256 of a gzip file's uncompressed content."""
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(folder=None, progress=None, timeout=30):
    """Download the four files into ``folder`` (default: the cache's, ``search_path()[0]``) and
    check their checksums; return ``folder``.

    Each file is installed only once verified (``minicnn.data.download.fetch``), so an
    interrupted download leaves nothing that looks complete. ``progress(total_bytes, name)`` may
    return a callback taking the bytes of each block (a progress bar). Raises DataError saying how
    to get the files by hand when the download fails.
    """
    folder = download_folder(folder or search_path()[0], how_to_get())
    for name, expected in SHA256.items():
        target = os.path.join(folder, name)
        if not os.path.exists(target):
            fetch(URL + name, target, lambda part, name=name, expected=expected: _check_payload(part, name, expected),
                  how_to_get(), progress, timeout)
    return folder


def _check_payload(path, name, expected):
    if payload_sha256(path) != expected:
        raise DataError(f"{name}: checksum mismatch after download")


def read_idx(path, expected_ndim):
    """Read an IDX file (gzip-compressed or not: its first bytes say) into a uint8 array, checking
    its header and size."""
    try:
        with open(path, "rb") as f:
            compressed = f.read(2) == b"\x1f\x8b"   # gzip's magic number; an IDX file starts with 0x0000
        with (gzip.open if compressed else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc}); the file is corrupt or truncated") from None
    if len(data) < 4 + 4 * expected_ndim:
        raise DataError(f"{path}: too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08 or ndim != expected_ndim:
        raise DataError(f"{path}: not an IDX file of unsigned bytes with {expected_ndim} dimensions "
                        f"(header {data[:4].hex()})")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path}: header promises shape {shape} ({int(np.prod(shape))} bytes), "
                        f"found {body.size} bytes")
    return body.reshape(shape)


def load(split, folder=None, download_missing=False, progress=None):
    """Return (images uint8 (N, 28, 28), labels int64 (N,)) of ``split`` ("train" or "test").

    With ``download_missing`` and no ``folder``, files found nowhere are downloaded (with a
    checksum check) into the first folder of ``search_path()``."""
    if split not in FILES:
        raise ValueError(f"unknown split {split!r}: expected 'train' or 'test'")
    root = find_or_download(find_folder, lambda: download(progress=progress), folder,
                            download_missing)
    images = read_idx(file_path(root, FILES[split][0]), 3)
    labels = read_idx(file_path(root, FILES[split][1]), 1).astype(np.int64)
    if len(images) != len(labels):
        raise DataError(f"{root}: {len(images)} {split} images but {len(labels)} labels")
    if labels.size and labels.max() >= len(CLASSES):
        raise DataError(f"{root}: label {labels.max()} out of range for {len(CLASSES)} classes")
    return images, labels


def write_idx(path, array):
    """Write a uint8 array as a gzip-compressed IDX file (used by the tests to make small data)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(array.tobytes())
