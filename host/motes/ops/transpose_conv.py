"""TRANSPOSE_CONV, int8 (Keras' Conv2DTranspose; per-channel and per-tensor weights).

TFLM: micro/kernels/transpose_conv.cc and
reference/integer_ops/transpose_conv.h. Inputs: output shape, weights
[out, kh, kw, in], input, optional bias. Every input pixel scatters into the
output through each filter tap; the sums are requantized per channel:

    acc[b, y*sh - pad_h + ky, x*sw - pad_w + kx, o] +=
        (in[b, y, x, c] + input_offset) * w[o, ky, kx, c]     (taps outside the output skipped)
    out = clamp(MultiplyByQuantizedMultiplier(acc + bias[o], mult[o], shift[o]) + output_offset)

The padding is TFLM's: that of a convolution from the op's output size back
to its input (ComputePaddingHeightWidth with the output's height and width),
only the leading pad used.
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from ..quant import requantize, wrap_int32
from .base import Layer, const_input, expect_int8, per_channel_multipliers
from .conv import act_bounds, as_nhwc, filter_quant, leading_pad, out_size

OPCODES = ("TRANSPOSE_CONV",)
PARAMS = ("stride_h", "stride_w", "pad_h", "pad_w", "input_offset", "output_offset", "act_min", "act_max")
CONSTS = ("weights", "bias", "multiplier", "shift")


def prepare(op, graph) -> Layer:
    what = f"TRANSPOSE_CONV #{op.index}"
    if len(op.inputs) < 3 or len(op.outputs) != 1:
        raise ModelError(f"{what}: needs output shape, filter, input (and optional bias) and one output")
    xi, yi = op.inputs[2], op.outputs[0]
    expect_int8(op, graph, [xi, yi])
    if graph.tensors[xi].is_const:
        raise ModelError(f"{what}: constant input; fold it before conversion")
    n, ih, iw, ic = as_nhwc(op, graph, xi, "input")
    on, oh, ow, oc = as_nhwc(op, graph, yi, "output")
    w = const_input(op, graph, 1, "the filter (weights)")
    if w.ndim != 4 or w.shape[0] != oc or w.shape[3] != ic:
        raise ModelError(f"{what}: filter {tuple(w.shape)} does not fit input channels {ic} and output "
                         f"channels {oc} (expected [{oc}, kh, kw, {ic}])")
    if n != 1 or on != 1:
        raise ModelError(f"{what}: batch {n}; motes runs batch 1 (convert with Input(batch_size=1))")
    fh, fw = int(w.shape[1]), int(w.shape[2])
    o = op.options
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    padding = o.get("padding", 0)
    if sh < 1 or sw < 1 or padding not in (0, 1):
        raise ModelError(f"{what}: strides ({sh}, {sw}) or padding {padding} are not valid; the model is damaged")
    wscale = filter_quant(op, graph, oc, 0)
    bias = np.zeros(oc, np.int32)
    if len(op.inputs) > 3 and op.inputs[3] >= 0:
        bt = graph.tensors[op.inputs[3]]
        b = const_input(op, graph, 3, "the bias")
        if bt.dtype != "int32" or b.size != oc:
            raise ModelError(f"{what}: the bias must be {oc} int32 values, got {b.size} {bt.dtype}")
        bias = b.reshape(-1).astype(np.int32)
    x, y = graph.tensors[xi], graph.tensors[yi]
    in_scale, in_zp = x.qparams()
    out_scale, out_zp = y.qparams()
    mult, shift = per_channel_multipliers(in_scale, np.broadcast_to(np.asarray(wscale, np.float32), (oc,)),
                                          out_scale)
    act_min, act_max = act_bounds(op, y)
    pad_h = leading_pad(sh, 1, oh, fh, out_size(padding, oh, fh, sh))
    pad_w = leading_pad(sw, 1, ow, fw, out_size(padding, ow, fw, sw))
    return Layer("TRANSPOSE_CONV", [xi], [yi],
                 params=dict(stride_h=sh, stride_w=sw, pad_h=pad_h, pad_w=pad_w, input_offset=-in_zp,
                             output_offset=out_zp, act_min=act_min, act_max=act_max),
                 consts=dict(weights=np.ascontiguousarray(w, dtype=np.int8), bias=bias,
                             multiplier=mult, shift=shift))


def evaluate(layer, ins, outs) -> None:
    p, c = layer.params, layer.consts
    w = c["weights"].astype(np.int64)
    oc, fh, fw, ic = w.shape
    out = outs[0]
    _, oh, ow, _ = out.shape
    x = ins[0].astype(np.int64) + p["input_offset"]
    _, ih, iw, _ = x.shape
    acc = np.zeros((oh, ow, oc), np.int64)
    for iy in range(ih):
        for ix in range(iw):
            for ky in range(fh):
                oy = iy * p["stride_h"] - p["pad_h"] + ky
                for kx in range(fw):
                    ox = ix * p["stride_w"] - p["pad_w"] + kx
                    if 0 <= oy < oh and 0 <= ox < ow:
                        acc[oy, ox] += w[:, ky, kx, :] @ x[0, iy, ix]
    if c.get("bias") is not None:
        acc += c["bias"]
    out[...] = requantize(wrap_int32(acc), c["multiplier"].astype(np.int64), c["shift"],
                          p["output_offset"], p["act_min"], p["act_max"]).reshape(out.shape)


def macs(layer, in_shapes, out_shapes) -> int:
    oc, fh, fw, ic = layer.consts["weights"].shape
    return int(np.prod(in_shapes[0][:3], dtype=np.int64)) * fh * fw * ic * oc
