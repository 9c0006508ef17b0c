#!/usr/bin/env python3
"""Convert a training checkpoint between the single-device AlexNet (groups=2, LRN per tower) and
the two-device split of ``--split two-device``, in whichever direction the input needs.

    python examples/convert_checkpoint.py runs/split/checkpoint.npz runs/single/checkpoint.npz

Every tower parameter (and its SGD velocity) is one half, along the first axis, of the
single-device parameter: conversion concatenates or splits the halves. The output is written
atomically, with its .json sidecar. Resume a converted split checkpoint on one device with
``--split none --lrn-groups 2`` (the split network's exact single-device twin), or a converted
single-device checkpoint with ``--split two-device``. A single-device run with ``--lrn-groups 1``
(the default) normalised across all the maps of a layer, where each tower normalises its own half:
its split computes otherwise until it trains on, and the script says so. A target named
checkpoint.npz is a run's folder to resume: the source run's metrics.jsonl (its epochs' records,
which the resumed run's curves.png goes on from) is copied beside it.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minicnn.arguments import plain_warnings, run_script, user_path  # noqa: E402
from minicnn.checkpoint import CheckpointError, atomic_write  # noqa: E402
from minicnn.towers import SplitError, convert_checkpoint  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=user_path, help="checkpoint to read (.npz written by train_alexnet.py)")
    p.add_argument("target", type=user_path, help="checkpoint to write (its folder is created if needed)")
    args = p.parse_args(argv)
    plain_warnings()
    if os.path.abspath(args.source) == os.path.abspath(args.target):
        raise SystemExit("error: source and target are the same file; write the conversion elsewhere")
    try:
        layout = convert_checkpoint(args.source, args.target)
    except (CheckpointError, SplitError) as exc:
        raise SystemExit(f"error: {exc}")
    except OSError as exc:   # the target's folder cannot be made or written
        other_file = exc.filename and os.path.abspath(exc.filename) != os.path.abspath(args.target)
        where = f": {exc.filename}" if other_file else ""
        raise SystemExit(f"error: cannot write {args.target} ({exc.strerror or exc}{where})")
    print(f"wrote {args.target} ({'two-device split' if layout == 'split' else 'single device'})")
    history, copy = (os.path.join(os.path.dirname(path), "metrics.jsonl") for path in (args.source, args.target))
    if os.path.basename(args.target) == "checkpoint.npz" and os.path.isfile(history):
        try:
            with open(history, "rb") as f:
                records = f.read()
            atomic_write(copy, lambda f: f.write(records))
        except OSError as exc:
            raise SystemExit(f"error: cannot copy {history} to {copy} ({exc.strerror or exc}); the checkpoint is "
                             f"written, and a run resumed from it keeps the records of the epochs it trains")
        print(f"copied {history} beside it (the run's epochs so far, for its curves)")


if __name__ == "__main__":
    run_script(main)
