"""Pretrained weights in and out: torchvision's AlexNet state dicts (``.pth``) into
``models.alexnet_owt``, and minicnn's own ``.npz`` weight files.

    model = models.alexnet_owt()
    weights.load_torchvision("alexnet-owt-7be5be79.pth", model)   # needs torch (pip install torch)
    weights.save_npz(model, "alexnet_owt.npz")                    # no torch needed from here on
    weights.load_npz("alexnet_owt.npz", model)

``alexnet_owt`` uses torchvision's parameter names (``features.0.weight`` ...
``classifier.6.bias``) and layouts (NCHW, conv ``(out, in, kh, kw)``, linear ``(out, in)``), so
the import is a copy, checked name by name and shape by shape: a file of another architecture
fails on the first tensor that does not fit, naming it. ``load_npz`` also reads the weights of a
training checkpoint written by ``examples/train_alexnet.py``, and ``model_from_checkpoint``
rebuilds the network such a checkpoint records, with its weights:

    model, config = weights.model_from_checkpoint("runs/fashion/checkpoint.npz")
    config["classes"], config["mean"], config["std"], config["input_size"]
"""

import numpy as np

from minicnn.backend import to_numpy
from minicnn.checkpoint import CheckpointError, read_meta, read_npz, write_npz


class WeightsError(ValueError):
    """A weights file that cannot be read, or does not fit the model."""


def import_state(model, state, source="weights"):
    """Copy ``state`` (name -> array) into ``model``'s parameters and buffers; every name and
    shape must match, and the first mismatch is named."""
    expected = model.state_dict()
    for name, target in expected.items():
        if name not in state:
            raise WeightsError(f"{source}: no tensor {name!r} for the model (it has "
                               f"{', '.join(list(state)[:4])}{', ...' if len(state) > 4 else ''}); "
                               f"is it a different architecture?")
        if tuple(state[name].shape) != tuple(target.shape):
            raise WeightsError(f"{source}: tensor {name!r} has shape {tuple(state[name].shape)}, the model "
                               f"expects {tuple(target.shape)} (a different architecture or class count?)")
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        raise WeightsError(f"{source}: tensor {unexpected[0]!r} has no place in the model")
    model.load_state_dict({k: np.asarray(v) for k, v in state.items()})
    return model


def load_torchvision(path, model):
    """Load a torchvision AlexNet ``.pth`` state dict (``torch.save(model.state_dict())``) into
    ``model`` (``models.alexnet_owt``). Reading ``.pth`` files needs PyTorch."""
    try:
        import torch
    except ImportError:
        raise WeightsError(f"reading {path} needs PyTorch (pip install torch); minicnn's own .npz "
                           f"weights do not") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable PyTorch state dict ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return import_state(model, {k: v.detach().cpu().numpy() for k, v in state.items()}, path)


def save_npz(model, path):
    """Write the model's parameters and buffers to ``path`` (``.npz``, no pickle), atomically."""
    arrays = {name: to_numpy(v) for name, v in model.state_dict().items()}
    write_npz(path, arrays)


def load_npz(path, model):
    """Load weights written by ``save_npz`` (or the model part of a training checkpoint)."""
    arrays = _read(path)
    if "meta" in arrays:  # a training checkpoint: its model part
        arrays = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    return import_state(model, arrays, path)


def load(path, model):
    """``load_torchvision`` for ``.pth``/``.pt`` files, ``load_npz`` otherwise."""
    if str(path).endswith((".pth", ".pt")):
        return load_torchvision(path, model)
    return load_npz(path, model)


def _read(path, names=None, what="weights file"):
    """``checkpoint.read_npz`` for a weights file (or ``what`` it should be), its errors as WeightsError."""
    try:
        return read_npz(path, what, names)
    except CheckpointError as exc:
        raise WeightsError(str(exc)) from None


def class_count(path):
    """Outputs of the last layer of a weights file: the length of its last bias (.npz), or 1000
    for torchvision's ImageNet weights (.pth/.pt)."""
    if str(path).endswith((".pth", ".pt")):
        return 1000
    biases = list(_read(path, names=lambda name: name.endswith("bias")).values())
    if not biases:
        raise WeightsError(f"{path}: no bias in this weights file to count the classes by; give --num-classes")
    return int(biases[-1].shape[0])


def checkpoint_config(path, what="weights file"):
    """The training configuration a checkpoint of ``minicnn.train.fit`` stores in its metadata
    (``config``: the network's ``architecture``, ``classes``, ``mean``, ``std``, ``input_size``
    ...); {} for a plain weights file (``save_npz``, ``.pth``). ``what`` the file should be names it
    in the error for an unreadable one ("checkpoint" for a run to resume)."""
    if str(path).endswith((".pth", ".pt")):   # torchvision's: no configuration recorded
        return {}
    arrays = _read(path, names=("meta",), what=what)
    try:
        meta = read_meta(path, arrays)
    except CheckpointError as exc:
        raise WeightsError(str(exc)) from None
    if meta is None:
        return {}
    return dict(meta.get("config", {}), split=meta.get("split", "none"))


def build_recorded(architecture, path):
    """The network of ``architecture``, the ``models.build`` arguments the checkpoint at ``path``
    records; a record this minicnn cannot build (another version's networks, or a file edited by
    hand) is a WeightsError naming it."""
    from minicnn import models
    try:
        return models.build(**architecture)
    except (TypeError, ValueError) as exc:
        arguments = ", ".join(f"{k}={v!r}" for k, v in sorted(architecture.items()) if k != "name")
        raise WeightsError(f"{path}: this minicnn cannot build the network the checkpoint records, "
                           f"{architecture.get('name')}({arguments}): {exc}") from None


def recorded_classes(config, path):
    """The outputs of the network that the configuration ``config`` of the checkpoint at ``path``
    records: its architecture's ``num_classes``, or where the record leaves it out (an
    architecture given to ``fit`` by hand), its builder's default; a record this minicnn cannot
    build is a WeightsError naming it, as ``build_recorded``'s."""
    from minicnn import models
    architecture = config["architecture"]
    if "num_classes" in architecture:
        return architecture["num_classes"]
    try:
        return models.architecture(**architecture)["num_classes"]
    except (TypeError, ValueError):
        return build_recorded(architecture, path)   # raises the WeightsError that names the record


def model_from_checkpoint(path):
    """``(model, config)``: the network a training checkpoint (``examples/train_alexnet.py``,
    ``examples/finetune.py``, or ``minicnn.train.fit`` on a network of ``minicnn.models``) was
    trained as, rebuilt from the ``architecture`` its configuration records (``models.build``'s arguments; the two towers again for a ``--split two-device``
    run) and loaded with its weights, on the CPU; and that configuration."""
    from minicnn import towers
    config = checkpoint_config(path)
    architecture = dict(config.get("architecture") or {})
    if not architecture:
        raise WeightsError(f"{path}: the checkpoint does not record its network (it is a plain weights file, or "
                           f"was written before checkpoints recorded it)")
    if config["split"] == "two-device":   # each tower normalises its own maps, also in a checkpoint converted
        architecture["lrn_groups"] = 2     # from a single-device run's, whose record says 1
    model = build_recorded(architecture, path)
    if config["split"] == "two-device":
        model = towers.two_tower(model)
    load_npz(path, model)
    return model, config
