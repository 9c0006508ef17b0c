"""Whether AlexNet's two towers learn different conv1 filters: the paper's Figure 3.

The paper drew the 96 conv1 filters its network learned, the 48 of each GPU's tower, and found
them split by kind: "The kernels on GPU 1 are largely color-agnostic, while the kernels on GPU 2
are largely color-specific. This kind of specialization occurs during every run and is
independent of any particular random weight initialization." The towers meet only at conv3, so
each tower's conv2 reads its own half of conv1's maps: filters 0 to O/2 - 1 are tower 0's, the
rest tower 1's (the grouped single-device network's order, which the split keeps).

Two figures of each filter (O, C, kh, kw), both for the picture Figure 3 shows:

- ``colour_shares``: the share of its energy (sum of squares) that is not in its mean over the
  input channels: 0 for a filter that weighs every channel alike (it sees brightness: colour-
  agnostic), up to 1 - 1/C for one whose channels differ; 0 on grey images, which have one channel.
- ``spatial_frequencies``: the mean spatial frequency of its power spectrum, in cycles per pixel
  (the discrete Fourier transform of its kh x kw window, the channels' power summed; each
  frequency weighted by its power): 0 for a flat filter, about 0.375 for white noise in 5 x 5;
  Figure 3's colour blobs are low, its edges and gratings high.

``halvings_test`` says whether the towers differ in a figure more than chance makes two halves of
the same filters differ: the difference between the two towers' means, against that of random
halvings of the filters (a permutation test); ``pooled_halvings_test`` does so over several
runs at once. A network of one tower (``alexnet_small``'s connectivity "one-tower") has halves
that mean nothing: the test's control; so are the filters a run started from (``start_conv1``):
what the towers differ by there, chance made.

    python -m minicnn.tower_filters runs/default-0/checkpoint.npz runs/one-tower-0/checkpoint.npz
    python -m minicnn.tower_filters runs/{default,one-tower}-{0,1,2}/checkpoint.npz   # and pooled
"""
import numpy as np

from minicnn.backend import to_numpy
from minicnn.weights import build_recorded


def colour_shares(weight):
    """(O,) each filter's share of its sum of squares not in its mean over the input channels:
    ``sum((w - mean_c w) ** 2) / sum(w ** 2)``; ``weight`` (O, C, kh, kw)."""
    w = _filters(weight)
    grey = w.mean(axis=1, keepdims=True)
    return np.square(w - grey).sum(axis=(1, 2, 3)) / np.square(w).sum(axis=(1, 2, 3))


def spatial_frequencies(weight):
    """(O,) each filter's mean spatial frequency in cycles per pixel, ``sum(|f| P(f)) / sum(P(f))``
    over the frequencies f of its kh x kw window's discrete Fourier transform, P the power summed
    over the input channels; ``weight`` (O, C, kh, kw)."""
    w = _filters(weight)
    power = np.square(np.abs(np.fft.fft2(w))).sum(axis=1)   # (O, kh, kw)
    fy, fx = np.fft.fftfreq(w.shape[2]), np.fft.fftfreq(w.shape[3])
    radius = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    return (power * radius).sum(axis=(1, 2)) / power.sum(axis=(1, 2))


def start_cosines(weight, start):
    """(O,) each filter's cosine with the filter it started from (both (O, C, kh, kw)): 1 for a
    filter that training left as it was, or only scaled; about 0 for one it replaced."""
    w, w0 = (_filters(a).reshape(len(a), -1) for a in (weight, start))
    if w.shape != w0.shape:
        raise ValueError(f"start_cosines: the filters {weight.shape} and their start {start.shape} differ in shape")
    return (w * w0).sum(axis=1) / (np.linalg.norm(w, axis=1) * np.linalg.norm(w0, axis=1))


def halvings_test(values, draws=10000, seed=0):
    """``(difference, p)``: how much the first half of ``values`` (tower 0's filters) and the
    second (tower 1's) differ in their means, and the share p of ``draws`` random halvings of the
    same values that differ at least as much (counting the towers' own, so that p > 0): a small p
    says the towers differ more than chance would make them."""
    return pooled_halvings_test([values], draws, seed, name="halvings_test")


def pooled_halvings_test(runs, draws=10000, seed=0, name="pooled_halvings_test"):
    """``(difference, p)`` over several runs at once: the towers' differences (``halvings_test``'s)
    summed over ``runs`` (a list of each run's values), against the sums of ``draws`` draws that
    halve every run's filters at random, each run on its own. A run's towers are told apart by
    how much they differ, not by which is which, so a split that is tower 0's in one run and
    tower 1's in the next adds up: the paper's "during every run", tested on all of them together.
    One run gives ``halvings_test``'s figures, draw for draw."""
    if not len(runs):
        raise ValueError(f"{name}: expected the values of one run or more, got none")
    rng = np.random.default_rng(seed)
    difference, differences = 0.0, np.zeros(draws)
    for values in runs:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1 or len(values) < 2 or len(values) % 2:
            raise ValueError(f"{name}: expected an even number (>= 2) of values, a filter's each, got shape "
                             f"{values.shape}")
        half = len(values) // 2
        difference += abs(values[:half].mean() - values[half:].mean())
        drawn = values[np.argsort(rng.random((draws, len(values))), axis=1)]
        differences += np.abs(drawn[:, :half].mean(axis=1) - drawn[:, half:].mean(axis=1))
    at_least = np.count_nonzero(differences >= difference * (1 - 1e-9))   # a halving equal to the towers' counts
    return float(difference), float((1 + at_least) / (1 + draws))


def conv1_weight(model):
    """conv1's filters (O, C, kh, kw) as a NumPy array, in the grouped network's order: a
    Sequential's ``conv1``, or the two towers' (``minicnn.towers``) concatenated."""
    state = model.state_dict()
    if "conv1.weight" in state:
        return to_numpy(state["conv1.weight"])
    towers = sorted(k for k in state if k.endswith(".conv1.weight") and k.startswith("tower"))
    if not towers:
        raise ValueError("conv1_weight: the network has no layer named conv1 (nor towers holding one)")
    return np.concatenate([to_numpy(state[k]) for k in towers])


def rows(weight, draws=10000, seed=0):
    """[(figure, tower 0's mean, tower 1's mean, difference, p)] for each figure of ``weight``'s
    filters (O, C, kh, kw): spatial frequency, and colour share where there is colour (C > 1)."""
    figures = [("spatial frequency", spatial_frequencies(weight))]
    if weight.shape[1] > 1:
        figures.append(("colour share", colour_shares(weight)))
    half = weight.shape[0] // 2
    return [(name, float(v[:half].mean()), float(v[half:].mean()), *halvings_test(v, draws, seed))
            for name, v in figures]


def report(weight, draws=10000, seed=0, start=None):
    """The table of ``rows``, as the command line prints it; with ``start``, the filters the run
    started from (``start_conv1``), each figure's row at the start beneath it, and a row of each
    filter's cosine with its start (``start_cosines``)."""
    lines = [f"{'':18} {'tower 0':>8} {'tower 1':>8} {'difference':>10}  p ({draws} random halvings)"]
    started = rows(start, draws, seed) if start is not None else None
    for i, (name, first, second, difference, p) in enumerate(rows(weight, draws, seed)):
        lines.append(f"{name:18} {first:8.4f} {second:8.4f} {difference:10.4f}  {p:.4f}")
        if started:
            lines.append("{:18} {:8.4f} {:8.4f} {:10.4f}  {:.4f}".format("  at the start", *started[i][1:]))
    if start is not None:   # how far training has moved the filters from their random start
        cosines = start_cosines(weight, start)
        half = len(cosines) // 2
        lines.append("{:18} {:8.4f} {:8.4f} {:10.4f}  {:.4f}".format(
            "cosine to start", cosines[:half].mean(), cosines[half:].mean(), *halvings_test(cosines, draws, seed)))
    if weight.shape[1] == 1:
        lines.append("(one input channel: no colour to share)")
    return "\n".join(lines)


def pooled_report(weights, label, draws=10000, seed=0, starts=None):
    """One line per figure of ``pooled_halvings_test`` over several runs' conv1 filters
    (``weights``, each (O, C, kh, kw)), and over the filters they started from where ``starts``
    gives them all; colour share only where every run has colour."""
    figures = [("spatial frequency", spatial_frequencies)]
    if all(w.shape[1] > 1 for w in weights):
        figures.append(("colour share", colour_shares))
    lines = []
    for name, figure in figures:
        difference, p = pooled_halvings_test([figure(w) for w in weights], draws, seed)
        line = f"{label}, pooled: {name}: the towers' differences sum to {difference:.4f}, p = {p:.4f}"
        if starts is not None and all(w is not None for w in starts):
            line += "; at the start {:.4f}, p = {:.4f}".format(
                *pooled_halvings_test([figure(w) for w in starts], draws, seed))
        lines.append(f"{line} ({draws} random halvings of every run)")
    return "\n".join(lines)


def start_conv1(config, path):
    """conv1's filters (O, C, kh, kw) of the network a run of ``examples/train_alexnet.py``
    started from, built again from the architecture and seed its checkpoint (at ``path``, whose
    configuration is ``config``) records, as the script built it; None for a run that started
    from other weights (``examples/finetune.py``'s) or that records no seed."""
    if config.get("script") != "train_alexnet.py" or config.get("seed") is None:
        return None
    return conv1_weight(build_recorded(dict(config["architecture"], seed=config["seed"]), path))


def _filters(weight):
    w = to_numpy(weight).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"expected conv filters (O, C, kh, kw), got shape {w.shape}")
    return w


def main(argv=None):
    """``python -m minicnn.tower_filters CHECKPOINT...``: each run's conv1 filters, tower by tower."""
    import argparse
    import os

    from minicnn.arguments import plain_warnings, positive_int, unwritable_file, user_path
    from minicnn.weights import WeightsError, model_from_checkpoint
    p = argparse.ArgumentParser(
        prog="python -m minicnn.tower_filters", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Whether a run's two towers learned different conv1 filters (the AlexNet paper's Figure 3):\n"
                    "each tower's mean spatial frequency and, on colour images, colour share, and how often random\n"
                    "halvings of the same filters differ as much (p). Filters 0 to O/2 - 1 are tower 0's. A run of\n"
                    "examples/train_alexnet.py also gets the figures of the filters it started from (built again\n"
                    "from the seed its checkpoint records), which training may or may not have split. Several runs\n"
                    "of one kind (two towers, or a one-tower control) are also tested together, their towers'\n"
                    "differences summed against random halvings of every run.\n\n"
                    "    python -m minicnn.tower_filters runs/fashion/checkpoint.npz\n"
                    "    python -m minicnn.tower_filters runs/default-{0,1,2}/checkpoint.npz --out towers.png")
    p.add_argument("checkpoints", nargs="+", type=user_path, metavar="CHECKPOINT",
                   help="training checkpoints (.npz) of examples/train_alexnet.py, split or not")
    p.add_argument("--draws", type=positive_int, default=10000,
                   help="random halvings the towers are compared with (default: 10000)")
    p.add_argument("--out", type=user_path, default=None, metavar="FILE",
                   help="also draw each run's conv1 filters, tower 0's beside tower 1's, in this PNG")
    args = p.parse_args(argv)
    plain_warnings()
    problem = args.out and unwritable_file(args.out)
    if problem:   # before the checkpoints are read, not after
        raise SystemExit(f"error: --out {args.out}: {problem}")
    weights, kinds = [], {}
    for path in args.checkpoints:
        try:
            model, config = model_from_checkpoint(path)
            weight, start = conv1_weight(model), start_conv1(config, path)
            if weight.shape[0] % 2:   # a one-tower-half network of an odd conv1 (width 6: 3 filters)
                raise ValueError(f"{path}: conv1 has {weight.shape[0]} filters, which do not halve")
        except (WeightsError, ValueError) as exc:
            raise SystemExit(f"error: {exc}")
        connectivity = (config.get("architecture") or {}).get("connectivity", "towers")
        towers = "two towers" if connectivity == "towers" else f"{connectivity}: halves with no towers, a control"
        print(f"{path} ({towers}): conv1's {weight.shape[0]} filters of {weight.shape[1]}x{weight.shape[2]}x"
              f"{weight.shape[3]}")
        print(report(weight, args.draws, start=start))
        run = os.path.basename(os.path.dirname(os.path.abspath(path))) if os.path.basename(path) == "checkpoint.npz" \
            else os.path.basename(path)   # a run's folder names it
        weights.append((f"{run} ({'two towers' if connectivity == 'towers' else connectivity})", weight))
        kinds.setdefault(connectivity, []).append((weight, start))
    for connectivity, of_kind in kinds.items():
        if len(of_kind) > 1:   # the paper's "during every run": each kind's runs tested at once
            kind = "two towers" if connectivity == "towers" else f"{connectivity} (the control)"
            print(pooled_report([w for w, _ in of_kind], f"{len(of_kind)} runs of {kind}", args.draws,
                                starts=[start for _, start in of_kind]))
    if args.out:
        from minicnn.plots import save_tower_filters
        save_tower_filters(weights, args.out)
        print(f"written: {args.out}")


if __name__ == "__main__":
    main()
