/*
 * FULLY_CONNECTED: a 1x1 convolution through conv_s8 (conv_s8.c).
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 */

/* ---------------------------------------------------------------------------
 * FULLY_CONNECTED
 * ------------------------------------------------------------------------- */
mk_status mk_fully_connected_s8(const mk_fc_params *p, const mk_quant *q,
                                const mk_dims *in, const int8_t *input,
                                const mk_dims *filter, const int8_t *weights,
                                const int32_t *bias,
                                const mk_dims *out, int8_t *output) {
    /* (conv_s8 checks the rest: counts, quant, clamp, offsets, the chunk, NULLs;
     * a bad n, h or w makes batches -1) */
    int32_t batches = mul_count(mul_count(in->n, in->h), in->w);
    if (!p || in->h > MK_MAX_DIM || in->w > MK_MAX_DIM || !offset_ok(p->filter_offset)
        || filter->c != in->c || filter->h != 1 || filter->w != 1
        || mul_count(mul_count(out->n, out->h), out->w) != batches
        || (p->interleaved && p->filter_offset)) {
        return MK_ERR_ARG;
    }
    const int32_t depth = in->c, start = p->out_ch_start;
    /* a 1x1 convolution over the batches (every tap on the image: no patch);
     * the filter offset comes in as foff * sum(x) per batch */
    const mk_conv_params cp = {1, 1, 1, 1, 0, 0, p->input_offset, p->output_offset, p->act_min, p->act_max, 1,
                               start, p->interleaved};
    const mk_dims i4 = {batches, 1, 1, depth}, f4 = {filter->n, 1, 1, depth}, o4 = {batches, 1, 1, out->c};
    const mk_ctx none = {0, 0};
    return conv_s8(&none, &cp, q, &i4, input, &f4, weights, bias, &o4, output, 1, p->filter_offset,
                   p->interleaved ? p->prepared : 0);
}
