#!/usr/bin/env python3
"""The global loads a thread of a kernel has in flight, read from nvcc's machine code: no GPU.

A memory-bound kernel reaches the bandwidth only with enough loads on their way at once: each
takes hundreds of cycles, and a thread that waits for one before it asks for the next spends most
of its time waiting. The source does not say how many a thread has in flight; the compiler's
scheduling decides (a loop of run-time bounds, a load under a bounds test, a compare the next
load waits behind). The machine code says. ``cuobjdump -sass`` prints each instruction with its
control bits (the second 64-bit word of its 128): a global load (``LDG``) sets one of six
scoreboard barriers (bits 46-48: 7 for none), and an instruction waits on a mask of barriers
(bits 52-57) before it may read a register a load wrote. The loads that set a barrier since the
last wait on it are the ones in flight.

    python benchmarks/loads_in_flight.py maxpool_forward_v2 maxpool_forward_v7
    python benchmarks/loads_in_flight.py --source relu            # every kernel of kernels/relu.cu
    python benchmarks/loads_in_flight.py --arch 80 --real float64 lrn_forward_v4

The count follows every path the code can take from the kernel's entry: both ways of each branch
(a predicated load counted as made), each loop round and round until its counts repeat. For each
kernel it prints the most loads in flight at once; for each loop (a branch back to an earlier
address) the most in flight a step of it once the loop has gone round, the loads a step asks for
for the next one included (a kernel's most at once can be its prologue's: LRN's version 3 loads a
window's first channels together, then waits on each channel's load in its walk); then, in the
order of the listing, its loads and the waits that retire them, each with the most in flight after
it on any path. Needs nvcc and cuobjdump with nvdisasm: the CUDA toolkit's, or NVIDIA's
packages from PyPI (``pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm``).
"""
import argparse
import collections
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minicnn.arguments import run_script  # noqa: E402
from minicnn.kernels import compile_options, find_nvcc, kernel_signatures, source_names, source_path  # noqa: E402

Instruction = collections.namedtuple("Instruction", "address predicate opcode text wait_mask write_barrier")
NO_BARRIER = 7

# "/*0370*/   @!P2 LDG.E.CONSTANT R11, desc[UR6][R18.64] ;   /* 0x... */" and the next line's
# "/* 0x... */": the instruction's two 64-bit words, the control bits in the second
_INSTRUCTION = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;\s*/\* 0x[0-9a-f]{16} \*/\s*\n\s*/\* (0x[0-9a-f]{16}) \*/")
_FUNCTION = re.compile(r"^\s*Function : (\S+)\s*$", re.M)


def functions(sass):
    """{kernel name: its part of a ``cuobjdump -sass`` listing}."""
    parts = _FUNCTION.split(sass)
    return dict(zip(parts[1::2], parts[2::2]))


def instructions(listing):
    """The Instructions of one kernel's listing, in order: address, predicate ("@!P2" or None),
    opcode, text, and from the control bits the barriers it waits on (a mask of 6 bits) and the one
    it sets (NO_BARRIER: none)."""
    found = []
    for m in _INSTRUCTION.finditer(listing):
        text, control = m.group(2), int(m.group(3), 16)
        predicate = None
        if text.startswith("@"):
            predicate, text = text.split(None, 1)
        found.append(Instruction(int(m.group(1), 16), predicate, text.split()[0], text,
                                 (control >> 52) & 0x3F, (control >> 46) & 0x7))
    return found


BARRIERS = 6
MOST_COUNTED = 64   # loads a barrier counts at most: a loop that never waits for its loads stops growing


def is_load(ins):
    """Whether ``ins`` is a global load into registers (LDG), whose value a later instruction waits
    for on its scoreboard barrier. cp.async's copies to shared memory (LDGSTS) are not: they are
    counted in groups (LDGDEPBAR) and waited for by DEPBAR, which this reading does not follow."""
    return ins.opcode.startswith("LDG") and not ins.opcode.startswith(("LDGSTS", "LDGDEPBAR"))


def retire(ins, state):
    """``state`` (a tuple: the loads in flight on each barrier) after ``ins``'s wait, which retires
    every load of the barriers it names."""
    return tuple(0 if (ins.wait_mask >> barrier) & 1 else n for barrier, n in enumerate(state))


def after(ins, state):
    """The loads in flight after ``ins`` given ``state`` before it: its wait, then a global load
    joins its barrier's."""
    state = retire(ins, state)
    if is_load(ins) and ins.write_barrier < BARRIERS:
        state = tuple(min(n + 1, MOST_COUNTED) if barrier == ins.write_barrier else n
                      for barrier, n in enumerate(state))
    return state


_TARGET = re.compile(r"0x([0-9a-f]+)\s*$")


def successors(code):
    """[the indices of code that may run after code[k]] for each k: the next one, unless ``k`` is
    an EXIT, a return or a branch taken whatever its predicates; a branch's or a call's target (a
    call's subroutine runs from there to its return, the code after the call from its state before
    it: the subroutines nvcc calls, its division's slow paths, hold no global load); and for an
    indirect branch (BRX, a jump table), every instruction that none before it runs on to."""
    index = {ins.address: k for k, ins in enumerate(code)}
    found = []
    for k, ins in enumerate(code):
        unconditional = ins.predicate in (None, "@PT")
        after_it = [k + 1] if k + 1 < len(code) else []
        target = _TARGET.search(ins.text)
        if ins.opcode.startswith("BRX"):
            found.append(None)   # filled in below
        elif ins.opcode.startswith(("EXIT", "RET")):
            found.append([] if unconditional else after_it)
        elif ins.opcode.startswith(("BRA", "CALL")) and target and int(target.group(1), 16) in index:
            # "BRA 0x1480" is taken whatever; "@P0 BRA", "BRA.U !UP0, 0x...", "BRA.DIV UR4, 0x..." may not be
            taken_always = (ins.opcode.startswith("BRA") and unconditional
                            and ins.text.split(None, 1)[1].strip() == target.group(0).strip())
            found.append(([] if taken_always else after_it) + [index[int(target.group(1), 16)]])
        else:
            found.append(after_it)
    not_run_on_to = [k for k in range(1, len(code)) if k not in (found[k - 1] or [])]
    return [not_run_on_to if nexts is None else nexts for nexts in found]


def reachable_states(code, starts, first=0, last=None):
    """[the set of states (loads in flight on each barrier) in which code[k] may run] for each k,
    following every path from ``starts`` ([(index, state)]) and staying within code[first:last + 1]."""
    last = len(code) - 1 if last is None else last
    nexts, seen, work = successors(code), [set() for _ in code], list(starts)
    while work:
        k, state = work.pop()
        if state in seen[k]:
            continue
        seen[k].add(state)
        state = after(code[k], state)
        work.extend((m, state) for m in nexts[k] if first <= m <= last)
    return seen


def trace(listing_instructions):
    """[(instruction, event, the most in flight after it)] in the order of the listing, for each
    global load ("load"), each wait that retires one or more ("waits for N", or "N-M" where paths
    differ), each branch and each exit that a path from the kernel's entry reaches, and the most
    loads in flight at once. Every path is followed (the two ways of a branch, a loop round and
    round), so that a count is that of a path the code can take, not of the listing's order."""
    code = list(listing_instructions)
    states = reachable_states(code, [(0, (0,) * BARRIERS)]) if code else []
    events, most = [], 0
    for ins, before in zip(code, states):
        if not before:
            continue
        afters = [after(ins, state) for state in before]
        in_flight = max(sum(state) for state in afters)
        most = max(most, in_flight)
        retired = sorted({sum(state) - sum(retire(ins, state)) for state in before} - {0})
        if retired:
            events.append((ins, "waits for " + "-".join(str(n) for n in sorted({retired[0], retired[-1]})),
                           max(sum(retire(ins, state)) for state in before)))
        if is_load(ins):
            events.append((ins, "load", in_flight))
        elif ins.opcode.startswith(("BRA", "EXIT")):
            events.append((ins, "branch" if ins.opcode.startswith("BRA") else "exit", in_flight))
    return events, most


def loops(listing_instructions):
    """[(first address, last address, most loads in flight a step)] for each loop of the kernel
    that holds a global load: a branch back to an earlier address closes one. A step's figure is
    the most in flight on any path through the body after the branch back was taken, so that the
    loads a step asks for at its end and waits for next time round (a software-pipelined loop)
    count, and the loads the code before the loop left in flight, which the first step retires, do
    not."""
    code = list(listing_instructions)
    states = reachable_states(code, [(0, (0,) * BARRIERS)]) if code else []
    found = []
    index = {ins.address: k for k, ins in enumerate(code)}
    for k, ins in enumerate(code):
        target = _TARGET.search(ins.text) if ins.opcode.startswith("BRA") else None
        first = index.get(int(target.group(1), 16)) if target else None
        if first is None or first > k or not states[k]:
            continue
        if not any(is_load(i) for i in code[first:k + 1]):
            continue
        round_again = reachable_states(code, [(first, after(ins, state)) for state in states[k]], first, k)
        found.append((code[first].address, ins.address,
                      max(sum(after(code[j], state)) for j in range(first, k + 1) for state in round_again[j])))
    return sorted(found)


def package_tools(name):
    """The executables ``name`` of NVIDIA's PyPI packages in this Python's site folders
    (nvidia/cu13/bin/cuobjdump, or nvidia/cuda_cuobjdump/bin/cuobjdump before CUDA 13)."""
    found = [p for folder in sys.path for p in sorted(glob.glob(os.path.join(folder, "nvidia", "*", "bin", name)))]
    return [p for p in found if os.path.isfile(p) and os.access(p, os.X_OK)]


def find_cuobjdump():
    """cuobjdump's path: on the PATH, in the CUDA toolkit, or from the nvidia-cuda-cuobjdump
    package; None if none is found."""
    candidates = [shutil.which("cuobjdump"), "/usr/local/cuda/bin/cuobjdump", *package_tools("cuobjdump")]
    return next((c for c in candidates if c and os.path.isfile(c) and os.access(c, os.X_OK)), None)


def machine_code(source, arch, real, nvcc, cuobjdump):
    """``cuobjdump -sass`` of kernels/``source``.cu compiled by nvcc for sm_``arch``."""
    # cuobjdump runs nvdisasm, which it looks for on the PATH: the toolkit's sits beside it, the
    # nvidia-cuda-nvdisasm package's in its own folder
    folders = [os.path.dirname(cuobjdump)] + [os.path.dirname(p) for p in package_tools("nvdisasm")]
    env = dict(os.environ, PATH=os.pathsep.join(folders + [os.environ.get("PATH", "")]))
    with tempfile.TemporaryDirectory(prefix="minicnn-sass-") as folder:
        cubin = os.path.join(folder, source + ".cubin")
        for command in ([nvcc, "-std=c++17", f"-arch=sm_{arch}", *compile_options(real), "-cubin", "-o", cubin,
                         source_path(source)], [cuobjdump, "-sass", cubin]):
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode:
                raise SystemExit(f"error: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout


def source_of(kernel):
    """The kernels/*.cu that defines ``kernel`` (an extern "C" __global__), or None."""
    return next((name for name in source_names() if kernel in kernel_signatures(name)), None)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kernels", nargs="*", metavar="KERNEL", help="kernel names, e.g. maxpool_forward_v7")
    p.add_argument("--source", choices=source_names(), help="every kernel of kernels/SOURCE.cu")
    p.add_argument("--arch", default="90", help="compute capability to compile for (default: 90, H100 and H200)")
    p.add_argument("--real", default="float32", choices=("float32", "float64"),
                   help="the kernels' real_t (default: float32, what training runs in)")
    p.add_argument("--summary", action="store_true", help="the most loads in flight of each kernel, no trace")
    args = p.parse_args(argv)
    if not args.kernels and not args.source:
        p.error("name kernels (maxpool_forward_v7) or a --source (maxpool)")
    wanted = {args.source: None} if args.source else {}   # source -> the kernels asked for (None: all)
    for kernel in args.kernels:
        source = source_of(kernel)
        if source is None:
            p.error(f"no kernel {kernel} in kernels/*.cu (an extern \"C\" __global__ function's name)")
        if wanted.get(source, []) is not None:   # not all of the source's already
            wanted.setdefault(source, []).append(kernel)
    nvcc, cuobjdump = find_nvcc(), find_cuobjdump()
    if nvcc is None or cuobjdump is None:
        raise SystemExit(f"error: {'nvcc' if nvcc is None else 'cuobjdump'} is not installed (the CUDA "
                         f"toolkit's; cuobjdump also comes with `pip install nvidia-cuda-cuobjdump "
                         f"nvidia-cuda-nvdisasm`; no GPU is needed)")
    for source, kernels in wanted.items():
        listings = functions(machine_code(source, args.arch, args.real, nvcc, cuobjdump))
        for kernel in kernels or sorted(listings):
            code = instructions(listings[kernel])
            events, most = trace(code)
            print(f"{kernel} (kernels/{source}.cu, sm_{args.arch}, {args.real}): "
                  f"at most {most} global load{'s' * (most != 1)} in flight a thread")
            for first, last, step_most in loops(code):
                print(f"  loop {first:#07x}-{last:#07x}: at most {step_most} in flight a step")
            if not args.summary:
                for ins, event, count in events:
                    print(f"  {ins.address:#07x}  {(ins.predicate or '') + ' ' + ins.text:<58.58}  {event:<12} "
                          f"in flight: {count}")


if __name__ == "__main__":
    run_script(main)
