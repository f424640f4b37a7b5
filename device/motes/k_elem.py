# ADD / SUB / MUL with numpy-style broadcasting (either operand may be a layer
# constant), int8, pure Python. Elementwise params (file order):
# input1_offset, input2_offset, output_offset, left_shift, input1_multiplier,
# input1_shift, input2_multiplier, input2_shift, output_multiplier,
# output_shift, act_min, act_max.
from .qmath import mbqm, wrap32, walk, strides, stab


def _operand(net, L, ins, slot, k):
    # (buffer, base offset, shape); buffers are the arena (bytes 0..255) or an
    # int8 constant (-128..127): both index the 256-entry tables below alike
    r = L.refs[slot]
    if r is not None:
        return net.const(L, slot), 0, r.shape, k
    t = ins[k]
    return net.mv, t.off, t.shape, k + 1


def _bstrides(shape, r):
    shape = [1] * (r - len(shape)) + list(shape)
    st = strides(shape)
    for k in range(r):
        if shape[k] == 1:
            st[k] = 0
    return shape, st


def operands(net, L, ins, y):
    # both operands broadcast: (buffer, base offset, strides) of each, and the
    # output's shape (also k_select.py's MAXIMUM / MINIMUM); as many values as
    # the output tensor y holds (a damaged file: an error, not other bytes)
    a, ao, sa, k = _operand(net, L, ins, 0, 0)
    b, bo, sb, k = _operand(net, L, ins, 1, k)
    r = max(len(sa), len(sb))
    sa, ta = _bstrides(sa, r)
    sb, tb = _bstrides(sb, r)
    shape = [max(sa[i], sb[i]) for i in range(r)] or [1]
    n = 1
    for i in range(r):
        if sa[i] != shape[i] and sa[i] != 1 or sb[i] != shape[i] and sb[i] != 1:
            n = -1
        n *= shape[i]
    if n != y.n:
        raise ValueError("bad dims")
    if not ta:
        ta = tb = [0]
    return a, ao, ta, b, bo, tb, shape


def binary(net, L, ins, outs):
    o1, o2, ooff, ls, m1, s1, m2, s2, mo, so, lo, hi = L.p
    a, ao, ta, b, bo, tb, shape = operands(net, L, ins, outs[0])
    mul = L.op == 10
    if mul:
        A = stab(o1)
        B = stab(o2)
    else:
        # each operand's rescaled value depends on its int8 value only
        A = [mbqm((v + o1) << ls, m1, s1) for v in range(-128, 128)]
        B = [mbqm((v + o2) << ls, m2, s2) for v in range(-128, 128)]
        A = A[128:] + A[:128]
        B = B[128:] + B[:128]
        if L.op == 20:
            B = [-v for v in B]
    mv = net.mv
    y = outs[0].off
    n = shape[-1]
    sta = ta[-1]
    stb = tb[-1]
    for pa, pb in walk(shape[:-1], ta, tb):
        pa += ao
        pb += bo
        for _ in range(n):
            if mul:
                v = mbqm(A[a[pa]] * B[b[pb]], mo, so)
            else:
                v = mbqm(wrap32(A[a[pa]] + B[b[pb]]), mo, so)
            v += ooff
            mv[y] = (lo if v < lo else hi if v > hi else v) & 0xFF
            y += 1
            pa += sta
            pb += stb


OPS = {9: binary, 20: binary, 10: binary}
