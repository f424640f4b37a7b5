"""MEAN, int8 (reduce over the axes of a constant axis tensor; keep_dims either way).

TFLM (micro/kernels/reduce_common.cc: EvalMeanHelper -> QuantizedMeanOrSum<int8_t>)
now runs every int8 MEAN through one integer path (there is no longer a
separate "same scale" path or a float32 path; this was established from the
tflite-micro build used as the oracle, whose kernel has no float arithmetic):

  prepare:  multiplier, shift = QuantizeMultiplier(double(in_scale) / double(out_scale))
            n = number of reduced elements
            k = min(floor(log2(n)), shift + 31, 32)
            multiplier = (int64(multiplier) << k) / n      (C++ division, truncating)
            shift -= k
  eval:     sum = int32 sum of the raw int8 values over the axes
            y = clamp(MBQM(sum - input_zp * n, multiplier, shift) + output_zp, -128, 127)

Axes are resolved as TFLM's ResolveAxis does (negative axes wrap, duplicates
dropped); the reduced axes need not be adjacent and there is no limit on how
many there are (TFLM sizes its index buffers from the tensors).
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from ..quant import multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32
from .base import Layer, const_input, expect_int8

OPCODES = ("MEAN",)
PARAMS = ("axes[]", "multiplier", "shift", "sum_offset", "output_zero_point")
CONSTS = ()


def prepare(op, graph) -> Layer:
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise ModelError(f"MEAN #{op.index}: expected 2 inputs (data, axis) and 1 output")
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    expect_int8(op, graph, [op.inputs[0], op.outputs[0]])
    if x.is_const:
        raise ModelError(f"MEAN #{op.index}: constant input; fold it before conversion")
    axes = resolve_axes(op, graph)
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64)) if axes else 1
    if n <= 0:
        raise ModelError(f"MEAN #{op.index}: reduces over an empty axis")
    in_scale, in_zp = x.qparams()
    out_scale, out_zp = y.qparams()
    mult, shift = quantize_multiplier(float(in_scale) / float(out_scale))
    k = min(n.bit_length() - 1, shift + 31, 32)
    mult = int(np.int64(mult) << np.int64(k)) // n      # both positive: C++ division
    shift -= k
    return Layer("MEAN", [op.inputs[0]], [op.outputs[0]],
                 params=dict(axes=axes, multiplier=mult, shift=shift,
                             sum_offset=int(wrap_int32(-in_zp * n)), output_zero_point=out_zp))


def resolve_axes(op, graph) -> list[int]:
    """The reduced axes of MEAN or REDUCE_MAX as TFLM's ResolveAxis (negative ones wrapped,
    duplicates dropped), checked against the input's rank and the output's size."""
    what = f"{op.opcode} #{op.index}"
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    axis_t = graph.tensors[op.inputs[1]]
    if axis_t.dtype != "int32":
        raise ModelError(f"{what}: the axis tensor is {axis_t.dtype}; TFLM needs int32")
    axis = const_input(op, graph, 1, "the axis tensor (a non-constant axis is not supported)")
    nd = len(x.shape)
    axes = []
    for a in (int(v) for v in np.asarray(axis).reshape(-1)):
        r = a + nd if a < 0 else a
        if not 0 <= r < nd:
            raise ModelError(f"{what}: axis {a} is out of range for a {nd}-D input")
        if r not in axes:
            axes.append(r)
    kept = [d for k, d in enumerate(x.shape) if k not in axes]
    if int(np.prod(y.shape, dtype=np.int64)) != int(np.prod(kept, dtype=np.int64)):
        raise ModelError(f"{what}: output shape {y.shape} does not match input "
                         f"{x.shape} reduced over axes {axes}")
    return axes


def evaluate(layer, ins, outs) -> None:
    p = layer.params
    x = ins[0].astype(np.int64)
    axes = tuple(p["axes"])
    total = x.sum(axis=axes) if axes else x
    acc = wrap_int32(wrap_int32(total) + p["sum_offset"])
    y = multiply_by_quantized_multiplier(acc, p["multiplier"], p["shift"]) + p["output_zero_point"]
    outs[0][...] = np.clip(y, -128, 127).astype(np.int8).reshape(outs[0].shape)


def macs(layer, in_shapes, out_shapes) -> int:
    return 0
