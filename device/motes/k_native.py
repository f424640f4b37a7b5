# Native kernels: the C module motes_native (built from ulab_kernels/, a .mpy
# on sys.path or part of the firmware) for FULLY_CONNECTED, CONV_2D,
# DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, MAX_POOL_2D, ADD, SUB, MUL, SOFTMAX,
# LOGISTIC, TANH and MEAN (API 4). Drop-in
# replacements of the Python kernels (same signature, same int8 results); this
# module is imported only when the 'native' backend is chosen.
#
# Each call passes one array('i') of dims and params (layout in
# ulab_kernels/modmotes.c: a 15-int head, then the op's params in file order)
# and the buffers: the arena (inputs and outputs at their offsets) and the
# layer's constants. Streaming mode hands weight rows over chunk by chunk.
# API 3: fc and conv take one more int, 1 for an interleaved layer (format 1.2,
# op 64 / 65), whose weights the C side takes as offset binary (w ^ 0x80):
# a streamed chunk is flipped (_n.flip) before the call, resident weights once
# at load (reader._decode_all). A layer the C side cannot take (_typed) runs in the Python
# kernel with the weights as stored. An interleaved FULLY_CONNECTED also
# takes its requantization prepared once (_rq_table, kept in net._rq by the
# weights' file position): about 20 fewer instructions per output on ARMv6-M.
from array import array

import motes_native as _n

# (every name here is a qstr, kept for good on the board: the functions are
# called as the C functions they wrap, and the fallback module's name comes
# from kernels' table, not from strings of this module: docs/DEVICE.md, RAM)


def _typed(L):
    # constants of the dtypes the C side checks (weights, bias, multiplier,
    # shift); else the Python kernel runs
    for r, dt in zip(L.refs, (0, 3, 3, 0)):
        if r and r.dtype != dt:
            return False
    return True


def _fallback(op, net, L, ins, outs):
    # the op's pure-Python kernel
    from .kernels import _module, _py_module
    return _module(_py_module(op & 63)).OPS[op](net, L, ins, outs)


def _rq_table(mult, shift, n, ooff, lo):
    # ulab_kernels/motes_kernels.h MK_RQ_WORDS: 5 ints per output channel
    t = array("i")
    for o in range(n):
        k = o if len(mult) > 1 else 0
        m = mult[k]
        s = shift[k]
        if s > 127:                      # (bytes: unsigned)
            s -= 256
        if m >= 0 and -13 <= s <= -1:
            t.extend((m & 0x7FF, (m >> 11) & 0x7FF, m >> 22, (1 << (8 - s)) + 256 + (ooff - lo) * (1 << (9 - s)), 9 - s))
        else:
            t.extend((0, 0, 0, 1 << 30, 0))
    return t


def fc(net, L, ins, outs):
    if not _typed(L):
        return _fallback(L.op, net, L, ins, outs)
    x = ins[0]
    y = outs[0]
    out_ch, depth = L.refs[0].shape
    nb = x.n // depth
    p = array("i", (x.off, nb, 1, 1, depth, y.off, nb, 1, 1, out_ch, 0, 1, 1, depth, 0))
    p.extend(L.p)
    p.append(L.op >> 6)
    bias = net.const(L, 1)
    mult = net.const(L, 2)
    shift = net.const(L, 3)
    table = None
    if p[20]:
        rq = net._rq
        if rq is None:
            rq = net._rq = {}
        table = rq.get(L.refs[0].pos)
        if table is None:
            table = rq[L.refs[0].pos] = _rq_table(mult, shift, out_ch, p[17], p[18])
    mv = net.mv
    fc = _n.fc
    for r0, r1, w in net.rows(L, 0, depth):
        p[10] = r1 - r0
        p[14] = r0
        if p[20] and L.consts[0] is None:   # a streamed interleaved chunk
            _n.flip(w, p[10] * depth)
        fc(p, mv, mv, w, bias, mult, shift, table)


def conv(net, L, ins, outs):
    if not _typed(L):
        return _fallback(L.op, net, L, ins, outs)
    x = ins[0]
    y = outs[0]
    oc, fh, fw, fd = L.refs[0].shape
    nb, ih, iw, ic = x.shape
    p = array("i", (x.off, nb, ih, iw, ic, y.off, nb, y.shape[1], y.shape[2], oc, 0, fh, fw, fd, 0))
    p.extend(L.p)
    p.append(L.op >> 6)
    rl = fh * fw * fd
    scratch = bytearray(rl)
    bias = net.const(L, 1)
    mult = net.const(L, 2)
    shift = net.const(L, 3)
    mv = net.mv
    cv = _n.conv
    for r0, r1, w in net.rows(L, 0, rl):
        p[10] = r1 - r0
        p[14] = r0
        if p[25] and L.consts[0] is None:   # a streamed interleaved chunk
            _n.flip(w, p[10] * rl)
        cv(p, mv, mv, w, bias, mult, shift, scratch)


def dwconv(net, L, ins, outs):
    if not _typed(L):
        return _fallback(2, net, L, ins, outs)
    x = ins[0]
    y = outs[0]
    _, fh, fw, oc = L.refs[0].shape
    nb, ih, iw, ic = x.shape
    p = array("i", (x.off, nb, ih, iw, ic, y.off, nb, y.shape[1], y.shape[2], oc, 1, fh, fw, oc, 0))
    p.extend(L.p)
    _n.dwconv(p, net.mv, net.mv, net.const(L, 0), net.const(L, 1), net.const(L, 2), net.const(L, 3))


def pool(net, L, ins, outs):
    x = ins[0]
    y = outs[0]
    nb, ih, iw, c = x.shape
    p = array("i", (x.off, nb, ih, iw, c, y.off, nb, y.shape[1], y.shape[2], c, 0, 0, 0, 0, 0))
    p.extend(L.p)
    p.append(1 if L.op == 3 else 0)     # AVERAGE_POOL_2D, else MAX_POOL_2D
    _n.pool(p, net.mv, net.mv)


def _shape(p, shape):
    p.append(len(shape))
    for d in shape:
        p.append(d)
    for _ in range(len(shape), 6):
        p.append(1)


def elem(net, L, ins, outs):
    # operands: a layer constant (int8 array) or an activation in the arena
    ops = []
    k = 0
    for slot in (0, 1):
        r = L.refs[slot] if L.refs else None
        if r is not None:
            if r.dtype != 0:
                return _fallback(L.op, net, L, ins, outs)
            ops.append((net.const(L, slot), 0, r.shape))
        else:
            t = ins[k]
            k += 1
            ops.append((net.mv, t.off, t.shape))
    y = outs[0]
    (a, ao, sa), (b, bo, sb) = ops
    if len(sa) > 6 or len(sb) > 6 or len(y.shape) > 6:
        return _fallback(L.op, net, L, ins, outs)
    p = array("i", L.p)
    p.append(L.op)
    p.append(ao)
    p.append(bo)
    p.append(y.off)
    _shape(p, sa)
    _shape(p, sb)
    _shape(p, y.shape)
    _n.elem(p, a, b, net.mv)


def unary(net, L, ins, outs):
    # SOFTMAX, LOGISTIC, TANH, MEAN (modmotes.c unary: op, offsets, the input's
    # shape, MEAN's axes as a mask, 9 params)
    x = ins[0]
    if len(x.shape) > 6:
        return _fallback(L.op, net, L, ins, outs)
    p = array("i", (L.op, x.off, outs[0].off))
    _shape(p, x.shape)
    q = L.p
    m = 0
    if L.op == 11:                      # MEAN: axes[] -> a mask (others ignored, as k_mean)
        for a in q[0]:
            if 0 <= a < len(x.shape):
                m |= 1 << a
        q = q[1:]
    p.append(m)
    p.extend(q)
    for _ in range(len(q), 9):
        p.append(0)
    _n.unary(p, net.mv, net.mv)


OPS = {0: fc, 1: conv, 2: dwconv, 3: pool, 4: pool, 9: elem, 10: elem, 20: elem,
       6: unary, 7: unary, 8: unary, 11: unary, 64: fc, 65: conv}
