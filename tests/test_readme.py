"""The README's promises, checked: every Python example in it runs as printed (each block on its
own, as a reader would paste it), and every figure of its benchmark tables is what the committed
results file of that run says (benchmarks/results/), rounded as the README shows it. A README
updated without its results file, or a results file replaced without the README, fails here.
The quick tour of ``help(minicnn)`` is held to the same: its example runs, its map is true."""
import contextlib
import io
import itertools
import json
import math
import re
import statistics
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from minicnn import models
from minicnn.environment import describe_line
from minicnn.layers import winograd

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
RESULTS = ROOT / "benchmarks" / "results"


def python_blocks():
    """The README's ```python blocks, in order."""
    return re.findall(r"^```python\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)


def tables(header):
    """Every Markdown table of the README whose header row is ``header``: a list of
    {first cell: row's cells} dicts, in order."""
    found = []
    lines = README.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == header:
            rows = {}
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                cells = [c.strip() for c in row.strip().strip("|").split("|")]
                rows[cells[0]] = cells
            found.append(rows)
    assert found, f"the README has no table headed {header!r}"
    return found


def table_with(header, label):
    """The one README table headed ``header`` that has a row labelled ``label``."""
    (rows,) = [rows for rows in tables(header) if label in rows]
    return rows


def sentence(pattern):
    """The groups of the one match of ``pattern`` in the README, where each space of the pattern
    matches any run of white space (the README's lines break anywhere)."""
    matches = re.findall(pattern.replace(" ", r"\s+"), README, flags=re.DOTALL)
    assert len(matches) == 1, f"{pattern!r}: {len(matches)} matches in the README"
    return matches[0]


def assert_shows(text, *values, scale=1.0):
    """The numbers in ``text`` (in order) are ``values`` times ``scale``, each rounded to as many
    decimals as the README prints it with."""
    numbers = re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", text)
    assert len(numbers) == len(values), f"{text!r}: expected {len(values)} numbers"
    for shown, value in zip(numbers, values):
        if "e" in shown:
            mantissa = shown.split("e")[0]
            decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
            expected = f"{value * scale:.{decimals}e}".replace("e-0", "e-").replace("e+0", "e")
        else:
            decimals = len(shown.split(".")[1]) if "." in shown else 0
            expected = f"{value * scale:.{decimals}f}"
        assert shown == expected, f"the README shows {shown} in {text!r}; the results file says {expected}"


def training_script_helps():
    """examples/train_alexnet.py's source with its adjacent string literals joined and its white space
    made single spaces, so that a flag's help reads as one sentence whatever its line breaks."""
    return " ".join(re.sub(r'"\s+"', "", (ROOT / "examples" / "train_alexnet.py").read_text()).split())


def compare_runs_script():
    """examples/compare_runs.py as a module: its run_records, test_accuracy and table make the
    README's tables of runs side by side."""
    examples = str(ROOT / "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)
    import compare_runs
    return compare_runs


def shown_mean(values):
    """The mean of ``values`` as compare_runs.py's tables show it (4 decimals), so that differences
    of means are those a reader of the tables finds."""
    return float(f"{statistics.mean(values):.4f}")


def results(name):
    return json.loads((RESULTS / name).read_text())


# --- the examples ------------------------------------------------------------------------------

def run_block(code, monkeypatch):
    """Run one README block in a fresh namespace, "cuda" meaning the kernel simulator (CI has no
    GPU), with every random generator seeded (the examples draw unseeded ones, so that a reader's
    runs differ); return what it printed."""
    monkeypatch.setenv("MINICNN_SIMULATE", "1")
    seeds, default_rng = itertools.count(), np.random.default_rng
    monkeypatch.setattr(np.random, "default_rng", lambda seed=None: default_rng(next(seeds) if seed is None else seed))
    state = np.random.get_state()
    np.random.seed(0)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    finally:
        np.random.set_state(state)   # other tests see NumPy's global generator as they left it
    return printed.getvalue()


def test_every_python_example_runs_on_its_own(monkeypatch):
    blocks = python_blocks()
    assert len(blocks) == 5
    layers, summary, gpu, simulated, split = (run_block(code, monkeypatch) for code in blocks)
    loss, keys, header, *errors = layers.splitlines()
    assert abs(float(loss) - np.log(10)) < 0.3             # "~2.3": ten classes, nothing learnt yet
    assert all(k in keys for k in ("conv1.weight", "conv1.bias", "fc.weight", "fc.bias"))
    assert header.split() == ["tensor", "elements", "kinks", "rel.", "error"]
    assert [e.split()[0] for e in errors] == ["input", "weight", "bias"]
    assert all(float(e.split()[-1]) < 1e-6 for e in errors)
    # the prose around the summary gives its totals
    parameters, multiply_adds = sentence(r"the 2012 network, exactly as the paper has it \(([\d,]+) parameters, "
                                         r"([\d.]+ M) multiply-adds\)")
    assert f"Total parameters: {parameters}\n" in summary and f"({multiply_adds})" in summary
    assert gpu == "" and simulated == ""
    assert f"Total parameters: {parameters}\n" in split and "cpu worker 1" in split


def test_hybrid_summary_is_what_the_code_prints():
    """The README's summary of the hybrid on 2 ranks (its lines in order, "..." standing for the
    convolutions), as rank 0 prints it; a stand-in for the communicator, as the summary sends
    nothing."""
    from minicnn.hybrid import HybridNet
    from minicnn.summary import summary
    (shown,) = [block for block in re.findall(r"^```text\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)
                if "GatherRows" in block]
    rank_0_of_2 = types.SimpleNamespace(rank=0, size=2, broadcast_parameters=lambda model: None)
    printed = summary(HybridNet(models.alexnet(), rank_0_of_2), (1, 3, 227, 227)).splitlines()
    head, tail = shown.split("...\n")
    assert printed[:len(head.splitlines())] == head.splitlines()
    start = printed.index(tail.splitlines()[0])
    assert printed[start:start + len(tail.splitlines())] == tail.splitlines()


def test_the_notebooks_sections_are_the_ones_the_readme_lists():
    """The README's numbered list of the teaching notebook's sections names each of its ``## N.``
    headings, in order (a title may leave out what follows a colon)."""
    notebook = json.loads((ROOT / "examples" / "alexnet_walkthrough.ipynb").read_text())
    headings = [line[3:] for cell in notebook["cells"] if cell["cell_type"] == "markdown"
                for line in "".join(cell["source"]).splitlines() if re.match(r"## \d+\. ", line)]
    section = README.split("## The teaching notebook", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^(\d+)\. \*\*(.+?)\*\*", section, flags=re.MULTILINE)
    assert len(listed) == len(headings) == 9
    for (number, title), heading in zip(listed, headings):
        assert heading == f"{number}. {title}" or heading.startswith(f"{number}. {title}: "), (title, heading)


def test_every_file_the_readme_names_exists():
    """Each `path` of the repository the README names in code spans (globs and {a,b} braces
    expanded) matches a file: a renamed or deleted file fails here."""
    named = set(re.findall(r"`((?:benchmarks|examples|minicnn|kernels|tests|\.ci)/[^`\s]*)`", README))
    assert len(named) > 40
    for path in named - {p for p in named if re.search(r"\b[A-Z]{2,}\b", p)}:   # not OUT, DATE: written by runs
        head, braces, tail = re.match(r"([^{]*)(?:\{([^}]*)\})?(.*)", path).groups()
        for choice in braces.split(",") if braces else [""]:
            assert list(ROOT.glob(head + choice + tail)), f"the README names {path}, which does not exist"


def test_every_picture_the_readme_shows_exists():
    """Each ``![...](path)`` of the README is a PNG of the repository: a chart renamed or never
    committed would show as a broken image."""
    shown = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", README)
    assert len(shown) >= 9
    for path in shown:
        assert (ROOT / path).is_file(), f"the README shows {path}, which does not exist"
        assert (ROOT / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"the README shows {path}, not a PNG here"


def test_the_package_docstring_example_runs_and_its_map_is_true():
    """``help(minicnn)``'s quick tour: its example runs as printed (doctest), every module it
    names imports, every file it names exists, and each layer it lists has its module and either
    its kernel file or the kernels the text names for it."""
    import doctest
    import importlib

    import minicnn
    failed, attempted = doctest.testmod(minicnn, optionflags=doctest.ELLIPSIS, report=False)
    assert attempted >= 10 and failed == 0, f"{failed} of the package docstring's examples failed (run pytest -s)"
    tour = minicnn.__doc__
    modules = set(re.findall(r"``(minicnn(?:\.[a-z_]+)+)", tour)) - {"minicnn.layers.<name>"}
    assert len(modules) >= 15
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:   # minicnn.summary.summary: a function of a module
            module, attribute = name.rsplit(".", 1)
            assert hasattr(importlib.import_module(module), attribute), f"the tour names {name}"
    files = set(re.findall(r"``((?:kernels|tests)/[\w.]+)``", tour))
    missing = sorted(f for f in files if not (ROOT / f).is_file())
    assert len(files) >= 6 and not missing, missing
    listed = re.search(r"NumPy forward and backward \(([^)]*)\)", tour).group(1).replace("\n", " ")
    layers = [name.strip() for name in listed.split(",")]
    assert len(layers) == 10
    said_instead = {"conv": "a convolution's are", "dense": "a dense layer's", "flatten": "flatten is a reshape"}
    for name in layers:
        importlib.import_module(f"minicnn.layers.{name}")
        has_own_kernels = (ROOT / "kernels" / f"{name}.cu").is_file()
        assert has_own_kernels != (name in said_instead), name
        assert has_own_kernels or said_instead[name] in " ".join(tour.split()), name


def readme_commands():
    """(script, arguments) of every ``python examples/X.py ...`` and ``python benchmarks/X.py ...``
    in the README: in its shell blocks up to a comment, and in its inline code spans."""
    shell = "\n".join(re.findall(r"^```bash\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL))
    spans = re.findall(r"`([^`]+)`", re.sub(r"^```.*?^```", "", README, flags=re.MULTILINE | re.DOTALL),
                       flags=re.DOTALL)
    lines = [line.split("#")[0] for line in shell.splitlines()] + [" ".join(span.split()) for span in spans]
    return sorted({(script, args.strip()) for line in lines
                   for script, args in re.findall(r"python ((?:examples|benchmarks)/\w+\.py)([^;&|]*)", line)})


def github_anchor(heading):
    """The anchor GitHub gives a heading: lower case, punctuation other than - and _ dropped,
    spaces made hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_within_the_readme_leads_to_a_heading():
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.*)$", README, flags=re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", README)
    assert len(links) >= 10 and not [link for link in links if link not in anchors]


def test_every_flag_in_the_readme_is_one_its_script_takes():
    """Each --flag of each command the README gives is in its script's --help, and a value given
    to a flag with choices is one of them: a renamed flag or choice fails here."""
    commands = readme_commands()
    assert len({script for script, _ in commands}) >= 8
    helps = {}
    for script, args in commands:
        if script not in helps:
            done = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True,
                                  timeout=120)
            assert done.returncode == 0, done.stderr
            helps[script] = " ".join(done.stdout.split())
        for flag, value in re.findall(r"(--[\w-]+)(?:[ =]([^\s-]\S*))?", args):
            assert re.search(rf"{flag}\b", helps[script]), f"{script} has no {flag} (README: {script} {args})"
            choices = re.search(rf"{flag} \{{([^}}]*)\}}", helps[script])
            if choices and value:
                assert value in choices.group(1).split(","), f"{script} {flag}: {value!r} is not one of {choices.group(1)}"


# --- the benchmark tables ----------------------------------------------------------------------

def assert_weakest_classes(test, following):
    """The README's one "The weakest classes are A x, B y and C z. " followed by ``following`` (a
    pattern) names the run's three weakest classes (``test``: its test_metrics.json) with their
    test accuracy."""
    weakest = sentence(r"The weakest classes are (\S+) ([\d.]+), (\S+) ([\d.]+) and (\S+) ([\d.]+)\. " + following)
    ranked = sorted(test["per_class_top1"].items(), key=lambda item: item[1])[:3]
    assert list(weakest[::2]) == [name for name, _ in ranked]
    assert_shows(" ".join(weakest[1::2]), *(accuracy for _, accuracy in ranked))


def median_ms(run, name):
    return statistics.median(run["seconds"][name]) * 1000


def assert_version_row(label, run):
    """The CPU versions table's row whose label starts with ``label`` shows ``run``'s two medians
    and its ratio."""
    rows = [cells for row_label, cells in table_with("| version | minicnn (ms) | PyTorch (ms) | minicnn / PyTorch |",
                                                     "1: freed memory reused").items() if row_label.startswith(label)]
    assert len(rows) == 1, f"{label!r}: {len(rows)} rows"
    assert_shows(" ".join(rows[0][1:]), median_ms(run, "minicnn"), median_ms(run, "PyTorch"), run["ratio"])


def run_files(folder):
    """(metrics.jsonl as a list of epochs, test_metrics.json) of a committed training run."""
    run = RESULTS / folder
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return epochs, json.loads((run / "test_metrics.json").read_text())


def test_quick_start_figures_are_the_committed_training_run():
    """The default training run's table and test accuracy are its metrics.jsonl and
    test_metrics.json, as the run wrote them."""
    epochs, test = run_files("cpu-train-alexnet_small-fashion-mnist-2026-12-03")
    rows = table_with("| epoch | train loss | train acc. | val. loss | val. acc. | images/s |", "1")
    assert list(rows) == [str(e["epoch"]) for e in epochs]
    for e in epochs:
        assert_shows(" ".join(rows[str(e["epoch"])][1:]), e["train_loss"], e["train_top1"], e["val_loss"],
                     e["val_top1"], e["images_per_s"])
    assert_shows(" ".join(sentence(r"\*\*Test accuracy ([\d.]+)\*\* \(top-5 ([\d.]+)\)")), test["top1"], test["top5"])
    assert_shows(sentence(r"The default run's ([\d.]+) in 5 epochs compares with others"), test["top1"])   # longer runs
    weakest = sentence(r"The weakest classes are .*?: (\S+) ([\d.]+), (\S+) ([\d.]+), (\S+) ([\d.]+)\.")
    ranked = sorted(test["per_class_top1"].items(), key=lambda item: item[1])[:3]
    assert list(weakest[::2]) == [name for name, _ in ranked]
    assert_shows(" ".join(weakest[1::2]), *[accuracy for _, accuracy in ranked])
    for picture in re.findall(r"!\[[^]]*\]\(([^)]+)\)", README):   # every picture the README shows exists
        assert (ROOT / picture).is_file(), picture



def test_relu_against_tanh_is_what_compare_runs_makes_of_the_committed_runs():
    """The ReLU-against-tanh table is compare_runs.py's of the two committed runs (and its saved
    output), and the paragraph's figures are theirs."""
    compare_runs = compare_runs_script()
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-relu-against-tanh-2026-12-05"
    runs = [compare_runs.run_records(str(folder / unit)) for unit in ("relu", "tanh")]
    tests = [compare_runs.test_accuracy(str(folder / unit)) for unit in ("relu", "tanh")]
    table = compare_runs.table(["ReLU", "tanh"], runs, tests, 0.05)
    assert table in README and (folder / "compare.txt").read_text().strip() == table
    assert "--labels ReLU,tanh --threshold 0.05 --out figure1.png" in README
    relu, tanh = runs
    errors = sentence(r"from the first epoch \(([\d.]+) against ([\d.]+)\) to the last \(([\d.]+) against ([\d.]+)\), "
                      r"it reaches 5% in (\d+) epochs where the ReLU network takes (\d+), and it tests a little "
                      r"better \(([\d.]+) against ([\d.]+)\)")
    assert_shows(" ".join(errors), 1 - tanh[0]["train_top1"], 1 - relu[0]["train_top1"], 1 - tanh[-1]["train_top1"],
                 1 - relu[-1]["train_top1"], compare_runs.first_epoch_at(tanh, 0.05),
                 compare_runs.first_epoch_at(relu, 0.05), tests[1], tests[0])
    seconds = [r["epoch_time_s"] for r in relu + tanh]
    assert_shows(" ".join(sentence(r"(\d+) to (\d+) s an epoch either way")), math.floor(min(seconds)),
                 math.ceil(max(seconds)))
    assert all(r["lr"] < 0.03 for r in relu + tanh) and len(relu) == len(tanh) == 10

    # seeds 1 and 2 of each
    names = [f"{unit}{seed}" for unit in ("relu", "tanh") for seed in SEEDS]
    runs = [compare_runs.run_records(str(folder / name)) for name in names]
    tests = [compare_runs.test_accuracy(str(folder / name)) for name in names]
    table = compare_runs.table(["ReLU"] * 3 + ["tanh"] * 3, runs, tests, 0.05)
    assert table in README and (folder / "compare-three-seeds.txt").read_text().strip() == table
    assert all((folder / name / "curves.png").is_file() for name in names) and (folder / "figure1-three-seeds.png").is_file()
    for unit in ("relu", "tanh"):
        for seed in (1, 2):
            assert (f"--seed {seed} --activation {unit} --epochs 10 --dropout 0 --weight-decay 0 "
                    f"--out runs/{unit}-{seed}\n") in README
    assert ("compare_runs.py runs/relu{,-1,-2} runs/tanh{,-1,-2} --repeats 3 --labels ReLU,tanh \\\n"
            "    --threshold 0.05 --out figure1-three-seeds.png\n") in README
    relu, tanh = runs[1], runs[4]
    assert_shows(" ".join(sentence(r"With seed 1 the tanh network's training error is below the ReLU network's after the "
                                   r"first epoch \(([\d.]+) against ([\d.]+)\) and the last \(([\d.]+) against ([\d.]+)\), "
                                   r"5% is reached in (\d+) epochs against (\d+), and the test accuracy is a little higher "
                                   r"\(([\d.]+) against ([\d.]+)\)")),
                 1 - tanh[0]["train_top1"], 1 - relu[0]["train_top1"], 1 - tanh[-1]["train_top1"],
                 1 - relu[-1]["train_top1"], compare_runs.first_epoch_at(tanh, 0.05),
                 compare_runs.first_epoch_at(relu, 0.05), tests[4], tests[1])
    relu, tanh = runs[2], runs[5]
    assert compare_runs.first_epoch_at(relu, 0.05) is None   # "where the ReLU network does not in 10"
    assert_shows(" ".join(sentence(r"With seed 2 the tanh network's training error is again the lower after the first "
                                   r"epoch \(([\d.]+) against ([\d.]+)\) and the last \(([\d.]+) against ([\d.]+)\), it "
                                   r"reaches 5% in (\d+) epochs where the ReLU network does not in 10, and it tests higher "
                                   r"\(([\d.]+) against ([\d.]+)\)")),
                 1 - tanh[0]["train_top1"], 1 - relu[0]["train_top1"], 1 - tanh[-1]["train_top1"],
                 1 - relu[-1]["train_top1"], compare_runs.first_epoch_at(tanh, 0.05), tests[5], tests[2])
    assert min(tests[3:]) > max(tests[:3])
    assert_shows(" ".join(sentence(r"Over the three seeds the tanh units test ([\d.]+) against ([\d.]+), each seed above "
                                   r"each of the ReLU network's \(by ([\d.]+) points at the closest, ([\d.]+) against "
                                   r"([\d.]+)\)")),
                 shown_mean(tests[3:]), shown_mean(tests[:3]), 100 * (min(tests[3:]) - max(tests[:3])), min(tests[3:]),
                 max(tests[:3]))
    assert ("and tested 0.9171 against 0.9133 (three seeds each of ten epochs, one learning rate for "
            "both)") in README   # the findings table, whose own test finds these figures here
    assert all(len(records) == 10 for records in runs)


def test_the_occlusion_figures_are_what_predict_printed_for_the_default_runs_network():
    """The occlusion paragraph's figures are predict.py's line in its committed output, made with
    the README's command, and the picture beside it is the one that command wrote."""
    folder = "cpu-train-alexnet_small-fashion-mnist-2026-12-03"
    printed = (ROOT / "benchmarks" / "results" / folder / "occlusion-boot.txt").read_text()
    assert printed.startswith("boot.png\n   99.83%  Ankle boot\n")
    line = re.search(r"occlusion: why/boot\.png \((.+)\)\n", printed)[1]
    assert " ".join(line.split()) in " ".join(README.split())
    assert "--occlusion why/   # writes why/boot.png" in README
    assert (ROOT / "benchmarks" / "results" / folder / "occlusion-boot.png").is_file()


def test_the_saliency_figures_are_what_predict_printed_for_the_default_runs_network():
    """The saliency paragraph's figures are predict.py's line in its committed output, made with
    the README's command, and the picture beside it is the one that command wrote."""
    folder = "cpu-train-alexnet_small-fashion-mnist-2026-12-03"
    printed = (ROOT / "benchmarks" / "results" / folder / "saliency-boot.txt").read_text()
    assert printed.startswith("boot.png\n   99.83%  Ankle boot\n")   # the network the occlusion paragraph shows
    line = re.search(r"saliency: grad/boot\.png \((.+)\)\n", printed)[1]
    assert " ".join(line.split()) in " ".join(README.split())
    assert "--saliency grad/   # writes grad/boot.png" in README
    assert (ROOT / "benchmarks" / "results" / folder / "saliency-boot.png").is_file()


def test_the_top5_picture_is_what_evaluate_drew_for_the_default_runs_network():
    """The Figure 4 (left) paragraph's figures are evaluate.py's committed output for the default
    run's checkpoint, which are the run's own test figures; the picture is the one it wrote."""
    folder = ROOT / "benchmarks" / "results" / "cpu-train-alexnet_small-fashion-mnist-2026-12-03"
    printed = (folder / "evaluate.txt").read_text().splitlines()
    assert printed[0] == "testing on 10000 images of the fashion-mnist test set, through whole pictures"
    loss, top1, top5 = re.match(r"test: loss ([\d.]+), top-1 accuracy ([\d.]+), top-5 ([\d.]+)$", printed[1]).groups()
    test = json.loads((folder / "test_metrics.json").read_text())
    assert (top1, top5) == (f"{test['top1']:.4f}", f"{test['top5']:.4f}") and loss == f"{test['loss']:.4f}"
    assert sentence(r"tested again on its test set \(loss ([\d.]+), top-1 accuracy ([\d.]+), top-5 ([\d.]+),") == \
        (loss, top1, top5)
    assert printed[-1] == ("written to runs/fashion/evaluation: evaluation.json, confusion.png, largest_losses.png, "
                           "top5.png") and (folder / "top5.png").is_file()


def test_the_nearest_neighbours_figures_are_what_the_script_printed_for_the_default_runs_network():
    """The neighbours paragraph's figures are the last line examples/neighbours.py printed for the
    default run's checkpoint (its committed output), and the picture is the one it wrote."""
    folder = ROOT / "benchmarks" / "results" / "cpu-train-alexnet_small-fashion-mnist-2026-12-03"
    printed = (folder / "neighbours.txt").read_text().splitlines()
    images, values = re.match(r"(\d+) training images of fashion-mnist .*?, (\d+) values each in the last hidden "
                              r"layer;", printed[0]).groups()
    k, queries, features, pixels = re.match(r"of the (\d+) nearest training images to each of the first (\d+) test "
                                            r"images, of its class: ([\d.]+%) in the last hidden layer, ([\d.]+%) in "
                                            r"the pixels", printed[-2]).groups()
    shown = sentence(r"On the default run's network, its ([\d,]+) training images, (\d+) values each: of the (\d+) "
                     r"nearest to each of the first (\d+) test images, ([\d.]+%) are of its class in the last hidden "
                     r"layer, against ([\d.]+%) in the pixels")
    assert shown == (f"{int(images):,}", values, k, queries, features, pixels)
    assert printed[-1] == "written: runs/fashion/neighbours.png" and (folder / "neighbours.png").is_file()


def test_the_ensemble_s_figures_are_its_committed_evaluation():
    """Three default runs (seeds 0, 1, 2) and their ensemble: each run's test accuracy as
    evaluate.py scored it is the one its own run wrote (seed 0's the quick start's run), and the
    figures the README gives are the evaluation's."""
    evaluation = results("cpu-ensemble-alexnet_small-fashion-mnist-2026-12-04/evaluation.json")
    runs = ["cpu-train-alexnet_small-fashion-mnist-2026-12-03"] + [
        f"cpu-train-alexnet_small-fashion-mnist-seed{seed}-2026-12-04" for seed in (1, 2)]
    members = evaluation["members"]
    assert len(members) == 3 and evaluation["images"] == 10000 and evaluation["views"] == "center"
    for member, run in zip(members, runs):
        test = run_files(run)[1]
        assert (member["top1"], member["top5"]) == (test["top1"], test["top5"])
        assert member["loss"] == pytest.approx(test["loss"], rel=1e-5)
    shown = sentence(r"the default run with seeds 0, 1 and 2 gave test accuracy ([\d.]+), ([\d.]+) and ([\d.]+), and "
                     r"their probabilities averaged give \*\*([\d.]+)\*\* \(loss ([\d.]+), against ([\d.]+) for the best")
    assert_shows(" ".join(shown), *(m["top1"] for m in members), evaluation["top1"], evaluation["loss"],
                 min(m["loss"] for m in members))
    status = sentence(r"three default runs averaged gave ([\d.]+) against ([\d.]+)-([\d.]+) alone")
    assert_shows(" ".join(status), evaluation["top1"], *sorted(m["top1"] for m in members)[::2])


def test_the_other_kernels_figures_are_their_committed_run():
    """The default run on OpenBLAS's Haswell kernels: its test accuracy, top-5, epoch 1's validation
    accuracy and weakest class as its files have them, and the line the README shows is the one
    that run printed from what it recorded."""
    (first, *_), test = run_files("cpu-train-alexnet_small-fashion-mnist-haswell-kernels-2026-12-03")
    weakest, accuracy = min(test["per_class_top1"].items(), key=lambda item: item[1])
    shown = sentence(r"\(`OPENBLAS_CORETYPE=Haswell`, for AVX2\) the same command gave test accuracy ([\d.]+) "
                     r"\(top-5 ([\d.]+); ([\d.]+) on the validation images after epoch 1, against ([\d.]+); "
                     r"the weakest class (\S+) ([\d.]+)\)")
    against = run_files("cpu-train-alexnet_small-fashion-mnist-2026-12-03")[0][0]["val_top1"]
    assert shown[4] == weakest
    assert_shows(" ".join(shown[:4] + (shown[5],)), test["top1"], test["top5"], first["val_top1"], against, accuracy)
    environment = test["environment"]
    assert environment["blas"]["kernels"] == "Haswell"
    assert f"\non {describe_line(environment)}\n" in README


def test_version_6_on_version_7s_host_is_its_run_of_2026_12_02_to_the_last_digit():
    """Version 6 of the CPU code, run on version 7's host right after it: every loss and accuracy
    of version 6's default run of 2026-12-02 on another host, bit for bit, so the digits that moved
    are version 7's; the figures the README gives of the two runs are their files'."""
    (epochs, test), (before, before_test), (version_7, _) = (run_files(f"cpu-train-alexnet_small-fashion-mnist{name}")
                                                            for name in ("-version6-2026-12-03", "-2026-12-02", "-2026-12-03"))
    timings = {"images_per_s", "epoch_time_s"}
    assert len(epochs) == len(before) == 5
    for e, b in zip(epochs, before):
        assert {k: v for k, v in e.items() if k not in timings} == {k: v for k, v in b.items() if k not in timings}
    environment, before_environment = test.pop("environment"), before_test.pop("environment")
    assert test == before_test and environment["blas"]["kernels"] == before_environment["blas"]["kernels"] == "SkylakeX"
    assert epochs[0]["val_top1"] != version_7[0]["val_top1"]
    shown = sentence(r"Version 6, run on the same host right after, gave test accuracy ([\d.]+) and every other figure")
    assert_shows(shown, test["top1"])
    shown = sentence(r"Its five epochs took (\d+) s against version 7's (\d+) s")
    assert_shows(" ".join(shown), *(sum(e["epoch_time_s"] for e in run) for run in (epochs, version_7)))


def test_the_default_run_on_a_third_host_is_the_haswell_run_to_the_last_digit():
    """The default run on a host without AVX-512 (OpenBLAS's Haswell kernels, chosen by OpenBLAS
    itself) recorded every loss and accuracy of the run on the Haswell kernels chosen by
    OPENBLAS_CORETYPE, bit for bit; only the timings and that variable differ."""
    (epochs, test), (haswell_epochs, haswell_test) = (run_files(f"cpu-train-alexnet_small-fashion-mnist-{name}-2026-12-02")
                                                      for name in ("no-avx512", "haswell-kernels"))
    timings = {"images_per_s", "epoch_time_s"}
    assert len(epochs) == len(haswell_epochs) == 5
    for e, h in zip(epochs, haswell_epochs):
        assert {k: v for k, v in e.items() if k not in timings} == {k: v for k, v in h.items() if k not in timings}
    environment, haswell_environment = test.pop("environment"), haswell_test.pop("environment")
    assert test == haswell_test
    assert environment["blas"] == haswell_environment["blas"] and environment["blas"]["kernels"] == "Haswell"
    assert "OPENBLAS_CORETYPE" not in environment["openblas_environment"]
    assert haswell_environment["openblas_environment"]["OPENBLAS_CORETYPE"] == "Haswell"
    speeds = [e["images_per_s"] for e in epochs]
    assert_shows(" ".join(sentence(r"but the timings, at (\d+)-(\d+) images/s")), min(speeds), max(speeds))


@pytest.mark.parametrize("command, folder", [
    ("--epochs 20", "cpu-train-alexnet_small-fashion-mnist-20-epochs-2026-12-02"),
    ("--epochs 20 --augment", "cpu-train-alexnet_small-fashion-mnist-20-epochs-augment-2026-12-02"),
    ("--epochs 20 --dropout 0.5", "cpu-train-alexnet_small-fashion-mnist-20-epochs-dropout-0.5-2026-12-02"),
])
def test_longer_runs_figures_are_their_committed_files(command, folder):
    """The 20-epoch runs (default settings; crops and mirrors; the paper's dropout): the last
    epoch's validation accuracy, test accuracy, top-5 and weakest class, as each run wrote them."""
    epochs, test = run_files(folder)
    assert [e["epoch"] for e in epochs] == list(range(1, 21))
    cells = table_with("| command | val. acc. (epoch 20) | test acc. | top-5 | weakest class | wall time |",
                       f"`{command}`")[f"`{command}`"]
    weakest, accuracy = min(test["per_class_top1"].items(), key=lambda item: item[1])
    assert cells[4].startswith(weakest + " ")
    assert_shows(" ".join(cells[1:4] + [cells[4].split()[-1]]), epochs[-1]["val_top1"], test["top1"], test["top5"],
                 accuracy)


def test_version_7s_twenty_epochs_are_its_committed_files():
    """Version 7's `--epochs 20`: its test accuracy, top-5, last validation accuracy (against
    version 6's), weakest class and steps, as the run wrote them."""
    epochs, test = run_files("cpu-train-alexnet_small-fashion-mnist-20-epochs-version7-2026-12-03")
    before = run_files("cpu-train-alexnet_small-fashion-mnist-20-epochs-2026-12-02")[0]
    assert [e["epoch"] for e in epochs] == list(range(1, 21)) and test["environment"]["blas"]["kernels"] == "SkylakeX"
    weakest, accuracy = min(test["per_class_top1"].items(), key=lambda item: item[1])
    shown = sentence(r"gave test accuracy ([\d.]+) with `--epochs 20` \(top-5 ([\d.]+); ([\d.]+) on the validation "
                     r"images in epoch 20, against ([\d.]+); the weakest class (\S+) ([\d.]+)\)")
    assert shown[4] == weakest
    assert_shows(" ".join(shown[:4] + (shown[5],)), test["top1"], test["top5"], epochs[-1]["val_top1"],
                 before[-1]["val_top1"], accuracy)
    steps = sentence(r"its last bits grow, over ([\d,]+) steps, into")
    assert int(steps.replace(",", "")) == 20 * (55000 // 64)   # 55,000 training images, batch 64, the last part dropped


CROPS_AND_DROPOUT = RESULTS / "cpu-train-alexnet_small-fashion-mnist-crops-and-dropout-2026-12-06"


def test_crops_and_the_papers_dropout_over_three_seeds_are_the_committed_runs():
    """Three seeds of twenty epochs with crops and mirrors and with the paper's dropout of 0.5: the
    table is compare_runs.py's of the committed runs (the default's as twenty_epochs_changed finds
    them), and the paragraph's, the findings table's and the flags' helps' figures are those runs'."""
    _, runs, tests = twenty_epochs_changed((("--augment", "augment", "crops and mirrors"),
                                            ("--dropout 0.5", "dropout-0.5", "dropout 0.5")),
                                           "crops-and-dropout-20-epochs", CROPS_AND_DROPOUT)
    default, crops, dropout = (shown_mean(tests[i:i + 3]) for i in (0, 3, 6))
    assert max(tests[3:6]) < min(tests[:3])   # "each seed below each of the default's"
    assert_shows(" ".join(sentence(r"Crops and mirrors cost ([\d.]+) points of test accuracy \(([\d.]+) against "
                                   r"([\d.]+)\), each seed below")), 100 * (default - crops), crops, default)
    assert all(lowest_validation_loss(run)[0] == 20 for run in runs[3:6])
    assert_shows(" ".join(sentence(r"lowest in the last epoch \(([\d.]+), ([\d.]+) and ([\d.]+)\), where the default's "
                                   r"turned up after epochs (\d+), (\d+) and (\d+):")),
                 *(run[-1]["val_loss"] for run in runs[3:6]), *(lowest_validation_loss(run)[0] for run in runs[:3]))
    assert all(lowest_validation_loss(run)[0] < 20 for run in runs[:3])
    assert_shows(" ".join(sentence(r"about as well as the validation images \(([\d.]+), ([\d.]+) and ([\d.]+) against "
                                   r"([\d.]+), ([\d.]+) and ([\d.]+) in epoch 20\)")),
                 *(run[-1]["train_top1"] for run in runs[3:6]), *(run[-1]["val_top1"] for run in runs[3:6]))
    assert all(abs(run[-1]["train_top1"] - run[-1]["val_top1"]) < 0.005 for run in runs[3:6])   # "about as well"
    ten_crops = [json.loads((CROPS_AND_DROPOUT / f"20-epochs-augment{seed}" / "test_metrics.json").read_text())
                 ["ten_crop_top1"] for seed in SEEDS]
    assert_shows(" ".join(sentence(r"the three networks give ([\d.]+), ([\d.]+) and ([\d.]+), ([\d.]+), ([\d.]+) and "
                                   r"([\d.]+) points over their whole pictures; their mean, ([\d.]+), is still below the "
                                   r"default's")),
                 *ten_crops, *(100 * (ten - whole) for ten, whole in zip(ten_crops, tests[3:6])), shown_mean(ten_crops))
    assert shown_mean(ten_crops) < default
    validation = [shown_mean([run[-1]["val_top1"] for run in runs[i:i + 3]]) for i in (6, 0)]
    assert min(tests[:3]) < min(tests[6:]) and max(tests[6:]) < max(tests[:3]) and validation[0] > validation[1]
    assert_shows(" ".join(sentence(r"dropout of 0.5 tests ([\d.]+) points below this network's 0.25 \(([\d.]+) against "
                                   r"([\d.]+)\), its three seeds \(([\d.]+) to ([\d.]+)\) inside the default's range "
                                   r"\(([\d.]+) to ([\d.]+)\), and on the validation images it is the better of the two "
                                   r"\(([\d.]+) against ([\d.]+)\)")),
                 100 * (default - dropout), dropout, default, min(tests[6:]), max(tests[6:]), min(tests[:3]),
                 max(tests[:3]), *validation)
    assert max(tests[6:8]) < min(tests[:2]) and tests[8] > tests[2]   # seeds 0 and 1 below, seed 2 above
    assert_shows(" ".join(sentence(r"seed 2 tests above the default's \(([\d.]+) against ([\d.]+)\)")), tests[8], tests[2])
    last_error = [statistics.mean(1 - run[-1]["train_top1"] for run in runs[i:i + 3]) for i in (6, 0)]
    means = [mean_validation_losses(runs[i:i + 3]) for i in (6, 0)]
    assert lowest_validation_loss(means[0])[0] == 20 and last_error[0] > last_error[1]
    assert_shows(" ".join(sentence(r"\(training error ([\d.]+) against ([\d.]+) in the last epoch\) and its mean "
                                   r"validation loss is still falling in the last epoch \(([\d.]+); the default's is "
                                   r"lowest in epoch (\d+), ([\d.]+)\)")),
                 *last_error, means[0][-1]["val_loss"], *lowest_validation_loss(means[1]))
    helps = training_script_helps()   # --augment's and --dropout's
    assert_shows(" ".join(re.search(r"with batch 128, ([\d.]+)%% against ([\d.]+)%% after 20, three seeds' means\)",
                                    helps).groups()), crops, default, scale=100)
    assert_shows(" ".join(re.search(r"90.4%% after 5 epochs, ([\d.]+)%% against ([\d.]+)%% after 20 \(three seeds' "
                                    r"means, its seeds inside the default's range\)", helps).groups()),
                 dropout, default, scale=100)


LRN_AND_POOLING = RESULTS / "cpu-train-alexnet_small-fashion-mnist-lrn-and-pooling-2026-12-06"
TWENTY_EPOCH_DEFAULTS = (   # the default's seeds 0, 1 and 2, each committed beside the first runs it was compared with
    RESULTS / "cpu-train-alexnet_small-fashion-mnist-weight-decay-and-biases-2026-12-05" / "20-epochs",
    RESULTS / "cpu-train-alexnet_small-fashion-mnist-middle-convs-2026-12-06" / "20-epochs-1",
    LRN_AND_POOLING / "20-epochs-2")
SEEDS = ("", "-1", "-2")   # the suffixes of seeds 0, 1 and 2 in a twenty-epoch run's name


def layers_row(run, row):
    """A row of the table that evaluate.py --layers printed for the committed run in folder ``run``
    (its layers.txt), split at spaces, after checking that the output is of the run's own network."""
    text = (run / "layers.txt").read_text()
    assert text.startswith("testing on 10000 images of the fashion-mnist test set")
    assert f"top-1 accuracy {compare_runs_script().test_accuracy(str(run)):.4f}" in text
    found = re.search(rf"\n{re.escape(row)} .*\n", text)
    return found[0].split() if found else None


def twenty_epochs_changed(settings, figure, folder=LRN_AND_POOLING, default="default"):
    """The committed twenty-epoch runs of ``settings`` ((flag, name, label) triples), seeds 0, 1 and
    2 each in ``folder`` as 20-epochs-NAME, 20-epochs-NAME-1 and 20-epochs-NAME-2, after the
    default's three, labelled ``default``: (paths, records, test accuracies). Their commands are
    in the README, and their table, compare_runs.py --repeats 3's, is in it and in the folder's
    compare-FIGURE-three-seeds.txt; their figures, FIGURE-three-seeds.png and (--curve
    validation-loss) FIGURE-validation-loss.png, are in the folder."""
    compare_runs = compare_runs_script()
    paths = [*TWENTY_EPOCH_DEFAULTS] + [folder / f"20-epochs-{name}{seed}" for _, name, _ in settings for seed in SEEDS]
    runs = [compare_runs.run_records(str(path)) for path in paths]
    tests = [compare_runs.test_accuracy(str(path)) for path in paths]
    assert all(len(run) == 20 for run in runs) and all((path / "curves.png").is_file() for path in paths)
    table = compare_runs.table([default] * 3 + [label for *_, label in settings for _ in SEEDS], runs, tests, None)
    assert table in README and (folder / f"compare-{figure}-three-seeds.txt").read_text().strip() == table
    assert all((folder / f"{figure}-{kind}.png").is_file() for kind in ("three-seeds", "validation-loss"))
    commands = ["--epochs 20 --seed 2 --out runs/20-epochs-2"] + [   # the default's seed 2, then the settings'
        f"--epochs 20 {f'--seed {seed} ' if seed else ''}{flag} --out runs/20-epochs-{name}{suffix}"
        for flag, name, _ in settings for seed, suffix in enumerate(SEEDS)]
    assert all(f"python examples/train_alexnet.py {command}\n" in README for command in commands)
    names = ",".join(name for _, name, _ in settings)
    names = f"{{{names}}}" if len(settings) > 1 else names
    labels = ",".join([default] + [label for *_, label in settings])
    for curve in ("", "--curve validation-loss --out {figure}-validation-loss.png"):
        out = curve.format(figure=figure) or f"--out {figure}-three-seeds.png"
        assert (f"compare_runs.py runs/20-epochs{{,-1,-2}} runs/20-epochs-{names}{{,-1,-2}} --repeats 3 \\\n"
                f'    --labels "{labels}" {out}\n') in README
    return paths, runs, tests


def test_twenty_epochs_without_lrn_and_with_a_fixed_scale_are_the_committed_runs():
    """Three seeds of twenty epochs without LRN and with LRN a fixed division: the table is
    compare_runs.py's of the committed runs (the default's as twenty_epochs_changed finds them),
    and the paragraph's figures are those runs' and their evaluate.py --layers output's."""
    paths, runs, tests = twenty_epochs_changed((("--no-lrn", "no-lrn", "no LRN"),
                                                ("--lrn-alpha 0", "fixed-lrn", "LRN a fixed scale")),
                                               "lrn-20-epochs")
    default, without, fixed = (shown_mean(tests[i:i + 3]) for i in (0, 3, 6))
    last_error = [statistics.mean(1 - run[-1]["train_top1"] for run in runs[i:i + 3]) for i in (0, 3, 6)]
    lowest_mean = [lowest_validation_loss(mean_validation_losses(runs[i:i + 3]))[0] for i in (0, 3, 6)]

    assert max(tests[3:6]) < min(tests[:3])
    assert_shows(" ".join(sentence(r"it tests ([\d.]+) points worse \(([\d.]+) against ([\d.]+); its best seed, "
                                   r"([\d.]+), below the default's worst, ([\d.]+)\), and it is still catching up")),
                 100 * (default - without), without, default, max(tests[3:6]), min(tests[:3]))
    assert lowest_mean[1] == 20
    assert_shows(" ".join(sentence(r"training error in the last epoch is ([\d.]+) against ([\d.]+), and the three "
                                   r"seeds' mean validation loss is lowest in the last epoch, the default's in epoch "
                                   r"(\d+)\.")), last_error[1], last_error[0], lowest_mean[0])
    zeros = sentence(r"`--layers` counts ([\d.]+)%, ([\d.]+)% and ([\d.]+)% of relu2's outputs 0, against ([\d.]+)%, "
                     r"([\d.]+)% and ([\d.]+)% with LRN, and again the seed with the fewest tests best")
    assert list(zeros) == [layers_row(path, "relu2")[-1].rstrip("%") for path in paths[3:6] + paths[:3]]
    assert tests[3:6].index(max(tests[3:6])) == [float(z) for z in zeros[:3]].index(min(float(z) for z in zeros[:3]))
    assert min(tests[:3]) < min(tests[6:]) and max(tests[6:]) < max(tests[:3])   # inside the default's range
    assert_shows(" ".join(sentence(r"it tests ([\d.]+), ([\d.]+) points below the default, its three seeds \(([\d.]+) "
                                   r"to ([\d.]+)\) inside the default's range, which is ([\d.]+) points wide "
                                   r"\(([\d.]+) to ([\d.]+)\)")),
                 fixed, 100 * (default - fixed), min(tests[6:]), max(tests[6:]), 100 * (max(tests[:3]) - min(tests[:3])),
                 min(tests[:3]), max(tests[:3]))
    assert f"{last_error[2]:.4f}" == f"{last_error[0]:.4f}" and lowest_mean[2] == lowest_mean[0]
    assert_shows(" ".join(sentence(r"its training error in the last epoch is the default's \(([\d.]+)\), and its mean "
                                   r"validation loss is lowest in epoch (\d+), as the default's is")),
                 last_error[0], lowest_mean[0])
    assert_shows(" ".join(sentence(r"Of the ([\d.]+) points that leaving LRN out costs, the fixed scale gives back "
                                   r"([\d.]+):")), 100 * (default - without), 100 * (fixed - without))
    assert_shows(" ".join(sentence(r"Twenty epochs of the default network test ([\d.]+) to ([\d.]+) over three seeds, "
                                   r"the seeds every twenty-epoch comparison here runs, so that a difference of less "
                                   r"than half a point")),   # the findings' preamble
                 min(tests[:3]), max(tests[:3]))
    assert not re.search(r"compare_runs\.py runs/20-epochs[^\n]*--repeats 2\b", README)   # no twenty epochs of two seeds
    assert max(tests[:3]) - min(tests[:3]) > 0.005
    assert max(tests[6:8]) < min(tests[:2])
    assert_shows(sentence(r"with seeds 0 and 1 alone the default tested ([\d.]+) and the fixed scale fell just under "
                          r"both of its seeds"), shown_mean(tests[:2]))
    assert all(layers_row(path, "norm1") is None and layers_row(path, "norm2") is None for path in paths[3:6])
    assert all(layers_row(path, "norm1")[-3:] == ["1.6818", "to", "1.6818"]
               for path in paths[6:])   # alpha 0: the same division at every unit
    assert ("after twenty epochs, three seeds each, 0.90 points (0.9114 against 0.9204), and the fixed division gives "
            "back 0.88 of them (0.9202)") in README   # the findings table, whose own test finds these figures here
    helped = re.search(r"without them the network tested ([\d.]+) points lower after 5 epochs and ([\d.]+) after 20 "
                       r"\(three seeds' means; README", training_script_helps())   # --no-lrn's help
    assert helped and helped.groups() == (sentence(r"Without it the network tests ([\d.]+) points worse \(0\.8828"),
                                          f"{100 * (default - without):.2f}")


def test_twenty_epochs_of_2x2_pools_and_of_padded_3x3_pools_are_the_committed_runs():
    """Three seeds of twenty epochs with 2x2 pools and with 3x3 pools padded to their maps: the
    table is compare_runs.py's of the committed runs (the default's as twenty_epochs_changed finds
    them), and the paragraph's figures are those runs'."""
    paths, runs, tests = twenty_epochs_changed((("--pool-size 2", "pool-2", "2x2 pools"),
                                                ("--pad-pools", "padded-pools", "3x3 pools padded")),
                                               "pools-20-epochs")
    default, side_by_side, padded = (shown_mean(tests[i:i + 3]) for i in (0, 3, 6))
    within = 100 * (max(default, side_by_side, padded) - min(default, side_by_side, padded))
    spread = 100 * (max(tests[:3]) - min(tests[:3]))
    assert within < spread / 10   # "far less"
    assert_shows(" ".join(sentence(r"they test ([\d.]+), the padded 3x3 pools ([\d.]+) and the default ([\d.]+), all "
                                   r"three within ([\d.]+) points, far less than the default's three seeds spread over "
                                   r"\(([\d.]+) points\)")),
                 side_by_side, padded, default, within, spread)
    last_error = [statistics.mean(1 - run[-1]["train_top1"] for run in runs[i:i + 3]) for i in (3, 6, 0)]
    assert last_error[0] == min(last_error)   # "fastest"
    lowest = [lowest_validation_loss(run)[0] for run in runs]
    assert max(lowest[3:6]) < min(lowest[6:]) and max(lowest[3:6]) < max(lowest[:3])   # "lowest soonest"
    assert_shows(" ".join(sentence(r"\(training error ([\d.]+) in the last epoch, against ([\d.]+) for the padded 3x3 "
                                   r"pools and ([\d.]+) for the default\) and their validation loss is lowest soonest, "
                                   r"in epochs (\d+), (\d+) and (\d+), where the padded 3x3 pools' is lowest in (\d+), "
                                   r"(\d+) and (\d+) and the default's in (\d+), (\d+) and (\d+)\.")),
                 *last_error, *lowest[3:6], *lowest[6:], *lowest[:3])
    means = [mean_validation_losses(runs[i:i + 3]) for i in (3, 6, 0)]
    lowest_mean = [lowest_validation_loss(mean)[0] for mean in means]
    assert lowest_mean[1] == lowest_mean[2] and means[0][-1]["val_loss"] == max(mean[-1]["val_loss"] for mean in means)
    assert_shows(" ".join(sentence(r"the three seeds' mean is lowest in epoch (\d+) for the 2x2 pools and in (\d+) "
                                   r"for the others, and ends highest for the 2x2 pools \(([\d.]+), against ([\d.]+) "
                                   r"for the padded 3x3 pools and ([\d.]+) for the default\)")),
                 *lowest_mean[:2], *(mean[-1]["val_loss"] for mean in means))
    assert [layers_row(path, "pool5")[2] for path in paths[3:]] == ["48x3x3"] * 6   # equal maps: fc6's 3x3 in both
    helped = re.search(r"after 20 epochs 2 tested ([\d.]+) and 3 padded to the same maps \(--pad-pools\) ([\d.]+), the "
                       r"2x2 pools' validation loss turning up sooner \(three seeds' means; README",
                       training_script_helps())   # --pool-size's help
    assert helped and helped.groups() == (f"{side_by_side:.4f}", f"{padded:.4f}")
    assert_shows(" ".join(sentence(r"after twenty epochs, three seeds each, all three within ([\d.]+) points \(([\d.]+) "
                                   r"the 2x2 pools, ([\d.]+) the padded 3x3 ones, ([\d.]+) the default\), the 2x2 "
                                   r"pools' validation loss lowest soonest \(epochs (\d+), (\d+) and (\d+), against "
                                   r"(\d+), (\d+) and (\d+)\)")),   # the findings table
                 within, side_by_side, padded, default, *lowest[3:6], *lowest[6:])


def test_twenty_epochs_without_dropout_are_the_committed_runs():
    """Three seeds of twenty epochs without dropout: the table is compare_runs.py's of the committed
    runs (the default's as twenty_epochs_changed finds them), and the paragraph's, the findings
    table's and --dropout's help's figures are those runs' and, for weight decay, its section's
    runs'."""
    compare_runs = compare_runs_script()
    _, runs, tests = twenty_epochs_changed((("--dropout 0", "no-dropout", "no dropout"),), "no-dropout-20-epochs",
                                           CROPS_AND_DROPOUT)
    last_error = [statistics.mean(1 - run[-1]["train_top1"] for run in runs[i:i + 3]) for i in (3, 0)]
    means = [mean_validation_losses(runs[i:i + 3]) for i in (3, 0)]
    lowest = [lowest_validation_loss(mean) for mean in means]
    assert lowest[0][0] == lowest[1][0] and means[0][-1]["val_loss"] <= means[1][-1]["val_loss"]
    assert_shows(" ".join(sentence(r"fits its training images no better \(training error ([\d.]+) against ([\d.]+) in "
                                   r"the last epoch, the default's counted with its dropout on\); the three seeds' mean "
                                   r"validation loss is lowest in the same epoch as the default's, epoch (\d+) "
                                   r"\(([\d.]+) against ([\d.]+)\), and ends no higher \(([\d.]+) against ([\d.]+)\)")),
                 *last_error, lowest[0][0], lowest[0][1], lowest[1][1], means[0][-1]["val_loss"], means[1][-1]["val_loss"])
    assert last_error[0] >= last_error[1]   # "no better"
    default, without = shown_mean(tests[:3]), shown_mean(tests[3:])
    validation = [shown_mean([run[-1]["val_top1"] for run in runs[i:i + 3]]) for i in (3, 0)]
    assert all(tests[3 + seed] < tests[seed] for seed in range(3)) and max(tests[3:]) > min(tests[:3])
    assert validation[0] > validation[1]
    assert_shows(" ".join(sentence(r"It tests ([\d.]+) points worse \(([\d.]+) against ([\d.]+)\), each seed below "
                                   r"the default's of the same seed \(([\d.]+), ([\d.]+) and ([\d.]+) against ([\d.]+), "
                                   r"([\d.]+) and ([\d.]+)\), though its best is above the default's worst, and on the "
                                   r"validation images it is the better one \(([\d.]+) against ([\d.]+)\)")),
                 100 * (default - without), without, default, *tests[3:], *tests[:3], *validation)
    decay = RESULTS / "cpu-train-alexnet_small-fashion-mnist-weight-decay-and-biases-2026-12-05"
    no_decay = [compare_runs.test_accuracy(str(decay / f"20-epochs-no-weight-decay{seed}")) for seed in SEEDS]
    assert_shows(sentence(r"weight decay, which gives ([\d.]+) points over the same three seeds of twenty epochs"),
                 100 * (default - shown_mean(no_decay)))
    helped = re.search(r"seeds of 5 epochs, and ([\d.]+)%% against ([\d.]+)%% after 20, three seeds' means: README",
                       training_script_helps())   # --dropout's help
    assert_shows(" ".join(helped.groups()), without, default, scale=100)
    assert ("nor in twenty (0.9182 without it against 0.9204, the mean validation loss lowest in the same epoch, three "
            "seeds each)") in README   # the findings table, whose own test finds these figures in this section


FORTY_EPOCHS = "cpu-train-alexnet_small-fashion-mnist-40-epochs{}-no-avx512-2026-12-02"


@pytest.mark.parametrize("command, name, threads", [("--epochs 40", "", 2), ("--epochs 40 --augment", "-augment", 1),
                                                    ("--epochs 40 --dropout 0.5", "-dropout-0.5", 1)])
def test_the_40_epoch_runs_are_their_committed_files(command, name, threads):
    """The 40-epoch table: the last and the best validation accuracy (with its epoch), test
    accuracy, top-5 and the last epoch's training accuracy, as each run wrote them, on the kernels
    and threads the README names."""
    epochs, test = run_files(FORTY_EPOCHS.format(name))
    assert [e["epoch"] for e in epochs] == list(range(1, 41))
    assert test["environment"]["blas"]["kernels"] == "Haswell" and test["environment"]["blas"]["threads"] == threads
    cells = table_with("| command | val. acc. (epoch 40) | best val. acc. (epoch) | test acc. | top-5 | "
                       "training acc. (epoch 40) | wall time |", f"`{command}`")[f"`{command}`"]
    best = max(epochs, key=lambda e: e["val_top1"])
    assert cells[2].endswith(f"({best['epoch']})")
    assert_shows(" ".join(cells[1:6]), epochs[-1]["val_top1"], best["val_top1"], best["epoch"], test["top1"],
                 test["top5"], epochs[-1]["train_top1"])


def test_what_the_40_epoch_runs_show_is_their_committed_files():
    """The prose under the 40-epoch table: each figure it gives is its run's, and its comparisons
    (with the 20-epoch run, between the default run on OpenBLAS's two kernels) are computed from
    the committed files."""
    (plain, plain_test), (augmented, augmented_test), (dropout, dropout_test) = (
        run_files(FORTY_EPOCHS.format(name)) for name in ("", "-augment", "-dropout-0.5"))
    lowest = min(plain, key=lambda e: e["val_loss"])
    shown = sentence(r"the validation loss is lowest in epoch (\d+) \(([\d.]+)\) and rises to ([\d.]+)")
    assert int(shown[0]) == lowest["epoch"]
    assert_shows(" ".join(shown[1:]), lowest["val_loss"], plain[-1]["val_loss"])
    top1 = {name: run_files(f"cpu-train-alexnet_small-fashion-mnist{name}-2026-12-02")[1]["top1"]
            for name in ("", "-haswell-kernels", "-20-epochs")}
    shown = sentence(r"the test accuracy is ([\d.]+) points over the 20 epochs above, less than the ([\d.]+) by which "
                     r"version 6's default run differs between OpenBLAS's two kernels \(([\d.]+) and ([\d.]+)\)")
    assert_shows(" ".join(shown), 100 * (plain_test["top1"] - top1["-20-epochs"]),
                 100 * (top1["-haswell-kernels"] - top1[""]), top1[""], top1["-haswell-kernels"])
    assert_shows(sentence(r"does not stop it \(([\d.]+) on the training images\)"), dropout[-1]["train_top1"])
    assert min(augmented, key=lambda e: e["val_loss"])["epoch"] == 40   # "still falls in the last epoch"
    assert augmented_test["top1"] > max(plain_test["top1"], dropout_test["top1"])   # "the best of the three"
    shown = sentence(r"the test accuracy, ([\d.]+), is the best of the three, .*? but only by ([\d.]+) points, .*? "
                     r"overstates it by ([\d.]+) points")
    assert_shows(" ".join(shown), augmented_test["top1"], 100 * (augmented_test["top1"] - plain_test["top1"]),
                 100 * (augmented[-1]["val_top1"] - augmented_test["top1"]))


def test_the_80_epoch_run_is_its_committed_files():
    """The 80-epoch run with crops and mirrors: each figure of its paragraph is the run's, on the
    kernels the README names, and its comparisons (with the 40-epoch run, with the spread of the
    default run between OpenBLAS's two kernels, between validation and test) are computed from
    the committed files; so is the quick start's line on where longer runs get to."""
    epochs, test = run_files("cpu-train-alexnet_small-fashion-mnist-80-epochs-augment-2026-12-03")
    assert [e["epoch"] for e in epochs] == list(range(1, 81))
    assert test["environment"]["blas"]["kernels"] == "SkylakeX" and test["environment"]["blas"]["threads"] == 2
    forty = run_files(FORTY_EPOCHS.format("-augment"))[1]["top1"]
    spread = 100 * (run_files("cpu-train-alexnet_small-fashion-mnist-haswell-kernels-2026-12-02")[1]["top1"]
                    - run_files("cpu-train-alexnet_small-fashion-mnist-2026-12-02")[1]["top1"])
    gain = 100 * (test["top1"] - forty)
    shown = sentence(r"\*\*test accuracy ([\d.]+)\*\* \(top-5 ([\d.]+)\), above the 3-conv \+ 2-FC net's 0.926 and "
                     r"([\d.]+) points over forty epochs of crops and mirrors, more than four times the ([\d.]+) by which")
    assert_shows(" ".join(shown), test["top1"], test["top5"], gain, spread)
    assert test["top1"] > 0.926 and gain > 4 * spread
    last, best = epochs[-1], max(epochs, key=lambda e: e["val_top1"])
    assert min(epochs, key=lambda e: e["val_loss"]) is last   # "the validation loss is at its lowest"
    shown = sentence(r"than the validation images \(([\d.]+) against ([\d.]+)\), the validation loss is at its lowest "
                     r"\(([\d.]+)\), and the best validation accuracy is ([\d.]+) \(epoch (\d+)\)\. The validation "
                     r"images overstate the test accuracy by ([\d.]+) points")
    assert_shows(" ".join(shown), last["train_top1"], last["val_top1"], last["val_loss"], best["val_top1"],
                 best["epoch"], 100 * (last["val_top1"] - test["top1"]))
    weakest = sentence(r"The weakest classes are Shirt ([\d.]+), T-shirt/top ([\d.]+) and Pullover ([\d.]+); a shirt is "
                       r"most often taken for a T-shirt \((\d+) of 1,000\)")
    ranked = sorted(test["per_class_top1"].items(), key=lambda item: item[1])[:3]
    assert [name for name, _ in ranked] == ["Shirt", "T-shirt/top", "Pullover"]
    classes = list(test["per_class_top1"])
    shirts = test["confusion"][classes.index("Shirt")]
    taken_for = max((count, name) for name, count in zip(classes, shirts) if name != "Shirt")
    assert taken_for[1] == "T-shirt/top" and sum(shirts) == 1000
    assert_shows(" ".join(weakest), *(accuracy for _, accuracy in ranked), taken_for[0])
    twenty = run_files("cpu-train-alexnet_small-fashion-mnist-20-epochs-2026-12-02")[1]["top1"]
    shown = sentence(r"Longer runs give more \(\[longer runs\]\(#[^)]+\); they ran version 6 of the CPU code\): test "
                     r"accuracy ([\d.]+) after 20 epochs, and ([\d.]+) after 80")
    assert_shows(" ".join(shown), twenty, test["top1"])


def test_the_80_epochs_without_crops_and_mirrors_are_their_committed_files():
    """The control of the 80-epoch run: the same epochs without crops and mirrors. Each figure of
    its paragraph is the run's, and the comparisons (with the run with them, with twenty epochs on
    the same kernels) are computed from the committed files, as are the claims that the
    validation loss turned up and the accuracy did not get past the run with crops and mirrors;
    so is --augment's help, which gives both runs' accuracy."""
    epochs, test = run_files("cpu-train-alexnet_small-fashion-mnist-80-epochs-2026-12-03")
    assert [e["epoch"] for e in epochs] == list(range(1, 81))
    assert test["environment"]["blas"]["kernels"] == "SkylakeX" and test["environment"]["blas"]["threads"] == 2
    augmented = run_files("cpu-train-alexnet_small-fashion-mnist-80-epochs-augment-2026-12-03")[1]["top1"]
    twenty = run_files("cpu-train-alexnet_small-fashion-mnist-20-epochs-2026-12-02")[1]
    assert twenty["environment"]["blas"]["kernels"] == "SkylakeX"   # "on the same kernels"
    minutes, seconds = map(int, sentence(r"`python examples/train_alexnet.py --epochs 80` \(same host and kernels, "
                                         r"2026-12-03; (\d+) min (\d+) s\)"))
    assert sum(e["epoch_time_s"] for e in epochs) < 60 * minutes + seconds   # the epochs fit in the wall time
    shown = sentence(r"give test accuracy ([\d.]+) \(top-5 ([\d.]+)\): ([\d.]+) points below the run with them, and "
                     r"no better than twenty epochs on the same kernels \(([\d.]+)\)")
    assert_shows(" ".join(shown), test["top1"], test["top5"], 100 * (augmented - test["top1"]), twenty["top1"])
    assert test["top1"] <= twenty["top1"] and test["top1"] < 0.926 < augmented
    last = epochs[-1]
    lowest, best = min(epochs, key=lambda e: e["val_loss"]), max(epochs, key=lambda e: e["val_top1"])
    shown = sentence(r"by heart \(([\d.]+) of them in the last epoch\); the validation loss is lowest in epoch (\d+) "
                     r"\(([\d.]+)\) and ends at ([\d.]+), while the validation accuracy still creeps up, to ([\d.]+) "
                     r"in epoch (\d+), as the learning rate decays; in the last epoch it overstates the test accuracy by "
                     r"([\d.]+) points")
    assert_shows(" ".join(shown), last["train_top1"], lowest["epoch"], lowest["val_loss"], last["val_loss"],
                 best["val_top1"], best["epoch"], 100 * (last["val_top1"] - test["top1"]))
    assert best["epoch"] > lowest["epoch"] and last["val_loss"] > lowest["val_loss"]
    assert_weakest_classes(test, r"The run's files are in "
                                 r"`benchmarks/results/cpu-train-alexnet_small-fashion-mnist-80-epochs-2026-12-03/`")
    script = (ROOT / "examples" / "train_alexnet.py").read_text()
    helped = re.findall(r"after 80, ([\d.]+)%% against ([\d.]+)%% without them", script)
    assert len(helped) == 1
    assert_shows(" ".join(helped[0]), augmented, test["top1"], scale=100)


def test_the_80_epoch_run_on_version_7_is_its_committed_files():
    """Version 7's run of the 80 epochs with crops and mirrors: each figure of its paragraph is
    the run's, its comparisons (with version 6's run, with the spread of the default run between
    OpenBLAS's two kernels) and its epochs' range of times are computed from the committed files;
    so is the quick start's line on what version 7 gave after 20 and 80 epochs."""
    epochs, test = run_files("cpu-train-alexnet_small-fashion-mnist-80-epochs-augment-version7-2026-12-03")
    assert [e["epoch"] for e in epochs] == list(range(1, 81))
    assert test["environment"]["blas"]["kernels"] == "SkylakeX" and test["environment"]["blas"]["threads"] == 2
    version6_epochs, version6 = run_files("cpu-train-alexnet_small-fashion-mnist-80-epochs-augment-2026-12-03")
    spread = 100 * (run_files("cpu-train-alexnet_small-fashion-mnist-haswell-kernels-2026-12-02")[1]["top1"]
                    - run_files("cpu-train-alexnet_small-fashion-mnist-2026-12-02")[1]["top1"])
    shown = sentence(r"and gave test accuracy ([\d.]+) \(top-5 ([\d.]+)\): ([\d.]+) points below version 6's ([\d.]+), "
                     r"less than the ([\d.]+) by which OpenBLAS's two kernels move version 6's default run, and still "
                     r"above the 3-conv \+ 2-FC net's 0.926")
    drop = 100 * (version6["top1"] - test["top1"])
    assert_shows(" ".join(shown), test["top1"], test["top5"], drop, version6["top1"], spread)
    assert 0 < drop < spread and test["top1"] > 0.926
    last = epochs[-1]
    assert min(epochs, key=lambda e: e["val_loss"]) is last and max(epochs, key=lambda e: e["val_top1"]) is last
    shown = sentence(r"a little better than the validation images \(([\d.]+) against ([\d.]+)\), the validation loss "
                     r"is at its lowest \(([\d.]+)\) and the validation accuracy at its best in the last epoch, and "
                     r"the validation images overstate the test accuracy by ([\d.]+) points")
    assert_shows(" ".join(shown), last["train_top1"], last["val_top1"], last["val_loss"],
                 100 * (last["val_top1"] - test["top1"]))
    assert_weakest_classes(test, "It took")
    shown = sentence(r"It took (\d+) min (\d+) s, its epochs (\d+) to (\d+) s against version 6's (\d+) to (\d+) s")
    assert sum(e["epoch_time_s"] for e in epochs) < 60 * int(shown[0]) + int(shown[1])   # the epochs fit in the wall time
    times = [[e["epoch_time_s"] for e in run] for run in (epochs, version6_epochs)]
    assert_shows(" ".join(shown[2:]), min(times[0]), max(times[0]), min(times[1]), max(times[1]))
    twenty = run_files("cpu-train-alexnet_small-fashion-mnist-20-epochs-version7-2026-12-03")[1]["top1"]
    assert_shows(" ".join(sentence(r"network; version 7 gave ([\d.]+) and ([\d.]+)\.")), twenty, test["top1"])


def test_the_80_epochs_without_crops_and_mirrors_on_version_7_are_their_committed_files():
    """Version 7's run of the 80 epochs without crops and mirrors: each figure of its paragraph is
    the run's, and its comparisons (with its run with them, with version 6's pair, with its own 20
    epochs) and the claim that its validation loss bottomed out in version 6's epoch are computed
    from the committed files."""
    folder = "cpu-train-alexnet_small-fashion-mnist-80-epochs{}-2026-12-03"
    epochs, test = run_files(folder.format("-version7"))
    assert [e["epoch"] for e in epochs] == list(range(1, 81))   # resumed after epoch 6: each epoch once
    assert test["environment"]["blas"]["kernels"] == "SkylakeX" and test["environment"]["blas"]["threads"] == 2
    augmented = run_files(folder.format("-augment-version7"))[1]["top1"]
    version6_epochs, version6 = run_files(folder.format(""))
    version6_gap = run_files(folder.format("-augment"))[1]["top1"] - version6["top1"]
    twenty = run_files("cpu-train-alexnet_small-fashion-mnist-20-epochs-version7-2026-12-03")[1]["top1"]
    shown = sentence(r"and gave test accuracy ([\d.]+) \(top-5 ([\d.]+)\): ([\d.]+) points below its run with crops and "
                     r"mirrors \(([\d.]+)\), where version 6's two runs were ([\d.]+) apart, and ([\d.]+) points below its "
                     r"own twenty epochs \(([\d.]+)\)")
    assert_shows(" ".join(shown), test["top1"], test["top5"], 100 * (augmented - test["top1"]), augmented,
                 100 * version6_gap, 100 * (twenty - test["top1"]), twenty)
    assert test["top1"] < twenty < augmented
    last = epochs[-1]
    lowest, best = min(epochs, key=lambda e: e["val_loss"]), max(epochs, key=lambda e: e["val_top1"])
    assert lowest["epoch"] == min(version6_epochs, key=lambda e: e["val_loss"])["epoch"]   # "the same epoch"
    shown = sentence(r"the validation loss is lowest in epoch (\d+) \(([\d.]+)\), the same epoch as version 6's, and "
                     r"ends at ([\d.]+); the network learns its training images by heart \(([\d.]+) of them in the last "
                     r"epoch\); the validation accuracy is at its best, ([\d.]+), in epoch (\d+); and in the last epoch it "
                     r"overstates the test accuracy by ([\d.]+) points")
    assert_shows(" ".join(shown), lowest["epoch"], lowest["val_loss"], last["val_loss"], last["train_top1"],
                 best["val_top1"], best["epoch"], 100 * (last["val_top1"] - test["top1"]))
    assert best["epoch"] > lowest["epoch"] and last["val_loss"] > lowest["val_loss"]
    assert_weakest_classes(test, r"Its files are in "
                                 r"`benchmarks/results/cpu-train-alexnet_small-fashion-mnist-80-epochs-version7-2026-12-03/`")


def test_cpu_training_step_figures_are_the_committed_run():
    run = results("cpu-alexnet-b32-2026-12-02.json")
    rows = table_with("| framework | median step (ms) | images/s |", "PyTorch 2.13 (CPU)")
    for label, name in (("minicnn", "minicnn"), ("PyTorch 2.13 (CPU)", "PyTorch")):
        assert_shows(rows[label][1], median_ms(run, name))
        assert_shows(rows[label][2], run["images_per_s"][name])
    ratio, difference = sentence(r"minicnn / PyTorch: ([\d.]+x) \(`python benchmarks/train_step.py --device cpu "
                                 r"--repeats 15 --layers`; the logits agree to (\S+) of the largest\)")
    assert_shows(ratio, run["ratio"])
    assert_shows(difference, run["logits_difference"])
    run = results("cpu-alexnet-b32-2026-11-30-version5.json")
    assert_version_row("5:", run)
    assert_shows(sentence(r"([\d.]+x) in the run of its version row below"), run["ratio"])
    assert_shows(sentence(r"version 5 ran at ([\d.]+x) \(`benchmarks/results/cpu-alexnet-b32-2026-11-30.md`\)"),
                 results("cpu-alexnet-b32-2026-11-30.json")["ratio"])
    run = results("cpu-alexnet-b32-2026-12-02.json")
    assert "(its Haswell kernels, 2 threads)" in run["where"]
    assert_version_row("6, timed again", run)


def test_the_cpu_benchmarks_summary_is_the_committed_runs():
    """The Benchmarks section's first lines: the range of the training step's ratio to PyTorch on
    both networks is version 7's run on 2026-12-03's host (AVX-512, the lower figures) and version
    6's on 2026-12-02's (without, the higher), and the range of version 7 against version 6 in
    turns is the committed runs' lowest and highest; versions 8 and 9 fall inside, and each against
    the version before in turns; the Status section gives the same ranges (torchvision's AlexNet:
    versions 7 and 9)."""
    shown = sentence(r"minicnn's training step runs at ([\d.]+x) to ([\d.]+x) of PyTorch's speed on the 2012 AlexNet "
                     r"on AMD hosts \(([\d.]+x) and ([\d.]+x) on two Intel ones, below\), and at ([\d.]+x) to ([\d.]+x) on the small "
                     r"AlexNet of the quick start \(batch 128\)")
    runs = [results(f"cpu-{model}-{date}.json") for model in ("alexnet-b32", "alexnet_small-b128")
            for date in ("2026-12-03", "2026-12-02")]
    version_10 = [results(name) for name in ("cpu-alexnet-b32-2026-12-04-3.json", "cpu-alexnet-b32-2026-12-06.json")]
    assert all("Intel" in run["where"] for run in version_10)
    assert_shows(" ".join(shown), runs[0]["ratio"], runs[1]["ratio"], *(run["ratio"] for run in version_10),
                 runs[2]["ratio"], runs[3]["ratio"])
    shown = sentence(r"the CPU training step runs at ([\d.]+x)-([\d.]+x) of PyTorch's speed on the 2012 AlexNet "
                     r"on AMD hosts \(([\d.]+x) and ([\d.]+x) on two Intel ones, version 10\), ([\d.]+x)-([\d.]+x) on torchvision's \(without LRN; a run each of versions 7 and 9\) and "
                     r"([\d.]+x)-([\d.]+x) on the small AlexNet")   # the Status section's line
    torchvision = [results(f"cpu-alexnet_owt-b64-{date}.json")["ratio"] for date in ("2026-12-03", "2026-12-04")]
    assert_shows(" ".join(shown), runs[0]["ratio"], runs[1]["ratio"], *(run["ratio"] for run in version_10), *torchvision,
                 runs[2]["ratio"], runs[3]["ratio"])
    for run, kernels in zip(runs, ("SkylakeX", "Haswell") * 2):
        assert f"(its {kernels} kernels, 2 threads)" in run["where"]
    turns = [results(path.name)["ratio"] for path in RESULTS.glob("cpu-versions-a72fefc-against-082ee13-*.json")]
    assert len(turns) == 3
    shown = sentence(r"in turns, version 7's step is ([\d.]+x) to ([\d.]+x) as fast as version 6's")
    assert_shows(" ".join(shown), min(turns), max(turns))
    # versions 8 and 9, on 2026-12-04's host: inside those ranges, and against the version before in turns
    latest = [results(f"cpu-{model}-2026-12-04.json") for model in ("alexnet-b32", "alexnet_small-b128")]
    latest.append(results("cpu-alexnet-b32-2026-12-04-2.json"))
    shown = sentence(r"version 8 on 2026-12-04's host \(with AVX-512\) ran at ([\d.]+x) and ([\d.]+x), and "
                     r"version 9 at ([\d.]+x) on the 2012 AlexNet the same day")
    assert_shows(" ".join(shown), *(run["ratio"] for run in latest))
    for run, (low, high) in zip(latest, ((runs[0], runs[1]), (runs[2], runs[3]), (runs[0], runs[1]))):
        assert "(its SkylakeX kernels, 2 threads)" in run["where"]
        assert low["ratio"] <= run["ratio"] <= high["ratio"]
    turns = [results(path.name)["ratio"] for path in RESULTS.glob("cpu-versions-*-against-33935ad-*.json")]
    assert len(turns) == 6
    shown = sentence(r"version 8's ([\d.]+x) to ([\d.]+x) as fast as version 7's")
    assert_shows(" ".join(shown), min(turns), max(turns))
    turns = [results(path.name)["ratio"] for path in sorted(RESULTS.glob("cpu-versions-*-against-ae718bd-*.json"))]
    assert len(turns) == 2
    assert_shows(" ".join(sentence(r"and version 9's ([\d.]+x) and ([\d.]+x) as fast as version 8's")), *sorted(turns))


def test_the_kernels_cpu_step_figures_are_their_committed_runs():
    """The training step on OpenBLAS's Haswell and SkylakeX kernels: each run's ratio, its two
    medians, and the sums of the five convolutions' rows of its layer table."""
    def conv_ms(kernels):
        table = (RESULTS / f"cpu-alexnet-b32-2026-12-02-{kernels}-kernels.md").read_text()
        rows = [line.split("|")[2:6] for line in table.splitlines() if re.match(r"\| conv\d \|", line)]
        assert len(rows) == 5
        return sum(float(c) for r in rows for c in r[:2]), sum(float(c) for r in rows for c in r[2:])
    runs = {k: results(f"cpu-alexnet-b32-2026-12-02-{k}-kernels.json") for k in ("haswell", "skylakex")}
    shown = sentence(r"ran minicnn at ([\d.]+x) of PyTorch with OpenBLAS's Haswell kernels \((\d+) ms a step "
                     r"against (\d+)\) and at ([\d.]+x) with its SkylakeX kernels, which OpenBLAS takes there by "
                     r"itself \((\d+) ms against (\d+)\)")
    for k, cells in (("haswell", shown[:3]), ("skylakex", shown[3:])):
        assert_shows(" ".join(cells), runs[k]["ratio"], median_ms(runs[k], "minicnn"), median_ms(runs[k], "PyTorch"))
    convs = sentence(r"minicnn's five convolutions took (\d+) ms of a step against (\d+), and PyTorch's, whose "
                     r"oneDNN does not use OpenBLAS, (\d+) against (\d+)")
    (mh, th), (ms, ts) = conv_ms("haswell"), conv_ms("skylakex")
    assert_shows(" ".join(convs), mh, ms, th, ts)
    for k, run in runs.items():
        assert f"(its {'SkylakeX' if k == 'skylakex' else 'Haswell'} kernels, 2 threads)" in run["where"]


def test_version_6_figures_are_their_committed_runs():
    """Version 6 (the conv backward's columns' gradient with the batch last): the version table's
    row and, for both networks and both kernel sets, the convolutions' backward time within the
    steps and the ratio to PyTorch, version 5 then version 6, as the runs wrote them."""
    def conv_backward_ms(run):
        return sum(s for name, s in run["layer_seconds"].items()
                   if name.startswith("conv") and name.endswith(".backward")) * 1000
    name = "cpu-{}-2026-12-02-version{}-{}-kernels.json"
    run = results(name.format("alexnet-b32", 6, "skylakex"))
    assert "(its SkylakeX kernels, 2 threads)" in run["where"]
    assert_version_row("6:", run)
    for network, pattern in (
            ("alexnet-b32", r"convolutions' backward passes of the 2012 AlexNet at batch 32 took (\d+) ms to (\d+) with "
                            r"OpenBLAS's Haswell kernels and (\d+) to (\d+) with its SkylakeX kernels, and the step ran at "
                            r"([\d.]+x) to ([\d.]+x) and ([\d.]+x) to ([\d.]+x) of PyTorch's speed"),
            ("alexnet_small-b128", r"On the small AlexNet at batch 128 the convolutions' backward passes took ([\d.]+) ms "
                                   r"to ([\d.]+) \(Haswell\) and ([\d.]+) to ([\d.]+) \(SkylakeX\), and the step ran at "
                                   r"([\d.]+x) to ([\d.]+x) and ([\d.]+x) to ([\d.]+x) of PyTorch's speed")):
        runs = [results(name.format(network, version, kernels))
                for kernels in ("haswell", "skylakex") for version in (5, 6)]
        assert_shows(" ".join(sentence(pattern)), *[conv_backward_ms(r) for r in runs], *[r["ratio"] for r in runs])


def test_version_7_figures_are_their_committed_runs():
    """Version 7 (im2col's columns with the batch last where rows are short): the version table's
    row, and the comparison of its host with version 6's (the convolutions' time in each
    framework's step, the small AlexNet's ratio), as the runs wrote them."""
    def conv_ms(times):
        return sum(t for name, t in times.items() if name.startswith("conv")) * 1000
    run = results("cpu-alexnet-b32-2026-12-03.json")
    assert "(its SkylakeX kernels, 2 threads)" in run["where"]
    assert_version_row("7:", run)
    before = results("cpu-alexnet-b32-2026-12-02-version6-skylakex-kernels.json")
    assert "(its SkylakeX kernels, 2 threads)" in before["where"]
    shown = sentence(r"there PyTorch's oneDNN ran the five convolutions in (\d+) ms of a step against minicnn's (\d+), "
                     r"where version 6's host with the same kernels ran them in (\d+) against (\d+)")
    assert_shows(" ".join(shown), *(conv_ms(r[key]) for r in (run, before) for key in ("torch_layer_seconds", "layer_seconds")))
    small, small_before = (results(f"cpu-alexnet_small-b128-2026-12-0{name}.json")
                           for name in ("3", "2-version6-skylakex-kernels"))
    shown = sentence(r"the small AlexNet's step ran at ([\d.]+x) of PyTorch's speed "
                     r"\(`benchmarks/results/cpu-alexnet_small-b128-2026-12-03.md`\) against ([\d.]+x) there")
    assert_shows(" ".join(shown), small["ratio"], small_before["ratio"])
    # the steps in turns (benchmarks/versions_in_turns.py), version 7's commit against version 6's
    turns = {f"{model}-b{batch}": results(f"cpu-versions-a72fefc-against-082ee13-{model}-b{batch}-2026-12-03.json")
             for model, batch in (("alexnet_small", 64), ("alexnet_small", 128), ("alexnet", 32))}
    for run in turns.values():
        assert run["commits"] == {"this checkout": "a72fefc", "the other": "082ee13"}
        assert "(its SkylakeX kernels, 2 threads)" in run["where"]

    def shown_run(key):   # version 6's median, version 7's, the ratio, the steps each
        run = turns[key]
        return (median_ms(run, "the other"), median_ms(run, "this checkout"), run["ratio"], run["repeats"])
    shown = sentence(r"the small AlexNet's step went from ([\d.]+) ms to ([\d.]+) at the default run's batch of 64 "
                     r"\(`--repeats (\d+)`: ([\d.]+)x\) and from ([\d.]+) to ([\d.]+) at batch 128 "
                     r"\(`--batch-size 128 --repeats (\d+)`: ([\d.]+)x\)")
    for cells, key in ((shown[:4], "alexnet_small-b64"), (shown[4:], "alexnet_small-b128")):
        before, after, ratio, repeats = shown_run(key)
        assert_shows(" ".join(cells), before, after, repeats, ratio)
    shown = sentence(r"did not change: (\d+) ms for version 6, (\d+) for version 7 \(`--model alexnet --batch-size 32 "
                     r"--repeats (\d+)`: ([\d.]+)x\)")
    before, after, ratio, repeats = shown_run("alexnet-b32")
    assert_shows(" ".join(shown), before, after, repeats, ratio)


def test_version_8_figures_are_their_committed_runs():
    """Version 8 (the max-pool's winners recorded by its forward): the version table's row, the
    max-pools against PyTorch within the step of its run and of version 7's the day before, pool1's
    times, the max-pools' share of the step, and the steps in turns against version 7's commit,
    each run's ratio in the order of the runs (the -2 and -3 files are the second and third)."""
    run, before = results("cpu-alexnet-b32-2026-12-04.json"), results("cpu-alexnet-b32-2026-12-03.json")
    assert "(its SkylakeX kernels, 2 threads)" in run["where"]
    assert_version_row("8:", run)
    pools = ("pool1", "pool2", "pool5")
    shown = sentence(r"the 2012 AlexNet's max-pools ran at ([\d.]+x) to ([\d.]+x) of PyTorch's speed, where version "
                     r"7's ran at ([\d.]+x) to ([\d.]+x) the day before")
    assert_shows(" ".join(shown), min(layer_ratio(run, *pools)), max(layer_ratio(run, *pools)),
                 min(layer_ratio(before, *pools)), max(layer_ratio(before, *pools)))
    assert_shows(sentence(r"version 8's at ([\d.]+x-[\d.]+x) \(it records the winners, above\)"),
                 min(layer_ratio(run, *pools)), max(layer_ratio(run, *pools)))
    shown = sentence(r"pool1 took ([\d.]+) ms forward against PyTorch's ([\d.]+) and ([\d.]+) backward \(the "
                     r"scatter\) against ([\d.]+)")
    assert_shows(" ".join(shown), *(1e3 * times[f"pool1.{way}"] for way in ("forward", "backward")
                                    for times in (run["layer_seconds"], run["torch_layer_seconds"])))
    assert_shows(sentence(r"the max-pools are (\d+)% of it"),
                 kind_share(run, "layer_seconds", "MaxPool2D", models.alexnet()), scale=100)

    def turns(model, batch):   # the runs in turns against version 7's commit, in the order they ran
        stem = f"-against-33935ad-{model}-b{batch}-2026-12-04"
        def order(path):   # the first commit's runs first, then NAME, NAME-2, NAME-3 (timing.free_stem)
            rerun = re.fullmatch(r".*2026-12-04(?:-(\d+))?\.json", path.name)[1]
            return not path.name.startswith("cpu-versions-3e9d560"), int(rerun or 1)
        paths = sorted(RESULTS.glob(f"cpu-versions-*{stem}*.json"), key=order)
        runs = [results(path.name) for path in paths]
        for one in runs:
            assert one["commits"]["the other"] == "33935ad" and "dirty" not in one["commits"]["this checkout"]
            assert "(its SkylakeX kernels, 2 threads)" in one["where"]
        return runs
    big, small = turns("alexnet", 32), turns("alexnet_small", 64)
    assert len(big) == len(small) == 3
    assert {one["repeats"] for one in big} == {15} and [one["repeats"] for one in small] == [41, 101, 101]
    shown = sentence(r"the 2012 AlexNet's step at batch 32 ran at ([\d.]+x), ([\d.]+x) and ([\d.]+x) of version 7's "
                     r"speed \(`--model alexnet --batch-size 32 --repeats 15`, three runs\), and the small AlexNet's at "
                     r"batch 64 at ([\d.]+x), ([\d.]+x) and ([\d.]+x) \(`--repeats 41`, then 101 twice\)")
    assert_shows(" ".join(shown), *(one["ratio"] for one in big + small))


def test_version_9_figures_are_their_committed_runs():
    """Version 9 (Winograd's F(2x2, 3x3) for conv3-5): the version table's row, conv3-5's time and
    ratios to PyTorch within its step and within version 8's of the same morning, the steps in turns
    against version 8's commit in the order they ran, torchvision's AlexNet against version 7's run,
    and the thresholds and counts it quotes from the code."""
    run, before = results("cpu-alexnet-b32-2026-12-04-2.json"), results("cpu-alexnet-b32-2026-12-04.json")
    assert "(its SkylakeX kernels, 2 threads)" in run["where"]
    assert_version_row("9:", run)
    convs = ("conv3", "conv4", "conv5")
    assert_shows(" ".join(sentence(r"its conv3-5 ran at ([\d.]+x) to ([\d.]+x) of PyTorch's speed. Fewer")),
                 min(layer_ratio(before, *convs)), max(layer_ratio(before, *convs)))

    def ms(one, *names):
        return 1e3 * sum(t for key, t in one["layer_seconds"].items() if key.rsplit(".", 1)[0] in names)
    shown = sentence(r"conv3-5 took (\d+) ms against version 8's (\d+) the same morning and ran at ([\d.]+x), "
                     r"([\d.]+x) and ([\d.]+x) of PyTorch's speed where version 8's ran at ([\d.]+x), ([\d.]+x) and "
                     r"([\d.]+x); the step ran at ([\d.]+x) of PyTorch's \((\d+) ms against (\d+)\)")
    assert_shows(" ".join(shown), ms(run, *convs), ms(before, *convs), *layer_ratio(run, *convs),
                 *layer_ratio(before, *convs), run["ratio"], median_ms(run, "minicnn"), median_ms(run, "PyTorch"))
    paths = sorted(RESULTS.glob("cpu-versions-*-against-ae718bd-alexnet-b32-2026-12-04*.json"),
                   key=lambda path: path.name.endswith("-2.json"))   # the first run, then NAME-2
    turns = [results(path.name) for path in paths]
    for one in turns:
        assert one["commits"]["the other"] == "ae718bd" and "dirty" not in one["commits"]["this checkout"]
        assert one["repeats"] == 15 and "(its SkylakeX kernels, 2 threads)" in one["where"]
    shown = sentence(r"In turns against a checkout of version 8 \(ae718bd\) the step ran at ([\d.]+x) and ([\d.]+x) "
                     r"of its speed")
    assert_shows(" ".join(shown), *(one["ratio"] for one in turns))
    owt, owt_before = results("cpu-alexnet_owt-b64-2026-12-04.json"), results("cpu-alexnet_owt-b64-2026-12-03.json")
    threes = ("features.6", "features.8", "features.10")
    shown = sentence(r"ran at ([\d.]+x) of PyTorch's speed \(`--model alexnet_owt --batch-size 64 --layers --repeats "
                     r"15`; `benchmarks/results/cpu-alexnet_owt-b64-2026-12-04.md`\), its 3x3 convolutions at "
                     r"([\d.]+x) to ([\d.]+x), where version 7 ran at ([\d.]+x) and its 3x3 convolutions at "
                     r"([\d.]+x) to ([\d.]+x)")
    assert_shows(" ".join(shown), owt["ratio"], min(layer_ratio(owt, *threes)), max(layer_ratio(owt, *threes)),
                 owt_before["ratio"], min(layer_ratio(owt_before, *threes)), max(layer_ratio(owt_before, *threes)))
    shown = sentence(r"conv1 and conv2 keep im2col, at ([\d.]+x) of PyTorch's speed")
    for ratio in layer_ratio(run, "conv1", "conv2"):   # both
        assert_shows(shown, ratio)
    # what it quotes from the code: the thresholds, the tiles of conv3-5 at batch 32, the products
    assert_shows(" ".join(sentence(r"takes it on the CPU from (\d+) tiles in the batch and (\d+) input channels a "
                                   r"group: AlexNet's conv3-5 at batch 32 \((\d+) tiles\)")),
                 winograd.MIN_TILES, winograd.MIN_CHANNELS, 32 * 7 * 7)
    assert winograd.tiles(13, 13) == (7, 7)
    assert_shows(sentence(r"im2col's GEMM takes 9 \(([\d.]+) on a 13 x 13 output"), 16 * 7 * 7 / 13 ** 2)


def test_version_10_figures_are_their_committed_runs():
    """Version 10 (LRN's and max-pool's slices sized for the caches): the version table's row, the
    steps in turns against version 9's commit on both networks, the layers' times and ratios within
    its step against PyTorch, PyTorch's step and fc6 backward there against the morning's run, and
    the slice sizes it quotes from the code."""
    from minicnn.layers import lrn as lrn_module, maxpool as maxpool_module
    run, morning = results("cpu-alexnet-b32-2026-12-04-3.json"), results("cpu-alexnet-b32-2026-12-04-2.json")
    assert "Intel" in run["where"] and "(its SkylakeX kernels, 2 threads)" in run["where"]
    assert_version_row("10:", run)
    shown = sentence(r"Version 10 ran at ([\d.]+x) on\s+2026-12-04's evening host, an Intel Xeon with AVX-512 on "
                     r"which PyTorch's step took (\d+) ms where the\s+morning's AMD EPYC took (\d+), and in turns at "
                     r"([\d.]+)x of version 9's speed on the 2012 AlexNet and\s+([\d.]+)x on the small one")
    big, small = (results(f"cpu-versions-058b6cd-against-16c8ad8-{m}-2026-12-04.json")
                  for m in ("alexnet-b32", "alexnet_small-b128"))
    for one in (big, small):
        assert one["commits"] == {"this checkout": "058b6cd", "the other": "16c8ad8"}
    assert_shows(" ".join(shown), run["ratio"], median_ms(run, "PyTorch"), median_ms(morning, "PyTorch"),
                 big["ratio"], small["ratio"])
    again = results("cpu-alexnet-b32-2026-12-06.json")   # another Intel host, two days on
    assert "Intel" in again["where"] and "(its SkylakeX kernels, 2 threads)" in again["where"] and len(again["seconds"]["minicnn"]) == 15
    assert again["layer_seconds"] and (RESULTS / "cpu-alexnet-b32-2026-12-06-layers.png").is_file()
    shown = sentence(r"On 2026-12-06's host, an Intel Xeon again, version 10 ran at ([\d.]+x), PyTorch's step taking (\d+) "
                     r"ms and minicnn's (\d+) \(`--repeats 15 --layers`;")
    assert_shows(" ".join(shown), again["ratio"], median_ms(again, "PyTorch"), median_ms(again, "minicnn"))
    shown = sentence(r"the\s+step ran at ([\d.]+)x of its speed on the 2012 AlexNet \((\d+) ms against (\d+), `--model "
                     r"alexnet\s+--batch-size 32 --repeats (\d+)`\) and at ([\d.]+)x on the small AlexNet")
    assert_shows(" ".join(shown), big["ratio"], median_ms(big, "this checkout"),
                 median_ms(big, "the other"), big["repeats"], small["ratio"])

    def ms(one, *names):
        return 1e3 * sum(t for key, t in one["layer_seconds"].items() if key.rsplit(".", 1)[0] in names)
    shown = sentence(r"norm1\s+and norm2 took (\d+) and (\d+) ms forward and backward and ran at ([\d.]+x) and "
                     r"([\d.]+x) of PyTorch's speed,\s+pool1 and pool2 (\d+) and (\d+) ms at ([\d.]+x) and ([\d.]+x); "
                     r"the step ran at ([\d.]+x)")
    assert_shows(" ".join(shown), ms(run, "norm1"), ms(run, "norm2"), *layer_ratio(run, "norm1", "norm2"),
                 ms(run, "pool1"), ms(run, "pool2"), *layer_ratio(run, "pool1", "pool2"), run["ratio"])

    def torch_backward_ms(one, name):
        return 1e3 * one["torch_layer_seconds"][f"{name}.backward"]
    assert_shows(" ".join(sentence(r"\(fc6's backward (\d+) ms against (\d+)\)")), torch_backward_ms(run, "fc6"),
                 torch_backward_ms(morning, "fc6"))
    shown = sentence(r"(\d+) KiB for LRN \(an image a slice, on AlexNet's maps\) and (\d+) MiB\s+for max-pool")
    assert_shows(" ".join(shown), lrn_module.SLICE_BYTES / 1024, maxpool_module.SLICE_BYTES / 2 ** 20)


def test_version_11_figures_are_their_committed_runs():
    """Version 11 (conv2 by the FFT): the version table's row, the Benchmarks and Status sections'
    ratios, the steps in turns against version 10's commit on both networks, conv2's time and
    ratio to PyTorch within each step against those of the runs before, and the sizes and
    thresholds it quotes from the code."""
    from minicnn.layers import fft
    run, owt = results("cpu-alexnet-b32-2026-12-07.json"), results("cpu-alexnet_owt-b64-2026-12-07.json")
    for one in (run, owt):
        assert one["where"].startswith("AMD EPYC") and "(its SkylakeX kernels, 2 threads)" in one["where"]
        assert len(one["seconds"]["minicnn"]) == 15 and one["layer_seconds"]
    assert run["conv_algorithms"]["conv2"] == owt["conv_algorithms"]["features.3"] == "fft"
    assert_version_row("11:", run)
    for pattern in (r"Version 11, which computes conv2 by the FFT, ran at ([\d.]+x) on the 2012 AlexNet and ([\d.]+x) "
                    r"on torchvision's on 2026-12-07's host",
                    r"version 11, conv2 by the FFT, runs at ([\d.]+x) of PyTorch's speed on the 2012 AlexNet and "
                    r"([\d.]+x) on torchvision's \(2026-12-07, an AMD host\)"):
        assert_shows(" ".join(sentence(pattern)), run["ratio"], owt["ratio"])
    big, wide = (results(f"cpu-versions-c0d4846-against-69c0dc7-{m}-2026-12-07.json")
                 for m in ("alexnet-b32", "alexnet_owt-b64"))
    for one in (big, wide):
        assert one["commits"] == {"this checkout": "c0d4846", "the other": "69c0dc7"}
    shown = sentence(r"the step ran at ([\d.]+)x of its speed on the 2012 AlexNet \((\d+) ms against (\d+), `--model "
                     r"alexnet --batch-size 32 --repeats (\d+)`\) and at ([\d.]+)x on torchvision's \(`--model "
                     r"alexnet_owt --batch-size 64 --repeats (\d+)`;")
    assert_shows(" ".join(shown), big["ratio"], median_ms(big, "this checkout"), median_ms(big, "the other"),
                 big["repeats"], wide["ratio"], wide["repeats"])

    def ms(one, name):
        return 1e3 * sum(t for key, t in one["layer_seconds"].items() if key.rsplit(".", 1)[0] == name)
    before, owt_before = results("cpu-alexnet-b32-2026-12-06.json"), results("cpu-alexnet_owt-b64-2026-12-04.json")
    shown = sentence(r"the 2012 AlexNet's step ran at ([\d.]+x) of its speed, its conv2 at ([\d.]+x) \((\d+) ms forward "
                     r"and backward\), where version 10's ran at ([\d.]+x) on 2026-12-06's Intel host; torchvision's "
                     r"step ran at ([\d.]+x) \(`benchmarks/results/cpu-alexnet_owt-b64-2026-12-07.md`\), its conv2 at "
                     r"([\d.]+x) \((\d+) ms\), where version 9's ran at ([\d.]+x) \((\d+) ms\)")
    assert_shows(" ".join(shown), run["ratio"], *layer_ratio(run, "conv2"), ms(run, "conv2"),
                 *layer_ratio(before, "conv2"), owt["ratio"], *layer_ratio(owt, "features.3"), ms(owt, "features.3"),
                 *layer_ratio(owt_before, "features.3"), ms(owt_before, "features.3"))
    shown = sentence(r"conv1 is now the convolution furthest behind PyTorch's on both networks \(([\d.]+x) and "
                     r"([\d.]+x)\)")
    assert_shows(" ".join(shown), *layer_ratio(run, "conv1"), *layer_ratio(owt, "features.0"))
    for one, first in ((run, "conv1"), (owt, "features.0")):
        ratios = {key.rsplit(".", 1)[0] for key in one["layer_seconds"]} & {"conv1", "conv2", "conv3", "conv4", "conv5",
                                                                          "features.0", "features.3", "features.6",
                                                                          "features.8", "features.10"}
        assert min(ratios, key=lambda name: layer_ratio(one, name)[0]) == first
    # what it quotes from the code
    assert fft.transform_size(27, 5, 2) == 30
    assert_shows(" ".join(sentence(r"that is (\d+) x (\d+) frequencies of 4 real multiply-adds each, (\d+) per output "
                                   r"and input channel against im2col's (\d+),(\d+)")), 30, 16, 30 * 16 * 4, 18, 225)
    shown = sentence(r"for windows of (\d+) taps or more, with (\d+) input channels a group and (\d+) images or more")
    assert_shows(" ".join(shown), fft.MIN_TAPS, fft.MIN_CHANNELS, fft.MIN_IMAGES)


def test_version_12_figures_are_their_committed_runs():
    """Version 12 (conv1's im2col image by image): the version table's row, the Benchmarks and
    Status sections' ratios, the steps in turns against version 11's commit with their peak memory,
    conv1's times and ratios within each step against version 11's, PyTorch's conv1 forward's FLOP
    rate, and the thresholds it quotes from the code."""
    from minicnn.layers import conv
    run, owt = results("cpu-alexnet-b32-2026-12-07-2.json"), results("cpu-alexnet_owt-b64-2026-12-07-2.json")
    morning = results("cpu-alexnet-b32-2026-12-07.json")
    for one in (run, owt):
        assert one["where"].startswith("AMD EPYC") and "(its SkylakeX kernels, 2 threads)" in one["where"]
        assert len(one["seconds"]["minicnn"]) == (15 if one is run else 9)
    assert run["conv_algorithms"]["conv1"] == owt["conv_algorithms"]["features.0"] == "im2col by image"
    assert_version_row("12:", run)
    shown = sentence(r"version 12, which runs conv1's im2col image by image, at ([\d.]+x) and ([\d.]+x) later the same "
                     r"day, PyTorch's step taking (\d+) ms where the morning's took (\d+):")
    assert_shows(" ".join(shown), run["ratio"], owt["ratio"], median_ms(run, "PyTorch"), median_ms(morning, "PyTorch"))
    first, second, wide = (results(f"cpu-versions-ebb11fa-against-a9bb90f-{m}-2026-12-07{suffix}.json")
                           for m, suffix in (("alexnet-b32", ""), ("alexnet-b32", "-2"), ("alexnet_owt-b64", "")))
    large = results("cpu-versions-3b70906-against-a9bb90f-alexnet-b128-2026-12-07.json")
    for one in (first, second, wide, large):
        assert one["commits"]["the other"] == "a9bb90f"
    # 3b70906 changed versions_in_turns.py alone after ebb11fa: the same minicnn
    shown = sentence(r"the 2012 AlexNet's step ran at ([\d.]+)x of its speed in a first run \(`--model alexnet "
                     r"--batch-size 32 --repeats (\d+)`\) and at ([\d.]+)x in a second \(`--repeats (\d+)`\), "
                     r"torchvision's at ([\d.]+)x \(`--model alexnet_owt --batch-size 64 --repeats (\d+)`\), and the "
                     r"2012 AlexNet's at batch 128 at ([\d.]+)x with a peak memory of (\d+) MiB against (\d+) "
                     r"\(`--batch-size 128 --repeats (\d+)`;")
    peaks = large["peak_memory_mib"]
    assert_shows(" ".join(shown), first["ratio"], first["repeats"], second["ratio"], second["repeats"], wide["ratio"],
                 wide["repeats"], large["ratio"], peaks["this checkout"], peaks["the other"], large["repeats"])
    less = round(100 * (1 - peaks["this checkout"] / peaks["the other"]))
    assert sentence(r"at batch 128 takes (\d+)% less memory") == str(less)
    assert sentence(r"at about the same speed in (\d+)% less memory") == str(less)
    assert min(r["ratio"] for r in (first, second, wide, large)) >= 0.97
    assert_shows(" ".join(sentence(r"version 12's step is ([\d.]+)x to ([\d.]+)x as fast")),
                 min(r["ratio"] for r in (first, second, wide, large)), max(r["ratio"] for r in (first, second, wide, large)))

    def ms(one, name):
        return 1e3 * sum(t for key, t in one["layer_seconds"].items() if key.rsplit(".", 1)[0] == name)
    shown = sentence(r"conv1 took (\d+) ms forward and backward at ([\d.]+x) of PyTorch's speed, where version 11's "
                     r"took (\d+) at ([\d.]+x) in the morning's run, and torchvision's (\d+) ms at ([\d.]+x)")
    assert_shows(" ".join(shown), ms(run, "conv1"), *layer_ratio(run, "conv1"), ms(morning, "conv1"),
                 *layer_ratio(morning, "conv1"), ms(owt, "features.0"), *layer_ratio(owt, "features.0"))
    flops = 2 * 96 * 363 * 55 * 55 * 32   # conv1's forward at batch 32
    torch_forward, ours = run["torch_layer_seconds"]["conv1.forward"], run["layer_seconds"]["conv1.forward"]
    shown = sentence(r"PyTorch's conv1 forward runs its ([\d.]+) GFLOP in ([\d.]+) ms \((\d+) GFLOP/s\).*?minicnn's, "
                     r"an OpenBLAS GEMM per image, took ([\d.]+)\.")
    assert_shows(" ".join(shown), flops / 1e9, 1e3 * torch_forward, flops / torch_forward / 1e9, 1e3 * ours)
    # what it quotes from the code
    assert_shows(sentence(r"where an image has (\d+) output pixels or more"), conv.MIN_IMAGE_PIXELS)
    assert_shows(sentence(r"summed over blocks of (\d+) images"), conv.IMAGES_PER_SUM)
    assert 55 * 55 >= conv.MIN_IMAGE_PIXELS > 28 * 28


def test_where_the_cpu_step_goes_is_the_committed_run():
    """The README's shares by kind of layer are those of the results file's --layers table, and
    the convolutions' seconds and the GEMM-bound step its layer times and the network's FLOPs."""
    table = (RESULTS / "cpu-alexnet-b32-2026-12-02.md").read_text()
    total_ms, kinds_text = re.search(r"By kind, minicnn \(sum (\d+) ms\): (.*)", table).groups()
    by_kind = dict(re.findall(r"(\w[\w ]*?) (\d+)%", kinds_text))
    shares = sentence(r"Where a version-6 step goes.*?: convolutions (\d+)% \(([\d.]+) s; .*?\), LRN (\d+)%, "
                      r"dense layers (\d+)%, max-pool (\d+)%, the SGD update (\d+)%, ReLU (\d+)%")
    expected = [by_kind[kind] for kind in ("Conv2D", "LRN", "Dense", "MaxPool2D", "SGD update", "ReLU")]
    assert [shares[0], *shares[2:]] == expected
    # and the file's shares are its own layer times, summed by kind
    run = results("cpu-alexnet-b32-2026-12-02.json")
    kinds = {name: type(layer).__name__ for name, layer in models.alexnet().named_children()}
    kinds["SGD"] = "SGD update"
    total = sum(run["layer_seconds"].values())
    assert_shows(total_ms, total * 1000)
    for kind, share in by_kind.items():
        seconds = sum(t for key, t in run["layer_seconds"].items() if kinds[key.split(".")[0]] == kind)
        assert_shows(share, seconds / total, scale=100)
        if kind == "Conv2D":
            assert_shows(shares[1], seconds)
    # the GEMMs' work: 2 FLOPs a multiply-add, forward, weights' and input's gradients (conv1 has
    # no input gradient), for 32 images, and the step it would take at the rate the README gives
    model, shape, macs = models.alexnet(), (1, 3, 227, 227), {}
    for name, layer in model.named_leaves():
        if hasattr(layer, "macs"):
            macs[name] = layer.macs(shape)
        shape = layer.output_shape(shape)
    flops = 2 * 32 * (3 * sum(macs.values()) - macs["conv1"])
    conv_flops = 2 * 32 * (3 * sum(v for k, v in macs.items() if k.startswith("conv")) - macs["conv1"])
    gemm = sentence(r"their GEMMs, (\d+) of the step's (\d+) GFLOP, need about ([\d.]+) s at the (\d+) GFLOP/s")
    rate = float(gemm[3]) * 1e9
    assert_shows(" ".join(gemm), conv_flops / 1e9, flops / 1e9, conv_flops / rate, rate / 1e9)
    ceiling = sentence(r"would make a step of about ([\d.]+) s, (\d+) images/s; minicnn runs at (\d+)% of that")
    assert_shows(" ".join(ceiling[:2]), flops / rate, 32 * rate / flops)
    assert_shows(ceiling[2], run["images_per_s"]["minicnn"] * flops / rate / 32, scale=100)


def layer_ratio(run, *names):
    """PyTorch's time over minicnn's, forward and backward, for layers ``names`` of a --layers run."""
    def total(times, name):
        return sum(t for key, t in times.items() if key.rsplit(".", 1)[0] == name)
    return [total(run["torch_layer_seconds"], n) / total(run["layer_seconds"], n) for n in names]


def kind_share(run, key, kind, model):
    kinds = {name: type(layer).__name__ for name, layer in model.named_leaves()}
    times = run[key]
    return sum(t for k, t in times.items() if kinds.get(k.rsplit(".", 1)[0]) == kind) / sum(times.values())


def test_layer_by_layer_and_other_networks_are_the_committed_runs():
    run = results("cpu-alexnet-b32-2026-12-02.json")
    text = " ".join(sentence(r"(On the 2012 AlexNet, minicnn's convolutions run at .*?directly)").split())
    slowest, slowest_name, fastest, fastest_name = re.search(r"at (\S+) \((conv\d)\) to (\S+) \((conv\d)\)", text).groups()
    convs = ["conv1", "conv2", "conv3", "conv4", "conv5"]
    ratios = layer_ratio(run, *convs)
    assert_shows(slowest, min(ratios))
    assert_shows(fastest, max(ratios))
    assert (convs[ratios.index(min(ratios))], convs[ratios.index(max(ratios))]) == (slowest_name, fastest_name)
    pool1 = re.search(r"pool1's backward takes (\d+) ms against (\d+)\)", text).groups()
    assert_shows(" ".join(pool1), 1e3 * run["layer_seconds"]["pool1.backward"],
                 1e3 * run["torch_layer_seconds"]["pool1.backward"])
    dense = re.search(r"dense\s+layers run at (\S+)-(\S+x)", text).groups()
    assert_shows(" ".join(dense), min(layer_ratio(run, "fc6", "fc7", "fc8")), max(layer_ratio(run, "fc6", "fc7", "fc8")))
    pools = re.search(r"max-pools at (\S+)-(\S+x)", text).groups()
    assert_shows(" ".join(pools), min(layer_ratio(run, "pool1", "pool2", "pool5")),
                 max(layer_ratio(run, "pool1", "pool2", "pool5")))
    assert_shows(re.search(r"SGD update at (\S+x)", text)[1], layer_ratio(run, "SGD")[0])
    assert_shows(" ".join(re.search(r"LRN layers\s+at (\S+) and (\S+x)", text).groups()), *layer_ratio(run, "norm1", "norm2"))
    norm1 = re.search(r"norm1 takes (\d+) ms forward and backward against PyTorch's (\d+) ms", text).groups()
    assert_shows(" ".join(norm1), 1e3 * sum(t for k, t in run["layer_seconds"].items() if k.startswith("norm1.")),
                 1e3 * sum(t for k, t in run["torch_layer_seconds"].items() if k.startswith("norm1.")))
    lrn = re.search(r"LRN is (\d+)% of\s+PyTorch's step against (\d+)% of minicnn's", text).groups()
    assert_shows(" ".join(lrn), kind_share(run, "torch_layer_seconds", "LRN", models.alexnet()),
                 kind_share(run, "layer_seconds", "LRN", models.alexnet()), scale=100)

    rows = table_with("| network, batch | minicnn (images/s) | PyTorch (images/s) | minicnn / PyTorch |",
                      "2012 AlexNet (LRN; conv2, conv4, conv5 in two groups), 32")
    files = {"2012 AlexNet": "cpu-alexnet-b32-2026-12-02.json", "torchvision's": "cpu-alexnet_owt-b64-2026-12-02.json",
             "small AlexNet": "cpu-alexnet_small-b128-2026-12-02.json"}
    assert len(rows) == 3
    for label, cells in rows.items():
        (name,) = [f for start, f in files.items() if label.startswith(start)]
        other = results(name)
        assert_shows(" ".join(cells[1:]), other["images_per_s"]["minicnn"], other["images_per_s"]["PyTorch"],
                     other["ratio"])
    owt, small = results(files["torchvision's"]), results(files["small AlexNet"])
    shares = sentence(r"they are (\d+)% of minicnn's step on torchvision's AlexNet, which runs at (\S+x)\. On the small "
                      r"network LRN is (\d+)% of PyTorch's step and (\d+)% of minicnn's, and minicnn runs at (\S+x)")
    assert_shows(shares[0], kind_share(owt, "layer_seconds", "Conv2D", models.alexnet_owt()), scale=100)
    assert_shows(shares[1], owt["ratio"])
    assert_shows(" ".join(shares[2:4]), kind_share(small, "torch_layer_seconds", "LRN", models.alexnet_small()),
                 kind_share(small, "layer_seconds", "LRN", models.alexnet_small()), scale=100)
    assert_shows(shares[4], small["ratio"])
    logits = sentence(r"the logits agree to (\S+) and (\S+) of the largest")
    assert_shows(" ".join(logits), owt["logits_difference"], small["logits_difference"])
    before = sentence(r"On 2026-11-30's host, with version 5, the three ran at ([\d.]+x), ([\d.]+x) and ([\d.]+x)")
    assert_shows(" ".join(before), *[results(f.replace("2026-12-02", "2026-11-30"))["ratio"] for f in files.values()])


def test_torchvisions_alexnet_on_version_7_is_its_committed_run():
    """Version 7's run of torchvision's AlexNet: its ratio beside the 2012 AlexNet's of the same
    host, its medians, the logits, the convolutions' sums and conv1's row, with the kernels named."""
    run = results("cpu-alexnet_owt-b64-2026-12-03.json")
    assert "(its SkylakeX kernels, 2 threads)" in run["where"]
    shown = sentence(r"where the 2012 AlexNet's step runs at ([\d.]+x), runs torchvision's at ([\d.]+x): (\d+) ms a "
                     r"step against (\d+) \(`python benchmarks/train_step.py --device cpu --model alexnet_owt "
                     r"--batch-size 64 --layers --repeats 15`; `benchmarks/results/cpu-alexnet_owt-b64-2026-12-03.md`, "
                     r"the logits agree to (\S+) of the largest\)")
    assert_shows(" ".join(shown), results("cpu-alexnet-b32-2026-12-03.json")["ratio"], run["ratio"],
                 median_ms(run, "minicnn"), median_ms(run, "PyTorch"), run["logits_difference"])

    kinds = {name: type(layer).__name__ for name, layer in models.alexnet_owt().named_leaves()}
    names = [name for name, kind in kinds.items() if kind == "Conv2D"]

    def ms(times, layers):   # forward and backward of ``layers``
        return 1e3 * sum(t for key, t in times.items() if key.rsplit(".", 1)[0] in layers)
    mine, theirs = run["layer_seconds"], run["torch_layer_seconds"]
    ratios = layer_ratio(run, *names)
    assert len(names) == 5 and min(ratios) == ratios[0]   # conv1 is features.0, the slowest
    convs = sentence(r"Its five convolutions take (\d+) ms of a step against PyTorch's (\d+), and the widest gap is "
                     r"conv1's, at ([\d.]+x) \((\d+) ms forward and backward against (\d+)\)")
    assert_shows(" ".join(convs), ms(mine, names), ms(theirs, names), ratios[0], ms(mine, names[:1]),
                 ms(theirs, names[:1]))
    forward = sentence(r"PyTorch's whole forward, (\d+) ms within the step")
    assert_shows(forward, 1e3 * theirs[names[0] + ".forward"])


def test_what_one_load_in_flight_costs_is_the_h200_run():
    """Little's law on ReLU's version 1 forward, from its row in the H200's breakdown: one 4-byte
    load a thread, full occupancy (nvcc's report) on the H200's 132 multiprocessors of 2048 threads;
    the bytes it reads (x, half of its arrays' bytes) over its time; the loads' time on their way;
    what the copy bandwidth (the run's table gives it) needs in flight at that latency."""
    run = results("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04-2.json")
    row = next(r for r in run["breakdown"] if (r["layer"], r["kernel"]) == ("relu1 v1", "relu_forward_v1"))
    table = (RESULTS / "gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04-2.md").read_text()
    copy = float(re.search(r"copy bandwidth (\d+) GB/s", table)[1]) * 1e9
    resources = {k["kernel"]: k for k in results("kernel-resources-sm_90-float32-2026-12-06.json")["kernels"]}
    assert resources["relu_forward_v1"]["occupancy"] == 1.0
    multiprocessors, threads = 132, 2048
    in_flight = multiprocessors * threads * 4
    read = row["mbytes"] * 1e6 / 2
    rate = read / (row["ms"] / 1e3)
    latency = in_flight / rate
    needed = latency * copy / 2
    figures = sentence(r"on the H200's (\d+) multiprocessors of (\d+) threads, (\S+) MB in flight\. It read relu1's "
                       r"(\S+) MB in (\S+) ms .*?: (\S+) TB/s, so its loads spent (\d+) ns on their way, on average\. "
                       r"With loads that long, the copy bandwidth that run measured, (\d+) GB/s, half of it reads, "
                       r"needs (\S+) MB in flight: (\S+) loads of 4 bytes a thread at full occupancy, (\S+) at 75%, "
                       r"(\S+) at 50%")
    assert_shows(" ".join(figures), multiprocessors, threads, in_flight / 1e6, read / 1e6, row["ms"], rate / 1e12,
                 latency * 1e9, copy / 1e9, needed / 1e6, needed / in_flight, needed / in_flight / 0.75,
                 needed / in_flight / 0.5)
    version_2 = next(r for r in run["breakdown"] if (r["layer"], r["kernel"]) == ("relu1 v2", "relu_forward_v2"))
    assert_shows(" ".join(sentence(r"stops near the (\d+)% that ReLU's version 1 reached.*?ReLU's version 2, with "
                                   r"four loads a thread, ran at (\d+)%")),
                 row["fraction_of_limit"], version_2["fraction_of_limit"], scale=100)


def test_kernel_resources_paragraph_is_the_committed_report():
    report = results("kernel-resources-sm_90-float32-2026-12-06.json")
    kernels = report["kernels"]
    by_name = {k["kernel"]: k for k in kernels}
    shown = sentence(r"\(`benchmarks/results/kernel-resources-sm_90-float32-2026-12-06.md`, nvcc (\S+), float32\)\. "
                     r"(\d+) of the (\d+) kernels fill it with (\d+) warps")
    assert shown[0] == report["nvcc"]
    assert_shows(" ".join(shown[1:]), sum(k["occupancy"] == 1 for k in kernels), len(kernels), 64)
    larger = sentence(r"of 256 threads \((\d+) for `(\w+)` and `(\w+)`, the most each is launched with\)")
    assert {k["kernel"]: k["threads"] for k in kernels if k["threads"] != 256} == \
        {name: int(larger[0]) for name in larger[1:]}
    for name, words in (("maxpool_backward_v6", "the windows of four pixels"),
                        ("lrn_maxpool_backward_v6", "two channels' windows besides its LRN window"),
                        ("col2im_v6", "the entries of up to 5 x 5 windows"),
                        ("lrn_forward_v4", "holds four channels' loads in flight"),
                        ("lrn_maxpool_backward_v8", "four channels' windows and x with their terms"),
                        ("lrn_backward_v4", "four channels' x and dL/dy with their terms")):
        assert_shows(" ".join(sentence(words + r" \(`" + name + r"`, (\d+): (\d+)%\)")),
                     by_name[name]["registers"], by_name[name]["occupancy"] * 100)
    bias = by_name["nchw_to_gemm_bias_grad_v5"]   # its loads of y unconditional: fewer registers
    assert_shows(sentence(r"its registers fell from 40 to (\d+) \(full occupancy\)"), bias["registers"])
    assert bias["occupancy"] == 1
    output = by_name["winograd_output_v1"]
    assert_shows(sentence(r"takes (\d+) \(`winograd_output_v1`, full occupancy\)"), output["registers"])
    assert output["occupancy"] == 1
    version_2 = [by_name[f"winograd_{kernel}_v2"] for kernel in ("input", "output", "output_grad", "input_grad")]
    figures = sentence(r"version 2's four transforms take (\d+)\s+registers and (\d+) KB of shared memory each, (\d+) "
                       r"blocks a multiprocessor \(full occupancy\)")
    assert {k["registers"] for k in version_2} == {int(figures[0])}
    assert {round(k["shared"] / 1024) for k in version_2} == {int(figures[1])}
    assert {k["blocks_per_sm"] for k in version_2} == {int(figures[2])} and all(k["occupancy"] == 1 for k in version_2)
    backward = by_name["lrn_maxpool_backward_v4"]
    assert_shows(" ".join(sentence(r"the fused layer's version-4 backward, which keeps the same window \((\d+): (\d+)%\)")),
                 backward["registers"], backward["occupancy"] * 100)
    fused = [by_name[f"lrn_maxpool_{p}_v{v}"] for p in ("forward", "backward") for v in (1, 2)]
    numbers = sentence(r"the fused LRN\+max-pool kernels of versions 1 and 2 \((\d+) to (\d+) registers: (\d+)% to "
                       r"(\d+)%; the version-3 forward needs (\d+) and (\d+) KB of shared memory\), the version-3 "
                       r"backwards, which keep their LRN window in registers \(LRN's (\d+): (\d+)%; the fused "
                       r"layer's (\d+): (\d+)%\), the batch-norm input gradient \((\d+): (\d+)%\) and the tiled GEMM "
                       r"\(version 1 (\d+): (\d+)%; version 2 (\d+): (\d+)%, bounded by `__launch_bounds__` to 4 blocks, "
                       r"(\d+) unbounded; version 3 (\d+): (\d+)%, its 64 accumulators a thread; version 4, the "
                       r"same with the conv's NCHW stores, (\d+): (\d+)%; version 5, gathering its columns, (\d+) "
                       r"and (\d+): (\d+)%; version 6, gathering dL/dy, (\d+): (\d+)%, in tiles of 64, (\d+): "
                       r"(\d+)%; version 7, its rows of A read four at a time, (\d+), (\d+), (\d+) and (\d+): "
                       r"(\d+)%, in tiles of 64, (\d+): (\d+)%; version 8, its columns of B too, (\d+), (\d+), "
                       r"(\d+) and (\d+): (\d+)%, in tiles of 64, (\d+): (\d+)%; version 9, copying the next "
                       r"slices while it multiplies, (\d+), (\d+), (\d+) and (\d+): (\d+)%, in tiles of 64, "
                       r"(\d+): (\d+)%, with twice the shared memory, (\d+\.\d) KB\)")
    v3 = by_name["lrn_maxpool_forward_v3"]
    assert_shows(" ".join(numbers[4:6]), v3["registers"], v3["shared"] / 1024)
    assert v3["occupancy"] == 1
    walks = [by_name["lrn_backward_v3"], by_name["lrn_maxpool_backward_v3"]]
    assert_shows(" ".join(numbers[6:10]), *[value for k in walks for value in (k["registers"], k["occupancy"] * 100)])
    numbers = numbers[:4] + numbers[10:]
    assert_shows(" ".join(numbers[:2]), min(k["registers"] for k in fused), max(k["registers"] for k in fused))
    assert_shows(" ".join(numbers[2:4]), min(k["occupancy"] for k in fused), max(k["occupancy"] for k in fused),
                 scale=100)
    tiled = ("gemm_tiled_v1", "gemm_tiled_v2", "gemm_tiled_v3")
    assert numbers[10] == "72"   # version 2 unbounded: ptxas's count, in the kernel's comment
    for (registers, occupancy), name in zip((numbers[4:6], numbers[6:8], numbers[8:10], numbers[11:13], numbers[13:15]),
                                            ("batchnorm_backward_dx", *tiled, "gemm_tiled_nchw_bias_v4")):
        assert_shows(f"{registers} {occupancy}", by_name[name]["registers"], by_name[name]["occupancy"] * 100)
    implicit = [by_name["gemm_tiled_implicit_nchw_bias_v5"], by_name["gemm_tiled_implicit_v5"]]
    assert_shows(" ".join(numbers[15:18]), *(k["registers"] for k in implicit), implicit[0]["occupancy"] * 100)
    assert implicit[0]["occupancy"] == implicit[1]["occupancy"]
    dgrad = [by_name["gemm_tiled_implicit_dgrad_v6"], by_name["gemm_tiled_implicit_dgrad_64_v6"]]
    assert_shows(" ".join(numbers[18:22]), *[value for k in dgrad for value in (k["registers"], k["occupancy"] * 100)])
    quads, quads_64 = [], []
    for version, at in ((7, 22), (8, 29), (9, 36)):   # 4 registers and the occupancy; in tiles of 64, 2
        strips = [by_name[f"gemm_tiled{name}_v{version}"] for name in ("", "_implicit_nchw_bias", "_implicit",
                                                                       "_implicit_dgrad")]
        assert_shows(" ".join(numbers[at:at + 5]), *(k["registers"] for k in strips), strips[0]["occupancy"] * 100)
        assert {k["occupancy"] for k in strips} == {strips[0]["occupancy"]}
        strips_64 = by_name[f"gemm_tiled_implicit_dgrad_64_v{version}"]
        assert_shows(" ".join(numbers[at + 5:at + 7]), strips_64["registers"], strips_64["occupancy"] * 100)
        quads += strips
        quads_64.append(strips_64)
    pipelined = {k["shared"] for k in quads[-4:]}   # version 9's two slices of each operand
    assert pipelined == {2 * quads[-8]["shared"]}
    assert_shows(numbers[43], pipelined.pop() / 1024)
    col2im = by_name["col2im_v5"]
    assert_shows(" ".join(sentence(r"`col2im_v5` is held to (\d+) blocks \((\d+)%\) by its (\d+) KB of shared memory")),
                 col2im["blocks_per_sm"], col2im["occupancy"] * 100, col2im["shared"] / 1024)
    assert col2im["limited_by"] == "shared memory"
    below_full = {k["kernel"] for k in kernels if k["occupancy"] < 1}
    assert below_full == {k["kernel"] for k in fused + walks} | {"batchnorm_backward_dx", *tiled,
                                                                 "gemm_tiled_nchw_bias_v4", "lrn_maxpool_backward_v4",
                                                                 "col2im_v5", "gemm_tiled_implicit_nchw_bias_v5",
                                                                 "maxpool_backward_v6",
                                                                 "lrn_maxpool_backward_v6", "col2im_v6",
                                                                 "lrn_maxpool_backward_v8", "lrn_forward_v4",
                                                                 "lrn_backward_v4",
                                                                 "gemm_tiled_implicit_v5", "gemm_tiled_implicit_dgrad_v6",
                                                                 "gemm_tiled_implicit_dgrad_64_v6",
                                                                 *(k["kernel"] for k in quads + quads_64)}
    assert not any(k["spill_stores"] or k["spill_loads"] for k in kernels)
    local = {k["kernel"]: k["stack"] for k in kernels if k["stack"]}
    assert local == {"lrn_backward_v2": 128, "lrn_maxpool_backward_v1": 128, "lrn_maxpool_backward_v2": 128}
    assert sentence(r"(Three) keep (128) bytes per thread in local memory: the LRN backward's version 2 and "
                    r"versions 1 and 2 of the fused LRN\+max-pool backward")


def test_two_device_table_is_the_committed_runs():
    rows = table_with("| network, batch | single device (BLAS on 2 cores) | split (2 workers, 1 BLAS core each) "
                      "| split / single |", "2012 AlexNet, 32")
    for label, name in (("small AlexNet (width 24), 128", "cpu-two-device-alexnet_small-b128-2026-12-02.json"),
                        ("2012 AlexNet, 32", "cpu-two-device-alexnet-b32-2026-12-02.json")):
        run = results(name)
        assert_shows(" ".join(rows[label][1:]), run["images_per_s"]["single device"],
                     run["images_per_s"]["two-device split"], run["ratio"])


def test_anatomy_of_a_split_step_is_the_committed_run():
    anatomy = results("cpu-two-device-alexnet-b32-2026-12-02.json")["anatomy"]
    figures = sentence(r"Where a split step of the 2012 AlexNet goes \(([\d.]+) s, timed on its own\): (\d+)% with "
                       r"both towers computing in parallel \(tower 0 busy ([\d.]+) s and idle ([\d.]+) s waiting at "
                       r"the crossings, tower 1 busy ([\d.]+) s and idle ([\d.]+) s\), (\d+)% serial")
    total = anatomy["total"]
    assert_shows(" ".join(figures), total, 100 * anatomy["segments"] / total, anatomy["busy"][0], anatomy["idle"][0],
                 anatomy["busy"][1], anatomy["idle"][1], 100 * anatomy["serial"] / total)


DATA_PARALLEL = {"one process": "one process, BLAS on all cores",
                 "after": "2 ranks, 1 BLAS thread each, all-reduce after the backward",
                 "overlapped": "2 ranks, 1 BLAS thread each, all-reduce overlapped",
                 "hybrid": "2 ranks, 1 BLAS thread each, hybrid (FC layers model-parallel)"}


def test_data_parallel_tables_are_the_committed_runs():
    speed = table_with("| network, global batch | one process (BLAS on 2 cores) | 2 ranks, all-reduce after the "
                       "backward | 2 ranks, overlapped | 2 ranks, hybrid (`--hybrid`, below) |", "2012 AlexNet, 32")
    communication = table_with("| network | all-reduce after the backward | overlapped | hybrid: all-reduce of the "
                               "convolutions + activation exchanges |", "2012 AlexNet")
    for label, network, name in (
            ("small AlexNet (width 24), 128", "small AlexNet", "cpu-data-parallel-alexnet_small-b128-2026-12-02.json"),
            ("2012 AlexNet, 32", "2012 AlexNet", "cpu-data-parallel-alexnet-b32-2026-12-02.json")):
        run = results(name)
        step = {key: run["results"][config] for key, config in DATA_PARALLEL.items()}
        per_s = {key: run["global_batch"] / r["step_s"] for key, r in step.items()}
        assert_shows(speed[label][1], per_s["one process"])
        for cell, key in zip(speed[label][2:], ("after", "overlapped", "hybrid")):
            assert_shows(cell, per_s[key], per_s[key] / per_s["one process"])
        after, overlapped, hybrid = communication[network][1:]
        if run["model"] == "alexnet":   # the gradients' volume: 61 M float32 parameters
            volume = sum(v.size for v in models.alexnet().state_dict().values()) * 4 / 2 ** 20
            assert_shows(after, step["after"]["allreduce_s"] * 1000, volume)
        else:
            assert_shows(after, step["after"]["allreduce_s"] * 1000)
        assert_shows(overlapped, step["overlapped"]["allreduce_s"] * 1000)
        assert_shows(hybrid, step["hybrid"]["allreduce_s"] * 1000, step["hybrid"]["exchange_s"] * 1000)
    # the ring all-reduce on paper: the 2012 AlexNet's measured all-reduce scaled by 2 (N-1)/N,
    # against what a rank computes (its step without the all-reduce)
    after = results("cpu-data-parallel-alexnet-b32-2026-12-02.json")["results"][DATA_PARALLEL["after"]]
    compute = after["step_s"] - after["allreduce_s"]
    ring = {n: after["allreduce_s"] * 2 * (n - 1) / n for n in (8, 64)}
    figures = sentence(r"by 2 \(N-1\)/N gives ([\d.]+) s per step for 8 ranks and ([\d.]+) s for 64, (\d+)% and "
                       r"(\d+)% of the ([\d.]+) s a rank computes at batch 16 here")
    assert_shows(" ".join(figures), ring[8], ring[64], 100 * ring[8] / compute, 100 * ring[64] / compute, compute)
    hybrid = results("cpu-data-parallel-alexnet-b32-2026-12-02.json")["results"][DATA_PARALLEL["hybrid"]]
    assert_shows(sentence(r"\(2 ranks of 16 images: 2.4 MB each way\) the exchanges took ([\d.]+) ms per step"),
                 hybrid["exchange_s"] * 1000)


def test_loader_figures_are_the_committed_run():
    run = results("cpu-loader-2026-12-02.json")
    figures = sentence(r"preparation (\d+) images/s, the training loader (\d+) images/s in its first epoch \(which "
                       r"reads the cache in\) and (\d+) in the later ones, the test loader (\d+) images/s")
    train, test = run["loader_images_per_s_by_epoch"].values()
    assert_shows(" ".join(figures), run["prepare_images_per_s"], train[0], statistics.median(train[1:]),
                 statistics.median(test[1:]))


def test_launch_checks_figures_are_the_committed_runs():
    """The checks' cost now (the -2 run) and in the commit before, on the same host."""
    def checks(name):
        rows = {r["kernel"]: r["checks_us"] for r in results(name)["rows"]}
        return rows["relu_forward_v2"], rows["dropout_forward"], rows["maxpool_forward_v2"]
    figures = sentence(r"([\d.]+) us of Python a launch of ReLU's kernel \(2 arrays, 1 number\), ([\d.]+) us of "
                       r"dropout's \(2 arrays, 8 numbers\) and ([\d.]+) us of max-pool's")
    assert_shows(" ".join(figures), *checks("cpu-launch-overhead-2026-12-04-2.json"))
    before = sentence(r"cpu-launch-overhead-2026-12-04.md`\), took ([\d.]+), ([\d.]+) and ([\d.]+) us")
    assert_shows(" ".join(before), *checks("cpu-launch-overhead-2026-12-04.json"))


def kernel_table_shows(run, first_column):
    """The README's table of layers against cuDNN whose first column is ``first_column`` has every
    forward+backward row of ``run`` (a benchmarks/kernels.py results file), each figure as the
    README rounds it, and no other; returns those rows by layer."""
    rows = table_with(f"| {first_column} | minicnn (ms) | reference | reference (ms) | minicnn speed / reference "
                      "| fraction of the limit |", "conv1")
    measured = {r["layer"]: r for r in run["rows"] if r["pass_"] == "forward+backward"}
    assert list(rows) == list(measured)
    for layer, r in measured.items():
        _, mine, reference, theirs, ratio, fraction = rows[layer]
        assert reference == r["reference"]
        assert_shows(" ".join((mine, theirs, ratio)), r["minicnn_ms"], r["reference_ms"], r["ratio"])
        assert_shows(fraction, r["fraction_of_limit"], scale=100)
    return measured


def test_gpu_kernel_table_is_the_committed_h100_run():
    """Every forward+backward row of the run, each figure as the README rounds it, and no other."""
    run = results("gpu-kernels-NVIDIA_H100_80GB_HBM3-b128-2026-11-22.json")
    measured = kernel_table_shows(run, "layer")
    ratio = {layer: r["ratio"] for layer, r in measured.items()}

    def extremes(*layers):
        return min(ratio[layer] for layer in layers), max(ratio[layer] for layer in layers)

    fully_connected = sentence(r"the fully connected layers are faster than PyTorch's calls of cuBLAS \(([\d.]+)x to "
                               r"([\d.]+)x, same library")
    assert_shows(" ".join(fully_connected), *extremes("fc6", "fc7", "fc8"))
    figures = sentence(r"the convolutions run at ([\d.]+)x to ([\d.]+)x\s+of cuDNN .*?, pooling at ([\d.]+)x to "
                       r"([\d.]+)x, LRN at ([\d.]+)x to ([\d.]+)x, .*?\(lrn2\+pool2 ([\d.]+)x\)")
    assert_shows(" ".join(figures), *extremes(*[layer for layer in ratio if layer.startswith("conv")]),
                 *extremes("pool1", "pool2"), *extremes("lrn1", "lrn2"), ratio["lrn2+pool2"])


def test_gpu_kernel_table_is_the_committed_h200_run():
    """Every forward+backward row of the H200's run, each figure as the README rounds it, and what
    the README says of them."""
    run = results("gpu-kernels-NVIDIA_H200-b128-2026-12-04.json")
    assert (run["gemm"], run["tf32"], run["date"]) == ("cublas", False, "2026-12-04")
    assert run["layer_runs"]["done"] == run["layer_runs"]["planned"]   # the whole run
    measured = kernel_table_shows(run, "layer (H200)")
    ratio = {layer: r["ratio"] for layer, r in measured.items()}
    ms = {layer: r["minicnn_ms"] for layer, r in measured.items()}
    versions = results("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04.json")
    col2im = {r["kernel"]: r["ms"] for r in versions["breakdown"] if r["layer"] == "conv1 v5"}["col2im_v5"]
    conv1_v2 = {r["layer"]: r for r in versions["rows"] if r["pass_"] == "forward+backward"}["conv1 v2"]
    figures = sentence(r"conv4 and conv5 are faster than\s+cuDNN's convolutions \((\S+)x and (\S+)x\), conv2 and "
                       r"conv3 slower \((\S+)x and (\S+)x\), conv1 at (\S+)x:\s+its col2im in version 5 took (\S+) "
                       r"ms of the (\S+) \(above\); with version 2, the default now, conv1\s+took (\S+) ms in the same "
                       r"day's versions run \((\S+)x\)")
    assert_shows(" ".join(figures), ratio["conv4"], ratio["conv5"], ratio["conv2"], ratio["conv3"], ratio["conv1"],
                 col2im, ms["conv1"], conv1_v2["minicnn_ms"], conv1_v2["ratio"])
    figures = sentence(r"LRN is faster than cuDNN's \((\S+)x to (\S+)x\),\s+and so are max-pool \((\S+)x to "
                       r"(\S+)x\), ReLU \((\S+)x\) and dropout \((\S+)x,")
    assert_shows(" ".join(figures), ratio["lrn1"], ratio["lrn2"], min(ratio[p] for p in ("pool1", "pool2", "pool5")),
                 max(ratio[p] for p in ("pool1", "pool2", "pool5")), ratio["relu1"], ratio["dropout6"])
    figures = sentence(r"fc6 and fc7 are faster than PyTorch's calls of the same cuBLAS \((\S+)x and\s+(\S+)x\), fc8 "
                       r"slower \((\S+)x\)\. The fused LRN\+max-pool, at (\S+)x and (\S+)x of cuDNN's two kernels, is\s+"
                       r"slower than minicnn's own LRN and max-pool apart \(lrn1\+pool1 (\S+) ms against (\S+) \+ "
                       r"([\d.]+)\)")
    assert_shows(" ".join(figures), ratio["fc6"], ratio["fc7"], ratio["fc8"], ratio["lrn1+pool1"], ratio["lrn2+pool2"],
                 ms["lrn1+pool1"], ms["lrn1"], ms["pool1"])
    assert ms["lrn1+pool1"] > ms["lrn1"] + ms["pool1"] and ms["lrn2+pool2"] > ms["lrn2"] + ms["pool2"]


def test_the_small_layers_host_floor_is_read_from_the_h200_run():
    """What the README says of the 2026-12-04 run's backwards (its forward+backward less its
    forward), each figure from the run, and of the flush ahead of each call: 256 MiB at the run's
    copy bandwidth (the table's heading gives it)."""
    run = results("gpu-kernels-NVIDIA_H200-b128-2026-12-04.json")
    rows = {(r["layer"], r["pass_"]): r for r in run["rows"]}

    def backward(layer, side):
        return rows[(layer, "forward+backward")][side] - rows[(layer, "forward")][side]
    (copy_bandwidth,) = re.findall(r"On one NVIDIA H200 \(measured copy bandwidth (\d+) GB/s", README)
    elements = {"lrn1": 96 * 55 * 55, "lrn2": 256 * 27 * 27, "pool5": 256 * 13 * 13}   # a sample's input
    figures = sentence(r"of each timed call \((\d+) MB, some (\d+) us at the run's copy bandwidth\)")
    assert_shows(" ".join(figures), 2 ** 28 / 1e6, 2 ** 28 / (float(copy_bandwidth) * 1e9) * 1e6)
    figures = sentence(r"leaves cuDNN's LRN (\S+) ms on lrn1 and (\S+) on lrn2, whose arrays are (\S+) times "
                       r"lrn1's \(minicnn's: (\S+) and (\S+) ms\), cuDNN's max-pool (\S+), (\S+) and (\S+) ms on "
                       r"pool1, pool2 and pool5 \(whose input is (\S+) times pool1's\), and PyTorch's dropout (\S+) "
                       r"ms for (\d+) MiB each way \(minicnn's ([\d.]+)\)")
    assert_shows(" ".join(figures), backward("lrn1", "reference_ms"), backward("lrn2", "reference_ms"),
                 elements["lrn2"] / elements["lrn1"], backward("lrn1", "minicnn_ms"), backward("lrn2", "minicnn_ms"),
                 *[backward(p, "reference_ms") for p in ("pool1", "pool2", "pool5")],
                 elements["pool5"] / elements["lrn1"], backward("dropout6", "reference_ms"), 128 * 4096 * 4 / 2 ** 20,
                 backward("dropout6", "minicnn_ms"))
    pool1_input = 128 * elements["lrn1"] * 4   # bytes: an add of a gradient into another reads two, writes one
    figures = sentence(r"a pass over dL/dx more, (\d+) MB on pool1 and on lrn1, some (\S+) ms at the copy bandwidth")
    assert_shows(" ".join(figures), 3 * pool1_input / 1e6, 3 * pool1_input / (float(copy_bandwidth) * 1e9) * 1e3)
    figures = sentence(r"and so may fc8's \(minicnn's backward (\S+) ms against its forward's ([\d.]+)\)")
    assert_shows(" ".join(figures), backward("fc8", "minicnn_ms"), rows[("fc8", "forward")]["minicnn_ms"])
    # the claim: the references' backwards do not follow the data
    assert backward("lrn2", "reference_ms") > backward("lrn1", "reference_ms")
    assert backward("lrn2", "minicnn_ms") < backward("lrn1", "minicnn_ms")


def family_of(layer):
    """The kernel family a versions run's layer row times."""
    if layer.startswith("conv"):
        return "im2col"
    return "lrn_maxpool" if "+pool" in layer else re.match(r"[a-z]+", layer)[0].replace("pool", "maxpool")


def assert_version_sums_table(first_label, run, families):
    """The README's versions table whose first row is ``first_label``: for each version of
    ``families``, the layers it ran on and its forward+backward summed over them, minicnn's and the
    reference's, and their ratio, as ``run`` (a kernels.py --versions run) measured them."""
    rows = table_with("| version | layers | minicnn (ms, summed) | reference (ms, summed) | minicnn speed / reference |",
                      first_label)
    sums = {}
    for r in run["rows"]:
        layer, version = r["layer"].rsplit(" v", 1)
        if r["pass_"] == "forward+backward" and family_of(layer) in families:
            total = sums.setdefault(f"{family_of(layer)} v{version}", [0, 0.0, 0.0])
            total[0], total[1], total[2] = total[0] + 1, total[1] + r["minicnn_ms"], total[2] + r["reference_ms"]
    assert list(rows) == sorted(sums, key=lambda label: families.index(label.split(" v")[0]))
    for label, (layers, mine, theirs) in sums.items():
        family, version = label.split(" v")
        assert mine == pytest.approx(run["versions_summary"][family]["versions"][version])
        assert_shows(" ".join(rows[label][1:]), layers, mine, theirs, theirs / mine)


def test_gpu_versions_chart_reading_is_the_committed_h200_run():
    """What the README reads off the chart of the second versions run: each figure is the run's."""
    run = results("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04-2.json")
    both = {r["layer"]: r for r in run["rows"] if r["pass_"] == "forward+backward"}
    figures = sentence(r"lrn2 from (\S+)x to (\S+)x of cuDNN's speed and from (\d+)% to (\d+)% of the copy bandwidth")
    assert_shows(" ".join(figures[:2]), both["lrn2 v1"]["ratio"], both["lrn2 v3"]["ratio"])
    assert_shows(" ".join(figures[2:]), both["lrn2 v1"]["fraction_of_limit"], both["lrn2 v3"]["fraction_of_limit"],
                 scale=100)

    def fastest(layer):
        return max((r for label, r in both.items() if label.split()[0] == layer), key=lambda r: r["ratio"])
    figures = sentence(r"\(pool1 is fastest in version (\d), at (\S+)x, pool5 in version (\d), at ([\d.]+)x;")
    assert_shows(" ".join(figures), int(fastest("pool1")["layer"][-1]), fastest("pool1")["ratio"],
                 int(fastest("pool5")["layer"][-1]), fastest("pool5")["ratio"])
    pools = [r["fraction_of_limit"] for label, r in both.items() if label.split()[0] in ("pool1", "pool2", "pool5")]
    fused = [r["fraction_of_limit"] for label, r in both.items() if "+pool" in label]
    assert len(pools) == 15 and len(fused) == 10
    assert_shows(sentence(r"none reaches a third of the bandwidth \((\d+)% at best\)"), max(pools), scale=100)
    assert max(pools) < 1 / 3
    assert_shows(sentence(r"The fused LRN\+max-pool stays at (\d+)% or below"), max(fused), scale=100)
    assert max(fused) <= 0.16
    relu = both["relu1 v2"]["fraction_of_limit"]
    assert_shows(" ".join(sentence(r"ReLU's version 2 alone exceeds 70%: (\d+)% by the count of that day.*?"
                                   r"forward and backward, it ran at (\d+)%")), relu, relu * 5 / 6, scale=100)


def test_gpu_second_versions_run_is_the_committed_h200_run():
    """The second lease's versions run: the whole run, its table of LRN's, the fused LRN+max-pool's
    and ReLU's versions, im2col's and max-pool's sums, the kernels it names, the defaults it led to;
    and Winograd's kernels on conv3-5 against that run's im2col."""
    run = results("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04-2.json")
    assert run["layer_runs"]["done"] == run["layer_runs"]["planned"] == 68
    assert_shows(sentence(r"A second run, on a second lease the same day, reached all (\d+) layer runs"), 68)
    assert_version_sums_table("lrn v1", run, ("lrn", "lrn_maxpool", "relu"))
    summary = run["versions_summary"]
    from minicnn.kernel_versions import DEFAULTS
    assert all(DEFAULTS[family] == summary[family]["fastest"] for family in summary)   # the fastest measured
    assert (DEFAULTS["lrn_maxpool"], summary["lrn_maxpool"]["current"]) == (3, 5)   # what the run launched
    figures = sentence(r"version 2 the fastest again \((\S+) ms summed against version 5's (\S+); (\S+) against "
                       r"([\d.]+)\)")
    assert_shows(" ".join(figures), *(summary[f]["versions"][v] for f in ("im2col", "maxpool") for v in ("2", "5")))
    kernel = {(r["layer"], r["kernel"]): r["ms"] for r in run["breakdown"]}
    figures = sentence(r"took (\S+) ms on lrn1\+pool1 where version 4's took (\S+) and version 5's, written against "
                       r"bank conflicts as max-pool's was, (\S+)\.")
    assert_shows(" ".join(figures), *(kernel[(f"lrn1+pool1 v{v}", f"lrn_maxpool_forward_v{v}")] for v in (3, 4, 5)))
    backward = lambda layer, v: kernel[(f"{layer} v{v}", f"lrn_maxpool_backward_v{v}")]
    figures = sentence(r"took (\S+) ms on lrn1\+pool1 against version 3's (\S+), and (\S+) against (\S+) on "
                       r"lrn2\+pool2, so a version with version 3's forward and version 4's backward would save "
                       r"about (\S+) ms")
    assert_shows(" ".join(figures), backward("lrn1+pool1", 4), backward("lrn1+pool1", 3), backward("lrn2+pool2", 4),
                 backward("lrn2+pool2", 3), sum(backward(layer, 3) - backward(layer, 4)
                                                for layer in ("lrn1+pool1", "lrn2+pool2")))
    both = {r["layer"]: r for r in run["rows"] if r["pass_"] == "forward+backward"}
    figures = sentence(r"version 3, the default now, took (\S+) and (\S+) ms in the second versions run "
                       r"\((\S+)x and (\S+)x; above\), lrn1\+pool1 then about as fast as lrn1 and pool1 apart "
                       r"\((\S+) \+ ([\d.]+)\)")
    assert_shows(" ".join(figures), both["lrn1+pool1 v3"]["minicnn_ms"], both["lrn2+pool2 v3"]["minicnn_ms"],
                 both["lrn1+pool1 v3"]["ratio"], both["lrn2+pool2 v3"]["ratio"], both["lrn1 v3"]["minicnn_ms"],
                 both["pool1 v2"]["minicnn_ms"])
    winograd = {r["layer"]: r for r in results("gpu-kernels-NVIDIA_H200-b128-winograd-2026-12-04.json")["rows"]
                if r["pass_"] == "forward+backward"}
    figures = sentence(r"took (\S+) ms on conv3 \((\S+)x\), against im2col's (\S+) in that lease's versions run, but "
                       r"(\S+) and (\S+) on conv4 and conv5 \((\S+)x and (\S+)x\)")
    assert_shows(" ".join(figures), winograd["conv3"]["minicnn_ms"], winograd["conv3"]["ratio"],
                 both["conv3 v2"]["minicnn_ms"], winograd["conv4"]["minicnn_ms"], winograd["conv5"]["minicnn_ms"],
                 winograd["conv4"]["ratio"], winograd["conv5"]["ratio"])
    assert winograd["conv3"]["minicnn_ms"] < both["conv3 v2"]["minicnn_ms"]   # why "auto" takes it for conv3
    assert winograd["conv4"]["minicnn_ms"] > both["conv4 v2"]["minicnn_ms"]
    assert winograd["conv5"]["minicnn_ms"] > both["conv5 v2"]["minicnn_ms"]


def test_pairing_max_pool_s_fastest_forward_and_backward_is_what_the_versions_summary_says():
    """What version 2's forward with version 4's backward would have taken over the three pools, in
    the two H200 versions runs: the sums of the benchmark's own versions_summary, which reports the
    pairing because no version launches those two kernels together."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("kernels_benchmark", ROOT / "benchmarks" / "kernels.py")
    kernels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernels)
    figures = []
    for name in ("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04.json",
                 "gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04-2.json"):
        run = results(name)
        _, summary = kernels.versions_summary(run["rows"], kernels.versions_run_of(run))
        paired = summary["maxpool"]["paired"]
        assert (paired["forward"], paired["backward"], summary["maxpool"]["fastest"]) == (2, 4, 2)
        figures += [paired["ms"], summary["maxpool"]["versions"][2]]
    shown = sentence(r"would have taken (\S+) ms over the three pools against version 2's (\S+) \(in the second run "
                     r"below, (\S+) against ([\d.]+)\)")
    assert_shows(" ".join(shown), *figures)


def test_gpu_versions_figures_are_the_committed_h200_run():
    """The versions table: each version's forward+backward summed over the layers the run reached,
    minicnn's and the reference's; the kernels the breakdown names; and the defaults it led to."""
    run = results("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04.json")
    assert run["layer_runs"]["done"] == 50 and run["layer_runs"]["planned"] == 68
    assert_shows(sentence(r"before the machine's time ran out \((\d+ of its \d+) layer runs\)"), 50, 68)
    assert_version_sums_table("im2col v1", run, ("im2col", "maxpool"))
    from minicnn import kernel_versions
    for family in ("im2col", "maxpool"):   # the layers launch the fastest measured
        assert kernel_versions.DEFAULTS[family] == run["versions_summary"][family]["fastest"] == 2
    kernel = {(r["layer"], r["kernel"]): r["ms"] for r in run["breakdown"]}
    share = {(r["layer"], r["kernel"]): r["share"] for r in run["breakdown"]}[("conv1 v5", "col2im_v5")]
    assert sentence(r"the breakdown found col2im's version 5 taking (half) of conv1's backward") == "half"
    assert 0.45 < share < 0.55
    figures = sentence(r"on conv1, col2im's version 5 took (\S+) ms against version 2's (\S+)\s+and version 3's "
                       r"(\S+), and im2col's version 5 (\S+) ms against version 2's (\S+); max-pool's\s+forward on pool1 "
                       r"took (\S+) ms in version 5, (\S+) in version 3 and (\S+) in version 2\. The one\s+rewrite that "
                       r"paid was max-pool's version 4 backward \(pool1 (\S+) ms against version 2's (\S+)\),\s+though "
                       r"not on pool5 \((\S+) against ([\d.]+)\)")
    assert_shows(" ".join(figures), kernel[("conv1 v5", "col2im_v5")], kernel[("conv1 v2", "col2im_v2")],
                 kernel[("conv1 v3", "col2im_v3")], kernel[("conv1 v5", "im2col_v5")], kernel[("conv1 v2", "im2col_v2")],
                 kernel[("pool1 v5", "maxpool_forward_v5")], kernel[("pool1 v3", "maxpool_forward_v3")],
                 kernel[("pool1 v2", "maxpool_forward_v2")], kernel[("pool1 v4", "maxpool_backward_v4")],
                 kernel[("pool1 v2", "maxpool_backward_v2")], kernel[("pool5 v4", "maxpool_backward_v4")],
                 kernel[("pool5 v2", "maxpool_backward_v2")])
    second = {(r["layer"], r["kernel"]): r["ms"]
              for r in results("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04-2.json")["breakdown"]}
    assert_shows(" ".join(sentence(r"\(conv2 (\S+) ms against (\S+) in the second run, below\)")),
                 second[("conv2 v2", "col2im_v2")], second[("conv2 v3", "col2im_v3")])
    fraction = {r["layer"]: r["fraction_of_limit"]
                for r in results("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04-2.json")["breakdown"]
                if r["kernel"] == "gemm_to_nchw_bias_v2"}
    layouts = [fraction[f"conv{i} v2"] for i in (3, 4, 5)]
    pooling = {r["layer"]: r["fraction_of_limit"]
               for r in results("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04-2.json")["breakdown"]
               if r["kernel"] == "maxpool_forward_v2"}
    assert_shows(" ".join(sentence(r"of run-time bounds, make six \((\d+)% of the copy bandwidth on pool1 on the H200, "
                                   r"(\d+)% on pool5\)")), pooling["pool1 v2"] * 100, pooling["pool5 v2"] * 100)
    assert_shows(" ".join(sentence(r"moved conv1's output in (\S+) ms, (\d+)% of the copy bandwidth, and conv3's to "
                                   r"conv5's at (\d+)% to (\d+)%")),
                 second[("conv1 v2", "gemm_to_nchw_bias_v2")], fraction["conv1 v2"] * 100, min(layouts) * 100,
                 max(layouts) * 100)


def test_tf32_and_tiled_gemm_figures_are_the_committed_h100_runs():
    def both_passes(name):
        return {r["layer"]: r["ratio"] for r in results(name)["rows"] if r["pass_"] == "forward+backward"}

    tf32 = both_passes("gpu-kernels-NVIDIA_H100_80GB_HBM3-b128-tf32-2026-11-22.json")
    convolutions = [ratio for layer, ratio in tf32.items() if layer.startswith("conv")]
    figures = sentence(r"cuDNN's convolutions run ([\d.]+)x to ([\d.]+)x faster than minicnn's \(([\d.]+)x to "
                       r"([\d.]+)x\)")
    assert_shows(" ".join(figures), 1 / max(convolutions), 1 / min(convolutions), min(convolutions), max(convolutions))
    assert_shows(sentence(r"as cuBLAS's did; fc6 ([\d.]+x)\)"), tf32["fc6"])
    tiled = both_passes("gpu-kernels-NVIDIA_H100_80GB_HBM3-b128-tiled-2026-11-22.json")
    assert_shows(sentence(r"shared-memory GEMM at ([\d.]+x) of cuBLAS on fc8"), tiled["fc8"])


def test_tiled_gemm_version_2_figures_are_what_the_simulator_counts():
    """The traffic of the tiled GEMM's versions 1 and 2 on a weight gradient's shape, counted
    again (the same product as tests/test_gemm.py's), and the split of conv1's weight gradient."""
    from minicnn import kernel_versions
    from minicnn.gemm import matmul, split_k, use_gemm
    from minicnn.simulator import traffic
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((64, 1024)).astype(np.float32), rng.standard_normal((64, 1024)).astype(np.float32)
    counted = {}
    for version in (1, 2):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version), traffic.recording() as log:
            matmul(a, b, trans_b=True)
        counted[version] = log[0]
    v1, v2 = counted[1], counted[2]
    b1, b2 = v1.array("B").loads, v2.array("B").loads
    c1, c2 = v1.array("C").stores, v2.array("C").stores
    figures = sentence(r"B's loads from ([\d.]+) sectors per request \(([\d.]+)% of their bytes used\) to ([\d.]+) "
                       r"\(([\d.]+)%\), C's stores from ([\d.]+) \(([\d.]+)%\) to ([\d.]+) \(([\d.]+)%\), the tiles' "
                       r"stores into shared memory from ([\d.]+) passes on average \(A's ([\d.]+)\) to ([\d.]+) and the "
                       r"reads from ([\d.]+) to ([\d.]+)")
    assert_shows(" ".join(figures), b1.sectors_per_request, 100 * b1.efficiency, b2.sectors_per_request,
                 100 * b2.efficiency, c1.sectors_per_request, 100 * c1.efficiency, c2.sectors_per_request,
                 100 * c2.efficiency, v1.shared_stores.conflict, 2 * v1.shared_stores.conflict - 1,
                 v2.shared_stores.conflict, v1.shared_loads.conflict, v2.shared_loads.conflict)
    splits, k_split = split_k(12, 128 * 55 * 55, 8 * 132)   # conv1 at batch 128 on the H100's 132 multiprocessors
    assert_shows(" ".join(sentence(r"conv1's weight gradient in ([\d.]+) splits of ([\d,]+), ([\d,]+) blocks;"))
                 .replace(",", ""), splits, k_split, 12 * splits)


def test_tiled_gemm_versions_4_and_5_figures_are_what_the_simulator_counts():
    """conv1's forward at batch 1 under the simulator (about a minute): the bytes that im2col, the
    GEMM and the layout kernel move with the tiled GEMM's version 3, im2col and version 4's GEMM
    (its own NCHW stores), and version 5's GEMM alone (its columns gathered from x)."""
    from minicnn import kernel_versions
    from minicnn.gemm import use_gemm
    from minicnn.layers.conv import conv_forward_cuda
    from minicnn.simulator import traffic
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 227, 227)).astype(np.float32)
    w = (0.01 * rng.standard_normal((96, 3, 11, 11))).astype(np.float32)
    b = rng.standard_normal(96).astype(np.float32)
    moved, gathered = {}, None
    for version in (3, 4, 5):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version), traffic.recording() as log:
            conv_forward_cuda(x, w, b, (4, 4), (0, 0), 1, relu=True)
        moved[version] = sum(t.loads.moved_bytes + t.stores.moved_bytes for t in log) / 1e6
        gathered = log[0].array("x").loads if version == 5 else None
    figures = sentence(r"conv1's forward at batch 1 \(im2col, the GEMM and the layout kernel; float32\): ([\d.]+) MB "
                       r"moved with version 3, ([\d.]+) MB with version 4")
    assert_shows(" ".join(figures), moved[3], moved[4])
    figures = sentence(r"In the same count version 5 moves ([\d.]+) MB for conv1's forward at batch 1 \(its loads "
                       r"of x ([\d.]+) MB, of which ([\d.]+)% used\)")
    assert_shows(" ".join(figures), moved[5], gathered.moved_bytes / 1e6, 100 * gathered.efficiency)


def test_tiled_gemm_version_6_figures_are_what_the_simulator_counts():
    """A small conv's backward (16 to 32 channels, 3x3, 16x16, batch 2) under the simulator with
    the tiled GEMM's versions 5 and 6: the distinct sectors its launches touch and the sectors
    their requests move."""
    from minicnn import kernel_versions
    from minicnn.gemm import use_gemm
    from minicnn.layers.conv import conv_backward_cuda, conv_forward_cuda
    from minicnn.simulator import traffic
    from fake_data import small_conv
    x, w, b, dout = small_conv()
    touched, moved = {}, {}
    for version in (5, 6):
        with use_gemm("tiled"), kernel_versions.use("gemm_tiled", version):
            cache = conv_forward_cuda(x, w, b, (1, 1), (1, 1), 1, True)[1]
            with traffic.recording() as log:
                conv_backward_cuda(dout, cache)
        touched[version] = sum(t.loads.touched_bytes + t.stores.touched_bytes for t in log) / 1e3
        moved[version] = sum(t.loads.moved_bytes + t.stores.moved_bytes for t in log) / 1e3
    figures = sentence(r"the distinct sectors the launches touch \(DRAM's traffic where L2 keeps what a launch "
                       r"reuses\) drop from ([\d.]+) kB with version 5 to ([\d.]+) kB with version 6, and the "
                       r"sectors their requests move \(what L1 passes on where it hits nothing\) only from ([\d.]+) "
                       r"kB to ([\d.]+) kB")
    assert_shows(" ".join(figures), touched[5], touched[6], moved[5], moved[6])


def test_gpu_training_step_figures_are_the_committed_h100_runs():
    fused = results("gpu-NVIDIA_H100_80GB_HBM3-alexnet-b128-2026-11-22.json")
    unfused = results("gpu-NVIDIA_H100_80GB_HBM3-unfused-alexnet-b128-2026-11-22.json")
    rows = table_with("| framework | median step (ms) | images/s |", "minicnn (fused)")
    for label, name in (("minicnn (fused)", "minicnn"), ("PyTorch 2.11 eager (cuDNN)", "PyTorch")):
        assert_shows(" ".join(rows[label][1:]), median_ms(fused, name), fused["images_per_s"][name])
    figures = sentence(r"minicnn / PyTorch: (\S+) fused, (\S+) unfused \((\S+) ms\)")
    assert_shows(" ".join(figures), fused["ratio"], unfused["ratio"], median_ms(unfused, "minicnn"))


def test_the_tiled_gemm_s_h200_figures_and_the_gpu_gradient_checks_are_their_committed_runs():
    tiled = results("gpu-kernels-NVIDIA_H200-b128-tiled-versions-2026-12-04.json")
    conv1 = {r["layer"]: r for r in tiled["rows"] if r["pass_"] == "forward+backward"}
    assert list(conv1) == [f"conv1 v{v}" for v in range(1, 6)] and tiled["gemm"] == "tiled"
    figures = sentence(r"conv1's forward\+backward took (\S+) ms with version 1, (\S+)\s+with version 2, (\S+) with "
                       r"version 3, (\S+) with version 4 and (\S+) with version 5, against\s+cuDNN's (\S+) "
                       r"\((\S+)x at best\)")
    assert_shows(" ".join(figures), *(r["minicnn_ms"] for r in conv1.values()),
                 statistics.median(r["reference_ms"] for r in conv1.values()), max(r["ratio"] for r in conv1.values()))
    checks = RESULTS / "gpu-gradcheck-NVIDIA_H200-2026-12-04.txt"
    count, largest = re.search(r"^passed on cuda: (\d+) checks, the largest relative error (\S+) ",
                               checks.read_text(), flags=re.M).groups()
    assert sentence(r"the gradient checks on the kernels \(all (\d+) pass, largest relative error (\S+):") == (
        count, largest)


def test_the_third_h200_lease_s_figures_are_its_committed_runs():
    """The tiled GEMM's versions 6 to 9 (the first try's conv1, the whole run's sums), the conv bias
    gradient's versions, the host's time per launch, Nsight Compute against the simulator and the
    gradient checks, as the third lease's results files hold them."""
    first = results("gpu-kernels-NVIDIA_H200-b128-tiled-versions6-7-8-9-2026-12-04.json")
    run = results("gpu-kernels-NVIDIA_H200-b128-tiled-versions6-7-8-9-2026-12-04-2.json")
    assert run["layer_runs"]["done"] == run["layer_runs"]["planned"] == 32 and run["gemm"] == "tiled"
    both = {r["layer"]: r for r in run["rows"] if r["pass_"] == "forward+backward"}
    (slow,) = [r for r in first["rows"] if r["layer"] == "conv1 v6" and r["pass_"] == "forward+backward"]
    assert_shows(sentence(r"found version 6's input gradient at its worst on conv1: (\S+) ms forward and backward"),
                 slow["minicnn_ms"])
    assert_shows(sentence(r"and conv1 took (\S+) ms by version 6\."), both["conv1 v6"]["minicnn_ms"])
    rows = table_with("| tiled GEMM (H200) | layers | minicnn (ms, summed) | cuDNN and cuBLAS (ms, summed) | "
                      "minicnn speed / reference |", "version 9")
    summary = run["versions_summary"]["gemm_tiled"]
    assert list(rows) == [f"version {v}" for v in (6, 7, 8, 9)] and summary["fastest"] == 9
    for v in (6, 7, 8, 9):
        layers = [r for name, r in both.items() if name.endswith(f" v{v}")]
        mine, theirs = sum(r["minicnn_ms"] for r in layers), sum(r["reference_ms"] for r in layers)
        assert mine == pytest.approx(summary["versions"][str(v)])
        assert_shows(" ".join(rows[f"version {v}"][1:]), len(layers), mine, theirs, theirs / mine)
    slower = [(name, v) for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
              for v in (7, 8, 9) if both[f"{name} v{v}"]["minicnn_ms"] > both[f"{name} v{v - 1}"]["minicnn_ms"]]
    assert slower == [("conv3", 7)]   # "faster than the one before on every layer but conv3"
    assert_shows(" ".join(sentence(r"where version 7 took (\S+) ms against version 6's (\S+)\.")),
                 both["conv3 v7"]["minicnn_ms"], both["conv3 v6"]["minicnn_ms"])
    figures = sentence(r"did the most: (\d+)% less time than version 8, conv3 at (\S+)x cuDNN and fc6 and fc7 at "
                       r"(\S+)x and (\S+)x cuBLAS, while conv2 and conv4 \((\S+)x, (\S+)x\)")
    assert_shows(" ".join(figures), 100 * (1 - summary["versions"]["9"] / summary["versions"]["8"]),
                 *(both[f"{name} v9"]["ratio"] for name in ("conv3", "fc6", "fc7", "conv2", "conv4")))
    # the conv bias gradient's versions: its kernels' times from the breakdown, and the passes'
    bias = results("gpu-kernels-NVIDIA_H200-b128-versions-bias-2026-12-04.json")
    kernels = {}
    for r in bias["breakdown"]:
        if r["pass_"] == "backward" and r["kernel"].startswith(("nchw_to_gemm", "bias_grad")):
            layer, version = r["layer"].split(" v")
            kernels.setdefault(version, {}).setdefault(layer, 0.0)
            kernels[version][layer] += r["ms"]
    figures = sentence(r"summed over the five layers from the run's breakdown, (\S+) ms in version 1, (\S+) in "
                       r"version 2, (\S+) in version 3 and (\S+) in version 4, the default")
    assert_shows(" ".join(figures), *(sum(kernels[v].values()) for v in "1234"))
    from minicnn.kernel_versions import DEFAULTS
    assert DEFAULTS["bias"] == 4 and all(kernels["4"][layer] <= kernels["3"][layer] for layer in kernels["4"])
    sums = bias["versions_summary"]["bias"]["versions"]
    assert_shows(" ".join(sentence(r"version 3's forward and backward took (\S+) ms and version 4's (\S+),")),
                 sums["3"], sums["4"])
    assert_shows(" ".join(sentence(r"faster on conv4 and conv5 \((\S+) and (\S+) ms against version 4's (\S+) and "
                                   r"(\S+)\)")),
                 kernels["2"]["conv4"], kernels["2"]["conv5"], kernels["4"]["conv4"], kernels["4"]["conv5"])
    # the host's time per launch
    launches = {r["kernel"]: r for r in results("gpu-launch-overhead-NVIDIA_H200-2026-12-04.json")["rows"]}
    relu, dropout, pool = (launches[k] for k in ("relu_forward_v2", "dropout_forward", "maxpool_forward_v2"))
    figures = sentence(r"a launch of ReLU's kernel took (\S+) us of the host against (\S+) us for CuPy's bare call and "
                       r"(\S+) us for PyTorch's `clamp_min` \(minicnn (\S+)x PyTorch\), of which the checks were "
                       r"(\S+) us; dropout's (\S+) us against (\S+), max-pool's (\S+) against (\S+): a launch took "
                       r"(\S+)x to (\S+)x the bare call, its checks and (\S+) to (\S+) us more")
    beyond = [r["minicnn_us"] - r["CuPy_us"] - r["checks_us"] for r in (relu, dropout, pool)]
    ratios = [r["minicnn_us"] / r["CuPy_us"] for r in (relu, dropout, pool)]
    assert_shows(" ".join(figures), relu["minicnn_us"], relu["CuPy_us"], relu["PyTorch_us"], relu["PyTorch_us"] / relu["minicnn_us"],
                 relu["checks_us"], dropout["minicnn_us"], dropout["CuPy_us"], pool["minicnn_us"], pool["CuPy_us"],
                 min(ratios), max(ratios), min(beyond), max(beyond))
    # Nsight Compute against the simulator
    ncu = results("ncu-traffic-NVIDIA_H200-b8-2026-12-04.json")["launches"]
    off = [(r["kernel"], what, c["gpu"] / c["sim"]) for r in ncu for what, c in r["counts"].items()
           if (c["sim"] or c["gpu"]) and abs(c["gpu"] / c["sim"] - 1) > 0.01]
    assert_shows(sentence(r"the model held: of (\d+) launches"), len(ncu))
    col2im = next(r["counts"] for r in ncu if r["kernel"] == "col2im_v2")
    figures = sentence(r"the GPU counted (\S+) times the simulator's load requests \(([\d,]+) against ([\d,]+)\) "
                       r"and (\S+) times its sectors")
    assert_shows(" ".join(figures).replace(",", ""), col2im["load requests"]["gpu"] / col2im["load requests"]["sim"],
                 col2im["load requests"]["gpu"], col2im["load requests"]["sim"],
                 col2im["load sectors"]["gpu"] / col2im["load sectors"]["sim"])
    passes = sorted(ratio for kernel, what, ratio in off if what == "shared load passes")
    dram = sorted(ratio for kernel, what, ratio in off if what == "load bytes touched")
    assert [what for kernel, what, _ in off if kernel == "col2im_v2"] == ["load requests", "load sectors"]
    assert len(off) == 2 + len(passes) + len(dram) and (len(passes), len(dram)) == (2, 3)
    assert_shows(" ".join(sentence(r"lrn2\+pool2's forward (\S+) times the simulator's, the conv bias gradient's layout "
                                   r"kernel (\S+)\)")), passes[1], passes[0])
    assert_shows(" ".join(sentence(r"DRAM bytes \((\S+) times the bytes the loads touch on two, (\S+) on")),
                 dram[0], dram[2])
    assert f"{dram[0]:.3f}" == f"{dram[1]:.3f}"
    # the gradient checks on the kernels, Winograd's among them
    checks = (RESULTS / "gpu-gradcheck-NVIDIA_H200-2026-12-04-2.txt").read_text()
    count, largest = re.search(r"^passed on cuda: (\d+) checks, the largest relative error (\S+) ", checks,
                               flags=re.M).groups()
    assert "conv-winograd" in checks
    assert sentence(r"with Winograd's among them \((\d+) pass, largest relative error (\S+),") == (count, largest)


def test_the_traffic_table_counted_without_copied_blocks_gave_the_same_global_counts():
    """The table of every layer and version at batch 8, counted again once the traffic builds laid
    their basic blocks out without copies (2026-12-06): every launch of the committed runs of
    2026-12-01 and 2026-12-04 again, with the same loads and stores (shared memory aside: the
    column sums of the bias gradients were rewritten in between)."""
    assert sentence(r"counted again with it\s+\(`benchmarks/results/(kernel-traffic-b8-\S+)\.md`\)") == \
        "kernel-traffic-b8-2026-12-06"
    again = {(r["layer"], r["pass_"], r["kernel"]): r for r in results("kernel-traffic-b8-2026-12-06.json")["launches"]}
    for name in ("kernel-traffic-b8-2026-12-01.json", "kernel-traffic-b8-2026-12-04.json"):
        for launch in results(name)["launches"]:
            counted = again[(launch["layer"], launch["pass_"], launch["kernel"])]
            global_counts = [f for f in launch if f.startswith(("loads_", "stores_"))]
            assert len(global_counts) == 8
            assert {f: counted[f] for f in global_counts} == {f: launch[f] for f in global_counts}, (name, launch)


def test_winograd_traffic_figures_are_the_committed_run():
    """Winograd's two versions in the simulator's count (batch 32): conv4's input transform's and
    input gradient's loads, each pass's traffic over version 2's, across conv3-5, and over the
    sectors touched; the shortfalls of version 2 (its plane stores' and loads' efficiency, its bank
    passes). Then conv5 in version 2 counted again as the code counts it now."""
    from minicnn.simulator import compiler_description
    run = results("kernel-traffic-b32-winograd-2026-12-06.json")
    assert run["batch_size"] == 32 and run["conv_algorithm"] == "winograd"
    passes = {(p["layer"], p["pass_"]): p for p in run["passes"]}
    launch = {(r["layer"], r["kernel"]): r for r in run["launches"]}
    loads = [launch[(f"conv4 v{v}", f"winograd_{k}_v{v}")]["loads_moved_mb"] for k in ("input", "input_grad")
             for v in (1, 2)]
    assert_shows(" ".join(sentence(r"on conv4 its input\s+transform's loads move (\S+) MB \((\d+)% of their bytes "
                                   r"used\) and the input gradient's (\S+)\.")),
                 loads[0], launch[("conv4 v1", "winograd_input_v1")]["loads_efficiency"] * 100, loads[2])
    assert_shows(" ".join(sentence(r"loads each\s+value once: (\S+) and (\S+) MB")), loads[1], loads[3])
    ratio = {(layer, p): passes[(f"{layer} v1", p)]["moved_mb"] / passes[(f"{layer} v2", p)]["moved_mb"]
             for layer in ("conv3", "conv4", "conv5") for p in ("forward", "backward")}
    over = lambda layer, v, p: passes[(f"{layer} v{v}", p)]["moved_mb"] / passes[(f"{layer} v{v}", p)]["touched_mb"]
    figures = sentence(r"version 2 moves (\S+)x less than\s+version 1 forward on conv4 and (\S+)x less backward "
                       r"\((\S+)x to (\S+)x and (\S+)x to (\S+)x over conv3-5\),\s+(\S+)x and (\S+)x the distinct "
                       r"sectors its launches touch, where version 1 moves (\S+)x and (\S+)x")
    by_pass = lambda p: [r for (_, q), r in ratio.items() if q == p]
    assert_shows(" ".join(figures), ratio[("conv4", "forward")], ratio[("conv4", "backward")], min(by_pass("forward")),
                 max(by_pass("forward")), min(by_pass("backward")), max(by_pass("backward")),
                 over("conv4", 2, "forward"), over("conv4", 2, "backward"), over("conv4", 1, "forward"),
                 over("conv4", 1, "backward"))
    plane_kernels = [launch[("conv4 v2", "winograd_input_v2")]["loads_efficiency"],
                     launch[("conv4 v2", "winograd_output_grad_v2")]["loads_efficiency"],
                     launch[("conv4 v2", "winograd_output_v2")]["stores_efficiency"],
                     launch[("conv4 v2", "winograd_input_grad_v2")]["stores_efficiency"]]
    assert_shows(sentence(r"loads of x and dL/dy and stores of y and dL/dx use (\d+)% of the bytes they move"),
                 min(plane_kernels) * 100)
    assert max(plane_kernels) - min(plane_kernels) < 0.005
    version_1 = [launch[("conv4 v1", "winograd_input_v1")]["loads_efficiency"],
                 launch[("conv4 v1", "winograd_output_grad_v1")]["loads_efficiency"],
                 launch[("conv4 v1", "winograd_output_v1")]["stores_efficiency"],
                 launch[("conv4 v1", "winograd_input_grad_v1")]["stores_efficiency"]]
    assert_shows(" ".join(sentence(r"\(against version 1's\s+(\d+)% to (\d+)%\)")),
                 min(version_1) * 100, max(version_1) * 100)
    shared = {(kernel, kind): r[f"shared_{kind}_conflict"] for (layer, kernel), r in launch.items()
              if layer == "conv4 v2" and kernel.startswith("winograd") for kind in ("loads", "stores")}
    tiles = shared.pop(("winograd_input_grad_v2", "stores"))
    figures = sentence(r"its shared-memory requests take (\S+) to\s+(\S+) passes through the banks each, but the input "
                       r"gradient's stores of its tiles' 4 x 4 \((\S+)\)")
    assert_shows(" ".join(figures), min(shared.values()), max(shared.values()), tiles)
    assert_shows(sentence(r"\(the input's reads (\S+) passes a request;"),
                 launch[("conv4 v2", "winograd_input_v2")]["shared_loads_conflict"])
    if compiler_description() != run["compiler"]:
        pytest.skip(f"the file's counts follow the code of {run['compiler']}, not {compiler_description()}")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import kernel_traffic
    launches, counted = kernel_traffic.record_layer("conv5", 2, run["batch_size"], "winograd")
    assert launches == [r for r in run["launches"] if r["layer"] == "conv5 v2"]
    assert counted == [p for p in run["passes"] if p["layer"] == "conv5 v2"]


def test_versions_6_traffic_figures_are_the_committed_run():
    """The versions 6 in the simulator's traffic count, and every earlier version of the same
    layers counted as the committed run of 2026-12-01 counted it."""
    run = results("kernel-traffic-b8-2026-12-04.json")
    earlier = {(p["layer"], p["pass_"]): p["moved_mb"] for p in results("kernel-traffic-b8-2026-12-01.json")["passes"]}
    moved = {(p["layer"], p["pass_"]): p["moved_mb"] for p in run["passes"]}
    assert all(mb == earlier[key] for key, mb in moved.items() if " v6" not in key[0])
    assert len([key for key in moved if " v6" in key[0]]) == 6
    col2im = {r["layer"]: r for r in run["launches"] if r["kernel"].startswith("col2im")}
    pool = {r["layer"]: r for r in run["launches"] if r["kernel"].startswith("maxpool_backward")}
    figures = sentence(r"max-pool's version-6 backward moves ([\d.]+) MB on pool1 against version 2's ([\d.]+), its "
                       r"loads ([\d.]+) sectors a request against ([\d.]+) \(a window's dout is loaded whether or "
                       r"not its argmax chose the pixel\), and the fused layer's ([\d.]+) MB on lrn1\+pool1 against "
                       r"version 3's ([\d.]+)\. im2col's version-6 col2im asks for exactly what version 3's does "
                       r"\(conv2: ([\d.]+) MB, ([\d.]+) sectors a request, (\d+)%\)")
    assert_shows(" ".join(figures), moved[("pool1 v6", "backward")], moved[("pool1 v2", "backward")],
                 pool["pool1 v6"]["loads_sectors_per_request"], pool["pool1 v2"]["loads_sectors_per_request"],
                 moved[("lrn1+pool1 v6", "backward")], moved[("lrn1+pool1 v3", "backward")],
                 col2im["conv2 v6"]["loads_moved_mb"], col2im["conv2 v6"]["loads_sectors_per_request"],
                 col2im["conv2 v6"]["loads_efficiency"] * 100)
    loads = [k for k in col2im["conv2 v6"] if k.startswith("loads")]
    assert [col2im["conv2 v6"][k] for k in loads] == [col2im["conv2 v3"][k] for k in loads]


def test_col2im_v2s_extra_load_requests_on_the_gpu_are_nvccs_unrolled_loop():
    """The README's account of col2im_v2's load requests under Nsight Compute (conv2's backward at
    batch 8), replayed warp by warp from each thread's trip counts: the walk as written, one
    request a trip of the inner loop for the threads still in it, gives the simulator's count;
    nvcc's code of that loop, unrolled by 4 with the trip count mod 4 done first at three load
    instructions of their own, gives the GPU's."""
    col2im = next(r["counts"] for r in results("ncu-traffic-NVIDIA_H200-b8-2026-12-04.json")["launches"]
                  if r["kernel"] == "col2im_v2")["load requests"]
    batch, channels, size, kernel, stride, pad = 8, 96, 27, 5, 1, 2   # conv2's input; its output is 27 x 27 too
    ip = np.arange(size) + pad
    first = np.maximum(0, -(-(ip - kernel + 1) // stride))            # covering_windows (kernels/common.cuh)
    trips = np.minimum(ip // stride + 1, size) - first                 # windows covering each row (or column)
    pixel = np.arange(batch * channels * size * size).reshape(-1, 32)  # a grid-stride loop's warps
    outer, inner = trips[pixel // size % size], trips[pixel % size]    # the walk's loops: rows, then columns
    as_written = unrolled = 0
    for t in range(outer.max()):                                       # the warp's threads in step down the rows
        trip = np.where(outer > t, inner, 0)
        as_written += trip.max(axis=1).sum()
        remainder = trip % 4
        unrolled += ((remainder >= 1).any(axis=1).astype(int) + (remainder >= 2).any(axis=1)
                     + (remainder == 3).any(axis=1) + 4 * (trip // 4).max(axis=1)).sum()
    assert (as_written, unrolled) == (col2im["sim"], col2im["gpu"]) == (425112, 595176)
    figures = sentence(r"Replaying every warp's trip counts both ways gives ([\d,]+) and ([\d,]+) requests")
    assert_shows(" ".join(figures).replace(",", ""), as_written, unrolled)


def test_gpu_training_step_figures_are_the_committed_h200_runs():
    """The step with the defaults of now (two runs), in turns with those of before (two runs), the
    layer times that say where the difference went, and the first lease's runs."""
    from minicnn.kernel_versions import DEFAULTS
    now, again = (results(f"gpu-NVIDIA_H200-alexnet-b128-2026-12-04-{n}.json") for n in (2, 3))
    before = [results(f"gpu-NVIDIA_H200-lrn_maxpool5-im2col-alexnet-b128-2026-12-04{n}.json") for n in ("", "-2")]
    # the runs predate Winograd's numbered versions: they ran the kernels that are its version 1
    assert DEFAULTS["winograd"] == 1
    defaults = {family: version for family, version in DEFAULTS.items() if family != "winograd"}
    assert now["kernel_versions"] == again["kernel_versions"] == defaults and now["batch_size"] == 128
    assert all(run["kernel_versions"] == dict(defaults, lrn_maxpool=5) for run in before)
    rows = table_with("| framework (H200) | median step (ms) | images/s |", "minicnn (fused)")
    for label, name in (("minicnn (fused)", "minicnn"), ("PyTorch 2.11 eager (cuDNN)", "PyTorch")):
        assert_shows(" ".join(rows[label][1:]), median_ms(now, name), now["images_per_s"][name])
    figures = sentence(r"minicnn / PyTorch on the H200: (\S+), and (\S+) again in a second run \(`-3`\); the logits of "
                       r"the same batch differ from PyTorch's by (\S+) of the largest")
    assert_shows(" ".join(figures), now["ratio"], again["ratio"], now["logits_difference"])
    figures = sentence(r"and `-2`\) took (\S+) and (\S+) ms \((\S+)x\)")
    assert len({f"{run['ratio']:.2f}" for run in before}) == 1   # the one ratio shown is both runs'
    assert_shows(" ".join(figures), *(median_ms(run, "minicnn") for run in before), before[0]["ratio"])
    assert_shows(sentence(r"say where the (\S+) ms went"), median_ms(before[0], "minicnn") - median_ms(now, "minicnn"))
    ms = lambda run, part: run["layer_seconds"][part] * 1000
    figures = sentence(r"conv3 (\S+) ms forward and (\S+) backward against (\S+) and (\S+), norm1\+pool1's and "
                       r"norm2\+pool2's forward (\S+) and (\S+) against (\S+) and (\S+) \(their backward (\S+) and "
                       r"(\S+) ms slower")
    assert_shows(" ".join(figures), ms(now, "conv3.forward"), ms(now, "conv3.backward"), ms(before[0], "conv3.forward"),
                 ms(before[0], "conv3.backward"), ms(now, "norm1+pool1.forward"), ms(now, "norm2+pool2.forward"),
                 ms(before[0], "norm1+pool1.forward"), ms(before[0], "norm2+pool2.forward"),
                 *(ms(now, f"{n}.backward") - ms(before[0], f"{n}.backward") for n in ("norm1+pool1", "norm2+pool2")))
    # the first lease's, with version 5 of im2col and max-pool
    fused = results("gpu-NVIDIA_H200-alexnet-b128-2026-12-04.json")
    unfused = results("gpu-NVIDIA_H200-unfused-alexnet-b128-2026-12-04.json")
    assert "fused" in fused["settings"] and "unfused" in unfused["settings"]
    figures = sentence(r"the step took (\S+) ms, (\S+)x fused and (\S+)x unfused \((\S+) ms\)")
    assert_shows(" ".join(figures), median_ms(fused, "minicnn"), fused["ratio"], unfused["ratio"],
                 median_ms(unfused, "minicnn"))
    # the estimate for version 2: the fused step's conv layers (conv1, conv2 with their ReLU as timed;
    # conv3-5) and pool5, version 5's forward+backward less version 2's; and what the step said
    layer_ms = {r["layer"]: r["minicnn_ms"] for r in results("gpu-kernels-NVIDIA_H200-b128-versions-2026-12-04.json")[
        "rows"] if r["pass_"] == "forward+backward"}
    saved = sum(layer_ms[f"{layer} v5"] - layer_ms[f"{layer} v2"]
                for layer in ("conv1+relu1", "conv2+relu2", "conv3", "conv4", "conv5", "pool5"))
    figures = sentence(r"layer times had put version 2's about (\S+) ms shorter; in the step it was about (\S+) ms "
                       r"shorter \((\S+) ms")
    assert_shows(" ".join(figures), saved, median_ms(fused, "minicnn") - median_ms(before[0], "minicnn"),
                 median_ms(before[0], "minicnn"))


@pytest.mark.parametrize("text, values, scale", [("1824", (1823.6,), 1), ("0.42x", (0.4224,), 1),
                                                 ("20%", (0.1956,), 100), ("6.6e-7", (6.63e-7,), 1)])
def test_figures_are_compared_as_shown(text, values, scale):
    assert_shows(text, *values, scale=scale)


@pytest.mark.parametrize("text, values, scale", [("1825", (1823.6,), 1), ("0.43x", (0.4224,), 1),
                                                 ("19%", (0.1956,), 100), ("6.7e-7", (6.63e-7,), 1),
                                                 ("12 and 13", (12,), 1)])
def test_a_figure_that_differs_fails(text, values, scale):
    with pytest.raises(AssertionError):
        assert_shows(text, *values, scale=scale)


def test_kernel_traffic_table_and_findings_are_the_committed_run():
    run = results("kernel-traffic-b8-2026-12-01.json")
    passes = {(p["layer"], p["pass_"]): p for p in run["passes"]}
    launches = {(r["layer"], r["pass_"], r["kernel"].rsplit("_v", 1)[0]): r for r in run["launches"]}
    rows = table_with("| layer, pass | what | version 1 | version 2 | version 3 | version 4 | version 5 |",
                      "lrn1+pool1, forward")

    def shown(label):
        return " ".join(cell for cell in rows[label][1:] if cell)

    for layer, versions in (("lrn1+pool1", (1, 2, 3, 4, 5)), ("lrn2+pool2", (1, 2, 3, 4, 5))):
        assert_shows(shown(f"{layer}, forward"), passes[(f"{layer} v1", "forward")]["least_mb"],
                     *(passes[(f"{layer} v{v}", "forward")]["moved_mb"] for v in versions))
    assert_shows(shown("pool1, backward"), passes[("pool1 v1", "backward")]["least_mb"],
                 *(passes[(f"pool1 v{v}", "backward")]["moved_mb"] for v in (1, 2, 4)))
    assert passes[("pool1 v3", "backward")]["moved_mb"] == passes[("pool1 v2", "backward")]["moved_mb"]
    assert_shows(" ".join(cell for cell in rows["conv1, forward"][2:] if cell),   # "im2col" holds a 2
                 *(passes[(f"conv1 v{v}", "forward")]["moved_mb"] for v in (1, 2, 4)))
    im2col = [launches[(f"conv1 v{v}", "forward", "im2col")] for v in (1, 2, 4, 5)]
    assert_shows(shown("conv1, forward: `im2col`"),
                 *itertools.chain(*((c["loads_sectors_per_request"], c["loads_efficiency"] * 100) for c in im2col)))
    for label, layer, pass_, versions in (("lrn1+pool1, backward", "lrn1+pool1", "backward", (1, 2, 3, 4)),
                                          ("pool1, forward", "pool1", "forward", (1, 2, 3, 5)),
                                          ("lrn1, forward", "lrn1", "forward", (1, 2, 3)),
                                          ("lrn1, backward", "lrn1", "backward", (1, 2, 3))):
        assert_shows(shown(label), passes[(f"{layer} v1", pass_)]["least_mb"],
                     *(passes[(f"{layer} v{v}", pass_)]["moved_mb"] for v in versions))
    fused_backward = sentence(r"The fused backward's version 4, which copies\s+each channel's dout and argmax of a band to "
                              r"shared memory once, moves (\S+)x less again \((\S+) MB\s+for lrn1\+pool1, (\S+)x the least\)")
    v3, v4 = (passes[(f"lrn1+pool1 v{v}", "backward")] for v in (3, 4))
    assert_shows(" ".join(fused_backward), v3["moved_mb"] / v4["moved_mb"], v4["moved_mb"], v4["moved_over_least"])
    for label, (layer, pass_, kernel, measure) in {
            "relu1, backward": ("relu1", "backward", "relu_backward", "loads_efficiency"),
            "conv1, forward: `gemm_to_nchw_bias`": ("conv1", "forward", "gemm_to_nchw_bias", "stores_efficiency"),
            "pool1, forward: `maxpool_forward`": ("pool1", "forward", "maxpool_forward", "stores_efficiency")}.items():
        versions = (1, 2, 3, 5) if kernel == "maxpool_forward" else (1, 2)
        assert_shows(shown(label), *(launches[(f"{layer} v{v}", pass_, kernel)][measure] for v in versions), scale=100)
    assert_shows(shown("conv1, forward: `im2col`, shared memory"), *(c["shared_loads_conflict"] for c in im2col[2:]))
    assert_shows(shown("pool1, forward: `maxpool_forward`, shared memory"),
                 *(launches[(f"pool1 v{v}", "forward", "maxpool_forward")]["shared_loads_conflict"] for v in (3, 5)))
    assert_shows(" ".join(cell for cell in rows["conv1, backward"][2:] if cell),   # "col2im" holds a 2
                 *(passes[(f"conv1 v{v}", "backward")]["moved_mb"] for v in (1, 2, 3, 5)))
    assert passes[("conv1 v4", "backward")] | {"layer": ""} == passes[("conv1 v3", "backward")] | {"layer": ""}
    conv1_col2im = [launches[(f"conv1 v{v}", "backward", "col2im")] for v in (1, 2, 3, 5)]
    assert_shows(shown("conv1, backward: `col2im`"), conv1_col2im[0]["loads_touched_mb"],
                 *(c["loads_moved_mb"] for c in conv1_col2im))
    col2im = [launches[(f"conv2 v{v}", "backward", "col2im")] for v in (1, 2, 3, 5)]
    assert_shows(shown("conv2, backward: `col2im`"),
                 *itertools.chain(*((c["loads_sectors_per_request"], c["loads_efficiency"] * 100) for c in col2im)))
    # the findings below the table
    conflicts = sentence(r"im2col's version 4 reads take (\S+) passes each for conv1 \(words\s+4 apart\) and (\S+) for "
                         r"conv2; version 5's layout by phase takes one.*?\((\S+)\s+passes, for a write per input "
                         r"value.*?read theirs in (\S+) passes each.*?and (\S+) \(the fused forward's version 4\)")
    fused_forward = launches[("lrn1+pool1 v4", "forward", "lrn_maxpool_forward")]
    assert_shows(" ".join(conflicts), im2col[2]["shared_loads_conflict"],
                 launches[("conv2 v4", "forward", "im2col")]["shared_loads_conflict"], im2col[3]["shared_stores_conflict"],
                 launches[("pool1 v3", "forward", "maxpool_forward")]["shared_loads_conflict"],
                 fused_forward["shared_loads_conflict"])
    assert launches[("conv2 v5", "forward", "im2col")]["shared_loads_conflict"] == 1.0
    assert im2col[3]["loads_moved_mb"] == im2col[2]["loads_moved_mb"]   # "the same global traffic"
    backwards = [r for r in run["launches"] if r["kernel"] in ("maxpool_backward_v4", "lrn_maxpool_backward_v4")]
    assert backwards and all(r["shared_loads_conflict"] == 1.0 for r in backwards)   # "the backwards' reads take one"
    # the passes against an H100's memory cycles: 3.35 TB/s over 132 multiprocessors at 1.755 GHz
    cycles = sentence(r"all of a launch's\s+passes come to (\S+) of the cycles its traffic takes for im2col's version 4 "
                      r"on conv1 \((\S+) in\s+version 5\), (\S+) for max-pool's band on pool1 and (\S+) for the fused")
    per_cycle = 3.35e12 / (132 * 1.755e9)

    def pass_share(r):
        return (r["shared_loads_wavefronts"] + r["shared_stores_wavefronts"]) / (
            (r["loads_moved_mb"] + r["stores_moved_mb"]) * 1e6 / per_cycle)

    assert_shows(" ".join(cycles), *(pass_share(r) for r in (im2col[2], im2col[3],
                                                             launches[("pool1 v3", "forward", "maxpool_forward")],
                                                             fused_forward)))
    phased = [launches[("pool1 v5", "forward", "maxpool_forward")],
              launches[("lrn1+pool1 v5", "forward", "lrn_maxpool_forward")]]
    versions_5 = sentence(r"their reads take one pass, their stores \(a value once, alternating between\s+a row's two "
                          r"halves\) (\S+) and (\S+) for pool1, and all their passes come to (\S+) of the memory\s+"
                          r"cycles for both")
    assert [r["shared_loads_conflict"] for r in phased] == [1.0, 1.0]
    assert_shows(" ".join(versions_5), *(r["shared_stores_conflict"] for r in phased), pass_share(phased[0]))
    assert_shows(versions_5[2], pass_share(phased[1]))
    assert_shows(sentence(r"\(3\.35 TB/s over 132 multiprocessors at 1\.755 GHz: 14\.5 bytes a cycle each"),
                 3.35, 132, 1.755, round(per_cycle, 1))
    c2i = sentence(r"col2im's version 5 loads (\S+) MB for conv1 where version 3 loads (\S+) \((\S+)x less; the\s+"
                   r"entries touched: (\S+)\), at (\S+) sectors per request and (\d+)% efficiency against (\S+) and "
                   r"(\d+)%.*?conv2's: (\S+) MB against (\S+) \((\d+)% efficiency\).*?(\S+)% more touched\. conv1's "
                   r"backward\s+moves (\S+) MB against (\S+), conv2's (\S+) against (\S+); col2im's stores move (\d+)% more")
    v3, v5 = conv1_col2im[2], conv1_col2im[3]
    conv2_passes = [passes[(f"conv2 v{v}", "backward")] for v in (3, 5)]
    assert_shows(" ".join(c2i), v5["loads_moved_mb"], v3["loads_moved_mb"], v3["loads_moved_mb"] / v5["loads_moved_mb"],
                 v5["loads_touched_mb"], v5["loads_sectors_per_request"], v5["loads_efficiency"] * 100,
                 v3["loads_sectors_per_request"], v3["loads_efficiency"] * 100, col2im[3]["loads_moved_mb"],
                 col2im[2]["loads_moved_mb"], col2im[3]["loads_efficiency"] * 100,
                 (col2im[3]["loads_touched_mb"] / col2im[2]["loads_touched_mb"] - 1) * 100,
                 passes[("conv1 v5", "backward")]["moved_mb"], passes[("conv1 v3", "backward")]["moved_mb"],
                 conv2_passes[1]["moved_mb"], conv2_passes[0]["moved_mb"],
                 (v5["stores_moved_mb"] / v3["stores_moved_mb"] - 1) * 100)
    relu = sentence(r"ReLU's backward reads y besides \((\S+)x\)")
    assert_shows(relu, passes[("relu1 v2", "backward")]["moved_over_least"])
    exact = [("relu1 v1", "forward"), ("relu1 v2", "forward"), ("dropout6", "forward"), ("dropout6", "backward")]
    assert [passes[p]["moved_over_least"] for p in exact] == [1.0] * 4   # "move exactly the least"
    assert round(passes[("lrn1 v2", "backward")]["moved_mb"] / passes[("lrn1 v1", "backward")]["moved_mb"], 1) == 0.5
    walks = sentence(r"Version 3, its window in registers, moves (\S+)x\s+less than version 2 forward and (\S+)x less "
                     r"backward, and the fused backward's version 3 (\S+)x\s+less \((\S+) MB against (\S+) for lrn1\+pool1\)")
    moved = {(layer, v, p): passes[(f"{layer} v{v}", p)]["moved_mb"]
             for layer in ("lrn1", "lrn1+pool1") for v in (2, 3) for p in ("forward", "backward")}
    assert_shows(" ".join(walks), moved[("lrn1", 2, "forward")] / moved[("lrn1", 3, "forward")],
                 moved[("lrn1", 2, "backward")] / moved[("lrn1", 3, "backward")],
                 moved[("lrn1+pool1", 2, "backward")] / moved[("lrn1+pool1", 3, "backward")],
                 moved[("lrn1+pool1", 3, "backward")], moved[("lrn1+pool1", 2, "backward")])
    assert passes[("lrn1 v2", "backward")]["touched_mb"] == passes[("lrn1 v3", "backward")]["touched_mb"]
    fused = sentence(r"versions 1 and 2 moved (\S+)x the least, more than LRN and max-pool apart \((\S+) and (\S+) MB "
                     r"for lrn1 and pool1\)")
    assert_shows(" ".join(fused), passes[("lrn1+pool1 v2", "forward")]["moved_over_least"],
                 passes[("lrn1 v2", "forward")]["moved_mb"], passes[("pool1 v2", "forward")]["moved_mb"])
    assert_shows(sentence(r"Version 3 \(above\), written for it, moves (\S+)x less"),
                 passes[("lrn1+pool1 v2", "forward")]["moved_mb"] / passes[("lrn1+pool1 v3", "forward")]["moved_mb"])
    more = sentence(r"moves (\d+)% more in its loads than version 1's \((\S+) MB against (\S+) for conv2\)")
    assert_shows(" ".join(more), (col2im[1]["loads_moved_mb"] / col2im[0]["loads_moved_mb"] - 1) * 100,
                 col2im[1]["loads_moved_mb"], col2im[0]["loads_moved_mb"])
    assert_shows(sentence(r"Version 3 keeps the threads of a warp in step and moves what version 1 moves \((\S+) MB\)"),
                 col2im[2]["loads_moved_mb"])
    assert col2im[2]["loads_moved_mb"] == col2im[0]["loads_moved_mb"]
    pool = sentence(r"moves (\S+)x\s+less than version 2 \((\S+) MB against (\S+) for pool1\)")
    assert_shows(" ".join(pool), passes[("pool1 v2", "forward")]["moved_mb"] / passes[("pool1 v3", "forward")]["moved_mb"],
                 passes[("pool1 v3", "forward")]["moved_mb"], passes[("pool1 v2", "forward")]["moved_mb"])
    resources = {k["kernel"]: k["registers"] for k in results("kernel-resources-sm_90-float32-2026-12-06.json")["kernels"]}
    assert_shows(sentence(r"with version\s+2's arithmetic \((\d+ registers a thread against \d+)\)"),
                 resources["col2im_v3"], resources["col2im_v2"])
    compiled = sentence(r"\(`benchmarks/results/kernel-traffic-b8-2026-12-01.md`; the kernels compiled by (\S+) (\S+)\)")
    assert run["compiler"].startswith(compiled[0]) and run["compiler"].split()[-1].startswith(compiled[1] + ".")
    assert run["batch_size"] == 8
    fused = sentence(r"version 4, which loads each x once per channel where\s+version 3 computed every LRN value from "
                     r"its window's 5 channels, (\S+)x less again \((\S+) MB for\s+lrn1\+pool1, (\S+)x the least\)")
    assert_shows(" ".join(fused), passes[("lrn1+pool1 v3", "forward")]["moved_mb"] / passes[("lrn1+pool1 v4", "forward")]["moved_mb"],
                 passes[("lrn1+pool1 v4", "forward")]["moved_mb"], passes[("lrn1+pool1 v4", "forward")]["moved_over_least"])
    from minicnn import kernel_versions
    assert kernel_versions.DEFAULTS["lrn_maxpool"] == 3   # "version 3 was the fastest ... launches now"
    assert passes[("lrn1+pool1 v5", "forward")]["moved_mb"] == passes[("lrn1+pool1 v4", "forward")]["moved_mb"]
    backward = sentence(r"Its version 4 backward moves (\S+)x less than version 2 \((\S+) MB against (\S+) for pool1, "
                        r"(\S+)x\s+the least\)")
    pool_bwd = {v: passes[(f"pool1 v{v}", "backward")] for v in (2, 4)}
    assert_shows(" ".join(backward), pool_bwd[2]["moved_mb"] / pool_bwd[4]["moved_mb"], pool_bwd[4]["moved_mb"],
                 pool_bwd[2]["moved_mb"], pool_bwd[4]["moved_over_least"])
    loads = sentence(r"im2col's version 4 loads (\S+) MB for conv1 where the versions before it load (\S+) \((\S+)x less;"
                     r"\s+(\S+) sectors per request against (\S+)\)")
    assert_shows(" ".join(loads), im2col[2]["loads_moved_mb"], im2col[1]["loads_moved_mb"],
                 im2col[1]["loads_moved_mb"] / im2col[2]["loads_moved_mb"], im2col[2]["loads_sectors_per_request"],
                 im2col[1]["loads_sectors_per_request"])
    assert im2col[0]["loads_sectors_per_request"] == im2col[1]["loads_sectors_per_request"]
    forward = sentence(r"conv1's forward \(im2col and the\s+layout kernel\) moves (\S+) MB against (\S+), conv2's (\S+) "
                       r"against (\S+)\. Its stores move (\d+)%\s+more than version 2's \((\S+) MB against (\S+)\)")
    assert_shows(" ".join(forward), *(passes[(f"{layer} v{v}", "forward")]["moved_mb"]
                                      for layer in ("conv1", "conv2") for v in (4, 2)),
                 (im2col[2]["stores_moved_mb"] / im2col[1]["stores_moved_mb"] - 1) * 100, im2col[2]["stores_moved_mb"],
                 im2col[1]["stores_moved_mb"])


def test_kernel_traffic_counts_are_what_the_simulator_gives_now():
    """The committed figures are the model's for the kernels as they are: two layers recorded
    again (the cheapest with every kind of finding: a conditional load, plane tiles, a broadcast)."""
    from minicnn.simulator import compiler_description
    run = results("kernel-traffic-b8-2026-12-01.json")
    if compiler_description() != run["compiler"]:
        pytest.skip(f"the file's counts follow the code of {run['compiler']}, not {compiler_description()}")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import kernel_traffic
    for layer, versions in (("relu1", (1, 2)), ("pool5", (1, 2, 4, 5))):
        for version in versions:
            launches, passes = kernel_traffic.record_layer(layer, version, run["batch_size"])
            label = f"{layer} v{version}"
            assert launches == [r for r in run["launches"] if r["layer"] == label]
            assert passes == [p for p in run["passes"] if p["layer"] == label]


def test_versions_table_has_every_version_of_every_family():
    """The table of numbered versions: a row per version of every kernel family of
    minicnn.kernel_versions, the family (naming its .cu file) in the first row of its own, each
    row saying what its version changed."""
    from minicnn import kernel_versions
    header = "| family | version | what it changed |"
    lines = README.splitlines()
    (start,) = [i for i, line in enumerate(lines) if line.strip() == header]
    listed, family = {}, None
    for row in itertools.takewhile(lambda line: line.startswith("|"), lines[start + 2:]):
        first, version, changed = [c.strip() for c in row.strip().strip("|").split("|")]
        family = first or family
        assert family is not None and changed, row
        listed.setdefault(family, []).append(int(version))
    def label(family):
        return f"`{family}` (`kernels/{family}.cu`" + (", `--gemm tiled`)" if family == "gemm_tiled" else ")")
    assert listed == {label(family): sorted(versions) for family, versions in kernel_versions.VERSIONS.items()}



def committed_repeats(folder, settings, defaults=None):
    """The committed runs of ``settings`` ((name, label) pairs), seeds 0 to 2 each, in ``folder``
    as NAME-SEED, those of the setting named "default" in ``defaults`` where given: their
    records and test accuracies, by NAME-SEED. Their table, compare_runs.py --repeats 3's, is in
    the README and in the folder's compare.txt."""
    compare_runs = compare_runs_script()
    where = {f"{name}-{seed}": (defaults if name == "default" and defaults else folder) / f"{name}-{seed}"
             for name, _ in settings for seed in range(3)}
    runs = {n: compare_runs.run_records(str(path)) for n, path in where.items()}
    tests = {n: compare_runs.test_accuracy(str(path)) for n, path in where.items()}
    labels = [label for _, label in settings for _ in range(3)]
    table = compare_runs.table(labels, list(runs.values()), list(tests.values()), None)
    assert table in README and (folder / "compare.txt").read_text().strip() == table
    return runs, tests


ABLATIONS = (("default", "default"), ("no-lrn", "no LRN"), ("fixed-lrn", "LRN a fixed scale"),
             ("pool-2", "2x2 pools"), ("padded-pools", "3x3 pools padded"), ("no-dropout", "no dropout"))


def test_what_lrn_pooling_and_dropout_add_is_what_compare_runs_and_evaluate_made_of_the_committed_runs():
    """The table of LRN, pooling and dropout changed is compare_runs.py's of the 18 committed runs
    (its saved output too), the paragraphs' means and ranges are theirs, and the layer statistics
    they quote are evaluate.py --layers' committed output for those runs."""
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-ablations-2026-12-05"
    runs, tests = committed_repeats(folder, ABLATIONS)
    assert all(len(records) == 5 for records in runs.values()) and None not in tests.values()
    assert "--repeats 3 --out ablations.png" in README and (folder / "ablations.png").is_file()
    assert '--labels "' + ",".join(label for _, label in ABLATIONS) + '"' in README
    assert "compare_runs.py runs/{" + ",".join(name for name, _ in ABLATIONS) + "}-{0,1,2}" in README
    assert all(f" --out runs/{name}-$seed\n" in README for name, _ in ABLATIONS)   # each setting's command

    def accuracies(name):
        return [tests[f"{name}-{seed}"] for seed in range(3)]

    def test_mean(name):
        return statistics.mean(accuracies(name))

    def layer(name, seed, row):   # a row of the table evaluate.py --layers printed for a run, split at spaces
        text = (folder / f"{name}-{seed}" / "layers.txt").read_text()
        assert text.startswith("testing on 10000 images of the fashion-mnist test set")
        assert f"top-1 accuracy {tests[f'{name}-{seed}']:.4f}" in text   # the run's own network
        return re.search(rf"\n{row} .*\n", text)[0].split()

    assert_shows(" ".join(sentence(r"Without it the network tests ([\d.]+) points worse \(([\d.]+) against ([\d.]+); "
                                   r"its best seed, ([\d.]+), below the default's worst, ([\d.]+)\)")),
                 100 * (test_mean("default") - test_mean("no-lrn")), test_mean("no-lrn"), test_mean("default"),
                 max(accuracies("no-lrn")), min(accuracies("default")))
    first_errors = [statistics.mean(1 - runs[f"{name}-{seed}"][0]["train_top1"] for seed in range(3))
                    for name in ("no-lrn", "default")]
    assert_shows(" ".join(sentence(r"slower \(training error ([\d.]+) after the first epoch against ([\d.]+)\)")),
                 *first_errors)
    norm1 = layer("default", 0, "norm1")
    assert norm1[1] == "LRN" and norm1[-2] == "to"
    assert_shows(" ".join(sentence(r"finds the divisor between ([\d.]+) and ([\d.]+) at every unit of norm1")),
                 float(norm1[-3]), float(norm1[-1]))
    assert_shows(" ".join(sentence(r"\(`evaluate.py --layers`: norm1's from ([\d.]+) to ([\d.]+)\)")),
                 float(norm1[-3]), float(norm1[-1]))
    assert_shows(sentence(r"the network tests as well as with them \(([\d.]+)\)"), test_mean("fixed-lrn"))
    assert all(layer("fixed-lrn", seed, "norm1")[-3:] == ["1.6818", "to", "1.6818"] for seed in range(3))
    assert all("\nnorm" not in (folder / f"no-lrn-{seed}" / "layers.txt").read_text() for seed in range(3))
    zeros = sentence(r"`--layers` counts ([\d.]+)%, ([\d.]+)% and ([\d.]+)% of relu2's outputs 0 in the three runs "
                     r"without LRN, against ([\d.]+)%, ([\d.]+)% and ([\d.]+)% with it \(and ([\d.]+)%, ([\d.]+)% and "
                     r"([\d.]+)% of pool2's against ([\d.]+)%, ([\d.]+)% and ([\d.]+)%\)")
    assert list(zeros) == [layer(name, seed, row)[-1].rstrip("%") for row in ("relu2", "pool2")
                           for name in ("no-lrn", "default") for seed in range(3)]
    alive = [float(layer("no-lrn", seed, "relu2")[-1].rstrip("%")) for seed in range(3)]
    assert accuracies("no-lrn").index(max(accuracies("no-lrn"))) == alive.index(min(alive))   # "the fewest tests best"

    # pooling: 2x2 above every default seed; padded 3x3 pools leave the maps of 2x2 ones
    assert min(accuracies("pool-2")) > max(accuracies("default"))
    assert_shows(" ".join(sentence(r"\(([\d.]+) against ([\d.]+), every seed above every default one\)")),
                 test_mean("pool-2"), test_mean("default"))
    assert [layer("padded-pools", 0, p)[2] for p in ("pool1", "pool2", "pool5")] == \
        [layer("pool-2", 0, p)[2] for p in ("pool1", "pool2", "pool5")] == ["24x14x14", "48x7x7", "48x3x3"]
    assert [layer("default", 0, p)[2] for p in ("pool1", "pool2", "pool5")] == ["24x13x13", "48x6x6", "48x2x2"]
    padded = sentence(r"pools test ([\d.]+), ([\d.]+) points below the 2x2 pools, less than the seeds' spread "
                      r"\(([\d.]+)-([\d.]+) against ([\d.]+)-([\d.]+)\): .* gain ([\d.]+) of its ([\d.]+) points\)")
    assert_shows(" ".join(padded), test_mean("padded-pools"), 100 * (test_mean("pool-2") - test_mean("padded-pools")),
                 min(accuracies("padded-pools")), max(accuracies("padded-pools")), min(accuracies("pool-2")),
                 max(accuracies("pool-2")), 100 * (test_mean("padded-pools") - test_mean("default")),
                 100 * (test_mean("pool-2") - test_mean("default")))

    # dropout: without it, the validation loss falls every epoch, and every seed tests above every default one
    for seed in range(3):
        losses = [r["val_loss"] for r in runs[f"no-dropout-{seed}"]]
        assert losses == sorted(losses, reverse=True) and len(set(losses)) == len(losses)
    assert min(accuracies("no-dropout")) > max(accuracies("default"))
    assert_shows(" ".join(sentence(r"the network tests ([\d.]+) against ([\d.]+) \(each of its seeds above each "
                                   r"default one\)")), test_mean("no-dropout"), test_mean("default"))
    assert accuracies("default")[0] == 0.9015 and "gave its 0.9015 to the last digit" in " ".join(README.split())
    helped = re.search(r"no dropout, 0, gave ([\d.]+)%% against the default's ([\d.]+)%%",
                       training_script_helps())   # --dropout's help
    assert_shows(" ".join(helped.groups()), test_mean("no-dropout"), test_mean("default"), scale=100)


def lowest_validation_loss(records):
    """(epoch, loss) of a run's lowest validation loss, from its metrics.jsonl records."""
    best = min(records, key=lambda r: r["val_loss"])
    return best["epoch"], best["val_loss"]


def mean_validation_losses(repeats):
    """The repeats' (runs' records') mean validation loss of each epoch, as compare_runs.py
    --curve validation-loss draws it, as records lowest_validation_loss reads."""
    return [dict(epoch=records[0]["epoch"], val_loss=statistics.mean(r["val_loss"] for r in records))
            for records in zip(*repeats)]


RECIPE = (("no-weight-decay", "no weight decay"), ("unit-biases", "unit biases"), ("paper-init", "the paper's start"))


def test_weight_decay_and_the_unit_biases_are_what_the_committed_runs_and_starts_say():
    """The table of weight decay and the unit biases is compare_runs.py's of the committed runs
    (the default's from the section before), and the paragraphs' figures are those runs', their
    evaluate.py --layers output's and python -m minicnn.layer_statistics' of their starts."""
    defaults = RESULTS / "cpu-train-alexnet_small-fashion-mnist-ablations-2026-12-05"
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-weight-decay-and-biases-2026-12-05"
    runs, tests = committed_repeats(folder, (("default", "default"),) + RECIPE, defaults)
    assert "--repeats 3 --out recipe.png" in README and (folder / "recipe.png").is_file()
    assert '--labels "default,' + ",".join(label for _, label in RECIPE) + '"' in README
    assert "compare_runs.py runs/{default," + ",".join(name for name, _ in RECIPE) + "}-{0,1,2}" in README
    assert " --weight-decay 0 --out runs/no-weight-decay-$seed\n" in README
    assert " --init he-unit-biases --out runs/unit-biases-$seed\n" in README
    assert " --init paper --out runs/paper-init-$seed\n" in README

    def accuracies(name):
        return [tests[f"{name}-{seed}"] for seed in range(3)]

    def first_error(name, seed):
        return 1 - runs[f"{name}-{seed}"][0]["train_top1"]

    def rows(path, row):   # a table row of a committed output, split at spaces
        return re.search(rf"\n{re.escape(row)} .*\n", path.read_text())[0].split()

    # weight decay: the accuracies, the last epoch's training error, the weights' sizes
    mean = statistics.mean
    assert_shows(" ".join(sentence(r"without it the network tests ([\d.]+) against ([\d.]+) \(([\d.]+)-([\d.]+) "
                                   r"against ([\d.]+)-([\d.]+)\)")),
                 mean(accuracies("no-weight-decay")), mean(accuracies("default")), min(accuracies("no-weight-decay")),
                 max(accuracies("no-weight-decay")), min(accuracies("default")), max(accuracies("default")))
    last = {name: [1 - runs[f"{name}-{seed}"][-1]["train_top1"] for seed in range(3)]
            for name in ("no-weight-decay", "default")}
    assert_shows(" ".join(sentence(r"training error, not more \(([\d.]+) against ([\d.]+) in the last epoch; less for "
                                   r"two seeds of the three\)")), mean(last["no-weight-decay"]), mean(last["default"]))
    assert sum(a < b for a, b in zip(last["no-weight-decay"], last["default"])) == 2
    ratios = []
    for seed in range(3):
        with_decay, without = (folder.parent / f"{path}" / "layers.txt" for path in (
            f"{defaults.name}/default-{seed}", f"{folder.name}/no-weight-decay-{seed}"))
        for layer in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
            ratios.append(float(rows(with_decay, f"{layer}.weight")[3]) / float(rows(without, f"{layer}.weight")[3]))
    assert_shows(" ".join(sentence(r"each layer's weights, by their root mean square, ([\d.]+) to ([\d.]+) times as "
                                   r"large as without it")), min(ratios), max(ratios))
    fc6 = [rows(path / "layers.txt", "fc6.weight")[3] for path in (defaults / "default-0", folder / "no-weight-decay-0")]
    assert list(sentence(r"\(fc6's ([\d.]+) against ([\d.]+) for the first seed")) == fc6
    assert_shows(sentence(r"sqrt\(2/192\) = ([\d.]+), which decay"), (2 / 192) ** 0.5)

    # unit biases on He's weights: two seeds learn slower, the third dies; their starts
    assert_shows(" ".join(sentence(r"training error ([\d.]+) and ([\d.]+) in the first epoch against the default's "
                                   r"([\d.]+), and ([\d.]+) and ([\d.]+) tested")),
                 first_error("unit-biases", 0), first_error("unit-biases", 1),
                 mean(first_error("default", seed) for seed in range(3)), *accuracies("unit-biases")[:2])
    assert accuracies("unit-biases")[2] == 0.1000 and "The third never leaves chance (0.1000)" in README
    assert rows(folder / "unit-biases-2" / "layers.txt", "relu7")[-1] == "100.0%"
    assert "relu7 outputs 0 for every one of the 10,000 test images (`--layers`: 100.0% zeros)" in " ".join(
        README.split())
    starts = folder / "starts"

    def first_loss(init, seed):
        line = (starts / f"{init}-{seed}.txt").read_text().splitlines()[0]
        assert line.startswith(f"alexnet_small (width 24) as --init {init} starts it (seed {seed}), on the first "
                               f"1000 test images of fashion-mnist: loss ")
        return float(line.split("loss ")[1].split()[0])

    he, unit = starts / "he-2.txt", starts / "he-unit-biases-2.txt"
    assert_shows(" ".join(sentence(r"fewer are 0 \(([\d.]+)% of relu2's, against ([\d.]+)%, for the third seed\)")),
                 float(rows(unit, "relu2")[-1].rstrip("%")), float(rows(he, "relu2")[-1].rstrip("%")))
    assert_shows(" ".join(sentence(r"\(relu7's root mean square ([\d.]+) against ([\d.]+), fc8's ([\d.]+) against "
                                   r"([\d.]+)\)")),
                 *(float(rows(path, layer)[4]) for layer in ("relu7", "fc8") for path in (unit, he)))
    losses = sentence(r"the first loss is ([\d.]+), ([\d.]+) and ([\d.]+) for the three seeds, against ([\d.]+), "
                      r"([\d.]+) and ([\d.]+) with zero biases \(an even guess gives ln 10 = ([\d.]+)\)")
    assert_shows(" ".join(losses), *(first_loss(init, seed) for init in ("he-unit-biases", "he") for seed in range(3)),
                 math.log(10))
    unit_losses = [first_loss("he-unit-biases", seed) for seed in range(3)]
    assert unit_losses == sorted(unit_losses)   # "the first seed's is the smallest ..., the third's the largest"
    assert first_error("unit-biases", 0) < first_error("unit-biases", 1) < first_error("unit-biases", 2)

    helped = re.search(r"alexnet_small after 5 epochs, three seeds: he ([\d.]+)%%, he-unit-biases ([\d.]+)%%, "
                       r"([\d.]+)%% and ([\d.]+)%% \(the third died\), paper ([\d.]+)%% each",
                       training_script_helps())
    assert_shows(" ".join(helped.groups()), mean(accuracies("default")), *accuracies("unit-biases"),
                 accuracies("paper-init")[0], scale=100)   # --init's help

    # the paper's start: chance; every unit of the biased layers on, each its bias
    assert accuracies("paper-init") == [0.1000] * 3
    assert "no seed learns anything in five epochs: each tests 0.1000" in " ".join(README.split())
    paper = starts / "paper-0.txt"
    assert all(rows(paper, relu)[-1] == "0.0%" for relu in ("relu2", "relu4", "relu5", "relu6", "relu7"))
    relu2 = rows(paper, "relu2")
    assert relu2[3] == relu2[4] == sentence(r"relu2's mean and root mean square are both ([\d.]+) for the")
    assert sentence(r"the images' signal is ([\d.]+) by its root mean square after relu1") == rows(paper, "relu1")[4]
    assert_shows(" ".join(sentence(r"an even guess's \(([\d.]+), ([\d.]+) and ([\d.]+)\)")),
                 *(first_loss("paper", seed) for seed in range(3)))
    trained = folder / "paper-init-0" / "layers.txt"
    assert rows(trained, "relu2")[3] == rows(trained, "relu2")[4]
    assert_shows(" ".join(sentence(r"outputs its bias alone, ([\d.]+) \(mean and root mean square alike; weight decay "
                                   r"has shrunk conv2's biases to ([\d.]+)\)")),
                 float(rows(trained, "relu2")[3]), float(rows(trained, "conv2.bias")[2]))


def test_twenty_epochs_with_and_without_weight_decay_are_the_committed_runs():
    """The twenty-epoch table is compare_runs.py's of the two committed runs; the paragraph's
    losses, epochs and weights are theirs; the default run gives version 7's run of 2026-12-03."""
    compare_runs = compare_runs_script()
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-weight-decay-and-biases-2026-12-05"
    names = ("20-epochs", "20-epochs-no-weight-decay")
    runs = [compare_runs.run_records(str(folder / n)) for n in names]
    tests = [compare_runs.test_accuracy(str(folder / n)) for n in names]
    table = compare_runs.table(["default", "no weight decay"], runs, tests, None)
    assert table in README and (folder / "compare-20-epochs.txt").read_text().strip() == table
    assert (folder / "recipe-20-epochs.png").is_file()
    assert all((folder / n / "curves.png").is_file() for n in names)
    assert f"]({folder.relative_to(ROOT)}/20-epochs-no-weight-decay/curves.png)" in README
    assert "--epochs 20 --out runs/20-epochs\n" in README
    assert "--epochs 20 --weight-decay 0 --out runs/20-epochs-no-weight-decay\n" in README
    decayed, free = runs

    assert_shows(" ".join(sentence(r"again ends with less training error \(([\d.]+) against ([\d.]+) in the last "
                                   r"epoch\), but its validation loss is lowest in epoch (\d+) \(([\d.]+)\) and rises "
                                   r"to ([\d.]+), where with decay it is lowest in epoch (\d+) \(([\d.]+)\) and ends "
                                   r"at ([\d.]+), and it tests ([\d.]+) points worse \(([\d.]+) against ([\d.]+)\)")),
                 1 - free[-1]["train_top1"], 1 - decayed[-1]["train_top1"], *lowest_validation_loss(free), free[-1]["val_loss"],
                 *lowest_validation_loss(decayed), decayed[-1]["val_loss"], 100 * (tests[0] - tests[1]), tests[1], tests[0])

    def weights(run):   # each layer's weights' root mean square, from evaluate.py --layers on the run
        text = (run / "layers.txt").read_text()
        return {m[0]: float(m[1]) for m in re.findall(r"\n(\w+)\.weight +\S+ +\S+ +(\S+)", text)}

    with_decay, without = weights(folder / names[0]), weights(folder / names[1])
    assert len(with_decay) == 8 and with_decay.keys() == without.keys()
    ratios = [with_decay[k] / without[k] for k in with_decay]
    assert_shows(" ".join(sentence(r"Its weights end ([\d.]+) to ([\d.]+) times as large as without it \(fc7's "
                                   r"([\d.]+) against ([\d.]+)\)")),
                 min(ratios), max(ratios), with_decay["fc7"], without["fc7"])
    version7 = RESULTS / "cpu-train-alexnet_small-fashion-mnist-20-epochs-version7-2026-12-03"
    old = compare_runs.run_records(str(version7))
    assert [r["train_loss"] for r in old] == [r["train_loss"] for r in decayed]   # the same training, step for step
    assert compare_runs.test_accuracy(str(version7)) == tests[0] and old[-1]["val_top1"] == decayed[-1]["val_top1"]
    assert_shows(" ".join(sentence(r"runs\]\(#longer-runs-more-epochs-crops-and-mirrors\): ([\d.]+) tested, ([\d.]+) "
                                   r"on the validation images in epoch 20\)")), tests[0], decayed[-1]["val_top1"])
    five = [compare_runs.test_accuracy(str(RESULTS / folder.name / f"no-weight-decay-{seed}")) for seed in range(3)]
    defaults = [compare_runs.test_accuracy(str(RESULTS / "cpu-train-alexnet_small-fashion-mnist-ablations-2026-12-05"
                                               / f"default-{seed}")) for seed in range(3)]
    assert f"{100 * statistics.mean(five):.1f}" == f"{100 * statistics.mean(defaults):.1f}"   # "as the default did"

    # seeds 1 and 2 of each: the default's runs are the middle convs' and the LRN section's, with their layers.txt
    paths = [*TWENTY_EPOCH_DEFAULTS] + [folder / f"20-epochs-no-weight-decay{seed}" for seed in SEEDS]
    runs = [compare_runs.run_records(str(path)) for path in paths]
    tests = [compare_runs.test_accuracy(str(path)) for path in paths]
    table = compare_runs.table(["default"] * 3 + ["no weight decay"] * 3, runs, tests, None)
    assert table in README and (folder / "compare-20-epochs-three-seeds.txt").read_text().strip() == table
    assert all((path / "curves.png").is_file() for path in paths) and (folder / "recipe-20-epochs-three-seeds.png").is_file()
    assert all(f"--epochs 20 --seed {seed} --weight-decay 0 --out runs/20-epochs-no-weight-decay-{seed}\n" in README
               for seed in (1, 2))
    for curve in ("--out recipe-20-epochs-three-seeds.png", "--curve validation-loss --out recipe-20-epochs-validation-loss.png"):
        assert ("compare_runs.py runs/20-epochs{,-1,-2} runs/20-epochs-no-weight-decay{,-1,-2} --repeats 3 \\\n"
                f'    --labels "default,no weight decay" {curve}\n') in README
    assert (folder / "recipe-20-epochs-validation-loss.png").is_file()
    seed_sentences = (r"Seed 1 says the same: without decay, less training error in the last epoch \(([\d.]+) against "
                      r"([\d.]+)\), the validation loss lowest in epoch (\d+) \(([\d.]+)\) and rising to ([\d.]+), where "
                      r"with decay it is lowest in epoch (\d+) \(([\d.]+)\) and ends at ([\d.]+), and ([\d.]+) points less "
                      r"test accuracy \(([\d.]+) against ([\d.]+)\); the weights again ([\d.]+) to ([\d.]+) times as large",
                      r"So does seed 2: without decay, less training error in the last epoch \(([\d.]+) against "
                      r"([\d.]+)\), the validation loss lowest in epoch (\d+) \(([\d.]+)\) and rising to ([\d.]+), where "
                      r"with decay it is lowest in epoch (\d+) \(([\d.]+)\) and ends at ([\d.]+), and ([\d.]+) points less "
                      r"test accuracy \(([\d.]+) against ([\d.]+)\); the weights ([\d.]+) to ([\d.]+) times as large once "
                      r"more")
    for seed, pattern in zip((1, 2), seed_sentences):
        decayed, free = runs[seed], runs[3 + seed]
        with_decay, without = weights(paths[seed]), weights(paths[3 + seed])
        ratios = [with_decay[k] / without[k] for k in with_decay]
        assert len(with_decay) == 8 and with_decay.keys() == without.keys()
        assert_shows(" ".join(sentence(pattern)),
                     1 - free[-1]["train_top1"], 1 - decayed[-1]["train_top1"], *lowest_validation_loss(free),
                     free[-1]["val_loss"], *lowest_validation_loss(decayed), decayed[-1]["val_loss"],
                     100 * (tests[seed] - tests[3 + seed]), tests[3 + seed], tests[seed], min(ratios), max(ratios))
        assert lowest_validation_loss(free)[0] < lowest_validation_loss(decayed)[0]   # "rising", sooner
    last_error = [statistics.mean(1 - run[-1]["train_top1"] for run in runs[i:i + 3]) for i in (0, 3)]
    assert_shows(" ".join(sentence(r"Over the three seeds decay costs training error \(([\d.]+) against ([\d.]+)\) and "
                                   r"gives ([\d.]+) points of test accuracy \(([\d.]+) against ([\d.]+)\)")),
                 *last_error, 100 * (shown_mean(tests[:3]) - shown_mean(tests[3:])), shown_mean(tests[:3]),
                 shown_mean(tests[3:]))
    assert min(tests[:3]) > max(tests[3:]) and last_error[0] > last_error[1]   # "each seed with it above each without"
    means = [mean_validation_losses(runs[i:i + 3]) for i in (3, 0)]
    assert_shows(" ".join(sentence(r"without it their mean is lowest in epoch (\d+) \(([\d.]+)\) and climbs to ([\d.]+) "
                                   r"by the twentieth, where with it the mean is lowest in epoch (\d+) \(([\d.]+)\) and "
                                   r"ends at ([\d.]+)\.")),
                 *lowest_validation_loss(means[0]), means[0][-1]["val_loss"], *lowest_validation_loss(means[1]),
                 means[1][-1]["val_loss"])
    helped = re.search(r"0 gave ([\d.]+)%% against ([\d.]+)%% after 20 epochs, the validation loss rising after epoch "
                       r"(\d+), (\d+) and (\d+) in its three seeds, and ([\d.]+)%% as the default did after 5 \(three "
                       r"seeds' means\)", training_script_helps())   # --weight-decay's help
    assert_shows(" ".join(helped.groups()[:2]), statistics.mean(tests[3:]), statistics.mean(tests[:3]), scale=100)
    assert [int(epoch) for epoch in helped.groups()[2:5]] == [lowest_validation_loss(run)[0] for run in runs[3:]]
    assert_shows(helped[6], statistics.mean(five), scale=100)


CONNECTIVITY = (("one-tower", "one tower"), ("one-tower-half", "one tower with half the maps"))


def test_the_towers_connectivity_is_what_the_committed_runs_and_the_networks_say():
    """The table of the towers' connectivity is compare_runs.py's of the committed runs (the
    default's from the ablations), the networks' table is minicnn.summary's, and the paragraph's
    figures are those runs' and those networks'."""
    from minicnn import summary
    defaults = RESULTS / "cpu-train-alexnet_small-fashion-mnist-ablations-2026-12-05"
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-connectivity-2026-12-06"
    runs, tests = committed_repeats(folder, (("default", "two towers"),) + CONNECTIVITY, defaults)
    assert (folder / "connectivity.png").is_file() and "--out connectivity.png" in README
    assert "compare_runs.py runs/{default,one-tower,one-tower-half}-{0,1,2} --repeats 3" in README
    assert '--labels "two towers,' + ",".join(label for _, label in CONNECTIVITY) + '"' in README
    for name, _ in CONNECTIVITY:
        assert f" --seed $seed --connectivity {name} --out runs/{name}-$seed\n" in README
        assert all(json.loads((folder / f"{name}-{seed}" / "test_metrics.json").read_text())["environment"]
                   ["processor"].startswith("Intel") for seed in range(3))

    # the networks: parameters and multiply-adds, as minicnn.summary counts them
    totals = {c: summary.summarize(models.alexnet_small(connectivity=c), (1, 1, 28, 28))[1]
              for c in models.CONNECTIVITIES}
    for connectivity, label in zip(models.CONNECTIVITIES, ("two towers (the default)", "one tower",
                                                           "one tower with half the maps")):
        count = totals[connectivity]
        assert f"\n| {label} | {count['params']:,} | {count['macs'] / 1e6:.1f} M |\n" in README

    def accuracies(name):
        return [tests[f"{name}-{seed}"] for seed in range(3)]

    def error(name, epoch):   # the mean over the seeds of the training error of an epoch (0: the first)
        return statistics.mean(1 - runs[f"{name}-{seed}"][epoch]["train_top1"] for seed in range(3))

    mean = statistics.mean
    towers, one, half = accuracies("default"), accuracies("one-tower"), accuracies("one-tower-half")
    assert_shows(" ".join(sentence(r"by less than on ImageNet: ([\d.]+) against ([\d.]+) tested, ([\d.]+) points,")),
                 mean(towers), mean(half), 100 * (mean(towers) - mean(half)))
    assert_shows(" ".join(sentence(r"the one-GPU net's best seed \(([\d.]+)\) stays under the split's worst "
                                   r"\(([\d.]+)\)")), max(half), min(towers))
    assert max(half) < min(towers)
    assert_shows(" ".join(sentence(r"more training error too \(([\d.]+) against ([\d.]+) in the last epoch\), after "
                                   r"less in the first \(([\d.]+) against ([\d.]+)\)")),
                 error("one-tower-half", -1), error("default", -1), error("one-tower-half", 0), error("default", 0))
    params = {c: totals[c]["params"] for c in totals}
    macs = {c: totals[c]["macs"] for c in totals}
    assert_shows(sentence(r"Here the one-GPU net has ([\d.]+) times the split's parameters"),
                 params["one-tower-half"] / params["towers"])
    assert "parameters, not about as many, and half its multiply-adds:" in " ".join(README.split())
    assert round(macs["one-tower-half"] / macs["towers"], 1) == 0.5
    fc6 = sum(p.data.size for n, p in models.alexnet_small().named_params() if n.startswith("fc6."))
    assert f"48 maps of 2x2 pixels: {fc6:,} of the {params['towers']:,})," in " ".join(README.split())
    paper = models.alexnet()
    paper_fc6 = sum(p.data.size for n, p in paper.named_params() if n.startswith("fc6."))
    assert_shows(" ".join(sentence(r"the 2012 AlexNet's holds ([\d.]+) M of its ([\d.]+) M\.")),
                 paper_fc6 / 1e6, sum(p.data.size for _, p in paper.named_params()) / 1e6)
    assert_shows(" ".join(sentence(r"one tower tests ([\d.]+) \(([\d.]+)-([\d.]+)\) against ([\d.]+) \(([\d.]+)-([\d.]+)\), "
                                   r"with ([\d.]+) times the parameters and ([\d.]+) times the multiply-adds")),
                 mean(one), min(one), max(one), mean(towers), min(towers), max(towers),
                 params["one-tower"] / params["towers"], macs["one-tower"] / macs["towers"])
    assert max(one) - min(one) > mean(one) - mean(towers) > 0   # "gain less than the seeds differ by"


def test_twenty_epochs_of_each_connectivity_are_the_committed_runs():
    """The twenty-epoch table of the towers' connectivity is compare_runs.py's of the three
    committed runs (the towers' the default run of twenty epochs), and the paragraph's figures
    are theirs."""
    compare_runs = compare_runs_script()
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-connectivity-2026-12-06"
    paths = [RESULTS / "cpu-train-alexnet_small-fashion-mnist-weight-decay-and-biases-2026-12-05" / "20-epochs",
             folder / "20-epochs-one-tower", folder / "20-epochs-one-tower-half"]
    towers, one, half = runs = [compare_runs.run_records(str(path)) for path in paths]
    tests = [compare_runs.test_accuracy(str(path)) for path in paths]
    table = compare_runs.table(["two towers"] + [label for _, label in CONNECTIVITY], runs, tests, None)
    assert table in README and (folder / "compare-20-epochs.txt").read_text().strip() == table
    assert all(len(records) == 20 for records in runs) and all((path / "curves.png").is_file() for path in paths)
    assert f"]({folder.relative_to(ROOT)}/connectivity-20-epochs.png)" in README
    for name, _ in CONNECTIVITY:
        assert f" --epochs 20 --connectivity {name} --out runs/20-epochs-{name}\n" in README
    assert "compare_runs.py runs/20-epochs runs/20-epochs-one-tower runs/20-epochs-one-tower-half" in README

    assert_shows(" ".join(sentence(r"falls further behind: ([\d.]+) against ([\d.]+) tested, ([\d.]+) points, with more "
                                   r"training error in the last epoch \(([\d.]+) against ([\d.]+)\) and its validation "
                                   r"loss lowest in epoch (\d+) \(([\d.]+)\), where the towers' is lowest in epoch (\d+) "
                                   r"\(([\d.]+)\)")),
                 tests[2], tests[0], 100 * (tests[0] - tests[2]), 1 - half[-1]["train_top1"],
                 1 - towers[-1]["train_top1"], *lowest_validation_loss(half), *lowest_validation_loss(towers))
    assert_shows(" ".join(sentence(r"One tower fits its training images best \(([\d.]+)\) and its validation images too "
                                   r"\(([\d.]+); its validation loss lowest in epoch (\d+), ([\d.]+)\), yet tests ([\d.]+) "
                                   r"points under the towers \(([\d.]+) against ([\d.]+)\)")),
                 1 - one[-1]["train_top1"], one[-1]["val_top1"], *lowest_validation_loss(one), 100 * (tests[0] - tests[1]), tests[1],
                 tests[0])
    assert 1 - one[-1]["train_top1"] == min(1 - r[-1]["train_top1"] for r in runs)
    assert one[-1]["val_top1"] == max(r[-1]["val_top1"] for r in runs)
    five = [compare_runs.test_accuracy(str(folder / f"one-tower-{seed}")) for seed in range(3)]
    assert_shows(sentence(r"spread one tower's test accuracy over ([\d.]+) points"), 100 * (max(five) - min(five)))
    # "in the order of their maps in every epoch but the second": more maps, less training error
    ordered = [1 - o["train_top1"] < 1 - t["train_top1"] < 1 - h["train_top1"] for o, t, h in zip(one, towers, half)]
    assert "in every epoch but the second:" in " ".join(README.split())
    assert ordered[1] is False and all(ordered[:1] + ordered[2:])



def test_three_seeds_of_twenty_epochs_of_each_connectivity_are_the_committed_runs():
    """Three seeds of twenty epochs of one tower and of one tower with half the maps: the table is
    compare_runs.py's of the committed runs (the towers' the default's, as twenty_epochs_changed
    finds them), and the paragraph's, the findings table's and --connectivity's help's figures are
    those runs'."""
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-connectivity-2026-12-06"
    paths, runs, tests = twenty_epochs_changed(tuple((f"--connectivity {name}", name, label) for name, label in CONNECTIVITY),
                                               "connectivity-20-epochs", folder, "two towers")
    for path in paths[3:]:
        assert layers_row(path, "relu1") is not None   # evaluate.py --layers on the run's own checkpoint
    towers, one, half = tests[:3], tests[3:6], tests[6:]
    assert max(half) < min(towers) and max(towers) - min(towers) > statistics.mean(towers) - statistics.mean(one)
    assert_shows(" ".join(sentence(r"Over the three seeds the one-GPU net trails the towers by ([\d.]+) points \(([\d.]+) "
                                   r"against ([\d.]+)\), each of its seeds below each of theirs, if by ([\d.]+) points at "
                                   r"the closest \(([\d.]+) against ([\d.]+), seed (\d)\), and one tower trails them by "
                                   r"([\d.]+) \(([\d.]+)\), far less than the towers' three seeds spread over \(([\d.]+)\)")),
                 100 * (shown_mean(towers) - shown_mean(half)), shown_mean(half), shown_mean(towers),
                 100 * (min(towers) - max(half)), max(half), min(towers), towers.index(min(towers)),
                 100 * (shown_mean(towers) - shown_mean(one)), shown_mean(one), 100 * (max(towers) - min(towers)))
    assert half.index(max(half)) == towers.index(min(towers))   # the closest pair is one seed's
    assert_shows(sentence(r"With seeds 0 and 1 alone the one-GPU net trailed by ([\d.]+) points"),
                 100 * (shown_mean(towers[:2]) - shown_mean(half[:2])))
    last_error = [statistics.mean(1 - run[-1]["train_top1"] for run in runs[i:i + 3]) for i in (3, 0, 6)]
    validation = [statistics.mean(run[-1]["val_top1"] for run in runs[i:i + 3]) for i in (3, 0, 6)]
    means = [mean_validation_losses(runs[i:i + 3]) for i in (3, 0, 6)]
    lowest = [lowest_validation_loss(mean) for mean in means]
    assert last_error[0] == min(last_error) and validation[0] == max(validation)
    assert lowest[0][1] == min(loss for _, loss in lowest) and lowest[0][0] < min(lowest[1][0], lowest[2][0])
    assert means[0][-1]["val_loss"] > means[1][-1]["val_loss"]   # "climbs past the towers'"
    assert_shows(" ".join(sentence(r"One tower fits its training images best \(training error ([\d.]+) in the last epoch, "
                                   r"against ([\d.]+) for the towers and ([\d.]+) for the one-GPU net\) and its validation "
                                   r"images too \(([\d.]+), against ([\d.]+) and ([\d.]+)\); its mean validation loss is "
                                   r"the lowest of the three \(([\d.]+), in epoch (\d+), where the towers' is lowest in "
                                   r"epoch (\d+), ([\d.]+)\) and then climbs past the towers' \(([\d.]+) against ([\d.]+) "
                                   r"in the last epoch\)")),
                 *last_error, *validation, lowest[0][1], lowest[0][0], *lowest[1], means[0][-1]["val_loss"],
                 means[1][-1]["val_loss"])
    helped = re.search(r"which tested ([\d.]+) points below the towers after 20 epochs, where one-tower tested "
                       r"([\d.]+) below them \(three seeds' means", training_script_helps())   # --connectivity's help
    assert_shows(" ".join(helped.groups()), 100 * (shown_mean(towers) - shown_mean(half)),
                 100 * (shown_mean(towers) - shown_mean(one)))
    paper = float(sentence(r"It credits this scheme with ([\d.]+) and [\d.]+ points of top-1 and top-5 error"))
    assert_shows(sentence(r"holds, at a fifth of the paper's ([\d.]+) points"), paper)   # the paper's figure, quoted
    assert 0.15 < 100 * (statistics.mean(towers) - statistics.mean(half)) / paper < 0.25   # "a fifth"
    assert ("0.36 after twenty epochs, three seeds each (0.9204 against 0.9168); one tower with all the maps within "
            "the seeds' spread of the two (0.9047, and 0.9198 after twenty epochs)") in README   # the findings table


def tower_filters_printed(output):
    """{run's folder: [(tower 0, tower 1, difference, p) of the trained spatial frequencies, of those at
    the start, of the cosines to the start]} and [(sum, p, sum at the start, p at the start)] of each
    kind's pooled line, from what ``python -m minicnn.tower_filters`` printed for grey images."""
    runs = {}
    for match in re.finditer(r"runs/(\S+)/checkpoint\.npz [^\n]*\n[^\n]*\nspatial frequency +(.*)\n"
                             r"  at the start +(.*)\ncosine to start +(.*)\n\(one input channel", output):
        runs[match.group(1)] = [tuple(map(float, row.split())) for row in match.groups()[1:]]
    pooled = [tuple(map(float, m)) for m in re.findall(r"sum to ([\d.]+), p = ([\d.]+); at the start ([\d.]+), "
                                                        r"p = ([\d.]+) \(10000 random halvings", output)]
    return runs, pooled


def test_each_towers_filters_are_what_tower_filters_printed_for_the_runs():
    """The table and figures of the towers' filters are python -m minicnn.tower_filters' committed
    output for the three seeds' five-epoch runs and the twenty-epoch runs, whose commands the
    README gives, and their pictures are committed."""
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-connectivity-2026-12-06"
    five, pooled = tower_filters_printed((folder / "towers.txt").read_text())
    twenty, _ = tower_filters_printed((folder / "towers-20-epochs.txt").read_text())
    assert sorted(five) == [f"{kind}-{seed}" for kind in ("default", "one-tower") for seed in range(3)]
    assert sorted(twenty) == ["20-epochs", "20-epochs-one-tower"] and len(pooled) == 2
    assert "python -m minicnn.tower_filters runs/{default,one-tower}-{0,1,2}/checkpoint.npz --out towers.png" in README
    assert ("python -m minicnn.tower_filters runs/20-epochs/checkpoint.npz runs/20-epochs-one-tower/checkpoint.npz \\\n"
            "    --out towers-20-epochs.png") in README
    assert (folder / "towers.png").is_file() and (folder / "towers-20-epochs.png").is_file()
    assert "3 runs of two towers, pooled" in (folder / "towers.txt").read_text()

    def row(label, figures):
        (first, second, _, p), (start0, start1, _, start_p), (cosine0, cosine1, _, _) = figures
        return (f"| {label} | {first:.4f}, {second:.4f} | {p:.4f} | {start0:.4f}, {start1:.4f} | {start_p:.4f} | "
                f"{cosine0:.4f}, {cosine1:.4f} |")
    for kind, name in (("default", "two towers"), ("one-tower", "one tower")):
        for seed in range(3):
            assert row(f"{name}, seed {seed}", five[f"{kind}-{seed}"]) in README
    for name, (total, p, start_total, start_p) in zip(("two towers", "one tower"), pooled):
        assert (f"| {name}, the three seeds together | differences sum to {total:.4f} | {p:.4f} | {start_total:.4f} | "
                f"{start_p:.4f} | |") in README
    assert row("two towers, 20 epochs", twenty["20-epochs"]) in README
    assert row("one tower, 20 epochs", twenty["20-epochs-one-tower"]) in README

    towers = [five[f"default-{seed}"] for seed in range(3)]
    assert_shows(" ".join(sentence(r"in any run \(p from ([\d.]+) to ([\d.]+)\) or in the three together \(p = "
                                   r"([\d.]+)\), and the one-tower network's halves do not either \(together p = "
                                   r"([\d.]+)\)")),
                 min(t[0][3] for t in towers), max(t[0][3] for t in towers), pooled[0][1], pooled[1][1])
    assert_shows(" ".join(sentence(r"seeds 0 and 1 started ([\d.]+) and ([\d.]+) cycles a pixel apart \(p = ([\d.]+) "
                                   r"and ([\d.]+)\) and ended ([\d.]+) and ([\d.]+) apart; seed 2 started ([\d.]+) "
                                   r"apart and ended ([\d.]+) apart")),
                 towers[0][1][2], towers[1][1][2], towers[0][1][3], towers[1][1][3], towers[0][0][2],
                 towers[1][0][2], towers[2][1][2], towers[2][0][2])
    assert all((t[0][1] > t[0][0]) for t in towers)   # "Tower 1's frequency is the higher in all three runs"
    cosines = [c for run in five.values() for c in run[2][:2]]
    lowered = [run[1][t] - run[0][t] for run in five.values() for t in (0, 1)]
    assert_shows(" ".join(sentence(r"leave the filters at cosines of ([\d.]+) to ([\d.]+) with their random start, "
                                   r"tower by tower: they have lowered each tower's \(or half's\) mean frequency by "
                                   r"([\d.]+) to ([\d.]+) cycles a pixel \(white noise in 5 x 5 has about ([\d.]+)\)")),
                 min(cosines), max(cosines), min(lowered), max(lowered),
                 np.hypot(*np.meshgrid(np.fft.fftfreq(5), np.fft.fftfreq(5))).mean())
    (trained, _, cosine), control = twenty["20-epochs"], twenty["20-epochs-one-tower"][0]
    assert trained[2] < towers[0][1][2] and trained[0] > trained[1]   # closer than they started; tower 0's the higher
    assert_shows(" ".join(sentence(r"to cosines of ([\d.]+) and ([\d.]+), and leave seed 0's towers closer than they "
                                   r"started, tower 0's now the higher: ([\d.]+) and ([\d.]+) cycles a pixel \(p = "
                                   r"([\d.]+)\), where the one-tower network's halves are ([\d.]+) and ([\d.]+) \(p = "
                                   r"([\d.]+)\)")),
                 cosine[0], cosine[1], trained[0], trained[1], trained[3], control[0], control[1], control[3])
    assert "compares the towers' difference with that of 10,000 random" in " ".join(README.split())


def test_the_ten_test_crops_are_what_evaluate_gave_for_the_committed_runs():
    """The ten crops' table and figures are evaluate.py's committed results for the three runs with
    --augment, whose commands the README gives; each network's figures on whole pictures are its
    run's test_metrics.json's; the default runs compared are the ablations' three."""
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-ten-crops-2026-12-06"
    whole, ten = (json.loads((folder / f"{name}.json").read_text()) for name in ("whole-pictures", "ten-crops"))
    weights = [f"runs/augment-{seed}/checkpoint.npz" for seed in range(3)]
    assert whole["weights"] == ten["weights"] == weights and (whole["views"], ten["views"]) == ("center", "ten")
    assert whole["images"] == ten["images"] == 10000
    for name in ("whole-pictures", "ten-crops"):
        printed = (folder / f"{name}.txt").read_text()
        assert printed.rstrip().endswith(f"written to {name}: evaluation.json, confusion.png, largest_losses.png, "
                                         f"top5.png")
        flags = " --ten-crop" if name == "ten-crops" else ""
        assert ("--weights runs/augment-0/checkpoint.npz --weights runs/augment-1/checkpoint.npz \\\n"
                f"    --weights runs/augment-2/checkpoint.npz{flags} --out {name}\n") in README
    assert "python examples/train_alexnet.py --seed $seed --augment --out runs/augment-$seed\n" in README
    for seed, (a, b) in enumerate(zip(whole["members"], ten["members"])):
        run = json.loads((folder / f"augment-{seed}" / "test_metrics.json").read_text())
        assert a["top1"] == run["top1"] and a["loss"] == pytest.approx(run["loss"], rel=1e-5)
        assert f"| seed {seed} | {a['top1']:.4f} | {b['top1']:.4f} | {a['loss']:.4f} | {b['loss']:.4f} |" in README
        assert b["loss"] < a["loss"]   # "lower each network's loss"
    assert (f"| the three averaged (an ensemble) | {whole['top1']:.4f} | {ten['top1']:.4f} | {whole['loss']:.4f} | "
            f"{ten['loss']:.4f} |") in README
    gains = [100 * (b["top1"] - a["top1"]) for a, b in zip(whole["members"], ten["members"])]
    means = [statistics.mean(m["top1"] for m in result["members"]) for result in (whole, ten)]
    alone = [m["top1"] for m in whole["members"]]
    assert_shows(" ".join(sentence(r"The ten crops add ([\d.]+) to ([\d.]+) points to each network's test accuracy "
                                   r"\(their mean from ([\d.]+) to ([\d.]+)\), more than the seeds spread it on whole "
                                   r"pictures \(([\d.]+) points\)")),
                 min(gains), max(gains), *means, 100 * (max(alone) - min(alone)))
    assert 100 * (max(alone) - min(alone)) < min(gains)
    assert_shows(" ".join(sentence(r"add nothing \(([\d.]+) either way\) and raise the loss \(([\d.]+) to ([\d.]+)\)")),
                 whole["top1"], whole["loss"], ten["loss"])
    assert whole["top1"] == ten["top1"] and ten["loss"] > whole["loss"]
    default = [json.loads((RESULTS / "cpu-train-alexnet_small-fashion-mnist-ablations-2026-12-05" / f"default-{seed}" /
                           "test_metrics.json").read_text())["top1"] for seed in range(3)]
    assert_shows(" ".join(sentence(r"the default runs of the same seeds test ([\d.]+) on average, ([\d.]+) to "
                                   r"([\d.]+)\), and the ten crops win back half of what they cost")),
                 statistics.mean(default), min(default), max(default))
    assert 0.45 < (means[1] - means[0]) / (statistics.mean(default) - means[0]) < 0.55   # "half"
    assert_shows(sentence(r"three default runs averaged \(([\d.]+), \[the quick start\]"), 0.9119)
    assert "their probabilities averaged give **0.9119**" in README and ten["top1"] < 0.9119


MIDDLE_CONVS_LEFT_OUT = (("default", "all five convs"), ("no-conv3", "no conv3"), ("no-conv4", "no conv4"),
                         ("no-conv5", "no conv5"))


def test_each_middle_conv_left_out_is_what_the_committed_runs_and_the_networks_say():
    """The table of the middle convs left out is compare_runs.py's of the committed runs (the
    default's from the ablations), the networks' table is minicnn.summary's, and the paragraphs'
    figures are those runs' and those networks'."""
    from minicnn import summary
    defaults = RESULTS / "cpu-train-alexnet_small-fashion-mnist-ablations-2026-12-05"
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-middle-convs-2026-12-06"
    runs, tests = committed_repeats(folder, MIDDLE_CONVS_LEFT_OUT, defaults)
    assert all(len(records) == 5 for records in runs.values())
    assert (folder / "middle-convs.png").is_file() and f"]({folder.relative_to(ROOT)}/middle-convs.png)" in README
    assert "compare_runs.py runs/{default,no-conv3,no-conv4,no-conv5}-{0,1,2} --repeats 3" in README
    assert '--out middle-convs.png --labels "' + ",".join(label for _, label in MIDDLE_CONVS_LEFT_OUT) + '"' in README
    for conv in models.MIDDLE_CONVS:
        assert f" --seed $seed --leave-out {conv} --out runs/no-{conv}-$seed\n" in README
        assert all(json.loads((folder / f"no-{conv}-{seed}" / "test_metrics.json").read_text())["environment"]
                   ["processor"].startswith("Intel") for seed in range(3))

    # the networks: parameters and multiply-adds, as minicnn.summary counts them
    for left_out, label in zip((None,) + models.MIDDLE_CONVS,
                               ("all five convs (the default)", "no conv3", "no conv4", "no conv5")):
        count = summary.summarize(models.alexnet_small(leave_out=left_out), (1, 1, 28, 28))[1]
        assert f"\n| {label} | {count['params']:,} | {count['macs'] / 1e6:.1f} M |\n" in README
    without_conv5 = models.alexnet_small(leave_out="conv5")
    assert_shows(" ".join(sentence(r"pool5 pools conv4's (\d+) maps rather than conv5's (\d+), and fc6 reads (\d+) "
                                   r"inputs rather than (\d+):")),
                 without_conv5["conv4"].out_channels, models.alexnet_small()["conv5"].out_channels,
                 without_conv5["fc6"].in_features, models.alexnet_small()["fc6"].in_features)

    def accuracies(name):
        return [tests[f"{name}-{seed}"] for seed in range(3)]

    def error(name, epoch):   # the mean over the seeds of the training error of an epoch (0: the first)
        return statistics.mean(1 - runs[f"{name}-{seed}"][epoch]["train_top1"] for seed in range(3))

    mean = statistics.mean
    default, conv3, conv4, conv5 = (accuracies(name) for name, _ in MIDDLE_CONVS_LEFT_OUT)
    assert_shows(" ".join(sentence(r"without it the network tests ([\d.]+) points worse \(([\d.]+) against ([\d.]+); its "
                                   r"best seed, ([\d.]+), below the default's worst, ([\d.]+)\), under a fifth")),
                 100 * (mean(default) - mean(conv3)), mean(conv3), mean(default), max(conv3), min(default))
    assert max(conv3) < min(default) and mean(default) - mean(conv3) < 0.4   # under a fifth of 2 points
    assert_shows(" ".join(sentence(r"Without conv4 or conv5 it tests better, ([\d.]+) and ([\d.]+) \(without conv5 its "
                                   r"worst seed, ([\d.]+), above the default's best, ([\d.]+)\)")),
                 mean(conv4), mean(conv5), min(conv5), max(default))
    assert min(conv5) > max(default) and min(mean(conv4), mean(conv5)) > mean(default)
    assert_shows(" ".join(sentence(r"\(training error ([\d.]+) to ([\d.]+) after the first epoch, against ([\d.]+)\); "
                                   r"by the fifth, the one without conv3 has fallen behind \(([\d.]+) against ([\d.]+)\), "
                                   r"those without conv4 or conv5 have not \(([\d.]+) and ([\d.]+)\)")),
                 min(error(n, 0) for n in ("no-conv3", "no-conv4", "no-conv5")),
                 max(error(n, 0) for n in ("no-conv3", "no-conv4", "no-conv5")), error("default", 0),
                 error("no-conv3", -1), error("default", -1), error("no-conv4", -1), error("no-conv5", -1))
    assert max(error(n, 0) for n in ("no-conv3", "no-conv4", "no-conv5")) < error("default", 0)


def test_twenty_epochs_without_each_middle_conv_are_the_committed_runs():
    """The twenty-epoch table of the middle convs left out is compare_runs.py's of the committed
    runs (all five convs: the default run of twenty epochs), and the paragraph's figures are theirs."""
    compare_runs = compare_runs_script()
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-middle-convs-2026-12-06"
    paths = [RESULTS / "cpu-train-alexnet_small-fashion-mnist-weight-decay-and-biases-2026-12-05" / "20-epochs"]
    paths += [folder / f"20-epochs-no-{conv}" for conv in models.MIDDLE_CONVS]
    runs = [compare_runs.run_records(str(path)) for path in paths]
    tests = [compare_runs.test_accuracy(str(path)) for path in paths]
    table = compare_runs.table([label for _, label in MIDDLE_CONVS_LEFT_OUT], runs, tests, None)
    assert table in README and (folder / "compare-20-epochs.txt").read_text().strip() == table
    assert all(len(records) == 20 for records in runs) and all((path / "curves.png").is_file() for path in paths)
    assert f"]({folder.relative_to(ROOT)}/middle-convs-20-epochs.png)" in README
    assert (folder / "middle-convs-20-epochs.png").is_file()
    for conv in models.MIDDLE_CONVS:
        assert f"train_alexnet.py --epochs 20 --leave-out {conv} --out runs/20-epochs-no-{conv}\n" in README
    assert "compare_runs.py runs/20-epochs runs/20-epochs-no-conv{3,4,5}" in README
    assert_shows(" ".join(sentence(r"the one with all five: ([\d.]+) points without conv3 \(([\d.]+) against ([\d.]+)\), "
                                   r"([\d.]+) without conv4 \(([\d.]+)\) and ([\d.]+) without conv5 \(([\d.]+)\)")),
                 100 * (tests[0] - tests[1]), tests[1], tests[0], 100 * (tests[0] - tests[2]), tests[2],
                 100 * (tests[0] - tests[3]), tests[3])
    assert tests[0] > max(tests[1:]) and tests[0] - min(tests[1:]) < 0.4   # "a fifth of its size or less"
    last = [1 - records[-1]["train_top1"] for records in runs]
    assert_shows(" ".join(sentence(r"of all five fits its training images best \(training error ([\d.]+) in the last "
                                   r"epoch, against ([\d.]+) to ([\d.]+)\)")),
                 last[0], min(last[1:]), max(last[1:]))
    assert last[0] < min(last[1:])
    default = [compare_runs.test_accuracy(str(RESULTS / "cpu-train-alexnet_small-fashion-mnist-ablations-2026-12-05"
                                              / f"default-{seed}")) for seed in range(3)]
    assert_shows(sentence(r"five epochs spread the default network's test accuracy over ([\d.]+) points"),
                 100 * (max(default) - min(default)))


def test_each_towers_filters_without_conv3_are_what_tower_filters_printed_for_the_runs():
    """The figures of the towers' filters without conv3 are python -m minicnn.tower_filters'
    committed output for the runs, whose commands the README gives; their pictures are committed."""
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-middle-convs-2026-12-06"
    five, pooled = tower_filters_printed((folder / "towers-no-conv3.txt").read_text())
    assert sorted(five) == [f"no-conv3-{seed}" for seed in range(3)] and len(pooled) == 1
    twenty, none = tower_filters_printed((folder / "towers-20-epochs-no-conv3.txt").read_text())
    assert list(twenty) == ["20-epochs-no-conv3"] and none == []
    for name in ("towers-no-conv3", "towers-20-epochs-no-conv3"):
        assert (folder / f"{name}.png").is_file() and f" --out {name}.png\n" in README
    assert "tower_filters runs/no-conv3-{0,1,2}/checkpoint.npz --out" in README
    assert "tower_filters runs/20-epochs-no-conv3/checkpoint.npz --out" in README
    assert_shows(sentence(r"\(the three together, p = ([\d.]+)\)"), pooled[0][1])
    frequency, start, cosine = twenty["20-epochs-no-conv3"]
    assert_shows(" ".join(sentence(r"tower 0's filters of lower frequency, ([\d.]+) cycles a pixel against ([\d.]+) "
                                   r"\(p = ([\d.]+); at the start ([\d.]+) and ([\d.]+), p = ([\d.]+)\), and further "
                                   r"from their start \(cosines ([\d.]+) against ([\d.]+), p = ([\d.]+)\)")),
                 frequency[0], frequency[1], frequency[3], start[0], start[1], start[3], cosine[0], cosine[1], cosine[3])
    assert_shows(sentence(r"towers differ more than (\d+)% of random halvings do"), 100 * (1 - frequency[3]) // 1)
    default, _ = tower_filters_printed((RESULTS / "cpu-train-alexnet_small-fashion-mnist-connectivity-2026-12-06" /
                                        "towers-20-epochs.txt").read_text())
    assert_shows(" ".join(sentence(r"the default run's twenty epochs left its towers at ([\d.]+) and ([\d.]+) "
                                   r"\(p = ([\d.]+)\)")), *[default["20-epochs"][0][i] for i in (0, 1, 3)])

    # seeds 1 and 2 of twenty epochs, without conv3 and with all five convs: each file holds all three seeds
    without, (pooled,) = tower_filters_printed((folder / "towers-20-epochs-no-conv3-three-seeds.txt").read_text())
    assert list(without) == [f"20-epochs-no-conv3{seed}" for seed in SEEDS]
    assert without["20-epochs-no-conv3"] == twenty["20-epochs-no-conv3"]
    three, (pooled_default,) = tower_filters_printed((folder / "towers-20-epochs-three-seeds.txt").read_text())
    assert list(three) == [f"20-epochs{seed}" for seed in SEEDS] and three["20-epochs"] == default["20-epochs"]
    five, _ = tower_filters_printed((RESULTS / "cpu-train-alexnet_small-fashion-mnist-connectivity-2026-12-06" /
                                     "towers.txt").read_text())
    # a seed's starting filters are its five-epoch run's: the checkpoints are of the seeds they name
    assert [three[f"20-epochs{suffix}"][1] for suffix in SEEDS] == [five[f"default-{seed}"][1] for seed in range(3)]
    for name in ("towers-20-epochs-no-conv3-three-seeds", "towers-20-epochs-three-seeds"):
        assert (folder / f"{name}.png").is_file() and f"--out {name}.png\n" in README
    assert "tower_filters runs/20-epochs-no-conv3{,-1,-2}/checkpoint.npz \\\n" in README
    assert "tower_filters runs/20-epochs{,-1,-2}/checkpoint.npz --out" in README
    (frequency_1, _, cosine_1), (frequency_2, _, cosine_2) = without["20-epochs-no-conv3-1"], without["20-epochs-no-conv3-2"]
    assert_shows(" ".join(sentence(r"Seed 1's twenty epochs without conv3 leave its towers at ([\d.]+) and ([\d.]+) cycles "
                                   r"a pixel \(p = ([\d.]+); cosines to the start ([\d.]+) and ([\d.]+), p = ([\d.]+)\), "
                                   r"seed 2's at ([\d.]+) and ([\d.]+) \(p = ([\d.]+); cosines ([\d.]+) and ([\d.]+), p = "
                                   r"([\d.]+)\), and the three seeds' towers together differ as random halvings do "
                                   r"\(p = ([\d.]+)\)")),
                 *(row[i] for row in (frequency_1, cosine_1, frequency_2, cosine_2) for i in (0, 1, 3)), pooled[1])
    frequency, start, _ = three["20-epochs-1"]
    assert_shows(" ".join(sentence(r"as far as seed 0's did without conv3 \(([\d.]+) against ([\d.]+), p = ([\d.]+)\), "
                                   r"after a start ([\d.]+) apart \(p = ([\d.]+)\), and its three seeds together differ "
                                   r"as random halvings do too \(p = ([\d.]+)\)")),
                 frequency[0], frequency[1], frequency[3], start[2], start[3], pooled_default[1])
    assert min(frequency_1[3], frequency_2[3], pooled[1], pooled_default[1]) > 0.05   # "do not confirm"


def test_one_tower_without_conv3_is_what_the_committed_runs_say():
    """The table of the one-tower network without conv3 is compare_runs.py's of the committed runs
    (the one-tower network's from the towers' connectivity), and the paragraph's figures are theirs."""
    compare_runs = compare_runs_script()
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-middle-convs-2026-12-06"
    connectivity = RESULTS / "cpu-train-alexnet_small-fashion-mnist-connectivity-2026-12-06"
    paths = [connectivity / f"one-tower-{seed}" for seed in range(3)] + [folder / f"one-tower-no-conv3-{seed}"
                                                                          for seed in range(3)]
    runs = [compare_runs.run_records(str(path)) for path in paths]
    tests = [compare_runs.test_accuracy(str(path)) for path in paths]
    table = compare_runs.table(["one tower"] * 3 + ["one tower without conv3"] * 3, runs, tests, None)
    assert table in README and (folder / "compare-one-tower.txt").read_text().strip() == table
    assert " --seed $seed --connectivity one-tower --leave-out conv3 \\\n      --out runs/one-tower-no-conv3-$seed\n" in README
    assert "compare_runs.py runs/one-tower-{0,1,2} runs/one-tower-no-conv3-{0,1,2} --repeats 3" in README
    one, without = tests[:3], tests[3:]
    assert_shows(" ".join(sentence(r"tests no worse \(([\d.]+) against ([\d.]+), the seeds' ranges ([\d.]+)-([\d.]+) and "
                                   r"([\d.]+)-([\d.]+) overlapping\)")),
                 statistics.mean(without), statistics.mean(one), min(without), max(without), min(one), max(one))
    assert statistics.mean(without) >= statistics.mean(one) and min(without) <= max(one)

    # twenty epochs: one run of each, the one-tower network's from the towers' connectivity
    paths = [connectivity / "20-epochs-one-tower", folder / "20-epochs-one-tower-no-conv3"]
    runs = [compare_runs.run_records(str(path)) for path in paths]
    tests = [compare_runs.test_accuracy(str(path)) for path in paths]
    table = compare_runs.table(["one tower", "one tower without conv3"], runs, tests, None)
    assert table in README and (folder / "compare-one-tower-20-epochs.txt").read_text().strip() == table
    assert all(len(records) == 20 for records in runs) and (paths[1] / "curves.png").is_file()
    assert " --epochs 20 --connectivity one-tower --leave-out conv3 \\\n    --out runs/20-epochs-one-tower-no-conv3\n" in README
    assert "compare_runs.py runs/20-epochs-one-tower runs/20-epochs-one-tower-no-conv3 \\" in README
    towers = [compare_runs.test_accuracy(str(RESULTS / name)) for name in (
        "cpu-train-alexnet_small-fashion-mnist-weight-decay-and-biases-2026-12-05/20-epochs",
        "cpu-train-alexnet_small-fashion-mnist-middle-convs-2026-12-06/20-epochs-no-conv3")]
    assert_shows(" ".join(sentence(r"The one-tower network without conv3 tests ([\d.]+) against ([\d.]+), though it fits "
                                   r"its training images less well \(training error ([\d.]+) in the last epoch, against "
                                   r"([\d.]+)\), where the towers without conv3 lose ([\d.]+) points")),
                 tests[1], tests[0], 1 - runs[1][-1]["train_top1"], 1 - runs[0][-1]["train_top1"],
                 100 * (towers[0] - towers[1]))
    assert tests[1] >= tests[0]

    # seeds 1 and 2 of each, twenty epochs: the one-tower network's runs from the towers' connectivity
    paths = [connectivity / f"20-epochs-one-tower{seed}" for seed in SEEDS] + [
        folder / f"20-epochs-one-tower-no-conv3{seed}" for seed in SEEDS]
    runs = [compare_runs.run_records(str(path)) for path in paths]
    tests = [compare_runs.test_accuracy(str(path)) for path in paths]
    table = compare_runs.table(["one tower"] * 3 + ["one tower without conv3"] * 3, runs, tests, None)
    assert table in README and (folder / "compare-one-tower-20-epochs-three-seeds.txt").read_text().strip() == table
    assert all(len(records) == 20 for records in runs) and all((path / "curves.png").is_file() for path in paths)
    for seed in (1, 2):
        assert f"--seed {seed} --connectivity one-tower --out runs/20-epochs-one-tower-{seed}\n" in README
        assert (f"--seed {seed} --connectivity one-tower --leave-out conv3 \\\n"
                f"    --out runs/20-epochs-one-tower-no-conv3-{seed}\n") in README
    assert ("compare_runs.py runs/20-epochs-one-tower{,-1,-2} runs/20-epochs-one-tower-no-conv3{,-1,-2} --repeats 3 \\\n"
            '    --labels "one tower,one tower without conv3"\n') in README
    two_towers = [compare_runs.test_accuracy(str(path)) for path in TWENTY_EPOCH_DEFAULTS] + [
        compare_runs.test_accuracy(str(folder / f"20-epochs-no-conv3{seed}")) for seed in SEEDS]
    one, without = tests[:3], tests[3:]
    assert_shows(" ".join(sentence(r"With seed 1 the one-tower network without conv3 tests better than with it, ([\d.]+) "
                                   r"against ([\d.]+), and with seed 2 too, ([\d.]+) against ([\d.]+); over the three "
                                   r"seeds ([\d.]+) against ([\d.]+), each seed without conv3 at or above the same seed "
                                   r"with it, where over the same three seeds the towers without conv3 lose ([\d.]+) points")),
                 without[1], one[1], without[2], one[2], shown_mean(without), shown_mean(one),
                 100 * (shown_mean(two_towers[:3]) - shown_mean(two_towers[3:])))
    assert all(w >= o for w, o in zip(without, one)) and without[1] > one[1] and without[2] > one[2]
    spread = max(two_towers[:3]) - min(two_towers[:3])   # "far inside what the seeds spread over"
    assert 3 * abs(statistics.mean(without) - statistics.mean(one)) < spread
    assert 3 * abs(statistics.mean(two_towers[:3]) - statistics.mean(two_towers[3:])) < spread
    for path in paths[:3] + paths[5:]:
        assert layers_row(path, "relu1") is not None   # evaluate.py --layers on the run's checkpoint


def test_three_seeds_of_twenty_epochs_without_each_middle_conv_are_what_the_committed_runs_say():
    """Three seeds of twenty epochs without each middle conv: the table is compare_runs.py's of the
    committed runs (all five convs the default's, as twenty_epochs_changed finds them), and the
    paragraph's, the findings table's and --leave-out's help's figures are those runs'."""
    folder = RESULTS / "cpu-train-alexnet_small-fashion-mnist-middle-convs-2026-12-06"
    _, runs, tests = twenty_epochs_changed(tuple((f"--leave-out {conv}", f"no-{conv}", f"no {conv}")
                                                 for conv in models.MIDDLE_CONVS),
                                           "middle-convs-20-epochs", folder, "all five convs")
    default = tests[:3]
    without = {conv: tests[3 + 3 * i:6 + 3 * i] for i, conv in enumerate(models.MIDDLE_CONVS)}
    for picture in ("middle-convs-20-epochs", "middle-convs-20-epochs-three-seeds",
                    "middle-convs-20-epochs-validation-loss"):
        assert f"]({folder.relative_to(ROOT)}/{picture}.png)" in README
    assert_shows(" ".join(sentence(r"With seed 1, leaving conv3 out costs ([\d.]+) points \(([\d.]+) against ([\d.]+)\), "
                                   r"not ([\d.]+); leaving conv4 out costs ([\d.]+) \(([\d.]+)\), and leaving conv5 out "
                                   r"gains ([\d.]+) \(([\d.]+)\)")),
                 100 * (default[1] - without["conv3"][1]), without["conv3"][1], default[1],
                 100 * (default[0] - without["conv3"][0]), 100 * (default[1] - without["conv4"][1]),
                 without["conv4"][1], 100 * (without["conv5"][1] - default[1]), without["conv5"][1])
    assert default[2] == min(default) and all(seeds[2] > default[2] for seeds in without.values())
    assert_shows(" ".join(sentence(r"With seed 2, the default's lowest \(([\d.]+)\), every network without a middle conv "
                                   r"tests above the one with all five: ([\d.]+) without conv3, ([\d.]+) without conv4 "
                                   r"and ([\d.]+) without conv5")),
                 default[2], *(seeds[2] for seeds in without.values()))
    mean = {conv: shown_mean(seeds) for conv, seeds in without.items()}
    assert_shows(" ".join(sentence(r"Over the three seeds leaving conv3 out costs ([\d.]+) points \(([\d.]+) against "
                                   r"([\d.]+)\) and leaving conv4 out ([\d.]+) \(([\d.]+)\), and leaving conv5 out gains "
                                   r"([\d.]+) \(([\d.]+)\), each far less than the ([\d.]+) points over which the default "
                                   r"network's three seeds spread")),
                 100 * (shown_mean(default) - mean["conv3"]), mean["conv3"], shown_mean(default),
                 100 * (shown_mean(default) - mean["conv4"]), mean["conv4"], 100 * (mean["conv5"] - shown_mean(default)),
                 mean["conv5"], 100 * (max(default) - min(default)))
    assert mean["conv3"] < mean["conv4"] < shown_mean(default) < mean["conv5"]
    assert all(max(seeds) > min(default) for seeds in without.values())   # "no network has every seed below"
    two = [100 * (shown_mean(default[:2]) - shown_mean(seeds[:2])) for seeds in without.values()]
    assert min(two) > 0   # seeds 0 and 1 alone: each network without a middle conv below all five
    assert_shows(" ".join(sentence(r"below the one with all five, by ([\d.]+) to ([\d.]+) points; the third seed")),
                 min(two), max(two))
    last_error = [statistics.mean(1 - run[-1]["train_top1"] for run in runs[i:i + 3]) for i in (0, 3, 6, 9)]
    assert last_error[0] < min(last_error[1:])
    assert_shows(" ".join(sentence(r"fits its training images best \(training error ([\d.]+) in the last epoch, against "
                                   r"([\d.]+) to ([\d.]+)\), if only by ([\d.]+) over the one without conv5")),
                 last_error[0], min(last_error[1:]), max(last_error[1:]), last_error[3] - last_error[0])
    five = [statistics.mean(compare_runs_script().test_accuracy(str(path)) for path in paths) for paths in (
        [RESULTS / "cpu-train-alexnet_small-fashion-mnist-ablations-2026-12-05" / f"default-{seed}" for seed in range(3)],
        [folder / f"no-conv3-{seed}" for seed in range(3)])]
    assert_shows(sentence(r"conv3, which cost ([\d.]+) points after five epochs, costs the most, under a third"),
                 100 * (five[0] - five[1]))
    assert 100 * (shown_mean(default) - mean["conv3"]) < 100 * (five[0] - five[1]) / 3
    helped = re.search(r"where here conv3 cost ([\d.]+) points after 20 epochs, conv4 ([\d.]+) and conv5 none \(a gain "
                       r"of ([\d.]+)\), all within the seeds' spread \(three seeds' means\), and only conv3 cost after 5 "
                       r"\(([\d.]+), three seeds' mean\)", training_script_helps())   # --leave-out's
    assert_shows(" ".join(helped.groups()), 100 * (shown_mean(default) - mean["conv3"]),
                 100 * (shown_mean(default) - mean["conv4"]), 100 * (mean["conv5"] - shown_mean(default)),
                 100 * (five[0] - five[1]))

FINDINGS_HEADER = "| the paper (its section) | what it found | what the runs here found | where |"


def findings_rows(readme):
    """The rows of the table of the paper's findings, as the README writes them."""
    lines = readme.splitlines()
    return list(itertools.takewhile(lambda line: line.startswith("|"), lines[lines.index(FINDINGS_HEADER) + 2:]))


def figures_the_findings_table_does_not_find_in_its_sections(readme):
    """[(row, figure)] of each figure of the table of the paper's findings, the paper's or the runs',
    that none of the sections its row links to gives."""
    sections = {github_anchor(part.split("\n", 1)[0]): part
                for part in re.split(r"^## ", readme, flags=re.MULTILINE)[1:]}
    missing = []
    for row in findings_rows(readme):
        label, found, here, where = [cell.strip() for cell in row.strip().strip("|").split("|")]
        links = re.findall(r"\]\(#([^)]+)\)", where)
        assert links and all(link in sections for link in links), row
        figures_there = set(re.findall(r"\d+(?:\.\d+)?", "".join(sections[link] for link in links)))
        missing += [(label, figure) for figure in re.findall(r"\d+(?:\.\d+)?", found + " " + here)
                    if figure not in figures_there]
    return missing


def test_the_papers_findings_are_the_figures_of_the_sections_they_link_to():
    """The summary of the paper's findings quotes, in each row, figures that a section it links to gives
    (those sections' own tests tie them to the committed runs); a figure changed in the summary, or
    in the section alone, fails."""
    assert figures_the_findings_table_does_not_find_in_its_sections(README) == []
    rows = findings_rows(README)
    assert len(rows) == 12 and "(7)" in rows[-1]
    assert "[the paper's findings](#the-papers-findings-tried-on-the-small-alexnet)" in README   # contents
    changed = README.replace("(0.8828 without it against 0.9027)", "(0.8829 without it against 0.9027)")
    assert changed != README
    assert figures_the_findings_table_does_not_find_in_its_sections(changed) == [
        ("local response normalisation (3.3)", "0.8829")]
