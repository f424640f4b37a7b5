# SOFTMAX, int8, pure Python (TFLM: gemmlowp fixed-point exp over the
# difference from the row maximum). Params: input_multiplier, input_left_shift,
# diff_min. exp values are tabled by that difference.
from .qmath import rdpot, srdhm, wrap32
from .fixedpoint import exp_neg, reciprocal


def softmax(net, L, ins, outs):
    im, ils, dmin = L.p
    x = ins[0]
    y = outs[0]
    depth = x.shape[-1] if x.shape else 1
    # exp of (x - max) = -k, by k: for a short row (a classifier's few
    # classes) only the k that occur; a list of all 256 is 2 KB on a 64-bit port
    small = depth <= 32
    E = {} if small else [None] * 256
    # only differences of inputs count: an arena byte u ^ 128 is its int8
    # value + 128, so no table of signed values (512 bytes an inference,
    # which a small heap may not have in one piece after loading)
    mv = net.mv
    d = y.off - x.off
    for r in range(x.off, x.off + x.n, depth):
        mx = 0
        for i in range(r, r + depth):
            v = mv[i] ^ 128
            if v > mx:
                mx = v
        tot = 0
        for i in range(r, r + depth):
            k = mx - (mv[i] ^ 128)
            if -k >= dmin:
                e = E.get(k) if small else E[k]
                if e is None:
                    e = E[k] = exp_neg(srdhm(wrap32(-k << ils), im), 5)
                tot += rdpot(e, 12)
        rc, nb = reciprocal(wrap32(tot), 12)
        nb += 23
        for i in range(r, r + depth):
            k = mx - (mv[i] ^ 128)
            v = -128
            if -k >= dmin:
                v = rdpot(srdhm(rc, E[k]), nb) - 128
                if v > 127:
                    v = 127
                elif v < -128:
                    v = -128
            mv[i + d] = v & 0xFF


OPS = {6: softmax}
