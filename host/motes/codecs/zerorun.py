"""Codec 2, 'zerorun': sparse int8 tensors as (zero-run, nonzero value) pairs.

Payload = run table + value table (both in the code-length table format of
docs/CODECS.md section 3: run lengths listed in natural order 0..255, values in
zigzag order) followed by one MSB-first bitstream in which run codes and
value codes are interleaved. Run symbol r in 0..254 means "r zeros, then one
nonzero value"; run symbol 255 is an escape meaning "255 zeros, no value,
another run symbol follows". Decoding stops as soon as ``count`` values exist,
so trailing zeros are coded as runs with no value after them.
"""

import numpy as np

from . import Codec, CodecError
from .bits import (ALPHABET_SIZE, RUN_ORDER, VALUE_ORDER, WINDOW_BITS, CodeTable, byte_windows,
                   check_stream_end, pack_codes, BAD_RUNS, TRUNCATED)

ESCAPE = 255                 # run symbol: 255 zeros and no value
ESCAPE_ZEROS = 255           # zeros produced by one escape
EMPTY_VALUE_TABLE = CodeTable.single(0)   # placeholder when there is no nonzero value


class ZeroRunCodec(Codec):
    id = 2
    name = 'zerorun'

    def encode(self, values: np.ndarray) -> bytes:
        symbols = self._int8_symbols(values)
        if symbols.size == 0:
            return b''
        runs = RunTokens(symbols)
        run_table = CodeTable.cheapest(runs.run_frequencies(), RUN_ORDER)
        value_table = (CodeTable.cheapest(runs.value_frequencies(), VALUE_ORDER, never=[0])
                       if runs.values.size else EMPTY_VALUE_TABLE)
        codes, lengths = runs.codes(run_table.encoder_arrays(), value_table.encoder_arrays())
        return (run_table.to_bytes(RUN_ORDER) + value_table.to_bytes(VALUE_ORDER)
                + pack_codes(codes, lengths))

    def decode(self, payload: bytes, count: int, dtype=np.int8) -> np.ndarray:
        count = self._check_decode_args(count, dtype)
        payload = bytes(payload)
        if count == 0:
            if payload:
                raise CodecError(f'zerorun payload for 0 values must be empty, got {len(payload)} bytes')
            return np.zeros(0, dtype=np.int8)
        run_table, offset = CodeTable.parse(payload, 0, RUN_ORDER)
        value_table, start = CodeTable.parse(payload, offset, VALUE_ORDER)
        stream = payload[start:]
        positions, values, end_bit = decode_pairs(run_table, value_table, stream, count)
        check_stream_end(stream, end_bit)
        out = np.zeros(count, dtype=np.uint8)
        out[np.asarray(positions, dtype=np.int64)] = np.asarray(values, dtype=np.uint8)
        return out.view(np.int8)

    def table_bytes(self, payload: bytes) -> int:
        if not payload:
            return 0
        payload = bytes(payload)
        return CodeTable.parse(payload, CodeTable.parse(payload, 0, RUN_ORDER)[1], VALUE_ORDER)[1]


class RunTokens:
    """The (escapes, run symbol, value) token structure of an int8 array.

    For the k-th nonzero value, the zeros before it (since the previous
    nonzero) are ``255 * escapes[k] + remainders[k]``; the zeros after the last
    nonzero are ``255 * tail_escapes + tail_remainder``.
    """

    def __init__(self, symbols: np.ndarray):
        nonzero_at = np.flatnonzero(symbols)
        self.values = symbols[nonzero_at]
        gaps = np.diff(nonzero_at, prepend=-1) - 1
        self.escapes, self.remainders = np.divmod(gaps, ESCAPE_ZEROS)
        trailing = symbols.size - 1 - int(nonzero_at[-1]) if nonzero_at.size else symbols.size
        self.tail_escapes, self.tail_remainder = divmod(trailing, ESCAPE_ZEROS)

    def run_frequencies(self) -> np.ndarray:
        freqs = np.bincount(self.remainders, minlength=ALPHABET_SIZE)
        freqs[ESCAPE] += int(self.escapes.sum()) + self.tail_escapes
        if self.tail_remainder:
            freqs[self.tail_remainder] += 1
        return freqs

    def value_frequencies(self) -> np.ndarray:
        return np.bincount(self.values, minlength=ALPHABET_SIZE)

    def codes(self, run_code: tuple, value_code: tuple) -> tuple:
        """Interleaved (codes, lengths) of the whole token sequence, in stream order.

        ``run_code`` and ``value_code`` are (code_of, length_of) symbol arrays.
        """
        run_code_of, run_length_of = run_code
        value_code_of, value_length_of = value_code
        tokens_per_value = self.escapes + 2                  # escapes, run symbol, value
        starts = np.cumsum(tokens_per_value) - tokens_per_value
        tail_tokens = self.tail_escapes + (1 if self.tail_remainder else 0)
        total = int(tokens_per_value.sum()) + tail_tokens

        codes = np.full(total, run_code_of[ESCAPE], dtype=np.uint16)
        lengths = np.full(total, run_length_of[ESCAPE], dtype=np.uint8)
        run_at = starts + self.escapes
        codes[run_at] = run_code_of[self.remainders]
        lengths[run_at] = run_length_of[self.remainders]
        codes[run_at + 1] = value_code_of[self.values]
        lengths[run_at + 1] = value_length_of[self.values]
        if self.tail_remainder:
            codes[-1] = run_code_of[self.tail_remainder]
            lengths[-1] = run_length_of[self.tail_remainder]
        return codes, lengths


def decode_pairs(run_table: CodeTable, value_table: CodeTable, stream: bytes, count: int) -> tuple:
    """Decode the token stream; return (nonzero positions, their symbols, bits consumed)."""
    width = max(run_table.max_len, value_table.max_len)
    run_at, run_length_at = run_table.lookup(width)
    value_at, value_length_at = value_table.lookup(width)
    windows = byte_windows(stream)
    shift = WINDOW_BITS - width
    mask = (1 << width) - 1
    positions, values = [], []
    produced = pos = 0
    try:
        while produced < count:
            key = (windows[pos >> 3] >> (shift - (pos & 7))) & mask
            run = run_at[key]
            pos += run_length_at[key]
            if run == ESCAPE:
                produced += ESCAPE_ZEROS
                continue
            produced += run
            if produced >= count:
                break
            key = (windows[pos >> 3] >> (shift - (pos & 7))) & mask
            positions.append(produced)
            values.append(value_at[key])
            pos += value_length_at[key]
            produced += 1
    except IndexError:
        raise CodecError(TRUNCATED) from None
    if produced != count:
        raise CodecError(BAD_RUNS.format(f'the runs overshoot the count: they cover {produced} values, '
                                         f'count is {count}'))
    if values and min(values) == 0:
        raise CodecError(BAD_RUNS.format('the value table gave a zero value'))
    return positions, values, pos
