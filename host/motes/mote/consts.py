"""A layer's constants: packed with the smallest codec (the derived encodings of
derived.py tried too) and decoded back to arrays."""
from __future__ import annotations

import numpy as np

from .. import codecs
from ..compiler.graph import ModelError
from ..ops.base import Layer
from .container import FormatError
from .derived import BIASPRED_WRITE_OPS, DERIVED_CODECS, LayerContext
from .model import DERIVED, DERIVED_OPS, DTYPES, PackedConst
from .tables import const_names


def _plain(arr, allow) -> PackedConst:
    codec, payload = codecs.pack(arr.ravel(), allow=allow)
    return PackedConst(codec, arr.dtype.name, tuple(arr.shape), payload)


def pack_consts(layer: Layer, allow=None, tensors=None, biaspred_ops=BIASPRED_WRITE_OPS) -> dict:
    """Encode each constant of a layer with the smallest codec.

    With the model's tensor table (`tensors`), the derived encodings of format
    1.1 are tried too for FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D:
    filter scales instead of multipliers and shifts (codec 5), and biases
    predicted from the weight sums (codec 6, for the ops in biaspred_ops); each
    is kept only when smaller.
    """
    packed = {}
    for name in const_names(layer.op):
        arr = layer.consts.get(name)
        if arr is None:
            continue
        arr = np.asarray(arr)
        if arr.dtype.name not in DTYPES:
            raise ModelError(f"{layer.op}: constant {name!r} has dtype {arr.dtype}, which .mote cannot store")
        packed[name] = _plain(arr, allow)
    if tensors is not None and layer.op in DERIVED_OPS:
        ctx = LayerContext(layer, tensors)
        for codec in DERIVED_CODECS.values():
            # format 1.2: no biaspred in an interleaved layer
            if codec.slot != "bias" or (layer.op in biaspred_ops and not layer.interleaved):
                codec.encode(ctx, packed, allow)
    return packed


def without_derived(layer: Layer, packed: dict, allow=None) -> dict:
    """packed with the derived constants (codecs 5, 6) replaced by their plain encodings."""
    if not any(pc.codec in DERIVED for pc in packed.values()):
        return packed
    out = {}
    for name in const_names(layer.op):
        pc = packed.get(name)
        if pc is not None and pc.codec not in DERIVED:
            out[name] = pc
        elif name in layer.consts and (pc is not None or name == "shift"):
            out[name] = _plain(np.asarray(layer.consts[name]), allow)
    return out


def decode_consts(layer: Layer, packed: dict, tensors) -> tuple[dict, np.ndarray | None]:
    """(every constant array of a layer, the derived ones (codecs 5, 6) rebuilt; the filter
    scales a scales constant holds, or None). The layer is not changed."""
    what = f"{layer.op}"
    out = {name: pc.decode() for name, pc in packed.items() if pc.codec not in DERIVED}
    filter_scale = None
    ctx = LayerContext(layer, tensors)
    for name, pc in packed.items():
        if pc.codec not in DERIVED:
            continue
        if layer.op not in DERIVED_OPS or pc.dtype != "int32" or len(pc.shape) != 1:
            raise FormatError(f"{what}: {pc.codec_name} encoding is not allowed for {name!r} of this op")
        arrays, scales = DERIVED_CODECS[pc.codec].decode(ctx, name, pc, out, packed)
        out.update(arrays)
        if scales is not None:
            filter_scale = scales
    return out, filter_scale


def decode_layer_consts(layer: Layer, packed: dict, tensors) -> dict:
    """Every constant array of a layer, the derived ones (codecs 5, 6) rebuilt."""
    return decode_consts(layer, packed, tensors)[0]
