/*
 * Helpers the ops share: division without libgcc (udiv32), counts that
 * cannot overflow, the checks of params structs, tap ranges.
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 */

/* Unsigned 32-bit division (shift and subtract), d > 0. */
static uint32_t udiv32(uint32_t n, uint32_t d) {
    uint32_t q = 0, r = 0;
    int i;
    if (d > n) {
        return 0;
    }
    for (i = 31; i >= 0; i--) {
        r = (r << 1) | ((n >> i) & 1u);
        if (r >= d) {
            r -= d;
            q |= 1u << i;
        }
    }
    return q;
}

/* n / d for n < 256 d, 0 < d <= 2^23 (an average of int8 values, rounded:
 * the quotient has 8 bits, so 8 steps of udiv32's instead of 32) */
static uint32_t udiv_avg(uint32_t n, uint32_t d) {
    uint32_t q = 0;
    for (int32_t i = 7; i >= 0; i--) {
        if (n >= d << i) {
            n -= d << i;
            q |= 1u << i;
        }
    }
    return q;
}

/* a * b for 0 <= a, b, or -1 when the product leaves int32 */
static int32_t mul_count(int32_t a, int32_t b) {
    if (((uint32_t)a | (uint32_t)b) < 0x8000u) {
        return a * b;   /* (the usual case: both below 2^15) */
    }
    if (a < 0 || b < 0) {
        return -1;
    }
    /* (no 64-bit multiply: 16-bit limbs of the larger factor) */
    uint32_t x = (uint32_t)a, y = (uint32_t)b;
    if (x < y) {
        x = (uint32_t)b;
        y = (uint32_t)a;
    }
    if (y >> 16) {
        return -1;
    }
    uint32_t hi = (x >> 16) * y, lo = (x & 0xFFFFu) * y;
    if ((hi >> 15) || lo > (uint32_t)I32_MAX) {
        return -1;
    }
    uint32_t r = (hi << 16) + lo;
    return r > (uint32_t)I32_MAX ? -1 : (int32_t)r;
}

int32_t mk_dims_count(const mk_dims *d) {
    if (d->h < 0 || d->w < 0 || d->h > MK_MAX_DIM || d->w > MK_MAX_DIM) {
        return -1;
    }
    return mul_count(mul_count(mul_count(d->n, d->h), d->w), d->c);
}

int32_t mk_shape_count(const mk_shape *s) {
    if (s->rank < 0 || s->rank > MK_MAX_RANK) {
        return -1;
    }
    int32_t n = 1;
    for (int32_t k = 0; k < s->rank; k++) {
        n = mul_count(n, s->d[k]);
    }
    return n;
}

static int quant_ok(const mk_quant *q, int32_t channels) {
    return q && q->multiplier && q->shift && (q->count == 1 || (q->count == channels && channels > 0));
}

static int act_ok(int32_t lo, int32_t hi) {
    return -128 <= lo && lo <= hi && hi <= 127;
}

/* v[0 .. n) all within lo .. hi (consecutive int32 fields of a params struct) */
static int all_in(const int32_t *v, int32_t n, int32_t lo, int32_t hi) {
    for (; n > 0; n--, v++) {
        if (*v < lo || *v > hi) {
            return 0;
        }
    }
    return 1;
}

/* strides and dilations 1 .. MK_MAX_STEP, pads 0 .. MK_MAX_DIM */
static int geometry_ok(const mk_conv_params *p) {
    return all_in(&p->stride_h, 4, 1, MK_MAX_STEP) && all_in(&p->pad_h, 2, 0, MK_MAX_DIM);
}

/* input/filter offsets and biases: int8 zero points, kept in a range where no
 * product can overflow a 32-bit int */
static int offset_ok(int32_t o) {
    return -255 <= o && o <= 255;
}

/* The checks CONV_2D and DEPTHWISE_CONV_2D start with: params given, the three
 * element counts valid (mk_dims_count >= 0), the quantization of the output
 * channels, the window geometry, the activation bounds and the offsets. */
static int conv_args_ok(const mk_conv_params *p, const mk_quant *q, int32_t n_in, int32_t n_f, int32_t n_out,
                        int32_t oc) {
    return p && n_in >= 0 && n_f >= 0 && n_out >= 0 && quant_ok(q, oc) && geometry_ok(p)
        && act_ok(p->act_min, p->act_max) && offset_ok(p->input_offset) && offset_ok(p->output_offset);
}

/* First and end (exclusive) tap index k in [0, f) with 0 <= o + k*d < size. */
MK_SMALL __attribute__((noinline)) static void tap_range(int32_t o, int32_t d, int32_t f, int32_t size, int32_t *k0, int32_t *k1) {
    int32_t a = 0, b = f;
    while (a < b && o + a * d < 0) {
        a++;
    }
    while (b > a && o + (b - 1) * d >= size) {
        b--;
    }
    *k0 = a;
    *k1 = b;
}
