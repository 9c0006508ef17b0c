"""minicnn's environment variables (minicnn/environment_variables.py): each read as meant or
refused naming the variable; one cache folder for everything kept; the scripts stop at once."""
import os
import subprocess
import sys

import pytest

from minicnn import cpu_threads, environment_variables as variables
from minicnn.backend import simulating
from minicnn.data import cifar10, fashion_mnist
from minicnn.data.image_folder import default_cache
from minicnn.distributed import Communicator
from minicnn.simulator import cache_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = ("MINICNN_CPU_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MINICNN_CACHE_DIR",
         "MINICNN_MPI_TIMEOUT", "MINICNN_SIMULATE")


@pytest.fixture
def clean(monkeypatch):
    """None of the variables set: each test sets its own."""
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("name,value,expected", [
    ("MINICNN_CPU_THREADS", "3", 3), ("MINICNN_CPU_THREADS", " 3 ", 3), ("MINICNN_CPU_THREADS", "", None),
    ("OMP_NUM_THREADS", "4", 4), ("OMP_NUM_THREADS", "4,2", 4),   # OpenMP's count per nesting level
    ("OPENBLAS_NUM_THREADS", "2", 2), ("OMP_NUM_THREADS", "1", 1)])   # the commonest: one thread
def test_cpu_threads_read_as_meant(clean, name, value, expected):
    clean.setenv(name, value)
    assert variables.cpu_threads() == expected


def test_minicnn_threads_come_before_openmp_and_openblas_ones(clean):
    clean.setenv("OPENBLAS_NUM_THREADS", "2")
    clean.setenv("OMP_NUM_THREADS", "3")
    assert variables.cpu_threads() == 3
    clean.setenv("MINICNN_CPU_THREADS", "5")
    assert variables.cpu_threads() == 5


@pytest.mark.parametrize("name,value", [
    ("MINICNN_CPU_THREADS", "abc"), ("MINICNN_CPU_THREADS", "0"), ("MINICNN_CPU_THREADS", "-1"),
    ("MINICNN_CPU_THREADS", "2.5"), ("OMP_NUM_THREADS", "x,2"), ("OPENBLAS_NUM_THREADS", "0")])
def test_a_thread_count_that_is_none_is_refused_naming_the_variable(clean, name, value):
    clean.setenv(name, value)
    with pytest.raises(variables.EnvironmentVariableError,
                       match=rf"^{name}='{value}': expected a positive integer \(a number of threads\)$"):
        variables.cpu_threads()


@pytest.mark.parametrize("value,expected", [("", 300.0), ("5", 5.0), ("0.5", 0.5), (" 60 ", 60.0)])
def test_mpi_timeout_read_as_meant(clean, value, expected):
    clean.setenv("MINICNN_MPI_TIMEOUT", value)
    assert variables.mpi_timeout() == expected


@pytest.mark.parametrize("value", ["abc", "0", "-3", "inf", "nan"])
def test_an_mpi_timeout_that_is_no_deadline_is_refused(clean, value):
    clean.setenv("MINICNN_MPI_TIMEOUT", value)
    with pytest.raises(variables.EnvironmentVariableError,
                       match=rf"^MINICNN_MPI_TIMEOUT='{value}': expected a number of seconds > 0$"):
        variables.mpi_timeout()


def test_a_world_of_one_reads_no_deadline(clean):
    """fit trains on one process through Communicator.single(), which waits for no other rank: a
    bad MINICNN_MPI_TIMEOUT, or an empty one (``export MINICNN_MPI_TIMEOUT=``), stopped every
    training run with "could not convert string to float" before."""
    clean.setenv("MINICNN_MPI_TIMEOUT", "abc")
    assert Communicator.single().timeout is None
    clean.setenv("MINICNN_MPI_TIMEOUT", "7")

    class World:   # the two calls of an MPI communicator that the constructor makes
        def Get_rank(self):
            return 0

        def Get_size(self):
            return 2
    assert Communicator(World()).timeout == 7.0
    assert Communicator(World(), timeout=3).timeout == 3.0


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("YES", True), ("on", True),
                                            ("0", False), ("false", False), ("off", False), ("", False)])
def test_simulate_read_as_meant(clean, value, expected):
    clean.setenv("MINICNN_SIMULATE", value)
    assert variables.simulate() is simulating() is expected


def test_a_simulate_value_that_is_neither_on_nor_off_is_refused(clean):
    """Anything but the words of on was off before: MINICNN_SIMULATE=2 ran "cuda" on a GPU."""
    clean.setenv("MINICNN_SIMULATE", "2")
    with pytest.raises(variables.EnvironmentVariableError,
                       match=r"^MINICNN_SIMULATE='2': expected on \(1, true, yes, on\) or off \(0, false, no, "
                             r"off, or unset\)$"):
        simulating()


def test_every_folder_minicnn_keeps_lies_in_one_cache_folder(clean, tmp_path):
    """Downloads of Fashion-MNIST and CIFAR-10 went to ~/.cache/minicnn whatever
    MINICNN_CACHE_DIR said, which moved only the image folders' caches and the simulator's."""
    clean.setenv("HOME", str(tmp_path / "home"))
    home_cache = os.path.join(str(tmp_path / "home"), ".cache", "minicnn")
    assert variables.cache_root() == home_cache
    assert fashion_mnist.search_path() == (os.path.join(home_cache, "fashion-mnist"),
                                           "/usr/share/datasets/fashion-mnist")
    clean.setenv("MINICNN_CACHE_DIR", str(tmp_path / "big-disk"))
    kept = [fashion_mnist.search_path()[0], cifar10.cache_folder(), cache_dir(), default_cache(str(tmp_path / "photos"))]
    assert [os.path.relpath(k, tmp_path / "big-disk").split(os.sep)[0] for k in kept] == \
        ["fashion-mnist", "cifar-10-batches-py", "simulator", "folders"]
    clean.setenv("MINICNN_CACHE_DIR", "~/elsewhere")   # quoted in a shell, the ~ reaches us as it is
    assert variables.cache_root() == os.path.join(str(tmp_path / "home"), "elsewhere")


def test_fashion_mnist_is_downloaded_into_the_cache_folder(clean, tmp_path):
    clean.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    fetched = []
    clean.setattr(fashion_mnist, "fetch", lambda url, target, *args: fetched.append(target))
    assert fashion_mnist.download() == str(tmp_path / "cache" / "fashion-mnist")
    assert sorted(os.path.basename(f) for f in fetched) == sorted(fashion_mnist.SHA256)
    assert all(os.path.dirname(f) == str(tmp_path / "cache" / "fashion-mnist") for f in fetched)


def test_the_threads_of_the_numpy_work_follow_the_variable(clean):
    clean.setattr(cpu_threads, "_threads", None)   # read afresh
    clean.setenv("MINICNN_CPU_THREADS", "3")
    assert cpu_threads.threads() == 3


def run(script, *args, **env):
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], capture_output=True, text=True,
                          timeout=120, env=dict({k: v for k, v in os.environ.items() if k not in NAMES}, **env))


@pytest.mark.parametrize("script,args", [("examples/train_alexnet.py", ["--epochs", "1", "--out", "OUT"]),
                                         ("examples/finetune.py", ["--data", "photos", "--out", "OUT"]),
                                         ("benchmarks/loader.py", ["--out", "OUT"])])
def test_a_script_stops_at_once_on_a_variable_it_cannot_read(tmp_path, script, args):
    """One line naming the variable, before any work (the training script printed the model's
    summary, then a traceback from its first pooling layer)."""
    result = run(script, *[str(tmp_path / "out") if a == "OUT" else a for a in args], MINICNN_CPU_THREADS="two")
    assert result.returncode == 1
    assert result.stderr == "error: MINICNN_CPU_THREADS='two': expected a positive integer (a number of threads)\n"
    assert result.stdout == "" and not os.path.exists(tmp_path / "out")


def test_help_needs_no_variable_read():
    result = run("examples/train_alexnet.py", "--help", MINICNN_SIMULATE="maybe")
    assert result.returncode == 0 and "MINICNN_CACHE_DIR" in result.stdout


def test_a_cache_folder_that_cannot_be_made_stops_a_script_with_one_line(tmp_path):
    """The simulator's compiled kernels under a MINICNN_CACHE_DIR that is a file: one error line
    naming the folder (os.makedirs's traceback before), from any script, here the gradient check."""
    (tmp_path / "a-file").write_bytes(b"")
    result = subprocess.run([sys.executable, "-m", "minicnn.gradcheck", "--device", "sim", "--layers", "relu"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env=dict(os.environ, MINICNN_CACHE_DIR=str(tmp_path / "a-file")))
    assert result.returncode == 1
    assert result.stderr == (f"error: cannot make the folder {tmp_path / 'a-file' / 'simulator'} for the simulator's "
                             f"compiled kernels (Not a directory); set MINICNN_CACHE_DIR to a folder that can be "
                             f"written\n")

