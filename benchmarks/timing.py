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
