"""The derived constants of format 1.1 (docs/FORMAT.md, "Derived constants"):
codecs 5 and 6, which stand for a layer's arrays and need the layer to be encoded
or rebuilt. Each is a plugin behind one small interface (DerivedCodec), in
DERIVED_CODECS under its id; consts.py calls them when packing and decoding.

* scales (codec 5), in the multiplier slot: the filter scales; the multipliers and
  shifts are rebuilt from them and the input and output scales.
* biaspred (codec 6), in the bias slot: alpha and residuals; the bias is
  residual + (alpha * weight sum + 8) >> 4.

Their payload wraps an ordinary int32 payload (codec 0, 3 or 4).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import codecs
from ..ops.base import Layer
from ..quant import f32_bits, multiplier_from_scale_bits, wrap_int32
from ..varint import put_svarint
from .container import FormatError, Reader
from .model import CODEC_BIASPRED, CODEC_SCALES, DERIVED, DERIVED_OPS, PackedConst, channels_of
from .tables import const_header

# The writer predicts biases only where a streaming device decodes the weights whole
# anyway (depthwise filters are small): for FULLY_CONNECTED and CONV_2D it would
# cost the device a pass over every weight row per inference (the format allows it).
# The converter's default (ConvertOptions.biaspred_ops).
BIASPRED_WRITE_OPS = ("DEPTHWISE_CONV_2D",)


@dataclass(frozen=True)
class LayerContext:
    """What a derived codec may use of its layer: the op, the constants (when writing)
    and the layer's input and output tensors (their scales, the channel count)."""
    layer: Layer
    tensors: list

    @property
    def op(self) -> str:
        return self.layer.op

    @property
    def channels(self) -> int | None:
        return channels_of(self.layer, self.tensors)

    def scale_bits(self) -> tuple[int, int]:
        """The float32 bits of the input and output scales (IndexError without tensors)."""
        return (f32_bits(self.tensors[self.layer.inputs[0]].scale),
                f32_bits(self.tensors[self.layer.outputs[0]].scale))


class DerivedCodec:
    """One derived encoding: `id` in the constant's kind byte, stored in place of `slot`."""
    id: int
    name: str
    slot: str

    def encode(self, ctx: LayerContext, packed: dict, allow) -> None:
        """Replace packed's plain entries by this encoding where it rebuilds them exactly
        and is smaller; otherwise leave them."""
        raise NotImplementedError

    def decode(self, ctx: LayerContext, name: str, pc: PackedConst, plain: dict, packed: dict):
        """(the arrays pc stands for, by name; the filter scales it holds or None). plain:
        the layer's constants decoded so far; packed: all of its stored constants."""
        raise NotImplementedError


def stored_parts(pc: PackedConst) -> tuple:
    """A derived encoding's parts: (alpha or None, inner codec id, inner values as int32)."""
    r = Reader(pc.payload, f"{DERIVED.get(pc.codec, 'constant')} payload")
    alpha = r.svarint() if pc.codec == CODEC_BIASPRED else None
    inner = r.u8()
    if inner not in codecs.CODECS or not codecs.CODECS[inner].supports(np.int32):
        raise FormatError(f"{DERIVED.get(pc.codec)} payload: inner codec {inner} is not an int32 codec")
    try:
        values = codecs.unpack(inner, bytes(r.data[r.pos:]), pc.count, np.dtype(np.int32))
    except codecs.CodecError as e:
        raise FormatError(f"damaged constant: {e}") from e
    return alpha, inner, values


def _wrapped_payload(prefix: bytes, values: np.ndarray, allow) -> bytes:
    inner, payload = codecs.pack(np.asarray(values, np.int32), allow=allow)
    return prefix + bytes([inner]) + payload


def channel_sums(op: str, weights: np.ndarray) -> np.ndarray:
    """S[c]: the sum of the int8 weights of output channel c (bias prediction, codec 6)."""
    w = np.asarray(weights).astype(np.int64)
    axis = DERIVED_OPS[op]
    return w.sum(axis=tuple(a for a in range(w.ndim) if a != axis % w.ndim))


def predict_bias(alpha: int, sums: np.ndarray) -> np.ndarray:
    return (int(alpha) * np.asarray(sums, np.int64) + 8) >> 4


def _alpha_guess(sums: np.ndarray, bias: np.ndarray) -> int:
    """Least-squares slope of bias against the weight sums, times 16, in exact integers."""
    s = [int(v) for v in sums]
    b = [int(v) for v in bias]
    n = len(s)
    var = n * sum(x * x for x in s) - sum(s) ** 2
    if var <= 0:
        return 0
    cov = n * sum(x * y for x, y in zip(s, b)) - sum(s) * sum(b)
    return (32 * cov + var) // (2 * var)          # round(16 * cov / var), half up


class BiasPred(DerivedCodec):
    id, name, slot = CODEC_BIASPRED, "biaspred", "bias"

    def encode(self, ctx, packed, allow):
        """Codec 6 when predicting bias from the weight sums makes the payload smaller."""
        plain = packed.get("bias")
        if plain is None or plain.dtype != "int32":
            return
        layer = ctx.layer
        bias = np.asarray(layer.consts["bias"]).ravel()
        weights = layer.consts.get("weights")
        if weights is None or np.asarray(weights).dtype != np.int8 or bias.ndim != 1 or bias.size < 2:
            return
        sums = channel_sums(layer.op, weights)
        if sums.shape != bias.shape:
            return
        b = bias.astype(np.int64)
        best = plain
        guess = _alpha_guess(sums, b)
        for alpha in range(guess - 8, guess + 9):
            if alpha == 0 or abs(alpha) >= 1 << 24:
                continue
            r = b - predict_bias(alpha, sums)
            if r.min() < -(1 << 31) or r.max() >= 1 << 31:
                continue
            prefix = bytearray()
            put_svarint(prefix, alpha)
            payload = _wrapped_payload(bytes(prefix), r, allow)
            if len(payload) < len(best.payload):
                best = PackedConst(CODEC_BIASPRED, "int32", tuple(bias.shape), payload)
        packed["bias"] = best

    def decode(self, ctx, name, pc, plain, packed):
        what = ctx.op
        alpha, _, values = pc.stored()
        if name != "bias" or "weights" not in plain or plain["weights"].dtype != np.int8:
            raise FormatError(f"{what}: biaspred is only for the bias of a layer with int8 weights")
        sums = channel_sums(ctx.op, plain["weights"])
        if sums.shape != values.shape:
            raise FormatError(f"{what}: biaspred bias has {values.size} values for {sums.size} channels")
        b = values.astype(np.int64) + predict_bias(alpha, sums)
        return {name: wrap_int32(b).astype(np.int32)}, None


class Scales(DerivedCodec):
    id, name, slot = CODEC_SCALES, "scales", "multiplier"

    def encode(self, ctx, packed, allow):
        """Codec 5 in place of the multiplier and shift arrays, when it rebuilds them exactly
        and is smaller."""
        layer = ctx.layer
        fs = getattr(layer, "filter_scale", None)
        mult, shift = layer.consts.get("multiplier"), layer.consts.get("shift")
        if fs is None or mult is None or shift is None or "multiplier" not in packed or "shift" not in packed:
            return
        mult, shift = np.asarray(mult).ravel(), np.asarray(shift).ravel()
        bits = np.asarray(fs, np.float32).ravel().view(np.int32)
        if bits.size == 1 and mult.size > 1:          # per-tensor weights, per-channel arrays
            bits = np.repeat(bits, mult.size)
        if bits.size != mult.size or shift.size != mult.size:
            return
        try:
            in_bits, out_bits = ctx.scale_bits()
            for b, m, s in zip(bits.tolist(), mult.tolist(), shift.tolist()):
                if multiplier_from_scale_bits(in_bits, b, out_bits) != (m, s):
                    return          # TFLM's double rounding differs here: keep the explicit arrays
        except ValueError:
            return
        pc = PackedConst(CODEC_SCALES, packed["multiplier"].dtype, packed["multiplier"].shape,
                         _wrapped_payload(b"", bits, allow))
        channels = ctx.channels
        old = sum(len(const_header(packed[n], channels)) + len(packed[n].payload) for n in ("multiplier", "shift"))
        if len(const_header(pc, channels)) + len(pc.payload) < old:
            packed["multiplier"] = pc
            del packed["shift"]

    def decode(self, ctx, name, pc, plain, packed):
        what = ctx.op
        _, _, values = pc.stored()
        if name != "multiplier" or "shift" in packed:
            raise FormatError(f"{what}: scales are only for the multiplier, with no shift array")
        try:
            in_bits, out_bits = ctx.scale_bits()
            ms = [multiplier_from_scale_bits(in_bits, int(b), out_bits) for b in values.tolist()]
        except (ValueError, IndexError) as e:
            raise FormatError(f"{what}: cannot rebuild the multipliers from the scales ({e})") from e
        if any(not -128 <= s < 128 for _, s in ms):
            raise FormatError(f"{what}: a rebuilt shift is out of the int8 range")
        return ({"multiplier": np.array([m for m, _ in ms], np.int32).reshape(pc.shape),
                 "shift": np.array([s for _, s in ms], np.int8).reshape(pc.shape)},
                values.astype(np.int32).view(np.float32))


# in the order the writer tries them (a predicted bias first, as before the plugins)
DERIVED_CODECS = {c.id: c for c in (BiasPred(), Scales())}
