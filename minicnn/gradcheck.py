"""Numerical gradient checking: the one way minicnn checks a backward pass.

``check_layer(layer, x)`` compares a layer's analytic gradients (of its input and of every
parameter) with central differences in float64 and returns a :class:`GradcheckResult`:

    result = check_layer(Conv2D(3, 4, 3, dtype=np.float64), x)
    print(result)          # one row per tensor: relative error, elements skipped at kinks
    result.assert_ok()     # raises AssertionError naming the worst tensor

The scalar that is differentiated is ``sum(layer.forward(x) * dout)`` for a random ``dout``, so
one check covers every output. The random streams of the layer (dropout) are restored before
every evaluation, so each one sees the same mask (Caffe re-seeds for the same reason).

Kinks: where a ReLU input or a max-pool tie lies within ``h`` of the evaluation point, the
function is not differentiable there and central differences mean nothing. Such elements are
detected numerically (the forward and backward one-sided differences disagree) and tried again
with a step of ``h / KINK_REFINE``, which straddles only a kink nearer than that; those that still
sit on one are excluded from the error and counted. A kink too slight next to the tensor's largest
slope to be seen so, or two whose jumps cancel, can still move an element's central difference past
the tolerance: ``check_layer`` and ``check_loss`` try every element that fails again with the
smaller step, and where its central difference moves with the step, a kink made the miss, not the
backward (a wrong backward's differences stay put), and the smaller step's is taken. A check in
which more than ``max_kink_fraction`` of a tensor sits on kinks fails, so that kinks can never hide
a wrong gradient wholesale. (Without the second step, a layer of 4 biases with a ReLU fused in
failed whenever one of its outputs lay within h of 0: one bias of 4 on a kink, 25%.)

Relative error of each element: |a - n| / max(|a|, |n|, floor), floor = 1e-3 * max(|a|, |n|) over
the tensor (so that elements near zero are judged on the tensor's scale, as Caffe's checker does
with its max(..., 1)); the reported error is the maximum over elements. ``check_layer`` and
``check_loss`` raise the floor to what a central difference can resolve, over the tolerance: its
rounding error is about eps * sum|y * dout| / h (eps = 2.2e-16, y the outputs), so a tensor whose
gradient is tiny next to the outputs it moves (a saturated tanh's: 3 inputs of |x| > 3, outputs
near +-1, dL/dx below 1e-3) is judged on that absolute scale, where the rounding alone had
failed a correct backward.

``check_loss(loss, logits, labels)`` does the same for a loss's gradient of its logits.

From a shell, every kind of layer with AlexNet's settings, on small inputs, one table:

    python -m minicnn.gradcheck                  # the NumPy layers
    python -m minicnn.gradcheck --device cuda    # minicnn's CUDA kernels, in float64 (sim: simulated)
"""
import argparse
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from minicnn.arguments import non_negative_int, positive_float
from minicnn.backend import get_array_module, to_numpy
from minicnn.layers.base import check_number


def relative_errors(analytic, numeric, floor=0.0):
    """Per element, |a - n| / max(|a|, |n|, 1e-3 * scale, floor), scale = max(|a|, |n|) over all
    of them; ``floor`` is a number or an array of their shape. Both arrays float64, non-empty."""
    scale = max(np.abs(analytic).max(), np.abs(numeric).max(), 1e-300)
    denom = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), np.maximum(1e-3 * scale, floor))
    return np.abs(analytic - numeric) / denom


def rel_error(analytic, numeric, mask=None, floor=0.0):
    """Max over elements of |a - n| / max(|a|, |n|, 1e-3 * scale, floor), scale = max(|a|, |n|)
    overall.

    ``mask`` (bool, same shape) selects the elements that count; all of them by default. ``floor``
    is a number or an array of the same shape (an element's own).
    """
    a = np.asarray(to_numpy(analytic), dtype=np.float64)
    n = np.asarray(to_numpy(numeric), dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {n.shape}")
    floor = np.broadcast_to(np.asarray(floor, dtype=np.float64), a.shape)
    if mask is not None:
        a, n, floor = a[mask], n[mask], floor[mask]
    if a.size == 0:
        return 0.0
    return float(relative_errors(a, n, floor).max())


def resolvable(outputs, dout, h, tol):
    """The floor of ``rel_error`` for central differences of step ``h`` of sum(outputs * dout):
    their rounding error, about eps * sum|outputs * dout| / h (every output counted, though a step
    moves only some: room for a forward's own rounding), over the tolerance ``tol``."""
    weighted = np.abs(np.asarray(to_numpy(outputs), dtype=np.float64) * np.asarray(to_numpy(dout), dtype=np.float64))
    return float(np.finfo(np.float64).eps * weighted.sum() / h / tol)


KINK_REFINE = 100   # an element on a kink is tried again with a step this many times smaller: in float64 its
                    # central difference's rounding error, about 1e-16 * |f| / step, is then still near 1e-9


def numerical_gradient(f, x, dout=None, h=1e-5, kink_tol=1e-3):
    """Central-difference gradient of ``sum(f() * dout)`` with respect to the array ``x``.

    ``f`` takes no arguments, reads ``x`` and returns an array or a scalar; ``x`` is perturbed in
    place, one element at a time, and restored. ``dout`` defaults to 1 (for a scalar ``f``). Returns
    ``(grad, kinks)``: ``grad`` has x's shape; ``kinks`` is a bool array marking elements whose
    one-sided differences (f(x+h) - f(x)) / h and (f(x) - f(x-h)) / h differ by more than
    ``kink_tol`` times max(1, largest one-sided difference), i.e. where a kink lies within h, and
    still do with the step h / KINK_REFINE (an element whose differences then agree takes that
    step's central difference). (A smooth function's two differences differ by only about
    step * |f''|.)
    """
    d = central_differences(f, x, dout, h, kink_tol)
    kinks = d.retried & (d.jump_finer > d.threshold)
    return np.where(d.retried & ~kinks, d.finer, d.at_h), kinks


@dataclass
class CentralDifferences:
    """``central_differences``'s: arrays of x's shape, those of the smaller step 0 where not retried."""
    at_h: np.ndarray         # the central differences, step h
    jump_at_h: np.ndarray    # |(f(x+h) - f(x)) - (f(x) - f(x-h))| / h: the one-sided differences' disagreement
    finer: np.ndarray        # the same two with the step h / KINK_REFINE, where ``retried``
    jump_finer: np.ndarray
    retried: np.ndarray      # bool
    threshold: float         # a jump above it is a kink: kink_tol * max(1, the largest one-sided difference)


def central_differences(f, x, dout=None, h=1e-5, kink_tol=1e-3, retry=None):
    """Central differences of ``sum(f() * dout)`` for every element of ``x`` with the step ``h``,
    and again with h / KINK_REFINE for those whose jump is over the threshold (a kink within h)
    and those that ``retry(at_h)`` (a bool array) names: a :class:`CentralDifferences`.
    (``numerical_gradient``'s arguments.)"""
    check_number(h, "h", "central_differences", "a finite number > 0", lambda v: v > 0)
    xp = get_array_module(x)
    if dout is None:
        dout = 1.0

    def weighted(delta):
        # Differences are taken output by output before summing: outputs that a perturbation
        # does not reach cancel exactly instead of adding their rounding error to the sum.
        return float((delta * dout).sum())

    y0 = xp.array(f(), dtype=np.float64)

    def differences(index, step):
        """f's changes (weighted by dout) over one step up and one step down of x[index]."""
        old = x[index].copy()
        x[index] = old + step
        y_plus = xp.array(f(), dtype=np.float64)
        x[index] = old - step
        y_minus = xp.array(f(), dtype=np.float64)
        x[index] = old
        return weighted(y_plus - y0), weighted(y0 - y_minus)

    def sweep(step, indices):
        """Central differences, jumps and largest one-sided differences of the elements ``indices``."""
        central, jump, slope = (np.zeros(x.shape, dtype=np.float64) for _ in range(3))
        for index in indices:
            up, down = differences(index, step)
            central[index] = (up + down) / (2 * step)
            jump[index] = abs(up - down) / step
            slope[index] = max(abs(up), abs(down)) / step
        return central, jump, slope

    at_h, jump_at_h, slope = sweep(h, np.ndindex(*x.shape))   # a gradient checker is per element by definition
    threshold = kink_tol * max(slope.max(), 1.0)
    retried = jump_at_h > threshold
    if retry is not None:
        retried |= retry(at_h)
    retried_indices = map(tuple, np.argwhere(retried).tolist())   # of Python ints, as np.ndindex's
    finer, jump_finer, _ = sweep(h / KINK_REFINE, retried_indices)
    return CentralDifferences(at_h, jump_at_h, finer, jump_finer, retried, threshold)


@dataclass
class GradcheckResult:
    """Per-tensor relative errors of a gradient check ("input", then parameter names)."""
    errors: dict = field(default_factory=dict)
    kinks: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    tol: float = 1e-6
    max_kink_fraction: float = 0.1

    def check_tensor(self, name, analytic, f, x, dout, h, floor):
        """Check ``analytic``, the gradient of sum(f() * dout) with respect to ``x``, as tensor
        ``name``: central differences of step ``h``, judged no finer than ``floor`` (``resolvable``'s,
        for ``h``; the smaller step rounds KINK_REFINE times more).

        Every element that fails is tried again with the smaller step, as the kinks are. Where its
        central difference moves with the step (by half the miss or more), a kink within h, not
        the backward, made the miss, however slight the kink: the element takes the smaller step's
        difference (a weight missed by 3e-3 so, an output 2e-7 from a fused ReLU's 0 in its step,
        drawn by the thorough profile: test_fft.py; and an input whose step met two kinks whose
        jumps cancel). Where it stays, the miss is the backward's: a wrong backward's central
        differences stay where they are. An element that still fails with the smaller step by no
        more than its jump sits on a kink nearer than that step."""
        a = np.asarray(to_numpy(analytic), dtype=np.float64)
        d = central_differences(f, x, dout, h, retry=lambda at_h: relative_errors(a, at_h, floor) > self.tol)
        moved = np.abs(d.finer - d.at_h) >= np.abs(a - d.at_h) / 2
        smaller_step = d.retried & ((d.jump_at_h > d.threshold) | moved)
        numeric = np.where(smaller_step, d.finer, d.at_h)
        floors = np.where(smaller_step, floor * KINK_REFINE, floor)
        slight = (relative_errors(a, numeric, floors) > self.tol) & (np.abs(a - numeric) <= d.jump_finer)
        kinks = d.retried & ((d.jump_finer > d.threshold) | slight)
        self.errors[name] = rel_error(a, numeric, mask=~kinks, floor=floors)
        self.kinks[name] = int(kinks.sum())
        self.sizes[name] = int(kinks.size)

    def failures(self):
        bad = [f"{name}: relative error {err:.3g} > {self.tol:g}"
               for name, err in self.errors.items() if not err <= self.tol]
        bad += [f"{name}: {self.kinks[name]} of {self.sizes[name]} elements sit on kinks, more than the "
                f"{self.max_kink_fraction:.0%} allowed" for name in self.errors if self.too_many_kinks(name)]
        return bad

    def too_many_kinks(self, name):
        """Whether more than ``max_kink_fraction`` of tensor ``name`` sits on kinks."""
        return self.kinks[name] > self.max_kink_fraction * self.sizes[name]

    def passes(self, name):
        """Whether tensor ``name`` passes: its error within ``tol``, few enough of it on kinks."""
        return self.errors[name] <= self.tol and not self.too_many_kinks(name)

    def verdict(self, name):
        """"" where tensor ``name`` passes; else FAILS, against the tolerance or the fraction of kinks
        allowed (a printed 9.9e-03 is no verdict to a reader who does not know the tolerance)."""
        if not self.errors[name] <= self.tol:
            return f"FAILS (tolerance {self.tol:g})"
        return f"FAILS (kinks: more than {self.max_kink_fraction:.0%} of it)" if self.too_many_kinks(name) else ""

    @property
    def ok(self):
        return not self.failures()

    @property
    def max_error(self):
        return max(self.errors.values())

    def assert_ok(self):
        bad = self.failures()
        if bad:
            raise AssertionError("gradient check failed:\n  " + "\n  ".join(bad) + "\n" + str(self))

    def __str__(self):
        """A row per tensor; one that fails says so (``verdict``)."""
        rows = [f"{'tensor':<16}{'elements':>10}{'kinks':>8}{'rel. error':>13}"]
        for name, err in self.errors.items():
            row = f"{name:<16}{self.sizes[name]:>10}{self.kinks[name]:>8}{err:>13.2e}  {self.verdict(name)}"
            rows.append(row.rstrip())
        return "\n".join(rows)


def check_settings(who, h, tol, max_kink_fraction=0.0):
    """Refuse (ValueError, naming ``who``) a step ``h`` or tolerance ``tol`` that is not a finite
    number > 0 (h = 0 divided by zero; a negative one differenced backwards) or a
    ``max_kink_fraction`` outside [0, 1]."""
    check_number(h, "h", who, "a finite number > 0", lambda v: v > 0)
    check_number(tol, "tol", who, "a finite number > 0", lambda v: v > 0)
    check_number(max_kink_fraction, "max_kink_fraction", who, "a number from 0 to 1", lambda v: 0 <= v <= 1)


def check_layer(layer, x, dout=None, h=1e-5, tol=1e-6, seed=0, max_kink_fraction=0.1):
    """Check ``layer``'s gradients with respect to ``x`` and every parameter; see the module doc.

    ``x`` and the layer's parameters must be float64 (float32 central differences are too coarse
    to tell a right gradient from a slightly wrong one). ``dout`` defaults to a standard normal
    draw from ``seed``. The layer's buffers and random state are left as they were. ``h``,
    ``tol`` (each a finite number > 0) and ``max_kink_fraction`` (from 0 to 1) are checked first.
    """
    check_settings("check_layer", h, tol, max_kink_fraction)
    xp = get_array_module(x)
    if x.dtype != np.float64 or any(p.data.dtype != np.float64 for _, p in layer.named_params()):
        raise TypeError(f"check_layer: {layer!r} needs float64 input and parameters "
                        f"(got input {x.dtype}); build the layer with dtype=np.float64")
    random_state = layer.random_state()
    buffers = {name: b.copy() for name, b in layer.named_buffers()}

    def run():
        layer.set_random_state(random_state)
        return layer.forward(x, train=True)

    y = run()
    if dout is None:
        dout = xp.asarray(np.random.default_rng(seed).standard_normal(y.shape))
    dx = layer.backward(dout)
    targets = [("input", x, dx)]
    targets += [(name, p.data, p.grad.copy()) for name, p in layer.named_params()]

    result = GradcheckResult(tol=tol, max_kink_fraction=max_kink_fraction)
    floor = resolvable(y, dout, h, tol)
    for name, array, analytic in targets:
        result.check_tensor(name, analytic, run, array, dout, h, floor)

    layer.set_random_state(random_state)
    for name, b in layer.named_buffers():
        b[...] = buffers[name]
    return result


def check_loss(loss, logits, labels, h=1e-5, tol=1e-6):
    """Check ``loss.backward()`` (dL/dlogits) against central differences of ``loss.forward(logits,
    labels)``; returns a :class:`GradcheckResult` with one tensor, "logits" (float64, as for
    ``check_layer``). The loss is one scalar, so no random ``dout`` is drawn."""
    check_settings("check_loss", h, tol)
    if logits.dtype != np.float64:
        raise TypeError(f"check_loss: {loss!r} needs float64 logits, got {logits.dtype}")
    value = loss.forward(logits, labels)
    analytic = loss.backward()
    result = GradcheckResult(tol=tol)
    floor = resolvable(value, 1.0, h, tol)
    result.check_tensor("logits", analytic, lambda: loss.forward(logits, labels), logits, 1.0, h, floor)
    return result


def alexnet_checks(seed=0):
    """[(name, what it is, layer or loss, input shape)]: every kind of layer (and the loss) with
    AlexNet's settings, on inputs small enough for central differences (two forwards an element),
    in float64."""
    from minicnn.layers import LRN, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, LRNMaxPool, MaxPool2D, ReLU, Tanh
    from minicnn.losses import SoftmaxCrossEntropy
    from minicnn.sequential import Sequential
    rng = np.random.default_rng(seed)
    f64 = dict(dtype=np.float64, rng=rng)
    network = Sequential([("conv", Conv2D(3, 4, 3, padding=1, **f64)), ("relu", ReLU()),
                          ("norm", LRN(5, alpha=1.0, beta=0.75, k=1.0)), ("pool", MaxPool2D(3, stride=2)),
                          ("flatten", Flatten()), ("fc", Dense(4 * 3 * 3, 5, **f64)),
                          ("drop", Dropout(0.5, seed=seed))])
    return [
        ("conv1", "11x11, stride 4, padding 2 (AlexNet's conv1)", Conv2D(3, 4, 11, stride=4, padding=2, **f64),
         (2, 3, 19, 19)),
        ("conv2", "5x5, padding 2, 2 groups (conv2)", Conv2D(4, 6, 5, padding=2, groups=2, **f64), (2, 4, 6, 6)),
        ("conv3", "3x3, padding 1 (conv3)", Conv2D(4, 6, 3, padding=1, **f64), (2, 4, 5, 5)),
        ("conv4", "3x3, padding 1, 2 groups (conv4, conv5)", Conv2D(4, 6, 3, padding=1, groups=2, **f64),
         (2, 4, 5, 5)),
        ("conv+relu", "conv4 with its ReLU fused in (Conv2D(relu=True))",
         Conv2D(4, 6, 3, padding=1, groups=2, relu=True, **f64), (2, 4, 5, 5)),
        ("conv-winograd", "conv4 by Winograd's F(2x2, 3x3) (Conv2D(algorithm=\"winograd\"))",
         Conv2D(4, 6, 3, padding=1, groups=2, algorithm="winograd", **f64), (2, 4, 5, 5)),
        ("conv-fft", "conv2 by the FFT (Conv2D(algorithm=\"fft\"), the CPU only)",
         Conv2D(4, 6, 5, padding=2, groups=2, algorithm="fft", **f64), (2, 4, 6, 6)),
        ("relu", "max(x, 0)", ReLU(), (2, 3, 4, 4)),
        ("tanh", "tanh(x), the unit ReLU replaced (the paper's Figure 1)", Tanh(), (2, 3, 4, 4)),
        ("lrn", "5 channels, alpha 1e-4, beta 0.75, k 2 (AlexNet's)", LRN(5), (2, 7, 3, 3)),
        ("lrn-large-alpha", "5 channels, alpha 1, beta 0.75, k 1: the window's sum weighs as much as x",
         LRN(5, alpha=1.0, beta=0.75, k=1.0), (2, 7, 3, 3)),
        ("lrn-towers", "as lrn-large-alpha, over each tower's half of the channels (groups 2)",
         LRN(5, alpha=1.0, beta=0.75, k=1.0, groups=2), (2, 8, 3, 3)),
        ("maxpool", "3x3 windows, stride 2: overlapping (AlexNet's)", MaxPool2D(3, stride=2), (2, 3, 7, 7)),
        ("lrn+maxpool", "lrn-large-alpha then maxpool as one layer (LRNMaxPool)",
         LRNMaxPool(LRN(5, alpha=1.0, beta=0.75, k=1.0), MaxPool2D(3, stride=2)), (2, 6, 7, 7)),
        ("dropout", "p 0.5, inverted", Dropout(0.5, seed=seed), (4, 10)),
        ("dense", "x W^T + b (fc6 to fc8)", Dense(12, 5, **f64), (3, 12)),
        ("dense+relu", "fc6 with its ReLU fused in (Dense(relu=True))", Dense(12, 5, relu=True, **f64), (3, 12)),
        ("flatten", "(N, C, H, W) to (N, C*H*W)", Flatten(), (2, 3, 2, 2)),
        ("batchnorm", "per channel, batch statistics (alexnet_bn)", BatchNorm2D(3, dtype=np.float64), (4, 3, 3, 3)),
        ("network", "conv, ReLU, LRN, max-pool, flatten, dense, dropout in a Sequential", network, (2, 3, 7, 7)),
        ("softmax-xent", "softmax cross-entropy, the batch's mean", SoftmaxCrossEntropy(), (4, 10)),
    ]


def main(argv=None):
    """python -m minicnn.gradcheck: the table of every check of ``alexnet_checks``; exit status 1
    if any fails."""
    from minicnn.backend import check_device, to_device
    from minicnn.losses import SoftmaxCrossEntropy
    names = [name for name, *_ in alexnet_checks()]
    parser = argparse.ArgumentParser(
        prog="python -m minicnn.gradcheck",
        description="Check every kind of layer's backward (AlexNet's settings, small inputs, float64) against "
                    "central differences of its forward: the input's and every parameter's gradient, one "
                    "row each. Exit status 1 if any check fails.")
    parser.add_argument("--device", choices=("cpu", "cuda", "sim"), default="cpu",
                        help="cpu: the NumPy layers; cuda: minicnn's CUDA kernels on the GPU; sim: the same "
                             "kernels under the kernel simulator, on the CPU (default: cpu)")
    parser.add_argument("--layers", default=",".join(names), metavar="NAME,...",
                        help="the checks to run, comma-separated, of: " + ", ".join(names) + " (default: all)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the weights, inputs, dout and dropout masks (default: 0)")
    parser.add_argument("--tol", type=positive_float, default=1e-6,
                        help="the largest relative error that passes (default: 1e-6)")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.layers.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in names]
    if unknown or not chosen:
        parser.error(f"argument --layers: expected names among {', '.join(names)}; got "
                     + (", ".join(map(repr, unknown)) if unknown else "none"))
    try:
        device = check_device(args.device)
    except RuntimeError as exc:
        raise SystemExit(f"error: {exc}")

    refined = f"{1e-5 / KINK_REFINE:.0e}".replace("e-0", "e-")   # 1e-7, as the step is written
    print(f"Each layer's backward against central differences of its forward (h = 1e-5; {refined} again "
          f"where a step straddles a kink or an element fails), float64, on {device}; "
          f"a tensor's error is its largest element's relative error, at most {args.tol:g} to pass.\n")
    cpu_only = [name for name, _, layer, _ in alexnet_checks(args.seed)
                if name in chosen and getattr(layer, "algorithm", None) == "fft"]
    if device != "cpu" and cpu_only:   # no kernels compute them
        chosen = [name for name in chosen if name not in cpu_only]
        if not chosen:
            raise SystemExit(f"error: {', '.join(cpu_only)} run on the CPU only (no CUDA kernels compute them): "
                             f"nothing to check on {device}; drop --device or choose other checks")
        print(f"not checked on {device}: {', '.join(cpu_only)} (the CPU only: no CUDA kernels compute it)\n")
    print(f"{'check':<17}{'tensor':<14}{'elements':>9}{'kinks':>7}{'rel. error':>12}  what")
    failed, largest, start = [], 0.0, time.perf_counter()
    for index, (name, what, layer, shape) in enumerate(alexnet_checks(args.seed)):
        if name not in chosen:
            continue
        rng = np.random.default_rng([args.seed, index])   # a check's input is the same whichever others run
        x = to_device(rng.standard_normal(shape), device)
        if isinstance(layer, SoftmaxCrossEntropy):
            labels = to_device(rng.integers(0, shape[1], shape[0]), device)
            result = check_loss(layer.to(device), x, labels, tol=args.tol)
        else:
            result = check_layer(layer.to(device), x, tol=args.tol, seed=args.seed)
        for row, tensor in enumerate(result.errors):
            line = (f"{name if row == 0 else '':<17}{tensor:<14}{result.sizes[tensor]:>9}{result.kinks[tensor]:>7}"
                    f"{result.errors[tensor]:>12.2e}  {what if row == 0 else ''}  {result.verdict(tensor)}")
            print(line.rstrip(), flush=True)
        largest = max(largest, result.max_error)
        if not result.ok:
            failed.append((name, result.failures()))
    seconds = time.perf_counter() - start
    checks = f"{len(chosen)} check{'' if len(chosen) == 1 else 's'}"
    if failed:
        print(f"\nfailed on {device}: {len(failed)} of {checks}\n  "
              + "\n  ".join(f"{name}: {failure}" for name, failures in failed for failure in failures))
        return 1
    print(f"\npassed on {device}: {checks}, the largest relative error {largest:.2g} (tolerance {args.tol:g}), "
          f"in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    from minicnn.arguments import run_script
    sys.exit(run_script(main))
