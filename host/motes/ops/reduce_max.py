"""REDUCE_MAX, int8 (Keras' GlobalMaxPooling1D / 2D; any constant axes, keep_dims either way).

TFLM: micro/kernels/reduce_common.cc, EvalMaxHelper -> reference_ops::ReduceGeneric
with int8's lowest value as the start: the largest raw int8 value over the
axes. Prepare requires the input's and output's scale and zero point to be
equal (the values are not requantized); motes refuses such a model too.
Axes resolve as for MEAN (negative axes wrap, duplicates dropped).
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from .base import Layer, expect_int8, same_quantization
from .mean import resolve_axes

OPCODES = ("REDUCE_MAX",)
PARAMS = ("axes[]",)
CONSTS = ()


def prepare(op, graph) -> Layer:
    what = f"{op.opcode} #{op.index}"
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise ModelError(f"{what}: expected 2 inputs (data, axis) and 1 output")
    expect_int8(op, graph, [op.inputs[0], op.outputs[0]])
    x = graph.tensors[op.inputs[0]]
    if x.is_const:
        raise ModelError(f"{what}: constant input; fold it before conversion")
    axes = resolve_axes(op, graph)
    if any(x.shape[a] == 0 for a in axes):
        raise ModelError(f"{what}: reduces over an empty axis")
    same_quantization(op, graph, [op.inputs[0]], op.outputs[0], "picks int8 values")
    return Layer(op.opcode, [op.inputs[0]], [op.outputs[0]], params=dict(axes=axes))


def evaluate(layer, ins, outs) -> None:
    axes = tuple(layer.params["axes"])
    x = ins[0]
    y = x.max(axis=axes) if axes else x
    outs[0][...] = np.asarray(y, np.int8).reshape(outs[0].shape)


def macs(layer, in_shapes, out_shapes) -> int:
    return 0
