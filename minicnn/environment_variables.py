"""minicnn's environment variables, read and checked in one place.

``MINICNN_CPU_THREADS``
    threads of the NumPy work between the GEMMs (``minicnn/cpu_threads.py``); without it
    ``OMP_NUM_THREADS``, then ``OPENBLAS_NUM_THREADS``; default: the cores the process may use.
``MINICNN_CACHE_DIR``
    the folder of everything minicnn keeps: downloaded data sets, image folders' caches, the
    simulator's compiled kernels; default: ``~/.cache/minicnn``.
``MINICNN_MPI_TIMEOUT``
    seconds a rank waits for the others in a collective before it stops the job
    (``minicnn/distributed.py``); default: 300.
``MINICNN_SIMULATE``
    on (1): the device "cuda" means "sim", the kernels under the simulator
    (``minicnn/backend.py``); default: off.

The simulator's own, ``MINICNN_SIM_SANITIZE`` and ``MINICNN_SIM_CONTEXT``, are described in
``minicnn/simulator/__init__.py``. A value that cannot be meant raises ``EnvironmentVariableError``
naming the variable, its value and what was expected; an empty one counts as unset. The scripts
check them all before they start (``check_all``, from ``minicnn.arguments.run_script``), so that
a typo stops a run at once rather than at its first pooling layer, and ``MINICNN_SIMULATE=on`` is
read as meant, not as off.
"""
import math
import os

CPU_THREADS = ("MINICNN_CPU_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")   # the first set wins
DEFAULT_MPI_TIMEOUT = 300.0
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class EnvironmentVariableError(ValueError):
    """An environment variable holds a value that minicnn cannot read; the message names it."""


def _value(name):
    """The variable's value without surrounding spaces; "" when it is unset or empty."""
    return os.environ.get(name, "").strip()


def _refuse(name, value, expected):
    raise EnvironmentVariableError(f"{name}={value!r}: expected {expected}")


def cpu_threads():
    """The threads the first of CPU_THREADS that is set asks for, or None. ``OMP_NUM_THREADS``
    may list a count per level of nesting ("4,2"): the first is the outermost level's."""
    for name in CPU_THREADS:
        value = _value(name)
        if value:
            first = value.split(",")[0].strip() if name == "OMP_NUM_THREADS" else value
            if not first.isdigit() or int(first) < 1:   # isdigit: no sign, no decimal point
                _refuse(name, value, "a positive integer (a number of threads)")
            return int(first)
    return None


def cache_root():
    """The folder minicnn keeps its downloads and caches in: ``$MINICNN_CACHE_DIR`` (a leading ~
    is the home folder), else ``~/.cache/minicnn``."""
    return os.path.expanduser(_value("MINICNN_CACHE_DIR") or os.path.join("~", ".cache", "minicnn"))


def make_cache_folder(path, purpose, error, otherwise=None):
    """Create ``path`` (with its parents), a folder under ``cache_root()``, and return it. Where it
    cannot be made (a home folder that cannot be written, a MINICNN_CACHE_DIR that is a file or has
    a typo), raise ``error``, the caller's exception class, naming the folder, its ``purpose`` ("to
    download into") and why, and what to do: set the variable, or ``otherwise``."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise error(f"cannot make the folder {path} {purpose} ({exc.strerror or exc}); set MINICNN_CACHE_DIR "
                    f"to a folder that can be written" + (f", or {otherwise}" if otherwise else "")) from None
    return path


def mpi_timeout():
    """Seconds a rank waits in a collective: ``$MINICNN_MPI_TIMEOUT``, else DEFAULT_MPI_TIMEOUT."""
    value = _value("MINICNN_MPI_TIMEOUT")
    if not value:
        return DEFAULT_MPI_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        _refuse("MINICNN_MPI_TIMEOUT", value, "a number of seconds > 0")
    return seconds


def simulate():
    """Whether ``$MINICNN_SIMULATE`` is on (1, true, yes, on; off: unset, 0, false, no, off)."""
    value = _value("MINICNN_SIMULATE")
    if value.lower() in TRUE:
        return True
    if not value or value.lower() in FALSE:
        return False
    _refuse("MINICNN_SIMULATE", value, f"on ({', '.join(TRUE)}) or off ({', '.join(FALSE)}, or unset)")


def check_all():
    """Read every variable of the table, raising EnvironmentVariableError at the first that
    cannot be read."""
    cpu_threads()
    cache_root()
    mpi_timeout()
    simulate()
