#!/usr/bin/env python3
"""The CPU training step of this checkout against another checkout's, in turns, in one run.

Two versions of minicnn timed one after the other may measure the host rather than the code: the
machines behind a small cloud host speed up and slow down by more than a version gains (the
README's benchmarks). Here each checkout runs in a worker process of its own, which imports that
checkout's minicnn and builds the same network with the same weights and the same batch; the
workers then take one training step (forward, backward, SGD update) each, in turns, and the
median of each one's steps gives the ratio. Before timing, both must compute the same loss for
the batch to 1e-4, or the two would not be training the same network. Each worker also reports its
peak memory (the largest resident set its process reached: the network, the batch and the steps'
arrays), so that a version which keeps less shows it.

    git worktree add ../minicnn-before HEAD~1      # or any clone of the code to compare with
    python benchmarks/versions_in_turns.py --against ../minicnn-before --repeats 61

The other checkout needs the same entry points as this one (``minicnn.models.build``, ``SGD``,
``SoftmaxCrossEntropy``, ``minicnn.cpu_threads``; any commit since the README's version 6 has
them). The results files name each checkout by its commit (``git describe --always --dirty``).
"""
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAME_LOSS = 1e-4   # the largest relative difference of the two first losses that passes for the same network


def peak_memory_mib():
    """The largest resident set this process has reached so far, in MiB (``getrusage``'s
    ru_maxrss: KiB on Linux, bytes on macOS)."""
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 2 ** 10


def worker(model_name, batch, threads):
    """One checkout's side (the minicnn that PYTHONPATH gives): build the network and the batch,
    say {"loss", "minicnn"} as a JSON line, then take a training step for every "step" line read
    and answer with the process's peak memory so far (MiB), until the input ends."""
    from minicnn import SoftmaxCrossEntropy, cpu_threads, models
    from minicnn.cpu_memory import reuse_freed_memory
    from minicnn.optim import SGD
    import numpy as np   # after minicnn, which sets OpenBLAS's thread timeout before NumPy loads it
    from threadpoolctl import threadpool_limits
    reuse_freed_memory()
    threadpool_limits(threads, user_api="blas")
    cpu_threads.set_threads(threads)
    small = model_name == "alexnet_small"
    size, channels, classes = models.MODELS[model_name][1], 1 if small else 3, 10 if small else 1000
    model = models.build(model_name, num_classes=classes, in_channels=channels)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    y = rng.integers(0, classes, batch)
    loss_fn, opt = SoftmaxCrossEntropy(), SGD(model, lr=1e-4)
    model.input_grad = False   # as in training
    first_loss = float(loss_fn.forward(model.forward(x, train=False), y))
    print(json.dumps({"loss": first_loss, "minicnn": os.path.dirname(sys.modules["minicnn"].__file__)}), flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            raise SystemExit(f"worker: expected 'step', got {line.strip()!r}")
        loss_fn.forward(model.forward(x, train=True), y)
        model.backward(loss_fn.backward())
        opt.step()
        print(f"{peak_memory_mib():.1f}", flush=True)


def check_checkout(path):
    """``path`` as the root of a checkout of minicnn (a folder holding minicnn/__init__.py), or
    SystemExit naming what is missing."""
    root = os.path.abspath(path)
    if not os.path.isfile(os.path.join(root, "minicnn", "__init__.py")):
        raise SystemExit(f"error: --against {path}: expected a checkout of minicnn (a folder holding "
                         f"minicnn/__init__.py), found none there")
    return root


def commit_of(root):
    """The checkout's commit as ``git describe --always --dirty`` says it, or "unknown" outside git."""
    done = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


class Worker:
    """A worker process on ``root``'s minicnn; ``step()`` has it take one training step, after
    which ``peak_mib`` is its process's peak memory so far."""

    def __init__(self, root, args):
        env = dict(os.environ, PYTHONPATH=root)
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", args.model, str(args.batch_size),
             str(args.threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.hello = json.loads(self._answer())
        self.peak_mib = None
        if os.path.realpath(self.hello["minicnn"]) != os.path.realpath(os.path.join(root, "minicnn")):
            raise SystemExit(f"error: the worker for {root} imported the minicnn of {self.hello['minicnn']}")

    def _answer(self):
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"error: a worker stopped (exit status {self.process.wait()}); its error is above")
        return line

    def step(self):
        self.process.stdin.write("step\n")
        self.process.stdin.flush()
        self.peak_mib = float(self._answer())

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()


def same_network(loss, other_loss):
    """Whether two first losses agree to SAME_LOSS (relative)."""
    return abs(loss - other_loss) <= SAME_LOSS * abs(other_loss)


def parse_args(argv=None):
    sys.path.insert(0, HERE)
    from timing import step_benchmark_parser
    from minicnn import cpu_threads
    from minicnn.arguments import positive_int, user_path
    p = step_benchmark_parser(__doc__, "alexnet_small", 64, networks=("alexnet", "alexnet_owt", "alexnet_small"))
    p.add_argument("--against", type=user_path, required=True,
                   help="the root of the other checkout of minicnn to time this one against")
    p.add_argument("--threads", type=positive_int, default=cpu_threads.threads(),
                   help="threads of each checkout's GEMMs and NumPy work (default: minicnn's, the cores this "
                        "process may use unless MINICNN_CPU_THREADS says otherwise)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from timing import interleaved_medians, machine_description, write_results
    other_root = check_checkout(args.against)
    labels = {"this checkout": ROOT, "the other": other_root}
    commits = {label: commit_of(root) for label, root in labels.items()}
    workers = {}
    try:
        for label, root in labels.items():
            workers[label] = Worker(root, args)
        losses = {label: w.hello["loss"] for label, w in workers.items()}
        if not same_network(losses["this checkout"], losses["the other"]):
            raise SystemExit(f"error: the two checkouts compute different losses for the same batch "
                             f"({losses['this checkout']!r} and {losses['the other']!r}): not the same network")
        res = interleaved_medians({label: w.step for label, w in workers.items()}, repeats=args.repeats)
        peaks = {label: w.peak_mib for label, w in workers.items()}
    finally:
        for w in workers.values():
            w.close()
    medians = {label: r[0] for label, r in res.items()}
    ratio = medians["the other"] / medians["this checkout"]
    today = datetime.date.today().isoformat()
    where = machine_description()
    table = (f"Training step in turns, {args.model}, batch {args.batch_size}, float32, {args.threads} threads, "
             f"{args.repeats} steps each ({where}, {today})\n\n"
             f"| checkout | commit | median step (ms) | images/s | peak memory (MiB) |\n|---|---|---|---|---|\n"
             + "".join(f"| {label} | {commits[label]} | {medians[label] * 1e3:.1f} | "
                       f"{args.batch_size / medians[label]:.1f} | {peaks[label]:.0f} |\n"
                       for label in labels)
             + f"\nthis checkout / the other, speed: {ratio:.3f}x")
    print(table)
    payload = dict(model=args.model, batch_size=args.batch_size, threads=args.threads, repeats=args.repeats,
                   where=where, date=today, commits=commits, first_loss=losses,
                   seconds={label: r[1] for label, r in res.items()}, ratio=ratio, peak_memory_mib=peaks)
    stem = (f"cpu-versions-{commits['this checkout']}-against-{commits['the other']}"
            f"-{args.model}-b{args.batch_size}-{today}")
    print("written:", ", ".join(write_results(args.out, stem, table, payload)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
