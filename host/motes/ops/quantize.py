"""QUANTIZE (int8 -> int8 requantize, float32 -> int8) and DEQUANTIZE (int8 -> float32).

TFLM references: micro/kernels/quantize_common.cc, dequantize_common.cc,
reference/requantize.h, quantize.h (AffineQuantize), dequantize.h.

mode 0, QUANTIZE int8 -> int8 (Requantize):
    multiplier, shift = QuantizeMultiplier(double(in_scale) / double(out_scale))
    y = clamp(MBQM(q - input_zp, multiplier, shift) + output_zp, -128, 127)
mode 1, QUANTIZE float32 -> int8 (AffineQuantize):
    y = clamp(int32(roundf(x / out_scale)) + output_zp, -128, 127)   (float32 division)
mode 2, DEQUANTIZE int8 -> float32:
    y = in_scale * float(q - input_zp)                                (float32 multiply)
mode 3, QUANTIZE int8 -> int8 through float32: mode 2 then mode 1, what TFLM
    computes for DEQUANTIZE -> copies of float32 values -> QUANTIZE, an island
    the converter leaves inside a model where a copy's outputs could not share
    one scale (an LSTM cell's SPLIT into its gates). motes runs the copies on
    int8 and marks each QUANTIZE at the island's end (option 'through_float',
    compiler/converter.py fold_float_islands); the result is TFLM's bit for bit,
    which mode 0's integer requantization would not always be.

The float32 scale of modes 1 to 3 is stored as its IEEE-754 bit pattern in
'scale_f32' (params are integers): the output's, mode 2 the input's. Mode 3
stores the input's scale in 'multiplier' the same way (the bits of a positive
float32 are a multiplier's range). Unused params are 0.
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from ..quant import (
    INT8_MAX, INT8_MIN, INT32_MIN, f32_bits, f32_from_bits, multiply_by_quantized_multiplier,
    quantize_multiplier, round_half_away_f32, wrap_int32)
from .base import Layer

OPCODES = ("QUANTIZE", "DEQUANTIZE")
PARAMS = ("mode", "input_zero_point", "output_zero_point", "multiplier", "shift", "scale_f32")
CONSTS = ()

MODE_REQUANTIZE, MODE_QUANTIZE_FLOAT, MODE_DEQUANTIZE, MODE_THROUGH_FLOAT = 0, 1, 2, 3


def _per_tensor(op, t, what):
    if t.scale is None or len(t.scale) != 1:
        raise ModelError(f"{op.opcode} #{op.index}: {what} {t.name!r} needs one per-tensor scale "
                         "and zero point (per-channel quantization is not supported here)")
    return float(t.scale[0]), int(t.zero_point[0])


def prepare(op, graph) -> Layer:
    if len(op.inputs) != 1 or len(op.outputs) != 1:
        raise ModelError(f"{op.opcode} #{op.index}: expected 1 input and 1 output")
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if x.is_const:
        raise ModelError(f"{op.opcode} #{op.index}: constant input {x.name!r}; fold it before "
                         "conversion")
    p = dict(mode=0, input_zero_point=0, output_zero_point=0, multiplier=0, shift=0, scale_f32=0)
    kinds = (x.dtype, y.dtype)
    if op.opcode == "QUANTIZE" and kinds == ("int8", "int8") and op.options.get("through_float"):
        s_in, z_in = _per_tensor(op, x, "input")
        s_out, z_out = _per_tensor(op, y, "output")
        p.update(mode=MODE_THROUGH_FLOAT, input_zero_point=z_in, output_zero_point=z_out,
                 multiplier=f32_bits(s_in), scale_f32=f32_bits(s_out))
    elif op.opcode == "QUANTIZE" and kinds == ("int8", "int8"):
        s_in, z_in = _per_tensor(op, x, "input")
        s_out, z_out = _per_tensor(op, y, "output")
        m, s = quantize_multiplier(s_in / s_out)
        p.update(mode=MODE_REQUANTIZE, input_zero_point=z_in, output_zero_point=z_out,
                 multiplier=m, shift=s)
    elif op.opcode == "QUANTIZE" and kinds == ("float32", "int8"):
        s_out, z_out = _per_tensor(op, y, "output")
        p.update(mode=MODE_QUANTIZE_FLOAT, output_zero_point=z_out, scale_f32=f32_bits(s_out))
    elif op.opcode == "DEQUANTIZE" and kinds == ("int8", "float32"):
        s_in, z_in = _per_tensor(op, x, "input")
        p.update(mode=MODE_DEQUANTIZE, input_zero_point=z_in, scale_f32=f32_bits(s_in))
    else:
        raise ModelError(
            f"{op.opcode} #{op.index}: {x.dtype} -> {y.dtype} is not supported; motes handles "
            "QUANTIZE int8->int8 and float32->int8 and DEQUANTIZE int8->float32. Convert with "
            "full-integer int8 quantization.")
    return Layer(op.opcode, [op.inputs[0]], [op.outputs[0]], params=p)


def _dequantize(q, zero_point, bits):
    """int8 -> float32: scale * float(q - zero_point), in float32."""
    return f32_from_bits(bits) * (q.astype(np.int64) - zero_point).astype(np.float32)


def _quantize_float(x, zero_point, bits):
    """float32 -> int8: int32(roundf(x / scale)) + zero_point, clamped."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(all="ignore"):
        r = round_half_away_f32(x / f32_from_bits(bits))
        ok = np.isfinite(r) & (r >= -2.0 ** 31) & (r < 2.0 ** 31)
        q = np.where(ok, np.where(ok, r, 0).astype(np.int64), INT32_MIN)  # x86 cvt overflow
    return np.clip(wrap_int32(q + zero_point), INT8_MIN, INT8_MAX).astype(np.int8)


def evaluate(layer, ins, outs) -> None:
    p = layer.params
    mode = p["mode"]
    if mode == MODE_REQUANTIZE:
        q = ins[0].astype(np.int64) - p["input_zero_point"]
        y = multiply_by_quantized_multiplier(q, p["multiplier"], p["shift"]) + p["output_zero_point"]
        y = np.clip(y, INT8_MIN, INT8_MAX).astype(np.int8)
    elif mode == MODE_QUANTIZE_FLOAT:
        y = _quantize_float(ins[0], p["output_zero_point"], p["scale_f32"])
    elif mode == MODE_DEQUANTIZE:
        y = _dequantize(ins[0], p["input_zero_point"], p["scale_f32"]).astype(np.float32)
    elif mode == MODE_THROUGH_FLOAT:
        f = _dequantize(ins[0], p["input_zero_point"], p["multiplier"])
        y = _quantize_float(f, p["output_zero_point"], p["scale_f32"])
    else:
        raise ValueError(f"{layer.op}: unknown mode {mode}")
    outs[0][...] = y.reshape(outs[0].shape)


def macs(layer, in_shapes, out_shapes) -> int:
    return 0
