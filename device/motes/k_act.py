# Activations, int8, pure Python: the unary ops LOGISTIC, TANH, RELU, RELU6,
# LEAKY_RELU, HARD_SWISH (params input_zero_point, output_zero_point,
# multiplier, shift, multiplier2, shift2, range_radius, act_min, act_max) and
# QUANTIZE / DEQUANTIZE (params mode, input_zero_point, output_zero_point,
# multiplier, shift, scale_f32; modes in host/motes/ops/quantize.py). An int8 input has 256 values: unary ops
# compute each value seen once and look it up after that.
from struct import pack, unpack, pack_into, unpack_from
from .qmath import mbqm, rdpot, wrap32
from .fixedpoint import logistic, tanh


def _map(net, x, y, f, p):
    T = [None] * 256
    mv = net.mv
    d = y.off - x.off
    for i in range(x.off, x.off + x.n):
        u = mv[i]
        v = T[u]
        if v is None:
            v = T[u] = f(p, u - 256 if u > 127 else u) & 0xFF
        mv[i + d] = v


def _w16(v):
    return ((v + 0x8000) & 0xFFFF) - 0x8000


def _hmul16(a, b, r):
    # int16 (Saturating)(Rounding if r)DoublingHighMul
    if a == b == -0x8000:
        return 0x7FFF
    ab = a * b
    if r:
        return _w16((ab + 0x4000) >> 15 if ab >= 0 else -((0x3FFF - ab) >> 15))
    return _w16(ab >> 15 if ab >= 0 else -((-ab) >> 15))


def _sat16(v):
    return -0x8000 if v < -0x8000 else 0x7FFF if v > 0x7FFF else v


def _unary(p, q):
    op, izp, ozp, m, s, m2, s2, rad, lo, hi = p
    x = q - izp
    if op == 7 or op == 8:              # LOGISTIC, TANH (Q4.27 input)
        if x <= -rad:
            return -128
        if x >= rad:
            return 127
        x = mbqm(x, m, s)
        v = rdpot(logistic(x, 4), 23) - 128 if op == 7 else rdpot(tanh(x, 4), 24)
    elif op == 14:                      # RELU
        v = ozp + mbqm(x, m, s)
    elif op == 15:                      # RELU6: raw clamp
        v = q
    elif op == 21:                      # LEAKY_RELU
        v = ozp + (mbqm(x, m, s) if x >= 0 else mbqm(x, m2, s2))
    elif op == 22:                      # HARD_SWISH, TFLM's int16 arithmetic
        h = _w16(_w16(x) * 128)
        pre = _hmul16(h, m, 1)
        r = h
        if s2 > 0:
            r = _sat16(r << (s2 - 1))
        r = _hmul16(r, m2, 1)
        if s2 > 0:
            r = _sat16(r * 2)
        elif s2 < 0:
            r = rdpot(r, -s2)
        r = _w16((r + 0x8000) >> 1)
        v = _w16(rdpot(_hmul16(r, pre, 0), -s) + ozp)
    else:                               # QUANTIZE int8 -> int8
        v = mbqm(x, m, s) + ozp
    return lo if v < lo else hi if v > hi else v


def unary(net, L, ins, outs):
    _map(net, ins[0], outs[0], _unary, (L.op,) + L.p)


def _f2q(f, ozp):
    # float32 f -> int8 as TFLM: roundf(f) (halves away from zero) + zero point,
    # clamped; f is rounded to float32 first (on ports whose floats are doubles)
    q = -0x80000000                     # x86's answer for NaN, inf and overflow
    try:
        f = unpack("<f", pack("<f", f))[0]
    except OverflowError:
        f = None
    if f is not None and f - f == 0:
        t = int(f)
        if abs(f - t) >= 0.5:
            t += 1 if f > 0 else -1
        if -0x80000000 <= t < 0x80000000:
            q = t
    v = wrap32(q + ozp)
    return -128 if v < -128 else 127 if v > 127 else v


def _through_float(p, v):
    # mode 3: DEQUANTIZE then QUANTIZE, each in float32 (_map's table: once per value)
    izp, ozp, si, so = p
    return _f2q(unpack("<f", pack("<f", si * (v - izp)))[0] / so, ozp)


def quantize(net, L, ins, outs):
    mode, izp, ozp, m, s, bits = L.p
    x = ins[0]
    y = outs[0]
    if mode == 0:
        _map(net, x, y, _unary, (16, izp, ozp, m, s, 0, 0, 0, -128, 127))
        return
    # float32 tensors (4 bytes each in the arena); float32 arithmetic, also on
    # ports whose floats are doubles (rounded to float32 after each operation)
    sc = unpack("<f", pack("<i", bits))[0]
    if mode == 3:                       # int8 -> int8 through float32
        _map(net, x, y, _through_float, (izp, ozp, unpack("<f", pack("<i", m))[0], sc))
        return
    mv = net.mv
    if mode == 2:                       # DEQUANTIZE: scale * float(q - zp)
        for i in range(x.n):
            v = mv[x.off + i]
            pack_into("<f", mv, y.off + 4 * i, sc * ((v - 256 if v > 127 else v) - izp))
        return
    for i in range(y.n):                # QUANTIZE float -> int8: roundf(x / scale) + zp
        mv[y.off + i] = _f2q(unpack_from("<f", mv, x.off + 4 * i)[0] / sc, ozp) & 0xFF


OPS = {7: unary, 8: unary, 14: unary, 15: unary, 21: unary, 22: unary,
       16: quantize, 23: quantize}
