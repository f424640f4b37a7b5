# DEPTHWISE_CONV_2D, int8, pure Python. Params (file order): stride_h,
# stride_w, dilation_h, dilation_w, pad_h, pad_w, depth_multiplier,
# input_offset, output_offset, act_min, act_max. Constants: weights
# [1, kh, kw, in * multiplier], bias, multiplier, shift. Taps outside the image
# are skipped (TFLM).
from .qmath import mbqm, stab


def depthwise(net, L, ins, outs):
    sh, sw, dh, dw, ph, pw, dm, ioff, ooff, lo, hi = L.p
    x = ins[0]
    y = outs[0]
    fh, fw, oc = L.refs[0].shape[1:]
    nb, ih, iw, ic = x.shape
    oh, ow = y.shape[1], y.shape[2]
    w = net.const(L, 0)
    bias = net.const(L, 1)
    mult = net.const(L, 2)
    shift = net.const(L, 3)
    if len(mult) == 1:
        mult = [mult[0]] * oc
        shift = [shift[0]] * oc
    xt = stab(ioff)
    mv = net.mv
    acc = [0] * oc
    for b in range(nb):
        xb = x.off + b * ih * iw * ic
        for oy in range(oh):
            y0 = oy * sh - ph
            for ox in range(ow):
                x0 = ox * sw - pw
                for o in range(oc):
                    acc[o] = bias[o] if bias else 0
                for ky in range(fh):
                    iy = y0 + ky * dh
                    if iy < 0 or iy >= ih:
                        continue
                    rb = xb + iy * iw * ic
                    for kx in range(fw):
                        ix = x0 + kx * dw
                        if ix < 0 or ix >= iw:
                            continue
                        i = rb + ix * ic
                        k = (ky * fw + kx) * oc
                        if dm == 1:
                            for o in range(oc):
                                acc[o] += xt[mv[i]] * w[k]
                                i += 1
                                k += 1
                        else:
                            o = 0
                            for i in range(i, i + ic):
                                v = xt[mv[i]]
                                for _ in range(dm):
                                    acc[o] += v * w[k]
                                    o += 1
                                    k += 1
                yo = y.off + ((b * oh + oy) * ow + ox) * oc
                for o in range(oc):
                    v = mbqm(acc[o], mult[o], shift[o]) + ooff
                    mv[yo + o] = (lo if v < lo else hi if v > hi else v) & 0xFF


OPS = {2: depthwise}
