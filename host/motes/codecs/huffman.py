"""Codec 1, 'huffman': canonical length-limited Huffman code over int8 values.

Payload = code-length table (docs/CODECS.md section 3; lengths listed in zigzag
order of the value) followed by the MSB-first bitstream of one code per value.
An empty array has an empty payload; a one-symbol array has the 2-byte zero-bit
table and no bitstream.
"""

import numpy as np

from . import Codec, CodecError
from .bits import (ALPHABET_SIZE, VALUE_ORDER, WINDOW_BITS, CodeTable, byte_windows,
                   check_stream_end, pack_codes, TRUNCATED)


class HuffmanCodec(Codec):
    id = 1
    name = 'huffman'

    def encode(self, values: np.ndarray) -> bytes:
        symbols = self._int8_symbols(values)
        if symbols.size == 0:
            return b''
        table = CodeTable.cheapest(np.bincount(symbols, minlength=ALPHABET_SIZE), VALUE_ORDER)
        code_of, length_of = table.encoder_arrays()
        return table.to_bytes() + pack_codes(code_of[symbols], length_of[symbols])

    def decode(self, payload: bytes, count: int, dtype=np.int8) -> np.ndarray:
        count = self._check_decode_args(count, dtype)
        payload = bytes(payload)
        if count == 0:
            if payload:
                raise CodecError(f'huffman payload for 0 values must be empty, got {len(payload)} bytes')
            return np.zeros(0, dtype=np.int8)
        table, start = CodeTable.parse(payload, 0, VALUE_ORDER)
        stream = payload[start:]
        if table.max_len == 0:
            check_stream_end(stream, 0)
            return np.full(count, table.symbols[0], dtype=np.uint8).view(np.int8)
        decoded, end_bit = decode_symbols(table, stream, count)
        check_stream_end(stream, end_bit)
        return np.frombuffer(decoded, dtype=np.uint8).view(np.int8)

    def table_bytes(self, payload: bytes) -> int:
        if not payload:
            return 0
        return CodeTable.parse(bytes(payload), 0, VALUE_ORDER)[1]


def decode_symbols(table: CodeTable, stream: bytes, count: int) -> tuple:
    """Decode ``count`` symbols from ``stream``; return (bytearray, bits consumed)."""
    width = table.max_len
    symbol_at, length_at = table.lookup(width)
    windows = byte_windows(stream)
    shift = WINDOW_BITS - width
    mask = (1 << width) - 1
    out = bytearray(count)
    pos = 0
    try:
        for i in range(count):
            key = (windows[pos >> 3] >> (shift - (pos & 7))) & mask
            out[i] = symbol_at[key]
            pos += length_at[key]
    except IndexError:
        raise CodecError(TRUNCATED) from None
    return out, pos
