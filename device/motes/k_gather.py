# STRIDED_SLICE, SLICE, TRANSPOSE, SPLIT, SPLIT_V, UNPACK (outputs read from
# one input) and PACK (inputs written into one output), int8, pure Python.
# Params: offsets[] (one per output; PACK: per input), steps[] (per axis of
# that contiguous side: the step on the strided side). Element i (a
# multi-index) of contiguous tensor j is at offsets[j] + sum(i[k] * steps[k])
# of the strided one: the host resolved masks, negative indices and axes
# (host/motes/ops/gather.py).
from .qmath import walk


def gather(net, L, ins, outs):
    offs, steps = L.p
    pack = L.op == 33
    big = outs[0] if pack else ins[0]
    mv = net.mv
    for j in range(len(offs)):
        t = ins[j] if pack else outs[j]
        if not t.n:
            continue
        shape = t.shape or (1,)
        st = list(steps) or [0]
        # every place it reaches inside the strided tensor (a damaged file
        # fails here, with the layer named, not in another tensor's bytes)
        lo = hi = offs[j]
        for k in range(len(st)):
            d = (shape[k] - 1) * st[k]
            if d < 0:
                lo += d
            else:
                hi += d
        if lo < 0 or hi >= big.n or len(st) != len(shape):
            raise ValueError("slice outside its tensor")
        n = shape[-1]
        s = st[-1]
        c = t.off
        for p, _ in walk(shape[:-1], st, st):
            p += big.off + offs[j]
            if s == 1:
                if pack:
                    mv[p:p + n] = mv[c:c + n]
                else:
                    mv[c:c + n] = mv[p:p + n]
            elif pack:
                for q in range(c, c + n):
                    mv[p] = mv[q]
                    p += s
            else:
                for q in range(c, c + n):
                    mv[q] = mv[p]
                    p += s
            c += n


OPS = {27: gather, 28: gather, 29: gather, 30: gather, 31: gather, 32: gather, 33: gather}
