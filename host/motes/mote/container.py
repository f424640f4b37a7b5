"""The container of a .mote file: header, CRC, section table (docs/FORMAT.md, Layout).

A .mote file is a 16-byte header, a section table, then the sections. Every
integer that can be small is a LEB128 varint (zigzag for signed values, motes.varint),
so the graph of a small model costs a few hundred bytes. This module knows the
framing only: what the sections hold is tables.py's (tensors, graph, layer data).
"""
from __future__ import annotations

import struct
import zlib

from ..compiler.graph import ModelError
from ..varint import put_uvarint

MAGIC = b"MOTE"
MAJOR, MINOR = 1, 2      # MINOR: the newest minor this motes reads and writes
HEADER = struct.Struct("<4sBBHII")       # magic, major, minor, flags, file_size, crc32
SEC_META, SEC_TENSORS, SEC_GRAPH, SEC_LAYER = 1, 2, 3, 4
SECTION_NAMES = {SEC_META: "meta", SEC_TENSORS: "tensors", SEC_GRAPH: "graph", SEC_LAYER: "layer"}


class FormatError(ModelError):
    """A .mote file is damaged, truncated or of a version this reader does not know."""


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


def write_container(sections, minor: int) -> bytes:
    """The file: header, section table and the (kind, payload) sections in the order given."""
    body = bytearray()
    put_uvarint(body, len(sections))
    for kind, payload in sections:
        body.append(kind)
        put_uvarint(body, len(payload))
    for _, payload in sections:
        body += payload
    size = HEADER.size + len(body)
    return HEADER.pack(MAGIC, MAJOR, minor, 0, size, zlib.crc32(body)) + bytes(body)


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
