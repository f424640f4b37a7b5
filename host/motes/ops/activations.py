"""Unary int8 activations: LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH.

All follow TFLM's int8 reference kernels bit for bit:

LOGISTIC (micro/kernels/logistic_common.cc, reference/integer_ops/logistic.h)
    multiplier, shift = frexp(input_scale * 2^27) (shift is a left shift);
    range_radius = CalculateInputRadius(4, shift);  x = q - input_zp;
    x <= -radius -> -128, x >= radius -> 127, else
    y = RoundingDivideByPOT(gemmlowp::logistic(Q4.27 MBQM(x)), 23) - 128, clamped.
    The output zero point must be -128 (TFLM checks it); its scale is not used.
TANH (micro/kernels/tanh.cc, reference/integer_ops/tanh.h)
    same input scaling; y = RoundingDivideByPOT(gemmlowp::tanh(...), 24), clamped,
    saturating to -128/127 outside the radius. The output quantization is not read
    by TFLM (it assumes scale 1/128, zero point 0, which is what converters emit).
RELU (activations_common.cc ReluQuantized)
    y = clamp(output_zp + MBQM(q - input_zp, mult, shift), max(-128, output_zp), 127)
    with mult/shift = QuantizeMultiplier(double(input_scale) / double(output_scale)).
RELU6 (Relu6Quantized): y = clamp(q, input_zp, round(6 / input_scale) + input_zp);
    TFLM never reads the output quantization. TF 2.21 gives a standalone RELU6
    its own output scale (6/255, zero point -128), so TFLM's int8 RELU6 then
    returns values on the input's scale under the output's label; motes
    reproduces that bit for bit (it is the oracle's behaviour).
LEAKY_RELU (leaky_relu_common.cc, reference/leaky_relu.h)
    q - input_zp >= 0 -> identity multiplier in / out, else alpha multiplier
    in * alpha / out, + output_zp, clamped.
HARD_SWISH (hard_swish_common.cc, reference/hard_swish.h): the int16 fixed-point
    algorithm with 16-bit multipliers (DownScaleInt32ToInt16Multiplier);
    hires_scale = float32(1/128 * input_scale), then hires/output and
    hires/(3/32768) as doubles.

Multiplier derivations use double arithmetic on the float32 scales: some
published TFLM sources compute RELU / LEAKY_RELU / HARD_SWISH ratios in float32,
but the TFLM build used as the oracle divides in double (checked in its
machine code), and the low bits of a multiplier can change a result.

Params (unused ones are 0):
    input_zero_point, output_zero_point
    multiplier, shift:     LOGISTIC/TANH input multiplier and left shift; RELU output
                           rescale; LEAKY_RELU identity rescale; HARD_SWISH int16
                           output multiplier and exponent
    multiplier2, shift2:   LEAKY_RELU alpha rescale; HARD_SWISH int16 "reluish"
                           multiplier and exponent
    range_radius:          LOGISTIC/TANH
    act_min, act_max:      RELU clamp bounds; RELU6 raw clamp bounds (zero, six)
"""
from __future__ import annotations

import math

import numpy as np

from ..compiler.graph import ModelError
from ..quant import (
    INT8_MAX, INT8_MIN, INT32_MIN, calculate_input_radius, fixedpoint_logistic,
    fixedpoint_tanh, multiply_by_quantized_multiplier, quantize_multiplier,
    rounding_divide_by_pot, tflite_round)
from .base import Layer, expect_int8

OPCODES = ("LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH")
PARAMS = ("input_zero_point", "output_zero_point", "multiplier", "shift",
          "multiplier2", "shift2", "range_radius", "act_min", "act_max")
CONSTS = ()

_INPUT_INTEGER_BITS = 4          # LOGISTIC / TANH: the input is rescaled to Q4.27


def _int16_multiplier(m32: int) -> int:
    """TFLM DownScaleInt32ToInt16Multiplier."""
    if m32 >= (1 << 31) - 1 - (1 << 15):
        return 32767
    return (m32 + (1 << 15)) >> 16


def _f32(v) -> np.float32:
    return np.float32(v)


def prepare(op, graph) -> Layer:
    name = op.opcode
    if len(op.inputs) != 1 or len(op.outputs) != 1:
        raise ModelError(f"{name} #{op.index}: expected 1 input and 1 output")
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    expect_int8(op, graph, [op.inputs[0], op.outputs[0]])
    if x.is_const:
        raise ModelError(f"{name} #{op.index}: constant input; fold it before conversion")
    if x.shape != y.shape and x.size != y.size:
        raise ModelError(f"{name} #{op.index}: input {x.shape} and output {y.shape} sizes differ")
    in_scale, in_zp = x.qparams()
    out_scale, out_zp = y.qparams()
    p = dict(input_zero_point=in_zp, output_zero_point=out_zp, multiplier=0, shift=0,
             multiplier2=0, shift2=0, range_radius=0, act_min=INT8_MIN, act_max=INT8_MAX)

    if name in ("LOGISTIC", "TANH"):
        if name == "LOGISTIC" and out_zp != -128:
            raise ModelError(
                f"LOGISTIC #{op.index}: output {y.name!r} has zero point {out_zp}; TFLM's int8 "
                "logistic needs zero point -128 (scale 1/256), as the TFLite converter emits.")
        real = float(in_scale) * float(1 << (31 - _INPUT_INTEGER_BITS))
        q, shift = math.frexp(real)
        mult = tflite_round(q * (1 << 31))
        if mult >= (1 << 31):   # static_cast<int32_t>(2^31) on the host TFLM build
            mult = INT32_MIN
        if shift < 0 or shift > 62:
            raise ModelError(f"{name} #{op.index}: input scale {in_scale:g} is out of the range "
                             "TFLM's fixed-point activation supports")
        p.update(multiplier=mult, shift=shift,
                 range_radius=calculate_input_radius(_INPUT_INTEGER_BITS, shift, 31))
    elif name == "RELU":
        real = float(in_scale) / float(out_scale)
        mult, shift = quantize_multiplier(real)
        act_min = max(INT8_MIN, out_zp + int(tflite_round(float(_f32(0.0) / _f32(out_scale)))))
        p.update(multiplier=mult, shift=shift, act_min=act_min, act_max=INT8_MAX)
    elif name == "RELU6":
        six = tflite_round(float(_f32(6.0) / _f32(in_scale))) + in_zp
        six = max(INT8_MIN, min(INT8_MAX, six))
        p.update(act_min=in_zp, act_max=six)
    elif name == "LEAKY_RELU":
        alpha = float(_f32(op.options.get("alpha", 0.2)))
        alpha_real = float(in_scale) * alpha / float(out_scale)
        ident_real = float(in_scale) / float(out_scale)
        m_a, s_a = quantize_multiplier(alpha_real)
        m_i, s_i = quantize_multiplier(ident_real)
        p.update(multiplier=m_i, shift=s_i, multiplier2=m_a, shift2=s_a)
    elif name == "HARD_SWISH":
        hires_input_scale = float(_f32(1.0 / 128.0) * _f32(in_scale))   # float32 product
        m_o, e_o = quantize_multiplier(hires_input_scale / float(out_scale))
        m_r, e_r = quantize_multiplier(hires_input_scale / (3.0 / 32768.0))
        if e_o > 0:
            raise ModelError(
                f"HARD_SWISH #{op.index}: output scale {out_scale:g} is too small for the input "
                f"scale {in_scale:g} (TFLM needs output_scale >= input_scale / 128)")
        if e_o < -15 or not -15 <= e_r <= 15:
            raise ModelError(f"HARD_SWISH #{op.index}: input/output scales {in_scale:g}/{out_scale:g} "
                             "are outside the range of TFLM's 16-bit hard-swish arithmetic")
        p.update(multiplier=_int16_multiplier(m_o), shift=e_o,
                 multiplier2=_int16_multiplier(m_r), shift2=e_r)
    else:  # pragma: no cover - OPCODES and this list agree
        raise ModelError(f"{name} #{op.index}: not handled by activations")
    return Layer(name, [op.inputs[0]], [op.outputs[0]], params=p)


# ---- int16 helpers for HARD_SWISH ------------------------------------------------

def _wrap16(x):
    return ((np.asarray(x, np.int64) + (1 << 15)) & 0xFFFF) - (1 << 15)


def _srdhm16(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int16."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    s = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    high = np.where(s >= 0, s >> 15, -((-s) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, _wrap16(high))


def _sdhm16(a, b):
    """TFLM SaturatingDoublingHighMul (int16, truncating)."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    high = np.where(ab >= 0, ab >> 15, -((-ab) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, _wrap16(high))


def _sat_left_shift16(x, amount: int):
    return np.clip(np.asarray(x, np.int64) * (1 << amount), -32768, 32767)


def _hard_swish(q, p):
    input_value = _wrap16(q - p["input_zero_point"])
    hires = _wrap16(input_value * 128)
    preshift_output = _srdhm16(hires, p["multiplier"])
    reluish = hires
    e_r = p["shift2"]
    if e_r > 0:
        reluish = _sat_left_shift16(reluish, e_r - 1)
    reluish = _srdhm16(reluish, p["multiplier2"])
    if e_r > 0:
        reluish = _sat_left_shift16(reluish, 1)
    if e_r < 0:
        reluish = rounding_divide_by_pot(reluish, -e_r)
    reluish = _wrap16((reluish + (1 << 15)) >> 1)
    out = _sdhm16(reluish, preshift_output)
    out = rounding_divide_by_pot(out, -p["shift"])
    out = _wrap16(out + p["output_zero_point"])
    return np.clip(out, INT8_MIN, INT8_MAX)


def evaluate(layer, ins, outs) -> None:
    p, op = layer.params, layer.op
    q = ins[0].astype(np.int64).reshape(outs[0].shape)
    if op in ("LOGISTIC", "TANH"):
        x = q - p["input_zero_point"]
        radius = p["range_radius"]
        inside = (x > -radius) & (x < radius)
        x_q4 = multiply_by_quantized_multiplier(np.where(inside, x, 0), p["multiplier"], p["shift"])
        if op == "LOGISTIC":
            y = rounding_divide_by_pot(fixedpoint_logistic(x_q4, _INPUT_INTEGER_BITS), 31 - 8) - 128
        else:
            y = rounding_divide_by_pot(fixedpoint_tanh(x_q4, _INPUT_INTEGER_BITS), 31 - 7)
        y = np.clip(y, INT8_MIN, INT8_MAX)
        y = np.where(x <= -radius, INT8_MIN, np.where(x >= radius, INT8_MAX, y))
    elif op == "RELU":
        y = p["output_zero_point"] + multiply_by_quantized_multiplier(
            q - p["input_zero_point"], p["multiplier"], p["shift"])
        y = np.clip(y, p["act_min"], p["act_max"])
    elif op == "RELU6":
        y = np.clip(q, p["act_min"], p["act_max"])
    elif op == "LEAKY_RELU":
        x = q - p["input_zero_point"]
        pos = multiply_by_quantized_multiplier(x, p["multiplier"], p["shift"])
        neg = multiply_by_quantized_multiplier(x, p["multiplier2"], p["shift2"])
        y = np.clip(p["output_zero_point"] + np.where(x >= 0, pos, neg), INT8_MIN, INT8_MAX)
    elif op == "HARD_SWISH":
        y = _hard_swish(q, p)
    else:  # pragma: no cover
        raise ValueError(op)
    outs[0][...] = y.astype(np.int8)


def macs(layer, in_shapes, out_shapes) -> int:
    return 0
