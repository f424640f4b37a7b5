# The bit reader shared by the bitstream decoders (docs/CODECS.md), and the
# two codecs of integer arrays: rice (3) and bitpack (4). huff.py adds huffman
# (1) and zerorun (2) on top of the same reader. decode.py imports these
# modules when a model first decodes such an array. Each class is made with
# (f, ref) (ref: structs.Const) and its read(dest, n) writes the next n values
# into dest[0:n], carrying on where the previous call stopped.
from micropython import const
from array import array

from .structs import MoteError

_CHUNK = const(128)   # payload bytes read from the file at a time
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

    def __init__(self, f, ref):
        self.f = f
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
        # "damaged weights: " as on the host and with the native decoders
        # (dec_native.py), whose words for the two damages of any bitstream
        # (check, done) are these too
        raise MoteError("damaged weights: " + msg)

    def check(self, bi, nb):
        if bi * 8 - nb > self.zs * 8:
            self.fail("the payload is truncated")

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
            if rem >= 8 or rem and self.take(rem):
                self.fail("%d bits after the last value, not zero padding" % rem)

    def header(self, w):
        # rice/bitpack: svarint base of a w-bit signed dtype, then one byte
        u = 0
        s = 0
        while True:
            b = self.take(8)
            u |= (b & 0x7F) << s
            if b < 0x80:
                if s and not b:         # as the host's decoder: no over-long form
                    self.fail("base varint is over-long")
                break
            s += 7
            if s > 28:
                self.fail("base varint is too long")
        v = -(u >> 1) - 1 if u & 1 else u >> 1      # unzigzag (no bit ops on negative long ints)
        if not -(1 << (w - 1)) <= v < (1 << (w - 1)):
            self.fail("base %d is outside the range of int%d" % (v, w))
        return v, self.take(8)


class Rice(Bits):
    def __init__(self, f, ref):
        Bits.__init__(self, f, ref)
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
        Bits.__init__(self, f, ref)
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


CLASSES = {3: Rice, 4: Bitpack}
