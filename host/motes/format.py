"""The .mote container: write and read (docs/FORMAT.md is the specification).

A .mote file is a 16-byte header, a section table, then the sections. Every integer that can
be small is a LEB128 varint (zigzag for signed values), so the graph of a
small model costs a few hundred bytes. The weights of each layer live in their
own section, after the graph, in execution order, so a device can decode one
layer at a time while streaming the file.
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from . import codecs, ops
from .graph import ModelError
from .ops.base import Layer

MAGIC = b"MOTE"
MAJOR, MINOR = 1, 2      # MINOR: the newest minor this motes reads and writes
HEADER = struct.Struct("<4sBBHII")       # magic, major, minor, flags, file_size, crc32
SEC_META, SEC_TENSORS, SEC_GRAPH, SEC_LAYER = 1, 2, 3, 4
SECTION_NAMES = {SEC_META: "meta", SEC_TENSORS: "tensors", SEC_GRAPH: "graph", SEC_LAYER: "layer"}
DTYPES = ["int8", "uint8", "int16", "int32", "float32"]   # dtype code = index
DTYPE_SIZES = [1, 1, 2, 4, 4]
IMPLIED_SHAPE = 0x80        # const kind bit 7: the shape is [C], not stored (format 1.1)
CHAIN = 0x80                # layer op bit 7: inputs and outputs implied (format 1.1)
INTERLEAVED = 0x40          # layer op bit 6: interleaved weights, folded bias (format 1.2)
INTERLEAVED_OPS = ("FULLY_CONNECTED", "CONV_2D")

# Derived encodings (format 1.1, docs/FORMAT.md "Derived constants"): codec ids
# the container resolves with the layer's context. Their payload wraps an
# ordinary int32 payload (codec 0, 3 or 4).
CODEC_SCALES = 5      # multiplier slot: filter scales; multiplier and shift are rebuilt
CODEC_BIASPRED = 6    # bias slot: alpha + residuals; bias = residual + (alpha * weight sum + 8) >> 4
DERIVED = {CODEC_SCALES: "scales", CODEC_BIASPRED: "biaspred"}
DERIVED_OPS = {"FULLY_CONNECTED": 0, "CONV_2D": 0, "DEPTHWISE_CONV_2D": 3}   # op -> output channel axis of weights
# The writer predicts biases only where a streaming device decodes the weights whole
# anyway (depthwise filters are small): for FULLY_CONNECTED and CONV_2D it would
# cost the device a pass over every weight row per inference (the format allows it).
BIASPRED_WRITE_OPS = ("DEPTHWISE_CONV_2D",)


# The range of every scalar param, by the kind of value it holds (docs/FORMAT.md,
# Verification): a reader refuses a value outside it. The device's op table
# (optable.py) holds each param's kind as one letter; 'l' is a list of int32.
PARAM_LIMITS = {
    "s": (-(1 << 31), (1 << 31) - 1),   # any int32
    "a": (-128, 127),                   # a fused activation's clamp bound (act_min <= act_max)
    "o": (-128, 127),                   # an output offset or a zero point (int8)
    "g": (1, 255),                      # a stride or dilation
    "p": (0, 32767),                    # a padding amount
    "f": (1, 32767),                    # a filter size or depth multiplier
    "m": (0, (1 << 31) - 1),            # a fixed-point multiplier
    "h": (-63, 31),                     # a shift (right shifts past 31 round to 0 or -1 alike everywhere)
    "k": (0, 20),                       # the left shift of ADD / SUB
    "q": (0, 2),                        # QUANTIZE / DEQUANTIZE mode
    "v": (-128, 127),                   # a padding value
    "i": (-127, 128),                   # an input or filter offset: minus an int8 zero point
    "u": (0, 31),                       # SOFTMAX's input left shift
}
KIND_LETTERS = "saogpfmhkqviu"          # the device's order (verify.py)
_KIND_OF = {"act_min": "a", "act_max": "a", "pad_value": "v", "mode": "q", "left_shift": "k",
            "stride_h": "g", "stride_w": "g", "dilation_h": "g", "dilation_w": "g",
            "pad_h": "p", "pad_w": "p", "filter_h": "f", "filter_w": "f", "depth_multiplier": "f",
            "input_left_shift": "u"}


def param_kind(name: str) -> str:
    """The letter of a param's kind (PARAM_LIMITS), 'l' for a list."""
    if name.endswith("[]"):
        return "l"
    if name in _KIND_OF:
        return _KIND_OF[name]
    if name in ("input_offset", "input1_offset", "input2_offset", "filter_offset"):
        return "i"
    if name.endswith("_offset") and name != "sum_offset" or name.endswith("zero_point"):
        return "o"
    if "multiplier" in name:
        return "m"
    if name.endswith("shift") or name[:-1].endswith("shift"):
        return "h"
    return "s"


class FormatError(ModelError):
    """A .mote file is damaged, truncated or of a version this reader does not know."""


@dataclass
class TensorInfo:
    shape: tuple
    dtype: str
    scale: float
    zero_point: int
    offset: int = 0             # byte offset in the activation arena

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass
class PackedConst:
    """One constant array as stored: which codec, its payload, its shape."""
    codec: int
    dtype: str
    shape: tuple
    payload: bytes

    @property
    def count(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def raw_bytes(self) -> int:
        return self.count * np.dtype(self.dtype).itemsize

    @property
    def codec_name(self) -> str:
        if self.codec in DERIVED:
            return DERIVED[self.codec]
        return codecs.CODECS[self.codec].name if self.codec in codecs.CODECS else f"codec {self.codec}"

    def decode(self) -> np.ndarray:
        """The array; a derived encoding (codec 5, 6) needs its layer: see decode_layer_consts."""
        if self.codec in DERIVED:
            raise FormatError(f"a {DERIVED[self.codec]} constant is decoded with its layer (decode_layer_consts)")
        try:
            return codecs.unpack(self.codec, self.payload, self.count, np.dtype(self.dtype)).reshape(self.shape)
        except codecs.CodecError as e:
            raise FormatError(f"damaged weights: {e}") from e

    def stored(self) -> tuple:
        """A derived encoding's parts: (alpha or None, inner codec id, inner values as int32)."""
        r = Reader(self.payload, f"{DERIVED.get(self.codec, 'constant')} payload")
        alpha = r.svarint() if self.codec == CODEC_BIASPRED else None
        inner = r.u8()
        if inner not in codecs.CODECS or not codecs.CODECS[inner].supports(np.int32):
            raise FormatError(f"{DERIVED.get(self.codec)} payload: inner codec {inner} is not an int32 codec")
        try:
            values = codecs.unpack(inner, bytes(r.data[r.pos:]), self.count, np.dtype(np.int32))
        except codecs.CodecError as e:
            raise FormatError(f"damaged constant: {e}") from e
        return alpha, inner, values


@dataclass
class MoteModel:
    meta: dict
    tensors: list[TensorInfo]
    layers: list[Layer]                  # inputs/outputs are indices into tensors
    inputs: list[int]
    outputs: list[int]
    arena_size: int
    packed: list[dict] = field(default_factory=list)   # per layer: const name -> PackedConst
    minor: int = MINOR       # format minor version; 0: the 1.0 layout (no implied shapes). The
                             # writer writes the lowest minor >= 1 the layers need (written_minor)

    def decoded_consts(self, i: int) -> dict:
        return decode_layer_consts(self.layers[i], self.packed[i], self.tensors)


# ---- varints -----------------------------------------------------------------------

def put_uvarint(out: bytearray, v: int) -> None:
    if v < 0:
        raise ValueError(f"uvarint of negative value {v}")
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def put_svarint(out: bytearray, v: int) -> None:
    put_uvarint(out, (v << 1) if v >= 0 else ((-v << 1) - 1))


class Reader:
    """Bounds-checked cursor over a bytes object; every overrun is a FormatError."""

    def __init__(self, data: bytes, what: str):
        self.data, self.pos, self.what = memoryview(data), 0, what

    def need(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise FormatError(f"{self.what}: truncated")

    def count(self) -> int:
        """A count of items of at least one byte each: at most the bytes left (as the device's reader)."""
        n = self.uvarint()
        left = len(self.data) - self.pos
        if n > left:
            raise FormatError(f"{self.what}: count {n} is more than the {left} bytes left")
        return n

    def i32(self, lo: int = -(1 << 31), hi: int = (1 << 31) - 1, name: str = "value") -> int:
        v = self.svarint()
        if not lo <= v <= hi:
            raise FormatError(f"{self.what}: {name} is {v}, outside {lo}..{hi}")
        return v

    def u8(self) -> int:
        self.need(1)
        self.pos += 1
        return self.data[self.pos - 1]

    def uvarint(self) -> int:
        v = shift = 0
        while True:
            b = self.u8()
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
            if shift > 63:
                raise FormatError(f"{self.what}: bad varint")

    def svarint(self) -> int:
        u = self.uvarint()
        return (u >> 1) ^ -(u & 1)

    def f32(self) -> float:
        self.need(4)
        self.pos += 4
        return struct.unpack_from("<f", self.data, self.pos - 4)[0]

    def take(self, n: int) -> bytes:
        self.need(n)
        self.pos += n
        return bytes(self.data[self.pos - n:self.pos])

    def done(self) -> bool:
        return self.pos >= len(self.data)


# ---- writing -----------------------------------------------------------------------

def _param_names(op: str):
    return ops.module_for(op).PARAMS


def _const_names(op: str):
    return ops.module_for(op).CONSTS


def _encode_tensors(model: MoteModel) -> bytes:
    out = bytearray()
    put_uvarint(out, len(model.tensors))
    for t in model.tensors:
        out.append(DTYPES.index(t.dtype) << 4 | len(t.shape))
        for d in t.shape:
            put_uvarint(out, int(d))
        out += struct.pack("<f", t.scale)
        put_svarint(out, int(t.zero_point))
        put_uvarint(out, int(t.offset))
    return bytes(out)


class _Chain:
    """The implied inputs and outputs of a chained layer (op byte bit 7, format 1.1)."""

    def __init__(self, model_inputs):
        self.prev = model_inputs[0] if model_inputs else None
        self.top = max(model_inputs, default=-1)

    def implied(self):
        return [self.prev], [self.top + 1]

    def follows(self, inputs, outputs) -> bool:
        return self.prev is not None and (list(inputs), list(outputs)) == tuple(self.implied())

    def add(self, inputs, outputs):
        self.top = max([self.top, *inputs, *outputs])
        self.prev = outputs[0] if outputs else None


def _encode_graph(model: MoteModel) -> bytes:
    out = bytearray()
    put_uvarint(out, model.arena_size)
    for ids in (model.inputs, model.outputs):
        put_uvarint(out, len(ids))
        for i in ids:
            put_uvarint(out, i)
    put_uvarint(out, len(model.layers))
    chain = _Chain(model.inputs)
    for layer, packed in zip(model.layers, model.packed):
        op = ops.OP_IDS[layer.op] | (INTERLEAVED if layer.interleaved else 0)
        if model.minor >= 1 and chain.follows(layer.inputs, layer.outputs):
            out.append(op | CHAIN)
        else:
            out.append(op)
            for ids in (layer.inputs, layer.outputs):
                put_uvarint(out, len(ids))
                for i in ids:
                    put_uvarint(out, i)
        chain.add(layer.inputs, layer.outputs)
        for name in _param_names(layer.op):
            value = layer.params[name.rstrip("[]")]
            if name.endswith("[]"):
                put_uvarint(out, len(value))
                for v in value:
                    put_svarint(out, int(v))
            else:
                put_svarint(out, int(value))
        mask = 0
        for bit, name in enumerate(_const_names(layer.op)):
            if name in packed:
                mask |= 1 << bit
        out.append(mask)
    return bytes(out)


def channels_of(layer: Layer, tensors) -> int | None:
    """C of an implied shape [C]: the last dim of the layer's first output (None if it has none)."""
    if tensors is None or not layer.outputs:
        return None
    shape = tensors[layer.outputs[0]].shape
    return int(shape[-1]) if len(shape) else None


def _const_header(pc: PackedConst, channels) -> bytes:
    out = bytearray()
    kind = DTYPES.index(pc.dtype) << 4 | pc.codec
    if channels is not None and tuple(pc.shape) == (channels,):
        out.append(kind | IMPLIED_SHAPE)
    else:
        out.append(kind)
        out.append(len(pc.shape))
        for d in pc.shape:
            put_uvarint(out, int(d))
    put_uvarint(out, len(pc.payload))
    return bytes(out)


def _encode_layer_data(layer: Layer, packed: dict, channels=None) -> bytes:
    out = bytearray()
    for name in _const_names(layer.op):
        pc = packed.get(name)
        if pc is None:
            continue
        out += _const_header(pc, channels)
        out += pc.payload
    return bytes(out)


def channel_sums(op: str, weights: np.ndarray) -> np.ndarray:
    """S[c]: the sum of the int8 weights of output channel c (bias prediction, codec 6)."""
    w = np.asarray(weights).astype(np.int64)
    axis = DERIVED_OPS[op]
    return w.sum(axis=tuple(a for a in range(w.ndim) if a != axis % w.ndim))


def predict_bias(alpha: int, sums: np.ndarray) -> np.ndarray:
    return (int(alpha) * np.asarray(sums, np.int64) + 8) >> 4


def _wrapped_payload(prefix: bytes, values: np.ndarray, allow) -> bytes:
    inner, payload = codecs.pack(np.asarray(values, np.int32), allow=allow)
    return prefix + bytes([inner]) + payload


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


def _pack_bias(layer: Layer, bias: np.ndarray, plain: PackedConst, allow) -> PackedConst:
    """Codec 6 when predicting bias from the weight sums makes the payload smaller."""
    weights = layer.consts.get("weights")
    if weights is None or np.asarray(weights).dtype != np.int8 or bias.ndim != 1 or bias.size < 2:
        return plain
    sums = channel_sums(layer.op, weights)
    if sums.shape != bias.shape:
        return plain
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
    return best


def _pack_scales(layer: Layer, tensors, packed: dict, channels, allow) -> None:
    """Codec 5 in place of the multiplier and shift arrays, when it rebuilds them exactly and is smaller."""
    from .quant import f32_bits, multiplier_from_scale_bits
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
        in_bits = f32_bits(tensors[layer.inputs[0]].scale)
        out_bits = f32_bits(tensors[layer.outputs[0]].scale)
        for b, m, s in zip(bits.tolist(), mult.tolist(), shift.tolist()):
            if multiplier_from_scale_bits(in_bits, b, out_bits) != (m, s):
                return          # TFLM's double rounding differs here: keep the explicit arrays
    except ValueError:
        return
    pc = PackedConst(CODEC_SCALES, packed["multiplier"].dtype, packed["multiplier"].shape,
                     _wrapped_payload(b"", bits, allow))
    old = sum(len(_const_header(packed[n], channels)) + len(packed[n].payload) for n in ("multiplier", "shift"))
    if len(_const_header(pc, channels)) + len(pc.payload) < old:
        packed["multiplier"] = pc
        del packed["shift"]


def without_derived(layer: Layer, packed: dict, allow=None) -> dict:
    """packed with the derived constants (codecs 5, 6) replaced by their plain encodings."""
    if not any(pc.codec in DERIVED for pc in packed.values()):
        return packed
    out = {}
    for name in _const_names(layer.op):
        pc = packed.get(name)
        if pc is not None and pc.codec not in DERIVED:
            out[name] = pc
        elif name in layer.consts and (pc is not None or name == "shift"):
            arr = np.asarray(layer.consts[name])
            codec, payload = codecs.pack(arr.ravel(), allow=allow)
            out[name] = PackedConst(codec, arr.dtype.name, tuple(arr.shape), payload)
    return out


def pack_consts(layer: Layer, allow=None, tensors=None) -> dict:
    """Encode each constant of a layer with the smallest codec.

    With the model's tensor table (`tensors`), the derived encodings of format
    1.1 are tried too for FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D:
    filter scales instead of multipliers and shifts (codec 5), and biases
    predicted from the weight sums (codec 6); each is kept only when smaller.
    """
    packed = {}
    for name in _const_names(layer.op):
        arr = layer.consts.get(name)
        if arr is None:
            continue
        arr = np.asarray(arr)
        if arr.dtype.name not in DTYPES:
            raise ModelError(f"{layer.op}: constant {name!r} has dtype {arr.dtype}, which .mote cannot store")
        codec, payload = codecs.pack(arr.ravel(), allow=allow)
        packed[name] = PackedConst(codec, arr.dtype.name, tuple(arr.shape), payload)
    if tensors is not None and layer.op in DERIVED_OPS:
        if ("bias" in packed and packed["bias"].dtype == "int32" and layer.op in BIASPRED_WRITE_OPS
                and not layer.interleaved):         # format 1.2: no biaspred in an interleaved layer
            packed["bias"] = _pack_bias(layer, np.asarray(layer.consts["bias"]).ravel(), packed["bias"], allow)
        _pack_scales(layer, tensors, packed, channels_of(layer, tensors), allow)
    return packed


def written_minor(model: MoteModel) -> int:
    """The minor version to_bytes writes: 0 for the 1.0 layout, else 2 when a layer is
    interleaved (format 1.2), else 1."""
    interleaved = [i for i, layer in enumerate(model.layers) if layer.interleaved]
    if model.minor == 0:
        if interleaved:
            raise FormatError(f"layer {interleaved[0]} is interleaved (format 1.2), which the 1.0 layout "
                              "(minor 0) cannot hold")
        return 0
    return 2 if interleaved else 1


def to_bytes(model: MoteModel) -> bytes:
    minor = written_minor(model)
    meta = json.dumps(model.meta, separators=(",", ":"), sort_keys=True).encode() if model.meta else b""
    sections = [(SEC_META, meta)] if meta else []
    sections += [(SEC_TENSORS, _encode_tensors(model)), (SEC_GRAPH, _encode_graph(model))]
    implied = model.tensors if model.minor >= 1 else None
    sections += [(SEC_LAYER, _encode_layer_data(layer, packed, channels_of(layer, implied)))
                 for layer, packed in zip(model.layers, model.packed) if packed]
    body = bytearray()
    put_uvarint(body, len(sections))
    for kind, payload in sections:
        body.append(kind)
        put_uvarint(body, len(payload))
    for _, payload in sections:
        body += payload
    size = HEADER.size + len(body)
    return HEADER.pack(MAGIC, MAJOR, minor, 0, size, zlib.crc32(body)) + bytes(body)


# ---- reading -----------------------------------------------------------------------

def read_header(data: bytes, what: str = "file") -> tuple[int, int, int]:
    """Check magic, version, size and CRC; return (major, minor, flags)."""
    if len(data) < HEADER.size or data[:4] != MAGIC:
        raise FormatError(f"{what}: not a .mote file (no 'MOTE' magic); make one with 'motes convert'")
    magic, major, minor, flags, size, crc = HEADER.unpack_from(data)
    if major != MAJOR:
        raise FormatError(f"{what}: .mote format version {major}.{minor}; this motes reads version "
                          f"{MAJOR}.x. Convert the model again with this motes, or upgrade motes.")
    if flags:
        # bytes 6-7 are outside the CRC: reserved, 0
        raise FormatError(f"{what}: header flags are {flags}, not 0: the file is damaged (copy it again)")
    if size != len(data):
        raise FormatError(f"{what}: header says {size} bytes but the file has {len(data)}; "
                          "the file is truncated or has extra bytes (copy it again)")
    if zlib.crc32(data[HEADER.size:]) != crc:
        raise FormatError(f"{what}: CRC mismatch; the file is damaged (copy it again)")
    return major, minor, flags


def board_json(data: bytes):
    """The metadata as the board's json.loads reads it (MicroPython's extmod/modjson.c):
    a lenient parser (commas and colons count as spaces), so the host accepts and
    refuses exactly the files a board does. ValueError if it fails there."""
    data = bytes(data)
    n, i = len(data), 0
    NONE = object()
    stack, top, key = [], None, NONE

    def cur():
        return data[i] if i < n else 0          # a 0 byte ends the input there too

    while True:
        c = cur()
        if not c:
            raise ValueError("syntax error in JSON")
        i += 1
        enter, value = False, NONE
        if c in b",: \t\n\r":
            continue
        for word, v in ((b"null", None), (b"false", False), (b"true", True)):
            if c == word[0]:
                if data[i:i + len(word) - 1] != word[1:]:
                    raise ValueError("syntax error in JSON")
                i += len(word) - 1
                value = v
        if value is not NONE or c in b"nft":
            pass
        elif c == 0x22:                                # a string
            out = bytearray()
            while cur() and cur() != 0x22:
                b = cur()
                if b == 0x5C:
                    i += 1
                    b = cur()
                    if b == 0x75:                      # \uXXXX
                        num = 0
                        for _ in range(4):
                            i += 1
                            d = ((cur() | 0x20) - 0x30) & 0xFF
                            if d > 9:
                                d = (d - (0x61 - 0x3A)) & 0xFF
                            num = (num << 4) | d
                        out += chr(num).encode("utf-8", "surrogatepass")
                        i += 1
                        continue
                    b = {0x62: 8, 0x66: 12, 0x6E: 10, 0x72: 13, 0x74: 9}.get(b, b)
                out.append(b)
                i += 1
            if not cur():
                raise ValueError("syntax error in JSON")
            i += 1
            value = out.decode("utf-8")
        elif c == 0x2D or 0x30 <= c <= 0x39:          # a number
            start, flt = i - 1, False
            while True:
                b = cur()
                if b in b".Ee":
                    flt = True
                elif not (b in b"+-" or 0x30 <= b <= 0x39) or not b:
                    break
                i += 1
            text = data[start:i].decode()
            value = float(text) if flt else int(text)
        elif c in b"[{":
            value, enter = ([] if c == 0x5B else {}), True
        elif c in b"]}":
            if top is None:
                raise ValueError("syntax error in JSON")
            if not stack:
                break
            top = stack.pop()
            continue
        else:
            raise ValueError("syntax error in JSON")
        if top is None:
            top = value
            if not enter:
                break
            continue
        if isinstance(top, list):
            top.append(value)
        else:
            if key is NONE:
                if enter:
                    raise ValueError("syntax error in JSON")
                key = value
            else:
                top[key] = value
                key = NONE
        if enter:
            stack.append(top)
            top = value
    while cur() and data[i] in b" \t\n\r\f\v":
        i += 1
    if cur() or stack:
        raise ValueError("syntax error in JSON")
    return top


def section_table(data: bytes, what: str = "file") -> list[tuple[int, int, int]]:
    """The section table: [(kind, offset, length)], offsets from the start of the file."""
    r = Reader(data, f"{what}: section table")
    r.pos = HEADER.size
    entries = [(r.u8(), r.uvarint()) for _ in range(r.count())]
    table, offset, seen = [], r.pos, set()
    for kind, length in entries:
        if kind in (SEC_META, SEC_TENSORS, SEC_GRAPH):
            # one of each, the tensors before the graph
            if kind in seen or (kind == SEC_GRAPH and SEC_TENSORS not in seen):
                raise FormatError(f"{what}: section kind {kind} repeated, or the graph before the tensors")
            seen.add(kind)
        table.append((kind, offset, length))
        offset += length
    if offset != len(data):
        raise FormatError(f"{what}: section table covers {offset} bytes but the file has {len(data)}")
    return table


def iter_sections(data: bytes, what: str = "file"):
    """Yield (kind, offset, payload) for every section, in file order."""
    for kind, offset, length in section_table(data, what):
        yield kind, offset, data[offset:offset + length]


def _shape(r: Reader, rank: int) -> tuple:
    dims = tuple(r.uvarint() for _ in range(rank))
    n = 1
    for d in dims:
        n *= d
        if d >> 31:
            n = d
    if n >> 31:
        raise FormatError(f"{r.what}: shape {list(dims)} has too many elements")
    return dims


def _decode_tensors(payload: bytes, what: str = "file") -> list[TensorInfo]:
    r = Reader(payload, f"{what} (tensor table)")
    tensors = []
    for i in range(r.count()):
        kind = r.u8()
        code, ndim = kind >> 4, kind & 15
        if code >= len(DTYPES):
            raise FormatError(f"{r.what}: tensor {i} has dtype code {code}, unknown")
        shape = _shape(r, ndim)
        scale = r.f32()
        t = TensorInfo(shape, DTYPES[code], scale, r.i32(-128, 127, "a zero point"), r.uvarint())
        n = int(np.prod(shape, dtype=object)) if shape else 1
        if not n or t.offset + n > 0x7FFFFFFF:
            raise FormatError(f"{what}: tensor {i}: {n} bytes at arena offset {t.offset} are outside the arena "
                              f"({0x7FFFFFFF} bytes)")
        tensors.append(t)
    if not r.done():
        raise FormatError(f"{r.what}: {len(r.data) - r.pos} bytes left over")
    return tensors


def _decode_graph(payload: bytes, n_tensors: int, what: str = "file"):
    r = Reader(payload, f"{what} (graph section)")
    arena = r.uvarint()
    if arena > 0x7FFFFFFF:
        raise FormatError(f"{what}: arena size {arena} is more than {0x7FFFFFFF}")

    def ids():
        out = []
        for _ in range(r.count()):
            i = r.uvarint()
            if i >= n_tensors:
                raise FormatError(f"{r.what}: tensor id {i} out of range")
            out.append(i)
        return out

    inputs, outputs = ids(), ids()
    if not inputs or not outputs:
        raise FormatError(f"{what}: the model has no input or no output")
    op_names = {v: k for k, v in ops.OP_IDS.items()}
    layers, masks = [], []
    chain = _Chain(inputs)
    for li in range(r.count()):
        code = r.u8()
        op = op_names.get(code & ~(CHAIN | INTERLEAVED))
        if op is None or op not in ops.OPS:
            raise FormatError(f"graph: layer {li} has op code {code}, unknown to this motes version")
        if code & INTERLEAVED and op not in INTERLEAVED_OPS:
            raise FormatError(f"graph: layer {li} ({op}) has the interleaved bit, which only "
                              f"{' and '.join(INTERLEAVED_OPS)} may set")
        if code & CHAIN:
            if chain.prev is None or chain.top + 1 >= n_tensors:
                raise FormatError(f"{r.what}: layer {li} is chained to no tensor")
            layer_in, layer_out = chain.implied()
            layer = Layer(op, layer_in, layer_out)
        else:
            layer = Layer(op, ids(), ids())
        layer.interleaved = bool(code & INTERLEAVED)
        chain.add(layer.inputs, layer.outputs)
        lo = None
        for j, name in enumerate(_param_names(op)):
            if name.endswith("[]"):
                layer.params[name[:-2]] = [r.i32() for _ in range(r.count())]
                continue
            a, b = PARAM_LIMITS[param_kind(name)]
            v = r.i32()
            if not a <= v <= b:
                raise FormatError(f"{what}: layer {li}: param {j} is {v}, outside {a}..{b}")
            if param_kind(name) == "a":
                if lo is not None and v < lo:
                    raise FormatError(f"{what}: layer {li}: act_min {lo} is above act_max {v}")
                lo = v
            layer.params[name] = v
        mask = r.u8()
        if mask >> len(_const_names(op)):
            raise FormatError(f"{what}: layer {li}: constant mask {mask} has bits for no constant")
        masks.append(mask)
        layers.append(layer)
    if not r.done():
        raise FormatError(f"{r.what}: {len(r.data) - r.pos} bytes left over")
    return arena, inputs, outputs, layers, masks


def _decode_layer_data(payload: bytes, i: int, layers, masks, packed, tensors, what: str = "file") -> None:
    """Layer i's constant headers and payloads; the checks and messages of the device's reader (reader.py)."""
    r = Reader(payload, what)
    op = ops.OP_IDS[layers[i].op]
    mask = masks[i]
    for slot, name in enumerate(_const_names(layers[i].op)):
        if not mask >> slot & 1:
            continue
        kind = r.u8()
        codec, dt = kind & 15, kind >> 4 & 7
        if codec not in codecs.CODECS and codec not in DERIVED:
            raise FormatError(f"{what}: layer {i} {name}: codec {codec} is unknown to this motes version; "
                              "upgrade motes")
        if (codec == CODEC_SCALES and (slot != 2 or mask & 8)) or (codec == CODEC_BIASPRED and (slot != 1 or not mask & 1)) \
                or (codec in DERIVED and (op > 2 or dt != 3)):
            raise FormatError(f"{what}: layer {i}: derived constant (codec {codec}) in the wrong place")
        # integer constants (the native kernels take their own dtypes, the others fall back to Python)
        if dt > 3:
            raise FormatError(f"{what}: layer {i}: constant {slot} has dtype code {dt}: constants are integers")
        if dt and 0 < codec < 3:
            raise FormatError(f"{what}: layer {i}: constant {slot}: codec {codec} does not take dtype code {dt}")
        if kind & IMPLIED_SHAPE:
            channels = channels_of(layers[i], tensors)
            if channels is None:
                raise FormatError(f"{what}: implied shape [C] on a layer without output channels")
            shape = (channels,)
        else:
            shape = _shape(r, r.u8())
        size = r.uvarint()
        if r.pos + size > len(r.data):
            raise FormatError(f"{what}: layer {i}: constants overrun their section")
        count = int(np.prod(shape, dtype=object)) if shape else 1
        if not count or (not codec and size != count * DTYPE_SIZES[dt]):
            raise FormatError(f"{what}: layer {i}: constant {slot}: {size} payload bytes for {count} values")
        packed[i][name] = PackedConst(codec, DTYPES[dt] if dt < len(DTYPES) else f"dtype {dt}", shape, r.take(size))
    if not r.done():
        raise FormatError(f"{what}: layer {i} data: {len(payload) - r.pos} bytes left over")


def decode_layer_consts(layer: Layer, packed: dict, tensors) -> dict:
    """Every constant array of a layer, the derived ones (codecs 5, 6) rebuilt."""
    from .quant import f32_bits, multiplier_from_scale_bits
    what = f"{layer.op}"
    out = {name: pc.decode() for name, pc in packed.items() if pc.codec not in DERIVED}
    for name, pc in packed.items():
        if pc.codec not in DERIVED:
            continue
        if layer.op not in DERIVED_OPS or pc.dtype != "int32" or len(pc.shape) != 1:
            raise FormatError(f"{what}: {pc.codec_name} encoding is not allowed for {name!r} of this op")
        alpha, _, values = pc.stored()
        if pc.codec == CODEC_BIASPRED:
            if name != "bias" or "weights" not in out or out["weights"].dtype != np.int8:
                raise FormatError(f"{what}: biaspred is only for the bias of a layer with int8 weights")
            sums = channel_sums(layer.op, out["weights"])
            if sums.shape != values.shape:
                raise FormatError(f"{what}: biaspred bias has {values.size} values for {sums.size} channels")
            b = values.astype(np.int64) + predict_bias(alpha, sums)
            out[name] = (((b + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)).astype(np.int32)
        else:
            if name != "multiplier" or "shift" in packed:
                raise FormatError(f"{what}: scales are only for the multiplier, with no shift array")
            try:
                in_bits = f32_bits(tensors[layer.inputs[0]].scale)
                out_bits = f32_bits(tensors[layer.outputs[0]].scale)
                ms = [multiplier_from_scale_bits(in_bits, int(b), out_bits) for b in values.tolist()]
            except (ValueError, IndexError) as e:
                raise FormatError(f"{what}: cannot rebuild the multipliers from the scales ({e})") from e
            if any(not -128 <= s < 128 for _, s in ms):
                raise FormatError(f"{what}: a rebuilt shift is out of the int8 range")
            out["multiplier"] = np.array([m for m, _ in ms], np.int32).reshape(pc.shape)
            out["shift"] = np.array([s for _, s in ms], np.int8).reshape(pc.shape)
            layer.filter_scale = values.astype(np.int32).view(np.float32)
    return out


def _interleave_problem(layer: Layer, packed: dict, tensors, minor: int) -> str | None:
    """What breaks format 1.2's rules for an interleaved layer (docs/FORMAT.md), or None."""
    if minor < 2:
        return f"the file is version {MAJOR}.{minor} (interleaved layers are format 1.2)"
    w, b = packed.get("weights"), packed.get("bias")
    if w is None or w.dtype != "int8":
        return "its weights are not int8" if w is not None else "it has no weights"
    if b is None:
        if layer.op == "FULLY_CONNECTED":
            return "it has no bias (an interleaved FULLY_CONNECTED stores the folded bias)"
    elif b.dtype != "int32":
        return f"its bias is {b.dtype}, not int32"
    elif b.codec == CODEC_BIASPRED:
        return "its bias is biaspred (codec 6), which interleaved layers may not use"
    elif not w.shape or tuple(b.shape) != (w.shape[0],):
        return f"its bias has shape {list(b.shape)} for {w.shape[0] if w.shape else 0} output channels"
    if layer.op == "FULLY_CONNECTED" and int(layer.params.get("filter_offset", 0)) != 0:
        return f"filter_offset is {layer.params['filter_offset']}, not 0"
    if layer.op == "CONV_2D":
        shape = tensors[layer.inputs[0]].shape if layer.inputs else ()
        if len(w.shape) != 4 or not shape or w.shape[-1] != shape[-1]:
            return (f"its weights have {w.shape[-1]} input channels for an input of "
                    f"{shape[-1] if shape else '?'} channels (grouped convolutions stay row-major)")
    return None


ALIAS_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
CONST_INPUT_OPS = ("ADD", "SUB", "MUL", "CONCATENATION")    # may take all their inputs from constants
# one value out per value in: activations, SOFTMAX, QUANTIZE / DEQUANTIZE, RESHAPE and its kin (op ids)
ONE_TO_ONE_OPS = (5, 6, 7, 8, 14, 15, 16, 17, 18, 21, 22, 23)


def verify(model: MoteModel, what: str = "file") -> None:
    """The checks of the whole graph, before anything is decoded or run: the rules and
    messages of the device's verify.py (docs/FORMAT.md, Verification)."""
    tensors, arena = model.tensors, model.arena_size
    sizes = [int(np.prod(t.shape, dtype=object)) if t.shape else 1 for t in tensors]
    nbytes = [n * DTYPE_SIZES[DTYPES.index(t.dtype)] for t, n in zip(tensors, sizes)]
    for i, (t, n) in enumerate(zip(tensors, nbytes)):
        if t.offset + n > arena:
            raise FormatError(f"{what}: tensor {i}: {n} bytes at arena offset {t.offset} are outside the arena "
                              f"({arena} bytes)")
    nl = len(model.layers)
    first, last, root = [nl + 1] * len(tensors), [-1] * len(tensors), list(range(len(tensors)))

    def touch(t, s):
        first[t], last[t] = min(first[t], s), max(last[t], s)

    def find(t):
        while root[t] != t:
            t = root[t]
        return t

    for t in model.inputs:
        touch(t, 0)
    for t in model.outputs:
        touch(t, nl)
    for i, layer in enumerate(model.layers):
        for t in list(layer.inputs) + list(layer.outputs):
            touch(t, i)
            # int8 activations, but QUANTIZE's input and DEQUANTIZE's output (float32 at the edges)
            if tensors[t].dtype != "int8" and not (layer.op == "QUANTIZE" and t in layer.inputs
                                                   or layer.op == "DEQUANTIZE" and t in layer.outputs):
                raise FormatError(f"{what}: layer {i}: tensor {t} has dtype code {DTYPES.index(tensors[t].dtype)}: "
                                  "only QUANTIZE's input and DEQUANTIZE's output are not int8")
        if (not layer.inputs and layer.op not in CONST_INPUT_OPS) or not layer.outputs:
            raise FormatError(f"{what}: layer {i} has no input or output tensor")
        if layer.op in ALIAS_OPS and len(layer.inputs) == 1 and len(layer.outputs) == 1:
            root[layer.outputs[0]] = find(layer.inputs[0])
        xs = tensors[layer.inputs[0]].shape if layer.inputs else ()
        ys = tensors[layer.outputs[0]].shape
        if layer.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            # pools: the same batch and channels, 4-d
            if len(xs) != 4 or len(ys) != 4 or xs[0] != ys[0] or xs[3] != ys[3]:
                raise FormatError(_SHAPES % (what, i))
        if ops.OP_IDS[layer.op] in ONE_TO_ONE_OPS and (sizes[layer.inputs[0]] != sizes[layer.outputs[0]] or (
                layer.op not in ALIAS_OPS and xs[-1:] != ys[-1:])):
            # one value out per value in, the rows of the same length but for the aliases
            raise FormatError(_SHAPES % (what, i))
        if layer.op in DERIVED_OPS:
            _verify_conv(what, i, layer, model.packed[i], tensors, sizes)
    for u in range(len(tensors)):
        if last[u] < 0:
            continue
        ou, eu = tensors[u].offset, tensors[u].offset + nbytes[u]
        for v in range(u + 1, len(tensors)):
            if last[v] < 0 or first[v] > last[u] or first[u] > last[v]:
                continue
            ov = tensors[v].offset
            if ov >= eu or ou >= ov + nbytes[v]:
                continue
            if find(u) != find(v) or ou != ov:
                raise FormatError(f"{what}: tensors {u} and {v} overlap in the arena while both are live")
    labels = model.meta.get("labels")
    if labels is not None:
        shape = tensors[model.outputs[0]].shape
        c = shape[-1] if shape else 1
        if not isinstance(labels, list) or len(labels) != c:
            raise FormatError(f"{what}: metadata: labels must be a list of {c} names, one per output")
    norm = model.meta.get("input_norm")
    if norm is not None and not _norm_ok(norm, sizes[model.inputs[0]]):
        raise FormatError(f'{what}: metadata: input_norm must be {{"mean": [...], "std": [...]}}, as many finite '
                          f'numbers each, a divisor of the {sizes[model.inputs[0]]} inputs, no std 0')


def _norm_ok(norm, n: int) -> bool:
    """input_norm as the board applies it (Net._set_input_float) and api.normalize: mean and
    std, k numbers each (not booleans), k dividing the input's n values, finite as float32,
    no std 0."""
    mean, std = (norm.get("mean"), norm.get("std")) if isinstance(norm, dict) else (None, None)
    if not (isinstance(mean, list) and isinstance(std, list) and 0 < len(mean) == len(std) and n % len(mean) == 0):
        return False
    if any(type(v) not in (int, float) for v in mean + std):
        return False
    try:
        with np.errstate(over="ignore"):
            m, s = (np.array([float(v) for v in x], np.float64).astype(np.float32) for x in (mean, std))
    except OverflowError:                       # an int past a double's range: inf on the board
        return False
    return bool(np.isfinite(m).all() and np.isfinite(s).all() and (s != 0).all())


def _verify_conv(what, i, layer, packed, tensors, sizes):
    x, y = layer.inputs[0], layer.outputs[0]
    xs, ys = tensors[x].shape, tensors[y].shape
    w, m = packed.get("weights"), packed.get("multiplier")
    ok = w is not None and m is not None and ("shift" in packed or m.codec == CODEC_SCALES)
    if ok:
        ws = tuple(w.shape)
        oc = (ws[0] if layer.op != "DEPTHWISE_CONV_2D" else ws[-1]) if ws else 0
        if layer.op == "FULLY_CONNECTED":
            d = ws[1] if len(ws) == 2 else 0
            ok = len(ws) == 2 and d > 0 and sizes[x] % d == 0 and bool(ys) and ys[-1] == oc \
                and sizes[y] == sizes[x] // d * oc
        else:
            ok = len(ws) == 4 and len(xs) == 4 and len(ys) == 4 and xs[0] == ys[0] and ys[3] == oc \
                and 0 < ws[1] < 32768 and 0 < ws[2] < 32768 and xs[1] < 32768 and xs[2] < 32768
            if ok and layer.op == "CONV_2D":
                g = xs[3] // ws[3] if ws[3] else 0
                ok = g > 0 and g * ws[3] == xs[3] and oc % g == 0 and ws[1] * ws[2] * ws[3] < 1 << 31
            elif ok:
                ok = ws[0] == 1 and xs[3] * layer.params["depth_multiplier"] == oc
        for name in ("bias", "multiplier", "shift"):
            pc = packed.get(name, m if name == "shift" else None)
            if ok and pc is not None:
                n = pc.count
                ok = n == oc or (n == 1 and name != "bias")
    if not ok:
        raise FormatError(_SHAPES % (what, i))
    # the multipliers' and shifts' values (small arrays: decoded here, once)
    for j, name, lo, hi in ((2, "multiplier", 0, (1 << 31) - 1), (3, "shift", -63, 31)):
        pc = packed.get(name)
        if pc is not None and pc.codec not in DERIVED:
            v = pc.decode()
            bad = v[(v < lo) | (v > hi)]
            if bad.size:
                raise FormatError(f"{what}: layer {i}: constant {j} holds {int(bad[0])}, outside {lo}..{hi}")


_SHAPES = "%s: layer %d: its shapes do not fit each other (input, output, weights, bias, multipliers, shifts)"


def from_bytes(data: bytes, what: str = "file", decode: bool = True, check: bool = True) -> MoteModel:
    """Read a .mote. check=False skips the graph checks (verify()): only for tools and tests
    that take a file's structure apart, never to run a model."""
    data = bytes(data)
    _, minor, _ = read_header(data, what)
    meta, tensors, graph = {}, None, None
    layer_sections = []
    for kind, _, payload in iter_sections(data, what):
        if kind == SEC_META:
            try:
                meta = board_json(payload)
            except ValueError:
                meta = None
            if not isinstance(meta, dict):
                raise FormatError(f"{what}: metadata is not a JSON object")
        elif kind == SEC_TENSORS:
            tensors = _decode_tensors(payload, what)
        elif kind == SEC_GRAPH:
            graph = _decode_graph(payload, len(tensors), what)
        elif kind == SEC_LAYER:
            layer_sections.append(payload)
        # unknown section kinds are skipped: minor versions may add them
    if tensors is None or graph is None:
        raise FormatError(f"{what}: no tensor table or graph")
    arena, inputs, outputs, layers, masks = graph
    packed = [dict() for _ in layers]
    with_consts = [i for i, m in enumerate(masks) if m]
    if len(layer_sections) != len(with_consts):
        raise FormatError(f"{what}: {len(layer_sections)} layer data sections for {len(with_consts)} "
                          "layers with constants")
    for i, payload in zip(with_consts, layer_sections):
        _decode_layer_data(payload, i, layers, masks, packed, tensors, what)
    model = MoteModel(meta, tensors, layers, inputs, outputs, arena, packed, minor)
    for i, layer in enumerate(layers):
        want = [n for bit, n in enumerate(_const_names(layer.op)) if masks[i] >> bit & 1]
        if sorted(want) != sorted(packed[i]):
            raise FormatError(f"{what}: layer {i} ({layer.op}) is missing its weight section")
        if layer.interleaved:
            problem = _interleave_problem(layer, packed[i], tensors, minor)
            if problem:
                raise FormatError(f"{what}: layer {i} ({layer.op}) is interleaved but {problem}")
    if check:
        verify(model, what)
    for i, layer in enumerate(layers):
        if decode:
            try:
                layer.consts = model.decoded_consts(i)
            except FormatError as e:
                raise FormatError(f"{what}: layer {i}: {e}") from None
    return model


def load(path) -> MoteModel:
    with open(path, "rb") as f:
        return from_bytes(f.read(), what=str(path))


def op_table_markdown() -> str:
    """The op table of docs/FORMAT.md, generated from the op modules."""
    lines = ["| id | op | params | constants | alias |", "|---|---|---|---|---|"]
    for name, op_id in sorted(ops.OP_IDS.items(), key=lambda kv: kv[1]):
        mod = ops.OPS.get(name)
        if mod is None:
            continue
        params = ", ".join(f"`{p}`" for p in mod.PARAMS) or "-"
        consts = ", ".join(f"`{c}`" for c in mod.CONSTS) or "-"
        lines.append(f"| {op_id} | {name} | {params} | {consts} | {'yes' if getattr(mod, 'ALIAS', False) else ''} |")
    return "\n".join(lines)


def device_op_table_source() -> str:
    """device/motes/optable.py: the op table in the smallest form a board can use.

    One string: per op id, one letter per param in file order ('s' scalar, 'l'
    list), then the number of constants, then '/'; an id with no op is empty.
    A str constant costs no RAM when the code runs from ROMFS or is frozen (a
    dict of tuples costs about 1.6 KB). Kernels take params and constants by
    position (the order of the table in docs/FORMAT.md): names would cost RAM.
    """
    by_id = {op_id: name for name, op_id in ops.OP_IDS.items() if name in ops.OPS}
    entries = []
    for op_id in range(max(by_id) + 1):
        mod = ops.OPS.get(by_id.get(op_id))
        if mod is None:
            entries.append("")
            continue
        if len(mod.CONSTS) > 9:
            raise ValueError(f"op {by_id[op_id]}: the device table holds at most 9 constants")
        entries.append("".join(param_kind(p) for p in mod.PARAMS) + str(len(mod.CONSTS)))
    table = "".join(e + "/" for e in entries)
    return "\n".join([
        "# Generated from host/motes/ops by 'make format-doc'; do not edit.",
        "# Param and constant order: the op table in docs/FORMAT.md.",
        "# Per op id: its param letters (the kind of each scalar, format.PARAM_LIMITS; 'l' a list),",
        "# its number of",
        "# constants, '/'. One string, so that it costs no RAM in ROMFS or frozen code.",
        "from .structs import nth",
        "",
        f"SPECS = {table!r}",
        "",
        "",
        "def spec(op):",
        '    """(param letters, number of constants) of op id, or None if unknown."""',
        '    f = nth(SPECS, op, "/")',
        "    return (f[:-1], int(f[-1])) if f else None",
        ""])


def device_op_names_source() -> str:
    names = [f"    {op_id}: {name!r}," for name, op_id in sorted(ops.OP_IDS.items(), key=lambda kv: kv[1])
             if name in ops.OPS]
    return "\n".join(["# Generated by 'make format-doc'; imported only to print layers.", "NAMES = {"]
                     + names + ["}", ""])


# ---- the format's numbers as names in the device runtime ---------------------------
# A device module that names them holds a block between these two lines, which
# 'make format-doc' rewrites with the const() of each name the module mentions (and
# kernels._PY). MicroPython inlines a `_NAME = const(n)` where it is used and keeps
# no name, so they cost no RAM; a module of shared names would (its globals, qstrs).
GENERATED_BEGIN = "# -- generated by 'make format-doc' (host/motes/format.py, device_names): do not edit --"
GENERATED_END = "# -- end of generated names --"


def device_names() -> dict:
    """_NAME -> int: the numbers of the format that device code names (docs/FORMAT.md)."""
    names = {f"_OP_{n}": i for n, i in ops.OP_IDS.items() if n in ops.OPS}
    # op byte of a layer: bit 7 chained, bit 6 interleaved (kept in net.ops), the op id below
    names.update(_CHAINED=CHAIN, _INTERLEAVED=INTERLEAVED, _OP_BITS=INTERLEAVED - 1,
                 _IMPLIED_SHAPE=IMPLIED_SHAPE)
    names.update({f"_CODEC_{c.name.upper()}": i for i, c in codecs.CODECS.items()})
    names.update({f"_CODEC_{n.upper()}": i for i, n in DERIVED.items()})
    slots = ops.OPS["FULLY_CONNECTED"].CONSTS
    for op in DERIVED_OPS:
        assert ops.OPS[op].CONSTS == slots, op        # one slot order for the layers with weights
    names.update({f"_SLOT_{n.upper()}": i for i, n in enumerate(slots)})
    names.update(_SEC_META=SEC_META, _SEC_TENSORS=SEC_TENSORS, _SEC_GRAPH=SEC_GRAPH, _SEC_LAYER=SEC_LAYER)
    names.update({f"_DT_{d.upper()}": i for i, d in enumerate(DTYPES)})
    return names


def device_kernel_words(device_dir) -> str:
    """kernels._PY: word n is the k_<word>.py whose OPS has op id n (the Python kernels)."""
    import ast
    from pathlib import Path
    names = device_names()
    word = {}
    for path in sorted(Path(device_dir).glob("k_*.py")):
        if path.stem in ("k_native", "k_viper"):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["OPS"]:
                for key in node.value.keys:
                    op = names[key.id] if isinstance(key, ast.Name) else getattr(key, "value", INTERLEAVED)
                    if op < INTERLEAVED:                    # (an interleaved id: the same module)
                        word[op] = path.stem[2:]
    return " ".join(word.get(i, "") for i in range(max(word) + 1))


def device_names_block(text: str, device_dir) -> str:
    """text (a device module) with its generated block rewritten."""
    import re
    head, rest = text.split(GENERATED_BEGIN + "\n", 1)
    _, tail = rest.split(GENERATED_END + "\n", 1)
    used = set(re.findall(r"\b_[A-Z][A-Z0-9_]*\b", head + tail))
    names = device_names()
    lines = [f"{n} = const({v})" for n, v in sorted(names.items(), key=lambda kv: (kv[0].split("_")[1], kv[1]))
             if n in used]
    if "_PY" in used:
        lines.append(f"_PY = {device_kernel_words(device_dir)!r}")
    return f"{head}{GENERATED_BEGIN}\n" + "".join(ln + "\n" for ln in lines) + f"{GENERATED_END}\n{tail}"


def refresh_op_table(doc_path, device_table=None) -> bool:
    """Rewrite the generated op tables (docs/FORMAT.md, device optable.py); True if changed."""
    from pathlib import Path
    changed = False
    if device_table is not None:
        table = Path(device_table)
        for dev, src in ((table, device_op_table_source()),
                         (table.with_name("opnames.py"), device_op_names_source())):
            if not dev.exists() or dev.read_text() != src:
                dev.write_text(src)
                changed = True
        for dev in sorted(table.parent.glob("*.py")):
            text = dev.read_text()
            if GENERATED_BEGIN in text:
                src = device_names_block(text, table.parent)
                if src != text:
                    dev.write_text(src)
                    changed = True
    path = Path(doc_path)
    text = path.read_text()
    begin, end = "<!-- op-table:begin -->", "<!-- op-table:end -->"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{begin}\n{op_table_markdown()}\n{end}{tail}"
    if new != text:
        path.write_text(new)
    return changed or new != text


if __name__ == "__main__":  # python -m motes.format docs/FORMAT.md device/motes/optable.py
    import sys
    print("updated" if refresh_op_table(*sys.argv[1:3]) else "up to date")
