"""What every layer of a network, trained or as it starts, does to real images: the statistics of
each layer's outputs over a test set, batch after batch, in the network's evaluation mode; and
what each layer holds, its parameters' figures.

For each layer (``Sequential.named_layers``: a fused layer is one) the mean, the root mean square
and the largest magnitude of its outputs, and the share of them that are exactly 0 (after a ReLU:
the units it switched off for that image). For a local response normalisation, the range of its
divisor, ``(k + alpha / size * sum of x ** 2 over the window) ** beta``, read off its inputs and
outputs (``y = x / divisor`` wherever ``x`` is not 0): the paper's LRN divides big activities by
more than small ones, and on inputs that leave the sum small against ``k`` it divides every
activity by nearly ``k ** beta`` alike, a fixed scale.

    stats = LayerStatistics(model)
    for x in batches:              # (N, C, H, W), normalised as the network was trained
        stats.add(x)
    print(stats.table())
    print(parameter_table(model))  # what each layer holds: its weights' and biases' figures

``examples/evaluate.py --layers`` prints both tables for a run's network on its test set;
``python -m minicnn.layer_statistics --init paper`` prints them for the small AlexNet as an
initialisation starts it, before any step, with its loss on the test images there: what a start
gives the first steps to work with (the README's "Weight decay and the unit biases").
"""
import math

import numpy as np

from minicnn.backend import to_numpy
from minicnn.layers import LRN


class LayerStatistics:
    """Running statistics of the outputs of every layer of ``model`` (a Sequential) over the
    batches given to ``add``; accumulated in float64, so that their order changes nothing that
    the printed digits show."""

    def __init__(self, model):
        if not hasattr(model, "named_layers"):
            raise TypeError(f"LayerStatistics walks a Sequential's layers one by one; got {type(model).__name__}")
        self.layers = list(model.named_layers())
        self.sums = np.zeros((len(self.layers), 4))   # per layer: count, sum, sum of squares, zeros
        self.largest = np.zeros(len(self.layers))
        self.divisors = {}   # LRN layer index: (smallest, largest)
        self.shapes = [None] * len(self.layers)

    def add(self, x):
        """Run the batch ``x`` (N, C, H, W, on the model's device) through the layers, in
        evaluation mode (dropout off, batch norm's running statistics), and add each layer's
        outputs to its statistics. Returns the network's output."""
        for i, (name, layer) in enumerate(self.layers):
            y = layer.forward(x, train=False)
            out = to_numpy(y).astype(np.float64)
            self.shapes[i] = out.shape[1:]
            self.sums[i] += (out.size, out.sum(), np.square(out).sum(), np.count_nonzero(out == 0))
            self.largest[i] = max(self.largest[i], np.abs(out).max(initial=0.0))
            if isinstance(layer, LRN):
                inputs = to_numpy(x).astype(np.float64)
                moved = inputs != 0
                if moved.any():
                    divisor = inputs[moved] / out[moved]
                    low, high = self.divisors.get(i, (math.inf, -math.inf))
                    self.divisors[i] = (min(low, float(divisor.min())), max(high, float(divisor.max())))
            x = y
        return x

    def rows(self):
        """[{name, type, output, mean, rms, largest, zeros, divisor}]: each layer's figures so
        far (``divisor``: (smallest, largest) for an LRN layer, else None); zeros is a share."""
        if not self.sums[:, 0].any():
            raise ValueError("LayerStatistics: no batch added yet")
        rows = []
        for i, (name, layer) in enumerate(self.layers):
            count, total, squares, zeros = self.sums[i]
            rows.append(dict(name=name, type=type(layer).__name__, output=tuple(self.shapes[i]),
                             mean=float(total / count), rms=math.sqrt(squares / count),
                             largest=float(self.largest[i]), zeros=float(zeros / count), divisor=self.divisors.get(i)))
        return rows

    def table(self):
        """The statistics as a printable table, a row per layer."""
        rows = self.rows()
        width = max(8, *(len(r["name"]) + 2 for r in rows))
        header = (f"{'layer':<{width}}{'type':<12}{'output':<12}{'mean':>10}{'rms':>10}{'largest':>10}"
                  f"{'zeros':>8}  LRN divisor")
        lines = [header, "=" * len(header)]
        for r in rows:
            divisor = f"  {r['divisor'][0]:.4f} to {r['divisor'][1]:.4f}" if r["divisor"] else ""
            lines.append(f"{r['name']:<{width}}{r['type']:<12}{'x'.join(map(str, r['output'])):<12}"
                         f"{r['mean']:>10.4f}{r['rms']:>10.4f}{r['largest']:>10.3f}{r['zeros']:>8.1%}{divisor}")
        return "\n".join(lines)


def parameter_rows(model):
    """[{name, shape, mean, rms, largest}]: the mean, root mean square and largest magnitude of
    each parameter of ``model`` (``named_params``: "conv1.weight", "conv1.bias", ...), in float64.
    A weight's rms is its size, which weight decay pulls down; a bias's mean says where its
    layer's units start, as the paper's unit biases set them to start above 0."""
    rows = []
    for name, p in model.named_params():
        values = to_numpy(p.data).astype(np.float64)
        rows.append(dict(name=name, shape=tuple(values.shape), mean=float(values.mean()),
                         rms=math.sqrt(float(np.square(values).mean())), largest=float(np.abs(values).max())))
    return rows


def parameter_table(model):
    """``parameter_rows`` as a printable table, a row per parameter."""
    rows = parameter_rows(model)
    width = max(12, *(len(r["name"]) + 2 for r in rows)) if rows else 12
    header = f"{'parameter':<{width}}{'shape':<16}{'mean':>10}{'rms':>10}{'largest':>10}"
    lines = [header, "=" * len(header)]
    for r in rows:
        lines.append(f"{r['name']:<{width}}{'x'.join(map(str, r['shape'])):<16}{r['mean']:>10.4f}{r['rms']:>10.4f}"
                     f"{r['largest']:>10.3f}")
    return "\n".join(lines)


def main(argv=None):
    """``python -m minicnn.layer_statistics``: the small AlexNet as ``--init`` starts it, on the
    first test images of a data set: its loss there, and both tables."""
    import argparse

    from minicnn import models
    from minicnn.arguments import non_negative_int, positive_int, user_path
    from minicnn.data import DATASETS, DataError
    from minicnn.inference import normalise
    from minicnn.losses import SoftmaxCrossEntropy
    p = argparse.ArgumentParser(
        prog="python -m minicnn.layer_statistics", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The small AlexNet as an initialisation starts it, before any training step, on the first\n"
                    "test images of a data set: its loss (an even guess over 10 classes gives ln 10 = 2.30), each\n"
                    "layer's outputs (mean, root mean square, largest magnitude, share of zeros, LRN's divisor)\n"
                    "and each parameter's figures. A trained network's: examples/evaluate.py --layers.\n\n"
                    "    python -m minicnn.layer_statistics                       # the default start, He's\n"
                    "    python -m minicnn.layer_statistics --init paper          # the paper's N(0, 0.01), unit biases\n"
                    "    python -m minicnn.layer_statistics --init he-unit-biases --seed 2")
    p.add_argument("--init", choices=tuple(models.INITS), default="he",
                   help="the start, as train_alexnet.py's --init gives it (default: he, the small AlexNet's)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the initialisation: train_alexnet.py --seed S starts from the same network "
                        "(default: 0)")
    p.add_argument("--width", type=positive_int, default=24,
                   help="maps of conv1, as train_alexnet.py's --width (default: 24)")
    p.add_argument("--dataset", choices=tuple(DATASETS), default="fashion-mnist",
                   help="whose test images, normalised as in training (default: fashion-mnist)")
    p.add_argument("--data", type=user_path, default=None, metavar="DIR",
                   help="folder with the data set's files (default: where train_alexnet.py looks, and as it "
                        "does, downloaded there when missing)")
    p.add_argument("--images", type=positive_int, default=1000,
                   help="how many of the first test images (default: 1000)")
    args = p.parse_args(argv)
    dataset = DATASETS[args.dataset]
    try:
        images, labels = dataset["load"]("test", args.data, download_missing=args.data is None)
        model = models.alexnet_small(num_classes=len(dataset["classes"]), in_channels=dataset["channels"],
                                     input_size=dataset["size"], width=args.width, seed=args.seed, init=args.init)
    except (DataError, ValueError) as exc:
        raise SystemExit(f"error: {exc}")
    images, labels = images[:args.images], labels[:args.images]
    pixels = images[:, None] if images.ndim == 3 else images   # (N, C, H, W)
    stats = LayerStatistics(model)
    logits = stats.add(normalise(pixels, dataset["mean"], dataset["std"]))
    loss = float(SoftmaxCrossEntropy().forward(logits, labels))
    print(f"alexnet_small (width {args.width}) as --init {args.init} starts it (seed {args.seed}), on the first "
          f"{len(labels)} test images of {args.dataset}: loss {loss:.4f} (an even guess: "
          f"ln {len(dataset['classes'])} = {math.log(len(dataset['classes'])):.4f})")
    print("the outputs of each layer:")
    print(stats.table())
    print("the parameters of each layer:")
    print(parameter_table(model))


if __name__ == "__main__":
    from minicnn.arguments import run_script
    run_script(main)
