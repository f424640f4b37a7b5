"""The checks of a whole graph before anything is decoded or run (docs/FORMAT.md,
Verification): the rules and messages of the device's verify.py."""
from __future__ import annotations

import numpy as np

from .. import ops
from .container import FormatError
from .model import CODEC_SCALES, DERIVED, DERIVED_OPS, DTYPE_SIZES, DTYPES, MoteModel

ALIAS_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
GATHER_OPS = ("STRIDED_SLICE", "SLICE", "TRANSPOSE", "SPLIT", "SPLIT_V", "UNPACK", "PACK")
CONST_INPUT_OPS = ("ADD", "SUB", "MUL", "CONCATENATION")    # may take all their inputs from constants
INT8_CONST_OPS = CONST_INPUT_OPS + ("MAXIMUM", "MINIMUM")     # whose constants are int8 values
# one value out per value in: activations, SOFTMAX, QUANTIZE / DEQUANTIZE, RESHAPE and its kin
ONE_TO_ONE_OPS = ("RESHAPE", "SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6", "QUANTIZE", "SQUEEZE",
                  "EXPAND_DIMS", "LEAKY_RELU", "HARD_SWISH", "DEQUANTIZE")


def verify(model: MoteModel, what: str = "file") -> None:
    """The checks of the whole graph, before anything is decoded or run: the rules and
    messages of the device's verify.py (docs/FORMAT.md, Verification)."""
    tensors, arena = model.tensors, model.arena_size
    sizes = [int(np.prod(t.shape, dtype=object)) if t.shape else 1 for t in tensors]
    nbytes = [n * DTYPE_SIZES[DTYPES.index(t.dtype)] for t, n in zip(tensors, sizes)]
    for i, (t, n) in enumerate(zip(tensors, nbytes)):
        if t.offset + n > arena:
            raise FormatError(f"{what}: tensor {i}: {n} bytes at arena offset {t.offset} are outside the arena "
                              f"({arena} bytes)")
    nl = len(model.layers)
    first, last, root = [nl + 1] * len(tensors), [-1] * len(tensors), list(range(len(tensors)))

    def touch(t, s):
        first[t], last[t] = min(first[t], s), max(last[t], s)

    def find(t):
        while root[t] != t:
            t = root[t]
        return t

    for t in model.inputs:
        touch(t, 0)
    for t in model.outputs:
        touch(t, nl)
    for i, layer in enumerate(model.layers):
        for t in list(layer.inputs) + list(layer.outputs):
            touch(t, i)
            # int8 activations, but QUANTIZE's input and DEQUANTIZE's output (float32 at the edges)
            if tensors[t].dtype != "int8" and not (layer.op == "QUANTIZE" and t in layer.inputs
                                                   or layer.op == "DEQUANTIZE" and t in layer.outputs):
                raise FormatError(f"{what}: layer {i}: tensor {t} has dtype code {DTYPES.index(tensors[t].dtype)}: "
                                  "only QUANTIZE's input and DEQUANTIZE's output are not int8")
        if (not layer.inputs and layer.op not in CONST_INPUT_OPS) or not layer.outputs:
            raise FormatError(f"{what}: layer {i} has no input or output tensor")
        if layer.op in ALIAS_OPS and len(layer.inputs) == 1 and len(layer.outputs) == 1:
            root[layer.outputs[0]] = find(layer.inputs[0])
        xs = tensors[layer.inputs[0]].shape if layer.inputs else ()
        ys = tensors[layer.outputs[0]].shape
        if layer.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            # pools: the same batch and channels, 4-d
            if len(xs) != 4 or len(ys) != 4 or xs[0] != ys[0] or xs[3] != ys[3]:
                raise FormatError(_SHAPES % (what, i))
        if layer.op in ONE_TO_ONE_OPS and (sizes[layer.inputs[0]] != sizes[layer.outputs[0]] or (
                layer.op not in ALIAS_OPS and xs[-1:] != ys[-1:])):
            # one value out per value in, the rows of the same length but for the aliases
            raise FormatError(_SHAPES % (what, i))
        if layer.op in DERIVED_OPS:
            _verify_conv(what, i, layer, model.packed[i], tensors, sizes)
        if layer.op in GATHER_OPS and not _gather_ok(layer, tensors, sizes):
            raise FormatError(_SHAPES % (what, i))
        if layer.op == "CONCATENATION" and not _concat_ok(layer, tensors, sizes):
            raise FormatError(_SHAPES % (what, i))
        if layer.op == "TRANSPOSE_CONV":
            if not _tconv_ok(model.packed[i], xs, ys):
                raise FormatError(_SHAPES % (what, i))
            _verify_requantization(what, i, model.packed[i])
    for u in range(len(tensors)):
        if last[u] < 0:
            continue
        ou, eu = tensors[u].offset, tensors[u].offset + nbytes[u]
        for v in range(u + 1, len(tensors)):
            if last[v] < 0 or first[v] > last[u] or first[u] > last[v]:
                continue
            ov = tensors[v].offset
            if ov >= eu or ou >= ov + nbytes[v]:
                continue
            if find(u) != find(v) or ou != ov:
                raise FormatError(f"{what}: tensors {u} and {v} overlap in the arena while both are live")
    labels = model.meta.get("labels")
    if labels is not None:
        shape = tensors[model.outputs[0]].shape
        c = shape[-1] if shape else 1
        if not isinstance(labels, list) or len(labels) != c:
            raise FormatError(f"{what}: metadata: labels must be a list of {c} names, one per output")
    norm = model.meta.get("input_norm")
    if norm is not None and not _norm_ok(norm, sizes[model.inputs[0]]):
        raise FormatError(f'{what}: metadata: input_norm must be {{"mean": [...], "std": [...]}}, as many finite '
                          f'numbers each, a divisor of the {sizes[model.inputs[0]]} inputs, no std 0')


def _gather_ok(layer, tensors, sizes) -> bool:
    """STRIDED_SLICE and its kin (ops/gather.py): one offset per contiguous tensor, one step
    per axis of it, and every place reached inside the strided tensor (k_gather.py checks
    the same before it copies)."""
    pack = layer.op == "PACK"
    big, small = (layer.outputs[0], layer.inputs) if pack else (layer.inputs[0], layer.outputs)
    offs, steps = layer.params.get("offsets", []), layer.params.get("steps", [])
    if len(offs) != len(small) or len(layer.outputs if pack else layer.inputs) != 1:
        return False
    for t, off in zip(small, offs):
        shape = tensors[t].shape or (1,)
        st = list(steps) or [0]
        if len(st) != len(shape):
            return False
        if sizes[t]:
            reach = [(d - 1) * s for d, s in zip(shape, st)]
            if off + sum(r for r in reach if r < 0) < 0 or off + sum(r for r in reach if r > 0) >= sizes[big]:
                return False
    return True


def _concat_ok(layer, tensors, sizes) -> bool:
    """CONCATENATION: the sizes add up to the output's axis, one input tensor per part that is
    not constant, each of the part's size (k_concat.py checks the same before it copies)."""
    p = layer.params
    ys = tensors[layer.outputs[0]].shape
    axis, parts, const = p.get("axis", -1), p.get("sizes", []), p.get("is_const", [])
    if not 0 <= axis < len(ys) or len(parts) != len(const) or sum(parts) != ys[axis]:
        return False
    inner = int(np.prod(ys[axis + 1:], dtype=np.int64))
    outer = int(np.prod(ys[:axis], dtype=np.int64))
    ins = [n for n, c in zip(parts, const) if not c]
    return len(ins) == len(layer.inputs) and all(
        sizes[t] == outer * n * inner for t, n in zip(layer.inputs, ins))


def _tconv_ok(packed, xs, ys) -> bool:
    """TRANSPOSE_CONV: 4-d input and output, weights [out, kh, kw, in] of theirs, one bias per
    output channel, one multiplier and shift or one per channel (k_tconv.py checks the same)."""
    w, m, s, b = (packed.get(k) for k in ("weights", "multiplier", "shift", "bias"))
    if w is None or m is None or s is None or len(xs) != 4 or len(ys) != 4:
        return False
    ws = tuple(w.shape)
    return len(ws) == 4 and ws[0] == ys[3] and ws[3] == xs[3] and m.count in (1, ys[3]) \
        and s.count == m.count and (b is None or b.count == ys[3])


def _norm_ok(norm, n: int) -> bool:
    """input_norm as the board applies it (Net._set_input_float) and api.normalize: mean and
    std, k numbers each (not booleans), k dividing the input's n values, finite as float32,
    no std 0."""
    mean, std = (norm.get("mean"), norm.get("std")) if isinstance(norm, dict) else (None, None)
    if not (isinstance(mean, list) and isinstance(std, list) and 0 < len(mean) == len(std) and n % len(mean) == 0):
        return False
    if any(type(v) not in (int, float) for v in mean + std):
        return False
    try:
        with np.errstate(over="ignore"):
            m, s = (np.array([float(v) for v in x], np.float64).astype(np.float32) for x in (mean, std))
    except OverflowError:                       # an int past a double's range: inf on the board
        return False
    return bool(np.isfinite(m).all() and np.isfinite(s).all() and (s != 0).all())


def _verify_conv(what, i, layer, packed, tensors, sizes):
    x, y = layer.inputs[0], layer.outputs[0]
    xs, ys = tensors[x].shape, tensors[y].shape
    w, m = packed.get("weights"), packed.get("multiplier")
    ok = w is not None and m is not None and ("shift" in packed or m.codec == CODEC_SCALES)
    if ok:
        ws = tuple(w.shape)
        oc = (ws[0] if layer.op != "DEPTHWISE_CONV_2D" else ws[-1]) if ws else 0
        if layer.op == "FULLY_CONNECTED":
            d = ws[1] if len(ws) == 2 else 0
            ok = len(ws) == 2 and d > 0 and sizes[x] % d == 0 and bool(ys) and ys[-1] == oc \
                and sizes[y] == sizes[x] // d * oc
        else:
            ok = len(ws) == 4 and len(xs) == 4 and len(ys) == 4 and xs[0] == ys[0] and ys[3] == oc \
                and 0 < ws[1] < 32768 and 0 < ws[2] < 32768 and xs[1] < 32768 and xs[2] < 32768
            if ok and layer.op == "CONV_2D":
                g = xs[3] // ws[3] if ws[3] else 0
                ok = g > 0 and g * ws[3] == xs[3] and oc % g == 0 and ws[1] * ws[2] * ws[3] < 1 << 31
            elif ok:
                ok = ws[0] == 1 and xs[3] * layer.params["depth_multiplier"] == oc
        for name in ("bias", "multiplier", "shift"):
            pc = packed.get(name, m if name == "shift" else None)
            if ok and pc is not None:
                n = pc.count
                ok = n == oc or (n == 1 and name != "bias")
    if not ok:
        raise FormatError(_SHAPES % (what, i))
    _verify_requantization(what, i, packed)


def _verify_requantization(what, i, packed):
    # the multipliers' and shifts' values (small arrays: decoded here, once)
    for j, name, lo, hi in ((2, "multiplier", 0, (1 << 31) - 1), (3, "shift", -63, 31)):
        pc = packed.get(name)
        if pc is not None and pc.codec not in DERIVED:
            v = pc.decode()
            bad = v[(v < lo) | (v > hi)]
            if bad.size:
                raise FormatError(f"{what}: layer {i}: constant {j} holds {int(bad[0])}, outside {lo}..{hi}")


_SHAPES = "%s: layer %d: its shapes do not fit each other (input, output, weights, bias, multipliers, shifts)"
