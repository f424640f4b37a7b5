"""RESHAPE, SQUEEZE, EXPAND_DIMS: the int8 data is unchanged, only the shape differs.

TFLM: tensorflow/lite/micro/kernels/reshape.cc (memcpy unless in place), squeeze.cc,
expand_dims.cc. The output shape is the output tensor's shape (the converter
has already resolved -1 / new_shape / axis); the shape or axis input, if any,
is not used.

ALIAS: the output may share the input's memory (the copy is a no-op when the
memory planner places both at the same address).
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from .base import Layer, expect_int8

OPCODES = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
PARAMS = ()
CONSTS = ()
ALIAS = True   # output may be placed on the input's bytes


def prepare(op, graph) -> Layer:
    what = f"{op.opcode} #{op.index}"
    if not op.inputs or op.inputs[0] < 0 or len(op.outputs) != 1:
        raise ModelError(f"{what}: expects a data input and one output")
    expect_int8(op, graph, [op.inputs[0], op.outputs[0]])
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if x.size != y.size:
        raise ModelError(f"{what}: input {x.shape} has {x.size} elements but output {y.shape} has {y.size}; "
                         "dynamic shapes are not supported, convert with a fixed batch size (batch_size=1)")
    if any(int(d) < 0 for d in y.shape):
        raise ModelError(f"{what}: output shape {y.shape} is not fully known; convert with fixed shapes")
    if len(x.scale) != len(y.scale) or len(x.zero_point) != len(y.zero_point) \
            or np.any(x.zero_point != y.zero_point) \
            or np.any(np.abs(x.scale.astype(np.float64) - y.scale.astype(np.float64))
                      > 1e-6 * np.abs(y.scale.astype(np.float64))):
        raise ModelError(f"{what}: input quantization (scale {x.scale.tolist()}, zero point "
                         f"{x.zero_point.tolist()}) differs from output (scale {y.scale.tolist()}, zero point "
                         f"{y.zero_point.tolist()}); a reshape copies int8 values, so they must be equal. "
                         "Convert the model again with the standard int8 converter.")
    return Layer(op.opcode, [op.inputs[0]], [op.outputs[0]])


def evaluate(layer, ins, outs) -> None:
    # numpy handles the aliased case (same bytes) correctly
    outs[0][...] = ins[0].reshape(outs[0].shape)


def macs(layer, in_shapes, out_shapes) -> int:
    return 0
