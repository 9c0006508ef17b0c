"""benchmarks/loads_in_flight.py: the global loads a thread has in flight, read from the scoreboard
barriers of nvcc's machine code. The reading is checked on a listing made by hand, whose control
bits say what the trace must find; then on the kernels themselves (compiled by nvcc, disassembled by
cuobjdump: the dev extra's nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm), where it holds the
README's claims about the numbered versions to what nvcc made of them."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import loads_in_flight  # noqa: E402
from minicnn.kernels import find_nvcc  # noqa: E402

SCRIPT = loads_in_flight.__file__
NO_READ_BARRIER = 7 << 49


def listed(address, text, wait=0, barrier=loads_in_flight.NO_BARRIER):
    """One instruction as cuobjdump -sass prints it: its address and text, then its two 64-bit
    words, the second holding the barrier it sets (bits 46-48) and those it waits on (52-57)."""
    control = (wait << 52) | NO_READ_BARRIER | (barrier << 46)
    return (f"        /*{address:04x}*/                   {text} ;   /* 0x{address:016x} */\n"
            f"                                                                 /* 0x{control:016x} */\n")


def test_a_wait_retires_every_load_of_the_barriers_it_names():
    listing = ("\n\tcode for sm_90\n\t\tFunction : two_then_one\n"
               + listed(0x10, "@P0 EXIT")
               + listed(0x20, "LDG.E R2, desc[UR4][R4.64]", barrier=2)
               + listed(0x30, "LDG.E R3, desc[UR4][R4.64+0x4]", barrier=3)
               + listed(0x40, "@!P1 LDG.E R6, desc[UR4][R4.64+0x8]", barrier=3)
               + listed(0x50, "FADD R7, R2, RZ", wait=1 << 2)          # the first load's barrier
               + listed(0x60, "LDG.E.128 R8, desc[UR4][R4.64+0x10]", barrier=2)
               + listed(0x70, "FADD R7, R7, R3", wait=(1 << 2) | (1 << 3))   # all three left
               + listed(0x80, "@!P2 BRA 0x20")
               + listed(0x90, "STG.E desc[UR4][R4.64], R7", wait=1 << 0)   # no load on barrier 0
               + "\t\tFunction : none\n" + listed(0x10, "EXIT"))
    listings = loads_in_flight.functions(listing)
    assert list(listings) == ["two_then_one", "none"]
    code = loads_in_flight.instructions(listings["two_then_one"])
    assert [(i.address, i.predicate, i.opcode) for i in code[:4]] == [
        (0x10, "@P0", "EXIT"), (0x20, None, "LDG.E"), (0x30, None, "LDG.E"), (0x40, "@!P1", "LDG.E")]
    assert [(i.wait_mask, i.write_barrier) for i in code[1:5]] == [(0, 2), (0, 3), (0, 3), (4, 7)]
    events, most = loads_in_flight.trace(code)
    assert [(i.address, event, count) for i, event, count in events] == [
        (0x10, "exit", 0), (0x20, "load", 1), (0x30, "load", 2), (0x40, "load", 3),
        (0x50, "waits for 1", 2), (0x60, "load", 3), (0x70, "waits for 3", 0), (0x80, "branch", 0)]
    assert most == 3
    assert loads_in_flight.trace(loads_in_flight.instructions(listings["none"])) == ([(
        loads_in_flight.instructions(listings["none"])[0], "exit", 0)], 0)


def test_the_count_follows_each_path_not_the_listing():
    """Two ways through a branch: three loads on one, two on the other, then a wait on all four
    barriers. A thread has at most 3 in flight, where the listing read top to bottom would give 5;
    "BRA.U !UP0, 0x60" (a uniform predicate among its operands) may fall through, "BRA 0x90" may not."""
    listing = ("\t\tFunction : either_way\n"
               + listed(0x10, "BRA.U !UP0, 0x60")
               + listed(0x20, "LDG.E R2, desc[UR4][R4.64]", barrier=0)
               + listed(0x30, "LDG.E R3, desc[UR4][R4.64+0x4]", barrier=1)
               + listed(0x40, "LDG.E R6, desc[UR4][R4.64+0x8]", barrier=1)
               + listed(0x50, "BRA 0x90")
               + listed(0x60, "LDG.E R2, desc[UR4][R8.64]", barrier=2)
               + listed(0x70, "LDG.E R3, desc[UR4][R8.64+0x4]", barrier=3)
               + listed(0x80, "NOP")
               + listed(0x90, "FADD R7, R2, R3", wait=0b1111)
               + listed(0xa0, "EXIT"))
    code = loads_in_flight.instructions(loads_in_flight.functions(listing)["either_way"])
    events, most = loads_in_flight.trace(code)
    assert most == 3
    assert [(i.address, event, count) for i, event, count in events] == [
        (0x10, "branch", 0), (0x20, "load", 1), (0x30, "load", 2), (0x40, "load", 3), (0x50, "branch", 3),
        (0x60, "load", 1), (0x70, "load", 2), (0x90, "waits for 2-3", 0), (0xa0, "exit", 0)]


def test_a_jump_table_may_go_to_any_code_that_nothing_runs_on_to():
    """An indirect branch (BRX: a switch's jump table, whose targets the listing does not give) may
    go to any instruction that the one before it does not run on to; a call's subroutine returns."""
    listing = ("\t\tFunction : switch\n"
               + listed(0x10, "CALL.REL.NOINC 0x80")
               + listed(0x20, "BRX R2 -0x30")
               + listed(0x30, "LDG.E R3, desc[UR4][R4.64]", barrier=0)
               + listed(0x40, "EXIT")
               + listed(0x50, "LDG.E R3, desc[UR4][R4.64]", barrier=1)
               + listed(0x60, "LDG.E R5, desc[UR4][R4.64+0x4]", barrier=2)
               + listed(0x70, "EXIT")
               + listed(0x80, "RET.REL.NODEC R20 0x0"))
    code = loads_in_flight.instructions(loads_in_flight.functions(listing)["switch"])
    assert loads_in_flight.successors(code) == [[1, 7], [2, 4, 7], [3], [], [5], [6], [], []]
    events, most = loads_in_flight.trace(code)
    assert most == 2 and [(i.address, count) for i, event, count in events if event == "load"] == [
        (0x30, 1), (0x50, 1), (0x60, 2)]


def test_a_loop_step_counts_the_loads_carried_round_from_its_last_step():
    """A branch back closes a loop; its step's figure counts the load the body asks for at its end
    for the next step (at 0x40, waited for at 0x30 next time round): 3, where the body read once
    from nothing in flight holds 2. A branch forward, or back over no load, is no loop of loads."""
    listing = ("\t\tFunction : pipelined\n"
               + listed(0x10, "LDG.E R2, desc[UR4][R4.64]", barrier=2)
               + listed(0x20, "LDG.E R3, desc[UR4][R4.64+0x4]", barrier=3)
               + listed(0x30, "FFMA R7, R2, R3, R6", wait=(1 << 1) | (1 << 2) | (1 << 3))
               + listed(0x40, "LDG.E R6, desc[UR4][R4.64+0x8]", barrier=1)
               + listed(0x50, "@P0 BRA 0x10")
               + listed(0x60, "@P1 BRA 0x80")
               + listed(0x70, "IADD3 R4, R4, 0x4, RZ")
               + listed(0x80, "@P2 BRA 0x70")
               + listed(0x90, "EXIT"))
    code = loads_in_flight.instructions(loads_in_flight.functions(listing)["pipelined"])
    assert loads_in_flight.loops(code) == [(0x10, 0x50, 3)]
    assert loads_in_flight.trace(code)[1] == 3 and loads_in_flight.trace(code[:4])[1] == 2   # once through


def test_every_kernel_of_the_sources_can_be_named():
    """Each extern "C" kernel of kernels/*.cu is found in its source, those declared with
    __launch_bounds__ between __global__ and void (lrn_forward_v4, the tiled GEMM's) among them."""
    from minicnn.kernels import kernel_signatures, source_names
    named = {kernel: source for source in source_names() for kernel in kernel_signatures(source)}
    assert len(named) > 90 and {"lrn_forward_v4", "gemm_tiled_v9"} <= set(named)
    assert {kernel: loads_in_flight.source_of(kernel) for kernel in named} == named


def test_the_command_line_refuses_what_it_cannot_read(monkeypatch, capsys):
    for argv, message in (([], "name kernels (maxpool_forward_v7) or a --source (maxpool)"),
                          (["maxpool_forward_v9"], 'no kernel maxpool_forward_v9 in kernels/*.cu')):
        with pytest.raises(SystemExit) as stopped:
            loads_in_flight.main(argv)
        assert stopped.value.code == 2 and message in capsys.readouterr().err
    monkeypatch.setattr(loads_in_flight, "find_cuobjdump", lambda: None)
    monkeypatch.setattr(loads_in_flight, "find_nvcc", lambda: "nvcc")
    with pytest.raises(SystemExit, match="cuobjdump is not installed .*pip install nvidia-cuda-cuobjdump "
                                         "nvidia-cuda-nvdisasm"):
        loads_in_flight.main(["relu_forward_v1"])


TOOLS_MISSING = ("nvcc is not installed" if find_nvcc() is None else
                 "cuobjdump is not installed (pip install -e '.[dev]')" if loads_in_flight.find_cuobjdump() is None
                 else None)


@pytest.mark.skipif(TOOLS_MISSING is not None, reason=f"the kernels' machine code cannot be read: {TOOLS_MISSING}")
def test_what_the_readme_says_of_the_kernels_loads_in_flight():
    """For sm_90, float32: ReLU's version 1 one load a thread, its version 2 four and more; col2im's
    version 3 one at a time, its version 6 above 20 of a 5 x 5 window's 25; LRN's version 3 one a
    step of its walk, version 4 four (backward 2 and 8); max-pool's version 7 forward all nine of a
    3 x 3 window before the first compare (the first wait on one of them comes after the ninth
    load), one trip to memory where version 2's loops make more, and version 8 nine a step of its loop;
    the conv bias gradient's version 5 four values a lane a step, eight with the fused ReLU's mask."""
    result = subprocess.run([sys.executable, SCRIPT, "--summary", "relu_forward_v1", "relu_forward_v2", "col2im_v3",
                             "col2im_v6", "lrn_forward_v3", "lrn_forward_v4", "lrn_backward_v3", "lrn_backward_v4",
                             "maxpool_forward_v8", "nchw_to_gemm_bias_grad_v5"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    most, steps, kernel = {}, {}, None   # a kernel's line, then a line for each of its loops
    for line in result.stdout.splitlines():
        figure = int(line.split("at most ")[1].split()[0])
        if line.startswith("  loop "):
            steps.setdefault(kernel, []).append(figure)
        else:
            kernel = line.split()[0]
            most[kernel] = figure
    assert most["relu_forward_v1"] == 1 and most["relu_forward_v2"] >= 4
    assert most["col2im_v3"] == 1 and most["col2im_v6"] > 20
    # LRN's walk down the channels, the innermost loops: version 3 one channel's load at a time,
    # version 4 four (its prologue, the window's first channels, holds 4 in both)
    assert most["lrn_forward_v3"] == most["lrn_forward_v4"] == 4
    assert min(steps["lrn_forward_v3"]) == 1 and min(steps["lrn_forward_v4"]) >= 4
    # backward, AlexNet's window of 5: a channel's x and dL/dy a step in version 3, four channels' in version 4
    # (the loops listed by address: the first, the grid-stride loop around the walk, is left out)
    assert min(steps["lrn_backward_v3"]) == 2 and max(steps["lrn_backward_v4"][1:]) >= 8
    # max-pool's version 8: version 7's window, its nine loads a step of the grid-stride loop
    assert steps["maxpool_forward_v8"] == [9]
    # the bias gradient's version 5: four values a lane a step, and with the fused ReLU their y too
    assert sorted(steps["nchw_to_gemm_bias_grad_v5"]) == [4, 8]
    listings = loads_in_flight.functions(loads_in_flight.machine_code(
        "maxpool", "90", "float32", find_nvcc(), loads_in_flight.find_cuobjdump()))
    for version, in_one_trip in ((7, 9), (2, 2)):
        events, _ = loads_in_flight.trace(loads_in_flight.instructions(listings[f"maxpool_forward_v{version}"]))
        counts = [count for _, event, count in events if event == "load"]
        first_wait = next(k for k, (_, event, _) in enumerate(events) if event.startswith("waits"))
        loads_before = sum(1 for _, event, _ in events[:first_wait] if event == "load")
        assert loads_before == in_one_trip, (version, counts)
