"""The interleaved weight layout of format 1.2 (docs/FORMAT.md, "Interleaved weights").

FULLY_CONNECTED and CONV_2D weights in groups of GROUP output channels, each
group stored input-major (weight k of every channel of the group, then weight
k + 1 ...), and for FULLY_CONNECTED the bias with `input_offset * sum(weights)`
folded in. A device's fast kernels then read eight output channels per input
byte and add no offset per input. (CONV_2D keeps TFLite's bias: its kernel
reuses the weights for every output pixel, so it sums them itself at no
measurable cost, and the file stays as small as the row-major one.) This module is the one place that knows the order
and the rules (problem): the converter interleaves, the reader checks, the executor
and the emulator tools undo or follow it.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ops.base import Layer
from ..quant import wrap_int32

GROUP = 8                 # output channels per group
MAX_GROUP_BYTES = 4096    # the converter interleaves a layer only if its largest group fits
OPS = ("FULLY_CONNECTED", "CONV_2D")


def order(out: int, depth: int) -> np.ndarray:
    """idx with stored = W.reshape(-1)[idx] (W row-major [out, depth])."""
    idx = np.empty(out * depth, np.int64)
    for g0 in range(0, out, GROUP):
        r = min(GROUP, out - g0)
        block = (np.arange(g0, g0 + r)[None, :] * depth + np.arange(depth)[:, None])  # [depth, r]
        idx[g0 * depth:(g0 + r) * depth] = block.reshape(-1)
    return idx


def interleave_weights(w: np.ndarray) -> np.ndarray:
    """TFLite-order weights [out, ...] -> the same dims, values in the interleaved order."""
    out = w.shape[0]
    depth = w.size // out if out else 0
    return w.reshape(-1)[order(out, depth)].reshape(w.shape)


def deinterleave_weights(w: np.ndarray) -> np.ndarray:
    """The inverse of interleave_weights."""
    out = w.shape[0]
    depth = w.size // out if out else 0
    flat = np.empty(w.size, w.dtype)
    flat[order(out, depth)] = w.reshape(-1)
    return flat.reshape(w.shape)


def fold_bias(bias: np.ndarray | None, weights: np.ndarray, input_offset: int) -> np.ndarray:
    """bias + input_offset * sum(weights of the channel), wrapped to int32 (weights in TFLite order)."""
    out = weights.shape[0]
    sums = weights.reshape(out, -1).astype(np.int64).sum(axis=1)
    b = np.zeros(out, np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1)
    return wrap_int32(b + int(input_offset) * sums).astype(np.int32)


def unfold_bias(bias: np.ndarray, weights: np.ndarray, input_offset: int) -> np.ndarray:
    """The inverse of fold_bias (weights in TFLite order)."""
    out = weights.shape[0]
    sums = weights.reshape(out, -1).astype(np.int64).sum(axis=1)
    return wrap_int32(np.asarray(bias, np.int64).reshape(-1) - int(input_offset) * sums).astype(np.int32)


def problem(op: str, params: dict, weights, bias, in_channels: int | None, stored: bool = False) -> str | None:
    """What breaks format 1.2's rules for an interleaved layer (docs/FORMAT.md), or None: the
    one set of rules, for the converter (stored=False: may this row-major layer be
    interleaved?) and the reader (stored=True: is this interleaved layer valid?).

    weights, bias: anything with `dtype` and `shape` (arrays, or the stored constants,
    which also say whether they are `derived`); None when absent. in_channels: the
    channels of the layer's input (None if unknown). Only a stored FULLY_CONNECTED
    must have its bias: the converter folds one in where there was none.
    """
    if op not in OPS:
        return f"{op} has no interleaved layout"
    if weights is None or weights.dtype != "int8":
        return "its weights are not int8" if weights is not None else "it has no weights"
    if bias is None:
        if stored and folds_bias(op):
            return "it has no bias (an interleaved FULLY_CONNECTED stores the folded bias)"
    elif bias.dtype != "int32":
        return f"its bias is {bias.dtype}, not int32"
    elif getattr(bias, "derived", False):
        return "its bias is biaspred (codec 6), which interleaved layers may not use"
    elif not weights.shape or tuple(bias.shape) != (weights.shape[0],):
        return f"its bias has shape {list(bias.shape)} for {weights.shape[0] if weights.shape else 0} output channels"
    if op == "FULLY_CONNECTED" and int(params.get("filter_offset", 0)) != 0:
        return f"filter_offset is {params['filter_offset']}, not 0"
    if op == "CONV_2D" and (len(weights.shape) != 4 or (in_channels is None and stored)
                            or in_channels is not None and weights.shape[-1] != in_channels):
        return (f"its weights have {weights.shape[-1]} input channels for an input of "
                f"{in_channels if in_channels is not None else '?'} channels (grouped convolutions stay row-major)")
    return None


def why_not(layer: Layer, in_channels: int | None = None) -> str | None:
    """Why a row-major layer cannot be interleaved under format 1.2's rules, or None if it can."""
    return problem(layer.op, layer.params, layer.consts.get("weights"), layer.consts.get("bias"), in_channels)


def group_bytes(layer: Layer) -> int:
    w = layer.consts["weights"]
    out = w.shape[0]
    return min(GROUP, out) * (w.size // out if out else 0)


def folds_bias(op: str) -> bool:
    """Whether an interleaved layer of this op stores the folded bias (FULLY_CONNECTED only)."""
    return op == "FULLY_CONNECTED"


def interleave_layer(layer: Layer) -> Layer:
    """A copy of a row-major layer in the interleaved form (check why_not first)."""
    w = layer.consts["weights"]
    consts = dict(layer.consts)
    if folds_bias(layer.op):
        consts["bias"] = fold_bias(layer.consts.get("bias"), w, int(layer.params["input_offset"]))
    consts["weights"] = interleave_weights(w)
    return replace(layer, consts=consts, interleaved=True)


def deinterleave_layer(layer: Layer) -> Layer:
    """The row-major layer an interleaved one encodes (TFLM's arithmetic runs on it)."""
    if not layer.interleaved:
        return layer
    w = deinterleave_weights(layer.consts["weights"])
    consts = dict(layer.consts)
    consts["weights"] = w
    if folds_bias(layer.op):
        consts["bias"] = unfold_bias(layer.consts["bias"], w, int(layer.params["input_offset"]))
    return replace(layer, consts=consts, interleaved=False)
