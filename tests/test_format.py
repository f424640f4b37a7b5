"""The .mote container: round trip, and clear errors for damaged or foreign files."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, shared_model
from motes import api
from motes import format as F


@pytest.fixture(scope="module")
def hello():
    return api.convert(shared_model("hello_world_int8"))


def _fix_crc(data: bytes) -> bytes:
    body = data[F.HEADER.size:]
    return data[:12] + struct.pack("<I", zlib.crc32(body)) + body


def test_roundtrip_keeps_everything(hello):
    model = F.from_bytes(hello.data)
    assert F.to_bytes(model) == hello.data
    assert model.meta["name"] == "hello_world_int8"
    assert [L.op for L in model.layers] == ["FULLY_CONNECTED"] * 3
    for a, b in zip(model.layers, hello.model.layers):
        assert a.params == b.params
        for name in b.consts:
            np.testing.assert_array_equal(a.consts[name], b.consts[name])


def test_section_table_covers_file(hello):
    table = F.section_table(hello.data)
    kinds = [k for k, _, _ in table]
    assert kinds[:3] == [F.SEC_META, F.SEC_TENSORS, F.SEC_GRAPH]
    assert kinds.count(F.SEC_LAYER) == 3
    last_kind, last_off, last_len = table[-1]
    assert last_off + last_len == len(hello.data)


@pytest.mark.parametrize("mutate,message", [
    (lambda d: b"NOPE" + d[4:], "not a .mote file"),
    (lambda d: d[:4] + bytes([2]) + d[5:], "version 2.0"),
    (lambda d: d[:-1], "truncated"),
    (lambda d: d + b"\0", "extra bytes"),
    (lambda d: d[:40] + bytes([d[40] ^ 0xFF]) + d[41:], "CRC mismatch"),
    (lambda d: b"", "not a .mote file"),
])
def test_damaged_files_are_rejected(hello, mutate, message):
    with pytest.raises(F.FormatError, match=message):
        F.from_bytes(mutate(hello.data))


def test_newer_minor_version_with_unknown_section_is_read(hello):
    data = bytearray(hello.data)
    data[5] = 7  # minor version from the future
    # prepend an unknown section kind 99 to the table: rebuild table + payloads
    table = F.section_table(bytes(data))
    payloads = [bytes(data[o:o + n]) for _, o, n in table]
    kinds = [k for k, _, _ in table]
    new = bytearray()
    F.put_uvarint(new, len(table) + 1)
    for k, p in [(99, b"future")] + list(zip(kinds, payloads)):
        new.append(k)
        F.put_uvarint(new, len(p))
    new += b"future" + b"".join(payloads)
    out = bytes(data[:8]) + struct.pack("<I", F.HEADER.size + len(new)) + b"\0\0\0\0" + bytes(new)
    model = F.from_bytes(_fix_crc(out))
    assert len(model.layers) == 3


def test_inconsistent_sizes_are_rejected(hello):
    data = bytearray(hello.data)
    table = F.section_table(bytes(data))
    # claim one byte less for the last section: the table no longer covers the file
    n = len(table)
    pos = F.HEADER.size + 1
    for i in range(n):
        pos += 1  # kind
        start = pos
        while data[pos] & 0x80:
            pos += 1
        pos += 1
        if i == n - 1:
            data[start] -= 1
    with pytest.raises(F.FormatError, match="covers"):
        F.from_bytes(_fix_crc(bytes(data)))


def test_op_table_in_format_doc_is_current():
    doc = (ROOT / "docs" / "FORMAT.md").read_text()
    assert F.op_table_markdown() in doc, "run 'make format-doc' to refresh docs/FORMAT.md"


def test_varints_roundtrip():
    values = [0, 1, -1, 63, -64, 64, 127, 128, -129, 2**31 - 1, -2**31, 2**40]
    buf = bytearray()
    for v in values:
        F.put_svarint(buf, v)
    r = F.Reader(bytes(buf), "test")
    assert [r.svarint() for _ in values] == values
    assert r.done()
