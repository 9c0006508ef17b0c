"""Image-folder data sets (ImageNet's ``train/<synset>/*.JPEG`` layout, or your own classes),
prepared the way the AlexNet paper did, once, into a compact cache.

    root/
      cats/  0001.jpg 0002.png ...
      dogs/  ...

Class names are the folder names, sorted; files are taken in sorted order, those in subfolders of
a class folder too (``cats/2019/0001.jpg``), as torchvision's ImageFolder takes them. Each image is
decoded with Pillow, turned upright as its EXIF orientation says (a phone's portrait photo is
stored on its side), converted to 8-bit RGB (grayscale, palette, RGBA, CMYK and 16-bit images
included), its shorter side resized to 256 and the central 256x256 kept (the paper's section 2).
The result goes to a raw uint8 memory-mapped array (N, 3, 256, 256), ``images.uint8``, in a cache
folder, with the labels and a ``meta.json`` holding the class names, the files and the skipped
files (their paths within the folder), a signature of the source (names within it, sizes,
modification times) and the RGB statistics: per-channel mean and std, and the eigenvalues and
eigenvectors of the 3x3 RGB covariance for the paper's PCA colour augmentation. A later
``prepare`` with an unchanged source reuses the cache and decodes nothing, whether the folder is
named as before or otherwise (``photos``, ``./photos/``, its absolute path, a link to it).

Files that cannot be read (truncated, not an image) are skipped with one warning line each and
a count at the end; an empty class folder is kept as a class (its label exists) with a warning.
"""
import concurrent.futures
import contextlib
import errno
import functools
import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass

import numpy as np

from minicnn.data import DataError
from minicnn.environment_variables import cache_root, make_cache_folder
from minicnn.layers.base import check_number

HEIF_EXTENSIONS = (".heic", ".heif")   # an iPhone's photos: Pillow reads them with the pillow-heif plugin
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".avif",
                    ".ppm", ".pgm") + HEIF_EXTENSIONS
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".7z", ".rar")   # what --data may wrongly name
STORED_SIZE = 256           # the paper: shorter side to 256, central 256x256
PCA_SAMPLE_IMAGES = 1000    # images sampled for the RGB statistics
PCA_SAMPLE_PIXELS = 1024    # pixels per sampled image


def scan(root, classes=None):
    """(files, labels, classes) of an image folder. ``classes`` (e.g. the training set's) fixes
    the label of each class name; a class without a folder here gets a warning."""
    if os.path.isfile(root):   # an archive of the pictures, say, or one picture
        unpack = "; unpack the archive first" if root.lower().endswith(ARCHIVES) else ""
        raise DataError(f"{root} is a file; an image folder is a folder of class folders of pictures "
                        f"({root}/<class>/*.jpg){unpack}")
    if not os.path.isdir(root):
        raise DataError(f"image folder {root} does not exist")
    found = class_folders(root)
    training = classes is None   # the classes are this folder's (not a validation set's, fixed by training)
    if training:
        classes = found
    loose_files = image_files(root)
    count = len(loose_files)
    loose = f" (the {count} image{'s' if count > 1 else ''} directly inside {'are' if count > 1 else 'is'} not used)" \
        if count else ""
    if not classes:
        # ImageNet's validation images come in one folder, their classes in a separate list
        imagenet = any(os.path.basename(f).startswith("ILSVRC2012_val_") for f in loose_files[:1])
        raise DataError(f"{root} has no class folders{loose}: expected {root}/<class name>/<image files>" + (
            "; ImageNet's validation images come unsorted: move each into the folder of its class (its "
            "synset, n01440764 ...), as the training images are, from the development kit's labels "
            "(ILSVRC2012_validation_ground_truth.txt and meta.mat)" if imagenet else ""))
    if training and len(classes) == 1:   # a training set of one class: every "prediction" would be right
        raise DataError(f"{root} has one class folder ({classes[0]}); a classifier needs two or more")
    unknown = [d for d in found if d not in classes]
    if unknown:
        raise DataError(f"{root} has class folders {unknown} that the class list {list(classes)} lacks")
    files, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            warnings.warn(f"{root}: no folder for class {name!r}", stacklevel=2)
            continue
        names = class_images(folder)
        if not names:
            warnings.warn(f"{folder}: empty class folder (no image files)", stacklevel=2)
        files += names
        labels += [label] * len(names)
    if not files:
        raise DataError(f"the class folders of {root} hold no image files ({', '.join(IMAGE_EXTENSIONS)}){loose}")
    pictured = sorted(set(labels))
    if training and len(pictured) == 1:   # one class to learn is none
        empty = [name for label, name in enumerate(classes) if label not in pictured]
        raise DataError(f"{root} has pictures of one class only ({classes[pictured[0]]}; the folders of "
                        f"{', '.join(empty)} hold none); a classifier needs two or more")
    return files, np.array(labels, dtype=np.int64), list(classes)


def class_folders(root):
    """The names of the class folders in ``root``: its subfolders, sorted, hidden ones passed over
    (``.ipynb_checkpoints``, ``.git``)."""
    return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))


def image_files(folder):
    """The paths of the image files in ``folder`` (by extension: IMAGE_EXTENSIONS), sorted by name;
    subfolders are not entered, and hidden files are passed over (macOS writes a ``._name.jpg`` of
    metadata beside each picture on a foreign disk, which is no image)."""
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder))
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
            and os.path.isfile(os.path.join(folder, f))]


def class_images(folder):
    """The image files of a class folder and of the folders in it, at any depth (as torchvision's
    ImageFolder takes them: a class's pictures sorted into subfolders by date or source stay its
    own): the folder's own first, then each subfolder's in sorted order; hidden files and folders
    passed over, and a folder reached twice (a link back up the tree) taken once."""
    found, walked = [], set()
    for here, subfolders, _ in os.walk(folder, followlinks=True):
        if os.path.realpath(here) in walked:   # a link back up the tree: its pictures are taken already
            subfolders[:] = []
            continue
        walked.add(os.path.realpath(here))
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))   # walked in this order
        found += image_files(here)
    return found


def to_rgb8(image):
    """A Pillow image as 8-bit RGB: 16-bit and 32-bit grey are scaled down (floating-point grey
    whose values lie in [0, 1] scaled up from there), CMYK, palette, grey and alpha images
    converted (alpha dropped)."""
    from PIL import Image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or a.max() > 255 else 255.0
        if image.mode == "F" and a.max() <= 1.0:   # floating-point pictures are mostly kept in [0, 1]
            top = 1.0
        image = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def upright(image):
    """A Pillow image turned as its EXIF Orientation tag says a viewer shows it. The tag is read
    here rather than through Pillow's ``ImageOps.exif_transpose``, which also rewrites the EXIF
    block and fails on the malformed ones some cameras and editors write; a tag that cannot be
    read leaves the picture as stored (Pillow's warnings about the block: see quiet_decoding)."""
    from PIL import Image
    turns = {2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180, 4: Image.FLIP_TOP_BOTTOM, 5: Image.TRANSPOSE,
             6: Image.ROTATE_270, 7: Image.TRANSVERSE, 8: Image.ROTATE_90}
    try:
        turn = turns.get(image.getexif().get(0x0112, 1))   # 0x0112: Orientation
    except Exception:   # noqa: BLE001 (any malformed EXIF block: the picture itself is still good)
        return image
    return image if turn is None else image.transpose(turn)


@contextlib.contextmanager
def quiet_decoding():
    """Pillow's warnings silenced while pictures are decoded: those about a malformed EXIF block,
    which say nothing of the picture (still good, and used as stored) nor name its file, and those
    about a very large picture (DecompressionBombWarning: the pictures are the user's own; past
    Pillow's second limit decode skips the file, naming it). Entered once around a whole run of
    decodes, not in each: ``warnings.catch_warnings`` is not safe in several threads at once."""
    from PIL import Image
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")   # PIL.TiffImagePlugin's EXIF reader
        yield


def center_resized(image, size=STORED_SIZE):
    """Shorter side to ``size`` (bilinear with antialiasing), then the central size x size:
    uint8 (3, size, size)."""
    from PIL import Image
    w, h = image.size
    scale = size / min(w, h)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    image = image.resize(new, Image.BILINEAR, reducing_gap=None)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    image = image.crop((left, top, left + size, top + size))
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


def decode(path, size=STORED_SIZE):
    """uint8 (3, size, size) of the image at ``path``, upright as a viewer shows it (a camera's
    EXIF orientation applied), or the reason it cannot be read. A large JPEG is decoded at the
    smallest of 1/2, 1/4 or 1/8 scale still at least ``size`` on each side: libjpeg scales as it
    decodes, which skips most of the work for a phone's photo and changes the result by a level or
    two of 255 (the antialiased resize that follows does the rest of the scaling)."""
    from PIL import Image, UnidentifiedImageError
    heif = str(path).lower().endswith(HEIF_EXTENSIONS) and heif_opener()
    try:
        with Image.open(path) as image:
            image.draft(None, (size, size))   # a no-op for every other format
            image.load()
            return center_resized(to_rgb8(upright(image)), size)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        if heif is None:   # no plugin: say how to get one, not "cannot identify image file"
            return ("HEIC/HEIF (an iPhone's photos), which Pillow reads with the pillow-heif plugin: pip install "
                    "pillow-heif, or convert the photos to JPEG")
        return f"{type(exc).__name__}: {exc}"


@functools.lru_cache(maxsize=None)
def heif_opener():
    """True once pillow-heif's opener is registered with Pillow (HEIC and HEIF files then open like
    any other picture), None where the plugin is not installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return None
    register_heif_opener()
    return True


def signature(files, size, root):
    """A hash of the file names (within ``root``: the folder named as ``photos``, ``./photos/``
    or by its absolute path is the same folder, whose cache is reused), sizes and modification
    times, and of the stored size."""
    digest = hashlib.sha256(str(size).encode())
    for f in files:
        st = os.stat(f)
        digest.update(f"{os.path.relpath(f, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass
class ImageFolder:
    """A prepared image folder: ``images`` uint8 (N, 3, S, S) (memory-mapped), ``labels`` (N,),
    ``classes``, and the RGB statistics of ``meta`` (mean, std, pca_eigenvalues, pca_eigenvectors)."""
    images: np.ndarray
    labels: np.ndarray
    classes: list
    meta: dict

    @property
    def mean(self):
        return tuple(self.meta["mean"])

    @property
    def std(self):
        return tuple(self.meta["std"])

    @property
    def pca(self):
        """(eigenvalues (3,), eigenvectors (3, 3) as columns) of the RGB covariance, pixels in [0, 1]."""
        return np.array(self.meta["pca_eigenvalues"]), np.array(self.meta["pca_eigenvectors"])


class Subset:
    """Rows ``indices`` of a (memory-mapped) image array, read only when indexed: a train/val
    split of a large folder without copying it into memory. Supports ``len``, ``shape``,
    ``ndim`` and indexing by an int, an index array (read now) or a slice (another Subset)."""

    def __init__(self, images, indices):
        self.images, self.indices = images, np.asarray(indices)
        self.shape = (len(self.indices),) + tuple(images.shape[1:])
        self.ndim, self.dtype = images.ndim, images.dtype

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, key):
        if isinstance(key, slice):  # a slice stays a lazy Subset (an evaluation shard of a rank)
            return Subset(self.images, self.indices[key])
        rows = self.indices[key]
        if np.ndim(rows) == 0:
            return np.asarray(self.images[int(rows)])
        order = np.argsort(rows)  # read the memory map in file order, then restore the order asked
        out = np.empty((len(rows),) + self.shape[1:], self.dtype)
        out[order] = self.images[rows[order]]
        return out


HOLDOUTS = ("stratified", "random")   # how a split draws the images it holds out; the first is the default


def holdout_of(config):
    """The ``holdout`` of a run's splits: a resumed run's own, from ``config`` (its checkpoint's;
    "random" where none is recorded: it began before stratified splits), a new run's (``config``
    empty or None) the default, so that a run goes on with the images it began with."""
    return config.get("holdout", "random") if config else HOLDOUTS[0]


def check_split(fraction, holdout, who):
    """Refuse (ValueError, naming ``who``) a held-out ``fraction`` that is not a number between 0
    and 1 (1.5 held out every image, leaving none to train on) or an unknown ``holdout``."""
    check_number(fraction, "the held-out fraction", who, "a number between 0 and 1", lambda v: 0 < v < 1)
    if holdout not in HOLDOUTS:
        raise ValueError(f"holdout {holdout!r}: expected one of {', '.join(HOLDOUTS)}")


def split(folder, fraction, seed=0, holdout="stratified"):
    """(images, labels) pairs of Subsets of an ImageFolder: the rest, and a ``fraction`` held out
    (for validation or testing), neither copied into memory (``split_pair``)."""
    return split_pair((folder.images, folder.labels), fraction, seed, holdout)


def split_pair(pair, fraction, seed=0, holdout="stratified"):
    """``split`` for an (images, labels) pair (images an array or a Subset). ``holdout``
    "stratified": a random ``fraction`` of each class's images, rounded half up (a class of 30
    gives 3, one of 4 none: its images all train), so that both parts hold the classes in the
    folder's proportions; "random": a random ``fraction`` of all the images, which in a small
    folder can leave a class out of a part, or put all of its few in one (the split before
    2026-12-04, which the runs begun with it resume with). Either way at least one image is held
    out."""
    check_split(fraction, holdout, "split")
    images, labels = pair
    if isinstance(images, Subset):
        images, rows = images.images, images.indices
    else:
        rows = np.arange(len(labels))
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    if holdout == "random":
        order = rng.permutation(len(labels))
        held = order[:max(1, int(round(len(order) * fraction)))]
    else:
        by_class = np.argsort(labels, kind="stable")   # each class's indices, in order, one after another
        ends = np.cumsum(np.bincount(labels))
        held = np.concatenate([rng.permutation(members)[:int(np.floor(len(members) * fraction + 0.5))]
                               for members in np.split(by_class, ends[:-1]) if len(members)])
        if held.size == 0:   # every class too small for a share: one image of the largest
            largest = np.bincount(labels).argmax()
            held = rng.permutation(np.flatnonzero(labels == largest))[:1]
    mask = np.zeros(len(labels), dtype=bool)
    mask[held] = True
    kept, held = np.flatnonzero(~mask), np.flatnonzero(mask)
    return (Subset(images, rows[kept]), labels[kept]), (Subset(images, rows[held]), labels[held])


def default_cache(root, size=STORED_SIZE):
    """The cache folder of the image folder ``root`` stored at ``size``: one per folder, however
    it is reached (a relative path, a link to it: ``os.path.realpath``)."""
    real = os.path.realpath(root)
    key = hashlib.sha256(f"{real}\0{size}".encode()).hexdigest()[:16]
    return os.path.join(cache_root(), "folders", f"{os.path.basename(real)}-{key}")


def reserve(path, nbytes, root):
    """Create the file ``path`` of ``nbytes`` with its disk space reserved, or raise DataError
    saying that the cache of the folder ``root`` has no room there. Without the reservation a
    memory map of a sparse file is written until the disk is full, and the process then dies of
    SIGBUS ("Bus error"), with no message and no traceback."""
    folder = os.path.dirname(path)
    try:
        with open(path, "wb") as f:
            if hasattr(os, "posix_fallocate"):   # Linux: the blocks themselves, or ENOSPC now
                os.posix_fallocate(f.fileno(), 0, nbytes)
            else:   # macOS, Windows: a sparse file, after a look at the free space
                if shutil.disk_usage(folder).free < nbytes:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                f.truncate(nbytes)
    except OSError as exc:
        if os.path.exists(path):
            os.remove(path)
        amount = f"{nbytes / 1e9:.1f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:.1f} MB"
        raise DataError(f"no room for the cache of {root} in {folder}: its pictures take {amount} there "
                        f"({exc.strerror or exc}); make room, or set MINICNN_CACHE_DIR to a folder on a disk "
                        f"with space") from None


def prepare(root, cache=None, classes=None, size=STORED_SIZE, workers=None, progress=None):
    """Decode ``root`` once into ``cache`` (default: under ``folders`` of minicnn's cache folder,
    ``~/.cache/minicnn`` or ``$MINICNN_CACHE_DIR``) and return the ImageFolder; reuse the cache
    when the source is unchanged. ``progress(iterable, total)`` wraps the decoding loop (e.g. a
    tqdm bar)."""
    files, labels, classes = scan(root, classes)
    cache = cache or default_cache(root, size)
    sig = signature(files, size, root)
    ready = _ready(cache, sig, classes)
    if ready:
        return ready
    make_cache_folder(cache, f"for the cache of {root}", DataError)
    with preparing(cache):
        return _ready(cache, sig, classes) or _build(root, cache, files, labels, classes, sig, size, workers, progress)


def _ready(cache, sig, classes):
    """The ImageFolder in ``cache`` when it was prepared from the same files (``sig``) and classes,
    else None."""
    meta_path = os.path.join(cache, "meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("signature") == sig and meta.get("classes") == classes:
            return _open(cache, meta)
    return None


@contextlib.contextmanager
def preparing(cache):
    """Hold the lock of the cache folder ``cache`` while it is prepared. Two runs started at once on
    one new folder would both write its temporary file, the second removing the first's from under
    it; the second waits instead (saying so), then finds the cache ready. An advisory ``flock``,
    which the system releases when its holder dies; where there is none (Windows, or a file system
    without locks), nothing is held."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(os.path.join(cache, ".lock"), "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            warnings.warn(f"{cache}: another process is preparing this cache; waiting for it", stacklevel=3)
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError:   # no locks here (some network file systems)
            pass
        yield


def _build(root, cache, files, labels, classes, sig, size, workers, progress):
    """Decode ``files`` into ``cache`` and return the ImageFolder (prepare's work, under its lock).
    A preparation stopped midway (Ctrl-C, an error) removes its temporary file, which is the size
    of the whole cache (ImageNet's: 250 GB)."""
    meta_path = os.path.join(cache, "meta.json")
    tmp_images = os.path.join(cache, "images.uint8.tmp")
    reserve(tmp_images, len(files) * 3 * size * size, root)
    try:
        meta, kept = _decode_into(tmp_images, root, files, sig, classes, size, workers, progress)
        np.save(os.path.join(cache, "labels.npy"), labels[kept])
        os.replace(tmp_images, os.path.join(cache, "images.uint8"))
    except BaseException:
        if os.path.exists(tmp_images):
            os.remove(tmp_images)
        raise
    with open(meta_path + ".tmp", "w") as f:
        json.dump(meta, f)
    os.replace(meta_path + ".tmp", meta_path)  # written last: a half-built cache is never reused
    return _open(cache, meta)


def _decode_into(path, root, files, sig, classes, size, workers, progress):
    """Decode ``files`` into the reserved file ``path`` (uint8 rows of 3 x size x size), the
    unreadable ones skipped with a warning each; cut the file to the rows kept and return the
    cache's metadata and the indices of the files kept."""
    images = np.memmap(path, mode="r+", dtype=np.uint8, shape=(len(files), 3, size, size))
    kept, skipped = [], []
    with concurrent.futures.ThreadPoolExecutor(workers or min(8, (os.cpu_count() or 1) + 2)) as pool, \
            quiet_decoding():
        results = pool.map(lambda f: decode(f, size), files)   # Pillow decodes without the GIL
        if progress:
            results = progress(results, len(files))
        for index, result in enumerate(results):
            if isinstance(result, str):
                warnings.warn(f"skipped {files[index]}: {result}", stacklevel=4)
                skipped.append(files[index])
                continue
            images[len(kept)] = result
            kept.append(index)
    if skipped:
        warnings.warn(f"{root}: {len(skipped)} of {len(files)} files skipped (unreadable)", stacklevel=4)
    if not kept:
        raise DataError(f"{root}: none of the {len(files)} image files could be read")
    images.flush()
    del images
    n = len(kept)
    os.truncate(path, n * 3 * size * size)  # the skipped files' rows were at the end
    stored = np.memmap(path, mode="r", dtype=np.uint8, shape=(n, 3, size, size))
    within = functools.partial(os.path.relpath, start=root)   # as the folder may be named otherwise next time
    meta = dict(signature=sig, classes=classes, size=size, files=[within(files[i]) for i in kept],
                skipped=list(map(within, skipped)), count=n, **rgb_statistics(stored))
    del stored
    return meta, kept


def _open(cache, meta):
    size = meta["size"]
    images = np.memmap(os.path.join(cache, "images.uint8"), mode="r", dtype=np.uint8,
                       shape=(meta["count"], 3, size, size))
    labels = np.load(os.path.join(cache, "labels.npy"))
    return ImageFolder(images, labels, meta["classes"], meta)


def rgb_statistics(images, rng=None):
    """Per-channel mean and std, and the eigen-decomposition of the RGB covariance, of pixels in
    [0, 1] sampled from up to PCA_SAMPLE_IMAGES images (PCA_SAMPLE_PIXELS pixels each)."""
    rng = np.random.default_rng(0) if rng is None else rng
    n, _, h, w = images.shape
    chosen = np.sort(rng.choice(n, min(n, PCA_SAMPLE_IMAGES), replace=False))
    pixels = []
    for i in chosen:
        flat = np.asarray(images[i]).reshape(3, -1)
        pixels.append(flat[:, rng.choice(h * w, min(h * w, PCA_SAMPLE_PIXELS), replace=False)])
    rgb = np.concatenate(pixels, axis=1).astype(np.float64) / 255.0       # (3, M)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(rgb))
    return dict(mean=rgb.mean(axis=1).tolist(), std=np.maximum(rgb.std(axis=1), 1e-3).tolist(),
                pca_eigenvalues=np.maximum(eigenvalues, 0).tolist(), pca_eigenvectors=eigenvectors.tolist())


def load_splits(root, val_fraction=0.1, progress=None, holdout="stratified"):
    """Train, validation and test data of an image folder for training: ``root/train`` and
    ``root/val`` (used as the test set), or ``root`` alone (a tenth of each class is the test set);
    the validation set is ``val_fraction`` of the training images (``split_pair``: ``holdout``
    "stratified" takes that share of each class, "random" of all the images, as runs begun before
    2026-12-04 did). Returns a dict with train/val/test (images, labels) pairs (Subsets of the
    memory map), the paths of the test images (test_files, in the test set's order) and of the
    images trained on (train_files, in the train set's order), classes, mean, std, pca."""
    check_split(val_fraction, holdout, "load_splits")   # before the folder is read, which may take minutes
    train_root = os.path.join(root, "train") if os.path.isdir(os.path.join(root, "train")) else root
    train = prepare(train_root, progress=progress)
    val_root = os.path.join(root, "val")
    if os.path.isdir(val_root) and train_root != root:
        test = prepare(val_root, classes=train.classes, progress=progress)
        train_pair, test_pair = (train.images, train.labels), (test.images, test.labels)
        test_files = [os.path.join(val_root, f) for f in test.meta["files"]]
    else:
        train_pair, test_pair = split(train, 0.1, seed=1, holdout=holdout)
        test_files = [os.path.join(train_root, train.meta["files"][i]) for i in test_pair[0].indices]
    fit_pair, val_pair = split_pair(train_pair, val_fraction, seed=2, holdout=holdout)
    train_files = [os.path.join(train_root, train.meta["files"][i]) for i in fit_pair[0].indices]
    return dict(train=fit_pair, val=val_pair, test=test_pair, test_files=test_files, train_files=train_files,
                classes=train.classes, channels=3, size=None, mean=train.mean, std=train.std, pca=train.pca)
