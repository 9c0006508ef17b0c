"""A model summary in the style of Keras' ``model.summary()``: every layer's output shape,
parameter count and multiply-adds per image, with totals. Computed from shapes alone."""
import math
import os


def leaf_layers(model, input_shape):
    """[(qualified name, layer, input shape, output shape)] for every layer ``model`` (a
    Sequential) runs (``Sequential.named_layers``)."""
    rows, shape = [], tuple(input_shape)
    for name, layer in model.named_layers():
        out = layer.output_shape(shape)
        rows.append((name, layer, shape, out))
        shape = out
    return rows


def conv_algorithms(model, input_shape):
    """{name: ``Conv2D.algorithm_for`` its input} for every convolution ``model`` runs on a batch of
    ``input_shape``: how each computes there (im2col's or Winograd's, NumPy's or the kernels)."""
    from minicnn.layers import Conv2D
    return {name: layer.algorithm_for(shape) for name, layer, shape, _ in leaf_layers(model, input_shape)
            if isinstance(layer, Conv2D)}


def layer_kind(layer):
    """The kind of ``layer`` as the summary shows it: its class's name, "Conv2D+ReLU" or
    "Dense+ReLU" for a layer with its ReLU fused in."""
    return type(layer).__name__ + ("+ReLU" if getattr(layer, "relu", False) else "")


def summarize(model, input_shape):
    """Return (rows, totals): rows of dicts name/type/output/params/macs/device; macs per image.
    ``device`` says where the layer runs: its device, or its tower's placement in a split model
    (``minicnn.towers``: "cpu worker 1", "cuda:1", ...)."""
    model.output_shape(input_shape)   # a shape it cannot take is refused naming the layer's place (fc6)
    rows = []
    if hasattr(model, "leaf_layers"):   # a split model knows each layer's tower
        placed = model.leaf_layers(input_shape)
    else:
        placed = [row + (row[1].device,) for row in leaf_layers(model, input_shape)]
    for name, layer, in_shape, out_shape, device in placed:
        params = sum(math.prod(p.shape) for p in layer.params.values())
        macs = layer.macs(in_shape) if hasattr(layer, "macs") else 0
        rows.append(dict(name=name, type=layer_kind(layer), output=out_shape[1:], params=params,
                         macs=macs, device=device))
    totals = dict(params=sum(r["params"] for r in rows), macs=sum(r["macs"] for r in rows))
    return rows, totals


def summary(model, input_shape):
    """The summary as a printable table; ``input_shape`` is (N, C, H, W) (N does not matter)."""
    rows, totals = summarize(model, input_shape)
    name_width = max([18] + [len(r["name"]) + 2 for r in rows])   # (a network of no layers has no rows)
    type_width = max([13] + [len(r["type"]) + 2 for r in rows])
    header = (f"{'layer':<{name_width}}{'type':<{type_width}}{'output shape':<18}{'params':>13}{'mult-adds':>15}"
              f"  {'device'}")
    lines = [header, "=" * len(header)]
    for r in rows:
        shape = "x".join(str(d) for d in r["output"])
        lines.append(f"{r['name']:<{name_width}}{r['type']:<{type_width}}{shape:<18}{r['params']:>13,}"
                     f"{r['macs']:>15,}  {r['device']}")
    lines.append("=" * len(header))
    whole = model.num_params()
    held = "" if whole == totals["params"] else f" (this rank holds {totals['params']:,}: its slices of the FC layers)"
    lines.append(f"Total parameters: {whole:,}{held}")
    lines.append(f"Multiply-adds per image (forward): {totals['macs']:,} ({totals['macs'] / 1e6:.1f} M)")
    return "\n".join(lines)


def main(argv=None):
    """``python -m minicnn.summary``: the summary of a network by name, or of the one a training
    checkpoint records (its input size, channels and classes), as a run prints it."""
    import argparse
    from minicnn import models, towers
    from minicnn.arguments import positive_int
    from minicnn.weights import WeightsError, build_recorded, checkpoint_config
    p = argparse.ArgumentParser(
        prog="python -m minicnn.summary", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Every layer of a network: its output shape, parameters and multiply-adds per image.\n\n"
                    "    python -m minicnn.summary                                # the 2012 AlexNet\n"
                    "    python -m minicnn.summary alexnet_small --input-size 32 --channels 3   # for CIFAR-10\n"
                    "    python -m minicnn.summary alexnet --split two-device     # each layer's tower\n"
                    "    python -m minicnn.summary runs/fashion/checkpoint.npz    # the network a run trained")
    p.add_argument("network", nargs="?", default="alexnet",
                   help=f"a network ({', '.join(sorted(models.MODELS))}) or a training checkpoint (.npz) of "
                        f"examples/train_alexnet.py or examples/finetune.py (default: alexnet)")
    p.add_argument("--num-classes", type=positive_int, default=None,
                   help="outputs of the last layer (default: 1000, 10 for alexnet_small; a checkpoint's own)")
    p.add_argument("--channels", type=positive_int, default=None,
                   help="input channels (default: 3, 1 for alexnet_small; a checkpoint's own)")
    p.add_argument("--input-size", type=positive_int, default=None,
                   help="input height and width in pixels (default: 227, 224 for alexnet_owt, 28 for "
                        "alexnet_small, which is built for it; a checkpoint's own)")
    p.add_argument("--split", choices=("none", "two-device"), default=None,
                   help="two-device: the paper's two towers, each layer shown on its tower's device (alexnet and "
                        "alexnet_small) (default: none, or a checkpoint's own)")
    args = p.parse_args(argv)
    given = {k: v for k, v in (("num_classes", args.num_classes), ("in_channels", args.channels),
                                ("input_size", args.input_size)) if v is not None}
    if args.network in models.MODELS:
        architecture, split = dict(name=args.network, **given), args.split or "none"
        if split == "two-device" and args.network in towers.SPLIT_MODELS:
            architecture["lrn_groups"] = 2   # the towers normalise their own maps
        # only alexnet_small is built for an input size; the 2012 networks take one, or fail naming a layer
        input_size = architecture.get("input_size", models.MODELS[args.network][1])
        if args.network != "alexnet_small":
            architecture.pop("input_size", None)
        try:
            model = models.build(**architecture)
        except ValueError as exc:
            raise SystemExit(f"error: {exc}")
    else:
        if given:
            flags = " and ".join({"in_channels": "--channels"}.get(k, "--" + k.replace("_", "-")) for k in given)
            raise SystemExit(f"error: {args.network}: a checkpoint's network is the one it records, with its own "
                             f"input size, channels and classes: drop {flags}")
        if not os.path.isfile(args.network):
            raise SystemExit(f"error: {args.network}: neither a network ({', '.join(sorted(models.MODELS))}) "
                             f"nor a file")
        try:
            config = checkpoint_config(args.network, "checkpoint")
            if not config.get("architecture"):
                raise WeightsError(f"{args.network} records no network (plain weights): give its network's name")
            architecture = dict(config["architecture"])
            model = build_recorded(architecture, args.network)
        except WeightsError as exc:
            raise SystemExit(f"error: {exc}")
        split = args.split or config.get("split", "none")
        input_size = config.get("input_size") or models.MODELS[architecture["name"]][1]
    name = architecture["name"]
    channels = architecture.get("in_channels", 1 if name == "alexnet_small" else 3)
    if split == "two-device":
        if name not in towers.SPLIT_MODELS:
            raise SystemExit(f"error: --split two-device splits {' and '.join(towers.SPLIT_MODELS)}, not {name}")
        model = towers.two_tower(model).to("cpu")
    try:
        print(summary(model, (1, channels, input_size, input_size)))
    except ValueError as exc:
        raise SystemExit(f"error: {exc}")


if __name__ == "__main__":
    from minicnn.arguments import run_script
    run_script(main)
