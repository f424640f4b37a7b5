# gemmlowp fixed-point exp, 1/(1+x), logistic and tanh, as TFLM's int8
# SOFTMAX, LOGISTIC and TANH use them. Only k_act imports this module, so
# models without those ops do not carry its code.
from .qmath import wrap32, srdhm, rdpot, srmpot


def _exp_quarter(a):
    # exp(a) for a in [-1/4, 0), Q0.31 in and out
    x = wrap32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = rdpot(srdhm(x2, x2), 2)
    poly = rdpot(wrap32(srdhm(wrap32(x4 + x3), 715827883) + x2), 1)
    return wrap32(1895147668 + srdhm(1895147668, wrap32(x + poly)))


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
           (2, 39332535), (3, 720401), (4, 242))


def exp_neg(a, ib):
    """gemmlowp exp_on_negative_values: Q(ib).(31-ib) a <= 0 -> Q0.31."""
    if a == 0:
        return 0x7FFFFFFF
    fb = 31 - ib
    q = 1 << (fb - 2)
    amq = (a & (q - 1)) - q
    r = _exp_quarter(srmpot(amq, ib))
    rem = wrap32(amq - a)
    for e, m in _BARREL:
        if ib > e and (rem >> (fb + e)) & 1:
            r = srdhm(r, m)
    if ib > 5 and a < -(1 << (36 - ib)):
        return 0
    return r


def _newton(a):
    # 1 / (1 + a) for a in [0, 1) (Q0.31), as Q2.29, and the half denominator
    s = a + 0x7FFFFFFF
    s += 1 if s >= 0 else -1
    hd = s >> 1 if s >= 0 else -((-s) >> 1)
    x = wrap32(1515870810 + srdhm(hd, -1010580540))
    for _ in range(3):
        x = wrap32(x + srmpot(srdhm(x, wrap32((1 << 29) - srdhm(hd, x))), 2))
    return x


def one_over_one_plus(a):
    """gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31)."""
    return srmpot(_newton(a), 1)


def logistic(a, ib):
    """gemmlowp logistic: Q(ib) -> Q0.31."""
    if a == 0:
        return 1 << 30
    r = one_over_one_plus(exp_neg(-a if a > 0 else a, ib))
    return r if a > 0 else wrap32(0x7FFFFFFF - r)


def tanh(a, ib):
    """gemmlowp tanh: Q(ib) -> Q0.31."""
    if a == 0:
        return 0
    t = srmpot(wrap32(_newton(exp_neg(a if a < 0 else -a, ib + 1)) - (1 << 29)), 2)
    return -t if a < 0 else t


def reciprocal(x, xib):
    """TFLM GetReciprocal: (Q0.31 1/x scaled into [0.5, 1), num_bits_over_unit)."""
    x &= 0xFFFFFFFF
    z = 32
    v = x
    while v:
        v >>= 1
        z -= 1
    return one_over_one_plus(wrap32(((x << z) & 0xFFFFFFFF) - 0x80000000)), xib - z
