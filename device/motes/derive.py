# The derived constants of format 1.1 (docs/FORMAT.md, docs/DEVICE.md):
# multipliers and shifts rebuilt from the filter scales (codec 5), biases
# predicted from the weight sums (codec 6), with integers only (a scale is its
# float32 bit pattern). net.const calls value() in streaming mode; the reader
# calls scales() and bias() with the resident arrays at load. The decoder of a
# payload is made before the arrays it fills: its garbage then lies under
# them, not in the free memory the kernel allocates from next.
import struct

from .structs import MoteError, Const
from . import decode


def _bl(x):
    n = 0
    while x:
        x >>= 1
        n += 1
    return n


def _p(b):
    # float32 bits -> (m, e): value m * 2^e
    if b < 0 or b >= 0x7F800000:
        raise MoteError("bad scale")
    e = b >> 23
    return ((b & 0x7FFFFF) | 0x800000, e - 150) if e else (b, -149)


def _dec(net, r):
    # (decoder of the int32 values inside a derived payload, alpha of codec 6)
    f = net._f
    f.seek(r.pos)
    h = f.read(min(r.size, 7)) + b"\xff"
    i = a = s = 0
    if r.codec == 6:
        while s < 35:
            v = h[i]
            i += 1
            a |= (v & 0x7F) << s
            s += 7
            if v < 0x80:
                break
        a = (a >> 1) ^ -(a & 1)
    k = h[i] if i < len(h) else 255
    if (k and k != 3 and k != 4) or i >= r.size:
        raise MoteError("bad derived constant")
    return decode._decoder(f, Const(k, 3, r.shape, r.pos + i + 1, r.size - i - 1, r.n)), a


def scales(net, L, m=None, s=None):
    """Layer L's multipliers (array 'i') and shifts (array 'b'), into m and s
    or new arrays: QuantizeMultiplier(in * scale / out) computed exactly."""
    r = L.refs[2]
    n = r.n
    dec, _ = _dec(net, r)
    if m is None:
        m = decode.new_array(3, n)
        s = decode.new_array(0, n)
    dec.read(m, n)
    dec = None
    mi, ei = _p(struct.unpack_from("<i", net._sc, 4 * L.ins[0])[0])
    d, eo = _p(struct.unpack_from("<i", net._sc, 4 * L.outs[0])[0])
    if not d:
        raise MoteError("bad scale")
    lm = _bl(mi) - _bl(d) - 30
    eo = 31 + ei - eo
    for c in range(n):
        f = m[c]            # no tuples here: a loop that allocates fragments the heap
        if f < 0 or f >= 0x7F800000:
            raise MoteError("bad scale")
        e = f >> 23
        if e:
            f = (f & 0x7FFFFF) | 0x800000
            e -= 150
            k = 24 + lm     # a * 2^-k / d is then in (2^28, 2^31)
        else:
            e = -149
            k = _bl(f) + lm
        a = mi * f
        dd = d << k if k > 0 else d
        if k < 0:
            a <<= -k
        while a and a < dd << 30:
            a <<= 1
            k -= 1
        a = (a + a + dd) // (dd + dd)            # rounded half up
        if a >> 31:
            a >>= 1
            k += 1
        k += eo + e
        if k < -31 or not a:
            a = k = 0
        elif k > 127:
            raise MoteError("bad scale")
        m[c] = a
        s[c] = k
    return m, s


def bias(net, L, b=None, w=None):
    """Layer L's biases (array 'i', into b or a new one): residual +
    (alpha * weight sum + 8) >> 4. w: the weights if decoded whole."""
    wr = L.refs[0]
    r = L.refs[1]
    n = r.n
    dw = L.op == 2          # depthwise [1, kh, kw, n]: channel c is every n-th weight
    if wr.dtype or wr.shape[-1 if dw else 0] != n:
        raise MoteError("bad derived constant")
    if w is None and dw:
        w = net.const(L, 0)
    dec, a = _dec(net, r)
    if b is None:
        b = decode.new_array(3, n)
    dec.read(b, n)
    dec = None
    rl = wr.n // n
    step = n if dw else 1
    for r0, r1, w in (((0, n, w),) if w is not None else net.rows(L, 0, rl)):
        for c in range(r0, r1):
            t = 0
            k = c if dw else (c - r0) * rl
            e = k + rl * step
            while k < e:
                t += w[k]
                k += step
            t = b[c] + ((a * t + 8) >> 4)
            if t > 0x7FFFFFFF or t < -0x80000000:
                t = ((t + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            b[c] = t
    return b


def value(net, L, slot):
    """Streaming mode: the array of a derived constant slot (1, 2 or 3). One
    rebuild makes the multipliers and the shifts; the one the kernel has not
    asked for yet waits in net._dv (net._dk: which it is)."""
    r = L.refs[slot]
    if r.codec == 6:
        return bias(net, L)
    k = r.pos * 4 + slot
    v = net._dv
    net._dv = None
    if v is not None and net._dk == k:
        return v
    m, s = scales(net, L)
    net._dv = s if slot == 2 else m
    net._dk = k ^ 1         # slot 2 <-> 3
    return m if slot == 2 else s
