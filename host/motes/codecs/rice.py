"""Codec 3, 'rice': Rice (Golomb power-of-two) codes of int8/int16/int32 values.

Payload = svarint ``base`` + one byte ``k`` + an MSB-first bitstream. Each
value v becomes u = zigzag((v - base) mod 2^W) (W = element bits), coded as
``q = u >> k`` one bits, a zero bit and the k low bits of u; when q >= 8 the
code is instead 8 one bits followed by u in W bits (escape), so no value costs
more than W + 8 bits. The encoder picks base and k for the smallest payload.
Layout and worked examples: docs/CODECS.md section 6.
"""

import numpy as np

from . import CodecError
from .bits import TRUNCATED, check_stream_end, pack_codes
from .ints import (IntCodec, flat_ints, header_bytes, int_bits, put_svarint, read_svarint, unzigzag,
                   wide_windows, wrap, zigzag)

ESCAPE_ONES = 8             # q >= 8: 8 one bits, then u in W bits


class RiceCodec(IntCodec):
    id = 3
    name = 'rice'

    def encode(self, values: np.ndarray) -> bytes:
        ints, dtype = flat_ints(self, values)
        if ints.size == 0:
            return b''
        bits = int_bits(dtype)
        base, k = choose_parameters(ints, bits)
        u = zigzag(wrap(ints - base, bits))
        q = np.minimum(u >> k, ESCAPE_ONES)
        short = q < ESCAPE_ONES
        low = u & ((1 << k) - 1)
        codes = np.where(short, (((1 << q) - 1) << (k + 1)) | low, (((1 << ESCAPE_ONES) - 1) << bits) | u)
        lengths = np.where(short, q + 1 + k, ESCAPE_ONES + bits)
        header = bytearray()
        put_svarint(header, base)
        header.append(k)
        return bytes(header) + pack_codes(codes.astype(np.uint64), lengths)

    def decode(self, payload: bytes, count: int, dtype=np.int8) -> np.ndarray:
        count = self._check_decode_args(count, dtype)
        dtype = np.dtype(dtype).newbyteorder('=')
        payload = bytes(payload)
        if count == 0:
            if payload:
                raise CodecError(f'rice payload for 0 values must be empty, got {len(payload)} bytes')
            return np.zeros(0, dtype=dtype)
        bits = int_bits(dtype)
        base, offset = read_svarint(payload, 0, dtype)
        if offset >= len(payload):
            raise CodecError('rice payload truncated: no k byte after the base')
        k = payload[offset]
        if k >= bits:
            raise CodecError(f'rice parameter k={k} must be < {bits} for {dtype}')
        stream = payload[offset + 1:]
        if count * (k + 1) > 8 * len(stream):
            raise CodecError(TRUNCATED)
        u, end_bit = decode_rice(stream, count, k, bits)
        check_stream_end(stream, end_bit)
        return wrap(base + unzigzag(np.asarray(u, dtype=np.int64)), bits).astype(dtype)

    def table_bytes(self, payload: bytes) -> int:
        """The header (base varint and k byte)."""
        return header_bytes(payload)


def choose_parameters(ints: np.ndarray, bits: int) -> tuple:
    """(base, k) giving the smallest payload; base is tried at the lower median, min and midrange."""
    ordered = np.sort(ints)
    lo, hi = int(ordered[0]), int(ordered[-1])
    bases = dict.fromkeys([int(ordered[(ordered.size - 1) // 2]), lo, lo + (hi - lo) // 2])
    best = None
    for base in bases:
        u = zigzag(wrap(ints - base, bits))
        header = bytearray()
        put_svarint(header, base)
        for k in range(bits):
            q = u >> k
            stream_bits = int(np.where(q < ESCAPE_ONES, q + 1 + k, ESCAPE_ONES + bits).sum())
            size = len(header) + 1 + (stream_bits + 7) // 8
            if best is None or size < best[0]:
                best = (size, base, k)
    return best[1], best[2]


def decode_rice(stream: bytes, count: int, k: int, bits: int) -> tuple:
    """Decode ``count`` Rice codes; return (list of u, bits consumed)."""
    windows = wide_windows(stream)
    peek = ESCAPE_ONES + 1
    all_ones = (1 << peek) - 1
    low_mask = (1 << k) - 1
    raw_mask = (1 << bits) - 1
    out = [0] * count
    pos = 0
    try:
        for i in range(count):
            head = (windows[pos >> 3] >> (64 - peek - (pos & 7))) & all_ones
            q = peek - (head ^ all_ones).bit_length()          # leading one bits, up to 9
            if q < ESCAPE_ONES:
                pos += q + 1
                out[i] = (q << k) | ((windows[pos >> 3] >> (64 - k - (pos & 7))) & low_mask)
                pos += k
            else:
                pos += ESCAPE_ONES
                u = (windows[pos >> 3] >> (64 - bits - (pos & 7))) & raw_mask
                if u >> k < ESCAPE_ONES:
                    raise CodecError(f'value {i}: escape used for u={u}, which has a short Rice code')
                out[i] = u
                pos += bits
    except IndexError:
        raise CodecError(TRUNCATED) from None
    return out, pos
