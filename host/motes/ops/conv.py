"""CONV_2D, int8 (per-channel and per-tensor weights, grouped convolution).

TFLM reference: tensorflow/lite/kernels/internal/reference/integer_ops/conv.h
(ConvPerChannel), Prepare in tensorflow/lite/micro/kernels/conv_common.cc.

    groups = in_depth / filter_depth, filters_per_group = out_depth / groups
    g = o / filters_per_group
    acc[b, y, x, o] = bias[o] + sum_{ky, kx, c}  w[o, ky, kx, c]
                        * (in[b, y*sh - pad_h + ky*dh, x*sw - pad_w + kx*dw, g*fd + c] + input_offset)
                      (taps outside the image are skipped, i.e. contribute 0)
    out = clamp(MultiplyByQuantizedMultiplier(acc, mult[o], shift[o]) + output_offset)

TFLM's int8 conv ignores the filter zero point (int8 weights are symmetric by
the quantization spec), so prepare rejects a non-zero one rather than
silently disagreeing with the model's float meaning.

Padding: TFLM only uses the leading pad (floor(total / 2)); when the total
padding is odd the extra row/column falls at the bottom/right, which the
window simply runs past (out-of-image taps are skipped).
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from ..quant import PADDING_SAME, PADDING_VALID, activation_range, requantize
from .base import Layer, const_input, expect_int8, per_channel_multipliers

OPCODES = ("CONV_2D",)
PARAMS = ("stride_h", "stride_w", "dilation_h", "dilation_w", "pad_h", "pad_w",
          "input_offset", "output_offset", "act_min", "act_max")
CONSTS = ("weights", "bias", "multiplier", "shift")


# ---------------------------------------------------------------------------
# helpers shared with depthwise_conv.py and pooling.py
# ---------------------------------------------------------------------------

def out_size(padding: int, in_size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    """TFLM ComputeOutSize (GetWindowedOutputSize)."""
    eff = (filter_size - 1) * dilation + 1
    if stride <= 0:
        return 0
    if padding == PADDING_SAME:
        return (in_size + stride - 1) // stride
    if padding == PADDING_VALID:
        return (in_size + stride - eff) // stride
    return 0


def leading_pad(stride: int, dilation: int, in_size: int, filter_size: int, out: int) -> int:
    """TFLM ComputePaddingWithOffset: total padding clamped at 0, halved (C++ truncation).

    The odd remainder (offset) goes after the data; TFLM kernels never use it
    explicitly because they skip out-of-range taps.
    """
    eff = (filter_size - 1) * dilation + 1
    total = max((out - 1) * stride + eff - in_size, 0)
    return total // 2


def window_geometry(what: str, options: dict, in_hw, filter_hw, out_hw, dilation=(1, 1)):
    """Strides, dilations and leading pads of a 2-D windowed op, validated like TFLM's Prepare.

    Returns dict(stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w).
    `what` is the "OPCODE #index" prefix used in error messages.
    """
    padding = options.get("padding", PADDING_SAME)
    if padding not in (PADDING_SAME, PADDING_VALID):
        raise ModelError(f"{what}: unknown padding mode {padding} (expected SAME=0 or VALID=1)")
    sh, sw = int(options.get("stride_h", 1)), int(options.get("stride_w", 1))
    dh, dw = int(dilation[0]), int(dilation[1])
    if sh < 1 or sw < 1:
        raise ModelError(f"{what}: strides must be >= 1, got ({sh}, {sw}); the model is damaged")
    if dh < 1 or dw < 1:
        raise ModelError(f"{what}: dilation factors must be >= 1, got ({dh}, {dw}); the model is damaged")
    (ih, iw), (fh, fw), (oh, ow) = in_hw, filter_hw, out_hw
    exp_h, exp_w = out_size(padding, ih, fh, sh, dh), out_size(padding, iw, fw, sw, dw)
    if (exp_h, exp_w) != (oh, ow):
        raise ModelError(
            f"{what}: output is {oh}x{ow} but a {fh}x{fw} window with stride ({sh},{sw}), dilation "
            f"({dh},{dw}) and {'SAME' if padding == PADDING_SAME else 'VALID'} padding on a {ih}x{iw} "
            f"input gives {exp_h}x{exp_w}; the model's shapes are inconsistent, convert it again")
    return dict(stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
                pad_h=leading_pad(sh, dh, ih, fh, oh), pad_w=leading_pad(sw, dw, iw, fw, ow))


def pad_for_windows(x: np.ndarray, p: dict, fh: int, fw: int, oh: int, ow: int, value) -> np.ndarray:
    """x [N, H, W, C] padded with `value` so that every (dilated, strided) window fits.

    Top/left get p['pad_h'] / p['pad_w']; bottom/right get whatever the last
    window needs (the odd offset, or more/less), and surplus rows/columns are cropped.
    """
    n, h, w, c = x.shape
    need_h = (oh - 1) * p["stride_h"] + (fh - 1) * p["dilation_h"] + 1
    need_w = (ow - 1) * p["stride_w"] + (fw - 1) * p["dilation_w"] + 1
    top, left = p["pad_h"], p["pad_w"]
    bottom, right = max(need_h - top - h, 0), max(need_w - left - w, 0)
    if top or left or bottom or right:
        out = np.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
        out[:, top:top + h, left:left + w, :] = x
        x = out
    return x[:, :need_h, :need_w, :]


def tap(xp: np.ndarray, p: dict, ky: int, kx: int, oh: int, ow: int) -> np.ndarray:
    """View of the padded input seen by filter tap (ky, kx) at every output position: [N, OH, OW, C]."""
    y0, x0 = ky * p["dilation_h"], kx * p["dilation_w"]
    return xp[:, y0:y0 + (oh - 1) * p["stride_h"] + 1:p["stride_h"],
              x0:x0 + (ow - 1) * p["stride_w"] + 1:p["stride_w"], :]


def as_nhwc(op, graph, index: int, role: str) -> tuple:
    t = graph.tensors[index]
    if len(t.shape) != 4:
        raise ModelError(f"{op.opcode} #{op.index}: {role} tensor {t.name!r} must be 4-D [N, H, W, C], "
                         f"got shape {t.shape}")
    return tuple(int(d) for d in t.shape)


def bias_of(op, graph, out_ch: int) -> np.ndarray:
    """int32 bias of a conv-like op (input 2), zeros if omitted."""
    bias_t = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 else None
    if bias_t is None:
        return np.zeros(out_ch, np.int32)
    if bias_t.dtype != "int32":
        raise ModelError(f"{op.opcode} #{op.index}: bias is {bias_t.dtype}; int8 models need an int32 bias "
                         "(convert with full-integer int8 quantization)")
    b = const_input(op, graph, 2, "the bias")
    if b.size != out_ch:
        raise ModelError(f"{op.opcode} #{op.index}: bias has {b.size} values for {out_ch} output channels")
    return b.reshape(-1).astype(np.int32)


def filter_quant(op, graph, channels: int, qdim: int):
    """Weight scales of a conv-like op (input 1), checked; returns the float32 scale array."""
    wt = graph.tensors[op.inputs[1]]
    if wt.dtype != "int8":
        raise ModelError(f"{op.opcode} #{op.index}: weights are {wt.dtype}; only int8 weights are supported "
                         "(convert with full-integer int8 quantization)")
    if wt.scale is None:
        raise ModelError(f"{op.opcode} #{op.index}: weight tensor {wt.name!r} has no quantization parameters")
    if len(wt.scale) not in (1, channels):
        raise ModelError(f"{op.opcode} #{op.index}: weights have {len(wt.scale)} scales for {channels} "
                         "output channels (expected 1 or one per channel)")
    if len(wt.scale) > 1 and wt.quantized_dimension != qdim:
        raise ModelError(f"{op.opcode} #{op.index}: weights are quantized along dimension "
                         f"{wt.quantized_dimension}; TFLite requires dimension {qdim}")
    if np.any(wt.zero_point != 0):
        raise ModelError(f"{op.opcode} #{op.index}: weight zero point is not 0; TFLite Micro's int8 kernels "
                         "assume symmetric weights. Re-quantize with the standard int8 converter.")
    return wt.scale


def act_bounds(op, y):
    out_scale, out_zp = y.qparams()
    try:
        return activation_range(op.options.get("fused_activation_function", 0), out_scale, out_zp)
    except ValueError as e:
        raise ModelError(f"{op.opcode} #{op.index}: {e}") from None


# ---------------------------------------------------------------------------
# CONV_2D
# ---------------------------------------------------------------------------

def prepare(op, graph) -> Layer:
    what = f"CONV_2D #{op.index}"
    (n, ih, iw, ic), (on, oh, ow, oc), w = window_operands(op, graph, what)
    if w.ndim != 4:
        raise ModelError(f"{what}: filter must be 4-D [out, kh, kw, in], got {w.shape}")
    fo, fh, fw, fd = (int(d) for d in w.shape)
    if on != n:
        raise ModelError(f"{what}: batch of output ({on}) differs from input ({n})")
    if fo != oc:
        raise ModelError(f"{what}: filter has {fo} output channels, output tensor has {oc}")
    if fd < 1 or ic % fd:
        raise ModelError(f"{what}: input depth {ic} is not a multiple of the filter depth {fd} "
                         "(grouped convolution needs in_depth = groups * filter_depth)")
    groups = ic // fd
    if oc % groups:
        raise ModelError(f"{what}: {oc} output channels cannot be split into {groups} groups")
    return window_layer("CONV_2D", op, graph, what, w, (ih, iw), (oh, ow), oc, channel_axis=0)


def window_operands(op, graph, what):
    """The checks CONV_2D and DEPTHWISE_CONV_2D share: operand counts, int8 input and output,
    both NHWC; returns their shapes and the constant filter."""
    if len(op.inputs) < 2 or len(op.outputs) != 1:
        raise ModelError(f"{what}: needs input, filter (and optional bias) and one output")
    expect_int8(op, graph, [op.inputs[0], op.outputs[0]])
    return (as_nhwc(op, graph, op.inputs[0], "input"), as_nhwc(op, graph, op.outputs[0], "output"),
            const_input(op, graph, 1, "the filter (weights)"))


def window_layer(kind, op, graph, what, w, in_hw, out_hw, oc, channel_axis, **params) -> Layer:
    """The Layer of a convolution of either kind (TFLM's Prepare): the window geometry, the
    filter's per-channel scales (on channel_axis) and bias, the per-channel requantization
    multipliers and shifts, the activation bounds; params adds the op's own."""
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    wscale = filter_quant(op, graph, oc, channel_axis)
    bias = bias_of(op, graph, oc)
    geo = window_geometry(what, op.options, in_hw, (int(w.shape[1]), int(w.shape[2])), out_hw,
                          (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1)))
    in_scale, in_zp = x.qparams()
    out_scale, out_zp = y.qparams()
    mult, shift = per_channel_multipliers(
        in_scale, np.broadcast_to(np.asarray(wscale, np.float32), (oc,)), out_scale)
    act_min, act_max = act_bounds(op, y)
    return Layer(kind, [op.inputs[0]], [op.outputs[0]],
                 params=dict(**geo, **params, input_offset=-in_zp, output_offset=out_zp,
                             act_min=act_min, act_max=act_max),
                 consts=dict(weights=np.ascontiguousarray(w, dtype=np.int8), bias=bias,
                             multiplier=mult, shift=shift),
                 filter_scale=np.asarray(wscale, np.float32).ravel().copy())


def evaluate(layer, ins, outs) -> None:
    p, c = layer.params, layer.consts
    w = c["weights"]
    oc, fh, fw, fd = w.shape
    out = outs[0]
    n, oh, ow, _ = out.shape
    x = ins[0]
    groups = x.shape[3] // fd
    opg = oc // groups
    # (x + input_offset) padded with 0 == TFLM skipping out-of-image taps
    xo = x.astype(np.int64) + p["input_offset"]
    xp = pad_for_windows(xo, p, fh, fw, oh, ow, 0)
    # im2col: [N*OH*OW, KH*KW, C], tap order matches the filter's (ky, kx) layout
    cols = np.stack([tap(xp, p, ky, kx, oh, ow) for ky in range(fh) for kx in range(fw)], axis=3)
    cols = cols.reshape(n * oh * ow, fh * fw, x.shape[3])
    acc = np.empty((n * oh * ow, oc), np.int64)
    wk = w.astype(np.int64)
    for g in range(groups):
        a = cols[:, :, g * fd:(g + 1) * fd].reshape(n * oh * ow, fh * fw * fd)
        b = wk[g * opg:(g + 1) * opg].reshape(opg, fh * fw * fd)
        acc[:, g * opg:(g + 1) * opg] = _exact_matmul(a, b.T)
    if c.get("bias") is not None:        # optional in a .mote (the kernels treat it as zeros)
        acc += c["bias"]
    out[...] = requantize(acc, c["multiplier"].astype(np.int64), c["shift"],
                          p["output_offset"], p["act_min"], p["act_max"]).reshape(out.shape)


def _exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer matmul a @ b (int64 in, int64 out), exact.

    Through float64 BLAS when every partial sum is provably below 2^53 (then
    the result is exact regardless of summation order), else plain int64.
    """
    k = a.shape[1]
    if k == 0:
        return np.zeros((a.shape[0], b.shape[1]), np.int64)
    bound = int(np.abs(a).max(initial=0)) * int(np.abs(b).max(initial=0)) * k
    if bound < (1 << 53):
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


def macs(layer, in_shapes, out_shapes) -> int:
    _, fh, fw, fd = layer.consts["weights"].shape
    return int(np.prod(out_shapes[0])) * fh * fw * fd


def as_fc(layer: Layer, in_shape, out_shape) -> Layer | None:
    """A CONV_2D whose window is its whole input (one output pixel) as the
    FULLY_CONNECTED it is (None for other layers).

    With the filter the input's size, no padding and no dilation inside it,
    out[b, 0, 0, o] = bias[o] + sum over (ky, kx, c) of w[o, ky, kx, c] *
    (x[b, ky, kx, c] + input_offset): FULLY_CONNECTED's sum over the flattened
    NHWC pixel with weights [o, ky * kx * c] and filter offset 0, the same
    requantization and clamp, so the same numbers as TFLM's. A classifier's
    1x1 convolution after a global pool is one (person_detect's last layer,
    256 -> 2 on a 1x1 input), and a CONV_2D kernel pays a convolution's
    set-up for it (stripes, patches, the tap ranges: on the emulated
    Cortex-M0 about 1,200 instructions a call, FULLY_CONNECTED's about 570)."""
    if layer.op != "CONV_2D" or len(in_shape) != 4 or len(out_shape) != 4:
        return None
    p = layer.params
    w = layer.consts["weights"]
    oc, fh, fw, fd = w.shape
    _, ih, iw, ic = (int(d) for d in in_shape)
    if (tuple(out_shape[1:3]) != (1, 1) or (fh, fw, fd) != (ih, iw, ic) or p["pad_h"] or p["pad_w"]
            or (fh > 1 and p["dilation_h"] != 1) or (fw > 1 and p["dilation_w"] != 1)):
        return None
    c = dict(layer.consts)
    c["weights"] = np.ascontiguousarray(w.reshape(oc, fh * fw * fd))
    return Layer("FULLY_CONNECTED", list(layer.inputs), list(layer.outputs),
                 params=dict(input_offset=p["input_offset"], filter_offset=0, output_offset=p["output_offset"],
                             act_min=p["act_min"], act_max=p["act_max"]),
                 consts=c, source=layer.source, filter_scale=layer.filter_scale)
