"""Pruning: unstructured magnitude pruning on a schedule (`_Pruner`, Zhu & Gupta
2017; the zeros reach the .mote's zero-run codec) and structured pruning
(`structured`: whole filters and units with the smallest L1 norms removed and a
smaller model rebuilt). `compress.compress` runs them as stages."""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from ._keras import _keras, _kernels


class _Pruner:
    """Magnitude masks on a polynomial schedule: s(t) = s (1 - (1 - t/T)^3)."""

    def __init__(self, model, sparsity, steps):
        self.kernels = _kernels(model)
        self.sparsity, self.steps, self.t = sparsity, max(1, steps), 0

    def level(self) -> float:
        f = min(1.0, self.t / (0.8 * self.steps))      # reach the target with a fifth left to recover
        return self.sparsity * (1 - (1 - f) ** 3)

    def apply(self, final=False):
        s = self.sparsity if final else self.level()
        for layer, i in self.kernels:
            w = layer.weights[i]
            v = np.asarray(w.numpy())
            k = int(round(s * v.size))
            if k:
                cut = np.partition(np.abs(v).ravel(), k - 1)[k - 1]
                mask = np.abs(v) > cut
                # ties at the cut: keep exactly size - k
                if mask.sum() < v.size - k:
                    idx = np.flatnonzero(np.abs(v).ravel() == cut)[: v.size - k - int(mask.sum())]
                    mask.ravel()[idx] = True
                w.assign(v * mask)
        self.t += 1


_CHAIN_LAYERS = ("InputLayer", "Conv2D", "DepthwiseConv2D", "Dense", "MaxPooling2D", "AveragePooling2D",
                 "GlobalAveragePooling2D", "Flatten", "Dropout", "BatchNormalization", "ReLU", "Activation")


def structured(model, fraction: float):
    """A smaller model: each Conv2D / Dense but the last keeps the (1 - fraction) of its
    filters or units with the largest L1 norms; the layers after it lose the matching
    inputs (through depthwise, batch-norm, pooling and Flatten). For chains of layers."""
    keras = _keras()
    cfg = model.get_config()
    names = [c["name"] for c in cfg["layers"]]
    for k, c in enumerate(cfg["layers"]):
        if c["class_name"] not in _CHAIN_LAYERS:
            raise ModelError(f"structured pruning takes chains of {', '.join(_CHAIN_LAYERS[1:])}; layer "
                             f"{c['name']} is a {c['class_name']}")
        if k:
            nodes = c.get("inbound_nodes") or []
            src = [a["config"]["keras_history"][0] for n in nodes for a in n.get("args", ())
                   if isinstance(a, dict) and a.get("class_name") == "__keras_tensor__"]
            if src != [names[k - 1]]:
                raise ModelError(f"structured pruning takes a chain of layers; {c['name']} does not "
                                 "follow the layer before it alone")
    layers = {layer.name: layer for layer in model.layers}
    with_kernel = [c["name"] for c in cfg["layers"] if c["class_name"] in ("Conv2D", "Dense")]
    last = with_kernel[-1] if with_kernel else None
    kept = None                 # the channels the current tensor keeps, in its original numbering
    flat = None                 # after Flatten: (positions, channels) of what it flattened
    weights = {}
    for c in cfg["layers"]:
        layer, kind = layers[c["name"]], c["class_name"]
        w = [np.asarray(v) for v in layer.get_weights()]
        if kind in ("Conv2D", "Dense"):
            if kept is not None:
                if kind == "Conv2D":
                    w[0] = w[0][:, :, kept, :]
                elif flat is not None:
                    pos, ch = flat
                    w[0] = w[0][[p * ch + k for p in range(pos) for k in kept]]
                else:
                    w[0] = w[0][kept]
            flat = None
            if c["name"] != last:
                out = w[0].shape[-1]
                n = max(1, int(round(out * (1 - fraction))))
                norms = np.abs(w[0]).reshape(-1, out).sum(axis=0)
                kept = sorted(np.argsort(-norms, kind="stable")[:n].tolist())
                w[0] = w[0][..., kept]
                if len(w) > 1:
                    w[1] = w[1][kept]
                c["config"]["filters" if kind == "Conv2D" else "units"] = n
            else:
                kept = None
        elif kind == "DepthwiseConv2D" and kept is not None:
            m = w[0].shape[3]
            w[0] = w[0][:, :, kept, :]
            if len(w) > 1:
                w[1] = w[1].reshape(-1, m)[kept].ravel()
            kept = [k * m + j for k in kept for j in range(m)]
        elif kind == "BatchNormalization" and kept is not None:
            w = [v[kept] for v in w]
        elif kind == "Flatten":
            shape = tuple(int(d) for d in layer.input.shape[1:])
            flat = (int(np.prod(shape[:-1])), shape[-1]) if kept is not None else None
        weights[c["name"]] = w
        c.pop("build_config", None)
    small = keras.Model.from_config(cfg)
    for layer in small.layers:
        if weights.get(layer.name):
            layer.set_weights(weights[layer.name])
    return small
