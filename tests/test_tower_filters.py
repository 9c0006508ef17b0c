"""minicnn.tower_filters: each tower's conv1 filters (the paper's Figure 3), against loops over
the definitions in float64 and an exact count of every halving."""
import itertools
import subprocess
import sys

import numpy as np
import pytest

from minicnn import models, plots, tower_filters, towers
from minicnn.plots import filter_grid, tower_filters_figure
from minicnn.tower_filters import (colour_shares, halvings_test, pooled_halvings_test, spatial_frequencies,
                                   start_cosines)
from tests.fake_data import write_small_checkpoint

CLASSES = [f"class {i}" for i in range(10)]


def test_spatial_frequency_is_the_power_weighted_mean_of_the_dft_frequencies():
    """Against the DFT written as its sum, the power summed over the channels; a flat filter
    has frequency 0 and a checkerboard the highest, (0.5, 0.5) cycles per pixel."""
    w = np.random.default_rng(0).standard_normal((5, 3, 5, 4))
    expected = []
    for f in w:
        power, weighted = 0.0, 0.0
        for ky, kx in itertools.product(range(5), range(4)):
            p = 0.0
            for channel in f:
                p += abs(sum(channel[y, x] * np.exp(-2j * np.pi * (ky * y / 5 + kx * x / 4))
                             for y in range(5) for x in range(4))) ** 2
            fy, fx = (ky if ky <= 2 else ky - 5) / 5, (kx if kx < 2 else kx - 4) / 4   # numpy's order of frequencies
            power, weighted = power + p, weighted + p * np.hypot(fy, fx)
        expected.append(weighted / power)
    np.testing.assert_allclose(spatial_frequencies(w), expected, rtol=1e-12)
    flat, board = np.ones((1, 1, 4, 4)), (-1.0) ** np.add.outer(np.arange(4), np.arange(4))[None, None]
    np.testing.assert_allclose(spatial_frequencies(np.concatenate([flat, board])), [0.0, np.sqrt(0.5)], atol=1e-12)


def test_colour_share_is_the_energy_off_the_channels_mean():
    """0 for a filter whose channels are alike (and on one channel), 1 for channels that sum to
    0 at every pixel, and the definition's loop in between."""
    rng = np.random.default_rng(1)
    pattern = rng.standard_normal((5, 5))
    grey = np.stack([pattern] * 3)[None]
    opponent = np.stack([pattern, -pattern, 0 * pattern])[None]
    np.testing.assert_allclose(colour_shares(np.concatenate([grey, opponent])), [0.0, 1.0], atol=1e-12)
    assert colour_shares(rng.standard_normal((4, 1, 3, 3))).tolist() == [0.0] * 4
    w = rng.standard_normal((3, 3, 5, 5))
    expected = [sum((f[c, y, x] - f[:, y, x].mean()) ** 2 for c in range(3) for y in range(5) for x in range(5))
                / (f ** 2).sum() for f in w]
    np.testing.assert_allclose(colour_shares(w), expected, rtol=1e-12)


def test_the_cosine_to_the_start_is_each_filters_against_its_own():
    """Against the sums written out; 1 for a filter left as it was or only scaled, -1 negated."""
    rng = np.random.default_rng(3)
    w, w0 = rng.standard_normal((2, 6, 3, 5, 5))
    expected = [(a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()) for a, b in zip(w, w0)]
    np.testing.assert_allclose(start_cosines(w, w0), expected, rtol=1e-12)
    np.testing.assert_allclose(start_cosines(np.concatenate([w0[:2], 3 * w0[2:4], -w0[4:]]), w0),
                               [1, 1, 1, 1, -1, -1], rtol=1e-12)
    with pytest.raises(ValueError, match=r"start_cosines: the filters \(6, 3, 5, 5\) and their start \(6, 1, 5, 5\)"):
        start_cosines(w, w0[:, :1])


def test_the_halvings_test_agrees_with_every_halving_counted():
    """p approaches the share of all the halvings (20 of 6 values) that differ at least as much
    as the first half from the second; two halves apart gives the smallest p its draws allow."""
    values = np.array([0.31, 0.35, 0.29, 0.40, 0.38, 0.36])
    difference, p = halvings_test(values, draws=40000)
    halvings = [np.array(h) for h in itertools.combinations(range(6), 3)]
    differences = [abs(values[h].mean() - np.delete(values, h).mean()) for h in halvings]
    assert difference == pytest.approx(abs(values[:3].mean() - values[3:].mean()), rel=1e-12)
    exact = np.mean([d >= difference * (1 - 1e-9) for d in differences])
    assert exact == 0.1 and p == pytest.approx(exact, abs=0.005)   # 2 of the 20: the towers and their swap
    apart = np.r_[np.zeros(12), np.ones(12)]   # two of C(24, 12) = 2.7 million halvings differ by 1
    assert halvings_test(apart, draws=999) == (1.0, 0.001)
    assert halvings_test(values, draws=500, seed=4) == halvings_test(values, draws=500, seed=4)
    # two filters, one a tower: every halving is the towers' or their swap, p = 1
    assert halvings_test(np.array([0.25, 0.75]), draws=99) == (0.5, 1.0)
    for bad in (np.zeros(5), np.zeros((2, 2)), np.zeros(0)):
        with pytest.raises(ValueError, match="halvings_test: expected an even number"):
            halvings_test(bad)


def test_the_pooled_halvings_test_agrees_with_every_pair_of_halvings_counted():
    """Two runs (6 and 4 values): p approaches the share of the 20 x 6 pairs of halvings, one of
    each run, whose differences sum to at least the towers'; one run is halvings_test's, draw for
    draw; a run whose split is tower 1's counts as one whose split is tower 0's."""
    first, second = np.array([0.31, 0.35, 0.29, 0.40, 0.38, 0.36]), np.array([0.52, 0.50, 0.41, 0.47])
    difference, p = pooled_halvings_test([first, second], draws=40000)
    towers = abs(first[:3].mean() - first[3:].mean()) + abs(second[:2].mean() - second[2:].mean())
    assert difference == pytest.approx(towers, rel=1e-12)

    def halved(values):
        return [abs(values[list(h)].mean() - np.delete(values, h).mean())
                for h in itertools.combinations(range(len(values)), len(values) // 2)]
    exact = np.mean([a + b >= towers * (1 - 1e-9) for a in halved(first) for b in halved(second)])
    assert p == pytest.approx(exact, abs=0.006) and 0.01 < exact < 0.5
    assert pooled_halvings_test([first], draws=700, seed=3) == halvings_test(first, draws=700, seed=3)
    swapped = np.r_[second[2:], second[:2]]   # with 4 values, every halving maps to itself or its complement
    assert pooled_halvings_test([first, swapped], draws=700) == pooled_halvings_test([first, second], draws=700)
    with pytest.raises(ValueError, match="pooled_halvings_test: expected the values of one run or more"):
        pooled_halvings_test([])
    with pytest.raises(ValueError, match="pooled_halvings_test: expected an even number"):
        pooled_halvings_test([first, np.zeros(3)])


def test_conv1_of_the_split_network_is_the_grouped_networks_in_its_order():
    grouped = models.alexnet_small(width=8, lrn_groups=2, seed=5)
    split = towers.two_tower(grouped)
    np.testing.assert_array_equal(tower_filters.conv1_weight(split), grouped["conv1"].params["weight"].data)
    with pytest.raises(ValueError, match="no layer named conv1"):
        tower_filters.conv1_weight(models.alexnet_owt(num_classes=3))


def test_the_command_line_reports_each_run_and_draws_the_towers(tmp_path):
    """Two checkpoints, the two towers' and one tower's (the control), give a table each, with
    the figures the functions give, of the trained filters and of those the run's recorded seed
    starts from; --out draws them; a file that is no checkpoint is one line."""
    write_small_checkpoint(tmp_path / "towers.npz", CLASSES, start_seed=6)
    write_small_checkpoint(tmp_path / "one.npz", CLASSES, seed=4, connectivity="one-tower")
    picture = tmp_path / "towers.png"
    result = subprocess.run([sys.executable, "-m", "minicnn.tower_filters", str(tmp_path / "towers.npz"),
                             str(tmp_path / "one.npz"), "--draws", "200", "--out", str(picture)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    weight = models.alexnet_small(width=4, seed=3)["conv1"].params["weight"].data
    first, second, difference, p = tower_filters.rows(weight, draws=200)[0][1:]
    assert "towers.npz (two towers): conv1's 4 filters of 1x5x5\n" in result.stdout
    start = models.alexnet_small(width=4, seed=6)["conv1"].params["weight"].data
    assert f"spatial frequency    {first:.4f}   {second:.4f}     {difference:.4f}  {p:.4f}\n" in result.stdout
    started = tower_filters.rows(start, draws=200)[0][1:]
    assert "  at the start       {:.4f}   {:.4f}     {:.4f}  {:.4f}\n".format(*started) in result.stdout
    assert started[:2] != (first, second)   # the seed recorded, not the trained weights
    cosines = start_cosines(weight, start)
    assert "cosine to start    {:8.4f} {:8.4f} {:10.4f}  {:.4f}\n".format(
        cosines[:2].mean(), cosines[2:].mean(), *halvings_test(cosines, draws=200)) in result.stdout
    assert "one.npz (one-tower: halves with no towers, a control): conv1's 4 filters" in result.stdout
    assert result.stdout.count("(one input channel: no colour to share)") == 2 and picture.stat().st_size > 0
    (tmp_path / "notes.npz").write_text("not a checkpoint")
    result = subprocess.run([sys.executable, "-m", "minicnn.tower_filters", str(tmp_path / "notes.npz")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    write_small_checkpoint(tmp_path / "odd.npz", CLASSES, width=6, connectivity="one-tower-half")   # 3 filters
    result = subprocess.run([sys.executable, "-m", "minicnn.tower_filters", str(tmp_path / "odd.npz")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "odd.npz: conv1 has 3 filters, which do not halve" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "minicnn.tower_filters", str(tmp_path / "towers.npz"), "--out",
                             str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0 and f"error: --out {tmp_path}: a folder, not a file" in result.stderr


def test_the_start_is_built_from_a_training_runs_recorded_seed_only():
    """train_alexnet.py's record gives the network of its seed, towers and width as recorded; a
    fine-tuning run's (which started from other weights) or one without its seed gives None."""
    architecture = dict(name="alexnet_small", num_classes=10, in_channels=3, width=8, input_size=28)
    start = tower_filters.start_conv1(dict(script="train_alexnet.py", seed=7, architecture=architecture), "run.npz")
    np.testing.assert_array_equal(start, models.alexnet_small(in_channels=3, width=8, seed=7)["conv1"].params[
        "weight"].data)
    assert tower_filters.start_conv1(dict(script="finetune.py", seed=7, architecture=architecture), "run.npz") is None
    assert tower_filters.start_conv1(dict(script="train_alexnet.py", architecture=architecture), "run.npz") is None


def test_several_runs_of_a_kind_are_also_tested_together(tmp_path, capsys, monkeypatch):
    """Two colour runs of two towers get a pooled line per figure, pooled_halvings_test's over
    their filters and over those they started from; the one control run gets none. The figure
    names each run by its file, or by its folder where the file is a run's checkpoint.npz."""
    paths = [tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c" / "checkpoint.npz"]
    paths[2].parent.mkdir()
    for path, seed, connectivity in zip(paths, (3, 5, 4), ("towers", "towers", "one-tower")):
        write_small_checkpoint(path, CLASSES, seed=seed, start_seed=seed + 10, in_channels=3,
                               connectivity=connectivity)
    drawn = []
    monkeypatch.setattr(plots, "save_tower_filters", lambda weights, out: drawn.extend(label for label, _ in weights))
    tower_filters.main([str(path) for path in paths] + ["--draws", "300", "--out", str(tmp_path / "towers.png")])
    assert drawn == ["a.npz (two towers)", "b.npz (two towers)", "c (one-tower)"]
    printed = capsys.readouterr().out

    def conv1(seed):
        return models.alexnet_small(width=4, in_channels=3, seed=seed)["conv1"].params["weight"].data
    for name, figure in (("spatial frequency", spatial_frequencies), ("colour share", colour_shares)):
        difference, p = pooled_halvings_test([figure(conv1(seed)) for seed in (3, 5)], draws=300)
        at_start = pooled_halvings_test([figure(conv1(seed)) for seed in (13, 15)], draws=300)
        assert (f"2 runs of two towers, pooled: {name}: the towers' differences sum to {difference:.4f}, p = {p:.4f}; "
                "at the start {:.4f}, p = {:.4f} (300 random halvings of every run)\n".format(*at_start)) in printed
    assert printed.count(", pooled: ") == 2 and "control" in printed


def test_grey_filters_have_no_colour_row_and_a_start_is_pooled_only_where_every_run_has_one():
    """One input channel: spatial frequency alone, in a run's rows and in the pooled lines; the
    filters at the start are pooled only when every run gives them (a fine-tuned run does not)."""
    grey = [models.alexnet_small(width=4, seed=seed)["conv1"].params["weight"].data for seed in (3, 5)]
    assert [row[0] for row in tower_filters.rows(grey[0], draws=50)] == ["spatial frequency"]
    for starts in (None, [grey[1], None]):
        printed = tower_filters.pooled_report(grey, "2 runs", draws=50, starts=starts)
        assert printed.count("\n") == 0 and "2 runs, pooled: spatial frequency: " in printed
        assert "at the start" not in printed
    assert "; at the start " in tower_filters.pooled_report(grey, "2 runs", draws=50, starts=grey[::-1])


def test_the_figure_draws_each_towers_half_in_its_panel():
    weight = np.random.default_rng(2).standard_normal((8, 3, 5, 5))
    fig = tower_filters_figure([("run a", weight), ("run b", weight[:, :1])])
    assert len(fig.axes) == 4
    assert [ax.get_title().splitlines()[-1] for ax in fig.axes] == ["tower 0: filters 0-3", "tower 1: filters 4-7"] * 2
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), filter_grid(weight[4:]))
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), filter_grid(weight[:4, :1]))
