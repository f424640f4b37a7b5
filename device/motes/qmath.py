# TFLM's integer requantization, in plain Python ints (exact on every port:
# values beyond the small-int range become big ints, slower but never wrong).

from array import array


def mbqm(x, m, shift):
    """MultiplyByQuantizedMultiplier (TFLM default build: double rounding)."""
    if shift > 0:
        # x * (1 << shift) in int32 arithmetic
        x = ((x << shift) + 0x80000000) & 0xFFFFFFFF
        x -= 0x80000000
    ab = x * m
    # SaturatingRoundingDoublingHighMul (m > 0 so no saturation case)
    if ab >= 0:
        hi = (ab + 0x40000000) >> 31
    else:
        hi = -((0x40000000 - 1 - ab) >> 31)
    if shift < 0:
        # RoundingDivideByPOT
        e = -shift
        mask = (1 << e) - 1
        th = mask >> 1
        if hi < 0:
            th += 1
        hi = (hi >> e) + (1 if (hi & mask) > th else 0)
    return hi


def wrap32(x):
    """Two's-complement wrap to int32 (C++ int32 arithmetic)."""
    return ((x + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul (int32)."""
    if a == b == -0x80000000:
        return 0x7FFFFFFF
    ab = a * b
    if ab >= 0:
        return (ab + 0x40000000) >> 31
    return -((0x3FFFFFFF - ab) >> 31)


def rdpot(x, e):
    """gemmlowp RoundingDivideByPOT: x / 2^e, halves away from zero."""
    mask = (1 << e) - 1
    th = mask >> 1
    if x < 0:
        th += 1
    return (x >> e) + (1 if (x & mask) > th else 0)


def srmpot(x, e):
    """gemmlowp SaturatingRoundingMultiplyByPOT<e> (also Rescale: e = src - dst bits)."""
    if e < 0:
        return rdpot(x, -e)
    if e:
        t = (1 << (31 - e)) - 1
        if x > t:
            return 0x7FFFFFFF
        if x < -t:
            return -0x80000000
        return x << e
    return x


def walk(dims, sa, sb):
    """Yield (offset_a, offset_b) over every index of dims (row-major), with strides sa, sb."""
    n = len(dims)
    idx = [0] * n
    a = b = 0
    while True:
        yield a, b
        k = n - 1
        while k >= 0:
            idx[k] += 1
            a += sa[k]
            b += sb[k]
            if idx[k] < dims[k]:
                break
            a -= sa[k] * dims[k]
            b -= sb[k] * dims[k]
            idx[k] = 0
            k -= 1
        if k < 0:
            return


def strides(shape):
    """Row-major strides (in elements) of a shape."""
    st = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        st[k] = st[k + 1] * shape[k + 1]
    return st


def stab(off):
    """Table: arena byte (0..255) -> signed value + off (an int16 array: a
    quarter of a list's RAM on a 64-bit port; off is an int8 zero point)."""
    t = array("h", range(256))
    for u in range(256):
        t[u] = (u - 256 if u > 127 else u) + off
    return t
