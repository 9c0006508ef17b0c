#!/usr/bin/env python3
"""The simulator's memory-traffic counts against Nsight Compute's, launch by launch, on a GPU.

benchmarks/kernel_traffic.py counts without a GPU, under the kernel simulator, the warp requests
and 32-byte sectors of every kernel's global loads and stores and the passes its shared-memory
requests take through the banks (minicnn/simulator/traffic.py); several kernel versions were
written from those counts. This benchmark checks the model where a GPU and Nsight Compute (ncu)
are at hand. It runs AlexNet's layers (benchmarks/kernels.py's shapes, the kernel versions the
layers launch now) forward and backward once on the GPU under ncu, which reads the counts from
the hardware, runs the same layers on the same seeded data under the simulator, and sets the two
side by side, launch by launch:

    simulator (LaunchTraffic)        Nsight Compute metric
    global load requests, sectors    l1tex__t_{requests,sectors}_pipe_lsu_mem_global_op_ld.sum
    global store requests, sectors   l1tex__t_{requests,sectors}_pipe_lsu_mem_global_op_st.sum
    shared load requests, passes     smsp__inst_executed_op_shared_ld.sum,
                                     l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum
    shared store requests, passes    the same with _st
    bytes the loads touch            dram__bytes_read.sum (ncu empties the caches before each
                                     kernel, so DRAM gives each byte read once while L2 keeps it)

Where a count differs, the model or nvcc's code differs from the simulator's g++ build (a value
nvcc keeps in a register or reloads, a load it widens, a branch laid out otherwise): the row
says where to look. The kernels the simulator does not count are left out: cuBLAS's GEMMs and
CuPy's own small kernels; the conv's --gemm tiled path is not run.

    python benchmarks/ncu_traffic.py                     # every layer, batch 8 (a GPU, CuPy and ncu)
    python benchmarks/ncu_traffic.py --layers relu1,pool1 --ncu /usr/local/cuda/bin/ncu
    python benchmarks/ncu_traffic.py --layers conv2 --kernel-version im2col=3   # another version's kernels

Writes ncu-traffic-<GPU>-b<batch>[-<family><version>...]-<date>.md/.json to benchmarks/results/ (--out).
"""
import argparse
import contextlib
import csv
import datetime
import io
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kernel_traffic import run_passes  # noqa: E402
from kernels import LAYERS  # noqa: E402
from timing import (add_conv_algorithm_argument, add_kernel_version_argument, add_out_argument,  # noqa: E402
                    use_kernel_versions, write_results)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minicnn import kernel_versions  # noqa: E402
from minicnn.arguments import positive_int, run_script  # noqa: E402
from minicnn.simulator import traffic  # noqa: E402

# name: (the simulator's count of one LaunchTraffic, the Nsight Compute metrics whose sum is the GPU's)
COUNTS = {
    "load requests": (lambda t: t.loads.requests, ("l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum",)),
    "load sectors": (lambda t: t.loads.sectors, ("l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum",)),
    "store requests": (lambda t: t.stores.requests, ("l1tex__t_requests_pipe_lsu_mem_global_op_st.sum",)),
    "store sectors": (lambda t: t.stores.sectors, ("l1tex__t_sectors_pipe_lsu_mem_global_op_st.sum",)),
    "shared load requests": (lambda t: t.shared_loads.requests, ("smsp__inst_executed_op_shared_ld.sum",)),
    "shared load passes": (lambda t: t.shared_loads.wavefronts,
                           ("l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum",)),
    "shared store requests": (lambda t: t.shared_stores.requests, ("smsp__inst_executed_op_shared_st.sum",)),
    "shared store passes": (lambda t: t.shared_stores.wavefronts,
                            ("l1tex__data_pipe_lsu_wavefronts_mem_shared_op_st.sum",)),
    "load bytes touched": (lambda t: t.loads.touched_bytes, ("dram__bytes_read.sum",)),
}
METRICS = sorted({m for _, metrics in COUNTS.values() for m in metrics})


class NcuError(RuntimeError):
    """Nsight Compute did not run, or its output is not what this benchmark reads."""


def simulated_launches(names, batch, between=lambda: None, conv_algorithm="auto"):
    """[(layer, pass, LaunchTraffic)] of every minicnn launch of ``names``' passes under the
    simulator (``conv_algorithm`` as --conv-algorithm); ``between()`` is called before each layer
    (it may raise to stop)."""
    launches = []
    for name in names:
        between()
        _, _, _, logs = run_passes(name, None, batch, "sim", lambda pass_: traffic.recording(), conv_algorithm)
        launches += [(name, pass_, t) for pass_, log in logs.items() for t in log]
    return launches


@contextlib.contextmanager
def profiled(pass_):
    """The pass's launches inside the CUDA profiler's range (ncu --profile-from-start off), whole."""
    import cupy
    import cupyx.profiler
    cupy.cuda.Device().synchronize()
    with cupyx.profiler.profile():
        yield None
        cupy.cuda.Device().synchronize()


def run_on_gpu(names, batch, conv_algorithm="auto"):
    """What ncu profiles (--child): each layer's passes on the GPU, inside the profiler's range."""
    for name in names:
        run_passes(name, None, batch, "cuda", profiled, conv_algorithm)


def kernel_base(name):
    """'maxpool_forward_v5' of ncu's 'maxpool_forward_v5', 'void maxpool_forward_v5(...)' or '...<float>'."""
    name = name.strip()
    name = name[len("void "):] if name.startswith("void ") else name
    return name.split("(")[0].split("<")[0].strip()


def parse_ncu_csv(text):
    """[(kernel name, {metric: value})] in launch order, from ``ncu --csv --print-units base``'s
    output (one row per kernel and metric, after ncu's own "==PROF==" lines and the program's).
    Values may carry thousands separators ("53,261,312")."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID",')), None)
    if start is None:
        raise NcuError("no table in ncu's output (no line starting with \"ID\"): " + " | ".join(lines[-5:]))
    launches = {}
    for row in csv.DictReader(io.StringIO("\n".join(lines[start:]))):
        if not row.get("ID", "").strip().isdigit():
            continue   # a units row, or a line the program printed among the rows
        kernel, metrics = launches.setdefault(int(row["ID"]), (row["Kernel Name"], {}))
        value = row["Metric Value"].replace(",", "").strip()
        try:
            metrics[row["Metric Name"]] = float(value)
        except ValueError:
            raise NcuError(f"launch {row['ID']} ({kernel}): {row['Metric Name']} = {value!r}, not a number") from None
    return [launches[i] for i in sorted(launches)]


def match(simulated, profiled_launches):
    """Pair each simulated launch with the GPU's launch of the same kernel, in order; the GPU's
    launches of kernels the simulator did not record (cuBLAS's, CuPy's) are left out. Returns
    ([(layer, pass, LaunchTraffic, {metric: value})], names of the kernels left out)."""
    ours = {t.kernel for _, _, t in simulated}
    mine = [(kernel_base(k), m) for k, m in profiled_launches if kernel_base(k) in ours]
    others = sorted({kernel_base(k) for k, _ in profiled_launches} - ours)
    sim_names, gpu_names = [t.kernel for _, _, t in simulated], [k for k, _ in mine]
    if sim_names != gpu_names:
        shorter = min(len(sim_names), len(gpu_names))
        first = next((i for i, (a, b) in enumerate(zip(sim_names, gpu_names)) if a != b), shorter)
        raise NcuError(f"the GPU launched other kernels than the simulator: {len(gpu_names)} against "
                       f"{len(sim_names)}, first different at launch {first}: "
                       f"GPU {gpu_names[first:first + 3]}, simulator {sim_names[first:first + 3]}")
    return [(layer, pass_, t, m) for (layer, pass_, t), (_, m) in zip(simulated, mine)], others


def compare(pairs):
    """Rows of the comparison: per launch, each count under the simulator and on the GPU."""
    rows = []
    for layer, pass_, t, metrics in pairs:
        missing = [m for _, names in COUNTS.values() for m in names if m not in metrics]
        if missing:
            raise NcuError(f"{layer} {pass_} {t.kernel}: ncu gave no {', '.join(missing)}")
        counts = {name: dict(sim=count(t), gpu=sum(metrics[m] for m in names))
                  for name, (count, names) in COUNTS.items()}
        rows.append(dict(layer=layer, pass_=pass_, kernel=t.kernel, counts=counts))
    return rows


def ratio_cell(c):
    """'1.00' (GPU over simulator), '-' where both are 0, 'GPU only' where the simulator counts none."""
    if c["sim"] == 0:
        return "-" if c["gpu"] == 0 else "GPU only"
    return f"{c['gpu'] / c['sim']:.2f}"


def agreement(rows, name, within=0.01):
    """How many launches have ``name``'s count on the GPU within ``within`` of the simulator's."""
    return sum(abs(r["counts"][name]["gpu"] - r["counts"][name]["sim"]) <= within * r["counts"][name]["sim"]
               for r in rows)


def report(rows, others, gpu, batch, today):
    columns = list(COUNTS)
    table = (f"Memory traffic of minicnn's kernels: the simulator's model against Nsight Compute on {gpu}, "
             f"AlexNet layers at batch {batch}, float32, kernel versions {kernel_versions.described()} ({today}). "
             "Each cell is the GPU's count over the simulator's (1.00: the same; - where both are 0). "
             f"Not compared: {', '.join(others) or 'no other kernel'} (not minicnn's).\n\n"
             "Launches whose count on the GPU is within 1% of the simulator's: "
             + ", ".join(f"{name} {agreement(rows, name)} of {len(rows)}" for name in columns) + ".\n\n"
             "| layer | pass | kernel | " + " | ".join(columns) + " |\n|" + "---|" * (3 + len(columns)) + "\n"
             + "".join(f"| {r['layer']} | {r['pass_']} | {r['kernel']} | "
                       + " | ".join(ratio_cell(r["counts"][c]) for c in columns) + " |\n" for r in rows))
    return table


def ncu_command(ncu, names, batch, versions=(), conv_algorithm="auto"):
    """ncu's command line: this script's --child under it, with the layers, the batch, the
    kernel versions (``versions``: [(family, version)], as --kernel-version gives them) and the
    convolutions' algorithm (--conv-algorithm)."""
    return [ncu, "--csv", "--print-units", "base", "--clock-control", "none", "--profile-from-start", "off",
            "--metrics", ",".join(METRICS), sys.executable, os.path.abspath(__file__), "--child",
            "--layers", ",".join(names), "--batch-size", str(batch), "--conv-algorithm", conv_algorithm,
            *[a for family, version in versions for a in ("--kernel-version", f"{family}={version}")]]


def ncu_beside(ncu, names, batch, meanwhile, versions=(), conv_algorithm="auto"):
    """Run ncu on this script's --child (the kernel ``versions`` and ``conv_algorithm`` of ncu_command) while
    ``meanwhile(check)`` runs here (the simulator's
    minutes beside the GPU's, not after them); ``check()`` raises NcuError as soon as ncu has
    failed. Returns ([(kernel name, {metric: value})] of the GPU's launches, what ``meanwhile``
    returned)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        ncu_run = subprocess.Popen(ncu_command(ncu, names, batch, versions, conv_algorithm), stdout=out, stderr=err,
                                   text=True)

        def failed():
            err.seek(0)
            out.seek(0)
            said = (err.read() or out.read()).strip().splitlines()
            return NcuError(f"ncu exited with {ncu_run.returncode}: " + " | ".join(said[-6:]))

        def check():
            if ncu_run.poll() not in (None, 0):
                raise failed()
        try:
            result = meanwhile(check)
        except BaseException:
            ncu_run.kill()
            ncu_run.wait()
            raise
        if ncu_run.wait() != 0:
            raise failed()
        out.seek(0)
        return parse_ncu_csv(out.read()), result


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", default=None, help="comma-separated layer names of benchmarks/kernels.py (default: all)")
    p.add_argument("--batch-size", type=positive_int, default=8,
                   help="images per batch (default: 8, as benchmarks/kernel_traffic.py's committed counts)")
    p.add_argument("--ncu", default=None, help="the Nsight Compute command line (default: ncu on the PATH)")
    p.add_argument("--child", action="store_true",
                   help="(what this script runs under ncu) run the layers on the GPU inside the profiler's range")
    add_kernel_version_argument(p)
    add_conv_algorithm_argument(p)
    add_out_argument(p)
    args = p.parse_args(argv)
    args.names = [n.strip() for n in (args.layers or ",".join(LAYERS)).split(",") if n.strip()]
    unknown = [n for n in args.names if n not in LAYERS]
    if unknown:
        p.error(f"unknown layers {unknown}; known: {', '.join(LAYERS)}")
    if not args.child:
        args.ncu = args.ncu or shutil.which("ncu")
        if args.ncu is None:
            p.error("Nsight Compute's ncu is not on the PATH (it comes with the CUDA toolkit): give it with --ncu")
    return args


def main(argv=None):
    args = parse_args(argv)
    versions_tag = use_kernel_versions(args)   # on the GPU (the child) and under the simulator alike
    if args.child:
        run_on_gpu(args.names, args.batch_size, args.conv_algorithm)
        return
    from minicnn.environment import gpu_description, gpu_name
    try:
        on_gpu, simulated = ncu_beside(args.ncu, args.names, args.batch_size,
                                       lambda check: simulated_launches(args.names, args.batch_size, check,
                                                                        args.conv_algorithm),
                                       args.kernel_version, args.conv_algorithm)
        pairs, others = match(simulated, on_gpu)
        rows = compare(pairs)
    except NcuError as exc:
        raise SystemExit(f"error: {exc}")
    today, gpu = datetime.date.today().isoformat(), gpu_name()
    table = report(rows, others, gpu_description(), args.batch_size, today)
    print(table)
    algorithm = "" if args.conv_algorithm == "auto" else f"-{args.conv_algorithm}"
    written = write_results(args.out, f"ncu-traffic-{gpu.replace(' ', '_')}-b{args.batch_size}{algorithm}{versions_tag}-"
                                      f"{today}",
                            table, dict(gpu=gpu, batch_size=args.batch_size, date=today, metrics=METRICS,
                                        conv_algorithm=args.conv_algorithm,
                                        kernel_versions={f: kernel_versions.current(f) for f in kernel_versions.VERSIONS},
                                        not_compared=others, launches=rows))
    print("written:", ", ".join(written))


if __name__ == "__main__":
    run_script(main)
