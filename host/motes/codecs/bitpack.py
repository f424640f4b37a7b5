"""Codec 4, 'bitpack': int8/int16/int32 values as fixed-width offsets from their minimum.

Payload = svarint ``base`` (the minimum) + one byte ``width`` + ``count`` fields
of ``width`` bits holding ``v - base``, MSB-first. ``width`` 0 means every
value equals base (no bitstream). Layout and worked examples: docs/CODECS.md
section 7.
"""

import numpy as np

from . import CodecError
from .bits import check_stream_end, pack_codes
from .ints import IntCodec, flat_ints, header_bytes, int_bits, put_svarint, read_svarint


class BitpackCodec(IntCodec):
    id = 4
    name = 'bitpack'

    def encode(self, values: np.ndarray) -> bytes:
        ints, _ = flat_ints(self, values)
        if ints.size == 0:
            return b''
        base = int(ints.min())
        offsets = ints - base
        width = int(offsets.max()).bit_length()
        header = bytearray()
        put_svarint(header, base)
        header.append(width)
        return bytes(header) + pack_codes(offsets.astype(np.uint64), np.full(ints.size, width))

    def decode(self, payload: bytes, count: int, dtype=np.int8) -> np.ndarray:
        count = self._check_decode_args(count, dtype)
        dtype = np.dtype(dtype).newbyteorder('=')
        payload = bytes(payload)
        if count == 0:
            if payload:
                raise CodecError(f'bitpack payload for 0 values must be empty, got {len(payload)} bytes')
            return np.zeros(0, dtype=dtype)
        base, offset = read_svarint(payload, 0, dtype)
        if offset >= len(payload):
            raise CodecError('bitpack payload truncated: no width byte after the base')
        width = payload[offset]
        if width > int_bits(dtype):
            raise CodecError(f'bitpack width {width} exceeds the {int_bits(dtype)} bits of {dtype}')
        stream = payload[offset + 1:]
        check_stream_end(stream, count * width)
        if width == 0:
            return np.full(count, base, dtype=dtype)
        bits = np.unpackbits(np.frombuffer(stream, dtype=np.uint8), count=count * width)
        weights = np.left_shift(1, np.arange(width - 1, -1, -1, dtype=np.int64))
        values = base + bits.reshape(count, width).astype(np.int64) @ weights
        top = int(values.max())
        if top > np.iinfo(dtype).max:
            raise CodecError(f'bitpack value {top} is outside the range of {dtype}')
        return values.astype(dtype)

    def table_bytes(self, payload: bytes) -> int:
        """The header (base varint and width byte)."""
        return header_bytes(payload)
