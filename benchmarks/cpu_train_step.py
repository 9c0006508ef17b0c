#!/usr/bin/env python3
"""Training throughput on the CPU: minicnn against PyTorch, side by side in one run.

One training step = forward, backward, SGD update (momentum 0.9, weight decay 5e-4), float32.
Both frameworks get the same number of threads (--threads, default: all cores). Rounds alternate
between the two so that the ratio holds on a noisy machine; the median of the rounds is reported.

    python benchmarks/cpu_train_step.py                    # the 2012 AlexNet, batch 32, 227 px
    python benchmarks/cpu_train_step.py --model alexnet_small --batch-size 128
"""
import datetime
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import interleaved_medians, machine_description, step_benchmark_parser, write_results  # noqa: E402

from minicnn import SoftmaxCrossEntropy, models  # noqa: E402
from minicnn.optim import SGD  # noqa: E402


def torch_twin(model):
    """A PyTorch nn.Sequential with the same layers and weights as a minicnn Sequential."""
    import torch
    from minicnn import LRN, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
    nn = torch.nn
    layers = []
    for layer in model:
        if isinstance(layer, Conv2D):
            t = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                          layer.padding, groups=layer.groups)
        elif isinstance(layer, Dense):
            t = nn.Linear(layer.in_features, layer.out_features)
        elif isinstance(layer, MaxPool2D):
            t = nn.MaxPool2d(layer.kernel_size, layer.stride)
        elif isinstance(layer, LRN):
            t = nn.LocalResponseNorm(layer.size, layer.alpha, layer.beta, layer.k)
        elif isinstance(layer, ReLU):
            t = nn.ReLU()
        elif isinstance(layer, Dropout):
            t = nn.Dropout(layer.p)
        elif isinstance(layer, Flatten):
            t = nn.Flatten()
        else:
            raise TypeError(f"no PyTorch twin for {layer!r}")
        for name, p in layer.params.items():
            getattr(t, name).data = torch.from_numpy(p.data.copy())
        layers.append(t)
    return nn.Sequential(*layers)


def main(argv=None):
    p = step_benchmark_parser(__doc__, "alexnet", 32)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both (default: all cores)")
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    torch.backends.mkldnn.enabled = True

    size, channels = (227, 3) if args.model == "alexnet" else (28, 1)
    model = models.build(args.model, num_classes=1000 if args.model == "alexnet" else 10, in_channels=channels)
    twin = torch_twin(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch_size, channels, size, size)).astype(np.float32)
    y = rng.integers(0, 10, args.batch_size)
    loss_fn, opt = SoftmaxCrossEntropy(), SGD(model, lr=1e-4)
    topt = torch.optim.SGD(twin.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def minicnn_step():
        loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward())
        opt.step()

    def torch_step():
        topt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(twin(tx), ty).backward()
        topt.step()

    res = interleaved_medians({"minicnn": minicnn_step, "PyTorch": torch_step}, repeats=args.repeats)
    ips = {k: args.batch_size / v[0] for k, v in res.items()}
    ratio = ips["minicnn"] / ips["PyTorch"]
    today = datetime.date.today().isoformat()
    table = (f"Training step, {args.model}, batch {args.batch_size}, {size} px, float32, {args.threads} threads "
             f"({machine_description()}, torch {torch.__version__}, {today})\n\n"
             f"| framework | median step (ms) | images/s |\n|---|---|---|\n"
             + "".join(f"| {k} | {v[0] * 1e3:.0f} | {ips[k]:.1f} |\n" for k, v in res.items())
             + f"\nminicnn / PyTorch throughput: {ratio:.2f}x")
    print(table)
    payload = dict(model=args.model, batch_size=args.batch_size, threads=args.threads, date=today,
                   machine=machine_description(), torch=torch.__version__,
                   seconds={k: v[1] for k, v in res.items()}, images_per_s=ips, ratio=ratio)
    paths = write_results(args.out, f"cpu-{args.model}-b{args.batch_size}-{today}", table, payload)
    print("written:", ", ".join(paths))


if __name__ == "__main__":
    main()
