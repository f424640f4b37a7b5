# The huffman decoder (codec 1, docs/CODECS.md) and the code tables it shares
# with zerorun (zrun.py), on the bit reader of bits.py. decode.py imports this
# module for a model that has such arrays (with the native backend,
# dec_native.py decodes int8 ones in C instead).
#
# A code table (huffman, zerorun) becomes, with one counting pass over its
# code lengths:
#   tab   2^K entries (array 'h'), K = min(longest code, kmax), indexed by the
#         next K stream bits: (symbol << 4) | code length, or 15 when those
#         bits begin a code longer than K bits;
#   syms  the present symbols in canonical order (signed for int8 values);
#   lim, dlt  for each code length l > K: lim[l] = the end of the length-l
#         codes left-justified to 12 bits, dlt[l] = the index in syms of the
#         first length-l code minus that code. A long code is found by
#         comparing the next 12 bits with lim[K+1], lim[K+2], ...
# K <= 8: a 512-byte table (zerorun has two). A 9-bit table would be ~5% faster
# on wide weight distributions for 512 more bytes.
from micropython import const
from array import array

from .bits import Bits, _bits_of, _MZ

_SLOW = const(15)     # tab entry: a code longer than K bits starts here


def table(rd, zigzag, kmax, signed):
    """Parse a code-length table with the reader rd: (K, tab, syms, lim, dlt).

    Every broken rule of the table (a length outside 1..12, a run past the
    listed symbols, nonzero padding, a Kraft sum other than 1) is "damaged
    weights: bad code table", as with the C decoders (dec_native.py), which
    cannot tell them apart; the host adds which rule in parentheses."""
    # One function (~100 lines) in three steps on purpose: the lengths, their
    # canonical order, the lookup table. They hand on six arrays and counts,
    # and each function more is a name (a qstr) kept for good in a runtime
    # that stays under the board's fifth qstr pool (docs/DEVICE.md, RAM)
    m = rd.take(8)
    if m == 0:
        # zero-bit form: K = 0 and one entry of length 0
        s = rd.take(8)
        if signed and s > 127:
            s -= 256
        rd.check(rd.bi, rd.nb)
        return 0, array("h", (s << 4,)), None, None, None
    n = m + 1
    ln = bytearray(256)          # code length of each symbol
    prev = 8
    k = 0
    while k < n:
        t = 0
        while t < 6 and rd.take(1):
            t += 1
        ell = prev
        if t == 0:                     # SAME
            r = 1
        elif t == 3:                   # REPEAT 11..74
            r = 11 + rd.take(6)
        elif t == 4:                   # ABSENT
            r = 1
            ell = 0
        elif t == 5:                   # SKIP 3..258
            r = 3 + rd.take(8)
            ell = 0
        else:                          # UP, DOWN, SET
            ell = prev = prev + 1 if t == 1 else prev - 1 if t == 2 else rd.take(4)
            if prev < 1 or prev > 12:
                rd.fail("bad code table")
            r = 1
        if k + r > n:
            rd.fail("bad code table")
        for k in range(k, k + r):
            ln[((k >> 1) ^ -(k & 1)) & 0xFF if zigzag else k] = ell
        k += 1
    pad = rd.nb & 7
    if pad and rd.take(pad):
        rd.fail("bad code table")

    # counting pass: c[l] codes of length l, Kraft equality, canonical order
    c = [0] * 13
    for s in range(256):
        c[ln[s]] += 1
    kraft = 0
    big = 0
    for ell in range(1, 13):
        if c[ell]:
            kraft += c[ell] << (12 - ell)
            big = ell
    if kraft != 4096:
        rd.fail("bad code table")
    nxt = [0] * 13
    t = 0
    for ell in range(1, 13):
        nxt[ell] = t
        t += c[ell]
    syms = array("b" if signed else "B", bytes(t))
    for s in range(256):
        ell = ln[s]
        if ell:
            syms[nxt[ell]] = s - 256 if signed and s > 127 else s
            nxt[ell] += 1
    ln = nxt = None

    K = big if big < kmax else kmax
    tab = array("h", range(1 << K))     # every entry is set below (the code is complete)
    lim = array("H", bytes(26))
    dlt = array("h", bytes(26))
    code = 0
    j = 0
    for ell in range(1, big + 1):
        cl = c[ell]
        if ell <= K:
            sh = K - ell
            for j in range(j, j + cl):
                e = (syms[j] << 4) | ell
                a = code << sh
                for x in range(a, a + (1 << sh)):
                    tab[x] = e
                code += 1
            if cl:
                j += 1
        else:
            dlt[ell] = j - code
            sh = ell - K
            for x in range(code >> sh, (code + cl + (1 << sh) - 1) >> sh):
                tab[x] = _SLOW
            code += cl
            j += cl
            lim[ell] = code << (12 - ell)
        code <<= 1
    return K, tab, syms, lim, dlt


class Huffman(Bits):
    def __init__(self, f, ref):
        Bits.__init__(self, f, ref)
        _bits_of(ref, "huffman", 0)
        if ref.n:
            self.t = table(self, 1, 8, 1)

    def read(self, dest, n):
        self.start(n)
        if n <= 0:
            return
        K, tab, syms, lim, dlt = self.t
        if K == 0:
            v = tab[0] >> 4
            for i in range(n):
                dest[i] = v
            self.done(self.acc, self.bi, self.nb)
            return
        km = (1 << K) - 1
        buf = self.buf
        bn = self.bn
        acc = self.acc
        nb = self.nb
        bi = self.bi
        for i in range(n):
            while nb < 16:
                if bi == bn:
                    self.load(bi, nb)
                    bi = 0
                acc = ((acc & 0xFFFF) << 8) | buf[bi]
                bi += 1
                nb += 8
            e = tab[(acc >> (nb - K)) & km]
            ell = e & 15
            if ell == _SLOW:
                c = (acc >> (nb - 12)) & 0xFFF
                ell = K + 1
                while c >= lim[ell]:
                    ell += 1
                nb -= ell
                dest[i] = syms[(c >> (12 - ell)) + dlt[ell]]
            else:
                nb -= ell
                dest[i] = e >> 4
        self.done(acc, bi, nb)


CLASSES = {1: Huffman}
