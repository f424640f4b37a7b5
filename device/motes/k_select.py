# MAXIMUM / MINIMUM (numpy-style broadcasting; either operand may be a layer
# constant) and REDUCE_MAX (params: axes[]), int8, pure Python: the raw values
# are compared, as TFLM does; the host checked that inputs and output share
# one scale and zero point.
from .qmath import walk, stab
from .k_elem import operands
from .k_mean import dims


def minmax(net, L, ins, outs):
    a, ao, ta, b, bo, tb, shape = operands(net, L, ins, outs[0])
    v = stab(0)        # arena byte or int8 constant -> its value
    big = L.op == 24
    mv = net.mv
    y = outs[0].off
    n = shape[-1]
    sta = ta[-1]
    stb = tb[-1]
    for pa, pb in walk(shape[:-1], ta, tb):
        pa += ao
        pb += bo
        for _ in range(n):
            p = v[a[pa]]
            q = v[b[pb]]
            mv[y] = (p if (p > q) == big else q) & 0xFF
            y += 1
            pa += sta
            pb += stb


def reduce_max(net, L, ins, outs):
    x = ins[0]
    kd, ks, rd, rs = dims(x.shape, L.p[0], outs[0])
    v = stab(0)
    mv = net.mv
    y = outs[0].off
    for base, _ in walk(kd, ks, ks):
        base += x.off
        m = -128
        for i, _ in walk(rd, rs, rs):
            u = v[mv[base + i]]
            if u > m:
                m = u
        mv[y] = m & 0xFF
        y += 1


OPS = {24: minmax, 25: minmax, 26: reduce_max}
