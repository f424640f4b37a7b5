# Decoders of the bitstream codecs (docs/CODECS.md): huffman (1), zerorun (2),
# rice (3), bitpack (4). decode.py imports this module when a model first
# decodes such an array. Each class is made with (f, ref) (ref: structs.Const)
# and its read(dest, n) writes the next n values into dest[0:n], carrying on
# where the previous call stopped.
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

from .structs import MoteError

_CHUNK = const(128)   # payload bytes read from the file at a time
_SLOW = const(15)     # tab entry: a code longer than K bits starts here
_ZEROS = bytes(64)
try:
    _MZ = memoryview(_ZEROS)
    memoryview(bytearray(1))[0:1] = _MZ[0:1]
except Exception:     # no slice assignment on this port: fill zeros one by one
    _MZ = None


def _bits_of(ref, what, ints):
    # W of the element dtype; int8 only for the entropy codecs
    w = {0: 8, 2: 16, 3: 32}.get(ref.dtype) if ints else 8 if ref.dtype == 0 else None
    if w is None:
        raise MoteError("%s payload for dtype code %d: %s only" % (what, ref.dtype,
                        "int8, int16, int32" if ints else "int8"))
    return w


class Bits:
    """MSB-first bit reader over one payload.

    acc holds the nb (< 24) bits read ahead in its low bits; bits above them are
    stale. A byte is pulled in only while nb < 16, as
    acc = ((acc & 0xFFFF) << 8) | byte, so acc stays below 2^24: a small int on
    every port. Past the end of the payload the buffer holds zero bytes that do
    not come from the file; zs is the buffer index where they start, and using
    a bit from there on means the payload is truncated. The read() loops inline
    the pulling and keep acc, nb, bi in locals, storing them before a method call.
    """

    def __init__(self, f, ref, what):
        self.f = f
        self.what = what
        self.fpos = ref.pos                 # next payload byte to load from the file
        self.end = ref.pos + ref.size
        self.left = ref.n                   # values not yet handed out
        size = ref.size
        if ref.n == 0 and size:
            self.fail("%d bytes for 0 values" % size)
        self.buf = bytearray(4 if size < 4 else _CHUNK if size > _CHUNK else size)
        self.bn = self.bi = self.zs = len(self.buf)   # empty: the first pull loads
        self.acc = 0
        self.nb = 0

    def fail(self, msg):
        raise MoteError(self.what + " payload: " + msg)

    def check(self, bi, nb):
        if bi * 8 - nb > self.zs * 8:
            self.fail("truncated")

    def load(self, bi, nb):
        # refill the buffer once all of it is pulled in (bi == bn)
        self.check(bi, nb)
        buf = self.buf
        size = len(buf)
        take = self.end - self.fpos
        if take > size:
            take = size
        zs = self.zs - bi
        if take > 0:
            f = self.f
            f.seek(self.fpos)
            if f.readinto(buf if take == size else memoryview(buf)[:take]) != take:
                self.fail("runs past the end of the file")
            self.fpos += take
            zs += take
        else:
            take = 0
        for j in range(take, size):
            buf[j] = 0
        self.zs = zs

    def take(self, w):
        # the next w <= 16 bits
        nb = self.nb
        acc = self.acc
        bi = self.bi
        while nb < w:
            if bi == self.bn:
                self.load(bi, nb)
                bi = 0
            acc = ((acc & 0xFFFF) << 8) | self.buf[bi]
            bi += 1
            nb += 8
        nb -= w
        self.acc = acc
        self.nb = nb
        self.bi = bi
        return (acc >> nb) & ((1 << w) - 1)

    def bits(self, w):
        # the next w <= 32 bits (may be a long int above 30 bits)
        if w > 16:
            return (self.take(w - 16) << 16) | self.take(16)
        return self.take(w)

    def start(self, n):
        if n > self.left:
            raise MoteError("read past the end of a weight array")
        self.left -= n

    def done(self, acc, bi, nb):
        # end of read(): store the state; once every value is out, the
        # bitstream must end within its last byte, with zero padding bits
        self.acc = acc
        self.bi = bi
        self.nb = nb
        self.check(bi, nb)
        if self.left == 0:
            rem = (self.end - self.fpos + self.zs - bi) * 8 + nb
            if rem >= 8:
                self.fail("%d bytes after the end of the bitstream" % (rem >> 3))
            if rem and self.take(rem):
                self.fail("nonzero padding bits")

    def header(self, w):
        # rice/bitpack: svarint base of a w-bit signed dtype, then one byte
        u = 0
        s = 0
        while True:
            b = self.take(8)
            u |= (b & 0x7F) << s
            if b < 0x80:
                break
            s += 7
            if s > 28:
                self.fail("base varint is too long")
        v = -(u >> 1) - 1 if u & 1 else u >> 1      # unzigzag (no bit ops on negative long ints)
        if not -(1 << (w - 1)) <= v < (1 << (w - 1)):
            self.fail("base %d is outside the range of int%d" % (v, w))
        return v, self.take(8)


def table(rd, zigzag, kmax, signed):
    """Parse a code-length table with the reader rd: (K, tab, syms, lim, dlt)."""
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
                rd.fail("code length %d is outside 1..12" % prev)
            r = 1
        if k + r > n:
            rd.fail("a run overshoots the %d listed symbols of a code table" % n)
        for k in range(k, k + r):
            ln[((k >> 1) ^ -(k & 1)) & 0xFF if zigzag else k] = ell
        k += 1
    pad = rd.nb & 7
    if pad and rd.take(pad):
        rd.fail("nonzero padding bits after a code table")

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
        rd.fail("code table is %s (Kraft sum %d/4096)" % ("over-subscribed" if kraft > 4096 else "incomplete", kraft))
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
        Bits.__init__(self, f, ref, "huffman")
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


class ZeroRun(Bits):
    def __init__(self, f, ref):
        Bits.__init__(self, f, ref, "zerorun")
        _bits_of(ref, "zerorun", 0)
        self.zr = 0      # zeros still to hand out
        self.pv = 0      # 1: a value code follows them
        self.tot = 0     # values accounted for by the runs read so far
        self.cnt = ref.n
        if ref.n:
            self.rt = table(self, 0, 8, 0)
            self.vt = table(self, 1, 8, 1)

    def read(self, dest, n):
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
                    self.fail("value 0 in the stream")
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
                    self.fail("zero runs overshoot the count %d" % cnt)
                zr = r
                if r != 255 and tot < cnt:
                    pv = 1
                    tot += 1
        self.zr = zr
        self.pv = pv
        self.tot = tot
        self.done(acc, bi, nb)


class Rice(Bits):
    def __init__(self, f, ref):
        Bits.__init__(self, f, ref, "rice")
        w = self.w = _bits_of(ref, "rice", 1)
        if ref.n:
            self.base, k = self.header(w)
            if k >= w:
                self.fail("k=%d must be < %d" % (k, w))
            self.k = k

    def read(self, dest, n):
        self.start(n)
        if n <= 0:
            return
        w = self.w
        k = self.k
        km = (1 << k) - 1
        base = self.base
        hi = (1 << (w - 1)) - 1
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
            p = (acc >> (nb - 8)) & 0xFF
            q = 0
            while p & 0x80 and q < 8:       # leading one bits, at most 8
                q += 1
                p <<= 1
            if q < 8 and k <= 8:
                nb -= q + 1 + k             # nb was >= 16
                u = (q << k) | ((acc >> nb) & km)
            else:
                self.acc = acc
                self.bi = bi
                if q == 8:                  # escape: u in w bits
                    self.nb = nb - 8
                    u = self.bits(w)
                    if (u >> k) < 8:
                        self.fail("escape for %d, which has a short code" % u)
                else:
                    self.nb = nb - q - 1
                    u = (q << k) | self.bits(k)
                acc = self.acc
                nb = self.nb
                bi = self.bi
            v = base - (u >> 1) - 1 if u & 1 else base + (u >> 1)
            if v > hi or v < -1 - hi:
                # modulo 2^w (an odd payload may even have u >= 2^w)
                v = (v + hi + 1) % (2 * hi + 2) - hi - 1
            dest[i] = v
        self.done(acc, bi, nb)


class Bitpack(Bits):
    def __init__(self, f, ref):
        Bits.__init__(self, f, ref, "bitpack")
        w = self.w = _bits_of(ref, "bitpack", 1)
        if ref.n:
            self.base, width = self.header(w)
            if width > w:
                self.fail("width %d exceeds %d bits" % (width, w))
            self.width = width

    def read(self, dest, n):
        self.start(n)
        if n <= 0:
            return
        base = self.base
        width = self.width
        hi = (1 << (self.w - 1)) - 1
        if width > 16:
            for i in range(n):
                v = base + self.bits(width)
                if v > hi:
                    self.fail("value %d is outside int%d" % (v, self.w))
                dest[i] = v
            self.done(self.acc, self.bi, self.nb)
            return
        wm = (1 << width) - 1
        buf = self.buf
        bn = self.bn
        acc = self.acc
        nb = self.nb
        bi = self.bi
        for i in range(n):
            while nb < width:
                if bi == bn:
                    self.load(bi, nb)
                    bi = 0
                acc = ((acc & 0xFFFF) << 8) | buf[bi]
                bi += 1
                nb += 8
            nb -= width
            v = base + ((acc >> nb) & wm)
            if v > hi:
                self.fail("value %d is outside int%d" % (v, self.w))
            dest[i] = v
        self.done(acc, bi, nb)


CLASSES = {1: Huffman, 2: ZeroRun, 3: Rice, 4: Bitpack}
