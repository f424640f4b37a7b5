"""CONCATENATION, int8, on any axis (negative axes count from the end).

TFLM (micro/kernels/concatenation.cc) copies int8 inputs byte for byte
(EvalUnquantized<int8_t>): it stores the input scales and zero points but never
uses them, so inputs whose quantization differs from the output's would come
out with the wrong values. The TFLite converter never produces that (it inserts
an int8->int8 QUANTIZE in front of such an input), and motes refuses it with a
ModelError rather than reproduce wrong numbers. TFLM also requires no fused
activation and at most 10 inputs.

A constant input is allowed: its data goes into the layer constant 'constants'
(all constant inputs, flattened and joined in input order); the params say
which inputs are constant ('is_const[]') and how long every input is along the
axis ('sizes[]'), which with the output shape gives every input's shape.
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from .base import Layer

OPCODES = ("CONCATENATION",)
PARAMS = ("axis", "sizes[]", "is_const[]")
CONSTS = ("constants",)

_MAX_INPUTS = 10        # TFLM kMaxInputNum


def prepare(op, graph) -> Layer:
    y = graph.tensors[op.outputs[0]]
    n = len(op.inputs)
    if n < 1 or len(op.outputs) != 1:
        raise ModelError(f"CONCATENATION #{op.index}: expected at least 1 input and 1 output")
    if n > _MAX_INPUTS:
        raise ModelError(f"CONCATENATION #{op.index}: {n} inputs; TFLM supports at most "
                         f"{_MAX_INPUTS}. Split it into several concatenations.")
    if op.options.get("fused_activation_function", 0) != 0:
        raise ModelError(f"CONCATENATION #{op.index}: a fused activation is not supported (TFLM "
                         "rejects it); apply the activation as a separate layer")
    if y.dtype != "int8" or y.scale is None:
        raise ModelError(f"CONCATENATION #{op.index}: output {y.name!r} is {y.dtype}; motes runs "
                         "int8 models (full-integer quantization)")
    rank = len(y.shape)
    axis = int(op.options.get("axis", 0))
    if axis < 0:
        axis += rank
    if not 0 <= axis < rank:
        raise ModelError(f"CONCATENATION #{op.index}: axis {op.options.get('axis')} is out of range "
                         f"for a {rank}-D output")
    out_scale, out_zp = y.qparams()
    sizes, is_const, pieces, inputs = [], [], [], []
    for k, i in enumerate(op.inputs):
        t = graph.tensors[i]
        if t.dtype != "int8" or t.scale is None:
            raise ModelError(f"CONCATENATION #{op.index}: input {k} {t.name!r} is {t.dtype}; motes "
                             "runs int8 models (full-integer quantization)")
        if len(t.shape) != rank or any(a != b for d, (a, b) in enumerate(zip(t.shape, y.shape))
                                       if d != axis):
            raise ModelError(f"CONCATENATION #{op.index}: input {k} shape {t.shape} does not fit "
                             f"output {y.shape} on axis {axis}")
        s, z = t.qparams()
        if z != out_zp or np.float32(s) != np.float32(out_scale):
            raise ModelError(
                f"CONCATENATION #{op.index}: input {k} {t.name!r} is quantized (scale {s:g}, zero "
                f"point {z}) differently from the output (scale {out_scale:g}, zero point {out_zp}). "
                "TFLM copies int8 inputs unchanged, so this would give wrong values; convert the "
                "model with the TFLite converter, which inserts a requantizing QUANTIZE op.")
        sizes.append(int(t.shape[axis]))
        if t.is_const:
            is_const.append(1)
            pieces.append(np.asarray(t.data, dtype=np.int8).reshape(-1))
        else:
            is_const.append(0)
            inputs.append(i)
    if sum(sizes) != y.shape[axis]:
        raise ModelError(f"CONCATENATION #{op.index}: inputs add up to {sum(sizes)} along axis "
                         f"{axis}, the output has {y.shape[axis]}")
    consts = {"constants": np.concatenate(pieces)} if pieces else {}
    return Layer("CONCATENATION", inputs, [op.outputs[0]],
                 params=dict(axis=axis, sizes=sizes, is_const=is_const), consts=consts)


def evaluate(layer, ins, outs) -> None:
    p = layer.params
    out = outs[0]
    axis = p["axis"]
    rest = list(ins)
    flat_consts = layer.consts.get("constants")
    pos = 0
    parts = []
    for size, const in zip(p["sizes"], p["is_const"]):
        shape = list(out.shape)
        shape[axis] = size
        if const:
            count = int(np.prod(shape, dtype=np.int64))
            parts.append(np.asarray(flat_consts[pos:pos + count]).reshape(shape))
            pos += count
        else:
            parts.append(np.asarray(rest.pop(0)).reshape(shape))
    out[...] = np.concatenate(parts, axis=axis).astype(np.int8)


def macs(layer, in_shapes, out_shapes) -> int:
    return 0
