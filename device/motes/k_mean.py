# MEAN, int8, pure Python: TFLM's integer path (sum, then one requantization
# with the multiplier the host scaled by 1/n). Params: axes[], multiplier,
# shift, sum_offset, output_zero_point.
from .qmath import mbqm, wrap32, walk, strides, stab


def dims(shape, axes, y):
    # (kept dims, their strides, reduced dims, theirs): also k_select.py's
    # REDUCE_MAX; as many kept values as the output tensor y holds
    st = strides(shape)
    kd = []
    ks = []
    rd = []
    rs = []
    for i in range(len(shape)):
        if i in axes:
            rd.append(shape[i])
            rs.append(st[i])
        else:
            kd.append(shape[i])
            ks.append(st[i])
    n = 1
    for d in kd:
        n *= d
    if n != y.n:
        raise ValueError("bad dims")
    return kd, ks, rd, rs


def mean(net, L, ins, outs):
    axes, m, s, soff, ozp = L.p
    x = ins[0]
    kd, ks, rd, rs = dims(x.shape, axes, outs[0])
    if rd:
        n = rd.pop()
        step = rs.pop()
    else:
        n = step = 1
    xt = stab(0)
    mv = net.mv
    y = outs[0].off
    for base, _ in walk(kd, ks, ks):
        base += x.off
        t = 0
        for i, _ in walk(rd, rs, rs):
            for i in range(base + i, base + i + n * step, step):
                t += xt[mv[i]]
        v = mbqm(wrap32(wrap32(t) + soff), m, s) + ozp
        mv[y] = (-128 if v < -128 else 127 if v > 127 else v) & 0xFF
        y += 1


OPS = {11: mean}
