"""Fetching a data set's files: one way to download, check and install a file.

A file is streamed to a temporary name beside its target, checked, and only then renamed to the
target (``minicnn.checkpoint.atomic_write``, as checkpoints are written), so an interrupted or
corrupt download never leaves anything that looks complete, and a file already in place is never
touched. Fashion-MNIST (``fashion_mnist.download``) and CIFAR-10
(``cifar10.download``) both go through ``fetch``.
"""
import hashlib
import http.client
import os
import urllib.request

from minicnn.checkpoint import atomic_write
from minicnn.environment_variables import make_cache_folder


class DataError(ValueError):
    """A data file is missing or not what it claims to be."""


def file_digest(path, algorithm="md5"):
    """Hex digest of a file's bytes (read in blocks of 1 MiB)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url, target, check, how_to_get, progress=None, timeout=30):
    """Download ``url`` into ``target`` through ``atomic_write``; return ``target``.

    ``check(part_path)`` raises DataError when the bytes are not the expected ones (a checksum).
    ``progress(total_bytes, name)`` may return a callback taking the bytes of each block (a
    progress bar). Any failure (the network, a short read, the check) raises DataError naming the
    URL and ending with ``how_to_get``, the way to get the file by hand."""
    name = os.path.basename(target)

    def write(out):
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length", 0) or 0)
            update = progress(total, name) if progress else None
            received = 0
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                received += len(block)
                if update:
                    update(len(block))
        # http.client returns a body cut short as if it were whole (reads of a given size raise no
        # IncompleteRead), and the checksum would only say that the bytes are wrong
        if total and received != total:
            raise DataError(f"the connection ended after {received:,} of its {total:,} bytes")

    try:
        atomic_write(target, write, check)
        return target
    except (OSError, EOFError, http.client.HTTPException, DataError) as exc:   # HTTPException: a chunked body cut
        raise DataError(f"download of {url} failed ({exc}); {how_to_get}") from None


def download_folder(folder, how_to_get):
    """Create ``folder`` for a download and return it; a DataError naming it and why when it
    cannot be made, ending with ``how_to_get`` the files."""
    return make_cache_folder(folder, "to download into", DataError, how_to_get)


def not_found(name, candidates, files, how_to_get, present=None):
    """The DataError for data set ``name`` found in none of the folders ``candidates``: what each
    lacks (the folder itself, or which of ``files``: those for which ``present(folder, file)`` is
    false, by default those not in it), then ``how_to_get`` the files."""
    present = present or (lambda folder, f: os.path.exists(os.path.join(folder, f)))
    lacks = []
    for folder in candidates:
        missing = [f for f in files if not present(folder, f)]
        lacks.append(f"{folder} (" + ("a file, not a folder" if os.path.isfile(folder) else
                                      "no such folder" if not os.path.isdir(folder) else
                                      "missing " + ", ".join(missing)) + ")")
    return DataError(f"{name} not found in {'; '.join(lacks)}; {how_to_get}")


def find_or_download(find_folder, download, folder=None, download_missing=False):
    """A data set's folder: ``find_folder(folder)`` (the folder given, or the first of the search
    path that holds the files), or else, with ``download_missing`` and no folder given, what
    ``download()`` fetched the files into. A folder given is never downloaded into: a typo must
    not fill a new folder. Raises ``find_folder``'s DataError, which says how to get the files."""
    try:
        return find_folder(folder)
    except DataError:
        if folder or not download_missing:
            raise
        return download()
