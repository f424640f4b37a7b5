"""Weight encodings ("codecs") of the .mote model format.

A codec turns a flat array of quantised weights into a byte payload and back.
Each codec is a small :class:`Codec` subclass registered in :data:`CODECS`
under the one-byte id stored in the .mote weight-section header:

=====  =========  ==========================================================
id     name       payload
=====  =========  ==========================================================
0      raw        the values' little-endian bytes (any fixed-size dtype)
1      huffman    canonical length-limited Huffman code over int8 values
2      zerorun    (zero-run, nonzero value) pairs, two canonical Huffman codes
3      rice       Rice codes of zigzag(v - base), int8/int16/int32, with escape
4      bitpack    v - min in a fixed number of bits, int8/int16/int32
=====  =========  ==========================================================

The element count is never stored in a payload: the container supplies it.
The byte-level layout of every payload is specified in docs/CODECS.md.

:func:`pack` picks the smallest encoding, :func:`unpack` reverses it.
"""

import numpy as np


class CodecError(ValueError):
    """A payload is truncated or corrupt, or a codec cannot handle the input."""


class Codec:
    """Base class of the codec plugins.

    Subclasses set :attr:`id` and :attr:`name` and implement :meth:`encode`,
    :meth:`decode` and :meth:`table_bytes`.
    """

    id: int = -1
    name: str = ''

    def supports(self, dtype) -> bool:
        """Whether :meth:`encode` accepts arrays of this dtype (default: int8 only)."""
        return np.dtype(dtype) == np.int8

    def encode(self, values: np.ndarray) -> bytes:
        """Encode a 1-D array (other shapes are flattened in C order)."""
        raise NotImplementedError

    def decode(self, payload: bytes, count: int, dtype=np.int8) -> np.ndarray:
        """Exact inverse of :meth:`encode`; returns a 1-D array of ``count`` values.

        Raises :class:`CodecError` on a truncated or corrupt payload.
        """
        raise NotImplementedError

    def table_bytes(self, payload: bytes) -> int:
        """Number of payload bytes taken by code tables (0 for raw)."""
        raise NotImplementedError

    # -- helpers shared by the plugins ------------------------------------

    def _int8_symbols(self, values) -> np.ndarray:
        """Validate int8 input and return it as a flat uint8 view (symbols 0..255)."""
        array = np.asarray(values)
        if array.dtype != np.int8:
            raise CodecError(f'{self.name} codec encodes int8 arrays only, got {array.dtype}')
        return np.ascontiguousarray(array).reshape(-1).view(np.uint8)

    def _check_decode_args(self, count, dtype) -> int:
        """Validate ``count`` and ``dtype`` of a decode call; return count as int."""
        if not self.supports(dtype):
            raise CodecError(f'{self.name} codec cannot decode to dtype {np.dtype(dtype)}')
        if isinstance(count, (bool, np.bool_)) or not isinstance(count, (int, np.integer)):
            raise CodecError(f'count must be an integer, got {count!r}')
        if count < 0:
            raise CodecError(f'count must be >= 0, got {count}')
        return int(count)

    def __repr__(self):
        return f'<{type(self).__name__} id={self.id} name={self.name!r}>'


CODECS: dict = {}


def register(codec: Codec) -> Codec:
    """Add a codec instance to :data:`CODECS` (ids and names must be unique)."""
    if not 0 <= codec.id <= 255:
        raise ValueError(f'codec id must fit in one byte, got {codec.id}')
    if codec.id in CODECS:
        raise ValueError(f'codec id {codec.id} already used by {CODECS[codec.id].name!r}')
    if any(other.name == codec.name for other in CODECS.values()):
        raise ValueError(f'codec name {codec.name!r} already registered')
    CODECS[codec.id] = codec
    return codec


def _known() -> str:
    return ', '.join(f'{c.id}={c.name}' for c in sorted(CODECS.values(), key=lambda c: c.id))


def by_name(name: str) -> Codec:
    """The registered codec called ``name`` ('raw', 'huffman', 'zerorun', 'rice', 'bitpack')."""
    for codec in CODECS.values():
        if codec.name == name:
            return codec
    raise CodecError(f'unknown codec name {name!r}; known codecs: {_known()}')


def by_id(codec_id: int) -> Codec:
    """The registered codec with one-byte id ``codec_id``."""
    try:
        return CODECS[int(codec_id)]
    except (KeyError, TypeError, ValueError):
        raise CodecError(f'unknown codec id {codec_id!r}; known codecs: {_known()}') from None


def _resolve(entry) -> Codec:
    if isinstance(entry, Codec):
        return entry
    if isinstance(entry, str):
        return by_name(entry)
    return by_id(entry)


def pack(values: np.ndarray, allow=None) -> tuple:
    """Encode ``values`` with every allowed codec supporting its dtype; keep the smallest.

    ``allow`` is an iterable of codec ids, names or instances (default: all).
    Returns ``(codec_id, payload)``; ties go to the lowest id.
    """
    values = np.asarray(values)
    candidates = CODECS.values() if allow is None else {_resolve(a).id: _resolve(a) for a in allow}.values()
    usable = sorted((c for c in candidates if c.supports(values.dtype)), key=lambda c: c.id)
    if not usable:
        raise CodecError(f'no allowed codec supports dtype {values.dtype}; known codecs: {_known()}')
    best_id, best_payload = None, None
    for codec in usable:
        payload = codec.encode(values)
        if best_payload is None or len(payload) < len(best_payload):
            best_id, best_payload = codec.id, payload
    return best_id, best_payload


def unpack(codec_id: int, payload: bytes, count: int, dtype=np.int8) -> np.ndarray:
    """Decode a payload produced by :func:`pack` (or any codec's ``encode``)."""
    return by_id(codec_id).decode(payload, count, dtype)


def entropy_bits(values: np.ndarray) -> float:
    """Order-0 empirical entropy of ``values`` times their count, in bits."""
    flat = np.asarray(values).reshape(-1)
    if flat.size == 0:
        return 0.0
    if flat.dtype.itemsize == 1 and flat.dtype.kind in 'iub':
        counts = np.bincount(flat.view(np.uint8), minlength=256)
    else:
        counts = np.unique(flat, return_counts=True)[1]
    counts = counts[counts > 0].astype(np.float64)
    return float(np.sum(counts * np.log2(flat.size / counts)))


# The plugins import Codec/CodecError from this module, so they come last.
from .raw import RawCodec  # noqa: E402
from .huffman import HuffmanCodec  # noqa: E402
from .zerorun import ZeroRunCodec  # noqa: E402
from .rice import RiceCodec  # noqa: E402
from .bitpack import BitpackCodec  # noqa: E402

register(RawCodec())
register(HuffmanCodec())
register(ZeroRunCodec())
register(RiceCodec())
register(BitpackCodec())

__all__ = [
    'Codec', 'CodecError', 'CODECS', 'register', 'by_name', 'by_id',
    'pack', 'unpack', 'entropy_bits', 'RawCodec', 'HuffmanCodec', 'ZeroRunCodec', 'RiceCodec',
    'BitpackCodec',
]
