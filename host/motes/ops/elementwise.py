"""ADD, SUB, MUL: int8 binary elementwise ops with numpy-style broadcasting.

TFLM references: micro/kernels/add_common.cc + reference/integer_ops/add.h,
sub_common.cc + reference/sub.h, mul_common.cc + reference/integer_ops/mul.h.

ADD / SUB (left_shift = 20 for int8):
    a = (q1 + input1_offset) << 20, b = (q2 + input2_offset) << 20
    a = MBQM_SmallerThanOne(a, input1_multiplier, input1_shift)   (same for b)
    y = MBQM_SmallerThanOne(a +/- b, output_multiplier, output_shift) + output_offset
    y = clamp(y, act_min, act_max)
  with twice_max = 2 * max(s1, s2), m1 = s1 / twice_max, m2 = s2 / twice_max,
  m_out = twice_max / (2^20 * s_out), all in double for both ops. (Some
  published versions of sub_common.cc do this arithmetic in float32; the TFLM
  build used as the oracle does it in double, like ADD. The two differ in the
  low bits of the multipliers and, for some scales, in the int8 results; the
  all-pairs test in tests/host/test_ops_pointwise.py tells them apart.)
MUL:
    y = clamp(MBQM((q1 + input1_offset) * (q2 + input2_offset), output_multiplier,
                   output_shift) + output_offset, act_min, act_max)
  with QuantizeMultiplier(double(s1) * double(s2) / double(s_out)).

A constant operand (e.g. ADD of a bias-like vector, MUL by a scale) is not an
activation: it becomes the layer constant 'input1' or 'input2' (kept with its
own shape, so broadcasting works), and its quantization is folded into the
params like the other operand's. Unused params (MUL's input multipliers) are 0.
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from ..quant import (
    activation_range, multiply_by_quantized_multiplier, quantize_multiplier,
    quantize_multiplier_smaller_than_one, wrap_int32)
from .base import Layer, split_operands

OPCODES = ("ADD", "SUB", "MUL")
PARAMS = ("input1_offset", "input2_offset", "output_offset", "left_shift",
          "input1_multiplier", "input1_shift", "input2_multiplier", "input2_shift",
          "output_multiplier", "output_shift", "act_min", "act_max")
CONSTS = ("input1", "input2")

_LEFT_SHIFT = 20


def _check_operand(op, graph, i):
    t = graph.tensors[op.inputs[i]]
    if t.dtype != "int8":
        raise ModelError(
            f"{op.opcode} #{op.index}: input {i + 1} {t.name!r} is {t.dtype}; motes runs int8 "
            "models. Convert with full-integer quantization (inference_input_type=tf.int8).")
    if t.scale is None or len(t.scale) != 1:
        raise ModelError(f"{op.opcode} #{op.index}: input {i + 1} {t.name!r} needs one per-tensor "
                         "scale and zero point")
    return t


def _broadcast_shape(op, a, b, out):
    try:
        shape = np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        raise ModelError(f"{op.opcode} #{op.index}: input shapes {tuple(a)} and {tuple(b)} "
                         "do not broadcast") from None
    if int(np.prod(shape, dtype=np.int64)) != int(np.prod(out, dtype=np.int64)):
        raise ModelError(f"{op.opcode} #{op.index}: inputs broadcast to {shape} but the output "
                         f"is {tuple(out)}")
    return shape


def prepare(op, graph) -> Layer:
    name = op.opcode
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise ModelError(f"{name} #{op.index}: expected 2 inputs and 1 output, "
                         f"got {len(op.inputs)} and {len(op.outputs)}")
    t1, t2 = _check_operand(op, graph, 0), _check_operand(op, graph, 1)
    y = graph.tensors[op.outputs[0]]
    if y.dtype != "int8" or y.scale is None:
        raise ModelError(f"{name} #{op.index}: output {y.name!r} is {y.dtype}; only int8 "
                         "(quantized) outputs are supported")
    _broadcast_shape(op, t1.shape, t2.shape, y.shape)
    s1, z1 = t1.qparams()
    s2, z2 = t2.qparams()
    so, zo = y.qparams()
    act = op.options.get("fused_activation_function", 0)
    try:
        act_min, act_max = activation_range(act, so, zo)
    except ValueError as e:
        raise ModelError(f"{name} #{op.index}: {e}") from None

    p = dict(input1_offset=-z1, input2_offset=-z2, output_offset=zo, left_shift=0,
             input1_multiplier=0, input1_shift=0, input2_multiplier=0, input2_shift=0,
             output_multiplier=0, output_shift=0, act_min=act_min, act_max=act_max)
    if name == "MUL":
        m, s = quantize_multiplier(float(s1) * float(s2) / float(so))
        p.update(output_multiplier=m, output_shift=s)
    else:
        twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
        r1, r2 = float(s1) / twice_max, float(s2) / twice_max
        ro = twice_max / (float(1 << _LEFT_SHIFT) * float(so))
        if not 0.0 < ro < 1.0:
            raise ModelError(
                f"{name} #{op.index}: output scale {so:g} is too small for input scales "
                f"{s1:g}, {s2:g} (TFLM needs 2*max(input scales) < 2^20 * output scale)")
        (m1, sh1), (m2, sh2), (mo, sho) = (quantize_multiplier_smaller_than_one(r)
                                           for r in (r1, r2, ro))
        p.update(left_shift=_LEFT_SHIFT, input1_multiplier=m1, input1_shift=sh1,
                 input2_multiplier=m2, input2_shift=sh2, output_multiplier=mo, output_shift=sho)

    inputs, consts = split_operands(op, graph)
    return Layer(name, inputs, [op.outputs[0]], params=p, consts=consts)


def _operands(layer, ins):
    rest = list(ins)
    out = []
    for key in ("input1", "input2"):
        arr = layer.consts.get(key)
        if arr is None:
            arr = rest.pop(0)
        out.append(np.asarray(arr).astype(np.int64))
    return out


def evaluate(layer, ins, outs) -> None:
    p = layer.params
    a, b = _operands(layer, ins)
    a = a + p["input1_offset"]
    b = b + p["input2_offset"]
    if layer.op == "MUL":
        acc = multiply_by_quantized_multiplier(wrap_int32(a * b), p["output_multiplier"],
                                               p["output_shift"])
    else:
        ls = p["left_shift"]
        a = multiply_by_quantized_multiplier(wrap_int32(a << ls), p["input1_multiplier"],
                                             p["input1_shift"])
        b = multiply_by_quantized_multiplier(wrap_int32(b << ls), p["input2_multiplier"],
                                             p["input2_shift"])
        raw = wrap_int32(a + b if layer.op == "ADD" else a - b)
        acc = multiply_by_quantized_multiplier(raw, p["output_multiplier"], p["output_shift"])
    y = np.clip(acc + p["output_offset"], p["act_min"], p["act_max"])
    outs[0][...] = y.astype(np.int8).reshape(outs[0].shape)


def macs(layer, in_shapes, out_shapes) -> int:
    return int(np.prod(out_shapes[0], dtype=np.int64)) if layer.op == "MUL" else 0
