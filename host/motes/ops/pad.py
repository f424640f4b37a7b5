"""PAD and PADV2, int8, rank 1 to 5.

TFLM: tensorflow/lite/micro/kernels/pad.cc, pad_common.cc and
tensorflow/lite/micro/kernels/internal/reference/pad.h.

    out[i] = in[i - before]  where it falls inside the input, else pad_value
    PAD:   pad_value = output zero point (the quantized 0.0)
    PADV2: pad_value = the int8 constant_values scalar, which must share the
           output's scale and zero point

The int8 values are copied unchanged, so input and output quantization must
be the same (TFLM does not check this; motes refuses a model where it differs
because the copy would then change the real values).
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from .base import Layer, const_input, expect_int8, same_quantization

OPCODES = ("PAD", "PADV2")
PARAMS = ("pad_value", "pad_before[]", "pad_after[]")
CONSTS = ()

MAX_RANK = 5


def prepare(op, graph) -> Layer:
    what = f"{op.opcode} #{op.index}"
    want = 2 if op.opcode == "PAD" else 3
    if len(op.inputs) not in (2, 3) or (op.opcode == "PADV2" and len(op.inputs) != 3) or len(op.outputs) != 1:
        raise ModelError(f"{what}: expects {want} inputs (input, paddings"
                         + (", constant_values" if want == 3 else "") + ") and one output")
    expect_int8(op, graph, [op.inputs[0], op.outputs[0]])
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    rank = len(x.shape)
    if rank > MAX_RANK:
        raise ModelError(f"{what}: input has rank {rank}; TFLite Micro pads tensors of rank <= {MAX_RANK}")
    if len(y.shape) != rank:
        raise ModelError(f"{what}: output rank {len(y.shape)} differs from input rank {rank}")
    pt = graph.tensor(op.inputs[1])
    if pt is None or pt.dtype not in ("int32", "int64"):
        raise ModelError(f"{what}: paddings must be an int32 tensor")
    pads = const_input(op, graph, 1, "paddings (the amounts to pad)")
    if pads.size != 2 * rank:
        raise ModelError(f"{what}: paddings has {pads.size} values; a rank-{rank} input needs {2 * rank} "
                         "([rank, 2] before/after pairs)")
    pads = pads.reshape(rank, 2).astype(np.int64)
    if np.any(pads < 0):
        raise ModelError(f"{what}: negative paddings {pads.tolist()} are not supported")
    exp = tuple(int(d) + int(a) + int(b) for d, (a, b) in zip(x.shape, pads))
    if exp != tuple(int(d) for d in y.shape):
        raise ModelError(f"{what}: input {x.shape} padded by {pads.tolist()} gives {exp}, "
                         f"but the output tensor is {y.shape}")
    same_quantization(op, graph, [op.inputs[0]], op.outputs[0], "copies int8 values")
    out_scale, out_zp = y.qparams()
    if len(op.inputs) == 3 and op.inputs[2] >= 0:
        ct = graph.tensors[op.inputs[2]]
        if ct.dtype != "int8":
            raise ModelError(f"{what}: constant_values is {ct.dtype}; it must be int8 like the input")
        cv = const_input(op, graph, 2, "constant_values (the pad value)")
        if cv.size != 1:
            raise ModelError(f"{what}: constant_values must be a scalar, got shape {cv.shape}")
        if ct.scale is None or len(ct.scale) != 1 or int(ct.zero_point[0]) != out_zp \
                or float(ct.scale[0]) != float(y.scale[0]):
            raise ModelError(f"{what}: constant_values must have the output's scale and zero point "
                             f"({out_scale:g}, {out_zp})")
        pad_value = int(cv.reshape(-1)[0])
    else:
        if not -128 <= out_zp <= 127:
            raise ModelError(f"{what}: output zero point {out_zp} is outside the int8 range")
        pad_value = out_zp
    return Layer(op.opcode, [op.inputs[0]], [op.outputs[0]],
                 params={"pad_value": pad_value,
                         "pad_before": [int(v) for v in pads[:, 0]],
                         "pad_after": [int(v) for v in pads[:, 1]]})


def evaluate(layer, ins, outs) -> None:
    p = layer.params
    out = outs[0]
    x = ins[0]
    out[...] = p["pad_value"]
    sl = tuple(slice(b, b + d) for b, d in zip(p["pad_before"], x.shape))
    out[sl] = x


def macs(layer, in_shapes, out_shapes) -> int:
    return 0
