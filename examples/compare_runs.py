#!/usr/bin/env python3
"""Several training runs side by side: each run's training error per epoch in one figure, and a
table of how fast each got there and what it reached; with --threshold, the epoch at which each
run's training error first fell to it. The paper's Figure 1 is such a figure: a network of ReLUs
reaches 25% training error on CIFAR-10 six times faster than the same network of tanh units.

    python examples/train_alexnet.py --activation relu --out runs/relu --dropout 0 --weight-decay 0 --epochs 10
    python examples/train_alexnet.py --activation tanh --out runs/tanh --dropout 0 --weight-decay 0 --epochs 10
    python examples/compare_runs.py runs/relu runs/tanh --labels ReLU,tanh --threshold 0.05 --out figure1.png

A run is a folder that examples/train_alexnet.py or finetune.py wrote (--out): its metrics.jsonl
gives the epochs, its test_metrics.json (once the run has ended) the test accuracy. The training
error of an epoch is that of its own batches as they were trained on (1 - the top-1 accuracy of
the epoch's line), with dropout and augmentation where the run had them. --curve validation-loss
draws each run's validation loss instead, its lowest marked: where it turns up while the training
error still falls, the network has begun to fit its training images at the cost of others.

Runs given the same label are repeats of one setting (other --seed values): they make one row and
one line, their means, with the lowest and highest of their validation and test accuracies in the
table and the range of their training errors shaded in the figure; a difference between settings
that is smaller than these ranges is not one the runs can tell from another start. --repeats N
takes each N runs in turn as the repeats of one setting, and --labels then names the settings:

    python examples/compare_runs.py runs/lrn-0 runs/lrn-1 runs/plain-0 runs/plain-1 --labels LRN,LRN,plain,plain
    python examples/compare_runs.py runs/lrn-{0,1,2} runs/plain-{0,1,2} --repeats 3 --labels LRN,plain
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn.arguments import plain_warnings, positive_int, run_script, unwritable_file, user_path  # noqa: E402
from minicnn.train import epoch_records  # noqa: E402


def error_rate(text):
    """A training error rate in (0, 1), for --threshold."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected an error rate between 0 and 1 (0.25 for 25%), got {text!r}")
    return value


def parse_arguments(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=user_path, nargs="+", metavar="RUN",
                   help="the folders of the runs (a training run's --out), in the order of the figure's lines: the "
                        "first solid, the next dashed, dotted, ...")
    p.add_argument("--labels", default=None,
                   help="the runs' names in the figure and the table, separated by commas, one per run; runs "
                        "of the same name are repeats of one setting, shown as their mean and range (default: "
                        "the folders' names)")
    p.add_argument("--repeats", type=positive_int, default=1, metavar="N",
                   help="each N runs in turn are repeats of one setting (other seeds), named by one label of "
                        "--labels (default: 1, each run a setting of its own, unless labels repeat)")
    p.add_argument("--threshold", type=error_rate, default=None,
                   help="a training error rate (0.25 for the paper's 25%%): drawn across the figure, and the table "
                        "gives the first epoch at which each run reached it, and the later runs' epochs as a "
                        "multiple of the first's")
    p.add_argument("--out", type=user_path, default=None, metavar="FILE",
                   help="the figure as a PNG (default: none, the table alone)")
    p.add_argument("--curve", default="training-error", choices=("training-error", "validation-loss"),
                   help="what the figure draws per epoch: training-error, the paper's Figure 1, or validation-loss, "
                        "each setting's lowest marked, which shows where a network begins to overfit (a loss that "
                        "turns up while the training error still falls); the table is the same either way "
                        "(default: training-error)")
    args = p.parse_args(argv)
    plain_warnings()
    if len(args.runs) % args.repeats:
        p.error(f"--repeats {args.repeats} takes the runs {args.repeats} at a time, and {len(args.runs)} are given: "
                f"give {args.repeats} runs of each setting")
    folders = [os.path.basename(os.path.normpath(run)) for run in args.runs[::args.repeats]]
    labels = [label.strip() for label in args.labels.split(",")] if args.labels else folders
    if len(labels) != len(folders):
        what, given = ("runs", "") if args.repeats == 1 else \
            ("settings", f" ({len(args.runs)} runs, {args.repeats} a setting)")
        p.error(f"--labels names {len(labels)} {what} ({', '.join(labels)}), and {len(folders)} are given{given}: "
                f"give one name per {what[:-1]}")
    args.labels = [label for label in labels for _ in range(args.repeats)]
    if args.curve == "validation-loss" and args.threshold is not None:
        p.error("--threshold is a training error rate, drawn on the training-error figure; the figure asked for "
                "is --curve validation-loss: drop one of them")
    if args.out:
        problem = unwritable_file(args.out)
        if problem:
            raise SystemExit(f"error: --out {args.out}: {problem}")
    return args


def run_records(run):
    """The epoch records of the run in folder ``run`` (metrics.jsonl), or exit saying what is wrong."""
    if not os.path.isdir(run):
        raise SystemExit(f"error: {run}: no such folder")
    metrics = os.path.join(run, "metrics.jsonl")
    if not os.path.isfile(metrics):
        raise SystemExit(f"error: {run} holds no metrics.jsonl: name the folder a training run wrote (its --out)")
    try:
        records = epoch_records(metrics)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"error: {metrics}: unreadable ({exc})")
    if not records or any("train_top1" not in r or "epoch" not in r for r in records):
        raise SystemExit(f"error: {metrics}: no epoch records with a training accuracy in it")
    return records


def test_accuracy(run):
    """The run's test top-1 accuracy (test_metrics.json), or None where the run has not ended."""
    try:
        with open(os.path.join(run, "test_metrics.json")) as f:
            return json.load(f)["top1"]
    except (OSError, ValueError, KeyError):
        return None


def first_epoch_at(records, threshold):
    """The first epoch whose training error is at most ``threshold``, or None."""
    return next((r["epoch"] for r in records if 1 - r["train_top1"] <= threshold), None)


def settings(labels, runs, tests):
    """The runs grouped by label, in the order the labels first appear: [(label, [each run's
    records], [each run's test accuracy])]; runs of one label are repeats of one setting."""
    groups = {}
    for label, records, test in zip(labels, runs, tests):
        repeats = groups.setdefault(label, ([], []))
        repeats[0].append(records)
        repeats[1].append(test)
    return [(label, repeats, test) for label, (repeats, test) in groups.items()]


def mean_records(repeats):
    """The epoch records of the repeats' means: each epoch's training (and, where every repeat has
    it, validation) top-1 averaged over the repeats, which ran the same epochs."""
    means = []
    for records in zip(*repeats):
        mean = dict(epoch=records[0]["epoch"], train_top1=sum(r["train_top1"] for r in records) / len(records))
        if all("val_top1" in r for r in records):
            mean["val_top1"] = sum(r["val_top1"] for r in records) / len(records)
        means.append(mean)
    return means


def spread(values):
    """A figure of one run, or the mean of several repeats' and their lowest and highest."""
    mean = f"{sum(values) / len(values):.4f}"
    return mean if len(values) == 1 else f"{mean} ({min(values):.4f}-{max(values):.4f})"


def table(labels, runs, tests, threshold):
    """The comparison as Markdown rows, one per setting (runs of one label are repeats, shown as
    their mean, with the range of the accuracies): the epochs, the training error after the first
    and the last, the last validation accuracy, the test accuracy, and with ``threshold`` the
    first epoch at which the (mean) training error reached it."""
    groups = settings(labels, runs, tests)
    repeated = any(len(repeats) > 1 for _, repeats, _ in groups)
    header = ["run"] + (["runs"] if repeated else []) + ["epochs", "training error, epoch 1",
                                                         "training error, last epoch", "val. acc.", "test acc."]
    if threshold is not None:
        header.append(f"epochs to {100 * threshold:g}% training error")
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    first = first_epoch_at(mean_records(groups[0][1]), threshold) if threshold is not None else None
    for i, (label, repeats, test) in enumerate(groups):
        records = mean_records(repeats)
        last = [r[-1] for r in repeats]
        cells = [label] + ([str(len(repeats))] if repeated else []) + [
            str(records[-1]["epoch"]), f"{1 - records[0]['train_top1']:.4f}", f"{1 - records[-1]['train_top1']:.4f}",
            spread([r["val_top1"] for r in last]) if all("val_top1" in r for r in last) else "-",
            "-" if None in test else spread(test)]
        if threshold is not None:
            reached = first_epoch_at(records, threshold)
            cells.append(f"not in {records[-1]['epoch']}" if reached is None else
                         f"{reached}" + (f" ({reached / first:.1f}x)" if first and i else ""))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv=None):
    args = parse_arguments(argv)
    runs = [run_records(run) for run in args.runs]
    tests = [test_accuracy(run) for run in args.runs]
    groups = settings(args.labels, runs, tests)
    for label, repeats, _ in groups:
        epochs = sorted({records[-1]["epoch"] for records in repeats})
        if len(epochs) > 1 or any(len(records) != len(repeats[0]) for records in repeats):
            folders = [run for run, name in zip(args.runs, args.labels) if name == label]
            raise SystemExit(f"error: the runs named {label} ({', '.join(folders)}) are repeats of one setting and "
                             f"ran {' and '.join(map(str, epochs))} epochs: compare repeats of as many epochs, or "
                             f"name the runs apart (--labels)")
    if args.curve == "validation-loss":
        unvalidated = [run for run, records in zip(args.runs, runs) if any("val_loss" not in r for r in records)]
        if unvalidated:
            raise SystemExit(f"error: --curve validation-loss: {', '.join(unvalidated)} held out no validation "
                             f"images and recorded no validation loss: draw --curve training-error (the default)")
    print(table(args.labels, runs, tests, args.threshold))
    if args.out:
        from minicnn.plots import save_training_errors, save_validation_losses
        figure = [(label, repeats) for label, repeats, _ in groups]
        try:
            if args.curve == "validation-loss":
                save_validation_losses(figure, args.out)
            else:
                save_training_errors(figure, args.out, args.threshold)
        except OSError as exc:
            raise SystemExit(f"error: cannot write {args.out} ({exc.strerror or exc})")
        print(f"written: {args.out}")


if __name__ == "__main__":
    run_script(main)
