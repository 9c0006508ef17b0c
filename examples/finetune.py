#!/usr/bin/env python3
"""Fine-tune a pretrained AlexNet for a new task: a new last layer with one output per class of
an image folder, everything else frozen (no parameter gradients, no updates, and no backward
below the last trainable layer).

    python examples/finetune.py --data cats_vs_dogs --weights alexnet-owt-7be5be79.pth --epochs 3

--data is an image folder (DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg, or DIR/<class>/*.jpg);
--weights torchvision's .pth (needs torch), minicnn .npz weights of the same --model, or a training
checkpoint of photographs (train_alexnet.py --data FOLDER, or this script), whose network and
normalisation are taken and whose classes, however many, give way to the new task's. Outputs
(checkpoint, metrics, curves) go to --out; classify new photos afterwards with
    python examples/predict.py photo.jpg --weights OUT/checkpoint.npz
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn import models  # noqa: E402
from minicnn.arguments import (SettingsError, non_negative_int, plain_warnings, positive_float,  # noqa: E402
                               positive_int, run_script, settings, user_path)
from minicnn.backend import check_device  # noqa: E402
from minicnn.checkpoint import CheckpointError  # noqa: E402
from minicnn.data import DataError  # noqa: E402
from minicnn.data.image_folder import holdout_of, load_splits  # noqa: E402
from minicnn.ensemble import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402 (torchvision's normalisation)
from minicnn.train import (TrainingError, batch_progress, check_run_of, checkpoint_to_resume,  # noqa: E402
                           claim_folder, ctrl_c_says_how_to_resume, data_to_resume, fit, preparation_progress,
                           without_bars, writable_folder)
from minicnn.weights import WeightsError, build_recorded, checkpoint_config, class_count, load  # noqa: E402

FINE_TUNED = ("alexnet", "alexnet_owt")   # the networks of 224/227 px photographs with a Dense head
# What a flag left out means when a run begins (a resumed run takes its own values first), and
# where the checkpoint's configuration records each (older checkpoints lack --train-layers).
DEFAULTS = dict(model="alexnet_owt", train_layers=1, epochs=3, batch_size=32, lr=0.01, augment=False, seed=0)
RECORDED = dict(model="model_name", train_layers="train_layers", epochs="epochs", batch_size="batch_size", lr="lr",
                augment="augment", seed="seed")


def pretrained(path, name, given=None):
    """``(architecture, model, (mean, std))``: the network to fine-tune (``models.build``'s
    arguments, and the model with the weights at ``path`` loaded) and the normalisation those
    weights were trained with ((None, None) without weights: random ones, the folder's own).

    A training checkpoint of minicnn's (train_alexnet.py, finetune.py) records its network (the
    model it was trained as, its class count and LRN groups) and its normalisation, and is rebuilt
    as such: its last layer, replaced next, may have any number of classes. torchvision's ``.pth``
    and plain ``.npz`` weights are ``name``'s network with ImageNet's normalisation, and as many
    classes as their last bias. ``given``: the --model of the command line, which a checkpoint of
    another network refuses."""
    if path is None:
        architecture = dict(name=name, num_classes=1000)
        return architecture, models.build(**architecture), (None, None)
    config = checkpoint_config(path)
    architecture = dict(config.get("architecture") or {})
    if architecture:
        trained_as = architecture["name"]
        if config["split"] == "two-device":
            raise WeightsError(f"{path}: trained split over two devices; convert it to one device first "
                               f"(python examples/convert_checkpoint.py {path} single.npz)")
        if trained_as not in FINE_TUNED:
            raise WeightsError(f"{path}: a checkpoint of {trained_as}; fine-tuning takes {' or '.join(FINE_TUNED)}")
        if given and given != trained_as:
            raise WeightsError(f"{path}: a checkpoint of {trained_as}, not of --model {given}: drop --model")
        if architecture.get("in_channels", 3) != 3:
            raise WeightsError(f"{path}: trained on images of {architecture['in_channels']} channel(s); an image "
                               f"folder's are read as RGB (3)")
        normalisation = (config.get("mean", IMAGENET_MEAN), config.get("std", IMAGENET_STD))
    else:
        architecture = dict(name=name, num_classes=class_count(path))
        normalisation = (IMAGENET_MEAN, IMAGENET_STD)
    model = build_recorded(architecture, path)
    load(path, model)
    return architecture, model, normalisation


def check_resumed_weights(given, started, out):
    """A resumed run continues from its own checkpoint, not from --weights: refuse (``SettingsError``)
    a --weights file other than the one it began from (the command that Ctrl-C prints repeats the
    run's own), or any where it began from random weights. Checkpoints that record no weights pass."""
    if given is None or "weights" not in started or os.path.abspath(given) == started["weights"]:
        return
    began = started["weights"] or "random weights"
    raise SettingsError(f"--resume continues the run in {out} from its checkpoint, and this command gives --weights "
                        f"{given} (the run began from {began}): drop it, or start a new run with another --out")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=user_path, default=None, metavar="DIR",
                   help="image folder of the new task (required; a resumed run takes the one it began on)")
    p.add_argument("--weights", type=user_path, default=None,
                   help="pretrained weights (.pth or .npz); without them the frozen layers are random "
                        "(only useful to try the script); a resumed run goes on from its checkpoint, and "
                        "takes only the --weights it began from")
    p.add_argument("--model", default=None, choices=FINE_TUNED,
                   help="architecture of the weights (default: the network a minicnn checkpoint records, "
                        "else alexnet_owt, torchvision's)")
    p.add_argument("--train-layers", type=positive_int, default=None,
                   help="how many of the last layers with parameters to train (default: 1, the new head; at "
                        "most 8, all of AlexNet's)")
    p.add_argument("--epochs", type=positive_int, default=None, help="epochs (default: 3)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="mini-batch size (default: 32)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="initial learning rate, decayed linearly to 0 (default: 0.01)")
    p.add_argument("--augment", action="store_true", default=None, help="random crops, mirrors and PCA colour shifts")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "sim"), help="where to train (default: cpu)")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed of the new layer and the data order (default: 0)")
    p.add_argument("--out", type=user_path, default="runs/finetune", help="output folder (default: runs/finetune)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint.npz, on the --data it began on, with the "
                        "settings it began with (a flag left out takes the run's value, one given must equal it, "
                        "except --epochs, which may extend the run)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars: a line per image folder prepared, none per batch (default: bars "
                        "where the output is a terminal, none in a log file or pipe)")
    args = p.parse_args(argv)
    args.no_progress = without_bars(args.no_progress)   # no bars in a log either
    model_given = args.model   # before the defaults fill it in: a checkpoint names its own network
    if args.data is None and not args.resume:
        p.error("--data is required: the image folder of the new task")
    plain_warnings()
    try:
        resume_from = checkpoint_to_resume(args.out) if args.resume else None   # before the data is loaded
        writable_folder(args.out)
        claim_folder(args.out)   # held until the process ends: a second run into it is refused
        started = checkpoint_config(resume_from, "checkpoint") if resume_from else {}
        check_run_of("finetune.py", started, resume_from)
        args.data, data_note = data_to_resume(args.data, started, args.out) if resume_from else (args.data, None)
        if args.data is None:   # a run begun before the folder was recorded
            p.error(f"--data is required: the image folder the run in {args.out} began on")
        check_resumed_weights(args.weights, started, args.out)
        settings(args, DEFAULTS, {dest: started.get(key) for dest, key in RECORDED.items()}, free=("epochs",),
                 run=f"the run in {args.out}")
    except (TrainingError, WeightsError, SettingsError) as exc:
        raise SystemExit(f"error: {exc}")
    if data_note:   # a resumed run on another --data than it began on
        print(data_note, file=sys.stderr)
    try:
        device = check_device(args.device)
        holdout = holdout_of(started)   # a resumed run's splits as it began
        data = load_splits(args.data, progress=preparation_progress(not args.no_progress), holdout=holdout)
    except (RuntimeError, DataError) as exc:
        raise SystemExit(f"error: {exc}")

    try:
        if resume_from:   # the run's own network (fit loads its weights) and normalisation
            architecture = dict(started.get("architecture") or dict(name=args.model, num_classes=len(data["classes"])))
            model, normalisation = build_recorded(architecture, resume_from), (started.get("mean"), started.get("std"))
        else:
            architecture, model, normalisation = pretrained(args.weights, args.model, model_given)
            models.replace_head(model, len(data["classes"]), seed=args.seed)
            architecture["num_classes"] = len(data["classes"])
    except WeightsError as exc:
        raise SystemExit(f"error: {exc}")
    args.model = architecture["name"]   # a checkpoint's own network when --model was left out
    parametric = [(name, layer) for name, layer in model.named_leaves() if layer.params]
    if args.train_layers > len(parametric):
        raise SystemExit(f"error: --train-layers {args.train_layers}: {args.model} has {len(parametric)} layers "
                         f"with parameters ({', '.join(name for name, _ in parametric)}); give at most "
                         f"{len(parametric)}")
    model.freeze()
    for _, layer in parametric[-args.train_layers:]:
        layer.freeze(False)
    model.input_grad = False   # nothing below the trained layers needs a gradient
    trained = sum(p.data.size for _, p in model.named_params() if not p.frozen)
    print(f"fine-tuning {args.model} for {len(data['classes'])} classes ({', '.join(data['classes'][:5])}"
          f"{', ...' if len(data['classes']) > 5 else ''}): {trained:,} of {model.num_params():,} parameters trained")
    mean, std = normalisation if normalisation[0] is not None else (data["mean"], data["std"])
    crop = models.MODELS[args.model][1]
    cfg = dict(model_name=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=0.9,
               weight_decay=5e-4, schedule="linear", step_every=1, input_size=crop, augment=args.augment,
               augment_pad=0, mean=mean, std=std, seed=args.seed, device=device, out=args.out, resume=args.resume,
               crop=crop, pca=[a.tolist() for a in data["pca"]], ten_crop=True, classes=data["classes"],
               architecture=architecture, train_layers=args.train_layers, script="finetune.py",
               holdout=holdout, data=os.path.abspath(args.data),
               weights=os.path.abspath(args.weights) if args.weights and not resume_from else started.get("weights"))
    with ctrl_c_says_how_to_resume(args.out, args.resume):
        try:
            fit(model, data, cfg, progress=None if args.no_progress else batch_progress())
        except (TrainingError, CheckpointError) as exc:
            raise SystemExit(f"error: {exc}")
    print(f"results written to {os.path.abspath(args.out)}; classify pictures with the fine-tuned network:\n"
          f"    python examples/predict.py PICTURE.jpg --weights {os.path.join(args.out, 'checkpoint.npz')}")


if __name__ == "__main__":
    run_script(main)
