#!/usr/bin/env python3
"""Host time per kernel launch: what minicnn's checked launch costs the CPU, beside the bare
call it wraps and PyTorch's call of the same operation.

A small kernel runs in a few microseconds on a GPU, so for a tiny layer (the dropout after fc6;
every layer of a network for 28-pixel images) the host's time per launch is what the layer costs,
and a training step is as fast as the host issues its launches.

    python benchmarks/launch_overhead.py                  # minicnn's checks alone: any machine
    python benchmarks/launch_overhead.py --device cuda    # real launches on the GPU as well

Each row is a kernel of minicnn's layers with its arguments (arrays of 4096 elements):
- checks: ``minicnn.launch.checked_launch``, all that ``launch`` does before the device call (the
  kernel's C signature looked up, the arrays' dtypes and contiguity, the numbers' ranges and the
  geometry checked, the numbers converted to their C types);
- on a GPU, a loop of launches that ends with a synchronisation (the GPU keeps up, so the loop
  takes the host's time): minicnn's ``launch``; CuPy's bare call of the same compiled kernel with
  its arguments converted beforehand, the floor of any launch through CuPy; and, for ReLU, PyTorch's
  ``torch.clamp_min(x, 0, out=y)``, the same work into the same preallocated output.
Medians of --repeats rounds, the competitors interleaved round by round (benchmarks/timing.py).
"""
import argparse
import datetime
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import add_out_argument, interleaved_medians, machine_description, write_results  # noqa: E402

from minicnn import launch as launching  # noqa: E402
from minicnn.arguments import positive_int, run_script  # noqa: E402
from minicnn.environment import gpu_description, gpu_name  # noqa: E402
from minicnn.launch import BLOCK, grid_for  # noqa: E402

ELEMENTS = 4096


def launches(xp):
    """name -> (source, kernel, grid, block, args, what its arguments are) on arrays of ``xp``."""
    x = xp.ones(ELEMENTS, dtype=np.float32)
    y = xp.empty_like(x)
    image = xp.ones((1, 1, 64, 64), dtype=np.float32)
    pooled = xp.empty((1, 1, 31, 31), dtype=np.float32)
    argmax = xp.empty((1, 1, 31, 31), dtype=np.int32)
    return {
        "relu_forward_v2": ("relu", "relu_forward_v2", grid_for(ELEMENTS // 4, x), BLOCK, (x, y, ELEMENTS),
                            "2 arrays, 1 number"),
        "dropout_forward": ("dropout", "dropout_forward", grid_for(ELEMENTS, x), BLOCK,
                            (x, y, ELEMENTS, 1024, 1024, 0, 123456789, 987654321, 0.5, 2.0), "2 arrays, 8 numbers"),
        "maxpool_forward_v2": ("maxpool", "maxpool_forward_v2", (1, 4), 256,
                               (image, pooled, argmax, 64, 64, 31, 31, 3, 3, 2, 2, 0, 0), "3 arrays, 10 numbers"),
    }


def per_call(fn, calls):
    """A function that calls ``fn`` ``calls`` times."""
    def loop():
        for _ in range(calls):
            fn()
    return loop


def measure(device, repeats, calls):
    """One row per kernel: microseconds per call of each way to launch it."""
    rows = []
    if device == "cuda":
        import cupy
        import torch
        synchronize = cupy.cuda.Device().synchronize
    xp = cupy if device == "cuda" else np
    for name, (source, kernel, grid, block, args, what) in launches(xp).items():
        fns = {"checks": per_call(lambda: launching.checked_launch(source, kernel, grid, block, *args), calls)}
        if device == "cuda":
            _, grid3, block3, real, converted, _ = launching.checked_launch(source, kernel, grid, block, *args)
            bare = launching.compiled_kernel(source, kernel, real)
            converted = tuple(converted)

            def synchronized(loop):
                return lambda: (loop(), synchronize())
            fns["minicnn"] = synchronized(per_call(lambda: launching.launch(source, kernel, grid, block, *args), calls))
            fns["CuPy"] = synchronized(per_call(lambda: bare(grid3, block3, converted), calls))
            if source == "relu":
                tx, ty = torch.as_tensor(args[0], device="cuda"), torch.as_tensor(args[1], device="cuda")
                fns["PyTorch"] = synchronized(per_call(lambda: torch.clamp_min(tx, 0, out=ty), calls))
        medians = interleaved_medians(fns, repeats=repeats)
        rows.append(dict(kernel=name, arguments=what,
                         **{f"{way}_us": medians[way][0] / calls * 1e6 for way in fns}))
    return rows


def table(rows, device):
    def cell(row, key):
        return f"{row[key]:.2f}" if key in row else "-"
    if device != "cuda":
        return ("| kernel | arguments | minicnn's checks (us per launch) |\n|---|---|---|\n"
                + "".join(f"| {r['kernel']} | {r['arguments']} | {r['checks_us']:.2f} |\n" for r in rows))
    lines = ["| kernel | arguments | checks (us) | minicnn launch (us) | CuPy's bare call (us) | PyTorch (us) | "
             "minicnn / CuPy's bare call | minicnn speed / PyTorch |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        versus = f"{r['PyTorch_us'] / r['minicnn_us']:.2f}x" if "PyTorch_us" in r else "-"
        lines.append(f"| {r['kernel']} | {r['arguments']} | {r['checks_us']:.2f} | {r['minicnn_us']:.2f} | "
                     f"{r['CuPy_us']:.2f} | {cell(r, 'PyTorch_us')} | {r['minicnn_us'] / r['CuPy_us']:.2f}x | "
                     f"{versus} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu: minicnn's checks alone, on any machine; cuda: real launches on the GPU as well, "
                        "beside CuPy's bare call and PyTorch (default: cpu)")
    p.add_argument("--repeats", type=positive_int, default=7, help="timed rounds (default: 7)")
    p.add_argument("--calls", type=positive_int, default=2000,
                   help="launches per timed round, whose mean is the round's time per launch (default: 2000)")
    add_out_argument(p)
    args = p.parse_args(argv)
    if args.device == "cuda":
        from minicnn.backend import check_device
        try:
            check_device("cuda")
        except RuntimeError as exc:
            p.error(str(exc))
    rows = measure(args.device, args.repeats, args.calls)
    today = datetime.date.today().isoformat()
    where = f"{gpu_description()}, " if args.device == "cuda" else ""
    text = (f"Host time per kernel launch, {args.repeats} rounds of {args.calls} launches, medians ({where}"
            f"{machine_description()}, {today})\n\n" + table(rows, args.device))
    print(text)
    stem = (f"gpu-launch-overhead-{gpu_name().replace(' ', '_')}" if args.device == "cuda"
            else "cpu-launch-overhead") + f"-{today}"
    paths = write_results(args.out, stem, text, dict(device=args.device, date=today, repeats=args.repeats,
                                                     calls=args.calls, rows=rows))
    print("written:", ", ".join(paths))


if __name__ == "__main__":
    run_script(main)
