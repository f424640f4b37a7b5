"""Helpers shared by the integer codecs (rice, bitpack).

* :data:`INT_DTYPES` -- the element types they accept (int8, int16, int32).
* :func:`put_svarint` (motes.varint's) / :func:`read_svarint` -- the signed LEB128 varint of
  docs/FORMAT.md ("svarint") that stores a codec's ``base``;
  :func:`header_bytes` -- the size of the (base, parameter byte) header.
* :func:`zigzag` / :func:`unzigzag` / :func:`wrap` -- W-bit two's complement
  arithmetic on int64 numpy arrays.
* :func:`wide_windows` -- 64-bit peek windows for bit-serial Python decoders.
"""

import numpy as np

from ..varint import put_svarint  # noqa: F401  (the codecs' base varint: docs/FORMAT.md's svarint)
from . import Codec, CodecError

INT_DTYPES = (np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.int32))
MAX_SVARINT_BYTES = 5       # enough for any int32


def int_bits(dtype) -> int:
    """W, the width in bits of an integer dtype."""
    return 8 * np.dtype(dtype).itemsize


def flat_ints(codec, values) -> tuple:
    """Validate the input of an integer codec; return (flat int64 array, its dtype)."""
    array = np.asarray(values)
    dtype = array.dtype.newbyteorder('=')
    if dtype not in INT_DTYPES:
        raise CodecError(f'{codec.name} codec encodes int8/int16/int32 arrays only, got {array.dtype}')
    return array.reshape(-1).astype(np.int64), dtype


def read_svarint(buf: bytes, offset: int, dtype) -> tuple:
    """Read an svarint that must hold a value of ``dtype``; return (value, end offset).

    Rejects truncated, over-long (a final 0x00 group after the first byte) and
    out-of-range encodings.
    """
    u = shift = 0
    for i in range(MAX_SVARINT_BYTES):
        if offset + i >= len(buf):
            raise CodecError(f'payload truncated inside the base varint at offset {offset + i}')
        byte = buf[offset + i]
        u |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if byte == 0 and i > 0:
                raise CodecError(f'base varint at offset {offset} is over-long (ends in a 0x00 byte)')
            value = (u >> 1) ^ -(u & 1)
            info = np.iinfo(dtype)
            if not info.min <= value <= info.max:
                raise CodecError(f'base {value} is outside the range of {np.dtype(dtype)}')
            return value, offset + i + 1
    raise CodecError(f'base varint at offset {offset} is longer than {MAX_SVARINT_BYTES} bytes')


def header_bytes(payload: bytes) -> int:
    """Size of an integer codec's header: the base svarint and one parameter byte."""
    if not payload:
        return 0
    end = 0
    while end < len(payload) and payload[end] & 0x80:
        end += 1
    return min(end + 2, len(payload))


def wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """x modulo 2^bits, as a signed bits-wide two's complement value (int64)."""
    half = 1 << (bits - 1)
    return ((x + half) & ((1 << bits) - 1)) - half


def zigzag(d: np.ndarray) -> np.ndarray:
    """Signed -> unsigned: 0, -1, 1, -2, 2 ... -> 0, 1, 2, 3, 4 ... (int64 in, int64 out)."""
    return np.where(d >= 0, 2 * d, -2 * d - 1)


def unzigzag(u: np.ndarray) -> np.ndarray:
    """Inverse of :func:`zigzag`."""
    return (u >> 1) ^ -(u & 1)


def wide_windows(stream: bytes) -> list:
    """For each byte offset b, the 64 stream bits starting at bit 8*b (zero past the end).

    The next ``w`` <= 57 bits at bit position ``p`` are
    ``(windows[p >> 3] >> (64 - w - (p & 7))) & ((1 << w) - 1)``.
    The list has ``len(stream) + 1`` entries.
    """
    padded = np.frombuffer(bytes(stream) + bytes(8), dtype=np.uint8)
    rows = np.lib.stride_tricks.sliding_window_view(padded, 8)[:len(stream) + 1]
    return np.ascontiguousarray(rows).view('>u8').reshape(-1).tolist()


class IntCodec(Codec):
    """Base of the codecs for any integer array (int8/16/32, signed or not)."""

    def supports(self, dtype) -> bool:
        return np.dtype(dtype).newbyteorder('=') in INT_DTYPES
