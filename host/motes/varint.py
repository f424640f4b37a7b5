"""LEB128 varints (docs/FORMAT.md, Conventions): the one writer of `uvarint` and
`svarint`, shared by the container (motes.mote) and the integer codecs (codecs.ints).
A leaf module: it imports nothing of motes, so both can import it."""
from __future__ import annotations


def put_uvarint(out: bytearray, v: int) -> None:
    """Append v as unsigned LEB128 (7 bits per byte, low groups first, high bit = more)."""
    v = int(v)
    if v < 0:
        raise ValueError(f"uvarint of negative value {v}")
    while v >= 0x80:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    out.append(v)


def put_svarint(out: bytearray, v: int) -> None:
    """Append zigzag(v) as unsigned LEB128: 0, -1, 1, -2, 2 ... as 0, 1, 2, 3, 4 ..."""
    v = int(v)
    put_uvarint(out, 2 * v if v >= 0 else -2 * v - 1)
