/*
 * Requantization of the motes int8 kernels: gemmlowp's rounding (rdbpot,
 * srdhm), mk_requantize, and the per-channel constants of the fast form
 * (rq_prep, rq_fast) that FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D share;
 * and the macros every part uses (I32_MIN, I32_MAX, MK_SMALL, MK_FAST).
 *
 * Part of the single compilation unit kernels.c (included once, from there;
 * it defines functions, so it is no header for other units). rq_fast's
 * ARMv6-M form is in thumb1_s8.c, its C form below.
 */
#ifndef MOTES_REQUANTIZE_H
#define MOTES_REQUANTIZE_H

#include "motes_kernels.h"

#define I32_MIN (-2147483647 - 1)

/* (code that is rarely hot: smaller without the loop optimisations) */
#if defined(__GNUC__) && !defined(__clang__)
#define MK_SMALL __attribute__((optimize("no-tree-loop-optimize")))
#define MK_FAST __attribute__((optimize("O2")))
#else
#define MK_SMALL
#define MK_FAST
#endif
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

#define RQ_STRIPE 32   /* output channels whose requantization is worked out at a time */
/* CONV_2D's stripes are twice as wide: every stripe of a convolution goes
 * over all the pixels again (im2col, the patch's or pixel's sum, the calls),
 * so kws's layers of 64 output channels take one stripe instead of two. On
 * the M0 its 10x4 stem 1,575,674 -> 1,454,254 instructions, its 64 -> 64 1x1
 * layers 2,021,044 -> 1,990,439 each (kws 0.24 M less, 4.55 -> 4.45 a MAC),
 * for 768 bytes more of C stack in mk_convolve_s8 (the stripe's sums and
 * rqc) and 128 in rows_s8; FULLY_CONNECTED keeps RQ_STRIPE. */
#define CONV_STRIPE (2 * RQ_STRIPE)

/* output offset and clamp of a layer */
typedef struct { int32_t ooff, lo, hi; } outq;

/* requantize (mk_requantize), add the output offset, clamp: the general
 * path (the common one is rq_fast below) */
__attribute__((noinline)) static int8_t rq8(int32_t v, int32_t m, int32_t sft, const outq *oq) {
    v = requant(v, m, sft);
    /* (clamped first: the offset cannot overflow) */
    return clamp8((v > 65536 ? 65536 : v < -65536 ? -65536 : v) + oq->ooff, oq->lo, oq->hi);
}

/* rq8's fast form with one channel's constants worked out (the MK_RQ_WORDS
 * words of mk_fc_params.prepared; rq_prep makes them for conv), for sums -2^19 <= v < 2^19; the output offset less
 * act_min rides in c. A channel outside the fast form (m < 0, shift outside
 * -13 .. -1) gets m0 = m1 = m2 = 0, c = 2^30, e9 = 0: its every result then
 * looks out of the clamp range, where e9 == 0 sends it to rq8. */
typedef struct { int32_t m0, m1, m2, c, e9; } rqc;

/* r[0 .. n) for the channels o, o + 1, ... (n >= 1; one call a stripe: 48
 * instructions a channel on the M0 as a call each, person_detect 1,490 of
 * them an inference) */
__attribute__((noinline)) static void rq_prep(rqc *r, const mk_quant *q, int32_t o, int32_t n, const outq *oq) {
    const int32_t d = oq->ooff - oq->lo, step = q->count > 1;
    const int32_t *mp = q->multiplier + (step ? o : 0);
    const int8_t *sp = q->shift + (step ? o : 0);
    for (rqc *e = r + n; r != e; r++, mp += step, sp += step) {
        int32_t m = *mp, sft = *sp, c = 1 << 30;
        if (m < 0 || sft > -1 || sft < -13) {
            m = 0;             /* (m0 = m1 = m2 = e9 = 0) */
            sft = 9;
        } else {
            c = (1 + d * 2) * (1 << (8 - sft)) + 256;
        }
        r->m0 = m & 0x7FF;
        r->m1 = (m >> 11) & 0x7FF;
        r->m2 = m >> 22;
        r->c = c;
        r->e9 = 9 - sft;
    }
}

/* the layer's constants of rq_fast: where it stops, -sum to add, act_max -
 * act_min, act_min */
typedef struct { uint8_t *end; uint32_t nsx; int32_t hr, lo; } rqk;

/* groups of 8 rows for dot8_4 (ARMv6-M): its field offsets are in the asm */
typedef struct {
    const uint32_t *init;   /* the 8 sums start from here */
    uint32_t acc[8];        /* and end here (rc not NULL) */
    const rqc *rc;          /* NULL: no requantization, the sums go back to init */
    uint8_t *y;             /* where the 8 outputs go */
    rqk k;                  /* k.end = y + 8 */
    uint8_t *y_last;        /* the groups' end: after each, the next (init, rc, y, k.end on by 8) */
    const int8_t *x_end;    /* (the asm's: x_end, neg_n and the next group's weights) */
    int32_t neg_n;
    const uint8_t *w;
    /* after y_last, the next of pix more vectors (x unsigned only: the
     * source src on by n, copied to x_end - n as x + 128 and summed into
     * k.nsx by the asm, word-aligned, n <= 512 for the 16-bit lanes of the
     * sum, k80 = 0x80808080, mff = 0x00FF00FF; their outputs oc on from y0),
     * their groups from init0, rc0, w0 again */
    int32_t pix, oc;
    uint8_t *y0;
    int32_t whole;          /* y_last - y0 */
    const uint32_t *init0;
    const rqc *rc0;
    const uint8_t *w0;
    uint32_t k80, mff;
    uintptr_t group;        /* x signed 0, unsigned (the bytes x + 128) 1; then
                               (the asm's) the address of its group code */
    const int8_t *src;
    int32_t maxb;           /* x unsigned: max |init| of the rows */
    int32_t chk;            /* the vector's sums need rq_fast's range check (else
                               128 sum(x + 128) + maxb < 2^19) */
} d8job;

/* y[j] = the fast form of (acc[j] + k->nsx) with rc[j], j = 0, 1, ... up to
 * k->end (at least one row) or the first row the fast form cannot take;
 * returns where it stopped. */
#if !MK_THUMB_ASM
static uint8_t *rq_fast(const uint32_t *acc, const rqc *rc, uint8_t *y, const rqk *k) {
    do {
        int32_t v = (int32_t)(*acc++ + k->nsx);
        if ((uint32_t)((v >> 19) + 1) > 1u) {
            break;
        }
        /* wrapping products and sums, and a shift by e9 as ARM's (by the low
         * byte; 32 or more: the sign): the same numbers for a valid table, and
         * for a hand-made one wrong numbers as the Thumb code gives, never
         * undefined behaviour (ulab_kernels/fuzz.c) */
        const uint32_t uv = (uint32_t)v;
        int32_t s1 = (int32_t)(uv * (uint32_t)rc->m1 + (uint32_t)((int32_t)(uv * (uint32_t)rc->m0) >> 11));
        int32_t S = (int32_t)((uint32_t)(s1 >> 11) + uv * (uint32_t)rc->m2);
        /* v < 0: -2^9 (S < 0 then, or m = 0 and S = 0, where it changes nothing) */
        S = (int32_t)((uint32_t)S + ((uint32_t)(v >> 31) << 9));
        const int32_t t = (int32_t)((uint32_t)S + (uint32_t)rc->c);
        const uint32_t e = (uint32_t)rc->e9 & 255u;
        int32_t u = e > 31 ? t >> 31 : t >> e;
        if ((uint32_t)u > (uint32_t)k->hr) {
            if (!rc->e9) {
                break;
            }
            /* (the asm's test: the sign of u - hr, which for a valid
             * table is the sign of u) */
            u = (int32_t)((uint32_t)u - (uint32_t)k->hr) < 0 ? 0 : k->hr;
        }
        *y++ = (uint8_t)(u + k->lo);
        rc++;
    } while (y != k->end);
    return y;
}
#endif

#endif /* MOTES_REQUANTIZE_H */
