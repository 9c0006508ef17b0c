"""SGD with momentum and weight decay exactly as the AlexNet paper writes it, and its schedules.

    v <- momentum * v - weight_decay * lr * w - lr * dL/dw
    w <- w + v

(AlexNet: lr 0.01, momentum 0.9, weight decay 0.0005, lr divided by 10 when the validation error
stops improving, at most three times.)
"""
import numbers

import numpy as np

from minicnn import cpu_threads
from minicnn.backend import KERNEL_DEVICES, device_of, get_array_module, to_device
from minicnn.launch import BLOCK, grid_for, launch
from minicnn.layers.base import check_number, check_positive_int

CPU_SLICE = 1 << 17   # elements per slice of the CPU update: its temporaries stay in the L2 cache


def zeros_beside(a):
    """Zeros shaped like ``a`` on the same device (on the GPU that holds it, for a split model)."""
    if device_of(a) == "cuda":
        with a.device:
            return get_array_module(a).zeros_like(a)
    return get_array_module(a).zeros_like(a)


class SGD:
    """``SGD(model, lr=0.01, momentum=0.9, weight_decay=5e-4)``; ``step()`` after ``backward``.

    Weight decay applies to every parameter (weights and biases), as in the paper's update rule.
    """

    def __init__(self, model, lr=0.01, momentum=0.9, weight_decay=5e-4):
        self.lr = check_number(lr, "lr", "SGD", "a finite number > 0", lambda v: v > 0)
        self.momentum = check_number(momentum, "momentum", "SGD", "a number in [0, 1)", lambda v: 0 <= v < 1)
        self.weight_decay = check_number(weight_decay, "weight_decay", "SGD", "a finite number >= 0", lambda v: v >= 0)
        self.model = model
        self.velocity = {name: zeros_beside(p.data) for name, p in model.named_params()}

    def step(self):
        """Update every parameter; on "cuda"/"sim" one fused kernel per tensor (kernels/sgd.cu)."""
        fused = getattr(self.model, "device", "cpu") in KERNEL_DEVICES
        for name, p in self.model.named_params():
            if p.frozen:
                continue
            v = self.velocity[name]
            if fused:
                launch("sgd", "sgd_update", grid_for(v.size, v), BLOCK, p.data, p.grad, v, v.size, self.lr,
                       self.momentum, self.weight_decay * self.lr)
            else:
                sgd_update_cpu(p.data, p.grad, v, self.lr, self.momentum, self.weight_decay * self.lr)

    def state_dict(self):
        return dict(self.velocity)

    def load_state_dict(self, state):
        """Copy the velocities of ``state`` ({parameter name: array}, as ``state_dict`` gives) in;
        every name and shape must match, and nothing is copied unless all do (as a model's
        ``load_state_dict``)."""
        missing = [name for name in self.velocity if name not in state]
        unexpected = [name for name in state if name not in self.velocity]
        if missing or unexpected:
            found = [f"{what} velocities {names}" for what, names in (("missing", missing), ("unexpected", unexpected))
                     if names]
            raise KeyError(f"SGD.load_state_dict: {', '.join(found)}")
        for name, v in self.velocity.items():
            if tuple(state[name].shape) != v.shape:
                raise ValueError(f"SGD.load_state_dict: velocity {name!r} has shape {tuple(state[name].shape)}, "
                                 f"expected {v.shape}")
        for name, v in self.velocity.items():
            v[...] = to_device(state[name], device_of(v))


def sgd_update_cpu(w, grad, v, lr, momentum, decay):
    """In place: v <- momentum * v - (decay * w + lr * grad); w <- w + v (``decay`` is weight
    decay times lr). NumPy evaluates a whole-array expression one operation at a time, each
    writing a temporary as large as the array, so the update went through memory 15 times the
    array's size; slice by slice the temporaries stay in the cache and it goes through 5 times
    (measured: 145 ms against about 70 for AlexNet's 61 M parameters). The operations and their
    order are the same, so the result is too, bit for bit. Runs of slices go to all the cores
    (``minicnn.cpu_threads``; fc6's 38 M weights: 60 ms on one core, 35 on two)."""
    if not (w.flags.c_contiguous and grad.flags.c_contiguous and v.flags.c_contiguous):
        v *= momentum
        v -= decay * w + lr * grad
        w += v
        return
    w, grad, v = w.reshape(-1), grad.reshape(-1), v.reshape(-1)   # views: contiguous

    def update(blocks):   # the slices [start, start + CPU_SLICE) numbered in ``blocks``
        decayed, step = np.empty(min(CPU_SLICE, w.size), w.dtype), np.empty(min(CPU_SLICE, w.size), w.dtype)
        for start in range(blocks.start * CPU_SLICE, min(blocks.stop * CPU_SLICE, w.size), CPU_SLICE):
            ws, gs, vs = w[start:start + CPU_SLICE], grad[start:start + CPU_SLICE], v[start:start + CPU_SLICE]
            d, s = decayed[:ws.size], step[:ws.size]
            np.multiply(ws, decay, out=d)
            np.multiply(gs, lr, out=s)
            d += s
            vs *= momentum
            vs -= d
            ws += vs

    cpu_threads.in_slices(-(-w.size // CPU_SLICE), update, w)   # runs of slices on all the cores


def check_factor(schedule, factor):
    """A schedule's ``factor`` divides the learning rate, so it must be a number >= 1; PyTorch's
    ``gamma`` and ``factor`` multiply it instead, and one of theirs (0.1) given here would raise
    the rate tenfold at each step, so the error says which to give. Returns it as a float."""
    hint = f" (it divides the rate: for PyTorch's {factor!r}, which multiplies, give {1 / factor:g})" \
        if isinstance(factor, numbers.Real) and 0 < factor < 1 else ""
    return check_number(factor, "factor", schedule, "a finite number >= 1", lambda v: v >= 1, hint)


class ReduceOnPlateau:
    """Divide the learning rate by ``factor`` when the validation error has not improved for more
    than ``patience`` epochs in a row (as PyTorch's ReduceLROnPlateau counts: with patience 1, after
    the second epoch without a new best), at most ``max_reductions`` times (the paper: factor 10,
    three times). Only a strictly lower error counts as an improvement."""

    def __init__(self, optimizer, factor=10.0, patience=1, max_reductions=3):
        factor = check_factor("ReduceOnPlateau", factor)
        check_positive_int(patience, "patience", "ReduceOnPlateau", minimum=0)
        check_positive_int(max_reductions, "max_reductions", "ReduceOnPlateau", minimum=0)
        self.optimizer, self.factor, self.patience, self.max_reductions = optimizer, factor, patience, max_reductions
        self.best, self.bad_epochs, self.reductions = float("inf"), 0, 0

    def step(self, val_error):
        if val_error < self.best:
            self.best, self.bad_epochs = val_error, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.patience and self.reductions < self.max_reductions:
            self.optimizer.lr /= self.factor
            self.reductions += 1
            self.bad_epochs = 0

    def state_dict(self):
        return dict(best=self.best, bad_epochs=self.bad_epochs, reductions=self.reductions)

    def load_state_dict(self, state):
        self.best, self.bad_epochs = float(state["best"]), int(state["bad_epochs"])
        self.reductions = int(state["reductions"])


class StepLR:
    """Divide the learning rate by ``factor`` every ``every`` epochs."""

    def __init__(self, optimizer, every, factor=10.0):
        factor = check_factor("StepLR", factor)
        check_positive_int(every, "every (epochs)", "StepLR")
        self.optimizer, self.every, self.factor, self.epochs = optimizer, every, factor, 0

    def step(self, val_error=None):
        self.epochs += 1
        if self.epochs % self.every == 0:
            self.optimizer.lr /= self.factor

    def state_dict(self):
        return dict(epochs=self.epochs)

    def load_state_dict(self, state):
        self.epochs = int(state["epochs"])


class LinearDecay:
    """Lower the learning rate after every batch, linearly from its initial value to 0 at
    ``total_steps`` (the default of ``examples/train_alexnet.py``'s short runs), an integer >= 1."""

    def __init__(self, optimizer, total_steps):
        total_steps = check_positive_int(total_steps, "total_steps", "LinearDecay")   # 2.7 was taken as 2
        self.optimizer, self.total_steps, self.steps = optimizer, total_steps, 0
        self.initial_lr = optimizer.lr

    def step_batch(self):
        self.steps += 1
        self.optimizer.lr = self.lr_now()

    def lr_now(self):
        """The learning rate after ``steps`` batches of the ``total_steps`` planned."""
        return self.initial_lr * max(0.0, 1.0 - self.steps / self.total_steps)

    def step(self, val_error=None):
        """Epoch boundary: nothing to do (the decay is per batch)."""

    def state_dict(self):
        return dict(steps=self.steps, initial_lr=self.initial_lr)

    def load_state_dict(self, state):
        self.steps, self.initial_lr = int(state["steps"]), float(state["initial_lr"])
