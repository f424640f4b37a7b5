# Decoding the constant arrays of a .mote (docs/CODECS.md) from the open file.
#
# decode_all(f, ref) returns a whole array; RowStream hands out a weight matrix
# a chunk of rows at a time, so streaming mode never holds a big layer at once.
#
# A decoder is made with (f, ref) (ref: a structs.Const) and its read(dest, n)
# writes the next n values into dest[0:n], carrying on where the previous call
# stopped. Decoders read their payload in small chunks into one buffer of their
# own and seek to their own position before every read, so several may share f.
# Only raw lives here: the bitstream codecs are in bits.py (rice, bitpack),
# huff.py (huffman) and zrun.py (zerorun), imported at load for the codecs a
# model uses, so that a runtime can drop them again once a resident model is decoded.
from micropython import const
from array import array

from .structs import MoteError, DTYPES

_RAW = const(0)
_HUFFMAN = const(1)
_ZERORUN = const(2)
_RICE = const(3)
_BITPACK = const(4)


def new_array(dtype, n):
    # array(tc, range(n)) allocates exactly n items with no temporary copy
    # (array(tc, bytes(...)) would briefly hold two); contents are overwritten
    tc, size = DTYPES[dtype]
    try:
        return array(tc, range(n))
    except OverflowError:
        # CircuitPython checks every store (array('b', range(200)) fails):
        # zeros from a buffer there
        return array(tc, bytes(n * size))


class _Raw:
    def __init__(self, f, ref):
        self.f = f
        self.pos = ref.pos
        self.size = DTYPES[ref.dtype][1]
        self.tc = DTYPES[ref.dtype][0]

    def read(self, dest, n):
        f = self.f
        f.seek(self.pos)
        if self.size == 1:
            got = f.readinto(memoryview(dest)[:n])
            if got != n:
                raise MoteError("weights truncated")
            self.pos += n
            return
        raw = f.read(n * self.size)
        if len(raw) != n * self.size:
            raise MoteError("weights truncated")
        src = array(self.tc, raw)
        for i in range(n):
            dest[i] = src[i]
        self.pos += n * self.size


def _module(codec, dtype):
    # the module with the decoder of a bitstream codec (None: raw or unknown)
    if codec == _RICE or codec == _BITPACK:
        return "bits"
    if codec == 5 or codec == 6:
        return "derive"           # format 1.1: scales, predicted biases (net.const resolves them)
    if codec == _HUFFMAN or codec == _ZERORUN:
        from . import kernels
        if kernels.backend() == "native" and dtype == 0:
            return "dec_native"       # huffman and zerorun in C
        return "huff" if codec == _HUFFMAN else "zrun"
    return None


def prepare(codec, dtype, n=0):
    """Import the decoder of (codec, dtype) now (at load: its code then sits
    with the other long-lived blocks instead of in the middle of free RAM);
    n: also make the buffers it keeps (the native code tables), which
    streaming mode does once the reader's code is gone."""
    name = _module(codec, dtype)
    if name:
        m = __import__("motes." + name, None, None, ("reserve",))
        if n and hasattr(m, "reserve"):
            m.reserve(codec)


class _Coded:
    """The bitstream codecs: huff.py, zrun.py, bits.py, or dec_native.py (C)."""

    def __init__(self, f, ref):
        m = __import__("motes." + _module(ref.codec, ref.dtype), None, None, ("CLASSES",))
        self.read = m.CLASSES[ref.codec](f, ref).read


DECODERS = {_RAW: _Raw, _HUFFMAN: _Coded, _ZERORUN: _Coded, _RICE: _Coded, _BITPACK: _Coded}


def register(codec_id, cls):
    DECODERS[codec_id] = cls


def _decoder(f, ref):
    cls = DECODERS.get(ref.codec)
    if cls is None:
        raise MoteError("codec %d is unknown to this runtime: update motes on the board" % ref.codec)
    return cls(f, ref)


def decode_into(f, ref, dest):
    _decoder(f, ref).read(dest, ref.n)


def decode_all(f, ref):
    dest = new_array(ref.dtype, ref.n)
    _decoder(f, ref).read(dest, ref.n)
    return dest


class RowStream:
    """Decode a constant in consecutive pieces into one reused buffer."""

    def __init__(self, f, ref, cap, buf=None):
        self.dec = _decoder(f, ref)
        # a caller's buffer (at least cap items) is reused: no allocation per layer
        self.buf = buf if buf is not None and len(buf) >= cap else new_array(ref.dtype, cap)
        self.left = ref.n

    def next(self, n):
        if n > self.left:
            raise MoteError("read past the end of a weight array")
        self.dec.read(self.buf, n)
        self.left -= n
        return self.buf
