# Viper kernels: FULLY_CONNECTED, CONV_2D (grouped; 1x1 fast path),
# DEPTHWISE_CONV_2D, AVERAGE/MAX_POOL_2D. Bit-exact with the pure-Python
# kernels (k_fc, k_conv, k_dwconv, k_pool) and so with TFLM.
#
# Optional: a port without the native emitter (most CircuitPython builds) fails
# to compile this file (SyntaxError) and kernels.py keeps the Python kernels.
#
# 32-bit safety. A viper int is one machine word: 32 bits on ESP32 / RP2040 /
# ESP32-C3, where it wraps silently (64 bits on the x64 unix port). So:
#  - a layer runs here only if |bias| + depth * max|(x + in_off) * (w + w_off)|
#    < 2^30 (and, for a left shift s > 0, that bound << s < 2^30): every partial
#    sum of the accumulator, and the shifted accumulator, fit in 31 bits;
#    otherwise the layer runs in the Python kernel (big ints, exact anywhere);
#  - requantization (TFLM MultiplyByQuantizedMultiplier) multiplies |acc| < 2^30
#    by m < 2^31 in 15/16-bit limbs with explicit carries: every intermediate
#    value is in [-2^31, 2^31) (tests/device/test_viper.py runs the code between the
#    "rq:begin"/"rq:end" markers on numpy int32 words, and a plain Python copy
#    with explicit 32-bit wrapping, against host quant.py);
#  - shifts >= 31 to the right give 0 for such |acc|: stored as m = 0;
#  - int32 arrays read through ptr32 are zero-extended on 64-bit ports, so a
#    signed one (the bias) is sign-extended by hand; no constant needs more
#    than 16 bits (a 32-bit port has 31-bit small ints).
# Viper functions take at most 4 arguments here (older ports' limit): scalars
# go in a tuple P read with int(P[i]).
# replay.py records the calls of _conv and _pool in resident mode and makes
# them again at later inferences: an op's whole effect must be those calls (or,
# where it makes none, its own Python, as _fallback).
import micropython
from micropython import const
from array import array

_LIM = const(0x40000000)  # 2^30: bound on |accumulator| (Python side only)
fallbacks = 0             # layers handed to the Python kernels (could overflow 31 bits)


def _fallback(mod, op, net, L, ins, outs):
    global fallbacks
    fallbacks += 1
    return _module(mod).OPS[op](net, L, ins, outs)


def _module(name):
    return __import__("motes." + name, None, None, ("OPS",))


def _rq(bias, mult, shift, n, macs):
    """array('i') of n x (bias, multiplier, left shift, right shift), or None if
    the layer could overflow 31 bits (then the Python kernel runs it)."""
    bmax = 0
    if bias:
        for b in bias:
            if b > bmax:
                bmax = b
            elif -b > bmax:
                bmax = -b
    bound = macs + bmax
    if bound >= _LIM:
        return None
    pc = len(mult) > 1
    rq = array("i", bytes(16 * n))
    k = 0
    for c in range(n):
        m = mult[c if pc else 0]
        s = shift[c if pc else 0]
        if m < 0 or m >= 2 * _LIM:
            return None
        ls = 0
        e = 0
        if s > 0:
            if (bound << s) >= _LIM:
                return None
            ls = s
        elif s < -30:
            m = 0   # |rounded high product| < 2^30 >> 31 or more rounds to 0
        else:
            e = -s
        rq[k] = bias[c] if bias else 0
        rq[k + 1] = m
        rq[k + 2] = ls
        rq[k + 3] = e
        k += 4
    return rq


# ---- FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D: one kernel ----------------------
# A grouped convolution over the rows r0..r1 of the weights w (a chunk when
# streaming): output channel o of group g reads input channels g*fd..g*fd+fd-1,
# weight (o, ky, kx, c) is at (o - r0) * wso + (ky * fw + kx) * wst + c.
#   CONV_2D: wso = fh * fw * fd, wst = fd; DEPTHWISE: groups = in channels, fd = 1,
#   wso = 1, wst = out channels; FULLY_CONNECTED: a 1x1 conv over a 1 x batches image.
# Interleaved (format 1.2, P[28] = 1): channel o's weights are in the group of
#   8 channels from o & ~7, input-major (a step of min(8, channels left) bytes);
#   the arithmetic is unchanged (FULLY_CONNECTED passes input_offset 0: it is in
#   the bias).
# Taps outside the image are skipped: for each output pixel the kernel rows
# ka..kb-1 and columns ja..jb-1 inside the image are found first. 1x1 windows
# of one group (FULLY_CONNECTED, pointwise CONV_2D) take a plain dot product.
# One function of ~140 lines on purpose: viper does not inline, and a call to
# another viper function per output pixel or channel would pay a Python-level
# call and the unpacking of P each time (the inner loops here are the model's
# MACs); each function more is also a name, a qstr (docs/DEVICE.md, RAM).
@micropython.viper
def _conv(mv: ptr8, w: ptr8, rq: ptr32, P):
    xo0 = int(P[0])
    yo = int(P[1])
    nb = int(P[2])
    ih = int(P[3])
    iw = int(P[4])
    ic = int(P[5])
    oh = int(P[6])
    ow = int(P[7])
    fh = int(P[8])
    fw = int(P[9])
    fd = int(P[10])
    sh = int(P[11])
    sw = int(P[12])
    dh = int(P[13])
    dw = int(P[14])
    ph = int(P[15])
    pw = int(P[16])
    xa = int(P[17]) - 128     # (x ^ 0x80) + xa == int8 x + input_offset
    wa = int(P[18]) - 128     # (w ^ 0x80) + wa == int8 w + filter_offset
    ooff = int(P[19])
    lo = int(P[20])
    hi = int(P[21])
    ngr = int(P[22])
    opg = int(P[23])
    r0 = int(P[24])
    r1 = int(P[25])
    wso = int(P[26])
    wst = int(P[27])
    il = int(P[28])
    oc = ngr * opg
    row = iw * ic
    wrow = fw * wst
    xs = dw * ic
    pt = 0
    if fh == 1 and fw == 1 and ngr == 1:
        pt = 1
    for bt in range(nb):
        xb = xo0 + bt * ih * row
        for oy in range(oh):
            y0 = oy * sh - ph
            ka = 0
            while ka < fh and y0 + ka * dh < 0:
                ka += 1
            kb = fh
            while kb > ka and y0 + (kb - 1) * dh >= ih:
                kb -= 1
            for ox in range(ow):
                x0 = ox * sw - pw
                ja = 0
                while ja < fw and x0 + ja * dw < 0:
                    ja += 1
                jb = fw
                while jb > ja and x0 + (jb - 1) * dw >= iw:
                    jb -= 1
                xp = xb + (x0 + ja * dw) * ic
                dot = 0
                if pt and kb > ka and jb > ja:
                    dot = 1
                g = 0
                oa = 0
                while g < ngr:
                    ob = oa + opg
                    o = oa if oa > r0 else r0
                    oe = ob if ob < r1 else r1
                    while o < oe:
                        k = o << 2
                        bo = rq[k]
                        bh = (bo >> 16) & 0xFFFF
                        acc = (((bh ^ 0x8000) - 0x8000) << 16) | (bo & 0xFFFF)
                        wb = (o - r0) * wso
                        st = 1      # step between the weights of channel o
                        if il:      # groups of 8 channels, input-major; r0 % 8 == 0
                            st = o & 7
                            wb = (o - st - r0) * wso + st
                            st = oc - o + st
                            if st > 8:
                                st = 8
                        wk = wb + ja * wst * st
                        if dot:     # 1x1 window, one group: a dot product
                            xi = xp + y0 * row
                            xe = xi + fd
                            j = wk
                            # four products a pass: viper's loop costs as much as a
                            # product (kws's 64 -> 64 layers on the M3: 64 -> 46
                            # instructions per MAC)
                            x4 = xe - 3
                            s2 = st + st
                            s3 = s2 + st
                            while xi < x4:
                                acc += (((mv[xi] ^ 0x80) + xa) * ((w[j] ^ 0x80) + wa)
                                        + ((mv[xi + 1] ^ 0x80) + xa) * ((w[j + st] ^ 0x80) + wa)
                                        + ((mv[xi + 2] ^ 0x80) + xa) * ((w[j + s2] ^ 0x80) + wa)
                                        + ((mv[xi + 3] ^ 0x80) + xa) * ((w[j + s3] ^ 0x80) + wa))
                                xi += 4
                                j += s2 + s2
                            while xi < xe:
                                acc += ((mv[xi] ^ 0x80) + xa) * ((w[j] ^ 0x80) + wa)
                                xi += 1
                                j += st
                        else:
                            for ky in range(ka, kb):
                                xi = xp + (y0 + ky * dh) * row + g * fd
                                j = wk + ky * wrow * st
                                if fd == 1:     # depthwise, one input channel
                                    # (two taps a pass: kws's depthwise layers on the
                                    # M3 147 -> 133, its 10x4 stem 94 -> 81 instructions per MAC)
                                    ws = wst * st
                                    kx = jb - ja
                                    while kx > 1:
                                        acc += (((mv[xi] ^ 0x80) + xa) * ((w[j] ^ 0x80) + wa)
                                                + ((mv[xi + xs] ^ 0x80) + xa) * ((w[j + ws] ^ 0x80) + wa))
                                        xi += xs + xs
                                        j += ws + ws
                                        kx -= 2
                                    if kx:
                                        acc += ((mv[xi] ^ 0x80) + xa) * ((w[j] ^ 0x80) + wa)
                                else:
                                    s2 = st + st
                                    s3 = s2 + st
                                    for kx in range(ja, jb):
                                        xe = xi + fd
                                        x4 = xe - 3
                                        while xi < x4:      # (four a pass, as the dot product)
                                            acc += (((mv[xi] ^ 0x80) + xa) * ((w[j] ^ 0x80) + wa)
                                                    + ((mv[xi + 1] ^ 0x80) + xa) * ((w[j + st] ^ 0x80) + wa)
                                                    + ((mv[xi + 2] ^ 0x80) + xa) * ((w[j + s2] ^ 0x80) + wa)
                                                    + ((mv[xi + 3] ^ 0x80) + xa) * ((w[j + s3] ^ 0x80) + wa))
                                            xi += 4
                                            j += s2 + s2
                                        while xi < xe:
                                            acc += ((mv[xi] ^ 0x80) + xa) * ((w[j] ^ 0x80) + wa)
                                            xi += 1
                                            j += st
                                        xi += xs - fd
                                        j += (wst - fd) * st
                        m = rq[k + 1]
                        e = rq[k + 3]
                        acc = acc << rq[k + 2]
                        # rq:begin
                        ng = (acc >> 31) & 1
                        a = (acc ^ (0 - ng)) + ng
                        a1 = a >> 15
                        a0 = a & 0x7FFF
                        m1 = m >> 16
                        m0 = m & 0xFFFF
                        t1 = a1 * m0
                        t2 = a0 * m1
                        t0 = a0 * m0
                        u = (t1 & 0xFFFF) << 15
                        lw = (u & 0xFFFF) + (t0 & 0xFFFF) + ((0 - ng) & 0xFFFF)
                        hw = (u >> 16) + (t2 & 0x7FFF) + (t0 >> 16) + 0x4000 - ng + (lw >> 16)
                        q = a1 * m1 + (t1 >> 16) + (t2 >> 15) + (hw >> 15)
                        q = (q ^ (0 - ng)) + ng
                        mk = (1 << e) - 1
                        th = (mk >> 1) + ng
                        r = (q >> e) + (((th - (q & mk)) >> 31) & 1)
                        # rq:end
                        r += ooff
                        if r < lo:
                            r = lo
                        elif r > hi:
                            r = hi
                        mv[yo + o] = r
                        o += 1
                    g += 1
                    oa = ob
                yo += oc


def _run(net, L, x, y, rq, geo, filter_offset, ngr, opg, wso, wst, dw_weights=False):
    # geo: (nb, ih, iw, ic, oh, ow, fh, fw, fd, sh, sw, dh, dw, ph, pw, input_offset,
    #       output_offset, act_min, act_max) in the order _conv reads them
    head = (x.off, y.off) + geo[:16] + (filter_offset,) + geo[16:]
    if dw_weights:
        _conv(net.mv, net.const(L, 0), rq, head + (ngr, opg, 0, opg * ngr, wso, wst, 0))
        return
    for r0, r1, w in net.rows(L, 0, wso):
        _conv(net.mv, w, rq, head + (ngr, opg, r0, r1, wso, wst, L.op >> 6))


def fully_connected(net, L, ins, outs):
    ioff, foff, ooff, lo, hi = L.p
    x = ins[0]
    y = outs[0]
    oc, depth = L.refs[0].shape
    if L.op & 64:       # interleaved (format 1.2): the input offset is in the bias
        ioff = 0
    rq = None
    if L.refs[0].dtype == 0:
        rq = _rq(net.const(L, 1), net.const(L, 2), net.const(L, 3), oc,
                 depth * (128 + abs(ioff)) * (128 + abs(foff)))
    if rq is None:
        return _fallback("k_fc", L.op, net, L, ins, outs)
    nb = x.n // depth
    _run(net, L, x, y, rq, (1, 1, nb, depth, 1, nb, 1, 1, depth, 1, 1, 1, 1, 0, 0, ioff, ooff, lo, hi),
         foff, 1, oc, depth, depth)


def conv(net, L, ins, outs):
    sh, sw, dh, dw, ph, pw, ioff, ooff, lo, hi = L.p
    x = ins[0]
    y = outs[0]
    oc, fh, fw, fd = L.refs[0].shape
    nb, ih, iw, ic = x.shape
    oh, ow = y.shape[1], y.shape[2]
    rl = fh * fw * fd
    rq = None
    if L.refs[0].dtype == 0 and 0 < fd and ic % fd == 0:
        rq = _rq(net.const(L, 1), net.const(L, 2), net.const(L, 3), oc, rl * (128 + abs(ioff)) * 128)
    if rq is None:
        return _fallback("k_conv", L.op, net, L, ins, outs)
    ngr = ic // fd
    _run(net, L, x, y, rq, (nb, ih, iw, ic, oh, ow, fh, fw, fd, sh, sw, dh, dw, ph, pw, ioff, ooff, lo, hi),
         0, ngr, oc // ngr, rl, fd)


def depthwise(net, L, ins, outs):
    sh, sw, dh, dw, ph, pw, dm, ioff, ooff, lo, hi = L.p
    x = ins[0]
    y = outs[0]
    fh, fw, oc = L.refs[0].shape[1:]
    nb, ih, iw, ic = x.shape
    oh, ow = y.shape[1], y.shape[2]
    rq = None
    if L.refs[0].dtype == 0 and ic * dm == oc:
        rq = _rq(net.const(L, 1), net.const(L, 2), net.const(L, 3), oc, fh * fw * (128 + abs(ioff)) * 128)
    if rq is None:
        return _fallback("k_dwconv", 2, net, L, ins, outs)
    _run(net, L, x, y, rq, (nb, ih, iw, ic, oh, ow, fh, fw, 1, sh, sw, dh, dw, ph, pw, ioff, ooff, lo, hi),
         0, ic, dm, 1, oc, True)


# ---- AVERAGE_POOL_2D / MAX_POOL_2D --------------------------------------------------
# Windows are clipped to the image; the average rounds half away from zero. Its
# division is an 8-step restoring division: |sum| + n/2 < 129 n < 256 n.
@micropython.viper
def _pool(mv: ptr8, P):
    xo0 = int(P[0])
    yo = int(P[1])
    nb = int(P[2])
    ih = int(P[3])
    iw = int(P[4])
    c = int(P[5])
    oh = int(P[6])
    ow = int(P[7])
    fh = int(P[8])
    fw = int(P[9])
    sh = int(P[10])
    sw = int(P[11])
    ph = int(P[12])
    pw = int(P[13])
    lo = int(P[14])
    hi = int(P[15])
    avg = int(P[16])
    row = iw * c
    for bt in range(nb):
        xb = xo0 + bt * ih * row
        for oy in range(oh):
            y0 = oy * sh - ph
            ys = 0 - y0 if y0 < 0 else 0
            ye = ih - y0 if ih - y0 < fh else fh
            if ye < ys:
                ye = ys
            for ox in range(ow):
                x0 = ox * sw - pw
                xs = 0 - x0 if x0 < 0 else 0
                xe = iw - x0 if iw - x0 < fw else fw
                if xe < xs:
                    xe = xs
                n = (ye - ys) * (xe - xs)
                for ch in range(c):
                    if avg:
                        v = 0
                    else:
                        v = -128
                    for ky in range(ys, ye):
                        xi = xb + (y0 + ky) * row + (x0 + xs) * c + ch
                        for kx in range(xs, xe):
                            t = (mv[xi] ^ 0x80) - 128
                            if avg:
                                v += t
                            elif t > v:
                                v = t
                            xi += c
                    if avg and n > 0:
                        # div:begin
                        ng = 0
                        if v <= 0:
                            ng = 1
                            v = 0 - v
                        u = v + (n >> 1)
                        v = 0
                        b = 7
                        while b >= 0:
                            t = n << b
                            if u >= t:
                                u -= t
                                v += 1 << b
                            b -= 1
                        if ng:
                            v = 0 - v
                        # div:end
                    if v < lo:
                        v = lo
                    elif v > hi:
                        v = hi
                    mv[yo] = v
                    yo += 1


def pool(net, L, ins, outs):
    fh, fw, sh, sw, ph, pw, lo, hi = L.p
    x = ins[0]
    y = outs[0]
    nb, ih, iw, c = x.shape
    oh, ow = y.shape[1], y.shape[2]
    _pool(net.mv, (x.off, y.off, nb, ih, iw, c, oh, ow, fh, fw, sh, sw, ph, pw, lo, hi,
                   1 if L.op == 3 else 0))


OPS = {0: fully_connected, 1: conv, 2: depthwise, 3: pool, 4: pool, 64: fully_connected, 65: conv}
