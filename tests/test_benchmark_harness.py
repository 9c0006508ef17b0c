"""The kernel benchmark's harness (benchmarks/kernels.py) verifies minicnn's kernels against
PyTorch layer by layer before it times anything; here it runs under the kernel simulator on a
few AlexNet layers at batch 1 (the GPU timings need a GPU)."""
import importlib.util
import inspect
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from devices import needs_gpu

pytest.importorskip("torch", reason="the benchmark compares with PyTorch")

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "kernels.py")


def test_harness_verifies_every_layer_kind_under_the_simulator():
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--batch-size", "1", "--verify-only",
                             "--layers", "conv2,pool1,lrn2,relu1,dropout6,fc8"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified 6 layers on sim" in result.stdout
    for layer in ("conv2", "pool1", "lrn2", "relu1", "dropout6", "fc8"):
        assert f"{layer}: largest relative difference from float64: minicnn" in result.stdout


def test_harness_verifies_every_kernel_version_under_the_simulator():
    """--versions: a row per numbered version (minicnn/kernel_versions.py) of each layer that has
    several, each verified before it would be timed."""
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--batch-size", "1", "--verify-only",
                             "--versions", "--layers", "conv3,pool5,lrn2+pool2,relu1,fc8"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for layer in ("conv3", "pool5", "lrn2+pool2", "relu1"):
        for version in (1, 2):
            assert f"{layer} v{version}: largest relative difference from float64" in result.stdout
    assert "fc8: largest relative difference" in result.stdout     # no versions: one row


def test_harness_runs_one_familys_versions_under_the_simulator():
    """--versions --family bias: the conv rows in every version of the bias gradient, the other
    layers once; every family has the layers whose rows can run its versions."""
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--batch-size", "1", "--verify-only",
                             "--versions", "--family", "bias", "--layers", "conv3,pool5"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    from minicnn.kernel_versions import VERSIONS
    for version in VERSIONS["bias"]:
        assert f"conv3 v{version}: largest relative difference from float64" in result.stdout
    assert "pool5: largest relative difference" in result.stdout and "pool5 v1" not in result.stdout
    refused = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--family", "bias"],
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "add --versions" in refused.stderr
    kernels = load_kernels_benchmark()
    assert set(kernels.FAMILY_KINDS) == set(VERSIONS)
    assert all(kind in kernels.FAMILY_KINDS[family] for kind, family in kernels.VERSIONED.items())


def test_harness_runs_the_listed_versions_only():
    """--versions 6,9 with --gemm tiled: the conv and fully connected rows in those versions of the
    tiled GEMM alone (a short lease times the ones not yet timed), a layer whose family has none
    of them once, at its own; a version no family run has is refused, naming the versions there are."""
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--batch-size", "1", "--verify-only",
                             "--gemm", "tiled", "--versions", "6,9", "--layers", "fc8,relu1"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    ran = re.findall(r"^(\S+(?: v\d+)?): largest relative difference", result.stdout, re.M)
    assert ran == ["fc8 v6", "fc8 v9", "relu1"]   # ReLU's versions are 1 and 2
    kernels = load_kernels_benchmark()
    assert kernels.versions_words((6, 9)) == "-versions6-9" and kernels.versions_words("all") == "-versions"
    assert kernels.versions_words(None) == "" and "versions 6, 9" in kernels.versions_heading((6, 9))
    for listed, says in [("99", "no version [99] in im2col, lrn, lrn_maxpool, maxpool, relu"),
                         ("x", "'x': expected version numbers separated by commas")]:
        refused = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--versions", listed],
                                 capture_output=True, text=True, timeout=600)
        assert refused.returncode == 2 and says in refused.stderr, refused.stderr


def load_kernels_benchmark():
    spec = importlib.util.spec_from_file_location("kernels_benchmark", SCRIPT)   # not the kernels/ package
    kernels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernels)
    return kernels


def test_versions_summary_says_which_version_is_fastest_over_the_layers():
    """A --versions run's last table: per family, each version's forward+backward time summed over
    the layers, against the reference's and the version launched now; the fastest over all the
    layers is marked even where another wins one layer (here version 4 on pool2). Each version's
    forward and backward (forward+backward less forward) are summed too, and where no version
    launches the fastest forward's kernel with the fastest backward's (max-pool's here), a line says
    what the two would take paired; none where one version is the fastest both ways (LRN's), nor
    for a family whose versions rewrite kernels other than one forward and one backward (the bias
    gradient's, whose forward is im2col's kernels: its forward times differ by noise alone)."""
    from minicnn import kernel_versions
    from minicnn.kernel_versions import VERSIONS
    current = kernel_versions.current("maxpool")
    others = [v for v in VERSIONS["maxpool"] if v != current][:2]
    times = {   # (layer, version): (forward, forward+backward)
        ("pool1", others[0]): (0.4, 1.0), ("pool1", others[1]): (0.2, 3.0), ("pool1", current): (0.3, 2.0),
        ("pool2", others[0]): (0.4, 0.9), ("pool2", others[1]): (0.1, 0.5), ("pool2", current): (0.3, 1.0),
        ("lrn1", 1): (0.5, 2.0), ("lrn1", 2): (0.25, 1.0), ("conv1", 4): (3.1, 9.0), ("conv1", 5): (3.0, 9.2)}
    rows, runs = [], {}
    for (layer, version), (forward, both) in times.items():
        label = f"{layer} v{version}"
        runs[label] = ({"lrn": "lrn", "poo": "maxpool", "con": "bias"}[layer[:3]], version)
        rows += [dict(layer=label, pass_="forward", minicnn_ms=forward, reference_ms=1.0),
                 dict(layer=label, pass_="forward+backward", minicnn_ms=both, reference_ms=1.5)]
    rows.append(dict(layer="conv1", pass_="forward+backward", minicnn_ms=7.0, reference_ms=5.0))  # no versions
    table, summary = load_kernels_benchmark().versions_summary(rows, runs)
    maxpool = summary["maxpool"]
    assert {key: maxpool[key] for key in ("versions", "fastest", "current")} == dict(
        versions=pytest.approx({others[0]: 1.9, others[1]: 3.5, current: 3.0}), fastest=others[0], current=current)
    assert maxpool["forward"] == pytest.approx({others[0]: 0.8, others[1]: 0.3, current: 0.6})
    assert maxpool["backward"] == pytest.approx({others[0]: 1.1, others[1]: 3.2, current: 2.4})
    assert maxpool["paired"] == dict(forward=others[1], backward=others[0], ms=pytest.approx(1.4))
    assert summary["lrn"]["paired"] is None and summary["lrn"]["fastest"] == 2
    assert summary["bias"]["forward"] == pytest.approx({4: 3.1, 5: 3.0}) and summary["bias"]["paired"] is None
    lines = table.splitlines()
    assert len([line for line in lines if line.startswith("| ")]) == 1 + 3 + 2 + 2 and "conv1" not in table
    assert f"| maxpool | {others[0]} (fastest) | 2 | 1.900 | 3.000 | 1.58x | 1.58x |" in lines
    assert f"| maxpool | {current} (launched now) | 2 | 3.000 | 3.000 | 1.00x | 1.00x |" in lines
    pairings = [line for line in lines if line.startswith("- ")]
    kernel = {v: kernel_versions.kernel_name("maxpool", f"maxpool_{pass_}", v) for v, pass_ in
              ((others[1], "forward"), (others[0], "backward"))}
    assert pairings == [f"- maxpool: the fastest forward is version {others[1]}'s ({kernel[others[1]]}, 0.300 ms "
                        f"summed), the fastest backward version {others[0]}'s ({kernel[others[0]]}, 1.100 ms): "
                        f"paired, 1.400 ms, against 1.900 for version {others[0]}, the fastest whole (1.36x)"]


def test_no_pairing_of_versions_whose_kernels_a_version_launches_already():
    """Max-pool's version 6 runs version 2's forward kernel: where its forward is the faster by the
    timing's noise and version 2's backward the faster, version 2 itself launches the two, so no
    pairing is reported (nor where the two kernels are version 6's own)."""
    from minicnn.kernel_versions import kernel_name
    assert kernel_name("maxpool", "maxpool_forward", 6) == kernel_name("maxpool", "maxpool_forward", 2)
    pairing = load_kernels_benchmark().forward_backward_pairing
    by_version = {2: (1.0, 2.0, ["pool1 v2"]), 6: (1.1, 2.0, ["pool1 v6"])}
    pairings = []
    for forwards in ({2: {"pool1 v2": 0.31}, 6: {"pool1 v6": 0.30}},    # (forward_v2, backward_v2): version 2's
                     {2: {"pool1 v2": 0.30}, 6: {"pool1 v6": 0.50}}):   # (forward_v2, backward_v6): version 6's
        assert pairing("maxpool", by_version, forwards, pairings)["paired"] is None
    assert pairings == []


def test_breakdown_lists_each_kernel_of_a_layer_under_the_simulator():
    """--breakdown under the simulator: every kernel a layer launches, in order, once per pass,
    with the time outside the launches; the shares of a pass add up to the whole (the times are
    the CPU's: no fraction of a GPU's limit, no files)."""
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--batch-size", "1", "--breakdown",
                             "--repeats", "1", "--layers", "conv3,lrn2+pool2"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in result.stdout.splitlines()
            if line.startswith("| conv3 ") or line.startswith("| lrn2+pool2 ")]
    kernels = {(layer, pass_): [row[2] for row in rows if row[:2] == [layer, pass_]]
               for layer, pass_, *_ in rows}
    from minicnn.kernel_versions import DEFAULTS, kernel_name

    def launched(source, kernel):   # the kernel of the version the layers launch (family: the source)
        return kernel_name(source, kernel, DEFAULTS[source])
    assert kernels[("conv3", "forward")] == [launched("im2col", "im2col"), "gemm (NumPy)",
                                             launched("im2col", "gemm_to_nchw_bias"), "(outside the launches)"]
    assert DEFAULTS["bias"] == 4   # the bias gradient summed by the backward's layout kernel, by warp shuffles
    assert kernels[("conv3", "backward")] == ["nchw_to_gemm_bias_grad_v4", "bias_grad_columns", "gemm (NumPy)",
                                              launched("im2col", "col2im"), "(outside the launches)"]
    assert kernels[("lrn2+pool2", "forward")] == [launched("lrn_maxpool", "lrn_maxpool_forward"),
                                                  "(outside the launches)"]
    assert kernels[("lrn2+pool2", "backward")] == [launched("lrn_maxpool", "lrn_maxpool_backward"),
                                                   "(outside the launches)"]
    gemms = [row for row in rows if row[2] == "gemm (NumPy)"]
    assert [row[3] for row in gemms] == ["1", "2"]   # forward: one product; backward: dw and dcols
    # conv3 at batch 1: 13 * 13 columns of 256 * 9 rows, 384 filters: 2 * 384 * 169 * 2304 FLOPs
    assert float(gemms[0][7]) == pytest.approx(2 * 384 * 169 * 2304 / 1e9, abs=0.005)
    for key in kernels:
        shares = [float(row[5].rstrip("%")) for row in rows if tuple(row[:2]) == key]
        assert sum(shares) == pytest.approx(100, abs=len(shares))   # each rounded to 1%
    assert all(row[8] == "-" for row in rows)


def test_conv_algorithm_winograd_runs_the_winograd_kernels(tmp_path):
    """--conv-algorithm winograd: the 3x3 convolutions launch kernels/winograd.cu's transforms around
    their products (verified against float64 like every row), the others stay im2col's, and a
    timed run's files say so in their names."""
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--batch-size", "1", "--breakdown",
                             "--repeats", "1", "--timed", "--layers", "conv2,conv4", "--conv-algorithm", "winograd",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in result.stdout.splitlines()
            if line.startswith("| conv2 ") or line.startswith("| conv4 ")]
    rows = [row for row in rows if not re.fullmatch(r"[\d.]+", row[2])]   # the breakdown's, not the layer table's
    launched = {(layer, pass_): [(row[2], row[3]) for row in rows if row[:2] == [layer, pass_]]
                for layer, pass_, *_ in rows}   # each kernel with its launches
    # forward: the filters' transform and the 16 x 2 products of conv4's two groups (matmul counts a
    # stack of products once), the input's and the output's transforms
    assert launched[("conv4", "forward")] == [("gemm (NumPy)", "2"), ("winograd_input_v1", "1"),
                                              ("winograd_output_v1", "1"), ("(outside the launches)", "0")]
    # backward: dL/dy's transform, the products of dU, dw and dV, the bias gradient (Z's position
    # (1, 1)), the input gradient's transform
    assert launched[("conv4", "backward")] == [("winograd_output_grad_v1", "1"), ("gemm (NumPy)", "3"),
                                               ("bias_grad_partial_v2", "1"), ("bias_grad_columns", "1"),
                                               ("winograd_input_grad_v1", "1"), ("(outside the launches)", "0")]
    names = [name for key, kernels in launched.items() if key[0] == "conv2" for name, _ in kernels]
    assert names and not any(name.startswith("winograd") for name in names)   # 5x5: im2col's
    files = sorted(path.name for path in tmp_path.iterdir())
    assert [name.rsplit("-", 3)[0] for name in files if not name.endswith(".png")] == ["sim-kernels-b1-winograd"] * 2
    (md,) = [name for name in files if name.endswith(".md")]
    assert [name for name in files if name.endswith(".png")] == [md[:-len(".md")] + "-layers.png"]


def test_winograd_family_runs_its_versions_on_the_3x3_convs_alone():
    """--versions --family winograd --conv-algorithm winograd: conv4 in each version of Winograd's
    transforms (version 2's output gradient summing the bias gradient's part, its column sum
    after), conv2's 5x5 once, im2col's; without --conv-algorithm winograd it is refused."""
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--batch-size", "1", "--breakdown",
                             "--repeats", "1", "--versions", "--family", "winograd", "--conv-algorithm",
                             "winograd", "--layers", "conv2,conv4"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in result.stdout.splitlines()
            if line.startswith("| conv")]
    launched = {}
    for layer, pass_, kernel, *_ in rows:
        launched.setdefault((layer, pass_), []).append(kernel)
    assert sorted({layer for layer, _ in launched}) == ["conv2", "conv4 v1", "conv4 v2"]
    for version in (1, 2):
        assert launched[(f"conv4 v{version}", "forward")] == [
            "gemm (NumPy)", f"winograd_input_v{version}", f"winograd_output_v{version}", "(outside the launches)"]
    assert launched[("conv4 v2", "backward")] == ["winograd_output_grad_v2", "gemm (NumPy)", "bias_grad_columns",
                                                  "winograd_input_grad_v2", "(outside the launches)"]
    assert "bias_grad_partial_v2" in launched[("conv4 v1", "backward")]
    refused = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--versions", "--family", "winograd"],
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "add --conv-algorithm winograd" in refused.stderr


def test_timed_under_the_simulator_the_report_and_its_files_are_those_of_a_gpu_run(tmp_path):
    """--device sim --timed runs the GPU run's whole report path on a CPU (the times are the
    simulator's, and say so): every row timed, the versions summary, the breakdown with its
    fractions of the limit, both files, complete."""
    import json
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--batch-size", "1", "--repeats", "1",
                             "--timed", "--versions", "--breakdown", "--layers", "relu1,dropout6", "--out",
                             str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    from minicnn.kernel_versions import VERSIONS
    relu_versions = sorted(VERSIONS["relu"])
    (md,) = tmp_path.glob("sim-kernels-b1-versions-*.md")
    payload = json.loads(md.with_suffix(".json").read_text())
    table = md.read_text()
    assert "Partial" not in table and "the kernel simulator (the CPU's times, not a GPU's)" in table
    assert payload["layer_runs"] == dict(done=len(relu_versions) + 1, planned=len(relu_versions) + 1)
    assert payload["device"] == "sim" and payload["gpu"] is None and payload["multiprocessors"] is None
    # the limits the fractions are of, as the table's first line gives them
    assert f"copy bandwidth {payload['copy_bandwidth'] / 1e9:.0f} GB/s, SGEMM {payload['sgemm_rate'] / 1e12:.2f}" in table
    labels = [f"relu1 v{v}" for v in relu_versions] + ["dropout6"]
    assert [(r["layer"], r["pass_"]) for r in payload["rows"]] == [(label, pass_) for label in labels
                                                                  for pass_ in ("forward", "forward+backward")]
    assert all(r["minicnn_ms"] > 0 and r["reference_ms"] > 0 and r["fraction_of_limit"] > 0 for r in payload["rows"])
    # the host's time is a GPU run's column: under the simulator the times are the host's already
    assert all(r["minicnn_host_ms"] is None and r["reference_host_ms"] is None for r in payload["rows"])
    assert "| host (ms): minicnn, reference |" in table and "% | - |" in table
    assert sorted(payload["versions_summary"]["relu"]["versions"]) == [str(v) for v in relu_versions]
    assert "| relu1 v1 | forward | relu_forward_v1 | 1 |" in table and "of copy |" in table
    for label in labels:   # each row printed as it was measured, for a log cut short
        assert f"{label} forward+backward: minicnn " in result.stdout
    assert payload["batch_size"] == 1 and payload["versions_run"] == {f"relu1 v{v}": ["relu", v] for v in relu_versions}
    for chart in ("layers", "versions"):   # dropout6's rows, relu1's versions
        (png,) = tmp_path.glob(f"sim-kernels-b1-versions-*-{chart}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(png) in result.stdout


@pytest.mark.parametrize("name", ["relu1", "dropout6", "pool5", "lrn2", "lrn2+pool2"])
def test_the_fraction_of_the_bandwidth_counts_no_byte_the_kernels_need_not_move(name):
    """The fraction of the copy bandwidth is ``formula_bytes`` over the time, so it must not count
    more than the layer's kernels move: the simulator's count of their traffic (no caches), forward
    and forward+backward, is at least that, and for ReLU and dropout, whose kernels read and write
    each array once, exactly that (a count that gave ReLU's backward x to read put it at 107%)."""
    sys.path.insert(0, os.path.dirname(SCRIPT))
    import kernel_traffic
    from minicnn.simulator import traffic
    kernels = load_kernels_benchmark()
    layer, x, y, logs = kernel_traffic.run_passes(name, None, 1, "sim", lambda pass_: traffic.recording())
    moved = {pass_: sum(t.loads.moved_bytes + t.stores.moved_bytes for t in log) for pass_, log in logs.items()}
    least = kernels.formula_bytes(kernels.LAYERS[name][0], x.nbytes, y.nbytes)
    passes = (moved["forward"], moved["forward"] + moved["backward"])
    if name in ("relu1", "dropout6"):
        assert passes == (least["forward"], least["forward+backward"])
    else:
        assert passes[0] >= least["forward"] and passes[1] >= least["forward+backward"]


def test_kernel_charts_are_drawn_again_from_committed_runs(tmp_path):
    """``kernels.py --chart RUN.json`` draws a GPU run's charts on any machine, timing nothing: each
    layer's speed against the reference, and for a --versions run each family's versions layer by
    layer. Files from before the runs recorded each row's family find it from the layer's kind."""
    import json
    import shutil
    results = os.path.join(os.path.dirname(SCRIPT), "results")
    kernels = load_kernels_benchmark()
    for stem, charts in (("gpu-kernels-NVIDIA_H200-b128-2026-12-04", ["layers"]),
                         ("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04-2", ["versions"])):
        shutil.copy(os.path.join(results, stem + ".json"), tmp_path)
        result = subprocess.run([sys.executable, SCRIPT, "--chart", str(tmp_path / (stem + ".json"))],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        for chart in charts:
            png = tmp_path / f"{stem}-{chart}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
        assert sorted(p.name for p in tmp_path.glob(stem + "-*.png")) == [f"{stem}-{c}.png" for c in charts]

    def paths(name):
        with open(os.path.join(results, name)) as f:
            return kernels.version_paths(json.load(f))
    versions = paths("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04-2.json")
    assert {family: list(layers) for family, layers in versions.items()} == {
        "maxpool": ["pool1", "pool2", "pool5"], "lrn": ["lrn1", "lrn2"], "lrn_maxpool": ["lrn1+pool1", "lrn2+pool2"],
        "relu": ["relu1"], "im2col": ["conv1", "conv2", "conv3", "conv4", "conv5", "conv1+relu1", "conv2+relu2"]}
    assert sorted(versions["maxpool"]["pool1"]) == [1, 2, 3, 4, 5]
    row = versions["lrn_maxpool"]["lrn1+pool1"][3]   # the README's table of that run: 0.839 ms, 0.76x
    assert (row["layer"], row["pass_"], round(row["minicnn_ms"], 3)) == ("lrn1+pool1 v3", "forward+backward", 0.839)
    assert list(paths("gpu-kernels-NVIDIA_H200-b128-versions-bias-2026-12-04.json")) == ["bias"]
    tiled = paths("gpu-kernels-NVIDIA_H200-b128-tiled-versions6-7-8-9-2026-12-04-2.json")
    assert list(tiled) == ["gemm_tiled"] and list(tiled["gemm_tiled"])[-3:] == ["fc6", "fc7", "fc8"]


def test_a_second_run_the_same_day_keeps_the_first_s_files(tmp_path):
    """A results file of the day (committed, perhaps, and quoted by the README) is never replaced
    by another run of the same kind: that run's files take the next free name, which the returned
    paths give; a run rewriting its own files (kernels.py's partial results) keeps its name."""
    sys.path.insert(0, os.path.dirname(SCRIPT))
    from timing import write_results
    first = write_results(str(tmp_path), "cpu-x-b8-2026-12-04", "first", {"run": 1})
    second = write_results(str(tmp_path), "cpu-x-b8-2026-12-04", "second", {"run": 2})
    assert [os.path.basename(p) for p in second] == ["cpu-x-b8-2026-12-04-2.md", "cpu-x-b8-2026-12-04-2.json"]
    assert open(first[0]).read() == "first\n" and open(second[0]).read() == "second\n"
    os.remove(first[0])   # either file of a pair holds its name
    assert os.path.basename(write_results(str(tmp_path), "cpu-x-b8-2026-12-04", "t", {})[0]) == "cpu-x-b8-2026-12-04-3.md"
    again = write_results(str(tmp_path), "cpu-x-b8-2026-12-04-2", "second, rewritten", {"run": 2}, rewrite=True)
    assert again == second and open(second[0]).read() == "second, rewritten\n"


def test_a_run_cut_short_leaves_what_it_measured(tmp_path, monkeypatch):
    """The files are rewritten after every layer run: a run stopped in its second layer (a step
    timeout on a GPU machine) leaves the first layer's rows, marked partial."""
    import json
    kernels = load_kernels_benchmark()
    monkeypatch.setenv("CUPY_TF32", "0")   # main sets it; restored after the test
    timed = []

    def stopped_at_the_second(label, *args):
        if timed:
            raise KeyboardInterrupt   # as a kill would, in the middle of the run
        timed.append(label)
        return [dict(layer=label, pass_=pass_, minicnn_ms=1.0, reference="PyTorch (CPU)", reference_ms=2.0,
                     ratio=2.0, fraction_of_limit=0.5) for pass_ in ("forward", "forward+backward")]
    monkeypatch.setattr(kernels, "time_layer", stopped_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        kernels.main(["--device", "sim", "--batch-size", "1", "--repeats", "1", "--timed", "--layers",
                      "relu1,dropout6", "--out", str(tmp_path)])
    (md,) = tmp_path.glob("sim-kernels-b1-*.md")
    table = md.read_text()
    assert table.startswith("**Partial: 1 of 2 layer runs done") and "| relu1 | forward+backward | 1.000 |" in table
    assert "dropout6" not in table
    payload = json.loads(md.with_suffix(".json").read_text())
    assert payload["layer_runs"] == dict(done=1, planned=2) and len(payload["rows"]) == 2
    assert not list(tmp_path.glob(".*.tmp"))   # written whole, nothing half-written left


@pytest.mark.parametrize("flags, message", [
    (["--timed", "--verify-only"], "--timed times the layers and --verify-only times nothing: choose one"),
    (["--breakdown", "--verify-only"], "--breakdown times each kernel within a layer, and --verify-only times "
                                       "nothing: choose one"),
    (["--tf32"], "--tf32 allows TF32 in the GPU's GEMMs; under the simulator the GEMMs are NumPy's float32: drop "
                 "--tf32")])
def test_flags_that_would_be_ignored_are_refused(flags, message):
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", *flags],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.splitlines()[-1] == f"kernels.py: error: {message}"


def test_a_kernel_version_chosen_on_the_command_line_runs_and_is_recorded(tmp_path):
    """--kernel-version maxpool=5 runs max-pool's version 5 where the layers launch another by
    default (to time a layer as an earlier run did); the files' name and table say so."""
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--timed", "--breakdown", "--batch-size", "1",
                             "--repeats", "1", "--layers", "pool2", "--kernel-version", "maxpool=5", "--out",
                             str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    (md,) = tmp_path.glob("sim-kernels-b1-maxpool5-*.md")
    table = md.read_text()
    assert "maxpool v5" in table.splitlines()[0] and "| pool2 | forward | maxpool_forward_v5 | 1 |" in table


@pytest.mark.parametrize("value, message", [
    ("maxpool=9", "maxpool has no kernel version 9; it has [1, 2, 3, 4, 5, 6, 7, 8]"),
    ("pool=2", "no kernel family 'pool'; the families with versions are bias, "),
    ("im2col", "expected FAMILY=VERSION (im2col=5), got 'im2col'; the families: bias, ")])
def test_a_kernel_version_that_does_not_exist_is_refused(value, message):
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--kernel-version", value, "--verify-only"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and f"argument --kernel-version: {message}" in result.stderr


def test_unknown_layers_are_refused():
    result = subprocess.run([sys.executable, SCRIPT, "--device", "sim", "--layers", "conv9", "--verify-only"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "unknown layers ['conv9']" in result.stderr


TRAIN_STEP = os.path.join(os.path.dirname(SCRIPT), "train_step.py")


def test_training_step_benchmark_checks_logits_then_times_both_frameworks(tmp_path):
    result = subprocess.run([sys.executable, TRAIN_STEP, "--device", "cpu", "--model", "alexnet_small",
                             "--batch-size", "4", "--repeats", "3", "--threads", "1", "--layers",
                             "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "logits: largest difference from PyTorch" in result.stdout
    assert "| minicnn |" in result.stdout and "| PyTorch |" in result.stdout
    import json
    (written,) = tmp_path.glob("cpu-alexnet_small-b4-*.json")
    payload = json.loads(written.read_text())
    assert payload["logits_difference"] < 1e-4 and set(payload["images_per_s"]) == {"minicnn", "PyTorch"}
    assert payload["threads"] == 1
    # on the CPU the step's time is the host's: no second figure for it
    assert payload["host_seconds"] is None and "The host's time to queue a step" not in result.stdout
    # how each convolution computed (the small AlexNet's never take Winograd's: too few channels)
    assert payload["conv_algorithms"] == {f"conv{i}": "im2col" for i in range(1, 6)}
    assert "minicnn's convolutions: conv1 im2col, conv2 im2col," in result.stdout
    # --layers: every layer's forward and backward and the SGD update, in both frameworks, and the
    # shares by kind
    assert "Where each framework's step goes" in result.stdout and "| conv2 |" in result.stdout
    assert "Conv2D" in result.stdout.split("By kind, minicnn")[1] and "LRN" in result.stdout.split("By kind, PyTorch")[1]
    from minicnn import models
    names = [name for name, _ in models.alexnet_small().named_leaves()]
    for key in ("layer_seconds", "torch_layer_seconds"):
        layers = payload[key]
        assert set(layers) == {f"{n}.{part}" for n in names for part in ("forward", "backward")} | {"SGD.update"}, key
        assert all(t > 0 for name, t in layers.items() if not name.startswith("flatten")), key
    (chart,) = tmp_path.glob("cpu-alexnet_small-b4-*-layers.png")   # the comparison by kind of layer, drawn
    assert chart.read_bytes().startswith(b"\x89PNG")


def pytorch_times_in_ticks(train_step, twin, names, ticks, monkeypatch):
    """``train_step.torch_layer_seconds`` of ``twin`` (the small AlexNet's) over 3 training steps
    after a warm-up, timed by a clock that reads ``len(ticks)``: each time is the median number of
    ticks that fell inside it."""
    import torch
    monkeypatch.setattr(train_step, "stamp_clock", lambda gpu=False: lambda: float(len(ticks)))
    images, labels = torch.randn(2, 1, 28, 28), torch.tensor([3, 7])
    optimizer = torch.optim.SGD(twin.parameters(), lr=1e-4, momentum=0.9)

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(twin(images), labels).backward()
        optimizer.step()

    return train_step.torch_layer_seconds(twin, names, step, optimizer, repeats=3, gpu=False)


def test_pytorch_first_layer_backward_is_timed_over_its_weight_gradient(monkeypatch):
    """The first module's input needs no gradient, so PyTorch calls its full backward hook before
    its work (the weight gradient); timed by that hook, conv1's backward measured 0.0 ms. Timed with
    a clock that ticks once per conv1 weight gradient, each layer's time says whether that gradient
    fell inside it: conv1's backward holds exactly one, its forward and every other layer none."""
    pytest.importorskip("torch")
    sys.path.insert(0, os.path.dirname(SCRIPT))
    import train_step
    from minicnn import models
    model = models.alexnet_small(num_classes=10)
    twin = train_step.torch_twin(model)
    gradients = []
    twin[0].weight.register_hook(lambda grad: gradients.append(1))
    names = [name for name, _ in model.named_leaves()]
    times = pytorch_times_in_ticks(train_step, twin, names, gradients, monkeypatch)
    assert times[("conv1", "backward")] == 1.0 and len(gradients) == 4   # one warm-up step, three timed
    assert all(t == 0.0 for key, t in times.items() if key != ("conv1", "backward")), times


def test_a_fused_network_s_layers_are_timed_against_the_pytorch_modules_that_do_their_work(monkeypatch):
    """On the GPU the network is fused (conv+ReLU, fc+ReLU, LRN+max-pool) and the twin is not: each fused
    layer is timed against the run of PyTorch modules that does its work (conv1 against conv1 and
    relu1, norm1+pool1 against norm1 and pool1), in both passes. Timed with a clock that ticks once
    per PyTorch LRN forward and once per LRN backward, each layer's time says how many LRNs fell
    inside it: norm1+pool1's and norm2+pool2's one each way, every other layer's none; and every
    layer minicnn calls, and no other, has a time on both sides."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.dirname(SCRIPT))
    import train_step
    from minicnn import SoftmaxCrossEntropy, models
    from minicnn.fusion import fuse
    from minicnn.optim import SGD
    model = models.alexnet_small(num_classes=10)
    twin = train_step.torch_twin(model)
    leaves = list(model.named_leaves())
    fuse(model)   # on the CPU too: the same layers, the children's NumPy code
    names = train_step.twin_module_names(leaves, model)
    assert names[:6] == ["conv1", "conv1", "norm1+pool1", "norm1+pool1", "conv2", "conv2"]
    assert names[-7:] == ["fc6", "fc6", "drop6", "fc7", "fc7", "drop7", "fc8"]
    assert len(names) == len(twin) == len(leaves)
    ticks = []
    for module in twin:
        if isinstance(module, torch.nn.LocalResponseNorm):
            module.register_forward_hook(lambda m, a, out: ticks.append(1))
            module.register_full_backward_hook(lambda m, gi, go: ticks.append(1))
    theirs = pytorch_times_in_ticks(train_step, twin, names, ticks, monkeypatch)
    fused = {"norm1+pool1", "norm2+pool2"}
    assert {key: t for key, t in theirs.items() if t} == {(name, part): 1.0 for name in fused
                                                          for part in ("forward", "backward")}
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    loss, opt = SoftmaxCrossEntropy(), SGD(model, lr=1e-4)

    def minicnn_step():
        loss.forward(model.forward(x, train=True), np.array([3, 7]))
        model.backward(loss.backward())
        opt.step()

    mine = train_step.layer_seconds(model, minicnn_step, opt, repeats=1, gpu=False)
    called = [name for name, _ in model.named_layers()]
    assert set(mine) == set(theirs) == {(n, part) for n in called for part in ("forward", "backward")} | {
        ("SGD", "update")}
    assert "relu1" not in called and "relu6" not in called and fused <= set(called)
    kinds = train_step.layer_kinds(model)
    assert kinds["conv1"] == "Conv2D+ReLU" and kinds["norm1+pool1"] == "LRNMaxPool" and kinds["fc6"] == "Dense+ReLU"
    assert kinds["fc8"] == "Dense"


def test_the_pytorch_twin_of_a_nested_network_computes_the_same_logits():
    """alexnet_owt nests its layers (features, classifier): the twin takes them in order."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.dirname(SCRIPT))
    from train_step import torch_twin
    from minicnn import models
    model = models.alexnet_owt(num_classes=10)
    twin = torch_twin(model).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        theirs = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.forward(x, train=False), theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())
    assert len(twin) == sum(1 for _ in model.leaves()) == 21


@pytest.mark.parametrize("script, flag, value", [
    ("train_step.py", "--threads", "0"), ("train_step.py", "--repeats", "0"), ("train_step.py", "--batch-size", "-1"),
    ("cpu_two_device.py", "--repeats", "0"), ("cpu_data_parallel.py", "--rounds", "0"),
    ("kernels.py", "--repeats", "1.5"), ("kernels.py", "--batch-size", "0"), ("loader.py", "--count", "0"),
    ("loader.py", "--epochs", "0"), ("kernel_traffic.py", "--batch-size", "0"), ("launch_overhead.py", "--calls", "0"),
    ("versions_in_turns.py", "--repeats", "0"), ("versions_in_turns.py", "--threads", "0")])
def test_benchmarks_refuse_counts_below_one(tmp_path, script, flag, value):
    """A count of 0 once ran a benchmark with the default batch and overwrote its results file;
    now the flag is refused by name before anything runs or is written."""
    result = subprocess.run([sys.executable, os.path.join(os.path.dirname(SCRIPT), script), flag, value,
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"argument {flag}: expected an integer >= 1, got '{value}'" in result.stderr
    assert not list(tmp_path.iterdir())


def test_loader_benchmark_times_the_first_epoch_apart_from_the_later_ones(tmp_path):
    """The first epoch reads the cache file in; the later ones show the loader's own speed."""
    import json
    result = subprocess.run([sys.executable, os.path.join(os.path.dirname(SCRIPT), "loader.py"), "--count", "12",
                             "--batch-size", "4", "--epochs", "3", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (table,) = tmp_path.glob("cpu-loader-*.md")
    rows = [line.split(" | ")[0].lstrip("| ") for line in table.read_text().splitlines() if line.startswith("| loader")]
    assert rows == ["loader, train: crop 227, mirror, PCA colour, epoch 1",
                    "loader, train: crop 227, mirror, PCA colour, epochs 2-3, median",
                    "loader, test: centre crop 227, epoch 1", "loader, test: centre crop 227, epochs 2-3, median"]
    (run,) = tmp_path.glob("cpu-loader-*.json")
    run = json.loads(run.read_text())
    assert run["images"] == 12 and [len(r) for r in run["loader_images_per_s_by_epoch"].values()] == [3, 3]
    assert all(rate > 0 for rates in run["loader_images_per_s_by_epoch"].values() for rate in rates)


LAUNCH_OVERHEAD = os.path.join(os.path.dirname(SCRIPT), "launch_overhead.py")


def test_launch_overhead_benchmark_times_minicnns_checks_of_each_kernel(tmp_path):
    """Without a GPU: a row per kernel, its checks' time per launch, in the table and the JSON."""
    import json
    result = subprocess.run([sys.executable, LAUNCH_OVERHEAD, "--repeats", "2", "--calls", "5", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = tmp_path.glob("cpu-launch-overhead-*.json")
    rows = json.loads(run.read_text())["rows"]
    assert [(r["kernel"], r["arguments"]) for r in rows] == [
        ("relu_forward_v2", "2 arrays, 1 number"), ("dropout_forward", "2 arrays, 8 numbers"),
        ("maxpool_forward_v2", "3 arrays, 10 numbers")]
    assert all(set(r) == {"kernel", "arguments", "checks_us"} and r["checks_us"] > 0 for r in rows)
    (table,) = tmp_path.glob("cpu-launch-overhead-*.md")
    assert f"| dropout_forward | 2 arrays, 8 numbers | {rows[1]['checks_us']:.2f} |" in table.read_text()


def test_launch_overhead_benchmark_launches_what_it_times():
    """Every launch it times is one the kernels accept (run once under the simulator)."""
    spec = importlib.util.spec_from_file_location("launch_overhead", LAUNCH_OVERHEAD)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    from minicnn.launch import launch
    for name, (source, kernel, grid, block, args, _) in benchmark.launches(np).items():
        launch(source, kernel, grid, block, *args)
        output = set(np.unique(args[1]))   # of an input of ones
        assert output == ({0.0, 2.0} if name == "dropout_forward" else {1.0}), name


@needs_gpu
def test_launch_overhead_benchmark_on_the_gpu(tmp_path):
    result = subprocess.run([sys.executable, LAUNCH_OVERHEAD, "--device", "cuda", "--repeats", "2", "--calls", "5",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| relu_forward_v2 | 2 arrays, 1 number |" in result.stdout and "minicnn speed / PyTorch" in result.stdout


@pytest.mark.parametrize("script", ["train_step.py", "cpu_two_device.py", "cpu_data_parallel.py", "kernels.py",
                                    "loader.py", "kernel_resources.py", "kernel_traffic.py", "launch_overhead.py",
                                    "versions_in_turns.py"])
def test_benchmarks_refuse_an_output_folder_they_cannot_write_before_running(tmp_path, script):
    """It used to be found out when the results were written, after minutes of timing."""
    (tmp_path / "a-file").write_text("")
    result = subprocess.run([sys.executable, os.path.join(os.path.dirname(SCRIPT), script),
                             "--out", str(tmp_path / "a-file" / "results")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"argument --out: cannot write the run's files into {tmp_path / 'a-file' / 'results'} (Not a directory)" \
        in result.stderr


@pytest.mark.parametrize("flags", [["--tf32"], ["--no-fuse"], ["--kernel-version", "im2col=5"],
                                   ["--gemm", "cublas-looped"]])
def test_the_training_step_benchmark_refuses_gpu_flags_on_the_cpu(tmp_path, flags):
    """The first two once ran a CPU benchmark as if they had not been given."""
    flag = flags[0]
    result = subprocess.run([sys.executable, TRAIN_STEP, "--device", "cpu", *flags, "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.splitlines() == [
        f"error: {flag} applies on the GPU (--device cuda); on the CPU it would change nothing: drop {flag}"]
    assert not list(tmp_path.iterdir())


def test_the_training_step_benchmark_chooses_the_convolutions_algorithm(tmp_path):
    """--conv-algorithm on the CPU: fft, every convolution of stride 1 by the FFT (the 2012
    AlexNet's conv2-5; conv1's stride of 4 keeps im2col); im2col, every one by im2col, conv2 too,
    which "auto" gives the FFT at this batch; fft on the GPU is refused before anything runs."""
    import json
    for algorithm, expected in (("fft", ["im2col by image"] + ["fft"] * 4),
                                ("im2col", ["im2col by image"] + ["im2col"] * 4)):
        out = tmp_path / algorithm
        out.mkdir()
        result = subprocess.run([sys.executable, TRAIN_STEP, "--device", "cpu", "--model", "alexnet", "--batch-size", "8",
                                 "--repeats", "1", "--threads", "1", "--conv-algorithm", algorithm, "--out", str(out)],
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        (written,) = out.glob(f"cpu-{algorithm}-alexnet-b8-*.json")
        assert list(json.loads(written.read_text())["conv_algorithms"].values()) == expected
    refused = subprocess.run([sys.executable, TRAIN_STEP, "--device", "cuda", "--conv-algorithm", "fft",
                              "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and refused.stderr.splitlines() == [
        "error: --conv-algorithm fft runs on the CPU only (minicnn has no FFT kernels): add --device cpu, or "
        "choose auto, im2col or winograd"]


def test_data_parallel_benchmark_refuses_a_batch_the_ranks_cannot_share(tmp_path):
    cores = os.cpu_count()
    if cores == 1:
        pytest.skip("one core: one rank takes any batch")
    result = subprocess.run([sys.executable, os.path.join(os.path.dirname(SCRIPT), "cpu_data_parallel.py"),
                             "--batch-size", str(cores + 1), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and f"must be a multiple of {cores}" in result.stderr


@needs_gpu
def test_on_the_gpu_every_layer_agrees_with_cudnn_and_the_training_step_with_pytorch(tmp_path):
    """The GPU paths of both benchmarks, untimed: cuDNN through ctypes (pooling, LRN) and
    PyTorch's CUDA side."""
    result = subprocess.run([sys.executable, SCRIPT, "--device", "cuda", "--batch-size", "2", "--verify-only"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for layer in ("pool1", "lrn1"):   # checked against float64, beside cuDNN's own result
        assert f"{layer}: largest relative difference from float64: minicnn" in result.stdout
        assert [line for line in result.stdout.splitlines() if line.startswith(f"{layer}:") and "cuDNN (ctypes)" in line]
    # timed, with the kernel breakdown: CUDA events around every launch and cuBLAS product
    result = subprocess.run([sys.executable, SCRIPT, "--device", "cuda", "--batch-size", "2", "--repeats", "2",
                             "--breakdown", "--layers", "conv3,pool1", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| conv3 | forward | gemm (cuBLAS) | 1 |" in result.stdout and "of SGEMM |" in result.stdout
    from minicnn.kernel_versions import DEFAULTS, kernel_name
    pool_backward = kernel_name("maxpool", "maxpool_backward", DEFAULTS["maxpool"])   # the version launched now
    assert f"| pool1 | backward | {pool_backward} | 1 |" in result.stdout and "of copy |" in result.stdout
    import json
    (written,) = tmp_path.glob("gpu-kernels-*.json")
    for row in json.loads(written.read_text())["rows"]:   # held: each side's host time beside its GPU time
        assert row["minicnn_host_ms"] > 0 and row["reference_host_ms"] > 0, row
    result = subprocess.run([sys.executable, TRAIN_STEP, "--device", "cuda", "--model", "alexnet_small",
                             "--batch-size", "8", "--repeats", "1", "--layers", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    # --layers on the GPU: minicnn's parts by CuPy's events, PyTorch's by its own
    assert "By kind, minicnn" in result.stdout and "By kind, PyTorch" in result.stdout
    assert "| norm1+pool1 |" in result.stdout and "LRNMaxPool" in result.stdout.split("By kind, PyTorch")[1]
    from minicnn.environment import gpu_name   # the files named by the GPU alone, as kernels.py's
    assert list(tmp_path.glob(f"gpu-{gpu_name().replace(' ', '_')}-alexnet_small-b8-*-layers.png"))
    # and the kernel versions the step ran, in the table and the file
    (written,) = tmp_path.glob(f"gpu-{gpu_name().replace(' ', '_')}-alexnet_small-b8-*[0-9].json")
    assert json.loads(written.read_text())["kernel_versions"] == DEFAULTS
    assert set(json.loads(written.read_text())["conv_algorithms"].values()) == {"kernels"}
    from minicnn.kernel_versions import described
    assert f"minicnn's kernel versions: {described()}" in result.stdout
    # the host's time to queue a step, each framework's, beside the GPU's step
    assert "The host's time to queue a step" in result.stdout
    assert all(seconds > 0 for seconds in json.loads(written.read_text())["host_seconds"].values())


GPU_ALL = os.path.join(os.path.dirname(SCRIPT), "gpu_all.sh")


def test_the_one_command_gpu_script_knows_the_steps_it_documents(tmp_path):
    """benchmarks/gpu_all.sh runs on a GPU machine; here: every step its header lists is one it
    runs, and an unknown step is refused before anything runs."""
    text = open(GPU_ALL).read()
    documented = [line.split()[1] for line in text.splitlines()
                  if line.startswith("#   ") and not line.startswith("#    ")]
    handled = [line.split(")")[0].strip() for line in text.splitlines() if line.startswith("    ") and ") run " in line]
    assert documented and documented == handled
    result = subprocess.run(["bash", GPU_ALL, str(tmp_path), "no_such_step"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unknown step 'no_such_step'" in result.stderr
    assert " ".join(documented) in " ".join(result.stderr.split())


def run_gpu_all(tmp_path, steps, **variables):
    """benchmarks/gpu_all.sh with a stand-in ``python`` first on PATH that answers the environment
    line at once and makes every step's command run for 30 s. Returns (the script's result, its
    status.txt's lines, seconds it took)."""
    import stat
    import time
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    stand_in = bin_dir / "python"
    stand_in.write_text('#!/bin/sh\ncase "$*" in *minicnn.environment*) exit 0 ;; esac\nexec sleep 30\n')
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IEXEC)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPU_ALL_")}
    env.update(variables, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    start = time.monotonic()
    result = subprocess.run(["bash", GPU_ALL, str(out), *steps], capture_output=True, text=True, env=env, timeout=120)
    status = (out / "status.txt").read_text().splitlines() if (out / "status.txt").exists() else []
    return result, status, time.monotonic() - start


def test_the_gpu_script_stops_a_step_at_its_timeout_and_the_run_at_its_deadline(tmp_path):
    """On a machine lent for a fixed time the script must end, with its results, before the
    machine is taken back: GPU_ALL_STEP_TIMEOUT stops each step, GPU_ALL_DEADLINE the whole run
    (its steps get at most the time left; those after it are recorded, not run)."""
    result, status, seconds = run_gpu_all(tmp_path / "steps", ["kernels", "kernels_tf32"], GPU_ALL_STEP_TIMEOUT="1")
    assert result.returncode == 0, result.stderr
    assert status == ["kernels 124", "kernels_tf32 124"] and seconds < 20
    result, status, seconds = run_gpu_all(tmp_path / "deadline", ["kernels", "kernels_tf32", "ncu_traffic"],
                                          GPU_ALL_STEP_TIMEOUT="100", GPU_ALL_DEADLINE="2")
    assert result.returncode == 0, result.stderr
    assert status == ["kernels 124", "kernels_tf32 not-run", "ncu_traffic not-run",
                      "ncu_traffic_versions not-run", "ncu_traffic_col2im6 not-run",
                      "ncu_traffic_lrn4 not-run", "ncu_traffic_winograd2 not-run"] and seconds < 20
    assert "== kernels_tf32: not run, GPU_ALL_DEADLINE (2 s) is up" in result.stdout
    for value in ("ten", "0", "-5", "1.5"):
        result, status, _ = run_gpu_all(tmp_path / f"bad{value}", ["kernels"], GPU_ALL_DEADLINE=value)
        assert result.returncode == 2 and status == []
        assert result.stderr.strip() == f"GPU_ALL_DEADLINE={value}: expected a whole number of seconds"


def test_the_gpu_script_runs_the_tests_it_is_told(tmp_path):
    """GPU_ALL_TESTS narrows kernel_tests, memcheck and racecheck to one kernel's tests (a pytest
    -k expression) for a short lease; without it they run every CUDA kernel test."""
    steps = ["kernel_tests", "memcheck", "racecheck"]
    result, status, _ = run_gpu_all(tmp_path / "told", steps, GPU_ALL_STEP_TIMEOUT="1",
                                    GPU_ALL_TESTS="cuda and winograd")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("-m kernel -k cuda and winograd ") == 3
    result, status, _ = run_gpu_all(tmp_path / "default", steps[:1], GPU_ALL_STEP_TIMEOUT="1")
    assert "-m kernel -k cuda -rs" in result.stdout


def test_the_gpu_script_runs_the_share_of_the_tests_it_is_told(tmp_path):
    """GPU_ALL_SHARD=K/N passes --shard K/N to the kernel tests and the sanitizers' runs of them;
    anything but K/N is refused before anything runs."""
    steps = ["kernel_tests", "memcheck", "racecheck"]
    result, status, _ = run_gpu_all(tmp_path / "told", steps, GPU_ALL_STEP_TIMEOUT="1", GPU_ALL_SHARD="2/3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("-m kernel -k cuda --shard 2/3 ") == 3
    result, status, _ = run_gpu_all(tmp_path / "bad", steps[:1], GPU_ALL_SHARD="2-3")
    assert result.returncode == 2 and status == [] and "GPU_ALL_SHARD=2-3: expected K/N" in result.stderr


def test_shards_split_the_selected_tests_between_them():
    """pytest --shard K/N (tests/conftest.py): every N-th of the tests that -m and -k select, from
    the K-th; the N shares together are the whole selection, each test in one of them."""
    def collected(*extra):
        result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                 "-m", "kernel", "-k", "sim", "tests/test_relu_dropout_flatten.py", *extra],
                                capture_output=True, text=True, timeout=600, cwd=os.path.dirname(os.path.dirname(SCRIPT)))
        assert result.returncode == 0, result.stdout + result.stderr
        return [line for line in result.stdout.splitlines() if "::" in line]
    whole, shares = collected(), [collected("--shard", f"{k}/3") for k in (1, 2, 3)]
    assert len(whole) >= 6 and all(shares)
    assert sorted(sum(shares, [])) == sorted(whole) and shares[1] == whole[1::3]
    refused = subprocess.run([sys.executable, "-m", "pytest", "--shard", "4/3", "--collect-only", "-q"],
                             capture_output=True, text=True, timeout=600, cwd=os.path.dirname(os.path.dirname(SCRIPT)))
    assert refused.returncode != 0 and "'4/3': expected K/N with 1 <= K <= N" in refused.stderr


def test_the_gpu_script_times_the_versions_it_is_told(tmp_path):
    """GPU_ALL_VERSIONS narrows the versions steps to a list (kernels.py --versions 6,7,8,9); without
    it they time every version; a list that is not one is refused before anything runs."""
    steps = ["kernel_versions", "bias_versions", "kernels_tiled"]
    result, status, _ = run_gpu_all(tmp_path / "told", steps, GPU_ALL_STEP_TIMEOUT="1", GPU_ALL_VERSIONS="6,7,8,9")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("benchmarks/kernels.py --versions 6,7,8,9 ") == 2
    assert "--gemm tiled --versions 6,7,8,9 --layers" in result.stdout
    result, status, _ = run_gpu_all(tmp_path / "default", steps[:1], GPU_ALL_STEP_TIMEOUT="1")
    assert "benchmarks/kernels.py --versions --breakdown" in result.stdout
    result, status, _ = run_gpu_all(tmp_path / "bad", steps[:1], GPU_ALL_VERSIONS="6;7")
    assert result.returncode == 2 and status == []
    assert "GPU_ALL_VERSIONS=6;7: expected version numbers separated by commas" in result.stderr


def test_traffic_chart_is_drawn_again_from_a_committed_run(tmp_path):
    """``kernel_traffic.py --chart RUN.json`` draws a run's chart without counting anything: each
    memory-bound layer's versions, forward and backward, over the least its pass must move."""
    import json
    import shutil
    benchmarks = os.path.dirname(SCRIPT)
    run_file = os.path.join(benchmarks, "results", "kernel-traffic-b8-2026-12-01.json")
    shutil.copy(run_file, tmp_path / "run.json")
    result = subprocess.run([sys.executable, os.path.join(benchmarks, "kernel_traffic.py"), "--chart",
                             str(tmp_path / "run.json")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    chart = tmp_path / "run-passes.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 20_000
    sys.path.insert(0, benchmarks)
    import kernel_traffic
    with open(run_file) as f:
        passes = json.load(f)["passes"]
    forward, backward = (kernel_traffic.version_path(passes, p) for p in ("forward", "backward"))
    assert list(forward) == list(backward) == ["pool1", "pool2", "pool5", "lrn1", "lrn2", "lrn1+pool1", "lrn2+pool2",
                                               "relu1"]   # the conv layers' GEMMs are not counted: no least
    assert [round(r, 2) for r in forward["lrn1+pool1"]] == [25.42, 25.42, 6.42, 1.67, 1.67]
    assert [round(r, 2) for r in backward["pool1"]] == [3.69, 3.88, 3.88, 1.28, 1.28]   # version 5's is version 4's


def test_traffic_count_with_winograd_runs_its_versions_on_the_3x3_convs(tmp_path):
    """``kernel_traffic.py --conv-algorithm winograd``: conv4 in each version of Winograd's
    transforms, conv2's 5x5 in im2col's versions (which launch no Winograd kernel), the files named
    for the algorithm and recording it; no chart, which draws the layers without weights alone."""
    import json
    result = subprocess.run([sys.executable, os.path.join(os.path.dirname(SCRIPT), "kernel_traffic.py"),
                             "--conv-algorithm", "winograd", "--layers", "conv2,conv4", "--batch-size", "1",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    (js,) = tmp_path.glob("kernel-traffic-b1-winograd-*.json")
    run = json.loads(js.read_text())
    assert run["conv_algorithm"] == "winograd"
    from minicnn.kernel_versions import VERSIONS
    assert [p["layer"] for p in run["passes"] if p["pass_"] == "forward"] == \
        [f"conv2 v{v}" for v in sorted(VERSIONS["im2col"])] + ["conv4 v1", "conv4 v2"]
    kernels = {p["layer"]: {r["kernel"] for r in run["launches"] if r["layer"] == p["layer"]} for p in run["passes"]}
    assert {"winograd_input_v2", "winograd_input_grad_v2"} <= kernels["conv4 v2"]
    assert not any(k.startswith("winograd") for layer in kernels if layer.startswith("conv2") for k in kernels[layer])
    assert not list(tmp_path.glob("*.png")) and "no chart" in result.stdout


@pytest.mark.parametrize("script, args, message", [
    ("kernel_traffic.py", ["--chart", "RUN", "--layers", "pool1"],
     "--chart draws a results file again and counts nothing: drop --layers"),
    ("kernel_traffic.py", ["--chart", "RUN", "--batch-size", "1"],
     "--chart draws a results file again and counts nothing: drop --batch-size"),
    ("kernel_traffic.py", ["--chart", "MISSING"], "--chart: MISSING is not a results file of this benchmark "
                                                  "(FileNotFoundError: "),
    ("kernel_traffic.py", ["--chart", "NOT_JSON"], "--chart: NOT_JSON is not a results file of this benchmark "
                                                   "(JSONDecodeError: "),
    ("kernels.py", ["--chart", "RUN", "--layers", "pool1", "--device", "sim"],
     "--chart draws a results file again and times nothing: drop --device, --layers"),
    ("kernels.py", ["--chart", "RUN"], "--chart: RUN is not a results file of this benchmark (KeyError: 'rows')"),
    ("kernels.py", ["--chart", "EMPTY"], "--chart: EMPTY holds no timed rows"),
    ("loader.py", ["--data", "FOLDER", "--count", "8"],
     "--count is the number of images to generate; with --data the folder's own are read: drop --count")])
def test_benchmarks_refuse_flags_their_mode_would_ignore(tmp_path, script, args, message):
    """Each of these once ran as if the flag had not been given, or ended in a traceback."""
    (tmp_path / "run.json").write_text('{"passes": {}}')
    (tmp_path / "notes.txt").write_text("not JSON")
    (tmp_path / "empty.json").write_text('{"rows": [], "gpu": null, "gemm": "cublas", "tf32": false, "date": "x"}')
    paths = dict(RUN=tmp_path / "run.json", MISSING=tmp_path / "missing.json", NOT_JSON=tmp_path / "notes.txt",
                 EMPTY=tmp_path / "empty.json", FOLDER=tmp_path)
    args = [str(paths.get(a, a)) for a in args]
    for name, path in paths.items():
        message = message.replace(name, str(path))
    result = subprocess.run([sys.executable, os.path.join(os.path.dirname(SCRIPT), script), *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"{script}: error: {message}"), result.stderr


def test_progress_draws_a_bar_only_on_a_terminal_and_prints_every_line(monkeypatch, capsys):
    """The long benchmarks' bar (kernels.py's layer runs, kernel_traffic.py's recordings): on a
    terminal's stderr, not in a log; their lines of results go to stdout either way."""
    import io
    sys.path.insert(0, os.path.dirname(SCRIPT))
    from timing import progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    for stderr in (io.StringIO(), Terminal()):
        monkeypatch.setattr(sys, "stderr", stderr)
        runs = []
        for say, run in progress(["conv1", "pool1"], "layer runs"):
            runs.append(run)
            say(f"{run} measured")
        assert runs == ["conv1", "pool1"]
        assert ("layer runs:   0%|" in stderr.getvalue() and "0/2" in stderr.getvalue()) == stderr.isatty()
    assert capsys.readouterr().out == "conv1 measured\npool1 measured\n" * 2


def test_the_cudnn_module_says_which_library_it_would_call_or_why_none_loads():
    """``python benchmarks/cudnn.py``: the library's version where cuDNN loads (a GPU machine),
    else one line saying why, never a traceback."""
    result = subprocess.run([sys.executable, os.path.join(os.path.dirname(SCRIPT), "cudnn.py")],
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode == 0:
        assert result.stdout.startswith("cuDNN ") and " from " in result.stdout, result.stdout
    else:
        assert result.returncode == 1 and result.stderr.startswith("error: cannot load libcudnn.so.9"), result.stderr


class FakeStream:
    """A GPU stream on two clocks, for StreamHold without a GPU: the host's time advances by what
    each call takes it to queue its work; the GPU begins each piece of work once the host has
    queued it and the work before it is done."""

    def __init__(self):
        self.host = self.gpu_free = 0.0

    def queue(self, host_seconds, gpu_seconds):
        """Queue work that takes the host host_seconds and the GPU gpu_seconds; when it begins."""
        self.host += host_seconds
        begins = max(self.gpu_free, self.host)
        self.gpu_free = begins + gpu_seconds
        return begins

    def event(self):
        stream = self

        class Event:
            def record(self):
                self.reached = stream.queue(1e-6, 0.0)

            @property
            def done(self):
                return stream.host >= self.reached

            def synchronize(self):
                stream.host = max(stream.host, self.reached)
        return Event()

    def as_cupy(self, flush_seconds=65e-6):
        """A stand-in for the parts of CuPy that benchmarks/timing.py calls, on this stream: a
        fill of the flush buffer takes the GPU flush_seconds."""
        import types
        return types.SimpleNamespace(
            float32=np.float32,
            empty=lambda size, dtype: types.SimpleNamespace(fill=lambda value: self.queue(10e-6, flush_seconds)),
            cuda=types.SimpleNamespace(Event=self.event,
                                       get_elapsed_time=lambda start, stop: (stop.reached - start.reached) * 1e3))


def stream_hold_on(stream, flush_seconds=65e-6, **options):
    sys.path.insert(0, os.path.dirname(SCRIPT))
    from timing import StreamHold
    return StreamHold(lambda: stream.queue(10e-6, flush_seconds), new_event=stream.event, **options)


def test_the_stream_is_held_until_the_timed_call_has_queued_its_work():
    """A call whose host time (200 us: Python, the launches' checks) exceeds the flush's 65 us of
    GPU work would leave the GPU waiting between its launches, the wait inside the events: the hold
    doubles until the GPU reaches the start event only after the call has queued everything, and
    the events then time the call's 5 us kernel alone."""
    stream = FakeStream()
    hold = stream_hold_on(stream)
    calls = []

    def layer():   # two launches, each 100 us of the host's and 2.5 us of the GPU's
        calls.append(1)
        stream.queue(100e-6, 2.5e-6)
        stream.queue(100e-6, 2.5e-6)
    start, _ = hold.run(layer)
    stop = stream.queue(1e-6, 0.0)
    assert hold.fills == 4 and len(calls) == 3     # 65 and 130 us did not cover the 200, 260 did
    assert not start.done and abs(stop - start.reached - 5e-6) < 1e-12
    start, _ = hold.run(layer)                    # the next repeat keeps the hold it found
    assert hold.fills == 4 and len(calls) == 4


def test_held_each_launch_of_a_layer_is_timed_without_the_host_s_wait(monkeypatch):
    """--breakdown's clock (timing.launch_medians) on the GPU, with CuPy's events on FakeStream:
    a layer of two launches, each 100 us of the host's (its checks) before 3 us of the GPU's.
    Without the hold the first flush covers the first launch's checks in part, and the second
    launch's time is mostly the GPU waiting for them; held, each launch is its kernel's 3 us."""
    sys.path.insert(0, os.path.dirname(SCRIPT))
    from timing import launch_medians

    from minicnn.launch import watched
    for hold in (False, True):
        stream = FakeStream()
        monkeypatch.setitem(sys.modules, "cupy", stream.as_cupy())

        def layer():
            for name in ("first", "second"):
                watched(name, 8, lambda: stream.queue(100e-6, 3e-6))
        total, outside, kernels = launch_medians(layer, repeats=3, warmup=1, gpu=True, hold=hold)
        seconds = {k["name"]: k["seconds"] for k in kernels}
        assert list(seconds) == ["first", "second"]
        if hold:
            assert seconds == pytest.approx({"first": 3e-6, "second": 3e-6}, abs=1e-12)
            assert total == pytest.approx(6e-6, abs=1e-12) and outside == pytest.approx(0.0, abs=1e-12)
        else:
            assert seconds["second"] > 100e-6 and total > 100e-6


def test_held_the_layer_rows_time_the_gpu_s_work_alone(monkeypatch):
    """kernels.py's rows (timing.interleaved_medians, hold=True) on FakeStream: minicnn's layer
    of two launches (100 us of the host's and 3 us of the GPU's each) against a reference of one
    (300 us of the host's, 5 us of the GPU's). Held, 6 us against 5; with the one flush, the
    hosts' times decide the ratio. The hosts' times come apart: 200 us and 300 us."""
    import types
    sys.path.insert(0, os.path.dirname(SCRIPT))
    import timing
    for hold in (False, True):
        stream = FakeStream()
        monkeypatch.setitem(sys.modules, "cupy", stream.as_cupy())
        monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: stream.host))
        host = {}
        medians = timing.interleaved_medians({"minicnn": lambda: [stream.queue(100e-6, 3e-6) for _ in range(2)],
                                              "reference": lambda: stream.queue(300e-6, 5e-6)},
                                             repeats=3, warmup=1, gpu=True, hold=hold, host=host)
        mine, theirs = medians["minicnn"][0], medians["reference"][0]
        if hold:
            assert (mine, theirs) == (pytest.approx(6e-6, abs=1e-12), pytest.approx(5e-6, abs=1e-12))
        else:
            assert mine > 100e-6 and theirs > 200e-6
        # the hosts' part, each side's, held or not: the time each call took to queue its work
        assert host == pytest.approx({"minicnn": 200e-6, "reference": 300e-6}, abs=1e-12)


def test_a_call_that_waits_for_the_gpu_is_timed_as_it_is_with_a_warning(capsys):
    stream = FakeStream()
    hold = stream_hold_on(stream, most_fills=8)

    def synchronising():
        stream.queue(1e-6, 2e-6)
        stream.host = max(stream.host, stream.gpu_free)   # e.g. .item(): the host waits for the GPU
    for _ in range(2):
        hold.run(synchronising)
    assert hold.fills == 8
    assert capsys.readouterr().err.count("its time includes the host's") == 1


def test_without_adaptive_the_hold_is_one_flush():
    """The training step's clock: the host's time is part of a user's step."""
    stream = FakeStream()
    hold = stream_hold_on(stream, adaptive=False)
    calls = []
    start, _ = hold.run(lambda: (calls.append(1), stream.queue(300e-6, 1e-6)))
    assert start.done and hold.fills == 1 and len(calls) == 1


@needs_gpu
def test_on_the_gpu_the_held_clock_leaves_the_host_s_time_out():
    """A call that sleeps 5 ms on the host before a small GPU copy: the plain clock counts the
    sleep, the held one (kernels.py's) the copy alone (4 MiB: some microseconds)."""
    import time

    import cupy
    sys.path.insert(0, os.path.dirname(SCRIPT))
    from timing import gpu_clock
    a = cupy.zeros(2 ** 20, dtype=cupy.float32)
    b = cupy.empty_like(a)

    def slow_host():
        time.sleep(0.005)
        b[...] = a
    assert gpu_clock()(slow_host) > 0.004
    held = gpu_clock(hold=True)
    assert held(slow_host) < 0.001 and held.host_seconds > 0.005


def test_the_reference_s_timed_backward_writes_its_gradients_afresh():
    """PyTorch adds a leaf's gradient into its .grad: a timed step repeated would add a pass over
    dL/dx and dL/dw that minicnn's backward, which overwrites its gradients, does not make."""
    import torch
    kernels = load_kernels_benchmark()
    x = torch.randn(4, 6, requires_grad=True)
    w = torch.randn(3, 6, requires_grad=True)
    dout = torch.randn(4, 3)
    step = kernels.reference_step(lambda x, w: x @ w.T, x, [w], dout)
    for _ in range(3):
        step()
    torch.testing.assert_close(x.grad, dout @ w.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(w.grad, dout.T @ x.detach(), rtol=1e-6, atol=1e-6)


def test_the_cpu_clock_and_interleaved_medians_on_a_clock_of_known_steps(monkeypatch):
    """interleaved_medians: ``warmup`` calls of each function, untimed, then ``repeats`` rounds of
    one call each, alternating; each call's time is the clock's step over it, and the median is
    the middle one (defaults: 2 and 7). The CPU clock reads perf_counter before and after."""
    import types
    sys.path.insert(0, os.path.dirname(SCRIPT))
    import timing
    now, calls = [0.0], []
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    def taking(name, steps):
        steps = iter(steps)

        def call():
            calls.append(name)
            now[0] += next(steps)
            return name
        return call
    a_steps = [9.0, 9.0, 3.0, 1.0, 2.0, 7.0, 5.0, 4.0, 6.0]        # two warm-up calls, then 7 timed
    b_steps = [9.0, 9.0, 0.5, 0.5, 0.25, 0.75, 0.5, 1.0, 0.125]
    medians = timing.interleaved_medians({"a": taking("a", a_steps), "b": taking("b", b_steps)})
    assert calls == ["a", "b"] * 9
    assert medians == {"a": (4.0, a_steps[2:]), "b": (0.5, b_steps[2:])}
    assert timing._timed_cpu_call(taking("c", [2.5])) == ("c", 2.5)
    assert timing.median_seconds(taking("d", [1.0] * 3 + [3.0, 2.0, 8.0]), repeats=3) == 3.0


def test_seconds_reads_every_kind_of_time_and_the_l2_flush_outsizes_the_cache(monkeypatch):
    """``seconds``: a float; a pair of perf_counter stamps; PyTorch's CUDA events and CuPy's, whose
    milliseconds it turns into seconds after waiting for the stop. ``l2_flusher`` writes 256 MiB,
    more than the L2 cache of any GPU it times (50 MB on an H100, 60 on an H200)."""
    import types
    sys.path.insert(0, os.path.dirname(SCRIPT))
    import timing
    waited = []

    class CupyEvent:   # recorded at ``ms`` milliseconds
        def __init__(self, ms):
            self.ms = ms

        def synchronize(self):
            waited.append(self)

    class TorchEvent(CupyEvent):
        def elapsed_time(self, stop):
            return stop.ms - self.ms
    written = []
    fake_cupy = types.SimpleNamespace(
        float32="float32",
        cuda=types.SimpleNamespace(get_elapsed_time=lambda start, stop: stop.ms - start.ms),
        empty=lambda n, dtype: types.SimpleNamespace(size=n, dtype=dtype, fill=lambda v: written.append((n, v))))
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    assert timing.seconds(0.25) == 0.25 and timing.seconds((1.0, 1.75)) == 0.75
    start, stop = TorchEvent(2.0), TorchEvent(5.0)
    assert timing.seconds((start, stop)) == pytest.approx(3e-3) and waited == [stop]
    start, stop = CupyEvent(1.0), CupyEvent(1.5)
    assert timing.seconds((start, stop)) == pytest.approx(5e-4) and waited[-1] is stop
    flush = timing.l2_flusher()
    flush()
    assert written == [(64 * 2 ** 20, 0)]   # float32s: 256 MiB
    assert inspect.signature(timing.gpu_clock).parameters["flush_bytes"].default == 256 * 2 ** 20


def test_launch_medians_on_the_cpu_times_each_watched_launch_and_what_lies_between(monkeypatch):
    """timing.launch_medians (--breakdown's clock) on a CPU clock of known steps: ``setup`` untimed
    before every round; each kernel's launches summed within a round (their bytes and flops too),
    the median over the rounds; the whole call's median, and the part outside the launches."""
    import types
    sys.path.insert(0, os.path.dirname(SCRIPT))
    import timing

    from minicnn.launch import watched
    now, rounds = [0.0], []
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    def step(seconds):
        def run():
            now[0] += seconds
        return run

    def setup():
        rounds.append(len(rounds))
        now[0] += 100.0   # not timed

    def call():
        slow = 1.0 + len(rounds) % 3   # rounds of 1, 2 and 3 s for the first launch
        watched("first", 8, step(slow))
        now[0] += 0.5                   # Python between the launches
        watched("second", 16, step(2.0), flops=10)
        watched("first", 8, step(0.25))
    total, outside, kernels = timing.launch_medians(call, repeats=3, warmup=2, setup=setup)
    assert len(rounds) == 5
    assert outside == pytest.approx(0.5)
    assert kernels == [dict(name="first", launches=2, nbytes=16, flops=0, seconds=pytest.approx(2.25)),
                       dict(name="second", launches=1, nbytes=16, flops=10, seconds=2.0)]
    assert total == pytest.approx(4.75)
    rounds.clear()
    timing.launch_medians(call, setup=setup)
    assert len(rounds) == 9   # the defaults: 2 warm-up rounds, 7 timed
