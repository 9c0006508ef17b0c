#!/usr/bin/env python3
"""The two-device split on the CPU: two tower workers against one process using every core.

One training step = forward, backward, SGD update, float32, the same parameters on both sides:
"single" is the grouped single-device network (LRN per tower) with BLAS on all cores; "split"
is its two-tower twin (minicnn.towers) with one worker per tower, each worker's BLAS on half the
cores. Rounds alternate between the two; medians are reported. Then one more split step is
taken apart: how long each tower computes in each segment, how long it waits for the other
(idle), and how long the crossings (concatenations, gradient splits and sums) take.

    python benchmarks/cpu_two_device.py                               # small AlexNet, batch 128
    python benchmarks/cpu_two_device.py --model alexnet --batch-size 32
"""
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import interleaved_medians, machine_description, step_benchmark_parser, write_results  # noqa: E402

from minicnn import SoftmaxCrossEntropy, models, towers  # noqa: E402
from minicnn.arguments import run_script  # noqa: E402
from minicnn.cpu_memory import reuse_freed_memory  # noqa: E402
from minicnn.optim import SGD  # noqa: E402
import numpy as np  # noqa: E402 (after minicnn, which sets OpenBLAS's thread timeout before NumPy loads it)


def step_fn(model, x, y):
    loss_fn, opt = SoftmaxCrossEntropy(), SGD(model, lr=1e-4)
    model.input_grad = False   # as in training: nothing needs the images' gradient

    def step():
        loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward())
        opt.step()
    return step


def anatomy(split, step):
    """Seconds of one split step: per tower busy time inside the parallel segments, the wall
    time of those segments, and the time in crossings (everything else in forward/backward)."""
    runner = split.runner
    record = {"busy": [0.0, 0.0], "segments": 0.0}
    plain_run = runner.run

    def timed_run(work):
        def timed(t):
            start = time.perf_counter()
            out = work(t)
            record["busy"][t] += time.perf_counter() - start
            return out
        start = time.perf_counter()
        out = plain_run(timed)
        record["segments"] += time.perf_counter() - start
        return out

    runner.run = timed_run
    try:
        start = time.perf_counter()
        step()
        total = time.perf_counter() - start
    finally:
        runner.run = plain_run
    return total, record


def main(argv=None):
    args = step_benchmark_parser(__doc__, "alexnet_small", 128).parse_args(argv)
    reuse_freed_memory()   # as minicnn.train.fit does

    size, channels, classes = (227, 3, 1000) if args.model == "alexnet" else (28, 1, 10)
    single = models.build(args.model, num_classes=classes, in_channels=channels, lrn_groups=2)
    split = towers.two_tower(single).to("cpu")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch_size, channels, size, size)).astype(np.float32)
    y = rng.integers(0, classes, args.batch_size)
    steps = {"single device": step_fn(single, x, y), "two-device split": step_fn(split, x, y)}
    res = interleaved_medians(steps, repeats=args.repeats)
    ips = {k: args.batch_size / v[0] for k, v in res.items()}
    ratio = ips["two-device split"] / ips["single device"]

    runs = [anatomy(split, steps["two-device split"]) for _ in range(3)]
    total, record = sorted(runs, key=lambda r: r[0])[1]   # the median of three
    busy, segments = record["busy"], record["segments"]
    idle = [segments - b for b in busy]
    outside = total - segments                             # crossings, head, loss, SGD update

    today = datetime.date.today().isoformat()
    cores = os.cpu_count()
    table = (f"Two-device split on the CPU, {args.model}, batch {args.batch_size}, {size} px, float32 "
             f"({machine_description()}, {today})\n\n"
             f"| configuration | median step (ms) | images/s |\n|---|---|---|\n"
             + "".join(f"| {k} | {v[0] * 1e3:.0f} | {ips[k]:.1f} |\n" for k, v in res.items())
             + f"\nsplit / single throughput: {ratio:.2f}x (single: BLAS on {cores} cores; split: two "
             f"workers, BLAS on {max(1, cores // 2)} core(s) each)\n\n"
             f"Anatomy of one split step, timed on its own after the rounds ({total * 1e3:.0f} ms; the "
             f"median of three such steps):\n\n"
             f"| part | ms | share |\n|---|---|---|\n"
             f"| towers in parallel (wall) | {segments * 1e3:.0f} | {segments / total:.0%} |\n"
             f"| tower 0 computing / idle | {busy[0] * 1e3:.0f} / {idle[0] * 1e3:.0f} | |\n"
             f"| tower 1 computing / idle | {busy[1] * 1e3:.0f} / {idle[1] * 1e3:.0f} | |\n"
             f"| serial: crossings, fc8, loss, SGD update | {outside * 1e3:.0f} | {outside / total:.0%} |\n")
    print(table)
    payload = dict(model=args.model, batch_size=args.batch_size, date=today, machine=machine_description(),
                   seconds={k: v[1] for k, v in res.items()}, images_per_s=ips, ratio=ratio,
                   anatomy=dict(total=total, segments=segments, busy=busy, idle=idle, serial=outside))
    paths = write_results(args.out, f"cpu-two-device-{args.model}-b{args.batch_size}-{today}", table, payload)
    print("written:", ", ".join(paths))


if __name__ == "__main__":
    run_script(main)
