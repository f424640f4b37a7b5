# CONCATENATION, int8, pure Python. Params: axis, sizes[], is_const[];
# constant inputs come flattened and joined in slot 0. (A module of its own:
# the models whose only shape op is RESHAPE do not load its code.)


def concat(net, L, ins, outs):
    axis, sizes, is_const = L.p
    y = outs[0]
    mv = net.mv
    outer = 1
    for d in y.shape[:axis]:
        outer *= d
    inner = 1
    for d in y.shape[axis + 1:]:
        inner *= d
    step = y.shape[axis] * inner
    # every input block inside its tensor and the output (a damaged file: an
    # error, not other tensors' bytes)
    i = 0
    for size, isc in zip(sizes, is_const):
        if not isc:
            if i >= len(ins) or ins[i].n != outer * size * inner:
                raise ValueError("bad dims")
            i += 1
    if axis < 0 or sum(sizes) != y.shape[axis] or i != len(ins) or len(sizes) != len(is_const):
        raise ValueError("bad dims")
    cdata = None
    cpos = 0
    pos = y.off
    i = 0
    for size, isc in zip(sizes, is_const):
        blk = size * inner
        if isc:
            if cdata is None:
                cdata = net.const(L, 0)
            for o in range(outer):
                d = pos + o * step
                for j in range(cpos, cpos + blk):
                    mv[d] = cdata[j] & 0xFF
                    d += 1
                cpos += blk
        else:
            s = ins[i].off
            i += 1
            for d in range(pos, pos + outer * step, step):
                mv[d:d + blk] = mv[s:s + blk]
                s += blk
        pos += blk


OPS = {12: concat}
