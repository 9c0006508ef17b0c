"""CIFAR-10 from its python batches (``cifar-10-batches-py``: data_batch_1..5, test_batch), the
format of cuda-convnet's own data: 50,000 train + 10,000 test 32x32 RGB images, 10 classes.

The batches are looked for in the folder given, or else in ``cifar-10-batches-py`` of minicnn's cache
folder (``~/.cache/minicnn``, or ``$MINICNN_CACHE_DIR``);
``download`` fetches the archive from its authors' page (170 MB), checks it, and unpacks the six
batches there, each checked against its published MD5 (the checksums torchvision uses too).

The batches are pickles. Unpickling can run arbitrary code, so they are read with an unpickler
that only builds plain containers and NumPy arrays and refuses everything else.
"""
import os
import pickle
import tarfile

import numpy as np

from minicnn.checkpoint import atomic_write
from minicnn.data.download import DataError, download_folder, fetch, file_digest, find_or_download, not_found
from minicnn.environment_variables import cache_root

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)


def cache_folder():
    """The folder looked in without --data, which downloads go into."""
    return os.path.join(cache_root(), "cifar-10-batches-py")


def how_to_get(folder=None):
    """How to get the files by hand: into ``folder`` (a folder given, which nothing is downloaded
    into), else into the search path's folder; where ``folder`` is the archive itself, unpacked."""
    if folder and os.path.isfile(folder):
        return (f"unpack it (tar xzf {folder}) and give --data the folder it unpacks into, cifar-10-batches-py "
                f"(or leave --data out: the batches are then looked for in {cache_folder()} and downloaded when "
                f"missing)")
    where = (f"{folder}, or leave --data out: the batches are then looked for in {cache_folder()} and downloaded "
             f"when missing") if folder else f"{cache_folder()}, or pass --data"
    return ("download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it so "
            f"that its six batches (data_batch_1 to data_batch_5, test_batch) lie in {where}")


URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"   # 170,498,071 bytes
MD5 = {   # each batch as the archive holds it, under cifar-10-batches-py/
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}

# The only globals a CIFAR batch pickle refers to (NumPy 1 and NumPy 2 spell the module differently).
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("_codecs", "encode")}   # protocol-2 pickles spell byte strings with it; harmless


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only arrays")
        if module == "_codecs":
            import codecs
            return codecs.encode
        if module.startswith("numpy") and module.endswith("multiarray"):
            return getattr(np._core.multiarray if hasattr(np, "_core") else np.core.multiarray, name)
        return getattr(np, name)


def read_batch(path):
    """Return (images uint8 (N, 3, 32, 32), labels int64 (N,)) of one batch file."""
    try:
        with open(path, "rb") as f:
            d = _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"{path}: missing; {how_to_get(os.path.dirname(path) or '.')}") from None
    except Exception as exc:
        raise DataError(f"{path}: not a readable CIFAR-10 batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with data and labels)")
    data, labels = np.asarray(d[b"data"]), np.asarray(d[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path}: data must be uint8 (N, 3072) with N labels, got {data.dtype} "
                        f"{data.shape} and {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: labels must lie in [0, 9]")
    return data.reshape(-1, 3, 32, 32), labels


def find_folder(folder=None):
    """Return the first folder that holds all six batches; raise DataError saying how to get them.

    A folder given explicitly is the only one looked at (a typo must not silently train on other
    data), with the archive's own folder in it, ``folder``/cifar-10-batches-py, where unpacking
    the archive into ``folder`` puts the batches."""
    candidates = [folder] if folder else [cache_folder()]
    if folder and os.path.isdir(os.path.join(folder, "cifar-10-batches-py")):
        candidates.append(os.path.join(folder, "cifar-10-batches-py"))
    for c in candidates:
        if all(os.path.exists(os.path.join(c, f)) for f in TRAIN_FILES + TEST_FILES):
            return c
    raise not_found("CIFAR-10", candidates, TRAIN_FILES + TEST_FILES, how_to_get(folder))


def _check_md5(path, name, expected):
    if file_digest(path, "md5") != expected:
        raise DataError(f"{name}: checksum mismatch")


def download(folder=None, progress=None, timeout=60):
    """Download the archive, check it, and unpack the six batches into ``folder`` (default:
    ``cache_folder()``); return ``folder``.

    Batches already in ``folder`` are kept. Each is written under a temporary name and renamed
    only once its MD5 matches, so an interrupted run leaves nothing that looks complete; the
    archive itself (next to ``folder``) is deleted once unpacked. Only the six batch files are
    read out of the archive, by name: nothing else in it is written anywhere. ``progress`` as in
    ``minicnn.data.download.fetch``. Raises DataError saying how to get the files by hand."""
    folder = folder or cache_folder()
    missing = [name for name in MD5 if not os.path.exists(os.path.join(folder, name))]
    if not missing:
        return folder
    download_folder(folder, how_to_get())
    archive = os.path.join(os.path.dirname(os.path.abspath(folder)), os.path.basename(URL))
    if not os.path.exists(archive):
        fetch(URL, archive, lambda part: _check_md5(part, os.path.basename(URL), ARCHIVE_MD5), how_to_get(),
              progress, timeout)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in missing:
                try:
                    member = tar.extractfile(f"cifar-10-batches-py/{name}")
                except KeyError:
                    member = None
                if member is None:
                    raise DataError(f"{archive} holds no file cifar-10-batches-py/{name}")
                atomic_write(os.path.join(folder, name), lambda out: out.write(member.read()),
                             lambda part, name=name: _check_md5(part, name, MD5[name]))
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise DataError(f"{archive}: cannot unpack ({type(exc).__name__}: {exc}); delete it and try again, "
                        f"or {how_to_get()}") from None
    os.remove(archive)
    return folder


def load(split, folder=None, download_missing=False, progress=None):
    """Return (images uint8 (N, 3, 32, 32), labels int64 (N,)) of ``split`` ("train" or "test").

    With ``download_missing`` and no ``folder``, missing batches are downloaded (checksums
    checked) into ``cache_folder()``."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}: expected 'train' or 'test'")
    root = find_or_download(find_folder, lambda: download(progress=progress), folder,
                            download_missing)
    parts = [read_batch(os.path.join(root, f)) for f in (TRAIN_FILES if split == "train" else TEST_FILES)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def write_batch(path, images, labels):
    """Write a batch in CIFAR's format (used by the tests to make small data)."""
    with open(path, "wb") as f:
        pickle.dump({b"data": np.asarray(images, np.uint8).reshape(len(images), -1),
                     b"labels": [int(v) for v in labels]}, f, protocol=2)
