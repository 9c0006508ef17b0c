"""benchmarks/versions_in_turns.py: two checkouts' training steps timed in turns, each in a worker
process on its own checkout's minicnn, after checking that both train the same network."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "versions_in_turns.py")


def load_script():
    spec = importlib.util.spec_from_file_location("versions_in_turns", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_copies_of_one_version_take_the_same_steps_in_turns(tmp_path):
    """The other checkout here is a copy of this one's minicnn outside git: its worker imports that
    copy (the script checks), whose commit is "unknown", and computes the same first loss."""
    other = tmp_path / "other"
    shutil.copytree(os.path.join(ROOT, "minicnn"), other / "minicnn", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, SCRIPT, "--against", str(other), "--batch-size", "2", "--repeats", "3",
                             "--threads", "1", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (written,) = out.glob("cpu-versions-*-against-unknown-alexnet_small-b2-*.json")
    payload = json.loads(written.read_text())
    commits = payload["commits"]
    described = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True)
    assert commits == {"this checkout": described.stdout.strip() or "unknown", "the other": "unknown"}
    assert payload["first_loss"]["this checkout"] == payload["first_loss"]["the other"]   # the same code, bit for bit
    assert {label: len(times) for label, times in payload["seconds"].items()} == {"this checkout": 3, "the other": 3}
    assert all(t > 0 for times in payload["seconds"].values() for t in times) and payload["ratio"] > 0
    assert payload["threads"] == 1 and payload["repeats"] == 3
    # each worker's peak memory: more than its batch and network, less than this machine has
    peaks = payload["peak_memory_mib"]
    assert set(peaks) == {"this checkout", "the other"} and all(10 < mib < 2 ** 20 for mib in peaks.values())
    table = written.with_suffix(".md").read_text()
    assert "| peak memory (MiB) |" in table and f"| {peaks['the other']:.0f} |" in table
    assert f"| this checkout | {commits['this checkout']} |" in table and "| the other | unknown |" in table
    assert "this checkout / the other, speed:" in table
    for text in (table, written.read_text()):   # no machine's paths in the results
        assert ROOT not in text and str(tmp_path) not in text


def test_a_folder_without_minicnn_is_refused_before_anything_runs(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, "--against", str(tmp_path), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert (f"--against {tmp_path}: expected a checkout of minicnn (a folder holding minicnn/__init__.py), "
            "found none there") in result.stderr
    assert not list((tmp_path / "out").iterdir())


def test_two_checkouts_that_compute_different_losses_are_refused(tmp_path, monkeypatch):
    """Versions whose first losses differ by more than 1e-4 would not be timing the same network."""
    script = load_script()
    assert script.same_network(2.30001, 2.3) and not script.same_network(2.301, 2.3)
    losses = iter([2.3, 2.31])
    closed = []

    class FakeWorker:
        def __init__(self, root, args):
            self.hello = {"loss": next(losses)}

        def step(self):
            raise AssertionError("nothing is timed")

        def close(self):
            closed.append(self)

    monkeypatch.setattr(script, "Worker", FakeWorker)
    with pytest.raises(SystemExit, match=r"the two checkouts compute different losses for the same batch "
                                         r"\(2.3 and 2.31\): not the same network"):
        script.main(["--against", ROOT, "--out", str(tmp_path)])
    assert len(closed) == 2 and not list(tmp_path.iterdir())
