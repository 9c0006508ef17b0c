"""The one way minicnn's benchmarks time things: warm-up, then the median of repeats, with
competitors interleaved repeat by repeat so that a noisy machine slows both alike. On the CPU
with perf_counter; on the GPU with CUDA events around the work and the L2 cache flushed before
every repeat (``gpu=True``), and with ``hold=True`` the GPU's work alone, not the host's
(``StreamHold``)."""
import itertools
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))   # this checkout's minicnn
from minicnn.arguments import kernel_version, output_folder, positive_int  # noqa: E402 (every benchmark's flags)
from minicnn.checkpoint import atomic_write  # noqa: E402
from minicnn.environment import describe, describe_line  # noqa: E402


def interleaved_medians(fns, repeats=7, warmup=2, gpu=False, hold=False, host=None):
    """Run every function of ``fns`` (name -> callable) ``warmup`` times, then ``repeats`` rounds
    of one call each, alternating; return name -> (median seconds, all times). On the GPU,
    ``hold=True`` times the GPU's work alone (``gpu_clock``), and a dict given as ``host`` receives
    name -> the median seconds the host took to queue each call's work (its Python, its launches'
    checks, PyTorch's autograd; with ``hold``, all of it while the GPU was busy behind the hold)."""
    clock = gpu_clock(hold=hold) if gpu else _cpu_clock
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    host_times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(clock(fn))
            if gpu:
                host_times[name].append(clock.host_seconds)
    if host is not None and gpu:
        host.update({name: statistics.median(ts) for name, ts in host_times.items()})
    return {name: (statistics.median(ts), ts) for name, ts in times.items()}


def _cpu_clock(fn):
    return _timed_cpu_call(fn)[1]


def _timed_cpu_call(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def part_clock(gpu=False):
    """clock(call) -> (call's result, t) for timing the parts of a larger piece of work (the layers
    of a training step): t is the seconds the call took on the CPU, or on the GPU a (start, stop)
    pair of CUDA events around its work, which ``seconds`` reads afterwards, so that timing a part
    does not synchronise in the middle of the work."""
    if not gpu:
        return _timed_cpu_call
    import cupy

    def clock(call):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        result = call()
        stop.record()
        return result, (start, stop)
    return clock


def stamp_clock(gpu=False):
    """stamp() -> a point in time, for work whose start and end are seen in different places (a
    PyTorch module's hooks): perf_counter on the CPU, a recorded PyTorch CUDA event on the GPU. A
    (start, stop) pair of stamps is a time for ``seconds``."""
    if not gpu:
        return time.perf_counter
    import torch

    def stamp():
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event
    return stamp


def seconds(t):
    """The seconds of a ``part_clock`` time (a float already, or a pair of CuPy CUDA events) or of
    a (start, stop) pair of ``stamp_clock`` stamps (floats, or PyTorch CUDA events)."""
    if isinstance(t, float):
        return t
    start, stop = t
    if isinstance(start, float):
        return stop - start
    stop.synchronize()
    if hasattr(start, "elapsed_time"):   # PyTorch's events
        return start.elapsed_time(stop) / 1e3
    import cupy
    return cupy.cuda.get_elapsed_time(start, stop) / 1e3


# More than the L2 cache of any GPU timed here (50 MB on an H100, 60 on an H200)
L2_FLUSH_BYTES = 256 * 2 ** 20


def l2_flusher(flush_bytes=L2_FLUSH_BYTES):
    """flush() -> None: a ``flush_bytes`` write on the GPU, which evicts the L2 cache, so that
    the work timed next reads its data from memory as a training step would."""
    import cupy
    scratch = cupy.empty(flush_bytes // 4, dtype=cupy.float32)
    return lambda: scratch.fill(0)


class StreamHold:
    """Work queued on the GPU ahead of a timed call, so that CUDA events around the call time the
    GPU's work and not the host's.

    An event is recorded when the GPU reaches it. If the GPU is idle when the call begins, the
    start event is reached at once, and every launch of the call that the host is still preparing
    (Python, a launch's checks, PyTorch's autograd: tens of microseconds each) is GPU time spent
    waiting, counted in the call's time. For a layer of small arrays the host's time is the larger:
    on an H200 (2026-12-04) the flush alone ahead of the call, some 64 us of writes, left dropout6's
    forward at 0.008 ms and its forward+backward at 0.058, PyTorch's at 0.006 and 0.172.

    ``run(fn)`` queues ``fills`` writes of the flush buffer (``flush()``: the first evicts the L2
    cache, as before every repeat), records the start event and calls fn. If the GPU has not
    reached the start event when fn returns (``done`` false), all of fn's work was queued before
    the GPU began it: the events time the GPU alone. If it has, and ``adaptive``, the hold is
    doubled and fn called again, up to ``most_fills``; past that fn waits for the GPU itself (a
    synchronisation inside it), and the time is taken as it is, with a warning. Without
    ``adaptive`` (the training step, whose host time is part of a user's step) one flush, once.
    ``new_event``: cupy.cuda.Event, or a stand-in for a test."""

    def __init__(self, flush, adaptive=True, most_fills=256, new_event=None):
        self.flush, self.adaptive, self.most_fills = flush, adaptive, most_fills
        self.fills, self.warned = 1, False
        if new_event is None:
            import cupy
            new_event = cupy.cuda.Event
        self.new_event = new_event

    def run(self, fn):
        """(start event, fn's result): fn called once its work, queued behind the hold, was all
        queued before the GPU reached the start event (or as said above). ``host_seconds`` is then
        the time fn took the host (with the hold, all of it while the GPU was busy)."""
        while True:
            for _ in range(self.fills):
                self.flush()
            start = self.new_event()
            start.record()
            began = time.perf_counter()
            result = fn()
            self.host_seconds = time.perf_counter() - began
            if not self.adaptive or not start.done:
                return start, result
            if self.fills >= self.most_fills:
                if not self.warned:
                    print(f"timing: the GPU reached the start of the timed work before the host had queued it "
                          f"all, behind {self.fills} writes of the flush buffer: the work waits for the GPU "
                          f"itself, and its time includes the host's", file=sys.stderr)
                    self.warned = True
                return start, result
            self.fills *= 2


def gpu_clock(flush_bytes=L2_FLUSH_BYTES, hold=False):
    """clock(fn) -> seconds of GPU time that fn's work takes on the current stream, by CUDA
    events, the L2 cache flushed first (``l2_flusher``); with ``hold``, the GPU's work alone, the
    stream held until fn has queued it all (``StreamHold``). After each call ``clock.host_seconds``
    is the time fn took the host."""
    import cupy
    stream_hold = StreamHold(l2_flusher(flush_bytes), adaptive=hold)

    def clock(fn):
        start, _ = stream_hold.run(fn)
        clock.host_seconds = stream_hold.host_seconds
        stop = cupy.cuda.Event()
        stop.record()
        stop.synchronize()
        return cupy.cuda.get_elapsed_time(start, stop) / 1e3
    return clock


def launch_medians(fn, repeats=7, warmup=2, gpu=False, setup=None, hold=False):
    """The time of each kernel launch and matrix product of ``fn()`` (minicnn.launch.watching),
    measured within the call: ``setup()`` untimed (a forward before a timed backward), then
    ``fn()`` with every launch timed on its own (``part_clock``: CUDA events around each on the
    GPU, after an L2 flush; perf_counter on the CPU), ``warmup`` times, then ``repeats`` times.
    On the GPU, ``hold=True`` holds the stream until the call has queued all its work
    (``StreamHold``), so that each launch's events time its kernel alone: without it, a launch
    that the host prepares longer than the GPU takes over the one before counts the wait.

    Returns (median seconds of the whole call, median seconds outside the watched launches, and one
    dict per kernel name in the order of its first launch: name, launches (per call), nbytes and
    flops (their sums, as ``watching`` gives them) and seconds (the median over the repeats of
    its launches' sum)). Outside the launches is, on the CPU, Python's time and NumPy's between
    them; on the GPU with ``hold``, the GPU's time in work that is not a watched launch (CuPy's
    own small operations)."""
    from minicnn.launch import watching
    clock = part_clock(gpu)
    if gpu:
        stream_hold = StreamHold(l2_flusher(), adaptive=hold)
    rounds = []
    for round_index in range(warmup + repeats):
        if setup is not None:
            setup()
        parts = []

        def watcher(name, nbytes, run, flops):
            result, t = clock(run)
            parts.append((name, nbytes, flops, t))
            return result

        def watched_call():
            parts.clear()   # a call the hold made again times its launches again
            with watching(watcher):
                fn()
        if gpu:
            import cupy
            start, _ = stream_hold.run(watched_call)
            stop = cupy.cuda.Event()
            stop.record()
            total = (start, stop)
        else:
            _, total = clock(watched_call)
        if round_index >= warmup:
            rounds.append((total, parts))
    kernels, totals, outside = {}, [], []
    for round_index, (total, parts) in enumerate(rounds):
        summed = {}
        for name, nbytes, flops, t in parts:
            entry = summed.setdefault(name, dict(name=name, launches=0, nbytes=0, flops=0, seconds=0.0))
            entry["launches"] += 1
            entry["nbytes"] += nbytes
            entry["flops"] += flops
            entry["seconds"] += seconds(t)
        for name, entry in summed.items():
            kernels.setdefault(name, dict(entry, times=[]))["times"].append(entry["seconds"])
        totals.append(seconds(total))
        outside.append(totals[-1] - sum(entry["seconds"] for entry in summed.values()))
    for entry in kernels.values():
        entry["seconds"] = statistics.median(entry.pop("times"))
    return statistics.median(totals), statistics.median(outside), list(kernels.values())


def median_seconds(fn, repeats, warmup=3, gpu=False):
    """The median time of ``fn`` alone (see ``interleaved_medians``)."""
    return interleaved_medians({"fn": fn}, repeats, warmup, gpu)["fn"][0]


NETWORKS = {"alexnet": "2012, 227 px", "alexnet_owt": "torchvision's, 224 px", "alexnet_small": "width 24, 28 px"}


def step_benchmark_parser(doc, model, batch_size, networks=("alexnet", "alexnet_small")):
    """The arguments every training-step benchmark takes: --model (one of ``networks``), --batch-size,
    --repeats, --out."""
    import argparse
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    described = ", ".join(f"{name} ({NETWORKS[name]})" for name in networks)
    p.add_argument("--model", default=model, choices=networks, help=f"network: {described} (default: {model})")
    p.add_argument("--batch-size", type=positive_int, default=batch_size,
                   help=f"images per step (default: {batch_size or '128 on a GPU, 32 on the CPU'})")
    p.add_argument("--repeats", type=positive_int, default=7, help="timed rounds (default: 7)")
    add_out_argument(p)
    return p


def add_kernel_version_argument(parser):
    """--kernel-version FAMILY=VERSION (repeatable): the kernels of a family in another version than
    the layers launch by default (``minicnn.kernel_versions``), to time a step or a layer as an
    earlier run did; the results files record every family's version. ``use_kernel_versions(args)``
    applies them."""
    from minicnn.kernel_versions import DEFAULTS
    parser.add_argument("--kernel-version", type=kernel_version, action="append", default=[], metavar="FAMILY=V",
                        help="run a kernel family of minicnn's CUDA kernels (on the GPU, or under the simulator) in "
                             "another version than the layers launch, e.g. im2col=5 (repeatable; the families and "
                             "their defaults: " + ", ".join(f"{f}={v}" for f, v in DEFAULTS.items()) + ")")


def use_kernel_versions(args):
    """Set the versions --kernel-version chose, for the rest of the process; returns what the
    results files' names add for them ("-im2col5-maxpool5"; "" for the defaults)."""
    from minicnn import kernel_versions
    for family, version in args.kernel_version:
        kernel_versions.set_version(family, version)
    return "".join(f"-{family}{version}" for family, version in args.kernel_version)


def add_conv_algorithm_argument(parser, cpu=False):
    """--conv-algorithm auto|im2col|winograd (and fft with ``cpu``, for a benchmark that runs on the
    CPU): how minicnn's convolutions compute (``Conv2D(algorithm=...)``); ``use_conv_algorithm``
    applies it to a layer or a network."""
    parser.add_argument("--conv-algorithm", choices=("auto", "im2col", "winograd") + (("fft",) if cpu else ()),
                        default="auto",
                        help="minicnn's convolutions: auto, as the layers choose (Winograd's F(2x2, 3x3) for 3x3 "
                             "ones of stride 1 where its GEMMs are large enough: on the CPU 128 channels a group, "
                             "on the GPU 256, AlexNet's conv3"
                             + ("; on the CPU the FFT for 5x5 ones of stride 1 from 32 channels a group and 8 "
                                "images, AlexNet's conv2" if cpu else "")
                             + "; else im2col and a GEMM); im2col, every convolution; winograd, the 3x3 ones of "
                               "stride 1 by F(2x2, 3x3) (on the GPU kernels/winograd.cu's transforms around the "
                               "GEMMs)"
                             + ("; fft, every one of stride 1 by the FFT (the CPU only)" if cpu else "")
                             + " (default: auto)")


def use_conv_algorithm(model, algorithm):
    """Set ``algorithm`` on every Conv2D of ``model`` (a layer or a network) that can take it: every
    one for "im2col", those of stride 1 for "fft", of 3x3 and stride 1 for "winograd"; returns what
    the results files' names add for it ("-winograd"; "" for auto)."""
    from minicnn.layers import Conv2D, fft, winograd
    if algorithm == "auto":
        return ""
    applies = {"im2col": lambda kernel, stride: True, "winograd": winograd.applies, "fft": fft.applies}[algorithm]
    for _, layer in model.named_leaves() if hasattr(model, "named_leaves") else [(None, model)]:
        if isinstance(layer, Conv2D) and applies(layer.kernel_size, layer.stride):
            layer.algorithm = algorithm
    return "-" + algorithm


def add_out_argument(parser):
    """--out, the folder of a benchmark's results files: benchmarks/results unless told otherwise,
    checked (made, and a file written in it) when the arguments are parsed."""
    parser.add_argument("--out", type=output_folder, default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                          "results"),
                        help="folder for the results files (default: benchmarks/results)")


def progress(runs, desc):
    """Iterate over a benchmark's ``runs`` (a list) under a tqdm bar on stderr (done, elapsed, ETA),
    drawn only on a terminal: gpu_all.sh's logs and the tests get none. Yields (say, run): ``say``
    prints a line of results above the bar, flushed at once (a log keeps it should the run be cut short)."""
    from tqdm import tqdm

    def say(line):
        tqdm.write(line, file=sys.stdout)
        sys.stdout.flush()
    for run in tqdm(runs, desc=desc, unit="run", disable=None, leave=False, file=sys.stderr):
        yield say, run


def machine_description():
    """The processor, its cores, NumPy's BLAS and the kernels it chose, the versions: what a CPU
    figure depends on besides the code (``minicnn.environment``)."""
    return describe_line(describe("cpu"))


def free_stem(folder, stem):
    """``stem``, or where ``folder`` holds results files of that name already (a run of the same
    kind the same day, perhaps committed and quoted), the first of ``stem``-2, ``stem``-3, ...
    that it does not: a second run never overwrites the first's files."""
    names = itertools.chain([stem], (f"{stem}-{n}" for n in itertools.count(2)))
    return next(name for name in names
                if not any(os.path.exists(os.path.join(folder, name + ext)) for ext in (".md", ".json")))


def write_results(folder, stem, table_markdown, payload, rewrite=False):
    """Write ``stem``.md and ``stem``.json into ``folder``, under ``free_stem``'s name unless
    ``rewrite`` (a run rewriting its own files: benchmarks/kernels.py's partial results); return
    their paths. Each file is replaced whole (``minicnn.checkpoint.atomic_write``): a run killed
    while writing, or rewriting its partial results, leaves the previous version."""
    stem = stem if rewrite else free_stem(folder, stem)
    md, js = os.path.join(folder, stem + ".md"), os.path.join(folder, stem + ".json")
    atomic_write(md, lambda f: f.write((table_markdown + "\n").encode()))
    atomic_write(js, lambda f: f.write(json.dumps(payload, indent=2).encode()))
    return md, js
