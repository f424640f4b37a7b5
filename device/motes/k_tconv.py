# TRANSPOSE_CONV, int8, pure Python (host/motes/ops/transpose_conv.py: every
# input pixel scattered through each filter tap, int32 sums requantized per
# channel). Params: stride_h, stride_w, pad_h, pad_w, input_offset,
# output_offset, act_min, act_max; constants weights [out, kh, kw, in], bias,
# multiplier, shift.
from .qmath import mbqm, wrap32


def tconv(net, L, ins, outs):
    sh, sw, ph, pw, ioff, ooff, lo, hi = L.p
    w = net.const(L, 0)
    b = net.const(L, 1)
    m = net.const(L, 2)
    s = net.const(L, 3)
    x = ins[0]
    y = outs[0]
    _, ih, iw, ic = x.shape
    _, oh, ow, oc = y.shape
    o_, fh, fw, i_ = L.refs[0].shape
    if o_ != oc or i_ != ic or len(m) not in (1, oc) or len(s) != len(m) or b is not None and len(b) != oc:
        raise ValueError("bad dims")
    for j in range(len(m)):
        # as the verifier checks CONV_2D's at load (docs/FORMAT.md, Verification)
        if m[j] < 0 or s[j] < -63 or s[j] > 31:
            raise ValueError("constant %d holds %d, outside %d..%d" % (
                (2, m[j], 0, 0x7FFFFFFF) if m[j] < 0 else (3, s[j], -63, 31)))
    acc = [0] * (oh * ow * oc)
    wo = fh * fw * ic           # from one output channel's weights to the next's
    mv = net.mv
    xs = [0] * ic
    for iy in range(ih):
        for ix in range(iw):
            k = x.off + (iy * iw + ix) * ic
            for c in range(ic):
                v = mv[k + c]
                xs[c] = (v - 256 if v > 127 else v) + ioff
            for ky in range(fh):
                oy = iy * sh - ph + ky
                if oy < 0 or oy >= oh:
                    continue
                for kx in range(fw):
                    ox = ix * sw - pw + kx
                    if ox < 0 or ox >= ow:
                        continue
                    a = (oy * ow + ox) * oc
                    t = (ky * fw + kx) * ic
                    for co in range(oc):
                        u = 0
                        for c in range(ic):
                            u += xs[c] * w[t + c]
                        acc[a + co] += u
                        t += wo
    per = len(m) > 1
    for i in range(oh * ow * oc):
        co = i % oc
        v = acc[i] + (b[co] if b is not None else 0)
        v = mbqm(wrap32(v), m[co if per else 0], s[co if per else 0]) + ooff
        mv[y.off + i] = (lo if v < lo else hi if v > hi else v) & 0xFF


OPS = {34: tconv}
