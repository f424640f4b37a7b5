"""MAXIMUM, MINIMUM: int8 elementwise max / min with numpy-style broadcasting.

TFLM: micro/kernels/maximum_minimum.cc (reference_ops::MaximumMinimumBroadcast*):
the raw int8 values are compared, with no requantization, so the result means
max / min of the real values only when both inputs and the output share one
scale and zero point. The converter quantizes them so (a ReLU with a
max_value, Keras' Maximum / Minimum layers); motes refuses a model where they
differ rather than copy values whose meaning would change.

A constant operand (the clip value of ReLU(max_value=...), a scalar) becomes
the layer constant 'input1' or 'input2', kept with its own shape so that
broadcasting works, as for ADD / SUB / MUL.
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from .base import Layer, expect_int8, same_quantization, split_operands
from .elementwise import _broadcast_shape

OPCODES = ("MAXIMUM", "MINIMUM")
PARAMS = ()
CONSTS = ("input1", "input2")


def prepare(op, graph) -> Layer:
    what = f"{op.opcode} #{op.index}"
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise ModelError(f"{what}: expected 2 inputs and 1 output, got {len(op.inputs)} and {len(op.outputs)}")
    expect_int8(op, graph, list(op.inputs) + list(op.outputs))
    t1, t2 = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    y = graph.tensors[op.outputs[0]]
    _broadcast_shape(op, t1.shape, t2.shape, y.shape)
    same_quantization(op, graph, list(op.inputs), op.outputs[0], "compares int8 values")
    if t1.is_const and t2.is_const:
        raise ModelError(f"{what}: both inputs are constants; fold the op before conversion")
    inputs, consts = split_operands(op, graph)
    return Layer(op.opcode, inputs, [op.outputs[0]], consts=consts)


def evaluate(layer, ins, outs) -> None:
    rest = list(ins)
    a, b = (layer.consts[k] if k in layer.consts else rest.pop(0) for k in ("input1", "input2"))
    f = np.maximum if layer.op == "MAXIMUM" else np.minimum
    outs[0][...] = f(np.asarray(a, np.int8), np.asarray(b, np.int8)).reshape(outs[0].shape)


def macs(layer, in_shapes, out_shapes) -> int:
    return 0
