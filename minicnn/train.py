"""The training loop behind ``examples/train_alexnet.py``: SGD as in the paper, evaluation with
top-1/top-5, per-epoch metrics (JSON lines), atomic checkpoints, exact resume, conv1 filters.

On the CPU a seeded run is repeatable: the data order and augmentation of epoch e are drawn from
(seed, e), dropout masks from (layer seed, call number), so a run resumed from the checkpoint of
epoch e continues exactly as the uninterrupted run would have. Elsewhere the digits can differ
with the BLAS's kernels and threads, which the run prints and records (``minicnn/environment.py``).
"""
import atexit
import contextlib
import json
import math
import os
import shlex
import sys
import tempfile
import time

import numpy as np

from minicnn import checkpoint
from minicnn.arguments import signals_held, stopped
from minicnn.backend import get_array_module, to_device, to_numpy
from minicnn.cpu_memory import reuse_freed_memory
from minicnn.data.loader import BatchLoader, pixel_statistics, pixels_refused
from minicnn.environment import coretype_note, describe, describe_line, oversubscribed_note, spinning_note
from minicnn.inference import predict_proba, ranked_first, shifted_ten_crop_proba, topk_correct
from minicnn.layers.base import check_flag, check_positive_int
from minicnn.losses import SoftmaxCrossEntropy, softmax
from minicnn.optim import SGD, LinearDecay, ReduceOnPlateau, StepLR
from minicnn.plots import save_confusion, save_curves, save_filter_grid, save_largest_losses, save_top5


CONFUSION_LIMIT = 100          # classes up to which test_metrics.json keeps the confusion matrix
CONFUSION_PICTURE_LIMIT = 30   # ... and up to which confusion.png draws it, each cell labelled
LARGEST_LOSSES_SHOWN = 16      # test images of the largest loss in test_metrics.json and largest_losses.png
FIRST_SHOWN = 8                # first test images with their five most probable classes, in it and top5.png
# Images per evaluation batch (validation, test). A GPU wants large batches; on a CPU small ones
# stay in its caches: on 2 cores the default run's network tested Fashion-MNIST's 10,000 in 3.9 s
# in batches of 50 against 5.7 s in batches of 500, and the 2012 AlexNet 200 photos at 45 images/s
# against 37, with a tenth of the memory (conv1's im2col of 500 crops is 2.2 GB).
EVAL_BATCH = dict(cpu=50, cuda=500, sim=500)


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN loss); the last good checkpoint is kept."""


def evaluate(model, loader, device="cpu", comm=None, confusion=False, largest_losses=0, first=0):
    """Mean loss, top-1 and top-5 accuracy of ``model`` over ``loader`` (eval mode). With a
    communicator, each rank's loader holds its share of the set (``share``: every ``comm.size``-th
    example from ``comm.rank``) and the sums are all-reduced. With ``confusion``, also "confusion":
    the (K, K) counts of each true class (row) against the top-1 prediction (column, the first of
    equal largest logits), as nested lists. With ``largest_losses`` = n, also "largest_losses":
    the n examples of the largest loss, largest first, each a dict of its ``index`` in the set,
    ``label``, ``predicted`` class and the ``probability`` given to it, and its ``loss``. With
    ``first`` = n, also "first_top5": the first n examples of the set, each with the five classes
    ranked first (``inference.ranked_first``'s dicts: the paper's Figure 4, left)."""
    loss_fn = SoftmaxCrossEntropy().to(device)
    total, loss_sum, top1, top5, counts, per_example = 0, 0.0, 0, 0, 0, []
    rank, size = (comm.rank, comm.size) if comm is not None else (0, 1)
    seen, first_rows = 0, {}   # this rank's examples so far; the probabilities of those among the first
    for x, y in loader:
        x, y = to_device(x, device), to_device(y, device)
        logits = model.forward(x, train=False)
        loss_sum += float(loss_fn.forward(logits, y)) * len(y)
        c1, c5 = topk_correct(logits, y, (1, min(5, logits.shape[1])))
        top1, top5, total = top1 + c1, top5 + c5, total + len(y)
        if confusion:   # (true, predicted) pairs counted on the device: one transfer at the end
            k = logits.shape[1]
            xp = get_array_module(logits)
            counts = counts + xp.bincount(y.astype(np.int64) * k + logits.argmax(axis=1), minlength=k * k)
        if largest_losses:
            per_example.append(example_losses(logits, y))
        index = rank + size * np.arange(seen, seen + len(y))   # in the whole set (``share``)
        if first and index[0] < first:
            probabilities = to_numpy(softmax(logits)).astype(np.float64)
            first_rows.update((int(i), (row, int(label))) for i, row, label in
                              zip(index, probabilities, to_numpy(y)) if i < first)
        seen += len(y)
    if comm is not None:
        loss_sum, top1, top5, total = comm.allreduce_sum(np.array([loss_sum, top1, top5, total], np.float64),
                                                         "all-reduce of the evaluation")
    result = dict(loss=loss_sum / total, top1=top1 / total, top5=top5 / total)
    if confusion:
        counts = to_numpy(counts).astype(np.float64)
        if comm is not None:
            counts = comm.allreduce_sum(counts, "all-reduce of the confusion matrix")
        result["confusion"] = counts.astype(np.int64).reshape(k, k).tolist()
    if largest_losses:
        result["largest_losses"] = largest_of(per_example, largest_losses, comm)
    if first:
        result["first_top5"] = first_top5(first_rows, min(first, int(total)), comm)
    return result


def first_top5(rows, count, comm=None):
    """``evaluate``'s "first_top5" of the first ``count`` examples of a set, from each rank's
    {index: (probabilities (K,), label)} of those of its share (``rows``): put in place in one
    (count, K + 1) array, labels last, zeros where another rank holds the row, and all-reduced."""
    width = len(next(iter(rows.values()))[0]) + 1 if rows else 0
    if comm is not None and comm.size > 1:   # a rank with none of the first examples knows no width
        width = int(comm.allgather_counts(width, "all-gather of the class count").max())
    table = np.zeros((count, width))
    for i, (probabilities, label) in rows.items():
        table[i] = np.append(probabilities, label)
    if comm is not None and comm.size > 1:
        table = comm.allreduce_sum(table, "all-reduce of the first examples' probabilities")
    return ranked_first(table[:, :-1], table[:, -1].astype(np.int64), range(count))


def example_losses(logits, labels):
    """(B, 4) float64 on the host, one row per example: its loss (the cross-entropy, in float64),
    label, top-1 prediction and the probability given to that prediction."""
    xp = get_array_module(logits)
    z = logits.astype(xp.float64)
    log_probs = z - z.max(axis=1, keepdims=True)
    log_probs -= xp.log(xp.exp(log_probs).sum(axis=1, keepdims=True))
    rows, predicted = xp.arange(len(labels)), logits.argmax(axis=1)
    columns = (-log_probs[rows, labels], labels, predicted, xp.exp(log_probs[rows, predicted]))
    return to_numpy(xp.stack([column.astype(xp.float64) for column in columns], axis=1))


def largest_of(per_example, count, comm=None):
    """The ``count`` rows of ``example_losses`` (batches in ``per_example``, this rank's share of a
    set) of the largest loss over all the ranks, largest first (the earlier example of equal
    losses first), as ``evaluate``'s "largest_losses" dicts."""
    rows = np.concatenate(per_example) if per_example else np.empty((0, 4))
    rank, size = (comm.rank, comm.size) if comm is not None else (0, 1)
    index = rank + size * np.arange(len(rows), dtype=np.float64)   # in the whole set (``share``)
    rows = np.column_stack([index, rows])
    rows = rows[np.lexsort((rows[:, 0], -rows[:, 1]))][:count]   # each rank's largest suffice
    if comm is not None and size > 1:
        counts = comm.allgather_counts(rows.size, "all-gather of the largest losses' sizes")
        rows = comm.allgatherv(np.ascontiguousarray(rows).ravel(), counts, "all-gather of the largest losses")
        rows = rows.reshape(-1, 5)
        rows = rows[np.lexsort((rows[:, 0], -rows[:, 1]))][:count]
    return [dict(index=int(i), label=int(label), predicted=int(predicted), probability=float(p), loss=float(loss))
            for i, loss, label, predicted, p in rows]


def per_class_top1(confusion, classes):
    """{class name: top-1 accuracy on its examples} from a confusion matrix (rows: true class);
    None for a class without examples."""
    matrix = np.asarray(confusion)
    return {name: (float(matrix[i, i] / matrix[i].sum()) if matrix[i].sum() else None)
            for i, name in enumerate(classes)}


FIT_REQUIRED = ("epochs", "batch_size", "lr", "out")
FIT_DEFAULTS = dict(momentum=0.9, weight_decay=5e-4, schedule="linear", step_every=None, input_size=None,
                    augment=False, augment_pad=2, mean=0.0, std=1.0, seed=0, device=None, resume=False,
                    model_name=None, classes=None, split="none")
SCHEDULES = ("linear", "step", "plateau")


def fit_config(cfg, model):
    """``cfg`` with FIT_DEFAULTS for the settings it leaves out (a new dict), and ``device``
    the model's own when not given, ``architecture`` the model's (``models``' networks carry
    theirs) when not given, and ``split`` "two-device" for towers (``towers.two_tower``); a
    required setting left out, a schedule fit does not know, or another split for towers raises
    TrainingError naming it."""
    missing = [key for key in FIT_REQUIRED if key not in cfg]
    if missing:
        raise TrainingError(f"fit's settings need {', '.join(missing)} (of {', '.join(FIT_REQUIRED)}; the others "
                            f"have defaults: {', '.join(f'{k}={v!r}' for k, v in FIT_DEFAULTS.items())})")
    # NumPy's scalars as Python's: the checkpoint records the settings as JSON
    full = {key: value.item() if isinstance(value, np.generic) else value
            for key, value in {**FIT_DEFAULTS, **cfg}.items()}
    if full["device"] is None:
        full["device"] = model.device
    if not full.get("architecture") and getattr(model, "architecture", None):
        full["architecture"] = dict(model.architecture)   # a models builder's network: recorded to rebuild it
    from minicnn.towers import TwoTowerNet
    if isinstance(model, TwoTowerNet):   # recorded: what rebuilds it is the grouped network, split
        if "split" not in cfg:
            full["split"] = "two-device"
        elif full["split"] != "two-device":
            raise TrainingError(f"the model is split into two towers (towers.two_tower), and split is "
                                f"{full['split']!r}: give split='two-device', or leave it out")
    if full["schedule"] not in SCHEDULES:
        raise TrainingError(f"schedule {full['schedule']!r} is none of fit's: {', '.join(SCHEDULES)}")
    if full["schedule"] == "step" and full["step_every"] is None:
        raise TrainingError("the step schedule divides the learning rate by 10 every step_every epochs: give "
                            "step_every")
    check_settings(full)
    return full


def check_settings(cfg):
    """Refuse (``TrainingError``) a setting of fit's of the wrong kind or out of its range, naming
    it, what it must be and what it got, before anything is read or written: a string "2" for
    epochs stopped fit with a TypeError from a comparison, resume="no" resumed (a string is true),
    std=0 trained on infinities until the loss was NaN. (lr, momentum and weight_decay are SGD's
    to check, which names them as well.) Sets mean and std in ``cfg`` as a float or a list of
    floats (``pixel_statistics``: a float32 array's would not go into the checkpoint's JSON)."""
    try:
        for name in ("epochs", "batch_size"):
            check_positive_int(cfg[name], name, "fit")
        for name in ("seed", "augment_pad"):
            check_positive_int(cfg[name], name, "fit", minimum=0)
        for name in ("input_size", "step_every"):
            if cfg[name] is not None:
                check_positive_int(cfg[name], f"{name} (or None)", "fit")
        for name in ("augment", "resume"):
            check_flag(cfg[name], name, "fit")
        cfg["mean"], cfg["std"] = pixel_statistics(cfg["mean"], cfg["std"], who="fit")
    except ValueError as exc:
        raise TrainingError(str(exc)) from None


def fit(model, data, cfg, log=print, progress=None, comm=None):
    """Train ``model`` on ``data`` = dict(train=(x, y), val=(x, y), test=(x, y)) (val may be left
    out), each x uint8 pixels (N, H, W) or (N, C, H, W) and each y integer classes (N,), with the
    settings of ``cfg``, a dict: epochs, batch_size, lr and out (the output folder), and, defaults
    in FIT_DEFAULTS, momentum, weight_decay, schedule ("linear", "step" or "plateau"), step_every,
    input_size (the side the images are resized to; None: as they are), augment (random crops of
    augment_pad pixels of padding, and mirrors), mean and std (pixels become
    ``(p / 255 - mean) / std``), seed, device (the model's own), resume, model_name (recorded in
    the checkpoint), classes (the names that the report gives and that a resumed run must have
    trained on), split, architecture (``models.build``'s arguments, from which
    ``weights.model_from_checkpoint`` and ``examples/predict.py`` rebuild the network; default:
    ``model.architecture``, which the networks of ``minicnn.models`` carry); for image folders
    also crop, pca, ten_crop. Other keys are recorded in the checkpoint with the rest. Writes metrics, checkpoints and pictures to ``out``; ``resume``
    continues the run there (``resume``, below). Returns the test metrics (``test_and_report``).

    ``progress``: True shows a tqdm bar per epoch (``batch_progress``); a function
    ``progress(iterable, total, desc)`` wraps the batch loop as it likes; None or False, no bar.

    ``comm`` (a ``minicnn.distributed.Communicator``) trains data-parallel: ``batch_size`` is per
    rank, gradients are averaged over the ranks every step, rank 0 alone logs and writes.

    Rank 0 holds ``out`` while it trains (``claim_folder``): another run into it is refused. A
    claim that ``fit`` made it gives back at the end (a sweep of many runs in one process keeps no
    lock file open per run); one the calling script made first lasts as long as its process."""
    from minicnn.distributed import Communicator
    comm = comm or Communicator.single()
    if isinstance(progress, bool):   # fit(..., progress=True) in a notebook: the scripts' bar
        progress = batch_progress() if progress else None
    elif progress is not None and not callable(progress):
        raise TypeError(f"fit: progress must be True, False, None or a function (iterable, total, desc) -> "
                        f"iterable, got {type(progress).__name__}")
    cfg = fit_config(cfg, model)
    data = checked_data(data)
    check_data(data, cfg, comm.size)
    if cfg.get("image_size") is None and not cfg.get("crop"):   # recorded: the side predict.py gives a picture
        height, width = data["train"][0].shape[-2:]
        cfg["image_size"] = int(height) if height == width else None
    resumed = os.path.join(cfg["out"], "checkpoint.npz")
    if cfg["resume"] and os.path.exists(resumed):
        check_resumed_classes(resumed, cfg)   # other classes: said as such, before the head's size
    classes = check_model_takes(model, data, cfg)
    out = writable_folder(cfg["out"])
    claimed = comm.is_root and claim_folder(out)   # rank 0 alone writes into it
    if os.path.abspath(out) in _CLAIMS:   # held: no other process writes there
        remove_leftovers(out, log)
    untrained = np.flatnonzero(np.bincount(np.asarray(data["train"][1]), minlength=classes) == 0)
    if untrained.size and comm.is_root:   # a small folder's split, or --limit, can leave a class out
        names = [class_names(cfg, classes)[i] for i in untrained]
        log(f"note: no training images of {shown_names(names)}: the network cannot learn "
            f"{'it' if len(names) == 1 else 'them'}")
    try:
        return _train(model, data, cfg, log, progress, comm)
    finally:
        if claimed:
            release_folder(out)


def _train(model, data, cfg, log, progress, comm):
    """fit's work, with ``out`` held."""
    from minicnn.distributed import offset_dropout_rows
    reuse_freed_memory()   # no page faults on the large arrays every step (minicnn/cpu_memory.py)
    if not comm.is_root:
        log, progress = (lambda *a, **k: None), None
    device, out = cfg["device"], cfg["out"]
    environment = describe(device)   # what the digits depend on besides the code (minicnn/environment.py)
    log(f"on {describe_line(environment)}")
    # (not under MPI, whose processes had better start no other)
    note = coretype_note(environment["blas"]) if comm.size == 1 and device != "cuda" else None
    if note:   # kernels forced by the environment: slower, perhaps, than the processor's own
        log(note)
    note = spinning_note(environment["blas"]) if device != "cuda" else None
    if note:   # NumPy imported before minicnn: OpenBLAS's threads take the cores between products
        log(note)
    note = oversubscribed_note(environment["blas"]) if device != "cuda" else None
    if note:   # --threads (or OMP_NUM_THREADS) above the cores: many times slower
        log(note)
    ckpt_path = os.path.join(out, "checkpoint.npz")
    metrics_path = os.path.join(out, "metrics.jsonl")
    model.to(device)  # before the optimizer, whose velocity lives beside the parameters
    model.input_grad = False  # nothing needs the gradient of the images: conv1 skips it
    optimizer = SGD(model, cfg["lr"], cfg["momentum"], cfg["weight_decay"])
    validate = len(data["val"][1]) > 0   # none held out: train on every image, no per-epoch check
    steps_per_epoch = len(data["train"][1]) // (cfg["batch_size"] * comm.size)
    schedule = {
        "step": lambda: StepLR(optimizer, cfg["step_every"]),
        "plateau": lambda: ReduceOnPlateau(optimizer),   # its defaults are the paper's: /10, at most 3 times
        "linear": lambda: LinearDecay(optimizer, cfg["epochs"] * steps_per_epoch),
    }[cfg["schedule"]]()
    start_epoch = 0
    if cfg.get("resume"):
        start_epoch = resume(ckpt_path, model, optimizer, schedule, cfg, comm, log)
        if comm.is_root:
            keep_metrics_up_to(metrics_path, start_epoch, log)
    elif comm.is_root and os.path.exists(ckpt_path):   # kept until this run's first checkpoint
        log(f"note: {out} holds an earlier run ({earlier_run(ckpt_path)}); this run replaces it "
            f"at the end of its first epoch (--resume continues a run; another --out keeps both)")
    comm.broadcast_parameters(model)  # every rank starts from rank 0's parameters
    # rank r's images are rows [r*B, (r+1)*B) of the global batch: its dropout draws those rows' masks
    offset_dropout_rows(model.data_parallel_layers() if hasattr(model, "data_parallel_layers") else model.leaves(),
                        comm.rank * cfg["batch_size"])
    loss_fn = SoftmaxCrossEntropy().to(device)
    crop = cfg.get("crop")  # image folders: crops of the stored 256 px images, no resizing
    loader_args = dict(size=None if crop else cfg["input_size"], mean=cfg["mean"], std=cfg["std"],
                       dtype=model_dtype(model), crop=crop)
    step = start_epoch * steps_per_epoch
    for epoch in range(start_epoch, cfg["epochs"]):
        t0 = time.perf_counter()
        loader = BatchLoader(*data["train"], cfg["batch_size"], shuffle=True, augment=cfg["augment"],
                             pca=cfg.get("pca") if cfg["augment"] else None,
                             augment_pad=cfg["augment_pad"], seed=cfg["seed"], epoch=epoch,
                             drop_last=True, shard=(comm.rank, comm.size), **loader_args)
        seen, loss_sum, correct = 0, 0.0, 0
        batches = progress(loader, len(loader), f"epoch {epoch + 1}/{cfg['epochs']}") if progress else loader
        for x, y in batches:
            x, y = to_device(x, device), to_device(y, device)
            logits = model.forward(x, train=True)
            loss = float(loss_fn.forward(logits, y))
            if comm.size > 1:  # every rank sees the mean loss, so all stop together on a NaN
                loss = float(comm.allreduce_sum(np.array([loss]), "all-reduce of the loss")[0]) / comm.size
            if not math.isfinite(loss):
                raise TrainingError(f"loss became {loss} at step {step} (epoch {epoch + 1}); lower --lr; "
                                    f"{last_checkpoint(ckpt_path, epoch)}")
            comm.backward(model, loss_fn.backward(), overlap=cfg.get("overlap", True))  # averaged over ranks
            optimizer.step()
            if hasattr(schedule, "step_batch"):
                schedule.step_batch()
            step += 1
            seen += len(y)
            loss_sum += loss * len(y)
            correct += topk_correct(logits, y, (1,))[0]
            if progress and hasattr(batches, "set_postfix"):
                batches.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}",
                                    img_s=f"{seen / (time.perf_counter() - t0):.0f}")
        train_time = time.perf_counter() - t0
        if comm.size > 1:
            loss_sum, correct, seen = comm.allreduce_sum(np.array([loss_sum, correct, seen], np.float64),
                                                         "all-reduce of the epoch's metrics")
        comm.average_buffers(model)
        record = dict(epoch=epoch + 1, step=step, lr=optimizer.lr, train_loss=loss_sum / seen,
                      train_top1=correct / seen)
        line = f"epoch {epoch + 1}: train loss {record['train_loss']:.4f} acc {record['train_top1']:.4f} | "
        if validate:
            val = evaluate(model, eval_loader(data["val"], comm, loader_args, device), device, comm)
            record.update(val_loss=val["loss"], val_top1=val["top1"], val_top5=val["top5"])
            line += f"val loss {val['loss']:.4f} acc {val['top1']:.4f} | "
        schedule.step(1.0 - val["top1"] if validate else None)
        record.update(images_per_s=seen / train_time, epoch_time_s=train_time)
        log(f"{line}{seen / train_time:.0f} img/s, {time.perf_counter() - t0:.0f} s")
        try:   # a full disk: the last checkpoint stays whole (written atomically), and the run says so
            with signals_held():   # Ctrl-C or SIGTERM now: the epoch's line and checkpoint written first
                if comm.is_root:
                    # a new run's first line replaces an earlier run's file, kept whole until then
                    with open(metrics_path, "a" if cfg.get("resume") or epoch > start_epoch else "w") as f:
                        f.write(json.dumps(record) + "\n")
                checkpoint.save(ckpt_path, model, optimizer, dict(   # every rank takes part, rank 0 writes
                    model=cfg["model_name"], epoch=epoch + 1, lr=optimizer.lr, schedule_name=cfg["schedule"],
                    split=cfg.get("split", "none"), ranks=comm.size, schedule=schedule.state_dict(),
                    config={k: v for k, v in cfg.items() if k != "resume"}, environment=environment), comm=comm)
        except OSError as exc:
            then = ": make room, then --resume goes on from it" if epoch else ""
            raise TrainingError(f"cannot write epoch {epoch + 1}'s checkpoint into {out} ({exc.strerror or exc}); "
                                f"{last_checkpoint(ckpt_path, epoch)}{then}") from None
        comm.barrier()  # the checkpoint is complete before any rank goes on
    try:
        if comm.is_root:
            records = epoch_records(metrics_path)
            if records:   # none where the run's metrics.jsonl is gone, and it trained no epoch
                save_curves(records, os.path.join(out, "curves.png"))
            first_conv = next((p for name, p in model.named_params() if p.data.ndim == 4), None)
            if first_conv is not None:   # none in a network of fully connected layers alone
                save_filter_grid(first_conv.data, os.path.join(out, "conv1_filters.png"))
        return test_and_report(model, data, cfg, comm, loader_args, log, environment)
    except OSError as exc:
        raise TrainingError(f"cannot write the run's results into {out} ({exc.strerror or exc}); its checkpoint "
                            f"{ckpt_path} holds all {counted(cfg['epochs'], 'epoch')}: make room, then --resume "
                            f"tests it and writes them") from None


def last_checkpoint(ckpt_path, epoch):
    """What a run stopped in ``epoch`` (0-based) leaves to go on from, for its error message."""
    if epoch:   # checkpoints are written at the end of each epoch, atomically: the last one is whole
        return f"the last good checkpoint, after epoch {epoch}, is {ckpt_path}"
    return "no checkpoint of this run was written (one is written at the end of each epoch)"


def class_names(cfg, count):
    """The names of the ``count`` classes: fit's ``classes`` setting, else "class 0", "class 1" ..."""
    return cfg.get("classes") or [f"class {i}" for i in range(count)]


def shown_names(names, limit=6):
    """"a, b, c" for a log line; past ``limit`` names, the first ``limit`` and "..."."""
    names = list(map(str, names))
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def top5_shown(top5, classes):
    """", top-5 0.9985" for the log, or nothing where there are 5 classes or fewer: every image is
    then among its top 5 (test_metrics.json keeps the 1.0 all the same)."""
    return f", top-5 {top5:.4f}" if len(classes) > 5 else ""


def test_and_report(model, data, cfg, comm, loader_args, log=print, environment=None):
    """The end of ``fit``: test ``model`` on ``data["test"]`` (loss, top-1, top-5, the confusion
    matrix, each class's top-1; with ``cfg["ten_crop"]`` on image folders, and for small pictures
    trained with ``cfg["augment"]``'s translations, also the paper's test on ten views per image),
    log it, write ``test_metrics.json`` and ``confusion.png`` into ``cfg["out"]`` (rank 0), and
    return the test metrics dict, with ``environment`` (``minicnn.environment.describe``) under
    that key."""
    device, crop, out = cfg["device"], cfg.get("crop"), cfg["out"]
    test = evaluate(model, eval_loader(data["test"], comm, loader_args, device), device, comm, confusion=True,
                    largest_losses=LARGEST_LOSSES_SHOWN, first=FIRST_SHOWN)
    classes = class_names(cfg, len(test["confusion"]))
    test["per_class_top1"] = per_class_top1(test["confusion"], classes)
    if len(classes) > CONFUSION_LIMIT:   # ImageNet's would be a million numbers: the accuracies only
        del test["confusion"]
    shifted = not crop and cfg.get("augment") and cfg.get("augment_pad")   # small pictures trained as translations
    if crop and cfg.get("ten_crop") or shifted:  # the paper's test: ten views per image, softmax averaged
        images, labels = share(data["test"], comm)
        batch_size = common_batch_size(comm, len(labels), 50)
        if crop:
            probs = predict_proba([model], images, crop, cfg["mean"], cfg["std"], "ten", device, batch_size=batch_size)
        else:
            images = np.asarray(images)
            probs = shifted_ten_crop_proba([model], images if images.ndim == 4 else images[:, None],
                                           cfg["augment_pad"], cfg["input_size"], cfg["mean"], cfg["std"], device,
                                           batch_size=batch_size)
        hits = np.array(topk_correct(probs, np.asarray(labels)) + [len(labels)], np.float64)
        hits = comm.allreduce_sum(hits, "all-reduce of the ten-crop test")
        test["ten_crop_top1"], test["ten_crop_top5"] = hits[0] / hits[2], hits[1] / hits[2]
        log(f"test, ten crops: top-1 {test['ten_crop_top1']:.4f}" + top5_shown(test["ten_crop_top5"], classes))
    log_test(test, classes, log)
    test["environment"] = environment or describe(device)
    if comm.is_root:
        write_test_results(out, test, classes, data["test"][0])
    return test


def log_test(test, classes, log=print, what="test"):
    """Log ``test`` (``evaluate``'s metrics with "per_class_top1"): the loss and the accuracies, the
    three weakest classes, and the classes of no test image, whose accuracy is not known."""
    log(f"{what}: loss {test['loss']:.4f}, top-1 accuracy {test['top1']:.4f}" + top5_shown(test["top5"], classes))
    seen_classes = sorted((acc, name) for name, acc in test["per_class_top1"].items() if acc is not None)
    log("weakest classes: " + ", ".join(f"{name} {acc:.4f}" for acc, name in seen_classes[:3]))
    untested = [name for name, acc in test["per_class_top1"].items() if acc is None]
    if untested:   # a small folder's test split can miss a class: its accuracy is no 0
        log(f"no test images of {shown_names(untested)}: {'its' if len(untested) == 1 else 'their'} accuracy is "
            f"not known")


def write_test_results(out, test, classes, images, metrics="test_metrics.json"):
    """Write ``test`` into the folder ``out``: the metrics as JSON (``metrics``, atomically),
    ``confusion.png`` (up to CONFUSION_PICTURE_LIMIT classes), ``largest_losses.png`` and
    ``top5.png``, whose pictures are the rows of ``images`` (the test set's uint8 pixels, or a dict
    of them by index) that "largest_losses" and "first_top5" name."""
    checkpoint.atomic_write(os.path.join(out, metrics), lambda f: f.write(json.dumps(test).encode()))
    if "confusion" in test and len(classes) <= CONFUSION_PICTURE_LIMIT:
        save_confusion(test["confusion"], classes, os.path.join(out, "confusion.png"))
    if test.get("largest_losses"):
        save_largest_losses(images, test["largest_losses"], classes, os.path.join(out, "largest_losses.png"))
    if test.get("first_top5"):
        save_top5(images, test["first_top5"], classes, os.path.join(out, "top5.png"))


def checked_data(data):
    """``data`` with each part's labels as an array (a list of ints will do) and no ``val`` (or
    None) as no images held out, or TrainingError for data that fit would misread: each of train,
    val and test must be uint8 pixels (N, H, W) or (N, C, H, W), which the loader divides by 255
    (``pixels_refused``), and integer labels (N,)."""
    missing = [part for part in ("train", "test") if data.get(part) is None]
    if missing:
        raise TrainingError(f"the data needs {', '.join(missing)}: dict(train=(x, y), val=(x, y), test=(x, y)) "
                            f"(val may be left out)")
    if data.get("val") is None:   # nothing held out: no validation between epochs
        data = {**data, "val": (data["train"][0][:0], np.asarray(data["train"][1])[:0])}
    for part in ("train", "val", "test"):
        images, labels = data[part]
        refused = pixels_refused(images)
        if refused:
            raise TrainingError(f"the {part} images must be a uint8 array (N, H, W) or (N, C, H, W) of pixels "
                                f"0-255, got {refused}")
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(images) or not (labels.size == 0 or
                                                                   np.issubdtype(labels.dtype, np.integer)):
            raise TrainingError(f"the {part} labels must be integer classes, one per image ({len(images)}), got a "
                                f"{labels.dtype} array of shape {labels.shape}")
    return {**data, **{part: (data[part][0], np.asarray(data[part][1])) for part in ("train", "val", "test")}}


def check_model_takes(model, data, cfg):
    """Refuse (``TrainingError``) a model that cannot take the batches the data makes (their
    channels, their side after input_size or crop), or that has fewer outputs than a label needs,
    before anything is written: not a traceback from the first step's forward or loss. Returns the
    number of classes, the model's outputs."""
    images = data["train"][0]
    channels = 1 if images.ndim == 3 else images.shape[1]
    try:   # a number for every channel, or one for each
        pixel_statistics(cfg["mean"], cfg["std"], channels, who="fit")
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    side = cfg.get("crop") or cfg["input_size"]
    height, width = (side, side) if side else images.shape[-2:]
    batch = (cfg["batch_size"], channels, height, width)
    try:
        outputs = model.output_shape(batch)
    except ValueError as exc:
        raise TrainingError(f"the model cannot take the data's batches of shape {batch}: {exc}") from None
    labels = np.concatenate([np.asarray(data[part][1]).ravel() for part in ("train", "val", "test")])
    low, top = int(labels.min()), int(labels.max())   # the train labels are never empty (check_data)
    if len(outputs) != 2 or top >= outputs[1] or low < 0:
        raise TrainingError(f"the labels run from {low} to {top}, and the model's output has shape {outputs}: it "
                            f"needs one score per class, (N, {top + 1}) or more, and labels from 0")
    return outputs[1]


def check_data(data, cfg, ranks=1):
    """Refuse, before the first step, settings the data cannot serve (``TrainingError``): no
    training images, no whole batch of them (an epoch of no steps), the plateau schedule with no
    validation set to watch, or no test images (that ``epochs`` and ``batch_size`` are integers
    >= 1 is ``check_settings``'s to check)."""
    count, batch = len(data["train"][1]), cfg["batch_size"]
    if not count:   # every image held out: no batch size helps
        raise TrainingError(f"no images are left to train on: the data's {len(data['val'][1])} validation and "
                            f"{counted(len(data['test'][1]), 'test image')} are all it has; give more data")
    if batch * ranks > count:
        per_rank = f" ({batch} on each of {ranks} ranks)" if ranks > 1 else ""
        raise TrainingError(f"a batch of {counted(batch * ranks, 'image')}{per_rank} needs at least as many training "
                            f"images; there are {count}: lower the batch size or give more data")
    if cfg["schedule"] == "plateau" and not len(data["val"][1]):
        raise TrainingError("the plateau schedule lowers the learning rate when the validation accuracy stops "
                            "improving, and no images are held out for validation: hold some out or use "
                            "another schedule")
    if not len(data["test"][1]):
        raise TrainingError("the test set is empty")


def resume(ckpt_path, model, optimizer, schedule, cfg, comm, log=print):
    """Load the run that ``ckpt_path`` holds into ``model``, ``optimizer`` and ``schedule`` (built
    for ``cfg``, fit's configuration) and return the epochs it holds. Says what goes on otherwise
    than the run would have: a linear decay planned anew for another number of epochs, another
    device, a global batch of another size (another number of ranks), no epochs left to train."""
    check_resumed_classes(ckpt_path, cfg)   # before the load, which a head of another size fails
    meta = checkpoint.load(ckpt_path, model, optimizer, expect={"model": cfg["model_name"],
                                                                  "schedule_name": cfg["schedule"],
                                                                  "split": cfg.get("split", "none")})
    start_epoch, optimizer.lr = meta["epoch"], meta["lr"]
    schedule.load_state_dict(meta["schedule"])
    log(f"resumed from {ckpt_path} after epoch {start_epoch}")
    recorded = meta.get("config") or {}
    planned, epochs = recorded.get("epochs"), cfg["epochs"]
    if isinstance(schedule, LinearDecay) and planned not in (None, epochs) and start_epoch < epochs:
        optimizer.lr = schedule.lr_now()   # the decay planned anew; the checkpoint's lr was the old plan's
        log(f"note: the run was planned for {counted(planned, 'epoch')}, now {epochs}: its "
            f"learning rate decays linearly to 0 by the end of epoch {epochs} instead, going on from "
            f"{optimizer.lr:.3g}")
    if recorded.get("device", cfg["device"]) != cfg["device"]:
        log(f"note: the run trained on {recorded['device']} and goes on on {cfg['device']}: the same training, its "
            f"sums rounded otherwise")
    began = (meta.get("ranks", 1), recorded.get("batch_size", cfg["batch_size"]))
    if began[0] * began[1] != comm.size * cfg["batch_size"]:   # allowed: checkpoints hold whole tensors
        log(f"note: the run trained with a global batch of {global_batch(*began)}; it goes on with "
            f"{global_batch(comm.size, cfg['batch_size'])}")
    if start_epoch >= epochs:
        held = counted(start_epoch, "epoch")
        held = f"the {held} asked for" if start_epoch == epochs else f"{held}, more than the {epochs} asked for"
        log(f"it already holds {held}: nothing to train, only the test (ask for more than {start_epoch} to go on)")
    return start_epoch


def global_batch(ranks, batch_size):
    """The images of one step over ``ranks`` ranks of ``batch_size`` each, as "N (R ranks of B images)"."""
    return f"{ranks * batch_size} ({counted(ranks, 'rank')} of {batch_size} images)"


def counted(n, noun):
    """The count and the noun, plural where n is not 1: counted(1, "epoch") is "1 epoch", counted(2, "rank")
    "2 ranks"."""
    return f"{n} {noun}{'s' if n != 1 else ''}"


def check_resumed_classes(ckpt_path, cfg):
    """Refuse to resume the run of ``ckpt_path`` on data of other classes than the ones it trained
    on, or in another order (``TrainingError``): the labels would mean other things to its last
    layer, which has one output per class. Checkpoints that record no classes pass."""
    meta = checkpoint.read_meta(ckpt_path, checkpoint.read_npz(ckpt_path, names=["meta"])) or {}
    trained = (meta.get("config") or {}).get("classes")
    given = cfg.get("classes")
    if trained is None or given is None or list(trained) == list(given):
        return

    def listed(classes):
        return f"{len(classes)} classes ({shown_names(classes)})"
    raise TrainingError(f"{ckpt_path}: the run trained on {listed(list(trained))}, and this data has "
                        f"{listed(list(given))}: resume with the run's own data, or start a new run with "
                        f"another --out")


_CLAIMS = {}   # output folder (absolute path) -> the open lock file by which this process holds it


def claim_folder(out):
    """Hold the output folder ``out`` until ``release_folder`` or the end of this process (an
    advisory ``flock`` of ``out/.lock``, which the system drops when the process ends, however it
    ends), so that a second run into the same folder is refused at its start, naming the process
    that holds it, rather than left to overwrite the first's checkpoint and metrics. A process may
    claim a folder again (a notebook's second ``fit``). Returns True where this call took the
    claim, False where it was held already or there are no locks to take (Windows, some network
    file systems); raises ``TrainingError`` where another process holds it."""
    key = os.path.abspath(out)
    if key in _CLAIMS:
        return False
    try:
        import fcntl
    except ImportError:
        return False
    lock = open(os.path.join(out, ".lock"), "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip()
        lock.close()
        raise TrainingError(f"{out} is in use by another run{f' (process {holder})' if holder else ''}: wait for it "
                            f"to end, or give this run another output folder (--out)") from None
    except OSError:   # a file system without locks
        lock.close()
        return False
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    _CLAIMS[key] = lock
    return True


RUN_FILES = ("checkpoint.npz", "checkpoint.json", "metrics.jsonl", "test_metrics.json")   # written atomically


def remove_leftovers(out, log=print):
    """Remove the temporary files that a run killed while saving (SIGKILL, a power cut, a full
    disk's crash) left in ``out``, and say so: hidden beside the file they were to replace
    (``checkpoint.atomic_write``), each as large as it, 488 MB for the 2012 AlexNet's checkpoint
    with its SGD velocity, and never read. Only with ``out`` held (``claim_folder``), where no
    other process can be writing them."""
    leftovers = [os.path.join(out, f) for f in os.listdir(out)
                 if f.endswith(".tmp") and any(f.startswith("." + name) for name in RUN_FILES)]
    size = 0
    for path in leftovers:
        size += os.path.getsize(path)
        os.remove(path)
    if leftovers:
        log(f"note: removed {len(leftovers)} temporary file{'s' if len(leftovers) > 1 else ''} "
            f"({size / 1e6:.1f} MB) that a run stopped while saving left in {out}")


def release_folder(out):
    """Give back this process's claim on ``out`` (``claim_folder``), if it holds one."""
    lock = _CLAIMS.pop(os.path.abspath(out), None)
    if lock is not None:
        lock.close()   # closing the file drops its flock


@atexit.register
def _release_claims():
    """At exit, the claims held to the end (the system would drop them, but Python would call
    their files leaked: a ResourceWarning each)."""
    for out in list(_CLAIMS):
        release_folder(out)


def writable_folder(out, hint=": choose another output folder (--out)"):
    """Make the folder ``out`` (with its parents) and check that a file can be written in it, so
    that a run that cannot save fails before its first step, not after its first epoch; returns
    ``out``, or raises ``TrainingError`` naming the folder and why, then ``hint``."""
    if os.path.isfile(out):   # else "File exists"; a run's checkpoint, given for its folder, names the folder
        run = run_folder_of(out)
        raise TrainingError(f"cannot write the run's files into {out}: a file, not a folder"
                            + (f"; give the run's folder, {run}" if run else hint))
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename and os.path.abspath(exc.filename) != os.path.abspath(out) else ""
        raise TrainingError(f"cannot write the run's files into {out} ({exc.strerror or exc}{where}){hint}") from None
    return out


def keep_metrics_up_to(metrics_path, epoch, log=print):
    """Drop the lines of ``metrics_path`` (JSON lines, one per epoch) after ``epoch``, the one a
    resumed run's checkpoint holds. An epoch's line is written just before its checkpoint, so a
    run killed while saving that checkpoint leaves a line for an epoch the resumed run trains
    again; without this it would be there twice. A run killed while writing its line leaves part
    of one, which no JSON reader takes: lines that are no epoch's record are dropped too, and
    ``log`` says how many (the next line would otherwise be appended to the cut one)."""
    if not os.path.exists(metrics_path):
        if epoch:
            log(f"note: {metrics_path} is missing (a checkpoint copied without it?): epochs 1 to {epoch} have no "
                f"record there, nor in curves.png")
        return
    with open(metrics_path, errors="replace") as f:
        lines = f.readlines()
    kept, unreadable = [], 0
    for line in lines:
        try:
            if json.loads(line)["epoch"] <= epoch:
                kept.append(line.rstrip("\n") + "\n")
        except (ValueError, TypeError, KeyError, IndexError):   # cut off, or no record of an epoch
            unreadable += 1
    if unreadable:
        log(f"note: {metrics_path}: dropped {counted(unreadable, 'line')} that "
            f"{'are' if unreadable != 1 else 'is'} no epoch's record (cut off when the run was stopped?)")
    if kept != lines:
        checkpoint.atomic_write(metrics_path, lambda f: f.write("".join(kept).encode()))


def epoch_records(metrics_path):
    """The records of ``metrics_path``, one dict per epoch ([] where there is no such file)."""
    if not os.path.exists(metrics_path):
        return []
    with open(metrics_path) as f:
        return [json.loads(line) for line in f]


def check_run_of(script, config, ckpt_path):
    """Refuse (``TrainingError``) to resume with ``script`` ("train_alexnet.py", "finetune.py") the
    run of another script, whose checkpoint's ``config`` says so (its ``script``; before that was
    recorded, fine-tuning's ``train_layers`` or training's ``dataset``): the run would go on with
    the other script's defaults, its layers frozen or not. Checkpoints that say neither pass."""
    wrote = config.get("script") or ("finetune.py" if "train_layers" in config else
                                     "train_alexnet.py" if "dataset" in config else None)
    if wrote not in (None, script):
        raise TrainingError(f"--resume: {ckpt_path} holds a run of examples/{wrote}: continue it with "
                            f"examples/{wrote} --out {os.path.dirname(ckpt_path) or '.'} --resume, or start a new "
                            f"run with another --out")


def data_to_resume(given, config, out):
    """The --data of a resumed run, and a note to print or None. ``given``: the command's --data
    (None where it gives none: then a data set's own places); ``config``: the run's checkpoint's,
    whose ``data`` is the folder the run began on, absolute (None: the data set's own places;
    absent from checkpoints written before it was recorded, which take ``given`` as it is). A
    command without --data takes the recorded folder, refused (``TrainingError``) when it is no
    longer there. Another folder given is taken, as data move between machines, and the note
    says so: it must hold the same images, or the validation and test images of the run so far
    may be trained on."""
    if "data" not in config:
        return given, None
    began = config["data"]
    if given is None:
        if began is not None and not os.path.exists(began):
            raise TrainingError(f"--resume: the run in {out} began on the data in {began}, which is no longer there: "
                                f"give --data with the folder it is in now")
        return began, None
    if began is not None and os.path.realpath(given) == os.path.realpath(began):
        return given, None
    where = f"the data in {began}" if began else "its data set found in its usual places (no --data)"
    return given, (f"note: the run in {out} began on {where}; it goes on with --data {given}, which must hold the "
                   f"same images, or its validation and test images may be trained on")


def checkpoint_to_resume(out):
    """The checkpoint a script's ``--resume`` continues from, ``out``/checkpoint.npz; checked
    before the data is loaded (``TrainingError`` when there is none)."""
    if os.path.isfile(out):
        run = run_folder_of(out)
        raise TrainingError(f"--resume: {out}: a file, not a run's folder" + (f"; give {run}" if run else ""))
    path = os.path.join(out, "checkpoint.npz")
    if not os.path.exists(path):
        raise TrainingError(f"--resume: {path}: no such checkpoint (a run writes one at the end of each epoch)")
    return path


def run_folder_of(path):
    """The folder of a run that the file ``path`` belongs to (one holding a checkpoint.npz), or
    None: an --out given as the run's checkpoint names its folder in the error."""
    folder = os.path.dirname(os.path.normpath(path)) or "."
    return folder if os.path.isfile(os.path.join(folder, "checkpoint.npz")) else None


def earlier_run(path):
    """What the checkpoint at ``path`` holds, in words ("alexnet_small after epoch 5"), from the
    metadata written beside it; "its checkpoint" when that cannot be read."""
    try:
        with open(os.path.splitext(path)[0] + ".json") as f:
            meta = json.load(f)
        return f"{meta['model'] or 'a network'} after epoch {meta['epoch']}"   # fit's callers may name none
    except (OSError, ValueError, KeyError, TypeError):
        return "its checkpoint"


@contextlib.contextmanager
def ctrl_c_says_how_to_resume(out, resumed, say=print, ranks=1):
    """Around a script's ``fit`` writing to ``out``: Ctrl-C ends the process with the shell's code
    for SIGINT (130) and one message instead of a traceback: the command line that resumes the run
    (this one, with ``--resume``) when an epoch of this run was saved, else that nothing of it was.
    SIGTERM (a batch scheduler's end of a job, under ``run_script``) the same, with 143. A run of
    several ``ranks`` resumes under ``mpirun -np ranks`` (run alone, the script would go on as one
    rank, with a smaller global batch). A checkpoint of an earlier run in ``out`` does not count:
    checkpoints are replaced by a rename, so a new one is another file (inode, time and size)."""
    path = os.path.join(out, "checkpoint.npz")
    before = _file_identity(path)
    try:
        yield
    except KeyboardInterrupt as exc:
        word, status = stopped(exc)
        saved = _file_identity(path)
        if saved and (resumed or saved != before):
            launcher = f"mpirun -np {ranks} " if ranks > 1 else ""
            say(f"\n{word}; {path} holds the last finished epoch: continue with\n"
                f"    {launcher}python {shlex.join(sys.argv)}{'' if resumed else ' --resume'}", file=sys.stderr)
        else:
            kept = f"; the earlier run in {out} is as it was" if before else ""
            say(f"\n{word} before the first epoch ended: nothing of this run was saved{kept}", file=sys.stderr)
        raise SystemExit(status) from None


def _file_identity(path):
    try:
        info = os.stat(path)
    except OSError:   # none there (or ``out`` is no folder: the run stopped before it wrote)
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def share(pair, comm):
    """This rank's share of an evaluation set: every ``comm.size``-th example from ``comm.rank``."""
    images, labels = pair
    if comm.size == 1:
        return images, labels
    return images[comm.rank::comm.size], labels[comm.rank::comm.size]


def eval_loader(pair, comm, loader_args, device="cpu"):
    """The loader of this rank's share of an evaluation set, in batches of about EVAL_BATCH[device]."""
    images, labels = share(pair, comm)
    preferred = EVAL_BATCH.get(device, EVAL_BATCH["cuda"])
    return BatchLoader(images, labels, common_batch_size(comm, len(labels), preferred), **loader_args)


def common_batch_size(comm, count, preferred):
    """The batch size nearest below ``preferred`` with which every rank's ``count`` examples make
    the same number of batches: a model spread over the ranks (minicnn.hybrid) runs each batch
    on all of them together. The shares of ``share`` differ by one example at most."""
    counts = comm.allgather_counts(count, "all-gather of the evaluation set sizes")
    if counts.min() < 1:
        raise ValueError(f"an evaluation set of {counts.sum()} examples cannot give each of {comm.size} ranks one")
    size = preferred
    while size > 1 and len({-(-int(c) // size) for c in counts}) > 1:
        size -= 1
    return size


def without_bars(no_progress, stream=None):
    """Whether a script shows no progress bars: with --no-progress, and also when ``stream``
    (stderr, where tqdm draws) is no terminal but a log file or a pipe, where every redraw of a bar
    would be more of the log (a 5-epoch run's bars, thousands of redraws); the scripts then print a
    line per download or image folder prepared, as with --no-progress."""
    stream = sys.stderr if stream is None else stream
    return no_progress or not (hasattr(stream, "isatty") and stream.isatty())


def batch_progress():
    """The ``progress`` argument of ``fit`` that shows a tqdm bar per epoch (batches, rate, ETA)."""
    from tqdm import tqdm
    return lambda it, total, desc: tqdm(it, total=total, desc=desc, unit="batch", leave=False)


def download_progress(bar=True):
    """The ``progress`` argument of the data sets' downloads (``minicnn.data.download.fetch``): a
    tqdm bar per file, or without ``bar`` (--no-progress, for logs) a line per file."""
    def start(total_bytes, name):
        if not bar:
            print(f"downloading {name}" + (f" ({total_bytes / 1e6:.1f} MB)" if total_bytes else ""))
            return None
        from tqdm import tqdm
        return tqdm(total=total_bytes or None, desc=f"downloading {name}", unit="B", unit_scale=True,
                    leave=False).update
    return start


def preparation_progress(bar=True):
    """The ``progress`` argument of ``image_folder.load_splits`` (called only when a folder's
    images are decoded into the cache, not when the cache is reused): a tqdm bar, or without
    ``bar`` a line per folder."""
    def wrap(decoded, total):
        if not bar:
            print(f"preparing {total} images into the cache (once: later runs reuse it)")
            return decoded
        from tqdm import tqdm
        return tqdm(decoded, total=total, desc="preparing images", unit="img", leave=False)
    return wrap


def model_dtype(model):
    return next(p.data.dtype for _, p in model.named_params()).type
