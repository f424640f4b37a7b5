# Huffman (codec 1) and zero-run (codec 2) decoding in C, through the native
# module motes_native, used with the native backend. Same interface as the
# Python decoders of huff.py: made with (f, ref), read(dest, n) continues
# where the previous call stopped. The payload is fed to C in small chunks.
from micropython import const
from array import array

import motes_native as _N

from .structs import MoteError

_CHUNK = const(256)
_TABLE_BYTES = const(321)   # the longest code-length table (docs/CODECS.md)


# The code tables take HUFF_TABLE_SIZE bytes each (4,356: a full 12-bit
# lookup). One set is made for the first decoder and lent to whichever decoder
# reads: streaming mode allocates none per layer or per inference, and a small
# heap needs room for them once, at load. A decoder whose tables another one
# used meanwhile builds them again from its payload's head.
_tables = []
_owner = None


_head = None        # the code-length tables of a payload, read from a file (not from ROMFS)


def reserve(codec):
    """Make the tables a codec needs now (at load, beside the other blocks that stay)."""
    global _head
    while len(_tables) < codec:         # huffman (1): one table; zerorun (2): two
        _tables.append(bytearray(_N.HUFF_TABLE_SIZE))
    if _head is None or len(_head) < codec * _TABLE_BYTES:
        _head = bytearray(codec * _TABLE_BYTES)


class Decoder:
    """codec 1 (huffman: one code table) or 2 (zerorun: run and value tables)."""

    def __init__(self, f, ref):
        self.f = f
        self.codec = ref.codec          # also its number of code tables (0: none to read)
        self.start = ref.pos
        self.size = ref.size
        self.end = ref.pos + ref.size
        try:
            # a file in ROMFS (MicroPython's VfsRom) is memory: the payload is
            # decoded in place, with no reads and no buffer
            self.map = memoryview(f)
            self.buf = None
        except TypeError:
            self.map = None
            self.buf = bytearray(_CHUNK)
        # the C decoder's state (ulab_kernels/modmotes.c): bits held, their
        # count, the place in data; zerorun also zeros to come, whether a
        # value is due, values left; last (ours, the C side ignores it) the
        # values not yet read (not an attribute: the instance that _owner
        # keeps would need a bigger attribute table)
        self.state = array("i", [0, 0, 0, 0, 0, ref.n, ref.n] if ref.codec == 2 else [0, 0, 0, ref.n])
        if not ref.n:                   # an empty array: nothing to decode
            self.codec = 0
        self.pos = self._claim()
        if self.map is None:
            self.data = memoryview(self.buf)[:0]
        else:
            self.data = self.map[self.pos:self.end]
            self.pos = self.end

    def _claim(self):
        # build this decoder's code tables into the shared ones; returns where
        # the coded values start in the file
        global _owner
        reserve(self.codec)
        n = min(self.codec * _TABLE_BYTES, self.size)
        if self.map is None:
            # into the buffer kept for it: no allocation per layer and inference
            f = self.f
            f.seek(self.start)
            head = memoryview(_head)[:n]
            if f.readinto(head) != n:
                raise MoteError("weights truncated")
        else:
            head = self.map[self.start:self.start + n]
        used = 0
        for i in range(self.codec):
            # zero-run: run table in natural order first, then the values (zigzag)
            zigzag = 1 if i == self.codec - 1 else 0
            try:
                used += _N.huff_table(_tables[i], head, used, zigzag)
            except ValueError as e:
                # the words of huff.py and the host's: a table that ends before its
                # last length, else any broken table rule
                raise MoteError("damaged weights: the payload is truncated" if str(e) == "truncated"
                                else "damaged weights: bad code table")
        _owner = self
        return self.start + used

    def _refill(self, state):
        if self.pos >= self.end:
            raise MoteError("damaged weights: the payload is truncated")
        self.f.seek(self.pos)
        n = self.f.readinto(memoryview(self.buf)[:min(_CHUNK, self.end - self.pos)])
        if not n:
            raise MoteError("weights truncated")
        self.pos += n
        self.data = memoryview(self.buf)[:n]
        state[2] = 0

    def read(self, dest, n):
        if not n:
            return
        if _owner is not self:
            self._claim()
        done = 0
        state = self.state
        while True:
            try:
                if self.codec == 1:
                    got = _N.huff_decode(_tables[0], state, self.data, dest, done, n - done)
                else:
                    got = _N.zrun_decode(_tables[0], _tables[1], state, self.data, dest, done, n - done)
            except ValueError as e:
                # zero-run's only damage C finds in the values: a value 0 or runs
                # past the count, in the words of zrun.py and the host's
                raise MoteError("damaged weights: %s" % ("bad zero runs" if self.codec == 2 else e))
            if got < 0:
                raise MoteError("damaged weights (decoder status %d)" % got)
            done += got
            if done >= n:
                state[-1] -= n
                if not state[-1]:
                    # every value is out: as the Python decoders (bits.py), the
                    # bitstream must end within its last byte, zero-padded
                    got = state[1] + 8 * (len(self.data) - state[2] + self.end - self.pos)
                    if got >= 8 or state[0] & ((1 << got) - 1):
                        # (the words of bits.py and the host's: one message,
                        # each string constant of a module that stays costs RAM)
                        raise MoteError("damaged weights: %d bits after the last value, not zero padding" % got)
                return
            # the bits held ran out inside a code: the next chunk of the payload
            if state[2] < len(self.data):
                raise MoteError("damaged weights: the decoder stopped early")
            self._refill(state)


CLASSES = {1: Decoder, 2: Decoder}
