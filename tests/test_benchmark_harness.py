"""The kernel benchmark's harness (benchmarks/kernels.py) verifies minicnn's kernels against
PyTorch layer by layer before it times anything; here it runs under the kernel simulator on a
few AlexNet layers at batch 1 (the GPU timings need a GPU)."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="the benchmark compares with PyTorch")

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "kernels.py")


def test_harness_verifies_every_layer_kind_under_the_simulator():
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--batch-size", "1", "--verify-only",
                             "--layers", "conv2,pool1,lrn2,relu1,dropout6,fc8"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified 6 layers on sim" in result.stdout
    for layer in ("conv2", "pool1", "lrn2", "relu1", "dropout6", "fc8"):
        assert f"{layer}: largest relative difference from PyTorch" in result.stdout


def test_unknown_layers_are_refused():
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--layers", "conv9", "--verify-only"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "unknown layers ['conv9']" in result.stderr
