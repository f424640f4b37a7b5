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


class _Native:
    def __init__(self, f, ref, n_tables):
        self.f = f
        self.end = ref.pos + ref.size
        f.seek(ref.pos)
        head = f.read(min(n_tables * _TABLE_BYTES, ref.size))
        used = 0
        self.tables = []
        for i in range(n_tables):
            t = bytearray(_N.HUFF_TABLE_SIZE)
            # zero-run: run table in natural order first, then the values (zigzag)
            zigzag = 1 if i == n_tables - 1 else 0
            try:
                used += _N.huff_table(t, head, used, zigzag)
            except ValueError as e:
                raise MoteError("bad code table: %s" % e)
            self.tables.append(t)
        self.pos = ref.pos + used
        self.buf = bytearray(_CHUNK)
        self.data = memoryview(self.buf)[:0]

    def _refill(self, state):
        if self.pos >= self.end:
            raise MoteError("weights truncated: the payload ended early")
        self.f.seek(self.pos)
        n = self.f.readinto(memoryview(self.buf)[:min(_CHUNK, self.end - self.pos)])
        if not n:
            raise MoteError("weights truncated")
        self.pos += n
        self.data = memoryview(self.buf)[:n]
        state[2] = 0

    def read(self, dest, n):
        done = 0
        state = self.state
        while True:
            try:
                got = self._decode(state, dest, done, n - done)
            except ValueError as e:
                raise MoteError("damaged weights: %s" % e)
            if got < 0:
                raise MoteError("damaged weights (decoder status %d)" % got)
            done += got
            if done >= n:
                return
            # the bits held ran out inside a code: the next chunk of the payload
            if state[2] < len(self.data):
                raise MoteError("damaged weights: the decoder stopped early")
            self._refill(state)


class Huffman(_Native):
    def __init__(self, f, ref):
        _Native.__init__(self, f, ref, 1)
        self.state = array("i", [0, 0, 0])

    def _decode(self, state, dest, off, n):
        return _N.huff_decode(self.tables[0], state, self.data, dest, off, n)


class ZeroRun(_Native):
    def __init__(self, f, ref):
        _Native.__init__(self, f, ref, 2)
        self.state = array("i", [0, 0, 0, 0, 0, ref.n])

    def _decode(self, state, dest, off, n):
        return _N.zrun_decode(self.tables[0], self.tables[1], state, self.data, dest, off, n)


CLASSES = {1: Huffman, 2: ZeroRun}
