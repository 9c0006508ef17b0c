#!/usr/bin/env python3
"""How every kernel's loads and stores reach memory, without a GPU: the simulator's traffic.

Each AlexNet layer of benchmarks/kernels.py runs forward and backward under the kernel
simulator with its memory traffic recorded (minicnn/simulator/traffic.py), in every numbered
version of its kernels. Per launch: the 32-byte sectors each warp request moves (4 is ideal for a
warp of 32 floats), the efficiency (bytes the threads asked for over bytes moved), the megabytes
the requests move and the distinct megabytes they touch, and for shared memory the passes its
requests take through the 32 banks over the least (1.00 without bank conflicts). Per layer and
pass: the total moved against the least a pass must move (its input and output, and their
gradients), which is what the fraction of the copy bandwidth in benchmarks/kernels.py measures
on a GPU.

A model, not a measurement: caches are not modelled (a sector re-read by a later request counts
again, which an L1 hit would spare), and the simulated kernels are compiled by g++, not nvcc.
The GEMMs are cuBLAS's on a GPU (NumPy's here) and are not counted.

    python benchmarks/kernel_traffic.py                         # every layer, every version, batch 8
    python benchmarks/kernel_traffic.py --layers pool1,lrn1+pool1 --batch-size 1

Writes a Markdown table, a JSON file and a chart (-passes.png: each version's traffic against
the least, layer by layer) to benchmarks/results/ (--out); ``--chart RUN.json`` draws the chart of
a committed run again without counting anything.
"""
import argparse
import contextlib
import datetime
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kernels import LAYERS, VERSIONED, make_layer, winograd_applies  # noqa: E402
from timing import add_conv_algorithm_argument, add_out_argument, progress, use_conv_algorithm, write_results  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minicnn import kernel_versions  # noqa: E402
from minicnn.arguments import positive_int, run_script, user_path  # noqa: E402
from minicnn.backend import to_device  # noqa: E402
from minicnn.simulator import compiler_description, traffic  # noqa: E402


def least_bytes(x, y):
    """What a pass of a layer without weights must move at the least: the forward reads x and
    writes y, the backward reads dL/dy and writes dL/dx. (Layers with weights also run GEMMs,
    which are not counted, so they have no such total.)"""
    return {"forward": x.nbytes + y.nbytes, "backward": y.nbytes + x.nbytes}


def layer_family(name, conv_algorithm="auto"):
    """The kernel family whose versions layer ``name``'s rows run: with ``conv_algorithm``
    "winograd" (--conv-algorithm), Winograd's transforms for the 3x3 convs of stride 1 (conv3-5),
    else the family of its kind (VERSIONED), or None."""
    kind, cfg = LAYERS[name]
    if kind == "conv" and conv_algorithm == "winograd" and winograd_applies(cfg):
        return "winograd"
    return VERSIONED.get(kind)


def run_passes(name, version, batch, device, around, conv_algorithm="auto"):
    """Run AlexNet layer ``name`` (benchmarks/kernels.py's LAYERS) at ``batch`` on ``device``,
    forward then backward, in ``version`` of its kernels (None: the default), each pass inside
    ``around(pass_)`` (a context manager); the same seeded input and gradient on every device.
    ``conv_algorithm`` as --conv-algorithm. Returns (layer, x, y, {pass_: what ``around`` yielded})."""
    kind, cfg = LAYERS[name]
    rng = np.random.default_rng(len(name))
    family = layer_family(name, conv_algorithm)
    layer, x = make_layer(kind, cfg, batch, rng)
    use_conv_algorithm(layer, conv_algorithm)
    layer.to(device)
    within = {}
    with kernel_versions.use(family, version) if version else contextlib.nullcontext():
        with around("forward") as within["forward"]:
            y = layer.forward(to_device(x, device), train=True)
        dout = rng.standard_normal(y.shape).astype(np.float32)
        with around("backward") as within["backward"]:
            layer.backward(to_device(dout, device))
    return layer, x, y, within


def record_layer(name, version, batch, conv_algorithm="auto"):
    """Launch rows and the two pass totals of layer ``name`` in ``version`` (None: unversioned)."""
    layer, x, y, logs = run_passes(name, version, batch, "sim", lambda pass_: traffic.recording(), conv_algorithm)
    forward, backward = logs["forward"], logs["backward"]
    least = None if layer.params else least_bytes(x, y)
    label = name if version is None else f"{name} v{version}"
    rows, totals = [], []
    for pass_, log in (("forward", forward), ("backward", backward)):
        for t in log:
            rows.append(dict(layer=label, pass_=pass_, kernel=t.kernel, **fields(t.loads, "loads"),
                             **fields(t.stores, "stores"), **shared_fields(t.shared_loads, "shared_loads"),
                             **shared_fields(t.shared_stores, "shared_stores")))
        moved = sum(t.loads.moved_bytes + t.stores.moved_bytes for t in log)
        touched = sum(t.loads.touched_bytes + t.stores.touched_bytes for t in log)
        totals.append(dict(layer=label, pass_=pass_, launches=len(log), moved_mb=moved / 1e6,
                           touched_mb=touched / 1e6, least_mb=least[pass_] / 1e6 if least else None,
                           moved_over_least=moved / least[pass_] if least else None))
    return rows, totals


def fields(a, kind):
    """The results file's columns of one launch's loads (kind "loads") or stores (Accesses a)."""
    return {f"{kind}_sectors_per_request": round(a.sectors_per_request, 2),
            f"{kind}_efficiency": round(a.efficiency, 4), f"{kind}_moved_mb": a.moved_bytes / 1e6,
            f"{kind}_touched_mb": a.touched_bytes / 1e6}


def shared_fields(a, kind):
    """The results file's columns of one launch's shared-memory loads (kind "shared_loads") or
    stores (SharedAccesses a): requests, bank passes (wavefronts) and passes over the least."""
    return {f"{kind}_requests": a.requests, f"{kind}_wavefronts": a.wavefronts,
            f"{kind}_conflict": round(a.conflict, 3) if a.requests else None}


def conflict_cell(conflict):
    return "-" if conflict is None else f"{conflict:.2f}"


def version_path(passes, pass_name):
    """{layer: [MB moved over the least, version 1 first]} of the layers whose kernels have
    versions and whose pass has a least (no GEMM: the memory-bound layers), from a run's
    ``passes``, in the run's order. A version that rewrote none of the layer's kernels repeats the
    one before."""
    path = {}
    for t in passes:
        layer, _, version = t["layer"].rpartition(" v")
        if layer and t["pass_"] == pass_name and t["moved_over_least"]:
            path.setdefault(layer, []).append(t["moved_over_least"])
    return path


def save_passes_chart(run, path):
    """Bars of each version's MB moved over the least a pass must move, forward and backward, for
    every memory-bound layer of ``run`` (a results payload), on a log scale: the path from
    version 1 to the newest, in the model's count. Returns ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 6.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 1)
    newest = max(len(v) for p in ("forward", "backward") for v in version_path(run["passes"], p).values())
    for ax, pass_name in zip(axes, ("forward", "backward")):
        versions = version_path(run["passes"], pass_name)
        width, labelled = 0.8 / newest, set()
        for column, (layer, ratios) in enumerate(versions.items()):
            for v, ratio in enumerate(ratios):
                x = column + (v - (len(ratios) - 1) / 2) * width
                ax.bar(x, ratio, width * 0.95, color=f"C{v}", label=None if v in labelled else f"version {v + 1}")
                ax.annotate(f"{ratio:.1f}", (x, ratio), ha="center", va="bottom", fontsize=6)
                labelled.add(v)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_ylim(0.8, 4 * max(max(r) for r in versions.values()))   # room for the legend above the bars
        ax.set_xticks(range(len(versions)), list(versions))
        ax.set_ylabel("MB moved / the least")
        ax.set_title(f"{pass_name}: each version's traffic over what the pass must move (1 = the least)", fontsize=10)
        ax.legend(fontsize=8, ncol=newest, loc="upper left")
        ax.grid(axis="y", alpha=0.3, which="both")
    fig.suptitle(f"The kernels' memory traffic under the simulator: AlexNet layers, batch {run['batch_size']}, "
                 f"float32, no caches ({run['date']})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="images per batch (default: 8, the least that keeps im2col's rows of N*OH*OW "
                        "floats on 32-byte boundaries as at batch 128; the simulator is slow)")
    p.add_argument("--layers", default=None, help="comma-separated layer names (default: all)")
    p.add_argument("--chart", type=user_path, metavar="RUN.json",
                   help="draw the chart of a results file of this benchmark again (RUN-passes.png beside it) and "
                        "count nothing")
    add_conv_algorithm_argument(p)
    add_out_argument(p)
    args = p.parse_args(argv)
    if args.chart:
        for flag, given in (("--batch-size", args.batch_size), ("--layers", args.layers),
                            ("--conv-algorithm", None if args.conv_algorithm == "auto" else args.conv_algorithm)):
            if given is not None:
                p.error(f"--chart draws a results file again and counts nothing: drop {flag}")
        try:
            with open(args.chart) as f:
                run = json.load(f)
            run["passes"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            p.error(f"--chart: {args.chart} is not a results file of this benchmark ({type(exc).__name__}: {exc})")
        print("written:", save_passes_chart(run, os.path.splitext(args.chart)[0] + "-passes.png"))
        return
    args.batch_size = args.batch_size or 8
    names = [n.strip() for n in (args.layers or ",".join(LAYERS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in LAYERS]
    if unknown:
        p.error(f"unknown layers {unknown}; known: {', '.join(LAYERS)}")
    runs = []   # (layer name, version or None): every layer run, in order
    for name in names:
        family = layer_family(name, args.conv_algorithm)
        runs += [(name, version) for version in (sorted(kernel_versions.VERSIONS[family]) if family else [None])]
    rows, totals = [], []
    for say, (name, version) in progress(runs, "layer runs recorded"):
        launch_rows, pass_totals = record_layer(name, version, args.batch_size, args.conv_algorithm)
        rows += launch_rows
        totals += pass_totals
        for t in pass_totals:
            say(f"{t['layer']} {t['pass_']}: {t['launches']} launches move {t['moved_mb']:.2f} MB"
                + (f" ({t['moved_over_least']:.2f}x the least, {t['least_mb']:.2f} MB)" if t["least_mb"] else ""))
    today = datetime.date.today().isoformat()
    compiler = compiler_description()
    table = (f"Memory traffic of minicnn's kernels under the simulator: AlexNet layers, batch {args.batch_size}, "
             f"float32, 32-byte sectors, warps of 32 threads, no caches; kernels compiled by {compiler} "
             f"({today}). The GEMMs are not counted."
             + ("" if args.conv_algorithm == "auto" else f" Convolutions: --conv-algorithm {args.conv_algorithm}.")
             + "\n\n"
             "Per layer and pass:\n\n"
             "| layer | pass | launches | MB moved | MB touched | least MB | moved / least |\n"
             "|---|---|---|---|---|---|---|\n"
             + "".join(f"| {t['layer']} | {t['pass_']} | {t['launches']} | {t['moved_mb']:.2f} | "
                       f"{t['touched_mb']:.2f} | " + (f"{t['least_mb']:.2f} | {t['moved_over_least']:.2f}x |\n"
                                                       if t["least_mb"] else "- | - |\n")
                       for t in totals)
             + "\nPer launch (sectors per request: 4 is ideal for 32 floats; efficiency: bytes asked for over "
               "bytes moved; shared memory: the passes its requests take through the 32 banks over the least "
               "as many words could take, 1.00 without bank conflicts, - where the kernel has none):\n\n"
               "| layer | pass | kernel | loads: sectors/request | efficiency | MB moved | stores: sectors/request "
               "| efficiency | MB moved | shared loads: passes / least | shared stores: passes / least |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|\n"
             + "".join(f"| {r['layer']} | {r['pass_']} | {r['kernel']} | {r['loads_sectors_per_request']:.1f} | "
                       f"{r['loads_efficiency']:.0%} | {r['loads_moved_mb']:.2f} | "
                       f"{r['stores_sectors_per_request']:.1f} | {r['stores_efficiency']:.0%} | "
                       f"{r['stores_moved_mb']:.2f} | {conflict_cell(r['shared_loads_conflict'])} | "
                       f"{conflict_cell(r['shared_stores_conflict'])} |\n" for r in rows))
    print(table)
    algorithm = "" if args.conv_algorithm == "auto" else f"-{args.conv_algorithm}"
    stem = f"kernel-traffic-b{args.batch_size}{algorithm}-{today}"
    run = dict(batch_size=args.batch_size, date=today, compiler=compiler, passes=totals, launches=rows,
               conv_algorithm=args.conv_algorithm)
    written = list(write_results(args.out, stem, table, run))
    if any(t["moved_over_least"] for t in totals):
        written.append(save_passes_chart(run, written[0][:-len(".md")] + "-passes.png"))
    else:   # the chart draws the memory-bound layers' traffic over their least: none here
        print("no chart: no layer without weights was counted (the chart is of their traffic over the least)")
    print("written:", ", ".join(written))


if __name__ == "__main__":
    run_script(main)
