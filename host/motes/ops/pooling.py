"""AVERAGE_POOL_2D and MAX_POOL_2D, int8.

TFLM reference: tensorflow/lite/micro/kernels/internal/reference/integer_ops/pooling.h,
Prepare in tensorflow/lite/micro/kernels/pooling_common.cc.

Windows are clipped to the image (no padding values take part):
    count = number of in-image taps of the window
    AVERAGE: acc = sum of the in-image int8 values (no zero-point handling:
             input and output quantization must be identical),
             avg = acc > 0 ? (acc + count/2) / count : (acc - count/2) / count
             (C++ integer division, i.e. round half away from zero)
    MAX:     max of the in-image values
    out = clamp(avg or max, act_min, act_max)   (fused activation)
Padding amounts come from ComputePaddingHeightWidth with dilation 1.
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from ..quant import INT8_MIN
from .base import Layer, expect_int8
from .conv import act_bounds, as_nhwc, pad_for_windows, tap, window_geometry

OPCODES = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
PARAMS = ("filter_h", "filter_w", "stride_h", "stride_w", "pad_h", "pad_w", "act_min", "act_max")
CONSTS = ()


def prepare(op, graph) -> Layer:
    what = f"{op.opcode} #{op.index}"
    if len(op.inputs) != 1 or len(op.outputs) != 1:
        raise ModelError(f"{what}: expects one input and one output")
    expect_int8(op, graph, [op.inputs[0], op.outputs[0]])
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    n, ih, iw, ic = as_nhwc(op, graph, op.inputs[0], "input")
    on, oh, ow, oc = as_nhwc(op, graph, op.outputs[0], "output")
    if (on, oc) != (n, ic):
        raise ModelError(f"{what}: output {y.shape} must keep the batch and channels of input {x.shape}")
    fh, fw = int(op.options.get("filter_height", 0)), int(op.options.get("filter_width", 0))
    if fh < 1 or fw < 1:
        raise ModelError(f"{what}: filter size must be >= 1, got {fh}x{fw}; the model is damaged")
    in_scale, in_zp = x.qparams()
    out_scale, out_zp = y.qparams()
    if abs(float(in_scale) - float(out_scale)) > 1e-6 or in_zp != out_zp:
        raise ModelError(f"{what}: input (scale {in_scale:g}, zero point {in_zp}) and output (scale "
                         f"{out_scale:g}, zero point {out_zp}) quantization differ; TFLite Micro pools "
                         "require them equal. Convert the model again with the standard int8 converter.")
    geo = window_geometry(what, op.options, (ih, iw), (fh, fw), (oh, ow))
    # Every window must touch the image, else TFLM's AveragePool fails at run time.
    for o, s, pad, i, f, dim in ((oh, geo["stride_h"], geo["pad_h"], ih, fh, "height"),
                                 (ow, geo["stride_w"], geo["pad_w"], iw, fw, "width")):
        if o < 1 or (o - 1) * s - pad >= i or f - pad <= 0:
            raise ModelError(f"{what}: some pooling windows along the {dim} lie entirely outside the input")
    act_min, act_max = act_bounds(op, y)
    return Layer(op.opcode, [op.inputs[0]], [op.outputs[0]],
                 params=dict(filter_h=fh, filter_w=fw, stride_h=geo["stride_h"], stride_w=geo["stride_w"],
                             pad_h=geo["pad_h"], pad_w=geo["pad_w"], act_min=act_min, act_max=act_max))


def _clipped_counts(o: int, stride: int, pad: int, in_size: int, f: int) -> np.ndarray:
    """Number of in-image taps of each window along one axis."""
    origin = np.arange(o) * stride - pad
    start = np.maximum(0, -origin)
    end = np.minimum(f, in_size - origin)
    return np.maximum(end - start, 0)


def evaluate(layer, ins, outs) -> None:
    p = layer.params
    fh, fw = p["filter_h"], p["filter_w"]
    out = outs[0]
    n, oh, ow, _ = out.shape
    geo = dict(p, dilation_h=1, dilation_w=1)
    x = ins[0]
    if layer.op == "MAX_POOL_2D":
        # pad with the int8 minimum: it never beats an in-image value
        xp = pad_for_windows(x, geo, fh, fw, oh, ow, INT8_MIN)
        res = tap(xp, geo, 0, 0, oh, ow).copy()
        for ky in range(fh):
            for kx in range(fw):
                if ky or kx:
                    np.maximum(res, tap(xp, geo, ky, kx, oh, ow), out=res)
        res = res.astype(np.int64)
    else:
        xp = pad_for_windows(x.astype(np.int64), geo, fh, fw, oh, ow, 0)
        acc = np.zeros((n, oh, ow, x.shape[3]), np.int64)
        for ky in range(fh):
            for kx in range(fw):
                acc += tap(xp, geo, ky, kx, oh, ow)
        ch = _clipped_counts(oh, p["stride_h"], p["pad_h"], x.shape[1], fh)
        cw = _clipped_counts(ow, p["stride_w"], p["pad_w"], x.shape[2], fw)
        cnt = (ch[:, None] * cw[None, :])[None, :, :, None].astype(np.int64)
        if np.any(cnt == 0):
            raise ModelError(f"{layer.op}: a pooling window lies entirely outside the input")
        # C++: acc > 0 ? (acc + cnt/2) / cnt : (acc - cnt/2) / cnt, division truncating toward 0
        res = np.sign(acc) * ((np.abs(acc) + cnt // 2) // cnt)
    out[...] = np.clip(res, p["act_min"], p["act_max"]).astype(np.int8)


def macs(layer, in_shapes, out_shapes) -> int:
    return int(np.prod(out_shapes[0])) * layer.params["filter_h"] * layer.params["filter_w"]
