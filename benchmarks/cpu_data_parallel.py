#!/usr/bin/env python3
"""Data-parallel scaling on this machine: training images/s with 1 and 2 MPI ranks (one BLAS
thread each) against one process with BLAS on every core, the same global batch throughout, and
the time each step spends in the gradient all-reduce (packing, starting and waiting for it), with
the all-reduces overlapped with the backward (the default) and started after it; and the hybrid
of minicnn/hybrid.py (FC layers model-parallel), with the time it spends exchanging activations.

    python benchmarks/cpu_data_parallel.py                          # small AlexNet, global batch 128
    python benchmarks/cpu_data_parallel.py --model alexnet --batch-size 32

The script starts ``mpirun`` itself (Open MPI, mpi4py); each configuration runs in its own job,
``--rounds`` times, the configurations taking turns (a shared machine's load then weighs on all
of them alike); the table gives the round with the median step time, and the range of the rounds.
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import machine_description, step_benchmark_parser, write_results  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minicnn  # noqa: E402,F401 (before NumPy: it sets OpenBLAS's thread timeout)
from minicnn.arguments import positive_int, run_script  # noqa: E402
import numpy as np  # noqa: E402 (after minicnn, which sets OpenBLAS's thread timeout before NumPy loads it)


def worker(model_name, global_batch, steps, result_path, overlap, hybrid):
    """One rank: time ``steps`` training steps (after 2 warm-up steps), rank 0 writes the result."""
    from minicnn.cpu_memory import reuse_freed_memory
    reuse_freed_memory()   # as minicnn.train.fit does
    from minicnn import SoftmaxCrossEntropy, models
    from minicnn.distributed import Communicator
    from minicnn.optim import SGD
    comm = Communicator.world() if os.environ.get("OMPI_COMM_WORLD_SIZE") else Communicator.single()
    size, channels, classes = (227, 3, 1000) if model_name == "alexnet" else (28, 1, 10)
    model = models.build(model_name, num_classes=classes, in_channels=channels)
    if hybrid:
        from minicnn.hybrid import HybridNet
        model = HybridNet(model, comm)   # broadcasts rank 0's parameters, then slices the FC layers
    else:
        comm.broadcast_parameters(model)
    batch = global_batch // comm.size
    rng = np.random.default_rng(comm.rank)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    y = rng.integers(0, classes, batch)
    loss_fn, opt = SoftmaxCrossEntropy(), SGD(model, lr=1e-4)
    model.input_grad = False   # as in training: nothing needs the images' gradient

    def step():
        loss_fn.forward(model.forward(x), y)
        comm.backward(model, loss_fn.backward(), overlap=overlap)
        opt.step()

    for _ in range(2):
        step()
    comm.barrier()
    comm.allreduce_seconds = comm.exchange_seconds = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        step()
    comm.barrier()
    seconds = time.perf_counter() - start
    if comm.is_root:
        with open(result_path, "w") as f:
            json.dump(dict(step_s=seconds / steps, allreduce_s=comm.allreduce_seconds / steps,
                           exchange_s=comm.exchange_seconds / steps), f)


def run(ranks, blas_threads, args, folder, overlap=True, hybrid=False):
    """One job of one configuration; returns its rank 0's result."""
    result = os.path.join(folder, f"r{ranks}-t{blas_threads}-{overlap}-{hybrid}.json")
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--model", args.model,
               "--batch-size", str(args.batch_size), "--repeats", str(args.repeats), "--result", result]
    command += ([] if overlap else ["--no-overlap"]) + (["--hybrid"] if hybrid else [])
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(blas_threads), OMP_NUM_THREADS=str(blas_threads),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if ranks:
        command = ["mpirun", "-np", str(ranks), "--oversubscribe", "--bind-to", "none"] + command
    subprocess.run(command, check=True, env=env)
    with open(result) as f:
        return json.load(f)


def main(argv=None):
    p = step_benchmark_parser(__doc__, "alexnet_small", 128)
    p.add_argument("--worker", action="store_true", help=argparse_hidden())
    p.add_argument("--result", help=argparse_hidden())
    p.add_argument("--no-overlap", action="store_true", help=argparse_hidden())
    p.add_argument("--hybrid", action="store_true", help=argparse_hidden())
    p.add_argument("--rounds", type=positive_int, default=3,
                   help="runs of every configuration, taking turns; the median is reported (default: 3)")
    args = p.parse_args(argv)
    steps = args.repeats * (3 if args.model == "alexnet_small" else 1)
    if args.worker:
        return worker(args.model, args.batch_size, steps, args.result, overlap=not args.no_overlap,
                      hybrid=args.hybrid)
    cores = os.cpu_count()
    if args.batch_size % cores:
        p.error(f"--batch-size {args.batch_size}: the global batch is shared out over {cores} ranks (one per "
                f"core), so it must be a multiple of {cores}")
    configurations = [("one process, BLAS on all cores", dict(ranks=0, blas_threads=cores)),
                      ("1 rank, 1 BLAS thread", dict(ranks=1, blas_threads=1)),
                      (f"{cores} ranks, 1 BLAS thread each, all-reduce after the backward",
                       dict(ranks=cores, blas_threads=1, overlap=False)),
                      (f"{cores} ranks, 1 BLAS thread each, all-reduce overlapped", dict(ranks=cores, blas_threads=1)),
                      (f"{cores} ranks, 1 BLAS thread each, hybrid (FC layers model-parallel)",
                       dict(ranks=cores, blas_threads=1, hybrid=True))]
    rounds = {name: [] for name, _ in configurations}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for name, settings in configurations:
                rounds[name].append(run(args=args, folder=folder, **settings))
    rows = []
    for name, results in rounds.items():
        results = sorted(results, key=lambda r: r["step_s"])
        step_range_s = [results[0]["step_s"], results[-1]["step_s"]]
        rows.append((name, dict(results[len(results) // 2], step_range_s=step_range_s)))
    base = rows[0][1]["step_s"]
    params = {"alexnet": 60_965_224}.get(args.model)
    today = datetime.date.today().isoformat()
    table = (f"Data-parallel training step, {args.model}, global batch {args.batch_size}, float32 "
             f"({machine_description()}, Open MPI, {today})\n\n"
             f"Median of {args.rounds} rounds of {steps} steps.\n\n"
             f"| configuration | step (ms) | range (ms) | images/s | vs one process | all-reduce per step (ms) "
             f"| activation exchanges per step (ms) |\n"
             f"|---|---|---|---|---|---|---|\n"
             + "".join(f"| {name} | {r['step_s'] * 1e3:.0f} | "
                       f"{r['step_range_s'][0] * 1e3:.0f}-{r['step_range_s'][1] * 1e3:.0f} | "
                       f"{args.batch_size / r['step_s']:.1f} | "
                       f"{base / r['step_s']:.2f}x | {r['allreduce_s'] * 1e3:.1f} | {r['exchange_s'] * 1e3:.1f} |\n"
                       for name, r in rows))
    if params:
        table += f"\nGradient volume per step: {params * 4 / 2 ** 20:.0f} MiB (float32).\n"
    print(table)
    paths = write_results(args.out, f"cpu-data-parallel-{args.model}-b{args.batch_size}-{today}", table,
                          dict(model=args.model, global_batch=args.batch_size, machine=machine_description(),
                               date=today, rounds=args.rounds, steps=steps, results={name: r for name, r in rows},
                               every_round=rounds))
    print("written:", ", ".join(paths))


def argparse_hidden():
    import argparse
    return argparse.SUPPRESS


if __name__ == "__main__":
    run_script(main)
