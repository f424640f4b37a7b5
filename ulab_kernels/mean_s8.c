/*
 * MEAN.
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 */

/* ---------------------------------------------------------------------------
 * MEAN: one pass of int32 sums over the reduced axes, then TFLM's
 * requantization (the host scaled the multiplier by 1/n: host/motes/ops/mean.py)
 * ------------------------------------------------------------------------- */
/* the next index of an odometer over dims d (innermost first) with strides s,
 * moving *off along; 0 when it wraps around to all zeros */
static int next_index(int32_t *i, const int32_t *d, const int32_t *s, int32_t n, int32_t *off) {
    for (int32_t k = 0; k < n; k++) {
        *off += s[k];
        if (++i[k] < d[k]) {
            return 1;
        }
        *off -= s[k] * d[k];
        i[k] = 0;
    }
    return 0;
}

MK_SMALL mk_status mk_mean_s8(const mk_mean_params *p, const mk_shape *in, int32_t axes,
                              const int8_t *input, int8_t *output) {
    int32_t n = mk_shape_count(in);
    if (!p || n < 0 || axes < 0 || (axes >> in->rank) || !offset_ok(p->output_offset)) {
        return MK_ERR_ARG;
    }
    /* [0]: the kept dims, [1]: the reduced ones, innermost first, with their
     * strides; an odometer over each */
    int32_t d[2][MK_MAX_RANK], s[2][MK_MAX_RANK], i[2][MK_MAX_RANK], c[2] = {0, 0};
    uint32_t st = 1;
    for (int32_t k = in->rank - 1; k >= 0; k--) {
        int32_t r = (axes >> k) & 1, dk = in->d[k];
        if (r && !dk) {
            return MK_ERR_ARG;      /* a mean over nothing (TFLM's Prepare refuses it) */
        }
        d[r][c[r]] = dk;
        s[r][c[r]] = (int32_t)st;
        i[r][c[r]++] = 0;
        st *= (uint32_t)dk;
    }
    /* no values: a kept dim is 0 (a reduced one was refused above), so no
     * outputs either. (Not the kept dims' product: it can leave int32 before
     * a 0 dim comes, as 8 x 2^31-1 x 0, and then read the empty input.) */
    if (!n) {
        return MK_OK;
    }
    if (!input || !output) {
        return MK_ERR_ARG;
    }
    const outq oq = {p->output_offset, -128, 127};
    /* the innermost reduced dim in a loop of its own, the odometer over the
     * others (a global average over H and W, as Keras's global pools become:
     * 37 -> 9 instructions a value on the M0, requantization included) */
    const int32_t d1 = c[1] ? d[1][0] : 1, s1 = c[1] ? s[1][0] : 0;
    int32_t base = 0;
    do {
        uint32_t t = 0;
        int32_t off = base;
        do {
            const int8_t *x = input + off;
            for (int32_t j = d1; j > 0; j--, x += s1) {
                t += (uint32_t)(int32_t)*x;
            }
        } while (next_index(i[1] + 1, d[1] + 1, s[1] + 1, c[1] - 1, &off));
        *output++ = rq8((int32_t)(t + (uint32_t)p->sum_offset), p->multiplier, p->shift, &oq);
    } while (next_index(i[0], d[0], s[0], c[0], &base));
    return MK_OK;
}
