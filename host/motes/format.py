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
MAJOR, MINOR = 1, 0
HEADER = struct.Struct("<4sBBHII")       # magic, major, minor, flags, file_size, crc32
SEC_META, SEC_TENSORS, SEC_GRAPH, SEC_LAYER = 1, 2, 3, 4
SECTION_NAMES = {SEC_META: "meta", SEC_TENSORS: "tensors", SEC_GRAPH: "graph", SEC_LAYER: "layer"}
DTYPES = ["int8", "uint8", "int16", "int32", "float32"]   # dtype code = index


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

    def decode(self) -> np.ndarray:
        try:
            return codecs.unpack(self.codec, self.payload, self.count, np.dtype(self.dtype)).reshape(self.shape)
        except codecs.CodecError as e:
            raise FormatError(f"damaged weights: {e}") from e


@dataclass
class MoteModel:
    meta: dict
    tensors: list[TensorInfo]
    layers: list[Layer]                  # inputs/outputs are indices into tensors
    inputs: list[int]
    outputs: list[int]
    arena_size: int
    packed: list[dict] = field(default_factory=list)   # per layer: const name -> PackedConst

    def decoded_consts(self, i: int) -> dict:
        return {name: pc.decode() for name, pc in self.packed[i].items()}


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
            raise FormatError(f"{self.what}: truncated (needs {n} more bytes at offset {self.pos})")

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
                raise FormatError(f"{self.what}: varint too long at offset {self.pos}")

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


def _encode_graph(model: MoteModel) -> bytes:
    out = bytearray()
    put_uvarint(out, model.arena_size)
    for ids in (model.inputs, model.outputs):
        put_uvarint(out, len(ids))
        for i in ids:
            put_uvarint(out, i)
    put_uvarint(out, len(model.layers))
    for layer, packed in zip(model.layers, model.packed):
        out.append(ops.OP_IDS[layer.op])
        for ids in (layer.inputs, layer.outputs):
            put_uvarint(out, len(ids))
            for i in ids:
                put_uvarint(out, i)
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


def _encode_layer_data(layer: Layer, packed: dict) -> bytes:
    out = bytearray()
    for name in _const_names(layer.op):
        pc = packed.get(name)
        if pc is None:
            continue
        out.append(DTYPES.index(pc.dtype) << 4 | pc.codec)
        out.append(len(pc.shape))
        for d in pc.shape:
            put_uvarint(out, int(d))
        put_uvarint(out, len(pc.payload))
        out += pc.payload
    return bytes(out)


def pack_consts(layer: Layer, allow=None) -> dict:
    """Encode each constant of a layer with the smallest codec."""
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
    return packed


def to_bytes(model: MoteModel) -> bytes:
    meta = json.dumps(model.meta, separators=(",", ":"), sort_keys=True).encode() if model.meta else b""
    sections = [(SEC_META, meta)] if meta else []
    sections += [(SEC_TENSORS, _encode_tensors(model)), (SEC_GRAPH, _encode_graph(model))]
    sections += [(SEC_LAYER, _encode_layer_data(layer, packed))
                 for layer, packed in zip(model.layers, model.packed) if packed]
    body = bytearray()
    put_uvarint(body, len(sections))
    for kind, payload in sections:
        body.append(kind)
        put_uvarint(body, len(payload))
    for _, payload in sections:
        body += payload
    size = HEADER.size + len(body)
    return HEADER.pack(MAGIC, MAJOR, MINOR, 0, size, zlib.crc32(body)) + bytes(body)


# ---- reading -----------------------------------------------------------------------

def read_header(data: bytes, what: str = "file") -> tuple[int, int, int]:
    """Check magic, version, size and CRC; return (major, minor, flags)."""
    if len(data) < HEADER.size or data[:4] != MAGIC:
        raise FormatError(f"{what}: not a .mote file (no 'MOTE' magic); make one with 'motes convert'")
    magic, major, minor, flags, size, crc = HEADER.unpack_from(data)
    if major != MAJOR:
        raise FormatError(f"{what}: .mote format version {major}.{minor}; this motes reads version "
                          f"{MAJOR}.x. Convert the model again with this motes, or upgrade motes.")
    if size != len(data):
        raise FormatError(f"{what}: header says {size} bytes but the file has {len(data)}; "
                          "the file is truncated or has extra bytes (copy it again)")
    if zlib.crc32(data[HEADER.size:]) != crc:
        raise FormatError(f"{what}: CRC mismatch; the file is damaged (copy it again)")
    return major, minor, flags


def section_table(data: bytes, what: str = "file") -> list[tuple[int, int, int]]:
    """The section table: [(kind, offset, length)], offsets from the start of the file."""
    r = Reader(data, what)
    r.pos = HEADER.size
    entries = [(r.u8(), r.uvarint()) for _ in range(r.uvarint())]
    table, offset = [], r.pos
    for kind, length in entries:
        table.append((kind, offset, length))
        offset += length
    if offset != len(data):
        raise FormatError(f"{what}: section table covers {offset} bytes but the file has {len(data)}")
    return table


def iter_sections(data: bytes, what: str = "file"):
    """Yield (kind, offset, payload) for every section, in file order."""
    for kind, offset, length in section_table(data, what):
        yield kind, offset, data[offset:offset + length]


def _decode_tensors(payload: bytes) -> list[TensorInfo]:
    r = Reader(payload, "tensor table")
    tensors = []
    for _ in range(r.uvarint()):
        kind = r.u8()
        code, ndim = kind >> 4, kind & 15
        if code >= len(DTYPES):
            raise FormatError(f"tensor table: unknown dtype code {code}")
        shape = tuple(r.uvarint() for _ in range(ndim))
        tensors.append(TensorInfo(shape, DTYPES[code], r.f32(), r.svarint(), r.uvarint()))
    return tensors


def _decode_graph(payload: bytes, n_tensors: int):
    r = Reader(payload, "graph")
    arena = r.uvarint()

    def ids():
        out = [r.uvarint() for _ in range(r.uvarint())]
        for i in out:
            if i >= n_tensors:
                raise FormatError(f"graph: tensor id {i} out of range (the file has {n_tensors} tensors)")
        return out

    inputs, outputs = ids(), ids()
    op_names = {v: k for k, v in ops.OP_IDS.items()}
    layers, masks = [], []
    for li in range(r.uvarint()):
        code = r.u8()
        op = op_names.get(code)
        if op is None or op not in ops.OPS:
            raise FormatError(f"graph: layer {li} has op code {code}, unknown to this motes version")
        layer = Layer(op, ids(), ids())
        for name in _param_names(op):
            if name.endswith("[]"):
                layer.params[name[:-2]] = [r.svarint() for _ in range(r.uvarint())]
            else:
                layer.params[name] = r.svarint()
        masks.append(r.u8())
        layers.append(layer)
    return arena, inputs, outputs, layers, masks


def _decode_layer_data(payload: bytes, i: int, layers, masks, packed) -> None:
    r = Reader(payload, f"layer {i} data")
    names = [n for bit, n in enumerate(_const_names(layers[i].op)) if masks[i] >> bit & 1]
    for name in names:
        kind = r.u8()
        codec, dtype_code = kind & 15, kind >> 4
        if dtype_code >= len(DTYPES):
            raise FormatError(f"layer {i} {name}: unknown dtype code {dtype_code}")
        shape = tuple(r.uvarint() for _ in range(r.u8()))
        payload_bytes = r.take(r.uvarint())
        packed[i][name] = PackedConst(codec, DTYPES[dtype_code], shape, payload_bytes)
    if not r.done():
        raise FormatError(f"layer {i} data: {len(payload) - r.pos} bytes left over")


def from_bytes(data: bytes, what: str = "file", decode: bool = True) -> MoteModel:
    data = bytes(data)
    read_header(data, what)
    meta, tensors, graph = {}, None, None
    layer_sections = []
    for kind, _, payload in iter_sections(data, what):
        if kind == SEC_META:
            try:
                meta = json.loads(payload.decode("utf-8"))
            except ValueError as e:
                raise FormatError(f"{what}: metadata is not valid JSON ({e})") from e
        elif kind == SEC_TENSORS:
            tensors = _decode_tensors(payload)
        elif kind == SEC_GRAPH:
            if tensors is None:
                raise FormatError(f"{what}: graph section before the tensor table")
            graph = _decode_graph(payload, len(tensors))
        elif kind == SEC_LAYER:
            layer_sections.append(payload)
        # unknown section kinds are skipped: minor versions may add them
    if tensors is None or graph is None:
        raise FormatError(f"{what}: missing tensor table or graph section")
    arena, inputs, outputs, layers, masks = graph
    packed = [dict() for _ in layers]
    with_consts = [i for i, m in enumerate(masks) if m]
    if len(layer_sections) != len(with_consts):
        raise FormatError(f"{what}: {len(layer_sections)} layer data sections for {len(with_consts)} "
                          "layers with constants")
    for i, payload in zip(with_consts, layer_sections):
        _decode_layer_data(payload, i, layers, masks, packed)
    model = MoteModel(meta, tensors, layers, inputs, outputs, arena, packed)
    for i, layer in enumerate(layers):
        want = [n for bit, n in enumerate(_const_names(layer.op)) if masks[i] >> bit & 1]
        if sorted(want) != sorted(packed[i]):
            raise FormatError(f"{what}: layer {i} ({layer.op}) is missing its weight section")
        if decode:
            layer.consts = model.decoded_consts(i)
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

    SPECS: op id -> (one letter per param in file order, 's' scalar or 'l' list;
    number of constants). NAMES (imported only to print) gives the op names.
    Kernels take params and constants by position (the order of the table in
    docs/FORMAT.md): names would cost RAM on the board.
    """
    specs, names = [], []
    for name, op_id in sorted(ops.OP_IDS.items(), key=lambda kv: kv[1]):
        mod = ops.OPS.get(name)
        if mod is not None:
            spec = "".join("l" if p.endswith("[]") else "s" for p in mod.PARAMS)
            specs.append(f"    {op_id}: ({spec!r}, {len(mod.CONSTS)}),")
            names.append(f"    {op_id}: {name!r},")
    return "\n".join(["# Generated from host/motes/ops by 'make format-doc'; do not edit.",
                      "# Param and constant order: the op table in docs/FORMAT.md.",
                      "SPECS = {"] + specs + ["}", ""])


def device_op_names_source() -> str:
    names = [f"    {op_id}: {name!r}," for name, op_id in sorted(ops.OP_IDS.items(), key=lambda kv: kv[1])
             if name in ops.OPS]
    return "\n".join(["# Generated by 'make format-doc'; imported only to print layers.", "NAMES = {"]
                     + names + ["}", ""])


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
