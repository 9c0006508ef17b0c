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
detected numerically (the forward and backward one-sided differences disagree), excluded from the
error and counted; a check in which more than ``max_kink_fraction`` of a tensor sits on kinks
fails, so that kinks can never hide a wrong gradient wholesale.

Relative error of each element: |a - n| / max(|a|, |n|, floor), floor = 1e-3 * max(|a|, |n|) over
the tensor (so that elements near zero are judged on the tensor's scale, as Caffe's checker does
with its max(..., 1)); the reported error is the maximum over elements.
"""
from dataclasses import dataclass, field

import numpy as np

from minicnn.backend import get_array_module, to_numpy


def rel_error(analytic, numeric, mask=None):
    """Max over elements of |a - n| / max(|a|, |n|, 1e-3 * scale), scale = max(|a|, |n|) overall.

    ``mask`` (bool, same shape) selects the elements that count; all of them by default.
    """
    a = np.asarray(to_numpy(analytic), dtype=np.float64)
    n = np.asarray(to_numpy(numeric), dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {n.shape}")
    if mask is not None:
        a, n = a[mask], n[mask]
    if a.size == 0:
        return 0.0
    scale = max(np.abs(a).max(), np.abs(n).max(), 1e-300)
    denom = np.maximum(np.maximum(np.abs(a), np.abs(n)), 1e-3 * scale)
    return float((np.abs(a - n) / denom).max())


def numerical_gradient(f, x, dout=None, h=1e-5, kink_tol=1e-3):
    """Central-difference gradient of ``sum(f() * dout)`` with respect to the array ``x``.

    ``f`` takes no arguments, reads ``x`` and returns an array or a scalar; ``x`` is perturbed
    in place, one element at a time, and restored. ``dout`` defaults to 1 (for a scalar ``f``). Returns ``(grad, kinks)``:
    ``grad`` has x's shape; ``kinks`` is a bool array marking elements whose one-sided differences
    (f(x+h) - f(x)) / h and (f(x) - f(x-h)) / h differ by more than ``kink_tol`` times
    max(1, largest one-sided difference), i.e. where a kink lies within h. (A smooth function's
    two differences differ by only about h * |f''|.)
    """
    xp = get_array_module(x)
    if dout is None:
        dout = 1.0

    def weighted(delta):
        # Differences are taken output by output before summing: outputs that a perturbation
        # does not reach cancel exactly instead of adding their rounding error to the sum.
        return float((delta * dout).sum())

    grad = np.zeros(x.shape, dtype=np.float64)
    jump = np.zeros(x.shape, dtype=np.float64)
    slope = np.zeros(x.shape, dtype=np.float64)
    y0 = xp.array(f(), dtype=np.float64)
    for index in np.ndindex(*x.shape):  # a gradient checker is per element by definition
        old = x[index].copy()
        x[index] = old + h
        y_plus = xp.array(f(), dtype=np.float64)
        x[index] = old - h
        y_minus = xp.array(f(), dtype=np.float64)
        x[index] = old
        up, down = weighted(y_plus - y0), weighted(y0 - y_minus)
        grad[index] = (up + down) / (2 * h)
        jump[index] = abs(up - down) / h
        slope[index] = max(abs(up), abs(down)) / h
    kinks = jump > kink_tol * max(slope.max(), 1.0)
    return grad, kinks


@dataclass
class GradcheckResult:
    """Per-tensor relative errors of a gradient check ("input", then parameter names)."""
    errors: dict = field(default_factory=dict)
    kinks: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    tol: float = 1e-6
    max_kink_fraction: float = 0.1

    def failures(self):
        bad = [f"{name}: relative error {err:.3g} > {self.tol:g}"
               for name, err in self.errors.items() if not err <= self.tol]
        bad += [f"{name}: {self.kinks[name]} of {self.sizes[name]} elements sit on kinks"
                for name in self.errors if self.kinks[name] > self.max_kink_fraction * self.sizes[name]]
        return bad

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
        rows = [f"{'tensor':<16}{'elements':>10}{'kinks':>8}{'rel. error':>13}"]
        for name, err in self.errors.items():
            rows.append(f"{name:<16}{self.sizes[name]:>10}{self.kinks[name]:>8}{err:>13.2e}")
        return "\n".join(rows)


def check_layer(layer, x, dout=None, h=1e-5, tol=1e-6, seed=0, max_kink_fraction=0.1):
    """Check ``layer``'s gradients with respect to ``x`` and every parameter; see the module doc.

    ``x`` and the layer's parameters must be float64 (float32 central differences are too coarse
    to tell a right gradient from a slightly wrong one). ``dout`` defaults to a standard normal
    draw from ``seed``. The layer's buffers and random state are left as they were.
    """
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
    for name, array, analytic in targets:
        numeric, kinks = numerical_gradient(run, array, dout, h=h)
        result.errors[name] = rel_error(analytic, numeric, mask=~kinks)
        result.kinks[name] = int(kinks.sum())
        result.sizes[name] = int(kinks.size)

    layer.set_random_state(random_state)
    for name, b in layer.named_buffers():
        b[...] = buffers[name]
    return result
