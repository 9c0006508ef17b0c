"""What the command lines (examples/ and benchmarks/) share: argparse types of their numbers, and
warnings printed as one plain line.

Each takes the flag's text and returns the number, or raises ``argparse.ArgumentTypeError``, which
argparse prints as one line that names the flag: ``argument --epochs: expected an integer >= 1,
got '0'``. A bad value thus fails before any data is read or any network built, and never as a
traceback from deep inside a run (an SGD refusing a negative learning rate, an epoch of no
batches).

``settings(args, defaults, recorded)`` gives the flags a command line left out their values: a
resumed run's own (what its checkpoint recorded), else the defaults; a flag given with another
value than the resumed run's is refused, so that ``--resume`` alone continues any run as it began.

``plain_warnings()`` makes the library's warnings (a skipped unreadable image, an empty class
folder) print as ``warning: ...``, one line each, instead of Python's form for programmers, which
adds the file and source line that raised it."""
import argparse
import contextlib
import math
import os
import select
import signal
import sys
import tempfile
import threading
import warnings


def user_path(text):
    """A file or folder, a leading ``~`` (or ``~user``) made the home folder as a shell does: the
    shell leaves it as it is in ``--out=~/runs`` and in a quoted ``"~/runs"``, and the script would
    otherwise make a folder named ``~`` in the current one. An empty name is refused: ``--data
    "$DATA"`` with DATA unset trained on Fashion-MNIST as if no --data were given."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a file or folder, got {text!r} (an unset shell variable?)")
    return os.path.expanduser(text)


def output_folder(text):
    """A folder to write results into (``user_path``), made if needed and checked by writing a
    file in it (``minicnn.train.writable_folder``): a benchmark's --out fails before minutes of
    timing, not when the results are written at the end."""
    from minicnn.train import TrainingError, writable_folder
    try:
        return writable_folder(user_path(text), hint="")
    except TrainingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def unwritable_file(path):
    """Why a results file cannot be written at ``path`` (its folder made where missing), or None."""
    if os.path.isdir(path) or path.endswith(os.sep):
        return "a folder, not a file: name a file in it"
    folder = os.path.dirname(os.path.abspath(path))
    try:   # a file tried, not the permission bits (which root passes, and a read-only disk does not show)
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"its folder {folder} cannot be written ({exc.strerror or exc})"
    return None


def kernel_version(text):
    """"im2col=5" -> ("im2col", 5): a kernel family and one of its versions
    (``minicnn.kernel_versions.choice``), for a flag that runs the kernels in another version than
    the layers launch by default."""
    from minicnn import kernel_versions
    try:
        return kernel_versions.choice(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class SettingsError(ValueError):
    """A resumed run given a flag whose value differs from the run's own."""


def settings(args, defaults, recorded=None, free=(), run="the run"):
    """Fill in the flags of ``defaults`` that the command line left out, in place.

    args: argparse's namespace, in which each flag of ``defaults`` defaults to None, so that a flag
        given is told from one left out.
    defaults: {dest: default}; a default of None leaves the flag to the command (one that depends on
        another flag: the learning rate on the network).
    recorded: {dest: value} of a run being resumed (None values: not recorded); a flag left out takes
        the run's value, a flag given with another value raises SettingsError naming each such flag.
    free: the dests a resumed run may change (--epochs: train on).
    """
    changed = []
    for dest, default in defaults.items():
        given, kept = getattr(args, dest), (recorded or {}).get(dest)
        if given is None:
            setattr(args, dest, default if kept is None else kept)
        elif kept is not None and given != kept and dest not in free:
            flag = "--" + dest.replace("_", "-")
            if isinstance(given, bool):   # a switch (store_true): given means on
                changed.append(f"{flag} (the run's: {'on' if kept else 'off'})")
            else:
                changed.append(f"{flag} {given} (the run's: {kept})")
    if changed:
        raise SettingsError(f"--resume continues {run} with the settings it began with, and this command changes "
                            f"{', '.join(changed)}: drop {'them' if len(changed) > 1 else 'it'} (the run's own are "
                            f"taken), or start a new run with another --out")


def plain_warnings():
    """From now on, print each warning as one line: ``warning: MESSAGE``, above a progress bar
    that is being drawn, not inside it (tqdm.write clears the bar, prints, and draws it again)."""
    warnings.formatwarning = lambda message, category, filename, lineno, line=None: f"warning: {message}\n"

    def show(message, category, filename, lineno, file=None, line=None):
        from tqdm import tqdm
        tqdm.write(warnings.formatwarning(message, category, filename, lineno, line).rstrip("\n"),
                   file=file or sys.stderr)
    warnings.showwarning = show


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``; a batch scheduler ending or pre-empting a job) as an exception in the main
    thread, raised by ``run_script``'s handler, so that a script stops as it does at Ctrl-C: files
    half written removed, one line saying what was saved and how to go on, and the shell's exit
    status for the signal."""


def stopped(exc):
    """(word, exit status) of a script stopped by ``exc``, a KeyboardInterrupt: ("terminated",
    143) for SIGTERM (``Terminated``), else ("interrupted", 130), the shell's codes (128 + the
    signal's number)."""
    return ("terminated", 128 + signal.SIGTERM) if isinstance(exc, Terminated) else ("interrupted", 130)


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def signals_held():
    """Hold Ctrl-C (SIGINT) and SIGTERM while the block runs, then act on the first that came, as
    it would have acted (``KeyboardInterrupt``, ``Terminated`` under ``run_script``): a checkpoint
    being written is finished, not broken off. Broken off inside NumPy's ``savez``, it left a zip
    file open whose clean-up, after the script's last words, printed a traceback (``ValueError:
    seek of closed file``). A second signal while the block runs acts at once (a write that hangs,
    on a dead network disk, stays stoppable). Outside the main thread, where no handler can be
    set, the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []

    def hold(signum, frame):
        if caught:   # the second: at once
            act(signum, frame)
        caught.append(signum)

    def act(signum, frame):
        handler = previous[signum]
        if callable(handler):   # Python's (KeyboardInterrupt), run_script's (Terminated), another's
            handler(signum, frame)
        elif handler != signal.SIG_IGN:   # the system's default: end as the signal ends a process
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    previous = {signum: signal.signal(signum, hold) for signum in (signal.SIGINT, signal.SIGTERM)
                if signal.getsignal(signum) is not None}   # None: a C library's handler, left alone
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if caught:
        act(caught[0], None)


def run_script(main):
    """Run a script's ``main()`` and return what it returns (an exit status). Ctrl-C ends it with
    one line and the shell's code for SIGINT (130) rather than a traceback of wherever it happened
    to be, and so does SIGTERM (``Terminated``; 143); in training, ``fit``'s own handler
    (``minicnn.train.ctrl_c_says_how_to_resume``) says first how to resume. minicnn's environment
    variables are checked first (but for ``--help``, which needs none): one that cannot be read
    stops the script with one line naming it, before any work. So does an error of the kernel
    simulator (no C++ compiler, no folder for its compiled kernels), wherever it comes. Text the
    output's encoding cannot hold (a class folder named in Chinese, on an ASCII or cp1252 console)
    is written escaped (``\\u4e2d``) rather than ending the run at its report. Output read by a
    program that stops reading (``predict.py photos/ | head``) ends the script quietly with the
    status of a process killed by SIGPIPE (141), as Unix tools end, not with a traceback."""
    from minicnn.environment_variables import EnvironmentVariableError, check_all
    from minicnn.simulator import SimulatorError
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):   # a replaced stream (a test's capture) may lack it
            stream.reconfigure(errors="backslashreplace")
    if threading.current_thread() is threading.main_thread():   # where Python runs signal handlers
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        if not {"-h", "--help"} & set(sys.argv[1:]):
            check_all()
        status = main()
        sys.stdout.flush()   # here, where a reader gone is caught, not at the interpreter's exit
        return status
    except KeyboardInterrupt as exc:
        word, status = stopped(exc)
        print(f"\n{word}", file=sys.stderr)
        raise SystemExit(status) from None
    except (EnvironmentVariableError, SimulatorError) as exc:   # a variable, or the simulator's compiler
        raise SystemExit(f"error: {exc}") from None
    except BrokenPipeError:
        if not _reader_gone():   # another pipe's (a child process's): not ours to silence
            raise
        # What is left to print, and Python's flush at exit, would raise again: into /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(141) from None   # 128 + SIGPIPE, a shell's status of a process it killed


def _reader_gone():
    """Whether standard output is a pipe whose reading end has been closed (poll's POLLERR)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):   # no poll (Windows), or no descriptor behind stdout
        return False


def _number(text, kind, allowed, expected):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or (kind is float and not math.isfinite(value)) or not allowed(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text):
    """An integer of at least 1: counts (epochs, batch sizes, repeats, threads)."""
    return _number(text, int, lambda v: v >= 1, "an integer >= 1")


def even_positive_int(text):
    """An even integer of at least 2: alexnet_small's width, whose maps split into two groups."""
    return _number(text, int, lambda v: v >= 2 and v % 2 == 0, "an even integer >= 2")


def non_negative_int(text):
    """An integer of at least 0 (images held out, where none is allowed)."""
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def positive_float(text):
    """A finite number above 0 (a learning rate)."""
    return _number(text, float, lambda v: v > 0, "a number > 0")


def non_negative_float(text):
    """A finite number of at least 0 (a weight decay)."""
    return _number(text, float, lambda v: v >= 0, "a number >= 0")


def fraction(text):
    """A number in [0, 1): a momentum, a drop probability."""
    return _number(text, float, lambda v: 0 <= v < 1, "a number in [0, 1)")
