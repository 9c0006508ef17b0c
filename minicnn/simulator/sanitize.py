"""Run a command with the kernel simulator under a sanitizer (see minicnn/simulator/__init__.py):

    python -m minicnn.simulator.sanitize address python -m pytest -q -m kernel -k sim
    python -m minicnn.simulator.sanitize thread  python -m pytest -q -m kernel -k sim
    python -m minicnn.simulator.sanitize blocks  python -m pytest -q -m kernel -k sim

address: AddressSanitizer stops at the first access outside an array (compute-sanitizer's
memcheck), UndefinedBehaviorSanitizer at the first undefined operation (a signed int index that
overflows, a shift too far); thread: ThreadSanitizer reports the first data race between the
threads of a block (racecheck); blocks: the simulator reports the first element of a global array
that one block of a launch writes and another reads or writes (no GPU tool checks this). Either
way the command exits non-zero with the report on stderr (GCC's sanitizers), or the launch raises
SimulatorError with it (blocks).
"""
import argparse
import os
import sys

from minicnn.simulator import SANITIZERS, SimulatorError, sanitizer_environment


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minicnn.simulator.sanitize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sanitizer", choices=SANITIZERS,
                        help="address (out-of-bounds accesses, undefined behaviour), thread (races "
                             "between a block's threads) or blocks (races between the blocks of a launch)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, with its arguments")
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("give the command to run, e.g. python -m pytest -q -m kernel -k sim")
    try:
        env = sanitizer_environment(args.sanitizer)
    except SimulatorError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    sys.stdout.flush()
    os.execvpe(args.command[0], args.command, env)


if __name__ == "__main__":
    main()
