"""DEPTHWISE_CONV_2D, int8 (per-channel and per-tensor weights, any depth multiplier).

TFLM reference: tensorflow/lite/kernels/internal/reference/integer_ops/depthwise_conv.h
(DepthwiseConvPerChannel), Prepare in tensorflow/lite/micro/kernels/depthwise_conv_common.cc.

    o = c * depth_multiplier + m
    acc[b, y, x, o] = bias[o] + sum_{ky, kx} w[0, ky, kx, o]
                        * (in[b, y*sh - pad_h + ky*dh, x*sw - pad_w + kx*dw, c] + input_offset)
    out = clamp(MultiplyByQuantizedMultiplier(acc, mult[o], shift[o]) + output_offset)

Weights are quantized along dimension 3 (output channel). The filter zero
point is ignored by TFLM (symmetric int8 weights), so a non-zero one is rejected.
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from ..quant import requantize
from .base import Layer
from .conv import pad_for_windows, tap, window_layer, window_operands

OPCODES = ("DEPTHWISE_CONV_2D",)
PARAMS = ("stride_h", "stride_w", "dilation_h", "dilation_w", "pad_h", "pad_w",
          "depth_multiplier", "input_offset", "output_offset", "act_min", "act_max")
CONSTS = ("weights", "bias", "multiplier", "shift")


def prepare(op, graph) -> Layer:
    what = f"DEPTHWISE_CONV_2D #{op.index}"
    (n, ih, iw, ic), (on, oh, ow, oc), w = window_operands(op, graph, what)
    if w.ndim != 4 or w.shape[0] != 1:
        raise ModelError(f"{what}: filter must be 4-D [1, kh, kw, out], got {w.shape}")
    _, fh, fw, fo = (int(d) for d in w.shape)
    if on != n:
        raise ModelError(f"{what}: batch of output ({on}) differs from input ({n})")
    if fo != oc:
        raise ModelError(f"{what}: filter has {fo} output channels, output tensor has {oc}")
    dm = int(op.options.get("depth_multiplier", 0) or 0)
    if ic < 1 or oc % ic:
        raise ModelError(f"{what}: output depth {oc} is not a multiple of input depth {ic}")
    if dm != oc // ic:
        # TFLM trusts the option; a mismatch would leave output channels unwritten there.
        raise ModelError(f"{what}: depth_multiplier option is {dm} but output depth {oc} / input depth "
                         f"{ic} = {oc // ic}; the model is inconsistent, convert it again")
    return window_layer("DEPTHWISE_CONV_2D", op, graph, what, w, (ih, iw), (oh, ow), oc, channel_axis=3,
                        depth_multiplier=dm)


def evaluate(layer, ins, outs) -> None:
    p, c = layer.params, layer.consts
    w = c["weights"]
    _, fh, fw, oc = w.shape
    out = outs[0]
    n, oh, ow, _ = out.shape
    x = ins[0].astype(np.int64) + p["input_offset"]
    dm = p["depth_multiplier"]
    if dm != 1:  # output channel c*dm + m reads input channel c
        x = np.repeat(x, dm, axis=3)
    xp = pad_for_windows(x, p, fh, fw, oh, ow, 0)
    wk = w.astype(np.int64)
    acc = np.zeros((n, oh, ow, oc), np.int64)
    for ky in range(fh):           # loop over filter taps only; each step is a whole-image product
        for kx in range(fw):
            acc += tap(xp, p, ky, kx, oh, ow) * wk[0, ky, kx]
    if c.get("bias") is not None:        # optional in a .mote (zeros)
        acc += c["bias"]
    out[...] = requantize(acc, c["multiplier"].astype(np.int64), c["shift"],
                          p["output_offset"], p["act_min"], p["act_max"])


def macs(layer, in_shapes, out_shapes) -> int:
    _, fh, fw, _ = layer.consts["weights"].shape
    return int(np.prod(out_shapes[0])) * fh * fw


def as_conv(layer: Layer, in_channels: int) -> Layer | None:
    """A DEPTHWISE_CONV_2D on a 1-channel input as the CONV_2D it is (None for other layers).

    With one input channel, output channel o = m (the multiplier) reads that
    channel through its own filter: out[o] = bias[o] + sum over the taps of
    (x + input_offset) * w[0, ky, kx, o], which is CONV_2D's sum with weights
    [o, ky, kx, 1] (TFLite converts the first convolution of audio and
    greyscale models this way). The arithmetic, requantization included, is
    the same, so TFLM's results are too; CONV_2D's kernels then take it as a
    matrix of output channels against one im2col patch (interleaved, 8 output
    channels a pass) instead of one channel at a time.

    Not for a 3x3 window with strides of at most 2 and no dilation: the C
    depthwise kernel gathers the input once for all the multipliers there,
    which costs less than the convolution's im2col of 9 taps (person_detect's
    layer 0, multiplier 8, on the emulated Cortex-M0: 7.9 instructions per MAC
    as it is, 15.4 as a convolution; micro_speech's 10x8 window: 21.5 as it
    is, 5.9 as one)."""
    if layer.op != "DEPTHWISE_CONV_2D" or in_channels != 1:
        return None
    p = layer.params
    _, fh, fw, _ = layer.consts["weights"].shape
    if ((fh, fw) == (3, 3) and max(p["stride_h"], p["stride_w"]) <= 2
            and (p["dilation_h"], p["dilation_w"]) == (1, 1)):
        return None
    p = dict(layer.params)
    del p["depth_multiplier"]
    c = dict(layer.consts)
    c["weights"] = np.ascontiguousarray(np.transpose(c["weights"], (3, 1, 2, 0)))
    return Layer("CONV_2D", list(layer.inputs), list(layer.outputs), params=p, consts=c,
                 source=layer.source, filter_scale=layer.filter_scale)
