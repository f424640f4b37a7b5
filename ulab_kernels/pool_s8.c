/*
 * AVERAGE_POOL_2D and MAX_POOL_2D.
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 */

/* ---------------------------------------------------------------------------
 * Pooling
 * ------------------------------------------------------------------------- */
/* some tap o + k (0 <= k < f) of a window lands in [0, size) */
static int touches(int32_t o, int32_t f, int32_t size) {
    return size > 0 && o < size && o + f > 0;
}

static mk_status pool_check(const mk_pool_params *p, const mk_dims *in, const int8_t *input,
                            const mk_dims *out, const int8_t *output, int need_taps) {
    int32_t n_in = mk_dims_count(in), n_out = mk_dims_count(out);
    if (!p || n_in < 0 || n_out < 0 || out->n != in->n || out->c != in->c
        || !all_in(&p->filter_h, 2, 1, MK_MAX_DIM) || !all_in(&p->stride_h, 2, 1, MK_MAX_STEP)
        || !all_in(&p->pad_h, 2, 0, MK_MAX_DIM) || !act_ok(p->act_min, p->act_max)) {
        return MK_ERR_ARG;
    }
    if (n_out == 0) {
        return MK_OK;
    }
    if (!input || !output) {
        return MK_ERR_ARG;
    }
    if (need_taps) {
        /* int32 sums: at most 2^23 taps of |v| <= 128 */
        if ((uint32_t)mul_count(p->filter_h, p->filter_w) > (1u << 23)) {
            return MK_ERR_ARG;
        }
        /* every window must touch the image (the first and last ones are the
         * extremes), along h (k = 0) and w (k = 1) */
        for (int k = 0; k < 2; k++) {
            const int32_t f = (&p->filter_h)[k], pad = (&p->pad_h)[k], size = (&in->h)[k];
            if (!touches(-pad, f, size) || !touches(((&out->h)[k] - 1) * (&p->stride_h)[k] - pad, f, size)) {
                return MK_ERR_ARG;
            }
        }
    }
    return MK_OK;
}

MK_SMALL static mk_status pool(const mk_pool_params *p, const mk_dims *in, const int8_t *input,
                      const mk_dims *out, int8_t *output, int avg) {
    mk_status st = pool_check(p, in, input, out, output, avg);
    if (st != MK_OK || mk_dims_count(out) == 0) {
        return st;
    }
    const int32_t nb = in->n, ih = in->h, iw = in->w, ch = in->c, oh = out->h, ow = out->w;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int quad = avg && !(ch & 3) && !((uintptr_t)input & 3u);
    int8_t *y = output;
    for (int32_t b = 0; b < nb; b++) {
        const int8_t *xb = input + b * ih * iw * ch;
        for (int32_t oy = 0; oy < oh; oy++) {
            int32_t y0 = oy * p->stride_h - p->pad_h, ky0, ky1;
            tap_range(y0, 1, p->filter_h, ih, &ky0, &ky1);
            for (int32_t ox = 0; ox < ow; ox++) {
                int32_t x0 = ox * p->stride_w - p->pad_w, kx0, kx1;
                tap_range(x0, 1, p->filter_w, iw, &kx0, &kx1);
                uint32_t count = (uint32_t)((ky1 - ky0) * (kx1 - kx0));
                for (int32_t c = 0; c < ch;) {
                    int32_t v[4], g = 1;
                    if (quad && count <= 256) {
                        /* AVERAGE_POOL_2D with whole words of channels (the
                         * global pools of kws and person_detect, 64 and 256
                         * channels): four channels a pass, a word a tap, its
                         * bytes as offset binary (x ^ 0x80 = x + 128) in two
                         * 16-bit lanes each of a and b (at most 256 taps of
                         * 255). On the M0: kws's 25x5x64 13.7 -> 5.9
                         * instructions a tap and channel (-Os 17.9 -> 6.4). */
                        uint32_t a = 0, b = 0;
                        for (int32_t ky = ky0; ky < ky1; ky++) {
                            const int8_t *xr = xb + ((y0 + ky) * iw + x0) * ch + c;
                            for (int32_t kx = kx0; kx < kx1; kx++) {
                                const uint32_t u = *(const u32a *)(const void *)(xr + kx * ch) ^ 0x80808080u;
                                a += u & 0x00FF00FFu;
                                b += (u >> 8) & 0x00FF00FFu;
                            }
                        }
                        const int32_t off = (int32_t)(count << 7);
                        v[0] = (int32_t)(a & 0xFFFFu) - off;
                        v[1] = (int32_t)(b & 0xFFFFu) - off;
                        v[2] = (int32_t)(a >> 16) - off;
                        v[3] = (int32_t)(b >> 16) - off;
                        g = 4;
                    } else {
                        v[0] = avg ? 0 : -128;
                        for (int32_t ky = ky0; ky < ky1; ky++) {
                            const int8_t *xr = xb + ((y0 + ky) * iw + x0) * ch + c;
                            for (int32_t kx = kx0; kx < kx1; kx++) {
                                int32_t u = xr[kx * ch];
                                if (avg) {
                                    v[0] += u;
                                } else if (u > v[0]) {
                                    v[0] = u;
                                }
                            }
                        }
                    }
                    for (int32_t j = 0; j < g; j++, c++) {
                        int32_t t = v[j];
                        if (avg) {
                            /* acc > 0 ? (acc + n/2) / n : (acc - n/2) / n, truncating */
                            uint32_t mag = (uint32_t)(t < 0 ? -t : t) + (count >> 1);
                            int32_t qv = (int32_t)udiv_avg(mag, count);
                            t = t < 0 ? -qv : qv;
                        }
                        *y++ = clamp8(t, lo, hi);
                    }
                }
            }
        }
    }
    return MK_OK;
}

mk_status mk_avgpool_s8(const mk_pool_params *p, const mk_dims *in, const int8_t *input,
                        const mk_dims *out, int8_t *output) {
    return pool(p, in, input, out, output, 1);
}

mk_status mk_maxpool_s8(const mk_pool_params *p, const mk_dims *in, const int8_t *input,
                        const mk_dims *out, int8_t *output) {
    return pool(p, in, input, out, output, 0);
}
