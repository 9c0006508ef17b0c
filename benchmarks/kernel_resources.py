#!/usr/bin/env python3
"""What every CUDA kernel asks of a multiprocessor, without a GPU: nvcc's resource report.

Each kernels/*.cu is compiled by nvcc for one architecture (default sm_90: H100, H200) and ptxas
reports, per kernel, its registers per thread, its static shared memory, its stack frame (local
memory: arrays indexed at run time cannot live in registers) and any register spills. From
those, the blocks that fit on one multiprocessor, of the most threads the kernel is launched with
(``minicnn.launch.BLOCK``, 256, but for the kernels of LARGER_BLOCKS), and the theoretical
occupancy: the resident warps over the 64 a multiprocessor can hold. Occupancy is not speed, but
a kernel far below full occupancy has fewer loads in flight to hide memory latency with, which is
what the memory-bound kernels live on.

    python benchmarks/kernel_resources.py                   # sm_90, float32
    python benchmarks/kernel_resources.py --arch 80 --real float64

Writes a Markdown table and a JSON file to benchmarks/results/ (--out).
"""
import argparse
import concurrent.futures
import datetime
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import add_out_argument, write_results  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minicnn.arguments import run_script  # noqa: E402
from minicnn.kernels import compile_options, find_nvcc, source_names, source_path  # noqa: E402
from minicnn.launch import BLOCK  # noqa: E402
from minicnn.layers.lrn_maxpool import LRN_POOL_BAND_PIXELS  # noqa: E402

# The kernels launched with blocks of more than BLOCK threads: the most they get.
LARGER_BLOCKS = {"lrn_maxpool_forward_v4": LRN_POOL_BAND_PIXELS, "lrn_maxpool_forward_v5": LRN_POOL_BAND_PIXELS}

# Per multiprocessor, from NVIDIA's CUDA C++ Programming Guide (compute capabilities 8.0 and 9.0).
LIMITS = {
    "80": dict(registers=65536, warps=64, blocks=32, shared=167936),
    "90": dict(registers=65536, warps=64, blocks=32, shared=233472),
}
REGISTER_UNIT = 256            # registers are given to a warp in units of 256
SHARED_RESERVED = 1024         # bytes of shared memory the system reserves per block

_ENTRY = re.compile(r"Compiling entry function '(\w+)'(?: for 'sm_(\w+)')?")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")
_SHARED = re.compile(r"(\d+) bytes smem")


def nvcc_version(nvcc):
    """'13.0.88', from nvcc --version."""
    return re.search(r"V(\d+\.\d+\.\d+)", subprocess.run([nvcc, "--version"], capture_output=True,
                                                          text=True).stdout).group(1)


def parse_ptxas(report, arch=None):
    """{kernel: dict(registers, shared, stack, spill_stores, spill_loads)} from ptxas's -v output
    (of the kernels compiled for sm_``arch`` where nvcc compiled for several architectures)."""
    kernels, name = {}, None
    for line in report.splitlines():
        if (m := _ENTRY.search(line)):
            name = m.group(1) if arch is None or m.group(2) in (None, arch) else None
            if name:
                kernels[name] = dict(registers=0, shared=0, stack=0, spill_stores=0, spill_loads=0)
        elif name and (m := _FRAME.search(line)):
            kernels[name].update(stack=int(m.group(1)), spill_stores=int(m.group(2)), spill_loads=int(m.group(3)))
        elif name and (m := _USED.search(line)):
            kernels[name]["registers"] = int(m.group(1))
            if (s := _SHARED.search(line)):
                kernels[name]["shared"] = int(s.group(1))
    return kernels


def blocks_per_sm(registers, shared, arch, block=BLOCK):
    """Blocks of ``block`` threads that fit on one multiprocessor at once, and what limits them:
    "threads" (the multiprocessor is full), "blocks", "registers" or "shared memory"."""
    limit = LIMITS[arch]
    warps = math.ceil(block / 32)
    per_warp = math.ceil(registers * 32 / REGISTER_UNIT) * REGISTER_UNIT
    bounds = {"threads": limit["warps"] // warps, "blocks": limit["blocks"],
              "registers": (limit["registers"] // per_warp) // warps if per_warp else limit["blocks"],
              "shared memory": limit["shared"] // (shared + SHARED_RESERVED) if shared else limit["blocks"]}
    blocks = min(bounds.values())
    return blocks, min(bounds, key=bounds.get)


def ptxas_reports(nvcc, arch, real):
    """{source name: ptxas's report} of every kernels/*.cu compiled for sm_``arch``."""
    commands = [[nvcc, "-std=c++17", f"-arch=sm_{arch}", "--resource-usage", *compile_options(real), "-cubin",
                 "-o", os.devnull, source_path(name)] for name in source_names()]
    # one nvcc per core at a time: the sources compile independently (gemm_tiled.cu takes the longest)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        compiled = list(pool.map(lambda command: subprocess.run(command, capture_output=True, text=True), commands))
    for command, done in zip(commands, compiled):
        if done.returncode:
            raise SystemExit(f"error: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return {name: done.stdout + done.stderr for name, done in zip(source_names(), compiled)}


def kernel_resources(reports, arch):
    """One row per kernel of every source, from ``reports`` ({source name: ptxas's report, of
    sm_``arch`` among others}): its resources, and its occupancy with blocks of BLOCK threads
    (LARGER_BLOCKS for the kernels launched with more)."""
    rows = []
    for name, report in reports.items():
        for kernel, used in sorted(parse_ptxas(report, arch).items()):
            threads = LARGER_BLOCKS.get(kernel, BLOCK)
            blocks, limited_by = blocks_per_sm(used["registers"], used["shared"], arch, threads)
            version = re.search(r"_v(\d+)$", kernel)
            rows.append(dict(source=f"{name}.cu", kernel=kernel, version=int(version.group(1)) if version else None,
                             **used, threads=threads, blocks_per_sm=blocks, limited_by=limited_by,
                             occupancy=blocks * math.ceil(threads / 32) / LIMITS[arch]["warps"]))
    return rows


def table(rows, arch, real, version):
    lines = [f"Kernel resources, sm_{arch}, real_t = {real}, nvcc {version}: registers per thread, static shared "
             f"memory, local memory (stack frame) and spills, as ptxas reports them; blocks of the most threads "
             f"the kernel is launched with that fit on one multiprocessor, and the theoretical occupancy "
             f"(resident warps of {LIMITS[arch]['warps']}).", "",
             "| source | kernel | registers | shared (bytes) | local (bytes) | spills (bytes) | threads per block "
             "| blocks/SM | occupancy | limited by |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['source']} | {r['kernel']} | {r['registers']} | {r['shared']} | {r['stack']} | "
                     f"{r['spill_stores'] + r['spill_loads']} | {r['threads']} | {r['blocks_per_sm']} | "
                     f"{r['occupancy']:.0%} | {r['limited_by']} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="90", choices=sorted(LIMITS), help="compute capability (default: 90)")
    p.add_argument("--real", default="float32", choices=("float32", "float64"),
                   help="the kernels' real_t (default: float32, what training runs in)")
    add_out_argument(p)
    args = p.parse_args(argv)
    nvcc = find_nvcc()
    if nvcc is None:
        raise SystemExit("error: nvcc is not installed (the CUDA toolkit's compiler; no GPU is needed)")
    version = nvcc_version(nvcc)
    rows = kernel_resources(ptxas_reports(nvcc, args.arch, args.real), args.arch)
    text = table(rows, args.arch, args.real, version)
    print(text)
    stem = f"kernel-resources-sm_{args.arch}-{args.real}-{datetime.date.today().isoformat()}"
    paths = write_results(args.out, stem, text, dict(arch=args.arch, real=args.real, nvcc=version,
                                                     kernels=rows))
    print("written:", ", ".join(paths))


if __name__ == "__main__":
    run_script(main)
