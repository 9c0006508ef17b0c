#!/usr/bin/env python3
"""Train AlexNet with minicnn.

Defaults that work on a first run: on a CPU, the small AlexNet on Fashion-MNIST (28x28);
on a GPU (--device cuda), the full 2012 AlexNet on Fashion-MNIST resized to 227x227 (d2l.ai's
recipe). Results go to --out (by default runs/fashion, runs/cifar10 or runs/<data folder>):
metrics.jsonl, checkpoint.npz/.json, curves.png, conv1_filters.png, confusion.png,
largest_losses.png (the 16 test images of the largest loss, with the network's guesses), top5.png
(the first 8 test images, each with its five most probable classes: the paper's Figure 4, left)
and test_metrics.json (loss, top-1, top-5, each class's accuracy, the confusion matrix, those 16
and those 8).

    python examples/train_alexnet.py                               # CPU default
    python examples/train_alexnet.py --epochs 1 --limit 2000 --out runs/smoke
    python examples/train_alexnet.py --resume                      # continue a killed run
    python examples/train_alexnet.py --dataset cifar10             # downloaded when missing; runs/cifar10
    python examples/train_alexnet.py --split two-device            # the paper's two towers
    python examples/train_alexnet.py --device sim --limit 640 --epochs 1 --width 8   # kernels, simulated
    mpirun -np 2 python examples/train_alexnet.py --distributed            # data-parallel over 2 ranks
    mpirun -np 2 python examples/train_alexnet.py --distributed --hybrid   # ... FC layers model-parallel
"""
import argparse
import os
import sys

from minicnn import cpu_threads, gemm, models, towers
from minicnn.arguments import (SettingsError, even_positive_int, fraction, non_negative_float, non_negative_int,
                               plain_warnings, positive_float, positive_int, run_script, settings, user_path)
from minicnn.backend import KERNEL_DEVICES, check_device, cuda_available
from minicnn.checkpoint import CheckpointError
from minicnn.data import DATASETS, DataError, run_splits
from minicnn.data.image_folder import ARCHIVES, holdout_of
from minicnn.fusion import fuse
from minicnn.hybrid import HybridError, HybridNet
from minicnn.summary import summary
from minicnn.train import (TrainingError, batch_progress, check_run_of, checkpoint_to_resume, ctrl_c_says_how_to_resume,
                           claim_folder, counted, data_to_resume, download_progress, fit, preparation_progress,
                           without_bars, writable_folder)
from minicnn.weights import WeightsError, checkpoint_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, choices=sorted(models.MODELS),
                   help="network to train (default: alexnet_small on a CPU, alexnet on a GPU)")
    p.add_argument("--width", type=even_positive_int, default=None,
                   help="maps of alexnet_small's conv1 (conv2/5 get 2x, conv3/4 3x), even, as conv2, conv4 "
                        "and conv5 split their maps into two groups (default: 24)")
    p.add_argument("--dropout", type=fraction, default=None,
                   help="drop probability of alexnet_small's two dropout layers (default: 0.25; the "
                        "paper's 0.5 gave less test accuracy in the runs measured: 89.6%% against "
                        "90.4%% after 5 epochs, 91.96%% against 92.04%% after 20 (three seeds' means, its "
                        "seeds inside the default's range), 91.7%% against 92.1%% after 40; no dropout, 0, "
                        "gave 90.4%% against the default's 90.3%%, means of three seeds of 5 epochs, and "
                        "91.8%% against 92.0%% after 20, three seeds' means: README, \"What LRN, overlapping "
                        "pooling and dropout add\")")
    p.add_argument("--activation", default=None, choices=("relu", "tanh"),
                   help="units of alexnet_small after each conv and fc layer: relu, the paper's, or tanh, the "
                        "saturating units it compares them with (its Figure 1: README, \"ReLU against tanh\") "
                        "(default: relu)")
    p.add_argument("--no-lrn", action="store_const", const=True, default=None,
                   help="leave out alexnet_small's two local response normalisations (norm1, norm2), to measure "
                        "what they add, as the paper's section 3.3 does: without them the network tested 2.0 points "
                        "lower after 5 epochs and 0.90 after 20 (three seeds' means; README, \"What LRN, "
                        "overlapping pooling and dropout add\") (default: off, both kept)")
    p.add_argument("--lrn-alpha", type=non_negative_float, default=None,
                   help="alpha of alexnet_small's two LRN layers: the paper's 1e-4, or 0, which makes each a fixed "
                        "division by k ** beta = 2 ** 0.75, the same at every unit, to tell what their normalising "
                        "adds from what their scale does (README, as above) (default: 1e-4)")
    p.add_argument("--pool-size", type=int, default=None, choices=(2, 3),
                   help="window of alexnet_small's three max-pools, each of stride 2: 3, the paper's overlapping "
                        "pooling, or 2, windows side by side, which its section 3.4 compares them with; on 28 px "
                        "images 2 leaves 3x3 maps for fc6 rather than 2x2; after 20 epochs 2 tested 0.9203 and 3 "
                        "padded to the same maps (--pad-pools) 0.9206, the 2x2 pools' validation loss turning up "
                        "sooner (three seeds' means; README, \"What LRN, overlapping pooling and dropout add\") "
                        "(default: 3)")
    p.add_argument("--pad-pools", action="store_const", const=True, default=None,
                   help="pad the input of each of alexnet_small's 3x3 max-pools whose side is even by a pixel that "
                        "never wins, so that they leave the maps 2x2 pools do (3x3 for fc6 on 28 px images): "
                        "--pool-size 2 and 3 then compare at equal sizes, as the paper compared them (default: off)")
    p.add_argument("--connectivity", default=None, choices=models.CONNECTIVITIES,
                   help="how alexnet_small's conv layers connect (the paper's section 3.2): towers, the paper's "
                        "two-GPU net (conv2, conv4 and conv5 each read their own tower's half of the maps below); "
                        "one-tower, the same maps with every conv reading all of those below; one-tower-half, "
                        "the one-GPU net the paper measured its split against (conv1 to conv4 with half the "
                        "maps, conv5 and the fc layers as they are), which tested 0.36 points below the towers after "
                        "20 epochs, where one-tower tested 0.06 below them (three seeds' means; README, \"The two "
                        "towers' connectivity\") (default: towers)")
    p.add_argument("--leave-out", default=None, choices=models.MIDDLE_CONVS,
                   help="build alexnet_small without one of its middle convs (and its units), the next layer "
                        "reading the maps of the one before: the paper's section 7 found that removing any of "
                        "them cost about 2%% of top-1 accuracy, where here conv3 cost 0.11 points after 20 epochs, "
                        "conv4 0.03 and conv5 none (a gain of 0.12), all within the seeds' spread (three seeds' "
                        "means), and only conv3 cost after 5 (0.36, three seeds' mean); without conv3 the towers "
                        "meet first at fc6, without conv5 fc6 reads conv4's 3x width maps (README, \"Each middle "
                        "conv left out\") (default: none, all five convs kept)")
    p.add_argument("--dataset", default=None, choices=sorted(DATASETS) + ["folder"],
                   help="data set (default: cifar10 when --data holds CIFAR-10's batches, folder when it holds "
                        "subfolders or pictures, else fashion-mnist; "
                        "cifar10 reads CIFAR-10's python batches, downloaded (170 MB) when missing; "
                        "folder: an image folder given by --data, ImageNet-style: DIR/train/<class>/*.jpg "
                        "and optionally DIR/val/<class>/*.jpg, or DIR/<class>/*.jpg; prepared once "
                        "(shorter side 256, centre 256x256) into a cache, trained on random crops, "
                        "mirrors and PCA colour shifts with --augment, tested on the centre crop and "
                        "on ten crops)")
    p.add_argument("--data", type=user_path, default=None, metavar="DIR",
                   help="folder with the data files (default: Fashion-MNIST in ~/.cache/minicnn/fashion-mnist, "
                        "then /usr/share/datasets/fashion-mnist; CIFAR-10 in ~/.cache/minicnn/cifar-10-batches-py; "
                        "a data set found nowhere is downloaded into the first, checksums checked; "
                        "MINICNN_CACHE_DIR moves ~/.cache/minicnn, with the image folders' caches; a folder "
                        "given is the only one looked at, and nothing is downloaded into it; Fashion-MNIST's "
                        "four IDX files compressed or not, or torchvision's root holding FashionMNIST/raw; "
                        "required with --dataset folder)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="epochs to train (default: 5 on a CPU, 10 on a GPU)")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="mini-batch size (default: 64; the paper used 128, which is as fast per "
                        "image here but makes half the updates in a short run)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="initial learning rate (default: 0.03 for alexnet_small, 0.01 otherwise)")
    p.add_argument("--momentum", type=fraction, default=None, help="SGD momentum (default: 0.9)")
    p.add_argument("--weight-decay", type=non_negative_float, default=None,
                   help="weight decay: each step pulls every weight and bias towards 0 by the learning rate times "
                        "this much of itself, the paper's update rule (default: 0.0005, the paper's; 0 gave "
                        "91.5%% against 92.0%% after 20 epochs, the validation loss rising after epoch 10, 15 and "
                        "14 in its three seeds, and 90.3%% as the default did after 5 (three seeds' means): README, "
                        "\"Weight decay and the unit biases\")")
    p.add_argument("--schedule", choices=("linear", "plateau", "step"), default=None,
                   help="learning-rate schedule: 'linear' decays to 0 batch by batch over the run; "
                        "'plateau' divides by 10 when validation accuracy stops improving (at most "
                        "3 times, the paper's); 'step' divides by 10 every --step-every epochs "
                        "(default: linear)")
    p.add_argument("--step-every", type=positive_int, default=None,
                   help="epochs between divisions for --schedule step (default: epochs - 1)")
    p.add_argument("--augment", action="store_true", default=None,
                   help="random crops (2 px) and mirrors; on Fashion-MNIST they cost the small AlexNet "
                        "accuracy in short runs (test accuracy 88.4%% against 90.0%% after 5 epochs "
                        "with batch 128, 91.5%% against 92.0%% after 20, three seeds' means); after 40 they "
                        "gave the best of the runs measured, 92.2%% against 92.1%%, and the only one not "
                        "overfitting; "
                        "after 80, 93.0%% against 92.0%% without them); such a run is tested on whole "
                        "pictures and also on the paper's ten crops, the picture shifted to the padding's "
                        "four corners, itself, and mirrored (89.5%% against 88.8%% after 5 epochs, three "
                        "seeds' mean)")
    p.add_argument("--val-size", type=non_negative_int, default=None,
                   help="Fashion-MNIST or CIFAR-10 training images held out for validation (default: 5000; 0 "
                        "trains on all of them and validates nothing between epochs; an image folder holds out "
                        "a tenth of each class)")
    p.add_argument("--limit", type=non_negative_int, default=None,
                   help="use only the first N training and N/5 test images of Fashion-MNIST or CIFAR-10, "
                        "holding out at most N/10 of the N for validation (smoke runs; default: 0, all of "
                        "them)")
    p.add_argument("--device", choices=("cpu", "cuda", "sim"), default=None,
                   help="where to train: cpu (NumPy), cuda (minicnn's CUDA kernels on a GPU) or sim "
                        "(the same kernels under the CPU kernel simulator: slow, for checking and "
                        "learning; MINICNN_SIMULATE=1 turns cuda into sim) (default: cuda when CuPy "
                        "and a GPU are available, else cpu)")
    p.add_argument("--split", choices=("none", "two-device"), default=None,
                   help="two-device: AlexNet's two towers as in the paper, each on its own device "
                        "(two CPU workers; two GPUs, or two streams of one GPU), exchanging activations "
                        "at conv3, fc6 and fc7 (minicnn/towers.py); none: one device, groups=2 (default: none)")
    p.add_argument("--lrn-groups", type=int, choices=(1, 2), default=None,
                   help="2: LRN normalises each tower's half of the maps on its own, as the two-GPU "
                        "original; the exact single-device twin of --split two-device (which implies it); "
                        "1: across all maps, as Caffe's AlexNet (default: 1, or 2 with --split two-device)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training over the ranks of an MPI job (mpirun -np N python "
                        "examples/train_alexnet.py --distributed ...): --batch-size is per rank, "
                        "gradients are averaged every step (over MPI on the CPU, NCCL on GPUs, one rank "
                        "per GPU; the all-reduces overlap the backward), rank 0 alone prints and writes "
                        "(needs Open MPI and pip install 'minicnn[mpi]')")
    p.add_argument("--hybrid", action="store_true",
                   help="with --distributed: Krizhevsky's 'one weird trick': the conv layers data-parallel, the "
                        "FC layers model-parallel (each rank holds 1/N of fc6-fc8 and computes it for every "
                        "rank's images; activations travel instead of the FC gradients, over MPI between host "
                        "arrays, also from GPUs) (minicnn/hybrid.py; the same training as plain --distributed)")
    p.add_argument("--no-fuse", action="store_true",
                   help="keep every layer on its own; by default on cuda and sim each ReLU after a conv or a "
                        "fully connected layer is fused into that layer and each LRN with the max-pool after "
                        "it (minicnn/fusion.py: identical results, fewer passes over memory); on cpu the "
                        "layers stay as in the paper's table")
    p.add_argument("--gemm", choices=gemm.GEMMS, default=None,
                   help="matrix products on cuda/sim: cublas (cuBLAS, a stack of products such as a grouped "
                        "conv's in one batched call; NumPy's BLAS under sim), cublas-looped (cuBLAS, a call per "
                        "product, the path before the batched call) or tiled (minicnn's own shared-memory GEMM, "
                        "kernels/gemm_tiled.cu) (default: cublas)")
    p.add_argument("--init", choices=tuple(models.INITS), default=None,
                   help="initial weights: paper (N(0, 0.01), unit biases in conv2, conv4, conv5, fc6, fc7), "
                        "he (N(0, 2/fan_in), zero biases), he-unit-biases (he's weights, the same draws, with "
                        "the paper's unit biases: what those do on their own; README, \"Weight decay and the "
                        "unit biases\") or default (PyTorch's uniform) (default: he for alexnet "
                        "and alexnet_small, default for alexnet_bn; "
                        "measured on an H100, the 2012 alexnet on 18,000 Fashion-MNIST images for 2 "
                        "epochs: he 86.6%%, default 74.3%%, paper 9.7%% (chance); alexnet_small after 5 epochs, "
                        "three seeds: he 90.3%%, he-unit-biases 87.2%%, 86.7%% and 10.0%% (the third died), "
                        "paper 10.0%% each: on normalised pixels the paper's weights pass too little of the "
                        "image on)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads for the GEMMs (OpenBLAS) and for the NumPy work between them "
                        "(minicnn/cpu_threads.py: im2col, col2im, LRN, max-pool, the SGD update). minicnn's "
                        "work gives the same results with any number; OpenBLAS may round a GEMM differently "
                        "with another number (or other kernels), so a run repeats to the last digit with the "
                        "same number on the same kernels: the run prints both (minicnn/environment.py). "
                        "More threads than cores take turns on them, many times slower, and the run says so "
                        "(default: MINICNN_CPU_THREADS, OMP_NUM_THREADS or "
                        "OPENBLAS_NUM_THREADS if set, else every core this process may use)")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed of initialisation, data order and augmentation (default: 0)")
    p.add_argument("--out", type=user_path, default=None,
                   help="output folder (default: one per data set, so that runs on different data never share a "
                        "checkpoint: runs/fashion, runs/cifar10, or runs/<name of the --data folder>); without "
                        "--resume, a run there before is replaced when this one's first epoch is saved, and kept "
                        "whole until then)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint.npz, with the settings it began with "
                        "(the network, the data set, its --data folder, --val-size and --limit, the optimiser, the "
                        "schedule, the seed, the epochs; "
                        "a flag left out takes the run's value, one given must equal it, except --epochs, "
                        "which may extend the run, its linear decay planned anew)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars: a line per download or image folder prepared, none per batch "
                        "(default: bars where the output is a terminal, none in a log file or pipe)")
    args = p.parse_args(argv)
    args.no_progress = without_bars(args.no_progress)   # no bars in a log either
    if args.data and os.path.isfile(args.data) and not args.data.lower().endswith(ARCHIVES):   # archives: unpack
        run = " (a run's checkpoint: --resume --out its folder continues it)" if args.data.endswith(".npz") else ""
        p.error(f"--data {args.data} is a file{run}; give the folder that holds the data: Fashion-MNIST's four "
                f"files, CIFAR-10's batches, or an image folder (DIR/<class>/*.jpg)")
    data_set = args.dataset or detected_dataset(args.data)
    if args.out is None:
        folder_name = os.path.basename(os.path.normpath(args.data)) if args.data else "folder"
        args.out = os.path.join("runs", {"fashion-mnist": "fashion", "folder": folder_name}.get(data_set, data_set))
    recorded, args.data_note = None, None
    if args.resume:   # before the data is loaded
        try:
            path = checkpoint_to_resume(args.out)
            config = checkpoint_config(path, "checkpoint")
            recorded = recorded_settings(config, path)
            args.data, args.data_note = data_to_resume(args.data, config, args.out)
        except (TrainingError, WeightsError) as exc:
            raise SystemExit(f"error: {exc}")
        data_set = args.dataset or recorded["dataset"] or detected_dataset(args.data)
        if data_set == "folder" and args.data is None:   # a run begun before the folder was recorded
            p.error(f"--data is required: the image folder the run in {args.out} began on")
    for flag, value in (("--val-size", args.val_size), ("--limit", args.limit)):
        if data_set == "folder" and value is not None:
            p.error(f"{flag} applies to Fashion-MNIST and CIFAR-10; an image folder's validation images are a "
                    f"tenth of each class of its training images, and all of them are used: drop {flag}")
    try:
        settings(args, dict(DEFAULTS, dataset=data_set), recorded, free=("epochs",),
                 run=f"the run in {args.out}")
    except SettingsError as exc:
        hint = ("; examples/convert_checkpoint.py converts a checkpoint between one device and the split, into "
                "another --out") if "--split " in str(exc) else ""
        raise SystemExit(f"error: {exc}{hint}")
    if args.schedule == "plateau" and args.val_size == 0 and args.dataset != "folder":   # before loading data
        p.error("--schedule plateau divides the learning rate when the validation accuracy stops improving, and "
                "--val-size 0 holds out no images to validate on: hold some out, or choose another --schedule")
    args.holdout = recorded["holdout"] if recorded else holdout_of(None)   # an image folder's splits
    return args


# What a flag left out means when a run begins (a resumed run takes its own values first). None: set
# in main, where it depends on the device (the network, the epochs) or on the network (the learning
# rate, the initialisation, LRN's groups).
DEFAULTS = dict(model=None, width=None, dropout=None, activation=None, no_lrn=None, lrn_alpha=None, pool_size=None,
                pad_pools=None, connectivity=None, leave_out=None, lrn_groups=None, init=None, split="none", epochs=None,
                batch_size=64, lr=None, momentum=0.9, weight_decay=5e-4, schedule="linear", step_every=None, augment=False, val_size=5000,
                limit=0, seed=0)


def detected_dataset(data):
    """The --dataset of a command line that gives none: cifar10 when --data holds CIFAR-10's
    batches (or the folder its archive unpacks into), fashion-mnist when it holds its files (or
    torchvision's FashionMNIST/raw), folder when it holds class folders (or train/ and val/, or
    pictures), else fashion-mnist; for an archive not unpacked (CIFAR-10's, or
    another, taken for pictures), the data set whose error message says to unpack it."""
    from minicnn.data import fashion_mnist
    from minicnn.data.image_folder import class_folders, image_files
    if data and any(os.path.isfile(os.path.join(data, d, "data_batch_1")) for d in ("", "cifar-10-batches-py")):
        return "cifar10"
    if data and os.path.isdir(data):   # its files, or torchvision's root (FashionMNIST/ is no class folder)
        try:
            fashion_mnist.find_folder(data)
            return "fashion-mnist"
        except DataError:
            pass
    if data and os.path.isfile(data) and data.lower().endswith(ARCHIVES):   # each says to unpack it first
        return "cifar10" if os.path.basename(data).lower().startswith("cifar-10") else "folder"
    pictures = bool(data) and os.path.isdir(data) and bool(class_folders(data) or image_files(data))
    return "folder" if pictures else "fashion-mnist"


def recorded_settings(config, path):
    """The settings (flag dests) of the run whose checkpoint is ``path``, as its configuration
    ``config`` records them (None: not recorded, as the data set, --val-size and --limit by older
    checkpoints)."""
    check_run_of("train_alexnet.py", config, path)
    architecture = config.get("architecture") or {}
    recorded = {k: config.get(k) for k in ("dataset", "split", "epochs", "batch_size", "lr", "momentum",
                                           "weight_decay", "schedule", "augment", "val_size", "limit", "seed")}
    model = recorded["model"] = config.get("model_name")
    # a split network normalises each tower's maps alone (LRN groups 2), also one converted from a
    # single-device run's checkpoint (examples/convert_checkpoint.py), whose record says 1
    lrn_groups = 2 if recorded["split"] == "two-device" else architecture.get(
        "lrn_groups", 1 if model in ("alexnet", "alexnet_small") else None)
    recorded.update(width=architecture.get("width"), dropout=architecture.get("dropout"), init=architecture.get("init"),
                    activation=architecture.get("activation", "relu" if model == "alexnet_small" else None),
                    no_lrn=not architecture.get("lrn", True) if model == "alexnet_small" else None,
                    pool_size=architecture.get("pool_size", 3 if model == "alexnet_small" else None),
                    lrn_alpha=architecture.get("lrn_alpha", 1e-4 if model == "alexnet_small" else None),
                    pad_pools=architecture.get("pad_pools", False) if model == "alexnet_small" else None,
                    connectivity=architecture.get("connectivity", "towers" if model == "alexnet_small" else None),
                    # "none": every conv kept, told from None, not recorded (a --leave-out given must equal it)
                    leave_out=(architecture.get("leave_out") or "none") if model == "alexnet_small" else None,
                    lrn_groups=lrn_groups,
                    step_every=config.get("step_every") if config.get("schedule") == "step" else None,
                    holdout=holdout_of(config))   # no flag: an image folder's splits as the run began
    return recorded


def prepare_folder(root, bar=True, holdout="stratified"):
    """The --dataset folder data, prepared once into the cache (with a progress bar, or a line),
    split as ``holdout`` says (``image_folder.split_pair``)."""
    from minicnn.data import image_folder
    if root is None:
        raise SystemExit("error: --dataset folder needs --data DIR (DIR/train/<class>/*.jpg ...)")
    try:
        return image_folder.load_splits(root, progress=preparation_progress(bar), holdout=holdout)
    except DataError as exc:
        raise SystemExit(f"error: {exc}")


def network_name(args, device):
    """The network to train, checked against the flags that only some networks take."""
    name = args.model or ("alexnet" if device == "cuda" else "alexnet_small")
    if args.dataset == "folder":
        if args.model is None:
            name = "alexnet"
        if name == "alexnet_small":
            raise SystemExit("error: --dataset folder trains 224/227 px crops: use --model alexnet or alexnet_owt")
    for flag, value, what, theirs in (
            ("--width", args.width, "width", "sizes are the paper's"),
            ("--dropout", args.dropout, "dropout", "sizes are the paper's"),
            ("--activation", args.activation, "activation", "units are the paper's ReLUs"),
            ("--no-lrn", args.no_lrn, "LRN", "layers are the paper's"),
            ("--lrn-alpha", args.lrn_alpha, "LRN", "layers are the paper's"),
            ("--pool-size", args.pool_size, "pooling", "pools are the paper's, 3x3 with stride 2"),
            ("--pad-pools", args.pad_pools, "pooling", "pools are the paper's, 3x3 with stride 2"),
            ("--connectivity", args.connectivity, "connectivity", "convs are the paper's two towers"),
            ("--leave-out", args.leave_out, "convs", "convs are the paper's five")):
        if value is not None and name != "alexnet_small":   # the 2012 networks are the paper's
            other = "" if args.dataset == "folder" else " or add --model alexnet_small"
            raise SystemExit(f"error: {flag} sets alexnet_small's {what}; the network trained here is {name}, "
                             f"whose {theirs}: drop {flag}{other}")
    if args.pad_pools and args.pool_size == 2:
        raise SystemExit("error: --pad-pools gives 3x3 pools the maps of 2x2 ones; with --pool-size 2 there is "
                         "nothing to pad: drop one of them")
    if args.no_lrn and args.lrn_alpha is not None and args.lrn_alpha != 1e-4:
        raise SystemExit(f"error: --lrn-alpha {args.lrn_alpha:g} sets the alpha of the LRN layers that --no-lrn leaves "
                         f"out: drop one of them")
    if args.step_every is not None and args.schedule != "step":
        raise SystemExit(f"error: --step-every is the period of --schedule step; the schedule is {args.schedule}: "
                         f"add --schedule step or drop --step-every")
    return name


def load_data(args, dataset, comm):
    """{train, val, test: (images, labels)} of the data set, the held-out share as --val-size and
    --limit say (an image folder: its own splits)."""
    if args.dataset == "folder":
        return {k: dataset[k] for k in ("train", "val", "test")}
    try:
        # fetched when missing (one rank downloads), unless --data names a folder
        train_x, train_y = first_on_rank_0(comm, lambda: dataset["load"](
            "train", args.data, download_missing=True, progress=download_progress(not args.no_progress)))
        test_x, test_y = dataset["load"]("test", args.data)
    except DataError as exc:
        raise SystemExit(f"error: {exc}")
    try:
        return run_splits((train_x, train_y), (test_x, test_y), args.val_size, args.limit)
    except ValueError as exc:   # every training image held out
        raise SystemExit(f"error: {exc}")


def architecture_of(args, name, dataset, input_size):
    """``models.build``'s arguments for the network: what the checkpoint records, and what
    predict.py and --resume rebuild it from."""
    extra = dict(width=args.width or 24, input_size=input_size,
                 dropout=0.25 if args.dropout is None else args.dropout,
                 activation=args.activation or "relu", lrn=not args.no_lrn,
                 lrn_alpha=1e-4 if args.lrn_alpha is None else args.lrn_alpha,
                 pool_size=args.pool_size or 3, pad_pools=bool(args.pad_pools),
                 connectivity=args.connectivity or "towers",
                 leave_out=None if args.leave_out in (None, "none") else args.leave_out) if name == "alexnet_small" else {}
    if args.split == "two-device" and args.lrn_groups == 1:
        raise SystemExit("error: --split two-device normalises each tower on its own device: --lrn-groups must be 2")
    lrn_groups = args.lrn_groups or (2 if args.split == "two-device" else 1)
    if (lrn_groups == 2 or args.split == "two-device") and extra.get("connectivity", "towers") != "towers":
        flag = "--split two-device" if args.split == "two-device" else "--lrn-groups 2"
        raise SystemExit(f"error: {flag} needs the two towers, and --connectivity {args.connectivity} has none: "
                         f"drop one of them")
    if lrn_groups == 2 or args.split == "two-device":
        if name not in towers.SPLIT_MODELS:
            raise SystemExit(f"error: --split two-device and --lrn-groups 2 need --model "
                             f"{' or '.join(towers.SPLIT_MODELS)}, not {name}")
        extra["lrn_groups"] = lrn_groups
    init = args.init or ("he" if name == "alexnet" else None)   # the paper's start learns too slowly here
    if init and name == "alexnet_owt":
        raise SystemExit("error: --init: alexnet_owt keeps torchvision's initialisation")
    if init:
        extra["init"] = init
    return dict(name=name, num_classes=len(dataset["classes"]), in_channels=dataset["channels"], **extra)


def network(args, architecture, device, comm):
    """The network built from ``architecture``, fused on the kernel devices, split or spread over
    the ranks as the flags say, on ``device``."""
    model = models.build(**architecture, seed=args.seed)
    # Not on the CPU: there fusion saves no pass worth having (the ReLU's maximum moves into the
    # conv's pass to NCHW, its mask stays a pass of its own): with conv+ReLU fused, training steps
    # timed in turns against the layers apart ran at 0.98x their speed on the 2012 AlexNet at batch
    # 32 and 1.01x on the small one at batch 64 (2 cores, 2026-12-04), the same values bit for bit
    if device in KERNEL_DEVICES and not args.no_fuse:
        fuse(model)
    if args.split == "two-device":
        model = towers.two_tower(model)
    if args.hybrid:
        try:
            model = HybridNet(model, comm)   # every rank: rank 0's parameters, then its slices of the FC layers
        except HybridError as exc:
            raise SystemExit(f"error: --hybrid: {exc}")
    return model.to(device)


def main(argv=None):
    args = parse_args(argv)
    plain_warnings()
    comm = None
    if args.distributed:
        from minicnn.distributed import Communicator, DistributedError
        try:
            comm = Communicator.world()
        except DistributedError as exc:
            raise SystemExit(f"error: {exc}")
    root = comm is None or comm.is_root
    say = print if root else (lambda *a, **k: None)
    if args.data_note:   # a resumed run on another --data than it began on
        say(args.data_note, file=sys.stderr)
    try:
        device = check_device(args.device) if args.device else ("cuda" if cuda_available() else "cpu")
    except RuntimeError as exc:
        raise SystemExit(f"error: {exc}")
    if args.hybrid and (comm is None or args.split != "none"):
        raise SystemExit("error: --hybrid needs --distributed and no --split (it cuts the FC layers over the "
                         "ranks instead)")
    if comm is not None and device == "cuda":
        if args.split == "two-device":
            raise SystemExit("error: --distributed on GPUs runs one rank per GPU; --split two-device would need "
                             "two GPUs per rank, which is not supported: drop one of the two")
        comm.use_local_gpu()   # rank i of a machine on its GPU i; gradients all-reduced with NCCL
    if args.gemm is not None and device not in KERNEL_DEVICES:
        raise SystemExit(f"error: --gemm chooses the matrix products of the kernel devices (cuda, sim); on {device} "
                         f"NumPy's BLAS does them: drop --gemm or add --device sim")
    gemm.set_gemm(args.gemm or "cublas")
    try:   # before minutes of loading data
        writable_folder(args.out)
        if root:
            claim_folder(args.out)   # held until the process ends: a second run into it is refused
    except TrainingError as exc:
        raise SystemExit(f"error: {exc}")
    if args.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads, user_api="blas")
        cpu_threads.set_threads(args.threads)
    name = network_name(args, device)
    epochs = args.epochs or (5 if device == "cpu" else 10)
    if args.dataset == "folder":
        # One rank builds the cache; the others wait for it, then read it.
        dataset = first_on_rank_0(comm, lambda: prepare_folder(args.data, not args.no_progress, args.holdout))
    else:
        dataset = DATASETS[args.dataset]
    input_size = dataset["size"] if name == "alexnet_small" else models.MODELS[name][1]
    data = load_data(args, dataset, comm)
    architecture = architecture_of(args, name, dataset, input_size)
    model = network(args, architecture, device, comm)   # on the device before the summary, which says where
    say(summary(model, (1, dataset["channels"], input_size, input_size)))
    cfg = dict(model_name=name, epochs=epochs, batch_size=args.batch_size,
               lr=args.lr or (0.03 if name == "alexnet_small" else 0.01), momentum=args.momentum,
               weight_decay=args.weight_decay, schedule=args.schedule,
               step_every=args.step_every or max(1, epochs - 1), input_size=input_size,
               augment=args.augment, augment_pad=2, mean=dataset["mean"], std=dataset["std"],
               seed=args.seed, device=device, out=args.out, resume=args.resume, split=args.split,
               architecture=architecture, classes=list(dataset["classes"]), image_size=dataset["size"],
               # the script and the images it uses, for --resume (recorded_settings)
               script="train_alexnet.py", dataset=args.dataset, val_size=args.val_size, limit=args.limit,
               data=os.path.abspath(args.data) if args.data else None)
    if args.dataset == "folder":
        cfg.update(crop=input_size, pca=[a.tolist() for a in dataset["pca"]], ten_crop=True, holdout=args.holdout)
    ranks = f" x {counted(comm.size, 'rank')}" if comm else ""
    say(f"training {name} on {device}{ranks}, {args.dataset}: {len(data['train'][1])} train / "
        f"{len(data['val'][1])} val / {len(data['test'][1])} test images, {epochs} epoch{'s' if epochs != 1 else ''}, "
        f"batch {args.batch_size}{f' per rank ({args.batch_size * comm.size} in all)' if comm else ''}, "
        f"lr {cfg['lr']}")
    with ctrl_c_says_how_to_resume(args.out, args.resume, say, ranks=comm.size if comm else 1):
        try:
            fit(model, data, cfg, progress=None if args.no_progress else batch_progress(), comm=comm)
        except (TrainingError, CheckpointError) as exc:
            hint = ("; convert the checkpoint with examples/convert_checkpoint.py" if "split=" in str(exc) else "")
            raise SystemExit(f"error: {exc}{hint}" if root else 1)   # every rank stops; rank 0 says why
    say(f"results written to {os.path.abspath(args.out)}; classify pictures with the trained network:\n"
        f"    python examples/predict.py PICTURE.png --weights {os.path.join(args.out, 'checkpoint.npz')}")


def first_on_rank_0(comm, work):
    """Run ``work`` on rank 0 first (a download or a cache build), then on the other ranks."""
    if comm is None:
        return work()
    result = work() if comm.is_root else None
    comm.barrier()
    return result if comm.is_root else work()


if __name__ == "__main__":
    run_script(main)
