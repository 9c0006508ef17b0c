"""Checkpoints: parameters, buffers, optimizer state, epoch, random state and config in one
``.npz`` (no pickle: loaded with ``allow_pickle=False``) with the JSON metadata stored inside it
and beside it (``.json``), written atomically (temporary file, fsync, rename) so that a crash or
a kill at any moment leaves the last good checkpoint intact."""
import errno
import json
import os
import tempfile
import zipfile

import numpy as np

from minicnn.backend import to_numpy


class CheckpointError(ValueError):
    """A checkpoint is unreadable or does not fit the model."""


def _umask():
    """The process's file-creation mask (read by setting it and setting it back: there is no other
    portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()   # read once, at import, before any thread of ours writes a file


def atomic_write(path, write, check=None):
    """Call ``write(file object)`` on a temporary file in path's folder, fsync it, and rename it
    onto ``path``; ``check(temporary_path)``, if given, runs before the rename and may raise (a
    download's checksum). On any error the temporary file is removed and ``path`` is untouched; a
    ``path`` that names a folder raises IsADirectoryError saying so. The file gets the permissions
    ``open`` would give it (readable by others where the umask allows, as on a shared machine), not
    the owner-only ones of ``tempfile.mkstemp``."""
    if os.path.isdir(path) or str(path).endswith(os.sep):   # else the rename's error names the temporary file
        raise IsADirectoryError(errno.EISDIR, "a folder, not a file: name a file in it", path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path), suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~UMASK)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if check:
            check(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)   # make the rename itself durable
    finally:
        os.close(dir_fd)


def write_npz(path, arrays):
    """Write the named ``arrays`` to ``path`` as an .npz file (what ``np.savez`` writes: a zip of
    .npy files, no pickle), atomically. The zip file is closed however the writing ends: NumPy's
    own ``savez`` before 2.0 left it open when a write failed or was interrupted, and its clean-up,
    with the file already closed, printed a traceback (``ValueError: seek of closed file``) after
    the script's last words."""
    def write_zip(f):
        with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, value in arrays.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as member:   # as savez does
                    np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
    atomic_write(path, write_zip)


def save(path, model, optimizer=None, meta=None, comm=None):
    """Write model (and optimizer) state plus ``meta`` (a JSON-serialisable dict) to ``path``.

    With ``comm`` (a ``minicnn.distributed.Communicator``) every rank calls it and rank 0 alone
    writes. A model spread over the ranks (one with ``gather_state``: ``minicnn.hybrid``) has its
    tensors gathered whole first, so the file has the plain model's layout."""
    model_state = model.state_dict()
    optim_state = optimizer.state_dict() if optimizer is not None else {}
    if hasattr(model, "gather_state"):
        model_state, optim_state = model.gather_state(model_state), model.gather_state(optim_state)
    if comm is not None and not comm.is_root:
        return
    arrays = {"model/" + k: to_numpy(v) for k, v in model_state.items()}
    arrays.update({"optim/" + k: to_numpy(v) for k, v in optim_state.items()})
    write(path, arrays, dict(meta or {}, random_state=model.random_state()))


def write(path, arrays, meta):
    """Write a checkpoint's ``arrays`` ("model/<name>", "optim/<name>") and its metadata ``meta``
    (a JSON-serialisable dict) to ``path``, the metadata stored inside (the "meta" array: its JSON
    text as bytes) and beside it (``.json``, for a reader with no NumPy), each file atomically."""
    text = json.dumps(meta, indent=2, sort_keys=True)
    arrays = dict(arrays, meta=np.frombuffer(text.encode(), dtype=np.uint8))
    write_npz(path, arrays)
    atomic_write(os.path.splitext(path)[0] + ".json", lambda f: f.write(text.encode()))


def read_meta(path, arrays):
    """The metadata dict that ``write`` stored in a checkpoint's ``arrays`` (``read_npz(path)``'s
    result; the "meta" array is removed from it), or None when they hold none (a plain weights
    file). Metadata that is no JSON object raises CheckpointError."""
    if "meta" not in arrays:
        return None
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint metadata ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: checkpoint metadata is a JSON {type(meta).__name__}, expected an object")
    return meta


def read_npz(path, what="checkpoint", names=None):
    """The arrays of one of minicnn's .npz files, by name, loaded without pickle (only those of
    ``names`` that it holds, when given: the others are not read; ``names`` may also be a test of
    the name). A missing file, a folder (a run's, whose checkpoint it names), or one that is
    truncated or no .npz at all, raises CheckpointError naming ``what`` it should have been."""
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such {what}")
    if os.path.isdir(path):   # a run's output folder, given for the checkpoint in it
        inside = os.path.join(path, "checkpoint.npz")
        hint = f": give the run's checkpoint, {inside}" if os.path.isfile(inside) else ""
        raise CheckpointError(f"{path}: a folder, not a {what}{hint}")
    beside = os.path.splitext(os.fspath(path))[0] + ".npz"   # given checkpoint.json, the metadata beside it
    if beside != os.fspath(path) and os.path.isfile(beside) and not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a {what} but a file beside one: give {beside}")
    try:
        if not zipfile.is_zipfile(path):   # else numpy tries the file as a pickle, and says so
            raise ValueError("no zip archive inside")
        with np.load(path, allow_pickle=False) as z:
            wanted = names if callable(names) else (lambda k: names is None or k in names)
            return {k: z[k] for k in z.files if wanted(k)}
    except Exception as exc:   # zipfile.BadZipFile, EOFError, ValueError ...
        raise CheckpointError(f"{path}: unreadable {what} ({type(exc).__name__}: {exc}); "
                              f"it is truncated or not a minicnn {what}") from None


def load(path, model, optimizer=None, expect=None):
    """Load ``path`` into ``model`` (and ``optimizer``); return its metadata dict.

    ``expect`` maps metadata keys to required values (e.g. {"model": "alexnet"}); a mismatch, a
    truncated file or a missing tensor raises CheckpointError naming what is wrong.
    """
    arrays = read_npz(path)
    meta = read_meta(path, arrays)
    if meta is None:
        raise CheckpointError(f"{path}: not a minicnn checkpoint (no metadata)")
    meta.setdefault("split", "none")  # checkpoints older than the two-device split are single-device
    for key, value in (expect or {}).items():
        if meta.get(key) != value:
            raise CheckpointError(f"{path}: checkpoint has {key}={meta.get(key)!r}, expected {value!r}")
    model_state = {k[6:]: v for k, v in arrays.items() if k.startswith("model/")}
    optim_state = {k[6:]: v for k, v in arrays.items() if k.startswith("optim/")}
    if hasattr(model, "local_state"):   # a model spread over the ranks takes its part of each tensor
        model_state, optim_state = model.local_state(model_state), model.local_state(optim_state)
    try:
        model.load_state_dict(model_state)
        if optimizer is not None:
            optimizer.load_state_dict(optim_state)
    except (KeyError, ValueError) as exc:
        why = exc.args[0] if isinstance(exc, KeyError) else exc   # a KeyError's str() adds quotes
        raise CheckpointError(f"{path}: does not fit the model: {why}") from None
    model.set_random_state(meta.get("random_state", {}))
    return meta
