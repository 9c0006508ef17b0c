"""The one way minicnn's benchmarks time things on the CPU: warm-up, then the median of repeats,
with competitors interleaved repeat by repeat so that a noisy machine slows both alike."""
import json
import os
import platform
import statistics
import time


def interleaved_medians(fns, repeats=7, warmup=2):
    """Run every function of ``fns`` (name -> callable) ``warmup`` times, then ``repeats`` rounds
    of one call each, alternating; return name -> (median seconds, all times)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: (statistics.median(ts), ts) for name, ts in times.items()}


def step_benchmark_parser(doc, model, batch_size):
    """The arguments every training-step benchmark takes: --model, --batch-size, --repeats, --out."""
    import argparse
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=model, choices=("alexnet", "alexnet_small"),
                   help=f"network: alexnet (2012, 227 px) or alexnet_small (width 24, 28 px) (default: {model})")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"images per step (default: {batch_size})")
    p.add_argument("--repeats", type=int, default=7, help="timed rounds (default: 7)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                   help="folder for the .md and .json results (default: benchmarks/results)")
    return p


def machine_description():
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_results(folder, stem, table_markdown, payload):
    """Write ``stem``.md and ``stem``.json into ``folder``; return their paths."""
    os.makedirs(folder, exist_ok=True)
    md, js = os.path.join(folder, stem + ".md"), os.path.join(folder, stem + ".json")
    with open(md, "w") as f:
        f.write(table_markdown + "\n")
    with open(js, "w") as f:
        json.dump(payload, f, indent=2)
    return md, js
