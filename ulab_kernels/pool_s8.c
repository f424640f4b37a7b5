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
    const int32_t lo = p->act_min, hi = p->act_max, lstep = iw * ch;
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
                /* the offset of the window's first tap on the image (made a
                 * pointer only on a line with taps: a MAX_POOL_2D window may
                 * have none), the bytes of its lines' taps */
                const int32_t o1 = ((y0 + ky0) * iw + x0 + kx0) * ch;
                const int32_t run = (kx1 - kx0) * ch;
                for (int32_t c = 0; c < ch; c++) {
                    int32_t v = avg ? 0 : -128;
                    /* (pointers a tap and a line, and the op's own loop: this
                     * function is built without loop optimisations, MK_SMALL,
                     * which left kx * ch, the line's offset and the avg test
                     * in the loops; kws's global pool, 25x5x64, 13.7 -> 9.8
                     * instructions a tap on the M0) */
                    for (int32_t ky = ky0, ol = o1 + c; ky < ky1; ky++, ol += lstep) {
                        const int8_t *xr = xb + ol, *const xe = xr + run;
                        if (avg) {
                            for (; xr != xe; xr += ch) {
                                v += *xr;
                            }
                        } else {
                            for (; xr != xe; xr += ch) {
                                v = *xr > v ? *xr : v;
                            }
                        }
                    }
                    if (avg) {
                        /* acc > 0 ? (acc + n/2) / n : (acc - n/2) / n, truncating */
                        uint32_t mag = (uint32_t)(v < 0 ? -v : v) + (count >> 1);
                        int32_t qv = (int32_t)udiv_avg(mag, count);
                        v = v < 0 ? -qv : qv;
                    }
                    *y++ = clamp8(v, lo, hi);
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
