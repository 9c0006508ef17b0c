"""The teaching notebook (examples/alexnet_walkthrough.ipynb) is committed without outputs and
runs top to bottom, with every figure it promises, on a CPU without a GPU or a network."""
import json
import os
import re
import time
import warnings

import pytest

# the dev extra installs both; elsewhere (a GPU machine's own environment) the test skips
nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat and nbclient (pip install -e '.[dev]')")
NotebookClient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (pip install -e '.[dev]')").NotebookClient

from minicnn.data import DataError, fashion_mnist

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                        "alexnet_walkthrough.ipynb")


def read():
    return nbformat.read(NOTEBOOK, as_version=4)


def fashion_mnist_missing():
    try:
        fashion_mnist.find_folder()
        return None
    except DataError as exc:
        return str(exc).splitlines()[0]


def test_committed_valid_with_cell_ids():
    """nbformat 4.5 wants an id on every cell: a cell pasted in without one is a warning now and
    will be an error in future nbformat versions."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nb = read()
        nbformat.validate(nb)
    assert not caught, [str(w.message) for w in caught]
    ids = [cell.get("id") for cell in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids)


def test_committed_without_outputs():
    for i, cell in enumerate(read().cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"cell {i} carries stale outputs"


def test_minicnn_is_imported_before_numpy():
    """minicnn sets OpenBLAS's thread timeout before NumPy loads OpenBLAS; imported after NumPy it
    is too late, and the idle threads spin (the training section took 20 s against 14 on 2 cores).
    A kernel started from Jupyter has no such variable of its own (this suite's kernels inherit
    the one minicnn set in the test process, so the run below cannot tell)."""
    first_code = next(cell for cell in read().cells if cell.cell_type == "code")
    imports = [line for line in first_code.source.splitlines() if line.startswith(("import ", "from "))]
    assert imports[0].split()[:2] == ["import", "minicnn"], imports[:3]


def test_its_accuracies_of_the_default_run_are_the_committed_runs():
    """Two sections quote the README's default run's test accuracy, on OpenBLAS's SkylakeX kernels
    and on its Haswell kernels: the committed results of each (as fractions to 4 places, and as
    percentages to a tenth); and the last the ensemble's of three runs, its committed evaluation."""
    results = os.path.join(os.path.dirname(NOTEBOOK), os.pardir, "benchmarks", "results")
    accuracies = []
    for run in ["cpu-train-alexnet_small-fashion-mnist-2026-12-03",
                "cpu-train-alexnet_small-fashion-mnist-haswell-kernels-2026-12-03"]:
        with open(os.path.join(results, run, "test_metrics.json")) as f:
            accuracies.append(json.load(f)["top1"])
    text = " ".join(" ".join(cell.source.split()) for cell in read().cells if cell.cell_type == "markdown")
    fractions = re.search(r"gives the README's ([\d.]+) with OpenBLAS's SkylakeX kernels and ([\d.]+) with its "
                          r"Haswell kernels", text)
    percents = re.search(r"\(([\d.]+)% test accuracy after 5 epochs, or ([\d.]+)% on OpenBLAS's Haswell kernels", text)
    assert fractions and percents, "the notebook no longer quotes the default run's accuracies"
    assert list(fractions.groups()) == [f"{a:.4f}" for a in accuracies]
    assert list(percents.groups()) == [f"{100 * a:.1f}" for a in accuracies]
    with open(os.path.join(results, "cpu-ensemble-alexnet_small-fashion-mnist-2026-12-04", "evaluation.json")) as f:
        ensemble = json.load(f)["top1"]
    assert re.search(r"averaged as the paper's ensemble, give ([\d.]+)%", text).group(1) == f"{100 * ensemble:.1f}"


@pytest.mark.skipif(fashion_mnist_missing() is not None,
                    reason=f"the notebook reads Fashion-MNIST, which is not installed: {fashion_mnist_missing()}")
def test_runs_top_to_bottom_with_its_figures(tmp_path, monkeypatch):
    nb = read()
    temporary = tmp_path / "tmp"   # the kernel's temporary folder: the training run writes there
    os.makedirs(temporary)
    monkeypatch.setenv("TMPDIR", str(temporary))
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    elapsed = time.perf_counter() - start
    left = [name for name in os.listdir(temporary) if name.startswith("minicnn-")]
    assert not left, f"the notebook left {left} behind in the temporary folder"
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    # data grid, im2col picture, shared-memory banks, the H200's versions, curves, conv1 filters,
    # feature maps, predictions, confusion matrix, the two occlusion maps, a saliency map, the nearest training images
    assert len(images) >= 13, f"expected at least 13 figures, got {len(images)}"
    curves = next(c for c in nb.cells if "curves_figure(records)" in c.source)   # a Figure drawn without pyplot
    assert [o.output_type for o in curves.outputs] == ["display_data"] and "image/png" in curves.outputs[0].data
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    # the feature-map cell: LRN with the paper's k = 2 divides these activations by 2 ** 0.75, as it says
    low, high = map(float, re.search(r"\nnorm1 +LRN .+  ([\d.]+) to ([\d.]+)\n", text).groups())
    assert 1.6818 <= low <= high < 1.72 and "(2 ** 0.75 = 1.6818)" in text and "maps are zero for this image" in text
    assert "rel. error" in text and "cpu worker 1" in text and "test: loss" in text
    assert "weakest classes: " in text and "'Shirt': " in text
    # the max-pool's windows on the CPU: the phases' views step one float along a row, the strided
    # view two, over the same pixels; the forward keeps a byte per window for the backward
    assert ("bytes between neighbours along a row: 8 in the strided view, 4 from the phases" in text
            and "the same pixels at all nine offsets: True" in text
            and "the winners kept for the backward: uint8 (2, 96, 27, 27)" in text)
    # the Winograd cell: four products give the two outputs; the CPU's conv3 takes it at batch 32, not 2;
    # its output is im2col's to float64's rounding; 16 products a tile of 4 outputs, 49 tiles for 169
    f23, direct = re.search(r"F\(2, 3\): (\[.*?\]) \| directly: (\[.*?\])", text).groups()
    assert f23 == direct
    assert "conv3 on the CPU at batch 32: winograd | at batch 2: im2col" in text
    assert float(re.search(r"largest difference from im2col's: (\S+) of the largest output", text)[1]) < 1e-13
    assert "multiplications per output and input channel: im2col 9, Winograd 4.64" in text
    # the FFT cell: the CPU's conv2 takes it at batch 32, not 4; im2col's output to float64's
    # rounding; 30 x 30 transforms, 1920 multiply-adds of the products against im2col's 18225
    assert "conv2 on the CPU at batch 32: fft | at batch 4: im2col" in text
    assert float(re.search(r"the FFT's largest difference from im2col's: (\S+) of the largest", text)[1]) < 1e-13
    assert ("30 x 30 transforms, 480 frequencies; multiply-adds per output and input channel: im2col 18225, "
            "the FFT's products 1920") in text
    # the bank-conflict cell: im2col's version 4 in conflict for conv1's stride, version 5 not
    assert "conv1 im2col_v4: shared-memory reads 3.99 passes" in text
    assert text.count("im2col_v5: shared-memory reads 1.00 passes") == 2
    # what a GPU said: the layers launch the fastest versions measured, im2col's and max-pool's 2
    from minicnn.kernel_versions import DEFAULTS
    assert str({f: DEFAULTS[f] for f in ("im2col", "maxpool", "lrn", "lrn_maxpool")}) in text and DEFAULTS["im2col"] == 2
    # ... and the chart of its run of every version, drawn by the benchmark from the committed results
    assert "written: gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04-2-versions.png" in text
    # the loads-in-flight cell: ReLU's version 1 waits for each load, version 2 has four and more on their way
    if "nvcc is not installed" not in text and "cuobjdump is not installed" not in text:
        assert "relu_forward_v1: at most 1 in flight; a step of its loop: load, wait for 1\n" in text
        assert int(re.search(r"relu_forward_v2: at most (\d+) in flight; a step of its loop: load, load, load, load",
                             text)[1]) >= 4
    # the epilogue cell: version 4's GEMM stores the conv's output itself and version 5's reads x for
    # the columns, with the same bits, each moving less
    totals = [float(t) for t in re.findall(r"tiled GEMM version \d: .*; ([\d.]+) kB in all", text)]
    assert len(totals) == 3 and totals[2] < totals[1] < totals[0] and "the same output bit for bit: True" in text
    # the register-blocking cell: tiles of 128 halve the loads per multiply-add at both levels, and
    # version 7's 16-byte loads of A's rows cut those of shared memory again, and version 8's of B's columns
    for version, memory, shared in ((2, "0.1250", "0.500"), (3, "0.0625", "0.250"), (7, "0.0625", "0.156"),
                                    (8, "0.0625", "0.062")):
        assert (f"version {version} (gemm_tiled_v{version}, tiles of {64 if version == 2 else 128}): per multiply-add "
                f"{memory} bytes loaded from memory, {shared} loads of shared memory a thread") in text
    # the alignment cell: a float4 load at x reads, one float further on it is refused by line
    assert "offset 0: y = [ 0.  4.  8. 12. 16. 20. 24. 28.]" in text
    assert ("offset 1: four_at_a_time.cu: kernel first_of_four: thread (t,0,0) of block (0,0,0) reads a 16-byte "
            "vector (float4, double2) from an address 4 bytes past a multiple of 16, at four_at_a_time.cu:3") in text
    # the copies-in-flight cell: an asynchronous copy lands at its thread's wait; version 9 is version 8
    assert "read before the wait: [nan nan nan nan] ; after the wait and the barrier: [31. 30. 29. 28.]" in text
    assert "version 9's product is version 8's bit for bit: True" in text
    # the warp-shuffle cell: bias version 4's layout kernel takes its sums through shared memory less
    assert "(nchw_to_gemm_bias_grad_v3): 32 loads and 20 stores of shared memory a block" in text
    assert "(nchw_to_gemm_bias_grad_v4): 9 loads and 9 stores of shared memory a block" in text
    assert "the bias gradients agree: True ; NumPy's: True" in text
    assert "ThreadSanitizer: data race" in text or "ThreadSanitizer is not available here" in text
    # the race-between-blocks cell: both blocks and the line, whichever two blocks met first
    assert re.search(r"kernel one_row_for_all: a race between blocks: thread \(\d+,0,0\) of block \(\d,0,0\) writes\s+"
                     r"y\[\d+\] at one_row\.cu:3, which block \(\d,0,0\) of the launch wrote at one_row\.cu:3", text)
    # the training run: what its digits depend on, printed by fit; float32 sums in two orders; the BLAS's threads
    assert re.search(r"\non .+, \d+ cores; NumPy \S+ with .+; Python \d", text)
    assert "added left to right: 63.11896 | right to left: 63.118443 |" in text
    assert re.search(r"\): the product on 1 thread and on \d+: \d+ of 69984 entries differ", text)
    # the predictions cell: fit's first_top5 of the first two test images named, and the eight drawn
    assert re.search(r"test image 0 \(Ankle boot\): \S.+ \d+\.\d%, .+ \d+\.\d%, .+ \d+\.\d%\ntest image 1 \(", text)
    predictions = next(c for c in nb.cells if "top5_figure(test_x, final" in c.source)
    assert sum(o.output_type == "display_data" and "image/png" in o.data for o in predictions.outputs) == 1
    # the occlusion cell: 576 copies of each of two test images (a 5x5 square a pixel at a time), each
    # drawn; the square lowers the probability of the class named first
    found = re.findall(r"test image \d+ \(.+?\): 576 copies; .+? (\d+)% as it is, (\d+)% at the lowest, where it "
                       r"says .+ \d+%", text)
    assert len(found) == 2 and all(int(lowest) <= int(whole) for whole, lowest in found)
    occlusion = next(c for c in nb.cells if "occlusion_figure(picture, occlusion" in c.source)
    assert sum(o.output_type == "display_data" and "image/png" in o.data for o in occlusion.outputs) == 2
    # the saliency cell: the map drawn; painting occlusion's lowest square black lowers the score, and the
    # gradient's first-order estimate of that score lies above it (the network is linear over small changes only)
    gradient = next(c for c in nb.cells if "saliency_figure(picture, result" in c.source)
    assert sum(o.output_type == "display_data" and "image/png" in o.data for o in gradient.outputs) == 1
    score, after, estimate = map(float, re.search(r"score of .+?: (-?[\d.]+) as it is; with occlusion's lowest square "
                                                  r"painted black (-?[\d.]+), where the gradient estimates (-?[\d.]+)",
                                                  text).groups())
    assert after < score and after < estimate
    # the neighbours cell: the paper's Figure 4 drawn; the 6 nearest, in the last hidden layer and in the
    # pixels, mostly of the test image's class (78.4% and 78.3% on 2026-12-05: the two-epoch network's
    # features are no better than the pixels, as the cell's text says)
    assert "last hidden layer: 256 values an image; distances to the nearest: [" in text
    shares = re.search(r"of its class: ([\d.]+)% in the last hidden layer, ([\d.]+)% in pixels", text).groups()
    assert all(50 < float(share) <= 100 for share in shares)
    assert elapsed < 300, f"the notebook took {elapsed:.0f} s; it must stay under 5 minutes"
