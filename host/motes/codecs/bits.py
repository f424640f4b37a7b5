"""Canonical Huffman core shared by the entropy-coding codecs.

* :func:`limited_code_lengths` -- optimal code lengths under a maximum length
  (package-merge, exact).
* :class:`CodeTable` -- a canonical prefix code over byte symbols: built from
  frequencies, serialised to / parsed from the code-length table format of
  docs/CODECS.md (section 3), and turned into encoder arrays or decoder lookup
  tables.
* :func:`length_tokens` -- the delta/run tokens that carry a table's code
  lengths; :class:`BitReader` reads them back.
* :func:`pack_codes` -- (code, length) pairs -> MSB-first byte stream (numpy).
* :func:`byte_windows` / :func:`check_stream_end` -- helpers for the
  table-driven Python decoders.
"""

import numpy as np

from . import CodecError

MAX_CODE_LENGTH = 12        # longest code any table may use (format limit)
ALPHABET_SIZE = 256         # symbols are unsigned bytes 0..255
WINDOW_BITS = 24            # width of the byte-aligned peek windows
KRAFT_TOTAL = 1 << MAX_CODE_LENGTH   # a complete code: sum of 2^(12 - length) over its symbols

# Symbol orders of the code-length table (docs/CODECS.md section 3.1): the
# k-th transmitted length belongs to symbol ORDER[k].
VALUE_ORDER = np.array([((k >> 1) ^ -(k & 1)) & 0xFF for k in range(ALPHABET_SIZE)])
"""int8 values in zigzag order 0, -1, 1, -2, 2, ..., 127, -128, as unsigned bytes."""
RUN_ORDER = np.arange(ALPHABET_SIZE)
"""Natural order 0..255 (zerorun's run symbols)."""

# Code-length tokens (docs/CODECS.md section 3.2). A token is a run of 1 bits
# (0..6 of them, ended by a 0 bit unless there are 6) plus an optional field.
FIRST_PREV = 8                        # ``prev`` before the first token
REPEAT_MIN, REPEAT_FIELD = 11, 6      # '1110' + 6 bits: 11..74 symbols of length prev
SKIP_MIN, SKIP_FIELD = 3, 8           # '111110' + 8 bits: 3..258 absent symbols
SET_FIELD = 4                         # '111111' + 4 bits: length 1..12
REPEAT_MAX = REPEAT_MIN + (1 << REPEAT_FIELD) - 1
SKIP_MAX = SKIP_MIN + (1 << SKIP_FIELD) - 1
SAME, UP, DOWN, REPEAT, ABSENT, SKIP, SET = range(7)   # = number of leading 1 bits
TOKEN_PREFIX = {SAME: (0b0, 1), UP: (0b10, 2), DOWN: (0b110, 3), REPEAT: (0b1110, 4),
                ABSENT: (0b11110, 5), SKIP: (0b111110, 6), SET: (0b111111, 6)}

# Smoothing widths (Gaussian sigma, in symbol-order positions) of the candidate
# codes tried by CodeTable.cheapest, and the ones also tried mixed with the raw
# counts while keeping absent symbols absent.
SMOOTHING_WIDTHS = (1, 2, 3, 5, 8, 12, 20)
MIXED_WIDTHS = (1, 2)
SMOOTHING_SCALE = 256       # fixed-point scale of smoothed counts fed to package-merge


def limited_code_lengths(freqs, max_len: int = MAX_CODE_LENGTH) -> np.ndarray:
    """Optimal prefix-code lengths with no code longer than ``max_len``.

    ``freqs[s]`` is the count of symbol ``s``; absent symbols get length 0.
    Uses package-merge (Larmore & Hirschberg), which is exactly optimal. A
    lone present symbol gets length 1. The result is always a complete code
    (Kraft sum == 1) when two or more symbols are present.
    """
    freqs = np.asarray(freqs, dtype=np.int64)
    present = np.flatnonzero(freqs)
    lengths = np.zeros(freqs.size, dtype=np.uint8)
    if present.size <= 1:
        lengths[present] = 1
        return lengths
    if present.size > (1 << max_len):
        raise ValueError(f'{present.size} symbols cannot be coded in {max_len} bits')

    order = present[np.argsort(freqs[present], kind='stable')]
    leaf_weights = freqs[order]
    levels = _package_merge_levels(leaf_weights, max_len)
    depth = _count_selected_leaves(levels, order.size)
    lengths[order] = depth
    return lengths


def _package_merge_levels(leaf_weights: np.ndarray, max_len: int) -> list:
    """Item lists of package-merge, deepest level first.

    Each level is an int array: a leaf index (>= 0, into ``leaf_weights``) or
    -1 for a package of two consecutive items of the previous (deeper) level.
    """
    n = leaf_weights.size
    leaf_ids = np.arange(n)
    weights, ids = leaf_weights, leaf_ids
    levels = [ids]
    for _ in range(max_len - 1):
        pairs = weights.size // 2
        package_weights = weights[0:2 * pairs:2] + weights[1:2 * pairs:2]
        merged_weights = np.concatenate([leaf_weights, package_weights])
        merged_ids = np.concatenate([leaf_ids, np.full(pairs, -1)])
        order = np.argsort(merged_weights, kind='stable')
        weights, ids = merged_weights[order], merged_ids[order]
        levels.append(ids)
    return levels


def _count_selected_leaves(levels: list, n: int) -> np.ndarray:
    """Select the 2n-2 cheapest top-level items; count each leaf's selections."""
    depth = np.zeros(n, dtype=np.int64)
    take = 2 * n - 2
    for ids in reversed(levels):
        chosen = ids[:take]
        leaves = chosen[chosen >= 0]
        depth[leaves] += 1
        take = 2 * (chosen.size - leaves.size)
    return depth


class CodeTable:
    """A canonical prefix code over byte symbols.

    ``symbols`` are in canonical order (by code length, then symbol value);
    ``lengths`` are their code lengths (non-decreasing). The single-symbol
    code is represented with one symbol of length 0 ("zero-bit" form).
    """

    __slots__ = ('symbols', 'lengths')

    def __init__(self, symbols, lengths):
        self.symbols = np.asarray(symbols, dtype=np.uint8)
        self.lengths = np.asarray(lengths, dtype=np.uint8)

    # -- construction ------------------------------------------------------

    @classmethod
    def single(cls, symbol: int) -> 'CodeTable':
        """The zero-bit code of a one-symbol alphabet."""
        return cls([symbol], [0])

    @classmethod
    def from_lengths(cls, lengths_by_symbol) -> 'CodeTable':
        """Canonical code for per-symbol lengths (0 = symbol absent)."""
        lengths_by_symbol = np.asarray(lengths_by_symbol)
        present = np.flatnonzero(lengths_by_symbol)
        order = np.lexsort((present, lengths_by_symbol[present]))
        symbols = present[order]
        return cls(symbols, lengths_by_symbol[symbols])

    @classmethod
    def from_frequencies(cls, freqs, max_len: int = MAX_CODE_LENGTH) -> 'CodeTable':
        """Optimal length-limited canonical code for symbol counts ``freqs``."""
        present = np.flatnonzero(np.asarray(freqs))
        if present.size == 0:
            raise ValueError('cannot build a code for an empty alphabet')
        if present.size == 1:
            return cls.single(int(present[0]))
        return cls.from_lengths(limited_code_lengths(freqs, max_len))

    @classmethod
    def cheapest(cls, freqs, order=VALUE_ORDER, never=()) -> 'CodeTable':
        """The code with the fewest table bits + coded bits for symbol counts ``freqs``.

        Candidates are the optimal lengths and the optimal lengths of counts
        smoothed along ``order`` (see :func:`_candidate_weights`): on small
        tensors a slightly worse but smooth length profile saves more table
        bytes than it costs in the bitstream. Ties go to the optimal code.
        Symbols in ``never`` (which must have count 0) never get a code.
        """
        freqs = np.asarray(freqs, dtype=np.int64)
        if np.count_nonzero(freqs) <= 1:
            return cls.from_frequencies(freqs)
        order = np.asarray(order)
        allowed = np.ones(ALPHABET_SIZE, dtype=bool)
        allowed[list(never)] = False
        best, best_bits, seen = None, None, set()
        for lengths in _candidate_lengths(freqs, order, allowed[order]):
            key = lengths.tobytes()
            if key in seen:
                continue
            seen.add(key)
            bits = 8 * table_size(lengths, order) + int(np.dot(freqs, lengths.astype(np.int64)))
            if best_bits is None or bits < best_bits:
                best, best_bits = lengths, bits
        return cls.from_lengths(best)

    # -- properties --------------------------------------------------------

    @property
    def max_len(self) -> int:
        return int(self.lengths[-1])

    def lengths_by_symbol(self) -> np.ndarray:
        """uint8 array of the code length of every symbol 0..255 (0 = absent)."""
        lengths = np.zeros(ALPHABET_SIZE, dtype=np.uint8)
        lengths[self.symbols] = self.lengths
        return lengths

    def canonical_codes(self) -> np.ndarray:
        """Code value of each symbol, in canonical order (DEFLATE assignment)."""
        top = self.max_len
        lengths = self.lengths.astype(np.int64)
        span = np.left_shift(1, top - lengths)           # code space used, in max-length units
        start = np.cumsum(span) - span
        return start >> (top - lengths)

    def encoder_arrays(self) -> tuple:
        """(code_of, length_of): uint16/uint8 arrays indexed by symbol 0..255."""
        code_of = np.zeros(ALPHABET_SIZE, dtype=np.uint16)
        length_of = np.zeros(ALPHABET_SIZE, dtype=np.uint8)
        code_of[self.symbols] = self.canonical_codes()
        length_of[self.symbols] = self.lengths
        return code_of, length_of

    # -- serialisation -----------------------------------------------------

    def to_bytes(self, order=VALUE_ORDER) -> bytes:
        """Code-length table: ``n - 1``, then the length tokens of ``order[0..n-1]``.

        ``n`` is the number of symbols of ``order`` up to the last present one.
        The single-symbol code is the 2-byte zero-bit form ``00 s``.
        """
        if self.max_len == 0:
            return bytes([0, int(self.symbols[0])])
        covered = self.lengths_by_symbol()[np.asarray(order)]
        n = int(np.flatnonzero(covered).max()) + 1
        tokens = length_tokens(covered[:n])
        return bytes([n - 1]) + pack_codes([c for c, _ in tokens], [w for _, w in tokens])

    @classmethod
    def parse(cls, buf: bytes, offset: int = 0, order=VALUE_ORDER) -> tuple:
        """Parse a table starting at ``buf[offset]``; return (table, end offset)."""
        if offset >= len(buf):
            raise CodecError(f'code table truncated: no symbol-count byte at offset {offset}')
        if buf[offset] == 0:
            if offset + 2 > len(buf):
                raise CodecError(f'code table truncated: single-symbol form at offset {offset} lacks its symbol')
            return cls.single(buf[offset + 1]), offset + 2
        n = buf[offset] + 1
        reader = BitReader(buf, offset + 1, f'code table at offset {offset}')
        covered = read_length_tokens(reader, n, offset)
        reader.finish_table()
        if covered[-1] == 0:
            raise CodecError(BAD_TABLE.format(f'at offset {offset}: its last symbol (position {n - 1}) is absent'))
        kraft = sum(1 << (MAX_CODE_LENGTH - length) for length in covered if length)
        if kraft != KRAFT_TOTAL:
            state = 'over-subscribed' if kraft > KRAFT_TOTAL else 'incomplete'
            raise CodecError(BAD_TABLE.format(f'at offset {offset}: the code lengths give an {state} code, '
                                              f'Kraft sum {kraft}/{KRAFT_TOTAL}'))
        lengths = np.zeros(ALPHABET_SIZE, dtype=np.uint8)
        lengths[np.asarray(order)[:n]] = covered
        return cls.from_lengths(lengths), reader.byte_end()

    # -- decoding ----------------------------------------------------------

    def lookup(self, width: int) -> tuple:
        """Lists (symbol, code length) indexed by the next ``width`` stream bits."""
        if width < self.max_len:
            raise ValueError(f'lookup width {width} < max code length {self.max_len}')
        repeats = np.left_shift(1, width - self.lengths.astype(np.int64))
        return np.repeat(self.symbols, repeats).tolist(), np.repeat(self.lengths, repeats).tolist()

    def __len__(self):
        return self.symbols.size


def _candidate_lengths(freqs, order, allowed):
    """Code lengths (by symbol) that CodeTable.cheapest compares.

    First the optimal code with ties broken by symbol value (the code of
    :meth:`CodeTable.from_frequencies`), then the optimal codes of
    :func:`_candidate_weights`, computed in table order (``allowed`` masks
    symbols that must stay absent, in table order too).
    """
    yield limited_code_lengths(freqs)
    for weights in _candidate_weights(freqs[order]):
        lengths = np.zeros(ALPHABET_SIZE, dtype=np.uint8)
        lengths[order] = limited_code_lengths(np.where(allowed, weights, 0))
        yield lengths


def _candidate_weights(counts):
    """Symbol weights, in table order, whose optimal codes are candidates.

    First the counts themselves (optimal, with ties broken by table position),
    then Gaussian-smoothed counts for each width of SMOOTHING_WIDTHS (absent
    symbols inside the covered range become present), then for MIXED_WIDTHS a
    3:1 mix of smoothed and raw counts over the present symbols only. Every
    present symbol keeps a weight >= 1.
    """
    yield counts
    present = counts > 0
    covered = int(np.flatnonzero(present).max()) + 1
    scaled = counts.astype(np.float64) * SMOOTHING_SCALE
    for width in SMOOTHING_WIDTHS:
        taps = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
        smooth = np.convolve(scaled, taps / taps.sum())[3 * width:3 * width + counts.size]
        smooth[covered:] = 0
        yield _integer_weights(smooth, present)
        if width in MIXED_WIDTHS:
            yield _integer_weights(np.where(present, 0.75 * smooth + 0.25 * scaled, 0), present)


def _integer_weights(weights, present) -> np.ndarray:
    rounded = np.rint(weights).astype(np.int64)
    rounded[present & (rounded < 1)] = 1
    return rounded


def table_size(lengths_by_symbol, order=VALUE_ORDER) -> int:
    """Bytes of the code-length table of a code with two or more symbols."""
    covered = np.asarray(lengths_by_symbol)[np.asarray(order)]
    n = int(np.flatnonzero(covered).max()) + 1
    return 1 + (sum(width for _, width in length_tokens(covered[:n])) + 7) // 8


def length_tokens(covered) -> list:
    """(code, width) tokens that carry the code lengths ``covered`` (in table order).

    ``covered`` holds one length per symbol of the table order, 0 = absent,
    and ends with a present symbol. Runs are taken greedily (docs/CODECS.md 3.2).
    """
    covered = [int(x) for x in covered]
    tokens, prev, i, n = [], FIRST_PREV, 0, len(covered)
    while i < n:
        length = covered[i]
        if length and length != prev:
            if length == prev + 1:
                tokens.append(_token(UP))
            elif length == prev - 1:
                tokens.append(_token(DOWN))
            else:
                tokens.append(_token(SET, length, SET_FIELD))
            prev = length                 # the rest of its run is coded as SAME / REPEAT
            i += 1
            continue
        run = 1
        while i + run < n and covered[i + run] == length:
            run += 1
        i += run
        kind, one, minimum, field = (SKIP, ABSENT, SKIP_MIN, SKIP_FIELD) if length == 0 else \
                                    (REPEAT, SAME, REPEAT_MIN, REPEAT_FIELD)
        while run >= minimum:
            take = min(run, minimum + (1 << field) - 1)
            tokens.append(_token(kind, take - minimum, field))
            run -= take
        tokens += [_token(one)] * run
    return tokens


def _token(kind: int, field: int = 0, field_bits: int = 0) -> tuple:
    code, width = TOKEN_PREFIX[kind]
    return (code << field_bits) | field, width + field_bits


def read_length_tokens(reader: 'BitReader', n: int, offset: int) -> list:
    """Decode the code lengths of ``n`` table positions (docs/CODECS.md 3.2)."""
    covered, prev = [], FIRST_PREV
    while len(covered) < n:
        kind = reader.ones(SET)
        if kind == SAME:
            covered.append(prev)
            continue
        if kind in (UP, DOWN, SET):
            prev = prev + 1 if kind == UP else prev - 1 if kind == DOWN else reader.read(SET_FIELD)
            if not 1 <= prev <= MAX_CODE_LENGTH:
                raise CodecError(BAD_TABLE.format(f'at offset {offset}: code length {prev} at position '
                                                  f'{len(covered)} is outside 1..{MAX_CODE_LENGTH}'))
            covered.append(prev)
            continue
        if kind == ABSENT:
            run, length = 1, 0
        elif kind == SKIP:
            run, length = SKIP_MIN + reader.read(SKIP_FIELD), 0
        else:
            run, length = REPEAT_MIN + reader.read(REPEAT_FIELD), prev
        if len(covered) + run > n:
            raise CodecError(BAD_TABLE.format(f'at offset {offset}: a run of {run} overshoots the '
                                              f'{n} listed symbols'))
        covered += [length] * run
    return covered


class BitReader:
    """MSB-first reader of small fields from ``data``, starting at byte ``start``.

    Reading past the end of ``data`` raises CodecError naming ``what``.
    """

    __slots__ = ('data', 'pos', 'what')

    def __init__(self, data: bytes, start: int, what: str):
        self.data, self.pos, self.what = data, 8 * start, what

    def read(self, width: int) -> int:
        """The next ``width`` bits as an unsigned integer (first bit most significant)."""
        end = self.pos + width
        if end > 8 * len(self.data):
            raise CodecError(TRUNCATED)
        first, last = self.pos >> 3, (end + 7) >> 3
        chunk = int.from_bytes(self.data[first:last], 'big')
        self.pos = end
        return (chunk >> (8 * last - end)) & ((1 << width) - 1)

    def ones(self, limit: int) -> int:
        """Count 1 bits up to ``limit``; the 0 bit that ends a shorter run is consumed too."""
        count = 0
        while count < limit and self.read(1):
            count += 1
        return count

    def byte_end(self) -> int:
        """Offset of the first byte after the bits read so far."""
        return (self.pos + 7) >> 3

    def finish_table(self) -> None:
        """Check that the padding bits up to the next byte boundary are zero."""
        pad = -self.pos % 8
        if pad and self.read(pad):
            raise CodecError(BAD_TABLE.format(f'{self.what}: nonzero padding bits after the code lengths'))


def pack_codes(codes, lengths) -> bytes:
    """Concatenate codes (MSB of each code first) into bytes, zero-padding the last.

    Codes may be up to 64 bits wide.
    """
    lengths = np.asarray(lengths, dtype=np.int16)
    if lengths.size == 0:
        return b''
    widest = int(lengths.max())
    if widest == 0:
        return b''
    kind = np.uint16 if widest <= 16 else np.uint32 if widest <= 32 else np.uint64
    shifts = lengths[:, None] - 1 - np.arange(widest, dtype=np.int16)
    present = shifts >= 0
    bits = (np.asarray(codes, dtype=kind)[:, None] >> np.maximum(shifts, 0).astype(kind)) & kind(1)
    return np.packbits(bits[present].astype(np.uint8)).tobytes()


def byte_windows(stream: bytes) -> list:
    """For each byte offset b, the 24 stream bits starting at bit 8*b (zero past the end).

    The next ``w`` <= 17 bits at bit position ``p`` are
    ``(windows[p >> 3] >> (24 - w - (p & 7))) & ((1 << w) - 1)``.
    The list has ``len(stream) + 1`` entries.
    """
    padded = np.frombuffer(bytes(stream) + b'\0\0\0', dtype=np.uint8).astype(np.int32)
    windows = (padded[:-2] << 16) | (padded[1:-1] << 8) | padded[2:]
    return windows[:len(stream) + 1].tolist()


# The two damages of a bitstream every decoder tells in the same words (the
# device's bits.py and dec_native.py too; the host prefixes "damaged weights: "
# as the board does): the values need bits past the payload's end, or bits
# are left after the last value that are not the zero padding of its byte
TRUNCATED = 'the payload is truncated'
STRAY = '%d bits after the last value, not zero padding'
# a code table that breaks a rule of CODECS.md 3.3: the board's words, which
# cannot say which rule (the C decoder does not), then the rule in parentheses
BAD_TABLE = 'bad code table ({})'
# a zero-run stream with a value 0 or runs past the count, the same way
BAD_RUNS = 'bad zero runs ({})'


def check_stream_end(stream: bytes, end_bit: int) -> None:
    """Check that decoding stopped inside the last byte and that padding bits are zero."""
    available = 8 * len(stream)
    if end_bit > available:
        raise CodecError(TRUNCATED)
    used_bytes = (end_bit + 7) // 8
    pad = used_bytes * 8 - end_bit
    if used_bytes < len(stream) or pad and stream[-1] & ((1 << pad) - 1):
        raise CodecError(STRAY % (available - end_bit))
