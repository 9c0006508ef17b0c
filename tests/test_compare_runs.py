"""examples/compare_runs.py, plots.training_errors_figure and plots.validation_losses_figure: runs
side by side (the paper's Figure 1): the table's figures from the runs' files, the epochs to a
threshold, the figures' lines, and the refusals of what is not a run."""
import json
import os
import sys

import pytest
from PIL import Image

from minicnn.plots import training_errors_figure, validation_losses_figure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import compare_runs  # noqa: E402

FAST = [0.75, 0.875, 0.9375, 0.96875]      # training top-1 per epoch: errors 0.25, 0.125, 0.0625, 0.03125
SLOW = [0.5, 0.625, 0.75, 0.875]           # errors 0.5, 0.375, 0.25, 0.125


def write_run(folder, top1, test_top1=None, validated=True, val_losses=None):
    os.makedirs(folder)
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        for epoch, acc in enumerate(top1, 1):
            record = dict(epoch=epoch, train_loss=1 - acc, train_top1=acc)
            if validated:
                record.update(val_loss=val_losses[epoch - 1] if val_losses else 1.0, val_top1=acc - 0.03125)
            f.write(json.dumps(record) + "\n")
    if test_top1 is not None:
        with open(os.path.join(folder, "test_metrics.json"), "w") as f:
            json.dump(dict(top1=test_top1, loss=0.5), f)
    return str(folder)


def test_the_table_gives_each_runs_figures_and_the_epochs_to_the_threshold(tmp_path, capsys):
    fast = write_run(tmp_path / "relu", FAST, test_top1=0.9)
    slow = write_run(tmp_path / "tanh", SLOW)   # not yet tested
    out = tmp_path / "figure" / "figure1.png"
    compare_runs.main([fast, slow, "--labels", "ReLU, tanh", "--threshold", "0.125", "--out", str(out)])
    assert capsys.readouterr().out.splitlines() == [
        "| run | epochs | training error, epoch 1 | training error, last epoch | val. acc. | test acc. | "
        "epochs to 12.5% training error |",
        "|---|---|---|---|---|---|---|",
        "| ReLU | 4 | 0.2500 | 0.0312 | 0.9375 | 0.9000 | 2 |",
        "| tanh | 4 | 0.5000 | 0.1250 | 0.8438 | - | 4 (2.0x) |",
        f"written: {out}"]
    with Image.open(out) as picture:
        assert picture.size == (600, 450)


def test_without_labels_or_threshold_the_folders_name_the_runs(tmp_path, capsys):
    fast = write_run(tmp_path / "a", FAST, validated=False)
    slow = write_run(tmp_path / "b", SLOW)
    compare_runs.main([fast, slow + os.sep, "--threshold", "0.01"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "| a | 4 | 0.2500 | 0.0312 | - | - | not in 4 |"
    assert lines[3] == "| b | 4 | 0.5000 | 0.1250 | 0.8438 | - | not in 4 |"
    compare_runs.main([fast])
    assert capsys.readouterr().out.splitlines()[2] == "| a | 4 | 0.2500 | 0.0312 | - | - |"


def test_the_figure_draws_each_runs_training_error_solid_then_dashed():
    runs = [("ReLU", [[dict(epoch=e, train_top1=a) for e, a in enumerate(FAST, 1)]]),
            ("tanh", [[dict(epoch=e, train_top1=a) for e, a in enumerate(SLOW, 1)]])]
    (ax,) = training_errors_figure(runs, threshold=0.25).axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines) == ["ReLU", "tanh", "25% error"]
    assert list(lines["ReLU"].get_xdata()) == [1, 2, 3, 4]
    assert list(lines["ReLU"].get_ydata()) == [0.25, 0.125, 0.0625, 0.03125]
    assert list(lines["tanh"].get_ydata()) == [0.5, 0.375, 0.25, 0.125]
    assert (lines["ReLU"].get_linestyle(), lines["tanh"].get_linestyle()) == ("-", "--")
    assert list(lines["25% error"].get_ydata()) == [0.25, 0.25]
    assert {line.get_color() for line in ax.get_lines()[:2]} == {"black"} and not ax.collections   # no bands
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epochs", "training error rate")
    assert ax.get_ylim()[0] == 0
    (ax,) = training_errors_figure(runs[:1]).axes
    assert [line.get_label() for line in ax.get_lines()] == ["ReLU"]


@pytest.mark.parametrize("folder, metrics, message", [
    (False, None, "error: {run}: no such folder"),
    (True, None, "error: {run} holds no metrics.jsonl: name the folder a training run wrote (its --out)"),
    (True, "", "error: {run}/metrics.jsonl: no epoch records with a training accuracy in it"),
    (True, '{"epoch": 1, "val_top1": 0.5}\n', "error: {run}/metrics.jsonl: no epoch records with a training accuracy"),
    (True, '{"epoch": 1, "tr', "error: {run}/metrics.jsonl: unreadable ("),
])
def test_what_is_not_a_run_is_named(tmp_path, folder, metrics, message):
    run = tmp_path / "run"
    if folder:
        run.mkdir()
    if metrics is not None:
        (run / "metrics.jsonl").write_text(metrics)
    with pytest.raises(SystemExit) as stop:
        compare_runs.main([str(run)])
    assert str(stop.value.code).startswith(message.format(run=run))


@pytest.mark.parametrize("argv, message", [
    (["--labels", "ReLU"], "--labels names 1 runs (ReLU), and 2 are given: give one name per run"),
    (["--threshold", "25"], "argument --threshold: expected an error rate between 0 and 1 (0.25 for 25%), got '25'"),
    (["--threshold", "a quarter"], "argument --threshold: expected an error rate between 0 and 1"),
])
def test_bad_flags_are_refused_naming_them(tmp_path, capsys, argv, message):
    runs = [write_run(tmp_path / "a", FAST), write_run(tmp_path / "b", SLOW)]
    with pytest.raises(SystemExit) as stop:
        compare_runs.main(runs + argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_an_unwritable_figure_is_refused_before_the_table(tmp_path, capsys):
    run = write_run(tmp_path / "a", FAST)
    with pytest.raises(SystemExit) as stop:
        compare_runs.main([run, "--out", str(tmp_path)])
    assert stop.value.code == f"error: --out {tmp_path}: a folder, not a file: name a file in it"
    assert capsys.readouterr().out == ""


def test_repeats_of_a_setting_make_one_row_of_their_means_and_ranges(tmp_path, capsys):
    """Runs of one label are repeats (other seeds): one row, the training errors' means, the
    validation and test accuracies' means with their lowest and highest, the threshold's epoch
    from the mean training error; the figure draws one line per setting, its range shaded."""
    a = write_run(tmp_path / "a0", FAST, test_top1=0.875)
    b = write_run(tmp_path / "a1", [0.5, 0.875, 0.875, 0.9375], test_top1=0.9375)
    c = write_run(tmp_path / "b0", SLOW, test_top1=0.75)
    out = tmp_path / "figure.png"
    compare_runs.main([a, b, c, "--labels", "LRN,LRN,plain", "--threshold", "0.125", "--out", str(out)])
    assert capsys.readouterr().out.splitlines()[:4] == [
        "| run | runs | epochs | training error, epoch 1 | training error, last epoch | val. acc. | test acc. | "
        "epochs to 12.5% training error |",
        "|---|---|---|---|---|---|---|---|",
        # errors (0.25 + 0.5) / 2, (0.03125 + 0.0625) / 2; val. (0.9375 + 0.90625) / 2; 12.5% at epoch 2
        "| LRN | 2 | 4 | 0.3750 | 0.0469 | 0.9219 (0.9062-0.9375) | 0.9062 (0.8750-0.9375) | 2 |",
        "| plain | 1 | 4 | 0.5000 | 0.1250 | 0.8438 | 0.7500 | 4 (2.0x) |"]
    repeats = [compare_runs.run_records(a), compare_runs.run_records(b)]
    (ax,) = training_errors_figure([("LRN", repeats), ("plain", [compare_runs.run_records(c)])]).axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["LRN"].get_ydata()) == [0.375, 0.125, 0.09375, 0.046875]
    assert lines["LRN"].get_color() != lines["plain"].get_color()   # colours, not black, where bands are drawn
    (band,) = ax.collections   # the repeated setting's range, lowest to highest error
    assert band.get_paths()[0].vertices[:, 1].max() == 0.5 and band.get_paths()[0].vertices[:, 1].min() == 0.03125


def test_repeats_takes_the_runs_n_at_a_time_as_one_setting(tmp_path, capsys):
    runs = [write_run(tmp_path / name, top1, test_top1=0.5) for name, top1 in
            (("a0", FAST), ("a1", SLOW), ("b0", SLOW), ("b1", SLOW))]
    compare_runs.main(runs + ["--repeats", "2", "--labels", "LRN,plain"])
    named = capsys.readouterr().out
    compare_runs.main(runs + ["--labels", "LRN,LRN,plain,plain"])
    assert capsys.readouterr().out == named
    assert "| LRN | 2 | 4 | 0.3750 |" in named and "| plain | 2 | 4 | 0.5000 |" in named
    compare_runs.main(runs + ["--repeats", "2"])   # no labels: each setting named by its first run's folder
    assert "| a0 | 2 |" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--repeats", "3"], "--repeats 3 takes the runs 3 at a time, and 4 are given: give 3 runs of each setting"),
    (["--repeats", "2", "--labels", "LRN"], "--labels names 1 settings (LRN), and 2 are given (4 runs, 2 a "
                                            "setting): give one name per setting"),
    (["--repeats", "0"], "argument --repeats: expected an integer >= 1, got '0'"),
])
def test_repeats_that_do_not_divide_the_runs_are_refused(tmp_path, capsys, argv, message):
    runs = [write_run(tmp_path / f"r{i}", FAST) for i in range(4)]
    with pytest.raises(SystemExit) as stop:
        compare_runs.main(runs + argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_repeats_of_other_lengths_are_refused(tmp_path):
    short = write_run(tmp_path / "short", FAST[:2])
    long = write_run(tmp_path / "long", FAST)
    with pytest.raises(SystemExit) as stop:
        compare_runs.main([short, long, "--labels", "LRN,LRN"])
    assert stop.value.code == (f"error: the runs named LRN ({short}, {long}) are repeats of one setting and ran 2 "
                               f"and 4 epochs: compare repeats of as many epochs, or name the runs apart (--labels)")
    compare_runs.main([short, long, "--labels", "short,long"])   # apart, they compare


def test_the_validation_loss_figure_draws_each_settings_mean_and_marks_its_lowest(tmp_path, capsys):
    """--curve validation-loss: one line per setting at its repeats' mean validation loss, their
    range shaded, a marker at the mean's lowest epoch; the table is the one --curve training-error
    prints."""
    a = write_run(tmp_path / "a0", FAST, test_top1=0.875, val_losses=[0.5, 0.25, 0.375, 0.5])
    b = write_run(tmp_path / "a1", SLOW, test_top1=0.75, val_losses=[0.75, 0.5, 0.25, 0.375])
    c = write_run(tmp_path / "b0", SLOW, test_top1=0.75, val_losses=[0.5, 0.375, 0.25, 0.125])
    out = tmp_path / "losses.png"
    compare_runs.main([a, b, c, "--labels", "LRN,LRN,plain", "--curve", "validation-loss", "--out", str(out)])
    printed = capsys.readouterr().out
    compare_runs.main([a, b, c, "--labels", "LRN,LRN,plain"])
    assert printed == capsys.readouterr().out + f"written: {out}\n"
    assert Image.open(out).size == (600, 450)
    repeats = [compare_runs.run_records(a), compare_runs.run_records(b)]
    (ax,) = validation_losses_figure([("LRN", repeats), ("plain", [compare_runs.run_records(c)])]).axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines[:2]] == ["LRN", "plain"]
    assert list(lines[0].get_ydata()) == [0.625, 0.375, 0.3125, 0.4375]   # each epoch's mean of the two
    assert list(lines[1].get_ydata()) == [0.5, 0.375, 0.25, 0.125]
    markers = [(list(line.get_xdata()), list(line.get_ydata()), line.get_color()) for line in lines[2:]]
    assert markers == [([3], [0.3125], lines[0].get_color()), ([4], [0.125], lines[1].get_color())]
    (band,) = ax.collections
    assert band.get_paths()[0].vertices[:, 1].max() == 0.75 and band.get_paths()[0].vertices[:, 1].min() == 0.25
    assert ax.get_title() == "Validation loss per epoch"


def test_the_validation_loss_figure_refuses_runs_without_one_and_a_threshold(tmp_path, capsys):
    validated, unvalidated = write_run(tmp_path / "a", FAST), write_run(tmp_path / "b", SLOW, validated=False)
    with pytest.raises(SystemExit) as stop:
        compare_runs.main([validated, unvalidated, "--curve", "validation-loss"])
    assert stop.value.code == (f"error: --curve validation-loss: {unvalidated} held out no validation images and "
                               f"recorded no validation loss: draw --curve training-error (the default)")
    with pytest.raises(SystemExit) as stop:
        compare_runs.main([validated, "--curve", "validation-loss", "--threshold", "0.25"])
    assert stop.value.code == 2 and ("--threshold is a training error rate, drawn on the training-error figure; the "
                                     "figure asked for is --curve validation-loss: drop one of them"
                                     ) in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        compare_runs.main([validated, "--curve", "accuracy"])
    assert stop.value.code == 2 and "argument --curve: invalid choice: 'accuracy'" in capsys.readouterr().err
