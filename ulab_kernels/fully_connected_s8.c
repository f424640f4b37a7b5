/*
 * FULLY_CONNECTED: batches of input vectors against the rows of weights, on
 * the matrix helpers CONV_2D uses too (matmul_s8.c): il_vectors for the
 * interleaved layout, rows_s8 for row-major rows.
 *
 * Its own entry (issue #16), not a 1x1 convolution through conv_s8 as
 * before: no taps, no patch and no groups to work out, and the filter offset
 * (which only FULLY_CONNECTED has) out of CONV_2D's loops. On the M0 (-O2),
 * hello_world's three layers went from 1,790, 2,242 and 1,185 instructions
 * to 1,395, 1,847 and 789 (1 -> 16: 112 -> 87 a MAC, 16 -> 1: 74 -> 49), the
 * ~400 a call the convolution's set-up cost.
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 */

/* ---------------------------------------------------------------------------
 * FULLY_CONNECTED
 * ------------------------------------------------------------------------- */
MK_SMALL mk_status mk_fully_connected_s8(const mk_fc_params *p, const mk_quant *q,
                                         const mk_dims *in, const int8_t *input,
                                         const mk_dims *filter, const int8_t *weights,
                                         const int32_t *bias,
                                         const mk_dims *out, int8_t *output) {
    /* (a bad n, h or w makes batches -1, and a bad count is -1) */
    const int32_t batches = mul_count(mul_count(in->n, in->h), in->w), depth = in->c;
    const int32_t rows = filter->n, oc = out->c;
    const int32_t n_in = mul_count(batches, depth), n_f = mul_count(rows, depth), n_out = mul_count(batches, oc);
    if (!p || in->h > MK_MAX_DIM || in->w > MK_MAX_DIM || n_in < 0 || n_f < 0 || n_out < 0
        || filter->c != depth || filter->h != 1 || filter->w != 1
        || mul_count(mul_count(out->n, out->h), out->w) != batches || !quant_ok(q, oc)
        || !act_ok(p->act_min, p->act_max) || !offset_ok(p->input_offset) || !offset_ok(p->filter_offset)
        || !offset_ok(p->output_offset)) {
        return MK_ERR_ARG;
    }
    const int32_t start = p->out_ch_start;
    if (start < 0 || start > oc || rows > oc - start
        || (p->interleaved && (p->filter_offset || !il_ok(start, rows, oc, bias && p->prepared)))) {
        return MK_ERR_ARG;
    }
    if (rows == 0 || n_out == 0) {
        return MK_OK;
    }
    if ((!input && n_in) || (!weights && n_f) || !output) {
        return MK_ERR_ARG;
    }
    const outq oq = {p->output_offset, p->act_min, p->act_max};
    if (p->interleaved) {
        /* the folded bias and the prepared requantization: every batch */
        il_vectors(input, batches, depth, (const uint8_t *)weights, rows, start, bias + start,
                   (const rqc *)(const void *)p->prepared + start, q, &oq, output, oc, 0, 0);
        return MK_OK;
    }
    /* Row-major: the rows in stripes of up to RQ_STRIPE, a stripe's
     * requantization and sums' start worked out once for all the batches.
     * One batch takes x + input_offset in the dot products (xoff) instead of
     * input_offset * sum(w) per row (a pass over the weights as long as the
     * MACs': micro_speech's 4000 -> 4, 7.9 -> 5.6 instructions per MAC on the
     * M0); the filter offset comes in as -filter_offset * sum(x + xoff) per
     * batch (sx). */
    const int32_t ioff = p->input_offset, foff = p->filter_offset, xoff = batches == 1 ? ioff : 0;
    int32_t sums[RQ_STRIPE];
    rqc rc[RQ_STRIPE];
    const int8_t *w = weights;
    for (int32_t o = start, e; o < start + rows; w += (e - o) * depth, o = e) {
        e = o + RQ_STRIPE < start + rows ? o + RQ_STRIPE : start + rows;
        rq_prep(rc, q, o, e - o, &oq);
        for (int32_t r = 0; r < e - o; r++) {
            /* bias + input_offset * sum(w + filter_offset) */
            uint32_t ws = xoff || !ioff ? 0u : (uint32_t)depth * (uint32_t)foff + sum_s8(w + r * depth, depth);
            sums[r] = (int32_t)((bias ? (uint32_t)bias[o + r] : 0u) + (uint32_t)ioff * ws);
        }
        const int8_t *x = input;
        int8_t *y = output;
        for (int32_t b = 0; b < batches; b++, x += depth, y += oc) {
            const uint32_t sx = foff ? (sum_s8(x, depth) + (uint32_t)depth * (uint32_t)xoff) * (uint32_t)-foff : 0u;
            rows_s8(x, w, depth, e - o, o, sums, rc, q, &oq, y, sx, xoff);
        }
    }
    return MK_OK;
}
