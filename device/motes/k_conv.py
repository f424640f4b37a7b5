# CONV_2D (incl. grouped), int8, pure Python.
# Params (file order): stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w,
# input_offset, output_offset, act_min, act_max.
# Constants: weights, bias, multiplier, shift (one multiplier/shift per tensor
# or per output channel). Taps outside the image are skipped (TFLM).
# Op 65: the interleaved layout of format 1.2 (groups of 8 output channels,
# input-major, no groups); the bias and the arithmetic are those of op 1.
from array import array
from .qmath import mbqm, stab


def conv(net, L, ins, outs):
    sh, sw, dh, dw, ph, pw, ioff, ooff, lo, hi = L.p
    x = ins[0]
    y = outs[0]
    oc, fh, fw, fd = L.refs[0].shape
    nb, ih, iw, ic = x.shape
    oh, ow = y.shape[1], y.shape[2]
    opg = oc // (ic // fd)         # output channels per group
    rl = fh * fw * fd
    bias = net.const(L, 1)
    mult = net.const(L, 2)
    shift = net.const(L, 3)
    pc = len(mult) > 1
    il = L.op & 64
    xt = stab(ioff)
    mv = net.mv
    # (input + input_offset) under the window, 0 off the image; int16 = half a list's RAM
    patch = array("h", bytes(2 * rl))
    for r0, r1, w in net.rows(L, 0, rl):
        for b in range(nb):
            xb = x.off + b * ih * iw * ic
            for oy in range(oh):
                y0 = oy * sh - ph
                for ox in range(ow):
                    x0 = ox * sw - pw
                    yo = y.off + ((b * oh + oy) * ow + ox) * oc
                    g = -1
                    for o in range(r0, r1):
                        if o // opg != g:
                            g = o // opg
                            k = 0
                            for ky in range(fh):
                                iy = y0 + ky * dh
                                rb = xb + iy * iw * ic + g * fd
                                for kx in range(fw):
                                    ix = x0 + kx * dw
                                    if 0 <= iy < ih and 0 <= ix < iw:
                                        i = rb + ix * ic
                                        for i in range(i, i + fd):
                                            patch[k] = xt[mv[i]]
                                            k += 1
                                    else:
                                        for _ in range(fd):
                                            patch[k] = 0
                                            k += 1
                        acc = bias[o] if bias else 0
                        k = (o - r0) * rl
                        n = 1           # step between the weights of channel o
                        if il:          # chunks are whole groups: r0 is a multiple of 8
                            n = o & 7
                            k = (o - n - r0) * rl + n
                            n = min(8, oc - o + n)
                        for v in patch:
                            acc += v * w[k]
                            k += n
                        c = o if pc else 0
                        v = mbqm(acc, mult[c], shift[c]) + ooff
                        mv[yo + o] = (lo if v < lo else hi if v > hi else v) & 0xFF


OPS = {1: conv, 65: conv}
