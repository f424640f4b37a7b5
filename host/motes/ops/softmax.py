"""SOFTMAX, int8 in -> int8 out (over the last axis).

TFLM (micro/kernels/softmax.cc, softmax_common.cc) runs int8 softmax with the
gemmlowp fixed-point path of reference/softmax.h, not a LUT (LUTs are only
built for int16 input):

  prepare: PreprocessSoftmaxScaling(beta, input_scale, 5) -> (input_multiplier,
           input_left_shift); diff_min = -CalculateInputRadius(5, input_left_shift)
  eval, per row:  diff = x - max(row)   (only diff >= diff_min contributes)
      scaled = MultiplyByQuantizedMultiplierGreaterThanOne(diff, mult, shift)   # Q5.26
      e      = exp_on_negative_values(scaled)                                   # Q0.31
      sum    = sum(Rescale<12>(e))                                              # Q12.19
      recip, num_bits_over_unit = GetReciprocal(sum, 12)
      y = RoundingDivideByPOT(SRDHM(recip, e), num_bits_over_unit + 23) - 128, clamped
      (elements with diff < diff_min give -128)

The output must be quantized with scale 1/256 and zero point -128 (TFLM checks it).
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from ..quant import (
    INT8_MAX, INT8_MIN, calculate_input_radius, exp_on_negative_values, fixedpoint_rescale,
    get_reciprocal, multiply_by_quantized_multiplier_greater_than_one, preprocess_softmax_scaling,
    rounding_divide_by_pot, saturating_rounding_doubling_high_mul, wrap_int32)
from .base import Layer, expect_int8

OPCODES = ("SOFTMAX",)
PARAMS = ("input_multiplier", "input_left_shift", "diff_min")
CONSTS = ()

_SCALED_DIFF_INTEGER_BITS = 5
_ACCUMULATION_INTEGER_BITS = 12


def prepare(op, graph) -> Layer:
    if len(op.inputs) != 1 or len(op.outputs) != 1:
        raise ModelError(f"SOFTMAX #{op.index}: expected 1 input and 1 output, "
                         f"got {len(op.inputs)} and {len(op.outputs)}")
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if y.dtype == "int16":
        raise ModelError(f"SOFTMAX #{op.index}: int16 output is not supported; "
                         "convert with int8 activations (output int8, scale 1/256, zero point -128)")
    expect_int8(op, graph, [op.inputs[0], op.outputs[0]])
    if x.is_const:
        raise ModelError(f"SOFTMAX #{op.index}: constant input; fold it before conversion")
    if len(x.shape) < 1:
        raise ModelError(f"SOFTMAX #{op.index}: input must have at least 1 dimension")
    in_scale, _ = x.qparams()
    out_scale, out_zp = y.qparams()
    if out_zp != -128 or np.float32(out_scale) != np.float32(1.0 / 256):
        raise ModelError(
            f"SOFTMAX #{op.index}: output {y.name!r} has scale {out_scale} and zero point {out_zp}; "
            "TFLM's int8 softmax needs scale 1/256 and zero point -128 (what the TFLite converter "
            "produces). Re-convert the model with the standard converter.")
    beta = float(op.options.get("beta", 1.0))
    real = min(beta * in_scale * float(1 << (31 - _SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    if not real > 1.0:
        raise ModelError(
            f"SOFTMAX #{op.index}: beta * input_scale = {beta * in_scale:g} is too small "
            f"(TFLM needs beta * input_scale * 2^26 > 1); the input range is degenerate. "
            "Check the model's calibration.")
    mult, shift = preprocess_softmax_scaling(beta, in_scale, _SCALED_DIFF_INTEGER_BITS)
    diff_min = -calculate_input_radius(_SCALED_DIFF_INTEGER_BITS, shift)
    return Layer("SOFTMAX", [op.inputs[0]], [op.outputs[0]],
                 params=dict(input_multiplier=mult, input_left_shift=shift, diff_min=diff_min))


def evaluate(layer, ins, outs) -> None:
    p = layer.params
    x = ins[0]
    depth = x.shape[-1] if x.ndim else 1
    rows = x.reshape(-1, depth).astype(np.int64)
    diff = rows - rows.max(axis=1, keepdims=True)
    live = diff >= p["diff_min"]
    scaled = multiply_by_quantized_multiplier_greater_than_one(
        np.where(live, diff, 0), p["input_multiplier"], p["input_left_shift"])
    e = exp_on_negative_values(scaled, _SCALED_DIFF_INTEGER_BITS)
    acc = fixedpoint_rescale(e, 0, _ACCUMULATION_INTEGER_BITS)
    sum_of_exps = wrap_int32(np.where(live, acc, 0).sum(axis=1, keepdims=True))
    recip, num_bits_over_unit = get_reciprocal(sum_of_exps, _ACCUMULATION_INTEGER_BITS)
    exponent = num_bits_over_unit + 31 - 8
    unsat = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(recip, e), exponent)
    y = np.clip(unsat + INT8_MIN, INT8_MIN, INT8_MAX)
    y = np.where(live, y, INT8_MIN)
    outs[0][...] = y.astype(np.int8).reshape(outs[0].shape)


def macs(layer, in_shapes, out_shapes) -> int:
    return 0
