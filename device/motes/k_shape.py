# Data movement, int8: RESHAPE / SQUEEZE / EXPAND_DIMS (a copy unless the plan
# aliased output and input), PAD / PADV2 (params: pad_value, pad_before[],
# pad_after[]); CONCATENATION is k_concat.py's.
# qmath only for PAD: a model whose only shape op is RESHAPE (micro_speech,
# person_detect) then never imports it, nor its names (qstrs, kept for good)


def reshape(net, L, ins, outs):
    x = ins[0]
    y = outs[0]
    if x.off != y.off:
        mv = net.mv
        mv[y.off:y.off + y.n] = mv[x.off:x.off + x.n]


def pad(net, L, ins, outs):
    pv, before = L.p[0], L.p[1]
    x = ins[0]
    y = outs[0]
    mv = net.mv
    ol = y.shape[-1]
    row = bytearray(ol)
    for i in range(ol):
        row[i] = pv & 0xFF
    for o in range(y.off, y.off + y.n, ol):
        mv[o:o + ol] = row
    il = x.shape[-1]
    if not x.n:
        return
    from .qmath import walk, strides
    st = strides(y.shape)
    base = y.off
    for k in range(len(st)):
        base += before[k] * st[k]
    src = x.off
    for o, _ in walk(x.shape[:-1], st, st):
        mv[base + o:base + o + il] = mv[src:src + il]
        src += il


OPS = {5: reshape, 17: reshape, 18: reshape, 13: pad, 19: pad}
