"""A model summary in the style of Keras' ``model.summary()``: every layer's output shape,
parameter count and multiply-adds per image, with totals. Computed from shapes alone."""
import math

from minicnn.sequential import Sequential


def leaf_layers(model, input_shape, prefix=""):
    """[(qualified name, layer, input shape, output shape)] for every non-Sequential layer."""
    rows, shape = [], tuple(input_shape)
    for name, layer in model.named_children():
        if isinstance(layer, Sequential):
            sub = leaf_layers(layer, shape, f"{prefix}{name}.")
            rows += sub
            shape = sub[-1][3] if sub else shape
        else:
            out = layer.output_shape(shape)
            rows.append((prefix + name, layer, shape, out))
            shape = out
    return rows


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
        kind = type(layer).__name__ + ("+ReLU" if getattr(layer, "relu", False) else "")  # fused ReLU
        rows.append(dict(name=name, type=kind, output=out_shape[1:], params=params,
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
