"""Run a command with the kernel simulator under a sanitizer (see minicnn/simulator/__init__.py):

    python -m minicnn.simulator.sanitize address python -m pytest -q -m kernel -k sim
    python -m minicnn.simulator.sanitize thread  python -m pytest -q -m kernel -k sim

address: AddressSanitizer stops at the first access outside an array (compute-sanitizer's
memcheck); thread: ThreadSanitizer reports the first data race between the threads of a block
(racecheck). Either way the command exits non-zero with the report on stderr.
"""
import argparse
import os
import sys

from minicnn.simulator import SANITIZERS, SimulatorError, sanitizer_environment


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minicnn.simulator.sanitize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sanitizer", choices=SANITIZERS, help="address (out-of-bounds accesses) or thread (races)")
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
