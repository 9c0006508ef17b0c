"""benchmarks/ncu_traffic.py without a GPU: Nsight Compute's CSV read as it prints it, the GPU's
launches paired with the simulator's, and the whole run against a stand-in ncu that reports the
simulator's own counts (with one planted difference), so that on a GPU only ncu itself is new."""
import json
import os
import stat
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import ncu_traffic  # noqa: E402
from ncu_traffic import COUNTS, METRICS, NcuError, kernel_base, match, ncu_beside, parse_ncu_csv  # noqa: E402

HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size",'
          '"Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"')


def csv_row(launch, kernel, metric, value):
    return (f'"{launch}","77","python3","localhost","{kernel}","1","7","(256, 1, 1)","(40, 1, 1)","0","9.0",'
            f'"Command line profiler metrics","{metric}","","{value}"')


def test_ncu_csv_is_read_after_its_own_lines_with_thousands_separators():
    text = "\n".join(["==PROF== Connected to process 77 (python3)", "a line the program printed", HEADER,
                      csv_row(0, "relu_forward_v2", "dram__bytes_read.sum", "53,261,312"),
                      csv_row(0, "relu_forward_v2", "l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum", "4,096"),
                      csv_row(1, "void sm90_xmma_gemm_f32f32(float*)", "dram__bytes_read.sum", "0"),
                      "==PROF== Disconnected from process 77"])
    launches = parse_ncu_csv(text)
    assert launches == [("relu_forward_v2", {"dram__bytes_read.sum": 53261312.0,
                                             "l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum": 4096.0}),
                        ("void sm90_xmma_gemm_f32f32(float*)", {"dram__bytes_read.sum": 0.0})]
    assert [kernel_base(k) for k, _ in launches] == ["relu_forward_v2", "sm90_xmma_gemm_f32f32"]
    assert kernel_base("im2col_v5<float>") == "im2col_v5"
    with pytest.raises(NcuError, match="no table in ncu's output"):
        parse_ncu_csv("==ERROR== Failed to initialize the profiler\n")
    with pytest.raises(NcuError, match="'n/a', not a number"):
        parse_ncu_csv("\n".join([HEADER, csv_row(0, "k", "dram__bytes_read.sum", "n/a")]))


class Launch:   # what match() reads of a LaunchTraffic
    def __init__(self, kernel):
        self.kernel = kernel


def test_launches_pair_in_order_and_a_different_sequence_is_named():
    simulated = [("pool1", "forward", Launch("maxpool_forward_v5")), ("pool1", "backward", Launch("maxpool_backward_v4"))]
    on_gpu = [("maxpool_forward_v5", {"a": 1.0}), ("cupy_copy__float32_float32", {"a": 2.0}),
              ("maxpool_backward_v4", {"a": 3.0})]
    pairs, others = match(simulated, on_gpu)
    assert [(p[0], p[1], p[3]) for p in pairs] == [("pool1", "forward", {"a": 1.0}), ("pool1", "backward", {"a": 3.0})]
    assert others == ["cupy_copy__float32_float32"]
    with pytest.raises(NcuError, match=r"first different at launch 1: GPU \['maxpool_forward_v5'\], "
                                       r"simulator \['maxpool_backward_v4'\]"):
        match(simulated, [on_gpu[0], on_gpu[0]])


STAND_IN = '''#!{python}
"""A stand-in for ncu: checks the command line it gets, and prints the simulator's counts of the
launches it names as ncu prints a GPU's, a cuBLAS launch among them and one count doubled."""
import sys
sys.path.insert(0, {benchmarks!r})
import ncu_traffic
args = sys.argv[1:]
assert args[:args.index("--metrics")] == ["--csv", "--print-units", "base", "--clock-control", "none",
                                          "--profile-from-start", "off"], args
assert args[args.index("--metrics") + 1] == ",".join(ncu_traffic.METRICS)
child = args[args.index("--metrics") + 2:]
assert child[1].endswith("ncu_traffic.py") and child[2] == "--child", child
names, batch = child[child.index("--layers") + 1].split(","), int(child[child.index("--batch-size") + 1])
conv_algorithm = child[child.index("--conv-algorithm") + 1]
from minicnn import kernel_versions
for i in [i for i, a in enumerate(child) if a == "--kernel-version"]:   # the versions, as the child takes them
    kernel_versions.set_version(*kernel_versions.choice(child[i + 1]))
print("==PROF== Connected to process 77")
print({header!r})
launch = 0
for i, (layer, pass_, t) in enumerate(ncu_traffic.simulated_launches(names, batch, conv_algorithm=conv_algorithm)):
    if i == 1:   # cuBLAS, between two of minicnn's launches
        print({row!r}.format(launch, "sm90_xmma_gemm", "dram__bytes_read.sum", "1,024"))
        launch += 1
    for count, metrics in ncu_traffic.COUNTS.values():
        value = count(t) * (2 if i == 0 and metrics[0].endswith("global_op_ld.sum") and "sectors" in metrics[0] else 1)
        print({row!r}.format(launch, t.kernel, metrics[0], f"{{value:,}}"))
    launch += 1
'''


@pytest.fixture
def stand_in_ncu(tmp_path, monkeypatch):
    """The path of STAND_IN, written and made executable, with the GPU it describes named "Stand-in
    GPU" and the kernel versions chosen restored after the test."""
    from minicnn import kernel_versions
    monkeypatch.setattr(kernel_versions, "_chosen", dict(kernel_versions._chosen))
    ncu = tmp_path / "ncu"
    ncu.write_text(STAND_IN.format(python=sys.executable, benchmarks=os.path.dirname(ncu_traffic.__file__),
                                   header=HEADER, row=csv_row("{}", "{}", "{}", "{}")))
    ncu.chmod(ncu.stat().st_mode | stat.S_IEXEC)
    import minicnn.environment
    monkeypatch.setattr(minicnn.environment, "gpu_name", lambda: "Stand-in GPU")
    monkeypatch.setattr(minicnn.environment, "gpu_software",
                        lambda: dict(cupy="14.2.0", cuda_runtime="13.2", cuda_driver="13.1", nvrtc="13.0"))
    return ncu


def test_a_run_against_a_stand_in_ncu_pairs_every_launch_and_finds_the_planted_difference(tmp_path, stand_in_ncu):
    ncu_traffic.main(["--layers", "relu1,pool5", "--batch-size", "1", "--ncu", str(stand_in_ncu), "--out",
                      str(tmp_path)])
    (js,) = tmp_path.glob("ncu-traffic-Stand-in_GPU-b1-*.json")
    run = json.loads(js.read_text())
    kernels = [(r["layer"], r["pass_"], r["kernel"]) for r in run["launches"]]
    assert [k[:2] for k in kernels] == [("relu1", "forward"), ("relu1", "backward"), ("pool5", "forward"),
                                        ("pool5", "backward")]
    assert run["not_compared"] == ["sm90_xmma_gemm"] and run["metrics"] == METRICS
    first, *rest = run["launches"]
    assert first["counts"]["load sectors"]["gpu"] == 2 * first["counts"]["load sectors"]["sim"] > 0
    assert all(c["gpu"] == c["sim"] for r in rest for c in r["counts"].values())
    assert all(first["counts"][n]["gpu"] == first["counts"][n]["sim"] for n in COUNTS if n != "load sectors")
    table = js.with_suffix(".md").read_text()
    assert "load sectors 3 of 4" in table and "load requests 4 of 4" in table
    assert "Nsight Compute on Stand-in GPU (CuPy 14.2.0, CUDA runtime 13.2, driver 13.1, NVRTC 13.0)," in table
    assert f"| relu1 | forward | {kernels[0][2]} | 1.00 | 2.00 |" in table


def test_another_kernel_version_runs_on_both_sides_and_names_the_results(tmp_path, stand_in_ncu):
    """--kernel-version reaches the child that ncu profiles and the simulator's run alike (the
    launches pair only if both ran max-pool's version 6), and the results say which versions ran."""
    from minicnn import kernel_versions
    ncu_traffic.main(["--layers", "pool5", "--batch-size", "1", "--kernel-version", "maxpool=6", "--ncu",
                      str(stand_in_ncu), "--out", str(tmp_path)])
    (js,) = tmp_path.glob("ncu-traffic-Stand-in_GPU-b1-maxpool6-*.json")
    run = json.loads(js.read_text())
    assert [r["kernel"] for r in run["launches"]] == ["maxpool_forward_v2", "maxpool_backward_v6"]
    assert run["kernel_versions"] == dict(kernel_versions.DEFAULTS, maxpool=6)
    assert "maxpool v6" in js.with_suffix(".md").read_text()


def test_the_conv_algorithm_runs_on_both_sides_and_names_the_results(tmp_path, stand_in_ncu):
    """--conv-algorithm winograd reaches the child as --kernel-version does: conv4 by Winograd's
    transforms, in their version 2, on both sides (the launches pair), named in the results."""
    ncu_traffic.main(["--layers", "conv4", "--batch-size", "1", "--conv-algorithm", "winograd", "--kernel-version",
                      "winograd=2", "--ncu", str(stand_in_ncu), "--out", str(tmp_path)])
    (js,) = tmp_path.glob("ncu-traffic-Stand-in_GPU-b1-winograd-winograd2-*.json")
    run = json.loads(js.read_text())
    assert [r["kernel"] for r in run["launches"]] == ["winograd_input_v2", "winograd_output_v2",
                                                      "winograd_output_grad_v2", "bias_grad_columns",
                                                      "winograd_input_grad_v2"]
    assert run["conv_algorithm"] == "winograd" and run["kernel_versions"]["winograd"] == 2


def test_without_ncu_the_run_says_how_to_give_it(monkeypatch, capsys):
    monkeypatch.setattr(ncu_traffic.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit):
        ncu_traffic.parse_args([])
    assert "ncu is not on the PATH (it comes with the CUDA toolkit): give it with --ncu" in capsys.readouterr().err


def test_a_failing_ncu_stops_the_simulation_beside_it_with_ncus_words(tmp_path):
    """ncu runs beside the simulator; where it cannot read the counters (a machine whose runtime
    hides them), the check the simulator makes before each layer raises with ncu's message."""
    ncu = tmp_path / "ncu"
    ncu.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('==ERROR== Failed to initialize the profiler: "
                   "LibraryNotLoaded\\n')\nsys.exit(1)\n")
    ncu.chmod(ncu.stat().st_mode | stat.S_IEXEC)

    def simulator_at_work(check):
        for _ in range(1200):   # at most a minute: check() raises once the stand-in has exited
            check()
            time.sleep(0.05)
        pytest.fail("check() never raised")
    with pytest.raises(NcuError, match="ncu exited with 1: ==ERROR== Failed to initialize the profiler: LibraryNotLoaded"):
        ncu_beside(str(ncu), ["relu1"], 1, simulator_at_work)
