# AVERAGE_POOL_2D and MAX_POOL_2D, int8, pure Python. Params (file order):
# filter_h, filter_w, stride_h, stride_w, pad_h, pad_w, act_min, act_max.
# Windows are clipped to the image; the average rounds half away from zero.
from .qmath import stab


def _pool(net, L, ins, outs):
    fh, fw, sh, sw, ph, pw, lo, hi = L.p
    avg = L.op == 3
    x = ins[0]
    y = outs[0]
    nb, ih, iw, c = x.shape
    oh, ow = y.shape[1], y.shape[2]
    xt = stab(0)
    mv = net.mv
    acc = [0] * c
    yo = y.off
    for b in range(nb):
        xb = x.off + b * ih * iw * c
        for oy in range(oh):
            y0 = oy * sh - ph
            ys = max(0, -y0)
            ye = min(fh, ih - y0)
            for ox in range(ow):
                x0 = ox * sw - pw
                xs = max(0, -x0)
                xe = min(fw, iw - x0)
                for ch in range(c):
                    acc[ch] = 0 if avg else -128
                for ky in range(ys, ye):
                    rb = xb + ((y0 + ky) * iw + x0) * c
                    for kx in range(xs, xe):
                        i = rb + kx * c
                        if avg:
                            for ch in range(c):
                                acc[ch] += xt[mv[i]]
                                i += 1
                        else:
                            for ch in range(c):
                                v = xt[mv[i]]
                                if v > acc[ch]:
                                    acc[ch] = v
                                i += 1
                n = (ye - ys) * (xe - xs)
                h = n >> 1
                for ch in range(c):
                    v = acc[ch]
                    if avg:
                        v = (v + h) // n if v > 0 else -((h - v) // n)
                    mv[yo] = (lo if v < lo else hi if v > hi else v) & 0xFF
                    yo += 1


OPS = {3: _pool, 4: _pool}
