"""The tables of a .mote: the tensor table (kind 2), the graph (kind 3) and each layer's
constant headers (kind 4), written and read (docs/FORMAT.md). The readers keep the
checks and messages of the device's reader (device/motes/reader.py)."""
from __future__ import annotations

import struct

import numpy as np

from .. import codecs, ops
from ..compiler import interleave as IL
from ..ops.base import Layer
from ..varint import put_svarint, put_uvarint
from .container import FormatError, Reader
from .model import (CHAIN, CODEC_BIASPRED, CODEC_SCALES, DERIVED, DTYPE_SIZES, DTYPES, IMPLIED_SHAPE,
                    INTERLEAVED, PARAM_LIMITS, MoteModel, PackedConst, TensorInfo, channels_of, param_kind)
from .verify import INT8_CONST_OPS


def param_names(op: str):
    return ops.module_for(op).PARAMS


def const_names(op: str):
    return ops.module_for(op).CONSTS


def encode_tensors(model: MoteModel) -> bytes:
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


def encode_graph(model: MoteModel) -> bytes:
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
        for name in param_names(layer.op):
            value = layer.params[name.rstrip("[]")]
            if name.endswith("[]"):
                put_uvarint(out, len(value))
                for v in value:
                    put_svarint(out, int(v))
            else:
                put_svarint(out, int(value))
        mask = 0
        for bit, name in enumerate(const_names(layer.op)):
            if name in packed:
                mask |= 1 << bit
        out.append(mask)
    return bytes(out)


def const_header(pc: PackedConst, channels) -> bytes:
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


def encode_layer_data(layer: Layer, packed: dict, channels=None) -> bytes:
    out = bytearray()
    for name in const_names(layer.op):
        pc = packed.get(name)
        if pc is None:
            continue
        out += const_header(pc, channels)
        out += pc.payload
    return bytes(out)


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


def decode_tensors(payload: bytes, what: str = "file") -> list[TensorInfo]:
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


def decode_graph(payload: bytes, n_tensors: int, what: str = "file"):
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
        if code & INTERLEAVED and op not in IL.OPS:
            raise FormatError(f"graph: layer {li} ({op}) has the interleaved bit, which only "
                              f"{' and '.join(IL.OPS)} may set")
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
        for j, name in enumerate(param_names(op)):
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
        if mask >> len(const_names(op)):
            raise FormatError(f"{what}: layer {li}: constant mask {mask} has bits for no constant")
        masks.append(mask)
        layers.append(layer)
    if not r.done():
        raise FormatError(f"{r.what}: {len(r.data) - r.pos} bytes left over")
    return arena, inputs, outputs, layers, masks


def decode_layer_data(payload: bytes, i: int, layer: Layer, mask: int, tensors, what: str = "file") -> dict:
    """Layer i's constant headers and payloads: {name: PackedConst}; the checks and messages
    of the device's reader (reader.py)."""
    r = Reader(payload, what)
    op = ops.OP_IDS[layer.op]
    packed = {}
    for slot, name in enumerate(const_names(layer.op)):
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
        if dt and layer.op in INT8_CONST_OPS:
            # an operand of ADD, MAXIMUM, ...: the kernels look its values up as int8's
            raise FormatError(f"{what}: layer {i}: constant {slot} has dtype code {dt}: this op's constants "
                              "are int8")
        if dt and 0 < codec < 3:
            raise FormatError(f"{what}: layer {i}: constant {slot}: codec {codec} does not take dtype code {dt}")
        if kind & IMPLIED_SHAPE:
            channels = channels_of(layer, tensors)
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
        packed[name] = PackedConst(codec, DTYPES[dt] if dt < len(DTYPES) else f"dtype {dt}", shape, r.take(size))
    if not r.done():
        raise FormatError(f"{what}: layer {i} data: {len(payload) - r.pos} bytes left over")
    return packed
