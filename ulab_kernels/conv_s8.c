/*
 * CONV_2D (FULLY_CONNECTED has its own entry: fully_connected_s8.c).
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 */

/* ---------------------------------------------------------------------------
 * CONV_2D
 * ------------------------------------------------------------------------- */
int32_t mk_convolve_s8_scratch_size(const mk_conv_params *p, const mk_dims *in, const mk_dims *filter) {
    (void)p;
    (void)in;
    return mul_count(mul_count(filter->h, filter->w), filter->c);
}

/* What stays the same over a layer for im2col_runs: the window's lines, their
 * step in the input and their bytes, the pad byte (one pointer instead of
 * four arguments a pixel) */
typedef struct {
    int32_t fh, lstep, brun, pad;
} im2col_lines;

/* im2col of a window whose lines are runs of the input (dilation 1, one
 * group, the run not whole words: shallow inputs, as the 1-channel stems of
 * kws and micro_speech): line ky from x + ky * lstep, its bytes ba .. bb - 1
 * on the image and pads around, the lines outside ky0 .. ky1 - 1 all pads.
 * A function of its own: inside mk_convolve_s8's loop nest the compiler kept none of
 * these in registers (kws's 10x4 stem on the M0: about 84 instructions a
 * line there, 34 here) */
__attribute__((noinline)) static void im2col_runs(int8_t *pp, const int8_t *x, int32_t ky0, int32_t ky1,
                                                  int32_t ba, int32_t bb, const im2col_lines *L) {
    const int32_t fh = L->fh, lstep = L->lstep, brun = L->brun;
    const uint8_t pad = (uint8_t)L->pad;
    uint8_t *d = (uint8_t *)pp;
    const uint8_t *sl = (const uint8_t *)x;
    for (int32_t ky = 0; ky < fh; ky++, sl += lstep, d += brun) {
        /* (the line's bytes on the image: a .. b - 1) */
        const int32_t on = ky >= ky0 && ky < ky1, a = on ? ba : brun, b = on ? bb : brun;
        int32_t i = 0;
        for (; i < a; i++) {
            d[i] = pad;
        }
        for (; i < b; i++) {
            d[i] = sl[i];
        }
        for (; i < brun; i++) {
            d[i] = pad;
        }
    }
}

MK_SMALL mk_status mk_convolve_s8(const mk_ctx *ctx, const mk_conv_params *p, const mk_quant *q,
                                  const mk_dims *in, const int8_t *input,
                                  const mk_dims *filter, const int8_t *weights,
                                  const int32_t *bias,
                                  const mk_dims *out, int8_t *output) {
    int32_t n_in = mk_dims_count(in), n_f = mk_dims_count(filter), n_out = mk_dims_count(out);
    if (!conv_args_ok(p, q, n_in, n_f, n_out, out->c)) {
        return MK_ERR_ARG;
    }
    const int32_t nb = in->n, ih = in->h, iw = in->w, ic = in->c;
    const int32_t oh = out->h, ow = out->w, oc = out->c;
    const int32_t fh = filter->h, fw = filter->w, fd = filter->c, rows = filter->n;
    const int32_t start = p->out_ch_start;
    if (out->n != nb || fd < 1 || fh < 1 || fw < 1 || ic < fd || start < 0 || start > oc || rows > oc - start
        || p->input_offset < -127 || p->input_offset > 128   /* -(an int8 zero point) */
        || (p->interleaved && (fd != ic || !il_ok(start, rows, oc, 1)))) {
        return MK_ERR_ARG;
    }
    /* groups = ic / fd exactly, and oc a multiple of groups */
    int32_t groups = fd == ic ? 1 : (int32_t)udiv32((uint32_t)ic, (uint32_t)fd);
    if (groups * fd != ic) {
        return MK_ERR_ARG;
    }
    int32_t opg = groups == 1 ? oc : (int32_t)udiv32((uint32_t)oc, (uint32_t)groups);
    if (opg * groups != oc) {
        return MK_ERR_ARG;
    }
    int32_t rl = mul_count(mul_count(fh, fw), fd);
    if (rl < 0) {
        return MK_ERR_ARG;
    }
    if (rows == 0 || n_out == 0) {
        return MK_OK;
    }
    if ((!input && n_in) || (!weights && n_f) || !output) {
        return MK_ERR_ARG;
    }
    if (!ctx || !ctx->buf || ctx->size < rl || ((uintptr_t)ctx->buf & 1u)) {
        return MK_ERR_SCRATCH;
    }
    const int32_t sh = p->stride_h, sw = p->stride_w, dh = p->dilation_h, dw = p->dilation_w;
    const int32_t ioff = p->input_offset, ooff = p->output_offset, lo = p->act_min, hi = p->act_max;
    const outq oq = {ooff, lo, hi};
    const int il = p->interleaved;
    /* group of the first output channel of the chunk */
    int32_t g0 = 0, g0_end = opg;
    while (start >= g0_end) {
        g0++;
        g0_end += opg;
    }
    /* Output channels in stripes of up to CONV_STRIPE within one group. For
     * each: the sums start at bias + input_offset * sum(w) (so the dot
     * products take the raw input), then every output pixel: im2col of the
     * raw int8 input into the patch (-input_offset off the image: it adds
     * nothing), and rows_s8: row by row (row-major weights), or il_vectors:
     * eight output channels per pass (interleaved, dot8_4 with the
     * requantization). */
    int8_t *patch = (int8_t *)ctx->buf;
    const int8_t pad = (int8_t)-ioff;
    const int words = !((fd | ic) & 3) && !(((uintptr_t)input | (uintptr_t)patch) & 3u);
    const int32_t run = words && dw == 1 && fd == ic ? (fw * fd) >> 2 : 0;   /* words of a window line */
    const int32_t brun = dw == 1 && fd == ic ? fw * fd : 0;                   /* or its bytes */
    const im2col_lines lines = {fh, dh * iw * ic, brun, pad};
    /* interleaved 1x1, stride 1, no padding: a matrix product over the pixels,
     * as FULLY_CONNECTED's batches (il_vectors: no tap ranges, no patch) */
    const int flat = il && fh == 1 && fw == 1 && sh == 1 && sw == 1 && !p->pad_h && !p->pad_w
                     && oh == ih && ow == iw;
    /* With input_offset 128 (an input zero point of -128, as after a ReLU)
     * the ARMv6-M dot products (dot8_4) take x + 128 as unsigned bytes from
     * a copy, the patch (flip: whole aligned words, at most 512 for
     * flip_words' lanes; a last group of fewer than 8 rows reads it too, in
     * dot8): the sums then start at the bias, no weights to sum
     * (person_detect summed 282K weights an inference) */
    uint8_t *flip = 0;
#ifdef THUMB1_DOT8
    if (il && ioff == 128 && !(rl & 3) && rl <= 512 && !(((uintptr_t)input | (uintptr_t)patch) & 3u)) {
        flip = (uint8_t *)patch;
    }
#endif
    const int32_t xo = flip ? 0 : ioff;
    int32_t sums[CONV_STRIPE];
    rqc rc[CONV_STRIPE];
    const int8_t *w = weights;
    int32_t o = start, g = g0, g_end = g0_end;
    while (o < start + rows) {
        int32_t e = o + CONV_STRIPE < g_end ? o + CONV_STRIPE : g_end;
        e = e < start + rows ? e : start + rows;
        rq_prep(rc, q, o, e - o, &oq);
        /* (maxb: the sums' largest start, for flip, where it is the bias: with
         * x + 128, a vector's sums are within 128 sum(x + 128) of it, and
         * rq_fast's range check can go) */
        int32_t maxb = 0;
        for (int32_t r = 0; r < e - o; r++) {
            /* bias + input_offset * sum(w): row-major row r at w + r rl; interleaved
             * (offset binary u = w + 128): -128 rl input_offset here, the rest below */
            uint32_t a = bias ? (uint32_t)bias[o + r] : 0u;
            uint32_t ws = il ? (uint32_t)rl * 0xFFFFFF80u
                          : !ioff ? 0u : sum_s8(w + r * rl, rl);
            const uint32_t v = a + (uint32_t)xo * ws, m = (int32_t)v < 0 ? 0u - v : v;
            sums[r] = (int32_t)v;
            maxb = m > (uint32_t)maxb ? (m < (1u << 19) ? (int32_t)m : 1 << 19) : maxb;
        }
        if (il && xo) {
            /* input_offset * sum(u), the rows' sums by il_sums */
            for (int32_t r8 = 0; r8 < e - o; r8 += 8) {
                uint32_t t[8];
                const int32_t R = e - o - r8 < 8 ? e - o - r8 : 8;
                il_sums((const uint8_t *)w + r8 * rl, rl, R, t);
                for (int32_t j = 0; j < R; j++) {
                    sums[r8 + j] = (int32_t)((uint32_t)sums[r8 + j] + (uint32_t)xo * t[j]);
                }
            }
        }

        if (flat) {
            il_vectors(input, nb * ih * iw, ic, (const uint8_t *)w, e - o, o, sums, rc, q, &oq, output, oc, flip, maxb);
        } else {
            int8_t *y = output;
            for (int32_t b = 0; b < nb; b++) {
                const int8_t *xg = input + b * ih * iw * ic + g * fd;
                for (int32_t oy = 0; oy < oh; oy++) {
                    int32_t y0 = oy * sh - p->pad_h, ky0, ky1;
                    tap_range(y0, dh, fh, ih, &ky0, &ky1);
                    for (int32_t ox = 0; ox < ow; ox++, y += oc) {
                        int32_t x0 = ox * sw - p->pad_w, kx0, kx1;
                        tap_range(x0, dw, fw, iw, &kx0, &kx1);
                        const int8_t *xp = patch;
                        if (fh == 1 && fw == 1 && ky0 < ky1 && kx0 < kx1) {
                            /* 1x1 on the image: the input pixel is the patch */
                            xp = xg + (y0 * iw + x0) * ic;
                        } else {
                            /* im2col into the patch */
                            int8_t *pp = patch;
                            const int32_t full = kx0 == 0 && kx1 == fw ? run : 0;
                            /* (the part of a window line on the image, in bytes; the
                             * line's offset in the input, a line of taps apart) */
                            const int32_t ba = kx0 * fd, bb = kx1 * fd, lstep = dh * iw * ic;
                            int32_t xo = (y0 * iw + x0) * ic;
                            if (brun && !full) {
                                /* the lines as runs, not whole words: shallow inputs */
                                im2col_runs(pp, xg + xo, ky0, ky1, ba, bb, &lines);
                            } else
                            for (int32_t ky = 0; ky < fh; ky++, xo += lstep) {
                                int32_t row_in = ky >= ky0 && ky < ky1;
                                const int8_t *xs = xg + xo;
                                if (full && row_in) {
                                    /* the whole window line: one run of the input */
                                    copy_words((uint32_t *)(void *)pp, (const uint32_t *)(const void *)xs, full);
                                    pp += 4 * full;
                                    continue;
                                }
                                for (int32_t kx = 0; kx < fw; kx++, pp += fd, xs += dw * ic) {
                                    if (row_in && kx >= kx0 && kx < kx1) {
                                        if (words) {
                                            copy_words((uint32_t *)(void *)pp, (const uint32_t *)(const void *)xs, fd >> 2);
                                        } else {
                                            for (int32_t c = 0; c < fd; c++) {
                                                pp[c] = xs[c];
                                            }
                                        }
                                    } else {
                                        for (int32_t c = 0; c < fd; c++) {
                                            pp[c] = pad;
                                        }
                                    }
                                }
                            }
                        }
                        if (il) {
                            il_vectors(xp, 1, rl, (const uint8_t *)w, e - o, o, sums, rc, q, &oq, y, 0, flip, maxb);
                        } else {
                            rows_s8(xp, w, rl, e - o, o, sums, rc, q, &oq, y, 0, 0);
                        }
                    }
                }
            }
        }
        w += (e - o) * rl;
        o = e;
        if (o == g_end) {
            g++;
            g_end += opg;
        }
    }
    return MK_OK;
}
