#!/usr/bin/env python3
"""Kernel microbenchmarks: every AlexNet layer, forward and backward, minicnn's kernels against
the libraries on the same device, in the spirit of llm.c's dev/cuda and soumith's
convnet-benchmarks: cuDNN's convolutions through PyTorch (torch.backends.cudnn.benchmark on),
cuDNN's max pooling and LRN through libcudnn itself (benchmarks/cudnn.py, ctypes), cuBLAS's GEMMs
for the fully connected layers and PyTorch's own kernels for ReLU and dropout. The fused layers
(minicnn/fusion.py) have rows of their own beside the unfused ones, the path from one version to
the next: conv1+relu1 and conv2+relu2 against cuDNN's convolution then ReLU, fc6+relu6 and
fc7+relu7 against cuBLAS's product then ReLU, lrn1+pool1 and lrn2+pool2 against cuDNN's LRN then
cuDNN's max-pool.

    python benchmarks/kernels.py                              # on the GPU, batch 128, float32, TF32 off
    python benchmarks/kernels.py --tf32                       # TF32 allowed on both sides
    python benchmarks/kernels.py --gemm tiled --layers conv2,conv3,fc6,fc7   # minicnn's own GEMM
    python benchmarks/kernels.py --versions --layers pool1,lrn1,lrn1+pool1    # every numbered version
    python benchmarks/kernels.py --versions --family bias --layers conv1,conv2   # one family's versions
    python benchmarks/kernels.py --versions --family winograd --conv-algorithm winograd --layers conv3,conv4,conv5
                                                              # Winograd's transforms, each version
    python benchmarks/kernels.py --breakdown --layers conv1,conv2             # each kernel of a layer
    python benchmarks/kernels.py --device sim --batch-size 1 --verify-only   # the harness on a CPU
    python benchmarks/kernels.py --device sim --batch-size 1 --repeats 1 --timed --layers pool5,relu1
                                                              # ... and its report and files (CPU times)

Every result, minicnn's and the reference's, is first checked against the reference function run
in float64 (forward output, input gradient and, for layers with weights, the weight gradient):
a float32 library is not the truth (on an H100, the algorithm cuDNN picked for conv2 was off by
1.5e-2 where minicnn was within 1e-5). A minicnn layer off by more than 1e-4 (1e-2 with TF32) is
reported and not timed. Under the simulator (no GPU, no cuDNN) the references are PyTorch's CPU
functions.
Timing on the GPU: CUDA events, warm-up, the L2 cache flushed (a 256 MiB write) before every
repeat, the median of --repeats, and the GPU's work alone: the stream is held (more writes of the
flush buffer queued ahead) until the layer's calls have queued all their work, so that the host's
time (Python, the launches' checks, PyTorch's autograd), which for a small layer can exceed its
kernels', is neither side's (timing.StreamHold). A last column gives that host time, each side's
median time to queue the work while the GPU was busy: in a training step a layer takes the longer
of the two (benchmarks/launch_overhead.py times a single launch's part). Each row also gives the
fraction of the device's limit: memory-bound layers as the least bytes they must move (x and y, the
gradients' counterparts, and what each backward reads besides: formula_bytes) per second over the
measured device-to-device copy bandwidth, GEMM-bound ones (convolutions, fully connected; 2 FLOPs
per multiply-add, the backward counted as twice the forward) as FLOP/s over the measured cuBLAS
SGEMM rate. --breakdown adds a table that times each kernel launch and matrix product within a
layer's forward and backward (a conv layer is im2col, a GEMM per group and a layout kernel
forward), so that the fraction of the limit is known kernel by kernel.
The results files (benchmarks/results/gpu-kernels-*.md and .json) are rewritten after every layer
run, marked partial until the run ends, so that a run cut short keeps what it measured. The
finished run draws its charts beside them: -layers.png, each layer's speed over the reference's,
and for --versions -versions.png, each family's versions layer by layer, speed and fraction of the
limit. --chart draws a results file's charts again, on any machine:

    python benchmarks/kernels.py --chart benchmarks/results/gpu-kernels-NVIDIA_H200-b128-2026-12-04.json
"""
import argparse
import contextlib
import datetime
import json
import os
import re
import sys
import textwrap

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import (add_conv_algorithm_argument, add_kernel_version_argument, add_out_argument,  # noqa: E402
                    free_stem, interleaved_medians, launch_medians, machine_description, median_seconds, progress,
                    use_conv_algorithm, use_kernel_versions, write_results)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minicnn import LRN, Conv2D, Dense, Dropout, LRNMaxPool, MaxPool2D, ReLU, gemm, kernel_versions  # noqa: E402
from minicnn.arguments import positive_int, run_script, user_path  # noqa: E402
from minicnn.backend import check_device, to_device, to_numpy  # noqa: E402
from minicnn.environment import gpu_name, gpu_software, gpu_words  # noqa: E402
from minicnn.launch import cuda_multiprocessors  # noqa: E402

# name: (kind, settings) for AlexNet's layers (minicnn.models.alexnet); shapes per image.
LAYERS = {
    "conv1": ("conv", dict(c=3, o=96, k=11, s=4, p=0, g=1, hw=227)),
    "conv2": ("conv", dict(c=96, o=256, k=5, s=1, p=2, g=2, hw=27)),
    "conv3": ("conv", dict(c=256, o=384, k=3, s=1, p=1, g=1, hw=13)),
    "conv4": ("conv", dict(c=384, o=384, k=3, s=1, p=1, g=2, hw=13)),
    "conv5": ("conv", dict(c=384, o=256, k=3, s=1, p=1, g=2, hw=13)),
    # the ReLU fused into the conv (minicnn/fusion.py) against cuDNN's conv, then PyTorch's ReLU
    "conv1+relu1": ("conv", dict(c=3, o=96, k=11, s=4, p=0, g=1, hw=227, relu=True)),
    "conv2+relu2": ("conv", dict(c=96, o=256, k=5, s=1, p=2, g=2, hw=27, relu=True)),
    "pool1": ("pool", dict(c=96, hw=55)),
    "pool2": ("pool", dict(c=256, hw=27)),
    "pool5": ("pool", dict(c=256, hw=13)),
    "lrn1": ("lrn", dict(c=96, hw=55)),
    "lrn2": ("lrn", dict(c=256, hw=27)),
    # LRN and max-pool fused (minicnn/fusion.py) against cuDNN's LRN then cuDNN's max-pool
    "lrn1+pool1": ("lrn_pool", dict(c=96, hw=55)),
    "lrn2+pool2": ("lrn_pool", dict(c=256, hw=27)),
    "relu1": ("relu", dict(c=96, hw=55)),
    "dropout6": ("dropout", dict(features=4096)),
    "fc6": ("dense", dict(i=9216, o=4096)),
    "fc7": ("dense", dict(i=4096, o=4096)),
    "fc8": ("dense", dict(i=4096, o=1000)),
    # the ReLU fused into the fully connected layer against cuBLAS's product, then PyTorch's ReLU
    "fc6+relu6": ("dense", dict(i=9216, o=4096, relu=True)),
    "fc7+relu7": ("dense", dict(i=4096, o=4096, relu=True)),
}


# the kinds of layer whose kernels have numbered versions -> their family in minicnn.kernel_versions
VERSIONED = {"conv": "im2col", "pool": "maxpool", "lrn": "lrn", "lrn_pool": "lrn_maxpool", "relu": "relu"}
# with --gemm tiled, the versions that --versions runs in the conv and fully connected rows: the GEMM's
TILED_VERSIONED = {"conv": "gemm_tiled", "dense": "gemm_tiled"}


def versioned_kinds(gemm_name):
    """{kind of layer: the family whose versions --versions runs on its rows} with ``gemm_name``
    (--gemm): the tiled GEMM's for the conv and fully connected rows with "tiled"."""
    return dict(VERSIONED, **TILED_VERSIONED) if gemm_name == "tiled" else VERSIONED


# --family: the layers whose rows can run each family's versions (the others run once)
FAMILY_KINDS = {"bias": ("conv",), "gemm_tiled": ("conv", "dense"), "im2col": ("conv",), "lrn": ("lrn",),
                "lrn_maxpool": ("lrn_pool",), "maxpool": ("pool",), "relu": ("relu",), "winograd": ("conv",)}


def winograd_applies(cfg):
    """Whether a conv row of LAYERS can take Winograd's F(2x2, 3x3): a 3x3 window of stride 1."""
    from minicnn.layers.winograd import applies
    return applies((cfg["k"], cfg["k"]), (cfg["s"], cfg["s"]))


def make_layer(kind, cfg, batch, rng):
    """(minicnn layer, input (N, ...) float32) of one entry of LAYERS, on the CPU."""
    if kind == "conv":
        layer = Conv2D(cfg["c"], cfg["o"], cfg["k"], cfg["s"], cfg["p"], cfg["g"], rng=rng,
                       relu=cfg.get("relu", False))
        x = rng.standard_normal((batch, cfg["c"], cfg["hw"], cfg["hw"])).astype(np.float32)
    elif kind == "dense":
        layer = Dense(cfg["i"], cfg["o"], rng=rng, relu=cfg.get("relu", False))
        x = rng.standard_normal((batch, cfg["i"])).astype(np.float32)
    else:
        shape = (batch, cfg["features"]) if kind == "dropout" else (batch, cfg["c"], cfg["hw"], cfg["hw"])
        x = rng.standard_normal(shape).astype(np.float32)
        layer = {"pool": lambda: MaxPool2D(3, stride=2), "lrn": lambda: LRN(5, 1e-4, 0.75, 2.0),
                 "lrn_pool": lambda: LRNMaxPool(LRN(5, 1e-4, 0.75, 2.0), MaxPool2D(3, stride=2)),
                 "relu": ReLU, "dropout": lambda: Dropout(0.5)}[kind]()
    return layer, x


def build(kind, cfg, batch, rng, device):
    """(minicnn layer, input (N, ...) float32, the reference function of (x, *weights) on torch
    tensors, its name, FLOPs of the forward)."""
    import torch.nn.functional as F
    layer, x = make_layer(kind, cfg, batch, rng)
    if kind in ("conv", "dense"):
        relu = cfg.get("relu", False)
        if kind == "conv":
            product = lambda x, w, b: F.conv2d(x, w, b, cfg["s"], cfg["p"], 1, cfg["g"])  # noqa: E731
            reference = "cuDNN (PyTorch)"
        else:
            product = lambda x, w, b: F.linear(x, w, b)  # noqa: E731
            reference = "cuBLAS (PyTorch)"
        fn = (lambda x, w, b: F.relu(product(x, w, b))) if relu else product  # noqa: E731
        if relu:
            fn.before_relu = product
            reference += " + ReLU"
        flops = 2 * batch * layer.macs(x.shape)
    else:
        fn = {
            "pool": lambda x: F.max_pool2d(x, 3, 2),
            "lrn": lambda x: F.local_response_norm(x, 5, 1e-4, 0.75, 2.0),
            "lrn_pool": lambda x: F.max_pool2d(F.local_response_norm(x, 5, 1e-4, 0.75, 2.0), 3, 2),
            "relu": F.relu,
            "dropout": lambda x: F.dropout(x, 0.5, True),
        }[kind]
        flops = 0
        reference = "PyTorch"
        if device == "cuda" and kind in ("pool", "lrn", "lrn_pool"):
            import cudnn
            torch_fn = fn
            fn = {"pool": lambda x: cudnn.max_pool2d(x, 3, 2),
                  "lrn": lambda x: cudnn.local_response_norm(x, 5, 1e-4, 0.75, 2.0),
                  "lrn_pool": lambda x: cudnn.max_pool2d(cudnn.local_response_norm(x, 5, 1e-4, 0.75, 2.0), 3, 2)}[kind]
            fn.float64 = torch_fn
            reference = "cuDNN (ctypes)"
    if device != "cuda":
        reference = "PyTorch (CPU)"
    return layer, x, fn, reference, flops


def torch_tensor(a, device):
    import torch
    return torch.from_dlpack(a) if device == "cuda" else torch.from_numpy(np.ascontiguousarray(to_numpy(a)))


def verify(name, kind, layer, x, fn, device, rng, tolerance):
    """Check minicnn's forward and backward, and the reference's, against the reference function
    in float64 (``fn.float64`` where the reference has no float64 version: PyTorch's own).
    Returns (minicnn's worst relative error, the reference's, max-pool winners that differ).

    Max pooling's gradient jumps where two values of a window are within rounding of each other:
    LRN values computed in another order can pick the other winner, and the whole gradient then
    goes to the other pixel. Such flips (at most 1e-5 of the input gradient's elements) are
    counted and left out of the error; the forward output must still agree everywhere."""
    import torch
    xd = to_device(x, device)
    y = layer.forward(xd, train=True)
    dout = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    dx = layer.backward(to_device(dout, device))
    if kind == "dropout":  # different generators: check the rule instead (kept units scaled by 2)
        yx, dxx = to_numpy(y), to_numpy(dx)
        kept = yx != 0
        return max(float(np.abs(yx[kept] - 2 * x[kept]).max()),
                   float(np.abs(dxx - 2 * dout * kept).max())) / float(np.abs(x).max()), 0.0, 0

    def run(function, dtype):
        tx = torch_tensor(xd, device).detach().to(dtype).requires_grad_(True)
        weights = [torch_tensor(to_device(p.data, device), device).detach().to(dtype).requires_grad_(True)
                   for p in layer.params.values()]
        ty = function(tx, *weights)
        ty.backward(torch_tensor(to_device(dout, device), device).to(dtype))
        return [t.detach().cpu().numpy().astype(np.float64) for t in [ty, tx.grad] + [w.grad for w in weights]]

    reference64 = getattr(fn, "float64", fn)
    if hasattr(fn, "before_relu"):
        # ReLU's gradient jumps at 0: where float32 and float64 round a pre-activation near 0 to
        # opposite signs, the whole gradient through it differs. The float64 reference takes the
        # float32 result's own ReLU mask, so that only the arithmetic is compared.
        mask = torch_tensor(to_device((to_numpy(y) > 0).astype(np.float64), device), device)
        reference64 = lambda *args: fn.before_relu(*args) * mask  # noqa: E731
    exact = run(reference64, torch.float64)
    theirs = run(fn, torch.float32)
    mine = [to_numpy(a).astype(np.float64) for a in [y, dx] + [p.grad for p in layer.params.values()]]
    flips = 0

    def error(values):
        nonlocal flips
        worst = 0.0
        for index, (a, b) in enumerate(zip(values, exact)):
            scale = max(np.abs(b).max(), 1e-30)
            off = np.abs(a - b) > tolerance * scale
            if index == 1 and kind in ("pool", "lrn_pool") and off.sum() <= max(2, 1e-5 * off.size):
                flips = max(flips, int(off.sum()))
                a = np.where(off, b, a)
            worst = max(worst, float(np.abs(a - b).max() / scale))
        return worst
    return error(mine), error(theirs), flips


def gpu_timer(repeats):
    """median_ms(fn) -> (the median GPU time of fn's work, the median time the host took to queue
    it), in milliseconds: timing.interleaved_medians on the GPU, the stream held until fn has
    queued its work, so that neither time holds the other."""
    def median_ms(fn):
        host = {}
        gpu = interleaved_medians({"fn": fn}, repeats, warmup=3, gpu=True, hold=True, host=host)["fn"][0]
        return gpu * 1e3, host["fn"] * 1e3
    return median_ms


def host_cell(row):
    """A row's host times, minicnn's and the reference's ("-" under the simulator, where the
    times are the host's already)."""
    if row.get("minicnn_host_ms") is None:
        return "-"
    return f"{row['minicnn_host_ms']:.3f}, {row['reference_host_ms']:.3f}"


def cpu_timer(repeats):
    """median_ms(fn) -> (the median time of fn in milliseconds, None): under the simulator the
    host's time is all there is."""
    return lambda fn: (median_seconds(fn, repeats) * 1e3, None)


def device_limits(median_ms, device="cuda"):
    """Measured copy bandwidth (bytes/s) and SGEMM rate (FLOP/s) of the device: the current GPU's
    and cuBLAS's, or under the simulator the CPU's and NumPy's BLAS (smaller arrays)."""
    if device == "cuda":
        import cupy as xp
        copied, side = 512 * 2 ** 20, 8192
    else:
        xp, copied, side = np, 64 * 2 ** 20, 1024
    a = xp.empty(copied // 4, dtype=np.float32)
    b = xp.empty_like(a)
    copy_ms, _ = median_ms(lambda: b.__setitem__(Ellipsis, a))
    m = xp.asarray(np.random.default_rng(0).standard_normal((side, side)), dtype=np.float32)
    gemm_ms, _ = median_ms(lambda: xp.matmul(m, m))
    return 2 * a.nbytes / (copy_ms / 1e3), 2 * side ** 3 / (gemm_ms / 1e3)


def formula_bytes(kind, x_bytes, y_bytes):
    """The least memory traffic of a memory-bound layer's forward and forward+backward, in bytes:
    the forward reads x and writes y; the backward reads dL/dy (y's size), writes dL/dx (x's) and
    reads what its formula needs besides: ReLU y (its mask), dropout nothing (its mask is drawn again
    from the counter-based generator, never stored), max-pool and LRN x and y (the winners, the
    scale). The fraction of the copy bandwidth is this over the time: a count that gave ReLU x to
    read as well put its version 2 at 107% on the H200, where its own arrays give 89%."""
    backward_reads = {"relu": y_bytes, "dropout": 0}.get(kind, x_bytes + y_bytes)
    forward = x_bytes + y_bytes
    return {"forward": forward, "forward+backward": forward + y_bytes + x_bytes + backward_reads}


def reference_step(fn, tx, weights, tdout):
    """step(): the reference's forward and backward as a training step runs them, its gradients
    written afresh like minicnn's: PyTorch adds a leaf's gradient into the ``.grad`` it already has,
    a pass over dL/dx and dL/dw more in every repeat after the first, so each step first sets them
    to None (as ``zero_grad(set_to_none=True)`` does), which costs the GPU nothing."""
    def step():
        for leaf in [tx, *weights]:
            leaf.grad = None
        fn(tx, *weights).backward(tdout)
    return step


def time_layer(label, kind, layer, x, fn, reference, flops, device, rng, median_ms, copy_bw, gemm_rate):
    """The forward and forward+backward rows of one layer: minicnn's time and the reference's, their
    ratio and minicnn's fraction of the device's limit; on the GPU also the time each side's host
    took to queue the work (``minicnn_host_ms``, ``reference_host_ms``; None under the simulator),
    which in a training step bounds a layer whose kernels take less."""
    xd = to_device(x, device)
    tx = torch_tensor(xd, device).detach().requires_grad_(True)
    weights = [torch_tensor(prm.data, device).detach().requires_grad_(True) for prm in layer.params.values()]
    y = layer.forward(xd)
    dout = to_device(rng.standard_normal(y.shape).astype(np.float32), device)
    tdout = torch_tensor(dout, device)
    mine_f, mine_f_host = median_ms(lambda: layer.forward(xd))
    mine_b, mine_b_host = median_ms(lambda: (layer.forward(xd), layer.backward(dout)))
    theirs_f, theirs_f_host = median_ms(lambda: fn(tx, *weights))
    theirs_b, theirs_b_host = median_ms(reference_step(fn, tx, weights, tdout))
    moved = formula_bytes(kind, x.nbytes, y.nbytes)
    rows = []
    for pass_name, mine, theirs, work, mine_host, theirs_host in (
            ("forward", mine_f, theirs_f, flops, mine_f_host, theirs_f_host),
            ("forward+backward", mine_b, theirs_b, 3 * flops, mine_b_host, theirs_b_host)):
        seconds = mine / 1e3
        limit = work / seconds / gemm_rate if work else moved[pass_name] / seconds / copy_bw
        rows.append(dict(layer=label, pass_=pass_name, minicnn_ms=mine, reference=reference,
                         reference_ms=theirs, ratio=theirs / mine, fraction_of_limit=limit,
                         minicnn_host_ms=mine_host, reference_host_ms=theirs_host))
    return rows


def kernel_breakdown(label, layer, x, rng, device, repeats, copy_bw=None, gemm_rate=None):
    """Rows of the time of each kernel (and each matrix product) in one layer's forward and in its
    backward (``timing.launch_medians``), with its share of the pass and its fraction of the
    device's limit: the bytes of its arrays (the least it must move) over the copy bandwidth, or
    for a matrix product its FLOP/s over the SGEMM rate; a last row per pass gives the time
    outside the launches (on the GPU, CuPy's own small operations, the host's time held out;
    under the simulator, Python's too). Without ``copy_bw`` (under the simulator, where the times
    are the CPU's) the fractions are left out."""
    xd = to_device(x, device)
    y = layer.forward(xd)
    dout = to_device(rng.standard_normal(y.shape).astype(np.float32), device)
    gpu = device == "cuda"
    rows = []
    for pass_name, fn, setup in (("forward", lambda: layer.forward(xd), None),
                                 ("backward", lambda: layer.backward(dout), lambda: layer.forward(xd))):
        # under the simulator the times are the CPU's and say nothing of a GPU: no warm-up rounds
        total, outside, kernels = launch_medians(fn, repeats, warmup=2 if gpu else 0, gpu=gpu, setup=setup, hold=gpu)
        for k in kernels:
            fraction = None
            if copy_bw is not None and k["seconds"] > 0:
                fraction = (k["flops"] / k["seconds"] / gemm_rate if k["flops"]
                            else k["nbytes"] / k["seconds"] / copy_bw)
            rows.append(dict(layer=label, pass_=pass_name, kernel=k["name"], launches=k["launches"],
                             ms=k["seconds"] * 1e3, share=k["seconds"] / total, mbytes=k["nbytes"] / 1e6,
                             gflops=k["flops"] / 1e9, fraction_of_limit=fraction))
        rows.append(dict(layer=label, pass_=pass_name, kernel="(outside the launches)", launches=0,
                         ms=outside * 1e3, share=outside / total, mbytes=0.0, gflops=0.0, fraction_of_limit=None))
    return rows


def breakdown_table(rows):
    """The Markdown table of ``kernel_breakdown``'s rows."""
    def limit(r):
        if r["fraction_of_limit"] is None:
            return "-"
        return f"{r['fraction_of_limit']:.0%} of {'SGEMM' if r['gflops'] else 'copy'}"
    return ("| layer | pass | kernel | launches | ms | share of the pass | MB of its arrays | GFLOP | "
            "fraction of limit |\n|---|---|---|---|---|---|---|---|---|\n"
            + "".join(f"| {r['layer']} | {r['pass_']} | {r['kernel']} | {r['launches']} | {r['ms']:.3f} | "
                      f"{r['share']:.0%} | {r['mbytes']:.2f} | {r['gflops']:.2f} | {limit(r)} |\n" for r in rows))


def pass_kernels(family, version):
    """(forward kernel, backward kernel) that ``version`` of ``family`` launches, for the families of
    one kernel each way, <family>_forward_v<n> and <family>_backward_v<n> (max-pool, LRN, the fused
    LRN+max-pool, ReLU; ``kernel_versions.kernel_name``); None for the others (im2col's, the bias
    gradient's and the tiled GEMM's versions rewrite kernels shared by both passes or of one)."""
    try:
        return tuple(kernel_versions.kernel_name(family, f"{family}_{pass_}", version)
                     for pass_ in ("forward", "backward"))
    except ValueError:
        return None


def forward_backward_pairing(family, by_version, forwards, pairings):
    """``versions_summary``'s forward and backward sums of a family's versions: ``by_version`` maps
    a version to (forward+backward ms summed, the reference's, the layers), ``forwards`` a version
    to {layer: forward ms}. Returns {"forward": {version: ms}, "backward": {version: ms}, "paired":
    ...} (None each where a layer's forward row is missing) and appends to ``pairings`` the line
    for a pairing that no version launches (``pass_kernels``)."""
    if not all(layer in forwards.get(v, {}) for v, (_, _, layers) in by_version.items() for layer in layers):
        return dict(forward=None, backward=None, paired=None)
    forward = {v: sum(forwards[v][layer] for layer in layers) for v, (_, _, layers) in by_version.items()}
    backward = {v: by_version[v][0] - forward[v] for v in by_version}
    best_forward, best_backward = min(forward, key=forward.get), min(backward, key=backward.get)
    kernels = {v: pass_kernels(family, v) for v in by_version}
    pair = None if None in kernels.values() else (kernels[best_forward][0], kernels[best_backward][1])
    if pair is None or pair in kernels.values():   # not of one kernel each way, or a version launches the two
        return dict(forward=forward, backward=backward, paired=None)
    paired, fastest = forward[best_forward] + backward[best_backward], min(by_version, key=lambda v: by_version[v][0])
    pairings.append(f"- {family}: the fastest forward is version {best_forward}'s ({pair[0]}, "
                    f"{forward[best_forward]:.3f} ms summed), the fastest backward version {best_backward}'s "
                    f"({pair[1]}, {backward[best_backward]:.3f} ms): paired, {paired:.3f} ms, against "
                    f"{by_version[fastest][0]:.3f} for version {fastest}, the fastest whole "
                    f"({by_version[fastest][0] / paired:.2f}x)")
    return dict(forward=forward, backward=backward,
                paired=dict(forward=best_forward, backward=best_backward, ms=paired))


def versions_summary(rows, versions_run):
    """Which version of each family to launch, from a --versions run: ``rows`` are time_layer's,
    ``versions_run`` maps a row's layer label to the (family, version) it ran. Per family, each
    version's forward+backward time summed over the layers that ran it, beside the reference's (the
    same layers: every version runs on every layer of its family's rows) and the version the layers
    launch now (kernel_versions.current); and each version's forward and backward (forward+backward
    less forward), summed the same way. For a family of one kernel each way (``pass_kernels``),
    where the fastest forward's kernel and the fastest backward's are launched together by no
    version, a line says what the two would take paired: what a version pairing them would be
    worth. Returns (Markdown, {family: {"versions": {version: ms}, "fastest": version, "current":
    version, "forward": {version: ms} or None, "backward": likewise, "paired": None or
    {"forward": version, "backward": version, "ms": ms}}})."""
    totals, forwards = {}, {}
    for r in rows:
        if r["layer"] not in versions_run:
            continue
        family, version = versions_run[r["layer"]]
        if r["pass_"] == "forward":
            forwards.setdefault(family, {}).setdefault(version, {})[r["layer"]] = r["minicnn_ms"]
        elif r["pass_"] == "forward+backward":
            mine, theirs, layers = totals.setdefault(family, {}).get(version, (0.0, 0.0, []))
            totals[family][version] = (mine + r["minicnn_ms"], theirs + r["reference_ms"], layers + [r["layer"]])
    lines = ["| family | version | layers | minicnn forward+backward (ms, summed) | reference (ms) | "
             "minicnn speed / reference | speed against the version launched now |", "|---|---|---|---|---|---|---|"]
    pairings, summary = [], {}
    for family, by_version in totals.items():
        fastest = min(by_version, key=lambda v: by_version[v][0])
        current = kernel_versions.current(family)
        now = by_version.get(current, (None,))[0]
        for version, (mine, theirs, layers) in sorted(by_version.items()):
            marks = [m for m, on in (("fastest", version == fastest), ("launched now", version == current)) if on]
            against = f"{now / mine:.2f}x" if now else "-"
            lines.append(f"| {family} | {version}{' (' + ', '.join(marks) + ')' if marks else ''} | {len(layers)} | "
                         f"{mine:.3f} | {theirs:.3f} | {theirs / mine:.2f}x | {against} |")
        summary[family] = dict(versions={v: t[0] for v, t in by_version.items()}, fastest=fastest, current=current)
        summary[family].update(forward_backward_pairing(family, by_version, forwards.get(family, {}), pairings))
    if pairings:
        lines += ["", "Where no version launches the fastest forward's kernel with the fastest backward's "
                      "(forward+backward less forward), what a version pairing them would take:", ""] + pairings
    return "\n".join(lines) + "\n", summary


VERSION_LABEL = re.compile(r"(?P<layer>\S+) v(?P<version>\d+)")   # a --versions row's label: "pool1 v2"


def versions_run_of(run):
    """{row label: (family, version)} of a results payload's --versions rows: the run's record of
    them (``versions_run``), or for files written before it, which did name their families in
    ``versions_summary``, the family of those that the layer's kind says it ran (``FAMILY_KINDS``)."""
    recorded = run.get("versions_run") or {}
    families = list(run.get("versions_summary") or {})
    labels = {}
    for r in run["rows"]:
        match = VERSION_LABEL.fullmatch(r["layer"])
        if not match or r["layer"] in labels:
            continue
        if r["layer"] in recorded:
            labels[r["layer"]] = tuple(recorded[r["layer"]])
        else:
            kind = LAYERS[match["layer"]][0]
            family = next((f for f in families if kind in FAMILY_KINDS[f]), versioned_kinds(run["gemm"]).get(kind))
            labels[r["layer"]] = (family, int(match["version"]))
    return labels


def version_paths(run):
    """{family: {layer: {version: its forward+backward row}}} of a results payload's --versions
    rows, in the order they ran (``versions_run_of``)."""
    labels = versions_run_of(run)
    paths = {}
    for r in run["rows"]:
        if r["pass_"] == "forward+backward" and r["layer"] in labels:
            family, version = labels[r["layer"]]
            paths.setdefault(family, {}).setdefault(VERSION_LABEL.fullmatch(r["layer"])["layer"], {})[version] = r
    return paths


def run_title(run):
    """A chart's words for the run: what ran, on what, when."""
    where = run["gpu"] or "the kernel simulator (the CPU's times, not a GPU's)"
    batch = f", batch {run['batch_size']}" if run.get("batch_size") else ""
    return (f"AlexNet's layers{batch}, float32{' (TF32 on)' if run['tf32'] else ''}, minicnn's GEMM: "
            f"{run['gemm']}, on {where} ({run['date']})")


def save_versions_chart(run, path):
    """Each kernel family's numbered versions, from a --versions run (``run``: a results payload):
    for every layer that ran them, each version's forward+backward speed over the reference's
    (cuDNN's, cuBLAS's or PyTorch's: 1 = as fast) above, and its fraction of the device's limit
    below (the copy bandwidth for the memory-bound layers, with the 70% the issue asks of them; the
    SGEMM rate for the conv and fully connected ones). The version the layers launched when the
    run was made is shaded: the path from naive to fast, and where it stood. Returns ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    paths = version_paths(run)
    fig = Figure(figsize=(max(8.5, 3.3 * len(paths) + 0.8), 7))   # room for the title over one family
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(paths), squeeze=False)
    for column, (family, layers) in enumerate(paths.items()):
        speed_ax, limit_ax = axes[0][column], axes[1][column]
        versions = sorted({v for by_version in layers.values() for v in by_version})
        launched = ((run.get("versions_summary") or {}).get(family) or {}).get("current")
        memory_bound = all(LAYERS[layer][0] not in ("conv", "dense") for layer in layers)
        for layer, by_version in layers.items():
            ran = sorted(by_version)
            speed_ax.plot(ran, [by_version[v]["ratio"] for v in ran], "o-", label=layer)
            limit_ax.plot(ran, [100 * by_version[v]["fraction_of_limit"] for v in ran], "o-", label=layer)
        for ax in (speed_ax, limit_ax):
            if launched in versions:
                ax.axvspan(launched - 0.3, launched + 0.3, color="grey", alpha=0.2, linewidth=0)
            ax.set_xticks(versions)
            ax.set_xlim(versions[0] - 0.5, versions[-1] + 0.5)
            ax.grid(alpha=0.3)
        speed_ax.axhline(1.0, color="black", linewidth=0.8)
        speed_ax.set_ylim(bottom=0)
        speed_ax.set_title(f"{family}" + (f" (shaded: version {launched}, launched then)" if launched in versions
                                          else ""), fontsize=9)
        speed_ax.legend(fontsize=7, loc="lower right")
        if memory_bound:
            limit_ax.axhline(70, color="black", linewidth=0.8, linestyle="--")
        limit_ax.set_ylim(0, 110 if memory_bound else 100)
        limit_ax.set_xlabel("version")
    axes[0][0].set_ylabel("speed / the reference's\n(forward+backward; 1 = as fast)")
    axes[1][0].set_ylabel("% of the limit (copy bandwidth, --- 70%;\nconv and fc rows: SGEMM rate)")
    # wrapped to the figure's width (at 10 points, some 12 characters an inch): one family's is narrow
    fig.suptitle(textwrap.fill(f"Numbered versions, {run_title(run)}", int(fig.get_figwidth() * 12)), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def save_layers_chart(run, path):
    """minicnn's speed over the reference's for every layer of a run that ran the layers' own
    versions (``run``: a results payload; rows of --versions left out), forward and
    forward+backward, each bar labelled with its ratio and minicnn's fraction of the limit.
    Returns ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    rows = [r for r in run["rows"] if not VERSION_LABEL.fullmatch(r["layer"])]
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    fig = Figure(figsize=(9, 0.42 * len(layers) + 1.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for offset, pass_name in ((-0.2, "forward"), (0.2, "forward+backward")):
        of_pass = {r["layer"]: r for r in rows if r["pass_"] == pass_name}
        places = [i + offset for i, layer in enumerate(layers) if layer in of_pass]
        ratios = [of_pass[layer]["ratio"] for layer in layers if layer in of_pass]
        ax.barh(places, ratios, height=0.38, label=pass_name)
        for place, layer in zip(places, (layer for layer in layers if layer in of_pass)):
            r = of_pass[layer]
            ax.annotate(f" {r['ratio']:.2f}x, {r['fraction_of_limit']:.0%}", (r["ratio"], place), va="center",
                        fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(layers)), layers)
    ax.invert_yaxis()   # the network's first layer on top
    ax.set_xlim(0, 1.25 * max(r["ratio"] for r in rows))
    ax.set(xlabel="minicnn's speed / the reference's (> 1: minicnn faster; the reference: cuDNN for conv, pool "
                  "and LRN,\ncuBLAS for fc, PyTorch for ReLU and dropout); after each bar, minicnn's fraction of "
                  "the limit\n(the copy bandwidth, or for conv and fc the SGEMM rate)", title=run_title(run))
    ax.xaxis.label.set_fontsize(9)
    ax.title.set_fontsize(9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def save_charts(run, stem):
    """The charts a results payload holds rows for, beside its files (``stem`` + -layers.png,
    -versions.png); returns their paths."""
    charts = []
    if any(not VERSION_LABEL.fullmatch(r["layer"]) for r in run["rows"]):
        charts.append(save_layers_chart(run, stem + "-layers.png"))
    if version_paths(run):
        charts.append(save_versions_chart(run, stem + "-versions.png"))
    return charts


def version_list(text):
    """--versions' list: "6,7,8,9" -> (6, 7, 8, 9); "all" (the flag alone) stays "all"."""
    if text == "all":
        return text
    try:
        versions = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        versions = ()
    if not versions or min(versions) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': expected version numbers separated by commas, e.g. 6,7,8,9")
    return versions


def versions_words(versions):
    """The results files' tag for --versions: "-versions" for every version, "-versions6-7" for some."""
    if versions is None:
        return ""
    return "-versions" + ("" if versions == "all" else "-".join(map(str, versions)))


def versions_heading(versions):
    """The results table's words for --versions, after the versions the layers launch."""
    if versions is None:
        return ""
    return (" (and every version, where the rows say)" if versions == "all" else
            f" (and versions {', '.join(map(str, versions))}, where the rows say)")


def charted_run(parser, path):
    """The results payload in ``path`` for --chart, or the parser's error naming what is wrong with
    it. A file from before the payload recorded its batch takes it from its name (``-b128-``)."""
    try:
        with open(path) as f:
            run = json.load(f)
        for r in run["rows"]:   # what the charts read: a KeyError or TypeError names what is missing
            r["layer"], r["pass_"], r["ratio"], r["fraction_of_limit"]
        run["gpu"], run["gemm"], run["tf32"], run["date"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        parser.error(f"--chart: {path} is not a results file of this benchmark ({type(exc).__name__}: {exc})")
    if not run["rows"]:
        parser.error(f"--chart: {path} holds no timed rows (a run cut short before its first layer?)")
    batch = re.search(r"-b(\d+)-", os.path.basename(path))
    if "batch_size" not in run and batch:
        run["batch_size"] = int(batch[1])
    return run


def parse_args(argv=None):
    """The command line, with the combinations of flags that would be ignored refused by name."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", choices=("cuda", "sim"),
                   help="cuda: time on the GPU; sim: verify the harness under the kernel simulator (default: cuda)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="images per batch (default: 128)")
    p.add_argument("--layers", default=",".join(LAYERS), help="comma-separated layer names (default: all)")
    p.add_argument("--repeats", type=positive_int, default=50, help="timed repeats per measurement (default: 50)")
    p.add_argument("--gemm", choices=gemm.GEMMS, default="cublas",
                   help="minicnn's matrix products in the conv and fully connected rows: cublas (a stack of "
                        "products, a grouped conv's or Winograd's, in one batched call), cublas-looped (a call "
                        "per product, to time the batched call against) or tiled (minicnn's own "
                        "kernels/gemm_tiled.cu, against cuBLAS/cuDNN) (default: cublas)")
    p.add_argument("--tf32", action="store_true",
                   help="allow TF32 in both sides' GEMMs: PyTorch's cuDNN and cuBLAS, and minicnn's "
                        "cuBLAS calls through CuPy (CUPY_TF32=1)")
    p.add_argument("--verify-only", action="store_true", help="check every layer, time nothing")
    p.add_argument("--timed", action="store_true",
                   help="with --device sim: time the layers under the simulator as on a GPU and write the "
                        "report's files (sim-kernels-*.md/.json in --out), to check the report before a GPU "
                        "run; the CPU's times and limits say nothing of a GPU's (on a GPU, timing is the "
                        "default)")
    p.add_argument("--breakdown", action="store_true",
                   help="also time each kernel launch and matrix product inside each layer's forward and "
                        "backward (CUDA events around each), with its share of the pass and its fraction of "
                        "the limit: which kernel of a layer to make faster. With --device sim it prints the "
                        "kernels each layer launches with the CPU's times under the simulator (no GPU "
                        "figures, no files, unless --timed); --verify-only leaves it out")
    p.add_argument("--versions", nargs="?", const="all", default=None, type=version_list, metavar="V,V,...",
                   help="a row for every numbered version of the kernels that have several (im2col and the "
                        "conv layouts, max-pool, LRN, LRN+max-pool, ReLU: minicnn/kernel_versions.py), not only "
                        "the one the layers launch; with --gemm tiled, the conv and fully connected rows run "
                        "every version of the tiled GEMM instead (the conv bias gradient's and Winograd's "
                        "transforms' versions: --family). Followed by a list (--versions 6,7,8,9), "
                        "those versions only: on a short lease, the ones not yet timed. A last table sums each "
                        "version over the layers, and says what the fastest forward and the fastest backward "
                        "would take paired where no version launches the two")
    p.add_argument("--family", choices=sorted(FAMILY_KINDS),
                   help="with --versions: run the versions of this kernel family only, on the layers that "
                        "launch its kernels (bias: the conv rows, every version of the conv bias gradient; "
                        "winograd, with --conv-algorithm winograd: the 3x3 conv rows of stride 1, every version "
                        "of Winograd's transforms), the other families at the versions the layers launch "
                        "(default: each layer's own family, as above)")
    add_kernel_version_argument(p)
    add_conv_algorithm_argument(p)
    add_out_argument(p)
    p.add_argument("--chart", type=user_path, metavar="RUN.json",
                   help="draw the charts of a results file of this benchmark again, beside it, and time "
                        "nothing: RUN-layers.png (each layer's speed against the reference) and, for a "
                        "--versions run, RUN-versions.png (each family's versions, layer by layer)")
    args = p.parse_args(argv)
    if args.chart:
        alone = vars(p.parse_args(["--chart", args.chart]))
        given = [dest for dest, value in vars(args).items() if value != alone[dest]]
        if given:
            p.error(f"--chart draws a results file again and times nothing: drop "
                    f"{', '.join('--' + dest.replace('_', '-') for dest in given)}")
        args.chart_run = charted_run(p, args.chart)
        return args
    if args.versions not in (None, "all"):   # a list: each version must be one that some run family has
        families = {args.family} if args.family else set(versioned_kinds(args.gemm).values())
        known = set().union(*(kernel_versions.VERSIONS[f] for f in families))
        missing = sorted(set(args.versions) - known)
        if missing:
            p.error(f"--versions {','.join(map(str, args.versions))}: no version {missing} in "
                    f"{', '.join(sorted(families))} (their versions: {sorted(known)})")
    if args.family and not args.versions:
        p.error("--family chooses whose versions --versions runs; add --versions")
    if args.timed and args.verify_only:
        p.error("--timed times the layers and --verify-only times nothing: choose one")
    if args.breakdown and args.verify_only:
        p.error("--breakdown times each kernel within a layer, and --verify-only times nothing: choose one")
    if args.family == "winograd" and args.conv_algorithm != "winograd":
        p.error("--family winograd runs the versions of Winograd's transforms: add --conv-algorithm winograd "
                "(the 3x3 convolutions of stride 1, conv3-5, then take them)")
    if args.family == "gemm_tiled" and args.gemm != "tiled":
        p.error("--family gemm_tiled needs --gemm tiled (the tiled GEMM's versions run only with it)")
    if args.tf32 and args.device != "cuda":
        p.error("--tf32 allows TF32 in the GPU's GEMMs; under the simulator the GEMMs are NumPy's float32: drop --tf32")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.chart:
        print("written:", ", ".join(save_charts(args.chart_run, os.path.splitext(args.chart)[0])))
        return
    args.versions_tag = use_kernel_versions(args)
    # CuPy reads CUPY_TF32 at its first float32 GEMM: set it before any, so that minicnn's cuBLAS
    # GEMMs and PyTorch's run in the same mode (strict float32 unless --tf32)
    os.environ["CUPY_TF32"] = "1" if args.tf32 else "0"
    names = [n.strip() for n in args.layers.split(",") if n.strip()]
    unknown = [n for n in names if n not in LAYERS]
    if unknown:
        raise SystemExit(f"error: unknown layers {unknown}; known: {', '.join(LAYERS)}")
    import torch   # after the layers' names are checked, which then answers at once (the import takes seconds)
    try:
        device = check_device(args.device)
    except RuntimeError as exc:
        raise SystemExit(f"error: {exc}; without a GPU, --device sim --batch-size 1 --verify-only checks "
                         f"the harness (no timing)")
    gemm.set_gemm(args.gemm)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    timing = (device == "cuda" or args.timed) and not args.verify_only
    versioned = versioned_kinds(args.gemm)
    if args.family:
        versioned = {k: args.family for k in FAMILY_KINDS[args.family]}
    runs = []   # (layer name, kernel family or None, version or None): every layer run, in order
    for name in names:
        family = versioned.get(LAYERS[name][0]) if args.versions else None
        if family == "winograd" and not winograd_applies(LAYERS[name][1]):
            family = None   # conv1 and conv2 stay im2col's: Winograd's versions change nothing there
        versions = [v for v in sorted(kernel_versions.VERSIONS[family])
                    if args.versions == "all" or v in args.versions] if family else []
        # a layer whose family has none of the listed versions runs once, at the layers' own
        runs += [(name, family, version) for version in versions] or [(name, None, None)]
    if timing:
        median_ms = gpu_timer(args.repeats) if device == "cuda" else cpu_timer(args.repeats)
        copy_bw, gemm_rate = device_limits(median_ms, device)
        save = results_writer(args, device, len(runs), copy_bw, gemm_rate)
    rows, breakdown, failed = [], [], []
    versions_run = {}   # layer label -> (family, version), for the --versions summary
    for done, (say, (name, family, version)) in enumerate(progress(runs, "layer runs"), 1):
        kind, cfg = LAYERS[name]
        label = name if version is None else f"{name} v{version}"
        if version is not None:
            versions_run[label] = (family, version)
        with kernel_versions.use(family, version) if family else contextlib.nullcontext():
            rng = np.random.default_rng(len(name))
            layer, x, fn, reference, flops = build(kind, cfg, args.batch_size, rng, device)
            use_conv_algorithm(layer, args.conv_algorithm)
            layer.to(device)
            tolerance = 1e-2 if args.tf32 else 1e-4
            error, reference_error, flips = verify(name, kind, layer, x, fn, device, rng, tolerance)
            say(f"{label}: largest relative difference from float64: minicnn {error:.1e}, {reference} "
                f"{reference_error:.1e}" + (f" (max-pool winners flipped by rounding: {flips})" if flips else ""))
            if not error <= tolerance:
                failed.append(label)
            elif timing:
                timed = time_layer(label, kind, layer, x, fn, reference, flops, device, rng, median_ms, copy_bw,
                                   gemm_rate)
                for r in timed:
                    say(f"{label} {r['pass_']}: minicnn {r['minicnn_ms']:.3f} ms, {reference} {r['reference_ms']:.3f} "
                        f"ms, {r['ratio']:.2f}x, {r['fraction_of_limit']:.0%} of the limit"
                        + (f"; host {host_cell(r)} ms" if r.get("minicnn_host_ms") is not None else ""))
                rows += timed
            if args.breakdown and label not in failed:
                breakdown += kernel_breakdown(label, layer, x, rng, device, args.repeats,
                                              *((copy_bw, gemm_rate) if timing else ()))
        if timing and (done < len(runs) or failed):
            save(rows, breakdown, versions_run, done)   # what is measured so far, should the run be cut short
    if failed:   # (the files, if timed, keep the runs measured, marked partial)
        raise SystemExit(f"error: minicnn disagrees with the reference on {', '.join(failed)}")
    if not timing:
        if breakdown:
            print("The kernels of each layer, with the CPU's times under the kernel simulator (they say "
                  "nothing of a GPU's):\n\n" + breakdown_table(breakdown))
        print(f"verified {len(names)} layers on {device} (nothing timed{' on a GPU' if breakdown else ''})")
        return
    print("written:", ", ".join(save(rows, breakdown, versions_run)))


def results_writer(args, device, runs, copy_bw, gemm_rate):
    """save(rows, breakdown, versions_run, done=None) -> the paths of the run's .md and .json,
    rewritten after every layer run, so that a run cut short (gpu_all.sh's step timeout, a
    machine taken back) leaves what it measured: with ``done`` (the layer runs done so far, of
    ``runs``) the table's first line says the file is partial; the finished run saves without it.
    The name of the files is fixed at the start."""
    import torch
    today = datetime.date.today().isoformat()
    if device == "cuda":
        import cupy
        name, software = gpu_name(), gpu_software()
        prefix, heading = f"gpu-kernels-{name.replace(' ', '_')}", gpu_words(name, software)
        multiprocessors = cuda_multiprocessors(cupy.cuda.Device().id)
    else:
        name = heading = "the kernel simulator (the CPU's times, not a GPU's)"
        prefix, software, multiprocessors = "sim-kernels", None, None
    stem = (f"{prefix}-b{args.batch_size}{'-tf32' if args.tf32 else ''}"
            f"{'-' + args.gemm if args.gemm != 'cublas' else ''}{versions_words(args.versions)}"
            f"{'-' + args.family if args.family else ''}{args.versions_tag}"
            f"{'-' + args.conv_algorithm if args.conv_algorithm != 'auto' else ''}-{today}")
    stem = free_stem(args.out, stem)   # an earlier run's files of the day are kept; this run rewrites its own

    def save(rows, breakdown, versions_run, done=None):
        partial = done is not None
        table = ((f"**Partial: {done} of {runs} layer runs done: the run is still going, was cut short, or "
                  "stopped at a layer that disagreed with the reference (its log says); the finished run "
                  "rewrites this file.**\n\n" if partial else "")
                 + f"AlexNet layers, batch {args.batch_size}, float32{' (TF32 on)' if args.tf32 else ''}, "
                 f"minicnn's GEMM: {args.gemm}, kernel versions {kernel_versions.described()}"
                 f"{versions_heading(args.versions)}, {heading} "
                 f"({machine_description()}, torch {torch.__version__}, {today}); copy bandwidth "
                 f"{copy_bw / 1e9:.0f} GB/s, SGEMM {gemm_rate / 1e12:.2f} TFLOP/s\n\n"
                 "| layer | pass | minicnn (ms) | reference | reference (ms) | minicnn speed / reference | "
                 "minicnn's fraction of limit | host (ms): minicnn, reference |\n|---|---|---|---|---|---|---|---|\n"
                 + "".join(f"| {r['layer']} | {r['pass_']} | {r['minicnn_ms']:.3f} | {r['reference']} | "
                           f"{r['reference_ms']:.3f} | {r['ratio']:.2f}x | {r['fraction_of_limit']:.0%} | "
                           f"{host_cell(r)} |\n" for r in rows))
        summary = None
        if versions_run:
            summary_table, summary = versions_summary(rows, versions_run)
            table += ("\nEach family's versions, their forward+backward times summed over the layers above (a "
                      "newer version slower than an older one should not be the one the layers launch: "
                      "minicnn/kernel_versions.py's DEFAULTS):\n\n" + summary_table)
        if breakdown:
            table += ("\nThe kernels of each layer (--breakdown), each timed on its own within the pass: its "
                      "share of the pass, and its fraction of the limit (the bytes of its arrays over the copy "
                      "bandwidth, or a matrix product's FLOP/s over the SGEMM rate):\n\n" + breakdown_table(breakdown))
        if not partial:
            print(table)
        # the limits the fractions are of, and the multiprocessors (what a reading of the latency by
        # Little's law counts the threads of: the README's occupancy section)
        payload = dict(rows=rows, gpu=name if device == "cuda" else None, gpu_software=software, device=device,
                       copy_bandwidth=copy_bw, sgemm_rate=gemm_rate, multiprocessors=multiprocessors, date=today,
                       batch_size=args.batch_size, gemm=args.gemm, tf32=args.tf32,
                       kernel_versions=kernel_versions.described(), breakdown=breakdown, versions_summary=summary,
                       versions_run={label: list(fv) for label, fv in versions_run.items()},
                       layer_runs=dict(done=runs if done is None else done, planned=runs))
        written = write_results(args.out, stem, table, payload, rewrite=True)
        return written if partial else (*written, *save_charts(payload, written[0][:-len(".md")]))
    return save


if __name__ == "__main__":
    run_script(main)
