/*
 * SOFTMAX, LOGISTIC, TANH.
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 * SOFTMAX is a core kernel (MK_CORE), LOGISTIC and TANH are in the more
 * (MK_MORE); the fixed-point helpers serve both.
 */

/* ---------------------------------------------------------------------------
 * SOFTMAX, LOGISTIC, TANH: gemmlowp's fixed-point exp and 1/(1+x), as TFLM's
 * int8 reference kernels use them (host/motes/ops/softmax.py, activations.py;
 * device/motes/fixedpoint.py is the same arithmetic in Python)
 * ------------------------------------------------------------------------- */

/* gemmlowp SaturatingRoundingMultiplyByPOT<e>, e in -31 .. 30 */
static int32_t srmpot(int32_t x, int32_t e) {
    if (e <= 0) {
        return rdbpot(x, -e);
    }
    int32_t t = (int32_t)((1u << (31 - e)) - 1u);
    return x > t ? I32_MAX : x < -t ? I32_MIN : (int32_t)((uint32_t)x << e);
}

/* (a + b) with int32 wrap-around */
static inline int32_t add32(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out */
MK_SMALL static int32_t exp_quarter(int32_t a) {
    int32_t x = add32(a, 1 << 28);
    int32_t x2 = srdhm(x, x), x3 = srdhm(x2, x), x4 = rdbpot(srdhm(x2, x2), 2);
    int32_t poly = rdbpot(add32(srdhm(add32(x4, x3), 715827883), x2), 1);
    return add32(1895147668, srdhm(1895147668, add32(x, poly)));
}

static const int32_t exp_barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};

/* gemmlowp exp_on_negative_values: a <= 0 in Q(ib).(31-ib), ib in 1 .. 5
 * (TFLM's int8 kernels use 4 and 5) -> Q0.31 */
MK_SMALL static int32_t exp_neg(int32_t a, int32_t ib) {
    if (a == 0) {
        return I32_MAX;
    }
    int32_t fb = 31 - ib, q = 1 << (fb - 2);
    int32_t amq = (a & (q - 1)) - q;
    int32_t r = exp_quarter(srmpot(amq, ib));
    uint32_t rem = (uint32_t)amq - (uint32_t)a;
    for (int32_t e = -2; e < ib; e++) {
        if ((rem >> (fb + e)) & 1u) {
            r = srdhm(r, exp_barrel[e + 2]);
        }
    }
    return r;
}

/* 1 / (1 + a) for a in [0, 1) (Q0.31) as Q2.29: three Newton steps */
MK_SMALL static int32_t newton(int32_t a) {
    /* (a + 1) / 2 in int64, halves away from zero (-1 for a = -1 only: a
     * reciprocal of a sum of 0 in a damaged file) */
    int32_t hd = a == I32_MIN ? -1 : (a >> 1) + (1 << 30);
    int32_t x = add32(1515870810, srdhm(hd, -1010580540));
    for (int32_t k = 0; k < 3; k++) {
        x = add32(x, srmpot(srdhm(x, (int32_t)((1u << 29) - (uint32_t)srdhm(hd, x))), 2));
    }
    return x;
}

#if MK_CORE
/* TFLM GetReciprocal with 12 integer bits: 1/x in Q0.31 scaled into [0.5, 1),
 * and the bits the scaling took (x is the sum of a row's exps, uint32) */
MK_SMALL static int32_t reciprocal(uint32_t x, int32_t *bits) {
    int32_t z = 0;
    while (z < 32 && !(x & (0x80000000u >> z))) {
        z++;
    }
    *bits = 12 - z;
    uint32_t s = z < 32 ? x << z : 0u;
    return srmpot(newton((int32_t)(s - 0x80000000u)), 1);
}

/* exp((x - max) * beta) of one input, Q0.31 */
static int32_t softmax_exp(const mk_softmax_params *p, int32_t d) {
    return exp_neg(srdhm((int32_t)((uint32_t)d << p->input_left_shift), p->input_multiplier), 5);
}

MK_SMALL mk_status mk_softmax_s8(const mk_softmax_params *p, int32_t rows, int32_t depth,
                                 const int8_t *input, int8_t *output) {
    if (!p || rows < 0 || depth < 1 || mul_count(rows, depth) < 0 || p->input_left_shift < 0
        || p->input_left_shift > 31 || p->input_multiplier < 0) {
        return MK_ERR_ARG;
    }
    if (rows && (!input || !output)) {
        return MK_ERR_ARG;
    }
    for (; rows > 0; rows--, input += depth, output += depth) {
        int32_t mx = -128, i, bits;
        uint32_t sum = 0;
        for (i = 0; i < depth; i++) {
            mx = input[i] > mx ? input[i] : mx;
        }
        /* (each exp twice, in the sum and for the output: no table of them) */
        for (i = 0; i < depth; i++) {
            int32_t d = input[i] - mx;
            if (d >= p->diff_min) {
                sum += (uint32_t)rdbpot(softmax_exp(p, d), 12);
            }
        }
        int32_t rc = reciprocal(sum, &bits);
        for (i = 0; i < depth; i++) {
            int32_t d = input[i] - mx;
            output[i] = d < p->diff_min ? -128
                      : clamp8(rdbpot(srdhm(rc, softmax_exp(p, d)), bits + 23) - 128, -128, 127);
        }
    }
    return MK_OK;
}
#endif /* MK_CORE */

#if MK_MORE
/* LOGISTIC (tanh = 0) or TANH of a Q4.27 value, as TFLM's int8 output */
MK_SMALL static int8_t squash(int32_t a, int tanh) {
    if (a == 0) {
        return 0;               /* tanh(0) = 0; logistic(0) = 1/2: (2^30 >> 23) - 128 */
    }
    int32_t neg = a < 0 ? a : -a, r;
    if (tanh) {
        /* 2 / (1 + exp(-2|a|)) - 1 >= 0, its sign after (rounding is symmetric) */
        r = rdbpot(srmpot(add32(newton(exp_neg(neg, 5)), -(1 << 29)), 2), 24);
        return clamp8(a < 0 ? -r : r, -128, 127);
    }
    r = srmpot(newton(exp_neg(neg, 4)), 1);
    return (int8_t)clamp8(rdbpot(a > 0 ? r : I32_MAX - r, 23) - 128, -128, 127);
}

/* one int8 input of LOGISTIC / TANH */
static int8_t act_one(const mk_act_params *p, int32_t q, int tanh) {
    int32_t x = q - p->input_zero_point;
    if ((int64_t)x <= -(int64_t)p->input_range_radius) {   /* (any radius a file holds) */
        return -128;
    }
    if (x >= p->input_range_radius) {
        return 127;
    }
    return squash(mk_requantize(x, p->input_multiplier, p->input_shift), tanh);
}

MK_SMALL static mk_status act_s8(const mk_act_params *p, int32_t n, const int8_t *input, int8_t *output, int tanh) {
    if (!p || n < 0 || (n && (!input || !output)) || !offset_ok(p->input_zero_point)) {
        return MK_ERR_ARG;
    }
    if (n <= 256) {
        for (int32_t i = 0; i < n; i++) {
            output[i] = act_one(p, input[i], tanh);
        }
        return MK_OK;
    }
    /* more elements than int8 values: each value once, into a table */
    int8_t t[256];
    for (int32_t v = 0; v < 256; v++) {
        t[v] = act_one(p, (int8_t)v, tanh);
    }
    for (int32_t i = 0; i < n; i++) {
        output[i] = t[(uint8_t)input[i]];
    }
    return MK_OK;
}

mk_status mk_logistic_s8(const mk_act_params *p, int32_t n, const int8_t *input, int8_t *output) {
    return act_s8(p, n, input, output, 0);
}

mk_status mk_tanh_s8(const mk_act_params *p, int32_t n, const int8_t *input, int8_t *output) {
    return act_s8(p, n, input, output, 1);
}
#endif /* MK_MORE */
