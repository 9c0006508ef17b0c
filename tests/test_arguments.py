"""The argparse types of the command lines' numbers (minicnn/arguments.py)."""
import argparse

import pytest

from minicnn.arguments import (even_positive_int, fraction, non_negative_float, non_negative_int, positive_float,
                               positive_int)

CASES = {
    positive_int: (["1", "64", " 7"], ["0", "-3", "1.5", "x", ""]),
    even_positive_int: (["2", "24", " 8"], ["0", "1", "3", "-2", "4.0", "x"]),
    non_negative_int: (["0", "5000"], ["-1", "2.0", "nan"]),
    positive_float: (["0.01", "1e-4", "3"], ["0", "-0.01", "nan", "inf", "-inf", "x"]),
    non_negative_float: (["0", "5e-4"], ["-1e-9", "nan", "inf"]),
    fraction: (["0", "0.5", "0.999"], ["1", "1.5", "-0.1", "nan"]),
}


@pytest.mark.parametrize("kind", list(CASES), ids=lambda kind: kind.__name__)
def test_each_type_takes_its_numbers_and_names_what_it_expected_for_others(kind):
    accepted, refused = CASES[kind]
    for text in accepted:
        assert kind(text) == float(text)
    for text in refused:
        with pytest.raises(argparse.ArgumentTypeError, match=rf"^expected .+, got {text!r}$"):
            kind(text)


def test_argparse_names_the_flag_in_its_one_line_error(capsys):
    parser = argparse.ArgumentParser(prog="train")
    parser.add_argument("--lr", type=positive_float)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--lr", "-1"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == "train: error: argument --lr: expected a number > 0, got '-1'"


def test_plain_warnings_print_one_line_without_the_source(monkeypatch):
    import warnings
    from minicnn.arguments import plain_warnings
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)   # restored after the test
    plain_warnings()
    assert warnings.formatwarning("/data/cats: empty class folder (no image files)", UserWarning, "image_folder.py",
                                  197, "files = scan(root)") == "warning: /data/cats: empty class folder (no image files)\n"


def test_output_folder_is_made_or_refused_by_name(tmp_path):
    import argparse
    from minicnn.arguments import output_folder
    assert output_folder(str(tmp_path / "new" / "results")) == str(tmp_path / "new" / "results")
    assert (tmp_path / "new" / "results").is_dir() and not list((tmp_path / "new" / "results").iterdir())
    (tmp_path / "a-file").write_text("")
    with pytest.raises(argparse.ArgumentTypeError, match=r"cannot write the run's files into .*a-file/x "
                                                         r"\(Not a directory\)$"):
        output_folder(str(tmp_path / "a-file" / "x"))


SCRIPTS = ["examples/train_alexnet.py", "examples/finetune.py", "examples/predict.py", "examples/evaluate.py",
           "examples/convert_checkpoint.py", "examples/neighbours.py", "examples/compare_runs.py",
           "benchmarks/train_step.py", "benchmarks/kernels.py", "benchmarks/loader.py", "benchmarks/cpu_two_device.py",
           "benchmarks/cpu_data_parallel.py", "benchmarks/kernel_resources.py", "benchmarks/kernel_traffic.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_explains_every_flag(script, monkeypatch):
    """Every argument of every command line has a help text (``--help`` lists it with nothing
    beside it otherwise). The parser is caught as ``main`` parses its arguments."""
    import argparse
    import importlib.util
    import os

    class Parsed(Exception):
        pass

    parsers = []

    def catch(parser, *args, **kwargs):
        parsers.append(parser)
        raise Parsed

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(f"script_{os.path.basename(script)[:-3]}", os.path.join(root, script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(Parsed):
        module.main([])
    (parser,) = parsers
    flags = [action for action in parser._actions if not isinstance(action, argparse._HelpAction)]
    assert flags and not [a.option_strings or a.dest for a in flags if not (a.help and a.help.strip())]
    assert parser.description, f"{script} --help says nothing about what it does"


def test_settings_take_the_flag_then_the_resumed_runs_value_then_the_default():
    from minicnn.arguments import SettingsError, settings
    defaults = dict(batch_size=64, lr=None, epochs=None, seed=0)
    args = argparse.Namespace(batch_size=None, lr=None, epochs=None, seed=None)
    settings(args, defaults)
    assert vars(args) == dict(batch_size=64, lr=None, epochs=None, seed=0)
    run = dict(batch_size=16, lr=0.02, epochs=3, seed=None)   # seed: not recorded
    args = argparse.Namespace(batch_size=None, lr=0.02, epochs=5, seed=7)
    settings(args, defaults, run, free=("epochs",))
    assert vars(args) == dict(batch_size=16, lr=0.02, epochs=5, seed=7)
    args = argparse.Namespace(batch_size=32, lr=0.01, epochs=None, seed=None)
    with pytest.raises(SettingsError, match=r"^--resume continues the run with the settings it began with, and this "
                                            r"command changes --batch-size 32 \(the run's: 16\), --lr 0.01 \(the "
                                            r"run's: 0.02\): drop them \(the run's own are taken\)"):
        settings(args, defaults, run, free=("epochs",))
    args = argparse.Namespace(augment=True)   # a switch given, which the run went without
    with pytest.raises(SettingsError, match=r"changes --augment \(the run's: off\): drop it"):
        settings(args, dict(augment=False), dict(augment=False))


def test_every_command_line_takes_its_numbers_through_these_types():
    """A flag of type int or float takes what Python does (``--seed -1`` reached NumPy's seeding and
    stopped with its traceback); the scripts' flags use the types above, or a list of choices."""
    import ast
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent
    scripts = [p for folder in ("examples", "benchmarks", "minicnn") for p in sorted((root / folder).rglob("*.py"))]
    assert len(scripts) > 20
    bare = []
    for path in scripts:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
                keywords = {k.arg: k.value for k in node.keywords}
                kind = keywords.get("type")
                if isinstance(kind, ast.Name) and kind.id in ("int", "float") and "choices" not in keywords:
                    bare.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not bare, f"flags of bare int or float type: {bare}"


def test_every_path_on_a_command_line_takes_a_leading_tilde_as_home(monkeypatch, tmp_path):
    """The shell leaves ~ as it is in --out=~/runs and in a quoted "~/runs": the training script
    made a folder named ~ in the current one (which rm -rf ~ then deletes with the home folder).
    Every flag that names a file or folder reads it through user_path (or output_folder)."""
    import ast
    import os
    import pathlib
    from minicnn.arguments import output_folder, user_path
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_path("~/runs") == str(tmp_path / "runs") and user_path("~") == str(tmp_path)
    assert user_path("-") == "-" and user_path("runs/~x") == "runs/~x"
    for empty in ("", "  "):   # --data "$DATA" with DATA unset trained on Fashion-MNIST, as without --data
        with pytest.raises(argparse.ArgumentTypeError, match=r"^expected a file or folder, got '\s*' \(an unset "
                                                             r"shell variable\?\)$"):
            user_path(empty)
    assert output_folder("~/results") == str(tmp_path / "results") and os.path.isdir(tmp_path / "results")
    root = pathlib.Path(__file__).resolve().parent.parent
    named = {"--out", "--data", "--weights", "--classes", "--against", "--chart", "images", "source", "target"}
    seen, raw = [], []
    for path in [p for folder in ("examples", "benchmarks", "minicnn") for p in sorted((root / folder).rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument" and node.args \
                    and getattr(node.args[0], "value", None) in named:
                kind = {k.arg: k.value for k in node.keywords}.get("type")
                where = f"{path.relative_to(root)}:{node.lineno} {node.args[0].value}"
                seen.append(where)
                if getattr(kind, "id", None) not in ("user_path", "output_folder"):
                    raw.append(where)
    assert len(seen) >= 14 and not raw, f"paths read as typed: {raw}"


def test_ctrl_c_ends_a_script_with_one_line_and_the_code_for_sigint(capsys):
    """A Ctrl-C while a script loads its data or builds its network printed the traceback of
    wherever it happened to be; run_script prints one line and exits with 130, as a shell does."""
    from minicnn.arguments import run_script

    def main():
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as stop:
        run_script(main)
    assert stop.value.code == 130 and capsys.readouterr().err == "\ninterrupted\n"


def test_signals_held_act_when_the_block_ends_and_a_second_at_once(ctrl_c_raises):
    """Ctrl-C or SIGTERM while a checkpoint is written (``signals_held``): the block runs to its end,
    then the signal acts as it would have (KeyboardInterrupt; run_script's Terminated); a second
    one acts at once; the handlers are the same afterwards."""
    import os
    import signal

    from minicnn.arguments import Terminated, _raise_terminated, signals_held
    previous = signal.signal(signal.SIGTERM, _raise_terminated)   # as run_script sets it
    try:
        for signum, raised in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)):
            finished = []
            with pytest.raises(raised):
                with signals_held():
                    os.kill(os.getpid(), signum)
                    finished.append(True)   # reached: the signal waits for the block's end
            assert finished == [True]
            with pytest.raises(raised):
                with signals_held():
                    os.kill(os.getpid(), signum)
                    os.kill(os.getpid(), signum)
                    finished.append(False)   # not reached: the second acted at once
            assert finished == [True]
        with signals_held():   # nothing came: nothing happens
            pass
        assert signal.getsignal(signal.SIGTERM) is _raise_terminated
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # ignored before (a background job's): ignored after
        with signals_held():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_every_example_script_runs_its_main_through_run_script():
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent
    scripts = sorted((root / "examples").glob("*.py"))
    assert len(scripts) == 7
    for path in scripts:
        assert path.read_text().rstrip().endswith('if __name__ == "__main__":\n    run_script(main)'), path.name


def test_text_the_output_cannot_encode_is_written_escaped_not_fatal():
    """A class folder named "café" on an ASCII console (or in Chinese on a cp1252 one): the
    training script trained, saved, then died of UnicodeEncodeError printing its weakest classes."""
    import os
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-c", "from minicnn.arguments import run_script\n"
                             "run_script(lambda: print('weakest classes: caf\\u00e9 0.5000, \\u4e2d 0.7500'))"],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONIOENCODING="ascii"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "weakest classes: caf\\xe9 0.5000, \\u4e2d 0.7500\n"


@pytest.mark.parametrize("printed", ["many lines", "a line flushed at the end"])
def test_a_reader_that_stops_reading_ends_the_script_quietly(printed):
    """``predict.py photos/ | head -2`` ended in a BrokenPipeError traceback; output still buffered
    when the script returns, flushed at the interpreter's exit, in "Exception ignored" and status
    120. Either way now: nothing on stderr, and the status of a process killed by SIGPIPE (141)."""
    import os
    import subprocess
    import sys
    output = "for i in range(10 ** 6): print(i)" if printed == "many lines" else "print('last words')"
    script = (f"import time\nfrom minicnn.arguments import run_script\ndef main():\n    time.sleep(0.5)\n"
              f"    {output}\nrun_script(main)")
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}   # a pipe's output, as by default
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=buffered)
    child.stdout.close()   # the reader is gone before the script writes
    _, stderr = child.communicate(timeout=60)
    assert (child.returncode, stderr.decode()) == (141, "")


def test_a_broken_pipe_that_is_not_standard_output_s_is_not_silenced():
    """A BrokenPipeError of another pipe (a child process gone) is a real error: its traceback stays."""
    import subprocess
    import sys
    script = ("from minicnn.arguments import run_script\ndef main():\n    raise BrokenPipeError(32, 'Broken pipe')\n"
              "run_script(main)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "BrokenPipeError: [Errno 32] Broken pipe" in result.stderr
