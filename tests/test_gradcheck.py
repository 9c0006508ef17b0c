"""The gradient checker itself: it must fail on a wrong backward and see kinks for what they are;
its command line, python -m minicnn.gradcheck."""
import re

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from minicnn import Conv2D, Dense, ReLU, Tanh
from minicnn.gradcheck import check_layer, check_loss, numerical_gradient, rel_error
from minicnn.layers.lrn import LRN


class OffByAFactor(ReLU):
    def _backward(self, dout):
        return 1.001 * super()._backward(dout)


class OffTanh(Tanh):
    def _backward(self, dout):
        return 1.001 * super()._backward(dout)


class OffDense(Dense):
    def _backward(self, dout):
        return super()._backward(1.001 * dout)


class WrongLRN(LRN):
    """LRN whose backward forgets the cross-channel term: a classic mistake."""
    def _backward(self, dout):
        scale_pow = self._cache[3]
        return dout * scale_pow


def test_detects_a_small_error():
    x = np.random.default_rng(0).standard_normal((3, 4)) + 0.5
    result = check_layer(OffByAFactor(), x)
    assert not result.ok
    with pytest.raises(AssertionError, match="input: relative error"):
        result.assert_ok()


def test_detects_a_missing_term():
    x = np.random.default_rng(0).standard_normal((2, 5, 2, 2)) * 3
    assert not check_layer(WrongLRN(5, alpha=1.0, beta=0.75, k=1.0), x).ok
    assert check_layer(LRN(5, alpha=1.0, beta=0.75, k=1.0), x).ok


def test_detects_a_wrong_parameter_gradient():
    layer = Conv2D(2, 2, 3, dtype=np.float64, rng=np.random.default_rng(0))
    original = layer._backward

    def wrong(dout):
        dx = original(dout)
        layer.params["bias"].grad = layer.params["bias"].grad * 0.5
        return dx
    layer._backward = wrong
    result = check_layer(layer, np.random.default_rng(1).standard_normal((1, 2, 4, 4)))
    assert result.errors["bias"] > 0.1 and result.errors["weight"] < 1e-6
    rows = {row.split()[0]: row for row in str(result).splitlines()[1:]}   # a printed result says which fails
    assert rows["bias"].endswith("  FAILS (tolerance 1e-06)")
    assert not rows["weight"].endswith("FAILS (tolerance 1e-06)") and not rows["input"].endswith("1e-06)")


def test_kinks_are_detected_and_counted():
    x = np.array([[1e-9, -2e-9, 0.5, -0.5]])   # two inputs within h / 100 = 1e-7 of ReLU's kink
    _, kinks = numerical_gradient(lambda: np.maximum(x, 0), x, np.ones((1, 4)))
    np.testing.assert_array_equal(kinks, [[True, True, False, False]])
    result = check_layer(ReLU(), x)
    assert result.kinks["input"] == 2 and not result.ok   # half the tensor on kinks is too many
    assert result.errors["input"] < 1e-9 and not result.passes("input")
    assert str(result).splitlines()[1].endswith("  FAILS (kinks: more than 10% of it)")
    with pytest.raises(AssertionError, match="input: 2 of 4 elements sit on kinks, more than the 10% allowed"):
        result.assert_ok()


def test_a_few_kinks_are_allowed_up_to_the_fraction():
    """A tensor passes with up to ``max_kink_fraction`` (10%) of its elements on kinks, not more:
    the central difference there is off, but the other elements still check the gradient."""
    x = np.linspace(0.5, 1.5, 20).reshape(1, 20)
    for on_kinks, ok in ((1, True), (2, True), (3, False)):
        x[0, :on_kinks] = 1e-9                     # within h / 100 = 1e-7 of ReLU's kink
        result = check_layer(ReLU(), x)
        assert result.kinks["input"] == on_kinks and result.ok == ok and result.passes("input") == ok, on_kinks


def test_an_element_within_h_of_a_kink_takes_the_smaller_step():
    """An element whose steps of h straddle a kink is tried again with h / KINK_REFINE: a kink
    farther than that is then not straddled, and the element counts, with that step's exact
    central difference; one nearer stays on the kink. (A fused conv+ReLU of 4 biases, one output
    6.9e-6 from 0, failed the check with one bias of 4 on a kink: the example in test_fft.py.)"""
    x = np.array([[1e-6, -2e-6, 1e-9, 0.5]])
    grad, kinks = numerical_gradient(lambda: np.maximum(x, 0), x, np.ones((1, 4)))
    np.testing.assert_array_equal(kinks, [[False, False, True, False]])
    np.testing.assert_allclose(grad[0, [0, 1, 3]], [1, 0, 1], atol=1e-8)
    bias = np.array([[1e-6, 0.5, -0.5, 0.25]])   # one of four within h: no longer 25% on kinks
    result = check_layer(ReLU(), bias)
    assert result.kinks["input"] == 0 and result.ok


def test_a_kink_too_slight_for_the_tensor_is_tried_again_where_it_fails_an_element():
    """dL/dx of 1000 on one input sets the kink threshold at 1: two inputs with dL/dx 1 near
    ReLU's kink jump by less (0.6 and 0.9999) and are no kinks to ``numerical_gradient``, yet
    their central differences miss by half that, 0.3 and 0.5 of the tensor's floor of 1e-3 * 1000.
    ``check_layer`` tries each again with the step 1e-7: 4e-6 from the kink, it is exact then;
    1e-9 from it, it stays on the kink, counted. A backward off by 0.1% still fails. (A fused
    conv+ReLU's weight missed by 3e-3 so, drawn by the thorough profile: the example in
    test_fft.py.)"""
    x = np.array([0.5, 4e-6, 1e-9, 0.25, 0.75, -0.5, 1.5, 2.0, -1.0, 0.125])
    dout = np.array([1000.0] + [1.0] * 9)
    _, kinks = numerical_gradient(lambda: np.maximum(x, 0), x, dout)
    assert not kinks.any()
    result = check_layer(ReLU(), x, dout=dout)
    assert result.kinks["input"] == 1 and result.ok and result.errors["input"] < 1e-9
    assert not check_layer(OffByAFactor(), x, dout=dout).ok


def test_two_kinks_whose_jumps_cancel_are_seen_by_the_difference_moving_with_the_step():
    """A fused fc+ReLU of one input and two outputs (weights 1 and -1, dL/dy 1 and -1), both just
    on: dL/dx is 2, but the input's step of h meets both kinks, 4e-6 below it and 4.0001e-6 above,
    where the slope falls to 1 on either side. The one-sided differences agree to 1e-5 (no kink
    to see there) and the central difference is 1.4. With the step 1e-7 it is 2: it moved with
    the step, a kink's doing, and the check passes; a backward off by 0.1% still fails."""
    for layer_class, right in ((Dense, True), (OffDense, False)):
        layer = layer_class(1, 2, relu=True, dtype=np.float64)
        layer.params["weight"].data[:] = [[1.0], [-1.0]]
        layer.params["bias"].data[:] = [4e-6 - 0.5, 0.5 + 4.0001e-6]
        x, dout = np.array([[0.5]]), np.array([[1.0, -1.0]])
        numeric, kinks = numerical_gradient(lambda: layer.forward(x), x, dout)
        assert not kinks.any() and numeric[0, 0] == pytest.approx(1.4, abs=1e-4)
        result = check_layer(layer, x, dout=dout)
        assert result.ok == right and result.kinks["input"] == 0, str(result)


# drawn by the thorough profile: every output off, the gradients all 0, a wrong backward's too
@example(seed=3270851683, exponents=[-4.0], signs=[-1.0, -1.0, -1.0])
@given(seed=st.integers(0, 2 ** 32 - 1), exponents=st.lists(st.floats(-13, -4), min_size=1, max_size=3),
       signs=st.lists(st.sampled_from([-1.0, 1.0]), min_size=3, max_size=3))
def test_outputs_at_any_distance_from_the_kink_never_fail_a_right_backward(seed, exponents, signs):
    """Kinks where they hurt most: a fused fc+ReLU (3 x 6 -> 4) with up to three outputs put 1e-13
    to 1e-4 from ReLU's 0 (by their biases; each in a row and a column of its own, so that each
    element's steps meet one kink at most), at distances that each weight, input and bias scales
    differently, on either side of both steps; the fourth column kept on (bias 10), so that every
    tensor has gradients to get wrong. Whatever the steps straddle, a right backward never fails
    on its error (it may on its count of kinks, an element left out for each kink within 1e-7);
    one off by 0.1% always fails."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 6))
    for layer_class, right in ((Dense, True), (OffDense, False)):
        layer = layer_class(6, 4, relu=True, dtype=np.float64, rng=np.random.default_rng(seed))
        weight, bias = layer.params["weight"].data, layer.params["bias"].data
        rows, columns = rng.permutation(3), rng.permutation(4)
        for row, column, exponent, sign in zip(rows, columns, exponents, signs):
            bias[column] -= (x[row] @ weight[column] + bias[column]) - sign * 10.0 ** exponent
        bias[columns[3]] = 10.0
        result = check_layer(layer, x)
        if right:
            assert all(error <= result.tol for error in result.errors.values()), str(result)
        else:
            assert not result.ok, str(result)


class OffConv(Conv2D):
    def _backward(self, dout):
        return super()._backward(1.001 * dout)


@given(seed=st.integers(0, 2 ** 32 - 1), exponents=st.lists(st.floats(-7, -4), min_size=3, max_size=3),
       signs=st.lists(st.sampled_from([-1.0, 1.0]), min_size=3, max_size=3))
def test_a_conv_with_outputs_near_the_kink_in_every_channel_never_fails_a_right_backward(seed, exponents, signs):
    """A fused conv+ReLU (2 -> 3 channels, 3x3, padding 1, on 2 x 2 x 5 x 5) with one output of
    each channel put 1e-7 to 1e-4 from ReLU's 0 (by the channel's bias): an input's windows can
    hold two or three of them, whose jumps in the one-sided differences can cancel. A right
    backward never fails on its error (517 of 1000 such draws did before the check tried every
    failing element again); one off by 0.1% always fails."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2, 5, 5))
    places = [(rng.integers(0, 2), channel, rng.integers(0, 5), rng.integers(0, 5)) for channel in range(3)]
    before_relu = Conv2D(2, 3, 3, padding=1, dtype=np.float64, rng=np.random.default_rng(seed)).forward(x)
    for layer_class, right in ((Conv2D, True), (OffConv, False)):
        layer = layer_class(2, 3, 3, padding=1, relu=True, dtype=np.float64, rng=np.random.default_rng(seed))
        bias = layer.params["bias"].data
        for place, exponent, sign in zip(places, exponents, signs):
            bias[place[1]] -= before_relu[place] - sign * 10.0 ** exponent
        result = check_layer(layer, x)
        if right:
            assert all(error <= result.tol for error in result.errors.values()), str(result)
        else:
            assert not result.ok, str(result)


def test_a_kink_is_measured_against_the_slope():
    """A jump in the one-sided differences counts as a kink relative to the function's slope: a
    steep smooth function (whose differences differ by 2 h f'') has none, the same steepness
    with a kink in it has one."""
    x = np.array([[1e-9, 0.5, 1.0]])
    _, kinks = numerical_gradient(lambda: 1e4 * x ** 2, x, np.ones((1, 3)))
    assert not kinks.any()
    _, kinks = numerical_gradient(lambda: 1e4 * np.maximum(x, 0), x, np.ones((1, 3)))
    np.testing.assert_array_equal(kinks, [[True, False, False]])


def test_rel_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0, 2.0]), np.array([3.0, 4.0]), mask=np.array([False, False])) == 0.0   # nothing to compare
    assert rel_error(np.array([1.0]), np.array([1.1])) == pytest.approx(0.1 / 1.1)
    # an entry far below the tensor's scale is judged against 1e-3 * scale
    assert rel_error(np.array([100.0, 1e-9]), np.array([100.0, 2e-9])) == pytest.approx(1e-9 / 0.1)
    # and against ``floor`` where that is larger (what central differences resolve, over the tolerance)
    assert rel_error(np.array([100.0, 1e-9]), np.array([100.0, 2e-9]), floor=10.0) == pytest.approx(1e-9 / 10)
    assert rel_error(np.array([1.0]), np.array([1.1]), floor=1e-3) == pytest.approx(0.1 / 1.1)
    # an element's own floor (one that took a smaller step rounds more), masked with it
    a, n = np.array([100.0, 1e-9, 1e-9, 5.0]), np.array([100.0, 2e-9, 2e-9, 6.0])
    floors, counted = np.array([0.0, 10.0, 1.0, 0.0]), np.array([True, True, False, False])
    assert rel_error(a, n, mask=counted, floor=floors) == pytest.approx(1e-9 / 10)
    assert rel_error(a, n, mask=~counted, floor=floors) == pytest.approx(1 / 6)


def test_a_gradient_tiny_next_to_its_outputs_is_judged_on_what_central_differences_resolve():
    """A saturated tanh (inputs 3.16, 5.33 and -7.66: outputs near +-1, dL/dx 9e-4 and less): the
    central differences' rounding, about eps * |y| / h = 2e-11 an output, put a relative error of
    3.2e-6 on the smallest element (judged against 1e-3 of the largest) and failed a correct
    backward (drawn by the thorough profile, test_tanh.py). The check's floor, eps * sum|y * dout|
    / h over the tolerance, forgives that and no more: a backward off by 0.1% still fails."""
    x = 3 * np.random.default_rng(6).standard_normal(3)
    assert np.abs(x).min() > 3
    assert check_layer(Tanh(), x).ok
    result = check_layer(OffTanh(), x)
    assert not result.ok and result.errors["input"] > 5e-4


def test_an_element_that_takes_the_smaller_step_is_judged_against_its_rounding():
    """A fc+ReLU whose first output sits 2e-7 above the kink and the seven others at 1e4: every
    input's step of h straddles the kink, so each takes h / 100, whose central difference rounds
    100 times as much (eps * sum|y * dout| / step, every output moving). Judged against that, a
    right backward passes (of 40 draws, all, the largest error 1.6e-7, no kinks); judged against
    h's rounding, it failed in all 40. The largest error is the result's max_error."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        layer = Dense(4, 8, dtype=np.float64, rng=rng, relu=True)
        x = rng.standard_normal((1, 4))
        z = (x @ layer.params["weight"].data.T)[0]
        layer.params["bias"].data[...] = np.where(np.arange(8) == 0, 2e-7, 1e4) - z
        result = check_layer(layer, x, dout=np.ones((1, 8)))
        assert result.ok and result.kinks["input"] == 0, result
        assert result.max_error == max(result.errors.values()) > min(result.errors.values())


def test_needs_float64():
    for layer_dtype, x_dtype in ((np.float32, np.float32), (np.float32, np.float64), (np.float64, np.float32)):
        with pytest.raises(TypeError, match="needs float64"):
            check_layer(Conv2D(1, 1, 1, dtype=layer_dtype), np.zeros((1, 1, 2, 2), x_dtype))


def test_a_step_or_tolerance_of_the_wrong_kind_is_named():
    """h = 0 divided by zero; a negative h differenced backwards, to gradients of 0; a negative
    tolerance failed every check, a kink fraction over 1 passed any."""
    from minicnn.losses import SoftmaxCrossEntropy
    layer, x = Dense(3, 2, dtype=np.float64, rng=np.random.default_rng(0)), np.ones((2, 3))
    for who, check in (("check_layer", lambda **settings: check_layer(layer, x, **settings)),
                       ("check_loss", lambda **settings: check_loss(SoftmaxCrossEntropy(), x, np.array([0, 1]),
                                                                    **settings))):
        for settings, message in ((dict(h=0), "h must be a finite number > 0, got 0"),
                                  (dict(h=-1e-5), "h must be a finite number > 0, got -1e-05"),
                                  (dict(tol=-1), "tol must be a finite number > 0, got -1"),
                                  (dict(tol="1e-6"), "tol must be a finite number > 0, got '1e-6'")):
            with pytest.raises(ValueError, match=f"^{who}: {re.escape(message)}$"):
                check(**settings)
    with pytest.raises(ValueError, match=r"^check_layer: max_kink_fraction must be a number from 0 to 1, got 2$"):
        check_layer(layer, x, max_kink_fraction=2)
    with pytest.raises(ValueError, match=r"^central_differences: h must be a finite number > 0, got -1$"):
        numerical_gradient(lambda: x.sum(), x, h=-1)


def test_leaves_buffers_and_random_state_unchanged():
    from minicnn import BatchNorm2D, Dropout, Sequential
    model = Sequential([BatchNorm2D(2, dtype=np.float64), Dropout(0.3, seed=1)])
    x = np.random.default_rng(0).standard_normal((3, 2, 2, 2))
    check_layer(model, x).assert_ok()
    np.testing.assert_array_equal(model.state_dict()["0.running_mean"], 0)
    assert model.random_state()["1.calls"] == 0


# --- python -m minicnn.gradcheck ----------------------------------------------------------------

def test_the_command_checks_every_kind_of_layer_and_every_tensor(capsys):
    from minicnn.gradcheck import alexnet_checks, main
    assert main([]) == 0
    out = capsys.readouterr().out
    checks = alexnet_checks()
    names = [name for name, *_ in checks]
    assert len(names) == len(set(names)) == 21
    # a row per tensor: (check's name on its first row only) tensor, elements, kinks, rel. error
    rows = [match.groups() for match in re.finditer(r"^(\S+)? +(\S+) +(\d+) +(\d+) +(\d\.\d\de-\d\d)", out, re.M)]
    assert [row[0] for row in rows if row[0]] == names
    expected = [("input" if hasattr(layer, "named_params") else "logits",
                 *(dict(layer.named_params()) if hasattr(layer, "named_params") else {})) for _, _, layer, _ in checks]
    assert [row[1] for row in rows] == [tensor for tensors in expected for tensor in tensors]
    assert all(float(row[4]) < 1e-7 for row in rows)   # as the README says
    assert "passed on cpu: 21 checks, the largest relative error" in out and "FAILS" not in out
    largest, seconds = map(float, re.search(r"the largest relative error (\S+) \(tolerance 1e-06\), in (\S+) s$",
                                            out, re.M).groups())
    assert largest == pytest.approx(max(float(row[4]) for row in rows), rel=0.05) and 0 < seconds < 600


def test_the_command_checks_alexnets_settings():
    """The checks that the README and the table call AlexNet's have its layers' settings (the
    paper's kernel sizes, strides, paddings, groups, LRN constants and pooling), whatever their
    small channel counts."""
    from minicnn.gradcheck import alexnet_checks
    settings = {"conv1": "kernel_size=11x11, stride=4, padding=2)", "conv2": "kernel_size=5x5, padding=2, groups=2)",
                "conv3": "kernel_size=3x3, padding=1)", "conv4": "kernel_size=3x3, padding=1, groups=2)",
                "lrn": "LRN(size=5, alpha=0.0001, beta=0.75, k=2)", "maxpool": "MaxPool2D(kernel_size=3x3, stride=2)",
                "dropout": "Dropout(p=0.5)"}
    layers = {name: repr(layer) for name, _, layer, _ in alexnet_checks()}
    for name, setting in settings.items():
        assert layers[name].endswith(setting), (name, layers[name])


def test_the_command_names_a_wrong_backward_and_fails(monkeypatch, capsys):
    from minicnn.gradcheck import main
    right = ReLU._backward
    monkeypatch.setattr(ReLU, "_backward", lambda self, dout: 1.001 * right(self, dout))
    assert main(["--layers", "maxpool,relu"]) == 1
    out = capsys.readouterr().out
    relu_row = next(line for line in out.splitlines() if line.startswith("relu"))
    assert relu_row.endswith("max(x, 0)  FAILS (tolerance 1e-06)")
    assert "failed on cpu: 1 of 2 checks\n  relu: input: relative error" in out
    assert "maxpool" in out and out.count("FAILS") == 1


def test_the_command_checks_the_kernels(kernel_device, capsys):
    from minicnn.gradcheck import main
    # the network row runs the conv, ReLU, LRN, max-pool, dense and dropout kernels
    # and conv-winograd kernels/winograd.cu's transforms
    assert main(["--device", kernel_device, "--layers", "network,lrn+maxpool,softmax-xent,conv-winograd"]) == 0
    assert f"passed on {kernel_device}: 4 checks" in capsys.readouterr().out


def test_the_ffts_check_runs_on_the_cpu_alone(capsys):
    """conv-fft has no kernels: on the kernels' devices the command says it is not checked and
    checks the rest; asked alone there, it is refused."""
    from minicnn.gradcheck import main
    assert main(["--layers", "conv-fft"]) == 0
    assert "passed on cpu: 1 check," in capsys.readouterr().out
    assert main(["--device", "sim", "--layers", "conv-fft,relu"]) == 0
    out = capsys.readouterr().out
    assert out.count("not checked on sim: conv-fft (the CPU only") == 1 and "passed on sim: 1 check," in out
    with pytest.raises(SystemExit, match="conv-fft run on the CPU only .*nothing to check on sim"):
        main(["--device", "sim", "--layers", "conv-fft"])


def test_a_checks_input_does_not_depend_on_the_others_chosen(capsys):
    from minicnn.gradcheck import main
    main(["--layers", "network"])
    alone = capsys.readouterr().out
    main(["--layers", "conv1,network"])
    after_conv1 = capsys.readouterr().out
    assert alone.split("network", 1)[1].split("\n\n")[0] == after_conv1.split("network", 1)[1].split("\n\n")[0]


@pytest.mark.parametrize("argv, message", [
    (["--layers", "conv1,pool9"], "argument --layers: expected names among conv1, conv2"),
    (["--layers", ","], "got none"),
    (["--tol", "0"], "argument --tol: expected a number > 0, got '0'"),
    (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
])
def test_the_command_refuses_bad_flags(argv, message, capsys):
    from minicnn.gradcheck import main
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_the_command_runs_as_a_module_without_warnings():
    # minicnn imports minicnn.gradcheck only when it is used, so that running it as a module does
    # not find it imported already (Python warns of that, -W error makes the warning an error)
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-W", "error", "-m", "minicnn.gradcheck", "--layers", "relu"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and "passed on cpu: 1 check," in result.stdout
    import minicnn
    assert minicnn.gradcheck.check_layer is check_layer
