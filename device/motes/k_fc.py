# FULLY_CONNECTED, int8, pure Python. Params (file order): input_offset,
# filter_offset, output_offset, act_min, act_max. Constants: weights [out, depth],
# bias, multiplier, shift (per-tensor: one multiplier and shift).
# Op 64: the interleaved layout of format 1.2 (groups of 8 output channels,
# input-major; the input offset is in the bias, the filter offset is 0).
from .qmath import mbqm


def fully_connected(net, L, ins, outs):
    ioff, foff, ooff, lo, hi = L.p
    x = ins[0]
    y = outs[0]
    out_ch, depth = L.refs[0].shape
    bias = net.const(L, 1)
    mult = net.const(L, 2)
    shift = net.const(L, 3)
    pc = len(mult) > 1
    il = L.op & 64
    if il:
        ioff = 0
    mv = net.mv
    batches = x.n // depth
    for r0, r1, w in net.rows(L, 0, depth):
        for o in range(r0, r1):
            wo = (o - r0) * depth
            n = 1                       # step between the weights of channel o
            if il:                      # chunks are whole groups: r0 is a multiple of 8
                k = o & 7
                n = min(8, out_ch - o + k)
                wo = (o - k - r0) * depth + k
            c = o if pc else 0
            m = mult[c]
            s = shift[c]
            bo = bias[o] if bias else 0
            for b in range(batches):
                xo = x.off + b * depth
                acc = 0
                k = wo
                for d in range(depth):
                    v = mv[xo + d]
                    if v > 127:
                        v -= 256
                    acc += (v + ioff) * (w[k] + foff)
                    k += n
                v = mbqm(acc + bo, m, s) + ooff
                mv[y.off + b * out_ch + o] = (lo if v < lo else hi if v > hi else v) & 0xFF


OPS = {0: fully_connected, 64: fully_connected}
