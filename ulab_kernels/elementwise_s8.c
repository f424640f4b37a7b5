/*
 * ADD / SUB / MUL with broadcasting.
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 */

/* ---------------------------------------------------------------------------
 * ADD / SUB / MUL with broadcasting
 * ------------------------------------------------------------------------- */

/* An ADD / SUB input's requantization, mk_requantize(v << ls, m, shift), for
 * v = x + offset in -255 .. 255, in the form TFLM's int8 ADD always takes
 * (ls 20, m >= 0, shift <= 0; this one: 15 <= ls <= 20, shift >= -31). srdhm's
 * floor((v 2^ls m + 2^30) / 2^31) is floor((v m + 2^(s-1)) / 2^s) with
 * s = 31 - ls <= 16, and with m = mh 2^16 + ml that is
 * v mh 2^(16-s) + floor((v ml + 2^(s-1)) / 2^s): products under 2^30, no 64-bit
 * one. Then rdbpot by e = -shift with its mask and threshold worked out once. */
typedef struct { int32_t mhs, ml, half, s, e, mask, th; } inq;

static void rdiv_make(inq *q, int32_t e) {
    q->e = e;
    q->mask = (int32_t)((1u << e) - 1u);
    q->th = q->mask >> 1;
}

static int inq_make(inq *q, int32_t ls, int32_t m, int32_t shift) {
    if (ls < 15 || ls > 20 || m < 0 || shift > 0 || shift < -31) {
        return 0;
    }
    q->s = 31 - ls;
    q->half = 1 << (q->s - 1);
    q->mhs = (m >> 16) << (16 - q->s);
    q->ml = m & 0xFFFF;
    rdiv_make(q, -shift);
    return 1;
}

/* rdbpot(r, q->e) */
static inline int32_t rdiv(int32_t r, const inq *q) {
    return (r >> q->e) + ((r & q->mask) > q->th + (int32_t)((uint32_t)r >> 31));
}

__attribute__((noinline)) static int32_t in_rq(int32_t v, const inq *q) {
    return rdiv(v * q->mhs + ((v * q->ml + q->half) >> q->s), q);
}

/* ADD / SUB of two int8 tensors of one shape, or 0 where the quantization is
 * not in the form above (the general loop then runs); the output's
 * requantization is rq8's for a multiplier >= 0 and a shift of -31 .. 0 (qo:
 * its rdbpot), inline. resnet8's 32x32x16 ADD on the M0: 4.23 M -> 1.98 M
 * instructions. */
MK_SMALL static int add_same(int sub, const mk_elem_params *p, const int8_t *x1, const int8_t *x2, int8_t *y,
                             int32_t n) {
    inq q1, q2, qo;
    const int32_t mo = p->output_multiplier, so = p->output_shift;
    if (!inq_make(&q1, p->left_shift, p->input1_multiplier, p->input1_shift)
        || !inq_make(&q2, p->left_shift, p->input2_multiplier, p->input2_shift) || mo < 0 || so > 0 || so < -31) {
        return 0;
    }
    rdiv_make(&qo, -so);
    const int32_t o1 = p->input1_offset, o2 = p->input2_offset;
    const int32_t ooff = p->output_offset, lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < n; i++) {
        const int32_t y1 = in_rq(x1[i] + o1, &q1), y2 = in_rq(x2[i] + o2, &q2);
        int32_t v = rdiv(srdhm_pos(sub ? y1 - y2 : y1 + y2, mo), &qo);
        v = (v > 65536 ? 65536 : v < -65536 ? -65536 : v) + ooff;
        y[i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
    }
    return 1;
}

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
    if (op != MK_MUL && n1 == no && n2 == no && add_same(op == MK_SUB, p, input1, input2, output, no)) {
        return MK_OK;
    }
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
