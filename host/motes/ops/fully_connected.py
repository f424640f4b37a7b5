"""FULLY_CONNECTED, int8 (per-tensor and per-channel weights).

TFLM reference: tensorflow/lite/kernels/internal/reference/integer_ops/fully_connected.h
acc[b, o] = bias[o] + sum_d (w[o, d] + filter_offset) * (x[b, d] + input_offset)
y = clamp(MultiplyByQuantizedMultiplier(acc, mult[o], shift[o]) + output_offset)
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from ..quant import activation_range, requantize
from .base import Layer, const_input, expect_int8, per_channel_multipliers

OPCODES = ("FULLY_CONNECTED",)
PARAMS = ("input_offset", "filter_offset", "output_offset", "act_min", "act_max")
CONSTS = ("weights", "bias", "multiplier", "shift")


def prepare(op, graph) -> Layer:
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    expect_int8(op, graph, [op.inputs[0], op.outputs[0]])
    wt = graph.tensors[op.inputs[1]]
    if wt.dtype != "int8":
        raise ModelError(f"FULLY_CONNECTED #{op.index}: weights are {wt.dtype}; only int8 weights are supported")
    w = const_input(op, graph, 1, "the weight matrix")
    if w.ndim != 2:
        raise ModelError(f"FULLY_CONNECTED #{op.index}: weights must be 2-D [out, depth], got {w.shape}")
    if op.options.get("weights_format", 0) != 0:
        raise ModelError(f"FULLY_CONNECTED #{op.index}: shuffled weights format is not supported")
    out_ch, depth = w.shape
    if x.size % depth:
        raise ModelError(f"FULLY_CONNECTED #{op.index}: input size {x.size} is not a multiple of depth {depth}")
    bias_t = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 else None
    if bias_t is not None and bias_t.dtype != "int32":
        raise ModelError(f"FULLY_CONNECTED #{op.index}: bias is {bias_t.dtype}; int8 models need int32 bias")
    bias = bias_t.data.astype(np.int32) if bias_t is not None else np.zeros(out_ch, np.int32)
    in_scale, in_zp = x.qparams()
    out_scale, out_zp = y.qparams()
    mult, shift = per_channel_multipliers(in_scale, wt.scale, out_scale)
    act_min, act_max = activation_range(op.options.get("fused_activation_function", 0), out_scale, out_zp)
    return Layer("FULLY_CONNECTED", [op.inputs[0]], [op.outputs[0]],
                 params=dict(input_offset=-in_zp, filter_offset=-int(wt.zero_point[0]),
                             output_offset=out_zp, act_min=act_min, act_max=act_max),
                 consts=dict(weights=w.astype(np.int8), bias=bias, multiplier=mult, shift=shift),
                 filter_scale=np.asarray(wt.scale, np.float32).ravel().copy())


def evaluate(layer, ins, outs) -> None:
    p, c = layer.params, layer.consts
    w = c["weights"].astype(np.int64) + p["filter_offset"]
    x = ins[0].reshape(-1, w.shape[1]).astype(np.int64) + p["input_offset"]
    acc = x @ w.T
    if c.get("bias") is not None:        # optional in a .mote (zeros)
        acc += c["bias"]
    outs[0][...] = requantize(acc, c["multiplier"].astype(np.int64), c["shift"],
                              p["output_offset"], p["act_min"], p["act_max"]).reshape(outs[0].shape)


def macs(layer, in_shapes, out_shapes) -> int:
    return int(np.prod(out_shapes[0])) * layer.consts["weights"].shape[1]
