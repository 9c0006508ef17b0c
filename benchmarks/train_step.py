#!/usr/bin/env python3
"""Training throughput: minicnn against PyTorch eager with the same network and weights, side by
side in one run, on the CPU (NumPy against PyTorch's CPU kernels) or on the GPU (minicnn's CUDA
kernels against PyTorch's, cuDNN with benchmark mode on).

One training step = forward, backward, SGD update (momentum 0.9, weight decay 5e-4), float32
(TF32 off on both sides unless --tf32). Before timing, both frameworks' logits for the same batch
are compared. Rounds alternate between the two so that the ratio holds on a noisy machine; the
median of the rounds is reported (on the GPU timed by CUDA events, the L2 cache flushed first,
the host's time included as a user's step has it, and the host's time to queue a step given
beside it: where it is the longer, the host sets the pace).
On the CPU both get the same number of threads (--threads, default: all cores).

    python benchmarks/train_step.py                       # the 2012 AlexNet: cuda if there is a GPU, batch 128
    python benchmarks/train_step.py --device cpu          # on the CPU, batch 32
    python benchmarks/train_step.py --device cpu --model alexnet_small --batch-size 128
    python benchmarks/train_step.py --device cpu --model alexnet_owt --batch-size 64   # torchvision's
"""
import datetime
import os
import statistics
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import (add_conv_algorithm_argument, add_kernel_version_argument, interleaved_medians,  # noqa: E402
                    machine_description, part_clock, seconds, stamp_clock, step_benchmark_parser, use_conv_algorithm,
                    use_kernel_versions, write_results)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minicnn import ReLU, SoftmaxCrossEntropy, cpu_threads, gemm, kernel_versions, models  # noqa: E402
from minicnn.arguments import positive_int, run_script  # noqa: E402
from minicnn.backend import check_device, cuda_available, to_device, to_numpy  # noqa: E402
from minicnn.cpu_memory import reuse_freed_memory  # noqa: E402
from minicnn.environment import gpu_description, gpu_name  # noqa: E402
from minicnn.fusion import fuse  # noqa: E402
from minicnn.optim import SGD  # noqa: E402
from minicnn.summary import conv_algorithms, layer_kind  # noqa: E402
import numpy as np  # noqa: E402 (after minicnn, which sets OpenBLAS's thread timeout before NumPy loads it)
from threadpoolctl import threadpool_limits  # noqa: E402


def torch_twin(model):
    """A PyTorch nn.Sequential with the same layers and weights as a minicnn Sequential (nested ones
    flattened: alexnet_owt's features and classifier)."""
    import torch
    from minicnn import LRN, Conv2D, Dense, Dropout, Flatten, MaxPool2D
    nn = torch.nn
    layers = []
    for layer in model.leaves():
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


def twin_module_names(leaves, model):
    """For each module of the PyTorch twin, built from ``leaves`` (the (name, layer) leaves of the
    model before ``fuse``), the name of the layer of ``model`` (fused or not) that does its work:
    its own, its fused LRN+max-pool's ("norm1+pool1" for norm1 and pool1), or for a ReLU folded
    into its convolution or fully connected layer, that layer's ("conv1" for conv1 and relu1, "fc6"
    for fc6 and relu6)."""
    owner = {}
    for name, layer in model.named_layers():
        for leaf in layer.leaves():
            owner[id(leaf)] = name
    names = []
    for name, leaf in leaves:
        if id(leaf) not in owner and not (names and isinstance(leaf, ReLU)):
            raise ValueError(f"{name} ({leaf!r}) is in no layer of the fused model")
        names.append(owner[id(leaf)] if id(leaf) in owner else names[-1])   # a folded ReLU: its conv's
    return names


def layer_seconds(model, step, opt, repeats, gpu):
    """{(layer name, "forward" | "backward"): median seconds} for every layer ``model`` runs
    (``Sequential.named_layers``: "features.0" in nested networks, "norm1+pool1" fused) within training
    steps, and ("SGD", "update") for the optimizer: each call is timed on its own (perf_counter on
    the CPU, CUDA events around it on the GPU) in ``repeats`` steps after one warm-up step."""
    clock = part_clock(gpu)
    layers = list(model.named_layers())
    times, timed = {}, [(name, layer, "forward") for name, layer in layers]
    timed += [(name, layer, "backward") for name, layer in layers] + [("SGD", opt, "step")]

    def wrapped(key, call):
        def timed_call(*a, **k):
            result, t = clock(lambda: call(*a, **k))
            times.setdefault(key, []).append(t)
            return result
        return timed_call

    for name, owner, method in timed:   # instance attributes shadow the methods until deleted
        setattr(owner, method, wrapped((name, "update" if method == "step" else method), getattr(owner, method)))
    try:
        step()
        times.clear()
        for _ in range(repeats):
            step()
    finally:
        for _, owner, method in timed:
            vars(owner).pop(method, None)
    return {key: statistics.median(seconds(t) for t in ts) for key, ts in times.items()}


def torch_layer_seconds(twin, names, step, optimizer, repeats, gpu):
    """The same as ``layer_seconds`` for the PyTorch twin, timed by module hooks within training
    steps. ``names``: for each module of the twin, in order, the name of the minicnn layer that does
    its work (``twin_module_names``); consecutive modules under one name (conv1 and relu1 under a
    fused "conv1") are timed as one, from the first's forward to the last's, and from the last's
    backward to the first's. The first module's input needs no gradient, so PyTorch calls its
    backward hook before its work (the weight gradient): its backward is timed up to the end of the
    backward pass, the optimizer's start."""
    if len(names) != len(twin):
        raise ValueError(f"{len(names)} names for the twin's {len(twin)} modules")
    stamp = stamp_clock(gpu)
    started, times = {}, {}

    def start(key):
        started[key] = stamp()

    def stop(key):
        if key in started:
            times.setdefault(key, []).append((started.pop(key), stamp()))

    hooks = []
    for index, (name, module) in enumerate(zip(names, twin)):
        first, last = index == 0 or names[index - 1] != name, index == len(names) - 1 or names[index + 1] != name
        if first:
            hooks.append(module.register_forward_pre_hook(lambda m, a, key=(name, "forward"): start(key)))
            if index:
                hooks.append(module.register_full_backward_hook(
                    lambda m, gi, go, key=(name, "backward"): stop(key)))
        if last:
            hooks += [module.register_forward_hook(lambda m, a, out, key=(name, "forward"): stop(key)),
                      module.register_full_backward_pre_hook(lambda m, g, key=(name, "backward"): start(key))]
    optimizer_step = optimizer.step

    def timed_step(*a, **k):
        stop((names[0], "backward"))
        start(("SGD", "update"))
        result = optimizer_step(*a, **k)
        stop(("SGD", "update"))
        return result

    optimizer.step = timed_step
    try:
        with warnings.catch_warnings():   # the first module's hook, which the docstring deals with
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            step()
            times.clear()
            for _ in range(repeats):
                step()
    finally:
        del optimizer.step
        for hook in hooks:
            hook.remove()
    return {key: statistics.median(seconds(t) for t in ts) for key, ts in times.items()}


def layers_table(model, parts, torch_parts):
    """Markdown: each layer's forward and backward in ms, minicnn's and PyTorch's, then the share
    of each kind of layer in each framework's step. ``parts``, ``torch_parts``: "name.part" ->
    seconds, as the results file keeps them."""
    kinds = layer_kinds(model)
    totals = {"minicnn": sum(parts.values()), "PyTorch": sum(torch_parts.values())}
    rows = ["| layer | minicnn forward (ms) | minicnn backward (ms) | PyTorch forward (ms) | PyTorch backward (ms) "
            "| minicnn / PyTorch speed |", "|---|---|---|---|---|---|"]

    def ms(times, name):
        f, b = times.get(f"{name}.forward", 0.0), times.get(f"{name}.backward", 0.0) + times.get(f"{name}.update", 0.0)
        return f, b

    for name in kinds:
        (f, b), (tf, tb) = ms(parts, name), ms(torch_parts, name)
        ratio = f"{(tf + tb) / (f + b):.2f}x" if f + b > 0 else "-"
        rows.append(f"| {name} | {f * 1e3:.1f} | {b * 1e3:.1f} | {tf * 1e3:.1f} | {tb * 1e3:.1f} | {ratio} |")
    lines = []
    for framework, times in (("minicnn", parts), ("PyTorch", torch_parts)):
        by_kind = time_by_kind(times, kinds)
        shares = ", ".join(f"{kind} {t / totals[framework]:.0%}"
                           for kind, t in sorted(by_kind.items(), key=lambda kv: -kv[1]))
        lines.append(f"By kind, {framework} (sum {totals[framework] * 1e3:.0f} ms): {shares}.")
    return ("Where each framework's step goes, each layer timed on its own within training steps:\n\n"
            + "\n".join(rows) + "\n\n" + "\n".join(lines))


def time_by_kind(layer_seconds, kinds):
    """{kind of layer: seconds per step} from a --layers run's "name.part" -> seconds entries."""
    by_kind = {}
    for key, t in layer_seconds.items():
        kind = kinds[key.rsplit(".", 1)[0]]
        by_kind[kind] = by_kind.get(kind, 0.0) + t
    return by_kind


def save_layers_chart(payload, kinds, path):
    """A bar chart of where each framework's step goes, by kind of layer, in ms per step, from a
    --layers run's results (``payload``; ``kinds``: layer name -> kind, "SGD" -> "SGD update")."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    mine = time_by_kind(payload["layer_seconds"], kinds)
    theirs = time_by_kind(payload["torch_layer_seconds"], kinds)
    order = sorted(set(mine) | set(theirs), key=lambda k: mine.get(k, 0.0) + theirs.get(k, 0.0))
    order = [k for k in order if mine.get(k, 0.0) + theirs.get(k, 0.0) >= 1e-3]   # leave out what takes < 1 ms
    fig = Figure(figsize=(7, 0.45 * len(order) + 1.4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    rows = np.arange(len(order))
    for offset, (label, times) in ((0.2, ("minicnn", mine)), (-0.2, ("PyTorch", theirs))):
        ax.barh(rows + offset, [1e3 * times.get(k, 0.0) for k in order], height=0.38, label=label)
    ax.set_yticks(rows, order)
    ax.set(xlabel="ms per training step (forward + backward)",
           title=f"{payload['model']}, batch {payload['batch_size']}, {payload['settings']}\n"
                 f"minicnn / PyTorch throughput {payload['ratio']:.2f}x")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def layer_kinds(model):
    """Layer name -> kind (``summary.layer_kind``: "Conv2D+ReLU" for a convolution with its ReLU
    fused, "Dense+ReLU" likewise) for every layer ``model`` runs, and "SGD" -> "SGD update"."""
    kinds = {name: layer_kind(layer) for name, layer in model.named_layers()}
    kinds["SGD"] = "SGD update"
    return kinds


def parse_args(argv=None):
    p = step_benchmark_parser(__doc__, "alexnet", None, networks=("alexnet", "alexnet_owt", "alexnet_small"))
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="cpu: NumPy against PyTorch on the CPU; cuda: minicnn's kernels against PyTorch/cuDNN "
                        "on the GPU (default: cuda when CuPy and a GPU are available, else cpu)")
    p.add_argument("--threads", type=positive_int, default=os.cpu_count(),
                   help="CPU threads for both: PyTorch's, and minicnn's BLAS and its NumPy work between the "
                        "GEMMs (minicnn/cpu_threads.py) (default: all cores)")
    p.add_argument("--no-fuse", action="store_true",
                   help="on the GPU, keep minicnn's layers unfused (default: conv+ReLU, fc+ReLU and LRN+max-pool "
                        "fused, as examples/train_alexnet.py trains)")
    p.add_argument("--layers", action="store_true",
                   help="also time each layer's forward and backward and the SGD update within training "
                        "steps, minicnn's and PyTorch's (module hooks), the median of --repeats steps, say "
                        "where each framework's step goes, and draw it by kind of layer (-layers.png)")
    p.add_argument("--tf32", action="store_true",
                   help="on the GPU, allow TF32 in both sides' GEMMs: PyTorch's cuDNN and cuBLAS, and "
                        "minicnn's cuBLAS calls through CuPy (CUPY_TF32=1)")
    p.add_argument("--gemm", choices=gemm.GEMMS, default="cublas",
                   help="on the GPU, minicnn's matrix products: cublas (a stack of products, a grouped conv's or "
                        "Winograd's, in one batched call), cublas-looped (a call per product, to time the batched "
                        "call against) or tiled (minicnn's own kernels/gemm_tiled.cu) (default: cublas)")
    add_kernel_version_argument(p)
    add_conv_algorithm_argument(p, cpu=True)
    return p.parse_args(argv)


def refuse_other_devices_flags(args, device):
    """--tf32, --no-fuse, --kernel-version and --gemm would change nothing on the CPU, whose GEMMs are
    NumPy's in strict float32, whose layers are unfused and which runs no kernels: a run that ignored
    them would mislead. --conv-algorithm fft has no kernels to run on the GPU."""
    for flag, given in (("--tf32", args.tf32), ("--no-fuse", args.no_fuse),
                        ("--kernel-version", bool(args.kernel_version)), ("--gemm", args.gemm != "cublas")):
        if given and device != "cuda":
            raise SystemExit(f"error: {flag} applies on the GPU (--device cuda); on the CPU it would change "
                             f"nothing: drop {flag}")
    if args.conv_algorithm == "fft" and device == "cuda":
        raise SystemExit("error: --conv-algorithm fft runs on the CPU only (minicnn has no FFT kernels): "
                         "add --device cpu, or choose auto, im2col or winograd")


def main(argv=None):
    args = parse_args(argv)
    reuse_freed_memory()   # as minicnn.train.fit does; for both frameworks, which share this process
    # CuPy reads CUPY_TF32 at its first float32 GEMM: set it before any, so that minicnn's cuBLAS
    # GEMMs and PyTorch's run in the same mode (strict float32 unless --tf32)
    os.environ["CUPY_TF32"] = "1" if args.tf32 else "0"
    if args.device:   # answered at once, before PyTorch's import (seconds) and any GPU's check
        refuse_other_devices_flags(args, args.device)
    import torch
    try:
        device = check_device(args.device or ("cuda" if cuda_available() else "cpu"))
    except RuntimeError as exc:
        raise SystemExit(f"error: {exc}")
    refuse_other_devices_flags(args, device)
    versions_tag = use_kernel_versions(args)
    gemm.set_gemm(args.gemm)
    batch = args.batch_size or (128 if device == "cuda" else 32)
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads, user_api="blas")   # minicnn's GEMMs (OpenBLAS through NumPy)
    cpu_threads.set_threads(args.threads)              # and minicnn's NumPy work between them
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    tdev = "cuda" if device == "cuda" else "cpu"

    small = args.model == "alexnet_small"   # Fashion-MNIST's images and classes; the others ImageNet's
    size, channels, classes = models.MODELS[args.model][1], 1 if small else 3, 10 if small else 1000
    model = models.build(args.model, num_classes=classes, in_channels=channels)
    algorithm_tag = use_conv_algorithm(model, args.conv_algorithm)
    twin = torch_twin(model).to(tdev)
    leaves = list(model.named_leaves())   # the twin's modules, one each
    if device == "cuda" and not args.no_fuse:
        fuse(model)
    twin_names = twin_module_names(leaves, model)
    model.to(device)
    rng = np.random.default_rng(0)
    x_host = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    y_host = rng.integers(0, 10, batch)
    x, y = to_device(x_host, device), to_device(y_host, device)
    tx, ty = torch.from_numpy(x_host).to(tdev), torch.from_numpy(y_host).to(tdev)
    twin.eval()
    with torch.no_grad():   # the same logits first (dropout off), or the timings mean nothing
        theirs = twin(tx).cpu().numpy()
    twin.train()
    mine = to_numpy(model.forward(x, train=False))
    difference = float(np.abs(mine - theirs).max() / np.abs(theirs).max())
    print(f"logits: largest difference from PyTorch {difference:.1e} of the largest logit")
    if not difference < (1e-2 if args.tf32 else 1e-4):
        raise SystemExit(f"error: minicnn and PyTorch disagree (relative difference {difference:.1e})")

    loss_fn, opt = SoftmaxCrossEntropy().to(device), SGD(model, lr=1e-4)
    model.input_grad = False   # as in training (and in PyTorch, whose images need no gradient)
    topt = torch.optim.SGD(twin.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)

    def minicnn_step():
        loss_fn.forward(model.forward(x, train=True), y)
        model.backward(loss_fn.backward())
        opt.step()

    def torch_step():
        topt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(twin(tx), ty).backward()
        topt.step()

    convolutions = conv_algorithms(model, (batch, channels, size, size))
    host = {}   # on the GPU: the host's time to queue a step, each framework's
    res = interleaved_medians({"minicnn": minicnn_step, "PyTorch": torch_step}, repeats=args.repeats,
                              gpu=device == "cuda", host=host)
    ips = {k: batch / v[0] for k, v in res.items()}
    ratio = ips["minicnn"] / ips["PyTorch"]
    today = datetime.date.today().isoformat()
    if device == "cuda":
        where = gpu_description()
        settings = ("TF32 on" if args.tf32 else "float32, TF32 off") + (
            ", minicnn's layers unfused" if args.no_fuse else ", minicnn's conv+ReLU, fc+ReLU and LRN+pool fused") + (
            f", minicnn's GEMM: {args.gemm}" if args.gemm != "cublas" else "")
    else:
        where, settings = machine_description(), f"float32, {args.threads} threads"
    table = (f"Training step, {args.model}, batch {batch}, {size} px, {settings} "
             f"({where}, torch {torch.__version__}, {today})\n\n"
             f"| framework | median step (ms) | images/s |\n|---|---|---|\n"
             + "".join(f"| {k} | {v[0] * 1e3:.1f} | {ips[k]:.1f} |\n" for k, v in res.items())
             + f"\nminicnn / PyTorch throughput: {ratio:.2f}x"
             + ("\n\nThe host's time to queue a step (the GPU's step is the longer, or the host sets the pace): "
                + ", ".join(f"{k} {host[k] * 1e3:.1f} ms" for k in res) if host else "")
             + (f"\n\nminicnn's kernel versions: {kernel_versions.described()}" if device == "cuda" else "")
             + "\n\nminicnn's convolutions: " + ", ".join(f"{name} {how}" for name, how in convolutions.items()))
    if args.layers:
        parts, torch_parts = ({f"{name}.{part}": t for (name, part), t in times.items()} for times in (
            layer_seconds(model, minicnn_step, opt, args.repeats, gpu=device == "cuda"),
            torch_layer_seconds(twin, twin_names, torch_step, topt, args.repeats, gpu=device == "cuda")))
        table += "\n\n" + layers_table(model, parts, torch_parts)
    print(table)
    payload = dict(model=args.model, batch_size=batch, device=device, where=where, settings=settings,
                   threads=args.threads, date=today, torch=torch.__version__, logits_difference=difference,
                   seconds={k: v[1] for k, v in res.items()}, host_seconds=host or None, images_per_s=ips,
                   ratio=ratio,
                   kernel_versions={f: kernel_versions.current(f) for f in kernel_versions.VERSIONS}
                   if device == "cuda" else None, conv_algorithms=convolutions,
                   gemm=args.gemm if device == "cuda" else None)
    if args.layers:
        payload["layer_seconds"], payload["torch_layer_seconds"] = parts, torch_parts
    # the GPU's name alone in the file's name, as benchmarks/kernels.py's (the versions are in the table)
    tag = ("cpu" if device == "cpu" else "gpu-" + gpu_name().replace(" ", "_") + ("-tf32" if args.tf32 else "") + (
        "-unfused" if args.no_fuse else "") + ("-" + args.gemm if args.gemm != "cublas" else "") + versions_tag) \
        + algorithm_tag
    paths = list(write_results(args.out, f"{tag}-{args.model}-b{batch}-{today}", table, payload))
    if args.layers:
        paths.append(save_layers_chart(payload, layer_kinds(model), paths[0][:-len(".md")] + "-layers.png"))
    print("written:", ", ".join(paths))


if __name__ == "__main__":
    run_script(main)
