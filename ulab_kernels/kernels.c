/*
 * motes int8 kernels (see motes_kernels.h): the arithmetic of TensorFlow Lite
 * Micro's reference kernels, bit for bit, in plain C99.
 *
 * No division (native modules do not link libgcc): the few places that need
 * a quotient (average pooling, group count) use udiv32() below. Accumulators
 * are uint32_t so that int32 wrap-around is defined behaviour; TFLM's int32
 * sums wrap the same way (and the host's reference wraps to int32 before
 * requantizing).
 */
#include "motes_kernels.h"

#define I32_MIN (-2147483647 - 1)
#define I32_MAX 2147483647

/* gemmlowp RoundingDivideByPOT, exponent >= 0 */
static inline int32_t rdbpot(int32_t x, int32_t e) {
    if (e == 0) {
        return x;
    }
    if (e > 31) {
        /* (the host's int64 arithmetic gives these) */
        return (e == 32 && x == I32_MIN) ? -1 : 0;
    }
    int32_t mask = (int32_t)((1u << e) - 1u);
    int32_t rem = x & mask;
    int32_t th = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > th ? 1 : 0);
}

/* srdhm(a, b) for 0 <= b < 2^31 (every real multiplier): then it is exactly
 * floor((a*b + 2^30) / 2^31) (the two nudges of the reference differ by one
 * where its division truncates toward zero, which cancels), built from 16-bit
 * limbs without a 64-bit value: a = ah*2^16 + al (ah signed), b = bh*2^16 + bl.
 * A = ah*bl fits int32, B = al*bh + (al*bl >> 16) + 2^14 < 2^31, and
 * floor((A + B) / 2^15) = (A >> 15) + ((B + (A & 0x7FFF)) >> 15). */
static inline int32_t srdhm_pos(int32_t a, int32_t b) {
    int32_t ah = a >> 16, bh = b >> 16;
    uint32_t al = (uint32_t)a & 0xFFFFu, bl = (uint32_t)b & 0xFFFFu;
    int32_t A = ah * (int32_t)bl;
    uint32_t B = al * (uint32_t)bh + ((al * bl) >> 16) + (1u << 14);
    uint32_t r = ((uint32_t)(ah * bh) << 1) + (uint32_t)(A >> 15) + ((B + ((uint32_t)A & 0x7FFFu)) >> 15);
    return (int32_t)r;
}

/* gemmlowp SaturatingRoundingDoublingHighMul: floor((a*b + 2^30) / 2^31) but
 * for the one saturating case; negative b by negating both factors. */
static int32_t srdhm(int32_t a, int32_t b) {
    if (b >= 0) {
        return srdhm_pos(a, b);
    }
    if (b == I32_MIN) {
        return a == I32_MIN ? I32_MAX : (int32_t)(0u - (uint32_t)a);
    }
    if (a == I32_MIN) {
        return -b;
    }
    return srdhm_pos(-a, -b);
}

int32_t mk_requantize(int32_t x, int32_t multiplier, int32_t shift) {
    if (shift > 0) {
        x = shift > 31 ? 0 : (int32_t)((uint32_t)x << shift);
        return srdhm(x, multiplier);
    }
    return rdbpot(srdhm(x, multiplier), shift < -32 ? 33 : -shift);
}
#define requant mk_requantize

static inline int8_t clamp8(int32_t v, int32_t lo, int32_t hi) {
    return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}

/* clamp(v + offset) without int32 overflow (|offset| <= 255 is checked) */
static inline int8_t out8(int32_t v, int32_t offset, int32_t lo, int32_t hi) {
    v = v > 65536 ? 65536 : v < -65536 ? -65536 : v;
    return clamp8(v + offset, lo, hi);
}

/* acc + sum p[k] * w[k] (wrapping). On cores with the DSP extension
 * (Cortex-M4/M7: armv7emsp, armv7emdp) two products per SMLAD; the sums wrap
 * the same way, so the result is identical. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
static inline uint32_t dot16x8(const int16_t *p, const int8_t *w, int32_t n, uint32_t acc) {
    int32_t k = 0;
    int32_t a = (int32_t)acc;
    for (; k + 4 <= n; k += 4) {
        int32_t p01, p23, w4;
        __builtin_memcpy(&p01, p + k, 4);      /* single (unaligned-capable) loads */
        __builtin_memcpy(&p23, p + k + 2, 4);
        __builtin_memcpy(&w4, w + k, 4);
        int32_t w02 = (int32_t)__sxtb16((uint32_t)w4);           /* w0 | w2 << 16 */
        int32_t w13 = (int32_t)__sxtb16(((uint32_t)w4 >> 8) | ((uint32_t)w4 << 24)); /* w1 | w3 << 16 */
        int32_t w01 = (int32_t)(((uint32_t)w02 & 0xFFFFu) | ((uint32_t)w13 << 16));
        int32_t w23 = (int32_t)(((uint32_t)w02 >> 16) | ((uint32_t)w13 & 0xFFFF0000u));
        a = __smlad(p01, w01, a);
        a = __smlad(p23, w23, a);
    }
    acc = (uint32_t)a;
    for (; k < n; k++) {
        acc += (uint32_t)(p[k] * w[k]);
    }
    return acc;
}
#else
static inline uint32_t dot16x8(const int16_t *p, const int8_t *w, int32_t n, uint32_t acc) {
    for (int32_t k = 0; k < n; k++) {
        acc += (uint32_t)(p[k] * w[k]);
    }
    return acc;
}
#endif

/* ---------------------------------------------------------------------------
 * The inner loop of FULLY_CONNECTED and CONV_2D: four rows of weights against
 * one input vector, each input byte loaded once for four MACs:
 *     acc[r] += sum_k (x[k] + xoff) * w_r[k],  k = 0 .. n-1, n >= 1.
 * The pointers point one past the ends of the vectors (the loop index runs
 * from -n up to 0). Rows that are not needed may repeat another row.
 * ------------------------------------------------------------------------- */
typedef struct {
    uint32_t acc[4];
    int32_t xoff;
    int32_t neg_n;
    const int8_t *w[4];
} dot4_args;

#if defined(__thumb__) && !defined(__thumb2__) && defined(__GNUC__)
/* ARMv6-M: gcc would keep the row pointers in high registers and copy them
 * down for every load; here the pointers and the index live in r0-r7 and the
 * four sums in r8-r11 (ADD reaches them), 15.5 instructions per 4 MACs. */
#define DOT4_GROUP \
    "ldrsb r5, [r0, r7]\n add r5, ip\n" \
    "ldrsb r6, [r1, r7]\n muls r6, r5\n add r8, r6\n" \
    "ldrsb r6, [r2, r7]\n muls r6, r5\n add r9, r6\n" \
    "ldrsb r6, [r3, r7]\n muls r6, r5\n add r10, r6\n" \
    "ldrsb r6, [r4, r7]\n muls r6, r5\n add r11, r6\n"
__attribute__((naked, noinline)) static void dot4(const int8_t *x_end, dot4_args *a) {
    (void)x_end;
    (void)a;
    __asm__ volatile(
        ".syntax unified\n"
        "push {r4, r5, r6, r7, lr}\n"
        "mov r4, r8\n mov r5, r9\n mov r6, r10\n mov r7, r11\n"
        "push {r4, r5, r6, r7}\n"
        "mov lr, r1\n"
        "ldr r4, [r1, #0]\n mov r8, r4\n"
        "ldr r4, [r1, #4]\n mov r9, r4\n"
        "ldr r4, [r1, #8]\n mov r10, r4\n"
        "ldr r4, [r1, #12]\n mov r11, r4\n"
        "ldr r4, [r1, #16]\n mov ip, r4\n"
        "ldr r7, [r1, #20]\n"
        "ldr r2, [r1, #28]\n ldr r3, [r1, #32]\n ldr r4, [r1, #36]\n ldr r1, [r1, #24]\n"
        "lsls r6, r7, #31\n"
        "beq 1f\n"
        DOT4_GROUP
        "adds r7, #1\n"
        "beq 2f\n"
        "1:\n"
        DOT4_GROUP
        "adds r7, #1\n"
        DOT4_GROUP
        "adds r7, #1\n"
        "bne 1b\n"
        "2:\n"
        "mov r1, lr\n"
        "mov r4, r8\n str r4, [r1, #0]\n"
        "mov r4, r9\n str r4, [r1, #4]\n"
        "mov r4, r10\n str r4, [r1, #8]\n"
        "mov r4, r11\n str r4, [r1, #12]\n"
        "pop {r4, r5, r6, r7}\n"
        "mov r8, r4\n mov r9, r5\n mov r10, r6\n mov r11, r7\n"
        "pop {r4, r5, r6, r7, pc}\n");
}
#else
static void dot4(const int8_t *x_end, dot4_args *a) {
    uint32_t a0 = a->acc[0], a1 = a->acc[1], a2 = a->acc[2], a3 = a->acc[3];
    const int8_t *w0 = a->w[0], *w1 = a->w[1], *w2 = a->w[2], *w3 = a->w[3];
    const int32_t xoff = a->xoff;
    for (int32_t k = a->neg_n; k != 0; k++) {
        int32_t v = x_end[k] + xoff;
        a0 += (uint32_t)(v * w0[k]);
        a1 += (uint32_t)(v * w1[k]);
        a2 += (uint32_t)(v * w2[k]);
        a3 += (uint32_t)(v * w3[k]);
    }
    a->acc[0] = a0;
    a->acc[1] = a1;
    a->acc[2] = a2;
    a->acc[3] = a3;
}
#endif

/* Output channels o0 .. o0+rows-1 (weights w, row length n >= 1, stride n)
 * against x: y[o] for each, requantized. */
static void rows_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t rows, int32_t o0,
                    int32_t xoff, const int32_t *bias, const mk_quant *q,
                    int32_t ooff, int32_t lo, int32_t hi, int8_t *y) {
    dot4_args a;
    const int pc = q->count > 1;
    a.xoff = xoff;
    a.neg_n = -n;
    for (int32_t r = 0; r < rows; r += 4) {
        for (int32_t j = 0; j < 4; j++) {
            int32_t rr = r + j < rows ? r + j : rows - 1;
            a.w[j] = w + rr * n + n;
            a.acc[j] = bias ? (uint32_t)bias[o0 + rr] : 0u;
        }
        dot4(x + n, &a);
        for (int32_t j = 0; j < 4 && r + j < rows; j++) {
            int32_t o = o0 + r + j, c = pc ? o : 0;
            y[o] = out8(requant((int32_t)a.acc[j], q->multiplier[c], q->shift[c]), ooff, lo, hi);
        }
    }
}

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

/* a * b for 0 <= a, b, or -1 when the product leaves int32 */
static int32_t mul_count(int32_t a, int32_t b) {
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

static int geometry_ok(const mk_conv_params *p) {
    return p->stride_h >= 1 && p->stride_w >= 1 && p->stride_h <= MK_MAX_STEP && p->stride_w <= MK_MAX_STEP
           && p->dilation_h >= 1 && p->dilation_w >= 1 && p->dilation_h <= MK_MAX_STEP
           && p->dilation_w <= MK_MAX_STEP && p->pad_h >= 0 && p->pad_w >= 0 && p->pad_h <= MK_MAX_DIM
           && p->pad_w <= MK_MAX_DIM;
}

/* input/filter offsets and biases: int8 zero points, kept in a range where no
 * product can overflow a 32-bit int */
static int offset_ok(int32_t o) {
    return -255 <= o && o <= 255;
}

/* First and end (exclusive) tap index k in [0, f) with 0 <= o + k*d < size. */
static void tap_range(int32_t o, int32_t d, int32_t f, int32_t size, int32_t *k0, int32_t *k1) {
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

/* ---------------------------------------------------------------------------
 * FULLY_CONNECTED
 * ------------------------------------------------------------------------- */
mk_status mk_fully_connected_s8(const mk_fc_params *p, const mk_quant *q,
                                const mk_dims *in, const int8_t *input,
                                const mk_dims *filter, const int8_t *weights,
                                const int32_t *bias,
                                const mk_dims *out, int8_t *output) {
    int32_t n_in = mk_dims_count(in), n_f = mk_dims_count(filter), n_out = mk_dims_count(out);
    if (!p || n_in < 0 || n_f < 0 || n_out < 0 || !quant_ok(q, out->c) || !act_ok(p->act_min, p->act_max)
        || !offset_ok(p->input_offset) || !offset_ok(p->filter_offset) || !offset_ok(p->output_offset)) {
        return MK_ERR_ARG;
    }
    int32_t depth = in->c, rows = filter->n, och = out->c, start = p->out_ch_start;
    int32_t batches = mul_count(mul_count(in->n, in->h), in->w);
    if (filter->c != depth || filter->h != 1 || filter->w != 1
        || mul_count(mul_count(out->n, out->h), out->w) != batches
        || start < 0 || start > och || rows > och - start) {
        return MK_ERR_ARG;
    }
    if ((n_in && !input) || (n_f && !weights) || (n_out && !output)) {
        return MK_ERR_ARG;
    }
    const int32_t ioff = p->input_offset, foff = p->filter_offset, ooff = p->output_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int pc = q->count > 1;
    if (foff == 0 && depth > 0) {
        for (int32_t b = 0; b < batches; b++) {
            rows_s8(input + b * depth, weights, depth, rows, start, ioff, bias, q, ooff, lo, hi,
                    output + b * och);
        }
        return MK_OK;
    }
    for (int32_t b = 0; b < batches; b++) {
        const int8_t *x = input + b * depth;
        int8_t *y = output + b * och + start;
        const int8_t *w = weights;
        for (int32_t r = 0; r < rows; r++, w += depth) {
            int32_t o = start + r;
            uint32_t acc = bias ? (uint32_t)bias[o] : 0u;
            if (foff == 0) {
                for (int32_t d = 0; d < depth; d++) {
                    acc += (uint32_t)((x[d] + ioff) * w[d]);
                }
            } else {
                for (int32_t d = 0; d < depth; d++) {
                    acc += (uint32_t)((x[d] + ioff) * (w[d] + foff));
                }
            }
            int32_t c = pc ? o : 0;
            y[r] = out8(requant((int32_t)acc, q->multiplier[c], q->shift[c]), ooff, lo, hi);
        }
    }
    return MK_OK;
}

/* ---------------------------------------------------------------------------
 * CONV_2D
 * ------------------------------------------------------------------------- */
int32_t mk_convolve_s8_scratch_size(const mk_conv_params *p, const mk_dims *in, const mk_dims *filter) {
    (void)p;
    (void)in;
    int32_t n = mul_count(mul_count(filter->h, filter->w), filter->c);
    return n < 0 ? -1 : mul_count(n, (int32_t)sizeof(int16_t));
}

mk_status mk_convolve_s8(const mk_ctx *ctx, const mk_conv_params *p, const mk_quant *q,
                         const mk_dims *in, const int8_t *input,
                         const mk_dims *filter, const int8_t *weights,
                         const int32_t *bias,
                         const mk_dims *out, int8_t *output) {
    int32_t n_in = mk_dims_count(in), n_f = mk_dims_count(filter), n_out = mk_dims_count(out);
    if (!p || n_in < 0 || n_f < 0 || n_out < 0 || !quant_ok(q, out->c) || !geometry_ok(p)
        || !act_ok(p->act_min, p->act_max) || !offset_ok(p->input_offset) || !offset_ok(p->output_offset)) {
        return MK_ERR_ARG;
    }
    const int32_t nb = in->n, ih = in->h, iw = in->w, ic = in->c;
    const int32_t oh = out->h, ow = out->w, oc = out->c;
    const int32_t fh = filter->h, fw = filter->w, fd = filter->c, rows = filter->n;
    const int32_t start = p->out_ch_start;
    if (out->n != nb || fd < 1 || fh < 1 || fw < 1 || ic < fd || start < 0 || start > oc || rows > oc - start) {
        return MK_ERR_ARG;
    }
    /* groups = ic / fd exactly, and oc a multiple of groups */
    int32_t groups = (int32_t)udiv32((uint32_t)ic, (uint32_t)fd);
    if (groups * fd != ic) {
        return MK_ERR_ARG;
    }
    int32_t opg = (int32_t)udiv32((uint32_t)oc, (uint32_t)groups);
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
    if ((!input && n_in) || !weights || !output) {
        return MK_ERR_ARG;
    }
    if (!ctx || !ctx->buf || ctx->size < mk_convolve_s8_scratch_size(p, in, filter)
        || ((uintptr_t)ctx->buf & 1u)) {
        return MK_ERR_SCRATCH;
    }
    int16_t *patch = (int16_t *)ctx->buf;
    const int32_t sh = p->stride_h, sw = p->stride_w, dh = p->dilation_h, dw = p->dilation_w;
    const int32_t ioff = p->input_offset, ooff = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int pc = q->count > 1;
    /* group of the first output channel of the chunk */
    int32_t g0 = 0, g0_end = opg;
    while (start >= g0_end) {
        g0++;
        g0_end += opg;
    }
    if (ioff >= -127 && ioff <= 128) {
        /* im2col of the raw int8 input, -input_offset off the image (its
         * x + input_offset is then 0), and four output channels per pass */
        int8_t *patch8 = (int8_t *)ctx->buf;
        const int8_t pad = (int8_t)-ioff;
        int8_t *y = output;
        for (int32_t b = 0; b < nb; b++) {
            const int8_t *xb = input + b * ih * iw * ic;
            for (int32_t oy = 0; oy < oh; oy++) {
                int32_t y0 = oy * sh - p->pad_h, ky0, ky1;
                tap_range(y0, dh, fh, ih, &ky0, &ky1);
                for (int32_t ox = 0; ox < ow; ox++, y += oc) {
                    int32_t x0 = ox * sw - p->pad_w, kx0, kx1;
                    tap_range(x0, dw, fw, iw, &kx0, &kx1);
                    int32_t o = start, g = g0, g_end = g0_end;
                    const int8_t *w = weights;
                    while (o < start + rows) {
                        int8_t *pp = patch8;
                        const int8_t *xg = xb + g * fd;
                        for (int32_t ky = 0; ky < fh; ky++) {
                            int32_t row_in = ky >= ky0 && ky < ky1;
                            for (int32_t kx = 0; kx < fw; kx++, pp += fd) {
                                if (row_in && kx >= kx0 && kx < kx1) {
                                    const int8_t *xp = xg + ((y0 + ky * dh) * iw + x0 + kx * dw) * ic;
                                    for (int32_t c = 0; c < fd; c++) {
                                        pp[c] = xp[c];
                                    }
                                } else {
                                    for (int32_t c = 0; c < fd; c++) {
                                        pp[c] = pad;
                                    }
                                }
                            }
                        }
                        int32_t e = g_end < start + rows ? g_end : start + rows;
                        rows_s8(patch8, w, rl, e - o, o, ioff, bias, q, ooff, lo, hi, y);
                        w += (e - o) * rl;
                        o = e;
                        g++;
                        g_end += opg;
                    }
                }
            }
        }
        return MK_OK;
    }
    for (int32_t b = 0; b < nb; b++) {
        const int8_t *xb = input + b * ih * iw * ic;
        for (int32_t oy = 0; oy < oh; oy++) {
            int32_t y0 = oy * sh - p->pad_h, ky0, ky1;
            tap_range(y0, dh, fh, ih, &ky0, &ky1);
            for (int32_t ox = 0; ox < ow; ox++) {
                int32_t x0 = ox * sw - p->pad_w, kx0, kx1;
                tap_range(x0, dw, fw, iw, &kx0, &kx1);
                int8_t *y = output + ((b * oh + oy) * ow + ox) * oc;
                int32_t g = g0, g_end = g0_end, built = -1;
                const int8_t *w = weights;
                for (int32_t o = start; o < start + rows; o++, w += rl) {
                    if (o >= g_end) {
                        g++;
                        g_end += opg;
                    }
                    if (built != g) {
                        /* (input + input_offset) under the window, 0 off the image */
                        int16_t *pp = patch;
                        const int8_t *xg = xb + g * fd;
                        for (int32_t ky = 0; ky < fh; ky++) {
                            int32_t row_in = ky >= ky0 && ky < ky1;
                            for (int32_t kx = 0; kx < fw; kx++) {
                                if (row_in && kx >= kx0 && kx < kx1) {
                                    const int8_t *xp = xg + ((y0 + ky * dh) * iw + x0 + kx * dw) * ic;
                                    for (int32_t c = 0; c < fd; c++) {
                                        pp[c] = (int16_t)(xp[c] + ioff);
                                    }
                                } else {
                                    for (int32_t c = 0; c < fd; c++) {
                                        pp[c] = 0;
                                    }
                                }
                                pp += fd;
                            }
                        }
                        built = g;
                    }
                    uint32_t acc = dot16x8(patch, w, rl, bias ? (uint32_t)bias[o] : 0u);
                    int32_t c = pc ? o : 0;
                    y[o] = out8(requant((int32_t)acc, q->multiplier[c], q->shift[c]), ooff, lo, hi);
                }
            }
        }
    }
    return MK_OK;
}

/* ---------------------------------------------------------------------------
 * DEPTHWISE_CONV_2D
 * ------------------------------------------------------------------------- */
#define DW_CHUNK 64

mk_status mk_depthwise_conv_s8(const mk_conv_params *p, const mk_quant *q,
                               const mk_dims *in, const int8_t *input,
                               const mk_dims *filter, const int8_t *weights,
                               const int32_t *bias,
                               const mk_dims *out, int8_t *output) {
    int32_t n_in = mk_dims_count(in), n_f = mk_dims_count(filter), n_out = mk_dims_count(out);
    if (!p || n_in < 0 || n_f < 0 || n_out < 0 || !quant_ok(q, out->c) || !geometry_ok(p)
        || !act_ok(p->act_min, p->act_max) || !offset_ok(p->input_offset) || !offset_ok(p->output_offset)) {
        return MK_ERR_ARG;
    }
    const int32_t nb = in->n, ih = in->h, iw = in->w, ic = in->c;
    const int32_t oh = out->h, ow = out->w, oc = out->c;
    const int32_t fh = filter->h, fw = filter->w, dm = p->depth_multiplier;
    if (out->n != nb || filter->n != 1 || filter->c != oc || dm < 1 || mul_count(ic, dm) != oc) {
        return MK_ERR_ARG;
    }
    if (n_out == 0) {
        return MK_OK;
    }
    if ((!input && n_in) || (!weights && n_f) || !output) {
        return MK_ERR_ARG;
    }
    const int32_t sh = p->stride_h, sw = p->stride_w, dh = p->dilation_h, dw = p->dilation_w;
    const int32_t ioff = p->input_offset, ooff = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int pc = q->count > 1;
    /* One output row at a time, in chunks of DW_CHUNK outputs, one output
     * channel at a time: the sums of the chunk go to acc[], then are
     * requantized with the channel's params loaded once. 3x3, stride 1,
     * dilation 1, depth multiplier 1 (the usual layer): each input column
     * (three rows) is loaded once, times the three weight columns, and the
     * column sums slide into the outputs that use it as their kx = 0, 1, 2. */
    uint32_t acc_buf[DW_CHUNK + 2];
    uint32_t *acc = acc_buf + 2;
#ifdef __OPTIMIZE_SIZE__
    /* (the -Os board build keeps under the natmod size budget without it) */
    const int fast3 = 0;
#else
    const int fast3 = dm == 1 && fh == 3 && fw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1
                      && ih > 0 && ow <= DW_CHUNK;
#endif
    for (int32_t b = 0; b < nb; b++) {
        const int8_t *xb = input + b * ih * iw * ic;
        for (int32_t oy = 0; oy < oh; oy++) {
            int32_t y0 = oy * sh - p->pad_h, ky0, ky1;
            tap_range(y0, dh, fh, ih, &ky0, &ky1);
            int8_t *yrow = output + (b * oh + oy) * ow * oc;
            for (int32_t ox0 = 0; ox0 < ow; ox0 += DW_CHUNK) {
                int32_t n = ow - ox0 < DW_CHUNK ? ow - ox0 : DW_CHUNK;
                int32_t c = 0, mm = 0;
                for (int32_t o = 0; o < oc; o++) {
                    const uint32_t bc = bias ? (uint32_t)bias[o] : 0u;
                    if (fast3) {
                        int32_t w[9];
                        const int8_t *rp[3];
                        for (int32_t k = 0; k < 9; k++) {
                            int32_t ky = k < 3 ? 0 : k < 6 ? 1 : 2;
                            int32_t ok = ky >= ky0 && ky < ky1;
                            w[k] = ok ? weights[k * oc + o] : 0;
                            if (k < 3) {
                                rp[k] = xb + (k >= ky0 && k < ky1 ? y0 + k : 0) * iw * ic + c;
                            }
                        }
                        const int32_t w00 = w[0], w01 = w[1], w02 = w[2], w10 = w[3], w11 = w[4];
                        const int32_t w12 = w[5], w20 = w[6], w21 = w[7], w22 = w[8];
                        const int8_t *p0 = rp[0], *p1 = rp[1], *p2 = rp[2];
                        uint32_t s0 = 0, s1 = 0, *ap = acc - 2;
                        int32_t off = -p->pad_w * ic;
                        for (int32_t j = -p->pad_w; j < n + 2 - p->pad_w; j++, off += ic, ap++) {
                            uint32_t c0 = 0, c1 = 0, c2 = 0;
                            if ((uint32_t)j < (uint32_t)iw) {
                                int32_t x0 = p0[off] + ioff, x1 = p1[off] + ioff, x2 = p2[off] + ioff;
                                c0 = (uint32_t)(w00 * x0 + w10 * x1 + w20 * x2);
                                c1 = (uint32_t)(w01 * x0 + w11 * x1 + w21 * x2);
                                c2 = (uint32_t)(w02 * x0 + w12 * x1 + w22 * x2);
                            }
                            ap[0] = s1 + c2 + bc;
                            s1 = s0 + c1;
                            s0 = c0;
                        }
                    } else {
                        for (int32_t i = 0; i < n; i++) {
                            acc[i] = bc;
                        }
                        for (int32_t ky = ky0; ky < ky1; ky++) {
                            const int8_t *xr = xb + (y0 + ky * dh) * iw * ic + c;
                            for (int32_t kx = 0; kx < fw; kx++) {
                                int32_t wv = weights[(ky * fw + kx) * oc + o];
                                int32_t col = ox0 * sw + kx * dw - p->pad_w;
                                for (int32_t i = 0; i < n; i++, col += sw) {
                                    if ((uint32_t)col < (uint32_t)iw) {
                                        acc[i] += (uint32_t)((xr[col * ic] + ioff) * wv);
                                    }
                                }
                            }
                        }
                    }
                    const int32_t qc = pc ? o : 0, m = q->multiplier[qc], sft = q->shift[qc];
                    const int fast = m >= 0 && sft <= 0 && sft >= -31;
                    int8_t *y = yrow + ox0 * oc + o;
                    for (int32_t i = 0; i < n; i++, y += oc) {
                        int32_t v = (int32_t)acc[i];
                        v = fast ? rdbpot(srdhm_pos(v, m), -sft) : requant(v, m, sft);
                        *y = out8(v, ooff, lo, hi);
                    }
                    if (++mm == dm) {
                        mm = 0;
                        c++;
                    }
                }
            }
        }
    }
    return MK_OK;
}

/* ---------------------------------------------------------------------------
 * Pooling
 * ------------------------------------------------------------------------- */
static mk_status pool_check(const mk_pool_params *p, const mk_dims *in, const int8_t *input,
                            const mk_dims *out, const int8_t *output, int need_taps) {
    int32_t n_in = mk_dims_count(in), n_out = mk_dims_count(out);
    if (!p || n_in < 0 || n_out < 0 || out->n != in->n || out->c != in->c
        || p->filter_h < 1 || p->filter_w < 1 || p->filter_h > MK_MAX_DIM || p->filter_w > MK_MAX_DIM
        || p->stride_h < 1 || p->stride_w < 1 || p->stride_h > MK_MAX_STEP || p->stride_w > MK_MAX_STEP
        || p->pad_h < 0 || p->pad_w < 0 || p->pad_h > MK_MAX_DIM || p->pad_w > MK_MAX_DIM
        || !act_ok(p->act_min, p->act_max)) {
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
        if (mul_count(p->filter_h, p->filter_w) > (1 << 23) || mul_count(p->filter_h, p->filter_w) < 0) {
            return MK_ERR_ARG;
        }
        /* every window must touch the image (the first and last ones are the extremes) */
        int32_t k0, k1;
        tap_range(-p->pad_h, 1, p->filter_h, in->h, &k0, &k1);
        if (k0 >= k1) {
            return MK_ERR_ARG;
        }
        tap_range((out->h - 1) * p->stride_h - p->pad_h, 1, p->filter_h, in->h, &k0, &k1);
        if (k0 >= k1) {
            return MK_ERR_ARG;
        }
        tap_range(-p->pad_w, 1, p->filter_w, in->w, &k0, &k1);
        if (k0 >= k1) {
            return MK_ERR_ARG;
        }
        tap_range((out->w - 1) * p->stride_w - p->pad_w, 1, p->filter_w, in->w, &k0, &k1);
        if (k0 >= k1) {
            return MK_ERR_ARG;
        }
    }
    return MK_OK;
}

static mk_status pool(const mk_pool_params *p, const mk_dims *in, const int8_t *input,
                      const mk_dims *out, int8_t *output, int avg) {
    mk_status st = pool_check(p, in, input, out, output, avg);
    if (st != MK_OK || mk_dims_count(out) == 0) {
        return st;
    }
    const int32_t nb = in->n, ih = in->h, iw = in->w, ch = in->c, oh = out->h, ow = out->w;
    const int32_t lo = p->act_min, hi = p->act_max;
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
                for (int32_t c = 0; c < ch; c++) {
                    int32_t v = avg ? 0 : -128;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *xr = xb + ((y0 + ky) * iw + x0) * ch + c;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            int32_t u = xr[kx * ch];
                            if (avg) {
                                v += u;
                            } else if (u > v) {
                                v = u;
                            }
                        }
                    }
                    if (avg) {
                        /* acc > 0 ? (acc + n/2) / n : (acc - n/2) / n, truncating */
                        uint32_t mag = (uint32_t)(v < 0 ? -v : v) + (count >> 1);
                        int32_t qv = (int32_t)udiv32(mag, count);
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

/* ---------------------------------------------------------------------------
 * ADD / SUB / MUL with broadcasting
 * ------------------------------------------------------------------------- */
mk_status mk_elementwise_s8(mk_elem_op op, const mk_elem_params *p,
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
        st1 *= d1;   /* both stay below n1, n2 */
        st2 *= d2;
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
    const int32_t o1 = p->input1_offset, o2 = p->input2_offset, ooff = p->output_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t a = 0, b = 0;
    for (int32_t i = 0; i < no; i++) {
        int32_t x1 = input1[a] + o1, x2 = input2[b] + o2, v;
        if (op == MK_MUL) {
            v = mk_requantize(x1 * x2, p->output_multiplier, p->output_shift);
        } else {
            int32_t y1 = mk_requantize(x1 * (1 << p->left_shift), p->input1_multiplier, p->input1_shift);
            int32_t y2 = mk_requantize(x2 * (1 << p->left_shift), p->input2_multiplier, p->input2_shift);
            uint32_t raw = op == MK_ADD ? (uint32_t)y1 + (uint32_t)y2 : (uint32_t)y1 - (uint32_t)y2;
            v = mk_requantize((int32_t)raw, p->output_multiplier, p->output_shift);
        }
        output[i] = out8(v, ooff, lo, hi);
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
