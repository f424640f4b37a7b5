/*
 * ADD / SUB / MUL with broadcasting.
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 */

/* ---------------------------------------------------------------------------
 * ADD / SUB / MUL with broadcasting
 * ------------------------------------------------------------------------- */
MK_SMALL mk_status mk_elementwise_s8(mk_elem_op op, const mk_elem_params *p,
                            const mk_shape *in1, const int8_t *input1,
                            const mk_shape *in2, const int8_t *input2,
                            const mk_shape *out, int8_t *output) {
    int32_t n1 = mk_shape_count(in1), n2 = mk_shape_count(in2), no = mk_shape_count(out);
    if (!p || n1 < 0 || n2 < 0 || no < 0 || (op != MK_ADD && op != MK_SUB && op != MK_MUL)
        || !act_ok(p->act_min, p->act_max) || !offset_ok(p->input1_offset) || !offset_ok(p->input2_offset)
        || !offset_ok(p->output_offset)
        || p->left_shift < 0 || p->left_shift > 20) {
        return MK_ERR_ARG;
    }
    /* broadcast shape and element strides, right-aligned */
    int32_t r = in1->rank > in2->rank ? in1->rank : in2->rank;
    int32_t shape[MK_MAX_RANK], s1[MK_MAX_RANK], s2[MK_MAX_RANK], idx[MK_MAX_RANK];
    int32_t st1 = 1, st2 = 1, total = 1;
    for (int32_t k = r - 1; k >= 0; k--) {
        int32_t k1 = k - (r - in1->rank), k2 = k - (r - in2->rank);
        int32_t d1 = k1 >= 0 ? in1->d[k1] : 1, d2 = k2 >= 0 ? in2->d[k2] : 1;
        int32_t d = d1 > d2 ? d1 : d2;
        if ((d1 != d && d1 != 1) || (d2 != d && d2 != 1)) {
            return MK_ERR_ARG;
        }
        shape[k] = d;
        s1[k] = d1 == 1 ? 0 : st1;
        s2[k] = d2 == 1 ? 0 : st2;
        /* both stay below n1, n2 unless a dim is 0: then a huge one may follow
         * (wrapping, not undefined: no == 0 returns below before a stride is used) */
        st1 = (int32_t)((uint32_t)st1 * (uint32_t)d1);
        st2 = (int32_t)((uint32_t)st2 * (uint32_t)d2);
        total = mul_count(total, d);
        idx[k] = 0;
    }
    if (total != no) {
        return MK_ERR_ARG;
    }
    if (no == 0) {
        return MK_OK;
    }
    if (!input1 || !input2 || !output) {
        return MK_ERR_ARG;
    }
    const int32_t o1 = p->input1_offset, o2 = p->input2_offset;
    const outq oq = {p->output_offset, p->act_min, p->act_max};
    int32_t a = 0, b = 0;
    for (int32_t i = 0; i < no; i++) {
        int32_t x1 = input1[a] + o1, x2 = input2[b] + o2, v;
        if (op == MK_MUL) {
            v = x1 * x2;
        } else {
            int32_t y1 = mk_requantize(x1 * (1 << p->left_shift), p->input1_multiplier, p->input1_shift);
            int32_t y2 = mk_requantize(x2 * (1 << p->left_shift), p->input2_multiplier, p->input2_shift);
            v = (int32_t)(op == MK_ADD ? (uint32_t)y1 + (uint32_t)y2 : (uint32_t)y1 - (uint32_t)y2);
        }
        output[i] = rq8(v, p->output_multiplier, p->output_shift, &oq);
        /* next index of the broadcast shape */
        for (int32_t k = r - 1; k >= 0; k--) {
            a += s1[k];
            b += s2[k];
            if (++idx[k] < shape[k]) {
                break;
            }
            a -= s1[k] * shape[k];
            b -= s2[k] * shape[k];
            idx[k] = 0;
        }
    }
    return MK_OK;
}
