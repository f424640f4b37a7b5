# The zerorun decoder (codec 2, docs/CODECS.md): runs of zeros and nonzero
# values, each with a code table of huff.py. In its own module: most models
# have no such array and do not load this code.
from micropython import const

from .bits import Bits, _bits_of, _MZ
from .huff import table

_SLOW = const(15)     # as in huff.py: a code longer than K bits starts here


class ZeroRun(Bits):
    def __init__(self, f, ref):
        Bits.__init__(self, f, ref)
        _bits_of(ref, "zerorun", 0)
        self.zr = 0      # zeros still to hand out
        self.pv = 0      # 1: a value code follows them
        self.tot = 0     # values accounted for by the runs read so far
        self.cnt = ref.n
        if ref.n:
            self.rt = table(self, 0, 8, 0)
            self.vt = table(self, 1, 8, 1)

    def read(self, dest, n):
        # One loop of ~90 lines on purpose: the decoder's state lives in locals
        # for the whole call (a local is a register slot; an attribute is a
        # dict lookup per access), saved back once at the end, and the run
        # and value tokens interleave in the one loop; a helper per token
        # would be a Python call per weight
        self.start(n)
        if n <= 0:
            return
        cnt = self.cnt
        rk, rtab, rsyms, rlim, rdlt = self.rt
        vk, vtab, vsyms, vlim, vdlt = self.vt
        rm = (1 << rk) - 1
        vm = (1 << vk) - 1
        mz = _MZ
        md = memoryview(dest) if mz else None
        zr = self.zr
        pv = self.pv
        tot = self.tot
        buf = self.buf
        bn = self.bn
        acc = self.acc
        nb = self.nb
        bi = self.bi
        i = 0
        while i < n:
            if zr:
                k = n - i
                if zr < k:
                    k = zr
                zr -= k
                if k < 16 or not mz:
                    for x in range(i, i + k):
                        dest[x] = 0
                    i += k
                else:
                    while k >= 64:
                        md[i:i + 64] = mz
                        i += 64
                        k -= 64
                    if k:
                        md[i:i + k] = mz[:k]
                        i += k
                continue
            while nb < 16:
                if bi == bn:
                    self.load(bi, nb)
                    bi = 0
                acc = ((acc & 0xFFFF) << 8) | buf[bi]
                bi += 1
                nb += 8
            if pv:
                e = vtab[(acc >> (nb - vk)) & vm]
                ell = e & 15
                if ell == _SLOW:
                    c = (acc >> (nb - 12)) & 0xFFF
                    ell = vk + 1
                    while c >= vlim[ell]:
                        ell += 1
                    nb -= ell
                    v = vsyms[(c >> (12 - ell)) + vdlt[ell]]
                else:
                    nb -= ell
                    v = e >> 4
                if v == 0:
                    self.fail("bad zero runs")     # (the words of C and the host)
                dest[i] = v
                i += 1
                pv = 0
            else:
                e = rtab[(acc >> (nb - rk)) & rm]
                ell = e & 15
                if ell == _SLOW:
                    c = (acc >> (nb - 12)) & 0xFFF
                    ell = rk + 1
                    while c >= rlim[ell]:
                        ell += 1
                    nb -= ell
                    r = rsyms[(c >> (12 - ell)) + rdlt[ell]]
                else:
                    nb -= ell
                    r = e >> 4
                # r zeros (255: an escape, no value follows); when values remain
                # before the end, a value follows (so progress is always made)
                tot += r
                if tot > cnt:
                    self.fail("bad zero runs")
                zr = r
                if r != 255 and tot < cnt:
                    pv = 1
                    tot += 1
        self.zr = zr
        self.pv = pv
        self.tot = tot
        self.done(acc, bi, nb)


CLASSES = {2: ZeroRun}
